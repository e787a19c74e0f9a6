/* SPDX-License-Identifier: MIT */
#include "dataplane/journal/replay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/journal/recovery.h"
#include "ops/book/book_op.h"
#include "ops/cep/cep.h"
#include "ops/fraud/fraud.h"
#include "ops/window/window.h"

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

/* Per shard and operator: outputs derived and not yet seen journaled, and journaled ones not yet
 * derived (a staged daemon journals a worker's outputs when the journal lcore gets to them). */
struct out_q {
	struct ofifo derived;
	struct ofifo journaled;
};

struct priv {
	struct dd_replay *r;
	struct out_q *q;       /* [nchains * DD_CHAIN_MAX_OPS] */
	void **chain_mem;      /* [nchains] */
	const char *dir;       /* the journal directory (reloaded rule texts are files in it) */
	char *rules;           /* the rule text being assembled from RULES records */
	uint32_t rules_len, rules_next;
	void *route_mem;       /* the route's table (malloc) */
	char *mtext;           /* the market rules in force: their text (for snapshots) and image */
	uint32_t mtext_len;
	struct dd_mrules *mimg;
	uint64_t skip_to;      /* records up to this LSN are in the snapshot */
	uint64_t base_events;  /* events and outputs up to the snapshot replay started from */
	uint64_t base_outputs;
	uint64_t last_event_lsn;
	/* why on_record stopped the scan: the scanner writes its own message into the caller's err
	 * when a callback fails, so ours is kept here and copied over it afterwards */
	char why[320];
};

void dd_output_describe(const struct dd_output *o, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s by %s shard %u cause %" PRIu64 " feed %u seq %" PRIu64 " key %u",
			 dd_output_type_name(o->type), dd_op_name(o->op), o->shard, o->cause, o->source, o->seq, o->key);
	if (n < 0 || (size_t)n >= len)
		return;
	if (o->type == DD_OUT_BBO)
		snprintf(buf + n, len - (size_t)n, " bid %u x %" PRIu64 " ask %u x %" PRIu64, o->u.bbo.bid_price,
			 o->u.bbo.bid_shares, o->u.bbo.ask_price, o->u.bbo.ask_shares);
	else if (o->type == DD_OUT_TEST)
		snprintf(buf + n, len - (size_t)n, " v %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, o->u.test.v[0],
			 o->u.test.v[1], o->u.test.v[2], o->u.test.v[3]);
}

static void mismatch(struct dd_replay *r, uint64_t lsn, const char *what, const struct dd_output *j,
		     const struct dd_output *d)
{
	if (r->mismatch)
		return;
	r->mismatch = true;
	r->mismatch_lsn = lsn;
	char dj[128] = "none", dd[128] = "none";
	if (j != NULL)
		dd_output_describe(j, dj, sizeof(dj));
	if (d != NULL)
		dd_output_describe(d, dd, sizeof(dd));
	snprintf(r->mismatch_why, sizeof(r->mismatch_why), "%s: journaled {%s}, re-derived {%s}", what, dj, dd);
}

/* Pair the heads of a queue's two sides while both have one; a differing pair is a mismatch. */
static void match(struct dd_replay *r, struct out_q *q, uint64_t lsn)
{
	while (!ofifo_empty(&q->derived) && !ofifo_empty(&q->journaled)) {
		const struct dd_output *d = &q->derived.v[q->derived.head++];
		const struct dd_output *j = &q->journaled.v[q->journaled.head++];
		if (!dd_output_same(d, j))
			mismatch(r, lsn, "a journaled output differs from the one the operators derive", j, d);
		else
			r->outputs_matched++;
	}
}

/* The queue of (shard, operator kind), or NULL if the chain has no such operator. */
static struct out_q *queue_of(struct priv *p, unsigned shard, unsigned op_id)
{
	const struct dd_chain *c = &p->r->chains[shard];
	for (unsigned k = 0; k < c->nops; k++)
		if (c->op[k].ops->id == op_id)
			return &p->q[shard * DD_CHAIN_MAX_OPS + k];
	return NULL;
}

static void *default_alloc(void *ctx, size_t len)
{
	(void)ctx;
	return aligned_alloc(64, (len + 63) & ~(size_t)63);
}

static void default_release(void *ctx, void *ptr)
{
	(void)ctx;
	free(ptr);
}

