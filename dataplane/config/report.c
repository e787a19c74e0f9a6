/* SPDX-License-Identifier: MIT */
#include "dataplane/config/report.h"

#include "ops/book/book_op.h"
#include "ops/route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/wire/itch.h"
#include "ops/cep/cep.h"
#include "ops/cep/symtab.h"
#include "ops/fraud/fraud.h"
#include "ops/window/window.h"
#include "dataplane/config/jsonw.h"

/* ---- aggregation ---------------------------------------------------------------------------- */

void dd_report_book_totals(const struct dd_run *r, int feed, struct dd_book_stats *st, uint64_t *instruments,
			   uint64_t *orders, uint64_t *levels)
{
	memset(st, 0, sizeof(*st));
	*instruments = *orders = *levels = 0;
	for (unsigned s = 0; s < r->nshards; s++)
		for (unsigned f = 0; f < r->nfeeds; f++) {
			if (feed >= 0 && (unsigned)feed != f)
				continue;
			const struct dd_book *b = r->books[s * r->nfeeds + f];
			if (b == NULL) /* a payment feed has no book */
				continue;
			const uint64_t *src = (const uint64_t *)&b->stats;
			uint64_t *dst = (uint64_t *)st;
			for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
				dst[i] += src[i];
			*instruments += b->ninstr;
			*orders += b->norders;
			*levels += b->nlevels;
		}
}

static uint64_t itch_total(const struct dd_run *r)
{
	uint64_t n = 0;
	for (unsigned f = 0; f < r->nfeeds; f++)
		for (const char *t = dd_itch_types; *t; t++)
			n += r->feeds[f].itch.messages[(uint8_t)*t];
	return n;
}

static double elapsed_s(const struct dd_run *r)
{
	if (r->tsc_hz == 0 || r->rx->last_tsc <= r->rx->first_tsc)
		return 0.0;
	return (double)(r->rx->last_tsc - r->rx->first_tsc) / (double)r->tsc_hz;
}

/* ---- latency -------------------------------------------------------------------------------- */

int dd_report_stage_latency(const struct dd_tm *tm, unsigned stage, struct dd_hdr **out)
{
	*out = NULL;
	if (tm == NULL || tm->hdr == NULL || stage >= tm->hdr->nstages)
		return -ENOENT;
	struct dd_hdr *m, *snap;
	int rc = dd_hdr_create(&dd_tm_hdr_params, &m);
	if (rc != 0)
		return rc;
	if ((rc = dd_hdr_create(&dd_tm_hdr_params, &snap)) != 0) {
		dd_hdr_free(m);
		return rc;
	}
	for (unsigned s = 0; s < tm->hdr->nslots; s++) {
		if (dd_hdr_snapshot(dd_tm_hist(tm, s, stage), snap, dd_hdr_memsize(&dd_tm_hdr_params)) == 0)
			dd_hdr_add(m, snap);
	}
	dd_hdr_free(snap);
	if (dd_hdr_total(m) == 0) {
		dd_hdr_free(m);
		return -ENOENT;
	}
	*out = m;
	return 0;
}

static void json_latency(struct dd_jw *w, const struct dd_run *r)
{
	dd_jw_open(w, "latency_ns", '{');
	/* every stage the segment describes, operators' included, under the name the segment gives it */
	for (unsigned st = 0; r->tm != NULL && st < r->tm->hdr->nstages; st++) {
		struct dd_hdr *h;
		if (dd_report_stage_latency(r->tm, st, &h) != 0)
			continue;
		dd_jw_hdr(w, dd_tm_stage_name_at(r->tm, st), h);
		dd_hdr_free(h);
	}
	dd_jw_close(w, '}');
}

/* ---- JSON summary --------------------------------------------------------------------------- */

static void json_itch(struct dd_jw *w, const struct dd_run *r)
{
	dd_jw_open(w, "itch", '{');
	dd_jw_open(w, "messages", '{');
	for (const char *t = dd_itch_types; *t; t++) {
		uint64_t n = 0;
		for (unsigned f = 0; f < r->nfeeds; f++)
			n += r->feeds[f].itch.messages[(uint8_t)*t];
		char k[2] = { *t, 0 };
		dd_jw_nz(w, k, n);
	}
	dd_jw_close(w, '}');
	uint64_t unknown = 0, events = 0;
	for (unsigned f = 0; f < r->nfeeds; f++) {
		unknown += r->feeds[f].itch.unknown;
		events += r->feeds[f].itch.events;
	}
	dd_jw_u64(w, "unknown", unknown);
	dd_jw_u64(w, "total", itch_total(r));
	dd_jw_u64(w, "events", events);
	dd_jw_close(w, '}');
}

static void sum_mold(const struct dd_run *r, struct dd_mold_stats *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned f = 0; f < r->nfeeds; f++) {
		const uint64_t *src = (const uint64_t *)&r->feeds[f].mold.stats;
		uint64_t *dst = (uint64_t *)m;
		for (size_t i = 0; i < sizeof(*m) / sizeof(uint64_t); i++)
			dst[i] += src[i];
	}
}

static void json_gaps(struct dd_jw *w, const struct dd_mold_session *s)
{
	dd_jw_open(w, "gap_ranges", '[');
	uint64_t n = s->gap_log_n < DD_MOLD_GAP_LOG ? s->gap_log_n : DD_MOLD_GAP_LOG;
	for (uint64_t i = n; i-- > 0;) {
		struct dd_mold_gap g;
		if (!dd_mold_gap_at(s, i, &g))
			continue;
		dd_jw_sep(w, NULL);
		fprintf(w->f, "[%llu, %llu]", (unsigned long long)g.first, (unsigned long long)g.last);
	}
	dd_jw_close(w, ']');
}

static void json_mold(struct dd_jw *w, const struct dd_run *r)
{
	struct dd_mold_stats m;
	sum_mold(r, &m);
	uint64_t arb = 0;
	for (unsigned l = 0; l < DD_MOLD_MAX_LINES; l++)
		arb += m.line[l].arb_dropped;
	dd_jw_open(w, "moldudp64", '{');
	dd_jw_u64(w, "datagrams", m.datagrams);
	dd_jw_u64(w, "delivered", m.delivered);
	dd_jw_u64(w, "gaps", m.gaps);
	dd_jw_u64(w, "missing", m.missing);
	/* copies of messages already delivered: from their own line, or from the other line (lost the
	 * A/B race): together they are the mold's duplicates */
	dd_jw_u64(w, "duplicates", m.duplicates - arb);
	dd_jw_u64(w, "arbitration_dropped", arb);
	dd_jw_u64(w, "heartbeats", m.heartbeats);
	dd_jw_u64(w, "end_of_session", m.end_of_session);
	dd_jw_u64(w, "reordered", m.reordered);
	dd_jw_u64(w, "late", m.late);
	dd_jw_u64(w, "session_changes", m.session_changes);
	dd_jw_u64(w, "too_big_to_hold", m.too_big_to_hold);
	dd_jw_nz(w, "rewinds", m.rewinds);
	/* the gaps of the only feed that carried anything (the default payment feed idle beside ITCH) */
	int only = -1;
	for (unsigned f = 0; f < r->nfeeds; f++)
		if (r->feeds[f].mold.started || r->nfeeds == 1)
			only = only == -1 ? (int)f : -2;
	if (only >= 0)
		json_gaps(w, &r->feeds[only].mold);
	dd_jw_close(w, '}');
}

