/* SPDX-License-Identifier: MIT */
#include "ops/window/window.h"

#include <errno.h>
#include <string.h>

#include "ops/cep/cep.h"
#include "ops/cep/symtab.h"
#include "ops/cep/timers.h"

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

struct wslot {
	uint64_t start, end;    /* [start, end) */
	uint64_t idx;           /* the window's number (tumbling, hopping: start / slide; session: count) */
	uint64_t count;
	int64_t v[DD_MR_MAX_AGGS];
	unsigned __int128 pq;   /* vwap: sum of price x quantity */
	uint64_t q;             /* vwap: sum of quantity */
	uint8_t used, fired;
	uint8_t pad[14];
};

struct hist {
	uint64_t idx;
	int64_t v;
};

struct wblock {
	uint8_t armed, started;
	uint8_t pad[6];
	uint64_t first_idx;     /* number of the symbol's first window */
	uint64_t sessions;      /* sessions opened (numbers them) */
	struct wslot slot[DD_WINDOW_OPEN];
	struct hist hist[];     /* the window's history, indexed by idx % history */
};

enum { C_RECORDS, C_FIRED, C_LATE_FIRINGS, C_LATE, C_FULL, C_DEFERRED, C_NO_SYMBOL, C_RELOAD_DROPPED, C__COUNT };

static const char *const window_counter_names[C__COUNT] = {
	"window_records", "window_fired", "window_late_firings", "window_late", "window_full",
	"window_deferred", "window_no_symbol", "window_reload_dropped",
};

struct wop {
	const struct dd_mrules *img;
	struct dd_window_params p;
	struct dd_symtab syms;
	struct dd_timers timers;
	uint8_t *area;
	uint32_t off[DD_MR_MAX_WINDOWS];
	uint64_t wm;
	unsigned fired_now;     /* windows fired by the current call */
	uint64_t c[C__COUNT];
	uint8_t *kscratch;      /* key_bytes: a symbol's area while a reload rearranges it */
};

static size_t block_size(const struct dd_mr_window *w)
{
	return sizeof(struct wblock) + (size_t)w->history * sizeof(struct hist);
}

size_t dd_window_key_bytes(const struct dd_mrules *img)
{
	size_t n = 0;
	for (unsigned i = 0; img != NULL && i < img->nwindows; i++)
		n += block_size(&img->window[i]);
	return n < 64 ? 64 : n;
}

static size_t window_memsize(const void *params)
{
	const struct dd_window_params *p = params;
	size_t st = dd_symtab_memsize(p->keys, p->nfeeds);
	if (st == 0 || p->key_bytes < 64 || p->key_bytes > (1u << 20))
		return 0;
	return ALIGN64(sizeof(struct wop)) + ALIGN64(st) + ALIGN64((size_t)p->keys * p->key_bytes) +
	       ALIGN64((size_t)p->keys * DD_MR_MAX_WINDOWS * sizeof(struct dd_timer)) + ALIGN64(p->key_bytes);
}

static int window_init(void *mem, size_t len, const void *params)
{
	const struct dd_window_params *p = params;
	size_t need = window_memsize(params);
	if (need == 0 || len < need)
		return -EINVAL;
	struct wop *s = mem;
	memset(s, 0, sizeof(*s));
	s->p = *p;
	uint8_t *m = (uint8_t *)mem + ALIGN64(sizeof(*s));
	dd_symtab_init(&s->syms, m, p->keys, p->nfeeds);
	m += ALIGN64(dd_symtab_memsize(p->keys, p->nfeeds));
	s->area = m;
	memset(s->area, 0, (size_t)p->keys * p->key_bytes);
	m += ALIGN64((size_t)p->keys * p->key_bytes);
	s->timers.h = (struct dd_timer *)(void *)m;
	s->timers.cap = p->keys * DD_MR_MAX_WINDOWS;
	m += ALIGN64((size_t)p->keys * DD_MR_MAX_WINDOWS * sizeof(struct dd_timer));
	s->kscratch = m;
	return 0;
}

static inline struct wblock *wblock(struct wop *s, uint32_t key, unsigned wi)
{
	return (struct wblock *)(void *)(s->area + (size_t)key * s->p.key_bytes + s->off[wi]);
}

static void arm(struct wop *s, unsigned wi, uint32_t key, struct wblock *b);

