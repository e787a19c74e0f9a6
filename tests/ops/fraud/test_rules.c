/* SPDX-License-Identifier: MIT */
/*
 * The fraud rule compiler (ops/fraud/rules.c): the two shipped rule sets, where every kind of error
 * is reported (origin:line:column, columns counted by hand in the comments), the inline tables, the
 * table-file checker, the operator's counter names and the haversine distance. Expected values
 * come from the rule text and /work/shared/specs/fraud-rules.md, worked out by hand here.
 *
 * Runs from the repository root (it reads rules/fraud-paytm.rules and rules/fraud-upi.rules).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/fraud/fraud.h"
#include "ops/fraud/rules.h"
#include "shm/telemetry.h"

#define NS_PER_S 1000000000ll
#define NS_PER_H (3600 * NS_PER_S)
#define CAP 8 /* merchant-table capacity of the images compiled here */

#define ORIGIN "t.rules"
#define HEAD "ruleset t version 1\n" /* line 1 of most texts below */

/* ---- helpers -------------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (run the test from the repository root)", path);
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static struct dd_frules *image(uint32_t cap)
{
	size_t sz = dd_frules_memsize(cap);
	assert_true(sz > 0);
	struct dd_frules *r = malloc(sz);
	assert_non_null(r);
	memset(r, 0xA5, sz); /* compile must not rely on zeroed memory */
	return r;
}

/* What the report callback saw. */
struct reports {
	unsigned n;
	char msg[8][256];
};

static void report(void *ctx, const char *msg)
{
	struct reports *r = ctx;
	if (r->n < 8)
		snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
	r->n++;
}

/* Compile `text` (merchant capacity CAP); returns the number of errors, the first in err. */
static unsigned compile_errors(const char *text, char *err, size_t errlen, struct reports *rep)
{
	struct dd_frules *r = image(CAP);
	unsigned nerr = 12345;
	struct reports local = { 0 };
	if (rep == NULL)
		rep = &local;
	int rc = dd_frules_compile(text, strlen(text), ORIGIN, r, CAP, err, errlen, &nerr, report, rep);
	free(r);
	assert_int_equal(rep->n, nerr); /* one report per error */
	assert_int_equal(rc, nerr ? -EINVAL : 0);
	if (nerr > 0 && rep->n <= 8)
		assert_string_equal(rep->msg[0], err); /* err holds the first */
	return nerr;
}

/* `text` fails with its first error at exactly `where` ("t.rules:L:C: ") and saying `what`. */
static void expect_error(const char *text, const char *where, const char *what)
{
	char err[256];
	unsigned n = compile_errors(text, err, sizeof(err), NULL);
	if (n == 0)
		fail_msg("this text compiled without error, expected %s%s:\n%s", where, what, text);
	if (strncmp(err, where, strlen(where)) != 0 || strstr(err, what) == NULL)
		fail_msg("got \"%s\", expected \"%s...%s...\" from:\n%s", err, where, what, text);
}

static struct dd_frules *compile_ok(const char *text, size_t len, uint32_t cap)
{
	struct dd_frules *r = image(cap);
	char err[256];
	unsigned nerr = 99;
	int rc = dd_frules_compile(text, len, ORIGIN, r, cap, err, sizeof(err), &nerr, NULL, NULL);
	if (rc != 0)
		fail_msg("compile failed: %s", err);
	assert_int_equal(nerr, 0);
	return r;
}

/* FNV-1a 32 written out here (offset basis 2166136261, prime 16777619), not dadar's. */
static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 16777619u;
	}
	return h;
}

/* ---- the shipped rule sets ------------------------------------------------------------------ */

