/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_WINDOW_WINDOW_H
#define DD_OPS_WINDOW_WINDOW_H

/*
 * The window operator (DD_OP_WINDOW): the windows of a market rule set (ops/cep/mrules.h,
 * docs/patterns.md "Windows") per symbol, in event time.
 *
 * Each (symbol, window) has a fixed block: up to DD_WINDOW_OPEN open windows (a hopping window's
 * overlaps, and windows still within their allowed lateness) and the history avg_prev reads. A
 * window fires when the watermark reaches its end (one DD_OUT_WINDOW), again on every record that
 * changes it before the watermark reaches end + lateness (flag DD_OUTPUT_FLAG_LATE), and is freed
 * then; a record later than that is a DD_OUT_LATE side output, counted. Deadlines are in a timer
 * heap (one entry per symbol and window). One call fires at most DD_WINDOW_FIRE_MAX windows: the
 * rest fire at the next event or tick (counted: window_deferred), so the chain's output buffer
 * has a bound.
 *
 * Like the pattern operator, it reads the rule image it is pointed at (dd_window_use()).
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/cep/mrules.h"
#include "ops/op.h"

#define DD_WINDOW_OPEN 8
#define DD_WINDOW_FIRE_MAX 32

struct dd_window_params {
	uint32_t keys;          /* symbols */
	uint32_t nfeeds;
	uint32_t key_bytes;     /* state per symbol: what the largest rule set it will run needs */
	uint32_t pad;
};

extern const struct dd_op_ops dd_window_op;

/* Bytes per symbol the windows of `img` need. */
size_t dd_window_key_bytes(const struct dd_mrules *img);

/* Run the windows of `img` (NULL: none) from now on. A window defined the same as one before keeps
 * its open windows and its history; the others' are dropped (counted). 0 or -ENOSPC. */
int dd_window_use(void *state, const struct dd_mrules *img);

/* Tools and tests: feed one record (r->key from dd_window_intern()), move the watermark. */
void dd_window_record(void *state, const struct dd_mr_rec *r, struct dd_emit *e);
void dd_window_watermark(void *state, uint64_t wm, struct dd_emit *e);
uint32_t dd_window_intern(void *state, const char sym[8]);

#endif /* DD_OPS_WINDOW_WINDOW_H */
