/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the configuration parser (dataplane/config/config.c). The input is up to
 * four sections separated by 0xff bytes:
 *   1. a config file (`key = value` lines), read with dd_config_load from a memfd;
 *   2. arguments (after dadar's `--`), split on NUL or newline, for dd_config_args; the word after
 *      every --config is replaced by the memfd's path, so no other file is ever opened;
 *   3. `key=value` lines for dd_config_set;
 *   4. a CPU list for dd_cpulist_parse.
 * Config A is the defaults, then section 1, then section 3; config B is the defaults, then section 2.
 * Nothing may crash, read out of bounds, leak or loop, and:
 * - every failure returns -EINVAL (or 1 for --help, with the usage written) and leaves a non-empty,
 *   NUL-terminated message inside err[errlen]; a load error names the file, a set error its origin;
 * - a rejected dd_config_set leaves the configuration as it was, an accepted one marks the key set;
 * - every number is within its key's range (the table below, checked against config.c's own messages
 *   at start-up), every enum a known value, every string terminated in its field, names and feeds
 *   well formed, market feeds before payment feeds;
 * - every feed formats back (dd_feed_line_format) to a value that parses to the same feed;
 * - a configuration dd_config_check accepts keeps its promises: rings a power of 2, rx_burst within
 *   a quarter of mbufs, no two feed lines that could match one datagram, the output stream's
 *   addresses parsed (and they format and parse back the same), journal.io_cpus a CPU list;
 * - the feeds, the market and payment chains follow from the configuration, and the configuration
 *   adopts a journal written with its own market chain unchanged;
 * - a CPU list that parses is only digits, ranges and commas; its count and first CPU agree with its
 *   bits, and its canonical form parses to the same set.
 *
 * fuzz-sources: dataplane/config/config.c ops/chain.c ops/op.c ops/event.c ops/book/book.c ops/book/book_op.c ops/cep/mrules.c ops/cep/cep.c ops/cep/symtab.c ops/window/window.c ops/test/test_ops.c ops/fraud/fraud.c ops/fraud/rules.c $B/gen/fraud_default.c
 * fuzz-libs: -lm
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dataplane/config/config.h"
#include "ops/book/book_op.h"
#include "ops/cep/cep.h"
#include "ops/window/window.h"

#define CHECK(cond)                                                                                        \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                           \
		}                                                                                          \
	} while (0)

#define ERRLEN 256
#define SMALL_ERRLEN 8

/* The numeric keys and their ranges as the option table in config.c has them; init() checks this
 * table against the ranges config.c's own messages state, so the two cannot drift apart. */
struct range {
	const char *key;
	size_t off, size;
	uint64_t min, max;
};
#define R(key, field, min, max)                                                                            \
	{ key, offsetof(struct dd_config, field), sizeof(((struct dd_config *)0)->field), min, max }