static void test_the_paytm_rule_set_compiles_to_what_its_text_says(void **state)
{
	(void)state;
	size_t len;
	char *text = slurp("rules/fraud-paytm.rules", &len);
	struct dd_frules *r = compile_ok(text, len, CAP);
	assert_int_equal(r->magic, DD_FRULES_MAGIC);
	assert_string_equal(r->name, "paytm");
	assert_int_equal(r->version, 1);
	assert_int_equal(r->utc_offset_s, 19800); /* +05:30 = 5 * 3600 + 30 * 60 */
	assert_int_equal(r->act_block, 80);
	assert_int_equal(r->act_review, 60);
	assert_int_equal(r->act_verify, 40);
	/* 19 rule lines: 4 velocity, 4 amount, 3 device, 3 geography, 4 merchant, 1 zscore (off) */
	assert_int_equal(r->nrules, 19);
	assert_int_equal(r->text_len, len);
	assert_int_equal(r->text_hash, fnv1a(text, len));
	assert_int_equal(r->nmerchants, 0);
	assert_int_equal(r->merchant_cap, CAP);
	assert_int_equal(r->nareas, 0);
	for (unsigned i = 0; i < DD_FR_MCC_CODES; i++)
		assert_int_equal(r->mcc_score[i], -1);

	const struct dd_frule *q = &r->rule[0]; /* velocity_hour_amount score 40 when sum window 1h over 5_000_000 */
	assert_int_equal(q->code, DD_R_VELOCITY_HOUR_AMOUNT);
	assert_int_equal(q->when, DD_FW_SUM);
	assert_int_equal(q->score, 40);
	assert_int_equal(q->window_ns, 3600 * NS_PER_S);
	assert_int_equal(q->limit, 5000000);
	assert_int_equal(q->flags, 0);
	assert_int_equal(q->requires, DD_R__COUNT);
	q = &r->rule[1]; /* velocity_hour_count score 30 when count window 1h over 20 */
	assert_int_equal(q->code, DD_R_VELOCITY_HOUR_COUNT);
	assert_int_equal(q->when, DD_FW_COUNT);
	assert_int_equal(q->limit, 20);
	q = &r->rule[2]; /* velocity_day_amount score 50 when sum window 24h over 20_000_000 */
	assert_int_equal(q->code, DD_R_VELOCITY_DAY_AMOUNT);
	assert_int_equal(q->window_ns, 86400 * NS_PER_S);
	assert_int_equal(q->limit, 20000000);
	assert_int_equal(q->score, 50);
	q = &r->rule[3]; /* repeated_amount score 25 when repeated window 1h last 5 */
	assert_int_equal(q->when, DD_FW_REPEATED);
	assert_int_equal(q->last, 5);
	q = &r->rule[4]; /* round_amount values 1000000,2500000,5000000,10000000 */
	assert_int_equal(q->when, DD_FW_AMOUNT_IN);
	assert_int_equal(q->nvalues, 4);
	assert_int_equal(q->values[0], 1000000);
	assert_int_equal(q->values[3], 10000000);
	q = &r->rule[6]; /* structuring min 900_000 max 999_900 */
	assert_int_equal(q->when, DD_FW_AMOUNT_BETWEEN);
	assert_int_equal(q->min, 900000);
	assert_int_equal(q->max, 999900);
	q = &r->rule[7]; /* late_night over 1_000_000 hours 23,0,1,2,3,4,5 */
	assert_int_equal(q->code, DD_R_LATE_NIGHT_LARGE);
	assert_int_equal(q->limit, 1000000);
	assert_int_equal(q->hours, (1u << 23) | 0x3fu); /* bits 23 and 0..5 */
	q = &r->rule[8]; /* new_device age 48h */
	assert_int_equal(q->when, DD_FW_NEW_DEVICE);
	assert_int_equal(q->window_ns, 48 * NS_PER_H);
	q = &r->rule[9]; /* new_device_large when amount_over over 2_500_000 requires new_device */
	assert_int_equal(q->code, DD_R_NEW_DEVICE_LARGE);
	assert_int_equal(q->limit, 2500000);
	assert_int_equal(q->requires, DD_R_NEW_DEVICE);
	q = &r->rule[10]; /* shared_device over 3 */
	assert_int_equal(q->limit, 3);
	q = &r->rule[11]; /* impossible_travel speed_over 900 */
	assert_int_equal(q->when, DD_FW_TRAVEL);
	assert_true(q->speed_over == 900.0);
	assert_int_equal(q->flags, 0);
	q = &r->rule[12]; /* fast_travel speed_over 100 speed_max 900 */
	assert_true(q->speed_over == 100.0 && q->speed_max == 900.0);
	assert_int_equal(q->flags, DD_FR_HAS_MAX);
	q = &r->rule[15]; /* merchant_medium_risk over 50 max 70 */
	assert_int_equal(q->code, DD_R_MERCHANT_MEDIUM_RISK);
	assert_int_equal(q->limit, 50);
	assert_int_equal(q->max, 70);
	q = &r->rule[17]; /* merchant_category when mcc default 5 (no score of its own) */
	assert_int_equal(q->when, DD_FW_MCC);
	assert_int_equal(q->limit, 5);
	assert_int_equal(q->score, 0);
	q = &r->rule[18]; /* amount_zscore score 20 when zscore over 3.0 alpha_shift 4 min_count 10 off */
	assert_int_equal(q->code, DD_R_AMOUNT_ZSCORE);
	assert_int_equal(q->flags, DD_FR_OFF);
	assert_int_equal(q->limit, 30); /* tenths */
	assert_int_equal(q->alpha_shift, 4);
	assert_int_equal(q->min_count, 10);
	/* every code with a rule is used except the one that is off */
	for (unsigned c = 0; c < DD_R__COUNT; c++)
		assert_int_equal(r->used[c], c <= DD_R_MERCHANT_CATEGORY);
	/* payer TTL: the slowest travel rule (100 km/h) over half the earth (pi * 6371 = 20015.0868 km)
	 * plus an hour = 201.1508680 h = 724,143,124,656,740.6 ns, more than the 24 h window */
	assert_true(r->payer_ttl_ns > 724143124656740ll - 1000 && r->payer_ttl_ns < 724143124656740ll + 1000);
	free(r);
	free(text);
}

