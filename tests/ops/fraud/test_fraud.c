/* SPDX-License-Identifier: MIT */
/*
 * The fraud operator (ops/fraud/fraud.c), driven only through a chain (ops/chain.h) with a rule set
 * compiled from its text and installed with dd_fraud_install(). Every expected decision is worked
 * out by hand from /work/shared/specs/fraud-rules.md and the rule text (the arithmetic is in the
 * comments); nothing expected is computed by dadar's own functions.
 *
 * Times: DAY0 is 2026-03-10 00:00:00 UTC (1773100800 s). Most payments are at BASE = DAY0 + 6 h =
 * 06:00 UTC = 11:30 IST, outside the late-night hours of the default set (23..5 IST).
 * Scores of the default set (rules/fraud-paytm.rules): velocity_hour_amount 40, velocity_hour_count
 * 30, velocity_day_amount 50, repeated_amount 25, round_amount 20, below_limit 35, structuring 25,
 * late_night_large 15, new_device 20, new_device_large 15, shared_device 30, impossible_travel 50,
 * fast_travel 20, high_risk_area 15, merchant_high_risk 30, merchant_medium_risk 15, new_merchant
 * 10, merchant_category MCC table or 5; actions block >= 80, review >= 60, verify >= 40.
 * A payer's first payment from a device always has new_device (+20).
 *
 * Runs from the repository root (it reads rules/fraud-paytm.rules and rules/fraud-upi.rules).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/chain.h"
#include "ops/fraud/fraud.h"
#include "ops/fraud/rules.h"

#define S_NS 1000000000ull
#define MIN_NS (60 * S_NS)
#define H_NS (3600 * S_NS)
#define DAY0 (1773100800ull * S_NS) /* 2026-03-10 00:00:00 UTC */
#define BASE (DAY0 + 6 * H_NS)      /* 06:00 UTC, 11:30 IST */

/* Mumbai and Delhi (millionths of a degree) */
#define MUM_LAT 19076000
#define MUM_LON 72877700
#define DEL_LAT 28704100
#define DEL_LON 77102500

#define R(x) (1u << DD_R_##x)
#define APPROVE DD_ACT_APPROVE
#define VERIFY DD_ACT_VERIFY
#define REVIEW DD_ACT_REVIEW
#define BLOCK DD_ACT_BLOCK

/* ---- fixture -------------------------------------------------------------------------------- */

struct fx {
	struct dd_chain c;
	struct dd_chain_spec spec;
	struct dd_chain_params cp;
	struct dd_fraud_params params;
	void *mem;
	size_t len;
	uint64_t cause, last_cause; /* input positions: strictly increasing */
	uint64_t seq, txn;
};

#define MAXFX 4
struct holder {
	struct fx *f[MAXFX];
	unsigned n;
};

static const struct dd_fraud_params DEF = {
	.payers = 256, .history = 1024, .pairs = 256, .devices = 256, .merchants = 256, .merchant_table = 16,
	.late_grace_s = 86400
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (run the test from the repository root)", path);
	size_t cap = 1 << 16;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	size_t n = fread(buf, 1, cap, f);
	assert_true(n < cap);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* Compile `text` for the fixture's merchant-table capacity and install it. */
static void install(struct fx *f, const char *text, size_t len)
{
	struct dd_frules *img = malloc(dd_frules_memsize(f->params.merchant_table));
	assert_non_null(img);
	char err[256];
	if (dd_frules_compile(text, len, "test", img, f->params.merchant_table, err, sizeof(err), NULL, NULL, NULL) != 0)
		fail_msg("rules do not compile: %s", err);
	assert_int_equal(dd_fraud_install(dd_chain_state(&f->c, DD_OP_FRAUD), img), 0);
	free(img);
}

static void install_file(struct fx *f, const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	install(f, text, len);
	free(text);
}

/* A fresh chain of one fraud operator with `p`, rules from `rules_path`. */
static struct fx *fx_new(void **state, const struct dd_fraud_params *p, const char *rules_path)
{
	struct holder *h = *state;
	assert_true(h->n < MAXFX);
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	h->f[h->n++] = f;
	f->params = *p;
	assert_int_equal(dd_chain_spec_add(&f->spec, DD_OP_FRAUD, p, sizeof(*p)), 0);
	f->cp = (struct dd_chain_params){ .spec = &f->spec, .burst = 4, .shard = 0 };
	f->len = dd_chain_memsize(&f->cp);
	assert_true(f->len > 0);
	f->len = (f->len + 63) & ~(size_t)63;
	f->mem = aligned_alloc(64, f->len);
	assert_non_null(f->mem);
	memset(f->mem, 0xA5, f->len); /* init must not rely on zeroed memory */
	char err[256];
	if (dd_chain_init(&f->c, f->mem, f->len, &f->cp, err, sizeof(err)) != 0)
		fail_msg("chain init: %s", err);
	install_file(f, rules_path != NULL ? rules_path : "rules/fraud-paytm.rules");
	f->cause = 1000;
	return f;
}

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct holder));
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	struct holder *h = *state;
	for (unsigned i = 0; i < h->n; i++) {
		free(h->f[i]->mem);
		free(h->f[i]);
	}
	free(h);
	return 0;
}

/* A payment: what the two halves carry. */
struct pay {
	uint64_t txn, payer, device, payee, merchant;
	int64_t amount;
	uint64_t t;
	int32_t lat, lon;
	char cur[4];
	uint8_t channel, kind;
	uint16_t mcc;
};

/* A UPI P2P payment in INR without location, from the payer's own device (1000 + payer). */
static struct pay P(uint64_t payer, int64_t amount, uint64_t t)
{
	return (struct pay){ .payer = payer, .device = 1000 + payer, .payee = 9, .amount = amount, .t = t,
			     .cur = "INR", .channel = 'U', .kind = 'P', .mcc = 0 };
}

/* The same to merchant `m` (P2M) with MCC `mcc`. */
static struct pay PM(uint64_t payer, int64_t amount, uint64_t t, uint64_t m, uint16_t mcc)
{
	struct pay p = P(payer, amount, t);
	p.payee = 0;
	p.merchant = m;
	p.kind = 'M';
	p.mcc = mcc;
	return p;
}

static struct pay AT(struct pay p, int32_t lat, int32_t lon)
{
	p.lat = lat;
	p.lon = lon;
	return p;
}

/* The two events of a payment, as a decoder makes them (same source, seq, key and event time). */
static void halves(struct fx *f, struct pay *p, struct dd_event ev[2])
{
	if (p->txn == 0)
		p->txn = ++f->txn;
	uint64_t seq = ++f->seq;
	for (unsigned i = 0; i < 2; i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		ev[i].type = i == 0 ? DD_EV_PAYMENT : DD_EV_PAYMENT_X;
		ev[i].source = 1;
		ev[i].msg = 'P';
		ev[i].key = dd_payment_key(p->payer);
		ev[i].seq = seq;
		ev[i].event_ns = p->t;
		ev[i].rx_tsc = 777 + seq;
	}
	ev[0].u.pay = (struct dd_ev_payment){ .txn_id = p->txn, .payer = p->payer, .amount = p->amount,
					      .device = p->device };
	ev[1].u.payx = (struct dd_ev_payment_x){ .payee = p->payee, .merchant = p->merchant, .lat_e6 = p->lat,
						 .lon_e6 = p->lon, .channel = p->channel, .kind = p->kind,
						 .mcc = p->mcc };
	memcpy(ev[1].u.payx.currency, p->cur, 3);
}

/* Run n events (causes f->cause + 1, + 2, ...) after draining; the number of outputs. */
static unsigned run(struct fx *f, const struct dd_event *ev, unsigned n)
{
	uint64_t cause[4];
	assert_true(n <= 4);
	for (unsigned i = 0; i < n; i++)
		cause[i] = f->cause += 3; /* increasing, not consecutive (LSNs) */
	f->last_cause = f->cause;
	dd_chain_drain(&f->c);
	dd_chain_run(&f->c, ev, cause, n);
	return f->c.emit.n;
}

/* Both halves in one run: exactly one decision. */
static struct dd_output decide(struct fx *f, struct pay p)
{
	struct dd_event ev[2];
	halves(f, &p, ev);
	unsigned n = run(f, ev, 2);
	if (n != 1)
		fail_msg("payment of payer %llu at %llu: %u outputs, expected one decision", (unsigned long long)p.payer,
			 (unsigned long long)p.t, n);
	return f->c.emit.out[0];
}

static void expect_(const struct dd_output *o, uint32_t reasons, unsigned score, unsigned action, unsigned flags,
		    int line)
{
	const struct dd_out_decision *d = &o->u.decision;
	if (o->type != DD_OUT_DECISION || d->reasons != reasons || d->score != score || d->action != action ||
	    d->flags != flags)
		fail_msg("line %d: payer %llu amount %lld: reasons %#x score %u action %u flags %#x; expected reasons %#x "
			 "score %u action %u flags %#x",
			 line, (unsigned long long)d->payer, (long long)d->amount, d->reasons, d->score, d->action, d->flags,
			 reasons, score, action, flags);
}

/* Decide payment p and check its reasons, score, action and flags. */
#define PAY(f, p, reasons, score, action, flags)                       \
	do {                                                           \
		struct dd_output o_ = decide((f), (p));                \
		expect_(&o_, (reasons), (score), (action), (flags), __LINE__); \
	} while (0)

