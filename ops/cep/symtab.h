/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_CEP_SYMTAB_H
#define DD_OPS_CEP_SYMTAB_H

/*
 * Symbols: the partition of the market operators (windows and patterns are per symbol, whatever
 * feed and locate code it comes with). ITCH names an instrument by its locate code per feed, and
 * binds the code to a symbol in a directory message (R); the table keeps that binding and gives
 * each symbol a dense slot, so the operators' per-symbol state is an array. Fixed capacity, set at
 * init; a full table refuses new symbols (counted by the caller).
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DD_SYMTAB_NONE UINT32_MAX

struct dd_symtab {
	uint32_t cap;         /* symbols */
	uint32_t n;
	uint32_t nfeeds;
	uint32_t hmask;       /* hash slots - 1 (a power of two, >= 2 cap) */
	uint32_t *bylocate;   /* [nfeeds][65536]: slot + 1, 0 none */
	uint32_t *hash;       /* slot + 1, 0 empty */
	uint64_t *sym;        /* [cap]: the symbol's 8 bytes, space padded */
};

/* Bytes for `cap` symbols over `nfeeds` feeds (0 if out of range). */
size_t dd_symtab_memsize(uint32_t cap, uint32_t nfeeds);

/* Lay it out in mem (8-byte aligned, zeroed here). */
void dd_symtab_init(struct dd_symtab *t, void *mem, uint32_t cap, uint32_t nfeeds);

/* Slot of symbol `sym` (8 bytes, space padded), added if new; DD_SYMTAB_NONE if the table is full. */
uint32_t dd_symtab_intern(struct dd_symtab *t, const char sym[8]);

/* Bind (feed, locate) to symbol `sym`: its slot, or DD_SYMTAB_NONE (full, or feed out of range). */
uint32_t dd_symtab_bind(struct dd_symtab *t, unsigned feed, uint16_t locate, const char sym[8]);

/* The slot (feed, locate) is bound to, DD_SYMTAB_NONE if none. */
static inline uint32_t dd_symtab_slot(const struct dd_symtab *t, unsigned feed, uint32_t locate)
{
	if (feed >= t->nfeeds || locate > 0xffff)
		return DD_SYMTAB_NONE;
	return t->bylocate[(size_t)feed << 16 | locate] - 1;
}

/* Copy the symbol of slot s into out[8]. */
static inline void dd_symtab_symbol(const struct dd_symtab *t, uint32_t s, char out[8])
{
	memcpy(out, &t->sym[s], 8);
}

/* Snapshots: the symbols (in slot order), then the bindings. 0 or what put/get returned (get: -EBADMSG
 * for a table that does not read back as it was written). load reads `n` symbols into a table
 * freshly initialised with the same capacity and feeds. */
int dd_symtab_save(const struct dd_symtab *t, int (*put)(void *ctx, const void *p, size_t n), void *ctx);
int dd_symtab_load(struct dd_symtab *t, uint32_t n, int (*get)(void *ctx, void *p, size_t n), void *ctx);

/* The symbol unpadded into out (at least 9 bytes). */
void dd_symtab_name(const char sym[8], char *out);

#endif /* DD_OPS_CEP_SYMTAB_H */
