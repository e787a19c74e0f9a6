/* SPDX-License-Identifier: MIT */
/*
 * The market rule compiler: text (docs/patterns.md) → struct dd_mrules.
 *
 * A hand-written lexer and recursive-descent parser. Every error names origin:line:column and the
 * parser goes on at the next top-level statement, so one run reports every broken block. Patterns
 * go through a small AST (the MATCH regex) into a Thompson program whose closures are computed
 * here; expressions are emitted as postfix code while they are parsed.
 */
#include "ops/cep/mrules.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- fields and streams ------------------------------------------------------------------------- */

static const char *const fixed_gfields[] = { "time", "source", "ref", "side", "shares", "price", "match",
					     "aggressor", "deleted", "bid", "ask", "bid_shares", "ask_shares",
					     "other_bid", "other_ask", "state", "reason", "start", "end", "late" };
#define NFIXED_G (sizeof(fixed_gfields) / sizeof(fixed_gfields[0]))

static const char *const stream_names[DD_MS__FIXED] = { "order", "cancel", "trade", "bbo", "halt", "any" };

/* The fields of each fixed stream in record order (after time and source). */
static const char *const stream_fields[DD_MS__FIXED][DD_MR_NFIELDS] = {
	[DD_MS_ORDER] = { "ref", "side", "shares", "price" },
	[DD_MS_CANCEL] = { "ref", "shares", "deleted" },
	[DD_MS_TRADE] = { "ref", "match", "shares", "price", "side", "aggressor" },
	[DD_MS_BBO] = { "bid", "ask", "bid_shares", "ask_shares", "other_bid", "other_ask" },
	[DD_MS_HALT] = { "state", "reason" },
	[DD_MS_ANY] = { NULL },
};

const char *dd_mr_stream_name(const struct dd_mrules *r, unsigned s)
{
	if (s < DD_MS__FIXED)
		return stream_names[s];
	if (s >= DD_MS_WINDOW0 && s < DD_MS_WINDOW0 + r->nwindows)
		return r->window[s - DD_MS_WINDOW0].name;
	return "?";
}

int dd_mrules_find_pattern(const struct dd_mrules *r, const char *name)
{
	for (unsigned i = 0; i < r->npatterns; i++)
		if (strcmp(r->pattern[i].name, name) == 0)
			return (int)i;
	return -1;
}

int64_t dd_mr_pack(const char *s, size_t n, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)(uint8_t)(i < n ? s[i] : ' ') << (8 * i);
	return (int64_t)v;
}

/* ---- evaluation --------------------------------------------------------------------------------- */

int dd_mr_eval(const struct dd_mr_pattern *p, uint16_t off, uint16_t len, const struct dd_mr_rec *rec,
	       const int64_t *slot, uint32_t valid, int64_t *v)
{
	int64_t st[32];
	unsigned sp = 0;
	bool null = false;
	for (unsigned i = off; i < (unsigned)off + len; i++) {
		uint32_t w = p->code[i];
		uint32_t arg = w >> 8;
		int64_t a, b, r = 0;
		switch (w & 0xff) {
		case DD_MO_CONST:
			st[sp++] = p->konst[arg];
			continue;
		case DD_MO_FIELD:
			st[sp++] = rec != NULL ? rec->f[arg] : 0;
			continue;
		case DD_MO_SLOT:
			if (!(valid >> arg & 1u))
				null = true;
			st[sp++] = slot[arg];
			continue;
		case DD_MO_NEG:
			if (__builtin_sub_overflow((int64_t)0, st[sp - 1], &st[sp - 1]))
				null = true;
			continue;
		case DD_MO_ABS:
			if (st[sp - 1] < 0 && __builtin_sub_overflow((int64_t)0, st[sp - 1], &st[sp - 1]))
				null = true;
			continue;
		case DD_MO_NOT:
			st[sp - 1] = st[sp - 1] == 0;
			continue;
		case DD_MO_IN: {
			unsigned k0 = arg & 0xffff, kn = arg >> 16;
			a = st[sp - 1];
			r = 0;
			for (unsigned k = 0; k < kn; k++)
				r |= p->konst[k0 + k] == a;
			st[sp - 1] = r;
			continue;
		}
		default:
			break;
		}
		b = st[--sp];
		a = st[sp - 1];
		switch (w & 0xff) {
		case DD_MO_ADD: null |= __builtin_add_overflow(a, b, &r); break;
		case DD_MO_SUB: null |= __builtin_sub_overflow(a, b, &r); break;
		case DD_MO_MUL: null |= __builtin_mul_overflow(a, b, &r); break;
		case DD_MO_DIV:
		case DD_MO_MOD:
			if (b == 0 || (a == INT64_MIN && b == -1)) {
				null = true;
				r = 0;
			} else {
				r = (w & 0xff) == DD_MO_DIV ? a / b : a % b;
			}
			break;
		case DD_MO_EQ: r = a == b; break;
		case DD_MO_NE: r = a != b; break;
		case DD_MO_LT: r = a < b; break;
		case DD_MO_LE: r = a <= b; break;
		case DD_MO_GT: r = a > b; break;
		case DD_MO_GE: r = a >= b; break;
		case DD_MO_AND: r = a != 0 && b != 0; break;
		case DD_MO_OR: r = a != 0 || b != 0; break;
		default: null = true; break;
		}
		st[sp - 1] = r;
	}
	*v = sp > 0 ? st[sp - 1] : 1;
	if (null)
		return -1;
	return *v != 0;
}

/* ---- lexer -------------------------------------------------------------------------------------- */

enum tk { T_EOF = 0, T_ID, T_NUM, T_STR, T_PUNCT };

struct tok {
	enum tk t;
	const char *p;     /* text */
	size_t n;
	int64_t num;
	unsigned line, col;
};

struct cc {
	const char *text, *end, *cur;
	const char *origin;
	char file[256];        /* origin of the current line (#line markers) */
	unsigned line;
	const char *bol;
	struct tok tk;         /* the current token */
	struct dd_mrules *r;
	char *err;
	size_t errlen;
	unsigned nerr;
	void (*report)(void *ctx, const char *msg);
	void *ctx;
	bool have_ruleset;
	/* the pattern being compiled */
	struct dd_mr_pattern *pat;
	int cur_var;           /* the variable whose predicate is compiled (-1: a measure) */
	bool failed;           /* this statement had an error: skip to its END */
};

