/* SPDX-License-Identifier: MIT */
/*
 * bench_ring: the staged pipeline's ring hop alone. The RX lcore hands a worker its events in
 * batches through an rte_ring of struct dd_event (dataplane/dpdk/lcore.c: push_batch() enqueues a
 * mark, whose rx_tsc is the TSC at the push, then the batch; the worker dequeues up to
 * DD_WORKER_BURST + 1 elements and records now - mark.rx_tsc as its `ring` stage). This does the
 * same with the daemon's element, burst and ring size (16,384, ring_size's default), the producer
 * on lcore 0 and the consumer on lcore 1, and records the hop in a dd_hdr histogram, by mode:
 *
 *   idle       one batch in flight: the producer waits until the consumer has taken it (the hop
 *              of a quiet market, every cache line moved once)
 *   paced      batches at --rate events/s (default 1,000,000), whatever is in flight
 *   saturated  the producer pushes as fast as the ring takes them: the hop then includes waiting
 *              behind earlier batches (what a worker that cannot keep up sees)
 *
 * each for batches of 1, 16 and 64 events. The consumer does nothing with the events but count
 * them, so this is the hand-over's cost, not a worker's. Medians and tails over --batches batches
 * per mode (default 200,000).
 *
 * usage: bench_ring [--batches N] [--rate EVENTS_PER_S] [--json FILE]
 * EAL arguments are fixed: --no-huge --no-pci -m 256 --no-shconf --no-telemetry
 * --log-level=*:warning -l 0-1 --file-prefix bench_ring_<pid>. It needs 2 CPUs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane/dpdk/lcore.h"
#include "dataplane/dpdk/ringcopy.h"
#include "ops/event.h"
#include "shm/hdr.h"

#define RING_SIZE 16384u

enum mode { M_IDLE, M_PACED, M_SATURATED, M__COUNT };
static const char *const mode_name[M__COUNT] = { "idle", "paced", "saturated" };
static const unsigned batch_sizes[] = { 1, 16, DD_WORKER_BURST };
#define NSIZES (sizeof(batch_sizes) / sizeof(batch_sizes[0]))

struct shared {
	struct rte_ring *ring;
	struct dd_hdr *hist;
	_Atomic uint64_t taken;     /* batches the consumer has taken */
	_Atomic uint64_t events;    /* events it counted */
	_Atomic int stop;
};

static int consumer(void *arg)
{
	struct shared *s = arg;
	struct dd_event ev[DD_WORKER_BURST + 1];
	uint64_t events = 0, taken = 0;
	while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
		unsigned n = dd_ring_dequeue_copy(s->ring, ev, sizeof(ev[0]), DD_WORKER_BURST + 1, NULL);
		if (n == 0) {
			rte_pause();
			continue;
		}
		uint64_t t1 = rte_rdtsc();
		for (unsigned i = 0; i < n; i++) {
			if (ev[i].type == DD_EV_MARK) {
				dd_hdr_record(s->hist, t1 > ev[i].rx_tsc ? t1 - ev[i].rx_tsc : 0);
				taken++;
			} else {
				events++;
			}
		}
		atomic_store_explicit(&s->events, events, memory_order_relaxed);
		atomic_store_explicit(&s->taken, taken, memory_order_release);
	}
	return 0;
}

static void push(struct rte_ring *r, struct dd_event *b, unsigned n)
{
	b[0].rx_tsc = rte_rdtsc();
	unsigned done = 0;
	while (done < n + 1)
		done += dd_ring_enqueue_copy(r, b + done, sizeof(b[0]), n + 1 - done);
}

struct result {
	double p50, p99, p999, max, mean;
	double events_per_s;
};

static struct result run_mode(struct shared *s, enum mode m, unsigned bsize, uint64_t batches, double rate)
{
	struct dd_event b[DD_WORKER_BURST + 1];
	memset(b, 0, sizeof(b));
	b[0].type = DD_EV_MARK;
	b[0].key = bsize;
	for (unsigned i = 1; i <= bsize; i++)
		b[i].type = DD_EV_ADD;
	dd_hdr_reset(s->hist);
	uint64_t base = atomic_load_explicit(&s->taken, memory_order_acquire);
	uint64_t ev0 = atomic_load_explicit(&s->events, memory_order_relaxed);
	uint64_t hz = rte_get_tsc_hz();
	double gap = m == M_PACED ? (double)bsize * (double)hz / rate : 0;
	uint64_t t0 = rte_rdtsc();
	for (uint64_t k = 0; k < batches; k++) {
		if (m == M_PACED) {
			uint64_t due = t0 + (uint64_t)((double)k * gap);
			while (rte_rdtsc() < due)
				rte_pause();
		}
		push(s->ring, b, bsize);
		if (m == M_IDLE)
			while (atomic_load_explicit(&s->taken, memory_order_acquire) < base + k + 1)
				rte_pause();
	}
	while (atomic_load_explicit(&s->taken, memory_order_acquire) < base + batches)
		rte_pause();
	uint64_t t1 = rte_rdtsc();
	uint64_t evs = atomic_load_explicit(&s->events, memory_order_relaxed) - ev0;
	if (evs != batches * bsize) {
		fprintf(stderr, "bench_ring: the consumer counted %" PRIu64 " events of %" PRIu64 "\n", evs, batches * bsize);
		exit(1);
	}
	double ns = 1e9 / (double)hz;
	struct result r = {
		.p50 = (double)dd_hdr_value_at_percentile(s->hist, 50) * ns,
		.p99 = (double)dd_hdr_value_at_percentile(s->hist, 99) * ns,
		.p999 = (double)dd_hdr_value_at_percentile(s->hist, 99.9) * ns,
		.max = (double)dd_hdr_max(s->hist) * ns,
		.mean = dd_hdr_mean(s->hist) * ns,
		.events_per_s = (double)evs / ((double)(t1 - t0) / (double)hz),
	};
	return r;
}

