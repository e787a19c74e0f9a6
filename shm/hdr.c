/* SPDX-License-Identifier: MIT */
#include "shm/hdr.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZLIB_CONST /* next_in is const: we decode from the caller's read-only buffer */
#include <zlib.h>

/*
 * Readers and the control-plane functions read shared words with these. Relaxed: they pair with
 * the writer's relaxed stores in dd_hdr_record_n(); a statistic needs an untorn word, not an order
 * between words (see the concurrency note in hdr.h).
 */
static inline uint64_t ld(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Relaxed: the caller is the only writer of the word (the owner, or a private copy). */
static inline void st(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

/* ---- bucket configuration ------------------------------------------------------------------- */

struct cfg {
	uint8_t unit;     /* unit_magnitude */
	uint8_t half_mag; /* sub_bucket_half_count_magnitude */
	uint32_t sub_bucket_count;
	uint32_t bucket_count;
	uint32_t counts_len;
	uint64_t mask;
};

/*
 * HdrHistogram's bucket configuration. Java computes the two logarithms in floating point
 * (ceil(log(2 * 10^s) / log 2) and floor(log(lowest) / log 2)); for every accepted input the integer
 * forms below give the same results (2 * 10^s is never a power of two for s >= 1, and the floating
 * quotient is exact at powers of two up to 2^62).
 */
static int configure(const struct dd_hdr_params *p, struct cfg *c)
{
	if (p == NULL || p->lowest < 1 || p->sigfigs > 5 || p->highest > (uint64_t)INT64_MAX ||
	    p->lowest > p->highest / 2)
		return -EINVAL;

	uint64_t largest_single_unit = 2;
	for (uint32_t i = 0; i < p->sigfigs; i++)
		largest_single_unit *= 10;
	unsigned count_mag = 0;
	while ((1ull << count_mag) < largest_single_unit)
		count_mag++;
	c->half_mag = (uint8_t)((count_mag > 1 ? count_mag : 1) - 1);
	c->unit = (uint8_t)(63 - __builtin_clzll(p->lowest));
	if (c->unit + c->half_mag > 61)
		return -EINVAL;
	c->sub_bucket_count = 1u << (c->half_mag + 1);
	c->mask = (uint64_t)(c->sub_bucket_count - 1) << c->unit;

	/* Powers of two needed to cover `highest`, as getBucketsNeededToCoverValue(). */
	uint64_t untrackable = (uint64_t)c->sub_bucket_count << c->unit;
	uint32_t buckets = 1;
	while (untrackable <= p->highest) {
		if (untrackable > (uint64_t)INT64_MAX / 2) {
			buckets++;
			break;
		}
		untrackable <<= 1;
		buckets++;
	}
	c->bucket_count = buckets;
	c->counts_len = (buckets + 1) * (c->sub_bucket_count / 2);
	return 0;
}

static size_t memsize_of(const struct cfg *c)
{
	size_t n = DD_HDR_HEADER_SIZE + (size_t)c->counts_len * sizeof(uint64_t);
	return (n + DD_HDR_ALIGN - 1) & ~(size_t)(DD_HDR_ALIGN - 1);
}

size_t dd_hdr_memsize(const struct dd_hdr_params *p)
{
	struct cfg c;

	if (configure(p, &c) != 0)
		return 0;
	return memsize_of(&c);
}

/* Writes every field but `magic`, which the caller publishes last. */
static void write_header(struct dd_hdr *h, const struct dd_hdr_params *p, const struct cfg *c)
{
	h->version_major = DD_HDR_VERSION_MAJOR;
	h->version_minor = DD_HDR_VERSION_MINOR;
	h->memsize = memsize_of(c);
	h->lowest = p->lowest;
	h->highest = p->highest;
	h->sub_bucket_mask = c->mask;
	h->sigfigs = (uint8_t)p->sigfigs;
	h->unit_magnitude = c->unit;
	h->sub_bucket_half_count_magnitude = c->half_mag;
	h->lzc_base = (uint8_t)(63 - c->unit - c->half_mag);
	h->sub_bucket_count = c->sub_bucket_count;
	h->bucket_count = c->bucket_count;
	h->counts_len = c->counts_len;
	h->reserved0 = 0;
	memset(h->reserved1, 0, sizeof(h->reserved1));
}

static void publish(struct dd_hdr *h)
{
	/* Release: pairs with the acquire in dd_hdr_check(); a reader that sees the magic sees the
	 * parameters and the zeroed counts written before it. */
	atomic_store_explicit(&h->magic, DD_HDR_MAGIC, memory_order_release);
}

__attribute__((cold)) int dd_hdr_init(void *mem, size_t len, const struct dd_hdr_params *p)
{
	struct cfg c;
	int rc = configure(p, &c);

	if (rc != 0)
		return rc;
	if (mem == NULL || ((uintptr_t)mem & (DD_HDR_ALIGN - 1)) != 0 || len < memsize_of(&c))
		return -EINVAL;
	struct dd_hdr *h = mem;
	/* Relaxed: nobody may read the block before publish() below. */
	atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	write_header(h, p, &c);
	dd_hdr_reset(h);
	publish(h);
	return 0;
}

/* The parameters as a struct, from a header whose magic the caller has checked. */
static void params_of(const struct dd_hdr *h, struct dd_hdr_params *p)
{
	p->lowest = h->lowest;
	p->highest = h->highest;
	p->sigfigs = h->sigfigs;
}

void dd_hdr_params_of(const struct dd_hdr *h, struct dd_hdr_params *p)
{
	params_of(h, p);
}

__attribute__((cold)) int dd_hdr_check(const struct dd_hdr *h, size_t len)
{
	struct dd_hdr_params p;
	struct cfg c;

	if (h == NULL || len < DD_HDR_HEADER_SIZE)
		return -EINVAL;
	/* Acquire: pairs with the release in publish(). */
	if (atomic_load_explicit(&h->magic, memory_order_acquire) != DD_HDR_MAGIC)
		return -ENODATA;
	if (h->version_major != DD_HDR_VERSION_MAJOR)
		return -EPROTO;
	params_of(h, &p);
	if (configure(&p, &c) != 0 || h->memsize != memsize_of(&c) || h->memsize > len ||
	    h->sub_bucket_mask != c.mask || h->unit_magnitude != c.unit ||
	    h->sub_bucket_half_count_magnitude != c.half_mag ||
	    h->lzc_base != 63 - c.unit - c.half_mag || h->sub_bucket_count != c.sub_bucket_count ||
	    h->bucket_count != c.bucket_count || h->counts_len != c.counts_len)
		return -EINVAL;
	return 0;
}

__attribute__((cold)) int dd_hdr_create(const struct dd_hdr_params *p, struct dd_hdr **out)
{
	size_t len = dd_hdr_memsize(p);

	if (len == 0)
		return -EINVAL;
	void *mem = aligned_alloc(DD_HDR_ALIGN, len);
	if (mem == NULL)
		return -ENOMEM;
	int rc = dd_hdr_init(mem, len, p);
	if (rc != 0) {
		free(mem);
		return rc;
	}
	*out = mem;
	return 0;
}

void dd_hdr_free(struct dd_hdr *h)
{
	free(h);
}

void dd_hdr_reset(struct dd_hdr *h)
{
	for (uint32_t i = 0; i < h->counts_len; i++)
		st(&h->counts[i], 0);
	st(&h->total, 0);
	st(&h->min, UINT64_MAX);
	st(&h->max, 0);
	st(&h->overflow, 0);
}

/* ---- value arithmetic ----------------------------------------------------------------------- */

uint64_t dd_hdr_lowest_at_index(const struct dd_hdr *h, uint32_t i)
{
	uint32_t half = h->sub_bucket_count / 2;
	int32_t bucket = (int32_t)(i >> h->sub_bucket_half_count_magnitude) - 1;
	uint64_t sub = (i & (half - 1)) + half;

	if (bucket < 0) {
		sub -= half;
		bucket = 0;
	}
	return sub << (bucket + h->unit_magnitude);
}

/* Width of slot `i`: 2^(unit + bucket), bucket 0 for both halves of the first bucket. */
static uint64_t width_at_index(const struct dd_hdr *h, uint32_t i)
{
	uint32_t bucket = i >> h->sub_bucket_half_count_magnitude;

	return 1ull << ((bucket > 0 ? bucket - 1 : 0) + h->unit_magnitude);
}

uint64_t dd_hdr_highest_at_index(const struct dd_hdr *h, uint32_t i)
{
	return dd_hdr_lowest_at_index(h, i) + width_at_index(h, i) - 1;
}

static uint64_t median_at_index(const struct dd_hdr *h, uint32_t i)
{
	return dd_hdr_lowest_at_index(h, i) + (width_at_index(h, i) >> 1);
}

uint64_t dd_hdr_lowest_equivalent(const struct dd_hdr *h, uint64_t v)
{
	return dd_hdr_lowest_at_index(h, dd_hdr_index_of(h, v));
}

uint64_t dd_hdr_highest_equivalent(const struct dd_hdr *h, uint64_t v)
{
	return dd_hdr_highest_at_index(h, dd_hdr_index_of(h, v));
}

/* ---- reading -------------------------------------------------------------------------------- */

uint64_t dd_hdr_total(const struct dd_hdr *h)
{
	return ld(&h->total);
}

uint64_t dd_hdr_overflow(const struct dd_hdr *h)
{
	return ld(&h->overflow);
}

uint64_t dd_hdr_count_at_index(const struct dd_hdr *h, uint32_t i)
{
	return ld(&h->counts[i]);
}

uint64_t dd_hdr_min_recorded(const struct dd_hdr *h)
{
	return ld(&h->min);
}

uint64_t dd_hdr_max_recorded(const struct dd_hdr *h)
{
	return ld(&h->max);
}

/* The top of the last slot: counts[] covers a little more than `highest` (up to the end of its
 * power of two), and a decoded histogram may hold counts up there. */
static uint64_t top_value(const struct dd_hdr *h)
{
	return dd_hdr_highest_at_index(h, h->counts_len - 1);
}

uint64_t dd_hdr_min(const struct dd_hdr *h)
{
	uint64_t v = ld(&h->min);

	if (ld(&h->total) == 0 || v > top_value(h))
		return 0;
	return dd_hdr_lowest_equivalent(h, v);
}

uint64_t dd_hdr_max(const struct dd_hdr *h)
{
	uint64_t v = ld(&h->max);

	if (v == 0)
		return 0;
	return dd_hdr_highest_equivalent(h, v > top_value(h) ? top_value(h) : v);
}

/*
 * Min and max from the counts alone, as HdrHistogram's establishInternalTackingValues(): the
 * bounds of the lowest and highest non-empty slots. With `keep`, the recorded extremes keep_min and
 * keep_max stay when they fall in those slots (they are then exact).
 */
static void extremes_from_counts(struct dd_hdr *h, bool keep, uint64_t keep_min, uint64_t keep_max)
{
	uint32_t lo = UINT32_MAX, hi = 0;
	bool any = false;

	for (uint32_t i = 0; i < h->counts_len; i++) {
		if (ld(&h->counts[i]) != 0) {
			if (!any)
				lo = i;
			hi = i;
			any = true;
		}
	}
	if (!any) {
		st(&h->min, UINT64_MAX);
		st(&h->max, 0);
		return;
	}
	bool min_ok = keep && keep_min <= top_value(h) && dd_hdr_index_of(h, keep_min) == lo;
	bool max_ok = keep && keep_max <= top_value(h) && dd_hdr_index_of(h, keep_max) == hi;
	st(&h->min, min_ok ? keep_min : dd_hdr_lowest_at_index(h, lo));
	st(&h->max, max_ok ? keep_max : dd_hdr_highest_at_index(h, hi));
}

static uint64_t sum_counts(const struct dd_hdr *h)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < h->counts_len; i++)
		sum += ld(&h->counts[i]);
	return sum;
}

