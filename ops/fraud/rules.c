/* SPDX-License-Identifier: MIT */
#include "ops/fraud/rules.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[DD_R__COUNT] = {
	[DD_R_VELOCITY_HOUR_AMOUNT] = "velocity_hour_amount",
	[DD_R_VELOCITY_HOUR_COUNT] = "velocity_hour_count",
	[DD_R_VELOCITY_DAY_AMOUNT] = "velocity_day_amount",
	[DD_R_REPEATED_AMOUNT] = "repeated_amount",
	[DD_R_ROUND_AMOUNT] = "round_amount",
	[DD_R_BELOW_LIMIT] = "below_limit",
	[DD_R_STRUCTURING] = "structuring",
	[DD_R_LATE_NIGHT_LARGE] = "late_night_large",
	[DD_R_NEW_DEVICE] = "new_device",
	[DD_R_NEW_DEVICE_LARGE] = "new_device_large",
	[DD_R_SHARED_DEVICE] = "shared_device",
	[DD_R_IMPOSSIBLE_TRAVEL] = "impossible_travel",
	[DD_R_FAST_TRAVEL] = "fast_travel",
	[DD_R_HIGH_RISK_AREA] = "high_risk_area",
	[DD_R_MERCHANT_HIGH_RISK] = "merchant_high_risk",
	[DD_R_MERCHANT_MEDIUM_RISK] = "merchant_medium_risk",
	[DD_R_NEW_MERCHANT] = "new_merchant",
	[DD_R_MERCHANT_CATEGORY] = "merchant_category",
	[DD_R_AMOUNT_ZSCORE] = "amount_zscore",
	[DD_R_MODEL_SCORE] = "model_score",
	[DD_R_INVALID] = "invalid",
};

const char *dd_reason_name(unsigned r)
{
	return r < DD_R__COUNT ? reason_names[r] : "?";
}

static const char *const when_names[DD_FW__COUNT] = {
	[DD_FW_COUNT] = "count",
	[DD_FW_SUM] = "sum",
	[DD_FW_REPEATED] = "repeated",
	[DD_FW_AMOUNT_IN] = "amount_in",
	[DD_FW_AMOUNT_BETWEEN] = "amount_between",
	[DD_FW_AMOUNT_MULTIPLE] = "amount_multiple",
	[DD_FW_AMOUNT_OVER] = "amount_over",
	[DD_FW_LATE_NIGHT] = "late_night",
	[DD_FW_NEW_DEVICE] = "new_device",
	[DD_FW_SHARED_DEVICE] = "shared_device",
	[DD_FW_TRAVEL] = "travel",
	[DD_FW_RISK_AREA] = "risk_area",
	[DD_FW_MERCHANT_RISK] = "merchant_risk",
	[DD_FW_NEW_MERCHANT] = "new_merchant",
	[DD_FW_MCC] = "mcc",
	[DD_FW_ZSCORE] = "zscore",
	[DD_FW_MODEL] = "model",
};

#define EARTH_RADIUS_KM 6371.0
#define DEG (M_PI / 180.0)
/* Half the earth's circumference: no two points are farther apart (for the travel horizon). */
#define MAX_DISTANCE_KM (M_PI * EARTH_RADIUS_KM)
#define NS_PER_H 3600000000000ll

double dd_haversine_km(int32_t lat1_e6, int32_t lon1_e6, int32_t lat2_e6, int32_t lon2_e6)
{
	double p1 = lat1_e6 / 1e6 * DEG, p2 = lat2_e6 / 1e6 * DEG;
	double dp = (lat2_e6 - (double)lat1_e6) / 1e6 * DEG, dl = (lon2_e6 - (double)lon1_e6) / 1e6 * DEG;
	double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
	if (a > 1.0)
		a = 1.0;
	return 2.0 * EARTH_RADIUS_KM * asin(sqrt(a));
}

size_t dd_frules_memsize(uint32_t merchant_cap)
{
	if (merchant_cap > (1u << 26))
		return 0;
	return sizeof(struct dd_frules) + (size_t)merchant_cap * sizeof(struct dd_fmerchant);
}