static const char *const mold_reason_names[DD_MOLD_ERR__COUNT] = {
	[DD_MOLD_ERR_SHORT] = "mold_short",
	[DD_MOLD_ERR_MSG_OVERRUN] = "mold_msg_overrun",
	[DD_MOLD_ERR_COUNT_MISMATCH] = "mold_count_mismatch",
	[DD_MOLD_ERR_TRAILING] = "mold_trailing",
	[DD_MOLD_ERR_BAD_SEQ] = "mold_bad_seq",
	[DD_MOLD_ERR_SEQ_JUMP] = "mold_seq_jump",
};

/* The reasons below: frame verdicts, 2, MoldUDP64 errors, 4. A new reason must still fit the names
 * the summary, the telemetry segment and dadar-lat hold: the build fails here if it does not. */
#define NREASONS ((DD_FRAME__COUNT - 1) + 2 + (DD_MOLD_ERR__COUNT - 1) + 4 + 3)
_Static_assert(NREASONS <= DD_REPORT_REASONS, "raise DD_REPORT_REASONS");
_Static_assert(NREASONS <= DD_TM_MAX_REASONS, "raise DD_TM_MAX_REASONS (a telemetry format change)");

unsigned dd_report_reasons(const struct dd_rx_stats *rx, const struct dd_feed *feeds, unsigned nfeeds,
			   const char **names, uint64_t *counts)
{
	unsigned n = 0;
#define REASON(name, value)                \
	do {                               \
		if (n < DD_REPORT_REASONS) { \
			names[n] = (name);   \
			counts[n++] = (value); \
		}                          \
	} while (0)
	for (unsigned v = 1; v < DD_FRAME__COUNT; v++)
		REASON(dd_frame_verdict_name((enum dd_frame_verdict)v), rx->frame[v]);
	REASON("no_feed", rx->no_feed);
	REASON("own_output", rx->own_output);
	REASON("frame_too_long", rx->too_long);
	uint64_t mold[DD_MOLD_ERR__COUNT] = { 0 }, stale = 0, after_end = 0, bad_length = 0, empty = 0;
	uint64_t pay_len = 0, pay_unknown = 0, pay_version = 0;
	for (unsigned f = 0; f < nfeeds; f++) {
		for (unsigned e = 1; e < DD_MOLD_ERR__COUNT; e++)
			mold[e] += feeds[f].mold.stats.errors[e];
		stale += feeds[f].mold.stats.stale_session;
		after_end += feeds[f].mold.stats.after_end;
		bad_length += feeds[f].itch.bad_length;
		empty += feeds[f].itch.empty;
		pay_len += feeds[f].pay.bad_length;
		pay_unknown += feeds[f].pay.unknown;
		pay_version += feeds[f].pay.bad_version;
	}
	for (unsigned e = 1; e < DD_MOLD_ERR__COUNT; e++)
		REASON(mold_reason_names[e], mold[e]);
	REASON("mold_stale_session", stale);
	REASON("mold_after_end", after_end);
	REASON("itch_bad_length", bad_length);
	REASON("itch_empty", empty);
	REASON("pay_bad_length", pay_len);
	REASON("pay_unknown", pay_unknown);
	REASON("pay_bad_version", pay_version);
#undef REASON
	return n; /* NREASONS */
}

/* Every input-drop reason with its count over the run, in one place for JSON and the human view. */
static void each_error(const struct dd_run *r, void (*fn)(void *ctx, const char *name, uint64_t n), void *ctx)
{
	const char *names[DD_REPORT_REASONS];
	uint64_t counts[DD_REPORT_REASONS];
	unsigned n = dd_report_reasons(r->rx, r->feeds, r->nfeeds, names, counts);
	for (unsigned i = 0; i < n; i++)
		fn(ctx, names[i], counts[i]);
}

static void json_error(void *ctx, const char *name, uint64_t n)
{
	dd_jw_nz(ctx, name, n);
}

static void json_errors(struct dd_jw *w, const struct dd_run *r)
{
	dd_jw_open(w, "errors", '{');
	each_error(r, json_error, w);
	dd_jw_close(w, '}');
}

static void json_book_stats(struct dd_jw *w, const struct dd_book_stats *st, uint64_t instruments, uint64_t orders,
			    uint64_t levels)
{
	dd_jw_u64(w, "instruments", instruments);
	dd_jw_u64(w, "orders", orders);
	dd_jw_u64(w, "levels", levels);
	dd_jw_u64(w, "adds", st->adds);
	dd_jw_u64(w, "executions", st->executions);
	dd_jw_u64(w, "cancels", st->cancels);
	dd_jw_u64(w, "deletes", st->deletes);
	dd_jw_u64(w, "replaces", st->replaces);
	dd_jw_u64(w, "trades", st->trades);
	dd_jw_u64(w, "crosses", st->crosses);
	dd_jw_u64(w, "broken", st->broken);
	dd_jw_u64(w, "unknown_ref", st->unknown_ref);
	dd_jw_u64(w, "duplicate_ref", st->duplicate_ref);
	dd_jw_u64(w, "overexecuted", st->overexecuted);
	dd_jw_u64(w, "bad_order", st->bad_order);
	dd_jw_u64(w, "order_overflow", st->order_overflow);
	dd_jw_u64(w, "level_overflow", st->level_overflow);
	dd_jw_u64(w, "instrument_overflow", st->instrument_overflow);
}

