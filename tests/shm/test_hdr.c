/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zlib.h>

#include "shm/hdr.h"

#define SIXTY_S 60000000000ull

static const struct dd_hdr_params P60 = { 1, SIXTY_S, 3 }; /* 1 ns .. 60 s, 3 digits */

/* A histogram in fresh memory filled with garbage: init must not rely on zeroed memory. */
static struct dd_hdr *make(const struct dd_hdr_params *p)
{
	size_t len = dd_hdr_memsize(p);
	assert_true(len > 0);
	void *mem = aligned_alloc(DD_HDR_ALIGN, len);
	assert_non_null(mem);
	memset(mem, 0xA5, len);
	assert_int_equal(dd_hdr_init(mem, len, p), 0);
	return mem;
}

/* Uninitialised memory of the right size for a snapshot of `h`. */
static struct dd_hdr *blank_like(const struct dd_hdr *h)
{
	struct dd_hdr_params p;
	dd_hdr_params_of(h, &p);
	void *mem = aligned_alloc(DD_HDR_ALIGN, dd_hdr_memsize(&p));
	assert_non_null(mem);
	memset(mem, 0x5A, dd_hdr_memsize(&p));
	return mem;
}

static uint64_t rng_state;

/* splitmix64: deterministic, so a failure reproduces */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double unit_rnd(void)
{
	return (double)(rnd() >> 11) * 0x1.0p-53;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

#define assert_dbl_equal(a, b)                                                            \
	do {                                                                              \
		double a_ = (a), b_ = (b);                                                \
		if (!(a_ == b_))                                                          \
			fail_msg("%s == %.17g, expected %.17g", #a, a_, b_);              \
	} while (0)

static void assert_same_counts(const struct dd_hdr *a, const struct dd_hdr *b)
{
	assert_int_equal(a->counts_len, b->counts_len);
	for (uint32_t i = 0; i < a->counts_len; i++)
		if (dd_hdr_count_at_index(a, i) != dd_hdr_count_at_index(b, i))
			fail_msg("slot %u: %llu != %llu", i, (unsigned long long)dd_hdr_count_at_index(a, i),
				 (unsigned long long)dd_hdr_count_at_index(b, i));
}

/* What a FILE* received, as a string. */
struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static const char *cap_close(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

/* ---- construction ------------------------------------------------------------------------- */

static void test_memsize_for_1ns_to_60s_at_3_digits_is_27648_counts(void **state)
{
	(void)state;
	assert_int_equal(dd_hdr_memsize(&P60), 128 + 27648 * 8);
	struct dd_hdr *h = make(&P60);
	assert_int_equal(h->counts_len, 27648);
	assert_int_equal(h->bucket_count, 26);
	assert_int_equal(h->sub_bucket_count, 2048);
	assert_int_equal(h->unit_magnitude, 0);
	assert_int_equal(h->sub_bucket_half_count_magnitude, 10);
	assert_int_equal(h->lzc_base, 53);
	assert_int_equal(h->sub_bucket_mask, 2047);
	free(h);

	/* lowest 1000 ns (unit 2^9), 2 digits: 256 sub-buckets */
	struct dd_hdr_params p = { 1000, 3600000000000ull, 2 };
	h = make(&p);
	assert_int_equal(h->unit_magnitude, 9);
	assert_int_equal(h->sub_bucket_count, 256);
	assert_int_equal(h->sub_bucket_mask, 255u << 9);
	/* 256 << 9 = 131072; doublings until > 3.6e12: 2^17 .. 2^42 is 25 of them, plus 1 */
	assert_int_equal(h->bucket_count, 26);
	assert_int_equal(h->counts_len, 27 * 128);
	free(h);
}

static void test_init_rejects_out_of_range_parameters(void **state)
{
	(void)state;
	const struct dd_hdr_params bad[] = {
		{ 0, 1000, 3 },                       /* lowest 0 */
		{ 10, 19, 3 },                        /* highest < 2 * lowest */
		{ 1, 1000, 6 },                       /* more than 5 digits */
		{ 1, (uint64_t)INT64_MAX + 1, 3 },    /* beyond int64: not encodable */
		{ 1ull << 50, 1ull << 62, 5 },        /* unit 50 + 17 > 61 */
	};
	size_t len = dd_hdr_memsize(&P60);
	void *mem = aligned_alloc(DD_HDR_ALIGN, len + DD_HDR_ALIGN);
	assert_non_null(mem);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dd_hdr_memsize(&bad[i]), 0);
		assert_int_equal(dd_hdr_init(mem, len, &bad[i]), -EINVAL);
	}
	assert_int_equal(dd_hdr_memsize(NULL), 0);
	assert_int_equal(dd_hdr_init(mem, len - 1, &P60), -EINVAL);
	assert_int_equal(dd_hdr_init((char *)mem + 8, len, &P60), -EINVAL);
	assert_int_equal(dd_hdr_init(mem, len, &P60), 0);

	/* the widest accepted: all of int64 at 5 digits */
	struct dd_hdr_params wide = { 1, INT64_MAX, 5 };
	struct dd_hdr *h;
	assert_int_equal(dd_hdr_create(&wide, &h), 0);
	assert_int_equal(h->counts_len, 47u * 131072u);
	assert_int_equal(dd_hdr_highest_at_index(h, h->counts_len - 1), INT64_MAX);
	dd_hdr_record(h, INT64_MAX);
	assert_int_equal(dd_hdr_count_at_index(h, h->counts_len - 1), 1);
	dd_hdr_free(h);
	free(mem);
}

static void test_init_publishes_magic_and_parameters_at_documented_offsets(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	const uint8_t *b = (const uint8_t *)h;
	uint32_t u32;
	uint16_t u16;
	uint64_t u64;

	memcpy(&u32, b + 0, 4);
	assert_int_equal(u32, DD_HDR_MAGIC);
	memcpy(&u16, b + 4, 2);
	assert_int_equal(u16, DD_HDR_VERSION_MAJOR);
	memcpy(&u64, b + 8, 8);
	assert_int_equal(u64, 221312);
	memcpy(&u64, b + 16, 8);
	assert_int_equal(u64, 1);
	memcpy(&u64, b + 24, 8);
	assert_int_equal(u64, SIXTY_S);
	memcpy(&u32, b + 52, 4);
	assert_int_equal(u32, 27648);
	dd_hdr_record(h, 7);
	memcpy(&u64, b + 64, 8); /* total */
	assert_int_equal(u64, 1);
	memcpy(&u64, b + 128 + 7 * 8, 8); /* counts[7] */
	assert_int_equal(u64, 1);
	free(h);
}

static void test_check_accepts_initialised_and_rejects_foreign_or_inconsistent_blocks(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	size_t len = dd_hdr_memsize(&P60);

	assert_int_equal(dd_hdr_check(h, len), 0);
	assert_int_equal(dd_hdr_check(h, len - 8), -EINVAL); /* caller mapped too little */
	h->counts_len++;
	assert_int_equal(dd_hdr_check(h, len), -EINVAL);
	h->counts_len--;
	h->version_major = DD_HDR_VERSION_MAJOR + 1;
	assert_int_equal(dd_hdr_check(h, len), -EPROTO);
	h->version_major = DD_HDR_VERSION_MAJOR;
	atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	assert_int_equal(dd_hdr_check(h, len), -ENODATA);
	free(h);
}

static void test_fresh_histogram_is_empty_despite_garbage_memory(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	for (uint32_t i = 0; i < h->counts_len; i++)
		assert_int_equal(dd_hdr_count_at_index(h, i), 0);
	assert_int_equal(dd_hdr_total(h), 0);
	assert_int_equal(dd_hdr_overflow(h), 0);
	assert_int_equal(dd_hdr_min(h), 0);
	assert_int_equal(dd_hdr_max(h), 0);
	assert_int_equal(dd_hdr_min_recorded(h), UINT64_MAX);
	assert_int_equal(dd_hdr_max_recorded(h), 0);
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.0), 0);
	assert_dbl_equal(dd_hdr_mean(h), 0.0);
	assert_dbl_equal(dd_hdr_stddev(h), 0.0);
	free(h);
}

