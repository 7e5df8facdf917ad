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
# A test that hangs must not hold CI until its own limit: the suite (about 6 minutes on a 2-core machine) gets
# DEALSYNC_TEST_LIMIT_SECONDS (40 minutes); then its test process is stopped (it runs in a process group of its
# own, so it is found by its path) and the tests that started and never finished are named.
log="$(mktemp)"
runner="$PWD/.build/.*/dealsyncPackageTests.xctest"
(
    # Told to stop (the suite ended in time), it ends with its sleep and does nothing more.
    trap 'kill "${sleeper:-}" 2>/dev/null || true; exit 0' TERM
    sleep "${DEALSYNC_TEST_LIMIT_SECONDS:-2400}" &
    sleeper=$!
    wait "$sleeper"
    touch "$log.expired"
    pkill -TERM -f "$runner" || true
    sleep 20
    pkill -KILL -f "$runner" || true
) >/dev/null 2>&1 &
watchdog=$!
# The watchdog and its sleep go with the script, however it ends. Nothing in the trap may fail: under `set -e` a
# failing command there becomes the script's exit status (a suite that passed was reported as failed when the
# watchdog had already gone).
trap 'kill "$watchdog" 2>/dev/null || true; rm -f "$log" "$log.expired" "$log.started" "$log.ended"' EXIT
status=0
swift test --skip-build 2>&1 | tee "$log" || status=$?
if [ -e "$log.expired" ]; then
    echo "the test suite ran past ${DEALSYNC_TEST_LIMIT_SECONDS:-2400} s and was stopped; started and never finished:" >&2
    sed -n 's/^.* Test \(.*\) started\.$/\1/p' "$log" | sort -u >"$log.started"
    sed -n 's/^.* Test \(.*\) \(passed\|failed\|skipped\).*$/\1/p' "$log" | sort -u >"$log.ended"
    comm -23 "$log.started" "$log.ended" | sed -e "/^run$/d" -e "s/^/  /" >&2
    status=1
fi
exit "$status"
