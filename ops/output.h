/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_OUTPUT_H
#define DD_OPS_OUTPUT_H

/*
 * Outputs: what the operators decide, journaled next to the inputs that caused them and released
 * downstream (DESIGN.md §3). An output is typed and fixed-size: two cache lines, a 64-byte header
 * every output has and a 64-byte body whose layout its type names. Fixed-width fields in host byte
 * order (little-endian on every platform dadar runs on), pinned with _Static_assert because
 * outputs cross rings and files.
 *
 * The header says who decided (operator, rule and rule version), about what (key, shard) and why:
 * `cause` is the journal position (LSN) of the input that completed the output. Inside the daemon,
 * until the release stage numbers the input, `cause` holds the input's position in the run's input
 * stream instead (dataplane/dpdk/journal.h explains the translation); everything that is written
 * or compared holds the LSN.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum dd_output_type {
	DD_OUT_NONE = 0,
	DD_OUT_BBO = 1,  /* best bid and offer of one instrument after an event (body: dd_out_bbo) */
	DD_OUT_TEST = 2, /* emitted by the test operators of the unit and integration tests */
	DD_OUT_DECISION = 3, /* the fraud operator's decision on a payment (body: dd_out_decision) */
	DD_OUT_ALERT = 4,    /* a market pattern matched (body: dd_out_alert) */
	DD_OUT_WINDOW = 5,   /* a window's result (body: dd_out_window) */
	DD_OUT_LATE = 6,     /* a record too late for its window: the side output (body: dd_out_late) */
	DD_OUT_TRADE = 7,    /* internal: an execution as the book saw it, for the operators after it
	                      * (body: dd_out_trade); never journaled or released (dd_output_internal) */
	DD_OUT_MATCHED = 8,  /* the records an alert matched, after it (body: dd_out_matched) */
	DD_OUT__COUNT
};

/* Body of DD_OUT_BBO. A side with no orders has price, shares and orders 0. */
struct dd_out_bbo {
	uint32_t bid_price;  /* feed fixed point (ITCH: 1e-4) */
	uint32_t ask_price;
	uint64_t bid_shares;
	uint64_t ask_shares;
	uint32_t bid_orders;
	uint32_t ask_orders;
	uint16_t locate;     /* ITCH stock locate (= the header's key) */
	uint8_t pad[30];
};

/*
 * Body of DD_OUT_DECISION: one per payment. The header's rule_version is the rule set's version,
 * its key the payer's partition key, its cause the LSN of the payment's second half.
 */
struct dd_out_decision {
	uint64_t txn_id;
	uint64_t payer;
	int64_t amount;      /* minor units */
	uint64_t merchant;   /* 0: none */
	uint64_t device;
	uint32_t reasons;    /* bit i: reason code i (enum dd_reason, ops/fraud/rules.h) */
	uint16_t score;
	uint8_t action;      /* enum dd_action: 0 approve, 1 verify, 2 review, 3 block */
	uint8_t flags;       /* DD_DECISION_* */
	uint16_t mcc;
	char currency[3];
	uint8_t pad[11];
};

#define DD_DECISION_OUT_OF_ORDER 0x01u /* earlier than the payer's latest payment */
#define DD_DECISION_INVALID      0x02u /* a field failed validation (reason `invalid`) */
#define DD_DECISION_NO_PAYER     0x04u /* the payer table was full: scored without payer state */
#define DD_DECISION_TOO_LATE     0x08u /* more than fraud.late_grace_s behind: scored against what is kept */

/*
 * Body of DD_OUT_ALERT. The header's rule is the pattern's index in the rule set, rule_version the
 * set's version, event_ns the completing record's time (an absence: its deadline), cause the LSN
 * of the input that completed it, flags the number of matched records listed by the
 * DD_OUT_MATCHED outputs that follow it.
 */
