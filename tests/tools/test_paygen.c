/* SPDX-License-Identifier: MIT */
/*
 * tools/paygen.c: the 73-byte payment message against bytes written out by hand from
 * docs/wire-formats.md, the payment CSV reader (what it takes, what it refuses and how it says so),
 * the writer's round trip, and the synthetic stream's determinism and bookkeeping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/paygen.h"

/* ---- the encoder ------------------------------------------------------------------------------ */

static void test_encode_matches_the_documented_layout_byte_by_byte(void **state)
{
	(void)state;
	const struct dd_paygen_msg m = {
		.event_ns = 0x0123456789abcdefull,
		.txn_id = 42,
		.payer = 0x1122334455667788ull,
		.payee = 0,
		.merchant = 50000000001ull,
		.amount = -1000,
		.currency = { 'I', 'N', 'R' },
		.mcc = 5411,
		.channel = 'U',
		.kind = 'M',
		.device = 0xa1b2c3d4e5f60718ull,
		.lat_e6 = 19076000,
		.lon_e6 = -72877700,
	};
	/* docs/wire-formats.md, "Payment authorisation": offsets 0, 1, 2, 10, 18, ... 65, 69. */
	static const uint8_t want[DD_PAYGEN_MSG_LEN] = {
		0x50,                                           /* 0  type 'P' */
		0x01,                                           /* 1  version */
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* 2  event_ns */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* 10 txn_id 42 */
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* 18 payer */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 26 payee 0 */
		0x00, 0x00, 0x00, 0x0b, 0xa4, 0x3b, 0x74, 0x01, /* 34 merchant 50000000001 */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x18, /* 42 amount -1000 */
		'I', 'N', 'R',                                  /* 50 currency */
		0x15, 0x23,                                     /* 53 mcc 5411 */
		'U',                                            /* 55 channel */
		'M',                                            /* 56 kind */
		0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, /* 57 device */
		0x01, 0x23, 0x13, 0xa0,                         /* 65 lat 19076000 */
		0xfb, 0xa7, 0xf9, 0x7c,                         /* 69 lon -72877700 */
	};
	uint8_t got[DD_PAYGEN_MSG_LEN + 1];

	memset(got, 0xee, sizeof(got));
	dd_paygen_encode(&m, got);
	assert_memory_equal(got, want, DD_PAYGEN_MSG_LEN);
	assert_int_equal(got[DD_PAYGEN_MSG_LEN], 0xee); /* not a byte more */
}

static void test_encode_keeps_values_dadar_judges_invalid(void **state)
{
	(void)state;
	const struct dd_paygen_msg m = {
		.event_ns = 0, .amount = 0, .currency = { 'X', 'Y', 'Z' }, .channel = 'C', .kind = 'B',
		.lat_e6 = 95000000, .lon_e6 = INT32_MIN,
	};
	uint8_t got[DD_PAYGEN_MSG_LEN];
	static const uint8_t zero8[8];

	dd_paygen_encode(&m, got);
	assert_memory_equal(got + 2, zero8, 8);
	assert_memory_equal(got + 42, zero8, 8);
	assert_memory_equal(got + 50, "XYZ", 3);
	assert_int_equal(got[55], 'C');
	assert_int_equal(got[56], 'B');
	assert_memory_equal(got + 65, "\x05\xa9\x95\xc0\x80\x00\x00\x00", 8); /* 95000000, INT32_MIN */
}

/* ---- the CSV reader --------------------------------------------------------------------------- */

#define HDR DD_PAYGEN_CSV_HEADER "\n"
#define ROW "7,1773081000000000001,10000000001,0,50000000001,12345,INR,5411,upi,p2m,99,19076000,72877700\n"

struct csv {
	FILE *f;
	struct dd_paygen_csv r;
};

static void csv_open(struct csv *c, const char *text)
{
	c->f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	assert_non_null(c->f);
	dd_paygen_csv_init(&c->r, c->f, "t.csv");
}

/* Read all of `text`; returns the first non-1 result; *rows counts the payments read before it. */
static int csv_all(const char *text, struct csv *c, struct dd_paygen_msg *last, int *rows)
{
	int ret;

	*rows = 0;
	csv_open(c, text);
	while ((ret = dd_paygen_csv_next(&c->r, last)) == 1)
		(*rows)++;
	fclose(c->f);
	return ret;
}

