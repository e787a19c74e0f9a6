/* SPDX-License-Identifier: MIT */
#ifndef DD_SHM_HDR_H
#define DD_SHM_HDR_H

/*
 * Latency histograms in HdrHistogram's bucket model, laid out to live in shared memory, and
 * HdrHistogram's V2 encoding, interval log and percentile text so that HdrHistogram's own tools
 * read what dadar writes.
 *
 * Bucket model (as HdrHistogram): values are uint64 nanoseconds. With s significant digits the
 * histogram keeps sub_bucket_count = 2^ceil(log2(2 * 10^s)) sub-buckets per power of two (2048 for
 * s = 3). Values below sub_bucket_count are counted exactly; above, bucket b (b >= 1) counts
 * [2^(b+m-1), 2^(b+m)) in sub_bucket_count / 2 slots of width 2^b, where m = log2(sub_bucket_count)
 * (all scaled by 2^unit_magnitude when lowest > 1). Every value is thus kept to within 1/2^(m-1)
 * of itself (1/1024 < 10^-3 for s = 3). "Equivalent"
 * values share a slot; a reported value is the lowest or highest value of its slot, as in
 * HdrHistogram: dd_hdr_max() and the percentiles report the highest equivalent value, dd_hdr_min()
 * the lowest.
 *
 * Layout: one contiguous, pointer-free block: struct dd_hdr (128 bytes: parameters, then the
 * writer's totals on their own cache line) followed by counts_len uint64 counts. All fields are
 * host-endian fixed-width integers (the segment never leaves the host); offsets are pinned by
 * _Static_assert below. dd_hdr_init() writes `magic` last, with release order, so a reader that
 * sees DD_HDR_MAGIC (dd_hdr_check(), acquire) sees the parameters.
 *
 * Concurrency: exactly one writer (the lcore that owns the histogram) calls dd_hdr_record*() and
 * dd_hdr_reset(); any number of readers, in this or another process, read concurrently. Every
 * shared word is an _Atomic uint64_t. Because there is one writer, an update is a relaxed load
 * followed by a relaxed store, not an atomic read-modify-write: nobody else stores to the word, so
 * no increment can be lost, and on x86-64 the pair compiles to plain movs instead of a `lock`ed
 * add, a full barrier each (bench/bench_hdr: 1.5 ns per record this way, 9 ns with two locked
 * adds for count and total). Relaxed atomics still guarantee that a reader never
 * sees a torn word. They guarantee nothing about the order in which a reader sees different
 * words: a reader may see a count incremented before the total, or the reverse, or a new max
 * before its count. dd_hdr_snapshot() therefore copies the counts and recomputes the total, min
 * and max from them; query a snapshot, not the live histogram, when consistency matters (the
 * query functions are safe on a live histogram, just possibly off by the values in flight).
 *
 * The encode, decode, print and log functions are control plane: they may allocate and do I/O.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DD_HDR_MAGIC         0x52444844u /* "DHDR" in little-endian memory */
#define DD_HDR_VERSION_MAJOR 1
#define DD_HDR_VERSION_MINOR 0
#define DD_HDR_HEADER_SIZE   128u        /* bytes before counts[] */
#define DD_HDR_ALIGN         64u         /* the block must start on a cache line */

struct dd_hdr_params {
	uint64_t lowest;  /* lowest discernible value, >= 1 (rounded down to a power of two internally) */
	uint64_t highest; /* highest trackable value, >= 2 * lowest, <= INT64_MAX */
	uint32_t sigfigs; /* significant decimal digits kept, 0..5 */
};

/*
 * The histogram block. Parameters are written once by dd_hdr_init() and are read-only afterwards;
 * the rest is written by the single writer only (see the concurrency note above).
 */
