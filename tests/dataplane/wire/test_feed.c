/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/wire/feed.c: which line a datagram belongs to, and MoldUDP64 datagrams in,
 * canonical events out through a sink.
 *
 * MoldUDP64 framing is built here byte by byte; the ITCH messages inside are encoded with
 * dd_itch_encode() (tested in test_itch.c) from values chosen so that every field differs. The sink
 * copies what each flush hands it into an array, so a test sees the events in delivery order and
 * the size of every flush.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/wire/be.h"
#include "dataplane/wire/feed.h"
#include "dataplane/wire/itch.h"
#include "dataplane/wire/moldudp64.h"
#include "ops/event.h"

#define SESSION "SESSION001"
#define LOCATE 0x0a1bu
#define TS_BASE 0x3e4f5a6b0000ull /* ns since midnight; each message adds its own offset */

/* ---- datagrams ---------------------------------------------------------------------------------- */

struct dgram {
	uint8_t b[4096];
	size_t len;
	uint16_t count;
};

static struct dgram *dg_begin_session(struct dgram *d, const char *session, uint64_t seq)
{
	memcpy(d->b, session, DD_MOLD_SESSION_LEN);
	dd_st_be64(d->b + 10, seq);
	dd_st_be16(d->b + 18, 0);
	d->len = DD_MOLD_HDR_LEN;
	d->count = 0;
	return d;
}

static struct dgram *dg_begin(struct dgram *d, uint64_t seq)
{
	return dg_begin_session(d, SESSION, seq);
}

/* Append one message of `len` raw bytes. */
static void dg_raw(struct dgram *d, const uint8_t *m, uint16_t len)
{
	assert_true(d->len + 2 + len <= sizeof(d->b));
	dd_st_be16(d->b + d->len, len);
	memcpy(d->b + d->len + 2, m, len);
	d->len += 2 + (size_t)len;
	d->count++;
	dd_st_be16(d->b + 18, d->count);
}

/* Append an encoded ITCH message, cut to `len` bytes (0: its full length) or padded with zeros. */
static void dg_msg_len(struct dgram *d, const struct dd_itch_msg *m, size_t len)
{
	uint8_t buf[128];
	memset(buf, 0, sizeof(buf));
	int n = dd_itch_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	dg_raw(d, buf, (uint16_t)(len ? len : (size_t)n));
}

static void dg_msg(struct dgram *d, const struct dd_itch_msg *m)
{
	dg_msg_len(d, m, 0);
}

/* ---- ITCH messages ------------------------------------------------------------------------------ */

static struct dd_itch_msg m_add(uint64_t ref, char side, uint32_t shares, uint32_t price)
{
	struct dd_itch_msg m;
	memset(&m, 0, sizeof(m));
	m.type = 'A';
	m.locate = LOCATE;
	m.tracking = 0x2c3d;
	m.timestamp = TS_BASE + (ref & 0xffff); /* 48 bits on the wire */
	m.u.add.ref = ref;
	m.u.add.side = (uint8_t)side;
	m.u.add.shares = shares;
	memcpy(m.u.add.stock, "MSFT    ", 8);
	m.u.add.price = price;
	memcpy(m.u.add.attribution, "    ", 4);
	return m;
}

static struct dd_itch_msg m_add_mpid(uint64_t ref)
{
	struct dd_itch_msg m = m_add(ref, 'S', 300, 2000000);
	m.type = 'F';
	memcpy(m.u.add.attribution, "GSCO", 4);
	return m;
}

static struct dd_itch_msg m_del(uint64_t ref)
{
	struct dd_itch_msg m;
	memset(&m, 0, sizeof(m));
	m.type = 'D';
	m.locate = LOCATE;
	m.timestamp = TS_BASE + 0x100 + ref;
	m.u.del.ref = ref;
	return m;
}

static struct dd_itch_msg m_exec(uint64_t ref, uint32_t shares, uint64_t match)
{
	struct dd_itch_msg m;
	memset(&m, 0, sizeof(m));
	m.type = 'E';
	m.locate = LOCATE;
	m.timestamp = TS_BASE + 0x200 + ref;
	m.u.exec.ref = ref;
	m.u.exec.shares = shares;
	m.u.exec.match = match;
	return m;
}

