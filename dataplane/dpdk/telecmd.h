/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_DPDK_TELECMD_H
#define DD_DATAPLANE_DPDK_TELECMD_H

/*
 * dadar's commands on DPDK's telemetry socket (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2),
 * beside DPDK's own /ethdev commands: what a running dadar counts, read from the same places dadar-lat and
 * the summary read. They run on DPDK's telemetry thread, never on an lcore; the figures are read
 * while the lcores write them (each value whole, the set not one instant). With --no-telemetry
 * there is no socket and they are not reachable.
 *
 *   /dadar/info      instance, version, pipeline, shards, feeds, payment chain, uptime
 *   /dadar/counters  every described counter, summed over the lcores, then per lcore slot
 *   /dadar/stages    every stage that recorded: count, p50, p90, p99, p99.9, max (ns)
 *   /dadar/journal   LSNs written and durable, records, commits, outputs released, state
 *   /dadar/feeds     per feed: kind, session, next sequence number, gaps, missing, duplicates
 *   /dadar/reload    (dataplane/dpdk/main.c) reload the fraud rules, answering what happened
 */

#include <stdint.h>

#include "dataplane/config/config.h"
#include "dataplane/dpdk/journal.h"
#include "dataplane/wire/feed.h"
#include "shm/telemetry.h"

struct dd_telecmd_ctx {
	const struct dd_config *cfg;
	const struct dd_tm *tm;         /* the telemetry segment (NULL until created) */
	const struct dd_feed *feeds;
	unsigned nfeeds;
	unsigned nshards;
	int payments;                   /* the run has a payment chain */
	const struct dd_journal *journal; /* NULL: none */
	uint64_t start_ns;              /* CLOCK_REALTIME at start */
};

/* Register the commands above; `ctx` must outlive the process's telemetry. Returns 0 or -errno. */
int dd_telecmd_register(const struct dd_telecmd_ctx *ctx);

#endif /* DD_DATAPLANE_DPDK_TELECMD_H */
