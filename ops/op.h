/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_OP_H
#define DD_OPS_OP_H

/*
 * The operator interface (DESIGN.md §4). An operator is a pure function of (state, input) →
 * (state', outputs). An operator kind is a named, constant table of callbacks (struct dd_op_ops,
 * modelled on DPDK's struct rte_mempool_ops); its state is plain data in caller memory. Operators
 * are called only by a chain (ops/chain.h): the lcore loops, offline replay, recovery, the tests and
 * the benchmarks all drive chains, never an operator directly.
 *
 * Writing an operator (docs/operators.md walks through one):
 *   memsize(params)            bytes of state for `params`; 0 if the parameters are out of range
 *   init(mem, len, params)     lay the state out in `mem` (64-byte aligned, `len` >= memsize, not
 *                              zeroed). 0 or -EINVAL. After init the operator allocates nothing,
 *                              takes no lock, makes no syscall and logs nothing.
 *   apply(state, ev, emit)     one input event; emit any number of outputs with dd_emit(). Must be
 *                              deterministic: a function of the state and the event only (never
 *                              the wall clock, never ev->rx_tsc, never ev->flags).
 *   advance(state, wm, emit)   optional (NULL: not time-driven). The chain's watermark passed
 *                              `wm` (event time, ns): no event earlier than wm is expected any
 *                              more; fire what is due. Called again for a tick at the same
 *                              watermark: it goes on with what pending() said it deferred.
 *   pending(state)             optional: work due at the watermark deferred by max_out.
 *   apply_run(state, ev[], cause[], n, emit)
 *                              optional: n events in one call, exactly as n calls of apply (a
 *                              tight loop with direct calls: the book's took bench_feed's chain
 *                              from 285 to 264 instructions per message under callgrind). Only used for an
 *                              operator with neither advance nor consume; ticks in the run are
 *                              skipped by the operator like apply would never see them.
 *   consume(state, o, emit)    optional (NULL: ignores them). An output of an operator earlier in
 *                              the chain, caused by the event just applied (a CEP operator reading
 *                              the book's top-of-book changes, for instance).
 *   save(state, put, ctx)      the operator's snapshot: a version number of its own first, then
 *                              whatever it needs, through `put` (a negative return aborts and is
 *                              returned). 0 or -errno.
 *   load(state, get, ctx)      read it back into a state freshly initialised with the same
 *                              params; -EINVAL if it does not fit the params, -EBADMSG if
 *                              malformed or of another version.
 *   counters(state, v)         optional: fill v[0..ncounters) with the operator's counters, named
 *                              by counter_names[] (for the telemetry segment, the summary and
 *                              dadar-journal).
 * max_out bounds the outputs one apply (or consume) emits; the chain sizes its output buffer from
 * it. An operator that emits more has the excess counted as overflow and dropped: the bound is a
 * promise, and the overflow counter is how a broken promise shows.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/event.h"
#include "ops/output.h"

/* Stable operator kind ids: written into outputs and snapshots, so never renumbered. */
enum dd_op_id {
	DD_OP_NONE = 0,
	DD_OP_BOOK = 1,
	DD_OP_FRAUD = 2,
	DD_OP_WINDOW = 3,
	DD_OP_CEP = 4,
	DD_OP_TEST_MULTI = 200, /* test operators (tests/ops/test_chain.c, dadar --test-ops) */
	DD_OP_TEST_TIMER = 201,
};

#define DD_OP_MAX_COUNTERS 32

/*
 * Where an operator's outputs go: the chain's bounded buffer, and what every output of the current
 * cause starts from (the event and its input position; the header is built only when an output is
 * emitted, so an event that decides nothing costs two stores here).
 */
struct dd_emit {
	struct dd_output *out;        /* the chain's buffer */
	unsigned n;                   /* outputs in it */
	unsigned cap;
	uint64_t overflow;            /* outputs that did not fit (dropped and counted) */
	const struct dd_event *ev;    /* the current cause */
	uint64_t cause;               /* its input position (an LSN in replay) */
	uint16_t shard;               /* the chain's */
	uint8_t op;                   /* the operator being run */
};

/*
 * The next output slot, its header filled from the cause (key, source, seq, event time, cause,
 * shard, operator, RX time) with `type` and `rule`, the rest of it zeroed; NULL if the buffer is full
 * (the chain counts it). The operator fills the body and may override the header's key.
 */
static inline struct dd_output *dd_emit(struct dd_emit *e, uint16_t type, uint16_t rule)
{
	if (e->n == e->cap) {
		e->overflow++;
		return NULL;
	}
	struct dd_output *o = &e->out[e->n++];
	const struct dd_event *ev = e->ev;
	/* field by field, and the rest as words: a call to memset per output measured 60 instructions
	 * more per top-of-book change (bench_feed under callgrind) */
	o->type = type;
	o->op = e->op;
	o->source = ev->source;
	o->rule = rule;
	o->rule_version = 0;
	o->key = ev->key;
	o->shard = e->shard;
	o->flags = 0;
	o->seq = ev->seq;
	o->event_ns = ev->event_ns;
	o->cause = e->cause;
	o->rx_tsc = ev->rx_tsc;
	uint64_t *z = (uint64_t *)(void *)o->symbol; /* and reserved[] after it */
	z[0] = z[1] = 0;
	for (unsigned i = 0; i < DD_OUTPUT_BODY / 8; i++)
		o->u.test.v[i] = 0;
	return o;
}

/* Take back the output dd_emit() just returned (the operator found it had nothing to say). */
static inline void dd_emit_undo(struct dd_emit *e)
{
	e->n--;
}

typedef int (*dd_put_fn)(void *ctx, const void *p, size_t n);
typedef int (*dd_get_fn)(void *ctx, void *p, size_t n);

struct dd_op_ops {
	const char *name;   /* "book": its telemetry stage, its "op" in JSON, its name in reports */
	uint8_t id;         /* enum dd_op_id */
	unsigned max_out;   /* outputs one apply or consume may emit */
	size_t (*memsize)(const void *params);
	int (*init)(void *mem, size_t len, const void *params);
	void (*apply)(void *state, const struct dd_event *ev, struct dd_emit *e);
	/* optional fast path: apply ev[0..n) (caused by cause[0..n)) in one call, exactly as n calls of
	 * apply would; the chain uses it for an operator without advance and consume, whose runs hold
	 * no tick it must see. The operator sets e->ev and e->cause before each event's dd_emit(). */
	void (*apply_run)(void *state, const struct dd_event *ev, const uint64_t *cause, unsigned n,
			  struct dd_emit *e);
	void (*advance)(void *state, uint64_t watermark_ns, struct dd_emit *e);
	/* optional: has the operator work due at its watermark that a bound on its outputs made it
	 * defer (a tick at the same watermark lets it go on)? */
	bool (*pending)(const void *state);
	void (*consume)(void *state, const struct dd_output *o, struct dd_emit *e);
	int (*save)(const void *state, dd_put_fn put, void *ctx);
	int (*load)(void *state, dd_get_fn get, void *ctx);
	unsigned ncounters;
	const char *const *counter_names;
	void (*counters)(const void *state, uint64_t *v);
};

/* The operator kinds dadar knows, by id (NULL if unknown): what replay uses to read a snapshot. */
const struct dd_op_ops *dd_op_find(unsigned id);

/* Name of operator kind `id` ("book"), "?" if unknown. */
const char *dd_op_name(unsigned id);

#endif /* DD_OPS_OP_H */
