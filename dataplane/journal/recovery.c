/* SPDX-License-Identifier: MIT */
#include "dataplane/journal/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
				     ",\"events\":%u,\"timeout\":%s",
				     p != NULL ? p->name : pname, sym, a->first_ns, a->last_ns, a->events,
				     a->timeout ? "true" : "false");
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

int dd_output_last_lsn(const char *path, uint64_t *lsn, uint64_t *cut, char *err, size_t errlen)
{
	*lsn = 0;
	*cut = 0;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "cannot open the output file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size == 0) {
		close(fd);
		return 0;
	}
	/* the last line is short: read the last 64 KiB */
	char buf[65536 + 1];
	off_t from = st.st_size > 65536 ? st.st_size - 65536 : 0;
	ssize_t n = pread(fd, buf, (size_t)(st.st_size - from), from);
	if (n != st.st_size - from) {
		int e = n < 0 ? errno : EIO;
		close(fd);
		snprintf(err, errlen, "cannot read the output file %s: %s", path, strerror(e));
		return -e;
	}
	buf[n] = '\0';
	char *nl = memrchr(buf, '\n', (size_t)n);
	size_t keep = nl ? (size_t)(nl - buf) + 1 : 0;
	if (keep < (size_t)n) {
		/* a line a crash cut short: it never fully left, so it goes */
		*cut = (uint64_t)n - keep;
		if (ftruncate(fd, from + (off_t)keep) != 0 || fsync(fd) != 0) {
			int e = errno;
			close(fd);
			snprintf(err, errlen, "cannot cut the torn last line of %s: %s", path, strerror(e));
			return -e;
		}
	}
	close(fd);
	if (nl == NULL)
		return 0;
	*nl = '\0';
	char *line = memrchr(buf, '\n', (size_t)(nl - buf));
	line = line ? line + 1 : buf;
	const char *k = strstr(line, "\"lsn\":");
	if (k == NULL || sscanf(k + 6, "%" SCNu64, lsn) != 1) {
		snprintf(err, errlen, "the last line of the output file %s has no \"lsn\": is it dadar's output?", path);
		return -EBADMSG;
	}
	return 0;
}

/* ---- re-release of journaled outputs -------------------------------------------------------------- */

struct rerelease {
	FILE *f;
	uint64_t after;
	uint64_t n;
};

