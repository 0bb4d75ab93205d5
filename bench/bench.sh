#!/usr/bin/env bash
# Side-by-side benchmarks of tasker and its peers, on this machine, in one run.
#   bench/bench.sh [start|network|oci|throughput|warm|scale|rootless|all]   (default: all)
# Needs root. Installs the peers from Debian (runc, crun, bubblewrap, bsdtar, hyperfine, ...),
# builds tasker in release, makes its own images, serves them on 127.0.0.1, and writes
# hyperfine's JSON and a markdown table per part under bench/out/. bench/RESULTS.md is the
# committed copy of the last full run. Timings are medians; ratios are to the part's floor.
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}
runs=${RUNS:-30}
out=$PWD/bench/out
work=/tmp/tasker-bench
mkdir -p "$out"

scripts/install-deps.sh
need=()
for package in runc crun bubblewrap podman passt slirp4netns systemd-container libarchive-tools hyperfine curl pigz zstd xz-utils; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi

swift build -c release --static-swift-stdlib --product tasker >/dev/null
swift build -c release --static-swift-stdlib --product tasker-supervisor >/dev/null
swift build -c release --static-swift-stdlib --product tasker-unpack >/dev/null
swift build -c release --static-swift-stdlib --product tasker-runtime >/dev/null
tasker=$(swift build -c release --static-swift-stdlib --show-bin-path)/tasker
runtime=$(swift build -c release --static-swift-stdlib --show-bin-path)/tasker-runtime

# Images: busybox (for start latency) and a ~120 MB tree of many files (for throughput).
mkdir -p "$work/images"
if [ ! -f "$work/images/busybox.tar" ]; then
  scripts/make-busybox-rootfs.sh "$work/images/busybox.tar"
fi
rm -rf "$work/busybox-root" && mkdir -p "$work/busybox-root" && tar -C "$work/busybox-root" -xf "$work/images/busybox.tar"
if [ ! -f "$work/images/big.tar" ]; then
  rm -rf "$work/big-root" && mkdir -p "$work/big-root"
  tar -C "$work/big-root" -xf "$work/images/busybox.tar"
  mkdir -p "$work/big-root/usr/share" && cp -a /usr/share/doc "$work/big-root/usr/share/doc"
  tar --numeric-owner -C "$work/big-root" -cf "$work/images/big.tar" .
  gzip -6 -k -c "$work/images/big.tar" >"$work/images/big.tar.gz"
  zstd -q -3 -c "$work/images/big.tar" >"$work/images/big.tar.zst"
  xz -6 -T2 -c "$work/images/big.tar" >"$work/images/big.tar.xz"
fi
big_bytes=$(stat -c %s "$work/images/big.tar")

python3 scripts/serve.py "$work/images" >"$work/server.out" &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  awk -v d="$work/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do grep -q PORT "$work/server.out" 2>/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$(awk '/PORT/ {print $2}' "$work/server.out")

# crun refuses a hybrid host whose cgroup v2 root holds a controller ("drop all controllers
# from cgroupv2"); on this kind of machine that is hugetlb alone, which is moved to a v1
# hierarchy of its own (nothing uses it) so that crun can be measured at all.
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi

fresh_state() { # a state root and download path of one's own
  awk -v d="$work/$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "${work:?}/$1" && mkdir -p "$work/$1/tasks"
}

hf() { # hyperfine NAME ARGS...: JSON to bench/out/NAME.json
  local name=$1
  shift
  hyperfine -N --style basic --export-json "$out/$name.json" "$@" >"$out/$name.txt" 2>&1 || {
    cat "$out/$name.txt"
    return 1
  }
}

oci_bundle() { # oci_bundle DIR [MEMORY_BYTES]: an OCI bundle around the busybox root running /bin/true
  rm -rf "$1" && mkdir -p "$1" && cp -a "$work/busybox-root" "$1/rootfs"
  (cd "$1" && crun spec >/dev/null)
  python3 - "$1/config.json" "${2:-}" <<'PY'
import json, sys
path, memory = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["process"]["args"] = ["/bin/true"]
spec["process"]["terminal"] = False
if memory:
    spec["linux"].setdefault("resources", {})["memory"] = {"limit": int(memory)}
json.dump(spec, open(path, "w"))
PY
}

