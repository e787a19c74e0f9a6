/* SPDX-License-Identifier: MIT */
/*
 * The market rule compiler, the pattern operator and the window operator, on small hand-written
 * streams whose expected outputs are worked out by hand from docs/patterns.md (the randomised
 * comparison with an independent matcher is tests/ops/cep_oracle.py).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/cep/cep.h"
#include "ops/window/window.h"

#define CAP 256
#define SEC 1000000000ull

struct rig {
	struct dd_mrules img;
	void *cep, *win;
	struct dd_output out[CAP];
	struct dd_emit e;
	struct dd_event ev;
	uint32_t key;
	uint64_t seq; /* the records' "sequence numbers": 1, 2, ... */
};

static struct rig *rig_new(const char *text)
{
	struct rig *g = calloc(1, sizeof(*g));
	char err[256];
	assert_non_null(g);
	int rc = dd_mrules_compile(text, strlen(text), "t.rules", &g->img, err, sizeof(err), NULL, NULL, NULL);
	if (rc != 0)
		fail_msg("%s", err);
	struct dd_cep_params cp = { .keys = 16, .nfeeds = 1, .key_bytes = (uint32_t)dd_cep_key_bytes(&g->img),
				    .max_patterns = 4 };
	struct dd_window_params wp = { .keys = 16, .nfeeds = 1, .key_bytes = (uint32_t)dd_window_key_bytes(&g->img) };
	size_t cn = dd_cep_op.memsize(&cp), wn = dd_window_op.memsize(&wp);
	g->cep = aligned_alloc(64, (cn + 63) & ~(size_t)63);
	g->win = aligned_alloc(64, (wn + 63) & ~(size_t)63);
	assert_int_equal(dd_cep_op.init(g->cep, cn, &cp), 0);
	assert_int_equal(dd_window_op.init(g->win, wn, &wp), 0);
	assert_int_equal(dd_cep_use(g->cep, &g->img), 0);
	assert_int_equal(dd_window_use(g->win, &g->img), 0);
	g->e = (struct dd_emit){ .out = g->out, .cap = CAP, .ev = &g->ev };
	g->key = dd_cep_intern(g->cep, "AAA     ");
	assert_int_equal(dd_window_intern(g->win, "AAA     "), g->key);
	return g;
}

static void rig_free(struct rig *g)
{
	free(g->cep);
	free(g->win);
	free(g);
}

static void trade(struct rig *g, uint64_t t, int64_t price, int64_t shares)
{
	struct dd_mr_rec r = { .stream = DD_MS_TRADE, .streams = 1u << DD_MS_TRADE | 1u << DD_MS_ANY, .key = g->key,
			       .seq = ++g->seq };
	r.f[DD_MF_TIME] = (int64_t)t;
	r.f[DD_MF_TRADE_PRICE] = price;
	r.f[DD_MF_TRADE_SHARES] = shares;
	r.f[DD_MF_TRADE_SIDE] = 'B';
	dd_window_record(g->win, &r, &g->e);
	dd_cep_record(g->cep, &r, &g->e);
}

static uint64_t counter(const struct dd_op_ops *ops, const void *st, const char *name)
{
	uint64_t v[DD_OP_MAX_COUNTERS];
	ops->counters(st, v);
	for (unsigned i = 0; i < ops->ncounters; i++)
		if (strcmp(ops->counter_names[i], name) == 0)
			return v[i];
	fail_msg("no counter %s", name);
	return 0;
}

static const char *compile_error(const char *text, char *err, size_t n)
{
	static struct dd_mrules img;
	int rc = dd_mrules_compile(text, strlen(text), "t.rules", &img, err, n, NULL, NULL, NULL);
	assert_int_equal(rc, -EINVAL);
	return err;
}

