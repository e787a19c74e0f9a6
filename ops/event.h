/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_EVENT_H
#define DD_OPS_EVENT_H

/*
 * Canonical events: what decoders hand to the operators (DESIGN.md §3).
 *
 * One event is one cache line, passed by value through rings and into the journal. Every field is a
 * fixed-width integer in host byte order; text fields are fixed-width, space padded, not
 * NUL-terminated, exactly as they arrive on the wire. Prices are in the feed's fixed point (ITCH:
 * four implied decimals), share counts are integers, times are nanoseconds.
 *
 * The layout is pinned with _Static_assert because events cross rings and (later) files.
 */

#include <stddef.h>
#include <stdint.h>

#define DD_CACHE_LINE 64

enum dd_event_type {
	DD_EV_NONE = 0,
	DD_EV_SYSTEM,        /* ITCH S: system event (start of day, market open, ...) */
	DD_EV_DIRECTORY,     /* ITCH R: stock directory, binds a locate code to a symbol */
	DD_EV_TRADING_STATE, /* ITCH H: trading action (halted, paused, quotation only, trading) */
	DD_EV_ADD,           /* ITCH A and F: add a displayed order */
	DD_EV_EXEC,          /* ITCH E: order executed at its own price */
	DD_EV_EXEC_PRICE,    /* ITCH C: order executed at a different price */
	DD_EV_CANCEL,        /* ITCH X: part of an order cancelled */
	DD_EV_DELETE,        /* ITCH D: order deleted */
	DD_EV_REPLACE,       /* ITCH U: order replaced by a new reference (loses priority) */
	DD_EV_TRADE,         /* ITCH P: trade against a non-displayed order */
	DD_EV_CROSS,         /* ITCH Q: cross (opening, closing, halt/IPO) trade */
	DD_EV_BROKEN,        /* ITCH B: a previously reported execution was broken */
	DD_EV_MARK,          /* pipeline-internal batch mark on a worker ring (dataplane/dpdk/lcore.c);
	                      * consumed by the worker that receives it, never by an operator */
	DD_EV_TICK,          /* explicit time: event_ns moves the watermarks of every shard's chain
	                      * (journaled like any input; never the wall clock) */
	DD_EV_PAYMENT,       /* payment authorisation, first half (dd_ev_payment): always followed by */
	DD_EV_PAYMENT_X,     /* its second half (dd_ev_payment_x), which completes it */
	DD_EV_RULES,         /* pipeline-internal, on a worker ring: a reloaded rule set to put in force here
	                      * (payload: its address; msg 'M': market rules, for the market chain; else the
	                      * payment chain's); never journaled or applied */
	DD_EV__COUNT
};

/* Side as on the ITCH wire. */
#define DD_SIDE_BUY  'B'
#define DD_SIDE_SELL 'S'

struct dd_ev_system {
	uint8_t event_code; /* 'O' start of messages, 'S' start of system hours, 'Q' market open, ... */
};

struct dd_ev_directory {
	char stock[8];
	uint32_t round_lot_size;
	uint32_t etp_leverage_factor;
	uint8_t market_category;
	uint8_t financial_status;
	uint8_t round_lots_only;
	uint8_t issue_classification;
	char issue_subtype[2];
	uint8_t authenticity;
	uint8_t short_sale_threshold;
	uint8_t ipo_flag;
	uint8_t luld_tier;
	uint8_t etp_flag;
	uint8_t inverse;
};

struct dd_ev_trading_state {
	char stock[8];
	uint8_t state;    /* 'H' halted, 'P' paused, 'Q' quotation only, 'T' trading */
	uint8_t reserved;
	char reason[4];
};

struct dd_ev_add {
	uint64_t ref;
	uint32_t shares;
	uint32_t price;
	uint8_t side;     /* DD_SIDE_BUY or DD_SIDE_SELL */
	uint8_t pad[3];
	char stock[8];
	char mpid[4];     /* F only; spaces for A */
};

struct dd_ev_exec {
	uint64_t ref;
	uint64_t match;
	uint32_t shares;
	uint32_t price;   /* C: execution price; E: 0 (the order's own price) */
	uint8_t printable; /* C: 'Y' or 'N'; E: 'Y' */
};

struct dd_ev_cancel {
	uint64_t ref;
	uint32_t shares;
};

struct dd_ev_delete {
	uint64_t ref;
};

struct dd_ev_replace {
	uint64_t ref;     /* original order */
	uint64_t new_ref;
	uint32_t shares;
	uint32_t price;
};

