/* SPDX-License-Identifier: MIT */
#include "dataplane/journal/replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A FIFO of outputs, grown as needed (replay is control-plane code). */
struct ofifo {
	struct dd_output *v;
	size_t head, tail, cap;
};

static int ofifo_push(struct ofifo *q, const struct dd_output *o)
{
	if (q->tail == q->cap) {
		if (q->head > 0) {
			memmove(q->v, q->v + q->head, (q->tail - q->head) * sizeof(*q->v));
			q->tail -= q->head;
			q->head = 0;
		}
		if (q->tail == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 256;
			struct dd_output *v = realloc(q->v, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			q->v = v;
			q->cap = cap;
		}
	}
	q->v[q->tail++] = *o;
	return 0;
}

static inline bool ofifo_empty(const struct ofifo *q)
{
	return q->head == q->tail;
}

/* Per shard: outputs derived and not yet seen journaled, and journaled ones not yet derived. */
struct shard_q {
	struct ofifo derived;
	struct ofifo journaled;
};

struct priv {
	struct dd_replay *r;
	struct shard_q *q; /* [nshards] */
	uint64_t skip_to;  /* records up to this LSN are in the snapshot */
	/* why on_record stopped the scan: the scanner writes its own message into the caller's err
	 * when a callback fails, so ours is kept here and copied over it afterwards */
	char why[256];
};

static void mismatch(struct dd_replay *r, uint64_t lsn, const char *fmt, const struct dd_output *a,
		     const struct dd_output *b)
{
	if (r->mismatch)
		return;
	r->mismatch = true;
	r->mismatch_lsn = lsn;
	char da[96] = "none", db[96] = "none";
	if (a != NULL)
		snprintf(da, sizeof(da), "feed %u seq %llu locate %u bid %u x %llu ask %u x %llu", a->source,
			 (unsigned long long)a->seq, a->locate, a->bid_price, (unsigned long long)a->bid_shares,
			 a->ask_price, (unsigned long long)a->ask_shares);
	if (b != NULL)
		snprintf(db, sizeof(db), "feed %u seq %llu locate %u bid %u x %llu ask %u x %llu", b->source,
			 (unsigned long long)b->seq, b->locate, b->bid_price, (unsigned long long)b->bid_shares,
			 b->ask_price, (unsigned long long)b->ask_shares);
	snprintf(r->mismatch_why, sizeof(r->mismatch_why), "%s: journaled {%s}, re-derived {%s}", fmt, da, db);
}

/* Pair the heads of a shard's two queues while both have one; a differing pair is a mismatch. */
static void match(struct dd_replay *r, struct shard_q *q, uint64_t lsn)
{
	while (!ofifo_empty(&q->derived) && !ofifo_empty(&q->journaled)) {
		const struct dd_output *d = &q->derived.v[q->derived.head++];
		const struct dd_output *j = &q->journaled.v[q->journaled.head++];
		if (memcmp(d, j, DD_OUTPUT_CMP_LEN) != 0)
			mismatch(r, lsn, "a journaled output differs from the one the books derive", j, d);
		else
			r->outputs_matched++;
	}
}

static struct dd_book *book_of(struct dd_replay *r, unsigned shard, unsigned feed)
{
	return &r->books[shard * r->nfeeds + feed];
}

static int on_event(struct priv *p, const struct dd_jrec *rec, const struct dd_event *ev)
{
	struct dd_replay *r = p->r;
	if (ev->source >= r->nfeeds) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: an event of feed %u, but %u feed(s) are configured: "
			 "start with the configuration that wrote the journal", (unsigned long long)rec->lsn, ev->source,
			 r->nfeeds);
		return -EINVAL;
	}
	unsigned first = 0, last = r->nshards - 1;
	if (ev->type != DD_EV_SYSTEM)
		first = last = dd_shard_of(ev->key, r->nshards);
	for (unsigned s = first; s <= last; s++) {
		struct dd_book *b = book_of(r, s, ev->source);
		unsigned flags = dd_book_apply(b, ev);
		struct dd_output o;
		if ((flags & (DD_BOOK_BID_CHANGED | DD_BOOK_ASK_CHANGED)) && dd_book_bbo_output(b, ev, &o)) {
			r->outputs_derived++;
			if (ofifo_push(&p->q[s].derived, &o) != 0) {
				snprintf(p->why, sizeof(p->why), "journal LSN %llu: out of memory for the derived outputs "
					 "waiting for their journaled twins", (unsigned long long)rec->lsn);
				return -ENOMEM;
			}
			match(r, &p->q[s], rec->lsn);
		}
	}
	if (ev->seq > r->max_seq[ev->source])
		r->max_seq[ev->source] = ev->seq;
	r->events++;
	return 0;
}

