/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/wire/itch.c.
 *
 * The wire bytes of every message type are written out here by hand from the ITCH 5.0
 * specification, never produced by dd_itch_encode(). Every multi-byte field holds a value whose
 * bytes all differ, prices exceed 2^24, 64-bit fields exceed 2^32 and the timestamp uses all six
 * bytes, so a wrong offset, width or byte order changes a decoded value. One-byte codes differ from
 * their neighbours for the same reason; they are not always codes NASDAQ would send.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/wire/itch.h"
#include "ops/event.h"

#define ITCH_SAMPLE "tests/data/itch/ex20101224.TEST_ITCH_50.fixed"

/* Common header after the type byte: locate 0x0a1b, tracking 0x2c3d, timestamp 0x3e4f5a6b7c8d. */
#define LOCATE    0x0a1bu
#define TRACKING  0x2c3du
#define TIMESTAMP 0x3e4f5a6b7c8dull
#define HDR 0x0a, 0x1b, 0x2c, 0x3d, 0x3e, 0x4f, 0x5a, 0x6b, 0x7c, 0x8d

/* What a caller's event holds before a call: every byte 0xee, so untouched fields show. */
#define EV_FILL 0xee

static const uint8_t s_wire[] = {
	'S', HDR,
	'Q',                                            /* 11 event code: market open */
};
_Static_assert(sizeof(s_wire) == 12, "S is 12 bytes");

static const uint8_t r_wire[] = {
	'R', HDR,
	'M', 'S', 'F', 'T', ' ', ' ', ' ', ' ',         /* 11 stock */
	'Q',                                            /* 19 market category */
	'D',                                            /* 20 financial status */
	0x1a, 0x2b, 0x3c, 0x4d,                         /* 21 round lot size */
	'Y',                                            /* 25 round lots only */
	'C',                                            /* 26 issue classification */
	'A', 'I',                                       /* 27 issue subtype */
	'P',                                            /* 29 authenticity */
	'N',                                            /* 30 short sale threshold */
	'E',                                            /* 31 IPO flag */
	'1',                                            /* 32 LULD reference price tier */
	'G',                                            /* 33 ETP flag */
	0x5e, 0x6f, 0x70, 0x81,                         /* 34 ETP leverage factor */
	'V',                                            /* 38 inverse indicator */
};
_Static_assert(sizeof(r_wire) == 39, "R is 39 bytes");

static const uint8_t h_wire[] = {
	'H', HDR,
	'Z', 'V', 'Z', 'Z', 'T', ' ', ' ', ' ',         /* 11 stock */
	'H',                                            /* 19 trading state */
	'x',                                            /* 20 reserved */
	'L', 'U', 'D', 'P',                             /* 21 reason */
};
_Static_assert(sizeof(h_wire) == 25, "H is 25 bytes");

static const uint8_t y_wire[] = {
	'Y', HDR,
	'N', 'V', 'D', 'A', ' ', ' ', ' ', ' ',         /* 11 stock */
	'1',                                            /* 19 Reg SHO action */
};
_Static_assert(sizeof(y_wire) == 20, "Y is 20 bytes");

static const uint8_t l_wire[] = {
	'L', HDR,
	'G', 'S', 'C', 'O',                             /* 11 MPID */
	'I', 'B', 'M', ' ', ' ', ' ', ' ', ' ',         /* 15 stock */
	'Y',                                            /* 23 primary market maker */
	'P',                                            /* 24 market maker mode */
	'A',                                            /* 25 participant state */
};
_Static_assert(sizeof(l_wire) == 26, "L is 26 bytes");

static const uint8_t v_wire[] = {
	'V', HDR,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* 11 level 1 */
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, /* 19 level 2 */
	0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, /* 27 level 3 */
};
_Static_assert(sizeof(v_wire) == 35, "V is 35 bytes");

static const uint8_t w_wire[] = {
	'W', HDR,
	'2',                                            /* 11 breached level */
};
_Static_assert(sizeof(w_wire) == 12, "W is 12 bytes");

static const uint8_t k_wire[] = {
	'K', HDR,
	'R', 'I', 'V', 'N', ' ', ' ', ' ', ' ',         /* 11 stock */
	0x12, 0xa4, 0xc6, 0xe8,                         /* 19 IPO quotation release time */
	'A',                                            /* 23 release qualifier */
	0x0b, 0xeb, 0xc2, 0x01,                         /* 24 IPO price */
};
_Static_assert(sizeof(k_wire) == 28, "K is 28 bytes");

static const uint8_t j_wire[] = {
	'J', HDR,
	'S', 'N', 'A', 'P', ' ', ' ', ' ', ' ',         /* 11 stock */
	0x0a, 0x0b, 0x0c, 0x0d,                         /* 19 auction collar reference price */
	0x1a, 0x1b, 0x1c, 0x1d,                         /* 23 upper auction collar price */
	0x2a, 0x2b, 0x2c, 0x2d,                         /* 27 lower auction collar price */
	0x3a, 0x3b, 0x3c, 0x3d,                         /* 31 auction collar extension */
};
_Static_assert(sizeof(j_wire) == 35, "J is 35 bytes");

static const uint8_t oh_wire[] = {
	'h', HDR,
	'G', 'M', 'E', ' ', ' ', ' ', ' ', ' ',         /* 11 stock */
	'Q',                                            /* 19 market code */
	'H',                                            /* 20 operational halt action */
};
_Static_assert(sizeof(oh_wire) == 21, "h is 21 bytes");

static const uint8_t a_wire[] = {
	'A', HDR,
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* 11 order reference number */
	'B',                                            /* 19 buy/sell indicator */
	0x00, 0xbc, 0x61, 0x4e,                         /* 20 shares */
	'A', 'A', 'P', 'L', ' ', ' ', ' ', ' ',         /* 24 stock */
	0x0b, 0xad, 0xf0, 0x0d,                         /* 32 price */
};
_Static_assert(sizeof(a_wire) == 36, "A is 36 bytes");

static const uint8_t f_wire[] = {
	'F', HDR,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, /* 11 order reference number */
	'S',                                            /* 19 buy/sell indicator */
	0x00, 0x01, 0xe2, 0x40,                         /* 20 shares */
	'T', 'S', 'L', 'A', ' ', ' ', ' ', ' ',         /* 24 stock */
	0x1d, 0xcd, 0x65, 0x07,                         /* 32 price */
	'U', 'B', 'S', 'S',                             /* 36 attribution */
};
_Static_assert(sizeof(f_wire) == 40, "F is 40 bytes");