static struct dd_itch_msg m_noii(void)
{
	struct dd_itch_msg m;
	memset(&m, 0, sizeof(m));
	m.type = 'I';
	m.locate = LOCATE;
	m.timestamp = TS_BASE + 0x300;
	m.u.noii.paired_shares = 1000;
	m.u.noii.direction = 'B';
	memcpy(m.u.noii.stock, "MSFT    ", 8);
	return m;
}

static struct dd_itch_msg m_participant(void)
{
	struct dd_itch_msg m;
	memset(&m, 0, sizeof(m));
	m.type = 'L';
	m.locate = LOCATE;
	m.timestamp = TS_BASE + 0x400;
	memcpy(m.u.participant.mpid, "GSCO", 4);
	memcpy(m.u.participant.stock, "MSFT    ", 8);
	m.u.participant.primary_market_maker = 'Y';
	m.u.participant.market_maker_mode = 'N';
	m.u.participant.participant_state = 'A';
	return m;
}

/* ---- fixture: a feed and a sink that records what it is handed ---------------------------------- */

#define MAX_GOT 256
#define MAX_FLUSH 64

struct fx {
	struct dd_feed f;
	struct dd_sink sink;
	struct dd_event buf[32];
	struct dd_event got[MAX_GOT];
	size_t ngot;
	unsigned flushes[MAX_FLUSH]; /* n at each flush */
	size_t nflush;
};

static _Alignas(64) uint8_t g_mem[10 * (DD_MOLD_MAX_DATAGRAM + 256)];
static struct fx g_fx;

static void record_flush(struct dd_sink *s)
{
	struct fx *x = s->ctx;
	assert_ptr_equal(s->ev, x->buf);
	assert_true(s->n <= s->cap);
	assert_true(x->nflush < MAX_FLUSH);
	x->flushes[x->nflush++] = s->n;
	assert_true(x->ngot + s->n <= MAX_GOT);
	memcpy(&x->got[x->ngot], s->ev, s->n * sizeof(struct dd_event));
	x->ngot += s->n;
	s->n = 0;
}

static struct fx *fx_init(unsigned index, const struct dd_feed_cfg *cfg, unsigned window, uint64_t timeout,
			  unsigned cap)
{
	struct dd_mold_params mp = { .reorder_window = window, .reorder_timeout = timeout };
	struct dd_feed_cfg catch_all = { .name = "all" };
	struct fx *x = &g_fx;

	memset(x, 0, sizeof(*x));
	assert_true(dd_feed_memsize(&mp) > 0);
	assert_true(dd_feed_memsize(&mp) <= sizeof(g_mem));
	assert_int_equal(dd_feed_init(&x->f, index, cfg ? cfg : &catch_all, &mp, g_mem, sizeof(g_mem)), 0);
	assert_true(cap <= sizeof(x->buf) / sizeof(x->buf[0]));
	memset(x->buf, 0xee, sizeof(x->buf));
	x->sink = (struct dd_sink){ .ev = x->buf, .n = 0, .cap = cap, .flush = record_flush, .ctx = x };
	return x;
}

static void rx(struct fx *x, const struct dgram *d, unsigned line, uint64_t tsc)
{
	dd_feed_rx(&x->f, d->b, d->len, line, tsc, &x->sink);
	assert_int_equal(x->sink.n, 0); /* everything decoded was flushed before rx returned */
}