static void json_feeds(struct dd_jw *w, const struct dd_run *r)
{
	dd_jw_open(w, "feeds", '[');
	for (unsigned f = 0; f < r->nfeeds; f++) {
		const struct dd_feed *fd = &r->feeds[f];
		const struct dd_mold_session *s = &fd->mold;
		dd_jw_open(w, NULL, '{');
		dd_jw_strn(w, "name", fd->cfg.name, sizeof(fd->cfg.name));
		dd_jw_strn(w, "session", s->name, s->started ? sizeof(s->name) : 0);
		dd_jw_u64(w, "next_seq", s->next_seq);
		dd_jw_u64(w, "ended", s->ended);
		unsigned nl = fd->cfg.nlines ? fd->cfg.nlines : fd->learned;
		dd_jw_open(w, "lines", '[');
		for (unsigned l = 0; l < nl; l++) {
			char dest[64];
			dd_feed_line_format(&fd->cfg.line[l], dest, sizeof(dest));
			dd_jw_open(w, NULL, '{');
			dd_jw_strn(w, "dest", dest, sizeof(dest));
			dd_jw_u64(w, "datagrams", s->stats.line[l].datagrams);
			dd_jw_u64(w, "delivered", s->stats.line[l].delivered);
			dd_jw_u64(w, "duplicates", s->stats.line[l].duplicates);
			dd_jw_u64(w, "arbitration_dropped", s->stats.line[l].arb_dropped);
			dd_jw_close(w, '}');
		}
		dd_jw_close(w, ']');
		json_gaps(w, s);
		struct dd_book_stats st;
		uint64_t ni, no, nlv;
		dd_report_book_totals(r, (int)f, &st, &ni, &no, &nlv);
		dd_jw_open(w, "book", '{');
		json_book_stats(w, &st, ni, no, nlv);
		dd_jw_close(w, '}');
		dd_jw_close(w, '}');
	}
	dd_jw_close(w, ']');
}

/*
 * A report file is written whole or not at all: to PATH.tmp, synced, then renamed over PATH, so a
 * full disk or a crash leaves the old file (or none), never a file cut short. A PATH that exists
 * and is not a regular file (/dev/stdout, a FIFO, a device) is written in place: there is nothing
 * to rename over it. *tmp is "" then.
 */
static FILE *whole_open(const char *path, char *tmp, size_t tmplen, const char *what, int *rc, char *err,
			size_t errlen)
{
	struct stat st;
	tmp[0] = '\0';
	bool special = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
	if (!special && (size_t)snprintf(tmp, tmplen, "%s.tmp", path) >= tmplen) {
		*rc = -ENAMETOOLONG;
		snprintf(err, errlen, "cannot write %s %s: path too long", what, path);
		return NULL;
	}
	if (!special && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		*rc = -EISDIR;
		snprintf(err, errlen, "cannot write %s %s: %s", what, path, strerror(EISDIR));
		return NULL;
	}
	FILE *f = fopen(special ? path : tmp, "w");
	if (f == NULL) {
		*rc = -errno;
		snprintf(err, errlen, "cannot write %s %s: %s", what, path, strerror(errno));
	}
	return f;
}

static int whole_close(FILE *f, const char *path, const char *tmp, const char *what, char *err, size_t errlen)
{
	int e = 0;
	if (fflush(f) != 0 || ferror(f))
		e = errno ? errno : EIO;
	if (e == 0 && tmp[0] != '\0' && fsync(fileno(f)) != 0)
		e = errno;
	if (fclose(f) != 0 && e == 0)
		e = errno;
	if (e == 0 && tmp[0] != '\0' && rename(tmp, path) != 0)
		e = errno;
	if (e != 0) {
		if (tmp[0] != '\0')
			unlink(tmp);
		snprintf(err, errlen, "writing %s %s failed: %s%s", what, path, strerror(e),
			 tmp[0] != '\0' ? " (nothing was written over it)" : "");
		return -e;
	}
	return 0;
}

int dd_report_books_of(const struct dd_chain *chains, unsigned nshards, unsigned nfeeds, const struct dd_book **out)
{
	for (unsigned s = 0; s < nshards; s++) {
		const void *st = dd_chain_state(&chains[s], DD_OP_BOOK);
		if (st == NULL)
			return -ENOENT;
		for (unsigned f = 0; f < nfeeds; f++)
			out[s * nfeeds + f] = dd_book_op_book(st, f);
	}
	return 0;
}

/*
 * "operators": each operator of the chain by name, its outputs and counters summed over shards,
 * and "output_overflow": outputs the chains' buffers could not take (an operator broke its bound).
 */
static void json_operators(struct dd_jw *w, const struct dd_run *r)
{
	if (r->chains == NULL)
		return;
	const struct dd_chain *c0 = &r->chains[0];
	uint64_t overflow = 0;
	for (unsigned s = 0; s < r->nshards; s++)
		overflow += dd_chain_overflow(&r->chains[s]);
	dd_jw_u64(w, "output_overflow", overflow);
	dd_jw_open(w, "operators", '{');
	for (unsigned k = 0; k < c0->nops; k++) {
		const struct dd_op_ops *ops = c0->op[k].ops;
		uint64_t outputs = 0, sum[DD_OP_MAX_COUNTERS] = { 0 }, v[DD_OP_MAX_COUNTERS];
		for (unsigned s = 0; s < r->nshards; s++) {
			outputs += r->chains[s].op[k].outputs;
			if (ops->counters != NULL) {
				ops->counters(r->chains[s].op[k].state, v);
				for (unsigned i = 0; i < ops->ncounters && i < DD_OP_MAX_COUNTERS; i++)
					sum[i] += v[i];
			}
		}
		dd_jw_open(w, ops->name, '{');
		dd_jw_u64(w, "outputs", outputs);
		for (unsigned i = 0; i < ops->ncounters && i < DD_OP_MAX_COUNTERS; i++)
			dd_jw_u64(w, ops->counter_names[i], sum[i]);
		dd_jw_close(w, '}');
	}
	dd_jw_close(w, '}');
}

/* What the reports show of the payment chain's fraud operator: its counters and its statistics. */
struct pay_view {
	const void *st;
	uint64_t v[DD_OP_MAX_COUNTERS]; /* dd_fraud_op's counters, in its order */
	struct dd_fraud_stats fs;
};

/* False if the run has no fraud operator. */
static bool pay_view(const struct dd_run *r, struct pay_view *pv)
{
	pv->st = r->pchain != NULL ? dd_chain_state(r->pchain, DD_OP_FRAUD) : NULL;
	if (pv->st == NULL)
		return false;
	dd_fraud_op.counters(pv->st, pv->v);
	dd_fraud_stats(pv->st, &pv->fs);
	return true;
}

