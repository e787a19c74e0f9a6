/* SPDX-License-Identifier: MIT */
#include "ops/book/book.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * An order slot holds only what the hot path needs: the level it rests on knows the instrument,
 * side and price. 16 bytes, so four slots share a cache line and a probe rarely leaves it.
 * level == DD_BOOK_NIL marks an empty slot, so every reference, 0 included, is a valid key (real
 * feeds do carry an add with reference 0 now and then).
 */
struct dd_book_oslot {
	uint64_t ref;
	uint32_t shares;
	uint32_t level;
};
_Static_assert(sizeof(struct dd_book_oslot) == 16, "order slot is 16 bytes");

struct dd_book_lvl {
	uint32_t price;
	uint32_t orders;
	uint64_t shares;
	uint32_t prev;  /* towards the best price */
	uint32_t next;  /* towards the worst price; free-list link when unused */
	uint16_t instr;
	uint8_t side;
	uint8_t pad;
	uint32_t pad2;
};
_Static_assert(sizeof(struct dd_book_lvl) == 32, "level is 32 bytes");

/* key = instrument << 33 | side << 32 | price; instrument indices start at 1, so key != 0. */
struct dd_book_lslot {
	uint64_t key;
	uint32_t level;
	uint32_t pad;
};
_Static_assert(sizeof(struct dd_book_lslot) == 16, "level slot is 16 bytes");

/* Fibonacci hashing: the multiply spreads keys that differ only in their low bits. */
static inline uint64_t hash64(uint64_t k)
{
	return k * 0x9E3779B97F4A7C15ull;
}

/* The top bits of the product are the best mixed; mask = 2^bits - 1 selects the top `bits`. */
static inline uint64_t home(uint64_t k, uint64_t mask)
{
	return hash64(k) >> (64 - __builtin_popcountll(mask));
}

static inline uint64_t level_key(uint32_t instr, unsigned side, uint32_t price)
{
	return (uint64_t)instr << 33 | (uint64_t)side << 32 | price;
}

/*
 * Home slot of an order reference. ITCH assigns references in increasing order, and most orders
 * die young, so the orders a feed is working on have nearby references. Blocks of 256 consecutive
 * references therefore land on 256 consecutive slots (one 4 KiB page) at a hashed place: the live
 * set stays on few pages and cache lines, while strided references still spread over the table.
 */
static inline uint64_t order_home(uint64_t ref, uint64_t mask)
{
	return (home(ref >> 8, mask) + (ref & 255)) & mask;
}


#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)
#define LOCATES 65536u

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

struct layout {
	size_t map, instr, orders, ltab, lvl, total;
	uint64_t order_slots, level_slots;
};

static int compute_layout(const struct dd_book_params *p, struct layout *l)
{
	if (p->max_instruments == 0 || p->max_instruments > DD_BOOK_MAX_INSTRUMENTS ||
	    p->max_orders == 0 || p->max_levels < 2 || p->max_levels >= DD_BOOK_NIL)
		return -EINVAL;
	l->order_slots = pow2_at_least((uint64_t)p->max_orders * 2);
	l->level_slots = pow2_at_least((uint64_t)p->max_levels * 2);
	size_t off = 0;
	l->map = off;
	off = ALIGN64(off + LOCATES * sizeof(uint16_t));
	l->instr = off;
	off = ALIGN64(off + ((size_t)p->max_instruments + 1) * sizeof(struct dd_book_instr));
	l->orders = off;
	off = ALIGN64(off + l->order_slots * sizeof(struct dd_book_oslot));
	l->ltab = off;
	off = ALIGN64(off + l->level_slots * sizeof(struct dd_book_lslot));
	l->lvl = off;
	off = ALIGN64(off + (size_t)p->max_levels * sizeof(struct dd_book_lvl));
	l->total = off;
	return 0;
}

size_t dd_book_memsize(const struct dd_book_params *p)
{
	struct layout l;
	return compute_layout(p, &l) == 0 ? l.total : 0;
}

int dd_book_init(struct dd_book *b, void *mem, size_t len, const struct dd_book_params *p)
{
	struct layout l;
	if (compute_layout(p, &l) != 0 || mem == NULL || len < l.total)
		return -EINVAL;
	uint8_t *m = mem;
	memset(b, 0, sizeof(*b));
	b->params = *p;
	b->instr_of_locate = (uint16_t *)(void *)(m + l.map);
	b->instr = (struct dd_book_instr *)(void *)(m + l.instr);
	b->orders = (struct dd_book_oslot *)(void *)(m + l.orders);
	b->order_mask = l.order_slots - 1;
	b->ltab = (struct dd_book_lslot *)(void *)(m + l.ltab);
	b->ltab_mask = l.level_slots - 1;
	b->lvl = (struct dd_book_lvl *)(void *)(m + l.lvl);
	memset(m, 0, l.orders);
	memset(m + l.orders, 0xff, l.ltab - l.orders); /* every order slot empty: level = DD_BOOK_NIL */
	memset(m + l.ltab, 0, l.lvl - l.ltab);
	for (uint32_t i = 0; i < p->max_levels; i++)
		b->lvl[i] = (struct dd_book_lvl){ .next = i + 1 < p->max_levels ? i + 1 : DD_BOOK_NIL,
						  .prev = DD_BOOK_NIL };
	b->lvl_free = 0;
	return 0;
}