static const uint8_t e_wire[] = {
	'E', HDR,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* 11 order reference number */
	0x00, 0x01, 0x86, 0xa3,                         /* 19 executed shares */
	0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, /* 23 match number */
};
_Static_assert(sizeof(e_wire) == 31, "E is 31 bytes");

static const uint8_t c_wire[] = {
	'C', HDR,
	0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, /* 11 order reference number */
	0x00, 0x0c, 0x35, 0x0f,                         /* 19 executed shares */
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, /* 23 match number */
	'N',                                            /* 31 printable */
	0x12, 0x34, 0x56, 0x78,                         /* 32 execution price */
};
_Static_assert(sizeof(c_wire) == 36, "C is 36 bytes");

static const uint8_t x_wire[] = {
	'X', HDR,
	0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, /* 11 order reference number */
	0x00, 0xab, 0xcd, 0xef,                         /* 19 cancelled shares */
};
_Static_assert(sizeof(x_wire) == 23, "X is 23 bytes");

static const uint8_t d_wire[] = {
	'D', HDR,
	0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, /* 11 order reference number */
};
_Static_assert(sizeof(d_wire) == 19, "D is 19 bytes");

static const uint8_t u_wire[] = {
	'U', HDR,
	0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, /* 11 original order reference number */
	0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, /* 19 new order reference number */
	0x00, 0x12, 0x34, 0x56,                         /* 27 shares */
	0x23, 0x45, 0x67, 0x89,                         /* 31 price */
};
_Static_assert(sizeof(u_wire) == 35, "U is 35 bytes");

static const uint8_t p_wire[] = {
	'P', HDR,
	0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, /* 11 order reference number */
	'B',                                            /* 19 buy/sell indicator */
	0x00, 0x34, 0x56, 0x78,                         /* 20 shares */
	'A', 'M', 'Z', 'N', ' ', ' ', ' ', ' ',         /* 24 stock */
	0x34, 0x56, 0x78, 0x9a,                         /* 32 price */
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, /* 36 match number */
};
_Static_assert(sizeof(p_wire) == 44, "P is 44 bytes");

static const uint8_t q_wire[] = {
	'Q', HDR,
	0x00, 0x00, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, /* 11 shares */
	'M', 'E', 'T', 'A', ' ', ' ', ' ', ' ',         /* 19 stock */
	0x45, 0x67, 0x89, 0xab,                         /* 27 cross price */
	0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x02, /* 31 match number */
	'O',                                            /* 39 cross type */
};
_Static_assert(sizeof(q_wire) == 40, "Q is 40 bytes");

static const uint8_t b_wire[] = {
	'B', HDR,
	0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, /* 11 match number */
};
_Static_assert(sizeof(b_wire) == 19, "B is 19 bytes");

static const uint8_t i_wire[] = {
	'I', HDR,
	0x00, 0x00, 0x00, 0x01, 0xa2, 0xb3, 0xc4, 0xd5, /* 11 paired shares */
	0x00, 0x00, 0x00, 0x02, 0xe6, 0xf7, 0x08, 0x19, /* 19 imbalance shares */
	'S',                                            /* 27 imbalance direction */
	'N', 'F', 'L', 'X', ' ', ' ', ' ', ' ',         /* 28 stock */
	0x56, 0x78, 0x9a, 0xbc,                         /* 36 far price */
	0x67, 0x89, 0xab, 0xcd,                         /* 40 near price */
	0x78, 0x9a, 0xbc, 0xde,                         /* 44 current reference price */
	'C',                                            /* 48 cross type */
	'L',                                            /* 49 price variation indicator */
};
_Static_assert(sizeof(i_wire) == 50, "I is 50 bytes");

static const uint8_t n_wire[] = {
	'N', HDR,
	'Q', 'Q', 'Q', ' ', ' ', ' ', ' ', ' ',         /* 11 stock */
	'A',                                            /* 19 interest flag */
};
_Static_assert(sizeof(n_wire) == 20, "N is 20 bytes");

static const uint8_t o_wire[] = {
	'O', HDR,
	'S', 'P', 'O', 'T', ' ', ' ', ' ', ' ',         /* 11 stock */
	'Y',                                            /* 19 open eligibility status */
	0x0f, 0x1e, 0x2d, 0x3c,                         /* 20 minimum allowable price */
	0x1f, 0x2e, 0x3d, 0x4c,                         /* 24 maximum allowable price */
	0x2f, 0x3e, 0x4d, 0x5c,                         /* 28 near execution price */
	0x00, 0x00, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, /* 32 near execution time */
	0x3f, 0x4e, 0x5d, 0x6c,                         /* 40 lower price range collar */
	0x4f, 0x5e, 0x6d, 0x7c,                         /* 44 upper price range collar */
};
_Static_assert(sizeof(o_wire) == 48, "O is 48 bytes");

struct wire {
	const uint8_t *p;
	size_t len;
};

/* Every hand-built message, in specification order. */
static const struct wire all_wires[] = {
	{ s_wire, sizeof(s_wire) }, { r_wire, sizeof(r_wire) }, { h_wire, sizeof(h_wire) },
	{ y_wire, sizeof(y_wire) }, { l_wire, sizeof(l_wire) }, { v_wire, sizeof(v_wire) },
	{ w_wire, sizeof(w_wire) }, { k_wire, sizeof(k_wire) }, { j_wire, sizeof(j_wire) },
	{ oh_wire, sizeof(oh_wire) }, { a_wire, sizeof(a_wire) }, { f_wire, sizeof(f_wire) },
	{ e_wire, sizeof(e_wire) }, { c_wire, sizeof(c_wire) }, { x_wire, sizeof(x_wire) },
	{ d_wire, sizeof(d_wire) }, { u_wire, sizeof(u_wire) }, { p_wire, sizeof(p_wire) },
	{ q_wire, sizeof(q_wire) }, { b_wire, sizeof(b_wire) }, { i_wire, sizeof(i_wire) },
	{ n_wire, sizeof(n_wire) }, { o_wire, sizeof(o_wire) },
};
#define N_WIRES (sizeof(all_wires) / sizeof(all_wires[0]))