static int on_record(void *ctx, const struct dd_jrec *rec, const uint8_t *payload, size_t n)
{
	struct priv *p = ctx;
	struct dd_replay *r = p->r;
	if (rec->lsn <= p->skip_to)
		return 0;
	if (r->max_lsn != 0 && rec->lsn > r->max_lsn)
		return -ECANCELED; /* the caller's end: not an error */
	r->last_lsn = rec->lsn;
	switch (rec->type) {
	case DD_JREC_EVENT: {
		struct dd_event ev;
		memcpy(&ev, payload, sizeof(ev)); /* the scanner checked n >= sizeof(ev) */
		(void)n;
		return on_event(p, rec, &ev);
	}
	case DD_JREC_OUTPUT: {
		struct dd_output o;
		memcpy(&o, payload, sizeof(o));
		r->outputs_journaled++;
		unsigned s = dd_shard_of(o.locate, r->nshards);
		/* the writer journals an output only after its input: one that the books have not
		 * derived yet never had its cause journaled before it */
		if (ofifo_empty(&p->q[s].derived)) {
			mismatch(r, rec->lsn, "a journaled output the books do not derive (at least not before it)", &o,
				 NULL);
			return 0;
		}
		if (ofifo_push(&p->q[s].journaled, &o) != 0) {
			snprintf(p->why, sizeof(p->why), "journal LSN %llu: out of memory for the journaled outputs "
				 "waiting for the books to derive them", (unsigned long long)rec->lsn);
			return -ENOMEM;
		}
		match(r, &p->q[s], rec->lsn);
		return 0;
	}
	case DD_JREC_FEEDPOS:
		if (rec->source < DD_MAX_FEEDS) {
			memcpy(&r->pos[rec->source], payload, sizeof(r->pos[0]));
			r->have_pos[rec->source] = true;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- snapshots ---------------------------------------------------------------------------------- */

struct membuf {
	uint8_t *p;
	size_t len, cap, pos;
};

static int membuf_put(void *ctx, const void *p, size_t n)
{
	struct membuf *m = ctx;
	if (m->len + n > m->cap) {
		size_t cap = (m->len + n) * 2;
		uint8_t *q = realloc(m->p, cap);
		if (q == NULL)
			return -ENOMEM;
		m->p = q;
		m->cap = cap;
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

static int membuf_get(void *ctx, void *p, size_t n)
{
	struct membuf *m = ctx;
	if (n > m->len - m->pos)
		return -EBADMSG;
	memcpy(p, m->p + m->pos, n);
	m->pos += n;
	return 0;
}

static int write_snapshot(const char *dir, uint64_t lsn, const struct dd_book *books, unsigned nshards,
			  unsigned nfeeds, const struct dd_jfeedpos *pos, const bool *have_pos, uint64_t events,
			  uint64_t outputs, const struct shard_q *q, char *err, size_t errlen)
{
	struct dd_jsnap_writer *w;
	int rc = dd_jsnap_begin(&w, dir, lsn, err, errlen);
	if (rc != 0)
		return rc;
	struct dd_snap_meta meta = { nshards, nfeeds, events, outputs };
	rc = dd_jsnap_section(w, DD_SNAP_TAG_META, &meta, sizeof(meta));
	struct dd_jfeedpos fp[DD_MAX_FEEDS];
	memset(fp, 0, sizeof(fp));
	for (unsigned f = 0; f < nfeeds && f < DD_MAX_FEEDS; f++)
		if (have_pos[f])
			fp[f] = pos[f];
	if (rc == 0)
		rc = dd_jsnap_section(w, DD_SNAP_TAG_FEEDPOS, fp, sizeof(fp));
	struct membuf m = { 0 };
	if (q != NULL) {
		for (unsigned s = 0; rc == 0 && s < nshards; s++) {
			uint32_t hdr[2] = { s, (uint32_t)(q[s].derived.tail - q[s].derived.head) };
			rc = membuf_put(&m, hdr, sizeof(hdr));
			if (rc == 0 && hdr[1] > 0)
				rc = membuf_put(&m, q[s].derived.v + q[s].derived.head, hdr[1] * sizeof(struct dd_output));
		}
		if (rc == 0)
			rc = dd_jsnap_section(w, DD_SNAP_TAG_PENDING, m.p, m.len);
	}
	for (unsigned s = 0; rc == 0 && s < nshards; s++)
		for (unsigned f = 0; rc == 0 && f < nfeeds; f++) {
			m.len = 0;
			rc = dd_book_save(&books[s * nfeeds + f], membuf_put, &m);
			if (rc == 0)
				rc = dd_jsnap_section(w, DD_SNAP_TAG_BOOK + s * DD_MAX_FEEDS + f, m.p, m.len);
		}
	free(m.p);
	if (rc != 0) {
		dd_jsnap_end(w, false, err, errlen);
		snprintf(err, errlen, "snapshot %llu in %s: %s", (unsigned long long)lsn, dir, strerror(-rc));
		return rc;
	}
	return dd_jsnap_end(w, true, err, errlen);
}

int dd_replay_snapshot(const char *dir, uint64_t lsn, const struct dd_book *books, unsigned nshards,
		       unsigned nfeeds, const struct dd_jfeedpos *pos, const bool *have_pos, uint64_t events,
		       uint64_t outputs, char *err, size_t errlen)
{
	return write_snapshot(dir, lsn, books, nshards, nfeeds, pos, have_pos, events, outputs, NULL, err, errlen);
}

int dd_replay_snapshot_state(const struct dd_replay *r, const char *dir, char *err, size_t errlen)
{
	const struct priv *p = r->priv;
	return write_snapshot(dir, r->last_lsn, r->books, r->nshards, r->nfeeds, r->pos, r->have_pos, r->events,
			      r->outputs_derived, p != NULL ? p->q : NULL, err, errlen);
}

/* Restore books and positions from a snapshot whose layout matches; false if it does not fit. */
static int load_snapshot(struct dd_replay *r, struct shard_q *q, const struct dd_jsnap *snap, char *err,
			 size_t errlen)
{
	const struct dd_snap_meta *meta = NULL;
	for (unsigned i = 0; i < snap->nsections; i++)
		if (snap->section[i].tag == DD_SNAP_TAG_META && snap->section[i].len == sizeof(*meta))
			meta = (const void *)snap->section[i].p;
	if (meta == NULL || meta->nshards != r->nshards || meta->nfeeds != r->nfeeds)
		return 1; /* written by another layout: replay from the start instead */
	for (unsigned i = 0; i < snap->nsections; i++) {
		uint32_t tag = snap->section[i].tag;
		if (tag == DD_SNAP_TAG_FEEDPOS && snap->section[i].len == DD_MAX_FEEDS * sizeof(struct dd_jfeedpos)) {
			const struct dd_jfeedpos *fp = (const void *)snap->section[i].p;
			for (unsigned f = 0; f < DD_MAX_FEEDS; f++)
				if (fp[f].next_seq != 0) {
					r->pos[f] = fp[f];
					r->have_pos[f] = true;
				}
		} else if (tag == DD_SNAP_TAG_PENDING) {
			const uint8_t *p = snap->section[i].p, *end = p + snap->section[i].len;
			while (end - p >= 8) {
				uint32_t hdr[2];
				memcpy(hdr, p, sizeof(hdr));
				p += sizeof(hdr);
				if (hdr[0] >= r->nshards || (uint64_t)(end - p) < (uint64_t)hdr[1] * sizeof(struct dd_output)) {
					snprintf(err, errlen, "snapshot %llu: malformed pending outputs", (unsigned long long)snap->lsn);
					return -EBADMSG;
				}
				for (uint32_t k = 0; k < hdr[1]; k++, p += sizeof(struct dd_output)) {
					struct dd_output o;
					memcpy(&o, p, sizeof(o));
					if (ofifo_push(&q[hdr[0]].derived, &o) != 0)
						return -ENOMEM;
				}
			}
		} else if (tag >= DD_SNAP_TAG_BOOK) {
			unsigned s = (tag - DD_SNAP_TAG_BOOK) / DD_MAX_FEEDS, f = (tag - DD_SNAP_TAG_BOOK) % DD_MAX_FEEDS;
			if (s >= r->nshards || f >= r->nfeeds) {
				snprintf(err, errlen, "snapshot %llu: a book for shard %u feed %u", (unsigned long long)snap->lsn, s, f);
				return -EBADMSG;
			}
			struct membuf m = { .p = (uint8_t *)(uintptr_t)snap->section[i].p, .len = snap->section[i].len };
			int rc = dd_book_load(book_of(r, s, f), membuf_get, &m);
			if (rc != 0 || m.pos != m.len) {
				snprintf(err, errlen, "snapshot %llu: the book of shard %u feed %u does not load (%s)",
					 (unsigned long long)snap->lsn, s, f, rc ? strerror(-rc) : "trailing bytes");
				return rc ? rc : -EBADMSG;
			}
		}
	}
	r->snapshot_lsn = snap->lsn;
	return 0;
}

/* ---- replay ------------------------------------------------------------------------------------- */

int dd_replay_run(const char *dir, struct dd_replay *r, char *err, size_t errlen)
{
	if (r->nshards == 0 || r->nfeeds == 0 || r->nfeeds > DD_MAX_FEEDS) {
		snprintf(err, errlen, "replay: %u shard(s), %u feed(s)", r->nshards, r->nfeeds);
		return -EINVAL;
	}
	struct priv *p = calloc(1, sizeof(*p));
	struct shard_q *q = calloc(r->nshards, sizeof(*q));
	if (p == NULL || q == NULL) {
		free(p);
		free(q);
		return -ENOMEM;
	}
	*p = (struct priv){ .r = r, .q = q };
	r->priv = p;
	int rc;
	if (r->use_snapshot) {
		struct dd_jsnap snap;
		unsigned bad = 0;
		char serr[256] = "";
		rc = dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, serr, sizeof(serr));
		if (rc == 0) {
			rc = load_snapshot(r, q, &snap, err, errlen);
			dd_jsnap_free(&snap);
			if (rc < 0)
				return rc;
		} else if (rc != -ENOENT) {
			snprintf(err, errlen, "%s", serr);
			return rc;
		}
	}
	/*
	 * Scan from the snapshot's own LSN, not the one after it, and skip that record: the scan then
	 * reads the segment holding it, so last_lsn below proves the journal still has it. From
	 * snapshot_lsn + 1 the scan skips to a segment starting there when there is one, and if that
	 * segment is still empty it reads no record at all (last_lsn 0) though nothing was lost.
	 */
	p->skip_to = r->snapshot_lsn;
	r->last_lsn = r->snapshot_lsn;
	rc = dd_jscan_dir(dir, r->snapshot_lsn, on_record, p, &r->scan, err, errlen);
	if (rc == -ECANCELED) {
		rc = 0;
		err[0] = '\0';
	}
	if (rc < 0 && p->why[0] != '\0')
		snprintf(err, errlen, "%s", p->why);
	if (rc != 0)
		return rc;
	if (r->snapshot_lsn > r->scan.last_lsn && !r->scan.corrupt) {
		snprintf(err, errlen, "snapshot %llu covers records past the journal's end (LSN %llu): the journal "
			 "lost durable records", (unsigned long long)r->snapshot_lsn, (unsigned long long)r->scan.last_lsn);
		return -EBADMSG;
	}
	/* Journaled outputs the books never derived are a mismatch; derived ones never journaled
	 * are the outputs the daemon had not journaled yet when it stopped. */
	for (unsigned s = 0; s < r->nshards; s++) {
		if (!ofifo_empty(&q[s].journaled))
			mismatch(r, r->last_lsn, "a journaled output the books do not derive",
				 &q[s].journaled.v[q[s].journaled.head], NULL);
		for (size_t i = q[s].derived.head; i < q[s].derived.tail; i++) {
			struct dd_output *t = realloc(r->tail, (r->ntail + 1) * sizeof(*t));
			if (t == NULL)
				return -ENOMEM;
			r->tail = t;
			r->tail[r->ntail++] = q[s].derived.v[i];
		}
	}
	r->unjournaled = r->ntail;
	return 0;
}

void dd_replay_fini(struct dd_replay *r)
{
	struct priv *p = r->priv;
	if (p != NULL) {
		for (unsigned s = 0; s < r->nshards; s++) {
			free(p->q[s].derived.v);
			free(p->q[s].journaled.v);
		}
		free(p->q);
		free(p);
		r->priv = NULL;
	}
	free(r->tail);
	r->tail = NULL;
	r->ntail = 0;
}