static void test_csv_reads_every_field(void **state)
{
	(void)state;
	struct csv c;
	struct dd_paygen_msg m;
	int rows;

	assert_int_equal(csv_all(HDR ROW, &c, &m, &rows), 0);
	assert_int_equal(rows, 1);
	assert_true(m.txn_id == 7);
	assert_true(m.event_ns == 1773081000000000001ull);
	assert_true(m.payer == 10000000001ull);
	assert_true(m.payee == 0);
	assert_true(m.merchant == 50000000001ull);
	assert_true(m.amount == 12345);
	assert_memory_equal(m.currency, "INR", 3);
	assert_int_equal(m.mcc, 5411);
	assert_int_equal(m.channel, 'U');
	assert_int_equal(m.kind, 'M');
	assert_true(m.device == 99);
	assert_int_equal(m.lat_e6, 19076000);
	assert_int_equal(m.lon_e6, 72877700);
}

static void test_csv_takes_extremes_and_invalid_but_encodable_values(void **state)
{
	(void)state;
	struct csv c;
	struct dd_paygen_msg m;
	int rows;

	/* BOM, CRLF, the largest and smallest of every width, amount <= 0, "xyz", time 0. */
	assert_int_equal(csv_all("\xef\xbb\xbf" DD_PAYGEN_CSV_HEADER "\r\n"
				 "18446744073709551615,0,18446744073709551615,1,0,-9223372036854775808,xyz,"
				 "65535,wallet,bill,18446744073709551615,-2147483648,2147483647\r\n"
				 "1,1,2,3,4,0,XYZ,0,card,p2p,5,95000000,-181000000",
				 &c, &m, &rows), 0);
	assert_int_equal(rows, 2);
	assert_int_equal(m.amount, 0);
	assert_memory_equal(m.currency, "XYZ", 3);
	assert_int_equal(m.channel, 'C');
	assert_int_equal(m.kind, 'P');
	assert_int_equal(m.lat_e6, 95000000);
	assert_int_equal(m.lon_e6, -181000000);

	csv_open(&c, HDR "18446744073709551615,0,18446744073709551615,1,0,-9223372036854775808,xyz,"
		     "65535,wallet,bill,18446744073709551615,-2147483648,2147483647\n");
	assert_int_equal(dd_paygen_csv_next(&c.r, &m), 1);
	assert_true(m.txn_id == UINT64_MAX);
	assert_true(m.event_ns == 0);
	assert_true(m.amount == INT64_MIN);
	assert_memory_equal(m.currency, "xyz", 3);
	assert_int_equal(m.mcc, 65535);
	assert_int_equal(m.channel, 'W');
	assert_int_equal(m.kind, 'B');
	assert_int_equal(m.lat_e6, INT32_MIN);
	assert_int_equal(m.lon_e6, INT32_MAX);
	fclose(c.f);
}

static void test_csv_header_only_is_no_payments(void **state)
{
	(void)state;
	struct csv c;
	struct dd_paygen_msg m;
	int rows;

	assert_int_equal(csv_all(DD_PAYGEN_CSV_HEADER, &c, &m, &rows), 0);
	assert_int_equal(rows, 0);
}

/* `text` fails at its `rows`-th row with -EINVAL and a message containing every one of `needles`. */
static void expect_error(const char *text, int rows_before, const char *n1, const char *n2)
{
	struct csv c;
	struct dd_paygen_msg m;
	int rows;

	assert_int_equal(csv_all(text, &c, &m, &rows), -EINVAL);
	assert_int_equal(rows, rows_before);
	if (strstr(c.r.err, n1) == NULL || (n2 && strstr(c.r.err, n2) == NULL))
		fail_msg("error '%s' lacks '%s' / '%s'", c.r.err, n1, n2 ? n2 : "");
}

static void test_csv_refuses_a_bad_or_missing_header(void **state)
{
	(void)state;
	expect_error("", 0, "t.csv: empty file", "expected the header");
	expect_error("txn_id,time_ns,payer_id,payee,merchant,amount_minor,currency,mcc,channel,type,device,"
		     "lat_e6,lon_e6\n" ROW, 0, "t.csv:1: header column 3 is 'payer_id', expected 'payer'", NULL);
	expect_error(ROW ROW, 0, "t.csv:1: header column 1 is '7', expected 'txn_id'", "header missing");
	expect_error("txn_id,time_ns,payer,payee,merchant,amount_minor,currency,mcc,channel,type,device,"
		     "lat_e6\n", 0, "t.csv:1: header has 12 columns, expected 13", NULL);
	expect_error(DD_PAYGEN_CSV_HEADER ",extra\n", 0, "t.csv:1: header has 14 columns", NULL);
}

