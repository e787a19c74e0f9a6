/* SPDX-License-Identifier: MIT */
/*
 * tools/tail.c: the output-stream sequencer behind dadar-tail. In-order delivery and the end of
 * session; gaps held and asked for (once, again every timeout, then lost), split by
 * max_per_request; gaps without requests (timeout, or until dd_tail_finish()); the hold bound;
 * duplicates; heartbeats and ends of session that open gaps; session changes and stale datagrams;
 * params.from; bad datagrams and malformed messages counted by reason; parameter validation; a
 * delivery callback that stops; messages past the end of session.
 *
 * Datagrams are written here byte by byte (MoldUDP64: session, BE seq, BE count, BE-length framed
 * messages), and every expected sequence number and counter is this file's own count. Output n
 * carries n in its fields (lsn, feed seq, bid price), so the delivery callback checks that message
 * n arrived as n. Time is plain numbers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/wire/moldudp64.h"
#include "dataplane/wire/outwire.h"
#include "tools/tail.h"

#define SESSION_A "SESSION001"
#define SESSION_B "SESSION002"
#define NEVER     UINT64_MAX
#define MAX_SEEN  64
#define MAX_REQS  16
#define BBO_LEN   90 /* docs/wire-formats.md: a 'B' message */

#define LSN_OF(n)   (5000 + (n))
#define FEED_SEQ(n) (900000 + (n))

/* ---- datagrams, byte by byte ---------------------------------------------------------------- */

struct dgram {
	uint8_t b[2048];
	size_t len;
	uint16_t count;
};

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Header only: session, seq, count 0 (a heartbeat until messages are added). */
static void dg_begin(struct dgram *d, const char *session, uint64_t seq)
{
	memcpy(d->b, session, DD_MOLD_SESSION_LEN);
	put_be64(d->b + 10, seq);
	put_be16(d->b + 18, 0);
	d->len = DD_MOLD_HDR_LEN;
	d->count = 0;
}

/* Overwrite the header's count (to make it lie, or to make a marker). */
static void dg_set_count(struct dgram *d, uint16_t count)
{
	put_be16(d->b + 18, count);
}

static void dg_add(struct dgram *d, const uint8_t *msg, uint16_t len)
{
	assert_true(d->len + 2 + len <= sizeof(d->b));
	put_be16(d->b + d->len, len);
	memcpy(d->b + d->len + 2, msg, len);
	d->len += 2 + (size_t)len;
	d->count++;
	dg_set_count(d, d->count);
}

/* Output number n: a bbo whose fields say n. */
static struct dd_output output_n(uint64_t n)
{
	struct dd_output o;

	memset(&o, 0, sizeof(o));
	o.type = DD_OUT_BBO;
	o.op = 1;
	o.key = 42;
	o.seq = FEED_SEQ(n);
	o.cause = 3 * n;
	o.u.bbo.bid_price = (uint32_t)n;
	o.u.bbo.locate = 42;
	return o;
}

static void dg_add_output(struct dgram *d, uint64_t n)
{
	uint8_t msg[DD_OUTW_MAX_LEN];
	struct dd_output o = output_n(n);
	size_t len = dd_outw_encode(msg, LSN_OF(n), &o);

	assert_int_equal(len, BBO_LEN);
	dg_add(d, msg, (uint16_t)len);
}

/* A message body that dd_outw_decode() must refuse: `len` bytes, type letter and version given. */
static void dg_add_raw(struct dgram *d, uint8_t type, uint8_t version, uint16_t len)
{
	uint8_t msg[256];

	assert_true(len >= 2 && len <= sizeof(msg));
	memset(msg, 0, sizeof(msg));
	msg[0] = type;
	msg[1] = version;
	dg_add(d, msg, len);
}

/* ---- a tail and what its callbacks saw -------------------------------------------------------- */

struct req {
	char session[DD_MOLD_SESSION_LEN];
	uint64_t seq;
	uint16_t count;
};

struct run {
	struct dd_tail *t;
	uint64_t seen[MAX_SEEN];
	char seen_session[MAX_SEEN][DD_MOLD_SESSION_LEN];
	size_t nseen;
	size_t stop_at;            /* the delivery callback returns false for delivery number stop_at */
	struct req req[MAX_REQS];
	size_t nreq;
	unsigned notes;
};

static bool on_out(void *ctx, uint64_t seq, uint64_t lsn, const struct dd_output *o)
{
	struct run *r = ctx;
	struct dd_output want = output_n(seq);

	assert_true(r->nseen < MAX_SEEN);
	assert_int_equal(lsn, LSN_OF(seq));
	assert_int_equal(o->seq, FEED_SEQ(seq));
	assert_true(dd_output_same(o, &want));
	assert_true(dd_tail_session(r->t, r->seen_session[r->nseen]));
	r->seen[r->nseen++] = seq;
	return r->nseen != r->stop_at;
}