/* Decode `len` bytes that must be valid, and check the common header. */
static struct dd_itch_msg decode_ok(const uint8_t *p, size_t len)
{
	struct dd_itch_msg m;

	memset(&m, 0, sizeof(m));
	assert_int_equal(dd_itch_decode(p, len, &m), 0);
	assert_int_equal(m.type, p[0]);
	assert_int_equal(m.locate, LOCATE);
	assert_int_equal(m.tracking, TRACKING);
	assert_int_equal(m.timestamp, TIMESTAMP);
	return m;
}

/* Encoding `m` gives back exactly the hand-built bytes. */
static void assert_encodes_to(const struct dd_itch_msg *m, const uint8_t *wire, size_t len)
{
	uint8_t buf[DD_ITCH_MAX_LEN + 8];

	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(dd_itch_encode(m, buf, sizeof(buf)), len);
	assert_memory_equal(buf, wire, len);
	assert_int_equal(buf[len], 0x5a); /* nothing written past the message */
}

static void test_system_event_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(s_wire, sizeof(s_wire));

	(void)state;
	assert_int_equal(m.u.system.event_code, 'Q');
	assert_encodes_to(&m, s_wire, sizeof(s_wire));
}

static void test_stock_directory_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(r_wire, sizeof(r_wire));

	(void)state;
	assert_memory_equal(m.u.directory.stock, "MSFT    ", 8);
	assert_int_equal(m.u.directory.market_category, 'Q');
	assert_int_equal(m.u.directory.financial_status, 'D');
	assert_int_equal(m.u.directory.round_lot_size, 0x1a2b3c4d);
	assert_int_equal(m.u.directory.round_lots_only, 'Y');
	assert_int_equal(m.u.directory.issue_classification, 'C');
	assert_memory_equal(m.u.directory.issue_subtype, "AI", 2);
	assert_int_equal(m.u.directory.authenticity, 'P');
	assert_int_equal(m.u.directory.short_sale_threshold, 'N');
	assert_int_equal(m.u.directory.ipo_flag, 'E');
	assert_int_equal(m.u.directory.luld_tier, '1');
	assert_int_equal(m.u.directory.etp_flag, 'G');
	assert_int_equal(m.u.directory.etp_leverage_factor, 0x5e6f7081);
	assert_int_equal(m.u.directory.inverse, 'V');
	assert_encodes_to(&m, r_wire, sizeof(r_wire));
}

static void test_stock_trading_action_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(h_wire, sizeof(h_wire));

	(void)state;
	assert_memory_equal(m.u.trading_action.stock, "ZVZZT   ", 8);
	assert_int_equal(m.u.trading_action.state, 'H');
	assert_int_equal(m.u.trading_action.reserved, 'x');
	assert_memory_equal(m.u.trading_action.reason, "LUDP", 4);
	assert_encodes_to(&m, h_wire, sizeof(h_wire));
}

static void test_reg_sho_restriction_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(y_wire, sizeof(y_wire));

	(void)state;
	assert_memory_equal(m.u.reg_sho.stock, "NVDA    ", 8);
	assert_int_equal(m.u.reg_sho.action, '1');
	assert_encodes_to(&m, y_wire, sizeof(y_wire));
}

static void test_market_participant_position_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(l_wire, sizeof(l_wire));

	(void)state;
	assert_memory_equal(m.u.participant.mpid, "GSCO", 4);
	assert_memory_equal(m.u.participant.stock, "IBM     ", 8);
	assert_int_equal(m.u.participant.primary_market_maker, 'Y');
	assert_int_equal(m.u.participant.market_maker_mode, 'P');
	assert_int_equal(m.u.participant.participant_state, 'A');
	assert_encodes_to(&m, l_wire, sizeof(l_wire));
}

static void test_mwcb_decline_level_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(v_wire, sizeof(v_wire));

	(void)state;
	assert_int_equal(m.u.mwcb_decline.level1, 0x1112131415161718ull);
	assert_int_equal(m.u.mwcb_decline.level2, 0x2122232425262728ull);
	assert_int_equal(m.u.mwcb_decline.level3, 0x3132333435363738ull);
	assert_encodes_to(&m, v_wire, sizeof(v_wire));
}

static void test_mwcb_status_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(w_wire, sizeof(w_wire));

	(void)state;
	assert_int_equal(m.u.mwcb_status.breached_level, '2');
	assert_encodes_to(&m, w_wire, sizeof(w_wire));
}

static void test_ipo_quoting_period_update_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(k_wire, sizeof(k_wire));

	(void)state;
	assert_memory_equal(m.u.ipo.stock, "RIVN    ", 8);
	assert_int_equal(m.u.ipo.release_time, 0x12a4c6e8);
	assert_int_equal(m.u.ipo.release_qualifier, 'A');
	assert_int_equal(m.u.ipo.ipo_price, 0x0bebc201);
	assert_encodes_to(&m, k_wire, sizeof(k_wire));
}

static void test_luld_auction_collar_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(j_wire, sizeof(j_wire));

	(void)state;
	assert_memory_equal(m.u.luld_collar.stock, "SNAP    ", 8);
	assert_int_equal(m.u.luld_collar.ref_price, 0x0a0b0c0d);
	assert_int_equal(m.u.luld_collar.upper_price, 0x1a1b1c1d);
	assert_int_equal(m.u.luld_collar.lower_price, 0x2a2b2c2d);
	assert_int_equal(m.u.luld_collar.extension, 0x3a3b3c3d);
	assert_encodes_to(&m, j_wire, sizeof(j_wire));
}

static void test_operational_halt_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(oh_wire, sizeof(oh_wire));

	(void)state;
	assert_memory_equal(m.u.op_halt.stock, "GME     ", 8);
	assert_int_equal(m.u.op_halt.market_code, 'Q');
	assert_int_equal(m.u.op_halt.action, 'H');
	assert_encodes_to(&m, oh_wire, sizeof(oh_wire));
}

