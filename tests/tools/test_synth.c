/* SPDX-License-Identifier: MIT */
/*
 * tools/synth.c: the synthetic ITCH 5.0 day. The stream is replayed through an order table written
 * here independently of the generator's own book, so a generator bug cannot hide behind itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/wire/itch.h"
#include "tools/synth.h"

#define TICK 100u

struct gen {
	struct dd_synth *s;
	void *mem;
};

static void gen_open(struct gen *g, uint64_t seed, uint32_t instruments, uint64_t messages, bool drain)
{
	struct dd_synth_params p = {
		.seed = seed, .instruments = instruments, .messages = messages, .drain = drain,
	};
	size_t n = dd_synth_memsize(&p);

	assert_true(n > 0);
	g->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(g->mem);
	assert_int_equal(dd_synth_init(&g->s, g->mem, n, &p), 0);
}

static void gen_close(struct gen *g)
{
	free(g->mem);
}

/* Encode the next message; returns its length, 0 at the end of the stream. */
static int next_bytes(struct gen *g, struct dd_itch_msg *m, uint8_t buf[DD_ITCH_MAX_LEN])
{
	int n;

	if (dd_synth_next(g->s, m) == 0)
		return 0;
	n = dd_itch_encode(m, buf, DD_ITCH_MAX_LEN);
	assert_true(n > 0);
	return n;
}

/* ---- an independent order table: ref -> remaining shares, plus sorted prices per side ------- */

struct entry {
	uint64_t ref;       /* 0 = empty slot; dead orders keep their slot so a reused ref is caught */
	uint32_t shares;
	uint32_t price;
	uint16_t locate;
	uint8_t side;
	bool live;
};

struct side_prices {
	uint32_t *p;        /* ascending */
	size_t n;
};

struct table {
	struct entry *e;
	size_t mask;
	size_t live;
	uint32_t instruments;
	struct side_prices *sides; /* [locate * 2 + side] */
	size_t side_cap;
	uint64_t *matches;  /* match numbers seen, for B */
	size_t nmatch;
	char (*symbols)[8]; /* by locate, from R */
};

static void table_init(struct table *t, uint64_t messages, uint32_t instruments)
{
	size_t cap = 1;

	while (cap < 2 * messages)
		cap <<= 1;
	t->e = calloc(cap, sizeof(*t->e));
	t->mask = cap - 1;
	t->live = 0;
	t->instruments = instruments;
	t->side_cap = messages;
	t->sides = calloc(2 * ((size_t)instruments + 1), sizeof(*t->sides));
	for (size_t i = 0; i < 2 * ((size_t)instruments + 1); i++)
		t->sides[i].p = malloc(messages * sizeof(uint32_t));
	t->matches = malloc(messages * sizeof(uint64_t));
	t->nmatch = 0;
	t->symbols = calloc((size_t)instruments + 1, 8);
	assert_non_null(t->e);
	assert_non_null(t->matches);
	assert_non_null(t->symbols);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < 2 * ((size_t)t->instruments + 1); i++)
		free(t->sides[i].p);
	free(t->sides);
	free(t->e);
	free(t->matches);
	free(t->symbols);
}

static struct entry *slot(struct table *t, uint64_t ref)
{
	size_t i = (size_t)((ref * 0x9e3779b97f4a7c15ull) >> 20) & t->mask;

	while (t->e[i].ref != 0 && t->e[i].ref != ref)
		i = (i + 1) & t->mask;
	return &t->e[i];
}

static struct side_prices *prices(struct table *t, uint16_t locate, uint8_t side)
{
	return &t->sides[(size_t)locate * 2 + (side == 'S')];
}