static void assert_got_seqs(const struct fx *x, const uint64_t *seq, size_t n)
{
	assert_int_equal(x->ngot, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(x->got[i].seq, seq[i]);
}

static void assert_flushes(const struct fx *x, const unsigned *sizes, size_t n)
{
	assert_int_equal(x->nflush, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(x->flushes[i], sizes[i]);
}

/* ---- init --------------------------------------------------------------------------------------- */

static void test_init_rejects_index_above_255_and_more_than_four_lines(void **state)
{
	(void)state;
	struct dd_mold_params mp = { .reorder_window = 2 };
	struct dd_feed_cfg cfg = { .name = "a", .nlines = 1, .line = { { 1, 2, DD_ANY_PORT } } };
	struct dd_feed f;

	assert_int_equal(dd_feed_memsize(&mp), dd_mold_session_memsize(&mp));
	assert_int_equal(dd_feed_init(&f, 256, &cfg, &mp, g_mem, sizeof(g_mem)), -EINVAL);
	cfg.nlines = DD_MOLD_MAX_LINES + 1;
	assert_int_equal(dd_feed_init(&f, 0, &cfg, &mp, g_mem, sizeof(g_mem)), -EINVAL);
	cfg.nlines = DD_MOLD_MAX_LINES;
	assert_int_equal(dd_feed_init(&f, 0, &cfg, &mp, g_mem, dd_feed_memsize(&mp) - 1), -EINVAL);
	mp.reorder_window = DD_MOLD_MAX_WINDOW + 1;
	assert_int_equal(dd_feed_init(&f, 0, &cfg, &mp, g_mem, sizeof(g_mem)), -EINVAL);
	mp.reorder_window = 2;
	assert_int_equal(dd_feed_init(&f, 255, &cfg, &mp, g_mem, sizeof(g_mem)), 0);
	assert_int_equal(f.index, 255);
	assert_string_equal(f.cfg.name, "a");
	assert_int_equal(f.cfg.nlines, DD_MOLD_MAX_LINES);
	assert_int_equal(f.learned, 0);
	assert_int_equal(f.itch.events, 0);
	assert_int_equal(f.mold.next_seq, 1);
}

/* ---- decoding ----------------------------------------------------------------------------------- */

static void test_add_becomes_one_event_with_source_seq_rx_time_and_payload(void **state)
{
	(void)state;
	struct fx *x = fx_init(3, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg m = m_add(0x0102030405060708ull, 'B', 100, 1234500);

	dg_begin(&d, 1);
	dg_msg(&d, &m);
	rx(x, &d, 0, 777);

	assert_int_equal(x->ngot, 1);
	const struct dd_event *e = &x->got[0];
	assert_int_equal(e->type, DD_EV_ADD);
	assert_int_equal(e->source, 3);
	assert_int_equal(e->msg, 'A');
	assert_int_equal(e->flags, 0);
	assert_int_equal(e->key, LOCATE);
	assert_int_equal(e->seq, 1);
	assert_int_equal(e->event_ns, TS_BASE + 0x0708);
	assert_int_equal(e->rx_tsc, 777);
	assert_int_equal(e->u.add.ref, 0x0102030405060708ull);
	assert_int_equal(e->u.add.side, 'B');
	assert_int_equal(e->u.add.shares, 100);
	assert_int_equal(e->u.add.price, 1234500);
	assert_memory_equal(e->u.add.stock, "MSFT    ", 8);
	assert_memory_equal(e->u.add.mpid, "    ", 4);
	assert_int_equal(x->f.itch.messages['A'], 1);
	assert_int_equal(x->f.itch.events, 1);
	assert_int_equal(x->f.mold.stats.delivered, 1);
	assert_int_equal(x->f.mold.next_seq, 2);
	const unsigned fl[] = { 1 };
	assert_flushes(x, fl, 1);
}

static void test_each_message_carries_its_own_sequence_number_and_payload(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 16);
	struct dgram d;
	struct dd_itch_msg a1 = m_add(11, 'B', 100, 1000000), a2 = m_add(12, 'S', 200, 1010000);
	struct dd_itch_msg e = m_exec(11, 40, 0x5566778899aabbccull), del = m_del(12), f = m_add_mpid(13);

	dg_begin(&d, 1);
	dg_msg(&d, &a1);
	dg_msg(&d, &a2);
	rx(x, &d, 0, 1000);
	dg_begin(&d, 3);
	dg_msg(&d, &e);
	dg_msg(&d, &del);
	dg_msg(&d, &f);
	rx(x, &d, 1, 2000);

	const uint64_t seqs[] = { 1, 2, 3, 4, 5 };
	assert_got_seqs(x, seqs, 5);
	assert_int_equal(x->got[0].type, DD_EV_ADD);
	assert_int_equal(x->got[0].u.add.ref, 11);
	assert_int_equal(x->got[0].rx_tsc, 1000);
	assert_int_equal(x->got[1].type, DD_EV_ADD);
	assert_int_equal(x->got[1].u.add.ref, 12);
	assert_int_equal(x->got[1].u.add.side, 'S');
	assert_int_equal(x->got[1].u.add.price, 1010000);
	assert_int_equal(x->got[1].rx_tsc, 1000);
	assert_int_equal(x->got[2].type, DD_EV_EXEC);
	assert_int_equal(x->got[2].msg, 'E');
	assert_int_equal(x->got[2].u.exec.ref, 11);
	assert_int_equal(x->got[2].u.exec.shares, 40);
	assert_int_equal(x->got[2].u.exec.match, 0x5566778899aabbccull);
	assert_int_equal(x->got[2].event_ns, TS_BASE + 0x200 + 11);
	assert_int_equal(x->got[2].rx_tsc, 2000);
	assert_int_equal(x->got[3].type, DD_EV_DELETE);
	assert_int_equal(x->got[3].u.del.ref, 12);
	assert_int_equal(x->got[4].type, DD_EV_ADD);
	assert_int_equal(x->got[4].msg, 'F');
	assert_memory_equal(x->got[4].u.add.mpid, "GSCO", 4);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(x->got[i].source, 0);
		assert_int_equal(x->got[i].key, LOCATE);
	}
	assert_int_equal(x->f.itch.messages['A'], 2);
	assert_int_equal(x->f.itch.messages['E'], 1);
	assert_int_equal(x->f.itch.messages['D'], 1);
	assert_int_equal(x->f.itch.messages['F'], 1);
	assert_int_equal(x->f.itch.events, 5);
	assert_int_equal(x->f.mold.stats.line[0].delivered, 2);
	assert_int_equal(x->f.mold.stats.line[1].delivered, 3);
	const unsigned fl[] = { 2, 3 };
	assert_flushes(x, fl, 2);
}

static void test_messages_without_a_book_event_are_counted_but_produce_none(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg i = m_noii(), l = m_participant(), a = m_add(7, 'B', 1, 1);

	dg_begin(&d, 1);
	dg_msg(&d, &i);
	dg_msg(&d, &l);
	dg_msg(&d, &i);
	rx(x, &d, 0, 10);
	assert_int_equal(x->ngot, 0);
	assert_int_equal(x->nflush, 0);
	assert_int_equal(x->f.itch.messages['I'], 2);
	assert_int_equal(x->f.itch.messages['L'], 1);
	assert_int_equal(x->f.itch.events, 0);
	assert_int_equal(x->f.mold.next_seq, 4);

	dg_begin(&d, 4);
	dg_msg(&d, &a);
	rx(x, &d, 0, 20);
	const uint64_t seqs[] = { 4 };
	assert_got_seqs(x, seqs, 1);
	assert_int_equal(x->f.mold.stats.gaps, 0);
}

static void test_unknown_bad_length_and_empty_messages_are_counted_and_sequence_advances(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a = m_add(1, 'B', 100, 1000000), del = m_del(1), a2 = m_add(2, 'S', 5, 5);
	const uint8_t unknown[5] = { 'z', 1, 2, 3, 4 };

	dg_begin(&d, 1);
	dg_msg(&d, &a);             /* 1 */
	dg_raw(&d, unknown, 5);     /* 2 unknown type */
	dg_msg_len(&d, &a, 35);     /* 3 A one byte short */
	dg_raw(&d, unknown, 0);     /* 4 empty */
	dg_msg_len(&d, &a, 37);     /* 5 A one byte long */
	dg_msg(&d, &del);           /* 6 */
	rx(x, &d, 0, 10);

	const uint64_t seqs[] = { 1, 6 };
	assert_got_seqs(x, seqs, 2);
	assert_int_equal(x->got[0].type, DD_EV_ADD);
	assert_int_equal(x->got[1].type, DD_EV_DELETE);
	assert_int_equal(x->f.itch.unknown, 1);
	assert_int_equal(x->f.itch.bad_length, 2);
	assert_int_equal(x->f.itch.empty, 1);
	assert_int_equal(x->f.itch.messages['A'], 1);
	assert_int_equal(x->f.itch.messages['D'], 1);
	assert_int_equal(x->f.itch.messages['z'], 0);
	assert_int_equal(x->f.itch.events, 2);
	assert_int_equal(x->f.mold.next_seq, 7);

	/* the skipped messages used up their sequence numbers: 7 is next, with no gap */
	dg_begin(&d, 7);
	dg_msg(&d, &a2);
	rx(x, &d, 0, 20);
	const uint64_t seqs2[] = { 1, 6, 7 };
	assert_got_seqs(x, seqs2, 3);
	assert_int_equal(x->f.mold.stats.gaps, 0);
	assert_int_equal(x->f.mold.nheld, 0);
}

static void test_duplicate_copy_produces_no_events_and_is_not_counted_again(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a = m_add(1, 'B', 100, 1000000);

	dg_begin(&d, 1);
	dg_msg(&d, &a);
	rx(x, &d, 0, 10);
	rx(x, &d, 1, 11); /* line B's copy */
	rx(x, &d, 0, 12); /* own-line duplicate */
	assert_int_equal(x->ngot, 1);
	assert_int_equal(x->nflush, 1);
	assert_int_equal(x->f.itch.messages['A'], 1);
	assert_int_equal(x->f.itch.events, 1);
	assert_int_equal(x->f.mold.stats.duplicates, 2);
	assert_int_equal(x->f.mold.stats.line[1].arb_dropped, 1);
	assert_int_equal(x->f.mold.stats.line[0].duplicates, 1);
}

static void test_malformed_heartbeat_and_bad_line_datagrams_produce_nothing(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a = m_add(1, 'B', 100, 1000000);

	dg_begin(&d, 1);
	dg_msg(&d, &a);
	rx(x, &d, DD_MOLD_MAX_LINES, 1); /* no such line */
	dd_feed_rx(&x->f, d.b, d.len - 1, 0, 2, &x->sink); /* message cut short */
	dg_begin(&d, 1);
	rx(x, &d, 0, 3); /* heartbeat */
	assert_int_equal(x->ngot, 0);
	assert_int_equal(x->nflush, 0);
	assert_int_equal(x->f.mold.stats.bad_line, 1);
	assert_int_equal(x->f.mold.stats.errors[DD_MOLD_ERR_MSG_OVERRUN], 1);
	assert_int_equal(x->f.mold.stats.heartbeats, 1);
	assert_int_equal(x->f.mold.next_seq, 1);
}

/* ---- flushing ----------------------------------------------------------------------------------- */

static void test_flush_is_called_at_the_end_of_every_datagram(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a1 = m_add(1, 'B', 1, 1), a2 = m_add(2, 'B', 1, 1), a3 = m_add(3, 'B', 1, 1);

	dg_begin(&d, 1);
	dg_msg(&d, &a1);
	rx(x, &d, 0, 1);
	assert_int_equal(x->nflush, 1);
	dg_begin(&d, 2);
	dg_msg(&d, &a2);
	dg_msg(&d, &a3);
	rx(x, &d, 0, 2);
	const unsigned fl[] = { 1, 2 };
	assert_flushes(x, fl, 2);
	const uint64_t seqs[] = { 1, 2, 3 };
	assert_got_seqs(x, seqs, 3);
}

static void test_flush_is_called_when_the_buffer_is_full(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 2);
	struct dgram d;

	dg_begin(&d, 1);
	for (uint64_t r = 1; r <= 5; r++) {
		struct dd_itch_msg a = m_add(r, 'B', (uint32_t)r, (uint32_t)r);
		dg_msg(&d, &a);
	}
	rx(x, &d, 0, 1);
	const unsigned fl[] = { 2, 2, 1 };
	assert_flushes(x, fl, 3);
	const uint64_t seqs[] = { 1, 2, 3, 4, 5 };
	assert_got_seqs(x, seqs, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(x->got[i].u.add.ref, i + 1);

	/* a datagram that fills the buffer exactly ends without an empty flush */
	dg_begin(&d, 6);
	for (uint64_t r = 6; r <= 9; r++) {
		struct dd_itch_msg a = m_add(r, 'B', (uint32_t)r, (uint32_t)r);
		dg_msg(&d, &a);
	}
	rx(x, &d, 0, 2);
	const unsigned fl2[] = { 2, 2, 1, 2, 2 };
	assert_flushes(x, fl2, 5);
	assert_int_equal(x->ngot, 9);
	assert_int_equal(x->got[8].seq, 9);
}

static void test_buffer_of_one_event_flushes_every_event(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 1);
	struct dgram d;
	struct dd_itch_msg a = m_add(1, 'B', 1, 1), i = m_noii(), del = m_del(1);

	dg_begin(&d, 1);
	dg_msg(&d, &a);
	dg_msg(&d, &i);
	dg_msg(&d, &del);
	rx(x, &d, 0, 1);
	const unsigned fl[] = { 1, 1 };
	assert_flushes(x, fl, 2);
	const uint64_t seqs[] = { 1, 3 };
	assert_got_seqs(x, seqs, 2);
}