static void test_errors_name_file_line_and_column(void **state)
{
	(void)state;
	char err[256];
	assert_string_equal(compile_error("PATTERN p PARTITION BY symbol\n  MATCH (a)\n  DEFINE a AS trade WHERE pric > 1\n"
					  "  WITHIN 1 SECONDS\nEND\n", err, sizeof(err)),
			    "t.rules:3:27: stream trade has no field 'pric'");
	assert_string_equal(compile_error("PATTERN p PARTITION BY symbol MATCH (a) DEFINE a AS trade END\n", err, sizeof(err)),
			    "t.rules:1:9: pattern p has no WITHIN (every pattern needs a time bound)");
	assert_string_equal(compile_error("PATTERN p PARTITION BY symbol MATCH (a*) DEFINE a AS trade WITHIN 1 S END\n", err,
					  sizeof(err)),
			    "t.rules:1:38: pattern p can match without any record");
	assert_string_equal(compile_error("PATTERN p PARTITION BY symbol MATCH (!x a) DEFINE a AS trade, x AS order "
					  "WITHIN 1 S END\n", err, sizeof(err)),
			    "t.rules:1:38: pattern p starts with a negated step (a negation needs a step before it)");
	assert_string_equal(compile_error("PATTERN p PARTITION BY symbol MATCH (a b) DEFINE a AS trade WITHIN 1 S END\n", err,
					  sizeof(err)),
			    "t.rules:1:40: variable b is not in DEFINE");
	/* a number past 64 bits is an error, never a wrapped value (fuzz_mrules found the overflow) */
	assert_string_equal(compile_error("PATTERN p PARTITION BY symbol MATCH (a) DEFINE a AS trade "
					  "WITHIN 99999999999999999999 MINUTES END\n", err, sizeof(err)),
			    "t.rules:1:66: number too large");
	assert_string_equal(compile_error("WINDOW w FROM trade TUMBLING 1 MINUTES AGGREGATE avg_prev(volume, 3) AS a END\n",
					  err, sizeof(err)),
			    "t.rules:1:59: avg_prev averages an aggregate named before it in this window; 'volume' is not one");
}

static const char momentum[] = "PATTERN m PARTITION BY symbol MATCH (a r{3})\n"
			       "  DEFINE a AS trade, r AS trade WHERE price > PREV(price)\n"
			       "  WITHIN 3 MINUTES\n"
			       "  MEASURES FIRST(a.price) AS p0, LAST(r.price) AS p3, COUNT(r) AS n\nEND\n";

static void test_three_rises_make_one_alert_with_its_measures(void **state)
{
	(void)state;
	struct rig *g = rig_new(momentum);
	/* 10 12 11 | 11? no: 11 is not above 12, so the way from 10 dies and 12 ... */
	static const int64_t px[] = { 10, 12, 11, 13, 14, 15, 16 };
	for (unsigned i = 0; i < 7; i++)
		trade(g, (i + 1) * SEC, px[i], 100);
	/* starts: 10 → 12 rises, 11 breaks it (strict); 11 starts again: 13, 14, 15 are three rises: one
	 * alert at the 15 (t = 6 s) from the 11 (t = 3 s); PAST LAST ROW: 16 starts afresh, alone */
	assert_int_equal(g->e.n, 2);
	const struct dd_output *o = &g->out[0];
	assert_int_equal(o->type, DD_OUT_ALERT);
	assert_int_equal(o->u.alert.first_ns, 3 * SEC);
	assert_int_equal(o->u.alert.last_ns, 6 * SEC);
	assert_int_equal(o->u.alert.events, 4);
	assert_int_equal(o->u.alert.measure[0], 11);
	assert_int_equal(o->u.alert.measure[1], 15);
	assert_int_equal(o->u.alert.measure[2], 3);
	assert_memory_equal(o->symbol, "AAA     ", 8);
	/* the records it matched follow it: the trades at 3, 4, 5 and 6 s, records 3..6 */
	assert_int_equal(o->flags, 4);
	const struct dd_output *m = &g->out[1];
	assert_int_equal(m->type, DD_OUT_MATCHED);
	assert_int_equal(m->rule, o->rule);
	assert_int_equal(m->event_ns, o->event_ns);
	assert_memory_equal(m->symbol, "AAA     ", 8);
	assert_int_equal(m->u.matched.n, 4);
	assert_int_equal(m->u.matched.part, 0);
	assert_int_equal(m->u.matched.parts, 1);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(m->u.matched.ref[i], 3 + i); /* feed 0: the sequence number alone */
	assert_int_equal(m->u.matched.ref[4], 0);
	rig_free(g);
}

static void test_within_bounds_a_match(void **state)
{
	(void)state;
	struct rig *g = rig_new(momentum);
	trade(g, 1 * SEC, 10, 1);
	trade(g, 2 * SEC, 11, 1);
	trade(g, 3 * SEC, 12, 1);
	trade(g, 182 * SEC, 13, 1); /* 181 s after the first: beyond 3 minutes */
	assert_int_equal(g->e.n, 0);
	assert_true(counter(&dd_cep_op, g->cep, "cep_expired") >= 1);
	rig_free(g);
}

