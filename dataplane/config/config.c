/* SPDX-License-Identifier: MIT */
#include "dataplane/config/config.h"

#include "ops/cep/cep.h"
#include "ops/window/window.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ops/book/book_op.h"
#include "ops/test/test_ops.h"

enum opt_type { T_UINT, T_U64, T_BOOL, T_PATH, T_NAME, T_ENUM, T_PATHS };

struct opt {
	const char *key;
	enum opt_type type;
	size_t off;
	size_t size;    /* of the field, for T_UINT/T_U64 */
	uint64_t min, max;
	const char *help;
	const char *const *names; /* T_ENUM: the values' names, NULL-terminated, in enum order */
};

static const char *const pipeline_names[] = { "rtc", "staged", NULL };
static const char *const route_names[] = { "auto", "locate", "symbol", NULL };
static const char *const jsync_names[] = { "group", "page", "off", NULL };
static const char *const jidle_names[] = { "spin", "yield", NULL };
static const char *const all_idle_names[] = { "hold", "clock", NULL };
static const char *const release_names[] = { "durable", "immediate", NULL };
static const char *const chain_names[] = { "book", "book,test_multi,test_timer", NULL };

#define F(field) offsetof(struct dd_config, field), sizeof(((struct dd_config *)0)->field)

static const struct opt opts[] = {
	{ "pipeline", T_ENUM, F(pipeline), 0, 0, "rtc (run to completion on one lcore) or staged", pipeline_names },
	{ "workers", T_UINT, F(workers), 1, 64, "staged: worker lcores (events partitioned by instrument)", NULL },
	{ "route", T_ENUM, F(route), 0, 0,
	  "staged: shard market events by locate code, or by symbol (one symbol's venues on one worker, "
	  "for cross-venue patterns); auto: by symbol with more than one market feed", route_names },
	{ "rx_burst", T_UINT, F(rx_burst), 1, 512, "packets per receive burst", NULL },
	{ "rx_desc", T_UINT, F(rx_desc), 64, 16384, "receive descriptors per queue", NULL },
	{ "mbufs", T_UINT, F(mbufs), 1023, 16777215, "mbufs in the packet pool", NULL },
	{ "mbuf_size", T_UINT, F(mbuf_size), 1024, 65535, "data room of one mbuf, bytes", NULL },
	{ "ring_size", T_UINT, F(ring_size), 64, 1u << 24, "staged: events per worker ring (a power of 2)", NULL },
	{ "exit_on_idle", T_U64, F(exit_on_idle_ms), 0, 86400000, "stop after this many ms without a packet; 0 = never", NULL },
	{ "check_ip_csum", T_BOOL, F(check_ip_csum), 0, 0, "verify IPv4 header checksums in software", NULL },
	{ "check_udp_csum", T_BOOL, F(check_udp_csum), 0, 0, "verify UDP checksums in software", NULL },
	{ "quiet", T_BOOL, F(quiet), 0, 0, "do not print the human summary at exit", NULL },
	{ "nic_timestamps", T_BOOL, F(nic_timestamps), 0, 0,
	  "take the RX time from the NIC where its driver timestamps packets (else the TSC at the poll)", NULL },
	{ "stamps", T_BOOL, F(stamps), 0, 0,
	  "benchmarks: a frame with dadar-gen send's send stamp takes the stamp as its RX time (rx, "
	  "wire_to_decision and release then count from the send; send_to_rx is the stamp to the poll)", NULL },
	{ "summary", T_PATH, F(summary), 0, 0, "write the JSON summary to this file at exit", NULL },
	{ "book_dump", T_PATH, F(book_dump), 0, 0, "write the top 5 levels of every book as CSV at exit", NULL },
	{ "instance", T_NAME, F(instance), 0, 0, "instance name (letters, digits, '-', '_')", NULL },
	{ "capacity.instruments", T_UINT, F(book.max_instruments), 1, DD_BOOK_MAX_INSTRUMENTS,
	  "instruments per book", NULL },
	{ "capacity.orders", T_UINT, F(book.max_orders), 1, 1u << 30, "live orders per book", NULL },
	{ "capacity.levels", T_UINT, F(book.max_levels), 2, 1u << 30, "live price levels per book", NULL },
	{ "mold.reorder_window", T_UINT, F(mold.reorder_window), 0, DD_MOLD_MAX_WINDOW,
	  "datagrams held while waiting for a gap to fill; 0 = declare gaps at once", NULL },
	{ "mold.reorder_timeout_us", T_U64, F(mold_timeout_us), 0, 10000000,
	  "longest a held datagram waits, µs; 0 = until the window is full", NULL },
	{ "mold.rewind", T_BOOL, F(mold.rewind), 0, 0,
	  "benchmarks only: a capture looping back to its first sequence number starts over", NULL },
	{ "journal", T_PATH, F(journal), 0, 0, "journal directory (inputs and outputs, for recovery); none = off", NULL },
	{ "journal.sync", T_ENUM, F(jsync), 0, 0,
	  "group (O_DIRECT + fdatasync per commit), page (page cache only) or off (nothing written)", jsync_names },
	{ "journal.commit_us", T_U64, F(jcommit_us), 1, 1000000, "group commit interval, µs", NULL },
	{ "journal.commit_bytes", T_UINT, F(jcommit_bytes), 4096, 64u << 20, "... or commit once this many bytes wait", NULL },
	{ "journal.segment_mb", T_UINT, F(jsegment_mb), 1, 65536, "journal segment file size, MiB", NULL },
	{ "journal.ring_size", T_UINT, F(jring_size), 256, 1u << 24, "records per producer ring to the journal (a power of 2)", NULL },
	{ "journal.stall_ms", T_U64, F(jstall_ms), 1, 600000,
	  "a journal that cannot take records this long stops input (disk too slow or full)", NULL },
	{ "journal.sqpoll", T_BOOL, F(jsqpoll), 0, 0, "io_uring SQPOLL: a kernel thread submits (no syscall on the journal lcore)", NULL },
	{ "journal.io_cpus", T_PATH, F(jio_cpus), 0, 0,
	  "CPU list (e.g. 0 or 0,2-3) for io_uring's worker threads and the SQPOLL thread (on the first), kept off "
	  "the lcores' CPUs; none = wherever the kernel puts them", NULL },
	{ "journal.idle", T_ENUM, F(jidle), 0, 0,
	  "while a commit is in flight and no record waits: spin, or yield the CPU (to an io_uring worker woken on it)",
	  jidle_names },
	{ "release", T_ENUM, F(release), 0, 0,
	  "durable (an output leaves once its journal record is durable) or immediate", release_names },
	{ "output", T_PATH, F(output), 0, 0, "released outputs as JSON lines; none = not written", NULL },
	{ "output_udp", T_PATH, F(out_udp), 0, 0,
	  "send the released outputs as one MoldUDP64 session from DPDK port PORTID to GROUP:PORT "
	  "(GROUP:PORT@PORTID); none = off", NULL },
	{ "output_udp.source", T_PATH, F(out_source), 0, 0,
	  "IPv4 address[:port] the output datagrams come from (the host's on that network)", NULL },
	{ "output_udp.dst_mac", T_PATH, F(out_dst_mac), 0, 0,
	  "destination MAC of the output datagrams; none = the group's multicast MAC (unicast: broadcast)", NULL },
	{ "output_udp.mtu", T_UINT, F(out_mtu), 64, 8972, "UDP payload bytes per output datagram", NULL },
	{ "output_udp.heartbeat_ms", T_U64, F(out_heartbeat_ms), 0, 3600000,
	  "send a heartbeat after this long without a datagram, ms; 0 = never", NULL },
	{ "output_udp.session", T_PATH, F(out_session), 0, 0,
	  "name of the first session (10 characters); none = the Unix time in seconds", NULL },
	{ "output_udp.history", T_UINT, F(out_history), 16, 1u << 26,
	  "outputs kept in memory for retransmission (older ones come from the journal)", NULL },
	{ "output_udp.request", T_PATH, F(out_request), 0, 0,
	  "retransmission request server IP:PORT (a kernel UDP socket); none = off; default 0.0.0.0 and the "
	  "stream's port + 1", NULL },
	{ "output_udp.request_max", T_UINT, F(out_request_max), 1, 65534, "most messages one request is answered with", NULL },
	{ "output_udp.request_rate", T_U64, F(out_request_rate), 1, 1000000000ull,
	  "messages per second the request server answers with, over all requesters", NULL },
	{ "nats", T_PATH, F(nats), 0, 0,
	  "NATS server URL (nats://HOST:PORT): publish every released output to JetStream; none = off", NULL },
	{ "nats.stream", T_PATH, F(nats_stream), 0, 0, "JetStream stream the outputs go to (created if missing)", NULL },
	{ "nats.backlog", T_UINT, F(nats_backlog), 16, 1u << 26,
	  "without a journal: outputs kept for a broker that is down or slow (more are lost, counted)", NULL },
	{ "nats.drain_ms", T_U64, F(nats_drain_ms), 0, 3600000,
	  "at a clean stop, how long the bridge may go on publishing what the broker does not have yet, ms "
	  "(with a journal the rest follows after the next start)", NULL },
	{ "snapshot_every", T_U64, F(snapshot_every), 0, UINT64_MAX,
	  "journal records (LSNs) between state snapshots; 0 = never", NULL },
	{ "chain.market", T_ENUM, F(market_chain), 0, 0,
	  "operators of the market-data chain: book, or book,test_multi,test_timer (adds the test operators)",
	  chain_names },
	{ "fraud.rules", T_PATH, F(fraud_rules), 0, 0,
	  "fraud rule file (docs/rules.md); none = the built-in default (rules/fraud-paytm.rules)", NULL },
	{ "fraud.merchant_table", T_PATH, F(fraud_merchant_table), 0, 0, "merchant risk table, CSV merchant,risk", NULL },
	{ "fraud.mcc_table", T_PATH, F(fraud_mcc_table), 0, 0, "merchant category scores, CSV mcc,score", NULL },
	{ "fraud.risk_areas", T_PATH, F(fraud_risk_areas), 0, 0, "high-risk areas, CSV lat_e6,lon_e6,radius_km", NULL },
	{ "fraud.payers", T_UINT, F(fraud.payers), 1, 1u << 28, "payers the fraud operator keeps state for", NULL },
	{ "fraud.history", T_UINT, F(fraud.history), 0, 1u << 28,
	  "payments kept for the velocity windows (size it for a day's payments)", NULL },
	{ "fraud.pairs", T_UINT, F(fraud.pairs), 1, 1u << 28, "(payer, device) pairs remembered", NULL },
	{ "fraud.devices", T_UINT, F(fraud.devices), 1, 1u << 28, "devices remembered", NULL },
	{ "fraud.merchants", T_UINT, F(fraud.merchants), 1, 1u << 28, "merchants remembered (for new_merchant)", NULL },
	{ "fraud.merchant_table_cap", T_UINT, F(fraud.merchant_table), 1, 1u << 26,
	  "entries the merchant risk table may have", NULL },
	{ "fraud.late_grace_s", T_UINT, F(fraud.late_grace_s), 0, 30 * 86400,
	  "a payment up to this late (s, behind its payer's latest) is scored over every earlier payment "
	  "its windows reach; the payer keeps its payments this much longer", NULL },
	{ "rules", T_PATHS, F(rules), 0, 0,
	  "market rule files (docs/patterns.md), comma separated; --rules FILE may be repeated; none = no patterns",
	  NULL },
	{ "cep.keys", T_UINT, F(mkeys), 1, 1u << 20, "symbols the market rules (windows and patterns) keep state for", NULL },
	{ "cep.key_bytes", T_UINT, F(cep_key_bytes), 0, 1u << 20,
	  "pattern state per symbol, bytes; 0 = what the rules at start need (a reload needing more is refused; "
	  "room for the partial matches but not their records: alerts list none)", NULL },
	{ "window.key_bytes", T_UINT, F(window_key_bytes), 0, 1u << 20,
	  "window state per symbol, bytes; 0 = what the rules at start need", NULL },
	{ "watermark.interval_us", T_U64, F(wm_interval_us), 1, 86400000000ull,
	  "event time between watermark ticks, µs (sent only when an operator is time-driven)", NULL },
	{ "watermark.delay_us", T_U64, F(wm_delay_us), 0, 86400000000ull,
	  "how far each market feed's watermark lags its latest event time, µs (bounded out-of-orderness)", NULL },
	{ "watermark.idle_ms", T_U64, F(wm_idle_ms), 0, 86400000,
	  "a market feed with no event for this long (wall clock), or none while the others moved event time "
	  "on by this much, stops holding the watermark back until its next event; 0 = never", NULL },
	{ "watermark.all_idle", T_ENUM, F(wm_all_idle), 0, 0,
	  "every market feed idle: hold (the watermark stays at the latest feed's time) or clock (it goes on with "
	  "the wall clock, so absences and windows of a stopped feed complete)", all_idle_names },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))
