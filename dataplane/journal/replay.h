/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_REPLAY_H
#define DD_DATAPLANE_REPLAY_H

/*
 * Replay of a journal through the same operators the daemon runs: what recovery does at start and
 * what `dadar-journal replay` does offline. DPDK-free.
 *
 * Books are sharded exactly as the pipeline shards them (dd_shard_of()), so a journal written by
 * a staged daemon with N workers replays into N shards per feed, and one written in
 * run-to-completion into one. Replay starts from the newest valid snapshot (if any and if
 * allowed), then applies every EVENT record after it; every time a book reports a changed top of
 * book, the output it derives is checked against the OUTPUT records the daemon journaled: the
 * same outputs, in the same order per shard, byte for byte (all but rx_tsc), each journaled after
 * the input that caused it (the writer guarantees it). FEEDPOS records give each feed's MoldUDP64
 * position at the end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/feed.h"
#include "dataplane/journal/jfile.h"
#include "ops/book/book.h"
#include "ops/output.h"

/* Snapshot section tags. */
#define DD_SNAP_TAG_META 1u      /* struct dd_snap_meta */
#define DD_SNAP_TAG_FEEDPOS 2u   /* DD_MAX_FEEDS x struct dd_jfeedpos (all zero: unknown) */
#define DD_SNAP_TAG_PENDING 3u   /* outputs derived up to the snapshot whose records come after it:
				  * per shard, u32 shard, u32 count, then count x struct dd_output */
#define DD_SNAP_TAG_BOOK 16u     /* + shard * DD_MAX_FEEDS + feed: dd_book_save() of that book */

struct dd_snap_meta {
	uint32_t nshards;
	uint32_t nfeeds;
	uint64_t events;         /* events applied up to the snapshot since the journal began */
	uint64_t outputs;        /* outputs derived up to it */
};

/* The shard (worker) an event belongs to among `nshards`: by instrument; system events: all. */
static inline unsigned dd_shard_of(uint32_t key, unsigned nshards)
{
	return nshards <= 1 ? 0 : (unsigned)((key * 0x9E3779B1u) % nshards);
}

/* Up to this many derived outputs may wait for their journaled twin per shard (staged journals
 * interleave inputs and outputs from different lcores). */
#define DD_REPLAY_PENDING 4096

struct dd_replay {
	/* set by the caller */
	unsigned nfeeds;
	unsigned nshards;
	struct dd_book *books;       /* [nshards * nfeeds], initialised (empty) with the daemon's capacities */
	bool use_snapshot;           /* start from the newest valid snapshot */
	uint64_t max_lsn;            /* stop after this LSN (a journal being written: its durable LSN); 0 = none */
	/* results */
	uint64_t snapshot_lsn;       /* 0: replayed from the start */
	uint64_t last_lsn;           /* last record applied */
	uint64_t events;             /* EVENT records applied (after the snapshot) */
	uint64_t outputs_journaled;  /* OUTPUT records read */
	uint64_t outputs_derived;    /* outputs the books derived */
	uint64_t outputs_matched;
	uint64_t unjournaled;        /* derived at the tail with no journaled twin (the daemon stopped first) */
	struct dd_output *tail;      /* those outputs, in order (owned; freed by dd_replay_fini) */
	uint64_t ntail;
	bool mismatch;               /* a journaled output the books did not derive, or a different one */
	uint64_t mismatch_lsn;
	char mismatch_why[256];
	struct dd_jfeedpos pos[DD_MAX_FEEDS];
	bool have_pos[DD_MAX_FEEDS];
	uint64_t max_seq[DD_MAX_FEEDS]; /* highest feed sequence number of an event replayed (0: none) */
	struct dd_jscan scan;
	/* private */
	void *priv;
};

/*
 * Replay journal `dir` into r->books. Returns 0 when the journal was read to its end (check
 * r->scan.corrupt and r->mismatch: both mean the state cannot be trusted), -ENOENT if there is no
 * journal, other -errno with a message.
 */
int dd_replay_run(const char *dir, struct dd_replay *r, char *err, size_t errlen);

/* Release what dd_replay_run allocated. */
void dd_replay_fini(struct dd_replay *r);

/*
 * Write a snapshot of the state replay `r` reached (books, feed positions, and the outputs it
 * derived whose journal records come later: a staged pipeline journals a worker's outputs after
 * the inputs, sometimes well after) covering every record <= r->last_lsn, into `dir`. This is the
 * snapshot the daemon writes. Returns 0 or -errno with a message.
 */
int dd_replay_snapshot_state(const struct dd_replay *r, const char *dir, char *err, size_t errlen);

/*
 * Write a snapshot of `books` ([nshards * nfeeds]) and feed positions `pos` covering every
 * record <= lsn into `dir`, with no pending outputs: right only when no output derived up to
 * `lsn` has its record after it (use dd_replay_snapshot_state otherwise). Returns 0 or -errno.
 */
int dd_replay_snapshot(const char *dir, uint64_t lsn, const struct dd_book *books, unsigned nshards,
		       unsigned nfeeds, const struct dd_jfeedpos *pos, const bool *have_pos, uint64_t events,
		       uint64_t outputs, char *err, size_t errlen);

#endif /* DD_DATAPLANE_REPLAY_H */
