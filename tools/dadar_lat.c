/* SPDX-License-Identifier: MIT */
/*
 * dadar-lat: the latency inspector. Attaches read-only to a dadar instance's telemetry segment
 * (shm/telemetry.h), running or exited, and shows its latency histograms and counters: a summary
 * table, a live view of each interval, histogram bars, HdrHistogram's percentile text, an
 * HdrHistogram V2 interval log (.hlog), JSON, and Prometheus' text exposition, printed or served
 * over HTTP; it also lists the instances in /dev/shm. docs/reading-latency.md explains every view.
 *
 * What there is to show comes from the segment's stage and counter tables, not from this program:
 * every stage the header describes has its rows, lines and tags; the pipeline's counters, found by
 * name, get their own lines (packets, sequencing, ring, journal); any other counter an operator
 * described is shown per slot as name=value and in the JSON under its name.
 *
 * The segment is untrusted input: its layout is validated once after attaching (every histogram
 * with dd_hdr_check()), the pointers into it are computed then and kept, names are read with
 * bounds, and histograms are copied out word by word with our own validated length before any
 * query, so a header rewritten later by a faulty or hostile writer cannot steer a read or a write
 * out of bounds. Nothing is ever written to it (it is mapped read-only).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/config/config.h"
#include "dataplane/config/jsonw.h"
#include "shm/hdr.h"
#include "shm/telemetry.h"

/* Exit statuses, documented in --help and docs/reading-latency.md. */
enum {
	EX_OK = 0,
	EX_FAIL = 1,      /* an I/O or memory failure while running */
	EX_USAGE = 2,     /* bad command line */
	EX_NOINST = 3,    /* no such instance */
	EX_FORMAT = 4,    /* version mismatch or malformed segment */
	EX_PERM = 5,      /* permission denied */
	EX_LISTEN = 6,    /* --serve cannot listen on the address */
};

enum mode { MODE_TABLE, MODE_WATCH, MODE_HIST, MODE_PCT, MODE_HLOG, MODE_PROM, MODE_SERVE, MODE_LIST };

struct opts {
	const char *instance;
	enum mode mode;
	bool json;
	bool per_lcore;
	long lcore;              /* -1: every lcore */
	double period_s;         /* --watch / --interval */
	double duration_s;       /* 0: until stopped */
	unsigned long count;     /* intervals; 0: until stopped */
	const char *stage;       /* --hist / --percentiles */
	const char *hlog;
	const char *unit;
	double unit_ratio;       /* ns per displayed unit */
	bool interval_given;
	bool instance_given;
	const char *listen;      /* --serve ADDR:PORT */
};

/* ---- the validated segment ------------------------------------------------------------------ */

struct slot_info {
	unsigned lcore;
	unsigned role;
	char name[DD_TM_NAME + 1];
	const struct dd_tm_slot *live;
};

struct seg {
	struct dd_tm tm;
	char instance[DD_TM_INSTANCE + 1];
	unsigned major, minor;
	int64_t pid;
	uint64_t start_time_ns;
	uint64_t tsc_hz;
	unsigned nslots, nstages, ncounters, nreasons;
	char stage[DD_TM_MAX_STAGES][DD_TM_NAME + 1];
	char counter[DD_TM_MAX_COUNTERS][DD_TM_NAME + 1];
	unsigned ckind[DD_TM_MAX_COUNTERS];          /* enum dd_tm_kind as the header says */
	int known[DD_TM_C__PIPELINE];                /* where each pipeline counter is (by name); -1: absent */
	bool generic[DD_TM_MAX_COUNTERS];            /* not a pipeline counter: shown as name=value */
	char reason[DD_TM_MAX_REASONS][DD_TM_NAME + 1];
	struct slot_info slot[DD_TM_MAX_SLOTS];
	const struct dd_hdr *live[DD_TM_MAX_SLOTS][DD_TM_MAX_STAGES];
	struct dd_hdr_params params; /* shared by every histogram of the segment (checked) */
	bool sel[DD_TM_MAX_SLOTS];   /* slots shown (--lcore) */
	struct dd_hdr *copy;         /* private scratch for copying a live histogram out */
};

/* A name field of the segment: at most `n` bytes, not necessarily terminated. */
static void copy_name(char *dst, const char *src, size_t n)
{
	size_t len = strnlen(src, n);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static const char *role_name(unsigned role)
{
	switch (role) {
	case DD_TM_ROLE_RX:
		return "rx";
	case DD_TM_ROLE_WORKER:
		return "worker";
	case DD_TM_ROLE_JOURNAL:
		return "journal";
	case DD_TM_ROLE_NONE:
		return "none";
	default:
		return "unknown";
	}
}

/*
 * Where fail() puts its message: always into `last`, and on stderr unless `quiet`. --serve and --list
 * attach to instances that may be missing or unreadable as part of their normal work: they read the
 * message from here (into a scrape, a line of the list) instead of printing one per attempt.
 */
static struct {
	bool quiet;
	char last[512];
} g_err;

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_err.last, sizeof(g_err.last), fmt, ap);
	va_end(ap);
	if (!g_err.quiet)
		fprintf(stderr, "dadar-lat: %s\n", g_err.last);
	return code;
}

static bool same_params(const struct dd_hdr_params *a, const struct dd_hdr_params *b)
{
	return a->lowest == b->lowest && a->highest == b->highest && a->sigfigs == b->sigfigs;
}

/*
 * Everything we will read, checked once: names, slot identities, and every histogram block (inside
 * the mapping, initialised, of a version we know, parameters consistent with its size and equal
 * across the segment so that lcores can be merged). Returns an exit status.
 */
static int seg_load(struct seg *g)
{
	const struct dd_tm_header *h = g->tm.hdr;
	const char *path = g->tm.path;
	copy_name(g->instance, h->instance, sizeof(h->instance));
	g->major = h->major;
	g->minor = h->minor;
	g->pid = h->pid;
	g->start_time_ns = h->start_time_ns;
	g->tsc_hz = h->tsc_hz;
	g->nslots = h->nslots;
	g->nstages = h->nstages;
	g->ncounters = h->ncounters;
	g->nreasons = h->nreasons;
	/* dd_tm_attach() bounded these; checked again because the header is shared and we keep copies */
	if (g->nslots == 0 || g->nslots > DD_TM_MAX_SLOTS || g->nstages == 0 || g->nstages > DD_TM_MAX_STAGES ||
	    g->ncounters > DD_TM_MAX_COUNTERS || g->nreasons > DD_TM_MAX_REASONS)
		return fail(EX_FORMAT, "/dev/shm%s: %u slots, %u stages, %u counters, %u reasons are out of range: "
			    "malformed segment", path, g->nslots, g->nstages, g->ncounters, g->nreasons);
	for (unsigned t = 0; t < g->nstages; t++) {
		copy_name(g->stage[t], h->stage[t].name, DD_TM_NAME);
		if (g->stage[t][0] == '\0')
			snprintf(g->stage[t], sizeof(g->stage[t]), "stage%u", t);
	}
	/* the pipeline's counters are known by the names dd_tm_layout_init() gives them, wherever they are */
	struct dd_tm_layout pipe;
	dd_tm_layout_init(&pipe);
	for (unsigned k = 0; k < DD_TM_C__PIPELINE; k++)
		g->known[k] = -1;
	for (unsigned c = 0; c < g->ncounters; c++) {
		copy_name(g->counter[c], h->counter[c].name, DD_TM_NAME);
		if (g->counter[c][0] == '\0')
			snprintf(g->counter[c], sizeof(g->counter[c]), "counter%u", c);
		g->ckind[c] = h->counter[c].kind;
		g->generic[c] = true;
		for (unsigned k = 0; k < DD_TM_C__PIPELINE; k++)
			if (g->known[k] < 0 && strcmp(g->counter[c], pipe.counter[k].name) == 0) {
				g->known[k] = (int)c;
				g->generic[c] = false;
			}
	}
	for (unsigned r = 0; r < g->nreasons; r++)
		copy_name(g->reason[r], h->reason_names[r], DD_TM_NAME);

	const char *base = (const char *)h;
	size_t hist_len = (size_t)h->hist_size;
	for (unsigned s = 0; s < g->nslots; s++) {
		const struct dd_tm_slot *sl = dd_tm_slot(&g->tm, s);
		/* the mapping is page-aligned: an offset that is not a multiple of 64 misplaces the slot */
		if ((const char *)sl < base || (size_t)((const char *)sl - base) + sizeof(*sl) > g->tm.size ||
		    ((uintptr_t)sl & 63) != 0)
			return fail(EX_FORMAT, "/dev/shm%s: slot %u is misplaced (outside the %zu-byte object or not "
				    "cache-line aligned): malformed segment", path, s, g->tm.size);
		g->slot[s].live = sl;
		g->slot[s].lcore = sl->lcore;
		g->slot[s].role = sl->role;
		copy_name(g->slot[s].name, sl->name, DD_TM_NAME);
		for (unsigned t = 0; t < g->nstages; t++) {
			const struct dd_hdr *hh = dd_tm_hist(&g->tm, s, t);
			size_t off = (size_t)((const char *)hh - base);
			if ((const char *)hh < base || off > g->tm.size || hist_len > g->tm.size - off ||
			    ((uintptr_t)hh & (DD_HDR_ALIGN - 1)) != 0)
				return fail(EX_FORMAT,
					    "/dev/shm%s: histogram (slot %u, stage %s) is misplaced (outside the %zu-byte "
					    "object or not cache-line aligned): malformed segment", path, s, g->stage[t],
					    g->tm.size);
			int rc = dd_hdr_check(hh, hist_len);
			if (rc == -EPROTO)
				return fail(EX_FORMAT,
					    "version mismatch: histogram (slot %u, stage %s) of /dev/shm%s is HdrHistogram "
					    "block v%u, this reader knows v%u.x: use the dadar-lat built with that dadar",
					    s, g->stage[t], path, hh->version_major, DD_HDR_VERSION_MAJOR);
			if (rc != 0)
				return fail(EX_FORMAT, "/dev/shm%s: histogram (slot %u, stage %s) is %s: malformed segment",
					    path, s, g->stage[t], rc == -ENODATA ? "not initialised" : "inconsistent");
			struct dd_hdr_params p;
			dd_hdr_params_of(hh, &p);
			/* read again after the check: the size we copy by must fit the block we checked */
			size_t need = dd_hdr_memsize(&p);
			if (need == 0 || need > hist_len)
				return fail(EX_FORMAT, "/dev/shm%s: histogram (slot %u, stage %s) changed under us: "
					    "malformed segment", path, s, g->stage[t]);
			if (s == 0 && t == 0)
				g->params = p;
			else if (!same_params(&p, &g->params))
				return fail(EX_FORMAT,
					    "/dev/shm%s: histogram (slot %u, stage %s) has other parameters than the "
					    "first one: malformed segment", path, s, g->stage[t]);
			g->live[s][t] = hh;
		}
	}
	if (dd_hdr_create(&g->params, &g->copy) != 0)
		return fail(EX_FAIL, "out of memory for a histogram (%zu bytes)", dd_hdr_memsize(&g->params));
	return EX_OK;
}

static int seg_attach(struct seg *g, const char *instance)
{
	char err[512];
	memset(g, 0, sizeof(*g));
	int rc = dd_tm_attach(&g->tm, instance, err, sizeof(err));
	switch (rc) {
	case 0:
		break;
	case -ENOENT:
		return fail(EX_NOINST, "%s\n  check --instance (default 'dadar'); running instances: ls /dev/shm/dadar-*",
			    err);
	case -EACCES:
	case -EPERM:
		return fail(EX_PERM, "%s", err);
	case -EPROTO:
		return fail(EX_FORMAT, "%s", err);
	case -EBADMSG:
		return fail(EX_FORMAT, "%s: malformed segment", err);
	default:
		return fail(EX_FAIL, "%s", err);
	}
	rc = seg_load(g);
	if (rc != EX_OK) {
		dd_tm_detach(&g->tm);
		dd_hdr_free(g->copy);
		g->copy = NULL;
	}
	return rc;
}

static void seg_detach(struct seg *g)
{
	dd_tm_detach(&g->tm);
	dd_hdr_free(g->copy);
	g->copy = NULL;
}

enum run_state { RUNNING, EXITED, GONE };

/* RUNNING; EXITED (the instance closed its segment); GONE (marked running, but its process is not). */
static enum run_state seg_state(const struct seg *g, uint64_t *exit_ns)
{
	/* Acquire: pairs with the release store of EXITED in dd_tm_close(); the final counters and
	 * histograms written before it are visible after it. */
	uint32_t st = atomic_load_explicit(&g->tm.hdr->state, memory_order_acquire);
	*exit_ns = 0;
	if (st == DD_TM_EXITED) {
		*exit_ns = atomic_load_explicit(&g->tm.hdr->exit_time_ns, memory_order_relaxed);
		return EXITED;
	}
	return dd_tm_owner_alive(g->tm.hdr) ? RUNNING : GONE;
}

/*
 * Copy live histogram `live` into `dst` (dd_hdr_memsize(&g->params) bytes). The counts are read
 * word by word, up to the length validated in seg_load(), into a private block; dd_hdr_snapshot()
 * of that block then recomputes the total and checks the recorded extremes against the counts, as
 * it would for the live block, without trusting the live header's parameters a second time.
 */
