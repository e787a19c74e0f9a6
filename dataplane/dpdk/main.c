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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_telemetry.h>

#include <systemd/sd-daemon.h>

#include "dataplane/config/config.h"
#include "dataplane/config/log.h"
#include "dataplane/dpdk/journal.h"
#include "dataplane/dpdk/lcore.h"
#include "dataplane/dpdk/outtx.h"
#include "dataplane/out/natsb.h"
#include "dataplane/out/outhist.h"
#include "dataplane/out/outlog.h"
#include "dataplane/out/rexmit.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/dpdk/telecmd.h"
#include "dataplane/journal/recovery.h"
#include "dataplane/journal/replay.h"
#include "dataplane/config/report.h"
#include "ops/cep/cep.h"
#include "ops/window/window.h"

static struct dd_control g_ctl; /* the signal handler's only way in */

static void on_signal(int sig)
{
	/* The one thing a handler does; lcores poll it with acquire loads. */
	if (sig == SIGHUP) /* a rule reload: the control thread takes it (pairs with its exchange) */
		atomic_store_explicit(&g_ctl.reload, 1, memory_order_release);
	else
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
	struct dd_feed_cfg feedcfg[DD_MAX_FEEDS]; /* the feeds read: configured, or the defaults */
	unsigned nfeeds;
	unsigned nmarket;                 /* market feeds (feeds 0..nmarket-1; payment feeds after them) */
	unsigned nshards;
	unsigned nchains;                 /* nshards market chains, then the payment chain if any */
	struct dd_mrules *mrules;         /* the market chains' windows and patterns at start (NULL: none) */
	struct dd_mrules *mrules_live;    /* in force since the last reload (NULL: the start's) */
	struct dd_mrules *mrules_next;    /* published, not yet in force everywhere */
	uint64_t mreloads, mreload_failures;
	char mreload_error[1000];         /* the last market rules refusal */
	char *mrules_text;                /* their text, journaled */
	size_t mrules_len;
	struct dd_frules *rules;          /* the payment chain's rules (compiled at start) */
	char *rules_text;                 /* their text, journaled */
	size_t rules_len;
	/* reloads (SIGHUP), by the control thread */
	struct dd_frules *rules_live;     /* the image the payment chain reads since the last reload */
	struct dd_frules *rules_next;     /* published, not yet acknowledged */
	uint64_t reloads, reload_failures;
	char reload_error[512];           /* the last failure */
	char reload_last[1500];            /* what the last reload did (for the control command) */
	atomic_uint reload_gen;           /* reloads handled (published or refused) */
	unsigned burst;                   /* events per chain run: the RX buffer (rtc) or a worker burst */
	struct dd_jconfig jconfig;        /* what the chains are: journaled, and checked against the journal */
	struct dd_chain *chains;          /* [nchains]: each shard's market chain, then the payment chain */
	void **chain_mem;                 /* [nchains] */
	struct dd_tm tm;                  /* the telemetry segment */
	/* journal (or, with --output alone, the release stage) */
	struct dd_journal *journal;
	struct dd_journal_lcore jl;
	unsigned journal_lcore;
	struct dd_recovery rec;
	char journal_note[1024];          /* what recovery did, for the report */
	/* snapshots, written by the control thread from its own replay of the journal */
	uint64_t snap_lsn;
	uint64_t snap_next;               /* durable LSN at which the next snapshot is due */
	atomic_bool snap_stop;            /* the snapshot thread ends (set by the control thread) */
	uint64_t snapshots;
	uint64_t snapshot_failures;
	char snap_error[512];
	/* the output stream (--output-udp) and the JetStream bridge (--nats) */
	uint64_t jout_count;              /* OUTPUT records the journal held at start */
	struct dd_stream_state stream;    /* the session and its base */
	uint64_t stream_first;            /* the session's number of this run's first output */
	struct dd_outhist *hist;
	struct dd_outtx *tx;
	struct dd_rexmit *rexmit;
	struct dd_natsb *natsb;
};

/* Does the release stage run (the journal lcore, with or without a journal on disk)? */
static bool release_stage(const struct dd_config *c)
{
	return c->journal[0] != '\0' || c->output[0] != '\0' || c->outu.on || c->nats[0] != '\0';
}

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

/* Chain memory for recovery's replay: DPDK memory on our socket (hugepages on a real host). */
static void *chain_alloc(void *ctx, size_t len)
{
	const struct app *a = ctx;
	return rte_malloc_socket("operators", len, 64, a->socket);
}

static void chain_release(void *ctx, void *p)
{
	(void)ctx;
	rte_free(p);
}

/* How a staged pipeline shards market events (ops/route.h); one shard has nothing to route. */
static unsigned route_policy(const struct app *a)
{
	if (a->nshards <= 1)
		return DD_ROUTE_LOCATE;
	switch (a->cfg.route) {
	case DD_ROUTE_CFG_LOCATE:
		return DD_ROUTE_LOCATE;
	case DD_ROUTE_CFG_SYMBOL:
		return DD_ROUTE_SYMBOL;
	case DD_ROUTE_CFG_AUTO:
		break;
	}
	return a->nmarket > 1 ? DD_ROUTE_SYMBOL : DD_ROUTE_LOCATE;
}

static const char *route_name(unsigned policy)
{
	return policy == DD_ROUTE_SYMBOL ? "symbol" : "locate";
}

/* The chain spec and layout this start runs. */
static int make_jconfig(struct app *a, char *err, size_t errlen)
{
	memset(&a->jconfig, 0, sizeof(a->jconfig));
	a->jconfig.version = DD_JCONFIG_VERSION;
	a->jconfig.nshards = a->nshards;
	a->jconfig.nfeeds = a->nfeeds;
	a->jconfig.route = route_policy(a);
	int rc = dd_config_market_chain(&a->cfg, a->nmarket > 0 ? a->nmarket : 1, &a->jconfig.market);
	if (rc == 0)
		rc = dd_config_payment_chain(&a->cfg, a->feedcfg, a->nfeeds, &a->jconfig.payment);
	if (rc != 0)
		snprintf(err, errlen, "cannot describe the operator chains: %s", strerror(-rc));
	a->nchains = a->nshards + (a->jconfig.payment.nops > 0);
	return rc;
}

/* The payment chain takes the rules this start was given (after recovery: the journal's were the
 * last run's; this start journals its own next). */
static int install_rules(struct app *a, char *err, size_t errlen)
{
	/* the market rules: the same as the journal's keep the recovered state; others start afresh */
	for (unsigned s = 0; a->mrules != NULL && s < a->nshards; s++) {
		void *w = dd_chain_state(&a->chains[s], DD_OP_WINDOW), *c = dd_chain_state(&a->chains[s], DD_OP_CEP);
		if ((w != NULL && dd_window_use(w, a->mrules) != 0) || (c != NULL && dd_cep_use(c, a->mrules) != 0)) {
			snprintf(err, errlen, "rules: they need %zu + %zu bytes of state per symbol; the journal's chain "
				 "keeps less (move the journal aside, or set cep.key_bytes and window.key_bytes)",
				 dd_cep_key_bytes(a->mrules), dd_window_key_bytes(a->mrules));
			return -EINVAL;
		}
	}
	if (a->mrules != NULL && dd_cep_key_bytes(a->mrules) > a->cfg.cep_key_bytes)
		fprintf(stderr, "dadar: rules: the chains keep %u bytes per symbol for patterns: their partial matches "
				"but not the %zu that also hold the records alerts list, so alerts list none (a journal "
				"written before alerts listed them, or cep.key_bytes set so; a new journal with "
				"cep.key_bytes 0 lists them)\n",
			a->cfg.cep_key_bytes, dd_cep_key_bytes(a->mrules));
	if (a->nchains == a->nshards)
		return 0;
	void *st = dd_chain_state(&a->chains[a->nshards], DD_OP_FRAUD);
	if (st != NULL && dd_fraud_install(st, a->rules) != 0) {
		snprintf(err, errlen, "fraud rules: the merchant table does not fit fraud.merchant_table_cap");
		return -EINVAL;
	}
	return 0;
}

