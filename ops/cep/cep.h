/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_CEP_CEP_H
#define DD_OPS_CEP_CEP_H

/*
 * The pattern operator (DD_OP_CEP): the patterns of a market rule set (ops/cep/mrules.h) over the
 * streams of the market chain, per symbol, with memory fixed at init.
 *
 * State per symbol: a fixed area (`key_bytes`) holding each pattern's partial matches (at most its
 * MAX PARTIAL; a new one beyond evicts the oldest, counted) and the latest top of book per feed
 * (for `other_bid`/`other_ask`). Each partial match is a waiting position of the pattern's
 * program with its context (the slots its predicates and measures read): a record costs, per
 * pattern that reads its stream, a walk over that symbol's partial matches — bounded by MAX
 * PARTIAL, never by WITHIN or the stream. Deadlines (WITHIN, absences) sit in a timer heap with
 * one entry per (symbol, pattern), so the watermark finds what is due without a scan.
 *
 * The rule image is not in the state: dd_cep_use() points the operator at one (the daemon's
 * compiled rules, a reload's), clearing every partial match (counted). The operator reads it and
 * never writes it.
 *
 * Outputs: DD_OUT_ALERT (ops/output.h). Inputs: ITCH events (order, cancel, halt, any) by apply,
 * and the book's DD_OUT_TRADE and DD_OUT_BBO and the window operator's DD_OUT_WINDOW by consume.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/cep/mrules.h"
#include "ops/op.h"

struct dd_cep_params {
	uint32_t keys;          /* symbols */
	uint32_t nfeeds;        /* ITCH feeds (locate codes are per feed) */
	uint32_t key_bytes;     /* state per symbol: what the largest rule set it will run needs */
	uint32_t max_patterns;  /* patterns a rule set may have (timer heap: keys x max_patterns) */
};

extern const struct dd_op_ops dd_cep_op;

/* Bytes per symbol rule set `img` needs (dd_cep_params.key_bytes must be at least that), and the
 * least it runs with: its partial matches without the records their alerts list (the alerts then
 * list none: a journal written before alerts listed them). */
size_t dd_cep_key_bytes(const struct dd_mrules *img);
size_t dd_cep_key_bytes_min(const struct dd_mrules *img);

/*
 * Run rule set `img` from now on (NULL: no patterns). A pattern the same as one of the rules before
 * (same name, program, predicates and streams) keeps its partial matches; the others' are dropped
 * (counted: cep_reload_dropped). With key_bytes below dd_cep_key_bytes(img) but not below
 * dd_cep_key_bytes_min(img), alerts list no records (their flags 0, no DD_OUT_MATCHED). A
 * pattern's alert counts go on under its name. The same rules byte for byte (recovery handing its
 * chains to the daemon) only move the pointer. Returns 0, or -ENOSPC (its symbols need more than
 * key_bytes even so, or it has more patterns than max_patterns: the rules in force stay).
 */
int dd_cep_use(void *state, const struct dd_mrules *img);

/* The rule set in force (NULL: none). */
const struct dd_mrules *dd_cep_rules(const void *state);

/* What pattern i (of the rules in force) reported: alerts, timeouts, and its first alert with the
 * refs of the records it matched (first.flags of them, ops/output.h). */
struct dd_cep_pattern_stats {
	uint64_t alerts, timeouts;
	bool have_first;
	struct dd_output first;
	uint64_t first_refs[DD_MR_MAX_REFS];
};
void dd_cep_pattern_stats(const void *state, unsigned pattern, struct dd_cep_pattern_stats *out);

/* Feed one record (tools and tests: dadar-rules run); its symbol slot from dd_cep_intern(). */
void dd_cep_record(void *state, const struct dd_mr_rec *r, struct dd_emit *e);

/* Move the watermark (tools and tests; the chain calls advance itself). */
void dd_cep_watermark(void *state, uint64_t wm, struct dd_emit *e);

/* The slot of symbol sym[8] (added if new), UINT32_MAX if the table is full. */
uint32_t dd_cep_intern(void *state, const char sym[8]);

/* The records an ITCH event makes (order, cancel, halt, any; E, C, P come as trades from the book).
 * Returns how many (0..1) into *r, with r->key the symbol slot from `syms`. Directory events bind
 * their locate to their symbol. */
struct dd_symtab;
unsigned dd_mr_from_event(struct dd_symtab *syms, const struct dd_event *ev, struct dd_mr_rec *r);

/* The record an output of an earlier operator makes (trade, bbo, a window's result), 0 or 1. */
unsigned dd_mr_from_output(const struct dd_symtab *syms, const struct dd_output *o, struct dd_mr_rec *r);

#endif /* DD_OPS_CEP_CEP_H */
