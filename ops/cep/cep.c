/* SPDX-License-Identifier: MIT */
/*
 * The pattern engine: docs/patterns.md "Matching, exactly", one record at a time.
 *
 * A partial match is kept as its ways: each way waits at one VAR of the pattern's program (or at
 * the end, behind an absence) with the skip and negation flags its way there collected, and the
 * context its predicates read (slots). Ways are kept oldest start first, and within a start in
 * preference order, so "the first way to complete" is the first found.
 */
#include "ops/cep/cep.h"

#include <errno.h>
#include <string.h>

#include "ops/cep/symtab.h"
#include "ops/cep/timers.h"

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)
#define MAX_SOURCES 4

/* A way of a partial match. */
struct way {
	uint16_t at;        /* pc of the VAR it waits at, DD_MR_AT_MATCH behind an absence */
	uint16_t guards;    /* negated variables that end it */
	uint8_t skip;       /* its next step is skip-till-next */
	uint8_t pad[3];
	uint32_t start;     /* which partial match (numbered per symbol and pattern) */
	uint32_t events;    /* records matched */
	uint32_t valid;     /* bit i: slot i has a value */
	uint32_t first_feed;
	uint64_t first_ns, last_ns;
	uint64_t first_seq; /* the first record's message (feed sequence number) */
	int64_t slot[];     /* the pattern's nslots, then its max_refs refs (ops/output.h) */
};
#define WAY_HDR sizeof(struct way)

/* Per symbol and pattern: the headers of a symbol's patterns sit together (a record read by
 * several patterns touches one or two cache lines for them), their ways after. */
struct pblock {
	uint8_t n;          /* ways */
	uint8_t armed;      /* has a timer */
	uint16_t pad;
	uint32_t starts;    /* partial matches started (numbers them) */
	uint64_t first_min; /* the oldest way's first record time (n > 0): expiry is due after it + WITHIN */
};

/* Per symbol: the latest top of book per feed, the pblocks of every pattern, then their ways. */
struct khdr {
	int64_t bid[MAX_SOURCES], ask[MAX_SOURCES];
};

enum {
	C_RECORDS,
	C_ALERTS,
	C_TIMEOUTS,
	C_EXPIRED,
	C_EVICTED,
	C_KEYS_FULL,
	C_NO_SYMBOL,
	C_RELOAD_DROPPED,
	C_OVERFLOW,
	C__COUNT
};

static const char *const cep_counter_names[C__COUNT] = {
	"cep_records", "cep_alerts",	"cep_timeouts",	      "cep_expired", "cep_evicted",
	"cep_keys_full", "cep_no_symbol", "cep_reload_dropped", "cep_timer_full",
};

struct cep {
	const struct dd_mrules *img;
	struct dd_cep_params p;
	struct dd_symtab syms;
	struct dd_timers timers;
	uint8_t *area;                    /* keys x key_bytes */
	uint32_t off[DD_MR_MAX_PATTERNS]; /* pattern i's ways in a symbol's area */
	uint32_t wsize[DD_MR_MAX_PATTERNS];
	uint8_t nref[DD_MR_MAX_PATTERNS];  /* refs a way of pattern i keeps (0: the alerts list none) */
	bool lists;                       /* the rules in force list their alerts' records */
	uint64_t wm;
	uint64_t c[C__COUNT];
	/* per pattern of the rules in force: alerts, timeouts, and the first alert (the summary's) */
	uint64_t alerts[DD_MR_MAX_PATTERNS], timeouts[DD_MR_MAX_PATTERNS];
	struct dd_output first[DD_MR_MAX_PATTERNS];
	uint64_t first_refs[DD_MR_MAX_PATTERNS][DD_MR_MAX_REFS]; /* the records the first matched */
	/* scratch: the new ways of one record, and the completions */
	uint8_t *next;                    /* DD_MR_MAX_PARTIAL + 1 ways of the largest size */
	uint8_t *done;                    /* DD_MR_MAX_PARTIAL ways */
	uint8_t *kscratch;                /* key_bytes: a symbol's area while a reload rearranges it */
};

static void arm(struct cep *s, unsigned pi, uint32_t key, struct pblock *b);

static inline struct pblock *pblock(struct cep *s, uint32_t key, unsigned pi)
{
	return (struct pblock *)(void *)(s->area + (size_t)key * s->p.key_bytes + sizeof(struct khdr)) + pi;
}

static inline uint8_t *ways_of(struct cep *s, uint32_t key, unsigned pi)
{
	return s->area + (size_t)key * s->p.key_bytes + s->off[pi];
}

/* A way of pattern p: its context, and its records' refs when the alerts list them. */
static size_t way_size(const struct dd_mr_pattern *p, bool lists)
{
	return WAY_HDR + 8u * p->nslots + (lists ? 8u * p->max_refs : 0u);
}

#define MAX_WAY (WAY_HDR + 8u * DD_MR_MAX_SLOTS + 8u * DD_MR_MAX_REFS)

/* The refs (ops/output.h) of the records way w matched, after its slots. */
static inline uint64_t *refs_of(const struct dd_mr_pattern *p, struct way *w)
{
	return (uint64_t *)(void *)(w->slot + p->nslots);
}

static inline const uint64_t *crefs_of(const struct dd_mr_pattern *p, const struct way *w)
{
	return (const uint64_t *)(const void *)(w->slot + p->nslots);
}

static size_t key_bytes(const struct dd_mrules *img, bool lists)
{
	size_t n = sizeof(struct khdr) + (img != NULL ? img->npatterns : 0) * sizeof(struct pblock);
	for (unsigned i = 0; img != NULL && i < img->npatterns; i++)
		n += img->pattern[i].max_partial * way_size(&img->pattern[i], lists);
	return n;
}