_Static_assert(NOPTS <= 64 * sizeof(((struct dd_config *)0)->was_set) / sizeof(uint64_t), "was_set has a bit per key");

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void dd_config_defaults(struct dd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->pipeline = DD_PIPELINE_RTC;
	c->workers = 1;
	c->rx_burst = 32;
	c->out_mtu = 1400;
	c->out_heartbeat_ms = 1000;
	c->out_history = 65536;
	c->out_request_max = 1000;
	c->out_request_rate = 1000000;
	c->nats_backlog = 65536;
	c->nats_drain_ms = 5000;
	strcpy(c->nats_stream, "DADAR");
	c->rx_desc = 1024;
	c->mbufs = 8191;
	c->mbuf_size = 2048 + 128;
	c->ring_size = 16384;
	c->check_ip_csum = true;
	c->nic_timestamps = true;
	strcpy(c->instance, "dadar");
	c->book = (struct dd_book_params){ .max_instruments = 16384, .max_orders = 1u << 20, .max_levels = 1u << 18 };
	dd_fraud_params_default(&c->fraud);
	c->mold = (struct dd_mold_params){ .reorder_window = 16 };
	c->mold_timeout_us = 1000;
	c->jsync = DD_JSYNC_GROUP;
	c->jcommit_us = 200;
	c->jcommit_bytes = 256u << 10;
	c->jsegment_mb = 256;
	c->jring_size = 65536;
	c->wm_interval_us = 1000;
	c->wm_idle_ms = 1000;
	c->mkeys = 8192;
	c->jstall_ms = 2000;
	c->jidle = DD_JIDLE_SPIN;
	c->release = DD_RELEASE_DURABLE;
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	if (*s == '\0')
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool parse_ipv4(const char *s, size_t n, uint32_t *out)
{
	uint32_t ip = 0;
	unsigned parts = 0;
	size_t i = 0;
	while (parts < 4) {
		uint32_t v = 0;
		size_t start = i;
		while (i < n && isdigit((unsigned char)s[i]) && i - start < 3)
			v = v * 10 + (uint32_t)(s[i++] - '0');
		/* no leading zero: inet_aton would read 010 as octal 8, inet_pton refuses it */
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return false;
		ip = ip << 8 | v;
		parts++;
		if (parts < 4) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	*out = ip;
	return i == n;
}

/* IP:PORT[@DPDKPORT], IP and PORT may be '*'. */
static int parse_line(const char *s, struct dd_feed_line *l)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL)
		return -EINVAL;
	*l = (struct dd_feed_line){ 0, 0, DD_ANY_PORT };
	size_t iplen = (size_t)(colon - s);
	if (!(iplen == 1 && s[0] == '*') && !parse_ipv4(s, iplen, &l->ip))
		return -EINVAL;
	char port[16];
	const char *at = strchr(colon, '@');
	size_t plen = at ? (size_t)(at - colon - 1) : strlen(colon + 1);
	if (plen == 0 || plen >= sizeof(port))
		return -EINVAL;
	memcpy(port, colon + 1, plen);
	port[plen] = '\0';
	uint64_t v;
	if (strcmp(port, "*") != 0) {
		if (!parse_u64(port, &v) || v == 0 || v > 65535)
			return -EINVAL;
		l->udp_port = (uint16_t)v;
	}
	if (at != NULL) {
		if (!parse_u64(at + 1, &v) || v >= DD_ANY_PORT)
			return -EINVAL;
		l->dpdk_port = (uint16_t)v;
	}
	return 0;
}

