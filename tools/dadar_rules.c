/* SPDX-License-Identifier: MIT */
/*
 * dadar-rules: checks a fraud rule file (docs/rules.md) or a market rule file (docs/patterns.md)
 * the way dadar will load it, with the same table files, and prints every error as
 * FILE:LINE:COLUMN: message. A file that passes here is one dadar starts with (and a reload would
 * accept). `run` runs a market rule file over a text stream of records.
 *
 *   dadar-rules check [FILE] [--merchant-table F] [--mcc-table F] [--risk-areas F] [--merchant-table-cap N]
 *   dadar-rules run MARKET_RULES STREAM
 *
 * No FILE checks the built-in default. Exit status: 0 valid, 1 errors (each printed), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/config/config.h"
#include "ops/fraud/fraud.h"
#include "ops/fraud/rules.h"
#include "tools/mrules_cli.h"

#define PROG "dadar-rules"

static void usage(FILE *f)
{
	fputs("usage: " PROG " check [FILE] [options]   check a fraud or market rule file (no FILE: the built-in\n"
	      "                                          fraud default); a file with PATTERN or WINDOW is market rules\n"
	      "       " PROG " run RULES STREAM         run market rules over a text stream of records; alerts and\n"
	      "                                          window results as JSON lines (docs/patterns.md)\n"
	      "       " PROG " --help | --version\n"
	      "\n"
	      "options (the table files dadar would load with it, as its config keys say):\n"
	      "  --merchant-table FILE      fraud.merchant_table: CSV merchant,risk\n"
	      "  --mcc-table FILE           fraud.mcc_table: CSV mcc,score\n"
	      "  --risk-areas FILE          fraud.risk_areas: CSV lat_e6,lon_e6,radius_km\n"
	      "  --merchant-table-cap N     fraud.merchant_table_cap (default 65536)\n"
	      "\n"
	      "Every error is printed as FILE:LINE:COLUMN: message. docs/rules.md describes the language.\n"
	      "Exit status: 0 valid, 1 errors, 2 usage error.\n",
	      f);
}

static void print_error(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

static const char *const whens[] = { "?", "count", "sum", "repeated", "amount_in", "amount_between",
				     "amount_multiple", "amount_over", "late_night", "new_device",
				     "shared_device", "travel", "risk_area", "merchant_risk", "new_merchant",
				     "mcc", "zscore", "model" };

static int check(struct dd_config *c)
{
	char err[1024];
	char *text;
	size_t len;
	const char *origin;
	int rc = dd_config_fraud_text(c, &text, &len, &origin, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	struct dd_frules *img = malloc(dd_frules_memsize(c->fraud.merchant_table));
	if (img == NULL) {
		free(text);
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	unsigned nerr = 0;
	rc = dd_frules_compile(text, len, origin, img, c->fraud.merchant_table, err, sizeof(err), &nerr, print_error,
			       NULL);
	if (rc == 0) {
		unsigned on = 0;
		for (uint32_t i = 0; i < img->nrules; i++)
			on += !(img->rule[i].flags & DD_FR_OFF);
		int off = img->utc_offset_s < 0 ? -img->utc_offset_s : img->utc_offset_s;
		printf("%s: ruleset %s version %u: %u rules (%u on), timezone %c%02d:%02d, actions block >= %u, review >= %u, "
		       "verify >= %u; tables: %u merchants, %u areas\n",
		       origin, img->name, img->version, img->nrules, on, img->utc_offset_s < 0 ? '-' : '+', off / 3600,
		       off % 3600 / 60, img->act_block, img->act_review, img->act_verify, img->nmerchants, img->nareas);
		for (uint32_t i = 0; i < img->nrules; i++) {
			const struct dd_frule *r = &img->rule[i];
			printf("  %-22s %-16s score %4u%s\n", dd_reason_name(r->code),
			       r->when < sizeof(whens) / sizeof(whens[0]) ? whens[r->when] : "?", r->score,
			       (r->flags & DD_FR_OFF) ? "  (off)" : "");
		}
	} else {
		fprintf(stderr, PROG ": %u error%s in %s\n", nerr, nerr == 1 ? "" : "s", origin);
	}
	free(img);
	free(text);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		printf("%s %s\n", PROG, DD_VERSION);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "run") == 0)
		return dd_mcli_run(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "check") == 0 && argv[2][0] != '-' && dd_mcli_is_market(argv[2]))
		return dd_mcli_check(argv[2]);
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		usage(stderr);
		return 2;
	}
	struct dd_config c;
	dd_config_defaults(&c);
	static const struct {
		const char *flag, *key;
	} opts[] = { { "--merchant-table", "fraud.merchant_table" }, { "--mcc-table", "fraud.mcc_table" },
		     { "--risk-areas", "fraud.risk_areas" }, { "--merchant-table-cap", "fraud.merchant_table_cap" } };
	char err[1024];
	bool have_file = false;
	for (int i = 2; i < argc; i++) {
		size_t k;
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcmp(argv[i], opts[k].flag) == 0)
				break;
		if (k < sizeof(opts) / sizeof(opts[0])) {
			if (i + 1 == argc) {
				fprintf(stderr, PROG ": %s needs a value\n", argv[i]);
				return 2;
			}
			if (dd_config_set(&c, opts[k].key, argv[i + 1], argv[i], err, sizeof(err)) != 0) {
				fprintf(stderr, PROG ": %s\n", err);
				return 2;
			}
			i++;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, PROG ": unknown option %s (" PROG " --help lists them)\n", argv[i]);
			return 2;
		} else if (have_file) {
			fprintf(stderr, PROG ": one rule file at a time (%s)\n", argv[i]);
			return 2;
		} else if (dd_config_set(&c, "fraud.rules", argv[i], "FILE", err, sizeof(err)) != 0) {
			fprintf(stderr, PROG ": %s\n", err);
			return 2;
		} else {
			have_file = true;
		}
	}
	return check(&c);
}