__attribute__((format(printf, 3, 4))) static void fail_at(struct cc *c, const struct tok *t, const char *fmt, ...)
{
	char msg[400], full[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s:%u:%u: %s", c->file, t->line, t->col, msg);
	if (c->nerr++ == 0 && c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s", full);
	if (c->report != NULL)
		c->report(c->ctx, full);
	c->failed = true;
}
#define FAIL(c, ...) fail_at((c), &(c)->tk, __VA_ARGS__)

/* A "#line N FILE" marker (dadar puts one before each --rules file it concatenates). */
static void line_marker(struct cc *c, const char *p, const char *eol)
{
	const char *q = p + 5;
	char *e;
	unsigned long n = strtoul(q, &e, 10);
	if (e == q || n == 0 || n > 100000000 || e >= eol || *e != ' ')
		return; /* not a marker: a comment */
	while (e < eol && *e == ' ')
		e++;
	size_t fl = (size_t)(eol - e);
	if (fl == 0 || fl >= sizeof(c->file))
		return;
	for (size_t i = 0; i < fl; i++)
		if ((unsigned char)e[i] < 0x20 || (unsigned char)e[i] > 0x7e)
			return;
	memcpy(c->file, e, fl);
	c->file[fl] = 0;
	c->line = (unsigned)n - 1; /* the newline that ends the marker counts it */
}

static void next(struct cc *c)
{
	const char *p = c->cur;
	for (;;) {
		while (p < c->end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < c->end && *p == '\n') {
			c->line++;
			c->bol = ++p;
			continue;
		}
		if (p < c->end && (*p == '#' || (*p == '-' && p + 1 < c->end && p[1] == '-'))) {
			const char *eol = memchr(p, '\n', (size_t)(c->end - p));
			if (eol == NULL)
				eol = c->end;
			if (p == c->bol && (size_t)(eol - p) > 6 && strncmp(p, "#line ", 6) == 0)
				line_marker(c, p, eol);
			p = eol;
			continue;
		}
		break;
	}
	struct tok *t = &c->tk;
	t->p = p;
	t->line = c->line;
	t->col = (unsigned)(p - c->bol) + 1;
	t->num = 0;
	if (p >= c->end) {
		t->t = T_EOF;
		t->n = 0;
		c->cur = p;
		return;
	}
	if (isalpha((unsigned char)*p) || *p == '_') {
		const char *s = p;
		while (p < c->end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		t->t = T_ID;
		t->n = (size_t)(p - s);
	} else if (isdigit((unsigned char)*p)) {
		const char *s = p;
		uint64_t v = 0;
		bool over = false;
		while (p < c->end && (isdigit((unsigned char)*p) || (*p == '_' && p + 1 < c->end && isdigit((unsigned char)p[1])))) {
			if (*p != '_') {
				if (v > (UINT64_C(9223372036854775807) - (uint64_t)(*p - '0')) / 10)
					over = true;
				v = v * 10 + (uint64_t)(*p - '0');
			}
			p++;
		}
		t->t = T_NUM;
		t->n = (size_t)(p - s);
		t->num = over ? INT64_MAX : (int64_t)v;
		if (over) {
			c->cur = p;
			FAIL(c, "number too large");
		}
		if (p < c->end && (isalpha((unsigned char)*p))) {
			/* "500ms": a unit glued to the number is fine; anything else is not */
		}
	} else if (*p == '\'') {
		const char *s = ++p;
		while (p < c->end && *p != '\'' && *p != '\n')
			p++;
		t->t = T_STR;
		t->p = s;
		t->n = (size_t)(p - s);
		if (p >= c->end || *p != '\'') {
			c->cur = p;
			FAIL(c, "a string literal does not end on its line");
		} else {
			p++;
		}
	} else {
		static const char *const two[] = { "->", "!=", "<>", "<=", ">=" };
		t->t = T_PUNCT;
		t->n = 1;
		for (unsigned i = 0; i < 5; i++)
			if (p + 1 < c->end && p[0] == two[i][0] && p[1] == two[i][1])
				t->n = 2;
		p += t->n;
	}
	c->cur = p;
}

static bool is_kw(const struct tok *t, const char *kw)
{
	return t->t == T_ID && strlen(kw) == t->n && strncasecmp(t->p, kw, t->n) == 0;
}

/* Is the token after the current one the keyword kw? (The lexer's state is put back.) */
static bool next_is_kw(struct cc *c, const char *kw)
{
	struct tok save = c->tk;
	const char *cur = c->cur, *bol = c->bol;
	unsigned line = c->line;
	next(c);
	bool yes = is_kw(&c->tk, kw);
	c->tk = save;
	c->cur = cur;
	c->bol = bol;
	c->line = line;
	return yes;
}

static bool is_p(const struct tok *t, const char *p)
{
	return t->t == T_PUNCT && strlen(p) == t->n && strncmp(t->p, p, t->n) == 0;
}

static bool accept_kw(struct cc *c, const char *kw)
{
	if (!is_kw(&c->tk, kw))
		return false;
	next(c);
	return true;
}

static bool accept_p(struct cc *c, const char *p)
{
	if (!is_p(&c->tk, p))
		return false;
	next(c);
	return true;
}

static bool expect_kw(struct cc *c, const char *kw)
{
	if (accept_kw(c, kw))
		return true;
	FAIL(c, "expected %s, found '%.*s'", kw, (int)c->tk.n, c->tk.p);
	return false;
}

static bool expect_p(struct cc *c, const char *p)
{
	if (accept_p(c, p))
		return true;
	FAIL(c, "expected '%s', found '%.*s'", p, (int)c->tk.n, c->tk.t == T_EOF ? "end of file" : c->tk.p);
	return false;
}

/* A name: letters, digits and '_', shorter than DD_MR_NAME. */
static bool take_name(struct cc *c, char *out, const char *what)
{
	if (c->tk.t != T_ID) {
		FAIL(c, "expected %s, found '%.*s'", what, (int)c->tk.n, c->tk.p);
		return false;
	}
	if (c->tk.n >= DD_MR_NAME) {
		FAIL(c, "%s '%.*s' is longer than %d characters", what, (int)c->tk.n, c->tk.p, DD_MR_NAME - 1);
		return false;
	}
	memcpy(out, c->tk.p, c->tk.n);
	out[c->tk.n] = 0;
	next(c);
	return true;
}

static bool take_num(struct cc *c, int64_t lo, int64_t hi, int64_t *v, const char *what)
{
	if (c->tk.t != T_NUM) {
		FAIL(c, "expected %s (a number), found '%.*s'", what, (int)c->tk.n, c->tk.p);
		return false;
	}
	if (c->tk.num < lo || c->tk.num > hi) {
		FAIL(c, "%s %lld is out of range %lld..%lld", what, (long long)c->tk.num, (long long)lo, (long long)hi);
		return false;
	}
	*v = c->tk.num;
	next(c);
	return true;
}

/* A duration unit word: ns per unit, 0 if `t` is not one. */
static int64_t unit_ns(const struct tok *t)
{
	static const struct {
		const char *w;
		int64_t ns;
	} u[] = { { "ns", 1 }, { "nanoseconds", 1 }, { "nanosecond", 1 }, { "us", 1000 }, { "microseconds", 1000 },
		  { "microsecond", 1000 }, { "ms", 1000000 }, { "milliseconds", 1000000 }, { "millisecond", 1000000 },
		  { "s", 1000000000 }, { "seconds", 1000000000 }, { "second", 1000000000 },
		  { "min", 60000000000 }, { "minutes", 60000000000 }, { "minute", 60000000000 },
		  { "h", 3600000000000 }, { "hours", 3600000000000 }, { "hour", 3600000000000 } };
	for (unsigned i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (is_kw(t, u[i].w))
			return u[i].ns;
	return 0;
}

/* NUMBER UNIT, or a number glued to its unit ("500ms"). */
static bool take_duration(struct cc *c, uint64_t *ns, const char *what)
{
	if (c->tk.t != T_NUM) {
		FAIL(c, "expected %s (a duration like 5 MINUTES), found '%.*s'", what, (int)c->tk.n, c->tk.p);
		return false;
	}
	int64_t v = c->tk.num;
	next(c);
	int64_t u = unit_ns(&c->tk);
	if (u == 0) {
		FAIL(c, "%s needs a unit (NANOSECONDS, MICROSECONDS, MILLISECONDS, SECONDS, MINUTES, HOURS)", what);
		return false;
	}
	next(c);
	if (v > INT64_MAX / u) {
		FAIL(c, "%s is too long", what);
		return false;
	}
	*ns = (uint64_t)(v * u);
	return true;
}

/* ---- global fields ------------------------------------------------------------------------------ */

static int gfield_find(const struct dd_mrules *r, const char *name, size_t n)
{
	for (unsigned g = 0; g < r->ngfields; g++)
		if (strlen(r->gfield[g]) == n && strncmp(r->gfield[g], name, n) == 0)
			return (int)g;
	return -1;
}

static int gfield_add(struct dd_mrules *r, const char *name)
{
	int g = gfield_find(r, name, strlen(name));
	if (g >= 0 || r->ngfields == DD_MR_MAX_GFIELDS)
		return g;
	snprintf(r->gfield[r->ngfields], DD_MR_NAME, "%s", name);
	return (int)r->ngfields++;
}

/* Position of the field called name[0..n) in a record of stream s, -1 if it has none. */
static int stream_field(const struct dd_mrules *r, unsigned s, const char *name, size_t n)
{
	int g = gfield_find(r, name, n);
	return g < 0 ? -1 : r->fpos[s][g];
}

static void init_fields(struct dd_mrules *r)
{
	memset(r->fpos, -1, sizeof(r->fpos));
	for (unsigned i = 0; i < NFIXED_G; i++)
		gfield_add(r, fixed_gfields[i]);
	for (unsigned s = 0; s < DD_MS__COUNT; s++) {
		r->fpos[s][0] = DD_MF_TIME;
		r->fpos[s][1] = DD_MF_SOURCE;
	}
	for (unsigned s = 0; s < DD_MS__FIXED; s++)
		for (unsigned i = 0; i < DD_MR_NFIELDS - 2 && stream_fields[s][i] != NULL; i++)
			r->fpos[s][gfield_find(r, stream_fields[s][i], strlen(stream_fields[s][i]))] = (int8_t)(2 + i);
}

/* The stream called by the current token (a fixed stream or a window), -1 if none. */
static int take_stream(struct cc *c)
{
	const struct tok *t = &c->tk;
	for (unsigned s = 0; s < DD_MS__FIXED; s++)
		if (is_kw(t, stream_names[s])) {
			next(c);
			return (int)s;
		}
	for (unsigned w = 0; w < c->r->nwindows; w++)
		if (t->t == T_ID && strlen(c->r->window[w].name) == t->n && strncmp(c->r->window[w].name, t->p, t->n) == 0) {
			next(c);
			return (int)(DD_MS_WINDOW0 + w);
		}
	FAIL(c, "unknown stream '%.*s' (order, cancel, trade, bbo, halt, any, or a window defined above)", (int)t->n, t->p);
	return -1;
}

/* ---- windows ------------------------------------------------------------------------------------ */

static const char *const afn_names[] = { NULL, "count", "sum", "min", "max", "first", "last", "vwap", "avg_prev" };

static bool parse_agg(struct cc *c, struct dd_mr_window *w)
{
	if (w->naggs == DD_MR_MAX_AGGS) {
		FAIL(c, "a window has at most %d aggregates", DD_MR_MAX_AGGS);
		return false;
	}
	struct dd_mr_agg *a = &w->agg[w->naggs];
	memset(a, 0, sizeof(*a));
	for (unsigned f = 1; f < sizeof(afn_names) / sizeof(afn_names[0]); f++)
		if (is_kw(&c->tk, afn_names[f]))
			a->fn = (uint8_t)f;
	if (a->fn == 0) {
		FAIL(c, "unknown aggregate '%.*s' (count, sum, min, max, first, last, vwap, avg_prev)", (int)c->tk.n, c->tk.p);
		return false;
	}
	next(c);
	if (!expect_p(c, "("))
		return false;
	unsigned nargs = a->fn == DD_MA_COUNT ? 0 : a->fn == DD_MA_VWAP || a->fn == DD_MA_AVG_PREV ? 2 : 1;
	for (unsigned i = 0; i < nargs; i++) {
		if (i > 0 && !expect_p(c, ","))
			return false;
		struct tok at = c->tk;
		if (a->fn == DD_MA_AVG_PREV && i == 1) {
			int64_t n;
			if (!take_num(c, 1, DD_MR_MAX_HISTORY, &n, "avg_prev's window count"))
				return false;
			a->n = (uint8_t)n;
			continue;
		}
		char name[DD_MR_NAME];
		if (!take_name(c, name, "a field"))
			return false;
		if (a->fn == DD_MA_AVG_PREV) {
			int of = -1;
			for (unsigned k = 0; k < w->naggs; k++)
				if (strcmp(w->agg[k].name, name) == 0)
					of = (int)k;
			if (of < 0 || w->agg[of].fn == DD_MA_AVG_PREV) {
				fail_at(c, &at, "avg_prev averages an aggregate named before it in this window; '%s' is not one", name);
				return false;
			}
			if (w->history != 0 && w->hist_agg != of) {
				fail_at(c, &at, "every avg_prev of a window averages the same aggregate");
				return false;
			}
			a->of = (uint8_t)of;
			w->hist_agg = (uint8_t)of;
			continue;
		}
		int pos = stream_field(c->r, w->from, name, strlen(name));
		if (pos < 2) {
			fail_at(c, &at, "stream %s has no field '%s'", dd_mr_stream_name(c->r, w->from), name);
			return false;
		}
		if (i == 0)
			a->field = (uint8_t)pos;
		else
			a->field2 = (uint8_t)pos;
	}
	if (!expect_p(c, ")") || !expect_kw(c, "AS") || !take_name(c, a->name, "the aggregate's name"))
		return false;
	for (unsigned k = 0; k < w->naggs; k++)
		if (strcmp(w->agg[k].name, a->name) == 0) {
			FAIL(c, "aggregate '%s' twice in window %s", a->name, w->name);
			return false;
		}
	if (a->fn == DD_MA_AVG_PREV && a->n > w->history)
		w->history = a->n;
	w->naggs++;
	return true;
}

static void parse_window(struct cc *c)
{
	struct dd_mrules *r = c->r;
	struct tok at = c->tk;
	if (r->nwindows == DD_MR_MAX_WINDOWS) {
		FAIL(c, "at most %d windows", DD_MR_MAX_WINDOWS);
		return;
	}
	struct dd_mr_window *w = &r->window[r->nwindows];
	memset(w, 0, sizeof(*w));
	if (!take_name(c, w->name, "the window's name"))
		return;
	for (unsigned s = 0; s < DD_MS__FIXED; s++)
		if (strcasecmp(w->name, stream_names[s]) == 0) {
			fail_at(c, &at, "a window cannot be called '%s' (a stream's name)", w->name);
			return;
		}
	for (unsigned k = 0; k < r->nwindows; k++)
		if (strcmp(r->window[k].name, w->name) == 0) {
			fail_at(c, &at, "window '%s' is defined twice", w->name);
			return;
		}
	if (!expect_kw(c, "FROM"))
		return;
	struct tok st = c->tk;
	int s = take_stream(c);
	if (s < 0)
		return;
	if (s >= DD_MS__FIXED || s == DD_MS_ANY) {
		fail_at(c, &st, "a window reads order, cancel, trade, bbo or halt");
		return;
	}
	w->from = (uint8_t)s;
	if (accept_kw(c, "TUMBLING")) {
		w->kind = DD_MW_TUMBLING;
		if (!take_duration(c, &w->size_ns, "the window's size"))
			return;
		w->slide_ns = w->size_ns;
	} else if (accept_kw(c, "HOPPING")) {
		w->kind = DD_MW_HOPPING;
		if (!take_duration(c, &w->size_ns, "the window's size") || !expect_kw(c, "EVERY"))
			return;
		struct tok sl = c->tk;
		if (!take_duration(c, &w->slide_ns, "the window's slide"))
			return;
		if (w->slide_ns == 0 || w->size_ns % w->slide_ns != 0 || w->size_ns / w->slide_ns > 16) {
			fail_at(c, &sl, "the slide must divide the size, at most 16 windows overlapping");
			return;
		}
	} else if (accept_kw(c, "SESSION")) {
		w->kind = DD_MW_SESSION;
		if (!expect_kw(c, "GAP") || !take_duration(c, &w->size_ns, "the session gap"))
			return;
	} else {
		FAIL(c, "expected TUMBLING, HOPPING or SESSION");
		return;
	}
	if (w->size_ns == 0) {
		fail_at(c, &at, "a window's size must be more than 0");
		return;
	}
	if (accept_kw(c, "LATENESS") && !take_duration(c, &w->lateness_ns, "the allowed lateness"))
		return;
	if (!expect_kw(c, "AGGREGATE"))
		return;
	do {
		if (!parse_agg(c, w))
			return;
	} while (accept_p(c, ","));
	if (!expect_kw(c, "END"))
		return;
	unsigned ws = DD_MS_WINDOW0 + r->nwindows;
	for (unsigned k = 0; k < w->naggs; k++) {
		int g = gfield_add(r, w->agg[k].name);
		if (g < 0) {
			fail_at(c, &at, "too many field names (at most %d)", DD_MR_MAX_GFIELDS);
			return;
		}
		r->fpos[ws][g] = (int8_t)(DD_MF_WIN_AGG0 + k);
	}
	r->fpos[ws][gfield_find(r, "start", 5)] = DD_MF_WIN_START;
	r->fpos[ws][gfield_find(r, "end", 3)] = DD_MF_WIN_END;
	r->fpos[ws][gfield_find(r, "late", 4)] = DD_MF_WIN_LATE;
	r->stream_used |= 1u << w->from;
	r->window_streams |= 1u << w->from;
	r->nwindows++;
}

/* ---- expressions -------------------------------------------------------------------------------- */

static void emit(struct cc *c, unsigned op, uint32_t arg)
{
	struct dd_mr_pattern *p = c->pat;
	if (p->ncode == DD_MR_MAX_CODE) {
		if (!c->failed)
			FAIL(c, "pattern %s: expressions too long (at most %d steps)", p->name, DD_MR_MAX_CODE);
		return;
	}
	p->code[p->ncode++] = (uint32_t)op | arg << 8;
}

static int konst(struct cc *c, int64_t v)
{
	struct dd_mr_pattern *p = c->pat;
	for (unsigned i = 0; i < p->nconst; i++)
		if (p->konst[i] == v)
			return (int)i;
	if (p->nconst == DD_MR_MAX_CONST) {
		if (!c->failed)
			FAIL(c, "pattern %s: too many constants (at most %d)", p->name, DD_MR_MAX_CONST);
		return 0;
	}
	p->konst[p->nconst] = v;
	return p->nconst++;
}

static int slot(struct cc *c, unsigned kind, unsigned var, unsigned g)
{
	struct dd_mr_pattern *p = c->pat;
	for (unsigned i = 0; i < p->nslots; i++)
		if (p->slot[i].kind == kind && p->slot[i].var == var && p->slot[i].gfield == g)
			return (int)i;
	if (p->nslots == DD_MR_MAX_SLOTS) {
		if (!c->failed)
			FAIL(c, "pattern %s: too many references to earlier records (at most %d)", p->name, DD_MR_MAX_SLOTS);
		return 0;
	}
	p->slot[p->nslots] = (struct dd_mr_slot){ .kind = (uint8_t)kind, .var = (uint8_t)var, .gfield = (uint8_t)g };
	if (kind == DD_MK_COUNT)
		p->count_mask |= 1u << p->nslots;
	return p->nslots++;
}

static int find_var(const struct dd_mr_pattern *p, const char *s, size_t n)
{
	for (unsigned v = 0; v < p->nvars; v++)
		if (strlen(p->var[v].name) == n && strncmp(p->var[v].name, s, n) == 0)
			return (int)v;
	return -1;
}

/* v.field → (var, global field), checked against v's stream. */
static bool var_field(struct cc *c, int *var, int *g)
{
	struct tok vt = c->tk;
	if (c->tk.t != T_ID) {
		FAIL(c, "expected VARIABLE.field");
		return false;
	}
	*var = find_var(c->pat, vt.p, vt.n);
	if (*var < 0) {
		FAIL(c, "unknown variable '%.*s'", (int)vt.n, vt.p);
		return false;
	}
	next(c);
	if (!expect_p(c, "."))
		return false;
	struct tok ft = c->tk;
	if (ft.t != T_ID) {
		FAIL(c, "expected a field after '%.*s.'", (int)vt.n, vt.p);
		return false;
	}
	*g = gfield_find(c->r, ft.p, ft.n);
	unsigned s = c->pat->var[*var].stream;
	if (*g < 0 || c->r->fpos[s][*g] < 0) {
		FAIL(c, "variable %.*s (stream %s) has no field '%.*s'", (int)vt.n, vt.p, dd_mr_stream_name(c->r, s),
		     (int)ft.n, ft.p);
		return false;
	}
	next(c);
	return true;
}

static void expr(struct cc *c);

static void primary(struct cc *c)
{
	struct tok t = c->tk;
	struct dd_mr_pattern *p = c->pat;
	if (t.t == T_NUM) {
		next(c);
		int64_t u = unit_ns(&c->tk);
		int64_t v = t.num;
		if (u != 0) {
			next(c);
			if (v > INT64_MAX / u) {
				fail_at(c, &t, "duration too long");
				return;
			}
			v *= u;
		}
		emit(c, DD_MO_CONST, (uint32_t)konst(c, v));
		return;
	}
	if (t.t == T_STR) {
		if (t.n == 0 || t.n > 4) {
			FAIL(c, "a string literal has 1 to 4 characters");
			return;
		}
		next(c);
		emit(c, DD_MO_CONST, (uint32_t)konst(c, dd_mr_pack(t.p, t.n, t.n == 1 ? 1 : 4)));
		return;
	}
	if (accept_p(c, "(")) {
		expr(c);
		expect_p(c, ")");
		return;
	}
	if (t.t != T_ID) {
		FAIL(c, "expected a value, found '%.*s'", (int)t.n, t.t == T_EOF ? "end of file" : t.p);
		return;
	}
	static const struct {
		const char *kw;
		unsigned kind;
	} fns[] = { { "FIRST", DD_MK_FIRST }, { "LAST", DD_MK_LAST }, { "SUM", DD_MK_SUM },
		    { "MIN", DD_MK_MIN },     { "MAX", DD_MK_MAX },   { "AVG", 0 } };
	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (!is_kw(&t, fns[i].kw))
			continue;
		next(c);
		int var, g;
		if (!expect_p(c, "(") || !var_field(c, &var, &g) || !expect_p(c, ")"))
			return;
		if (fns[i].kind != 0) {
			emit(c, DD_MO_SLOT, (uint32_t)slot(c, fns[i].kind, (unsigned)var, (unsigned)g));
		} else {
			emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_SUM, (unsigned)var, (unsigned)g));
			emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_COUNT, (unsigned)var, 0));
			emit(c, DD_MO_DIV, 0);
		}
		return;
	}
	if (is_kw(&t, "COUNT")) {
		next(c);
		if (!expect_p(c, "("))
			return;
		int var = c->tk.t == T_ID ? find_var(p, c->tk.p, c->tk.n) : -1;
		if (var < 0) {
			FAIL(c, "COUNT takes a variable");
			return;
		}
		next(c);
		expect_p(c, ")");
		emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_COUNT, (unsigned)var, 0));
		return;
	}
	if (is_kw(&t, "PREV")) {
		next(c);
		if (!expect_p(c, "("))
			return;
		struct tok ft = c->tk;
		int g = ft.t == T_ID ? gfield_find(c->r, ft.p, ft.n) : -1;
		if (g < 0) {
			FAIL(c, "PREV takes a field name");
			return;
		}
		next(c);
		expect_p(c, ")");
		if (c->cur_var < 0) {
			/* a measure: the record before the last one (the last one's is the bare field) */
			int last = slot(c, DD_MK_PREV, 0, (unsigned)g);
			emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_PREV2, (unsigned)last, (unsigned)g));
			return;
		}
		emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_PREV, 0, (unsigned)g));
		return;
	}
	if (is_kw(&t, "ABS")) {
		next(c);
		if (!expect_p(c, "("))
			return;
		expr(c);
		expect_p(c, ")");
		emit(c, DD_MO_ABS, 0);
		return;
	}
	/* v.field, or a field of the current record */
	next(c);
	if (is_p(&c->tk, ".")) {
		c->tk = t; /* re-read from the variable */
		c->cur = t.p + t.n;
		int var, g;
		if (!var_field(c, &var, &g))
			return;
		emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_LAST, (unsigned)var, (unsigned)g));
		return;
	}
	int g = gfield_find(c->r, t.p, t.n);
	if (c->cur_var < 0) {
		/* a measure: the last matched record's field */
		if (g < 0) {
			fail_at(c, &t, "unknown field '%.*s'", (int)t.n, t.p);
			return;
		}
		emit(c, DD_MO_SLOT, (uint32_t)slot(c, DD_MK_PREV, 0, (unsigned)g));
		return;
	}
	unsigned s = p->var[c->cur_var].stream;
	if (g < 0 || c->r->fpos[s][g] < 0) {
		fail_at(c, &t, "stream %s has no field '%.*s'", dd_mr_stream_name(c->r, s), (int)t.n, t.p);
		return;
	}
	emit(c, DD_MO_FIELD, (uint32_t)c->r->fpos[s][g]);
}

