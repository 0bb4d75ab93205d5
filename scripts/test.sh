#!/usr/bin/env bash
# Runs tasker's tests: format lint, build, unit tests and (as root) integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# SwiftPM leaves empty TemporaryDirectory.* directories behind in $TMPDIR on every build; give
# it (and the tests) a scratch directory of their own and remove it after the run.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tasker-test.XXXXXX")
trap 'rm -rf --one-file-system "$scratch"' EXIT
export TMPDIR=$scratch
swift format lint --strict -r Sources Tests Package.swift
swift build --build-tests
swift test --skip-build "$@"
