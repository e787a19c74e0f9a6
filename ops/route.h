/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_ROUTE_H
#define DD_OPS_ROUTE_H

/*
 * Which shard a market event goes to in a staged pipeline (DESIGN.md §2): the RX lcore routes with
 * it, and replay routes the journal's events with the same table, so both put every event on the
 * same shard.
 *
 * By locate (DD_ROUTE_LOCATE): dd_shard_of(locate). Stateless, and what journals written before
 * routes existed used. Two venues that give one symbol different locate codes then put it on
 * different shards, and a pattern that reads both venues (arbitrage) cannot see them together.
 *
 * By symbol (DD_ROUTE_SYMBOL): a (feed, locate) goes to its symbol's shard, from the feed's stock
 * directory message (ITCH R), which comes before anything else of the locate in a day; the shard of
 * a symbol is dd_shard_of() of a hash of its eight bytes, the same on every feed. A locate seen
 * before any directory message of it goes by locate, and stays there until one comes. A directory
 * message moves the locate to its symbol's shard (ITCH binds a locate for the day before using it;
 * a locate re-bound while it has orders would leave them on the shard they were on).
 *
 * The table is state: snapshots carry it (dd_route_save/load) so a replay from a snapshot routes
 * as the run did. Memory: 2 bytes per (feed, locate), in the caller's memory, sized at init.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/chain.h"
#include "ops/event.h"

enum dd_route_policy {
	DD_ROUTE_LOCATE = 0,
	DD_ROUTE_SYMBOL = 1,
};

struct dd_route {
	unsigned policy;  /* enum dd_route_policy */
	unsigned nshards;
	unsigned nfeeds;
	uint16_t *shard;  /* [nfeeds][65536]: shard + 1 of (feed, locate); 0: not routed yet */
};

/* Bytes dd_route_init() needs for `nfeeds` feeds under `policy` (0 for DD_ROUTE_LOCATE). */
size_t dd_route_memsize(unsigned policy, unsigned nfeeds);

/* Set up a route over `mem` (dd_route_memsize() bytes; may be NULL for DD_ROUTE_LOCATE). */
void dd_route_init(struct dd_route *r, void *mem, unsigned policy, unsigned nshards, unsigned nfeeds);

/* The shard of a symbol's eight bytes (space padded, as ITCH gives them). */
static inline unsigned dd_route_symbol_shard(const char stock[8], unsigned nshards)
{
	uint64_t v;
	memcpy(&v, stock, sizeof(v));
	v *= 0x9E3779B97F4A7C15ull;
	return dd_shard_of((uint32_t)(v >> 32), nshards);
}

/*
 * The shard of a market event that goes to one shard (not a broadcast event, not a payment).
 * Records what a directory message says, and where an unknown locate went. Data plane.
 */
static inline unsigned dd_route_shard(struct dd_route *r, const struct dd_event *ev)
{
	if (r->policy != DD_ROUTE_SYMBOL || ev->source >= r->nfeeds || ev->key > 0xffff)
		return dd_shard_of(ev->key, r->nshards);
	uint16_t *s = &r->shard[(size_t)ev->source << 16 | ev->key];
	if (ev->type == DD_EV_DIRECTORY)
		*s = (uint16_t)(1 + dd_route_symbol_shard(ev->u.directory.stock, r->nshards));
	else if (*s == 0)
		*s = (uint16_t)(1 + dd_shard_of(ev->key, r->nshards));
	return *s - 1u;
}

/* (feed, locate) pairs routed so far. */
uint64_t dd_route_count(const struct dd_route *r);

/*
 * The table as a snapshot holds it: u32 policy, u32 nfeeds, u64 count, then count entries
 * (u32 feed << 16 | locate, u16 shard + 1, u16 0). dd_route_load() reads one into a route
 * initialised with the same policy and feeds and at least as many shards as any entry names:
 * 0, or -EBADMSG (malformed, or for another policy, feed count or shard count).
 */
int dd_route_save(const struct dd_route *r, dd_put_fn put, void *ctx);
int dd_route_load(struct dd_route *r, dd_get_fn get, void *ctx);

/* Copy `from`'s table into `to` (same policy and feeds: -EINVAL otherwise). Control plane. */
int dd_route_copy(struct dd_route *to, const struct dd_route *from);

#endif /* DD_OPS_ROUTE_H */