static void unary(struct cc *c)
{
	if (accept_p(c, "-")) {
		unary(c);
		emit(c, DD_MO_NEG, 0);
		return;
	}
	primary(c);
}

static void product(struct cc *c)
{
	unary(c);
	for (;;) {
		unsigned op = is_p(&c->tk, "*") ? DD_MO_MUL : is_p(&c->tk, "/") ? DD_MO_DIV : is_p(&c->tk, "%") ? DD_MO_MOD : 0;
		if (op == 0 || c->failed)
			return;
		next(c);
		unary(c);
		emit(c, op, 0);
	}
}

static void sum(struct cc *c)
{
	product(c);
	for (;;) {
		unsigned op = is_p(&c->tk, "+") ? DD_MO_ADD : is_p(&c->tk, "-") ? DD_MO_SUB : 0;
		if (op == 0 || c->failed)
			return;
		next(c);
		product(c);
		emit(c, op, 0);
	}
}

static void comparison(struct cc *c)
{
	sum(c);
	if (c->failed)
		return;
	if (accept_kw(c, "IN")) {
		if (!expect_p(c, "("))
			return;
		int64_t vals[16];
		unsigned n = 0;
		do {
			struct tok t = c->tk;
			int64_t v;
			if (t.t == T_STR && t.n >= 1 && t.n <= 4) {
				v = dd_mr_pack(t.p, t.n, t.n == 1 ? 1 : 4);
			} else if (t.t == T_NUM) {
				v = t.num;
			} else if (is_p(&t, "-")) {
				next(c);
				if (c->tk.t != T_NUM) {
					FAIL(c, "IN takes numbers and string literals");
					return;
				}
				v = -c->tk.num;
			} else {
				FAIL(c, "IN takes numbers and string literals");
				return;
			}
			if (n == 16) {
				FAIL(c, "IN takes at most 16 values");
				return;
			}
			vals[n++] = v;
			next(c);
		} while (accept_p(c, ","));
		if (!expect_p(c, ")"))
			return;
		struct dd_mr_pattern *p = c->pat;
		if (p->nconst + n > DD_MR_MAX_CONST) {
			FAIL(c, "pattern %s: too many constants (at most %d)", p->name, DD_MR_MAX_CONST);
			return;
		}
		unsigned k0 = p->nconst;
		for (unsigned i = 0; i < n; i++)
			p->konst[p->nconst++] = vals[i];
		emit(c, DD_MO_IN, k0 | n << 16);
		return;
	}
	static const struct {
		const char *p;
		unsigned op;
	} cmp[] = { { "=", DD_MO_EQ }, { "!=", DD_MO_NE }, { "<>", DD_MO_NE }, { "<", DD_MO_LT },
		    { "<=", DD_MO_LE }, { ">", DD_MO_GT }, { ">=", DD_MO_GE } };
	for (unsigned i = 0; i < sizeof(cmp) / sizeof(cmp[0]); i++)
		if (is_p(&c->tk, cmp[i].p)) {
			next(c);
			sum(c);
			emit(c, cmp[i].op, 0);
			return;
		}
}

