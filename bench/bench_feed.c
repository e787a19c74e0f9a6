/* SPDX-License-Identifier: MIT */
/*
 * bench_feed: the DPDK-free half of the hot path, measured without a NIC or a PMD in the way.
 *
 * A seeded synthetic ITCH day (tools/synth, drained so it can loop) is packed into MoldUDP64
 * datagrams in memory once; then each pass feeds every datagram through dd_feed_rx() (MoldUDP64
 * sequencing, ITCH decoding) into
 *   decode     a sink that only counts events,
 *   book       a sink that applies them to a bare dd_book,
 *   chain      a sink that runs them through a chain holding the book operator, with input positions
 *              as causes and the top-of-book outputs taken: what the run-to-completion lcore does
 *              (less the journal),
 *   chain+tm   the same plus the latency recording the lcore does,
 *   peer_book  the same decode path into bench/peer_book.c, the book a competent engineer writes
 *              first with the C library (chained hash of malloc'd orders, sorted level arrays),
 *              so the comparison is made side by side in one run on the same datagrams.
 * Reports the median ns/message and messages/s over the passes, as JSON. Then one more, untimed,
 * pass feeds both books in lockstep and checks they agree: the top 5 levels of both sides of the
 * event's instrument after every event, and of every instrument at 16 points of the day and at the
 * end (the synthetic day is drained, so the end alone would compare two empty books). Exits 1 if
 * they differ.
 *
 * usage: bench_feed [--messages N] [--instruments N] [--passes N] [--orders CAP] [--seed S] [--json FILE]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <x86intrin.h>

#include "dataplane/wire/feed.h"
#include "dataplane/config/timing.h"
#include "dataplane/wire/itch.h"
#include "bench/peer_book.h"
#include "ops/book/book.h"
#include "ops/book/book_op.h"
#include "ops/chain.h"
#include "dataplane/wire/molddg.h"
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
	struct dd_chain *chain;   /* the book operator in a chain: what the daemon's lcores run */
	uint64_t isn;             /* input positions, as the RX lcore numbers them */
	uint64_t outputs;
	struct dd_peer_book *peer;
	uint64_t events;
	uint64_t checked;    /* lockstep pass: events after which the books were compared */
	uint64_t peak_orders; /* lockstep pass: most live orders seen */
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

/*
 * The chain, as the run-to-completion lcore runs it (dataplane/dpdk/lcore.c rtc_flush, less the
 * journal): input positions as causes, the book operator's outputs taken and dropped.
 */
static inline void chain_run(struct bench_sink *b, struct dd_sink *s)
{
	uint64_t cause[512];
	for (unsigned i = 0; i < s->n; i++)
		cause[i] = b->isn + i;
	b->isn += s->n;
	dd_chain_run(b->chain, s->ev, cause, s->n);
	b->outputs += b->chain->emit.n;
	dd_chain_drain(b->chain);
}

static void chain_flush(struct dd_sink *s)
{
	struct bench_sink *b = s->ctx;
	chain_run(b, s);
	b->events += s->n;
	s->n = 0;
}

/* What the run-to-completion lcore records per flush, on private histograms: the difference to
 * chain_flush is what latency telemetry costs (the chain's per-operator clock included). */
enum { TM_BOOK = DD_TM_STAGE__PIPELINE, TM_STAGES }; /* the book's stage comes first after the pipeline's */
static struct dd_hdr *tm_hist[TM_STAGES];
static struct dd_tsc_conv tm_conv;

static uint64_t tsc_clock(void)
{
	return __rdtsc();
}

static void chain_timed_flush(struct dd_sink *s)
{
	struct bench_sink *b = s->ctx;
	uint64_t t1 = __rdtsc();
	chain_run(b, s);
	uint64_t t2 = __rdtsc();
	dd_timing_rec_since_rx(tm_hist[DD_TM_RX], t1, tm_hist[DD_TM_WIRE], t2, &tm_conv, s->ev, s->n);
	dd_timing_rec(tm_hist[TM_BOOK], &tm_conv, b->chain->op[0].ticks / s->n, s->n);
	b->events += s->n;
	s->n = 0;
}

