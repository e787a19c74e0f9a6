/* SPDX-License-Identifier: MIT */
/*
 * bench_feed: the DPDK-free half of the hot path, measured without a NIC or a PMD in the way.
 *
 * A seeded synthetic ITCH day (tools/synth, drained so it can loop) is packed into MoldUDP64
 * datagrams in memory once; then each pass feeds every datagram through dd_feed_rx() (MoldUDP64
 * sequencing, ITCH decoding) into
 *   decode   a sink that only counts events,
 *   book     a sink that applies them to a dd_book (exactly what the run-to-completion lcore does).
 * Reports the median ns/message and messages/s over the passes, as JSON.
 *
 * usage: bench_feed [--messages N] [--instruments N] [--passes N] [--orders CAP] [--seed S] [--json FILE]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>

#include "dataplane/feed.h"
#include "dataplane/itch.h"
#include "ops/book.h"
#include "tools/molddg.h"
#include "tools/synth.h"

struct dgrams {
	uint8_t *buf;
	size_t *off;
	size_t n, len, cap;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
	if (p == NULL) {
		fprintf(stderr, "bench_feed: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static void push(struct dgrams *d, const uint8_t *p, size_t len)
{
	if (d->len + len > d->cap) {
		fprintf(stderr, "bench_feed: datagram buffer full\n");
		exit(1);
	}
	memcpy(d->buf + d->len, p, len);
	d->off[d->n++] = d->len;
	d->len += len;
}

static void build(struct dgrams *d, uint64_t seed, uint32_t instruments, uint64_t messages)
{
	struct dd_synth_params sp = { .seed = seed, .instruments = instruments, .messages = messages, .drain = true };
	size_t len = dd_synth_memsize(&sp);
	void *mem = xalloc(len);
	struct dd_synth *s;
	if (len == 0 || dd_synth_init(&s, mem, len, &sp) != 0) {
		fprintf(stderr, "bench_feed: bad synthetic parameters\n");
		exit(2);
	}
	static struct dd_molddg pk;
	dd_molddg_init(&pk, "BENCH00001", 1, 1400);
	d->cap = messages * 60 + (1u << 20);
	d->buf = xalloc(d->cap);
	d->off = xalloc((messages + 1) * sizeof(size_t) + 4096);
	struct dd_itch_msg m;
	uint8_t enc[DD_ITCH_MAX_LEN];
	const uint8_t *dg;
	uint64_t ts;
	size_t n;
	while (dd_synth_next(s, &m) == 1) {
		int el = dd_itch_encode(&m, enc, sizeof(enc));
		if (dd_molddg_add(&pk, enc, (size_t)el, m.timestamp) == -ENOSPC) {
			n = dd_molddg_flush(&pk, &dg, &ts);
			push(d, dg, n);
			dd_molddg_add(&pk, enc, (size_t)el, m.timestamp);
		}
	}
	if ((n = dd_molddg_flush(&pk, &dg, &ts)) > 0)
		push(d, dg, n);
	d->off[d->n] = d->len;
	free(mem);
}

struct bench_sink {
	struct dd_sink sink;
	struct dd_book *book;
	uint64_t events;
};

static void count_flush(struct dd_sink *s)
{
	((struct bench_sink *)s->ctx)->events += s->n;
	s->n = 0;
}

static int small_pages;

static void book_flush(struct dd_sink *s)
{
	struct bench_sink *b = s->ctx;
	for (unsigned i = 0; i < s->n; i++)
		dd_book_apply(b->book, &s->ev[i]);
	b->events += s->n;
	s->n = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One pass over every datagram; returns the seconds it took. */
