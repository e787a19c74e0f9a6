/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/wire/outwire.c.
 *
 * The wire bytes of every output message are written out here by hand from docs/wire-formats.md
 * ("Output messages (the output stream)"), never produced by dd_outw_encode(). Multi-byte fields
 * hold values whose bytes differ (a wrong offset, width or byte order changes them), with a max u64,
 * negative i64s (two's complement written out), INT64_MIN/INT64_MAX, a symbol and a currency among
 * them. The outputs start as all 0xee so a pad, reserved byte or rx_tsc that leaked onto the wire
 * would show.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/wire/outwire.h"
#include "ops/output.h"

/* What a caller's output holds before a call: every byte 0xee, so pads and untouched fields show. */
#define OUT_FILL 0xee
/* What a message buffer holds before encode, so a byte written past the message shows. */
#define BUF_FILL 0x5a

/*
 * The common header after type (0), version (1) and lsn (2..9): the same values in every message.
 * cause 0x1011121314151617, event_ns 0x18191a1b1c1d1e1f, seq 0x2021222324252627, op 201
 * (test_timer), feed 5, rule 0x2a2b, rule_version 0x2c2d, shard 0x2e2f, flags 0x3031, key 0x32333435.
 */
#define CAUSE        0x1011121314151617ull
#define EVENT_NS     0x18191a1b1c1d1e1full
#define SEQ          0x2021222324252627ull
#define OP           201
#define FEED         5
#define RULE         0x2a2b
#define RULE_VERSION 0x2c2d
#define SHARD        0x2e2f
#define FLAGS        0x3031
#define KEY          0x32333435u

#define HDR(letter, lsn, symbol)                                                                   \
	letter, 0x01,                                   /*  0 type, 1 version */                    \
	lsn,                                            /*  2 lsn */                                \
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, /* 10 cause */                              \
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, /* 18 event_ns */                           \
	0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, /* 26 seq */                                \
	0xc9,                                           /* 34 op */                                 \
	0x05,                                           /* 35 feed */                               \
	0x2a, 0x2b,                                     /* 36 rule */                               \
	0x2c, 0x2d,                                     /* 38 rule_version */                       \
	0x2e, 0x2f,                                     /* 40 shard */                              \
	0x30, 0x31,                                     /* 42 flags */                              \
	0x32, 0x33, 0x34, 0x35,                         /* 44 key */                                \
	symbol                                          /* 48 symbol */

#define NO_SYMBOL 0, 0, 0, 0, 0, 0, 0, 0
#define SYM_AAPL  'A', 'A', 'P', 'L', ' ', ' ', ' ', ' '
#define SYM_NVDA  'N', 'V', 'D', 'A', ' ', ' ', ' ', ' '
#define SYM_ZVZZT 'Z', 'V', 'Z', 'Z', 'T', ' ', ' ', ' '
#define SYM_SPOF  'S', 'P', 'O', 'F', ' ', ' ', ' ', ' '

/* One lsn per message, so a message's lsn is its own. */
#define LSN_B     0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08
#define LSN_D     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
#define LSN_A     0xf1, 0xe2, 0xd3, 0xc4, 0xb5, 0xa6, 0x97, 0x88
#define LSN_M     0xf1, 0xe2, 0xd3, 0xc4, 0xb5, 0xa6, 0x97, 0x89
#define LSN_W     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01
#define LSN_L     0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
#define LSN_T     0x7f, 0x6e, 0x5d, 0x4c, 0x3b, 0x2a, 0x19, 0x08

static const uint8_t b_wire[] = {
	HDR('B', LSN_B, NO_SYMBOL),
	0x12, 0x34, 0x56, 0x78,                         /* 56+0  bid price */
	0x9a, 0xbc, 0xde, 0xf0,                         /* 56+4  ask price */
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* 56+8  bid shares */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+16 ask shares */
	0x11, 0x22, 0x33, 0x44,                         /* 56+24 bid orders */
	0x55, 0x66, 0x77, 0x88,                         /* 56+28 ask orders */
	0xa1, 0xb2,                                     /* 56+32 locate */
};
_Static_assert(sizeof(b_wire) == 90, "B is 90 bytes");

static const uint8_t d_wire[] = {
	HDR('D', LSN_D, NO_SYMBOL),
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, /* 56+0  txn id */
	0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, /* 56+8  payer */
	0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf8, /* 56+16 amount -0x0102030405060708 */
	0x80, 0x70, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, /* 56+24 merchant */
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, /* 56+32 device */
	0xc0, 0xd0, 0xe0, 0xf1,                         /* 56+40 reasons */
	0x1f, 0x2e,                                     /* 56+44 score */
	0x03,                                           /* 56+46 action: block */
	0x09,                                           /* 56+47 flags: out of order, later than grace */
	0x15, 0x23,                                     /* 56+48 mcc 5411 */
	'I', 'N', 'R',                                  /* 56+50 currency */
};
_Static_assert(sizeof(d_wire) == 109, "D is 109 bytes");

static const uint8_t a_wire[] = {
	HDR('A', LSN_A, SYM_AAPL),
	0x16, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0x06, /* 56+0  first time */
	0x16, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0xff, /* 56+8  last time */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+16 measure 0: -1 */
	0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 56+24 measure 1: INT64_MIN */
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+32 measure 2: INT64_MAX */
	0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf8, /* 56+40 measure 3: -0x0102030405060708 */
	0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe, /* 56+48 first record's feed sequence number */
	0x01, 0x02, 0x03, 0x04,                         /* 56+56 events */
	0x04,                                           /* 56+60 measure count */
	0x0a,                                           /* 56+61 null mask */
	0x01,                                           /* 56+62 timeout */
	0x07,                                           /* 56+63 first record's feed */
};
_Static_assert(sizeof(a_wire) == 120, "A is 120 bytes");

/*
 * The refs, from the document's layout: bit 63 clear, a message (feed in bits 56..62, sequence
 * number in bits 0..55); set, a window's result (bit 62 late, index in bits 56..61, end in 0..55).
 */
static const uint8_t m_wire[] = {
	HDR('M', LSN_M, SYM_SPOF),
	0x02, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, /* 56+0  ref 0: feed 2, seq 0xa1b2c3d4e5f607 */
	0xc5, 0x17, 0xb0, 0xc1, 0xd2, 0xe3, 0xf4, 0x05, /* 56+8  ref 1: window 5, late, end 0x17b0c1d2e3f405 */
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+16 ref 2: feed 127, seq 2^56 - 1 */
	0xbf, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, /* 56+24 ref 3: window 63, on time, end 0xfedcba98765432 */
	0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 56+32 ref 4: window 0, on time, end past 2^56: 0 */
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, /* 56+40 ref 5: feed 0, seq 0x01020304050607 */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+48 ref 6: window 63, late, end 2^56 - 1 */
	0x07,                                           /* 56+56 refs in this part */
	0x01,                                           /* 56+57 part */
	0x03,                                           /* 56+58 parts */
};
_Static_assert(sizeof(m_wire) == 115, "M is 115 bytes");

static const uint8_t w_wire[] = {
	HDR('W', LSN_W, SYM_NVDA),
	0x17, 0xb0, 0xc1, 0xd2, 0xe3, 0xf4, 0x05, 0x16, /* 56+0  start */
	0x17, 0xb0, 0xc1, 0xd2, 0xe3, 0xf4, 0x05, 0x17, /* 56+8  end */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* 56+16 aggregate 0: -2 */
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* 56+24 aggregate 1 */
	0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 56+32 aggregate 2: INT64_MIN */
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+40 aggregate 3: INT64_MAX */
	0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf8, /* 56+48 aggregate 4: -0x0102030405060708 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 56+56 aggregate 5: 0 */
};
_Static_assert(sizeof(w_wire) == 120, "W is 120 bytes");

static const uint8_t l_wire[] = {
	HDR('L', LSN_L, SYM_ZVZZT),
	0x18, 0xc1, 0xd2, 0xe3, 0xf4, 0x05, 0x16, 0x27, /* 56+0  window end */
	0x18, 0xc1, 0xd2, 0xe3, 0xf4, 0x05, 0x16, 0x00, /* 56+8  watermark */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+16 the record's time */
	0xfe,                                           /* 56+24 window index */
};
_Static_assert(sizeof(l_wire) == 81, "L is 81 bytes");

static const uint8_t t_wire[] = {
	HDR('T', LSN_T, NO_SYMBOL),
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, /* 56+0  v[0] */
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, /* 56+8  v[1] */
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* 56+16 v[2] */
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* 56+24 v[3] */
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, /* 56+32 v[4] */
	0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, /* 56+40 v[5] */
	0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, /* 56+48 v[6] */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 56+56 v[7] */
};
_Static_assert(sizeof(t_wire) == 120, "T is 120 bytes");

/* The output every message above is the form of: the header values, then `type` and `symbol`. */
static void fill_header(struct dd_output *o, unsigned type, const char *symbol)
{
	memset(o, OUT_FILL, sizeof(*o)); /* reserved, rx_tsc and the pads keep this */
	o->type = (uint16_t)type;
	o->op = OP;
	o->source = FEED;
	o->rule = RULE;
	o->rule_version = RULE_VERSION;
	o->key = KEY;
	o->shard = SHARD;
	o->flags = FLAGS;
	o->seq = SEQ;
	o->event_ns = EVENT_NS;
	o->cause = CAUSE;
	if (symbol)
		memcpy(o->symbol, symbol, sizeof(o->symbol));
	else
		memset(o->symbol, 0, sizeof(o->symbol));
}

static void fill_bbo(struct dd_output *o)
{
	fill_header(o, DD_OUT_BBO, NULL);
	o->u.bbo.bid_price = 0x12345678u;
	o->u.bbo.ask_price = 0x9abcdef0u;
	o->u.bbo.bid_shares = 0x0102030405060708ull;
	o->u.bbo.ask_shares = UINT64_MAX;
	o->u.bbo.bid_orders = 0x11223344u;
	o->u.bbo.ask_orders = 0x55667788u;
	o->u.bbo.locate = 0xa1b2;
}

static void fill_decision(struct dd_output *o)
{
	fill_header(o, DD_OUT_DECISION, NULL);
	o->u.decision.txn_id = 0xfedcba9876543210ull;
	o->u.decision.payer = 0x0f1e2d3c4b5a6978ull;
	o->u.decision.amount = -0x0102030405060708ll;
	o->u.decision.merchant = 0x8070605040302010ull;
	o->u.decision.device = 0xa0a1a2a3a4a5a6a7ull;
	o->u.decision.reasons = 0xc0d0e0f1u;
	o->u.decision.score = 0x1f2e;
	o->u.decision.action = 3;
	o->u.decision.flags = DD_DECISION_OUT_OF_ORDER | DD_DECISION_TOO_LATE;
	o->u.decision.mcc = 5411;
	memcpy(o->u.decision.currency, "INR", 3);
}

static void fill_alert(struct dd_output *o)
{
	fill_header(o, DD_OUT_ALERT, "AAPL    ");
	o->u.alert.first_ns = 0x16a0b1c2d3e4f506ull;
	o->u.alert.last_ns = 0x16a0b1c2d3e4f5ffull;
	o->u.alert.measure[0] = -1;
	o->u.alert.measure[1] = INT64_MIN;
	o->u.alert.measure[2] = INT64_MAX;
	o->u.alert.measure[3] = -0x0102030405060708ll;
	o->u.alert.first_seq = 0xdeadbeefcafebabeull;
	o->u.alert.events = 0x01020304u;
	o->u.alert.nmeasures = 4;
	o->u.alert.null_mask = 0x0a;
	o->u.alert.timeout = 1;
	o->u.alert.first_feed = 7;
}

/* The refs built with ops/output.h's helpers: the hand-built bytes above check them too. */
static void fill_matched(struct dd_output *o)
{
	fill_header(o, DD_OUT_MATCHED, "SPOF    ");
	o->u.matched.ref[0] = dd_ref_message(2, 0x00a1b2c3d4e5f607ull);
	o->u.matched.ref[1] = dd_ref_window(5, true, 0x0017b0c1d2e3f405ull);
	o->u.matched.ref[2] = dd_ref_message(127, DD_REF_LOW);
	o->u.matched.ref[3] = dd_ref_window(63, false, 0x00fedcba98765432ull);
	o->u.matched.ref[4] = dd_ref_window(0, false, DD_REF_LOW + 1);
	o->u.matched.ref[5] = dd_ref_message(0, 0x0001020304050607ull);
	o->u.matched.ref[6] = dd_ref_window(63, true, DD_REF_LOW);
	o->u.matched.n = 7;
	o->u.matched.part = 1;
	o->u.matched.parts = 3;
}

static void fill_window(struct dd_output *o)
{
	fill_header(o, DD_OUT_WINDOW, "NVDA    ");
	o->u.window.start_ns = 0x17b0c1d2e3f40516ull;
	o->u.window.end_ns = 0x17b0c1d2e3f40517ull;
	o->u.window.value[0] = -2;
	o->u.window.value[1] = 0x0123456789abcdefll;
	o->u.window.value[2] = INT64_MIN;
	o->u.window.value[3] = INT64_MAX;
	o->u.window.value[4] = -0x0102030405060708ll;
	o->u.window.value[5] = 0;
}

static void fill_late(struct dd_output *o)
{
	fill_header(o, DD_OUT_LATE, "ZVZZT   ");
	o->u.late.window_end = 0x18c1d2e3f4051627ull;
	o->u.late.watermark = 0x18c1d2e3f4051600ull;
	o->u.late.time = UINT64_MAX;
	o->u.late.window = 0xfe;
}

static void fill_test(struct dd_output *o)
{
	static const uint64_t v[8] = {
		0x0011223344556677ull, 0x8899aabbccddeeffull, 0x0102030405060708ull, 0x1112131415161718ull,
		0x2122232425262728ull, 0x3132333435363738ull, 0x4142434445464748ull, UINT64_MAX,
	};

	fill_header(o, DD_OUT_TEST, NULL);
	memcpy(o->u.test.v, v, sizeof(v));
}

/* Zero every byte of `o` a message does not carry: reserved, rx_tsc and the body's pad. */
static void strip_uncarried(struct dd_output *o)
{
	memset(o->reserved, 0, sizeof(o->reserved));
	o->rx_tsc = 0;
	switch (o->type) {
	case DD_OUT_BBO: memset(o->u.bbo.pad, 0, sizeof(o->u.bbo.pad)); break;
	case DD_OUT_DECISION: memset(o->u.decision.pad, 0, sizeof(o->u.decision.pad)); break;
	case DD_OUT_LATE: memset(o->u.late.pad, 0, sizeof(o->u.late.pad)); break;
	case DD_OUT_MATCHED: memset(o->u.matched.pad, 0, sizeof(o->u.matched.pad)); break;
	default: break; /* alert, window, test: the body is all fields */
	}
}

struct msg_case {
	unsigned type;
	uint8_t letter;
	uint64_t lsn;
	const uint8_t *wire;
	size_t len;
	void (*fill)(struct dd_output *o);
};

/* Every hand-built message, in the document's order. */
static const struct msg_case cases[] = {
	{ DD_OUT_BBO, 'B', 0x0102030405060708ull, b_wire, sizeof(b_wire), fill_bbo },
	{ DD_OUT_DECISION, 'D', UINT64_MAX, d_wire, sizeof(d_wire), fill_decision },
	{ DD_OUT_ALERT, 'A', 0xf1e2d3c4b5a69788ull, a_wire, sizeof(a_wire), fill_alert },
	{ DD_OUT_MATCHED, 'M', 0xf1e2d3c4b5a69789ull, m_wire, sizeof(m_wire), fill_matched },
	{ DD_OUT_WINDOW, 'W', 1, w_wire, sizeof(w_wire), fill_window },
	{ DD_OUT_LATE, 'L', 0x8000000000000000ull, l_wire, sizeof(l_wire), fill_late },
	{ DD_OUT_TEST, 'T', 0x7f6e5d4c3b2a1908ull, t_wire, sizeof(t_wire), fill_test },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static const struct msg_case *case_of(unsigned type)
{
	for (size_t i = 0; i < N_CASES; i++)
		if (cases[i].type == type)
			return &cases[i];
	fail_msg("no case for output type %u", type);
	return NULL;
}

/* `got` is `want`; on a difference, name the first offset that differs. */
static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len, uint8_t letter)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail_msg("'%c' byte %zu (body %+d): got 0x%02x, the document says 0x%02x", letter, i,
				 (int)i - DD_OUTW_HDR_LEN, got[i], want[i]);
}

