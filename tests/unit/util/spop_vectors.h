/* Test vectors for SPOP, written as hexspec strings (see hexspec.h): the HELLO frames that
 * HAProxy 2.6.12 itself sends (a normal connection and a health check) and a NOTIFY whose
 * message carries an argument of every data type. Header only, shared by the SPOP tests.
 */
#ifndef LLMPROXY_TEST_SPOP_VECTORS_H
#define LLMPROXY_TEST_SPOP_VECTORS_H

/* The 36-byte engine-id of the HELLO vector (any UUID). */
#define VEC_ENGINE_ID "0b7a6f8e-3c1d-4e2f-9a8b-7c6d5e4f3a2b"

/* HAPROXY-HELLO pieces: frame body header and KV items. */
#define VEC_HELLO_HEAD    "01 00000001 00 00 "
#define VEC_KV_VERSIONS   "12\"supported-versions\" 08 03\"2.0\" "
#define VEC_KV_FRAME_SIZE "0e\"max-frame-size\" 03 fc f0 06 "
#define VEC_KV_CAPS       "0c\"capabilities\" 08 10\"pipelining,async\" "
#define VEC_KV_ENGINE_ID  "09\"engine-id\" 08 24\"" VEC_ENGINE_ID "\" "

/* HAProxy 2.6.12's HELLO: 129 bytes after the length. */
#define VEC_HAPROXY_HELLO                                                                          \
    "00000081 " VEC_HELLO_HEAD VEC_KV_VERSIONS VEC_KV_FRAME_SIZE VEC_KV_CAPS VEC_KV_ENGINE_ID

/* Its health-check HELLO (option spop-check): 78 bytes, no engine-id. */
#define VEC_HEALTHCHECK_HELLO                                                                      \
    "0000004e " VEC_HELLO_HEAD VEC_KV_VERSIONS VEC_KV_FRAME_SIZE "0c\"capabilities\" 08 00 "       \
    "0b\"healthcheck\" 11"

/* The AGENT-HELLO answering either of them: version 2.0, 16380, pipelining (0x40 bytes). */
#define VEC_AGENT_HELLO_16380                                                                      \
    "00000040 65 00000001 00 00 07\"version\" 08 03\"2.0\" 0e\"max-frame-size\" 03 fc f0 06 "      \
    "0c\"capabilities\" 08 0a\"pipelining\""

/* NOTIFY header for sid 0, fid 1 (the first request after HAProxy starts). */
#define VEC_NOTIFY_HEAD "03 00000001 00 01 "

/* A message with an argument of each type (string, IPv4, int, bool, null, binary, a
 * negative int), then an argument-less second message. */
#define VEC_NOTIFY_PAYLOAD                                                                         \
    "08\"pick-msg\" 08 "                                                                           \
    "02\"id\" 08 12\"7F000001:D0FC:2100\" "                                                        \
    "03\"src\" 06 7f000001 "                                                                       \
    "04\"meth\" 08 03\"GET\" "                                                                     \
    "07\"s1_conn\" 04 00 "                                                                         \
    "05\"s1_up\" 11 "                                                                              \
    "07\"nullarg\" 00 "                                                                            \
    "03\"bin\" 09 02\"ab\" "                                                                       \
    "03\"neg\" 04 fb f0 fe fe fe fe fe fe fe 0e "                                                  \
    "04\"done\" 00 "

#endif /* LLMPROXY_TEST_SPOP_VECTORS_H */