static void test_an_absence_completes_only_once_the_watermark_is_past_its_deadline(void **state)
{
	(void)state;
	struct rig *g = rig_new("PATTERN s PARTITION BY symbol MATCH (m !x) DEFINE m AS any, x AS any\n"
				"  WITHIN 60 SECONDS MEASURES time AS t END\n");
	trade(g, 10 * SEC, 1, 1);
	trade(g, 20 * SEC, 1, 1); /* ends the first wait, starts another (deadline 80 s) */
	dd_cep_watermark(g->cep, 80 * SEC, &g->e);
	assert_int_equal(g->e.n, 0); /* a record at exactly 80 s would still count */
	dd_cep_watermark(g->cep, 80 * SEC + 1, &g->e);
	assert_int_equal(g->e.n, 2); /* the alert and its one matched record: the trade at 20 s */
	assert_int_equal(g->out[1].type, DD_OUT_MATCHED);
	assert_int_equal(g->out[1].u.matched.n, 1);
	assert_int_equal(g->out[1].u.matched.ref[0], 2);
	assert_int_equal(g->out[0].event_ns, 80 * SEC);
	assert_int_equal(g->out[0].u.alert.last_ns, 20 * SEC);
	assert_int_equal(g->out[0].u.alert.measure[0], (int64_t)(20 * SEC));
	rig_free(g);
}

static void test_partial_matches_stay_within_their_bound(void **state)
{
	(void)state;
	/* every trade starts a partial match that never completes (no order comes) */
	struct rig *g = rig_new("PATTERN p PARTITION BY symbol MATCH (a -> b) DEFINE a AS trade, b AS order\n"
				"  WITHIN 1 HOURS MAX PARTIAL 4 END\n");
	for (unsigned i = 0; i < 1000; i++)
		trade(g, (i + 1) * 1000, 1, 1);
	assert_int_equal(g->e.n, 0);
	assert_int_equal(counter(&dd_cep_op, g->cep, "cep_evicted"), 1000 - 4);
	rig_free(g);
}

static void test_a_tumbling_window_fires_once_then_late_then_side_output(void **state)
{
	(void)state;
	struct rig *g = rig_new("WINDOW w FROM trade TUMBLING 10 SECONDS LATENESS 5 SECONDS\n"
				"  AGGREGATE count() AS n, sum(shares) AS v, vwap(price, shares) AS vwap, "
				"avg_prev(v, 2) AS avg END\n");
	trade(g, 1 * SEC, 100, 10);
	trade(g, 2 * SEC, 200, 30);
	dd_window_watermark(g->win, 10 * SEC - 1, &g->e);
	assert_int_equal(g->e.n, 0);
	dd_window_watermark(g->win, 10 * SEC, &g->e);
	assert_int_equal(g->e.n, 1);
	const struct dd_out_window *w = &g->out[0].u.window;
	assert_int_equal(w->start_ns, 0);
	assert_int_equal(w->end_ns, 10 * SEC);
	assert_int_equal(w->value[0], 2);
	assert_int_equal(w->value[1], 40);
	assert_int_equal(w->value[2], (100 * 10 + 200 * 30) / 40); /* 175 */
	assert_int_equal(w->value[3], 0);                         /* no window before it */
	assert_int_equal(g->out[0].flags, 0);
	trade(g, 3 * SEC, 300, 60); /* late but within 5 s: fires again, late */
	assert_int_equal(g->e.n, 2);
	assert_int_equal(g->out[1].flags, DD_OUTPUT_FLAG_LATE);
	assert_int_equal(g->out[1].u.window.value[1], 100);
	dd_window_watermark(g->win, 15 * SEC, &g->e);
	trade(g, 4 * SEC, 300, 60); /* beyond the lateness: side output */
	assert_int_equal(g->e.n, 3);
	assert_int_equal(g->out[2].type, DD_OUT_LATE);
	assert_int_equal(counter(&dd_window_op, g->win, "window_late"), 1);
	/* the next window averages the one before (volume 100, the late firing's) over one window */
	trade(g, 21 * SEC, 100, 7);
	dd_window_watermark(g->win, 30 * SEC, &g->e);
	assert_int_equal(g->e.n, 4);
	assert_int_equal(g->out[3].u.window.start_ns, 20 * SEC);
	assert_int_equal(g->out[3].u.window.value[3], (100 + 0) / 2); /* windows 0 and 1 (empty) */
	rig_free(g);
}

