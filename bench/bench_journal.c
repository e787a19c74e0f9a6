/* SPDX-License-Identifier: MIT */
/*
 * bench_journal: the journal stage (dataplane/dpdk/journal.c) at the durability it promises, next to
 * the writer a user would otherwise write, in one run on the same disk; then the rate at which
 * recovery replays what the journal wrote.
 *
 * Content: N records of what the daemon journals, built once before anything is timed: EVENT
 * records carrying a 64-byte struct dd_event (adds and deletes of orders on 8 instruments, feed
 * sequence numbers 1, 2, ...) and, after every event that changes a top of book, the OUTPUT record
 * the book derives (dd_book_apply + dd_book_bbo_output on a book run here). The price mix is
 * chosen so that about one event in three has an output, and so that the replay below can check
 * every journaled output against the books.
 *
 * Each record is handed over with its append time (tsc) in bursts of 32, by one producer on the
 * main lcore; "durable" is when the fdatasync covering it returned. Latency is append → durable
 * per record. Two loads:
 *   saturated  the producer hands records over as fast as the writer takes them;
 *              records/s = N / (first hand-over → the durable LSN covering the last record).
 *   paced      open loop at --rate records/s: burst k is due at t0 + 32k/rate, the producer spins
 *              until then and stamps it with its due time, so a producer held back by a full
 *              queue does not hide the wait (no coordinated omission).
 * Writers:
 *   dadar      dd_journal_create (sync = group: O_DIRECT writes linked to fdatasync, one commit
 *              in flight; release = durable; no output file; 64 MiB segments; the other journal
 *              options at their defaults: commit every 200 µs or 256 KiB) with dd_journal_main on
 *              lcore 1, a control thread keeping a spare segment ready every 10 ms as the daemon
 *              does, the producer pushing dd_jitems with dd_journal_push. Latency as the journal
 *              records it itself (dd_journal_bind_tm).
 *   pwrite     the peer: the producer frames the same records (dd_jrec_put: the same bytes) into
 *              the filling half of a mutex-protected double buffer (8 MiB a half, the journal's
 *              staging size), one lock per burst; a writer thread (pinned to lcore 1's CPU) swaps
 *              halves, writes what accumulated with one buffered pwrite to a plain growing file and
 *              fdatasyncs it, then marks those records durable. Plain C, pthreads, no io_uring.
 *   pwrite+O_DIRECT  the same writer with O_DIRECT: whole pages from an aligned buffer, the
 *              partial last page zero-padded and rewritten by the next batch.
 * Before them, framing alone (no I/O): the stage framing a record whole against the split the
 * workers of the staged pipeline use (measure_framing()).
 * Then replay: dd_replay_run over the journal the saturated dadar run wrote (1 shard, 1 feed,
 * books of modest capacity), twice: "cold" first (the journal was written with O_DIRECT, so none
 * of it is in the page cache), then "warm" (the first replay's reads left it there). The replay
 * must find exactly the events and outputs that were journaled, all outputs matching the books,
 * and a clean journal: otherwise the benchmark says so and exits 1.
 *
 * usage: bench_journal [--records N] [--dir DIR] [--rate R] [--idle yield|spin] [--json FILE]
 *   --records  records per mode (default 2,000,000), events and outputs together
 *   --idle     dadar's journal.idle (default spin, the daemon's default)
 *   --dir      where the temporary journals go (default build/bench/journal-tmp; removed after)
 *   --rate     paced load in records/s (default 500,000)
 * EAL arguments are fixed: --no-huge --no-pci -m 1024 --no-shconf --no-telemetry
 * --log-level=*:warning -l 0-1 --file-prefix bench_journal_<pid>.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "dataplane/config/config.h"
#include "dataplane/journal/jfile.h"
#include "dataplane/dpdk/journal.h"
#include "dataplane/journal/replay.h"
#include "ops/book/book.h"
#include "ops/book/book_op.h"
#include "ops/chain.h"
#include "ops/event.h"
#include "ops/output.h"
#include "shm/hdr.h"
#include "shm/telemetry.h"

#define BURST 32
#define NINSTR 8            /* instruments: stock locates 1..NINSTR */
#define MAXLIVE 512         /* live orders per instrument, at most */
#define TARGET_LIVE 256     /* ... and about this many once warmed up */
#define TOP_PCT 30          /* % of adds placed at the best price level: about one output per 3 events */
#define SEGMENT_MB 64
#define PEER_HALF (8u << 20) /* the peer's buffer halves: dadar's staging buffer size */
#define PAGE DD_J_PAGE
#define REC_SIZE dd_jrec_size(sizeof(struct dd_output)) /* the largest record here: an output */

static const struct dd_hdr_params lat_params = { .lowest = 1, .highest = 60ull * 1000 * 1000 * 1000, .sigfigs = 3 };