static int copy_live(struct seg *g, const struct dd_hdr *live, struct dd_hdr *dst)
{
	struct dd_hdr *c = g->copy;
	/* Relaxed: single-writer words read without ordering (see shm/hdr.h); the extremes first, as
	 * dd_hdr_snapshot() does, so that a value in flight shows as a count without its extreme and
	 * is repaired with its slot's bound. */
	atomic_store_explicit(&c->min, atomic_load_explicit(&live->min, memory_order_relaxed), memory_order_relaxed);
	atomic_store_explicit(&c->max, atomic_load_explicit(&live->max, memory_order_relaxed), memory_order_relaxed);
	for (uint32_t i = 0; i < c->counts_len; i++)
		atomic_store_explicit(&c->counts[i], atomic_load_explicit(&live->counts[i], memory_order_relaxed),
				      memory_order_relaxed);
	atomic_store_explicit(&c->overflow, atomic_load_explicit(&live->overflow, memory_order_relaxed),
			      memory_order_relaxed);
	return dd_hdr_snapshot(c, dst, dd_hdr_memsize(&g->params));
}

/* ---- samples and views ---------------------------------------------------------------------- */

/* One slot's counters, by the index of the segment's counter table. */
struct ctr {
	uint64_t v[DD_TM_MAX_COUNTERS];
	uint64_t reasons[DD_TM_MAX_REASONS];
};

/* Pipeline counter `k` (enum dd_tm_counter) of `c`, found by name; 0 if the segment lacks it. */
static uint64_t K(const struct seg *g, const struct ctr *c, unsigned k)
{
	int i = g->known[k];
	return i >= 0 ? c->v[i] : 0;
}

/* Everything read at one moment. */
struct sample {
	uint64_t mono_ns;
	uint64_t real_ns;
	struct ctr c[DD_TM_MAX_SLOTS];
	struct dd_hdr *h[DD_TM_MAX_SLOTS][DD_TM_MAX_STAGES]; /* NULL: nothing recorded yet */
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sample_take(struct seg *g, struct sample *sm)
{
	sm->mono_ns = clock_ns(CLOCK_MONOTONIC);
	sm->real_ns = clock_ns(CLOCK_REALTIME);
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		const struct dd_tm_slot *l = g->slot[s].live;
		struct ctr *c = &sm->c[s];
		for (unsigned i = 0; i < g->ncounters; i++)
			c->v[i] = dd_tm_get(&l->counter[i]);
		for (unsigned r = 0; r < g->nreasons; r++)
			c->reasons[r] = dd_tm_get(&l->reasons[r]);
		for (unsigned t = 0; t < g->nstages; t++) {
			const struct dd_hdr *live = g->live[s][t];
			/* a histogram nothing was recorded into costs no copy */
			if (sm->h[s][t] == NULL && dd_hdr_total(live) == 0)
				continue;
			if (sm->h[s][t] == NULL && dd_hdr_create(&g->params, &sm->h[s][t]) != 0)
				return -ENOMEM;
			int rc = copy_live(g, live, sm->h[s][t]);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static void sample_free(struct sample *sm)
{
	for (unsigned s = 0; s < DD_TM_MAX_SLOTS; s++)
		for (unsigned t = 0; t < DD_TM_MAX_STAGES; t++) {
			dd_hdr_free(sm->h[s][t]);
			sm->h[s][t] = NULL;
		}
}

/* What a view shows: cumulative figures (prev == NULL) or one interval's (cur - prev). */
struct view {
	bool interval;
	double dt;                                             /* interval length, s */
	uint64_t real_ns;                                      /* time of the sample shown */
	uint64_t mono_ns;
	struct dd_hdr *m[DD_TM_MAX_STAGES];                    /* merged over the selected slots */
	const struct dd_hdr *p[DD_TM_MAX_SLOTS][DD_TM_MAX_STAGES]; /* per slot; NULL: empty */
	struct dd_hdr *buf[DD_TM_MAX_SLOTS][DD_TM_MAX_STAGES]; /* owned interval histograms */
	/* recorded anything since start (also when this interval is empty): the views hide the rest */
	bool rec[DD_TM_MAX_SLOTS][DD_TM_MAX_STAGES];
	bool mrec[DD_TM_MAX_STAGES];                           /* in any selected slot */
	struct ctr c[DD_TM_MAX_SLOTS];
	struct ctr tot;          /* see totals() */
	uint64_t applied;        /* events applied: workers' events, or the RX lcore's without workers */
	uint64_t drops;
};

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static bool has_workers(const struct seg *g)
{
	for (unsigned s = 0; s < g->nslots; s++)
		if (g->slot[s].role == DD_TM_ROLE_WORKER)
			return true;
	return false;
}

/* The pipeline's input counters: counted once, by the RX lcore. */
static const unsigned input_counters[] = { DD_TM_C_PACKETS, DD_TM_C_BYTES, DD_TM_C_EVENTS, DD_TM_C_GAPS,
					   DD_TM_C_MISSING, DD_TM_C_DUPLICATES, DD_TM_C_RING_FULL };

/*
 * Totals over the selected slots. Input counters (packets, bytes, events decoded, gaps, missing,
 * duplicates, ring_full) come from slots that are not workers: the RX lcore counts them once;
 * a worker's `events` are the events it applied and add up to `applied` instead (a system event is
 * applied by every worker, so `applied` can exceed `events` in a staged pipeline).
 * Drops, and the operators' counters of kind DD_TM_KIND_COUNTER (an operator runs on every shard),
 * add up over every slot; a gauge has no total.
 */
static void totals(const struct seg *g, struct view *v)
{
	memset(&v->tot, 0, sizeof(v->tot));
	v->applied = v->drops = 0;
	bool workers = has_workers(g);
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		const struct ctr *c = &v->c[s];
		struct ctr *t = &v->tot;
		if (g->slot[s].role == DD_TM_ROLE_WORKER) {
			v->applied += K(g, c, DD_TM_C_EVENTS);
		} else if (g->slot[s].role == DD_TM_ROLE_JOURNAL) {
			/* journal records are not input: its counters show on its own line */
		} else {
			for (unsigned k = 0; k < sizeof(input_counters) / sizeof(input_counters[0]); k++) {
				int i = g->known[input_counters[k]];
				if (i >= 0)
					t->v[i] += c->v[i];
			}
			if (!workers)
				v->applied += K(g, c, DD_TM_C_EVENTS);
		}
		for (unsigned i = 0; i < g->ncounters; i++)
			if (g->generic[i] && g->ckind[i] == DD_TM_KIND_COUNTER)
				t->v[i] += c->v[i];
		for (unsigned r = 0; r < g->nreasons; r++) {
			t->reasons[r] += c->reasons[r];
			v->drops += c->reasons[r];
		}
	}
}

static int view_init(const struct seg *g, struct view *v)
{
	memset(v, 0, sizeof(*v));
	for (unsigned t = 0; t < g->nstages; t++)
		if (dd_hdr_create(&g->params, &v->m[t]) != 0)
			return -ENOMEM;
	return 0;
}

static void view_free(struct view *v)
{
	for (unsigned t = 0; t < DD_TM_MAX_STAGES; t++)
		dd_hdr_free(v->m[t]);
	for (unsigned s = 0; s < DD_TM_MAX_SLOTS; s++)
		for (unsigned t = 0; t < DD_TM_MAX_STAGES; t++)
			dd_hdr_free(v->buf[s][t]);
	memset(v, 0, sizeof(*v));
}

static int view_build(const struct seg *g, struct view *v, const struct sample *cur, const struct sample *prev)
{
	v->interval = prev != NULL;
	v->dt = prev != NULL ? (double)(cur->mono_ns - prev->mono_ns) / 1e9 : 0.0;
	v->real_ns = cur->real_ns;
	v->mono_ns = cur->mono_ns;
	for (unsigned t = 0; t < g->nstages; t++) {
		dd_hdr_reset(v->m[t]);
		v->mrec[t] = false;
	}
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		for (unsigned t = 0; t < g->nstages; t++) {
			const struct dd_hdr *h = cur->h[s][t];
			/* sample_take() copies a histogram once it has recorded, and keeps it */
			v->rec[s][t] = h != NULL;
			v->mrec[t] |= h != NULL;
			if (h != NULL && prev != NULL) {
				/* the interval: this sample less the previous one, slot by slot */
				if (v->buf[s][t] == NULL && dd_hdr_create(&g->params, &v->buf[s][t]) != 0)
					return -ENOMEM;
				dd_hdr_snapshot(h, v->buf[s][t], dd_hdr_memsize(&g->params));
				if (prev->h[s][t] != NULL)
					dd_hdr_subtract(v->buf[s][t], prev->h[s][t]);
				h = v->buf[s][t];
			}
			v->p[s][t] = h != NULL && dd_hdr_total(h) != 0 ? h : NULL;
			if (v->p[s][t] != NULL)
				dd_hdr_add(v->m[t], v->p[s][t]);
		}
		const struct ctr *a = &cur->c[s];
		struct ctr *d = &v->c[s];
		*d = *a;
		if (prev != NULL) {
			const struct ctr *b = &prev->c[s];
			/* a counter shows what it grew by; a gauge (ring occupancy, an LSN) and a kind this
			 * reader does not know, as read */
			for (unsigned i = 0; i < g->ncounters; i++)
				if (g->ckind[i] == DD_TM_KIND_COUNTER)
					d->v[i] = sub0(a->v[i], b->v[i]);
			for (unsigned r = 0; r < g->nreasons; r++)
				d->reasons[r] = sub0(a->reasons[r], b->reasons[r]);
		}
	}
	totals(g, v);
	return 0;
}

/* ---- number and time formatting ------------------------------------------------------------- */

struct stats {
	uint64_t count, min, p50, p90, p99, p999, p9999, max;
	double mean;
};

static void stats_of(const struct dd_hdr *h, struct stats *s)
{
	memset(s, 0, sizeof(*s));
	if (h == NULL || dd_hdr_total(h) == 0)
		return;
	s->count = dd_hdr_total(h);
	s->min = dd_hdr_min(h);
	s->p50 = dd_hdr_value_at_percentile(h, 50.0);
	s->p90 = dd_hdr_value_at_percentile(h, 90.0);
	s->p99 = dd_hdr_value_at_percentile(h, 99.0);
	s->p999 = dd_hdr_value_at_percentile(h, 99.9);
	s->p9999 = dd_hdr_value_at_percentile(h, 99.99);
	s->max = dd_hdr_max(h);
	s->mean = dd_hdr_mean(h);
}

/* "12345678.5" → "12,345,678.5": the leading digits grouped by three, the rest copied. */
static const char *group_digits(char *buf, size_t len, const char *d)
{
	size_t n = strspn(d, "0123456789"), j = 0;
	for (size_t i = 0; d[i] != '\0' && j + 2 < len; i++) {
		if (i > 0 && i < n && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = d[i];
	}
	buf[j] = '\0';
	return buf;
}

/* 12345678 → "12,345,678": 8-digit counters read at a glance. */
static const char *grouped(char *buf, size_t len, uint64_t v)
{
	char d[24];
	snprintf(d, sizeof(d), "%llu", (unsigned long long)v);
	return group_digits(buf, len, d);
}

/* A latency in the display unit, grouped: integer ns ("1,234,567"), or 3 decimals of us/ms ("1,234.567"). */
static const char *lat(char *buf, size_t len, uint64_t ns, double ratio)
{
	char d[48];
	if (ratio == 1.0)
		snprintf(d, sizeof(d), "%llu", (unsigned long long)ns);
	else
		snprintf(d, sizeof(d), "%.3f", (double)ns / ratio);
	return group_digits(buf, len, d);
}

static void fmt_time(char *buf, size_t len, uint64_t real_ns)
{
	time_t t = (time_t)(real_ns / 1000000000u);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm);
}

static void fmt_iso(char *buf, size_t len, uint64_t real_ns)
{
	time_t t = (time_t)(real_ns / 1000000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	char d[32];
	strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", d, (unsigned)(real_ns % 1000000000u / 1000000u));
}

static void fmt_span(char *buf, size_t len, double s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%.1fs", s);
	else if (s < 3600)
		snprintf(buf, len, "%um %02.0fs", (unsigned)(s / 60), floor(fmod(s, 60)));
	else
		snprintf(buf, len, "%uh %02um %02us", (unsigned)(s / 3600), (unsigned)fmod(s / 60, 60),
			 (unsigned)fmod(s, 60));
}

/* ---- human views ---------------------------------------------------------------------------- */

static void print_instance(FILE *o, const struct seg *g, uint64_t now_ns)
{
	char when[64], span[32], ex[64];
	uint64_t exit_ns;
	enum run_state st = seg_state(g, &exit_ns);
	fmt_time(when, sizeof(when), g->start_time_ns);
	fprintf(o, "dadar instance '%s'  pid %lld  ", g->instance, (long long)g->pid);
	switch (st) {
	case RUNNING:
		fmt_span(span, sizeof(span), ((double)now_ns - (double)g->start_time_ns) / 1e9);
		fprintf(o, "running  started %s  up %s\n", when, span);
		break;
	case EXITED:
		fmt_time(ex, sizeof(ex), exit_ns);
		fmt_span(span, sizeof(span), ((double)exit_ns - (double)g->start_time_ns) / 1e9);
		fprintf(o, "exited %s  (started %s, ran %s)\n", ex, when, span);
		break;
	case GONE:
		fprintf(o, "exited without closing its segment (pid gone: killed or crashed)  started %s\n", when);
		break;
	}
	fprintf(o, "  /dev/shm%s  telemetry v%u.%u  TSC %.3f GHz  %u slot%s\n", g->tm.path, g->major, g->minor,
		(double)g->tsc_hz / 1e9, g->nslots, g->nslots == 1 ? "" : "s");
}

/*
 * The latency table: stage, count, min, p50, p90, p99, p99.9, p99.99, max, mean. Columns are as wide
 * as their widest cell, never narrower than below, and the same in every section of one view, so the
 * per-lcore tables line up with each other.
 */
#define TCOLS 10
static const char *const tcol_name[TCOLS] = { "stage", "count", "min", "p50", "p90", "p99", "p99.9", "p99.99",
					      "max", "mean" };
static const unsigned tcol_min[TCOLS] = { 16, 12, 8, 8, 8, 8, 8, 8, 9, 10 };

struct trow {
	int section;             /* rows of one section are printed under one heading */
	char cell[TCOLS][40];
};

static void trow_fill(struct trow *r, int section, const char *name, const struct dd_hdr *h, double ratio)
{
	struct stats s;
	stats_of(h, &s);
	r->section = section;
	snprintf(r->cell[0], sizeof(r->cell[0]), "%s", name);
	grouped(r->cell[1], sizeof(r->cell[1]), s.count);
	if (s.count == 0) {
		/* a stage that recorded before, but not in this interval */
		for (unsigned c = 2; c < TCOLS; c++)
			snprintf(r->cell[c], sizeof(r->cell[c]), "-");
		return;
	}
	const uint64_t q[7] = { s.min, s.p50, s.p90, s.p99, s.p999, s.p9999, s.max };
	for (unsigned c = 0; c < 7; c++)
		lat(r->cell[2 + c], sizeof(r->cell[2 + c]), q[c], ratio);
	char mean[40];
	snprintf(mean, sizeof(mean), "%.*f", ratio == 1.0 ? 1 : 3, s.mean / ratio);
	group_digits(r->cell[9], sizeof(r->cell[9]), mean);
}

static void trow_print(FILE *o, const unsigned *w, const char *const *cell)
{
	fprintf(o, "%-*s", (int)w[0], cell[0]);
	for (unsigned c = 1; c < TCOLS; c++)
		fprintf(o, " %*s", (int)w[c], cell[c]);
	fputc('\n', o);
}

/*
 * Each section's heading, then its rows under the table head; a section without rows says that
 * nothing was recorded. Only stages that recorded something since start have rows (a pipeline that
 * never runs a stage, e.g. `ring` in run to completion, does not show it).
 */
static void table_print(FILE *o, const struct trow *rows, unsigned n, char (*heading)[160], unsigned nsections)
{
	unsigned w[TCOLS];
	for (unsigned c = 0; c < TCOLS; c++) {
		w[c] = tcol_min[c];
		for (unsigned i = 0; i < n; i++)
			if (strlen(rows[i].cell[c]) > w[c])
				w[c] = (unsigned)strlen(rows[i].cell[c]);
	}
	for (unsigned sec = 0; sec < nsections; sec++) {
		fprintf(o, "\n%s\n", heading[sec]);
		bool any = false;
		for (unsigned i = 0; i < n; i++) {
			if (rows[i].section != (int)sec)
				continue;
			if (!any)
				trow_print(o, w, tcol_name);
			any = true;
			const char *cell[TCOLS];
			for (unsigned c = 0; c < TCOLS; c++)
				cell[c] = rows[i].cell[c];
			trow_print(o, w, cell);
		}
		if (!any)
			fprintf(o, "  nothing recorded yet\n");
	}
}

static void print_latency(FILE *o, const struct seg *g, const struct view *v, const struct opts *op)
{
	const char *what = v->interval ? "this interval" : "since start";
	/* scratch for the longest view (every slot, every stage): too large for the stack */
	static struct trow rows[DD_TM_MAX_SLOTS * DD_TM_MAX_STAGES];
	static char heading[DD_TM_MAX_SLOTS][160];
	unsigned n = 0, nsec = 0;
	if (!op->per_lcore) {
		unsigned k = 0;
		for (unsigned s = 0; s < g->nslots; s++)
			k += g->sel[s];
		snprintf(heading[nsec++], sizeof(heading[0]), "latency, %s (%s), merged over %u lcore%s", op->unit, what,
			 k, k == 1 ? "" : "s");
		for (unsigned t = 0; t < g->nstages; t++)
			if (v->mrec[t])
				trow_fill(&rows[n++], 0, g->stage[t], v->m[t], op->unit_ratio);
	} else {
		for (unsigned s = 0; s < g->nslots; s++) {
			if (!g->sel[s])
				continue;
			snprintf(heading[nsec], sizeof(heading[0]), "slot %u  %s  lcore %u  (%s): latency, %s (%s)", s,
				 g->slot[s].name, g->slot[s].lcore, role_name(g->slot[s].role), op->unit, what);
			for (unsigned t = 0; t < g->nstages; t++)
				if (v->rec[s][t])
					trow_fill(&rows[n++], (int)nsec, g->stage[t], v->p[s][t], op->unit_ratio);
			nsec++;
		}
	}
	table_print(o, rows, n, heading, nsec);
}

static void print_drops(FILE *o, const struct seg *g, const uint64_t *reasons)
{
	bool any = false;
	fprintf(o, "  drops       ");
	for (unsigned r = 0; r < g->nreasons; r++)
		if (reasons[r] != 0) {
			char n[32];
			fprintf(o, "%s%s %s", any ? ", " : "", g->reason[r], grouped(n, sizeof(n), reasons[r]));
			any = true;
		}
	fprintf(o, "%s\n", any ? "" : "none");
}

static void print_ring(FILE *o, const struct seg *g, const struct ctr *c)
{
	char a[32], b[32], hw[32];
	uint64_t used = K(g, c, DD_TM_C_RING_USED), size = K(g, c, DD_TM_C_RING_SIZE);
	double pct = size ? 100.0 * (double)used / (double)size : 0.0;
	fprintf(o, "  ring        %s/%s used (%.1f%%), high water %s\n", grouped(a, sizeof(a), used),
		grouped(b, sizeof(b), size), pct, grouped(hw, sizeof(hw), K(g, c, DD_TM_C_RING_HIGH_WATER)));
}

/* The counters the segment describes beyond the pipeline's: "name=value", as many as fit a line. */
static void print_other(FILE *o, const struct seg *g, const struct ctr *c)
{
	bool first = true;
	int col = 0;
	for (unsigned i = 0; i < g->ncounters; i++) {
		if (!g->generic[i])
			continue;
		char v[32], item[DD_TM_NAME + 40];
		int n = snprintf(item, sizeof(item), "%s=%s", g->counter[i], grouped(v, sizeof(v), c->v[i]));
		if (col != 0 && col + 2 + n > 100) {
			fputc('\n', o);
			col = 0;
		}
		if (col == 0)
			col = fprintf(o, "  %-10s  %s", first ? "counters" : "", item);
		else
			col += fprintf(o, "  %s", item);
		first = false;
	}
	if (!first)
		fputc('\n', o);
}

static void print_counters(FILE *o, const struct seg *g, const struct view *v)
{
	char a[32], b[32], c3[32], d[32];
	bool staged = has_workers(g);
	fprintf(o, "\ncounters%s\n", v->interval ? " (this interval; ring figures, LSNs and other gauges as read)" : "");
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		const struct ctr *c = &v->c[s];
		unsigned role = g->slot[s].role;
		fprintf(o, "slot %u  %s  lcore %u  (%s)\n", s, g->slot[s].name, g->slot[s].lcore, role_name(role));
		if (role == DD_TM_ROLE_WORKER) {
			fprintf(o, "  events      %s applied\n", grouped(a, sizeof(a), K(g, c, DD_TM_C_EVENTS)));
			print_ring(o, g, c);
			print_other(o, g, c);
			continue;
		}
		if (role == DD_TM_ROLE_JOURNAL) {
			uint64_t records = K(g, c, DD_TM_C_EVENTS), bytes = K(g, c, DD_TM_C_BYTES);
			uint64_t commits = K(g, c, DD_TM_C_JRN_COMMITS);
			fprintf(o, "  journal     %s records  %s bytes  %s commits (%.1f records, %.1f KiB each on average)\n",
				grouped(a, sizeof(a), records), grouped(b, sizeof(b), bytes),
				grouped(c3, sizeof(c3), commits), commits ? (double)records / (double)commits : 0.0,
				commits ? (double)bytes / 1024.0 / (double)commits : 0.0);
			fprintf(o, "  LSN         written %s  durable %s  outputs released %s\n",
				grouped(a, sizeof(a), K(g, c, DD_TM_C_JRN_LSN_WRITTEN)),
				grouped(b, sizeof(b), K(g, c, DD_TM_C_JRN_LSN_DURABLE)),
				grouped(d, sizeof(d), K(g, c, DD_TM_C_JRN_RELEASED)));
			print_other(o, g, c);
			continue;
		}
		fprintf(o, "  packets     %s  bytes %s  events %s %s\n", grouped(a, sizeof(a), K(g, c, DD_TM_C_PACKETS)),
			grouped(b, sizeof(b), K(g, c, DD_TM_C_BYTES)), grouped(c3, sizeof(c3), K(g, c, DD_TM_C_EVENTS)),
			staged ? "decoded" : "decoded and applied");
		fprintf(o, "  sequencing  gaps %s  missing %s  duplicates %s\n", grouped(a, sizeof(a), K(g, c, DD_TM_C_GAPS)),
			grouped(b, sizeof(b), K(g, c, DD_TM_C_MISSING)), grouped(c3, sizeof(c3), K(g, c, DD_TM_C_DUPLICATES)));
		uint64_t full = K(g, c, DD_TM_C_RING_FULL);
		if (staged || full)
			fprintf(o, "  ring_full   %s (batches that found a worker ring full and waited)\n",
				grouped(d, sizeof(d), full));
		if (role != DD_TM_ROLE_RX && K(g, c, DD_TM_C_RING_SIZE))
			print_ring(o, g, c);
		print_drops(o, g, c->reasons);
		print_other(o, g, c);
	}
}

static void print_rates(FILE *o, const struct seg *g, const struct view *v)
{
	char a[32], b[32], c[32], d[32];
	double dt = v->dt > 0 ? v->dt : 1.0;
	fprintf(o, "\nrates over %.3f s: events/s %s  packets/s %s  drops/s %s  MB/s %.1f\n", v->dt,
		grouped(a, sizeof(a), (uint64_t)llround((double)K(g, &v->tot, DD_TM_C_EVENTS) / dt)),
		grouped(b, sizeof(b), (uint64_t)llround((double)K(g, &v->tot, DD_TM_C_PACKETS) / dt)),
		grouped(c, sizeof(c), (uint64_t)llround((double)v->drops / dt)),
		(double)K(g, &v->tot, DD_TM_C_BYTES) / dt / 1e6);
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s] || g->slot[s].role != DD_TM_ROLE_WORKER)
			continue;
		const struct ctr *k = &v->c[s];
		uint64_t used = K(g, k, DD_TM_C_RING_USED), size = K(g, k, DD_TM_C_RING_SIZE);
		fprintf(o, "  %-10s lcore %-3u applied/s %s  ring %s/%s (%.1f%%), high water %s\n", g->slot[s].name,
			g->slot[s].lcore, grouped(a, sizeof(a), (uint64_t)llround((double)K(g, k, DD_TM_C_EVENTS) / dt)),
			grouped(b, sizeof(b), used), grouped(c, sizeof(c), size),
			size ? 100.0 * (double)used / (double)size : 0.0,
			grouped(d, sizeof(d), K(g, k, DD_TM_C_RING_HIGH_WATER)));
	}
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static const char *kind_name(unsigned kind)
{
	switch (kind) {
	case DD_TM_KIND_COUNTER:
		return "counter";
	case DD_TM_KIND_GAUGE:
		return "gauge";
	case DD_TM_KIND_LATENCY:
		return "latency";
	default:
		return "unknown";
	}
}

