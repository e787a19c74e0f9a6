/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/out: the history of released outputs (outhist.h), the journal's outputs by
 * number (outlog.c) over journals of several segments with and without outputs_before in their
 * headers (minor 1 and 0), the stream's session file, and the retransmission request server
 * (rexmit.c) on a loopback socket: answers from memory and from the journal, every refusal counted,
 * the rate limit.
 *
 * Journals are written here as the writer lays them out (docs/wire-formats.md, "The journal"): a
 * zero-filled segment, its header at 0, records from 4096 back to back, a PAD before the next one.
 * The expected outputs are numbered by this file's own count of what it wrote.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/journal/jfile.h"
#include "dataplane/out/outhist.h"
#include "dataplane/out/outlog.h"
#include "dataplane/out/rexmit.h"
#include "dataplane/wire/be.h"
#include "dataplane/wire/outwire.h"

#define SEG (64 * 1024)
static char g_err[512];

/* ---- a test journal --------------------------------------------------------------------------- */

struct tj {
	char dir[256];
	int fd;                  /* the open segment */
	uint64_t lsn;            /* next LSN */
	uint64_t off;            /* next record offset in the open segment */
	uint64_t outputs;        /* OUTPUT records written */
	uint64_t lsn_of[4096];   /* LSN of output n (from 1) */
	uint16_t minor;          /* the header version of the next segment */
};

static struct dd_output output_n(uint64_t n)
{
	struct dd_output o;
	memset(&o, 0, sizeof(o));
	o.type = DD_OUT_BBO;
	o.op = 1;
	o.key = (uint32_t)(n % 7);
	o.seq = n * 3;
	o.event_ns = 1000 + n;
	o.cause = n; /* only has to be distinct */
	o.u.bbo.bid_price = (uint32_t)(100000 + n);
	o.u.bbo.locate = (uint16_t)(n % 7);
	return o;
}

