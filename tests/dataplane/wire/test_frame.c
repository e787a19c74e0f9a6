/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/wire/be.h"
#include "dataplane/wire/frame.h"

/* A frame built field by field from RFC 791 / 768 and IEEE 802.1Q, independent of the parser. */
struct frame {
	uint8_t b[256];
	size_t len;
	size_t ip;  /* offset of the IPv4 header */
	size_t udp; /* offset of the UDP header */
};

static uint16_t ip_checksum(const uint8_t *h, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void build(struct frame *f, unsigned tags, unsigned ihl_words, const char *payload)
{
	memset(f, 0, sizeof(*f));
	uint8_t *p = f->b;
	memcpy(p, "\x01\x00\x5e\x36\x0c\x6f\x02\x00\x00\x00\x00\x01", 12);
	size_t off = 12;
	for (unsigned t = 0; t < tags; t++) {
		dd_st_be16(p + off, t == 0 && tags == 2 ? 0x88A8 : 0x8100);
		dd_st_be16(p + off + 2, (uint16_t)(0x2000 | (100 + t))); /* PCP 1, VID 100 + t */
		off += 4;
	}
	dd_st_be16(p + off, 0x0800);
	off += 2;
	f->ip = off;
	size_t plen = strlen(payload);
	size_t ihl = ihl_words * 4;
	uint8_t *ip = p + off;
	ip[0] = (uint8_t)(0x40 | ihl_words);
	dd_st_be16(ip + 2, (uint16_t)(ihl + 8 + plen));
	dd_st_be16(ip + 4, 0x1234);
	dd_st_be16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\x00\x00\x01", 4);
	memcpy(ip + 16, "\xe9\x36\x0c\x6f", 4); /* 233.54.12.111 */
	dd_st_be16(ip + 10, ip_checksum(ip, ihl));
	f->udp = off + ihl;
	uint8_t *udp = p + f->udp;
	dd_st_be16(udp, 40000);
	dd_st_be16(udp + 2, 26477);
	dd_st_be16(udp + 4, (uint16_t)(8 + plen));
	memcpy(udp + 8, payload, plen);
	f->len = f->udp + 8 + plen;
}

static void fix_ip_checksum(struct frame *f)
{
	uint8_t *ip = f->b + f->ip;
	dd_st_be16(ip + 10, 0);
	dd_st_be16(ip + 10, ip_checksum(ip, (size_t)(ip[0] & 0xf) * 4));
}

static void set_udp_checksum(struct frame *f)
{
	uint8_t *ip = f->b + f->ip, *udp = f->b + f->udp;
	size_t ulen = (size_t)(udp[4] << 8 | udp[5]);
	uint8_t pseudo[256];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 17;
	dd_st_be16(pseudo + 10, (uint16_t)ulen);
	dd_st_be16(udp + 6, 0);
	memcpy(pseudo + 12, udp, ulen);
	size_t n = 12 + ulen;
	if (n & 1)
		pseudo[n++] = 0;
	uint16_t c = ip_checksum(pseudo, n);
	dd_st_be16(udp + 6, c == 0 ? 0xffff : c);
}

static enum dd_frame_verdict parse(const struct frame *f, unsigned flags, struct dd_udp_view *v)
{
	return dd_frame_udp(f->b, f->len, flags, v);
}

static void test_untagged_udp_is_parsed(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "hello mold");
	assert_int_equal(parse(&f, DD_FRAME_CHECK_IP_CSUM, &v), DD_FRAME_UDP);
	assert_int_equal(v.len, 10);
	assert_memory_equal(v.payload, "hello mold", 10);
	assert_ptr_equal(v.payload, f.b + 42);
	assert_int_equal(v.src_ip, 0x0a000001);
	assert_int_equal(v.dst_ip, 0xe9360c6f);
	assert_int_equal(v.src_port, 40000);
	assert_int_equal(v.dst_port, 26477);
	assert_int_equal(v.vlan, 0);
}

static void test_vlan_tag_is_skipped_and_reported(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 1, 5, "x");
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
	assert_int_equal(v.vlan, 100);
	assert_ptr_equal(v.payload, f.b + 46);
}

static void test_qinq_reports_outer_vlan(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 2, 5, "xy");
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
	assert_int_equal(v.vlan, 100);
	assert_int_equal(v.len, 2);
}

static void test_three_vlan_tags_are_refused(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 2, 5, "xy");
	/* turn the IPv4 ethertype after the second tag into a third tag */
	dd_st_be16(f.b + f.ip - 2, 0x8100);
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_VLAN_SHORT);
}

static void test_ip_options_move_the_udp_header(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 6, "opt");
	assert_int_equal(parse(&f, DD_FRAME_CHECK_IP_CSUM, &v), DD_FRAME_UDP);
	assert_ptr_equal(v.payload, f.b + 14 + 24 + 8);
	assert_int_equal(v.len, 3);
}

static void test_ethernet_padding_is_ignored(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "ab");
	f.len = 60; /* minimum Ethernet frame, padded with zeros */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
	assert_int_equal(v.len, 2);
}

