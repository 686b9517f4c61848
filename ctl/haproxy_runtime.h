/*
 * A blocking client for HAProxy's runtime API (the `stats socket`), for llmproxy-ctl:
 * one command per connection, the whole answer read until HAProxy closes, within a
 * deadline and a size bound. Without a `prompt` command HAProxy answers one command and
 * closes, the same on 2.6 and 3.x.
 *
 * A command is one line of words separated by spaces; a payload (HAProxy's `<<` form)
 * follows it, one entry per line, ended by an empty line. Success mostly answers an empty
 * line, so callers check what they changed with a read command.
 */
#ifndef LLMPROXY_HAPROXY_RUNTIME_H
#define LLMPROXY_HAPROXY_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

/* How long one command may take, connection included: HAProxy answers in microseconds. */
#define HAPROXY_RUNTIME_TIMEOUT_MS 2000

/*
 * Whether `word` can be one argument of a command as it is: HAProxy splits the line on
 * spaces, ends a command at `;`, unescapes `\` and reads a leading `#` as an identifier,
 * so none of those, and nothing below ' ' (a newline would start a second command).
 */
bool haproxy_runtime_word_ok(const char *word);

/*
 * The bytes that send `cmd` (one line, no newline) followed, unless `payload` is NULL, by
 * `payload_len` bytes of payload: lines, none of them empty (an empty line ends the
 * payload), the last newline optional. Returns a malloc'd buffer and its length in `len`,
 * or NULL with a message in `err`.
 */
char *haproxy_runtime_request(const char *cmd, const char *payload, size_t payload_len, size_t *len,
                              char *err, size_t err_size);

/*
 * Send `cmd` (and `payload`, as above) to the socket at `socket_path` and read the whole
 * answer: at most `max_answer` bytes within HAPROXY_RUNTIME_TIMEOUT_MS. Returns the answer,
 * malloc'd and NUL-terminated, its length in `len`; or NULL with a message ("connect:
 * Connection refused", "no answer within 2000 ms") in `err`.
 */
char *haproxy_runtime_ask(const char *socket_path, const char *cmd, const char *payload,
                          size_t payload_len, size_t max_answer, size_t *len, char *err,
                          size_t err_size);

#endif /* LLMPROXY_HAPROXY_RUNTIME_H */
