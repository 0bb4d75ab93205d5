#!/usr/bin/env bash
# Fuzzes the archive extractor and the parsers of user input with libFuzzer.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
# Seeds and findings live in Tests/Fixtures/fuzz/<target>/; every file there is replayed by the
# tests (FuzzCorpusTests), so a crash found once stays fixed. A crash stops the run and leaves
# the input as Tests/Fixtures/fuzz/<target>/crash-*: fix the bug, keep the file.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
flags=(-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -parse-as-library)
for target in archive inputs; do
  product=TaskerFuzz${target^}
  swift build --scratch-path .build-fuzz --product "$product" "${flags[@]}" >/dev/null
  corpus=Tests/Fixtures/fuzz/$target
  work=$(mktemp -d)
  echo "== fuzzing $target for ${seconds}s (corpus $corpus)"
  # New interesting inputs go to a scratch directory; crashes go beside the kept corpus. Swift's
  # own crash reporter would stop libFuzzer from writing the crashing input: it is turned off.
  SWIFT_BACKTRACE=enable=no .build-fuzz/debug/"$product" -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="$corpus/" "$work" "$corpus"
  rm -rf "$work"
done
