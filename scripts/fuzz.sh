#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers hostile input reaches (libFuzzer, through `swift build --sanitize=fuzzer`).
#   ./scripts/fuzz.sh                 every target, 1,000,000 inputs each
#   ./scripts/fuzz.sh form 200000     one target, that many inputs
# Targets: form, amocrm, bitrix24, masterdeal, mapping, connector. Each starts from its seed corpus in
# fuzz/corpus/<target> (made from the tests' fixtures; new finds go to a scratch copy, never into the repository)
# and stops at the first crash, hang (-timeout, seconds per input) or allocation past -rss_limit_mb / -malloc_limit_mb,
# leaving the input that caused it in .build-fuzz/findings. The test suite runs the same targets briefly (FuzzSmokeTests).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("${1:-form amocrm bitrix24 masterdeal mapping connector}")
runs="${2:-1000000}"
build=.build-fuzz
swift build -c release --sanitize=fuzzer --product dealsync-fuzz --build-path "$build"
binary="$build/release/dealsync-fuzz"
mkdir -p "$build/findings"
for target in ${targets[@]}; do
    work="$build/corpus/$target"
    rm -rf "$work" && mkdir -p "$work"
    started=$(date +%s)
    # SWIFT_BACKTRACE=enable=no: a violated property (fatalError) is left to libFuzzer, which saves the input;
    # Swift's backtracer would take the signal first (and a minute), and the input would be lost.
    SWIFT_BACKTRACE=enable=no DEALSYNC_FUZZ_TARGET="$target" "$binary" "$work" "fuzz/corpus/$target" -runs="$runs" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=512 -artifact_prefix="$build/findings/$target-" -print_final_stats=1 \
        > "$build/$target.log" 2>&1 || { echo "fuzz: $target FAILED after $(( $(date +%s) - started )) s; see $build/$target.log"; tail -30 "$build/$target.log"; exit 1; }
    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$target.log" | grep -o '[0-9]*$')
    coverage=$(grep -o 'cov: [0-9]*' "$build/$target.log" | tail -1)
    echo "fuzz: $target: $executed inputs, no crash, hang or oversized allocation ($coverage, $(( $(date +%s) - started )) s)"
done