struct dd_out_alert {
	uint64_t first_ns;   /* event time of the first matched record */
	uint64_t last_ns;    /* ... and of the last */
	int64_t measure[4];  /* the pattern's MEASURES, in order */
	uint64_t first_seq;  /* feed sequence number of the first matched record's message (the header's
	                      * seq and source are the completing event's; 0: a window result) */
	uint32_t events;     /* records matched */
	uint8_t nmeasures;
	uint8_t null_mask;   /* bit i: measure i could not be computed (JSON null) */
	uint8_t timeout;     /* 1: a partial match dropped by WITHIN (EMIT TIMEOUTS) */
	uint8_t first_feed;  /* feed of the first matched record */
};

/*
 * Body of DD_OUT_MATCHED: the matched records of the alert just before it (the next outputs of the
 * same shard after an alert whose flags are n > 0 are its ceil(n / DD_MATCHED_REFS) parts), in
 * the order they matched. Its header is the alert's (type and flags aside). A pattern that can match
 * more records than it lists (DD_MR_MAX_REFS) lists the first DD_MR_MAX_REFS - 1 and the last; the alert's
 * `events` counts them all.
 *
 * A ref names a record by where it came from, so it means the same live, in replay and after a
 * recovery (the journal's EVENT records carry the same feed and sequence number):
 *   a message (bit 63 clear): the feed in bits 56..62, its MoldUDP64 sequence number in bits 0..55
 *     (0: a record with no sequence number, or one beyond 2^56);
 *   a window's result (bit 63 set): bit 62 set for a late firing, the window's index in the rule
 *     set in bits 56..61, the window's end (ns) in bits 0..55 (0: beyond 2^56).
 */
#define DD_MATCHED_REFS 7
#define DD_REF_WINDOW (1ull << 63)
#define DD_REF_LATE (1ull << 62)
#define DD_REF_LOW ((1ull << 56) - 1)

struct dd_out_matched {
	uint64_t ref[DD_MATCHED_REFS];
	uint8_t n;           /* refs in this part (1..DD_MATCHED_REFS) */
	uint8_t part;        /* this part's number, from 0 */
	uint8_t parts;       /* the alert's parts */
	uint8_t pad[5];
};

static inline uint64_t dd_ref_message(unsigned feed, uint64_t seq)
{
	return (uint64_t)(feed & 0x7fu) << 56 | (seq <= DD_REF_LOW ? seq : 0);
}

static inline uint64_t dd_ref_window(unsigned window, bool late, uint64_t end_ns)
{
	return DD_REF_WINDOW | (late ? DD_REF_LATE : 0) | (uint64_t)(window & 0x3fu) << 56 |
	       (end_ns <= DD_REF_LOW ? end_ns : 0);
}

static inline bool dd_ref_is_window(uint64_t ref) { return (ref & DD_REF_WINDOW) != 0; }
static inline unsigned dd_ref_feed(uint64_t ref) { return (unsigned)(ref >> 56) & 0x7fu; }
static inline unsigned dd_ref_window_index(uint64_t ref) { return (unsigned)(ref >> 56) & 0x3fu; }
static inline bool dd_ref_late(uint64_t ref) { return (ref & DD_REF_LATE) != 0; }
static inline uint64_t dd_ref_low(uint64_t ref) { return ref & DD_REF_LOW; }

/* Body of DD_OUT_WINDOW. The header's rule is the window's index, flags bit 0 a late firing. */
struct dd_out_window {
	uint64_t start_ns, end_ns;
	int64_t value[6];    /* the window's aggregates, in order */
};

/* Body of DD_OUT_LATE: a record later than its window's end + lateness, dropped from it. */
struct dd_out_late {
	uint64_t window_end; /* end of the latest window it would have been in */
	uint64_t watermark;
	uint64_t time;       /* the record's event time */
	uint8_t window;      /* the window's index */
	uint8_t pad[39];
};

