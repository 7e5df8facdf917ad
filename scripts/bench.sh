#!/usr/bin/env bash
# Measures dealsync's speed and memory targets on this machine: the engine's decision rate, webhook answer
# times under 16 concurrent senders, end-to-end settling on the embedded default, and peak memory.
# Pass --quick for a short run. Exits 1 when a target is missed. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/prerequisites.sh
swift build -c release --product dealsync-bench
exec .build/release/dealsync-bench "$@" "$PWD"