static void json_decision(struct dd_jw *w, const struct dd_out_decision *d)
{
	dd_jw_open(w, NULL, '{');
	dd_jw_u64(w, "txn_id", d->txn_id);
	dd_jw_u64(w, "payer", d->payer);
	dd_jw_i64(w, "amount", d->amount);
	dd_jw_u64(w, "score", d->score);
	dd_jw_open(w, "reasons", '[');
	for (unsigned i = 0; i < DD_R__COUNT; i++)
		if (d->reasons >> i & 1)
			dd_jw_str(w, NULL, dd_reason_name(i));
	dd_jw_close(w, ']');
	dd_jw_close(w, '}');
}

/* "payments": decisions by action, reasons by how often they fired, the first blocked ones. */
static void json_payments(struct dd_jw *w, const struct dd_run *r)
{
	struct pay_view pv;
	if (!pay_view(r, &pv))
		return;
	const uint64_t *v = pv.v;
	const struct dd_fraud_stats *fs = &pv.fs;
	const struct dd_frules *rules = dd_fraud_rules(pv.st);
	dd_jw_open(w, "payments", '{');
	dd_jw_strn(w, "rules", rules->name, sizeof(rules->name));
	dd_jw_u64(w, "rules_version", rules->version);
	dd_jw_u64(w, "reloads", r->reloads);
	dd_jw_u64(w, "reload_failures", r->reload_failures);
	if (r->reload_error != NULL)
		dd_jw_str(w, "reload_error", r->reload_error);
	for (unsigned i = 0; i < dd_fraud_op.ncounters; i++)
		dd_jw_u64(w, dd_fraud_op.counter_names[i] + 6, v[i]); /* without "fraud_" */
	dd_jw_open(w, "reasons", '{');
	for (unsigned i = 0; i < DD_R__COUNT; i++)
		dd_jw_nz(w, dd_reason_name(i), fs->reasons[i]);
	dd_jw_close(w, '}');
	dd_jw_open(w, "first_blocked", '[');
	for (unsigned i = 0; i < fs->nblocked; i++)
		json_decision(w, &fs->blocked[i]);
	dd_jw_close(w, ']');
	dd_jw_close(w, '}');
}

/* The market rules' view over every shard: the image, each pattern's alerts and its first alert
 * (the earliest in event time over the shards), the operators' counters summed. */
struct pat_view {
	const struct dd_mrules *img;
	struct dd_cep_pattern_stats ps[DD_MR_MAX_PATTERNS];
	uint64_t cv[DD_OP_MAX_COUNTERS], wv[DD_OP_MAX_COUNTERS];
};

/* The name of the window a matched-record ref names: the rule set's, else "window<index>" (as the
 * JSON lines name it). */
static const char *ref_window_name(const struct dd_mrules *img, uint64_t ref, char *buf, size_t len)
{
	unsigned wi = dd_ref_window_index(ref);
	if (wi < img->nwindows)
		return img->window[wi].name;
	snprintf(buf, len, "window%u", wi);
	return buf;
}

static bool pat_view(const struct dd_run *r, struct pat_view *pv)
{
	memset(pv, 0, sizeof(*pv));
	for (unsigned s = 0; r->chains != NULL && s < r->nshards; s++) {
		const void *st = dd_chain_state(&r->chains[s], DD_OP_CEP);
		const void *ws = dd_chain_state(&r->chains[s], DD_OP_WINDOW);
		if (st == NULL || dd_cep_rules(st) == NULL)
			continue;
		pv->img = dd_cep_rules(st);
		uint64_t v[DD_OP_MAX_COUNTERS];
		dd_cep_op.counters(st, v);
		for (unsigned i = 0; i < dd_cep_op.ncounters; i++)
			pv->cv[i] += v[i];
		if (ws != NULL) {
			dd_window_op.counters(ws, v);
			for (unsigned i = 0; i < dd_window_op.ncounters; i++)
				pv->wv[i] += v[i];
		}
		for (unsigned i = 0; i < pv->img->npatterns; i++) {
			struct dd_cep_pattern_stats one;
			dd_cep_pattern_stats(st, i, &one);
			struct dd_cep_pattern_stats *t = &pv->ps[i];
			t->alerts += one.alerts;
			t->timeouts += one.timeouts;
			if (one.have_first && (!t->have_first || one.first.event_ns < t->first.event_ns)) {
				t->have_first = true;
				t->first = one.first;
				memcpy(t->first_refs, one.first_refs, sizeof(t->first_refs));
			}
		}
	}
	return pv->img != NULL;
}

/* "patterns": the market rules in force, the operators' counters, per pattern its alerts and first. */
static void json_patterns(struct dd_jw *w, const struct dd_run *r)
{
	static struct pat_view pv;
	if (!pat_view(r, &pv))
		return;
	dd_jw_open(w, "patterns", '{');
	dd_jw_strn(w, "rules", pv.img->name, sizeof(pv.img->name));
	dd_jw_u64(w, "rules_version", pv.img->version);
	dd_jw_u64(w, "reloads", r->mreloads);
	dd_jw_u64(w, "reload_failures", r->mreload_failures);
	if (r->mreload_error != NULL)
		dd_jw_str(w, "reload_error", r->mreload_error);
	for (unsigned i = 0; i < dd_cep_op.ncounters; i++)
		dd_jw_u64(w, dd_cep_op.counter_names[i], pv.cv[i]);
	for (unsigned i = 0; i < dd_window_op.ncounters; i++)
		dd_jw_u64(w, dd_window_op.counter_names[i], pv.wv[i]);
	dd_jw_open(w, "by_pattern", '{');
	for (unsigned i = 0; i < pv.img->npatterns; i++) {
		const struct dd_mr_pattern *p = &pv.img->pattern[i];
		const struct dd_cep_pattern_stats *t = &pv.ps[i];
		dd_jw_open(w, p->name, '{');
		dd_jw_u64(w, "alerts", t->alerts);
		dd_jw_u64(w, "timeouts", t->timeouts);
		if (t->have_first) {
			const struct dd_out_alert *a = &t->first.u.alert;
			char sym[9];
			dd_symtab_name(t->first.symbol, sym);
			dd_jw_open(w, "first", '{');
			dd_jw_str(w, "symbol", sym);
			dd_jw_u64(w, "first_ns", a->first_ns);
			dd_jw_u64(w, "last_ns", a->last_ns);
			dd_jw_u64(w, "events", a->events);
			for (unsigned m = 0; m < p->nmeasures && m < a->nmeasures; m++)
				if (!(a->null_mask >> m & 1u))
					dd_jw_i64(w, p->measure[m].name, a->measure[m]);
			/* the records it matched, as its `matched` outputs name them (docs/outputs.md) */
			dd_jw_open(w, "matched", '[');
			for (unsigned k = 0; k < t->first.flags && k < DD_MR_MAX_REFS; k++) {
				uint64_t ref = t->first_refs[k];
				dd_jw_open(w, NULL, '{');
				if (dd_ref_is_window(ref)) {
					char wn[DD_MR_NAME + 16];
					dd_jw_str(w, "window", ref_window_name(pv.img, ref, wn, sizeof(wn)));
					dd_jw_u64(w, "end", dd_ref_low(ref));
					dd_jw_bool(w, "late", dd_ref_late(ref));
				} else {
					dd_jw_u64(w, "feed", dd_ref_feed(ref));
					dd_jw_u64(w, "seq", dd_ref_low(ref));
				}
				dd_jw_close(w, '}');
			}
			dd_jw_close(w, ']');
			dd_jw_close(w, '}');
		}
		dd_jw_close(w, '}');
	}
	dd_jw_close(w, '}');
	dd_jw_close(w, '}');
}

