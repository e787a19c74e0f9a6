/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for shm/hdr.c's decoders: dd_hdr_decode_v2(), dd_hdr_base64_decode() and
 * dd_hdr_log_read_line(), which read untrusted logs.
 *
 * Input: one mode byte, then the body.
 *   mode 0: the body is decoded as a V2 encoding, either form;
 *   mode 1: the body is deflated and wrapped as a compressed V2 encoding (so the fuzzer reaches the
 *           decoder behind zlib without having to produce valid deflate streams itself);
 *   mode 2: the first body byte picks valid parameters, and the rest is the payload behind a
 *           well-formed 40-byte header (so it reaches the counts decoder at once);
 *   mode 3: the body is base64 text, decoded, and the bytes then decoded as V2;
 *   mode 4: the body is one interval-log line.
 * The body is copied into a buffer of its exact size so that any read past it trips ASan.
 *
 * Whatever decodes must be internally consistent: dd_hdr_check() passes; total is the sum of the
 * counts; min/max are the slot bounds of the lowest/highest non-empty slots and equal the 0th and
 * 100th percentiles; the percentile iteration is monotone and ends at the total and the max;
 * re-encoding and decoding again gives the same counts, and the same bytes once more (for up to
 * 2^16 slots, which covers every shape dadar uses), and the text outputs succeed. What base64
 * decodes re-encodes to the same text (the decoder accepts only the canonical form).
 *
 * fuzz-sources: shm/hdr.c
 * fuzz-libs: -lz -lm
 *
 * Build and run by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_hdr.c shm/hdr.c -lz \
 *         -o /tmp/fuzz_hdr && /tmp/fuzz_hdr -max_total_time=60 /tmp/hdr_corpus
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "shm/hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                          \
	do {                                                                              \
		if (!(c)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                          \
		}                                                                         \
	} while (0)

static FILE *sink(void)
{
	static FILE *f;
	if (f == NULL)
		f = fopen("/dev/null", "w");
	CHECK(f != NULL);
	return f;
}

static bool same_counts(const struct dd_hdr *a, const struct dd_hdr *b)
{
	if (a->counts_len != b->counts_len || a->lowest != b->lowest || a->highest != b->highest ||
	    a->sigfigs != b->sigfigs)
		return false;
	for (uint32_t i = 0; i < a->counts_len; i++)
		if (dd_hdr_count_at_index(a, i) != dd_hdr_count_at_index(b, i))
			return false;
	return true;
}