int dd_window_use(void *state, const struct dd_mrules *img)
{
	struct wop *s = state;
	if (img != NULL && dd_window_key_bytes(img) > s->p.key_bytes)
		return -ENOSPC;
	if (img != NULL && s->img != NULL && memcmp(img, s->img, sizeof(*img)) == 0) {
		s->img = img; /* the same rules (recovery hands its chains over): nothing to start again */
		return 0;
	}
	const struct dd_mrules *old = s->img;
	/* a window defined the same keeps its open windows and its history; the others start again */
	int keep[DD_MR_MAX_WINDOWS];
	uint32_t noff[DD_MR_MAX_WINDOWS];
	size_t off = 0;
	for (unsigned j = 0; img != NULL && j < img->nwindows; j++) {
		noff[j] = (uint32_t)off;
		off += block_size(&img->window[j]);
		keep[j] = -1;
		for (unsigned i = 0; old != NULL && i < old->nwindows; i++)
			if (memcmp(&old->window[i], &img->window[j], sizeof(img->window[j])) == 0)
				keep[j] = (int)i;
	}
	for (uint32_t k = 0; k < s->syms.n; k++) {
		uint8_t *area = s->area + (size_t)k * s->p.key_bytes;
		memcpy(s->kscratch, area, s->p.key_bytes);
		memset(area, 0, s->p.key_bytes);
		bool kept[DD_MR_MAX_WINDOWS] = { false };
		for (unsigned j = 0; img != NULL && j < img->nwindows; j++) {
			if (keep[j] < 0)
				continue;
			memcpy(area + noff[j], s->kscratch + s->off[keep[j]], block_size(&img->window[j]));
			((struct wblock *)(void *)(area + noff[j]))->armed = 0;
			kept[keep[j]] = true;
		}
		for (unsigned i = 0; old != NULL && i < old->nwindows; i++)
			for (unsigned j = 0; !kept[i] && j < DD_WINDOW_OPEN; j++)
				s->c[C_RELOAD_DROPPED] +=
					((const struct wblock *)(const void *)(s->kscratch + s->off[i]))->slot[j].used;
	}
	s->img = img;
	for (unsigned j = 0; img != NULL && j < img->nwindows; j++)
		s->off[j] = noff[j];
	s->timers.n = 0;
	for (uint32_t k = 0; img != NULL && k < s->syms.n; k++)
		for (unsigned j = 0; j < img->nwindows; j++)
			if (keep[j] >= 0)
				arm(s, j, k, wblock(s, k, j));
	return 0;
}

uint32_t dd_window_intern(void *state, const char sym[8])
{
	return dd_symtab_intern(&((struct wop *)state)->syms, sym);
}

/* When block b needs the watermark next: the end of its first unfired window, or the end + lateness
 * of a fired one (it is freed then). */
static void arm(struct wop *s, unsigned wi, uint32_t key, struct wblock *b)
{
	if (b->armed)
		return;
	const struct dd_mr_window *w = &s->img->window[wi];
	uint64_t due = UINT64_MAX;
	for (unsigned j = 0; j < DD_WINDOW_OPEN; j++) {
		const struct wslot *sl = &b->slot[j];
		if (!sl->used)
			continue;
		uint64_t d = sl->fired ? sl->end + w->lateness_ns : sl->end;
		if (d < due)
			due = d;
	}
	if (due == UINT64_MAX)
		return;
	if (dd_timers_push(&s->timers, due, key, wi))
		b->armed = 1;
}

static int64_t avg_prev(const struct dd_mr_window *w, const struct wblock *b, const struct wslot *sl, unsigned n)
{
	uint64_t have = sl->idx - b->first_idx;
	if (have == 0)
		return 0;
	if (have > n)
		have = n;
	int64_t sum = 0;
	for (uint64_t j = 1; j <= have; j++) {
		const struct hist *h = &b->hist[(sl->idx - j) % w->history];
		if (h->idx == sl->idx - j)
			sum += h->v;
	}
	return sum / (int64_t)have;
}

