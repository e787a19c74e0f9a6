/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the market rule compiler (ops/cep/mrules.c) and the engines that run what it
 * accepts (ops/cep/cep.c, ops/window/window.c): any text compiles or fails with a message naming
 * origin:line:column, never crashes, reads out of bounds or loops; an image it accepts is well
 * formed (program, closures, code and slots in range); and running it over records made from the
 * input's bytes, with watermarks, stays within the engines' bounds.
 *
 * fuzz-sources: ops/cep/mrules.c ops/cep/cep.c ops/cep/symtab.c ops/window/window.c
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/cep/cep.h"
#include "ops/window/window.h"

#define CHECK(cond)                                                                                        \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                           \
		}                                                                                          \
	} while (0)

static void check_image(const struct dd_mrules *r)
{
	CHECK(r->npatterns <= DD_MR_MAX_PATTERNS && r->nwindows <= DD_MR_MAX_WINDOWS && r->ngfields <= DD_MR_MAX_GFIELDS);
	for (unsigned w = 0; w < r->nwindows; w++) {
		const struct dd_mr_window *win = &r->window[w];
		CHECK(win->naggs >= 1 && win->naggs <= DD_MR_MAX_AGGS && win->size_ns > 0 && win->history <= DD_MR_MAX_HISTORY);
		CHECK(win->kind != DD_MW_HOPPING || (win->slide_ns > 0 && win->size_ns % win->slide_ns == 0));
	}
	for (unsigned i = 0; i < r->npatterns; i++) {
		const struct dd_mr_pattern *p = &r->pattern[i];
		CHECK(p->within_ns > 0 && p->max_partial >= 1 && p->max_partial <= DD_MR_MAX_PARTIAL);
		CHECK(p->nvars >= 1 && p->nvars <= DD_MR_MAX_VARS && p->nslots <= DD_MR_MAX_SLOTS);
		CHECK(p->nprog <= DD_MR_MAX_PROG && p->nclos <= DD_MR_MAX_CLOS && p->ncode <= DD_MR_MAX_CODE);
		CHECK(p->nconst <= DD_MR_MAX_CONST && p->nmeasures <= DD_MR_MAX_MEASURES && p->start_len > 0);
		CHECK(p->prog[p->nprog - 1].op == DD_MI_MATCH && (unsigned)p->start_off + p->start_len <= p->nclos);
		for (unsigned pc = 0; pc < p->nprog; pc++) {
			const struct dd_mr_insn_s *in = &p->prog[pc];
			CHECK(in->op >= DD_MI_VAR && in->op <= DD_MI_MATCH);
			if (in->op == DD_MI_SPLIT || in->op == DD_MI_JMP)
				CHECK(in->x < p->nprog && (in->op == DD_MI_JMP || in->y < p->nprog));
			if (in->op == DD_MI_VAR || in->op == DD_MI_NOT)
				CHECK(in->var < p->nvars);
			if (in->op == DD_MI_VAR)
				CHECK((unsigned)in->clos_off + in->clos_len <= p->nclos);
		}
		for (unsigned k = 0; k < p->nclos; k++)
			CHECK(p->clos[k].at == DD_MR_AT_MATCH || (p->clos[k].at < p->nprog && p->prog[p->clos[k].at].op == DD_MI_VAR));
		for (unsigned v = 0; v < p->nvars; v++) {
			const struct dd_mr_var *var = &p->var[v];
			CHECK((unsigned)var->pred_off + var->pred_len <= p->ncode && var->stream < DD_MS__COUNT);
			CHECK(var->nfast <= DD_MR_FAST && (var->nfast == 0 || var->pred_len > 0));
			CHECK(var->nfast == 0 || (var->ngroups >= 1 && var->ngroups <= var->nfast));
			for (unsigned t = 0; t < var->nfast; t++) {
				const struct dd_mr_term *tm = &var->fast[t];
				CHECK(tm->cmp >= DD_MO_EQ && tm->cmp <= DD_MO_GE && tm->group < var->ngroups);
				CHECK(t == 0 || tm->group == var->fast[t - 1].group || tm->group == var->fast[t - 1].group + 1);
				for (unsigned side = 0; side < 2; side++) {
					const struct dd_mr_operand *o = side ? &tm->r : &tm->l;
					for (unsigned j = 0; j < 2; j++) {
						uint8_t k = j ? o->k2 : o->k1;
						uint16_t i = j ? o->i2 : o->i1;
						CHECK(j == 1 || k != DD_MT_NONE);
						CHECK(k != DD_MT_FIELD || i < DD_MR_NFIELDS);
						CHECK(k != DD_MT_SLOT || i < p->nslots);
						CHECK(k != DD_MT_CONST || i < p->nconst);
					}
				}
			}
		}
		for (unsigned s = 0; s < p->nslots; s++)
			CHECK(p->slot[s].var < (p->slot[s].kind == DD_MK_PREV2 ? p->nslots : p->nvars + 1u) &&
			      p->slot[s].gfield < r->ngfields);
	}
}