static void json_drops(struct dd_jw *w, const struct seg *g, const uint64_t *reasons)
{
	dd_jw_open(w, "drops", '{');
	for (unsigned r = 0; r < g->nreasons; r++)
		if (reasons[r] != 0 && g->reason[r][0] != '\0')
			dd_jw_u64(w, g->reason[r], reasons[r]);
	dd_jw_close(w, '}');
}

/* A stage's figures, or null when it never recorded anything (count 0 only means an empty interval). */
static void json_stage(struct dd_jw *w, const char *key, const struct dd_hdr *h, bool recorded)
{
	if (recorded) {
		dd_jw_hdr(w, key, h);
		return;
	}
	dd_jw_sep(w, key);
	fputs("null", w->f);
}

static void json_rates(struct dd_jw *w, double dt, uint64_t events, uint64_t packets, uint64_t bytes, uint64_t drops)
{
	double d = dt > 0 ? dt : 1.0;
	dd_jw_open(w, "rates", '{');
	dd_jw_f64(w, "events_per_s", (double)events / d, 1);
	dd_jw_f64(w, "packets_per_s", (double)packets / d, 1);
	dd_jw_f64(w, "bytes_per_s", (double)bytes / d, 1);
	dd_jw_f64(w, "drops_per_s", (double)drops / d, 1);
	dd_jw_close(w, '}');
}

