/* SPDX-License-Identifier: MIT */
/*
 * peer_kernel: the kernel-path peer of the latency benchmark. What a user runs instead of dadar: a
 * process that receives the same ITCH 5.0 / MoldUDP64 datagrams on an ordinary UDP socket with
 * recvmmsg() and runs dadar's own DPDK-free code on them, as bench_feed's chain mode does:
 * dd_feed_rx() (MoldUDP64 sequencing with the daemon's reorder window, ITCH decoding) into a sink
 * that runs the chain holding the book operator. The difference to dadar is the receive path alone.
 *
 * Latency is measured against a send log (below) that the sender fills with the TSC at which it
 * handed each datagram to its port: right after a message's book work the TSC is read again and
 * the difference goes into an HdrHistogram of nanoseconds (dadar's, with the daemon's parameters).
 * The chain is run one event at a time so that each message is stamped right after its own book
 * work; the daemon stamps a whole flush (a datagram) after the chain has run over all of it, so for
 * the same work this peer's figures are, if anything, the kinder ones.
 *
 * Send log (written by `dadar-gen send`, read here through a read-only shared mapping; little-endian):
 *   0   magic "DDSENDLG"          8  u32 version (1)      12 u32 0
 *   16  u64 capacity (slots)      24 u64 tsc_hz           32 u64 messages sent so far
 *   40  24 bytes 0                64 u64 slot[capacity]: slot[seq - 1] = TSC at which the datagram
 *                                    carrying message `seq` went to the port, 0 = not (yet) sent
 * The sender rewrites sequence numbers to grow over its whole run, so `seq` indexes the log directly.
 * A log that exists but is not written yet (short, or version 0) is waited for a while, as is the
 * interface a multicast group is joined on: the benchmark starts the sender and the peer together.
 *
 * usage: peer_kernel --listen GROUP:PORT [--interface IP] --send-log FILE [--mode busy|block]
 *                    [--batch N] [--seconds N] [--idle-exit MS] [--capacity-orders N]
 *                    [--capacity-levels N] [--rcvbuf BYTES] [--json FILE] [--system NAME]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <x86intrin.h>

#include "dataplane/config/jsonw.h"
#include "dataplane/wire/feed.h"
#include "ops/book/book.h"
#include "ops/book/book_op.h"
#include "ops/chain.h"
#include "shm/hdr.h"
#include "shm/telemetry.h"
#include "tools/cli.h"
#include "tools/send.h"

#define PROG "peer_kernel"

enum {
	EX_OK = 0,
	EX_FAIL = 1,  /* the send log or the socket cannot be opened, out of memory */
	EX_USAGE = 2, /* bad command line */
};

/* ---- the send log ---------------------------------------------------------------------------- */

/* the layout is tools/send.h's (dadar-gen send writes it); the struct below checks it field by field */
#define SENDLOG_MAGIC   DD_SENDLOG_MAGIC
#define SENDLOG_VERSION DD_SENDLOG_VERSION
#define SENDLOG_HDR     DD_SENDLOG_HDR

struct sendlog_hdr {
	char magic[8];
	uint32_t version;
	uint32_t reserved0;
	uint64_t capacity;
	uint64_t tsc_hz;
	_Atomic uint64_t sent;
	uint8_t reserved1[24];
};
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the send log is little-endian, read in place");
_Static_assert(offsetof(struct sendlog_hdr, version) == 8, "send log layout: version");
_Static_assert(offsetof(struct sendlog_hdr, capacity) == 16, "send log layout: capacity");
_Static_assert(offsetof(struct sendlog_hdr, tsc_hz) == 24, "send log layout: tsc_hz");
_Static_assert(offsetof(struct sendlog_hdr, sent) == 32, "send log layout: sent");
_Static_assert(sizeof(struct sendlog_hdr) == SENDLOG_HDR, "send log header is 64 bytes");

/* A TSC runs at some hundreds of MHz to some GHz; outside this range the header is wrong (and below
 * ~250 kHz dd_tsc_conv's multiplier would not fit its 64 bits). */
#define TSC_HZ_MIN 1000000ull
#define TSC_HZ_MAX 100000000000ull

/* How long a send log that exists but is not written yet, and a group whose interface is not up
 * yet, are waited for: the benchmark starts the sender and this peer at about the same time. */
#define LOG_WAIT_MS  3000u
#define JOIN_WAIT_MS 3000u

/* ---- the receiver ---------------------------------------------------------------------------- */

#define MAX_BATCH   1024u                 /* the kernel's cap on recvmmsg's vlen (UIO_MAXIOV) */
#define BUF_LEN     DD_MOLD_MAX_DATAGRAM  /* a jumbo frame's payload; longer arrives truncated */
#define SINK_CAP    512u
#define CTL_LEN     CMSG_SPACE(sizeof(uint32_t))
#define BLOCK_TIMEOUT_US 100000           /* block mode wakes this often to check its deadlines */