static void test_the_upi_rule_set_compiles_to_what_its_text_says(void **state)
{
	(void)state;
	size_t len;
	char *text = slurp("rules/fraud-upi.rules", &len);
	struct dd_frules *r = compile_ok(text, len, CAP);
	assert_string_equal(r->name, "upi");
	assert_int_equal(r->version, 1);
	assert_int_equal(r->utc_offset_s, 19800);
	assert_int_equal(r->act_block, 80);
	assert_int_equal(r->act_review, 60);
	assert_int_equal(r->act_verify, 40);
	assert_int_equal(r->nrules, 5);
	const struct dd_frule *q = &r->rule[0]; /* count window 1h current exclude ties exclude at_least 15 */
	assert_int_equal(q->code, DD_R_VELOCITY_HOUR_COUNT);
	assert_int_equal(q->flags, DD_FR_EXCL_CURRENT | DD_FR_EXCL_TIES | DD_FR_AT_LEAST);
	assert_int_equal(q->limit, 15);
	assert_int_equal(q->score, 30);
	q = &r->rule[1]; /* sum window 1h ties exclude over 5_000_000 */
	assert_int_equal(q->code, DD_R_VELOCITY_HOUR_AMOUNT);
	assert_int_equal(q->flags, DD_FR_EXCL_TIES);
	assert_int_equal(q->limit, 5000000);
	assert_int_equal(q->score, 25);
	q = &r->rule[2]; /* amount_multiple of 100_000 min 1_000_000 */
	assert_int_equal(q->when, DD_FW_AMOUNT_MULTIPLE);
	assert_int_equal(q->of, 100000);
	assert_int_equal(q->min, 1000000);
	q = &r->rule[3];
	assert_true(q->speed_over == 500.0);
	q = &r->rule[4]; /* travel speed_over 100 speed_max 500 distance_over 50 */
	assert_true(q->speed_over == 100.0 && q->speed_max == 500.0 && q->distance_km == 50.0);
	assert_int_equal(q->flags, DD_FR_HAS_MAX | DD_FR_HAS_DIST);
	free(r);
	free(text);
}

static void test_the_built_in_default_is_the_shipped_paytm_file_byte_for_byte(void **state)
{
	(void)state;
	size_t len;
	char *text = slurp("rules/fraud-paytm.rules", &len);
	assert_int_equal(strlen(dd_frules_default_text), len);
	assert_memory_equal(dd_frules_default_text, text, len);
	assert_string_equal(dd_frules_default_origin, "rules/fraud-paytm.rules");
	free(text);
}

/* ---- errors --------------------------------------------------------------------------------- */

static void test_an_unknown_statement_is_reported_at_its_first_word(void **state)
{
	(void)state;
	/* line 2 "  frobnicate 3": two blanks, the word starts at column 3 */
	expect_error(HEAD "  frobnicate 3\n", ORIGIN ":2:3: ", "unknown statement 'frobnicate'");
}

static void test_an_unknown_reason_code_is_reported_at_the_code(void **state)
{
	(void)state;
	/* "rule " is 5 characters: the code starts at column 6 */
	expect_error(HEAD "rule velocity_weekly score 1 when count window 1h over 2\n", ORIGIN ":2:6: ",
		     "unknown reason code 'velocity_weekly'");
	/* `invalid` is a reason code but never a rule */
	expect_error(HEAD "rule invalid score 1 when amount_over over 1\n", ORIGIN ":2:6: ", "unknown reason code");
}

static void test_an_unknown_when_kind_is_reported_at_the_kind(void **state)
{
	(void)state;
	/* "rule round_amount score 20 when " = 5 + 12 + 1 + 5 + 1 + 2 + 1 + 4 + 1 = 32 characters:
	 * the kind starts at column 33 */
	expect_error(HEAD "rule round_amount score 20 when sometimes\n", ORIGIN ":2:33: ", "unknown kind 'sometimes'");
	/* no `when` at all: reported at the code */
	expect_error(HEAD "rule round_amount score 20\n", ORIGIN ":2:6: ", "has no 'when KIND'");
}

