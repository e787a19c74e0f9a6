/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_RECOVERY_H
#define DD_DATAPLANE_RECOVERY_H

/*
 * Recovery at start, before any packet: rebuild the operators' state from the journal and decide
 * where the journal and the output stream continue. DPDK-free.
 *
 *   1. the output file (released outputs, JSON lines): a line cut short by a crash is cut off; the
 *      last complete line's LSN is what was released;
 *   2. the journal is scanned and replayed through the same operators (from the newest snapshot):
 *      corruption, or an output the operators do not derive again, refuses the start, loudly;
 *      a torn tail is cut, and said so (bytes, segment, last good LSN);
 *   3. each feed's MoldUDP64 position is restored, so a feed replayed after a crash resumes after
 *      the last journaled message (what it sends again is dropped as duplicates);
 *   4. outputs that are journaled but were not released (the crash came first) are released now,
 *      in LSN order; outputs the operators derive that were never journaled are handed back to be
 *      journaled first (dd_recovery.tail).
 *
 * An output leaves once and only once: every line carries its LSN, and nothing at or below the
 * last released LSN is written again.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane/wire/feed.h"
#include "dataplane/journal/replay.h"
#include "ops/output.h"

struct dd_recovery {
	/* in */
	const char *dir;            /* journal directory */
	const char *output;         /* released outputs file, "" for none */
	struct dd_feed *feeds;      /* [nfeeds] */
	unsigned nfeeds;
	unsigned nshards;           /* the pipeline this start runs (the journal must match) */
	unsigned burst;             /* events per chain run in this pipeline (replay builds the chains so) */
	int (*check_config)(void *ctx, const struct dd_jconfig *journaled, char *err, size_t errlen);
	void *check_ctx;            /* see struct dd_replay */
	void *(*alloc)(void *ctx, size_t len);
	void (*release)(void *ctx, void *p);
	void *alloc_ctx;
	uint64_t (*clock)(void);
	/* out */
	bool fresh;                 /* no journal yet: a new one starts at LSN 1 */
	uint64_t next_lsn;
	char segment[512];          /* the segment to continue ("" for a new journal) */
	uint64_t end_offset;
	uint64_t released_lsn;      /* last LSN in the output file */
	uint64_t output_cut;        /* bytes of a torn last line cut from the output file */
	uint64_t rereleased;        /* journaled outputs released now */
	bool truncated;             /* a torn journal tail was cut */
	uint64_t cut_bytes;
	struct dd_replay replay;    /* what replay found (chains, events, snapshot, outputs); tail = to journal */
	char message[768];          /* one human paragraph on what recovery did */
};

/*
 * Run recovery. Returns 0 (state rebuilt, or a fresh journal), or -errno with a message that says
 * why dadar must not start (corruption, mismatch, I/O) and what to do. Call dd_recovery_fini()
 * in both cases.
 */
int dd_recover(struct dd_recovery *rc, char *err, size_t errlen);

void dd_recovery_fini(struct dd_recovery *rc);

/*
 * Format one released output as a JSON line (with its newline) into buf; returns its length
 * (snprintf's: the caller checks it fits; DD_OUTPUT_JSON_MAX always does). docs/outputs.md
 * describes every key.
 */
#define DD_OUTPUT_JSON_MAX 1024
int dd_output_json(char *buf, size_t len, uint64_t lsn, const struct dd_output *o);

/*
 * Name alerts' patterns and measures and windows' aggregates from market rule set `r` (by its
 * version: the newest registered of a version names it) in dd_output_json(); up to 64 sets (a
 * reload registers its set; safe while another thread writes outputs). The caller keeps `r` alive
 * until it forgets it. Without one, names are generic ("pattern3", "m0").
 */
struct dd_mrules;
void dd_output_json_rules(const struct dd_mrules *r);

/* Stop naming from `r` (it is about to be freed). Not while another thread writes outputs. */
void dd_output_json_forget(const struct dd_mrules *r);

/*
 * The last released LSN in output file `path`: cut a torn last line (no newline) and read the
 * "lsn" of the last complete one. 0 if the file is missing or empty. Returns 0 or -errno.
 */
int dd_output_last_lsn(const char *path, uint64_t *lsn, uint64_t *cut, char *err, size_t errlen);

#endif /* DD_DATAPLANE_RECOVERY_H */