uint32_t dd_frules_merchant_risk(const struct dd_frules *r, uint64_t id)
{
	uint32_t lo = 0, hi = r->nmerchants;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->merchant[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nmerchants && r->merchant[lo].id == id ? r->merchant[lo].risk : 0;
}

/* ---- the compiler ------------------------------------------------------------------------------ */

enum table { TAB_NONE, TAB_MERCHANT, TAB_MCC, TAB_AREAS };

struct cc {
	const char *origin;
	struct dd_frules *r;
	char *err;
	size_t errlen;
	unsigned nerr;
	void (*report)(void *ctx, const char *msg);
	void *ctx;
	unsigned line;
	const char *bol;       /* beginning of the current line */
	enum table table;
	unsigned table_line;
	bool have_ruleset;
	bool have_action[3];
	bool seen[DD_R__COUNT];
	unsigned rule_line[DD_FR_MAX_RULES]; /* where each rule was written, for the checks at the end */
	unsigned act_line, merchant_line;
};

__attribute__((format(printf, 3, 4))) static void fail(struct cc *c, const char *at, const char *fmt, ...)
{
	char msg[512], full[640];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned col = at != NULL && at >= c->bol ? (unsigned)(at - c->bol) + 1 : 1;
	snprintf(full, sizeof(full), "%s:%u:%u: %s", c->origin, c->line, col, msg);
	if (c->nerr++ == 0 && c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s", full);
	if (c->report != NULL)
		c->report(c->ctx, full);
}

/* A token: [p, p + n) inside the current line. */
struct tok {
	const char *p;
	size_t n;
};

static bool tok_is(const struct tok *t, const char *s)
{
	return t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

/* Split the line [p, end) at blanks into at most `max` tokens; a '#' starts a comment. */
static unsigned tokenize(const char *p, const char *end, struct tok *t, unsigned max)
{
	unsigned n = 0;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == end || *p == '#')
			break;
		const char *s = p;
		while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
			p++;
		if (n < max)
			t[n] = (struct tok){ s, (size_t)(p - s) };
		n++;
	}
	return n;
}

/* A signed integer (digits with optional '_' separators) in [lo, hi]. */
static bool parse_int(const char *p, size_t n, int64_t lo, int64_t hi, int64_t *v)
{
	size_t i = 0;
	bool neg = false;
	if (n > 0 && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n || !isdigit((unsigned char)p[i]))
		return false;
	unsigned __int128 x = 0;
	for (; i < n; i++) {
		if (p[i] == '_' && i + 1 < n && isdigit((unsigned char)p[i + 1]))
			continue;
		if (!isdigit((unsigned char)p[i]))
			return false;
		x = x * 10 + (unsigned)(p[i] - '0');
		if (x > (unsigned __int128)1 << 64)
			return false;
	}
	__int128 s = neg ? -(__int128)x : (__int128)x;
	if (s < lo || s > hi)
		return false;
	*v = (int64_t)s;
	return true;
}

/* A non-negative decimal number ("900", "2.5") no larger than hi. */
static bool parse_dec(const char *p, size_t n, double hi, double *v)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]) && p[i] != '.')
			return false;
	memcpy(buf, p, n);
	buf[n] = 0;
	char *e;
	double d = strtod(buf, &e);
	if (*e != 0 || !(d >= 0) || d > hi)
		return false;
	*v = d;
	return true;
}

/* A duration: an integer and a unit (ns, us, ms, s, m, h, d), positive, at most 400 days. */
static bool parse_dur(const struct tok *t, int64_t *ns)
{
	static const struct {
		const char *u;
		int64_t mul;
	} units[] = { { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		      { "m", 60000000000ll }, { "h", NS_PER_H }, { "d", 24 * NS_PER_H } };
	size_t d = 0;
	while (d < t->n && (isdigit((unsigned char)t->p[d]) || t->p[d] == '_'))
		d++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (t->n - d != strlen(units[i].u) || memcmp(t->p + d, units[i].u, t->n - d) != 0)
			continue;
		int64_t v;
		if (!parse_int(t->p, d, 1, 400 * 24 * NS_PER_H / units[i].mul, &v))
			return false;
		*ns = v * units[i].mul;
		return true;
	}
	return false;
}