static void negation(struct cc *c)
{
	if (accept_kw(c, "NOT")) {
		negation(c);
		emit(c, DD_MO_NOT, 0);
		return;
	}
	comparison(c);
}

static void conjunction(struct cc *c)
{
	negation(c);
	while (!c->failed && accept_kw(c, "AND")) {
		negation(c);
		emit(c, DD_MO_AND, 0);
	}
}

static void expr(struct cc *c)
{
	conjunction(c);
	while (!c->failed && accept_kw(c, "OR")) {
		conjunction(c);
		emit(c, DD_MO_OR, 0);
	}
}

/* ---- the MATCH regex ---------------------------------------------------------------------------- */

enum { N_VAR = 1, N_NEG, N_CAT, N_ALT, N_REP };
#define MAX_NODES 256
#define REP_INF 0xffff

struct node {
	uint8_t type;
	uint8_t skip;      /* entered with -> (an element of a CAT) */
	uint16_t var;
	uint16_t min, max;
	int16_t first, nxt; /* children, siblings */
	struct tok at;
};

struct rx {
	struct node n[MAX_NODES];
	unsigned nn;
	char names[DD_MR_MAX_VARS * 2][DD_MR_NAME]; /* variables as the regex names them, in order */
	struct tok name_at[DD_MR_MAX_VARS * 2];
	unsigned nnames;
};

