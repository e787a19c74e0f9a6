/* SPDX-License-Identifier: MIT */
/*
 * bench_stream: what publishing released outputs costs. Two parts, in one run.
 *
 * 1. The release lcore's share, per output, without DPDK: what dd_journal's out_line() and
 *    dataplane/dpdk/outtx.c do for the output stream, next to what --output does per output.
 *      encode         dd_outw_encode into a message buffer
 *      encode+molddg  the same, then dd_molddg_add; when the datagram is full (-ENOSPC),
 *                     dd_molddg_flush, the datagram copied into a preallocated frame buffer behind
 *                     room for its headers and dd_framew_build_udp around it, as outtx.c's
 *                     enqueue() does into an mbuf before the tx burst (the burst is not measured)
 *      stream         dd_outhist_put (the history the request server and the JetStream bridge
 *                     read, output_udp.history's default 65,536 slots), then encode+molddg: the
 *                     whole per-output work of the release stage for the stream
 *      stream/32      stream, with the open datagram also closed every 32 outputs: what
 *                     dd_outtx_poll() does when the lcore's loop comes round with fewer outputs
 *                     than a full datagram holds (smaller datagrams, a frame built more often)
 *      json           dd_output_json into a 256 KiB buffer (the journal lcore's OUTBUF), started
 *                     over when the next line might not fit: the line --output writes (the write
 *                     itself, by io_uring, is not measured)
 *    Outputs: a seeded mix built in memory, 90% bbo (the book, 1,000 instruments, Zipf-like),
 *    6% fraud decisions, 4% market alerts (patterns and measures of --rules, registered with
 *    dd_output_json_rules so the JSON names them as the daemon does). The first --distinct of them
 *    are cycled through (an L2-sized working set, as outputs just taken from the journal's ring
 *    are), with output numbers and LSNs growing. Before anything is timed one pass of the stream
 *    mode is checked: every datagram valid MoldUDP64, every message decoding to the output it came
 *    from. Every mode runs once per round, in rotating order; 2 rounds warm up, then --passes
 *    rounds; each figure is the median over the rounds of ns per output. The loops are functions
 *    of their own (run_encode, run_molddg, run_stream, run_stream32, run_json) for callgrind's
 *    --toggle-collect.
 *
 * 2. The JetStream bridge's throughput to a local nats-server. The benchmark starts
 *    `nats-server -js` on a free port of 127.0.0.1 with a temporary store (under $TMPDIR or
 *    --dir), and stops it at the end. A history of --nats-outputs outputs (large enough that
 *    nothing falls out) is filled once. Measurements, each into a fresh stream made with the
 *    bridge's own stream configuration and deleted after (so JetStream's duplicate window never
 *    sees an earlier run's ids), then checked to hold exactly N messages:
 *      bridge         dd_natsb_start (first_seq 1, no journal) and polled every millisecond
 *                     until dd_natsb_stats says acked_seq == N: N / that time (its connect is
 *                     included: it makes its own connection)
 *      async          the peer a user would write: connect, then for each output dd_output_json
 *                     (newline cut, as the bridge does), a natsMsg on dadar.<instance>.<type> with
 *                     the Nats-Msg-Id header, js_PublishMsgAsync; one js_PublishAsyncComplete at
 *                     the end. PublishAsync.MaxPending unlimited (libnats' default)
 *      async/256      the same with PublishAsync.MaxPending 256 (libnats' README's value, and
 *                     the bridge's batch)
 *      sync           js_Publish with jsPubOptions.MsgId, one acknowledged publish at a time, for
 *                     --sync-outputs outputs: the naive baseline
 *    --nats-runs rounds of the four, interleaved; medians over the rounds.
 *
 * usage: bench_stream [--outputs N] [--distinct N] [--passes N] [--mtu B] [--rules FILE] [--seed S]
 *                     [--nats-outputs N] [--nats-runs N] [--sync-outputs N] [--no-nats]
 *                     [--nats-server PATH] [--dir DIR] [--json FILE]
 *   --outputs       outputs per pass of part 1 (default 1,000,000)
 *   --distinct      outputs cycled through in part 1 (default 8,192; a power of two)
 *   --passes        timed rounds of part 1 (default 11)
 *   --mtu           output_udp.mtu (default 1400, the daemon's)
 *   --nats-outputs  N of part 2 (default 200,000); --nats-runs rounds (default 3)
 *   --sync-outputs  outputs of the sync baseline (default 5,000; 0: skip it)
 *   --no-nats       part 1 only (for callgrind)
 *   --nats-server   the server to start (default nats-server from $PATH)
 *   --dir           where the temporary store goes (default $TMPDIR or /tmp; removed after)
 * Without nats-server part 2 is skipped with a message and the JSON says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "dataplane/journal/recovery.h"
#include "dataplane/out/natsb.h"
#include "dataplane/out/outhist.h"
#include "dataplane/wire/framew.h"
#include "dataplane/wire/molddg.h"
#include "dataplane/wire/outwire.h"
#include "ops/cep/mrules.h"
#include "ops/fraud/fraud.h"
#include "ops/fraud/rules.h"
#include "ops/op.h"
#include "ops/output.h"

static const char *prog = "bench_stream";

#define WARMUP 2u
#define HIST_SLOTS 65536u     /* output_udp.history's default */
#define JSON_BUF (256u << 10) /* the journal lcore's OUTBUF */
#define INSTANCE "bench"
#define ACK_TIMEOUT_S 120.0

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
		fprintf(stderr, "%s: out of memory (%zu bytes)\n", prog, n);
		exit(1);
	}
	memset(p, 0, (n + 63) & ~(size_t)63);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
	double s[64];
	if (n == 0)
		return 0;
	if (n > 64)
		n = 64;
	memcpy(s, v, n * sizeof(s[0]));
	qsort(s, n, sizeof(s[0]), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- the outputs ------------------------------------------------------------------------------------ */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double urnd(void)
{
	return ((double)(rnd() >> 11) + 0.5) * 0x1.0p-53;
}

#define INSTRUMENTS 1000u

struct gen {
	uint64_t seq, event_ns, cause, txn;
	uint32_t base_price[INSTRUMENTS + 1];
};

/* The ITCH locate of an event: the busiest instruments take most of the flow (u^3). */
static uint16_t locate(void)
{
	double u = urnd();
	return (uint16_t)(1 + (unsigned)(u * u * u * INSTRUMENTS) % INSTRUMENTS);
}

static void symbol_of(uint16_t loc, char sym[8])
{
	char tmp[16];
	snprintf(tmp, sizeof(tmp), "S%04u   ", (unsigned)loc);
	memcpy(sym, tmp, 8);
}

/* Output i of the stream; everything the wire does not carry is zero, so decode(encode(o)) == o. */
static void make_output(struct gen *g, const struct dd_mrules *mr, struct dd_output *o)
{
	memset(o, 0, sizeof(*o));
	g->seq += 1 + rnd() % 3;
	g->event_ns += 200 + rnd() % 4000;
	g->cause += 2 + rnd() % 3;
	o->seq = g->seq;
	o->event_ns = g->event_ns;
	o->cause = g->cause;
	o->rx_tsc = 0;
	unsigned r = (unsigned)(rnd() % 100);
	if (r < 90) {
		struct dd_out_bbo *b = &o->u.bbo;
		uint16_t loc = locate();
		o->type = DD_OUT_BBO;
		o->op = DD_OP_BOOK;
		o->key = loc;
		uint32_t mid = g->base_price[loc] + (uint32_t)(rnd() % 2000) * 100;
		b->bid_price = mid - 100 * (uint32_t)(1 + rnd() % 5);
		b->ask_price = mid + 100 * (uint32_t)(1 + rnd() % 5);
		b->bid_shares = 100 * (1 + rnd() % 200);
		b->ask_shares = 100 * (1 + rnd() % 200);
		b->bid_orders = (uint32_t)(1 + rnd() % 30);
		b->ask_orders = (uint32_t)(1 + rnd() % 30);
		b->locate = loc;
	} else if (r < 96) {
		struct dd_out_decision *d = &o->u.decision;
		o->type = DD_OUT_DECISION;
		o->op = DD_OP_FRAUD;
		o->rule_version = 1;
		d->txn_id = ++g->txn + 900000000000ull;
		d->payer = 1 + rnd() % 1000000;
		o->key = (uint32_t)(d->payer * 0x9E3779B1u);
		d->amount = (int64_t)(18000.0 * exp(1.2 * (sqrt(-2.0 * log(urnd())) * cos(2.0 * M_PI * urnd()))));
		d->merchant = rnd() % 100 < 55 ? 1 + rnd() % 100000 : 0;
		d->device = 1 + rnd() % 1100000;
		d->reasons = 1u << DD_R_NEW_DEVICE;
		if (d->merchant != 0)
			d->reasons |= 1u << DD_R_MERCHANT_CATEGORY;
		if (rnd() % 20 == 0)
			d->reasons |= 1u << DD_R_VELOCITY_HOUR_COUNT;
		d->score = (uint16_t)(10 + rnd() % 50);
		d->action = d->score > 50 ? DD_ACT_VERIFY : DD_ACT_APPROVE;
		d->mcc = d->merchant != 0 ? 5411 : 0;
		memcpy(d->currency, "INR", 3);
	} else {
		struct dd_out_alert *a = &o->u.alert;
		uint16_t loc = locate();
		unsigned np = mr != NULL && mr->npatterns > 0 ? mr->npatterns : 10;
		o->type = DD_OUT_ALERT;
		o->op = DD_OP_CEP;
		o->rule = (uint16_t)(rnd() % np);
		o->rule_version = mr != NULL ? (uint16_t)mr->version : 1;
		o->key = loc;
		symbol_of(loc, o->symbol);
		a->last_ns = g->event_ns;
		a->first_ns = g->event_ns - 1000000 * (1 + rnd() % 100);
		a->first_seq = g->seq > 5000 ? g->seq - rnd() % 5000 : 1;
		a->events = (uint32_t)(2 + rnd() % 6);
		a->nmeasures = mr != NULL ? mr->pattern[o->rule].nmeasures : 2;
		for (unsigned i = 0; i < a->nmeasures && i < 4; i++)
			a->measure[i] = (int64_t)(rnd() % 5000000);
	}
}

/* ---- part 1: the release lcore's work per output -------------------------------------------------- */

struct hot {
	struct dd_molddg mold;
	struct dd_framew_flow flow;
	uint16_t ip_id;
	uint64_t n, lsn;          /* the last output number and LSN given */
	uint64_t frames, frame_bytes, messages;
	uint64_t encoded;         /* bytes encoded (encode mode) */
	uint64_t json_bytes;
	size_t jlen;
	struct dd_outhist *hist;
	char *jbuf;
	alignas(64) uint8_t frame[DD_FRAMEW_FRAME_MAX];
};

/* outtx.c's close_datagram() + enqueue(), with a preallocated buffer in place of the mbuf. */
static inline void close_datagram(struct hot *h)
{
	const uint8_t *dg;
	uint64_t ts;
	size_t len = dd_molddg_flush(&h->mold, &dg, &ts);
	if (len == 0)
		return;
	size_t hdr = DD_FRAMEW_UDP_HDR(0);
	memcpy(h->frame + hdr, dg, len);
	int n = dd_framew_build_udp(h->frame, sizeof(h->frame), &h->flow, h->ip_id++, h->frame + hdr, len);
	if (n < 0) {
		fprintf(stderr, "%s: dd_framew_build_udp(%zu bytes) failed: %s\n", prog, len, strerror(-n));
		exit(1);
	}
	h->frames++;
	h->frame_bytes += (uint64_t)n;
}

/* outtx.c's dd_outtx_add() */
static inline void stream_add(struct hot *h, uint64_t lsn, const struct dd_output *o)
{
	uint8_t msg[DD_OUTW_MAX_LEN];
	size_t len = dd_outw_encode(msg, lsn, o);
	if (len == 0)
		return;
	if (dd_molddg_add(&h->mold, msg, len, 0) == -ENOSPC) {
		close_datagram(h);
		dd_molddg_add(&h->mold, msg, len, 0);
	}
	h->messages++;
}

__attribute__((noinline)) static void run_encode(struct hot *h, const struct dd_output *outs, uint64_t mask,
						 uint64_t count)
{
	uint8_t msg[DD_OUTW_MAX_LEN];
	uint64_t bytes = 0;
	for (uint64_t i = 0; i < count; i++) {
		size_t len = dd_outw_encode(msg, ++h->lsn, &outs[i & mask]);
		bytes += len + msg[len - 1];
	}
	h->encoded += bytes;
}

__attribute__((noinline)) static void run_molddg(struct hot *h, const struct dd_output *outs, uint64_t mask,
						 uint64_t count)
{
	for (uint64_t i = 0; i < count; i++)
		stream_add(h, ++h->lsn, &outs[i & mask]);
	close_datagram(h);
}

__attribute__((noinline)) static void run_stream(struct hot *h, const struct dd_output *outs, uint64_t mask,
						 uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		const struct dd_output *o = &outs[i & mask];
		uint64_t lsn = ++h->lsn;
		dd_outhist_put(h->hist, ++h->n, lsn, o);
		stream_add(h, lsn, o);
	}
	close_datagram(h);
}

