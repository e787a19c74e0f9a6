/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/book/book.h"

struct fixture {
	struct dd_book b;
	void *mem;
};

static struct fixture *make_book(uint32_t instruments, uint32_t orders, uint32_t levels)
{
	struct dd_book_params p = { instruments, orders, levels };
	struct fixture *f = calloc(1, sizeof(*f));
	size_t len = dd_book_memsize(&p);
	assert_true(len > 0);
	f->mem = aligned_alloc(64, len);
	assert_non_null(f->mem);
	memset(f->mem, 0xA5, len); /* init must not rely on zeroed memory */
	assert_int_equal(dd_book_init(&f->b, f->mem, len, &p), 0);
	return f;
}

static int setup(void **state)
{
	*state = make_book(16, 64, 64);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->mem);
	free(f);
	return 0;
}

static void check(const struct dd_book *b)
{
	char why[256];
	int rc = dd_book_check(b, why, sizeof(why));
	if (rc != 0)
		fail_msg("book invariant broken: %s", why);
}

static struct dd_event ev(uint8_t type, uint16_t locate)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.key = locate;
	return e;
}

static unsigned add(struct dd_book *b, uint16_t locate, uint64_t ref, char side, uint32_t shares, uint32_t price)
{
	struct dd_event e = ev(DD_EV_ADD, locate);
	e.u.add.ref = ref;
	e.u.add.side = (uint8_t)side;
	e.u.add.shares = shares;
	e.u.add.price = price;
	memcpy(e.u.add.stock, "TEST    ", 8);
	return dd_book_apply(b, &e);
}

static unsigned exec(struct dd_book *b, uint16_t locate, uint64_t ref, uint32_t shares)
{
	struct dd_event e = ev(DD_EV_EXEC, locate);
	e.u.exec.ref = ref;
	e.u.exec.shares = shares;
	e.u.exec.printable = 'Y';
	return dd_book_apply(b, &e);
}

static unsigned exec_price(struct dd_book *b, uint16_t locate, uint64_t ref, uint32_t shares, uint32_t price,
			   char printable)
{
	struct dd_event e = ev(DD_EV_EXEC_PRICE, locate);
	e.u.exec.ref = ref;
	e.u.exec.shares = shares;
	e.u.exec.price = price;
	e.u.exec.printable = (uint8_t)printable;
	return dd_book_apply(b, &e);
}

static unsigned cancel(struct dd_book *b, uint16_t locate, uint64_t ref, uint32_t shares)
{
	struct dd_event e = ev(DD_EV_CANCEL, locate);
	e.u.cancel.ref = ref;
	e.u.cancel.shares = shares;
	return dd_book_apply(b, &e);
}

static unsigned del(struct dd_book *b, uint16_t locate, uint64_t ref)
{
	struct dd_event e = ev(DD_EV_DELETE, locate);
	e.u.del.ref = ref;
	return dd_book_apply(b, &e);
}

static unsigned replace(struct dd_book *b, uint16_t locate, uint64_t ref, uint64_t new_ref, uint32_t shares,
			uint32_t price)
{
	struct dd_event e = ev(DD_EV_REPLACE, locate);
	e.u.replace.ref = ref;
	e.u.replace.new_ref = new_ref;
	e.u.replace.shares = shares;
	e.u.replace.price = price;
	return dd_book_apply(b, &e);
}

static void assert_level(const struct dd_book_level *l, uint32_t price, uint64_t shares, uint32_t orders)
{
	assert_int_equal(l->price, price);
	assert_int_equal(l->shares, shares);
	assert_int_equal(l->orders, orders);
}

static const struct dd_book_instr *instr(const struct dd_book *b, uint16_t locate)
{
	const struct dd_book_instr *in = dd_book_find(b, locate);
	assert_non_null(in);
	return in;
}

static void test_memsize_rejects_out_of_range_params(void **state)
{
	(void)state;
	struct dd_book_params p = { 0, 10, 10 };
	assert_int_equal(dd_book_memsize(&p), 0);
	p = (struct dd_book_params){ 65536, 10, 10 };
	assert_int_equal(dd_book_memsize(&p), 0);
	p = (struct dd_book_params){ 1, 0, 10 };
	assert_int_equal(dd_book_memsize(&p), 0);
	p = (struct dd_book_params){ 1, 1, 1 };
	assert_int_equal(dd_book_memsize(&p), 0);
	p = (struct dd_book_params){ 1, 1, 2 };
	size_t len = dd_book_memsize(&p);
	assert_true(len > 0);
	struct dd_book b;
	void *mem = aligned_alloc(64, len);
	assert_int_equal(dd_book_init(&b, mem, len - 1, &p), -EINVAL);
	assert_int_equal(dd_book_init(&b, mem, len, &p), 0);
	free(mem);
}