static uint64_t tsc_hz;
static enum dd_jidle idle = DD_JIDLE_SPIN;
static struct dd_tsc_conv conv;

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(PAGE, (n + PAGE - 1) & ~(size_t)(PAGE - 1));
	if (p == NULL) {
		fprintf(stderr, "bench_journal: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static double secs(uint64_t ticks)
{
	return (double)ticks / (double)tsc_hz;
}

/* ---- content ----------------------------------------------------------------------------------- */

struct instr {
	uint64_t live[MAXLIVE];   /* references of its live orders */
	unsigned n;
	uint32_t mid;
};

struct gen {
	uint64_t rng;
	uint64_t seq, next_ref;
	uint64_t inputs;          /* events made so far: the next one's input position */
	struct instr in[NINSTR + 1];
	struct dd_chain chain;    /* the book operator, driven as the daemon drives it */
	void *chain_mem;
};

static const struct dd_book_params book_params = { .max_instruments = 64, .max_orders = 1u << 16,
						   .max_levels = 1u << 14 };

static uint64_t rnd(struct gen *g)
{
	/* xorshift64*: fixed seed, the same content every run */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return (g->rng * 0x2545F4914F6CDD1Dull) >> 16;
}

/* The configuration the journal records: one shard, one feed, the book with book_params. */
static void jconfig(struct dd_jconfig *jc)
{
	memset(jc, 0, sizeof(*jc));
	jc->version = DD_JCONFIG_VERSION;
	jc->nshards = 1;
	jc->nfeeds = 1;
	struct dd_book_op_params bp = { .book = book_params, .nfeeds = 1 };
	if (dd_chain_spec_add(&jc->market, DD_OP_BOOK, &bp, sizeof(bp)) != 0) {
		fprintf(stderr, "bench_journal: cannot describe the chain\n");
		exit(1);
	}
}

static void chain_new(struct dd_chain *c, void **mem)
{
	static struct dd_jconfig jc;
	jconfig(&jc);
	struct dd_chain_params cp = { .spec = &jc.market, .burst = 1 };
	size_t len = dd_chain_memsize(&cp);
	char err[256];
	if (*mem == NULL)
		*mem = xalloc(len);
	if (dd_chain_init(c, *mem, len, &cp, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_journal: %s\n", err);
		exit(1);
	}
}

static struct dd_event new_event(struct gen *g, uint8_t type, uint8_t msg, uint32_t locate)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.msg = msg;
	e.key = locate;
	e.seq = ++g->seq;
	e.event_ns = 34200000000000ull + g->seq * 1000; /* 09:30:00, then one event per µs */
	e.rx_tsc = g->seq;
	return e;
}

/* An add: side at random, TOP_PCT % at the best price (one tick inside the spread), the rest
 * spread over the 15 levels behind it; `deep` puts it 1000 ticks away (it never moves the top). */
static struct dd_event make_add(struct gen *g, uint32_t l, bool deep)
{
	struct instr *in = &g->in[l];
	struct dd_event e = new_event(g, DD_EV_ADD, 'A', l);
	uint8_t side = rnd(g) & 1 ? DD_SIDE_BUY : DD_SIDE_SELL;
	uint32_t d = deep ? 1000 : rnd(g) % 100 < TOP_PCT ? 0 : 1 + (uint32_t)(rnd(g) % 15);
	e.u.add.ref = ++g->next_ref;
	e.u.add.shares = 100 * (1 + (uint32_t)(rnd(g) % 10));
	e.u.add.price = side == DD_SIDE_BUY ? in->mid - 100 * d : in->mid + 100 + 100 * d;
	e.u.add.side = side;
	snprintf(e.u.add.stock, sizeof(e.u.add.stock), "SYM%u", l);
	memset(e.u.add.stock + 4, ' ', 4);
	memcpy(e.u.add.mpid, "    ", 4);
	in->live[in->n++] = e.u.add.ref;
	return e;
}

/* As the daemon's RX lcore hands records over (the stage frames them whole: dd_jitem_fill()). */
static void put_item(struct dd_jitem *it, uint16_t type, uint32_t partition, const void *p, uint32_t len)
{
	memset(it, 0, sizeof(*it));
	dd_jitem_fill(it, type, 0, partition, p, (uint16_t)len, 0, false);
}

/* Run `e` through the generator's chain; an output item after the event if the top changed. */
static uint64_t emit(struct gen *g, const struct dd_event *e, struct dd_jitem *items, uint64_t k, uint64_t *nout)
{
	put_item(&items[k++], DD_JREC_EVENT, e->key, e, sizeof(*e));
	uint64_t cause = g->inputs++;
	dd_chain_run(&g->chain, e, &cause, 1);
	for (unsigned i = 0; i < g->chain.emit.n; i++) {
		const struct dd_output *o = &g->chain.emit.out[i];
		put_item(&items[k++], DD_JREC_OUTPUT, o->key, o, sizeof(*o));
		(*nout)++;
	}
	dd_chain_drain(&g->chain);
	return k;
}

/* N records: events and the outputs the book derives from them. */
static struct dd_jitem *make_items(uint64_t n, uint64_t *nevents, uint64_t *noutputs)
{
	struct dd_jitem *items = xalloc((n + 1) * sizeof(*items));
	struct gen *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		fprintf(stderr, "bench_journal: out of memory\n");
		exit(1);
	}
	g->rng = 0x9E3779B97F4A7C15ull;
	for (uint32_t l = 1; l <= NINSTR; l++)
		g->in[l].mid = 100000 * l + 500000; /* $60.00, $70.00, ... */
	chain_new(&g->chain, &g->chain_mem);
	uint64_t k = 0, ev = 0;
	*noutputs = 0;
	while (k < n) {
		uint32_t l = 1 + (uint32_t)(rnd(g) % NINSTR);
		struct instr *in = &g->in[l];
		struct dd_event e;
		if (n - k == 1) {
			/* room for one record: an add far behind the top, which has no output */
			e = make_add(g, l, true);
		} else if (in->n < 16 || (in->n < MAXLIVE && rnd(g) % 100 < (in->n < TARGET_LIVE ? 55u : 45u))) {
			e = make_add(g, l, false);
		} else {
			unsigned i = (unsigned)(rnd(g) % in->n);
			e = new_event(g, DD_EV_DELETE, 'D', l);
			e.u.del.ref = in->live[i];
			in->live[i] = in->live[--in->n];
		}
		uint64_t before = k;
		k = emit(g, &e, items, k, noutputs);
		ev++;
		if (k > n) {
			fprintf(stderr, "bench_journal: the last event (%llu) had an output; the generator is wrong\n",
				(unsigned long long)before);
			exit(1);
		}
	}
	char why[256] = "";
	if (dd_book_check(dd_book_op_book(dd_chain_state(&g->chain, DD_OP_BOOK), 0), why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_journal: the generator's book went wrong: %s\n", why);
		exit(1);
	}
	*nevents = ev;
	free(g->chain_mem);
	free(g);
	return items;
}

/* ---- results ----------------------------------------------------------------------------------- */

struct result {
	const char *writer;       /* "dadar", "pwrite", "pwrite+O_DIRECT" */
	uint64_t rate;            /* 0: saturated */
	uint64_t records;
	uint64_t bytes;           /* record bytes made durable */
	uint64_t commits;         /* write + fdatasync pairs */
	uint64_t segments;
	uint64_t commit_bytes_max;
	uint64_t max_lag;         /* paced: ticks the producer fell behind its schedule, at most */
	double secs;              /* first hand-over → last record durable */
	struct dd_hdr *lat;
};

static double rps(const struct result *r)
{
	return (double)r->records / r->secs;
}

static double mbps(const struct result *r)
{
	return (double)r->bytes / r->secs / 1e6;
}

/* When burst starting at record `i` is due: the paced schedule. */
static inline uint64_t due_tsc(uint64_t t0, uint64_t i, uint64_t rate)
{
	return t0 + (uint64_t)((unsigned __int128)i * tsc_hz / rate);
}

/* The append time of the burst at record `i`: now (saturated), or its due time once it came
 * (paced; the lag behind the schedule is kept). */
static inline uint64_t hand_over_tsc(uint64_t t0, uint64_t i, uint64_t rate, uint64_t *max_lag)
{
	if (rate == 0)
		return rte_rdtsc();
	uint64_t due = due_tsc(t0, i, rate), now;
	while ((now = rte_rdtsc()) < due)
		rte_pause();
	if (now - due > *max_lag)
		*max_lag = now - due;
	return due;
}

/* ---- dadar's journal -------------------------------------------------------------------------- */

/* What the daemon's control thread does for the journal: keep a spare segment ready. */
struct tender {
	struct dd_journal *j;
	atomic_int stop;
	int rc;
	char err[512];
};

static void *tend_main(void *arg)
{
	struct tender *t = arg;
	/* pairs with the release store in run_dadar() once the journal lcore returned */
	while (!atomic_load_explicit(&t->stop, memory_order_acquire)) {
		rte_delay_us_sleep(10 * 1000);
		if (t->rc == 0 && (t->rc = dd_journal_tend(t->j, t->err, sizeof(t->err))) != 0)
			fprintf(stderr, "bench_journal: %s\n", t->err);
	}
	return NULL;
}

static int run_dadar(struct dd_jitem *items, uint64_t n, uint64_t rate, const char *dir, struct result *res)
{
	struct dd_config c;
	dd_config_defaults(&c);
	snprintf(c.journal, sizeof(c.journal), "%s", dir);
	c.jsync = DD_JSYNC_GROUP;
	c.release = DD_RELEASE_DURABLE;
	c.output[0] = '\0';
	c.jsegment_mb = SEGMENT_MB;
	c.jidle = idle;
	struct dd_journal_start st = { .next_lsn = 1, .segment = "" };
	char err[512];
	struct dd_journal *j;
	struct dd_jconfig jc;
	jconfig(&jc);
	int rc = dd_journal_create(&j, &c, 1, &jc, dd_journal_lag(&c, 0, 512), &st, (int)rte_socket_id(), err,
				   sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench_journal: %s\n", err);
		return rc;
	}
	dd_journal_bind_tm(j, NULL, res->lat, &conv);

	atomic_int producers_left = 1, quit = 0, running = 1;
	struct dd_journal_lcore L = { .j = j, .producers_left = &producers_left, .quit = &quit, .running = &running };
	static struct tender t;
	memset(&t, 0, sizeof(t));
	t.j = j;
	pthread_t tender_thread;
	if ((rc = rte_ctrl_thread_create(&tender_thread, "bj-tend", NULL, tend_main, &t)) != 0) {
		fprintf(stderr, "bench_journal: cannot start the control thread: %s\n", strerror(-rc));
		dd_journal_destroy(j);
		return rc;
	}
	if ((rc = rte_eal_remote_launch(dd_journal_main, &L, 1)) != 0) {
		fprintf(stderr, "bench_journal: cannot launch the journal on lcore 1: %s\n", strerror(-rc));
		atomic_store_explicit(&t.stop, 1, memory_order_release);
		pthread_join(tender_thread, NULL);
		dd_journal_destroy(j);
		return rc;
	}

	struct rte_ring *r = dd_journal_ring(j, 0);
	uint64_t stall = c.jstall_ms * tsc_hz / 1000;
	uint64_t t0 = rte_rdtsc(), pushed = 0;
	for (uint64_t i = 0; i < n; i += BURST) {
		unsigned k = n - i < BURST ? (unsigned)(n - i) : BURST;
		uint64_t ts = hand_over_tsc(t0, i, rate, &res->max_lag);
		for (unsigned m = 0; m < k; m++)
			items[i + m].tsc = ts;
		/* pairs with the release store of the journal lcore when it stops the pipeline */
		if (atomic_load_explicit(&quit, memory_order_acquire) || dd_journal_push(r, items + i, k, stall) != k)
			break;
		pushed += k;
	}
	/* pairs with the acquire load in dd_journal_main(): every push above happened before */
	atomic_store_explicit(&producers_left, 0, memory_order_release);
	/* The moment the durable LSN last moves is when the last record became durable. */
	uint64_t last = 0, t_end = rte_rdtsc();
	/* pairs with the release decrement at the end of dd_journal_main() */
	while (atomic_load_explicit(&running, memory_order_acquire) > 0) {
		uint64_t d = dd_journal_durable_lsn(j);
		if (d != last) {
			last = d;
			t_end = rte_rdtsc();
		}
		rte_pause();
	}
	rte_eal_wait_lcore(1);
	/* the last advance may fall between the poll's two loads above */
	if (dd_journal_durable_lsn(j) != last) {
		last = dd_journal_durable_lsn(j);
		t_end = rte_rdtsc();
	}
	atomic_store_explicit(&t.stop, 1, memory_order_release);
	pthread_join(tender_thread, NULL);

	const struct dd_journal_stats *s = dd_journal_stats(j);
	const char *why = dd_journal_error(j);
	uint64_t durable = dd_journal_durable_lsn(j);
	rc = 0;
	if (why != NULL || pushed != n) {
		fprintf(stderr, "bench_journal: dadar's journal stopped after %llu of %llu records: %s\n",
			(unsigned long long)pushed, (unsigned long long)n, why != NULL ? why : "push stalled");
		rc = -EIO;
	} else if (durable != last || durable != s->records || s->records < n + 1 || s->records > n + s->segments) {
		/* every record, the config record of the start, and the PAD closing a full segment when it
		 * fits, takes one LSN */
		fprintf(stderr, "bench_journal: dadar's journal: durable LSN %llu (last seen %llu), %llu records written "
			"in %llu segments, %llu pushed\n", (unsigned long long)durable, (unsigned long long)last,
			(unsigned long long)s->records, (unsigned long long)s->segments, (unsigned long long)n);
		rc = -EIO;
	}
	res->writer = "dadar";
	res->rate = rate;
	res->records = n;
	res->bytes = s->bytes;
	res->commits = s->commits;
	res->segments = s->segments;
	res->commit_bytes_max = s->commit_bytes_max;
	res->secs = secs(t_end - t0);
	if (rc == 0 && dd_hdr_total(res->lat) != n)
		fprintf(stderr, "bench_journal: note: dadar's journal recorded the latency of %llu records, not %llu\n",
			(unsigned long long)dd_hdr_total(res->lat), (unsigned long long)n);
	dd_journal_destroy(j);
	return rc;
}

/* ---- the peer: pwrite + fdatasync per batch ----------------------------------------------------- */

struct group {
	uint64_t last_lsn;
	uint64_t tsc;
	uint32_t n;
};

struct peer {
	/* shared between producer and writer, under mu */
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	uint8_t *fill;            /* the half the producer fills */
	size_t len;
	struct group *fg;
	size_t ng;
	bool writer_waiting, producer_waiting, done;
	/* the writer's */
	uint8_t *spare;           /* the half being written */
	struct group *sg;
	size_t cap, gcap;
	int fd;
	bool direct;
	uint8_t *wbuf;            /* O_DIRECT: the partial last page, then the batch, page-padded */
	size_t tail;              /* bytes of that partial page */
	uint64_t off;             /* file offset of the next byte (buffered) or of wbuf[0] (O_DIRECT) */
	uint64_t commits, bytes;
	struct dd_hdr *lat;
	_Atomic uint64_t durable; /* LSN of the last record made durable */
	atomic_int running;
	int err;
};

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int peer_write(struct peer *p, const uint8_t *b, size_t n)
{
	if (!p->direct) {
		int rc = write_all(p->fd, b, n, p->off);
		p->off += n;
		return rc;
	}
	memcpy(p->wbuf + p->tail, b, n);
	size_t total = p->tail + n, wlen = (total + PAGE - 1) & ~(size_t)(PAGE - 1);
	memset(p->wbuf + total, 0, wlen - total);
	ssize_t w = pwrite(p->fd, p->wbuf, wlen, (off_t)p->off);
	if (w != (ssize_t)wlen)
		return w < 0 ? -errno : -EIO;
	size_t full = total & ~(size_t)(PAGE - 1);
	if (full < total)
		memcpy(p->wbuf, p->wbuf + full, total - full);
	p->off += full;
	p->tail = total - full;
	return 0;
}

static void *peer_writer(void *arg)
{
	struct peer *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->len == 0 && !p->done) {
			p->writer_waiting = true;
			pthread_cond_wait(&p->more, &p->mu);
		}
		p->writer_waiting = false;
		if (p->len == 0) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		uint8_t *b = p->fill;
		struct group *g = p->fg;
		size_t n = p->len, ng = p->ng;
		p->fill = p->spare;
		p->fg = p->sg;
		p->spare = b;
		p->sg = g;
		p->len = p->ng = 0;
		if (p->producer_waiting)
			pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->mu);

		int rc = peer_write(p, b, n);
		if (rc == 0 && fdatasync(p->fd) != 0)
			rc = -errno;
		if (rc != 0) {
			p->err = rc;
			break;
		}
		uint64_t now = rte_rdtsc();
		for (size_t i = 0; i < ng; i++)
			dd_hdr_record_n(p->lat, dd_tsc_to_ns(&conv, now > g[i].tsc ? now - g[i].tsc : 0), g[i].n);
		p->commits++;
		p->bytes += n;
		/* pairs with the producer's acquire loads while it watches for the end */
		atomic_store_explicit(&p->durable, g[ng - 1].last_lsn, memory_order_release);
	}
	if (p->err != 0) { /* let a producer waiting for room see the failure */
		pthread_mutex_lock(&p->mu);
		p->done = true;
		pthread_cond_signal(&p->room);
		pthread_mutex_unlock(&p->mu);
	}
	/* pairs with the producer's acquire load: commits, bytes, err and the histogram are final */
	atomic_store_explicit(&p->running, 0, memory_order_release);
	return NULL;
}