if [ "$part" = start ] || [ "$part" = all ]; then
  fresh_state start
  export TASKER_ROOT=$work/start/state
  cd "$work/start/tasks"
  "$tasker" run --rm -q "$work/images/busybox.tar" /bin/true # cache the image
  oci_bundle "$work/bundle"
  oci_bundle "$work/bundle-mem" $((64 << 20))
  root=$work/busybox-root
  # systemd-nspawn wants an os-release to accept a directory as an OS tree.
  rm -rf "$work/nspawn-root" && cp -a "$root" "$work/nspawn-root" && mkdir -p "$work/nspawn-root/usr/lib"
  printf 'ID=busybox\nNAME=busybox\n' >"$work/nspawn-root/usr/lib/os-release"
  hf start -w 5 -r "$runs" \
    -n "chroot (floor)" "chroot $root /bin/true" \
    -n "unshare -mpui --fork chroot" "unshare -mpui --fork chroot $root /bin/true" \
    -n "bubblewrap --unshare-all --share-net" "bwrap --unshare-all --share-net --bind $root / --proc /proc --dev /dev /bin/true" \
    -n "crun run" "crun run -b $work/bundle bench-crun" \
    -n "runc run" "runc run -b $work/bundle bench-runc" \
    -n "systemd-nspawn" "systemd-nspawn -q --register=no --keep-unit -D $work/nspawn-root /bin/true" \
    -n "tasker run --network host (jail, cached image)" "$tasker run --rm --network host $work/images/busybox.tar /bin/true" \
    -n "tasker run (jail, private network: the default)" "$tasker run --rm $work/images/busybox.tar /bin/true" \
    -n "tasker run --isolation chroot" "$tasker run --rm --isolation chroot $work/images/busybox.tar /bin/true" \
    -n "crun run, memory limit" "crun run -b $work/bundle-mem bench-crun-mem" \
    -n "tasker run --memory 64m --network host" "$tasker run --rm --memory 64m --network host $work/images/busybox.tar /bin/true"
  cd - >/dev/null
  python3 bench/report.py "$out/start.json" --title "start /bin/true isolated" >"$out/start.md"
fi

if [ "$part" = network ] || [ "$part" = all ]; then
  # Each network mode, started the same way by tasker, bubblewrap and podman (rootful, the same
  # busybox root imported; podman's image is removed at the end). podman gets rlimits within
  # this machine's hard limits: its defaults exceed them, and crun may not raise a limit.
  fresh_state net
  export TASKER_ROOT=$work/net/state
  cd "$work/net/tasks"
  "$tasker" run --rm -q "$work/images/busybox.tar" /bin/true # cache the image
  podman import -q "$work/images/busybox.tar" localhost/tasker-bench-busybox:latest >/dev/null
  trap 'cleanup; podman rmi -f localhost/tasker-bench-busybox:latest >/dev/null 2>&1 || true' EXIT
  root=$work/busybox-root
  limits="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"
  podman="podman run --rm $limits"
  args=(
    -n "tasker --network host" "$tasker run --rm --network host $work/images/busybox.tar /bin/true"
    -n "tasker --network none" "$tasker run --rm --network none $work/images/busybox.tar /bin/true"
    -n "tasker --network private (pasta)" "$tasker run --rm $work/images/busybox.tar /bin/true"
    -n "bwrap --unshare-all --share-net (host)" "bwrap --unshare-all --share-net --bind $root / --proc /proc --dev /dev /bin/true"
    -n "bwrap --unshare-all (none)" "bwrap --unshare-all --bind $root / --proc /proc --dev /dev /bin/true"
  )
  # podman's own user-mode network (slirp4netns, what pasta replaces) and its bridge are the
  # nearest peers of the private network where podman has no pasta (rootful 4.3).
  for mode in host none pasta slirp4netns bridge; do
    # Only the modes this podman can start here are timed (rootful podman 4.3 has no pasta).
    if $podman --network $mode localhost/tasker-bench-busybox /bin/true >/dev/null 2>"$out/podman-$mode.err"; then
      args+=(-n "podman run --network $mode" "$podman --network $mode localhost/tasker-bench-busybox /bin/true")
    else
      echo "bench: podman --network $mode: $(tail -n 1 "$out/podman-$mode.err")" >&2
    fi
  done
  hf network -w 3 -r "$runs" "${args[@]}"
  podman rmi -f localhost/tasker-bench-busybox:latest >/dev/null
  cd - >/dev/null
  python3 bench/report.py "$out/network.json" --title "start /bin/true in each network mode" >"$out/network.md"
