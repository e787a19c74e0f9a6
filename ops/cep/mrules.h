/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_CEP_MRULES_H
#define DD_OPS_CEP_MRULES_H

/*
 * Market rule sets: windows and patterns (docs/patterns.md) compiled into one immutable image.
 *
 * The image is plain data with no pointers, so it can be copied, compared byte for byte and shared
 * read-only by every shard's window and pattern operators. A pattern compiles to a small Thompson
 * program over its variables (VAR, SPLIT, JMP, SKIP, NOT, MATCH) whose epsilon closures are
 * computed here, once: at run time a partial match waits at one VAR with the flags its way there
 * collected, and moving on is a walk down a precomputed list. Predicates and measures compile to a
 * stack code over 64-bit integers.
 *
 * Records: what the engines see. A record belongs to one symbol, carries its stream membership
 * (an ITCH add is an `order` and an `any`) and the fields of its stream in the stream's own order
 * (dd_mr_stream_fields()); field 0 is always `time`, field 1 `source`.
 *
 * libc only; compiling is a control-plane call (no allocation: the caller gives the image memory).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_MR_NAME 32
#define DD_MR_MAX_WINDOWS 8
#define DD_MR_MAX_PATTERNS 32
#define DD_MR_MAX_VARS 16
#define DD_MR_MAX_SLOTS 24
#define DD_MR_MAX_MEASURES 4
#define DD_MR_MAX_AGGS 6
#define DD_MR_MAX_PROG 160
#define DD_MR_MAX_CLOS 512
#define DD_MR_MAX_CODE 768
#define DD_MR_MAX_CONST 96
#define DD_MR_MAX_PARTIAL 64
#define DD_MR_MAX_HISTORY 64
#define DD_MR_MAX_REFS 16       /* matched records an alert lists */
#define DD_MR_NFIELDS 11        /* fields of a record, the stream's own order */
#define DD_MR_MAX_GFIELDS 64    /* field names an image knows (fixed ones and aggregate names) */

/* Streams. A window's results are stream DD_MS_WINDOW0 + its index. */
enum dd_mr_stream {
	DD_MS_ORDER = 0,
	DD_MS_CANCEL,
	DD_MS_TRADE,
	DD_MS_BBO,
	DD_MS_HALT,
	DD_MS_ANY,
	DD_MS__FIXED,
	DD_MS_WINDOW0 = 8,
	DD_MS__COUNT = DD_MS_WINDOW0 + DD_MR_MAX_WINDOWS
};

/* Field positions in a record of each fixed stream (0 time and 1 source in all). */
enum {
	DD_MF_TIME = 0,
	DD_MF_SOURCE = 1,
	/* order */
	DD_MF_ORDER_REF = 2, DD_MF_ORDER_SIDE, DD_MF_ORDER_SHARES, DD_MF_ORDER_PRICE,
	/* cancel */
	DD_MF_CANCEL_REF = 2, DD_MF_CANCEL_SHARES, DD_MF_CANCEL_DELETED,
	/* trade */
	DD_MF_TRADE_REF = 2, DD_MF_TRADE_MATCH, DD_MF_TRADE_SHARES, DD_MF_TRADE_PRICE, DD_MF_TRADE_SIDE,
	DD_MF_TRADE_AGGRESSOR,
	/* bbo */
	DD_MF_BBO_BID = 2, DD_MF_BBO_ASK, DD_MF_BBO_BID_SHARES, DD_MF_BBO_ASK_SHARES, DD_MF_BBO_OTHER_BID,
	DD_MF_BBO_OTHER_ASK,
	/* halt */
	DD_MF_HALT_STATE = 2, DD_MF_HALT_REASON,
	/* window results */
	DD_MF_WIN_START = 2, DD_MF_WIN_END, DD_MF_WIN_LATE, DD_MF_WIN_AGG0,
};

/* One record of the streams, for one symbol (key: the engines' symbol slot). */
struct dd_mr_rec {
	uint16_t streams;            /* bit s: the record is in stream s */
	uint8_t stream;              /* the stream whose fields f[] holds */
	uint8_t pad;
	uint32_t key;
	uint64_t seq;                /* feed sequence number of the message it came from (0: none) */
	int64_t f[DD_MR_NFIELDS];
};

/* ---- windows ---- */
enum dd_mr_wkind { DD_MW_TUMBLING = 1, DD_MW_HOPPING, DD_MW_SESSION };
enum dd_mr_afn { DD_MA_COUNT = 1, DD_MA_SUM, DD_MA_MIN, DD_MA_MAX, DD_MA_FIRST, DD_MA_LAST, DD_MA_VWAP,
		 DD_MA_AVG_PREV };

