/* SPDX-License-Identifier: MIT */
/*
 * dadar-gen send: a capture's MoldUDP64 datagrams out of a DPDK port at a paced rate (tools/send.h).
 *
 * The capture is read into memory at the start; its data datagrams are sent in order, looping, on
 * the schedule of tools/sendplan.h, each stamped with the TSC just before its burst is handed to
 * the port. The sender spins on the TSC on the lcore EAL gives it (the main lcore). Lateness (how
 * long after its scheduled time a datagram was handed over) is recorded in a histogram: it says
 * whether the offered load was the one asked for.
 */
#include "tools/send.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "shm/hdr.h"
#include "tools/pcapr.h"
#include "tools/sendplan.h"

#define PROG "dadar-gen send"
#define EXIT_DATA 1
#define EXIT_USAGE 2
#define BURST 32
#define POOL_MBUFS 8191u
#define FRAME_MAX 9216u

struct frame {
	struct dd_sendframe f;
	size_t off;                 /* into the capture's bytes */
};

struct sender {
	/* options */
	const char *pcap, *log_path, *summary;
	double rate, seconds;
	uint64_t passes;
	struct dd_sendplan_params plan;
	uint16_t port;
	bool stamp;
	unsigned delay_ms, link_wait_s;
	/* the capture */
	uint8_t *bytes;
	struct frame *frames;
	size_t nframes;
	uint64_t span;              /* messages in one pass */
	uint64_t first_seq;
	bool can_loop;
	uint64_t other_frames, control_frames;
	/* the send log */
	uint8_t *log;
	size_t log_len;
	uint64_t log_cap;
	/* the run */
	struct rte_mempool *pool;
	struct dd_hdr *late;
	uint64_t datagrams, messages, pass, tx_retries, mbuf_waits, last_seq, unlogged;
	bool stuck;                 /* the port took nothing for 2 s: the run was cut short */
	double elapsed_s;
};

static atomic_int quit;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&quit, 1);
}

static volatile sig_atomic_t exit_code; /* what on_alarm() exits with: the run's status */

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = PROG ": the port's teardown took over 5 s: exiting without it\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)w;
	_exit(exit_code);
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
	fputs("usage: dadar-gen send [EAL options] -- --pcap FILE --rate MSGS_PER_S [--seconds N | --passes N]\n"
	      "                      [--burst MULT:ON_US:PERIOD_US] [--port-id N] [--send-log FILE] [--no-stamp]\n"
	      "                      [--start-delay-ms MS] [--link-wait-s S] [--summary FILE]\n"
	      "\n"
	      "Sends the MoldUDP64 data datagrams of a capture out of DPDK port --port-id at --rate messages a\n"
	      "second, looping the capture (each pass numbered on from the last: one session 1, 2, 3, ...),\n"
	      "each frame stamped with the TSC it was sent at after its IP packet (docs/wire-formats.md, Send\n"
	      "stamps; dadar reads it with stamps = yes). Heartbeats and ends of session are not sent.\n"
	      "\n"
	      "  --pcap FILE           the capture (dadar-gen synth --drain makes one that loops cleanly)\n"
	      "  --rate MSGS_PER_S     messages a second offered (e.g. 1000000 or 1e6)\n"
	      "  --seconds N           send for N seconds of the schedule (default: one pass)\n"
	      "  --passes N            send the capture N times instead\n"
	      "  --burst MULT:ON_US:PERIOD_US  for the first ON_US of every PERIOD_US, MULT times the rate\n"
	      "                        (microbursts like a market open's), e.g. 10:200:10000\n"
	      "  --port-id N           the DPDK port (default 0)\n"
	      "  --send-log FILE       write every message's send TSC there (tools/send.h), for receivers that\n"
	      "                        cannot see the stamp (a kernel socket)\n"
	      "  --no-stamp            send the frames as captured (numbers moved on when looping)\n"
	      "  --start-delay-ms MS   wait after the link is up before the first datagram (default 200)\n"
	      "  --link-wait-s S       how long to wait for the link (net_memif: the peer) (default 10)\n"
	      "  --summary FILE        the run's figures as JSON\n"
	      "\n"
	      "exit status: 0 sent; 1 the capture, the port or the log failed; 2 bad command line\n",
	      out);
}