static void on_request(void *ctx, const char *session, uint64_t seq, uint16_t count)
{
	struct run *r = ctx;

	assert_true(r->nreq < MAX_REQS);
	memcpy(r->req[r->nreq].session, session, DD_MOLD_SESSION_LEN);
	r->req[r->nreq].seq = seq;
	r->req[r->nreq].count = count;
	r->nreq++;
}

static void on_note(void *ctx, const char *msg)
{
	struct run *r = ctx;

	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	r->notes++;
}

/* The tail a test has open: the teardown destroys it if a failed assertion left it there. */
static struct dd_tail *g_open;

static void run_open(struct run *r, const struct dd_tail_params *p)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(dd_tail_create(&r->t, p, on_out, p->request ? on_request : NULL, on_note, r), 0);
	assert_non_null(r->t);
	g_open = r->t;
}

static void run_close(struct run *r)
{
	dd_tail_destroy(r->t);
	r->t = NULL;
	g_open = NULL;
}

static int destroy_left_open(void **state)
{
	(void)state;
	dd_tail_destroy(g_open);
	g_open = NULL;
	return 0;
}

/* Messages first..first+n-1 of `session` in one datagram. */
static void feed(struct run *r, const char *session, uint64_t first, unsigned n, bool answer, uint64_t now)
{
	struct dgram d;

	dg_begin(&d, session, first);
	for (unsigned i = 0; i < n; i++)
		dg_add_output(&d, first + i);
	dd_tail_datagram(r->t, d.b, d.len, answer, now);
}

/* A heartbeat (count 0) or an end of session (DD_MOLD_COUNT_EOS) naming `next`. */
static void marker(struct run *r, const char *session, uint64_t next, uint16_t count, uint64_t now)
{
	struct dgram d;

	dg_begin(&d, session, next);
	dg_set_count(&d, count);
	dd_tail_datagram(r->t, d.b, d.len, false, now);
}

#define heartbeat(r, session, next, now)      marker((r), (session), (next), 0, (now))
#define end_of_session(r, session, next, now) marker((r), (session), (next), DD_MOLD_COUNT_EOS, (now))

/* The messages delivered so far are exactly `want` (`line`: the caller's, for the failure). */
static void expect_seen(const struct run *r, const uint64_t *want, size_t n, int line)
{
	for (size_t i = 0; i < n && i < r->nseen; i++)
		if (r->seen[i] != want[i])
			fail_msg("line %d: delivery %zu is message %llu, want %llu", line, i,
				 (unsigned long long)r->seen[i], (unsigned long long)want[i]);
	if (r->nseen != n)
		fail_msg("line %d: %zu messages delivered, want %zu", line, r->nseen, n);
}

#define EXPECT_SEEN(r, ...)                                                          \
	do {                                                                         \
		const uint64_t want_[] = { __VA_ARGS__ };                            \
		expect_seen((r), want_, sizeof(want_) / sizeof(want_[0]), __LINE__); \
	} while (0)

static void expect_req(const struct run *r, size_t i, const char *session, uint64_t seq, uint16_t count)
{
	assert_true(i < r->nreq);
	assert_memory_equal(r->req[i].session, session, DD_MOLD_SESSION_LEN);
	assert_int_equal(r->req[i].seq, seq);
	assert_int_equal(r->req[i].count, count);
}

/* Every counter equal to `want`'s (the fields a test does not name are 0). */
static void expect_stats(const struct run *r, const struct dd_tail_stats *want, int line)
{
	const struct dd_tail_stats *got = dd_tail_stats(r->t);

#define SAME(f)                                                                                        \
	do {                                                                                           \
		if (got->f != want->f)                                                                 \
			fail_msg("line %d: stats." #f " %llu, want %llu", line,                        \
				 (unsigned long long)got->f, (unsigned long long)want->f);             \
	} while (0)
	SAME(datagrams);
	SAME(answers);
	SAME(messages);
	for (unsigned i = 0; i < DD_TAIL_NREASONS; i++)
		SAME(malformed[i]);
	for (unsigned i = 0; i < DD_MOLD_ERR__COUNT; i++)
		SAME(bad[i]);
	SAME(stale);
	SAME(after_end);
	SAME(heartbeats);
	SAME(gaps);
	SAME(requests);
	SAME(requested);
	SAME(recovered);
	SAME(duplicates);
	SAME(lost);
	SAME(session_changes);
	SAME(ended);
#undef SAME
}

#define EXPECT_STATS(r, ...) expect_stats((r), &(const struct dd_tail_stats){ __VA_ARGS__ }, __LINE__)

static const struct dd_tail_params plain = { .hold = 1000 };
static const struct dd_tail_params asking = {
	.hold = 1000, .request = true, .timeout_ns = 100, .tries = 3, .max_per_request = 1000,
};