void dd_feed_line_format(const struct dd_feed_line *l, char *buf, size_t len)
{
	char ip[16] = "*", port[8] = "*", dp[16] = "";
	if (l->ip)
		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", l->ip >> 24, (l->ip >> 16) & 255, (l->ip >> 8) & 255, l->ip & 255);
	if (l->udp_port)
		snprintf(port, sizeof(port), "%u", l->udp_port);
	if (l->dpdk_port != DD_ANY_PORT)
		snprintf(dp, sizeof(dp), "@%u", l->dpdk_port);
	snprintf(buf, len, "%s:%s%s", ip, port, dp);
}

static int set_feed(struct dd_config *c, const char *name, const char *value, const char *origin, char *err,
		    size_t errlen)
{
	if (!valid_name(name, DD_FEED_NAME_MAX))
		return fail(err, errlen, "%s: feed name '%s' must be 1-%d letters, digits, '-' or '_'", origin, name,
			    DD_FEED_NAME_MAX - 1);
	/* Parse into a copy: a rejected value leaves the configuration as it was. */
	struct dd_feed_cfg f;
	memset(&f, 0, sizeof(f));
	strcpy(f.name, name);
	char buf[256];
	if (strlen(value) >= sizeof(buf))
		return fail(err, errlen, "%s: feed.%s: value of %zu bytes is longer than %zu", origin, name, strlen(value),
			    sizeof(buf) - 1);
	strcpy(buf, value);
	/* "payment LINES" or "market LINES" (the default) */
	char *list = buf, *k = buf;
	while (isspace((unsigned char)*k))
		k++;
	if (strncmp(k, "payment ", 8) == 0 || strncmp(k, "market ", 7) == 0) {
		f.kind = k[0] == 'p' ? DD_FEED_PAYMENT : DD_FEED_MARKET;
		list = k + (f.kind == DD_FEED_PAYMENT ? 8 : 7);
	}
	char *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		for (char *e = tok + strlen(tok); e > tok && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		if (f.nlines == DD_MOLD_MAX_LINES)
			return fail(err, errlen, "%s: feed.%s = '%s': at most %d lines", origin, name, value,
				    DD_MOLD_MAX_LINES);
		if (parse_line(tok, &f.line[f.nlines]) != 0)
			return fail(err, errlen,
				    "%s: feed.%s: line '%s' is not GROUP:PORT[@DPDK_PORT] (e.g. 233.54.12.111:26477, "
				    "*:26477@1)", origin, name, tok);
		f.nlines++;
	}
	if (f.nlines == 0)
		return fail(err, errlen, "%s: feed.%s = '%s': needs at least one line GROUP:PORT", origin, name, value);
	/* A flag overrides what a config file said (as for every key); otherwise a feed defined twice
	 * is a mistake: which definition did the user mean? */
	bool flag = origin[0] == '-';
	for (unsigned i = 0; i < c->nfeeds; i++)
		if (strcmp(c->feed[i].name, name) == 0) {
			if (!flag || c->feed_origin[i][0] == '-')
				return fail(err, errlen, "feed.%s is defined twice: at %s and at %s (a flag may override a "
					    "config file's feed; otherwise keep one)", name, c->feed_origin[i], origin);
			if (c->feed[i].kind == f.kind) {
				c->feed[i] = f;
				snprintf(c->feed_origin[i], sizeof(c->feed_origin[i]), "%s", origin);
				return 0;
			}
			/* of the other kind: it moves to that kind's place below (market feeds first) */
			memmove(&c->feed[i], &c->feed[i + 1], (c->nfeeds - i - 1) * sizeof(c->feed[0]));
			memmove(&c->feed_origin[i], &c->feed_origin[i + 1], (c->nfeeds - i - 1) * sizeof(c->feed_origin[0]));
			c->nfeeds--;
			break;
		}
	if (c->nfeeds == DD_MAX_FEEDS)
		return fail(err, errlen, "%s: feed.%s = '%s': too many feeds (at most %d)", origin, name, value,
			    DD_MAX_FEEDS);
	/* market feeds first: a market feed goes before the first payment feed (the book's feeds are
	 * then 0..markets-1, and every payment feed's index is above them) */
	unsigned at = c->nfeeds;
	if (f.kind == DD_FEED_MARKET)
		for (at = 0; at < c->nfeeds && c->feed[at].kind == DD_FEED_MARKET; at++)
			;
	memmove(&c->feed[at + 1], &c->feed[at], (c->nfeeds - at) * sizeof(c->feed[0]));
	memmove(&c->feed_origin[at + 1], &c->feed_origin[at], (c->nfeeds - at) * sizeof(c->feed_origin[0]));
	snprintf(c->feed_origin[at], sizeof(c->feed_origin[0]), "%s", origin);
	c->feed[at] = f;
	c->nfeeds++;
	return 0;
}