static void test_a_parameter_of_another_kind_is_reported_at_the_parameter(void **state)
{
	(void)state;
	/* "rule round_amount score 20 when " (32) + "amount_in " (10) + "values " (7) + "1,2 " (4)
	 * = 53 characters: `window` starts at column 54 */
	expect_error(HEAD "rule round_amount score 20 when amount_in values 1,2 window 1h\n", ORIGIN ":2:54: ",
		     "'window' does not apply to 'when amount_in'");
	/* merchant_category (when mcc) takes no score */
	expect_error(HEAD "rule merchant_category score 5 when mcc\n", ORIGIN ":2:24: ", "'score' does not apply");
	expect_error(HEAD "rule round_amount score 20 when amount_in values 1 colour red\n", ORIGIN ":2:",
		     "unknown parameter 'colour'");
}

static void test_a_missing_required_parameter_is_reported_at_the_rule(void **state)
{
	(void)state;
	expect_error(HEAD "rule round_amount score 20 when amount_in\n", ORIGIN ":2:1: ",
		     "rule 'round_amount' (when amount_in) needs 'values'");
	expect_error(HEAD "rule velocity_hour_count score 30 when count over 20\n", ORIGIN ":2:1: ", "needs 'window'");
	expect_error(HEAD "rule new_device when new_device age 48h\n", ORIGIN ":2:1: ", "needs 'score'");
}

static void test_a_bad_value_is_reported_at_the_value(void **state)
{
	(void)state;
	/* "rule velocity_hour_count score 30 when count window 1h over " = 5 + 19 + 1 + 5 + 1 + 2 + 1
	 * + 4 + 1 + 5 + 1 + 6 + 1 + 2 + 1 + 4 + 1 = 60 characters: `abc` at column 61 */
	expect_error(HEAD "rule velocity_hour_count score 30 when count window 1h over abc\n", ORIGIN ":2:61: ",
		     "bad value 'abc' for 'over'");
	/* the same line up to "window " is 52 characters: `5x` at column 53 */
	expect_error(HEAD "rule velocity_hour_count score 30 when count window 5x over 20\n", ORIGIN ":2:53: ",
		     "bad value '5x' for 'window'");
	expect_error(HEAD "rule velocity_hour_count score 30 when count window 0h over 20\n", ORIGIN ":2:53: ",
		     "bad value '0h'");
	expect_error(HEAD "rule round_amount score 20 when amount_in values 1,,2\n", ORIGIN ":2:",
		     "bad value '1,,2' for 'values'");
	expect_error(HEAD "rule round_amount score 20 when amount_in values 1,2,\n", ORIGIN ":2:", "bad value");
	expect_error(HEAD "rule late_night_large score 15 when late_night over 1 hours 24\n", ORIGIN ":2:",
		     "bad value '24' for 'hours'");
	expect_error(HEAD "rule round_amount score 1_ when amount_in values 1\n", ORIGIN ":2:25: ",
		     "bad value '1_' for 'score'");
	expect_error(HEAD "rule structuring score 25 when amount_between min 5 max 1\n", ORIGIN ":2:1: ",
		     "max is below the lower bound");
}

static void test_a_rule_defined_twice_is_reported_at_the_second(void **state)
{
	(void)state;
	expect_error(HEAD "rule new_merchant score 10 when new_merchant\n"
			  "rule new_merchant score 10 when new_merchant\n",
		     ORIGIN ":3:6: ", "rule 'new_merchant' is defined twice");
}

static void test_a_bad_time_zone_is_reported_at_the_zone(void **state)
{
	(void)state;
	/* "timezone " is 9 characters: the zone starts at column 10 */
	expect_error(HEAD "timezone +5:30\n", ORIGIN ":2:10: ", "bad time zone '+5:30'");
	expect_error(HEAD "timezone +05:60\n", ORIGIN ":2:10: ", "bad time zone");
	expect_error(HEAD "timezone +15:00\n", ORIGIN ":2:10: ", "bad time zone");
	expect_error(HEAD "timezone 05:30\n", ORIGIN ":2:10: ", "bad time zone");
	expect_error(HEAD "timezone +05:30 IST\n", ORIGIN ":2:1: ", "expected 'timezone +HH:MM'");
	/* and the good ones */
	struct dd_frules *r = compile_ok(HEAD "timezone -03:45\n", strlen(HEAD "timezone -03:45\n"), CAP);
	assert_int_equal(r->utc_offset_s, -(3 * 3600 + 45 * 60)); /* -13500 */
	free(r);
	r = compile_ok(HEAD "timezone UTC\n", strlen(HEAD "timezone UTC\n"), CAP);
	assert_int_equal(r->utc_offset_s, 0);
	free(r);
}

