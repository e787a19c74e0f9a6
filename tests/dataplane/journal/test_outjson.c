/* SPDX-License-Identifier: MIT */
/*
 * dd_output_json (dataplane/journal/outjson.c) against the snprintf formatter it replaced, kept here
 * whole as the oracle: random outputs of every type (and unknown ones), bodies of random bytes,
 * symbols with quotes, backslashes and control bytes, with and without a registered market rule
 * set naming patterns, measures, windows and aggregates, and every buffer length from 0 to past the
 * line: the same bytes, snprintf's return value, NUL-terminated, a short buffer holding a prefix.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/journal/recovery.h"
#include "ops/cep/mrules.h"
#include "ops/cep/symtab.h"
#include "ops/fraud/fraud.h"
#include "ops/op.h"
#include "ops/output.h"

/* ---- the oracle: the formatter as it was (snprintf), naming from one rule set --------------- */

static const struct dd_mrules *oracle_set;

static const struct dd_mrules *oracle_rules(unsigned version)
{
	return oracle_set != NULL && oracle_set->version == version ? oracle_set : NULL;
}

/* ,"NAME":value per measure or aggregate (m0.. without a rule set to name them) */
static int oracle_values(char *buf, size_t room, const char (*names)[DD_MR_NAME], const int64_t *v, unsigned n,
		       unsigned null_mask)
{
	int t = 0;
	for (unsigned i = 0; i < n && t >= 0 && (size_t)t < room; i++) {
		char dflt[8];
		snprintf(dflt, sizeof(dflt), "m%u", i);
		const char *name = names != NULL ? names[i] : dflt;
		if (null_mask >> i & 1u)
			t += snprintf(buf + t, room - (size_t)t, ",\"%s\":null", name);
		else
			t += snprintf(buf + t, room - (size_t)t, ",\"%s\":%" PRId64, name, v[i]);
	}
	return t;
}

/* The keys every output line has after "lsn" and "type". */
static int oracle_head(char *buf, size_t len, const struct dd_output *o)
{
	return snprintf(buf, len,
			",\"op\":\"%s\",\"rule\":%u,\"rule_version\":%u,\"shard\":%u,\"cause\":%" PRIu64
			",\"feed\":%u,\"seq\":%" PRIu64 ",\"event_ns\":%" PRIu64,
			dd_op_name(o->op), o->rule, o->rule_version, o->shard, o->cause, o->source, o->seq, o->event_ns);
}