/* ---- order table --------------------------------------------------------------------------- */

static inline bool slot_used(const struct dd_book_oslot *s)
{
	return s->level != DD_BOOK_NIL;
}

/*
 * The order table is Robin Hood hashed: along a probe sequence, entries are ordered by their
 * distance from home, so a lookup stops as soon as it meets an entry nearer its home than the key
 * would be, and a deletion shifts back only until an entry sits at its home. That matters here:
 * order_home() puts consecutive references on consecutive slots, so live orders form long
 * runs in which nearly every entry is at its home; plain linear probing would walk each run to its
 * end on every delete.
 */
static inline uint64_t order_dist(uint64_t i, uint64_t ref, uint64_t mask)
{
	return (i - order_home(ref, mask)) & mask;
}

/* Slot holding `ref`, or NULL. */
static inline struct dd_book_oslot *order_find(const struct dd_book *b, uint64_t ref)
{
	const uint64_t mask = b->order_mask;
	uint64_t i = order_home(ref, mask);
	for (uint64_t d = 0;; d++, i = (i + 1) & mask) {
		struct dd_book_oslot *s = &b->orders[i];
		if (!slot_used(s) || order_dist(i, s->ref, mask) < d)
			return NULL;
		if (s->ref == ref)
			return s;
	}
}

void dd_book_prefetch(const struct dd_book *b, const struct dd_event *ev, bool level)
{
	switch (ev->type) {
	case DD_EV_ADD: case DD_EV_EXEC: case DD_EV_EXEC_PRICE: case DD_EV_CANCEL: case DD_EV_DELETE:
	case DD_EV_REPLACE:
		break; /* each starts with the order's reference */
	default:
		return;
	}
	uint64_t ref = ev->u.del.ref;
	const struct dd_book_oslot *s = &b->orders[order_home(ref, b->order_mask)];
	if (!level)
		__builtin_prefetch(s);
	else if (ev->type != DD_EV_ADD && slot_used(s) && s->ref == ref)
		__builtin_prefetch(&b->lvl[s->level]);
}

/* Insert an order known to be absent; the table is never full (load factor <= 1/2). */
static void order_insert(struct dd_book *b, uint64_t ref, uint32_t shares, uint32_t level)
{
	const uint64_t mask = b->order_mask;
	struct dd_book_oslot e = { ref, shares, level };
	uint64_t i = order_home(ref, mask);
	for (uint64_t d = 0;; d++, i = (i + 1) & mask) {
		struct dd_book_oslot *s = &b->orders[i];
		if (!slot_used(s)) {
			*s = e;
			return;
		}
		uint64_t sd = order_dist(i, s->ref, mask);
		if (sd < d) { /* the resident is richer: it moves on, we take its place */
			struct dd_book_oslot t = *s;
			*s = e;
			e = t;
			d = sd;
		}
	}
}

/* Backward-shift deletion: pull the following entries back one slot until one is at its home. */
static void order_erase(struct dd_book *b, struct dd_book_oslot *s)
{
	const uint64_t mask = b->order_mask;
	uint64_t hole = (uint64_t)(s - b->orders);
	for (;;) {
		uint64_t j = (hole + 1) & mask;
		struct dd_book_oslot *e = &b->orders[j];
		if (!slot_used(e) || order_dist(j, e->ref, mask) == 0)
			break;
		b->orders[hole] = *e;
		hole = j;
	}
	b->orders[hole].level = DD_BOOK_NIL;
}

/* ---- level table --------------------------------------------------------------------------- */

static inline struct dd_book_lslot *ltab_probe(const struct dd_book *b, uint64_t key)
{
	uint64_t i = home(key, b->ltab_mask);
	for (;;) {
		struct dd_book_lslot *s = &b->ltab[i];
		if (s->key == key || s->key == 0)
			return s;
		i = (i + 1) & b->ltab_mask;
	}
}

static void ltab_erase(struct dd_book *b, struct dd_book_lslot *s)
{
	const uint64_t mask = b->ltab_mask;
	uint64_t hole = (uint64_t)(s - b->ltab);
	uint64_t j = hole;
	for (;;) {
		j = (j + 1) & mask;
		struct dd_book_lslot *e = &b->ltab[j];
		if (e->key == 0)
			break;
		uint64_t h = home(e->key, mask);
		if (((j - h) & mask) >= ((j - hole) & mask)) {
			b->ltab[hole] = *e;
			hole = j;
		}
	}
	b->ltab[hole].key = 0;
}