/*
 * The output of `type` encodes to exactly its hand-built bytes (nothing written past them) and the
 * bytes decode back to the same output, with everything the message does not carry zero.
 */
static void check_round_trip(unsigned type)
{
	const struct msg_case *c = case_of(type);
	struct dd_output o, back, want;
	uint8_t buf[DD_OUTW_MAX_LEN + 16];
	uint64_t lsn = 0x5a5a5a5a5a5a5a5aull;

	c->fill(&o);
	memset(buf, BUF_FILL, sizeof(buf));
	assert_int_equal(dd_outw_encode(buf, c->lsn, &o), c->len);
	assert_bytes(buf, c->wire, c->len, c->letter);
	for (size_t i = c->len; i < sizeof(buf); i++)
		assert_int_equal(buf[i], BUF_FILL);

	memset(&back, 0xaa, sizeof(back));
	assert_int_equal(dd_outw_decode(c->wire, c->len, &lsn, &back), 0);
	assert_true(lsn == c->lsn);
	want = o;
	strip_uncarried(&want);
	assert_true(dd_output_same(&back, &want));
	assert_memory_equal(&back, &want, sizeof(want)); /* rx_tsc, reserved and pads zero too */
}

static void test_bbo_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_BBO);
}

static void test_decision_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_DECISION);
}