/*
 * BUG (ops/fraud/rules.c:532, header_line): the hour and minute fields go through parse_int(),
 * which accepts a sign, so "++5:30" compiles as +05:30 and "+05:+5" as +05:05 (18300 s) instead of
 * failing as "bad time zone ... (expected +HH:MM or -HH:MM)". Left failing on purpose.
 */
static void test_time_zone_fields_are_two_digits_each(void **state)
{
	(void)state;
	expect_error(HEAD "timezone ++5:30\n", ORIGIN ":2:10: ", "bad time zone");
	expect_error(HEAD "timezone +05:+5\n", ORIGIN ":2:10: ", "bad time zone");
}

static void test_action_thresholds_must_be_block_over_review_over_verify(void **state)
{
	(void)state;
	/* reported at the last action line */
	expect_error(HEAD "action block 50\naction review 60\naction verify 40\n", ORIGIN ":4:1: ",
		     "action thresholds must be block > review > verify (have 50, 60, 40)");
	expect_error(HEAD "action review 40\n", ORIGIN ":2:1: ", "(have 80, 40, 40)"); /* equal is out of order too */
	/* "action " is 7 characters */
	expect_error(HEAD "action approve 10\n", ORIGIN ":2:8: ", "unknown action 'approve'");
	expect_error(HEAD "action block 0\n", ORIGIN ":2:14: ", "action score must be 1 to 100000");
}

static void test_table_rows_are_checked_and_reported_at_the_row(void **state)
{
	(void)state;
	/* line 3 "  5,101": risk 101 > 100, the row starts at column 3 */
	expect_error(HEAD "table merchant_risk\n  5,101\nend\n", ORIGIN ":3:3: ", "expected 'merchant,risk'");
	expect_error(HEAD "table mcc\n5411,3\n10000,5\nend\n", ORIGIN ":4:1: ", "expected 'mcc,score'");
	expect_error(HEAD "table mcc\n5411,3\n5411,4\nend\n", ORIGIN ":4:1: ", "mcc 5411 listed twice");
	expect_error(HEAD "table risk_areas\n19076000,72877700\nend\n", ORIGIN ":3:1: ",
		     "expected 'lat_e6,lon_e6,radius_km'");
	expect_error(HEAD "table risk_areas\n90000001,0,5\nend\n", ORIGIN ":3:1: ", "expected 'lat_e6,lon_e6");
	expect_error(HEAD "table risk_areas\n0,0,-5\nend\n", ORIGIN ":3:1: ", "expected 'lat_e6,lon_e6");
	expect_error(HEAD "table colours\n", ORIGIN ":2:7: ", "expected 'table merchant_risk|mcc|risk_areas'");
	/* CAP (8) merchants fit, a 9th does not: it is on line 2 + 9 = 11 */
	expect_error(HEAD "table merchant_risk\n1,1\n2,1\n3,1\n4,1\n5,1\n6,1\n7,1\n8,1\n9,1\nend\n", ORIGIN ":11:1: ",
		     "merchant table holds at most 8 entries");
}

static void test_a_table_without_end_is_reported_at_its_table_line(void **state)
{
	(void)state;
	expect_error(HEAD "timezone UTC\ntable mcc\n5411,3\n", ORIGIN ":3:1: ", "table has no 'end'");
}

static void test_a_text_without_ruleset_line_is_refused(void **state)
{
	(void)state;
	expect_error("timezone UTC\n", ORIGIN ":1:1: ", "no 'ruleset NAME version N' line");
	expect_error("", ORIGIN ":1:1: ", "no 'ruleset NAME version N' line");
	expect_error("ruleset t\n", ORIGIN ":1:1: ", "expected 'ruleset NAME version N'");
	/* "ruleset t version " is 18 characters */
	expect_error("ruleset t version 0\n", ORIGIN ":1:19: ", "version must be 1 to 65535");
}

static void test_requires_must_name_a_rule_that_has_a_rule_line(void **state)
{
	(void)state;
	/* reported at the rule that requires it */
	expect_error(HEAD "timezone UTC\nrule new_device_large score 15 when amount_over over 2_500_000 requires new_device\n",
		     ORIGIN ":3:1: ", "rule 'new_device_large' requires 'new_device', which has no rule");
	/* the same with the rule it needs compiles */
	const char *ok = HEAD "rule new_device score 20 when new_device age 48h\n"
			      "rule new_device_large score 15 when amount_over over 2_500_000 requires new_device\n";
	struct dd_frules *r = compile_ok(ok, strlen(ok), CAP);
	assert_int_equal(r->nrules, 2);
	free(r);
}