/* ---- price levels -------------------------------------------------------------------------- */

/* Is price p better than q on side s? Bids: higher is better; asks: lower is better. */
static inline bool better(unsigned s, uint32_t p, uint32_t q)
{
	return s == DD_BOOK_BID ? p > q : p < q;
}

/* Link new level `li` into its side's price-ordered list. */
static void level_link(struct dd_book *b, struct dd_book_side *sd, uint32_t li)
{
	struct dd_book_lvl *l = &b->lvl[li];
	const unsigned s = l->side;
	const uint32_t p = l->price;
	uint32_t before; /* the level that will follow li, DD_BOOK_NIL for the tail */

	if (sd->best == DD_BOOK_NIL) {
		l->prev = l->next = DD_BOOK_NIL;
		sd->best = sd->worst = li;
		sd->nlevels = 1;
		return;
	}
	if (better(s, p, b->lvl[sd->best].price)) {
		before = sd->best;
	} else if (better(s, b->lvl[sd->worst].price, p)) {
		before = DD_BOOK_NIL;
	} else {
		/* Strictly between best and worst: walk from the end nearer in price. */
		uint32_t pb = b->lvl[sd->best].price, pw = b->lvl[sd->worst].price;
		uint32_t db = pb > p ? pb - p : p - pb;
		uint32_t dw = pw > p ? pw - p : p - pw;
		if (db <= dw) {
			before = b->lvl[sd->best].next;
			while (better(s, b->lvl[before].price, p))
				before = b->lvl[before].next;
		} else {
			uint32_t after = b->lvl[sd->worst].prev;
			while (better(s, p, b->lvl[after].price))
				after = b->lvl[after].prev;
			before = b->lvl[after].next;
		}
	}
	uint32_t after = before == DD_BOOK_NIL ? sd->worst : b->lvl[before].prev;
	l->next = before;
	l->prev = after;
	if (after == DD_BOOK_NIL)
		sd->best = li;
	else
		b->lvl[after].next = li;
	if (before == DD_BOOK_NIL)
		sd->worst = li;
	else
		b->lvl[before].prev = li;
	sd->nlevels++;
}

/* Level for (instrument, side, price), created if absent; DD_BOOK_NIL if the pool is empty. */
static uint32_t level_get(struct dd_book *b, uint32_t ii, unsigned side, uint32_t price)
{
	uint64_t key = level_key(ii, side, price);
	struct dd_book_lslot *ls = ltab_probe(b, key);
	if (ls->key == key)
		return ls->level;
	if (b->lvl_free == DD_BOOK_NIL)
		return DD_BOOK_NIL;
	uint32_t li = b->lvl_free;
	struct dd_book_lvl *l = &b->lvl[li];
	b->lvl_free = l->next;
	*l = (struct dd_book_lvl){ .price = price, .instr = (uint16_t)ii, .side = (uint8_t)side };
	ls->key = key;
	ls->level = li;
	level_link(b, &b->instr[ii].side[side], li);
	b->nlevels++;
	return li;
}

static void level_free(struct dd_book *b, uint32_t li)
{
	struct dd_book_lvl *l = &b->lvl[li];
	struct dd_book_side *sd = &b->instr[l->instr].side[l->side];
	if (l->prev == DD_BOOK_NIL)
		sd->best = l->next;
	else
		b->lvl[l->prev].next = l->next;
	if (l->next == DD_BOOK_NIL)
		sd->worst = l->prev;
	else
		b->lvl[l->next].prev = l->prev;
	sd->nlevels--;
	ltab_erase(b, ltab_probe(b, level_key(l->instr, l->side, l->price)));
	l->next = b->lvl_free;
	l->prev = DD_BOOK_NIL;
	b->lvl_free = li;
	b->nlevels--;
}

/* The best level of one side as an output shows it (all zero: the side is empty). */
struct top {
	uint32_t price;
	uint32_t orders;
	uint64_t shares;
};

static inline struct top top_of(const struct dd_book *b, uint32_t ii, unsigned side)
{
	uint32_t li = b->instr[ii].side[side].best;
	if (li == DD_BOOK_NIL)
		return (struct top){ 0, 0, 0 };
	const struct dd_book_lvl *l = &b->lvl[li];
	return (struct top){ l->price, l->orders, l->shares };
}

/* DD_BOOK_{BID,ASK}_CHANGED if the side's top differs between `a` and `z`: exactly when an output
 * would differ (a replace at the best price with the same size changes nothing). */
static inline unsigned top_changed(struct top a, struct top z, unsigned side)
{
	if (a.price == z.price && a.orders == z.orders && a.shares == z.shares)
		return 0;
	return side == DD_BOOK_BID ? DD_BOOK_BID_CHANGED : DD_BOOK_ASK_CHANGED;
}

