#!/usr/bin/env bash
# Runs dealsync's whole test suite on a fresh machine: installs what is missing, builds, runs every test.
# Tests start their own private PostgreSQL and simulators and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/prerequisites.sh --tests
swift build --build-tests
swift test --skip-build