static void test_hopping_windows_overlap_and_fire_in_order(void **state)
{
	(void)state;
	struct rig *g = rig_new("WINDOW h FROM trade HOPPING 10 SECONDS EVERY 5 SECONDS AGGREGATE sum(shares) AS v END\n");
	trade(g, 1 * SEC, 1, 1);  /* in [0,10) */
	trade(g, 6 * SEC, 1, 2);  /* in [0,10) and [5,15) */
	trade(g, 12 * SEC, 1, 4); /* in [5,15) and [10,20) */
	dd_window_watermark(g->win, 9 * SEC, &g->e);
	assert_int_equal(g->e.n, 0);
	dd_window_watermark(g->win, 20 * SEC, &g->e);
	assert_int_equal(g->e.n, 3);
	static const uint64_t start[] = { 0, 5, 10 };
	static const int64_t sum[] = { 3, 6, 4 };
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(g->out[i].u.window.start_ns, start[i] * SEC);
		assert_int_equal(g->out[i].u.window.end_ns, (start[i] + 10) * SEC);
		assert_int_equal(g->out[i].u.window.value[0], sum[i]);
	}
	rig_free(g);
}

static void test_session_windows_close_after_their_gap(void **state)
{
	(void)state;
	struct rig *g = rig_new("WINDOW s FROM trade SESSION GAP 5 SECONDS AGGREGATE count() AS n, first(price) AS p0, "
				"last(price) AS p1 END\n");
	trade(g, 1 * SEC, 10, 1);
	trade(g, 3 * SEC, 11, 1);  /* session [1, 8) */
	trade(g, 10 * SEC, 12, 1); /* 10 >= 8: a new session [10, 15) */
	trade(g, 12 * SEC, 13, 1); /* ... [10, 17) */
	trade(g, 30 * SEC, 14, 1); /* [30, 35) */
	dd_window_watermark(g->win, 8 * SEC - 1, &g->e);
	assert_int_equal(g->e.n, 0);
	dd_window_watermark(g->win, 17 * SEC, &g->e);
	assert_int_equal(g->e.n, 2);
	assert_int_equal(g->out[0].u.window.start_ns, 1 * SEC);
	assert_int_equal(g->out[0].u.window.end_ns, 8 * SEC);
	assert_int_equal(g->out[0].u.window.value[0], 2);
	assert_int_equal(g->out[0].u.window.value[1], 10);
	assert_int_equal(g->out[0].u.window.value[2], 11);
	assert_int_equal(g->out[1].u.window.start_ns, 10 * SEC);
	assert_int_equal(g->out[1].u.window.end_ns, 17 * SEC);
	assert_int_equal(g->out[1].u.window.value[0], 2);
	dd_window_watermark(g->win, 35 * SEC, &g->e);
	assert_int_equal(g->e.n, 3);
	assert_int_equal(g->out[2].u.window.value[1], 14);
	rig_free(g);
}

static void test_a_reload_drops_partial_matches_but_the_same_rules_keep_them(void **state)
{
	(void)state;
	struct rig *g = rig_new(momentum);
	trade(g, 1 * SEC, 10, 1);
	trade(g, 2 * SEC, 11, 1);
	/* the same rules byte for byte (recovery handing its chains over): nothing starts again */
	static struct dd_mrules same;
	memcpy(&same, &g->img, sizeof(same));
	assert_int_equal(dd_cep_use(g->cep, &same), 0);
	assert_int_equal(counter(&dd_cep_op, g->cep, "cep_reload_dropped"), 0);
	trade(g, 3 * SEC, 12, 1);
	trade(g, 4 * SEC, 13, 1);
	assert_int_equal(g->e.n, 2); /* 10 < 11 < 12 < 13: the alert and its matched records */
	/* other rules: the partial matches of these go, counted */
	trade(g, 5 * SEC, 14, 1);
	static struct dd_mrules other;
	char err[128];
	const char *t = "PATTERN m PARTITION BY symbol MATCH (a r{3}) DEFINE a AS trade, r AS trade WHERE price > PREV(price)\n"
			"  WITHIN 2 MINUTES END\n";
	assert_int_equal(dd_mrules_compile(t, strlen(t), "o", &other, err, sizeof(err), NULL, NULL, NULL), 0);
	assert_int_equal(dd_cep_use(g->cep, &other), 0);
	assert_int_equal(counter(&dd_cep_op, g->cep, "cep_reload_dropped"), 1);
	rig_free(g);
}

