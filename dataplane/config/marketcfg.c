/* SPDX-License-Identifier: MIT */
/*
 * The configuration's market rules: the files of `rules` (and of --rules) put together as one text,
 * each behind a "#line 1 FILE" marker so errors name the file they are in. The text is what the
 * journal records and what every replay recompiles.
 */
#include "dataplane/config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cep/cep.h"
#include "ops/window/window.h"

/* Append file `path` to the text (*buf, *len, *cap), behind its marker. */
static int add_file(const char *path, char **buf, size_t *len, size_t *cap, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "rules: cannot open %s: %s", path, strerror(e));
		return -e;
	}
	char chunk[65536];
	int n0 = snprintf(chunk, sizeof(chunk), "#line 1 %s\n", path);
	size_t n = (size_t)n0;
	int rc = 0;
	for (;;) {
		if (*len + n + 2 > *cap) {
			size_t nc = (*len + n + 2) * 2;
			char *nb = nc > (64u << 20) ? NULL : realloc(*buf, nc);
			if (nb == NULL) {
				snprintf(err, errlen, "rules: %s: too large (or out of memory)", path);
				rc = -ENOMEM;
				break;
			}
			*buf = nb;
			*cap = nc;
		}
		memcpy(*buf + *len, chunk, n);
		*len += n;
		n = fread(chunk, 1, sizeof(chunk), f);
		if (n == 0)
			break;
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "rules: cannot read %s", path);
		rc = -EIO;
	}
	fclose(f);
	if (rc == 0 && *len > 0 && (*buf)[*len - 1] != '\n')
		(*buf)[(*len)++] = '\n';
	return rc;
}

static void report_none(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

int dd_config_market_rules(const struct dd_config *c, struct dd_mrules **out, char **text, size_t *len, char *err,
			   size_t errlen)
{
	*out = NULL;
	*text = NULL;
	*len = 0;
	if (c->rules[0] == 0)
		return 0;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	char list[sizeof(c->rules)];
	snprintf(list, sizeof(list), "%s", c->rules);
	int rc = 0;
	char *save = NULL;
	for (char *p = strtok_r(list, ",", &save); p != NULL && rc == 0; p = strtok_r(NULL, ",", &save))
		rc = add_file(p, &buf, &n, &cap, err, errlen);
	struct dd_mrules *img = rc == 0 ? malloc(sizeof(*img)) : NULL;
	if (rc == 0 && img == NULL) {
		snprintf(err, errlen, "rules: out of memory");
		rc = -ENOMEM;
	}
	if (rc == 0) {
		char why[512];
		unsigned nerr = 0;
		if (dd_mrules_compile(buf, n, c->rules, img, why, sizeof(why), &nerr, report_none, NULL) != 0) {
			snprintf(err, errlen, "%s%s", why, nerr > 1 ? " (and more: dadar-rules check lists them all)" : "");
			rc = -EINVAL;
		}
	}
	if (rc != 0) {
		free(buf);
		free(img);
		return rc;
	}
	*out = img;
	*text = buf;
	*len = n;
	return 0;
}

void dd_config_market_size(struct dd_config *c, const struct dd_mrules *img)
{
	c->market_rules = img != NULL;
	if (img == NULL)
		return;
	if (c->cep_key_bytes == 0)
		c->cep_key_bytes = (unsigned)dd_cep_key_bytes(img);
	c->cep_key_bytes_min = (unsigned)dd_cep_key_bytes_min(img);
	if (c->window_key_bytes == 0)
		c->window_key_bytes = (unsigned)dd_window_key_bytes(img);
}