/* ---- reordering --------------------------------------------------------------------------------- */

static void test_held_datagram_is_released_by_the_missing_one_in_sequence_order(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram early, late;
	struct dd_itch_msg a1 = m_add(1, 'B', 1, 1), a2 = m_add(2, 'B', 2, 2);
	struct dd_itch_msg a3 = m_add(3, 'S', 3, 3), a4 = m_add(4, 'S', 4, 4);

	dg_begin(&early, 3);
	dg_msg(&early, &a3);
	dg_msg(&early, &a4);
	rx(x, &early, 0, 100);
	assert_int_equal(x->ngot, 0);
	assert_int_equal(x->nflush, 0);
	assert_int_equal(x->f.mold.nheld, 1);
	assert_int_equal(x->f.itch.messages['A'], 0);

	dg_begin(&late, 1);
	dg_msg(&late, &a1);
	dg_msg(&late, &a2);
	rx(x, &late, 1, 200);

	const uint64_t seqs[] = { 1, 2, 3, 4 };
	assert_got_seqs(x, seqs, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(x->got[i].u.add.ref, i + 1);
	assert_int_equal(x->got[0].rx_tsc, 200);
	assert_int_equal(x->got[1].rx_tsc, 200);
	assert_int_equal(x->got[2].rx_tsc, 100); /* its own arrival, not its release */
	assert_int_equal(x->got[3].rx_tsc, 100);
	assert_int_equal(x->f.mold.nheld, 0);
	assert_int_equal(x->f.mold.stats.reordered, 1);
	assert_int_equal(x->f.mold.stats.gaps, 0);
	assert_int_equal(x->f.mold.next_seq, 5);
	assert_int_equal(x->f.itch.messages['A'], 4);
	assert_int_equal(x->f.itch.events, 4);
}

static void test_released_datagrams_respect_a_small_buffer(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 2);
	struct dgram d;

	dg_begin(&d, 4);
	for (uint64_t r = 4; r <= 6; r++) {
		struct dd_itch_msg a = m_add(r, 'B', 1, 1);
		dg_msg(&d, &a);
	}
	rx(x, &d, 0, 50);
	dg_begin(&d, 1);
	for (uint64_t r = 1; r <= 3; r++) {
		struct dd_itch_msg a = m_add(r, 'B', 1, 1);
		dg_msg(&d, &a);
	}
	rx(x, &d, 0, 60);
	const uint64_t seqs[] = { 1, 2, 3, 4, 5, 6 };
	assert_got_seqs(x, seqs, 6);
	for (size_t i = 0; i < x->nflush; i++)
		assert_true(x->flushes[i] >= 1 && x->flushes[i] <= 2);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(x->got[i].rx_tsc, i < 3 ? 60 : 50);
}

