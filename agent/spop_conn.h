/* One SPOP connection from HAProxy, as an I/O-free state machine.
 *
 *   WAIT_HELLO --HAPROXY-HELLO--> READY --HAPROXY-DISCONNECT, fault, or
 *        |                          |      spop_conn_disconnect()--> CLOSING
 *        +--health-check HELLO, DISCONNECT or fault--------------> CLOSING
 *   CLOSING --output drained (spop_conn_consumed)--> CLOSED
 *   any state --spop_conn_eof--> CLOSED
 *
 * The event loop feeds received bytes with spop_conn_feed(), writes what
 * spop_conn_output() returns and reports it with spop_conn_consumed(), and closes the
 * socket once spop_conn_wants_close() is true. Frames are queued whole or not at all.
 * Each malformed input is answered with AGENT-DISCONNECT carrying the SPOP status code of
 * its fault, counted in conn->stats, and closes the connection; nothing is ever read
 * outside the received bytes.
 *
 * Memory is allocated once, in spop_conn_new(): an input buffer holding one frame of the
 * agent's limit and an output buffer of cfg->out_cap bytes, part of which is kept for the
 * final AGENT-DISCONNECT so that one can always be sent.
 */
#ifndef LLMPROXY_SPOP_CONN_H
#define LLMPROXY_SPOP_CONN_H

#include "spop_conn-t.h"

/* Returns NULL when out of memory. Limits out of range are clamped (see spop_conn-t.h). */
struct spop_conn *spop_conn_new(const struct spop_conn_cfg *cfg);
void spop_conn_free(struct spop_conn *conn);

/* Takes len received bytes and handles every complete frame among them, calling the
 * NOTIFY callback for each NOTIFY. Input after the connection stops reading is dropped.
 */
void spop_conn_feed(struct spop_conn *conn, const uint8_t *data, size_t len);

/* HAProxy closed or reset the connection: a normal close, pending output is dropped. */
void spop_conn_eof(struct spop_conn *conn);

/* Queued output: sets *data and returns its length (0 when nothing is pending). */
size_t spop_conn_output(const struct spop_conn *conn, const uint8_t **data);

/* The first n bytes of the output were sent. */
void spop_conn_consumed(struct spop_conn *conn, size_t n);

/* True once the connection is CLOSED: the event loop closes the socket and frees it. */
bool spop_conn_wants_close(const struct spop_conn *conn);

/* Agent-initiated close (e.g. shutdown): queues AGENT-DISCONNECT and enters CLOSING.
 * Returns false if the connection was already closing.
 */
bool spop_conn_disconnect(struct spop_conn *conn, uint32_t status, const char *message);

/* ACK for the NOTIFY (stream_id, frame_id), from the callback or any time later while the
 * connection is READY:
 *
 *     struct spop_writer w;
 *     spop_ack_begin(conn, sid, fid, &w);
 *     spop_put_set_var(&w, SPOP_SCOPE_TXN, "v", spop_data_str("pass", 4));
 *     spop_ack_end(conn, &w);
 *
 * The writer points into the output buffer: nothing else may be done with the connection
 * between begin and end, and only one ACK is open at a time. When begin refuses (not READY,
 * or an ACK already open), w is a failed writer, so the puts are harmless and end returns
 * false. An ACK without action gets an unset-var of SPOP_NOOP_VAR. end returns true when
 * the ACK was queued; an ACK larger than the negotiated frame size is dropped and counted,
 * and an output buffer at its cap closes the connection (status 13).
 */
bool spop_ack_begin(struct spop_conn *conn, uint64_t stream_id, uint64_t frame_id,
                    struct spop_writer *w);
bool spop_ack_end(struct spop_conn *conn, struct spop_writer *w);

/* Names for logs and metric labels, and the status code a fault sends. */
const char *spop_conn_state_name(enum spop_conn_state state);
const char *spop_fault_name(enum spop_fault fault);
enum spop_status spop_fault_status(enum spop_fault fault);

/* sum += one connection's counters. */
void spop_stats_add(struct spop_stats *sum, const struct spop_stats *one);

#endif /* LLMPROXY_SPOP_CONN_H */