static void test_csv_refuses_a_bad_channel_or_type_naming_line_and_column(void **state)
{
	(void)state;
	expect_error(HDR ROW "8,1,2,0,5,100,INR,5411,UPI,p2m,9,0,0\n", 1,
		     "t.csv:3: column 9 (channel): 'UPI' is not one of upi, card, wallet", NULL);
	expect_error(HDR "8,1,2,0,5,100,INR,5411,netbanking,p2m,9,0,0\n", 0,
		     "t.csv:2: column 9 (channel)", "'netbanking'");
	expect_error(HDR ROW ROW "8,1,2,0,5,100,INR,5411,upi,bill_payment,9,0,0\n", 2,
		     "t.csv:4: column 10 (type): 'bill_payment' is not one of p2p, p2m, bill", NULL);
}

static void test_csv_refuses_numbers_out_of_range_for_their_field(void **state)
{
	(void)state;
	expect_error(HDR "8,1,2,0,5,9223372036854775808,INR,5411,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 6 (amount_minor): '9223372036854775808' is out of range "
		     "-9223372036854775808..9223372036854775807", NULL);
	expect_error(HDR "8,1,2,0,5,-9223372036854775809,INR,5411,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 6 (amount_minor)", "out of range");
	expect_error(HDR "8,1,2,0,5,99999999999999999999999,INR,5411,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 6 (amount_minor)", "out of range");
	expect_error(HDR "18446744073709551616,1,2,0,5,1,INR,5411,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 1 (txn_id): '18446744073709551616' is out of range 0..18446744073709551615",
		     NULL);
	expect_error(HDR "8,1,2,0,5,1,INR,65536,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 8 (mcc): '65536' is out of range 0..65535", NULL);
	expect_error(HDR "8,1,2,0,5,1,INR,5411,upi,p2m,9,2147483648,0\n", 0,
		     "t.csv:2: column 12 (lat_e6): '2147483648' is out of range -2147483648..2147483647", NULL);
	expect_error(HDR "8,1,2,0,5,1,INR,5411,upi,p2m,9,0,-2147483649\n", 0,
		     "t.csv:2: column 13 (lon_e6)", "out of range");
}

static void test_csv_refuses_what_is_not_a_plain_integer(void **state)
{
	(void)state;
	expect_error(HDR "8,1,12a,0,5,1,INR,5411,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 3 (payer): '12a' is not an unsigned decimal integer", NULL);
	expect_error(HDR "8,1,-2,0,5,1,INR,5411,upi,p2m,9,0,0\n", 0, "column 3 (payer): '-2'", NULL);
	expect_error(HDR "8,+1,2,0,5,1,INR,5411,upi,p2m,9,0,0\n", 0, "column 2 (time_ns): '+1'", NULL);
	expect_error(HDR "8,1,2,0,5, 1,INR,5411,upi,p2m,9,0,0\n", 0,
		     "column 6 (amount_minor): ' 1' is not a decimal integer", NULL);
	expect_error(HDR "8,1,2,0,5,1.50,INR,5411,upi,p2m,9,0,0\n", 0, "column 6 (amount_minor): '1.50'", NULL);
	expect_error(HDR "8,1,2,0,5,-,INR,5411,upi,p2m,9,0,0\n", 0, "column 6 (amount_minor): '-'", NULL);
	expect_error(HDR "8,1,2,,5,1,INR,5411,upi,p2m,9,0,0\n", 0, "t.csv:2: column 4 (payee): '' is empty", NULL);
	expect_error(HDR "8,1,2,0,5,1,INR,5411,upi,p2m,0x9,0,0\n", 0, "column 11 (device): '0x9'", NULL);
}

static void test_csv_refuses_a_currency_that_is_not_three_letters(void **state)
{
	(void)state;
	expect_error(HDR "8,1,2,0,5,1,IN,5411,upi,p2m,9,0,0\n", 0,
		     "t.csv:2: column 7 (currency): 'IN' is not three ASCII letters", NULL);
	expect_error(HDR "8,1,2,0,5,1,INRS,5411,upi,p2m,9,0,0\n", 0, "column 7 (currency): 'INRS'", NULL);
	expect_error(HDR "8,1,2,0,5,1,I1R,5411,upi,p2m,9,0,0\n", 0, "column 7 (currency): 'I1R'", NULL);
}