__attribute__((noinline)) static void run_stream32(struct hot *h, const struct dd_output *outs, uint64_t mask,
						   uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		const struct dd_output *o = &outs[i & mask];
		uint64_t lsn = ++h->lsn;
		dd_outhist_put(h->hist, ++h->n, lsn, o);
		stream_add(h, lsn, o);
		if ((i & 31) == 31)
			close_datagram(h);
	}
	close_datagram(h);
}

__attribute__((noinline)) static void run_json(struct hot *h, const struct dd_output *outs, uint64_t mask,
					       uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		if (JSON_BUF - h->jlen < DD_OUTPUT_JSON_MAX)
			h->jlen = 0; /* the daemon hands the full half to io_uring here */
		int n = dd_output_json(h->jbuf + h->jlen, JSON_BUF - h->jlen, ++h->lsn, &outs[i & mask]);
		h->jlen += (size_t)n;
		h->json_bytes += (uint64_t)n;
	}
}

typedef void (*run_fn)(struct hot *h, const struct dd_output *outs, uint64_t mask, uint64_t count);

enum { M_ENCODE, M_MOLDDG, M_STREAM, M_STREAM32, M_JSON, M__COUNT };

static const struct mode {
	const char *name, *key;
	run_fn fn;
} modes[M__COUNT] = {
	[M_ENCODE] = { "encode", "encode", run_encode },
	[M_MOLDDG] = { "encode+molddg", "encode_molddg", run_molddg },
	[M_STREAM] = { "stream", "stream", run_stream },
	[M_STREAM32] = { "stream/32", "stream_close32", run_stream32 },
	[M_JSON] = { "json", "json", run_json },
};

