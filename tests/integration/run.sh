#!/usr/bin/env bash
# Run every tests/integration/test_*.sh in turn and print one total line.
# TESTS="name ..." runs a subset.
set -u
cd "$(dirname "$0")"
passed=0 failed=0 failed_names=()
tests=${TESTS:-$(ls test_*.sh 2>/dev/null | sed 's/\.sh$//')}
for t in $tests; do
    echo "== $t"
    start=$(date +%s)
    if bash "./$t.sh"; then
        passed=$((passed + 1))
        echo "   $t: passed ($(( $(date +%s) - start ))s)"
    else
        failed=$((failed + 1))
        failed_names+=("$t")
        echo "   $t: FAILED ($(( $(date +%s) - start ))s)"
    fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "failed: ${failed_names[*]}" >&2; exit 1; }
