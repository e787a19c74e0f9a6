/* SPDX-License-Identifier: MIT */
/*
 * The operator chain (ops/chain.c) with the book and the two test operators (ops/test/test_ops.h).
 * Expected outputs are computed here from the rules the headers document, not by the operators.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/book/book_op.h"
#include "ops/chain.h"
#include "ops/test/test_ops.h"

#define MAXN 256
#define PERIOD 1000u
#define MULTI_MAX 3u

struct fx {
	struct dd_chain_spec spec;
	struct dd_chain a, b;
	void *ma, *mb;
	size_t len;
};

static void spec_book_test(struct dd_chain_spec *s)
{
	memset(s, 0, sizeof(*s));
	struct dd_book_op_params bp = { .book = { .max_instruments = 16, .max_orders = 1024, .max_levels = 256 },
					.nfeeds = 2 };
	struct dd_test_multi_params mp = { .max = MULTI_MAX };
	struct dd_test_timer_params tp = { .period_ns = PERIOD };
	assert_int_equal(dd_chain_spec_add(s, DD_OP_BOOK, &bp, sizeof(bp)), 0);
	assert_int_equal(dd_chain_spec_add(s, DD_OP_TEST_MULTI, &mp, sizeof(mp)), 0);
	assert_int_equal(dd_chain_spec_add(s, DD_OP_TEST_TIMER, &tp, sizeof(tp)), 0);
}

static void chain_new(struct dd_chain *c, void **mem, const struct dd_chain_spec *s, unsigned burst, unsigned shard)
{
	struct dd_chain_params p = { .spec = s, .burst = burst, .shard = shard };
	size_t len = dd_chain_memsize(&p);
	assert_true(len > 0);
	*mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(*mem);
	char err[256];
	assert_int_equal(dd_chain_init(c, *mem, len, &p, err, sizeof(err)), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	spec_book_test(&f->spec);
	chain_new(&f->a, &f->ma, &f->spec, MAXN, 3);
	chain_new(&f->b, &f->mb, &f->spec, 1, 3);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	free(f->ma);
	free(f->mb);
	free(f);
	return 0;
}

/*
 * A small stream: adds and deletes on three instruments over two feeds, rising event times with a
 * gap of five periods, and after every 7th event a tick at that event's time (as the RX lcore makes
 * them: ops/chain.h).
 */
static unsigned stream(struct dd_event *ev, uint64_t *cause)
{
	unsigned n = 0;
	uint64_t t = 100;
	for (unsigned i = 0; i < 40; i++) {
		if (i % 7 == 6) {
			struct dd_event *k = &ev[n];
			memset(k, 0, sizeof(*k));
			k->type = DD_EV_TICK;
			k->event_ns = t - 1;
			cause[n] = 499 + 3 * i;
			n++;
		}
		struct dd_event *e = &ev[n];
		memset(e, 0, sizeof(*e));
		e->source = (uint8_t)(i % 2);
		e->key = 1 + i % 3;
		e->seq = 10 + i;
		e->event_ns = t;
		t += i == 20 ? 5 * PERIOD : 97;
		if (i % 5 == 4) {
			e->type = DD_EV_DELETE;
			e->u.del.ref = 1000 + i - 4;
		} else {
			e->type = DD_EV_ADD;
			e->u.add.ref = 1000 + i;
			e->u.add.shares = 100 + i;
			e->u.add.price = 5000 + (i % 7) * 10;
			e->u.add.side = i % 2 ? DD_SIDE_SELL : DD_SIDE_BUY;
			memcpy(e->u.add.stock, "ABC     ", 8);
		}
		cause[n] = 500 + 3 * i; /* increasing, not consecutive: LSNs in replay */
		n++;
	}
	return n;
}

/* test_multi's rule (ops/test/test_ops.h): (seq + key) % (max + 1) outputs for an event that is
 * neither a system event nor a tick. */