static void test_add_order_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(a_wire, sizeof(a_wire));

	(void)state;
	assert_int_equal(m.u.add.ref, 0x0123456789abcdefull);
	assert_int_equal(m.u.add.side, 'B');
	assert_int_equal(m.u.add.shares, 0x00bc614e);
	assert_memory_equal(m.u.add.stock, "AAPL    ", 8);
	assert_int_equal(m.u.add.price, 0x0badf00d);
	assert_memory_equal(m.u.add.attribution, "    ", 4);
	assert_encodes_to(&m, a_wire, sizeof(a_wire));
}

static void test_add_order_with_mpid_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(f_wire, sizeof(f_wire));

	(void)state;
	assert_int_equal(m.u.add.ref, 0xfedcba9876543210ull);
	assert_int_equal(m.u.add.side, 'S');
	assert_int_equal(m.u.add.shares, 0x0001e240);
	assert_memory_equal(m.u.add.stock, "TSLA    ", 8);
	assert_int_equal(m.u.add.price, 0x1dcd6507);
	assert_memory_equal(m.u.add.attribution, "UBSS", 4);
	assert_encodes_to(&m, f_wire, sizeof(f_wire));
}

static void test_order_executed_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(e_wire, sizeof(e_wire));

	(void)state;
	assert_int_equal(m.u.exec.ref, 0x1122334455667788ull);
	assert_int_equal(m.u.exec.shares, 0x000186a3);
	assert_int_equal(m.u.exec.match, 0x99aabbccddeeff01ull);
	assert_encodes_to(&m, e_wire, sizeof(e_wire));
}

static void test_order_executed_with_price_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(c_wire, sizeof(c_wire));

	(void)state;
	assert_int_equal(m.u.exec_price.ref, 0x2233445566778899ull);
	assert_int_equal(m.u.exec_price.shares, 0x000c350f);
	assert_int_equal(m.u.exec_price.match, 0x0102030405060709ull);
	assert_int_equal(m.u.exec_price.printable, 'N');
	assert_int_equal(m.u.exec_price.price, 0x12345678);
	assert_encodes_to(&m, c_wire, sizeof(c_wire));
}

static void test_order_cancel_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(x_wire, sizeof(x_wire));

	(void)state;
	assert_int_equal(m.u.cancel.ref, 0x33445566778899aaull);
	assert_int_equal(m.u.cancel.shares, 0x00abcdef);
	assert_encodes_to(&m, x_wire, sizeof(x_wire));
}

static void test_order_delete_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(d_wire, sizeof(d_wire));

	(void)state;
	assert_int_equal(m.u.del.ref, 0x445566778899aabbull);
	assert_encodes_to(&m, d_wire, sizeof(d_wire));
}

static void test_order_replace_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(u_wire, sizeof(u_wire));

	(void)state;
	assert_int_equal(m.u.replace.orig_ref, 0x5566778899aabbccull);
	assert_int_equal(m.u.replace.new_ref, 0x66778899aabbccddull);
	assert_int_equal(m.u.replace.shares, 0x00123456);
	assert_int_equal(m.u.replace.price, 0x23456789);
	assert_encodes_to(&m, u_wire, sizeof(u_wire));
}

static void test_trade_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(p_wire, sizeof(p_wire));

	(void)state;
	assert_int_equal(m.u.trade.ref, 0x778899aabbccddeeull);
	assert_int_equal(m.u.trade.side, 'B');
	assert_int_equal(m.u.trade.shares, 0x00345678);
	assert_memory_equal(m.u.trade.stock, "AMZN    ", 8);
	assert_int_equal(m.u.trade.price, 0x3456789a);
	assert_int_equal(m.u.trade.match, 0x8899aabbccddeeffull);
	assert_encodes_to(&m, p_wire, sizeof(p_wire));
}

static void test_cross_trade_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(q_wire, sizeof(q_wire));

	(void)state;
	assert_int_equal(m.u.cross.shares, 0x0000000123456789ull);
	assert_memory_equal(m.u.cross.stock, "META    ", 8);
	assert_int_equal(m.u.cross.price, 0x456789ab);
	assert_int_equal(m.u.cross.match, 0x99aabbccddeeff02ull);
	assert_int_equal(m.u.cross.cross_type, 'O');
	assert_encodes_to(&m, q_wire, sizeof(q_wire));
}

static void test_broken_trade_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(b_wire, sizeof(b_wire));

	(void)state;
	assert_int_equal(m.u.broken.match, 0xaabbccddeeff0011ull);
	assert_encodes_to(&m, b_wire, sizeof(b_wire));
}

static void test_noii_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(i_wire, sizeof(i_wire));

	(void)state;
	assert_int_equal(m.u.noii.paired_shares, 0x00000001a2b3c4d5ull);
	assert_int_equal(m.u.noii.imbalance_shares, 0x00000002e6f70819ull);
	assert_int_equal(m.u.noii.direction, 'S');
	assert_memory_equal(m.u.noii.stock, "NFLX    ", 8);
	assert_int_equal(m.u.noii.far_price, 0x56789abc);
	assert_int_equal(m.u.noii.near_price, 0x6789abcd);
	assert_int_equal(m.u.noii.ref_price, 0x789abcde);
	assert_int_equal(m.u.noii.cross_type, 'C');
	assert_int_equal(m.u.noii.price_variation, 'L');
	assert_encodes_to(&m, i_wire, sizeof(i_wire));
}

static void test_retail_price_improvement_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(n_wire, sizeof(n_wire));

	(void)state;
	assert_memory_equal(m.u.rpii.stock, "QQQ     ", 8);
	assert_int_equal(m.u.rpii.interest_flag, 'A');
	assert_encodes_to(&m, n_wire, sizeof(n_wire));
}

static void test_direct_listing_capital_raise_decodes_every_field(void **state)
{
	struct dd_itch_msg m = decode_ok(o_wire, sizeof(o_wire));

	(void)state;
	assert_memory_equal(m.u.dlcr.stock, "SPOT    ", 8);
	assert_int_equal(m.u.dlcr.open_eligibility, 'Y');
	assert_int_equal(m.u.dlcr.min_price, 0x0f1e2d3c);
	assert_int_equal(m.u.dlcr.max_price, 0x1f2e3d4c);
	assert_int_equal(m.u.dlcr.near_price, 0x2f3e4d5c);
	assert_int_equal(m.u.dlcr.near_time, 0x00003a4b5c6d7e8full);
	assert_int_equal(m.u.dlcr.lower_collar, 0x3f4e5d6c);
	assert_int_equal(m.u.dlcr.upper_collar, 0x4f5e6d7c);
	assert_encodes_to(&m, o_wire, sizeof(o_wire));
}

