/* SPDX-License-Identifier: MIT */
/*
 * tools/sendplan.c: dadar-gen send's schedule (steady, with microbursts, refused parameters) and its
 * frames (found in a capture's bytes, numbers moved on, the UDP checksum cleared, the send stamp
 * after the IP packet, padding). Frames are written here byte by byte; every expected time is
 * computed by hand in the comments.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tools/sendplan.h"

static void test_a_steady_rate_spaces_datagrams_by_their_messages(void **state)
{
	(void)state;
	struct dd_sendplan s;
	struct dd_sendplan_params p = { .rate = 1e6, .burst_mult = 1 };
	assert_int_equal(dd_sendplan_init(&s, &p), 0);
	/* 1 M messages/s: a message every 1000 ns */
	assert_int_equal(dd_sendplan_next(&s, 10), 0);
	assert_int_equal(dd_sendplan_next(&s, 3), 10000);
	assert_int_equal(dd_sendplan_next(&s, 1), 13000);
	assert_int_equal(dd_sendplan_next(&s, 0), 14000); /* nothing in it: no time */
	assert_int_equal(dd_sendplan_next(&s, 7), 14000);
	assert_int_equal(dd_sendplan_next(&s, 1), 21000);
	assert_int_equal(s.messages, 22);
	/* 3 M/s: 333.33 ns a message, rounded down when returned */
	p.rate = 3e6;
	assert_int_equal(dd_sendplan_init(&s, &p), 0);
	assert_int_equal(dd_sendplan_next(&s, 1), 0);
	assert_int_equal(dd_sendplan_next(&s, 1), 333);
	assert_int_equal(dd_sendplan_next(&s, 1), 666);
	assert_int_equal(dd_sendplan_next(&s, 1), 1000);
}

static void test_a_million_datagrams_keep_the_rate_exactly(void **state)
{
	(void)state;
	struct dd_sendplan s;
	struct dd_sendplan_params p = { .rate = 5e6, .burst_mult = 1 };
	assert_int_equal(dd_sendplan_init(&s, &p), 0);
	uint64_t t = 0;
	for (unsigned i = 0; i < 1000000; i++)
		t = dd_sendplan_next(&s, 25);
	/* the last one goes after 999,999 × 25 messages at 200 ns: 4,999,995,000 ns */
	assert_true(t >= 4999994999u && t <= 4999995000u);
}

static void test_bursts_multiply_the_rate_for_their_part_of_each_period(void **state)
{
	(void)state;
	struct dd_sendplan s;
	/* 1 M/s, ×10 for the first 100 µs of every 1 ms: a datagram of 10 messages takes 1 µs in a
	 * burst, 10 µs outside */
	struct dd_sendplan_params p = { .rate = 1e6, .burst_mult = 10, .burst_on_ns = 100000,
					.burst_period_ns = 1000000 };
	assert_int_equal(dd_sendplan_init(&s, &p), 0);
	uint64_t t = 0;
	for (unsigned i = 0; i < 100; i++) {
		t = dd_sendplan_next(&s, 10);
		assert_int_equal(t, 1000u * i);
	}
	/* 100 datagrams (1000 messages) filled the burst: now 10 µs each until the next period */
	assert_int_equal(dd_sendplan_next(&s, 10), 100000);
	assert_int_equal(dd_sendplan_next(&s, 10), 110000);
	/* 90 datagrams from 100 µs reach 1 ms exactly: 900 messages at 1 M/s */
	for (unsigned i = 2; i < 90; i++)
		assert_int_equal(dd_sendplan_next(&s, 10), 100000 + 10000u * i);
	assert_int_equal(dd_sendplan_next(&s, 10), 1000000);
	assert_int_equal(dd_sendplan_next(&s, 10), 1001000); /* the next burst */
	/* one period offered 1000 + 900 messages */
	assert_int_equal(s.messages, 1000 + 900 + 20);
}

