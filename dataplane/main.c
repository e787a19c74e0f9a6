/* SPDX-License-Identifier: MIT */
/*
 * dadar: the daemon. Parses EAL and dadar options, sets up ports, feeds, books and rings, assigns
 * roles to lcores, runs until a signal or the idle timeout, drains, and reports.
 */
#include <errno.h>
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

#include "dataplane/config.h"
#include "dataplane/lcore.h"
#include "dataplane/port.h"
#include "dataplane/report.h"

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
	const struct dd_book **book_ptrs; /* [nshards * nfeeds] for the report */
	struct dd_tm tm;                  /* the telemetry segment */
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

/* Books for one shard, one per feed. */
static struct dd_book *make_books(struct app *a, char *err, size_t errlen)
{
	struct dd_book *books = zalloc("books", a->nfeeds * sizeof(*books), a->socket, err, errlen);
	if (books == NULL)
		return NULL;
	size_t len = dd_book_memsize(&a->cfg.book);
	for (unsigned f = 0; f < a->nfeeds; f++) {
		void *mem = rte_malloc_socket("book", len, 64, a->socket);
		if (mem == NULL) {
			snprintf(err, errlen,
				 "cannot allocate %.1f MB for the order book of feed '%s' (capacity.orders = %u, "
				 "capacity.levels = %u, capacity.instruments = %u) on socket %d. With --no-huge raise -m; "
				 "with hugepages reserve more; or lower the capacities",
				 (double)len / 1e6, a->feeds[f].cfg.name, a->cfg.book.max_orders, a->cfg.book.max_levels,
				 a->cfg.book.max_instruments, a->socket);
			return NULL;
		}
		if (dd_book_init(&books[f], mem, len, &a->cfg.book) != 0) {
			snprintf(err, errlen, "book capacities out of range");
			return NULL;
		}
	}
	return books;
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

	if (c->pipeline == DD_PIPELINE_RTC) {
		(void)nroles;
		a->nshards = 1;
		rx->books = make_books(a, err, errlen);
		if (rx->books == NULL)
			return -ENOMEM;
		return 0;
	}
	a->nworkers = c->workers;
	a->nshards = c->workers;
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
		wk->books = make_books(a, err, errlen);
		if (wk->books == NULL)
			return -ENOMEM;
	}
	return 0;
}

/* Telemetry period: counters are published every millisecond. */
#define DD_PUBLISH_US 1000

static void tm_bind(struct dd_lcore_tm *t, struct dd_tm *tm, unsigned slot, const unsigned *stages, unsigned nstages)
{
	memset(t, 0, sizeof(*t));
	t->slot = dd_tm_slot(tm, slot);
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
	bool replaced;
	int rc = dd_tm_create(&a->tm, a->cfg.instance, 1 + a->nworkers, rte_get_tsc_hz(), names, nreasons, &replaced,
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
	static const unsigned rtc_stages[] = { DD_TM_RX, DD_TM_BOOK, DD_TM_WIRE };
	static const unsigned rx_stages[] = { DD_TM_RX };
	static const unsigned worker_stages[] = { DD_TM_RING, DD_TM_BOOK, DD_TM_WIRE };
	if (a->nworkers == 0)
		tm_bind(&a->rx->tm, &a->tm, 0, rtc_stages, 3);
	else
		tm_bind(&a->rx->tm, &a->tm, 0, rx_stages, 1);
	for (unsigned w = 0; w < a->nworkers; w++) {
		sl = dd_tm_slot(&a->tm, 1 + w);
		sl->lcore = a->workers[w].lcore;
		sl->role = DD_TM_ROLE_WORKER;
		snprintf(sl->name, sizeof(sl->name), "worker%u", w);
		dd_tm_set(&sl->ring_size, rte_ring_get_capacity(a->workers[w].ring));
		tm_bind(&a->workers[w].tm, &a->tm, 1 + w, worker_stages, 3);
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
	unsigned need = a.cfg.pipeline == DD_PIPELINE_RTC ? 1 : 1 + a.cfg.workers;
	if (nroles < need) {
		fprintf(stderr,
			"dadar: the staged pipeline with %u worker%s needs %u lcores (one RX, %u workers), EAL gave %u: "
			"pass -l with more cores (e.g. -l 0-%u), or --lcores to map several lcores onto fewer cores for "
			"testing (e.g. --lcores '(0-%u)@(0-1)')\n",
			a.cfg.workers, a.cfg.workers == 1 ? "" : "s", need, a.cfg.workers, nroles, need - 1, need - 1);
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
	if (main_role >= 0) {
		fn[main_role](arg[main_role]);
	} else {
		/* The control thread: keep the NIC clock mappings fresh while the lcores run. */
		uint64_t next = rte_get_tsc_cycles() + rte_get_tsc_hz();
		/* pairs with the release decrement at the end of every lcore loop */
		while (atomic_load_explicit(&g_ctl.running, memory_order_acquire) > 0) {
			rte_delay_us_sleep(100 * 1000);
			if (rte_get_tsc_cycles() >= next) {
				dd_ports_calibrate(&a.ports);
				next += rte_get_tsc_hz();
			}
		}
	}
	rte_eal_mp_wait_lcore();

	int status = report(&a) == 0 ? 0 : 1;
	dd_tm_close(&a.tm, true);
	dd_ports_stop(&a.ports);
	rte_eal_cleanup();
	return status;
}