static void test_csv_refuses_a_wrong_column_count_or_empty_line(void **state)
{
	(void)state;
	expect_error(HDR ROW "8,1,2,0,5,1,INR,5411,upi,p2m,9,0\n", 1, "t.csv:3: 12 columns, expected 13", NULL);
	expect_error(HDR "8,1,2,0,5,1,INR,5411,upi,p2m,9,0,0,0\n", 0, "t.csv:2: 14 columns, expected 13", NULL);
	expect_error(HDR ROW "\n" ROW, 1, "t.csv:3: empty line", NULL);
	expect_error(HDR "8,1,2,0,5,1,INR,5411,upi,p2m,9,0,0,\n", 0, "t.csv:2: 14 columns", NULL);
}

static void test_csv_refuses_an_overlong_line_and_a_nul_byte(void **state)
{
	(void)state;
	char text[2048];
	int n = snprintf(text, sizeof(text), HDR "8,1,2,0,5,1,INR,5411,upi,p2m,9,0,");

	memset(text + n, '1', 600);
	strcpy(text + n + 600, "\n");
	expect_error(text, 0, "t.csv:2: line longer than 511 characters", NULL);

	struct csv c;
	struct dd_paygen_msg m;
	static const char nul[] = HDR "8,1,2,0,5\0,1,INR,5411,upi,p2m,9,0,0\n";

	c.f = fmemopen((void *)(uintptr_t)nul, sizeof(nul) - 1, "r");
	assert_non_null(c.f);
	dd_paygen_csv_init(&c.r, c.f, "t.csv");
	assert_int_equal(dd_paygen_csv_next(&c.r, &m), -EINVAL);
	assert_non_null(strstr(c.r.err, "t.csv:2: a NUL byte at character 10"));
	fclose(c.f);
}

/* ---- the CSV writer --------------------------------------------------------------------------- */

static void test_csv_writer_rows_read_back_into_the_same_message(void **state)
{
	(void)state;
	const struct dd_paygen_msg in[3] = {
		{ .event_ns = UINT64_MAX, .txn_id = 1, .payer = UINT64_MAX, .payee = 5, .merchant = 0,
		  .amount = INT64_MIN, .currency = { 'U', 'S', 'D' }, .mcc = 65535, .channel = 'W', .kind = 'P',
		  .device = UINT64_MAX, .lat_e6 = INT32_MIN, .lon_e6 = INT32_MAX },
		{ .event_ns = 0, .txn_id = UINT64_MAX, .amount = INT64_MAX, .currency = { 'i', 'n', 'r' },
		  .channel = 'C', .kind = 'B' },
		{ .event_ns = 1773081000000000000ull, .txn_id = 3, .payer = 4, .merchant = 6, .amount = -1,
		  .currency = { 'I', 'N', 'R' }, .mcc = 5411, .channel = 'U', .kind = 'M', .device = 7,
		  .lat_e6 = -1, .lon_e6 = 1 },
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct dd_paygen_csv r;
	struct dd_paygen_msg out;
	uint8_t a[DD_PAYGEN_MSG_LEN], b[DD_PAYGEN_MSG_LEN];

	assert_non_null(f);
	fputs(HDR, f);
	for (int i = 0; i < 3; i++)
		assert_int_equal(dd_paygen_csv_write(f, &in[i]), 0);
	assert_int_equal(fclose(f), 0);
	f = fmemopen(buf, len, "r");
	assert_non_null(f);
	dd_paygen_csv_init(&r, f, "w.csv");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dd_paygen_csv_next(&r, &out), 1);
		dd_paygen_encode(&in[i], a);
		dd_paygen_encode(&out, b);
		assert_memory_equal(a, b, DD_PAYGEN_MSG_LEN);
	}
	assert_int_equal(dd_paygen_csv_next(&r, &out), 0);
	fclose(f);
	free(buf);
}

static void test_csv_writer_refuses_bytes_without_a_spelling(void **state)
{
	(void)state;
	struct dd_paygen_msg m = { .currency = { 'I', 'N', 'R' }, .channel = 'X', .kind = 'P' };
	FILE *f = fopen("/dev/null", "w");

	assert_non_null(f);
	assert_int_equal(dd_paygen_csv_write(f, &m), -EINVAL);
	m.channel = 'U';
	m.kind = 'Q';
	assert_int_equal(dd_paygen_csv_write(f, &m), -EINVAL);
	m.kind = 'P';
	m.currency[1] = '1';
	assert_int_equal(dd_paygen_csv_write(f, &m), -EINVAL);
	fclose(f);
}