static int oracle_json(char *buf, size_t len, uint64_t lsn, const struct dd_output *o)
{
	int n = snprintf(buf, len, "{\"lsn\":%" PRIu64 ",\"type\":\"%s\"", lsn, dd_output_type_name(o->type));
	if (n < 0 || (size_t)n >= len)
		return n;
	int h = oracle_head(buf + n, len - (size_t)n, o);
	if (h < 0 || (size_t)(n + h) >= len)
		return n + h;
	n += h;
	size_t room = len - (size_t)n;
	int t;
	switch (o->type) {
	case DD_OUT_BBO: {
		const struct dd_out_bbo *b = &o->u.bbo;
		t = snprintf(buf + n, room,
			     ",\"locate\":%u,\"bid\":\"%u.%04u\",\"bid_shares\":%" PRIu64 ",\"bid_orders\":%u,"
			     "\"ask\":\"%u.%04u\",\"ask_shares\":%" PRIu64 ",\"ask_orders\":%u}\n",
			     b->locate, b->bid_price / 10000, b->bid_price % 10000, b->bid_shares, b->bid_orders,
			     b->ask_price / 10000, b->ask_price % 10000, b->ask_shares, b->ask_orders);
		break;
	}
	case DD_OUT_TEST: {
		const uint64_t *v = o->u.test.v;
		t = snprintf(buf + n, room,
			     ",\"key\":%u,\"v\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]}\n", o->key,
			     v[0], v[1], v[2], v[3], v[4]);
		break;
	}
	case DD_OUT_DECISION: {
		const struct dd_out_decision *d = &o->u.decision;
		char cur[4] = { 0 };
		for (unsigned i = 0; i < 3; i++) /* the operator's input: printable letters or '?' */
			cur[i] = d->currency[i] >= 'A' && d->currency[i] <= 'Z' ? d->currency[i] : '?';
		t = snprintf(buf + n, room,
			     ",\"txn_id\":%" PRIu64 ",\"payer\":%" PRIu64 ",\"amount\":%" PRId64 ",\"currency\":\"%s\""
			     ",\"merchant\":%" PRIu64 ",\"device\":%" PRIu64 ",\"mcc\":%u,\"score\":%u,\"action\":\"%s\""
			     ",\"rules\":%u,\"out_of_order\":%s,\"reasons\":[",
			     d->txn_id, d->payer, d->amount, cur, d->merchant, d->device, d->mcc, d->score,
			     dd_action_name(d->action), o->rule_version,
			     (d->flags & DD_DECISION_OUT_OF_ORDER) ? "true" : "false");
		for (unsigned r = 0, k = 0; t >= 0 && (size_t)t < room && r < DD_R__COUNT; r++)
			if (d->reasons >> r & 1)
				t += snprintf(buf + n + t, room - (size_t)t, "%s\"%s\"", k++ ? "," : "", dd_reason_name(r));
		if (t >= 0 && (size_t)t < room)
			t += snprintf(buf + n + t, room - (size_t)t, "]}\n");
		break;
	}
	case DD_OUT_ALERT:
	case DD_OUT_MATCHED:
	case DD_OUT_WINDOW:
	case DD_OUT_LATE: {
		const struct dd_mrules *r = oracle_rules(o->rule_version);
		char sym[9];
		dd_symtab_name(o->symbol, sym);
		for (unsigned i = 0; sym[i] != 0; i++) /* the feed's bytes: printable or '?' */
			if (sym[i] < 0x21 || sym[i] > 0x7e || sym[i] == '"' || sym[i] == '\\')
				sym[i] = '?';
		if (o->type == DD_OUT_MATCHED) {
			/* docs/outputs.md: a ref's top bit says a window's result (late: bit 62, the window's
			 * index: bits 56..61) or a message (feed: bits 56..62); the low 56 bits its end or
			 * sequence number */
			const struct dd_out_matched *m = &o->u.matched;
			const struct dd_mr_pattern *p = r != NULL && o->rule < r->npatterns ? &r->pattern[o->rule] : NULL;
			char pname[24];
			snprintf(pname, sizeof(pname), "pattern%u", o->rule);
			t = snprintf(buf + n, room, ",\"pattern\":\"%s\",\"symbol\":\"%s\",\"part\":%u,\"parts\":%u,\"matched\":[",
				     p != NULL ? p->name : pname, sym, m->part, m->parts);
			for (unsigned i = 0; i < m->n && i < 7 && t >= 0 && (size_t)t < room; i++) {
				uint64_t ref = m->ref[i], low = ref % (1ull << 56);
				if (ref >> 63) {
					unsigned wi = (unsigned)(ref >> 56) % 64;
					char wname[24];
					snprintf(wname, sizeof(wname), "window%u", wi);
					t += snprintf(buf + n + t, room - (size_t)t,
						      "%s{\"window\":\"%s\",\"end\":%" PRIu64 ",\"late\":%s}", i ? "," : "",
						      r != NULL && wi < r->nwindows ? r->window[wi].name : wname, low,
						      (ref >> 62) % 2 ? "true" : "false");
				} else {
					t += snprintf(buf + n + t, room - (size_t)t, "%s{\"feed\":%u,\"seq\":%" PRIu64 "}",
						      i ? "," : "", (unsigned)(ref >> 56), low);
				}
			}
			if (t >= 0 && (size_t)t < room)
				t += snprintf(buf + n + t, room - (size_t)t, "]");
		} else if (o->type == DD_OUT_ALERT) {
			const struct dd_out_alert *a = &o->u.alert;
			const struct dd_mr_pattern *p = r != NULL && o->rule < r->npatterns ? &r->pattern[o->rule] : NULL;
			char pname[24];
			snprintf(pname, sizeof(pname), "pattern%u", o->rule);
			t = snprintf(buf + n, room,
				     ",\"pattern\":\"%s\",\"symbol\":\"%s\",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64
				     ",\"events\":%u,\"timeout\":%s,\"first_feed\":%u,\"first_seq\":%" PRIu64 ",\"refs\":%u",
				     p != NULL ? p->name : pname, sym, a->first_ns, a->last_ns, a->events,
				     a->timeout ? "true" : "false", a->first_feed, a->first_seq, o->flags);
			const char(*names)[DD_MR_NAME] = NULL;
			char mnames[DD_MR_MAX_MEASURES][DD_MR_NAME];
			if (p != NULL) {
				for (unsigned i = 0; i < DD_MR_MAX_MEASURES; i++)
					memcpy(mnames[i], p->measure[i].name, DD_MR_NAME);
				names = (const char(*)[DD_MR_NAME])mnames;
			}
			unsigned nm = a->nmeasures > DD_MR_MAX_MEASURES ? DD_MR_MAX_MEASURES : a->nmeasures;
			if (t >= 0 && (size_t)t < room)
				t += oracle_values(buf + n + t, room - (size_t)t, names, a->measure, nm, a->null_mask);
		} else {
			const struct dd_mr_window *w = r != NULL && o->rule < r->nwindows ? &r->window[o->rule] : NULL;
			char wname[24];
			snprintf(wname, sizeof(wname), "window%u", o->rule);
			if (o->type == DD_OUT_LATE) {
				const struct dd_out_late *l = &o->u.late;
				t = snprintf(buf + n, room,
					     ",\"window\":\"%s\",\"symbol\":\"%s\",\"time\":%" PRIu64 ",\"window_end\":%" PRIu64
					     ",\"watermark\":%" PRIu64,
					     w != NULL ? w->name : wname, sym, l->time, l->window_end, l->watermark);
			} else {
				const struct dd_out_window *v = &o->u.window;
				t = snprintf(buf + n, room,
					     ",\"window\":\"%s\",\"symbol\":\"%s\",\"start\":%" PRIu64 ",\"end\":%" PRIu64
					     ",\"late\":%s",
					     w != NULL ? w->name : wname, sym, v->start_ns, v->end_ns,
					     (o->flags & DD_OUTPUT_FLAG_LATE) ? "true" : "false");
				char anames[DD_MR_MAX_AGGS][DD_MR_NAME];
				for (unsigned i = 0; w != NULL && i < DD_MR_MAX_AGGS; i++)
					memcpy(anames[i], w->agg[i].name, DD_MR_NAME);
				if (t >= 0 && (size_t)t < room)
					t += oracle_values(buf + n + t, room - (size_t)t,
							 w != NULL ? (const char(*)[DD_MR_NAME])anames : NULL, v->value,
							 w != NULL ? w->naggs : DD_MR_MAX_AGGS, 0);
			}
		}
		if (t >= 0 && (size_t)t < room)
			t += snprintf(buf + n + t, room - (size_t)t, "}\n");
		break;
	}
	default:
		t = snprintf(buf + n, room, ",\"key\":%u}\n", o->key);
		break;
	}
	return t < 0 ? t : n + t;
}