/* The daemon's defaults (dataplane/config/config.c): what a gap costs is the same on both paths. */
#define REORDER_WINDOW     16u
#define REORDER_TIMEOUT_US 1000u

enum mode { MODE_BUSY, MODE_BLOCK };

struct opts {
	const char *listen, *iface, *log, *json, *system;
	enum mode mode;
	uint64_t batch, seconds, idle_ms, orders, levels, rcvbuf;
};

struct counts {
	uint64_t datagrams;   /* from the socket, whatever they held */
	uint64_t truncated;   /* longer than BUF_LEN: dropped */
	uint64_t measured;    /* latencies recorded */
	uint64_t unstamped;   /* events whose slot is 0 */
	uint64_t beyond_log;  /* events whose sequence number is past the log's capacity */
	uint64_t stamp_late;  /* events whose stamp is later than our TSC (recorded as 0) */
	uint64_t rx_errors;   /* recvmmsg() failures other than EAGAIN and EINTR */
	int last_errno;
	uint64_t outputs;     /* top-of-book outputs the chain emitted (taken and dropped) */
	uint64_t ovfl;        /* SO_RXQ_OVFL: the socket's drop counter, widened from 32 bits */
	uint32_t ovfl32;
};

struct peer {
	struct opts o;
	int fd;
	/* send log */
	const struct sendlog_hdr *log;
	const _Atomic uint64_t *slot;
	size_t log_len;
	uint64_t log_cap, tsc_hz;  /* the sender's TSC frequency: converts its stamps' differences */
	uint64_t my_hz;            /* this process's measure of it: deadlines, the reorder timeout, seconds */
	struct dd_tsc_conv conv;
	uint64_t max_ticks;   /* the histogram's highest value in ticks: longer is clamped before converting */
	struct dd_hdr *hist;
	/* the pipeline */
	struct dd_feed feed;
	struct dd_chain chain;
	struct dd_sink sink;
	uint64_t isn;         /* input positions, as the RX lcore numbers them */
	/* receive buffers, allocated once */
	struct mmsghdr *msg;
	struct iovec *iov;
	uint8_t *buf;
	uint8_t *ctl;
	uint64_t first_rx, last_rx; /* TSC of the first and the last burst */
	struct counts st;
	_Alignas(64) struct dd_event ev[SINK_CAP];
};

/* SIGINT/SIGTERM: the one store the handler does; the loop polls it. */
static atomic_int quit;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&quit, 1, memory_order_release); /* pairs with the loop's acquire load */
}

static int say(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " --listen GROUP:PORT [--interface IP] --send-log FILE [options]\n"
		"\n"
		"Receives ITCH 5.0 over MoldUDP64 on a kernel UDP socket with recvmmsg(), sequences, decodes and\n"
		"applies it to dadar's order book, and records each message's latency from the TSC stamp the\n"
		"sender wrote in the send log to the end of its book work.\n"
		"\n"
		"  --listen GROUP:PORT     a multicast GROUP is joined (the port bound on every address); a\n"
		"                          unicast address is bound\n"
		"  --interface IP          the IPv4 address of the interface to join GROUP on (default: the\n"
		"                          kernel's choice); retried for %u s while it is not up\n"
		"  --send-log FILE         the sender's send log (e.g. /dev/shm/dadar-sendlog), mapped read-only;\n"
		"                          one that exists but is not written yet is waited for (%u s)\n"
		"  --mode busy|block       busy (default): spin on recvmmsg(MSG_DONTWAIT); block: wait in\n"
		"                          recvmmsg(MSG_WAITFORONE)\n"
		"  --batch N               datagrams per recvmmsg(), 1..%u (default 32)\n"
		"  --seconds N             stop after N seconds (default 0: no limit)\n"
		"  --idle-exit MS          stop MS ms after the last datagram, once one arrived (default 1000;\n"
		"                          0: never)\n"
		"  --capacity-orders N     live orders the book holds (default %u, as dadar)\n"
		"  --capacity-levels N     live price levels the book holds (default %u, as dadar)\n"
		"  --rcvbuf BYTES          socket receive buffer (default 64 MiB; SO_RCVBUFFORCE needs\n"
		"                          CAP_NET_ADMIN, else net.core.rmem_max caps SO_RCVBUF)\n"
		"  --json FILE             write the results as one JSON object\n"
		"  --system NAME           the name the JSON gives this system (default kernel)\n"
		"\n"
		"Stops at SIGINT or SIGTERM, after --seconds or after --idle-exit. Exit status: 0 done; 1 the\n"
		"send log or the socket cannot be opened; 2 bad command line.\n",
		JOIN_WAIT_MS / 1000, LOG_WAIT_MS / 1000, MAX_BATCH, 1u << 20, 1u << 18);
}


