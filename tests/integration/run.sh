#!/usr/bin/env bash
# Run every tests/integration/test_*.sh in turn and print one total line.
# TESTS="name ..." runs a subset.
#
# A test exits 0 when it passed, SKIP_STATUS (77, lib.sh's skip) when it could not run here
# (the reason is in its output), anything else when it failed. Parts of tests that were
# skipped (lib.sh's skip_part) are listed after the total.
set -u
cd "$(dirname "$0")"
SKIP_STATUS=$(sed -n "s/^SKIP_STATUS=\([0-9]*\)$/\1/p" lib.sh) # lib.sh defines it
passed=0 skipped=0 failed=0 skipped_names=() failed_names=()
LLMPROXY_SKIPPED_PARTS=$(mktemp "${TMPDIR:-/tmp}/llmproxy-skipped.XXXXXX")
export LLMPROXY_SKIPPED_PARTS
trap 'rm -f "$LLMPROXY_SKIPPED_PARTS"' EXIT
tests=${TESTS:-$(ls test_*.sh 2>/dev/null | sed 's/\.sh$//')}
echo "integration: $("${HAPROXY:-haproxy}" -v 2>&1 | head -n 1)"
for t in $tests; do
    echo "== $t"
    start=$(date +%s)
    bash "./$t.sh"
    rc=$?
    took=$(($(date +%s) - start))
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "   $t: passed (${took}s)"
    elif [ "$rc" -eq "$SKIP_STATUS" ]; then
        skipped=$((skipped + 1))
        skipped_names+=("$t")
        echo "   $t: skipped (${took}s)"
    else
        failed=$((failed + 1))
        failed_names+=("$t")
        echo "   $t: FAILED (${took}s)"
    fi
done
echo "integration: $passed passed, $skipped skipped, $failed failed"
[ "$skipped" -eq 0 ] || echo "skipped: ${skipped_names[*]}"
if [ -s "$LLMPROXY_SKIPPED_PARTS" ]; then
    echo "skipped parts:"
    sed 's/^/  /' "$LLMPROXY_SKIPPED_PARTS"
fi
[ "$failed" -eq 0 ] || { echo "failed: ${failed_names[*]}" >&2; exit 1; }