static void test_poll_at_max_time_releases_held_datagram_declaring_the_gap(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a3 = m_add(3, 'B', 3, 3), a4 = m_add(4, 'B', 4, 4);

	dg_begin(&d, 3);
	dg_msg(&d, &a3);
	dg_msg(&d, &a4);
	rx(x, &d, 0, 100);
	assert_int_equal(x->f.mold.nheld, 1);

	/* no timeout configured: an ordinary poll leaves it waiting */
	dd_feed_poll(&x->f, 1000000, &x->sink);
	assert_int_equal(x->ngot, 0);
	assert_int_equal(x->nflush, 0);

	dd_feed_poll(&x->f, UINT64_MAX, &x->sink);
	assert_int_equal(x->sink.n, 0);
	const uint64_t seqs[] = { 3, 4 };
	assert_got_seqs(x, seqs, 2);
	assert_int_equal(x->got[0].rx_tsc, 100);
	assert_int_equal(x->got[1].rx_tsc, 100);
	const unsigned fl[] = { 2 };
	assert_flushes(x, fl, 1);
	assert_int_equal(x->f.mold.stats.gaps, 1);
	assert_int_equal(x->f.mold.stats.missing, 2);
	struct dd_mold_gap g;
	assert_true(dd_mold_gap_at(&x->f.mold, 0, &g));
	assert_int_equal(g.first, 1);
	assert_int_equal(g.last, 2);
	assert_int_equal(x->f.mold.nheld, 0);
	assert_int_equal(x->f.mold.next_seq, 5);
}

