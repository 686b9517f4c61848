#!/bin/sh
# make deb: build the llmproxy .deb with dpkg-buildpackage + debhelper.
#
#   packaging/build-deb.sh OUT_DIR
#
# Copies the work tree (without build/ and .git) into a scratch folder, adds packaging/debian
# as debian/ there (the repository keeps no debian/ at its top level), builds the binary
# packages unsigned and moves them (.deb, the -dbgsym .deb, .buildinfo, .changes) into
# OUT_DIR. Needs the Build-Depends of packaging/debian/control (make deps installs them).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: packaging/build-deb.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

VERSION=$(dpkg-parsechangelog -l "$ROOT/packaging/debian/changelog" -S Version)
UPSTREAM=${VERSION%-*}
# The release number lives in the Makefile; the changelog adds the Debian revision.
MAKE_VERSION=$(make -s --no-print-directory -C "$ROOT" print-version)
if [ "$UPSTREAM" != "$MAKE_VERSION" ]; then
    echo "build-deb: packaging/debian/changelog is at $VERSION but the Makefile's VERSION is" \
        "$MAKE_VERSION: add a changelog entry" >&2
    exit 1
fi

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/llmproxy-deb.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
SRC=$SCRATCH/llmproxy-$UPSTREAM

mkdir "$SRC"
tar -C "$ROOT" --exclude=./build --exclude=./.git --exclude='*.deb' --exclude='*.rpm' \
    --exclude=./tests/integration/run -cf - . | tar -C "$SRC" -xf -
cp -R "$ROOT/packaging/debian" "$SRC/debian"

(cd "$SRC" && dpkg-buildpackage --build=binary --no-sign) >"$SCRATCH/build.log" 2>&1 || {
    tail -n 40 "$SCRATCH/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (last lines above)" >&2
    exit 1
}
for f in "$SCRATCH"/*.deb "$SCRATCH"/*.ddeb "$SCRATCH"/*.buildinfo "$SCRATCH"/*.changes; do
    [ -e "$f" ] && mv "$f" "$OUT/"
done
echo "build-deb: $(ls "$OUT"/llmproxy_"$VERSION"_*.deb)"