unsigned dd_config_feeds(const struct dd_config *c, struct dd_feed_cfg *out)
{
	if (c->nfeeds > 0) {
		memcpy(out, c->feed, c->nfeeds * sizeof(*out));
		return c->nfeeds;
	}
	memset(out, 0, 2 * sizeof(*out));
	strcpy(out[0].name, "itch");
	strcpy(out[1].name, "payments");
	out[1].kind = DD_FEED_PAYMENT;
	out[1].nlines = 1;
	out[1].line[0] = (struct dd_feed_line){ 0, DD_PAY_DEFAULT_PORT, DD_ANY_PORT };
	return 2;
}

unsigned dd_config_market_feeds(const struct dd_feed_cfg *feeds, unsigned n)
{
	unsigned m = 0;
	while (m < n && feeds[m].kind == DD_FEED_MARKET)
		m++;
	return m;
}

int dd_config_payment_chain(const struct dd_config *c, const struct dd_feed_cfg *feeds, unsigned nfeeds,
			    struct dd_chain_spec *out)
{
	memset(out, 0, sizeof(*out));
	if (dd_config_market_feeds(feeds, nfeeds) == nfeeds)
		return 0;
	return dd_chain_spec_add(out, DD_OP_FRAUD, &c->fraud, sizeof(c->fraud));
}

static const struct opt *find_opt(const char *key)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].key, key) == 0)
			return &opts[i];
	return NULL;
}

static int set_opt(struct dd_config *c, const struct opt *o, const char *key, const char *value,
		   const char *origin, char *err, size_t errlen);

int dd_config_set(struct dd_config *c, const char *key, const char *value, const char *origin, char *err,
		  size_t errlen)
{
	if (strncmp(key, "feed.", 5) == 0)
		return set_feed(c, key + 5, value, origin, err, errlen);
	const struct opt *o = find_opt(key);
	if (o == NULL)
		return fail(err, errlen, "%s: unknown key '%s' (dadar --help lists every key)", origin, key);
	int rc = set_opt(c, o, key, value, origin, err, errlen);
	if (rc == 0) {
		size_t i = (size_t)(o - opts);
		c->was_set[i / 64] |= 1ull << (i % 64);
	}
	return rc;
}

bool dd_config_was_set(const struct dd_config *c, const char *key)
{
	const struct opt *o = find_opt(key);
	if (o == NULL)
		return false;
	size_t i = (size_t)(o - opts);
	return (c->was_set[i / 64] >> (i % 64)) & 1;
}

