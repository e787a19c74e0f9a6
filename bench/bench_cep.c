/* SPDX-License-Identifier: MIT */
/*
 * bench_cep: the market chain (ops/book, ops/window, ops/cep: docs/patterns.md) as one lcore runs it,
 * on a seeded synthetic ITCH day (tools/synth), with the ten shipped patterns and two windows of
 * rules/market.rules; and, on the first events of the same day, the seed's own engine
 * (bench/peer_cep.py: the user's market_cep_engine.py imported from where it is).
 *
 * The stream (built in memory before anything is timed): dd_synth_next() messages, each encoded as
 * its ITCH wire bytes and decoded by dd_itch_decode_event() (the daemon's decoder; a message with no
 * canonical event is dropped, as the daemon drops it), source 0, and after every event that moves
 * the largest event time seen past the next multiple of 1 ms, a DD_EV_TICK whose event time is that
 * multiple (dataplane/dpdk/lcore.c: watermark.interval_us 1000, delay 0, the daemon's defaults).
 *
 * Measured:
 *   throughput   every event through a fresh chain (init and dd_window_use/dd_cep_use not timed)
 *                in runs of --burst (32) events, input positions as causes, the outputs counted by
 *                kind after each run and dropped. Chains, each on the same events, interleaved
 *                pass by pass, median of --passes:
 *                  market      book (trades 1) + window + cep, the compiled rules/market.rules
 *                  book        the book alone (trades 0): the daemon's ITCH chain without rules
 *                  book+trades the book emitting its trades, no one reading them
 *                Events/s counts the ITCH events (the ticks are extra inputs, in the time). Then one
 *                more pass of the market chain with the chain's per-operator clock (the TSC around
 *                each operator's run of a burst, as the daemon's telemetry takes it): ns per event
 *                by operator.
 *   per input    one more pass of the market chain, one dd_chain_run() of one input (an event or
 *                a tick) between two lfence+rdtsc, into an HDR histogram (the figures include the
 *                two TSC reads; the empty timed region is reported next to them)
 *   curves       the first --curve-events events (and their ticks), chain book (trades 1) + cep
 *                with the per-operator clock on:
 *                  WITHIN   one pattern `a -> b` (a: every trade, b: never) at WITHIN 1 ms .. 60 s,
 *                           MAX PARTIAL 8: every trade starts a partial match; next to each point
 *                           the partial matches a trade finds on average, worked out from the
 *                           stream (the symbol's earlier trades within WITHIN, at most 8)
 *                  patterns 1, 2, 4 .. 32 copies of momentum under distinct names
 *                every chain fresh per pass and the points interleaved pass by pass, median of
 *                --curve-passes; the chain's ns/event, the same minus the book+trades chain's, and
 *                the pattern operator's own ns/event
 *   memory       an adversarial rule set: rules/market.rules plus `flood` (a -> b, a: every message
 *                of the symbol, b: never, WITHIN 60 s, MAX PARTIAL 64: the language's largest), so
 *                every event starts a partial match, over a smaller drained day (--mem-messages)
 *                run 10 times back to back, each repetition's event times shifted past the last
 *                one's. State bytes per symbol and in all, the cep counters and the process's
 *                resident memory after each repetition (the chain's memory is written once
 *                before, so any growth would be new memory), and each repetition's ns/event.
 *   peer         the first --peer-events events: their adds (A, F) as the seed's ORDER, the book's
 *                trades (E, C, P with the book's price and side) as TRADE and halts (H 'H'/'P') as
 *                NEWS, written as CSV to a temporary directory; `python3 bench/peer_cep.py
 *                --seed-dir DIR --json FILE` times the seed's process_stock_event per event (its own
 *                timing), and dadar's market chain runs the same ITCH events (median of at least 21
 *                passes: one takes a few ms).
 *                Throughput only: the seed's patterns are not the shipped ones (its momentum is any
 *                three rises among the symbol's trades of 3 minutes, for instance), so the alerts
 *                are not compared. No python3 or no seed: said, and skipped.
 * The 1-minute load average at the start and the end is printed: other work on the VM shows there.
 *
 * Defaults: --messages 8000000 (7.6 minutes of order flow at the synthetic day's ~17,000 events/s)
 * --instruments 1000 --passes 5 --burst 32 --seed 42 --rules rules/market.rules --curve-events
 * 1000000 --curve-passes 5 --mem-messages 200000 --peer-events 20000 --seed-dir ../shared/seeds
 * (from the repository root).
 *
 * Exit status 1 if a pass counts different outputs from the first, the chain's output buffer
 * overflowed, or the peer failed; 2 for bad options.
 *
 * usage: bench_cep [--messages N] [--instruments N] [--passes N] [--burst N] [--seed S]
 *                  [--rules FILE] [--curve-events N] [--curve-passes N] [--mem-messages N]
 *                  [--peer-events N] [--seed-dir DIR] [--peer-script FILE] [--keep] [--small-pages]
 *                  [--json FILE]
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "dataplane/wire/itch.h"
#include "ops/book/book_op.h"
#include "ops/cep/cep.h"
#include "ops/cep/mrules.h"
#include "ops/chain.h"
#include "ops/window/window.h"
#include "shm/hdr.h"
#include "shm/telemetry.h"
#include "tools/paths.h"
#include "tools/synth.h"

#define MS_NS        UINT64_C(1000000)
#define TICK_NS      MS_NS            /* watermark.interval_us 1000 */
#define MAX_PASSES   100
#define MAX_BURST    512
#define DEFAULT_RULES "rules/market.rules"
#define MEM_REPS     10
#define PEER_PASSES  21               /* dadar's passes over the peer's sample (at least) */
#define TARGET_EPS   5e6              /* the issue's figure: events/s on one lcore */
#define ESPER_EPS    5e5              /* the issue's anchor: Esper's published 500k events/s */

static const char *prog = "bench_cep";
static int small_pages;

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
	if (p == NULL) {
		fprintf(stderr, "%s: out of memory (%zu bytes)\n", prog, n);
		exit(1);
	}
	return p;
}

