#!/bin/sh
# make rpm: build the llmproxy .rpm with rpmbuild from packaging/rpm/llmproxy.spec.
#
#   packaging/build-rpm.sh OUT_DIR
#
# Makes Source0 (llmproxy-VERSION.tar.gz) from the work tree without build/ and .git, builds
# the binary package in a scratch _topdir and moves the .rpm files into OUT_DIR. On Debian
# (rpm package) BuildRequires cannot be checked against an RPM database: --nodeps there, the
# Debian equivalents come from make deps.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPEC=$ROOT/packaging/rpm/llmproxy.spec
OUT=${1:?usage: packaging/build-rpm.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

VERSION=$(rpmspec -q --srpm --qf '%{VERSION}' "$SPEC" 2>/dev/null ||
    awk '$1 == "Version:" { print $2; exit }' "$SPEC")
# The release number lives in the Makefile; the spec keeps its own copy for rpmbuild.
MAKE_VERSION=$(make -s --no-print-directory -C "$ROOT" print-version)
if [ "$VERSION" != "$MAKE_VERSION" ]; then
    echo "build-rpm: packaging/rpm/llmproxy.spec has Version $VERSION but the Makefile's" \
        "VERSION is $MAKE_VERSION: update the spec (Version and %changelog)" >&2
    exit 1
fi

TOP=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-rpm.XXXXXX")
trap 'rm -rf "$TOP"' EXIT
mkdir -p "$TOP/SOURCES" "$TOP/stage/llmproxy-$VERSION"
tar -C "$ROOT" --exclude=./build --exclude=./.git --exclude='*.deb' --exclude='*.rpm' \
    --exclude=./tests/integration/run -cf - . | tar -C "$TOP/stage/llmproxy-$VERSION" -xf -
tar -C "$TOP/stage" -czf "$TOP/SOURCES/llmproxy-$VERSION.tar.gz" "llmproxy-$VERSION"

nodeps=
[ -f /etc/debian_version ] && nodeps=--nodeps
rpmbuild -bb $nodeps --define "_topdir $TOP" "$SPEC" >"$TOP/build.log" 2>&1 || {
    tail -n 40 "$TOP/build.log" >&2
    echo "build-rpm: rpmbuild failed (last lines above)" >&2
    exit 1
}
find "$TOP/RPMS" -name '*.rpm' -exec mv {} "$OUT/" \;
for f in "$OUT"/llmproxy-"$VERSION"-*.rpm; do echo "build-rpm: $f"; done