static void test_truncations_are_reported_at_each_layer(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 1, 5, "payload");
	assert_int_equal(dd_frame_udp(f.b, 13, 0, &v), DD_FRAME_ETH_SHORT);
	assert_int_equal(dd_frame_udp(f.b, 17, 0, &v), DD_FRAME_VLAN_SHORT);
	assert_int_equal(dd_frame_udp(f.b, f.ip + 19, 0, &v), DD_FRAME_IP_SHORT);
	/* the IP total length says more bytes than the frame holds */
	assert_int_equal(dd_frame_udp(f.b, f.len - 1, 0, &v), DD_FRAME_IP_BAD_HEADER);
}

static void test_non_ipv4_ethertypes_are_not_ours(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "x");
	dd_st_be16(f.b + 12, 0x0806); /* ARP */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_NOT_IPV4);
	dd_st_be16(f.b + 12, 0x86DD); /* IPv6 */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_NOT_IPV4);
}

static void test_bad_ip_headers_are_refused(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "x");
	f.b[f.ip] = 0x65; /* version 6 */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_IP_BAD_HEADER);
	build(&f, 0, 5, "x");
	f.b[f.ip] = 0x44; /* IHL 4 */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_IP_BAD_HEADER);
	build(&f, 0, 5, "x");
	dd_st_be16(f.b + f.ip + 2, 19); /* total below the header */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_IP_BAD_HEADER);
}

static void test_ip_checksum_checked_only_when_asked(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "x");
	f.b[f.ip + 8] = 63; /* TTL changed, checksum not updated */
	assert_int_equal(parse(&f, DD_FRAME_CHECK_IP_CSUM, &v), DD_FRAME_IP_BAD_CHECKSUM);
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
	fix_ip_checksum(&f);
	assert_int_equal(parse(&f, DD_FRAME_CHECK_IP_CSUM, &v), DD_FRAME_UDP);
}

static void test_fragments_are_dropped(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "x");
	dd_st_be16(f.b + f.ip + 6, 0x2000); /* MF */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_IP_FRAGMENT);
	dd_st_be16(f.b + f.ip + 6, 0x0010); /* offset 16 * 8 */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_IP_FRAGMENT);
	dd_st_be16(f.b + f.ip + 6, 0x4000); /* DF only: a whole datagram */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
}

static void test_other_ip_protocols_are_not_ours(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "x");
	f.b[f.ip + 9] = 6; /* TCP */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_NOT_UDP);
}

static void test_udp_length_must_fit_the_ip_payload(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "abcd");
	dd_st_be16(f.b + f.udp + 4, 7);
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP_BAD_LENGTH);
	dd_st_be16(f.b + f.udp + 4, 13);
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP_BAD_LENGTH);
	dd_st_be16(f.b + f.udp + 4, 10); /* shorter than the IP payload: the UDP length wins */
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
	assert_int_equal(v.len, 2);
	/* an IP payload too short for a UDP header */
	build(&f, 0, 5, "");
	dd_st_be16(f.b + f.ip + 2, 27);
	fix_ip_checksum(&f);
	assert_int_equal(parse(&f, DD_FRAME_CHECK_IP_CSUM, &v), DD_FRAME_UDP_BAD_LENGTH);
}

static void test_udp_checksum_verified_when_asked(void **state)
{
	(void)state;
	struct frame f;
	struct dd_udp_view v;
	build(&f, 0, 5, "odd");
	assert_int_equal(parse(&f, DD_FRAME_CHECK_UDP_CSUM, &v), DD_FRAME_UDP); /* 0: not computed */
	set_udp_checksum(&f);
	assert_int_equal(parse(&f, DD_FRAME_CHECK_UDP_CSUM, &v), DD_FRAME_UDP);
	f.b[f.udp + 8] ^= 0x01;
	assert_int_equal(parse(&f, DD_FRAME_CHECK_UDP_CSUM, &v), DD_FRAME_UDP_BAD_CHECKSUM);
	assert_int_equal(parse(&f, 0, &v), DD_FRAME_UDP);
}

static void test_verdict_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(dd_frame_verdict_name(DD_FRAME_IP_FRAGMENT), "ip_fragment");
	assert_string_equal(dd_frame_verdict_name(DD_FRAME_UDP_BAD_CHECKSUM), "udp_bad_checksum");
	assert_string_equal(dd_frame_verdict_name(DD_FRAME__COUNT), "?");
	for (unsigned i = 0; i < DD_FRAME__COUNT; i++)
		assert_non_null(dd_frame_verdict_name((enum dd_frame_verdict)i));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untagged_udp_is_parsed),
		cmocka_unit_test(test_vlan_tag_is_skipped_and_reported),
		cmocka_unit_test(test_qinq_reports_outer_vlan),
		cmocka_unit_test(test_three_vlan_tags_are_refused),
		cmocka_unit_test(test_ip_options_move_the_udp_header),
		cmocka_unit_test(test_ethernet_padding_is_ignored),
		cmocka_unit_test(test_truncations_are_reported_at_each_layer),
		cmocka_unit_test(test_non_ipv4_ethertypes_are_not_ours),
		cmocka_unit_test(test_bad_ip_headers_are_refused),
		cmocka_unit_test(test_ip_checksum_checked_only_when_asked),
		cmocka_unit_test(test_fragments_are_dropped),
		cmocka_unit_test(test_other_ip_protocols_are_not_ours),
		cmocka_unit_test(test_udp_length_must_fit_the_ip_payload),
		cmocka_unit_test(test_udp_checksum_verified_when_asked),
		cmocka_unit_test(test_verdict_names_are_stable),
	};
	return cmocka_run_group_tests_name("dataplane/frame", tests, NULL, NULL);
}