static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .system = "kernel", .mode = MODE_BUSY, .batch = 32, .idle_ms = 1000,
			    .orders = 1u << 20, .levels = 1u << 18, .rcvbuf = 64u << 20 };
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i];
		if (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0) {
			usage(stdout);
			exit(EX_OK);
		}
		if (i + 1 >= argc)
			return say(EX_USAGE, "%s needs a value (--help lists the options)", k);
		const char *v = argv[++i];
		if (strcmp(k, "--listen") == 0)
			o->listen = v;
		else if (strcmp(k, "--interface") == 0)
			o->iface = v;
		else if (strcmp(k, "--send-log") == 0)
			o->log = v;
		else if (strcmp(k, "--json") == 0)
			o->json = v;
		else if (strcmp(k, "--system") == 0)
			o->system = v;
		else if (strcmp(k, "--mode") == 0) {
			if (strcmp(v, "busy") == 0)
				o->mode = MODE_BUSY;
			else if (strcmp(v, "block") == 0)
				o->mode = MODE_BLOCK;
			else
				return say(EX_USAGE, "--mode '%s': must be busy or block", v);
		} else if (strcmp(k, "--batch") == 0) {
			if (!dd_cli_u64(v, 1, MAX_BATCH, &o->batch))
				return say(EX_USAGE, "--batch '%s': must be 1..%u datagrams", v, MAX_BATCH);
		} else if (strcmp(k, "--seconds") == 0) {
			if (!dd_cli_u64(v, 0, 1000000, &o->seconds))
				return say(EX_USAGE, "--seconds '%s': must be 0..1000000 (0: no limit)", v);
		} else if (strcmp(k, "--idle-exit") == 0) {
			if (!dd_cli_u64(v, 0, 86400000, &o->idle_ms))
				return say(EX_USAGE, "--idle-exit '%s': must be 0..86400000 ms (0: never)", v);
		} else if (strcmp(k, "--capacity-orders") == 0) {
			if (!dd_cli_u64(v, 1, 1u << 30, &o->orders))
				return say(EX_USAGE, "--capacity-orders '%s': must be 1..%u", v, 1u << 30);
		} else if (strcmp(k, "--capacity-levels") == 0) {
			if (!dd_cli_u64(v, 2, 1u << 30, &o->levels))
				return say(EX_USAGE, "--capacity-levels '%s': must be 2..%u", v, 1u << 30);
		} else if (strcmp(k, "--rcvbuf") == 0) {
			if (!dd_cli_u64(v, 4096, INT32_MAX / 2, &o->rcvbuf))
				return say(EX_USAGE, "--rcvbuf '%s': must be 4096..%d bytes", v, INT32_MAX / 2);
		} else {
			return say(EX_USAGE, "unknown option %s (--help lists the options)", k);
		}
	}
	if (o->listen == NULL)
		return say(EX_USAGE, "--listen GROUP:PORT is required (e.g. --listen 233.54.12.111:26477)");
	if (o->log == NULL)
		return say(EX_USAGE, "--send-log FILE is required: the sender's log of send TSCs");
	struct sockaddr_in a;
	struct in_addr ia;
	if (!dd_cli_ipv4_port(o->listen, false, &a))
		return say(EX_USAGE, "--listen '%s': must be GROUP:PORT (an IPv4 address and a UDP port, e.g. "
			   "233.54.12.111:26477)", o->listen);
	if (o->iface != NULL && inet_pton(AF_INET, o->iface, &ia) != 1)
		return say(EX_USAGE, "--interface '%s': must be the IPv4 address of an interface of this host", o->iface);
	return EX_OK;
}

/* ---- init -------------------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * TSC frequency measured against CLOCK_MONOTONIC over 50 ms, as bench_feed does. The loop's clocks
 * use it rather than the log's tsc_hz, so that a wrong header spoils only the latencies (and the
 * warning below says so), not when the run stops.
 */
