/* SPDX-License-Identifier: MIT */
#include "dataplane/dpdk/outtx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dataplane/wire/framew.h"
#include "dataplane/wire/molddg.h"
#include "dataplane/wire/outwire.h"

#define POOL_MBUFS 1023u

struct dd_outtx {
	uint16_t port;
	struct rte_mempool *pool;
	struct dd_framew_flow flow;
	uint16_t ip_id;
	uint64_t hb_tsc, retry_tsc;
	uint64_t last_tsc;           /* when the last datagram was handed to the port (or started) */
	struct rte_mbuf *q[DD_OUTTX_QUEUE];
	unsigned qhead, qn;          /* frames waiting for the port */
	uint64_t q_since;            /* when the oldest waiting frame was first refused (0: not refused) */
	struct dd_outtx_stats st;
	struct dd_molddg mold;       /* last: 9 KB of datagram buffer */
};

int dd_outtx_create(struct dd_outtx **out, const struct dd_outtx_params *p, char *err, size_t errlen)
{
	struct dd_outtx *t = rte_zmalloc_socket("output tx", sizeof(*t), 64, p->socket);
	if (t == NULL) {
		snprintf(err, errlen, "output_udp: out of memory (raise -m)");
		return -ENOMEM;
	}
	if (dd_molddg_init(&t->mold, p->session, p->next_seq, p->mtu) != 0) {
		snprintf(err, errlen, "output_udp: session '%s', first number %llu, mtu %u: refused", p->session,
			 (unsigned long long)p->next_seq, p->mtu);
		rte_free(t);
		return -EINVAL;
	}
	struct rte_ether_addr mac;
	if (rte_eth_macaddr_get(p->port, &mac) != 0) {
		snprintf(err, errlen, "output_udp: DPDK port %u does not exist (ports: 0 .. %u)", p->port,
			 rte_eth_dev_count_avail() ? rte_eth_dev_count_avail() - 1u : 0u);
		rte_free(t);
		return -ENODEV;
	}
	t->port = p->port;
	memcpy(t->flow.src_mac, mac.addr_bytes, 6);
	if (p->have_mac)
		memcpy(t->flow.dst_mac, p->dst_mac, 6);
	else if ((p->group >> 28) == 0xe)
		dd_framew_mcast_mac(p->group, t->flow.dst_mac);
	else
		memset(t->flow.dst_mac, 0xff, 6);
	t->flow.src_ip = p->src_ip;
	t->flow.dst_ip = p->group;
	t->flow.src_port = p->src_port;
	t->flow.dst_port = p->dport;
	uint64_t hz = rte_get_tsc_hz();
	t->hb_tsc = p->heartbeat_ms * hz / 1000;
	t->retry_tsc = DD_OUTTX_RETRY_US * hz / 1000000;
	t->last_tsc = rte_rdtsc();
	t->st.next_seq = p->next_seq;
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "dd_outtx_%u", p->port);
	unsigned room = RTE_PKTMBUF_HEADROOM + DD_FRAMEW_UDP_HDR(0) + p->mtu + DD_FRAMEW_ETH_MIN_LEN;
	t->pool = rte_pktmbuf_pool_create(name, POOL_MBUFS, 32, 0, (uint16_t)room, p->socket);
	if (t->pool == NULL) {
		snprintf(err, errlen, "output_udp: cannot create a pool of %u mbufs of %u bytes: %s (raise -m)", POOL_MBUFS,
			 room, rte_strerror(rte_errno));
		rte_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void dd_outtx_destroy(struct dd_outtx *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->qn; i++)
		rte_pktmbuf_free(t->q[(t->qhead + i) % DD_OUTTX_QUEUE]);
	rte_mempool_free(t->pool);
	rte_free(t);
}

/* One datagram into a frame at the back of the queue (dropped and counted if it cannot be). */
static void enqueue(struct dd_outtx *t, const uint8_t *dg, size_t len)
{
	struct rte_mbuf *m = t->qn < DD_OUTTX_QUEUE ? rte_pktmbuf_alloc(t->pool) : NULL;
	if (m == NULL) {
		t->st.tx_dropped++;
		return;
	}
	uint8_t *b = rte_pktmbuf_mtod(m, uint8_t *);
	size_t hdr = DD_FRAMEW_UDP_HDR(0);
	memcpy(b + hdr, dg, len);
	int n = dd_framew_build_udp(b, rte_pktmbuf_tailroom(m), &t->flow, t->ip_id++, b + hdr, len);
	if (n < 0) { /* cannot happen: the pool's room is sized for mtu */
		rte_pktmbuf_free(m);
		t->st.tx_dropped++;
		return;
	}
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	t->q[(t->qhead + t->qn++) % DD_OUTTX_QUEUE] = m;
}