/* ---- instruments --------------------------------------------------------------------------- */

/* Instrument index for `locate`, created if new; 0 if the instrument table is full. */
static uint32_t instr_get(struct dd_book *b, uint16_t locate)
{
	uint32_t ii = b->instr_of_locate[locate];
	if (ii != 0)
		return ii;
	if (b->ninstr == b->params.max_instruments) {
		b->stats.instrument_overflow++;
		return 0;
	}
	ii = ++b->ninstr;
	struct dd_book_instr *in = &b->instr[ii];
	memset(in, 0, sizeof(*in));
	memset(in->symbol, ' ', sizeof(in->symbol));
	memset(in->halt_reason, ' ', sizeof(in->halt_reason));
	in->locate = locate;
	for (unsigned s = 0; s < 2; s++)
		in->side[s] = (struct dd_book_side){ DD_BOOK_NIL, DD_BOOK_NIL, 0 };
	b->instr_of_locate[locate] = (uint16_t)ii;
	return ii;
}

static void name_if_unknown(struct dd_book_instr *in, const char stock[8])
{
	static const char blank[8] = "        ";
	if (memcmp(in->symbol, blank, 8) == 0)
		memcpy(in->symbol, stock, 8);
}

/* ---- event handlers ------------------------------------------------------------------------ */

static unsigned add_order(struct dd_book *b, uint16_t locate, uint64_t ref, uint8_t side_char,
			  uint32_t shares, uint32_t price, const char *stock)
{
	unsigned side = side_char == DD_SIDE_BUY ? DD_BOOK_BID : DD_BOOK_ASK;
	if ((side_char != DD_SIDE_BUY && side_char != DD_SIDE_SELL) || shares == 0) {
		b->stats.bad_order++;
		return DD_BOOK_REJECTED;
	}
	if (order_find(b, ref) != NULL) {
		b->stats.duplicate_ref++;
		return DD_BOOK_REJECTED;
	}
	if (b->norders == b->params.max_orders) {
		b->stats.order_overflow++;
		return DD_BOOK_REJECTED;
	}
	uint32_t ii = instr_get(b, locate);
	if (ii == 0)
		return DD_BOOK_REJECTED;
	if (stock != NULL)
		name_if_unknown(&b->instr[ii], stock);
	struct top before = top_of(b, ii, side);
	uint32_t li = level_get(b, ii, side, price);
	if (li == DD_BOOK_NIL) {
		b->stats.level_overflow++;
		return DD_BOOK_REJECTED;
	}
	struct dd_book_lvl *l = &b->lvl[li];
	l->orders++;
	l->shares += shares;
	order_insert(b, ref, shares, li);
	b->norders++;
	b->instr[ii].orders++;
	b->stats.adds++;
	return top_changed(before, top_of(b, ii, side), side);
}

/* Remove `shares` (<= the order's remaining) from the order in slot `os`; the order goes at 0. */
static unsigned reduce_order(struct dd_book *b, struct dd_book_oslot *os, uint32_t shares)
{
	uint32_t li = os->level;
	struct dd_book_lvl *l = &b->lvl[li];
	const uint32_t ii = l->instr;
	const unsigned side = l->side;
	struct top before = top_of(b, ii, side);
	l->shares -= shares;
	os->shares -= shares;
	if (os->shares == 0) {
		l->orders--;
		b->instr[l->instr].orders--;
		b->norders--;
		order_erase(b, os);
		if (l->orders == 0)
			level_free(b, li);
	}
	return top_changed(before, top_of(b, ii, side), side);
}

/* Shares actually removable by an execution or cancel of `want`, counting over-execution. */
static inline uint32_t clamp_shares(struct dd_book *b, const struct dd_book_oslot *os, uint32_t want)
{
	if (want > os->shares) {
		b->stats.overexecuted++;
		return os->shares;
	}
	return want;
}

static void count_trade(struct dd_book_instr *in, uint64_t shares, uint32_t price)
{
	in->volume += shares;
	in->trades++;
	in->last_price = price;
}

static unsigned on_exec(struct dd_book *b, const struct dd_event *ev)
{
	const struct dd_ev_exec *e = &ev->u.exec;
	struct dd_book_oslot *os = order_find(b, e->ref);
	if (os == NULL) {
		b->stats.unknown_ref++;
		return DD_BOOK_REJECTED;
	}
	const struct dd_book_lvl *l = &b->lvl[os->level];
	struct dd_book_instr *in = &b->instr[l->instr];
	uint32_t price = ev->type == DD_EV_EXEC_PRICE ? e->price : l->price;
	uint32_t n = clamp_shares(b, os, e->shares);
	unsigned flags = reduce_order(b, os, n);
	b->stats.executions++;
	if (ev->type == DD_EV_EXEC || e->printable == 'Y') {
		count_trade(in, n, price);
		flags |= DD_BOOK_TRADED;
	}
	return flags;
}

