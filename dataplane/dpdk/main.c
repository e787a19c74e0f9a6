/* SPDX-License-Identifier: MIT */
/*
 * dadar: the daemon. Parses EAL and dadar options, sets up ports, feeds, books and rings, assigns
 * roles to lcores, runs until a signal or the idle timeout, drains, and reports.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dataplane/config/config.h"
#include "dataplane/dpdk/journal.h"
#include "dataplane/dpdk/lcore.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/journal/recovery.h"
#include "dataplane/journal/replay.h"
#include "dataplane/config/report.h"

static struct dd_control g_ctl; /* the signal handler's only way in */

static void on_signal(int sig)
{
	(void)sig;
	/* The one thing a handler does; lcores poll it with acquire loads. */
	atomic_store_explicit(&g_ctl.quit, 1, memory_order_release);
}

struct app {
	struct dd_config cfg;
	struct dd_ports ports;
	int socket;
	struct dd_rx_ctx *rx;
	struct dd_worker_ctx *workers;
	unsigned nworkers;
	struct dd_feed *feeds;
	struct dd_feed_cfg default_feed;
	unsigned nfeeds;
	unsigned nshards;
	struct dd_book *books;            /* [nshards * nfeeds]: shard s, feed f at s * nfeeds + f */
	const struct dd_book **book_ptrs; /* [nshards * nfeeds] for the report */
	struct dd_tm tm;                  /* the telemetry segment */
	/* journal */
	struct dd_journal *journal;
	struct dd_journal_lcore jl;
	unsigned journal_lcore;
	struct dd_recovery rec;
	char journal_note[1024];          /* what recovery did, for the report */
	/* snapshots, written by the control thread from its own replica of the books */
	struct dd_book *snap_books;
	void **snap_mem;
	size_t book_len;
	uint64_t snap_lsn;
	uint64_t snapshots;
	char snap_error[512];
};

static void *zalloc(const char *what, size_t size, int socket, char *err, size_t errlen)
{
	void *p = rte_zmalloc_socket(what, size, 64, socket);
	if (p == NULL)
		snprintf(err, errlen,
			 "cannot allocate %.1f MB for %s on socket %d. With --no-huge raise -m (DPDK's memory in MB); "
			 "with hugepages reserve more; or lower capacity.* / mbufs / ring_size",
			 (double)size / 1e6, what, socket);
	return p;
}

static int init_books(struct app *a, struct dd_book *books, unsigned n, void **mems, char *err, size_t errlen)
{
	size_t len = dd_book_memsize(&a->cfg.book);
	for (unsigned i = 0; i < n; i++) {
		void *mem = mems != NULL && mems[i] != NULL ? mems[i] : rte_malloc_socket("book", len, 64, a->socket);
		if (mem == NULL) {
			snprintf(err, errlen,
				 "cannot allocate %.1f MB for an order book (capacity.orders = %u, capacity.levels = %u, "
				 "capacity.instruments = %u) on socket %d. With --no-huge raise -m; with hugepages reserve "
				 "more; or lower the capacities",
				 (double)len / 1e6, a->cfg.book.max_orders, a->cfg.book.max_levels,
				 a->cfg.book.max_instruments, a->socket);
			return -ENOMEM;
		}
		if (mems != NULL)
			mems[i] = mem;
		if (dd_book_init(&books[i], mem, len, &a->cfg.book) != 0) {
			snprintf(err, errlen, "book capacities out of range");
			return -EINVAL;
		}
	}
	return 0;
}

/* Every shard's books, one per feed, in one array (the layout replay and snapshots use). */
static int make_books(struct app *a, char *err, size_t errlen)
{
	unsigned n = a->nshards * a->nfeeds;
	a->books = zalloc("books", n * sizeof(*a->books), a->socket, err, errlen);
	if (a->books == NULL)
		return -ENOMEM;
	return init_books(a, a->books, n, NULL, err, errlen);
}