static uint64_t measure_tsc_hz(void)
{
	double t0 = now_s();
	uint64_t c0 = __rdtsc();
	while (now_s() - t0 < 0.05)
		;
	return (uint64_t)((double)(__rdtsc() - c0) / (now_s() - t0));
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int open_log(struct peer *p)
{
	const char *path = p->o.log;
	struct sendlog_hdr hdr;
	struct stat sb;
	int fd;
	/*
	 * The sender creates the file, sizes it and writes the version last: a log caught between those
	 * steps (too short, or no magic yet, or version 0) is waited for; another magic fails at once.
	 */
	for (unsigned waited = 0;; waited += 10) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return say(EX_FAIL, "open(%s) failed: %s (the sender creates the send log: start it first, "
				   "or check the path)", path, strerror(errno));
		if (fstat(fd, &sb) != 0) {
			int e = errno;
			close(fd);
			return say(EX_FAIL, "fstat(%s) failed: %s", path, strerror(e));
		}
		memset(&hdr, 0, sizeof(hdr));
		if ((uint64_t)sb.st_size >= SENDLOG_HDR && pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
			int e = errno;
			close(fd);
			return say(EX_FAIL, "read(%s, %u bytes) failed: %s", path, SENDLOG_HDR, strerror(e));
		}
		static const char nomagic[8];
		bool other = memcmp(hdr.magic, nomagic, 8) != 0 && memcmp(hdr.magic, SENDLOG_MAGIC, 8) != 0;
		if (hdr.version != 0 || other || waited >= LOG_WAIT_MS)
			break;
		close(fd);
		sleep_ms(10);
	}
	if ((uint64_t)sb.st_size < SENDLOG_HDR) {
		close(fd);
		return say(EX_FAIL, "%s: %lld bytes, shorter than the send log's %u-byte header: not a send log "
			   "(or not written in %u ms)", path, (long long)sb.st_size, SENDLOG_HDR, LOG_WAIT_MS);
	}
	p->log_len = (size_t)sb.st_size;
	void *m = mmap(NULL, p->log_len, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (m == MAP_FAILED)
		return say(EX_FAIL, "mmap(%s, %zu) failed: %s", path, p->log_len, strerror(e));
	p->log = m;
	const struct sendlog_hdr *h = &hdr;
	if (memcmp(h->magic, SENDLOG_MAGIC, 8) != 0)
		return say(EX_FAIL, "%s: wrong magic (not \"" SENDLOG_MAGIC "\"): not a send log", path);
	if (h->version != SENDLOG_VERSION)
		return say(EX_FAIL, "%s: send log version %u, this peer reads version %u%s", path, h->version,
			   SENDLOG_VERSION, h->version == 0 ? " (not published: the sender writes it last)" : "");
	p->log_cap = h->capacity;
	p->tsc_hz = h->tsc_hz;
	if (p->log_cap > (p->log_len - SENDLOG_HDR) / sizeof(uint64_t))
		return say(EX_FAIL, "%s: %zu bytes, shorter than its capacity of %llu slots needs (%llu bytes): "
			   "truncated", path, p->log_len, (unsigned long long)p->log_cap,
			   p->log_cap > (UINT64_MAX - SENDLOG_HDR) / 8 ? 0ull
								: (unsigned long long)(SENDLOG_HDR + p->log_cap * 8));
	if (p->tsc_hz < TSC_HZ_MIN || p->tsc_hz > TSC_HZ_MAX)
		return say(EX_FAIL, "%s: tsc_hz %llu is not a TSC frequency (%llu..%llu Hz)", path,
			   (unsigned long long)p->tsc_hz, TSC_HZ_MIN, TSC_HZ_MAX);
	p->slot = (const _Atomic uint64_t *)(const void *)((const uint8_t *)m + SENDLOG_HDR);
	dd_tsc_conv_init(&p->conv, p->tsc_hz);
	p->max_ticks = (uint64_t)((unsigned __int128)dd_tm_hdr_params.highest * p->tsc_hz / 1000000000u) + 1;
	return EX_OK;
}

static int open_socket(struct peer *p)
{
	struct sockaddr_in g, bind_at;
	struct in_addr iface = { .s_addr = htonl(INADDR_ANY) };
	char ip[INET_ADDRSTRLEN];
	dd_cli_ipv4_port(p->o.listen, false, &g); /* checked by parse_args() */
	if (p->o.iface != NULL)
		inet_pton(AF_INET, p->o.iface, &iface);
	bool mcast = IN_MULTICAST(ntohl(g.sin_addr.s_addr));
	bind_at = g;
	if (mcast)
		bind_at.sin_addr.s_addr = htonl(INADDR_ANY);
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return say(EX_FAIL, "socket(AF_INET, SOCK_DGRAM) failed: %s", strerror(errno));
	int one = 1, zero = 0, buf = (int)p->o.rcvbuf;
	setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* FORCE needs CAP_NET_ADMIN; without it net.core.rmem_max caps the size (reported below) */
	if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0 &&
	    setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) != 0)
		return say(EX_FAIL, "setsockopt(SO_RCVBUF, %d) failed: %s", buf, strerror(errno));
	/* each datagram then carries the socket's drop counter as of its queueing */
	if (setsockopt(p->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
		return say(EX_FAIL, "setsockopt(SO_RXQ_OVFL) failed: %s", strerror(errno));
	if (p->o.mode == MODE_BLOCK) {
		struct timeval tv = { .tv_sec = 0, .tv_usec = BLOCK_TIMEOUT_US };
		if (setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
			return say(EX_FAIL, "setsockopt(SO_RCVTIMEO, %d us) failed: %s", BLOCK_TIMEOUT_US,
				   strerror(errno));
	}
	if (bind(p->fd, (const struct sockaddr *)&bind_at, sizeof(bind_at)) != 0)
		return say(EX_FAIL, "bind(%s:%u) failed: %s", inet_ntop(AF_INET, &bind_at.sin_addr, ip, sizeof(ip)),
			   ntohs(bind_at.sin_port), strerror(errno));
	if (mcast) {
		struct ip_mreq mr = { .imr_multiaddr = g.sin_addr, .imr_interface = iface };
		/* the interface, or its address, may still be coming up as the benchmark starts us */
		int jerr;
		for (unsigned waited = 0;; waited += 100) {
			jerr = setsockopt(p->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) == 0 ? 0 : errno;
			if (jerr == 0 || (jerr != ENODEV && jerr != EADDRNOTAVAIL) || waited >= JOIN_WAIT_MS)
				break;
			sleep_ms(100);
		}
		if (jerr != 0)
			return say(EX_FAIL, "joining %s on %s failed: %s (--interface names the interface by its IPv4 "
				   "address)", inet_ntop(AF_INET, &g.sin_addr, ip, sizeof(ip)),
				   p->o.iface != NULL ? p->o.iface : "the default interface", strerror(jerr));
		/* only the group joined here, not every group some other socket of the host joined */
		setsockopt(p->fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
	}
	return EX_OK;
}

static void *zalloc(size_t n)
{
	void *m = aligned_alloc(64, (n + 63) & ~(size_t)63);
	if (m != NULL)
		memset(m, 0, n); /* touched now, not on the first datagram */
	return m;
}

/* Anonymous memory for the book's tables, faulted in at init as the daemon's hugepages are. */
static void *table_alloc(size_t n)
{
	void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	(void)madvise(m, n, MADV_HUGEPAGE);
	return m;
}

static void peer_flush(struct dd_sink *s);

static int init_pipeline(struct peer *p)
{
	struct dd_mold_params mp = { .reorder_window = REORDER_WINDOW,
				     .reorder_timeout = REORDER_TIMEOUT_US * p->my_hz / 1000000u };
	size_t flen = dd_feed_memsize(&mp);
	void *fmem = zalloc(flen);
	struct dd_feed_cfg fc = { .name = "kernel", .kind = DD_FEED_MARKET };
	if (fmem == NULL || dd_feed_init(&p->feed, 0, &fc, &mp, fmem, flen) != 0)
		return say(EX_FAIL, "the MoldUDP64 session (%zu bytes) could not be set up", flen);

	/* the chain the daemon runs without rules: the book operator, one feed */
	static struct dd_chain_spec spec;
	struct dd_book_op_params op = { .book = { .max_instruments = 16384, .max_orders = (uint32_t)p->o.orders,
						  .max_levels = (uint32_t)p->o.levels },
					.nfeeds = 1 };
	int rc = dd_chain_spec_add(&spec, DD_OP_BOOK, &op, sizeof(op));
	if (rc != 0)
		return say(EX_FAIL, "the book operator could not be added to the chain: %s", strerror(-rc));
	struct dd_chain_params cp = { .spec = &spec, .burst = 1 };
	size_t clen = dd_chain_memsize(&cp);
	void *cmem = clen == 0 ? NULL : table_alloc(clen);
	if (cmem == NULL)
		return say(EX_FAIL, "mmap(%zu) for the book of %llu orders and %llu levels failed: %s", clen,
			   (unsigned long long)p->o.orders, (unsigned long long)p->o.levels, strerror(errno));
	char err[256];
	if (dd_chain_init(&p->chain, cmem, clen, &cp, err, sizeof(err)) != 0)
		return say(EX_FAIL, "%s", err);
	p->sink = (struct dd_sink){ p->ev, 0, SINK_CAP, peer_flush, p };

	if ((rc = dd_hdr_create(&dd_tm_hdr_params, &p->hist)) != 0)
		return say(EX_FAIL, "the latency histogram could not be created: %s", strerror(-rc));

	size_t n = p->o.batch;
	p->msg = zalloc(n * sizeof(*p->msg));
	p->iov = zalloc(n * sizeof(*p->iov));
	p->buf = zalloc(n * BUF_LEN);
	p->ctl = zalloc(n * CTL_LEN);
	if (p->msg == NULL || p->iov == NULL || p->buf == NULL || p->ctl == NULL)
		return say(EX_FAIL, "out of memory for %zu receive buffers of %u bytes", n, BUF_LEN);
	for (size_t i = 0; i < n; i++) {
		p->iov[i] = (struct iovec){ p->buf + i * BUF_LEN, BUF_LEN };
		p->msg[i].msg_hdr = (struct msghdr){ .msg_iov = &p->iov[i], .msg_iovlen = 1,
						     .msg_control = p->ctl + i * CTL_LEN, .msg_controllen = CTL_LEN };
	}
	return EX_OK;
}

/* ---- the data path ----------------------------------------------------------------------------- */

/* The latency of message `seq`, whose book work has just ended at `now`. */
static inline void stamp(struct peer *p, uint64_t seq, uint64_t now)
{
	if (seq - 1 >= p->log_cap) { /* seq 0 wraps past any capacity too */
		p->st.beyond_log++;
		return;
	}
	/*
	 * Relaxed: the sender stored the slot before handing the datagram to its port, and we hold that
	 * datagram; the syscalls and the NIC between the two order the store before this load.
	 */
	uint64_t sent = atomic_load_explicit(&p->slot[seq - 1], memory_order_relaxed);
	if (sent == 0) {
		p->st.unstamped++;
		return;
	}
	uint64_t d = 0;
	if (now >= sent)
		d = now - sent;
	else
		p->st.stamp_late++;
	/* clamp in ticks: a stamp from long ago would overflow the conversion to ns */
	if (d > p->max_ticks)
		d = p->max_ticks;
	dd_hdr_record(p->hist, dd_tsc_to_ns(&p->conv, d));
	p->st.measured++;
}

/*
 * The decoded events of a burst of datagrams (or of a full sink), as dadar's run-to-completion
 * flush takes them: the chain over all of them in runs of its burst, then one TSC, so every
 * message's decision time is the end of its flush's book work (dataplane/dpdk/lcore.c,
 * rtc_flush(): wire_to_decision is recorded the same way).
 */
static void peer_flush(struct dd_sink *s)
{
	struct peer *p = s->ctx;
	uint64_t cause[SINK_CAP];
	for (unsigned i = 0; i < s->n; i++)
		cause[i] = p->isn++;
	for (unsigned off = 0; off < s->n; off += p->chain.burst) {
		unsigned k = s->n - off < p->chain.burst ? s->n - off : p->chain.burst;
		dd_chain_run(&p->chain, &s->ev[off], &cause[off], k);
		p->st.outputs += p->chain.emit.n;
		dd_chain_drain(&p->chain);
	}
	uint64_t now = __rdtsc();
	for (unsigned i = 0; i < s->n; i++)
		stamp(p, s->ev[i].seq, now);
	s->n = 0;
}

/* The socket's drop counter, if the datagram carries it (only once it is non-zero). */
static inline void take_ovfl(struct peer *p, struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			/* the kernel's counter is 32 bits: widen by the difference, which wraps right */
			p->st.ovfl += (uint32_t)(v - p->st.ovfl32);
			p->st.ovfl32 = v;
		}
	}
}

/* One recvmmsg() and everything it brought; returns the datagrams. */
static unsigned rx_burst(struct peer *p, int flags)
{
	int n = recvmmsg(p->fd, p->msg, (unsigned)p->o.batch, flags, NULL);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			p->st.rx_errors++;
			p->st.last_errno = errno;
		}
		return 0;
	}
	/* the daemon reads the TSC once per receive burst: so does this (the reorder window's clock) */
	uint64_t rx = __rdtsc();
	if (p->st.datagrams == 0)
		p->first_rx = rx;
	p->last_rx = rx;
	p->st.datagrams += (unsigned)n;
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &p->msg[i].msg_hdr;
		if (h->msg_controllen > 0)
			take_ovfl(p, h);
		if (h->msg_flags & MSG_TRUNC)
			p->st.truncated++;
		else
			dd_feed_rx(&p->feed, p->iov[i].iov_base, p->msg[i].msg_len, 0, rx, &p->sink);
		h->msg_controllen = CTL_LEN; /* the kernel shrank it to what it wrote */
		h->msg_flags = 0;
	}
	return (unsigned)n;
}

