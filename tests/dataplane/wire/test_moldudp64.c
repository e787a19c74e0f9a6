/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/wire/be.h"
#include "dataplane/wire/moldudp64.h"

/*
 * Datagrams are built here byte by byte. A "standard" message carries its own sequence number as
 * 8 big-endian bytes, so the drain helper can check that every delivered message is the one its
 * sequence number says.
 */

#define SESS_A "SESSIONA01"
#define SESS_B "SESSIONB02"
#define SESS_C "SESSIONC03"
#define STD_LEN 8

struct dgram {
	uint8_t b[DD_MOLD_MAX_DATAGRAM + 256];
	size_t len;
};

static void dg_header(struct dgram *d, const char *session, uint64_t seq, uint16_t count)
{
	memcpy(d->b, session, DD_MOLD_SESSION_LEN);
	dd_st_be64(d->b + 10, seq);
	dd_st_be16(d->b + 18, count);
	d->len = DD_MOLD_HDR_LEN;
}

/* Append one message of `len` bytes, each byte `fill`. */
static void dg_add(struct dgram *d, uint16_t len, uint8_t fill)
{
	assert_true(d->len + 2 + len <= sizeof(d->b));
	dd_st_be16(d->b + d->len, len);
	memset(d->b + d->len + 2, fill, len);
	d->len += 2 + (size_t)len;
}

/* `n` standard messages from `seq`. */
static struct dgram *dg_std(struct dgram *d, const char *session, uint64_t seq, uint16_t n)
{
	dg_header(d, session, seq, n);
	for (uint16_t i = 0; i < n; i++) {
		dd_st_be16(d->b + d->len, STD_LEN);
		dd_st_be64(d->b + d->len + 2, seq + i);
		d->len += 2 + STD_LEN;
	}
	return d;
}

static struct dgram *dg_marker(struct dgram *d, const char *session, uint64_t seq, uint16_t count)
{
	dg_header(d, session, seq, count);
	return d;
}

/* ---- fixture ------------------------------------------------------------------------------------ */

#define MAX_SEEN 4096

struct fx {
	struct dd_mold_session s;
	uint64_t seen[MAX_SEEN]; /* sequence numbers delivered, in delivery order */
	uint8_t seen_line[MAX_SEEN];
	size_t nseen;
	size_t nblocks;
};

static _Alignas(64) uint8_t g_mem[(DD_MOLD_MAX_WINDOW + 2) * (DD_MOLD_MAX_DATAGRAM + 128)];
static struct fx g_fx;

static struct fx *fx_init(unsigned window, uint64_t timeout, bool rewind)
{
	struct dd_mold_params p = { .reorder_window = window, .reorder_timeout = timeout, .rewind = rewind };

	assert_true(dd_mold_session_memsize(&p) <= sizeof(g_mem));
	memset(&g_fx, 0, sizeof(g_fx));
	assert_int_equal(dd_mold_session_init(&g_fx.s, g_mem, sizeof(g_mem), &p), 0);
	return &g_fx;
}

/* Record a block's messages, checking they lie inside it and standard ones match their seq. */
static void take(struct fx *f, const struct dd_mold_block *blk)
{
	struct dd_mold_block b = *blk;
	const uint8_t *msg = NULL;
	uint16_t len = 0;

	assert_true(b.count > 0);
	f->nblocks++;
	while (dd_mold_next(&b, &msg, &len)) {
		uint64_t seq = b.seq - 1;
		assert_true(msg + len <= blk->end);
		if (len == STD_LEN)
			assert_int_equal(dd_ld_be64(msg), seq);
		assert_true(f->nseen < MAX_SEEN);
		f->seen[f->nseen] = seq;
		f->seen_line[f->nseen] = b.line;
		f->nseen++;
	}
	assert_ptr_equal(b.p, blk->end);
}

static int drain(struct fx *f, uint64_t now)
{
	struct dd_mold_block b;
	int n = 0;

	while (dd_mold_pop(&f->s, now, &b)) {
		take(f, &b);
		n++;
	}
	return n;
}

/* rx, and on DELIVER or HELD the drain the header asks for. */
static enum dd_mold_verdict feed(struct fx *f, const struct dgram *d, unsigned line, uint64_t now)
{
	struct dd_mold_block b;
	enum dd_mold_verdict v = dd_mold_rx(&f->s, d->b, d->len, line, now, &b);

	if (v == DD_MOLD_DELIVER)
		take(f, &b);
	if (v != DD_MOLD_DROP)
		drain(f, now);
	return v;
}

/* Delivered exactly first..last in order (and nothing else). */
static void assert_seen_range(const struct fx *f, uint64_t first, uint64_t last)
{
	assert_int_equal(f->nseen, last - first + 1);
	for (size_t i = 0; i < f->nseen; i++)
		assert_int_equal(f->seen[i], first + i);
}

static void assert_seen(const struct fx *f, const uint64_t *want, size_t n)
{
	assert_int_equal(f->nseen, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->seen[i], want[i]);
}

static void assert_gap(const struct fx *f, uint64_t i, uint64_t first, uint64_t last)
{
	struct dd_mold_gap g;

	assert_true(dd_mold_gap_at(&f->s, i, &g));
	assert_int_equal(g.first, first);
	assert_int_equal(g.last, last);
}

/* ---- parsing ------------------------------------------------------------------------------------ */

static void test_parse_decodes_header_of_well_formed_datagram(void **state)
{
	(void)state;
	struct dgram d;
	struct dd_mold_hdr h;

	dg_std(&d, SESS_A, 0x0102030405060708ull, 3);
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_OK);
	assert_memory_equal(h.session, SESS_A, DD_MOLD_SESSION_LEN);
	assert_int_equal(h.seq, 0x0102030405060708ull);
	assert_int_equal(h.count, 3);
}