static void peer_flush(struct dd_sink *s)
{
	struct bench_sink *b = s->ctx;
	for (unsigned i = 0; i < s->n; i++)
		dd_peer_book_apply(b->peer, &s->ev[i]);
	b->events += s->n;
	s->n = 0;
}

#define CHECK_DEPTH 5

/* Compare the top CHECK_DEPTH levels of both sides of `locate`; print the first difference. */
static int books_differ(const struct dd_book *book, const struct dd_peer_book *peer, uint16_t locate,
			const char *where)
{
	static const char *side_name[2] = { "bid", "ask" };
	const struct dd_book_instr *in = dd_book_find(book, locate);
	for (unsigned s = 0; s < 2; s++) {
		struct dd_book_level a[CHECK_DEPTH];
		struct dd_peer_level p[CHECK_DEPTH];
		unsigned na = in == NULL ? 0 : dd_book_depth(book, in, s, a, CHECK_DEPTH);
		unsigned np = dd_peer_book_depth(peer, locate, s, p, CHECK_DEPTH);
		for (unsigned i = 0; i < CHECK_DEPTH && (i < na || i < np); i++) {
			if (i < na && i < np && a[i].price == p[i].price && a[i].shares == p[i].shares &&
			    a[i].orders == p[i].orders)
				continue;
			fprintf(stderr, "bench_feed: the books disagree %s: locate %u %s level %u: ", where, locate,
				side_name[s], i + 1);
			if (i < na)
				fprintf(stderr, "book %u x %llu shares in %u orders", a[i].price,
					(unsigned long long)a[i].shares, a[i].orders);
			else
				fprintf(stderr, "book has no such level");
			if (i < np)
				fprintf(stderr, ", peer_book %u x %llu shares in %u orders\n", p[i].price,
					(unsigned long long)p[i].shares, p[i].orders);
			else
				fprintf(stderr, ", peer_book has no such level\n");
			return 1;
		}
	}
	return 0;
}

/* Every stock locate: levels as above, and traded volume, trade count and last price. */
static int all_books_differ(const struct dd_book *book, const struct dd_peer_book *peer, const char *where)
{
	for (uint32_t loc = 0; loc < 65536; loc++) {
		if (books_differ(book, peer, (uint16_t)loc, where))
			return 1;
		const struct dd_book_instr *in = dd_book_find(book, (uint16_t)loc);
		uint64_t vol, trades;
		uint32_t last;
		dd_peer_book_trades(peer, (uint16_t)loc, &vol, &trades, &last);
		if (in == NULL ? vol != 0 || trades != 0
			       : in->volume != vol || in->trades != trades || in->last_price != last) {
			fprintf(stderr,
				"bench_feed: the books disagree %s: locate %u traded %llu shares in %llu trades, last %u; "
				"peer_book %llu in %llu, last %u\n",
				where, loc, in == NULL ? 0ull : (unsigned long long)in->volume,
				in == NULL ? 0ull : (unsigned long long)in->trades, in == NULL ? 0u : in->last_price,
				(unsigned long long)vol, (unsigned long long)trades, last);
			return 1;
		}
	}
	return 0;
}

/* Lockstep pass: apply each event to both books, then compare the instrument it named. */
static void lockstep_flush(struct dd_sink *s)
{
	struct bench_sink *b = s->ctx;
	for (unsigned i = 0; i < s->n; i++) {
		const struct dd_event *ev = &s->ev[i];
		dd_book_apply(b->book, ev);
		dd_peer_book_apply(b->peer, ev);
		if (books_differ(b->book, b->peer, (uint16_t)ev->key, "in the lockstep pass")) {
			fprintf(stderr, "bench_feed: first seen after event %llu (%s) of that pass\n",
				(unsigned long long)b->events + i, dd_event_type_name(ev->type));
			exit(1);
		}
		if (b->peer->norders > b->peak_orders)
			b->peak_orders = b->peer->norders;
	}
	b->events += s->n;
	b->checked += s->n;
	s->n = 0;
}