static void print_json(FILE *o, const struct seg *g, const struct view *v, bool compact)
{
	struct dd_jw w;
	dd_jw_init(&w, o, compact);
	char iso[48];
	uint64_t exit_ns;
	enum run_state st = seg_state(g, &exit_ns);
	dd_jw_open(&w, NULL, '{');
	dd_jw_str(&w, "instance", g->instance);
	dd_jw_i64(&w, "pid", g->pid);
	dd_jw_str(&w, "state", st == RUNNING ? "running" : "exited");
	if (st != RUNNING)
		dd_jw_bool(&w, "clean_exit", st == EXITED);
	char ver[24];
	snprintf(ver, sizeof(ver), "%u.%u", g->major, g->minor);
	dd_jw_str(&w, "version", ver);
	fmt_iso(iso, sizeof(iso), g->start_time_ns);
	dd_jw_str(&w, "started_at", iso);
	dd_jw_u64(&w, "start_time_ns", g->start_time_ns);
	if (st == EXITED) {
		fmt_iso(iso, sizeof(iso), exit_ns);
		dd_jw_str(&w, "exited_at", iso);
		dd_jw_u64(&w, "exit_time_ns", exit_ns);
	} else if (st == RUNNING) {
		dd_jw_f64(&w, "uptime_s", ((double)v->real_ns - (double)g->start_time_ns) / 1e9, 3);
	}
	dd_jw_u64(&w, "tsc_hz", g->tsc_hz);
	fmt_iso(iso, sizeof(iso), v->real_ns);
	dd_jw_str(&w, "time", iso);
	if (v->interval)
		dd_jw_f64(&w, "interval_s", v->dt, 6);
	dd_jw_open(&w, "stages", '{');
	for (unsigned t = 0; t < g->nstages; t++)
		json_stage(&w, g->stage[t], v->m[t], v->mrec[t]);
	dd_jw_close(&w, '}');
	const struct ctr *tot = &v->tot;
	dd_jw_open(&w, "counters", '{');
	dd_jw_u64(&w, "packets", K(g, tot, DD_TM_C_PACKETS));
	dd_jw_u64(&w, "bytes", K(g, tot, DD_TM_C_BYTES));
	dd_jw_u64(&w, "events", K(g, tot, DD_TM_C_EVENTS));
	dd_jw_u64(&w, "applied", v->applied);
	dd_jw_u64(&w, "gaps", K(g, tot, DD_TM_C_GAPS));
	dd_jw_u64(&w, "missing", K(g, tot, DD_TM_C_MISSING));
	dd_jw_u64(&w, "duplicates", K(g, tot, DD_TM_C_DUPLICATES));
	dd_jw_u64(&w, "ring_full", K(g, tot, DD_TM_C_RING_FULL));
	dd_jw_u64(&w, "dropped", v->drops);
	json_drops(&w, g, tot->reasons);
	/* the operators' counters (kind counter) summed over the slots, under their own names */
	dd_jw_open(&w, "other", '{');
	for (unsigned i = 0; i < g->ncounters; i++)
		if (g->generic[i] && g->ckind[i] == DD_TM_KIND_COUNTER)
			dd_jw_u64(&w, g->counter[i], tot->v[i]);
	dd_jw_close(&w, '}');
	dd_jw_close(&w, '}');
	if (v->interval)
		json_rates(&w, v->dt, K(g, tot, DD_TM_C_EVENTS), K(g, tot, DD_TM_C_PACKETS), K(g, tot, DD_TM_C_BYTES),
			   v->drops);
	dd_jw_open(&w, "lcores", '[');
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		const struct ctr *c = &v->c[s];
		dd_jw_open(&w, NULL, '{');
		dd_jw_u64(&w, "slot", s);
		dd_jw_u64(&w, "lcore", g->slot[s].lcore);
		dd_jw_str(&w, "role", role_name(g->slot[s].role));
		dd_jw_str(&w, "name", g->slot[s].name);
		dd_jw_u64(&w, "packets", K(g, c, DD_TM_C_PACKETS));
		dd_jw_u64(&w, "bytes", K(g, c, DD_TM_C_BYTES));
		dd_jw_u64(&w, "events", K(g, c, DD_TM_C_EVENTS));
		dd_jw_u64(&w, "gaps", K(g, c, DD_TM_C_GAPS));
		dd_jw_u64(&w, "missing", K(g, c, DD_TM_C_MISSING));
		dd_jw_u64(&w, "duplicates", K(g, c, DD_TM_C_DUPLICATES));
		dd_jw_u64(&w, "ring_used", K(g, c, DD_TM_C_RING_USED));
		dd_jw_u64(&w, "ring_size", K(g, c, DD_TM_C_RING_SIZE));
		dd_jw_u64(&w, "ring_high_water", K(g, c, DD_TM_C_RING_HIGH_WATER));
		dd_jw_u64(&w, "ring_full", K(g, c, DD_TM_C_RING_FULL));
		if (g->slot[s].role == DD_TM_ROLE_JOURNAL) {
			dd_jw_u64(&w, "lsn_written", K(g, c, DD_TM_C_JRN_LSN_WRITTEN));
			dd_jw_u64(&w, "lsn_durable", K(g, c, DD_TM_C_JRN_LSN_DURABLE));
			dd_jw_u64(&w, "commits", K(g, c, DD_TM_C_JRN_COMMITS));
			dd_jw_u64(&w, "released", K(g, c, DD_TM_C_JRN_RELEASED));
		}
		/* every counter the segment describes, by its name: what a generic consumer reads */
		dd_jw_open(&w, "counters", '{');
		for (unsigned i = 0; i < g->ncounters; i++)
			dd_jw_u64(&w, g->counter[i], c->v[i]);
		dd_jw_close(&w, '}');
		uint64_t drops = 0;
		for (unsigned r = 0; r < g->nreasons; r++)
			drops += c->reasons[r];
		json_drops(&w, g, c->reasons);
		if (v->interval)
			json_rates(&w, v->dt, K(g, c, DD_TM_C_EVENTS), K(g, c, DD_TM_C_PACKETS), K(g, c, DD_TM_C_BYTES),
				   drops);
		dd_jw_open(&w, "stages", '{');
		for (unsigned t = 0; t < g->nstages; t++)
			json_stage(&w, g->stage[t], v->p[s][t], v->rec[s][t]);
		dd_jw_close(&w, '}');
		dd_jw_close(&w, '}');
	}
	dd_jw_close(&w, ']');
	/* what the segment describes, last so that the figures above come first for a reader by eye */
	dd_jw_open(&w, "layout", '{');
	dd_jw_open(&w, "stages", '[');
	for (unsigned t = 0; t < g->nstages; t++)
		dd_jw_str(&w, NULL, g->stage[t]);
	dd_jw_close(&w, ']');
	dd_jw_open(&w, "counters", '{');
	for (unsigned i = 0; i < g->ncounters; i++)
		dd_jw_str(&w, g->counter[i], kind_name(g->ckind[i]));
	dd_jw_close(&w, '}');
	dd_jw_close(&w, '}');
	dd_jw_close(&w, '}');
	fputc('\n', o);
}

/* ---- stopping: signals, deadlines, the instance's exit ---------------------------------------- */

/* The signal handlers' only way in: one atomic store each, polled by the sleeping loops. */
static atomic_int g_stop;
static atomic_int g_cont;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&g_stop, 1, memory_order_release);
}

static void on_cont(int sig)
{
	(void)sig;
	atomic_store_explicit(&g_cont, 1, memory_order_release);
}

static void catch_signal(int sig, void (*fn)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: the signal interrupts clock_nanosleep(), ppoll() or poll() so that we stop at once */
	sigaction(sig, &sa, NULL);
}

static void catch_signals(void)
{
	catch_signal(SIGINT, on_signal);
	catch_signal(SIGTERM, on_signal);
}

static bool stop_requested(void)
{
	/* pairs with the release store in on_signal() */
	return atomic_load_explicit(&g_stop, memory_order_acquire) != 0;
}

/*
 * --watch on a terminal: stdin in non-canonical mode without echo, so that one key ('q') is read
 * as it is typed. ISIG stays on (Ctrl-C is still SIGINT). The terminal is given back as it was on
 * every way out of --watch: the end of the loop, 'q', and the signals that end it (SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT only set g_stop while the terminal is ours). After a stop (Ctrl-Z) the shell
 * restores its own modes, so SIGCONT sets the mode again.
 */
struct keys {
	int fd;                  /* -1: not reading keys */
	struct termios saved;
};

static bool keys_foreground(void)
{
	/* a background job that changes the terminal's modes gets SIGTTOU: only the foreground may */
	return tcgetpgrp(STDIN_FILENO) == getpgrp();
}

static void keys_raw(const struct keys *k)
{
	struct termios raw = k->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (keys_foreground())
		tcsetattr(k->fd, TCSANOW, &raw);
}

static void keys_begin(struct keys *k)
{
	k->fd = -1;
	if (!isatty(STDIN_FILENO) || !keys_foreground() || tcgetattr(STDIN_FILENO, &k->saved) != 0)
		return;
	k->fd = STDIN_FILENO;
	catch_signal(SIGHUP, on_signal);
	catch_signal(SIGQUIT, on_signal);
	catch_signal(SIGCONT, on_cont);
	keys_raw(k);
}

static void keys_end(struct keys *k)
{
	if (k->fd < 0)
		return;
	tcsetattr(k->fd, TCSANOW, &k->saved);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGCONT, SIG_DFL);
	k->fd = -1;
}

/* Wait up to `ns` for a key: true when 'q' was typed. Stops reading keys at the end of input. */
static bool keys_wait(struct keys *k, uint64_t ns)
{
	/* pairs with the release store in on_cont() */
	if (atomic_exchange_explicit(&g_cont, 0, memory_order_acquire) != 0)
		keys_raw(k);
	struct pollfd p = { .fd = k->fd, .events = POLLIN };
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
	if (ppoll(&p, 1, &ts, NULL) <= 0)
		return false; /* timeout, or a signal the caller looks at */
	char buf[32];
	ssize_t n = read(k->fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			keys_end(k);
		return false;
	}
	return memchr(buf, 'q', (size_t)n) != NULL || memchr(buf, 'Q', (size_t)n) != NULL;
}

enum wake { WAKE_TIME, WAKE_SIGNAL, WAKE_EXIT, WAKE_QUIT };

/*
 * Sleep until CLOCK_MONOTONIC `deadline_ns` (absolute, so intervals do not drift), checking every
 * 100 ms whether a signal came or the instance exited, and at once whether 'q' was typed (when `k`
 * reads keys).
 */
