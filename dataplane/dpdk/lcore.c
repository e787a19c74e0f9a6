/* SPDX-License-Identifier: MIT */
#include "dataplane/dpdk/lcore.h"

#include "ops/cep/cep.h"
#include "ops/window/window.h"

#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include "dataplane/dpdk/ringcopy.h"
#include "dataplane/wire/frame.h"
#include "dataplane/config/timing.h"
#include "ops/cep/cep.h"
#include "ops/fraud/fraud.h"
#include "ops/window/window.h"

/* ---- latency recording (dataplane/config/timing.h says what it costs) ------------------------------- */

static inline void rec_stage(const struct dd_lcore_tm *tm, unsigned stage, uint64_t ticks, uint64_t n)
{
	dd_timing_rec(tm->hist[stage], &tm->conv, ticks, n);
}

/* now_a - rx time into stage a, now_b - rx time into stage b (DD_TM_MAX_STAGES: none), per run */
static inline void rec_since_rx(const struct dd_lcore_tm *tm, unsigned a, uint64_t now_a, unsigned b,
				uint64_t now_b, const struct dd_event *ev, unsigned n)
{
	dd_timing_rec_since_rx(tm->hist[a], now_a, b < DD_TM_MAX_STAGES ? tm->hist[b] : NULL, now_b, &tm->conv, ev, n);
}

/* ---- journal items ---------------------------------------------------------------------------- */

/*
 * Gather one item for the journal. items[] is sized at start for the most one flush can gather
 * (its events, every output its chain can emit, the feed positions), so this never finds it full;
 * the check keeps a broken bound from writing past it.
 */
static inline void jadd(struct dd_jprod *jp, uint16_t type, uint16_t source, uint32_t partition, const void *p,
			uint32_t len, uint64_t tsc)
{
	if (unlikely(jp->n == jp->cap)) {
		jp->overflow++; /* reported at exit, and the run fails: never a silent loss */
		return;
	}
	dd_jitem_fill(&jp->items[jp->n++], type, source, partition, p, (uint16_t)len, tsc, jp->crc);
}

/* Every output the chain derived from the last run, to the journal (which releases them). */
static inline void jadd_outputs(struct dd_jprod *jp, struct dd_chain *ch, uint64_t tsc)
{
	if (jp->ring != NULL)
		for (unsigned i = 0; i < ch->emit.n; i++) {
			const struct dd_output *o = &ch->emit.out[i];
			if (!dd_output_internal(o->type))
				jadd(jp, DD_JREC_OUTPUT, o->source, o->key, o, sizeof(*o), tsc);
		}
	dd_chain_drain(ch);
}

/* Each operator's share of the run, into its stage: what it took, per event. */
static inline void rec_ops(const struct dd_lcore_tm *tm, const struct dd_chain_tm *ct, const struct dd_chain *ch,
			   unsigned n)
{
	for (unsigned k = 0; k < ch->nops; k++)
		dd_timing_rec(ct->hist[k], &tm->conv, ch->op[k].ticks / n, n);
}

uint64_t dd_lcore_clock(void)
{
	return rte_rdtsc();
}

/*
 * Hand the gathered items to the journal. A journal that does not take them within its stall time
 * stops the pipeline taking input (documented policy): nothing is dropped silently.
 */
static void jpush(struct dd_jprod *jp, struct dd_control *ctl)
{
	if (jp->n == 0 || jp->stalled) {
		jp->n = 0;
		return;
	}
	if (dd_journal_push(jp->ring, jp->items, jp->n, jp->stall_tsc) == 0) {
		jp->stalled = true;
		/* pairs with the acquire loads of every lcore loop */
		atomic_store_explicit(&ctl->quit, 1, memory_order_release);
	}
	jp->n = 0;
}

/* The feed positions that moved since the journal last heard of them. */
static void jfeedpos(struct dd_rx_ctx *c, uint64_t tsc)
{
	for (unsigned f = 0; f < c->nfeeds; f++) {
		const struct dd_mold_session *m = &c->feeds[f].mold;
		if (!m->started || m->next_seq == c->jpos_seq[f] || c->jp.n == c->jp.cap)
			continue;
		struct dd_jfeedpos pos;
		memset(&pos, 0, sizeof(pos));
		memcpy(pos.session, m->name, sizeof(pos.session));
		pos.ended = m->ended;
		pos.next_seq = m->next_seq;
		jadd(&c->jp, DD_JREC_FEEDPOS, (uint16_t)f, 0, &pos, sizeof(pos), tsc);
		c->jpos_seq[f] = m->next_seq;
	}
}

