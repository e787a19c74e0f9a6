/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_BOOK_H
#define DD_OPS_BOOK_H

/*
 * Full-depth (market-by-order) limit order books for every instrument of one feed.
 *
 * The book keeps every live order (reference, side, remaining shares, price) and aggregates them
 * into price levels per instrument and side. It is driven by canonical events (ops/event.h):
 * add (A, F), execute (E, C), cancel (X), delete (D) and replace (U: a delete plus an add under the
 * new reference, so the order loses its time priority); trades (P, Q) and executions update
 * per-instrument trade statistics; the directory (R) names instruments; trading actions (H) set
 * their trading state. Anything the book cannot apply — a reference to an order it does not have
 * (after a gap, or for a feed joined late), a duplicate reference, more shares executed than
 * remain, a full table — is counted in struct dd_book_stats and never fatal.
 *
 * Memory: everything is sized at init from struct dd_book_params and lives in caller memory
 * (dd_book_memsize() + dd_book_init()); applying events allocates nothing and makes no syscall.
 *   orders:      open-addressing hash on the order reference (linear probing, backward-shift
 *                deletion, load factor <= 1/2), the order stored in its slot;
 *   price levels: a pool of levels, found by (instrument, side, price) in a second hash table and
 *                linked per side in price order, best first: best bid/offer in O(1), depth in
 *                O(depth), a level is inserted by walking from whichever end of its side is nearer
 *                in price (new levels are almost always near the touch);
 *   instruments: indexed by the ITCH stock locate code through a 65536-entry map.
 *
 * Levels aggregate their orders (price, shares, order count); the time order of the orders inside a
 * level is not kept.
 *
 * Single writer. Readers on the same lcore may call the query functions at any time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/event.h"
#include "ops/output.h"

#define DD_BOOK_BID 0
#define DD_BOOK_ASK 1
#define DD_BOOK_NIL UINT32_MAX
#define DD_BOOK_MAX_INSTRUMENTS 65535u

struct dd_book_params {
	uint32_t max_instruments; /* distinct stock locate codes, 1..65535 */
	uint32_t max_orders;      /* live orders at once, >= 1 */
	uint32_t max_levels;      /* live price levels at once, over all instruments and sides, >= 2 */
};

struct dd_book_stats {
	uint64_t events;              /* events applied (all types) */
	uint64_t adds;
	uint64_t executions;          /* E and C */
	uint64_t cancels;             /* X */
	uint64_t deletes;             /* D */
	uint64_t replaces;            /* U */
	uint64_t trades;              /* P */
	uint64_t crosses;             /* Q */
	uint64_t broken;              /* B */
	uint64_t unknown_ref;         /* E C X D U for an order the book does not hold */
	uint64_t duplicate_ref;       /* A F or U's new reference already live: the event is ignored */
	uint64_t overexecuted;        /* E C X for more shares than remain: clamped, order removed */
	uint64_t bad_order;           /* add or replace with side not B/S or zero shares: ignored */
	uint64_t order_overflow;      /* add refused: max_orders live */
	uint64_t level_overflow;      /* add refused: max_levels live */
	uint64_t instrument_overflow; /* event for a new locate refused: max_instruments known */
};

/* One price level as readers see it. */
struct dd_book_level {
	uint32_t price;  /* feed fixed point (ITCH: 1e-4) */
	uint32_t orders; /* live orders at this price */
	uint64_t shares; /* their remaining shares */
};

/* One live order as readers see it. */
struct dd_book_order_view {
	uint64_t ref;
	uint32_t shares;
	uint32_t price;
	uint16_t locate;
	uint8_t side;    /* DD_SIDE_BUY or DD_SIDE_SELL */
};

struct dd_book_side {
	uint32_t best;    /* level index of the best price, DD_BOOK_NIL if empty */
	uint32_t worst;   /* level index of the worst price */
	uint32_t nlevels;
};

struct dd_book_instr {
	char symbol[8];         /* space padded, as on the wire; all spaces until known */
	uint16_t locate;
	uint8_t trading_state;  /* last H: 'H' halted, 'P' paused, 'Q' quotation only, 'T' trading; 0 unknown */
	uint8_t in_directory;   /* an R message named it */
	char halt_reason[4];
	uint32_t round_lot_size;
	uint8_t market_category;
	uint8_t financial_status;
	uint32_t orders;        /* live orders */
	struct dd_book_side side[2];
	uint64_t volume;        /* shares traded: E, printable C, P, Q */
	uint64_t trades;        /* executions and trade messages counted in volume */
	uint32_t last_price;    /* price of the last trade counted in volume */
};

struct dd_book_lvl;   /* private: a pooled price level */
struct dd_book_oslot; /* private: an order-table slot */
struct dd_book_lslot; /* private: a level-table slot */