static void test_parse_rejects_each_framing_error_with_its_reason(void **state)
{
	(void)state;
	struct dgram d;
	struct dd_mold_hdr h;

	dg_std(&d, SESS_A, 1, 2);
	assert_int_equal(dd_mold_parse(d.b, DD_MOLD_HDR_LEN - 1, &h), DD_MOLD_ERR_SHORT);
	assert_int_equal(dd_mold_parse(d.b, 0, &h), DD_MOLD_ERR_SHORT);
	/* second message's length cut in the middle of its body */
	assert_int_equal(dd_mold_parse(d.b, d.len - 1, &h), DD_MOLD_ERR_MSG_OVERRUN);
	/* a lone byte where the second length prefix should be */
	assert_int_equal(dd_mold_parse(d.b, DD_MOLD_HDR_LEN + 2 + STD_LEN + 1, &h),
			 DD_MOLD_ERR_MSG_OVERRUN);
	/* first message complete, second one absent */
	assert_int_equal(dd_mold_parse(d.b, DD_MOLD_HDR_LEN + 2 + STD_LEN, &h),
			 DD_MOLD_ERR_COUNT_MISMATCH);
	dg_add(&d, 0, 0);
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_ERR_TRAILING);

	dg_marker(&d, SESS_A, 5, 0);
	d.b[d.len++] = 0;
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_ERR_TRAILING);
	dg_marker(&d, SESS_A, 5, DD_MOLD_COUNT_EOS);
	d.b[d.len++] = 0;
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_ERR_TRAILING);

	dg_std(&d, SESS_A, 0, 1);
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_ERR_BAD_SEQ);
	dg_std(&d, SESS_A, UINT64_MAX - 1, 2);
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_ERR_BAD_SEQ);
	dg_std(&d, SESS_A, UINT64_MAX - 1, 1);
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_OK);
	/* a heartbeat at 0 carries no message: not a bad sequence number */
	dg_marker(&d, SESS_A, 0, 0);
	assert_int_equal(dd_mold_parse(d.b, d.len, &h), DD_MOLD_OK);
}

static void test_err_name_is_stable_snake_case(void **state)
{
	(void)state;
	assert_string_equal(dd_mold_err_name(DD_MOLD_OK), "ok");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR_SHORT), "short");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR_MSG_OVERRUN), "msg_overrun");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR_COUNT_MISMATCH), "count_mismatch");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR_TRAILING), "trailing");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR_BAD_SEQ), "bad_seq");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR_SEQ_JUMP), "seq_jump");
	assert_string_equal(dd_mold_err_name(DD_MOLD_ERR__COUNT), "?");
}

/* ---- init --------------------------------------------------------------------------------------- */

static void test_init_rejects_window_above_max_short_memory_and_misalignment(void **state)
{
	(void)state;
	struct dd_mold_session s;
	struct dd_mold_params p = { .reorder_window = DD_MOLD_MAX_WINDOW + 1 };

	assert_int_equal(dd_mold_session_memsize(&p), 0);
	assert_int_equal(dd_mold_session_init(&s, g_mem, sizeof(g_mem), &p), -EINVAL);
	assert_int_equal(dd_mold_session_memsize(NULL), 0);

	p.reorder_window = 4;
	size_t need = dd_mold_session_memsize(&p);
	assert_true(need >= 5 * (size_t)DD_MOLD_MAX_DATAGRAM);
	assert_int_equal(dd_mold_session_init(&s, g_mem, need - 1, &p), -EINVAL);
	assert_int_equal(dd_mold_session_init(&s, g_mem + 8, need, &p), -EINVAL);
	assert_int_equal(dd_mold_session_init(&s, NULL, need, &p), -EINVAL);
	assert_int_equal(dd_mold_session_init(&s, g_mem, need, &p), 0);
	assert_int_equal(s.next_seq, 1);
	assert_false(s.started);

	p.reorder_window = DD_MOLD_MAX_WINDOW;
	assert_int_equal(dd_mold_session_init(&s, g_mem, dd_mold_session_memsize(&p), &p), 0);
}

/* ---- in order, heartbeats, end of session ---------------------------------------------------- */

static void test_in_order_datagrams_are_delivered_in_place(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	dg_std(&d, SESS_A, 1, 3);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 10, &b), DD_MOLD_DELIVER);
	assert_ptr_equal(b.p, d.b + DD_MOLD_HDR_LEN);
	assert_ptr_equal(b.end, d.b + d.len);
	assert_int_equal(b.seq, 1);
	assert_int_equal(b.count, 3);
	assert_int_equal(b.line, 0);
	take(f, &b);
	assert_true(f->s.started);
	assert_memory_equal(f->s.name, SESS_A, DD_MOLD_SESSION_LEN);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 2), 0, 11), DD_MOLD_DELIVER);

	assert_seen_range(f, 1, 5);
	assert_int_equal(f->s.next_seq, 6);
	assert_int_equal(f->s.first_seq, 1);
	assert_int_equal(f->s.stats.datagrams, 2);
	assert_int_equal(f->s.stats.delivered, 5);
	assert_int_equal(f->s.stats.line[0].datagrams, 2);
	assert_int_equal(f->s.stats.line[0].delivered, 5);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.duplicates, 0);
}

static void test_zero_length_message_is_delivered_and_counted(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	struct dd_mold_block b;
	const uint8_t *msg = NULL;
	uint16_t len = 0;

	dg_header(&d, SESS_A, 1, 3);
	dg_add(&d, 0, 0);
	dg_add(&d, 3, 0xAB);
	dg_add(&d, 0, 0);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 0, &b), DD_MOLD_DELIVER);
	assert_int_equal(b.count, 3);
	assert_true(dd_mold_next(&b, &msg, &len));
	assert_int_equal(len, 0);
	assert_true(dd_mold_next(&b, &msg, &len));
	assert_int_equal(len, 3);
	assert_int_equal(msg[2], 0xAB);
	assert_true(dd_mold_next(&b, &msg, &len));
	assert_int_equal(len, 0);
	assert_false(dd_mold_next(&b, &msg, &len));
	assert_ptr_equal(b.p, d.b + d.len);
	assert_int_equal(f->s.stats.delivered, 3);
	assert_int_equal(f->s.next_seq, 4);
}

static void test_heartbeat_at_next_seq_is_consumed_without_delivery(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 3, 0), 0, 1), DD_MOLD_DROP);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 2, 0), 1, 2), DD_MOLD_DROP); /* below: counted */
	assert_int_equal(f->s.stats.heartbeats, 2);
	assert_int_equal(f->s.stats.datagrams, 3);
	assert_int_equal(f->s.next_seq, 3);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.duplicates, 0);
	/* a heartbeat is no evidence that its line saw the messages before it */
	assert_int_equal(f->s.line_next[1], 0);
	assert_seen_range(f, 1, 2);
}

static void test_heartbeat_ahead_declares_gap_at_once_with_window_zero(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 7, 0), 0, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.missing, 4);
	assert_gap(f, 0, 3, 6);
	assert_int_equal(f->s.next_seq, 7);
	/* the same heartbeat on the other line finds nothing new */
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 7, 0), 1, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.heartbeats, 2);
}