static void test_compile_goes_on_after_an_error_and_reports_each(void **state)
{
	(void)state;
	const char *text = HEAD
		"  frobnicate\n"                                    /* 2:3 */
		"rule new_merchant score 10 when new_merchant\n"    /* fine */
		"rule velocity_weekly score 1 when count\n"         /* 4:6 */
		"timezone +5:30\n"                                  /* 5:10 */
		"rule new_merchant score 10 when new_merchant\n";   /* 6:6 twice */
	char err[256];
	struct reports rep = { 0 };
	unsigned n = compile_errors(text, err, sizeof(err), &rep);
	assert_int_equal(n, 4);
	assert_int_equal(rep.n, 4);
	assert_true(strncmp(rep.msg[0], ORIGIN ":2:3: ", 12) == 0);
	assert_true(strncmp(rep.msg[1], ORIGIN ":4:6: ", 12) == 0);
	assert_true(strncmp(rep.msg[2], ORIGIN ":5:10: ", 13) == 0);
	assert_true(strncmp(rep.msg[3], ORIGIN ":6:6: ", 12) == 0);
	assert_non_null(strstr(rep.msg[3], "defined twice"));
	assert_string_equal(err, rep.msg[0]);
	/* and without a callback or an error count it still fails */
	struct dd_frules *r = image(CAP);
	assert_int_equal(dd_frules_compile(text, strlen(text), ORIGIN, r, CAP, NULL, 0, NULL, NULL, NULL), -EINVAL);
	free(r);
}

static void test_at_most_eight_windowed_rules_may_be_enabled(void **state)
{
	(void)state;
	/* any code may fire by a window: nine of them (lines 2..10) are one too many, eight are fine */
	static const char *const codes[9] = { "velocity_hour_amount", "velocity_hour_count", "velocity_day_amount",
					      "repeated_amount", "round_amount", "below_limit", "structuring",
					      "late_night_large", "new_device" };
	char text[2048];
	size_t n = (size_t)snprintf(text, sizeof(text), "%s", HEAD);
	for (unsigned i = 0; i < 9; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "rule %s score 1 when count window 1h over 1%s\n",
				      codes[i], i == 8 ? "  off" : "");
	struct dd_frules *r = compile_ok(text, n, CAP); /* the ninth is off */
	assert_int_equal(r->nrules, 9);
	free(r);
	text[n - strlen("  off\n")] = '\n';
	text[n - strlen("  off\n") + 1] = 0;
	char err[256];
	assert_int_equal(compile_errors(text, err, sizeof(err), NULL), 1);
	assert_non_null(strstr(err, "9 rules with a window"));
}

static void test_crlf_line_ends_compile_to_the_same_rules(void **state)
{
	(void)state;
	size_t len;
	char *text = slurp("rules/fraud-paytm.rules", &len);
	char *crlf = malloc(2 * len + 1);
	assert_non_null(crlf);
	size_t m = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			crlf[m++] = '\r';
		crlf[m++] = text[i];
	}
	struct dd_frules *a = compile_ok(text, len, CAP), *b = compile_ok(crlf, m, CAP);
	assert_int_equal(a->nrules, b->nrules);
	assert_memory_equal(a->rule, b->rule, sizeof(a->rule));
	assert_int_equal(a->utc_offset_s, b->utc_offset_s);
	assert_string_equal(a->name, b->name);
	assert_int_equal(b->text_len, m);
	free(a);
	free(b);
	free(crlf);
	free(text);
}

/* ---- inline tables -------------------------------------------------------------------------- */