int dd_hdr_snapshot(const struct dd_hdr *src, struct dd_hdr *dst, size_t dst_len)
{
	struct dd_hdr_params p;
	struct cfg c;

	/* Acquire: pairs with the release in publish(), as in dd_hdr_check(). */
	if (atomic_load_explicit(&src->magic, memory_order_acquire) != DD_HDR_MAGIC ||
	    src->version_major != DD_HDR_VERSION_MAJOR)
		return -EINVAL;
	params_of(src, &p);
	if (configure(&p, &c) != 0 || c.counts_len != src->counts_len || dd_hdr_memsize(&p) > dst_len)
		return -EINVAL;
	atomic_store_explicit(&dst->magic, 0, memory_order_relaxed); /* private: no reader yet */
	write_header(dst, &p, &c);
	/* The extremes are read before the counts: a value recorded after this load and before its
	 * count is copied then shows as a count without its extreme, which extremes_from_counts()
	 * repairs with the slot bound. */
	uint64_t min = ld(&src->min), max = ld(&src->max);
	uint64_t total = 0;
	for (uint32_t i = 0; i < c.counts_len; i++) {
		uint64_t n = ld(&src->counts[i]);
		st(&dst->counts[i], n);
		total += n;
	}
	st(&dst->total, total);
	st(&dst->overflow, ld(&src->overflow));
	extremes_from_counts(dst, true, min, max);
	publish(dst);
	return 0;
}