static void test_alert_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_ALERT);
}

static void test_matched_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_MATCHED);
}

static void test_window_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_WINDOW);
}

static void test_late_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_LATE);
}

static void test_test_encodes_to_the_documented_bytes_and_decodes_back(void **state)
{
	(void)state;
	check_round_trip(DD_OUT_TEST);
}

/* Spot checks of single fields, straight from the document's table, independent of the arrays. */
static void test_fields_sit_at_the_documented_offsets(void **state)
{
	struct dd_output o;
	uint8_t buf[DD_OUTW_MAX_LEN];

	(void)state;
	fill_bbo(&o);
	assert_int_equal(dd_outw_encode(buf, 0x0102030405060708ull, &o), 90);
	assert_int_equal(buf[0], 'B');
	assert_int_equal(buf[1], 1);
	assert_memory_equal(buf + 2, ((const uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8 }), 8); /* lsn */
	assert_memory_equal(buf + 34, ((const uint8_t[]){ 0xc9, 0x05 }), 2);            /* op, feed */
	assert_memory_equal(buf + 44, ((const uint8_t[]){ 0x32, 0x33, 0x34, 0x35 }), 4); /* key */
	assert_memory_equal(buf + 48, ((const uint8_t[8]){ 0 }), 8);                     /* no symbol */
	assert_memory_equal(buf + 56, ((const uint8_t[]){ 0x12, 0x34, 0x56, 0x78 }), 4); /* bid price */
	assert_memory_equal(buf + 88, ((const uint8_t[]){ 0xa1, 0xb2 }), 2);             /* locate */

	fill_decision(&o);
	assert_int_equal(dd_outw_encode(buf, UINT64_MAX, &o), 109);
	assert_int_equal(buf[0], 'D');
	assert_memory_equal(buf + 2, ((const uint8_t[8]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }), 8);
	assert_memory_equal(buf + 72, ((const uint8_t[]){ 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf8 }), 8);
	assert_int_equal(buf[102], 3); /* action */
	assert_memory_equal(buf + 106, "INR", 3);

	fill_alert(&o);
	assert_int_equal(dd_outw_encode(buf, 9, &o), 120);
	assert_memory_equal(buf + 48, "AAPL    ", 8);
	assert_memory_equal(buf + 80, ((const uint8_t[]){ 0x80, 0, 0, 0, 0, 0, 0, 0 }), 8); /* measure 1 */
	assert_int_equal(buf[116], 4); /* measure count */
	assert_int_equal(buf[119], 7); /* first record's feed */

	fill_late(&o);
	assert_int_equal(dd_outw_encode(buf, 9, &o), 81);
	assert_memory_equal(buf + 48, "ZVZZT   ", 8);
	assert_int_equal(buf[80], 0xfe); /* window index */

	fill_matched(&o);
	assert_int_equal(dd_outw_encode(buf, 9, &o), 115);
	assert_int_equal(buf[0], 'M');
	assert_memory_equal(buf + 48, "SPOF    ", 8);
	assert_memory_equal(buf + 56, ((const uint8_t[]){ 0x02, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07 }), 8);
	assert_int_equal(buf[64], 0xc5); /* ref 1: a window's result (bit 63), late (62), index 5 */
	assert_memory_equal(buf + 104, ((const uint8_t[8]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }), 8);
	assert_int_equal(buf[112], 7); /* refs in this part */
	assert_int_equal(buf[113], 1); /* part */
	assert_int_equal(buf[114], 3); /* parts */

	/* the refs of the hand-built bytes, read back through ops/output.h's helpers */
	uint64_t lsn;
	assert_int_equal(dd_outw_decode(m_wire, sizeof(m_wire), &lsn, &o), 0);
	const uint64_t *ref = o.u.matched.ref;
	assert_false(dd_ref_is_window(ref[0]));
	assert_int_equal(dd_ref_feed(ref[0]), 2);
	assert_true(dd_ref_low(ref[0]) == 0x00a1b2c3d4e5f607ull);
	assert_true(dd_ref_is_window(ref[1]) && dd_ref_late(ref[1]));
	assert_int_equal(dd_ref_window_index(ref[1]), 5);
	assert_true(dd_ref_low(ref[1]) == 0x0017b0c1d2e3f405ull);
	assert_false(dd_ref_is_window(ref[2]));
	assert_int_equal(dd_ref_feed(ref[2]), 127);
	assert_true(dd_ref_low(ref[2]) == DD_REF_LOW);
	assert_true(dd_ref_is_window(ref[3]) && !dd_ref_late(ref[3]));
	assert_int_equal(dd_ref_window_index(ref[3]), 63);
	assert_true(dd_ref_is_window(ref[4]) && dd_ref_window_index(ref[4]) == 0 && dd_ref_low(ref[4]) == 0);
	assert_true(!dd_ref_is_window(ref[5]) && dd_ref_feed(ref[5]) == 0);
}