static const struct range ranges[] = {
	R("workers", workers, 1, 64),
	R("rx_burst", rx_burst, 1, 512),
	R("rx_desc", rx_desc, 64, 16384),
	R("mbufs", mbufs, 1023, 16777215),
	R("mbuf_size", mbuf_size, 1024, 65535),
	R("ring_size", ring_size, 64, 1u << 24),
	R("exit_on_idle", exit_on_idle_ms, 0, 86400000),
	R("capacity.instruments", book.max_instruments, 1, DD_BOOK_MAX_INSTRUMENTS),
	R("capacity.orders", book.max_orders, 1, 1u << 30),
	R("capacity.levels", book.max_levels, 2, 1u << 30),
	R("mold.reorder_window", mold.reorder_window, 0, DD_MOLD_MAX_WINDOW),
	R("mold.reorder_timeout_us", mold_timeout_us, 0, 10000000),
	R("journal.commit_us", jcommit_us, 1, 1000000),
	R("journal.commit_bytes", jcommit_bytes, 4096, 64u << 20),
	R("journal.segment_mb", jsegment_mb, 1, 65536),
	R("journal.ring_size", jring_size, 256, 1u << 24),
	R("journal.stall_ms", jstall_ms, 1, 600000),
	R("output_udp.mtu", out_mtu, 64, 8972),
	R("output_udp.heartbeat_ms", out_heartbeat_ms, 0, 3600000),
	R("output_udp.history", out_history, 16, 1u << 26),
	R("output_udp.request_max", out_request_max, 1, 65534),
	R("output_udp.request_rate", out_request_rate, 1, 1000000000ull),
	R("nats.backlog", nats_backlog, 16, 1u << 26),
	R("nats.drain_ms", nats_drain_ms, 0, 3600000),
	R("snapshot_every", snapshot_every, 0, UINT64_MAX),
	R("fraud.payers", fraud.payers, 1, 1u << 28),
	R("fraud.history", fraud.history, 0, 1u << 28),
	R("fraud.pairs", fraud.pairs, 1, 1u << 28),
	R("fraud.devices", fraud.devices, 1, 1u << 28),
	R("fraud.merchants", fraud.merchants, 1, 1u << 28),
	R("fraud.merchant_table_cap", fraud.merchant_table, 1, 1u << 26),
	R("fraud.late_grace_s", fraud.late_grace_s, 0, 30 * 86400),
	R("cep.keys", mkeys, 1, 1u << 20),
	R("cep.key_bytes", cep_key_bytes, 0, 1u << 20),
	R("window.key_bytes", window_key_bytes, 0, 1u << 20),
	R("watermark.interval_us", wm_interval_us, 1, 86400000000ull),
	R("watermark.delay_us", wm_delay_us, 0, 86400000000ull),
	R("watermark.idle_ms", wm_idle_ms, 0, 86400000),
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

static char *err;       /* exactly ERRLEN bytes: a write past it hits ASan's redzone */
static char *small_err; /* exactly SMALL_ERRLEN bytes */
static int memfd = -1;
static char fdpath[64];
static struct dd_config defaults;

static void err_reset(char *e, size_t len)
{
	memset(e, 0xa5, len);
}

/* A failure's message: non-empty and terminated inside the buffer. */
static bool err_ok(const char *e, size_t len)
{
	return memchr(e, '\0', len) != NULL && e[0] != '\0';
}

static uint64_t get(const struct dd_config *c, const struct range *r)
{
	const char *p = (const char *)c + r->off;
	if (r->size == sizeof(uint64_t))
		return *(const uint64_t *)(const void *)p;
	return *(const unsigned *)(const void *)p;
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	if (n == 0 || n >= max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static void init(void)
{
	err = malloc(ERRLEN);
	small_err = malloc(SMALL_ERRLEN);
	memfd = memfd_create("fuzz_config", 0);
	CHECK(err != NULL && small_err != NULL && memfd >= 0);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", memfd);
	dd_config_defaults(&defaults);
	for (size_t i = 0; i < NRANGES; i++) {
		uint64_t v = get(&defaults, &ranges[i]);
		CHECK(v >= ranges[i].min && v <= ranges[i].max);
	}
	/* every key of the usage text whose rejection states a range must be in the table, same range */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	CHECK(f != NULL);
	dd_config_usage(f);
	fclose(f);
	unsigned numeric = 0;
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		/* "  KEY   --FLAG   default VALUE" (not the help lines under it, nor "  --config FILE") */
		char key[64];
		int end = 0;
		if (strncmp(line, "  ", 2) != 0 || !islower((unsigned char)line[2]) ||
		    sscanf(line, "  %63[a-z0-9_.] --%n", key, &end) != 1 || end == 0)
			continue;
		/* "x" is no number: a numeric key's rejection states its range (memcpy: padding too) */
		struct dd_config c;
		memcpy(&c, &defaults, sizeof(c));
		err_reset(err, ERRLEN);
		if (dd_config_set(&c, key, "x", "probe", err, ERRLEN) == 0)
			continue;
		CHECK(err_ok(err, ERRLEN) && memcmp(&c, &defaults, sizeof(c)) == 0);
		const char *m = strstr(err, "whole number from ");
		if (m == NULL)
			continue;
		unsigned long long lo, hi;
		CHECK(sscanf(m, "whole number from %llu to %llu", &lo, &hi) == 2);
		size_t i = 0;
		while (i < NRANGES && strcmp(ranges[i].key, key) != 0)
			i++;
		if (i == NRANGES || ranges[i].min != lo || ranges[i].max != hi)
			fprintf(stderr, "fuzz_config: the range table has %s wrong: config.c says %llu to %llu\n", key,
				lo, hi);
		CHECK(i < NRANGES && ranges[i].min == lo && ranges[i].max == hi);
		numeric++;
	}
	CHECK(numeric == NRANGES);
	free(text);
}

/* ---- CPU lists ------------------------------------------------------------------------------ */

/* digits [- digits] (, digits [- digits])* */
static bool cpulist_grammar(const char *s)
{
	for (;;) {
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char)*s))
				return false;
			while (isdigit((unsigned char)*s))
				s++;
		}
		if (*s == '\0')
			return true;
		if (*s++ != ',')
			return false;
	}
}

