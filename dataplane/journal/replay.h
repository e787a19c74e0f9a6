/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_JOURNAL_REPLAY_H
#define DD_DATAPLANE_JOURNAL_REPLAY_H

/*
 * Replay of a journal through the same operator chains the daemon runs: what recovery does at
 * start, what the daemon's snapshots do off the hot path, and what `dadar-journal replay` does
 * offline. DPDK-free.
 *
 * The chains are built from the journal itself: its CONFIG records (or the newest snapshot) say
 * how many shards the writer had, which operators each chain holds and with which parameters
 * (capacities), so nothing has to be repeated. A caller that was given values explicitly checks
 * them through check_config and refuses, naming the difference, when they conflict.
 *
 * Replay starts from the newest valid snapshot (if any and if allowed), then applies every EVENT
 * record after it to the chain of its shard (dd_shard_of(); broadcast events to every shard) with
 * the record's LSN as the cause. Every output the chains derive is checked against the OUTPUT
 * records the daemon journaled: per shard and operator the same outputs in the same order, byte
 * for byte (all but rx_tsc), cause included; each journaled output must come after the input that
 * caused it. FEEDPOS records give each feed's MoldUDP64 position at the end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/journal/jfile.h"
#include "dataplane/wire/feed.h"
#include "ops/chain.h"
#include "ops/route.h"
#include "ops/output.h"

/* Snapshot section tags. */
#define DD_SNAP_TAG_META 1u      /* struct dd_snap_meta */
#define DD_SNAP_TAG_FEEDPOS 2u   /* DD_MAX_FEEDS x struct dd_jfeedpos (all zero: unknown) */
#define DD_SNAP_TAG_PENDING 3u   /* outputs derived up to the snapshot whose records come after it,
				  * each a struct dd_output (its shard and op say whose) */
#define DD_SNAP_TAG_MRULES 4u    /* the text of the market rules in force (windows and patterns read
                                  * their image, not their state: it is compiled again on load) */
#define DD_SNAP_TAG_ROUTE 5u     /* dd_route_save() of the staged route (by symbol: which shard each
				  * feed's locates went to; absent from snapshots written before it) */
#define DD_SNAP_TAG_CHAIN 16u    /* + chain: dd_chain_save() of that shard's market chain, or of the
				  * payment chain (chain nshards) */

struct dd_snap_meta {
	struct dd_jconfig config; /* the configuration in force at the snapshot */
	uint64_t events;          /* events applied up to the snapshot since the journal began */
	uint64_t outputs;         /* outputs derived up to it */
	uint64_t max_event_ns;    /* the largest event time of an event up to it (ticks excluded) */
	uint64_t last_tick_ns;    /* the event time of the last tick up to it */
	uint64_t max_seq[DD_MAX_FEEDS]; /* struct dd_replay's max_seq at the snapshot */
};

/* The most shards a snapshot can hold (its sections: meta, feed positions, pending, one per shard). */
#define DD_REPLAY_MAX_SHARDS (DD_J_SNAP_MAX_SECTIONS - 3)