static void test_a_long_match_lists_its_first_records_and_its_last(void **state)
{
	(void)state;
	struct rig *g = rig_new("PATTERN p PARTITION BY symbol MATCH (a b+ c)\n"
				"  DEFINE a AS trade WHERE shares = 1, b AS trade WHERE shares = 2, c AS trade WHERE shares = 3\n"
				"  WITHIN 1 HOURS END\n");
	assert_int_equal(g->img.pattern[0].max_refs, DD_MR_MAX_REFS);
	trade(g, 1 * SEC, 1, 1);
	for (unsigned i = 0; i < 18; i++)
		trade(g, (2 + i) * SEC, 1, 2);
	trade(g, 20 * SEC, 1, 3);
	/* 20 records matched; 16 listed: records 1..15 and 20, in three parts of 7, 7 and 2 */
	assert_int_equal(g->e.n, 4);
	assert_int_equal(g->out[0].u.alert.events, 20);
	assert_int_equal(g->out[0].flags, 16);
	static const uint64_t want[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20 };
	for (unsigned i = 0; i < 16; i++) {
		const struct dd_output *m = &g->out[1 + i / DD_MATCHED_REFS];
		assert_int_equal(m->type, DD_OUT_MATCHED);
		assert_int_equal(m->u.matched.part, i / DD_MATCHED_REFS);
		assert_int_equal(m->u.matched.parts, 3);
		assert_int_equal(m->u.matched.n, i < 14 ? 7 : 2);
		assert_int_equal(m->u.matched.ref[i % DD_MATCHED_REFS], want[i]);
	}
	rig_free(g);
}

static void test_a_window_result_is_named_by_window_and_end(void **state)
{
	(void)state;
	struct rig *g = rig_new("WINDOW w FROM trade TUMBLING 10 SECONDS AGGREGATE count() AS n END\n"
				"WINDOW v FROM trade TUMBLING 10 SECONDS AGGREGATE sum(shares) AS n END\n"
				"PATTERN p PARTITION BY symbol MATCH (s -> t) DEFINE s AS v WHERE n >= 5, t AS trade WHERE price > 100\n"
				"  WITHIN 1 MINUTES END\n");
	g->ev.source = 2; /* the records' feed */
	trade(g, 1 * SEC, 1, 2);
	trade(g, 2 * SEC, 1, 3);
	dd_window_watermark(g->win, 10 * SEC, &g->e);
	assert_int_equal(g->e.n, 2); /* w, then v: [0, 10 s) */
	assert_int_equal(g->out[1].rule, 1);
	dd_cep_op.consume(g->cep, &g->out[0], &g->e);
	dd_cep_op.consume(g->cep, &g->out[1], &g->e);
	assert_int_equal(g->e.n, 2);
	struct dd_mr_rec r = { .stream = DD_MS_TRADE, .streams = 1u << DD_MS_TRADE | 1u << DD_MS_ANY, .key = g->key,
			       .seq = 77 };
	r.f[DD_MF_TIME] = (int64_t)(12 * SEC);
	r.f[DD_MF_SOURCE] = 3;
	r.f[DD_MF_TRADE_PRICE] = 101;
	dd_cep_record(g->cep, &r, &g->e);
	assert_int_equal(g->e.n, 4);
	assert_int_equal(g->out[2].type, DD_OUT_ALERT);
	assert_int_equal(g->out[2].flags, 2);
	const struct dd_out_matched *m = &g->out[3].u.matched;
	assert_int_equal(m->n, 2);
	/* window 1 (v), not late, ending at 10 s; then message 77 of feed 3 */
	assert_int_equal(m->ref[0], 1ull << 63 | 1ull << 56 | 10 * SEC);
	assert_int_equal(m->ref[1], 3ull << 56 | 77);
	rig_free(g);
}

