/* SPDX-License-Identifier: MIT */
/*
 * dadar-rules for market rule files (docs/patterns.md): `check` compiles one the way dadar loads
 * it; `run` feeds the window and pattern operators a text stream of records and prints what they
 * emit, as dadar's --output JSON lines (the conformance tests' and the oracle's common ground).
 */
#include "tools/mrules_cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/journal/recovery.h"
#include "ops/cep/cep.h"
#include "ops/cep/symtab.h"
#include "ops/window/window.h"

#define PROG "dadar-rules"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	size_t k;
	while (buf != NULL && (k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			char *nb = realloc(buf, 2 * cap + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf == NULL) {
		fprintf(stderr, PROG ": out of memory reading %s\n", path);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

bool dd_mcli_is_market(const char *path)
{
	size_t len;
	char *t = slurp(path, &len);
	if (t == NULL)
		return false;
	bool market = false;
	for (char *line = t; line != NULL && !market; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		while (*line == ' ' || *line == '\t')
			line++;
		market = strncasecmp(line, "PATTERN ", 8) == 0 || strncasecmp(line, "WINDOW ", 7) == 0;
	}
	free(t);
	return market;
}

static void print_error(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

static struct dd_mrules *compile(const char *path)
{
	size_t len;
	char *t = slurp(path, &len);
	if (t == NULL)
		return NULL;
	struct dd_mrules *r = malloc(sizeof(*r));
	char err[512];
	unsigned nerr = 0;
	if (r == NULL || dd_mrules_compile(t, len, path, r, err, sizeof(err), &nerr, print_error, NULL) != 0) {
		if (r != NULL)
			fprintf(stderr, PROG ": %u error%s in %s\n", nerr, nerr == 1 ? "" : "s", path);
		free(r);
		r = NULL;
	}
	free(t);
	return r;
}

int dd_mcli_check(const char *path)
{
	struct dd_mrules *r = compile(path);
	if (r == NULL)
		return 1;
	printf("%s: ruleset %s version %u: %u windows, %u patterns; %zu bytes of pattern state and %zu of window "
	       "state per symbol\n",
	       path, r->name, r->version, r->nwindows, r->npatterns, dd_cep_key_bytes(r), dd_window_key_bytes(r));
	for (unsigned i = 0; i < r->nwindows; i++)
		printf("  window  %-16s from %-6s %u aggregates\n", r->window[i].name,
		       dd_mr_stream_name(r, r->window[i].from), r->window[i].naggs);
	for (unsigned i = 0; i < r->npatterns; i++) {
		const struct dd_mr_pattern *p = &r->pattern[i];
		printf("  pattern %-16s %u variables, %u steps, within %" PRIu64 " ms, max partial %u, lists %u "
		       "record%s%s%s\n",
		       p->name, p->nvars, p->nprog, p->within_ns / 1000000, p->max_partial, p->max_refs,
		       p->max_refs == 1 ? "" : "s",
		       p->max_refs == DD_MR_MAX_REFS ? " (of a longer match: its first 15 and its last)" : "",
		       p->has_absence ? ", absence" : "");
	}
	free(r);
	return 0;
}

/* ---- run ---------------------------------------------------------------------------------------- */

struct runner {
	void *win, *cep;
	struct dd_emit ew, ec;
	struct dd_output *bw, *bc;
	struct dd_event ev;      /* the cause every output is stamped from */
	uint64_t line;
};

#define RUN_CAP 4096

static void flush(struct dd_emit *e, uint64_t line)
{
	char buf[2048];
	for (unsigned i = 0; i < e->n; i++) {
		int n = dd_output_json(buf, sizeof(buf), line, &e->out[i]);
		if (n > 0)
			fputs(buf, stdout);
	}
	e->n = 0;
}

/* Window results as the pattern operator reads them (its consume does exactly this, from outputs). */
static void feed_windows(struct runner *u)
{
	for (unsigned i = 0; i < u->ew.n; i++) {
		const struct dd_output *o = &u->ew.out[i];
		if (o->type != DD_OUT_WINDOW)
			continue;
		struct dd_mr_rec r = { 0 };
		r.stream = (uint8_t)(DD_MS_WINDOW0 + o->rule);
		r.streams = (uint16_t)(1u << r.stream);
		r.key = dd_cep_intern(u->cep, o->symbol);
		r.f[DD_MF_TIME] = (int64_t)o->u.window.end_ns;
		r.f[DD_MF_WIN_START] = (int64_t)o->u.window.start_ns;
		r.f[DD_MF_WIN_END] = (int64_t)o->u.window.end_ns;
		r.f[DD_MF_WIN_LATE] = (o->flags & DD_OUTPUT_FLAG_LATE) ? 1 : 0;
		for (unsigned k = 0; k < DD_MR_MAX_AGGS; k++)
			r.f[DD_MF_WIN_AGG0 + k] = o->u.window.value[k];
		dd_cep_record(u->cep, &r, &u->ec);
	}
}

static int field_value(const char *v, const char *name, int64_t *out)
{
	if (isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1]))) {
		char *e;
		errno = 0;
		long long x = strtoll(v, &e, 10);
		if (*e != 0 || errno != 0)
			return -1;
		*out = x;
		return 0;
	}
	size_t n = strlen(v);
	if (n == 0 || n > 4)
		return -1;
	*out = dd_mr_pack(v, n, strcmp(name, "reason") == 0 ? 4 : 1);
	return 0;
}

static int parse_record(const struct dd_mrules *img, char *line, unsigned lineno, const char *path, struct dd_mr_rec *r,
			char sym[8], bool *wm)
{
	memset(r, 0, sizeof(*r));
	memset(sym, ' ', 8);
	*wm = false;
	char *save = NULL;
	char *word = strtok_r(line, " \t\r", &save);
	int stream = -1;
	if (strcmp(word, "wm") == 0) {
		*wm = true;
	} else {
		for (unsigned s = 0; s < DD_MS__FIXED; s++)
			if (strcmp(word, dd_mr_stream_name(img, s)) == 0)
				stream = (int)s;
		if (stream < 0) {
			fprintf(stderr, "%s:%u: unknown stream '%s'\n", path, lineno, word);
			return -1;
		}
		r->stream = (uint8_t)stream;
		/* as in dadar: every ITCH message is an `any` record; a top of book is not a message */
		r->streams = (uint16_t)(1u << stream | (stream != DD_MS_BBO ? 1u << DD_MS_ANY : 0));
	}
	char *kv;
	while ((kv = strtok_r(NULL, " \t\r", &save)) != NULL) {
		char *eq = strchr(kv, '=');
		if (eq == NULL) {
			fprintf(stderr, "%s:%u: '%s' is not name=value\n", path, lineno, kv);
			return -1;
		}
		*eq = 0;
		const char *v = eq + 1;
		if (strcmp(kv, "sym") == 0) {
			size_t n = strlen(v);
			if (n == 0 || n > 8) {
				fprintf(stderr, "%s:%u: a symbol has 1 to 8 characters\n", path, lineno);
				return -1;
			}
			memcpy(sym, v, n);
			continue;
		}
		const char *name = strcmp(kv, "t") == 0 ? "time" : strcmp(kv, "src") == 0 ? "source" : kv;
		int64_t x;
		int pos = -1;
		for (unsigned g = 0; g < img->ngfields; g++)
			if (strcmp(img->gfield[g], name) == 0)
				pos = *wm ? (g == 0 ? 0 : -1) : img->fpos[stream][g];
		if (pos < 0 || field_value(v, name, &x) != 0) {
			fprintf(stderr, "%s:%u: %s '%s=%s'\n", path, lineno, pos < 0 ? "no such field:" : "bad value:", kv, v);
			return -1;
		}
		r->f[pos] = x;
	}
	return 0;
}

int dd_mcli_run(const char *rules, const char *stream)
{
	struct dd_mrules *img = compile(rules);
	if (img == NULL)
		return 1;
	dd_output_json_rules(img);
	struct dd_window_params wp = { .keys = 4096, .nfeeds = 1, .key_bytes = (uint32_t)dd_window_key_bytes(img) };
	struct dd_cep_params cp = { .keys = 4096, .nfeeds = 1, .key_bytes = (uint32_t)dd_cep_key_bytes(img),
				    .max_patterns = DD_MR_MAX_PATTERNS };
	struct runner u;
	memset(&u, 0, sizeof(u));
	size_t wn = dd_window_op.memsize(&wp), cn = dd_cep_op.memsize(&cp);
	u.win = aligned_alloc(64, (wn + 63) & ~(size_t)63);
	u.cep = aligned_alloc(64, (cn + 63) & ~(size_t)63);
	u.bw = calloc(RUN_CAP, sizeof(struct dd_output));
	u.bc = calloc(RUN_CAP, sizeof(struct dd_output));
	FILE *in = fopen(stream, "r");
	int rc = 1;
	if (u.win == NULL || u.cep == NULL || u.bw == NULL || u.bc == NULL || in == NULL) {
		fprintf(stderr, PROG ": %s\n", in == NULL ? strerror(errno) : "out of memory");
		goto out;
	}
	if (dd_window_op.init(u.win, wn, &wp) != 0 || dd_cep_op.init(u.cep, cn, &cp) != 0 ||
	    dd_window_use(u.win, img) != 0 || dd_cep_use(u.cep, img) != 0) {
		fprintf(stderr, PROG ": cannot set the operators up\n");
		goto out;
	}
	u.ew = (struct dd_emit){ .out = u.bw, .cap = RUN_CAP, .ev = &u.ev, .op = DD_OP_WINDOW };
	u.ec = (struct dd_emit){ .out = u.bc, .cap = RUN_CAP, .ev = &u.ev, .op = DD_OP_CEP };
	char line[4096];
	unsigned lineno = 0;
	rc = 0;
	while (fgets(line, sizeof(line), in) != NULL) {
		lineno++;
		char *h = strchr(line, '#');
		if (h != NULL)
			*h = 0;
		line[strcspn(line, "\n")] = 0;
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == 0)
			continue;
		struct dd_mr_rec r;
		char sym[8];
		bool wm;
		if (parse_record(img, p, lineno, stream, &r, sym, &wm) != 0) {
			rc = 1;
			break;
		}
		r.seq = lineno; /* the record's "message": its line */
		memset(&u.ev, 0, sizeof(u.ev));
		u.ev.event_ns = (uint64_t)r.f[DD_MF_TIME];
		u.ew.cause = u.ec.cause = lineno;
		if (wm) {
			dd_window_watermark(u.win, (uint64_t)r.f[DD_MF_TIME], &u.ew);
			feed_windows(&u);
			dd_cep_watermark(u.cep, (uint64_t)r.f[DD_MF_TIME], &u.ec);
		} else {
			r.key = dd_window_intern(u.win, sym);
			dd_window_record(u.win, &r, &u.ew);
			r.key = dd_cep_intern(u.cep, sym);
			dd_cep_record(u.cep, &r, &u.ec);
			feed_windows(&u);
		}
		flush(&u.ew, lineno);
		flush(&u.ec, lineno);
	}
	uint64_t cv[DD_OP_MAX_COUNTERS];
	dd_cep_op.counters(u.cep, cv);
	fprintf(stderr, "{\"type\":\"counters\"");
	for (unsigned i = 0; i < dd_cep_op.ncounters; i++)
		fprintf(stderr, ",\"%s\":%" PRIu64, dd_cep_op.counter_names[i], cv[i]);
	dd_window_op.counters(u.win, cv);
	for (unsigned i = 0; i < dd_window_op.ncounters; i++)
		fprintf(stderr, ",\"%s\":%" PRIu64, dd_window_op.counter_names[i], cv[i]);
	fprintf(stderr, ",\"overflow\":%" PRIu64 "}\n", u.ew.overflow + u.ec.overflow);
out:
	if (in != NULL)
		fclose(in);
	free(u.win);
	free(u.cep);
	free(u.bw);
	free(u.bc);
	free(img);
	return rc;
}