static void test_add_creates_level_and_best_bid(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	assert_int_equal(add(b, 7, 100, 'B', 300, 1234500), DD_BOOK_BID_CHANGED);
	const struct dd_book_instr *in = instr(b, 7);
	assert_memory_equal(in->symbol, "TEST    ", 8);
	assert_int_equal(in->orders, 1);
	struct dd_book_level l;
	assert_true(dd_book_best(b, in, DD_BOOK_BID, &l));
	assert_level(&l, 1234500, 300, 1);
	assert_false(dd_book_best(b, in, DD_BOOK_ASK, &l));
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 100, &o));
	assert_int_equal(o.shares, 300);
	assert_int_equal(o.price, 1234500);
	assert_int_equal(o.locate, 7);
	assert_int_equal(o.side, 'B');
	assert_int_equal(b->stats.adds, 1);
	check(b);
}

static void test_adds_at_one_price_aggregate(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 1, 1, 'S', 100, 500000);
	add(b, 1, 2, 'S', 250, 500000);
	add(b, 1, 3, 'S', 50, 500000);
	struct dd_book_level l;
	assert_true(dd_book_best(b, instr(b, 1), DD_BOOK_ASK, &l));
	assert_level(&l, 500000, 400, 3);
	assert_int_equal(instr(b, 1)->side[DD_BOOK_ASK].nlevels, 1);
	assert_int_equal(b->nlevels, 1);
	check(b);
}

static void test_bids_sort_descending_asks_ascending(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	/* prices arrive in an order that inserts at the head, the tail and the middle from both ends */
	static const uint32_t bids[] = { 1000, 1200, 900, 1100, 950, 1150, 1010, 800 };
	static const uint32_t asks[] = { 2000, 1800, 2200, 1900, 2100, 1850, 2150, 2500 };
	for (unsigned i = 0; i < 8; i++) {
		add(b, 3, 10 + i, 'B', 100 + i, bids[i]);
		add(b, 3, 50 + i, 'S', 200 + i, asks[i]);
	}
	struct dd_book_level d[10];
	assert_int_equal(dd_book_depth(b, instr(b, 3), DD_BOOK_BID, d, 10), 8);
	static const uint32_t bid_sorted[] = { 1200, 1150, 1100, 1010, 1000, 950, 900, 800 };
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(d[i].price, bid_sorted[i]);
	assert_level(&d[0], 1200, 101, 1);
	assert_int_equal(dd_book_depth(b, instr(b, 3), DD_BOOK_ASK, d, 10), 8);
	static const uint32_t ask_sorted[] = { 1800, 1850, 1900, 2000, 2100, 2150, 2200, 2500 };
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(d[i].price, ask_sorted[i]);
	assert_int_equal(dd_book_depth(b, instr(b, 3), DD_BOOK_ASK, d, 3), 3);
	assert_int_equal(d[2].price, 1900);
	check(b);
}

static void test_add_below_best_does_not_change_top(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	assert_int_equal(add(b, 1, 1, 'B', 100, 1000), DD_BOOK_BID_CHANGED);
	assert_int_equal(add(b, 1, 2, 'B', 100, 900), 0);
	assert_int_equal(add(b, 1, 3, 'B', 100, 1000), DD_BOOK_BID_CHANGED);
	assert_int_equal(add(b, 1, 4, 'S', 100, 1100), DD_BOOK_ASK_CHANGED);
	check(b);
}

static void test_partial_execution_reduces_order_and_counts_volume(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 2, 9, 'S', 500, 770000);
	add(b, 2, 10, 'S', 200, 770000);
	assert_int_equal(exec(b, 2, 9, 120), DD_BOOK_ASK_CHANGED | DD_BOOK_TRADED);
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 9, &o));
	assert_int_equal(o.shares, 380);
	struct dd_book_level l;
	assert_true(dd_book_best(b, instr(b, 2), DD_BOOK_ASK, &l));
	assert_level(&l, 770000, 580, 2);
	assert_int_equal(instr(b, 2)->volume, 120);
	assert_int_equal(instr(b, 2)->trades, 1);
	assert_int_equal(instr(b, 2)->last_price, 770000);
	assert_int_equal(b->stats.executions, 1);
	check(b);
}