fi

if [ "$part" = oci ] || [ "$part" = all ]; then
  # One bundle (crun spec's config, /bin/true), run to its end and deleted by each OCI runtime,
  # with a --root of its own each.
  oci_bundle "$work/bundle"
  rm -rf "$work/oci-roots" && mkdir -p "$work/oci-roots"
  hf oci -w 5 -r "$runs" \
    -n "crun run" "crun --root $work/oci-roots/crun run -b $work/bundle bench-oci" \
    -n "runc run" "runc --root $work/oci-roots/runc run -b $work/bundle bench-oci" \
    -n "tasker-runtime run" "$runtime --root $work/oci-roots/tasker run -b $work/bundle bench-oci"
  python3 bench/report.py "$out/oci.json" --title "OCI runtimes: run a bundle's /bin/true" >"$out/oci.md"
fi

if [ "$part" = throughput ] || [ "$part" = all ]; then
  fresh_state tp
  export TASKER_ROOT=$work/tp/state
  target=$work/tp/extract
  args=()
  for format in tar tar.gz tar.zst tar.xz; do
    case $format in
      tar) gnu="tar -xf -" ;;
      tar.gz) gnu="tar -xzf -" ;;
      tar.zst) gnu="tar --zstd -xf -" ;;
      tar.xz) gnu="tar -xJf -" ;;
    esac
    args+=(-n "tasker, $format, http" "$tasker run --rm -q --download-path $work/tp/tasks $url/big.$format /bin/true")
    args+=(-n "tasker, $format, file" "$tasker run --rm -q --download-path $work/tp/tasks $work/images/big.$format /bin/true")
    args+=(-n "curl | GNU tar, $format, http" "sh -c 'curl -s $url/big.$format | $gnu -C $target'")
    args+=(-n "bsdtar, $format, file" "bsdtar -xf $work/images/big.$format -C $target")
    args+=(-n "GNU tar, $format, file" "sh -c '$gnu -C $target < $work/images/big.$format'")
  done
  args+=(-n "floor: zstd -dc" "sh -c 'zstd -dc $work/images/big.tar.zst > /dev/null'")
  args+=(-n "floor: pigz -dc" "sh -c 'pigz -dc $work/images/big.tar.gz > /dev/null'")
  args+=(-n "floor: xz -dc" "sh -c 'xz -dc $work/images/big.tar.xz > /dev/null'")
  # Before every run, untimed: the last run's tree removed (tasker's cached image too, so each
  # of its runs is cold), and written back to disk, so that no run pays for the one before.
  hf throughput -w 1 -r "${TP_RUNS:-5}" \
    --prepare "sh -c 'rm -rf $target && mkdir -p $target && $tasker prune >/dev/null && sync'" "${args[@]}"
  python3 bench/report.py "$out/throughput.json" --title "prepare the ~$((big_bytes >> 20)) MiB image" \
    --bytes "$big_bytes" >"$out/throughput.md"
fi