static int run_peer(const struct dd_jitem *items, uint64_t n, uint64_t rate, const char *path, bool direct,
		    struct result *res)
{
	static struct peer p;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.more, NULL);
	pthread_cond_init(&p.room, NULL);
	p.cap = PEER_HALF;
	p.gcap = PEER_HALF / DD_J_REC_HDR;
	p.fill = xalloc(p.cap);
	p.spare = xalloc(p.cap);
	p.fg = xalloc(p.gcap * sizeof(struct group));
	p.sg = xalloc(p.gcap * sizeof(struct group));
	p.direct = direct;
	if (direct)
		p.wbuf = xalloc(p.cap + 2 * PAGE);
	p.lat = res->lat;
	p.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0640);
	int rc = 0;
	if (p.fd < 0) {
		rc = -errno;
		fprintf(stderr, "bench_journal: cannot create %s: %s\n", path, strerror(-rc));
		goto out;
	}
	/* pthread_create orders this store before the writer starts */
	atomic_store_explicit(&p.running, 1, memory_order_relaxed);
	/* the writer where dadar's journal lcore runs; the producer is this thread, on lcore 0 */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	rte_cpuset_t cpus = rte_lcore_cpuset(1);
	pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
	pthread_t writer;
	rc = -pthread_create(&writer, &attr, peer_writer, &p);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		fprintf(stderr, "bench_journal: cannot start the peer's writer thread: %s\n", strerror(-rc));
		close(p.fd);
		goto out;
	}

	uint64_t t0 = rte_rdtsc(), pushed = 0;
	for (uint64_t i = 0; i < n; i += BURST) {
		unsigned k = n - i < BURST ? (unsigned)(n - i) : BURST;
		uint64_t ts = hand_over_tsc(t0, i, rate, &res->max_lag);
		pthread_mutex_lock(&p.mu);
		while ((p.cap - p.len < k * REC_SIZE || p.ng == p.gcap) && !p.done) {
			p.producer_waiting = true;
			pthread_cond_wait(&p.room, &p.mu);
		}
		p.producer_waiting = false;
		if (p.done) { /* the writer failed */
			pthread_mutex_unlock(&p.mu);
			break;
		}
		for (unsigned m = 0; m < k; m++) {
			const struct dd_jitem *it = &items[i + m];
			p.len += dd_jrec_put(p.fill + p.len, it->type, it->source, it->partition, i + m + 1, it->payload,
					     it->len);
		}
		p.fg[p.ng++] = (struct group){ i + k, ts, k };
		if (p.writer_waiting)
			pthread_cond_signal(&p.more);
		pthread_mutex_unlock(&p.mu);
		pushed += k;
	}
	pthread_mutex_lock(&p.mu);
	p.done = true;
	pthread_cond_signal(&p.more);
	pthread_mutex_unlock(&p.mu);
	uint64_t last = 0, t_end = rte_rdtsc();
	/* pairs with the writer's release store at its exit */
	while (atomic_load_explicit(&p.running, memory_order_acquire)) {
		/* pairs with the writer's release store after each fdatasync */
		uint64_t d = atomic_load_explicit(&p.durable, memory_order_acquire);
		if (d != last) {
			last = d;
			t_end = rte_rdtsc();
		}
		rte_pause();
	}
	pthread_join(writer, NULL);
	/* the join orders every store of the writer before the loads below: relaxed is enough */
	/* the last advance may fall between the poll's two loads above */
	if (atomic_load_explicit(&p.durable, memory_order_relaxed) != last) {
		last = atomic_load_explicit(&p.durable, memory_order_relaxed);
		t_end = rte_rdtsc();
	}
	struct stat sb;
	if (p.err != 0) {
		fprintf(stderr, "bench_journal: the peer's writer failed on %s: %s\n", path, strerror(-p.err));
		rc = p.err;
	} else if (pushed != n || atomic_load_explicit(&p.durable, memory_order_relaxed) != n ||
		   fstat(p.fd, &sb) != 0 || (uint64_t)sb.st_size < p.bytes) {
		fprintf(stderr, "bench_journal: the peer made %llu of %llu records durable (%llu bytes)\n",
			(unsigned long long)atomic_load_explicit(&p.durable, memory_order_relaxed), (unsigned long long)n,
			(unsigned long long)p.bytes);
		rc = -EIO;
	}
	close(p.fd);
	res->writer = direct ? "pwrite+O_DIRECT" : "pwrite";
	res->rate = rate;
	res->records = n;
	res->bytes = p.bytes;
	res->commits = p.commits;
	res->segments = 1;
	res->secs = secs(t_end - t0);
