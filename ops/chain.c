/* SPDX-License-Identifier: MIT */
#include "ops/chain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

int dd_chain_spec_add(struct dd_chain_spec *s, unsigned id, const void *params, size_t len)
{
	if (s->nops >= DD_CHAIN_MAX_OPS)
		return -ENOSPC;
	if (len > DD_OP_PARAMS_MAX)
		return -EINVAL;
	if (dd_op_find(id) == NULL)
		return -ENOENT;
	struct dd_chain_op_spec *o = &s->op[s->nops++];
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->len = (uint32_t)len;
	if (len)
		memcpy(o->params, params, len);
	return 0;
}

bool dd_chain_spec_equal(const struct dd_chain_spec *a, const struct dd_chain_spec *b)
{
	if (a->nops != b->nops)
		return false;
	if (a->nops > DD_CHAIN_MAX_OPS)
		return false;
	for (unsigned i = 0; i < a->nops; i++)
		if (a->op[i].id != b->op[i].id || a->op[i].len != b->op[i].len || a->op[i].len > DD_OP_PARAMS_MAX ||
		    memcmp(a->op[i].params, b->op[i].params, a->op[i].len) != 0)
			return false;
	return true;
}

/* Output slots for a burst: every operator's bound per event, for apply and for what it consumes. */
static size_t out_cap(const struct dd_chain_spec *s, unsigned burst)
{
	size_t per_event = 0, upstream = 0;
	for (unsigned i = 0; i < s->nops; i++) {
		const struct dd_op_ops *ops = dd_op_find(s->op[i].id);
		size_t mine = ops->max_out * (1 + (ops->consume != NULL ? upstream : 0)) +
			      (ops->advance != NULL ? ops->max_out : 0);
		per_event += mine;
		upstream += mine;
	}
	return per_event * burst;
}