struct dd_hdr {
	/* cache line 0: parameters */
	_Atomic uint32_t magic;      /* DD_HDR_MAGIC once initialised; stored last (release) */
	uint16_t version_major;      /* DD_HDR_VERSION_MAJOR: readers reject another */
	uint16_t version_minor;
	uint64_t memsize;            /* bytes of the whole block, header and counts */
	uint64_t lowest;             /* as given in dd_hdr_params */
	uint64_t highest;            /* as given; larger values are clamped to it */
	uint64_t sub_bucket_mask;    /* (sub_bucket_count - 1) << unit_magnitude */
	uint8_t sigfigs;             /* as given */
	uint8_t unit_magnitude;      /* floor(log2(lowest)) */
	uint8_t sub_bucket_half_count_magnitude; /* log2(sub_bucket_count) - 1 */
	uint8_t lzc_base;            /* 63 - unit_magnitude - sub_bucket_half_count_magnitude */
	uint32_t sub_bucket_count;   /* slots per power of two */
	uint32_t bucket_count;       /* powers of two covered (HdrHistogram's bucketCount) */
	uint32_t counts_len;         /* entries in counts[] */
	uint64_t reserved0;
	/* cache line 1: the writer's totals */
	_Alignas(64) _Atomic uint64_t total; /* values recorded (sum of counts[]) */
	_Atomic uint64_t min;        /* smallest value recorded; UINT64_MAX when empty */
	_Atomic uint64_t max;        /* largest value recorded (after clamping); 0 when empty */
	_Atomic uint64_t overflow;   /* values above `highest`, clamped to it (and counted there too) */
	uint64_t reserved1[4];
	/* cache line 2 on: the counts, indexed by dd_hdr_index_of() */
	_Atomic uint64_t counts[];
};

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
	       "64-bit atomics must be lock-free to be shared between processes");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "atomic sizes");
_Static_assert(offsetof(struct dd_hdr, magic) == 0, "dd_hdr layout: magic");
_Static_assert(offsetof(struct dd_hdr, version_major) == 4, "dd_hdr layout: version_major");
_Static_assert(offsetof(struct dd_hdr, version_minor) == 6, "dd_hdr layout: version_minor");
_Static_assert(offsetof(struct dd_hdr, memsize) == 8, "dd_hdr layout: memsize");
_Static_assert(offsetof(struct dd_hdr, lowest) == 16, "dd_hdr layout: lowest");
_Static_assert(offsetof(struct dd_hdr, highest) == 24, "dd_hdr layout: highest");
_Static_assert(offsetof(struct dd_hdr, sub_bucket_mask) == 32, "dd_hdr layout: sub_bucket_mask");
_Static_assert(offsetof(struct dd_hdr, sigfigs) == 40, "dd_hdr layout: sigfigs");
_Static_assert(offsetof(struct dd_hdr, unit_magnitude) == 41, "dd_hdr layout: unit_magnitude");
_Static_assert(offsetof(struct dd_hdr, sub_bucket_half_count_magnitude) == 42, "dd_hdr layout: half");
_Static_assert(offsetof(struct dd_hdr, lzc_base) == 43, "dd_hdr layout: lzc_base");
_Static_assert(offsetof(struct dd_hdr, sub_bucket_count) == 44, "dd_hdr layout: sub_bucket_count");
_Static_assert(offsetof(struct dd_hdr, bucket_count) == 48, "dd_hdr layout: bucket_count");
_Static_assert(offsetof(struct dd_hdr, counts_len) == 52, "dd_hdr layout: counts_len");
_Static_assert(offsetof(struct dd_hdr, total) == 64, "dd_hdr layout: total");
_Static_assert(offsetof(struct dd_hdr, min) == 72, "dd_hdr layout: min");
_Static_assert(offsetof(struct dd_hdr, max) == 80, "dd_hdr layout: max");
_Static_assert(offsetof(struct dd_hdr, overflow) == 88, "dd_hdr layout: overflow");
_Static_assert(offsetof(struct dd_hdr, counts) == DD_HDR_HEADER_SIZE, "dd_hdr layout: counts");
_Static_assert(sizeof(struct dd_hdr) == DD_HDR_HEADER_SIZE, "dd_hdr header is 128 bytes");

/* ---- construction ------------------------------------------------------------------------- */

/*
 * Bytes dd_hdr_init() needs for `p` (a multiple of 64); 0 if a parameter is out of range.
 * 1 ns .. 60 s at 3 digits: 27648 counts, 221312 bytes.
 */
size_t dd_hdr_memsize(const struct dd_hdr_params *p);

/*
 * Initialise a histogram over `len` bytes at `mem` (DD_HDR_ALIGN-aligned, at least
 * dd_hdr_memsize(p); it need not be zeroed). `mem` is then a struct dd_hdr. Returns 0, or -EINVAL
 * if a parameter is out of range, `mem` is misaligned or `len` too small.
 */
int dd_hdr_init(void *mem, size_t len, const struct dd_hdr_params *p);