static int setup_feeds(struct app *a, char *err, size_t errlen)
{
	const struct dd_feed_cfg *cfgs = a->cfg.feed;
	a->nfeeds = a->cfg.nfeeds;
	if (a->nfeeds == 0) {
		memset(&a->default_feed, 0, sizeof(a->default_feed));
		strcpy(a->default_feed.name, "itch");
		cfgs = &a->default_feed;
		a->nfeeds = 1;
	}
	struct dd_mold_params mp = a->cfg.mold;
	mp.reorder_timeout = a->cfg.mold_timeout_us * rte_get_tsc_hz() / 1000000;
	a->feeds = zalloc("feeds", a->nfeeds * sizeof(*a->feeds), a->socket, err, errlen);
	if (a->feeds == NULL)
		return -ENOMEM;
	size_t len = dd_feed_memsize(&mp);
	for (unsigned f = 0; f < a->nfeeds; f++) {
		void *mem = zalloc("reorder window", len, a->socket, err, errlen);
		if (mem == NULL)
			return -ENOMEM;
		int rc = dd_feed_init(&a->feeds[f], f, &cfgs[f], &mp, mem, len);
		if (rc != 0) {
			snprintf(err, errlen, "feed '%s': invalid MoldUDP64 parameters", cfgs[f].name);
			return rc;
		}
	}
	return 0;
}

/* Lcores in launch order: the worker lcores, then the main lcore. */
static unsigned lcore_list(unsigned *ids, unsigned max)
{
	unsigned n = 0, id;
	RTE_LCORE_FOREACH_WORKER(id) {
		if (n < max)
			ids[n++] = id;
	}
	if (n < max)
		ids[n++] = rte_get_main_lcore();
	return n;
}

static int setup_pipeline(struct app *a, unsigned *roles, unsigned nroles, char *err, size_t errlen)
{
	const struct dd_config *c = &a->cfg;
	struct dd_rx_ctx *rx = zalloc("rx context", sizeof(*rx), a->socket, err, errlen);
	if (rx == NULL)
		return -ENOMEM;
	a->rx = rx;
	rx->lcore = roles[0];
	rx->ctl = &g_ctl;
	rx->cfg = c;
	rx->burst = c->rx_burst;
	rx->frame_flags = (c->check_ip_csum ? DD_FRAME_CHECK_IP_CSUM : 0) |
			  (c->check_udp_csum ? DD_FRAME_CHECK_UDP_CSUM : 0);
	rx->idle_tsc = c->exit_on_idle_ms * rte_get_tsc_hz() / 1000;
	for (unsigned i = 0; i < a->ports.n && i < DD_MAX_RXQ; i++)
		rx->q[rx->nq++] = (struct dd_rxq){ a->ports.id[i], 0, a->ports.hwts[i] ? &a->ports.clock[i] : NULL };
	rx->ts_offset = a->ports.ts_offset;
	rx->ts_flag = a->ports.ts_flag;
	rx->feeds = a->feeds;
	rx->nfeeds = a->nfeeds;
	rx->scratch = zalloc("scratch", DD_SCRATCH, a->socket, err, errlen);
	rx->sink.ev = zalloc("event buffer", DD_RX_EVENTS * sizeof(struct dd_event), a->socket, err, errlen);
	if (rx->scratch == NULL || rx->sink.ev == NULL)
		return -ENOMEM;
	rx->sink.cap = DD_RX_EVENTS;
	rx->sink.ctx = rx;

	(void)nroles;
	if (c->pipeline == DD_PIPELINE_RTC) {
		a->nshards = 1;
		int rc = make_books(a, err, errlen);
		rx->books = a->books;
		return rc;
	}
	a->nworkers = c->workers;
	a->nshards = c->workers;
	int rc = make_books(a, err, errlen);
	if (rc != 0)
		return rc;
	a->workers = zalloc("worker contexts", a->nworkers * sizeof(*a->workers), a->socket, err, errlen);
	rx->batch = zalloc("staging batches", a->nworkers * sizeof(*rx->batch), a->socket, err, errlen);
	rx->nbatch = zalloc("staging counts", a->nworkers * sizeof(*rx->nbatch), a->socket, err, errlen);
	if (a->workers == NULL || rx->batch == NULL || rx->nbatch == NULL)
		return -ENOMEM;
	rx->workers = a->workers;
	rx->nworkers = a->nworkers;
	for (unsigned w = 0; w < a->nworkers; w++) {
		struct dd_worker_ctx *wk = &a->workers[w];
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "dd_events_%u", w);
		wk->lcore = roles[1 + w];
		wk->ctl = &g_ctl;
		wk->nfeeds = a->nfeeds;
		wk->ring = rte_ring_create_elem(name, sizeof(struct dd_event), c->ring_size, a->socket,
						RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (wk->ring == NULL) {
			snprintf(err, errlen, "cannot create ring %s of %u events: %s (raise -m or lower ring_size)", name,
				 c->ring_size, rte_strerror(rte_errno));
			return -ENOMEM;
		}
		wk->books = &a->books[w * a->nfeeds];
	}
	return 0;
}