/* "output_udp" and "nats", when they ran */
static void json_stream(struct dd_jw *w, const struct dd_stream_summary *s)
{
	if (s == NULL)
		return;
	if (s->on) {
		dd_jw_open(w, "output_udp", '{');
		dd_jw_str(w, "session", s->session);
		dd_jw_u64(w, "base", s->base);
		dd_jw_u64(w, "first_seq", s->first_seq);
		dd_jw_u64(w, "next_seq", s->next_seq);
		dd_jw_u64(w, "messages", s->messages);
		dd_jw_u64(w, "datagrams", s->datagrams);
		dd_jw_u64(w, "heartbeats", s->heartbeats);
		dd_jw_u64(w, "bytes", s->bytes);
		dd_jw_u64(w, "tx_full", s->tx_full);
		dd_jw_u64(w, "tx_dropped", s->tx_dropped);
		dd_jw_bool(w, "ended", s->ended);
		if (s->rexmit) {
			dd_jw_open(w, "requests", '{');
			dd_jw_u64(w, "answered", s->rx.requests);
			dd_jw_u64(w, "messages", s->rx.messages);
			dd_jw_u64(w, "datagrams", s->rx.datagrams);
			dd_jw_u64(w, "from_journal", s->rx.from_journal);
			dd_jw_u64(w, "past_sessions", s->rx.past_requests);
			dd_jw_u64(w, "bad_length", s->rx.bad_length);
			dd_jw_u64(w, "bad_session", s->rx.bad_session);
			dd_jw_u64(w, "bad_range", s->rx.bad_range);
			dd_jw_u64(w, "unavailable", s->rx.unavailable);
			dd_jw_u64(w, "rate_limited", s->rx.rate_limited);
			dd_jw_u64(w, "send_errors", s->rx.send_errors);
			dd_jw_close(w, '}');
		}
		dd_jw_close(w, '}');
	}
	if (s->nats) {
		dd_jw_open(w, "nats", '{');
		dd_jw_str(w, "url", s->nats_url);
		dd_jw_u64(w, "published", s->ns.published);
		dd_jw_u64(w, "acked_seq", s->ns.acked_seq);
		dd_jw_u64(w, "backlog", s->ns.backlog);
		dd_jw_u64(w, "resent", s->ns.resent);
		dd_jw_u64(w, "lost", s->ns.lost);
		dd_jw_u64(w, "from_journal", s->ns.from_journal);
		dd_jw_u64(w, "errors", s->ns.errors);
		if (s->ns.last_error[0])
			dd_jw_str(w, "last_error", s->ns.last_error);
		dd_jw_close(w, '}');
	}
}

int dd_report_summary(const struct dd_run *r, const char *path, char *err, size_t errlen)
{
	char tmp[4096 + 8];
	int orc;
	FILE *f = whole_open(path, tmp, sizeof(tmp), "summary", &orc, err, errlen);
	if (f == NULL)
		return orc;
	struct dd_jw w;
	dd_jw_init(&w, f, false);
	dd_jw_open(&w, NULL, '{');
	dd_jw_u64(&w, "version", 1);
	dd_jw_strn(&w, "instance", r->cfg->instance, sizeof(r->cfg->instance));
	dd_jw_strn(&w, "pipeline", r->cfg->pipeline == DD_PIPELINE_RTC ? "rtc" : "staged", 8);
	dd_jw_u64(&w, "workers", r->nshards);
	if (r->cfg->pipeline == DD_PIPELINE_STAGED)
		dd_jw_strn(&w, "route", r->route == DD_ROUTE_SYMBOL ? "symbol" : "locate", 8);
	double el = elapsed_s(r);
	dd_jw_f64(&w, "elapsed_s", el, 6);
	dd_jw_u64(&w, "packets", r->rx->packets);
	dd_jw_u64(&w, "bytes", r->rx->bytes);
	dd_jw_u64(&w, "udp", r->rx->udp);
	uint64_t total = itch_total(r);
	dd_jw_f64(&w, "messages_per_s", el > 0 ? (double)total / el : 0.0, 6);
	json_itch(&w, r);
	json_mold(&w, r);
	json_errors(&w, r);
	struct dd_book_stats st;
	uint64_t ni, no, nl;
	dd_report_book_totals(r, -1, &st, &ni, &no, &nl);
	dd_jw_open(&w, "book", '{');
	json_book_stats(&w, &st, ni, no, nl);
	dd_jw_close(&w, '}');
	if (r->rx->ring_full)
		dd_jw_u64(&w, "ring_full", r->rx->ring_full);
	json_operators(&w, r);
	json_payments(&w, r);
	json_patterns(&w, r);
	json_latency(&w, r);
	if (r->journal != NULL && r->journal->enabled) {
		const struct dd_journal_summary *j = r->journal;
		dd_jw_open(&w, "journal", '{');
		dd_jw_str(&w, "dir", j->dir);
		dd_jw_str(&w, "sync", j->sync);
		dd_jw_str(&w, "release", j->release);
		dd_jw_u64(&w, "records", j->records);
		dd_jw_u64(&w, "bytes", j->bytes);
		dd_jw_u64(&w, "commits", j->commits);
		dd_jw_u64(&w, "commit_bytes_max", j->commit_bytes_max);
		dd_jw_u64(&w, "segments_started", j->segments);
		dd_jw_u64(&w, "durable_lsn", j->durable_lsn);
		dd_jw_u64(&w, "released", j->released);
		dd_jw_u64(&w, "unreleased", j->unreleased);
		dd_jw_u64(&w, "orphaned", j->orphaned);
		dd_jw_u64(&w, "cause_lost", j->cause_lost);
		dd_jw_u64(&w, "snapshots", j->snapshots);
		dd_jw_u64(&w, "snapshot_lsn", j->snapshot_lsn);
		if (j->recovery != NULL)
			dd_jw_str(&w, "recovery", j->recovery);
		if (j->error != NULL)
			dd_jw_str(&w, "error", j->error);
		dd_jw_close(&w, '}');
	}
	json_stream(&w, r->stream);
	json_feeds(&w, r);
	dd_jw_close(&w, '}');
	fputc('\n', f);
	return whole_close(f, path, tmp, "summary", err, errlen);
}