static bool num(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv, struct sender *s)
{
	s->stamp = true;
	s->delay_ms = 200;
	s->link_wait_s = 10;
	s->plan.burst_mult = 1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--no-stamp") == 0) {
			s->stamp = false;
			continue;
		}
		if (i + 1 >= argc)
			return say(EXIT_USAGE, "%s: needs a value (dadar-gen send -- --help)", a);
		const char *v = argv[++i];
		double d;
		if (strcmp(a, "--pcap") == 0) {
			s->pcap = v;
		} else if (strcmp(a, "--rate") == 0) {
			if (!num(v, 1, 1e9, &s->rate))
				return say(EXIT_USAGE, "--rate '%s': messages a second, 1 to 1e9", v);
		} else if (strcmp(a, "--seconds") == 0) {
			if (!num(v, 0.001, 86400, &s->seconds))
				return say(EXIT_USAGE, "--seconds '%s': 0.001 to 86400", v);
		} else if (strcmp(a, "--passes") == 0) {
			if (!num(v, 1, 1e9, &d) || d != floor(d))
				return say(EXIT_USAGE, "--passes '%s': a whole number, at least 1", v);
			s->passes = (uint64_t)d;
		} else if (strcmp(a, "--burst") == 0) {
			double m, on, per;
			char extra;
			if (sscanf(v, "%lf:%lf:%lf%c", &m, &on, &per, &extra) != 3 || !(m >= 1) || !(on > 0) ||
			    !(per > on) || per > 3.6e9)
				return say(EXIT_USAGE, "--burst '%s': MULT:ON_US:PERIOD_US with MULT >= 1 and 0 < ON_US < "
					   "PERIOD_US (e.g. 10:200:10000)", v);
			s->plan.burst_mult = m;
			s->plan.burst_on_ns = (uint64_t)(on * 1000);
			s->plan.burst_period_ns = (uint64_t)(per * 1000);
		} else if (strcmp(a, "--port-id") == 0) {
			if (!num(v, 0, RTE_MAX_ETHPORTS - 1, &d) || d != floor(d))
				return say(EXIT_USAGE, "--port-id '%s': a DPDK port number", v);
			s->port = (uint16_t)d;
		} else if (strcmp(a, "--send-log") == 0) {
			s->log_path = v;
		} else if (strcmp(a, "--start-delay-ms") == 0) {
			if (!num(v, 0, 600000, &d))
				return say(EXIT_USAGE, "--start-delay-ms '%s': 0 to 600000", v);
			s->delay_ms = (unsigned)d;
		} else if (strcmp(a, "--link-wait-s") == 0) {
			if (!num(v, 0, 3600, &d))
				return say(EXIT_USAGE, "--link-wait-s '%s': 0 to 3600", v);
			s->link_wait_s = (unsigned)d;
		} else if (strcmp(a, "--summary") == 0) {
			s->summary = v;
		} else {
			return say(EXIT_USAGE, "unknown option '%s' (dadar-gen send -- --help)", a);
		}
	}
	if (s->pcap == NULL || s->rate == 0)
		return say(EXIT_USAGE, "--pcap FILE and --rate MSGS_PER_S are needed (dadar-gen send -- --help)");
	if (s->seconds != 0 && s->passes != 0)
		return say(EXIT_USAGE, "--seconds or --passes, not both");
	s->plan.rate = s->rate;
	return 0;
}

