/* SPDX-License-Identifier: MIT */
#ifndef DD_SHM_TELEMETRY_H
#define DD_SHM_TELEMETRY_H

/*
 * The telemetry segment: one POSIX shared-memory object per dadar instance (/dev/shm/dadar-NAME,
 * mode 0640) holding counters and latency histograms that dadar-lat reads while dadar runs and
 * after it exits.
 *
 * Layout (everything little-endian, fixed width, no pointers; regions located by offset):
 *
 *   header      struct dd_tm_header at offset 0: magic, major/minor version, sizes, pid, start
 *               time, TSC frequency, instance name, and what the segment holds: the stage table
 *               (name and kind of each latency histogram), the counter table (name and kind of
 *               each counter of a slot) and the names of the drop reasons
 *   slots       nslots x struct dd_tm_slot at slot_offset, slot_size apart: one per lcore that has a
 *               role (RX, worker, ...), written by that lcore only
 *   histograms  nslots x nstages HdrHistograms (shm/hdr.h) at hist_offset, hist_size apart:
 *               histogram (slot s, stage t) is number s * nstages + t, written by slot s's lcore
 *
 * Described, not fixed (since v2, on the model of Aeron's counters file): the pipeline's own stages
 * and counters come first, at the indexes of enum dd_tm_stage and enum dd_tm_counter; operators (the
 * book, a fraud engine, windows, CEP patterns) add theirs after them when the segment is created
 * (struct dd_tm_layout). Readers find everything by the names in the header, so a new stage or
 * counter is not a format change. Every slot has room for DD_TM_MAX_COUNTERS counters; those past
 * ncounters stay zero.
 *
 * Publication: the creator fills the header and the slots' identities, then stores the magic last
 * with release order; a reader that loads the magic with acquire order and finds it sees a
 * complete layout. Counters and histogram buckets are single-writer 64-bit values read without
 * locks: a reader may see one counter a little ahead of another, never a torn value.
 *
 * A segment left by an instance that exited (cleanly or not) stays readable until the next start
 * of the same instance name, which replaces it; a start while the owner is still alive is refused.
 * The owner holds an exclusive flock(2) on the object for its whole life, so liveness does not
 * depend on pids (which the kernel reuses).
 */

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/hdr.h"

#define DD_TM_MAGIC      0x4d454c4554444144ull /* "DADTELEM" read as little-endian bytes */
#define DD_TM_MAJOR      3
#define DD_TM_MINOR      0
#define DD_TM_NAME       24  /* bytes of a name field, NUL included */
#define DD_TM_INSTANCE   32
#define DD_TM_MAX_SLOTS  64
#define DD_TM_MAX_STAGES 32
#define DD_TM_MAX_COUNTERS 128
#define DD_TM_MAX_REASONS 32

/* The pipeline's own latency stages: the first entries of every stage table, at these indexes. */
enum dd_tm_stage {
	DD_TM_RX,      /* "rx": RX poll → decoded (includes time held in the reorder window) */
	DD_TM_RING,    /* "ring": staged: enqueue on the RX lcore → dequeue on the worker */
	DD_TM_WIRE,    /* "wire_to_decision": RX timestamp → operator output (decision available) */
	DD_TM_JOURNAL, /* "journal": record handed to the journal stage → durable */
	DD_TM_STAGE__PIPELINE /* operators' stages ("book", ...) follow, in registration order */
};

/* The pipeline's own counters: the first entries of every counter table, at these indexes. */
enum dd_tm_counter {
	DD_TM_C_PACKETS,          /* "packets" */
	DD_TM_C_BYTES,            /* "bytes" */
	DD_TM_C_EVENTS,           /* "events": produced (RX), applied (worker, rtc RX), journaled (journal) */
	DD_TM_C_GAPS,             /* "gaps" */
	DD_TM_C_MISSING,          /* "missing" */
	DD_TM_C_DUPLICATES,       /* "duplicates" */
	DD_TM_C_RING_USED,        /* "ring_used" (gauge): worker: its ring's occupancy at the last dequeue */
	DD_TM_C_RING_HIGH_WATER,  /* "ring_high_water" (gauge) */
	DD_TM_C_RING_SIZE,        /* "ring_size" (gauge) */
	DD_TM_C_RING_FULL,        /* "ring_full": RX, staged: enqueues that found a ring full */
	DD_TM_C_JRN_LSN_WRITTEN,  /* "jrn_lsn_written" (gauge): last LSN appended */
	DD_TM_C_JRN_LSN_DURABLE,  /* "jrn_lsn_durable" (gauge): last LSN durable at the sync level */
	DD_TM_C_JRN_COMMITS,      /* "jrn_commits": group commits completed */
	DD_TM_C_JRN_RELEASED,     /* "jrn_released": outputs released */
	DD_TM_C__PIPELINE         /* operators' counters follow, in registration order */
};

