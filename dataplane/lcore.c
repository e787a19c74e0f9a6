/* SPDX-License-Identifier: MIT */
#include "dataplane/lcore.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include "dataplane/frame.h"

/* ---- event consumers ------------------------------------------------------------------------ */

/* Run to completion: the RX lcore applies its own events. */
static void rtc_flush(struct dd_sink *s)
{
	struct dd_rx_ctx *c = s->ctx;
	/* Prefetching the order slots of event i + 4..16 was measured and gained nothing: see
	 * docs/benchmarks.md. */
	for (unsigned i = 0; i < s->n; i++)
		dd_book_apply(&c->books[s->ev[i].source], &s->ev[i]);
	s->n = 0;
}

/*
 * Hand a worker's staged events to its ring. A full ring is backpressure, never a drop: the RX lcore
 * waits (counting each retry), its NIC queue fills, and the NIC's own drop counters say so.
 */
static void push_batch(struct dd_rx_ctx *c, unsigned w)
{
	unsigned n = c->nbatch[w], done = 0;
	while (done < n) {
		done += rte_ring_enqueue_burst_elem(c->workers[w].ring, c->batch[w] + done, sizeof(struct dd_event),
						    n - done, NULL);
		if (done < n)
			c->st.ring_full++;
	}
	c->nbatch[w] = 0;
}

static inline void stage(struct dd_rx_ctx *c, unsigned w, const struct dd_event *ev)
{
	c->batch[w][c->nbatch[w]++] = *ev;
	if (c->nbatch[w] == DD_WORKER_BURST)
		push_batch(c, w);
}

/*
 * Staged: partition by instrument so each book lives on exactly one worker. Events about no
 * instrument (system events, locate 0) go to every worker so each shard sees the same day.
 */
static void staged_flush(struct dd_sink *s)
{
	struct dd_rx_ctx *c = s->ctx;
	const unsigned nw = c->nworkers;
	for (unsigned i = 0; i < s->n; i++) {
		const struct dd_event *ev = &s->ev[i];
		if (ev->key == 0) {
			for (unsigned w = 0; w < nw; w++)
				stage(c, w, ev);
		} else {
			stage(c, (ev->key * 0x9E3779B1u) % nw, ev);
		}
	}
	s->n = 0;
	for (unsigned w = 0; w < nw; w++)
		if (c->nbatch[w])
			push_batch(c, w);
}

void dd_lcore_bind_consumers(struct dd_rx_ctx *c)
{
	c->sink.flush = c->nworkers > 0 ? staged_flush : rtc_flush;
}

/* ---- receive -------------------------------------------------------------------------------- */

static inline void rx_packet(struct dd_rx_ctx *c, struct rte_mbuf *m, uint64_t now)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	size_t len = rte_pktmbuf_data_len(m);
	c->st.packets++;
	c->st.bytes += rte_pktmbuf_pkt_len(m);
	if (unlikely(m->nb_segs > 1)) {
		if (rte_pktmbuf_pkt_len(m) > DD_SCRATCH) {
			c->st.too_long++;
			return;
		}
		len = rte_pktmbuf_pkt_len(m);
		p = rte_pktmbuf_read(m, 0, (uint32_t)len, c->scratch);
	}
	struct dd_udp_view u;
	enum dd_frame_verdict v = dd_frame_udp(p, len, c->frame_flags, &u);
	if (v != DD_FRAME_UDP) {
		c->st.frame[v]++;
		return;
	}
	c->st.udp++;
	for (unsigned f = 0; f < c->nfeeds; f++) {
		int line = dd_feed_line_of(&c->feeds[f], u.dst_ip, u.dst_port, m->port);
		if (line >= 0) {
			dd_feed_rx(&c->feeds[f], u.payload, u.len, (unsigned)line, now, &c->sink);
			return;
		}
	}
	c->st.no_feed++;
}

/* One pass over every queue; returns the number of packets handled. */
static unsigned rx_do_work(struct dd_rx_ctx *c)
{
	struct rte_mbuf *pkts[512];
	unsigned total = 0;
	for (unsigned q = 0; q < c->nq; q++) {
		uint16_t n = rte_eth_rx_burst(c->q[q].port, c->q[q].queue, pkts, (uint16_t)c->burst);
		if (n == 0)
			continue;
		uint64_t now = rte_rdtsc();
		if (c->st.first_tsc == 0)
			c->st.first_tsc = now;
		c->st.last_tsc = now;
		for (uint16_t i = 0; i < n; i++)
			rx_packet(c, pkts[i], now);
		rte_pktmbuf_free_bulk(pkts, n);
		total += n;
	}
	return total;
}

int dd_rx_main(void *arg)
{
	struct dd_rx_ctx *c = arg;
	uint64_t last_rx = rte_rdtsc();
	while (!atomic_load_explicit(&c->ctl->quit, memory_order_acquire)) {
		unsigned n = rx_do_work(c);
		uint64_t now = rte_rdtsc();
		if (n > 0) {
			last_rx = now;
		} else if (c->idle_tsc != 0 && now - last_rx > c->idle_tsc) {
			/* pairs with the acquire loads of every lcore loop */
			atomic_store_explicit(&c->ctl->quit, 1, memory_order_release);
			break;
		}
		for (unsigned f = 0; f < c->nfeeds; f++)
			dd_feed_poll(&c->feeds[f], now, &c->sink);
	}
	/* Whatever the reorder windows still hold is released now, its gaps declared. */
	for (unsigned f = 0; f < c->nfeeds; f++)
		dd_feed_poll(&c->feeds[f], UINT64_MAX, &c->sink);
	if (c->sink.n)
		c->sink.flush(&c->sink);
	/* Pairs with the workers' acquire load: every event enqueued above is visible to them. */
	atomic_store_explicit(&c->ctl->rx_done, 1, memory_order_release);
	return 0;
}

/* ---- workers -------------------------------------------------------------------------------- */

static unsigned worker_do_work(struct dd_worker_ctx *w)
{
	struct dd_event ev[DD_WORKER_BURST];
	unsigned n = rte_ring_dequeue_burst_elem(w->ring, ev, sizeof(ev[0]), DD_WORKER_BURST, NULL);
	for (unsigned i = 0; i < n; i++)
		dd_book_apply(&w->books[ev[i].source], &ev[i]);
	w->events += n;
	w->bursts += n > 0;
	return n;
}

int dd_worker_main(void *arg)
{
	struct dd_worker_ctx *w = arg;
	for (;;) {
		if (worker_do_work(w) > 0)
			continue;
		/* Pairs with the RX lcore's release store: after it, the ring holds all that is left. */
		if (atomic_load_explicit(&w->ctl->rx_done, memory_order_acquire)) {
			while (worker_do_work(w) > 0)
				;
			break;
		}
	}
	return 0;
}