static void check_histogram(const struct dd_hdr *h)
{
	struct dd_hdr_params p;

	dd_hdr_params_of(h, &p);
	CHECK(dd_hdr_memsize(&p) == h->memsize);
	CHECK(dd_hdr_check(h, h->memsize) == 0);
	CHECK(dd_hdr_overflow(h) == 0);

	uint64_t sum = 0;
	uint32_t lo = UINT32_MAX, hi = 0;
	for (uint32_t i = 0; i < h->counts_len; i++) {
		uint64_t n = dd_hdr_count_at_index(h, i);
		CHECK(n <= (uint64_t)INT64_MAX - sum);
		sum += n;
		if (n != 0) {
			if (lo == UINT32_MAX)
				lo = i;
			hi = i;
		}
	}
	CHECK(dd_hdr_total(h) == sum);
	if (sum == 0) {
		CHECK(dd_hdr_min(h) == 0 && dd_hdr_max(h) == 0);
		CHECK(dd_hdr_min_recorded(h) == UINT64_MAX && dd_hdr_max_recorded(h) == 0);
		CHECK(dd_hdr_value_at_percentile(h, 50.0) == 0);
	} else {
		CHECK(dd_hdr_min_recorded(h) == dd_hdr_lowest_at_index(h, lo));
		CHECK(dd_hdr_max_recorded(h) == dd_hdr_highest_at_index(h, hi));
		CHECK(dd_hdr_min(h) == dd_hdr_lowest_at_index(h, lo));
		CHECK(dd_hdr_min(h) <= dd_hdr_max(h));
		CHECK(dd_hdr_value_at_percentile(h, 0.0) == dd_hdr_min(h));
		CHECK(dd_hdr_value_at_percentile(h, 100.0) == dd_hdr_highest_at_index(h, hi));
		CHECK(dd_hdr_max(h) == dd_hdr_highest_at_index(h, hi));
		uint64_t p50 = dd_hdr_value_at_percentile(h, 50.0);
		CHECK(p50 >= dd_hdr_min(h) && p50 <= dd_hdr_highest_at_index(h, hi));
		double mean = dd_hdr_mean(h);
		CHECK(mean >= (double)dd_hdr_lowest_at_index(h, lo) * (1 - 1e-12) &&
		      mean <= (double)dd_hdr_highest_at_index(h, hi) * (1 + 1e-12) + 1.0);
	}

	struct dd_hdr_pct_iter it;
	struct dd_hdr_pct s;
	uint64_t prev_value = 0, prev_cum = 0, steps = 0;
	double prev_pct = -1.0;
	bool last = false;
	dd_hdr_pct_iter_init(&it, h, 5);
	while (dd_hdr_pct_iter_next(&it, &s)) {
		CHECK(!last);
		CHECK(s.value >= prev_value && s.cumulative >= prev_cum && s.percentile > prev_pct);
		CHECK(s.cumulative <= sum && s.percentile <= 100.0);
		prev_value = s.value;
		prev_cum = s.cumulative;
		prev_pct = s.percentile;
		last = s.last;
		CHECK(++steps < 100000);
	}
	CHECK(sum == 0 ? steps == 0 : (last && prev_cum == sum && prev_value == dd_hdr_highest_at_index(h, hi)));

	struct dd_hdr_iter bi;
	struct dd_hdr_bucket b;
	uint64_t bsum = 0, prev_hi = 0;
	bool first = true;
	dd_hdr_iter_init(&bi, h);
	while (dd_hdr_iter_next(&bi, &b)) {
		CHECK(b.count > 0 && b.lo <= b.hi && (first || b.lo > prev_hi));
		bsum += b.count;
		prev_hi = b.hi;
		first = false;
	}
	CHECK(bsum == sum);
}

/* Re-encode, decode again: the same histogram, and the same bytes a second time. */
static void check_round_trip(const struct dd_hdr *h)
{
	uint8_t *e1, *e2;
	size_t l1, l2;
	struct dd_hdr *back;

	CHECK(dd_hdr_encode_v2(h, &e1, &l1) == 0);
	CHECK(dd_hdr_decode_v2(e1, l1, &back) == 0);
	CHECK(same_counts(h, back));
	CHECK(dd_hdr_encode_v2(back, &e2, &l2) == 0);
	CHECK(l1 == l2 && memcmp(e1, e2, l1) == 0);
	dd_hdr_free(back);
	free(e2);
	free(e1);

	CHECK(dd_hdr_encode_v2_compressed(h, &e1, &l1) == 0);
	CHECK(dd_hdr_decode_v2(e1, l1, &back) == 0);
	CHECK(same_counts(h, back));
	dd_hdr_free(back);
	free(e1);

	CHECK(dd_hdr_percentiles_print(h, sink(), 5, 1000.0) == 0);
	CHECK(dd_hdr_log_interval(sink(), "fuzz", 1.0, 1.0, h, 1e6) == 0);
}