size_t dd_cep_key_bytes(const struct dd_mrules *img)
{
	return key_bytes(img, true);
}

size_t dd_cep_key_bytes_min(const struct dd_mrules *img)
{
	return key_bytes(img, false);
}

static size_t cep_memsize(const void *params)
{
	const struct dd_cep_params *p = params;
	size_t st = dd_symtab_memsize(p->keys, p->nfeeds);
	if (st == 0 || p->key_bytes < sizeof(struct khdr) || p->key_bytes > (1u << 20) || p->max_patterns == 0 ||
	    p->max_patterns > DD_MR_MAX_PATTERNS)
		return 0;
	return ALIGN64(sizeof(struct cep)) + ALIGN64(st) + ALIGN64((size_t)p->keys * p->key_bytes) +
	       ALIGN64((size_t)p->keys * p->max_patterns * sizeof(struct dd_timer)) +
	       ALIGN64((DD_MR_MAX_PARTIAL + 1) * MAX_WAY) + ALIGN64(DD_MR_MAX_PARTIAL * MAX_WAY) + ALIGN64(p->key_bytes);
}

static int cep_init(void *mem, size_t len, const void *params)
{
	const struct dd_cep_params *p = params;
	size_t need = cep_memsize(params);
	if (need == 0 || len < need)
		return -EINVAL;
	struct cep *s = mem;
	memset(s, 0, sizeof(*s));
	s->p = *p;
	uint8_t *m = (uint8_t *)mem + ALIGN64(sizeof(*s));
	dd_symtab_init(&s->syms, m, p->keys, p->nfeeds);
	m += ALIGN64(dd_symtab_memsize(p->keys, p->nfeeds));
	s->area = m;
	memset(s->area, 0, (size_t)p->keys * p->key_bytes);
	m += ALIGN64((size_t)p->keys * p->key_bytes);
	s->timers.h = (struct dd_timer *)(void *)m;
	s->timers.cap = p->keys * p->max_patterns;
	m += ALIGN64((size_t)p->keys * p->max_patterns * sizeof(struct dd_timer));
	s->next = m;
	m += ALIGN64((DD_MR_MAX_PARTIAL + 1) * MAX_WAY);
	s->done = m;
	m += ALIGN64(DD_MR_MAX_PARTIAL * MAX_WAY);
	s->kscratch = m;
	return 0;
}

/*
 * Is pattern `np` of image `ni` the same as pattern `op` of image `oi` (what its partial matches
 * mean: program, predicates, slots over the same field names, variables over the same streams)?
 */
static bool same_pattern(const struct dd_mrules *ni, const struct dd_mr_pattern *np, const struct dd_mrules *oi,
			 const struct dd_mr_pattern *op)
{
	struct dd_mr_pattern a = *np, b = *op;
	a.line = b.line = 0; /* where it is written does not matter */
	if (memcmp(&a, &b, sizeof(a)) != 0)
		return false;
	for (unsigned i = 0; i < np->nslots; i++)
		if (strcmp(ni->gfield[np->slot[i].gfield], oi->gfield[op->slot[i].gfield]) != 0)
			return false;
	for (unsigned v = 0; v < np->nvars; v++) {
		unsigned st = np->var[v].stream;
		if (st >= DD_MS_WINDOW0 &&
		    memcmp(&ni->window[st - DD_MS_WINDOW0], &oi->window[st - DD_MS_WINDOW0], sizeof(ni->window[0])) != 0)
			return false;
	}
	return true;
}