static void test_poll_releases_held_datagram_once_its_timeout_passes(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 50, 8);
	struct dgram d;
	struct dd_itch_msg a = m_add(2, 'B', 2, 2);

	dg_begin(&d, 2);
	dg_msg(&d, &a);
	rx(x, &d, 0, 100);
	dd_feed_poll(&x->f, 149, &x->sink);
	assert_int_equal(x->ngot, 0);
	assert_int_equal(x->nflush, 0);
	dd_feed_poll(&x->f, 150, &x->sink);
	const uint64_t seqs[] = { 2 };
	assert_got_seqs(x, seqs, 1);
	assert_int_equal(x->got[0].rx_tsc, 100);
	assert_int_equal(x->f.mold.stats.gaps, 1);
	assert_int_equal(x->f.mold.stats.missing, 1);
}

static void test_poll_with_nothing_held_does_not_flush(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a = m_add(1, 'B', 1, 1);

	dd_feed_poll(&x->f, UINT64_MAX, &x->sink);
	dg_begin(&d, 1);
	dg_msg(&d, &a);
	rx(x, &d, 0, 1);
	dd_feed_poll(&x->f, UINT64_MAX, &x->sink);
	const unsigned fl[] = { 1 };
	assert_flushes(x, fl, 1);
	assert_int_equal(x->f.mold.stats.gaps, 0);
}