/* ---- book dump ------------------------------------------------------------------------------ */

const char *dd_report_text(char *buf, size_t len, const char *p, size_t n)
{
	size_t j = 0;
	if (len == 0)
		return buf;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		bool esc = c < 0x20 || c > 0x7e || c == '\\';
		if (j + (esc ? 4 : 1) >= len)
			break; /* what does not fit is left out whole, never half an escape */
		if (esc)
			j += (size_t)snprintf(buf + j, len - j, "\\x%02x", c);
		else
			buf[j++] = (char)c;
	}
	buf[j] = '\0';
	return buf;
}

/* A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote or a line end. */
static void csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

struct dump_row {
	char sym[9];
	unsigned feed;
	const struct dd_book *b;
	const struct dd_book_instr *in;
};

static void trimmed_symbol(const char s[8], char out[9])
{
	size_t n = 8;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

static int row_cmp(const void *a, const void *b)
{
	const struct dump_row *x = a, *y = b;
	int c = strcmp(x->sym, y->sym); /* byte order: strcmp compares as unsigned char */
	if (c != 0)
		return c;
	if (x->feed != y->feed)
		return x->feed < y->feed ? -1 : 1;
	return x->in->locate < y->in->locate ? -1 : x->in->locate > y->in->locate;
}

/* Feeds with a book (market feeds; a payment feed has none). */
static unsigned market_feeds(const struct dd_run *r)
{
	unsigned n = 0;
	for (unsigned f = 0; f < r->nfeeds; f++)
		n += r->books[f] != NULL;
	return n;
}

int dd_report_book_dump(const struct dd_run *r, const char *path, char *err, size_t errlen)
{
	size_t cap = 0, n = 0;
	for (unsigned i = 0; i < r->nshards * r->nfeeds; i++)
		cap += r->books[i] != NULL ? r->books[i]->ninstr : 0;
	struct dump_row *rows = calloc(cap ? cap : 1, sizeof(*rows));
	if (rows == NULL) {
		snprintf(err, errlen, "book dump: out of memory for %zu instruments", cap);
		return -ENOMEM;
	}
	for (unsigned s = 0; s < r->nshards; s++)
		for (unsigned f = 0; f < r->nfeeds; f++) {
			const struct dd_book *b = r->books[s * r->nfeeds + f];
			for (uint32_t i = 1; b != NULL && i <= b->ninstr; i++) {
				const struct dd_book_instr *in = dd_book_instr_at(b, i);
				if (in->orders == 0)
					continue;
				rows[n] = (struct dump_row){ .feed = f, .b = b, .in = in };
				trimmed_symbol(in->symbol, rows[n].sym);
				n++;
			}
		}
	qsort(rows, n, sizeof(*rows), row_cmp);

	char tmp[4096 + 8];
	int orc;
	FILE *out = whole_open(path, tmp, sizeof(tmp), "book dump", &orc, err, errlen);
	if (out == NULL) {
		free(rows);
		return orc;
	}
	fputs("symbol,side,level,price,shares,orders\n", out);
	for (size_t i = 0; i < n; i++) {
		struct dd_book_level lv[DD_REPORT_DEPTH];
		for (unsigned side = 0; side < 2; side++) {
			unsigned k = dd_book_depth(rows[i].b, rows[i].in, side, lv, DD_REPORT_DEPTH);
			for (unsigned j = 0; j < k; j++) {
				char sym[8 * 4 + 1], field[DD_FEED_NAME_MAX + sizeof(sym) + 1];
				dd_report_text(sym, sizeof(sym), rows[i].sym, strlen(rows[i].sym));
				if (market_feeds(r) > 1)
					snprintf(field, sizeof(field), "%s:%s", r->feeds[rows[i].feed].cfg.name, sym);
				else
					snprintf(field, sizeof(field), "%s", sym);
				csv_field(out, field);
				fprintf(out, ",%c,%u,%u.%04u,%llu,%u\n", side == DD_BOOK_BID ? 'B' : 'S', j + 1,
					lv[j].price / 10000, lv[j].price % 10000, (unsigned long long)lv[j].shares,
					lv[j].orders);
			}
		}
	}
	free(rows);
	return whole_close(out, path, tmp, "book dump", err, errlen);
}

/* ---- human summary -------------------------------------------------------------------------- */

static void human_count(FILE *out, uint64_t v)
{
	/* thousands separators make 8-digit counters readable at a glance */
	char buf[32], res[48];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	int j = 0;
	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			res[j++] = ',';
		res[j++] = buf[i];
	}
	res[j] = '\0';
	fputs(res, out);
}

struct human_drops {
	FILE *out;
	bool any;
};

static void human_drop(void *ctx, const char *name, uint64_t n)
{
	struct human_drops *h = ctx;
	if (n == 0)
		return;
	fprintf(h->out, "%s %llu  ", name, (unsigned long long)n);
	h->any = true;
}

/* ITCH time (ns since midnight) as HH:MM:SS.mmm. */
static void hms(char *b, size_t n, uint64_t ns)
{
	uint64_t ms = ns / 1000000;
	snprintf(b, n, "%02u:%02u:%02u.%03u", (unsigned)(ms / 3600000 % 100), (unsigned)(ms / 60000 % 60),
		 (unsigned)(ms / 1000 % 60), (unsigned)(ms % 1000));
}