static bool has(const struct dd_cpuset *cs, unsigned cpu)
{
	return cs->bits[cpu / 64] >> (cpu % 64) & 1;
}

static void check_cpulist(const char *s)
{
	struct dd_cpuset cs, again;
	err_reset(err, ERRLEN);
	int rc = dd_cpulist_parse(s, &cs, err, ERRLEN);
	err_reset(small_err, SMALL_ERRLEN);
	CHECK(dd_cpulist_parse(s, &again, small_err, SMALL_ERRLEN) == rc);
	if (rc != 0) {
		CHECK(rc == -EINVAL && err_ok(err, ERRLEN) && err[0] == '\'' && err_ok(small_err, SMALL_ERRLEN));
		return;
	}
	CHECK(cpulist_grammar(s));
	unsigned count = 0, first = 0;
	for (unsigned cpu = 1024; cpu-- > 0;)
		if (has(&cs, cpu)) {
			count++;
			first = cpu;
		}
	CHECK(count >= 1 && cs.count == count && cs.first == first);
	/* the canonical form: ranges of consecutive CPUs, ascending */
	char canon[8192];
	size_t n = 0;
	for (unsigned cpu = 0; cpu < 1024; cpu++) {
		if (!has(&cs, cpu))
			continue;
		unsigned last = cpu;
		while (last + 1 < 1024 && has(&cs, last + 1))
			last++;
		n += (size_t)snprintf(canon + n, sizeof(canon) - n, last > cpu ? "%s%u-%u" : "%s%u", n ? "," : "", cpu, last);
		cpu = last;
	}
	CHECK(dd_cpulist_parse(canon, &again, err, ERRLEN) == 0);
	CHECK(memcmp(&again, &cs, sizeof(cs)) == 0);
}

/* ---- a configuration ------------------------------------------------------------------------ */

static void check_feed_round_trip(const struct dd_feed_cfg *f)
{
	char text[256], line[64];
	size_t n = (size_t)snprintf(text, sizeof(text), "%s ", f->kind == DD_FEED_PAYMENT ? "payment" : "market");
	for (unsigned l = 0; l < f->nlines; l++) {
		dd_feed_line_format(&f->line[l], line, sizeof(line));
		CHECK(strlen(line) < sizeof("255.255.255.255:65535@65534"));
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s", l ? ", " : "", line);
	}
	CHECK(n < sizeof(text));
	char key[64];
	snprintf(key, sizeof(key), "feed.%s", f->name);
	struct dd_config c;
	dd_config_defaults(&c);
	err_reset(err, ERRLEN);
	CHECK(dd_config_set(&c, key, text, "round-trip", err, ERRLEN) == 0);
	CHECK(c.nfeeds == 1 && strcmp(c.feed[0].name, f->name) == 0 && c.feed[0].kind == f->kind);
	CHECK(c.feed[0].nlines == f->nlines);
	for (unsigned l = 0; l < f->nlines; l++)
		CHECK(c.feed[0].line[l].ip == f->line[l].ip && c.feed[0].line[l].udp_port == f->line[l].udp_port &&
		      c.feed[0].line[l].dpdk_port == f->line[l].dpdk_port);
}