static void hot_init(struct hot *h, size_t mtu)
{
	if (dd_molddg_init(&h->mold, "BENCH", 1, mtu) != 0) {
		fprintf(stderr, "%s: --mtu %zu: MoldUDP64 datagrams take %u..%u bytes\n", prog, mtu,
			DD_MOLDDG_MIN_PAYLOAD, DD_MOLDDG_MAX_PAYLOAD);
		exit(2);
	}
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 1 };
	memcpy(h->flow.src_mac, src, 6);
	h->flow.src_ip = 0x0a000001;    /* 10.0.0.1 */
	h->flow.dst_ip = 0xef010203;    /* 239.1.2.3 */
	dd_framew_mcast_mac(h->flow.dst_ip, h->flow.dst_mac);
	h->flow.src_port = 30000;
	h->flow.dst_port = 31000;
}

/* One untimed pass of the stream path over `n` outputs: every datagram valid, every message the output. */
static void check_stream(const struct dd_output *outs, uint64_t n, size_t mtu)
{
	struct dd_molddg *m = xalloc(sizeof(*m));
	if (dd_molddg_init(m, "BENCH", 1, mtu) != 0)
		exit(2);
	uint64_t next = 0, checked = 0;
	for (uint64_t i = 0; i <= n; i++) {
		uint8_t msg[DD_OUTW_MAX_LEN];
		size_t len = i < n ? dd_outw_encode(msg, 3 * (i + 1), &outs[i]) : 0;
		if (i < n && dd_molddg_add(m, msg, len, 0) == 0)
			continue;
		const uint8_t *dg;
		uint64_t ts;
		size_t dlen = dd_molddg_flush(m, &dg, &ts);
		if (dlen == 0 || !dd_molddg_valid(dg, dlen)) {
			fprintf(stderr, "%s: check: datagram of %zu bytes is not valid MoldUDP64\n", prog, dlen);
			exit(1);
		}
		unsigned count = (unsigned)dg[18] << 8 | dg[19];
		size_t off = DD_MOLDDG_HDR_LEN;
		for (unsigned k = 0; k < count; k++, next++) {
			size_t ml = (size_t)dg[off] << 8 | dg[off + 1];
			struct dd_output o;
			uint64_t lsn;
			int rc = dd_outw_decode(dg + off + 2, ml, &lsn, &o);
			if (rc != 0 || lsn != 3 * (next + 1) || !dd_output_same(&o, &outs[next])) {
				fprintf(stderr, "%s: check: message %llu does not decode to its output (%s)\n", prog,
					(unsigned long long)next, rc ? dd_outw_strerror(rc) : "fields differ");
				exit(1);
			}
			off += 2 + ml;
			checked++;
		}
		if (i < n && dd_molddg_add(m, msg, len, 0) != 0) {
			fprintf(stderr, "%s: check: a message of %zu bytes does not fit an empty datagram\n", prog, len);
			exit(1);
		}
	}
	if (checked != n) {
		fprintf(stderr, "%s: check: %llu of %llu messages came out\n", prog, (unsigned long long)checked,
			(unsigned long long)n);
		exit(1);
	}
	free(m);
}