/* What an entry of the stage or counter table holds. Readers show a kind they do not know as a raw value. */
enum dd_tm_kind {
	DD_TM_KIND_LATENCY = 1, /* stage: an HdrHistogram of nanoseconds (dd_tm_hdr_params) */
	DD_TM_KIND_COUNTER = 2, /* counter: monotonic; an interval shows its difference */
	DD_TM_KIND_GAUGE = 3,   /* counter: a level (ring occupancy, a position); shown as read */
};

enum dd_tm_role {
	DD_TM_ROLE_NONE = 0,
	DD_TM_ROLE_RX,      /* receives, decodes (and in run-to-completion also runs the operators) */
	DD_TM_ROLE_WORKER,  /* staged: runs the operators on its shard */
	DD_TM_ROLE_JOURNAL, /* writes the journal and releases outputs */
};

enum dd_tm_state {
	DD_TM_STARTING = 0,
	DD_TM_RUNNING = 1,
	DD_TM_EXITED = 2,
};

/* One entry of the stage or counter table. */
struct dd_tm_desc {
	char name[DD_TM_NAME];    /* NUL-terminated, unique within its table */
	uint32_t kind;            /* enum dd_tm_kind */
	uint32_t pad;
};

struct dd_tm_header {
	_Atomic uint64_t magic;   /* DD_TM_MAGIC, stored last (release) */
	uint16_t major;
	uint16_t minor;
	uint32_t header_size;     /* sizeof(struct dd_tm_header) when written */
	uint64_t segment_size;
	int64_t pid;
	uint64_t proc_start;      /* field 22 of /proc/PID/stat: tells our pid from a reused one */
	uint64_t start_time_ns;   /* CLOCK_REALTIME at creation */
	uint64_t tsc_hz;
	char instance[DD_TM_INSTANCE];
	uint32_t nslots;
	uint32_t nstages;         /* entries of stage[] used: histograms per slot */
	uint32_t ncounters;       /* entries of counter[] used */
	uint32_t nreasons;
	uint64_t slot_offset;
	uint64_t slot_size;
	uint64_t hist_offset;
	uint64_t hist_size;
	_Atomic uint32_t state;          /* enum dd_tm_state */
	uint32_t pad0;
	_Atomic uint64_t exit_time_ns;   /* CLOCK_REALTIME when the instance exited cleanly */
	struct dd_tm_desc stage[DD_TM_MAX_STAGES];
	struct dd_tm_desc counter[DD_TM_MAX_COUNTERS];
	char reason_names[DD_TM_MAX_REASONS][DD_TM_NAME];
};

struct dd_tm_slot {
	/* identity: written before publication, constant afterwards */
	uint32_t lcore;
	uint32_t role;                   /* enum dd_tm_role */
	char name[DD_TM_NAME];           /* "rx", "worker0", ... */
	/* written by the slot's lcore with relaxed stores, read by anyone */
	alignas(64) _Atomic uint64_t counter[DD_TM_MAX_COUNTERS]; /* the header's counter table names them */
	_Atomic uint64_t publish_tsc;    /* TSC of the last publication */
	_Atomic uint64_t reasons[DD_TM_MAX_REASONS]; /* drops and errors by reason (header names them) */
};

/* The layout readers of v3 rely on (v3: 128 counters a slot, v2 had 64): pinned so that a change shows up as a build failure, not as a
 * reader that misreads a segment. */