/* What holds of any configuration the setters built, accepted by dd_config_check or not. */
static void check_values(const struct dd_config *c)
{
	for (size_t i = 0; i < NRANGES; i++) {
		uint64_t v = get(c, &ranges[i]);
		CHECK(v >= ranges[i].min && v <= ranges[i].max);
	}
	CHECK(c->pipeline <= DD_PIPELINE_STAGED && c->route <= DD_ROUTE_CFG_SYMBOL && c->jsync <= DD_JSYNC_OFF);
	CHECK(c->jidle <= DD_JIDLE_YIELD && c->release <= DD_RELEASE_IMMEDIATE && c->market_chain <= DD_CHAIN_BOOK_TEST);
	CHECK(c->wm_all_idle <= DD_WM_ALL_IDLE_CLOCK);
	const char *const paths[] = { c->summary, c->book_dump, c->journal, c->jio_cpus, c->output, c->out_udp,
				      c->out_source, c->out_dst_mac, c->out_request, c->out_session, c->nats,
				      c->nats_stream, c->fraud_rules, c->fraud_merchant_table, c->fraud_mcc_table,
				      c->fraud_risk_areas };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		CHECK(strnlen(paths[i], DD_PATH_MAX) < DD_PATH_MAX && strcmp(paths[i], "none") != 0);
	CHECK(strnlen(c->rules, sizeof(c->rules)) < sizeof(c->rules) && strcmp(c->rules, "none") != 0);
	CHECK(valid_name(c->instance, DD_INSTANCE_MAX));
	CHECK(c->nfeeds <= DD_MAX_FEEDS);
	bool payment_seen = false;
	for (unsigned i = 0; i < c->nfeeds; i++) {
		const struct dd_feed_cfg *f = &c->feed[i];
		CHECK(valid_name(f->name, DD_FEED_NAME_MAX) && strnlen(c->feed_origin[i], 48) < 48);
		CHECK(f->kind == DD_FEED_MARKET || f->kind == DD_FEED_PAYMENT);
		CHECK(f->nlines >= 1 && f->nlines <= DD_MOLD_MAX_LINES);
		/* market feeds first: the book's feeds are 0..markets-1 */
		CHECK(!(payment_seen && f->kind == DD_FEED_MARKET));
		payment_seen |= f->kind == DD_FEED_PAYMENT;
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(c->feed[j].name, f->name) != 0);
		check_feed_round_trip(f);
	}
}

static bool overlap(const struct dd_feed_line *a, const struct dd_feed_line *b)
{
	return (a->ip == 0 || b->ip == 0 || a->ip == b->ip) &&
	       (a->udp_port == 0 || b->udp_port == 0 || a->udp_port == b->udp_port) &&
	       (a->dpdk_port == DD_ANY_PORT || b->dpdk_port == DD_ANY_PORT || a->dpdk_port == b->dpdk_port);
}