static void test_inline_tables_fill_merchant_risk_mcc_scores_and_areas(void **state)
{
	(void)state;
	const char *text = HEAD
		"table merchant_risk\n"
		"# merchant,risk, in no particular order\n"
		"1002,60\n"
		"  7,0\n"
		"1001,85   # high\n"
		"\n"
		"900000000000,100\n"
		"end\n"
		"table mcc\n"
		"5411,3\n"
		"7995,40\n"
		"end\n"
		"table risk_areas\n"
		"19076000,72877700,25\n"
		"-33868800,151209300,2.5\n"
		"end\n";
	struct dd_frules *r = compile_ok(text, strlen(text), CAP);
	assert_int_equal(r->nmerchants, 4);
	assert_int_equal(dd_frules_merchant_risk(r, 1001), 85);
	assert_int_equal(dd_frules_merchant_risk(r, 1002), 60);
	assert_int_equal(dd_frules_merchant_risk(r, 7), 0);
	assert_int_equal(dd_frules_merchant_risk(r, 900000000000ull), 100);
	assert_int_equal(dd_frules_merchant_risk(r, 1000), 0); /* absent */
	assert_int_equal(dd_frules_merchant_risk(r, 6), 0);
	assert_int_equal(dd_frules_merchant_risk(r, UINT64_MAX), 0);
	/* sorted by id */
	assert_int_equal(r->merchant[0].id, 7);
	assert_int_equal(r->merchant[1].id, 1001);
	assert_int_equal(r->merchant[2].id, 1002);
	assert_int_equal(r->merchant[3].id, 900000000000ull);
	assert_int_equal(r->mcc_score[5411], 3);
	assert_int_equal(r->mcc_score[7995], 40);
	assert_int_equal(r->mcc_score[5412], -1);
	assert_int_equal(r->mcc_score[0], -1);
	assert_int_equal(r->nareas, 2);
	assert_int_equal(r->area[0].lat_e6, 19076000);
	assert_int_equal(r->area[0].lon_e6, 72877700);
	assert_true(r->area[0].radius_km == 25.0);
	assert_int_equal(r->area[1].lat_e6, -33868800);
	assert_int_equal(r->area[1].lon_e6, 151209300);
	assert_true(r->area[1].radius_km == 2.5);
	free(r);
	/* an empty merchant table is no table */
	r = compile_ok(HEAD "table merchant_risk\nend\n", strlen(HEAD "table merchant_risk\nend\n"), 0);
	assert_int_equal(r->nmerchants, 0);
	assert_int_equal(dd_frules_merchant_risk(r, 1), 0);
	free(r);
}

static void test_a_merchant_listed_twice_is_refused(void **state)
{
	(void)state;
	/* reported at the table's first line */
	expect_error(HEAD "table merchant_risk\n7,10\n8,5\n7,20\nend\n", ORIGIN ":2:1: ", "merchant 7 listed twice");
}

/* ---- table files ---------------------------------------------------------------------------- */

static void test_check_table_names_the_file_line_of_a_bad_row(void **state)
{
	(void)state;
	char err[256];
	/* rows start at file line 2 (line 1 is the header): "2,101" is line 3 */
	const char *rows = "1,50\n2,101\n3,7\n";
	assert_int_equal(dd_frules_check_table("merchant_risk", rows, strlen(rows), "m.csv", 2, 16, err, sizeof(err)),
			 -EINVAL);
	if (strncmp(err, "m.csv:3:1: ", 11) != 0 || strstr(err, "expected 'merchant,risk'") == NULL)
		fail_msg("got \"%s\"", err);
	/* a blank line counts as a line: "10000,1" is line 4 */
	rows = "5411,3\n\n10000,1\n";
	assert_int_equal(dd_frules_check_table("mcc", rows, strlen(rows), "mcc.csv", 2, 16, err, sizeof(err)), -EINVAL);
	if (strncmp(err, "mcc.csv:4:1: ", 13) != 0)
		fail_msg("got \"%s\"", err);
	rows = "19076000,72877700,10\r\n28704100,77102500\r\n";
	assert_int_equal(dd_frules_check_table("risk_areas", rows, strlen(rows), "a.csv", 2, 16, err, sizeof(err)),
			 -EINVAL);
	if (strncmp(err, "a.csv:3:1: ", 11) != 0)
		fail_msg("got \"%s\"", err);
	/* 3 merchants with room for 2: the third row is line 4 */
	rows = "1,1\n2,2\n3,3\n";
	assert_int_equal(dd_frules_check_table("merchant_risk", rows, strlen(rows), "m.csv", 2, 2, err, sizeof(err)),
			 -EINVAL);
	if (strncmp(err, "m.csv:4:1: ", 11) != 0 || strstr(err, "at most 2") == NULL)
		fail_msg("got \"%s\"", err);
	rows = "1,1\n2,2\n1,3\n";
	assert_int_equal(dd_frules_check_table("merchant_risk", rows, strlen(rows), "m.csv", 2, 16, err, sizeof(err)),
			 -EINVAL);
	if (strncmp(err, "m.csv:", 6) != 0 || strstr(err, "merchant 1 listed twice") == NULL)
		fail_msg("got \"%s\"", err);
	/* good files */
	rows = "1,50\n2,100\n3,0";
	assert_int_equal(dd_frules_check_table("merchant_risk", rows, strlen(rows), "m.csv", 2, 16, err, sizeof(err)), 0);
	rows = "5411,3\r\n7995,40\r\n";
	assert_int_equal(dd_frules_check_table("mcc", rows, strlen(rows), "mcc.csv", 2, 16, err, sizeof(err)), 0);
	assert_int_equal(dd_frules_check_table("risk_areas", "", 0, "a.csv", 2, 16, err, sizeof(err)), 0);
	/* a table that does not exist */
	assert_int_equal(dd_frules_check_table("colours", "1,2\n", 4, "c.csv", 2, 16, err, sizeof(err)), -EINVAL);
}