static enum wake sleep_until(const struct seg *g, uint64_t deadline_ns, struct keys *k)
{
	for (;;) {
		uint64_t exit_ns;
		if (stop_requested())
			return WAKE_SIGNAL;
		if (seg_state(g, &exit_ns) != RUNNING)
			return WAKE_EXIT;
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (now >= deadline_ns)
			return WAKE_TIME;
		uint64_t until = deadline_ns - now > 100000000u ? now + 100000000u : deadline_ns;
		if (k != NULL && k->fd >= 0) {
			if (keys_wait(k, until - now))
				return WAKE_QUIT;
			continue;
		}
		struct timespec ts = { .tv_sec = (time_t)(until / 1000000000u), .tv_nsec = (long)(until % 1000000000u) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

static void say_exited(const struct seg *g, bool before)
{
	uint64_t exit_ns;
	char when[64];
	const char *what = before ? ": nothing to watch" : "; stopping";
	if (seg_state(g, &exit_ns) == EXITED) {
		fmt_time(when, sizeof(when), exit_ns);
		fprintf(stderr, "dadar-lat: instance '%s' (pid %lld) has exited (at %s)%s\n", g->instance,
			(long long)g->pid, when, what);
	} else {
		fprintf(stderr, "dadar-lat: instance '%s' (pid %lld) has exited without closing its segment (killed or "
			"crashed)%s\n", g->instance, (long long)g->pid, what);
	}
}

/* ---- views ---------------------------------------------------------------------------------- */

static int out_error(void)
{
	return fail(EX_FAIL, "writing to standard output failed: %s", strerror(errno));
}

static int run_table(struct seg *g, const struct opts *op)
{
	struct sample sm;
	struct view v;
	memset(&sm, 0, sizeof(sm));
	int rc = EX_OK;
	if (view_init(g, &v) != 0 || sample_take(g, &sm) != 0 || view_build(g, &v, &sm, NULL) != 0) {
		rc = fail(EX_FAIL, "out of memory for histograms");
		goto out;
	}
	if (op->json) {
		print_json(stdout, g, &v, false);
	} else {
		print_instance(stdout, g, sm.real_ns);
		print_latency(stdout, g, &v, op);
		print_counters(stdout, g, &v);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = out_error();
out:
	view_free(&v);
	sample_free(&sm);
	return rc;
}

/* One refresh of --watch: the block goes through a buffer so a terminal gets it in one write. */
static int watch_block(const struct seg *g, const struct view *v, const struct opts *op, bool tty, bool keys)
{
	if (op->json) {
		print_json(stdout, g, v, true);
		return fflush(stdout) == 0 ? 0 : -EIO;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (m == NULL)
		return -ENOMEM;
	char when[64];
	fmt_time(when, sizeof(when), v->real_ns);
	print_instance(m, g, v->real_ns);
	fprintf(m, "  interval ending %s  (every %.3g s; %s stops)\n", when, op->period_s, keys ? "q or Ctrl-C" : "Ctrl-C");
	print_rates(m, g, v);
	print_latency(m, g, v, op);
	print_counters(m, g, v);
	if (fclose(m) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (tty) {
		/* home, then each line followed by clear-to-end-of-line, then clear the rest: no flicker */
		fputs("\033[H", stdout);
		for (char *line = buf; *line;) {
			char *nl = strchr(line, '\n');
			size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
			fwrite(line, 1, n, stdout);
			fputs("\033[K\n", stdout);
			line += n + (nl != NULL);
		}
		fputs("\033[J", stdout);
	} else {
		fwrite(buf, 1, len, stdout);
		fputc('\n', stdout);
	}
	free(buf);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* When a periodic run started: its first sample. */
struct origin {
	uint64_t mono_ns;
	uint64_t real_ns;
};

/*
 * The periodic loop of --watch and --hlog: a sample every period, the interval between consecutive
 * samples handed to `emit`; stops at --count, --duration, a signal, or the instance's exit (after
 * emitting the last, possibly shorter, interval). `begin` (optional) runs once after the first
 * sample.
 */
typedef int (*begin_fn)(const struct origin *o, void *ctx);
typedef int (*emit_fn)(const struct seg *g, const struct view *v, const struct origin *o, void *ctx);

static int periodic(struct seg *g, const struct opts *op, begin_fn begin, emit_fn emit, void *ctx,
		    const char *what, bool emit_on_signal, struct keys *keys)
{
	struct sample a, b, *prev = &a, *cur = &b;
	struct view v;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	int rc = EX_OK, e;
	catch_signals();
	if (view_init(g, &v) != 0 || sample_take(g, prev) != 0) {
		rc = fail(EX_FAIL, "out of memory for histograms");
		goto out;
	}
	struct origin org = { prev->mono_ns, prev->real_ns };
	if (begin != NULL && (e = begin(&org, ctx)) != 0) {
		rc = fail(EX_FAIL, "writing the %s failed: %s", what, strerror(-e));
		goto out;
	}
	uint64_t period = (uint64_t)llround(op->period_s * 1e9);
	uint64_t end = op->duration_s > 0 ? org.mono_ns + (uint64_t)llround(op->duration_s * 1e9) : UINT64_MAX;
	for (unsigned long n = 0; op->count == 0 || n < op->count; n++) {
		uint64_t deadline = org.mono_ns + (n + 1) * period;
		if (deadline > end)
			deadline = end;
		enum wake wk = sleep_until(g, deadline, keys);
		if (wk == WAKE_QUIT || (wk == WAKE_SIGNAL && !emit_on_signal))
			break;
		if (sample_take(g, cur) != 0 || view_build(g, &v, cur, prev) != 0) {
			rc = fail(EX_FAIL, "out of memory for histograms");
			goto out;
		}
		if ((e = emit(g, &v, &org, ctx)) != 0) {
			rc = fail(EX_FAIL, "writing the %s failed: %s", what, strerror(-e));
			goto out;
		}
		if (wk == WAKE_EXIT) {
			say_exited(g, false);
			break;
		}
		if (wk == WAKE_SIGNAL || cur->mono_ns >= end)
			break;
		struct sample *t = prev;
		prev = cur;
		cur = t;
	}
out:
	view_free(&v);
	sample_free(&a);
	sample_free(&b);
	return rc;
}

struct watch_ctx {
	const struct opts *op;
	bool tty;
	const struct keys *keys;
};

static int emit_watch(const struct seg *g, const struct view *v, const struct origin *o, void *ctx)
{
	struct watch_ctx *w = ctx;
	(void)o;
	return watch_block(g, v, w->op, w->tty, w->keys->fd >= 0);
}

static int run_watch(struct seg *g, const struct opts *op)
{
	uint64_t exit_ns;
	if (seg_state(g, &exit_ns) != RUNNING) {
		say_exited(g, true);
		return EX_OK;
	}
	struct keys keys;
	keys_begin(&keys);
	struct watch_ctx w = { op, !op->json && isatty(STDOUT_FILENO), &keys };
	if (w.tty)
		fputs("\033[H\033[2J", stdout);
	/* a live view stops at once on Ctrl-C or 'q': the screen already shows the last interval */
	int rc = periodic(g, op, NULL, emit_watch, &w, "watch output", false, &keys);
	keys_end(&keys);
	return rc;
}

struct hlog_ctx {
	FILE *f;
	const struct opts *op;
	unsigned long lines;
};

/*
 * HistogramLogWriter's default maxValueUnitRatio, which HistogramLogProcessor's default
 * outputValueUnitRatio matches: values recorded in ns, the Interval_Max column in ms.
 */
#define HLOG_MAX_UNIT_RATIO 1e6

static void tag_of(char *tag, size_t len, const char *stage, const struct slot_info *si)
{
	if (si != NULL)
		snprintf(tag, len, "%s.lcore%u", stage, si->lcore);
	else
		snprintf(tag, len, "%s", stage);
	/* HdrHistogram tags may not hold the log's delimiters */
	for (char *p = tag; *p; p++)
		if (*p == ',' || *p == ' ' || *p == '\r' || *p == '\n')
			*p = '_';
}

static int begin_hlog(const struct origin *o, void *ctx)
{
	struct hlog_ctx *c = ctx;
	/* the log's StartTime is its first sample: interval start times count from it */
	int rc = dd_hdr_log_header(c->f, (double)o->real_ns / 1e9);
	if (rc == 0 && fflush(c->f) != 0)
		rc = -errno;
	return rc;
}

static int emit_hlog(const struct seg *g, const struct view *v, const struct origin *o, void *ctx)
{
	struct hlog_ctx *c = ctx;
	char tag[DD_HDR_TAG_MAX + 1];
	/* both ends on CLOCK_MONOTONIC: a wall-clock step does not bend the log's time axis */
	double start = (double)(v->mono_ns - o->mono_ns) / 1e9 - v->dt;
	if (start < 0)
		start = 0;
	for (unsigned t = 0; t < g->nstages; t++) {
		if (!c->op->per_lcore) {
			if (dd_hdr_total(v->m[t]) == 0)
				continue;
			tag_of(tag, sizeof(tag), g->stage[t], NULL);
			int rc = dd_hdr_log_interval(c->f, tag, start, v->dt, v->m[t], HLOG_MAX_UNIT_RATIO);
			if (rc != 0)
				return rc;
			c->lines++;
			continue;
		}
		for (unsigned s = 0; s < g->nslots; s++) {
			if (!g->sel[s] || v->p[s][t] == NULL)
				continue;
			tag_of(tag, sizeof(tag), g->stage[t], &g->slot[s]);
			int rc = dd_hdr_log_interval(c->f, tag, start, v->dt, v->p[s][t], HLOG_MAX_UNIT_RATIO);
			if (rc != 0)
				return rc;
			c->lines++;
		}
	}
	/* each interval reaches the file as it ends: a reader tailing the log sees it */
	if (fflush(c->f) != 0 || ferror(c->f))
		return -EIO;
	return 0;
}

static int run_hlog(struct seg *g, const struct opts *op)
{
	uint64_t exit_ns;
	if (seg_state(g, &exit_ns) != RUNNING) {
		say_exited(g, true);
		return EX_OK;
	}
	bool to_stdout = strcmp(op->hlog, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(op->hlog, "w");
	if (f == NULL)
		return fail(EX_FAIL, "cannot write the interval log %s: %s", op->hlog, strerror(errno));
	struct hlog_ctx c = { f, op, 0 };
	/* on Ctrl-C the log keeps the partial last interval: nothing seen is lost */
	int rc = periodic(g, op, begin_hlog, emit_hlog, &c, "interval log", true, NULL);
	if (!to_stdout && fclose(f) != 0 && rc == EX_OK)
		rc = fail(EX_FAIL, "closing the interval log %s failed: %s", op->hlog, strerror(errno));
	if (rc == EX_OK && !to_stdout)
		fprintf(stderr, "dadar-lat: wrote %lu interval histogram%s to %s\n", c.lines, c.lines == 1 ? "" : "s",
			op->hlog);
	return rc;
}

/* ---- --hist and --percentiles ---------------------------------------------------------------- */

/* 1-2-5 bucket bounds: 0, 1, 2, 5, 10, 20, 50, ... up to the first above `highest`. */
static unsigned bounds_125(uint64_t *b, unsigned cap, uint64_t highest)
{
	unsigned n = 0;
	b[n++] = 0;
	for (uint64_t dec = 1; n + 3 <= cap; dec *= 10) {
		b[n++] = dec;
		b[n++] = 2 * dec;
		b[n++] = 5 * dec;
		if (5 * dec > highest)
			break;
	}
	return n;
}

/* "500 ns", "  2 us", " 10 ms", "  1 s": the bounds are round numbers by construction. */
static void fmt_bound(char *buf, size_t len, uint64_t ns)
{
	static const char *const unit[] = { "ns", "us", "ms", "s" };
	unsigned u = 0;
	uint64_t v = ns;
	while (u < 3 && v >= 1000 && v % 1000 == 0) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, "%3llu %s", (unsigned long long)v, unit[u]);
}

#define HIST_COLS 80

static void print_bars(FILE *o, const struct dd_hdr *h)
{
	uint64_t b[64], cnt[64] = { 0 };
	unsigned nb = bounds_125(b, 64, h->highest);
	struct dd_hdr_iter it;
	struct dd_hdr_bucket k;
	unsigned lo = nb, hi = 0;
	uint64_t total = 0, top = 0;
	dd_hdr_iter_init(&it, h);
	while (dd_hdr_iter_next(&it, &k)) {
		/* a slot goes to the bar holding its lowest value: exact below 500 us, where every 1-2-5
		 * bound is a slot bound; above, a bound may split a slot and the slot counts in the lower
		 * bar, off by less than 1/1024 of the value */
		unsigned i = nb - 1;
		while (i > 0 && b[i] > k.lo)
			i--;
		cnt[i] += k.count;
		total += k.count;
		if (i < lo)
			lo = i;
		if (i > hi)
			hi = i;
	}
	for (unsigned i = lo; i <= hi && i < nb; i++)
		if (cnt[i] > top)
			top = cnt[i];
	/* "[500 ns,   1 us)" 16, count 14, share 8, cumulative share 9, two spaces, the bar */
	const unsigned width = HIST_COLS - 16 - 14 - 8 - 9 - 2;
	uint64_t cum = 0;
	fprintf(o, "%-16s %13s %7s %9s\n", "bucket", "values", "share", "cumul.");
	for (unsigned i = lo; i <= hi && i < nb; i++) {
		char l[16], r[16], c[32], pct[16];
		fmt_bound(l, sizeof(l), b[i]);
		if (i + 1 < nb)
			fmt_bound(r, sizeof(r), b[i + 1]);
		else
			snprintf(r, sizeof(r), "%s", "max");
		cum += cnt[i];
		double share = total ? 100.0 * (double)cnt[i] / (double)total : 0.0;
		if (cnt[i] != 0 && share < 0.01)
			snprintf(pct, sizeof(pct), "%s", "<0.01%");
		else
			snprintf(pct, sizeof(pct), "%.2f%%", share);
		unsigned len = top ? (unsigned)((cnt[i] * (unsigned __int128)width + top / 2) / top) : 0;
		fprintf(o, "[%s, %s) %13s %7s %8.3f%% ", l, r, grouped(c, sizeof(c), cnt[i]), pct,
			total ? 100.0 * (double)cum / (double)total : 0.0);
		for (unsigned j = 0; j < len; j++)
			fputc('#', o);
		if (len == 0 && cnt[i] != 0)
			fputc('.', o); /* fewer values than one character stands for */
		fputc('\n', o);
	}
	char c[32];
	fprintf(o, "(longest bar: %s values; '.': fewer than one '#')\n", grouped(c, sizeof(c), top));
}

static void hist_section(FILE *o, const char *title, const struct dd_hdr *h, double ratio, const char *unit)
{
	char c[32], b[5][32];
	struct stats s;
	stats_of(h, &s);
	fprintf(o, "%s: %s values\n", title, grouped(c, sizeof(c), s.count));
	if (s.count == 0) {
		fprintf(o, "  nothing recorded\n");
		return;
	}
	fprintf(o, "min %s  p50 %s  p99 %s  p99.9 %s  max %s (%s)\n", lat(b[0], 32, s.min, ratio),
		lat(b[1], 32, s.p50, ratio), lat(b[2], 32, s.p99, ratio), lat(b[3], 32, s.p999, ratio),
		lat(b[4], 32, s.max, ratio), unit);
	print_bars(o, h);
}

static int find_stage(const struct seg *g, const char *opt, const char *name, unsigned *stage)
{
	for (unsigned t = 0; t < g->nstages; t++)
		if (strcmp(g->stage[t], name) == 0) {
			*stage = t;
			return EX_OK;
		}
	char list[DD_TM_MAX_STAGES * (DD_TM_NAME + 2)] = "";
	for (unsigned t = 0; t < g->nstages; t++) {
		strcat(list, t ? ", " : "");
		strcat(list, g->stage[t]);
	}
	return fail(EX_USAGE, "%s: instance '%s' has no stage '%s'; its stages are: %s", opt, g->instance, name, list);
}

static int run_hist(struct seg *g, const struct opts *op)
{
	unsigned t;
	int rc = find_stage(g, "--hist", op->stage, &t);
	if (rc != EX_OK)
		return rc;
	struct sample sm;
	struct view v;
	memset(&sm, 0, sizeof(sm));
	if (view_init(g, &v) != 0 || sample_take(g, &sm) != 0 || view_build(g, &v, &sm, NULL) != 0) {
		rc = fail(EX_FAIL, "out of memory for histograms");
		goto out;
	}
	char title[128];
	if (!op->per_lcore) {
		unsigned n = 0;
		for (unsigned s = 0; s < g->nslots; s++)
			n += g->sel[s];
		snprintf(title, sizeof(title), "%s latency of '%s', merged over %u lcore%s", g->stage[t], g->instance, n,
			 n == 1 ? "" : "s");
		hist_section(stdout, title, v.m[t], op->unit_ratio, op->unit);
	} else {
		bool first = true;
		for (unsigned s = 0; s < g->nslots; s++) {
			if (!g->sel[s])
				continue;
			snprintf(title, sizeof(title), "%s%s latency of '%s', slot %u %s lcore %u", first ? "" : "\n",
				 g->stage[t], g->instance, s, g->slot[s].name, g->slot[s].lcore);
			first = false;
			hist_section(stdout, title, v.p[s][t], op->unit_ratio, op->unit);
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = out_error();
out:
	view_free(&v);
	sample_free(&sm);
	return rc;
}

static int run_percentiles(struct seg *g, const struct opts *op)
{
	unsigned t;
	int rc = find_stage(g, "--percentiles", op->stage, &t);
	if (rc != EX_OK)
		return rc;
	struct sample sm;
	struct view v;
	memset(&sm, 0, sizeof(sm));
	if (view_init(g, &v) != 0 || sample_take(g, &sm) != 0 || view_build(g, &v, &sm, NULL) != 0) {
		rc = fail(EX_FAIL, "out of memory for histograms");
		goto out;
	}
	if (dd_hdr_total(v.m[t]) == 0)
		fprintf(stderr, "dadar-lat: stage %s of '%s' has recorded nothing (does this pipeline run it?)\n",
			g->stage[t], g->instance);
	int e = dd_hdr_percentiles_print(v.m[t], stdout, 5, op->unit_ratio);
	if (e != 0 || fflush(stdout) != 0 || ferror(stdout))
		rc = out_error();
out:
	view_free(&v);
	sample_free(&sm);
	return rc;
}

/* ---- Prometheus: --prometheus, --serve ------------------------------------------------------- */

/*
 * The text exposition format, version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 * Families, each with its HELP and TYPE line:
 *   dadar_up, dadar_state{state}, dadar_info{pid,telemetry_version}, dadar_start_time_seconds,
 *   dadar_exit_time_seconds (a clean exit only);
 *   dadar_latency_seconds{stage}, a summary merged over the lcores, and
 *   dadar_lcore_latency_seconds{slot,lcore,stage} per lcore, in seconds (Prometheus' base unit), with
 *   quantiles 0.5 .. 0.9999, _sum and _count; a stage that never recorded has no samples;
 *   dadar_<counter>_total (kind counter) and dadar_<counter> (gauge; untyped for a kind this reader
 *   does not know) for every counter of the segment's table, per slot;
 *   dadar_dropped_total{slot,lcore,reason}.
 * Every sample carries the label PROM_INSTANCE. It is not `instance`: Prometheus sets that label
 * itself on every scraped series (the target's host:port) and would rename ours exported_instance.
 */
#define PROM_INSTANCE "dadar_instance"
#define PROM_NAME (DD_TM_NAME + 16)

static const struct {
	const char *name;
	const char *help;
} prom_pipeline_help[] = {
	{ "packets", "Frames received (RX lcores)." },
	{ "bytes", "Bytes received (RX lcores); on the journal lcore, bytes journaled." },
	{ "events", "Events decoded (RX lcore), applied (worker; the RX lcore in run to completion), journaled "
		    "(journal lcore)." },
	{ "gaps", "MoldUDP64 gaps declared (RX lcores)." },
	{ "missing", "Messages lost in MoldUDP64 gaps (RX lcores)." },
	{ "duplicates", "Duplicate MoldUDP64 datagrams (RX lcores)." },
	{ "ring_used", "Elements in the worker's ring at its last dequeue." },
	{ "ring_high_water", "Most elements the worker's ring held since start." },
	{ "ring_size", "Capacity of the worker's ring." },
	{ "ring_full", "Batches of events that found a worker ring full and waited (backpressure, not drops)." },
	{ "jrn_lsn_written", "Last journal LSN written (journal lcore)." },
	{ "jrn_lsn_durable", "Last journal LSN durable at the configured sync level (journal lcore)." },
	{ "jrn_commits", "Journal group commits completed (journal lcore)." },
	{ "jrn_released", "Outputs released once durable (journal lcore)." },
};

struct prom {
	FILE *o;
	const char *instance;
	unsigned nused;
	/* sample names taken so far: a segment's counter cannot take one twice, nor one of ours */
	char used[DD_TM_MAX_COUNTERS + 32][PROM_NAME + 8];
};

/* A label value: '\\', '"' and newline escaped as the format says; bytes outside printable ASCII as '?'. */
static void prom_label_value(FILE *o, const char *v)
{
	fputc('"', o);
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '\\' || c == '"')
			fprintf(o, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", o);
		else
			fputc(c >= 0x20 && c <= 0x7e ? c : '?', o);
	}
	fputc('"', o);
}

/* A HELP text: '\\' and newline escaped. */
static void prom_help_text(FILE *o, const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '\\')
			fputs("\\\\", o);
		else if (c == '\n')
			fputs("\\n", o);
		else
			fputc(c >= 0x20 && c <= 0x7e ? c : '?', o);
	}
}

static bool prom_taken(const struct prom *p, const char *name)
{
	for (unsigned i = 0; i < p->nused; i++)
		if (strcmp(p->used[i], name) == 0)
			return true;
	return false;
}

static void prom_take(struct prom *p, const char *name)
{
	if (p->nused < sizeof(p->used) / sizeof(p->used[0]))
		snprintf(p->used[p->nused++], sizeof(p->used[0]), "%s", name);
}

/*
 * HELP and TYPE of family `name`. False (and a comment saying why) if a sample name of the family
 * is taken: two of the segment's counters whose names differ only in characters a metric name cannot
 * hold, or a counter whose name is one of ours.
 */
static bool prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
	char sum[PROM_NAME + 8], count[PROM_NAME + 8];
	bool summary = strcmp(type, "summary") == 0;
	snprintf(sum, sizeof(sum), "%s_sum", name);
	snprintf(count, sizeof(count), "%s_count", name);
	if (prom_taken(p, name) || (summary && (prom_taken(p, sum) || prom_taken(p, count)))) {
		fprintf(p->o, "# dadar-lat: left out: the metric name %s is taken (", name);
		prom_help_text(p->o, help);
		fputs(")\n", p->o);
		return false;
	}
	prom_take(p, name);
	if (summary) {
		prom_take(p, sum);
		prom_take(p, count);
	}
	fprintf(p->o, "# HELP %s ", name);
	prom_help_text(p->o, help);
	fprintf(p->o, "\n# TYPE %s %s\n", name, type);
	return true;
}

/* `{dadar_instance="x"[,slot="rx",lcore="1"][,key="value"]...}`: pairs of key and value, NULL-terminated. */
static void prom_labels(const struct prom *p, const struct slot_info *si, ...)
{
	va_list ap;
	fprintf(p->o, "{%s=", PROM_INSTANCE);
	prom_label_value(p->o, p->instance);
	if (si != NULL) {
		char lc[16];
		snprintf(lc, sizeof(lc), "%u", si->lcore);
		fputs(",slot=", p->o);
		prom_label_value(p->o, si->name);
		fputs(",lcore=", p->o);
		prom_label_value(p->o, lc);
	}
	va_start(ap, si);
	for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
		fprintf(p->o, ",%s=", k);
		prom_label_value(p->o, va_arg(ap, const char *));
	}
	va_end(ap);
	fputc('}', p->o);
}

/* Nanoseconds as seconds, exactly: "0.000030559", "60", "1795332540.721312882". */
static void prom_seconds(FILE *o, unsigned __int128 ns)
{
	unsigned __int128 whole = ns / 1000000000u;
	unsigned frac = (unsigned)(ns % 1000000000u);
	unsigned long long w = whole > ULLONG_MAX ? ULLONG_MAX : (unsigned long long)whole;
	if (frac == 0) {
		fprintf(o, "%llu", w);
		return;
	}
	char f[16];
	int n = snprintf(f, sizeof(f), "%09u", frac);
	while (n > 0 && f[n - 1] == '0')
		f[--n] = '\0';
	fprintf(o, "%llu.%s", w, f);
}

/*
 * The sum of the values a histogram holds, in ns, as HdrHistogram's mean counts them: each slot at
 * its median equivalent value (exact below 2048 ns). _sum / _count is then the JSON's `mean`.
 */
static unsigned __int128 hdr_sum(const struct dd_hdr *h)
{
	unsigned __int128 sum = 0;
	struct dd_hdr_iter it;
	struct dd_hdr_bucket b;
	dd_hdr_iter_init(&it, h);
	while (dd_hdr_iter_next(&it, &b))
		sum += (unsigned __int128)b.count * (b.lo + ((b.hi - b.lo + 1) >> 1));
	return sum;
}

static const struct {
	const char *label;
	double pct;
} prom_quantiles[] = { { "0.5", 50.0 }, { "0.9", 90.0 }, { "0.99", 99.0 }, { "0.999", 99.9 }, { "0.9999", 99.99 } };

static void prom_summary(struct prom *p, const char *name, const struct slot_info *si, const char *stage,
			 const struct dd_hdr *h)
{
	for (unsigned q = 0; q < sizeof(prom_quantiles) / sizeof(prom_quantiles[0]); q++) {
		fputs(name, p->o);
		prom_labels(p, si, "stage", stage, "quantile", prom_quantiles[q].label, (const char *)NULL);
		fputc(' ', p->o);
		prom_seconds(p->o, dd_hdr_value_at_percentile(h, prom_quantiles[q].pct));
		fputc('\n', p->o);
	}
	fprintf(p->o, "%s_sum", name);
	prom_labels(p, si, "stage", stage, (const char *)NULL);
	fputc(' ', p->o);
	prom_seconds(p->o, hdr_sum(h));
	fprintf(p->o, "\n%s_count", name);
	prom_labels(p, si, "stage", stage, (const char *)NULL);
	fprintf(p->o, " %llu\n", (unsigned long long)dd_hdr_total(h));
}

/* The metric name of counter `c`: dadar_NAME_total (kind counter), dadar_NAME; [a-zA-Z0-9_] only. */
static void prom_counter_name(char *buf, size_t len, const struct seg *g, unsigned c)
{
	int n = snprintf(buf, len, "dadar_%s", g->counter[c]);
	for (char *q = buf; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_'))
			*q = '_';
	size_t l = strlen(buf);
	bool has_total = l >= 6 && strcmp(buf + l - 6, "_total") == 0;
	if (g->ckind[c] == DD_TM_KIND_COUNTER && !has_total && n > 0 && (size_t)n + 6 < len)
		strcat(buf, "_total");
}

static void prom_gauge1(struct prom *p, const char *name, const char *help, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void prom_gauge1(struct prom *p, const char *name, const char *help, const char *fmt, ...)
{
	if (!prom_family(p, name, "gauge", help))
		return;
	fputs(name, p->o);
	prom_labels(p, NULL, (const char *)NULL);
	fputc(' ', p->o);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(p->o, fmt, ap);
	va_end(ap);
	fputc('\n', p->o);
}

static void prom_up(struct prom *p, bool up)
{
	prom_gauge1(p, "dadar_up", "Whether the dadar instance is running (1), or not (0: exited, killed, or no "
		    "readable telemetry segment).", "%d", up ? 1 : 0);
}

/* The exposition of an attached segment, from view `v` (cumulative, every slot selected). */
static void prom_write(FILE *o, const struct seg *g, const struct view *v)
{
	static struct prom p;
	memset(&p, 0, sizeof(p));
	p.o = o;
	p.instance = g->instance;
	uint64_t exit_ns;
	enum run_state st = seg_state(g, &exit_ns);
	static const char *const states[] = { "running", "exited", "stale" }; /* by enum run_state */
	prom_up(&p, st == RUNNING);
	if (prom_family(&p, "dadar_state", "gauge", "The instance's state, 1 for the current one: running; exited "
			"(closed its telemetry segment); stale (its process is gone without closing it: killed or "
			"crashed)."))
		for (unsigned i = 0; i < 3; i++) {
			fputs("dadar_state", o);
			prom_labels(&p, NULL, "state", states[i], (const char *)NULL);
			fprintf(o, " %d\n", (unsigned)st == i ? 1 : 0);
		}
	if (prom_family(&p, "dadar_info", "gauge", "The instance's pid and telemetry segment version (always 1).")) {
		char pid[24], ver[24];
		snprintf(pid, sizeof(pid), "%lld", (long long)g->pid);
		snprintf(ver, sizeof(ver), "%u.%u", g->major, g->minor);
		fputs("dadar_info", o);
		prom_labels(&p, NULL, "pid", pid, "telemetry_version", ver, (const char *)NULL);
		fputs(" 1\n", o);
	}
	if (prom_family(&p, "dadar_start_time_seconds", "gauge",
			"When the instance started (created its telemetry segment), in seconds since the Unix epoch.")) {
		fputs("dadar_start_time_seconds", o);
		prom_labels(&p, NULL, (const char *)NULL);
		fputc(' ', o);
		prom_seconds(o, g->start_time_ns);
		fputc('\n', o);
	}
	if (st == EXITED && prom_family(&p, "dadar_exit_time_seconds", "gauge",
					"When the instance exited and closed its telemetry segment, in seconds since the "
					"Unix epoch.")) {
		fputs("dadar_exit_time_seconds", o);
		prom_labels(&p, NULL, (const char *)NULL);
		fputc(' ', o);
		prom_seconds(o, exit_ns);
		fputc('\n', o);
	}

	if (prom_family(&p, "dadar_latency_seconds", "summary",
			"Latency of each stage since start, merged over the instance's lcores, in seconds "
			"(HdrHistogram, 3 significant digits; stages: docs/reading-latency.md)."))
		for (unsigned t = 0; t < g->nstages; t++)
			if (v->mrec[t])
				prom_summary(&p, "dadar_latency_seconds", NULL, g->stage[t], v->m[t]);
	if (prom_family(&p, "dadar_lcore_latency_seconds", "summary",
			"Latency of each stage since start, per lcore slot, in seconds (HdrHistogram, 3 significant "
			"digits)."))
		for (unsigned s = 0; s < g->nslots; s++)
			for (unsigned t = 0; t < g->nstages; t++)
				if (v->rec[s][t])
					prom_summary(&p, "dadar_lcore_latency_seconds", &g->slot[s], g->stage[t],
						     v->p[s][t]);

	if (prom_family(&p, "dadar_dropped_total", "counter",
			"Frames or events dropped, by reason (the names of dadar's summary `errors`, docs/outputs.md), "
			"per lcore slot."))
		for (unsigned s = 0; s < g->nslots; s++)
			for (unsigned r = 0; r < g->nreasons; r++) {
				if (g->reason[r][0] == '\0')
					continue;
				fputs("dadar_dropped_total", o);
				prom_labels(&p, &g->slot[s], "reason", g->reason[r], (const char *)NULL);
				fprintf(o, " %llu\n", (unsigned long long)v->c[s].reasons[r]);
			}
	for (unsigned c = 0; c < g->ncounters; c++) {
		char name[PROM_NAME], help[160];
		prom_counter_name(name, sizeof(name), g, c);
		const char *type = g->ckind[c] == DD_TM_KIND_COUNTER ? "counter" :
				   g->ckind[c] == DD_TM_KIND_GAUGE ? "gauge" : "untyped";
		snprintf(help, sizeof(help), "Counter '%s' described by the telemetry segment (by the operators' chain "
			 "or an operator), per lcore slot.", g->counter[c]);
		if (!g->generic[c])
			for (unsigned k = 0; k < sizeof(prom_pipeline_help) / sizeof(prom_pipeline_help[0]); k++)
				if (strcmp(g->counter[c], prom_pipeline_help[k].name) == 0)
					snprintf(help, sizeof(help), "%s", prom_pipeline_help[k].help);
		if (!prom_family(&p, name, type, help))
			continue;
		for (unsigned s = 0; s < g->nslots; s++) {
			fputs(name, o);
			prom_labels(&p, &g->slot[s], (const char *)NULL);
			fprintf(o, " %llu\n", (unsigned long long)v->c[s].v[c]);
		}
	}
}

/* Instead of the exposition when there is no readable segment: dadar_up 0, and why as a comment. */
static void prom_unavailable(FILE *o, const char *instance, const char *why)
{
	static struct prom p;
	memset(&p, 0, sizeof(p));
	p.o = o;
	p.instance = instance;
	fputs("# dadar-lat: ", o);
	prom_help_text(o, why);
	fputc('\n', o);
	prom_up(&p, false);
}

/* One exposition of the attached segment `g` into `o`. Returns an exit status. */
static int prom_scrape(struct seg *g, FILE *o)
{
	struct sample sm;
	struct view v;
	memset(&sm, 0, sizeof(sm));
	int rc = EX_OK;
	for (unsigned s = 0; s < g->nslots; s++)
		g->sel[s] = true;
	if (view_init(g, &v) != 0 || sample_take(g, &sm) != 0 || view_build(g, &v, &sm, NULL) != 0)
		rc = fail(EX_FAIL, "out of memory for histograms");
	else
		prom_write(o, g, &v);
	view_free(&v);
	sample_free(&sm);
	return rc;
}

static int run_prometheus(struct seg *g)
{
	int rc = prom_scrape(g, stdout);
	if (rc == EX_OK && (fflush(stdout) != 0 || ferror(stdout)))
		rc = out_error();
	return rc;
}

/* ---- values of options and names ------------------------------------------------------------- */

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	if (*s == '\0' || *s == '-' || *s == '+')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static bool instance_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= DD_TM_INSTANCE)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

/* ---- --serve: a tiny HTTP/1.1 server for Prometheus' scrapes ---------------------------------- */

/*
 * "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every address) into host ("" for every address) and port
 * (0..65535; 0 lets the kernel pick one). False if malformed.
 */
static bool split_listen(const char *arg, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(arg, ':');
	if (colon == NULL)
		return false;
	size_t n = (size_t)(colon - arg);
	const char *h = arg;
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']') {
		h++;
		n -= 2;
	} else if (memchr(arg, ':', n) != NULL) {
		return false; /* an IPv6 address needs its brackets */
	}
	unsigned long pn;
	if (n >= hlen || !parse_ulong(colon + 1, 65535, &pn) || strlen(colon + 1) >= plen)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, plen, "%lu", pn);
	return true;
}

/* Bind and listen on op->listen; *fd gets the socket, `bound` the address as bound. Returns an exit status. */
static int serve_listen(const char *arg, int *fd, char *bound, size_t blen)
{
	char host[256], port[8];
	if (!split_listen(arg, host, sizeof(host), port, sizeof(port)))
		return fail(EX_USAGE, "--serve: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9464, [::1]:9464, :9464)", arg);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int e = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (e != 0)
		return fail(EX_LISTEN, "--serve %s: cannot resolve '%s': %s: give an IP address or a host name of this "
			    "machine", arg, host, gai_strerror(e));
	int err = 0, s = -1;
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (s < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		/* a restarted exporter can take its port back while old connections linger in TIME_WAIT */
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, a->ai_addr, a->ai_addrlen) == 0 && listen(s, 16) == 0)
			break;
		err = errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0)
		return fail(EX_LISTEN, "--serve %s: cannot listen: %s%s", arg, strerror(err),
			    err == EADDRINUSE ? " (another process has that port: pick another)" :
			    err == EACCES ? " (ports below 1024 need privileges: pick a higher one)" :
			    err == EADDRNOTAVAIL ? " (not an address of this machine)" : "");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char h[128] = "?", pt[16] = "?";
	if (getsockname(s, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), pt, sizeof(pt), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, blen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, pt);
	*fd = s;
	return EX_OK;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a scraper that hung up is an error for this answer, not a SIGPIPE for us */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR && !stop_requested())
			continue;
		if (n <= 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void http_answer(int fd, int code, const char *reason, const char *ctype, const char *extra,
			const char *body, size_t len, bool head)
{
	char h[512];
	int n = snprintf(h, sizeof(h), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n", code, reason, ctype, len, extra);
	if (send_all(fd, h, (size_t)n) == 0 && !head)
		send_all(fd, body, len);
}

/*
 * Tell stderr when what a scrape finds changes (the instance is missing, readable, unreadable), not
 * at every scrape. `now` is the first line of the last error, or "" when the instance was readable.
 */
static void serve_note(char *noted, size_t len, const char *instance, const char *now)
{
	if (strcmp(noted, now) == 0)
		return;
	if (now[0] != '\0')
		fprintf(stderr, "dadar-lat: %s\n  (--serve answers dadar_up 0 for instance '%s' meanwhile)\n", now, instance);
	else
		fprintf(stderr, "dadar-lat: instance '%s' is readable\n", instance);
	snprintf(noted, len, "%s", now);
}

/* Attach to the instance as it is now: re-attached at every scrape, so that a restarted instance is seen. */
static int serve_attach(struct seg *g, const char *instance, char *why, size_t len)
{
	int rc = seg_attach(g, instance);
	snprintf(why, len, "%.*s", rc == EX_OK ? 0 : (int)strcspn(g_err.last, "\n"), g_err.last);
	return rc;
}

static int serve_scrape(struct seg *g, const struct opts *op, FILE *m, char *noted, size_t nlen)
{
	char why[sizeof(g_err.last)];
	int rc = serve_attach(g, op->instance, why, sizeof(why));
	serve_note(noted, nlen, op->instance, why);
	if (rc != EX_OK) {
		prom_unavailable(m, op->instance, why);
		return EX_OK;
	}
	rc = prom_scrape(g, m);
	seg_detach(g);
	return rc;
}

static void serve_client(int fd, struct seg *g, const struct opts *op, char *noted, size_t nlen)
{
	/* one connection at a time: a client that stalls costs at most these timeouts */
	struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char req[8192];
	size_t n = 0;
	const char *end = NULL;
	while (end == NULL && n < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
		if (r <= 0)
			return; /* closed, timed out, or a signal: nobody to answer */
		n += (size_t)r;
		req[n] = '\0';
		end = strstr(req, "\r\n\r\n");
	}
	static const char text[] = "text/plain; charset=utf-8";
	if (end == NULL) {
		static const char b[] = "request header too large\n";
		http_answer(fd, 431, "Request Header Fields Too Large", text, "", b, sizeof(b) - 1, false);
		return;
	}
	/* the request line: METHOD SP TARGET SP HTTP/1.x */
	char method[16], target[2048], version[16];
	if (sscanf(req, "%15[A-Z] %2047[^ \r\n] %15[^ \r\n]", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0 || strncmp(req + strlen(method) + strlen(target) + strlen(version) + 2,
							    "\r\n", 2) != 0) {
		static const char b[] = "malformed request\n";
		http_answer(fd, 400, "Bad Request", text, "", b, sizeof(b) - 1, false);
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		static const char b[] = "only GET and HEAD\n";
		http_answer(fd, 405, "Method Not Allowed", text, "Allow: GET, HEAD\r\n", b, sizeof(b) - 1, false);
		return;
	}
	target[strcspn(target, "?#")] = '\0';
	if (strcmp(target, "/metrics") != 0) {
		static const char b[] = "not found: the metrics are at /metrics\n";
		http_answer(fd, 404, "Not Found", text, "", b, sizeof(b) - 1, head);
		return;
	}
	char *body = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&body, &len);
	if (m == NULL) {
		static const char b[] = "out of memory\n";
		http_answer(fd, 500, "Internal Server Error", text, "", b, sizeof(b) - 1, head);
		return;
	}
	int rc = serve_scrape(g, op, m, noted, nlen);
	if (fclose(m) != 0 || rc != EX_OK) {
		static const char b[] = "out of memory\n";
		http_answer(fd, 500, "Internal Server Error", text, "", b, sizeof(b) - 1, head);
	} else {
		http_answer(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", "", body, len, head);
	}
	free(body);
}

static int run_serve(const struct opts *op)
{
	int lfd = -1;
	char bound[192];
	int rc = serve_listen(op->listen, &lfd, bound, sizeof(bound));
	if (rc != EX_OK)
		return rc;
	catch_signals();
	/* the scraped instance may come and go: its errors are a state to report, not a reason to stop */
	g_err.quiet = true;
	static struct seg g;
	char noted[sizeof(g_err.last)] = "", why[sizeof(g_err.last)];
	fprintf(stderr, "dadar-lat: serving instance '%s' at http://%s/metrics (Ctrl-C or SIGTERM stops)\n",
		op->instance, bound);
	if (serve_attach(&g, op->instance, why, sizeof(why)) == EX_OK)
		seg_detach(&g);
	serve_note(noted, sizeof(noted), op->instance, why);
	unsigned long answered = 0;
	while (!stop_requested()) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		/* a signal interrupts poll() (no SA_RESTART); the timeout bounds a signal that came just before it */
		if (poll(&p, 1, 200) <= 0)
			continue;
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
				fprintf(stderr, "dadar-lat: accept() on %s failed: %s\n", bound, strerror(errno));
				struct timespec ts = { .tv_sec = 0, .tv_nsec = 200000000 };
				nanosleep(&ts, NULL); /* e.g. out of file descriptors: do not spin */
			}
			continue;
		}
		serve_client(cfd, &g, op, noted, sizeof(noted));
		close(cfd);
		answered++;
	}
	close(lfd);
	fprintf(stderr, "dadar-lat: stopped serving %s (%lu connection%s answered)\n", bound, answered,
		answered == 1 ? "" : "s");
	return EX_OK;
}

/* ---- --list: the instances in /dev/shm ------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

struct listed {
	const char *name;
	const char *state;       /* running, exited, stale, unreadable */
	char error[256];         /* unreadable: why */
	int64_t pid;
	uint64_t start_ns, exit_ns;
};

