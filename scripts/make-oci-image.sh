#!/usr/bin/env bash
# Builds an OCI image archive (an image layout in a tar) around the busybox root filesystem of
# make-busybox-rootfs.sh, with no registry and no internet, for `ctr image import`:
#   scripts/make-oci-image.sh OUT.tar [NAME:TAG]      (NAME:TAG: localhost/tasker-busybox:latest)
# The layout: oci-layout, index.json (one manifest, named by its org.opencontainers.image.ref.name
# annotation), and in blobs/sha256 the manifest, the config (Env PATH, Cmd ["/bin/sh"]) and one
# gzip layer.
set -euo pipefail
out=${1:?usage: make-oci-image.sh OUT.tar [NAME:TAG]}
name=${2:-localhost/tasker-busybox:latest}
# ctr keeps a reference as it is only when it has a ":" or "/" (else it prefixes "import-DATE:").
case "$name" in */* | *:*) ;; *) echo "make-oci-image: NAME:TAG must contain ':' or '/': $name" >&2; exit 2 ;; esac
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf --one-file-system "$work"' EXIT
"$here/make-busybox-rootfs.sh" "$work/rootfs.tar"
mkdir -p "$work/layout"
python3 - "$work/rootfs.tar" "$work/layout" "$name" <<'EOF'
import gzip, hashlib, json, os, platform, sys

rootfs, layout, name = sys.argv[1:4]
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}.get(platform.machine())
if arch is None:
    sys.exit(f"make-oci-image: unknown machine {platform.machine()!r}")

def blob(data, media_type):
    """Stores data under its digest; returns its descriptor."""
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}

with open(rootfs, "rb") as f:
    tar = f.read()
# mtime=0: the same root filesystem gives the same layer digest.
layer = blob(gzip.compress(tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
config = {
    "architecture": arch,
    "os": "linux",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["/bin/sh"],
        "WorkingDir": "/",
    },
    # The layer's diff ID is the digest of its uncompressed tar.
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    "history": [{"created_by": "scripts/make-oci-image.sh (busybox-static)"}],
}
def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
config_descriptor = blob(canonical(config), "application/vnd.oci.image.config.v1+json")
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": config_descriptor,
    "layers": [layer],
}
manifest_descriptor = blob(canonical(manifest), "application/vnd.oci.image.manifest.v1+json")
manifest_descriptor["platform"] = {"architecture": arch, "os": "linux"}
manifest_descriptor["annotations"] = {"org.opencontainers.image.ref.name": name}
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [manifest_descriptor],
}
with open(os.path.join(layout, "index.json"), "wb") as f:
    f.write(canonical(index))
with open(os.path.join(layout, "oci-layout"), "wb") as f:
    f.write(canonical({"imageLayoutVersion": "1.0.0"}))
EOF
tar --numeric-owner --owner=0 --group=0 -C "$work/layout" -cf "$out" oci-layout index.json blobs