static int new_node(struct cc *c, struct rx *x, unsigned type)
{
	if (x->nn == MAX_NODES) {
		if (!c->failed)
			FAIL(c, "the MATCH expression is too long");
		return -1;
	}
	struct node *n = &x->n[x->nn];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->first = n->nxt = -1;
	n->at = c->tk;
	return (int)x->nn++;
}

static void add_kid(struct rx *x, int parent, int kid)
{
	int16_t *pp = &x->n[parent].first;
	while (*pp >= 0)
		pp = &x->n[*pp].nxt;
	*pp = (int16_t)kid;
	x->n[kid].nxt = -1;
}

/* The regex names variables before DEFINE does: keep each name once, in order of appearance. */
static int rx_name(struct cc *c, struct rx *x)
{
	for (unsigned i = 0; i < x->nnames; i++)
		if (strlen(x->names[i]) == c->tk.n && strncmp(x->names[i], c->tk.p, c->tk.n) == 0)
			return (int)i;
	if (x->nnames == DD_MR_MAX_VARS) {
		FAIL(c, "at most %d variables in a pattern", DD_MR_MAX_VARS);
		return -1;
	}
	if (c->tk.n >= DD_MR_NAME) {
		FAIL(c, "variable name too long");
		return -1;
	}
	memcpy(x->names[x->nnames], c->tk.p, c->tk.n);
	x->names[x->nnames][c->tk.n] = 0;
	x->name_at[x->nnames] = c->tk;
	return (int)x->nnames++;
}

static int rx_alt(struct cc *c, struct rx *x);

static int rx_atom(struct cc *c, struct rx *x)
{
	if (accept_p(c, "(")) {
		int n = rx_alt(c, x);
		expect_p(c, ")");
		return n;
	}
	bool neg = is_p(&c->tk, "!");
	if (neg)
		next(c);
	if (c->tk.t != T_ID || is_kw(&c->tk, "DEFINE")) {
		FAIL(c, "expected a variable%s", neg ? " after '!'" : " or '('");
		return -1;
	}
	int n = new_node(c, x, neg ? N_NEG : N_VAR);
	int v = rx_name(c, x);
	if (n < 0 || v < 0)
		return -1;
	x->n[n].var = (uint16_t)v;
	next(c);
	return n;
}

static int rx_item(struct cc *c, struct rx *x)
{
	int a = rx_atom(c, x);
	while (a >= 0 && !c->failed) {
		unsigned lo, hi;
		struct tok qt = c->tk;
		if (accept_p(c, "?")) {
			lo = 0, hi = 1;
		} else if (accept_p(c, "*")) {
			lo = 0, hi = REP_INF;
		} else if (accept_p(c, "+")) {
			lo = 1, hi = REP_INF;
		} else if (accept_p(c, "{")) {
			int64_t n, m;
			if (!take_num(c, 0, 16, &n, "the repeat count"))
				return -1;
			m = n;
			if (accept_p(c, ",")) {
				m = REP_INF;
				if (c->tk.t == T_NUM && !take_num(c, n, 16, &m, "the most repeats"))
					return -1;
			}
			if (!expect_p(c, "}"))
				return -1;
			if (m == 0) {
				fail_at(c, &qt, "{0} repeats nothing");
				return -1;
			}
			lo = (unsigned)n, hi = (unsigned)m;
		} else {
			break;
		}
		if (x->n[a].type == N_NEG) {
			fail_at(c, &qt, "a negated step cannot repeat");
			return -1;
		}
		int r = new_node(c, x, N_REP);
		if (r < 0)
			return -1;
		x->n[r].min = (uint16_t)lo;
		x->n[r].max = (uint16_t)hi;
		x->n[r].at = qt;
		add_kid(x, r, a);
		a = r;
	}
	return a;
}