static void send_queue(struct dd_outtx *t, uint64_t now)
{
	while (t->qn > 0) {
		unsigned run = DD_OUTTX_QUEUE - t->qhead < t->qn ? DD_OUTTX_QUEUE - t->qhead : t->qn;
		uint16_t sent = rte_eth_tx_burst(t->port, 0, &t->q[t->qhead], (uint16_t)run);
		t->qhead = (t->qhead + sent) % DD_OUTTX_QUEUE;
		t->qn -= sent;
		t->st.datagrams += sent;
		if (sent > 0) {
			t->q_since = 0;
			t->last_tsc = now;
		}
		if (sent < run)
			break;
	}
	if (t->qn == 0)
		return;
	if (t->q_since == 0) {
		t->q_since = now;
		t->st.tx_full++;
	} else if (now - t->q_since > t->retry_tsc) {
		/* the port took nothing for the whole bound: give the waiting frames up */
		for (; t->qn > 0; t->qn--, t->qhead = (t->qhead + 1) % DD_OUTTX_QUEUE) {
			rte_pktmbuf_free(t->q[t->qhead]);
			t->st.tx_dropped++;
		}
		t->q_since = 0;
	}
}

/*
 * Close the open datagram into a frame. A commit can release thousands of outputs between two
 * polls: the frames go to the port a burst at a time as they fill, and the queue only holds what
 * the port would not take.
 */
static void close_datagram(struct dd_outtx *t, uint64_t now)
{
	const uint8_t *dg;
	uint64_t ts;
	size_t len = dd_molddg_flush(&t->mold, &dg, &ts);
	if (len == 0)
		return;
	t->st.bytes += len;
	if (t->qn == DD_OUTTX_QUEUE)
		send_queue(t, now);
	enqueue(t, dg, len);
	if (t->qn >= DD_OUTTX_BURST)
		send_queue(t, now);
}

void dd_outtx_add(struct dd_outtx *t, uint64_t lsn, const struct dd_output *o, uint64_t now)
{
	uint8_t msg[DD_OUTW_MAX_LEN];
	size_t len = dd_outw_encode(msg, lsn, o);
	if (len == 0)
		return;
	if (dd_molddg_add(&t->mold, msg, len, now) == -ENOSPC) {
		/* the TSC here, not `now`: the caller may not keep one, and the retry bound and the
		 * heartbeat's idle time count from when frames went to the port */
		close_datagram(t, rte_rdtsc());
		dd_molddg_add(&t->mold, msg, len, now); /* an empty datagram holds any message: mtu >= 142 */
	}
	t->st.messages++;
	t->st.next_seq++;
}

void dd_outtx_poll(struct dd_outtx *t, uint64_t now)
{
	if (dd_molddg_pending(&t->mold) > 0)
		close_datagram(t, now);
	else if (t->hb_tsc != 0 && t->qn == 0 && now - t->last_tsc >= t->hb_tsc) {
		uint8_t hb[DD_MOLDDG_HDR_LEN];
		enqueue(t, hb, dd_molddg_heartbeat(&t->mold, hb));
		t->st.heartbeats++;
		t->last_tsc = now;
	}
	if (t->qn > 0)
		send_queue(t, now);
}

void dd_outtx_end(struct dd_outtx *t)
{
	close_datagram(t, rte_rdtsc());
	uint8_t eos[DD_MOLDDG_HDR_LEN];
	enqueue(t, eos, dd_molddg_end(&t->mold, eos));
	uint64_t deadline = rte_rdtsc() + t->retry_tsc;
	while (t->qn > 0 && rte_rdtsc() < deadline)
		send_queue(t, rte_rdtsc());
	t->st.ended = t->qn == 0;
	if (t->qn > 0) {
		t->st.tx_dropped += t->qn;
		for (; t->qn > 0; t->qn--, t->qhead = (t->qhead + 1) % DD_OUTTX_QUEUE)
			rte_pktmbuf_free(t->q[t->qhead]);
	}
}

bool dd_outtx_busy(const struct dd_outtx *t)
{
	return t->qn > 0;
}

const struct dd_outtx_stats *dd_outtx_stats(const struct dd_outtx *t)
{
	return &t->st;
}