int dd_cep_use(void *state, const struct dd_mrules *img)
{
	struct cep *s = state;
	/* state per symbol too small for the records alerts list but enough for the partial matches (a
	 * journal written before alerts listed them, or cep.key_bytes set so): the alerts list none */
	bool lists = img == NULL || key_bytes(img, true) <= s->p.key_bytes;
	if (img != NULL && (key_bytes(img, lists) > s->p.key_bytes || img->npatterns > s->p.max_patterns))
		return -ENOSPC;
	if (img != NULL && s->img != NULL && memcmp(img, s->img, sizeof(*img)) == 0) {
		s->img = img; /* the same rules (recovery hands its chains over): nothing to start again */
		return 0;
	}
	const struct dd_mrules *old = s->img;
	/* a pattern that stays the same keeps its partial matches and its counts; the others start again */
	int keep[DD_MR_MAX_PATTERNS];
	uint32_t noff[DD_MR_MAX_PATTERNS], nsize[DD_MR_MAX_PATTERNS];
	uint64_t alerts[DD_MR_MAX_PATTERNS] = { 0 }, timeouts[DD_MR_MAX_PATTERNS] = { 0 };
	size_t off = sizeof(struct khdr) + (img != NULL ? img->npatterns : 0) * sizeof(struct pblock);
	for (unsigned j = 0; img != NULL && j < img->npatterns; j++) {
		const struct dd_mr_pattern *np = &img->pattern[j];
		noff[j] = (uint32_t)off;
		nsize[j] = (uint32_t)way_size(np, lists);
		off += np->max_partial * nsize[j];
		keep[j] = -1;
		for (unsigned i = 0; old != NULL && i < old->npatterns; i++) {
			if (strcmp(old->pattern[i].name, np->name) != 0)
				continue;
			alerts[j] = s->alerts[i]; /* a pattern's counts go on under its name */
			timeouts[j] = s->timeouts[i];
			if (same_pattern(img, np, old, &old->pattern[i]) && lists == s->lists)
				keep[j] = (int)i;
		}
	}
	for (uint32_t k = 0; k < s->syms.n; k++) {
		uint8_t *area = s->area + (size_t)k * s->p.key_bytes;
		memcpy(s->kscratch, area, s->p.key_bytes);
		memset(area + sizeof(struct khdr), 0, s->p.key_bytes - sizeof(struct khdr));
		bool kept[DD_MR_MAX_PATTERNS] = { false };
		for (unsigned j = 0; img != NULL && j < img->npatterns; j++) {
			if (keep[j] < 0)
				continue;
			unsigned i = (unsigned)keep[j];
			const struct pblock *ob = (const struct pblock *)(const void *)(s->kscratch + sizeof(struct khdr)) + i;
			struct pblock *nb = (struct pblock *)(void *)(area + sizeof(struct khdr)) + j;
			*nb = *ob;
			nb->armed = 0;
			memcpy(area + noff[j], s->kscratch + s->off[i], img->pattern[j].max_partial * nsize[j]);
			kept[i] = true;
		}
		for (unsigned i = 0; old != NULL && i < old->npatterns; i++)
			if (!kept[i])
				s->c[C_RELOAD_DROPPED] +=
					((const struct pblock *)(const void *)(s->kscratch + sizeof(struct khdr)) + i)->n;
	}
	struct dd_output first[DD_MR_MAX_PATTERNS];
	uint64_t first_refs[DD_MR_MAX_PATTERNS][DD_MR_MAX_REFS];
	for (unsigned j = 0; img != NULL && j < img->npatterns; j++) {
		memset(&first[j], 0, sizeof(first[j]));
		memset(first_refs[j], 0, sizeof(first_refs[j]));
		for (unsigned i = 0; old != NULL && i < old->npatterns; i++)
			if (strcmp(old->pattern[i].name, img->pattern[j].name) == 0 && s->first[i].type == DD_OUT_ALERT) {
				first[j] = s->first[i];
				first[j].rule = (uint16_t)j;
				memcpy(first_refs[j], s->first_refs[i], sizeof(first_refs[j]));
			}
	}
	memset(s->alerts, 0, sizeof(s->alerts));
	memset(s->timeouts, 0, sizeof(s->timeouts));
	memset(s->first, 0, sizeof(s->first));
	memset(s->first_refs, 0, sizeof(s->first_refs));
	for (unsigned j = 0; img != NULL && j < img->npatterns; j++) {
		s->alerts[j] = alerts[j];
		s->timeouts[j] = timeouts[j];
		s->first[j] = first[j];
		memcpy(s->first_refs[j], first_refs[j], sizeof(first_refs[j]));
		s->off[j] = noff[j];
		s->wsize[j] = nsize[j];
		s->nref[j] = lists ? img->pattern[j].max_refs : 0;
	}
	s->img = img;
	s->lists = lists;
	/* the deadlines of what was kept, again */
	s->timers.n = 0;
	for (uint32_t k = 0; img != NULL && k < s->syms.n; k++)
		for (unsigned j = 0; j < img->npatterns; j++)
			if (keep[j] >= 0)
				arm(s, j, k, pblock(s, k, j));
	return 0;
}

const struct dd_mrules *dd_cep_rules(const void *state)
{
	return ((const struct cep *)state)->img;
}

uint32_t dd_cep_intern(void *state, const char sym[8])
{
	struct cep *s = state;
	return dd_symtab_intern(&s->syms, sym);
}


static inline struct way *way_at(uint8_t *base, size_t size, unsigned i)
{
	return (struct way *)(void *)(base + (size_t)i * size);
}

/* ---- records ------------------------------------------------------------------------------------ */

static inline void rec_head(struct dd_mr_rec *r, unsigned stream, uint16_t streams, uint32_t key, const struct dd_event *ev)
{
	r->stream = (uint8_t)stream;
	r->streams = streams;
	r->key = key;
	r->seq = ev->seq;
	r->f[DD_MF_TIME] = (int64_t)ev->event_ns;
	r->f[DD_MF_SOURCE] = ev->source;
}

unsigned dd_mr_from_event(struct dd_symtab *syms, const struct dd_event *ev, struct dd_mr_rec *r)
{
	if (ev->type == DD_EV_DIRECTORY) {
		dd_symtab_bind(syms, ev->source, (uint16_t)ev->key, ev->u.directory.stock);
		return 0;
	}
	unsigned stream;
	switch (ev->type) {
	case DD_EV_ADD: stream = DD_MS_ORDER; break;
	case DD_EV_CANCEL:
	case DD_EV_DELETE: stream = DD_MS_CANCEL; break;
	case DD_EV_TRADING_STATE: stream = DD_MS_HALT; break;
	case DD_EV_REPLACE: stream = DD_MS_ANY; break;
	default: return 0; /* E, C, P: trades, from the book; others are no stream's */
	}
	uint32_t key = dd_symtab_slot(syms, ev->source, ev->key);
	if (key == DD_SYMTAB_NONE && ev->type == DD_EV_TRADING_STATE)
		key = dd_symtab_bind(syms, ev->source, (uint16_t)ev->key, ev->u.trading_state.stock);
	if (key == DD_SYMTAB_NONE && ev->type == DD_EV_ADD)
		key = dd_symtab_bind(syms, ev->source, (uint16_t)ev->key, ev->u.add.stock);
	if (key == DD_SYMTAB_NONE) {
		r->key = DD_SYMTAB_NONE;
		return 1;
	}
	rec_head(r, stream, (uint16_t)(1u << stream | 1u << DD_MS_ANY), key, ev);
	switch (ev->type) {
	case DD_EV_ADD:
		r->f[DD_MF_ORDER_REF] = (int64_t)ev->u.add.ref;
		r->f[DD_MF_ORDER_SIDE] = ev->u.add.side;
		r->f[DD_MF_ORDER_SHARES] = ev->u.add.shares;
		r->f[DD_MF_ORDER_PRICE] = ev->u.add.price;
		break;
	case DD_EV_CANCEL:
		r->f[DD_MF_CANCEL_REF] = (int64_t)ev->u.cancel.ref;
		r->f[DD_MF_CANCEL_SHARES] = ev->u.cancel.shares;
		r->f[DD_MF_CANCEL_DELETED] = 0;
		break;
	case DD_EV_DELETE:
		r->f[DD_MF_CANCEL_REF] = (int64_t)ev->u.del.ref;
		r->f[DD_MF_CANCEL_SHARES] = 0;
		r->f[DD_MF_CANCEL_DELETED] = 1;
		break;
	case DD_EV_TRADING_STATE:
		r->f[DD_MF_HALT_STATE] = ev->u.trading_state.state;
		r->f[DD_MF_HALT_REASON] = dd_mr_pack(ev->u.trading_state.reason, 4, 4);
		break;
	default:
		break;
	}
	return 1;
}

