/* SPDX-License-Identifier: MIT */
/*
 * The staged route (ops/route.h): by locate it is dd_shard_of(locate); by symbol one symbol's
 * locates on every feed share a shard, from the feeds' directory messages. Expected shards are
 * worked out here from the rules the header documents, not taken from the route.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/route.h"

#define FEEDS 3

struct buf {
	uint8_t b[1 << 16];
	size_t len, pos;
};

static int put(void *ctx, const void *p, size_t n)
{
	struct buf *m = ctx;
	if (m->len + n > sizeof(m->b))
		return -ENOSPC;
	memcpy(m->b + m->len, p, n);
	m->len += n;
	return 0;
}

static int get(void *ctx, void *p, size_t n)
{
	struct buf *m = ctx;
	if (m->pos + n > m->len)
		return -EBADMSG;
	memcpy(p, m->b + m->pos, n);
	m->pos += n;
	return 0;
}

static struct dd_event ev(uint8_t type, unsigned feed, uint32_t locate, const char *symbol)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.source = (uint8_t)feed;
	e.key = locate;
	if (symbol != NULL) {
		memset(e.u.directory.stock, ' ', 8);
		memcpy(e.u.directory.stock, symbol, strlen(symbol));
	}
	return e;
}

/* The header's formulas, written out again: Fibonacci hashing of the key, and of the symbol's
 * eight bytes read as a little-endian integer. */
static unsigned locate_shard(uint32_t key, unsigned n)
{
	return n <= 1 ? 0 : (unsigned)((uint32_t)(key * 2654435761u) % n);
}

static unsigned symbol_shard(const char *symbol, unsigned n)
{
	uint8_t b[8];
	memset(b, ' ', 8);
	memcpy(b, symbol, strlen(symbol));
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return locate_shard((uint32_t)((v * 0x9E3779B97F4A7C15ull) >> 32), n);
}

static struct dd_route *mk(unsigned policy, unsigned shards)
{
	struct dd_route *r = calloc(1, sizeof(*r));
	size_t len = dd_route_memsize(policy, FEEDS);
	void *mem = len > 0 ? malloc(len) : NULL;
	assert_true(r != NULL && (len == 0 || mem != NULL));
	dd_route_init(r, mem, policy, shards, FEEDS);
	return r;
}

static void rm(struct dd_route *r)
{
	free(r->shard);
	free(r);
}

static void test_by_locate_is_the_locates_shard_whatever_the_directory_says(void **state)
{
	(void)state;
	struct dd_route *r = mk(DD_ROUTE_LOCATE, 4);
	assert_int_equal(dd_route_memsize(DD_ROUTE_LOCATE, FEEDS), 0);
	for (uint32_t l = 0; l < 3000; l += 7) {
		struct dd_event d = ev(DD_EV_DIRECTORY, l % FEEDS, l, "ABC");
		struct dd_event a = ev(DD_EV_ADD, l % FEEDS, l, NULL);
		assert_int_equal(dd_route_shard(r, &d), locate_shard(l, 4));
		assert_int_equal(dd_route_shard(r, &a), locate_shard(l, 4));
	}
	assert_int_equal(dd_route_count(r), 0);
	rm(r);
}

static void test_by_symbol_one_symbols_locates_on_every_feed_share_its_shard(void **state)
{
	(void)state;
	const char *sym[] = { "ARBT", "AAPL", "MSFT", "Z", "ABCDEFGH", "QQQ" };
	for (unsigned shards = 1; shards <= 7; shards++) {
		struct dd_route *r = mk(DD_ROUTE_SYMBOL, shards);
		for (unsigned i = 0; i < 6; i++) {
			/* the same symbol under three different locate codes, one per feed */
			for (unsigned f = 0; f < FEEDS; f++) {
				uint32_t loc = 100 + i + 1000 * f;
				struct dd_event d = ev(DD_EV_DIRECTORY, f, loc, sym[i]);
				assert_int_equal(dd_route_shard(r, &d), symbol_shard(sym[i], shards));
			}
			for (unsigned f = 0; f < FEEDS; f++) {
				uint32_t loc = 100 + i + 1000 * f;
				uint8_t types[] = { DD_EV_ADD, DD_EV_EXEC, DD_EV_DELETE, DD_EV_TRADE, DD_EV_TRADING_STATE };
				for (unsigned t = 0; t < sizeof(types); t++) {
					struct dd_event e = ev(types[t], f, loc, NULL);
					assert_int_equal(dd_route_shard(r, &e), symbol_shard(sym[i], shards));
				}
			}
		}
		assert_int_equal(dd_route_count(r), 6 * FEEDS);
		rm(r);
	}
}