int dd_config_market_chain(const struct dd_config *c, unsigned nfeeds, struct dd_chain_spec *out)
{
	memset(out, 0, sizeof(*out));
	struct dd_book_op_params bp = { .book = c->book, .nfeeds = nfeeds, .trades = c->market_rules };
	/* without trades the book's parameters stop before the field, as journals before it have them */
	int rc = dd_chain_spec_add(out, DD_OP_BOOK, &bp, bp.trades ? sizeof(bp) : DD_BOOK_OP_PARAMS_V1);
	if (rc == 0 && c->market_rules) {
		/* the patterns read the windows' results: windows first */
		struct dd_window_params wp = { .keys = c->mkeys, .nfeeds = nfeeds, .key_bytes = c->window_key_bytes };
		struct dd_cep_params cp = { .keys = c->mkeys, .nfeeds = nfeeds, .key_bytes = c->cep_key_bytes,
					    .max_patterns = DD_MR_MAX_PATTERNS };
		rc = dd_chain_spec_add(out, DD_OP_WINDOW, &wp, sizeof(wp));
		if (rc == 0)
			rc = dd_chain_spec_add(out, DD_OP_CEP, &cp, sizeof(cp));
	}
	if (rc == 0 && c->market_chain == DD_CHAIN_BOOK_TEST) {
		struct dd_test_multi_params mp = { .max = DD_TEST_MULTI_OUTPUTS };
		struct dd_test_timer_params tp = { .period_ns = DD_TEST_TIMER_PERIOD_NS };
		rc = dd_chain_spec_add(out, DD_OP_TEST_MULTI, &mp, sizeof(mp));
		if (rc == 0)
			rc = dd_chain_spec_add(out, DD_OP_TEST_TIMER, &tp, sizeof(tp));
	}
	return rc;
}

/* Refuse a value the user gave that differs from the journal's, naming both. */
static int conflict_u32(const struct dd_config *c, const char *key, uint32_t mine, uint32_t journaled,
			const char *dir, char *err, size_t errlen)
{
	if (mine == journaled || !dd_config_was_set(c, key))
		return 0;
	return fail(err, errlen,
		    "journal %s was written with %s = %u, and %s = %u was given. A journal replays with the "
		    "configuration it was written with: drop the option (the journal's value is used), or move the "
		    "journal aside to start a new one", dir, key, journaled, key, mine);
}

int dd_config_adopt_journal(struct dd_config *c, const struct dd_jconfig *j, char *err, size_t errlen)
{
	const struct dd_chain_spec *m = &j->market;
	const struct dd_book_op_params *bp = NULL;
	for (unsigned i = 0; i < m->nops; i++)
		if (m->op[i].id == DD_OP_BOOK && m->op[i].len >= DD_BOOK_OP_PARAMS_V1)
			bp = (const void *)m->op[i].params;
	if (bp == NULL) {
		fail(err, errlen, "journal %s: its market chain has no order book: not a configuration this build runs",
		     c->journal);
		return -EBADMSG;
	}
	int rc = conflict_u32(c, "capacity.instruments", c->book.max_instruments, bp->book.max_instruments, c->journal,
			      err, errlen);
	if (rc == 0)
		rc = conflict_u32(c, "capacity.orders", c->book.max_orders, bp->book.max_orders, c->journal, err, errlen);
	if (rc == 0)
		rc = conflict_u32(c, "capacity.levels", c->book.max_levels, bp->book.max_levels, c->journal, err, errlen);
	if (rc != 0)
		return rc;
	struct dd_config t = *c;
	t.book = bp->book;
	/* the window and pattern operators: the journal's capacities, and rules given iff it has them */
	const struct dd_window_params *wp = NULL;
	const struct dd_cep_params *cp = NULL;
	for (unsigned i = 0; i < m->nops; i++) {
		if (m->op[i].id == DD_OP_WINDOW && m->op[i].len == sizeof(*wp))
			wp = (const void *)m->op[i].params;
		if (m->op[i].id == DD_OP_CEP && m->op[i].len == sizeof(*cp))
			cp = (const void *)m->op[i].params;
	}
	/* a journal with market rules goes on with them (a start without --rules keeps the journal's);
	 * one without cannot take them: its chains have no window and pattern operators */
	if (wp == NULL && c->market_rules)
		return fail(err, errlen, "journal %s was written without market rules and this start has --rules: its "
			    "chains have no window or pattern operators; move the journal aside to start one with them",
			    c->journal);
	t.market_rules = wp != NULL && cp != NULL;
	if (wp != NULL && cp != NULL) {
		rc = conflict_u32(c, "cep.keys", c->mkeys, cp->keys, c->journal, err, errlen);
		if (rc != 0)
			return rc;
		/* a journal whose chain holds the partial matches but not the records alerts list (one
		 * written before alerts listed them) goes on with alerts listing none (dd_cep_use()) */
		unsigned cep_need = c->cep_key_bytes_min != 0 && c->cep_key_bytes_min < c->cep_key_bytes ? c->cep_key_bytes_min
													  : c->cep_key_bytes;
		if (cep_need > cp->key_bytes || c->window_key_bytes > wp->key_bytes)
			return fail(err, errlen, "journal %s: its chain keeps %u + %u bytes per symbol for patterns and "
				    "windows; these rules need %u + %u (set cep.key_bytes and window.key_bytes in a new "
				    "journal)", c->journal, cp->key_bytes, wp->key_bytes, cep_need, c->window_key_bytes);
		t.mkeys = cp->keys;
		t.cep_key_bytes = cp->key_bytes;
		t.window_key_bytes = wp->key_bytes;
	}
	for (unsigned k = 0; chain_names[k] != NULL; k++) {
		t.market_chain = (enum dd_market_chain)k;
		struct dd_chain_spec s;
		if (dd_config_market_chain(&t, bp->nfeeds, &s) == 0 && dd_chain_spec_equal(&s, m)) {
			if (dd_config_was_set(c, "chain.market") && t.market_chain != c->market_chain)
				return fail(err, errlen, "journal %s was written with chain.market = %s; this start asks for "
					    "chain.market = %s: drop the option, or move the journal aside", c->journal,
					    chain_names[k], chain_names[c->market_chain]);
			*c = t;
			return 0;
		}
	}
	fail(err, errlen, "journal %s: its market chain (%u operators) is not one this build offers "
	     "(chain.market: book, or book,test_multi,test_timer)", c->journal, m->nops);
	return -EBADMSG;
}