/* ---- watermark ticks ------------------------------------------------------------------------ */

/*
 * The pipeline's watermark: the minimum over the active sources, or the largest with none active.
 * A source is idle when it has had no event for wm_idle (wall clock: c->idle_wall, set between
 * packets) or while the others moved the latest event time on by more than wm_idle since its last
 * event (event time: a quiet venue in a capture replayed faster than real time). A source that
 * speaks is active, however far behind: its records are not made late for being slow.
 * c->idle_mask is both.
 */
static uint64_t wm_compute(struct dd_rx_ctx *c, uint64_t now)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t idle = c->idle_wall;
	for (uint32_t m = c->market_mask; m != 0; m &= m - 1) {
		unsigned f = (unsigned)__builtin_ctz(m);
		if (c->src_max[f] == 0)
			continue; /* nothing from it yet: it holds nothing back */
		if (c->src_max[f] > hi)
			hi = c->src_max[f];
		if (c->wm_idle_ns != 0 && c->ev_max - c->src_seen[f] > c->wm_idle_ns)
			idle |= 1u << f;
		if (!(idle >> f & 1u) && c->src_max[f] < lo)
			lo = c->src_max[f];
	}
	c->idle_mask = idle;
	uint64_t t = lo;
	if (lo == UINT64_MAX) {
		t = hi; /* every source idle (or none seen): none holds the others back */
		if (c->wm_clock && hi != 0 && c->idle_wall != 0)
			t += (now - c->ev_max_tsc) * 1000000000ull / c->tsc_hz;
	}
	return t < c->wm_delay ? 0 : t - c->wm_delay;
}

void dd_rx_wm_init(struct dd_rx_ctx *c)
{
	c->wm_now = wm_compute(c, rte_rdtsc());
}

static inline uint64_t wm_due(const struct dd_rx_ctx *c)
{
	return c->wm_now / c->wm_interval * c->wm_interval;
}

/* Event e of source f is later than anything f had: the watermark may move. */
static inline void wm_event(struct dd_rx_ctx *c, unsigned f, const struct dd_event *e)
{
	c->src_max[f] = e->event_ns;
	if (e->event_ns > c->ev_max) {
		c->ev_max = e->event_ns;
		c->ev_max_tsc = e->rx_tsc;
		c->src_seen[f] = e->event_ns;
	}
	uint64_t w = wm_compute(c, e->rx_tsc);
	if (w > c->wm_now)
		c->wm_now = w;
}

static inline void put_tick(struct dd_rx_ctx *c, struct dd_event *t, uint64_t rx_tsc)
{
	c->tick_last = wm_due(c);
	memset(t, 0, sizeof(*t));
	t->type = DD_EV_TICK;
	t->event_ns = c->tick_last;
	t->rx_tsc = rx_tsc;
	memcpy(t->u.raw, &c->idle_mask, sizeof(c->idle_mask)); /* the idle sources it was made with */
}

/*
 * The flush's events with the ticks they cause in place: s->ev itself when there is none (the
 * common case, a compare per event), else a copy in tickbuf. A tick is due after recovery too, when
 * the journal ends between an event and the tick it caused: it comes first then.
 */
static unsigned with_ticks(struct dd_rx_ctx *c, struct dd_sink *s, struct dd_event **evp)
{
	*evp = s->ev;
	if (c->wm_interval == 0 || s->ev[0].type == DD_EV_TICK) /* (the idle check's tick, alone) */
		return s->n;
	struct dd_event *t = c->tickbuf;
	unsigned m = 0;
	bool copied = false;
	if (s->n > 0 && wm_due(c) > c->tick_last) {
		put_tick(c, &t[m++], s->ev[0].rx_tsc);
		copied = true;
	}
	/* a flush is one feed's: it is active now (an idle one is back, from where it is) */
	unsigned f = s->ev[0].source < DD_MAX_FEEDS ? s->ev[0].source : 0;
	c->src_tsc[f] = s->ev[s->n - 1].rx_tsc;
	c->src_seen[f] = c->ev_max;
	c->idle_wall &= ~(1u << f);
	for (unsigned i = 0; i < s->n; i++) {
		const struct dd_event *e = &s->ev[i];
		if (copied)
			t[m++] = *e;
		if (e->event_ns <= c->src_max[f] || e->type == DD_EV_TICK)
			continue; /* (a tick: the idle check's, already in place) */
		wm_event(c, f, e);
		if (wm_due(c) <= c->tick_last)
			continue;
		if (!copied) {
			memcpy(t, s->ev, (i + 1) * sizeof(*t));
			m = i + 1;
			copied = true;
		}
		put_tick(c, &t[m++], e->rx_tsc);
	}
	if (!copied)
		return s->n;
	*evp = t;
	return m;
}