/* Receive until a signal, --seconds or --idle-exit. */
static void run(struct peer *p)
{
	uint64_t t0 = __rdtsc();
	uint64_t end = p->o.seconds == 0 ? UINT64_MAX : t0 + p->o.seconds * p->my_hz;
	uint64_t idle = p->o.idle_ms == 0 ? UINT64_MAX : p->o.idle_ms * (p->my_hz / 1000);
	while (!atomic_load_explicit(&quit, memory_order_acquire)) { /* pairs with on_signal() */
		/* block mode spins while datagrams wait in the reorder window, so its timeout holds */
		int flags = p->o.mode == MODE_BUSY || p->feed.mold.nheld > 0 ? MSG_DONTWAIT : MSG_WAITFORONE;
		rx_burst(p, flags);
		uint64_t now = __rdtsc();
		dd_feed_poll(&p->feed, now, &p->sink); /* held datagrams whose timeout passed */
		if (now >= end)
			break;
		if (p->st.datagrams > 0 && now - p->last_rx >= idle)
			break;
	}
	dd_feed_poll(&p->feed, UINT64_MAX, &p->sink); /* what is still held: its gaps are declared */
}

/* ---- results ----------------------------------------------------------------------------------- */

/*
 * The socket's drop counter from /proc/net/udp (by its inode), or -1: a datagram carries the
 * counter only as it was when that datagram was queued, so drops after the last one show only here.
 */