static void test_full_execution_removes_order_and_empty_level(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 2, 9, 'B', 500, 770000);
	add(b, 2, 11, 'B', 100, 760000);
	exec(b, 2, 9, 300);
	exec(b, 2, 9, 200);
	struct dd_book_order_view o;
	assert_false(dd_book_order(b, 9, &o));
	struct dd_book_level l;
	assert_true(dd_book_best(b, instr(b, 2), DD_BOOK_BID, &l));
	assert_level(&l, 760000, 100, 1);
	assert_int_equal(instr(b, 2)->side[DD_BOOK_BID].nlevels, 1);
	assert_int_equal(instr(b, 2)->orders, 1);
	assert_int_equal(instr(b, 2)->volume, 500);
	assert_int_equal(b->norders, 1);
	assert_int_equal(b->nlevels, 1);
	check(b);
}

static void test_execution_with_price_counts_printable_only(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 4, 1, 'B', 1000, 100000);
	assert_int_equal(exec_price(b, 4, 1, 100, 100500, 'N'), DD_BOOK_BID_CHANGED);
	assert_int_equal(instr(b, 4)->volume, 0);
	assert_int_equal(instr(b, 4)->trades, 0);
	assert_int_equal(exec_price(b, 4, 1, 200, 100700, 'Y'), DD_BOOK_BID_CHANGED | DD_BOOK_TRADED);
	assert_int_equal(instr(b, 4)->volume, 200);
	assert_int_equal(instr(b, 4)->last_price, 100700);
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 1, &o));
	assert_int_equal(o.shares, 700);
	assert_int_equal(o.price, 100000); /* the resting price does not move */
	check(b);
}

static void test_cancel_partial_then_rest_removes_order(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 5, 77, 'S', 300, 4200);
	cancel(b, 5, 77, 100);
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 77, &o));
	assert_int_equal(o.shares, 200);
	cancel(b, 5, 77, 200);
	assert_false(dd_book_order(b, 77, &o));
	struct dd_book_level l;
	assert_false(dd_book_best(b, instr(b, 5), DD_BOOK_ASK, &l));
	assert_int_equal(b->stats.cancels, 2);
	assert_int_equal(b->stats.overexecuted, 0);
	assert_int_equal(instr(b, 5)->volume, 0);
	check(b);
}

static void test_delete_removes_order_keeps_others_at_level(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 5, 1, 'B', 300, 4200);
	add(b, 5, 2, 'B', 100, 4200);
	assert_int_equal(del(b, 5, 1), DD_BOOK_BID_CHANGED);
	struct dd_book_level l;
	assert_true(dd_book_best(b, instr(b, 5), DD_BOOK_BID, &l));
	assert_level(&l, 4200, 100, 1);
	assert_int_equal(b->stats.deletes, 1);
	check(b);
}

static void test_replace_moves_order_to_new_reference_and_price(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 6, 100, 'S', 300, 5000);
	add(b, 6, 101, 'S', 100, 5000);
	unsigned f = replace(b, 6, 100, 200, 250, 5100);
	assert_int_equal(f, DD_BOOK_ASK_CHANGED);
	struct dd_book_order_view o;
	assert_false(dd_book_order(b, 100, &o));
	assert_true(dd_book_order(b, 200, &o));
	assert_int_equal(o.shares, 250);
	assert_int_equal(o.price, 5100);
	assert_int_equal(o.side, 'S');
	assert_int_equal(o.locate, 6);
	struct dd_book_level d[4];
	assert_int_equal(dd_book_depth(b, instr(b, 6), DD_BOOK_ASK, d, 4), 2);
	assert_level(&d[0], 5000, 100, 1);
	assert_level(&d[1], 5100, 250, 1);
	assert_int_equal(b->stats.replaces, 1);
	assert_int_equal(b->stats.adds, 2);
	assert_int_equal(instr(b, 6)->orders, 2);
	check(b);
}

static void test_replace_of_only_order_at_level_to_same_price_keeps_level(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 6, 100, 'B', 300, 5000);
	replace(b, 6, 100, 101, 400, 5000);
	struct dd_book_level l;
	assert_true(dd_book_best(b, instr(b, 6), DD_BOOK_BID, &l));
	assert_level(&l, 5000, 400, 1);
	assert_int_equal(b->nlevels, 1);
	check(b);
}