out:
	free(p.fill);
	free(p.spare);
	free(p.fg);
	free(p.sg);
	free(p.wbuf);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.more);
	pthread_cond_destroy(&p.room);
	return rc;
}

/* ---- replay ------------------------------------------------------------------------------------ */

struct replay_result {
	double cold_s, warm_s;
	uint64_t events, records, outputs_matched;
	bool ok;
};

static int replay_once(const char *dir, uint64_t nevents, uint64_t noutputs, double *s, struct replay_result *rr)
{
	struct dd_replay r;
	memset(&r, 0, sizeof(r));
	r.use_snapshot = false;
	char err[512] = "";
	uint64_t t0 = rte_rdtsc();
	int rc = dd_replay_run(dir, &r, err, sizeof(err));
	*s = secs(rte_rdtsc() - t0);
	rr->events = r.events;
	rr->records = r.scan.records;
	rr->outputs_matched = r.outputs_matched;
	if (rc != 0) {
		fprintf(stderr, "bench_journal: replay of %s failed: %s\n", dir, err);
	} else if (r.scan.corrupt || r.scan.torn || r.mismatch || r.events != nevents || r.outputs_matched != noutputs ||
		   r.ntail != 0) {
		fprintf(stderr, "bench_journal: replay of %s: %llu of %llu events, %llu of %llu outputs matched, %llu "
			"unjournaled%s%s%s%s\n", dir, (unsigned long long)r.events, (unsigned long long)nevents,
			(unsigned long long)r.outputs_matched, (unsigned long long)noutputs,
			(unsigned long long)r.ntail, r.mismatch ? "; mismatch: " : "", r.mismatch ? r.mismatch_why : "",
			err[0] ? "; " : "", err);
		rc = -EBADMSG;
	}
	dd_replay_fini(&r);
	return rc;
}