static void test_a_locate_before_its_directory_goes_by_locate_then_moves_with_it(void **state)
{
	(void)state;
	/* find a symbol whose shard differs from locate 42's among 5 */
	const unsigned n = 5;
	const char *sym = NULL, *cand[] = { "AA", "BB", "CC", "DD", "EE", "FF", "GG" };
	for (unsigned i = 0; i < 7 && sym == NULL; i++)
		if (symbol_shard(cand[i], n) != locate_shard(42, n))
			sym = cand[i];
	assert_non_null(sym);
	struct dd_route *r = mk(DD_ROUTE_SYMBOL, n);
	struct dd_event a = ev(DD_EV_ADD, 1, 42, NULL);
	assert_int_equal(dd_route_shard(r, &a), locate_shard(42, n));
	assert_int_equal(dd_route_shard(r, &a), locate_shard(42, n)); /* and stays */
	struct dd_event d = ev(DD_EV_DIRECTORY, 1, 42, sym);
	assert_int_equal(dd_route_shard(r, &d), symbol_shard(sym, n));
	assert_int_equal(dd_route_shard(r, &a), symbol_shard(sym, n));
	/* the same locate on another feed is another instrument */
	struct dd_event b = ev(DD_EV_ADD, 2, 42, NULL);
	assert_int_equal(dd_route_shard(r, &b), locate_shard(42, n));
	/* feeds the route does not know, and keys that are no locate, go by key */
	struct dd_event far = ev(DD_EV_DIRECTORY, FEEDS, 42, sym);
	assert_int_equal(dd_route_shard(r, &far), locate_shard(42, n));
	struct dd_event big = ev(DD_EV_ADD, 0, 70000, NULL);
	assert_int_equal(dd_route_shard(r, &big), locate_shard(70000, n));
	assert_int_equal(dd_route_count(r), 2);
	rm(r);
}

static void test_a_saved_route_loads_into_a_fresh_one_and_routes_the_same(void **state)
{
	(void)state;
	struct dd_route *r = mk(DD_ROUTE_SYMBOL, 3), *s = mk(DD_ROUTE_SYMBOL, 3);
	char name[9];
	for (uint32_t l = 1; l < 500; l++) {
		snprintf(name, sizeof(name), "S%u", l % 97);
		struct dd_event d = ev(l % 2 ? DD_EV_DIRECTORY : DD_EV_ADD, l % FEEDS, l, name);
		(void)dd_route_shard(r, &d);
	}
	static struct buf m;
	memset(&m, 0, sizeof(m));
	assert_int_equal(dd_route_save(r, put, &m), 0);
	assert_int_equal(m.len, 16 + 8 * dd_route_count(r));
	assert_int_equal(dd_route_load(s, get, &m), 0);
	assert_int_equal(m.pos, m.len);
	assert_memory_equal(r->shard, s->shard, dd_route_memsize(DD_ROUTE_SYMBOL, FEEDS));
	for (uint32_t l = 0; l < 600; l++) {
		struct dd_event a = ev(DD_EV_CANCEL, l % FEEDS, l, NULL);
		assert_int_equal(dd_route_shard(s, &a), dd_route_shard(r, &a));
	}
	rm(r);
	rm(s);
}

static void test_a_route_for_another_policy_feed_count_or_shard_count_does_not_load(void **state)
{
	(void)state;
	/* a symbol on the last of 4 shards */
	char sym[9] = "";
	for (unsigned i = 0; i < 1000 && sym[0] == '\0'; i++) {
		snprintf(sym, sizeof(sym), "X%u", i);
		if (symbol_shard(sym, 4) != 3)
			sym[0] = '\0';
	}
	assert_true(sym[0] != '\0');
	struct dd_route *r = mk(DD_ROUTE_SYMBOL, 4);
	struct dd_event d = ev(DD_EV_DIRECTORY, 0, 9, sym);
	assert_int_equal(dd_route_shard(r, &d), 3);
	static struct buf m;
	memset(&m, 0, sizeof(m));
	assert_int_equal(dd_route_save(r, put, &m), 0);

	struct dd_route *loc = mk(DD_ROUTE_LOCATE, 4);
	m.pos = 0;
	assert_int_equal(dd_route_load(loc, get, &m), -EBADMSG);
	rm(loc);

	struct dd_route *few = calloc(1, sizeof(*few));
	void *mem = malloc(dd_route_memsize(DD_ROUTE_SYMBOL, 1));
	dd_route_init(few, mem, DD_ROUTE_SYMBOL, 4, 1);
	m.pos = 0;
	assert_int_equal(dd_route_load(few, get, &m), -EBADMSG);
	rm(few);

	/* an entry naming a shard the loading route has not */
	struct dd_route *narrow = mk(DD_ROUTE_SYMBOL, 3);
	m.pos = 0;
	assert_int_equal(dd_route_load(narrow, get, &m), -EBADMSG);
	rm(narrow);

	/* truncated, and an entry's reserved half set */
	struct dd_route *s = mk(DD_ROUTE_SYMBOL, 4);
	m.pos = 0;
	m.len -= 1;
	assert_int_equal(dd_route_load(s, get, &m), -EBADMSG);
	m.len += 1;
	m.b[m.len - 1] = 1;
	m.pos = 0;
	assert_int_equal(dd_route_load(s, get, &m), -EBADMSG);
	rm(s);
	rm(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_locate_is_the_locates_shard_whatever_the_directory_says),
		cmocka_unit_test(test_by_symbol_one_symbols_locates_on_every_feed_share_its_shard),
		cmocka_unit_test(test_a_locate_before_its_directory_goes_by_locate_then_moves_with_it),
		cmocka_unit_test(test_a_saved_route_loads_into_a_fresh_one_and_routes_the_same),
		cmocka_unit_test(test_a_route_for_another_policy_feed_count_or_shard_count_does_not_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
