/*
 * An intrusive circular doubly linked list, as in HAProxy and Linux: an object that may be
 * listed embeds a `struct list` member, the owner keeps one more as the head, and an
 * object's own pointer is found back from its member with list_entry(). Nothing is
 * allocated; inserting and unlinking are O(1) and need no knowledge of the head.
 *
 * An empty list (or a member in no list, after list_init() or list_delete()) points at
 * itself, so unlinking twice is harmless and list_empty() tells an unlisted member too.
 */
#ifndef LLMPROXY_LIST_H
#define LLMPROXY_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

/* The object of type `type` whose member `member` is at `ptr`. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define list_entry(link, type, member) container_of(link, type, member)

/* The first object of a list that must not be empty. */
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)

static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

static inline bool list_empty(const struct list *head)
{
    return head->next == head;
}

/* Link `item` between `prev` and `next`, which are adjacent. */
static inline void list_link_between(struct list *item, struct list *prev, struct list *next)
{
    item->prev = prev;
    item->next = next;
    prev->next = item;
    next->prev = item;
}

/* Insert `item` at the front of `head`'s list: a walk meets it first. */
static inline void list_insert(struct list *head, struct list *item)
{
    list_link_between(item, head, head->next);
}

/* Insert `item` at the back of `head`'s list: a walk meets it last. */
static inline void list_append(struct list *head, struct list *item)
{
    list_link_between(item, head->prev, head);
}

/* Unlink `item` from whatever list holds it; it is left as an empty list of its own. */
static inline void list_delete(struct list *item)
{
    item->prev->next = item->next;
    item->next->prev = item->prev;
    list_init(item);
}

/* Walk the links of `head`'s list, front to back; the loop body must not unlink `pos`. */
#define list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* The same, but the body may unlink (and free) `pos`: `tmp` already holds its successor. */
#define list_for_each_safe(pos, tmp, head)                                                         \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif /* LLMPROXY_LIST_H */
