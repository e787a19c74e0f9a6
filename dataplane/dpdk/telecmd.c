/* SPDX-License-Identifier: MIT */
#include "dataplane/dpdk/telecmd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_telemetry.h>

#include "dataplane/config/report.h"
#include "shm/hdr.h"

static const struct dd_telecmd_ctx *g;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmd_info(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "instance", g->cfg->instance);
	rte_tel_data_add_dict_string(d, "version", DD_VERSION);
	rte_tel_data_add_dict_string(d, "pipeline", g->cfg->pipeline == DD_PIPELINE_RTC ? "rtc" : "staged");
	rte_tel_data_add_dict_u64(d, "market_shards", g->nshards);
	rte_tel_data_add_dict_u64(d, "feeds", g->nfeeds);
	rte_tel_data_add_dict_int(d, "payments", g->payments);
	rte_tel_data_add_dict_string(d, "journal", g->cfg->journal[0] ? g->cfg->journal : "none");
	rte_tel_data_add_dict_u64(d, "uptime_s", (now_ns() - g->start_ns) / 1000000000ull);
	return 0;
}

/* A dict of every counter over the slots in [s0, s1). */
static void counters_of(struct rte_tel_data *d, unsigned s0, unsigned s1)
{
	const struct dd_tm_header *h = g->tm->hdr;
	rte_tel_data_start_dict(d);
	for (unsigned c = 0; c < h->ncounters && c < DD_TM_MAX_COUNTERS; c++) {
		uint64_t v = 0;
		for (unsigned s = s0; s < s1; s++)
			v += dd_tm_get(&dd_tm_slot(g->tm, s)->counter[c]);
		rte_tel_data_add_dict_u64(d, h->counter[c].name, v);
	}
}

static int cmd_counters(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	if (g->tm == NULL || g->tm->hdr == NULL)
		return -1;
	const struct dd_tm_header *h = g->tm->hdr;
	rte_tel_data_start_dict(d);
	struct rte_tel_data *all = rte_tel_data_alloc();
	if (all == NULL)
		return -1;
	counters_of(all, 0, h->nslots);
	rte_tel_data_add_dict_container(d, "total", all, 0);
	for (unsigned s = 0; s < h->nslots; s++) {
		struct rte_tel_data *one = rte_tel_data_alloc();
		if (one == NULL)
			return -1;
		counters_of(one, s, s + 1);
		rte_tel_data_add_dict_container(d, dd_tm_slot(g->tm, s)->name, one, 0);
	}
	return 0;
}

static int cmd_stages(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	if (g->tm == NULL || g->tm->hdr == NULL)
		return -1;
	rte_tel_data_start_dict(d);
	for (unsigned st = 0; st < g->tm->hdr->nstages; st++) {
		struct dd_hdr *hist;
		if (dd_report_stage_latency(g->tm, st, &hist) != 0)
			continue; /* never recorded */
		struct rte_tel_data *one = rte_tel_data_alloc();
		if (one == NULL) {
			dd_hdr_free(hist);
			return -1;
		}
		rte_tel_data_start_dict(one);
		rte_tel_data_add_dict_u64(one, "count", dd_hdr_total(hist));
		static const struct {
			const char *name;
			double p;
		} q[] = { { "p50_ns", 50.0 }, { "p90_ns", 90.0 }, { "p99_ns", 99.0 }, { "p999_ns", 99.9 } };
		for (unsigned i = 0; i < sizeof(q) / sizeof(q[0]); i++)
			rte_tel_data_add_dict_u64(one, q[i].name, dd_hdr_value_at_percentile(hist, q[i].p));
		rte_tel_data_add_dict_u64(one, "max_ns", dd_hdr_max(hist));
		rte_tel_data_add_dict_container(d, dd_tm_stage_name_at(g->tm, st), one, 0);
		dd_hdr_free(hist);
	}
	return 0;
}

static int cmd_journal(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	if (g->journal == NULL) {
		rte_tel_data_add_dict_string(d, "state", "none");
		return 0;
	}
	const struct dd_journal_stats *st = dd_journal_stats(g->journal);
	const char *e = dd_journal_error(g->journal);
	rte_tel_data_add_dict_string(d, "dir", g->cfg->journal[0] ? g->cfg->journal : "(none: --output alone)");
	rte_tel_data_add_dict_string(d, "state", e != NULL ? "stopped" : "running");
	if (e != NULL)
		rte_tel_data_add_dict_string(d, "error", e);
	rte_tel_data_add_dict_u64(d, "durable_lsn", dd_journal_durable_lsn(g->journal));
	rte_tel_data_add_dict_u64(d, "records", st->records);
	rte_tel_data_add_dict_u64(d, "bytes", st->bytes);
	rte_tel_data_add_dict_u64(d, "commits", st->commits);
	rte_tel_data_add_dict_u64(d, "released", st->released);
	rte_tel_data_add_dict_u64(d, "segments_started", st->segments);
	return 0;
}

static int cmd_feeds(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned f = 0; f < g->nfeeds; f++) {
		const struct dd_feed *fd = &g->feeds[f];
		const struct dd_mold_session *s = &fd->mold;
		struct rte_tel_data *one = rte_tel_data_alloc();
		if (one == NULL)
			return -1;
		char session[4 * DD_MOLD_SESSION_LEN + 1];
		dd_report_text(session, sizeof(session), s->name, s->started ? DD_MOLD_SESSION_LEN : 0);
		rte_tel_data_start_dict(one);
		rte_tel_data_add_dict_string(one, "kind", fd->cfg.kind == DD_FEED_PAYMENT ? "payment" : "market");
		rte_tel_data_add_dict_string(one, "session", s->started ? session : "");
		rte_tel_data_add_dict_u64(one, "next_seq", s->next_seq);
		rte_tel_data_add_dict_u64(one, "datagrams", s->stats.datagrams);
		rte_tel_data_add_dict_u64(one, "delivered", s->stats.delivered);
		rte_tel_data_add_dict_u64(one, "gaps", s->stats.gaps);
		rte_tel_data_add_dict_u64(one, "missing", s->stats.missing);
		rte_tel_data_add_dict_u64(one, "duplicates", s->stats.duplicates);
		rte_tel_data_add_dict_u64(one, "events", fd->itch.events);
		rte_tel_data_add_dict_container(d, fd->cfg.name, one, 0);
	}
	return 0;
}

int dd_telecmd_register(const struct dd_telecmd_ctx *ctx)
{
	static const struct {
		const char *cmd;
		telemetry_cb fn;
		const char *help;
	} cmds[] = {
		{ "/dadar/info", cmd_info, "dadar: instance, version, pipeline, feeds, uptime" },
		{ "/dadar/counters", cmd_counters, "dadar: every counter, in total and per lcore" },
		{ "/dadar/stages", cmd_stages, "dadar: latency per stage (count, p50..p99.9, max, ns)" },
		{ "/dadar/journal", cmd_journal, "dadar: the journal's LSNs, records, commits and state" },
		{ "/dadar/feeds", cmd_feeds, "dadar: per feed, its MoldUDP64 position, gaps and duplicates" },
	};
	g = ctx;
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = rte_telemetry_register_cmd(cmds[i].cmd, cmds[i].fn, cmds[i].help);
		if (rc != 0)
			return rc;
	}
	return 0;
}