/* ---- the tests ---------------------------------------------------------------------------------- */

static void test_in_order_datagrams_are_delivered_and_the_end_of_session_is_done(void **state)
{
	struct run r;
	char s[DD_MOLD_SESSION_LEN];

	(void)state;
	run_open(&r, &plain);
	assert_false(dd_tail_session(r.t, s));
	assert_false(dd_tail_done(r.t));
	assert_int_equal(dd_tail_missing(r.t), 0);

	feed(&r, SESSION_A, 1, 3, false, 0);
	feed(&r, SESSION_A, 4, 3, false, 1);
	heartbeat(&r, SESSION_A, 7, 2); /* nothing new: 7 is next */
	feed(&r, SESSION_A, 7, 1, false, 3);
	assert_true(dd_tail_session(r.t, s));
	assert_memory_equal(s, SESSION_A, DD_MOLD_SESSION_LEN);
	assert_false(dd_tail_done(r.t));
	assert_false(dd_tail_stats(r.t)->ended);

	end_of_session(&r, SESSION_A, 8, 4);
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5, 6, 7);
	for (size_t i = 0; i < r.nseen; i++)
		assert_memory_equal(r.seen_session[i], SESSION_A, DD_MOLD_SESSION_LEN);
	EXPECT_STATS(&r, .datagrams = 5, .messages = 7, .heartbeats = 1, .ended = true);
	assert_true(dd_tail_done(r.t));
	assert_false(dd_tail_stopped(r.t));
	assert_int_equal(dd_tail_missing(r.t), 0);
	assert_int_equal(dd_tail_poll(r.t, 5), NEVER);
	assert_int_equal(r.notes, 0);
	run_close(&r);
}

static void test_a_gap_is_held_asked_for_and_filled_by_the_answer(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &asking);
	feed(&r, SESSION_A, 1, 3, false, 0);
	feed(&r, SESSION_A, 7, 3, false, 10);
	EXPECT_SEEN(&r, 1, 2, 3);
	assert_int_equal(dd_tail_missing(r.t), 3);

	assert_int_equal(dd_tail_poll(r.t, 10), 110);
	assert_int_equal(r.nreq, 1);
	expect_req(&r, 0, SESSION_A, 4, 3);

	feed(&r, SESSION_A, 4, 3, true, 20);
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5, 6, 7, 8, 9);
	EXPECT_STATS(&r, .datagrams = 3, .answers = 1, .messages = 9, .gaps = 1, .requests = 1, .requested = 3,
		     .recovered = 3);
	assert_int_equal(dd_tail_missing(r.t), 0);
	assert_int_equal(dd_tail_poll(r.t, 110), NEVER);
	assert_int_equal(r.nreq, 1);
	assert_int_equal(dd_tail_stats(r.t)->lost, 0);
	run_close(&r);
}

static void test_a_gap_is_asked_for_tries_times_then_lost_and_delivery_goes_on(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &asking); /* tries 3, timeout 100 */
	feed(&r, SESSION_A, 1, 1, false, 0);
	feed(&r, SESSION_A, 5, 1, false, 0); /* 2..4 missing */
	assert_int_equal(dd_tail_poll(r.t, 0), 100);
	assert_int_equal(r.nreq, 1);
	expect_req(&r, 0, SESSION_A, 2, 3);

	/* 3 arrives late: what is held is not asked for again */
	feed(&r, SESSION_A, 3, 1, false, 40);
	assert_int_equal(dd_tail_poll(r.t, 50), 100);
	assert_int_equal(r.nreq, 1);
	assert_int_equal(dd_tail_poll(r.t, 100), 200);
	assert_int_equal(r.nreq, 3);
	expect_req(&r, 1, SESSION_A, 2, 1);
	expect_req(&r, 2, SESSION_A, 4, 1);
	assert_int_equal(dd_tail_poll(r.t, 200), 300);
	assert_int_equal(r.nreq, 5);
	expect_req(&r, 3, SESSION_A, 2, 1);
	expect_req(&r, 4, SESSION_A, 4, 1);

	/* three requests made: the last one's timeout, then lost */
	assert_int_equal(dd_tail_poll(r.t, 299), 300);
	assert_int_equal(r.nreq, 5);
	assert_int_equal(dd_tail_stats(r.t)->lost, 0);
	EXPECT_SEEN(&r, 1);
	assert_int_equal(dd_tail_poll(r.t, 300), NEVER);
	assert_int_equal(r.nreq, 5);
	EXPECT_SEEN(&r, 1, 3, 5);
	assert_true(r.notes >= 1);

	feed(&r, SESSION_A, 6, 1, false, 310);
	EXPECT_SEEN(&r, 1, 3, 5, 6);
	EXPECT_STATS(&r, .datagrams = 4, .messages = 4, .gaps = 1, .requests = 5, .requested = 7, .recovered = 1,
		     .lost = 2);
	assert_int_equal(dd_tail_missing(r.t), 0);
	run_close(&r);
}