/* TSC frequency measured against CLOCK_MONOTONIC over 50 ms (the bench has no DPDK to ask). */
static uint64_t tsc_hz(void)
{
	double t0 = now_s();
	uint64_t c0 = __rdtsc();
	while (now_s() - t0 < 0.05)
		;
	return (uint64_t)((double)(__rdtsc() - c0) / (now_s() - t0));
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
	/* the daemon reads the TSC once per receive burst of up to 32 packets: so do we */
	uint64_t rx_tsc = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (i % 32 == 0)
			rx_tsc = __rdtsc();
		dd_feed_rx(f, d->buf + d->off[i], d->off[i + 1] - d->off[i], 0, rx_tsc, sink);
	}
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

	/* the chain the daemon runs: the book operator (one feed), a flush of events per run */
	static struct dd_chain_spec spec;
	struct dd_book_op_params op = { .book = bp, .nfeeds = 1 };
	dd_chain_spec_add(&spec, DD_OP_BOOK, &op, sizeof(op));
	struct dd_chain_params cp = { .spec = &spec, .burst = 512 };
	size_t clen = dd_chain_memsize(&cp);
	void *cmem = mmap(NULL, clen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cmem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (!small_pages)
		(void)madvise(cmem, clen, MADV_HUGEPAGE);
	static struct dd_chain chain;
	char cerr[256];
	if (dd_chain_init(&chain, cmem, clen, &cp, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "bench_feed: %s\n", cerr);
		return 1;
	}

	static struct dd_peer_book peer;
	int rc = dd_peer_book_init(&peer, orders);
	if (rc != 0) {
		fprintf(stderr, "bench_feed: peer book for %u orders: %s\n", orders, strerror(-rc));
		return 2;
	}

	static struct dd_event evbuf[512];
	struct bench_sink bs = { .sink = { evbuf, 0, 512, count_flush, NULL }, .book = &book, .chain = &chain,
				 .peer = &peer };
	bs.sink.ctx = &bs;

	for (unsigned st = 0; st < TM_STAGES; st++)
		if (dd_hdr_create(&dd_tm_hdr_params, &tm_hist[st]) != 0) {
			fprintf(stderr, "bench_feed: out of memory for histograms\n");
			return 1;
		}
	dd_tsc_conv_init(&tm_conv, tsc_hz());

	enum { DECODE, BOOK, CHAIN, CHAIN_TIMED, PEER, NMODES };
	const char *names[NMODES] = { "decode", "book", "chain", "chain+tm", "peer_book" };
	void (*flushes[NMODES])(struct dd_sink *) = { count_flush, book_flush, chain_flush, chain_timed_flush,
						      peer_flush };
	double med_ns[NMODES], mps[NMODES];
	for (int k = 0; k < NMODES; k++) {
		bs.sink.flush = flushes[k];
		if (k == CHAIN_TIMED) { /* fresh state, the per-operator clock on */
			cp.clock = tsc_clock;
			dd_chain_init(&chain, cmem, clen, &cp, cerr, sizeof(cerr));
		}
		double t[100];
		pass(&d, &feed, &bs.sink); /* warm-up: page in the tables */
		for (unsigned p = 0; p < passes; p++)
			t[p] = pass(&d, &feed, &bs.sink);
		qsort(t, passes, sizeof(t[0]), cmp_double);
		med_ns[k] = t[passes / 2] * 1e9 / (double)messages;
		mps[k] = (double)messages / t[passes / 2];
		printf("%-9s %7.2f ns/message  %12.0f messages/s  (median of %u passes of %llu messages)\n", names[k],
		       med_ns[k], mps[k], passes, (unsigned long long)messages);
	}
	printf("peer_book / book: %.2fx the time per message (same run)\n", med_ns[PEER] / med_ns[BOOK]);
	printf("the chain around the book (chain - book): %+.2f ns/message (%llu top-of-book outputs a pass)\n",
	       med_ns[CHAIN] - med_ns[BOOK], (unsigned long long)(bs.outputs / (2 * (passes + 1))));
	printf("latency telemetry (chain+tm - chain): %+.2f ns/message (%llu records of the book stage)\n",
	       med_ns[CHAIN_TIMED] - med_ns[CHAIN], (unsigned long long)dd_hdr_total(tm_hist[TM_BOOK]));
	const struct dd_book *cb = dd_book_op_book(dd_chain_state(&chain, DD_OP_BOOK), 0);
	if (all_books_differ(cb, &peer, "the chain's book after the timed passes"))
		return 1;
	char why[256] = "";
	if (dd_book_check(&book, why, sizeof(why)) != 0 || book.stats.unknown_ref != 0) {
		fprintf(stderr, "bench_feed: the book went wrong: %s, %llu unknown refs\n", why,
			(unsigned long long)book.stats.unknown_ref);
		return 1;
	}
	if (all_books_differ(&book, &peer, "after the timed passes"))
		return 1;

	/* Untimed lockstep pass; every d.n / 16 datagrams, every instrument is compared too. */
	bs.sink.flush = lockstep_flush;
	bs.events = 0;
	size_t every = d.n / 16 > 0 ? d.n / 16 : 1;
	unsigned snapshots = 0;
	for (size_t i = 0; i < d.n; i++) {
		dd_feed_rx(&feed, d.buf + d.off[i], d.off[i + 1] - d.off[i], 0, i, &bs.sink);
		if ((i + 1) % every == 0 || i + 1 == d.n) {
			char where[64];
			snprintf(where, sizeof(where), "after datagram %zu of %zu", i + 1, d.n);
			if (all_books_differ(&book, &peer, where))
				return 1;
			snapshots++;
		}
	}
	if (dd_book_check(&book, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_feed: the book went wrong: %s\n", why);
		return 1;
	}
	const struct dd_peer_stats *ps = &peer.stats;
	const struct dd_book_stats *os = &book.stats;
	if (ps->unknown_ref != os->unknown_ref || ps->duplicate_ref != os->duplicate_ref ||
	    ps->overexecuted != os->overexecuted || ps->bad_order != os->bad_order || ps->no_memory != 0 ||
	    peer.norders != book.norders) {
		fprintf(stderr,
			"bench_feed: the books disagree on what they ignored: unknown/duplicate/overexecuted/bad "
			"%llu/%llu/%llu/%llu, peer_book %llu/%llu/%llu/%llu (%llu out of memory); live orders %u, "
			"peer_book %llu\n",
			(unsigned long long)os->unknown_ref, (unsigned long long)os->duplicate_ref,
			(unsigned long long)os->overexecuted, (unsigned long long)os->bad_order,
			(unsigned long long)ps->unknown_ref, (unsigned long long)ps->duplicate_ref,
			(unsigned long long)ps->overexecuted, (unsigned long long)ps->bad_order,
			(unsigned long long)ps->no_memory, book.norders, (unsigned long long)peer.norders);
		return 1;
	}
	printf("books agree: top %d levels per side of the event's instrument after each of %llu events, "
	       "and of every instrument at %u points (peak %llu live orders)\n",
	       CHECK_DEPTH, (unsigned long long)bs.checked, snapshots, (unsigned long long)bs.peak_orders);
	dd_peer_book_fini(&peer);
	if (json != NULL) {
		FILE *f = fopen(json, "w");
		if (f == NULL) {
			perror(json);
			return 1;
		}
		fprintf(f,
			"{\"bench\": \"feed\", \"messages\": %llu, \"instruments\": %u, \"orders_capacity\": %u, \"levels_capacity\": %u, "
			"\"datagrams\": %zu, \"passes\": %u,\n \"decode_ns_per_msg\": %.3f, \"decode_msgs_per_s\": %.0f,\n"
			" \"book_ns_per_msg\": %.3f, \"book_msgs_per_s\": %.0f,\n"
			" \"chain_ns_per_msg\": %.3f, \"chain_msgs_per_s\": %.0f,\n"
			" \"chain_timed_ns_per_msg\": %.3f, \"chain_timed_msgs_per_s\": %.0f,\n"
			" \"peer_book_ns_per_msg\": %.3f, \"peer_book_msgs_per_s\": %.0f}\n",
			(unsigned long long)messages, instruments, orders, levels, d.n, passes, med_ns[DECODE], mps[DECODE],
			med_ns[BOOK], mps[BOOK], med_ns[CHAIN], mps[CHAIN], med_ns[CHAIN_TIMED], mps[CHAIN_TIMED],
			med_ns[PEER], mps[PEER]);
		fclose(f);
	}
	return 0;
}
