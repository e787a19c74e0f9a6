/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_BOOK_BOOK_OP_H
#define DD_OPS_BOOK_BOOK_OP_H

/*
 * The order book as an operator (ops/op.h): one full-depth book (ops/book/book.h) per feed, chosen
 * by the event's source. It emits a DD_OUT_BBO output whenever an event changes the best bid or
 * offer of an instrument (price, shares or order count): a consolidated quote stream that
 * downstream consumers (and replay) can check against the books. With `trades`, an execution also
 * gives an internal DD_OUT_TRADE first (its price and side are the book's to know). At most two
 * outputs per event.
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/book/book.h"
#include "ops/op.h"

#define DD_BOOK_OP_MAX_FEEDS 8

struct dd_book_op_params {
	struct dd_book_params book; /* capacities of each feed's book */
	uint32_t nfeeds;            /* 1..DD_BOOK_OP_MAX_FEEDS */
	uint32_t trades;            /* 1: also emit each execution (E, C) and hidden trade (P) as an
	                             * internal DD_OUT_TRADE, for the operators after it (patterns,
	                             * windows); 0 (older journals): not */
};

/* Bytes of the parameters before `trades` (what a chain spec without trades holds, as journals
 * written before the field do: they read with trades 0). */
#define DD_BOOK_OP_PARAMS_V1 offsetof(struct dd_book_op_params, trades)

extern const struct dd_op_ops dd_book_op;

/* The book of feed `feed` in a book operator's state (NULL if out of range). */
const struct dd_book *dd_book_op_book(const void *state, unsigned feed);

/* Events whose source names no feed of the operator (ignored and counted). */
uint64_t dd_book_op_bad_source(const void *state);

#endif /* DD_OPS_BOOK_BOOK_OP_H */