static unsigned on_cancel(struct dd_book *b, const struct dd_event *ev)
{
	struct dd_book_oslot *os = order_find(b, ev->u.cancel.ref);
	if (os == NULL) {
		b->stats.unknown_ref++;
		return DD_BOOK_REJECTED;
	}
	b->stats.cancels++;
	return reduce_order(b, os, clamp_shares(b, os, ev->u.cancel.shares));
}

static unsigned on_delete(struct dd_book *b, const struct dd_event *ev)
{
	struct dd_book_oslot *os = order_find(b, ev->u.del.ref);
	if (os == NULL) {
		b->stats.unknown_ref++;
		return DD_BOOK_REJECTED;
	}
	b->stats.deletes++;
	return reduce_order(b, os, os->shares);
}

static unsigned on_replace(struct dd_book *b, const struct dd_event *ev)
{
	const struct dd_ev_replace *r = &ev->u.replace;
	struct dd_book_oslot *os = order_find(b, r->ref);
	if (os == NULL) {
		b->stats.unknown_ref++;
		return DD_BOOK_REJECTED;
	}
	if (r->shares == 0) {
		b->stats.bad_order++;
		return DD_BOOK_REJECTED;
	}
	if (r->new_ref != r->ref && order_find(b, r->new_ref) != NULL) {
		b->stats.duplicate_ref++;
		return DD_BOOK_REJECTED;
	}
	const struct dd_book_lvl *l = &b->lvl[os->level];
	uint16_t locate = b->instr[l->instr].locate;
	uint8_t side = l->side == DD_BOOK_BID ? DD_SIDE_BUY : DD_SIDE_SELL;
	/*
	 * The delete frees an order slot, so the add that follows never overflows the order table.
	 * It can still need a new level while the old one keeps other orders: with the level pool
	 * full, the add is refused (level_overflow) and the order is gone from the book rather than
	 * left at a price the exchange no longer shows.
	 */
	const uint32_t ii = l->instr;
	const unsigned sd = l->side;
	struct top before = top_of(b, ii, sd);
	reduce_order(b, os, os->shares);
	unsigned added = add_order(b, locate, r->new_ref, side, r->shares, r->price, NULL);
	if (!(added & DD_BOOK_REJECTED))
		b->stats.adds--; /* the add half of a replace is not an add message */
	b->stats.replaces++;
	/* one change from before the delete to after the add: a replace that leaves the top as it
	 * was is no change */
	return top_changed(before, top_of(b, ii, sd), sd) | (added & DD_BOOK_REJECTED);
}

unsigned dd_book_apply(struct dd_book *b, const struct dd_event *ev)
{
	b->stats.events++;
	switch (ev->type) {
	case DD_EV_ADD:
		return add_order(b, (uint16_t)ev->key, ev->u.add.ref, ev->u.add.side, ev->u.add.shares,
				 ev->u.add.price, ev->u.add.stock);
	case DD_EV_EXEC:
	case DD_EV_EXEC_PRICE:
		return on_exec(b, ev);
	case DD_EV_CANCEL:
		return on_cancel(b, ev);
	case DD_EV_DELETE:
		return on_delete(b, ev);
	case DD_EV_REPLACE:
		return on_replace(b, ev);
	case DD_EV_TRADE: {
		b->stats.trades++;
		uint32_t ii = instr_get(b, (uint16_t)ev->key);
		if (ii == 0)
			return DD_BOOK_REJECTED;
		count_trade(&b->instr[ii], ev->u.trade.shares, ev->u.trade.price);
		return DD_BOOK_TRADED;
	}
	case DD_EV_CROSS: {
		b->stats.crosses++;
		uint32_t ii = instr_get(b, (uint16_t)ev->key);
		if (ii == 0)
			return DD_BOOK_REJECTED;
		if (ev->u.cross.shares == 0)
			return 0;
		count_trade(&b->instr[ii], ev->u.cross.shares, ev->u.cross.price);
		return DD_BOOK_TRADED;
	}
	case DD_EV_BROKEN:
		b->stats.broken++;
		return 0;
	case DD_EV_DIRECTORY: {
		uint32_t ii = instr_get(b, (uint16_t)ev->key);
		if (ii == 0)
			return DD_BOOK_REJECTED;
		struct dd_book_instr *in = &b->instr[ii];
		const struct dd_ev_directory *d = &ev->u.directory;
		memcpy(in->symbol, d->stock, sizeof(in->symbol));
		in->in_directory = 1;
		in->round_lot_size = d->round_lot_size;
		in->market_category = d->market_category;
		in->financial_status = d->financial_status;
		return 0;
	}
	case DD_EV_TRADING_STATE: {
		uint32_t ii = instr_get(b, (uint16_t)ev->key);
		if (ii == 0)
			return DD_BOOK_REJECTED;
		struct dd_book_instr *in = &b->instr[ii];
		name_if_unknown(in, ev->u.trading_state.stock);
		in->trading_state = ev->u.trading_state.state;
		memcpy(in->halt_reason, ev->u.trading_state.reason, sizeof(in->halt_reason));
		return 0;
	}
	case DD_EV_SYSTEM:
		b->last_system_event = ev->u.system.event_code;
		return 0;
	default:
		return 0;
	}
}

