/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_JOURNAL_H
#define DD_DATAPLANE_JOURNAL_H

/*
 * The journal stage: one lcore that turns the records the pipeline hands it (inputs, outputs, feed
 * positions) into the on-disk journal (dataplane/journal/jfile.h) through io_uring, with group commit,
 * and releases outputs downstream once they are durable (or at once).
 *
 *   producers (RX lcore, workers) ──SPSC rte_ring of struct dd_jitem──▶ journal lcore
 *       assigns LSNs, frames records into a page-aligned staging buffer,
 *       every journal.commit_us or journal.commit_bytes: one O_DIRECT write of the new pages
 *       (the partial last page from a private copy, rewritten by the next commit) linked to an
 *       fdatasync (group) — one commit in flight at a time; what arrives meanwhile waits for the
 *       next one: group commit
 *       completion: durable LSN advances, outputs up to it are released (JSON lines), latency
 *       append → durable recorded
 *
 * Rotation: when a record does not fit the current segment, a PAD record fills it, the segment is
 * committed, and the next one — preallocated by the control thread under a temporary name — gets
 * its header (first LSN) written, synced and is renamed into place, all through the ring.
 *
 * Backpressure: producers never drop. A full journal ring makes them wait; if it stays full for
 * journal.stall_ms (the disk cannot keep up, or is full and the next segment cannot be
 * preallocated), dadar stops taking input cleanly with a message, after committing what it has.
 * A failed write (ENOSPC, EIO) stops it the same way. Nothing that was acknowledged (durable) is
 * lost; nothing is dropped silently.
 *
 * Sync levels (journal.sync): group — O_DIRECT writes each linked to fdatasync, durable = on
 * stable storage; page — buffered writes, no sync, durable = in the page cache (survives a crash
 * of dadar, not of the host); off — nothing is written: the stage runs (for measuring), outputs
 * are released as they come, and there is nothing to recover.
 */

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>
#include <rte_ring.h>

#include "dataplane/config/config.h"
#include "dataplane/journal/jfile.h"
#include "dataplane/config/timing.h"
#include "ops/output.h"
#include "shm/telemetry.h"

/*
 * What a producer hands the journal stage: one record's content, by value.
 *
 * Inputs come from producer 0 (the RX lcore) only, so the journal knows the position of every input
 * in the run's input stream (the k-th EVENT item of ring 0 is input k, counting from 0 each run).
 * An output's cause is that input position when a producer hands it over; the journal appends it
 * only after the input (so a worker faster than the journal never puts an output before its cause,
 * whatever the feeds' sequence numbers do) and rewrites the cause to the input's LSN as it appends.
 */
struct dd_jitem {
	uint16_t type;      /* DD_JREC_EVENT, DD_JREC_OUTPUT, DD_JREC_FEEDPOS */
	uint16_t source;
	uint32_t partition;
	uint16_t len;       /* payload bytes */
	uint16_t flags;     /* DD_JITEM_* */
	uint32_t crc;       /* DD_JITEM_CRC: the payload's CRC register (dd_jrec_payload_crc()) */
	uint64_t tsc;       /* when the producer handed it over (append → durable starts here) */
	uint8_t payload[sizeof(struct dd_output)];
};
_Static_assert(sizeof(struct dd_jitem) == 24 + 128, "journal item layout");

#define DD_JITEM_CAUSE_LSN 0x1u /* an output whose cause is an LSN already (recovered outputs) */
#define DD_JITEM_CRC 0x2u       /* the producer computed `crc`: the stage joins the header's to it */

/*
 * What a producer does to hand over a record: its fields and payload by value and, when `crc`, the
 * payload's CRC register, so the journal stage frames it without a pass over the payload (framing
 * is split: the stage alone knows the LSN). The workers of the staged pipeline do (the journal
 * lcore serves them all); the RX lcore does not (it is the pipeline's busiest lcore, and in run to
 * completion its only one: docs/benchmarks.md measured it). The stage frames whole what comes
 * without it, and the start records and recovery's.
 */
static inline void dd_jitem_fill(struct dd_jitem *it, uint16_t type, uint16_t source, uint32_t partition,
				 const void *p, uint16_t len, uint64_t tsc, bool crc)
{
	it->type = type;
	it->source = source;
	it->partition = partition;
	it->len = len;
	it->flags = crc ? DD_JITEM_CRC : 0;
	it->tsc = tsc;
	memcpy(it->payload, p, len);
	it->crc = crc ? dd_jrec_payload_crc(it->payload, len) : 0;
}

#define DD_JOURNAL_MAX_PRODUCERS 65
#define DD_JOURNAL_BURST 64

/* Counters of the journal stage (single writer: the journal lcore; read at exit). */
struct dd_journal_stats {
	uint64_t records;
	uint64_t bytes;
	uint64_t commits;
	uint64_t commit_bytes_max;
	uint64_t segments;        /* segments started by this run */
	uint64_t released;        /* outputs released: their lines written to the output file (or, without
				   * one, let go) */
	uint64_t unreleased;      /* outputs not released at exit: not durable, or their write failed */
	uint64_t unwritten;       /* of those, lines whose write to the output file failed */
	uint64_t stalls;          /* times the staging buffer or the release queue was full */
	uint64_t write_errors;
	uint64_t orphaned;        /* outputs whose cause never reached the journal (input stopped first):
				   * dropped at exit, never journaled or released */
	uint64_t cause_lost;      /* outputs whose cause was too far back to translate (cause written 0) */
};

struct dd_journal;

