/* SPDX-License-Identifier: MIT */
#include "bench/peer_book.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LOCATES 65536u
#define FIRST_LEVELS 16u

/* 32 bytes: one malloc chunk of 48 with glibc's header. */
struct dd_peer_order {
	struct dd_peer_order *next;
	uint64_t ref;
	uint32_t shares;
	uint32_t price;
	uint16_t locate;
	uint8_t side; /* DD_PEER_BID or DD_PEER_ASK */
};

/*
 * The bucket is the reference masked, no mixing: ITCH references grow in small steps, so the live
 * orders spread over consecutive buckets with chains of about one. A Fibonacci multiplicative hash
 * was measured about 5% slower for the peer in bench_feed, so the peer keeps the faster choice.
 */
static inline uint64_t bucket_of(const struct dd_peer_book *b, uint64_t ref)
{
	return ref & b->mask;
}

int dd_peer_book_init(struct dd_peer_book *b, uint64_t expected_orders)
{
	if (expected_orders == 0 || expected_orders > (1ull << 31))
		return -EINVAL;
	uint64_t n = 1;
	while (n < expected_orders)
		n <<= 1;
	memset(b, 0, sizeof(*b));
	b->mask = n - 1;
	b->bucket = calloc(n, sizeof(*b->bucket));
	b->instr = calloc(LOCATES, sizeof(*b->instr));
	if (b->bucket == NULL || b->instr == NULL) {
		free(b->bucket);
		free(b->instr);
		return -ENOMEM;
	}
	return 0;
}

void dd_peer_book_fini(struct dd_peer_book *b)
{
	for (uint64_t i = 0; b->bucket != NULL && i <= b->mask; i++) {
		struct dd_peer_order *o = b->bucket[i];
		while (o != NULL) {
			struct dd_peer_order *next = o->next;
			free(o);
			o = next;
		}
	}
	for (uint32_t i = 0; b->instr != NULL && i < LOCATES; i++)
		for (unsigned s = 0; s < 2; s++)
			free(b->instr[i].side[s].lv);
	free(b->bucket);
	free(b->instr);
	memset(b, 0, sizeof(*b));
}

/* ---- orders -------------------------------------------------------------------------------- */

/* The link that points at `ref`'s node, or at the NULL that ends its chain if it is absent. */
static inline struct dd_peer_order **order_link(const struct dd_peer_book *b, uint64_t ref)
{
	struct dd_peer_order **pp = &b->bucket[bucket_of(b, ref)];
	while (*pp != NULL && (*pp)->ref != ref)
		pp = &(*pp)->next;
	return pp;
}

static inline void order_push(struct dd_peer_book *b, struct dd_peer_order *o)
{
	struct dd_peer_order **head = &b->bucket[bucket_of(b, o->ref)];
	o->next = *head;
	*head = o;
}

/* ---- levels -------------------------------------------------------------------------------- */

/* Is price p better than q on side s? Bids: higher is better; asks: lower is better. */
static inline bool better(unsigned s, uint32_t p, uint32_t q)
{
	return s == DD_PEER_BID ? p > q : p < q;
}