/* The capture's data datagrams into memory; whether its numbers allow looping. */
static int load(struct sender *s)
{
	struct dd_pcapr r;
	char err[512];
	if (dd_pcapr_open(&r, s->pcap, err, sizeof(err)) != 0)
		return say(EXIT_DATA, "%s", err);
	struct stat st;
	if (fstat(fileno(r.f), &st) != 0 || (s->bytes = malloc((size_t)st.st_size + 1)) == NULL ||
	    (s->frames = calloc((size_t)st.st_size / 16 + 1, sizeof(*s->frames))) == NULL) {
		dd_pcapr_close(&r);
		return say(EXIT_DATA, "%s: cannot hold it in memory", s->pcap);
	}
	static uint8_t buf[DD_PCAPR_MAX_FRAME];
	size_t used = 0;
	uint64_t next = 0;
	char session[10];
	s->can_loop = true;
	for (;;) {
		long n = dd_pcapr_next(&r, buf, sizeof(buf), err, sizeof(err));
		if (n == 0)
			break;
		if (n == -2) {
			dd_pcapr_close(&r);
			return say(EXIT_DATA, "%s", err);
		}
		struct dd_sendframe f;
		enum dd_sendframe_kind k = n < 0 ? DD_SENDFRAME_OTHER : dd_sendframe_parse(buf, (size_t)n, &f);
		if (k == DD_SENDFRAME_OTHER) {
			s->other_frames++;
			continue;
		}
		if (k == DD_SENDFRAME_CONTROL) {
			s->control_frames++;
			continue;
		}
		if (dd_sendframe_len(&f, true) > FRAME_MAX) {
			s->other_frames++;
			continue;
		}
		if (s->nframes == 0) {
			s->first_seq = f.seq;
			memcpy(session, f.session, sizeof(session));
		} else if (f.seq != next || memcmp(session, f.session, sizeof(session)) != 0) {
			s->can_loop = false;
		}
		next = f.seq + f.count;
		s->span += f.count;
		memcpy(s->bytes + used, buf, f.ip_end);
		s->frames[s->nframes++] = (struct frame){ f, used };
		used += f.ip_end;
	}
	dd_pcapr_close(&r);
	if (s->nframes == 0)
		return say(EXIT_DATA, "%s: no MoldUDP64 datagram with messages in it (%" PRIu64 " other frames)", s->pcap,
			   s->other_frames);
	return 0;
}