/* The specification's table, written out independently of the codec's. */
static const struct {
	uint8_t type;
	size_t len;
	const char *name;
} spec_types[] = {
	{ 'S', 12, "System Event" },
	{ 'R', 39, "Stock Directory" },
	{ 'H', 25, "Stock Trading Action" },
	{ 'Y', 20, "Reg SHO Restriction" },
	{ 'L', 26, "Market Participant Position" },
	{ 'V', 35, "MWCB Decline Level" },
	{ 'W', 12, "MWCB Status" },
	{ 'K', 28, "IPO Quoting Period Update" },
	{ 'J', 35, "LULD Auction Collar" },
	{ 'h', 21, "Operational Halt" },
	{ 'A', 36, "Add Order" },
	{ 'F', 40, "Add Order with MPID Attribution" },
	{ 'E', 31, "Order Executed" },
	{ 'C', 36, "Order Executed with Price" },
	{ 'X', 23, "Order Cancel" },
	{ 'D', 19, "Order Delete" },
	{ 'U', 35, "Order Replace" },
	{ 'P', 44, "Trade" },
	{ 'Q', 40, "Cross Trade" },
	{ 'B', 19, "Broken Trade" },
	{ 'I', 50, "NOII" },
	{ 'N', 20, "Retail Price Improvement Indicator" },
	{ 'O', 48, "Direct Listing with Capital Raise Price Discovery" },
};
#define N_SPEC_TYPES (sizeof(spec_types) / sizeof(spec_types[0]))

static int spec_index(unsigned type)
{
	for (size_t i = 0; i < N_SPEC_TYPES; i++)
		if (spec_types[i].type == type)
			return (int)i;
	return -1;
}

static void test_types_lists_the_23_letters_in_spec_order(void **state)
{
	(void)state;
	assert_string_equal(dd_itch_types, "SRHYLVWKJhAFECXDUPQBINO");
	assert_int_equal(N_SPEC_TYPES, 23);
	assert_int_equal(N_WIRES, 23);
	for (size_t i = 0; i < N_SPEC_TYPES; i++) {
		assert_int_equal(dd_itch_types[i], spec_types[i].type);
		assert_int_equal(all_wires[i].p[0], spec_types[i].type);
		assert_int_equal(all_wires[i].len, spec_types[i].len);
	}
}

static void test_msg_len_and_name_match_spec_for_every_byte(void **state)
{
	(void)state;
	for (unsigned t = 0; t < 256; t++) {
		int i = spec_index(t);

		if (i < 0) {
			assert_int_equal(dd_itch_msg_len((uint8_t)t), 0);
			assert_null(dd_itch_msg_name((uint8_t)t));
		} else {
			assert_int_equal(dd_itch_msg_len((uint8_t)t), spec_types[i].len);
			assert_string_equal(dd_itch_msg_name((uint8_t)t), spec_types[i].name);
		}
	}
	assert_int_equal(dd_itch_msg_len('I'), DD_ITCH_MAX_LEN);
}

static void test_wrong_length_is_rejected_without_writing(void **state)
{
	uint8_t buf[DD_ITCH_MAX_LEN + 1];
	struct dd_itch_msg m, fill;
	struct dd_event ev, ev_fill;

	(void)state;
	memset(&fill, 0xa5, sizeof(fill));
	memset(&ev_fill, EV_FILL, sizeof(ev_fill));
	for (size_t i = 0; i < N_SPEC_TYPES; i++) {
		size_t len = spec_types[i].len;
		size_t bad[] = { len - 1, len + 1, 1, DD_ITCH_HDR_LEN };

		memset(buf, 0x5a, sizeof(buf));
		buf[0] = spec_types[i].type;
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			if (bad[k] == len)
				continue;
			m = fill;
			assert_int_equal(dd_itch_decode(buf, bad[k], &m), -EBADMSG);
			assert_memory_equal(&m, &fill, sizeof(m));
			ev = ev_fill;
			assert_int_equal(dd_itch_decode_event(buf, bad[k], &ev), -EBADMSG);
			assert_memory_equal(&ev, &ev_fill, sizeof(ev));
		}
	}
}

static void test_unknown_type_is_enomsg_without_writing(void **state)
{
	uint8_t buf[DD_ITCH_MAX_LEN];
	struct dd_itch_msg m, fill;
	struct dd_event ev, ev_fill;
	unsigned unknown = 0;

	(void)state;
	memset(&fill, 0xa5, sizeof(fill));
	memset(&ev_fill, EV_FILL, sizeof(ev_fill));
	memset(buf, 0x5a, sizeof(buf));
	for (unsigned t = 0; t < 256; t++) {
		if (spec_index(t) >= 0)
			continue;
		unknown++;
		buf[0] = (uint8_t)t;
		for (size_t len = 1; len <= sizeof(buf); len++) {
			m = fill;
			assert_int_equal(dd_itch_decode(buf, len, &m), -ENOMSG);
			assert_memory_equal(&m, &fill, sizeof(m));
			ev = ev_fill;
			assert_int_equal(dd_itch_decode_event(buf, len, &ev), -ENOMSG);
			assert_memory_equal(&ev, &ev_fill, sizeof(ev));
		}
	}
	assert_int_equal(unknown, 256 - 23);
}

static void test_empty_message_is_enodata(void **state)
{
	struct dd_itch_msg m, fill;
	struct dd_event ev, ev_fill;

	(void)state;
	memset(&fill, 0xa5, sizeof(fill));
	memset(&ev_fill, EV_FILL, sizeof(ev_fill));
	m = fill;
	ev = ev_fill;
	/* A valid message behind the pointer: the length alone decides. */
	assert_int_equal(dd_itch_decode(a_wire, 0, &m), -ENODATA);
	assert_int_equal(dd_itch_decode_event(a_wire, 0, &ev), -ENODATA);
	assert_int_equal(dd_itch_decode(NULL, 0, &m), -ENODATA);
	assert_int_equal(dd_itch_decode_event(NULL, 0, &ev), -ENODATA);
	assert_memory_equal(&m, &fill, sizeof(m));
	assert_memory_equal(&ev, &ev_fill, sizeof(ev));
}