/* ---- part 2: nats-server ------------------------------------------------------------------------------ */

static pid_t server_pid;
static char store_dir[512];
static bool keep_store;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		int status;
		for (int i = 0; i < 500 && waitpid(server_pid, &status, WNOHANG) == 0; i++)
			usleep(10000);
		if (waitpid(server_pid, &status, WNOHANG) == 0) {
			kill(server_pid, SIGKILL);
			waitpid(server_pid, &status, 0);
		}
		server_pid = 0;
	}
	if (store_dir[0] != '\0' && !keep_store)
		nftw(store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	store_dir[0] = '\0';
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/*
 * Start `server -js` on a free port with a store under `parent`; connect `*nc` to it once it
 * answers with JetStream on. Returns 0, or -errno with `why` saying what is missing.
 */
static int start_server(const char *server, const char *parent, char *url, size_t urllen, natsConnection **nc,
			jsCtx **js, char *why, size_t whylen)
{
	snprintf(store_dir, sizeof(store_dir), "%s/dadar-bench-stream-XXXXXX", parent);
	if (mkdtemp(store_dir) == NULL) {
		snprintf(why, whylen, "mkdtemp(%s) failed: %s (give --dir a writable directory)", store_dir,
			 strerror(errno));
		store_dir[0] = '\0';
		return -errno;
	}
	int port = free_port();
	if (port < 0) {
		snprintf(why, whylen, "no free TCP port on 127.0.0.1: %s", strerror(errno));
		return -EADDRINUSE;
	}
	char log[600], portstr[16];
	snprintf(log, sizeof(log), "%s/nats-server.log", store_dir);
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(url, urllen, "nats://127.0.0.1:%d", port);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork failed: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* the benchmark gone (Ctrl-C, a crash): so is the server */
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp(server, server, "-js", "-a", "127.0.0.1", "-p", portstr, "-sd", store_dir, (char *)NULL);
		_exit(127);
	}
	server_pid = pid;
	for (int i = 0; i < 200; i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			server_pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
				snprintf(why, whylen, "cannot run %s (Debian: apt-get install nats-server, or give --nats-server PATH)",
					 server);
			else
				snprintf(why, whylen, "%s exited at start (status %d): see %s", server, status, log);
			keep_store = WEXITSTATUS(status) != 127;
			return -ECHILD;
		}
		if (natsConnection_ConnectTo(nc, url) == NATS_OK)
			break;
		*nc = NULL;
		usleep(50000);
	}
	if (*nc == NULL) {
		snprintf(why, whylen, "%s did not answer on %s within 10 s: see %s", server, url, log);
		keep_store = true;
		return -ETIMEDOUT;
	}
	if (natsConnection_JetStream(js, *nc, NULL) != NATS_OK) {
		snprintf(why, whylen, "no JetStream context on %s", url);
		return -EPROTO;
	}
	for (int i = 0; i < 100; i++) {
		jsAccountInfo *ai = NULL;
		if (js_GetAccountInfo(&ai, *js, NULL, NULL) == NATS_OK) {
			jsAccountInfo_Destroy(ai);
			return 0;
		}
		usleep(50000);
	}
	snprintf(why, whylen, "%s on %s does not answer JetStream requests: see %s", server, url, log);
	keep_store = true;
	return -EPROTO;
}

