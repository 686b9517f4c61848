#!/bin/sh
# Install the Debian packages LLMProxy needs to build, test and run, only when
# one is missing. Non-interactive and idempotent; needs root to install.
set -eu

# libpcre2-dev builds the HAProxy releases the integration suite also runs against
# (tests/lib/haproxy-build.sh); debhelper, dpkg-dev, fakeroot, help2man, lintian and rpm build
# and check the packages (make deb, make rpm, tests/integration/test_packaging.sh); clang and
# libclang-rt-14-dev (libFuzzer) build the fuzzing harnesses (make fuzz,
# tests/integration/test_fuzz_smoke.sh). libhiredis-dev links the agent's Redis client
# (agent.cluster); redis-server runs in tests/integration/test_cluster_ratelimit.sh and the bench.
PKGS="${LLMPROXY_DEPS:-haproxy libev-dev libhiredis-dev redis-server libyaml-dev libssl-dev check pkg-config make gcc curl socat iproute2 jq python3 openssl ca-certificates libpcre2-dev tinyproxy debhelper dpkg-dev fakeroot help2man lintian rpm clang libclang-rt-14-dev}"

missing=""
for p in $PKGS; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages:$missing" >&2
    echo "install-deps: run 'make deps' as root, or: sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