/*
 * A flush's inputs, as both pipeline shapes take them: the events with their ticks in place
 * (*evp), gathered for the journal (pushed by the caller). Their input positions start at the
 * returned *isn. Returns how many; 0 once input stopped (a stalled journal: these events were
 * never acknowledged, and workers must not decide what the journal never got).
 */
static inline unsigned take_inputs(struct dd_rx_ctx *c, struct dd_sink *s, struct dd_event **evp, uint64_t *isn,
				   uint64_t tsc)
{
	if (unlikely(c->jp.stalled)) {
		s->n = 0;
		return 0;
	}
	/* a flush holds one feed's events: payments make no ticks (their time is not the market's) */
	unsigned n;
	if (dd_event_is_payment(s->ev[0].type)) {
		*evp = s->ev;
		n = s->n;
	} else {
		n = with_ticks(c, s, evp);
	}
	if (c->jp.ring != NULL)
		for (unsigned i = 0; i < n; i++)
			jadd(&c->jp, DD_JREC_EVENT, (*evp)[i].source, (*evp)[i].key, &(*evp)[i], sizeof(**evp), tsc);
	*isn = c->isn;
	c->isn += n;
	return n;
}

/* Run to completion: the RX lcore runs its own chain over the events, numbered as inputs. */
static void rtc_flush(struct dd_sink *s)
{
	struct dd_rx_ctx *c = s->ctx;
	uint64_t t1 = rte_rdtsc(), isn;
	struct dd_event *ev;
	unsigned n = take_inputs(c, s, &ev, &isn, t1);
	if (n == 0)
		return;
	uint64_t cause[DD_RX_RUN];
	for (unsigned i = 0; i < n; i++)
		cause[i] = isn + i;
	/* Prefetching the order slots of event i + 4..16 was measured and gained nothing: see
	 * docs/benchmarks.md. */
	bool pay = dd_event_is_payment(ev[0].type) && c->pchain != NULL;
	struct dd_chain *ch = pay ? c->pchain : c->chain;
	/* in runs of the chain's burst (its output buffer is sized for that), each one's outputs to the
	 * journal before the next */
	for (unsigned off = 0; off < n; off += ch->burst) {
		unsigned k = n - off < ch->burst ? n - off : ch->burst;
		dd_chain_run(ch, ev + off, cause + off, k);
		jadd_outputs(&c->jp, ch, t1);
		rec_ops(&c->tm, pay ? &c->tm.pay : &c->tm.market, ch, k);
		if (c->jp.ring != NULL && off + k < n)
			jpush(&c->jp, c->ctl);
	}
	uint64_t t2 = rte_rdtsc();
	rec_since_rx(&c->tm, DD_TM_RX, t1, DD_TM_WIRE, t2, ev, n);
	if (c->jp.ring != NULL)
		jpush(&c->jp, c->ctl);
	s->n = 0;
}

/*
 * Hand a worker's staged events to its ring, behind the mark that says when they were enqueued and
 * which input positions they are. A full ring is backpressure, never a drop: the RX lcore waits
 * (counting the batches that had to), its NIC queue fills, and the NIC's own drop counters say so.
 */
static void push_batch(struct dd_rx_ctx *c, unsigned w)
{
	struct dd_event *b = c->batch[w];
	unsigned n = c->nbatch[w] + 1, done = 0;
	b[0].type = DD_EV_MARK;
	b[0].key = c->nbatch[w];
	b[0].seq = c->bbase[w];
	b[0].rx_tsc = rte_rdtsc();
	bool waited = false;
	while (done < n) {
		done += dd_ring_enqueue_copy(c->workers[w].ring, b + done, sizeof(struct dd_event), n - done);
		waited |= done < n;
	}
	c->st.ring_full += waited;
	c->nbatch[w] = 0;
}