static int run_replay(const char *dir, uint64_t nevents, uint64_t noutputs, struct replay_result *rr)
{
	int rc = replay_once(dir, nevents, noutputs, &rr->cold_s, rr);
	if (rc == 0)
		rc = replay_once(dir, nevents, noutputs, &rr->warm_s, rr);
	rr->ok = rc == 0;
	return rc;
}

/* ---- files --------------------------------------------------------------------------------------- */

/* Remove `dir` and the files in it (journals hold no subdirectories). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/* ---- report -------------------------------------------------------------------------------------- */

static double pct_us(const struct dd_hdr *h, double p)
{
	return (double)dd_hdr_value_at_percentile(h, p) / 1000.0;
}

static void print_row(const struct result *r)
{
	char mode[48];
	if (r->rate == 0)
		snprintf(mode, sizeof(mode), "%s saturated", r->writer);
	else
		snprintf(mode, sizeof(mode), "%s @%llu/s", r->writer, (unsigned long long)r->rate);
	printf("%-30s %11.0f %9.1f %9.1f %9.1f %9.1f %8llu %8.1f\n", mode, rps(r), pct_us(r->lat, 50),
	       pct_us(r->lat, 99), pct_us(r->lat, 99.9), (double)dd_hdr_max(r->lat) / 1000.0,
	       (unsigned long long)r->commits, mbps(r));
}