static void test_len_and_letter_match_the_documented_table(void **state)
{
	static const unsigned never[] = { DD_OUT_NONE, DD_OUT_TRADE, DD_OUT__COUNT, 0xffff, UINT_MAX };

	(void)state;
	assert_int_equal(dd_outw_letter(DD_OUT_BBO), 'B');
	assert_int_equal(dd_outw_len(DD_OUT_BBO), 90);
	assert_int_equal(dd_outw_letter(DD_OUT_DECISION), 'D');
	assert_int_equal(dd_outw_len(DD_OUT_DECISION), 109);
	assert_int_equal(dd_outw_letter(DD_OUT_ALERT), 'A');
	assert_int_equal(dd_outw_len(DD_OUT_ALERT), 120);
	assert_int_equal(dd_outw_letter(DD_OUT_MATCHED), 'M');
	assert_int_equal(dd_outw_len(DD_OUT_MATCHED), 115); /* 56 + 59 */
	assert_int_equal(dd_outw_letter(DD_OUT_WINDOW), 'W');
	assert_int_equal(dd_outw_len(DD_OUT_WINDOW), 120);
	assert_int_equal(dd_outw_letter(DD_OUT_LATE), 'L');
	assert_int_equal(dd_outw_len(DD_OUT_LATE), 81);
	assert_int_equal(dd_outw_letter(DD_OUT_TEST), 'T');
	assert_int_equal(dd_outw_len(DD_OUT_TEST), 120);
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		assert_int_equal(dd_outw_letter(never[i]), 0);
		assert_int_equal(dd_outw_len(never[i]), 0);
	}
	assert_int_equal(DD_OUTW_HDR_LEN, 56);
	assert_int_equal(DD_OUTW_MAX_LEN, 120);
	assert_int_equal(DD_OUTW_VERSION, 1);
}