/* Build the chains the configuration describes (once). */
static int build_chains(struct priv *p, const struct dd_jconfig *cfg, char *err, size_t errlen)
{
	struct dd_replay *r = p->r;
	if (cfg->version != DD_JCONFIG_VERSION || cfg->nshards == 0 || cfg->nshards > DD_REPLAY_MAX_SHARDS ||
	    cfg->nfeeds == 0 || cfg->nfeeds > DD_MAX_FEEDS) {
		snprintf(err, errlen, "journal configuration version %u with %u shard(s) and %u feed(s): not one this "
			 "build can replay", cfg->version, cfg->nshards, cfg->nfeeds);
		return -EBADMSG;
	}
	const struct dd_chain_spec *specs[2] = { &cfg->market, &cfg->payment };
	for (unsigned k = 0; k < 2; k++)
		for (unsigned i = 0; i < specs[k]->nops && i < DD_CHAIN_MAX_OPS; i++)
			if (specs[k]->op[i].len > DD_OP_PARAMS_MAX) {
				snprintf(err, errlen, "journal configuration: operator %u has %u bytes of parameters (at most %u)",
					 i, specs[k]->op[i].len, DD_OP_PARAMS_MAX);
				return -EBADMSG;
			}
	if (cfg->route > DD_ROUTE_SYMBOL) {
		snprintf(err, errlen, "journal configuration: route policy %u (this build knows 0, by locate, and 1, by "
			 "symbol)", cfg->route);
		return -EBADMSG;
	}
	int rc;
	if (r->check_config != NULL && (rc = r->check_config(r->check_ctx, cfg, err, errlen)) != 0)
		return rc;
	unsigned nchains = cfg->nshards + (cfg->payment.nops > 0);
	struct dd_chain_params cp = { .spec = &cfg->market, .burst = r->burst ? r->burst : 1, .clock = r->clock };
	struct dd_chain_params pp = cp;
	pp.spec = &cfg->payment;
	pp.shard = cfg->nshards;
	size_t len = dd_chain_memsize(&cp), plen = nchains > cfg->nshards ? dd_chain_memsize(&pp) : 1;
	if (len == 0 || plen == 0) {
		char why[160];
		dd_chain_init(&(struct dd_chain){ 0 }, NULL, 0, len == 0 ? &cp : &pp, why, sizeof(why));
		snprintf(err, errlen, "journal configuration: %s", why);
		return -EBADMSG;
	}
	r->chains = calloc(nchains, sizeof(*r->chains));
	p->chain_mem = calloc(nchains, sizeof(*p->chain_mem));
	p->q = calloc((size_t)nchains * DD_CHAIN_MAX_OPS, sizeof(*p->q));
	size_t rlen = dd_route_memsize(cfg->route, cfg->nfeeds);
	p->route_mem = rlen > 0 ? malloc(rlen) : NULL;
	if (r->chains == NULL || p->chain_mem == NULL || p->q == NULL || (rlen > 0 && p->route_mem == NULL)) {
		snprintf(err, errlen, "replay: out of memory");
		return -ENOMEM;
	}
	r->config = *cfg;
	r->nshards = cfg->nshards;
	r->nchains = nchains;
	r->nfeeds = cfg->nfeeds;
	r->have_config = true;
	dd_route_init(&r->route, p->route_mem, cfg->route, cfg->nshards, cfg->nfeeds);
	for (unsigned s = 0; s < nchains; s++) {
		if (s == cfg->nshards) {
			cp = pp;
			len = plen;
		}
		p->chain_mem[s] = r->alloc(r->alloc_ctx, len);
		if (p->chain_mem[s] == NULL) {
			snprintf(err, errlen, "cannot allocate %.1f MB for the operators of shard %u (lower the capacities "
				 "the journal was written with? they are in its config records: dadar-journal dump)",
				 (double)len / 1e6, s);
			return -ENOMEM;
		}
		cp.shard = s;
		if ((rc = dd_chain_init(&r->chains[s], p->chain_mem[s], len, &cp, err, errlen)) != 0)
			return rc;
	}
	return 0;
}

