/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_CEP_TIMERS_H
#define DD_OPS_CEP_TIMERS_H

/*
 * Event-time timers of the market operators: a binary min-heap of (due, key, what) in caller
 * memory. Each (key, what) has at most one entry (its owner keeps an "armed" flag), so the
 * capacity is keys × whats and a push never fails for an owner that keeps to that.
 */

#include <stdbool.h>
#include <stdint.h>

struct dd_timer {
	uint64_t due;
	uint32_t key;
	uint32_t what;
};

struct dd_timers {
	struct dd_timer *h;
	uint32_t n, cap;
};

static inline bool dd_timer_before(const struct dd_timer *a, const struct dd_timer *b)
{
	return a->due < b->due || (a->due == b->due && (a->key < b->key || (a->key == b->key && a->what < b->what)));
}

static inline bool dd_timers_push(struct dd_timers *t, uint64_t due, uint32_t key, uint32_t what)
{
	if (t->n == t->cap)
		return false;
	uint32_t i = t->n++;
	struct dd_timer x = { due, key, what };
	while (i > 0) {
		uint32_t up = (i - 1) / 2;
		if (!dd_timer_before(&x, &t->h[up]))
			break;
		t->h[i] = t->h[up];
		i = up;
	}
	t->h[i] = x;
	return true;
}

/* The earliest timer if it is due before `limit` (due < limit): popped into *out. */
static inline bool dd_timers_pop_before(struct dd_timers *t, uint64_t limit, struct dd_timer *out)
{
	if (t->n == 0 || t->h[0].due >= limit)
		return false;
	*out = t->h[0];
	struct dd_timer x = t->h[--t->n];
	uint32_t i = 0;
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		const struct dd_timer *best = &x;
		if (l < t->n && dd_timer_before(&t->h[l], best))
			m = l, best = &t->h[l];
		if (l + 1 < t->n && dd_timer_before(&t->h[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		t->h[i] = t->h[m];
		i = m;
	}
	if (t->n > 0)
		t->h[i] = x;
	return true;
}

#endif /* DD_OPS_CEP_TIMERS_H */