/* A comma-separated list of integers in [lo, hi]; at most max of them. Returns how many, -1 if bad. */
static int parse_list(const struct tok *t, int64_t lo, int64_t hi, int64_t *v, unsigned max)
{
	const char *p = t->p, *end = t->p + t->n;
	int n = 0;
	while (p <= end) {
		const char *q = p;
		while (q < end && *q != ',')
			q++;
		if ((unsigned)n == max || !parse_int(p, (size_t)(q - p), lo, hi, &v[n]))
			return -1;
		n++;
		p = q + 1;
	}
	return n;
}

static int reason_of(const struct tok *t)
{
	for (unsigned r = 0; r < DD_R__COUNT; r++)
		if (tok_is(t, reason_names[r]))
			return (int)r;
	return -1;
}

static int when_of(const struct tok *t)
{
	for (unsigned w = 1; w < DD_FW__COUNT; w++)
		if (tok_is(t, when_names[w]))
			return (int)w;
	return -1;
}

/* Which parameters each `when` takes (bit per parameter below) and which it needs. */
enum {
	P_WINDOW = 1u << 0, P_CURRENT = 1u << 1, P_TIES = 1u << 2, P_OVER = 1u << 3, P_LAST = 1u << 4,
	P_VALUES = 1u << 5, P_MIN = 1u << 6, P_MAX = 1u << 7, P_OF = 1u << 8, P_HOURS = 1u << 9,
	P_AGE = 1u << 10, P_REQUIRES = 1u << 11, P_SPEED_OVER = 1u << 12, P_SPEED_MAX = 1u << 13,
	P_DISTANCE_OVER = 1u << 14, P_DEFAULT = 1u << 15, P_ALPHA = 1u << 16, P_MIN_COUNT = 1u << 17,
	P_SCORE = 1u << 18,
};

static const struct {
	uint32_t allowed, required;
} when_params[DD_FW__COUNT] = {
	[DD_FW_COUNT] = { P_SCORE | P_WINDOW | P_CURRENT | P_TIES | P_OVER, P_SCORE | P_WINDOW | P_OVER },
	[DD_FW_SUM] = { P_SCORE | P_WINDOW | P_CURRENT | P_TIES | P_OVER, P_SCORE | P_WINDOW | P_OVER },
	[DD_FW_REPEATED] = { P_SCORE | P_WINDOW | P_LAST, P_SCORE | P_WINDOW | P_LAST },
	[DD_FW_AMOUNT_IN] = { P_SCORE | P_VALUES, P_SCORE | P_VALUES },
	[DD_FW_AMOUNT_BETWEEN] = { P_SCORE | P_MIN | P_MAX, P_SCORE | P_MIN | P_MAX },
	[DD_FW_AMOUNT_MULTIPLE] = { P_SCORE | P_OF | P_MIN, P_SCORE | P_OF },
	[DD_FW_AMOUNT_OVER] = { P_SCORE | P_OVER | P_REQUIRES, P_SCORE | P_OVER },
	[DD_FW_LATE_NIGHT] = { P_SCORE | P_OVER | P_HOURS, P_SCORE | P_OVER | P_HOURS },
	[DD_FW_NEW_DEVICE] = { P_SCORE | P_AGE, P_SCORE | P_AGE },
	[DD_FW_SHARED_DEVICE] = { P_SCORE | P_OVER, P_SCORE | P_OVER },
	[DD_FW_TRAVEL] = { P_SCORE | P_SPEED_OVER | P_SPEED_MAX | P_DISTANCE_OVER, P_SCORE | P_SPEED_OVER },
	[DD_FW_RISK_AREA] = { P_SCORE, P_SCORE },
	[DD_FW_MERCHANT_RISK] = { P_SCORE | P_OVER | P_MAX, P_SCORE | P_OVER },
	[DD_FW_NEW_MERCHANT] = { P_SCORE, P_SCORE },
	[DD_FW_MCC] = { P_DEFAULT, 0 },
	[DD_FW_ZSCORE] = { P_SCORE | P_OVER | P_ALPHA | P_MIN_COUNT, P_SCORE | P_OVER },
	[DD_FW_MODEL] = { P_SCORE | P_OVER, P_SCORE | P_OVER },
};

static const char *const param_names[] = { "window", "current", "ties", "over", "last", "values", "min",
					   "max", "of", "hours", "age", "requires", "speed_over",
					   "speed_max", "distance_over", "default", "alpha_shift",
					   "min_count", "score" };