static void test_encode_rejects_unknown_type_and_short_buffer(void **state)
{
	uint8_t buf[DD_ITCH_MAX_LEN + 1];
	struct dd_itch_msg m = decode_ok(p_wire, sizeof(p_wire));

	(void)state;
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(dd_itch_encode(&m, buf, sizeof(p_wire) - 1), -ENOSPC);
	assert_int_equal(dd_itch_encode(&m, buf, 0), -ENOSPC);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x5a);
	assert_int_equal(dd_itch_encode(&m, buf, sizeof(p_wire)), sizeof(p_wire));
	assert_memory_equal(buf, p_wire, sizeof(p_wire));
	assert_int_equal(buf[sizeof(p_wire)], 0x5a);

	m.type = 'Z';
	assert_int_equal(dd_itch_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = 0;
	assert_int_equal(dd_itch_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_encode_add_order_ignores_attribution(void **state)
{
	struct dd_itch_msg m = decode_ok(a_wire, sizeof(a_wire));

	(void)state;
	memcpy(m.u.add.attribution, "XXXX", 4);
	assert_encodes_to(&m, a_wire, sizeof(a_wire));
}

static void test_encode_writes_low_48_bits_of_timestamp(void **state)
{
	uint8_t buf[DD_ITCH_MAX_LEN];
	struct dd_itch_msg m = decode_ok(d_wire, sizeof(d_wire));

	(void)state;
	m.timestamp = 0xffff3e4f5a6b7c8dull;
	assert_int_equal(dd_itch_encode(&m, buf, sizeof(buf)), sizeof(d_wire));
	assert_memory_equal(buf, d_wire, sizeof(d_wire));
}

/*
 * The event a caller's 0xee-filled event must become: header fields from the message, source, seq
 * and rx_tsc untouched, flags 0 and a zeroed payload that the test then fills.
 */
static struct dd_event event_want(uint8_t type, uint8_t msg)
{
	struct dd_event e;

	memset(&e, EV_FILL, sizeof(e));
	e.type = type;
	e.msg = msg;
	e.flags = 0;
	e.key = LOCATE;
	e.event_ns = TIMESTAMP;
	memset(&e.u, 0, sizeof(e.u));
	return e;
}

static void assert_event_equal(const struct dd_event *got, const struct dd_event *want)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->source, want->source);
	assert_int_equal(got->msg, want->msg);
	assert_int_equal(got->flags, want->flags);
	assert_int_equal(got->key, want->key);
	assert_int_equal(got->seq, want->seq);
	assert_int_equal(got->event_ns, want->event_ns);
	assert_int_equal(got->rx_tsc, want->rx_tsc);
	assert_memory_equal(got->u.raw, want->u.raw, sizeof(got->u.raw));
	assert_memory_equal(got, want, sizeof(*got));
}

/* Both entry points turn `wire` into exactly `want`. */
static void assert_maps_to(const uint8_t *wire, size_t len, const struct dd_event *want)
{
	struct dd_itch_msg m = decode_ok(wire, len);
	struct dd_event ev;

	memset(&ev, EV_FILL, sizeof(ev));
	assert_int_equal(dd_itch_to_event(&m, &ev), 1);
	assert_event_equal(&ev, want);

	memset(&ev, EV_FILL, sizeof(ev));
	assert_int_equal(dd_itch_decode_event(wire, len, &ev), 1);
	assert_event_equal(&ev, want);
}

static void test_system_event_maps_to_system(void **state)
{
	struct dd_event want = event_want(DD_EV_SYSTEM, 'S');

	(void)state;
	want.u.system.event_code = 'Q';
	assert_maps_to(s_wire, sizeof(s_wire), &want);
}

static void test_stock_directory_maps_to_directory(void **state)
{
	struct dd_event want = event_want(DD_EV_DIRECTORY, 'R');

	(void)state;
	memcpy(want.u.directory.stock, "MSFT    ", 8);
	want.u.directory.round_lot_size = 0x1a2b3c4d;
	want.u.directory.etp_leverage_factor = 0x5e6f7081;
	want.u.directory.market_category = 'Q';
	want.u.directory.financial_status = 'D';
	want.u.directory.round_lots_only = 'Y';
	want.u.directory.issue_classification = 'C';
	memcpy(want.u.directory.issue_subtype, "AI", 2);
	want.u.directory.authenticity = 'P';
	want.u.directory.short_sale_threshold = 'N';
	want.u.directory.ipo_flag = 'E';
	want.u.directory.luld_tier = '1';
	want.u.directory.etp_flag = 'G';
	want.u.directory.inverse = 'V';
	assert_maps_to(r_wire, sizeof(r_wire), &want);
}

static void test_stock_trading_action_maps_to_trading_state(void **state)
{
	struct dd_event want = event_want(DD_EV_TRADING_STATE, 'H');

	(void)state;
	memcpy(want.u.trading_state.stock, "ZVZZT   ", 8);
	want.u.trading_state.state = 'H';
	want.u.trading_state.reserved = 'x';
	memcpy(want.u.trading_state.reason, "LUDP", 4);
	assert_maps_to(h_wire, sizeof(h_wire), &want);
}

static void test_add_order_maps_to_add_with_blank_mpid(void **state)
{
	struct dd_event want = event_want(DD_EV_ADD, 'A');

	(void)state;
	want.u.add.ref = 0x0123456789abcdefull;
	want.u.add.shares = 0x00bc614e;
	want.u.add.price = 0x0badf00d;
	want.u.add.side = 'B';
	memcpy(want.u.add.stock, "AAPL    ", 8);
	memcpy(want.u.add.mpid, "    ", 4);
	assert_maps_to(a_wire, sizeof(a_wire), &want);
}

static void test_add_order_event_ignores_attribution_member(void **state)
{
	struct dd_itch_msg m = decode_ok(a_wire, sizeof(a_wire));
	struct dd_event ev;

	(void)state;
	memcpy(m.u.add.attribution, "XXXX", 4);
	memset(&ev, EV_FILL, sizeof(ev));
	assert_int_equal(dd_itch_to_event(&m, &ev), 1);
	assert_memory_equal(ev.u.add.mpid, "    ", 4);
}