/* ---- random outputs ------------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A number of a random width (so short and 20-digit values both come up), sometimes an extreme. */
static uint64_t rnd_width(void)
{
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	case 2:
		return (uint64_t)INT64_MIN;
	default:
		return rnd() >> (rnd() % 64);
	}
}

static void random_output(struct dd_output *o, unsigned type, unsigned version)
{
	uint8_t *b = (uint8_t *)o;
	for (size_t i = 0; i < sizeof(*o); i++)
		b[i] = (uint8_t)rnd();
	uint64_t *w = (uint64_t *)(void *)&o->u;
	for (size_t i = 0; i < sizeof(o->u) / 8; i++)
		w[i] = rnd_width();
	o->type = (uint16_t)type;
	o->op = (uint8_t)(rnd() % 8);
	o->rule = (uint16_t)(rnd() % 5);
	o->rule_version = (uint16_t)(rnd() % 3 ? version : rnd());
	o->seq = rnd_width();
	o->event_ns = rnd_width();
	o->cause = rnd_width();
	if (type == DD_OUT_DECISION) {
		o->u.decision.action = (uint8_t)(rnd() % 6);
		o->u.decision.reasons = (uint32_t)rnd();
	}
	if (type == DD_OUT_ALERT)
		o->u.alert.nmeasures = (uint8_t)(rnd() % 7);
	if (type == DD_OUT_MATCHED)
		o->u.matched.n = (uint8_t)(rnd() % 10); /* past 7 too: at most 7 are printed */
	if (rnd() % 2) /* a plain symbol, space padded */
		memcpy(o->symbol, "AAPL    ", 8);
}