static bool same_params(const struct dd_hdr *a, const struct dd_hdr *b)
{
	return a->lowest == b->lowest && a->highest == b->highest && a->sigfigs == b->sigfigs &&
	       a->counts_len == b->counts_len;
}

int dd_hdr_add(struct dd_hdr *dst, const struct dd_hdr *src)
{
	if (!same_params(dst, src))
		return -EINVAL;
	uint64_t added = 0;
	for (uint32_t i = 0; i < dst->counts_len; i++) {
		uint64_t n = ld(&src->counts[i]);
		if (n != 0) {
			st(&dst->counts[i], ld(&dst->counts[i]) + n);
			added += n;
		}
	}
	st(&dst->total, ld(&dst->total) + added);
	st(&dst->overflow, ld(&dst->overflow) + ld(&src->overflow));
	uint64_t smin = ld(&src->min), smax = ld(&src->max);
	if (smin < ld(&dst->min))
		st(&dst->min, smin);
	if (smax > ld(&dst->max))
		st(&dst->max, smax);
	return 0;
}

int dd_hdr_subtract(struct dd_hdr *dst, const struct dd_hdr *src)
{
	if (!same_params(dst, src))
		return -EINVAL;
	for (uint32_t i = 0; i < dst->counts_len; i++) {
		uint64_t d = ld(&dst->counts[i]), s = ld(&src->counts[i]);
		st(&dst->counts[i], d > s ? d - s : 0);
	}
	uint64_t dov = ld(&dst->overflow), sov = ld(&src->overflow);
	st(&dst->overflow, dov > sov ? dov - sov : 0);
	st(&dst->total, sum_counts(dst));
	extremes_from_counts(dst, false, 0, 0);
	return 0;
}

uint64_t dd_hdr_value_at_percentile(const struct dd_hdr *h, double pct)
{
	/* Less one ulp, so that a percentile whose product with the total should be an integer but
	 * rounds just above it (99.9 * 100000 / 100 = 99900.00000000001) is not pushed to the next
	 * rank; then the same arithmetic as getValueAtPercentile(). */
	double req = fmin(fmax(nextafter(pct, -INFINITY), 0.0), 100.0);
	uint64_t total = ld(&h->total);
	double fp = (req * (double)total) / 100.0;
	uint64_t want = (uint64_t)ceil(fp);
	uint64_t cum = 0;
	uint32_t last = UINT32_MAX;

	if (want < 1)
		want = 1;
	/* 100% is the max whatever the rounding (beyond 2^53 values Java's double rank can fall
	 * short of the total and land below the top slot). */
	if (pct >= 100.0 || want > total)
		want = total;
	for (uint32_t i = 0; i < h->counts_len; i++) {
		uint64_t n = ld(&h->counts[i]);
		if (n == 0)
			continue;
		cum += n;
		last = i;
		if (cum >= want)
			return pct == 0.0 ? dd_hdr_lowest_at_index(h, i) : dd_hdr_highest_at_index(h, i);
	}
	/* Only a live histogram whose total ran ahead of its counts gets here. */
	return last == UINT32_MAX ? 0 : dd_hdr_highest_at_index(h, last);
}