static void test_without_requests_a_gap_waits_its_timeout_or_the_finish(void **state)
{
	struct run r;
	struct dd_tail_params p = plain; /* no requests, timeout 0: no limit */

	(void)state;
	run_open(&r, &p);
	feed(&r, SESSION_A, 1, 1, false, 0);
	feed(&r, SESSION_A, 4, 2, false, 0); /* 2, 3 missing */
	assert_int_equal(dd_tail_poll(r.t, 0), NEVER);
	assert_int_equal(dd_tail_poll(r.t, 1000000000000000ull), NEVER);
	EXPECT_SEEN(&r, 1);
	assert_int_equal(dd_tail_missing(r.t), 2);
	assert_int_equal(dd_tail_stats(r.t)->lost, 0);

	dd_tail_finish(r.t);
	EXPECT_SEEN(&r, 1, 4, 5);
	EXPECT_STATS(&r, .datagrams = 2, .messages = 3, .gaps = 1, .lost = 2);
	assert_int_equal(dd_tail_missing(r.t), 0);
	assert_false(dd_tail_done(r.t)); /* no end of session */
	run_close(&r);

	/* with a timeout: a late datagram in time fills, after it the gap is lost */
	p.timeout_ns = 500;
	run_open(&r, &p);
	feed(&r, SESSION_A, 1, 1, false, 1000);
	feed(&r, SESSION_A, 3, 1, false, 1000);  /* 2 missing, until 1500 */
	feed(&r, SESSION_A, 6, 1, false, 1200);  /* 4, 5 missing, until 1700 */
	assert_int_equal(dd_tail_poll(r.t, 1200), 1500);
	assert_int_equal(dd_tail_poll(r.t, 1499), 1500);
	EXPECT_SEEN(&r, 1);
	assert_int_equal(dd_tail_poll(r.t, 1500), 1700);
	EXPECT_SEEN(&r, 1, 3);
	feed(&r, SESSION_A, 5, 1, false, 1600);
	assert_int_equal(dd_tail_poll(r.t, 1700), NEVER);
	EXPECT_SEEN(&r, 1, 3, 5, 6);
	EXPECT_STATS(&r, .datagrams = 4, .messages = 4, .gaps = 2, .recovered = 1, .lost = 2);
	assert_int_equal(r.nreq, 0);
	assert_int_equal(r.notes, 2);
	run_close(&r);
}

/*
 * tail.h: held "up to params.hold messages past the next expected one; a message that would be
 * further ahead gives up the oldest missing ones (counted lost) to make room" (hold: "most messages
 * held past the next expected one").
 */
static void test_the_hold_bound_gives_up_the_oldest_missing_messages(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &(struct dd_tail_params){ .hold = 4 });
	feed(&r, SESSION_A, 1, 1, false, 0);
	feed(&r, SESSION_A, 3, 4, false, 0); /* next is 2: 3..6 are 1..4 past it, all four held */
	EXPECT_SEEN(&r, 1);
	EXPECT_STATS(&r, .datagrams = 2, .messages = 1, .gaps = 1);
	assert_int_equal(dd_tail_missing(r.t), 1);

	/* 10 is 8 past 2: giving up 2 delivers 3..6, and 10 is 3 past 7 */
	feed(&r, SESSION_A, 10, 1, false, 0);
	EXPECT_SEEN(&r, 1, 3, 4, 5, 6);
	EXPECT_STATS(&r, .datagrams = 3, .messages = 5, .gaps = 2, .lost = 1);
	assert_int_equal(dd_tail_missing(r.t), 3);

	/* 20 is 13 past 7: next must reach 16; 7..9 and 11..15 lost, 10 delivered; 16..19 missing */
	feed(&r, SESSION_A, 20, 1, false, 0);
	EXPECT_SEEN(&r, 1, 3, 4, 5, 6, 10);
	EXPECT_STATS(&r, .datagrams = 4, .messages = 6, .gaps = 3, .lost = 9);
	assert_int_equal(dd_tail_missing(r.t), 4);
	assert_true(r.notes >= 2);

	dd_tail_finish(r.t);
	EXPECT_SEEN(&r, 1, 3, 4, 5, 6, 10, 20);
	EXPECT_STATS(&r, .datagrams = 4, .messages = 7, .gaps = 3, .lost = 13);
	run_close(&r);

	/* hold 1: one message past the next expected one is held */
	run_open(&r, &(struct dd_tail_params){ .hold = 1 });
	feed(&r, SESSION_A, 1, 1, false, 0);
	feed(&r, SESSION_A, 3, 1, false, 0);
	EXPECT_SEEN(&r, 1);
	assert_int_equal(dd_tail_missing(r.t), 1);
	feed(&r, SESSION_A, 2, 1, false, 0);
	EXPECT_SEEN(&r, 1, 2, 3);
	EXPECT_STATS(&r, .datagrams = 3, .messages = 3, .gaps = 1, .recovered = 1);
	run_close(&r);
}

