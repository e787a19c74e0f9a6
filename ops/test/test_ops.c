/* SPDX-License-Identifier: MIT */
#include "ops/test/test_ops.h"

#include <errno.h>
#include <string.h>

#define KEYS 65536u
#define STATE_VERSION 1u

/* Both operators' state is plain data without pointers: a snapshot is a version, then the struct. */
static int save_plain(const void *state, size_t len, dd_put_fn put, void *ctx)
{
	uint32_t v = STATE_VERSION;
	int rc = put(ctx, &v, sizeof(v));
	if (rc == 0)
		rc = put(ctx, state, len);
	return rc < 0 ? rc : 0;
}

static int load_plain(void *into, size_t len, dd_get_fn get, void *ctx)
{
	uint32_t v;
	if (get(ctx, &v, sizeof(v)) < 0 || v != STATE_VERSION || get(ctx, into, len) < 0)
		return -EBADMSG;
	return 0;
}

/* ---- test_multi ---------------------------------------------------------------------------------- */

struct multi {
	uint32_t max;
	uint32_t pad;
	uint64_t events;
	uint64_t consumed;
	uint32_t per_key[KEYS];
	uint32_t consumed_key[KEYS];
};

static size_t multi_memsize(const void *params)
{
	const struct dd_test_multi_params *p = params;
	return p->max >= 1 && p->max <= DD_TEST_MULTI_MAX ? sizeof(struct multi) : 0;
}

static int multi_init(void *mem, size_t len, const void *params)
{
	if (len < multi_memsize(params) || multi_memsize(params) == 0)
		return -EINVAL;
	struct multi *s = mem;
	memset(s, 0, sizeof(*s));
	s->max = ((const struct dd_test_multi_params *)params)->max;
	return 0;
}

static void multi_apply(void *state, const struct dd_event *ev, struct dd_emit *e)
{
	struct multi *s = state;
	if (ev->type == DD_EV_SYSTEM)
		return;
	s->events++;
	uint32_t k = ev->key % KEYS;
	uint32_t kc = ++s->per_key[k];
	unsigned n = (unsigned)((ev->seq + ev->key) % (s->max + 1));
	for (unsigned i = 0; i < n; i++) {
		struct dd_output *o = dd_emit(e, DD_OUT_TEST, 1);
		if (o == NULL)
			return;
		o->u.test.v[0] = i;
		o->u.test.v[1] = n;
		o->u.test.v[2] = kc;
		o->u.test.v[3] = s->consumed_key[k];
	}
}

static void multi_consume(void *state, const struct dd_output *o, struct dd_emit *e)
{
	(void)e;
	struct multi *s = state;
	s->consumed++;
	s->consumed_key[o->key % KEYS]++;
}

static int multi_save(const void *state, dd_put_fn put, void *ctx)
{
	return save_plain(state, sizeof(struct multi), put, ctx);
}

static int multi_load(void *state, dd_get_fn get, void *ctx)
{
	/* straight into the state (512 KiB: not a copy on the stack); a failed load leaves it for the
	 * caller to discard, as every load does */
	struct multi *s = state;
	uint32_t max = s->max;
	int rc = load_plain(s, sizeof(*s), get, ctx);
	if (rc != 0)
		return rc;
	return s->max == max ? 0 : -EINVAL;
}

static const char *const multi_counter_names[] = { "test_multi_events", "test_multi_consumed" };

static void multi_counters(const void *state, uint64_t *v)
{
	const struct multi *s = state;
	v[0] = s->events;
	v[1] = s->consumed;
}

const struct dd_op_ops dd_test_multi_op = {
	.name = "test_multi",
	.id = DD_OP_TEST_MULTI,
	.max_out = DD_TEST_MULTI_MAX,
	.memsize = multi_memsize,
	.init = multi_init,
	.apply = multi_apply,
	.consume = multi_consume,
	.save = multi_save,
	.load = multi_load,
	.ncounters = 2,
	.counter_names = multi_counter_names,
	.counters = multi_counters,
};

/* ---- test_timer ---------------------------------------------------------------------------------- */

struct timer {
	uint64_t period;
	uint64_t next;     /* next multiple of period to fire at; 0 before the first watermark */
	uint64_t firings;
	uint64_t count[DD_TEST_TIMER_KEYS]; /* events of each key since its last firing */
};

static size_t timer_memsize(const void *params)
{
	return ((const struct dd_test_timer_params *)params)->period_ns >= 1 ? sizeof(struct timer) : 0;
}

static int timer_init(void *mem, size_t len, const void *params)
{
	if (len < timer_memsize(params) || timer_memsize(params) == 0)
		return -EINVAL;
	struct timer *s = mem;
	memset(s, 0, sizeof(*s));
	s->period = ((const struct dd_test_timer_params *)params)->period_ns;
	return 0;
}

static void timer_apply(void *state, const struct dd_event *ev, struct dd_emit *e)
{
	(void)e;
	struct timer *s = state;
	/* system events reach every shard: counting them would count them once per shard */
	if (ev->type != DD_EV_SYSTEM && ev->key < DD_TEST_TIMER_KEYS)
		s->count[ev->key]++;
}

static void timer_advance(void *state, uint64_t wm, struct dd_emit *e)
{
	struct timer *s = state;
	if (s->next == 0) {
		s->next = (wm / s->period + 1) * s->period;
		return;
	}
	if (wm < s->next)
		return;
	uint64_t crossed = (wm - s->next) / s->period + 1;
	uint64_t last = s->next + (crossed - 1) * s->period;
	for (uint32_t k = 0; k < DD_TEST_TIMER_KEYS; k++) {
		if (s->count[k] == 0)
			continue;
		struct dd_output *o = dd_emit(e, DD_OUT_TEST, 2);
		if (o != NULL) {
			o->key = k;
			o->u.test.v[0] = last;
			o->u.test.v[1] = s->count[k];
			o->u.test.v[2] = crossed;
		}
		s->count[k] = 0;
		s->firings++;
	}
	s->next = last + s->period;
}

static int timer_save(const void *state, dd_put_fn put, void *ctx)
{
	return save_plain(state, sizeof(struct timer), put, ctx);
}

static int timer_load(void *state, dd_get_fn get, void *ctx)
{
	struct timer *s = state, in;
	int rc = load_plain(&in, sizeof(in), get, ctx);
	if (rc != 0)
		return rc;
	if (in.period != s->period)
		return -EINVAL;
	*s = in;
	return 0;
}

static const char *const timer_counter_names[] = { "test_timer_firings" };

static void timer_counters(const void *state, uint64_t *v)
{
	v[0] = ((const struct timer *)state)->firings;
}

const struct dd_op_ops dd_test_timer_op = {
	.name = "test_timer",
	.id = DD_OP_TEST_TIMER,
	.max_out = DD_TEST_TIMER_KEYS,
	.memsize = timer_memsize,
	.init = timer_init,
	.apply = timer_apply,
	.advance = timer_advance,
	.save = timer_save,
	.load = timer_load,
	.ncounters = 1,
	.counter_names = timer_counter_names,
	.counters = timer_counters,
};