/* The 1-minute load average (other work on this shared VM), -1 if unreadable. */
static double loadavg1(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double v = -1;
	if (f != NULL) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
	double s[MAX_PASSES];
	memcpy(s, v, n * sizeof(v[0]));
	qsort(s, n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void print_thousands(char *out, size_t len, double v)
{
	char digits[32];
	snprintf(digits, sizeof(digits), "%.0f", v);
	size_t n = strlen(digits), j = 0;
	for (size_t i = 0; i < n && j + 2 < len; i++) {
		out[j++] = digits[i];
		if ((n - i - 1) % 3 == 0 && i + 1 < n && digits[i] != '-')
			out[j++] = ',';
	}
	out[j] = '\0';
}

/* Resident memory of this process, from /proc/self/status (kB; 0 if unreadable). */
static uint64_t rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t kb = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtoull(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* ---- the stream ---------------------------------------------------------------------------------- */

struct stream {
	struct dd_event *ev;  /* events with their ticks in place */
	uint64_t n, cap;
	uint64_t nitch;       /* ITCH events (the rest are ticks) */
	uint64_t nticks;
	uint64_t first_ns, last_ns; /* event times of the first and last ITCH event */
	uint64_t open_ns;     /* S 'Q': the market opens */
	uint64_t flow_end_ns; /* the last event of a symbol (the order flow ends; then the day's closing S) */
	uint64_t bytype[DD_EV__COUNT];
	uint64_t msgs;        /* messages the generator made */
	uint32_t instruments;
	uint64_t top_share;   /* events of the busiest locate */
	uint64_t ev_max, tick_last; /* tick state, as the RX lcore keeps it */
	char (*sym)[8];       /* [65536]: symbol of each locate (space padded) */
};

static void push_ev(struct stream *s, const struct dd_event *ev)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1u << 16;
		struct dd_event *p = xalloc(s->cap * sizeof(*p));
		if (s->n)
			memcpy(p, s->ev, s->n * sizeof(*p));
		free(s->ev);
		s->ev = p;
	}
	s->ev[s->n++] = *ev;
}

/* The event, then a tick if it moved the largest event time past the next multiple of TICK_NS. */
static void add_event(struct stream *s, const struct dd_event *ev)
{
	push_ev(s, ev);
	if (ev->type == DD_EV_TICK)
		return;
	s->nitch++;
	s->bytype[ev->type]++;
	if (ev->event_ns <= s->ev_max)
		return;
	s->ev_max = ev->event_ns;
	uint64_t due = s->ev_max / TICK_NS * TICK_NS;
	if (due <= s->tick_last)
		return;
	s->tick_last = due;
	struct dd_event t;
	memset(&t, 0, sizeof(t));
	t.type = DD_EV_TICK;
	t.event_ns = due;
	push_ev(s, &t);
	s->nticks++;
}

static void build(struct stream *s, uint64_t seed, uint32_t instruments, uint64_t messages)
{
	struct dd_synth_params sp = { .seed = seed, .instruments = instruments, .messages = messages, .drain = true };
	size_t len = dd_synth_memsize(&sp);
	struct dd_synth *g;
	void *mem = len ? xalloc(len) : NULL;
	if (len == 0 || dd_synth_init(&g, mem, len, &sp) != 0) {
		fprintf(stderr, "%s: bad synthetic day (%u instruments, %" PRIu64 " messages: need at least %" PRIu64
			")\n", prog, instruments, messages, DD_SYNTH_FIXED_MESSAGES(instruments));
		exit(2);
	}
	memset(s, 0, sizeof(*s));
	s->instruments = instruments;
	s->sym = xalloc(65536 * sizeof(s->sym[0]));
	memset(s->sym, ' ', 65536 * sizeof(s->sym[0]));
	uint64_t *per = calloc(65536, sizeof(uint64_t));
	if (per == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	struct dd_itch_msg m;
	uint8_t wire[DD_ITCH_MAX_LEN];
	uint64_t seq = 0;
	while (dd_synth_next(g, &m) == 1) {
		struct dd_event ev;
		s->msgs++;
		int wlen = dd_itch_encode(&m, wire, sizeof(wire));
		if (wlen <= 0 || dd_itch_decode_event(wire, (size_t)wlen, &ev) != 1)
			continue;
		ev.source = 0;
		ev.seq = ++seq;
		ev.rx_tsc = 0;
		if (ev.type == DD_EV_DIRECTORY)
			memcpy(s->sym[ev.key & 0xffff], ev.u.directory.stock, 8);
		if (ev.type == DD_EV_SYSTEM && ev.u.system.event_code == 'Q')
			s->open_ns = ev.event_ns;
		if (s->nitch == 0)
			s->first_ns = ev.event_ns;
		s->last_ns = ev.event_ns;
		if (ev.type != DD_EV_SYSTEM) {
			per[ev.key & 0xffff]++;
			s->flow_end_ns = ev.event_ns;
		}
		add_event(s, &ev);
	}
	for (unsigned k = 1; k < 65536; k++)
		if (per[k] > s->top_share)
			s->top_share = per[k];
	free(per);
	free(mem);
}

/* ---- chains ---------------------------------------------------------------------------------------- */

struct rig {
	const char *name;
	struct dd_chain_spec spec;
	struct dd_chain_params cp;
	struct dd_chain chain;
	const struct dd_mrules *img;
	void *mem;
	size_t len;
};

static void *big_alloc(size_t len)
{
	/* the daemon's tables live in hugepage memory: THP (madvise) where the kernel allows it */
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "%s: mmap(%zu) for a chain failed: %s\n", prog, len, strerror(errno));
		exit(1);
	}
	if (!small_pages)
		(void)madvise(m, len, MADV_HUGEPAGE);
	memset(m, 0, len); /* resident before anything is timed or measured */
	return m;
}

static void add_op(struct dd_chain_spec *s, unsigned id, const void *p, size_t len)
{
	int rc = dd_chain_spec_add(s, id, p, len);
	if (rc != 0) {
		fprintf(stderr, "%s: dd_chain_spec_add(%s): %s\n", prog, dd_op_name(id), strerror(-rc));
		exit(1);
	}
}

static const struct dd_book_params book_params = { .max_instruments = 16384, .max_orders = 1u << 20,
						   .max_levels = 1u << 18 };

/* A chain of the book (trades on or off), and the window and pattern operators for `img` if given. */
static void rig_setup(struct rig *r, const char *name, const struct dd_mrules *img, bool window, bool cep,
		      bool trades, uint32_t keys, unsigned burst)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->img = img;
	struct dd_book_op_params bp = { .book = book_params, .nfeeds = 1, .trades = trades };
	add_op(&r->spec, DD_OP_BOOK, &bp, sizeof(bp));
	if (window) {
		struct dd_window_params wp = { .keys = keys, .nfeeds = 1, .key_bytes = (uint32_t)dd_window_key_bytes(img) };
		add_op(&r->spec, DD_OP_WINDOW, &wp, sizeof(wp));
	}
	if (cep) {
		struct dd_cep_params cp = { .keys = keys, .nfeeds = 1, .key_bytes = (uint32_t)dd_cep_key_bytes(img),
					    .max_patterns = img->npatterns ? img->npatterns : 1 };
		add_op(&r->spec, DD_OP_CEP, &cp, sizeof(cp));
	}
	r->cp = (struct dd_chain_params){ .spec = &r->spec, .shard = 0, .burst = burst }; /* .clock: rig_fresh's caller */
	r->len = dd_chain_memsize(&r->cp);
	if (r->len == 0) {
		fprintf(stderr, "%s: chain %s: parameters out of range\n", prog, name);
		exit(1);
	}
	r->mem = big_alloc(r->len);
}

static void rig_free(struct rig *r)
{
	munmap(r->mem, r->len);
	r->mem = NULL;
}

/* A chain as fresh as the daemon's at start, the rules put in force. */
static void rig_fresh(struct rig *r)
{
	char err[256];
	if (dd_chain_init(&r->chain, r->mem, r->len, &r->cp, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: chain %s: %s\n", prog, r->name, err);
		exit(1);
	}
	void *w = dd_chain_state(&r->chain, DD_OP_WINDOW), *c = dd_chain_state(&r->chain, DD_OP_CEP);
	int rc = 0;
	if (w != NULL && (rc = dd_window_use(w, r->img)) != 0)
		fprintf(stderr, "%s: chain %s: dd_window_use: %s\n", prog, r->name, strerror(-rc));
	else if (c != NULL && (rc = dd_cep_use(c, r->img)) != 0)
		fprintf(stderr, "%s: chain %s: dd_cep_use: %s\n", prog, r->name, strerror(-rc));
	if (rc != 0)
		exit(1);
}

/* Counter `name` of the chain's operator `id` (0 if there is no such operator or counter). */
static uint64_t counter(const struct dd_chain *c, unsigned id, const char *name)
{
	for (unsigned k = 0; k < c->nops; k++) {
		const struct dd_op_ops *ops = c->op[k].ops;
		if (ops->id != id || ops->counters == NULL)
			continue;
		uint64_t v[DD_OP_MAX_COUNTERS];
		ops->counters(c->op[k].state, v);
		for (unsigned i = 0; i < ops->ncounters; i++)
			if (strcmp(ops->counter_names[i], name) == 0)
				return v[i];
	}
	return 0;
}

static struct dd_mrules *compile(const char *text, size_t len, const char *origin)
{
	struct dd_mrules *img = xalloc(sizeof(*img));
	char err[512];
	unsigned nerr = 0;
	if (dd_mrules_compile(text, len, origin, img, err, sizeof(err), &nerr, NULL, NULL) != 0) {
		fprintf(stderr, "%s: %s (%u error%s)\n", prog, err, nerr, nerr == 1 ? "" : "s");
		exit(1);
	}
	return img;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "%s: cannot read %s: %s (run from the repository root, or give --rules FILE)\n", prog,
			path, strerror(errno));
		exit(2);
	}
	size_t cap = 1 << 16, n = 0;
	char *p = malloc(cap);
	size_t r;
	while (p != NULL && (r = fread(p + n, 1, cap - n, f)) > 0)
		if ((n += r) == cap)
			p = realloc(p, cap *= 2);
	fclose(f);
	if (p == NULL) {
		fprintf(stderr, "%s: out of memory reading %s\n", prog, path);
		exit(1);
	}
	*len = n;
	return p;
}

/* ---- running ------------------------------------------------------------------------------------- */

struct tally {
	uint64_t alerts[DD_MR_MAX_PATTERNS];
	uint64_t windows[DD_MR_MAX_WINDOWS];
	uint64_t alerts_total, windows_total, late, bbo, trades, outputs;
};

static inline void take(struct dd_chain *c, struct tally *t)
{
	const struct dd_output *o = c->emit.out;
	for (unsigned k = 0; k < c->emit.n; k++)
		switch (o[k].type) {
		case DD_OUT_ALERT: t->alerts[o[k].rule % DD_MR_MAX_PATTERNS]++; break;
		case DD_OUT_WINDOW: t->windows[o[k].rule % DD_MR_MAX_WINDOWS]++; break;
		case DD_OUT_LATE: t->late++; break;
		case DD_OUT_BBO: t->bbo++; break;
		case DD_OUT_TRADE: t->trades++; break;
		default: break;
		}
	t->outputs += c->emit.n;
	dd_chain_drain(c);
}