unsigned dd_mr_from_output(const struct dd_symtab *syms, const struct dd_output *o, struct dd_mr_rec *r)
{
	r->f[DD_MF_TIME] = (int64_t)o->event_ns;
	r->f[DD_MF_SOURCE] = o->source;
	r->seq = o->seq;
	r->key = dd_symtab_slot(syms, o->source, o->key);
	if (o->type == DD_OUT_TRADE) {
		const struct dd_out_trade *t = &o->u.trade;
		r->stream = DD_MS_TRADE;
		r->streams = 1u << DD_MS_TRADE | 1u << DD_MS_ANY;
		r->f[DD_MF_TRADE_REF] = (int64_t)t->ref;
		r->f[DD_MF_TRADE_MATCH] = (int64_t)t->match;
		r->f[DD_MF_TRADE_SHARES] = t->shares;
		r->f[DD_MF_TRADE_PRICE] = t->price;
		r->f[DD_MF_TRADE_SIDE] = t->side;
		r->f[DD_MF_TRADE_AGGRESSOR] = t->side == DD_SIDE_BUY ? DD_SIDE_SELL : t->side == DD_SIDE_SELL ? DD_SIDE_BUY : ' ';
		return 1;
	}
	if (o->type == DD_OUT_BBO) {
		const struct dd_out_bbo *b = &o->u.bbo;
		r->stream = DD_MS_BBO;
		r->streams = 1u << DD_MS_BBO;
		r->f[DD_MF_BBO_BID] = b->bid_price;
		r->f[DD_MF_BBO_ASK] = b->ask_price;
		r->f[DD_MF_BBO_BID_SHARES] = (int64_t)b->bid_shares;
		r->f[DD_MF_BBO_ASK_SHARES] = (int64_t)b->ask_shares;
		r->f[DD_MF_BBO_OTHER_BID] = 0;
		r->f[DD_MF_BBO_OTHER_ASK] = 0;
		return 1;
	}
	return 0;
}

/* ---- matching ----------------------------------------------------------------------------------- */

static inline int64_t rec_field(const struct dd_mrules *img, const struct dd_mr_rec *r, unsigned g)
{
	int pos = img->fpos[r->stream][g];
	return pos < 0 ? 0 : r->f[pos];
}

/* Does record r satisfy variable v, for way w's context (NULL: a fresh start)? */
static inline bool satisfies(const struct dd_mr_pattern *p, unsigned v, const struct way *w, const struct dd_mr_rec *r)
{
	const struct dd_mr_var *var = &p->var[v];
	if (!(r->streams >> var->stream & 1u))
		return false;
	if (var->pred_len == 0)
		return true;
	static const int64_t none[DD_MR_MAX_SLOTS]; /* a fresh start's slots (COUNT reads 0) */
	const int64_t *slot = w != NULL ? w->slot : none;
	if (var->nfast > 0) {
		/* an OR of ANDs of comparisons: no stack code; as with it, a slot without a value or a
		 * product that overflows anywhere makes the whole predicate false */
		uint32_t valid = (w != NULL ? w->valid : 0) | p->count_mask;
		uint32_t group_false = 0;
		for (unsigned i = 0; i < var->nfast; i++) {
			const struct dd_mr_term *t = &var->fast[i];
			int64_t val[2];
			for (unsigned side = 0; side < 2; side++) {
				const struct dd_mr_operand *o = side ? &t->r : &t->l;
				int64_t x[2];
				for (unsigned j = 0; j < 2; j++) {
					uint8_t k = j ? o->k2 : o->k1;
					uint16_t idx = j ? o->i2 : o->i1;
					if (k == DD_MT_FIELD)
						x[j] = r->f[idx];
					else if (k == DD_MT_SLOT) {
						if (!(valid >> idx & 1u))
							return false;
						x[j] = slot[idx];
					} else
						x[j] = p->konst[idx];
					if (o->k2 == DD_MT_NONE)
						break;
				}
				if (o->k2 == DD_MT_NONE)
					val[side] = x[0];
				else if (__builtin_mul_overflow(x[0], x[1], &val[side]))
					return false;
			}
			bool ok;
			switch (t->cmp) {
			case DD_MO_EQ: ok = val[0] == val[1]; break;
			case DD_MO_NE: ok = val[0] != val[1]; break;
			case DD_MO_LT: ok = val[0] < val[1]; break;
			case DD_MO_LE: ok = val[0] <= val[1]; break;
			case DD_MO_GT: ok = val[0] > val[1]; break;
			default: ok = val[0] >= val[1]; break;
			}
			if (!ok)
				group_false |= 1u << (t->group & 31);
		}
		return group_false != (var->ngroups >= 32 ? UINT32_MAX : (1u << var->ngroups) - 1);
	}
	int64_t x;
	return dd_mr_eval(p, var->pred_off, var->pred_len, r, slot,
			  (w != NULL ? w->valid : 0) | p->count_mask, &x) == 1;
}

