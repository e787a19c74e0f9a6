/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_JSONW_H
#define DD_DATAPLANE_JSONW_H

/*
 * A small streaming JSON writer onto a FILE: objects and arrays nested up to 15 deep, numbers,
 * booleans, escaped strings and latency histograms. Pretty (two-space indent) for one document, or compact for JSON
 * lines. Used by the exit summary (dataplane/config/report.c) and dadar-lat --json; not for lcores.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dd_jw {
	FILE *f;
	bool compact;
	int depth;
	bool first[16];
};

static inline void dd_jw_init(struct dd_jw *w, FILE *f, bool compact)
{
	*w = (struct dd_jw){ .f = f, .compact = compact };
}

/* The comma, indent and key before a value the caller writes to w->f itself. */
void dd_jw_sep(struct dd_jw *w, const char *key);
/* Open an object ('{') or array ('['): `key` inside an object, NULL in an array or at the top. */
void dd_jw_open(struct dd_jw *w, const char *key, char c);
/* Close it with '}' or ']'. */
void dd_jw_close(struct dd_jw *w, char c);
void dd_jw_u64(struct dd_jw *w, const char *key, uint64_t v);
void dd_jw_i64(struct dd_jw *w, const char *key, int64_t v);
/* `decimals` after the point; NaN and infinities are written as 0 (JSON has neither). */
void dd_jw_f64(struct dd_jw *w, const char *key, double v, int decimals);
void dd_jw_bool(struct dd_jw *w, const char *key, bool v);
/* At most `n` bytes of `s`, up to its NUL; '"', '\\' and bytes outside printable ASCII escaped. */
void dd_jw_strn(struct dd_jw *w, const char *key, const char *s, size_t n);

struct dd_hdr;
/* A latency histogram as an object: count, min, p50, p90, p99, p999, p9999, max (ns) and mean;
 * all 0 when `h` is NULL or empty. */
void dd_jw_hdr(struct dd_jw *w, const char *key, const struct dd_hdr *h);

static inline void dd_jw_str(struct dd_jw *w, const char *key, const char *s)
{
	dd_jw_strn(w, key, s, SIZE_MAX);
}

/* A counter only when it is not zero, so a clean run shows an empty object. */
static inline void dd_jw_nz(struct dd_jw *w, const char *key, uint64_t v)
{
	if (v != 0)
		dd_jw_u64(w, key, v);
}

#endif