static void test_window_zero_declares_the_gap_and_delivers_at_once(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 0, 0, 8);
	struct dgram d;
	struct dd_itch_msg a = m_add(5, 'B', 5, 5);

	dg_begin(&d, 5);
	dg_msg(&d, &a);
	rx(x, &d, 0, 9);
	const uint64_t seqs[] = { 5 };
	assert_got_seqs(x, seqs, 1);
	assert_int_equal(x->got[0].rx_tsc, 9);
	assert_int_equal(x->f.mold.stats.gaps, 1);
	assert_int_equal(x->f.mold.stats.missing, 4);
}

static void test_session_change_releases_the_old_sessions_held_events_first(void **state)
{
	(void)state;
	struct fx *x = fx_init(1, NULL, 4, 0, 8);
	struct dgram d;
	struct dd_itch_msg a1 = m_add(1, 'B', 1, 1), a3 = m_add(3, 'B', 3, 3), b1 = m_add(101, 'S', 1, 1);

	dg_begin(&d, 1);
	dg_msg(&d, &a1);
	rx(x, &d, 0, 10);
	dg_begin(&d, 3);
	dg_msg(&d, &a3);
	rx(x, &d, 0, 30); /* held: 2 is missing */
	dg_begin_session(&d, "SESSION002", 1);
	dg_msg(&d, &b1);
	rx(x, &d, 0, 40);

	const uint64_t seqs[] = { 1, 3, 1 };
	assert_got_seqs(x, seqs, 3);
	assert_int_equal(x->got[1].u.add.ref, 3);
	assert_int_equal(x->got[1].rx_tsc, 30);
	assert_int_equal(x->got[2].u.add.ref, 101);
	assert_int_equal(x->got[2].rx_tsc, 40);
	assert_int_equal(x->got[2].source, 1);
	assert_int_equal(x->f.mold.stats.session_changes, 1);
	assert_int_equal(x->f.mold.stats.gaps, 1);
	assert_memory_equal(x->f.mold.name, "SESSION002", DD_MOLD_SESSION_LEN);
	assert_int_equal(x->f.mold.next_seq, 2);
}

/* ---- lines -------------------------------------------------------------------------------------- */

#define IP1 0xE9360C6Fu /* 233.54.12.111 */
#define IP2 0xE9360C70u /* 233.54.12.112 */
#define IP3 0x0A000001u /* 10.0.0.1 */

static void test_line_of_matches_configured_lines_with_wildcards(void **state)
{
	(void)state;
	struct dd_feed_cfg cfg = {
		.name = "a",
		.nlines = 3,
		.line = {
			{ IP1, 26477, DD_ANY_PORT }, /* 233.54.12.111:26477 */
			{ 0, 26478, 1 },             /* *:26478@1 */
			{ IP2, 0, DD_ANY_PORT },     /* 233.54.12.112:* */
		},
	};
	struct fx *x = fx_init(0, &cfg, 4, 0, 8);

	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26477, 0), 0);
	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26477, 7), 0);
	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26476, 0), -1);
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 26478, 1), 1);
	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26478, 1), 1);
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 26478, 0), -1);
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 26478, DD_ANY_PORT - 1), -1);
	assert_int_equal(dd_feed_line_of(&x->f, IP2, 1, 3), 2);
	assert_int_equal(dd_feed_line_of(&x->f, IP2, 65535, 0), 2);
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 26477, 0), -1);
	assert_int_equal(dd_feed_line_of(&x->f, 0, 0, 0), -1);
	/* configured feeds learn nothing */
	assert_int_equal(x->f.learned, 0);
	assert_int_equal(x->f.cfg.nlines, 3);
}

