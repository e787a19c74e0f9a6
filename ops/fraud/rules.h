/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_FRAUD_RULES_H
#define DD_OPS_FRAUD_RULES_H

/*
 * Fraud rule sets: the rule language (docs/rules.md) compiled into an immutable image.
 *
 * A rule set is text: a header (ruleset name and version, time zone, action thresholds), one
 * `rule` line per reason code with its parameters, and inline tables (merchant risk, MCC scores,
 * high-risk areas). dd_frules_compile() turns it into a struct dd_frules: plain data, no pointers,
 * fixed size for a given merchant-table capacity, so it can be copied into operator state, into a
 * snapshot, and compared byte for byte. The text itself is what the journal records (a rule set is
 * a function of its text), so replay recompiles exactly the image the daemon ran.
 *
 * Reason codes are a fixed catalogue (enum dd_reason): a decision carries them as a bit mask, and
 * every reader (JSON, dadar-journal, the wire) names them from this catalogue alone. A rule line
 * says which code it scores and how it fires (`when`); the parameters it takes depend on `when`.
 *
 * libc only; compile is a control-plane call (it may take its time; it allocates nothing: the
 * caller gives it the image memory).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reason codes, in the order decisions list them (bit i of a decision's reason mask is code i). */
enum dd_reason {
	DD_R_VELOCITY_HOUR_AMOUNT = 0,
	DD_R_VELOCITY_HOUR_COUNT,
	DD_R_VELOCITY_DAY_AMOUNT,
	DD_R_REPEATED_AMOUNT,
	DD_R_ROUND_AMOUNT,
	DD_R_BELOW_LIMIT,
	DD_R_STRUCTURING,
	DD_R_LATE_NIGHT_LARGE,
	DD_R_NEW_DEVICE,
	DD_R_NEW_DEVICE_LARGE,
	DD_R_SHARED_DEVICE,
	DD_R_IMPOSSIBLE_TRAVEL,
	DD_R_FAST_TRAVEL,
	DD_R_HIGH_RISK_AREA,
	DD_R_MERCHANT_HIGH_RISK,
	DD_R_MERCHANT_MEDIUM_RISK,
	DD_R_NEW_MERCHANT,
	DD_R_MERCHANT_CATEGORY,
	DD_R_AMOUNT_ZSCORE,
	DD_R_MODEL_SCORE,
	DD_R_INVALID,
	DD_R__COUNT
};

/* Stable name of reason code `r` ("velocity_hour_amount"), "?" if out of range. */
const char *dd_reason_name(unsigned r);

/* How a rule fires (the `when` of a rule line). */
enum dd_fr_when {
	DD_FW_COUNT = 1,      /* the payer's payments in the window: count            (velocity) */
	DD_FW_SUM,            /* the payer's payments in the window: sum of amounts   (velocity) */
	DD_FW_REPEATED,       /* >= last payments in the window, the last `last` of the same amount */
	DD_FW_AMOUNT_IN,      /* amount is one of values[] */
	DD_FW_AMOUNT_BETWEEN, /* min <= amount <= max */
	DD_FW_AMOUNT_MULTIPLE,/* amount is a multiple of `of` and >= min */
	DD_FW_AMOUNT_OVER,    /* amount over the limit (with `requires`: only if that rule fired) */
	DD_FW_LATE_NIGHT,     /* amount over the limit and the local hour is one of hours */
	DD_FW_NEW_DEVICE,     /* the payer first used the device less than `age` before */
	DD_FW_SHARED_DEVICE,  /* distinct payers of the device (this one included) over the limit */
	DD_FW_TRAVEL,         /* speed from the payer's last located payment over/at most, distance over */
	DD_FW_RISK_AREA,      /* location inside a high-risk area of the table */
	DD_FW_MERCHANT_RISK,  /* merchant risk (table; absent 0) over the limit, at most max */
	DD_FW_NEW_MERCHANT,   /* a merchant no earlier payment had */
	DD_FW_MCC,            /* the MCC table's score (default when not listed), for any merchant payment */
	DD_FW_ZSCORE,         /* |amount - mean| / stddev of the payer's EWMA over the limit */
	DD_FW_MODEL,          /* a model's score over the limit (ops/fraud/fraud.h: the model hook) */
	DD_FW__COUNT
};

/* rule flags */
#define DD_FR_OFF          0x01u /* written but disabled */
#define DD_FR_EXCL_CURRENT 0x02u /* velocity: the payment itself not counted (`current exclude`) */
#define DD_FR_EXCL_TIES    0x04u /* velocity: earlier payments at exactly t not counted (window open at t) */
#define DD_FR_AT_LEAST     0x08u /* threshold is >= (`at_least N`) rather than > (`over N`) */
#define DD_FR_HAS_MAX      0x10u /* an upper bound (<= max) applies */
#define DD_FR_HAS_DIST     0x20u /* travel: distance must be over distance_km */

#define DD_FR_MAX_RULES   32
#define DD_FR_MAX_VALUES  16
#define DD_FR_MAX_WINDOWED 8      /* rules with a window (count, sum, repeated) */
#define DD_FR_MAX_AREAS   256
#define DD_FR_MCC_CODES   10000   /* MCCs are four digits */
#define DD_FR_NAME_MAX    32