if [ "$part" = warm ] || [ "$part" = all ]; then
  fresh_state warm
  export TASKER_ROOT=$work/warm/state
  cd "$work/warm/tasks"
  "$tasker" run --rm -q "$work/images/busybox.tar" true
  "$tasker" run --rm -q "$work/images/big.tar.zst" true
  hf warm -w 3 -r "$runs" \
    -n "warm create, busybox image" "$tasker create $work/images/busybox.tar /bin/true" \
    -n "warm create, big image" "$tasker create $work/images/big.tar.zst /bin/true" \
    -n "warm create, big image over http" "$tasker create $url/big.tar.zst /bin/true"
  "$tasker" ps -q | xargs -r "$tasker" rm -f >/dev/null
  cd - >/dev/null
  python3 bench/report.py "$out/warm.json" --title "create from a cached image" >"$out/warm.md"
fi

if [ "$part" = scale ] || [ "$part" = all ]; then
  python3 bench/scale.py "$tasker" "$work/images/busybox.tar" "$work/busybox-root" ${SCALE:-200 1000} >"$out/scale.md"
fi

if [ "$part" = rootless ] || [ "$part" = all ]; then
  # Rootless start, as one unprivileged user (BENCH_USER, default tasker-ci, set up with
  # scripts/rootless-setup.sh): bubblewrap, podman (its own storage under the bench directory,
  # the image imported from the same tar) and tasker, each making a user namespace of its own.
  # Debian 12's podman (4.3) has no pasta network: its private network is slirp4netns, its
  # rootless default.
  user=${BENCH_USER:-tasker-ci}
  id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  scripts/rootless-setup.sh "$user" >/dev/null
  rl=$work/rootless
  rm -rf --one-file-system "$rl" && mkdir -p "$rl" && cp "$work/images/busybox.tar" "$rl/" && chown -R "$user:" "$rl"
  as_user() { runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="$rl/home" TASKER_ROOT="$rl/state" "$@"; }
  as_user mkdir -p "$rl/home" "$rl/root" "$rl/tasks"
  as_user tar -C "$rl/root" -xf "$rl/busybox.tar" 2>/dev/null
  podman=(podman --root "$rl/podman/root" --runroot "$rl/podman/run" --cgroup-manager cgroupfs)
  as_user "${podman[@]}" import -q "$rl/busybox.tar" localhost/bench-busybox >/dev/null
  (cd "$rl/tasks" && as_user "$tasker" run --rm -q "$rl/busybox.tar" /bin/true) # cache the image
  (cd "$rl/tasks" && as_user hyperfine -N --style basic --export-json "$rl/rootless.json" -w 5 -r "$runs" \
    -n "bubblewrap --unshare-all --share-net" "bwrap --unshare-all --share-net --bind $rl/root / --proc /proc --dev /dev /bin/true" \
    -n "tasker run --rm --network host" "$tasker run --rm -q --network host $rl/busybox.tar /bin/true" \
    -n "bubblewrap --unshare-all" "bwrap --unshare-all --bind $rl/root / --proc /proc --dev /dev /bin/true" \
    -n "tasker run --rm --network none" "$tasker run --rm -q --network none $rl/busybox.tar /bin/true" \
    -n "podman run --rm --network none" "${podman[*]} run --rm --network none localhost/bench-busybox /bin/true" \
    -n "podman run --rm --network slirp4netns" "${podman[*]} run --rm --network slirp4netns localhost/bench-busybox /bin/true" \
    -n "tasker run --rm (pasta, the default)" "$tasker run --rm -q $rl/busybox.tar /bin/true" \
    >"$out/rootless.txt" 2>&1) || { cat "$out/rootless.txt"; exit 1; }
  cp "$rl/rootless.json" "$out/rootless.json"
  as_user "${podman[@]}" system reset -f >/dev/null 2>&1 || true
  runuser -u "$user" -- unshare --user --map-auto --map-root-user rm -rf "$rl/state" "$rl/podman" "$rl/home"
  rm -rf --one-file-system "$rl"
  python3 bench/report.py "$out/rootless.json" --title "rootless: start /bin/true as $user" >"$out/rootless.md"
fi

cat "$out"/*.md
