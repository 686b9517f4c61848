/*
 * Versioned configuration folders ("releases") behind one live path (types only; functions
 * are in release.h).
 *
 * `llmproxy-ctl apply -o LIVE` never writes into the folder HAProxy was started from. Each
 * apply renders a new sibling folder LIVE.<n>, and LIVE is a symbolic link to the current
 * one, replaced in one rename(2). The link's target is relative ("LIVE.<n>"), so the
 * parent folder can move as a whole.
 */
#ifndef LLMPROXY_RELEASE_T_H
#define LLMPROXY_RELEASE_T_H

#include <limits.h>

/* Highest version number: nine decimal digits, far beyond any real number of applies. */
#define RELEASE_MAX 999999999u

/*
 * Size of a buffer for any path built from a release_dir. release_open() keeps the real
 * paths under PATH_MAX; the margin is for the compiler, which cannot know that.
 */
#define RELEASE_PATH_SIZE (PATH_MAX + NAME_MAX + 32)

/* Longest message a release operation reports. */
#define RELEASE_ERR_SIZE 512

/* A live path, split, and what was found next to it. Version 0 means "none". */
struct release_dir {
    char parent[PATH_MAX];   /* absolute folder holding LIVE and its versions; "" for "/" */
    char base[NAME_MAX + 1]; /* LIVE's own name */
    unsigned live;           /* version LIVE points at; 0: LIVE does not exist yet */
    unsigned newest;         /* highest version present, live or not */
};

/* How two versions differ for HAProxy (release_diff.h). */
enum release_change {
    RELEASE_SAME,      /* the same files, the same bytes but for each version's own name */
    RELEASE_MAPS_ONLY, /* only map files changed: HAProxy can take them without a reload */
    RELEASE_CHANGED,   /* anything else: HAProxy reloads */
};

/* The map files that changed, relative to the version folder ("maps/clients_main.map"). */
struct release_maps {
    char **path; /* malloc'd */
    size_t n;
};

#endif /* LLMPROXY_RELEASE_T_H */
