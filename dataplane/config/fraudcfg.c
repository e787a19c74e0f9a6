/* SPDX-License-Identifier: MIT */
/*
 * The configuration's fraud rules: the rule file (or the built-in default) and the three table
 * files of the contract (fraud.merchant_table, fraud.mcc_table, fraud.risk_areas), put together
 * as one rule text: what the journal records and what every replay recompiles.
 */
#include "dataplane/config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a whole file into a NUL-terminated malloc'd buffer. */
static int slurp(const char *key, const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open %s: %s", key, path, strerror(e));
		return -e;
	}
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	while (b != NULL) {
		n += fread(b + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		char *nb = cap > (256u << 20) ? NULL : realloc(b, cap * 2);
		if (nb == NULL) {
			free(b);
			b = NULL;
			break;
		}
		b = nb;
		cap *= 2;
	}
	int bad = ferror(f);
	fclose(f);
	if (b == NULL || bad) {
		free(b);
		snprintf(err, errlen, "%s: cannot read %s: %s", key, path, b == NULL ? "too large or out of memory" : "I/O error");
		return b == NULL ? -ENOMEM : -EIO;
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}

struct buf {
	char *p;
	size_t n, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *q = realloc(b->p, cap);
		if (q == NULL)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

/* Append table file `path` (key `key`, header `header`) to `b` as a `table NAME` block. */
static int add_table(struct buf *b, const struct dd_config *c, const char *key, const char *path, const char *name,
		     const char *header, char *err, size_t errlen)
{
	if (path[0] == 0)
		return 0;
	char *t;
	size_t n;
	int rc = slurp(key, path, &t, &n, err, errlen);
	if (rc != 0)
		return rc;
	if (memchr(t, 0, n) != NULL) {
		snprintf(err, errlen, "%s: %s is not a text file (NUL byte)", key, path);
		free(t);
		return -EINVAL;
	}
	char *eol = strchr(t, '\n');
	size_t hl = eol != NULL ? (size_t)(eol - t) : n;
	if (hl > 0 && t[hl - 1] == '\r')
		hl--;
	if (hl != strlen(header) || memcmp(t, header, hl) != 0) {
		snprintf(err, errlen, "%s: %s:1: the first line must be the header '%s'", key, path, header);
		free(t);
		return -EINVAL;
	}
	const char *rows = eol != NULL ? eol + 1 : t + n;
	size_t rlen = (size_t)(t + n - rows);
	char where[DD_PATH_MAX + 64];
	snprintf(where, sizeof(where), "%s", path);
	rc = dd_frules_check_table(name, rows, rlen, where, 2, c->fraud.merchant_table, err, errlen);
	if (rc == -EINVAL) {
		size_t l = strlen(err);
		snprintf(err + l, errlen - l, " (%s)", key);
	}
	char head[64];
	int hn = snprintf(head, sizeof(head), "\ntable %s\n", name);
	if (rc == 0)
		rc = put(b, head, (size_t)hn);
	if (rc == 0)
		rc = put(b, rows, rlen);
	if (rc == 0 && (rlen == 0 || rows[rlen - 1] != '\n'))
		rc = put(b, "\n", 1);
	if (rc == 0)
		rc = put(b, "end\n", 4);
	free(t);
	return rc;
}

int dd_config_fraud_text(const struct dd_config *c, char **text, size_t *len, const char **origin, char *err,
			 size_t errlen)
{
	struct buf b = { 0 };
	int rc;
	if (c->fraud_rules[0] != 0) {
		char *t;
		size_t n;
		if ((rc = slurp("fraud.rules", c->fraud_rules, &t, &n, err, errlen)) != 0)
			return rc;
		rc = put(&b, t, n);
		free(t);
		*origin = c->fraud_rules;
	} else {
		rc = put(&b, dd_frules_default_text, strlen(dd_frules_default_text));
		*origin = dd_frules_default_origin;
	}
	if (rc == 0 && b.n > 0 && b.p[b.n - 1] != '\n')
		rc = put(&b, "\n", 1);
	if (rc == 0)
		rc = add_table(&b, c, "fraud.merchant_table", c->fraud_merchant_table, "merchant_risk", "merchant,risk", err,
			       errlen);
	if (rc == 0)
		rc = add_table(&b, c, "fraud.mcc_table", c->fraud_mcc_table, "mcc", "mcc,score", err, errlen);
	if (rc == 0)
		rc = add_table(&b, c, "fraud.risk_areas", c->fraud_risk_areas, "risk_areas", "lat_e6,lon_e6,radius_km", err,
			       errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "fraud rules: out of memory");
	if (rc != 0) {
		free(b.p);
		return rc;
	}
	*text = b.p;
	*len = b.n;
	return 0;
}

int dd_config_fraud_rules(const struct dd_config *c, struct dd_frules **out, char **text, size_t *len, char *err,
			  size_t errlen)
{
	const char *origin;
	int rc = dd_config_fraud_text(c, text, len, &origin, err, errlen);
	if (rc != 0)
		return rc;
	struct dd_frules *img = malloc(dd_frules_memsize(c->fraud.merchant_table));
	if (img == NULL) {
		free(*text);
		snprintf(err, errlen, "fraud rules: out of memory");
		return -ENOMEM;
	}
	rc = dd_frules_compile(*text, *len, origin, img, c->fraud.merchant_table, err, errlen, NULL, NULL, NULL);
	if (rc != 0) {
		free(img);
		free(*text);
		return rc;
	}
	*out = img;
	return 0;
}