/* Way w took record r as variable v: its context moves on. */
static void take(const struct dd_mrules *img, const struct dd_mr_pattern *p, unsigned nref, struct way *w,
		 unsigned v, const struct dd_mr_rec *r)
{
	/* the record before this one: what the PREV slots hold until they take this one */
	for (unsigned i = 0; i < p->nslots; i++)
		if (p->slot[i].kind == DD_MK_PREV2 && (w->valid >> p->slot[i].var & 1u)) {
			w->slot[i] = w->slot[p->slot[i].var];
			w->valid |= 1u << i;
		}
	for (unsigned i = 0; i < p->nslots; i++) {
		const struct dd_mr_slot *sl = &p->slot[i];
		bool has = w->valid >> i & 1u;
		if (sl->kind == DD_MK_PREV2)
			continue;
		if (sl->kind == DD_MK_PREV) {
			w->slot[i] = rec_field(img, r, sl->gfield);
			w->valid |= 1u << i;
			continue;
		}
		if (sl->var != v)
			continue;
		int64_t x = rec_field(img, r, sl->gfield);
		switch (sl->kind) {
		case DD_MK_FIRST:
			if (!has)
				w->slot[i] = x;
			break;
		case DD_MK_LAST: w->slot[i] = x; break;
		case DD_MK_COUNT: w->slot[i] = has ? w->slot[i] + 1 : 1; break;
		case DD_MK_SUM: w->slot[i] = has ? (int64_t)((uint64_t)w->slot[i] + (uint64_t)x) : x; break;
		case DD_MK_MIN: w->slot[i] = has && w->slot[i] < x ? w->slot[i] : x; break;
		case DD_MK_MAX: w->slot[i] = has && w->slot[i] > x ? w->slot[i] : x; break;
		}
		w->valid |= 1u << i;
	}
	if (w->events == 0) {
		w->first_ns = (uint64_t)r->f[DD_MF_TIME];
		w->first_seq = r->seq;
		w->first_feed = (uint32_t)r->f[DD_MF_SOURCE];
	}
	if (nref > 0) {
		/* the first nref - 1, and the latest in the last place */
		uint64_t ref = r->stream >= DD_MS_WINDOW0
				       ? dd_ref_window(r->stream - DD_MS_WINDOW0, r->f[DD_MF_WIN_LATE] != 0,
						       (uint64_t)r->f[DD_MF_WIN_END])
				       : dd_ref_message((unsigned)r->f[DD_MF_SOURCE], r->seq);
		refs_of(p, w)[w->events < nref ? w->events : nref - 1u] = ref;
	}
	w->last_ns = (uint64_t)r->f[DD_MF_TIME];
	w->events++;
}

static void alert(struct cep *s, unsigned pi, uint32_t key, const struct way *w, uint64_t event_ns, bool timeout,
		  struct dd_emit *e)
{
	const struct dd_mr_pattern *p = &s->img->pattern[pi];
	s->c[timeout ? C_TIMEOUTS : C_ALERTS]++;
	uint64_t n = timeout ? s->timeouts[pi]++ : s->alerts[pi]++;
	struct dd_output *o = dd_emit(e, DD_OUT_ALERT, (uint16_t)pi);
	if (o == NULL)
		return;
	o->rule_version = (uint16_t)s->img->version;
	o->event_ns = event_ns;
	dd_symtab_symbol(&s->syms, key, o->symbol);
	struct dd_out_alert *a = &o->u.alert;
	a->first_ns = w->first_ns;
	a->last_ns = w->last_ns;
	a->events = w->events;
	a->first_seq = w->first_seq;
	a->first_feed = (uint8_t)w->first_feed;
	a->timeout = timeout;
	a->nmeasures = p->nmeasures;
	for (unsigned m = 0; m < p->nmeasures; m++) {
		int64_t v = 0;
		if (dd_mr_eval(p, p->measure[m].off, p->measure[m].len, NULL, w->slot, w->valid | p->count_mask, &v) < 0) {
			a->null_mask |= (uint8_t)(1u << m);
			v = 0;
		}
		a->measure[m] = v;
	}
	/* the records it matched, DD_MATCHED_REFS to an output after it */
	unsigned nrefs = w->events < s->nref[pi] ? w->events : s->nref[pi];
	const uint64_t *ref = crefs_of(p, w);
	o->flags = (uint16_t)nrefs;
	if (n == 0 && !timeout) {
		s->first[pi] = *o;
		memcpy(s->first_refs[pi], ref, nrefs * sizeof(*ref));
	}
	unsigned parts = (nrefs + DD_MATCHED_REFS - 1) / DD_MATCHED_REFS;
	struct dd_output hdr = *o;
	for (unsigned k = 0; k < parts; k++) {
		struct dd_output *m = dd_emit(e, DD_OUT_MATCHED, (uint16_t)pi);
		if (m == NULL)
			return;
		memcpy(m, &hdr, offsetof(struct dd_output, u));
		m->type = DD_OUT_MATCHED;
		m->flags = 0;
		struct dd_out_matched *b = &m->u.matched;
		memset(b, 0, sizeof(*b));
		unsigned n0 = k * DD_MATCHED_REFS, nk = nrefs - n0 < DD_MATCHED_REFS ? nrefs - n0 : DD_MATCHED_REFS;
		memcpy(b->ref, ref + n0, nk * sizeof(*ref));
		b->n = (uint8_t)nk;
		b->part = (uint8_t)k;
		b->parts = (uint8_t)parts;
	}
}

