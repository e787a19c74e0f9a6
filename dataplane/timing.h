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

#endif /* DD_DATAPLANE_TIMING_H */