struct dd_mr_agg {
	char name[DD_MR_NAME];
	uint8_t fn;        /* enum dd_mr_afn */
	uint8_t field;     /* the FROM stream's field (vwap: the price) */
	uint8_t field2;    /* vwap: the quantity */
	uint8_t of;        /* avg_prev: the aggregate it averages */
	uint8_t n;         /* avg_prev: windows */
	uint8_t pad[3];
};

struct dd_mr_window {
	char name[DD_MR_NAME];
	uint8_t kind;      /* enum dd_mr_wkind */
	uint8_t from;      /* stream it reads */
	uint8_t naggs;
	uint8_t history;   /* windows of history kept (the largest avg_prev n; 0 none) */
	uint8_t hist_agg;  /* the aggregate the history is of */
	uint8_t pad[3];
	uint64_t size_ns;  /* tumbling, hopping: the size; session: the gap */
	uint64_t slide_ns; /* hopping: the slide; tumbling: = size */
	uint64_t lateness_ns;
	struct dd_mr_agg agg[DD_MR_MAX_AGGS];
};

/* ---- patterns ---- */
enum dd_mr_insn { DD_MI_VAR = 1, DD_MI_SPLIT, DD_MI_JMP, DD_MI_SKIP, DD_MI_NOT, DD_MI_MATCH };
/* DD_MK_PREV: the last matched record's field; DD_MK_PREV2: the one before (var: the PREV slot it
 * follows), for PREV() in MEASURES */
enum dd_mr_slotkind { DD_MK_FIRST = 1, DD_MK_LAST, DD_MK_COUNT, DD_MK_SUM, DD_MK_MIN, DD_MK_MAX, DD_MK_PREV,
		      DD_MK_PREV2 };

/* An epsilon-closure entry: where a way can wait next, with what it collected on the way there. */
#define DD_MR_AT_MATCH 0xffffu
struct dd_mr_clos {
	uint16_t at;       /* pc of a VAR, or DD_MR_AT_MATCH */
	uint16_t guards;   /* bit v: negated variable v passed since the last record */
	uint8_t skip;      /* skip-till-next entry */
	uint8_t pad[3];
};

struct dd_mr_insn_s {
	uint8_t op;        /* enum dd_mr_insn */
	uint8_t var;
	uint16_t x, y;     /* SPLIT: x preferred, y; JMP: x */
	uint16_t clos_off; /* VAR: the closure after it (where a way goes once it took a record) */
	uint16_t clos_len;
	uint16_t pad;
};

/*
 * A predicate that is an OR of ANDs of up to DD_MR_FAST comparisons in all, each side a field, a
 * slot, a constant or the product of two of them, is also kept as terms, evaluated without the
 * stack code (the same result: a slot without a value, or a product that overflows, makes the
 * whole predicate false).
 */
#define DD_MR_FAST 8
enum { DD_MT_NONE = 0, DD_MT_CONST, DD_MT_FIELD, DD_MT_SLOT };
struct dd_mr_operand {
	uint8_t k1, k2;    /* DD_MT_*: the operand, or (k2 not NONE) the product of two */
	uint16_t i1, i2;   /* field position, slot, or konst index */
};
struct dd_mr_term {
	uint8_t cmp;       /* DD_MO_EQ .. DD_MO_GE */
	uint8_t group;     /* terms of one group are ANDed, groups ORed */
	uint8_t pad[2];
	struct dd_mr_operand l, r;
};

struct dd_mr_var {
	char name[DD_MR_NAME];
	uint8_t stream;
	uint8_t negated;   /* used as !v */
	uint8_t positive;  /* used as a step */
	uint8_t nfast;     /* the predicate as terms (0: only the code) */
	uint8_t ngroups;   /* ... in this many ORed groups */
	uint8_t pad[3];
	uint16_t pred_off, pred_len; /* code; len 0: always */
	struct dd_mr_term fast[DD_MR_FAST];
};

struct dd_mr_slot {
	uint8_t kind;      /* enum dd_mr_slotkind */
	uint8_t var;       /* DD_MK_PREV: unused */
	uint8_t gfield;    /* global field id (dd_mrules.gfield) */
	uint8_t pad;
};

struct dd_mr_measure {
	char name[DD_MR_NAME];
	uint16_t off, len;
};