static int64_t proc_drops(int fd)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return -1;
	FILE *f = fopen("/proc/net/udp", "r");
	if (f == NULL)
		return -1;
	char line[512];
	int64_t drops = -1;
	while (drops < 0 && fgets(line, sizeof(line), f) != NULL) {
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
		unsigned long long inode, d;
		if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu", &inode, &d) == 2 &&
		    inode == (unsigned long long)sb.st_ino)
			drops = (int64_t)d;
	}
	fclose(f);
	return drops;
}

struct results {
	uint64_t received, lost, duplicates, malformed, no_event, drops, sent;
	uint64_t p50, p99, p999, p9999, max, min;
	double mean, seconds, mps;
	int rcvbuf;
};

static void results(struct peer *p, struct results *r)
{
	const struct dd_mold_stats *ms = &p->feed.mold.stats;
	r->received = ms->delivered;
	r->lost = ms->missing;
	r->duplicates = ms->duplicates;
	r->malformed = p->st.truncated;
	for (unsigned e = 1; e < DD_MOLD_ERR__COUNT; e++)
		r->malformed += ms->errors[e];
	/* a delivered market message yields one event or none (dataplane/wire/feed.c decode_block) */
	r->no_event = ms->delivered - p->feed.itch.events;
	int64_t pd = proc_drops(p->fd);
	r->drops = pd > (int64_t)p->st.ovfl ? (uint64_t)pd : p->st.ovfl;
	r->sent = atomic_load_explicit(&p->log->sent, memory_order_relaxed); /* informational */
	r->p50 = dd_hdr_value_at_percentile(p->hist, 50.0);
	r->p99 = dd_hdr_value_at_percentile(p->hist, 99.0);
	r->p999 = dd_hdr_value_at_percentile(p->hist, 99.9);
	r->p9999 = dd_hdr_value_at_percentile(p->hist, 99.99);
	r->max = dd_hdr_max(p->hist);
	r->min = dd_hdr_min(p->hist);
	r->mean = dd_hdr_mean(p->hist);
	r->seconds = p->st.datagrams == 0 ? 0.0 : (double)(p->last_rx - p->first_rx) / (double)p->my_hz;
	r->mps = r->seconds > 0 ? (double)r->received / r->seconds : 0.0;
	socklen_t sl = sizeof(r->rcvbuf);
	if (getsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &r->rcvbuf, &sl) != 0)
		r->rcvbuf = 0;
}