static void test_flags_report_a_change_of_the_top_only(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 6, 1, 'B', 100, 5000);
	add(b, 6, 2, 'B', 100, 4900);
	/* the best order replaced by one of the same size at the same price: the top is unchanged */
	assert_int_equal(replace(b, 6, 1, 3, 100, 5000), 0);
	/* the same price, another size: changed */
	assert_int_equal(replace(b, 6, 3, 4, 150, 5000), DD_BOOK_BID_CHANGED);
	/* a level below the top: not the top */
	assert_int_equal(cancel(b, 6, 2, 10), 0);
	assert_int_equal(exec(b, 6, 2, 10), DD_BOOK_TRADED);
	/* the best order moved below the second level: the top is now the other one */
	assert_int_equal(replace(b, 6, 4, 5, 150, 4800), DD_BOOK_BID_CHANGED);
	struct dd_book_level l;
	assert_true(dd_book_best(b, instr(b, 6), DD_BOOK_BID, &l));
	assert_level(&l, 4900, 80, 1);
	check(b);
}

static void test_replace_to_live_reference_is_rejected_and_keeps_original(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 6, 100, 'B', 300, 5000);
	add(b, 6, 101, 'B', 100, 4900);
	assert_int_equal(replace(b, 6, 100, 101, 50, 5100), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.duplicate_ref, 1);
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 100, &o));
	assert_int_equal(o.shares, 300);
	assert_true(dd_book_order(b, 101, &o));
	assert_int_equal(o.shares, 100);
	check(b);
}

static void test_unknown_references_are_counted_not_fatal(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 1, 5, 'B', 100, 1000);
	assert_int_equal(exec(b, 1, 6, 10), DD_BOOK_REJECTED);
	assert_int_equal(exec_price(b, 1, 6, 10, 1000, 'Y'), DD_BOOK_REJECTED);
	assert_int_equal(cancel(b, 1, 6, 10), DD_BOOK_REJECTED);
	assert_int_equal(del(b, 1, 6), DD_BOOK_REJECTED);
	assert_int_equal(replace(b, 1, 6, 7, 10, 1000), DD_BOOK_REJECTED);
	assert_int_equal(del(b, 1, 0), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.unknown_ref, 6);
	struct dd_book_order_view none;
	assert_false(dd_book_order(b, 0, &none));
	struct dd_book_order_view o;
	assert_false(dd_book_order(b, 7, &o));
	assert_true(dd_book_order(b, 5, &o));
	assert_int_equal(o.shares, 100);
	check(b);
}

static void test_reference_zero_is_an_ordinary_order(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	assert_int_equal(add(b, 2, 0, 'B', 1000, 53167), DD_BOOK_BID_CHANGED);
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 0, &o));
	assert_int_equal(o.shares, 1000);
	assert_int_equal(o.price, 53167);
	exec(b, 2, 0, 400);
	assert_true(dd_book_order(b, 0, &o));
	assert_int_equal(o.shares, 600);
	replace(b, 2, 0, 5, 600, 53200);
	assert_false(dd_book_order(b, 0, &o));
	assert_true(dd_book_order(b, 5, &o));
	replace(b, 2, 5, 0, 700, 53100);
	assert_true(dd_book_order(b, 0, &o));
	assert_int_equal(o.shares, 700);
	del(b, 2, 0);
	assert_false(dd_book_order(b, 0, &o));
	assert_int_equal(b->stats.unknown_ref, 0);
	assert_int_equal(b->norders, 0);
	check(b);
}

static void test_duplicate_add_reference_is_ignored(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 1, 5, 'B', 100, 1000);
	assert_int_equal(add(b, 1, 5, 'S', 999, 2000), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.duplicate_ref, 1);
	struct dd_book_order_view o;
	assert_true(dd_book_order(b, 5, &o));
	assert_int_equal(o.side, 'B');
	assert_int_equal(o.shares, 100);
	struct dd_book_level l;
	assert_false(dd_book_best(b, instr(b, 1), DD_BOOK_ASK, &l));
	check(b);
}

static void test_overexecution_is_clamped_and_counted(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 1, 5, 'B', 100, 1000);
	add(b, 1, 6, 'B', 100, 1000);
	exec(b, 1, 5, 150);
	assert_int_equal(b->stats.overexecuted, 1);
	assert_int_equal(instr(b, 1)->volume, 100);
	cancel(b, 1, 6, 101);
	assert_int_equal(b->stats.overexecuted, 2);
	assert_int_equal(b->norders, 0);
	assert_int_equal(b->nlevels, 0);
	check(b);
}