static int set_opt(struct dd_config *c, const struct opt *o, const char *key, const char *value,
		   const char *origin, char *err, size_t errlen)
{
	void *field = (char *)c + o->off;
	uint64_t v;
	bool bv;
	switch (o->type) {
	case T_UINT:
	case T_U64:
		if (!parse_u64(value, &v) || v < o->min || v > o->max)
			return fail(err, errlen, "%s: %s = '%s': must be a whole number from %llu to %llu", origin, key,
				    value, (unsigned long long)o->min, (unsigned long long)o->max);
		if (o->size == sizeof(uint64_t))
			*(uint64_t *)field = v;
		else
			*(unsigned *)field = (unsigned)v;
		return 0;
	case T_BOOL:
		if (!parse_bool(value, &bv))
			return fail(err, errlen, "%s: %s = '%s': must be yes/no, true/false, on/off or 1/0", origin,
				    key, value);
		*(bool *)field = bv;
		return 0;
	case T_PATHS: {
		/* a --rules flag adds a file (the first replaces what a config file said) */
		char *paths = field;
		bool add = strcmp(origin, "--rules") == 0 && c->rules_flagged && paths[0] != 0;
		size_t have = add ? strlen(paths) : 0;
		if (have + 1 + strlen(value) >= sizeof(c->rules))
			return fail(err, errlen, "%s: %s: the list of files is longer than %zu bytes", origin, key,
				    sizeof(c->rules) - 1);
		if (strcmp(value, "none") == 0)
			paths[0] = 0;
		else if (add)
			snprintf(paths + have, sizeof(c->rules) - have, ",%s", value);
		else
			strcpy(paths, value);
		if (strcmp(origin, "--rules") == 0)
			c->rules_flagged = true;
		return 0;
	}
	case T_PATH:
		if (strlen(value) >= DD_PATH_MAX)
			return fail(err, errlen, "%s: %s: path longer than %d bytes", origin, key, DD_PATH_MAX - 1);
		/* "none" turns a path off, as the help says (an empty value does too) */
		strcpy(field, strcmp(value, "none") == 0 ? "" : value);
		return 0;
	case T_NAME:
		if (!valid_name(value, DD_INSTANCE_MAX))
			return fail(err, errlen, "%s: %s = '%s': must be 1-%d letters, digits, '-' or '_'", origin,
				    key, value, DD_INSTANCE_MAX - 1);
		strcpy(field, value);
		return 0;
	case T_ENUM:
		for (unsigned i = 0; o->names[i] != NULL; i++)
			if (strcmp(value, o->names[i]) == 0) {
				*(unsigned *)field = i;
				return 0;
			}
		{
			char list[128] = "";
			for (unsigned i = 0; o->names[i] != NULL; i++) {
				strncat(list, i ? (o->names[i + 1] ? ", " : " or ") : "", sizeof(list) - strlen(list) - 1);
				strncat(list, o->names[i], sizeof(list) - strlen(list) - 1);
			}
			return fail(err, errlen, "%s: %s = '%s': must be %s", origin, key, value, list);
		}
	}
	return fail(err, errlen, "%s: %s: internal error", origin, key);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	for (char *e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
		*--e = '\0';
	return s;
}

int dd_config_load(struct dd_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(e));
		return -e;
	}
	char line[1024], origin[DD_PATH_MAX + 16];
	int rc = 0;
	unsigned n = 0;
	errno = 0;
	for (;;) {
		/* a line at a time, with its length: a NUL byte inside one is not taken for its end */
		size_t len = 0;
		int ch = EOF;
		while (len < sizeof(line) - 1 && (ch = getc(f)) != EOF) {
			line[len++] = (char)ch;
			if (ch == '\n')
				break;
		}
		if (len == 0)
			break;
		line[len] = '\0';
		snprintf(origin, sizeof(origin), "%s:%u", path, ++n);
		if (line[len - 1] != '\n' && ch != EOF) {
			rc = fail(err, errlen, "%s: line longer than %zu bytes", origin, sizeof(line) - 2);
			break;
		}
		if (memchr(line, '\0', len) != NULL) {
			rc = fail(err, errlen, "%s: a NUL byte: a config file is text", origin);
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			rc = fail(err, errlen, "%s: expected 'key = value', got '%s'", origin, s);
			break;
		}
		*eq = '\0';
		rc = dd_config_set(c, trim(s), trim(eq + 1), origin, err, errlen);
		if (rc != 0)
			break;
	}
	/* fopen() of a directory succeeds and the first read fails: never take that for an empty file */
	if (rc == 0 && ferror(f)) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "cannot read config file %s (after line %u): %s", path, n, strerror(e));
		rc = -e;
	}
	fclose(f);
	return rc;
}

/* "--capacity-orders" → "capacity.orders": flags write dots and underscores as dashes. */
static const struct opt *opt_of_flag(const char *flag)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const char *k = opts[i].key, *f = flag;
		for (; *k && *f; k++, f++)
			if (*f != (*k == '.' || *k == '_' ? '-' : *k))
				break;
		if (*k == '\0' && *f == '\0')
			return &opts[i];
	}
	return NULL;
}

bool dd_config_is_flag(const char *arg)
{
	static const char *const extra[] = { "--config", "--set", "--feed", "--bench-loop", NULL };
	if (strncmp(arg, "--", 2) != 0)
		return false;
	for (unsigned i = 0; extra[i] != NULL; i++)
		if (strcmp(arg, extra[i]) == 0)
			return true;
	if (opt_of_flag(arg + 2) != NULL)
		return true;
	/* --no-FLAG, as dd_config_args() takes it: a boolean's */
	const struct opt *o = strncmp(arg, "--no-", 5) == 0 ? opt_of_flag(arg + 5) : NULL;
	return o != NULL && o->type == T_BOOL;
}

/*
 * Does flag `a` take the next argument, `next`, as its value? No value of ours starts with "--",
 * so `--workers --help` is a missing value followed by --help, not a worker count of "--help".
 */
static bool takes_value(const char *a, const char *next)
{
	if (next == NULL || strncmp(next, "--", 2) == 0)
		return false;
	if (strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0 || strcmp(a, "--feed") == 0)
		return true;
	const struct opt *o = strncmp(a, "--", 2) == 0 ? opt_of_flag(a + 2) : NULL;
	return o != NULL && o->type != T_BOOL;
}

