/*
 * The intrusive list: order of insert and append, unlinking from any place (twice
 * included), finding the object back from its link, and a walk that frees as it goes.
 */
#include <check.h>
#include <stdlib.h>

#include "list.h"

struct item {
    int before; /* so the link is not the first member: list_entry must subtract */
    struct list link;
    int value;
};

/* The values of the list, front to back, into `out`; returns how many. */
static size_t values(const struct list *head, int *out, size_t max)
{
    const struct list *link;
    size_t n = 0;

    list_for_each (link, head) {
        if (n < max)
            out[n] = list_entry(link, const struct item, link)->value;
        n++;
    }
    return n;
}

START_TEST(empty_list)
{
    struct list head;
    int v[1];

    list_init(&head);
    ck_assert(list_empty(&head));
    ck_assert_ptr_eq(head.next, &head);
    ck_assert_ptr_eq(head.prev, &head);
    ck_assert_uint_eq(values(&head, v, 1), 0);
}
END_TEST

START_TEST(insert_front_append_back)
{
    struct list head;
    struct item a = {.value = 1}, b = {.value = 2}, c = {.value = 3};
    int v[3];

    list_init(&head);
    list_insert(&head, &a.link); /* 1 */
    list_insert(&head, &b.link); /* 2 1 */
    list_append(&head, &c.link); /* 2 1 3 */
    ck_assert(!list_empty(&head));
    ck_assert_uint_eq(values(&head, v, 3), 3);
    ck_assert_int_eq(v[0], 2);
    ck_assert_int_eq(v[1], 1);
    ck_assert_int_eq(v[2], 3);
    ck_assert_ptr_eq(list_first_entry(&head, struct item, link), &b);
    /* Both directions agree. */
    ck_assert_ptr_eq(head.prev, &c.link);
    ck_assert_ptr_eq(c.link.prev, &a.link);
    ck_assert_ptr_eq(a.link.prev, &b.link);
    ck_assert_ptr_eq(b.link.prev, &head);
}
END_TEST

START_TEST(delete_anywhere)
{
    struct list head;
    struct item it[4];
    int v[4];

    list_init(&head);
    for (int i = 0; i < 4; i++) {
        it[i].value = i;
        list_append(&head, &it[i].link);
    }
    list_delete(&it[2].link); /* middle */
    list_delete(&it[0].link); /* front */
    list_delete(&it[3].link); /* back */
    ck_assert_uint_eq(values(&head, v, 4), 1);
    ck_assert_int_eq(v[0], 1);
    ck_assert_ptr_eq(head.next, &it[1].link);
    ck_assert_ptr_eq(head.prev, &it[1].link);
    /* An unlinked member is an empty list of its own: unlinking it again changes nothing. */
    ck_assert(list_empty(&it[2].link));
    list_delete(&it[2].link);
    ck_assert_uint_eq(values(&head, v, 4), 1);
    list_delete(&it[1].link);
    ck_assert(list_empty(&head));
}
END_TEST

START_TEST(entry_from_link)
{
    struct item a = {.value = 42};

    list_init(&a.link);
    ck_assert_ptr_eq(list_entry(&a.link, struct item, link), &a);
    ck_assert_ptr_eq(container_of(&a.value, struct item, value), &a);
}
END_TEST

START_TEST(safe_walk_frees_as_it_goes)
{
    struct list head, *link, *next;
    size_t seen = 0;
    int v[8];

    list_init(&head);
    for (int i = 0; i < 8; i++) {
        struct item *it = calloc(1, sizeof(*it));

        ck_assert_ptr_nonnull(it);
        it->value = i;
        list_append(&head, &it->link);
    }
    /* Free the even ones in one pass; the odd ones stay, in order. */
    list_for_each_safe (link, next, &head) {
        struct item *it = list_entry(link, struct item, link);

        seen++;
        if (it->value % 2 == 0) {
            list_delete(&it->link);
            free(it);
        }
    }
    ck_assert_uint_eq(seen, 8);
    ck_assert_uint_eq(values(&head, v, 8), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(v[i], 2 * i + 1);
    list_for_each_safe (link, next, &head) {
        list_delete(link);
        free(list_entry(link, struct item, link));
    }
    ck_assert(list_empty(&head));
}
END_TEST

static Suite *list_suite(void)
{
    Suite *s = suite_create("list");
    TCase *tc = tcase_create("list");

    tcase_add_test(tc, empty_list);
    tcase_add_test(tc, insert_front_append_back);
    tcase_add_test(tc, delete_anywhere);
    tcase_add_test(tc, entry_from_link);
    tcase_add_test(tc, safe_walk_frees_as_it_goes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(list_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
