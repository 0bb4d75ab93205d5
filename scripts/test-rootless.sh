#!/usr/bin/env bash
# Runs the rootless integration tests (RootlessTests) as an unprivileged user, then checks that
# no file outside that run's own directories changed. Run as root, after `swift build
# --build-tests` (scripts/test.sh runs it after the tests run as root, which also build the
# Debian image the rootless tests read).
#
# It makes the user tasker-ci (or $TASKER_ROOTLESS_USER) if missing and runs the
# administrator's one-time set-up for it (scripts/rootless-setup.sh: subuid/subgid ranges,
# /dev/net/tun). Then it copies the built binaries, the scripts and the fixtures into a scratch directory the
# user can read (the clone may be under a directory only root can enter), starts a task of
# root's for the user to fail to see and signal, runs the tests as the user with that directory
# as TMPDIR, checks root's task is untouched, and lists every file the user could have changed
# (theirs, their subordinate ids', or writable by anyone) that changed outside that directory
# since the tests began: any is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-rootless: run as root (it adds a user and starts tests as that user)" >&2; exit 1; }
user=${TASKER_ROOTLESS_USER:-tasker-ci}
bin=$(swift build --show-bin-path)
[ -x "$bin/taskerPackageTests.xctest" ] || { echo "test-rootless: build first: swift build --build-tests" >&2; exit 1; }

if ! id -u "$user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$user"
fi
scripts/rootless-setup.sh "$user" >/dev/null

area=$(mktemp -d /tmp/tasker-rootless.XXXXXX)
root_state=$area/root-state
task=""
cleanup() {
  if [ -n "$task" ]; then "$bin/tasker" --root "$root_state" rm --force "$task" >/dev/null 2>&1 || true; fi
  rm -rf --one-file-system "$area"
}
trap cleanup EXIT
chmod 0755 "$area"
mkdir -p "$area/bin" "$area/repo/Tests" "$area/repo/.build" "$area/tmp"
cp "$bin"/{tasker,tasker-supervisor,tasker-unpack,tasker-runtime,taskerPackageTests.xctest} "$area/bin/"
cp -r scripts "$area/repo/"
cp -r Tests/Fixtures "$area/repo/Tests/"
# The OCI layouts the tests run as root built (a copy: the clone may be where the user cannot go).
mkdir -p "$area/repo/.build/test-images"
for layouts in .build/test-images/layered-*; do
  [ -d "$layouts" ] && cp -r "$layouts" "$area/repo/.build/test-images/"
done
chown "$user:" "$area/tmp"
chmod 0700 "$area/tmp"

# Root's task, which the user must neither see nor signal.
bash scripts/make-busybox-rootfs.sh "$area/busybox.tar.gz"
task=$("$bin/tasker" --root "$root_state" create --download-path "$area" "$area/busybox.tar.gz" "sleep 3600")

touch "$area/started"
sleep 1
status=0
runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$(getent passwd "$user" | cut -d: -f6)" \
  TMPDIR="$area/tmp" TASKER_TEST_REPOSITORY="$area/repo" TASKER_TEST_OTHER_TASK="$root_state:$task" \
  "$area/bin/taskerPackageTests.xctest" --testing-library swift-testing --filter RootlessTests \
  2>&1 | tee "$area/rootless.out" || status=$?
# As root the run built every image these tests read: none may skip here.
if grep -q " skipped" "$area/rootless.out"; then
  echo "test-rootless: a rootless test skipped:" >&2
  grep " skipped" "$area/rootless.out" >&2
  status=1
fi

# A user without subordinate ids gets a single-id mapping: nobody (65534) has none.
if ! grep -q "^nobody:" /etc/subuid; then
  mkdir "$area/tmp-nobody"
  chown nobody: "$area/tmp-nobody"
  runuser -u nobody -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$area/tmp-nobody" TMPDIR="$area/tmp-nobody" \
    TASKER_TEST_REPOSITORY="$area/repo" "$area/bin/taskerPackageTests.xctest" --testing-library swift-testing \
    --filter "RootlessTests/ownersOutsideTheMappingAreTheUsersWithAWarning" || status=$?
fi

health=$("$bin/tasker" --root "$root_state" health_check "$task")
if [ "$health" != $'exists: True\nstatus: sleeping' ]; then
  echo "test-rootless: root's task $task changed during the rootless tests: $health" >&2
  status=1
fi
# What the user could have changed (find's complaints, about files other processes removed while
# it walked, are not the user's doing): files of theirs or of their subordinate ids, and files anyone
# may write (but sticky directories such as /tmp, which every process on the machine touches).
uid=$(id -u "$user")
read -r sub_start sub_count < <(awk -F: -v u="$user" '$1 == u { print $2, $3; exit }' /etc/subuid)
changed=$(find / /dev/shm -xdev \( -path /proc -o -path /sys -o -path /run -o -path "$area" \) -prune \
  -o -newer "$area/started" \( -uid "$uid" -o -uid 65534 -o -uid +$((sub_start - 1)) -uid -$((sub_start + sub_count)) \
  -o \( -perm -0002 ! \( -type d -perm -1000 \) ! -type l \) \) -print 2>/dev/null || true)
if [ -n "$changed" ]; then
  echo "test-rootless: files outside the rootless run's own directories changed:" >&2
  echo "$changed" >&2
  status=1
fi
[ "$status" = 0 ] && echo "test-rootless: the rootless tests passed as $user; nothing outside their directories changed"
exit "$status"
