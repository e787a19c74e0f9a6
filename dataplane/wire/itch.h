/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_ITCH_H
#define DD_DATAPLANE_ITCH_H

/*
 * NASDAQ TotalView-ITCH 5.0: decoding, encoding and mapping to canonical events. DPDK-free.
 *
 * Every message starts with the same 11 bytes: type (1), stock locate (2), tracking number (2),
 * timestamp (6, nanoseconds since midnight). All integers on the wire are big-endian; alpha fields
 * are left-justified and space padded. Prices are 4 implied decimals (u32), except the MWCB decline
 * levels (V) which carry 8 implied decimals in a u64.
 *
 * Decoding checks the message against the exact length the specification gives its type: a known
 * type with any other length is rejected, so a decoded message never reads past its bytes.
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/event.h"

/* Length of the common header: type, locate, tracking number, timestamp. */
#define DD_ITCH_HDR_LEN 11
/* Longest message the specification defines (I, NOII). */
#define DD_ITCH_MAX_LEN 50

struct dd_itch_msg {
	uint8_t type;        /* message type letter */
	uint16_t locate;     /* stock locate code; 0 for messages not about one stock */
	uint16_t tracking;   /* NASDAQ internal tracking number */
	uint64_t timestamp;  /* nanoseconds since midnight (48 bits on the wire) */
	union {
		struct { uint8_t event_code; } system;                                  /* S, 12 */
		struct {                                                                /* R, 39 */
			char stock[8];
			uint8_t market_category;
			uint8_t financial_status;
			uint32_t round_lot_size;
			uint8_t round_lots_only;
			uint8_t issue_classification;
			char issue_subtype[2];
			uint8_t authenticity;
			uint8_t short_sale_threshold;
			uint8_t ipo_flag;
			uint8_t luld_tier;
			uint8_t etp_flag;
			uint32_t etp_leverage_factor;
			uint8_t inverse;
		} directory;
		struct {                                                                /* H, 25 */
			char stock[8];
			uint8_t state;
			uint8_t reserved;
			char reason[4];
		} trading_action;
		struct { char stock[8]; uint8_t action; } reg_sho;                      /* Y, 20 */
		struct {                                                                /* L, 26 */
			char mpid[4];
			char stock[8];
			uint8_t primary_market_maker;
			uint8_t market_maker_mode;
			uint8_t participant_state;
		} participant;
		struct { uint64_t level1, level2, level3; } mwcb_decline;               /* V, 35 */
		struct { uint8_t breached_level; } mwcb_status;                        /* W, 12 */
		struct {                                                                /* K, 28 */
			char stock[8];
			uint32_t release_time;   /* seconds since midnight */
			uint8_t release_qualifier;
			uint32_t ipo_price;
		} ipo;
		struct {                                                                /* J, 35 */
			char stock[8];
			uint32_t ref_price;
			uint32_t upper_price;
			uint32_t lower_price;
			uint32_t extension;
		} luld_collar;
		struct { char stock[8]; uint8_t market_code; uint8_t action; } op_halt; /* h, 21 */
		struct {                                                                /* A 36, F 40 */
			uint64_t ref;
			uint8_t side;
			uint32_t shares;
			char stock[8];
			uint32_t price;
			char attribution[4];     /* F only; four spaces for A */
		} add;
		struct { uint64_t ref; uint32_t shares; uint64_t match; } exec;         /* E, 31 */
		struct {                                                                /* C, 36 */
			uint64_t ref;
			uint32_t shares;
			uint64_t match;
			uint8_t printable;
			uint32_t price;
		} exec_price;
		struct { uint64_t ref; uint32_t shares; } cancel;                       /* X, 23 */
		struct { uint64_t ref; } del;                                           /* D, 19 */
		struct { uint64_t orig_ref, new_ref; uint32_t shares, price; } replace; /* U, 35 */
		struct {                                                                /* P, 44 */
			uint64_t ref;
			uint8_t side;
			uint32_t shares;
			char stock[8];
			uint32_t price;
			uint64_t match;
		} trade;
		struct {                                                                /* Q, 40 */
			uint64_t shares;
			char stock[8];
			uint32_t price;
			uint64_t match;
			uint8_t cross_type;
		} cross;
		struct { uint64_t match; } broken;                                      /* B, 19 */
		struct {                                                                /* I, 50 */
			uint64_t paired_shares;
			uint64_t imbalance_shares;
			uint8_t direction;
			char stock[8];
			uint32_t far_price;
			uint32_t near_price;
			uint32_t ref_price;
			uint8_t cross_type;
			uint8_t price_variation;
		} noii;
		struct { char stock[8]; uint8_t interest_flag; } rpii;                  /* N, 20 */
		struct {                                                                /* O, 48 */
			char stock[8];
			uint8_t open_eligibility;
			uint32_t min_price;
			uint32_t max_price;
			uint32_t near_price;
			uint64_t near_time;
			uint32_t lower_collar;
			uint32_t upper_collar;
		} dlcr;
	} u;
};

/*
 * Exact length in bytes (type byte included) the specification gives message type `type`,
 * or 0 if `type` is not an ITCH 5.0 message type.
 */
size_t dd_itch_msg_len(uint8_t type);

/*
 * Decode one message of `len` bytes at `p` into `m`.
 *
 * Returns 0 on success; -EBADMSG if the type is known but `len` differs from its specified length;
 * -ENOMSG if the type is not an ITCH 5.0 type (the caller skips it by its framing length);
 * -ENODATA if `len` is 0. `m` is only written on success.
 */
int dd_itch_decode(const uint8_t *p, size_t len, struct dd_itch_msg *m);

/*
 * Encode `m` into `buf` (capacity `cap`) as its type's wire bytes.
 * Returns the number of bytes written, or -EINVAL for an unknown type, -ENOSPC if `cap` is short.
 */
int dd_itch_encode(const struct dd_itch_msg *m, uint8_t *buf, size_t cap);

/*
 * Map a decoded message to its canonical event. Fills type, msg, key (locate), event_ns and the
 * payload; leaves source, seq and rx_tsc to the caller. Returns 1 if the message type has a
 * canonical event (S R H A F E C X D U P Q B), 0 otherwise (the event is not written).
 */
int dd_itch_to_event(const struct dd_itch_msg *m, struct dd_event *ev);

/*
 * Decode `len` bytes at `p` straight into a canonical event (the hot path: one pass, no
 * intermediate message). Same return values as dd_itch_decode() plus 1: returns 1 when an event
 * was produced, 0 when the message is valid but has no canonical event, negative on error.
 */
int dd_itch_decode_event(const uint8_t *p, size_t len, struct dd_event *ev);

/* Human name of a message type ("Add Order", ...), or NULL if unknown. */
const char *dd_itch_msg_name(uint8_t type);

/* The 23 ITCH 5.0 message type letters, in specification order, NUL-terminated. */
extern const char dd_itch_types[];

#endif /* DD_DATAPLANE_ITCH_H */