static unsigned multi_n(const struct dd_event *e)
{
	return e->type == DD_EV_SYSTEM || e->type == DD_EV_TICK ? 0 : (unsigned)((e->seq + e->key) % (MULTI_MAX + 1));
}

/* events of `key` (ticks aside) in ev[0..i] */
static unsigned key_events(const struct dd_event *ev, unsigned i, uint32_t key)
{
	unsigned k = 0;
	for (unsigned j = 0; j <= i; j++)
		k += ev[j].type != DD_EV_TICK && ev[j].key == key;
	return k;
}

static void test_outputs_are_grouped_by_operator_each_in_cause_order_with_the_header_filled(void **state)
{
	struct fx *f = *state;
	struct dd_event ev[MAXN];
	uint64_t cause[MAXN];
	unsigned n = stream(ev, cause);
	dd_chain_run(&f->a, ev, cause, n);
	const struct dd_chain *c = &f->a;
	/* operator groups are consecutive and in chain order */
	assert_int_equal(c->op[0].out_begin, 0);
	assert_int_equal(c->op[1].out_begin, c->op[0].out_end);
	assert_int_equal(c->op[2].out_begin, c->op[1].out_end);
	assert_int_equal(c->emit.n, c->op[2].out_end);
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = c->op[k].out_begin; i < c->op[k].out_end; i++) {
			const struct dd_output *o = &c->emit.out[i];
			assert_int_equal(o->op, c->op[k].ops->id);
			assert_int_equal(o->shard, 3);
			if (i > c->op[k].out_begin)
				assert_true(o->cause >= c->emit.out[i - 1].cause);
		}
	/* test_multi: exactly n outputs per event, with the event's header and its rule */
	unsigned want = 0, at = c->op[1].out_begin;
	for (unsigned i = 0; i < n; i++) {
		unsigned k = multi_n(&ev[i]);
		for (unsigned j = 0; j < k; j++, at++) {
			const struct dd_output *o = &c->emit.out[at];
			assert_int_equal(o->type, DD_OUT_TEST);
			assert_int_equal(o->rule, 1);
			assert_int_equal(o->cause, cause[i]);
			assert_int_equal(o->seq, ev[i].seq);
			assert_int_equal(o->event_ns, ev[i].event_ns);
			assert_int_equal(o->key, ev[i].key);
			assert_int_equal(o->source, ev[i].source);
			assert_int_equal(o->u.test.v[0], j);
			assert_int_equal(o->u.test.v[1], k);
			assert_int_equal(o->u.test.v[2], key_events(ev, i, ev[i].key));
		}
		want += k;
	}
	assert_int_equal(c->op[1].out_end - c->op[1].out_begin, want);
	assert_int_equal(dd_chain_overflow(c), 0);
}

static void test_a_consumer_sees_the_earlier_operators_outputs_of_the_same_event(void **state)
{
	struct fx *f = *state;
	struct dd_event ev[MAXN];
	uint64_t cause[MAXN];
	unsigned n = stream(ev, cause);
	dd_chain_run(&f->a, ev, cause, n);
	const struct dd_chain *c = &f->a;
	/* v[3] of test_multi's outputs of event i = book outputs about the event's key caused by the
	 * events before it: it consumes event i's own after applying (and emitting for) event i */
	unsigned at = c->op[1].out_begin;
	for (unsigned i = 0; i < n; i++) {
		uint64_t before = 0;
		for (unsigned b = c->op[0].out_begin; b < c->op[0].out_end; b++)
			before += c->emit.out[b].cause < cause[i] && c->emit.out[b].key == ev[i].key;
		for (unsigned j = 0; j < multi_n(&ev[i]); j++, at++)
			assert_int_equal(c->emit.out[at].u.test.v[3], before);
	}
	assert_true(c->op[0].out_end > c->op[0].out_begin); /* the stream does move the top of book */
}