/* Summed in index order with the same operations as Java's getMean(), for identical doubles. */
double dd_hdr_mean(const struct dd_hdr *h)
{
	uint64_t total = ld(&h->total);
	double sum = 0.0;

	if (total == 0)
		return 0.0;
	for (uint32_t i = 0; i < h->counts_len; i++) {
		uint64_t n = ld(&h->counts[i]);
		if (n != 0)
			sum += (double)median_at_index(h, i) * (double)n;
	}
	return sum / (double)total;
}

double dd_hdr_stddev(const struct dd_hdr *h)
{
	uint64_t total = ld(&h->total);
	double mean, dev_sum = 0.0;

	if (total == 0)
		return 0.0;
	mean = dd_hdr_mean(h);
	for (uint32_t i = 0; i < h->counts_len; i++) {
		uint64_t n = ld(&h->counts[i]);
		if (n != 0) {
			double dev = (double)median_at_index(h, i) - mean;
			dev_sum += (dev * dev) * (double)n;
		}
	}
	return sqrt(dev_sum / (double)total);
}

/* ---- iterators ------------------------------------------------------------------------------ */

void dd_hdr_iter_init(struct dd_hdr_iter *it, const struct dd_hdr *h)
{
	it->h = h;
	it->next = 0;
}

bool dd_hdr_iter_next(struct dd_hdr_iter *it, struct dd_hdr_bucket *b)
{
	const struct dd_hdr *h = it->h;

	while (it->next < h->counts_len) {
		uint32_t i = it->next++;
		uint64_t n = ld(&h->counts[i]);
		if (n != 0) {
			b->lo = dd_hdr_lowest_at_index(h, i);
			b->hi = dd_hdr_highest_at_index(h, i);
			b->count = n;
			return true;
		}
	}
	return false;
}

#define DEFAULT_TICKS 5u
#define MAX_TICKS     1000u
#define MAX_HALVINGS  50 /* 2^50 * MAX_TICKS fits in int64 */

void dd_hdr_pct_iter_init(struct dd_hdr_pct_iter *it, const struct dd_hdr *h, unsigned ticks_per_half)
{
	it->h = h;
	it->total = ld(&h->total);
	it->cumulative = 0;
	it->index = 0;
	it->ticks_per_half = ticks_per_half == 0 ? DEFAULT_TICKS
			     : ticks_per_half > MAX_TICKS ? MAX_TICKS : ticks_per_half;
	it->level = 0.0;
	it->fresh = true;
	it->done = false;
}

/*
 * PercentileIterator.incrementIterationLevel(): the tick size is constant within each half of the
 * remaining distance to 100%. Same operations as Java (log ratio truncated, then 2^(e+1) ticks),
 * so the levels are the same doubles.
 *
 * One departure: when the next level would not be above the current one, or would reach 100%,
 * the level becomes +infinity and no more intermediate steps are reported. That happens only once
 * 100% - level is within a few ulps of 100, i.e. with more than ~2^50 values (where 100 * count /
 * total rounds to 100 before the count reaches the total); there Java would report ever more steps
 * at one slot, creeping up one ulp at a time, and finally take the log of 1/0.
 */
static void next_level(struct dd_hdr_pct_iter *it)
{
	int64_t halvings = (int64_t)(log(100.0 / (100.0 - it->level)) / log(2.0)) + 1;

	if (halvings > MAX_HALVINGS)
		halvings = MAX_HALVINGS;
	int64_t ticks = (int64_t)it->ticks_per_half * (int64_t)pow(2.0, (double)halvings);
	double next = it->level + 100.0 / (double)ticks;
	it->level = next > it->level && next < 100.0 ? next : INFINITY;
}

bool dd_hdr_pct_iter_next(struct dd_hdr_pct_iter *it, struct dd_hdr_pct *out)
{
	const struct dd_hdr *h = it->h;
	bool last = false;

	if (it->done || it->total == 0)
		return false;
	if (it->cumulative >= it->total) {
		/* One more step, to 100%, at the slot where the count ran out (AbstractHistogramIterator
		 * stays on it: it is the highest non-empty slot). */
		it->level = 100.0;
		last = true;
	}
	while (it->index < h->counts_len) {
		uint64_t n = ld(&h->counts[it->index]);
		if (it->fresh) {
			it->cumulative += n;
			it->fresh = false;
		}
		/* 100% and the infinite level are reached when the count is; comparing doubles there
		 * would miss it beyond 2^46 values or so, where 100 * n / n need not be exactly 100. */
		bool reached = last || isinf(it->level)
				       ? it->cumulative >= it->total
				       : (100.0 * (double)it->cumulative) / (double)it->total >= it->level;
		if (n != 0 && reached) {
			if (isinf(it->level)) {
				it->level = 100.0;
				last = true;
			}
			out->value = dd_hdr_highest_at_index(h, it->index);
			out->percentile = it->level;
			out->cumulative = it->cumulative;
			out->last = last;
			if (last)
				it->done = true;
			else
				next_level(it);
			return true;
		}
		it->index++;
		it->fresh = true;
	}
	/* Counts summed short of the total: a live histogram read mid-update. */
	it->done = true;
	return false;
}

/* ---- Java-compatible number formatting ------------------------------------------------------ */

/*
 * HdrHistogram's reference output comes from java.util.Formatter, whose %.Nf rounds the shortest
 * decimal that reads back as the double (Double.toString's digits) half-up, where printf rounds
 * the exact binary value half-even. They differ on ties: 1001 / 2000.0 is 0.50049999999999994...
 * in binary, printed "0.500" by printf and "0.501" by Java. To print exactly what Java prints, take
 * the shortest round-trip digits from printf's %.*e and round those half-up.
 * Writes the number right-aligned in `width` into out (room for cap bytes); returns its length.
 */
