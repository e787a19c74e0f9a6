/* SPDX-License-Identifier: MIT */
/* rte_eth_read_clock() (NIC clock for RX timestamps) is still experimental in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API 1
#include "dataplane/dpdk/port.h"

#include "dataplane/config/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

/* One (device clock, TSC) pair, the TSC taken as the midpoint around the clock read. */
static int clock_sample(uint16_t port, uint64_t *clk, uint64_t *tsc)
{
	uint64_t a = rte_rdtsc();
	int rc = rte_eth_read_clock(port, clk);
	uint64_t b = rte_rdtsc();
	*tsc = a + (b - a) / 2;
	return rc;
}

unsigned dd_ports_calibrate(struct dd_ports *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->n; i++) {
		uint64_t clk, tsc;
		if (!p->hwts[i] || clock_sample(p->id[i], &clk, &tsc) != 0)
			continue;
		/* the ratio over the whole run since the first sample; the offset from this sample */
		uint64_t mult = dd_clock_ratio(tsc - p->base_tsc[i], clk - p->base_clk[i]);
		if (mult != 0) {
			dd_clockmap_set(&p->clock[i], clk, tsc, mult);
			n++;
		}
	}
	return n;
}

/*
 * Use the NIC's RX timestamps on port index i if its driver offers them and its clock can be
 * read: register the mbuf field, take a first sample, and after 10 ms a second one for the first
 * mapping. Anything missing leaves the port on the TSC at the poll.
 */
static void setup_hw_timestamps(struct dd_ports *p, unsigned i)
{
	uint16_t port = p->id[i];
	if (p->ts_offset < 0 && rte_mbuf_dyn_rx_timestamp_register(&p->ts_offset, &p->ts_flag) != 0) {
		p->ts_offset = -1;
		return;
	}
	if (clock_sample(port, &p->base_clk[i], &p->base_tsc[i]) != 0) {
		dd_log(DD_LOG_WARNING, "port %u timestamps packets but its clock cannot be read: using the TSC at the poll",
			port);
		return;
	}
	rte_delay_ms(10);
	p->hwts[i] = true;
	if (dd_ports_calibrate(p) == 0)
		p->hwts[i] = false;
}

static int start_port(uint16_t port, const struct dd_config *c, struct rte_mempool *pool, bool *want_ts,
		      char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	char name[RTE_ETH_NAME_MAX_LEN] = "?";
	rte_eth_dev_get_name_by_port(port, name);
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): cannot read device info: %s", port, name, rte_strerror(-rc));
		return rc;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	*want_ts = c->nic_timestamps && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP);
	if (*want_ts)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	uint16_t ntx = info.max_tx_queues > 0 ? 1 : 0;
	rc = rte_eth_dev_configure(port, 1, ntx, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): rte_eth_dev_configure(1 rx queue, %u tx) failed: %s", port, name,
			 ntx, rte_strerror(-rc));
		return rc;
	}
	uint16_t nrx = (uint16_t)c->rx_desc, ntxd = 256;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntxd);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): no valid descriptor count near rx_desc = %u: %s", port, name,
			 c->rx_desc, rte_strerror(-rc));
		return rc;
	}
	int socket = rte_eth_dev_socket_id(port);
	rc = rte_eth_rx_queue_setup(port, 0, nrx, socket < 0 ? SOCKET_ID_ANY : (unsigned)socket, NULL, pool);
	if (rc != 0) {
		snprintf(err, errlen,
			 "port %u (%s): RX queue setup with %u descriptors failed: %s (a pcap replayed with "
			 "infinite_rx=1 is loaded into mbufs first: raise --mbufs above its packet count)",
			 port, name, nrx, rte_strerror(-rc));
		return rc;
	}
	if (ntx) {
		rc = rte_eth_tx_queue_setup(port, 0, ntxd, socket < 0 ? SOCKET_ID_ANY : (unsigned)socket, NULL);
		if (rc != 0) {
			snprintf(err, errlen, "port %u (%s): TX queue setup failed: %s", port, name, rte_strerror(-rc));
			return rc;
		}
	}
	/* Not every driver can (net_pcap on a file cannot, and needs neither): best effort. */
	(void)rte_eth_promiscuous_enable(port);
	(void)rte_eth_allmulticast_enable(port);
	rc = rte_eth_dev_start(port);
	if (rc != 0) {
		snprintf(err, errlen, "port %u (%s): start failed: %s", port, name, rte_strerror(-rc));
		return rc;
	}
	return 0;
}

int dd_ports_start(struct dd_ports *p, const struct dd_config *c, int socket, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	uint16_t port;
	RTE_ETH_FOREACH_DEV(port) {
		if (p->n == DD_MAX_PORTS) {
			snprintf(err, errlen, "more than %d ports: dadar polls at most %d", DD_MAX_PORTS, DD_MAX_PORTS);
			return -E2BIG;
		}
		p->id[p->n++] = port;
	}
	if (p->n == 0) {
		snprintf(err, errlen,
			 "no Ethernet ports. Bind a NIC to vfio-pci (dpdk-devbind.py -b vfio-pci 0000:01:00.0) and "
			 "allow it (-a 0000:01:00.0), or give a virtual device, e.g. --vdev "
			 "net_pcap0,rx_pcap=feed.pcap (with --no-huge --no-pci -m 512 on a machine without hugepages "
			 "or NICs)");
		return -ENODEV;
	}
	p->pool = rte_pktmbuf_pool_create("dd_mbufs", c->mbufs, 256, 0, (uint16_t)c->mbuf_size, socket);
	if (p->pool == NULL) {
		snprintf(err, errlen,
			 "cannot allocate %u mbufs of %u bytes (%.0f MB) on socket %d: %s. With --no-huge raise -m "
			 "(DPDK's memory in MB); with hugepages reserve more (dpdk-hugepages.py --setup 2G); or lower "
			 "--mbufs",
			 c->mbufs, c->mbuf_size, (double)c->mbufs * (c->mbuf_size + 192) / 1e6, socket,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	p->ts_offset = -1;
	for (unsigned i = 0; i < p->n; i++) {
		bool want_ts;
		int rc = start_port(p->id[i], c, p->pool, &want_ts, err, errlen);
		if (rc != 0) {
			p->n = i; /* only the started ones get stopped */
			return rc;
		}
		if (want_ts)
			setup_hw_timestamps(p, i);
	}
	return 0;
}

void dd_ports_stop(struct dd_ports *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		(void)rte_eth_dev_stop(p->id[i]);
		(void)rte_eth_dev_close(p->id[i]);
	}
	p->n = 0;
	rte_mempool_free(p->pool);
	p->pool = NULL;
}

void dd_ports_report(const struct dd_ports *p, FILE *out)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct rte_eth_stats st;
		char name[RTE_ETH_NAME_MAX_LEN] = "?";
		rte_eth_dev_get_name_by_port(p->id[i], name);
		if (rte_eth_stats_get(p->id[i], &st) != 0)
			continue;
		fprintf(out, "  port %u   %s: received %llu, missed %llu, errors %llu, no mbuf %llu; RX time from %s\n",
			p->id[i], name, (unsigned long long)st.ipackets, (unsigned long long)st.imissed,
			(unsigned long long)st.ierrors, (unsigned long long)st.rx_nombuf,
			p->hwts[i] ? "the NIC's timestamps" : "the TSC at the poll");
	}
}