_Static_assert(offsetof(struct dd_tm_header, magic) == 0, "magic first");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && alignof(_Atomic uint64_t) == 8, "plain 64-bit words in shm");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "plain 32-bit words in shm");
_Static_assert(sizeof(struct dd_tm_desc) == 32, "table entries are 32 bytes");
_Static_assert(offsetof(struct dd_tm_header, instance) == 56, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, nslots) == 88, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, slot_offset) == 104, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, state) == 136, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, exit_time_ns) == 144, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, stage) == 152, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, counter) == 152 + 32 * DD_TM_MAX_STAGES, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_header, reason_names) == 152 + 32 * (DD_TM_MAX_STAGES + DD_TM_MAX_COUNTERS),
	       "header v3 layout");
_Static_assert(sizeof(struct dd_tm_header) == 152 + 32 * (DD_TM_MAX_STAGES + DD_TM_MAX_COUNTERS) +
	       DD_TM_NAME * DD_TM_MAX_REASONS, "header v3 layout");
_Static_assert(offsetof(struct dd_tm_slot, name) == 8 && offsetof(struct dd_tm_slot, counter) == 64, "slot v3 layout");
_Static_assert(offsetof(struct dd_tm_slot, publish_tsc) == 64 + 8 * DD_TM_MAX_COUNTERS, "slot v3 layout");
_Static_assert(offsetof(struct dd_tm_slot, reasons) == 72 + 8 * DD_TM_MAX_COUNTERS, "slot v3 layout");
_Static_assert(sizeof(struct dd_tm_slot) == 1408, "slot v3 layout: 1352 bytes on whole cache lines");

/* Counter `i` (enum dd_tm_counter, or an index a layout returned) of slot `s`. */
static inline _Atomic uint64_t *dd_tm_counter(struct dd_tm_slot *s, unsigned i)
{
	return &s->counter[i];
}

/* The histogram parameters every telemetry histogram uses: 1 ns .. 60 s, 3 significant digits. */
extern const struct dd_hdr_params dd_tm_hdr_params;

/*
 * What a segment describes, built before it is created: the pipeline's stages and counters
 * (dd_tm_layout_init), then each operator's (dd_tm_layout_stage, dd_tm_layout_counter), and the
 * drop-reason names (filled directly). Names are not copied: they must outlive dd_tm_create().
 */
struct dd_tm_layout {
	unsigned nstages;
	const char *stage[DD_TM_MAX_STAGES];      /* names; the pipeline's first */
	unsigned ncounters;
	struct {
		const char *name;
		unsigned kind;                    /* DD_TM_KIND_COUNTER or DD_TM_KIND_GAUGE */
	} counter[DD_TM_MAX_COUNTERS];
	unsigned nreasons;
	const char *reason[DD_TM_MAX_REASONS];
};

/* Fill `l` with the pipeline's own stages and counters (DD_TM_STAGE__PIPELINE, DD_TM_C__PIPELINE) and no reasons. */
void dd_tm_layout_init(struct dd_tm_layout *l);

/*
 * Add a stage (a latency histogram per slot) / a counter of kind DD_TM_KIND_COUNTER or
 * DD_TM_KIND_GAUGE. Returns its index (what dd_tm_hist() / dd_tm_counter() take), or -ENOSPC (the
 * table holds DD_TM_MAX_STAGES / DD_TM_MAX_COUNTERS entries already) or -EINVAL (name NULL, empty,
 * DD_TM_NAME bytes or longer, or already in the table; or, for a counter, another kind).
 */
int dd_tm_layout_stage(struct dd_tm_layout *l, const char *name);
int dd_tm_layout_counter(struct dd_tm_layout *l, const char *name, unsigned kind);

/* A mapped segment, writer or reader side. */
struct dd_tm {
	struct dd_tm_header *hdr;  /* read-only mapping on the reader side */
	size_t size;
	bool writer;
	int fd;                    /* writer: the object, flock'ed for the writer's lifetime */
	char path[64];             /* shm object name, "/dadar-NAME" */
};

/* Bytes a segment with `nslots` slots and `nstages` stages (histograms per slot) takes. */
size_t dd_tm_segment_size(unsigned nslots, unsigned nstages);