static void test_heartbeat_ahead_is_held_and_its_gap_declared_once(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 6, 0), 0, 1), DD_MOLD_HELD);
	assert_int_equal(f->s.nheld, 1);
	/* the other line's copy of the heartbeat does not take a second slot */
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 6, 0), 1, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.stats.gaps, 0);

	assert_int_equal(drain(f, UINT64_MAX), 0);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.missing, 3);
	assert_gap(f, 0, 3, 5);
	assert_int_equal(f->s.next_seq, 6);
	assert_int_equal(f->s.nheld, 0);

	/* the missing messages show up now: late, and no second gap */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 3), 1, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.late, 3);
	assert_int_equal(f->s.stats.duplicates, 3);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 3);
	assert_int_equal(f->s.stats.heartbeats, 2);
	assert_seen_range(f, 1, 2);
}

static void test_heartbeat_marker_is_consumed_silently_when_gap_fills(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 5, 0), 0, 1), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 1, 2), DD_MOLD_DELIVER);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.reordered, 0); /* a marker delivers nothing */
	assert_int_equal(f->s.next_seq, 5);
	assert_seen_range(f, 1, 4);
}

static void test_end_of_session_then_data_after_end_is_dropped(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 3), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 4, DD_MOLD_COUNT_EOS), 0, 1), DD_MOLD_DROP);
	assert_true(f->s.ended);
	assert_int_equal(f->s.stats.end_of_session, 1);
	/* repeated end of session and a heartbeat: counted, nothing else */
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 4, DD_MOLD_COUNT_EOS), 1, 2), DD_MOLD_DROP);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 9, 0), 1, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.end_of_session, 2);
	assert_int_equal(f->s.stats.gaps, 0);

	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 2), 0, 3), DD_MOLD_DROP);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 10, 1), 0, 3), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.after_end, 2);
	/* a copy of old messages is still just a duplicate */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 2, 2), 1, 4), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.after_end, 2);
	assert_int_equal(f->s.stats.duplicates, 2);
	assert_int_equal(f->s.next_seq, 4);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_seen_range(f, 1, 3);
}

static void test_end_of_session_ahead_declares_gap_then_ends(void **state)
{
	(void)state;
	struct fx *f = fx_init(2, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 3), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 6, DD_MOLD_COUNT_EOS), 0, 1), DD_MOLD_HELD);
	assert_false(f->s.ended);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 1), 0, 2), DD_MOLD_DELIVER);
	assert_false(f->s.ended);
	assert_int_equal(drain(f, UINT64_MAX), 0);
	assert_true(f->s.ended);
	assert_gap(f, 0, 5, 5);
	assert_int_equal(f->s.stats.missing, 1);
	assert_int_equal(f->s.next_seq, 6);
	assert_seen_range(f, 1, 4);
}

static void test_held_datagram_beyond_end_of_session_is_dropped_without_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 5, 1), 0, 0), DD_MOLD_HELD);
	/* the session ends at 2: nothing after it is missing, and 5 is beyond the end */
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 2, DD_MOLD_COUNT_EOS), 1, 1), DD_MOLD_DROP);
	assert_true(f->s.ended);
	assert_int_equal(drain(f, UINT64_MAX), 0);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.missing, 0);
	assert_int_equal(f->s.stats.after_end, 1);
	assert_int_equal(f->s.next_seq, 2);
	assert_seen_range(f, 1, 1);
}

/* ---- gaps, duplicates, arbitration -------------------------------------------------------------- */

static void test_gap_with_window_zero_is_declared_at_once_and_logged(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 10, 2), 0, 1), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.missing, 7);
	assert_int_equal(f->s.gap_log_n, 1);
	assert_gap(f, 0, 3, 9);
	struct dd_mold_gap g;
	assert_false(dd_mold_gap_at(&f->s, 1, &g));
	assert_int_equal(f->s.next_seq, 12);
	const uint64_t want[] = { 1, 2, 10, 11 };
	assert_seen(f, want, 4);
}

static void test_a_jump_past_the_limit_is_dropped_whole_and_counted_and_the_feed_goes_on(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	/* hostile sequence numbers: far ahead, and a heartbeat far ahead */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3 + DD_MOLD_MAX_JUMP + 1, 2), 0, 1), DD_MOLD_DROP);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, UINT64_MAX - 10, 2), 0, 2), DD_MOLD_DROP);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 1ull << 62, 0), 0, 3), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_SEQ_JUMP], 3);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.missing, 0);
	assert_int_equal(f->s.next_seq, 3);
	/* exactly at the limit is a gap like any other, and the feed goes on */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3 + DD_MOLD_MAX_JUMP, 1), 0, 4), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.missing, DD_MOLD_MAX_JUMP);
	assert_int_equal(f->s.next_seq, 4 + DD_MOLD_MAX_JUMP);
}

/* A new session starts at 1: a first datagram of it far ahead is dropped too, also while the old
 * session holds datagrams (its datagrams are held then, and released without the check) — the
 * fuzzer found the missing count running away through that path. */
static void test_a_new_session_far_ahead_is_dropped_held_or_not(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 1), 0, 1), DD_MOLD_HELD); /* a gap: held */
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 2 + DD_MOLD_MAX_JUMP, 1), 0, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_SEQ_JUMP], 1);
	/* exactly at the limit (1 + the limit) it is taken, held behind the old session's */
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 1 + DD_MOLD_MAX_JUMP, 1), 0, 3), DD_MOLD_HELD);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_SEQ_JUMP], 1);
}

static void test_the_missing_count_saturates_instead_of_wrapping(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	f->s.stats.missing = UINT64_MAX - 5; /* as after many large gaps */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 100, 1), 0, 1), DD_MOLD_DELIVER);
	assert_true(f->s.stats.missing == UINT64_MAX);
	assert_int_equal(f->s.stats.gaps, 1);
}

static void test_duplicate_datagram_on_same_line_counts_own_duplicates(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 3), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 3), 0, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.duplicates, 3);
	assert_int_equal(f->s.stats.line[0].duplicates, 3);
	assert_int_equal(f->s.stats.line[0].arb_dropped, 0);
	assert_int_equal(f->s.stats.late, 0);
	assert_int_equal(f->s.stats.datagrams, 2);
	assert_int_equal(f->s.next_seq, 4);
	assert_seen_range(f, 1, 3);
}