static int on_config(struct priv *p, const struct dd_jrec *rec, const uint8_t *payload, size_t n, char *err,
		     size_t errlen)
{
	struct dd_jconfig cfg;
	memset(&cfg, 0, sizeof(cfg));
	/* the scanner checked the payload's size against version 1's; version 1 has no payment chain */
	memcpy(&cfg, payload, n < sizeof(cfg) ? n : sizeof(cfg));
	if (cfg.version == 1 && n >= DD_JCONFIG_V1_SIZE) {
		memset(&cfg.payment, 0, sizeof(cfg.payment));
		cfg.version = DD_JCONFIG_VERSION;
	} else if (n < sizeof(cfg)) {
		snprintf(err, errlen, "journal LSN %llu: a configuration record of %zu bytes, version %u",
			 (unsigned long long)rec->lsn, n, cfg.version);
		return -EBADMSG;
	}
	struct dd_replay *r = p->r;
	if (!r->have_config)
		return build_chains(p, &cfg, err, errlen);
	if (cfg.route != r->config.route) {
		snprintf(err, errlen, "journal LSN %llu: the route of market events changes (by %s → by %s); this build "
			 "replays a journal under one configuration only", (unsigned long long)rec->lsn,
			 r->config.route == DD_ROUTE_SYMBOL ? "symbol" : "locate",
			 cfg.route == DD_ROUTE_SYMBOL ? "symbol" : "locate");
		return -EBADMSG;
	}
	if (cfg.nshards != r->config.nshards || cfg.nfeeds != r->config.nfeeds ||
	    !dd_chain_spec_equal(&cfg.market, &r->config.market) || !dd_chain_spec_equal(&cfg.payment, &r->config.payment)) {
		snprintf(err, errlen, "journal LSN %llu: the configuration changes (%u shard(s), %u feed(s), %u operators "
			 "→ %u, %u, %u); this build replays a journal under one configuration only",
			 (unsigned long long)rec->lsn, r->config.nshards, r->config.nfeeds, r->config.market.nops,
			 cfg.nshards, cfg.nfeeds, cfg.market.nops);
		return -EBADMSG;
	}
	return 0;
}

static int take_outputs(struct priv *p, unsigned s, uint64_t lsn)
{
	struct dd_replay *r = p->r;
	struct dd_chain *c = &r->chains[s];
	for (unsigned k = 0; k < c->nops; k++)
		for (unsigned i = c->op[k].out_begin; i < c->op[k].out_end; i++) {
			struct out_q *q = &p->q[s * DD_CHAIN_MAX_OPS + k];
			if (dd_output_internal(c->emit.out[i].type))
				continue; /* never journaled: nothing to match */
			r->outputs_derived++;
			if (ofifo_push(&q->derived, &c->emit.out[i]) != 0) {
				snprintf(p->why, sizeof(p->why), "journal LSN %llu: out of memory for the derived outputs "
					 "waiting for their journaled twins", (unsigned long long)lsn);
				return -ENOMEM;
			}
			match(r, q, lsn);
		}
	dd_chain_drain(c);
	return 0;
}

static int on_event(struct priv *p, const struct dd_jrec *rec, const struct dd_event *ev)
{
	struct dd_replay *r = p->r;
	if (!r->have_config) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: an event before any configuration record: the "
			 "journal's start is missing (or it was written by another version)", (unsigned long long)rec->lsn);
		return -EBADMSG;
	}
	if (ev->source >= r->nfeeds) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: an event of feed %u, but the journal's configuration "
			 "has %u feed(s)", (unsigned long long)rec->lsn, ev->source, r->nfeeds);
		return -EBADMSG;
	}
	unsigned first = 0, last = r->nshards - 1;
	bool pay = dd_event_is_payment(ev->type);
	if (pay && r->nchains == r->nshards) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: a payment event, but the journal's configuration has "
			 "no payment chain", (unsigned long long)rec->lsn);
		return -EBADMSG;
	}
	if (pay)
		first = last = r->nshards; /* every payment goes through the one payment chain */
	else if (!dd_chain_broadcast(ev))
		first = last = dd_route_shard(&r->route, ev);
	for (unsigned s = first; s <= last; s++) {
		uint64_t overflow = dd_chain_overflow(&r->chains[s]);
		dd_chain_run(&r->chains[s], ev, &rec->lsn, 1);
		r->overflow += dd_chain_overflow(&r->chains[s]) - overflow;
		int rc = take_outputs(p, s, rec->lsn);
		if (rc != 0)
			return rc;
	}
	if (ev->type == DD_EV_TICK) {
		if (ev->event_ns > r->last_tick_ns)
			r->last_tick_ns = ev->event_ns;
	} else {
		/* a payment is consumed with its second half: a journal cut between the two resumes the
		 * feed at the payment, whose first half then comes again (the operator counts the
		 * unpaired one) */
		if (ev->type != DD_EV_PAYMENT && ev->seq > r->max_seq[ev->source])
			r->max_seq[ev->source] = ev->seq;
		/* market time only: ticks are made from it (payments run on the Unix epoch) */
		if (!pay && ev->event_ns > r->max_event_ns)
			r->max_event_ns = ev->event_ns;
		if (!pay && ev->source < DD_MAX_FEEDS && ev->event_ns > r->src_max_ns[ev->source])
			r->src_max_ns[ev->source] = ev->event_ns;
	}
	p->last_event_lsn = rec->lsn;
	r->events++;
	return 0;
}

