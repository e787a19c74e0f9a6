/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_SYNTH_H
#define DD_TOOLS_SYNTH_H

/*
 * A deterministic synthetic NASDAQ TotalView-ITCH 5.0 day, one message at a time.
 *
 * The stream is a function of the parameters only (own xoshiro256** generator seeded through
 * splitmix64, integer arithmetic only, no libm), so the same seed gives the same bytes on every
 * host. It has the shape of a real feed:
 *
 *   start of day  S 'O'; R for every instrument (unique 1-5 letter symbols, locates 1..N); H 'T' for
 *                 every instrument; S 'S'; S 'Q' at 09:30:00
 *   order flow    adds ~45% (one in nine an F with an MPID), deletes ~35%, partial cancels ~5%,
 *                 executions E ~6% and C ~1%, replaces ~4%, hidden trades P ~2%, and now and then
 *                 every other type (Y L V W K J h I N O Q B H; an H halts or pauses an instrument,
 *                 a later H 'T' resumes it). Instruments are picked with a Zipf (s = 1) popularity;
 *                 each has a mid price doing a random walk on a $0.01 tick; limit prices are a
 *                 geometric number of ticks from the mid and never cross the opposite best price;
 *                 sizes are mostly round lots. Executions take the oldest order at the best price
 *                 of a side (price-time priority). E, C, X, D and U only reference live orders and
 *                 never exceed their remaining shares; an E or C that takes the rest removes the
 *                 order; X always leaves shares (a full cancel is a D); U gives a new unique ref.
 *                 Timestamps strictly increase, microseconds apart with bursts and lulls.
 *   end of day    S 'M', S 'E', S 'C'.
 *
 * Exactly `messages` messages are produced. Every ITCH 5.0 type appears at least once when
 * messages >= 10000 (rare types not drawn by chance in the first half of the order flow are
 * scheduled there). With `drain`, the order flow ends by deleting every live order, so the book is
 * empty when the day ends (a capture of it can be looped).
 *
 * The number of live orders is capped (`max_live`); at the cap an add turns into a delete.
 * All memory is sized at init: dd_synth_memsize() bytes of caller memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/itch.h"

#define DD_SYNTH_MAX_INSTRUMENTS 65535u
/* Messages outside the order flow: S O, R and H per instrument, S S, S Q, S M, S E, S C. */
#define DD_SYNTH_FIXED_MESSAGES(n) (2 * (uint64_t)(n) + 6)

struct dd_synth_params {
	uint64_t seed;
	uint32_t instruments;  /* 1..DD_SYNTH_MAX_INSTRUMENTS */
	uint64_t messages;     /* total, at least DD_SYNTH_FIXED_MESSAGES(instruments) */
	bool drain;            /* end the order flow with an empty book */
	uint32_t max_live;     /* cap on live orders; 0 = min(messages, max(4096, 256 x instruments), 2^20) */
};

struct dd_synth; /* opaque: lives in the caller's memory */

/*
 * A set of distinct symbols for the generators: 2^bits zeroed 8-byte slots of caller memory (bits
 * such that the set stays at most half full). Adds stock[8] (space padded) and returns true, or
 * returns false if it is already there.
 */
bool dd_symset_claim(uint64_t *set, unsigned bits, const char stock[8]);

/* Bytes of memory dd_synth_init() needs for `p`, or 0 if `p` is out of range. */
size_t dd_synth_memsize(const struct dd_synth_params *p);

/*
 * Initialise a generator for `p` in `len` bytes at `mem` (8-byte aligned, at least
 * dd_synth_memsize(p)) and return it through *out. Returns 0, or -EINVAL if a parameter is out of
 * range or `len` too small.
 */
int dd_synth_init(struct dd_synth **out, void *mem, size_t len, const struct dd_synth_params *p);

/*
 * Produce the next message into `m` (fully overwritten: unused bytes are zero).
 * Returns 1 when a message was produced, 0 once all `messages` have been.
 */
int dd_synth_next(struct dd_synth *s, struct dd_itch_msg *m);

/* Messages of type `type` produced so far. */
uint64_t dd_synth_type_count(const struct dd_synth *s, uint8_t type);

/* Messages produced so far. */
uint64_t dd_synth_produced(const struct dd_synth *s);

/* Orders on the book right now. */
uint64_t dd_synth_live_orders(const struct dd_synth *s);

/* Symbol (8 bytes, space padded, not NUL-terminated) of `locate`; NULL unless 1..instruments. */
const char *dd_synth_symbol(const struct dd_synth *s, uint16_t locate);

#endif /* DD_TOOLS_SYNTH_H */
