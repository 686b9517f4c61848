/*
 * libFuzzer harness: what a forward proxy answers to CONNECT (connect_proxy_parse).
 *
 * The tunnel parses the response head as it arrives, so the input is offered growing, cut
 * at boundaries that follow from its first byte, each prefix in an exact-size buffer. The
 * first verdict other than INCOMPLETE is final: longer prefixes must give the same one.
 * A DONE head must lie within the bytes, with a status of three digits.
 */
#include <stdint.h>
#include <stdlib.h>

#include "connect_proxy.h"
#include "util/chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chunks pieces;
    const uint8_t *piece;
    enum connect_proxy_head first = CONNECT_PROXY_INCOMPLETE;
    struct connect_proxy_response first_resp = {0};
    size_t have = 0, n;

    if (size == 0)
        return 0;
    chunks_init(&pieces, data, size, data[0]);
    while ((n = chunks_next(&pieces, &piece)) > 0) {
        uint8_t *prefix = exact_copy(data, have += n);
        struct connect_proxy_response resp = {0};
        enum connect_proxy_head r = connect_proxy_parse((const char *)prefix, have, &resp);

        free(prefix);
        if (r == CONNECT_PROXY_DONE &&
            (resp.status < 100 || resp.status > 999 || resp.head_len == 0 || resp.head_len > have ||
             resp.head_len > CONNECT_PROXY_HEAD_MAX))
            abort();
        if (r > CONNECT_PROXY_TOO_LONG)
            abort();
        if (first != CONNECT_PROXY_INCOMPLETE &&
            (r != first || (r == CONNECT_PROXY_DONE && (resp.status != first_resp.status ||
                                                        resp.head_len != first_resp.head_len))))
            abort();
        if (first == CONNECT_PROXY_INCOMPLETE) {
            first = r;
            first_resp = resp;
        }
    }
    return 0;
}