static uint64_t counter(const struct fx *f, const char *name)
{
	uint64_t v[DD_OP_MAX_COUNTERS];
	const void *st = dd_chain_state(&f->c, DD_OP_FRAUD);
	assert_non_null(st);
	assert_non_null(dd_fraud_op.counters);
	dd_fraud_op.counters(st, v);
	for (unsigned i = 0; i < dd_fraud_op.ncounters; i++)
		if (strcmp(dd_fraud_op.counter_names[i], name) == 0)
			return v[i];
	fail_msg("no counter named %s", name);
	return 0;
}

/* ---- pairing and the decision --------------------------------------------------------------- */

static void test_a_decision_comes_only_with_the_second_half_and_says_what_was_paid(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	struct pay p = PM(0x500000007ull, 1234, BASE, 5001, 5411);
	p.txn = 9001;
	p.device = 4242;
	struct dd_event ev[2];
	halves(f, &p, ev);
	assert_int_equal(run(f, &ev[0], 1), 0); /* the first half alone decides nothing */
	assert_int_equal(run(f, &ev[1], 1), 1);
	const struct dd_output *o = &f->c.emit.out[0];
	assert_int_equal(o->type, DD_OUT_DECISION);
	assert_int_equal(o->op, DD_OP_FRAUD);
	assert_int_equal(o->source, 1);
	assert_int_equal(o->key, 2); /* 0x5_0000_0007 ^ (0x5_0000_0007 >> 32) = 0x5_0000_0002, low 32 bits: 2 */
	assert_int_equal(o->seq, ev[1].seq);
	assert_int_equal(o->event_ns, BASE);
	assert_int_equal(o->cause, f->last_cause); /* the second half's input position */
	assert_int_equal(o->rule_version, 1);      /* ruleset paytm version 1 */
	assert_int_equal(o->shard, 0);
	assert_int_equal(o->flags, 0);
	const struct dd_out_decision *d = &o->u.decision;
	assert_int_equal(d->txn_id, 9001);
	assert_int_equal(d->payer, 0x500000007ull);
	assert_int_equal(d->amount, 1234);
	assert_int_equal(d->merchant, 5001);
	assert_int_equal(d->device, 4242);
	assert_int_equal(d->mcc, 5411);
	assert_memory_equal(d->currency, "INR", 3);
	/* new_device 20 + new_merchant 10 + merchant_category (5411 not in the empty MCC table) 5 = 35 < 40 */
	assert_int_equal(d->reasons, R(NEW_DEVICE) | R(NEW_MERCHANT) | R(MERCHANT_CATEGORY));
	assert_int_equal(d->reasons, (1u << 8) | (1u << 16) | (1u << 17)); /* bit i = enum dd_reason i */
	assert_int_equal(d->score, 35);
	assert_int_equal(d->action, APPROVE);
	assert_int_equal(d->flags, 0);
	assert_int_equal(counter(f, "fraud_decisions"), 1);
	assert_int_equal(counter(f, "fraud_approve"), 1);
	assert_int_equal(counter(f, "fraud_orphan_halves"), 0);
}

static void test_the_decision_carries_the_installed_rule_sets_version(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	const char *text = "ruleset mine version 7\nrule new_merchant score 45 when new_merchant\n";
	install(f, text, strlen(text));
	assert_string_equal(dd_fraud_rules(dd_chain_state(&f->c, DD_OP_FRAUD))->name, "mine");
	struct dd_output o = decide(f, PM(1, 500, BASE, 77, 0));
	assert_int_equal(o.rule_version, 7);
	expect_(&o, R(NEW_MERCHANT), 45, VERIFY, 0, __LINE__); /* the only rule: 45 >= 40 */
	o = decide(f, PM(2, 500, BASE + 1, 77, 0));
	expect_(&o, 0, 0, APPROVE, 0, __LINE__); /* not new any more, and no new_device rule */
}

static void test_a_second_half_without_its_first_is_counted_as_an_orphan(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	struct pay a = P(1, 100, BASE), b = P(2, 200, BASE + 1), c = P(3, 300, BASE + 2), d = P(4, 400, BASE + 3);
	struct dd_event ea[2], eb[2], ec[2], ed[2];
	halves(f, &a, ea);
	halves(f, &b, eb);
	halves(f, &c, ec);
	halves(f, &d, ed);
	/* a second half alone */
	assert_int_equal(run(f, &ea[1], 1), 0);
	assert_int_equal(counter(f, "fraud_orphan_halves"), 1);
	/* a's first half, then b's: a's is dropped (orphan), b completes */
	struct dd_event seqv[3] = { ea[0], eb[0], eb[1] };
	assert_int_equal(run(f, seqv, 3), 1);
	assert_int_equal(f->c.emit.out[0].u.decision.txn_id, b.txn);
	assert_int_equal(counter(f, "fraud_orphan_halves"), 2);
	/* c's first half and d's second half: both orphans, no decision */
	struct dd_event mix[2] = { ec[0], ed[1] };
	assert_int_equal(run(f, mix, 2), 0);
	assert_int_equal(counter(f, "fraud_orphan_halves"), 4);
	assert_int_equal(counter(f, "fraud_decisions"), 1);
}

/* ---- invalid payments ----------------------------------------------------------------------- */