static void list_probe(struct listed *e, struct seg *g)
{
	if (!instance_ok(e->name)) {
		e->state = "unreadable";
		snprintf(e->error, sizeof(e->error), "not a dadar instance name");
		return;
	}
	if (seg_attach(g, e->name) != EX_OK) {
		e->state = "unreadable";
		snprintf(e->error, sizeof(e->error), "%.*s", (int)strcspn(g_err.last, "\n"), g_err.last);
		return;
	}
	enum run_state st = seg_state(g, &e->exit_ns);
	e->state = st == RUNNING ? "running" : st == EXITED ? "exited" : "stale";
	e->pid = g->pid;
	e->start_ns = g->start_time_ns;
	seg_detach(g);
}

static void list_text(FILE *o, const struct listed *l, size_t n, uint64_t now_ns)
{
	int w = 16;
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(l[i].name) > w)
			w = (int)strlen(l[i].name);
	fprintf(o, "%-*s  %-10s  %8s  %-23s  %s\n", w, "instance", "state", "pid", "started", "up / exited");
	for (size_t i = 0; i < n; i++) {
		const struct listed *e = &l[i];
		if (e->error[0] != '\0') {
			fprintf(o, "%-*s  %-10s  %8s  %-23s  %s\n", w, e->name, e->state, "-", "-", e->error);
			continue;
		}
		char when[64], span[32], ex[64], what[160];
		fmt_time(when, sizeof(when), e->start_ns);
		if (strcmp(e->state, "running") == 0) {
			fmt_span(span, sizeof(span), ((double)now_ns - (double)e->start_ns) / 1e9);
			snprintf(what, sizeof(what), "up %s", span);
		} else if (strcmp(e->state, "exited") == 0) {
			fmt_time(ex, sizeof(ex), e->exit_ns);
			fmt_span(span, sizeof(span), ((double)e->exit_ns - (double)e->start_ns) / 1e9);
			snprintf(what, sizeof(what), "exited %s (ran %s)", ex, span);
		} else {
			snprintf(what, sizeof(what), "gone without closing its segment (killed or crashed)");
		}
		fprintf(o, "%-*s  %-10s  %8lld  %-23s  %s\n", w, e->name, e->state, (long long)e->pid, when, what);
	}
}