/* Every shard's chain, built from the configuration (when recovery did not build them already). */
static int make_chains(struct app *a, char *err, size_t errlen)
{
	struct dd_chain_params cp = { .spec = &a->jconfig.market, .burst = a->burst, .clock = dd_lcore_clock };
	size_t len = dd_chain_memsize(&cp);
	if (len == 0)
		return dd_chain_init(&(struct dd_chain){ 0 }, NULL, 0, &cp, err, errlen);
	a->chain_mem = calloc(a->nchains, sizeof(*a->chain_mem));
	if (a->chain_mem == NULL)
		return -ENOMEM;
	for (unsigned s = 0; s < a->nchains; s++) {
		if (s == a->nshards) { /* the payment chain */
			cp.spec = &a->jconfig.payment;
			if ((len = dd_chain_memsize(&cp)) == 0)
				return dd_chain_init(&(struct dd_chain){ 0 }, NULL, 0, &cp, err, errlen);
		}
		a->chain_mem[s] = rte_malloc_socket("operators", len, 64, a->socket);
		if (a->chain_mem[s] == NULL) {
			snprintf(err, errlen,
				 "cannot allocate %.1f MB for the operators of shard %u (capacity.orders = %u, capacity.levels "
				 "= %u, capacity.instruments = %u, %u feed(s)) on socket %d. With --no-huge raise -m; with "
				 "hugepages reserve more; or lower the capacities",
				 (double)len / 1e6, s, a->cfg.book.max_orders, a->cfg.book.max_levels,
				 a->cfg.book.max_instruments, a->nfeeds, a->socket);
			return -ENOMEM;
		}
		cp.shard = s;
		int rc = dd_chain_init(&a->chains[s], a->chain_mem[s], len, &cp, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int setup_feeds(struct app *a, char *err, size_t errlen)
{
	const struct dd_feed_cfg *cfgs = a->feedcfg;
	a->nfeeds = dd_config_feeds(&a->cfg, a->feedcfg);
	a->nmarket = dd_config_market_feeds(a->feedcfg, a->nfeeds);
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

/*
 * recovery's view of a journal's configuration: the same layout, and the journal's capacities and
 * operators unless the user gave other values explicitly (then refuse, naming them).
 */
static int check_journal_config(void *ctx, const struct dd_jconfig *j, char *err, size_t errlen)
{
	struct app *a = ctx;
	if (j->nshards != a->nshards || j->nfeeds != a->nfeeds) {
		snprintf(err, errlen,
			 "journal %s was written by a pipeline with %u shard(s) and %u feed(s); this start has %u and %u: "
			 "start with the same --pipeline/--workers and feeds (or replay it offline with dadar-journal replay)",
			 a->cfg.journal, j->nshards, j->nfeeds, a->nshards, a->nfeeds);
		return -EINVAL;
	}
	int rc = dd_config_adopt_journal(&a->cfg, j, err, errlen);
	if (rc == 0)
		rc = make_jconfig(a, err, errlen);
	if (rc == 0 && (!dd_chain_spec_equal(&a->jconfig.market, &j->market) ||
			!dd_chain_spec_equal(&a->jconfig.payment, &j->payment))) {
		snprintf(err, errlen, "journal %s: its operator configuration cannot be reproduced by this build",
			 a->cfg.journal);
		return -EINVAL;
	}
	/* the journal's route goes on (its events were sharded by it), unless asked for another */
	if (rc == 0 && j->route != a->jconfig.route) {
		if (a->cfg.route != DD_ROUTE_CFG_AUTO) {
			snprintf(err, errlen, "journal %s was written with market events routed by %s; this start asks for "
				 "route = %s: start with route = %s or auto (or with a new journal)", a->cfg.journal,
				 route_name(j->route), route_name(a->jconfig.route), route_name(j->route));
			return -EINVAL;
		}
		a->jconfig.route = j->route;
	}
	return rc;
}

/*
 * Recovery (state from the journal, feed positions, outputs owed), before the pipeline exists:
 * replay builds the chains the journal describes, in DPDK memory, and the pipeline runs on them.
 */
static int recover(struct app *a, char *err, size_t errlen)
{
	struct dd_recovery *r = &a->rec;
	*r = (struct dd_recovery){ .dir = a->cfg.journal, .output = a->cfg.output, .feeds = a->feeds,
				   .nfeeds = a->nfeeds, .nshards = a->nshards, .burst = a->burst,
				   .check_config = check_journal_config, .check_ctx = a, .alloc = chain_alloc,
				   .release = chain_release, .alloc_ctx = a, .clock = dd_lcore_clock };
	if (a->cfg.journal[0] == '\0') {
		r->fresh = true;
		r->next_lsn = 1;
		return 0;
	}
	int rc = a->cfg.jsync == DD_JSYNC_OFF ? 0 : dd_recover(r, err, errlen);
	if (rc != 0)
		return rc;
	if (a->cfg.jsync == DD_JSYNC_OFF) {
		r->fresh = true;
		r->next_lsn = 1;
		snprintf(r->message, sizeof(r->message), "journal.sync = off: nothing is written, nothing recovered");
	}
	/* a new journal or a recovery is a notice; one that had to cut a torn tail a warning */
	dd_log(strstr(r->message, "torn tail") != NULL ? DD_LOG_WARNING : DD_LOG_NOTICE, "%s", r->message);
	snprintf(a->journal_note, sizeof(a->journal_note), "%s", r->message);
	if (r->replay.chains != NULL) {
		void **mem;
		struct dd_chain *c = dd_replay_take_chains(&r->replay, &mem);
		memcpy(a->chains, c, a->nchains * sizeof(*c));
		free(c);
		a->chain_mem = mem;
	}
	return 0;
}

/*
 * The output stream's session (docs/wire-formats.md, "Sequence numbers and sessions"): with a
 * journal, the one `<journal>/stream` names unless a clean stop ended it; else a new one whose
 * message 1 is the journal's next output. Then the history of released outputs, the sender, the
 * request server and the JetStream bridge.
 */
static int setup_stream(struct app *a, char *err, size_t errlen)
{
	const struct dd_config *c = &a->cfg;
	if (!c->outu.on && c->nats[0] == '\0')
		return 0;
	bool disk = c->journal[0] != '\0' && c->jsync != DD_JSYNC_OFF;
	struct dd_stream_state prev, s;
	memset(&s, 0, sizeof(s));
	int rc = disk ? dd_stream_state_load(c->journal, &prev, err, errlen) : -ENOENT;
	if (rc != 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && !prev.ended) {
		s = prev;
	} else {
		if (c->out_session[0] != '\0' && rc == -ENOENT) {
			memcpy(s.session, c->out_session, DD_OUTLOG_SESSION_LEN); /* 10 characters: checked */
		} else {
			/* the Unix time, not the name of the session that just ended */
			unsigned long long t = (unsigned long long)time(NULL) % 10000000000ull;
			snprintf(s.session, sizeof(s.session), "%010llu", t);
			if (rc == 0 && strcmp(s.session, prev.session) == 0)
				snprintf(s.session, sizeof(s.session), "%010llu", (t + 1) % 10000000000ull);
		}
		s.base = a->jout_count;
	}
	if (s.base > a->jout_count) {
		snprintf(err, errlen, "%s/stream: session %s starts after output %llu, but the journal holds %llu outputs: "
			 "the journal lost outputs that were sent. Move the file aside to start a new session",
			 c->journal, s.session, (unsigned long long)s.base, (unsigned long long)a->jout_count);
		return -EPROTO;
	}
	/* a session a clean stop ended stays answerable from the journal (`<journal>/sessions`) */
	if (disk && rc == 0 && prev.ended) {
		struct dd_stream_past ended = { .base = prev.base, .count = a->jout_count - prev.base };
		memcpy(ended.session, prev.session, sizeof(ended.session));
		if ((rc = dd_stream_past_add(c->journal, &ended, err, errlen)) != 0)
			return rc;
	}
	static struct dd_stream_past past[DD_STREAM_PAST_MAX];
	unsigned npast = 0;
	if (disk && (rc = dd_stream_past_load(c->journal, past, &npast, err, errlen)) != 0)
		return rc;
	if (disk && (rc = dd_stream_state_save(c->journal, &s, err, errlen)) != 0)
		return rc;
	a->stream = s;
	a->stream_first = a->jout_count - s.base + 1;
	uint64_t want = c->out_history > c->nats_backlog || c->nats[0] == '\0' ? c->out_history : c->nats_backlog;
	uint64_t slots = 16;
	while (slots < want)
		slots <<= 1;
	a->hist = zalloc("output history", dd_outhist_bytes(slots), a->socket, err, errlen);
	if (a->hist == NULL)
		return -ENOMEM;
	dd_outhist_init(a->hist, slots);
	if (c->outu.on) {
		struct dd_outtx_params tp = { .port = c->outu.portid, .group = c->outu.group, .src_ip = c->outu.src_ip,
					      .dport = c->outu.port, .src_port = c->outu.src_port,
					      .have_mac = c->outu.have_mac, .mtu = c->out_mtu,
					      .heartbeat_ms = c->out_heartbeat_ms, .session = s.session,
					      .next_seq = a->stream_first, .socket = a->socket };
		memcpy(tp.dst_mac, c->outu.dst_mac, 6);
		bool known = false;
		for (unsigned i = 0; i < a->ports.n; i++)
			known |= a->ports.id[i] == c->outu.portid;
		if (!known) {
			snprintf(err, errlen, "output_udp: DPDK port %u does not exist (%u port%s: give the EAL a --vdev or "
				 "a NIC for it)", c->outu.portid, a->ports.n, a->ports.n == 1 ? "" : "s");
			return -ENODEV;
		}
		if ((rc = dd_outtx_create(&a->tx, &tp, err, errlen)) != 0)
			return rc;
		if (!c->outu.req_off) {
			struct dd_rexmit_params rp = { .ip = c->outu.req_ip, .port = c->outu.req_port, .session = s.session,
						       .hist = a->hist, .journal = disk ? c->journal : NULL,
						       .base = s.base, .past = past, .npast = npast,
						       .max_per_request = c->out_request_max,
						       .rate = c->out_request_rate, .mtu = c->out_mtu };
			if ((rc = dd_rexmit_start(&a->rexmit, &rp, err, errlen)) != 0)
				return rc;
		}
	}
	dd_journal_bind_stream(a->journal, a->hist, a->tx, a->stream_first);
	if (c->nats[0] != '\0') {
		struct dd_natsb_params np = { .url = c->nats, .stream = c->nats_stream, .instance = c->instance,
					      .session = s.session, .hist = a->hist, .hist_slots = slots,
					      .journal = disk ? c->journal : NULL, .base = s.base,
					      .first_seq = a->stream_first };
		if ((rc = dd_natsb_start(&a->natsb, &np, err, errlen)) != 0)
			return rc;
	}
	dd_log(DD_LOG_NOTICE, "output stream: session %s from message %llu%s%s", s.session,
	       (unsigned long long)a->stream_first, c->outu.on ? "" : " (for the JetStream bridge only)",
	       a->rexmit ? "; retransmission requests answered" : "");
	return 0;
}

/* The stream's end: the bridge drains, the request server stops; a clean end is recorded. */
static void stop_stream(struct app *a, bool clean)
{
	if (a->natsb != NULL)
		dd_natsb_stop(a->natsb, a->journal ? dd_journal_released_seq(a->journal) : 0,
			      clean ? (unsigned)a->cfg.nats_drain_ms : 0);
	if (a->rexmit != NULL)
		dd_rexmit_stop(a->rexmit);
	bool disk = a->cfg.journal[0] != '\0' && a->cfg.jsync != DD_JSYNC_OFF;
	if (a->tx != NULL && dd_outtx_stats(a->tx)->ended && disk) {
		char err[512];
		struct dd_stream_state s = a->stream;
		s.ended = 1;
		if (dd_stream_state_save(a->cfg.journal, &s, err, sizeof(err)) != 0)
			dd_log(DD_LOG_ERR, "%s (the next start continues session %s after its end of session)", err,
			       s.session);
	}
}

static void free_stream(struct app *a)
{
	dd_natsb_free(a->natsb);
	a->natsb = NULL;
	dd_rexmit_free(a->rexmit);
	a->rexmit = NULL;
	dd_outtx_destroy(a->tx);
	a->tx = NULL;
	rte_free(a->hist);
	a->hist = NULL;
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

/* The pipeline's shape: shards, workers, the events one chain run takes. */
static void plan_pipeline(struct app *a)
{
	bool staged = a->cfg.pipeline == DD_PIPELINE_STAGED;
	a->nworkers = staged ? a->cfg.workers : 0;
	a->nshards = staged ? a->cfg.workers : 1;
	/* a flush at once, unless the chain's output bound makes that buffer large (market rules: the
	 * RX lcore runs it in slices) */
	a->burst = staged || a->cfg.market_rules ? DD_WORKER_BURST : DD_RX_RUN;
}

static int setup_pipeline(struct app *a, const unsigned *roles, char *err, size_t errlen)
{
	const struct dd_config *c = &a->cfg;
	if (a->chain_mem == NULL) { /* recovery did not build them */
		int rc = make_chains(a, err, errlen);
		if (rc != 0)
			return rc;
	}
	struct dd_rx_ctx *rx = zalloc("rx context", sizeof(*rx), a->socket, err, errlen);
	if (rx == NULL)
		return -ENOMEM;
	a->rx = rx;
	rx->lcore = roles[0];
	rx->ctl = &g_ctl;
	rx->cfg = c;
	rx->burst = c->rx_burst;
	rx->stamps = c->stamps;
	rx->frame_flags = (c->check_ip_csum ? DD_FRAME_CHECK_IP_CSUM : 0) |
			  (c->check_udp_csum ? DD_FRAME_CHECK_UDP_CSUM : 0);
	rx->idle_tsc = c->exit_on_idle_ms * rte_get_tsc_hz() / 1000;
	if (c->outu.on) {
		rx->own_group = c->outu.group;
		rx->own_port = c->outu.port;
	}
	for (unsigned i = 0; i < a->ports.n && i < DD_MAX_RXQ; i++)
		rx->q[rx->nq++] = (struct dd_rxq){ a->ports.id[i], 0, a->ports.hwts[i] ? &a->ports.clock[i] : NULL };
	rx->ts_offset = a->ports.ts_offset;
	rx->ts_flag = a->ports.ts_flag;
	rx->feeds = a->feeds;
	rx->nfeeds = a->nfeeds;
	rx->pay_chain = a->nshards;
	for (unsigned f = 0, k = 0; k < 2; k++) /* feeds with lines first, catch-alls last */
		for (unsigned i = 0; i < a->nfeeds; i++)
			if ((a->feeds[i].cfg.nlines == 0) == (k == 1))
				rx->feed_order[f++] = (uint8_t)i;
	rx->scratch = zalloc("scratch", DD_SCRATCH, a->socket, err, errlen);
	rx->sink.ev = zalloc("event buffer", DD_RX_EVENTS * sizeof(struct dd_event), a->socket, err, errlen);
	if (rx->scratch == NULL || rx->sink.ev == NULL)
		return -ENOMEM;
	rx->sink.cap = DD_RX_EVENTS;
	rx->sink.ctx = rx;
	/* ticks only when an operator is time-driven: a book-only chain has no use for them */
	for (unsigned k = 0; k < a->chains[0].nops; k++)
		if (a->chains[0].op[k].ops->advance != NULL)
			rx->wm_interval = c->wm_interval_us * 1000;
	rx->wm_delay = c->wm_delay_us * 1000;
	rx->wm_idle_tsc = c->wm_idle_ms * rte_get_tsc_hz() / 1000;
	rx->wm_idle_ns = c->wm_idle_ms * 1000000;
	rx->wm_clock = c->wm_all_idle == DD_WM_ALL_IDLE_CLOCK;
	rx->tsc_hz = rte_get_tsc_hz();
	for (unsigned f = 0; f < a->nfeeds && f < DD_MAX_FEEDS; f++)
		if (a->feedcfg[f].kind == DD_FEED_MARKET) {
			rx->market_mask |= 1u << f;
			rx->src_max[f] = rx->src_seen[f] = a->rec.replay.src_max_ns[f];
			rx->src_tsc[f] = rte_rdtsc();
		}
	rx->ev_max = a->rec.replay.max_event_ns;
	rx->ev_max_tsc = rte_rdtsc();
	rx->tick_last = a->rec.replay.last_tick_ns;
	dd_rx_wm_init(rx);
	rx->tickbuf = zalloc("tick buffer", DD_RX_RUN * sizeof(struct dd_event), a->socket, err, errlen);
	if (rx->tickbuf == NULL)
		return -ENOMEM;

	struct dd_chain *pchain = a->nchains > a->nshards ? &a->chains[a->nshards] : NULL;
	if (a->nworkers == 0) {
		rx->chain = &a->chains[0];
		rx->pchain = pchain;
		return 0;
	}
	a->workers = zalloc("worker contexts", a->nworkers * sizeof(*a->workers), a->socket, err, errlen);
	rx->batch = zalloc("staging batches", a->nworkers * sizeof(*rx->batch), a->socket, err, errlen);
	rx->nbatch = zalloc("staging counts", a->nworkers * sizeof(*rx->nbatch), a->socket, err, errlen);
	rx->bbase = zalloc("staging positions", a->nworkers * sizeof(*rx->bbase), a->socket, err, errlen);
	if (a->workers == NULL || rx->batch == NULL || rx->nbatch == NULL || rx->bbase == NULL)
		return -ENOMEM;
	rx->workers = a->workers;
	rx->nworkers = a->nworkers;
	/* the route the journal's events took goes on from where recovery left it */
	size_t rlen = dd_route_memsize(a->jconfig.route, a->nfeeds);
	void *rmem = rlen > 0 ? zalloc("route table", rlen, a->socket, err, errlen) : NULL;
	if (rlen > 0 && rmem == NULL)
		return -ENOMEM;
	dd_route_init(&rx->route, rmem, a->jconfig.route, a->nshards, a->nfeeds);
	if (a->rec.replay.have_config && dd_route_copy(&rx->route, &a->rec.replay.route) != 0) {
		snprintf(err, errlen, "journal %s: recovery's route (by %s) is not this start's (by %s)", a->cfg.journal,
			 route_name(a->rec.replay.route.policy), route_name(rx->route.policy));
		return -EINVAL;
	}
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
		wk->chain = &a->chains[w];
		wk->pchain = w == 0 ? pchain : NULL; /* one payment partition (ops/fraud/fraud.h says why) */
	}
	return 0;
}

static int jprod_init(struct app *a, struct dd_jprod *jp, unsigned i, unsigned cap, char *err, size_t errlen)
{
	jp->ring = dd_journal_ring(a->journal, i);
	jp->cap = cap;
	jp->stall_tsc = a->cfg.jstall_ms * rte_get_tsc_hz() / 1000;
	jp->crc = i > 0; /* the workers: dd_jitem_fill() says why not the RX lcore */
	jp->items = zalloc("journal items", cap * sizeof(*jp->items), a->socket, err, errlen);
	return jp->items == NULL ? -ENOMEM : 0;
}

/*
 * The journal stage (or, with --output alone, the release stage: the same lcore, writing no
 * journal), with one producer ring per lcore that hands it records (the RX lcore, each worker).
 * Each producer's item buffer holds the most one flush can gather: its events, every output its
 * chain can emit for them, the feed positions.
 */
static int setup_journal(struct app *a, char *err, size_t errlen)
{
	if (!release_stage(&a->cfg))
		return 0;
	struct dd_recovery *r = &a->rec;
	if (a->cfg.journal[0] != '\0' && a->cfg.jsync != DD_JSYNC_OFF) {
		int rc = dd_outlog_count(a->cfg.journal, &a->jout_count, err, errlen);
		if (rc != 0)
			return rc;
	}
	struct dd_journal_start st = { .next_lsn = r->next_lsn, .segment = r->segment, .end_offset = r->end_offset,
				       .released_lsn = r->released_lsn, .rules = a->nchains > a->nshards ? a->rules_text : NULL,
				       .rules_len = a->rules_len, .rules_chain = a->nshards, .mrules = a->mrules_text,
				       .mrules_len = a->mrules_len, .outputs = a->jout_count };
	uint64_t lag = dd_journal_lag(&a->cfg, a->nworkers, DD_RX_RUN);
	int rc = dd_journal_create(&a->journal, &a->cfg, 1 + a->nworkers, &a->jconfig, lag, &st, a->socket, err, errlen);
	if (rc != 0)
		return rc;
	a->snap_lsn = r->replay.snapshot_lsn;
	a->snap_next = a->snap_lsn + a->cfg.snapshot_every;
	for (unsigned f = 0; f < a->nfeeds; f++)
		a->rx->jpos_seq[f] = a->feeds[f].mold.next_seq; /* journaled already */
	unsigned outs = a->chains[0].emit.cap + (a->nchains > a->nshards ? a->chains[a->nshards].emit.cap : 0);
	if ((rc = jprod_init(a, &a->rx->jp, 0, DD_RX_RUN + (a->nworkers ? 0 : outs) + DD_MAX_FEEDS, err, errlen)) != 0)
		return rc;
	for (unsigned w = 0; w < a->nworkers; w++)
		if ((rc = jprod_init(a, &a->workers[w].jp, 1 + w, outs, err, errlen)) != 0)
			return rc;
	atomic_store_explicit(&g_ctl.producers, (int)(1 + a->nworkers), memory_order_relaxed);
	a->jl = (struct dd_journal_lcore){ .j = a->journal, .producers_left = &g_ctl.producers, .quit = &g_ctl.quit,
					   .running = &g_ctl.running };
	return 0;
}

/*
 * The outputs recovery re-derived from journaled inputs whose own records a crash lost: journaled
 * before any input, durable and released before the lcores start. After setup_stream(): they are
 * the stream's first messages of this run (its first number counts the journal's outputs without
 * them), so the history and the sender must see them.
 */
static int journal_tail(struct app *a, char *err, size_t errlen)
{
	struct dd_recovery *r = &a->rec;
	if (a->journal == NULL || r->replay.ntail == 0)
		return 0;
	int rc = dd_journal_prepend_outputs(a->journal, r->replay.tail, r->replay.ntail, err, errlen);
	if (rc != 0)
		return rc;
	char note[160];
	snprintf(note, sizeof(note), "the %llu outputs derived but not journaled before the stop are journaled now, "
		 "durable up to LSN %llu", (unsigned long long)r->replay.ntail,
		 (unsigned long long)dd_journal_durable_lsn(a->journal));
	dd_log(DD_LOG_NOTICE, "journal %s: %s", a->cfg.journal, note);
	size_t n = strlen(a->journal_note);
	snprintf(a->journal_note + n, sizeof(a->journal_note) - n, "; %s", note);
	return 0;
}

/*
 * A snapshot, off the hot path: replay the journal from the last snapshot up to the durable LSN
 * into chains of the control thread's own, and write it. The replay also checks, again, that the
 * journaled outputs are the ones the operators derive. A failure is reported once and retried
 * only after another snapshot_every records, never every tick of the control thread.
 */
static void take_snapshot(struct app *a, uint64_t durable)
{
	char err[512];
	struct dd_replay r = { .use_snapshot = true, .max_lsn = durable };
	int rc = dd_replay_run(a->cfg.journal, &r, err, sizeof(err));
	if (rc == 0 && r.mismatch)
		snprintf(err, sizeof(err), "replay for a snapshot: at LSN %llu: %s", (unsigned long long)r.mismatch_lsn,
			 r.mismatch_why);
	if (rc == 0 && !r.mismatch && r.last_lsn > a->snap_lsn && r.have_config)
		rc = dd_replay_snapshot_state(&r, a->cfg.journal, err, sizeof(err));
	if (rc == 0 && !r.mismatch) {
		if (r.last_lsn > a->snap_lsn) {
			a->snap_lsn = r.last_lsn;
			a->snapshots++;
		}
		a->snap_next = a->snap_lsn + a->cfg.snapshot_every;
	} else {
		a->snapshot_failures++;
		a->snap_next = durable + a->cfg.snapshot_every;
		if (a->snap_error[0] == '\0') {
			snprintf(a->snap_error, sizeof(a->snap_error), "%s", err);
			dd_log(DD_LOG_WARNING, "snapshot failed (retried after another %llu records): %s",
				(unsigned long long)a->cfg.snapshot_every, err);
		}
	}
	dd_replay_fini(&r);
}

/*
 * A rule reload (SIGHUP): the files are read and compiled again; a rule set that does not compile
 * (or cannot be journaled) is refused with the error reported, and the rules in force stay. One
 * that does is written into the journal directory, then handed to the RX lcore, which journals a
 * reference to it at an event boundary and puts it in force on the payment chain's lcore. The
 * image it replaces is freed once that lcore has acknowledged the new one.
 */
static int reload_fraud(struct app *a, char *msg, size_t msglen)
{
	char err[512];
	struct dd_frules *img;
	char *text;
	size_t len;
	int rc = a->rules_next != NULL ? -EBUSY : dd_config_fraud_rules(&a->cfg, &img, &text, &len, err, sizeof(err));
	if (rc == -EBUSY)
		snprintf(err, sizeof(err), "the previous reload is not in force yet");
	if (rc == 0 && a->cfg.journal[0] != '\0' && a->cfg.jsync != DD_JSYNC_OFF &&
	    (rc = dd_jrules_write(a->cfg.journal, text, len, err, sizeof(err))) != 0)
		free(img);
	if (rc == 0)
		free(text);
	if (rc != 0) {
		snprintf(msg, msglen, "refused, the rules in force stay: %s", err);
		return rc;
	}
	a->rules_next = img;
	/* pairs with the RX lcore's acquire load: the image is complete before its address is seen */
	atomic_store_explicit(&g_ctl.rules_new, (uintptr_t)img, memory_order_release);
	snprintf(msg, msglen, "reloaded: %s version %u (%u rules); in force from the next event", img->name,
		 img->version, img->nrules);
	return 0;
}

/* The market rules, the same way: every market chain puts them in force at one input position. */
static int reload_market(struct app *a, char *msg, size_t msglen)
{
	char err[512];
	struct dd_mrules *img = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = a->mrules_next != NULL ? -EBUSY
					: dd_config_market_rules(&a->cfg, &img, &text, &len, err, sizeof(err));
	if (rc == -EBUSY)
		snprintf(err, sizeof(err), "the previous reload is not in force yet");
	/* chains that list no records (a journal from before alerts listed them) take rules that fit
	 * without them; the others keep listing them */
	bool lists = a->mrules == NULL || dd_cep_key_bytes(a->mrules) <= a->cfg.cep_key_bytes;
	if (rc == 0 && ((lists ? dd_cep_key_bytes(img) : dd_cep_key_bytes_min(img)) > a->cfg.cep_key_bytes ||
			dd_window_key_bytes(img) > a->cfg.window_key_bytes || img->npatterns > DD_MR_MAX_PATTERNS)) {
		snprintf(err, sizeof(err), "they need %zu + %zu bytes per symbol for patterns and windows; the chains keep "
			 "%u + %u (cep.key_bytes, window.key_bytes: set them larger at the next start)", dd_cep_key_bytes(img),
			 dd_window_key_bytes(img), a->cfg.cep_key_bytes, a->cfg.window_key_bytes);
		rc = -ENOSPC;
	}
	if (rc == 0 && len > DD_JOURNAL_MAX_RULES) {
		snprintf(err, sizeof(err), "%zu bytes; a journal takes at most %u", len, DD_JOURNAL_MAX_RULES);
		rc = -EINVAL;
	}
	if (rc == 0 && a->cfg.journal[0] != '\0' && a->cfg.jsync != DD_JSYNC_OFF)
		rc = dd_jrules_write(a->cfg.journal, text, len, err, sizeof(err));
	free(text);
	if (rc != 0) {
		free(img);
		snprintf(msg, msglen, "refused, the market rules in force stay: %s", err);
		return rc;
	}
	dd_output_json_rules(img); /* kept to the end: outputs decided under it may still be written */
	a->mrules_next = img;
	atomic_store_explicit(&g_ctl.mrules_acked, 0, memory_order_relaxed);
	/* pairs with the RX lcore's acquire load: the image is complete before its address is seen */
	atomic_store_explicit(&g_ctl.mrules_new, (uintptr_t)img, memory_order_release);
	snprintf(msg, msglen, "reloaded: %s version %u (%u windows, %u patterns); in force from the next event",
		 img->name, img->version, img->nwindows, img->npatterns);
	return 0;
}

/*
 * A rule reload (SIGHUP, /dadar/reload): the fraud rules (with a payment chain) and the market rules
 * (with --rules) are read and compiled again; a set that does not compile (or does not fit, or
 * cannot be journaled) is refused with the error reported, and the rules in force stay. One that
 * does is written into the journal directory, then handed to the RX lcore, which journals a
 * reference to it at an event boundary and puts it in force on the chains' lcores.
 */
static void reload_rules(struct app *a)
{
	char fm[700] = "", mm[700] = "";
	bool both = a->nchains > a->nshards && a->mrules != NULL;
	int frc = a->nchains > a->nshards ? reload_fraud(a, fm, sizeof(fm)) : 0;
	int mrc = a->mrules != NULL ? reload_market(a, mm, sizeof(mm)) : 0;
	if (frc != 0) {
		a->reload_failures++;
		snprintf(a->reload_error, sizeof(a->reload_error), "%s", fm);
	}
	if (mrc != 0) {
		a->mreload_failures++;
		snprintf(a->mreload_error, sizeof(a->mreload_error), "%s", mm);
	}
	/* "refused, ..." or "reloaded: ..." for each rule set there is (fraud first, each named when
	 * there are both) */
	if (both)
		snprintf(a->reload_last, sizeof(a->reload_last), "fraud rules %s; market rules %s", fm, mm);
	else
		snprintf(a->reload_last, sizeof(a->reload_last), "%s%s", fm, mm);
	if (frc != 0 || mrc != 0)
		dd_log(DD_LOG_WARNING, "rule reload %s", a->reload_last);
	else
		dd_log(DD_LOG_NOTICE, "rules %s", a->reload_last);
	/* pairs with the control command's acquire load: reload_last is written */
	atomic_fetch_add_explicit(&a->reload_gen, 1, memory_order_release);
}

/*
 * The control command `/dadar/reload` on DPDK's telemetry socket (dpdk-telemetry.py, or any
 * client of /var/run/dpdk/<prefix>/dpdk_telemetry.v2): does what SIGHUP does and answers with
 * what happened, {"result": "reloaded: ..." | "refused, ...", "reloads": N, "reload_failures": N}.
 * It runs on DPDK's telemetry thread and waits (at most 5 s) for the control thread to handle it.
 */
static struct app *g_app;

static int tel_reload(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct app *a = g_app;
	unsigned before = atomic_load_explicit(&a->reload_gen, memory_order_acquire);
	/* pairs with the control thread's exchange, as the signal handler's store does */
	atomic_store_explicit(&g_ctl.reload, 1, memory_order_release);
	for (int i = 0; i < 500 && atomic_load_explicit(&a->reload_gen, memory_order_acquire) == before; i++)
		rte_delay_us_sleep(10 * 1000);
	rte_tel_data_start_dict(d);
	if (atomic_load_explicit(&a->reload_gen, memory_order_acquire) == before)
		rte_tel_data_add_dict_string(d, "result", a->nchains > a->nshards || a->mrules != NULL
								  ? "not handled within 5 s"
								  : "no payment chain and no market rules: nothing to reload");
	else
		rte_tel_data_add_dict_string(d, "result", a->reload_last);
	rte_tel_data_add_dict_u64(d, "reloads", a->reloads + a->mreloads);
	rte_tel_data_add_dict_u64(d, "reload_failures", a->reload_failures);
	return 0;
}

/* The previous image goes once the lcore running the payment chain reads the new one. */
static void reap_rules(struct app *a)
{
	/* market rules: in force once every market chain has them (the old set stays: outputs decided
	 * under it may still be waiting to be written with its names) */
	if (a->mrules_next != NULL &&
	    atomic_load_explicit(&g_ctl.mrules_acked, memory_order_acquire) == a->nshards) {
		a->mrules_live = a->mrules_next;
		a->mrules_next = NULL;
		a->mreloads++;
	}
	/* pairs with the release store of the lcore that put it in force */
	if (a->rules_next == NULL ||
	    atomic_load_explicit(&g_ctl.rules_acked, memory_order_acquire) != (uintptr_t)a->rules_next)
		return;
	free(a->rules_live);
	a->rules_live = a->rules_next;
	a->rules_next = NULL;
	a->reloads++;
}

/*
 * The control thread (not an lcore: it sleeps and makes syscalls): keeps a spare journal segment
 * ready, the NIC clock mappings fresh, and writes snapshots, until every lcore loop returned.
 */
/*
 * systemd's watchdog (Type=notify with WatchdogSec=): pinged from the control thread at half the
 * interval, and only while the RX lcore is alive, i.e. its telemetry slot's publication time
 * (refreshed every millisecond by its loop) moved since the last ping. An lcore stuck in a loop
 * stops the pings, and systemd restarts the service. The lcores themselves make no syscall.
 */
struct watchdog {
	uint64_t every;      /* TSC ticks between pings; 0: no watchdog asked for */
	uint64_t next;
	uint64_t last_seen;  /* the RX slot's publish_tsc at the last ping */
};

static void watchdog_init(struct watchdog *w, uint64_t hz)
{
	uint64_t usec = 0;
	memset(w, 0, sizeof(*w));
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		w->every = usec / 2 * (hz / 1000000);
		w->next = rte_get_tsc_cycles() + w->every;
	}
}

static void watchdog_tend(struct watchdog *w, const struct app *a, uint64_t now)
{
	if (w->every == 0 || now < w->next)
		return;
	w->next = now + w->every;
	const struct dd_tm_slot *sl = a->tm.hdr != NULL ? dd_tm_slot(&a->tm, 0) : NULL;
	uint64_t seen = sl != NULL ? atomic_load_explicit(&sl->publish_tsc, memory_order_relaxed) : now;
	if (seen == w->last_seen)
		return; /* the RX lcore did not publish since the last ping: let systemd see it */
	w->last_seen = seen;
	sd_notify(0, "WATCHDOG=1");
}

/*
 * Snapshots, on a thread of their own: one is a replay of the journal since the last snapshot into
 * chains of its own, which can take seconds, and the control thread must keep the journal's spare
 * segment ready meanwhile.
 */
static void *snapshot_main(void *arg)
{
	struct app *a = arg;
	/* pairs with the control thread's release store when the lcores are done */
	while (!atomic_load_explicit(&a->snap_stop, memory_order_acquire)) {
		rte_delay_us_sleep(10 * 1000);
		uint64_t durable = dd_journal_durable_lsn(a->journal);
		if (durable >= a->snap_next)
			take_snapshot(a, durable);
	}
	return NULL;
}

static void *control_main(void *arg)
{
	struct app *a = arg;
	pthread_t snap;
	bool have_snap = a->journal != NULL && a->cfg.journal[0] != '\0' && a->cfg.snapshot_every != 0 &&
			 a->cfg.jsync != DD_JSYNC_OFF && pthread_create(&snap, NULL, snapshot_main, a) == 0;
	uint64_t hz = rte_get_tsc_hz(), next_cal = rte_get_tsc_cycles() + hz;
	struct watchdog wd;
	bool stopping = false;
	watchdog_init(&wd, hz);
	char err[512];
	bool tend_failed = false;
	bool disk = a->cfg.journal[0] != '\0';
	/* pairs with the release decrement at the end of every lcore loop */
	while (atomic_load_explicit(&g_ctl.running, memory_order_acquire) > 0) {
		/* 10 ms: a spare segment is back in place well before a fast journal fills the current one */
		rte_delay_us_sleep(10 * 1000);
		uint64_t now = rte_get_tsc_cycles();
		if (now >= next_cal) {
			dd_ports_calibrate(&a->ports);
			next_cal += hz;
		}
		/* pairs with the signal handler's release store */
		if (atomic_exchange_explicit(&g_ctl.reload, 0, memory_order_acquire) &&
		    (a->nchains > a->nshards || a->mrules != NULL))
			reload_rules(a);
		reap_rules(a);
		watchdog_tend(&wd, a, now);
		/* pairs with the release store of the signal handler or the idle timeout */
		if (!stopping && atomic_load_explicit(&g_ctl.quit, memory_order_acquire)) {
			stopping = true;
			sd_notify(0, "STOPPING=1\nSTATUS=draining: input stopped, the pipeline empties and reports");
		}
		if (a->journal == NULL || !disk)
			continue;
		if (dd_journal_tend(a->journal, err, sizeof(err)) != 0 && !tend_failed) {
			/* the journal lcore waits for the spare; after journal.stall_ms it stops input */
			dd_log(DD_LOG_ERR, "%s", err);
			tend_failed = true;
		}
	}
	if (have_snap) {
		/* pairs with the snapshot thread's acquire load */
		atomic_store_explicit(&a->snap_stop, true, memory_order_release);
		pthread_join(snap, NULL);
	}
	return NULL;
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

/* What each operator of the chain adds to the telemetry layout: its stage and its counters. */
struct op_tm {
	int stage[DD_CHAIN_MAX_OPS];
	int counter[DD_CHAIN_MAX_OPS];    /* "<op>_outputs", then the operator's own counters */
	int overflow;                     /* "output_overflow" */
	char outputs_name[DD_CHAIN_MAX_OPS][DD_TM_NAME];
};

static int layout_ops(struct dd_tm_layout *l, const struct dd_chain *c, const char *overflow, struct op_tm *ot,
		      char *err, size_t errlen)
{
	int rc = ot->overflow = dd_tm_layout_counter(l, overflow, DD_TM_KIND_COUNTER);
	for (unsigned k = 0; rc >= 0 && k < c->nops; k++) {
		const struct dd_op_ops *ops = c->op[k].ops;
		if ((rc = ot->stage[k] = dd_tm_layout_stage(l, ops->name)) < 0)
			break;
		snprintf(ot->outputs_name[k], DD_TM_NAME, "%s_outputs", ops->name);
		rc = ot->counter[k] = dd_tm_layout_counter(l, ot->outputs_name[k], DD_TM_KIND_COUNTER);
		for (unsigned i = 0; rc >= 0 && i < ops->ncounters; i++)
			rc = dd_tm_layout_counter(l, ops->counter_names[i], DD_TM_KIND_COUNTER);
	}
	if (rc < 0)
		snprintf(err, errlen, "telemetry: the operators' stages and counters do not fit the segment (at most %d "
			 "stages and %d counters): %s", DD_TM_MAX_STAGES, DD_TM_MAX_COUNTERS, strerror(-rc));
	return rc < 0 ? rc : 0;
}

/* An lcore that runs a chain records each operator's stage and publishes its counters. */
static void tm_bind_ops(struct dd_chain_tm *ct, struct dd_tm *tm, unsigned slot, const struct dd_chain *c,
			const struct op_tm *ot)
{
	if (c == NULL)
		return;
	ct->overflow_counter = (unsigned)ot->overflow;
	for (unsigned k = 0; k < c->nops; k++) {
		ct->hist[k] = dd_tm_hist(tm, slot, (unsigned)ot->stage[k]);
		ct->counter[k] = (unsigned)ot->counter[k];
	}
}

/* One slot for the RX lcore, one per worker, one for the journal; the reasons named as the summary
 * names them; every operator's stage and counters described, so dadar-lat shows them. */
static int setup_telemetry(struct app *a, char *err, size_t errlen)
{
	struct dd_rx_stats zero;
	memset(&zero, 0, sizeof(zero));
	const char *names[DD_REPORT_REASONS];
	uint64_t counts[DD_REPORT_REASONS];
	unsigned nreasons = dd_report_reasons(&zero, a->feeds, a->nfeeds, names, counts);
	struct dd_tm_layout l;
	struct op_tm ot, pot;
	dd_tm_layout_init(&l);
	int rc = layout_ops(&l, &a->chains[0], "output_overflow", &ot, err, errlen);
	if (rc == 0 && a->nchains > a->nshards)
		rc = layout_ops(&l, &a->chains[a->nshards], "payment_output_overflow", &pot, err, errlen);
	int rel_stage = 0, stamp_stage = 0;
	if (rc == 0 && a->journal != NULL && (rel_stage = dd_tm_layout_stage(&l, "release")) < 0)
		rc = rel_stage;
	if (rc == 0 && a->cfg.stamps && (stamp_stage = dd_tm_layout_stage(&l, "send_to_rx")) < 0)
		rc = stamp_stage;
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < nreasons && i < DD_TM_MAX_REASONS; i++)
		l.reason[l.nreasons++] = names[i];
	bool replaced;
	rc = dd_tm_create(&a->tm, a->cfg.instance, 1 + a->nworkers + (a->journal != NULL), rte_get_tsc_hz(), &l,
			  &replaced, err, errlen);
	if (rc != 0)
		return rc;
	if (replaced)
		dd_log(DD_LOG_WARNING, "replaced the telemetry segment /dev/shm%s left by an instance that did not exit "
			"cleanly", a->tm.path);
	struct dd_tm_slot *sl = dd_tm_slot(&a->tm, 0);
	sl->lcore = a->rx->lcore;
	sl->role = DD_TM_ROLE_RX;
	snprintf(sl->name, sizeof(sl->name), "rx");
	if (a->cfg.stamps)
		a->rx->send_to_rx = dd_tm_hist(&a->tm, 0, (unsigned)stamp_stage);
	static const unsigned rtc_stages[] = { DD_TM_RX, DD_TM_WIRE };
	static const unsigned rx_stages[] = { DD_TM_RX };
	static const unsigned worker_stages[] = { DD_TM_RING, DD_TM_WIRE };
	if (a->nworkers == 0) {
		tm_bind(&a->rx->tm, &a->tm, 0, rtc_stages, 2);
		tm_bind_ops(&a->rx->tm.market, &a->tm, 0, a->rx->chain, &ot);
		tm_bind_ops(&a->rx->tm.pay, &a->tm, 0, a->rx->pchain, &pot);
	} else {
		tm_bind(&a->rx->tm, &a->tm, 0, rx_stages, 1);
	}
	for (unsigned w = 0; w < a->nworkers; w++) {
		sl = dd_tm_slot(&a->tm, 1 + w);
		sl->lcore = a->workers[w].lcore;
		sl->role = DD_TM_ROLE_WORKER;
		snprintf(sl->name, sizeof(sl->name), "worker%u", w);
		dd_tm_set(dd_tm_counter(sl, DD_TM_C_RING_SIZE), rte_ring_get_capacity(a->workers[w].ring));
		tm_bind(&a->workers[w].tm, &a->tm, 1 + w, worker_stages, 2);
		tm_bind_ops(&a->workers[w].tm.market, &a->tm, 1 + w, a->workers[w].chain, &ot);
		tm_bind_ops(&a->workers[w].tm.pay, &a->tm, 1 + w, a->workers[w].pchain, &pot);
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
		dd_journal_bind_release(a->journal, dd_tm_hist(&a->tm, js, (unsigned)rel_stage));
	}
	dd_tm_publish(&a->tm);
	return 0;
}

/*
 * Everything before the lcores start, in order: ports, feeds, recovery (which builds the operator
 * chains the journal describes), the pipeline, the journal stage, telemetry. Returns 0 or -errno
 * with a message; what was set up is torn down by the caller (ports, recovery) or by the EAL.
 */
static int setup(struct app *a, const unsigned *roles, char *err, size_t errlen)
{
	int rc;
	plan_pipeline(a);
	if ((rc = dd_ports_start(&a->ports, &a->cfg, a->socket, err, errlen)) != 0)
		goto err;
	if ((rc = setup_feeds(a, err, errlen)) != 0)
		goto err;
	/* every count that something else bounds, checked here, naming the option, never later */
	bool stage = release_stage(&a->cfg);
	if (a->nshards > DD_REPLAY_MAX_SHARDS || 1 + a->nworkers + stage > DD_TM_MAX_SLOTS ||
	    1 + a->nworkers > DD_JOURNAL_MAX_PRODUCERS) {
		unsigned max = DD_TM_MAX_SLOTS - 1 - stage;
		if (max > DD_REPLAY_MAX_SHARDS)
			max = DD_REPLAY_MAX_SHARDS;
		if (max > DD_JOURNAL_MAX_PRODUCERS - 1)
			max = DD_JOURNAL_MAX_PRODUCERS - 1;
		snprintf(err, errlen, "workers = %u: at most %u%s (telemetry slots, journal producers and snapshot sections "
			 "are sized for that)", a->nworkers, max, stage ? " with a journal or --output" : "");
		rc = -EINVAL;
		goto err;
	}
	if ((rc = make_jconfig(a, err, errlen)) != 0)
		goto err;
	a->chains = zalloc("chains", a->nchains * sizeof(*a->chains), a->socket, err, errlen);
	if (a->chains == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	if ((rc = recover(a, err, errlen)) != 0)
		goto err;
	if (a->chain_mem == NULL && (rc = make_chains(a, err, errlen)) != 0)
		goto err;
	if ((rc = install_rules(a, err, errlen)) != 0)
		goto err;
	if ((rc = setup_pipeline(a, roles, err, errlen)) != 0 || (rc = setup_journal(a, err, errlen)) != 0 ||
	    (rc = setup_stream(a, err, errlen)) != 0 || (rc = journal_tail(a, err, errlen)) != 0)
		goto err;
	a->journal_lcore = roles[1 + a->nworkers];
	if ((rc = setup_telemetry(a, err, errlen)) != 0)
		goto err;
	dd_lcore_bind_consumers(a->rx);
	return 0;
err:
	free_stream(a);
	if (a->journal != NULL) {
		dd_journal_destroy(a->journal);
		a->journal = NULL;
	}
	return rc;
}

/* Returns 0, or -errno if a report that was asked for could not be written. */
static int report(struct app *a)
{
	const struct dd_config *c = &a->cfg;
	const struct dd_book **books = calloc((size_t)a->nshards * a->nfeeds, sizeof(*books));
	if (books == NULL) {
		dd_log(DD_LOG_ERR, "out of memory for the report");
		return -ENOMEM;
	}
	dd_report_books_of(a->chains, a->nshards, a->nfeeds, books); /* the market chain always has a book */
	struct dd_run r = {
		.cfg = c,
		.feeds = a->feeds,
		.nfeeds = a->nfeeds,
		.books = books,
		.nshards = a->nshards,
		.route = a->jconfig.route,
		.chains = a->chains,
		.pchain = a->nchains > a->nshards ? &a->chains[a->nshards] : NULL,
		.reloads = a->reloads,
		.reload_failures = a->reload_failures,
		.reload_error = a->reload_error[0] ? a->reload_error : NULL,
		.mreloads = a->mreloads,
		.mreload_failures = a->mreload_failures,
		.mreload_error = a->mreload_error[0] ? a->mreload_error : NULL,
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
			.enabled = true, .dir = c->journal,
			/* --output alone: the stage ran writing no journal, releasing at once */
			.sync = c->journal[0] ? sync_names[c->jsync] : "off",
			.release = c->journal[0] ? rel_names[c->release] : "immediate",
			.recovery = a->journal_note, .error = dd_journal_error(a->journal),
			.records = st->records, .bytes = st->bytes, .commits = st->commits,
			.commit_bytes_max = st->commit_bytes_max, .segments = st->segments,
			.durable_lsn = dd_journal_durable_lsn(a->journal), .released = st->released,
			.unreleased = st->unreleased, .orphaned = st->orphaned, .cause_lost = st->cause_lost,
			.snapshots = a->snapshots, .snapshot_lsn = a->snap_lsn,
		};
		r.journal = &js;
	}
	struct dd_stream_summary ss;
	memset(&ss, 0, sizeof(ss));
	if (a->hist != NULL) {
		ss.session = a->stream.session;
		ss.base = a->stream.base;
		ss.first_seq = a->stream_first;
		ss.next_seq = dd_journal_released_seq(a->journal) + 1;
		if (a->tx != NULL) {
			const struct dd_outtx_stats *t = dd_outtx_stats(a->tx);
			ss.on = true;
			ss.messages = t->messages;
			ss.datagrams = t->datagrams;
			ss.heartbeats = t->heartbeats;
			ss.bytes = t->bytes;
			ss.tx_full = t->tx_full;
			ss.tx_dropped = t->tx_dropped;
			ss.ended = t->ended;
		}
		if (a->rexmit != NULL) {
			ss.rexmit = true;
			dd_rexmit_stats(a->rexmit, &ss.rx);
		}
		if (a->natsb != NULL) {
			ss.nats = true;
			ss.nats_url = c->nats;
			dd_natsb_stats(a->natsb, &ss.ns);
		}
		r.stream = &ss;
	}
	char err[512];
	if (!c->quiet) {
		dd_report_human(&r, stdout);
		dd_ports_report(&a->ports, stdout);
		fflush(stdout);
	}
	int rc = 0;
	int e;
	if (c->summary[0] && (e = dd_report_summary(&r, c->summary, err, sizeof(err))) != 0) {
		dd_log(DD_LOG_ERR, "%s", err);
		rc = e;
	}
	if (c->book_dump[0] && (e = dd_report_book_dump(&r, c->book_dump, err, sizeof(err))) != 0) {
		dd_log(DD_LOG_ERR, "%s", err);
		rc = e;
	}
	free(books);
	return rc;
}

/*
 * With stderr the journal, DPDK's messages go through a stream of ours that gives each line its
 * priority (an RTE level is the syslog level plus one) instead of EAL's, which writes each message
 * to stderr and to syslog(3) as well: each EAL line then arrives once, at its priority. Messages
 * of rte_eal_init() itself came before this and keep EAL's way.
 */
static ssize_t eal_log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	int prio = rte_log_cur_msg_loglevel() - 1;
	if (prio < 0 || prio > 7)
		prio = 6;
	/* the line as one write; a long one is cut rather than split across entries */
	char line[1024];
	int n = snprintf(line, sizeof(line), "<%d>%.*s", prio, (int)(size < sizeof(line) ? size : sizeof(line) - 8), buf);
	if (n > 0 && write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		return -1;
	return (ssize_t)size;
}

static void journal_eal_log(void)
{
	if (!dd_log_to_journal())
		return;
	static cookie_io_functions_t io = { .write = eal_log_write };
	FILE *f = fopencookie(NULL, "w", io);
	if (f != NULL) {
		setvbuf(f, NULL, _IOLBF, 0);
		rte_openlog_stream(f);
	}
}

static void usage(void)
{
	printf("usage: dadar [DPDK EAL options] -- [dadar options]\n\n"
	       "DPDK's options come first: the cores (-l 0-1), the ports (-a PCI address, or --vdev for a\n"
	       "virtual one), memory (--no-huge -m MB without hugepages). For example, without a NIC:\n"
	       "  dadar --no-huge --no-pci -m 512 -l 0-1 --vdev net_pcap0,rx_pcap=feed.pcap -- --exit-on-idle 200\n"
	       "docs/operations.md explains them; DPDK's guide \"EAL parameters\" lists every one.\n"
	       "dadar's own options come after the -- (also as `key = value` lines in --config FILE):\n\n");
	dd_config_usage(stdout);
}

/*
 * What can be said before DPDK starts (it would answer with its own usage, or a misleading error):
 * --help and --version anywhere (-h and -V before "--"), dadar's own options put before "--", and a
 * net_pcap device whose capture does not exist. Returns -1 to go on, else the exit status.
 */
static int preflight(int argc, char **argv)
{
	int sep = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	/* --version and --help after the "--" are dadar's too, and need no DPDK either (no value of an
	 * option starts with "--", so either word there is the option itself) */
	for (int i = sep + 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("dadar %s\n", DD_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		}
	}
	for (int i = 1; i < sep; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage();
			return 0;
		}
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("dadar %s\n", DD_VERSION);
			return 0;
		}
		if (dd_config_is_flag(a)) {
			dd_log(DD_LOG_ERR, "%s is one of dadar's options, not DPDK's: put it after --, e.g.\n"
				"  dadar [DPDK options] -- %s ...", a, a);
			return 2;
		}
		/* a capture that does not exist: DPDK would say there are no ports */
		const char *dev = strcmp(a, "--vdev") == 0 && i + 1 < sep ? argv[i + 1] :
				  strncmp(a, "--vdev=", 7) == 0 ? a + 7 : NULL;
		const char *rx = dev != NULL ? strstr(dev, "rx_pcap=") : NULL;
		if (rx != NULL && strncmp(dev, "net_pcap", 8) == 0) {
			char path[DD_PATH_MAX];
			size_t n = strcspn(rx + 8, ",");
			snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1), rx + 8);
			if (access(path, R_OK) != 0) {
				dd_log(DD_LOG_ERR, "--vdev %s: cannot read the capture %s: %s", dev, path, strerror(errno));
				return 2;
			}
		}
	}
	return -1;
}

