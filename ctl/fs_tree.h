/*
 * Removing a folder tree the renderer or `apply` created.
 */
#ifndef LLMPROXY_FS_TREE_H
#define LLMPROXY_FS_TREE_H

/*
 * Remove `path` and everything under it, without following symbolic links (a link is
 * removed, never what it points to). A missing `path` is not an error. Returns 0, or -1
 * with errno set by the first removal that failed.
 */
int fs_remove_tree(const char *path);

#endif /* LLMPROXY_FS_TREE_H */
