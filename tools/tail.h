/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_TAIL_H
#define DD_TOOLS_TAIL_H

/*
 * The consumer side of dadar's output stream (docs/wire-formats.md, "Output messages (the output
 * stream)"): one MoldUDP64 session of output messages, put back in sequence. dadar-tail feeds it
 * datagrams from a socket or a capture; it hands back every output exactly once and in sequence
 * order, and says which messages to ask the request server for.
 *
 * Sequencing. The first datagram names the session and, unless params.from says otherwise, the
 * first sequence number wanted. A message ahead of the next expected one opens a gap (so does a
 * heartbeat or an end of session whose next sequence number is ahead of what arrived) and is held,
 * up to params.hold messages past the next expected one; a message that would be further ahead
 * gives up the oldest missing ones (counted lost) to make room. A gap is asked for at once and again
 * every params.timeout_ns, params.tries times, then declared lost; without requests it waits
 * params.timeout_ns for a late datagram (0: until the hold bound or dd_tail_finish()). Messages
 * already delivered, held or given up are duplicates: dropped and counted.
 *
 * Bad input is counted, never trusted: a datagram whose framing does not add up (dd_mold_parse())
 * or that jumps more than DD_MOLD_MAX_JUMP ahead is dropped whole, and so is a heartbeat or end of
 * session numbered 0 (counted bad_seq: numbers start at 1); a message dd_outw_decode()
 * refuses still consumes its sequence number and is counted by reason.
 *
 * A datagram of another session is a session change (a dadar restarted without a clean stop):
 * what the old session still misses is lost, and the new one is followed from its first datagram
 * (or params.from); datagrams of the replaced session are dropped afterwards.
 *
 * Time is whatever monotonic nanoseconds the caller passes (it never reads a clock), so a capture
 * replays deterministically. Not thread-safe: one caller.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/moldudp64.h"
#include "ops/output.h"

#define DD_TAIL_MAX_HOLD (1ull << 26)
#define DD_TAIL_REQUEST_LEN 20

/* Message-level reasons (dd_outw_decode()'s, -1 - err): short, bad_type, bad_version, bad_length. */
#define DD_TAIL_NREASONS 4

struct dd_tail_params {
	uint64_t hold;             /* most messages held past the next expected one, 1..DD_TAIL_MAX_HOLD */
	uint64_t from;             /* first sequence number wanted; 0: the first datagram's */
	bool request;              /* ask for missing messages through the request callback */
	uint64_t timeout_ns;       /* between two requests for a gap (> 0 with requests); without
				    * requests, how long a gap waits for a late datagram (0: no limit) */
	unsigned tries;            /* requests for a gap before it is lost (>= 1 when request) */
	unsigned max_per_request;  /* messages one request asks for, 1..65534 (checked with requests) */
};

/* Called for each output, in sequence order. Return false to stop: nothing is delivered after. */
typedef bool (*dd_tail_out_fn)(void *ctx, uint64_t seq, uint64_t lsn, const struct dd_output *o);
/* Called to ask for `count` messages from `seq` of session `session` (10 bytes, not terminated). */
typedef void (*dd_tail_request_fn)(void *ctx, const char *session, uint64_t seq, uint16_t count);
/* A line for a person (a gap lost, a session change); may be NULL. */
typedef void (*dd_tail_note_fn)(void *ctx, const char *msg);

struct dd_tail_stats {
	uint64_t datagrams;        /* given to dd_tail_datagram() before a delivery callback stopped it */
	uint64_t answers;          /* of them, answers to requests */
	uint64_t messages;         /* outputs delivered */
	uint64_t malformed[DD_TAIL_NREASONS]; /* messages skipped in sequence, by -1 - dd_outw_decode()'s error */
	uint64_t bad[DD_MOLD_ERR__COUNT];     /* datagrams dropped whole, by enum dd_mold_err */
	uint64_t stale;            /* datagrams of a replaced session */
	uint64_t after_end;        /* messages numbered at or past the end of session */
	uint64_t heartbeats;
	uint64_t gaps;             /* gaps opened */
	uint64_t requests;         /* requests made */
	uint64_t requested;        /* messages they asked for (asked again: counted again) */
	uint64_t recovered;        /* missing messages that arrived after their gap opened */
	uint64_t duplicates;       /* messages already delivered, held or given up as lost */
	uint64_t lost;             /* messages given up */
	uint64_t session_changes;
	bool ended;                /* the end of session was seen */
};

struct dd_tail;

/*
 * Make a tail with parameters `p` and callbacks (ctx is passed to each). Returns 0 and *out, or
 * -EINVAL (a parameter out of range) or -ENOMEM. The hold buffer starts small and grows as gaps
 * need it, up to p->hold messages.
 */
int dd_tail_create(struct dd_tail **out, const struct dd_tail_params *p, dd_tail_out_fn out_fn,
		   dd_tail_request_fn req_fn, dd_tail_note_fn note_fn, void *ctx);

void dd_tail_destroy(struct dd_tail *t);

/*
 * Take one datagram of `len` bytes at `p` at time `now`; `answer` says it answers a request (for the
 * counters only). Delivers what it completes.
 */
void dd_tail_datagram(struct dd_tail *t, const uint8_t *p, size_t len, bool answer, uint64_t now);

/*
 * Make the requests that are due at `now` and give up the gaps whose time is over. Returns the time
 * the next one is due (UINT64_MAX: none). Call it after every burst of datagrams and by that time.
 */
uint64_t dd_tail_poll(struct dd_tail *t, uint64_t now);

/* The input is over: deliver everything held, count every missing message lost. */
void dd_tail_finish(struct dd_tail *t);

/* The end of session was seen and nothing is missing or held: there is nothing more to wait for. */
bool dd_tail_done(const struct dd_tail *t);

/* A delivery callback returned false. */
bool dd_tail_stopped(const struct dd_tail *t);

/* Messages known to exist that are neither delivered nor held yet. */
uint64_t dd_tail_missing(const struct dd_tail *t);

/* The session followed (10 bytes, not terminated); false before the first datagram. */
bool dd_tail_session(const struct dd_tail *t, char session[10]);

const struct dd_tail_stats *dd_tail_stats(const struct dd_tail *t);

/* Name of message-level reason i (0..DD_TAIL_NREASONS-1): "short", "bad_type", ... */
const char *dd_tail_reason_name(unsigned i);

#endif /* DD_TOOLS_TAIL_H */
