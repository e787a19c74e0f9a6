/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_FEED_H
#define DD_DATAPLANE_FEED_H

/*
 * A market-data feed: which UDP datagrams belong to it (its lines), their MoldUDP64 sequencing and
 * their ITCH 5.0 decoding into canonical events. DPDK-free, so the daemon, replay tools, tests and
 * benchmarks drive exactly the same code.
 *
 * A feed owns one MoldUDP64 session tracker; each line (a destination group:port, optionally
 * restricted to one DPDK port) is one input of its A/B arbitration. With no feed configured the
 * daemon uses a single catch-all feed whose lines are learned: each new destination group:port
 * becomes the next line (up to DD_MOLD_MAX_LINES; later ones share the last line).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/moldudp64.h"
#include "dataplane/wire/payment.h"
#include "ops/event.h"

#define DD_FEED_NAME_MAX 32
#define DD_MAX_FEEDS 8
#define DD_ANY_PORT 0xFFFFu

/* Where a line's datagrams arrive. Zero fields match anything. */
struct dd_feed_line {
	uint32_t ip;        /* destination IPv4 (host order), 0 = any */
	uint16_t udp_port;  /* destination UDP port, 0 = any */
	uint16_t dpdk_port; /* DPDK port id, DD_ANY_PORT = any */
};

/* What a feed carries. */
enum dd_feed_kind {
	DD_FEED_MARKET = 0,  /* NASDAQ TotalView-ITCH 5.0 */
	DD_FEED_PAYMENT = 1, /* dadar payment authorisations (dataplane/wire/payment.h) */
};

struct dd_feed_cfg {
	char name[DD_FEED_NAME_MAX];
	uint8_t kind;          /* enum dd_feed_kind */
	unsigned nlines;       /* 0 = catch-all with learned lines */
	struct dd_feed_line line[DD_MOLD_MAX_LINES];
};

/*
 * Where decoded events go. The feed appends to ev[] and calls flush() when the buffer is full and
 * before dd_feed_rx() or dd_feed_poll() returns, so no event waits for a later packet. flush()
 * consumes ev[0..n) and sets n = 0.
 */
struct dd_sink {
	struct dd_event *ev;
	unsigned n;
	unsigned cap;
	void (*flush)(struct dd_sink *s);
	void *ctx;
};

/* Why an ITCH message inside a valid MoldUDP64 datagram was not decoded. */
struct dd_itch_stats {
	uint64_t messages[256]; /* decoded, by type letter (duplicates excluded) */
	uint64_t unknown;       /* type not in ITCH 5.0: skipped by its framing length */
	uint64_t bad_length;    /* known type with the wrong length */
	uint64_t empty;         /* zero-length message */
	uint64_t events;        /* canonical events produced */
};

struct dd_feed {
	struct dd_feed_cfg cfg;
	uint8_t index;          /* event source id */
	unsigned learned;       /* catch-all: lines learned so far */
	struct dd_mold_session mold;
	struct dd_itch_stats itch; /* market feeds; itch.events counts a payment feed's events too */
	struct dd_pay_stats pay;   /* payment feeds */
};

/* Bytes of caller memory dd_feed_init() needs (the MoldUDP64 reorder window). */
size_t dd_feed_memsize(const struct dd_mold_params *mp);

/*
 * Initialise feed `f` number `index` from `cfg` with MoldUDP64 parameters `mp`, over `len` bytes at
 * `mem` (see dd_feed_memsize()). Returns 0 or -EINVAL.
 */
int dd_feed_init(struct dd_feed *f, unsigned index, const struct dd_feed_cfg *cfg,
		 const struct dd_mold_params *mp, void *mem, size_t len);

/*
 * The line of feed `f` that a datagram to dst_ip:dst_port received on DPDK port `dpdk_port` belongs
 * to, or -1 if it is not this feed's.
 */
int dd_feed_line_of(struct dd_feed *f, uint32_t dst_ip, uint16_t dst_port, uint16_t dpdk_port);

/*
 * Take one UDP payload of `len` bytes received on `line` at `rx_tsc` (also the time base of the
 * reorder timeout): sequence it, decode what it delivers (and anything it releases from the reorder
 * window), and append the events to `sink`.
 */
void dd_feed_rx(struct dd_feed *f, const uint8_t *p, size_t len, unsigned line, uint64_t rx_tsc,
		struct dd_sink *sink);

/*
 * Release held datagrams whose reorder timeout has passed at `now` (UINT64_MAX: all of them, at
 * shutdown), decoding them into `sink`. Cheap when nothing is held.
 */
void dd_feed_poll(struct dd_feed *f, uint64_t now, struct dd_sink *sink);

#endif /* DD_DATAPLANE_FEED_H */