static size_t lower_bound(const struct side_prices *sp, uint32_t price)
{
	size_t lo = 0, hi = sp->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (sp->p[mid] < price)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void price_add(struct table *t, const struct entry *e)
{
	struct side_prices *sp = prices(t, e->locate, e->side);
	size_t i = lower_bound(sp, e->price);

	assert_true(sp->n < t->side_cap);
	memmove(sp->p + i + 1, sp->p + i, (sp->n - i) * sizeof(uint32_t));
	sp->p[i] = e->price;
	sp->n++;
}

static void price_remove(struct table *t, const struct entry *e)
{
	struct side_prices *sp = prices(t, e->locate, e->side);
	size_t i = lower_bound(sp, e->price);

	assert_true(i < sp->n);
	assert_int_equal(sp->p[i], e->price);
	memmove(sp->p + i, sp->p + i + 1, (sp->n - i - 1) * sizeof(uint32_t));
	sp->n--;
}

static void assert_not_crossed(struct table *t, uint16_t locate)
{
	struct side_prices *b = prices(t, locate, 'B'), *s = prices(t, locate, 'S');

	if (b->n && s->n)
		assert_true(b->p[b->n - 1] < s->p[0]);
}

static void add_order(struct table *t, uint64_t ref, uint16_t locate, uint8_t side, uint32_t shares,
		      uint32_t price)
{
	struct entry *e = slot(t, ref);

	assert_int_not_equal(ref, 0);
	assert_int_equal(e->ref, 0); /* a fresh reference, never used before */
	assert_true(locate >= 1 && locate <= t->instruments);
	assert_true(side == 'B' || side == 'S');
	assert_true(shares > 0);
	assert_true(price > 0);
	assert_int_equal(price % TICK, 0);
	e->ref = ref;
	e->shares = shares;
	e->price = price;
	e->locate = locate;
	e->side = side;
	e->live = true;
	t->live++;
	price_add(t, e);
	assert_not_crossed(t, locate);
}

static struct entry *live_order(struct table *t, uint64_t ref, uint16_t locate)
{
	struct entry *e = slot(t, ref);

	assert_int_equal(e->ref, ref);
	assert_true(e->live);
	assert_int_equal(e->locate, locate);
	return e;
}

static void kill_order(struct table *t, struct entry *e)
{
	price_remove(t, e);
	e->live = false;
	e->shares = 0;
	t->live--;
}

static void take(struct table *t, struct entry *e, uint32_t shares)
{
	assert_true(shares > 0);
	assert_true(shares <= e->shares);
	e->shares -= shares;
	if (e->shares == 0)
		kill_order(t, e);
}

static void seen_match(struct table *t, uint64_t match)
{
	t->matches[t->nmatch++] = match;
}

/* Apply one message to the table, asserting every book rule the generator promises. */
static void apply(struct table *t, const struct dd_itch_msg *m)
{
	struct entry *e;

	switch (m->type) {
	case 'R':
		assert_true(m->locate >= 1 && m->locate <= t->instruments);
		memcpy(t->symbols[m->locate], m->u.directory.stock, 8);
		break;
	case 'A':
	case 'F':
		assert_memory_equal(m->u.add.stock, t->symbols[m->locate], 8);
		add_order(t, m->u.add.ref, m->locate, m->u.add.side, m->u.add.shares, m->u.add.price);
		break;
	case 'E':
		e = live_order(t, m->u.exec.ref, m->locate);
		take(t, e, m->u.exec.shares);
		seen_match(t, m->u.exec.match);
		break;
	case 'C':
		e = live_order(t, m->u.exec_price.ref, m->locate);
		take(t, e, m->u.exec_price.shares);
		seen_match(t, m->u.exec_price.match);
		break;
	case 'X':
		e = live_order(t, m->u.cancel.ref, m->locate);
		assert_true(m->u.cancel.shares > 0);
		assert_true(m->u.cancel.shares < e->shares); /* a full cancel is a D */
		e->shares -= m->u.cancel.shares;
		break;
	case 'D':
		e = live_order(t, m->u.del.ref, m->locate);
		kill_order(t, e);
		break;
	case 'U': {
		uint8_t side;

		e = live_order(t, m->u.replace.orig_ref, m->locate);
		side = e->side;
		kill_order(t, e);
		add_order(t, m->u.replace.new_ref, m->locate, side, m->u.replace.shares, m->u.replace.price);
		break;
	}
	case 'P':
		assert_int_equal(m->u.trade.ref, 0);
		assert_true(m->u.trade.shares > 0);
		seen_match(t, m->u.trade.match);
		break;
	case 'Q':
		seen_match(t, m->u.cross.match);
		break;
	case 'B': {
		bool found = false;

		for (size_t i = 0; i < t->nmatch && !found; i++)
			found = t->matches[i] == m->u.broken.match;
		assert_true(found);
		break;
	}
	default:
		break;
	}
}

/* Replay a whole stream; returns the number of messages. */
static uint64_t replay(uint64_t seed, uint32_t instruments, uint64_t messages, bool drain, struct table *t,
		       uint64_t *live_at_end)
{
	struct gen g;
	struct dd_itch_msg m;
	uint64_t n = 0, last_ts = 0;

	gen_open(&g, seed, instruments, messages, drain);
	table_init(t, messages, instruments);
	while (dd_synth_next(g.s, &m) == 1) {
		if (n > 0)
			assert_true(m.timestamp > last_ts);
		last_ts = m.timestamp;
		apply(t, &m);
		n++;
	}
	assert_int_equal(t->live, dd_synth_live_orders(g.s));
	*live_at_end = dd_synth_live_orders(g.s);
	gen_close(&g);
	return n;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_same_seed_gives_identical_messages(void **state)
{
	struct gen a, b;
	struct dd_itch_msg ma, mb;
	uint8_t ba[DD_ITCH_MAX_LEN], bb[DD_ITCH_MAX_LEN];
	int na, nb;
	uint64_t n = 0;

	(void)state;
	gen_open(&a, 42, 100, 20000, false);
	gen_open(&b, 42, 100, 20000, false);
	do {
		na = next_bytes(&a, &ma, ba);
		nb = next_bytes(&b, &mb, bb);
		assert_int_equal(na, nb);
		assert_memory_equal(ba, bb, (size_t)na);
		assert_memory_equal(&ma, &mb, sizeof(ma)); /* unused bytes are zero too */
		n += na > 0;
	} while (na > 0);
	assert_int_equal(n, 20000);
	gen_close(&a);
	gen_close(&b);
}

static void test_different_seed_gives_different_messages(void **state)
{
	struct gen a, b;
	struct dd_itch_msg ma, mb;
	uint8_t ba[DD_ITCH_MAX_LEN], bb[DD_ITCH_MAX_LEN];
	uint64_t differ = 0, n = 0;
	int na, nb;

	(void)state;
	gen_open(&a, 1, 100, 20000, false);
	gen_open(&b, 2, 100, 20000, false);
	while ((na = next_bytes(&a, &ma, ba)) > 0) {
		nb = next_bytes(&b, &mb, bb);
		assert_true(nb > 0);
		differ += na != nb || memcmp(ba, bb, (size_t)na) != 0;
		n++;
	}
	assert_int_equal(n, 20000);
	/* Symbols, prices, times all differ: nearly every message does. */
	assert_true(differ > n * 9 / 10);
	gen_close(&a);
	gen_close(&b);
}

static void test_every_message_encodes_at_its_length_and_decodes_back(void **state)
{
	struct gen g;
	struct dd_itch_msg m, d;
	uint8_t buf[DD_ITCH_MAX_LEN], again[DD_ITCH_MAX_LEN];
	int n;

	(void)state;
	gen_open(&g, 3, 100, 20000, true);
	while ((n = next_bytes(&g, &m, buf)) > 0) {
		assert_int_equal((size_t)n, dd_itch_msg_len(m.type));
		assert_int_equal(dd_itch_decode(buf, (size_t)n, &d), 0);
		assert_int_equal(d.type, m.type);
		assert_int_equal(d.locate, m.locate);
		assert_int_equal(d.timestamp, m.timestamp);
		assert_int_equal(dd_itch_encode(&d, again, sizeof(again)), n);
		assert_memory_equal(buf, again, (size_t)n);
	}
	gen_close(&g);
}

static void test_orders_reference_only_live_orders_and_never_overexecute(void **state)
{
	struct table t;
	uint64_t live;

	(void)state;
	assert_int_equal(replay(11, 50, 50000, false, &t, &live), 50000);
	/* Without --drain the day ends with orders resting on the book. */
	assert_true(live > 0);
	table_free(&t);
}

static void test_drain_ends_with_an_empty_book(void **state)
{
	struct table t;
	uint64_t live;

	(void)state;
	assert_int_equal(replay(12, 100, 20000, true, &t, &live), 20000);
	assert_int_equal(live, 0);
	assert_int_equal(t.live, 0);
	for (uint32_t i = 1; i <= 100; i++) {
		assert_int_equal(prices(&t, (uint16_t)i, 'B')->n, 0);
		assert_int_equal(prices(&t, (uint16_t)i, 'S')->n, 0);
	}
	table_free(&t);
}

static void test_drain_empties_the_book_even_for_tiny_days(void **state)
{
	(void)state;
	for (uint32_t n = 1; n <= 3; n++)
		for (uint64_t m = DD_SYNTH_FIXED_MESSAGES(n); m < DD_SYNTH_FIXED_MESSAGES(n) + 120; m++) {
			struct table t;
			uint64_t live;

			assert_int_equal(replay(m, n, m, true, &t, &live), m);
			assert_int_equal(live, 0);
			table_free(&t);
		}
}

static void test_live_orders_stay_under_the_cap(void **state)
{
	struct dd_synth_params p = { .seed = 5, .instruments = 10, .messages = 30000, .max_live = 300 };
	size_t n = dd_synth_memsize(&p);
	void *mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	struct dd_synth *s;
	struct dd_itch_msg m;
	uint64_t most = 0;

	(void)state;
	assert_int_equal(dd_synth_init(&s, mem, n, &p), 0);
	while (dd_synth_next(s, &m) == 1)
		if (dd_synth_live_orders(s) > most)
			most = dd_synth_live_orders(s);
	assert_int_equal(most, 300);
	free(mem);
}

static void test_all_23_types_appear_in_20000_messages(void **state)
{
	struct gen g;
	struct dd_itch_msg m;
	uint64_t seen[256] = { 0 };

	(void)state;
	assert_int_equal(strlen(dd_itch_types), 23);
	gen_open(&g, 1, 100, 20000, false);
	while (dd_synth_next(g.s, &m) == 1)
		seen[m.type]++;
	for (const char *t = dd_itch_types; *t; t++) {
		assert_true(seen[(uint8_t)*t] > 0);
		assert_int_equal(seen[(uint8_t)*t], dd_synth_type_count(g.s, (uint8_t)*t));
	}
	gen_close(&g);
}

static void test_all_23_types_appear_in_10000_messages_for_any_seed(void **state)
{
	(void)state;
	for (uint64_t seed = 0; seed < 20; seed++) {
		struct gen g;
		struct dd_itch_msg m;

		gen_open(&g, seed, seed < 10 ? 100 : 1000, 10000, seed & 1);
		while (dd_synth_next(g.s, &m) == 1)
			;
		for (const char *t = dd_itch_types; *t; t++)
			assert_true(dd_synth_type_count(g.s, (uint8_t)*t) > 0);
		gen_close(&g);
	}
}

static void test_day_opens_and_closes_with_the_system_events(void **state)
{
	struct gen g;
	struct dd_itch_msg m;
	const uint32_t n = 30;
	uint64_t k = 0;
	char symbols[31][8];

	(void)state;
	gen_open(&g, 9, n, 5000, false);
	while (dd_synth_next(g.s, &m) == 1) {
		if (k == 0) {
			assert_int_equal(m.type, 'S');
			assert_int_equal(m.u.system.event_code, 'O');
		} else if (k <= n) {
			assert_int_equal(m.type, 'R');
			assert_int_equal(m.locate, k);
			assert_int_equal(m.u.directory.round_lot_size, 100);
			memcpy(symbols[k], m.u.directory.stock, 8);
			assert_memory_equal(symbols[k], dd_synth_symbol(g.s, (uint16_t)k), 8);
			/* 1-5 upper-case letters, space padded, unique */
			size_t len = 0;
			while (len < 8 && symbols[k][len] != ' ') {
				assert_true(symbols[k][len] >= 'A' && symbols[k][len] <= 'Z');
				len++;
			}
			assert_true(len >= 1 && len <= 5);
			for (size_t i = len; i < 8; i++)
				assert_int_equal(symbols[k][i], ' ');
			for (uint64_t j = 1; j < k; j++)
				assert_memory_not_equal(symbols[j], symbols[k], 8);
		} else if (k <= 2 * n) {
			assert_int_equal(m.type, 'H');
			assert_int_equal(m.locate, k - n);
			assert_int_equal(m.u.trading_action.state, 'T');
		} else if (k == 2 * n + 1) {
			assert_int_equal(m.type, 'S');
			assert_int_equal(m.u.system.event_code, 'S');
		} else if (k == 2 * n + 2) {
			assert_int_equal(m.type, 'S');
			assert_int_equal(m.u.system.event_code, 'Q');
			assert_int_equal(m.timestamp, 34200ull * 1000000000ull); /* 09:30:00 */
		} else if (k >= 5000 - 3) {
			assert_int_equal(m.type, 'S');
			assert_int_equal(m.u.system.event_code, "MEC"[k - (5000 - 3)]);
		} else {
			assert_true(m.timestamp > 34200ull * 1000000000ull);
			assert_true(m.type != 'S' && m.type != 'R');
		}
		k++;
	}
	assert_int_equal(k, 5000);
	assert_int_equal(dd_synth_produced(g.s), 5000);
	assert_int_equal(dd_synth_next(g.s, &m), 0);
	gen_close(&g);
}

static void test_order_flow_has_the_briefed_proportions(void **state)
{
	struct gen g;
	struct dd_itch_msg m;
	uint64_t flow, round_lots = 0, adds;

	(void)state;
	gen_open(&g, 1, 100, 100000, false);
	while (dd_synth_next(g.s, &m) == 1)
		if (m.type == 'A' || m.type == 'F')
			round_lots += m.u.add.shares % 100 == 0;
	flow = 100000 - DD_SYNTH_FIXED_MESSAGES(100);
	adds = dd_synth_type_count(g.s, 'A') + dd_synth_type_count(g.s, 'F');
#define SHARE_IN(count, lo_pct, hi_pct) \
	do { \
		assert_true((count) * 100 >= (lo_pct) * flow); \
		assert_true((count) * 100 <= (hi_pct) * flow); \
	} while (0)
	SHARE_IN(adds, 42, 48);
	SHARE_IN(dd_synth_type_count(g.s, 'F'), 4, 6);
	SHARE_IN(dd_synth_type_count(g.s, 'D'), 32, 38);
	SHARE_IN(dd_synth_type_count(g.s, 'X'), 4, 6);
	SHARE_IN(dd_synth_type_count(g.s, 'E'), 5, 7);
	SHARE_IN(dd_synth_type_count(g.s, 'C'), 0, 2);
	SHARE_IN(dd_synth_type_count(g.s, 'U'), 3, 5);
	SHARE_IN(dd_synth_type_count(g.s, 'P'), 1, 3);
#undef SHARE_IN
	assert_true(round_lots * 10 >= adds * 7); /* mostly round lots */
	gen_close(&g);
}

static void test_rejects_out_of_range_parameters(void **state)
{
	struct dd_synth_params p = { .seed = 1, .instruments = 10, .messages = 26 };
	struct dd_synth *s = NULL;
	size_t n;
	void *mem;

	(void)state;
	n = dd_synth_memsize(&p);
	assert_true(n > 0);
	mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_int_equal(dd_synth_init(&s, mem, n - 1, &p), -EINVAL);
	p.messages = 25; /* 2 x 10 + 6 is the least */
	assert_int_equal(dd_synth_memsize(&p), 0);
	assert_int_equal(dd_synth_init(&s, mem, n, &p), -EINVAL);
	p.messages = 1000;
	p.instruments = 0;
	assert_int_equal(dd_synth_memsize(&p), 0);
	p.instruments = DD_SYNTH_MAX_INSTRUMENTS + 1;
	assert_int_equal(dd_synth_memsize(&p), 0);
	assert_null(s);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_seed_gives_identical_messages),
		cmocka_unit_test(test_different_seed_gives_different_messages),
		cmocka_unit_test(test_every_message_encodes_at_its_length_and_decodes_back),
		cmocka_unit_test(test_orders_reference_only_live_orders_and_never_overexecute),
		cmocka_unit_test(test_drain_ends_with_an_empty_book),
		cmocka_unit_test(test_drain_empties_the_book_even_for_tiny_days),
		cmocka_unit_test(test_live_orders_stay_under_the_cap),
		cmocka_unit_test(test_all_23_types_appear_in_20000_messages),
		cmocka_unit_test(test_all_23_types_appear_in_10000_messages_for_any_seed),
		cmocka_unit_test(test_day_opens_and_closes_with_the_system_events),
		cmocka_unit_test(test_order_flow_has_the_briefed_proportions),
		cmocka_unit_test(test_rejects_out_of_range_parameters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
