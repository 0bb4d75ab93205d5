#!/usr/bin/env bash
# Installs what tasker needs to build and test on Debian 12 (run as root). With --check (a user
# other than root), only says what is missing.
set -euo pipefail
# mmdebstrap: the tests' Debian image (a bookworm minbase root built from the apt mirror, kept in
# .build/test-images). containerd (with runc, and procps for pkill): for the containerd tests, which start a containerd of
# their own (scripts/containerd.sh). On a host with systemd, the package also starts the system's.
# docker-registry, skopeo, umoci, openssl, apache2-utils (htpasswd), curl, libcap2-bin (setcap): the container image
# tests, which start a registry of their own (TLS, htpasswd), fill it with skopeo from layouts that
# scripts/make-layered-image.py writes, and check those layouts with umoci; the layout tests make
# oci-archive and docker-archive files with skopeo. uidmap (newuidmap, newgidmap): the rootless tests, which run as an
# unprivileged user with /etc/subuid and /etc/subgid ranges.
packages=(libarchive-dev libcurl4-openssl-dev libssl-dev libseccomp-dev pkg-config busybox-static python3 file gcc
  libc6-dev gzip bzip2 xz-utils zstd tar passt iproute2 util-linux containerd runc procps mmdebstrap
  docker-registry skopeo umoci openssl apache2-utils curl libcap2-bin uidmap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ] && [ "${1:-}" = --check ]; then
  echo "install-deps: missing ${missing[*]}: an administrator installs them (sudo scripts/install-deps.sh)" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