/* ---- the synthetic stream --------------------------------------------------------------------- */

struct gen {
	struct dd_paygen *g;
	void *mem;
};

static void gen_open(struct gen *g, const struct dd_paygen_params *p)
{
	size_t n = dd_paygen_memsize(p);

	assert_true(n > 0);
	g->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(g->mem);
	assert_int_equal(dd_paygen_init(&g->g, g->mem, n, p), 0);
}

static const struct dd_paygen_params base = {
	.seed = 7, .count = 20000, .payers = 3000, .days = 2, .instances = 2,
	.start_ns = DD_PAYGEN_DEFAULT_START_NS,
};

static void test_same_seed_gives_identical_payments_and_labels(void **state)
{
	(void)state;
	struct gen a, b;
	struct dd_paygen_msg ma, mb;
	enum dd_paygen_scenario la, lb;
	uint8_t ea[DD_PAYGEN_MSG_LEN], eb[DD_PAYGEN_MSG_LEN];
	uint64_t n = 0;

	gen_open(&a, &base);
	gen_open(&b, &base);
	while (dd_paygen_next(a.g, &ma, &la) == 1) {
		assert_int_equal(dd_paygen_next(b.g, &mb, &lb), 1);
		dd_paygen_encode(&ma, ea);
		dd_paygen_encode(&mb, eb);
		assert_memory_equal(ea, eb, DD_PAYGEN_MSG_LEN);
		assert_int_equal(la, lb);
		n++;
	}
	assert_int_equal(dd_paygen_next(b.g, &mb, &lb), 0);
	assert_true(n == base.count);
	free(a.mem);
	free(b.mem);
}

static void test_different_seed_gives_different_payments(void **state)
{
	(void)state;
	struct dd_paygen_params p = base;
	struct gen a, b;
	struct dd_paygen_msg ma, mb;
	enum dd_paygen_scenario la, lb;
	uint64_t same = 0, n = 0;

	p.seed = 8;
	gen_open(&a, &base);
	gen_open(&b, &p);
	while (dd_paygen_next(a.g, &ma, &la) == 1 && dd_paygen_next(b.g, &mb, &lb) == 1) {
		same += ma.event_ns == mb.event_ns && ma.payer == mb.payer && ma.amount == mb.amount;
		n++;
	}
	assert_true(n == base.count);
	assert_true(same < n / 100);
	free(a.mem);
	free(b.mem);
}

static void test_stream_is_time_ordered_with_sequential_ids_and_exact_label_counts(void **state)
{
	(void)state;
	/* One instance: 24 + 4 + 10 + 6 + 3 + 4 + 4 + 3 + 5 + 2 + 2 + 1 + 2 + 2 payments. */
	static const unsigned per_instance[DD_PAYGEN_SCENARIOS] = {
		0, 24, 4, 10, 6, 3, 4, 4, 3, 5, 2, 2, 1, 2, 2,
	};
	struct gen a;
	struct dd_paygen_msg m;
	enum dd_paygen_scenario l;
	uint64_t n = 0, prev = 0, labels[DD_PAYGEN_SCENARIOS] = { 0 };
	uint64_t end = base.start_ns + (uint64_t)base.days * 86400 * 1000000000ull;

	gen_open(&a, &base);
	while (dd_paygen_next(a.g, &m, &l) == 1) {
		assert_true(m.txn_id == ++n);
		assert_true(m.event_ns >= prev);
		assert_true(m.event_ns >= base.start_ns && m.event_ns < end);
		assert_memory_equal(m.currency, "INR", 3);
		assert_true(m.amount > 0);
		assert_true((m.merchant == 0) == (m.kind == DD_PAYGEN_KIND_P2P));
		assert_true((m.payee != 0) == (m.kind == DD_PAYGEN_KIND_P2P));
		assert_true((m.mcc != 0) == (m.merchant != 0));
		prev = m.event_ns;
		labels[l]++;
	}
	assert_true(n == base.count);
	assert_true(dd_paygen_scenario_payments(1) == 72);
	for (int s = 1; s < DD_PAYGEN_SCENARIOS; s++) {
		assert_true(labels[s] == per_instance[s] * base.instances);
		assert_true(dd_paygen_label_count(a.g, (enum dd_paygen_scenario)s) == labels[s]);
	}
	assert_true(labels[0] == base.count - 72 * base.instances);
	assert_true(dd_paygen_crowded(a.g) == 0);
	assert_string_equal(dd_paygen_scenario_name(DD_PAYGEN_NORMAL), "normal");
	assert_string_equal(dd_paygen_scenario_name(DD_PAYGEN_LATE_NIGHT_LARGE), "late_night_large");
	assert_null(dd_paygen_scenario_name(DD_PAYGEN_SCENARIOS));
	free(a.mem);
}