static int on_output(struct priv *p, const struct dd_jrec *rec, const struct dd_output *o)
{
	struct dd_replay *r = p->r;
	r->outputs_journaled++;
	if (!r->have_config || o->shard >= r->nchains) {
		mismatch(r, rec->lsn, "a journaled output of a shard the configuration does not have", o, NULL);
		return 0;
	}
	/* the writer journals an output only after the input that caused it */
	if (o->cause >= rec->lsn || o->cause > p->last_event_lsn) {
		mismatch(r, rec->lsn, "a journaled output before its cause", o, NULL);
		return 0;
	}
	struct out_q *q = queue_of(p, o->shard, o->op);
	if (q == NULL) {
		mismatch(r, rec->lsn, "a journaled output of an operator the chain does not have", o, NULL);
		return 0;
	}
	if (ofifo_empty(&q->derived)) {
		mismatch(r, rec->lsn, "a journaled output the operators do not derive (at least not before it)", o, NULL);
		return 0;
	}
	if (ofifo_push(&q->journaled, o) != 0) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: out of memory for the journaled outputs waiting for "
			 "the operators to derive them", (unsigned long long)rec->lsn);
		return -ENOMEM;
	}
	match(r, q, rec->lsn);
	return 0;
}

static int install_rules(struct priv *p, unsigned long long lsn);
static int install_market(struct priv *p, const char *text, uint32_t len, unsigned long long lsn);

/*
 * A chunk of a payment chain's rule text: assembled in order; the last one compiles the text and
 * installs it in the chain's fraud operator, at this point of the input stream.
 */
static int on_rules(struct priv *p, const struct dd_jrec *rec, const uint8_t *payload, size_t n)
{
	struct dd_replay *r = p->r;
	struct dd_jrules h;
	memcpy(&h, payload, sizeof(h));
	unsigned long long lsn = (unsigned long long)rec->lsn;
	bool market = h.chain == DD_JRULES_MARKET;
	if (!r->have_config || (!market && (h.chain != r->nshards || r->nchains == r->nshards))) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: rules for chain %u, which the configuration does not "
			 "have", lsn, h.chain);
		return -EBADMSG;
	}
	if (h.nchunks == 0) { /* a reload: the text is a file of the journal directory */
		char *text, why[256];
		int rc = dd_jrules_read(p->dir, h.text_hash, h.total_len, &text, why, sizeof(why));
		if (rc != 0) {
			snprintf(p->why, sizeof(p->why), "journal LSN %llu: %s", lsn, why);
			return rc == -ENOMEM ? rc : -EBADMSG;
		}
		free(p->rules);
		p->rules = text;
		p->rules_len = r->rules_len = h.total_len;
		p->rules_next = 0;
		return market ? install_market(p, p->rules, r->rules_len, lsn) : install_rules(p, lsn);
	}
	/* chunk 0 always starts a text (a start torn while writing its rules is followed by a new one) */
	if (h.len > n - sizeof(h) || h.nchunks == 0 || h.chunk >= h.nchunks || h.total_len > (64u << 20) ||
	    (h.chunk > 0 && (p->rules == NULL || h.chunk != p->rules_next || h.total_len != p->rules_len))) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: rules chunk %u of %u (%u bytes) out of sequence", lsn,
			 h.chunk, h.nchunks, h.len);
		return -EBADMSG;
	}
	if (h.chunk == 0) {
		free(p->rules);
		p->rules = malloc(h.total_len + 1);
		if (p->rules == NULL)
			return -ENOMEM;
		p->rules_len = h.total_len;
		p->rules_next = 0;
		p->rules[0] = 0;
		r->rules_len = 0;
	}
	if (r->rules_len + h.len > p->rules_len) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: rules text longer than announced", lsn);
		return -EBADMSG;
	}
	memcpy(p->rules + r->rules_len, payload + sizeof(h), h.len);
	r->rules_len += h.len;
	p->rules_next = h.chunk + 1;
	if (p->rules_next < h.nchunks)
		return 0;
	p->rules_next = 0;
	if (r->rules_len != p->rules_len) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: rules text of %u bytes, %u announced", lsn,
			 r->rules_len, p->rules_len);
		return -EBADMSG;
	}
	return market ? install_market(p, p->rules, r->rules_len, lsn) : install_rules(p, lsn);
}