/* ---- recording ---------------------------------------------------------------------------- */

static void test_index_and_equivalent_range_at_bucket_boundaries(void **state)
{
	(void)state;
	/*
	 * 3 digits: 2048 sub-buckets, so values < 2048 have slots of width 1; bucket b >= 1 holds
	 * [2^(b+10), 2^(b+11)) in 1024 slots of width 2^b starting at index 1024 * (b + 1).
	 */
	static const struct {
		uint64_t v;
		uint32_t index;
		uint64_t lo, hi;
	} cases[] = {
		{ 0, 0, 0, 0 },
		{ 1, 1, 1, 1 },
		{ 1023, 1023, 1023, 1023 },
		{ 1024, 1024, 1024, 1024 },
		{ 2047, 2047, 2047, 2047 },
		{ 2048, 2048, 2048, 2049 },           /* bucket 1, width 2 */
		{ 2049, 2048, 2048, 2049 },
		{ 4095, 3071, 4094, 4095 },
		{ 4096, 3072, 4096, 4099 },           /* bucket 2, width 4 */
		{ (1u << 20) - 1, 11263, 1048064, 1048575 }, /* bucket 9: 2047 << 9 */
		{ 1u << 20, 11264, 1048576, 1049599 },       /* bucket 10: 1024 << 10, width 1024 */
		{ (1u << 20) + 1, 11264, 1048576, 1049599 },
		{ SIXTY_S, 27388, 59995324416ull, 60028878847ull }, /* bucket 25: 1788 << 25 */
	};
	struct dd_hdr *h = make(&P60);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = cases[i].v;
		assert_int_equal(dd_hdr_index_of(h, v), cases[i].index);
		assert_int_equal(dd_hdr_lowest_equivalent(h, v), cases[i].lo);
		assert_int_equal(dd_hdr_highest_equivalent(h, v), cases[i].hi);
		assert_int_equal(dd_hdr_lowest_at_index(h, cases[i].index), cases[i].lo);
		assert_int_equal(dd_hdr_highest_at_index(h, cases[i].index), cases[i].hi);
		uint64_t before = dd_hdr_count_at_index(h, cases[i].index);
		dd_hdr_record(h, v);
		assert_int_equal(dd_hdr_count_at_index(h, cases[i].index), before + 1);
	}
	/* the last slot: bucket 25, sub-bucket 2047, up to 2^36 - 1 */
	assert_int_equal(dd_hdr_lowest_at_index(h, 27647), 2047ull << 25);
	assert_int_equal(dd_hdr_highest_at_index(h, 27647), (1ull << 36) - 1);
	assert_int_equal(dd_hdr_total(h), sizeof(cases) / sizeof(cases[0]));
	free(h);
}

static void test_zero_is_counted_in_slot_zero_and_reported_as_min_and_max(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	dd_hdr_record(h, 0);
	assert_int_equal(dd_hdr_count_at_index(h, 0), 1);
	assert_int_equal(dd_hdr_total(h), 1);
	assert_int_equal(dd_hdr_min(h), 0);
	assert_int_equal(dd_hdr_max(h), 0);
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.0), 0);
	assert_int_equal(dd_hdr_value_at_percentile(h, 100.0), 0);
	dd_hdr_record(h, 9);
	assert_int_equal(dd_hdr_min(h), 0);
	assert_int_equal(dd_hdr_max(h), 9);
	free(h);
}

static void test_record_n_adds_n_to_one_slot_and_to_total(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	/* 5000: bucket 2 (4096..8191, width 4), 5000 >> 2 = 1250, index 2048 + 1250 */
	dd_hdr_record_n(h, 5000, 7);
	assert_int_equal(dd_hdr_count_at_index(h, 3298), 7);
	dd_hdr_record_n(h, 5003, 3); /* same slot [5000, 5003] */
	assert_int_equal(dd_hdr_count_at_index(h, 3298), 10);
	dd_hdr_record_n(h, 5004, 1); /* next slot */
	assert_int_equal(dd_hdr_count_at_index(h, 3299), 1);
	assert_int_equal(dd_hdr_total(h), 11);
	assert_int_equal(dd_hdr_min_recorded(h), 5000);
	assert_int_equal(dd_hdr_max_recorded(h), 5004);
	assert_int_equal(dd_hdr_value_at_percentile(h, 90.0), 5003);
	assert_int_equal(dd_hdr_value_at_percentile(h, 100.0), 5007);
	free(h);
}

static void test_values_above_highest_are_clamped_and_counted_as_overflow(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	dd_hdr_record(h, SIXTY_S + 1);
	dd_hdr_record(h, UINT64_MAX);
	dd_hdr_record_n(h, 1000000000000ull, 3);
	dd_hdr_record(h, SIXTY_S); /* at the limit: not an overflow */
	assert_int_equal(dd_hdr_overflow(h), 5);
	assert_int_equal(dd_hdr_total(h), 6);
	assert_int_equal(dd_hdr_count_at_index(h, 27388), 6);
	assert_int_equal(dd_hdr_max_recorded(h), SIXTY_S);
	assert_int_equal(dd_hdr_max(h), 60028878847ull);
	assert_int_equal(dd_hdr_value_at_percentile(h, 100.0), 60028878847ull);
	free(h);

	/* a histogram up to 1000 has one bucket of 2048 exact slots; 5000 lands in slot 1000 */
	struct dd_hdr_params p = { 1, 1000, 3 };
	h = make(&p);
	assert_int_equal(h->counts_len, 2048);
	dd_hdr_record(h, 5000);
	assert_int_equal(dd_hdr_count_at_index(h, 1000), 1);
	assert_int_equal(dd_hdr_overflow(h), 1);
	assert_int_equal(dd_hdr_max(h), 1000);
	free(h);
}

static void test_min_and_max_are_slot_bounds_and_recorded_extremes_are_exact(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	/* 3001: bucket 1, slot [3000, 3001]; 1000000: bucket 9, width 512, 1953 << 9 = 999936 */
	dd_hdr_record(h, 3001);
	dd_hdr_record(h, 1000000);
	assert_int_equal(dd_hdr_min(h), 3000);
	assert_int_equal(dd_hdr_max(h), 1000447);
	assert_int_equal(dd_hdr_min_recorded(h), 3001);
	assert_int_equal(dd_hdr_max_recorded(h), 1000000);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.0), dd_hdr_min(h));
	assert_int_equal(dd_hdr_value_at_percentile(h, 100.0), dd_hdr_max(h));
	assert_int_equal(dd_hdr_value_at_percentile(h, 250.0), dd_hdr_max(h));
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.0), 3001);
	free(h);
}

static void test_mean_and_stddev_are_exact_below_2048_and_use_slot_midpoints_above(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	for (uint64_t v = 1; v <= 10; v++)
		dd_hdr_record(h, v);
	assert_dbl_equal(dd_hdr_mean(h), 5.5);
	assert_dbl_equal(dd_hdr_stddev(h), sqrt(8.25)); /* sum (v - 5.5)^2 = 82.5 over 10 */
	dd_hdr_reset(h);

	/* slot [3000, 3001] counts at its median equivalent value 3000 + 2 / 2 = 3001 */
	dd_hdr_record(h, 3000);
	dd_hdr_record(h, 3000);
	assert_dbl_equal(dd_hdr_mean(h), 3001.0);
	assert_dbl_equal(dd_hdr_stddev(h), 0.0);
	free(h);
}

/* ---- percentiles against exact order statistics -------------------------------------------- */

#define NVALUES 100000u

/* Percentiles in parts per million, so the nearest rank ceil(ppm * n / 1e6) is integer arithmetic. */
static const uint32_t pct_ppm[] = { 1, 10000, 100000, 250000, 500000, 750000, 900000, 990000,
				    999000, 999900, 999990, 1000000 };

