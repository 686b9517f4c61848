/*
 * What changed between two versions of a release folder (release-t.h), as HAProxy sees
 * it: `apply` reloads HAProxy only when something other than its maps changed, and
 * replaces changed maps in place otherwise.
 *
 * Each version names its own folder in haproxy.cfg (errorfiles, SPOE files), so two
 * versions rendered from the same configuration differ by exactly that name; the
 * comparison treats "<version folder>/" in one as equal to "<version folder>/" in the
 * other. Map files are named through the live link instead, so they stay where HAProxy
 * loaded them whatever the version.
 */
#ifndef LLMPROXY_RELEASE_DIFF_H
#define LLMPROXY_RELEASE_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "release-t.h"

/*
 * Whether `a` (from folder `a_dir`) and `b` (from `b_dir`) are the same text once each
 * "<a_dir>/" in `a` and "<b_dir>/" in `b` are read as the same word.
 */
bool release_same_text(const char *a, size_t a_len, const char *a_dir, const char *b, size_t b_len,
                       const char *b_dir);

/*
 * Compare version `to` with version `from`, every file of both but `skip` (a name in the
 * folder itself, e.g. the configuration copy only the agent reads). Files under
 * `maps_dir` (a name in the folder) are the maps: those whose bytes differ are listed in
 * `maps` (paths relative to the folder). Returns RELEASE_SAME, RELEASE_MAPS_ONLY (only
 * maps changed, at least one), RELEASE_CHANGED (anything else, including a file present in
 * one version only, or anything but files and folders), or -1 with a message in `err`.
 */
int release_compare(const struct release_dir *rd, unsigned from, unsigned to, const char *skip,
                    const char *maps_dir, struct release_maps *maps, char *err, size_t err_size);

/*
 * The whole file `root`/`rel` (not through a final symbolic link), malloc'd, its length in
 * `len`; NULL with errno.
 */
char *release_read_file(const char *root, const char *rel, size_t *len);

/* Free what release_compare() listed in `maps`. */
void release_maps_free(struct release_maps *maps);

#endif /* LLMPROXY_RELEASE_DIFF_H */
