/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_LCORE_H
#define DD_DATAPLANE_LCORE_H

/*
 * The lcore loops and their per-lcore contexts.
 *
 *   RX lcore   polls every port's queue 0, parses frames, hands each UDP datagram to the feed it
 *              belongs to (MoldUDP64 sequencing, ITCH decoding), numbers the events (their
 *              position in the run's input stream: the cause of what they lead to), hands them to
 *              the journal, and then, by pipeline shape:
 *              run to completion - runs its own operator chain over them;
 *              staged            - partitions them by key (dd_shard_of) over SPSC rings to workers.
 *   worker     (staged) dequeues events and runs its shard's operator chain over them.
 *
 * Either way the outputs of a chain go to the journal stage (which also releases them), as
 * records caused by their inputs.
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
#include "ops/chain.h"
#include "ops/route.h"
#include "shm/telemetry.h"

#define DD_MAX_RXQ 32
#define DD_MAX_WORKERS 64
#define DD_RX_EVENTS 512   /* events buffered by the RX lcore before they are applied or dispatched */
#define DD_RX_RUN (2 * DD_RX_EVENTS + 1) /* the most one flush runs: its events, each followed by a tick at
					 * most, and a tick recovery left due before them */
#define DD_WORKER_BURST 64 /* events per ring enqueue/dequeue */
#define DD_SCRATCH 16384   /* reassembly buffer for multi-segment frames */

/* Where a chain's operators record: each one's stage and first counter, and the chain's overflow. */
struct dd_chain_tm {
	struct dd_hdr *hist[DD_CHAIN_MAX_OPS]; /* each operator's stage (NULL: not recorded) */
	unsigned counter[DD_CHAIN_MAX_OPS];    /* each operator's first counter: its outputs, then its own */
	unsigned overflow_counter;             /* the chain's output_overflow (0: the chain is not on this lcore) */
};

/*
 * What an lcore records into the telemetry segment: its counter slot and its histograms (NULL for
 * stages it does not run), the TSC → ns conversion, and when it publishes its counters next.
 */
struct dd_lcore_tm {
	struct dd_tm_slot *slot;
	struct dd_hdr *hist[DD_TM_MAX_STAGES];   /* the pipeline's stages (enum dd_tm_stage) */
	struct dd_chain_tm market;              /* the market chain's operators */
	struct dd_chain_tm pay;                 /* the payment chain's, on the lcore that runs it */
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
	/* a rule reload: the control thread publishes the new image's address in rules_new; the RX
	 * lcore journals it and hands it to the payment chain at an event boundary; the lcore that runs
	 * the chain stores it in rules_acked once in force (then the previous image may be freed) */
	alignas(64) _Atomic(uintptr_t) rules_new;
	alignas(64) _Atomic(uintptr_t) rules_acked;
	/* a market rules reload, the same way: every market chain puts it in force at one input position
	 * and counts itself in mrules_acked (the previous image may be freed at nshards) */
	alignas(64) _Atomic(uintptr_t) mrules_new;
	alignas(64) atomic_uint mrules_acked;
	alignas(64) atomic_int reload;  /* SIGHUP: set by the signal handler, taken by the control thread */
};

/*
 * A producer's side of the journal: its ring, items gathered during a flush (pushed at its end),
 * and how long a full ring may hold it before input stops.
 */
struct dd_jprod {
	struct rte_ring *ring;          /* NULL: no journal */
	struct dd_jitem *items;         /* cap of them: sized at start for the most one flush gathers */
	unsigned n, cap;
	uint64_t stall_tsc;
	bool stalled;                   /* the journal did not take our items: input stopped */
	bool crc;                       /* hands over each payload's CRC register (dd_jitem_fill()) */
	uint64_t overflow;              /* items that did not fit items[] (a broken bound: fails the run) */
};

/* A worker ring carries batches: a DD_EV_MARK, then the events. The mark says when the batch was
 * enqueued (rx_tsc), how many events follow (key), the input position of the first (seq) and,
 * as a bitmap in its payload, which of the next DD_MARK_SPAN input positions the batch holds. */
#define DD_MARK_SPAN (DD_EVENT_PAYLOAD * 8)

struct dd_rxq {
	uint16_t port;
	uint16_t queue;
	const struct dd_clockmap *clock; /* the port's NIC clock mapping; NULL: RX time = poll TSC */
};

struct dd_worker_ctx {
	alignas(64) unsigned lcore;
	struct rte_ring *ring;          /* events from the RX lcore */
	struct dd_chain *chain;         /* this worker's shard */
	struct dd_chain *pchain;        /* the payment chain (worker 0 only; NULL elsewhere) */
	unsigned nfeeds;
	uint64_t mk_base;               /* the current batch's mark: input positions left to hand out */
	uint64_t mk_bits[DD_MARK_SPAN / 64];
	struct dd_control *ctl;
	struct dd_lcore_tm tm;
	struct dd_jprod jp;             /* outputs to the journal */
	uint64_t events;                /* events applied */
	uint64_t bursts;                /* non-empty dequeues */
	uint64_t ring_high_water;       /* most events seen in the ring at a dequeue */
	uint64_t ring_used;             /* events in the ring at the last dequeue */
	alignas(64) atomic_bool pending; /* its chain has work deferred at the watermark (for the RX lcore) */
};