/* Alerts by pattern, and one example of each (its first): what the market rules found. */
static void human_patterns(const struct dd_run *r, FILE *out)
{
	static struct pat_view pv;
	if (!pat_view(r, &pv))
		return;
	fprintf(out, "  patterns ");
	human_count(out, pv.cv[1]); /* cep_alerts */
	fprintf(out, " alerts (rules %s v%u, %u patterns, %u windows):", pv.img->name, pv.img->version,
		pv.img->npatterns, pv.img->nwindows);
	for (unsigned i = 0, k = 0; i < pv.img->npatterns; i++)
		if (pv.ps[i].alerts > 0) {
			fprintf(out, "%s %s ", k++ ? "," : "", pv.img->pattern[i].name);
			human_count(out, pv.ps[i].alerts);
		}
	fputc('\n', out);
	for (unsigned i = 0; i < pv.img->npatterns; i++) {
		const struct dd_cep_pattern_stats *t = &pv.ps[i];
		if (!t->have_first)
			continue;
		const struct dd_mr_pattern *p = &pv.img->pattern[i];
		const struct dd_out_alert *a = &t->first.u.alert;
		char sym[9], t0[16], t1[16];
		dd_symtab_name(t->first.symbol, sym);
		hms(t0, sizeof(t0), a->first_ns);
		hms(t1, sizeof(t1), a->last_ns);
		fprintf(out, "    %-16s %-8s %s - %s", p->name, sym, t0, t1);
		for (unsigned m = 0; m < p->nmeasures && m < a->nmeasures; m++) {
			if (a->null_mask >> m & 1u)
				fprintf(out, "  %s=null", p->measure[m].name);
			else
				fprintf(out, "  %s=%lld", p->measure[m].name, (long long)a->measure[m]);
		}
		/* what it matched: feed:sequence number of each message, window@end of a window's result
		 * (nothing when the chain lists no records) */
		for (unsigned k = 0; k < t->first.flags && k < DD_MR_MAX_REFS; k++) {
			uint64_t ref = t->first_refs[k];
			fprintf(out, "%s", k ? "," : "  matched ");
			if (dd_ref_is_window(ref)) {
				char te[16], wn[DD_MR_NAME + 16];
				hms(te, sizeof(te), dd_ref_low(ref));
				fprintf(out, "%s@%s%s", ref_window_name(pv.img, ref, wn, sizeof(wn)), te,
					dd_ref_late(ref) ? "(late)" : "");
			} else {
				fprintf(out, "%u:%llu", dd_ref_feed(ref), (unsigned long long)dd_ref_low(ref));
			}
		}
		fputc('\n', out);
	}
	if (pv.cv[4] || pv.cv[5] || pv.wv[3] || pv.wv[4] || pv.wv[5]) /* evicted, keys full; late, full, deferred */
		fprintf(out, "    (partial matches evicted %llu, symbols refused %llu; window records late %llu, "
			"refused %llu, firings deferred %llu)\n",
			(unsigned long long)pv.cv[4], (unsigned long long)pv.cv[5], (unsigned long long)pv.wv[3],
			(unsigned long long)pv.wv[4], (unsigned long long)pv.wv[5]);
}

/* Decisions by action, the reasons that fired most, the first blocked payments with theirs. */
static void human_payments(const struct dd_run *r, FILE *out)
{
	struct pay_view pv;
	if (!pay_view(r, &pv))
		return;
	const void *st = pv.st;
	const uint64_t *v = pv.v;
	const struct dd_fraud_stats *fs = &pv.fs;
	/* the operator's counters in their order: decisions, approve, verify, review, block, ... */
	fprintf(out, "  payments ");
	human_count(out, v[0]);
	fprintf(out, " decisions (rules %s v%u): ", dd_fraud_rules(st)->name, dd_fraud_rules(st)->version);
	for (unsigned a = 0; a < 4; a++) {
		human_count(out, v[1 + a]);
		fprintf(out, " %s%s", dd_action_name(a), a < 3 ? ", " : "");
	}
	if (fs->reasons[DD_R_INVALID])
		fprintf(out, " (%llu invalid)", (unsigned long long)fs->reasons[DD_R_INVALID]);
	fputc('\n', out);
	if (v[0] == 0)
		return;
	/* the six reasons that fired most, most first (ties: catalogue order) */
	bool shown[DD_R__COUNT] = { false };
	fprintf(out, "  reasons  ");
	for (unsigned k = 0; k < 6; k++) {
		int best = -1;
		for (unsigned i = 0; i < DD_R__COUNT; i++)
			if (!shown[i] && fs->reasons[i] > 0 && (best < 0 || fs->reasons[i] > fs->reasons[best]))
				best = (int)i;
		if (best < 0)
			break;
		shown[best] = true;
		fprintf(out, "%s%s ", k ? ", " : "", dd_reason_name((unsigned)best));
		human_count(out, fs->reasons[best]);
	}
	fputc('\n', out);
	for (unsigned i = 0; i < fs->nblocked && i < 3; i++) {
		const struct dd_out_decision *d = &fs->blocked[i];
		char cur[4 * 3 + 1];
		dd_report_text(cur, sizeof(cur), d->currency, 3);
		fprintf(out, "  blocked  txn %llu payer %llu amount %lld %s (minor units) score %u:",
			(unsigned long long)d->txn_id, (unsigned long long)d->payer, (long long)d->amount, cur, d->score);
		for (unsigned b = 0, n = 0; b < DD_R__COUNT; b++)
			if (d->reasons >> b & 1)
				fprintf(out, "%s %s", n++ ? "," : "", dd_reason_name(b));
		fputc('\n', out);
	}
}