static inline void stage(struct dd_rx_ctx *c, unsigned w, const struct dd_event *ev, uint64_t isn)
{
	if (c->nbatch[w] > 0 && isn - c->bbase[w] >= DD_MARK_SPAN)
		push_batch(c, w);
	uint64_t *bits = (uint64_t *)(void *)c->batch[w][0].u.raw;
	if (c->nbatch[w] == 0) {
		c->bbase[w] = isn;
		memset(bits, 0, DD_EVENT_PAYLOAD);
	}
	uint64_t d = isn - c->bbase[w];
	bits[d / 64] |= 1ull << (d % 64);
	c->batch[w][1 + c->nbatch[w]++] = *ev;
	if (c->nbatch[w] == DD_WORKER_BURST)
		push_batch(c, w);
}

/*
 * Staged: partition by instrument (its locate code or its symbol: ops/route.h) so each one's state
 * lives on exactly one worker. Broadcast events (system events, ticks) go to every worker so each
 * shard sees the same day; everything else, key 0 included, goes to exactly one worker, so nothing
 * is counted twice.
 */
static void staged_flush(struct dd_sink *s)
{
	struct dd_rx_ctx *c = s->ctx;
	const unsigned nw = c->nworkers;
	uint64_t t1 = rte_rdtsc(), isn;
	struct dd_event *evs;
	unsigned n = take_inputs(c, s, &evs, &isn, t1);
	if (n == 0)
		return;
	rec_since_rx(&c->tm, DD_TM_RX, t1, DD_TM_MAX_STAGES, 0, evs, n);
	if (c->jp.ring != NULL)
		jpush(&c->jp, c->ctl); /* inputs go to the journal before the workers see them */
	for (unsigned i = 0; i < n; i++) {
		const struct dd_event *ev = &evs[i];
		if (dd_chain_broadcast(ev)) {
			for (unsigned w = 0; w < nw; w++)
				stage(c, w, ev, isn + i);
		} else if (dd_event_is_payment(ev->type)) {
			stage(c, 0, ev, isn + i); /* the payment chain is worker 0's */
		} else {
			stage(c, dd_route_shard(&c->route, ev), ev, isn + i);
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

/*
 * A send stamp after the datagram (docs/wire-formats.md, "Send stamps"): the sender's TSC becomes the
 * frame's RX time, as a NIC's timestamp would, and the stamp → poll time is recorded.
 */
static uint64_t send_stamp(struct dd_rx_ctx *c, const uint8_t *p, size_t len, const struct dd_udp_view *u,
			   uint64_t now)
{
	size_t at = (size_t)(u->payload - p) + u->len;
	uint64_t s;
	if (len < at + 16 || memcmp(p + at, "DDTS", 4) != 0)
		return now;
	memcpy(&s, p + at + 8, sizeof(s));
	if (s > now)
		return now;
	if (c->send_to_rx != NULL)
		dd_hdr_record(c->send_to_rx, dd_tsc_to_ns(&c->tm.conv, now - s));
	return s;
}

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
	if (unlikely(c->stamps))
		now = send_stamp(c, p, len, &u, now);
	/* dadar's own output stream coming back in (a loopback port, a memif pair, a switch that
	 * reflects the group) is never input: a catch-all feed would take it */
	if (unlikely(u.dst_port == c->own_port) && u.dst_ip == c->own_group && c->own_port != 0) {
		c->st.own_output++;
		return;
	}
	/* feeds with lines of their own first, then a catch-all (it would take anything) */
	for (unsigned k = 0; k < c->nfeeds; k++) {
		unsigned f = c->feed_order[k];
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
		struct dd_clockconv cv;
		if (c->q[q].clock != NULL && dd_clockmap_get(c->q[q].clock, &cv)) {
			/* the NIC's arrival time, mapped onto the TSC; never later than the poll */
			for (uint16_t i = 0; i < n; i++) {
				uint64_t t = now;
				if (pkts[i]->ol_flags & c->ts_flag) {
					t = dd_clockconv_tsc(&cv, *RTE_MBUF_DYNFIELD(pkts[i], c->ts_offset, uint64_t *));
					if (t > now)
						t = now;
				}
				rx_packet(c, pkts[i], t);
			}
		} else {
			for (uint16_t i = 0; i < n; i++)
				rx_packet(c, pkts[i], now);
		}
		rte_pktmbuf_free_bulk(pkts, n);
		total += n;
		if (c->jp.ring != NULL) {
			jfeedpos(c, now);
			jpush(&c->jp, c->ctl);
		}
	}
	return total;
}

/* A chain's operators' counters into the lcore's slot: each one's outputs, then its own. */
static void publish_ops(struct dd_tm_slot *sl, const struct dd_chain_tm *ct, const struct dd_chain *ch)
{
	if (ct->overflow_counter == 0 || ch == NULL)
		return;
	dd_tm_set(dd_tm_counter(sl, ct->overflow_counter), dd_chain_overflow(ch));
	for (unsigned k = 0; k < ch->nops; k++) {
		const struct dd_op_ops *ops = ch->op[k].ops;
		uint64_t v[DD_OP_MAX_COUNTERS];
		dd_tm_set(dd_tm_counter(sl, ct->counter[k]), ch->op[k].outputs);
		if (ops->counters == NULL)
			continue;
		ops->counters(ch->op[k].state, v);
		for (unsigned i = 0; i < ops->ncounters && i < DD_OP_MAX_COUNTERS; i++)
			dd_tm_set(dd_tm_counter(sl, ct->counter[k] + 1 + i), v[i]);
	}
}

static void publish_chain(struct dd_tm_slot *sl, const struct dd_lcore_tm *tm, const struct dd_chain *ch,
			  const struct dd_chain *pch)
{
	publish_ops(sl, &tm->market, ch);
	publish_ops(sl, &tm->pay, pch);
}

void dd_rx_publish(struct dd_rx_ctx *c, uint64_t now)
{
	struct dd_tm_slot *sl = c->tm.slot;
	c->tm.next_publish = now + c->tm.period;
	if (sl == NULL)
		return;
	uint64_t events = 0, gaps = 0, missing = 0, dups = 0;
	for (unsigned f = 0; f < c->nfeeds; f++) {
		events += c->feeds[f].itch.events;
		gaps += c->feeds[f].mold.stats.gaps;
		missing += c->feeds[f].mold.stats.missing;
		dups += c->feeds[f].mold.stats.duplicates;
	}
	const char *names[DD_REPORT_REASONS];
	uint64_t counts[DD_REPORT_REASONS];
	unsigned n = dd_report_reasons(&c->st, c->feeds, c->nfeeds, names, counts);
	for (unsigned i = 0; i < n && i < DD_TM_MAX_REASONS; i++)
		dd_tm_set(&sl->reasons[i], counts[i]);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_PACKETS), c->st.packets);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_BYTES), c->st.bytes);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_EVENTS), events);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_GAPS), gaps);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_MISSING), missing);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_DUPLICATES), dups);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_RING_FULL), c->st.ring_full);
	if (c->chain != NULL)
		publish_chain(sl, &c->tm, c->chain, c->pchain);
	dd_tm_set(&sl->publish_tsc, now);
}