static void test_partial_overlap_delivers_only_new_messages(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	struct dd_mold_block b;
	const uint8_t *msg = NULL;
	uint16_t len = 0;

	feed(f, dg_std(&d, SESS_A, 1, 3), 0, 0);
	dg_std(&d, SESS_A, 2, 4);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DELIVER);
	assert_int_equal(b.seq, 4);
	assert_int_equal(b.count, 2);
	/* skipped the two duplicate messages in place */
	assert_ptr_equal(b.p, d.b + DD_MOLD_HDR_LEN + 2 * (2 + STD_LEN));
	assert_true(dd_mold_next(&b, &msg, &len));
	assert_int_equal(dd_ld_be64(msg), 4);
	assert_int_equal(f->s.stats.duplicates, 2);
	assert_int_equal(f->s.stats.line[0].duplicates, 2);
	assert_int_equal(f->s.stats.delivered, 5);
	assert_int_equal(f->s.next_seq, 6);
}

static void test_second_line_copies_are_arbitration_losses_not_duplicates(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	for (uint64_t seq = 1; seq <= 7; seq += 3) {
		assert_int_equal(feed(f, dg_std(&d, SESS_A, seq, 3), 0, seq), DD_MOLD_DELIVER);
		assert_int_equal(feed(f, dg_std(&d, SESS_A, seq, 3), 1, seq), DD_MOLD_DROP);
	}
	assert_int_equal(f->s.stats.line[0].delivered, 9);
	assert_int_equal(f->s.stats.line[1].delivered, 0);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 9);
	assert_int_equal(f->s.stats.line[1].duplicates, 0);
	assert_int_equal(f->s.stats.duplicates, 9);

	/* line 1 repeats a datagram it already sent: an own-line duplicate */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 3), 1, 20), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.line[1].duplicates, 3);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 9);
	assert_int_equal(f->s.stats.duplicates, 12);
	assert_int_equal(f->s.stats.line[1].datagrams, 4);

	/* line 1 wins the next race: line 0's copy loses it */
	feed(f, dg_std(&d, SESS_A, 10, 2), 1, 21);
	feed(f, dg_std(&d, SESS_A, 10, 2), 0, 21);
	assert_int_equal(f->s.stats.line[1].delivered, 2);
	assert_int_equal(f->s.stats.line[0].arb_dropped, 2);
	assert_int_equal(f->s.stats.line[0].duplicates, 0);
	assert_seen_range(f, 1, 11);
	assert_int_equal(f->seen_line[9], 1);
	assert_int_equal(f->s.stats.gaps, 0);
}

static void test_other_line_fills_a_loss_without_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 1, 2), 1, 0);
	/* line 0 loses 3..4 */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 5, 2), 0, 1), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 1, 2), DD_MOLD_DELIVER);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 5, 2), 1, 2), DD_MOLD_DROP);
	assert_seen_range(f, 1, 6);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.reordered, 1);
	assert_int_equal(f->s.stats.line[0].delivered, 4);
	assert_int_equal(f->s.stats.line[1].delivered, 2);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 4);
}

/* ---- reorder window ----------------------------------------------------------------------------- */

static void test_reorder_within_window_recovers_without_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 5, 3), 0, 1), DD_MOLD_HELD);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.next_seq, 3);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 2), DD_MOLD_DELIVER);
	assert_int_equal(f->s.nheld, 0);
	assert_seen_range(f, 1, 7);
	assert_int_equal(f->s.next_seq, 8);
	assert_int_equal(f->s.stats.reordered, 1);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.missing, 0);
	assert_int_equal(f->s.stats.delivered, 7);
	assert_int_equal(f->s.stats.line[0].delivered, 7);
}

static void test_held_datagrams_release_in_sequence_order(void **state)
{
	(void)state;
	struct fx *f = fx_init(8, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 8, 2), 0, 1), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 2), 0, 1), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 6, 2), 0, 1), DD_MOLD_HELD);
	/* overlaps the next held one: its tail is delivered, the held copy's prefix dropped */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 1), DD_MOLD_HELD);
	assert_int_equal(f->s.nheld, 4);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 2, 1), 1, 2), DD_MOLD_DELIVER);
	assert_int_equal(f->s.nheld, 0);
	assert_seen_range(f, 1, 9);
	assert_int_equal(f->s.stats.reordered, 4);
	assert_int_equal(f->s.stats.gaps, 0);
	/* message 4 reached line 0 twice: an own duplicate */
	assert_int_equal(f->s.stats.duplicates, 1);
	assert_int_equal(f->s.stats.line[0].duplicates, 1);
}

static void test_held_copy_from_other_line_is_dropped_as_arbitration_loss(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 1), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 1, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 2);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.line[0].duplicates, 2);
	assert_int_equal(f->s.stats.duplicates, 4);
	assert_int_equal(f->s.stats.late, 0);
}

static void test_full_window_declares_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(2, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 5, 1), 0, 1), DD_MOLD_HELD);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.stats.gaps, 0);
	/* the second held datagram fills the window: the gap 3..4 is declared and both come out */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 6, 1), 0, 2), DD_MOLD_HELD);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.missing, 2);
	assert_gap(f, 0, 3, 4);
	assert_int_equal(f->s.stats.reordered, 0); /* released behind a declared gap: not put back in order */
	const uint64_t want[] = { 1, 2, 5, 6 };
	assert_seen(f, want, 4);
	assert_int_equal(f->s.next_seq, 7);
}

static void test_full_window_releases_only_up_to_next_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(2, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 1), 0, 1);
	feed(f, dg_std(&d, SESS_A, 5, 1), 0, 2);
	/* window full: gap 2 declared, 3 released, 5 waits behind gap 4 */
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_gap(f, 0, 2, 2);
	assert_int_equal(f->s.next_seq, 4);
	const uint64_t want[] = { 1, 3 };
	assert_seen(f, want, 2);
}

static void test_timeout_declares_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(8, 100, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 6, 1), 0, 1000), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 1), 0, 1050), DD_MOLD_HELD);
	assert_int_equal(drain(f, 1099), 0);
	assert_int_equal(f->s.nheld, 2);
	assert_int_equal(f->s.stats.gaps, 0);
	/* the oldest (6, at 1000) has waited 100: gaps 3 and 5 go, though 4 is younger */
	assert_int_equal(drain(f, 1100), 2);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 2);
	assert_int_equal(f->s.stats.missing, 2);
	assert_gap(f, 1, 3, 3);
	assert_gap(f, 0, 5, 5);
	assert_int_equal(f->s.stats.reordered, 0);
	const uint64_t want[] = { 1, 2, 4, 6 };
	assert_seen(f, want, 4);
}

