#!/usr/bin/env bash
# Fuzzes the archive extractor and the parsers of user input with libFuzzer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#   scripts/fuzz.sh --ci [SECONDS_PER_TARGET]   (default 60)
#   scripts/fuzz.sh 3600                        the long run: an hour per target, before a release
#   scripts/fuzz.sh --target inputs 600         one target only (archive, inputs, plan or headers)
#
# The Swift targets (archive, inputs) are built once, with -sanitize=fuzzer, into one scratch
# path (.build-fuzz); plan, the supervisor's C parser of the plan document, and headers, the C
# shim's reader of HTTP response header lines (tasker_http_read_headers), are built with clang
# and AddressSanitizer and UBSan (-fsanitize=fuzzer,address,undefined) into the same place, then each runs for SECONDS over a copy of its kept corpus, so that a run never
# writes into the repository's corpus — except a finding. Seeds and findings live in
# Tests/Fixtures/fuzz/<target>/, and every file there is replayed by the tests
# (FuzzCorpusTests), so a crash found once stays fixed.
#
# A finding (a crash, a timeout, running out of memory) is copied into
# Tests/Fixtures/fuzz/<target>/ under libFuzzer's name for it (crash-<sha1>, ...) and its path is
# printed; the other targets still run, and the script exits 1. Fix the bug, keep the file.
#
# --ci prints only each target's summary (its whole log when it finds something); without it,
# libFuzzer's progress is shown as it goes.
set -euo pipefail
cd "$(dirname "$0")/.."
# SwiftPM leaves empty TemporaryDirectory.* directories in $TMPDIR on every build: a scratch one.
scratch_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tasker-fuzz.XXXXXX")
trap 'rm -rf --one-file-system "$scratch_tmp"' EXIT
export TMPDIR=$scratch_tmp
usage="usage: scripts/fuzz.sh [--ci] [--target archive|inputs|plan|headers] [SECONDS_PER_TARGET]"
ci=false
targets=(archive inputs plan headers)
while [[ ${1:-} == --* ]]; do
  case $1 in
    --ci) ci=true ;;
    --target)
      [[ ${2:-} == archive || ${2:-} == inputs || ${2:-} == plan || ${2:-} == headers ]] || {
        echo "$usage" >&2
        exit 64
      }
      targets=("$2")
      shift
      ;;
    *) echo "$usage" >&2; exit 64 ;;
  esac
  shift
done
seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]] || (($# > 1)); then
  echo "$usage" >&2
  exit 64
fi
flags=(-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -parse-as-library)

echo "== building the fuzz targets (.build-fuzz)"
for target in "${targets[@]}"; do
  if [[ $target == plan ]]; then
    mkdir -p .build-fuzz
    clang -g -O1 -fuse-ld=lld -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -DTASKER_FUZZ_PLAN Sources/TaskerSupervisor/main.c -o .build-fuzz/TaskerFuzzPlan -l:libseccomp.a
  elif [[ $target == headers ]]; then
    mkdir -p .build-fuzz
    clang -g -O1 -fuse-ld=lld -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -DTASKER_FUZZ_HEADERS -I Sources/CTaskerShim/include Sources/CTaskerShim/shim.c Sources/CTaskerShim/lazy.c \
      -o .build-fuzz/TaskerFuzzHeaders -ldl
  else
    swift build --scratch-path .build-fuzz --product "TaskerFuzz${target^}" "${flags[@]}" >/dev/null
  fi
done
bin=$(swift build --scratch-path .build-fuzz "${flags[@]}" --show-bin-path)

scratch=$(mktemp -d /tmp/tasker-fuzz-run-XXXXXX)
trap 'rm -rf "$scratch"; rm -rf --one-file-system "$scratch_tmp"' EXIT
findings=()
for target in "${targets[@]}"; do
  kept=Tests/Fixtures/fuzz/$target
  corpus=$scratch/$target/corpus
  artifacts=$scratch/$target/artifacts
  log=$scratch/$target/log
  mkdir -p "$corpus" "$artifacts"
  cp -- "$kept"/* "$corpus"/
  echo "== fuzzing $target for ${seconds}s over a copy of $kept ($(ls "$corpus" | wc -l) inputs)"
  # Swift's own crash reporter would stop libFuzzer from writing the crashing input: it is off.
  status=0
  program=$bin/TaskerFuzz${target^}
  [[ $target == plan ]] && program=.build-fuzz/TaskerFuzzPlan
  [[ $target == headers ]] && program=.build-fuzz/TaskerFuzzHeaders
  run=(env SWIFT_BACKTRACE=enable=no "$program" -max_total_time="$seconds" -max_len=65536
    -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus")
  if $ci; then
    "${run[@]}" >"$log" 2>&1 || status=$?
  else
    "${run[@]}" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
  fi
  found=("$artifacts"/*)
  if [[ -e ${found[0]} ]]; then
    $ci && cat "$log"
    for file in "${found[@]}"; do
      cp -- "$file" "$kept/"
      findings+=("$kept/$(basename "$file")")
      echo "!! $target: finding kept as $kept/$(basename "$file")"
    done
  elif ((status != 0)); then
    $ci && cat "$log"
    findings+=("$target: libFuzzer exited $status without an input (see above)")
    echo "!! $target: libFuzzer exited $status"
  else
    grep -E '^Done [0-9]+ runs|^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' \
      "$log" || true
  fi
done

if ((${#findings[@]} > 0)); then
  echo "== fuzzing found ${#findings[@]} problem(s): fix them and keep the inputs (the tests replay them)"
  printf '%s\n' "${findings[@]}"
  exit 1
fi
echo "== no findings"