/* Records made from bytes: stream, symbol, time steps and field values; a watermark now and then. */
static void run(const struct dd_mrules *r, const uint8_t *b, size_t n)
{
	static void *cep, *win;
	static struct dd_output out[4096];
	static struct dd_cep_params cp = { .keys = 8, .nfeeds = 1, .key_bytes = 1u << 20, .max_patterns = DD_MR_MAX_PATTERNS };
	static struct dd_window_params wp = { .keys = 8, .nfeeds = 1, .key_bytes = 1u << 18 };
	static size_t cn, wn;
	if (cep == NULL) {
		cn = dd_cep_op.memsize(&cp);
		wn = dd_window_op.memsize(&wp);
		cep = aligned_alloc(64, (cn + 63) & ~(size_t)63);
		win = aligned_alloc(64, (wn + 63) & ~(size_t)63);
	}
	CHECK(dd_cep_op.init(cep, cn, &cp) == 0 && dd_window_op.init(win, wn, &wp) == 0);
	if (dd_cep_use(cep, r) != 0 || dd_window_use(win, r) != 0)
		return; /* larger than this rig's bound: the daemon refuses it the same way */
	struct dd_event ev = { 0 };
	struct dd_emit e = { .out = out, .cap = 4096, .ev = &ev };
	uint64_t t = 1;
	for (size_t i = 0; i + 4 <= n && i < 4 * 256; i += 4) {
		if (b[i] % 16 == 15) {
			dd_window_watermark(win, t, &e);
			dd_cep_watermark(cep, t, &e);
		} else {
			struct dd_mr_rec rec = { 0 };
			rec.stream = (uint8_t)(b[i] % DD_MS__FIXED);
			rec.streams = (uint16_t)(1u << rec.stream | (rec.stream != DD_MS_BBO ? 1u << DD_MS_ANY : 0));
			char sym[8] = { (char)('A' + b[i + 1] % 3), ' ', ' ', ' ', ' ', ' ', ' ', ' ' };
			t += (uint64_t)b[i + 2] * 1000003u;
			rec.f[DD_MF_TIME] = (int64_t)t;
			for (unsigned k = 2; k < DD_MR_NFIELDS; k++)
				rec.f[k] = (int8_t)(b[i + 3] ^ (uint8_t)(k * 37));
			rec.key = dd_window_intern(win, sym);
			dd_window_record(win, &rec, &e);
			rec.key = dd_cep_intern(cep, sym);
			dd_cep_record(cep, &rec, &e);
		}
		CHECK(e.n <= e.cap);
		e.n = 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dd_mrules *img;
	if (img == NULL)
		img = malloc(sizeof(*img));
	/* the text up to the first 0xff byte; what follows it drives the engines */
	const uint8_t *cut = memchr(data, 0xff, size);
	size_t tlen = cut != NULL ? (size_t)(cut - data) : size;
	char *text = malloc(tlen ? tlen : 1); /* a private copy: reads past it hit ASan's redzone */
	memcpy(text, data, tlen);
	char err[256];
	unsigned nerr = 0;
	int rc = dd_mrules_compile(text, tlen, "fuzz", img, err, sizeof(err), &nerr, NULL, NULL);
	if (rc == 0) {
		CHECK(nerr == 0);
		check_image(img);
		if (cut != NULL)
			run(img, cut + 1, size - tlen - 1);
	} else {
		/* a "#line N FILE" marker names another file, as it is meant to */
		CHECK(rc == -EINVAL && nerr > 0 &&
		      (strncmp(err, "fuzz:", 5) == 0 || memmem(text, tlen, "#line ", 6) != NULL));
	}
	free(text);
	return 0;
}