static void summary(const struct peer *p, const struct results *r)
{
	const char *mode = p->o.mode == MODE_BUSY ? "busy" : "block";
	fprintf(stderr,
		PROG ": %s %s: %llu messages in %llu datagrams over %.3f s (%.0f messages/s); lost %llu, "
		"duplicates %llu, unstamped %llu, beyond the log %llu, without an event %llu, malformed %llu "
		"datagrams; rcvbuf %d bytes, %llu drops; latency ns p50 %llu p99 %llu p99.9 %llu p99.99 %llu max %llu "
		"(%llu measured, %llu clamped at %llu s, %llu stamped after receipt); book %u live orders; "
		"the sender reports %llu sent",
		p->o.system, mode, (unsigned long long)r->received, (unsigned long long)p->st.datagrams, r->seconds,
		r->mps, (unsigned long long)r->lost, (unsigned long long)r->duplicates,
		(unsigned long long)p->st.unstamped, (unsigned long long)p->st.beyond_log,
		(unsigned long long)r->no_event, (unsigned long long)r->malformed, r->rcvbuf,
		(unsigned long long)r->drops, (unsigned long long)r->p50, (unsigned long long)r->p99,
		(unsigned long long)r->p999, (unsigned long long)r->p9999, (unsigned long long)r->max,
		(unsigned long long)p->st.measured, (unsigned long long)dd_hdr_overflow(p->hist),
		(unsigned long long)(dd_tm_hdr_params.highest / 1000000000u), (unsigned long long)p->st.stamp_late,
		dd_book_op_book(dd_chain_state(&p->chain, DD_OP_BOOK), 0)->norders, (unsigned long long)r->sent);
	if (p->st.rx_errors > 0)
		fprintf(stderr, "; %llu recvmmsg() errors, the last: %s", (unsigned long long)p->st.rx_errors,
			strerror(p->st.last_errno));
	fputc('\n', stderr);
}