static bool starts_item(const struct tok *t)
{
	return (t->t == T_ID && !is_kw(t, "DEFINE")) || is_p(t, "(") || is_p(t, "!");
}

static int rx_cat(struct cc *c, struct rx *x)
{
	int cat = new_node(c, x, N_CAT);
	if (cat < 0)
		return -1;
	bool skip = false;
	for (;;) {
		int it = rx_item(c, x);
		if (it < 0 || c->failed)
			return -1;
		x->n[it].skip = skip;
		add_kid(x, cat, it);
		skip = accept_p(c, "->");
		if (!skip && !starts_item(&c->tk))
			break;
	}
	return cat;
}

static int rx_alt(struct cc *c, struct rx *x)
{
	int first = rx_cat(c, x);
	if (first < 0 || !is_p(&c->tk, "|"))
		return first;
	int alt = new_node(c, x, N_ALT);
	if (alt < 0)
		return -1;
	add_kid(x, alt, first);
	while (accept_p(c, "|")) {
		int k = rx_cat(c, x);
		if (k < 0)
			return -1;
		add_kid(x, alt, k);
	}
	return alt;
}

/* ---- code generation ---------------------------------------------------------------------------- */

static int insn(struct cc *c, unsigned op, unsigned var)
{
	struct dd_mr_pattern *p = c->pat;
	if (p->nprog == DD_MR_MAX_PROG) {
		if (!c->failed)
			FAIL(c, "pattern %s: the MATCH expression expands to more than %d steps", p->name, DD_MR_MAX_PROG);
		return -1;
	}
	struct dd_mr_insn_s *i = &p->prog[p->nprog];
	memset(i, 0, sizeof(*i));
	i->op = (uint8_t)op;
	i->var = (uint8_t)var;
	return p->nprog++;
}

static void gen(struct cc *c, struct rx *x, int ni)
{
	struct node *n = &x->n[ni];
	struct dd_mr_pattern *p = c->pat;
	if (c->failed)
		return;
	switch (n->type) {
	case N_VAR:
		insn(c, DD_MI_VAR, n->var);
		break;
	case N_NEG:
		insn(c, DD_MI_NOT, n->var);
		break;
	case N_CAT:
		for (int k = n->first; k >= 0; k = x->n[k].nxt) {
			if (x->n[k].skip)
				insn(c, DD_MI_SKIP, 0);
			gen(c, x, k);
		}
		break;
	case N_ALT: {
		int jmps[64];
		unsigned nj = 0;
		for (int k = n->first; k >= 0; k = x->n[k].nxt) {
			if (x->n[k].nxt < 0) {
				gen(c, x, k);
				break;
			}
			int s = insn(c, DD_MI_SPLIT, 0);
			if (s < 0)
				return;
			p->prog[s].x = p->nprog;
			gen(c, x, k);
			int j = insn(c, DD_MI_JMP, 0);
			if (j < 0 || nj == 64)
				return;
			jmps[nj++] = j;
			p->prog[s].y = p->nprog;
		}
		for (unsigned i = 0; i < nj; i++)
			p->prog[jmps[i]].x = p->nprog;
		break;
	}
	case N_REP: {
		for (unsigned i = 0; i < n->min; i++)
			gen(c, x, n->first);
		if (n->max == REP_INF) {
			int s = insn(c, DD_MI_SPLIT, 0);
			if (s < 0)
				return;
			p->prog[s].x = p->nprog;
			gen(c, x, n->first);
			int j = insn(c, DD_MI_JMP, 0);
			if (j < 0)
				return;
			p->prog[j].x = (uint16_t)s;
			p->prog[s].y = p->nprog;
			break;
		}
		int splits[16];
		unsigned ns = 0;
		for (unsigned i = n->min; i < n->max; i++) {
			int s = insn(c, DD_MI_SPLIT, 0);
			if (s < 0)
				return;
			p->prog[s].x = p->nprog;
			splits[ns++] = s;
			gen(c, x, n->first);
		}
		for (unsigned i = 0; i < ns; i++)
			p->prog[splits[i]].y = p->nprog;
		break;
	}
	}
}

/* The epsilon closure of pc with the flags collected so far, in preference order, no duplicates. */
struct clos_walk {
	struct dd_mr_clos out[DD_MR_MAX_CLOS];
	unsigned n;
	struct { uint16_t pc, guards; uint8_t skip; } seen[1024];
	unsigned nseen;
	bool overflow;
};

static void closure(const struct dd_mr_pattern *p, struct clos_walk *w, unsigned pc, unsigned skip, unsigned guards)
{
	for (unsigned i = 0; i < w->nseen; i++)
		if (w->seen[i].pc == pc && w->seen[i].skip == skip && w->seen[i].guards == guards)
			return;
	if (w->nseen == 1024) {
		w->overflow = true;
		return;
	}
	w->seen[w->nseen].pc = (uint16_t)pc;
	w->seen[w->nseen].skip = (uint8_t)skip;
	w->seen[w->nseen++].guards = (uint16_t)guards;
	const struct dd_mr_insn_s *i = &p->prog[pc];
	switch (i->op) {
	case DD_MI_VAR:
	case DD_MI_MATCH:
		if (w->n == DD_MR_MAX_CLOS) {
			w->overflow = true;
			return;
		}
		w->out[w->n++] = (struct dd_mr_clos){ .at = i->op == DD_MI_MATCH ? DD_MR_AT_MATCH : (uint16_t)pc,
						      .guards = (uint16_t)guards, .skip = (uint8_t)skip };
		return;
	case DD_MI_JMP:
		closure(p, w, i->x, skip, guards);
		return;
	case DD_MI_SPLIT:
		closure(p, w, i->x, skip, guards);
		closure(p, w, i->y, skip, guards);
		return;
	case DD_MI_SKIP:
		closure(p, w, pc + 1, 1, guards);
		return;
	case DD_MI_NOT:
		closure(p, w, pc + 1, skip, guards | 1u << i->var);
		return;
	}
}

/* Closure of pc into p->clos; its offset and length. */
static bool store_closure(struct cc *c, unsigned pc, uint16_t *off, uint16_t *len)
{
	static struct clos_walk w; /* control plane, one compile at a time */
	struct dd_mr_pattern *p = c->pat;
	w.n = w.nseen = 0;
	w.overflow = false;
	closure(p, &w, pc, 0, 0);
	if (w.overflow || p->nclos + w.n > DD_MR_MAX_CLOS) {
		FAIL(c, "pattern %s: the MATCH expression has too many ways through it", p->name);
		return false;
	}
	*off = p->nclos;
	*len = (uint16_t)w.n;
	memcpy(&p->clos[p->nclos], w.out, w.n * sizeof(w.out[0]));
	p->nclos = (uint16_t)(p->nclos + w.n);
	for (unsigned k = 0; k < w.n; k++)
		if (w.out[k].at == DD_MR_AT_MATCH && w.out[k].guards != 0)
			p->has_absence = 1;
	return true;
}

static bool compile_program(struct cc *c, struct rx *x, int root, const struct tok *at)
{
	struct dd_mr_pattern *p = c->pat;
	gen(c, x, root);
	if (insn(c, DD_MI_MATCH, 0) < 0 || c->failed)
		return false;
	if (!store_closure(c, 0, &p->start_off, &p->start_len))
		return false;
	for (unsigned k = 0; k < p->start_len; k++) {
		const struct dd_mr_clos *e = &p->clos[p->start_off + k];
		if (e->at == DD_MR_AT_MATCH) {
			fail_at(c, at, "pattern %s can match without any record", p->name);
			return false;
		}
		if (e->guards != 0) {
			fail_at(c, at, "pattern %s starts with a negated step (a negation needs a step before it)", p->name);
			return false;
		}
	}
	for (unsigned pc = 0; pc < p->nprog; pc++)
		if (p->prog[pc].op == DD_MI_VAR &&
		    !store_closure(c, pc + 1, &p->prog[pc].clos_off, &p->prog[pc].clos_len))
			return false;
	return true;
}

