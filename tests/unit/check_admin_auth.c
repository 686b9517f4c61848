/*
 * The admin endpoint's bearer-token check: what passes, what does not, and that no token
 * configured leaves the pages open.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "admin_auth.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

static bool ok(const char *header)
{
    return admin_auth_ok(header, header ? strlen(header) : 0, TOKEN);
}

START_TEST(the_right_token_passes)
{
    ck_assert(ok("Bearer " TOKEN));
    ck_assert(ok("bearer " TOKEN));    /* the scheme is case-insensitive (RFC 9110 11.1) */
    ck_assert(ok("BEARER \t " TOKEN)); /* any blank run after it */
}
END_TEST

START_TEST(anything_else_fails)
{
    ck_assert(!ok(NULL));
    ck_assert(!ok(""));
    ck_assert(!ok("Bearer"));
    ck_assert(!ok("Bearer "));
    ck_assert(!ok(TOKEN));                                     /* no scheme */
    ck_assert(!ok("Basic " TOKEN));                            /* another scheme */
    ck_assert(!ok("Bearer" TOKEN));                            /* no blank after the scheme */
    ck_assert(!ok("Bearer 0123456789abcdef"));                 /* a prefix */
    ck_assert(!ok("Bearer " TOKEN "0"));                       /* one byte more */
    ck_assert(!ok("Bearer 0123456789ABCDEF0123456789abcdef")); /* the token is case-sensitive */
    ck_assert(!ok("Bearer " TOKEN " x"));
}
END_TEST

START_TEST(only_the_given_bytes_count)
{
    const char *header = "Bearer " TOKEN "trailing";

    ck_assert(admin_auth_ok(header, strlen("Bearer " TOKEN), TOKEN));
    ck_assert(!admin_auth_ok(header, strlen("Bearer " TOKEN) - 1, TOKEN));
}
END_TEST

START_TEST(no_token_configured_lets_everything_through)
{
    ck_assert(admin_auth_ok(NULL, 0, NULL));
    ck_assert(admin_auth_ok("Basic x", 7, NULL));
    ck_assert(admin_auth_ok(NULL, 0, ""));
}
END_TEST

static Suite *admin_auth_suite(void)
{
    Suite *s = suite_create("admin_auth");
    TCase *tc = tcase_create("bearer");

    tcase_add_test(tc, the_right_token_passes);
    tcase_add_test(tc, anything_else_fails);
    tcase_add_test(tc, only_the_given_bytes_count);
    tcase_add_test(tc, no_token_configured_lets_everything_through);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(admin_auth_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