static int jprod_init(struct app *a, struct dd_jprod *jp, unsigned i, unsigned cap, char *err, size_t errlen)
{
	jp->ring = dd_journal_ring(a->journal, i);
	jp->cap = cap;
	jp->stall_tsc = a->cfg.jstall_ms * rte_get_tsc_hz() / 1000;
	jp->items = zalloc("journal items", cap * sizeof(*jp->items), a->socket, err, errlen);
	return jp->items == NULL ? -ENOMEM : 0;
}

/*
 * Recovery (state from the journal, feed positions, outputs owed), then the journal stage with one
 * producer ring per lcore that journals (the RX lcore, each worker).
 */
static int setup_journal(struct app *a, char *err, size_t errlen)
{
	if (a->cfg.journal[0] == '\0')
		return 0;
	struct dd_recovery *r = &a->rec;
	*r = (struct dd_recovery){ .dir = a->cfg.journal, .output = a->cfg.output, .nshards = a->nshards,
				   .nfeeds = a->nfeeds, .books = a->books, .feeds = a->feeds };
	int rc = a->cfg.jsync == DD_JSYNC_OFF ? 0 : dd_recover(r, err, errlen);
	if (rc != 0)
		return rc;
	if (a->cfg.jsync == DD_JSYNC_OFF) {
		r->fresh = true;
		r->next_lsn = 1;
		snprintf(r->message, sizeof(r->message), "journal.sync = off: nothing is written, nothing recovered");
	}
	fprintf(stderr, "dadar: %s\n", r->message);
	snprintf(a->journal_note, sizeof(a->journal_note), "%s", r->message);
	struct dd_journal_start st = { .next_lsn = r->next_lsn, .segment = r->segment, .end_offset = r->end_offset,
				       .released_lsn = r->released_lsn };
	rc = dd_journal_create(&a->journal, &a->cfg, 1 + a->nworkers, a->nshards, a->nfeeds, &st, a->socket, err,
			       errlen);
	if (rc != 0)
		return rc;
	if (r->replay.ntail > 0 && (rc = dd_journal_prepend_outputs(a->journal, r->replay.tail, r->replay.ntail)) != 0) {
		snprintf(err, errlen, "journal: cannot journal the %llu recovered outputs", (unsigned long long)r->replay.ntail);
		return rc;
	}
	a->snap_lsn = r->replay.snapshot_lsn;
	for (unsigned f = 0; f < a->nfeeds; f++)
		a->rx->jpos_seq[f] = a->feeds[f].mold.next_seq; /* journaled already */
	if ((rc = jprod_init(a, &a->rx->jp, 0, 2 * DD_RX_EVENTS + DD_MAX_FEEDS, err, errlen)) != 0)
		return rc;
	for (unsigned w = 0; w < a->nworkers; w++)
		if ((rc = jprod_init(a, &a->workers[w].jp, 1 + w, DD_WORKER_BURST + 1, err, errlen)) != 0)
			return rc;
	if (a->cfg.snapshot_every != 0) {
		unsigned n = a->nshards * a->nfeeds;
		a->book_len = dd_book_memsize(&a->cfg.book);
		a->snap_books = calloc(n, sizeof(*a->snap_books));
		a->snap_mem = calloc(n, sizeof(*a->snap_mem));
		if (a->snap_books == NULL || a->snap_mem == NULL)
			return -ENOMEM;
		/* the replica lives in ordinary memory: it is control-plane state */
		for (unsigned i = 0; i < n; i++)
			if ((a->snap_mem[i] = aligned_alloc(64, (a->book_len + 63) & ~(size_t)63)) == NULL) {
				snprintf(err, errlen, "cannot allocate %.1f MB for the snapshot replica of a book",
					 (double)a->book_len / 1e6);
				return -ENOMEM;
			}
	}
	atomic_store_explicit(&g_ctl.producers, (int)(1 + a->nworkers), memory_order_relaxed);
	a->jl = (struct dd_journal_lcore){ .j = a->journal, .producers_left = &g_ctl.producers, .quit = &g_ctl.quit,
					   .running = &g_ctl.running };
	return 0;
}