static double pass(const struct dgrams *d, struct dd_feed *f, struct dd_sink *sink)
{
	double t0 = now_s();
	for (size_t i = 0; i < d->n; i++)
		dd_feed_rx(f, d->buf + d->off[i], d->off[i + 1] - d->off[i], 0, i, sink);
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	uint64_t messages = 2000000, seed = 42;
	unsigned instruments = 1000, passes = 7;
	uint32_t orders = 1u << 20, levels = 1u << 18;
	const char *json = NULL;
	for (int i = 1; i < argc; i += 2) {
		if (strcmp(argv[i], "--small-pages") == 0) {
			small_pages = 1;
			i--;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "bench_feed: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--messages") == 0)
			messages = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--instruments") == 0)
			instruments = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--passes") == 0)
			passes = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--orders") == 0)
			orders = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--levels") == 0)
			levels = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--json") == 0)
			json = argv[i + 1];
		else {
			fprintf(stderr, "bench_feed: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (passes == 0 || passes > 100) {
		fprintf(stderr, "bench_feed: --passes must be 1..100\n");
		return 2;
	}
	static struct dgrams d;
	build(&d, seed, instruments, messages);

	struct dd_mold_params mp = { .reorder_window = 16, .rewind = true };
	size_t flen = dd_feed_memsize(&mp);
	void *fmem = xalloc(flen);
	struct dd_feed_cfg fc = { .name = "bench" };
	static struct dd_feed feed;
	dd_feed_init(&feed, 0, &fc, &mp, fmem, flen);

	struct dd_book_params bp = { .max_instruments = 16384, .max_orders = orders, .max_levels = levels };
	size_t blen = dd_book_memsize(&bp);
	/*
	 * The daemon's tables live in DPDK hugepage memory on a real host; THP (madvise) gives the
	 * benchmark the same 2 MiB pages where the kernel allows it. --small-pages measures without.
	 */
	void *bmem = mmap(NULL, blen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bmem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (!small_pages)
		(void)madvise(bmem, blen, MADV_HUGEPAGE);
	static struct dd_book book;
	dd_book_init(&book, bmem, blen, &bp);

	static struct dd_event evbuf[512];
	struct bench_sink bs = { .sink = { evbuf, 0, 512, count_flush, NULL }, .book = &book };
	bs.sink.ctx = &bs;

	const char *names[2] = { "decode", "book" };
	void (*flushes[2])(struct dd_sink *) = { count_flush, book_flush };
	double med_ns[2], mps[2];
	for (int k = 0; k < 2; k++) {
		bs.sink.flush = flushes[k];
		double t[100];
		pass(&d, &feed, &bs.sink); /* warm-up: page in the tables */
		for (unsigned p = 0; p < passes; p++)
			t[p] = pass(&d, &feed, &bs.sink);
		qsort(t, passes, sizeof(t[0]), cmp_double);
		med_ns[k] = t[passes / 2] * 1e9 / (double)messages;
		mps[k] = (double)messages / t[passes / 2];
		printf("%-7s %7.2f ns/message  %12.0f messages/s  (median of %u passes of %llu messages)\n", names[k],
		       med_ns[k], mps[k], passes, (unsigned long long)messages);
	}
	char why[256];
	if (dd_book_check(&book, why, sizeof(why)) != 0 || book.stats.unknown_ref != 0) {
		fprintf(stderr, "bench_feed: the book went wrong: %s, %llu unknown refs\n", why,
			(unsigned long long)book.stats.unknown_ref);
		return 1;
	}
	if (json != NULL) {
		FILE *f = fopen(json, "w");
		if (f == NULL) {
			perror(json);
			return 1;
		}
		fprintf(f,
			"{\"bench\": \"feed\", \"messages\": %llu, \"instruments\": %u, \"orders_capacity\": %u, \"levels_capacity\": %u, "
			"\"datagrams\": %zu, \"passes\": %u,\n \"decode_ns_per_msg\": %.3f, \"decode_msgs_per_s\": %.0f,\n"
			" \"book_ns_per_msg\": %.3f, \"book_msgs_per_s\": %.0f}\n",
			(unsigned long long)messages, instruments, orders, levels, d.n, passes, med_ns[0], mps[0], med_ns[1],
			mps[1]);
		fclose(f);
	}
	return 0;
}