static void test_line_of_takes_the_first_matching_line(void **state)
{
	(void)state;
	struct dd_feed_cfg cfg = {
		.name = "a",
		.nlines = 2,
		.line = { { 0, 26477, DD_ANY_PORT }, { IP1, 26477, DD_ANY_PORT } },
	};
	struct fx *x = fx_init(0, &cfg, 4, 0, 8);

	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26477, 0), 0);
}

static void test_line_of_catch_all_learns_destinations_in_order(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);

	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26477, 0), 0);
	assert_int_equal(dd_feed_line_of(&x->f, IP2, 26477, 0), 1);
	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26478, 0), 2); /* same group, other port */
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 1, 0), 3);
	assert_int_equal(x->f.learned, 4);
	/* the fifth and later share the last line */
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 2, 0), 3);
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 3, 0), 3);
	assert_int_equal(x->f.learned, 4);
	/* known destinations map back to their line, whatever the DPDK port */
	assert_int_equal(dd_feed_line_of(&x->f, IP2, 26477, 0), 1);
	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26477, 5), 0);
	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26478, 0), 2);
	assert_int_equal(dd_feed_line_of(&x->f, IP3, 1, 0), 3);
	/* learned lines are recorded for the reports */
	assert_int_equal(x->f.cfg.nlines, 0);
	assert_int_equal(x->f.cfg.line[0].ip, IP1);
	assert_int_equal(x->f.cfg.line[0].udp_port, 26477);
	assert_int_equal(x->f.cfg.line[0].dpdk_port, DD_ANY_PORT);
	assert_int_equal(x->f.cfg.line[2].ip, IP1);
	assert_int_equal(x->f.cfg.line[2].udp_port, 26478);
	assert_int_equal(x->f.cfg.line[3].ip, IP3);
	assert_int_equal(x->f.cfg.line[3].udp_port, 1);
}

static void test_catch_all_learns_a_zero_destination_like_any_other(void **state)
{
	(void)state;
	struct fx *x = fx_init(0, NULL, 4, 0, 8);

	assert_int_equal(dd_feed_line_of(&x->f, IP1, 26477, 0), 0);
	assert_int_equal(dd_feed_line_of(&x->f, 0, 0, 0), 1);
	assert_int_equal(dd_feed_line_of(&x->f, 0, 0, 0), 1);
	assert_int_equal(x->f.learned, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_index_above_255_and_more_than_four_lines),
		cmocka_unit_test(test_add_becomes_one_event_with_source_seq_rx_time_and_payload),
		cmocka_unit_test(test_each_message_carries_its_own_sequence_number_and_payload),
		cmocka_unit_test(test_messages_without_a_book_event_are_counted_but_produce_none),
		cmocka_unit_test(test_unknown_bad_length_and_empty_messages_are_counted_and_sequence_advances),
		cmocka_unit_test(test_duplicate_copy_produces_no_events_and_is_not_counted_again),
		cmocka_unit_test(test_malformed_heartbeat_and_bad_line_datagrams_produce_nothing),
		cmocka_unit_test(test_flush_is_called_at_the_end_of_every_datagram),
		cmocka_unit_test(test_flush_is_called_when_the_buffer_is_full),
		cmocka_unit_test(test_buffer_of_one_event_flushes_every_event),
		cmocka_unit_test(test_held_datagram_is_released_by_the_missing_one_in_sequence_order),
		cmocka_unit_test(test_released_datagrams_respect_a_small_buffer),
		cmocka_unit_test(test_poll_at_max_time_releases_held_datagram_declaring_the_gap),
		cmocka_unit_test(test_poll_releases_held_datagram_once_its_timeout_passes),
		cmocka_unit_test(test_poll_with_nothing_held_does_not_flush),
		cmocka_unit_test(test_window_zero_declares_the_gap_and_delivers_at_once),
		cmocka_unit_test(test_session_change_releases_the_old_sessions_held_events_first),
		cmocka_unit_test(test_line_of_matches_configured_lines_with_wildcards),
		cmocka_unit_test(test_line_of_takes_the_first_matching_line),
		cmocka_unit_test(test_line_of_catch_all_learns_destinations_in_order),
		cmocka_unit_test(test_catch_all_learns_a_zero_destination_like_any_other),
	};
	return cmocka_run_group_tests_name("dataplane/feed", tests, NULL, NULL);
}