static void test_add_order_with_mpid_maps_to_add_with_mpid(void **state)
{
	struct dd_event want = event_want(DD_EV_ADD, 'F');

	(void)state;
	want.u.add.ref = 0xfedcba9876543210ull;
	want.u.add.shares = 0x0001e240;
	want.u.add.price = 0x1dcd6507;
	want.u.add.side = 'S';
	memcpy(want.u.add.stock, "TSLA    ", 8);
	memcpy(want.u.add.mpid, "UBSS", 4);
	assert_maps_to(f_wire, sizeof(f_wire), &want);
}

static void test_order_executed_maps_to_exec_printable_at_order_price(void **state)
{
	struct dd_event want = event_want(DD_EV_EXEC, 'E');

	(void)state;
	want.u.exec.ref = 0x1122334455667788ull;
	want.u.exec.match = 0x99aabbccddeeff01ull;
	want.u.exec.shares = 0x000186a3;
	want.u.exec.price = 0;
	want.u.exec.printable = 'Y';
	assert_maps_to(e_wire, sizeof(e_wire), &want);
}

static void test_order_executed_with_price_maps_to_exec_price(void **state)
{
	struct dd_event want = event_want(DD_EV_EXEC_PRICE, 'C');

	(void)state;
	want.u.exec.ref = 0x2233445566778899ull;
	want.u.exec.match = 0x0102030405060709ull;
	want.u.exec.shares = 0x000c350f;
	want.u.exec.price = 0x12345678;
	want.u.exec.printable = 'N';
	assert_maps_to(c_wire, sizeof(c_wire), &want);
}

static void test_order_cancel_maps_to_cancel(void **state)
{
	struct dd_event want = event_want(DD_EV_CANCEL, 'X');

	(void)state;
	want.u.cancel.ref = 0x33445566778899aaull;
	want.u.cancel.shares = 0x00abcdef;
	assert_maps_to(x_wire, sizeof(x_wire), &want);
}

static void test_order_delete_maps_to_delete(void **state)
{
	struct dd_event want = event_want(DD_EV_DELETE, 'D');

	(void)state;
	want.u.del.ref = 0x445566778899aabbull;
	assert_maps_to(d_wire, sizeof(d_wire), &want);
}

static void test_order_replace_maps_to_replace(void **state)
{
	struct dd_event want = event_want(DD_EV_REPLACE, 'U');

	(void)state;
	want.u.replace.ref = 0x5566778899aabbccull;
	want.u.replace.new_ref = 0x66778899aabbccddull;
	want.u.replace.shares = 0x00123456;
	want.u.replace.price = 0x23456789;
	assert_maps_to(u_wire, sizeof(u_wire), &want);
}

static void test_trade_maps_to_trade(void **state)
{
	struct dd_event want = event_want(DD_EV_TRADE, 'P');

	(void)state;
	want.u.trade.ref = 0x778899aabbccddeeull;
	want.u.trade.match = 0x8899aabbccddeeffull;
	want.u.trade.shares = 0x00345678;
	want.u.trade.price = 0x3456789a;
	want.u.trade.side = 'B';
	assert_maps_to(p_wire, sizeof(p_wire), &want);
}

static void test_cross_trade_maps_to_cross(void **state)
{
	struct dd_event want = event_want(DD_EV_CROSS, 'Q');

	(void)state;
	want.u.cross.shares = 0x0000000123456789ull;
	want.u.cross.match = 0x99aabbccddeeff02ull;
	want.u.cross.price = 0x456789ab;
	want.u.cross.cross_type = 'O';
	assert_maps_to(q_wire, sizeof(q_wire), &want);
}

static void test_broken_trade_maps_to_broken(void **state)
{
	struct dd_event want = event_want(DD_EV_BROKEN, 'B');

	(void)state;
	want.u.broken.match = 0xaabbccddeeff0011ull;
	assert_maps_to(b_wire, sizeof(b_wire), &want);
}

static void test_unmapped_types_produce_no_event(void **state)
{
	const struct wire unmapped[] = {
		{ y_wire, sizeof(y_wire) }, { l_wire, sizeof(l_wire) }, { v_wire, sizeof(v_wire) },
		{ w_wire, sizeof(w_wire) }, { k_wire, sizeof(k_wire) }, { j_wire, sizeof(j_wire) },
		{ oh_wire, sizeof(oh_wire) }, { i_wire, sizeof(i_wire) }, { n_wire, sizeof(n_wire) },
		{ o_wire, sizeof(o_wire) },
	};
	struct dd_event ev, fill;

	(void)state;
	memset(&fill, EV_FILL, sizeof(fill));
	for (size_t i = 0; i < sizeof(unmapped) / sizeof(unmapped[0]); i++) {
		struct dd_itch_msg m = decode_ok(unmapped[i].p, unmapped[i].len);

		ev = fill;
		assert_int_equal(dd_itch_to_event(&m, &ev), 0);
		assert_memory_equal(&ev, &fill, sizeof(ev));
		assert_int_equal(dd_itch_decode_event(unmapped[i].p, unmapped[i].len, &ev), 0);
		assert_memory_equal(&ev, &fill, sizeof(ev));
	}
}

static void test_decode_event_equals_decode_then_to_event_for_all_types(void **state)
{
	unsigned mapped = 0;

	(void)state;
	for (size_t i = 0; i < N_WIRES; i++) {
		struct dd_itch_msg m = decode_ok(all_wires[i].p, all_wires[i].len);
		struct dd_event a, b;
		int ra, rb;

		memset(&a, EV_FILL, sizeof(a));
		memset(&b, EV_FILL, sizeof(b));
		ra = dd_itch_to_event(&m, &a);
		rb = dd_itch_decode_event(all_wires[i].p, all_wires[i].len, &b);
		assert_int_equal(ra, rb);
		assert_memory_equal(&a, &b, sizeof(a));
		mapped += (unsigned)ra;
	}
	assert_int_equal(mapped, 13);
}