static int check(const struct dd_chain_params *p, char *err, size_t errlen)
{
	const struct dd_chain_spec *s = p->spec;
	if (s == NULL || s->nops == 0 || s->nops > DD_CHAIN_MAX_OPS || p->burst == 0) {
		snprintf(err, errlen, "chain: %u operators, burst %u (want 1..%u operators, burst >= 1)",
			 s ? s->nops : 0, p->burst, DD_CHAIN_MAX_OPS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < s->nops; i++) {
		const struct dd_op_ops *ops = dd_op_find(s->op[i].id);
		if (ops == NULL) {
			snprintf(err, errlen, "chain: operator %u has unknown kind %u", i, s->op[i].id);
			return -EINVAL;
		}
		if (ops->memsize(s->op[i].params) == 0) {
			snprintf(err, errlen, "chain: operator %u (%s): parameters out of range", i, ops->name);
			return -EINVAL;
		}
	}
	return 0;
}

size_t dd_chain_memsize(const struct dd_chain_params *p)
{
	char err[128];
	if (check(p, err, sizeof(err)) != 0)
		return 0;
	size_t total = ALIGN64(out_cap(p->spec, p->burst) * sizeof(struct dd_output));
	for (unsigned i = 0; i < p->spec->nops; i++)
		total += ALIGN64(dd_op_find(p->spec->op[i].id)->memsize(p->spec->op[i].params));
	return total;
}

int dd_chain_init(struct dd_chain *c, void *mem, size_t len, const struct dd_chain_params *p, char *err,
		  size_t errlen)
{
	int rc = check(p, err, errlen);
	if (rc != 0)
		return rc;
	if (len < dd_chain_memsize(p) || ((uintptr_t)mem & 63) != 0) {
		snprintf(err, errlen, "chain: %zu bytes at %p given, %zu 64-byte aligned bytes needed", len, mem,
			 dd_chain_memsize(p));
		return -EINVAL;
	}
	memset(c, 0, sizeof(*c));
	c->spec = *p->spec;
	c->nops = p->spec->nops;
	c->shard = p->shard;
	c->burst = p->burst;
	c->clock = p->clock;
	c->emit.shard = (uint16_t)p->shard;
	uint8_t *m = mem;
	size_t cap = out_cap(p->spec, p->burst);
	c->emit.out = (struct dd_output *)(void *)m;
	c->emit.cap = (unsigned)cap;
	m += ALIGN64(cap * sizeof(struct dd_output));
	for (unsigned i = 0; i < c->nops; i++) {
		const struct dd_op_ops *ops = dd_op_find(c->spec.op[i].id);
		size_t n = ops->memsize(c->spec.op[i].params);
		c->op[i].ops = ops;
		c->op[i].state = m;
		if ((rc = ops->init(m, n, c->spec.op[i].params)) != 0) {
			snprintf(err, errlen, "chain: operator %u (%s): init failed: %s", i, ops->name, strerror(-rc));
			return rc;
		}
		m += ALIGN64(n);
	}
	return 0;
}

bool dd_chain_pending(const struct dd_chain *c)
{
	for (unsigned i = 0; i < c->nops; i++)
		if (c->op[i].ops->pending != NULL && c->op[i].ops->pending(c->op[i].state))
			return true;
	return false;
}

void *dd_chain_state(const struct dd_chain *c, unsigned id)
{
	for (unsigned i = 0; i < c->nops; i++)
		if (c->op[i].ops->id == id)
			return c->op[i].state;
	return NULL;
}

/*
 * Operator k over the burst. cur[] are the read positions in the outputs of the operators before
 * it, for consume(): each of their groups is in cause order, so the outputs of event i are the
 * next ones with cause[i].
 */
static void run_op(struct dd_chain *c, unsigned k, const struct dd_event *ev, const uint64_t *cause, unsigned n)
{
	struct dd_chain_op *op = &c->op[k];
	const struct dd_op_ops *ops = op->ops;
	unsigned cur[DD_CHAIN_MAX_OPS];
	for (unsigned m = 0; m < k; m++)
		cur[m] = c->op[m].out_begin;
	op->out_begin = c->emit.n;
	c->emit.op = ops->id;
	if (ops->apply_run != NULL && ops->advance == NULL && ops->consume == NULL) {
		ops->apply_run(op->state, ev, cause, n, &c->emit);
		op->out_end = c->emit.n;
		op->outputs += op->out_end - op->out_begin;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		c->emit.ev = &ev[i];
		c->emit.cause = cause[i];
		bool tick = ev[i].type == DD_EV_TICK;
		if (!tick)
			ops->apply(op->state, &ev[i], &c->emit);
		/* what earlier operators derived from this input (on a tick: what their advance fired),
		 * before this operator's own advance: those records are not later than the watermark */
		for (unsigned m = 0; ops->consume != NULL && m < k; m++)
			while (cur[m] < c->op[m].out_end && c->emit.out[cur[m]].cause == cause[i])
				ops->consume(op->state, &c->emit.out[cur[m]++], &c->emit);
		/* a later tick moves the watermark; one at the same watermark (the RX lcore's, while an
		 * operator has work pending) lets the operator go on with what it deferred */
		if (tick && ev[i].event_ns >= op->watermark) {
			op->watermark = ev[i].event_ns;
			if (ops->advance != NULL)
				ops->advance(op->state, op->watermark, &c->emit);
		}
	}
	op->out_end = c->emit.n;
	op->outputs += op->out_end - op->out_begin;
}

void dd_chain_run(struct dd_chain *c, const struct dd_event *ev, const uint64_t *cause, unsigned n)
{
	for (unsigned k = 0; k < c->nops; k++) {
		if (c->clock != NULL) {
			uint64_t t0 = c->clock();
			run_op(c, k, ev, cause, n);
			c->op[k].ticks = c->clock() - t0;
		} else {
			run_op(c, k, ev, cause, n);
		}
	}
	for (unsigned i = 0; i < n; i++)
		c->ticks += ev[i].type == DD_EV_TICK;
	c->events += n;
	c->last_n = n;
}

/* ---- snapshots ---------------------------------------------------------------------------------- */

#define CHAIN_MAGIC 0x4e484344u /* "DCHN" */
#define CHAIN_VERSION 1u

struct chain_head {
	uint32_t magic, version, nops, shard;
	uint64_t events, ticks;
};

struct op_head {
	uint32_t id, pad;
	uint64_t watermark, outputs;
};

int dd_chain_save(const struct dd_chain *c, dd_put_fn put, void *ctx)
{
	struct chain_head h = { CHAIN_MAGIC, CHAIN_VERSION, c->nops, c->shard, c->events, c->ticks };
	int rc = put(ctx, &h, sizeof(h));
	for (unsigned i = 0; rc == 0 && i < c->nops; i++) {
		struct op_head oh = { c->op[i].ops->id, 0, c->op[i].watermark, c->op[i].outputs };
		rc = put(ctx, &oh, sizeof(oh));
		if (rc == 0)
			rc = c->op[i].ops->save(c->op[i].state, put, ctx);
	}
	return rc < 0 ? rc : 0;
}

int dd_chain_load(struct dd_chain *c, dd_get_fn get, void *ctx)
{
	struct chain_head h;
	int rc = get(ctx, &h, sizeof(h));
	if (rc < 0)
		return -EBADMSG;
	if (h.magic != CHAIN_MAGIC || h.version != CHAIN_VERSION)
		return -EBADMSG;
	if (h.nops != c->nops)
		return -EINVAL;
	for (unsigned i = 0; i < c->nops; i++) {
		struct op_head oh;
		if (get(ctx, &oh, sizeof(oh)) < 0)
			return -EBADMSG;
		if (oh.id != c->op[i].ops->id)
			return -EINVAL;
		if ((rc = c->op[i].ops->load(c->op[i].state, get, ctx)) != 0)
			return rc;
		c->op[i].watermark = oh.watermark;
		c->op[i].outputs = oh.outputs;
	}
	c->events = h.events;
	c->ticks = h.ticks;
	return 0;
}