static void test_timeout_stops_at_the_last_expired_slot(void **state)
{
	(void)state;
	struct fx *f = fx_init(8, 100, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 1), 0, 1000);
	feed(f, dg_std(&d, SESS_A, 5, 1), 0, 1090);
	/* 3 expired, 5 has waited only 10: gap 2 declared, 3 out, 5 keeps waiting for 4 */
	assert_int_equal(drain(f, 1100), 1);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.next_seq, 4);
	assert_int_equal(drain(f, 1190), 1);
	assert_int_equal(f->s.stats.gaps, 2);
	const uint64_t want[] = { 1, 3, 5 };
	assert_seen(f, want, 3);
}

static void test_timeout_of_older_slot_passes_younger_marker_in_one_drain(void **state)
{
	(void)state;
	struct fx *f = fx_init(8, 100, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 6, 1), 0, 1000), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 4, 0), 1, 1090), DD_MOLD_HELD);
	/* the marker is young but 6 behind it has expired: both gaps go in the same drain */
	assert_int_equal(drain(f, 1100), 1);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 2);
	assert_gap(f, 1, 3, 3);
	assert_gap(f, 0, 4, 5);
	assert_int_equal(f->s.next_seq, 7);
	const uint64_t want[] = { 1, 2, 6 };
	assert_seen(f, want, 3);
}

static void test_timeout_forces_only_up_to_the_expired_slot_within_one_drain(void **state)
{
	(void)state;
	struct fx *f = fx_init(8, 100, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 4, 0), 1, 1000), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 6, 1), 0, 1090), DD_MOLD_HELD);
	/* the expired marker declares 3; 6 has waited 10 and keeps waiting for 4..5 */
	assert_int_equal(drain(f, 1100), 0);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_gap(f, 0, 3, 3);
	assert_int_equal(f->s.next_seq, 4);
	assert_seen_range(f, 1, 2);
}

static void test_late_arrival_after_declared_gap_is_counted_late(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 6, 2), 0, 1); /* gap 3..5 */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 3), 1, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.late, 3);
	assert_int_equal(f->s.stats.duplicates, 3);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 3);
	/* straddling the gap and delivered messages: only the gap's share is late */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 7), 1, 3), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.late, 6);
	assert_int_equal(f->s.stats.duplicates, 10);
	assert_int_equal(f->s.next_seq, 8);
	assert_int_equal(f->s.stats.gaps, 1);
}

static void test_pop_at_max_time_flushes_everything(void **state)
{
	(void)state;
	struct fx *f = fx_init(8, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	feed(f, dg_std(&d, SESS_A, 10, 1), 0, 1);
	feed(f, dg_std(&d, SESS_A, 5, 2), 0, 1);
	feed(f, dg_marker(&d, SESS_A, 20, 0), 0, 1);
	assert_int_equal(f->s.nheld, 3);
	assert_int_equal(drain(f, 1u << 30), 0); /* no timeout, window not full */
	assert_int_equal(drain(f, UINT64_MAX), 2);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 3);
	assert_int_equal(f->s.stats.missing, 3 + 3 + 9);
	assert_gap(f, 2, 2, 4);
	assert_gap(f, 1, 7, 9);
	assert_gap(f, 0, 11, 19);
	assert_int_equal(f->s.next_seq, 20);
	const uint64_t want[] = { 1, 5, 6, 10 };
	assert_seen(f, want, 4);
}

static void test_oversized_datagram_ahead_is_delivered_after_declaring_gap(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	static struct dgram d;
	struct dd_mold_block b;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	/* one message whose body brings the datagram to DD_MOLD_MAX_DATAGRAM + 1 bytes */
	dg_header(&d, SESS_A, 5, 1);
	dg_add(&d, (uint16_t)(DD_MOLD_MAX_DATAGRAM + 1 - DD_MOLD_HDR_LEN - 2), 0x5A);
	assert_int_equal(d.len, DD_MOLD_MAX_DATAGRAM + 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DELIVER);
	assert_int_equal(b.seq, 5);
	assert_ptr_equal(b.p, d.b + DD_MOLD_HDR_LEN);
	assert_int_equal(f->s.stats.too_big_to_hold, 1);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_gap(f, 0, 2, 4);
	assert_int_equal(f->s.next_seq, 6);
	assert_int_equal(f->s.nheld, 0);

	/* exactly DD_MOLD_MAX_DATAGRAM still fits a slot */
	dg_header(&d, SESS_A, 7, 1);
	dg_add(&d, (uint16_t)(DD_MOLD_MAX_DATAGRAM - DD_MOLD_HDR_LEN - 2), 0x5B);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 2, &b), DD_MOLD_HELD);
	assert_int_equal(f->s.stats.too_big_to_hold, 1);
	assert_true(dd_mold_pop(&f->s, UINT64_MAX, &b));
	assert_int_equal(b.seq, 7);
	assert_int_equal(b.end - b.p, DD_MOLD_MAX_DATAGRAM - DD_MOLD_HDR_LEN);
	assert_int_equal(b.p[2], 0x5B);
	assert_int_equal(b.p[b.end - b.p - 1], 0x5B);
}

static void test_caller_that_skips_drain_gets_undrained_drops_not_overflow(void **state)
{
	(void)state;
	struct fx *f = fx_init(1, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	/* two slots for window 1; no pop between the calls */
	dg_std(&d, SESS_A, 5, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_HELD);
	dg_std(&d, SESS_A, 7, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_HELD);
	dg_std(&d, SESS_A, 9, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.undrained, 1);
	assert_int_equal(f->s.nheld, 2);
	assert_int_equal(f->s.line_next[0], 8); /* the dropped copy does not count as seen */
	assert_int_equal(drain(f, 2), 2);
	const uint64_t want[] = { 1, 5, 7 };
	assert_seen(f, want, 3);
}

/* ---- sessions ----------------------------------------------------------------------------------- */

static void test_first_datagram_ahead_declares_missing_from_one(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	assert_int_equal(feed(f, dg_std(&d, SESS_A, 100, 2), 0, 0), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.stats.missing, 99);
	assert_gap(f, 0, 1, 99);
	assert_int_equal(f->s.first_seq, 100);
	assert_int_equal(f->s.next_seq, 102);
	assert_int_equal(f->s.stats.session_changes, 0);
	assert_seen_range(f, 100, 101);
}

static void test_first_datagram_ahead_waits_in_window(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;

	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 0), DD_MOLD_HELD);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 2), 1, 1), DD_MOLD_DELIVER);
	assert_seen_range(f, 1, 4);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.reordered, 1);
}

