/* SPDX-License-Identifier: MIT */
/*
 * dadar-lat: the latency inspector. Attaches read-only to a dadar instance's telemetry segment
 * (shm/telemetry.h), running or exited, and shows its latency histograms and counters: a summary
 * table, a live view of each interval, histogram bars, HdrHistogram's percentile text, an
 * HdrHistogram V2 interval log (.hlog) and JSON. docs/reading-latency.md explains every view.
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
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
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
};

enum mode { MODE_TABLE, MODE_WATCH, MODE_HIST, MODE_PCT, MODE_HLOG };

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

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("dadar-lat: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
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
	for (unsigned t = 0; t < g->nstages; t++)
		dd_hdr_reset(v->m[t]);
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		for (unsigned t = 0; t < g->nstages; t++) {
			const struct dd_hdr *h = cur->h[s][t];
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

/* 12345678 → "12,345,678": 8-digit counters read at a glance. */
static const char *grouped(char *buf, size_t len, uint64_t v)
{
	char d[24];
	int n = snprintf(d, sizeof(d), "%llu", (unsigned long long)v);
	size_t j = 0;
	for (int i = 0; i < n && j + 2 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = d[i];
	}
	buf[j] = '\0';
	return buf;
}

/* A latency in the display unit: integer ns, or 3 decimals of us/ms. */
static const char *lat(char *buf, size_t len, uint64_t ns, double ratio)
{
	if (ratio == 1.0)
		snprintf(buf, len, "%llu", (unsigned long long)ns);
	else
		snprintf(buf, len, "%.3f", (double)ns / ratio);
	return buf;
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

static void table_head(FILE *o)
{
	fprintf(o, "%-16s %12s %8s %8s %8s %8s %8s %8s %9s %10s\n", "stage", "count", "min", "p50", "p90", "p99",
		"p99.9", "p99.99", "max", "mean");
}

static void table_row(FILE *o, const char *name, const struct dd_hdr *h, double ratio)
{
	struct stats s;
	char c[32], b[8][32];
	stats_of(h, &s);
	if (s.count == 0) {
		fprintf(o, "%-16s %12s %8s %8s %8s %8s %8s %8s %9s %10s\n", name, "0", "-", "-", "-", "-", "-", "-", "-",
			"-");
		return;
	}
	char mean[32];
	snprintf(mean, sizeof(mean), "%.*f", ratio == 1.0 ? 1 : 3, s.mean / ratio);
	fprintf(o, "%-16s %12s %8s %8s %8s %8s %8s %8s %9s %10s\n", name, grouped(c, sizeof(c), s.count),
		lat(b[0], 32, s.min, ratio), lat(b[1], 32, s.p50, ratio), lat(b[2], 32, s.p90, ratio),
		lat(b[3], 32, s.p99, ratio), lat(b[4], 32, s.p999, ratio), lat(b[5], 32, s.p9999, ratio),
		lat(b[6], 32, s.max, ratio), mean);
}

static void print_latency(FILE *o, const struct seg *g, const struct view *v, const struct opts *op)
{
	const char *what = v->interval ? "this interval" : "since start";
	if (!op->per_lcore) {
		unsigned n = 0;
		for (unsigned s = 0; s < g->nslots; s++)
			n += g->sel[s];
		fprintf(o, "\nlatency, %s (%s), merged over %u lcore%s\n", op->unit, what, n, n == 1 ? "" : "s");
		table_head(o);
		for (unsigned t = 0; t < g->nstages; t++)
			table_row(o, g->stage[t], v->m[t], op->unit_ratio);
		return;
	}
	for (unsigned s = 0; s < g->nslots; s++) {
		if (!g->sel[s])
			continue;
		fprintf(o, "\nslot %u  %s  lcore %u  (%s): latency, %s (%s)\n", s, g->slot[s].name, g->slot[s].lcore,
			role_name(g->slot[s].role), op->unit, what);
		bool any = false;
		for (unsigned t = 0; t < g->nstages; t++)
			if (v->p[s][t] != NULL) {
				if (!any)
					table_head(o);
				any = true;
				table_row(o, g->stage[t], v->p[s][t], op->unit_ratio);
			}
		if (!any)
			fprintf(o, "  nothing recorded\n");
	}
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
		dd_jw_hdr(&w, g->stage[t], v->m[t]);
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
			dd_jw_hdr(&w, g->stage[t], v->p[s][t]);
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

/* The signal handler's only way in: one atomic store, polled by the sleeping loop. */
static atomic_int g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&g_stop, 1, memory_order_release);
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: the signal interrupts clock_nanosleep() so that we stop at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static bool stop_requested(void)
{
	/* pairs with the release store in on_signal() */
	return atomic_load_explicit(&g_stop, memory_order_acquire) != 0;
}

enum wake { WAKE_TIME, WAKE_SIGNAL, WAKE_EXIT };

/*
 * Sleep until CLOCK_MONOTONIC `deadline_ns` (absolute, so intervals do not drift), checking every
 * 100 ms whether a signal came or the instance exited.
 */
static enum wake sleep_until(const struct seg *g, uint64_t deadline_ns)
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
static int watch_block(const struct seg *g, const struct view *v, const struct opts *op, bool tty)
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
	fprintf(m, "  interval ending %s  (every %.3g s; Ctrl-C stops)\n", when, op->period_s);
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
		    const char *what, bool emit_on_signal)
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
		enum wake wk = sleep_until(g, deadline);
		if (wk == WAKE_SIGNAL && !emit_on_signal)
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
};

