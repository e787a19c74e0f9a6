/* SPDX-License-Identifier: MIT */
#include "dataplane/config/jsonw.h"

#include <math.h>

#include "shm/hdr.h"

void dd_jw_sep(struct dd_jw *w, const char *key)
{
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
	if (!w->compact)
		fprintf(w->f, "\n%*s", 2 * w->depth, "");
	if (key != NULL)
		fprintf(w->f, w->compact ? "\"%s\":" : "\"%s\": ", key);
}

void dd_jw_open(struct dd_jw *w, const char *key, char c)
{
	if (w->depth > 0)
		dd_jw_sep(w, key);
	fputc(c, w->f);
	w->first[++w->depth] = true;
}

void dd_jw_close(struct dd_jw *w, char c)
{
	bool empty = w->first[w->depth];
	w->depth--;
	if (!empty && !w->compact)
		fprintf(w->f, "\n%*s", 2 * w->depth, "");
	fputc(c, w->f);
}

void dd_jw_u64(struct dd_jw *w, const char *key, uint64_t v)
{
	dd_jw_sep(w, key);
	fprintf(w->f, "%llu", (unsigned long long)v);
}

void dd_jw_i64(struct dd_jw *w, const char *key, int64_t v)
{
	dd_jw_sep(w, key);
	fprintf(w->f, "%lld", (long long)v);
}

void dd_jw_f64(struct dd_jw *w, const char *key, double v, int decimals)
{
	dd_jw_sep(w, key);
	fprintf(w->f, "%.*f", decimals, isfinite(v) ? v : 0.0);
}

void dd_jw_bool(struct dd_jw *w, const char *key, bool v)
{
	dd_jw_sep(w, key);
	fputs(v ? "true" : "false", w->f);
}

void dd_jw_strn(struct dd_jw *w, const char *key, const char *s, size_t n)
{
	dd_jw_sep(w, key);
	fputc('"', w->f);
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(w->f, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(w->f, "\\u%04x", c);
		else
			fputc(c, w->f);
	}
	fputc('"', w->f);
}

void dd_jw_hdr(struct dd_jw *w, const char *key, const struct dd_hdr *h)
{
	bool any = h != NULL && dd_hdr_total(h) != 0;
	dd_jw_open(w, key, '{');
	dd_jw_u64(w, "count", any ? dd_hdr_total(h) : 0);
	dd_jw_u64(w, "min", any ? dd_hdr_min(h) : 0);
	dd_jw_u64(w, "p50", any ? dd_hdr_value_at_percentile(h, 50.0) : 0);
	dd_jw_u64(w, "p90", any ? dd_hdr_value_at_percentile(h, 90.0) : 0);
	dd_jw_u64(w, "p99", any ? dd_hdr_value_at_percentile(h, 99.0) : 0);
	dd_jw_u64(w, "p999", any ? dd_hdr_value_at_percentile(h, 99.9) : 0);
	dd_jw_u64(w, "p9999", any ? dd_hdr_value_at_percentile(h, 99.99) : 0);
	dd_jw_u64(w, "max", any ? dd_hdr_max(h) : 0);
	dd_jw_f64(w, "mean", any ? dd_hdr_mean(h) : 0.0, 3);
	dd_jw_close(w, '}');
}
