/* SPDX-License-Identifier: MIT */
/*
 * Outputs as JSON lines (dd_output_json(), recovery.h): what --output, dadar-journal and
 * dadar-rules run write, named from the market rule sets registered for it.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/journal/recovery.h"
#include "ops/cep/mrules.h"
#include "ops/cep/symtab.h"
#include "ops/fraud/fraud.h"
#include "ops/op.h"

/*
 * The market rule sets whose names outputs use (by rule set version), newest last. Registered by
 * the control thread (start, reloads) while the journal lcore writes outputs: append-only, each
 * entry published with a release store of the count; the caller keeps every registered set alive.
 */
#define NAMED_MAX 64
static _Atomic(const struct dd_mrules *) named[NAMED_MAX];
static atomic_uint nnamed;

void dd_output_json_rules(const struct dd_mrules *r)
{
	unsigned n = atomic_load_explicit(&nnamed, memory_order_relaxed);
	if (n == NAMED_MAX)
		return; /* later sets are named generically (64 reloads in one run) */
	atomic_store_explicit(&named[n], r, memory_order_relaxed);
	/* pairs with rules_of()'s acquire load: the entry is written before it is counted */
	atomic_store_explicit(&nnamed, n + 1, memory_order_release);
}

void dd_output_json_forget(const struct dd_mrules *r)
{
	/* tools only (one thread): a replay frees its sets */
	unsigned n = atomic_load_explicit(&nnamed, memory_order_relaxed), k = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct dd_mrules *e = atomic_load_explicit(&named[i], memory_order_relaxed);
		if (e != r)
			atomic_store_explicit(&named[k++], e, memory_order_relaxed);
	}
	atomic_store_explicit(&nnamed, k, memory_order_release);
}

static const struct dd_mrules *rules_of(unsigned version)
{
	for (unsigned i = atomic_load_explicit(&nnamed, memory_order_acquire); i-- > 0;) {
		const struct dd_mrules *r = atomic_load_explicit(&named[i], memory_order_relaxed);
		if (r->version == version)
			return r;
	}
	return NULL;
}

/*
 * The line is built by appends that write while there is room and count always, so the result is
 * snprintf's: the length the whole line takes, the buffer NUL-terminated, and a caller whose buffer
 * was short sees a length >= its size. Numbers are converted here, two digits at a time: snprintf's
 * format parsing was 17x what encoding the same output as a binary message costs
 * (docs/benchmarks.md, bench_stream).
 */
struct jw {
	char *buf;
	size_t cap, n;
};

static inline void put(struct jw *w, const char *s, size_t k)
{
	if (w->n + k < w->cap)
		memcpy(w->buf + w->n, s, k);
	else if (w->n < w->cap)
		memcpy(w->buf + w->n, s, w->cap - 1 - w->n);
	w->n += k;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

static inline void put_str(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
}

static const char digits2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				 "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				 "8081828384858687888990919293949596979899";

static void put_u64(struct jw *w, uint64_t v)
{
	char t[20];
	char *e = t + sizeof(t), *p = e;
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--p = digits2[d + 1];
		*--p = digits2[d];
	}
	if (v >= 10) {
		*--p = digits2[v * 2 + 1];
		*--p = digits2[v * 2];
	} else {
		*--p = (char)('0' + v);
	}
	put(w, p, (size_t)(e - p));
}