static void test_risky_merchants_are_in_the_table_above_the_rule_thresholds(void **state)
{
	(void)state;
	struct gen a;
	struct dd_paygen_msg m;
	enum dd_paygen_scenario l;
	unsigned high = 0, medium = 0;

	gen_open(&a, &base);
	while (dd_paygen_next(a.g, &m, &l) == 1) {
		unsigned risk = 1000;

		for (uint32_t i = 0; i < dd_paygen_merchants(a.g) && m.merchant; i++) {
			uint64_t id;
			unsigned r;

			dd_paygen_merchant(a.g, i, &id, &r);
			if (id == m.merchant)
				risk = r;
		}
		if (m.merchant == 0)
			continue;
		assert_int_not_equal(risk, 1000); /* every merchant paid is in the table */
		if (l == DD_PAYGEN_MERCHANT_HIGH_RISK) {
			assert_true(risk > 70 && risk <= 100);
			high++;
		} else if (l == DD_PAYGEN_MERCHANT_MEDIUM_RISK) {
			assert_true(risk > 50 && risk <= 70);
			medium++;
		} else {
			assert_true(risk <= 50);
		}
	}
	assert_int_equal(high, 2 * base.instances);
	assert_int_equal(medium, 2 * base.instances);
	free(a.mem);
}

static void test_rejects_out_of_range_parameters(void **state)
{
	(void)state;
	struct dd_paygen_params p = base;
	char why[256];

	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), 0);
	p.count = 100;
	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "--count 100: the scenarios alone take 144 payments"));
	assert_true(dd_paygen_memsize(&p) == 0);
	p.instances = 0;
	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), 0);
	p = base;
	p.payers = 10;
	p.count = 1000;
	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "--payers 10: too few for 856 ordinary payments in 2 days"));
	assert_non_null(strstr(why, "at least --payers 54"));
	p = base;
	p.payers = 0;
	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), -EINVAL);
	p = base;
	p.days = 0;
	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), -EINVAL);
	p = base;
	p.start_ns = 0;
	assert_int_equal(dd_paygen_check(&p, why, sizeof(why)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_the_documented_layout_byte_by_byte),
		cmocka_unit_test(test_encode_keeps_values_dadar_judges_invalid),
		cmocka_unit_test(test_csv_reads_every_field),
		cmocka_unit_test(test_csv_takes_extremes_and_invalid_but_encodable_values),
		cmocka_unit_test(test_csv_header_only_is_no_payments),
		cmocka_unit_test(test_csv_refuses_a_bad_or_missing_header),
		cmocka_unit_test(test_csv_refuses_a_bad_channel_or_type_naming_line_and_column),
		cmocka_unit_test(test_csv_refuses_numbers_out_of_range_for_their_field),
		cmocka_unit_test(test_csv_refuses_what_is_not_a_plain_integer),
		cmocka_unit_test(test_csv_refuses_a_currency_that_is_not_three_letters),
		cmocka_unit_test(test_csv_refuses_a_wrong_column_count_or_empty_line),
		cmocka_unit_test(test_csv_refuses_an_overlong_line_and_a_nul_byte),
		cmocka_unit_test(test_csv_writer_rows_read_back_into_the_same_message),
		cmocka_unit_test(test_csv_writer_refuses_bytes_without_a_spelling),
		cmocka_unit_test(test_same_seed_gives_identical_payments_and_labels),
		cmocka_unit_test(test_different_seed_gives_different_payments),
		cmocka_unit_test(test_stream_is_time_ordered_with_sequential_ids_and_exact_label_counts),
		cmocka_unit_test(test_risky_merchants_are_in_the_table_above_the_rule_thresholds),
		cmocka_unit_test(test_rejects_out_of_range_parameters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