static void check_against_sorted(uint64_t *v, size_t n)
{
	struct dd_hdr *h = make(&P60);
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		dd_hdr_record(h, v[i]);
		sum += (double)v[i];
	}
	qsort(v, n, sizeof(v[0]), cmp_u64);
	for (size_t k = 0; k < sizeof(pct_ppm) / sizeof(pct_ppm[0]); k++) {
		uint64_t rank = ((uint64_t)pct_ppm[k] * n + 999999) / 1000000;
		uint64_t exact = v[rank - 1];
		uint64_t got = dd_hdr_value_at_percentile(h, pct_ppm[k] / 10000.0);
		if (got != dd_hdr_highest_equivalent(h, exact))
			fail_msg("p%g: %llu, exact %llu (rank %llu)", pct_ppm[k] / 10000.0,
				 (unsigned long long)got, (unsigned long long)exact, (unsigned long long)rank);
		/* the guarantee at 3 digits: within 1/1000 of the value, never below it */
		assert_true(got >= exact);
		assert_true((double)(got - exact) <= 1e-3 * (double)exact);
	}
	assert_int_equal(dd_hdr_total(h), n);
	assert_int_equal(dd_hdr_min_recorded(h), v[0]);
	assert_int_equal(dd_hdr_max_recorded(h), v[n - 1]);
	assert_int_equal(dd_hdr_min(h), dd_hdr_lowest_equivalent(h, v[0]));
	assert_int_equal(dd_hdr_max(h), dd_hdr_highest_equivalent(h, v[n - 1]));
	double mean = sum / (double)n;
	assert_true(fabs(dd_hdr_mean(h) - mean) <= 1e-3 * mean);
	free(h);
}

static void test_percentiles_of_uniform_data_match_sorted_order_statistics(void **state)
{
	(void)state;
	uint64_t *v = malloc(NVALUES * sizeof(*v));
	rng_state = 1;
	for (size_t i = 0; i < NVALUES; i++)
		v[i] = 1 + rnd() % 1000000;
	check_against_sorted(v, NVALUES);
	free(v);
}

static void test_percentiles_of_log_uniform_1ns_to_60s_match_sorted_order_statistics(void **state)
{
	(void)state;
	uint64_t *v = malloc(NVALUES * sizeof(*v));
	rng_state = 2;
	for (size_t i = 0; i < NVALUES; i++)
		v[i] = (uint64_t)exp(unit_rnd() * log((double)SIXTY_S));
	check_against_sorted(v, NVALUES);
	free(v);
}

static void test_percentiles_of_constant_data_are_its_slot_top(void **state)
{
	(void)state;
	uint64_t *v = malloc(NVALUES * sizeof(*v));
	for (size_t i = 0; i < NVALUES; i++)
		v[i] = 12345;
	check_against_sorted(v, NVALUES);
	struct dd_hdr *h = make(&P60);
	dd_hdr_record_n(h, 12345, NVALUES);
	/* bucket 3 (8192..16383, width 8): 1543 << 3 = 12344 */
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.0), 12351);
	assert_int_equal(dd_hdr_value_at_percentile(h, 99.99), 12351);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.0), 12344);
	free(h);
	free(v);
}

static void test_percentiles_of_bimodal_data_match_sorted_order_statistics(void **state)
{
	(void)state;
	uint64_t *v = malloc(NVALUES * sizeof(*v));
	rng_state = 3;
	for (size_t i = 0; i < NVALUES; i++)
		v[i] = rnd() % 10 < 7 ? 4000 + rnd() % 2001 : 1500000 + rnd() % 1000001;
	check_against_sorted(v, NVALUES);
	free(v);
}

static void test_percentile_rank_is_not_pushed_up_by_rounding(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	/* 50.02 * 10000 / 100 is 5002.000000000001 in doubles; the rank is still 5002 */
	dd_hdr_record_n(h, 1, 5002);
	dd_hdr_record_n(h, 2, 4998);
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.02), 1);
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.03), 2);
	dd_hdr_reset(h);
	/* 0.07 * 10000 / 100 is 7.000000000000001 */
	dd_hdr_record_n(h, 1, 7);
	dd_hdr_record_n(h, 2, 9993);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.07), 1);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.0701), 2);
	dd_hdr_reset(h);
	for (uint64_t v = 1; v <= 1000; v++)
		dd_hdr_record(h, v);
	assert_int_equal(dd_hdr_value_at_percentile(h, 99.9), 999);
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.0), 500);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.05), 1);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.11), 2);
	free(h);
}

static void test_percentile_100_and_the_iteration_end_at_the_max_beyond_2_to_the_53_values(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct dd_hdr_pct_iter it;
	struct dd_hdr_pct s;
	unsigned steps = 0;

	/* 2^62 + 1 values: as doubles, 100 * (2^62) / (2^62 + 1) is 100, and rank 2^62 + 1 rounds to
	 * 2^62, so HdrHistogram's arithmetic alone would report the 1000 ns slot as the 100th */
	dd_hdr_record_n(h, 1000, 1ull << 62);
	dd_hdr_record(h, 5000);
	assert_int_equal(dd_hdr_value_at_percentile(h, 100.0), 5003);
	assert_int_equal(dd_hdr_value_at_percentile(h, 50.0), 1000);
	dd_hdr_pct_iter_init(&it, h, 5);
	while (dd_hdr_pct_iter_next(&it, &s)) {
		assert_true(++steps < 10000); /* it ends, rather than creep one ulp at a time */
		if (s.last) {
			assert_int_equal(s.value, 5003);
			assert_int_equal(s.cumulative, (1ull << 62) + 1);
			assert_dbl_equal(s.percentile, 100.0);
		} else {
			assert_int_equal(s.value, 1000);
			assert_true(s.percentile < 100.0);
		}
	}
	assert_true(s.last);
	free(h);
}

/* ---- merge, subtract, snapshot -------------------------------------------------------------- */

static void record_stream(struct dd_hdr *h, uint64_t seed, size_t n)
{
	rng_state = seed;
	for (size_t i = 0; i < n; i++)
		dd_hdr_record(h, (uint64_t)exp(unit_rnd() * log(2.0 * (double)SIXTY_S)));
}

static void test_add_of_two_histograms_equals_one_that_recorded_both_streams(void **state)
{
	(void)state;
	struct dd_hdr *a = make(&P60), *b = make(&P60), *both = make(&P60);

	record_stream(a, 10, 20000);
	record_stream(both, 10, 20000);
	record_stream(b, 11, 30000);
	record_stream(both, 11, 30000);
	assert_true(dd_hdr_overflow(b) > 0); /* the streams reach past 60 s */
	assert_int_equal(dd_hdr_add(a, b), 0);
	assert_same_counts(a, both);
	assert_int_equal(dd_hdr_total(a), dd_hdr_total(both));
	assert_int_equal(dd_hdr_overflow(a), dd_hdr_overflow(both));
	assert_int_equal(dd_hdr_min_recorded(a), dd_hdr_min_recorded(both));
	assert_int_equal(dd_hdr_max_recorded(a), dd_hdr_max_recorded(both));
	assert_int_equal(dd_hdr_value_at_percentile(a, 99.0), dd_hdr_value_at_percentile(both, 99.0));
	assert_dbl_equal(dd_hdr_mean(a), dd_hdr_mean(both));
	free(a);
	free(b);
	free(both);
}

static void test_add_and_subtract_reject_different_parameters(void **state)
{
	(void)state;
	struct dd_hdr_params p2 = { 1, SIXTY_S, 2 };
	struct dd_hdr *a = make(&P60), *b = make(&p2);

	dd_hdr_record(a, 100);
	dd_hdr_record(b, 100);
	assert_int_equal(dd_hdr_add(a, b), -EINVAL);
	assert_int_equal(dd_hdr_subtract(a, b), -EINVAL);
	assert_int_equal(dd_hdr_total(a), 1);
	assert_int_equal(dd_hdr_count_at_index(a, 100), 1);
	free(a);
	free(b);
}