/*
 * A reloaded rule set, between two flushes (an event boundary): journaled (by reference: its text
 * is in the journal directory, written by the control thread before it published the image) right
 * after the inputs before it, then put in force on the lcore that runs the payment chain, which
 * says so in rules_acked.
 */
static void rx_reload(struct dd_rx_ctx *c, uintptr_t img)
{
	const struct dd_frules *r = (const struct dd_frules *)img;
	c->rules_cur = img;
	if (c->jp.ring != NULL) {
		struct dd_jrules h = { .chunk = 0, .nchunks = 0, .total_len = r->text_len, .text_hash = r->text_hash,
				       .chain = c->pay_chain, .len = 0 };
		jadd(&c->jp, DD_JREC_RULES, 0, 0, &h, sizeof(h), rte_rdtsc());
		jpush(&c->jp, c->ctl);
	}
	if (c->nworkers == 0) {
		dd_fraud_use(dd_chain_state(c->pchain, DD_OP_FRAUD), r);
		/* pairs with the control thread's acquire load: the old image is no longer read */
		atomic_store_explicit(&c->ctl->rules_acked, img, memory_order_release);
		return;
	}
	/* to worker 0, in its own batch: no input position */
	if (c->nbatch[0] > 0)
		push_batch(c, 0);
	struct dd_event *b = c->batch[0];
	memset(&b[1], 0, sizeof(b[1]));
	b[1].type = DD_EV_RULES;
	memcpy(b[1].u.raw, &img, sizeof(img));
	c->bbase[0] = c->isn;
	memset(b[0].u.raw, 0, DD_EVENT_PAYLOAD);
	c->nbatch[0] = 1;
	push_batch(c, 0);
}

/* A market chain puts reloaded market rules in force (partial matches and open windows start again,
 * counted by the operators) and says so. */
