/*
 * libFuzzer harness: documents llmproxy-ctl reads from the agent (json_parse).
 *
 * Parses the input under a small memory limit, walks the whole tree through the public
 * look-ups, and frees it. A parsed string must be NUL-terminated at its length, and a
 * failure must come with a message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small enough that a hostile document reaches the limit within a fuzzing run. */
#define FUZZ_JSON_MEM_LIMIT (256u * 1024)

static void walk(const struct json_value *v, unsigned depth)
{
    double number;

    if (depth > JSON_MAX_DEPTH + 1)
        abort();
    for (; v; v = v->next) {
        if (v->type == JSON_STRING && (!json_string(v) || v->string[v->string_len] != '\0'))
            abort();
        if (json_number(v, &number) != (v->type == JSON_NUMBER))
            abort();
        if (v->type == JSON_OBJECT && v->child) {
            if (!v->child->key || json_get(v, v->child->key) == NULL)
                abort();
        }
        walk(v->child, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128] = "";
    struct json_doc *doc =
        json_parse((const char *)data, size, FUZZ_JSON_MEM_LIMIT, err, sizeof(err));

    if (!doc) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    walk(json_root(doc), 0);
    json_free(doc);
    return 0;
}