static void test_refused_parameters(void **state)
{
	(void)state;
	struct dd_sendplan s;
	const struct dd_sendplan_params bad[] = {
		{ .rate = 0, .burst_mult = 1 },
		{ .rate = -5, .burst_mult = 1 },
		{ .rate = 1e6, .burst_mult = 0.5 },
		{ .rate = 1e6, .burst_mult = 2, .burst_on_ns = 0, .burst_period_ns = 1000 },
		{ .rate = 1e6, .burst_mult = 2, .burst_on_ns = 1000, .burst_period_ns = 1000 },
		{ .rate = 1e6, .burst_mult = 2, .burst_on_ns = 2000, .burst_period_ns = 1000 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dd_sendplan_init(&s, &bad[i]), -EINVAL);
	double nan = __builtin_nan("");
	struct dd_sendplan_params p = { .rate = nan, .burst_mult = 1 };
	assert_int_equal(dd_sendplan_init(&s, &p), -EINVAL);
}

/* ---- frames ------------------------------------------------------------------------------------ */

/* Ethernet + IPv4 (20) + UDP + MoldUDP64 with `count` messages of `mlen` bytes; `pad` zero bytes
 * after the IP packet (Ethernet padding). Returns the frame length. */
static size_t frame(uint8_t *b, uint64_t seq, uint16_t count, uint16_t mlen, size_t pad)
{
	size_t mold = 20 + (count == 0xFFFF ? 0 : (size_t)count * (2u + mlen));
	size_t udp = 8 + mold, ip = 20 + udp;
	memset(b, 0, 14 + ip + pad);
	memset(b, 0x01, 6);
	memset(b + 6, 0x02, 6);
	b[12] = 0x08;
	b[13] = 0x00;
	uint8_t *h = b + 14;
	h[0] = 0x45;
	h[2] = (uint8_t)(ip >> 8);
	h[3] = (uint8_t)ip;
	h[8] = 64;
	h[9] = 17;
	h[12] = 192, h[13] = 0, h[14] = 2, h[15] = 1;
	h[16] = 233, h[17] = 54, h[18] = 12, h[19] = 111;
	uint8_t *u = h + 20;
	u[0] = 0x68, u[1] = 0x2d; /* 26669 */
	u[2] = 0x68, u[3] = 0x2d;
	u[4] = (uint8_t)(udp >> 8);
	u[5] = (uint8_t)udp;
	u[6] = 0xAB, u[7] = 0xCD; /* a checksum */
	uint8_t *m = u + 8;
	memcpy(m, "SESSION001", 10);
	for (unsigned i = 0; i < 8; i++)
		m[10 + i] = (uint8_t)(seq >> (56 - 8 * i));
	m[18] = (uint8_t)(count >> 8);
	m[19] = (uint8_t)count;
	uint8_t *p = m + 20;
	for (unsigned i = 0; count != 0xFFFF && i < count; i++) {
		p[0] = (uint8_t)(mlen >> 8);
		p[1] = (uint8_t)mlen;
		memset(p + 2, 'a' + (int)i, mlen);
		p += 2 + mlen;
	}
	return 14 + ip + pad;
}

static void test_a_data_frame_is_found_and_rebuilt_with_its_numbers_moved_and_a_stamp(void **state)
{
	(void)state;
	uint8_t src[1600], dst[1600];
	size_t len = frame(src, 1000, 3, 40, 0); /* 14 + 20 + 8 + 20 + 3 × 42 = 188 */
	assert_int_equal(len, 188);
	struct dd_sendframe f;
	assert_int_equal(dd_sendframe_parse(src, len, &f), DD_SENDFRAME_DATA);
	assert_int_equal(f.ip_end, 188);
	assert_int_equal(f.udp_off, 34);
	assert_int_equal(f.mold_off, 42);
	assert_int_equal(f.count, 3);
	assert_int_equal(f.seq, 1000);
	assert_memory_equal(f.session, "SESSION001", 10);
	/* as captured: the same bytes, the checksum kept */
	assert_int_equal(dd_sendframe_build(dst, sizeof(dst), src, &f, 0, false), 188);
	assert_memory_equal(dst, src, 188);
	/* numbers moved on by 5000 (1000 -> 6000 = 0x1770), checksum 0, a stamp after the IP packet */
	assert_int_equal(dd_sendframe_len(&f, true), 204);
	memset(dst, 0xEE, sizeof(dst));
	assert_int_equal(dd_sendframe_build(dst, sizeof(dst), src, &f, 5000, true), 204);
	static const uint8_t seq6000[8] = { 0, 0, 0, 0, 0, 0, 0x17, 0x70 };
	assert_memory_equal(dst + 52, seq6000, 8);
	assert_int_equal(dst[40], 0);
	assert_int_equal(dst[41], 0);
	assert_memory_equal(dst, src, 40);                     /* headers up to the checksum */
	assert_memory_equal(dst + 60, src + 60, 188 - 60);     /* count and messages */
	assert_memory_equal(dst + 188, "DDTS\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	dd_sendframe_stamp(dst, &f, 0x0102030405060708ull);
	static const uint8_t le[8] = { 8, 7, 6, 5, 4, 3, 2, 1 };
	assert_memory_equal(dst + 196, le, 8);
	assert_memory_equal(dst + 188, "DDTS\0\0\0\0", 8);
	/* too small a buffer */
	assert_int_equal(dd_sendframe_build(dst, 203, src, &f, 5000, true), 0);
}

static void test_the_stamp_goes_over_ethernet_padding_and_short_frames_are_padded(void **state)
{
	(void)state;
	uint8_t src[128], dst[128];
	size_t len = frame(src, 7, 1, 0, 4); /* 14 + 20 + 8 + 22 = 64, then 4 bytes of padding */
	assert_int_equal(len, 68);
	memset(src + 64, 0x55, 4);            /* padding a capture might hold */
	struct dd_sendframe f;
	assert_int_equal(dd_sendframe_parse(src, len, &f), DD_SENDFRAME_DATA);
	assert_int_equal(f.ip_end, 64);
	assert_int_equal(dd_sendframe_build(dst, sizeof(dst), src, &f, 0, true), 80);
	assert_memory_equal(dst + 64, "DDTS", 4);
	/* without a stamp the padding goes (zeroed) down to the minimum */
	assert_int_equal(dd_sendframe_build(dst, sizeof(dst), src, &f, 0, false), 64);
	/* a frame shorter than 60 without its padding is padded with zeros */
	uint8_t tiny[128];
	len = frame(tiny, 7, 0, 0, 0); /* a heartbeat: 14 + 48 = 62 */
	assert_int_equal(dd_sendframe_parse(tiny, len, &f), DD_SENDFRAME_CONTROL);
	len = frame(tiny, 7, 0xFFFF, 0, 0);
	assert_int_equal(dd_sendframe_parse(tiny, len, &f), DD_SENDFRAME_CONTROL);
}

static void test_frames_that_are_not_moldudp64_data_are_other(void **state)
{
	(void)state;
	uint8_t src[256];
	struct dd_sendframe f;
	size_t len = frame(src, 1, 2, 10, 0);
	assert_int_equal(dd_sendframe_parse(src, 13, &f), DD_SENDFRAME_OTHER);       /* cut short */
	src[23] = 6;                                                                /* TCP */
	assert_int_equal(dd_sendframe_parse(src, len, &f), DD_SENDFRAME_OTHER);
	len = frame(src, 1, 3, 10, 0);
	src[61] = 2;                                                                /* count 3 -> 2 */
	assert_int_equal(dd_sendframe_parse(src, len, &f), DD_SENDFRAME_OTHER);     /* trailing bytes */
	len = frame(src, 0, 1, 10, 0);                                              /* number 0 */
	assert_int_equal(dd_sendframe_parse(src, len, &f), DD_SENDFRAME_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_steady_rate_spaces_datagrams_by_their_messages),
		cmocka_unit_test(test_a_million_datagrams_keep_the_rate_exactly),
		cmocka_unit_test(test_bursts_multiply_the_rate_for_their_part_of_each_period),
		cmocka_unit_test(test_refused_parameters),
		cmocka_unit_test(test_a_data_frame_is_found_and_rebuilt_with_its_numbers_moved_and_a_stamp),
		cmocka_unit_test(test_the_stamp_goes_over_ethernet_padding_and_short_frames_are_padded),
		cmocka_unit_test(test_frames_that_are_not_moldudp64_data_are_other),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
