/* Test helper: byte strings written the way protocol notes print them.
 *
 * A spec is hex byte pairs and "quoted text" (its bytes, no escapes), with any whitespace
 * in between: `00000012 67 00000001 05 01 01 03 02 03"srv" 08 02"s2"`.
 */
#ifndef LLMPROXY_TEST_HEXSPEC_H
#define LLMPROXY_TEST_HEXSPEC_H

#include <stddef.h>
#include <stdint.h>

/* Writes the bytes of spec to out and returns how many. A malformed spec or one longer
 * than cap is a bug in the test itself: it aborts with a message.
 */
size_t hexspec(const char *spec, uint8_t *out, size_t cap);

#endif /* LLMPROXY_TEST_HEXSPEC_H */