static void test_the_timer_fires_per_key_when_a_tick_crosses_its_period(void **state)
{
	struct fx *f = *state;
	struct dd_event ev[MAXN];
	uint64_t cause[MAXN];
	unsigned n = stream(ev, cause);
	dd_chain_run(&f->a, ev, cause, n);
	const struct dd_chain *c = &f->a;
	/* model (ops/test/test_ops.h): the first tick sets next = (t / P + 1) * P; a later tick at
	 * t >= next fires, for each key < 8 with events since its last firing, in key order */
	uint64_t next = 0, count[DD_TEST_TIMER_KEYS] = { 0 }, wm = 0;
	unsigned at = c->op[2].out_begin, fired = 0;
	for (unsigned i = 0; i < n; i++) {
		if (ev[i].type != DD_EV_TICK) {
			if (ev[i].type != DD_EV_SYSTEM && ev[i].key < DD_TEST_TIMER_KEYS)
				count[ev[i].key]++;
			continue;
		}
		if (ev[i].event_ns <= wm)
			continue;
		wm = ev[i].event_ns;
		if (next == 0) {
			next = (wm / PERIOD + 1) * PERIOD;
			continue;
		}
		if (wm < next)
			continue;
		uint64_t crossed = (wm - next) / PERIOD + 1, last = next + (crossed - 1) * PERIOD;
		for (uint32_t k = 0; k < DD_TEST_TIMER_KEYS; k++) {
			if (count[k] == 0)
				continue;
			const struct dd_output *o = &c->emit.out[at++];
			assert_int_equal(o->cause, cause[i]);
			assert_int_equal(o->rule, 2);
			assert_int_equal(o->key, k);
			assert_int_equal(o->u.test.v[0], last);
			assert_int_equal(o->u.test.v[1], count[k]);
			assert_int_equal(o->u.test.v[2], crossed);
			count[k] = 0;
			fired++;
		}
		next = last + PERIOD;
	}
	assert_int_equal(at, c->op[2].out_end);
	assert_true(fired >= 3);
}

static void test_only_ticks_move_the_watermark_and_they_are_never_applied(void **state)
{
	struct fx *f = *state;
	struct dd_event ev[4];
	uint64_t cause[4] = { 1, 2, 3, 4 };
	memset(ev, 0, sizeof(ev));
	ev[0].type = DD_EV_TICK;
	ev[0].event_ns = 10;
	ev[1].type = DD_EV_TRADE;
	ev[1].event_ns = 10 + 7 * PERIOD; /* an event's own time moves nothing */
	ev[1].key = 1;
	ev[1].seq = 3; /* (3 + 1) % 4 = 0: test_multi emits nothing */
	ev[2].type = DD_EV_TICK;
	ev[2].event_ns = 10 + 3 * PERIOD;
	ev[3].type = DD_EV_TICK;
	ev[3].event_ns = 5; /* behind the watermark: nothing */
	dd_chain_run(&f->a, ev, cause, 4);
	const struct dd_chain *c = &f->a;
	assert_int_equal(c->op[1].out_end - c->op[1].out_begin, 0);
	assert_int_equal(c->op[2].out_end - c->op[2].out_begin, 1);
	const struct dd_output *o = &c->emit.out[c->op[2].out_begin];
	assert_int_equal(o->cause, 3);
	assert_int_equal(o->key, 1);
	assert_int_equal(o->u.test.v[1], 1); /* the trade was counted, the ticks were not */
	assert_int_equal(o->u.test.v[0], 3 * PERIOD);
	assert_int_equal(c->op[2].watermark, 10 + 3 * PERIOD);
	assert_int_equal(c->ticks, 3);
	assert_int_equal(c->events, 4);
	uint64_t v[2];
	dd_test_multi_op.counters(c->op[1].state, v);
	assert_int_equal(v[0], 1);
}

struct buf {
	uint8_t p[1 << 20];
	size_t len, pos;
};