static void test_session_change_releases_held_datagrams_first_and_restarts_at_one(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 5, 2), 0, 1);
	feed(f, dg_std(&d, SESS_A, 9, 1), 0, 1);
	assert_int_equal(f->s.nheld, 2);

	dg_std(&d, SESS_B, 1, 3);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 1, 2, &b), DD_MOLD_HELD);
	assert_memory_equal(f->s.name, SESS_A, DD_MOLD_SESSION_LEN); /* not yet */

	/* session A's held datagrams first, gaps declared, then B from 1 */
	assert_true(dd_mold_pop(&f->s, 2, &b));
	assert_int_equal(b.seq, 5);
	take(f, &b);
	assert_true(dd_mold_pop(&f->s, 2, &b));
	assert_int_equal(b.seq, 9);
	take(f, &b);
	assert_int_equal(f->s.stats.session_changes, 0);
	assert_true(dd_mold_pop(&f->s, 2, &b));
	assert_int_equal(f->s.stats.session_changes, 1);
	assert_int_equal(b.seq, 1);
	assert_int_equal(b.count, 3);
	assert_int_equal(b.line, 1);
	take(f, &b);
	assert_false(dd_mold_pop(&f->s, 2, &b));
	assert_int_equal(f->s.stats.reordered, 0); /* B's first only waited for A: not reordered */

	assert_memory_equal(f->s.name, SESS_B, DD_MOLD_SESSION_LEN);
	assert_memory_equal(f->s.prev_name, SESS_A, DD_MOLD_SESSION_LEN);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.next_seq, 4);
	assert_int_equal(f->s.first_seq, 1);
	assert_int_equal(f->s.line_next[0], 0);
	assert_int_equal(f->s.line_next[1], 4);
	assert_int_equal(f->s.stats.gaps, 2);
	assert_gap(f, 1, 3, 4);
	assert_gap(f, 0, 7, 8);
	const uint64_t want[] = { 1, 2, 5, 6, 9, 1, 2, 3 };
	assert_seen(f, want, 8);

	/* B continues normally; A is stale now */
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 4, 1), 0, 3), DD_MOLD_DELIVER);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 10, 1), 0, 3), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.stale_session, 1);
	assert_int_equal(f->s.next_seq, 5);
}

static void test_session_change_with_nothing_held_is_immediate(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 5), 0, 0);
	feed(f, dg_marker(&d, SESS_A, 6, DD_MOLD_COUNT_EOS), 0, 1);
	assert_true(f->s.ended);
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 1, 2), 0, 2), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.session_changes, 1);
	assert_false(f->s.ended);
	assert_int_equal(f->s.next_seq, 3);
	assert_int_equal(f->s.first_seq, 1);
	const uint64_t want[] = { 1, 2, 3, 4, 5, 1, 2 };
	assert_seen(f, want, 7);
}

static void test_session_change_to_datagram_ahead_applies_new_gap_logic(void **state)
{
	(void)state;
	struct fx *f = fx_init(2, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 1), 0, 0); /* held */
	/* B's first datagram is at 4: after A drains, it waits in B's window for 1..3 */
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 4, 1), 0, 1), DD_MOLD_HELD);
	assert_int_equal(f->s.stats.session_changes, 1);
	assert_int_equal(f->s.nheld, 1);
	assert_int_equal(f->s.next_seq, 1);
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 1, 3), 1, 2), DD_MOLD_DELIVER);
	assert_int_equal(f->s.nheld, 0);
	const uint64_t want[] = { 1, 3, 1, 2, 3, 4 };
	assert_seen(f, want, 6);
	assert_int_equal(f->s.stats.gaps, 1); /* A's 2 only */
	assert_gap(f, 0, 2, 2);
	assert_int_equal(f->s.stats.reordered, 1);
}

static void test_stale_session_datagrams_are_dropped(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 3), 0, 0);
	feed(f, dg_std(&d, SESS_B, 1, 1), 0, 1);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 4, 1), 1, 2), DD_MOLD_DROP);
	assert_int_equal(feed(f, dg_marker(&d, SESS_A, 5, 0), 1, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.stale_session, 2);
	assert_int_equal(f->s.stats.session_changes, 1);
	assert_int_equal(f->s.next_seq, 2);
	assert_memory_equal(f->s.name, SESS_B, DD_MOLD_SESSION_LEN);
	/* a third name is a change again, and then B is the stale one */
	assert_int_equal(feed(f, dg_std(&d, SESS_C, 1, 1), 0, 3), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.session_changes, 2);
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 2, 1), 0, 3), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.stale_session, 3);
}

static void test_all_zero_session_name_is_not_mistaken_for_stale(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	const char zero[DD_MOLD_SESSION_LEN] = { 0 };

	/* before any change prev_name is all zero, yet a session may be named that way */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0), DD_MOLD_DELIVER);
	dg_std(&d, SESS_A, 1, 1);
	memcpy(d.b, zero, sizeof(zero));
	assert_int_equal(feed(f, &d, 0, 0), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.session_changes, 1);
	assert_int_equal(f->s.stats.stale_session, 0);
	assert_memory_equal(f->s.name, zero, DD_MOLD_SESSION_LEN);
}

