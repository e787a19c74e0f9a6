/* SPDX-License-Identifier: MIT */
#include "ops/cep/symtab.h"

#include <errno.h>

static uint32_t hsize(uint32_t cap)
{
	uint32_t h = 16;
	while (h < 2 * cap)
		h <<= 1;
	return h;
}

size_t dd_symtab_memsize(uint32_t cap, uint32_t nfeeds)
{
	if (cap == 0 || cap > (1u << 24) || nfeeds == 0 || nfeeds > 16)
		return 0;
	return (size_t)nfeeds * 65536 * 4 + (size_t)hsize(cap) * 4 + (size_t)cap * 8;
}

void dd_symtab_init(struct dd_symtab *t, void *mem, uint32_t cap, uint32_t nfeeds)
{
	uint8_t *m = mem;
	t->cap = cap;
	t->n = 0;
	t->nfeeds = nfeeds;
	t->hmask = hsize(cap) - 1;
	t->sym = (uint64_t *)(void *)m;
	m += (size_t)cap * 8;
	t->bylocate = (uint32_t *)(void *)m;
	m += (size_t)nfeeds * 65536 * 4;
	t->hash = (uint32_t *)(void *)m;
	memset(mem, 0, dd_symtab_memsize(cap, nfeeds));
}

uint32_t dd_symtab_intern(struct dd_symtab *t, const char sym[8])
{
	uint64_t k;
	memcpy(&k, sym, 8);
	uint32_t h = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & t->hmask;
	for (;; h = (h + 1) & t->hmask) {
		uint32_t v = t->hash[h];
		if (v == 0)
			break;
		if (t->sym[v - 1] == k)
			return v - 1;
	}
	if (t->n == t->cap)
		return DD_SYMTAB_NONE;
	t->sym[t->n] = k;
	t->hash[h] = ++t->n;
	return t->n - 1;
}

uint32_t dd_symtab_bind(struct dd_symtab *t, unsigned feed, uint16_t locate, const char sym[8])
{
	if (feed >= t->nfeeds)
		return DD_SYMTAB_NONE;
	uint32_t s = dd_symtab_intern(t, sym);
	if (s != DD_SYMTAB_NONE)
		t->bylocate[(size_t)feed << 16 | locate] = s + 1;
	return s;
}

void dd_symtab_name(const char sym[8], char *out)
{
	unsigned n = 8;
	while (n > 0 && (sym[n - 1] == ' ' || sym[n - 1] == 0))
		n--;
	memcpy(out, sym, n);
	out[n] = 0;
}

int dd_symtab_save(const struct dd_symtab *t, int (*put)(void *ctx, const void *p, size_t n), void *ctx)
{
	int rc = put(ctx, t->sym, (size_t)t->n * 8);
	return rc != 0 ? rc : put(ctx, t->bylocate, (size_t)t->nfeeds * 65536 * 4);
}

int dd_symtab_load(struct dd_symtab *t, uint32_t n, int (*get)(void *ctx, void *p, size_t n), void *ctx)
{
	if (n > t->cap)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		char sym[8];
		if (get(ctx, sym, 8) < 0 || dd_symtab_intern(t, sym) != i)
			return -EBADMSG;
	}
	return get(ctx, t->bylocate, (size_t)t->nfeeds * 65536 * 4) < 0 ? -EBADMSG : 0;
}