static void test_subtract_of_snapshots_gives_the_interval(void **state)
{
	(void)state;
	struct dd_hdr *live = make(&P60), *interval = make(&P60);

	record_stream(live, 20, 10000);
	struct dd_hdr *s1 = blank_like(live);
	assert_int_equal(dd_hdr_snapshot(live, s1, dd_hdr_memsize(&P60)), 0);
	record_stream(live, 21, 5000);
	record_stream(interval, 21, 5000);
	struct dd_hdr *s2 = blank_like(live);
	assert_int_equal(dd_hdr_snapshot(live, s2, dd_hdr_memsize(&P60)), 0);

	assert_int_equal(dd_hdr_subtract(s2, s1), 0);
	assert_same_counts(s2, interval);
	assert_int_equal(dd_hdr_total(s2), 5000);
	assert_int_equal(dd_hdr_overflow(s2), dd_hdr_overflow(interval));
	assert_int_equal(dd_hdr_min(s2), dd_hdr_min(interval));
	assert_int_equal(dd_hdr_max(s2), dd_hdr_max(interval));
	/* the interval's exact extremes are unknown: they fall back to the slot bounds */
	assert_int_equal(dd_hdr_min_recorded(s2), dd_hdr_min(interval));
	assert_int_equal(dd_hdr_max_recorded(s2), dd_hdr_max(interval));
	for (double p = 0; p <= 100; p += 12.5)
		assert_int_equal(dd_hdr_value_at_percentile(s2, p), dd_hdr_value_at_percentile(interval, p));
	free(live);
	free(interval);
	free(s1);
	free(s2);
}

static void test_subtract_clamps_counts_and_overflow_at_zero(void **state)
{
	(void)state;
	struct dd_hdr *a = make(&P60), *b = make(&P60);

	dd_hdr_record(a, 10);
	dd_hdr_record(a, SIXTY_S + 5);
	dd_hdr_record_n(b, 10, 3);
	dd_hdr_record(b, 20);
	dd_hdr_record_n(b, SIXTY_S + 5, 2);
	assert_int_equal(dd_hdr_subtract(a, b), 0);
	assert_int_equal(dd_hdr_count_at_index(a, 10), 0);
	assert_int_equal(dd_hdr_count_at_index(a, 20), 0);
	assert_int_equal(dd_hdr_total(a), 0);
	assert_int_equal(dd_hdr_overflow(a), 0);
	assert_int_equal(dd_hdr_min(a), 0);
	assert_int_equal(dd_hdr_max(a), 0);
	assert_int_equal(dd_hdr_min_recorded(a), UINT64_MAX);
	free(a);
	free(b);
}

static void test_snapshot_recomputes_total_and_extremes_from_copied_counts(void **state)
{
	(void)state;
	struct dd_hdr *live = make(&P60);

	dd_hdr_record(live, 100);
	dd_hdr_record(live, 200);
	/* A writer caught mid-update: a count stored before its total and max ... */
	atomic_store_explicit(&live->counts[dd_hdr_index_of(live, 5001)], 1, memory_order_relaxed);
	/* ... and a total ahead of the counts. */
	atomic_store_explicit(&live->total, 10, memory_order_relaxed);
	struct dd_hdr *s = blank_like(live);
	assert_int_equal(dd_hdr_snapshot(live, s, dd_hdr_memsize(&P60)), 0);
	assert_int_equal(dd_hdr_check(s, dd_hdr_memsize(&P60)), 0);
	assert_int_equal(dd_hdr_total(s), 3);
	assert_int_equal(dd_hdr_min_recorded(s), 100);  /* recorded and in the lowest slot: exact */
	assert_int_equal(dd_hdr_max_recorded(s), 5003); /* 200 is not the top slot: its bound */
	assert_int_equal(dd_hdr_max(s), 5003);
	assert_int_equal(dd_hdr_value_at_percentile(s, 100.0), 5003);

	/* a max stored before its count: the snapshot keeps to what its counts show */
	atomic_store_explicit(&live->max, 7000, memory_order_relaxed);
	assert_int_equal(dd_hdr_snapshot(live, s, dd_hdr_memsize(&P60)), 0);
	assert_int_equal(dd_hdr_max(s), 5003);
	free(s);
	free(live);
}

static void test_snapshot_refuses_a_destination_too_small_for_the_source(void **state)
{
	(void)state;
	struct dd_hdr *live = make(&P60);
	struct dd_hdr *s = blank_like(live);
	size_t len = dd_hdr_memsize(&P60);

	dd_hdr_record(live, 100);
	memset(s, 0xA5, len);
	assert_int_equal(dd_hdr_snapshot(live, s, len - 8), -EINVAL);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(((const uint8_t *)s)[i], 0xA5); /* nothing written */
	free(s);
	free(live);
}

static void test_snapshot_rejects_an_uninitialised_source(void **state)
{
	(void)state;
	struct dd_hdr *live = make(&P60);
	struct dd_hdr *s = blank_like(live);

	atomic_store_explicit(&live->magic, 0, memory_order_relaxed);
	assert_int_equal(dd_hdr_snapshot(live, s, dd_hdr_memsize(&P60)), -EINVAL);
	free(s);
	free(live);
}

static void test_reset_empties_counts_totals_and_extremes(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);

	record_stream(h, 30, 1000);
	dd_hdr_reset(h);
	for (uint32_t i = 0; i < h->counts_len; i++)
		assert_int_equal(dd_hdr_count_at_index(h, i), 0);
	assert_int_equal(dd_hdr_total(h), 0);
	assert_int_equal(dd_hdr_overflow(h), 0);
	assert_int_equal(dd_hdr_min_recorded(h), UINT64_MAX);
	assert_int_equal(dd_hdr_max_recorded(h), 0);
	free(h);
}

/* ---- iterators and percentile text ---------------------------------------------------------- */

static void test_bucket_iterator_visits_non_empty_slots_in_value_order(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct dd_hdr_iter it;
	struct dd_hdr_bucket b;

	dd_hdr_record_n(h, 1000000, 4);
	dd_hdr_record_n(h, 5, 2);
	dd_hdr_record(h, 3001);
	dd_hdr_iter_init(&it, h);
	assert_true(dd_hdr_iter_next(&it, &b));
	assert_int_equal(b.lo, 5);
	assert_int_equal(b.hi, 5);
	assert_int_equal(b.count, 2);
	assert_true(dd_hdr_iter_next(&it, &b));
	assert_int_equal(b.lo, 3000);
	assert_int_equal(b.hi, 3001);
	assert_int_equal(b.count, 1);
	assert_true(dd_hdr_iter_next(&it, &b));
	assert_int_equal(b.lo, 999936);
	assert_int_equal(b.hi, 1000447);
	assert_int_equal(b.count, 4);
	assert_false(dd_hdr_iter_next(&it, &b));
	free(h);
}

/*
 * Values 1..10 once each, 5 ticks per half distance. Levels: steps of 10 up to 50%, then 5 to 75%,
 * 2.5 to 87.5%, 1.25 ...; a slot is reported at every level its cumulative count reaches, and the
 * last slot once more at 100%.
 */
static const struct {
	uint64_t value;
	double pct;
	uint64_t cum;
} ten_steps[] = {
	{ 1, 0, 1 },     { 1, 10, 1 },    { 2, 20, 2 },     { 3, 30, 3 },    { 4, 40, 4 },
	{ 5, 50, 5 },    { 6, 55, 6 },    { 6, 60, 6 },     { 7, 65, 7 },    { 7, 70, 7 },
	{ 8, 75, 8 },    { 8, 77.5, 8 },  { 8, 80, 8 },     { 9, 82.5, 9 },  { 9, 85, 9 },
	{ 9, 87.5, 9 },  { 9, 88.75, 9 }, { 9, 90, 9 },     { 10, 91.25, 10 }, { 10, 100, 10 },
};

static void test_percentile_iterator_steps_as_hdrhistogram_for_values_1_to_10(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct dd_hdr_pct_iter it;
	struct dd_hdr_pct s;
	size_t n = sizeof(ten_steps) / sizeof(ten_steps[0]);

	for (uint64_t v = 1; v <= 10; v++)
		dd_hdr_record(h, v);
	dd_hdr_pct_iter_init(&it, h, 5);
	for (size_t i = 0; i < n; i++) {
		assert_true(dd_hdr_pct_iter_next(&it, &s));
		assert_int_equal(s.value, ten_steps[i].value);
		assert_dbl_equal(s.percentile, ten_steps[i].pct);
		assert_int_equal(s.cumulative, ten_steps[i].cum);
		assert_int_equal(s.last, i == n - 1);
	}
	assert_false(dd_hdr_pct_iter_next(&it, &s));

	/* empty: no step at all */
	dd_hdr_reset(h);
	dd_hdr_pct_iter_init(&it, h, 5);
	assert_false(dd_hdr_pct_iter_next(&it, &s));
	free(h);
}