static void test_bad_orders_are_rejected(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	assert_int_equal(add(b, 1, 5, 'X', 100, 1000), DD_BOOK_REJECTED);
	assert_int_equal(add(b, 1, 6, 'B', 0, 1000), DD_BOOK_REJECTED);
	add(b, 1, 7, 'B', 10, 1000);
	assert_int_equal(replace(b, 1, 7, 8, 0, 1000), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.bad_order, 3);
	assert_int_equal(b->norders, 1);
	check(b);
}

static void test_order_capacity_overflow_is_counted(void **state)
{
	(void)state;
	struct fixture *f = make_book(4, 3, 16);
	struct dd_book *b = &f->b;
	for (uint64_t r = 1; r <= 3; r++)
		assert_int_equal(add(b, 1, r, 'B', 10, 1000 + (uint32_t)r) & DD_BOOK_REJECTED, 0);
	assert_int_equal(add(b, 1, 4, 'B', 10, 900), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.order_overflow, 1);
	/* a replace frees before it adds, so it still works at capacity */
	assert_int_equal(replace(b, 1, 1, 9, 20, 500) & DD_BOOK_REJECTED, 0);
	del(b, 1, 2);
	assert_int_equal(add(b, 1, 4, 'B', 10, 900) & DD_BOOK_REJECTED, 0);
	assert_int_equal(b->norders, 3);
	check(b);
	teardown((void **)&f);
}

static void test_level_capacity_overflow_is_counted(void **state)
{
	(void)state;
	struct fixture *f = make_book(4, 16, 2);
	struct dd_book *b = &f->b;
	add(b, 1, 1, 'B', 10, 1000);
	add(b, 1, 2, 'S', 10, 1100);
	assert_int_equal(add(b, 1, 3, 'B', 10, 999), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.level_overflow, 1);
	assert_int_equal(add(b, 1, 4, 'B', 10, 1000) & DD_BOOK_REJECTED, 0); /* existing level */
	assert_int_equal(b->norders, 3);
	assert_int_equal(b->stats.adds, 3);
	/* a replace to a new price while its old level keeps another order needs a third level: the
	 * add half is refused, the order leaves the book, and no add is uncounted */
	assert_int_equal(replace(b, 1, 4, 5, 10, 990) & DD_BOOK_REJECTED, DD_BOOK_REJECTED);
	assert_int_equal(b->stats.level_overflow, 2);
	assert_int_equal(b->stats.replaces, 1);
	assert_int_equal(b->stats.adds, 3);
	struct dd_book_order_view o;
	assert_false(dd_book_order(b, 4, &o));
	assert_false(dd_book_order(b, 5, &o));
	assert_int_equal(b->norders, 2);
	check(b);
	teardown((void **)&f);
}

static void test_instrument_capacity_overflow_is_counted(void **state)
{
	(void)state;
	struct fixture *f = make_book(2, 16, 16);
	struct dd_book *b = &f->b;
	add(b, 10, 1, 'B', 10, 1000);
	add(b, 20, 2, 'B', 10, 1000);
	assert_int_equal(add(b, 30, 3, 'B', 10, 1000), DD_BOOK_REJECTED);
	assert_int_equal(b->stats.instrument_overflow, 1);
	assert_null(dd_book_find(b, 30));
	assert_int_equal(b->ninstr, 2);
	check(b);
	teardown((void **)&f);
}

static void test_directory_names_instrument_and_trading_action_sets_state(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	struct dd_event e = ev(DD_EV_DIRECTORY, 9);
	memcpy(e.u.directory.stock, "AAPL    ", 8);
	e.u.directory.round_lot_size = 100;
	e.u.directory.market_category = 'Q';
	e.u.directory.financial_status = 'N';
	dd_book_apply(b, &e);
	e = ev(DD_EV_TRADING_STATE, 9);
	memcpy(e.u.trading_state.stock, "AAPL    ", 8);
	e.u.trading_state.state = 'H';
	memcpy(e.u.trading_state.reason, "LUDP", 4);
	dd_book_apply(b, &e);
	const struct dd_book_instr *in = instr(b, 9);
	assert_memory_equal(in->symbol, "AAPL    ", 8);
	assert_int_equal(in->in_directory, 1);
	assert_int_equal(in->round_lot_size, 100);
	assert_int_equal(in->market_category, 'Q');
	assert_int_equal(in->trading_state, 'H');
	assert_memory_equal(in->halt_reason, "LUDP", 4);
	/* an add's stock does not rename an instrument the directory named */
	add(b, 9, 1, 'B', 10, 10);
	assert_memory_equal(instr(b, 9)->symbol, "AAPL    ", 8);
	e = ev(DD_EV_SYSTEM, 0);
	e.u.system.event_code = 'Q';
	dd_book_apply(b, &e);
	assert_int_equal(b->last_system_event, 'Q');
}

