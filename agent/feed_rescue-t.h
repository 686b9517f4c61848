/*
 * Rescuing HAProxy's log ring forwarder (types only; functions are in feed_rescue.h).
 */
#ifndef LLMPROXY_FEED_RESCUE_T_H
#define LLMPROXY_FEED_RESCUE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct haproxy_api;

/* No feed connection for this long while HAProxy talks to the agent: look for a stuck
 * forwarder. HAProxy's forwarder reconnects within a second when it can. */
#define FEED_RESCUE_SILENT_MS 3000u
/* Between two looks while the feed stays absent; doubled after each that found nothing,
 * up to FEED_RESCUE_GAP_MAX_MS, so a HAProxy without the ring is not asked forever. */
#define FEED_RESCUE_GAP_MS     10000u
#define FEED_RESCUE_GAP_MAX_MS 300000u
/* Only streams at least this old are listed: the stuck forwarder connected before the
 * agent's end went away, FEED_RESCUE_SILENT_MS ago at least; short requests are left out. */
#define FEED_RESCUE_MIN_AGE_S 2
/* Forwarder streams ended per look: one per server of the ring, and the ring has one. */
#define FEED_RESCUE_MAX_STUCK 4
/* "0x" and at most 16 hex digits, as HAProxy prints a stream's address. */
#define SESS_PTR_MAX 19
/* What is kept of each line of `show sess`: the lines looked at are short; the rest of a
 * longer line is skipped. */
#define SESS_SCAN_LINE_MAX 160

/*
 * Reads the detailed `show sess` dump as it arrives, in any cut, and keeps the address of
 * each stream that is a log ring forwarder of the ring named `ring`: its frontend and its
 * backend are the ring, and its applet is HAProxy's ring forwarder.
 */
struct sess_scan {
    const char *ring;
    char line[SESS_SCAN_LINE_MAX];
    size_t line_len;               /* bytes kept of the current line; the rest is skipped */
    char stream[SESS_PTR_MAX + 1]; /* the block being read: its stream's address, "" if none */
    bool is_frontend, is_backend, is_forwarder;
    char found[FEED_RESCUE_MAX_STUCK][SESS_PTR_MAX + 1];
    size_t n_found;
};

/* When to look: the pure part of the rescue, on the caller's clock. */
struct feed_rescue_clock {
    uint64_t silent_since_ms; /* when the feed was last seen open (or the clock started) */
    uint64_t next_look_ms;    /* no look before this */
    uint64_t gap_ms;          /* the pause after the next fruitless look */
};

struct feed_rescue_stats {
    uint64_t rescued; /* stuck forwarder streams HAProxy ended on our request */
};

enum feed_rescue_phase {
    RESCUE_WATCHING = 0, /* nothing on the wire */
    RESCUE_LISTING,      /* `show sess` sent, its answer being read */
    RESCUE_ENDING,       /* `shutdown session` sent for what the listing found */
};

struct feed_rescue {
    struct haproxy_api *api;
    struct feed_rescue_clock clock;
    enum feed_rescue_phase phase;
    size_t ending; /* `shutdown session` commands not answered yet */
    bool refused;  /* the current `shutdown session` was answered with a message */
    struct sess_scan scan;
    struct feed_rescue_stats stats;
};

#endif /* LLMPROXY_FEED_RESCUE_T_H */