static const char ten_text[] =
	"       Value     Percentile TotalCount 1/(1-Percentile)\n"
	"\n"
	"       1.000 0.000000000000          1           1.00\n"
	"       1.000 0.100000000000          1           1.11\n"
	"       2.000 0.200000000000          2           1.25\n"
	"       3.000 0.300000000000          3           1.43\n"
	"       4.000 0.400000000000          4           1.67\n"
	"       5.000 0.500000000000          5           2.00\n"
	"       6.000 0.550000000000          6           2.22\n"
	"       6.000 0.600000000000          6           2.50\n"
	"       7.000 0.650000000000          7           2.86\n"
	"       7.000 0.700000000000          7           3.33\n"
	"       8.000 0.750000000000          8           4.00\n"
	"       8.000 0.775000000000          8           4.44\n"
	"       8.000 0.800000000000          8           5.00\n"
	"       9.000 0.825000000000          9           5.71\n"
	"       9.000 0.850000000000          9           6.67\n"
	"       9.000 0.875000000000          9           8.00\n"
	"       9.000 0.887500000000          9           8.89\n"
	"       9.000 0.900000000000          9          10.00\n"
	"      10.000 0.912500000000         10          11.43\n"
	"      10.000 1.000000000000         10\n"
	"#[Mean    =        5.500, StdDeviation   =        2.872]\n"
	"#[Max     =       10.000, Total count    =           10]\n"
	"#[Buckets =           26, SubBuckets     =         2048]\n";

static void test_percentiles_print_matches_hand_written_output_for_values_1_to_10(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct capture c;

	for (uint64_t v = 1; v <= 10; v++)
		dd_hdr_record(h, v);
	cap_open(&c);
	assert_int_equal(dd_hdr_percentiles_print(h, c.f, 5, 1.0), 0);
	assert_string_equal(cap_close(&c), ten_text);
	free(c.buf);
	free(h);
}

static void test_percentiles_print_rounds_ties_half_up_like_java(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct capture c;

	/* 1001 / 2000 = 0.5005, stored as 0.50049999999999994: printf's %.3f says 0.500, Java 0.501 */
	dd_hdr_record(h, 1001);
	cap_open(&c);
	assert_int_equal(dd_hdr_percentiles_print(h, c.f, 0, 2000.0), 0);
	assert_string_equal(cap_close(&c),
			    "       Value     Percentile TotalCount 1/(1-Percentile)\n"
			    "\n"
			    "       0.501 0.000000000000          1           1.00\n"
			    "       0.501 1.000000000000          1\n"
			    "#[Mean    =        0.501, StdDeviation   =        0.000]\n"
			    "#[Max     =        0.501, Total count    =            1]\n"
			    "#[Buckets =           26, SubBuckets     =         2048]\n");
	free(c.buf);
	free(h);
}

static void test_percentiles_print_of_empty_histogram_is_header_and_zero_footer(void **state)
{
	(void)state;
	struct dd_hdr_params p = { 1, 3600000000ull, 2 };
	struct dd_hdr *h = make(&p);
	struct capture c;

	cap_open(&c);
	assert_int_equal(dd_hdr_percentiles_print(h, c.f, 5, 1000.0), 0);
	/* 2 digits: 256 sub-buckets; 256 << 24 > 3.6e9, so 25 buckets */
	assert_string_equal(cap_close(&c),
			    "       Value     Percentile TotalCount 1/(1-Percentile)\n"
			    "\n"
			    "#[Mean    =         0.00, StdDeviation   =         0.00]\n"
			    "#[Max     =         0.00, Total count    =            0]\n"
			    "#[Buckets =           25, SubBuckets     =          256]\n");
	free(c.buf);
	assert_int_equal(dd_hdr_percentiles_print(h, stdout, 5, 0.0), -EINVAL);
	assert_int_equal(dd_hdr_percentiles_print(h, stdout, 5, NAN), -EINVAL);
	assert_int_equal(dd_hdr_percentiles_print(h, stdout, 5, INFINITY), -EINVAL);
	free(h);
}

/* ---- ZigZag LEB128 and V2 ------------------------------------------------------------------- */

