#!/usr/bin/env bash
# An administrator's one-time set-up for running tasker as USER, who is not root:
#
#   sudo scripts/rootless-setup.sh USER
#
# - installs what tasker needs to build and run (scripts/install-deps.sh; uidmap's newuidmap and
#   newgidmap among them);
# - gives USER a range of 65536 subordinate user and group ids in /etc/subuid and /etc/subgid,
#   after every range already given, unless USER has one (the ids USER's tasks use for every
#   owner but root; without a range a task has a single id and files of other owners are root's);
# - makes /dev/net/tun usable by every user (0666, the mode udev gives it on most distributions)
#   where it is 0600: pasta, the private network, opens it.
# Limits (--memory, --pids-limit, --cpus) also need a cgroup v2 subtree delegated to USER, which
# this script does not do: see the README ("Rootless").
set -euo pipefail
cd "$(dirname "$0")/.."
user=${1:?usage: sudo scripts/rootless-setup.sh USER}
[ "$(id -u)" = 0 ] || { echo "rootless-setup: run as root (sudo scripts/rootless-setup.sh $user)" >&2; exit 1; }
id -u "$user" >/dev/null 2>&1 || { echo "rootless-setup: no such user: $user" >&2; exit 1; }
scripts/install-deps.sh
for file in /etc/subuid /etc/subgid; do
  touch "$file"
  if ! grep -q "^$user:" "$file"; then
    start=$(awk -F: 'BEGIN { end = 100000 } NF == 3 && $2 + $3 > end { end = $2 + $3 } END { print end }' "$file")
    option=$([ "$file" = /etc/subuid ] && echo --add-subuids || echo --add-subgids)
    usermod "$option" "$start-$((start + 65535))" "$user"
    echo "rootless-setup: $user has ids $start-$((start + 65535)) in $file"
  fi
done
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  chmod 0666 /dev/net/tun
  echo "rootless-setup: /dev/net/tun is now usable by every user (0666)"
fi
