/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_PORT_H
#define DD_DATAPLANE_PORT_H

/*
 * Ethernet port setup: every DPDK port (a PCI NIC, net_pcap, net_af_packet, net_memif, net_ring,
 * net_null, ...) gets one RX queue fed from one mbuf pool, promiscuous and all-multicast where the
 * driver supports them, so multicast feed groups arrive without joins on a mirror or a tap.
 */

#include <stddef.h>
#include <stdint.h>

#include <rte_mempool.h>

#include "dataplane/config/config.h"
#include "dataplane/config/timing.h"

#define DD_MAX_PORTS 32

struct dd_ports {
	uint16_t id[DD_MAX_PORTS];
	unsigned n;
	struct rte_mempool *pool;
	/* NIC RX timestamps: the mbuf field and flag (registered once), and per port whether the
	 * driver timestamps and the mapping of its clock onto the TSC */
	int ts_offset;
	uint64_t ts_flag;
	bool hwts[DD_MAX_PORTS];
	struct dd_clockmap clock[DD_MAX_PORTS];
	uint64_t base_clk[DD_MAX_PORTS], base_tsc[DD_MAX_PORTS]; /* first calibration sample */
};

/*
 * Sample each timestamping port's clock against the TSC and republish its mapping (the control
 * thread calls it about once a second, so clock drift stays bounded). Returns how many ports.
 */
unsigned dd_ports_calibrate(struct dd_ports *p);

/* Configure and start every port. Returns 0 or -errno with a message saying how to fix it. */
int dd_ports_start(struct dd_ports *p, const struct dd_config *c, int socket, char *err, size_t errlen);

/* Stop and close every port started by dd_ports_start(). */
void dd_ports_stop(struct dd_ports *p);

/* Print one line per port with the driver's counters (received, missed, errors, no mbuf). */
void dd_ports_report(const struct dd_ports *p, FILE *out);

#endif /* DD_DATAPLANE_PORT_H */
