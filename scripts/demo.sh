#!/usr/bin/env bash
# The demo: builds tasker, makes a small busybox root filesystem image, serves it on loopback,
# and runs create -> health_check -> send_signal -> health_check on it. As root, or as any other
# user once an administrator has run `sudo scripts/rootless-setup.sh USER` (the task then runs
# in a user namespace of that user's).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh
else
  scripts/install-deps.sh --check
fi
# SwiftPM leaves TemporaryDirectory.* and lock files in $TMPDIR on every build: a scratch one.
scratch_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tasker-demo.XXXXXX")
trap 'rm -rf "$scratch_tmp"' EXIT
export TMPDIR=$scratch_tmp
echo "== building tasker (release, Swift runtime linked in for a fast start)"
swift build -c release --static-swift-stdlib --product tasker >/dev/null
swift build -c release --static-swift-stdlib --product tasker-supervisor >/dev/null
swift build -c release --static-swift-stdlib --product tasker-unpack >/dev/null
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
tasker=$bin/tasker

demo=$PWD/demo
# A demo cut short may have left task directories mounted: detach them before deleting.
awk -v d="$demo/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
if [ "$(id -u)" = 0 ]; then
  rm -rf "$demo"
else
  # A rootless cache holds files of the user's subordinate ids: removed in a namespace of theirs.
  unshare --user --map-auto --map-root-user rm -rf "$demo"
fi
mkdir -p "$demo/images" "$demo/tasks" "$demo/state"
echo "== making the busybox image"
scripts/make-busybox-rootfs.sh "$demo/images/busybox.tar.gz"

python3 scripts/serve.py "$demo/images" >"$demo/server.out" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$scratch_tmp"' EXIT
for _ in $(seq 50); do grep -q PORT "$demo/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/PORT/ {print $2}' "$demo/server.out")
url=http://127.0.0.1:$port/busybox.tar.gz

export TASKER_ROOT=$demo/state
cd "$demo/tasks"
# Each command is shown (on stderr, so that capturing its output captures only the output).
run() { echo "\$ tasker ${*:2}" >&2; "$@"; }
echo "== image served at $url; tasks are made in $PWD"
id=$(run "$tasker" create "$url" "sleep 30")
echo "$id"
run "$tasker" health_check "$id"
run "$tasker" send_signal "$id" SIGINT
for _ in $(seq 50); do "$tasker" health_check "$id" | grep -q "exists: False" && break; sleep 0.1; done
run "$tasker" health_check "$id"
if [ "$(id -u)" = 0 ]; then
  echo "== the task's directory: $PWD/$id"
  ls "$PWD/$id"
else
  # A rootless task's root is mounted in tasker's own namespace: export shows it.
  echo "== the task's root (tasker export $id | tar -t)"
  "$tasker" export "$id" | tar -t | grep -E '^[^/]+/$' | tr '\n' ' '
  echo
fi
run "$tasker" rm "$id" >/dev/null
echo "== done (removed the task; the image stays cached: tasker images)"