static void test_invalid_payments_are_blocked_with_the_single_reason_invalid_and_change_nothing(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	const unsigned INV = DD_DECISION_INVALID;
	struct pay p = PM(7, 0, BASE, 77, 5411);
	p.device = 70;
	PAY(f, p, R(INVALID), 100, BLOCK, INV); /* amount 0 */
	p.amount = -1;
	PAY(f, p, 1u << 20, 100, BLOCK, INV); /* amount -1; reasons == 1 << DD_R_INVALID */
	p.amount = 1234;
	memcpy(p.cur, "XYZ", 3);
	PAY(f, p, R(INVALID), 100, BLOCK, INV);
	memcpy(p.cur, "INR", 3);
	p.t = 0;
	PAY(f, p, R(INVALID), 100, BLOCK, INV); /* time 0 */
	p.t = BASE;
	p.channel = 'X';
	PAY(f, p, R(INVALID), 100, BLOCK, INV);
	p.channel = 'U';
	p.kind = 'Z';
	PAY(f, p, R(INVALID), 100, BLOCK, INV);
	p.kind = 'M';
	p.lat = 90000001;
	PAY(f, p, R(INVALID), 100, BLOCK, INV);
	assert_int_equal(counter(f, "fraud_invalid_amount"), 2);
	assert_int_equal(counter(f, "fraud_invalid_currency"), 1);
	assert_int_equal(counter(f, "fraud_invalid_time"), 1);
	assert_int_equal(counter(f, "fraud_invalid_channel"), 1);
	assert_int_equal(counter(f, "fraud_invalid_kind"), 1);
	assert_int_equal(counter(f, "fraud_invalid_location"), 1);
	assert_int_equal(counter(f, "fraud_block"), 7);
	assert_int_equal(counter(f, "fraud_decisions"), 7);
	/*
	 * None of them was recorded: 48 h after them, payer 7 on device 70 at merchant 77 is still a
	 * first use of the device (had the invalid ones recorded it at BASE, its age would be exactly
	 * 48 h: no new_device) and a new merchant, and not out of order.
	 * new_device 20 + new_merchant 10 + merchant_category 5 = 35.
	 */
	p = PM(7, 1234, BASE + 48 * H_NS, 77, 5411);
	p.device = 70;
	PAY(f, p, R(NEW_DEVICE) | R(NEW_MERCHANT) | R(MERCHANT_CATEGORY), 35, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_out_of_order"), 0);
}

static void test_currencies_are_checked_against_iso_4217(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	static const char *const good[] = { "AED", "ZWG", "USD", "EUR", "INR" }; /* the list's ends too */
	static const char *const bad[] = { "XXX", "XTS", "inr", "AAA", "ZZZ" };
	uint64_t payer = 10;
	for (unsigned i = 0; i < 5; i++) {
		struct pay p = P(payer++, 1234, BASE);
		memcpy(p.cur, good[i], 3);
		PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	}
	for (unsigned i = 0; i < 5; i++) {
		struct pay p = P(payer++, 1234, BASE);
		memcpy(p.cur, bad[i], 3);
		PAY(f, p, R(INVALID), 100, BLOCK, DD_DECISION_INVALID);
	}
	assert_int_equal(counter(f, "fraud_invalid_currency"), 5);
}

/* ---- boundaries of the default rule set ------------------------------------------------------ */

static void test_velocity_hour_count_fires_on_the_21st_payment_of_the_hour(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	/* payer 100: 21 payments a minute apart (all inside one hour), amounts 100..120 (never 5 equal) */
	for (unsigned k = 1; k <= 20; k++) /* count k <= 20: only new_device (age < 48 h) */
		PAY(f, P(100, 99 + k, BASE + (k - 1) * MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	/* count 21 > 20: velocity_hour_count 30 + new_device 20 = 50 */
	PAY(f, P(100, 120, BASE + 20 * MIN_NS), R(NEW_DEVICE) | R(VELOCITY_HOUR_COUNT), 50, VERIFY, 0);
	/* ties keep input order: payer 101, 21 payments all at BASE; the 21st counts the 20 before it */
	for (unsigned k = 1; k <= 20; k++)
		PAY(f, P(101, 99 + k, BASE), R(NEW_DEVICE), 20, APPROVE, 0);
	PAY(f, P(101, 120, BASE), R(NEW_DEVICE) | R(VELOCITY_HOUR_COUNT), 50, VERIFY, 0);
	assert_int_equal(counter(f, "fraud_out_of_order"), 0);
}

static void test_velocity_hour_amount_fires_only_over_5000000(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	/* 3,000,000: new_device 20 + new_device_large (> 2,500,000) 15 = 35 */
	PAY(f, P(200, 3000000, BASE), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	/* + 2,000,000 = 5,000,000, not over: new_device 20 */
	PAY(f, P(200, 2000000, BASE + MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	PAY(f, P(201, 3000000, BASE), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	/* + 2,000,001 = 5,000,001 > 5,000,000: velocity_hour_amount 40 + new_device 20 = 60 */
	PAY(f, P(201, 2000001, BASE + MIN_NS), R(NEW_DEVICE) | R(VELOCITY_HOUR_AMOUNT), 60, REVIEW, 0);
}

static void test_a_payment_exactly_one_hour_earlier_is_outside_the_hour(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	/* window (t - 1 h, t]: at t = BASE + 1 h the payment at BASE is out: sum 2,000,001 */
	PAY(f, P(300, 3000000, BASE), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	PAY(f, P(300, 2000001, BASE + H_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	/* at BASE + 1 h - 1 ns it is in: 3,000,000 + 2,000,001 = 5,000,001 > 5,000,000 */
	PAY(f, P(301, 3000000, BASE), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	PAY(f, P(301, 2000001, BASE + H_NS - 1), R(NEW_DEVICE) | R(VELOCITY_HOUR_AMOUNT), 60, REVIEW, 0);
}

static void test_velocity_day_amount_fires_only_over_20000000(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	/* payer 800: five payments 2 h apart (one per hour window), each new_device 20 +
	 * new_device_large 15 = 35. Day sums: 4,000,001 x k; the 5th is 20,000,005 > 20,000,000: +50 */
	for (unsigned k = 0; k < 4; k++)
		PAY(f, P(800, 4000001, BASE + 2 * k * H_NS), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	PAY(f, P(800, 4000001, BASE + 8 * H_NS), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE) | R(VELOCITY_DAY_AMOUNT), 85,
	    BLOCK, 0);
	/* payer 801: 4,000,000 x 5 = 20,000,000, not over */
	for (unsigned k = 0; k < 5; k++)
		PAY(f, P(801, 4000000, BASE + 2 * k * H_NS), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	/* a day later the first of them is out of (t - 24 h, t]: payer 800 at BASE + 24 h sees
	 * 4 x 4,000,001 + 1 = 16,000,005; the device is 24 h old (< 48 h): new_device 20 */
	PAY(f, P(800, 1, BASE + 24 * H_NS), R(NEW_DEVICE), 20, APPROVE, 0);
}

static void test_repeated_amount_fires_on_the_fifth_equal_amount_in_the_hour(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	for (unsigned k = 0; k < 4; k++)
		PAY(f, P(700, 4321, BASE + k * MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	/* 5 payments in the hour, the last 5 all 4321: repeated_amount 25 + new_device 20 = 45 */
	PAY(f, P(700, 4321, BASE + 4 * MIN_NS), R(NEW_DEVICE) | R(REPEATED_AMOUNT), 45, VERIFY, 0);
	PAY(f, P(700, 4322, BASE + 5 * MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	/* the last 5 are 4321 x 3, 4322, 4321: not all equal */
	PAY(f, P(700, 4321, BASE + 6 * MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
}

static void test_amount_patterns_at_their_boundaries(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	const uint32_t ND = R(NEW_DEVICE);
	uint64_t p = 1;
	PAY(f, P(p++, 899999, BASE), ND, 20, APPROVE, 0);
	PAY(f, P(p++, 900000, BASE), ND | R(STRUCTURING), 45, VERIFY, 0); /* 20 + 25 */
	/* 999,900: below_limit 35 + structuring 25 + new_device 20 = 80 */
	PAY(f, P(p++, 999900, BASE), ND | R(BELOW_LIMIT) | R(STRUCTURING), 80, BLOCK, 0);
	PAY(f, P(p++, 999901, BASE), ND, 20, APPROVE, 0);
	PAY(f, P(p++, 1000000, BASE), ND | R(ROUND_AMOUNT), 40, VERIFY, 0);
	PAY(f, P(p++, 2499900, BASE), ND | R(BELOW_LIMIT), 55, VERIFY, 0);
	/* 2,500,000 is round but not over 2,500,000: no new_device_large */
	PAY(f, P(p++, 2500000, BASE), ND | R(ROUND_AMOUNT), 40, VERIFY, 0);
	PAY(f, P(p++, 2500001, BASE), ND | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	/* 5,000,000: round 20 + new_device 20 + new_device_large 15 = 55; the hour sum is 5,000,000, not over */
	PAY(f, P(p++, 5000000, BASE), ND | R(NEW_DEVICE_LARGE) | R(ROUND_AMOUNT), 55, VERIFY, 0);
	/* 5,000,001: hour sum over: 40 + 20 + 15 = 75 */
	PAY(f, P(p++, 5000001, BASE), ND | R(NEW_DEVICE_LARGE) | R(VELOCITY_HOUR_AMOUNT), 75, REVIEW, 0);
	/* 10,000,000: 40 + round 20 + 20 + 15 = 95 */
	PAY(f, P(p++, 10000000, BASE), ND | R(NEW_DEVICE_LARGE) | R(VELOCITY_HOUR_AMOUNT) | R(ROUND_AMOUNT), 95,
	    BLOCK, 0);
}

static void test_late_night_large_uses_the_local_hour_of_the_rule_set(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	const uint32_t ND = R(NEW_DEVICE);
	/* 23:00:00 IST = 17:30:00 UTC: hour 23; 1,500,000 > 1,000,000: 20 + 15 = 35 */
	PAY(f, P(400, 1500000, DAY0 + 17 * H_NS + 30 * MIN_NS), ND | R(LATE_NIGHT_LARGE), 35, APPROVE, 0);
	/* 22:59:59.999999999 IST: hour 22 */
	PAY(f, P(401, 1500000, DAY0 + 17 * H_NS + 30 * MIN_NS - 1), ND, 20, APPROVE, 0);
	/* 05:59:59.999999999 IST = 00:29:59.999999999 UTC: hour 5 */
	PAY(f, P(402, 1500000, DAY0 + 30 * MIN_NS - 1), ND | R(LATE_NIGHT_LARGE), 35, APPROVE, 0);
	/* 06:00:00 IST = 00:30:00 UTC: hour 6 */
	PAY(f, P(403, 1500000, DAY0 + 30 * MIN_NS), ND, 20, APPROVE, 0);
	/* 1,000,000 at 23:00 IST is not over 1,000,000 (but round): 20 + 20 */
	PAY(f, P(404, 1000000, DAY0 + 17 * H_NS + 30 * MIN_NS), ND | R(ROUND_AMOUNT), 40, VERIFY, 0);
	/* 1,000,001 at 02:00 IST = 20:30 UTC the day before */
	PAY(f, P(405, 1000001, DAY0 - 4 * H_NS + 30 * MIN_NS), ND | R(LATE_NIGHT_LARGE), 35, APPROVE, 0);
}

static void test_new_device_fires_until_48h_after_the_first_use(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	struct pay p = P(500, 1234, BASE);
	p.device = 5;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0); /* never before */
	p.t = BASE + 48 * H_NS - 1;
	p.amount = 1235;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0); /* first use 48 h - 1 ns before: less than 48 h */
	p = P(501, 1234, BASE);
	p.device = 6;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	p.t = BASE + 48 * H_NS;
	p.amount = 1235;
	PAY(f, p, 0, 0, APPROVE, 0); /* exactly 48 h: not less */
	/* the age is the payer's own: payer 502 on device 6 is new there */
	p.payer = 502;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
}

/* A payer's slot keeps a copy of its last device's pair: switching devices back and forth, each
 * device's age is still its own first use by this payer. */
static void test_a_payer_switching_devices_keeps_each_devices_first_use(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	struct pay p = P(510, 1234, BASE);
	p.device = 10;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	p.t = BASE + 24 * H_NS;
	p.device = 20;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	for (unsigned k = 0; k < 2; k++) { /* twice, alternating: the copy changes device each time */
		p.t = BASE + 48 * H_NS + 1 + 2 * k;
		p.device = 10; /* first used 48 h + 1 ns before */
		p.amount = 1235 + 2 * k;
		PAY(f, p, 0, 0, APPROVE, 0);
		p.t++;
		p.device = 20; /* 24 h + 2 ns */
		p.amount++;
		PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	}
	/* device 10 for another payer: new there, 2 payers on it */
	p = P(511, 1234, BASE + 48 * H_NS + 9);
	p.device = 10;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_pairs_full"), 0);
}

static void test_shared_device_fires_for_the_fourth_distinct_payer(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	for (uint64_t k = 1; k <= 3; k++) { /* 1, 2, 3 payers: not over 3 */
		struct pay p = P(k, 1234, BASE + k * S_NS);
		p.device = 77;
		PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
	}
	struct pay p = P(4, 1234, BASE + 4 * S_NS);
	p.device = 77;
	PAY(f, p, R(NEW_DEVICE) | R(SHARED_DEVICE), 50, VERIFY, 0); /* 4 > 3: 30 + 20 */
	/* payer 1 again: still 4 distinct payers, device 9 s old for it */
	p = P(1, 1235, BASE + 10 * S_NS);
	p.device = 77;
	PAY(f, p, R(NEW_DEVICE) | R(SHARED_DEVICE), 50, VERIFY, 0);
	p = P(5, 1234, BASE + 11 * S_NS);
	p.device = 78;
	PAY(f, p, R(NEW_DEVICE), 20, APPROVE, 0);
}

static void test_travel_from_mumbai_to_delhi(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	/*
	 * Mumbai (19.0760, 72.8777) to Delhi (28.7041, 77.1025), haversine with R = 6371 km:
	 * dphi = 9.6281 deg = 0.1680420 rad, dlambda = 4.2248 deg = 0.0737367 rad,
	 * a = sin^2(0.0840210) + cos(19.0760 deg) cos(28.7041 deg) sin^2(0.0368683)
	 *   = 0.0070429 + 0.9450859 x 0.8771118 x 0.0013587 = 0.0081692,
	 * d = 2 x 6371 x asin(sqrt(0.0081692)) = 12742 x asin(0.0903836) = 12742 x 0.0905071 = 1153.24 km.
	 */
	const uint32_t ND = R(NEW_DEVICE);
	/* 30 minutes: 1153.24 / 0.5 = 2306.5 km/h > 900: impossible_travel 50 + new_device 20 = 70 */
	PAY(f, AT(P(600, 1234, BASE), MUM_LAT, MUM_LON), ND, 20, APPROVE, 0);
	PAY(f, AT(P(600, 1235, BASE + 30 * MIN_NS), DEL_LAT, DEL_LON), ND | R(IMPOSSIBLE_TRAVEL), 70, REVIEW, 0);
	/* 2 hours: 1153.24 / 2 = 576.6 km/h, in (100, 900]: fast_travel 20 + 20 = 40 */
	PAY(f, AT(P(601, 1234, BASE), MUM_LAT, MUM_LON), ND, 20, APPROVE, 0);
	PAY(f, AT(P(601, 1235, BASE + 2 * H_NS), DEL_LAT, DEL_LON), ND | R(FAST_TRAVEL), 40, VERIFY, 0);
	/* 13 hours: 88.7 km/h, not over 100 */
	PAY(f, AT(P(602, 1234, BASE), MUM_LAT, MUM_LON), ND, 20, APPROVE, 0);
	PAY(f, AT(P(602, 1235, BASE + 13 * H_NS), DEL_LAT, DEL_LON), ND, 20, APPROVE, 0);
	/* a payment without location in between neither triggers nor replaces the last location:
	 * Delhi 30 min after Mumbai is impossible whatever came 10 min after Mumbai */
	PAY(f, AT(P(603, 1234, BASE), MUM_LAT, MUM_LON), ND, 20, APPROVE, 0);
	PAY(f, P(603, 1235, BASE + 10 * MIN_NS), ND, 20, APPROVE, 0);
	PAY(f, AT(P(603, 1236, BASE + 30 * MIN_NS), DEL_LAT, DEL_LON), ND | R(IMPOSSIBLE_TRAVEL), 70, REVIEW, 0);
	/* equal times skip the travel rules */
	PAY(f, AT(P(604, 1234, BASE), MUM_LAT, MUM_LON), ND, 20, APPROVE, 0);
	PAY(f, AT(P(604, 1235, BASE), DEL_LAT, DEL_LON), ND, 20, APPROVE, 0);
	/* and the comparison is with the most recent located payment (Delhi, at BASE): Delhi again
	 * a minute later is 0 km away */
	PAY(f, AT(P(604, 1236, BASE + MIN_NS), DEL_LAT, DEL_LON), ND, 20, APPROVE, 0);
}

/* Install the default rule set followed by `tables` (inline table blocks). */
static void install_paytm_with(struct fx *f, const char *tables)
{
	size_t len, tlen = strlen(tables);
	char *base = slurp("rules/fraud-paytm.rules", &len);
	char *text = malloc(len + tlen);
	assert_non_null(text);
	memcpy(text, base, len);
	memcpy(text + len, tables, tlen);
	install(f, text, len + tlen);
	free(text);
	free(base);
}

static void test_tables_give_merchant_risk_mcc_scores_and_high_risk_areas(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	install_paytm_with(f, "table merchant_risk\n71,71\n70,70\n51,51\n50,50\nend\n"
			      "table mcc\n7995,40\n5411,0\nend\n"
			      "table risk_areas\n19076000,72877700,10\n0,0,100\nend\n");
	const uint32_t ND = R(NEW_DEVICE), NM = R(NEW_MERCHANT), MC = R(MERCHANT_CATEGORY);
	/* merchant risk 71 > 70: high 30 + new_device 20 + new_merchant 10 + MCC default 5 = 65 */
	PAY(f, PM(1, 1234, BASE, 71, 1), ND | NM | MC | R(MERCHANT_HIGH_RISK), 65, REVIEW, 0);
	/* 70: medium (> 50, <= 70) 15 + 35 = 50 */
	PAY(f, PM(2, 1234, BASE, 70, 1), ND | NM | MC | R(MERCHANT_MEDIUM_RISK), 50, VERIFY, 0);
	PAY(f, PM(3, 1234, BASE, 51, 1), ND | NM | MC | R(MERCHANT_MEDIUM_RISK), 50, VERIFY, 0);
	PAY(f, PM(4, 1234, BASE, 50, 1), ND | NM | MC, 35, APPROVE, 0);
	/* absent merchant (risk 0), MCC 7995 scores 40: 20 + 10 + 40 = 70 */
	PAY(f, PM(5, 1234, BASE, 9, 7995), ND | NM | MC, 70, REVIEW, 0);
	/* MCC 5411 scores 0: it fires but is not listed: 20 + 10 = 30 */
	PAY(f, PM(6, 1234, BASE, 10, 5411), ND | NM, 30, APPROVE, 0);
	/* no merchant: no merchant rule whatever the MCC */
	struct pay p = P(7, 1234, BASE);
	p.mcc = 7995;
	PAY(f, p, ND, 20, APPROVE, 0);
	/* merchant 71 again: not new: 30 + 20 + 5 = 55 */
	PAY(f, PM(8, 1234, BASE, 71, 1), ND | MC | R(MERCHANT_HIGH_RISK), 55, VERIFY, 0);
	/* the Mumbai circle of 10 km: its centre, 0.08 deg north (0.08 x 111.19493 = 8.90 km, inside)
	 * and 0.09 deg north (10.01 km, outside): high_risk_area 15 */
	PAY(f, AT(P(20, 1234, BASE), MUM_LAT, MUM_LON), ND | R(HIGH_RISK_AREA), 35, APPROVE, 0);
	PAY(f, AT(P(21, 1234, BASE), MUM_LAT + 80000, MUM_LON), ND | R(HIGH_RISK_AREA), 35, APPROVE, 0);
	PAY(f, AT(P(22, 1234, BASE), MUM_LAT + 90000, MUM_LON), ND, 20, APPROVE, 0);
	/* (0, 0) is "no location": the circle around it never applies */
	PAY(f, AT(P(23, 1234, BASE), 0, 0), ND, 20, APPROVE, 0);
	PAY(f, AT(P(24, 1234, BASE), 1, 0), ND | R(HIGH_RISK_AREA), 35, APPROVE, 0);
}

static void test_install_refuses_a_merchant_table_larger_than_the_operators(void **state)
{
	struct dd_fraud_params p = DEF;
	p.merchant_table = 2;
	struct fx *f = fx_new(state, &p, NULL);
	const char *text = "ruleset t version 1\ntable merchant_risk\n1,1\n2,2\n3,3\nend\n";
	struct dd_frules *img = malloc(dd_frules_memsize(8));
	assert_non_null(img);
	char err[256];
	assert_int_equal(dd_frules_compile(text, strlen(text), "t", img, 8, err, sizeof(err), NULL, NULL, NULL), 0);
	void *st = dd_chain_state(&f->c, DD_OP_FRAUD);
	assert_int_equal(dd_fraud_install(st, img), -EINVAL);
	assert_string_equal(dd_fraud_rules(st)->name, "paytm"); /* the rules in force stay */
	free(img);
}

static void test_the_upi_rule_set_windows_open_at_t(void **state)
{
	struct fx *f = fx_new(state, &DEF, "rules/fraud-upi.rules");
	/* at least 15 earlier payments in (t - 1 h, t): the 16th a minute apart fires, +30 */
	for (unsigned k = 0; k < 15; k++)
		PAY(f, P(1, 100 + k, BASE + k * MIN_NS), 0, 0, APPROVE, 0);
	PAY(f, P(1, 115, BASE + 15 * MIN_NS), R(VELOCITY_HOUR_COUNT), 30, APPROVE, 0);
	/* ties excluded: 16 payments at the same t see none before them; one at t + 1 ns sees 16 */
	for (unsigned k = 0; k < 16; k++)
		PAY(f, P(2, 100 + k, BASE), 0, 0, APPROVE, 0);
	PAY(f, P(2, 116, BASE + 1), R(VELOCITY_HOUR_COUNT), 30, APPROVE, 0);
	/* amount: 3,000,000 is a multiple of 100,000 >= 1,000,000: round 15; 2,000,001 at the same t
	 * sees no earlier amount (ties excluded); 1 at t + 1 ns: 5,000,001 + 1 > 5,000,000: +25 */
	PAY(f, P(3, 3000000, BASE), R(ROUND_AMOUNT), 15, APPROVE, 0);
	PAY(f, P(3, 2000001, BASE), 0, 0, APPROVE, 0);
	PAY(f, P(3, 1, BASE + 1), R(VELOCITY_HOUR_AMOUNT), 25, APPROVE, 0);
	PAY(f, P(4, 900000, BASE), 0, 0, APPROVE, 0); /* a multiple but under 1,000,000 */
	/* Mumbai to Delhi (1153.24 km) in 2 h: 576.6 km/h > 500: impossible 50 */
	PAY(f, AT(P(5, 1234, BASE), MUM_LAT, MUM_LON), 0, 0, APPROVE, 0);
	PAY(f, AT(P(5, 1235, BASE + 2 * H_NS), DEL_LAT, DEL_LON), R(IMPOSSIBLE_TRAVEL), 50, VERIFY, 0);
	/* in 3 h: 384.4 km/h, over 100, at most 500, 1153 km > 50 km: fast 20 */
	PAY(f, AT(P(6, 1234, BASE), MUM_LAT, MUM_LON), 0, 0, APPROVE, 0);
	PAY(f, AT(P(6, 1235, BASE + 3 * H_NS), DEL_LAT, DEL_LON), R(FAST_TRAVEL), 20, APPROVE, 0);
	/* 0.3 deg north (33.36 km) in 10 min is 200 km/h but not over 50 km; 0.5 deg (55.60 km) is */
	PAY(f, AT(P(7, 1234, BASE), MUM_LAT, MUM_LON), 0, 0, APPROVE, 0);
	PAY(f, AT(P(7, 1235, BASE + 10 * MIN_NS), MUM_LAT + 300000, MUM_LON), 0, 0, APPROVE, 0);
	PAY(f, AT(P(8, 1234, BASE), MUM_LAT, MUM_LON), 0, 0, APPROVE, 0);
	PAY(f, AT(P(8, 1235, BASE + 10 * MIN_NS), MUM_LAT + 500000, MUM_LON), R(FAST_TRAVEL), 20, APPROVE, 0);
}

/* A rule set's head for tests of scores and reasons: UTC, and actions no score here reaches. */
#define SCORES_ONLY "timezone +00:00\naction block 1000\naction review 999\naction verify 998\n"

/*
 * Thresholds at their exact values in both forms, a sum without the payment itself, a range of one
 * value, `requires`, and new_device's age boundary, in a rule set of its own with scores that are
 * powers of two (so the score names the rules) and actions no score reaches.
 */
static void test_at_least_over_current_exclude_requires_and_one_value_ranges(void **state)
{
	static const char text[] =
		"ruleset edges version 9\n"
		SCORES_ONLY
		"rule velocity_hour_count  score 1   when count window 1h at_least 3\n"
		"rule velocity_hour_amount score 2   when sum window 1h over 300 current exclude\n"
		"rule velocity_day_amount  score 4   when sum window 24h at_least 500\n"
		"rule structuring          score 8   when amount_between min 51 max 51\n"
		"rule new_device           score 16  when new_device age 1m\n"
		"rule new_device_large     score 32  when amount_over at_least 150 requires new_device\n"
		"rule shared_device        score 64  when shared_device at_least 1\n"
		"rule round_amount         score 128 when amount_in values 100,250\n";
	struct fx *f = fx_new(state, &DEF, "rules/fraud-paytm.rules");
	install(f, text, sizeof(text) - 1);
	const uint32_t SH = R(SHARED_DEVICE), ND = R(NEW_DEVICE);
	/* payer 1, device 1001. 100: count 1, sum before 0, day 100; first use 16, shared (1 >= 1) 64,
	 * round 128 */
	PAY(f, P(1, 100, BASE), ND | SH | R(ROUND_AMOUNT), 208, APPROVE, 0);
	/* 150 a minute later: the device is 1 min old, not less than 1 min: no new_device, so no
	 * new_device_large either; 150 is between 100 and 250 but not listed */
	PAY(f, P(1, 150, BASE + MIN_NS), SH, 64, APPROVE, 0);
	/* 250: count 3 >= 3 (1), sum before 250 not over 300, day 500 >= 500 (4), round (128) */
	PAY(f, P(1, 250, BASE + 2 * MIN_NS), SH | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_DAY_AMOUNT) | R(ROUND_AMOUNT),
	    197, APPROVE, 0);
	/* 51: count 4 (1), sum before 500 > 300 (2), day 551 (4), 51 in [51, 51] (8) */
	PAY(f, P(1, 51, BASE + 3 * MIN_NS),
	    SH | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT) | R(VELOCITY_DAY_AMOUNT) | R(STRUCTURING), 79,
	    APPROVE, 0);
	/* from device 2001 first: new (16), 150 >= 150 behind it (32), count 5, sum before 551, day 701 */
	struct pay q = P(1, 150, BASE + 4 * MIN_NS);
	q.device = 2001;
	PAY(f, q,
	    ND | R(NEW_DEVICE_LARGE) | SH | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT) | R(VELOCITY_DAY_AMOUNT),
	    119, APPROVE, 0);
	/* payer 2: 150 twice a second apart (device under a minute old: 16 + 32), then 1: the sum
	 * before is 300, not over 300; then 1 more: 301 is */
	PAY(f, P(2, 150, BASE), ND | R(NEW_DEVICE_LARGE) | SH, 112, APPROVE, 0);
	PAY(f, P(2, 150, BASE + S_NS), ND | R(NEW_DEVICE_LARGE) | SH, 112, APPROVE, 0);
	PAY(f, P(2, 1, BASE + 2 * S_NS), ND | SH | R(VELOCITY_HOUR_COUNT), 81, APPROVE, 0);
	PAY(f, P(2, 1, BASE + 3 * S_NS), ND | SH | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT), 83, APPROVE, 0);
}

/*
 * A merchant's rules read nothing on a payment without a merchant, even where the values such a
 * payment offers (risk 0, not a new merchant) are inside the rule's range: `merchant_risk at_least 0`
 * fires on a payment to any merchant (an unlisted one is risk 0) and on no P2P payment. Scores by
 * hand: merchant_medium_risk 4, new_device 16 on the payer's device's first use.
 */
static void test_a_merchants_rule_never_fires_on_a_payment_without_one(void **state)
{
	static const char text[] =
		"ruleset m0 version 3\n"
		SCORES_ONLY
		"rule merchant_medium_risk score 4  when merchant_risk at_least 0\n"
		"rule new_device           score 16 when new_device age 1m\n";
	struct fx *f = fx_new(state, &DEF, "rules/fraud-paytm.rules");
	install(f, text, sizeof(text) - 1);
	const uint32_t MR = R(MERCHANT_MEDIUM_RISK), ND = R(NEW_DEVICE);
	PAY(f, P(31, 500, BASE), ND, 16, APPROVE, 0);                             /* P2P: no merchant */
	PAY(f, PM(31, 500, BASE + S_NS, 7001, 5411), ND | MR, 20, APPROVE, 0);    /* unlisted: risk 0 */
	PAY(f, P(31, 500, BASE + 2 * MIN_NS), 0, 0, APPROVE, 0);                  /* P2P again */
	PAY(f, PM(31, 500, BASE + 3 * MIN_NS, 7001, 5411), MR, 4, APPROVE, 0);
}

/*
 * Amounts are any positive int64: three of 2^62 in the hour sum past INT64_MAX, and the sums still
 * read as over 5,000,000 and 20,000,000 (they saturate, never wrap). Each: velocity_hour_amount 40,
 * velocity_day_amount 50, new_device 20 (the device under 48 h old), new_device_large 15 = 125,
 * block.
 */
static void test_window_sums_past_int64_max_still_fire(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	const uint32_t want = R(VELOCITY_HOUR_AMOUNT) | R(VELOCITY_DAY_AMOUNT) | R(NEW_DEVICE) | R(NEW_DEVICE_LARGE);
	for (unsigned k = 0; k < 3; k++)
		PAY(f, P(3, 1ll << 62, BASE + k * S_NS), want, 125, BLOCK, 0);
}

/* ---- tables full ---------------------------------------------------------------------------- */

static void test_a_full_payer_table_scores_without_payer_state_and_counts(void **state)
{
	/* payers = 1: ktab_slots rounds 2 x 1 up to 64 slots, and probing (128 slots) covers all 64,
	 * so exactly 64 payers fit before nothing has expired */
	struct dd_fraud_params p = DEF;
	p.payers = 1;
	struct fx *f = fx_new(state, &p, NULL);
	for (uint64_t k = 1; k <= 64; k++)
		PAY(f, P(k, 1234, BASE + k), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_payers_full"), 0);
	/* the 65th: no slot; still a decision, new_device from the pair table, flagged */
	PAY(f, P(65, 3000000, BASE + 65), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, DD_DECISION_NO_PAYER);
	assert_int_equal(counter(f, "fraud_payers_full"), 1);
	/* without payer state its second 3,000,000 within the hour is not summed (6,000,000 would
	 * fire velocity_hour_amount): 20 + 15 */
	PAY(f, P(65, 3000000, BASE + 66), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, DD_DECISION_NO_PAYER);
	assert_int_equal(counter(f, "fraud_payers_full"), 2);
	/* a payer in the table is found */
	PAY(f, P(1, 1235, BASE + 100), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_decisions"), 67);
	/* past the payer TTL (pi x 6371 / 100 + 1 = 201.15 h after their last payment) every payer has
	 * expired: a new one takes a slot */
	PAY(f, P(66, 1234, BASE + 202 * H_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_payers_expired"), 1);
	assert_int_equal(counter(f, "fraud_payers_full"), 2);
}

static void test_a_full_pair_table_scores_as_a_new_device(void **state)
{
	struct dd_fraud_params p = DEF;
	p.pairs = 1; /* 64 slots */
	struct fx *f = fx_new(state, &p, NULL);
	for (uint64_t k = 1; k <= 64; k++)
		PAY(f, P(k, 1234, BASE + k), R(NEW_DEVICE), 20, APPROVE, 0);
	PAY(f, P(65, 1234, BASE + 65), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_pairs_full"), 1);
	/* 49 h later: payer 1's pair was recorded (age 49 h: no new_device), payer 65's was not */
	PAY(f, P(1, 1235, BASE + 49 * H_NS), 0, 0, APPROVE, 0);
	PAY(f, P(65, 1235, BASE + 49 * H_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_pairs_full"), 2);
}

static void test_a_full_device_table_counts_and_stops_counting_payers(void **state)
{
	struct dd_fraud_params p = DEF;
	p.devices = 1; /* 64 slots */
	struct fx *f = fx_new(state, &p, NULL);
	for (uint64_t k = 1; k <= 64; k++)
		PAY(f, P(k, 1234, BASE + k), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_devices_full"), 0);
	/* four payers on device 2000, which has no slot: its payers are not counted (0), so the 4th
	 * is not shared_device as it would be with room */
	for (uint64_t k = 100; k < 104; k++) {
		struct pay q = P(k, 1234, BASE + k);
		q.device = 2000;
		PAY(f, q, R(NEW_DEVICE), 20, APPROVE, 0);
	}
	assert_int_equal(counter(f, "fraud_devices_full"), 4);
	/* device 1001 (payer 1's) has a slot: payers 200, 201, 202 make it 2, 3, 4 */
	for (uint64_t k = 200; k < 203; k++) {
		struct pay q = P(k, 1234, BASE + k);
		q.device = 1001;
		PAY(f, q, k < 202 ? R(NEW_DEVICE) : R(NEW_DEVICE) | R(SHARED_DEVICE), k < 202 ? 20 : 50,
		    k < 202 ? APPROVE : VERIFY, 0);
	}
}

static void test_a_full_merchant_table_scores_as_a_new_merchant(void **state)
{
	struct dd_fraud_params p = DEF;
	p.merchants = 1; /* 64 slots */
	struct fx *f = fx_new(state, &p, NULL);
	const uint32_t NEW = R(NEW_DEVICE) | R(NEW_MERCHANT) | R(MERCHANT_CATEGORY); /* 20 + 10 + 5 */
	for (uint64_t k = 1; k <= 64; k++)
		PAY(f, PM(k, 1234, BASE + k, 500 + k, 1), NEW, 35, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_merchants_full"), 0);
	PAY(f, PM(65, 1234, BASE + 65, 565, 1), NEW, 35, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_merchants_full"), 1);
	/* merchant 565 was not recorded: new again */
	PAY(f, PM(66, 1234, BASE + 66, 565, 1), NEW, 35, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_merchants_full"), 2);
	/* merchant 501 was: 20 + 5 */
	PAY(f, PM(67, 1234, BASE + 67, 501, 1), R(NEW_DEVICE) | R(MERCHANT_CATEGORY), 25, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_merchants_full"), 2);
}

/* ---- history pool --------------------------------------------------------------------------- */

static void test_a_small_history_pool_evicts_live_entries_oldest_first(void **state)
{
	struct dd_fraud_params p = DEF;
	p.history = 2; /* rounded up to one pool block of 7 entries */
	struct fx *f = fx_new(state, &p, NULL);
	struct fx *ref = fx_new(state, &DEF, NULL); /* history 1024: never evicts */
	/*
	 * Payer 900: 3,000,000 at BASE, then 100,000 + k at BASE + (k - 1) min, k = 2..14. A payer
	 * keeps its 6 newest payments in its own slot; older ones spill into the pool's blocks of 7.
	 * Payments 7..13 spill payments 1..7 into the one block; payment 14 spills payment 8, which
	 * needs a new block: the oldest, the same one, whose 7 payments are all still inside the
	 * window: 7 live evictions. The amounts differ, so repeated_amount never fires; the hour sum at
	 * payment 14 is 3,000,000 + 13 x 100,000 + (2 + ... + 14 = 104) = 4,300,104: no velocity.
	 */
	struct fx *both[2] = { f, ref };
	for (unsigned i = 0; i < 2; i++) {
		struct fx *x = both[i];
		PAY(x, P(900, 3000000, BASE), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
		for (unsigned k = 2; k <= 14; k++)
			PAY(x, P(900, 100000 + k, BASE + (k - 1) * MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	}
	assert_int_equal(counter(f, "fraud_history_evicted"), 7);
	/* payment 15, 800,000: the full history's hour sum is 4,300,104 + 800,000 = 5,100,104 >
	 * 5,000,000 (velocity_hour_amount 40 + new_device 20 = 60, review); the small pool lost
	 * payments 1..7: 7 x 100,000 + (8 + ... + 14 = 77) = 700,077 + 800,000 = 1,500,077 (new_device
	 * 20, approve). Its push spills payment 9 into the block payment 8 opened: no eviction. */
	PAY(f, P(900, 800000, BASE + 14 * MIN_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	PAY(ref, P(900, 800000, BASE + 14 * MIN_NS), R(NEW_DEVICE) | R(VELOCITY_HOUR_AMOUNT), 60, REVIEW, 0);
	assert_int_equal(counter(f, "fraud_history_evicted"), 7);
	assert_int_equal(counter(ref, "fraud_history_evicted"), 0);
}

static void test_long_histories_of_two_interleaved_payers_sum_exactly_over_the_day(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	/*
	 * Two busy payers, one payment each every 10 minutes from BASE (901 on the minute, 902 a second
	 * later), so their spilled payments alternate in the pool's blocks: a window scan walks a list of
	 * up to 14 blocks scattered among the other payer's, the walk the blocks' prefetch hints serve.
	 * No hour holds more than 6 of a payer's payments (count 6, sums under 2,000,000): only the day
	 * sum (over 20,000,000, the payment included) can fire, and new_device (+20) on every payment
	 * (first use at BASE, 48 h). Amounts differ within a payer: no repeated_amount.
	 * Payer 901, payment k = 1..100: 199,000 + k. Its day sum at k is 199,000 k + k (k + 1) / 2:
	 * at k = 100, 19,900,000 + 5,050 = 19,905,050. Payment 101: 94,950, sum exactly 20,000,000 (not
	 * over). Payment 102: 1, sum 20,000,001: velocity_day_amount (50 + 20 = 70, review).
	 * Payer 902, payment k: 300,000 + k; day sum 300,000 k + k (k + 1) / 2: k = 66 gives
	 * 19,800,000 + 2,211 = 19,802,211, k = 67 gives 20,100,000 + 2,278 = 20,102,278: it fires from
	 * its 67th payment on. The last payment (k = 102) is at BASE + 1,010 min, 16 h 50 min later:
	 * every earlier payment is inside the day.
	 */
	for (uint64_t k = 1; k <= 102; k++) {
		uint64_t t = BASE + (k - 1) * 10 * MIN_NS;
		int64_t a = k <= 100 ? 199000 + (int64_t)k : k == 101 ? 94950 : 1;
		if (k < 102)
			PAY(f, P(901, a, t), R(NEW_DEVICE), 20, APPROVE, 0);
		else
			PAY(f, P(901, a, t), R(NEW_DEVICE) | R(VELOCITY_DAY_AMOUNT), 70, REVIEW, 0);
		if (k < 67)
			PAY(f, P(902, 300000 + (int64_t)k, t + S_NS), R(NEW_DEVICE), 20, APPROVE, 0);
		else
			PAY(f, P(902, 300000 + (int64_t)k, t + S_NS), R(NEW_DEVICE) | R(VELOCITY_DAY_AMOUNT), 70, REVIEW, 0);
	}
	assert_int_equal(counter(f, "fraud_history_evicted"), 0);
}

/* ---- out of order --------------------------------------------------------------------------- */

static void test_a_payment_earlier_than_the_payers_latest_is_flagged_and_counted(void **state)
{
	struct fx *f = fx_new(state, &DEF, NULL);
	PAY(f, P(950, 3000000, BASE + 10 * MIN_NS), R(NEW_DEVICE) | R(NEW_DEVICE_LARGE), 35, APPROVE, 0);
	/* at BASE, 10 min before the latest: flagged; its window (BASE - 1 h, BASE] does not hold the
	 * later 3,000,000: sum 2,000,001, new_device (first use is after it) 20 */
	PAY(f, P(950, 2000001, BASE), R(NEW_DEVICE), 20, APPROVE, DD_DECISION_OUT_OF_ORDER);
	assert_int_equal(counter(f, "fraud_out_of_order"), 1);
	/* the late one is in the payer's history: at BASE + 20 min the hour holds both,
	 * 3,000,000 + 2,000,001 + 1 = 5,000,002 > 5,000,000: 40 + 20 */
	PAY(f, P(950, 1, BASE + 20 * MIN_NS), R(NEW_DEVICE) | R(VELOCITY_HOUR_AMOUNT), 60, REVIEW, 0);
	/* equal to the latest is not out of order */
	PAY(f, P(950, 2, BASE + 20 * MIN_NS), R(NEW_DEVICE) | R(VELOCITY_HOUR_AMOUNT), 60, REVIEW, 0);
	assert_int_equal(counter(f, "fraud_out_of_order"), 1);
	/* another payer's latest does not matter */
	PAY(f, P(951, 2, BASE), R(NEW_DEVICE), 20, APPROVE, 0);
	assert_int_equal(counter(f, "fraud_out_of_order"), 1);
	assert_int_equal(counter(f, "fraud_too_late"), 0);
	/* 25 h behind payer 950's latest (BASE + 20 min): more than the 24 h grace, flagged and counted
	 * as too late; no earlier payment in its hour or day (all are later), new_device 20 */
	PAY(f, P(950, 5, BASE + 20 * MIN_NS - 25 * 60 * MIN_NS), R(NEW_DEVICE), 20, APPROVE,
	    DD_DECISION_OUT_OF_ORDER | DD_DECISION_TOO_LATE);
	assert_int_equal(counter(f, "fraud_out_of_order"), 2);
	assert_int_equal(counter(f, "fraud_too_late"), 1);
}

/* ---- snapshots ------------------------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
};

static int put_mem(void *ctx, const void *p, size_t n)
{
	struct wbuf *b = ctx;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (q == NULL)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

struct rbuf {
	const uint8_t *p;
	size_t n, off;
};

static int get_mem(void *ctx, void *p, size_t n)
{
	struct rbuf *b = ctx;
	if (n > b->n - b->off)
		return -ENODATA;
	memcpy(p, b->p + b->off, n);
	b->off += n;
	return 0;
}

/* Payment i of a varied stream: 7 payers, 5 devices, 4 merchants, three places and none, some
 * round amounts, every 11th invalid. */
static struct pay stream_pay(unsigned i)
{
	static const int32_t loc[4][2] = { { MUM_LAT, MUM_LON }, { DEL_LAT, DEL_LON }, { 0, 0 }, { 12971600, 77594600 } };
	struct pay p = P(1 + i % 7, 100000 * (1 + i % 13) + (i % 4 == 0 ? 0 : i), BASE + i * 7 * MIN_NS);
	p.device = 100 + i % 5;
	if (i % 3 != 0) {
		p.payee = 0;
		p.merchant = 300 + i % 4;
		p.kind = 'M';
		p.mcc = (uint16_t)(5411 + i % 2);
	}
	p.lat = loc[i % 4][0];
	p.lon = loc[i % 4][1];
	if (i % 11 == 10)
		p.amount = 0;
	p.txn = 70000 + i;
	return p;
}

enum { SNAP_N = 40, SNAP_M = 30 };

/* The chain the snapshot tests save: the stream's first SNAP_N payments and the first half of the
 * next, in flight (evn), with tables the snapshot must carry (the chain it is loaded into has the
 * default set without them). tests/data/fraud/snapshot-v2.bin is this chain's snapshot as an
 * earlier build wrote it. */
static struct fx *snapshot_chain(void **state, struct dd_event evn[2])
{
	struct fx *a = fx_new(state, &DEF, NULL);
	install_paytm_with(a, "table merchant_risk\n300,80\n301,60\n303,10\nend\n"
			      "table mcc\n5412,30\nend\n"
			      "table risk_areas\n28704100,77102500,5\nend\n");
	for (unsigned i = 0; i < SNAP_N; i++)
		decide(a, stream_pay(i));
	struct pay pn = stream_pay(SNAP_N);
	halves(a, &pn, evn);
	assert_int_equal(run(a, &evn[0], 1), 0);
	return a;
}

/* a and b, in the same state, given the rest of the stream: the same decisions and counters */
static void decide_on_alike(struct fx *a, struct fx *b, const struct dd_event evn[2])
{
	enum { N = SNAP_N, M = SNAP_M };
	b->cause = a->cause;
	b->seq = a->seq;
	b->txn = a->txn;
	assert_int_equal(run(a, &evn[1], 1), 1);
	struct dd_output oa = a->c.emit.out[0];
	assert_int_equal(run(b, &evn[1], 1), 1);
	assert_true(dd_output_same(&oa, &b->c.emit.out[0]));
	unsigned actions[4] = { 0 };
	for (unsigned i = N + 1; i < N + M; i++) {
		oa = decide(a, stream_pay(i));
		struct dd_output ob = decide(b, stream_pay(i));
		if (!dd_output_same(&oa, &ob))
			fail_msg("payment %u: the loaded chain decided otherwise (score %u vs %u)", i, oa.u.decision.score,
				 ob.u.decision.score);
		actions[oa.u.decision.action & 3]++;
	}
	/* the stream is not trivial: some payments were not approved */
	assert_true(actions[VERIFY] + actions[REVIEW] + actions[BLOCK] > 0);
	for (unsigned i = 0; i < dd_fraud_op.ncounters; i++)
		assert_int_equal(counter(a, dd_fraud_op.counter_names[i]), counter(b, dd_fraud_op.counter_names[i]));
	assert_int_equal(counter(a, "fraud_decisions"), N + M);
}

static void test_a_loaded_snapshot_decides_exactly_as_the_chain_it_was_saved_from(void **state)
{
	struct dd_event evn[2];
	struct fx *a = snapshot_chain(state, evn);

	struct wbuf w = { 0 };
	assert_int_equal(dd_chain_save(&a->c, put_mem, &w), 0);
	struct fx *b = fx_new(state, &DEF, NULL);
	struct rbuf r = { w.p, w.n, 0 };
	assert_int_equal(dd_chain_load(&b->c, get_mem, &r), 0);
	assert_int_equal(r.off, w.n); /* read to the end */
	/* saved again, the loaded chain writes the same bytes */
	struct wbuf w2 = { 0 };
	assert_int_equal(dd_chain_save(&b->c, put_mem, &w2), 0);
	assert_int_equal(w2.n, w.n);
	assert_memory_equal(w2.p, w.p, w.n);
	free(w2.p);

	/* the same inputs at the same positions into both */
	decide_on_alike(a, b, evn);

	/* another capacity: refused as another configuration */
	struct dd_fraud_params other = DEF;
	other.history = 512;
	struct fx *c = fx_new(state, &other, NULL);
	r = (struct rbuf){ w.p, w.n, 0 };
	assert_int_equal(dd_chain_load(&c->c, get_mem, &r), -EINVAL);

	/* every truncation fails with an error, into a freshly initialised chain each time */
	struct fx *d = fx_new(state, &DEF, NULL);
	char err[256];
	unsigned tried = 0;
	for (size_t cut = 0; cut < w.n; cut += cut < 256 ? 1 : 61) {
		assert_int_equal(dd_chain_init(&d->c, d->mem, d->len, &d->cp, err, sizeof(err)), 0);
		r = (struct rbuf){ w.p, cut, 0 };
		int rc = dd_chain_load(&d->c, get_mem, &r);
		if (rc >= 0)
			fail_msg("a snapshot cut to %zu of %zu bytes loaded (rc %d)", cut, w.n, rc);
		tried++;
	}
	assert_int_equal(dd_chain_init(&d->c, d->mem, d->len, &d->cp, err, sizeof(err)), 0);
	r = (struct rbuf){ w.p, w.n - 1, 0 };
	assert_true(dd_chain_load(&d->c, get_mem, &r) < 0);
	assert_true(tried > 256);
	free(w.p);
}

/*
 * A snapshot an earlier build wrote (commit 2aab1ed, before a payer's slot kept a copy of its last
 * pair and its mean in 8 bytes): this build writes the same bytes for the same chain, loads it, and
 * decides from it as the chain that ran the stream.
 */
static void test_a_snapshot_from_an_earlier_build_loads_and_decides_the_same(void **state)
{
	size_t len;
	char *old = slurp("tests/data/fraud/snapshot-v2.bin", &len);
	struct dd_event evn[2];
	struct fx *a = snapshot_chain(state, evn);
	struct wbuf w = { 0 };
	assert_int_equal(dd_chain_save(&a->c, put_mem, &w), 0);
	assert_int_equal(w.n, len);
	assert_memory_equal(w.p, old, len);
	free(w.p);

	struct fx *b = fx_new(state, &DEF, NULL);
	struct rbuf r = { (const uint8_t *)old, len, 0 };
	assert_int_equal(dd_chain_load(&b->c, get_mem, &r), 0);
	assert_int_equal(r.off, len);
	w = (struct wbuf){ 0 };
	assert_int_equal(dd_chain_save(&b->c, put_mem, &w), 0); /* and saves it again as it was */
	assert_int_equal(w.n, len);
	assert_memory_equal(w.p, old, len);
	free(w.p);
	decide_on_alike(a, b, evn);
	free(old);
}

/*
 * A payer with a long history (60 payments three minutes apart: 54 in eight pool blocks), whose
 * hour is kept as a running count and sum: at the window's edges, through a rule reload, a
 * snapshot, a late payment and after it. Every expectation by hand: payment i at BASE + 3i min,
 * 250,000 each (20 in an hour are 5,000,000: not over); new_device 20 on every one (a new payer's
 * device), repeated_amount 25 from the 5th on (its last 5 all 250,000).
 */
static void test_a_long_history_keeps_its_hour_exact_as_payments_leave_it(void **state)
{
	const uint64_t M3 = 180 * S_NS;
	struct fx *f = fx_new(state, &DEF, NULL);
	for (unsigned i = 0; i < 60; i++) {
		if (i < 4)
			PAY(f, P(601, 250000, BASE + i * M3), R(NEW_DEVICE), 20, APPROVE, 0);
		else
			PAY(f, P(601, 250000, BASE + i * M3), R(NEW_DEVICE) | R(REPEATED_AMOUNT), 45, VERIFY, 0);
	}
	/* X, 1 ns after payment 59: (X - 1 h, X] holds 40..59 (payment 39 is 1 h + 1 ns before) and X:
	 * 21 payments, 5,250,000: count 30 + amount 40 + repeated 25 + new device 20 */
	const uint64_t X = BASE + 59 * M3 + 1;
	PAY(f, P(601, 250000, X), R(NEW_DEVICE) | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT) | R(REPEATED_AMOUNT),
	    115, BLOCK, 0);
	/* the hour rules on 30 minutes put in force: Y at payment 60's time has 51..59, X and Y in
	 * (Y - 30 min, Y]: 11 payments, 2,500,001, its last five not all one amount */
	size_t len;
	char *text = slurp("rules/fraud-paytm.rules", &len);
	for (char *w = strstr(text, "window 1h "); w != NULL; w = strstr(w, "window 1h "))
		memcpy(w, "window 30m", 10);
	install(f, text, len);
	free(text);
	const uint64_t Y = BASE + 60 * M3;
	struct dd_output oy = decide(f, P(601, 1, Y));
	expect_(&oy, R(NEW_DEVICE), 20, APPROVE, 0, __LINE__);
	/* the shipped rules again: Y seen from Z (below) with the hour's 41..59, X, Y */
	install_file(f, "rules/fraud-paytm.rules");

	/* a snapshot of it here, loaded into a second chain: both decide the rest alike */
	struct wbuf wb = { 0 };
	assert_int_equal(dd_chain_save(&f->c, put_mem, &wb), 0);
	struct fx *b = fx_new(state, &DEF, NULL);
	struct rbuf r = { wb.p, wb.n, 0 };
	assert_int_equal(dd_chain_load(&b->c, get_mem, &r), 0);
	free(wb.p);
	b->cause = f->cause;
	b->seq = f->seq;
	b->txn = f->txn;
	for (unsigned k = 0; k < 2; k++) {
		struct fx *c = k == 0 ? f : b;
		/* Z, 1 ns later: 41..59, X, Y, Z: 22 payments, 5,000,002 */
		PAY(c, P(601, 1, Y + 1), R(NEW_DEVICE) | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT), 90, BLOCK, 0);
		/* late, between payments 58 and 59: (L - 1 h, L] holds 39..58, each at most 1 h before:
		 * 20 earlier, 5,000,000 + 1 */
		const uint64_t L = BASE + 58 * M3 + 30 * S_NS;
		PAY(c, P(601, 1, L), R(NEW_DEVICE) | R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT), 90, BLOCK,
		    DD_DECISION_OUT_OF_ORDER);
		/* W, in order again, with the late one kept: (W - 1 h, W] holds 42..59 (18), X, Y, Z, L and
		 * W: 23 payments, 4,500,000 + 250,000 + 1 + 1 + 1 + 2 = 4,750,005 */
		PAY(c, P(601, 2, BASE + 61 * M3), R(NEW_DEVICE) | R(VELOCITY_HOUR_COUNT), 50, VERIFY, 0);
		/* an hour after X and one more payment: (V - 1 h, V] holds Y, Z, W and V: the count is 4 */
		PAY(c, P(601, 2, X + 3600 * S_NS), R(NEW_DEVICE), 20, APPROVE, 0);
	}
	assert_int_equal(counter(f, "fraud_history_evicted"), 0);
}

/*
 * The UPI set's windows are open at t (ties excluded), over a long history kept as running counts
 * and sums: 30 payments of 160,000 a minute apart (24 of them in four pool blocks), then eight at one
 * time T. Each of the eight sees the 30 earlier (4,800,000) and none at T: 4,900,000 with itself,
 * not over 5,000,000; with the ties it would be over from the third on. The seventh and eighth
 * find the payer's whole ring at T. One at T + 1 ns sees all 38: 5,600,000 + 1.
 */
static void test_a_long_history_leaves_out_the_payments_at_t_in_the_upi_set(void **state)
{
	struct fx *f = fx_new(state, &DEF, "rules/fraud-upi.rules");
	for (unsigned k = 0; k < 30; k++) /* at least 15 earlier in the hour from the 16th on: +30 */
		PAY(f, P(20, 160000, BASE + k * MIN_NS), k < 15 ? 0 : R(VELOCITY_HOUR_COUNT), k < 15 ? 0 : 30, APPROVE, 0);
	const uint64_t T = BASE + 30 * MIN_NS;
	for (unsigned j = 0; j < 8; j++)
		PAY(f, P(20, 100000, T), R(VELOCITY_HOUR_COUNT), 30, APPROVE, 0);
	PAY(f, P(20, 1, T + 1), R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT), 55, VERIFY, 0);
	/* exactly an hour after the first: it is out, 1..29, the eight and the one: 4,640,000 + 800,000
	 * + 1 + 2 = 5,440,003 */
	PAY(f, P(20, 2, BASE + 60 * MIN_NS), R(VELOCITY_HOUR_COUNT) | R(VELOCITY_HOUR_AMOUNT), 55, VERIFY, 0);
	/* 1 ns before the eight leave the hour: they, 1 and 2 are 800,003 earlier, with 4,199,997 it is
	 * 5,000,000, not over; at T + 1 h they are out: 1 + 2 + 4,199,997 + 1 */
	PAY(f, P(20, 4199997, T + 3600 * S_NS - 1), 0, 0, APPROVE, 0);
	PAY(f, P(20, 1, T + 3600 * S_NS), 0, 0, APPROVE, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_a_decision_comes_only_with_the_second_half_and_says_what_was_paid),
		T(test_the_decision_carries_the_installed_rule_sets_version),
		T(test_a_second_half_without_its_first_is_counted_as_an_orphan),
		T(test_invalid_payments_are_blocked_with_the_single_reason_invalid_and_change_nothing),
		T(test_currencies_are_checked_against_iso_4217),
		T(test_velocity_hour_count_fires_on_the_21st_payment_of_the_hour),
		T(test_velocity_hour_amount_fires_only_over_5000000),
		T(test_a_payment_exactly_one_hour_earlier_is_outside_the_hour),
		T(test_velocity_day_amount_fires_only_over_20000000),
		T(test_repeated_amount_fires_on_the_fifth_equal_amount_in_the_hour),
		T(test_amount_patterns_at_their_boundaries),
		T(test_late_night_large_uses_the_local_hour_of_the_rule_set),
		T(test_new_device_fires_until_48h_after_the_first_use),
		T(test_a_payer_switching_devices_keeps_each_devices_first_use),
		T(test_shared_device_fires_for_the_fourth_distinct_payer),
		T(test_travel_from_mumbai_to_delhi),
		T(test_tables_give_merchant_risk_mcc_scores_and_high_risk_areas),
		T(test_a_merchants_rule_never_fires_on_a_payment_without_one),
		T(test_install_refuses_a_merchant_table_larger_than_the_operators),
		T(test_at_least_over_current_exclude_requires_and_one_value_ranges),
		T(test_window_sums_past_int64_max_still_fire),
		T(test_the_upi_rule_set_windows_open_at_t),
		T(test_a_full_payer_table_scores_without_payer_state_and_counts),
		T(test_a_full_pair_table_scores_as_a_new_device),
		T(test_a_full_device_table_counts_and_stops_counting_payers),
		T(test_a_full_merchant_table_scores_as_a_new_merchant),
		T(test_a_small_history_pool_evicts_live_entries_oldest_first),
		T(test_long_histories_of_two_interleaved_payers_sum_exactly_over_the_day),
		T(test_a_payment_earlier_than_the_payers_latest_is_flagged_and_counted),
		T(test_a_loaded_snapshot_decides_exactly_as_the_chain_it_was_saved_from),
		T(test_a_snapshot_from_an_earlier_build_loads_and_decides_the_same),
		T(test_a_long_history_keeps_its_hour_exact_as_payments_leave_it),
		T(test_a_long_history_leaves_out_the_payments_at_t_in_the_upi_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