static int put(void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;
	if (b->len + n > sizeof(b->p))
		return -ENOSPC;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int get(void *ctx, void *p, size_t n)
{
	struct buf *b = ctx;
	if (n > b->len - b->pos)
		return -EBADMSG;
	memcpy(p, b->p + b->pos, n);
	b->pos += n;
	return 0;
}

static void assert_same_outputs(const struct dd_chain *x, const struct dd_chain *y)
{
	for (unsigned k = 0; k < x->nops; k++) {
		unsigned nx = x->op[k].out_end - x->op[k].out_begin, ny = y->op[k].out_end - y->op[k].out_begin;
		assert_int_equal(nx, ny);
		for (unsigned i = 0; i < nx; i++)
			assert_true(dd_output_same(&x->emit.out[x->op[k].out_begin + i], &y->emit.out[y->op[k].out_begin + i]));
	}
}

static void test_one_burst_and_event_by_event_give_the_same_outputs_per_operator_and_state(void **state)
{
	struct fx *f = *state;
	struct dd_event ev[MAXN];
	uint64_t cause[MAXN];
	unsigned n = stream(ev, cause);
	dd_chain_run(&f->a, ev, cause, n);
	/* event by event into b: gather its outputs per operator */
	static struct dd_output got[3][MAXN];
	unsigned ng[3] = { 0 };
	for (unsigned i = 0; i < n; i++) {
		dd_chain_run(&f->b, &ev[i], &cause[i], 1);
		for (unsigned k = 0; k < 3; k++)
			for (unsigned j = f->b.op[k].out_begin; j < f->b.op[k].out_end; j++)
				got[k][ng[k]++] = f->b.emit.out[j];
		dd_chain_drain(&f->b);
	}
	for (unsigned k = 0; k < 3; k++) {
		assert_int_equal(ng[k], f->a.op[k].out_end - f->a.op[k].out_begin);
		for (unsigned j = 0; j < ng[k]; j++)
			assert_true(dd_output_same(&got[k][j], &f->a.emit.out[f->a.op[k].out_begin + j]));
	}
	static struct buf sa, sb;
	sa.len = sb.len = 0;
	assert_int_equal(dd_chain_save(&f->a, put, &sa), 0);
	assert_int_equal(dd_chain_save(&f->b, put, &sb), 0);
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.p, sb.p, sa.len);
}

static void test_a_loaded_snapshot_goes_on_exactly_as_the_chain_it_was_saved_from(void **state)
{
	struct fx *f = *state;
	struct dd_event ev[MAXN];
	uint64_t cause[MAXN];
	unsigned n = stream(ev, cause);
	unsigned half = n / 2;
	dd_chain_run(&f->a, ev, cause, half);
	dd_chain_drain(&f->a);
	static struct buf s;
	s.len = s.pos = 0;
	assert_int_equal(dd_chain_save(&f->a, put, &s), 0);
	struct dd_chain c;
	void *m;
	chain_new(&c, &m, &f->spec, MAXN, 3);
	assert_int_equal(dd_chain_load(&c, get, &s), 0);
	assert_int_equal(s.pos, s.len);
	dd_chain_run(&f->a, ev + half, cause + half, n - half);
	dd_chain_run(&c, ev + half, cause + half, n - half);
	assert_true(f->a.emit.n > 0);
	assert_same_outputs(&f->a, &c);
	/* a snapshot of another chain does not load */
	struct dd_chain_spec other;
	memset(&other, 0, sizeof(other));
	struct dd_test_timer_params tp = { .period_ns = PERIOD };
	assert_int_equal(dd_chain_spec_add(&other, DD_OP_TEST_TIMER, &tp, sizeof(tp)), 0);
	struct dd_chain d;
	void *md;
	chain_new(&d, &md, &other, 1, 0);
	s.pos = 0;
	assert_int_equal(dd_chain_load(&d, get, &s), -EINVAL);
	s.len = 7;
	s.pos = 0;
	assert_int_equal(dd_chain_load(&c, get, &s), -EBADMSG);
	free(m);
	free(md);
}

