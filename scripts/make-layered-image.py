#!/usr/bin/env python3
"""Writes multi-layer OCI image layouts from root filesystem tarballs, for tasker's tests and bench.

  make-layered-image.py busybox OUT_DIR [--tag T] [--platforms linux/amd64,linux/arm64] [--rootfs TAR]
  make-layered-image.py split ROOTFS_TAR OUT_DIR [--layers N] [--tag T] [--compression gzip|zstd|none]
        [--top-file PATH=TEXT] [--cmd JSON]

busybox: the busybox root (scripts/make-busybox-rootfs.sh, or --rootfs) as three gzip layers that
exercise every rule of the OCI layer format: a file deleted by a whiteout (.wh.NAME) in a later
layer, a directory made opaque (.wh..wh..opq) over a lower layer's contents, a file replaced by a
later layer, and a config whose Env, Cmd, WorkingDir, User and StopSignal a test can each see.
With --platforms, an image index with one manifest per platform; each platform's config names
its architecture and its top layer says which platform it is (/etc/image-platform).

split: any root (e.g. a Debian minbase tarball) split by path into N layers whose diff_ids are
the uncompressed digests. Members keep owners, modes, hard links and pax headers (xattrs such as
SCHILY.xattr.security.capability); a hard link set lives in one layer; each layer repeats the
parent directories it needs with their own modes and owners. --top-file adds a small top layer
(so two images can share all but it).

The output is deterministic: members sorted, gzip without a timestamp, and a fixed mtime where
the source has none worth keeping, so a rebuild gives the same digests.

Written with the standard library alone (tarfile keeps pax headers, owners and links); zstd
through the zstd command, which the standard library lacks.
"""

import argparse
import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

FIXED_MTIME = 1700000000  # 2023-11-14: a fixed time for members the scripts make themselves.
HEADER_FIELDS = {"path", "linkpath", "size", "mtime", "uid", "gid", "uname", "gname"}
BUSYBOX_CMD = ["/bin/sh", "-c", "echo hello from the default command of the image"]


class Member:
    """One tar member: its header and, for a regular file, its bytes."""

    def __init__(self, info, data=b""):
        self.info = info
        self.data = data

    @property
    def name(self):
        return self.info.name


def fail(message):
    print("make-layered-image: " + message, file=sys.stderr)
    sys.exit(1)


def normalized(name):
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def read_rootfs(path):
    """Reads a root tarball into members keyed by normalized path (the root entry dropped)."""
    members = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for info in archive:
                name = normalized(info.name)
                if name in ("", "."):
                    continue
                if ".." in name.split("/"):
                    fail(f"{path}: member {info.name!r} leaves the root")
                info.name = name
                if info.islnk():
                    info.linkname = normalized(info.linkname)
                data = b""
                if info.isreg():
                    data = archive.extractfile(info).read()
                members[name] = Member(info, data)
    except (OSError, tarfile.TarError) as error:
        fail(f"{path}: {error}")
    return members