/* First index whose price is not worse than `price` (the array runs worst .. best). */
static inline uint32_t level_search(const struct dd_peer_side *sd, unsigned s, uint32_t price)
{
	uint32_t lo = 0, hi = sd->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (better(s, price, sd->lv[mid].price))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The level of `price`, inserted empty if absent; NULL if the array could not grow. */
static struct dd_peer_level *level_get(struct dd_peer_side *sd, unsigned s, uint32_t price)
{
	uint32_t i = level_search(sd, s, price);
	if (i < sd->n && sd->lv[i].price == price)
		return &sd->lv[i];
	if (sd->n == sd->cap) {
		uint32_t cap = sd->cap == 0 ? FIRST_LEVELS : sd->cap * 2;
		struct dd_peer_level *lv = realloc(sd->lv, (size_t)cap * sizeof(*lv));
		if (lv == NULL)
			return NULL;
		sd->lv = lv;
		sd->cap = cap;
	}
	memmove(&sd->lv[i + 1], &sd->lv[i], (size_t)(sd->n - i) * sizeof(sd->lv[0]));
	sd->n++;
	sd->lv[i] = (struct dd_peer_level){ .price = price };
	return &sd->lv[i];
}

/* Take `shares` and, if `gone`, one order off the level of `price`; the level goes at 0 orders. */
static void level_reduce(struct dd_peer_side *sd, unsigned s, uint32_t price, uint32_t shares, bool gone)
{
	uint32_t i = level_search(sd, s, price);
	/* Every live order's price has a level: i < n and the price matches. */
	struct dd_peer_level *l = &sd->lv[i];
	l->shares -= shares;
	if (gone && --l->orders == 0) {
		memmove(&sd->lv[i], &sd->lv[i + 1], (size_t)(sd->n - i - 1) * sizeof(sd->lv[0]));
		sd->n--;
	}
}

/* ---- event handlers ------------------------------------------------------------------------ */

static void add_order(struct dd_peer_book *b, uint16_t locate, uint64_t ref, uint8_t side_char, uint32_t shares,
		      uint32_t price)
{
	if ((side_char != DD_SIDE_BUY && side_char != DD_SIDE_SELL) || shares == 0) {
		b->stats.bad_order++;
		return;
	}
	unsigned s = side_char == DD_SIDE_BUY ? DD_PEER_BID : DD_PEER_ASK;
	struct dd_peer_order **pp = order_link(b, ref);
	if (*pp != NULL) {
		b->stats.duplicate_ref++;
		return;
	}
	struct dd_peer_order *o = malloc(sizeof(*o));
	struct dd_peer_level *l = o == NULL ? NULL : level_get(&b->instr[locate].side[s], s, price);
	if (l == NULL) {
		free(o);
		b->stats.no_memory++;
		return;
	}
	l->orders++;
	l->shares += shares;
	*o = (struct dd_peer_order){ .ref = ref, .shares = shares, .price = price, .locate = locate, .side = (uint8_t)s };
	order_push(b, o);
	b->norders++;
}

/* Remove `shares` (<= the order's remaining) from the order at *pp; it is freed at 0. */
static void reduce_order(struct dd_peer_book *b, struct dd_peer_order **pp, uint32_t shares)
{
	struct dd_peer_order *o = *pp;
	o->shares -= shares;
	level_reduce(&b->instr[o->locate].side[o->side], o->side, o->price, shares, o->shares == 0);
	if (o->shares == 0) {
		*pp = o->next;
		free(o);
		b->norders--;
	}
}

static inline uint32_t clamp_shares(struct dd_peer_book *b, const struct dd_peer_order *o, uint32_t want)
{
	if (want > o->shares) {
		b->stats.overexecuted++;
		return o->shares;
	}
	return want;
}

static void count_trade(struct dd_peer_instr *in, uint64_t shares, uint32_t price)
{
	in->volume += shares;
	in->trades++;
	in->last_price = price;
}

static void on_exec(struct dd_peer_book *b, const struct dd_event *ev)
{
	const struct dd_ev_exec *e = &ev->u.exec;
	struct dd_peer_order **pp = order_link(b, e->ref);
	struct dd_peer_order *o = *pp;
	if (o == NULL) {
		b->stats.unknown_ref++;
		return;
	}
	struct dd_peer_instr *in = &b->instr[o->locate];
	uint32_t price = ev->type == DD_EV_EXEC_PRICE ? e->price : o->price;
	uint32_t n = clamp_shares(b, o, e->shares);
	reduce_order(b, pp, n); /* may free o */
	if (ev->type == DD_EV_EXEC || e->printable == 'Y')
		count_trade(in, n, price);
}

static void on_replace(struct dd_peer_book *b, const struct dd_ev_replace *r)
{
	struct dd_peer_order **pp = order_link(b, r->ref);
	struct dd_peer_order *o = *pp;
	if (o == NULL) {
		b->stats.unknown_ref++;
		return;
	}
	if (r->shares == 0) {
		b->stats.bad_order++;
		return;
	}
	if (r->new_ref != r->ref && *order_link(b, r->new_ref) != NULL) {
		b->stats.duplicate_ref++;
		return;
	}
	/* Delete + add under the new reference; the node is reused rather than freed and reallocated. */
	struct dd_peer_side *sd = &b->instr[o->locate].side[o->side];
	level_reduce(sd, o->side, o->price, o->shares, true);
	*pp = o->next;
	struct dd_peer_level *l = level_get(sd, o->side, r->price);
	if (l == NULL) {
		free(o);
		b->norders--;
		b->stats.no_memory++;
		return;
	}
	l->orders++;
	l->shares += r->shares;
	o->ref = r->new_ref;
	o->shares = r->shares;
	o->price = r->price;
	order_push(b, o);
}

void dd_peer_book_apply(struct dd_peer_book *b, const struct dd_event *ev)
{
	struct dd_peer_order **pp;
	switch (ev->type) {
	case DD_EV_ADD:
		add_order(b, (uint16_t)ev->key, ev->u.add.ref, ev->u.add.side, ev->u.add.shares, ev->u.add.price);
		break;
	case DD_EV_EXEC:
	case DD_EV_EXEC_PRICE:
		on_exec(b, ev);
		break;
	case DD_EV_CANCEL:
		pp = order_link(b, ev->u.cancel.ref);
		if (*pp == NULL)
			b->stats.unknown_ref++;
		else
			reduce_order(b, pp, clamp_shares(b, *pp, ev->u.cancel.shares));
		break;
	case DD_EV_DELETE:
		pp = order_link(b, ev->u.del.ref);
		if (*pp == NULL)
			b->stats.unknown_ref++;
		else
			reduce_order(b, pp, (*pp)->shares);
		break;
	case DD_EV_REPLACE:
		on_replace(b, &ev->u.replace);
		break;
	case DD_EV_TRADE:
		count_trade(&b->instr[(uint16_t)ev->key], ev->u.trade.shares, ev->u.trade.price);
		break;
	case DD_EV_CROSS:
		if (ev->u.cross.shares != 0)
			count_trade(&b->instr[(uint16_t)ev->key], ev->u.cross.shares, ev->u.cross.price);
		break;
	default:
		break;
	}
}

/* ---- queries ------------------------------------------------------------------------------- */

unsigned dd_peer_book_depth(const struct dd_peer_book *b, uint16_t locate, unsigned side,
			    struct dd_peer_level *out, unsigned max)
{
	const struct dd_peer_side *sd = &b->instr[locate].side[side & 1];
	unsigned n = 0;
	for (uint32_t i = sd->n; i > 0 && n < max; i--)
		out[n++] = sd->lv[i - 1];
	return n;
}

void dd_peer_book_trades(const struct dd_peer_book *b, uint16_t locate, uint64_t *volume, uint64_t *trades,
			 uint32_t *last_price)
{
	const struct dd_peer_instr *in = &b->instr[locate];
	*volume = in->volume;
	*trades = in->trades;
	*last_price = in->last_price;
}