#define MONEY_MAX 1000000000000000ll /* 10^15 minor units */

/* One `name value` parameter of a rule line into *r; returns its P_ bit, 0 on error (reported). */
static uint32_t rule_param(struct cc *c, struct dd_frule *r, const struct tok *k, const struct tok *v)
{
	unsigned i;
	for (i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++)
		if (tok_is(k, param_names[i]))
			break;
	bool at_least = tok_is(k, "at_least");
	if (at_least)
		i = 3; /* "over", with >= */
	if (i == sizeof(param_names) / sizeof(param_names[0])) {
		fail(c, k->p, "unknown parameter '%.*s'", (int)k->n, k->p);
		return 0;
	}
	uint32_t bit = 1u << i;
	if (v == NULL) {
		fail(c, k->p, "parameter '%.*s' needs a value", (int)k->n, k->p);
		return 0;
	}
	int64_t x;
	double d;
	bool ok = true;
	switch (bit) {
	case P_SCORE:
		ok = parse_int(v->p, v->n, 0, 1000, &x);
		r->score = (uint16_t)x;
		break;
	case P_WINDOW:
	case P_AGE:
		ok = parse_dur(v, &r->window_ns);
		break;
	case P_CURRENT:
	case P_TIES: {
		uint8_t f = bit == P_CURRENT ? DD_FR_EXCL_CURRENT : DD_FR_EXCL_TIES;
		if (tok_is(v, "exclude"))
			r->flags |= f;
		else
			ok = tok_is(v, "include");
		break;
	}
	case P_OVER:
		if (r->when == DD_FW_ZSCORE) {
			ok = parse_dec(v->p, v->n, 100, &d);
			r->limit = (int64_t)llround(d * 10); /* tenths */
		} else {
			ok = parse_int(v->p, v->n, 0, MONEY_MAX, &r->limit);
		}
		if (at_least)
			r->flags |= DD_FR_AT_LEAST;
		break;
	case P_LAST:
		ok = parse_int(v->p, v->n, 2, 64, &x);
		r->last = (uint8_t)x;
		break;
	case P_VALUES: {
		int n = parse_list(v, -MONEY_MAX, MONEY_MAX, r->values, DD_FR_MAX_VALUES);
		ok = n > 0;
		r->nvalues = (uint8_t)(n > 0 ? n : 0);
		break;
	}
	case P_MIN:
		ok = parse_int(v->p, v->n, -MONEY_MAX, MONEY_MAX, &r->min);
		break;
	case P_MAX:
		ok = parse_int(v->p, v->n, -MONEY_MAX, MONEY_MAX, &r->max);
		r->flags |= DD_FR_HAS_MAX;
		break;
	case P_OF:
		ok = parse_int(v->p, v->n, 1, MONEY_MAX, &r->of);
		break;
	case P_HOURS: {
		int64_t h[24];
		int n = parse_list(v, 0, 23, h, 24);
		ok = n > 0;
		for (int j = 0; j < n; j++)
			r->hours |= 1u << h[j];
		break;
	}
	case P_REQUIRES: {
		int q = reason_of(v);
		ok = q >= 0;
		r->requires = (uint8_t)(q >= 0 ? q : DD_R__COUNT);
		break;
	}
	case P_SPEED_OVER:
		ok = parse_dec(v->p, v->n, 1e9, &r->speed_over);
		break;
	case P_SPEED_MAX:
		ok = parse_dec(v->p, v->n, 1e9, &r->speed_max);
		r->flags |= DD_FR_HAS_MAX;
		break;
	case P_DISTANCE_OVER:
		ok = parse_dec(v->p, v->n, 1e6, &r->distance_km);
		r->flags |= DD_FR_HAS_DIST;
		break;
	case P_DEFAULT:
		ok = parse_int(v->p, v->n, 0, 1000, &x);
		r->limit = x;
		break;
	case P_ALPHA:
		ok = parse_int(v->p, v->n, 1, 16, &x);
		r->alpha_shift = (uint32_t)x;
		break;
	case P_MIN_COUNT:
		ok = parse_int(v->p, v->n, 1, 1000000, &x);
		r->min_count = (uint32_t)x;
		break;
	}
	if (!ok)
		fail(c, v->p, "bad value '%.*s' for '%s'", (int)v->n, v->p, param_names[i]);
	return bit; /* given, even if bad: it is not also missing */
}