static struct dd_mrules *named_set(unsigned version)
{
	struct dd_mrules *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->version = version;
	r->npatterns = 3;
	r->nwindows = 2;
	for (unsigned i = 0; i < 3; i++) {
		snprintf(r->pattern[i].name, DD_MR_NAME, "pat_%u", i);
		for (unsigned m = 0; m < DD_MR_MAX_MEASURES; m++)
			snprintf(r->pattern[i].measure[m].name, DD_MR_NAME, "measure_%u_%u", i, m);
	}
	memset(r->pattern[2].name, 'x', DD_MR_NAME - 1); /* the longest name there is */
	for (unsigned i = 0; i < 2; i++) {
		snprintf(r->window[i].name, DD_MR_NAME, "win%u", i);
		r->window[i].naggs = (uint8_t)(4 + i);
		for (unsigned a = 0; a < DD_MR_MAX_AGGS; a++)
			snprintf(r->window[i].agg[a].name, DD_MR_NAME, "agg%u", a);
	}
	return r;
}

static void compare_many(unsigned version, unsigned rounds)
{
	static const unsigned types[] = { DD_OUT_BBO, DD_OUT_TEST,   DD_OUT_DECISION, DD_OUT_ALERT, DD_OUT_WINDOW,
					  DD_OUT_LATE, DD_OUT_TRADE, DD_OUT_MATCHED,  0,	    99,
					  65535 };
	char want[2048], got[2048];
	for (unsigned k = 0; k < rounds; k++) {
		struct dd_output o;
		random_output(&o, types[k % (sizeof(types) / sizeof(types[0]))], version);
		uint64_t lsn = rnd_width();
		int n = oracle_json(want, sizeof(want), lsn, &o);
		assert_true(n > 0 && (size_t)n < DD_OUTPUT_JSON_MAX);
		int m = dd_output_json(got, sizeof(got), lsn, &o);
		if (m != n || strcmp(got, want) != 0)
			fail_msg("output %u (type %u):\n  want %s  got  %s", k, o.type, want, got);
		/* every short buffer: the full length returned, a NUL-terminated prefix */
		size_t len = (size_t)(rnd() % (size_t)(n + 2));
		memset(got, '#', sizeof(got));
		m = dd_output_json(got, len, lsn, &o);
		assert_int_equal(m, n);
		if (len > 0) {
			size_t held = (size_t)n < len ? (size_t)n : len - 1;
			assert_int_equal(got[held], '\0');
			assert_memory_equal(got, want, held);
		} else {
			assert_int_equal(got[0], '#');
		}
	}
}

static void test_without_rule_sets_the_same_bytes_as_the_snprintf_formatter(void **state)
{
	(void)state;
	oracle_set = NULL;
	compare_many(7, 300000);
}

static void test_with_a_rule_set_naming_patterns_measures_windows_and_aggregates(void **state)
{
	(void)state;
	struct dd_mrules *r = named_set(7);
	dd_output_json_rules(r);
	oracle_set = r;
	compare_many(7, 300000);
	dd_output_json_forget(r);
	oracle_set = NULL;
	free(r);
}

static void test_known_lines(void **state)
{
	(void)state;
	/* by hand, from docs/outputs.md's keys: a bbo, and a decision with two reasons */
	struct dd_output o;
	memset(&o, 0, sizeof(o));
	o.type = DD_OUT_BBO;
	o.op = DD_OP_BOOK;
	o.cause = 41;
	o.seq = 7;
	o.event_ns = 34200000000001;
	o.u.bbo.locate = 13;
	o.u.bbo.bid_price = 1234500;
	o.u.bbo.bid_shares = 300;
	o.u.bbo.bid_orders = 2;
	o.u.bbo.ask_price = 5;
	char buf[DD_OUTPUT_JSON_MAX];
	const char *want = "{\"lsn\":42,\"type\":\"bbo\",\"op\":\"book\",\"rule\":0,\"rule_version\":0,\"shard\":0,"
			   "\"cause\":41,\"feed\":0,\"seq\":7,\"event_ns\":34200000000001,\"locate\":13,"
			   "\"bid\":\"123.4500\",\"bid_shares\":300,\"bid_orders\":2,\"ask\":\"0.0005\",\"ask_shares\":0,"
			   "\"ask_orders\":0}\n";
	assert_int_equal(dd_output_json(buf, sizeof(buf), 42, &o), (int)strlen(want));
	assert_string_equal(buf, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_lines),
		cmocka_unit_test(test_without_rule_sets_the_same_bytes_as_the_snprintf_formatter),
		cmocka_unit_test(test_with_a_rule_set_naming_patterns_measures_windows_and_aggregates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