static void json_row(FILE *f, const struct result *r, bool last)
{
	fprintf(f,
		"  {\"writer\": \"%s\", \"load\": \"%s\", \"rate\": %llu, \"records\": %llu, \"seconds\": %.6f, "
		"\"records_per_s\": %.0f, \"p50_ns\": %llu, \"p99_ns\": %llu, \"p999_ns\": %llu, \"max_ns\": %llu, "
		"\"latencies_recorded\": %llu, \"commits\": %llu, \"bytes\": %llu, \"mb_per_s\": %.1f, "
		"\"segments\": %llu, \"commit_bytes_max\": %llu, \"producer_max_lag_ns\": %llu}%s\n",
		r->writer, r->rate ? "paced" : "saturated", (unsigned long long)r->rate, (unsigned long long)r->records,
		r->secs, rps(r), (unsigned long long)dd_hdr_value_at_percentile(r->lat, 50),
		(unsigned long long)dd_hdr_value_at_percentile(r->lat, 99),
		(unsigned long long)dd_hdr_value_at_percentile(r->lat, 99.9), (unsigned long long)dd_hdr_max(r->lat),
		(unsigned long long)dd_hdr_total(r->lat), (unsigned long long)r->commits, (unsigned long long)r->bytes,
		mbps(r), (unsigned long long)r->segments, (unsigned long long)r->commit_bytes_max,
		(unsigned long long)dd_tsc_to_ns(&conv, r->max_lag), last ? "" : ",");
}

/* ---- main ---------------------------------------------------------------------------------------- */

enum { D_SAT, P_SAT, O_SAT, D_PACED, P_PACED, O_PACED, NRUNS };

/*
 * Framing, where its CPU time goes (no I/O): the journal stage framing a record whole (dd_jrec_put:
 * copy, padding, CRC of header and payload) against the split the staged pipeline's workers use
 * (the worker's dd_jrec_payload_crc over the payload while it is in its cache; the stage's
 * dd_jrec_put_crc joining the header's register to it, and for an output the patch of its
 * rewritten cause). ns per record over the pre-built items, median of 5 passes each, interleaved.
 */
