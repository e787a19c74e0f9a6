/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_OUT_OUTHIST_H
#define DD_DATAPLANE_OUT_OUTHIST_H

/*
 * The most recent released outputs, by number, in memory: one writer (the release stage, on its
 * lcore: no lock, no syscall) and any number of readers on other threads (the retransmission server,
 * the JetStream bridge), which may lose a race with the writer overwriting a slot and then learn it
 * (a per-slot sequence lock: a torn copy is never returned). Output n lives in slot n % size until
 * output n + size replaces it. DPDK-free; the memory is the caller's (dd_outhist_bytes()).
 */

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/output.h"

struct dd_outhist_slot {
	_Atomic uint64_t ver;   /* 2n + 1 while output n is written, 2n + 2 once it is there */
	uint64_t lsn;
	struct dd_output o;
};

struct dd_outhist {
	uint64_t mask;          /* slots - 1 */
	alignas(64) _Atomic uint64_t last;  /* the newest output put (0: none) */
	alignas(64) struct dd_outhist_slot slot[];
};

/* Bytes for a history of `slots` outputs (a power of two). */
static inline size_t dd_outhist_bytes(uint64_t slots)
{
	return sizeof(struct dd_outhist) + slots * sizeof(struct dd_outhist_slot);
}

/* Initialise `mem` (dd_outhist_bytes(slots), zeroed) as a history of `slots` outputs (a power of two). */
static inline struct dd_outhist *dd_outhist_init(void *mem, uint64_t slots)
{
	struct dd_outhist *h = mem;
	h->mask = slots - 1;
	atomic_store_explicit(&h->last, 0, memory_order_relaxed);
	return h;
}

/* The writer: output n (each one greater than the last) journaled at lsn. */
static inline void dd_outhist_put(struct dd_outhist *h, uint64_t n, uint64_t lsn, const struct dd_output *o)
{
	struct dd_outhist_slot *s = &h->slot[n & h->mask];
	atomic_store_explicit(&s->ver, 2 * n + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release); /* the odd version is seen before any byte changes */
	s->lsn = lsn;
	memcpy(&s->o, o, sizeof(*o));
	atomic_store_explicit(&s->ver, 2 * n + 2, memory_order_release);
	atomic_store_explicit(&h->last, n, memory_order_release);
}

/* The newest output put (0: none yet). */
static inline uint64_t dd_outhist_last(const struct dd_outhist *h)
{
	return atomic_load_explicit(&h->last, memory_order_acquire);
}

/* A reader: output n, if the history still holds it. */
static inline bool dd_outhist_get(const struct dd_outhist *h, uint64_t n, uint64_t *lsn, struct dd_output *o)
{
	const struct dd_outhist_slot *s = &h->slot[n & h->mask];
	uint64_t v = atomic_load_explicit(&s->ver, memory_order_acquire);
	if (v != 2 * n + 2)
		return false;
	*lsn = s->lsn;
	memcpy(o, &s->o, sizeof(*o));
	atomic_thread_fence(memory_order_acquire); /* the copy is done before the version is read again */
	return atomic_load_explicit(&s->ver, memory_order_relaxed) == v;
}

#endif /* DD_DATAPLANE_OUT_OUTHIST_H */