static size_t jfmt(char *out, size_t cap, double v, int width, int prec)
{
	char tmp[40], body[400];
	char dig[24];
	int nd = 0, point, len = 0;
	bool neg = signbit(v) != 0;

	if (isnan(v) || isinf(v)) {
		snprintf(body, sizeof(body), "%s", isnan(v) ? "NaN" : neg ? "-Infinity" : "Infinity");
		len = (int)strlen(body);
	} else {
		if (neg)
			v = -v;
		if (v == 0.0) {
			dig[nd++] = '0';
			point = 1;
		} else {
			for (int p = 1; p <= 17; p++) {
				snprintf(tmp, sizeof(tmp), "%.*e", p - 1, v);
				if (strtod(tmp, NULL) == v)
					break;
			}
			/* tmp is d[.ddd]e±XX; the locale's decimal point is whatever is not a digit */
			char *e = strchr(tmp, 'e');
			for (char *q = tmp; q < e; q++)
				if (*q >= '0' && *q <= '9')
					dig[nd++] = *q;
			point = atoi(e + 1) + 1; /* digits before the decimal point */
		}
		/* Round half-up to `prec` decimals: keep the first point + prec digits. */
		int keep = point + prec;
		if (keep < 0) {
			nd = 0;
		} else if (keep < nd) {
			bool up = dig[keep] >= '5';
			nd = keep;
			for (int i = nd - 1; up && i >= 0; i--) {
				if (dig[i] == '9') {
					dig[i] = '0';
				} else {
					dig[i]++;
					up = false;
				}
			}
			if (up) {
				memmove(dig + 1, dig, (size_t)nd);
				dig[0] = '1';
				nd++;
				point++;
			}
		}
		if (neg)
			body[len++] = '-';
		if (point <= 0) {
			body[len++] = '0';
		} else {
			for (int i = 0; i < point && len < (int)sizeof(body) - 24; i++)
				body[len++] = i < nd ? dig[i] : '0';
		}
		if (prec > 0) {
			body[len++] = '.';
			for (int k = 0; k < prec; k++) {
				int i = point + k;
				body[len++] = i >= 0 && i < nd ? dig[i] : '0';
			}
		}
		body[len] = '\0';
	}
	int pad = width > len ? width - len : 0;
	int n = snprintf(out, cap, "%*s%s", pad, "", body);
	return n < 0 ? 0 : (size_t)n;
}

/* ---- percentile text ------------------------------------------------------------------------ */

int dd_hdr_percentiles_print(const struct dd_hdr *h, FILE *f, unsigned ticks_per_half, double unit_ratio)
{
	struct dd_hdr_pct_iter it;
	struct dd_hdr_pct s;
	char a[64], b[64], c[64];
	int prec = h->sigfigs;

	if (!(unit_ratio > 0.0) || isinf(unit_ratio))
		return -EINVAL;
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
	dd_hdr_pct_iter_init(&it, h, ticks_per_half);
	while (dd_hdr_pct_iter_next(&it, &s)) {
		double p = s.percentile / 100.0;
		jfmt(a, sizeof(a), (double)s.value / unit_ratio, 12, prec);
		jfmt(b, sizeof(b), p, 2, 12);
		if (s.last) {
			fprintf(f, "%s %s %10" PRIu64 "\n", a, b, s.cumulative);
		} else {
			jfmt(c, sizeof(c), 1.0 / (1.0 - p), 14, 2);
			fprintf(f, "%s %s %10" PRIu64 " %s\n", a, b, s.cumulative, c);
		}
	}
	jfmt(a, sizeof(a), dd_hdr_mean(h) / unit_ratio, 12, prec);
	jfmt(b, sizeof(b), dd_hdr_stddev(h) / unit_ratio, 12, prec);
	fprintf(f, "#[Mean    = %s, StdDeviation   = %s]\n", a, b);
	jfmt(a, sizeof(a), (double)dd_hdr_max(h) / unit_ratio, 12, prec);
	fprintf(f, "#[Max     = %s, Total count    = %12" PRIu64 "]\n", a, dd_hdr_total(h));
	fprintf(f, "#[Buckets = %12" PRIu32 ", SubBuckets     = %12" PRIu32 "]\n", h->bucket_count,
		h->sub_bucket_count);
	return ferror(f) ? -EIO : 0;
}

/* ---- ZigZag LEB128-64b9B -------------------------------------------------------------------- */

/*
 * HdrHistogram's variant of LEB128: 7 bits per byte, low group first, high bit = more follows,
 * but the 9th byte carries a full 8 bits, so 64 bits take at most 9 bytes (not 10). ZigZag maps
 * 0, -1, 1, -2 ... to 0, 1, 2, 3 ... so that short zero runs (negative) stay short too.
 */
size_t dd_hdr_zigzag_put(uint8_t *p, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));

	for (size_t i = 0; i < 8; i++) {
		if ((u >> 7) == 0) {
			p[i] = (uint8_t)u;
			return i + 1;
		}
		p[i] = (uint8_t)((u & 0x7f) | 0x80);
		u >>= 7;
	}
	p[8] = (uint8_t)u;
	return 9;
}

int dd_hdr_zigzag_get(const uint8_t *p, size_t len, int64_t *v)
{
	uint64_t u = 0;
	int n = 0;

	for (int i = 0; i < 8 && n == 0; i++) {
		if ((size_t)i >= len)
			return -EINVAL;
		u |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0)
			n = i + 1;
	}
	if (n == 0) {
		if (len < 9)
			return -EINVAL;
		u |= (uint64_t)p[8] << 56;
		n = 9;
	}
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return n;
}

/* ---- V2 encoding ---------------------------------------------------------------------------- */