void dd_cep_pattern_stats(const void *state, unsigned pattern, struct dd_cep_pattern_stats *out)
{
	const struct cep *s = state;
	memset(out, 0, sizeof(*out));
	if (pattern >= DD_MR_MAX_PATTERNS)
		return;
	out->alerts = s->alerts[pattern];
	out->timeouts = s->timeouts[pattern];
	out->have_first = s->first[pattern].type == DD_OUT_ALERT;
	out->first = s->first[pattern];
	memcpy(out->first_refs, s->first_refs[pattern], sizeof(out->first_refs));
}

/* The new ways of a record, bounded by the pattern's MAX PARTIAL (the oldest goes first). */
struct nextset {
	uint8_t *base;
	size_t size;
	unsigned n, cap;
	uint64_t *evicted;
};

static struct way *push(struct nextset *ns, const struct way *w)
{
	if (ns->n == ns->cap) {
		memmove(ns->base, ns->base + ns->size, (ns->n - 1) * ns->size);
		ns->n--;
		(*ns->evicted)++;
	}
	struct way *d = way_at(ns->base, ns->size, ns->n++);
	memcpy(d, w, ns->size);
	return d;
}

/* Way w (having taken a record as the VAR at its pc) goes on along closure list [off, off+len). */
static bool go_on(const struct dd_mr_pattern *p, struct nextset *ns, const struct way *w, uint16_t off, uint16_t len)
{
	for (unsigned k = 0; k < len; k++) {
		const struct dd_mr_clos *c = &p->clos[off + k];
		if (c->at == DD_MR_AT_MATCH && c->guards == 0)
			return true; /* complete: the first way to complete is the one reported */
		struct way *d = push(ns, w);
		d->at = c->at;
		d->guards = c->guards;
		d->skip = c->skip;
	}
	return false;
}

static bool started_in(const uint32_t *list, unsigned n, uint32_t start)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == start)
			return true;
	return false;
}

/* The block's oldest first record time, after its ways changed. */
static inline void settle(struct pblock *b, const uint8_t *ways, size_t sz)
{
	uint64_t m = UINT64_MAX;
	for (unsigned i = 0; i < b->n; i++) {
		const struct way *w = (const struct way *)(const void *)(ways + i * sz);
		if (w->first_ns < m)
			m = w->first_ns;
	}
	b->first_min = m;
}

/*
 * Ways of block b whose deadline is before `limit`, oldest partial match first (deadline order): one
 * with a way waiting behind an absence completes (its first such way is reported; PAST LAST ROW
 * then drops everything else of the pattern); the others expire (reported once each with EMIT
 * TIMEOUTS, from their first way).
 */
static void expire(struct cep *s, unsigned pi, uint32_t key, struct pblock *b, uint64_t limit, struct dd_emit *e)
{
	const struct dd_mr_pattern *p = &s->img->pattern[pi];
	size_t sz = s->wsize[pi];
	uint8_t *ways = ways_of(s, key, pi);
	uint32_t gone[DD_MR_MAX_PARTIAL];
	unsigned ngone = 0;
	for (unsigned i = 0; i < b->n; i++) {
		const struct way *w = way_at(ways, sz, i);
		if (w->first_ns + p->within_ns >= limit || started_in(gone, ngone, w->start))
			continue;
		/* the partial match w belongs to: does one of its ways wait behind an absence? */
		const struct way *done = NULL;
		for (unsigned j = i; j < b->n && done == NULL; j++) {
			const struct way *x = way_at(ways, sz, j);
			if (x->start == w->start && x->at == DD_MR_AT_MATCH)
				done = x;
		}
		gone[ngone++] = w->start;
		if (done != NULL) {
			alert(s, pi, key, done, done->first_ns + p->within_ns, false, e);
			if (!p->skip_to_next) {
				b->n = 0; /* PAST LAST ROW: everything of this pattern goes */
				return;
			}
			continue;
		}
		s->c[C_EXPIRED]++;
		if (p->emit_timeouts)
			alert(s, pi, key, w, w->first_ns + p->within_ns, true, e);
	}
	unsigned keep = 0;
	for (unsigned i = 0; i < b->n; i++) {
		struct way *w = way_at(ways, sz, i);
		if (!started_in(gone, ngone, w->start))
			memmove(way_at(ways, sz, keep++), w, sz);
	}
	b->n = (uint8_t)keep;
	settle(b, ways, sz);
}

static void arm(struct cep *s, unsigned pi, uint32_t key, struct pblock *b)
{
	if (b->armed || b->n == 0)
		return;
	const struct dd_mr_pattern *p = &s->img->pattern[pi];
	uint64_t due = b->first_min + p->within_ns;
	/* the due time is the deadline; it passes when the watermark is beyond it */
	if (dd_timers_push(&s->timers, due + 1, key, pi))
		b->armed = 1;
	else
		s->c[C_OVERFLOW]++;
}

