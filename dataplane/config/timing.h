/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_TIMING_H
#define DD_DATAPLANE_TIMING_H

/*
 * Latency recording helpers shared by the lcore loops and the benchmarks that measure what timing
 * costs. DPDK-free: the caller reads the TSC.
 *
 * Timing costs two TSC reads per flush (one per datagram, about 44 messages on a NASDAQ feed) and
 * one histogram update per stage per run of events that share an RX time.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops/event.h"
#include "shm/hdr.h"
#include "shm/telemetry.h"

/* Record `ticks` of TSC as nanoseconds, `n` times (n >= 1); h == NULL: the stage is not recorded. */
static inline void dd_timing_rec(struct dd_hdr *h, const struct dd_tsc_conv *conv, uint64_t ticks, uint64_t n)
{
	if (h != NULL)
		dd_hdr_record_n(h, dd_tsc_to_ns(conv, ticks), n);
}

/*
 * For each run of events with the same RX time (timing marks skipped), record t_a - rx_tsc into
 * h_a and t_b - rx_tsc into h_b (either may be NULL): one pass for the two stages a flush ends.
 */
static inline void dd_timing_rec_since_rx(struct dd_hdr *h_a, uint64_t t_a, struct dd_hdr *h_b, uint64_t t_b,
					  const struct dd_tsc_conv *conv, const struct dd_event *ev, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		if (ev[i].type == DD_EV_MARK) {
			i++;
			continue;
		}
		const uint64_t rx = ev[i].rx_tsc;
		unsigned j = i + 1;
		while (j < n && ev[j].rx_tsc == rx && ev[j].type != DD_EV_MARK)
			j++;
		if (h_a != NULL)
			dd_hdr_record_n(h_a, dd_tsc_to_ns(conv, t_a > rx ? t_a - rx : 0), j - i);
		if (h_b != NULL)
			dd_hdr_record_n(h_b, dd_tsc_to_ns(conv, t_b > rx ? t_b - rx : 0), j - i);
		i = j;
	}
}

/*
 * A NIC clock mapped onto the TSC, for ports whose driver timestamps received packets: the
 * control thread samples (device clock, TSC) pairs and publishes tsc = tsc0 + (clk - clk0) * mult
 * / 2^48 with a sequence lock; the RX lcore reads a consistent copy once per burst. Before the
 * first calibration (mult == 0) the map is unusable and the poll's TSC is used instead.
 */
struct dd_clockmap {
	_Atomic uint64_t seq; /* odd while the writer is inside */
	_Atomic uint64_t clk0;
	_Atomic uint64_t tsc0;
	_Atomic uint64_t mult; /* TSC ticks per device tick, 16.48 fixed point */
};

struct dd_clockconv {
	uint64_t clk0, tsc0, mult;
};

/* Writer (one thread): publish a new mapping. */
static inline void dd_clockmap_set(struct dd_clockmap *m, uint64_t clk0, uint64_t tsc0, uint64_t mult)
{
	uint64_t s = atomic_load_explicit(&m->seq, memory_order_relaxed);
	atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
	/* orders the odd sequence number before the field stores; pairs with the reader's acquire
	 * fence after its field loads */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&m->clk0, clk0, memory_order_relaxed);
	atomic_store_explicit(&m->tsc0, tsc0, memory_order_relaxed);
	atomic_store_explicit(&m->mult, mult, memory_order_relaxed);
	/* pairs with the reader's acquire load of seq: the fields are visible before the even value */
	atomic_store_explicit(&m->seq, s + 2, memory_order_release);
}

/* Reader: a consistent copy; false if the writer is busy (try again at the next burst). */
static inline bool dd_clockmap_get(const struct dd_clockmap *m, struct dd_clockconv *c)
{
	/* pairs with the writer's final release store */
	uint64_t s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
	if (s1 & 1)
		return false;
	c->clk0 = atomic_load_explicit(&m->clk0, memory_order_relaxed);
	c->tsc0 = atomic_load_explicit(&m->tsc0, memory_order_relaxed);
	c->mult = atomic_load_explicit(&m->mult, memory_order_relaxed);
	/* pairs with the writer's release fence: field loads complete before seq is read again */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&m->seq, memory_order_relaxed) == s1 && c->mult != 0;
}

#define DD_CLOCK_SHIFT 48 /* ratios up to 65536, exact to 2^-49 of a tick per tick */

/* `ticks` device ticks in TSC ticks, rounded to the nearest. */
static inline uint64_t dd_clock_scale(uint64_t ticks, uint64_t mult)
{
	return (uint64_t)(((unsigned __int128)ticks * mult + ((uint64_t)1 << (DD_CLOCK_SHIFT - 1))) >> DD_CLOCK_SHIFT);
}

/* The TSC value of device clock reading `clk` (which may lie before clk0). */
static inline uint64_t dd_clockconv_tsc(const struct dd_clockconv *c, uint64_t clk)
{
	if (clk >= c->clk0)
		return c->tsc0 + dd_clock_scale(clk - c->clk0, c->mult);
	uint64_t back = dd_clock_scale(c->clk0 - clk, c->mult);
	return back < c->tsc0 ? c->tsc0 - back : 0;
}

/* Ratio of two intervals (TSC ticks per device tick) in 16.48 fixed point, rounded; 0 if the
 * device interval is 0 or the ratio does not fit. */
static inline uint64_t dd_clock_ratio(uint64_t dtsc, uint64_t dclk)
{
	if (dclk == 0 || dtsc / dclk >= (1u << (64 - DD_CLOCK_SHIFT)))
		return 0;
	return (uint64_t)((((unsigned __int128)dtsc << DD_CLOCK_SHIFT) + dclk / 2) / dclk);
}

#endif /* DD_DATAPLANE_TIMING_H */