/*
 * Create the segment of instance `instance` with `nslots` slots (1..DD_TM_MAX_SLOTS) holding the
 * stages, counters and reason names of layout `l`, which must begin with the pipeline's own (as
 * dd_tm_layout_init() leaves it), so that the indexes of enum dd_tm_stage and enum dd_tm_counter
 * are valid in every segment. A segment left by a process that is gone is replaced (*replaced is set
 * if that process did not exit cleanly); a live owner makes it fail with -EEXIST. The segment is not
 * visible to readers until dd_tm_publish(). Returns 0 or -errno with a message in err: -EINVAL for
 * a slot count, instance name or layout out of range (the message names the limit).
 */
int dd_tm_create(struct dd_tm *tm, const char *instance, unsigned nslots, uint64_t tsc_hz,
		 const struct dd_tm_layout *l, bool *replaced, char *err, size_t errlen);

/* Make the segment visible (magic stored with release order) and mark it running. */
void dd_tm_publish(struct dd_tm *tm);

/* Mark the segment exited (it stays for readers) and unmap it. */
void dd_tm_close(struct dd_tm *tm, bool exited);

/*
 * Map instance `instance`'s segment read-only. Returns 0; -ENOENT (no such instance), -EACCES
 * (permission denied), -EPROTO (not a telemetry segment, or a major version this reader does not
 * know), -EBADMSG (sizes or offsets that do not fit the object, or stage and counter tables that are
 * out of range, hold a name that is empty, unterminated or used twice); with a message that says
 * which.
 */
int dd_tm_attach(struct dd_tm *tm, const char *instance, char *err, size_t errlen);

/* Unmap a segment attached with dd_tm_attach(). */
void dd_tm_detach(struct dd_tm *tm);

/* Index of the stage / counter named `name` in an attached or created segment, or -ENOENT. */
int dd_tm_stage_find(const struct dd_tm *tm, const char *name);
int dd_tm_counter_find(const struct dd_tm *tm, const char *name);

/* Name of stage `i` as the header holds it, or NULL if the segment has no stage `i`. */
const char *dd_tm_stage_name_at(const struct dd_tm *tm, unsigned i);

static inline struct dd_tm_slot *dd_tm_slot(const struct dd_tm *tm, unsigned s)
{
	return (struct dd_tm_slot *)(void *)((char *)tm->hdr + tm->hdr->slot_offset + (size_t)s * tm->hdr->slot_size);
}

static inline struct dd_hdr *dd_tm_hist(const struct dd_tm *tm, unsigned s, unsigned stage)
{
	return (struct dd_hdr *)(void *)((char *)tm->hdr + tm->hdr->hist_offset +
					 ((size_t)s * tm->hdr->nstages + stage) * tm->hdr->hist_size);
}

/* Is the process that created the segment still running (same pid, same start)? */
bool dd_tm_owner_alive(const struct dd_tm_header *h);

/* Single-writer counter update: a relaxed store of the writer's private value. */
static inline void dd_tm_set(_Atomic uint64_t *c, uint64_t v)
{
	/* Pairs with relaxed loads in readers: only atomicity is needed, no ordering with other data. */
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t dd_tm_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/*
 * TSC ticks → nanoseconds without a division on the data path: ns = (ticks * mult + half) >> 52,
 * with mult = 10^9 * 2^52 / tsc_hz rounded once at start. The product is 128-bit; the result is
 * the exact value rounded to the nearest nanosecond for any interval below about 10^6 s.
 */
#define DD_TSC_SHIFT 52

struct dd_tsc_conv {
	uint64_t mult;
};

static inline void dd_tsc_conv_init(struct dd_tsc_conv *c, uint64_t tsc_hz)
{
	unsigned __int128 num = (unsigned __int128)1000000000u << DD_TSC_SHIFT;
	c->mult = tsc_hz ? (uint64_t)((num + tsc_hz / 2) / tsc_hz) : 0;
}

static inline uint64_t dd_tsc_to_ns(const struct dd_tsc_conv *c, uint64_t ticks)
{
	unsigned __int128 p = (unsigned __int128)ticks * c->mult + ((unsigned __int128)1 << (DD_TSC_SHIFT - 1));
	return (uint64_t)(p >> DD_TSC_SHIFT);
}

#endif /* DD_SHM_TELEMETRY_H */