static void test_late_ignores_gaps_of_previous_session(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	feed(f, dg_std(&d, SESS_A, 5, 1), 0, 0); /* A's gap 2..4 */
	feed(f, dg_std(&d, SESS_B, 1, 6), 0, 1);
	/* 2..4 of B were delivered, not missing: duplicates, not late */
	assert_int_equal(feed(f, dg_std(&d, SESS_B, 2, 3), 1, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.duplicates, 3);
	assert_int_equal(f->s.stats.late, 0);
}

static void test_undrained_session_change_joins_pending_and_drops_a_third_name(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 1), 0, 0); /* held */
	/* no drain between these calls */
	dg_std(&d, SESS_B, 2, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_HELD);
	dg_std(&d, SESS_B, 1, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 1, 1, &b), DD_MOLD_HELD);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 1, 1, &b), DD_MOLD_DROP); /* its copy */
	dg_std(&d, SESS_C, 1, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 1, 1, &b), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.undrained, 1);
	assert_int_equal(f->s.nheld, 3);
	assert_int_equal(f->s.stats.session_changes, 0);

	assert_int_equal(drain(f, 2), 3);
	const uint64_t want[] = { 1, 3, 1, 2 };
	assert_seen(f, want, 4);
	assert_int_equal(f->s.stats.session_changes, 1);
	assert_memory_equal(f->s.name, SESS_B, DD_MOLD_SESSION_LEN);
	assert_int_equal(f->s.stats.gaps, 1);
	assert_int_equal(f->s.next_seq, 3);
	assert_int_equal(f->s.nheld, 0);
}

/* ---- rewind ------------------------------------------------------------------------------------- */

static void test_rewind_restarts_at_first_delivered_seq(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, true);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 2), 0, 0);
	feed(f, dg_marker(&d, SESS_A, 5, DD_MOLD_COUNT_EOS), 0, 0);
	assert_true(f->s.ended);
	/* the capture loops */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 2), 0, 1), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.rewinds, 1);
	assert_false(f->s.ended);
	assert_int_equal(f->s.next_seq, 3);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 1), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.duplicates, 0);
	const uint64_t want[] = { 1, 2, 3, 4, 1, 2, 3, 4 };
	assert_seen(f, want, 8);
	/* a later datagram of the pass is an ordinary duplicate, not a rewind */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 0, 2), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.rewinds, 1);
	assert_int_equal(f->s.stats.duplicates, 2);
}

static void test_rewind_uses_first_delivered_seq_not_one(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, true);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 50, 2), 0, 0); /* gap 1..49 */
	feed(f, dg_std(&d, SESS_A, 52, 2), 0, 0);
	assert_int_equal(f->s.first_seq, 50);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 50, 2), 0, 1), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.rewinds, 1);
	assert_int_equal(f->s.next_seq, 52);
	assert_int_equal(f->s.stats.gaps, 1);
	/* the previous pass's gap 1..49 is not this pass's: a copy from it is not late */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 10, 1), 1, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.duplicates, 1);
	assert_int_equal(f->s.stats.late, 0);
}

static void test_rewind_ignores_other_line_copy_of_first_datagram(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, true);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 2), 1, 0), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.rewinds, 0);
	assert_int_equal(f->s.stats.line[1].arb_dropped, 2);
	assert_int_equal(f->s.next_seq, 5);
}

static void test_rewind_off_treats_first_datagram_again_as_duplicate(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 2), 0, 1), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.rewinds, 0);
	assert_int_equal(f->s.stats.duplicates, 2);
	assert_int_equal(f->s.next_seq, 5);
}

static void test_rewind_discards_slots_of_previous_pass(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, true);
	struct dgram d;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);
	feed(f, dg_std(&d, SESS_A, 3, 2), 0, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 9, 1), 0, 0), DD_MOLD_HELD);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 2), 0, 1), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.rewinds, 1);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(drain(f, UINT64_MAX), 0);
	const uint64_t want[] = { 1, 2, 3, 4, 1, 2 };
	assert_seen(f, want, 6);
}

/* ---- malformed and misuse ----------------------------------------------------------------------- */

static void test_malformed_datagrams_are_dropped_counted_and_leave_sequence(void **state)
{
	(void)state;
	struct fx *f = fx_init(4, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	feed(f, dg_std(&d, SESS_A, 1, 2), 0, 0);

	dg_std(&d, SESS_A, 3, 2);
	assert_int_equal(dd_mold_rx(&f->s, d.b, 19, 0, 1, &b), DD_MOLD_DROP);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len - 1, 0, 1, &b), DD_MOLD_DROP);
	assert_int_equal(dd_mold_rx(&f->s, d.b, DD_MOLD_HDR_LEN + 2 + STD_LEN, 0, 1, &b), DD_MOLD_DROP);
	dg_add(&d, 1, 0);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DROP);
	dg_marker(&d, SESS_A, 3, 0);
	d.b[d.len++] = 7;
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DROP);
	dg_std(&d, SESS_A, 0, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DROP);
	dg_std(&d, SESS_A, UINT64_MAX, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, 0, 1, &b), DD_MOLD_DROP);
	/* a malformed datagram of another name does not change the session either */
	dg_std(&d, SESS_B, 1, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len - 1, 0, 1, &b), DD_MOLD_DROP);

	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_SHORT], 1);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_MSG_OVERRUN], 2);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_COUNT_MISMATCH], 1);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_TRAILING], 2);
	assert_int_equal(f->s.stats.errors[DD_MOLD_ERR_BAD_SEQ], 2);
	assert_int_equal(f->s.stats.errors[DD_MOLD_OK], 0);
	assert_int_equal(f->s.stats.datagrams, 1);
	assert_int_equal(f->s.stats.line[0].datagrams, 1);
	assert_int_equal(f->s.stats.heartbeats, 0);
	assert_int_equal(f->s.next_seq, 3);
	assert_int_equal(f->s.line_next[0], 3);
	assert_int_equal(f->s.nheld, 0);
	assert_int_equal(f->s.stats.gaps, 0);
	assert_int_equal(f->s.stats.session_changes, 0);
	assert_memory_equal(f->s.name, SESS_A, DD_MOLD_SESSION_LEN);

	/* the well-formed copy still fills the place */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 3, 2), 1, 2), DD_MOLD_DELIVER);
	assert_seen_range(f, 1, 4);
}

static void test_malformed_first_datagram_does_not_start_session(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	dg_std(&d, SESS_B, 1, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len + 1, 0, 0, &b), DD_MOLD_DROP);
	assert_false(f->s.started);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 1, 1), 0, 0), DD_MOLD_DELIVER);
	assert_memory_equal(f->s.name, SESS_A, DD_MOLD_SESSION_LEN);
	assert_int_equal(f->s.stats.session_changes, 0);
}

static void test_invalid_line_is_dropped_and_counted(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	struct dd_mold_block b;

	dg_std(&d, SESS_A, 1, 1);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, DD_MOLD_MAX_LINES, 0, &b), DD_MOLD_DROP);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, UINT32_MAX, 0, &b), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.bad_line, 2);
	assert_int_equal(f->s.stats.datagrams, 0);
	assert_false(f->s.started);
	assert_int_equal(dd_mold_rx(&f->s, d.b, d.len, DD_MOLD_MAX_LINES - 1, 0, &b), DD_MOLD_DELIVER);
	assert_int_equal(f->s.stats.line[DD_MOLD_MAX_LINES - 1].delivered, 1);
}

