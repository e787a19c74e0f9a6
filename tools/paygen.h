/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_PAYGEN_H
#define DD_TOOLS_PAYGEN_H

/*
 * Payment authorisation requests for dadar-gen (docs/dadar-gen.md, "payments" and "payments-csv"):
 *
 *   - the encoder of dadar's own 73-byte payment message (docs/wire-formats.md, "Payment
 *     authorisation"), carried in MoldUDP64 by dataplane/wire/molddg.h;
 *   - the payment CSV of the fraud rules' specification (header DD_PAYGEN_CSV_HEADER): a strict
 *     reader that names file, line and column of anything it cannot encode, and a writer whose rows
 *     the reader turns back into the same messages;
 *   - a seeded synthetic stream: an ordinary day of Indian retail payments with labelled fraud
 *     scenarios, one per rule family of the default rule set, mixed in.
 *
 * libc only, integer arithmetic only: the same parameters give the same payments on every host.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- the wire message ------------------------------------------------------------------------- */

#define DD_PAYGEN_MSG_LEN      73
#define DD_PAYGEN_TYPE         'P'
#define DD_PAYGEN_VERSION      1

#define DD_PAYGEN_CHANNEL_UPI    'U'
#define DD_PAYGEN_CHANNEL_CARD   'C'
#define DD_PAYGEN_CHANNEL_WALLET 'W'
#define DD_PAYGEN_KIND_P2P       'P'
#define DD_PAYGEN_KIND_P2M       'M'
#define DD_PAYGEN_KIND_BILL      'B'

/* One payment, host byte order; every field as it goes on the wire (no validation of values). */
struct dd_paygen_msg {
	uint64_t event_ns;     /* ns since the Unix epoch, UTC */
	uint64_t txn_id;
	uint64_t payer;
	uint64_t payee;        /* 0 when the payment is to a merchant */
	uint64_t merchant;     /* 0 when there is none */
	int64_t amount;        /* minor units (paise) */
	char currency[3];      /* ISO 4217 alphabetic code, not NUL-terminated */
	uint16_t mcc;          /* 0 when there is none */
	uint8_t channel;       /* DD_PAYGEN_CHANNEL_* */
	uint8_t kind;          /* DD_PAYGEN_KIND_* */
	uint64_t device;
	int32_t lat_e6;        /* both 0: no location */
	int32_t lon_e6;
};

/*
 * Write `m` as a 'P' version 1 message, big-endian, into the DD_PAYGEN_MSG_LEN bytes at `out`.
 * Every field is copied as is: a payment dadar will judge invalid (amount <= 0, unknown currency,
 * time 0) is encoded faithfully.
 */
void dd_paygen_encode(const struct dd_paygen_msg *m, uint8_t out[DD_PAYGEN_MSG_LEN]);

/* ---- the payment CSV -------------------------------------------------------------------------- */

#define DD_PAYGEN_CSV_HEADER \
	"txn_id,time_ns,payer,payee,merchant,amount_minor,currency,mcc,channel,type,device,lat_e6,lon_e6"
#define DD_PAYGEN_CSV_COLUMNS  13
/* Longest line the reader takes, newline excluded (a full row of extreme values is under 250). */
#define DD_PAYGEN_CSV_LINE_MAX 511

/* Reader state: the caller owns `f`; no memory is allocated. */
struct dd_paygen_csv {
	FILE *f;
	const char *name;      /* file name used in error messages */
	uint64_t line;         /* number of the line read last (1 = the header) */
	bool header_done;
	char buf[DD_PAYGEN_CSV_LINE_MAX + 2];
	char err[DD_PAYGEN_CSV_LINE_MAX + 256]; /* why the last call failed, "name:line: ..." */
};

/* Start reading the CSV `f`, called `name` in messages. */
void dd_paygen_csv_init(struct dd_paygen_csv *r, FILE *f, const char *name);

/*
 * Read the next row into `m`; the first call reads and checks the header (a UTF-8 byte order mark
 * before it and a CR before any newline are accepted). Returns 1 with a payment, 0 at the end of
 * the file, -EINVAL for a line that cannot be encoded (r->err says "name:line: column N (name):
 * what is wrong"; the reader cannot go on), or -errno of a failed read (r->err names it too).
 *
 * A row is refused when it does not have exactly 13 columns, a number is not a plain decimal
 * integer (digits only; a leading '-' only for amount_minor, lat_e6 and lon_e6) or does not fit its
 * wire field (u64; amount i64; mcc u16; lat/lon i32), the currency is not three ASCII letters, the
 * channel is not upi|card|wallet or the type not p2p|p2m|bill (lower case). Values dadar judges
 * invalid but can be encoded (amount <= 0, currency "XYZ", time 0, latitude 95°) are taken.
 */
int dd_paygen_csv_next(struct dd_paygen_csv *r, struct dd_paygen_msg *m);

/*
 * Write `m` as one CSV row (with newline) to `f`, in the form dd_paygen_csv_next() reads back into
 * the same message. Returns 0, -EINVAL if the channel, kind or currency has no CSV spelling, or
 * -EIO if the write failed.
 */