static void test_zigzag_edge_values_encode_to_known_bytes_and_back(void **state)
{
	(void)state;
	static const struct {
		int64_t v;
		uint8_t len;
		uint8_t bytes[9];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x02 } },
		{ -1, 1, { 0x01 } },
		{ 63, 1, { 0x7e } },
		{ -64, 1, { 0x7f } },
		{ 64, 2, { 0x80, 0x01 } },            /* zigzag 128 */
		{ -65, 2, { 0x81, 0x01 } },           /* zigzag 129 */
		{ 300, 2, { 0xd8, 0x04 } },           /* zigzag 600 = 4 << 7 | 0x58 */
		{ 1ll << 54, 8, { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40 } }, /* zigzag 2^55: 8 x 7 bits */
		{ 1ll << 55, 9, { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 } }, /* bit 56: a 9th byte */
		{ 1ll << 56, 9, { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02 } }, /* 9th byte: 8 bits */
		{ INT64_MAX, 9, { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
		{ INT64_MIN, 9, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[DD_HDR_ZIGZAG_MAX + 1];
		memset(buf, 0xEE, sizeof(buf));
		assert_int_equal(dd_hdr_zigzag_put(buf, cases[i].v), cases[i].len);
		assert_memory_equal(buf, cases[i].bytes, cases[i].len);
		assert_int_equal(buf[cases[i].len], 0xEE);
		int64_t back = 0;
		assert_int_equal(dd_hdr_zigzag_get(buf, cases[i].len, &back), cases[i].len);
		assert_true(back == cases[i].v);
		/* one byte short */
		assert_int_equal(dd_hdr_zigzag_get(buf, cases[i].len - 1u, &back), -EINVAL);
	}
}

/*
 * The known answer, written out from the specification. P60, with 2 x 1, 1 x 5, 300 x 2048:
 *   counts[0] = 0              a lone empty slot: 0            -> 00
 *   counts[1] = 2              zigzag 4                        -> 04
 *   counts[2..4] = 0           run of 3: -3, zigzag 5          -> 05
 *   counts[5] = 1              zigzag 2                        -> 02
 *   counts[6..2047] = 0        run of 2042: zigzag 4083 = 31 << 7 | 0x73 -> f3 1f
 *   counts[2048] = 300         zigzag 600 = 4 << 7 | 0x58      -> d8 04
 * and the 40-byte header: cookie 0x1c849313, payload 8, offset 0, 3 digits, lowest 1,
 * highest 60e9 = 0x0000000df8475800, ratio 1.0 = 0x3ff0000000000000.
 */
static const uint8_t known_v2[] = {
	0x1c, 0x84, 0x93, 0x13, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0d, 0xf8, 0x47, 0x58, 0x00,
	0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x04, 0x05, 0x02, 0xf3, 0x1f, 0xd8, 0x04,
};

static struct dd_hdr *known_histogram(void)
{
	struct dd_hdr *h = make(&P60);
	dd_hdr_record_n(h, 1, 2);
	dd_hdr_record(h, 5);
	dd_hdr_record_n(h, 2048, 300);
	return h;
}

static void test_v2_uncompressed_encoding_matches_hand_derived_bytes(void **state)
{
	(void)state;
	struct dd_hdr *h = known_histogram();
	uint8_t *enc;
	size_t len;

	assert_int_equal(dd_hdr_encode_v2(h, &enc, &len), 0);
	assert_int_equal(len, sizeof(known_v2));
	assert_memory_equal(enc, known_v2, sizeof(known_v2));
	free(enc);

	struct dd_hdr *back;
	assert_int_equal(dd_hdr_decode_v2(known_v2, sizeof(known_v2), &back), 0);
	assert_same_counts(back, h);
	assert_int_equal(dd_hdr_total(back), 303);
	assert_int_equal(dd_hdr_min(back), 1);
	assert_int_equal(dd_hdr_max(back), 2049);
	dd_hdr_free(back);
	free(h);
}

static void test_v2_compressed_is_cookie_length_and_zlib_of_the_uncompressed_form(void **state)
{
	(void)state;
	struct dd_hdr *h = known_histogram();
	uint8_t *enc, plain[256];
	size_t len;

	assert_int_equal(dd_hdr_encode_v2_compressed(h, &enc, &len), 0);
	assert_true(len > 8);
	assert_memory_equal(enc, "\x1c\x84\x93\x14", 4);
	uint32_t clen = (uint32_t)enc[4] << 24 | (uint32_t)enc[5] << 16 | (uint32_t)enc[6] << 8 | enc[7];
	assert_int_equal(clen, len - 8);
	uLongf plen = sizeof(plain);
	assert_int_equal(uncompress(plain, &plen, enc + 8, clen), Z_OK);
	assert_int_equal(plen, sizeof(known_v2));
	assert_memory_equal(plain, known_v2, sizeof(known_v2));

	struct dd_hdr *back;
	assert_int_equal(dd_hdr_decode_v2(enc, len, &back), 0);
	assert_same_counts(back, h);
	dd_hdr_free(back);
	free(enc);
	free(h);
}

static void round_trip(const struct dd_hdr *h)
{
	for (int compressed = 0; compressed <= 1; compressed++) {
		uint8_t *enc;
		size_t len;
		struct dd_hdr *back;
		int rc = compressed ? dd_hdr_encode_v2_compressed(h, &enc, &len) : dd_hdr_encode_v2(h, &enc, &len);
		assert_int_equal(rc, 0);
		assert_int_equal(dd_hdr_decode_v2(enc, len, &back), 0);
		assert_int_equal(back->lowest, h->lowest);
		assert_int_equal(back->highest, h->highest);
		assert_int_equal(back->sigfigs, h->sigfigs);
		assert_same_counts(back, h);
		assert_int_equal(dd_hdr_total(back), dd_hdr_total(h));
		assert_int_equal(dd_hdr_min(back), dd_hdr_min(h));
		assert_int_equal(dd_hdr_max(back), dd_hdr_max(h));
		dd_hdr_free(back);
		free(enc);
	}
}

static void test_v2_round_trip_keeps_an_empty_histogram_as_one_zero(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	uint8_t *enc;
	size_t len;

	assert_int_equal(dd_hdr_encode_v2(h, &enc, &len), 0);
	assert_int_equal(len, 41);
	assert_int_equal(enc[7], 1);  /* payload length */
	assert_int_equal(enc[40], 0); /* counts[0] = 0, as HdrHistogram encodes an empty histogram */
	free(enc);
	round_trip(h);
	free(h);
}

static void test_v2_round_trip_keeps_a_single_value(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	dd_hdr_record(h, 1234567);
	round_trip(h);
	free(h);
}

static void test_v2_round_trip_keeps_dense_counts(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	for (uint64_t v = 0; v < 100000; v++)
		dd_hdr_record_n(h, v, 1 + v % 1000); /* every slot up to ~100 us, counts up to 1000 */
	dd_hdr_record_n(h, 200000, 1ull << 62);  /* a 9-byte count */
	round_trip(h);
	free(h);
}

static void test_v2_round_trip_keeps_sparse_counts(void **state)
{
	(void)state;
	struct dd_hdr_params p = { 1000, 3600000000000ull, 2 }; /* another shape: us resolution, 1 h */
	struct dd_hdr *h = make(&p);
	record_stream(h, 40, 50);
	dd_hdr_record(h, 3600000000000ull);
	round_trip(h);
	free(h);
	h = make(&P60);
	record_stream(h, 41, 50);
	round_trip(h);
	free(h);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* known_v2 with `patch` applied at `off`, then decoded. */
static int decode_patched(size_t off, const void *patch, size_t n, size_t len)
{
	uint8_t buf[128];
	struct dd_hdr *h = NULL;

	memcpy(buf, known_v2, sizeof(known_v2));
	memcpy(buf + off, patch, n);
	int rc = dd_hdr_decode_v2(buf, len, &h);
	if (rc == 0)
		dd_hdr_free(h);
	return rc;
}

/* known_v2's header with these values as the payload, decoded. */
static int decode_payload(const int64_t *v, size_t n)
{
	uint8_t buf[40 + 4 * DD_HDR_ZIGZAG_MAX];
	size_t len = 40;
	struct dd_hdr *h = NULL;

	memcpy(buf, known_v2, 40);
	for (size_t i = 0; i < n; i++)
		len += dd_hdr_zigzag_put(buf + len, v[i]);
	put32(buf + 4, (uint32_t)(len - 40));
	int rc = dd_hdr_decode_v2(buf, len, &h);
	if (rc == 0)
		dd_hdr_free(h);
	else
		assert_null(h);
	return rc;
}

static void test_v2_decode_rejects_malformed_and_unsupported_input(void **state)
{
	(void)state;
	size_t n = sizeof(known_v2);
	uint8_t b4[4];

	assert_int_equal(decode_patched(0, "", 0, n), 0);
	assert_int_equal(decode_patched(0, "", 0, n - 1), -EINVAL);   /* payload cut short */
	assert_int_equal(decode_patched(0, "", 0, n + 1), -EINVAL);   /* trailing byte */
	assert_int_equal(decode_patched(0, "", 0, 7), -EINVAL);
	assert_int_equal(decode_patched(0, "\x1c\x84\x93\x03", 4, n), 0); /* word-size bits are ignored */
	assert_int_equal(decode_patched(0, "\x1c\x84\x93\x05", 4, n), -EINVAL);
	assert_int_equal(decode_patched(0, "\x1c\x84\x93\x11", 4, n), -ENOTSUP); /* V1 */
	assert_int_equal(decode_patched(8, "\x00\x00\x00\x01", 4, n), -ENOTSUP); /* normalizing offset */
	assert_int_equal(decode_patched(32, "\x40\x00", 2, n), -ENOTSUP);        /* ratio 2.0 */
	assert_int_equal(decode_patched(12, "\x00\x00\x00\x06", 4, n), -EINVAL); /* 6 digits */
	assert_int_equal(decode_patched(16, "\x00\x00\x00\x00\x00\x00\x00\x00", 8, n), -EINVAL);
	assert_int_equal(decode_patched(24, "\x80\x00\x00\x00\x00\x00\x00\x00", 8, n), -EINVAL);
	put32(b4, 9);
	assert_int_equal(decode_patched(4, b4, 4, n), -EINVAL); /* payload length beyond the data */

	/* payloads after known_v2's header, 27648 slots */
	const int64_t ok[] = { -27647, 5 };                 /* a count in the last slot */
	const int64_t run_past_end[] = { -40000 };
	const int64_t count_past_end[] = { -27648, 1 };
	const int64_t total_overflows[] = { INT64_MAX, 1 };
	const int64_t int64_min_run[] = { INT64_MIN };
	assert_int_equal(decode_payload(ok, 2), 0);
	assert_int_equal(decode_payload(run_past_end, 1), -EINVAL);
	assert_int_equal(decode_payload(count_past_end, 2), -EINVAL);
	assert_int_equal(decode_payload(total_overflows, 2), -EINVAL);
	assert_int_equal(decode_payload(int64_min_run, 1), -EINVAL);

	/* a value cut short: 0x80 promises another byte that is not there */
	uint8_t buf[48];
	struct dd_hdr *h = NULL;
	memcpy(buf, known_v2, 40);
	put32(buf + 4, 1);
	buf[40] = 0x80;
	assert_int_equal(dd_hdr_decode_v2(buf, 41, &h), -EINVAL);
	assert_null(h);
}

static void test_decoded_counts_above_highest_report_their_own_slot_as_max(void **state)
{
	(void)state;
	/* HdrHistogram (Java) accepts values past `highest` up to the end of the last bucket; a log
	 * may hold them. Five in the last slot, [2047 << 25, 2^36 - 1], above 60 s: */
	uint8_t buf[64];
	size_t len = 40;
	struct dd_hdr *h;

	memcpy(buf, known_v2, 40);
	len += dd_hdr_zigzag_put(buf + len, -27647);
	len += dd_hdr_zigzag_put(buf + len, 5);
	put32(buf + 4, (uint32_t)(len - 40));
	assert_int_equal(dd_hdr_decode_v2(buf, len, &h), 0);
	assert_int_equal(dd_hdr_count_at_index(h, 27647), 5);
	assert_int_equal(dd_hdr_max(h), (1ull << 36) - 1);
	assert_int_equal(dd_hdr_min(h), 2047ull << 25);
	assert_int_equal(dd_hdr_value_at_percentile(h, 100.0), (1ull << 36) - 1);
	assert_int_equal(dd_hdr_value_at_percentile(h, 0.0), 2047ull << 25);
	dd_hdr_free(h);

	/* only slot 0, of a histogram whose slot 0 is [0, 511]: decoded, its max is the slot top,
	 * as Java's establishInternalTackingValues() makes it */
	const uint8_t us2[] = { 0x1c, 0x84, 0x93, 0x13, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,
				0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0x03, 0x46, 0x30, 0xb8, 0xa0, 0,
				0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x04 };
	assert_int_equal(dd_hdr_decode_v2(us2, sizeof(us2), &h), 0);
	assert_int_equal(h->unit_magnitude, 9);
	assert_int_equal(dd_hdr_count_at_index(h, 0), 2);
	assert_int_equal(dd_hdr_max(h), 511);
	assert_int_equal(dd_hdr_max_recorded(h), 511);
	assert_int_equal(dd_hdr_min(h), 0);
	dd_hdr_free(h);
}

static void test_v2_decode_rejects_malformed_compressed_input(void **state)
{
	(void)state;
	struct dd_hdr *h = known_histogram(), *out = NULL;
	uint8_t *enc;
	size_t len;

	assert_int_equal(dd_hdr_encode_v2_compressed(h, &enc, &len), 0);
	uint8_t *buf = malloc(len + 1);
	memcpy(buf, enc, len);
	assert_int_equal(dd_hdr_decode_v2(buf, len - 1, &out), -EINVAL);      /* length says more */
	buf[len] = 0;
	assert_int_equal(dd_hdr_decode_v2(buf, len + 1, &out), -EINVAL);      /* length says less */
	put32(buf + 4, (uint32_t)len - 9);
	assert_int_equal(dd_hdr_decode_v2(buf, len - 1, &out), -EINVAL);      /* stream cut short */
	memcpy(buf, enc, len);
	buf[len - 1] ^= 0x55;                                                  /* adler32 broken */
	assert_int_equal(dd_hdr_decode_v2(buf, len, &out), -EINVAL);
	memcpy(buf, enc, len);
	buf[9] ^= 0xFF;                                                        /* zlib header broken */
	assert_int_equal(dd_hdr_decode_v2(buf, len, &out), -EINVAL);
	memcpy(buf, "\x1c\x84\x93\x12", 4);                                    /* V1 compressed */
	assert_int_equal(dd_hdr_decode_v2(buf, len, &out), -ENOTSUP);

	/* a compressed wrapper around something that is not a V2 encoding */
	uint8_t junk[64], z[128];
	memset(junk, 0x11, sizeof(junk));
	uLongf zl = sizeof(z) - 8;
	assert_int_equal(compress(z + 8, &zl, junk, sizeof(junk)), Z_OK);
	memcpy(z, "\x1c\x84\x93\x14", 4);
	put32(z + 4, (uint32_t)zl);
	assert_int_equal(dd_hdr_decode_v2(z, zl + 8, &out), -EINVAL);
	assert_null(out);
	free(buf);
	free(enc);
	free(h);
}

/* ---- base64 --------------------------------------------------------------------------------- */

static void test_base64_encodes_and_decodes_rfc4648_vectors(void **state)
{
	(void)state;
	static const char *vec[][2] = {
		{ "", "" },         { "f", "Zg==" },        { "fo", "Zm8=" },         { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char out[16];
		uint8_t bin[16];
		size_t n = strlen(vec[i][0]), got;
		assert_int_equal(dd_hdr_base64_len(n), strlen(vec[i][1]));
		dd_hdr_base64_encode((const uint8_t *)vec[i][0], n, out);
		assert_string_equal(out, vec[i][1]);
		assert_int_equal(dd_hdr_base64_decode(vec[i][1], strlen(vec[i][1]), bin, sizeof(bin), &got), 0);
		assert_int_equal(got, n);
		assert_memory_equal(bin, vec[i][0], n);
	}
	/* all 256 byte values through the whole alphabet */
	uint8_t all[256], back[256];
	char text[400];
	size_t got;
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)(255 - i);
	dd_hdr_base64_encode(all, sizeof(all), text);
	assert_int_equal(dd_hdr_base64_decode(text, strlen(text), back, sizeof(back), &got), 0);
	assert_int_equal(got, 256);
	assert_memory_equal(back, all, 256);
}

static void test_base64_decode_rejects_malformed_input(void **state)
{
	(void)state;
	static const char *bad[] = { "Zg=", "Z===", "Zh==", "Zm9=", "Zm9v!A==", "=Zm9", "Zg==Zg==", "Zm 9v",
				     "Zm9vYg=a" };
	uint8_t out[16];
	size_t got;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dd_hdr_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &got) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(dd_hdr_base64_decode("Zm9vYmFy", 8, out, 5, &got), -ENOSPC);
	assert_int_equal(dd_hdr_base64_decode("Zm9vYmE=", 8, out, 5, &got), 0);
	assert_int_equal(got, 5);
}

/* ---- interval log --------------------------------------------------------------------------- */

static void use_utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

static void test_log_header_writes_hdrhistogram_version_times_and_legend(void **state)
{
	(void)state;
	struct capture c;

	use_utc();
	cap_open(&c);
	/* 1700000000 s is Tuesday 14 November 2023, 22:13:20 UTC; .1234 rounds to the ms */
	assert_int_equal(dd_hdr_log_header(c.f, 1700000000.1234), 0);
	assert_string_equal(cap_close(&c),
			    "#[Histogram log format version 1.3]\n"
			    "#[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]\n"
			    "#[BaseTime: 1700000000.123 (seconds since epoch)]\n"
			    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
	free(c.buf);
	assert_int_equal(dd_hdr_log_header(stdout, -1.0), -EINVAL);
}

static void test_log_interval_line_matches_hand_written_fields_and_decodes_back(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct capture c;
	uint8_t *enc;
	size_t len;

	/* 123456789: bucket 16 (width 65536), 1883 << 16 = 123404288, top 123469823 = 123.470 ms */
	dd_hdr_record(h, 123456789);
	cap_open(&c);
	assert_int_equal(dd_hdr_log_interval(c.f, "rx", 12.5, 1.0005, h, 1e6), 0);
	const char *line = cap_close(&c);

	/* 1.0005 is 1.000499999... in binary: Java's %.3f gives 1.001 (printf's 1.000) */
	const char *prefix = "Tag=rx,12.500,1.001,123.470,";
	assert_memory_equal(line, prefix, strlen(prefix));
	assert_int_equal(dd_hdr_encode_v2_compressed(h, &enc, &len), 0);
	char *b64 = malloc(dd_hdr_base64_len(len) + 1);
	dd_hdr_base64_encode(enc, len, b64);
	assert_memory_equal(line + strlen(prefix), b64, strlen(b64));
	assert_string_equal(line + strlen(prefix) + strlen(b64), "\n");

	struct dd_hdr_log_entry e;
	assert_int_equal(dd_hdr_log_read_line(line, &e), 0);
	assert_int_equal(e.kind, DD_HDR_LOG_INTERVAL);
	assert_string_equal(e.tag, "rx");
	assert_dbl_equal(e.start_s, 12.5);
	assert_dbl_equal(e.length_s, 1.001);
	assert_dbl_equal(e.max, 123.47);
	assert_non_null(e.h);
	assert_same_counts(e.h, h);
	dd_hdr_free(e.h);
	free(b64);
	free(enc);
	free(c.buf);
	free(h);
}

static void test_log_interval_without_tag_starts_with_the_timestamp(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	struct capture c;

	dd_hdr_record(h, 1500);
	cap_open(&c);
	assert_int_equal(dd_hdr_log_interval(c.f, NULL, 0.0, 5.0, h, 1000.0), 0);
	assert_int_equal(dd_hdr_log_interval(c.f, "", 5.0, 5.0, h, 1000.0), 0);
	const char *out = cap_close(&c);
	assert_memory_equal(out, "0.000,5.000,1.500,", 18);
	const char *second = strchr(out, '\n') + 1;
	assert_memory_equal(second, "5.000,5.000,1.500,", 18);
	free(c.buf);
	free(h);
}

static void test_log_interval_rejects_tags_with_delimiters_or_too_long(void **state)
{
	(void)state;
	struct dd_hdr *h = make(&P60);
	char long_tag[DD_HDR_TAG_MAX + 2];

	memset(long_tag, 'a', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';
	assert_int_equal(dd_hdr_log_interval(stdout, "a,b", 0, 1, h, 1.0), -EINVAL);
	assert_int_equal(dd_hdr_log_interval(stdout, "a b", 0, 1, h, 1.0), -EINVAL);
	assert_int_equal(dd_hdr_log_interval(stdout, "a\nb", 0, 1, h, 1.0), -EINVAL);
	assert_int_equal(dd_hdr_log_interval(stdout, long_tag, 0, 1, h, 1.0), -EINVAL);
	assert_int_equal(dd_hdr_log_interval(stdout, "ok", 0, 1, h, 0.0), -EINVAL);
	free(h);
}

static void test_log_read_line_tells_each_kind_of_line_apart(void **state)
{
	(void)state;
	struct dd_hdr_log_entry e;

	assert_int_equal(dd_hdr_log_read_line("#[Histogram log format version 1.3]\n", &e), 0);
	assert_int_equal(e.kind, DD_HDR_LOG_COMMENT);
	assert_int_equal(dd_hdr_log_read_line("#[StartTime: 1700000000.123 (seconds since epoch), Tue]\n", &e), 0);
	assert_int_equal(e.kind, DD_HDR_LOG_START_TIME);
	assert_dbl_equal(e.time_s, 1700000000.123);
	assert_int_equal(dd_hdr_log_read_line("#[BaseTime: 42.5 (seconds since epoch)]", &e), 0);
	assert_int_equal(e.kind, DD_HDR_LOG_BASE_TIME);
	assert_dbl_equal(e.time_s, 42.5);
	assert_int_equal(dd_hdr_log_read_line("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"X\"\r\n", &e), 0);
	assert_int_equal(e.kind, DD_HDR_LOG_LEGEND);
	assert_int_equal(dd_hdr_log_read_line("\n", &e), 0);
	assert_int_equal(e.kind, DD_HDR_LOG_BLANK);
	assert_null(e.h);
}

static void test_log_read_line_rejects_malformed_interval_lines(void **state)
{
	(void)state;
	static const char *bad[] = {
		"Tag=x,1.0,2.0\n",          /* fields missing */
		"1.0,2.0,3.0,@@@@\n",       /* not base64 */
		"1.0,2.0,3.0,Zm9v\n",       /* base64, not a histogram */
		"abc\n",
		"Tag=,1.0,2.0,3.0,Zm9v\n",  /* empty tag */
		"1.0,,3.0,Zm9v\n",
		"#[StartTime: soon]\n",
	};
	struct dd_hdr_log_entry e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dd_hdr_log_read_line(bad[i], &e) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_null(e.h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memsize_for_1ns_to_60s_at_3_digits_is_27648_counts),
		cmocka_unit_test(test_init_rejects_out_of_range_parameters),
		cmocka_unit_test(test_init_publishes_magic_and_parameters_at_documented_offsets),
		cmocka_unit_test(test_check_accepts_initialised_and_rejects_foreign_or_inconsistent_blocks),
		cmocka_unit_test(test_fresh_histogram_is_empty_despite_garbage_memory),
		cmocka_unit_test(test_index_and_equivalent_range_at_bucket_boundaries),
		cmocka_unit_test(test_zero_is_counted_in_slot_zero_and_reported_as_min_and_max),
		cmocka_unit_test(test_record_n_adds_n_to_one_slot_and_to_total),
		cmocka_unit_test(test_values_above_highest_are_clamped_and_counted_as_overflow),
		cmocka_unit_test(test_min_and_max_are_slot_bounds_and_recorded_extremes_are_exact),
		cmocka_unit_test(test_mean_and_stddev_are_exact_below_2048_and_use_slot_midpoints_above),
		cmocka_unit_test(test_percentiles_of_uniform_data_match_sorted_order_statistics),
		cmocka_unit_test(test_percentiles_of_log_uniform_1ns_to_60s_match_sorted_order_statistics),
		cmocka_unit_test(test_percentiles_of_constant_data_are_its_slot_top),
		cmocka_unit_test(test_percentiles_of_bimodal_data_match_sorted_order_statistics),
		cmocka_unit_test(test_percentile_rank_is_not_pushed_up_by_rounding),
		cmocka_unit_test(test_percentile_100_and_the_iteration_end_at_the_max_beyond_2_to_the_53_values),
		cmocka_unit_test(test_add_of_two_histograms_equals_one_that_recorded_both_streams),
		cmocka_unit_test(test_add_and_subtract_reject_different_parameters),
		cmocka_unit_test(test_subtract_of_snapshots_gives_the_interval),
		cmocka_unit_test(test_subtract_clamps_counts_and_overflow_at_zero),
		cmocka_unit_test(test_snapshot_recomputes_total_and_extremes_from_copied_counts),
		cmocka_unit_test(test_snapshot_refuses_a_destination_too_small_for_the_source),
		cmocka_unit_test(test_snapshot_rejects_an_uninitialised_source),
		cmocka_unit_test(test_reset_empties_counts_totals_and_extremes),
		cmocka_unit_test(test_bucket_iterator_visits_non_empty_slots_in_value_order),
		cmocka_unit_test(test_percentile_iterator_steps_as_hdrhistogram_for_values_1_to_10),
		cmocka_unit_test(test_percentiles_print_matches_hand_written_output_for_values_1_to_10),
		cmocka_unit_test(test_percentiles_print_rounds_ties_half_up_like_java),
		cmocka_unit_test(test_percentiles_print_of_empty_histogram_is_header_and_zero_footer),
		cmocka_unit_test(test_zigzag_edge_values_encode_to_known_bytes_and_back),
		cmocka_unit_test(test_v2_uncompressed_encoding_matches_hand_derived_bytes),
		cmocka_unit_test(test_v2_compressed_is_cookie_length_and_zlib_of_the_uncompressed_form),
		cmocka_unit_test(test_v2_round_trip_keeps_an_empty_histogram_as_one_zero),
		cmocka_unit_test(test_v2_round_trip_keeps_a_single_value),
		cmocka_unit_test(test_v2_round_trip_keeps_dense_counts),
		cmocka_unit_test(test_v2_round_trip_keeps_sparse_counts),
		cmocka_unit_test(test_v2_decode_rejects_malformed_and_unsupported_input),
		cmocka_unit_test(test_decoded_counts_above_highest_report_their_own_slot_as_max),
		cmocka_unit_test(test_v2_decode_rejects_malformed_compressed_input),
		cmocka_unit_test(test_base64_encodes_and_decodes_rfc4648_vectors),
		cmocka_unit_test(test_base64_decode_rejects_malformed_input),
		cmocka_unit_test(test_log_header_writes_hdrhistogram_version_times_and_legend),
		cmocka_unit_test(test_log_interval_line_matches_hand_written_fields_and_decodes_back),
		cmocka_unit_test(test_log_interval_without_tag_starts_with_the_timestamp),
		cmocka_unit_test(test_log_interval_rejects_tags_with_delimiters_or_too_long),
		cmocka_unit_test(test_log_read_line_tells_each_kind_of_line_apart),
		cmocka_unit_test(test_log_read_line_rejects_malformed_interval_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