/* What dd_config_check promises of a configuration it accepts. */
static void check_accepted(const struct dd_config *c)
{
	CHECK((c->ring_size & (c->ring_size - 1)) == 0 && (c->jring_size & (c->jring_size - 1)) == 0);
	CHECK(c->rx_burst <= c->mbufs / 4);
	CHECK(c->snapshot_every == 0 || c->journal[0] != '\0');
	size_t sl = strlen(c->nats_stream);
	CHECK(sl >= 1 && sl <= 64 && strpbrk(c->nats_stream, " .*>\t") == NULL);
	if (c->jio_cpus[0] != '\0') {
		struct dd_cpuset cs;
		CHECK(dd_cpulist_parse(c->jio_cpus, &cs, err, ERRLEN) == 0);
	}
	for (unsigned i = 0; i < c->nfeeds; i++)
		for (unsigned j = 0; j <= i; j++)
			for (unsigned a = 0; a < c->feed[i].nlines; a++)
				for (unsigned b = 0; b < (i == j ? a : c->feed[j].nlines); b++)
					CHECK(!overlap(&c->feed[i].line[a], &c->feed[j].line[b]));
	const struct dd_out_udp *u = &c->outu;
	CHECK(u->on == (c->out_udp[0] != '\0'));
	if (!u->on)
		return;
	CHECK(u->group != 0 && u->port != 0 && u->portid != DD_ANY_PORT && u->src_port != 0);
	CHECK(u->req_off || u->req_port != 0);
	CHECK(c->out_mtu >= 20 + 2 + 120);
	sl = strlen(c->out_session);
	CHECK(sl == 0 || sl == 10);
	for (size_t i = 0; i < sl; i++)
		CHECK(c->out_session[i] > ' ' && c->out_session[i] <= '~');
	if (u->have_mac) {
		/* the documented form: six hex bytes aa:bb:cc:dd:ee:ff, and they are the bytes taken */
		const char *m = c->out_dst_mac;
		CHECK(strlen(m) == 17);
		for (int i = 0; i < 6; i++) {
			CHECK(isxdigit((unsigned char)m[3 * i]) && isxdigit((unsigned char)m[3 * i + 1]));
			CHECK(i == 5 || m[3 * i + 2] == ':');
			CHECK(strtoul((char[]){ m[3 * i], m[3 * i + 1], 0 }, NULL, 16) == u->dst_mac[i]);
		}
	}
	/* the stream's line formats and parses back to the same group, port and DPDK port */
	struct dd_config t = *c;
	struct dd_feed_line l = { u->group, u->port, u->portid };
	char text[64];
	dd_feed_line_format(&l, text, sizeof(text));
	err_reset(err, ERRLEN);
	CHECK(dd_config_set(&t, "output_udp", text, "round-trip", err, ERRLEN) == 0);
	CHECK(dd_config_check(&t, err, ERRLEN) == 0);
	CHECK(memcmp(&t.outu, u, sizeof(*u)) == 0);
}