static int write_json(const struct peer *p, const struct results *r)
{
	FILE *f = fopen(p->o.json, "w");
	if (f == NULL)
		return say(EX_FAIL, "fopen(%s, w) failed: %s", p->o.json, strerror(errno));
	const struct dd_book *book = dd_book_op_book(dd_chain_state(&p->chain, DD_OP_BOOK), 0);
	struct dd_jw w;
	dd_jw_init(&w, f, false);
	dd_jw_open(&w, NULL, '{');
	dd_jw_str(&w, "system", p->o.system);
	dd_jw_str(&w, "mode", p->o.mode == MODE_BUSY ? "busy" : "block");
	dd_jw_u64(&w, "received", r->received);
	dd_jw_u64(&w, "datagrams", p->st.datagrams);
	dd_jw_u64(&w, "lost", r->lost);
	dd_jw_u64(&w, "duplicates", r->duplicates);
	dd_jw_u64(&w, "unstamped", p->st.unstamped);
	dd_jw_u64(&w, "p50_ns", r->p50);
	dd_jw_u64(&w, "p99_ns", r->p99);
	dd_jw_u64(&w, "p999_ns", r->p999);
	dd_jw_u64(&w, "p9999_ns", r->p9999);
	dd_jw_u64(&w, "max_ns", r->max);
	dd_jw_u64(&w, "min_ns", r->min);
	dd_jw_f64(&w, "mean_ns", r->mean, 1);
	dd_jw_f64(&w, "seconds", r->seconds, 6);
	dd_jw_f64(&w, "messages_per_s", r->mps, 0);
	dd_jw_u64(&w, "rcvbuf_drops", r->drops);
	/* what the counts above leave out, so that they add up */
	dd_jw_u64(&w, "measured", p->st.measured);
	dd_jw_u64(&w, "beyond_log", p->st.beyond_log);
	dd_jw_u64(&w, "no_event", r->no_event);
	dd_jw_u64(&w, "clamped", dd_hdr_overflow(p->hist));
	dd_jw_u64(&w, "stamp_after_rx", p->st.stamp_late);
	dd_jw_u64(&w, "malformed", r->malformed);
	dd_jw_u64(&w, "rx_errors", p->st.rx_errors);
	dd_jw_u64(&w, "batch", p->o.batch);
	dd_jw_i64(&w, "rcvbuf_bytes", r->rcvbuf);
	dd_jw_u64(&w, "tsc_hz", p->tsc_hz);
	dd_jw_u64(&w, "sender_sent", r->sent);
	dd_jw_u64(&w, "book_events", book->stats.events);
	dd_jw_u64(&w, "book_orders", book->norders);
	dd_jw_u64(&w, "book_outputs", p->st.outputs);
	dd_jw_close(&w, '}');
	fputc('\n', f);
	if (ferror(f) | (fclose(f) != 0))
		return say(EX_FAIL, "writing %s failed", p->o.json);
	return EX_OK;
}

int main(int argc, char **argv)
{
	static struct peer p;
	int rc = parse_args(argc, argv, &p.o);
	if (rc != EX_OK)
		return rc;
	if ((rc = open_log(&p)) != EX_OK || (rc = open_socket(&p)) != EX_OK)
		return rc;
	p.my_hz = measure_tsc_hz();
	if (p.my_hz > p.tsc_hz + p.tsc_hz / 50 || p.my_hz < p.tsc_hz - p.tsc_hz / 50)
		say(0, "warning: the send log's tsc_hz %llu differs from this host's TSC (%llu Hz measured): the "
		    "latencies are converted with the log's", (unsigned long long)p.tsc_hz, (unsigned long long)p.my_hz);
	if ((rc = init_pipeline(&p)) != EX_OK)
		return rc;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: a blocked recvmmsg() returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, PROG ": listening on %s (%s, batch %llu), send log %s (%llu slots, tsc_hz %llu)\n",
		p.o.listen, p.o.mode == MODE_BUSY ? "busy" : "block", (unsigned long long)p.o.batch, p.o.log,
		(unsigned long long)p.log_cap, (unsigned long long)p.tsc_hz);
	run(&p);
	struct results r;
	results(&p, &r);
	summary(&p, &r);
	if (p.o.json != NULL && (rc = write_json(&p, &r)) != EX_OK)
		return rc;
	return EX_OK;
}