/* The journal's state handed from recovery to the writer. */
struct dd_journal_start {
	uint64_t next_lsn;        /* first LSN this run writes */
	const char *segment;      /* existing segment to continue ("" to start a new one) */
	uint64_t segment_first_lsn;
	uint64_t end_offset;      /* where its good data ends */
	uint64_t released_lsn;    /* outputs up to this LSN already left (from the output file) */
	const char *rules;        /* the payment chain's rule text, journaled after the config (NULL: none) */
	size_t rules_len;         /* at most DD_JOURNAL_MAX_RULES */
	uint32_t rules_chain;     /* the payment chain's index */
	const char *mrules;       /* the market rules' text, journaled after those (NULL: none) */
	size_t mrules_len;        /* at most DD_JOURNAL_MAX_RULES */
	uint64_t outputs;         /* OUTPUT records the journal holds (segment headers count on from it) */
};

/* The longest rule text a start journals (its RULES records follow the config in one segment). */
#define DD_JOURNAL_MAX_RULES (512u << 10)

/*
 * Set up the journal stage: directory, io_uring, staging buffer, the rings producers write to
 * (one per producer, `ring_size` items), the output file, the telemetry slot; then journal the
 * configuration `jc` as the run's first record. `lag` bounds how many inputs the journal can have
 * appended after an input before it gets the last output caused by that input (the rings' sizes
 * bound it: see dd_journal_lag()); it sizes the input-position → LSN map.
 *
 * Without a journal directory (c->journal empty: --output alone) the stage runs as with
 * journal.sync = off: records are numbered as they would be, nothing is written but the output
 * file (truncated at start: without a journal there is nothing to continue), and outputs are
 * released at once. Returns 0 or -errno with a message in err. Control plane; allocates.
 */
int dd_journal_create(struct dd_journal **out, const struct dd_config *c, unsigned nproducers,
		      const struct dd_jconfig *jc, uint64_t lag, const struct dd_journal_start *st, int socket,
		      char *err, size_t errlen);

/* The lag bound for dd_journal_create() of a pipeline with `nworkers` workers. */
uint64_t dd_journal_lag(const struct dd_config *c, unsigned nworkers, unsigned rx_events);

/* The ring producer `i` writes to. */
struct rte_ring *dd_journal_ring(struct dd_journal *j, unsigned i);

/* Bind telemetry: the journal lcore's slot and its append→durable histogram (may be NULL). */
void dd_journal_bind_tm(struct dd_journal *j, struct dd_tm_slot *slot, struct dd_hdr *hist,
			const struct dd_tsc_conv *conv);

/*
 * The output stream: every released output goes into `hist` as the session's message `first_seq`,
 * `first_seq` + 1, ... (NULL: none) and to the sender `tx` (NULL: none), which the stage polls and,
 * at a clean stop, ends. Before the lcore starts.
 */
struct dd_outhist;
struct dd_outtx;
void dd_journal_bind_stream(struct dd_journal *j, struct dd_outhist *hist, struct dd_outtx *tx, uint64_t first_seq);

/* The session's number of the last output released (first_seq - 1: none yet). */
uint64_t dd_journal_released_seq(const struct dd_journal *j);

/* Bind the "release" histogram: RX time of each released output's cause → the output leaves (written
 * to the output buffer, handed to the stream's sender). Before the lcore starts. */
void dd_journal_bind_release(struct dd_journal *j, struct dd_hdr *hist);

/*
 * Journal the `n` outputs recovery re-derived but found unjournaled (a crash's tail), before any
 * input, and wait until they are durable and released (into the output stream too: bind it first).
 * At start only, before the lcores run: it blocks. Any number fits: a segment that fills rotates (a
 * PAD, the next segment prepared as the control thread prepares it), a full staging buffer or
 * release queue is committed and released first. Returns 0, or -errno of what failed (a write, a
 * sync, the next segment's zeros: a full disk) with a message in err saying how many went in.
 */
int dd_journal_prepend_outputs(struct dd_journal *j, const struct dd_output *o, uint64_t n, char *err,
			       size_t errlen);

/*
 * The journal lcore's loop. Runs until `producers_done` (an atomic the producers decrement as they
 * finish) reaches zero and every ring is empty, then commits the rest and returns. Sets
 * ctl_quit (release) on a fatal write error or a stall, with the reason in dd_journal_error().
 */
int dd_journal_main(void *arg);

struct dd_journal_lcore {
	struct dd_journal *j;
	atomic_int *producers_left; /* producers still running (each decrements it when done) */
	atomic_int *quit;           /* set to stop the pipeline taking input */
	atomic_int *running;        /* decremented at exit, like every lcore loop */
};

/* Durable LSN so far (any thread; acquire). */
uint64_t dd_journal_durable_lsn(const struct dd_journal *j);

/* The reason the journal stopped the pipeline, or NULL. */
const char *dd_journal_error(const struct dd_journal *j);

const struct dd_journal_stats *dd_journal_stats(const struct dd_journal *j);

/* Control thread, about every 10 ms: keep a preallocated spare segment ready. Returns 0 or
 * -errno (a full disk shows here first) with a message. */
int dd_journal_tend(struct dd_journal *j, char *err, size_t errlen);

/* Tear down (after the lcore returned). */
void dd_journal_destroy(struct dd_journal *j);

/*
 * Producer side: hand `n` items to ring `r`, waiting while it is full. Returns n, or 0 if the ring
 * stayed full for `stall_tsc` ticks (the caller stops taking input).
 */
unsigned dd_journal_push(struct rte_ring *r, const struct dd_jitem *it, unsigned n, uint64_t stall_tsc);

#endif /* DD_DATAPLANE_JOURNAL_H */
