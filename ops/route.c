/* SPDX-License-Identifier: MIT */
#include "ops/route.h"

#include <errno.h>

#define LOCATES 65536u

size_t dd_route_memsize(unsigned policy, unsigned nfeeds)
{
	return policy == DD_ROUTE_SYMBOL ? (size_t)nfeeds * LOCATES * sizeof(uint16_t) : 0;
}

void dd_route_init(struct dd_route *r, void *mem, unsigned policy, unsigned nshards, unsigned nfeeds)
{
	*r = (struct dd_route){ .policy = policy, .nshards = nshards, .nfeeds = nfeeds, .shard = mem };
	if (policy == DD_ROUTE_SYMBOL)
		memset(mem, 0, dd_route_memsize(policy, nfeeds));
}

uint64_t dd_route_count(const struct dd_route *r)
{
	uint64_t n = 0;
	if (r->policy == DD_ROUTE_SYMBOL)
		for (size_t i = 0; i < (size_t)r->nfeeds * LOCATES; i++)
			n += r->shard[i] != 0;
	return n;
}

struct route_entry {
	uint32_t at; /* feed << 16 | locate */
	uint16_t shard1;
	uint16_t zero;
};

int dd_route_save(const struct dd_route *r, dd_put_fn put, void *ctx)
{
	uint32_t h[2] = { r->policy, r->nfeeds };
	uint64_t n = dd_route_count(r);
	int rc = put(ctx, h, sizeof(h));
	if (rc == 0)
		rc = put(ctx, &n, sizeof(n));
	for (size_t i = 0; rc == 0 && n > 0 && i < (size_t)r->nfeeds * LOCATES; i++) {
		if (r->shard[i] == 0)
			continue;
		struct route_entry e = { .at = (uint32_t)i, .shard1 = r->shard[i] };
		rc = put(ctx, &e, sizeof(e));
	}
	return rc < 0 ? rc : 0;
}

int dd_route_load(struct dd_route *r, dd_get_fn get, void *ctx)
{
	uint32_t h[2];
	uint64_t n;
	int rc;
	if ((rc = get(ctx, h, sizeof(h))) != 0 || (rc = get(ctx, &n, sizeof(n))) != 0)
		return rc < 0 ? rc : -EBADMSG;
	if (h[0] != r->policy || h[1] != r->nfeeds || n > (uint64_t)r->nfeeds * LOCATES ||
	    (r->policy != DD_ROUTE_SYMBOL && n != 0))
		return -EBADMSG;
	if (r->policy == DD_ROUTE_SYMBOL)
		memset(r->shard, 0, dd_route_memsize(r->policy, r->nfeeds));
	for (uint64_t k = 0; k < n; k++) {
		struct route_entry e;
		if ((rc = get(ctx, &e, sizeof(e))) != 0)
			return rc < 0 ? rc : -EBADMSG;
		if (e.at >= r->nfeeds * LOCATES || e.shard1 == 0 || e.shard1 > r->nshards || e.zero != 0)
			return -EBADMSG;
		r->shard[e.at] = e.shard1;
	}
	return 0;
}

int dd_route_copy(struct dd_route *to, const struct dd_route *from)
{
	if (to->policy != from->policy || to->nfeeds != from->nfeeds || to->nshards != from->nshards)
		return -EINVAL;
	if (to->policy == DD_ROUTE_SYMBOL)
		memcpy(to->shard, from->shard, dd_route_memsize(to->policy, to->nfeeds));
	return 0;
}