static void rule_line(struct cc *c, const struct tok *t, unsigned n)
{
	if (n < 2) {
		fail(c, t[0].p, "'rule' needs a reason code (e.g. rule round_amount score 20 when amount_in ...)");
		return;
	}
	int code = reason_of(&t[1]);
	if (code < 0 || code == DD_R_INVALID) {
		fail(c, t[1].p, "unknown reason code '%.*s' (docs/rules.md lists them)", (int)t[1].n, t[1].p);
		return;
	}
	if (c->seen[code]) {
		fail(c, t[1].p, "rule '%s' is defined twice", reason_names[code]);
		return;
	}
	c->seen[code] = true;
	struct dd_frule r;
	memset(&r, 0, sizeof(r));
	r.code = (uint8_t)code;
	r.requires = DD_R__COUNT;
	r.alpha_shift = 4;
	r.min_count = 10;
	/* find `when` first: what the other parameters mean depends on it */
	int wi = -1;
	for (unsigned i = 2; i + 1 < n; i++)
		if (tok_is(&t[i], "when")) {
			wi = (int)i;
			break;
		}
	if (wi < 0) {
		fail(c, t[1].p, "rule '%s' has no 'when KIND'", reason_names[code]);
		return;
	}
	int w = when_of(&t[wi + 1]);
	if (w < 0) {
		fail(c, t[wi + 1].p, "unknown kind '%.*s' after 'when'", (int)t[wi + 1].n, t[wi + 1].p);
		return;
	}
	r.when = (uint8_t)w;
	if (w == DD_FW_MCC)
		r.limit = 5;
	uint32_t got = 0;
	for (unsigned i = 2; i < n; i++) {
		if ((int)i == wi) {
			i++;
			continue;
		}
		if (tok_is(&t[i], "off")) {
			r.flags |= DD_FR_OFF;
			continue;
		}
		uint32_t bit = rule_param(c, &r, &t[i], i + 1 < n ? &t[i + 1] : NULL);
		i++;
		if (bit == 0)
			continue;
		if ((when_params[w].allowed & bit) == 0)
			fail(c, t[i - 1].p, "'%.*s' does not apply to 'when %s'", (int)t[i - 1].n, t[i - 1].p,
			     when_names[w]);
		else if (got & bit)
			fail(c, t[i - 1].p, "'%.*s' given twice", (int)t[i - 1].n, t[i - 1].p);
		got |= bit;
	}
	uint32_t missing = when_params[w].required & ~got;
	for (unsigned i = 0; missing != 0; i++, missing >>= 1)
		if (missing & 1)
			fail(c, t[0].p, "rule '%s' (when %s) needs '%s'", reason_names[code], when_names[w],
			     param_names[i]);
	if ((r.flags & DD_FR_HAS_MAX) && w != DD_FW_TRAVEL && r.max < (w == DD_FW_AMOUNT_BETWEEN ? r.min : r.limit))
		fail(c, t[0].p, "rule '%s': max is below the lower bound", reason_names[code]);
	if (w == DD_FW_TRAVEL && (r.flags & DD_FR_HAS_MAX) && r.speed_max < r.speed_over)
		fail(c, t[0].p, "rule '%s': speed_max is below speed_over", reason_names[code]);
	if (c->r->nrules == DD_FR_MAX_RULES) {
		fail(c, t[0].p, "more than %d rules", DD_FR_MAX_RULES);
		return;
	}
	c->rule_line[c->r->nrules] = c->line;
	c->r->rule[c->r->nrules++] = r;
}