static void list_json(FILE *o, const struct listed *l, size_t n, uint64_t now_ns)
{
	struct dd_jw w;
	char iso[48];
	dd_jw_init(&w, o, false);
	dd_jw_open(&w, NULL, '[');
	for (size_t i = 0; i < n; i++) {
		const struct listed *e = &l[i];
		dd_jw_open(&w, NULL, '{');
		dd_jw_str(&w, "instance", e->name);
		dd_jw_str(&w, "state", e->state);
		if (e->error[0] != '\0') {
			dd_jw_str(&w, "error", e->error);
			dd_jw_close(&w, '}');
			continue;
		}
		dd_jw_i64(&w, "pid", e->pid);
		fmt_iso(iso, sizeof(iso), e->start_ns);
		dd_jw_str(&w, "started_at", iso);
		dd_jw_u64(&w, "start_time_ns", e->start_ns);
		if (strcmp(e->state, "running") == 0) {
			dd_jw_f64(&w, "uptime_s", ((double)now_ns - (double)e->start_ns) / 1e9, 3);
		} else if (strcmp(e->state, "exited") == 0) {
			fmt_iso(iso, sizeof(iso), e->exit_ns);
			dd_jw_str(&w, "exited_at", iso);
			dd_jw_u64(&w, "exit_time_ns", e->exit_ns);
		}
		dd_jw_close(&w, '}');
	}
	dd_jw_close(&w, ']');
	fputc('\n', o);
}

