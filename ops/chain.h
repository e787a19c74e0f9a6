/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_CHAIN_H
#define DD_OPS_CHAIN_H

/*
 * A chain: the operators of one input kind, in order, over one shard of the keys (DESIGN.md §4).
 * It is the only place operators are called from. The run-to-completion lcore, each worker,
 * offline replay, recovery, the snapshot writer, the tests and the benchmarks all drive a chain
 * with dd_chain_run(), so they run the same code on the same state and derive the same outputs.
 *
 * What a chain holds is described by a chain spec (struct dd_chain_spec): the operator kinds and
 * their parameters, plain data. The spec is what the journal records as the configuration that
 * affects outputs, so a replay rebuilds the same chain from the journal alone.
 *
 * Memory: dd_chain_memsize() + dd_chain_init() in caller memory, like every operator. The output
 * buffer is sized at init for `burst` events (the operators' max_out); an output that does not fit
 * is counted in dd_chain_overflow() and never written past the buffer.
 *
 * Order: operators run one after the other over the whole burst (operator-major), each over the
 * events in order: an operator's state depends only on its own inputs, so this gives the same
 * state and the same outputs per operator as running event by event, and it lets the driver time
 * each operator once per burst. Outputs are in the buffer grouped by operator, each group in the
 * order of the causes. An operator with `consume` sees, right after applying event i, the outputs
 * that earlier operators derived from event i.
 *
 * Time: watermarks move only with DD_EV_TICK events, which are inputs like any other (made by the RX
 * lcore from the event times it sees, journaled, and broadcast to every shard): a tick later than
 * an operator's watermark moves it and runs a time-driven operator's advance() (a tick at the same
 * watermark runs it again, for work it deferred); ticks are never applied. A shard's watermark is therefore the same in every pipeline shape and in replay, and
 * so is every output a time-driven operator makes. Watermarks are event time only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/event.h"
#include "ops/op.h"
#include "ops/output.h"

#define DD_CHAIN_MAX_OPS 8
#define DD_OP_PARAMS_MAX 56

/* The configuration of one chain: plain data, journaled (fixed width, little-endian). */
struct dd_chain_op_spec {
	uint32_t id;                       /* enum dd_op_id */
	uint32_t len;                      /* bytes of params used */
	uint8_t params[DD_OP_PARAMS_MAX];  /* the operator's parameter struct, zero padded */
};

struct dd_chain_spec {
	uint32_t nops;
	uint32_t pad;
	struct dd_chain_op_spec op[DD_CHAIN_MAX_OPS];
};
_Static_assert(sizeof(struct dd_chain_op_spec) == 64, "op spec layout");
_Static_assert(sizeof(struct dd_chain_spec) == 8 + 64 * DD_CHAIN_MAX_OPS, "chain spec layout");

/*
 * Append operator `id` with `params` (`len` bytes, at most DD_OP_PARAMS_MAX) to spec `s`.
 * Returns 0, -ENOSPC (DD_CHAIN_MAX_OPS already), -EINVAL (params too long) or -ENOENT (unknown id).
 */
int dd_chain_spec_add(struct dd_chain_spec *s, unsigned id, const void *params, size_t len);

/* Are two specs the same configuration? */
bool dd_chain_spec_equal(const struct dd_chain_spec *a, const struct dd_chain_spec *b);

struct dd_chain_params {
	const struct dd_chain_spec *spec;
	unsigned shard;            /* which shard this chain is (written into its outputs) */
	unsigned burst;            /* most events one dd_chain_run() takes, >= 1 */
	uint64_t (*clock)(void);   /* per-operator timing (the TSC in the daemon); NULL: none */
};

struct dd_chain_op {
	const struct dd_op_ops *ops;
	void *state;
	uint64_t watermark;        /* event time this operator has been advanced to */
	uint64_t ticks;            /* clock ticks its last run took (0 without a clock) */
	uint64_t outputs;          /* outputs it emitted */
	unsigned out_begin, out_end; /* its outputs of the last run in the buffer */
};

struct dd_chain {
	struct dd_chain_spec spec;
	unsigned nops;
	unsigned shard;
	unsigned burst;
	uint64_t (*clock)(void);
	struct dd_chain_op op[DD_CHAIN_MAX_OPS];
	struct dd_emit emit;       /* the output buffer */
	uint64_t events;           /* events applied */
	uint64_t ticks;            /* TICK events seen */
	uint64_t last_n;           /* events in the last run */
};

/* Bytes dd_chain_init() needs for `p` (operators' state and the output buffer); 0 if invalid. */
size_t dd_chain_memsize(const struct dd_chain_params *p);

/*
 * Initialise chain `c` over `len` bytes at `mem` (64-byte aligned, at least dd_chain_memsize()).
 * Returns 0, or -EINVAL with a message naming the operator and what is wrong.
 */
int dd_chain_init(struct dd_chain *c, void *mem, size_t len, const struct dd_chain_params *p, char *err,
		  size_t errlen);

/*
 * Apply events ev[0..n) (n <= burst) caused by the inputs at positions cause[0..n) (strictly
 * increasing: LSNs in replay, input positions in the daemon). The outputs are appended to
 * c->emit.out[c->emit.n...]; the caller takes them and calls dd_chain_drain() before the buffer
 * could overflow (once per run is always enough).
 */
void dd_chain_run(struct dd_chain *c, const struct dd_event *ev, const uint64_t *cause, unsigned n);

/* Forget the outputs in the buffer (the caller has taken them). */
static inline void dd_chain_drain(struct dd_chain *c)
{
	c->emit.n = 0;
}

/* Outputs the buffer could not take since init. */
static inline uint64_t dd_chain_overflow(const struct dd_chain *c)
{
	return c->emit.overflow;
}

/* Has an operator of the chain work due at its watermark that it deferred (op.h: pending)? */
bool dd_chain_pending(const struct dd_chain *c);

/* State of the first operator of kind `id` in the chain, or NULL. */
void *dd_chain_state(const struct dd_chain *c, unsigned id);

/* The shard (worker) of partition key `key` among `nshards`: the only place this is computed. */
static inline unsigned dd_shard_of(uint32_t key, unsigned nshards)
{
	return nshards <= 1 ? 0 : (unsigned)((key * 0x9E3779B1u) % nshards);
}

/* Does every shard see this event (system events, ticks) rather than the shard of its key? */
static inline bool dd_chain_broadcast(const struct dd_event *ev)
{
	return ev->type == DD_EV_SYSTEM || ev->type == DD_EV_TICK;
}

/*
 * Snapshot of the chain: a header (magic, version, number of operators), then per operator its id,
 * watermark and output count, and its own save(). dd_chain_load() reads it into a chain freshly
 * initialised from the same spec. Both return 0 or -errno (-EBADMSG malformed, -EINVAL: another
 * spec).
 */
int dd_chain_save(const struct dd_chain *c, dd_put_fn put, void *ctx);
int dd_chain_load(struct dd_chain *c, dd_get_fn get, void *ctx);

#endif /* DD_OPS_CHAIN_H */