/* Reads the whole sample file into memory, or skips the test saying why. */
static uint8_t *read_sample(size_t *len)
{
	FILE *f = fopen(ITCH_SAMPLE, "rb");
	uint8_t *buf;
	long size;

	if (f == NULL) {
		char cwd[512];

		fprintf(stderr, "SKIP: cannot open %s from %s: %s; run the test from the repository root\n",
			ITCH_SAMPLE, getcwd(cwd, sizeof(cwd)) ? cwd : "?", strerror(errno));
		skip();
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	buf = malloc((size_t)size);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	*len = (size_t)size;
	return buf;
}

static void test_sample_binaryfile_decodes_with_expected_counts(void **state)
{
	size_t len, off = 0, total = 0, errors = 0, n_dir = 0;
	unsigned long counts[256] = { 0 };
	unsigned long want[256] = { 0 };
	uint8_t *buf = read_sample(&len);

	(void)state;
	while (off < len) {
		struct dd_itch_msg m;
		struct dd_event ev, ev2;
		uint8_t out[DD_ITCH_MAX_LEN];
		size_t n;

		assert_true(len - off >= 2);
		n = (size_t)buf[off] << 8 | buf[off + 1];
		off += 2;
		assert_true(n <= len - off);
		total++;
		if (dd_itch_decode(buf + off, n, &m) != 0) {
			errors++;
			off += n;
			continue;
		}
		counts[m.type]++;
		assert_int_equal(dd_itch_encode(&m, out, sizeof(out)), n);
		assert_memory_equal(out, buf + off, n);

		memset(&ev, EV_FILL, sizeof(ev));
		memset(&ev2, EV_FILL, sizeof(ev2));
		assert_int_equal(dd_itch_to_event(&m, &ev), 1);
		assert_int_equal(dd_itch_decode_event(buf + off, n, &ev2), 1);
		assert_memory_equal(&ev, &ev2, sizeof(ev));

		if (m.type == 'R') {
			static const char *const names[] = { "ALC     ", "BOB     ", "CHAR    " };

			assert_true(n_dir < 3);
			assert_memory_equal(m.u.directory.stock, names[n_dir], 8);
			assert_int_equal(m.locate, n_dir + 1);
			n_dir++;
		}
		off += n;
	}
	free(buf);

	want['S'] = 6;
	want['R'] = 3;
	want['H'] = 3;
	want['A'] = 4997;
	want['F'] = 3;
	want['E'] = 198;
	want['X'] = 45;
	want['D'] = 1745;
	want['U'] = 12;
	want['P'] = 5000;
	assert_int_equal(errors, 0);
	assert_int_equal(total, 12012);
	assert_int_equal(n_dir, 3);
	for (unsigned t = 0; t < 256; t++) {
		if (counts[t] != want[t])
			fprintf(stderr, "type '%c' (0x%02x): %lu messages, expected %lu\n",
				t >= 0x20 && t < 0x7f ? (int)t : '?', t, counts[t], want[t]);
		assert_int_equal(counts[t], want[t]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_event_decodes_every_field),
		cmocka_unit_test(test_stock_directory_decodes_every_field),
		cmocka_unit_test(test_stock_trading_action_decodes_every_field),
		cmocka_unit_test(test_reg_sho_restriction_decodes_every_field),
		cmocka_unit_test(test_market_participant_position_decodes_every_field),
		cmocka_unit_test(test_mwcb_decline_level_decodes_every_field),
		cmocka_unit_test(test_mwcb_status_decodes_every_field),
		cmocka_unit_test(test_ipo_quoting_period_update_decodes_every_field),
		cmocka_unit_test(test_luld_auction_collar_decodes_every_field),
		cmocka_unit_test(test_operational_halt_decodes_every_field),
		cmocka_unit_test(test_add_order_decodes_every_field),
		cmocka_unit_test(test_add_order_with_mpid_decodes_every_field),
		cmocka_unit_test(test_order_executed_decodes_every_field),
		cmocka_unit_test(test_order_executed_with_price_decodes_every_field),
		cmocka_unit_test(test_order_cancel_decodes_every_field),
		cmocka_unit_test(test_order_delete_decodes_every_field),
		cmocka_unit_test(test_order_replace_decodes_every_field),
		cmocka_unit_test(test_trade_decodes_every_field),
		cmocka_unit_test(test_cross_trade_decodes_every_field),
		cmocka_unit_test(test_broken_trade_decodes_every_field),
		cmocka_unit_test(test_noii_decodes_every_field),
		cmocka_unit_test(test_retail_price_improvement_decodes_every_field),
		cmocka_unit_test(test_direct_listing_capital_raise_decodes_every_field),
		cmocka_unit_test(test_types_lists_the_23_letters_in_spec_order),
		cmocka_unit_test(test_msg_len_and_name_match_spec_for_every_byte),
		cmocka_unit_test(test_wrong_length_is_rejected_without_writing),
		cmocka_unit_test(test_unknown_type_is_enomsg_without_writing),
		cmocka_unit_test(test_empty_message_is_enodata),
		cmocka_unit_test(test_encode_rejects_unknown_type_and_short_buffer),
		cmocka_unit_test(test_encode_add_order_ignores_attribution),
		cmocka_unit_test(test_encode_writes_low_48_bits_of_timestamp),
		cmocka_unit_test(test_system_event_maps_to_system),
		cmocka_unit_test(test_stock_directory_maps_to_directory),
		cmocka_unit_test(test_stock_trading_action_maps_to_trading_state),
		cmocka_unit_test(test_add_order_maps_to_add_with_blank_mpid),
		cmocka_unit_test(test_add_order_event_ignores_attribution_member),
		cmocka_unit_test(test_add_order_with_mpid_maps_to_add_with_mpid),
		cmocka_unit_test(test_order_executed_maps_to_exec_printable_at_order_price),
		cmocka_unit_test(test_order_executed_with_price_maps_to_exec_price),
		cmocka_unit_test(test_order_cancel_maps_to_cancel),
		cmocka_unit_test(test_order_delete_maps_to_delete),
		cmocka_unit_test(test_order_replace_maps_to_replace),
		cmocka_unit_test(test_trade_maps_to_trade),
		cmocka_unit_test(test_cross_trade_maps_to_cross),
		cmocka_unit_test(test_broken_trade_maps_to_broken),
		cmocka_unit_test(test_unmapped_types_produce_no_event),
		cmocka_unit_test(test_decode_event_equals_decode_then_to_event_for_all_types),
		cmocka_unit_test(test_sample_binaryfile_decodes_with_expected_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