static void fire(struct wop *s, unsigned wi, uint32_t key, struct wblock *b, struct wslot *sl, bool late,
		 struct dd_emit *e)
{
	const struct dd_mr_window *w = &s->img->window[wi];
	int64_t v[DD_MR_MAX_AGGS] = { 0 };
	for (unsigned k = 0; k < w->naggs; k++) {
		const struct dd_mr_agg *a = &w->agg[k];
		if (a->fn == DD_MA_VWAP)
			v[k] = sl->q == 0 ? 0 : (int64_t)(sl->pq / sl->q);
		else if (a->fn == DD_MA_AVG_PREV)
			v[k] = 0; /* below, once the value it averages is known */
		else
			v[k] = sl->v[k];
	}
	for (unsigned k = 0; k < w->naggs; k++)
		if (w->agg[k].fn == DD_MA_AVG_PREV)
			v[k] = avg_prev(w, b, sl, w->agg[k].n);
	if (w->history != 0) {
		struct hist *h = &b->hist[sl->idx % w->history];
		h->idx = sl->idx;
		h->v = v[w->hist_agg];
	}
	sl->fired = 1;
	s->c[late ? C_LATE_FIRINGS : C_FIRED]++;
	s->fired_now++;
	struct dd_output *o = dd_emit(e, DD_OUT_WINDOW, (uint16_t)wi);
	if (o == NULL)
		return;
	o->rule_version = (uint16_t)s->img->version;
	o->event_ns = sl->end;
	o->flags = late ? DD_OUTPUT_FLAG_LATE : 0;
	memcpy(o->symbol, &s->syms.sym[key], 8);
	o->u.window.start_ns = sl->start;
	o->u.window.end_ns = sl->end;
	memcpy(o->u.window.value, v, sizeof(v));
}

/* Fire and free what the watermark has reached, at most DD_WINDOW_FIRE_MAX windows a call. */
static void due(struct wop *s, struct dd_emit *e)
{
	struct dd_timer t;
	while (s->fired_now < DD_WINDOW_FIRE_MAX && dd_timers_pop_before(&s->timers, s->wm + 1, &t)) {
		struct wblock *b = wblock(s, t.key, t.what);
		const struct dd_mr_window *w = &s->img->window[t.what];
		b->armed = 0;
		/* in the order of their ends: a window's avg_prev reads the ones before it */
		for (;;) {
			struct wslot *next = NULL;
			for (unsigned j = 0; j < DD_WINDOW_OPEN; j++) {
				struct wslot *sl = &b->slot[j];
				if (sl->used && !sl->fired && sl->end <= s->wm && (next == NULL || sl->end < next->end))
					next = sl;
			}
			if (next == NULL || s->fired_now == DD_WINDOW_FIRE_MAX)
				break;
			fire(s, t.what, t.key, b, next, false, e);
		}
		for (unsigned j = 0; j < DD_WINDOW_OPEN; j++) {
			struct wslot *sl = &b->slot[j];
			if (sl->used && sl->fired && sl->end + w->lateness_ns <= s->wm)
				sl->used = 0;
		}
		arm(s, t.what, t.key, b);
	}
	if (s->timers.n > 0 && s->timers.h[0].due <= s->wm)
		s->c[C_DEFERRED]++;
}

static void add(const struct dd_mr_window *w, struct wslot *sl, const struct dd_mr_rec *r)
{
	for (unsigned k = 0; k < w->naggs; k++) {
		const struct dd_mr_agg *a = &w->agg[k];
		int64_t x = r->f[a->field];
		switch (a->fn) {
		case DD_MA_COUNT: sl->v[k]++; break;
		case DD_MA_SUM: sl->v[k] = (int64_t)((uint64_t)sl->v[k] + (uint64_t)x); break;
		case DD_MA_MIN: sl->v[k] = sl->count == 0 || x < sl->v[k] ? x : sl->v[k]; break;
		case DD_MA_MAX: sl->v[k] = sl->count == 0 || x > sl->v[k] ? x : sl->v[k]; break;
		case DD_MA_FIRST: sl->v[k] = sl->count == 0 ? x : sl->v[k]; break;
		case DD_MA_LAST: sl->v[k] = x; break;
		case DD_MA_VWAP: {
			int64_t q = r->f[a->field2];
			if (x > 0 && q > 0) {
				sl->pq += (unsigned __int128)(uint64_t)x * (uint64_t)q;
				sl->q += (uint64_t)q;
			}
			break;
		}
		default: break;
		}
	}
	sl->count++;
}

static struct wslot *open_slot(struct wop *s, struct wblock *b, uint64_t start, uint64_t end, uint64_t idx)
{
	for (unsigned j = 0; j < DD_WINDOW_OPEN; j++)
		if (!b->slot[j].used) {
			struct wslot *sl = &b->slot[j];
			memset(sl, 0, sizeof(*sl));
			sl->used = 1;
			sl->start = start;
			sl->end = end;
			sl->idx = idx;
			if (!b->started) {
				b->started = 1;
				b->first_idx = idx;
			}
			return sl;
		}
	s->c[C_FULL]++;
	return NULL;
}