/*
 * A snapshot, off the hot path: replay the journal from the last snapshot up to the durable LSN
 * into the control thread's replica of the books, and write it. The replay also checks, again,
 * that the journaled outputs are the ones the operators derive.
 */
static void take_snapshot(struct app *a, uint64_t durable)
{
	char err[512];
	unsigned n = a->nshards * a->nfeeds;
	if (init_books(a, a->snap_books, n, a->snap_mem, err, sizeof(err)) != 0)
		return;
	struct dd_replay r = { .nfeeds = a->nfeeds, .nshards = a->nshards, .books = a->snap_books,
			       .use_snapshot = true, .max_lsn = durable };
	int rc = dd_replay_run(a->cfg.journal, &r, err, sizeof(err));
	if (rc == 0 && r.mismatch)
		snprintf(err, sizeof(err), "replay for a snapshot: at LSN %llu: %s", (unsigned long long)r.mismatch_lsn,
			 r.mismatch_why);
	if (rc == 0 && !r.mismatch && r.last_lsn > a->snap_lsn)
		rc = dd_replay_snapshot_state(&r, a->cfg.journal, err, sizeof(err));
	if (rc == 0 && !r.mismatch) {
		a->snap_lsn = r.last_lsn;
		a->snapshots++;
	} else if (a->snap_error[0] == '\0') {
		snprintf(a->snap_error, sizeof(a->snap_error), "%s", err);
		fprintf(stderr, "dadar: snapshot failed: %s\n", err);
	}
	dd_replay_fini(&r);
}

/*
 * The control thread (not an lcore: it sleeps and makes syscalls): keeps a spare journal segment
 * ready, the NIC clock mappings fresh, and writes snapshots, until every lcore loop returned.
 */
static void *control_main(void *arg)
{
	struct app *a = arg;
	uint64_t hz = rte_get_tsc_hz(), next_cal = rte_get_tsc_cycles() + hz;
	char err[512];
	bool tend_failed = false;
	/* pairs with the release decrement at the end of every lcore loop */
	while (atomic_load_explicit(&g_ctl.running, memory_order_acquire) > 0) {
		/* 10 ms: a spare segment is back in place well before a fast journal fills the current one */
		rte_delay_us_sleep(10 * 1000);
		uint64_t now = rte_get_tsc_cycles();
		if (now >= next_cal) {
			dd_ports_calibrate(&a->ports);
			next_cal += hz;
		}
		if (a->journal == NULL)
			continue;
		if (dd_journal_tend(a->journal, err, sizeof(err)) != 0 && !tend_failed) {
			/* the journal lcore waits for the spare; after journal.stall_ms it stops input */
			fprintf(stderr, "dadar: %s\n", err);
			tend_failed = true;
		}
		uint64_t durable = dd_journal_durable_lsn(a->journal);
		if (a->cfg.snapshot_every != 0 && durable >= a->snap_lsn + a->cfg.snapshot_every)
			take_snapshot(a, durable);
	}
	return NULL;
}

