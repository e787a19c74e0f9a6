/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_RINGCOPY_H
#define DD_DATAPLANE_RINGCOPY_H

/*
 * Records by value through an SPSC rte_ring, copied with memcpy. rte_ring's *_elem calls copy an
 * element of any size other than 8 or 16 bytes four bytes at a time: a 64-byte event is 16 moves
 * each way, a 152-byte journal item 38. Through the zero-copy calls (the space in the ring is
 * reserved, then filled or read in place) the copy is memcpy's, a few vector moves: measured on
 * this VM in one process, a burst of 64 enqueued and dequeued took 17.8 -> 4.4 cycles an event and
 * 46.7 -> 11.9 cycles a journal item (docs/benchmarks.md). Same semantics as the burst calls: up to
 * n are moved, the count is returned.
 *
 * The zero-copy calls need a single-producer, single-consumer ring (RING_F_SP_ENQ | RING_F_SC_DEQ),
 * as every ring of the pipeline is: one producer lcore, one consumer lcore.
 */
#include <stdint.h>
#include <string.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_ring_peek_zc.h>

static inline unsigned dd_ring_enqueue_copy(struct rte_ring *r, const void *obj, unsigned esize, unsigned n)
{
	struct rte_ring_zc_data z;
	unsigned k = rte_ring_enqueue_zc_burst_elem_start(r, esize, n, &z, NULL);
	if (k == 0)
		return 0;
	unsigned a = z.n1 < k ? z.n1 : k; /* the rest, if any, wraps to the ring's start */
	memcpy(z.ptr1, obj, (size_t)a * esize);
	if (k > a)
		memcpy(z.ptr2, (const uint8_t *)obj + (size_t)a * esize, (size_t)(k - a) * esize);
	rte_ring_enqueue_zc_elem_finish(r, k);
	return k;
}

/* `avail` (may be NULL): what is left in the ring after. */
static inline unsigned dd_ring_dequeue_copy(struct rte_ring *r, void *obj, unsigned esize, unsigned n,
					    unsigned *avail)
{
	struct rte_ring_zc_data z;
	unsigned k = rte_ring_dequeue_zc_burst_elem_start(r, esize, n, &z, avail);
	if (k == 0)
		return 0;
	unsigned a = z.n1 < k ? z.n1 : k;
	memcpy(obj, z.ptr1, (size_t)a * esize);
	if (k > a)
		memcpy((uint8_t *)obj + (size_t)a * esize, z.ptr2, (size_t)(k - a) * esize);
	rte_ring_dequeue_zc_elem_finish(r, k);
	return k;
}

#endif
