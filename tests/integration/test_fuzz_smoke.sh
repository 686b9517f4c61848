#!/usr/bin/env bash
# The libFuzzer harnesses (tests/fuzz, docs/reliability.md) build with clang under
# ASan+UBSan and each runs FUZZ_SMOKE_SECONDS (8) on its seed corpus without a crash.
# Skipped where clang is not installed (make deps installs it).
source "$(dirname "$0")/lib.sh"

secs=${FUZZ_SMOKE_SECONDS:-8}
fuzz_o=${FUZZ_O:-build/fuzz}

command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1 ||
    skip "${FUZZ_CC:-clang} not found; install clang and libclang-rt-14-dev (make deps)"

build() {
    make -C "$LLMPROXY_ROOT" -j"$(nproc)" FUZZ_O="$fuzz_o" fuzz-build >"$T/build.log" 2>&1 ||
        { tail -n 20 "$T/build.log"; return 1; }
}
check "fuzz harnesses build with clang (libFuzzer, ASan+UBSan)" build

names=$(cd "$LLMPROXY_ROOT/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
for name in $names; do
    check "fuzz_$name runs ${secs}s without a crash" \
        env FUZZ_O="$fuzz_o" "$LLMPROXY_ROOT/tests/fuzz/run.sh" "$secs" "$name"
done
finish
