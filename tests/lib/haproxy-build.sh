#!/bin/sh
# haproxy-build.sh OUT_DIR VERSION...: build each HAProxy VERSION from its release tarball
# into OUT_DIR/VERSION/haproxy, once: a binary already there that reports VERSION is kept.
# Prints one line per version: "VERSION PATH" when the binary is ready, "VERSION -" when it
# cannot be built here (no tarball), "VERSION !" when its build failed; the reason goes to
# stderr, and the exit status is 1 if a build failed.
#
# The tarballs are read from $LLMPROXY_HAPROXY_SOURCES (default: the vendor folder beside the
# project, ../shared/vendor/haproxy), never from the network. The build options are those of
# Debian's own package that the tests rely on (OpenSSL for the TLS tests, PCRE2 for regexes),
# without Lua, which LLMProxy does not use.
set -eu

out=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
sources=${LLMPROXY_HAPROXY_SOURCES:-$root/../shared/vendor/haproxy}
jobs=$(nproc 2>/dev/null || echo 2)
status=0

for version in "$@"; do
    dir=$out/$version
    bin=$dir/haproxy
    if [ -x "$bin" ] && "$bin" -v 2>/dev/null | grep -q "version $version-"; then
        echo "$version $bin"
        continue
    fi
    tarball=$sources/haproxy-$version.tar.gz
    if [ ! -f "$tarball" ]; then
        echo "haproxy-build: $tarball not found (set LLMPROXY_HAPROXY_SOURCES)" >&2
        echo "$version -"
        continue
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -xzf "$tarball" -C "$dir" --strip-components=1
    echo "haproxy-build: building HAProxy $version in $dir (log: $dir/build.log)" >&2
    if ! make -C "$dir" -j"$jobs" TARGET=linux-glibc USE_OPENSSL=1 USE_PCRE2=1 \
        >"$dir/build.log" 2>&1; then
        tail -n 20 "$dir/build.log" >&2
        echo "haproxy-build: building HAProxy $version failed" >&2
        echo "$version !"
        status=1
        continue
    fi
    echo "$version $bin"
done
exit "$status"