/* ---- the operator's names and the distance --------------------------------------------------- */

static void test_every_fraud_counter_name_fits_the_telemetry_name_field(void **state)
{
	(void)state;
	assert_true(dd_fraud_op.ncounters > 0);
	assert_true(dd_fraud_op.ncounters <= DD_OP_MAX_COUNTERS);
	assert_non_null(dd_fraud_op.counter_names);
	for (unsigned i = 0; i < dd_fraud_op.ncounters; i++) {
		const char *n = dd_fraud_op.counter_names[i];
		assert_non_null(n);
		if (strlen(n) + 1 > DD_TM_NAME) /* the NUL must fit too */
			fail_msg("counter name '%s' is %zu bytes, the telemetry field holds %d with its NUL", n,
				 strlen(n), DD_TM_NAME);
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(n, dd_fraud_op.counter_names[j]);
	}
}

static void test_haversine_of_one_degree_of_latitude_and_of_the_same_point(void **state)
{
	(void)state;
	/* one degree along a meridian: R * pi / 180 = 6371 * 3.14159265358979 / 180 = 111.19492664455873 km */
	assert_true(fabs(dd_haversine_km(0, 0, 1000000, 0) - 111.19492664455873) < 1e-9);
	assert_true(fabs(dd_haversine_km(1000000, 0, 0, 0) - 111.19492664455873) < 1e-9);
	assert_true(fabs(dd_haversine_km(45000000, 10000000, 46000000, 10000000) - 111.19492664455873) < 1e-9);
	/* antipodes on the equator: a = cos 0 cos 0 sin^2(90 deg) = 1, d = 2R asin 1 = pi R = 20015.086796020572 */
	assert_true(fabs(dd_haversine_km(0, 0, 0, 180000000) - 20015.086796020572) < 1e-9);
	assert_true(dd_haversine_km(19076000, 72877700, 19076000, 72877700) == 0.0);
	assert_true(dd_haversine_km(0, 0, 0, 0) == 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_paytm_rule_set_compiles_to_what_its_text_says),
		cmocka_unit_test(test_the_upi_rule_set_compiles_to_what_its_text_says),
		cmocka_unit_test(test_the_built_in_default_is_the_shipped_paytm_file_byte_for_byte),
		cmocka_unit_test(test_an_unknown_statement_is_reported_at_its_first_word),
		cmocka_unit_test(test_an_unknown_reason_code_is_reported_at_the_code),
		cmocka_unit_test(test_an_unknown_when_kind_is_reported_at_the_kind),
		cmocka_unit_test(test_a_parameter_of_another_kind_is_reported_at_the_parameter),
		cmocka_unit_test(test_a_missing_required_parameter_is_reported_at_the_rule),
		cmocka_unit_test(test_a_bad_value_is_reported_at_the_value),
		cmocka_unit_test(test_a_rule_defined_twice_is_reported_at_the_second),
		cmocka_unit_test(test_a_bad_time_zone_is_reported_at_the_zone),
		cmocka_unit_test(test_time_zone_fields_are_two_digits_each),
		cmocka_unit_test(test_action_thresholds_must_be_block_over_review_over_verify),
		cmocka_unit_test(test_table_rows_are_checked_and_reported_at_the_row),
		cmocka_unit_test(test_a_table_without_end_is_reported_at_its_table_line),
		cmocka_unit_test(test_a_text_without_ruleset_line_is_refused),
		cmocka_unit_test(test_requires_must_name_a_rule_that_has_a_rule_line),
		cmocka_unit_test(test_compile_goes_on_after_an_error_and_reports_each),
		cmocka_unit_test(test_at_most_eight_windowed_rules_may_be_enabled),
		cmocka_unit_test(test_crlf_line_ends_compile_to_the_same_rules),
		cmocka_unit_test(test_inline_tables_fill_merchant_risk_mcc_scores_and_areas),
		cmocka_unit_test(test_a_merchant_listed_twice_is_refused),
		cmocka_unit_test(test_check_table_names_the_file_line_of_a_bad_row),
		cmocka_unit_test(test_every_fraud_counter_name_fits_the_telemetry_name_field),
		cmocka_unit_test(test_haversine_of_one_degree_of_latitude_and_of_the_same_point),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