static void test_trade_and_cross_update_volume(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	struct dd_event e = ev(DD_EV_TRADE, 3);
	e.u.trade.shares = 300;
	e.u.trade.price = 123400;
	assert_int_equal(dd_book_apply(b, &e), DD_BOOK_TRADED);
	e = ev(DD_EV_CROSS, 3);
	e.u.cross.shares = 5000000000ull;
	e.u.cross.price = 123500;
	assert_int_equal(dd_book_apply(b, &e), DD_BOOK_TRADED);
	e = ev(DD_EV_BROKEN, 3);
	e.u.broken.match = 1;
	assert_int_equal(dd_book_apply(b, &e), 0);
	const struct dd_book_instr *in = instr(b, 3);
	assert_int_equal(in->volume, 5000000300ull);
	assert_int_equal(in->trades, 2);
	assert_int_equal(in->last_price, 123500);
	assert_int_equal(b->stats.trades, 1);
	assert_int_equal(b->stats.crosses, 1);
	assert_int_equal(b->stats.broken, 1);
	assert_int_equal(b->norders, 0);
}

/*
 * Random operations against a simple reference model (arrays, linear scans) on a small table, so
 * that probe clusters wrap and backward-shift deletion runs on every kind of cluster.
 */
#define REF_MAX 400
struct ref_order {
	uint64_t ref;
	uint32_t shares, price;
	uint16_t locate;
	char side;
};

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_random_operations_match_reference_model(void **state)
{
	(void)state;
	struct fixture *f = make_book(8, REF_MAX, 512);
	struct dd_book *b = &f->b;
	struct ref_order *m = calloc(REF_MAX, sizeof(*m));
	unsigned n = 0;
	uint64_t next_ref = 0; /* reference 0 is a valid key */

	for (int step = 0; step < 200000; step++) {
		unsigned op = (unsigned)(rnd() % 10);
		if (n == 0 || (op < 4 && n < REF_MAX)) {
			struct ref_order o = { next_ref++, (uint32_t)(1 + rnd() % 500),
					       (uint32_t)(100 + rnd() % 40), (uint16_t)(1 + rnd() % 5),
					       rnd() & 1 ? 'B' : 'S' };
			assert_int_equal(add(b, o.locate, o.ref, o.side, o.shares, o.price) & DD_BOOK_REJECTED, 0);
			m[n++] = o;
			continue;
		}
		unsigned i = (unsigned)(rnd() % n);
		struct ref_order *o = &m[i];
		uint32_t k = (uint32_t)(1 + rnd() % o->shares);
		switch (op) {
		case 4: case 5:
			exec(b, o->locate, o->ref, k);
			o->shares -= k;
			break;
		case 6:
			cancel(b, o->locate, o->ref, k);
			o->shares -= k;
			break;
		case 7: case 8:
			del(b, o->locate, o->ref);
			o->shares = 0;
			break;
		default: {
			uint64_t nr = next_ref++;
			uint32_t np = (uint32_t)(100 + rnd() % 40), ns = (uint32_t)(1 + rnd() % 500);
			replace(b, o->locate, o->ref, nr, ns, np);
			o->ref = nr;
			o->price = np;
			o->shares = ns;
		}
		}
		if (o->shares == 0)
			m[i] = m[--n];
		if (step % 5000 == 0)
			check(b);
	}
	check(b);
	assert_int_equal(b->norders, n);
	for (unsigned i = 0; i < n; i++) {
		struct dd_book_order_view v;
		assert_true(dd_book_order(b, m[i].ref, &v));
		assert_int_equal(v.shares, m[i].shares);
		assert_int_equal(v.price, m[i].price);
		assert_int_equal(v.side, m[i].side);
		assert_int_equal(v.locate, m[i].locate);
	}
	/* every level's aggregate equals the model's */
	for (uint16_t loc = 1; loc <= 5; loc++) {
		const struct dd_book_instr *in = dd_book_find(b, loc);
		if (in == NULL)
			continue;
		for (unsigned s = 0; s < 2; s++) {
			struct dd_book_level d[64];
			unsigned nd = dd_book_depth(b, in, s, d, 64);
			for (unsigned j = 0; j < nd; j++) {
				uint64_t sh = 0;
				uint32_t cnt = 0;
				for (unsigned i = 0; i < n; i++)
					if (m[i].locate == loc && m[i].price == d[j].price &&
					    (m[i].side == 'B') == (s == DD_BOOK_BID)) {
						sh += m[i].shares;
						cnt++;
					}
				assert_level(&d[j], d[j].price, sh, cnt);
			}
		}
	}
	assert_int_equal(b->stats.unknown_ref, 0);
	assert_int_equal(b->stats.overexecuted, 0);
	free(m);
	teardown((void **)&f);
}

