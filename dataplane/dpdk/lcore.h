/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_LCORE_H
#define DD_DATAPLANE_LCORE_H

/*
 * The lcore loops and their per-lcore contexts.
 *
 *   RX lcore   polls every port's queue 0, parses frames, hands each UDP datagram to the feed it
 *              belongs to (MoldUDP64 sequencing, ITCH decoding) and then, by pipeline shape:
 *              run to completion - applies the events to its own books;
 *              staged            - partitions them by instrument over SPSC rings to workers.
 *   worker     (staged) dequeues events and applies them to its shard of the books.
 *
 * Each loop is a do_work() step that returns how much it did, repeated until the quit flag (set by
 * the signal handler or by the idle timeout) is seen; then the RX lcore drains what the reorder
 * windows still hold, hands everything over, and raises rx_done, after which workers empty their
 * rings and stop. Nothing here allocates, locks, logs or makes a syscall after start.
 */

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/config/config.h"
#include "dataplane/wire/feed.h"
#include "dataplane/dpdk/journal.h"
#include "dataplane/config/report.h"
#include "ops/book/book.h"
#include "shm/telemetry.h"

#define DD_MAX_RXQ 32
#define DD_MAX_WORKERS 64
#define DD_RX_EVENTS 512   /* events buffered by the RX lcore before they are applied or dispatched */
#define DD_WORKER_BURST 64 /* events per ring enqueue/dequeue */
#define DD_SCRATCH 16384   /* reassembly buffer for multi-segment frames */

/*
 * What an lcore records into the telemetry segment: its counter slot and its histograms (NULL for
 * stages it does not run), the TSC → ns conversion, and when it publishes its counters next.
 */
struct dd_lcore_tm {
	struct dd_tm_slot *slot;
	struct dd_hdr *hist[DD_TM_MAX_STAGES];
	unsigned book;         /* index of the book operator's stage (registered at start) */
	struct dd_tsc_conv conv;
	uint64_t period;       /* TSC ticks between counter publications */
	uint64_t next_publish; /* TSC deadline */
};

/* Shared between the lcores and the main thread; each field on its own cache line. */
struct dd_control {
	alignas(64) atomic_int quit;    /* stop receiving: set by signals or the idle timeout */
	alignas(64) atomic_int rx_done; /* RX lcore has handed over its last event */
	alignas(64) atomic_int running; /* lcore loops not yet returned (the main thread waits on it) */
	alignas(64) atomic_int producers; /* journal producers still running (the journal drains after) */
};

/*
 * A producer's side of the journal: its ring, items gathered during a flush (pushed at its end),
 * and how long a full ring may hold it before input stops.
 */
struct dd_jprod {
	struct rte_ring *ring;          /* NULL: no journal */
	struct dd_jitem *items;         /* cap of them */
	unsigned n, cap;
	uint64_t stall_tsc;
	bool stalled;                   /* the journal did not take our items: input stopped */
};

struct dd_rxq {
	uint16_t port;
	uint16_t queue;
	const struct dd_clockmap *clock; /* the port's NIC clock mapping; NULL: RX time = poll TSC */
};

struct dd_worker_ctx {
	alignas(64) unsigned lcore;
	struct rte_ring *ring;          /* events from the RX lcore */
	struct dd_book *books;          /* [nfeeds]: this worker's shard */
	unsigned nfeeds;
	struct dd_control *ctl;
	struct dd_lcore_tm tm;
	struct dd_jprod jp;             /* outputs to the journal */
	uint64_t events;                /* events applied */
	uint64_t bursts;                /* non-empty dequeues */
	uint64_t ring_high_water;       /* most events seen in the ring at a dequeue */
	uint64_t ring_used;             /* events in the ring at the last dequeue */
};

struct dd_rx_ctx {
	alignas(64) unsigned lcore;
	struct dd_control *ctl;
	const struct dd_config *cfg;
	struct dd_rxq q[DD_MAX_RXQ];
	unsigned nq;
	unsigned burst;
	unsigned frame_flags;           /* DD_FRAME_CHECK_* */
	int ts_offset;                  /* mbuf field of NIC RX timestamps, -1 if none */
	uint64_t ts_flag;               /* ol_flags bit saying the field is set */
	uint64_t idle_tsc;              /* quit after this many TSC ticks without a packet; 0 = never */
	struct dd_feed *feeds;          /* [nfeeds] */
	unsigned nfeeds;
	struct dd_sink sink;            /* decoded events, DD_RX_EVENTS of them */
	/* run to completion */
	struct dd_book *books;          /* [nfeeds] */
	/* staged */
	struct dd_worker_ctx *workers;  /* [nworkers] */
	unsigned nworkers;
	struct dd_event (*batch)[DD_WORKER_BURST + 1]; /* [nworkers] per-worker staging, a mark first */
	unsigned *nbatch;               /* [nworkers] */
	struct dd_rx_stats st;
	struct dd_lcore_tm tm;
	struct dd_jprod jp;             /* inputs (and, run to completion, outputs) to the journal */
	uint64_t jpos_seq[DD_MAX_FEEDS]; /* each feed's next_seq as last journaled */
	uint8_t *scratch;               /* DD_SCRATCH bytes */
};

/* Point the RX context's event sink at its consumer: its books (run to completion) or its rings. */
void dd_lcore_bind_consumers(struct dd_rx_ctx *c);

/* Publish an lcore's counters into its telemetry slot now (also done periodically by the loops). */
void dd_rx_publish(struct dd_rx_ctx *c, uint64_t now);
void dd_worker_publish(struct dd_worker_ctx *w, uint64_t now);

/* Lcore entry points for rte_eal_remote_launch(); the argument is the context. */
int dd_rx_main(void *arg);
int dd_worker_main(void *arg);

#endif /* DD_DATAPLANE_LCORE_H */