/* Telemetry period: counters are published every millisecond. */
#define DD_PUBLISH_US 1000

static void tm_bind(struct dd_lcore_tm *t, struct dd_tm *tm, unsigned slot, const unsigned *stages, unsigned nstages,
		    unsigned book)
{
	memset(t, 0, sizeof(*t));
	t->slot = dd_tm_slot(tm, slot);
	t->book = book;
	for (unsigned i = 0; i < nstages; i++)
		t->hist[stages[i]] = dd_tm_hist(tm, slot, stages[i]);
	dd_tsc_conv_init(&t->conv, rte_get_tsc_hz());
	t->period = rte_get_tsc_hz() / (1000000 / DD_PUBLISH_US);
}

/* One slot for the RX lcore, one per worker; the reasons named as the summary names them. */
static int setup_telemetry(struct app *a, char *err, size_t errlen)
{
	struct dd_rx_stats zero;
	memset(&zero, 0, sizeof(zero));
	const char *names[DD_REPORT_REASONS];
	uint64_t counts[DD_REPORT_REASONS];
	unsigned nreasons = dd_report_reasons(&zero, a->feeds, a->nfeeds, names, counts);
	/* the pipeline's stages and counters, then the book operator's stage */
	struct dd_tm_layout l;
	dd_tm_layout_init(&l);
	int book = dd_tm_layout_stage(&l, "book");
	if (book < 0) {
		snprintf(err, errlen, "telemetry: cannot add the book's stage: %s", strerror(-book));
		return book;
	}
	for (unsigned i = 0; i < nreasons && i < DD_TM_MAX_REASONS; i++)
		l.reason[l.nreasons++] = names[i];
	bool replaced;
	int rc = dd_tm_create(&a->tm, a->cfg.instance, 1 + a->nworkers + (a->journal != NULL), rte_get_tsc_hz(), &l, &replaced,
			      err, errlen);
	if (rc != 0)
		return rc;
	if (replaced)
		fprintf(stderr, "dadar: replaced the telemetry segment /dev/shm%s left by an instance that did not exit "
			"cleanly\n", a->tm.path);
	struct dd_tm_slot *sl = dd_tm_slot(&a->tm, 0);
	sl->lcore = a->rx->lcore;
	sl->role = DD_TM_ROLE_RX;
	snprintf(sl->name, sizeof(sl->name), "rx");
	const unsigned rtc_stages[] = { DD_TM_RX, (unsigned)book, DD_TM_WIRE };
	static const unsigned rx_stages[] = { DD_TM_RX };
	const unsigned worker_stages[] = { DD_TM_RING, (unsigned)book, DD_TM_WIRE };
	if (a->nworkers == 0)
		tm_bind(&a->rx->tm, &a->tm, 0, rtc_stages, 3, (unsigned)book);
	else
		tm_bind(&a->rx->tm, &a->tm, 0, rx_stages, 1, (unsigned)book);
	for (unsigned w = 0; w < a->nworkers; w++) {
		sl = dd_tm_slot(&a->tm, 1 + w);
		sl->lcore = a->workers[w].lcore;
		sl->role = DD_TM_ROLE_WORKER;
		snprintf(sl->name, sizeof(sl->name), "worker%u", w);
		dd_tm_set(dd_tm_counter(sl, DD_TM_C_RING_SIZE), rte_ring_get_capacity(a->workers[w].ring));
		tm_bind(&a->workers[w].tm, &a->tm, 1 + w, worker_stages, 3, (unsigned)book);
	}
	if (a->journal != NULL) {
		unsigned js = 1 + a->nworkers;
		sl = dd_tm_slot(&a->tm, js);
		sl->lcore = a->journal_lcore;
		sl->role = DD_TM_ROLE_JOURNAL;
		snprintf(sl->name, sizeof(sl->name), "journal");
		struct dd_tsc_conv conv;
		dd_tsc_conv_init(&conv, rte_get_tsc_hz());
		dd_journal_bind_tm(a->journal, sl, dd_tm_hist(&a->tm, js, DD_TM_JOURNAL), &conv);
	}
	dd_tm_publish(&a->tm);
	return 0;
}

