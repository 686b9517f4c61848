#!/bin/sh
# The HAProxy release lines LLMProxy is tested with are named in four places that must
# agree: the system's HAProxy plus HAPROXY_MATRIX in the Makefile (what `make test` runs),
# the renderer's table (ctl/haproxy_target.c: which releases render without a warning),
# and the packages' dependencies (packaging/debian/control, packaging/rpm/llmproxy.spec).
# Usage: tests/lint/haproxy-versions.sh [repository root]; exits 1 naming the disagreement.
set -eu
cd "${1:-$(dirname "$0")/../..}"

lines() { tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort -u | xargs; }

# The system's HAProxy is Debian 12's 2.6; the matrix adds full versions (3.0.11 -> 3.0).
matrix=$( (echo 2.6; sed -n 's/^HAPROXY_MATRIX ?= //p' Makefile | tr ' ' '\n' | cut -d. -f1-2) | lines)
renderer=$(sed -n 's/^static const struct conf_haproxy_version tested\[\] = {\(.*\)};$/\1/p' \
    ctl/haproxy_target.c | sed 's/{\([0-9]*\), \([0-9]*\)}/\1.\2 /g; s/,//g' | lines)
# Each alternative "haproxy (>= X~)" opens a tested line X.
deb=$(grep -o 'haproxy (>= [0-9.]*~)' packaging/debian/control | sed 's/[^0-9.]//g' | lines)
rpm=$(grep -o 'haproxy >= [0-9.]* with' packaging/rpm/llmproxy.spec | sed 's/[^0-9.]//g' | lines)

status=0
for place in "renderer:$renderer" "debian/control:$deb" "rpm spec:$rpm"; do
    if [ "${place#*:}" != "$matrix" ]; then
        echo "haproxy-versions.sh: ${place%%:*} names '${place#*:}', make test runs '$matrix'" >&2
        status=1
    fi
done
exit "$status"