static void run_pattern(struct cep *s, unsigned pi, uint32_t key, const struct dd_mr_rec *r, struct dd_emit *e)
{
	const struct dd_mrules *img = s->img;
	const struct dd_mr_pattern *p = &img->pattern[pi];
	struct pblock *b = pblock(s, key, pi);
	size_t sz = s->wsize[pi];
	uint8_t *ways = ways_of(s, key, pi);
	uint64_t t = (uint64_t)r->f[DD_MF_TIME];

	/* 1. expire: ways whose first record is more than WITHIN before r */
	if (b->n > 0 && b->first_min + p->within_ns < t)
		expire(s, pi, key, b, t, e);

	/* 2 and 3. negate and advance, into the next set */
	struct nextset ns = { s->next, sz, 0, p->max_partial, &s->c[C_EVICTED] };
	uint32_t done_start[DD_MR_MAX_PARTIAL + 1];
	unsigned ndone = 0;
	for (unsigned i = 0; i < b->n; i++) {
		const struct way *w = way_at(ways, sz, i);
		if (started_in(done_start, ndone, w->start))
			continue;
		bool ended = false;
		for (uint16_t g = w->guards; g != 0 && !ended; g &= (uint16_t)(g - 1))
			ended = satisfies(p, (unsigned)__builtin_ctz(g), w, r);
		if (ended)
			continue;
		if (w->at == DD_MR_AT_MATCH) {
			push(&ns, w);
			continue;
		}
		const struct dd_mr_insn_s *in = &p->prog[w->at];
		if (satisfies(p, in->var, w, r)) {
			uint8_t tmp[MAX_WAY];
			struct way *x = (struct way *)(void *)tmp;
			memcpy(x, w, sz);
			take(img, p, s->nref[pi], x, in->var, r);
			if (go_on(p, &ns, x, in->clos_off, in->clos_len)) {
				memcpy(way_at(s->done, sz, ndone), x, sz);
				done_start[ndone++] = x->start;
			}
		} else if (w->skip) {
			push(&ns, w);
		}
	}

	/* completions: the oldest alone (PAST LAST ROW) or each (TO NEXT ROW), and their other ways go */
	bool fresh = true;
	if (ndone > 0) {
		unsigned nrep = p->skip_to_next ? ndone : 1;
		for (unsigned i = 0; i < nrep; i++)
			alert(s, pi, key, way_at(s->done, sz, i), (uint64_t)r->f[DD_MF_TIME], false, e);
		if (!p->skip_to_next) {
			ns.n = 0;
			fresh = false;
		} else {
			unsigned k = 0;
			for (unsigned i = 0; i < ns.n; i++) {
				struct way *w = way_at(ns.base, sz, i);
				if (!started_in(done_start, ndone, w->start))
					memmove(way_at(ns.base, sz, k++), w, sz);
			}
			ns.n = k;
		}
	}

	/* 4. start */
	if (fresh) {
		unsigned before = ns.n;
		bool began = false, completed = false;
		for (unsigned k = 0; k < p->start_len && !completed; k++) {
			const struct dd_mr_clos *c = &p->clos[p->start_off + k];
			unsigned v = p->prog[c->at].var;
			if (!satisfies(p, v, NULL, r))
				continue;
			uint8_t tmp[MAX_WAY];
			struct way *x = (struct way *)(void *)tmp;
			memset(x, 0, sz);
			x->start = b->starts + 1;
			take(img, p, s->nref[pi], x, v, r);
			began = true;
			const struct dd_mr_insn_s *in = &p->prog[c->at];
			if (go_on(p, &ns, x, in->clos_off, in->clos_len)) {
				alert(s, pi, key, x, (uint64_t)r->f[DD_MF_TIME], false, e);
				completed = true;
				ns.n = p->skip_to_next ? before : 0; /* its other ways go; PAST LAST ROW: all */
			}
		}
		if (began)
			b->starts++;
	}

	memcpy(ways, ns.base, ns.n * sz);
	b->n = (uint8_t)ns.n;
	settle(b, ways, sz);
	arm(s, pi, key, b);
}

void dd_cep_record(void *state, const struct dd_mr_rec *r, struct dd_emit *e)
{
	struct cep *s = state;
	const struct dd_mrules *img = s->img;
	if (img == NULL)
		return;
	if (r->key == DD_SYMTAB_NONE) {
		s->c[C_NO_SYMBOL]++;
		return;
	}
	s->c[C_RECORDS]++;
	uint32_t pats = 0;
	for (uint32_t m = r->streams; m != 0; m &= m - 1)
		pats |= img->by_stream[__builtin_ctz(m)];
	for (; pats != 0; pats &= pats - 1)
		run_pattern(s, (unsigned)__builtin_ctz(pats), r->key, r, e);
}

void dd_cep_watermark(void *state, uint64_t wm, struct dd_emit *e)
{
	struct cep *s = state;
	if (wm <= s->wm)
		return;
	s->wm = wm;
	if (s->img == NULL)
		return;
	struct dd_timer t;
	while (dd_timers_pop_before(&s->timers, wm + 1, &t)) {
		/* due = deadline + 1 <= wm: the watermark is past the deadline */
		struct pblock *b = pblock(s, t.key, t.what);
		b->armed = 0;
		expire(s, t.what, t.key, b, wm, e);
		arm(s, t.what, t.key, b);
	}
}

/* ---- the operator ------------------------------------------------------------------------------- */

static void cep_apply(void *state, const struct dd_event *ev, struct dd_emit *e)
{
	struct cep *s = state;
	struct dd_mr_rec r;
	if (s->img == NULL || dd_mr_from_event(&s->syms, ev, &r) == 0)
		return;
	dd_cep_record(s, &r, e);
}