/* ---- patterns ----------------------------------------------------------------------------------- */

/* The kind of one leaf of the code (a field, a slot or a constant), DD_MT_NONE for anything else. */
static uint8_t leaf(uint32_t w, uint16_t *idx)
{
	unsigned op = w & 0xff;
	*idx = (uint16_t)(w >> 8);
	return op == DD_MO_FIELD ? DD_MT_FIELD : op == DD_MO_SLOT ? DD_MT_SLOT : op == DD_MO_CONST ? DD_MT_CONST : DD_MT_NONE;
}

/* An operand at code[k]: a leaf, or two leaves and MUL. Its length in code words, 0 if neither. */
static unsigned operand(const uint32_t *code, unsigned k, unsigned n, struct dd_mr_operand *o)
{
	memset(o, 0, sizeof(*o));
	if (k >= n || (o->k1 = leaf(code[k], &o->i1)) == DD_MT_NONE)
		return 0;
	if (k + 2 < n && leaf(code[k + 1], &o->i2) != DD_MT_NONE && (code[k + 2] & 0xff) == DD_MO_MUL) {
		o->k2 = leaf(code[k + 1], &o->i2);
		return 3;
	}
	return 1;
}

/* A comparison at code[k] (operand operand CMP): its length, 0 if there is none. */
static unsigned term_at(const uint32_t *code, unsigned k, unsigned n, struct dd_mr_term *t)
{
	unsigned a = operand(code, k, n, &t->l);
	unsigned b = a != 0 ? operand(code, k + a, n, &t->r) : 0;
	if (b == 0 || k + a + b >= n)
		return 0;
	unsigned cmp = code[k + a + b] & 0xff;
	if (cmp < DD_MO_EQ || cmp > DD_MO_GE)
		return 0;
	t->cmp = (uint8_t)cmp;
	return a + b + 1;
}

/*
 * The predicate of v as terms, when its code is an OR of ANDs of comparisons: in postfix, every
 * group is `T [T AND]...`, and an OR follows each group after the first (A B OR C OR; A B C AND OR
 * is A OR (B AND C)). Anything else (an AND of ORs, NOT, IN, arithmetic beyond one product) stays
 * with the stack code alone.
 */
static void fast_terms(const struct dd_mr_pattern *p, struct dd_mr_var *v)
{
	const uint32_t *code = &p->code[v->pred_off];
	unsigned n = v->pred_len, k = 0, nt = 0, depth = 0, groups = 0;
	bool closed = true; /* no group to extend (none yet, or an OR just took the top one) */
	v->nfast = v->ngroups = 0;
	while (k < n) {
		struct dd_mr_term t;
		unsigned len = term_at(code, k, n, &t);
		if (len != 0) {
			if (nt == DD_MR_FAST)
				return;
			k += len;
			if (k < n && (code[k] & 0xff) == DD_MO_AND && !closed && depth > 0) {
				t.group = (uint8_t)(groups - 1); /* extends the group on top */
				k++;
			} else {
				if (groups == 255)
					return;
				t.group = (uint8_t)groups++; /* a new group */
				depth++;
				closed = false;
				/* a group's first term may be followed by ANDs of the next terms */
			}
			v->fast[nt++] = t;
			continue;
		}
		if ((code[k] & 0xff) == DD_MO_OR && depth >= 2) {
			depth--;
			closed = true;
			k++;
			continue;
		}
		return;
	}
	if (depth == 1 && nt > 0) {
		v->nfast = (uint8_t)nt;
		v->ngroups = (uint8_t)groups;
	}
}

static bool parse_define(struct cc *c, struct rx *x)
{
	struct dd_mr_pattern *p = c->pat;
	/* every name of the regex is a variable, defined in DEFINE; variable i is regex name i */
	struct tok where_at[DD_MR_MAX_VARS];
	bool defined[DD_MR_MAX_VARS] = { false };
	p->nvars = (uint8_t)x->nnames;
	for (unsigned v = 0; v < x->nnames; v++)
		memcpy(p->var[v].name, x->names[v], DD_MR_NAME);
	/* streams first (a predicate may name any variable's fields), predicates after */
	const char *save_cur = NULL;
	struct tok save_tk;
	unsigned save_line = 0;
	const char *save_bol = NULL;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			c->cur = save_cur;
			c->tk = save_tk;
			c->line = save_line;
			c->bol = save_bol;
		} else {
			save_cur = c->cur;
			save_tk = c->tk;
			save_line = c->line;
			save_bol = c->bol;
		}
		do {
			struct tok vt = c->tk;
			int v = vt.t == T_ID ? find_var(p, vt.p, vt.n) : -1;
			if (v < 0) {
				FAIL(c, "'%.*s' is not a variable of the MATCH expression", (int)vt.n, vt.p);
				return false;
			}
			next(c);
			if (!expect_kw(c, "AS"))
				return false;
			int s = take_stream(c);
			if (s < 0)
				return false;
			if (pass == 0) {
				if (defined[v]) {
					fail_at(c, &vt, "variable %s is defined twice", p->var[v].name);
					return false;
				}
				defined[v] = true;
				p->var[v].stream = (uint8_t)s;
			}
			if (accept_kw(c, "WHERE")) {
				where_at[v] = c->tk;
				if (pass == 0) {
					/* skip the predicate: up to ',' at depth 0 or a clause keyword */
					int depth = 0;
					while (c->tk.t != T_EOF) {
						if (is_p(&c->tk, "("))
							depth++;
						if (is_p(&c->tk, ")"))
							depth--;
						if (depth == 0 && (is_p(&c->tk, ",") || is_kw(&c->tk, "WITHIN") ||
								   is_kw(&c->tk, "MEASURES") || is_kw(&c->tk, "AFTER") ||
								   (is_kw(&c->tk, "MAX") && next_is_kw(c, "PARTIAL")) ||
								   is_kw(&c->tk, "EMIT") ||
								   is_kw(&c->tk, "END")))
							break;
						next(c);
					}
				} else {
					c->cur_var = v;
					p->var[v].pred_off = p->ncode;
					expr(c);
					p->var[v].pred_len = (uint16_t)(p->ncode - p->var[v].pred_off);
					fast_terms(p, &p->var[v]);
					if (c->failed)
						return false;
				}
			}
		} while (accept_p(c, ","));
	}
	(void)where_at;
	for (unsigned v = 0; v < p->nvars; v++)
		if (!defined[v]) {
			fail_at(c, &x->name_at[v], "variable %s is not in DEFINE", p->var[v].name);
			return false;
		}
	return true;
}

/*
 * The most records a match of p can take: the longest path of VARs from the start to a MATCH in
 * its closures (depth[pc] memoised; a VAR that can reach itself makes it unbounded). Returns at
 * most DD_MR_MAX_REFS (unbounded: DD_MR_MAX_REFS).
 */
static unsigned longest_from(const struct dd_mr_pattern *p, unsigned pc, uint8_t *state, uint8_t *depth)
{
	if (state[pc] == 2)
		return depth[pc];
	if (state[pc] == 1)
		return DD_MR_MAX_REFS; /* a loop: as long as it likes */
	state[pc] = 1;
	const struct dd_mr_insn_s *in = &p->prog[pc];
	unsigned best = 0;
	for (unsigned k = 0; k < in->clos_len && best < DD_MR_MAX_REFS; k++) {
		uint16_t at = p->clos[in->clos_off + k].at;
		unsigned d = at == DD_MR_AT_MATCH ? 0 : longest_from(p, at, state, depth);
		if (d > best)
			best = d;
	}
	best = best + 1 < DD_MR_MAX_REFS ? best + 1 : DD_MR_MAX_REFS;
	state[pc] = 2;
	depth[pc] = (uint8_t)best;
	return best;
}

