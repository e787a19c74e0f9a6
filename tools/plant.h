/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_PLANT_H
#define DD_TOOLS_PLANT_H

/*
 * A planted synthetic ITCH 5.0 day (dadar-gen synth --plant): a calm background that by
 * construction triggers none of the ten patterns of rules/market.rules, and for each requested
 * pattern a scenario on an instrument of its own that makes the rules produce exactly the alerts
 * dd_plant_alert() lists. docs/patterns.md, "Planted streams", describes the day and every scenario.
 *
 *   start of day  S 'O' 09:29:00; R for every instrument; S 'S'; H 'T' for every instrument; S 'Q'
 *                 09:30:00
 *   order flow    09:30 to 09:58, minute by minute. Every instrument repeats the same one-minute
 *                 program, one message every 5 s at its own phase (0-4 s): adds, executions, a partial
 *                 cancel, a hidden trade, deletes; four trades a minute at mid-1, mid+1, mid, mid-1
 *                 ticks (never three rises in a row), the same volume every minute, orders of at most
 *                 1,500 shares, the book empty at the end of each minute. A scenario instrument runs
 *                 other programs in one or two minutes (its spike, halt, spoof, ...).
 *   end of day    S 'M', S 'E', S 'C' within 3 ms of the last minute's end, so no instrument is silent
 *                 for 60 s when the stream ends.
 *
 * Feed 0 is the day. Feed 1 exists when arbitrage is planted: a second venue quoting the arbitrage
 * instrument only (same symbol, same locate), whose ask crosses feed 0's bid by 1% for 100 ms once.
 * Its messages are timed to interleave with feed 0's; the expected alerts assume the two feeds'
 * messages reach the rules in time order.
 *
 * Timestamps strictly increase on each feed and no two instruments ever share one (an instrument's
 * times are a 100 us grid plus its locate in ns). Executions, cancels and deletes only reference live
 * orders and never exceed their shares; executions take the oldest order at the best price. Everything
 * is a function of the parameters (own splitmix64 generator, integer arithmetic only).
 * All memory is sized at init: dd_plant_memsize() bytes of caller memory.
 */

#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/itch.h"
#include "tools/synth.h"

/* The shipped patterns, in the order docs/patterns.md lists them. */
enum dd_plant_pattern {
	DD_PLANT_MOMENTUM,
	DD_PLANT_VOLUME_SPIKE,
	DD_PLANT_BULL_RUN,
	DD_PLANT_BEAR_SIGNAL,
	DD_PLANT_INSIDER,
	DD_PLANT_MANIPULATION,
	DD_PLANT_SPOOFING,
	DD_PLANT_CIRCUIT_BREAKER,
	DD_PLANT_ARBITRAGE,
	DD_PLANT_STALE_FEED,
	DD_PLANT_PATTERNS
};

#define DD_PLANT_ALL            ((1u << DD_PLANT_PATTERNS) - 1)
/* Locates are 16 bits: the background leaves room for one instrument per scenario. */
#define DD_PLANT_MAX_BACKGROUND (DD_SYNTH_MAX_INSTRUMENTS - DD_PLANT_PATTERNS)
#define DD_PLANT_FEEDS          2
#define DD_PLANT_MAX_ALERTS     16
#define DD_PLANT_MAX_MEASURES   4

struct dd_plant_params {
	uint64_t seed;
	uint32_t background;  /* background instruments, 1..DD_PLANT_MAX_BACKGROUND */
	uint32_t patterns;    /* 1 << enum dd_plant_pattern for each pattern to plant; at least one */
	uint16_t venue2_locate; /* the second venue's locate code for the arbitrage instrument (0: the
	                         * first venue's; event times follow the first venue's either way) */
};

/* One alert the rules must produce over the planted day, as docs/patterns.md defines its keys. */
struct dd_plant_alert {
	uint8_t pattern;      /* enum dd_plant_pattern */
	char symbol[9];       /* unpadded, NUL-terminated */
	uint64_t first_ns;    /* event times of the first and last matched records (a window's: its end) */
	uint64_t last_ns;
	unsigned nmeasures;   /* the pattern's MEASURES, in the order the rule declares them */
	const char *measure_name[DD_PLANT_MAX_MEASURES];
	int64_t measure[DD_PLANT_MAX_MEASURES];
};

struct dd_plant; /* opaque: lives in the caller's memory */

/* Name of `pattern` as rules/market.rules spells it, or NULL if out of range. */
const char *dd_plant_pattern_name(unsigned pattern);

/*
 * Parse `list`, "all" or pattern names separated by commas (repeats allowed), into *patterns.
 * Returns 0, or -EINVAL with *bad_off and *bad_len locating the first element that names no pattern
 * (an empty one included).
 */
int dd_plant_parse(const char *list, uint32_t *patterns, size_t *bad_off, size_t *bad_len);

/* Bytes of memory dd_plant_init() needs for `p`, or 0 if `p` is out of range. */
size_t dd_plant_memsize(const struct dd_plant_params *p);

/*
 * Initialise a planted day for `p` in `len` bytes at `mem` (8-byte aligned, at least
 * dd_plant_memsize(p)) and return it through *out. Returns 0, or -EINVAL if a parameter is out of
 * range or `len` too small.
 */
int dd_plant_init(struct dd_plant **out, void *mem, size_t len, const struct dd_plant_params *p);

/* Feeds the day has: 2 when arbitrage is planted, else 1. */
unsigned dd_plant_feeds(const struct dd_plant *pl);

/*
 * Produce feed `feed`'s next message into `m` (fully overwritten: unused bytes are zero). The feeds
 * are independent: each can be read to its end before the other. Returns 1 when a message was
 * produced, 0 at the end of the feed (at once for a feed the day does not have).
 */
int dd_plant_next(struct dd_plant *pl, unsigned feed, struct dd_itch_msg *m);

/* Messages of feed `feed` produced so far, in all and of type `type`. */
uint64_t dd_plant_produced(const struct dd_plant *pl, unsigned feed);
uint64_t dd_plant_type_count(const struct dd_plant *pl, unsigned feed, uint8_t type);

/* Instruments of feed 0 (background and scenarios: locates 1..n, the scenarios last). */
uint32_t dd_plant_instruments(const struct dd_plant *pl);

/* Symbol (8 bytes, space padded, not NUL-terminated) of `locate`; NULL unless 1..instruments. */
const char *dd_plant_symbol(const struct dd_plant *pl, uint16_t locate);

/*
 * The alerts the rules produce over the day, in the order they are produced: by last_ns (no two
 * share one, and no alert is produced between another's last_ns and the time it is produced).
 */
unsigned dd_plant_alert_count(const struct dd_plant *pl);
const struct dd_plant_alert *dd_plant_alert(const struct dd_plant *pl, unsigned i);

/*
 * Write `a` as one JSON object without a newline into `buf` (capacity `cap`):
 * {"pattern":"spoofing","symbol":"SPOF","first_ns":N,"last_ns":N,"shares":N,...}, the measures
 * after the four keys. Returns its length, or -ENOSPC if it does not fit with its NUL.
 */
int dd_plant_alert_json(const struct dd_plant_alert *a, char *buf, size_t cap);

#endif /* DD_TOOLS_PLANT_H */