int dd_config_args(struct dd_config *c, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	int rc;
	/* --help wins over everything; then --config files are read, wherever they appear, before
	 * any flag is applied (values are skipped: `--instance -h` is an instance name). */
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			dd_config_usage(out);
			return 1;
		}
		if (takes_value(argv[i], i + 1 < argc ? argv[i + 1] : NULL))
			i++;
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			/* as takes_value() reads it: `--config --quiet` is a missing name, not a file "--quiet" */
			if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
				return fail(err, errlen, "--config needs a file name");
			if ((rc = dd_config_load(c, argv[i + 1], err, errlen)) != 0)
				return rc < 0 ? rc : -EINVAL;
		}
		if (takes_value(argv[i], i + 1 < argc ? argv[i + 1] : NULL))
			i++;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 ? argv[i + 1] : NULL;
		if (strncmp(a, "--", 2) != 0)
			return fail(err, errlen, "unexpected argument '%s' (options start with --; see --help)", a);
		if (strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strcmp(a, "--bench-loop") == 0) {
			c->mold.rewind = true;
			continue;
		}
		if (strcmp(a, "--set") == 0 || strcmp(a, "--feed") == 0) {
			if (next == NULL || strchr(next, '=') == NULL)
				return fail(err, errlen, "%s needs %s", a,
					    a[2] == 's' ? "KEY=VALUE" : "NAME=GROUP:PORT[,GROUP:PORT...]");
			char key[128];
			size_t kl = (size_t)(strchr(next, '=') - next);
			int pre = a[2] == 'f' ? snprintf(key, sizeof(key), "feed.") : 0;
			if (kl + (size_t)pre >= sizeof(key))
				return fail(err, errlen, "%s %s: key too long", a, next);
			memcpy(key + pre, next, kl);
			key[pre + (int)kl] = '\0';
			if ((rc = dd_config_set(c, key, next + kl + 1, a, err, errlen)) != 0)
				return rc;
			i++;
			continue;
		}
		const struct opt *o = opt_of_flag(a + 2);
		if (o == NULL && strncmp(a, "--no-", 5) == 0) {
			/* --no-FLAG turns a boolean off */
			o = opt_of_flag(a + 5);
			if (o != NULL && o->type == T_BOOL) {
				*(bool *)((char *)c + o->off) = false;
				continue;
			}
			o = NULL;
		}
		if (o == NULL)
			return fail(err, errlen, "unknown option '%s' (see --help)", a);
		if (o->type == T_BOOL) {
			*(bool *)((char *)c + o->off) = true;
			continue;
		}
		if (next == NULL)
			return fail(err, errlen, "%s needs a value", a);
		if ((rc = dd_config_set(c, o->key, next, a, err, errlen)) != 0)
			return rc;
		i++;
	}
	return 0;
}

/* Could one datagram match both lines? (Each field equal, or a wildcard on either side.) */
static bool lines_overlap(const struct dd_feed_line *a, const struct dd_feed_line *b)
{
	return (a->ip == 0 || b->ip == 0 || a->ip == b->ip) &&
	       (a->udp_port == 0 || b->udp_port == 0 || a->udp_port == b->udp_port) &&
	       (a->dpdk_port == DD_ANY_PORT || b->dpdk_port == DD_ANY_PORT || a->dpdk_port == b->dpdk_port);
}

/* IP[:PORT]; PORT stays as it was when absent. */
static bool parse_addr(const char *s, uint32_t *ip, uint16_t *port)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	uint64_t v;
	if (!parse_ipv4(s, n, ip))
		return false;
	if (colon == NULL)
		return true;
	if (!parse_u64(colon + 1, &v) || v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;
	/* the characters first: %x skips blanks and takes a sign, so "-e" would be the byte 0xf2 */
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return true;
}

/* The output stream's keys, parsed into c->outu (const c: the parse is a cache of what was given). */
static int check_output_udp(const struct dd_config *cc, char *err, size_t errlen)
{
	struct dd_config *c = (struct dd_config *)(uintptr_t)cc;
	struct dd_out_udp *u = &c->outu;
	memset(u, 0, sizeof(*u));
	if (c->out_udp[0] == '\0')
		return 0;
	struct dd_feed_line l;
	if (parse_line(c->out_udp, &l) != 0 || l.ip == 0 || l.udp_port == 0 || l.dpdk_port == DD_ANY_PORT)
		return fail(err, errlen, "output_udp = '%s': must be GROUP:PORT@PORTID (an IPv4 address, a UDP port, "
			    "the DPDK port to send from), e.g. 239.192.26.49:26490@1", c->out_udp);
	u->on = true;
	u->group = l.ip;
	u->port = l.udp_port;
	u->portid = l.dpdk_port;
	u->src_ip = 0xc0000201u; /* 192.0.2.1 (TEST-NET-1): set output_udp.source */
	u->src_port = l.udp_port;
	if (c->out_source[0] != '\0' && !parse_addr(c->out_source, &u->src_ip, &u->src_port))
		return fail(err, errlen, "output_udp.source = '%s': must be IP or IP:PORT", c->out_source);
	if (c->out_dst_mac[0] != '\0') {
		if (!parse_mac(c->out_dst_mac, u->dst_mac))
			return fail(err, errlen, "output_udp.dst_mac = '%s': must be six hex bytes, aa:bb:cc:dd:ee:ff",
				    c->out_dst_mac);
		u->have_mac = true;
	}
	u->req_port = (uint16_t)(l.udp_port == 65535 ? 65534 : l.udp_port + 1);
	if (c->out_request[0] == '\0' && dd_config_was_set(c, "output_udp.request"))
		u->req_off = true;
	else if (c->out_request[0] != '\0' && !parse_addr(c->out_request, &u->req_ip, &u->req_port))
		return fail(err, errlen, "output_udp.request = '%s': must be IP or IP:PORT, or none", c->out_request);
	size_t sl = strlen(c->out_session);
	if (sl != 0 && sl != 10)
		return fail(err, errlen, "output_udp.session = '%s': must be exactly 10 characters", c->out_session);
	for (size_t i = 0; i < sl; i++)
		if (c->out_session[i] <= ' ' || c->out_session[i] > '~')
			return fail(err, errlen, "output_udp.session = '%s': printable ASCII without spaces only",
				    c->out_session);
	if (c->out_mtu < 20 + 2 + 120)
		return fail(err, errlen, "output_udp.mtu = %u: at least 142 (a datagram header and the longest output "
			    "message)", c->out_mtu);
	return 0;
}