static void market_use(struct dd_control *ctl, struct dd_chain *ch, uintptr_t img)
{
	const struct dd_mrules *r = (const struct dd_mrules *)img;
	void *w = dd_chain_state(ch, DD_OP_WINDOW), *cep = dd_chain_state(ch, DD_OP_CEP);
	/* the control thread checked that they fit: use cannot fail here */
	if (w != NULL)
		(void)dd_window_use(w, r);
	if (cep != NULL)
		(void)dd_cep_use(cep, r);
	/* pairs with the control thread's acquire load: the old image is no longer read here */
	atomic_fetch_add_explicit(&ctl->mrules_acked, 1, memory_order_release);
}

/*
 * Reloaded market rules, between two flushes: journaled by reference (the control thread wrote the
 * text into the journal directory) after the inputs before it, then in force on every market
 * chain: here (run to completion), or on each worker behind the events staged before it.
 */
static void rx_mreload(struct dd_rx_ctx *c, uintptr_t img)
{
	const struct dd_mrules *r = (const struct dd_mrules *)img;
	c->mrules_cur = img;
	if (c->jp.ring != NULL) {
		struct dd_jrules h = { .chunk = 0, .nchunks = 0, .total_len = r->text_len, .text_hash = r->text_hash,
				       .chain = DD_JRULES_MARKET, .len = 0 };
		jadd(&c->jp, DD_JREC_RULES, 0, 0, &h, sizeof(h), rte_rdtsc());
		jpush(&c->jp, c->ctl);
	}
	if (c->nworkers == 0) {
		market_use(c->ctl, c->chain, img);
		return;
	}
	for (unsigned w = 0; w < c->nworkers; w++) {
		if (c->nbatch[w] > 0)
			push_batch(c, w);
		struct dd_event *b = c->batch[w];
		memset(&b[1], 0, sizeof(b[1]));
		b[1].type = DD_EV_RULES;
		b[1].msg = 'M'; /* market rules (a payment chain's are 0) */
		memcpy(b[1].u.raw, &img, sizeof(img));
		c->bbase[w] = c->isn;
		memset(b[0].u.raw, 0, DD_EVENT_PAYLOAD);
		c->nbatch[w] = 1;
		push_batch(c, w);
	}
}

/* Has a chain work deferred at the watermark (a window bound let only so many fire at once)? */
static bool rx_pending(const struct dd_rx_ctx *c)
{
	if (c->nworkers == 0)
		return dd_chain_pending(c->chain);
	for (unsigned w = 0; w < c->nworkers; w++)
		/* pairs with the worker's release store after its run */
		if (atomic_load_explicit(&c->workers[w].pending, memory_order_acquire))
			return true;
	return false;
}

/*
 * Between packets, while a chain has work deferred at the watermark: a tick at the same watermark
 * (journaled like any, at most one per 50 µs) lets it go on. Without it, the windows due when the
 * input stops would wait for the next input.
 */
static void rx_drain_tick(struct dd_rx_ctx *c, uint64_t now)
{
	if (c->sink.n != 0 || c->jp.stalled || now - c->drain_tsc < c->tsc_hz / 20000 || !rx_pending(c))
		return;
	c->drain_tsc = now;
	put_tick(c, &c->sink.ev[0], now);
	c->sink.n = 1;
	c->sink.flush(&c->sink);
}

/*
 * Between packets: sources with no event for wm_idle_tsc go idle, and a watermark that moves for
 * it (or, every source idle, with the clock) is a tick of its own, journaled like any input.
 */
static void rx_idle_tick(struct dd_rx_ctx *c, uint64_t now)
{
	for (uint32_t m = c->market_mask & ~c->idle_wall; m != 0; m &= m - 1) {
		unsigned f = (unsigned)__builtin_ctz(m);
		if (c->src_max[f] != 0 && now - c->src_tsc[f] > c->wm_idle_tsc)
			c->idle_wall |= 1u << f;
	}
	if (c->idle_wall == 0 || c->sink.n != 0 || c->jp.stalled)
		return;
	uint64_t w = wm_compute(c, now);
	if (w > c->wm_now)
		c->wm_now = w;
	if (wm_due(c) <= c->tick_last)
		return;
	put_tick(c, &c->sink.ev[0], now);
	c->sink.n = 1;
	c->sink.flush(&c->sink);
}

