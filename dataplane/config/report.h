/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_REPORT_H
#define DD_DATAPLANE_REPORT_H

/*
 * What a run saw, written three ways at exit: a JSON summary (`--summary`), a CSV dump of the top
 * of every book (`--book-dump`) and a short human summary on stdout. DPDK-free, so offline replay
 * writes the same formats. docs/outputs.md describes every field.
 */

#include <stdint.h>
#include <stdio.h>

#include "dataplane/config/config.h"
#include "dataplane/out/natsb.h"
#include "dataplane/out/rexmit.h"
#include "dataplane/wire/feed.h"
#include "dataplane/wire/frame.h"
#include "ops/book/book.h"
#include "ops/chain.h"
#include "shm/telemetry.h"

/* Counters of the receive stage (one RX lcore). */
struct dd_rx_stats {
	uint64_t packets;          /* frames received */
	uint64_t bytes;            /* their bytes */
	uint64_t udp;              /* frames that parsed as UDP */
	uint64_t frame[DD_FRAME__COUNT]; /* frames dropped by reason (frame[DD_FRAME_UDP] unused) */
	uint64_t no_feed;          /* UDP datagrams that match no configured feed */
	uint64_t own_output;       /* datagrams of dadar's own output stream that came back in: never input */
	uint64_t too_long;         /* multi-segment frames longer than the reassembly buffer */
	uint64_t ring_full;        /* staged: batches that found a worker ring full and waited */
	uint64_t first_tsc;        /* TSC of the first and the last packet (0 before any) */
	uint64_t last_tsc;
};

/* Upper bound on the number of input-drop reasons. */
#define DD_REPORT_REASONS 32

/*
 * The input-drop reasons (frames, feed classification, MoldUDP64, ITCH) with their counts, in a
 * fixed order with stable names: what the JSON `errors` object, the human summary and the
 * telemetry segment show. Fills names[] and counts[] (DD_REPORT_REASONS each); returns how many.
 */
unsigned dd_report_reasons(const struct dd_rx_stats *rx, const struct dd_feed *feeds, unsigned nfeeds,
			   const char **names, uint64_t *counts);

/* Number of price levels per side written by the book dump. */
#define DD_REPORT_DEPTH 5

/* What the journal stage did, for the reports (all zero / NULL without a journal). */
struct dd_journal_summary {
	bool enabled;
	const char *dir;
	const char *sync;         /* "group", "page", "off" */
	const char *release;      /* "durable", "immediate" */
	const char *recovery;     /* what recovery did at start */
	const char *error;        /* why the journal stopped input, or NULL */
	uint64_t records, bytes, commits, commit_bytes_max, segments;
	uint64_t durable_lsn;
	uint64_t released, unreleased;
	uint64_t orphaned;        /* outputs whose cause never reached the journal (input stopped first) */
	uint64_t cause_lost;      /* outputs whose cause could not be translated to an LSN */
	uint64_t snapshots;
	uint64_t snapshot_lsn;
};

/* The output stream and the JetStream bridge, for the reports (on: false without --output-udp). */
struct dd_stream_summary {
	bool on;
	const char *session;
	uint64_t base, first_seq, next_seq;
	uint64_t messages, datagrams, heartbeats, bytes, tx_full, tx_dropped;
	bool ended;
	bool rexmit;                        /* the request server ran */
	struct dd_rexmit_stats rx;
	bool nats;                          /* the bridge ran */
	const char *nats_url;
	struct dd_natsb_stats ns;
};

struct dd_run {
	const struct dd_config *cfg;
	const struct dd_feed *feeds;        /* [nfeeds] */
	unsigned nfeeds;
	const struct dd_book *const *books; /* [nshards * nfeeds]: shard s, feed f at s * nfeeds + f */
	unsigned nshards;                   /* 1 (run to completion) or the number of workers */
	unsigned route;                     /* staged: enum dd_route_policy (ops/route.h) */
	const struct dd_chain *chains;      /* [nshards]: the operators (outputs, counters); may be NULL */
	const struct dd_chain *pchain;      /* the payment chain; NULL if none */
	uint64_t reloads, reload_failures;  /* fraud rule reloads put in force, and refused */
	const char *reload_error;           /* why the last one was refused (NULL: none was) */
	uint64_t mreloads, mreload_failures; /* market rule reloads put in force, and refused */
	const char *mreload_error;
	const struct dd_rx_stats *rx;
	uint64_t tsc_hz;
	const struct dd_tm *tm;             /* telemetry segment for the latency figures; may be NULL */
	const struct dd_journal_summary *journal; /* may be NULL */
	const struct dd_stream_summary *stream;   /* may be NULL */
};

/*
 * Latency of stage `stage` merged over every slot of the telemetry segment into a new histogram
 * (*out, free with dd_hdr_free); -ENOENT if nothing was recorded or there is no segment.
 */
int dd_report_stage_latency(const struct dd_tm *tm, unsigned stage, struct dd_hdr **out);

/* Write the JSON summary to `path`. Returns 0 or -errno with a message in err. */
int dd_report_summary(const struct dd_run *r, const char *path, char *err, size_t errlen);

/*
 * Write the book dump CSV to `path`: header `symbol,side,level,price,shares,orders`, then for every
 * instrument with live orders (in byte order of the symbol without its padding) its best
 * DD_REPORT_DEPTH bid levels best first, then its best ask levels best first; prices with exactly
 * four decimals. With more than one feed the symbol is written FEED:SYMBOL.
 * Returns 0 or -errno with a message in err.
 */
int dd_report_book_dump(const struct dd_run *r, const char *path, char *err, size_t errlen);

/*
 * The books of the book operator in each of `nshards` chains, into out[nshards * nfeeds] (shard s,
 * feed f at s * nfeeds + f) as struct dd_run wants them. Returns 0, or -ENOENT if a chain has no
 * book operator.
 */
int dd_report_books_of(const struct dd_chain *chains, unsigned nshards, unsigned nfeeds, const struct dd_book **out);

/*
 * Text from the wire (a symbol, a session name) made safe to print or write as text: trailing
 * spaces and NULs dropped, printable ASCII kept, a backslash and every other byte written \xNN (so
 * nothing reaches a terminal as a control sequence, and the text reads back unambiguously). Writes
 * at most len - 1 characters and a NUL; 4 * n + 1 is always enough. Returns buf.
 */
const char *dd_report_text(char *buf, size_t len, const char *p, size_t n);

/* The short human summary. */
void dd_report_human(const struct dd_run *r, FILE *out);

/* Combined book counters over shards, for one feed (feed < 0: all feeds). */
void dd_report_book_totals(const struct dd_run *r, int feed, struct dd_book_stats *st, uint64_t *instruments,
			   uint64_t *orders, uint64_t *levels);

#endif /* DD_DATAPLANE_REPORT_H */