static void test_emit_counts_what_does_not_fit_and_never_writes_past_the_buffer(void **state)
{
	(void)state;
	struct dd_output out[3];
	memset(out, 0x5a, sizeof(out));
	struct dd_event ev = { .type = DD_EV_ADD, .source = 1, .key = 9, .seq = 5, .event_ns = 6, .rx_tsc = 7 };
	struct dd_emit e = { .out = out, .cap = 2, .ev = &ev, .cause = 42, .shard = 3, .op = DD_OP_BOOK };
	assert_non_null(dd_emit(&e, DD_OUT_TEST, 7));
	assert_non_null(dd_emit(&e, DD_OUT_TEST, 7));
	assert_null(dd_emit(&e, DD_OUT_TEST, 7));
	assert_null(dd_emit(&e, DD_OUT_TEST, 7));
	assert_int_equal(e.n, 2);
	assert_int_equal(e.overflow, 2);
	assert_int_equal(out[1].cause, 42);
	assert_int_equal(out[1].rule, 7);
	assert_int_equal(out[1].type, DD_OUT_TEST);
	assert_int_equal(out[1].op, DD_OP_BOOK);
	assert_int_equal(out[1].source, 1);
	assert_int_equal(out[1].key, 9);
	assert_int_equal(out[1].shard, 3);
	assert_int_equal(out[1].seq, 5);
	assert_int_equal(out[1].event_ns, 6);
	assert_int_equal(out[1].rx_tsc, 7);
	assert_int_equal(out[1].rule_version, 0);
	assert_int_equal(out[1].flags, 0);
	assert_int_equal(out[1].symbol[0], 0);
	assert_int_equal(out[1].reserved[7], 0);
	assert_int_equal(out[1].u.test.v[0], 0); /* the body starts zeroed */
	assert_int_equal(out[2].cause, 0x5a5a5a5a5a5a5a5aull);
}

static void test_the_output_buffer_holds_every_operators_bound_for_a_full_burst(void **state)
{
	struct fx *f = *state;
	/* book 1, test_multi 8 x (1 + what it consumes), test_timer 8 x 2 (apply and advance), per event */
	size_t per_event = 1 + DD_TEST_MULTI_MAX * 2 + DD_TEST_TIMER_KEYS * 2;
	assert_true(f->a.emit.cap >= per_event * MAXN);
	assert_int_equal(f->b.emit.cap, f->a.emit.cap / MAXN);
}

static void test_spec_add_refuses_unknown_operators_long_params_and_a_ninth_operator(void **state)
{
	(void)state;
	struct dd_chain_spec s;
	memset(&s, 0, sizeof(s));
	uint8_t big[DD_OP_PARAMS_MAX + 1] = { 0 };
	struct dd_test_timer_params tp = { .period_ns = 1 };
	assert_int_equal(dd_chain_spec_add(&s, 77, &tp, sizeof(tp)), -ENOENT);
	assert_int_equal(dd_chain_spec_add(&s, DD_OP_TEST_TIMER, big, sizeof(big)), -EINVAL);
	for (unsigned i = 0; i < DD_CHAIN_MAX_OPS; i++)
		assert_int_equal(dd_chain_spec_add(&s, DD_OP_TEST_TIMER, &tp, sizeof(tp)), 0);
	assert_int_equal(dd_chain_spec_add(&s, DD_OP_TEST_TIMER, &tp, sizeof(tp)), -ENOSPC);
	struct dd_chain_spec t = s;
	assert_true(dd_chain_spec_equal(&s, &t));
	((struct dd_test_timer_params *)(void *)t.op[3].params)->period_ns = 2;
	assert_false(dd_chain_spec_equal(&s, &t));
}