/* The fraud rules (and tables), compiled at start: a bad file fails now, naming file:line:column. */
static int load_rules(struct app *a, char *err, size_t errlen)
{
	int rc = dd_config_fraud_rules(&a->cfg, &a->rules, &a->rules_text, &a->rules_len, err, errlen);
	if (rc == 0 && a->rules_len > DD_JOURNAL_MAX_RULES) {
		snprintf(err, errlen, "fraud rules: %zu bytes with their tables; a journal takes at most %u (a smaller "
			 "merchant table?)", a->rules_len, DD_JOURNAL_MAX_RULES);
		rc = -EINVAL;
	}
	/* the market rules (--rules): windows and patterns, compiled now, sized into the chain */
	if (rc == 0)
		rc = dd_config_market_rules(&a->cfg, &a->mrules, &a->mrules_text, &a->mrules_len, err, errlen);
	if (rc == 0 && a->mrules_len > DD_JOURNAL_MAX_RULES) {
		snprintf(err, errlen, "rules: %zu bytes; a journal takes at most %u", a->mrules_len, DD_JOURNAL_MAX_RULES);
		rc = -EINVAL;
	}
	if (rc == 0) {
		dd_config_market_size(&a->cfg, a->mrules);
		if (a->mrules != NULL)
			dd_output_json_rules(a->mrules);
	}
	return rc < 0 ? rc : 0;
}