static int emit_watch(const struct seg *g, const struct view *v, const struct origin *o, void *ctx)
{
	struct watch_ctx *w = ctx;
	(void)o;
	return watch_block(g, v, w->op, w->tty);
}

static int run_watch(struct seg *g, const struct opts *op)
{
	uint64_t exit_ns;
	if (seg_state(g, &exit_ns) != RUNNING) {
		say_exited(g, true);
		return EX_OK;
	}
	struct watch_ctx w = { op, !op->json && isatty(STDOUT_FILENO) };
	if (w.tty)
		fputs("\033[H\033[2J", stdout);
	/* a live view stops at once on Ctrl-C: the screen already shows the last interval */
	return periodic(g, op, NULL, emit_watch, &w, "watch output", false);
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
	int rc = periodic(g, op, begin_hlog, emit_hlog, &c, "interval log", true);
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

/* ---- command line --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: dadar-lat [--instance NAME] [VIEW] [OPTIONS]\n"
	      "\n"
	      "Shows the latency histograms and counters of a dadar instance, running or exited, read from its\n"
	      "telemetry segment /dev/shm/dadar-NAME. Latencies are in ns (see docs/reading-latency.md).\n"
	      "\n"
	      "views (one at most; default: the summary table since start)\n"
	      "  --watch SECONDS        refresh every SECONDS (e.g. 0.5) with each interval's own figures\n"
	      "  --hist STAGE           histogram bars of STAGE over 1-2-5 buckets\n"
	      "  --percentiles STAGE    STAGE's distribution in HdrHistogram's percentile text format\n"
	      "  --hlog FILE            write an HdrHistogram V2 interval log ('-': standard output)\n"
	      "options\n"
	      "  --instance NAME        the instance (default dadar)\n"
	      "  --json                 JSON (with --watch: one object per interval, JSON lines)\n"
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
	      "exit status: 0 ok; 1 I/O failure; 2 bad usage; 3 no such instance; 4 version mismatch or\n"
	      "malformed segment; 5 permission denied\n",
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

enum { O_INSTANCE = 256, O_JSON, O_PER_LCORE, O_LCORE, O_WATCH, O_COUNT, O_HIST, O_PCT, O_HLOG, O_INTERVAL,
       O_DURATION, O_UNIT, O_HELP };

static int set_mode(struct opts *op, enum mode m, const char *opt)
{
	static const char *const names[] = { "", "--watch", "--hist", "--percentiles", "--hlog" };
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
	if (op->json && op->mode != MODE_TABLE && op->mode != MODE_WATCH)
		return bad("--json", "goes with the summary table or --watch");
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
		}
	}
	seg_detach(&g);
	return rc;
}
