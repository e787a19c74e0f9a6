/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_OUTPUT_H
#define DD_OPS_OUTPUT_H

/*
 * Outputs: what the operators decide, journaled next to the inputs that caused them and released
 * downstream. One output is one cache line, fixed-width fields, host byte order (little-endian on
 * every platform dadar runs on), pinned with _Static_assert because outputs cross rings and files.
 *
 * The order book emits a top-of-book output whenever an event changes the best bid or offer of an
 * instrument (price, shares or order count): a consolidated quote stream that downstream consumers
 * (and replay) can check against the books.
 */

#include <stddef.h>
#include <stdint.h>

enum dd_output_type {
	DD_OUT_NONE = 0,
	DD_OUT_BBO = 1, /* best bid and offer of one instrument after an event */
	DD_OUT__COUNT
};

struct dd_output {
	uint8_t type;       /* enum dd_output_type */
	uint8_t source;     /* feed index of the event that caused it */
	uint16_t locate;    /* instrument (ITCH stock locate) */
	uint32_t flags;     /* reserved, zero */
	uint64_t seq;       /* feed sequence number of the causing event */
	uint64_t event_ns;  /* exchange time of the causing event */
	uint32_t bid_price; /* 0 with bid_shares 0: no bid */
	uint32_t ask_price; /* 0 with ask_shares 0: no offer */
	uint64_t bid_shares;
	uint64_t ask_shares;
	uint32_t bid_orders;
	uint32_t ask_orders;
	uint64_t rx_tsc;    /* RX time of the causing event (for wire-to-decision); not compared on replay */
};

_Static_assert(sizeof(struct dd_output) == 64, "an output is one cache line");
_Static_assert(offsetof(struct dd_output, rx_tsc) == 56, "rx_tsc last: replay compares the first 56 bytes");

/* Bytes of an output that replay compares (everything but rx_tsc). */
#define DD_OUTPUT_CMP_LEN offsetof(struct dd_output, rx_tsc)

#endif /* DD_OPS_OUTPUT_H */