/* ---- gap log ------------------------------------------------------------------------------------ */

static void test_gap_log_keeps_newest_gaps_after_wrapping(void **state)
{
	(void)state;
	struct fx *f = fx_init(0, 0, false);
	struct dgram d;
	struct dd_mold_gap g;
	const uint64_t ngaps = DD_MOLD_GAP_LOG + 6;

	/* message 2k+1 delivered for k = 0..ngaps: each skips one, the gap {2k} */
	for (uint64_t k = 0; k <= ngaps; k++)
		feed(f, dg_std(&d, SESS_A, 2 * k + 1, 1), 0, k);
	assert_int_equal(f->s.stats.gaps, ngaps);
	assert_int_equal(f->s.stats.missing, ngaps);
	assert_int_equal(f->s.gap_log_n, ngaps);
	for (uint64_t i = 0; i < DD_MOLD_GAP_LOG; i++)
		assert_gap(f, i, 2 * (ngaps - i), 2 * (ngaps - i));
	assert_false(dd_mold_gap_at(&f->s, DD_MOLD_GAP_LOG, &g));
	assert_false(dd_mold_gap_at(&f->s, UINT64_MAX, &g));

	/* late is judged against the log: gap {2} has rolled out of it, gap {140} is in */
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 2, 1), 1, 100), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.late, 0);
	assert_int_equal(feed(f, dg_std(&d, SESS_A, 2 * ngaps, 1), 1, 100), DD_MOLD_DROP);
	assert_int_equal(f->s.stats.late, 1);
	assert_int_equal(f->s.stats.duplicates, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_decodes_header_of_well_formed_datagram),
		cmocka_unit_test(test_parse_rejects_each_framing_error_with_its_reason),
		cmocka_unit_test(test_err_name_is_stable_snake_case),
		cmocka_unit_test(test_init_rejects_window_above_max_short_memory_and_misalignment),
		cmocka_unit_test(test_in_order_datagrams_are_delivered_in_place),
		cmocka_unit_test(test_zero_length_message_is_delivered_and_counted),
		cmocka_unit_test(test_heartbeat_at_next_seq_is_consumed_without_delivery),
		cmocka_unit_test(test_heartbeat_ahead_declares_gap_at_once_with_window_zero),
		cmocka_unit_test(test_heartbeat_ahead_is_held_and_its_gap_declared_once),
		cmocka_unit_test(test_heartbeat_marker_is_consumed_silently_when_gap_fills),
		cmocka_unit_test(test_end_of_session_then_data_after_end_is_dropped),
		cmocka_unit_test(test_end_of_session_ahead_declares_gap_then_ends),
		cmocka_unit_test(test_held_datagram_beyond_end_of_session_is_dropped_without_gap),
		cmocka_unit_test(test_gap_with_window_zero_is_declared_at_once_and_logged),
		cmocka_unit_test(test_a_jump_past_the_limit_is_dropped_whole_and_counted_and_the_feed_goes_on),
		cmocka_unit_test(test_a_new_session_far_ahead_is_dropped_held_or_not),
		cmocka_unit_test(test_the_missing_count_saturates_instead_of_wrapping),
		cmocka_unit_test(test_duplicate_datagram_on_same_line_counts_own_duplicates),
		cmocka_unit_test(test_partial_overlap_delivers_only_new_messages),
		cmocka_unit_test(test_second_line_copies_are_arbitration_losses_not_duplicates),
		cmocka_unit_test(test_other_line_fills_a_loss_without_gap),
		cmocka_unit_test(test_reorder_within_window_recovers_without_gap),
		cmocka_unit_test(test_held_datagrams_release_in_sequence_order),
		cmocka_unit_test(test_held_copy_from_other_line_is_dropped_as_arbitration_loss),
		cmocka_unit_test(test_full_window_declares_gap),
		cmocka_unit_test(test_full_window_releases_only_up_to_next_gap),
		cmocka_unit_test(test_timeout_declares_gap),
		cmocka_unit_test(test_timeout_stops_at_the_last_expired_slot),
		cmocka_unit_test(test_timeout_of_older_slot_passes_younger_marker_in_one_drain),
		cmocka_unit_test(test_timeout_forces_only_up_to_the_expired_slot_within_one_drain),
		cmocka_unit_test(test_late_arrival_after_declared_gap_is_counted_late),
		cmocka_unit_test(test_pop_at_max_time_flushes_everything),
		cmocka_unit_test(test_oversized_datagram_ahead_is_delivered_after_declaring_gap),
		cmocka_unit_test(test_caller_that_skips_drain_gets_undrained_drops_not_overflow),
		cmocka_unit_test(test_first_datagram_ahead_declares_missing_from_one),
		cmocka_unit_test(test_first_datagram_ahead_waits_in_window),
		cmocka_unit_test(test_session_change_releases_held_datagrams_first_and_restarts_at_one),
		cmocka_unit_test(test_session_change_with_nothing_held_is_immediate),
		cmocka_unit_test(test_session_change_to_datagram_ahead_applies_new_gap_logic),
		cmocka_unit_test(test_stale_session_datagrams_are_dropped),
		cmocka_unit_test(test_all_zero_session_name_is_not_mistaken_for_stale),
		cmocka_unit_test(test_undrained_session_change_joins_pending_and_drops_a_third_name),
		cmocka_unit_test(test_late_ignores_gaps_of_previous_session),
		cmocka_unit_test(test_rewind_restarts_at_first_delivered_seq),
		cmocka_unit_test(test_rewind_uses_first_delivered_seq_not_one),
		cmocka_unit_test(test_rewind_ignores_other_line_copy_of_first_datagram),
		cmocka_unit_test(test_rewind_off_treats_first_datagram_again_as_duplicate),
		cmocka_unit_test(test_rewind_discards_slots_of_previous_pass),
		cmocka_unit_test(test_malformed_datagrams_are_dropped_counted_and_leave_sequence),
		cmocka_unit_test(test_malformed_first_datagram_does_not_start_session),
		cmocka_unit_test(test_invalid_line_is_dropped_and_counted),
		cmocka_unit_test(test_gap_log_keeps_newest_gaps_after_wrapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
