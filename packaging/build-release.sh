#!/bin/sh
# Build what every LLMProxy package ships, the same way for all of them: debian/rules, the
# RPM spec and the container's build stage each run exactly
#
#   packaging/build-release.sh build/release
#
# OUT/llmproxy-agent, OUT/llmproxy-ctl   optimised binaries (no sanitizers); CFLAGS,
#                                        CPPFLAGS and LDFLAGS from the environment are added
#                                        (the distribution's hardening flags)
# OUT/man/*.1                            man pages made by help2man from --help/--version
#
# Run from anywhere; builds only the two programs, not the test tools.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: packaging/build-release.sh OUT_DIR}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac

cd "$ROOT"
# The Makefile appends its own flags to CFLAGS/LDFLAGS from the environment; CPPFLAGS (e.g.
# -D_FORTIFY_SOURCE) has no variable of its own there, so it rides along in CFLAGS.
CFLAGS="${CFLAGS:-} ${CPPFLAGS:-}" LDFLAGS="${LDFLAGS:-}" \
    make SAN=0 O="$OUT" "$OUT/llmproxy-agent" "$OUT/llmproxy-ctl"

mkdir -p "$OUT/man"
help2man --no-info --no-discard-stderr --section 8 \
    --name "SPOP decision agent of LLMProxy, the HAProxy load balancer for LLM APIs" \
    --include packaging/man/llmproxy-agent.h2m \
    --output "$OUT/man/llmproxy-agent.8" "$OUT/llmproxy-agent"

# llmproxy-ctl's man page also carries each command's own help.
ctl_include=$OUT/man/llmproxy-ctl.h2m
{
    cat packaging/man/llmproxy-ctl.h2m
    echo "[COMMAND OPTIONS]"
    for cmd in validate render check status; do
        echo ".SS $cmd"
        echo ".nf"
        "$OUT/llmproxy-ctl" "$cmd" --help | sed 's/\\/\\e/g; s/^\([.'\'']\)/\\\&\1/'
        echo ".fi"
    done
} >"$ctl_include"
help2man --no-info --no-discard-stderr --section 1 \
    --name "validate, render and check LLMProxy configurations for HAProxy" \
    --include "$ctl_include" \
    --output "$OUT/man/llmproxy-ctl.1" "$OUT/llmproxy-ctl"