static void cep_consume(void *state, const struct dd_output *o, struct dd_emit *e)
{
	struct cep *s = state;
	struct dd_mr_rec r;
	if (s->img == NULL)
		return;
	if (o->type == DD_OUT_WINDOW) {
		unsigned w = o->rule;
		if (w >= s->img->nwindows)
			return;
		r.stream = (uint8_t)(DD_MS_WINDOW0 + w);
		r.streams = (uint16_t)(1u << r.stream);
		r.key = dd_symtab_intern(&s->syms, o->symbol);
		r.seq = 0;
		r.f[DD_MF_TIME] = (int64_t)o->u.window.end_ns;
		r.f[DD_MF_SOURCE] = o->source;
		r.f[DD_MF_WIN_START] = (int64_t)o->u.window.start_ns;
		r.f[DD_MF_WIN_END] = (int64_t)o->u.window.end_ns;
		r.f[DD_MF_WIN_LATE] = o->flags & DD_OUTPUT_FLAG_LATE ? 1 : 0;
		for (unsigned k = 0; k < DD_MR_MAX_AGGS; k++)
			r.f[DD_MF_WIN_AGG0 + k] = o->u.window.value[k];
		if (r.key == DD_SYMTAB_NONE)
			s->c[C_KEYS_FULL]++;
		dd_cep_record(s, &r, e);
		return;
	}
	if (dd_mr_from_output(&s->syms, o, &r) == 0)
		return;
	if (r.stream == DD_MS_BBO && r.key != DD_SYMTAB_NONE) {
		/* the other feeds' latest tops of this symbol */
		struct khdr *h = (struct khdr *)(void *)(s->area + (size_t)r.key * s->p.key_bytes);
		int64_t ob = 0, oa = 0;
		for (unsigned f = 0; f < MAX_SOURCES; f++) {
			if (f == o->source)
				continue;
			if (h->bid[f] > ob)
				ob = h->bid[f];
			if (h->ask[f] > 0 && (oa == 0 || h->ask[f] < oa))
				oa = h->ask[f];
		}
		r.f[DD_MF_BBO_OTHER_BID] = ob;
		r.f[DD_MF_BBO_OTHER_ASK] = oa;
		if (o->source < MAX_SOURCES) {
			h->bid[o->source] = r.f[DD_MF_BBO_BID];
			h->ask[o->source] = r.f[DD_MF_BBO_ASK];
		}
	}
	dd_cep_record(s, &r, e);
}

static void cep_advance(void *state, uint64_t wm, struct dd_emit *e)
{
	dd_cep_watermark(state, wm, e);
}

/*
 * Snapshot: u32 version, u32 symbols, u64 watermark, the counters, the per-pattern alerts, timeouts,
 * first alerts and the records those matched, the symbol table (symbols and
 * bindings), then each used symbol's area. The rule set is not in it (the journal has its text);
 * the timers are rebuilt from the areas.
 */
#define CEP_VERSION 4u /* 4: ways hold their records' refs */

static int cep_save(const void *state, dd_put_fn put, void *ctx)
{
	const struct cep *s = state;
	uint32_t h[2] = { CEP_VERSION, s->syms.n };
	int rc = put(ctx, h, sizeof(h));
	if (rc == 0)
		rc = put(ctx, &s->wm, sizeof(s->wm));
	if (rc == 0)
		rc = put(ctx, s->c, sizeof(s->c));
	if (rc == 0)
		rc = put(ctx, s->alerts, sizeof(s->alerts));
	if (rc == 0)
		rc = put(ctx, s->timeouts, sizeof(s->timeouts));
	if (rc == 0)
		rc = put(ctx, s->first, sizeof(s->first));
	if (rc == 0)
		rc = put(ctx, s->first_refs, sizeof(s->first_refs));
	if (rc == 0)
		rc = dd_symtab_save(&s->syms, put, ctx);
	if (rc == 0)
		rc = put(ctx, s->area, (size_t)s->syms.n * s->p.key_bytes);
	return rc;
}

static int cep_load(void *state, dd_get_fn get, void *ctx)
{
	struct cep *s = state;
	uint32_t h[2];
	if (get(ctx, h, sizeof(h)) < 0)
		return -EBADMSG;
	/* version 3 (before alerts listed records): its ways are those of a chain that lists none */
	bool v3 = h[0] == 3 && !s->lists;
	if (h[0] != CEP_VERSION && !v3)
		return -EBADMSG;
	if (h[1] > s->p.keys)
		return -EINVAL;
	memset(s->first_refs, 0, sizeof(s->first_refs));
	if (get(ctx, &s->wm, sizeof(s->wm)) < 0 || get(ctx, s->c, sizeof(s->c)) < 0 ||
	    get(ctx, s->alerts, sizeof(s->alerts)) < 0 || get(ctx, s->timeouts, sizeof(s->timeouts)) < 0 ||
	    get(ctx, s->first, sizeof(s->first)) < 0 || (!v3 && get(ctx, s->first_refs, sizeof(s->first_refs)) < 0))
		return -EBADMSG;
	if (dd_symtab_load(&s->syms, h[1], get, ctx) != 0 || get(ctx, s->area, (size_t)h[1] * s->p.key_bytes) < 0)
		return -EBADMSG;
	s->timers.n = 0;
	for (uint32_t k = 0; s->img != NULL && k < s->syms.n; k++)
		for (unsigned i = 0; i < s->img->npatterns; i++) {
			struct pblock *b = pblock(s, k, i);
			b->armed = 0;
			arm(s, i, k, b);
		}
	return 0;
}

static void cep_counters(const void *state, uint64_t *v)
{
	const struct cep *s = state;
	memcpy(v, s->c, sizeof(s->c));
}

const struct dd_op_ops dd_cep_op = {
	.name = "cep",
	.id = DD_OP_CEP,
	.max_out = 32, /* alerts one record completes, each followed by its matched parts; more are
	                * counted as the chain's overflow */
	.memsize = cep_memsize,
	.init = cep_init,
	.apply = cep_apply,
	.advance = cep_advance,
	.consume = cep_consume,
	.save = cep_save,
	.load = cep_load,
	.ncounters = C__COUNT,
	.counter_names = cep_counter_names,
	.counters = cep_counters,
};
