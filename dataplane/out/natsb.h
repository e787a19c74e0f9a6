/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_OUT_NATSB_H
#define DD_DATAPLANE_OUT_NATSB_H

/*
 * The NATS JetStream bridge: a thread of the daemon (off the data path) that publishes every
 * released output, as its JSON line (docs/outputs.md), to JetStream subject
 * `dadar.<instance>.<type>` of stream `nats.stream` (created if missing), with the message id
 * `<session>:<number>` (the output stream's session and number), so the broker drops a message it
 * already has. It reads the outputs from the release stage's history in memory and, when it fell
 * behind that, from the journal; it remembers how far the broker acknowledged in `<journal>/nats`
 * and resumes there after a restart. A broker that is down or slow holds nothing else up: the
 * backlog is the journal (without one, the history: what falls out of it is lost and counted).
 * The stream holds the outputs in release order across restarts of either side: the bridge makes
 * its connections itself (libnats's reconnection is off) and after a lost one sends again from the
 * first output not acknowledged (natsb.c, "Order"). Uses libnats (Debian's libnats-dev). DPDK-free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dd_outhist;

struct dd_natsb_params {
	const char *url;            /* nats://host:port */
	const char *stream;         /* JetStream stream name */
	const char *instance;       /* dadar's instance name: subjects dadar.<instance>.<type> */
	const char *session;        /* the output stream's session (message ids) */
	const struct dd_outhist *hist;
	uint64_t hist_slots;
	const char *journal;        /* journal directory ("" or NULL: none) */
	uint64_t base;              /* the journal's output n is the session's n - base */
	uint64_t first_seq;         /* the session's number of the first output this run releases */
};

struct dd_natsb_stats {
	uint64_t published;         /* messages the broker acknowledged */
	uint64_t acked_seq;         /* the session's number up to which every output is acknowledged */
	uint64_t resent;            /* messages published again after a failed or unacknowledged batch */
	uint64_t lost;              /* without a journal: outputs gone from memory before the broker took them */
	uint64_t from_journal;      /* messages read back from the journal */
	uint64_t errors;            /* lost connections, failed connects (once an outage), publishes, acknowledgements */
	uint64_t backlog;           /* released outputs not yet acknowledged (at the last look) */
	bool connected;
	char last_error[200];
};

struct dd_natsb;

/*
 * Start the bridge's thread (it connects, and after a lost connection connects again every 200 ms,
 * on its own). 0 or -errno with a message.
 */
int dd_natsb_start(struct dd_natsb **out, const struct dd_natsb_params *p, char *err, size_t errlen);

/*
 * A stop: with `last` the session's number of the last output released, keep publishing until the
 * broker acknowledged it or `wait_ms` passed, then end the thread.
 */
void dd_natsb_stop(struct dd_natsb *b, uint64_t last, unsigned wait_ms);
void dd_natsb_free(struct dd_natsb *b);

/* A copy of the counters (safe while the thread runs). */
void dd_natsb_stats(const struct dd_natsb *b, struct dd_natsb_stats *out);

#endif /* DD_DATAPLANE_OUT_NATSB_H */