struct dd_frule {
	uint8_t code;        /* enum dd_reason */
	uint8_t when;        /* enum dd_fr_when */
	uint8_t flags;       /* DD_FR_* */
	uint8_t requires;    /* reason that must have fired first (DD_R__COUNT: none) */
	uint16_t score;
	uint8_t nvalues;
	uint8_t last;        /* repeated: how many */
	int64_t limit;       /* over / at_least (money in minor units, counts, risk, z in tenths) */
	int64_t min, max;    /* between / multiple's min / max (<=) */
	int64_t of;          /* multiple of */
	int64_t window_ns;   /* velocity and repeated windows; new_device age */
	double speed_over;   /* travel, km/h */
	double speed_max;
	double distance_km;
	uint32_t hours;      /* late_night: bit h = local hour h */
	uint32_t alpha_shift;/* zscore: EWMA weight 2^-alpha_shift */
	uint32_t min_count;  /* zscore: payments seen before it may fire */
	uint32_t pad;
	int64_t values[DD_FR_MAX_VALUES];
};

struct dd_frisk_area {
	int32_t lat_e6, lon_e6;
	double radius_km;
};

struct dd_fmerchant {
	uint64_t id;
	uint32_t risk;       /* 0..100 */
	uint32_t pad;
};

#define DD_FRULES_MAGIC 0x53454c5552524644ull /* "DFRRULES" */

struct dd_frules {
	uint64_t magic;
	char name[DD_FR_NAME_MAX];   /* NUL-terminated */
	uint32_t version;            /* rule-set version (decisions carry it as rule_version) */
	int32_t utc_offset_s;        /* time zone of local-hour rules */
	uint32_t act_block, act_review, act_verify; /* score >= these: block / review / verify */
	uint32_t nrules;
	uint32_t text_hash;          /* FNV-1a of the text it was compiled from */
	uint32_t text_len;
	int64_t payer_ttl_ns;        /* how long an idle payer's state matters (largest window / travel horizon) */
	uint8_t used[DD_R__COUNT + 3]; /* codes with an enabled rule (padded) */
	struct dd_frule rule[DD_FR_MAX_RULES];
	uint32_t nareas;
	uint32_t pad;
	struct dd_frisk_area area[DD_FR_MAX_AREAS];
	int16_t mcc_score[DD_FR_MCC_CODES]; /* -1: not listed */
	uint32_t merchant_cap;       /* entries merchant[] has room for */
	uint32_t nmerchants;         /* sorted by id */
	struct dd_fmerchant merchant[]; /* merchant risk table */
};

/* Bytes of an image with room for `merchant_cap` merchant-table entries (0 if too large). */
size_t dd_frules_memsize(uint32_t merchant_cap);

/*
 * Compile `len` bytes of rule text into `out` (dd_frules_memsize(merchant_cap) bytes). `origin`
 * names the text in messages ("rules/fraud-paytm.rules"). Returns 0, or -EINVAL with err holding
 * "origin:line:column: what is wrong" (the first error) and *nerrors counting all of them (when
 * not NULL); every error is also passed to `report` when it is not NULL.
 */
int dd_frules_compile(const char *text, size_t len, const char *origin, struct dd_frules *out,
		      uint32_t merchant_cap, char *err, size_t errlen, unsigned *nerrors,
		      void (*report)(void *ctx, const char *msg), void *ctx);

/*
 * Check the rows of a table file (CSV without its header line, which the caller checked): `table`
 * is "merchant_risk", "mcc" or "risk_areas", `first_line` the file line of the first row. Errors
 * name origin:line:column like dd_frules_compile()'s. Allocates a scratch image (control plane).
 * Returns 0, -EINVAL (err says where) or -ENOMEM.
 */
int dd_frules_check_table(const char *table, const char *rows, size_t len, const char *origin, unsigned first_line,
			  uint32_t merchant_cap, char *err, size_t errlen);

/* The FNV-1a hash of a rule text (an image's text_hash; the journal names reloaded texts by it). */
static inline uint32_t dd_frules_text_hash(const char *text, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)text[i]) * 16777619u;
	return h;
}

/* Risk of merchant `id` in the table, 0 when absent. */
uint32_t dd_frules_merchant_risk(const struct dd_frules *r, uint64_t id);

/* Size of an image actually used (its merchants), for saving and comparing. */
static inline size_t dd_frules_used_size(const struct dd_frules *r)
{
	return sizeof(*r) + (size_t)r->nmerchants * sizeof(r->merchant[0]);
}

/* The default rule set (rules/fraud-paytm.rules, built in so dadar needs no file to run). */
extern const char dd_frules_default_text[];
extern const char dd_frules_default_origin[];

/* Great-circle distance in km between two points in millionths of a degree (haversine, R 6371.0). */
double dd_haversine_km(int32_t lat1_e6, int32_t lon1_e6, int32_t lat2_e6, int32_t lon2_e6);

#endif /* DD_OPS_FRAUD_RULES_H */