/* A stream as the bridge's ensure_stream() makes it. */
static void make_stream(jsCtx *js, const char *name)
{
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	const char *subjects[] = { "dadar.>" };
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus s = js_AddStream(&si, js, &cfg, NULL, &ec);
	if (s != NATS_OK) {
		fprintf(stderr, "%s: creating stream %s: %s (JetStream error %d)\n", prog, name, natsStatus_GetText(s),
			(int)ec);
		exit(1);
	}
	jsStreamInfo_Destroy(si);
}

/* The stream must hold exactly `n` messages; then it goes. */
static void check_and_drop_stream(jsCtx *js, const char *name, uint64_t n, const char *who)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus s = js_GetStreamInfo(&si, js, name, NULL, &ec);
	if (s != NATS_OK) {
		fprintf(stderr, "%s: %s: stream %s: %s\n", prog, who, name, natsStatus_GetText(s));
		exit(1);
	}
	uint64_t msgs = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	if (msgs != n) {
		fprintf(stderr, "%s: %s: stream %s holds %llu messages, not %llu\n", prog, who, name,
			(unsigned long long)msgs, (unsigned long long)n);
		exit(1);
	}
	if ((s = js_DeleteStream(js, name, NULL, &ec)) != NATS_OK) {
		fprintf(stderr, "%s: deleting stream %s: %s\n", prog, name, natsStatus_GetText(s));
		exit(1);
	}
}

struct bridge_run {
	double rate;
	uint64_t resent, errors, lost;
};

static struct bridge_run run_bridge(const char *url, const char *stream, const struct dd_outhist *hist,
				    uint64_t slots, uint64_t n)
{
	struct dd_natsb_params p = { .url = url, .stream = stream, .instance = INSTANCE, .session = "BENCH",
				     .hist = hist, .hist_slots = slots, .journal = NULL, .base = 0, .first_seq = 1 };
	struct dd_natsb *b = NULL;
	struct dd_natsb_stats st;
	char err[256];
	double t0 = now_s();
	if (dd_natsb_start(&b, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: dd_natsb_start: %s\n", prog, err);
		exit(1);
	}
	for (;;) {
		dd_natsb_stats(b, &st);
		if (st.acked_seq >= n)
			break;
		if (now_s() - t0 > ACK_TIMEOUT_S) {
			fprintf(stderr, "%s: bridge: %llu of %llu acknowledged after %.0f s (last error: %s)\n", prog,
				(unsigned long long)st.acked_seq, (unsigned long long)n, ACK_TIMEOUT_S, st.last_error);
			exit(1);
		}
		usleep(1000);
	}
	double t = now_s() - t0;
	dd_natsb_stop(b, n, 1000);
	dd_natsb_stats(b, &st);
	dd_natsb_free(b);
	return (struct bridge_run){ (double)n / t, st.resent, st.errors, st.lost };
}

static atomic_uint peer_errors;

static void on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pae;
	(void)closure;
	atomic_fetch_add_explicit(&peer_errors, 1, memory_order_relaxed); /* a count: no ordering */
}

