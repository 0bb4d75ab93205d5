#!/usr/bin/env bash
# A containerd of its own, for tests and trials, beside the system's without touching its socket
# or state (/run/containerd/containerd.sock, /var/lib/containerd); no CRI, no CNI, no systemd.
#   scripts/containerd.sh start DIR   config in DIR/config.toml, root DIR/root, state DIR/state,
#                                     socket DIR/containerd.sock, log DIR/containerd.log; returns
#                                     once `ctr version` answers on the socket
#   scripts/containerd.sh stop DIR    ends what it still runs (tasks, shims, the daemon), removes
#                                     the cgroups its tasks leave, detaches what is mounted below
#                                     DIR, and removes DIR
# The snapshotter is containerd's default, overlayfs (`ctr run --snapshotter native` where
# overlayfs cannot sit on DIR's filesystem). Cgroups are the runtime's: ctr gives each task
# /<namespace>/<id>, made in every hierarchy (v1 controllers and unified, on a hybrid host).
# Tasks run with `ctr --address DIR/containerd.sock run --runc-root DIR/runc --fifo-dir DIR/fifo`
# keep the runtime's state and the IO fifos in DIR too (the runc shim's default root is
# /run/containerd/runc/<namespace>, ctr's fifo directory /run/containerd/fifo). One path stays
# outside DIR whatever the options: containerd 1.6 fixes the shims' sockets in /run/containerd/s.
# `stop` removes those directories that `start` found missing, once they are empty.
set -euo pipefail
usage() {
  echo "usage: containerd.sh start|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
command=$1
dir=$2
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
socket=$dir/containerd.sock
pidfile=$dir/containerd.pid
marker="# written by tasker's scripts/containerd.sh"

# The processes whose command line names this daemon's socket: the shims it started (they
# outlive the daemon by design, holding the tasks' mounts).
shims() {
  local proc
  for proc in /proc/[0-9]*; do
    { tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null | grep -qF -- "-address $socket " && echo "${proc#/proc/}"
  done
  return 0
}

# The directories of cgroup $1 in every mounted hierarchy (v1 controllers, v2 unified or alone).
cgroup_dirs() {
  local hierarchy
  for hierarchy in $(findmnt -rn -t cgroup,cgroup2 -o TARGET); do
    [ -d "$hierarchy$1" ] && echo "$hierarchy$1"
  done
  return 0
}

# Waits up to $2 tenths of a second for process $1 to end; fails if it is still there.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$1" 2>/dev/null
}

start() {
  command -v containerd >/dev/null || { echo "containerd.sh: containerd not found (apt-get install containerd)" >&2; exit 1; }
  # A unix socket's path must fit in sun_path (108 bytes with its NUL). The longest below DIR is
  # the console socket a shim makes for a terminal, DIR/tmp/pty<uint32>/pty.sock (28 more bytes).
  if [ $((${#dir} + 28)) -ge 108 ]; then
    echo "containerd.sh: DIR too long for the unix sockets below it (${#dir} bytes, limit 79): $dir" >&2
    exit 1
  fi
  if [ -e "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "containerd.sh: a containerd already runs for $dir (pid $(cat "$pidfile"))" >&2
    exit 1
  fi
  mkdir -p "$dir/root" "$dir/state" "$dir/runc" "$dir/fifo" "$dir/opt" "$dir/tmp"
  local made
  for made in /run/containerd /run/containerd/s /run/containerd/fifo /run/containerd/runc; do
    [ -e "$made" ] || echo "$made" >>"$dir/made-outside"
  done
  # version 2 is containerd 1.6's syntax. Disabled: the CRI plugin (Kubernetes; it would also
  # set up CNI networking), the snapshotters that need a special filesystem or a thin pool, and
  # tracing. "opt" (where plugins install binaries) defaults to /opt/containerd, so it moves to
  # DIR as well.
  cat >"$dir/config.toml" <<EOF
$marker
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$socket"

[ttrpc]
  address = "$socket.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF
  # Detached from the caller: its own session, and no descriptor of the caller's but /dev/null
  # and the log. (A caller waits for our end on a pipe or socket we inherited, as Foundation's
  # Process does: a daemon holding one would make that wait last as long as the daemon.) The
  # shims inherit TMPDIR: the process specs of `exec` and the console sockets they hand the
  # runtime stay in DIR.
  (
    cd /
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    TMPDIR=$dir/tmp exec setsid containerd --config "$dir/config.toml"
  ) </dev/null >>"$dir/containerd.log" 2>&1 &
  echo $! >"$pidfile"
  local i
  for ((i = 0; i < 200; i++)); do
    if ctr --address "$socket" version >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "containerd.sh: containerd exited; its log ($dir/containerd.log) ends:" >&2
      tail -n 20 "$dir/containerd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "containerd.sh: containerd did not answer on $socket within 20 s" >&2
  exit 1
}

stop() {
  [ -d "$dir" ] || return 0
  # DIR is deleted below: only one that start made.
  if [ "$(head -n 1 "$dir/config.toml" 2>/dev/null)" != "$marker" ]; then
    echo "containerd.sh: $dir was not made by containerd.sh start (no config.toml of ours); not removing it" >&2
    exit 1
  fi
  local pid ns id made bundle cgroup dirs
  # The tasks' bundles, read before anything is deleted: each names its cgroup (ctr's default is
  # /<namespace>/<id>), and the shim's socket is /run/containerd/s/sha256(SOCKET/NAMESPACE/ID)
  # (containerd 1.6 fixes that directory). A task torn down in order leaves neither, but the
  # runtime does not remove the cgroup's parent; a shim killed with its daemon leaves both.
  local tasks=() parents=()
  for bundle in "$dir"/state/io.containerd.runtime.v2.task/*/*/; do
    [ -f "$bundle/config.json" ] || continue
    id=$(basename "$bundle")
    ns=$(basename "$(dirname "$bundle")")
    cgroup=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("linux", {}).get("cgroupsPath", ""))' \
      "$bundle/config.json" 2>/dev/null || true)
    tasks+=("$ns $id ${cgroup:--}")
  done
  if [ -S "$socket" ] && ctr --address "$socket" version >/dev/null 2>&1; then
    # What tests left behind: kill and delete every task, then every container, in every namespace.
    for ns in $(ctr --address "$socket" namespaces ls -q); do
      parents+=("/$ns")
      for id in $(ctr --address "$socket" -n "$ns" task ls -q); do
        ctr --address "$socket" -n "$ns" task kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
        ctr --address "$socket" -n "$ns" task delete -f "$id" >/dev/null 2>&1 || true
      done
      for id in $(ctr --address "$socket" -n "$ns" container ls -q); do
        ctr --address "$socket" -n "$ns" container rm "$id" >/dev/null 2>&1 || true
      done
    done
  fi
  pid=$(cat "$pidfile" 2>/dev/null || true)
  # Only the daemon started with this DIR's config (the pid may since have been reused).
  if [ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "--config $dir/config.toml"; then
    kill -TERM "$pid"
    wait_gone "$pid" 100 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 50 || true; }
  fi
  # Shims still running (the daemon died before it deleted their tasks): first their children,
  # the containers' init processes (killing an init ends its PID namespace), then the shims.
  for pid in $(shims); do
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in $(shims); do wait_gone "$pid" 50 || true; done
  local task
  for task in "${tasks[@]}"; do
    read -r ns id cgroup <<<"$task"
    rm -f "/run/containerd/s/$(printf '%s' "$socket/$ns/$id" | sha256sum | cut -c1-64)"
    case "$cgroup" in
      # None, systemd-style (slice:prefix:name), climbing, or not a plain word.
      - | / | *:* | *..* | *[[:space:]*?[]*) continue ;;
    esac
    cgroup=/${cgroup#/}
    # rmdir removes a cgroup only once it holds no process (a killed one takes a moment to be
    # reaped).
    for _ in $(seq 20); do
      dirs=$(cgroup_dirs "$cgroup")
      [ -n "$dirs" ] || break
      # shellcheck disable=SC2086 # one directory a line, none with spaces (the case above)
      rmdir $dirs 2>/dev/null || sleep 0.1
    done
    [ "$(dirname "$cgroup")" = / ] || parents+=("$(dirname "$cgroup")")
  done
  # The tasks' parent cgroups (ctr's /<namespace> among them): rmdir leaves one with children.
  for cgroup in $(printf '%s\n' "${parents[@]}" | sort -u); do
    # shellcheck disable=SC2046 # one directory a line, none with spaces
    rmdir $(cgroup_dirs "$cgroup") 2>/dev/null || true
  done
  # Snapshots and task root filesystems still mounted below DIR: detach them, deepest first.
  awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
  # rmdir leaves a directory that is not empty (another containerd's sockets, say).
  if [ -e "$dir/made-outside" ]; then
    # Without --runc-root, the runtime's roots are /run/containerd/runc/<namespace>.
    if grep -qx /run/containerd/runc "$dir/made-outside"; then
      rmdir /run/containerd/runc/* 2>/dev/null || true
    fi
    tac "$dir/made-outside" | while read -r made; do rmdir "$made" 2>/dev/null || true; done
  fi
  rm -rf --one-file-system "$dir"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