static void tally_sum(struct tally *t)
{
	t->alerts_total = t->windows_total = 0;
	for (unsigned i = 0; i < DD_MR_MAX_PATTERNS; i++)
		t->alerts_total += t->alerts[i];
	for (unsigned i = 0; i < DD_MR_MAX_WINDOWS; i++)
		t->windows_total += t->windows[i];
}

/* Events ev[0..n) in runs of `burst`, input positions from `cause0`; returns the seconds it took. */
static double run(struct dd_chain *c, const struct dd_event *ev, uint64_t n, unsigned burst, uint64_t cause0,
		  struct tally *t)
{
	uint64_t cause[MAX_BURST];
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i += burst) {
		unsigned k = n - i < burst ? (unsigned)(n - i) : burst;
		for (unsigned j = 0; j < k; j++)
			cause[j] = cause0 + i + j;
		dd_chain_run(c, ev + i, cause, k);
		take(c, t);
	}
	return now_s() - t0;
}

static uint64_t tsc_clock(void)
{
	return __rdtsc();
}

/*
 * The same with the chain's per-operator clock on (the TSC around each operator's run over each
 * burst, as the daemon's latency telemetry takes it): the ticks each operator took, into ticks[].
 */
static double run_clocked(struct dd_chain *c, const struct dd_event *ev, uint64_t n, unsigned burst,
			  struct tally *t, uint64_t *ticks)
{
	uint64_t cause[MAX_BURST];
	memset(ticks, 0, DD_CHAIN_MAX_OPS * sizeof(ticks[0]));
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i += burst) {
		unsigned k = n - i < burst ? (unsigned)(n - i) : burst;
		for (unsigned j = 0; j < k; j++)
			cause[j] = i + j;
		dd_chain_run(c, ev + i, cause, k);
		for (unsigned m = 0; m < c->nops; m++)
			ticks[m] += c->op[m].ticks;
		take(c, t);
	}
	return now_s() - t0;
}

static inline uint64_t tsc_fenced(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}

/* TSC frequency against CLOCK_MONOTONIC over 200 ms (the bench has no DPDK to ask). */
static uint64_t tsc_hz(void)
{
	double t0 = now_s();
	uint64_t c0 = __rdtsc();
	while (now_s() - t0 < 0.2)
		;
	return (uint64_t)((double)(__rdtsc() - c0) / (now_s() - t0));
}

struct lat {
	uint64_t p50, p90, p99, p999, max, empty_p50, empty_max;
	double mean;
};

/* One input at a time (one chain run) between two fenced TSC reads. */
static void per_event(struct rig *r, const struct stream *s, const struct dd_tsc_conv *conv, struct lat *l,
		      struct tally *t)
{
	struct dd_hdr *h, *e;
	if (dd_hdr_create(&dd_tm_hdr_params, &h) != 0 || dd_hdr_create(&dd_tm_hdr_params, &e) != 0) {
		fprintf(stderr, "%s: out of memory for the histograms\n", prog);
		exit(1);
	}
	for (uint64_t i = 0; i < s->n; i++) {
		uint64_t a = tsc_fenced();
		dd_chain_run(&r->chain, s->ev + i, &i, 1);
		uint64_t z = tsc_fenced();
		dd_hdr_record(h, dd_tsc_to_ns(conv, z - a));
		take(&r->chain, t);
	}
	for (uint64_t i = 0; i < s->n; i++) {
		uint64_t a = tsc_fenced();
		uint64_t z = tsc_fenced();
		dd_hdr_record(e, dd_tsc_to_ns(conv, z - a));
	}
	l->p50 = dd_hdr_value_at_percentile(h, 50);
	l->p90 = dd_hdr_value_at_percentile(h, 90);
	l->p99 = dd_hdr_value_at_percentile(h, 99);
	l->p999 = dd_hdr_value_at_percentile(h, 99.9);
	l->max = dd_hdr_max(h);
	l->mean = dd_hdr_mean(h);
	l->empty_p50 = dd_hdr_value_at_percentile(e, 50);
	l->empty_max = dd_hdr_max(e);
	dd_hdr_free(h);
	dd_hdr_free(e);
}

/* The number of stream entries (events and ticks) holding the first `nitch` ITCH events. */
static uint64_t prefix_of(const struct stream *s, uint64_t nitch)
{
	uint64_t k = 0, i = 0;
	while (i < s->n && k < nitch) {
		k += s->ev[i].type != DD_EV_TICK;
		i++;
	}
	while (i < s->n && s->ev[i].type == DD_EV_TICK) /* the tick the last event caused */
		i++;
	return i;
}

/* Seconds of event time from the open to the last of the first n entries (0 if before it). */
static double since_open(const struct stream *s, uint64_t n)
{
	uint64_t t = s->ev[n - 1].event_ns;
	return t > s->open_ns ? (double)(t - s->open_ns) * 1e-9 : 0;
}

/* ---- curves --------------------------------------------------------------------------------------- */

static const uint64_t within_ns[] = { MS_NS, 10 * MS_NS, 100 * MS_NS, 1000 * MS_NS, 10000 * MS_NS, 60000 * MS_NS };
static const char *const within_txt[] = { "1 MILLISECONDS", "10 MILLISECONDS", "100 MILLISECONDS", "1 SECONDS",
					  "10 SECONDS", "60 SECONDS" };
#define NWITHIN (sizeof(within_ns) / sizeof(within_ns[0]))
static const unsigned npat_steps[] = { 1, 2, 4, 8, 16, 32 };
#define NNPAT (sizeof(npat_steps) / sizeof(npat_steps[0]))

struct point {
	double ns;            /* ns per ITCH event, median */
	double over;          /* minus the baseline chain's */
	double op_ns;         /* the pattern operator's own time per ITCH event (chain clock), median */
	uint64_t alerts, evicted, expired, records;
	size_t key_bytes;
	double alive;         /* WITHIN curve: partial matches a trade finds, on average */
};

static char *chase_rules(const char *within, size_t *len)
{
	char *t = xalloc(1024);
	*len = (size_t)snprintf(t, 1024,
				"RULESET curve VERSION 1\n"
				"PATTERN chase\n"
				"  PARTITION BY symbol\n"
				"  MATCH (a -> b)\n"
				"  DEFINE a AS trade,\n"
				"         b AS trade WHERE price < 0\n"
				"  WITHIN %s\n"
				"  MAX PARTIAL 8\n"
				"END\n",
				within);
	return t;
}

static char *momentum_rules(unsigned n, size_t *len)
{
	size_t cap = 64 + (size_t)n * 512;
	char *t = xalloc(cap);
	size_t k = (size_t)snprintf(t, cap, "RULESET curve VERSION 1\n");
	for (unsigned i = 0; i < n; i++)
		k += (size_t)snprintf(t + k, cap - k,
				      "PATTERN momentum_%02u\n"
				      "  PARTITION BY symbol\n"
				      "  MATCH (a r{3})\n"
				      "  DEFINE a AS trade,\n"
				      "         r AS trade WHERE price > PREV(price)\n"
				      "  WITHIN 3 MINUTES\n"
				      "  AFTER MATCH SKIP PAST LAST ROW\n"
				      "  MEASURES FIRST(a.price) AS start_price, LAST(r.price) AS end_price\n"
				      "END\n",
				      i + 1);
	*len = k;
	return t;
}

/*
 * What one trade finds when it reaches the `chase` pattern of WITHIN w: the partial matches of its
 * symbol still alive, i.e. the earlier trades of the symbol no more than w before it, at most the
 * MAX PARTIAL of 8 (a new one evicts the oldest). Worked out from the stream, not the operator.
 */