/* The peer: a plain libnats loop. max_pending 0: unlimited. sync: js_Publish one at a time. */
static double run_peer(const char *url, const char *stream, const struct dd_output *outs, uint64_t n,
		       int64_t max_pending, bool sync)
{
	(void)stream;
	char epoch[64];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(epoch, sizeof(epoch), "peer-%lld%09ld", (long long)ts.tv_sec, ts.tv_nsec);
	atomic_store_explicit(&peer_errors, 0, memory_order_relaxed);

	double t0 = now_s();
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = max_pending;
	jo.PublishAsync.ErrHandler = on_pub_err;
	natsStatus s = natsConnection_ConnectTo(&nc, url);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK) {
		fprintf(stderr, "%s: peer: connecting to %s: %s\n", prog, url, natsStatus_GetText(s));
		exit(1);
	}
	for (uint64_t i = 1; i <= n && s == NATS_OK; i++) {
		const struct dd_output *o = &outs[i - 1];
		char line[DD_OUTPUT_JSON_MAX], subj[160], id[96];
		int len = dd_output_json(line, sizeof(line), 3 * i, o);
		if (len > 0 && line[len - 1] == '\n')
			len--;
		snprintf(subj, sizeof(subj), "dadar." INSTANCE ".%s", dd_output_type_name(o->type));
		snprintf(id, sizeof(id), "%s:%" PRIu64, epoch, i);
		if (sync) {
			jsPubOptions po;
			jsPubOptions_Init(&po);
			po.MsgId = id;
			jsPubAck *pa = NULL;
			jsErrCode ec = 0;
			s = js_Publish(&pa, js, subj, line, len, &po, &ec);
			jsPubAck_Destroy(pa);
			continue;
		}
		natsMsg *m = NULL;
		s = natsMsg_Create(&m, subj, NULL, line, len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
		if (s == NATS_OK)
			s = js_PublishMsgAsync(js, &m, NULL);
		natsMsg_Destroy(m); /* NULL once the library took it */
	}
	if (s == NATS_OK && !sync) {
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = (int64_t)(ACK_TIMEOUT_S * 1000);
		s = js_PublishAsyncComplete(js, &po);
	}
	double t = now_s() - t0;
	if (s != NATS_OK || atomic_load_explicit(&peer_errors, memory_order_relaxed) != 0) {
		fprintf(stderr, "%s: peer (%s): %s, %u messages refused\n", prog, sync ? "sync" : "async",
			natsStatus_GetText(s), atomic_load_explicit(&peer_errors, memory_order_relaxed));
		exit(1);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return (double)n / t;
}

/* ---- main ------------------------------------------------------------------------------------------ */

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0, r;
	char *p = malloc(cap);
	while (p != NULL && (r = fread(p + n, 1, cap - n, f)) > 0)
		if ((n += r) == cap)
			p = realloc(p, cap *= 2);
	fclose(f);
	*len = n;
	return p;
}

static void json_runs(FILE *f, const double *v, unsigned n)
{
	fputc('[', f);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s%.0f", i ? ", " : "", v[i]);
	fputc(']', f);
}

#define MAX_RUNS 16