def made(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, linkname=""):
    """A member the script makes (fixed mtime, numeric owner)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.uname, info.gname = "", ""
    info.mtime = FIXED_MTIME
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return Member(info, data)


def directory(name, mode=0o755, uid=0, gid=0):
    return made(name, tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid)


def parents(name):
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def layer_tar(members):
    """The layer's uncompressed tar: members sorted by name (hard link sets ordered so that the
    first name of a set carries the data), with the parent directories it needs."""
    by_name = {m.name: m for m in members}
    # A hard link must follow its target; with sorted names the link may sort first, so each set
    # is rewritten to hang off its first name, which is equivalent (links are symmetric).
    links = {}
    for m in members:
        if m.info.islnk():
            links.setdefault(m.info.linkname, []).append(m.name)
    for target, names in links.items():
        if target not in by_name:
            fail(f"hard link {names[0]!r} to {target!r}: its target is not in the same layer")
        group = sorted([target] + names)
        first = group[0]
        if first != target:
            carrier = copy.copy(by_name[target])
            carrier.info = copy.copy(carrier.info)
            carrier.info.name = first
            by_name[first] = carrier
            for name in group[1:]:
                link = copy.copy(by_name[target])
                link.info = copy.copy(link.info)
                link.info.name = name
                link.info.type = tarfile.LNKTYPE
                link.info.linkname = first
                link.info.size = 0
                link.data = b""
                by_name[name] = link
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(by_name):
            m = by_name[name]
            info = copy.copy(m.info)
            # tarfile writes these from the header's fields when they need a pax record; a copy
            # read from the source would otherwise override a renamed member or a fixed mtime.
            info.pax_headers = {k: v for k, v in info.pax_headers.items() if k not in HEADER_FIELDS}
            if info.isreg():
                info.size = len(m.data)
                archive.addfile(info, io.BytesIO(m.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def with_parents(members, tree):
    """members plus every parent directory they need, taken from tree (or made 0755 root)."""
    names = {m.name for m in members}
    extra = []
    for m in members:
        for parent in parents(m.name):
            if parent not in names:
                names.add(parent)
                extra.append(tree[parent] if parent in tree else directory(parent))
    return members + extra


def compress(data, compression):
    if compression == "gzip":
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as stream:
            stream.write(data)
        return buffer.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip"
    if compression == "zstd":
        try:
            done = subprocess.run(["zstd", "-q", "-3", "-c"], input=data, capture_output=True, check=False)
        except OSError as error:
            fail(f"zstd: {error} (apt-get install zstd)")
        if done.returncode != 0:
            fail("zstd: " + done.stderr.decode(errors="replace").strip())
        return done.stdout, "application/vnd.oci.image.layer.v1.tar+zstd"
    return data, "application/vnd.oci.image.layer.v1.tar"


class Layout:
    """An OCI image layout being written: blobs by digest, then index.json."""

    def __init__(self, out):
        self.out = out
        self.blobs = os.path.join(out, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)
        with open(os.path.join(out, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data, media_type, **extra):
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blobs, digest)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
        return dict(mediaType=media_type, digest="sha256:" + digest, size=len(data), **extra)

    def document(self, value, media_type, **extra):
        return self.blob(json.dumps(value, sort_keys=True, separators=(",", ":")).encode(), media_type, **extra)

    def image(self, layers, config, compression, platform):
        """Writes the layers, the config (with diff_ids) and the manifest; returns its descriptor."""
        descriptors, diff_ids = [], []
        for members in layers:
            tar = layer_tar(members)
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
            data, media_type = compress(tar, compression)
            descriptors.append(self.blob(data, media_type))
        os_name, arch, variant = (platform.split("/") + [None])[:3]
        document = {
            "created": "2023-11-14T22:13:20Z",
            "architecture": arch,
            "os": os_name,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "make-layered-image.py"} for _ in layers],
        }
        if variant:
            document["variant"] = variant
        config_descriptor = self.document(document, "application/vnd.oci.image.config.v1+json")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_descriptor,
            "layers": descriptors,
        }
        platform_field = {"os": os_name, "architecture": arch}
        if variant:
            platform_field["variant"] = variant
        return self.document(manifest, "application/vnd.oci.image.manifest.v1+json", platform=platform_field)

    def finish(self, manifests, tag, as_index):
        """index.json naming the image by tag: the manifest itself, or a nested index of them."""
        annotations = {"org.opencontainers.image.ref.name": tag}
        if as_index:
            nested = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            }
            top = [self.document(nested, "application/vnd.oci.image.index.v1+json", annotations=annotations)]
        else:
            only = dict(manifests[0])
            only.pop("platform", None)
            only["annotations"] = annotations
            top = [only]
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": top}
        with open(os.path.join(self.out, "index.json"), "w") as f:
            json.dump(index, f, sort_keys=True, indent=1)


def busybox(args):
    source = args.rootfs
    if source is None:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-busybox-rootfs.sh")
        source = args.out_dir.rstrip("/") + ".rootfs.tar"
        os.makedirs(os.path.dirname(os.path.abspath(source)), exist_ok=True)
        done = subprocess.run(["bash", script, source], check=False)
        if done.returncode != 0:
            fail("make-busybox-rootfs.sh failed")
    tree = read_rootfs(source)
    if args.rootfs is None:
        os.unlink(source)
    if "bin/busybox" not in tree:
        fail(f"{source}: no bin/busybox")
    for m in tree.values():  # make-busybox-rootfs.sh stamps today's time: fix it for stable digests
        m.info.mtime = FIXED_MTIME
    # Layer 1: /bin, /etc and the skeleton, plus what later layers delete, hide or replace.
    # Layer 2: the /usr and /sbin applets, the whiteout and the replacement.
    # Layer 3 (per platform): the opaque directory, the working directory and the platform file.
    base = [m for n, m in tree.items() if not (n.startswith("usr/") or n.startswith("sbin/"))]
    base += [
        made("etc/removed-by-whiteout", data=b"this file is deleted by a whiteout in layer 2\n"),
        made("etc/replaced", data=b"from layer 1\n"),
        directory("opt"),
        directory("opt/opaque"),
        made("opt/opaque/lower-only", data=b"hidden by the opaque directory of layer 3\n"),
        made("opt/opaque/both", data=b"from layer 1\n"),
        made("opt/kept", data=b"from layer 1, never touched\n"),
    ]
    second = [m for n, m in tree.items() if n.startswith("usr/") or n.startswith("sbin/")]
    second += [
        made("etc/.wh.removed-by-whiteout"),
        made("etc/replaced", data=b"from layer 2\n"),
    ]
    second = with_parents(second, tree)
    layout = Layout(args.out_dir)
    manifests = []
    platforms = args.platforms.split(",")
    for platform in platforms:
        third = with_parents(
            [
                made("opt/opaque/.wh..wh..opq"),
                made("opt/opaque/both", data=b"from layer 3\n"),
                made("opt/opaque/upper-only", data=b"from layer 3\n"),
                directory("srv"),
                directory("srv/work", mode=0o755, uid=65534, gid=65534),
                made("etc/image-platform", data=(platform + "\n").encode()),
            ],
            tree,
        )
        config = {
            "Env": [
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "TASKER_IMAGE_ENV=from the image config",
                "TASKER_IMAGE_PLATFORM=" + platform,
            ],
            "Cmd": BUSYBOX_CMD,
            "WorkingDir": "/srv/work",
            "User": "65534:65534",
            "StopSignal": "SIGUSR1",
            "Labels": {"org.opencontainers.image.title": "tasker test busybox"},
        }
        manifests.append(layout.image([base, second, third], config, "gzip", platform))
    layout.finish(manifests, args.tag, as_index=len(platforms) > 1)


def split(args):
    if args.layers < 1:
        fail(f"--layers {args.layers}: at least 1")
    tree = read_rootfs(args.rootfs)
    if not tree:
        fail(f"{args.rootfs}: no members")
    # Every directory goes in the bottom layer; files are cut into N contiguous runs of sorted
    # paths of about equal size; a hard link goes with its target.
    directories = [m for m in tree.values() if m.info.isdir()]
    files = sorted((m for m in tree.values() if not m.info.isdir() and not m.info.islnk()), key=lambda m: m.name)
    total = sum(len(m.data) + 512 for m in files)
    layer_of, layers = {}, [[] for _ in range(args.layers)]
    used = 0
    for m in files:
        index = min(args.layers - 1, used * args.layers // max(total, 1))
        used += len(m.data) + 512
        layer_of[m.name] = index
        layers[index].append(m)
    layers[0] += directories
    for m in tree.values():
        if m.info.islnk():
            target = tree.get(m.info.linkname)
            if target is None or target.name not in layer_of:
                fail(f"{args.rootfs}: hard link {m.name!r} to {m.info.linkname!r}, which is not a file of the root")
            layers[layer_of[target.name]].append(m)
    layers = [with_parents(layer, tree) for layer in layers]
    for text in args.top_file:
        path, _, content = text.partition("=")
        if not normalized(path):
            fail(f"--top-file {text!r}: PATH=TEXT")
        layers.append(with_parents([made(normalized(path), data=content.encode() + b"\n")], tree))
    config = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": json.loads(args.cmd),
        "WorkingDir": "/",
    }
    layout = Layout(args.out_dir)
    layout.finish([layout.image(layers, config, args.compression, args.platform)], args.tag, as_index=False)


def main():
    parser = argparse.ArgumentParser(description="Writes multi-layer OCI image layouts for tasker's tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("busybox", help="the busybox root as three layers with whiteouts")
    b.add_argument("out_dir")
    b.add_argument("--tag", default="latest")
    b.add_argument("--platforms", default="linux/amd64")
    b.add_argument("--rootfs", help="a busybox root tarball (default: made by make-busybox-rootfs.sh)")
    s = commands.add_parser("split", help="any root tarball split into N layers")
    s.add_argument("rootfs")
    s.add_argument("out_dir")
    s.add_argument("--layers", type=int, default=4)
    s.add_argument("--tag", default="latest")
    s.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    s.add_argument("--platform", default="linux/amd64")
    s.add_argument("--top-file", action="append", default=[], metavar="PATH=TEXT")
    s.add_argument("--cmd", default='["/bin/bash"]', help="the config's Cmd, a JSON array")
    args = parser.parse_args()
    if os.path.exists(os.path.join(args.out_dir, "index.json")):
        fail(f"{args.out_dir}: already holds an image layout")
    # Written beside OUT_DIR and renamed into place, so that a failure leaves no half layout.
    target, args.out_dir = args.out_dir, args.out_dir.rstrip("/") + f".partial-{os.getpid()}"
    try:
        if args.command == "busybox":
            busybox(args)
        else:
            split(args)
        if os.path.isdir(target) and not os.listdir(target):
            os.rmdir(target)
        os.rename(args.out_dir, target)
    finally:
        shutil.rmtree(args.out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
