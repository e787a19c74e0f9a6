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
 *               time, TSC frequency, instance name, the names of the stages and of the drop reasons
 *   slots       nslots x struct dd_tm_slot at slot_offset, slot_size apart: one per lcore that has a
 *               role (RX, worker, ...), written by that lcore only
 *   histograms  nslots x nstages HdrHistograms (shm/hdr.h) at hist_offset, hist_size apart:
 *               histogram (slot s, stage t) is number s * nstages + t, written by slot s's lcore
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
#define DD_TM_MAJOR      1
#define DD_TM_MINOR      1
#define DD_TM_NAME       24
#define DD_TM_INSTANCE   32
#define DD_TM_MAX_SLOTS  64
#define DD_TM_MAX_STAGES 8
#define DD_TM_MAX_REASONS 32

/* Latency stages, in the order of their histograms. */
enum dd_tm_stage {
	DD_TM_RX,      /* RX poll → decoded (includes time held in the reorder window) */
	DD_TM_BOOK,    /* the book operator, per event */
	DD_TM_RING,    /* staged: enqueue on the RX lcore → dequeue on the worker */
	DD_TM_WIRE,    /* RX timestamp → operator output (event applied, decision available) */
	DD_TM_JOURNAL, /* journal: record handed to the journal stage → durable */
	DD_TM_STAGES
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
	uint32_t nstages;
	uint32_t nreasons;
	uint32_t pad0;
	uint64_t slot_offset;
	uint64_t slot_size;
	uint64_t hist_offset;
	uint64_t hist_size;
	char stage_names[DD_TM_MAX_STAGES][DD_TM_NAME];
	char reason_names[DD_TM_MAX_REASONS][DD_TM_NAME];
	_Atomic uint32_t state;          /* enum dd_tm_state */
	uint32_t pad1;
	_Atomic uint64_t exit_time_ns;   /* CLOCK_REALTIME when the instance exited cleanly */
};

struct dd_tm_slot {
	/* identity: written before publication, constant afterwards */
	uint32_t lcore;
	uint32_t role;                   /* enum dd_tm_role */
	char name[DD_TM_NAME];           /* "rx", "worker0", ... */
	/* counters: written by the slot's lcore with relaxed stores, read by anyone */
	alignas(64) _Atomic uint64_t packets;
	_Atomic uint64_t bytes;
	_Atomic uint64_t events;         /* events produced (RX) or applied (worker, rtc RX) */
	_Atomic uint64_t gaps;
	_Atomic uint64_t missing;
	_Atomic uint64_t duplicates;
	_Atomic uint64_t ring_used;      /* worker: its ring's occupancy at the last dequeue */
	_Atomic uint64_t ring_high_water;
	_Atomic uint64_t ring_size;
	_Atomic uint64_t ring_full;      /* RX, staged: enqueues that found a ring full */
	_Atomic uint64_t publish_tsc;    /* TSC of the last publication */
	_Atomic uint64_t reasons[DD_TM_MAX_REASONS]; /* drops and errors by reason (header names them) */
	/* journal lcore (since v1.1): */
	_Atomic uint64_t jrn_lsn_written;  /* last LSN appended */
	_Atomic uint64_t jrn_lsn_durable;  /* last LSN durable at the configured sync level */
	_Atomic uint64_t jrn_commits;      /* group commits completed */
	_Atomic uint64_t jrn_released;     /* outputs released */
};

_Static_assert(offsetof(struct dd_tm_header, magic) == 0, "magic first");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && alignof(_Atomic uint64_t) == 8, "plain 64-bit words in shm");
_Static_assert(sizeof(struct dd_tm_slot) % 64 == 0, "slots are whole cache lines");

/* Name of stage `s` ("rx", "book", "ring", "wire_to_decision", "journal"). */
const char *dd_tm_stage_name(enum dd_tm_stage s);

/* The histogram parameters every telemetry histogram uses: 1 ns .. 60 s, 3 significant digits. */
extern const struct dd_hdr_params dd_tm_hdr_params;

/* A mapped segment, writer or reader side. */
struct dd_tm {
	struct dd_tm_header *hdr;  /* read-only mapping on the reader side */
	size_t size;
	bool writer;
	int fd;                    /* writer: the object, flock'ed for the writer's lifetime */
	char path[64];             /* shm object name, "/dadar-NAME" */
};

/* Bytes a segment with `nslots` slots takes. */
size_t dd_tm_segment_size(unsigned nslots);

/*
 * Create the segment of instance `instance` with `nslots` slots (1..DD_TM_MAX_SLOTS) and reason
 * names `reasons[nreasons]`. A segment left by a process that is gone is replaced (*replaced is
 * set if that process did not exit cleanly); a live owner makes it fail with -EEXIST. The segment is not visible to readers until
 * dd_tm_publish(). Returns 0 or -errno with a message in err.
 */
int dd_tm_create(struct dd_tm *tm, const char *instance, unsigned nslots, uint64_t tsc_hz,
		 const char *const *reasons, unsigned nreasons, bool *replaced, char *err, size_t errlen);

/* Make the segment visible (magic stored with release order) and mark it running. */
void dd_tm_publish(struct dd_tm *tm);

/* Mark the segment exited (it stays for readers) and unmap it. */
void dd_tm_close(struct dd_tm *tm, bool exited);

/*
 * Map instance `instance`'s segment read-only. Returns 0; -ENOENT (no such instance), -EACCES
 * (permission denied), -EPROTO (not a telemetry segment, or a major version this reader does not
 * know), -EBADMSG (sizes or offsets that do not fit the object); with a message that says which.
 */
int dd_tm_attach(struct dd_tm *tm, const char *instance, char *err, size_t errlen);

/* Unmap a segment attached with dd_tm_attach(). */
void dd_tm_detach(struct dd_tm *tm);

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
