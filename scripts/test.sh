#!/usr/bin/env bash
# Runs tasker's tests: format lint, build, unit tests and integration tests. As root, the
# integration tests that need root, then (scripts/test-rootless.sh) the rootless ones as an
# unprivileged user it makes; as any other user, the unit tests and the rootless ones (the
# tests that need root skip, saying so).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh
else
  scripts/install-deps.sh --check
fi
# SwiftPM leaves empty TemporaryDirectory.* directories behind in $TMPDIR on every build; give
# it (and the tests) a scratch directory of their own and remove it after the run.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tasker-test.XXXXXX")
trap 'rm -rf --one-file-system "$scratch"' EXIT
export TMPDIR=$scratch
swift format lint --strict -r Sources Tests Package.swift
swift build --build-tests
swift test --skip-build "$@"
if [ "$(id -u)" = 0 ] && [ $# = 0 ]; then
  scripts/test-rootless.sh
fi