static void test_encode_of_a_type_never_sent_returns_0_and_writes_nothing(void **state)
{
	static const uint16_t never[] = { DD_OUT_NONE, DD_OUT_TRADE, DD_OUT__COUNT, 0xffff };
	uint8_t buf[DD_OUTW_MAX_LEN], fill[DD_OUTW_MAX_LEN];
	struct dd_output o;

	(void)state;
	memset(fill, BUF_FILL, sizeof(fill));
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		fill_test(&o);
		o.type = never[i];
		memcpy(buf, fill, sizeof(buf));
		assert_int_equal(dd_outw_encode(buf, 1, &o), 0);
		assert_memory_equal(buf, fill, sizeof(buf));
	}
}

/* Decoding `len` bytes of `msg` fails with `err` and leaves *o and *lsn as they were. */
static void assert_rejected(const uint8_t *msg, size_t len, int err)
{
	struct dd_output o, fill;
	uint64_t lsn = 0x5a5a5a5a5a5a5a5aull;

	memset(&fill, 0xaa, sizeof(fill));
	o = fill;
	assert_int_equal(dd_outw_decode(msg, len, &lsn, &o), err);
	assert_memory_equal(&o, &fill, sizeof(o));
	assert_true(lsn == 0x5a5a5a5a5a5a5a5aull);
}