/*
 * Check a histogram another process initialised: magic (loaded with acquire, pairing with the
 * release in dd_hdr_init()), major version, and parameters consistent with each other and with
 * the `len` bytes the caller mapped. Returns 0; -ENODATA if it is not initialised yet; -EPROTO for
 * another major version; -EINVAL if inconsistent. Call once after attaching, before any query.
 */
int dd_hdr_check(const struct dd_hdr *h, size_t len);

/* The parameters `h` was initialised with. */
void dd_hdr_params_of(const struct dd_hdr *h, struct dd_hdr_params *p);

/*
 * Allocate and initialise a private histogram (control plane: tools, tests, decoding). Returns 0,
 * -EINVAL for bad parameters or -ENOMEM. Release it with dd_hdr_free().
 */
int dd_hdr_create(const struct dd_hdr_params *p, struct dd_hdr **out);

/* Free a histogram from dd_hdr_create() or dd_hdr_decode_v2(); NULL is a no-op. */
void dd_hdr_free(struct dd_hdr *h);

/* ---- recording (single writer) ------------------------------------------------------------ */

/*
 * Index into counts[] of value `v` (v <= h->highest, or up to the top of the last slot, which
 * ends its power of two a little above): one clz, two shifts, an add. Bucket b holds
 * values whose top bit is b + m - 1 (m = log2(sub_bucket_count)); `v | sub_bucket_mask` folds all
 * values below sub_bucket_count into bucket 0. HdrHistogram's index is
 * ((b + 1) << half_mag) + sub - half_count, which is b << half_mag + sub.
 * Build for a CPU with lzcnt (the Makefile's default -march=native does): baseline x86-64 has only
 * bsr, whose result register is also an input, which chains successive records together
 * (bench/bench_hdr: 2.9 ns per record instead of 1.5).
 */
static inline uint32_t dd_hdr_index_of(const struct dd_hdr *h, uint64_t v)
{
	uint32_t b = (uint32_t)h->lzc_base - (uint32_t)__builtin_clzll(v | h->sub_bucket_mask);
	return (b << h->sub_bucket_half_count_magnitude) + (uint32_t)(v >> (b + h->unit_magnitude));
}

/*
 * Record `n` (>= 1) occurrences of value `v`. A value above h->highest is clamped to h->highest
 * (so it lands in the top slot and max is at most highest) and counted in h->overflow. No loop,
 * division, allocation, lock or syscall. Single writer only.
 */
