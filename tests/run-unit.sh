#!/usr/bin/env bash
# Run Check test programs one after another, show their own output (with Check's summary
# line), and finish with one total line. Exit non-zero if any program failed.
set -u
checks=0 failed=0 bad_programs=()
for prog in "$@"; do
    echo "== ${prog##*/}"
    out=$("$prog" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+' | tail -n 1)
    if [ -n "$line" ]; then
        n=$(sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' <<<"$line")
        read -r c f e <<<"$n"
        checks=$((checks + c))
        failed=$((failed + f + e))
    fi
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        bad_programs+=("${prog##*/}")
        [ -z "$line" ] && failed=$((failed + 1))
    fi
done
echo "unit: $((checks - failed < 0 ? 0 : checks - failed)) passed, $failed failed"
if [ ${#bad_programs[@]} -gt 0 ]; then
    echo "failing programs: ${bad_programs[*]}" >&2
    exit 1
fi