/* ---- queries ------------------------------------------------------------------------------- */

const struct dd_book_instr *dd_book_find(const struct dd_book *b, uint16_t locate)
{
	uint32_t ii = b->instr_of_locate[locate];
	return ii == 0 ? NULL : &b->instr[ii];
}

static inline void level_view(const struct dd_book_lvl *l, struct dd_book_level *out)
{
	out->price = l->price;
	out->orders = l->orders;
	out->shares = l->shares;
}

bool dd_book_best(const struct dd_book *b, const struct dd_book_instr *in, unsigned side,
		  struct dd_book_level *out)
{
	uint32_t li = in->side[side & 1].best;
	if (li == DD_BOOK_NIL)
		return false;
	level_view(&b->lvl[li], out);
	return true;
}

unsigned dd_book_depth(const struct dd_book *b, const struct dd_book_instr *in, unsigned side,
		       struct dd_book_level *out, unsigned max)
{
	unsigned n = 0;
	for (uint32_t li = in->side[side & 1].best; li != DD_BOOK_NIL && n < max; li = b->lvl[li].next)
		level_view(&b->lvl[li], &out[n++]);
	return n;
}

bool dd_book_order(const struct dd_book *b, uint64_t ref, struct dd_book_order_view *out)
{
	const struct dd_book_oslot *os = order_find(b, ref);
	if (os == NULL)
		return false;
	const struct dd_book_lvl *l = &b->lvl[os->level];
	out->ref = ref;
	out->shares = os->shares;
	out->price = l->price;
	out->locate = b->instr[l->instr].locate;
	out->side = l->side == DD_BOOK_BID ? DD_SIDE_BUY : DD_SIDE_SELL;
	return true;
}

/* ---- outputs ------------------------------------------------------------------------------- */

bool dd_book_bbo(const struct dd_book *b, const struct dd_event *ev, struct dd_out_bbo *out)
{
	const struct dd_book_instr *in = NULL;
	if (ev->type == DD_EV_EXEC || ev->type == DD_EV_EXEC_PRICE || ev->type == DD_EV_CANCEL ||
	    ev->type == DD_EV_DELETE || ev->type == DD_EV_REPLACE || ev->type == DD_EV_ADD)
		in = dd_book_find(b, (uint16_t)ev->key);
	if (in == NULL)
		return false;
	struct dd_book_level bid = { 0, 0, 0 }, ask = { 0, 0, 0 };
	dd_book_best(b, in, DD_BOOK_BID, &bid);
	dd_book_best(b, in, DD_BOOK_ASK, &ask);
	out->bid_price = bid.price;
	out->ask_price = ask.price;
	out->bid_shares = bid.shares;
	out->ask_shares = ask.shares;
	out->bid_orders = bid.orders;
	out->ask_orders = ask.orders;
	out->locate = in->locate;
	return true;
}

/* ---- snapshots ----------------------------------------------------------------------------- */

/*
 * Snapshot layout (little-endian, every field fixed width, no padding left undefined):
 *   header      u32 magic 'DDBK', u32 version 1, u32 max_instruments, u32 max_orders,
 *               u32 max_levels, u32 ninstr, u32 norders, u8 last_system_event, 3 zero bytes,
 *               then struct dd_book_stats as consecutive u64
 *   instruments ninstr x 48 bytes: symbol[8], u16 locate, u8 trading_state, u8 in_directory,
 *               halt_reason[4], u32 round_lot_size, u8 market_category, u8 financial_status,
 *               2 zero bytes, u64 volume, u64 trades, u32 last_price, 4 zero bytes
 *   orders      norders x 24 bytes: u64 ref, u32 shares, u32 price, u16 locate, u8 side ('B'/'S'),
 *               5 zero bytes
 * Levels are not saved: loading re-adds the orders, which rebuilds them.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "snapshots are written in host order = little-endian");

#define SNAP_MAGIC 0x4b424444u /* "DDBK" */
#define SNAP_VERSION 1u

