#!/usr/bin/env bash
# Run libFuzzer harnesses built by `make fuzz-build`, each for SECONDS, and print one line
# per harness: executions, executions per second, corpus size, and whether it crashed.
#
#   tests/fuzz/run.sh SECONDS NAME...      (NAME: spop_frame, logline, config, ...)
#
# Each harness works on $FUZZ_O/corpus-NAME, seeded from tests/fuzz/corpus/NAME (which is
# never written to), so inputs found by earlier runs are kept. A crash leaves its input in
# $FUZZ_O/artifacts/ and the full log in $FUZZ_O/log-NAME.txt; the script then fails.
# Extra libFuzzer options can be given in FUZZ_ARGS (e.g. FUZZ_ARGS=-workers=4).
set -u
cd "$(dirname "$0")/../.."
secs=${1:?usage: run.sh SECONDS NAME...}
shift
out=${FUZZ_O:-build/fuzz}
failed=()

mkdir -p "$out/artifacts"
for name in "$@"; do
    bin=$out/fuzz_$name
    corpus=$out/corpus-$name
    log=$out/log-$name.txt
    dict=()
    [ -f "tests/fuzz/dict/$name.dict" ] && dict=("-dict=tests/fuzz/dict/$name.dict")
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp -n "tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name-" "${dict[@]}" ${FUZZ_ARGS:-} "$corpus" \
        >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    units=$(find "$corpus" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        printf 'fuzz_%s: %s runs in %ss (%s exec/s), corpus %s inputs, no crash\n' \
            "$name" "${runs:-?}" "$secs" "${rate:-?}" "$units"
    else
        failed+=("$name")
        printf 'fuzz_%s: FAILED (exit %s) after %s runs; log %s\n' "$name" "$rc" "${runs:-?}" "$log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|.*runtime error)' \
            "$log" | head -n 8 | sed 's/^/    /'
    fi
done
[ "${#failed[@]}" -eq 0 ] || { echo "fuzz: crashed: ${failed[*]}" >&2; exit 1; }