static void test_state_without_room_for_refs_lists_none_and_less_is_refused(void **state)
{
	(void)state;
	static struct dd_mrules img;
	char err[256];
	assert_int_equal(dd_mrules_compile(momentum, strlen(momentum), "m", &img, err, sizeof(err), NULL, NULL, NULL), 0);
	/* momentum: 8 partial matches of ways with 4 refs of 8 bytes each: 256 bytes more per symbol */
	assert_int_equal(dd_cep_key_bytes(&img) - dd_cep_key_bytes_min(&img), 8 * 4 * 8);
	struct dd_cep_params cp = { .keys = 16, .nfeeds = 1, .key_bytes = (uint32_t)dd_cep_key_bytes_min(&img),
				    .max_patterns = 4 };
	size_t cn = dd_cep_op.memsize(&cp);
	void *cep = aligned_alloc(64, (cn + 63) & ~(size_t)63);
	assert_int_equal(dd_cep_op.init(cep, cn, &cp), 0);
	assert_int_equal(dd_cep_use(cep, &img), 0);
	static struct dd_output out[16];
	struct dd_event ev = { 0 };
	struct dd_emit e = { .out = out, .cap = 16, .ev = &ev };
	uint32_t key = dd_cep_intern(cep, "AAA     ");
	static const int64_t px[] = { 10, 11, 12, 13 };
	for (unsigned i = 0; i < 4; i++) {
		struct dd_mr_rec r = { .stream = DD_MS_TRADE, .streams = 1u << DD_MS_TRADE | 1u << DD_MS_ANY, .key = key,
				       .seq = i + 1 };
		r.f[DD_MF_TIME] = (int64_t)((i + 1) * SEC);
		r.f[DD_MF_TRADE_PRICE] = px[i];
		dd_cep_record(cep, &r, &e);
	}
	/* the same alert, listing nothing */
	assert_int_equal(e.n, 1);
	assert_int_equal(out[0].type, DD_OUT_ALERT);
	assert_int_equal(out[0].u.alert.events, 4);
	assert_int_equal(out[0].flags, 0);
	free(cep);
	/* a byte less than that is refused */
	cp.key_bytes--;
	cn = dd_cep_op.memsize(&cp);
	cep = aligned_alloc(64, (cn + 63) & ~(size_t)63);
	assert_int_equal(dd_cep_op.init(cep, cn, &cp), 0);
	assert_int_equal(dd_cep_use(cep, &img), -ENOSPC);
	free(cep);
}

static void test_refs_listed_are_the_longest_match_or_sixteen(void **state)
{
	(void)state;
	static const struct {
		const char *match;
		unsigned refs;
	} cases[] = {
		{ "a b c", 3 }, { "a b? c{2,3}", 5 }, { "a | b c", 2 }, { "a !b c", 2 }, { "m !b", 1 },
		{ "a b+", DD_MR_MAX_REFS }, { "a (b c)* c", DD_MR_MAX_REFS }, { "a{16} b", DD_MR_MAX_REFS }, { "a{15}", 15 },
		{ "(a | b) -> c{0,2} b", 4 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static const char *const def[] = { "a AS trade", "b AS order", "c AS trade", "m AS any" };
		static const char vars[] = "abcm";
		char text[512], define[128] = "";
		for (unsigned v = 0; v < 4; v++)
			if (strchr(cases[i].match, vars[v]) != NULL)
				snprintf(define + strlen(define), sizeof(define) - strlen(define), "%s%s", define[0] ? ", " : "",
					 def[v]);
		snprintf(text, sizeof(text), "PATTERN p PARTITION BY symbol MATCH (%s) DEFINE %s WITHIN 1 S END\n",
			 cases[i].match, define);
		static struct dd_mrules img;
		char err[256];
		if (dd_mrules_compile(text, strlen(text), "t.rules", &img, err, sizeof(err), NULL, NULL, NULL) != 0)
			fail_msg("%s: %s", cases[i].match, err);
		if (img.pattern[0].max_refs != cases[i].refs)
			fail_msg("(%s): %u refs, want %u", cases[i].match, img.pattern[0].max_refs, cases[i].refs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_name_file_line_and_column),
		cmocka_unit_test(test_three_rises_make_one_alert_with_its_measures),
		cmocka_unit_test(test_within_bounds_a_match),
		cmocka_unit_test(test_an_absence_completes_only_once_the_watermark_is_past_its_deadline),
		cmocka_unit_test(test_partial_matches_stay_within_their_bound),
		cmocka_unit_test(test_a_tumbling_window_fires_once_then_late_then_side_output),
		cmocka_unit_test(test_hopping_windows_overlap_and_fire_in_order),
		cmocka_unit_test(test_session_windows_close_after_their_gap),
		cmocka_unit_test(test_a_reload_drops_partial_matches_but_the_same_rules_keep_them),
		cmocka_unit_test(test_a_long_match_lists_its_first_records_and_its_last),
		cmocka_unit_test(test_a_window_result_is_named_by_window_and_end),
		cmocka_unit_test(test_refs_listed_are_the_longest_match_or_sixteen),
		cmocka_unit_test(test_state_without_room_for_refs_lists_none_and_less_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