static void put_i64(struct jw *w, int64_t v)
{
	if (v < 0) {
		PUT_LIT(w, "-");
		put_u64(w, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(w, (uint64_t)v);
	}
}

/* A price in 1/10,000: "123.4500" (the integer part, then four digits). */
static void put_price(struct jw *w, uint32_t p)
{
	PUT_LIT(w, "\"");
	put_u64(w, p / 10000);
	unsigned f = p % 10000;
	char t[5] = { '.', digits2[(f / 100) * 2], digits2[(f / 100) * 2 + 1], digits2[(f % 100) * 2],
		      digits2[(f % 100) * 2 + 1] };
	put(w, t, sizeof(t));
	PUT_LIT(w, "\"");
}

static inline void put_bool(struct jw *w, bool b)
{
	if (b)
		PUT_LIT(w, "true");
	else
		PUT_LIT(w, "false");
}

/* ,"NAME":value per measure or aggregate (m0.. without a rule set to name them) */
static void values_json(struct jw *w, const char (*names)[DD_MR_NAME], const int64_t *v, unsigned n,
			unsigned null_mask)
{
	for (unsigned i = 0; i < n; i++) {
		PUT_LIT(w, ",\"");
		if (names != NULL) {
			put(w, names[i], strnlen(names[i], DD_MR_NAME));
		} else {
			PUT_LIT(w, "m");
			put_u64(w, i);
		}
		PUT_LIT(w, "\":");
		if (null_mask >> i & 1u)
			PUT_LIT(w, "null");
		else
			put_i64(w, v[i]);
	}
}

/* A rule's name, or BASE followed by its number without a rule set. */
static void put_rule_name(struct jw *w, const char *name, const char *base, unsigned rule)
{
	PUT_LIT(w, "\"");
	if (name != NULL) {
		put(w, name, strnlen(name, DD_MR_NAME));
	} else {
		put_str(w, base);
		put_u64(w, rule);
	}
	PUT_LIT(w, "\"");
}

static void decision_json(struct jw *w, const struct dd_output *o)
{
	const struct dd_out_decision *d = &o->u.decision;
	char cur[5] = { '"', 0, 0, 0, '"' };
	for (unsigned i = 0; i < 3; i++) /* the operator's input: printable letters or '?' */
		cur[1 + i] = d->currency[i] >= 'A' && d->currency[i] <= 'Z' ? d->currency[i] : '?';
	PUT_LIT(w, ",\"txn_id\":");
	put_u64(w, d->txn_id);
	PUT_LIT(w, ",\"payer\":");
	put_u64(w, d->payer);
	PUT_LIT(w, ",\"amount\":");
	put_i64(w, d->amount);
	PUT_LIT(w, ",\"currency\":");
	put(w, cur, sizeof(cur));
	PUT_LIT(w, ",\"merchant\":");
	put_u64(w, d->merchant);
	PUT_LIT(w, ",\"device\":");
	put_u64(w, d->device);
	PUT_LIT(w, ",\"mcc\":");
	put_u64(w, d->mcc);
	PUT_LIT(w, ",\"score\":");
	put_u64(w, d->score);
	PUT_LIT(w, ",\"action\":\"");
	put_str(w, dd_action_name(d->action));
	PUT_LIT(w, "\",\"rules\":");
	put_u64(w, o->rule_version);
	PUT_LIT(w, ",\"out_of_order\":");
	put_bool(w, d->flags & DD_DECISION_OUT_OF_ORDER);
	PUT_LIT(w, ",\"reasons\":[");
	for (unsigned r = 0, k = 0; r < DD_R__COUNT; r++)
		if (d->reasons >> r & 1) {
			if (k++)
				PUT_LIT(w, ",");
			PUT_LIT(w, "\"");
			put_str(w, dd_reason_name(r));
			PUT_LIT(w, "\"");
		}
	PUT_LIT(w, "]}\n");
}

/* A matched output's part of the list: {"feed":F,"seq":S} or {"window":NAME,"end":NS,"late":B}. */
static void matched_json(struct jw *w, const struct dd_mrules *r, const struct dd_out_matched *m)
{
	PUT_LIT(w, "\",\"part\":");
	put_u64(w, m->part);
	PUT_LIT(w, ",\"parts\":");
	put_u64(w, m->parts);
	PUT_LIT(w, ",\"matched\":[");
	unsigned n = m->n < DD_MATCHED_REFS ? m->n : DD_MATCHED_REFS;
	for (unsigned i = 0; i < n; i++) {
		uint64_t ref = m->ref[i];
		if (i)
			PUT_LIT(w, ",");
		PUT_LIT(w, "{");
		if (dd_ref_is_window(ref)) {
			unsigned wi = dd_ref_window_index(ref);
			PUT_LIT(w, "\"window\":");
			put_rule_name(w, r != NULL && wi < r->nwindows ? r->window[wi].name : NULL, "window", wi);
			PUT_LIT(w, ",\"end\":");
			put_u64(w, dd_ref_low(ref));
			PUT_LIT(w, ",\"late\":");
			put_bool(w, dd_ref_late(ref));
		} else {
			PUT_LIT(w, "\"feed\":");
			put_u64(w, dd_ref_feed(ref));
			PUT_LIT(w, ",\"seq\":");
			put_u64(w, dd_ref_low(ref));
		}
		PUT_LIT(w, "}");
	}
	PUT_LIT(w, "]");
}

static void market_json(struct jw *w, const struct dd_output *o)
{
	const struct dd_mrules *r = rules_of(o->rule_version);
	char sym[9];
	dd_symtab_name(o->symbol, sym);
	for (unsigned i = 0; sym[i] != 0; i++) /* the feed's bytes: printable or '?' */
		if (sym[i] < 0x21 || sym[i] > 0x7e || sym[i] == '"' || sym[i] == '\\')
			sym[i] = '?';
	if (o->type == DD_OUT_ALERT || o->type == DD_OUT_MATCHED) {
		const struct dd_mr_pattern *p = r != NULL && o->rule < r->npatterns ? &r->pattern[o->rule] : NULL;
		PUT_LIT(w, ",\"pattern\":");
		put_rule_name(w, p != NULL ? p->name : NULL, "pattern", o->rule);
		PUT_LIT(w, ",\"symbol\":\"");
		put_str(w, sym);
		if (o->type == DD_OUT_MATCHED) {
			matched_json(w, r, &o->u.matched);
			PUT_LIT(w, "}\n");
			return;
		}
		const struct dd_out_alert *a = &o->u.alert;
		PUT_LIT(w, "\",\"first_ns\":");
		put_u64(w, a->first_ns);
		PUT_LIT(w, ",\"last_ns\":");
		put_u64(w, a->last_ns);
		PUT_LIT(w, ",\"events\":");
		put_u64(w, a->events);
		PUT_LIT(w, ",\"timeout\":");
		put_bool(w, a->timeout);
		PUT_LIT(w, ",\"first_feed\":");
		put_u64(w, a->first_feed);
		PUT_LIT(w, ",\"first_seq\":");
		put_u64(w, a->first_seq);
		PUT_LIT(w, ",\"refs\":");
		put_u64(w, o->flags);
		const char(*names)[DD_MR_NAME] = NULL;
		char mnames[DD_MR_MAX_MEASURES][DD_MR_NAME];
		if (p != NULL) {
			for (unsigned i = 0; i < DD_MR_MAX_MEASURES; i++)
				memcpy(mnames[i], p->measure[i].name, DD_MR_NAME);
			names = (const char(*)[DD_MR_NAME])mnames;
		}
		unsigned nm = a->nmeasures > DD_MR_MAX_MEASURES ? DD_MR_MAX_MEASURES : a->nmeasures;
		values_json(w, names, a->measure, nm, a->null_mask);
	} else {
		const struct dd_mr_window *win = r != NULL && o->rule < r->nwindows ? &r->window[o->rule] : NULL;
		PUT_LIT(w, ",\"window\":");
		put_rule_name(w, win != NULL ? win->name : NULL, "window", o->rule);
		PUT_LIT(w, ",\"symbol\":\"");
		put_str(w, sym);
		if (o->type == DD_OUT_LATE) {
			const struct dd_out_late *l = &o->u.late;
			PUT_LIT(w, "\",\"time\":");
			put_u64(w, l->time);
			PUT_LIT(w, ",\"window_end\":");
			put_u64(w, l->window_end);
			PUT_LIT(w, ",\"watermark\":");
			put_u64(w, l->watermark);
		} else {
			const struct dd_out_window *v = &o->u.window;
			PUT_LIT(w, "\",\"start\":");
			put_u64(w, v->start_ns);
			PUT_LIT(w, ",\"end\":");
			put_u64(w, v->end_ns);
			PUT_LIT(w, ",\"late\":");
			put_bool(w, o->flags & DD_OUTPUT_FLAG_LATE);
			char anames[DD_MR_MAX_AGGS][DD_MR_NAME];
			for (unsigned i = 0; win != NULL && i < DD_MR_MAX_AGGS; i++)
				memcpy(anames[i], win->agg[i].name, DD_MR_NAME);
			values_json(w, win != NULL ? (const char(*)[DD_MR_NAME])anames : NULL, v->value,
				    win != NULL ? win->naggs : DD_MR_MAX_AGGS, 0);
		}
	}
	PUT_LIT(w, "}\n");
}

int dd_output_json(char *buf, size_t len, uint64_t lsn, const struct dd_output *o)
{
	struct jw w = { buf, len, 0 };
	PUT_LIT(&w, "{\"lsn\":");
	put_u64(&w, lsn);
	PUT_LIT(&w, ",\"type\":\"");
	put_str(&w, dd_output_type_name(o->type));
	/* the keys every line has after "lsn" and "type" */
	PUT_LIT(&w, "\",\"op\":\"");
	put_str(&w, dd_op_name(o->op));
	PUT_LIT(&w, "\",\"rule\":");
	put_u64(&w, o->rule);
	PUT_LIT(&w, ",\"rule_version\":");
	put_u64(&w, o->rule_version);
	PUT_LIT(&w, ",\"shard\":");
	put_u64(&w, o->shard);
	PUT_LIT(&w, ",\"cause\":");
	put_u64(&w, o->cause);
	PUT_LIT(&w, ",\"feed\":");
	put_u64(&w, o->source);
	PUT_LIT(&w, ",\"seq\":");
	put_u64(&w, o->seq);
	PUT_LIT(&w, ",\"event_ns\":");
	put_u64(&w, o->event_ns);
	switch (o->type) {
	case DD_OUT_BBO: {
		const struct dd_out_bbo *b = &o->u.bbo;
		PUT_LIT(&w, ",\"locate\":");
		put_u64(&w, b->locate);
		PUT_LIT(&w, ",\"bid\":");
		put_price(&w, b->bid_price);
		PUT_LIT(&w, ",\"bid_shares\":");
		put_u64(&w, b->bid_shares);
		PUT_LIT(&w, ",\"bid_orders\":");
		put_u64(&w, b->bid_orders);
		PUT_LIT(&w, ",\"ask\":");
		put_price(&w, b->ask_price);
		PUT_LIT(&w, ",\"ask_shares\":");
		put_u64(&w, b->ask_shares);
		PUT_LIT(&w, ",\"ask_orders\":");
		put_u64(&w, b->ask_orders);
		PUT_LIT(&w, "}\n");
		break;
	}
	case DD_OUT_TEST: {
		const uint64_t *v = o->u.test.v;
		PUT_LIT(&w, ",\"key\":");
		put_u64(&w, o->key);
		PUT_LIT(&w, ",\"v\":[");
		for (unsigned i = 0; i < 5; i++) {
			if (i)
				PUT_LIT(&w, ",");
			put_u64(&w, v[i]);
		}
		PUT_LIT(&w, "]}\n");
		break;
	}
	case DD_OUT_DECISION:
		decision_json(&w, o);
		break;
	case DD_OUT_ALERT:
	case DD_OUT_MATCHED:
	case DD_OUT_WINDOW:
	case DD_OUT_LATE:
		market_json(&w, o);
		break;
	default:
		PUT_LIT(&w, ",\"key\":");
		put_u64(&w, o->key);
		PUT_LIT(&w, "}\n");
		break;
	}
	if (len > 0)
		buf[w.n < len ? w.n : len - 1] = '\0';
	return (int)w.n;
}