static void header_line(struct cc *c, const struct tok *t, unsigned n)
{
	struct dd_frules *r = c->r;
	if (tok_is(&t[0], "ruleset")) {
		int64_t v;
		if (n != 4 || !tok_is(&t[2], "version")) {
			fail(c, t[0].p, "expected 'ruleset NAME version N'");
			return;
		}
		if (t[1].n >= DD_FR_NAME_MAX) {
			fail(c, t[1].p, "rule set name longer than %d characters", DD_FR_NAME_MAX - 1);
			return;
		}
		for (size_t i = 0; i < t[1].n; i++)
			if (!isalnum((unsigned char)t[1].p[i]) && t[1].p[i] != '-' && t[1].p[i] != '_') {
				fail(c, t[1].p + i, "rule set name: letters, digits, '-' and '_' only");
				return;
			}
		if (!parse_int(t[3].p, t[3].n, 1, 65535, &v)) {
			fail(c, t[3].p, "version must be 1 to 65535");
			return;
		}
		if (c->have_ruleset)
			fail(c, t[0].p, "'ruleset' given twice");
		memcpy(r->name, t[1].p, t[1].n);
		r->name[t[1].n] = 0;
		r->version = (uint32_t)v;
		c->have_ruleset = true;
	} else if (tok_is(&t[0], "timezone")) {
		int64_t h, m;
		const struct tok *z = &t[1];
		if (n != 2) {
			fail(c, t[0].p, "expected 'timezone +HH:MM' (or UTC)");
			return;
		}
		if (tok_is(z, "UTC")) {
			r->utc_offset_s = 0;
			return;
		}
		if (z->n != 6 || (z->p[0] != '+' && z->p[0] != '-') || z->p[3] != ':' || !isdigit((unsigned char)z->p[1]) ||
		    !isdigit((unsigned char)z->p[4]) || !parse_int(z->p + 1, 2, 0, 14, &h) ||
		    !parse_int(z->p + 4, 2, 0, 59, &m)) {
			fail(c, z->p, "bad time zone '%.*s' (expected +HH:MM or -HH:MM, e.g. +05:30)", (int)z->n, z->p);
			return;
		}
		r->utc_offset_s = (int32_t)((h * 3600 + m * 60) * (z->p[0] == '-' ? -1 : 1));
	} else { /* action */
		static const char *const acts[3] = { "block", "review", "verify" };
		int64_t v;
		unsigned a;
		if (n != 3) {
			fail(c, t[0].p, "expected 'action block|review|verify SCORE'");
			return;
		}
		for (a = 0; a < 3 && !tok_is(&t[1], acts[a]); a++)
			;
		if (a == 3) {
			fail(c, t[1].p, "unknown action '%.*s' (block, review or verify)", (int)t[1].n, t[1].p);
			return;
		}
		if (!parse_int(t[2].p, t[2].n, 1, 100000, &v)) {
			fail(c, t[2].p, "action score must be 1 to 100000");
			return;
		}
		if (c->have_action[a]) {
			fail(c, t[1].p, "action %s given twice", acts[a]);
			return;
		}
		uint32_t *dst[3] = { &r->act_block, &r->act_review, &r->act_verify };
		*dst[a] = (uint32_t)v;
		c->have_action[a] = true;
		c->act_line = c->line;
	}
}

/* One CSV row of the open table. */
static void table_row(struct cc *c, const char *p, const char *end)
{
	struct tok f[4];
	unsigned n = 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	for (const char *s = p;; p++) {
		if (p == end || *p == ',') {
			if (n < 4)
				f[n] = (struct tok){ s, (size_t)(p - s) };
			n++;
			if (p == end)
				break;
			s = p + 1;
		}
	}
	struct dd_frules *r = c->r;
	int64_t a, b, la, lo;
	double rad;
	switch (c->table) {
	case TAB_MERCHANT:
		if (n != 2 || !parse_int(f[0].p, f[0].n, 0, INT64_MAX, &a) || !parse_int(f[1].p, f[1].n, 0, 100, &b)) {
			fail(c, f[0].p, "expected 'merchant,risk' (risk 0 to 100)");
			return;
		}
		if (r->nmerchants == r->merchant_cap) {
			fail(c, f[0].p, "merchant table holds at most %u entries (fraud.merchant_table_cap)",
			     r->merchant_cap);
			return;
		}
		r->merchant[r->nmerchants++] = (struct dd_fmerchant){ .id = (uint64_t)a, .risk = (uint32_t)b };
		break;
	case TAB_MCC:
		if (n != 2 || !parse_int(f[0].p, f[0].n, 0, DD_FR_MCC_CODES - 1, &a) ||
		    !parse_int(f[1].p, f[1].n, 0, 1000, &b)) {
			fail(c, f[0].p, "expected 'mcc,score' (mcc 0 to 9999, score 0 to 1000)");
			return;
		}
		if (r->mcc_score[a] >= 0) {
			fail(c, f[0].p, "mcc %lld listed twice", (long long)a);
			return;
		}
		r->mcc_score[a] = (int16_t)b;
		break;
	case TAB_AREAS:
		if (n != 3 || !parse_int(f[0].p, f[0].n, -90000000, 90000000, &la) ||
		    !parse_int(f[1].p, f[1].n, -180000000, 180000000, &lo) || !parse_dec(f[2].p, f[2].n, 20100, &rad)) {
			fail(c, f[0].p, "expected 'lat_e6,lon_e6,radius_km'");
			return;
		}
		if (r->nareas == DD_FR_MAX_AREAS) {
			fail(c, f[0].p, "more than %d high-risk areas", DD_FR_MAX_AREAS);
			return;
		}
		r->area[r->nareas++] = (struct dd_frisk_area){ (int32_t)la, (int32_t)lo, rad };
		break;
	case TAB_NONE:
		break;
	}
}

