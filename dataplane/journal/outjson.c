/* SPDX-License-Identifier: MIT */
/*
 * Outputs as JSON lines (dd_output_json(), recovery.h): what --output, dadar-journal and
 * dadar-rules run write, named from the market rule sets registered for it.
 */
#include <inttypes.h>
#include <stdatomic.h>
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

/* ,"NAME":value per measure or aggregate (m0.. without a rule set to name them) */
static int values_json(char *buf, size_t room, const char (*names)[DD_MR_NAME], const int64_t *v, unsigned n,
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
static int head_json(char *buf, size_t len, const struct dd_output *o)
{
	return snprintf(buf, len,
			",\"op\":\"%s\",\"rule\":%u,\"rule_version\":%u,\"shard\":%u,\"cause\":%" PRIu64
			",\"feed\":%u,\"seq\":%" PRIu64 ",\"event_ns\":%" PRIu64,
			dd_op_name(o->op), o->rule, o->rule_version, o->shard, o->cause, o->source, o->seq, o->event_ns);
}

int dd_output_json(char *buf, size_t len, uint64_t lsn, const struct dd_output *o)
{
	int n = snprintf(buf, len, "{\"lsn\":%" PRIu64 ",\"type\":\"%s\"", lsn, dd_output_type_name(o->type));
	if (n < 0 || (size_t)n >= len)
		return n;
	int h = head_json(buf + n, len - (size_t)n, o);
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
	case DD_OUT_WINDOW:
	case DD_OUT_LATE: {
		const struct dd_mrules *r = rules_of(o->rule_version);
		char sym[9];
		dd_symtab_name(o->symbol, sym);
		for (unsigned i = 0; sym[i] != 0; i++) /* the feed's bytes: printable or '?' */
			if (sym[i] < 0x21 || sym[i] > 0x7e || sym[i] == '"' || sym[i] == '\\')
				sym[i] = '?';
		if (o->type == DD_OUT_ALERT) {
			const struct dd_out_alert *a = &o->u.alert;
			const struct dd_mr_pattern *p = r != NULL && o->rule < r->npatterns ? &r->pattern[o->rule] : NULL;
			char pname[24];
			snprintf(pname, sizeof(pname), "pattern%u", o->rule);
			t = snprintf(buf + n, room,
				     ",\"pattern\":\"%s\",\"symbol\":\"%s\",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64
				     ",\"events\":%u,\"timeout\":%s,\"first_feed\":%u,\"first_seq\":%" PRIu64,
				     p != NULL ? p->name : pname, sym, a->first_ns, a->last_ns, a->events,
				     a->timeout ? "true" : "false", a->first_feed, a->first_seq);
			const char(*names)[DD_MR_NAME] = NULL;
			char mnames[DD_MR_MAX_MEASURES][DD_MR_NAME];
			if (p != NULL) {
				for (unsigned i = 0; i < DD_MR_MAX_MEASURES; i++)
					memcpy(mnames[i], p->measure[i].name, DD_MR_NAME);
				names = (const char(*)[DD_MR_NAME])mnames;
			}
			unsigned nm = a->nmeasures > DD_MR_MAX_MEASURES ? DD_MR_MAX_MEASURES : a->nmeasures;
			if (t >= 0 && (size_t)t < room)
				t += values_json(buf + n + t, room - (size_t)t, names, a->measure, nm, a->null_mask);
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
					t += values_json(buf + n + t, room - (size_t)t,
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

