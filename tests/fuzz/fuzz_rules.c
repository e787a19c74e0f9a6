/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the fraud rule compiler (ops/fraud/rules.c) and the table checker: any
 * text compiles or fails with a message naming origin:line:column, never crashes, reads out of
 * bounds or loops; and an image it accepts is well formed (rule and area counts in range, codes
 * and kinds known, thresholds ordered, merchants sorted and unique).
 *
 * fuzz-sources: ops/fraud/rules.c
 * fuzz-libs: -lm
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/fraud/rules.h"

#define CHECK(cond)                                                                                        \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                           \
		}                                                                                          \
	} while (0)

/* the built-in text (the compiler's own tests check the file); unused here */
const char dd_frules_default_text[] = "";
const char dd_frules_default_origin[] = "none";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dd_frules *img;
	const uint32_t cap = 16;
	if (img == NULL)
		img = malloc(dd_frules_memsize(cap));
	char *text = malloc(size ? size : 1); /* a private copy: reads past it hit ASan's redzone */
	memcpy(text, data, size);
	char err[256];
	unsigned nerr = 0;
	int rc = dd_frules_compile(text, size, "fuzz", img, cap, err, sizeof(err), &nerr, NULL, NULL);
	if (rc == 0) {
		CHECK(nerr == 0 && img->nrules <= DD_FR_MAX_RULES && img->nareas <= DD_FR_MAX_AREAS);
		CHECK(img->nmerchants <= cap && img->act_block > img->act_review && img->act_review > img->act_verify);
		for (uint32_t i = 0; i < img->nrules; i++)
			CHECK(img->rule[i].code < DD_R__COUNT && img->rule[i].when > 0 && img->rule[i].when < DD_FW__COUNT);
		for (uint32_t i = 1; i < img->nmerchants; i++)
			CHECK(img->merchant[i - 1].id < img->merchant[i].id);
	} else {
		CHECK(rc == -EINVAL && nerr > 0 && strncmp(err, "fuzz:", 5) == 0);
	}
	/* the same bytes as rows of each table */
	static const char *const tabs[] = { "merchant_risk", "mcc", "risk_areas" };
	rc = dd_frules_check_table(tabs[size % 3], text, size, "t.csv", 2, cap, err, sizeof(err));
	CHECK(rc == 0 || rc == -ENOMEM || (rc == -EINVAL && strncmp(err, "t.csv:", 6) == 0));
	free(text);
	return 0;
}