static void decode_and_check(const uint8_t *buf, size_t len)
{
	struct dd_hdr *h = NULL;
	int rc = dd_hdr_decode_v2(buf, len, &h);

	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOTSUP || rc == -ENOMEM);
	if (rc != 0) {
		CHECK(h == NULL);
		return;
	}
	check_histogram(h);
	/* Round trips of the big shapes (5 digits: 2^18 slots and up) would cost the fuzzer most of
	 * its pace in linear passes; dadar's own shapes are far below this. */
	if (h->counts_len <= 1u << 16)
		check_round_trip(h);
	dd_hdr_free(h);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static const struct dd_hdr_params shapes[8] = {
	{ 1, 60000000000ull, 3 }, { 1, 2, 0 },      { 1, 1000, 1 },  { 1000, 3600000000000ull, 2 },
	{ 1, 262143, 5 },     { 7, 100000, 4 }, { 1, INT64_MAX, 1 }, { 1ull << 40, 1ull << 50, 2 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 5;
	const uint8_t *body = data + 1;
	size_t n = size - 1;
	uint8_t *buf;

	switch (mode) {
	case 0:
		buf = malloc(n ? n : 1);
		CHECK(buf != NULL);
		memcpy(buf, body, n);
		decode_and_check(buf, n);
		free(buf);
		break;
	case 1: {
		uLongf clen = compressBound((uLong)n);
		uint8_t *tmp = malloc(clen);
		CHECK(tmp != NULL && compress(tmp, &clen, body, (uLong)n) == Z_OK);
		buf = malloc(8 + clen);
		CHECK(buf != NULL);
		put_be32(buf, DD_HDR_V2_COMPRESSED_COOKIE);
		put_be32(buf + 4, (uint32_t)clen);
		memcpy(buf + 8, tmp, clen);
		decode_and_check(buf, 8 + clen);
		free(buf);
		free(tmp);
		break;
	}
	case 2: {
		if (n < 1)
			return 0;
		const struct dd_hdr_params *p = &shapes[body[0] % 8];
		size_t plen = n - 1;
		buf = malloc(DD_HDR_V2_HEADER_SIZE + plen);
		CHECK(buf != NULL);
		put_be32(buf, DD_HDR_V2_COOKIE);
		put_be32(buf + 4, (uint32_t)plen);
		put_be32(buf + 8, 0);
		put_be32(buf + 12, p->sigfigs);
		put_be64(buf + 16, p->lowest);
		put_be64(buf + 24, p->highest);
		put_be64(buf + 32, 0x3ff0000000000000ull);
		memcpy(buf + DD_HDR_V2_HEADER_SIZE, body + 1, plen);
		decode_and_check(buf, DD_HDR_V2_HEADER_SIZE + plen);
		free(buf);
		break;
	}
	case 3: {
		char *text = malloc(n ? n : 1);
		uint8_t *bin = malloc(n / 4 * 3 + 1);
		CHECK(text != NULL && bin != NULL);
		memcpy(text, body, n);
		size_t blen = 0;
		int rc = dd_hdr_base64_decode(text, n, bin, n / 4 * 3, &blen);
		CHECK(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			CHECK(dd_hdr_base64_len(blen) == n);
			char *again = malloc(n + 1);
			CHECK(again != NULL);
			dd_hdr_base64_encode(bin, blen, again);
			CHECK(memcmp(again, text, n) == 0);
			free(again);
			uint8_t *exact = malloc(blen ? blen : 1);
			CHECK(exact != NULL);
			memcpy(exact, bin, blen);
			decode_and_check(exact, blen);
			free(exact);
		}
		free(bin);
		free(text);
		break;
	}
	default: {
		char *line = malloc(n + 1);
		CHECK(line != NULL);
		memcpy(line, body, n);
		line[n] = '\0';
		struct dd_hdr_log_entry e;
		int rc = dd_hdr_log_read_line(line, &e);
		if (rc == 0 && e.kind == DD_HDR_LOG_INTERVAL) {
			CHECK(e.h != NULL && strlen(e.tag) <= DD_HDR_TAG_MAX);
			check_histogram(e.h);
			dd_hdr_free(e.h);
		} else {
			CHECK(e.h == NULL);
		}
		free(line);
		break;
	}
	}
	return 0;
}