/* ---- snapshots and outputs ---------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap, pos;
};

static int buf_put(void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int buf_get(void *ctx, void *p, size_t n)
{
	struct buf *b = ctx;
	if (b->pos + n > b->len)
		return -EBADMSG;
	memcpy(p, b->p + b->pos, n);
	b->pos += n;
	return 0;
}

/* Everything observable of two books is equal. */
static void assert_books_equal(const struct dd_book *a, const struct dd_book *b)
{
	assert_int_equal(a->ninstr, b->ninstr);
	assert_int_equal(a->norders, b->norders);
	assert_int_equal(a->nlevels, b->nlevels);
	assert_int_equal(a->last_system_event, b->last_system_event);
	assert_memory_equal(&a->stats, &b->stats, sizeof(a->stats));
	for (uint32_t i = 1; i <= a->ninstr; i++) {
		const struct dd_book_instr *x = dd_book_instr_at(a, i), *y = dd_book_find(b, x->locate);
		assert_non_null(y);
		assert_memory_equal(x->symbol, y->symbol, 8);
		assert_int_equal(x->orders, y->orders);
		assert_int_equal(x->volume, y->volume);
		assert_int_equal(x->trades, y->trades);
		assert_int_equal(x->last_price, y->last_price);
		assert_int_equal(x->trading_state, y->trading_state);
		for (unsigned s = 0; s < 2; s++) {
			struct dd_book_level dx[600], dy[600];
			unsigned nx = dd_book_depth(a, x, s, dx, 600), ny = dd_book_depth(b, y, s, dy, 600);
			assert_int_equal(nx, ny);
			assert_memory_equal(dx, dy, nx * sizeof(dx[0]));
		}
	}
}

static void test_snapshot_round_trip_restores_every_order_level_and_counter(void **state)
{
	(void)state;
	struct fixture *f = make_book(8, 512, 512);
	struct dd_book *b = &f->b;
	struct dd_event e = ev(DD_EV_DIRECTORY, 3);
	memcpy(e.u.directory.stock, "DIR     ", 8);
	dd_book_apply(b, &e);
	rng_state = 99;
	for (uint64_t r = 0; r < 3000; r++) {
		uint16_t loc = (uint16_t)(1 + rnd() % 5);
		add(b, loc, r, rnd() & 1 ? 'B' : 'S', (uint32_t)(1 + rnd() % 900), (uint32_t)(1000 + rnd() % 60));
		if (r > 10 && rnd() % 3)
			del(b, loc, rnd() % r);
		if (r > 10 && rnd() % 4 == 0)
			exec(b, loc, rnd() % r, (uint32_t)(1 + rnd() % 50));
	}
	check(b);
	struct buf sb = { 0 };
	assert_int_equal(dd_book_save(b, buf_put, &sb), 0);
	struct fixture *g = make_book(8, 512, 512);
	assert_int_equal(dd_book_load(&g->b, buf_get, &sb), 0);
	assert_int_equal(sb.pos, sb.len);
	check(&g->b);
	assert_books_equal(b, &g->b);
	/* the loaded book goes on exactly like the original */
	for (uint64_t r = 3000; r < 3200; r++) {
		uint16_t loc = (uint16_t)(1 + r % 5);
		add(b, loc, r, 'B', 10, 1030);
		add(&g->b, loc, r, 'B', 10, 1030);
		del(b, loc, r - 100);
		del(&g->b, loc, r - 100);
	}
	assert_books_equal(b, &g->b);
	free(sb.p);
	teardown((void **)&g);
	teardown((void **)&f);
}

