#!/bin/sh
# The include rules of docs/architecture.md ("Folders and who may include whom"), checked
# on the sources (POSIX sh, awk and grep only, so that any CI machine runs it):
#   - agent/ includes nothing from ctl/ except the configuration library (ctl/config/);
#   - ctl/, ctl/config/ and contract/ include nothing from agent/;
#   - contract/ includes only contract/ and the C library;
#   - no cycle between modules of agent/, ctl/, ctl/config/, contract/ (a module is x.c,
#     x.h and x-t.h of one folder).
# A quoted include is resolved as the compiler would with every folder on the path (the
# including file's folder first, then ., ctl/config, ctl, agent), so a rule is checked even
# where the build's narrower include path would already refuse it.
# Usage: tests/lint/includes.sh [repository root]; exits 1 and names every violation.
set -eu
cd "${1:-$(dirname "$0")/../..}"

files=$(find agent ctl contract -name '*.[ch]' 2>/dev/null | LC_ALL=C sort)
[ -n "$files" ] || { echo "includes.sh: no sources found" >&2; exit 1; }

# One record per include: "<file> <q|a> <name>".
for f in $files; do
    grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$f" |
        sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*(["<])([^">]*)[">].*/\1 \2/' |
        while read -r kind name; do
            [ "$kind" = '"' ] && kind=q || kind=a
            printf '%s %s %s\n' "$f" "$kind" "$name"
        done
done | awk -v files="$files" '
function dir_of(p) { return p ~ /\// ? substr(p, 1, match(p, /\/[^\/]*$/) - 1) : "." }
function module_of(p,    m) {
    m = p
    sub(/\.[ch]$/, "", m)
    sub(/-t$/, "", m)
    return m
}
function resolve(from, name,    d, i, c) {
    d = dir_of(from)
    if ((d "/" name) in exists)
        return d "/" name
    for (i = 1; i <= npath; i++) {
        c = (path[i] == "." ? "" : path[i] "/") name
        if (c in exists)
            return c
    }
    return ""
}
function top(p) {
    if (p ~ /^ctl\/config\//) return "ctl/config"
    if (p ~ /^ctl\//) return "ctl"
    if (p ~ /^agent\//) return "agent"
    if (p ~ /^contract\//) return "contract"
    return "other"
}
function fail(msg) { print "includes: " msg; bad = 1 }
# Depth-first search from module u; on a back edge, print the cycle once.
function visit(u,    i, v, j, cyc) {
    state[u] = 1
    stack[++depth] = u
    for (i = 1; i <= nadj[u]; i++) {
        v = adj[u, i]
        if (state[v] == 1) {
            cyc = v
            for (j = depth; j >= 1 && stack[j] != v; j--)
                ;
            cyc = ""
            for (; j <= depth; j++)
                cyc = cyc stack[j] " -> "
            fail("module cycle: " cyc v)
        } else if (!state[v]) {
            visit(v)
        }
    }
    depth--
    state[u] = 2
}
BEGIN {
    n = split(files, fl, /[ \n]+/)
    for (i = 1; i <= n; i++)
        if (fl[i] != "")
            exists[fl[i]] = 1
    npath = split(". ctl/config ctl agent", path, " ")
    # libc and POSIX headers: all contract/ may include from outside itself.
    nlibc = split("assert.h ctype.h errno.h inttypes.h limits.h stdarg.h stdbool.h stddef.h " \
                  "stdint.h stdio.h stdlib.h string.h strings.h time.h unistd.h", lb, " ")
    for (i = 1; i <= nlibc; i++)
        libc[lb[i]] = 1
}
{
    file = $1; kind = $2; name = $3
    from = top(file)
    if (kind == "a") {
        if (from == "contract" && !(name in libc) && name !~ /^sys\//)
            fail(file ": <" name "> is not the C library (contract/ includes only contract/ and libc)")
        next
    }
    target = resolve(file, name)
    if (target == "") {
        if (from == "contract")
            fail(file ": \"" name "\" is not in contract/")
        next
    }
    to = top(target)
    if (from == "agent" && to == "ctl")
        fail(file ": includes " target " (agent/ may include only ctl/config/ of ctl/)")
    if ((from == "ctl" || from == "ctl/config" || from == "contract") && to == "agent")
        fail(file ": includes " target " (" from "/ may not include agent/)")
    if (from == "contract" && (to != "contract" || name !~ /^contract\//))
        fail(file ": includes \"" name "\" (contract/ includes only \"contract/...\" and libc)")
    if (from == "ctl/config" && to == "ctl")
        fail(file ": includes " target " (the configuration library may not include ctl/)")
    a = module_of(file); b = module_of(target)
    if (a != b && !((a SUBSEP b) in seen)) {
        seen[a SUBSEP b] = 1
        adj[a, ++nadj[a]] = b
        nodes[a] = 1
    }
}
END {
    for (u in nodes)
        if (!state[u])
            visit(u)
    exit bad
}'