static double mean_alive(const struct stream *s, uint64_t n, uint64_t w)
{
	uint64_t (*last)[8] = calloc(65536, sizeof(*last));
	uint64_t *seen = calloc(65536, sizeof(uint64_t));
	if (last == NULL || seen == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	uint64_t trades = 0, alive = 0;
	for (uint64_t i = 0; i < n; i++) {
		const struct dd_event *ev = &s->ev[i];
		if (ev->type != DD_EV_EXEC && ev->type != DD_EV_EXEC_PRICE && ev->type != DD_EV_TRADE)
			continue;
		unsigned k = ev->key & 0xffff;
		uint64_t m = seen[k] < 8 ? seen[k] : 8; /* the 8 newest: the older ones were evicted */
		for (uint64_t j = 0; j < m; j++)
			alive += last[k][j] + w >= ev->event_ns;
		last[k][seen[k]++ % 8] = ev->event_ns;
		trades++;
	}
	free(last);
	free(seen);
	return trades ? (double)alive / (double)trades : 0;
}

/*
 * Every curve point and the baseline (book+trades, no rules) over the first n entries, the chains
 * interleaved pass by pass so that a slow moment of the VM falls on every point alike.
 */
static void curves(const struct stream *s, uint64_t n, uint64_t nitch, unsigned passes, unsigned burst, uint64_t hz,
		   double *base_ns, struct point *pw, struct point *pn)
{
	enum { NPTS = 1 + NWITHIN + NNPAT };
	static struct rig r[NPTS];
	struct dd_mrules *img[NPTS] = { NULL };
	for (unsigned i = 1; i < NPTS; i++) {
		size_t len;
		char *txt = i <= NWITHIN ? chase_rules(within_txt[i - 1], &len) : momentum_rules(npat_steps[i - 1 - NWITHIN], &len);
		img[i] = compile(txt, len, "bench_cep (generated)");
		free(txt);
	}
	rig_setup(&r[0], "book+trades", NULL, false, false, true, s->instruments + 16, burst);
	for (unsigned i = 1; i < NPTS; i++)
		rig_setup(&r[i], "curve", img[i], false, true, true, s->instruments + 16, burst);
	double t[NPTS][MAX_PASSES], op[NPTS][MAX_PASSES];
	struct tally tl[NPTS];
	uint64_t ticks[DD_CHAIN_MAX_OPS];
	for (unsigned p = 0; p < passes; p++)
		for (unsigned i = 0; i < NPTS; i++) {
			r[i].cp.clock = tsc_clock;
			rig_fresh(&r[i]);
			memset(&tl[i], 0, sizeof(tl[i]));
			t[i][p] = run_clocked(&r[i].chain, s->ev, n, burst, &tl[i], ticks);
			op[i][p] = (double)ticks[r[i].chain.nops - 1] * 1e9 / (double)hz / (double)nitch;
		}
	*base_ns = median(t[0], passes) * 1e9 / (double)nitch;
	for (unsigned i = 1; i < NPTS; i++) {
		struct point *pt = i <= NWITHIN ? &pw[i - 1] : &pn[i - 1 - NWITHIN];
		tally_sum(&tl[i]);
		pt->ns = median(t[i], passes) * 1e9 / (double)nitch;
		pt->over = pt->ns - *base_ns;
		pt->op_ns = median(op[i], passes);
		pt->alerts = tl[i].alerts_total;
		pt->evicted = counter(&r[i].chain, DD_OP_CEP, "cep_evicted");
		pt->expired = counter(&r[i].chain, DD_OP_CEP, "cep_expired");
		pt->records = counter(&r[i].chain, DD_OP_CEP, "cep_records");
		pt->key_bytes = dd_cep_key_bytes(img[i]);
		pt->alive = i <= NWITHIN ? mean_alive(s, n, within_ns[i - 1]) : 0;
		rig_free(&r[i]);
		free(img[i]);
	}
	rig_free(&r[0]);
}

/* ---- memory under the adversarial stream ------------------------------------------------------------ */

static const char flood_text[] =
	"\nPATTERN flood\n"
	"  PARTITION BY symbol\n"
	"  MATCH (a -> b)\n"
	"  DEFINE a AS any,\n"
	"         b AS any WHERE time < 0\n"
	"  WITHIN 60 SECONDS\n"
	"  MAX PARTIAL 64\n"
	"END\n";

struct memrep {
	uint64_t rss_kb, records, evicted, expired, alerts, events;
	double ns;            /* ns per ITCH event of this repetition (the shifted copy included) */
};

struct memres {
	size_t key_bytes_market, key_bytes_adv, window_key_bytes, cep_bytes, window_bytes, chain_bytes;
	uint32_t keys;
	uint64_t events, span_ns;
	uint64_t rss_before_kb;
	struct memrep rep[MEM_REPS];
};

static void memory_run(const char *rules, size_t rlen, const struct dd_mrules *market, uint64_t seed,
		       uint32_t instruments, uint64_t messages, unsigned burst, struct memres *m)
{
	size_t len = rlen + sizeof(flood_text);
	char *text = xalloc(len);
	memcpy(text, rules, rlen);
	memcpy(text + rlen, flood_text, sizeof(flood_text));
	struct dd_mrules *img = compile(text, len - 1, "rules/market.rules + flood");
	static struct stream s;
	build(&s, seed + 1, instruments, messages);
	struct rig r;
	rig_setup(&r, "adversarial", img, true, true, true, instruments + 16, burst);
	rig_fresh(&r);
	memset(m, 0, sizeof(*m));
	m->keys = instruments + 16;
	m->key_bytes_market = dd_cep_key_bytes(market);
	m->key_bytes_adv = dd_cep_key_bytes(img);
	m->window_key_bytes = dd_window_key_bytes(img);
	struct dd_cep_params cp = { .keys = m->keys, .nfeeds = 1, .key_bytes = (uint32_t)m->key_bytes_adv,
				    .max_patterns = img->npatterns };
	struct dd_window_params wp = { .keys = m->keys, .nfeeds = 1, .key_bytes = (uint32_t)m->window_key_bytes };
	m->cep_bytes = dd_cep_op.memsize(&cp);
	m->window_bytes = dd_window_op.memsize(&wp);
	m->chain_bytes = r.len;
	m->events = s.nitch;
	/* each repetition later than the last by the day's span, on a tick boundary */
	uint64_t span = (s.last_ns - s.first_ns + 2 * TICK_NS) / TICK_NS * TICK_NS;
	m->span_ns = span;
	struct dd_event *buf = xalloc(MAX_BURST * sizeof(*buf));
	uint64_t cause[MAX_BURST];
	struct tally tl;
	memset(&tl, 0, sizeof(tl));
	m->rss_before_kb = rss_kb();
	for (unsigned rep = 0; rep < MEM_REPS; rep++) {
		uint64_t shift = rep * span;
		double t0 = now_s();
		for (uint64_t i = 0; i < s.n; i += burst) {
			unsigned k = s.n - i < burst ? (unsigned)(s.n - i) : burst;
			for (unsigned j = 0; j < k; j++) {
				buf[j] = s.ev[i + j];
				buf[j].event_ns += shift;
				cause[j] = rep * s.n + i + j;
			}
			dd_chain_run(&r.chain, buf, cause, k);
			take(&r.chain, &tl);
		}
		struct memrep *mr = &m->rep[rep];
		mr->ns = (now_s() - t0) * 1e9 / (double)s.nitch;
		mr->rss_kb = rss_kb();
		mr->records = counter(&r.chain, DD_OP_CEP, "cep_records");
		mr->evicted = counter(&r.chain, DD_OP_CEP, "cep_evicted");
		mr->expired = counter(&r.chain, DD_OP_CEP, "cep_expired");
		mr->alerts = counter(&r.chain, DD_OP_CEP, "cep_alerts");
		mr->events = (rep + 1) * s.nitch;
	}
	if (dd_chain_overflow(&r.chain) != 0)
		fprintf(stderr, "%s: the adversarial chain's output buffer overflowed (%" PRIu64 ")\n", prog,
			dd_chain_overflow(&r.chain));
	free(buf);
	rig_free(&r);
	free(s.ev);
	free(s.sym);
	free(img);
	free(text);
}

/* ---- the peer ------------------------------------------------------------------------------------- */

struct peer {
	bool ran, skipped;
	char why[PATH_MAX + 256];
	uint64_t itch;        /* ITCH events of the sample (dadar's input) */
	uint64_t entries;     /* with their ticks */
	uint64_t orders, trades, halts; /* what the seed was given */
	double span_s;        /* event time from the open */
	double peer_eps, peer_s, peer_first_eps, peer_last_eps;
	uint64_t peer_matches, peer_rss_kb;
	double dadar_eps, dadar_s;
	unsigned dadar_passes;
	uint64_t dadar_alerts;
};


static int run_status(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static bool json_num(const char *s, const char *key, double *v)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\"", key);
	const char *p = strstr(s, k);
	if (p == NULL || (p = strchr(p + strlen(k), ':')) == NULL)
		return false;
	char *end;
	*v = strtod(p + 1, &end);
	return end != p + 1;
}

static void sym_str(const char in[8], char out[9])
{
	unsigned n = 8;
	while (n > 0 && in[n - 1] == ' ')
		n--;
	memcpy(out, in, n);
	out[n] = '\0';
}

static void price_str(uint32_t p, char *out, size_t len)
{
	snprintf(out, len, "%u.%04u", p / 10000, p % 10000);
}

/*
 * The seed's input for the first `n` entries: one CSV line per add, per trade the book derives
 * (book alone, trades on, one event per run so the trades follow their cause) and per halt.
 */