static void test_snapshot_load_rejects_malformed_and_oversized_data(void **state)
{
	(void)state;
	struct fixture *f = make_book(8, 64, 64);
	for (uint64_t r = 1; r <= 20; r++)
		add(&f->b, 1, r, 'B', 10, 1000 + (uint32_t)r);
	struct buf sb = { 0 };
	assert_int_equal(dd_book_save(&f->b, buf_put, &sb), 0);
	/* cut short */
	struct fixture *g = make_book(8, 64, 64);
	struct buf cut = sb;
	cut.len -= 1;
	cut.pos = 0;
	assert_int_equal(dd_book_load(&g->b, buf_get, &cut), -EBADMSG);
	teardown((void **)&g);
	/* bad magic */
	g = make_book(8, 64, 64);
	sb.p[0] ^= 1;
	sb.pos = 0;
	assert_int_equal(dd_book_load(&g->b, buf_get, &sb), -EBADMSG);
	sb.p[0] ^= 1;
	teardown((void **)&g);
	/* more orders than the new book can hold */
	g = make_book(8, 10, 64);
	sb.pos = 0;
	assert_int_equal(dd_book_load(&g->b, buf_get, &sb), -EINVAL);
	teardown((void **)&g);
	free(sb.p);
	teardown((void **)&f);
}

static void test_bbo_output_describes_the_top_after_the_event(void **state)
{
	struct dd_book *b = &((struct fixture *)*state)->b;
	add(b, 4, 1, 'B', 100, 5000);
	add(b, 4, 2, 'B', 50, 5000);
	add(b, 4, 3, 'S', 70, 5100);
	struct dd_event e = ev(DD_EV_DELETE, 4);
	e.u.del.ref = 2;
	e.source = 1;
	e.seq = 77;
	e.event_ns = 123;
	e.rx_tsc = 456;
	unsigned flags = dd_book_apply(b, &e);
	assert_int_equal(flags, DD_BOOK_BID_CHANGED);
	struct dd_out_bbo o;
	memset(&o, 0xff, sizeof(o));
	assert_true(dd_book_bbo(b, &e, &o));
	assert_int_equal(o.locate, 4);
	assert_int_equal(o.bid_price, 5000);
	assert_int_equal(o.bid_shares, 100);
	assert_int_equal(o.bid_orders, 1);
	assert_int_equal(o.ask_price, 5100);
	assert_int_equal(o.ask_shares, 70);
	assert_int_equal(o.ask_orders, 1);
	/* an event about an instrument the book never saw gives no output */
	e = ev(DD_EV_DELETE, 99);
	assert_false(dd_book_bbo(b, &e, &o));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memsize_rejects_out_of_range_params),
		cmocka_unit_test_setup_teardown(test_add_creates_level_and_best_bid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adds_at_one_price_aggregate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bids_sort_descending_asks_ascending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_below_best_does_not_change_top, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_execution_reduces_order_and_counts_volume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_execution_removes_order_and_empty_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_execution_with_price_counts_printable_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_partial_then_rest_removes_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_removes_order_keeps_others_at_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_moves_order_to_new_reference_and_price, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_of_only_order_at_level_to_same_price_keeps_level, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flags_report_a_change_of_the_top_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_to_live_reference_is_rejected_and_keeps_original, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_references_are_counted_not_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_zero_is_an_ordinary_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_add_reference_is_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overexecution_is_clamped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_orders_are_rejected, setup, teardown),
		cmocka_unit_test(test_order_capacity_overflow_is_counted),
		cmocka_unit_test(test_level_capacity_overflow_is_counted),
		cmocka_unit_test(test_instrument_capacity_overflow_is_counted),
		cmocka_unit_test_setup_teardown(test_directory_names_instrument_and_trading_action_sets_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_trade_and_cross_update_volume, setup, teardown),
		cmocka_unit_test(test_random_operations_match_reference_model),
		cmocka_unit_test(test_snapshot_round_trip_restores_every_order_level_and_counter),
		cmocka_unit_test(test_snapshot_load_rejects_malformed_and_oversized_data),
		cmocka_unit_test_setup_teardown(test_bbo_output_describes_the_top_after_the_event, setup, teardown),
	};
	return cmocka_run_group_tests_name("ops/book", tests, NULL, NULL);
}