int main(int argc, char **argv)
{
	uint64_t noutputs = 1000000, distinct = 8192, nnats = 200000, nsync = 5000, seed = 42;
	unsigned passes = 11, nruns = 3;
	size_t mtu = 1400;
	bool nats = true;
	const char *json = NULL, *rules = "rules/market.rules", *server = "nats-server", *dir = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--no-nats") == 0) {
			nats = false;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", prog, a);
			return 2;
		}
		const char *v = argv[++i];
		if (strcmp(a, "--outputs") == 0)
			noutputs = strtoull(v, NULL, 10);
		else if (strcmp(a, "--distinct") == 0)
			distinct = strtoull(v, NULL, 10);
		else if (strcmp(a, "--passes") == 0)
			passes = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--mtu") == 0)
			mtu = strtoul(v, NULL, 10);
		else if (strcmp(a, "--rules") == 0)
			rules = v;
		else if (strcmp(a, "--seed") == 0)
			seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--nats-outputs") == 0)
			nnats = strtoull(v, NULL, 10);
		else if (strcmp(a, "--nats-runs") == 0)
			nruns = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--sync-outputs") == 0)
			nsync = strtoull(v, NULL, 10);
		else if (strcmp(a, "--nats-server") == 0)
			server = v;
		else if (strcmp(a, "--dir") == 0)
			dir = v;
		else if (strcmp(a, "--json") == 0)
			json = v;
		else {
			fprintf(stderr, "usage: %s [--outputs N] [--distinct N] [--passes N] [--mtu B] [--rules FILE] "
				"[--seed S] [--nats-outputs N] [--nats-runs N] [--sync-outputs N] [--no-nats] "
				"[--nats-server PATH] [--dir DIR] [--json FILE]\n", prog);
			return 2;
		}
	}
	if (noutputs == 0 || passes == 0 || passes > 64 || distinct == 0 || (distinct & (distinct - 1)) != 0 ||
	    nnats == 0 || nruns == 0 || nruns > MAX_RUNS || (nsync > nnats)) {
		fprintf(stderr, "%s: --outputs, --nats-outputs must be >= 1, --passes 1..64, --nats-runs 1..%u, "
			"--distinct a power of two, --sync-outputs at most --nats-outputs\n", prog, MAX_RUNS);
		return 2;
	}
	if (mtu < DD_MOLDDG_HDR_LEN + 2 + DD_OUTW_MAX_LEN || mtu > DD_MOLDDG_MAX_PAYLOAD) {
		fprintf(stderr, "%s: --mtu %zu: give %d..%d (a datagram must hold the longest message)\n", prog, mtu,
			DD_MOLDDG_HDR_LEN + 2 + DD_OUTW_MAX_LEN, DD_MOLDDG_MAX_PAYLOAD);
		return 2;
	}

	/* the market rules name the alerts, as in the daemon */
	size_t tlen = 0;
	char *text = read_text(rules, &tlen);
	if (text == NULL) {
		fprintf(stderr, "%s: cannot read %s: %s (run from the repository root, or give --rules FILE)\n", prog,
			rules, strerror(errno));
		return 2;
	}
	struct dd_mrules *mr = xalloc(sizeof(*mr));
	char err[512];
	unsigned nerr = 0;
	if (dd_mrules_compile(text, tlen, rules, mr, err, sizeof(err), &nerr, NULL, NULL) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	free(text);
	dd_output_json_rules(mr);

	uint64_t ngen = nats && nnats > distinct ? nnats : distinct;
	struct dd_output *outs = xalloc(ngen * sizeof(*outs));
	struct gen *g = xalloc(sizeof(*g));
	rng = seed;
	for (unsigned i = 1; i <= INSTRUMENTS; i++)
		g->base_price[i] = (uint32_t)(10 + rnd() % 490) * 10000;
	g->event_ns = 34200ull * 1000000000ull; /* 09:30 */
	g->seq = 1000000;
	g->cause = 10000000;
	for (uint64_t i = 0; i < ngen; i++)
		make_output(g, mr, &outs[i]);
	unsigned mix[DD_OUT__COUNT] = { 0 };
	uint64_t msg_bytes = 0;
	for (uint64_t i = 0; i < distinct; i++) {
		mix[outs[i].type]++;
		msg_bytes += dd_outw_len(outs[i].type);
	}

	/* ---- part 1 ---- */
	check_stream(outs, distinct, mtu);
	struct hot *h = xalloc(sizeof(*h));
	hot_init(h, mtu);
	h->hist = dd_outhist_init(xalloc(dd_outhist_bytes(HIST_SLOTS)), HIST_SLOTS);
	h->jbuf = xalloc(JSON_BUF);
	double t[M__COUNT][64];
	uint64_t frames[M__COUNT] = { 0 }, fbytes[M__COUNT] = { 0 }, jbytes = 0;
	for (unsigned r = 0; r < WARMUP + passes; r++) {
		for (unsigned k = 0; k < M__COUNT; k++) {
			unsigned m = (k + r) % M__COUNT;
			uint64_t f0 = h->frames, b0 = h->frame_bytes, j0 = h->json_bytes;
			double t0 = now_s();
			modes[m].fn(h, outs, distinct - 1, noutputs);
			double dt = now_s() - t0;
			if (r < WARMUP)
				continue;
			t[m][r - WARMUP] = dt * 1e9 / (double)noutputs;
			frames[m] += h->frames - f0;
			fbytes[m] += h->frame_bytes - b0;
			if (m == M_JSON)
				jbytes += h->json_bytes - j0;
		}
	}
	double ns[M__COUNT];
	for (unsigned m = 0; m < M__COUNT; m++)
		ns[m] = median(t[m], passes);
	double total = (double)noutputs * passes;
	printf("%s: part 1, the release lcore per output: %llu outputs a pass (%llu distinct: %u bbo, %u decisions, "
	       "%u alerts), mtu %zu, median of %u passes\n", prog, (unsigned long long)noutputs,
	       (unsigned long long)distinct, mix[DD_OUT_BBO], mix[DD_OUT_DECISION], mix[DD_OUT_ALERT], mtu, passes);
	printf("  %-15s %10s %12s %16s\n", "mode", "ns/output", "outputs/s", "bytes/output");
	for (unsigned m = 0; m < M__COUNT; m++) {
		double bytes = m == M_JSON ? (double)jbytes / total
			       : m == M_ENCODE ? (double)msg_bytes / (double)distinct : (double)fbytes[m] / total;
		char extra[64] = "";
		if (frames[m])
			snprintf(extra, sizeof(extra), "  (%.1f outputs/frame)", total / (double)frames[m]);
		printf("  %-15s %10.2f %12.0f %16.1f%s\n", modes[m].name, ns[m], 1e9 / ns[m], bytes, extra);
	}
	printf("  json / stream: %.2fx\n", ns[M_JSON] / ns[M_STREAM]);

	/* ---- part 2 ---- */
	double rb[MAX_RUNS], ra[MAX_RUNS], ra256[MAX_RUNS], rs[MAX_RUNS];
	uint64_t b_resent = 0, b_errors = 0, b_lost = 0;
	char why[1400] = "";
	bool nats_done = false;
	uint64_t slots = 16;
	while (slots < nnats)
		slots <<= 1;
	if (nats) {
		char url[64];
		natsConnection *nc = NULL;
		jsCtx *js = NULL;
		const char *parent = dir ? dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		atexit(stop_server);
		if (start_server(server, parent, url, sizeof(url), &nc, &js, why, sizeof(why)) != 0) {
			fprintf(stderr, "%s: part 2 (JetStream) skipped: %s\n", prog, why);
			stop_server();
		} else {
			struct dd_outhist *hist = dd_outhist_init(xalloc(dd_outhist_bytes(slots)), slots);
			for (uint64_t n = 1; n <= nnats; n++)
				dd_outhist_put(hist, n, 3 * n, &outs[n - 1]);
			printf("%s: part 2, JetStream: %s -js on %s, store %s; %llu outputs, %u rounds\n", prog,
			       server, url, store_dir, (unsigned long long)nnats, nruns);
			for (unsigned r = 0; r < nruns; r++) {
				char name[64];
				snprintf(name, sizeof(name), "BENCH_BRIDGE_%u", r);
				make_stream(js, name);
				struct bridge_run br = run_bridge(url, name, hist, slots, nnats);
				check_and_drop_stream(js, name, nnats, "bridge");
				rb[r] = br.rate;
				b_resent += br.resent;
				b_errors += br.errors;
				b_lost += br.lost;

				snprintf(name, sizeof(name), "BENCH_ASYNC_%u", r);
				make_stream(js, name);
				ra[r] = run_peer(url, name, outs, nnats, 0, false);
				check_and_drop_stream(js, name, nnats, "async");

				snprintf(name, sizeof(name), "BENCH_ASYNC256_%u", r);
				make_stream(js, name);
				ra256[r] = run_peer(url, name, outs, nnats, 256, false);
				check_and_drop_stream(js, name, nnats, "async/256");

				rs[r] = 0;
				if (nsync > 0) {
					snprintf(name, sizeof(name), "BENCH_SYNC_%u", r);
					make_stream(js, name);
					rs[r] = run_peer(url, name, outs, nsync, 0, true);
					check_and_drop_stream(js, name, nsync, "sync");
				}
				printf("  round %u: bridge %.0f, async %.0f, async/256 %.0f, sync %.0f outputs/s\n", r + 1,
				       rb[r], ra[r], ra256[r], rs[r]);
			}
			jsCtx_Destroy(js);
			natsConnection_Destroy(nc);
			stop_server();
			free(hist);
			nats_done = true;
			printf("  %-12s %12s   (median of %u; every stream held exactly N messages)\n", "publisher",
			       "outputs/s", nruns);
			printf("  %-12s %12.0f   resent %llu, errors %llu, lost %llu over the rounds\n", "bridge",
			       median(rb, nruns), (unsigned long long)b_resent, (unsigned long long)b_errors,
			       (unsigned long long)b_lost);
			printf("  %-12s %12.0f\n", "async", median(ra, nruns));
			printf("  %-12s %12.0f\n", "async/256", median(ra256, nruns));
			if (nsync > 0)
				printf("  %-12s %12.0f   (%llu outputs)\n", "sync", median(rs, nruns),
				       (unsigned long long)nsync);
		}
	} else {
		snprintf(why, sizeof(why), "--no-nats");
	}

	if (json != NULL) {
		FILE *f = fopen(json, "w");
		if (f == NULL) {
			fprintf(stderr, "%s: cannot write %s: %s\n", prog, json, strerror(errno));
			return 1;
		}
		fprintf(f, "{\"bench\": \"stream\", \"seed\": %llu, \"mtu\": %zu,\n", (unsigned long long)seed, mtu);
		fprintf(f, " \"hot\": {\"outputs\": %llu, \"distinct\": %llu, \"passes\": %u, \"mix\": {\"bbo\": %u, "
			"\"decision\": %u, \"alert\": %u}", (unsigned long long)noutputs, (unsigned long long)distinct, passes,
			mix[DD_OUT_BBO], mix[DD_OUT_DECISION], mix[DD_OUT_ALERT]);
		for (unsigned m = 0; m < M__COUNT; m++)
			fprintf(f, ",\n  \"%s_ns\": %.3f", modes[m].key, ns[m]);
		fprintf(f, ",\n  \"message_bytes_per_output\": %.2f, \"stream_frame_bytes_per_output\": %.2f, \"stream_outputs_per_frame\": %.2f"
			", \"stream_close32_outputs_per_frame\": %.2f, \"json_bytes_per_output\": %.2f},\n",
			(double)msg_bytes / (double)distinct, (double)fbytes[M_STREAM] / total, frames[M_STREAM] ? total / (double)frames[M_STREAM] : 0,
			frames[M_STREAM32] ? total / (double)frames[M_STREAM32] : 0, (double)jbytes / total);
		if (nats_done) {
			fprintf(f, " \"jetstream\": {\"outputs\": %llu, \"runs\": %u, \"sync_outputs\": %llu,\n",
				(unsigned long long)nnats, nruns, (unsigned long long)nsync);
			fprintf(f, "  \"bridge_per_s\": %.0f, \"bridge_runs\": ", median(rb, nruns));
			json_runs(f, rb, nruns);
			fprintf(f, ", \"bridge_resent\": %llu, \"bridge_errors\": %llu, \"bridge_lost\": %llu,\n",
				(unsigned long long)b_resent, (unsigned long long)b_errors, (unsigned long long)b_lost);
			fprintf(f, "  \"async_per_s\": %.0f, \"async_runs\": ", median(ra, nruns));
			json_runs(f, ra, nruns);
			fprintf(f, ",\n  \"async256_per_s\": %.0f, \"async256_runs\": ", median(ra256, nruns));
			json_runs(f, ra256, nruns);
			fprintf(f, ",\n  \"sync_per_s\": %.0f, \"sync_runs\": ", nsync ? median(rs, nruns) : 0.0);
			json_runs(f, rs, nsync ? nruns : 0);
			fprintf(f, "}}\n");
		} else {
			char esc[sizeof(why) * 2];
			size_t k = 0;
			for (const char *c = why; *c && k + 2 < sizeof(esc); c++) {
				if (*c == '"' || *c == '\\')
					esc[k++] = '\\';
				esc[k++] = *c;
			}
			esc[k] = '\0';
			fprintf(f, " \"jetstream\": \"not measured: %s\"}\n", esc);
		}
		fclose(f);
	}
	dd_output_json_forget(mr);
	free(mr);
	free(h->jbuf);
	free(h->hist);
	free(h);
	free(g);
	free(outs);
	return 0;
}