static int cmp_merchant(const void *a, const void *b)
{
	uint64_t x = ((const struct dd_fmerchant *)a)->id, y = ((const struct dd_fmerchant *)b)->id;
	return x < y ? -1 : x > y;
}


/* What the rules need after parsing: the checks across lines, the merchant order, the payer TTL. */
static void finish(struct cc *c)
{
	struct dd_frules *r = c->r;
	c->line++;
	c->bol = NULL;
	if (c->table != TAB_NONE) {
		c->line = c->table_line;
		fail(c, NULL, "table has no 'end'");
	}
	if (!c->have_ruleset) {
		c->line = 1;
		fail(c, NULL, "no 'ruleset NAME version N' line");
	}
	if (!(r->act_block > r->act_review && r->act_review > r->act_verify)) {
		c->line = c->act_line ? c->act_line : 1;
		fail(c, NULL, "action thresholds must be block > review > verify (have %u, %u, %u)", r->act_block,
		     r->act_review, r->act_verify);
	}
	qsort(r->merchant, r->nmerchants, sizeof(r->merchant[0]), cmp_merchant);
	for (uint32_t i = 1; i < r->nmerchants; i++)
		if (r->merchant[i].id == r->merchant[i - 1].id) {
			c->line = c->merchant_line;
			fail(c, NULL, "merchant %llu listed twice in the merchant table",
			     (unsigned long long)r->merchant[i].id);
		}
	/* A payer's state matters for the largest window, and for travel as long as the farthest two
	 * points could still be covered faster than the slowest travel rule: after that it expires. */
	int64_t ttl = 24 * NS_PER_H;
	unsigned windowed = 0;
	for (uint32_t i = 0; i < r->nrules; i++) {
		const struct dd_frule *q = &r->rule[i];
		if (q->flags & DD_FR_OFF)
			continue;
		r->used[q->code] = 1;
		if (q->window_ns > ttl)
			ttl = q->window_ns;
		if (q->when == DD_FW_TRAVEL && q->speed_over > 0) {
			double h = MAX_DISTANCE_KM / q->speed_over + 1;
			if (h * NS_PER_H > ttl)
				ttl = h * NS_PER_H > 9e18 ? INT64_MAX : (int64_t)(h * NS_PER_H);
		}
		if (q->when == DD_FW_COUNT || q->when == DD_FW_SUM || q->when == DD_FW_REPEATED)
			windowed++;
		if (q->requires < DD_R__COUNT && !c->seen[q->requires]) {
			c->line = c->rule_line[i];
			fail(c, NULL, "rule '%s' requires '%s', which has no rule", reason_names[q->code],
			     reason_names[q->requires]);
		}
	}
	if (windowed > DD_FR_MAX_WINDOWED)
		fail(c, NULL, /* at the end of the text */ "%u rules with a window (count, sum, repeated) are enabled: at most %d", windowed,
		     DD_FR_MAX_WINDOWED);
	r->payer_ttl_ns = ttl;
}