struct framing {
	double whole_ns, stage_ns, producer_ns;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void measure_framing(struct dd_jitem *items, uint64_t n, struct framing *fr)
{
	enum { PASSES = 5, RING = 8u << 20 };
	static struct dd_crc_shift over_ev, over_out, cause;
	dd_crc_shift_init(&over_ev, dd_jrec_size(sizeof(struct dd_event)) - DD_J_REC_HDR);
	dd_crc_shift_init(&over_out, dd_jrec_size(sizeof(struct dd_output)) - DD_J_REC_HDR);
	dd_crc_shift_init(&cause, dd_jrec_size(sizeof(struct dd_output)) - DD_J_REC_HDR -
					  offsetof(struct dd_output, cause) - sizeof(uint64_t));
	uint8_t *ring = xalloc(RING + DD_J_MAX_REC);
	uint32_t *reg = xalloc(n * sizeof(*reg));
	double whole[PASSES], stage[PASSES], prod[PASSES];
	volatile uint32_t sink = 0;
	for (int k = 0; k < PASSES; k++) {
		uint64_t at = 0, t0 = rte_rdtsc();
		for (uint64_t i = 0; i < n; i++, at = (at + REC_SIZE) % RING)
			dd_jrec_put(ring + at, items[i].type, items[i].source, items[i].partition, i + 1, items[i].payload,
				    items[i].len);
		uint64_t t1 = rte_rdtsc();
		for (uint64_t i = 0; i < n; i++)
			reg[i] = dd_jrec_payload_crc(items[i].payload, items[i].len);
		uint64_t t2 = rte_rdtsc();
		at = 0;
		for (uint64_t i = 0; i < n; i++, at = (at + REC_SIZE) % RING) {
			const struct dd_jitem *it = &items[i];
			bool out = it->type == DD_JREC_OUTPUT;
			uint32_t r = out ? dd_jrec_crc_patch(reg[i], i, i, &cause) : reg[i]; /* the cause as it is */
			dd_jrec_put_crc(ring + at, it->type, it->source, it->partition, i + 1, it->payload, it->len, r,
					out ? &over_out : &over_ev);
		}
		uint64_t t3 = rte_rdtsc();
		sink ^= ring[at];
		whole[k] = secs(t1 - t0) * 1e9 / (double)n;
		prod[k] = secs(t2 - t1) * 1e9 / (double)n;
		stage[k] = secs(t3 - t2) * 1e9 / (double)n;
	}
	/* the split writes the same bytes: the last record of the last pass, both ways */
	uint8_t a[DD_J_MAX_REC], b[DD_J_MAX_REC];
	const struct dd_jitem *it = &items[n - 1];
	dd_jrec_put(a, it->type, it->source, it->partition, n, it->payload, it->len);
	dd_jrec_put_crc(b, it->type, it->source, it->partition, n, it->payload, it->len, reg[n - 1],
			it->type == DD_JREC_OUTPUT ? &over_out : &over_ev);
	if (memcmp(a, b, dd_jrec_size(it->len)) != 0) {
		fprintf(stderr, "bench_journal: the split framing wrote other bytes than dd_jrec_put\n");
		exit(1);
	}
	qsort(whole, PASSES, sizeof(double), cmp_double);
	qsort(stage, PASSES, sizeof(double), cmp_double);
	qsort(prod, PASSES, sizeof(double), cmp_double);
	fr->whole_ns = whole[PASSES / 2];
	fr->stage_ns = stage[PASSES / 2];
	fr->producer_ns = prod[PASSES / 2];
	free(reg);
	free(ring);
	(void)sink;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_journal [--records N] [--dir DIR] [--rate R] [--idle yield|spin] [--json FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t n = 2000000, rate = 500000;
	const char *base = "build/bench/journal-tmp", *json = NULL;
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "bench_journal: %s needs a value\n", argv[i]);
			return usage();
		}
		char *end;
		if (strcmp(argv[i], "--records") == 0 || strcmp(argv[i], "--rate") == 0) {
			uint64_t v = strtoull(argv[i + 1], &end, 10);
			if (*end != '\0' || v == 0) {
				fprintf(stderr, "bench_journal: %s %s: give a positive whole number\n", argv[i], argv[i + 1]);
				return usage();
			}
			if (strcmp(argv[i], "--records") == 0)
				n = v;
			else
				rate = v;
		} else if (strcmp(argv[i], "--idle") == 0) {
			if (strcmp(argv[i + 1], "yield") == 0) {
				idle = DD_JIDLE_YIELD;
			} else if (strcmp(argv[i + 1], "spin") == 0) {
				idle = DD_JIDLE_SPIN;
			} else {
				fprintf(stderr, "bench_journal: --idle %s: give yield or spin\n", argv[i + 1]);
				return usage();
			}
		} else if (strcmp(argv[i], "--dir") == 0) {
			base = argv[i + 1];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = argv[i + 1];
		} else {
			fprintf(stderr, "bench_journal: unknown option %s\n", argv[i]);
			return usage();
		}
	}
	if (strlen(base) > DD_PATH_MAX - 64) {
		fprintf(stderr, "bench_journal: --dir %s: path too long (at most %d bytes)\n", base, DD_PATH_MAX - 64);
		return usage();
	}

	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=bench_journal_%d", (int)getpid());
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "1024", "--no-shconf", "--no-telemetry",
			"--log-level=*:warning", "-l", "0-1", prefix, NULL };
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "bench_journal: rte_eal_init failed (it needs 2 CPUs and 1 GiB of memory)\n");
		return 1;
	}
	if (rte_lcore_count() != 2 || rte_lcore_id() != 0 || !rte_lcore_is_enabled(1)) {
		fprintf(stderr, "bench_journal: needs lcores 0 (main) and 1\n");
		rte_eal_cleanup();
		return 1;
	}
	tsc_hz = rte_get_tsc_hz();
	dd_tsc_conv_init(&conv, tsc_hz);

	uint64_t nevents, noutputs;
	struct dd_jitem *items = make_items(n, &nevents, &noutputs);

	int rc = dd_jdir_create(base);
	char root[DD_PATH_MAX - 32]; /* room for the names below */
	snprintf(root, sizeof(root), "%s/run-XXXXXX", base);
	if (rc != 0 || mkdtemp(root) == NULL) {
		fprintf(stderr, "bench_journal: cannot create a directory under %s: %s (use --dir)\n", base,
			strerror(rc ? -rc : errno));
		rte_eal_cleanup();
		return 1;
	}
	char jsat[DD_PATH_MAX], jpaced[DD_PATH_MAX], fbuf[DD_PATH_MAX], fdirect[DD_PATH_MAX];
	snprintf(jsat, sizeof(jsat), "%s/dadar-saturated", root);
	snprintf(jpaced, sizeof(jpaced), "%s/dadar-paced", root);
	snprintf(fbuf, sizeof(fbuf), "%s/peer-buffered.log", root);
	snprintf(fdirect, sizeof(fdirect), "%s/peer-direct.log", root);

	printf("bench_journal: %llu records (%llu events of %zu bytes, %llu outputs of %zu bytes framed: one per %.2f "
	       "events), in bursts of %d; paced at %llu records/s; on %s\n",
	       (unsigned long long)n, (unsigned long long)nevents, dd_jrec_size(sizeof(struct dd_event)),
	       (unsigned long long)noutputs, (size_t)REC_SIZE, (double)nevents / (double)(noutputs ? noutputs : 1), BURST,
	       (unsigned long long)rate, root);

	struct framing fr;
	measure_framing(items, n, &fr);
	printf("framing, ns per record (CPU only, median of 5): the stage whole %.1f; split: the worker %.1f, the "
	       "stage %.1f\n", fr.whole_ns, fr.producer_ns, fr.stage_ns);

	static struct result res[NRUNS];
	for (int k = 0; k < NRUNS; k++)
		if (dd_hdr_create(&lat_params, &res[k].lat) != 0) {
			fprintf(stderr, "bench_journal: out of memory for histograms\n");
			return 1;
		}
	/* Saturated runs first, each writer in turn, then the paced ones: a disk that slows as it
	 * fills slows everyone about the same. Every run writes its own files. */
	rc = run_dadar(items, n, 0, jsat, &res[D_SAT]);
	if (rc == 0)
		rc = run_peer(items, n, 0, fbuf, false, &res[P_SAT]);
	if (rc == 0)
		rc = run_peer(items, n, 0, fdirect, true, &res[O_SAT]);
	if (rc == 0)
		rc = run_dadar(items, n, rate, jpaced, &res[D_PACED]);
	if (rc == 0)
		rc = run_peer(items, n, rate, fbuf, false, &res[P_PACED]);
	if (rc == 0)
		rc = run_peer(items, n, rate, fdirect, true, &res[O_PACED]);
	struct replay_result rr = { 0 };
	int replay_rc = rc == 0 ? run_replay(jsat, nevents, noutputs, &rr) : 0;
	/* Nothing is deleted before this point: freeing extents (online discard where the file
	 * system is mounted with it) would slow down the commits of the run that follows. */
	unlink(fbuf);
	unlink(fdirect);
	remove_dir(jpaced);
	remove_dir(jsat);
	rmdir(root);
	if (rc != 0) {
		rte_eal_cleanup();
		return 1;
	}

	printf("\n%-30s %11s %9s %9s %9s %9s %8s %8s\n", "mode", "records/s", "p50 µs", "p99 µs", "p99.9 µs",
	       "max µs", "commits", "MB/s");
	for (int k = 0; k < NRUNS; k++)
		print_row(&res[k]);
	printf("%-30s %11.0f events/s (%.3f s for %llu events, %llu records)%s\n", "replay (cold)",
	       (double)rr.events / rr.cold_s, rr.cold_s, (unsigned long long)rr.events, (unsigned long long)rr.records,
	       rr.ok ? "" : "  [FAILED: see above]");
	if (rr.warm_s > 0)
		printf("%-30s %11.0f events/s (%.3f s)\n", "replay (warm)", (double)rr.events / rr.warm_s, rr.warm_s);
	printf("\nsaturated throughput, dadar / pwrite: %.2fx, dadar / pwrite+O_DIRECT: %.2fx\n",
	       rps(&res[D_SAT]) / rps(&res[P_SAT]), rps(&res[D_SAT]) / rps(&res[O_SAT]));
	printf("paced p99, pwrite / dadar: %.2fx, pwrite+O_DIRECT / dadar: %.2fx; p50: %.2fx, %.2fx\n",
	       pct_us(res[P_PACED].lat, 99) / pct_us(res[D_PACED].lat, 99),
	       pct_us(res[O_PACED].lat, 99) / pct_us(res[D_PACED].lat, 99),
	       pct_us(res[P_PACED].lat, 50) / pct_us(res[D_PACED].lat, 50),
	       pct_us(res[O_PACED].lat, 50) / pct_us(res[D_PACED].lat, 50));
	for (int k = D_PACED; k <= O_PACED; k++)
		if (dd_tsc_to_ns(&conv, res[k].max_lag) > 1000000)
			printf("note: the %s producer fell up to %.1f ms behind its schedule (backpressure; counted in "
			       "the latencies)\n", res[k].writer, (double)dd_tsc_to_ns(&conv, res[k].max_lag) / 1e6);

	if (json != NULL) {
		FILE *f = fopen(json, "w");
		if (f == NULL) {
			fprintf(stderr, "bench_journal: cannot write %s: %s\n", json, strerror(errno));
			rte_eal_cleanup();
			return 1;
		}
		fprintf(f, "{\"bench\": \"journal\", \"records\": %llu, \"events\": %llu, \"outputs\": %llu, "
			"\"output_record_bytes\": %zu, \"burst\": %d, \"rate\": %llu, \"segment_mb\": %d, \"idle\": \"%s\",\n"
			" \"modes\": [\n",
			(unsigned long long)n, (unsigned long long)nevents, (unsigned long long)noutputs, (size_t)REC_SIZE,
			BURST, (unsigned long long)rate, SEGMENT_MB, idle == DD_JIDLE_YIELD ? "yield" : "spin");
		for (int k = 0; k < NRUNS; k++)
			json_row(f, &res[k], k == NRUNS - 1);
		fprintf(f, " ],\n \"replay\": {\"ok\": %s, \"events\": %llu, \"records\": %llu, \"outputs_matched\": %llu, "
			"\"cold_seconds\": %.6f, \"cold_events_per_s\": %.0f, \"warm_seconds\": %.6f, "
			"\"warm_events_per_s\": %.0f},\n",
			rr.ok ? "true" : "false", (unsigned long long)rr.events, (unsigned long long)rr.records,
			(unsigned long long)rr.outputs_matched, rr.cold_s, (double)rr.events / rr.cold_s, rr.warm_s,
			rr.warm_s > 0 ? (double)rr.events / rr.warm_s : 0.0);
		fprintf(f, " \"framing_ns\": {\"stage_whole\": %.2f, \"split_producer\": %.2f, \"split_stage\": %.2f},\n",
			fr.whole_ns, fr.producer_ns, fr.stage_ns);
		fprintf(f, " \"saturated_dadar_over_pwrite\": %.3f, \"saturated_dadar_over_pwrite_direct\": %.3f,\n"
			" \"paced_p99_pwrite_over_dadar\": %.3f, \"paced_p99_pwrite_direct_over_dadar\": %.3f}\n",
			rps(&res[D_SAT]) / rps(&res[P_SAT]), rps(&res[D_SAT]) / rps(&res[O_SAT]),
			pct_us(res[P_PACED].lat, 99) / pct_us(res[D_PACED].lat, 99),
			pct_us(res[O_PACED].lat, 99) / pct_us(res[D_PACED].lat, 99));
		fclose(f);
	}
	for (int k = 0; k < NRUNS; k++)
		dd_hdr_free(res[k].lat);
	free(items);
	rte_eal_cleanup();
	return replay_rc == 0 ? 0 : 1;
}