/* Returns 0, or -1 if a report that was asked for could not be written. */
static int report(struct app *a)
{
	const struct dd_config *c = &a->cfg;
	a->book_ptrs = calloc((size_t)a->nshards * a->nfeeds, sizeof(*a->book_ptrs));
	if (a->book_ptrs == NULL) {
		fprintf(stderr, "dadar: out of memory for the report\n");
		return -1;
	}
	for (unsigned s = 0; s < a->nshards; s++)
		for (unsigned f = 0; f < a->nfeeds; f++)
			a->book_ptrs[s * a->nfeeds + f] =
				c->pipeline == DD_PIPELINE_RTC ? &a->rx->books[f] : &a->workers[s].books[f];
	struct dd_run r = {
		.cfg = c,
		.feeds = a->feeds,
		.nfeeds = a->nfeeds,
		.books = a->book_ptrs,
		.nshards = a->nshards,
		.rx = &a->rx->st,
		.tsc_hz = rte_get_tsc_hz(),
		.tm = a->tm.hdr != NULL ? &a->tm : NULL,
	};
	static const char *const sync_names[] = { "group", "page", "off" };
	static const char *const rel_names[] = { "durable", "immediate" };
	struct dd_journal_summary js;
	memset(&js, 0, sizeof(js));
	if (a->journal != NULL) {
		const struct dd_journal_stats *st = dd_journal_stats(a->journal);
		js = (struct dd_journal_summary){
			.enabled = true, .dir = c->journal, .sync = sync_names[c->jsync], .release = rel_names[c->release],
			.recovery = a->journal_note, .error = dd_journal_error(a->journal),
			.records = st->records, .bytes = st->bytes, .commits = st->commits,
			.commit_bytes_max = st->commit_bytes_max, .segments = st->segments,
			.durable_lsn = dd_journal_durable_lsn(a->journal), .released = st->released,
			.unreleased = st->unreleased, .snapshots = a->snapshots, .snapshot_lsn = a->snap_lsn,
		};
		r.journal = &js;
	}
	char err[512];
	if (!c->quiet) {
		dd_report_human(&r, stdout);
		dd_ports_report(&a->ports, stdout);
		fflush(stdout);
	}
	int rc = 0;
	if (c->summary[0] && dd_report_summary(&r, c->summary, err, sizeof(err)) != 0) {
		fprintf(stderr, "dadar: %s\n", err);
		rc = -1;
	}
	if (c->book_dump[0] && dd_report_book_dump(&r, c->book_dump, err, sizeof(err)) != 0) {
		fprintf(stderr, "dadar: %s\n", err);
		rc = -1;
	}
	free(a->book_ptrs);
	return rc;
}