#define V2_COOKIE_BASE            0x1c849303u
#define V2_COMPRESSED_COOKIE_BASE 0x1c849304u
#define V1_COOKIE_BASE            0x1c849301u
#define V1_COMPRESSED_COOKIE_BASE 0x1c849302u
#define V0_COOKIE_BASE            0x1c849308u
#define V0_COMPRESSED_COOKIE_BASE 0x1c849309u
#define COMPRESSED_HEADER_SIZE    8u
#define ONE_AS_DOUBLE_BITS        0x3ff0000000000000ull

/* HdrHistogram keeps the word size in bits 4-7 of a cookie; the base is the rest. */
static uint32_t cookie_base(uint32_t cookie)
{
	return cookie & ~0xf0u;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

int dd_hdr_encode_v2(const struct dd_hdr *h, uint8_t **out, size_t *len)
{
	/* Counts up to the highest non-empty slot, as fillBufferFromCountsArray() (which stops at
	 * the index of maxValue); an empty histogram encodes its slot 0, a single zero. */
	uint32_t limit = 1;
	for (uint32_t i = 0; i < h->counts_len; i++) {
		uint64_t n = ld(&h->counts[i]);
		if (n > (uint64_t)INT64_MAX)
			return -ERANGE;
		if (n != 0)
			limit = i + 1;
	}
	uint8_t *buf = malloc(DD_HDR_V2_HEADER_SIZE + (size_t)limit * DD_HDR_ZIGZAG_MAX);
	if (buf == NULL)
		return -ENOMEM;

	size_t pos = DD_HDR_V2_HEADER_SIZE;
	for (uint32_t i = 0; i < limit;) {
		uint64_t n = ld(&h->counts[i++]);
		if (n != 0) {
			pos += dd_hdr_zigzag_put(buf + pos, (int64_t)n);
			continue;
		}
		/* A lone empty slot is written as 0, a run of k >= 2 as -k: Java's choice (the C port
		 * writes -1 for a lone one; every decoder reads both). */
		int64_t zeros = 1;
		while (i < limit && ld(&h->counts[i]) == 0) {
			zeros++;
			i++;
		}
		pos += dd_hdr_zigzag_put(buf + pos, zeros > 1 ? -zeros : 0);
	}
	put_be32(buf, DD_HDR_V2_COOKIE);
	put_be32(buf + 4, (uint32_t)(pos - DD_HDR_V2_HEADER_SIZE));
	put_be32(buf + 8, 0);
	put_be32(buf + 12, h->sigfigs);
	put_be64(buf + 16, h->lowest);
	put_be64(buf + 24, h->highest);
	put_be64(buf + 32, ONE_AS_DOUBLE_BITS);
	*out = buf;
	*len = pos;
	return 0;
}

int dd_hdr_encode_v2_compressed(const struct dd_hdr *h, uint8_t **out, size_t *len)
{
	uint8_t *plain, *buf;
	size_t plen;
	int rc = dd_hdr_encode_v2(h, &plain, &plen);

	if (rc != 0)
		return rc;
	uLongf clen = compressBound((uLong)plen);
	buf = malloc(COMPRESSED_HEADER_SIZE + clen);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	/* Level 9: HistogramLogWriter deflates with Deflater.BEST_COMPRESSION. */
	int zrc = compress2(buf + COMPRESSED_HEADER_SIZE, &clen, plain, (uLong)plen, Z_BEST_COMPRESSION);
	if (zrc != Z_OK) {
		rc = zrc == Z_MEM_ERROR ? -ENOMEM : -EIO;
		goto err;
	}
	put_be32(buf, DD_HDR_V2_COMPRESSED_COOKIE);
	put_be32(buf + 4, (uint32_t)clen);
	free(plain);
	*out = buf;
	*len = COMPRESSED_HEADER_SIZE + clen;
	return 0;
err:
	free(buf);
	free(plain);
	return rc;
}

/* Parses and checks the 40-byte uncompressed header; *payload gets the payload length. */
static int parse_v2_header(const uint8_t *p, struct dd_hdr_params *params, uint32_t *payload)
{
	uint32_t cookie = get_be32(p);

	if (cookie_base(cookie) != V2_COOKIE_BASE)
		return cookie_base(cookie) == V1_COOKIE_BASE || cookie_base(cookie) == V0_COOKIE_BASE
			       ? -ENOTSUP : -EINVAL;
	uint32_t plen = get_be32(p + 4);
	uint32_t offset = get_be32(p + 8);
	uint32_t sigfigs = get_be32(p + 12);
	uint64_t lowest = get_be64(p + 16), highest = get_be64(p + 24);
	if (plen > (uint32_t)INT32_MAX)
		return -EINVAL;
	if (offset != 0 || get_be64(p + 32) != ONE_AS_DOUBLE_BITS)
		return -ENOTSUP;
	params->lowest = lowest;
	params->highest = highest;
	params->sigfigs = sigfigs;
	if (sigfigs > 5 || dd_hdr_memsize(params) == 0)
		return -EINVAL;
	*payload = plen;
	return 0;
}

/* Decodes an uncompressed V2 encoding of exactly `len` bytes. */
static int decode_plain(const uint8_t *buf, size_t len, struct dd_hdr **out)
{
	struct dd_hdr_params p;
	struct dd_hdr *h;
	uint32_t plen;
	int rc;

	if (len < DD_HDR_V2_HEADER_SIZE)
		return -EINVAL;
	if ((rc = parse_v2_header(buf, &p, &plen)) != 0)
		return rc;
	if (len - DD_HDR_V2_HEADER_SIZE != plen)
		return -EINVAL;
	if ((rc = dd_hdr_create(&p, &h)) != 0)
		return rc;

	const uint8_t *q = buf + DD_HDR_V2_HEADER_SIZE, *end = q + plen;
	uint64_t total = 0;
	uint32_t i = 0;
	while (q < end) {
		int64_t v;
		int n = dd_hdr_zigzag_get(q, (size_t)(end - q), &v);
		if (n < 0)
			goto bad;
		q += n;
		if (v < 0) {
			/* A run of -v empty slots; they are zero already. */
			if (v == INT64_MIN || (uint64_t)-v > h->counts_len - i)
				goto bad;
			i += (uint32_t)-v;
		} else {
			if (i >= h->counts_len || (uint64_t)v > (uint64_t)INT64_MAX - total)
				goto bad;
			st(&h->counts[i++], (uint64_t)v);
			total += (uint64_t)v;
		}
	}
	st(&h->total, total);
	extremes_from_counts(h, false, 0, 0);
	*out = h;
	return 0;
bad:
	dd_hdr_free(h);
	return -EINVAL;
}

/* Inflates into out[0 .. want) and requires the stream to end exactly there. */
static int inflate_exactly(z_stream *zs, uint8_t *out, size_t want, bool to_end)
{
	zs->next_out = out;
	zs->avail_out = (uInt)want;
	while (zs->avail_out > 0) {
		int zrc = inflate(zs, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END)
			break;
		if (zrc != Z_OK)
			return zrc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	if (zs->avail_out != 0)
		return -EINVAL; /* the stream ended early */
	if (!to_end)
		return 0;
	/* Everything inflated: the stream must end here, with no extra output. */
	uint8_t extra;
	zs->next_out = &extra;
	zs->avail_out = 1;
	int zrc = inflate(zs, Z_FINISH);
	return zrc == Z_STREAM_END && zs->avail_out == 1 && zs->avail_in == 0 ? 0 : -EINVAL;
}

static int decode_compressed(const uint8_t *buf, size_t len, struct dd_hdr **out)
{
	struct dd_hdr_params p;
	uint8_t head[DD_HDR_V2_HEADER_SIZE];
	uint8_t *plain = NULL;
	uint32_t plen;
	z_stream zs;
	int rc;

	/* The compressed length must account for every byte: what HdrHistogram writes does. */
	uint32_t clen = get_be32(buf + 4);
	if (clen != len - COMPRESSED_HEADER_SIZE)
		return -EINVAL;
	memset(&zs, 0, sizeof(zs));
	zs.next_in = buf + COMPRESSED_HEADER_SIZE;
	zs.avail_in = clen;
	if (inflateInit(&zs) != Z_OK)
		return -ENOMEM;
	if ((rc = inflate_exactly(&zs, head, sizeof(head), false)) != 0)
		goto out;
	if ((rc = parse_v2_header(head, &p, &plen)) != 0)
		goto out;
	/* Bound the allocation by what the counts can take (9 bytes each), not by what the
	 * untrusted length says. */
	struct cfg c;
	configure(&p, &c);
	if (plen > (uint64_t)c.counts_len * DD_HDR_ZIGZAG_MAX) {
		rc = -EINVAL;
		goto out;
	}
	plain = malloc(DD_HDR_V2_HEADER_SIZE + (size_t)plen);
	if (plain == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(plain, head, sizeof(head));
	if ((rc = inflate_exactly(&zs, plain + DD_HDR_V2_HEADER_SIZE, plen, true)) != 0)
		goto out;
	rc = decode_plain(plain, DD_HDR_V2_HEADER_SIZE + (size_t)plen, out);
out:
	inflateEnd(&zs);
	free(plain);
	return rc;
}

int dd_hdr_decode_v2(const uint8_t *buf, size_t len, struct dd_hdr **out)
{
	if (buf == NULL || len < COMPRESSED_HEADER_SIZE)
		return -EINVAL;
	uint32_t base = cookie_base(get_be32(buf));
	if (base == V2_COMPRESSED_COOKIE_BASE)
		return decode_compressed(buf, len, out);
	if (base == V2_COOKIE_BASE)
		return decode_plain(buf, len, out);
	if (base == V1_COOKIE_BASE || base == V1_COMPRESSED_COOKIE_BASE || base == V0_COOKIE_BASE ||
	    base == V0_COMPRESSED_COOKIE_BASE)
		return -ENOTSUP;
	return -EINVAL;
}

/* ---- base64 --------------------------------------------------------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t dd_hdr_base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void dd_hdr_base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[w >> 18];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = b64_alphabet[(w >> 6) & 63];
		out[o++] = b64_alphabet[w & 63];
	}
	if (n - i == 1) {
		uint32_t w = (uint32_t)in[i] << 16;
		out[o++] = b64_alphabet[w >> 18];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[w >> 18];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = b64_alphabet[(w >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int dd_hdr_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	if (n % 4 != 0)
		return -EINVAL;
	size_t pad = 0;
	if (n >= 4 && in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	size_t need = n / 4 * 3 - pad;
	if (need > cap)
		return -ENOSPC;

	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		bool final = i + 4 == n;
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = b64_value(in[i + k]);
			/* '=' only as the last one or two characters of the final group */
			if (v[k] < 0 && !(final && in[i + k] == '=' && k >= 4 - (int)pad))
				return -EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		if (final && pad == 2) {
			if ((w & 0xffff) != 0)
				return -EINVAL; /* bits past the last byte must be zero */
			out[o++] = (uint8_t)(w >> 16);
			break;
		}
		w |= (uint32_t)v[2] << 6;
		if (final && pad == 1) {
			if ((w & 0xff) != 0)
				return -EINVAL;
			out[o++] = (uint8_t)(w >> 16);
			out[o++] = (uint8_t)(w >> 8);
			break;
		}
		w |= (uint32_t)v[3];
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
		out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return 0;
}

/* ---- interval log --------------------------------------------------------------------------- */

__attribute__((cold)) int dd_hdr_log_header(FILE *f, double start_time_s)
{
	char secs[64], date[96];
	struct tm tm;

	if (!isfinite(start_time_s) || start_time_s < 0 || start_time_s > 1e12)
		return -EINVAL;
	/* Java logs a millisecond timestamp, startTimeMsec / 1000.0, and the Date it makes. */
	int64_t ms = llround(start_time_s * 1000.0);
	time_t t = (time_t)(ms / 1000);
	jfmt(secs, sizeof(secs), (double)ms / 1000.0, 0, 3);
	if (localtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%a %b %d %H:%M:%S %Z %Y", &tm) == 0)
		return -EINVAL;
	fprintf(f, "#[Histogram log format version 1.3]\n");
	fprintf(f, "#[StartTime: %s (seconds since epoch), %s]\n", secs, date);
	fprintf(f, "#[BaseTime: %s (seconds since epoch)]\n", secs);
	fprintf(f, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
	return ferror(f) ? -EIO : 0;
}

static bool tag_ok(const char *tag)
{
	size_t n = strlen(tag);

	return n <= DD_HDR_TAG_MAX && strpbrk(tag, ", \r\n") == NULL;
}

__attribute__((cold)) int dd_hdr_log_interval(FILE *f, const char *tag, double start_s, double length_s,
					      const struct dd_hdr *h, double max_unit_ratio)
{
	char a[64], b[64], c[64];
	uint8_t *enc;
	size_t len;

	if ((tag != NULL && !tag_ok(tag)) || !(max_unit_ratio > 0.0) || isinf(max_unit_ratio) ||
	    !isfinite(start_s) || !isfinite(length_s))
		return -EINVAL;
	int rc = dd_hdr_encode_v2_compressed(h, &enc, &len);
	if (rc != 0)
		return rc;
	char *text = malloc(dd_hdr_base64_len(len) + 1);
	if (text == NULL) {
		free(enc);
		return -ENOMEM;
	}
	dd_hdr_base64_encode(enc, len, text);
	jfmt(a, sizeof(a), start_s, 0, 3);
	jfmt(b, sizeof(b), length_s, 0, 3);
	jfmt(c, sizeof(c), (double)dd_hdr_max(h) / max_unit_ratio, 0, 3);
	if (tag != NULL && tag[0] != '\0')
		fprintf(f, "Tag=%s,%s,%s,%s,%s\n", tag, a, b, c, text);
	else
		fprintf(f, "%s,%s,%s,%s\n", a, b, c, text);
	free(text);
	free(enc);
	return ferror(f) ? -EIO : 0;
}

/* A number ending at a ',' (or at a space for the time comments): *p moves past it. */
static int parse_number(const char **p, char stop, double *out)
{
	char *end;

	if (**p == '\0' || **p == stop || **p == ' ')
		return -EINVAL;
	*out = strtod(*p, &end);
	if (end == *p || *end != stop || !isfinite(*out))
		return -EINVAL;
	*p = end + 1;
	return 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int dd_hdr_log_read_line(const char *line, struct dd_hdr_log_entry *e)
{
	memset(e, 0, sizeof(*e));
	size_t n = strcspn(line, "\r\n");
	if (n == 0) {
		e->kind = DD_HDR_LOG_BLANK;
		return 0;
	}
	if (line[0] == '#') {
		const char *p = line;
		if (starts_with(line, "#[StartTime: ")) {
			p += strlen("#[StartTime: ");
			e->kind = DD_HDR_LOG_START_TIME;
		} else if (starts_with(line, "#[BaseTime: ")) {
			p += strlen("#[BaseTime: ");
			e->kind = DD_HDR_LOG_BASE_TIME;
		} else {
			e->kind = DD_HDR_LOG_COMMENT;
			return 0;
		}
		return parse_number(&p, ' ', &e->time_s);
	}
	if (starts_with(line, "\"StartTimestamp\"")) {
		e->kind = DD_HDR_LOG_LEGEND;
		return 0;
	}

	const char *p = line;
	if (starts_with(line, "Tag=")) {
		p += 4;
		size_t tl = strcspn(p, ",\r\n");
		if (p[tl] != ',' || tl == 0 || tl > DD_HDR_TAG_MAX)
			return -EINVAL;
		memcpy(e->tag, p, tl);
		e->tag[tl] = '\0';
		p += tl + 1;
	}
	int rc;
	if ((rc = parse_number(&p, ',', &e->start_s)) != 0 || (rc = parse_number(&p, ',', &e->length_s)) != 0 ||
	    (rc = parse_number(&p, ',', &e->max)) != 0)
		return rc;
	size_t tl = strcspn(p, "\r\n");
	size_t cap = tl / 4 * 3, blen;
	uint8_t *bin = malloc(cap ? cap : 1);
	if (bin == NULL)
		return -ENOMEM;
	rc = dd_hdr_base64_decode(p, tl, bin, cap, &blen);
	if (rc == 0)
		rc = dd_hdr_decode_v2(bin, blen, &e->h);
	free(bin);
	if (rc != 0) {
		e->h = NULL;
		return rc == -ENOSPC ? -EINVAL : rc;
	}
	e->kind = DD_HDR_LOG_INTERVAL;
	return 0;
}