struct snap_head {
	uint32_t magic, version, max_instruments, max_orders, max_levels, ninstr, norders;
	uint8_t last_system_event, pad[3];
	struct dd_book_stats stats;
};
struct snap_instr {
	char symbol[8];
	uint16_t locate;
	uint8_t trading_state, in_directory;
	char halt_reason[4];
	uint32_t round_lot_size;
	uint8_t market_category, financial_status, pad[2];
	uint64_t volume, trades;
	uint32_t last_price, pad2;
};
struct snap_order {
	uint64_t ref;
	uint32_t shares, price;
	uint16_t locate;
	uint8_t side, pad[5];
};
_Static_assert(sizeof(struct snap_head) == 32 + sizeof(struct dd_book_stats), "snapshot header layout");
_Static_assert(sizeof(struct snap_instr) == 48, "snapshot instrument layout");
_Static_assert(sizeof(struct snap_order) == 24, "snapshot order layout");

int dd_book_save(const struct dd_book *b, int (*put)(void *ctx, const void *p, size_t n), void *ctx)
{
	struct snap_head h;
	memset(&h, 0, sizeof(h));
	h.magic = SNAP_MAGIC;
	h.version = SNAP_VERSION;
	h.max_instruments = b->params.max_instruments;
	h.max_orders = b->params.max_orders;
	h.max_levels = b->params.max_levels;
	h.ninstr = b->ninstr;
	h.norders = b->norders;
	h.last_system_event = b->last_system_event;
	h.stats = b->stats;
	int rc = put(ctx, &h, sizeof(h));
	for (uint32_t i = 1; rc >= 0 && i <= b->ninstr; i++) {
		const struct dd_book_instr *in = &b->instr[i];
		struct snap_instr si;
		memset(&si, 0, sizeof(si));
		memcpy(si.symbol, in->symbol, sizeof(si.symbol));
		si.locate = in->locate;
		si.trading_state = in->trading_state;
		si.in_directory = in->in_directory;
		memcpy(si.halt_reason, in->halt_reason, sizeof(si.halt_reason));
		si.round_lot_size = in->round_lot_size;
		si.market_category = in->market_category;
		si.financial_status = in->financial_status;
		si.volume = in->volume;
		si.trades = in->trades;
		si.last_price = in->last_price;
		rc = put(ctx, &si, sizeof(si));
	}
	for (uint64_t i = 0; rc >= 0 && i <= b->order_mask; i++) {
		const struct dd_book_oslot *os = &b->orders[i];
		if (!slot_used(os))
			continue;
		const struct dd_book_lvl *l = &b->lvl[os->level];
		struct snap_order so;
		memset(&so, 0, sizeof(so));
		so.ref = os->ref;
		so.shares = os->shares;
		so.price = l->price;
		so.locate = b->instr[l->instr].locate;
		so.side = l->side == DD_BOOK_BID ? DD_SIDE_BUY : DD_SIDE_SELL;
		rc = put(ctx, &so, sizeof(so));
	}
	return rc < 0 ? rc : 0;
}

int dd_book_load(struct dd_book *b, int (*get)(void *ctx, void *p, size_t n), void *ctx)
{
	struct snap_head h;
	int rc = get(ctx, &h, sizeof(h));
	if (rc < 0)
		return rc;
	if (h.magic != SNAP_MAGIC || h.version != SNAP_VERSION)
		return -EBADMSG;
	if (h.ninstr > b->params.max_instruments || h.norders > b->params.max_orders || b->ninstr != 0 ||
	    b->norders != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < h.ninstr; i++) {
		struct snap_instr si;
		if ((rc = get(ctx, &si, sizeof(si))) < 0)
			return rc;
		if (b->instr_of_locate[si.locate] != 0)
			return -EBADMSG; /* the same locate twice */
		uint32_t ii = instr_get(b, si.locate);
		struct dd_book_instr *in = &b->instr[ii];
		memcpy(in->symbol, si.symbol, sizeof(in->symbol));
		in->trading_state = si.trading_state;
		in->in_directory = si.in_directory;
		memcpy(in->halt_reason, si.halt_reason, sizeof(in->halt_reason));
		in->round_lot_size = si.round_lot_size;
		in->market_category = si.market_category;
		in->financial_status = si.financial_status;
		in->volume = si.volume;
		in->trades = si.trades;
		in->last_price = si.last_price;
	}
	for (uint32_t i = 0; i < h.norders; i++) {
		struct snap_order so;
		if ((rc = get(ctx, &so, sizeof(so))) < 0)
			return rc;
		if (b->instr_of_locate[so.locate] == 0 || (so.side != DD_SIDE_BUY && so.side != DD_SIDE_SELL) ||
		    so.shares == 0)
			return -EBADMSG;
		if (add_order(b, so.locate, so.ref, so.side, so.shares, so.price, NULL) & DD_BOOK_REJECTED)
			return order_find(b, so.ref) != NULL ? -EBADMSG : -EINVAL; /* duplicate, or no room */
	}
	b->last_system_event = h.last_system_event;
	b->stats = h.stats; /* the re-adds above counted; the saved counters are the truth */
	return 0;
}

/* ---- invariant check (tests and offline tools only) ---------------------------------------- */

