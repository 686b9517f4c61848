#!/usr/bin/env bash
# matrix.sh BUILD_DIR VERSION...: run the integration suite against each HAProxy VERSION,
# built from its release tarball into BUILD_DIR (tests/lib/haproxy-build.sh), and print one
# verdict line per version. The system's HAProxy is run by `make integration`, not here.
# A version whose tarball is not on this machine is reported as not run, loudly, and does
# not fail the matrix; a failed build or test does.
#
# Tests that do not run HAProxy's data path are not repeated per release (TESTS overrides).
set -u
cd "$(dirname "$0")"
out=$1
shift
RELEASE_INDEPENDENT="test_packaging test_fuzz_smoke"
tests=${TESTS:-$(ls test_*.sh | sed 's/\.sh$//' | grep -vxF -f <(tr ' ' '\n' <<<"$RELEASE_INDEPENDENT") | xargs)}
mapfile -t builds < <(../lib/haproxy-build.sh "$out" "$@")
if [ "${#builds[@]}" -ne $# ]; then
    echo "matrix: building HAProxy $* stopped after ${#builds[@]} of $# releases" >&2
    exit 1
fi
verdicts=() failed=0
for line in "${builds[@]}"; do
    version=${line%% *} bin=${line#* }
    case $bin in
    -) verdicts+=("HAProxy $version: NOT RUN (no source tarball on this machine)") ;;
    !)
        verdicts+=("HAProxy $version: FAILED (build)")
        failed=1
        ;;
    *)
        echo "=== integration on $("$bin" -v | head -n 1)"
        [ -n "${TESTS:-}" ] || echo "=== not repeated per release: $RELEASE_INDEPENDENT"
        if HAPROXY=$bin TESTS=$tests ./run.sh </dev/null; then
            verdicts+=("HAProxy $version: passed")
        else
            verdicts+=("HAProxy $version: FAILED")
            failed=1
        fi
        ;;
    esac
done
printf 'matrix: %s\n' "${verdicts[@]}"
exit "$failed"