/* The feeds and chains the configuration derives; a journal written with its chain is adopted. */
static void check_derived(const struct dd_config *c, bool market_rules)
{
	struct dd_feed_cfg feeds[DD_MAX_FEEDS];
	unsigned n = dd_config_feeds(c, feeds);
	if (c->nfeeds == 0) {
		CHECK(n == 2 && feeds[0].kind == DD_FEED_MARKET && feeds[0].nlines == 0);
		CHECK(feeds[1].kind == DD_FEED_PAYMENT && feeds[1].nlines == 1 &&
		      feeds[1].line[0].udp_port == DD_PAY_DEFAULT_PORT);
	} else {
		CHECK(n == c->nfeeds && memcmp(feeds, c->feed, n * sizeof(feeds[0])) == 0);
	}
	unsigned m = dd_config_market_feeds(feeds, n);
	CHECK(m <= n);
	for (unsigned i = 0; i < n; i++)
		CHECK((feeds[i].kind == DD_FEED_MARKET) == (i < m));

	/* the market chain, as dadar builds it after dd_config_market_size() (with rules: window, cep) */
	struct dd_config r = *c;
	r.market_rules = market_rules;
	struct dd_chain_spec spec;
	CHECK(dd_config_market_chain(&r, m, &spec) == 0);
	unsigned want = 1 + (market_rules ? 2 : 0) + (r.market_chain == DD_CHAIN_BOOK_TEST ? 2 : 0);
	CHECK(spec.nops == want && spec.op[0].id == DD_OP_BOOK);
	const struct dd_book_op_params *bp = (const void *)spec.op[0].params;
	CHECK(memcmp(&bp->book, &r.book, sizeof(r.book)) == 0 && bp->nfeeds == m);
	CHECK(spec.op[0].len == (market_rules ? sizeof(*bp) : DD_BOOK_OP_PARAMS_V1));
	if (market_rules) {
		const struct dd_window_params *wp = (const void *)spec.op[1].params;
		const struct dd_cep_params *cp = (const void *)spec.op[2].params;
		CHECK(spec.op[1].id == DD_OP_WINDOW && spec.op[2].id == DD_OP_CEP);
		CHECK(wp->keys == r.mkeys && wp->nfeeds == m && wp->key_bytes == r.window_key_bytes);
		CHECK(cp->keys == r.mkeys && cp->nfeeds == m && cp->key_bytes == r.cep_key_bytes);
	}
	if (r.market_chain == DD_CHAIN_BOOK_TEST)
		CHECK(spec.op[want - 2].id == DD_OP_TEST_MULTI && spec.op[want - 1].id == DD_OP_TEST_TIMER);

	struct dd_chain_spec pay;
	CHECK(dd_config_payment_chain(&r, feeds, n, &pay) == 0);
	CHECK(pay.nops == (m < n ? 1u : 0u));
	if (pay.nops == 1)
		CHECK(pay.op[0].id == DD_OP_FRAUD && pay.op[0].len == sizeof(r.fraud) &&
		      memcmp(pay.op[0].params, &r.fraud, sizeof(r.fraud)) == 0);

	/* a journal written with this very chain: adopted, nothing changes */
	struct dd_jconfig j;
	memset(&j, 0, sizeof(j));
	j.version = DD_JCONFIG_VERSION;
	j.nshards = 1;
	j.nfeeds = n;
	j.market = spec;
	j.payment = pay;
	struct dd_config t = r;
	err_reset(err, ERRLEN);
	int rc = dd_config_adopt_journal(&t, &j, err, ERRLEN);
	if (rc != 0)
		fprintf(stderr, "fuzz_config: adopting its own journal: %s\n", err);
	CHECK(rc == 0);
	CHECK(memcmp(&t.book, &r.book, sizeof(r.book)) == 0 && t.market_chain == r.market_chain);
	CHECK(t.market_rules == r.market_rules && t.mkeys == r.mkeys);
	CHECK(t.cep_key_bytes == r.cep_key_bytes && t.window_key_bytes == r.window_key_bytes);

	/* and one written with the defaults: adopted (taking its capacities) unless a capacity given
	 * explicitly differs, or this start has market rules and the journal has none */
	struct dd_chain_spec dspec;
	CHECK(dd_config_market_chain(&defaults, m, &dspec) == 0);
	j.market = dspec;
	t = r;
	err_reset(err, ERRLEN);
	rc = dd_config_adopt_journal(&t, &j, err, ERRLEN);
	if (rc == 0) {
		CHECK(memcmp(&t.book, &defaults.book, sizeof(t.book)) == 0 && t.market_chain == DD_CHAIN_BOOK);
		CHECK(!t.market_rules && !market_rules);
	} else {
		CHECK(rc == -EINVAL && err_ok(err, ERRLEN));
	}
}

static void check_config(struct dd_config *c)
{
	check_values(c);
	err_reset(err, ERRLEN);
	int rc = dd_config_check(c, err, ERRLEN);
	if (rc == 0)
		check_accepted(c);
	else
		CHECK(rc == -EINVAL && err_ok(err, ERRLEN));
	check_derived(c, false);
	check_derived(c, c->rules[0] != '\0');
}

/* ---- the sections --------------------------------------------------------------------------- */

static void load_file(struct dd_config *c, const uint8_t *data, size_t size)
{
	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(size == 0 || pwrite(memfd, data, size, 0) == (ssize_t)size);
	err_reset(err, ERRLEN);
	int rc = dd_config_load(c, fdpath, err, ERRLEN);
	if (rc != 0)
		CHECK(rc == -EINVAL && err_ok(err, ERRLEN) && strstr(err, fdpath) != NULL);
}