static int write_peer_csv(const struct stream *s, uint64_t n, const char *path, struct peer *pr)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	struct rig r;
	rig_setup(&r, "peer input", NULL, false, false, true, 16, 1);
	rig_fresh(&r);
	fprintf(f, "kind,time_ns,symbol,price,shares,side,reason\n");
	char sym[9], price[32];
	for (uint64_t i = 0; i < n; i++) {
		const struct dd_event *ev = &s->ev[i];
		dd_chain_run(&r.chain, ev, &i, 1);
		if (ev->type == DD_EV_ADD) {
			sym_str(s->sym[ev->key & 0xffff], sym);
			price_str(ev->u.add.price, price, sizeof(price));
			fprintf(f, "order,%" PRIu64 ",%s,%s,%u,%c,\n", ev->event_ns, sym, price, ev->u.add.shares,
				ev->u.add.side);
			pr->orders++;
		} else if (ev->type == DD_EV_TRADING_STATE &&
			   (ev->u.trading_state.state == 'H' || ev->u.trading_state.state == 'P')) {
			char reason[5];
			memcpy(reason, ev->u.trading_state.reason, 4);
			reason[4] = '\0';
			for (int k = 3; k >= 0 && reason[k] == ' '; k--)
				reason[k] = '\0';
			sym_str(s->sym[ev->key & 0xffff], sym);
			fprintf(f, "halt,%" PRIu64 ",%s,,,%c,%s\n", ev->event_ns, sym, ev->u.trading_state.state, reason);
			pr->halts++;
		}
		for (unsigned k = 0; k < r.chain.emit.n; k++) {
			const struct dd_output *o = &r.chain.emit.out[k];
			if (o->type != DD_OUT_TRADE)
				continue;
			sym_str(s->sym[o->key & 0xffff], sym);
			price_str(o->u.trade.price, price, sizeof(price));
			fprintf(f, "trade,%" PRIu64 ",%s,%s,%u,%c,\n", o->event_ns, sym, price, o->u.trade.shares,
				o->u.trade.side);
			pr->trades++;
		}
		dd_chain_drain(&r.chain);
	}
	rig_free(&r);
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	return 0;
}

struct opts {
	uint32_t instruments;
	uint64_t messages, seed, curve_events, mem_messages, peer_events;
	unsigned passes, curve_passes, burst;
	const char *json, *rules, *seed_dir, *peer_script;
	bool keep;
};

static void rm_peer(const char *dir, bool keep)
{
	if (keep) {
		printf("peer files kept in %s\n", dir);
		return;
	}
	static const char *const names[] = { "events.csv", "peer.json" };
	char p[PATH_MAX + 32];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Returns 0 (ran, or skipped with pr->skipped and why), -1 on error. */
static int peer_run(struct rig *market, const struct stream *s, const struct opts *o, struct peer *pr)
{
	char root[PATH_MAX], script[PATH_MAX + 32], seeds[PATH_MAX + 32], engine[PATH_MAX + 64];
	bool have_root = dd_path_find_root("bench/peer_cep.py", root, sizeof(root));
	if (o->peer_script != NULL)
		snprintf(script, sizeof(script), "%s", o->peer_script);
	else if (have_root)
		snprintf(script, sizeof(script), "%s/bench/peer_cep.py", root);
	else
		script[0] = '\0';
	if (o->seed_dir != NULL)
		snprintf(seeds, sizeof(seeds), "%s", o->seed_dir);
	else if (have_root)
		snprintf(seeds, sizeof(seeds), "%s/../shared/seeds", root);
	else
		seeds[0] = '\0';
	char real[PATH_MAX];
	if (seeds[0] != '\0' && realpath(seeds, real) != NULL)
		snprintf(seeds, sizeof(seeds), "%s", real);
	snprintf(engine, sizeof(engine), "%s/market_cep_engine.py", seeds);
	pr->skipped = true;
	if (o->peer_events == 0) {
		snprintf(pr->why, sizeof(pr->why), "--peer-events 0");
		return 0;
	}
	if (!dd_path_on_path("python3")) {
		snprintf(pr->why, sizeof(pr->why), "python3 is not on PATH (install python3 to compare with the seed)");
		return 0;
	}
	if (script[0] == '\0' || !dd_path_is_file(script)) {
		snprintf(pr->why, sizeof(pr->why), "%s not found (run from the repository, or give --peer-script FILE)",
			 script[0] ? script : "bench/peer_cep.py");
		return 0;
	}
	if (seeds[0] == '\0' || !dd_path_is_file(engine)) {
		snprintf(pr->why, sizeof(pr->why),
			 "no seed engine at %s (give --seed-dir DIR holding market_cep_engine.py)",
			 seeds[0] ? engine : "../shared/seeds/market_cep_engine.py");
		return 0;
	}
	pr->skipped = false;

	uint64_t n = prefix_of(s, o->peer_events);
	pr->entries = n;
	pr->itch = 0;
	for (uint64_t i = 0; i < n; i++)
		pr->itch += s->ev[i].type != DD_EV_TICK;
	pr->span_s = since_open(s, n);

	char dir[] = "/tmp/bench_cep.XXXXXX";
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "%s: mkdtemp(/tmp/bench_cep.XXXXXX) failed: %s\n", prog, strerror(errno));
		return -1;
	}
	char csv[PATH_MAX], out[PATH_MAX];
	snprintf(csv, sizeof(csv), "%s/events.csv", dir);
	snprintf(out, sizeof(out), "%s/peer.json", dir);
	if (write_peer_csv(s, n, csv, pr) != 0) {
		rm_peer(dir, o->keep);
		return -1;
	}
	char *argv[] = { "python3", script, "--seed-dir", seeds, "--json", out, csv, NULL };
	printf("peer:");
	for (unsigned i = 0; argv[i] != NULL; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	int st = run_status(argv);
	char buf[4096] = "";
	FILE *f = fopen(out, "r");
	if (f != NULL) {
		size_t k = fread(buf, 1, sizeof(buf) - 1, f);
		buf[k] = '\0';
		fclose(f);
	}
	double matches = 0, rss = 0;
	if (st != 0 || !json_num(buf, "events_per_s", &pr->peer_eps) || !json_num(buf, "seconds", &pr->peer_s) ||
	    !json_num(buf, "first_tenth_events_per_s", &pr->peer_first_eps) ||
	    !json_num(buf, "last_tenth_events_per_s", &pr->peer_last_eps) || !json_num(buf, "matches", &matches) ||
	    !json_num(buf, "max_rss_kb", &rss)) {
		fprintf(stderr, "%s: the peer failed (exit status %d): %s\n", prog, st, buf);
		rm_peer(dir, o->keep);
		return -1;
	}
	pr->peer_matches = (uint64_t)matches;
	pr->peer_rss_kb = (uint64_t)rss;
	pr->ran = true;

	/* a few ms a pass: more passes than the long ones, for a stable median */
	double t[MAX_PASSES];
	struct tally tl;
	pr->dadar_passes = o->passes < PEER_PASSES ? PEER_PASSES : o->passes;
	for (unsigned p = 0; p < pr->dadar_passes; p++) {
		rig_fresh(market);
		memset(&tl, 0, sizeof(tl));
		t[p] = run(&market->chain, s->ev, n, o->burst, 0, &tl);
	}
	tally_sum(&tl);
	pr->dadar_alerts = tl.alerts_total;
	pr->dadar_s = median(t, pr->dadar_passes);
	pr->dadar_eps = (double)pr->itch / pr->dadar_s;
	rm_peer(dir, o->keep);
	return 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

static bool parse_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || x < lo || x > hi) {
		fprintf(stderr, "%s: %s '%s': expected an integer from %" PRIu64 " to %" PRIu64 "\n", prog, opt, v, lo, hi);
		return false;
	}
	*out = x;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [--messages N] [--instruments N] [--passes N] [--burst N] [--seed S] [--rules FILE]\n"
		   "       [--curve-events N] [--curve-passes N] [--mem-messages N] [--peer-events N] [--seed-dir DIR]\n"
		   "       [--peer-script FILE] [--keep] [--small-pages] [--json FILE]\n",
		prog);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const char *const valued[] = { "--messages", "--instruments", "--passes", "--burst", "--seed",
					      "--rules", "--curve-events", "--curve-passes", "--mem-messages",
					      "--peer-events", "--seed-dir", "--peer-script", "--json" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--small-pages") == 0) {
			small_pages = 1;
			continue;
		}
		if (strcmp(a, "--keep") == 0) {
			o->keep = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		size_t k = 0;
		while (k < sizeof(valued) / sizeof(valued[0]) && strcmp(a, valued[k]) != 0)
			k++;
		if (k == sizeof(valued) / sizeof(valued[0])) {
			fprintf(stderr, "%s: unknown option %s\n", prog, a);
			usage(stderr);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", prog, a);
			return -1;
		}
		const char *v = argv[++i];
		uint64_t x;
		if (strcmp(a, "--messages") == 0) {
			if (!parse_u64(a, v, 10000, 100000000, &o->messages))
				return -1;
		} else if (strcmp(a, "--instruments") == 0) {
			if (!parse_u64(a, v, 1, 16000, &x))
				return -1;
			o->instruments = (uint32_t)x;
		} else if (strcmp(a, "--passes") == 0 || strcmp(a, "--curve-passes") == 0) {
			if (!parse_u64(a, v, 1, MAX_PASSES, &x))
				return -1;
			*(a[2] == 'p' ? &o->passes : &o->curve_passes) = (unsigned)x;
		} else if (strcmp(a, "--burst") == 0) {
			if (!parse_u64(a, v, 1, MAX_BURST, &x))
				return -1;
			o->burst = (unsigned)x;
		} else if (strcmp(a, "--seed") == 0) {
			if (!parse_u64(a, v, 0, UINT64_MAX, &o->seed))
				return -1;
		} else if (strcmp(a, "--curve-events") == 0) {
			if (!parse_u64(a, v, 0, 100000000, &o->curve_events))
				return -1;
		} else if (strcmp(a, "--mem-messages") == 0) {
			if (!parse_u64(a, v, 0, 100000000, &o->mem_messages))
				return -1;
		} else if (strcmp(a, "--peer-events") == 0) {
			if (!parse_u64(a, v, 0, 100000000, &o->peer_events))
				return -1;
		} else if (strcmp(a, "--rules") == 0) {
			o->rules = v;
		} else if (strcmp(a, "--seed-dir") == 0) {
			o->seed_dir = v;
		} else if (strcmp(a, "--peer-script") == 0) {
			o->peer_script = v;
		} else {
			o->json = v;
		}
	}
	return 0;
}

