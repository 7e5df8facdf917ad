#!/usr/bin/env bash
# Runs dealsync's whole test suite on a fresh machine: installs what is missing, builds, runs every test.
# Tests start their own private PostgreSQL and simulators and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/prerequisites.sh --tests
# The code reads one way everywhere: formatted as .swift-format says (`swift format -i -r Sources Tests Package.swift`).
swift format lint --strict -r Sources Tests Package.swift
swift build --build-tests
# Many tests run real servers, simulators and PostgreSQL sessions and assert on timing-sensitive behaviour
# (rate limits, webhook deadlines): two at a time keeps a small CI machine from starving them.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-2}"
swift test --skip-build