static int rerelease_one(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct rerelease *rr = ctx;
	(void)n;
	if (r->type != DD_JREC_OUTPUT || r->lsn <= rr->after)
		return 0;
	struct dd_output o;
	memcpy(&o, p, sizeof(o));
	char line[DD_OUTPUT_JSON_MAX];
	int len = dd_output_json(line, sizeof(line), r->lsn, &o);
	if (fwrite(line, 1, (size_t)len, rr->f) != (size_t)len)
		return -EIO;
	rr->n++;
	return 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* ---- recovery ---------------------------------------------------------------------------------------- */

int dd_recover(struct dd_recovery *rc, char *err, size_t errlen)
{
	int r;
	if (rc->output != NULL && rc->output[0] != '\0' &&
	    (r = dd_output_last_lsn(rc->output, &rc->released_lsn, &rc->output_cut, err, errlen)) != 0)
		return r;

	struct dd_replay *rp = &rc->replay;
	memset(rp, 0, sizeof(*rp));
	rp->use_snapshot = true;
	rp->burst = rc->burst;
	rp->check_config = rc->check_config;
	rp->check_ctx = rc->check_ctx;
	rp->alloc = rc->alloc;
	rp->release = rc->release;
	rp->alloc_ctx = rc->alloc_ctx;
	rp->clock = rc->clock;
	r = dd_replay_run(rc->dir, rp, err, errlen);
	if (r == -ENOENT || (r == 0 && rp->scan.segments == 0)) {
		if (rc->released_lsn != 0) {
			snprintf(err, errlen,
				 "the output file %s holds outputs released up to LSN %llu, but journal %s is new: they would be "
				 "numbered again from LSN 1. Move the output file aside (or give the journal it was written "
				 "with)", rc->output, (unsigned long long)rc->released_lsn, rc->dir);
			return -EPROTO;
		}
		rc->fresh = true;
		rc->next_lsn = 1;
		rc->segment[0] = '\0';
		snprintf(rc->message, sizeof(rc->message), "journal %s: new", rc->dir);
		err[0] = '\0';
		return 0;
	}
	if (r != 0)
		return r;
	const struct dd_jscan *s = &rp->scan;
	if (rp->have_config && (rp->nshards != rc->nshards || rp->nfeeds != rc->nfeeds)) {
		snprintf(err, errlen,
			 "journal %s was written by a pipeline with %u shard(s) and %u feed(s); this start has %u and %u: "
			 "start with the same --pipeline/--workers and feeds (or replay it offline with dadar-journal replay)",
			 rc->dir, rp->nshards, rp->nfeeds, rc->nshards, rc->nfeeds);
		return -EINVAL;
	}
	if (s->corrupt) {
		snprintf(err, errlen,
			 "journal %s is corrupt at %s offset %llu (LSN %llu expected): %s. dadar will not start on it: "
			 "`dadar-journal verify %s` shows it; move the journal aside to start a new one",
			 rc->dir, s->corrupt_segment, (unsigned long long)s->corrupt_offset,
			 (unsigned long long)s->corrupt_lsn, s->corrupt_why, rc->dir);
		return -EBADMSG;
	}
	if (rp->mismatch) {
		snprintf(err, errlen,
			 "journal %s: replaying it does not give the outputs it recorded (at LSN %llu: %s). The operators "
			 "or their configuration changed since it was written; dadar will not start on it",
			 rc->dir, (unsigned long long)rp->mismatch_lsn, rp->mismatch_why);
		return -EPROTO;
	}
	/*
	 * The output file must not be ahead of the journal: outputs released past the journal's end
	 * were acknowledged and then lost from the journal (a segment deleted or cut short, a journal
	 * restored from an older copy). Going on would release different outputs under the same LSNs.
	 */
	if (rc->released_lsn > s->last_lsn) {
		snprintf(err, errlen,
			 "the output file %s holds outputs released up to LSN %llu, but journal %s ends at LSN %llu: the "
			 "journal lost records whose outputs were released. dadar will not number new outputs over them: "
			 "move the output file aside (its lines stay valid up to LSN %llu), or restore the journal",
			 rc->output, (unsigned long long)rc->released_lsn, rc->dir, (unsigned long long)s->last_lsn,
			 (unsigned long long)s->last_lsn);
		return -EPROTO;
	}
	if (s->torn) {
		if ((r = dd_jtruncate_tail(s, err, errlen)) != 0)
			return r;
		rc->truncated = true;
		rc->cut_bytes = s->torn_bytes;
	} else if (s->last_segment[0] != '\0' && (r = fsync_path(s->last_segment)) != 0) {
		/* records written before the crash but never synced are on disk from here on */
		snprintf(err, errlen, "fsync(%s) failed: %s", s->last_segment, strerror(-r));
		return r;
	}
	snprintf(rc->segment, sizeof(rc->segment), "%s", s->last_segment);
	rc->end_offset = s->end_offset;
	if (s->last_lsn != 0) {
		rc->next_lsn = s->last_lsn + 1;
	} else {
		/* segments but no record yet: continue at the LSN the segment's name promises */
		const char *b = strrchr(s->last_segment, '/');
		unsigned long long first = 1;
		if (b == NULL || sscanf(b + 1, "seg-%llu.ddj", &first) != 1)
			first = 1;
		rc->next_lsn = first;
	}
	/*
	 * A feed resumes after the later of its last journaled position and the last event journaled
	 * after that position: positions are journaled once per receive burst, events as they come, so
	 * a crash can leave events past the last position. Only events after the position count, so an
	 * earlier MoldUDP64 session's larger sequence numbers never move a later session's position.
	 * (If a session changed within the last burst, before its position was journaled, the events
	 * of the new session already journaled are received again.) Without a position (a crash in
	 * the very first burst) the name is unknown: the first datagram names the session.
	 */
	for (unsigned f = 0; f < rc->nfeeds && f < DD_MAX_FEEDS; f++) {
		uint64_t next = rp->have_pos[f] ? rp->pos[f].next_seq : 0;
		if (rp->max_seq[f] + 1 > next && rp->max_seq[f] != 0)
			next = rp->max_seq[f] + 1;
		if (next != 0)
			dd_mold_restore(&rc->feeds[f].mold, rp->have_pos[f] ? rp->pos[f].session : NULL, next,
					rp->have_pos[f] && rp->pos[f].ended != 0);
	}

	if (rc->output != NULL && rc->output[0] != '\0' && rc->released_lsn < rc->next_lsn - 1) {
		struct rerelease rr = { .after = rc->released_lsn };
		rr.f = fopen(rc->output, "a");
		if (rr.f == NULL) {
			int e = errno;
			snprintf(err, errlen, "cannot append to the output file %s: %s", rc->output, strerror(e));
			return -e;
		}
		struct dd_jscan s2;
		r = dd_jscan_dir(rc->dir, rc->released_lsn + 1, rerelease_one, &rr, &s2, err, errlen);
		if (fflush(rr.f) != 0 || fsync(fileno(rr.f)) != 0)
			r = r ? r : -errno;
		fclose(rr.f);
		if (r != 0) {
			if (err[0] == '\0')
				snprintf(err, errlen, "writing journaled outputs to %s failed: %s", rc->output, strerror(-r));
			return r;
		}
		rc->rereleased = rr.n;
		if (rr.n > 0)
			rc->released_lsn = rc->next_lsn - 1;
	}
	char from[64] = "";
	if (rp->snapshot_lsn)
		snprintf(from, sizeof(from), " after the snapshot at LSN %llu", (unsigned long long)rp->snapshot_lsn);
	int n = snprintf(rc->message, sizeof(rc->message),
			 "journal %s: recovered to LSN %llu (%llu events replayed%s), %llu outputs matched", rc->dir,
			 (unsigned long long)(rc->next_lsn - 1), (unsigned long long)rp->events, from,
			 (unsigned long long)rp->outputs_matched);
	if (rc->truncated && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      "; cut a torn tail of %llu bytes at %s offset %llu after LSN %llu",
			      (unsigned long long)rc->cut_bytes, s->last_segment, (unsigned long long)s->end_offset,
			      (unsigned long long)s->last_lsn);
	if (rc->truncated && s->short_bytes > 0 && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      " (the file was %llu bytes short of its %llu: zero-filled back to its size)",
			      (unsigned long long)s->short_bytes, (unsigned long long)s->segment_size);
	if (rp->ntail && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      "; %llu outputs derived but not journaled before the stop are journaled now",
			      (unsigned long long)rp->ntail);
	if (rc->rereleased && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      "; %llu journaled outputs released now", (unsigned long long)rc->rereleased);
	if (rc->output_cut && n > 0 && (size_t)n < sizeof(rc->message))
		snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			 "; cut %llu bytes of a torn last line from %s", (unsigned long long)rc->output_cut, rc->output);
	err[0] = '\0';
	return 0;
}

void dd_recovery_fini(struct dd_recovery *rc)
{
	dd_replay_fini(&rc->replay);
}
