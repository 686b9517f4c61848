/*
 * Replacing the content of a map HAProxy has loaded, through its runtime API, without a
 * reload: what `llmproxy-ctl apply` does when only client keys changed.
 *
 * HAProxy (2.6 to 3.2 alike) keeps versions of a map: `prepare map` opens a new, empty one
 * beside the live one, `add map @<ver>` fills it and `commit map @<ver>` swaps it in and
 * drops the old entries in one step, so a request sees either every old entry or every
 * new one, never a map half updated. The next request already uses the new version, even
 * on an open connection.
 *
 * A map's entries are compared as "<key> <value>" lines, sorted: the canonical form of
 * both a map file and a `show map` answer.
 */
#ifndef LLMPROXY_HAPROXY_MAP_H
#define LLMPROXY_HAPROXY_MAP_H

#include <stddef.h>

/*
 * Largest command HAProxy is sent at once, payload included: half HAProxy's default
 * buffer (tune.bufsize 16384), which has to hold the whole command. Larger maps go in
 * several `add map` commands to the same prepared version.
 */
#define HAPROXY_MAP_CHUNK 8192

/* Largest `show map` answer read back: far beyond any real number of clients. */
#define HAPROXY_MAP_SHOW_MAX (16u << 20)

/*
 * The entries of map file `text` as HAProxy reads the file: a line starting with '#' and a
 * blank line are skipped, the key is the first word after leading blanks, the value the
 * rest of the line without its surrounding blanks. Returns the canonical form (malloc'd,
 * NUL-terminated, each line ending with '\n'; "" for no entry), the entry count in `n`;
 * NULL when out of memory.
 */
char *haproxy_map_canon_file(const char *text, size_t len, size_t *n);

/*
 * The entries of a `show map <map>` answer ("<id> <key> <value>" lines) in canonical form,
 * as above; NULL when out of memory or when a line is not an entry (HAProxy answered an
 * error, e.g. for a map it does not know).
 */
char *haproxy_map_canon_show(const char *answer, size_t len, size_t *n);

/* The version a `prepare map` answer announces ("New version created: 3"); -1 if none. */
long haproxy_map_prepared_version(const char *answer);

/*
 * Make the map HAProxy loaded as `map` (its file name exactly as haproxy.cfg wrote it)
 * hold exactly the entries of map file `text`, through the runtime API at `socket_path`:
 * prepare, add, commit, then read it back. Returns 0, or -1 with a message in `err` (the
 * live map is then unchanged, unless the failure came after the commit).
 */
int haproxy_map_replace(const char *socket_path, const char *map, const char *text, size_t len,
                        char *err, size_t err_size);

#endif /* LLMPROXY_HAPROXY_MAP_H */