/* Body of DD_OUT_TRADE (internal): an execution (E, C) or a hidden trade (P). */
struct dd_out_trade {
	uint64_t ref, match;
	uint32_t shares, price;
	uint8_t side;        /* the resting order's side, as ITCH gives it */
	uint8_t pad[39];
};

#define DD_OUTPUT_FLAG_LATE 0x01u /* DD_OUT_WINDOW: a late firing */

/* Body of DD_OUT_TEST: whatever a test operator wants to check. */
struct dd_out_test {
	uint64_t v[8];
};

#define DD_OUTPUT_BODY 64

struct dd_output {
	uint16_t type;         /* enum dd_output_type */
	uint8_t op;            /* operator kind (enum dd_op_id, ops/op.h) */
	uint8_t source;        /* feed index of the causing event */
	uint16_t rule;         /* rule of the operator that fired (0: the operator's only rule) */
	uint16_t rule_version; /* version of the rule set in force (0: the operator has none) */
	uint32_t key;          /* partition key of the causing event (ITCH: stock locate) */
	uint16_t shard;        /* chain (worker shard) that produced it */
	uint16_t flags;        /* reserved, zero */
	uint64_t seq;          /* feed sequence number of the causing event */
	uint64_t event_ns;     /* event time of the causing event */
	uint64_t cause;        /* journal position (LSN) of the input that completed it */
	char symbol[8];        /* alerts, windows, late records: the symbol, space padded; else zero */
	uint8_t reserved[8];   /* zero */
	uint64_t rx_tsc;       /* RX time of the causing event (for wire-to-decision); not compared */
	union {
		uint8_t raw[DD_OUTPUT_BODY];
		struct dd_out_bbo bbo;
		struct dd_out_test test;
		struct dd_out_decision decision;
		struct dd_out_alert alert;
		struct dd_out_window window;
		struct dd_out_late late;
		struct dd_out_trade trade;
		struct dd_out_matched matched;
	} u;
};

_Static_assert(sizeof(struct dd_out_bbo) == DD_OUTPUT_BODY, "bbo body is 64 bytes");
_Static_assert(sizeof(struct dd_out_test) == DD_OUTPUT_BODY, "test body is 64 bytes");
_Static_assert(sizeof(struct dd_out_decision) == DD_OUTPUT_BODY, "decision body is 64 bytes");
_Static_assert(sizeof(struct dd_out_alert) == DD_OUTPUT_BODY, "alert body is 64 bytes");
_Static_assert(sizeof(struct dd_out_window) == DD_OUTPUT_BODY, "window body is 64 bytes");
_Static_assert(sizeof(struct dd_out_late) == DD_OUTPUT_BODY, "late body is 64 bytes");
_Static_assert(sizeof(struct dd_out_trade) == DD_OUTPUT_BODY, "trade body is 64 bytes");
_Static_assert(sizeof(struct dd_out_matched) == DD_OUTPUT_BODY, "matched body is 64 bytes");
_Static_assert(sizeof(struct dd_output) == 128, "an output is two cache lines");
_Static_assert(offsetof(struct dd_output, rx_tsc) == 56, "rx_tsc ends the header");
_Static_assert(offsetof(struct dd_output, u) == 64, "the body is the second cache line");

/*
 * Do two outputs say the same thing? Every byte but rx_tsc (which replay cannot reproduce): this is
 * what recovery and offline replay check journaled outputs with.
 */
static inline bool dd_output_same(const struct dd_output *a, const struct dd_output *b)
{
	return memcmp(a, b, offsetof(struct dd_output, rx_tsc)) == 0 &&
	       memcmp(&a->u, &b->u, sizeof(a->u)) == 0;
}

/* Is an output internal to the chain (read by later operators, never journaled or released)? */
static inline bool dd_output_internal(unsigned type)
{
	return type == DD_OUT_TRADE;
}

/* Stable name of an output type ("bbo", "test"), "?" if unknown. */
const char *dd_output_type_name(unsigned type);

#endif /* DD_OPS_OUTPUT_H */