/* Compile the text assembled in p->rules and put it in force in the payment chain's fraud operator. */
static int install_rules(struct priv *p, unsigned long long lsn)
{
	struct dd_replay *r = p->r;
	void *st = dd_chain_state(&r->chains[r->nshards], DD_OP_FRAUD);
	if (st == NULL)
		return 0; /* a payment chain without a fraud operator has no use for rules */
	uint32_t cap = dd_fraud_rules(st)->merchant_cap;
	struct dd_frules *img = malloc(dd_frules_memsize(cap));
	if (img == NULL)
		return -ENOMEM;
	char why[200];
	int rc = dd_frules_compile(p->rules, r->rules_len, "journal", img, cap, why, sizeof(why), NULL, NULL, NULL);
	if (rc == 0)
		rc = dd_fraud_install(st, img);
	free(img);
	if (rc != 0) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: the journaled rules do not compile in this build: %s",
			 lsn, why);
		return -EBADMSG;
	}
	r->rules_installed++;
	return 0;
}

/*
 * Compile market rules and put them in force in every market chain's window and pattern operators,
 * at this point of the input stream (the text is kept for snapshots).
 */
static int install_market(struct priv *p, const char *text, uint32_t len, unsigned long long lsn)
{
	struct dd_replay *r = p->r;
	struct dd_mrules *img = malloc(sizeof(*img));
	char *copy = malloc(len + 1u);
	if (img == NULL || copy == NULL) {
		free(img);
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = 0;
	char why[200];
	if (dd_mrules_compile(copy, len, "journal", img, why, sizeof(why), NULL, NULL, NULL) != 0) {
		snprintf(p->why, sizeof(p->why), "journal LSN %llu: the journaled market rules do not compile in this "
			 "build: %s", lsn, why);
		free(img);
		free(copy);
		return -EBADMSG;
	}
	for (unsigned s = 0; s < r->nshards; s++) {
		void *w = dd_chain_state(&r->chains[s], DD_OP_WINDOW), *c = dd_chain_state(&r->chains[s], DD_OP_CEP);
		if ((w != NULL && dd_window_use(w, img) != 0) || (c != NULL && dd_cep_use(c, img) != 0)) {
			snprintf(p->why, sizeof(p->why), "journal LSN %llu: the journaled market rules need more state per "
				 "symbol than the journaled chain keeps", lsn);
			free(img);
			free(copy);
			return -EBADMSG;
		}
	}
	if (r->name_outputs) {
		dd_output_json_rules(img);
		if (p->mimg != NULL)
			dd_output_json_forget(p->mimg);
	}
	free(p->mimg);
	free(p->mtext);
	p->mimg = img;
	p->mtext = copy;
	p->mtext_len = len;
	r->rules_installed++;
	return 0;
}

static int on_record(void *ctx, const struct dd_jrec *rec, const uint8_t *payload, size_t n)
{
	struct priv *p = ctx;
	struct dd_replay *r = p->r;
	/* the scanner checked n against the type's smallest payload */
	if (rec->lsn <= p->skip_to)
		return 0;
	if (r->max_lsn != 0 && rec->lsn > r->max_lsn)
		return -ECANCELED; /* the caller's end: not an error */
	r->last_lsn = rec->lsn;
	switch (rec->type) {
	case DD_JREC_EVENT: {
		struct dd_event ev;
		memcpy(&ev, payload, sizeof(ev));
		return on_event(p, rec, &ev);
	}
	case DD_JREC_OUTPUT: {
		struct dd_output o;
		memcpy(&o, payload, sizeof(o));
		return on_output(p, rec, &o);
	}
	case DD_JREC_CONFIG:
		return on_config(p, rec, payload, n, p->why, sizeof(p->why));
	case DD_JREC_RULES:
		return on_rules(p, rec, payload, n);
	case DD_JREC_FEEDPOS:
		if (rec->source < DD_MAX_FEEDS) {
			memcpy(&r->pos[rec->source], payload, sizeof(r->pos[0]));
			r->have_pos[rec->source] = true;
			/* the events before it are covered by it, whatever session they were of */
			r->max_seq[rec->source] = 0;
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

int dd_replay_snapshot_state(const struct dd_replay *r, const char *dir, char *err, size_t errlen)
{
	const struct priv *p = r->priv;
	if (p == NULL || !r->have_config) {
		snprintf(err, errlen, "snapshot: nothing replayed yet");
		return -EINVAL;
	}
	struct dd_jsnap_writer *w;
	int rc = dd_jsnap_begin(&w, dir, r->last_lsn, err, errlen);
	if (rc != 0)
		return rc;
	struct dd_snap_meta meta = { .config = r->config, .events = p->base_events + r->events,
				     .outputs = p->base_outputs + r->outputs_derived,
				     .max_event_ns = r->max_event_ns, .last_tick_ns = r->last_tick_ns };
	memcpy(meta.max_seq, r->max_seq, sizeof(meta.max_seq));
	rc = dd_jsnap_section(w, DD_SNAP_TAG_META, &meta, sizeof(meta));
	struct dd_jfeedpos fp[DD_MAX_FEEDS];
	memset(fp, 0, sizeof(fp));
	for (unsigned f = 0; f < r->nfeeds && f < DD_MAX_FEEDS; f++)
		if (r->have_pos[f])
			fp[f] = r->pos[f];
	if (rc == 0)
		rc = dd_jsnap_section(w, DD_SNAP_TAG_FEEDPOS, fp, sizeof(fp));
	struct membuf m = { 0 };
	for (size_t i = 0; rc == 0 && i < (size_t)r->nchains * DD_CHAIN_MAX_OPS; i++) {
		const struct ofifo *d = &p->q[i].derived;
		if (d->tail > d->head)
			rc = membuf_put(&m, d->v + d->head, (d->tail - d->head) * sizeof(struct dd_output));
	}
	if (rc == 0)
		rc = dd_jsnap_section(w, DD_SNAP_TAG_PENDING, m.p, m.len);
	if (rc == 0 && p->mtext != NULL)
		rc = dd_jsnap_section(w, DD_SNAP_TAG_MRULES, p->mtext, p->mtext_len);
	if (rc == 0 && r->route.policy != DD_ROUTE_LOCATE) {
		m.len = 0;
		rc = dd_route_save(&r->route, membuf_put, &m);
		if (rc == 0)
			rc = dd_jsnap_section(w, DD_SNAP_TAG_ROUTE, m.p, m.len);
	}
	for (unsigned s = 0; rc == 0 && s < r->nchains; s++) {
		m.len = 0;
		rc = dd_chain_save(&r->chains[s], membuf_put, &m);
		if (rc == 0)
			rc = dd_jsnap_section(w, DD_SNAP_TAG_CHAIN + s, m.p, m.len);
	}
	free(m.p);
	if (rc != 0) {
		dd_jsnap_end(w, false, err, errlen);
		snprintf(err, errlen, "snapshot %llu in %s: %s", (unsigned long long)r->last_lsn, dir, strerror(-rc));
		return rc;
	}
	return dd_jsnap_end(w, true, err, errlen);
}

/* Restore chains and positions from a snapshot. */
static int load_snapshot(struct priv *p, const struct dd_jsnap *snap, char *err, size_t errlen)
{
	struct dd_replay *r = p->r;
	const struct dd_snap_meta *meta = NULL;
	for (unsigned i = 0; i < snap->nsections; i++)
		if (snap->section[i].tag == DD_SNAP_TAG_META && snap->section[i].len == sizeof(*meta))
			meta = (const void *)snap->section[i].p;
	if (meta == NULL) {
		snprintf(err, errlen, "snapshot %llu has no metadata section", (unsigned long long)snap->lsn);
		return -EBADMSG;
	}
	int rc = build_chains(p, &meta->config, err, errlen);
	if (rc != 0)
		return rc;
	r->max_event_ns = meta->max_event_ns;
	r->last_tick_ns = meta->last_tick_ns;
	memcpy(r->max_seq, meta->max_seq, sizeof(r->max_seq));
	/* the market rules first: the operators' state is read against their image */
	for (unsigned i = 0; i < snap->nsections; i++)
		if (snap->section[i].tag == DD_SNAP_TAG_MRULES &&
		    (rc = install_market(p, (const char *)snap->section[i].p, (uint32_t)snap->section[i].len,
					 (unsigned long long)snap->lsn)) != 0) {
			snprintf(err, errlen, "snapshot %llu: %s", (unsigned long long)snap->lsn, p->why);
			return rc;
		}
	unsigned chains = 0;
	bool routed = false;
	for (unsigned i = 0; i < snap->nsections; i++) {
		uint32_t tag = snap->section[i].tag;
		if (tag == DD_SNAP_TAG_ROUTE) {
			struct membuf m = { .p = (uint8_t *)(uintptr_t)snap->section[i].p, .len = snap->section[i].len };
			rc = dd_route_load(&r->route, membuf_get, &m);
			if (rc != 0 || m.pos != m.len) {
				snprintf(err, errlen, "snapshot %llu: a malformed route table", (unsigned long long)snap->lsn);
				return rc ? rc : -EBADMSG;
			}
			routed = true;
		} else if (tag == DD_SNAP_TAG_FEEDPOS && snap->section[i].len == DD_MAX_FEEDS * sizeof(struct dd_jfeedpos)) {
			const struct dd_jfeedpos *fp = (const void *)snap->section[i].p;
			for (unsigned f = 0; f < DD_MAX_FEEDS; f++)
				if (fp[f].next_seq != 0) {
					r->pos[f] = fp[f];
					r->have_pos[f] = true;
				}
		} else if (tag == DD_SNAP_TAG_PENDING) {
			if (snap->section[i].len % sizeof(struct dd_output) != 0) {
				snprintf(err, errlen, "snapshot %llu: malformed pending outputs", (unsigned long long)snap->lsn);
				return -EBADMSG;
			}
			for (size_t k = 0; k < snap->section[i].len / sizeof(struct dd_output); k++) {
				struct dd_output o;
				memcpy(&o, snap->section[i].p + k * sizeof(o), sizeof(o));
				struct out_q *q = o.shard < r->nchains ? queue_of(p, o.shard, o.op) : NULL;
				if (q == NULL) {
					snprintf(err, errlen, "snapshot %llu: a pending output of shard %u operator %u",
						 (unsigned long long)snap->lsn, o.shard, o.op);
					return -EBADMSG;
				}
				if (ofifo_push(&q->derived, &o) != 0)
					return -ENOMEM;
			}
		} else if (tag >= DD_SNAP_TAG_CHAIN) {
			unsigned s = tag - DD_SNAP_TAG_CHAIN;
			if (s >= r->nchains) {
				snprintf(err, errlen, "snapshot %llu: a chain for shard %u of %u", (unsigned long long)snap->lsn,
					 s, r->nchains);
				return -EBADMSG;
			}
			struct membuf m = { .p = (uint8_t *)(uintptr_t)snap->section[i].p, .len = snap->section[i].len };
			rc = dd_chain_load(&r->chains[s], membuf_get, &m);
			if (rc != 0 || m.pos != m.len) {
				snprintf(err, errlen, "snapshot %llu: the operators of shard %u do not load (%s)",
					 (unsigned long long)snap->lsn, s, rc ? strerror(-rc) : "trailing bytes");
				return rc ? rc : -EBADMSG;
			}
			chains++;
		}
	}
	if (chains != r->nchains) {
		snprintf(err, errlen, "snapshot %llu holds %u of %u chains", (unsigned long long)snap->lsn, chains,
			 r->nchains);
		return -EBADMSG;
	}
	if (r->route.policy != DD_ROUTE_LOCATE && !routed) {
		snprintf(err, errlen, "snapshot %llu of a pipeline routed by symbol holds no route table",
			 (unsigned long long)snap->lsn);
		return -EBADMSG;
	}
	r->events = 0;
	p->base_events = meta->events;
	p->base_outputs = meta->outputs;
	r->snapshot_lsn = snap->lsn;
	return 0;
}

/* ---- replay ------------------------------------------------------------------------------------- */

int dd_replay_run(const char *dir, struct dd_replay *r, char *err, size_t errlen)
{
	struct priv *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->r = r;
	p->dir = dir;
	r->priv = p;
	if (r->alloc == NULL) {
		r->alloc = default_alloc;
		r->release = default_release;
	}
	int rc;
	if (r->use_snapshot) {
		struct dd_jsnap snap;
		unsigned bad = 0;
		char serr[256] = "";
		rc = dd_jsnap_load(dir, r->max_lsn != 0 ? r->max_lsn : UINT64_MAX, &snap, &bad, serr, sizeof(serr));
		if (rc == 0) {
			rc = load_snapshot(p, &snap, err, errlen);
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
	p->last_event_lsn = r->snapshot_lsn;
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
	/* Journaled outputs the operators never derived are a mismatch; derived ones never journaled
	 * are the outputs the daemon had not journaled yet when it stopped. */
	for (size_t i = 0; r->have_config && i < (size_t)r->nchains * DD_CHAIN_MAX_OPS; i++) {
		struct out_q *q = &p->q[i];
		if (!ofifo_empty(&q->journaled))
			mismatch(r, r->last_lsn, "a journaled output the operators do not derive",
				 &q->journaled.v[q->journaled.head], NULL);
		size_t n = q->derived.tail - q->derived.head;
		if (n == 0)
			continue;
		struct dd_output *t = realloc(r->tail, (r->ntail + n) * sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		r->tail = t;
		memcpy(r->tail + r->ntail, q->derived.v + q->derived.head, n * sizeof(*t));
		r->ntail += n;
	}
	/* In cause order, equal causes staying in queue order (the order the daemon journals them in):
	 * an insertion sort, stable, over what was in flight at the stop (small). */
	for (uint64_t i = 1; i < r->ntail; i++) {
		struct dd_output x = r->tail[i];
		uint64_t j = i;
		for (; j > 0 && r->tail[j - 1].cause > x.cause; j--)
			r->tail[j] = r->tail[j - 1];
		r->tail[j] = x;
	}
	r->unjournaled = r->ntail;
	return 0;
}

struct dd_chain *dd_replay_take_chains(struct dd_replay *r, void ***mem)
{
	struct priv *p = r->priv;
	struct dd_chain *c = r->chains;
	*mem = p != NULL ? p->chain_mem : NULL;
	if (p != NULL)
		p->chain_mem = NULL;
	r->chains = NULL;
	return c;
}

const struct dd_book *dd_replay_book(const struct dd_replay *r, unsigned shard, unsigned feed)
{
	if (r->chains == NULL || shard >= r->nshards)
		return NULL;
	const void *st = dd_chain_state(&r->chains[shard], DD_OP_BOOK);
	return st != NULL ? dd_book_op_book(st, feed) : NULL;
}

void dd_replay_fini(struct dd_replay *r)
{
	struct priv *p = r->priv;
	if (p != NULL) {
		for (size_t i = 0; p->q != NULL && i < (size_t)r->nchains * DD_CHAIN_MAX_OPS; i++) {
			free(p->q[i].derived.v);
			free(p->q[i].journaled.v);
		}
		free(p->q);
		if (p->chain_mem != NULL) {
			for (unsigned s = 0; s < r->nchains; s++)
				if (p->chain_mem[s] != NULL)
					r->release(r->alloc_ctx, p->chain_mem[s]);
			free(p->chain_mem);
		}
		free(p->rules);
		if (p->mimg != NULL && r->name_outputs)
			dd_output_json_forget(p->mimg);
		free(p->mimg);
		free(p->mtext);
		free(p->route_mem);
		free(p);
		r->priv = NULL;
	}
	free(r->chains);
	r->chains = NULL;
	free(r->tail);
	r->tail = NULL;
	r->ntail = 0;
}