static void tj_segment(struct tj *t)
{
	char path[512];
	if (t->fd >= 0)
		close(t->fd);
	dd_jseg_path(path, sizeof(path), t->dir, t->lsn);
	t->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	assert_true(t->fd >= 0);
	assert_int_equal(ftruncate(t->fd, SEG), 0);
	struct dd_jseg_header h;
	uint8_t page[DD_J_PAGE];
	memset(page, 0, sizeof(page));
	dd_jseg_header_init(&h, SEG, t->lsn, 0, 1000000000ull, "t");
	if (t->minor >= 1) {
		dd_jseg_header_set_outputs(&h, t->outputs);
	} else {
		h.minor = 0;
		h.header_crc = 0;
		h.header_crc = dd_crc32c(0, &h, sizeof(h));
	}
	memcpy(page, &h, sizeof(h));
	assert_int_equal(pwrite(t->fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	t->off = DD_J_PAGE;
}

static void tj_rec(struct tj *t, uint16_t type, const void *p, size_t n)
{
	uint8_t rec[DD_J_MAX_REC];
	size_t len = dd_jrec_size(n);
	if (t->off + len + DD_J_REC_HDR > SEG) { /* rotate: a PAD, then a new segment */
		uint8_t pad[DD_J_REC_HDR];
		dd_jrec_put_pad(pad, t->lsn++, (uint32_t)(SEG - t->off));
		assert_int_equal(pwrite(t->fd, pad, sizeof(pad), (off_t)t->off), (ssize_t)sizeof(pad));
		tj_segment(t);
	}
	dd_jrec_put(rec, type, 0, 0, t->lsn, p, n);
	assert_int_equal(pwrite(t->fd, rec, len, (off_t)t->off), (ssize_t)len);
	t->off += len;
	if (type == DD_JREC_OUTPUT)
		t->lsn_of[++t->outputs] = t->lsn;
	t->lsn++;
}

/* `n` outputs, each after an event record, so outputs and LSNs do not coincide. */
static void tj_outputs(struct tj *t, uint64_t n)
{
	uint8_t ev[64];
	memset(ev, 0, sizeof(ev));
	for (uint64_t i = 0; i < n; i++) {
		tj_rec(t, DD_JREC_EVENT, ev, sizeof(ev));
		struct dd_output o = output_n(t->outputs + 1);
		tj_rec(t, DD_JREC_OUTPUT, &o, sizeof(o));
	}
}

static int tj_setup(void **state)
{
	struct tj *t = calloc(1, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/dd-test-out-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->fd = -1;
	t->lsn = 1;
	t->minor = 1;
	*state = t;
	return 0;
}

static int tj_teardown(void **state)
{
	struct tj *t = *state;
	if (t->fd >= 0)
		close(t->fd);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

/* ---- outhist ---------------------------------------------------------------------------------- */

static void test_history_keeps_the_last_slots_and_refuses_older_ones(void **state)
{
	(void)state;
	void *mem = calloc(1, dd_outhist_bytes(16));
	struct dd_outhist *h = dd_outhist_init(mem, 16);
	uint64_t lsn;
	struct dd_output o;
	assert_int_equal(dd_outhist_last(h), 0);
	assert_false(dd_outhist_get(h, 1, &lsn, &o));
	for (uint64_t n = 1; n <= 40; n++) {
		struct dd_output x = output_n(n);
		dd_outhist_put(h, n, 500 + n, &x);
	}
	assert_int_equal(dd_outhist_last(h), 40);
	for (uint64_t n = 1; n <= 40; n++) {
		bool got = dd_outhist_get(h, n, &lsn, &o);
		assert_int_equal(got, n > 24);
		if (got) {
			struct dd_output x = output_n(n);
			assert_int_equal(lsn, 500 + n);
			assert_true(dd_output_same(&o, &x));
		}
	}
	assert_false(dd_outhist_get(h, 41, &lsn, &o));
	free(mem);
}

/* ---- outlog ----------------------------------------------------------------------------------- */

struct got {
	uint64_t n[4096], lsn[4096];
	struct dd_output o[64];
	unsigned k;
};

static void take(void *ctx, uint64_t n, uint64_t lsn, const struct dd_output *o)
{
	struct got *g = ctx;
	g->n[g->k] = n;
	g->lsn[g->k] = lsn;
	if (g->k < 64)
		g->o[g->k] = *o;
	g->k++;
}

static void check_reads(struct tj *t)
{
	struct dd_outlog *l;
	assert_int_equal(dd_outlog_open(&l, t->dir, g_err, sizeof(g_err)), 0);
	uint64_t count = 0;
	assert_int_equal(dd_outlog_count(t->dir, &count, g_err, sizeof(g_err)), 0);
	assert_int_equal(count, t->outputs);
	/* every output alone, in a scattered order (marks get made and used) */
	for (uint64_t i = 0; i < t->outputs; i++) {
		uint64_t n = 1 + (i * 769) % t->outputs;
		struct got g = { .k = 0 };
		assert_int_equal(dd_outlog_read(l, n, 1, take, &g, g_err, sizeof(g_err)), 1);
		assert_int_equal(g.n[0], n);
		assert_int_equal(g.lsn[0], t->lsn_of[n]);
		struct dd_output x = output_n(n);
		assert_true(dd_output_same(&g.o[0], &x));
	}
	/* runs across segment boundaries, and past the end */
	struct got *g = calloc(1, sizeof(*g));
	assert_int_equal(dd_outlog_read(l, 1, (unsigned)t->outputs, take, g, g_err, sizeof(g_err)), (long)t->outputs);
	for (unsigned i = 0; i < g->k; i++)
		assert_int_equal(g->lsn[i], t->lsn_of[i + 1]);
	g->k = 0;
	assert_int_equal(dd_outlog_read(l, t->outputs - 2, 10, take, g, g_err, sizeof(g_err)), 3);
	g->k = 0;
	assert_int_equal(dd_outlog_read(l, t->outputs + 1, 10, take, g, g_err, sizeof(g_err)), 0);
	assert_int_equal(dd_outlog_read(l, 0, 10, take, g, g_err, sizeof(g_err)), 0);
	free(g);
	dd_outlog_close(l);
}

static void test_outputs_by_number_across_segments_with_counting_headers(void **state)
{
	struct tj *t = *state;
	tj_segment(t);
	tj_outputs(t, 2500); /* about 60 per segment: ~40 segments */
	check_reads(t);
}

static void test_outputs_by_number_in_a_journal_written_before_minor_1(void **state)
{
	struct tj *t = *state;
	t->minor = 0;
	tj_segment(t);
	tj_outputs(t, 700);
	t->minor = 1; /* then a writer that counts */
	tj_outputs(t, 700);
	check_reads(t);
}

static void test_a_journal_without_its_first_segments_numbers_from_its_first_counting_header(void **state)
{
	struct tj *t = *state;
	tj_segment(t);
	tj_outputs(t, 400);
	/* the first segment archived away */
	char path[512];
	dd_jseg_path(path, sizeof(path), t->dir, 1);
	assert_int_equal(unlink(path), 0);
	uint64_t count = 0;
	assert_int_equal(dd_outlog_count(t->dir, &count, g_err, sizeof(g_err)), 0);
	assert_int_equal(count, 400);
	struct dd_outlog *l;
	assert_int_equal(dd_outlog_open(&l, t->dir, g_err, sizeof(g_err)), 0);
	struct got g = { .k = 0 };
	assert_int_equal(dd_outlog_read(l, 400, 1, take, &g, g_err, sizeof(g_err)), 1);
	assert_int_equal(g.lsn[0], t->lsn_of[400]);
	assert_true(dd_outlog_read(l, 1, 1, take, &g, g_err, sizeof(g_err)) < 0); /* gone: said so */
	assert_non_null(strstr(g_err, "before its first segment"));
	dd_outlog_close(l);
}

static void test_a_record_that_fails_its_crc_ends_the_read_there(void **state)
{
	struct tj *t = *state;
	tj_segment(t);
	tj_outputs(t, 10);
	/* flip a byte inside output 6's record */
	off_t at = DD_J_PAGE;
	uint64_t lsn = 1;
	for (; lsn < t->lsn_of[6]; lsn++)
		at += (off_t)(lsn % 2 ? dd_jrec_size(64) : dd_jrec_size(sizeof(struct dd_output)));
	uint8_t b;
	assert_int_equal(pread(t->fd, &b, 1, at + 40), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(t->fd, &b, 1, at + 40), 1);
	struct dd_outlog *l;
	assert_int_equal(dd_outlog_open(&l, t->dir, g_err, sizeof(g_err)), 0);
	struct got g = { .k = 0 };
	assert_int_equal(dd_outlog_read(l, 3, 6, take, &g, g_err, sizeof(g_err)), 3); /* 3, 4, 5 */
	dd_outlog_close(l);
}

static void test_no_journal_counts_zero(void **state)
{
	(void)state;
	uint64_t count = 99;
	assert_int_equal(dd_outlog_count("/nonexistent/dadar-journal", &count, g_err, sizeof(g_err)), 0);
	assert_int_equal(count, 0);
}

static void test_stream_file_round_trips_and_a_bad_one_is_refused(void **state)
{
	struct tj *t = *state;
	struct dd_stream_state s = { .session = "1796000000", .base = 12345, .ended = 1 }, r;
	assert_int_equal(dd_stream_state_load(t->dir, &r, g_err, sizeof(g_err)), -ENOENT);
	assert_int_equal(dd_stream_state_save(t->dir, &s, g_err, sizeof(g_err)), 0);
	assert_int_equal(dd_stream_state_load(t->dir, &r, g_err, sizeof(g_err)), 0);
	assert_string_equal(r.session, "1796000000");
	assert_int_equal(r.base, 12345);
	assert_int_equal(r.ended, 1);
	static const char *const bad[] = { "", "session 123 base 1 ended 0\n", "session 1796000000 base x ended 0\n",
					   "session 1796000000 base 1 ended 2\n", "garbage\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/stream", t->dir);
		FILE *f = fopen(path, "w");
		fputs(bad[i], f);
		fclose(f);
		assert_int_equal(dd_stream_state_load(t->dir, &r, g_err, sizeof(g_err)), -EBADMSG);
		assert_non_null(strstr(g_err, "stream"));
	}
}

/* ---- rexmit ----------------------------------------------------------------------------------- */

struct srv {
	struct dd_rexmit *r;
	int fd;
	struct sockaddr_in to;
	void *mem;
	struct dd_outhist *h;
};

static void srv_start_past(struct srv *s, const char *journal, uint64_t base, uint64_t rate, unsigned max,
			   const struct dd_stream_past *past, unsigned npast)
{
	s->mem = calloc(1, dd_outhist_bytes(64));
	s->h = dd_outhist_init(s->mem, 64);
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(s->fd, (struct sockaddr *)&me, sizeof(me)), 0);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 300000 };
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* a free port for the server */
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	bind(probe, (struct sockaddr *)&a, sizeof(a));
	getsockname(probe, (struct sockaddr *)&a, &al);
	close(probe);
	s->to = a;
	struct dd_rexmit_params p = { .ip = INADDR_LOOPBACK, .port = ntohs(a.sin_port), .session = "SESSION001",
				      .hist = s->h, .journal = journal, .base = base, .max_per_request = max,
				      .rate = rate, .mtu = 1400, .past = past, .npast = npast };
	assert_int_equal(dd_rexmit_start(&s->r, &p, g_err, sizeof(g_err)), 0);
}

static void srv_start(struct srv *s, const char *journal, uint64_t base, uint64_t rate, unsigned max)
{
	srv_start_past(s, journal, base, rate, max, NULL, 0);
}

static void srv_stop(struct srv *s)
{
	dd_rexmit_free(s->r);
	close(s->fd);
	free(s->mem);
}

static void ask(struct srv *s, const char *session, uint64_t seq, uint16_t count)
{
	uint8_t req[20];
	memcpy(req, session, 10);
	dd_st_be64(req + 10, seq);
	dd_st_be16(req + 18, count);
	assert_int_equal(sendto(s->fd, req, sizeof(req), 0, (struct sockaddr *)&s->to, sizeof(s->to)), 20);
}

/* Messages of the answers (of `session`) until none comes for 300 ms: their numbers into seqs[],
 * LSNs into lsns[]. */
static unsigned answers_of(struct srv *s, const char *session, uint64_t *seqs, uint64_t *lsns, unsigned max)
{
	unsigned k = 0;
	uint8_t b[2048];
	ssize_t n;
	while ((n = recv(s->fd, b, sizeof(b), 0)) > 0) {
		assert_true(n >= 20);
		assert_memory_equal(b, session, 10);
		uint64_t seq = dd_ld_be64(b + 10);
		unsigned count = dd_ld_be16(b + 18), off = 20;
		for (unsigned i = 0; i < count; i++) {
			unsigned len = dd_ld_be16(b + off);
			uint64_t lsn;
			struct dd_output o;
			assert_int_equal(dd_outw_decode(b + off + 2, len, &lsn, &o), 0);
			if (k < max) {
				seqs[k] = seq + i;
				lsns[k] = lsn;
			}
			k++;
			off += 2 + len;
		}
		assert_int_equal(off, (unsigned)n);
	}
	return k;
}

static unsigned answers(struct srv *s, uint64_t *seqs, uint64_t *lsns, unsigned max)
{
	return answers_of(s, "SESSION001", seqs, lsns, max);
}

static void test_requests_are_answered_from_memory_and_refusals_counted(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, NULL, 0, 1000000, 1000);
	for (uint64_t n = 1; n <= 100; n++) { /* the history keeps 37..100 */
		struct dd_output o = output_n(n);
		dd_outhist_put(s.h, n, 1000 + n, &o);
	}
	uint64_t seqs[200], lsns[200];
	ask(&s, "SESSION001", 90, 5);
	assert_int_equal(answers(&s, seqs, lsns, 200), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(seqs[i], 90 + i);
		assert_int_equal(lsns[i], 1090 + i);
	}
	ask(&s, "SESSION001", 95, 50); /* only what was sent: 95..100 */
	assert_int_equal(answers(&s, seqs, lsns, 200), 6);
	ask(&s, "SESSION001", 30, 10); /* 30..36 fell out of memory, no journal: nothing from 30 on */
	assert_int_equal(answers(&s, seqs, lsns, 200), 0);
	ask(&s, "OTHERSESSN", 90, 1);
	ask(&s, "SESSION001", 0, 1);
	ask(&s, "SESSION001", 90, 0);
	ask(&s, "SESSION001", 101, 1);
	uint8_t junk[7] = { 1, 2, 3 };
	sendto(s.fd, junk, sizeof(junk), 0, (struct sockaddr *)&s.to, sizeof(s.to));
	assert_int_equal(answers(&s, seqs, lsns, 200), 0);
	struct dd_rexmit_stats st;
	dd_rexmit_stats(s.r, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.messages, 11);
	assert_int_equal(st.unavailable, 10);
	assert_int_equal(st.bad_session, 1);
	assert_int_equal(st.bad_range, 3);
	assert_int_equal(st.bad_length, 1);
	assert_int_equal(st.from_journal, 0);
	srv_stop(&s);
}

