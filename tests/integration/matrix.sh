#!/usr/bin/env bash
# matrix.sh BUILD_DIR VERSION...: run the integration suite against each HAProxy VERSION,
# built from its release tarball into BUILD_DIR (tests/lib/haproxy-build.sh), and print one
# verdict line per version. The system's HAProxy is run by `make integration`, not here.
# A version whose tarball is not on this machine is reported as not run, loudly, and does
# not fail the matrix; a failed build or test does.
set -u
cd "$(dirname "$0")"
out=$1
shift
mapfile -t builds < <(../lib/haproxy-build.sh "$out" "$@")
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
        if HAPROXY=$bin ./run.sh </dev/null; then
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