static void test_shorter_than_the_header_is_short(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CASES; i++)
		for (size_t len = 0; len < DD_OUTW_HDR_LEN; len++)
			assert_rejected(cases[i].wire, len, DD_OUTW_SHORT);
}

static void test_a_letter_no_output_has_is_bad_type(void **state)
{
	uint8_t msg[DD_OUTW_MAX_LEN];
	unsigned n = 0;

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		if (memchr("BDAWLTM", (int)c, 7))
			continue;
		/* at the length of each type, and header only: the letter alone decides */
		for (size_t i = 0; i < N_CASES; i++) {
			memcpy(msg, cases[i].wire, cases[i].len);
			msg[0] = (uint8_t)c;
			assert_rejected(msg, cases[i].len, DD_OUTW_BAD_TYPE);
			assert_rejected(msg, DD_OUTW_HDR_LEN, DD_OUTW_BAD_TYPE);
		}
		n++;
	}
	assert_int_equal(n, 249);

	/* the internal trade output (type 7) has no letter: neither its number nor a guess is one */
	static const uint8_t internal[] = { DD_OUT_TRADE, DD_OUT_BBO, DD_OUT_TEST, 'E', 'P', 'b', 't', 0 };
	for (size_t k = 0; k < sizeof(internal); k++) {
		memcpy(msg, t_wire, sizeof(t_wire));
		msg[0] = internal[k];
		assert_rejected(msg, sizeof(t_wire), DD_OUTW_BAD_TYPE);
	}
}