static void test_duplicates_are_counted_and_never_delivered_twice(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &plain);
	feed(&r, SESSION_A, 1, 3, false, 0);
	feed(&r, SESSION_A, 1, 3, false, 0); /* re-sent: 3 delivered ones */
	EXPECT_SEEN(&r, 1, 2, 3);
	assert_int_equal(dd_tail_stats(r.t)->duplicates, 3);

	feed(&r, SESSION_A, 7, 3, false, 0);
	feed(&r, SESSION_A, 8, 3, false, 0); /* 8, 9 held already; 10 new */
	EXPECT_SEEN(&r, 1, 2, 3);
	assert_int_equal(dd_tail_stats(r.t)->duplicates, 5);
	assert_int_equal(dd_tail_missing(r.t), 3);

	feed(&r, SESSION_A, 2, 5, true, 0); /* an answer overlapping what was delivered */
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
	feed(&r, SESSION_A, 7, 3, false, 0);
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
	EXPECT_STATS(&r, .datagrams = 6, .answers = 1, .messages = 10, .gaps = 1, .recovered = 3,
		     .duplicates = 10);
	assert_int_equal(dd_tail_missing(r.t), 0);
	run_close(&r);
}

static void test_a_heartbeat_or_end_of_session_ahead_opens_a_gap(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &asking);
	feed(&r, SESSION_A, 1, 3, false, 0);
	heartbeat(&r, SESSION_A, 4, 1);
	assert_int_equal(dd_tail_poll(r.t, 1), NEVER);
	assert_int_equal(dd_tail_missing(r.t), 0);

	heartbeat(&r, SESSION_A, 7, 2); /* 4..6 were sent */
	assert_int_equal(dd_tail_missing(r.t), 3);
	assert_int_equal(dd_tail_poll(r.t, 2), 102);
	assert_int_equal(r.nreq, 1);
	expect_req(&r, 0, SESSION_A, 4, 3);

	end_of_session(&r, SESSION_A, 9, 3); /* 7, 8 too */
	assert_true(dd_tail_stats(r.t)->ended);
	assert_false(dd_tail_done(r.t));
	assert_int_equal(dd_tail_missing(r.t), 5);
	assert_int_equal(dd_tail_poll(r.t, 3), 102);
	assert_int_equal(r.nreq, 2);
	expect_req(&r, 1, SESSION_A, 7, 2);

	feed(&r, SESSION_A, 4, 5, true, 4);
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_true(dd_tail_done(r.t));
	EXPECT_STATS(&r, .datagrams = 5, .answers = 1, .messages = 8, .heartbeats = 2, .gaps = 2, .requests = 2,
		     .requested = 5, .recovered = 5, .ended = true);
	assert_int_equal(dd_tail_poll(r.t, 102), NEVER);
	assert_int_equal(r.nreq, 2);
	run_close(&r);
}

static void test_a_large_gap_is_asked_for_max_per_request_at_a_time(void **state)
{
	struct run r;
	struct dd_tail_params p = asking;

	(void)state;
	p.hold = 10000;
	p.tries = 2;
	run_open(&r, &p);
	feed(&r, SESSION_A, 1, 1, false, 0);
	feed(&r, SESSION_A, 2502, 1, false, 0); /* 2..2501: 2500 missing */
	assert_int_equal(dd_tail_missing(r.t), 2500);
	assert_int_equal(dd_tail_poll(r.t, 0), 100);
	assert_int_equal(r.nreq, 3);
	expect_req(&r, 0, SESSION_A, 2, 1000);
	expect_req(&r, 1, SESSION_A, 1002, 1000);
	expect_req(&r, 2, SESSION_A, 2002, 500);

	assert_int_equal(dd_tail_poll(r.t, 100), 200); /* asked again: counted again */
	assert_int_equal(r.nreq, 6);
	expect_req(&r, 3, SESSION_A, 2, 1000);
	expect_req(&r, 4, SESSION_A, 1002, 1000);
	expect_req(&r, 5, SESSION_A, 2002, 500);
	EXPECT_STATS(&r, .datagrams = 2, .messages = 1, .gaps = 1, .requests = 6, .requested = 5000);

	assert_int_equal(dd_tail_poll(r.t, 200), NEVER);
	EXPECT_SEEN(&r, 1, 2502);
	assert_int_equal(dd_tail_stats(r.t)->lost, 2500);
	run_close(&r);
}