void dd_report_human(const struct dd_run *r, FILE *out)
{
	double el = elapsed_s(r);
	uint64_t total = itch_total(r);
	fprintf(out, "dadar: ");
	human_count(out, r->rx->packets);
	fprintf(out, " packets, ");
	human_count(out, total);
	fprintf(out, " ITCH messages in %.3f s", el);
	if (el > 0) {
		fprintf(out, " (");
		human_count(out, (uint64_t)((double)total / el));
		fprintf(out, " msg/s)");
	}
	fprintf(out, ", %s pipeline, %u book shard%s\n", r->cfg->pipeline == DD_PIPELINE_RTC ? "run-to-completion" : "staged",
		r->nshards, r->nshards == 1 ? "" : "s");

	fprintf(out, "  itch     ");
	for (const char *t = dd_itch_types; *t; t++) {
		uint64_t n = 0;
		for (unsigned f = 0; f < r->nfeeds; f++)
			n += r->feeds[f].itch.messages[(uint8_t)*t];
		if (n) {
			fprintf(out, "%c ", *t);
			human_count(out, n);
			fputs("  ", out);
		}
	}
	fputc('\n', out);

	for (unsigned f = 0; f < r->nfeeds; f++) {
		const struct dd_mold_session *s = &r->feeds[f].mold;
		const struct dd_mold_stats *m = &s->stats;
		uint64_t arb = 0;
		for (unsigned l = 0; l < DD_MOLD_MAX_LINES; l++)
			arb += m->line[l].arb_dropped;
		char session[10 * 4 + 1];
		dd_report_text(session, sizeof(session), s->name, s->started ? sizeof(s->name) : 0);
		fprintf(out, "  mold     %s: session %s, next seq %llu%s; gaps %llu (%llu missing), duplicates %llu, "
			"A/B copies dropped %llu, heartbeats %llu\n",
			r->feeds[f].cfg.name, s->started ? session : "(none)", (unsigned long long)s->next_seq,
			s->ended ? " (ended)" : "", (unsigned long long)m->gaps, (unsigned long long)m->missing,
			(unsigned long long)(m->duplicates - arb), (unsigned long long)arb,
			(unsigned long long)m->heartbeats);
	}

	struct dd_book_stats st;
	uint64_t ni, no, nl;
	dd_report_book_totals(r, -1, &st, &ni, &no, &nl);
	fprintf(out, "  book     %llu instruments, %llu live orders on %llu price levels", (unsigned long long)ni,
		(unsigned long long)no, (unsigned long long)nl);
	if (st.unknown_ref)
		fprintf(out, "; %llu references to orders not in the book", (unsigned long long)st.unknown_ref);
	uint64_t over = st.order_overflow + st.level_overflow + st.instrument_overflow;
	if (over)
		fprintf(out, "; %llu REFUSED FOR CAPACITY (raise capacity.*)", (unsigned long long)over);
	fputc('\n', out);

	human_payments(r, out);
	human_patterns(r, out);

	struct human_drops hd = { out, false };
	fprintf(out, "  dropped  ");
	each_error(r, human_drop, &hd);
	uint64_t unknown = 0;
	for (unsigned f = 0; f < r->nfeeds; f++)
		unknown += r->feeds[f].itch.unknown;
	human_drop(&hd, "itch_unknown_type", unknown);
	fprintf(out, "%s\n", hd.any ? "" : "nothing");

	for (unsigned stage = 0; r->tm != NULL && stage < r->tm->hdr->nstages; stage++) {
		struct dd_hdr *h;
		if (dd_report_stage_latency(r->tm, stage, &h) != 0)
			continue;
		fprintf(out, "  latency  %-17s p50 %6llu ns  p99 %7llu ns  p99.9 %8llu ns  max %9llu ns  (%llu events)\n",
			dd_tm_stage_name_at(r->tm, stage),
			(unsigned long long)dd_hdr_value_at_percentile(h, 50.0),
			(unsigned long long)dd_hdr_value_at_percentile(h, 99.0),
			(unsigned long long)dd_hdr_value_at_percentile(h, 99.9), (unsigned long long)dd_hdr_max(h),
			(unsigned long long)dd_hdr_total(h));
		dd_hdr_free(h);
	}

	if (r->journal != NULL && r->journal->enabled) {
		const struct dd_journal_summary *j = r->journal;
		fprintf(out, "  journal  %s (sync %s, release %s): %llu records, %llu commits, durable LSN %llu, %llu "
			"outputs released", j->dir, j->sync, j->release, (unsigned long long)j->records,
			(unsigned long long)j->commits, (unsigned long long)j->durable_lsn, (unsigned long long)j->released);
		if (j->orphaned)
			fprintf(out, "; %llu outputs dropped: their input never reached the journal (input stopped)",
				(unsigned long long)j->orphaned);
		if (j->cause_lost)
			fprintf(out, "; %llu outputs journaled WITHOUT their cause", (unsigned long long)j->cause_lost);
		fprintf(out, "%s%s\n", j->error ? "; STOPPED: " : "", j->error ? j->error : "");
	}

	const struct dd_stream_summary *os = r->stream;
	if (os != NULL && os->on) {
		fprintf(out, "  output stream  session %s: messages %llu to %llu in %llu datagrams, %llu heartbeats%s",
			os->session, (unsigned long long)os->first_seq, (unsigned long long)os->next_seq - 1,
			(unsigned long long)os->datagrams, (unsigned long long)os->heartbeats,
			os->ended ? ", end of session sent" : "");
		if (os->tx_dropped)
			fprintf(out, "; %llu datagrams the port did not take (retransmittable)",
				(unsigned long long)os->tx_dropped);
		if (os->rexmit)
			fprintf(out, "; requests: %llu answered (%llu for ended sessions) with %llu messages (%llu from the "
				"journal), refused: %llu malformed, %llu other session, %llu bad range; %llu unavailable, %llu "
				"over the rate",
				(unsigned long long)os->rx.requests, (unsigned long long)os->rx.past_requests,
				(unsigned long long)os->rx.messages,
				(unsigned long long)os->rx.from_journal, (unsigned long long)os->rx.bad_length,
				(unsigned long long)os->rx.bad_session, (unsigned long long)os->rx.bad_range,
				(unsigned long long)os->rx.unavailable, (unsigned long long)os->rx.rate_limited);
		fputc('\n', out);
	}
	if (os != NULL && os->nats)
		fprintf(out, "  nats     %s: %llu published, acknowledged up to %llu, backlog %llu, %llu resent, %llu lost, "
			"%llu errors%s%s\n", os->nats_url, (unsigned long long)os->ns.published,
			(unsigned long long)os->ns.acked_seq, (unsigned long long)os->ns.backlog,
			(unsigned long long)os->ns.resent, (unsigned long long)os->ns.lost, (unsigned long long)os->ns.errors,
			os->ns.last_error[0] ? "; last: " : "", os->ns.last_error);

	/* the top of the first few books, so a person sees the market at a glance */
	unsigned shown = 0;
	for (unsigned s = 0; s < r->nshards && shown < 8; s++)
		for (unsigned f = 0; f < r->nfeeds && shown < 8; f++) {
			const struct dd_book *b = r->books[s * r->nfeeds + f];
			for (uint32_t i = 1; b != NULL && i <= b->ninstr && shown < 8; i++) {
				const struct dd_book_instr *in = dd_book_instr_at(b, i);
				if (in->orders == 0)
					continue;
				if (shown++ == 0)
					fprintf(out, "  top of book (symbol  bid shares @ price | ask price x shares  volume):\n");
				struct dd_book_level bid, ask;
				bool hb = dd_book_best(b, in, DD_BOOK_BID, &bid), ha = dd_book_best(b, in, DD_BOOK_ASK, &ask);
				char sym[8 * 4 + 1];
				dd_report_text(sym, sizeof(sym), in->symbol, sizeof(in->symbol));
				fprintf(out, "    %-8s ", sym);
				if (hb)
					fprintf(out, "%8llu @ %u.%04u", (unsigned long long)bid.shares, bid.price / 10000,
						bid.price % 10000);
				else
					fprintf(out, "%20s", "-");
				fprintf(out, " | ");
				if (ha)
					fprintf(out, "%u.%04u x %-8llu", ask.price / 10000, ask.price % 10000,
						(unsigned long long)ask.shares);
				else
					fprintf(out, "%-20s", "-");
				fprintf(out, "  %llu\n", (unsigned long long)in->volume);
			}
		}
}