static void test_older_outputs_come_from_the_journal_with_the_base(void **state)
{
	struct tj *t = *state;
	tj_segment(t);
	tj_outputs(t, 300); /* journal outputs 1..300; the session started after 100: its n = journal n - 100 */
	struct srv s;
	srv_start(&s, t->dir, 100, 1000000, 1000);
	for (uint64_t n = 101; n <= 300; n++) {
		struct dd_output o = output_n(n);
		dd_outhist_put(s.h, n - 100, t->lsn_of[n], &o);
	}
	uint64_t seqs[300], lsns[300];
	ask(&s, "SESSION001", 1, 200);
	assert_int_equal(answers(&s, seqs, lsns, 300), 200);
	for (unsigned i = 0; i < 200; i++) {
		assert_int_equal(seqs[i], 1 + i);
		assert_int_equal(lsns[i], t->lsn_of[101 + i]);
	}
	struct dd_rexmit_stats st;
	dd_rexmit_stats(s.r, &st);
	assert_int_equal(st.from_journal, 200 - 64);
	assert_int_equal(st.unavailable, 0);
	srv_stop(&s);
}

static void test_a_session_a_clean_stop_ended_is_answered_from_the_journal_under_its_name(void **state)
{
	struct tj *t = *state;
	tj_segment(t);
	tj_outputs(t, 300); /* journal outputs 1..100 were session OLDSESSN01, 101..300 are SESSION001 */
	const struct dd_stream_past past[] = { { "EARLIER001", 0, 0 }, { "OLDSESSN01", 0, 100 } };
	struct srv s;
	srv_start_past(&s, t->dir, 100, 1000000, 1000, past, 2);
	for (uint64_t n = 101; n <= 300; n++) {
		struct dd_output o = output_n(n);
		dd_outhist_put(s.h, n - 100, t->lsn_of[n], &o);
	}
	uint64_t seqs[300], lsns[300];
	ask(&s, "OLDSESSN01", 1, 100);
	assert_int_equal(answers_of(&s, "OLDSESSN01", seqs, lsns, 300), 100);
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(seqs[i], 1 + i);
		assert_int_equal(lsns[i], t->lsn_of[1 + i]);
	}
	ask(&s, "OLDSESSN01", 95, 10); /* it had 100: 95..100 */
	assert_int_equal(answers_of(&s, "OLDSESSN01", seqs, lsns, 300), 6);
	assert_int_equal(lsns[5], t->lsn_of[100]);
	ask(&s, "SESSION001", 1, 3); /* the current one after an old one: its own base again */
	assert_int_equal(answers(&s, seqs, lsns, 300), 3);
	assert_int_equal(lsns[0], t->lsn_of[101]);
	ask(&s, "OLDSESSN01", 101, 1);  /* past its end */
	ask(&s, "EARLIER001", 1, 1);    /* it had none */
	ask(&s, "NEVERSEEN1", 1, 1);
	assert_int_equal(answers(&s, seqs, lsns, 300), 0);
	struct dd_rexmit_stats st;
	dd_rexmit_stats(s.r, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.past_requests, 2);
	assert_int_equal(st.messages, 109);
	assert_int_equal(st.from_journal, 109); /* the current session's 1..3 fell out of the 64 in memory too */
	assert_int_equal(st.bad_range, 2);
	assert_int_equal(st.bad_session, 1);
	srv_stop(&s);
	/* without a journal an ended session cannot be answered: another session */
	srv_start_past(&s, NULL, 100, 1000000, 1000, past, 2);
	ask(&s, "OLDSESSN01", 1, 1);
	assert_int_equal(answers(&s, seqs, lsns, 300), 0);
	dd_rexmit_stats(s.r, &st);
	assert_int_equal(st.bad_session, 1);
	srv_stop(&s);
}

