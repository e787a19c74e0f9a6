/* SPDX-License-Identifier: MIT */
#ifndef DD_BENCH_PEER_BOOK_H
#define DD_BENCH_PEER_BOOK_H

/*
 * The comparison peer of bench_feed: the ITCH order book a competent engineer writes first with the
 * C standard library, applying the same canonical events (ops/event.h) with the same semantics as
 * ops/book/book.c for the book it keeps:
 *   add (A, F); execute (E, C) and cancel (X), clamped to the shares that remain, the order removed
 *   at 0; delete (D); replace (U) = delete + add under the new reference, same instrument and side,
 *   new price and shares. A reference the book does not hold is ignored (counted); an add or a
 *   replace whose new reference is already live is ignored; an add with a side other than B/S or
 *   with 0 shares, and a replace to 0 shares, are ignored. Executions (printable C only), P and Q
 *   add to the instrument's traded volume, as in ops/book/book.c.
 *
 * Data structures, the common first design:
 *   orders:      a chained hash table keyed by the order reference, one malloc()'d node per order
 *                (freed on delete), bucket count the power of two >= the expected live orders;
 *   price levels: per instrument and side, a sorted array grown with realloc() (never shrunk) of
 *                (price, shares, orders), found by binary search, inserted and removed with
 *                memmove(); the best price is the last element so that the busy end moves least;
 *   instruments: an array indexed by the ITCH stock locate (65536 entries).
 *
 * Memory comes from malloc at run time: this is the design dadar's book is measured against, not a
 * pattern for dadar's own code (STYLE.md rule 8).
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/event.h"

#define DD_PEER_BID 0
#define DD_PEER_ASK 1

/* One price level, as stored and as readers see it. */
struct dd_peer_level {
	uint32_t price;  /* feed fixed point (ITCH: 1e-4) */
	uint32_t orders; /* live orders at this price */
	uint64_t shares; /* their remaining shares */
};

struct dd_peer_side {
	struct dd_peer_level *lv; /* [cap], sorted worst .. best: bids ascending, asks descending */
	uint32_t n;
	uint32_t cap;
};

struct dd_peer_instr {
	struct dd_peer_side side[2];
	uint64_t volume; /* shares traded */
	uint64_t trades;
	uint32_t last_price;
};

struct dd_peer_stats {
	uint64_t unknown_ref;   /* E C X D U for an order the book does not hold */
	uint64_t duplicate_ref; /* A F or U's new reference already live */
	uint64_t overexecuted;  /* E C X for more shares than remain: clamped */
	uint64_t bad_order;     /* side not B/S or zero shares */
	uint64_t no_memory;     /* malloc/realloc failed: the add was refused */
};

struct dd_peer_order; /* private: a hash-chain node */

struct dd_peer_book {
	struct dd_peer_order **bucket; /* [mask + 1] chain heads */
	uint64_t mask;
	uint64_t norders;              /* live orders */
	struct dd_peer_instr *instr;   /* [65536], by stock locate */
	struct dd_peer_stats stats;
};

/*
 * Initialise `b` for about `expected_orders` live orders (sets the bucket count; the book grows
 * past it, only with longer chains). Returns 0, or -EINVAL if expected_orders is 0 or above 2^31,
 * or -ENOMEM.
 */
int dd_peer_book_init(struct dd_peer_book *b, uint64_t expected_orders);

/* Free every order, level array and table of `b`. */
void dd_peer_book_fini(struct dd_peer_book *b);

/* Apply one event. Event types the book does not use are ignored. */
void dd_peer_book_apply(struct dd_peer_book *b, const struct dd_event *ev);

/*
 * Up to `max` levels of `side` (DD_PEER_BID or DD_PEER_ASK) of the instrument with stock locate
 * `locate`, best first, into out[]; returns how many (0 for an instrument never seen).
 */
unsigned dd_peer_book_depth(const struct dd_peer_book *b, uint16_t locate, unsigned side,
			    struct dd_peer_level *out, unsigned max);

/* Traded volume, trade count and last trade price of `locate` (zeros if never seen). */
void dd_peer_book_trades(const struct dd_peer_book *b, uint16_t locate, uint64_t *volume, uint64_t *trades,
			 uint32_t *last_price);

#endif /* DD_BENCH_PEER_BOOK_H */
