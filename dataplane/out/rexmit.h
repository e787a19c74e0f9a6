/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_OUT_REXMIT_H
#define DD_DATAPLANE_OUT_REXMIT_H

/*
 * The output stream's retransmission server: a thread of its own with a kernel UDP socket (off the
 * data path: retransmissions are rare and never urgent), answering MoldUDP64 requests (session,
 * first sequence number, count: docs/wire-formats.md "Retransmission requests") with datagrams of
 * the session holding the messages asked for, from the release stage's history in memory and, for
 * older ones, from the journal. Requests naming a session a clean stop ended earlier (`<journal>/
 * sessions`) are answered from the journal too, under that session's name. Rate-limited over all
 * requesters; bad requests are counted by reason and ignored. DPDK-free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dd_outhist;
struct dd_stream_past;

struct dd_rexmit_params {
	uint32_t ip;                /* bind address, host order (0: any) */
	uint16_t port;
	const char *session;        /* the session's 10 characters */
	const struct dd_outhist *hist; /* released outputs by the session's numbers */
	const char *journal;        /* journal directory for older ones ("" or NULL: none) */
	uint64_t base;              /* the journal's output n is the session's n - base */
	const struct dd_stream_past *past; /* sessions that ended before (copied), answered from the journal */
	unsigned npast;
	unsigned max_per_request;   /* most messages one answer holds */
	uint64_t rate;              /* messages per second, over all requesters */
	unsigned mtu;               /* UDP payload bytes per datagram */
};

struct dd_rexmit_stats {
	uint64_t requests;          /* well-formed requests for the session (or an ended one) */
	uint64_t past_requests;     /* of them, for a session that ended before this run */
	uint64_t messages;          /* messages sent in answers */
	uint64_t datagrams;         /* answer datagrams sent */
	uint64_t from_journal;      /* of the messages, read from the journal */
	uint64_t bad_length;        /* not 20 bytes */
	uint64_t bad_session;       /* a session neither this one nor an ended one the journal holds */
	uint64_t bad_range;         /* sequence 0, count 0, or beyond what was sent */
	uint64_t unavailable;       /* messages asked for that neither memory nor the journal holds */
	uint64_t rate_limited;      /* messages not sent: over the rate */
	uint64_t send_errors;       /* sendto() failures */
};

struct dd_rexmit;

/* Bind the socket and start the thread. Returns 0 or -errno with a message. */
int dd_rexmit_start(struct dd_rexmit **out, const struct dd_rexmit_params *p, char *err, size_t errlen);

/* Stop the thread (within 100 ms) and close the socket; the stats stay readable until free. */
void dd_rexmit_stop(struct dd_rexmit *r);
void dd_rexmit_free(struct dd_rexmit *r);

/* A copy of the counters (safe while the thread runs). */
void dd_rexmit_stats(const struct dd_rexmit *r, struct dd_rexmit_stats *out);

#endif /* DD_DATAPLANE_OUT_REXMIT_H */