static void test_init_names_the_operator_whose_parameters_are_out_of_range(void **state)
{
	(void)state;
	struct dd_chain_spec s;
	memset(&s, 0, sizeof(s));
	struct dd_test_multi_params mp = { .max = DD_TEST_MULTI_MAX + 1 };
	assert_int_equal(dd_chain_spec_add(&s, DD_OP_TEST_MULTI, &mp, sizeof(mp)), 0);
	struct dd_chain_params p = { .spec = &s, .burst = 4 };
	assert_int_equal(dd_chain_memsize(&p), 0);
	char err[256];
	struct dd_chain c;
	uint64_t mem[8] __attribute__((aligned(64)));
	assert_int_equal(dd_chain_init(&c, mem, sizeof(mem), &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "test_multi"));
	assert_non_null(strstr(err, "out of range"));
}

static void test_shards_spread_keys_and_broadcast_only_system_events_and_ticks(void **state)
{
	(void)state;
	unsigned hits[4] = { 0 };
	for (uint32_t k = 0; k < 4000; k++)
		hits[dd_shard_of(k, 4)]++;
	for (unsigned s = 0; s < 4; s++)
		assert_true(hits[s] > 800); /* every shard gets a fair share */
	assert_int_equal(dd_shard_of(12345, 1), 0);
	assert_int_equal(dd_shard_of(7, 3), (7u * 0x9E3779B1u) % 3);
	struct dd_event e = { .type = DD_EV_SYSTEM };
	assert_true(dd_chain_broadcast(&e));
	e.type = DD_EV_TICK;
	assert_true(dd_chain_broadcast(&e));
	e.type = DD_EV_ADD;
	assert_false(dd_chain_broadcast(&e));
}

static void test_the_book_operator_ignores_and_counts_events_of_unknown_feeds(void **state)
{
	struct fx *f = *state;
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = DD_EV_ADD;
	e.source = 2; /* the spec has 2 feeds */
	e.key = 1;
	e.u.add.shares = 10;
	e.u.add.price = 100;
	e.u.add.side = DD_SIDE_BUY;
	uint64_t cause = 9;
	dd_chain_run(&f->a, &e, &cause, 1);
	assert_int_equal(f->a.op[0].out_end - f->a.op[0].out_begin, 0);
	assert_int_equal(dd_book_op_bad_source(f->a.op[0].state), 1);
	e.source = 1;
	dd_chain_run(&f->a, &e, &cause, 1);
	const struct dd_output *o = &f->a.emit.out[f->a.op[0].out_begin];
	assert_int_equal(f->a.op[0].out_end - f->a.op[0].out_begin, 1);
	assert_int_equal(o->type, DD_OUT_BBO);
	assert_int_equal(o->u.bbo.bid_price, 100);
	assert_int_equal(o->u.bbo.bid_shares, 10);
	assert_int_equal(o->u.bbo.locate, 1);
	assert_int_equal(dd_book_op_book(f->a.op[0].state, 1)->norders, 1);
	assert_int_equal(dd_book_op_book(f->a.op[0].state, 0)->norders, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_outputs_are_grouped_by_operator_each_in_cause_order_with_the_header_filled),
		T(test_a_consumer_sees_the_earlier_operators_outputs_of_the_same_event),
		T(test_the_timer_fires_per_key_when_a_tick_crosses_its_period),
		T(test_only_ticks_move_the_watermark_and_they_are_never_applied),
		T(test_one_burst_and_event_by_event_give_the_same_outputs_per_operator_and_state),
		T(test_a_loaded_snapshot_goes_on_exactly_as_the_chain_it_was_saved_from),
		T(test_emit_counts_what_does_not_fit_and_never_writes_past_the_buffer),
		T(test_the_output_buffer_holds_every_operators_bound_for_a_full_burst),
		T(test_spec_add_refuses_unknown_operators_long_params_and_a_ninth_operator),
		T(test_init_names_the_operator_whose_parameters_are_out_of_range),
		T(test_shards_spread_keys_and_broadcast_only_system_events_and_ticks),
		T(test_the_book_operator_ignores_and_counts_events_of_unknown_feeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