struct dd_mr_pattern {
	char name[DD_MR_NAME];
	uint64_t within_ns;
	uint16_t stream_mask;   /* streams its variables read */
	uint16_t neg_mask;      /* negated variables */
	uint8_t nvars, nslots, nmeasures, max_partial;
	uint8_t skip_to_next;   /* AFTER MATCH SKIP TO NEXT ROW */
	uint8_t emit_timeouts;
	uint8_t has_absence;    /* a MATCH reachable with guards */
	uint8_t max_refs;       /* matched records an alert lists: the most a match can have, at most
	                         * DD_MR_MAX_REFS (beyond: the first max_refs - 1 and the last) */
	uint32_t count_mask;    /* COUNT slots: always valid (0 before any record of their variable) */
	uint16_t nprog, nclos, ncode, nconst;
	uint16_t start_off, start_len; /* the closure of pc 0 */
	uint32_t line;
	struct dd_mr_var var[DD_MR_MAX_VARS];
	struct dd_mr_slot slot[DD_MR_MAX_SLOTS];
	struct dd_mr_measure measure[DD_MR_MAX_MEASURES];
	struct dd_mr_insn_s prog[DD_MR_MAX_PROG];
	struct dd_mr_clos clos[DD_MR_MAX_CLOS];
	uint32_t code[DD_MR_MAX_CODE];
	int64_t konst[DD_MR_MAX_CONST];
};

/* Expression code: op in the low 8 bits, argument above. */
enum dd_mr_op {
	DD_MO_CONST = 1, /* push konst[arg] */
	DD_MO_FIELD,     /* push the current record's field arg (its own stream's position) */
	DD_MO_SLOT,      /* push slot arg (null if its variable has no record yet, or no record at all) */
	DD_MO_ADD, DD_MO_SUB, DD_MO_MUL, DD_MO_DIV, DD_MO_MOD, DD_MO_NEG, DD_MO_ABS,
	DD_MO_EQ, DD_MO_NE, DD_MO_LT, DD_MO_LE, DD_MO_GT, DD_MO_GE,
	DD_MO_AND, DD_MO_OR, DD_MO_NOT,
	DD_MO_IN,        /* arg: konst offset (low 16) and count (high 8): pop e, push e in the list */
};

struct dd_mrules {
	char name[DD_MR_NAME];
	uint32_t version;
	uint32_t text_hash;
	uint32_t text_len;      /* of the text it was compiled from (the journal names a reload by both) */
	uint32_t nwindows, npatterns;
	uint32_t ngfields;
	uint32_t stream_used;   /* bit s: some window or pattern reads stream s */
	uint32_t window_streams; /* bit s: some window reads stream s */
	uint32_t by_stream[DD_MS__COUNT]; /* bit i: pattern i reads stream s */
	char gfield[DD_MR_MAX_GFIELDS][DD_MR_NAME];
	/* position of global field g in a record of stream s, -1: not in it (reads as 0) */
	int8_t fpos[DD_MS__COUNT][DD_MR_MAX_GFIELDS];
	struct dd_mr_window window[DD_MR_MAX_WINDOWS];
	struct dd_mr_pattern pattern[DD_MR_MAX_PATTERNS];
};

/*
 * Compile `len` bytes of market rule text into `out`. `origin` names the text in messages.
 * Several files are compiled as one text (dadar concatenates its --rules files, each line keeping
 * its own file and line through "#line N FILE" markers the caller inserts). Returns 0, or -EINVAL
 * with err holding "origin:line:column: what is wrong" (the first error), *nerrors counting them
 * all, each passed to `report` when not NULL.
 */
int dd_mrules_compile(const char *text, size_t len, const char *origin, struct dd_mrules *out, char *err,
		      size_t errlen, unsigned *nerrors, void (*report)(void *ctx, const char *msg), void *ctx);

/* Name of stream s in image r ("trade", a window's name), "?" if none. */
const char *dd_mr_stream_name(const struct dd_mrules *r, unsigned s);

/* Index of pattern / window `name` in r, -1 if none. */
int dd_mrules_find_pattern(const struct dd_mrules *r, const char *name);

/*
 * Evaluate code[off, off+len) of pattern p against the current record `rec` (may be NULL in
 * measures), slots `slot` with `valid` (bit i: slot i has a value). Returns 1 true / 0 false, with
 * the value in *v; -1 if a null was involved (a variable with no record, a division by zero, an
 * overflow): a predicate is then false, a measure null.
 */
int dd_mr_eval(const struct dd_mr_pattern *p, uint16_t off, uint16_t len, const struct dd_mr_rec *rec,
	       const int64_t *slot, uint32_t valid, int64_t *v);

/* The FNV-1a hash of a rule text (an image's text_hash). */
static inline uint32_t dd_mrules_text_hash(const char *text, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)text[i]) * 16777619u;
	return h;
}

/* Pack a string literal of up to 8 characters the way a record's text field is: bytes, space padded,
 * little-endian (`reason` is 4 wide, `side` and `state` 1). */
int64_t dd_mr_pack(const char *s, size_t n, unsigned width);

#endif /* DD_OPS_CEP_MRULES_H */
