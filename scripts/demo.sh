#!/usr/bin/env bash
# Runs dealsync end to end on a fresh machine: installs PostgreSQL if it is missing, builds, and plays the demo on a
# private PostgreSQL with the built-in MasterDeal and amoCRM simulators. Everything it starts is removed on exit.
# Extra arguments go to `dealsync demo` (for example --keep-running).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/prerequisites.sh
swift build --product dealsync
exec .build/debug/dealsync demo "$@"
