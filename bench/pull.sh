#!/usr/bin/env bash
# Pulling a multi-layer image from a registry: tasker beside skopeo copy + umoci unpack and podman.
#   bench/pull.sh [cold|shared|all]   (default: all; RUNS=5 runs of each command)
#   PEERS_ONLY=1 bench/pull.sh        (podman and skopeo+umoci alone, e.g. before tasker pulls)
# Ratios are to podman pull, the first row.
# Needs root. Starts a registry of its own (Debian's docker-registry, plain HTTP on 127.0.0.1),
# pushes two images made from a Debian bookworm minbase root split into four gzip layers plus a
# small top layer each (scripts/make-layered-image.py split --top-file): "base" and "app", which
# share all but that top layer. Then times, in one hyperfine run per part, each tool pulling
# into a store of its own made fresh before every run (hyperfine --prepare, untimed):
#   cold:   the base image into an empty store;
#   shared: the app image into a store that already holds the base image (one new layer).
# Each tool ends with the image unpacked and ready to run: umoci unpack for skopeo's layout,
# podman's overlay store, tasker's layer store. hyperfine's JSON and a markdown table per part go
# under bench/out/. Everything it starts or makes (registry, stores) is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:-all}
runs=${RUNS:-5}
out=$PWD/bench/out
work=/tmp/tasker-bench-pull
mkdir -p "$out" "$work/images"

scripts/install-deps.sh
# The peers and the timer are the bench's own needs, not CI's.
need=()
for package in podman hyperfine skopeo umoci docker-registry mmdebstrap curl; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "bench/pull.sh: installing ${need[*]} (the peers and hyperfine)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    { echo "bench/pull.sh: cannot install ${need[*]}: apt-get install them and run again" >&2; exit 1; }
fi

tasker=
if [ -z "${PEERS_ONLY:-}" ]; then
  swift build -c release --static-swift-stdlib --product tasker >/dev/null
  swift build -c release --static-swift-stdlib --product tasker-supervisor >/dev/null
  swift build -c release --static-swift-stdlib --product tasker-unpack >/dev/null
  tasker=$(swift build -c release --static-swift-stdlib --show-bin-path)/tasker
  "$tasker" pull --help >/dev/null 2>&1 || { echo "bench/pull.sh: this tasker has no 'pull' (PEERS_ONLY=1 times the peers alone)" >&2; exit 1; }
fi

# The images, made once and kept in $work/images (the root tarball and both layouts).
if [ ! -f "$work/images/bookworm.tar" ]; then
  # mmdebstrap writes a tarball when the name ends in .tar.
  mmdebstrap --variant=minbase --quiet bookworm "$work/images/bookworm.partial.tar"
  mv "$work/images/bookworm.partial.tar" "$work/images/bookworm.tar"
fi
for name in base app; do
  if [ ! -f "$work/images/$name/index.json" ]; then
    rm -rf "$work/images/$name"
    python3 scripts/make-layered-image.py split "$work/images/bookworm.tar" "$work/images/$name" \
      --layers 4 --compression gzip --tag latest --top-file "etc/bench-image=$name"
  fi
done
image_bytes=$(du -sb "$work/images/base/blobs" | cut -f1)

registry=
cleanup() {
  [ -z "$registry" ] || kill "$registry" 2>/dev/null || true
  [ -z "$registry" ] || wait "$registry" 2>/dev/null || true
  # podman's overlay store may hold mounts of its own below the stores.
  awk -v d="$work/stores/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work/stores" "$work/registry" "$work/fresh.sh" "$work/pull.sh"
}
trap cleanup EXIT

# A registry of its own on a free loopback port, storage in $work/registry.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$work/registry" && mkdir -p "$work/registry/storage"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$work/registry/log" >&2; echo "bench/pull.sh: the registry did not start" >&2; exit 1; }
host=127.0.0.1:$port
for name in base app; do
  skopeo copy -q --dest-tls-verify=false "oci:$work/images/$name:latest" "docker://$host/bench/bookworm-$name:latest"
done

stores=$work/stores
# One store per tool; "fresh TOOL" empties it (the shared part then pulls the base image into it).
cat >"$work/fresh.sh" <<EOF
#!/bin/sh
set -e
tool=\$1
awk -v d="$stores/\$tool/" 'index(\$5, d) == 1 {print \$5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
rm -rf "$stores/\$tool" && mkdir -p "$stores/\$tool"
if [ "\${2:-}" = with-base ]; then "$work/pull.sh" "\$tool" base >/dev/null 2>&1; fi
sync
EOF
# "pull.sh TOOL IMAGE": the tool pulls docker://HOST/bench/bookworm-IMAGE:latest into its store,
# up to an unpacked root.
cat >"$work/pull.sh" <<EOF
#!/bin/sh
set -e
ref=docker://$host/bench/bookworm-\$2:latest
case \$1 in
  skopeo)
    skopeo copy -q --src-tls-verify=false "\$ref" "oci:$stores/skopeo/layout:\$2"
    umoci unpack --image "$stores/skopeo/layout:\$2" "$stores/skopeo/bundle-\$2" >/dev/null
    ;;
  podman)
    podman --root "$stores/podman/root" --runroot "$stores/podman/run" --storage-driver overlay \\
      --events-backend none pull -q --tls-verify=false "\$ref" >/dev/null
    ;;
  tasker)
    "$tasker" --root "$stores/tasker" pull -q --tls-verify=false "\$ref" >/dev/null
    ;;
esac
EOF
chmod +x "$work/fresh.sh" "$work/pull.sh"

tools=(podman skopeo)
[ -n "${PEERS_ONLY:-}" ] || tools+=(tasker)
label() {
  case $1 in
    skopeo) echo "skopeo copy + umoci unpack" ;;
    podman) echo "podman pull (overlay)" ;;
    tasker) echo "tasker pull" ;;
  esac
}
# Each tool's first pull, untimed, shows it works here before hyperfine times it.
for tool in "${tools[@]}"; do
  "$work/fresh.sh" "$tool" && "$work/pull.sh" "$tool" base || { echo "bench/pull.sh: $(label "$tool") failed" >&2; exit 1; }
done

hf() { # hf NAME ARGS...: JSON to bench/out/NAME.json
  local name=$1
  shift
  hyperfine -N --style basic --export-json "$out/$name.json" "$@" >"$out/$name.txt" 2>&1 || {
    cat "$out/$name.txt"
    return 1
  }
}

mib=$((image_bytes >> 20))
if [ "$part" = cold ] || [ "$part" = all ]; then
  args=()
  for tool in "${tools[@]}"; do args+=(--prepare "$work/fresh.sh $tool" -n "$(label "$tool")" "$work/pull.sh $tool base"); done
  hf pull-cold -w 1 -r "$runs" "${args[@]}"
  python3 bench/report.py "$out/pull-cold.json" --title "pull the ${mib} MiB 5-layer image, cold" >"$out/pull-cold.md"
  cat "$out/pull-cold.md"
fi
if [ "$part" = shared ] || [ "$part" = all ]; then
  args=()
  for tool in "${tools[@]}"; do args+=(--prepare "$work/fresh.sh $tool with-base" -n "$(label "$tool")" "$work/pull.sh $tool app"); done
  hf pull-shared -w 1 -r "$runs" "${args[@]}"
  python3 bench/report.py "$out/pull-shared.json" --title "pull the second image (4 of 5 layers in the store)" >"$out/pull-shared.md"
  cat "$out/pull-shared.md"
fi