static uint8_t longest_match(const struct dd_mr_pattern *p)
{
	uint8_t state[DD_MR_MAX_PROG] = { 0 }, depth[DD_MR_MAX_PROG];
	unsigned best = 0;
	for (unsigned k = 0; k < p->start_len; k++) {
		uint16_t at = p->clos[p->start_off + k].at;
		unsigned d = at == DD_MR_AT_MATCH ? 0 : longest_from(p, at, state, depth);
		if (d > best)
			best = d;
	}
	return (uint8_t)best;
}

static void parse_pattern(struct cc *c)
{
	struct dd_mrules *r = c->r;
	struct tok at = c->tk;
	if (r->npatterns == DD_MR_MAX_PATTERNS) {
		FAIL(c, "at most %d patterns", DD_MR_MAX_PATTERNS);
		return;
	}
	struct dd_mr_pattern *p = &r->pattern[r->npatterns];
	memset(p, 0, sizeof(*p));
	c->pat = p;
	p->line = at.line;
	p->max_partial = 8;
	if (!take_name(c, p->name, "the pattern's name"))
		return;
	if (dd_mrules_find_pattern(r, p->name) >= 0) {
		fail_at(c, &at, "pattern '%s' is defined twice", p->name);
		return;
	}
	if (!expect_kw(c, "PARTITION") || !expect_kw(c, "BY"))
		return;
	if (!accept_kw(c, "symbol")) {
		FAIL(c, "patterns are partitioned by symbol (PARTITION BY symbol)");
		return;
	}
	if (!expect_kw(c, "MATCH") || !expect_p(c, "("))
		return;
	static struct rx x; /* control plane, one compile at a time */
	memset(&x, 0, sizeof(x));
	struct tok mt = c->tk;
	int root = rx_alt(c, &x);
	if (root < 0 || c->failed || !expect_p(c, ")"))
		return;
	if (!expect_kw(c, "DEFINE") || !parse_define(c, &x))
		return;
	for (unsigned k = 0; k < x.nn; k++) {
		if (x.n[k].type == N_VAR)
			p->var[x.n[k].var].positive = 1;
		if (x.n[k].type == N_NEG)
			p->var[x.n[k].var].negated = 1;
	}
	for (unsigned v = 0; v < p->nvars; v++) {
		p->stream_mask |= (uint16_t)(1u << p->var[v].stream);
		if (p->var[v].negated)
			p->neg_mask |= (uint16_t)(1u << v);
	}
	bool within = false;
	for (;;) {
		struct tok kt = c->tk;
		if (accept_kw(c, "WITHIN")) {
			if (!take_duration(c, &p->within_ns, "WITHIN"))
				return;
			if (p->within_ns == 0) {
				fail_at(c, &kt, "WITHIN must be more than 0");
				return;
			}
			within = true;
		} else if (accept_kw(c, "AFTER")) {
			if (!expect_kw(c, "MATCH") || !expect_kw(c, "SKIP"))
				return;
			if (accept_kw(c, "PAST")) {
				if (!expect_kw(c, "LAST") || !expect_kw(c, "ROW"))
					return;
				p->skip_to_next = 0;
			} else if (accept_kw(c, "TO")) {
				if (!expect_kw(c, "NEXT") || !expect_kw(c, "ROW"))
					return;
				p->skip_to_next = 1;
			} else {
				FAIL(c, "expected PAST LAST ROW or TO NEXT ROW");
				return;
			}
		} else if (accept_kw(c, "MAX")) {
			int64_t n;
			if (!expect_kw(c, "PARTIAL") || !take_num(c, 1, DD_MR_MAX_PARTIAL, &n, "MAX PARTIAL"))
				return;
			p->max_partial = (uint8_t)n;
		} else if (accept_kw(c, "EMIT")) {
			if (!expect_kw(c, "TIMEOUTS"))
				return;
			p->emit_timeouts = 1;
		} else if (accept_kw(c, "MEASURES")) {
			do {
				if (p->nmeasures == DD_MR_MAX_MEASURES) {
					FAIL(c, "at most %d measures", DD_MR_MAX_MEASURES);
					return;
				}
				struct dd_mr_measure *m = &p->measure[p->nmeasures];
				c->cur_var = -1;
				m->off = p->ncode;
				expr(c);
				m->len = (uint16_t)(p->ncode - m->off);
				if (c->failed || !expect_kw(c, "AS") || !take_name(c, m->name, "the measure's name"))
					return;
				p->nmeasures++;
			} while (accept_p(c, ","));
		} else {
			break;
		}
	}
	if (!expect_kw(c, "END"))
		return;
	if (!within) {
		fail_at(c, &at, "pattern %s has no WITHIN (every pattern needs a time bound)", p->name);
		return;
	}
	for (unsigned v = 0; v < p->nvars; v++)
		if (p->var[v].negated && p->var[v].positive) {
			fail_at(c, &mt, "variable %s is both a step and a negated step", p->var[v].name);
			return;
		}
	if (!compile_program(c, &x, root, &mt))
		return;
	p->max_refs = longest_match(p);
	r->stream_used |= p->stream_mask;
	for (unsigned st = 0; st < DD_MS__COUNT; st++)
		if (p->stream_mask >> st & 1u)
			r->by_stream[st] |= 1u << r->npatterns;
	r->npatterns++;
}

/* Skip to the END of a statement that failed (so the next one is read from its start). */
static void recover(struct cc *c)
{
	while (c->tk.t != T_EOF && !is_kw(&c->tk, "END"))
		next(c);
	if (c->tk.t != T_EOF)
		next(c);
}

int dd_mrules_compile(const char *text, size_t len, const char *origin, struct dd_mrules *out, char *err,
		      size_t errlen, unsigned *nerrors, void (*report)(void *ctx, const char *msg), void *ctx)
{
	struct cc c;
	memset(&c, 0, sizeof(c));
	c.text = c.cur = c.bol = text;
	c.end = text + len;
	c.origin = origin;
	snprintf(c.file, sizeof(c.file), "%s", origin);
	c.line = 1;
	c.r = out;
	c.err = err;
	c.errlen = errlen;
	c.report = report;
	c.ctx = ctx;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "market");
	out->version = 1;
	out->text_hash = dd_mrules_text_hash(text, len);
	out->text_len = (uint32_t)len;
	init_fields(out);
	if (memchr(text, 0, len) != NULL) {
		struct tok t = { .line = 1, .col = 1 };
		fail_at(&c, &t, "the file holds a NUL byte (not a text file?)");
	} else {
		next(&c);
	}
	while (c.tk.t != T_EOF && c.nerr < 100) {
		c.failed = false;
		struct tok at = c.tk;
		if (accept_kw(&c, "RULESET")) {
			int64_t v = 1;
			if (c.have_ruleset)
				fail_at(&c, &at, "RULESET twice");
			else if (take_name(&c, out->name, "the rule set's name") && expect_kw(&c, "VERSION") &&
				 take_num(&c, 1, 65535, &v, "the version"))
				out->version = (uint32_t)v;
			c.have_ruleset = true;
			if (c.failed)
				next(&c);
			continue;
		}
		if (accept_kw(&c, "WINDOW"))
			parse_window(&c);
		else if (accept_kw(&c, "PATTERN"))
			parse_pattern(&c);
		else
			FAIL(&c, "expected RULESET, WINDOW or PATTERN, found '%.*s'", (int)c.tk.n, c.tk.p);
		if (c.failed)
			recover(&c);
	}
	if (nerrors != NULL)
		*nerrors = c.nerr;
	if (c.nerr == 0 && out->npatterns == 0 && out->nwindows == 0) {
		struct tok t = { .line = 1, .col = 1 };
		fail_at(&c, &t, "no WINDOW and no PATTERN");
		if (nerrors != NULL)
			*nerrors = c.nerr;
	}
	return c.nerr == 0 ? 0 : -EINVAL;
}