int dd_cpulist_parse(const char *s, struct dd_cpuset *set, char *err, size_t errlen)
{
	memset(set, 0, sizeof(*set));
	const char *p = s;
	for (;;) {
		char *end;
		errno = 0;
		unsigned long a = strtoul(p, &end, 10), b;
		/* a digit first: strtoul skips blanks and takes a sign, so " -0" would be CPU 0 */
		if (!isdigit((unsigned char)*p) || errno != 0)
			return fail(err, errlen, "'%s': a CPU list is numbers and ranges, e.g. 0 or 0,2-3", s);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			b = strtoul(p, &end, 10);
			if (!isdigit((unsigned char)*p) || errno != 0)
				return fail(err, errlen, "'%s': a CPU list is numbers and ranges, e.g. 0 or 0,2-3", s);
			p = end;
		}
		if (b < a)
			return fail(err, errlen, "'%s': the range %lu-%lu runs backwards", s, a, b);
		if (b >= 64 * sizeof(set->bits) / sizeof(set->bits[0]))
			return fail(err, errlen, "'%s': CPU %lu is past the last one this build knows (1023)", s, b);
		for (unsigned long c = a; c <= b; c++)
			if (!(set->bits[c / 64] & (1ull << (c % 64)))) {
				if (set->count++ == 0 || c < set->first)
					set->first = (unsigned)c;
				set->bits[c / 64] |= 1ull << (c % 64);
			}
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			return fail(err, errlen, "'%s': a CPU list is numbers and ranges, e.g. 0 or 0,2-3", s);
	}
}

int dd_config_check(const struct dd_config *c, char *err, size_t errlen)
{
	int rc;
	if (c->jio_cpus[0] != '\0') {
		struct dd_cpuset cs;
		char why[256];
		if (dd_cpulist_parse(c->jio_cpus, &cs, why, sizeof(why)) != 0)
			return fail(err, errlen, "journal.io_cpus = %s", why);
	}
	if (c->ring_size & (c->ring_size - 1))
		return fail(err, errlen, "ring_size = %u: must be a power of 2", c->ring_size);
	if (c->jring_size & (c->jring_size - 1))
		return fail(err, errlen, "journal.ring_size = %u: must be a power of 2", c->jring_size);
	if (c->journal[0] == '\0' && c->snapshot_every != 0)
		return fail(err, errlen, "snapshot_every = %llu needs a journal (--journal DIR)",
			    (unsigned long long)c->snapshot_every);
	if ((rc = check_output_udp(c, err, errlen)) != 0)
		return rc;
	if (c->nats_stream[0] == '\0' || strlen(c->nats_stream) > 64 || strpbrk(c->nats_stream, " .*>\t") != NULL)
		return fail(err, errlen, "nats.stream = '%s': must be 1-64 characters without spaces, '.', '*' or '>'",
			    c->nats_stream);
	if (c->rx_burst > c->mbufs / 4)
		return fail(err, errlen, "rx_burst = %u is too large for mbufs = %u (at most a quarter)", c->rx_burst,
			    c->mbufs);
	/* A datagram goes to the first feed with a matching line: lines that overlap across feeds
	 * would starve the later feed, and the same line twice in one feed is a mistake too. */
	for (unsigned i = 0; i < c->nfeeds; i++)
		for (unsigned j = 0; j <= i; j++)
			for (unsigned a = 0; a < c->feed[i].nlines; a++)
				for (unsigned b = 0; b < (i == j ? a : c->feed[j].nlines); b++)
					if (lines_overlap(&c->feed[i].line[a], &c->feed[j].line[b])) {
						char la[64], lb[64];
						dd_feed_line_format(&c->feed[j].line[b], lb, sizeof(lb));
						dd_feed_line_format(&c->feed[i].line[a], la, sizeof(la));
						return fail(err, errlen,
							    "feed.%s line %s and feed.%s line %s can match the same "
							    "datagrams: make them distinct", c->feed[j].name, lb,
							    c->feed[i].name, la);
					}
	return 0;
}

void dd_config_usage(FILE *out)
{
	struct dd_config d;
	dd_config_defaults(&d);
	fprintf(out,
		"usage: dadar [EAL options] -- [options]\n"
		"\n"
		"  --config FILE        read `key = value` lines from FILE (flags given here override it)\n"
		"  --set KEY=VALUE      set any key below\n"
		"  --feed NAME=LINES    define a MoldUDP64/ITCH feed; LINES = GROUP:PORT[@DPDK_PORT][,...],\n"
		"                       one per A/B line; GROUP or PORT may be '*'. Without any feed, every UDP\n"
		"                       datagram is read as MoldUDP64/ITCH (one feed, lines learned by destination)\n"
		"  --bench-loop         same as --mold-rewind (benchmarks with infinite_rx=1 captures)\n"
		"  --help               this text\n"
		"\n"
		"keys (flag form: --key-with-dashes VALUE; boolean flags take no value, --no-FLAG turns one off):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char flag[64], def[64] = "";
		size_t n = 0;
		for (const char *k = o->key; *k && n < sizeof(flag) - 1; k++)
			flag[n++] = (*k == '.' || *k == '_') ? '-' : *k;
		flag[n] = '\0';
		const void *field = (const char *)&d + o->off;
		switch (o->type) {
		case T_UINT:
			snprintf(def, sizeof(def), "%u", *(const unsigned *)field);
			break;
		case T_U64:
			snprintf(def, sizeof(def), "%llu", (unsigned long long)*(const uint64_t *)field);
			break;
		case T_BOOL:
			snprintf(def, sizeof(def), "%s", *(const bool *)field ? "yes" : "no");
			break;
		case T_ENUM:
			snprintf(def, sizeof(def), "%s", o->names[*(const unsigned *)field]);
			break;
		case T_PATH:
		case T_PATHS:
		case T_NAME:
			snprintf(def, sizeof(def), "%s", *(const char *)field ? (const char *)field : "none");
			break;
		}
		fprintf(out, "  %-24s --%-24s default %s\n      %s\n", o->key, flag, def, o->help);
	}
}