int dd_paygen_csv_write(FILE *f, const struct dd_paygen_msg *m);

/* ---- the synthetic stream --------------------------------------------------------------------- */

/* The injected scenarios; each is named after the rule (reason code) it is built to fire. */
enum dd_paygen_scenario {
	DD_PAYGEN_NORMAL = 0,
	DD_PAYGEN_VELOCITY_HOUR_COUNT,
	DD_PAYGEN_VELOCITY_HOUR_AMOUNT,
	DD_PAYGEN_VELOCITY_DAY_AMOUNT,
	DD_PAYGEN_REPEATED_AMOUNT,
	DD_PAYGEN_STRUCTURING,
	DD_PAYGEN_BELOW_LIMIT,
	DD_PAYGEN_ROUND_AMOUNT,
	DD_PAYGEN_NEW_DEVICE_LARGE,
	DD_PAYGEN_SHARED_DEVICE,
	DD_PAYGEN_IMPOSSIBLE_TRAVEL,
	DD_PAYGEN_FAST_TRAVEL,
	DD_PAYGEN_LATE_NIGHT_LARGE,
	DD_PAYGEN_MERCHANT_HIGH_RISK,
	DD_PAYGEN_MERCHANT_MEDIUM_RISK,
	DD_PAYGEN_SCENARIOS        /* number of labels, "normal" included */
};

/* 2026-03-10 00:00 IST (2026-03-09 18:30 UTC), a Tuesday. */
#define DD_PAYGEN_DEFAULT_START_NS (UINT64_C(1773081000) * 1000000000)
#define DD_PAYGEN_MAX_PAYERS    1000000u
#define DD_PAYGEN_MAX_DAYS      366u
#define DD_PAYGEN_MAX_COUNT     UINT64_C(1000000000)
#define DD_PAYGEN_MAX_INSTANCES 10000u
/* Ordinary payments a payer makes per day, at most on average (what --payers must allow). */
#define DD_PAYGEN_PER_PAYER_DAY 8u

struct dd_paygen_params {
	uint64_t seed;
	uint64_t count;        /* payments in total, scenarios included */
	uint32_t payers;       /* ordinary payers, 1..DD_PAYGEN_MAX_PAYERS (scenarios bring their own) */
	uint32_t days;         /* 1..DD_PAYGEN_MAX_DAYS */
	uint32_t instances;    /* instances of each scenario, 0..DD_PAYGEN_MAX_INSTANCES */
	uint64_t start_ns;     /* first instant of the stream, ns since the Unix epoch */
};

struct dd_paygen; /* opaque: lives in the caller's memory */

/* Name of scenario `s` ("normal", "velocity_hour_count", ...), or NULL if out of range. */
const char *dd_paygen_scenario_name(enum dd_paygen_scenario s);

/* Payments the scenarios take out of `count` with `instances` instances of each. */
uint64_t dd_paygen_scenario_payments(uint32_t instances);

/*
 * Check `p`; returns 0 or -EINVAL with `why` (capacity `len`) saying which parameter is wrong and
 * what would be right, in words for a user.
 */
int dd_paygen_check(const struct dd_paygen_params *p, char *why, size_t len);

/* Bytes of memory dd_paygen_init() needs for `p`, or 0 if dd_paygen_check() refuses `p`. */
size_t dd_paygen_memsize(const struct dd_paygen_params *p);

/*
 * Initialise a generator for `p` in `len` bytes at `mem` (8-byte aligned, at least
 * dd_paygen_memsize(p)) and return it through *out. Returns 0 or -EINVAL.
 */
int dd_paygen_init(struct dd_paygen **out, void *mem, size_t len, const struct dd_paygen_params *p);

/*
 * Produce the next payment into `m` and its label into *label (DD_PAYGEN_NORMAL for ordinary
 * traffic). Event times never decrease; transaction ids are 1, 2, 3, ... in that order.
 * Returns 1 with a payment, 0 once all `count` have been produced.
 */
int dd_paygen_next(struct dd_paygen *g, struct dd_paygen_msg *m, enum dd_paygen_scenario *label);

/* Payments produced so far with label `s`. */
uint64_t dd_paygen_label_count(const struct dd_paygen *g, enum dd_paygen_scenario s);

/*
 * Ordinary payments for which no payer could be found below the margins that keep ordinary traffic
 * clear of the velocity and repetition rules (see paygen.c); 0 unless --payers is too small for the
 * traffic.
 */
uint64_t dd_paygen_crowded(const struct dd_paygen *g);

/* Merchants (billers and risky merchants included), for the merchant table. */
uint32_t dd_paygen_merchants(const struct dd_paygen *g);

/* Id and risk (0-100) of merchant `i` (0..dd_paygen_merchants() - 1). */
void dd_paygen_merchant(const struct dd_paygen *g, uint32_t i, uint64_t *id, unsigned *risk);

#endif /* DD_TOOLS_PAYGEN_H */