static void test_the_sessions_file_keeps_each_ended_session_once_and_the_last_64(void **state)
{
	struct tj *t = *state;
	struct dd_stream_past v[DD_STREAM_PAST_MAX];
	unsigned n = 99;
	assert_int_equal(dd_stream_past_load(t->dir, v, &n, g_err, sizeof(g_err)), 0);
	assert_int_equal(n, 0);
	for (unsigned i = 0; i < 70; i++) {
		struct dd_stream_past p = { .base = 1000ull * i, .count = i };
		snprintf(p.session, sizeof(p.session), "S%09u", i);
		assert_int_equal(dd_stream_past_add(t->dir, &p, g_err, sizeof(g_err)), 0);
		assert_int_equal(dd_stream_past_add(t->dir, &p, g_err, sizeof(g_err)), 0); /* again: once */
	}
	assert_int_equal(dd_stream_past_load(t->dir, v, &n, g_err, sizeof(g_err)), 0);
	assert_int_equal(n, 64);
	assert_string_equal(v[0].session, "S000000006");
	assert_int_equal(v[0].base, 6000);
	assert_string_equal(v[63].session, "S000000069");
	assert_int_equal(v[63].count, 69);
	char path[400];
	snprintf(path, sizeof(path), "%s/sessions", t->dir);
	FILE *f = fopen(path, "a");
	fputs("session SHORT base 1 count 2\n", f);
	fclose(f);
	assert_int_equal(dd_stream_past_load(t->dir, v, &n, g_err, sizeof(g_err)), -EBADMSG);
	assert_non_null(strstr(g_err, "sessions:65"));
}

