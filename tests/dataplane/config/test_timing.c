/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/config/timing.h"

static void test_clock_ratio_is_16_48_fixed_point(void **state)
{
	(void)state;
	assert_int_equal(dd_clock_ratio(3000, 1000), 3ull << 48);
	assert_int_equal(dd_clock_ratio(1, 2), 1ull << 47);
	assert_int_equal(dd_clock_ratio(2600000000ull, 1000000000ull), 731834939447706ull); /* 2.6 x 2^48, rounded */
	assert_int_equal(dd_clock_ratio(5, 0), 0);
	assert_int_equal(dd_clock_ratio(1ull << 20, 1), 0); /* a ratio of 2^20 does not fit */
}

static void test_clock_conversion_maps_device_ticks_onto_the_tsc(void **state)
{
	(void)state;
	/* a 1 GHz NIC clock and a 2.6 GHz TSC */
	struct dd_clockconv c = { .clk0 = 1000000, .tsc0 = 5000000000ull, .mult = dd_clock_ratio(26, 10) };
	assert_int_equal(dd_clockconv_tsc(&c, 1000000), 5000000000ull);
	assert_int_equal(dd_clockconv_tsc(&c, 1001000), 5000002600ull);       /* 1 µs later */
	assert_int_equal(dd_clockconv_tsc(&c, 999000), 4999997400ull);        /* a packet before the sample */
	assert_int_equal(dd_clockconv_tsc(&c, 1000000 + 3600000000000ull), 5000000000ull + 9360000000000ull);
	/* far before the TSC's origin: clamped, never wrapped */
	struct dd_clockconv d = { .clk0 = 1000000000ull, .tsc0 = 100, .mult = 1ull << 48 };
	assert_int_equal(dd_clockconv_tsc(&d, 0), 0);
}

static void test_clock_map_publishes_consistent_copies(void **state)
{
	(void)state;
	struct dd_clockmap m;
	memset(&m, 0, sizeof(m));
	struct dd_clockconv c;
	assert_false(dd_clockmap_get(&m, &c)); /* never calibrated: mult 0 */
	dd_clockmap_set(&m, 10, 20, 3ull << 48);
	assert_true(dd_clockmap_get(&m, &c));
	assert_int_equal(c.clk0, 10);
	assert_int_equal(c.tsc0, 20);
	assert_int_equal(c.mult, 3ull << 48);
	assert_int_equal(atomic_load(&m.seq), 2);
	/* a writer caught in the middle: the reader declines and keeps the poll time */
	atomic_store(&m.seq, 3);
	assert_false(dd_clockmap_get(&m, &c));
}

static struct dd_event evs(uint64_t rx, uint8_t type)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.rx_tsc = rx;
	return e;
}

static void test_runs_of_equal_rx_times_are_recorded_once_each(void **state)
{
	(void)state;
	static const struct dd_hdr_params p = { 1, 1000000, 3 };
	struct dd_hdr *a, *b;
	assert_int_equal(dd_hdr_create(&p, &a), 0);
	assert_int_equal(dd_hdr_create(&p, &b), 0);
	struct dd_tsc_conv conv;
	dd_tsc_conv_init(&conv, 1000000000u); /* 1 tick = 1 ns */
	struct dd_event ev[] = {
		evs(100, DD_EV_ADD), evs(100, DD_EV_DELETE), evs(90, DD_EV_MARK), evs(100, DD_EV_ADD),
		evs(40, DD_EV_EXEC), evs(40, DD_EV_EXEC), evs(500, DD_EV_ADD),
	};
	dd_timing_rec_since_rx(a, 200, b, 300, &conv, ev, 7);
	/* runs: 100 x2, (mark skipped), 100 x1, 40 x2, 500 x1 (after t: recorded as 0) */
	assert_int_equal(dd_hdr_total(a), 6);
	assert_int_equal(dd_hdr_count_at_index(a, dd_hdr_index_of(a, 100)), 3);
	assert_int_equal(dd_hdr_count_at_index(a, dd_hdr_index_of(a, 160)), 2);
	assert_int_equal(dd_hdr_count_at_index(a, dd_hdr_index_of(a, 0)), 1);
	assert_int_equal(dd_hdr_count_at_index(b, dd_hdr_index_of(b, 200)), 3);
	assert_int_equal(dd_hdr_count_at_index(b, dd_hdr_index_of(b, 260)), 2);
	/* one histogram may be left out */
	dd_timing_rec_since_rx(NULL, 0, b, 300, &conv, ev, 2);
	assert_int_equal(dd_hdr_total(b), 8);
	dd_timing_rec(a, &conv, 50, 4);
	assert_int_equal(dd_hdr_count_at_index(a, dd_hdr_index_of(a, 50)), 4);
	dd_timing_rec(NULL, &conv, 50, 4);
	dd_hdr_free(a);
	dd_hdr_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_ratio_is_16_48_fixed_point),
		cmocka_unit_test(test_clock_conversion_maps_device_ticks_onto_the_tsc),
		cmocka_unit_test(test_clock_map_publishes_consistent_copies),
		cmocka_unit_test(test_runs_of_equal_rx_times_are_recorded_once_each),
	};
	return cmocka_run_group_tests_name("dataplane/timing", tests, NULL, NULL);
}