static void late(struct wop *s, unsigned wi, uint32_t key, const struct dd_mr_rec *r, uint64_t end, struct dd_emit *e)
{
	s->c[C_LATE]++;
	struct dd_output *o = dd_emit(e, DD_OUT_LATE, (uint16_t)wi);
	if (o == NULL)
		return;
	o->rule_version = (uint16_t)s->img->version;
	memcpy(o->symbol, &s->syms.sym[key], 8);
	o->u.late.window_end = end;
	o->u.late.watermark = s->wm;
	o->u.late.time = (uint64_t)r->f[DD_MF_TIME];
	o->u.late.window = (uint8_t)wi;
}

static void one_window(struct wop *s, unsigned wi, const struct dd_mr_rec *r, struct dd_emit *e)
{
	const struct dd_mr_window *w = &s->img->window[wi];
	struct wblock *b = wblock(s, r->key, wi);
	uint64_t t = (uint64_t)r->f[DD_MF_TIME];
	uint64_t wm = s->wm;
	if (w->kind == DD_MW_SESSION) {
		struct wslot *in = NULL;
		for (unsigned j = 0; j < DD_WINDOW_OPEN && in == NULL; j++) {
			struct wslot *sl = &b->slot[j];
			if (sl->used && t + w->size_ns > sl->start && t < sl->end)
				in = sl;
		}
		if (in == NULL) {
			if (t + w->size_ns + w->lateness_ns <= wm || (w->lateness_ns == 0 && t + w->size_ns <= wm)) {
				late(s, wi, r->key, r, t + w->size_ns, e);
				return;
			}
			in = open_slot(s, b, t, t + w->size_ns, b->sessions);
			if (in == NULL)
				return;
			b->sessions++;
		} else {
			if (t < in->start)
				in->start = t;
			if (t + w->size_ns > in->end)
				in->end = t + w->size_ns;
		}
		add(w, in, r);
		if (in->fired)
			fire(s, wi, r->key, b, in, true, e);
		arm(s, wi, r->key, b);
		return;
	}
	uint64_t last = t - t % w->slide_ns;
	uint64_t span = w->size_ns - w->slide_ns;
	uint64_t first = last >= span ? last - span : last % w->slide_ns;
	bool taken = false;
	for (uint64_t st = first; st <= last; st += w->slide_ns) {
		uint64_t end = st + w->size_ns;
		if (wm >= end + w->lateness_ns)
			continue; /* too late for this one */
		struct wslot *sl = NULL;
		for (unsigned j = 0; j < DD_WINDOW_OPEN && sl == NULL; j++)
			if (b->slot[j].used && b->slot[j].start == st)
				sl = &b->slot[j];
		if (sl == NULL && (sl = open_slot(s, b, st, end, st / w->slide_ns)) == NULL)
			continue;
		add(w, sl, r);
		taken = true;
		if (sl->fired)
			fire(s, wi, r->key, b, sl, true, e);
	}
	if (!taken && wm >= last + w->size_ns + w->lateness_ns)
		late(s, wi, r->key, r, last + w->size_ns, e);
	arm(s, wi, r->key, b);
}

void dd_window_record(void *state, const struct dd_mr_rec *r, struct dd_emit *e)
{
	struct wop *s = state;
	if (s->img == NULL)
		return;
	s->fired_now = 0;
	if (s->timers.n > 0 && s->timers.h[0].due <= s->wm)
		due(s, e); /* what an earlier call left */
	if (r->key == DD_SYMTAB_NONE) {
		s->c[C_NO_SYMBOL]++;
		return;
	}
	bool counted = false;
	for (unsigned i = 0; i < s->img->nwindows; i++)
		if (r->streams >> s->img->window[i].from & 1u) {
			if (!counted)
				s->c[C_RECORDS]++;
			counted = true;
			one_window(s, i, r, e);
		}
}

void dd_window_watermark(void *state, uint64_t wm, struct dd_emit *e)
{
	struct wop *s = state;
	if (wm > s->wm)
		s->wm = wm;
	if (s->img == NULL)
		return;
	s->fired_now = 0;
	due(s, e);
}

/* ---- the operator ------------------------------------------------------------------------------- */

