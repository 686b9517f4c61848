/*
 * Removing a folder tree, deepest entries first.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>

#include "fs_tree.h"

/* Open descriptors nftw() may hold: the rendered trees are two levels deep. */
#define FS_TREE_FDS 8

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int fs_remove_tree(const char *path)
{
    if (nftw(path, remove_entry, FS_TREE_FDS, FTW_DEPTH | FTW_PHYS) == 0)
        return 0;
    return errno == ENOENT ? 0 : -1;
}