int dd_frules_check_table(const char *table, const char *rows, size_t len, const char *origin, unsigned first_line,
			  uint32_t merchant_cap, char *err, size_t errlen)
{
	static const char *const tabs[] = { "merchant_risk", "mcc", "risk_areas" };
	size_t size = dd_frules_memsize(merchant_cap);
	if (size == 0) {
		snprintf(err, errlen, "%s: a merchant table capacity of %u is too large", origin, merchant_cap);
		return -EINVAL;
	}
	struct dd_frules *img = malloc(size);
	if (img == NULL)
		return -ENOMEM;
	memset(img, 0, sizeof(*img));
	img->merchant_cap = merchant_cap;
	for (unsigned i = 0; i < DD_FR_MCC_CODES; i++)
		img->mcc_score[i] = -1;
	struct cc c = { .origin = origin, .r = img, .err = err, .errlen = errlen, .line = first_line - 1 };
	for (unsigned k = 0; k < 3; k++)
		if (strcmp(table, tabs[k]) == 0)
			c.table = (enum table)(k + 1);
	for (const char *p = rows, *end = rows + len; c.table != TAB_NONE && p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		c.line++;
		c.bol = p;
		const char *q = p;
		while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < eol)
			table_row(&c, p, eol);
		p = eol + 1;
	}
	if (c.nerr == 0) {
		qsort(img->merchant, img->nmerchants, sizeof(img->merchant[0]), cmp_merchant);
		for (uint32_t i = 1; i < img->nmerchants; i++)
			if (img->merchant[i].id == img->merchant[i - 1].id) {
				c.bol = NULL;
				fail(&c, NULL, "merchant %llu listed twice", (unsigned long long)img->merchant[i].id);
				break;
			}
	}
	free(img);
	return c.table == TAB_NONE ? -EINVAL : c.nerr ? -EINVAL : 0;
}

int dd_frules_compile(const char *text, size_t len, const char *origin, struct dd_frules *out,
		      uint32_t merchant_cap, char *err, size_t errlen, unsigned *nerrors,
		      void (*report)(void *ctx, const char *msg), void *ctx)
{
	struct cc c = { .origin = origin, .r = out, .err = err, .errlen = errlen, .report = report, .ctx = ctx };
	if (err != NULL && errlen > 0)
		err[0] = 0;
	memset(out, 0, sizeof(*out));
	out->magic = DD_FRULES_MAGIC;
	out->merchant_cap = merchant_cap;
	out->act_block = 80;
	out->act_review = 60;
	out->act_verify = 40;
	for (unsigned i = 0; i < DD_FR_MCC_CODES; i++)
		out->mcc_score[i] = -1;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		c.line++;
		c.bol = p;
		if (memchr(p, 0, (size_t)(eol - p)) != NULL) {
			fail(&c, NULL, "NUL byte in the text");
			break;
		}
		struct tok t[64];
		unsigned n = tokenize(p, eol, t, 64);
		if (n > 64) {
			fail(&c, t[63].p, "line has more than 64 words");
		} else if (c.table != TAB_NONE) {
			if (n == 1 && tok_is(&t[0], "end"))
				c.table = TAB_NONE;
			else if (n > 0)
				{
				const char *hash = memchr(p, '#', (size_t)(eol - p));
				table_row(&c, p, hash != NULL ? hash : eol);
			}
		} else if (n == 0) {
			/* blank or comment */
		} else if (tok_is(&t[0], "rule")) {
			rule_line(&c, t, n);
		} else if (tok_is(&t[0], "ruleset") || tok_is(&t[0], "timezone") || tok_is(&t[0], "action")) {
			header_line(&c, t, n);
		} else if (tok_is(&t[0], "table")) {
			static const char *const tabs[] = { "merchant_risk", "mcc", "risk_areas" };
			unsigned k;
			for (k = 0; k < 3 && !(n == 2 && tok_is(&t[1], tabs[k])); k++)
				;
			if (k == 3) {
				fail(&c, n > 1 ? t[1].p : t[0].p, "expected 'table merchant_risk|mcc|risk_areas'");
			} else {
				c.table = (enum table)(k + 1);
				c.table_line = c.line;
				if (c.table == TAB_MERCHANT)
					c.merchant_line = c.line;
			}
		} else {
			fail(&c, t[0].p, "unknown statement '%.*s' (ruleset, timezone, action, rule or table)",
			     (int)t[0].n, t[0].p);
		}
		p = eol + 1;
	}
	finish(&c);
	out->text_hash = dd_frules_text_hash(text, len);
	out->text_len = (uint32_t)len;
	if (nerrors != NULL)
		*nerrors = c.nerr;
	return c.nerr ? -EINVAL : 0;
}
