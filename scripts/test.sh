#!/usr/bin/env bash
# Runs tasker's tests: format lint, build, unit tests and (as root) integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift format lint --strict -r Sources Tests Package.swift
swift build --build-tests
swift test --skip-build "$@"
