#!/usr/bin/env bash
# Measures dealsync's speed and memory targets on this machine, with PostgreSQL's durable settings (fsync,
# synchronous_commit and full_page_writes on): the engine's decision rate; then, with `dealsync serve`, the
# simulators and the load each in a process of their own, side by side in one run: the HTTP ceiling and a naive
# per-request durable insert (pgbench), webhook ingest at 32 connections (wrk), the drain rate with backlogs of
# 1,000, 10,000 and 100,000 observations, freshness at 500 changes/s, one connector's freshness while another takes
# a 20,000-lead burst, and the gateway's peak memory; a studio's deployment (100 amoCRM connectors in one serve:
# startup, idle CPU, memory, webhook latency; then three serve processes: the lanes' spread, a SIGKILL's takeover,
# every lead one deal). Prints every figure and ratio; exits 1 when a target is
# missed. Pass --quick for a short run. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/prerequisites.sh --bench
swift build -c release --product dealsync
swift build -c release --product dealsync-bench
exec .build/release/dealsync-bench "$@" "$PWD"
