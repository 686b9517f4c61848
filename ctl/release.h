/*
 * Versioned configuration folders behind one live symbolic link (see release-t.h).
 *
 * The naming rules are pure functions; the others touch the file system and report a
 * failure as -1 with a message in `err`, leaving the live link as it was.
 */
#ifndef LLMPROXY_RELEASE_H
#define LLMPROXY_RELEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "release-t.h"

/*
 * The version `name` holds when it is exactly "<base>.<n>", with n in 1..RELEASE_MAX in
 * plain decimal (no sign, no leading zero); otherwise 0. Anything else in the folder
 * (LIVE itself, a half-written link, an operator's backup) is not ours to touch.
 */
unsigned release_parse(const char *base, const char *name);

/* Whether version `v` may be removed once `live` is live and `previous` is kept for
 * rollback (0: nothing to keep). */
bool release_prunable(unsigned v, unsigned live, unsigned previous);

/*
 * Split `live_path` (trailing slashes ignored) into `rd`, its folder made absolute (it must
 * exist); the versions are not looked at yet.
 */
int release_open(struct release_dir *rd, const char *live_path, char *err, size_t err_size);

/*
 * Look at what is there: LIVE missing (first apply), or a link to one of its versions; and
 * the newest version. LIVE being anything else (a folder rendered by `llmproxy-ctl render`,
 * a link elsewhere) is refused: replacing it would lose data.
 */
int release_scan(struct release_dir *rd, char *err, size_t err_size);

/*
 * The absolute live path ("<parent>/<base>"), which names the instance whatever version is
 * live. Returns -1 if too long.
 */
int release_live_path(const struct release_dir *rd, char *out, size_t size);

/* The path of version `v` ("<parent>/<base>.<v>") into `out`. Returns -1 if too long. */
int release_path(const struct release_dir *rd, unsigned v, char *out, size_t size);

/*
 * Take the apply lock ("<parent>/.<base>.lock", flock), so that two applies never number
 * or swap versions at the same time. Returns the descriptor to close when done, or -1.
 */
int release_lock(const struct release_dir *rd, char *err, size_t err_size);

/* Create the folder of the next version (newest + 1) and store its number in `v`. */
int release_create(struct release_dir *rd, unsigned *v, char *err, size_t err_size);

/*
 * Make version `v` live: a new link is written beside LIVE and renamed over it, so every
 * reader of LIVE sees the old target or the new one, never no link at all.
 */
int release_activate(struct release_dir *rd, unsigned v, char *err, size_t err_size);

/* Remove the folder of version `v` and everything in it. */
int release_remove(const struct release_dir *rd, unsigned v, char *err, size_t err_size);

/*
 * Remove every version release_prunable() allows. Returns how many were removed, or -1 on
 * the first failure (the rest stay; the next apply tries again).
 */
int release_prune(const struct release_dir *rd, unsigned previous, char *err, size_t err_size);

#endif /* LLMPROXY_RELEASE_H */