static void test_another_session_replaces_the_old_one_whose_datagrams_are_then_stale(void **state)
{
	struct run r;
	char s[DD_MOLD_SESSION_LEN];

	(void)state;
	run_open(&r, &asking);
	feed(&r, SESSION_A, 1, 3, false, 0);
	feed(&r, SESSION_A, 7, 3, false, 0);
	assert_int_equal(dd_tail_poll(r.t, 0), 100);
	expect_req(&r, 0, SESSION_A, 4, 3);

	/* a restart: A's held 7..9 delivered, its missing 4..6 lost, then B from its first datagram */
	feed(&r, SESSION_B, 1, 2, false, 10);
	EXPECT_SEEN(&r, 1, 2, 3, 7, 8, 9, 1, 2);
	for (size_t i = 0; i < r.nseen; i++)
		assert_memory_equal(r.seen_session[i], i < 6 ? SESSION_A : SESSION_B, DD_MOLD_SESSION_LEN);
	assert_true(dd_tail_session(r.t, s));
	assert_memory_equal(s, SESSION_B, DD_MOLD_SESSION_LEN);
	assert_true(r.notes >= 1);

	feed(&r, SESSION_A, 4, 3, true, 20); /* A's late answer */
	heartbeat(&r, SESSION_A, 10, 21);
	assert_int_equal(dd_tail_poll(r.t, 100), NEVER); /* A's gap is not asked for again */
	assert_int_equal(r.nreq, 1);
	feed(&r, SESSION_B, 3, 1, false, 30);
	EXPECT_SEEN(&r, 1, 2, 3, 7, 8, 9, 1, 2, 3);
	EXPECT_STATS(&r, .datagrams = 6, .answers = 1, .messages = 9, .stale = 2, .gaps = 1, .requests = 1,
		     .requested = 3, .lost = 3, .session_changes = 1);
	assert_int_equal(dd_tail_missing(r.t), 0);
	run_close(&r);
}

static void test_from_starts_at_the_number_given(void **state)
{
	struct run r;
	struct dd_tail_params p = asking;

	(void)state;
	p.from = 1;
	run_open(&r, &p);
	feed(&r, SESSION_A, 5, 3, false, 0); /* joined late: 1..4 wanted too */
	assert_int_equal(r.nseen, 0);
	assert_int_equal(dd_tail_missing(r.t), 4);
	assert_int_equal(dd_tail_poll(r.t, 0), 100);
	assert_int_equal(r.nreq, 1);
	expect_req(&r, 0, SESSION_A, 1, 4);
	feed(&r, SESSION_A, 1, 4, true, 5);
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5, 6, 7);
	EXPECT_STATS(&r, .datagrams = 2, .answers = 1, .messages = 7, .gaps = 1, .requests = 1, .requested = 4,
		     .recovered = 4);
	run_close(&r);

	/* from 5: what comes before is not wanted, and not a duplicate either */
	p = plain;
	p.from = 5;
	run_open(&r, &p);
	feed(&r, SESSION_A, 1, 6, false, 0);
	EXPECT_SEEN(&r, 5, 6);
	feed(&r, SESSION_A, 3, 2, false, 0);
	EXPECT_SEEN(&r, 5, 6);
	EXPECT_STATS(&r, .datagrams = 2, .messages = 2);
	run_close(&r);
}