#define FAIL(...)                                                   \
	do {                                                        \
		if (why != NULL)                                    \
			snprintf(why, whylen, __VA_ARGS__);         \
		rc = -EFAULT;                                       \
		goto out;                                           \
	} while (0)

int dd_book_check(const struct dd_book *b, char *why, size_t whylen)
{
	const uint32_t nl = b->params.max_levels;
	uint64_t *shares = calloc(nl, sizeof(*shares));
	uint32_t *orders = calloc(nl, sizeof(*orders));
	uint32_t *iorders = calloc((size_t)b->params.max_instruments + 1, sizeof(*iorders));
	uint8_t *linked = calloc(nl, 1);
	int rc = 0;
	if (shares == NULL || orders == NULL || iorders == NULL || linked == NULL)
		FAIL("out of memory");

	uint64_t norders = 0;
	for (uint64_t i = 0; i <= b->order_mask; i++) {
		const struct dd_book_oslot *s = &b->orders[i];
		if (!slot_used(s))
			continue;
		norders++;
		if (s->level >= nl)
			FAIL("order %llu: level %u out of range", (unsigned long long)s->ref, s->level);
		if (s->shares == 0)
			FAIL("order %llu has 0 shares", (unsigned long long)s->ref);
		if (order_find(b, s->ref) != s)
			FAIL("order %llu unreachable from its home slot", (unsigned long long)s->ref);
		uint64_t prev = (i - 1) & b->order_mask;
		if (order_dist(i, s->ref, b->order_mask) > 0 &&
		    (!slot_used(&b->orders[prev]) ||
		     order_dist(prev, b->orders[prev].ref, b->order_mask) + 1 < order_dist(i, s->ref, b->order_mask)))
			FAIL("order %llu breaks the Robin Hood order of its probe run", (unsigned long long)s->ref);
		shares[s->level] += s->shares;
		orders[s->level]++;
		iorders[b->lvl[s->level].instr]++;
	}
	if (norders != b->norders)
		FAIL("order table holds %llu orders, count says %u", (unsigned long long)norders, b->norders);

	uint64_t nlevels = 0;
	for (uint32_t ii = 1; ii <= b->ninstr; ii++) {
		const struct dd_book_instr *in = &b->instr[ii];
		if (b->instr_of_locate[in->locate] != ii)
			FAIL("instrument %u: locate %u maps elsewhere", ii, in->locate);
		if (iorders[ii] != in->orders)
			FAIL("instrument %u: %u orders in table, count says %u", ii, iorders[ii], in->orders);
		for (unsigned s = 0; s < 2; s++) {
			const struct dd_book_side *sd = &in->side[s];
			uint32_t n = 0, prev = DD_BOOK_NIL;
			for (uint32_t li = sd->best; li != DD_BOOK_NIL; prev = li, li = b->lvl[li].next) {
				const struct dd_book_lvl *l = &b->lvl[li];
				if (li >= nl || linked[li] || ++n > nl)
					FAIL("instrument %u side %u: level list is corrupt", ii, s);
				linked[li] = 1;
				if (l->prev != prev || l->instr != ii || l->side != s)
					FAIL("level %u: bad links or owner", li);
				if (prev != DD_BOOK_NIL && !better(s, b->lvl[prev].price, l->price))
					FAIL("instrument %u side %u: prices not strictly ordered", ii, s);
				if (l->orders == 0 || l->orders != orders[li] || l->shares != shares[li])
					FAIL("level %u (price %u): %u orders/%llu shares, orders sum to %u/%llu", li,
					     l->price, l->orders, (unsigned long long)l->shares, orders[li],
					     (unsigned long long)shares[li]);
				const struct dd_book_lslot *ls = ltab_probe(b, level_key(ii, s, l->price));
				if (ls->key == 0 || ls->level != li)
					FAIL("level %u not found in the level table", li);
			}
			if (sd->worst != prev || sd->nlevels != n)
				FAIL("instrument %u side %u: worst/count disagree with the list", ii, s);
			nlevels += n;
		}
	}
	if (nlevels != b->nlevels)
		FAIL("%llu levels linked, count says %u", (unsigned long long)nlevels, b->nlevels);
	uint64_t nslots = 0;
	for (uint64_t i = 0; i <= b->ltab_mask; i++)
		if (b->ltab[i].key != 0)
			nslots++;
	if (nslots != b->nlevels)
		FAIL("level table holds %llu keys for %u levels", (unsigned long long)nslots, b->nlevels);
	uint64_t nfree = 0;
	for (uint32_t li = b->lvl_free; li != DD_BOOK_NIL && nfree <= nl; li = b->lvl[li].next)
		nfree++;
	if (nfree + b->nlevels != nl)
		FAIL("%llu free + %u live levels != %u", (unsigned long long)nfree, b->nlevels, nl);
out:
	free(shares);
	free(orders);
	free(iorders);
	free(linked);
	return rc;
}
