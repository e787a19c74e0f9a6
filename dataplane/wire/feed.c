/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/feed.h"

#include <errno.h>
#include <string.h>

#include "dataplane/wire/itch.h"

size_t dd_feed_memsize(const struct dd_mold_params *mp)
{
	return dd_mold_session_memsize(mp);
}

int dd_feed_init(struct dd_feed *f, unsigned index, const struct dd_feed_cfg *cfg,
		 const struct dd_mold_params *mp, void *mem, size_t len)
{
	if (index > UINT8_MAX || cfg->nlines > DD_MOLD_MAX_LINES)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->cfg = *cfg;
	f->index = (uint8_t)index;
	return dd_mold_session_init(&f->mold, mem, len, mp);
}

static inline bool line_matches(const struct dd_feed_line *l, uint32_t ip, uint16_t port, uint16_t dpdk_port)
{
	return (l->ip == 0 || l->ip == ip) && (l->udp_port == 0 || l->udp_port == port) &&
	       (l->dpdk_port == DD_ANY_PORT || l->dpdk_port == dpdk_port);
}

int dd_feed_line_of(struct dd_feed *f, uint32_t dst_ip, uint16_t dst_port, uint16_t dpdk_port)
{
	if (f->cfg.nlines > 0) {
		for (unsigned i = 0; i < f->cfg.nlines; i++)
			if (line_matches(&f->cfg.line[i], dst_ip, dst_port, dpdk_port))
				return (int)i;
		return -1;
	}
	/* Catch-all: every distinct destination is a line of its own, in order of appearance. */
	for (unsigned i = 0; i < f->learned; i++)
		if (f->cfg.line[i].ip == dst_ip && f->cfg.line[i].udp_port == dst_port)
			return (int)i;
	if (f->learned == DD_MOLD_MAX_LINES)
		return DD_MOLD_MAX_LINES - 1;
	f->cfg.line[f->learned] = (struct dd_feed_line){ dst_ip, dst_port, DD_ANY_PORT };
	return (int)f->learned++;
}

static inline void decode_block(struct dd_feed *f, struct dd_mold_block *b, uint64_t rx_tsc,
				struct dd_sink *s)
{
	const uint8_t *msg;
	uint16_t len;
	for (uint64_t seq = b->seq; dd_mold_next(b, &msg, &len); seq++) {
		struct dd_event *ev = &s->ev[s->n];
		int rc = dd_itch_decode_event(msg, len, ev);
		if (rc > 0) {
			ev->source = f->index;
			ev->seq = seq;
			ev->rx_tsc = rx_tsc;
			f->itch.messages[msg[0]]++;
			f->itch.events++;
			if (++s->n == s->cap)
				s->flush(s);
		} else if (rc == 0) {
			f->itch.messages[msg[0]]++;
		} else if (rc == -ENOMSG) {
			f->itch.unknown++;
		} else if (rc == -EBADMSG) {
			f->itch.bad_length++;
		} else {
			f->itch.empty++;
		}
	}
}

/* A payment feed's block: two events per payment, always flushed together. */
static void decode_payments(struct dd_feed *f, struct dd_mold_block *b, uint64_t rx_tsc, struct dd_sink *s)
{
	const uint8_t *msg;
	uint16_t len;
	for (uint64_t seq = b->seq; dd_mold_next(b, &msg, &len); seq++) {
		if (s->cap - s->n < 2)
			s->flush(s);
		struct dd_event *ev = &s->ev[s->n];
		int rc = dd_payment_decode(msg, len, ev);
		if (rc == 2) {
			ev[0].source = ev[1].source = f->index;
			ev[0].seq = ev[1].seq = seq;
			ev[0].rx_tsc = ev[1].rx_tsc = rx_tsc;
			f->pay.messages++;
			f->itch.events += 2;
			s->n += 2;
			if (s->n == s->cap)
				s->flush(s);
		} else if (rc == -EBADMSG) {
			f->pay.bad_length++;
		} else if (rc == -ENOMSG) {
			f->pay.unknown++;
		} else {
			f->pay.bad_version++;
		}
	}
}

static void drain_held(struct dd_feed *f, uint64_t now, struct dd_sink *s)
{
	struct dd_mold_block b;
	while (dd_mold_pop(&f->mold, now, &b))
		if (f->cfg.kind == DD_FEED_PAYMENT)
			decode_payments(f, &b, b.rx_time, s);
		else
			decode_block(f, &b, b.rx_time, s);
}

void dd_feed_rx(struct dd_feed *f, const uint8_t *p, size_t len, unsigned line, uint64_t rx_tsc,
		struct dd_sink *sink)
{
	struct dd_mold_block b;
	enum dd_mold_verdict v = dd_mold_rx(&f->mold, p, len, line, rx_tsc, &b);
	if (v == DD_MOLD_DELIVER) {
		if (f->cfg.kind == DD_FEED_PAYMENT)
			decode_payments(f, &b, rx_tsc, sink);
		else
			decode_block(f, &b, rx_tsc, sink);
	}
	if (v != DD_MOLD_DROP || f->mold.nheld > 0)
		drain_held(f, rx_tsc, sink);
	if (sink->n > 0)
		sink->flush(sink);
}

void dd_feed_poll(struct dd_feed *f, uint64_t now, struct dd_sink *sink)
{
	if (f->mold.nheld == 0)
		return;
	drain_held(f, now, sink);
	if (sink->n > 0)
		sink->flush(sink);
}