static const char *const type_short[DD_EV__COUNT] = {
	[DD_EV_SYSTEM] = "S",  [DD_EV_DIRECTORY] = "R", [DD_EV_TRADING_STATE] = "H", [DD_EV_ADD] = "A/F",
	[DD_EV_EXEC] = "E",    [DD_EV_EXEC_PRICE] = "C", [DD_EV_CANCEL] = "X",        [DD_EV_DELETE] = "D",
	[DD_EV_REPLACE] = "U", [DD_EV_TRADE] = "P",     [DD_EV_CROSS] = "Q",         [DD_EV_BROKEN] = "B",
};

static void hms(uint64_t ns, char *out, size_t len)
{
	uint64_t s = ns / 1000000000u;
	snprintf(out, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64, s / 3600, s / 60 % 60, s % 60,
		 ns / 1000000u % 1000);
}

int main(int argc, char **argv)
{
	struct opts o = { .instruments = 1000, .messages = 8000000, .seed = 42, .passes = 5, .burst = 32,
			  .curve_events = 1000000, .curve_passes = 5, .mem_messages = 200000, .peer_events = 20000,
			  .rules = DEFAULT_RULES };
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	double wall0 = now_s();
	double load0 = loadavg1();
	int rc = 0;
	uint64_t hz = tsc_hz();

	/* the default path from the repository root, wherever we were started from */
	static char rules_path[PATH_MAX + 32];
	char root[PATH_MAX];
	if (strcmp(o.rules, DEFAULT_RULES) == 0 && !dd_path_is_file(o.rules) && dd_path_find_root("bench/peer_cep.py", root, sizeof(root))) {
		snprintf(rules_path, sizeof(rules_path), "%s/%s", root, DEFAULT_RULES);
		o.rules = rules_path;
	}
	size_t rlen;
	char *rtext = read_file(o.rules, &rlen);
	struct dd_mrules *market = compile(rtext, rlen, o.rules);

	static struct stream s;
	double g0 = now_s();
	build(&s, o.seed, o.instruments, o.messages);
	double gen_s = now_s() - g0;
	uint64_t ntrades = s.bytype[DD_EV_EXEC] + s.bytype[DD_EV_EXEC_PRICE] + s.bytype[DD_EV_TRADE];

	char buf[6][32], t0s[32], t1s[32], t2s[32];
	print_thousands(buf[0], sizeof(buf[0]), (double)s.nitch);
	print_thousands(buf[1], sizeof(buf[1]), (double)s.nticks);
	hms(s.open_ns, t0s, sizeof(t0s));
	hms(s.flow_end_ns, t1s, sizeof(t1s));
	double flow_s = (double)(s.flow_end_ns - s.open_ns) * 1e-9;
	printf("bench_cep: %s ITCH events (%" PRIu64 " messages) of %u instruments, seed %" PRIu64 "; built in %.1f s\n",
	       buf[0], s.msgs, o.instruments, o.seed, gen_s);
	hms(s.first_ns, t2s, sizeof(t2s));
	printf("  the day: start of day %s, order flow from the open %s to %s (%.1f s of event time, %.0f events/s of "
	       "it), the closing S messages up to ", t2s, t0s, t1s, flow_s, (double)s.nitch / flow_s);
	hms(s.last_ns, t2s, sizeof(t2s));
	printf("%s; %s ticks (1 ms watermark)\n", t2s, buf[1]);
	printf("  events by type:");
	for (unsigned t = 0; t < DD_EV__COUNT; t++)
		if (s.bytype[t] && type_short[t])
			printf(" %s %.2f%%", type_short[t], 100.0 * (double)s.bytype[t] / (double)s.nitch);
	printf("; trades (E C P) %" PRIu64 "; the busiest instrument has %.1f%% of the events\n", ntrades,
	       100.0 * (double)s.top_share / (double)s.nitch);
	printf("  rules: %s: %u windows, %u patterns; state per symbol: patterns %zu bytes, windows %zu bytes\n",
	       o.rules, market->nwindows, market->npatterns, dd_cep_key_bytes(market), dd_window_key_bytes(market));

	/* throughput: the three chains interleaved pass by pass */
	enum { C_MARKET, C_BOOK, C_TRADES, NCHAINS };
	static const char *const cname[NCHAINS] = { "market", "book", "book+trades" };
	static struct rig rigs[NCHAINS];
	uint32_t keys = o.instruments + 16;
	rig_setup(&rigs[C_MARKET], cname[C_MARKET], market, true, true, true, keys, o.burst);
	rig_setup(&rigs[C_BOOK], cname[C_BOOK], NULL, false, false, false, keys, o.burst);
	rig_setup(&rigs[C_TRADES], cname[C_TRADES], NULL, false, false, true, keys, o.burst);
	double t[NCHAINS][MAX_PASSES];
	struct tally first[NCHAINS], tl;
	for (unsigned p = 0; p < o.passes; p++)
		for (unsigned c = 0; c < NCHAINS; c++) {
			rig_fresh(&rigs[c]);
			memset(&tl, 0, sizeof(tl));
			t[c][p] = run(&rigs[c].chain, s.ev, s.n, o.burst, 0, &tl);
			tally_sum(&tl);
			if (p == 0)
				first[c] = tl;
			else if (memcmp(&first[c], &tl, sizeof(tl)) != 0) {
				fprintf(stderr, "%s: chain %s: pass %u made other outputs than pass 1\n", prog, cname[c], p + 1);
				rc = 1;
			}
		}
	struct dd_chain *mc = &rigs[C_MARKET].chain;
	double med[NCHAINS], eps[NCHAINS], nsev[NCHAINS];
	for (unsigned c = 0; c < NCHAINS; c++) {
		med[c] = median(t[c], o.passes);
		eps[c] = (double)s.nitch / med[c];
		nsev[c] = med[c] * 1e9 / (double)s.nitch;
	}
	uint64_t overflow = dd_chain_overflow(mc);
	if (overflow != 0) {
		fprintf(stderr, "%s: the market chain's output buffer overflowed: %" PRIu64 " outputs lost\n", prog, overflow);
		rc = 1;
	}
	static const char *const cep_c[] = { "cep_records", "cep_alerts", "cep_expired", "cep_evicted", "cep_no_symbol",
					     "cep_keys_full", "cep_timer_full" };
	static const char *const win_c[] = { "window_records", "window_fired", "window_late", "window_full",
					     "window_deferred", "window_no_symbol" };
	uint64_t cepv[7], winv[6];
	for (unsigned i = 0; i < 7; i++)
		cepv[i] = counter(mc, DD_OP_CEP, cep_c[i]);
	for (unsigned i = 0; i < 6; i++)
		winv[i] = counter(mc, DD_OP_WINDOW, win_c[i]);

	printf("\nthroughput (bursts of %u, fresh chain per pass, median of %u passes; events/s counts the ITCH events, "
	       "the ticks are in the time; this 2-vCPU VM is shared and noisy)\n", o.burst, o.passes);
	for (unsigned c = 0; c < NCHAINS; c++) {
		print_thousands(buf[0], sizeof(buf[0]), eps[c]);
		printf("  %-12s %12s events/s  %7.1f ns/event   passes:", cname[c], buf[0], nsev[c]);
		for (unsigned p = 0; p < o.passes; p++)
			printf(" %.3f", t[c][p]);
		printf(" s   chain %.1f MiB\n", (double)rigs[c].len / 1048576.0);
	}
	printf("  the patterns and windows on top of the book: %+.1f ns/event (market / book %.2fx); target 5,000,000/s: "
	       "%s; Esper's published 500,000/s: %.1fx\n",
	       nsev[C_MARKET] - nsev[C_BOOK], nsev[C_MARKET] / nsev[C_BOOK], eps[C_MARKET] >= TARGET_EPS ? "reached" : "NOT reached",
	       eps[C_MARKET] / ESPER_EPS);
	const struct tally *ft = &first[C_MARKET];
	printf("  outputs of a pass: %" PRIu64 " alerts (", ft->alerts_total);
	for (unsigned i = 0; i < market->npatterns; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", market->pattern[i].name, ft->alerts[i]);
	printf("), %" PRIu64 " window results (", ft->windows_total);
	for (unsigned i = 0; i < market->nwindows; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", market->window[i].name, ft->windows[i]);
	printf("), %" PRIu64 " late, %" PRIu64 " top-of-book, %" PRIu64 " trades\n", ft->late, ft->bbo, ft->trades);
	printf("  counters:");
	for (unsigned i = 0; i < 7; i++)
		printf(" %s %" PRIu64, cep_c[i], cepv[i]);
	for (unsigned i = 0; i < 6; i++)
		printf(" %s %" PRIu64, win_c[i], winv[i]);
	printf("; overflow %" PRIu64 "\n", overflow);

	/* one more pass with the chain's per-operator clock: where the time goes */
	uint64_t opt[DD_CHAIN_MAX_OPS];
	rigs[C_MARKET].cp.clock = tsc_clock;
	rig_fresh(&rigs[C_MARKET]);
	memset(&tl, 0, sizeof(tl));
	double clocked_s = run_clocked(mc, s.ev, s.n, o.burst, &tl, opt);
	rigs[C_MARKET].cp.clock = NULL;
	double opns[DD_CHAIN_MAX_OPS];
	printf("  by operator (one more pass, the chain's TSC clock around each operator's run of a burst: %.1f ns/event "
	       "in all):", clocked_s * 1e9 / (double)s.nitch);
	for (unsigned k = 0; k < mc->nops; k++) {
		opns[k] = (double)opt[k] * 1e9 / (double)hz / (double)s.nitch;
		printf(" %s %.1f", mc->op[k].ops->name, opns[k]);
	}
	printf(" ns/event\n");
	fflush(stdout);

	/* per event */
	struct dd_tsc_conv conv;
	dd_tsc_conv_init(&conv, hz);
	struct lat l;
	struct rig one;
	rig_setup(&one, "market, burst 1", market, true, true, true, keys, 1);
	rig_fresh(&one);
	memset(&tl, 0, sizeof(tl));
	double l0 = now_s();
	per_event(&one, &s, &conv, &l, &tl);
	double lat_s = now_s() - l0;
	tally_sum(&tl);
	if (tl.alerts_total != ft->alerts_total || tl.windows_total != ft->windows_total) {
		fprintf(stderr, "%s: one input per run made other outputs than bursts of %u\n", prog, o.burst);
		rc = 1;
	}
	rig_free(&one);
	printf("\nper input, market chain (one dd_chain_run of one event or tick between two lfence+rdtsc: the figures "
	       "include those two TSC reads; TSC %.3f GHz)\n", (double)hz * 1e-9);
	printf("  p50 %" PRIu64 " ns   p90 %" PRIu64 " ns   p99 %" PRIu64 " ns   p99.9 %" PRIu64 " ns   max %" PRIu64
	       " ns   mean %.1f ns   (empty timed region: p50 %" PRIu64 " ns, max %" PRIu64 " ns)\n",
	       l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.empty_p50, l.empty_max);
	fflush(stdout);

	/* curves */
	struct point pw[NWITHIN], pn[NNPAT];
	uint64_t cn = 0, cnitch = 0;
	double base_ns = 0, c0 = now_s();
	if (o.curve_events > 0) {
		cn = prefix_of(&s, o.curve_events);
		uint64_t ctrades = 0;
		for (uint64_t i = 0; i < cn; i++) {
			cnitch += s.ev[i].type != DD_EV_TICK;
			ctrades += s.ev[i].type == DD_EV_EXEC || s.ev[i].type == DD_EV_EXEC_PRICE || s.ev[i].type == DD_EV_TRADE;
		}
		curves(&s, cn, cnitch, o.curve_passes, o.burst, hz, &base_ns, pw, pn);
		printf("\ncurves: the first %" PRIu64 " ITCH events (%" PRIu64 " trades, %.1f s of event time after the "
		       "open), chain book (trades) + patterns with the chain's per-operator clock on, every chain fresh, "
		       "interleaved, median of %u passes; the baseline book+trades %.1f ns/event\n",
		       cnitch, ctrades, since_open(&s, cn), o.curve_passes, base_ns);
		printf("  WITHIN (one pattern a -> b, every trade starts a partial match, MAX PARTIAL 8):\n");
		for (unsigned i = 0; i < NWITHIN; i++)
			printf("    %-17s %7.1f ns/event  (%+6.1f over the book; the pattern operator %5.1f)  a trade finds %.2f "
			       "partial matches; evicted %" PRIu64 ", expired %" PRIu64 "\n",
			       within_txt[i], pw[i].ns, pw[i].over, pw[i].op_ns, pw[i].alive, pw[i].evicted, pw[i].expired);
		printf("  patterns (copies of momentum):\n");
		for (unsigned i = 0; i < NNPAT; i++)
			printf("    %2u %7.1f ns/event  (%+6.1f over the book; the pattern operator %5.1f, %4.1f per pattern)  "
			       "alerts %" PRIu64 ", evicted %" PRIu64 ", state %zu bytes/symbol\n",
			       npat_steps[i], pn[i].ns, pn[i].over, pn[i].op_ns, pn[i].op_ns / npat_steps[i], pn[i].alerts,
			       pn[i].evicted, pn[i].key_bytes);
	}
	double curve_s = now_s() - c0;
	for (unsigned c = 0; c < NCHAINS; c++)
		if (c != C_MARKET)
			rig_free(&rigs[c]);

	/* memory */
	struct memres mr;
	double m0 = now_s();
	if (o.mem_messages > 0) {
		memory_run(rtext, rlen, market, o.seed, o.instruments, o.mem_messages, o.burst, &mr);
		printf("\nmemory, adversarial (rules/market.rules + flood: every message starts a partial match, MAX PARTIAL "
		       "64), a drained day of %" PRIu64 " ITCH events run %u times back to back, each %.0f s of event time after "
		       "the one before:\n", mr.events, MEM_REPS, (double)mr.span_ns * 1e-9);
		printf("  state per symbol: patterns %zu bytes (the shipped rules alone: %zu), windows %zu; for %u symbols: "
		       "pattern operator %.2f MiB, window operator %.2f MiB, whole chain %.1f MiB (output buffer and book "
		       "included), all fixed at init\n",
		       mr.key_bytes_adv, mr.key_bytes_market, mr.window_key_bytes, mr.keys, (double)mr.cep_bytes / 1048576.0,
		       (double)mr.window_bytes / 1048576.0, (double)mr.chain_bytes / 1048576.0);
		printf("  resident before the first repetition: %" PRIu64 " kB\n", mr.rss_before_kb);
		for (unsigned k = 0; k < MEM_REPS; k += MEM_REPS - 1)
			printf("  after %2ux (%9" PRIu64 " events): resident %" PRIu64 " kB (%+" PRId64 "), cep_records %" PRIu64
			       ", cep_evicted %" PRIu64 ", cep_expired %" PRIu64 ", cep_alerts %" PRIu64 "\n",
			       k + 1, mr.rep[k].events, mr.rep[k].rss_kb, (int64_t)(mr.rep[k].rss_kb - mr.rss_before_kb),
			       mr.rep[k].records, mr.rep[k].evicted, mr.rep[k].expired, mr.rep[k].alerts);
		printf("  ns/event of each repetition (the copy that shifts its times included):");
		for (unsigned k = 0; k < MEM_REPS; k++)
			printf(" %.0f", mr.rep[k].ns);
		printf("\n");
	}
	double mem_s = now_s() - m0;

	/* the peer */
	struct peer pr;
	memset(&pr, 0, sizeof(pr));
	printf("\n");
	fflush(stdout);
	double p0 = now_s();
	if (peer_run(&rigs[C_MARKET], &s, &o, &pr) != 0)
		rc = 1;
	double peer_s = now_s() - p0;
	if (pr.skipped) {
		printf("peer: skipped: %s\n", pr.why);
	} else if (pr.ran) {
		print_thousands(buf[0], sizeof(buf[0]), pr.dadar_eps);
		print_thousands(buf[1], sizeof(buf[1]), pr.peer_eps);
		printf("peer: the first %" PRIu64 " ITCH events (%.2f s of event time after the open); the seed was given %" PRIu64
		       " of them: %" PRIu64 " orders, %" PRIu64 " trades (from the book), %" PRIu64 " halts as news\n",
		       pr.itch, pr.span_s, pr.orders + pr.trades + pr.halts, pr.orders, pr.trades, pr.halts);
		printf("  dadar (market chain, median of %2u)  %14s events/s   %.4f s   %" PRIu64 " alerts\n", pr.dadar_passes, buf[0],
		       pr.dadar_s, pr.dadar_alerts);
		printf("  seed engine (Python, per event)     %14s events/s   %.4f s   %" PRIu64 " matches; first tenth "
		       "%.0f/s, last tenth %.0f/s; max RSS %" PRIu64 " kB\n",
		       buf[1], pr.peer_s, pr.peer_matches, pr.peer_first_eps, pr.peer_last_eps, pr.peer_rss_kb);
		printf("  ratio of events/s: %.0fx; of the time for the same stretch of the day: %.0fx\n",
		       pr.dadar_eps / pr.peer_eps, pr.peer_s / pr.dadar_s);
	}
	rig_free(&rigs[C_MARKET]);

	double wall = now_s() - wall0;
	double load1 = loadavg1();
	printf("\nrun took %.1f s (stream %.1f s, per-input pass %.1f s, curves %.1f s, memory %.1f s, peer %.1f s); "
	       "1-minute load average %.2f at the start, %.2f at the end\n", wall, gen_s, lat_s, curve_s, mem_s, peer_s, load0,
	       load1);

	if (o.json != NULL) {
		FILE *f = fopen(o.json, "w");
		if (f == NULL) {
			fprintf(stderr, "%s: cannot write %s: %s\n", prog, o.json, strerror(errno));
			return 1;
		}
		fprintf(f, "{\"bench\": \"cep\", \"seed\": %" PRIu64 ", \"instruments\": %u, \"messages\": %" PRIu64
			", \"itch_events\": %" PRIu64 ", \"ticks\": %" PRIu64 ", \"trades\": %" PRIu64
			", \"flow_s\": %.3f, \"burst\": %u, \"passes\": %u, \"rules\": \"%s\",\n",
			o.seed, o.instruments, s.msgs, s.nitch, s.nticks, ntrades, flow_s,
			o.burst, o.passes, o.rules);
		fprintf(f, " \"throughput\": {");
		for (unsigned c = 0; c < NCHAINS; c++) {
			fprintf(f, "%s\"%s\": {\"events_per_s\": %.0f, \"ns_per_event\": %.2f, \"chain_bytes\": %zu, "
				"\"pass_seconds\": [", c ? ", " : "", cname[c], eps[c], nsev[c], rigs[c].len);
			for (unsigned p = 0; p < o.passes; p++)
				fprintf(f, "%s%.6f", p ? ", " : "", t[c][p]);
			fprintf(f, "]}");
		}
		fprintf(f, "},\n \"by_operator_ns\": {");
		for (unsigned k = 0; k < mc->nops; k++)
			fprintf(f, "%s\"%s\": %.2f", k ? ", " : "", mc->op[k].ops->name, opns[k]);
		fprintf(f, "}, \"load_start\": %.2f, \"load_end\": %.2f,\n", load0, load1);
		fprintf(f, " \"target_events_per_s\": %.0f, \"target_reached\": %s, \"esper_anchor_events_per_s\": %.0f,\n",
			TARGET_EPS, eps[C_MARKET] >= TARGET_EPS ? "true" : "false", ESPER_EPS);
		fprintf(f, " \"alerts\": {");
		for (unsigned i = 0; i < market->npatterns; i++)
			fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", market->pattern[i].name, ft->alerts[i]);
		fprintf(f, "}, \"windows\": {");
		for (unsigned i = 0; i < market->nwindows; i++)
			fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", market->window[i].name, ft->windows[i]);
		fprintf(f, "}, \"late\": %" PRIu64 ", \"bbo\": %" PRIu64 ", \"overflow\": %" PRIu64 ",\n \"counters\": {",
			ft->late, ft->bbo, overflow);
		for (unsigned i = 0; i < 7; i++)
			fprintf(f, "\"%s\": %" PRIu64 ", ", cep_c[i], cepv[i]);
		for (unsigned i = 0; i < 6; i++)
			fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", win_c[i], winv[i]);
		fprintf(f, "},\n \"per_input_ns\": {\"p50\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
			", \"p99_9\": %" PRIu64 ", \"max\": %" PRIu64 ", \"mean\": %.1f, \"empty_region_p50\": %" PRIu64
			", \"includes\": \"two lfence+rdtsc\", \"burst\": 1}, \"tsc_hz\": %" PRIu64 ",\n",
			l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.empty_p50, hz);
		if (o.curve_events > 0) {
			fprintf(f, " \"curves\": {\"itch_events\": %" PRIu64 ", \"passes\": %u, \"baseline_ns\": %.2f, "
				"\"within\": [", cnitch, o.curve_passes, base_ns);
			for (unsigned i = 0; i < NWITHIN; i++)
				fprintf(f, "%s{\"within_ns\": %" PRIu64 ", \"ns_per_event\": %.2f, \"over_book\": %.2f, \"cep_ns\": %.2f, "
					"\"alive\": %.3f, \"evicted\": %" PRIu64 ", \"expired\": %" PRIu64 "}",
					i ? ", " : "", within_ns[i], pw[i].ns, pw[i].over, pw[i].op_ns, pw[i].alive, pw[i].evicted, pw[i].expired);
			fprintf(f, "], \"patterns\": [");
			for (unsigned i = 0; i < NNPAT; i++)
				fprintf(f, "%s{\"patterns\": %u, \"ns_per_event\": %.2f, \"over_book\": %.2f, \"cep_ns\": %.2f, \"alerts\": %" PRIu64
					", \"evicted\": %" PRIu64 ", \"key_bytes\": %zu}",
					i ? ", " : "", npat_steps[i], pn[i].ns, pn[i].over, pn[i].op_ns, pn[i].alerts, pn[i].evicted,
					pn[i].key_bytes);
			fprintf(f, "]},\n");
		}
		if (o.mem_messages > 0) {
			fprintf(f, " \"memory\": {\"events\": %" PRIu64 ", \"keys\": %u, \"key_bytes\": %zu, "
				"\"key_bytes_shipped\": %zu, \"window_key_bytes\": %zu, \"cep_bytes\": %zu, \"window_bytes\": %zu, "
				"\"chain_bytes\": %zu, \"rss_before_kb\": %" PRIu64 ", \"reps\": [",
				mr.events, mr.keys, mr.key_bytes_adv, mr.key_bytes_market, mr.window_key_bytes, mr.cep_bytes,
				mr.window_bytes, mr.chain_bytes, mr.rss_before_kb);
			for (unsigned k = 0; k < MEM_REPS; k++)
				fprintf(f, "%s{\"events\": %" PRIu64 ", \"rss_kb\": %" PRIu64 ", \"cep_records\": %" PRIu64
					", \"cep_evicted\": %" PRIu64 ", \"cep_expired\": %" PRIu64 ", \"ns_per_event\": %.2f}",
					k ? ", " : "", mr.rep[k].events, mr.rep[k].rss_kb, mr.rep[k].records, mr.rep[k].evicted,
					mr.rep[k].expired, mr.rep[k].ns);
			fprintf(f, "]},\n");
		}
		if (pr.ran)
			fprintf(f, " \"peer\": {\"name\": \"seed-market-cep-python\", \"itch_events\": %" PRIu64
				", \"peer_events\": %" PRIu64 ", \"peer_events_per_s\": %.1f, \"peer_seconds\": %.6f, "
				"\"peer_first_tenth_events_per_s\": %.1f, \"peer_last_tenth_events_per_s\": %.1f, "
				"\"peer_matches\": %" PRIu64 ", \"peer_max_rss_kb\": %" PRIu64 ", \"dadar_events_per_s\": %.0f, "
				"\"dadar_seconds\": %.6f, \"ratio\": %.1f},\n",
				pr.itch, pr.orders + pr.trades + pr.halts, pr.peer_eps, pr.peer_s, pr.peer_first_eps,
				pr.peer_last_eps, pr.peer_matches, pr.peer_rss_kb, pr.dadar_eps, pr.dadar_s,
				pr.dadar_eps / pr.peer_eps);
		else
			fprintf(f, " \"peer\": {\"skipped\": \"%s\"},\n", pr.skipped ? pr.why : "failed");
		fprintf(f, " \"seconds\": %.1f}\n", wall);
		fclose(f);
	}
	free(s.ev);
	free(s.sym);
	free(market);
	free(rtext);
	return rc;
}