int dd_rx_main(void *arg)
{
	struct dd_rx_ctx *c = arg;
	uint64_t last_rx = rte_rdtsc();
	dd_rx_publish(c, last_rx);
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
		if (c->wm_idle_tsc != 0 && c->wm_interval != 0 && n == 0)
			rx_idle_tick(c, now);
		if (c->wm_interval != 0 && n == 0)
			rx_drain_tick(c, now);
		if (now >= c->tm.next_publish)
			dd_rx_publish(c, now);
		/* pairs with the control thread's release store of a reloaded image */
		uintptr_t r = atomic_load_explicit(&c->ctl->rules_new, memory_order_acquire);
		if (unlikely(r != c->rules_cur) && c->pchain != NULL && !c->jp.stalled)
			rx_reload(c, r);
		/* pairs with the control thread's release store of reloaded market rules */
		uintptr_t mr = atomic_load_explicit(&c->ctl->mrules_new, memory_order_acquire);
		if (unlikely(mr != c->mrules_cur) && !c->jp.stalled && c->sink.n == 0)
			rx_mreload(c, mr);
	}
	/* Whatever the reorder windows still hold is released now, its gaps declared. */
	for (unsigned f = 0; f < c->nfeeds; f++)
		dd_feed_poll(&c->feeds[f], UINT64_MAX, &c->sink);
	if (c->sink.n)
		c->sink.flush(&c->sink);
	/* and what the chains deferred at the watermark is done (staged: waiting at most 100 ms for the
	 * workers to say they are through) */
	unsigned quiet = 0;
	for (uint64_t t0 = rte_rdtsc(), now = t0; c->wm_interval != 0 && now - t0 < c->tsc_hz / 10; now = rte_rdtsc()) {
		bool busy = rx_pending(c);
		for (unsigned w = 0; w < c->nworkers && !busy; w++)
			busy = rte_ring_count(c->workers[w].ring) > 0;
		/* twice quiet, 50 µs apart: a worker between its dequeue and its run has had time to say */
		if (!busy && ++quiet == 2)
			break;
		if (busy)
			quiet = 0;
		rx_drain_tick(c, now);
		rte_delay_us_block(50);
	}
	if (c->jp.ring != NULL) {
		jfeedpos(c, rte_rdtsc());
		jpush(&c->jp, c->ctl);
		/* pairs with the journal lcore's acquire load: our last items are in the ring */
		atomic_fetch_sub_explicit(&c->ctl->producers, 1, memory_order_release);
	}
	dd_rx_publish(c, rte_rdtsc());
	/* Pairs with the workers' acquire load: every event enqueued above is visible to them. */
	atomic_store_explicit(&c->ctl->rx_done, 1, memory_order_release);
	/* pairs with the main thread's acquire load while it waits */
	atomic_fetch_sub_explicit(&c->ctl->running, 1, memory_order_release);
	return 0;
}

/* ---- workers -------------------------------------------------------------------------------- */

void dd_worker_publish(struct dd_worker_ctx *w, uint64_t now)
{
	struct dd_tm_slot *sl = w->tm.slot;
	w->tm.next_publish = now + w->tm.period;
	if (sl == NULL)
		return;
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_EVENTS), w->events);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_RING_USED), w->ring_used);
	dd_tm_set(dd_tm_counter(sl, DD_TM_C_RING_HIGH_WATER), w->ring_high_water);
	publish_chain(sl, &w->tm, w->chain, w->pchain);
	dd_tm_set(&sl->publish_tsc, now);
}

/* The input position of the next event of the current batch: the next bit of its mark. */
static inline uint64_t next_cause(struct dd_worker_ctx *w)
{
	for (unsigned k = 0; k < DD_MARK_SPAN / 64; k++)
		if (w->mk_bits[k] != 0) {
			unsigned bit = (unsigned)__builtin_ctzll(w->mk_bits[k]);
			w->mk_bits[k] &= w->mk_bits[k] - 1;
			return w->mk_base + k * 64 + bit;
		}
	return w->mk_base; /* a mark always has a bit per event: not reached */
}