static void set_lines(struct dd_config *c, char *text)
{
	unsigned n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char origin[32];
		snprintf(origin, sizeof(origin), "set:%u", ++n);
		char *eq = strchr(line, '=');
		const char *value = "";
		if (eq != NULL) {
			*eq = '\0';
			value = eq + 1;
		}
		struct dd_config before;
		memcpy(&before, c, sizeof(before)); /* padding too: compared byte for byte below */
		err_reset(err, ERRLEN);
		int rc = dd_config_set(c, line, value, origin, err, ERRLEN);
		if (rc == 0) {
			CHECK(strncmp(line, "feed.", 5) == 0 || dd_config_was_set(c, line));
			continue;
		}
		CHECK(rc == -EINVAL && err_ok(err, ERRLEN) && strstr(err, origin) != NULL);
		CHECK(memcmp(c, &before, sizeof(before)) == 0);
		/* again into a small buffer: the same answer, the message cut short inside it */
		err_reset(small_err, SMALL_ERRLEN);
		CHECK(dd_config_set(c, line, value, origin, small_err, SMALL_ERRLEN) == rc);
		CHECK(err_ok(small_err, SMALL_ERRLEN) && memcmp(c, &before, sizeof(before)) == 0);
	}
}

static void apply_args(struct dd_config *c, char *text, size_t len)
{
	/* words split on NUL and newline; a private array so reads past it hit ASan's redzone */
	int argc = 0;
	for (size_t i = 0; i <= len; i++)
		if (i == len || text[i] == '\0' || text[i] == '\n')
			argc++;
	char **argv = malloc((size_t)argc * sizeof(*argv));
	argc = 0;
	char *w = text;
	for (size_t i = 0; i <= len; i++)
		if (i == len || text[i] == '\0' || text[i] == '\n') {
			text[i] = '\0';
			argv[argc++] = w;
			w = text + i + 1;
		}
	/* a separator at the end ends the last word; it does not start an empty one */
	if (len == 0 || text[len - 1] == '\0' || text[len - 1] == '\n')
		argc--;
	for (int i = 0; i < argc; i++) {
		CHECK(!dd_config_is_flag(argv[i]) || strncmp(argv[i], "--", 2) == 0);
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			argv[i + 1] = fdpath;
	}
	char *usage = NULL;
	size_t ulen = 0;
	FILE *out = open_memstream(&usage, &ulen);
	CHECK(out != NULL);
	err_reset(err, ERRLEN);
	int rc = dd_config_args(c, argc, argv, out, err, ERRLEN);
	fclose(out);
	if (rc == 1)
		CHECK(ulen > 0 && strncmp(usage, "usage: ", 7) == 0);
	else
		CHECK(ulen == 0);
	if (rc < 0)
		CHECK(rc == -EINVAL && err_ok(err, ERRLEN));
	else
		CHECK(rc == 0 || rc == 1);
	free(usage);
	free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (err == NULL)
		init();
	/* the sections, each a private NUL-terminated copy */
	char *sec[4] = { NULL, NULL, NULL, NULL };
	size_t len[4] = { 0, 0, 0, 0 };
	size_t at = 0;
	for (int s = 0; s < 4; s++) {
		size_t end = at;
		while (end < size && (data[end] != 0xff || s == 3))
			end++;
		len[s] = end - at;
		sec[s] = malloc(len[s] + 1);
		if (len[s])
			memcpy(sec[s], data + at, len[s]);
		sec[s][len[s]] = '\0';
		at = end < size ? end + 1 : size;
	}

	struct dd_config a;
	dd_config_defaults(&a);
	load_file(&a, (const uint8_t *)sec[0], len[0]);
	set_lines(&a, sec[2]);
	check_config(&a);

	struct dd_config b;
	dd_config_defaults(&b);
	apply_args(&b, sec[1], len[1]);
	check_config(&b);

	check_cpulist(sec[3]);
	for (int s = 0; s < 4; s++)
		free(sec[s]);
	return 0;
}