static void test_the_rate_limit_and_the_per_request_maximum(void **state)
{
	(void)state;
	struct srv s;
	srv_start(&s, NULL, 0, 1000000, 20); /* 20 per request */
	for (uint64_t n = 1; n <= 60; n++) {
		struct dd_output o = output_n(n);
		dd_outhist_put(s.h, n, n, &o);
	}
	uint64_t seqs[100], lsns[100];
	ask(&s, "SESSION001", 1, 60);
	assert_int_equal(answers(&s, seqs, lsns, 100), 20); /* the maximum */
	srv_stop(&s);
	srv_start(&s, NULL, 0, 20, 20); /* 20 messages a second over all requesters */
	for (uint64_t n = 1; n <= 60; n++) {
		struct dd_output o = output_n(n);
		dd_outhist_put(s.h, n, n, &o);
	}
	ask(&s, "SESSION001", 1, 20);
	ask(&s, "SESSION001", 21, 20);
	ask(&s, "SESSION001", 41, 20);
	unsigned got = answers(&s, seqs, lsns, 100);
	/* the first takes the second's worth; the others what refilled meanwhile (a few ms: 0 or 1) */
	assert_true(got >= 20 && got < 25);
	struct dd_rexmit_stats st;
	dd_rexmit_stats(s.r, &st);
	assert_int_equal(st.rate_limited, 60 - got);
	assert_int_equal(st.messages, got);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_keeps_the_last_slots_and_refuses_older_ones),
		cmocka_unit_test_setup_teardown(test_outputs_by_number_across_segments_with_counting_headers, tj_setup,
						tj_teardown),
		cmocka_unit_test_setup_teardown(test_outputs_by_number_in_a_journal_written_before_minor_1, tj_setup,
						tj_teardown),
		cmocka_unit_test_setup_teardown(test_a_journal_without_its_first_segments_numbers_from_its_first_counting_header,
						tj_setup, tj_teardown),
		cmocka_unit_test_setup_teardown(test_a_record_that_fails_its_crc_ends_the_read_there, tj_setup,
						tj_teardown),
		cmocka_unit_test(test_no_journal_counts_zero),
		cmocka_unit_test_setup_teardown(test_stream_file_round_trips_and_a_bad_one_is_refused, tj_setup,
						tj_teardown),
		cmocka_unit_test(test_requests_are_answered_from_memory_and_refusals_counted),
		cmocka_unit_test_setup_teardown(test_older_outputs_come_from_the_journal_with_the_base, tj_setup,
						tj_teardown),
		cmocka_unit_test_setup_teardown(test_a_session_a_clean_stop_ended_is_answered_from_the_journal_under_its_name,
						tj_setup, tj_teardown),
		cmocka_unit_test_setup_teardown(test_the_sessions_file_keeps_each_ended_session_once_and_the_last_64,
						tj_setup, tj_teardown),
		cmocka_unit_test(test_the_rate_limit_and_the_per_request_maximum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