static void test_bad_datagrams_are_dropped_whole_and_counted_by_reason(void **state)
{
	struct run r;
	struct dgram d;
	char s[DD_MOLD_SESSION_LEN];

	(void)state;
	run_open(&r, &plain);

	/* before any good one: they name no session */
	dg_begin(&d, SESSION_A, 1);
	dd_tail_datagram(r.t, d.b, 15, false, 0); /* cut inside the header */
	dg_begin(&d, SESSION_A, 1);
	dg_add_output(&d, 1);
	dg_add_output(&d, 2);
	dg_set_count(&d, 3); /* says 3, holds 2 */
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	assert_false(dd_tail_session(r.t, s));

	feed(&r, SESSION_A, 1, 2, false, 0);
	EXPECT_SEEN(&r, 1, 2);

	/* of another session: dropped, not a session change */
	dg_begin(&d, SESSION_B, 3);
	dg_add_output(&d, 3);
	put_be16(d.b + DD_MOLD_HDR_LEN, BBO_LEN + 10); /* runs past the end */
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	dg_begin(&d, SESSION_B, 3);
	dg_add_output(&d, 3);
	dg_add_output(&d, 4);
	d.b[d.len++] = 0; /* a trailing byte */
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	dg_begin(&d, SESSION_A, 3);
	d.b[d.len++] = 0; /* a heartbeat with a byte after it */
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	dg_begin(&d, SESSION_B, 0);
	dg_add_output(&d, 3); /* messages numbered from 0 */
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	dg_begin(&d, SESSION_A, 3);
	dg_add_output(&d, 3);
	dd_tail_datagram(r.t, d.b, d.len - 1, false, 0); /* the last message cut short */
	EXPECT_SEEN(&r, 1, 2);
	assert_true(dd_tail_session(r.t, s));
	assert_memory_equal(s, SESSION_A, DD_MOLD_SESSION_LEN);

	/* next is 3: more than DD_MOLD_MAX_JUMP ahead is dropped, exactly that far is not */
	heartbeat(&r, SESSION_A, 3 + DD_MOLD_MAX_JUMP + 1, 0);
	feed(&r, SESSION_A, 3 + DD_MOLD_MAX_JUMP + 1, 1, false, 0);
	assert_int_equal(dd_tail_missing(r.t), 0);
	heartbeat(&r, SESSION_A, 3 + DD_MOLD_MAX_JUMP, 0);
	assert_int_equal(dd_tail_missing(r.t), DD_MOLD_MAX_JUMP);

	EXPECT_SEEN(&r, 1, 2);
	EXPECT_STATS(&r, .datagrams = 11, .messages = 2, .heartbeats = 1, .gaps = 1,
		     .bad = { [DD_MOLD_ERR_SHORT] = 1, [DD_MOLD_ERR_MSG_OVERRUN] = 2, [DD_MOLD_ERR_COUNT_MISMATCH] = 1,
			      [DD_MOLD_ERR_TRAILING] = 2, [DD_MOLD_ERR_BAD_SEQ] = 1, [DD_MOLD_ERR_SEQ_JUMP] = 2 });
	dd_tail_finish(r.t);
	assert_int_equal(dd_tail_stats(r.t)->lost, DD_MOLD_MAX_JUMP);
	assert_int_equal(dd_tail_missing(r.t), 0);
	run_close(&r);
}

static void test_malformed_messages_consume_their_number_and_are_counted_by_reason(void **state)
{
	struct run r;
	struct dgram d;

	(void)state;
	assert_string_equal(dd_tail_reason_name(0), "short");
	assert_string_equal(dd_tail_reason_name(1), "bad_type");
	assert_string_equal(dd_tail_reason_name(2), "bad_version");
	assert_string_equal(dd_tail_reason_name(3), "bad_length");
	assert_non_null(dd_tail_reason_name(DD_TAIL_NREASONS));

	run_open(&r, &plain);
	dg_begin(&d, SESSION_A, 1);
	dg_add_output(&d, 1);
	dg_add_raw(&d, 'B', 1, 10);              /* 2: shorter than the 56-byte header */
	dg_add_raw(&d, 'Z', 1, BBO_LEN);         /* 3: no output has type Z */
	dg_add_raw(&d, 'B', 2, BBO_LEN);         /* 4: version 2 */
	dg_add_raw(&d, 'B', 1, BBO_LEN - 1);     /* 5: a bbo is 90 bytes */
	dg_add_output(&d, 6);
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	EXPECT_SEEN(&r, 1, 6);
	EXPECT_STATS(&r, .datagrams = 1, .messages = 2, .malformed = { 1, 1, 1, 1 });

	/* held out of order: 8 refused, 9 waits for 7 */
	dg_begin(&d, SESSION_A, 8);
	dg_add_raw(&d, 'Z', 1, BBO_LEN);
	dg_add_output(&d, 9);
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	EXPECT_SEEN(&r, 1, 6);
	feed(&r, SESSION_A, 7, 1, false, 0);
	EXPECT_SEEN(&r, 1, 6, 7, 9);

	/* a refused message's number is used: sent again, it is a duplicate */
	dg_begin(&d, SESSION_A, 3);
	dg_add_raw(&d, 'Z', 1, BBO_LEN);
	dd_tail_datagram(r.t, d.b, d.len, false, 0);
	EXPECT_SEEN(&r, 1, 6, 7, 9);
	EXPECT_STATS(&r, .datagrams = 4, .messages = 4, .malformed = { 1, 2, 1, 1 }, .gaps = 1, .recovered = 1,
		     .duplicates = 1);
	assert_int_equal(dd_tail_missing(r.t), 0);
	run_close(&r);
}

/* dd_tail_create()'s result for `p` (a tail it makes is destroyed at once). */
static int create_rc(const struct dd_tail_params *p)
{
	struct dd_tail *t = NULL;
	int rc = dd_tail_create(&t, p, on_out, on_request, NULL, NULL);

	if (rc == 0) {
		assert_non_null(t);
		dd_tail_destroy(t);
	}
	return rc;
}