static void window_apply(void *state, const struct dd_event *ev, struct dd_emit *e)
{
	struct wop *s = state;
	struct dd_mr_rec r;
	if (s->img == NULL)
		return;
	/* only what a window reads is a record here (directories bind symbols whatever) */
	static const uint32_t stream_of[DD_EV__COUNT] = {
		[DD_EV_ADD] = 1u << DD_MS_ORDER,	    [DD_EV_CANCEL] = 1u << DD_MS_CANCEL,
		[DD_EV_DELETE] = 1u << DD_MS_CANCEL,	    [DD_EV_TRADING_STATE] = 1u << DD_MS_HALT,
		[DD_EV_DIRECTORY] = UINT32_MAX,
	};
	if (ev->type >= DD_EV__COUNT || !(stream_of[ev->type] & (s->img->window_streams | (1u << 31))) ||
	    dd_mr_from_event(&s->syms, ev, &r) == 0) {
		s->fired_now = 0;
		if (s->timers.n > 0 && s->timers.h[0].due <= s->wm)
			due(s, e);
		return;
	}
	dd_window_record(s, &r, e);
}

static void window_consume(void *state, const struct dd_output *o, struct dd_emit *e)
{
	struct wop *s = state;
	struct dd_mr_rec r;
	if (s->img == NULL || !(s->img->window_streams & (o->type == DD_OUT_TRADE ? 1u << DD_MS_TRADE
										    : o->type == DD_OUT_BBO ? 1u << DD_MS_BBO : 0)))
		return;
	if (dd_mr_from_output(&s->syms, o, &r) == 0)
		return;
	dd_window_record(s, &r, e);
}

static void window_advance(void *state, uint64_t wm, struct dd_emit *e)
{
	dd_window_watermark(state, wm, e);
}

/* Windows due that one call's bound left (they fire at the next event or tick). */
static bool window_pending(const void *state)
{
	const struct wop *s = state;
	return s->img != NULL && s->timers.n > 0 && s->timers.h[0].due <= s->wm;
}

#define WINDOW_VERSION 1u

static int window_save(const void *state, dd_put_fn put, void *ctx)
{
	const struct wop *s = state;
	uint32_t h[2] = { WINDOW_VERSION, s->syms.n };
	int rc = put(ctx, h, sizeof(h));
	if (rc == 0)
		rc = put(ctx, &s->wm, sizeof(s->wm));
	if (rc == 0)
		rc = put(ctx, s->c, sizeof(s->c));
	if (rc == 0)
		rc = dd_symtab_save(&s->syms, put, ctx);
	if (rc == 0)
		rc = put(ctx, s->area, (size_t)s->syms.n * s->p.key_bytes);
	return rc;
}

static int window_load(void *state, dd_get_fn get, void *ctx)
{
	struct wop *s = state;
	uint32_t h[2];
	if (get(ctx, h, sizeof(h)) < 0 || h[0] != WINDOW_VERSION)
		return -EBADMSG;
	if (h[1] > s->p.keys)
		return -EINVAL;
	if (get(ctx, &s->wm, sizeof(s->wm)) < 0 || get(ctx, s->c, sizeof(s->c)) < 0)
		return -EBADMSG;
	if (dd_symtab_load(&s->syms, h[1], get, ctx) != 0 || get(ctx, s->area, (size_t)h[1] * s->p.key_bytes) < 0)
		return -EBADMSG;
	s->timers.n = 0;
	for (uint32_t k = 0; s->img != NULL && k < s->syms.n; k++)
		for (unsigned i = 0; i < s->img->nwindows; i++) {
			struct wblock *b = wblock(s, k, i);
			b->armed = 0;
			arm(s, i, k, b);
		}
	return 0;
}

static void window_counters(const void *state, uint64_t *v)
{
	const struct wop *s = state;
	memcpy(v, s->c, sizeof(s->c));
}

const struct dd_op_ops dd_window_op = {
	.name = "window",
	.id = DD_OP_WINDOW,
	.max_out = DD_WINDOW_FIRE_MAX + 17, /* what is due, and a record's late firings (16 overlaps) and late output */
	.memsize = window_memsize,
	.init = window_init,
	.apply = window_apply,
	.advance = window_advance,
	.pending = window_pending,
	.consume = window_consume,
	.save = window_save,
	.load = window_load,
	.ncounters = C__COUNT,
	.counter_names = window_counter_names,
	.counters = window_counters,
};