static int run_list(const struct opts *op)
{
	DIR *d = opendir("/dev/shm");
	if (d == NULL)
		return fail(EX_FAIL, "cannot list /dev/shm: %s", strerror(errno));
	char (*names)[256] = NULL;
	size_t n = 0, cap = 0;
	int rc = EX_OK;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (strncmp(de->d_name, "dadar-", 6) != 0 || de->d_name[6] == '\0')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			void *p = realloc(names, cap * sizeof(*names));
			if (p == NULL) {
				rc = fail(EX_FAIL, "out of memory listing /dev/shm");
				goto out;
			}
			names = p;
		}
		snprintf(names[n++], sizeof(names[0]), "%s", de->d_name + 6);
	}
	if (n > 1)
		qsort(names, n, sizeof(names[0]), cmp_names);
	struct listed *l = calloc(n ? n : 1, sizeof(*l));
	if (l == NULL) {
		rc = fail(EX_FAIL, "out of memory listing /dev/shm");
		goto out;
	}
	/* a segment that cannot be read is a line of the list, not a failure of it */
	g_err.quiet = true;
	static struct seg g;
	uint64_t now = clock_ns(CLOCK_REALTIME);
	for (size_t i = 0; i < n; i++) {
		l[i].name = names[i];
		list_probe(&l[i], &g);
	}
	if (op->json)
		list_json(stdout, l, n, now);
	else if (n == 0)
		printf("no dadar instances (nothing matches /dev/shm/dadar-*)\n");
	else
		list_text(stdout, l, n, now);
	free(l);
	g_err.quiet = false;
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = out_error();
out:
	closedir(d);
	free(names);
	return rc;
}

/* ---- command line --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: dadar-lat [--instance NAME] [VIEW] [OPTIONS]\n"
	      "\n"
	      "Shows the latency histograms and counters of a dadar instance, running or exited, read from its\n"
	      "telemetry segment /dev/shm/dadar-NAME. Latencies are in ns (in seconds in the Prometheus\n"
	      "exposition; see docs/reading-latency.md).\n"
	      "\n"
	      "views (one at most; default: the summary table since start)\n"
	      "  --watch SECONDS        refresh every SECONDS (e.g. 0.5) with each interval's own figures\n"
	      "  --hist STAGE           histogram bars of STAGE over 1-2-5 buckets\n"
	      "  --percentiles STAGE    STAGE's distribution in HdrHistogram's percentile text format\n"
	      "  --hlog FILE            write an HdrHistogram V2 interval log ('-': standard output)\n"
	      "  --prometheus           Prometheus text exposition (format 0.0.4): counters, latency summaries\n"
	      "  --serve ADDR:PORT      serve that exposition over HTTP at /metrics (e.g. 127.0.0.1:9464)\n"
	      "  --list                 every instance in /dev/shm: running, exited or stale\n"
	      "options\n"
	      "  --instance NAME        the instance (default dadar)\n"
	      "  --json                 JSON (with --watch: one object per interval, JSON lines; with --list)\n"
	      "  --per-lcore            split by lcore (hlog tags become STAGE.lcoreN)\n"
	      "  --lcore N              only lcore N\n"
	      "  --unit ns|us|ms        unit of the human views and --percentiles (default ns)\n"
	      "  --interval SECONDS     --hlog: interval length (default 1)\n"
	      "  --duration SECONDS     --hlog, --watch: stop after SECONDS\n"
	      "  --count N              --hlog, --watch: stop after N intervals\n"
	      "  --help                 this text\n"
	      "Stages and counters are what the instance's segment describes: the pipeline's (stages rx, ring,\n"
	      "wire_to_decision, journal) and its operators' (the book's stage 'book', ...).\n"
	      "\n"
	      "--watch on a terminal: q stops it.\n"
	      "\n"
	      "exit status: 0 ok; 1 I/O failure; 2 bad usage; 3 no such instance; 4 version mismatch or\n"
	      "malformed segment; 5 permission denied; 6 --serve cannot listen on the address\n",
	      f);
}

static int bad(const char *opt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(const char *opt, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "dadar-lat: %s: ", opt);
	vfprintf(stderr, fmt, ap);
	fputs(" (dadar-lat --help lists the options)\n", stderr);
	va_end(ap);
	return EX_USAGE;
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0.001 || v > 86400.0 * 365)
		return false;
	*out = v;
	return true;
}

enum { O_INSTANCE = 256, O_JSON, O_PER_LCORE, O_LCORE, O_WATCH, O_COUNT, O_HIST, O_PCT, O_HLOG, O_INTERVAL,
       O_DURATION, O_UNIT, O_HELP, O_PROM, O_SERVE, O_LIST };

static int set_mode(struct opts *op, enum mode m, const char *opt)
{
	static const char *const names[] = { "", "--watch", "--hist", "--percentiles", "--hlog", "--prometheus",
					     "--serve", "--list" };
	if (op->mode != MODE_TABLE && op->mode != m)
		return bad(opt, "cannot be combined with %s: pick one view", names[op->mode]);
	op->mode = m;
	return EX_OK;
}

/* Returns EX_OK, EX_USAGE, or -1 when --help was printed. */
static int parse_args(int argc, char **argv, struct opts *op)
{
	static const struct option lo[] = {
		{ "instance", required_argument, NULL, O_INSTANCE },
		{ "json", no_argument, NULL, O_JSON },
		{ "per-lcore", no_argument, NULL, O_PER_LCORE },
		{ "lcore", required_argument, NULL, O_LCORE },
		{ "watch", required_argument, NULL, O_WATCH },
		{ "count", required_argument, NULL, O_COUNT },
		{ "hist", required_argument, NULL, O_HIST },
		{ "percentiles", required_argument, NULL, O_PCT },
		{ "hlog", required_argument, NULL, O_HLOG },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "unit", required_argument, NULL, O_UNIT },
		{ "help", no_argument, NULL, O_HELP },
		{ "prometheus", no_argument, NULL, O_PROM },
		{ "serve", required_argument, NULL, O_SERVE },
		{ "list", no_argument, NULL, O_LIST },
		{ NULL, 0, NULL, 0 },
	};
	memset(op, 0, sizeof(*op));
	op->instance = "dadar";
	op->lcore = -1;
	op->unit = "ns";
	op->unit_ratio = 1.0;
	bool have_count = false, have_duration = false;
	unsigned long ul;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
		switch (c) {
		case O_INSTANCE:
			if (!instance_ok(optarg))
				return bad("--instance", "'%s' is not an instance name (1..%d letters, digits, '-', '_')",
					   optarg, DD_TM_INSTANCE - 1);
			op->instance = optarg;
			op->instance_given = true;
			break;
		case O_JSON:
			op->json = true;
			break;
		case O_PER_LCORE:
			op->per_lcore = true;
			break;
		case O_LCORE:
			if (!parse_ulong(optarg, UINT32_MAX, &ul))
				return bad("--lcore", "'%s' is not an lcore id (a number like 0 or 3)", optarg);
			op->lcore = (long)ul;
			break;
		case O_WATCH:
			if ((rc = set_mode(op, MODE_WATCH, "--watch")) != EX_OK)
				return rc;
			if (!parse_seconds(optarg, &op->period_s))
				return bad("--watch", "'%s' is not a period in seconds (e.g. 1 or 0.5, at least 0.001)",
					   optarg);
			break;
		case O_COUNT:
			if (!parse_ulong(optarg, ULONG_MAX, &op->count) || op->count == 0)
				return bad("--count", "'%s' is not a number of intervals (1 or more)", optarg);
			have_count = true;
			break;
		case O_HIST:
			if ((rc = set_mode(op, MODE_HIST, "--hist")) != EX_OK)
				return rc;
			op->stage = optarg;
			break;
		case O_PCT:
			if ((rc = set_mode(op, MODE_PCT, "--percentiles")) != EX_OK)
				return rc;
			op->stage = optarg;
			break;
		case O_HLOG:
			if ((rc = set_mode(op, MODE_HLOG, "--hlog")) != EX_OK)
				return rc;
			if (optarg[0] == '\0')
				return bad("--hlog", "needs a file name ('-' for standard output)");
			op->hlog = optarg;
			break;
		case O_INTERVAL:
			if (!parse_seconds(optarg, &op->period_s))
				return bad("--interval", "'%s' is not an interval in seconds (e.g. 1 or 0.5, at least 0.001)",
					   optarg);
			op->interval_given = true;
			break;
		case O_DURATION:
			if (!parse_seconds(optarg, &op->duration_s))
				return bad("--duration", "'%s' is not a duration in seconds (e.g. 10 or 1.5)", optarg);
			have_duration = true;
			break;
		case O_UNIT:
			if (strcmp(optarg, "ns") == 0)
				op->unit_ratio = 1.0;
			else if (strcmp(optarg, "us") == 0)
				op->unit_ratio = 1e3;
			else if (strcmp(optarg, "ms") == 0)
				op->unit_ratio = 1e6;
			else
				return bad("--unit", "'%s' is not a unit: ns, us or ms", optarg);
			op->unit = optarg;
			break;
		case O_PROM:
			if ((rc = set_mode(op, MODE_PROM, "--prometheus")) != EX_OK)
				return rc;
			break;
		case O_SERVE: {
			char host[256], port[8];
			if ((rc = set_mode(op, MODE_SERVE, "--serve")) != EX_OK)
				return rc;
			if (!split_listen(optarg, host, sizeof(host), port, sizeof(port)))
				return bad("--serve", "'%s' is not ADDR:PORT (e.g. 127.0.0.1:9464, [::1]:9464, :9464; port "
					   "0..65535)", optarg);
			op->listen = optarg;
			break;
		}
		case O_LIST:
			if ((rc = set_mode(op, MODE_LIST, "--list")) != EX_OK)
				return rc;
			break;
		case O_HELP:
			usage(stdout);
			return -1;
		case ':':
			return bad(name, "needs a value");
		default:
			return bad(name, "unknown option");
		}
	}
	if (optind < argc)
		return bad(argv[optind], "unexpected argument (options start with --)");
	/* the interval comes from --watch for the live view, from --interval for the log */
	if (op->interval_given && op->mode != MODE_HLOG)
		return bad("--interval", "goes with --hlog (--watch takes its own period)");
	if (op->mode == MODE_HLOG && !op->interval_given)
		op->period_s = 1.0;
	if ((have_count || have_duration) && op->mode != MODE_WATCH && op->mode != MODE_HLOG)
		return bad(have_count ? "--count" : "--duration", "goes with --watch or --hlog");
	if (op->json && op->mode != MODE_TABLE && op->mode != MODE_WATCH && op->mode != MODE_LIST)
		return bad("--json", "goes with the summary table, --watch or --list");
	/* the exposition holds every lcore, merged and one by one, in seconds */
	if (op->mode == MODE_PROM || op->mode == MODE_SERVE || op->mode == MODE_LIST) {
		const char *m = op->mode == MODE_PROM ? "--prometheus" : op->mode == MODE_SERVE ? "--serve" : "--list";
		if (op->per_lcore || op->lcore >= 0)
			return bad(op->per_lcore ? "--per-lcore" : "--lcore", "does not go with %s, which shows every lcore",
				   m);
		if (op->unit_ratio != 1.0)
			return bad("--unit", "does not go with %s", m);
	}
	if (op->mode == MODE_LIST && op->instance_given)
		return bad("--instance", "does not go with --list, which lists every instance");
	if (op->per_lcore && op->mode == MODE_PCT)
		return bad("--per-lcore", "does not go with --percentiles (its format holds one histogram): use --lcore N");
	return EX_OK;
}

/* --lcore N: mark the slots shown. */
static int select_slots(struct seg *g, const struct opts *op)
{
	bool any = false;
	for (unsigned s = 0; s < g->nslots; s++) {
		g->sel[s] = op->lcore < 0 || g->slot[s].lcore == (unsigned long)op->lcore;
		any |= g->sel[s];
	}
	if (any)
		return EX_OK;
	char list[DD_TM_MAX_SLOTS * (DD_TM_NAME + 16)] = "";
	size_t n = 0;
	for (unsigned s = 0; s < g->nslots && n < sizeof(list); s++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%u (%s)", s ? ", " : "", g->slot[s].lcore,
				      g->slot[s].name);
	return fail(EX_USAGE, "--lcore: instance '%s' has no lcore %ld; its lcores are: %s", g->instance, op->lcore,
		    list);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", "dadar-lat", DD_VERSION);
			return 0;
		}
	struct opts op;
	int rc = parse_args(argc, argv, &op);
	if (rc != EX_OK)
		return rc < 0 ? EX_OK : rc;
	/* these two attach by themselves: to every instance, or again at each scrape */
	if (op.mode == MODE_LIST)
		return run_list(&op);
	if (op.mode == MODE_SERVE)
		return run_serve(&op);
	static struct seg g;
	rc = seg_attach(&g, op.instance);
	if (rc != EX_OK)
		return rc;
	rc = select_slots(&g, &op);
	if (rc == EX_OK) {
		switch (op.mode) {
		case MODE_TABLE:
			rc = run_table(&g, &op);
			break;
		case MODE_WATCH:
			rc = run_watch(&g, &op);
			break;
		case MODE_HIST:
			rc = run_hist(&g, &op);
			break;
		case MODE_PCT:
			rc = run_percentiles(&g, &op);
			break;
		case MODE_HLOG:
			rc = run_hlog(&g, &op);
			break;
		case MODE_PROM:
			rc = run_prometheus(&g);
			break;
		case MODE_SERVE:
		case MODE_LIST:
			break;
		}
	}
	seg_detach(&g);
	return rc;
}