struct dd_ev_trade {
	uint64_t ref;
	uint64_t match;
	uint32_t shares;
	uint32_t price;
	uint8_t side;
};

struct dd_ev_cross {
	uint64_t shares;
	uint64_t match;
	uint32_t price;
	uint8_t cross_type;
};

struct dd_ev_broken {
	uint64_t match;
};

/*
 * A payment takes two events (DESIGN.md §3: "a payment may take two" cache lines): the decoder
 * emits the first half and then the second, with the same header (source, msg 'P', key, seq,
 * event_ns). They travel as two inputs, each journaled with its own LSN; the fraud operator keeps
 * the first half and decides when the second arrives, so the decision's cause is the second's LSN.
 * Money is in minor units, coordinates in millionths of a degree, time in ns since the Unix epoch.
 */
struct dd_ev_payment {
	uint64_t txn_id;
	uint64_t payer;    /* payer account; the event's key is dd_payment_key(payer) */
	int64_t amount;    /* minor units (paise, cents) of the currency */
	uint64_t device;   /* device fingerprint id */
};

struct dd_ev_payment_x {
	uint64_t payee;    /* payee account, 0 when the payment is to a merchant */
	uint64_t merchant; /* merchant id, 0 when there is none */
	int32_t lat_e6;    /* payer location; both 0: none */
	int32_t lon_e6;
	char currency[3];  /* ISO 4217 alphabetic code, as on the wire */
	uint8_t channel;   /* 'U' UPI, 'C' card, 'W' wallet (as on the wire; validated by the operator) */
	uint8_t kind;      /* 'P' P2P, 'M' P2M, 'B' bill */
	uint8_t pad;
	uint16_t mcc;      /* merchant category code */
};

/* The partition key of a payer's events: the payer's 64 bits folded to 32. */
static inline uint32_t dd_payment_key(uint64_t payer)
{
	return (uint32_t)(payer ^ (payer >> 32));
}

static inline int dd_event_is_payment(unsigned type)
{
	return type == DD_EV_PAYMENT || type == DD_EV_PAYMENT_X;
}

#define DD_EVENT_PAYLOAD 32

struct dd_event {
	uint8_t type;      /* enum dd_event_type */
	uint8_t source;    /* feed index in the configuration */
	uint8_t msg;       /* wire message type ('A', 'F', ...) */
	uint8_t flags;     /* reserved, zero */
	uint32_t key;      /* partition key: the ITCH stock locate code; payments: dd_payment_key() */
	uint64_t seq;      /* feed sequence number (MoldUDP64) */
	uint64_t event_ns; /* event time: ns since midnight for ITCH, since the Unix epoch for payments */
	uint64_t rx_tsc;   /* TSC when the packet was polled (or the NIC timestamp as TSC) */
	union {
		uint8_t raw[DD_EVENT_PAYLOAD];
		struct dd_ev_system system;
		struct dd_ev_directory directory;
		struct dd_ev_trading_state trading_state;
		struct dd_ev_add add;
		struct dd_ev_exec exec;
		struct dd_ev_cancel cancel;
		struct dd_ev_delete del;
		struct dd_ev_replace replace;
		struct dd_ev_trade trade;
		struct dd_ev_cross cross;
		struct dd_ev_broken broken;
		struct dd_ev_payment pay;
		struct dd_ev_payment_x payx;
	} u;
};

_Static_assert(sizeof(struct dd_event) == DD_CACHE_LINE, "an event is one cache line");
_Static_assert(offsetof(struct dd_event, u) == 32, "event header is 32 bytes");
_Static_assert(sizeof(struct dd_ev_directory) <= DD_EVENT_PAYLOAD, "directory fits");
_Static_assert(sizeof(struct dd_ev_add) <= DD_EVENT_PAYLOAD, "add fits");
_Static_assert(sizeof(struct dd_ev_exec) <= DD_EVENT_PAYLOAD, "exec fits");
_Static_assert(sizeof(struct dd_ev_trade) <= DD_EVENT_PAYLOAD, "trade fits");
_Static_assert(sizeof(struct dd_ev_cross) <= DD_EVENT_PAYLOAD, "cross fits");
_Static_assert(sizeof(struct dd_ev_payment) == DD_EVENT_PAYLOAD, "payment fits");
_Static_assert(sizeof(struct dd_ev_payment_x) == DD_EVENT_PAYLOAD, "payment second half fits");

/* Name of an event type for logs and dumps ("add", "exec", ...); "?" if out of range. */
const char *dd_event_type_name(unsigned type);

#endif /* DD_OPS_EVENT_H */