struct dd_book {
	struct dd_book_params params;
	struct dd_book_stats stats;
	uint32_t ninstr;             /* instruments known; indices 1..ninstr */
	uint32_t norders;            /* live orders */
	uint32_t nlevels;            /* live levels */
	uint8_t last_system_event;   /* last S event code, 0 before any */
	uint16_t *instr_of_locate;   /* [65536]: instrument index, 0 = none */
	struct dd_book_instr *instr; /* [max_instruments + 1], slot 0 unused */
	struct dd_book_oslot *orders;
	uint64_t order_mask;
	struct dd_book_lslot *ltab;
	uint64_t ltab_mask;
	struct dd_book_lvl *lvl;     /* [max_levels] */
	uint32_t lvl_free;           /* head of the free list of levels */
};

/* Bytes of memory dd_book_init() needs for `p`; 0 if a parameter is out of range. */
size_t dd_book_memsize(const struct dd_book_params *p);

/*
 * Initialise book `b` over `len` bytes at `mem` (64-byte aligned, at least dd_book_memsize(p);
 * it need not be zeroed, and must outlive the book). Returns 0, or -EINVAL if a parameter is out
 * of range or `len` is too small.
 */
int dd_book_init(struct dd_book *b, void *mem, size_t len, const struct dd_book_params *p);

/* What an event changed, returned by dd_book_apply(). */
#define DD_BOOK_BID_CHANGED 0x1u /* best bid price, shares or order count differs from before the event */
#define DD_BOOK_ASK_CHANGED 0x2u /* best offer likewise (a replace leaving it as it was: no change) */
#define DD_BOOK_TRADED      0x4u /* shares traded (counted in the instrument's volume) */
#define DD_BOOK_REJECTED    0x8u /* the event could not be applied (see stats) */

/* Apply one event; returns DD_BOOK_* flags. Events of types the book does not use return 0. */
unsigned dd_book_apply(struct dd_book *b, const struct dd_event *ev);

/*
 * Ask for the cache lines dd_book_apply() will read for `ev`, ahead of applying it: its order's
 * slot (level false), or, once that slot is in, the price level the order rests on (level true).
 * No effect on the book; a hint only. Data plane: no allocation, no syscalls.
 */
void dd_book_prefetch(const struct dd_book *b, const struct dd_event *ev, bool level);

/* The instrument with stock locate `locate`, or NULL if the book has not seen it. */
const struct dd_book_instr *dd_book_find(const struct dd_book *b, uint16_t locate);

/* Instrument by index, 1..b->ninstr. */
static inline const struct dd_book_instr *dd_book_instr_at(const struct dd_book *b, uint32_t i)
{
	return &b->instr[i];
}

/* Best level of `side` (DD_BOOK_BID or DD_BOOK_ASK) into *out; false if the side is empty. O(1). */
bool dd_book_best(const struct dd_book *b, const struct dd_book_instr *in, unsigned side,
		  struct dd_book_level *out);

/* Up to `max` levels of `side`, best first, into out[]; returns how many. O(returned levels). */
unsigned dd_book_depth(const struct dd_book *b, const struct dd_book_instr *in, unsigned side,
		       struct dd_book_level *out, unsigned max);

/* Look up a live order; false if the book does not hold `ref`. */
bool dd_book_order(const struct dd_book *b, uint64_t ref, struct dd_book_order_view *out);

/*
 * The top of book of the instrument the event `ev` touched, into `out` (zero sides are empty): call
 * it after dd_book_apply() returned DD_BOOK_BID_CHANGED or DD_BOOK_ASK_CHANGED. Returns false (and
 * writes nothing) if the event names no instrument the book knows.
 */
bool dd_book_bbo(const struct dd_book *b, const struct dd_event *ev, struct dd_out_bbo *out);

/*
 * Snapshots. dd_book_save() writes the book's state — statistics, instruments, every live order —
 * through `put` (called with consecutive chunks; a negative return aborts and is returned) in a
 * documented little-endian layout (ops/book/book.c: "snapshot layout"); dd_book_load() reads it back
 * through `get` (which must fill exactly n bytes or return negative) into a book freshly
 * initialised with the same parameters. A loaded book is equal to the saved one in everything
 * observable: orders, levels, instruments, statistics. Both return 0 or -errno (-EINVAL: the
 * data does not fit the parameters, -EBADMSG: malformed).
 */
int dd_book_save(const struct dd_book *b, int (*put)(void *ctx, const void *p, size_t n), void *ctx);
int dd_book_load(struct dd_book *b, int (*get)(void *ctx, void *p, size_t n), void *ctx);

/*
 * Check every internal invariant (level sums equal their orders, lists sorted and linked both ways,
 * counts agree, hash tables probe-complete). O(capacity): for tests and offline tools, never the
 * data path. Returns 0 or -EFAULT with a description in `why` (may be NULL).
 */
int dd_book_check(const struct dd_book *b, char *why, size_t whylen);

#endif /* DD_OPS_BOOK_H */