static inline void dd_hdr_record_n(struct dd_hdr *h, uint64_t v, uint64_t n)
{
	/*
	 * Relaxed everywhere: each load + store pair is this writer updating a word nobody else
	 * stores to; the stores pair with the relaxed loads of readers (dd_hdr_snapshot() and the
	 * queries), which need untorn words but no ordering between words (see the file comment).
	 */
	if (v > h->highest) {
		v = h->highest;
		atomic_store_explicit(&h->overflow,
				      atomic_load_explicit(&h->overflow, memory_order_relaxed) + n,
				      memory_order_relaxed);
	}
	_Atomic uint64_t *c = &h->counts[dd_hdr_index_of(h, v)];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
	atomic_store_explicit(&h->total, atomic_load_explicit(&h->total, memory_order_relaxed) + n,
			      memory_order_relaxed);
	if (v < atomic_load_explicit(&h->min, memory_order_relaxed))
		atomic_store_explicit(&h->min, v, memory_order_relaxed);
	if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

/* Record one occurrence of `v`; see dd_hdr_record_n(). */
static inline void dd_hdr_record(struct dd_hdr *h, uint64_t v)
{
	dd_hdr_record_n(h, v, 1);
}

/* Zero every count and total. Only the writer, or the owner of a private copy, may call it. */
void dd_hdr_reset(struct dd_hdr *h);

/* ---- reading ------------------------------------------------------------------------------ */

/*
 * Copy `src` (typically live, in shared memory) into `dst`: `dst_len` bytes of private,
 * DD_HDR_ALIGN-aligned memory (it need not be initialised). Counts are read with relaxed loads;
 * the snapshot's total is the sum of the copied counts, and its min and max are the recorded ones
 * when they fall in the lowest and highest non-empty slots copied, else those slots' bounds.
 * Returns 0, or -EINVAL if src is not an initialised histogram or its parameters need more than
 * dst_len bytes (src's header is read once and checked before anything is written).
 */
int dd_hdr_snapshot(const struct dd_hdr *src, struct dd_hdr *dst, size_t dst_len);

/* Values recorded. */
uint64_t dd_hdr_total(const struct dd_hdr *h);

/* Values that were above h->highest and were clamped to it. */
uint64_t dd_hdr_overflow(const struct dd_hdr *h);

/*
 * HdrHistogram's min and max: the lowest equivalent value of the smallest value recorded, and the
 * highest equivalent value of the largest (0 for an empty histogram, and max is 0 when only 0 was
 * recorded, as HdrHistogram's getMaxValue()). They equal dd_hdr_value_at_percentile() at 0 and 100.
 */
uint64_t dd_hdr_min(const struct dd_hdr *h);
uint64_t dd_hdr_max(const struct dd_hdr *h);

/*
 * The exact smallest and largest values the writer recorded (after clamping). A histogram built by
 * dd_hdr_subtract() or dd_hdr_decode_v2() no longer knows them and returns dd_hdr_min() and
 * dd_hdr_max() instead. Empty: UINT64_MAX and 0.
 */
uint64_t dd_hdr_min_recorded(const struct dd_hdr *h);
uint64_t dd_hdr_max_recorded(const struct dd_hdr *h);

/*
 * Mean and standard deviation as HdrHistogram computes them: each slot counts at its median
 * equivalent value (lowest + width / 2), so both are exact while values are below
 * sub_bucket_count. 0.0 for an empty histogram.
 */
double dd_hdr_mean(const struct dd_hdr *h);
double dd_hdr_stddev(const struct dd_hdr *h);

/*
 * HdrHistogram's getValueAtPercentile(): with n = ceil(pct' * total / 100), where pct' is `pct`
 * less one ulp clamped to [0, 100] (so 99.9 of 100000 is rank 99900, not 99901), the highest
 * equivalent value of the slot where the cumulative count first reaches max(n, 1). pct 0 gives the
 * lowest equivalent value of the smallest value (dd_hdr_min()), pct >= 100 the highest non-empty
 * slot's top (dd_hdr_max(), also beyond 2^53 values, where Java's double rank can fall short of the
 * total). 0 if empty.
 */
uint64_t dd_hdr_value_at_percentile(const struct dd_hdr *h, double pct);

/* Count in slot `i` (< h->counts_len). */
uint64_t dd_hdr_count_at_index(const struct dd_hdr *h, uint32_t i);

/* Lowest and highest value of slot `i` (< h->counts_len). */
uint64_t dd_hdr_lowest_at_index(const struct dd_hdr *h, uint32_t i);
uint64_t dd_hdr_highest_at_index(const struct dd_hdr *h, uint32_t i);

/*
 * Lowest and highest value equivalent to `v`, for v up to dd_hdr_highest_at_index(h,
 * h->counts_len - 1) (the slots reach a little past `highest`, to the end of its power of two).
 */
uint64_t dd_hdr_lowest_equivalent(const struct dd_hdr *h, uint64_t v);
uint64_t dd_hdr_highest_equivalent(const struct dd_hdr *h, uint64_t v);

/*
 * dst += src. Both must have the same lowest, highest and sigfigs, else -EINVAL and dst is
 * unchanged. Min, max and overflow combine. `src` may be live (snapshot it first for consistency);
 * `dst` must not be (only its owner may write it). Returns 0.
 */
int dd_hdr_add(struct dd_hdr *dst, const struct dd_hdr *src);

/*
 * dst -= src slot by slot, clamped at 0: the interval between two snapshots of a cumulative
 * histogram is later - earlier. Total, min and max are recomputed from the remaining counts (min
 * and max become slot bounds: the exact extremes of an interval are unknown); overflow subtracts,
 * clamped at 0. Same parameters required, else -EINVAL and dst is unchanged. Returns 0.
 */
int dd_hdr_subtract(struct dd_hdr *dst, const struct dd_hdr *src);

/* ---- iterators ---------------------------------------------------------------------------- */

/* One non-empty slot: the values [lo, hi] were recorded `count` times. */
struct dd_hdr_bucket {
	uint64_t lo;
	uint64_t hi;
	uint64_t count;
};

/* Walks the non-empty slots in value order (for bar charts). Fields are private. */
struct dd_hdr_iter {
	const struct dd_hdr *h;
	uint32_t next;
};

void dd_hdr_iter_init(struct dd_hdr_iter *it, const struct dd_hdr *h);

/* The next non-empty slot into *b; false at the end. */
bool dd_hdr_iter_next(struct dd_hdr_iter *it, struct dd_hdr_bucket *b);

/* One step of the percentile iteration. */
struct dd_hdr_pct {
	uint64_t value;      /* highest equivalent value of the slot reached */
	double percentile;   /* percentile level reported, 0..100 */
	uint64_t cumulative; /* values counted up to and including that slot */
	bool last;           /* the final step at 100% (no 1/(1-p) column) */
};

/*
 * HdrHistogram's PercentileIterator: steps start at 0% and halve their size each time the
 * remaining distance to 100% halves, with `ticks_per_half` steps per half distance; a slot that
 * crosses several levels is reported at each; a final step reports 100% at the max. The levels
 * are computed with Java's exact double operations, so the steps are the same; only past ~2^46
 * values, where Java's doubles stop making progress towards 100%, does this one end the
 * intermediate steps and go to the final one. Fields are private.
 */
struct dd_hdr_pct_iter {
	const struct dd_hdr *h;
	uint64_t total;
	uint64_t cumulative;
	uint32_t index;
	uint32_t ticks_per_half;
	double level;
	bool fresh;    /* index has not been added to cumulative yet */
	bool done;     /* the 100% step was returned */
};

/* ticks_per_half: 1..1000; 0 selects HdrHistogram's default, 5. Larger values are clamped. */
void dd_hdr_pct_iter_init(struct dd_hdr_pct_iter *it, const struct dd_hdr *h, unsigned ticks_per_half);

/* The next step into *out; false at the end (at once for an empty histogram). */
bool dd_hdr_pct_iter_next(struct dd_hdr_pct_iter *it, struct dd_hdr_pct *out);

/*
 * Print the percentile distribution exactly as HdrHistogram's outputPercentileDistribution()
 * (Java, plain-text form): the header line, one line per percentile step with values divided by
 * `unit_ratio` (1.0 prints ns, 1000.0 us) to h->sigfigs decimals, and the Mean/StdDeviation,
 * Max/Total count and Buckets/SubBuckets footer. Numbers are formatted as Java's Formatter does
 * (decimal half-up rounding of the shortest representation, which differs from printf's on ties).
 * ticks_per_half as for dd_hdr_pct_iter_init(). Returns 0, -EINVAL if unit_ratio is not a positive
 * finite number, or -EIO if writing failed.
 */
int dd_hdr_percentiles_print(const struct dd_hdr *h, FILE *f, unsigned ticks_per_half, double unit_ratio);

/* ---- HdrHistogram V2 encoding ------------------------------------------------------------- */

/*
 * The V2 encoding (big-endian):
 *   uncompressed: cookie 0x1c849313 (V2 base 0x1c849303 | 0x10, as HdrHistogram writes it),
 *                 int32 payload length, int32 normalizing index offset (0), int32 significant
 *                 figures, int64 lowest, int64 highest, IEEE double conversion ratio (1.0): 40
 *                 bytes; then counts[0 .. index of max] as ZigZag LEB128 (64-bit, at most 9
 *                 bytes), a run of k >= 2 empty slots written as the single value -k;
 *   compressed:   cookie 0x1c849314, int32 length of what follows, then the uncompressed encoding
 *                 deflated in zlib format.
 */
#define DD_HDR_V2_COOKIE            0x1c849313u
#define DD_HDR_V2_COMPRESSED_COOKIE 0x1c849314u
#define DD_HDR_V2_HEADER_SIZE       40u
#define DD_HDR_ZIGZAG_MAX           9u /* bytes of one encoded value at most */

/* Write `v` ZigZag LEB128-64b9B at `p` (room for DD_HDR_ZIGZAG_MAX bytes); returns bytes written. */
size_t dd_hdr_zigzag_put(uint8_t *p, int64_t v);

/* Read one value from the `len` bytes at `p` into *v; returns bytes read (1..9), -EINVAL if truncated. */
int dd_hdr_zigzag_get(const uint8_t *p, size_t len, int64_t *v);

/*
 * Encode `h` (a snapshot or private histogram) into a malloc'ed buffer *out of *len bytes: the
 * uncompressed form, or the compressed one (zlib level 9, as HistogramLogWriter). The caller frees
 * *out. Returns 0, -ENOMEM, or -ERANGE if a count exceeds INT64_MAX (not encodable).
 */
int dd_hdr_encode_v2(const struct dd_hdr *h, uint8_t **out, size_t *len);
int dd_hdr_encode_v2_compressed(const struct dd_hdr *h, uint8_t **out, size_t *len);

/*
 * Decode either V2 form (told apart by the cookie) into a new histogram *out (free it with
 * dd_hdr_free()). The input is untrusted: every length and run is checked. Returns 0; -EINVAL if
 * it is not a well-formed V2 histogram; -ENOTSUP for what is valid HdrHistogram but cannot be
 * represented here (V0/V1 cookies, a non-zero normalizing index offset, a conversion ratio other
 * than 1.0, i.e. a DoubleHistogram); -ENOMEM.
 */
int dd_hdr_decode_v2(const uint8_t *buf, size_t len, struct dd_hdr **out);

/* Characters of the base64 encoding of `n` bytes (standard alphabet, '=' padded), without a NUL. */
size_t dd_hdr_base64_len(size_t n);

/* Base64-encode `n` bytes at `in` into `out` (dd_hdr_base64_len(n) + 1 bytes: it is NUL-terminated). */
void dd_hdr_base64_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decode `n` base64 characters (standard alphabet, padded, no whitespace) into `out` (room for
 * `cap` bytes); *outlen gets the bytes written. Returns 0, -EINVAL for malformed input, -ENOSPC if
 * `cap` is too small (n / 4 * 3 always suffices).
 */
int dd_hdr_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* ---- HdrHistogram interval log (.hlog) ---------------------------------------------------- */

#define DD_HDR_TAG_MAX 63 /* characters of a log tag at most */

/*
 * Write the head of an interval log as HistogramLogWriter does (outputLogFormatVersion,
 * outputStartTime, outputBaseTime, outputLegend):
 *   #[Histogram log format version 1.3]
 *   #[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]
 *   #[BaseTime: 1700000000.123 (seconds since epoch)]
 *   "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
 * start_time_s is rounded to the millisecond; the date is in the local time zone, as Java's
 * Date.toString(). Interval start times are then relative to it. Returns 0, -EINVAL, or -EIO.
 */
int dd_hdr_log_header(FILE *f, double start_time_s);

/*
 * Write one interval line as HistogramLogWriter.outputIntervalHistogram():
 *   Tag=NAME,start,length,max,base64    (no "Tag=NAME," when tag is NULL or "")
 * start_s and length_s in seconds and dd_hdr_max(h) / max_unit_ratio, each with 3 decimals, then
 * the base64 of the compressed V2 encoding. The tag may not contain ',', ' ', '\r' or '\n' and is
 * at most DD_HDR_TAG_MAX characters. Returns 0, -EINVAL, -ENOMEM, -ERANGE (see encode) or -EIO.
 */
int dd_hdr_log_interval(FILE *f, const char *tag, double start_s, double length_s,
			const struct dd_hdr *h, double max_unit_ratio);

enum dd_hdr_log_kind {
	DD_HDR_LOG_BLANK,      /* empty line */
	DD_HDR_LOG_COMMENT,    /* any other '#' line (the format version among them) */
	DD_HDR_LOG_START_TIME, /* #[StartTime: ...]: time_s */
	DD_HDR_LOG_BASE_TIME,  /* #[BaseTime: ...]: time_s */
	DD_HDR_LOG_LEGEND,     /* "StartTimestamp",... */
	DD_HDR_LOG_INTERVAL,   /* tag, start_s, length_s, max, h */
};

struct dd_hdr_log_entry {
	enum dd_hdr_log_kind kind;
	char tag[DD_HDR_TAG_MAX + 1]; /* "" when the interval has no tag */
	double time_s;
	double start_s;
	double length_s;
	double max;                   /* as written: already divided by the writer's unit ratio */
	struct dd_hdr *h;             /* the decoded interval histogram; the caller dd_hdr_free()s it */
};

/*
 * Parse one line of an interval log (with or without its line end). For an interval line the
 * histogram is decoded into e->h (NULL for other kinds). Returns 0; -EINVAL for a malformed line
 * (or an over-long tag), or any error of dd_hdr_decode_v2(); on error e->h is NULL.
 */
int dd_hdr_log_read_line(const char *line, struct dd_hdr_log_entry *e);

#endif /* DD_SHM_HDR_H */