static unsigned worker_do_work(struct dd_worker_ctx *w)
{
	struct dd_event ev[DD_WORKER_BURST + 1];
	uint64_t cause[DD_WORKER_BURST + 1];
	unsigned left;
	unsigned n = dd_ring_dequeue_copy(w->ring, ev, sizeof(ev[0]), DD_WORKER_BURST + 1, &left);
	if (n == 0)
		return 0;
	uint64_t t1 = rte_rdtsc();
	unsigned m = 0, np = 0;
	struct dd_event pev[DD_WORKER_BURST + 1];
	uint64_t pcause[DD_WORKER_BURST + 1];
	for (unsigned i = 0; i < n; i++) {
		if (ev[i].type == DD_EV_MARK) {
			rec_stage(&w->tm, DD_TM_RING, t1 > ev[i].rx_tsc ? t1 - ev[i].rx_tsc : 0, ev[i].key);
			w->mk_base = ev[i].seq;
			memcpy(w->mk_bits, ev[i].u.raw, sizeof(w->mk_bits));
			continue;
		}
		if (dd_event_is_payment(ev[i].type) && w->pchain != NULL) {
			pcause[np] = next_cause(w);
			pev[np++] = ev[i];
			continue;
		}
		if (ev[i].type == DD_EV_RULES && ev[i].msg == 'M') {
			/* the market events before it run under the old rules, the ones after under the new */
			if (m > 0) {
				dd_chain_run(w->chain, ev, cause, m);
				jadd_outputs(&w->jp, w->chain, t1);
				rec_ops(&w->tm, &w->tm.market, w->chain, m);
				w->events += m;
				m = 0;
			}
			uintptr_t img;
			memcpy(&img, ev[i].u.raw, sizeof(img));
			market_use(w->ctl, w->chain, img);
			continue;
		}
		if (ev[i].type == DD_EV_RULES && w->pchain != NULL) {
			/* the payments before it decide under the old rules, the ones after under the new */
			if (np > 0) {
				dd_chain_run(w->pchain, pev, pcause, np);
				jadd_outputs(&w->jp, w->pchain, t1);
				rec_ops(&w->tm, &w->tm.pay, w->pchain, np);
				w->events += np;
				np = 0;
			}
			uintptr_t img;
			memcpy(&img, ev[i].u.raw, sizeof(img));
			dd_fraud_use(dd_chain_state(w->pchain, DD_OP_FRAUD), (const struct dd_frules *)img);
			/* pairs with the control thread's acquire load: the old image is no longer read */
			atomic_store_explicit(&w->ctl->rules_acked, img, memory_order_release);
			continue;
		}
		cause[m] = next_cause(w);
		if (m != i)
			ev[m] = ev[i];
		m++;
	}
	if (m > 0) {
		dd_chain_run(w->chain, ev, cause, m);
		jadd_outputs(&w->jp, w->chain, t1);
		/* pairs with the RX lcore's acquire load (rx_pending) */
		atomic_store_explicit(&w->pending, dd_chain_pending(w->chain), memory_order_release);
	}
	uint64_t tp = rte_rdtsc();
	if (np > 0) {
		dd_chain_run(w->pchain, pev, pcause, np);
		jadd_outputs(&w->jp, w->pchain, t1);
	}
	if (w->jp.ring != NULL && w->jp.n > 0)
		jpush(&w->jp, w->ctl);
	uint64_t t2 = rte_rdtsc();
	if (m > 0) {
		rec_ops(&w->tm, &w->tm.market, w->chain, m);
		rec_since_rx(&w->tm, DD_TM_WIRE, tp, DD_TM_MAX_STAGES, 0, ev, m);
	}
	if (np > 0) {
		rec_ops(&w->tm, &w->tm.pay, w->pchain, np);
		rec_since_rx(&w->tm, DD_TM_WIRE, t2, DD_TM_MAX_STAGES, 0, pev, np);
	}
	m += np;
	w->events += m;
	w->bursts++;
	w->ring_used = n + left;
	if (w->ring_used > w->ring_high_water)
		w->ring_high_water = w->ring_used;
	if (t2 >= w->tm.next_publish)
		dd_worker_publish(w, t2);
	return n;
}

int dd_worker_main(void *arg)
{
	struct dd_worker_ctx *w = arg;
	dd_worker_publish(w, rte_rdtsc());
	for (;;) {
		if (worker_do_work(w) > 0)
			continue;
		uint64_t now = rte_rdtsc();
		if (now >= w->tm.next_publish)
			dd_worker_publish(w, now);
		/* Pairs with the RX lcore's release store: after it, the ring holds all that is left. */
		if (atomic_load_explicit(&w->ctl->rx_done, memory_order_acquire)) {
			while (worker_do_work(w) > 0)
				;
			break;
		}
	}
	if (w->jp.ring != NULL)
		/* pairs with the journal lcore's acquire load: our last items are in the ring */
		atomic_fetch_sub_explicit(&w->ctl->producers, 1, memory_order_release);
	dd_worker_publish(w, rte_rdtsc());
	/* pairs with the main thread's acquire load while it waits */
	atomic_fetch_sub_explicit(&w->ctl->running, 1, memory_order_release);
	return 0;
}
