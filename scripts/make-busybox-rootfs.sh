#!/usr/bin/env bash
# Builds a small root filesystem around Debian's busybox-static and packs it as a tarball.
#   scripts/make-busybox-rootfs.sh OUTPUT.tar[.gz|.bz2|.xz|.zst]
# The compression follows the name's ending.
set -euo pipefail
out=${1:?usage: make-busybox-rootfs.sh OUTPUT.tar[.gz|.bz2|.xz|.zst]}
busybox=$(command -v busybox || true)
for candidate in /bin/busybox /usr/bin/busybox; do
  if [ -x "$candidate" ] && file -b "$candidate" 2>/dev/null | grep -q 'statically linked'; then busybox=$candidate; fi
done
[ -n "$busybox" ] || { echo "make-busybox-rootfs: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,dev,root,var}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
echo tasker-demo >"$root/etc/hostname"
case "$out" in
  *.tar.gz | *.tgz) flag=-z ;;
  *.tar.bz2) flag=-j ;;
  *.tar.xz) flag=-J ;;
  *.tar.zst) flag=--zstd ;;
  *) flag= ;;
esac
tar --numeric-owner --owner=0 --group=0 -C "$root" $flag -cf "$out" .