struct dd_rx_ctx {
	alignas(64) unsigned lcore;
	struct dd_control *ctl;
	const struct dd_config *cfg;
	struct dd_rxq q[DD_MAX_RXQ];
	unsigned nq;
	unsigned burst;
	unsigned frame_flags;           /* DD_FRAME_CHECK_* */
	bool stamps;                    /* stamps = yes: a frame's send stamp is its RX time */
	struct dd_hdr *send_to_rx;      /* ... and the stamp → poll time goes here */
	int ts_offset;                  /* mbuf field of NIC RX timestamps, -1 if none */
	uint64_t ts_flag;               /* ol_flags bit saying the field is set */
	uint64_t idle_tsc;              /* quit after this many TSC ticks without a packet; 0 = never */
	struct dd_feed *feeds;          /* [nfeeds] */
	unsigned nfeeds;
	uint8_t feed_order[DD_MAX_FEEDS]; /* the order datagrams are matched to feeds: catch-alls last */
	struct dd_sink sink;            /* decoded events, DD_RX_EVENTS of them */
	uint64_t isn;                   /* input position of the next event */
	/* watermark ticks (ops/chain.h, DESIGN.md §4). Each market feed is a source whose watermark is
	 * its largest event time less wm_delay (bounded out-of-orderness); the pipeline's is the
	 * minimum over the active sources, and a DD_EV_TICK follows the event that moves it past the
	 * next multiple of wm_interval (wm_interval 0: no ticks). A source with no event for wm_idle_tsc,
	 * or none while the latest event time moved on by wm_idle_ns, is idle and holds nothing back (a
	 * tick carries the idle feeds it was made with); with every
	 * source idle the watermark is the largest source's, and with wm_clock it goes on from there
	 * with the TSC. Ticks are journaled: replay never decides any of this again. */
	uint64_t wm_interval, wm_delay;
	uint64_t wm_idle_tsc;           /* wall clock; 0: sources never go idle */
	uint64_t wm_idle_ns;            /* event time behind the latest source; 0: never */
	bool wm_clock;                  /* all sources idle: the watermark follows the TSC */
	uint64_t tsc_hz;
	uint64_t ev_max;                /* largest market event time seen */
	uint64_t ev_max_tsc;            /* the TSC when it was seen (for wm_clock) */
	uint64_t src_max[DD_MAX_FEEDS]; /* each market feed's largest event time (0: none yet) */
	uint64_t src_tsc[DD_MAX_FEEDS]; /* when each last had one */
	uint64_t src_seen[DD_MAX_FEEDS]; /* the latest event time of all when each last had one */
	uint32_t market_mask;           /* the market feeds */
	uint32_t idle_wall;             /* sources with no event for wm_idle_tsc */
	uint32_t idle_mask;             /* sources idle now (those, and those too far behind) */
	uint64_t wm_now;                /* the pipeline's watermark as last computed */
	uint64_t tick_last;             /* event time of the last tick */
	uint64_t drain_tsc;             /* when the last tick for deferred work was made */
	struct dd_event *tickbuf;       /* 2 * DD_RX_EVENTS: a flush with its ticks in place */
	/* run to completion */
	struct dd_chain *chain;
	struct dd_chain *pchain;        /* the payment chain (NULL: no payment feed) */
	/* staged */
	struct dd_worker_ctx *workers;  /* [nworkers] */
	unsigned nworkers;
	struct dd_event (*batch)[DD_WORKER_BURST + 1]; /* [nworkers] per-worker staging, a mark first */
	unsigned *nbatch;               /* [nworkers] */
	uint64_t *bbase;                /* [nworkers] input position of each batch's first event */
	struct dd_route route;          /* which worker a market event goes to (its table: DPDK memory) */
	uint32_t own_group;             /* the output stream's group and port (host order): datagrams to */
	uint16_t own_port;              /* them are dadar's own coming back in, never input (0: no stream) */
	struct dd_rx_stats st;
	struct dd_lcore_tm tm;
	struct dd_jprod jp;             /* inputs (and, run to completion, outputs) to the journal */
	uint64_t jpos_seq[DD_MAX_FEEDS]; /* each feed's next_seq as last journaled */
	uintptr_t rules_cur;            /* the rule image last handed to the payment chain (0: the start's) */
	uintptr_t mrules_cur;           /* the market rules last handed to the market chains (0: the start's) */
	uint32_t pay_chain;             /* the payment chain's number (its rules records name it) */
	uint8_t *scratch;               /* DD_SCRATCH bytes */
};

/* The watermark from the sources' times set (at start, after recovery). */
void dd_rx_wm_init(struct dd_rx_ctx *c);

/* Point the RX context's event sink at its consumer: its chain (run to completion) or its rings. */
void dd_lcore_bind_consumers(struct dd_rx_ctx *c);

/* Publish an lcore's counters into its telemetry slot now (also done periodically by the loops). */
void dd_rx_publish(struct dd_rx_ctx *c, uint64_t now);
void dd_worker_publish(struct dd_worker_ctx *w, uint64_t now);

/* The clock chains time their operators with (the TSC). */
uint64_t dd_lcore_clock(void);

/* Lcore entry points for rte_eal_remote_launch(); the argument is the context. */
int dd_rx_main(void *arg);
int dd_worker_main(void *arg);

#endif /* DD_DATAPLANE_LCORE_H */