static void test_create_refuses_parameters_out_of_range(void **state)
{
	struct dd_tail_params p;

	(void)state;
#define CREATE(rc, ...) do { p = asking; __VA_ARGS__; assert_int_equal(create_rc(&p), (rc)); } while (0)
	CREATE(0, (void)0);
	CREATE(-EINVAL, p.hold = 0);
	CREATE(-EINVAL, p.hold = DD_TAIL_MAX_HOLD + 1);
	CREATE(0, p.hold = DD_TAIL_MAX_HOLD);
	CREATE(0, p.hold = 1);
	CREATE(-EINVAL, p.tries = 0);
	CREATE(0, p.tries = 1);
	CREATE(0, p.request = false; p.tries = 0);
	CREATE(-EINVAL, p.max_per_request = 0);
	CREATE(-EINVAL, p.max_per_request = 65535);
	CREATE(0, p.max_per_request = 65534);
	CREATE(0, p.max_per_request = 1);
#undef CREATE
}

static void test_a_delivery_callback_returning_false_stops_delivery(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &plain);
	r.stop_at = 2;
	feed(&r, SESSION_A, 1, 5, false, 0);
	EXPECT_SEEN(&r, 1, 2);
	assert_true(dd_tail_stopped(r.t));
	assert_int_equal(dd_tail_stats(r.t)->messages, 2);
	run_close(&r);

	/* stopped while releasing held messages */
	run_open(&r, &plain);
	r.stop_at = 3;
	feed(&r, SESSION_A, 1, 1, false, 0);
	feed(&r, SESSION_A, 3, 3, false, 0);
	assert_false(dd_tail_stopped(r.t));
	feed(&r, SESSION_A, 2, 1, false, 0);
	EXPECT_SEEN(&r, 1, 2, 3);
	assert_true(dd_tail_stopped(r.t));

	feed(&r, SESSION_A, 6, 1, false, 0);
	feed(&r, SESSION_B, 1, 1, false, 0);
	assert_int_equal(dd_tail_poll(r.t, 1000), NEVER);
	dd_tail_finish(r.t);
	EXPECT_SEEN(&r, 1, 2, 3);
	assert_true(dd_tail_stopped(r.t));
	assert_int_equal(dd_tail_stats(r.t)->messages, 3);
	assert_int_equal(dd_tail_stats(r.t)->session_changes, 0);
	run_close(&r);
}

static void test_messages_numbered_past_the_end_of_session_are_counted_not_delivered(void **state)
{
	struct run r;

	(void)state;
	run_open(&r, &plain);
	feed(&r, SESSION_A, 1, 3, false, 0);
	end_of_session(&r, SESSION_A, 4, 0);
	assert_true(dd_tail_done(r.t));
	feed(&r, SESSION_A, 4, 2, false, 0);
	EXPECT_SEEN(&r, 1, 2, 3);
	EXPECT_STATS(&r, .datagrams = 3, .messages = 3, .after_end = 2, .ended = true);
	assert_true(dd_tail_done(r.t));
	run_close(&r);

	/* an end of session ahead: 4, 5 are still due, 6 and 7 are past the end */
	run_open(&r, &plain);
	feed(&r, SESSION_A, 1, 3, false, 0);
	end_of_session(&r, SESSION_A, 6, 0);
	assert_false(dd_tail_done(r.t));
	assert_int_equal(dd_tail_missing(r.t), 2);
	feed(&r, SESSION_A, 4, 4, false, 0);
	EXPECT_SEEN(&r, 1, 2, 3, 4, 5);
	EXPECT_STATS(&r, .datagrams = 3, .messages = 5, .after_end = 2, .gaps = 1, .recovered = 2, .ended = true);
	assert_true(dd_tail_done(r.t));
	run_close(&r);
}

#define TEST(f) cmocka_unit_test_teardown(f, destroy_left_open)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_in_order_datagrams_are_delivered_and_the_end_of_session_is_done),
		TEST(test_a_gap_is_held_asked_for_and_filled_by_the_answer),
		TEST(test_a_gap_is_asked_for_tries_times_then_lost_and_delivery_goes_on),
		TEST(test_without_requests_a_gap_waits_its_timeout_or_the_finish),
		TEST(test_the_hold_bound_gives_up_the_oldest_missing_messages),
		TEST(test_duplicates_are_counted_and_never_delivered_twice),
		TEST(test_a_heartbeat_or_end_of_session_ahead_opens_a_gap),
		TEST(test_a_large_gap_is_asked_for_max_per_request_at_a_time),
		TEST(test_another_session_replaces_the_old_one_whose_datagrams_are_then_stale),
		TEST(test_from_starts_at_the_number_given),
		TEST(test_bad_datagrams_are_dropped_whole_and_counted_by_reason),
		TEST(test_malformed_messages_consume_their_number_and_are_counted_by_reason),
		TEST(test_create_refuses_parameters_out_of_range),
		TEST(test_a_delivery_callback_returning_false_stops_delivery),
		TEST(test_messages_numbered_past_the_end_of_session_are_counted_not_delivered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