/*
 * Where the run writes, checked before it starts, naming the option: a bad path fails in the
 * first second, not after the run.
 */
static int check_paths(const struct dd_config *c, char *err, size_t errlen)
{
	const struct { const char *opt; const char *path; } files[] = {
		{ "--summary", c->summary }, { "--book-dump", c->book_dump }, { "--output", c->output },
	};
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *p = files[i].path;
		if (p[0] == '\0')
			continue;
		char dir[DD_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", p);
		char *slash = strrchr(dir, '/');
		if (slash == NULL)
			strcpy(dir, ".");
		else if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s %s: is a directory: give a file name", files[i].opt, p);
			return -EISDIR;
		}
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
			int e = errno ? errno : ENOTDIR;
			snprintf(err, errlen, "%s %s: cannot write in %s: %s", files[i].opt, p, dir,
				 stat(dir, &st) == 0 && !S_ISDIR(st.st_mode) ? "not a directory" : strerror(e));
			return -e;
		}
	}
	if (c->journal[0] != '\0') {
		int rc = dd_jdir_create(c->journal);
		if (rc != 0) {
			snprintf(err, errlen, "--journal %s: cannot use it as the journal directory: %s", c->journal,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct app a;
	char err[1024];
	int rc = preflight(argc, argv);
	if (rc >= 0)
		return rc;
	/* from the start: a SIGHUP (a reload asked for early) must not end a starting daemon; an early
	 * SIGINT or SIGTERM stops it as soon as its lcores run */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		dd_log(DD_LOG_ERR,
			"DPDK initialisation failed: %s. Without hugepages or NICs run with --no-huge --no-pci -m "
			"512; see docs/operations.md",
			rte_strerror(rte_errno));
		return 1;
	}
	argc -= rc;
	argv += rc;
	journal_eal_log();

	dd_config_defaults(&a.cfg);
	rc = dd_config_args(&a.cfg, argc - 1, argv + 1, stdout, err, sizeof(err));
	if (rc == 0)
		rc = dd_config_check(&a.cfg, err, sizeof(err));
	if (rc == 0)
		rc = check_paths(&a.cfg, err, sizeof(err));
	if (rc == 0)
		rc = load_rules(&a, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			dd_log(DD_LOG_ERR, "%s", err);
		rte_eal_cleanup();
		return rc > 0 ? 0 : 2;
	}

	unsigned roles[RTE_MAX_LCORE];
	unsigned nroles = lcore_list(roles, RTE_MAX_LCORE);
	unsigned nworkers = a.cfg.pipeline == DD_PIPELINE_RTC ? 0 : a.cfg.workers;
	bool journaling = release_stage(&a.cfg);
	unsigned need = 1 + nworkers + journaling;
	if (nroles < need) {
		dd_log(DD_LOG_ERR,
			"%s needs %u lcores (one RX, %u worker%s%s), EAL gave %u: pass -l with more cores (e.g. -l "
			"0-%u), or --lcores to map several lcores onto fewer cores for testing (e.g. --lcores '(0-%u)@(0-1)')",
			nworkers ? "the staged pipeline" : "run to completion", need, nworkers, nworkers == 1 ? "" : "s",
			a.cfg.journal[0] ? ", the journal" : journaling ? ", the output release stage" : "", nroles, need - 1,
			need - 1);
		rte_eal_cleanup();
		return 2;
	}
	a.socket = (int)rte_lcore_to_socket_id(roles[0]);

	if ((rc = setup(&a, roles, err, sizeof(err))) != 0) {
		dd_log(DD_LOG_ERR, "%s", err);
		dd_recovery_fini(&a.rec);
		dd_ports_stop(&a.ports);
		rte_eal_cleanup();
		return 1;
	}

	g_app = &a;
	rte_telemetry_register_cmd("/dadar/reload", tel_reload,
				   "Reload the fraud rules and their tables, as SIGHUP does; answers what happened");
	static struct dd_telecmd_ctx tc;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	tc = (struct dd_telecmd_ctx){ .cfg = &a.cfg, .tm = &a.tm, .feeds = a.feeds, .nfeeds = a.nfeeds,
				      .nshards = a.nshards, .payments = a.nchains > a.nshards, .journal = a.journal,
				      .start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec };
	if (dd_telecmd_register(&tc) != 0)
		dd_log(DD_LOG_WARNING, "cannot register the /dadar/* telemetry commands (monitoring through the "
			"telemetry socket is off)");

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
			dd_log(DD_LOG_ERR, "cannot launch lcore %u: %s", roles[i], rte_strerror(-rc));
			atomic_store_explicit(&g_ctl.quit, 1, memory_order_release);
			atomic_fetch_sub_explicit(&g_ctl.running, (int)(nlaunch - i), memory_order_relaxed);
			break;
		}
	}
	pthread_t ctrl;
	bool have_ctrl = rte_ctrl_thread_create(&ctrl, "dd-control", NULL, control_main, &a) == 0;
	if (!have_ctrl)
		dd_log(DD_LOG_WARNING, "cannot start the control thread: no NIC clock recalibration, spare journal "
			"segments or snapshots this run");
	/* ports are up, recovery is done, every lcore is launched: ready (for systemd's Type=notify) */
	sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=running: %u feed(s), %s, %u market shard(s)%s%s",
		   (unsigned long)getpid(), a.nfeeds, a.cfg.pipeline == DD_PIPELINE_RTC ? "run to completion" : "staged",
		   a.nshards, a.nchains > a.nshards ? ", payments" : "", a.cfg.journal[0] ? ", journaled" : "");
	if (main_role >= 0)
		fn[main_role](arg[main_role]);
	else /* a main lcore without a role sleeps: EAL's wait would spin on its CPU for the whole run */
		while (atomic_load_explicit(&g_ctl.running, memory_order_acquire) > 0)
			rte_delay_us_sleep(1000);
	rte_eal_mp_wait_lcore();
	if (have_ctrl)
		pthread_join(ctrl, NULL);

	stop_stream(&a, a.journal != NULL && dd_journal_error(a.journal) == NULL);
	int status = report(&a) == 0 ? 0 : 1;
	if (a.journal != NULL) {
		const char *jerr = dd_journal_error(a.journal);
		if (jerr != NULL) {
			dd_log(DD_LOG_ERR, "%s", jerr);
			status = 1;
		}
		uint64_t lost = a.rx->jp.overflow;
		for (unsigned w = 0; w < a.nworkers; w++)
			lost += a.workers[w].jp.overflow;
		if (lost != 0) {
			dd_log(DD_LOG_ERR, "%llu journal records did not fit a producer's buffer and were not journaled "
				"(a bound on outputs per event was broken): this run's journal is incomplete",
				(unsigned long long)lost);
			status = 1;
		}
		if (a.rx->jp.stalled) {
			dd_log(DD_LOG_ERR, "the journal did not take records for %llu ms: input was stopped (durable LSN "
				"%llu kept)", (unsigned long long)a.cfg.jstall_ms,
				(unsigned long long)dd_journal_durable_lsn(a.journal));
			status = 1;
		}
		dd_journal_destroy(a.journal);
	}
	free_stream(&a);
	dd_recovery_fini(&a.rec);
	dd_tm_close(&a.tm, true);
	dd_ports_stop(&a.ports);
	rte_eal_cleanup();
	return status;
}