static double med3(const double *v)
{
	double a = v[0], b = v[1], c = v[2];
	return a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
}

int main(int argc, char **argv)
{
	uint64_t batches = 200000;
	double rate = 1e6;
	const char *json = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
			batches = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json = argv[++i];
		else {
			fprintf(stderr, "usage: bench_ring [--batches N] [--rate EVENTS_PER_S] [--json FILE]\n");
			return 2;
		}
	}
	if (batches == 0 || !(rate > 0)) {
		fprintf(stderr, "bench_ring: --batches and --rate must be positive\n");
		return 2;
	}
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=bench_ring_%d", (int)getpid());
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "-m", "256", "--no-shconf", "--no-telemetry",
			"--log-level=*:warning", "-l", "0-1", prefix, NULL };
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0 || rte_lcore_count() < 2) {
		fprintf(stderr, "bench_ring: rte_eal_init failed (it needs 2 CPUs)\n");
		return 1;
	}
	static struct shared s;
	s.ring = rte_ring_create_elem("bench_ring", sizeof(struct dd_event), RING_SIZE, (int)rte_socket_id(),
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
	const struct dd_hdr_params hp = { 1, 60ull * 3000000000ull, 3 }; /* TSC ticks, up to a minute at 3 GHz */
	if (s.ring == NULL || dd_hdr_create(&hp, &s.hist) != 0) {
		fprintf(stderr, "bench_ring: cannot create the ring or the histogram\n");
		return 1;
	}
	unsigned worker = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
	rte_eal_remote_launch(consumer, &s, worker);
	struct result res[M__COUNT][NSIZES];
	/* warm up, then every mode and size once per round, three rounds: the medians of the rounds */
	run_mode(&s, M_SATURATED, DD_WORKER_BURST, batches / 10 + 1, rate);
	double p50[M__COUNT][NSIZES][3], p99[M__COUNT][NSIZES][3];
	for (unsigned round = 0; round < 3; round++)
		for (unsigned m = 0; m < M__COUNT; m++)
			for (unsigned z = 0; z < NSIZES; z++) {
				res[m][z] = run_mode(&s, (enum mode)m, batch_sizes[z], batches, rate);
				p50[m][z][round] = res[m][z].p50;
				p99[m][z][round] = res[m][z].p99;
			}
	atomic_store_explicit(&s.stop, 1, memory_order_release);
	rte_eal_mp_wait_lcore();
	printf("bench_ring: the staged ring hop (push of a mark + batch -> the worker's dequeue), rte_ring of %u "
	       "struct dd_event (%zu bytes), lcores %u -> %u, %" PRIu64 " batches a mode, 3 rounds\n",
	       RING_SIZE, sizeof(struct dd_event), rte_get_main_lcore(), worker, batches);
	printf("  %-10s %6s %10s %10s %10s %10s %14s   (ns; last round's tails, p50 and p99 the median of 3)\n",
	       "mode", "batch", "p50", "p99", "p99.9", "max", "events/s");
	FILE *f = json != NULL ? fopen(json, "w") : NULL;
	if (json != NULL && f == NULL) {
		fprintf(stderr, "bench_ring: cannot write %s\n", json);
		return 1;
	}
	if (f != NULL)
		fprintf(f, "{\"bench\": \"ring\", \"ring_size\": %u, \"event_bytes\": %zu, \"batches\": %" PRIu64
			", \"paced_rate\": %.0f, \"modes\": [", RING_SIZE, sizeof(struct dd_event), batches, rate);
	for (unsigned m = 0; m < M__COUNT; m++)
		for (unsigned z = 0; z < NSIZES; z++) {
			double m50 = med3(p50[m][z]), m99 = med3(p99[m][z]);
			const struct result *r = &res[m][z];
			printf("  %-10s %6u %10.0f %10.0f %10.0f %10.0f %14.0f\n", mode_name[m], batch_sizes[z], m50, m99,
			       r->p999, r->max, r->events_per_s);
			if (f != NULL)
				fprintf(f, "%s\n  {\"mode\": \"%s\", \"batch\": %u, \"p50_ns\": %.1f, \"p99_ns\": %.1f, \"p999_ns\": %.1f, "
					"\"max_ns\": %.1f, \"events_per_s\": %.0f}", m + z ? "," : "", mode_name[m], batch_sizes[z],
					m50, m99, r->p999, r->max, r->events_per_s);
		}
	if (f != NULL) {
		fprintf(f, "\n]}\n");
		fclose(f);
	}
	dd_hdr_free(s.hist);
	rte_ring_free(s.ring);
	rte_eal_cleanup();
	return 0;
}