int main(int argc, char **argv)
{
	static struct app a;
	char err[1024];
	int rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr,
			"dadar: DPDK initialisation failed: %s. Without hugepages or NICs run with --no-huge --no-pci -m "
			"512; see docs/operations.md\n",
			rte_strerror(rte_errno));
		return 1;
	}
	argc -= rc;
	argv += rc;

	dd_config_defaults(&a.cfg);
	rc = dd_config_args(&a.cfg, argc - 1, argv + 1, stdout, err, sizeof(err));
	if (rc == 0)
		rc = dd_config_check(&a.cfg, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "dadar: %s\n", err);
		rte_eal_cleanup();
		return rc > 0 ? 0 : 2;
	}

	unsigned roles[RTE_MAX_LCORE];
	unsigned nroles = lcore_list(roles, RTE_MAX_LCORE);
	unsigned nworkers = a.cfg.pipeline == DD_PIPELINE_RTC ? 0 : a.cfg.workers;
	bool journaling = a.cfg.journal[0] != '\0';
	unsigned need = 1 + nworkers + journaling;
	if (nroles < need) {
		fprintf(stderr,
			"dadar: %s needs %u lcores (one RX, %u worker%s%s), EAL gave %u: pass -l with more cores (e.g. -l "
			"0-%u), or --lcores to map several lcores onto fewer cores for testing (e.g. --lcores '(0-%u)@(0-1)')\n",
			nworkers ? "the staged pipeline" : "run to completion", need, nworkers, nworkers == 1 ? "" : "s",
			journaling ? ", the journal" : "", nroles, need - 1, need - 1);
		rte_eal_cleanup();
		return 2;
	}
	a.socket = (int)rte_lcore_to_socket_id(roles[0]);

	rc = dd_ports_start(&a.ports, &a.cfg, a.socket, err, sizeof(err));
	if (rc == 0)
		rc = setup_feeds(&a, err, sizeof(err));
	if (rc == 0)
		rc = setup_pipeline(&a, roles, nroles, err, sizeof(err));
	if (rc == 0)
		rc = setup_journal(&a, err, sizeof(err));
	a.journal_lcore = roles[1 + a.nworkers];
	if (rc == 0)
		rc = setup_telemetry(&a, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "dadar: %s\n", err);
		dd_ports_stop(&a.ports);
		rte_eal_cleanup();
		return 1;
	}
	dd_lcore_bind_consumers(a.rx);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* Launch every role on its lcore; the main lcore, if it has one, runs it last and inline. */
	unsigned main_lcore = rte_get_main_lcore();
	int (*fn[RTE_MAX_LCORE])(void *);
	void *arg[RTE_MAX_LCORE];
	unsigned nlaunch = 0;
	fn[nlaunch] = dd_rx_main;
	arg[nlaunch++] = a.rx;
	for (unsigned w = 0; w < a.nworkers; w++) {
		fn[nlaunch] = dd_worker_main;
		arg[nlaunch++] = &a.workers[w];
	}
	if (a.journal != NULL) {
		fn[nlaunch] = dd_journal_main;
		arg[nlaunch++] = &a.jl;
	}
	int main_role = -1;
	atomic_store_explicit(&g_ctl.running, (int)nlaunch, memory_order_relaxed);
	for (unsigned i = 0; i < nlaunch; i++) {
		if (roles[i] == main_lcore) {
			main_role = (int)i;
			continue;
		}
		rc = rte_eal_remote_launch(fn[i], arg[i], roles[i]);
		if (rc != 0) {
			fprintf(stderr, "dadar: cannot launch lcore %u: %s\n", roles[i], rte_strerror(-rc));
			atomic_store_explicit(&g_ctl.quit, 1, memory_order_release);
			atomic_fetch_sub_explicit(&g_ctl.running, (int)(nlaunch - i), memory_order_relaxed);
			break;
		}
	}
	pthread_t ctrl;
	bool have_ctrl = rte_ctrl_thread_create(&ctrl, "dd-control", NULL, control_main, &a) == 0;
	if (!have_ctrl)
		fprintf(stderr, "dadar: cannot start the control thread: no NIC clock recalibration, spare journal "
			"segments or snapshots this run\n");
	if (main_role >= 0)
		fn[main_role](arg[main_role]);
	rte_eal_mp_wait_lcore();
	if (have_ctrl)
		pthread_join(ctrl, NULL);

	int status = report(&a) == 0 ? 0 : 1;
	if (a.journal != NULL) {
		const char *jerr = dd_journal_error(a.journal);
		if (jerr != NULL) {
			fprintf(stderr, "dadar: %s\n", jerr);
			status = 1;
		}
		if (a.rx->jp.stalled) {
			fprintf(stderr, "dadar: the journal did not take records for %llu ms: input was stopped (durable LSN "
				"%llu kept)\n", (unsigned long long)a.cfg.jstall_ms,
				(unsigned long long)dd_journal_durable_lsn(a.journal));
			status = 1;
		}
		dd_journal_destroy(a.journal);
	}
	dd_recovery_fini(&a.rec);
	dd_tm_close(&a.tm, true);
	dd_ports_stop(&a.ports);
	rte_eal_cleanup();
	return status;
}
