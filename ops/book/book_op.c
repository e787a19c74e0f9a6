/* SPDX-License-Identifier: MIT */
#include "ops/book/book_op.h"

#include <errno.h>
#include <string.h>

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

struct book_op {
	uint32_t nfeeds;
	uint32_t trades;
	uint64_t bad_source;
	struct dd_book book[DD_BOOK_OP_MAX_FEEDS];
};

static size_t book_op_memsize(const void *params)
{
	const struct dd_book_op_params *p = params;
	if (p->nfeeds == 0 || p->nfeeds > DD_BOOK_OP_MAX_FEEDS)
		return 0;
	size_t one = dd_book_memsize(&p->book);
	if (one == 0)
		return 0;
	return ALIGN64(sizeof(struct book_op)) + p->nfeeds * ALIGN64(one);
}

static int book_op_init(void *mem, size_t len, const void *params)
{
	const struct dd_book_op_params *p = params;
	size_t need = book_op_memsize(params);
	if (need == 0 || len < need)
		return -EINVAL;
	struct book_op *s = mem;
	memset(s, 0, sizeof(*s));
	s->nfeeds = p->nfeeds;
	s->trades = p->trades;
	size_t one = ALIGN64(dd_book_memsize(&p->book));
	uint8_t *m = (uint8_t *)mem + ALIGN64(sizeof(*s));
	for (unsigned f = 0; f < p->nfeeds; f++, m += one) {
		int rc = dd_book_init(&s->book[f], m, one, &p->book);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* An execution as the book sees it before applying it: the resting order's price and side. */
static void trade(const struct dd_book *b, const struct dd_event *ev, struct dd_emit *e)
{
	struct dd_out_trade t = { 0 };
	if (ev->type == DD_EV_TRADE) {
		t.ref = ev->u.trade.ref;
		t.match = ev->u.trade.match;
		t.shares = ev->u.trade.shares;
		t.price = ev->u.trade.price;
		t.side = ev->u.trade.side;
	} else {
		struct dd_book_order_view v;
		if (!dd_book_order(b, ev->u.exec.ref, &v))
			return; /* an unknown order: the book counts it */
		t.ref = ev->u.exec.ref;
		t.match = ev->u.exec.match;
		t.shares = ev->u.exec.shares;
		t.price = ev->type == DD_EV_EXEC_PRICE ? ev->u.exec.price : v.price;
		t.side = v.side;
	}
	struct dd_output *o = dd_emit(e, DD_OUT_TRADE, 0);
	if (o != NULL)
		o->u.trade = t;
}

static inline void apply_one(struct book_op *s, const struct dd_event *ev, struct dd_emit *e)
{
	if (ev->source >= s->nfeeds) {
		s->bad_source++;
		return;
	}
	struct dd_book *b = &s->book[ev->source];
	if (s->trades && (ev->type == DD_EV_EXEC || ev->type == DD_EV_EXEC_PRICE || ev->type == DD_EV_TRADE))
		trade(b, ev, e);
	if ((dd_book_apply(b, ev) & (DD_BOOK_BID_CHANGED | DD_BOOK_ASK_CHANGED)) == 0)
		return;
	struct dd_output *o = dd_emit(e, DD_OUT_BBO, 0);
	if (o == NULL)
		return;
	/* the body comes zeroed: its padding is compared and journaled too */
	if (!dd_book_bbo(b, ev, &o->u.bbo)) {
		dd_emit_undo(e); /* a changed side names a known instrument: not reached */
		return;
	}
	o->key = o->u.bbo.locate;
}

static void book_op_apply(void *state, const struct dd_event *ev, struct dd_emit *e)
{
	apply_one(state, ev, e);
}

/* Events ahead whose order slots are asked for; their levels are asked for half as far ahead. */
#define AHEAD 8

static inline void prefetch(const struct book_op *s, const struct dd_event *ev, bool level)
{
	if (ev->source < s->nfeeds)
		dd_book_prefetch(&s->book[ev->source], ev, level);
}

static void book_op_apply_run(void *state, const struct dd_event *ev, const uint64_t *cause, unsigned n,
			      struct dd_emit *e)
{
	const struct book_op *s = state;
	for (unsigned i = 0; i < n && i < AHEAD; i++)
		prefetch(s, &ev[i], false);
	for (unsigned i = 0; i < n; i++) {
		if (i + AHEAD < n)
			prefetch(s, &ev[i + AHEAD], false);
		if (i + AHEAD / 2 < n)
			prefetch(s, &ev[i + AHEAD / 2], true);
		if (ev[i].type == DD_EV_TICK) /* the book is not time-driven: apply never sees one */
			continue;
		e->ev = &ev[i];
		e->cause = cause[i];
		apply_one(state, &ev[i], e);
	}
}

/* Snapshot: u32 version, u32 nfeeds, u64 bad_source, then dd_book_save() of each feed's book. */
#define BOOK_OP_VERSION 1u

static int book_op_save(const void *state, dd_put_fn put, void *ctx)
{
	const struct book_op *s = state;
	uint32_t h[2] = { BOOK_OP_VERSION, s->nfeeds };
	int rc = put(ctx, h, sizeof(h));
	if (rc == 0)
		rc = put(ctx, &s->bad_source, sizeof(s->bad_source));
	for (unsigned f = 0; rc == 0 && f < s->nfeeds; f++)
		rc = dd_book_save(&s->book[f], put, ctx);
	return rc < 0 ? rc : 0;
}

static int book_op_load(void *state, dd_get_fn get, void *ctx)
{
	struct book_op *s = state;
	uint32_t h[2];
	if (get(ctx, h, sizeof(h)) < 0 || h[0] != BOOK_OP_VERSION)
		return -EBADMSG;
	if (h[1] != s->nfeeds)
		return -EINVAL;
	if (get(ctx, &s->bad_source, sizeof(s->bad_source)) < 0)
		return -EBADMSG;
	for (unsigned f = 0; f < s->nfeeds; f++) {
		int rc = dd_book_load(&s->book[f], get, ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static const char *const book_counter_names[] = {
	"book_events", "book_adds", "book_executions", "book_cancels", "book_deletes", "book_replaces",
	"book_unknown_ref", "book_duplicate_ref", "book_overexecuted", "book_bad_order", "book_order_overflow",
	"book_level_overflow", "book_instr_overflow", "book_bad_source",
};

static void book_op_counters(const void *state, uint64_t *v)
{
	const struct book_op *s = state;
	memset(v, 0, sizeof(uint64_t) * (sizeof(book_counter_names) / sizeof(book_counter_names[0])));
	for (unsigned f = 0; f < s->nfeeds; f++) {
		const struct dd_book_stats *st = &s->book[f].stats;
		v[0] += st->events;
		v[1] += st->adds;
		v[2] += st->executions;
		v[3] += st->cancels;
		v[4] += st->deletes;
		v[5] += st->replaces;
		v[6] += st->unknown_ref;
		v[7] += st->duplicate_ref;
		v[8] += st->overexecuted;
		v[9] += st->bad_order;
		v[10] += st->order_overflow;
		v[11] += st->level_overflow;
		v[12] += st->instrument_overflow;
	}
	v[13] = s->bad_source;
}

const struct dd_op_ops dd_book_op = {
	.name = "book",
	.id = DD_OP_BOOK,
	.max_out = 2,
	.memsize = book_op_memsize,
	.init = book_op_init,
	.apply = book_op_apply,
	.apply_run = book_op_apply_run,
	.save = book_op_save,
	.load = book_op_load,
	.ncounters = sizeof(book_counter_names) / sizeof(book_counter_names[0]),
	.counter_names = book_counter_names,
	.counters = book_op_counters,
};

const struct dd_book *dd_book_op_book(const void *state, unsigned feed)
{
	const struct book_op *s = state;
	return feed < s->nfeeds ? &s->book[feed] : NULL;
}

uint64_t dd_book_op_bad_source(const void *state)
{
	return ((const struct book_op *)state)->bad_source;
}