static int open_log(struct sender *s, uint64_t messages)
{
	s->log_cap = messages + 1024;
	s->log_len = DD_SENDLOG_HDR + s->log_cap * 8;
	int fd = open(s->log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return say(EXIT_DATA, "--send-log %s: %s", s->log_path, strerror(errno));
	if (ftruncate(fd, (off_t)s->log_len) != 0) {
		close(fd);
		return say(EXIT_DATA, "--send-log %s: cannot make it %zu bytes: %s", s->log_path, s->log_len,
			   strerror(errno));
	}
	s->log = mmap(NULL, s->log_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (s->log == MAP_FAILED) {
		s->log = NULL;
		return say(EXIT_DATA, "--send-log %s: mmap: %s", s->log_path, strerror(errno));
	}
	/* touch every page now, so no page fault lands in the send loop */
	for (size_t o = DD_SENDLOG_HDR; o < s->log_len; o += 4096)
		s->log[o] = 0;
	/* the header last, its version last of all: a reader that sees version 1 sees the rest */
	memcpy(s->log + 16, &s->log_cap, 8);
	uint64_t hz = rte_get_tsc_hz();
	memcpy(s->log + 24, &hz, 8);
	memcpy(s->log, DD_SENDLOG_MAGIC, 8);
	__atomic_store_n((uint32_t *)(void *)(s->log + 8), DD_SENDLOG_VERSION, __ATOMIC_RELEASE);
	return 0;
}

static int start_port(struct sender *s)
{
	if (!rte_eth_dev_is_valid_port(s->port))
		return say(EXIT_DATA, "DPDK port %u does not exist (%u ports: give the EAL a --vdev or a NIC)", s->port,
			   rte_eth_dev_count_avail());
	s->pool = rte_pktmbuf_pool_create("dd_send", POOL_MBUFS, 256, 0, RTE_PKTMBUF_HEADROOM + FRAME_MAX,
					  (int)rte_socket_id());
	if (s->pool == NULL)
		return say(EXIT_DATA, "cannot create a pool of %u mbufs: %s (raise -m)", POOL_MBUFS, rte_strerror(rte_errno));
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	uint16_t nrx = 512, ntx = 1024;
	int rc = rte_eth_dev_configure(s->port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(s->port, &nrx, &ntx);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(s->port, 0, nrx, (unsigned)rte_socket_id(), NULL, s->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(s->port, 0, ntx, (unsigned)rte_socket_id(), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(s->port);
	if (rc != 0)
		return say(EXIT_DATA, "port %u: setup failed: %s", s->port, rte_strerror(-rc));
	uint64_t until = rte_get_tsc_cycles() + (uint64_t)s->link_wait_s * rte_get_tsc_hz();
	struct rte_eth_link link;
	do {
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(s->port, &link);
		if (link.link_status == RTE_ETH_LINK_UP)
			break;
		rte_delay_ms(10);
	} while (rte_get_tsc_cycles() < until && !atomic_load(&quit));
	if (link.link_status != RTE_ETH_LINK_UP)
		return say(EXIT_DATA, "port %u: the link did not come up in %u s (net_memif: is the other side running?)",
			   s->port, s->link_wait_s);
	rte_delay_ms(s->delay_ms);
	return 0;
}

/* The next datagram to send, on the schedule. */
struct next {
	const struct frame *fr;
	uint64_t seq_add;
	uint64_t due;               /* TSC */
	bool done;
};

static void advance(struct sender *s, struct dd_sendplan *plan, size_t *idx, uint64_t start, double tsc_per_ns,
		    struct next *n)
{
	if (*idx == s->nframes) {
		*idx = 0;
		s->pass++;
	}
	if ((s->passes != 0 && s->pass >= s->passes) || (s->passes == 0 && s->seconds == 0 && s->pass >= 1)) {
		n->done = true;
		return;
	}
	const struct frame *fr = &s->frames[(*idx)++];
	uint64_t t = dd_sendplan_next(plan, fr->f.count);
	if (s->seconds != 0 && (double)t >= s->seconds * 1e9) {
		n->done = true;
		return;
	}
	n->fr = fr;
	n->seq_add = s->pass * s->span;
	n->due = start + (uint64_t)((double)t * tsc_per_ns);
}

static void run(struct sender *s)
{
	struct dd_sendplan plan;
	dd_sendplan_init(&plan, &s->plan);
	double tsc_per_ns = (double)rte_get_tsc_hz() / 1e9;
	uint64_t start = rte_rdtsc() + rte_get_tsc_hz() / 1000;
	size_t idx = 0;
	struct next n = { 0 };
	advance(s, &plan, &idx, start, tsc_per_ns, &n);
	struct rte_mbuf *burst[BURST];
	struct next meta[BURST];
	uint64_t first_tsc = 0, last_tsc = 0, stuck_since = 0;
	unsigned spins = 0;
	while (!n.done) {
		uint64_t now = rte_rdtsc();
		if (now < n.due) {
			if (++spins == 4096) {
				spins = 0;
				if (atomic_load_explicit(&quit, memory_order_relaxed))
					break;
			}
			rte_pause();
			continue;
		}
		unsigned k = 0;
		while (k < BURST && !n.done && n.due <= now) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(s->pool);
			if (m == NULL) { /* the port still holds them: it frees them as it sends */
				s->mbuf_waits++;
				if (stuck_since == 0)
					stuck_since = now;
				break;
			}
			uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
			size_t len = dd_sendframe_build(d, rte_pktmbuf_tailroom(m), s->bytes + n.fr->off, &n.fr->f, n.seq_add,
							s->stamp);
			m->data_len = (uint16_t)len;
			m->pkt_len = (uint32_t)len;
			dd_hdr_record(s->late, (uint64_t)((double)(now - n.due) / tsc_per_ns));
			meta[k] = n;
			burst[k++] = m;
			advance(s, &plan, &idx, start, tsc_per_ns, &n);
		}
		if (k == 0) {
			if (stuck_since != 0 && now - stuck_since > 2 * rte_get_tsc_hz()) {
				s->stuck = true;
				break;
			}
			continue;
		}
		uint64_t tsc = rte_rdtsc();
		for (unsigned i = 0; i < k; i++) {
			const struct dd_sendframe *f = &meta[i].fr->f;
			if (s->stamp)
				dd_sendframe_stamp(rte_pktmbuf_mtod(burst[i], uint8_t *), f, tsc);
			uint64_t seq = f->seq + meta[i].seq_add;
			if (s->log != NULL) {
				uint64_t *slot = (uint64_t *)(void *)(s->log + DD_SENDLOG_HDR);
				for (uint64_t q = seq; q < seq + f->count; q++)
					if (q - 1 < s->log_cap)
						slot[q - 1] = tsc;
					else
						s->unlogged++;
			}
			s->messages += f->count;
			s->last_seq = seq + f->count - 1;
		}
		if (s->log != NULL)
			__atomic_store_n((uint64_t *)(void *)(s->log + 32), s->messages, __ATOMIC_RELEASE);
		/* the port takes them all (a generator waits rather than drops), unless it takes nothing
		 * for 2 s: the receiver is gone (a memif peer that stopped reading) */
		uint16_t sent = 0;
		uint64_t since = tsc;
		while (sent < k) {
			uint16_t t = rte_eth_tx_burst(s->port, 0, burst + sent, (uint16_t)(k - sent));
			if (t < k - sent)
				s->tx_retries++;
			sent = (uint16_t)(sent + t);
			if (t > 0)
				since = rte_rdtsc();
			else if (rte_rdtsc() - since > 2 * rte_get_tsc_hz())
				break;
		}
		if (sent < k) {
			rte_pktmbuf_free_bulk(burst + sent, k - sent);
			s->stuck = true;
			break;
		}
		stuck_since = 0;
		s->datagrams += k;
		if (first_tsc == 0)
			first_tsc = tsc;
		last_tsc = tsc;
	}
	s->elapsed_s = last_tsc > first_tsc ? (double)(last_tsc - first_tsc) / (double)rte_get_tsc_hz() : 0;
}

static void report(struct sender *s)
{
	double rate = s->elapsed_s > 0 ? (double)s->messages / s->elapsed_s : 0;
	uint64_t p50 = dd_hdr_value_at_percentile(s->late, 50), p99 = dd_hdr_value_at_percentile(s->late, 99),
		 p999 = dd_hdr_value_at_percentile(s->late, 99.9), mx = dd_hdr_max(s->late);
	fprintf(stderr,
		PROG ": %" PRIu64 " messages in %" PRIu64 " datagrams over %.3f s (%.0f messages/s offered at %.0f%s), "
		     "%.2f passes, last number %" PRIu64 "; late p50 %" PRIu64 " ns, p99 %" PRIu64 " ns, p99.9 %"
		     PRIu64 " ns, max %" PRIu64 " ns; tx retries %" PRIu64 ", mbuf waits %" PRIu64 "\n",
		s->messages, s->datagrams, s->elapsed_s, rate, s->rate, s->plan.burst_mult > 1 ? " with bursts" : "",
		(double)s->messages / (double)s->span, s->last_seq, p50, p99, p999, mx, s->tx_retries,
		s->mbuf_waits);
	if (s->summary == NULL)
		return;
	FILE *f = fopen(s->summary, "w");
	if (f == NULL) {
		say(0, "--summary %s: %s", s->summary, strerror(errno));
		return;
	}
	fprintf(f,
		"{\"rate\": %.0f, \"burst_mult\": %g, \"burst_on_ns\": %" PRIu64 ", \"burst_period_ns\": %" PRIu64
		", \"stamped\": %s, \"messages\": %" PRIu64 ", \"datagrams\": %" PRIu64 ", \"seconds\": %.6f"
		", \"sent_per_s\": %.0f, \"first_seq\": %" PRIu64 ", \"last_seq\": %" PRIu64 ", \"capture_messages\": %" PRIu64
		", \"capture_datagrams\": %zu, \"skipped_frames\": %" PRIu64 ", \"late_p50_ns\": %" PRIu64
		", \"late_p99_ns\": %" PRIu64 ", \"late_p999_ns\": %" PRIu64 ", \"late_max_ns\": %" PRIu64
		", \"tx_retries\": %" PRIu64 ", \"mbuf_waits\": %" PRIu64 ", \"unlogged\": %" PRIu64 "}\n",
		s->rate, s->plan.burst_mult, s->plan.burst_on_ns, s->plan.burst_period_ns, s->stamp ? "true" : "false",
		s->messages, s->datagrams, s->elapsed_s, rate, s->first_seq, s->last_seq, s->span, s->nframes,
		s->other_frames + s->control_frames, p50, p99, p999, mx, s->tx_retries, s->mbuf_waits, s->unlogged);
	if (fclose(f) != 0)
		say(0, "--summary %s: %s", s->summary, strerror(errno));
}

int dd_gen_send(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 && (i == 1 || strcmp(argv[i - 1], "--") == 0)) {
			usage(stdout);
			return 0;
		}
	static struct sender s;
	int eal = rte_eal_init(argc, argv);
	if (eal < 0)
		return say(EXIT_DATA, "DPDK initialisation failed: %s (EAL options go before --)", rte_strerror(rte_errno));
	int rc = parse_args(argc - eal - 1, argv + eal + 1, &s);
	if (rc == 0)
		rc = load(&s);
	if (rc == 0 && (s.passes > 1 || s.seconds != 0) && !s.can_loop)
		rc = say(EXIT_DATA, "%s: its datagrams are not one session numbered without gaps, so it cannot be looped "
			 "(--passes 1, or a capture of one session)", s.pcap);
	if (rc == 0 && dd_sendplan_init(&(struct dd_sendplan){ 0 }, &s.plan) != 0)
		rc = say(EXIT_USAGE, "--rate and --burst do not make a schedule");
	if (rc == 0 && dd_hdr_create(&(struct dd_hdr_params){ 1, 60000000000ull, 3 }, &s.late) != 0)
		rc = say(EXIT_DATA, "out of memory");
	if (rc == 0 && s.log_path != NULL) {
		double avg = s.rate * (s.plan.burst_mult > 1 ? 1 + (s.plan.burst_mult - 1) * (double)s.plan.burst_on_ns /
								       (double)s.plan.burst_period_ns : 1);
		uint64_t msgs = s.passes != 0 ? s.passes * s.span : s.seconds != 0 ? (uint64_t)(avg * s.seconds) + s.span
										     : s.span;
		rc = open_log(&s, msgs + s.first_seq);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (rc == 0)
		rc = start_port(&s);
	if (rc == 0) {
		run(&s);
		report(&s);
		if (s.stuck)
			rc = say(EXIT_DATA, "port %u took nothing for 2 s after %" PRIu64 " datagrams: is the receiver "
				 "running and reading (net_memif: the other side)?", s.port, s.datagrams);
		/* the figures are out: the port's teardown must not hold the exit (a net_memif client's
		 * stop and EAL's cleanup were once seen to hang on a loaded host), so it gets 5 s */
		exit_code = rc;
		signal(SIGALRM, on_alarm);
		alarm(5);
		rte_delay_ms(50); /* let the port finish what it was given */
		rte_eth_dev_stop(s.port);
		rte_eth_dev_close(s.port);
	}
	if (s.log != NULL)
		munmap(s.log, s.log_len);
	dd_hdr_free(s.late);
	free(s.bytes);
	free(s.frames);
	rte_eal_cleanup();
	return rc;
}