struct dd_replay {
	/* set by the caller (all optional) */
	bool use_snapshot;           /* start from the newest valid snapshot */
	uint64_t max_lsn;            /* stop after this LSN (a journal being written: its durable LSN); 0 = none */
	unsigned burst;              /* build the chains for runs of this many events (the daemon's); 0 = 1 */
	/* the caller's own view of the configuration: 0 accepts the journal's, -EINVAL (with a
	 * message) refuses it; NULL accepts everything */
	int (*check_config)(void *ctx, const struct dd_jconfig *journaled, char *err, size_t errlen);
	void *check_ctx;
	/* memory for the chains (64-byte aligned); NULL: aligned_alloc/free */
	void *(*alloc)(void *ctx, size_t len);
	void (*release)(void *ctx, void *p);
	void *alloc_ctx;
	uint64_t (*clock)(void);     /* for the chains (per-operator timing); NULL: none */
	bool name_outputs;           /* register the market rule sets it installs with dd_output_json_rules()
	                              * (recovery, which writes outputs; never while another thread writes
	                              * outputs and this replay ends: it forgets them when it does) */
	/* results */
	bool have_config;            /* a CONFIG record or a snapshot said what the chains are */
	struct dd_jconfig config;
	unsigned nshards, nfeeds;    /* from the configuration */
	unsigned nchains;            /* nshards market chains, then the payment chain if there is one */
	struct dd_chain *chains;     /* [nchains] (NULL until the configuration is known) */
	struct dd_route route;       /* which shard each market event went to (the journal's policy) */
	uint32_t rules_len;          /* bytes of the last rule text read (RULES records) */
	uint64_t rules_installed;    /* rule sets compiled and installed from the journal */
	uint64_t snapshot_lsn;       /* 0: replayed from the start */
	uint64_t last_lsn;           /* last record applied */
	uint64_t events;             /* EVENT records applied (after the snapshot) */
	uint64_t outputs_journaled;  /* OUTPUT records read */
	uint64_t outputs_derived;    /* outputs the chains derived */
	uint64_t outputs_matched;
	uint64_t overflow;           /* outputs the chains' buffers could not take (a broken max_out) */
	uint64_t unjournaled;        /* derived at the tail with no journaled twin (the daemon stopped first) */
	struct dd_output *tail;      /* those outputs, in cause order (owned; freed by dd_replay_fini) */
	uint64_t ntail;
	bool mismatch;               /* a journaled output the chains did not derive, or a different one */
	uint64_t mismatch_lsn;
	char mismatch_why[320];
	struct dd_jfeedpos pos[DD_MAX_FEEDS];
	bool have_pos[DD_MAX_FEEDS];
	uint64_t max_seq[DD_MAX_FEEDS]; /* highest feed sequence number of an event after the feed's last
					 * FEEDPOS record (0: none): where a crash between the two left it */
	uint64_t max_event_ns;       /* the largest event time of an event (ticks excluded) */
	uint64_t last_tick_ns;       /* the largest event time of a tick: the RX lcore's ticks go on from these */
	uint64_t src_max_ns[DD_MAX_FEEDS]; /* each market feed's largest event time since the start or the
					 * snapshot replay began at (0: none): the per-source watermarks' */
	struct dd_jscan scan;
	/* private */
	void *priv;
};

/*
 * Replay journal `dir`. Returns 0 when the journal was read to its end (check r->scan.corrupt and
 * r->mismatch: both mean the state cannot be trusted; r->chains is NULL if the journal holds no
 * configuration yet, i.e. no record), -ENOENT if there is no journal, -EINVAL if check_config
 * refused the journal's configuration, other -errno; with a message.
 */
int dd_replay_run(const char *dir, struct dd_replay *r, char *err, size_t errlen);

/*
 * Take the chains replay built (the daemon runs on them after recovery): after this,
 * dd_replay_fini() no longer frees them. Returns r->chains; *mem receives the chain memory
 * blocks ([nchains], each from r->alloc).
 */
struct dd_chain *dd_replay_take_chains(struct dd_replay *r, void ***mem);

/* Release what dd_replay_run allocated. */
void dd_replay_fini(struct dd_replay *r);

/*
 * Write a snapshot of the state replay `r` reached (chains, feed positions, and the outputs it
 * derived whose journal records come later: a staged pipeline journals a worker's outputs after
 * the inputs, sometimes well after) covering every record <= r->last_lsn, into `dir`. This is the
 * snapshot the daemon writes. Returns 0 or -errno with a message.
 */
int dd_replay_snapshot_state(const struct dd_replay *r, const char *dir, char *err, size_t errlen);

/* The book of feed `feed` in shard `shard` of a replay's market chains (NULL if it has none). */
const struct dd_book *dd_replay_book(const struct dd_replay *r, unsigned shard, unsigned feed);

/* One-line description of an output, for mismatch messages and dumps. */
void dd_output_describe(const struct dd_output *o, char *buf, size_t len);

#endif /* DD_DATAPLANE_JOURNAL_REPLAY_H */