static void test_a_version_other_than_1_is_bad_version(void **state)
{
	uint8_t msg[DD_OUTW_MAX_LEN];

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		for (unsigned v = 0; v < 256; v++) {
			if (v == 1)
				continue;
			memcpy(msg, cases[i].wire, cases[i].len);
			msg[1] = (uint8_t)v;
			assert_rejected(msg, cases[i].len, DD_OUTW_BAD_VERSION);
		}
	}
}

static void test_one_byte_short_or_long_is_bad_length(void **state)
{
	uint8_t msg[DD_OUTW_MAX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < N_CASES; i++) {
		memset(msg, 0, sizeof(msg));
		memcpy(msg, cases[i].wire, cases[i].len);
		assert_rejected(msg, cases[i].len - 1, DD_OUTW_BAD_LENGTH);
		assert_rejected(msg, cases[i].len + 1, DD_OUTW_BAD_LENGTH);
		assert_rejected(msg, DD_OUTW_HDR_LEN, DD_OUTW_BAD_LENGTH); /* the header alone */
	}
	/* another type's length: a 'B' of 109 and 120 bytes, an 'L' of 90, an 'M' of an alert's 120 */
	memcpy(msg, b_wire, sizeof(b_wire));
	assert_rejected(msg, 109, DD_OUTW_BAD_LENGTH);
	assert_rejected(msg, 120, DD_OUTW_BAD_LENGTH);
	memcpy(msg, l_wire, sizeof(l_wire));
	assert_rejected(msg, 90, DD_OUTW_BAD_LENGTH);
	memset(msg, 0, sizeof(msg));
	memcpy(msg, m_wire, sizeof(m_wire));
	assert_rejected(msg, 120, DD_OUTW_BAD_LENGTH);
}

static void test_strerror_names_every_error(void **state)
{
	static const int errs[] = { DD_OUTW_SHORT, DD_OUTW_BAD_TYPE, DD_OUTW_BAD_VERSION, DD_OUTW_BAD_LENGTH };
	const size_t n = sizeof(errs) / sizeof(errs[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const char *s = dd_outw_strerror(errs[i]);
		assert_non_null(s);
		assert_true(s[0] != '\0');
		assert_string_not_equal(s, "?");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, dd_outw_strerror(errs[j]));
	}
	assert_non_null(dd_outw_strerror(-99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bbo_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_decision_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_alert_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_matched_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_window_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_late_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_test_encodes_to_the_documented_bytes_and_decodes_back),
		cmocka_unit_test(test_fields_sit_at_the_documented_offsets),
		cmocka_unit_test(test_len_and_letter_match_the_documented_table),
		cmocka_unit_test(test_encode_of_a_type_never_sent_returns_0_and_writes_nothing),
		cmocka_unit_test(test_shorter_than_the_header_is_short),
		cmocka_unit_test(test_a_letter_no_output_has_is_bad_type),
		cmocka_unit_test(test_a_version_other_than_1_is_bad_version),
		cmocka_unit_test(test_one_byte_short_or_long_is_bad_length),
		cmocka_unit_test(test_strerror_names_every_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
