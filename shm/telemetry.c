/* SPDX-License-Identifier: MIT */
#include "shm/telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

const struct dd_hdr_params dd_tm_hdr_params = {
	.lowest = 1,
	.highest = 60ull * 1000 * 1000 * 1000,
	.sigfigs = 3,
};

/* The pipeline's own entries, in the order of enum dd_tm_stage and enum dd_tm_counter. */
static const char *const pipeline_stages[DD_TM_STAGE__PIPELINE] = {
	[DD_TM_RX] = "rx",
	[DD_TM_RING] = "ring",
	[DD_TM_WIRE] = "wire_to_decision",
	[DD_TM_JOURNAL] = "journal",
};

static const struct {
	const char *name;
	unsigned kind;
} pipeline_counters[DD_TM_C__PIPELINE] = {
	[DD_TM_C_PACKETS] = { "packets", DD_TM_KIND_COUNTER },
	[DD_TM_C_BYTES] = { "bytes", DD_TM_KIND_COUNTER },
	[DD_TM_C_EVENTS] = { "events", DD_TM_KIND_COUNTER },
	[DD_TM_C_GAPS] = { "gaps", DD_TM_KIND_COUNTER },
	[DD_TM_C_MISSING] = { "missing", DD_TM_KIND_COUNTER },
	[DD_TM_C_DUPLICATES] = { "duplicates", DD_TM_KIND_COUNTER },
	[DD_TM_C_RING_USED] = { "ring_used", DD_TM_KIND_GAUGE },
	[DD_TM_C_RING_HIGH_WATER] = { "ring_high_water", DD_TM_KIND_GAUGE },
	[DD_TM_C_RING_SIZE] = { "ring_size", DD_TM_KIND_GAUGE },
	[DD_TM_C_RING_FULL] = { "ring_full", DD_TM_KIND_COUNTER },
	/* positions, not amounts: an interval shows where they stand, not how far they moved */
	[DD_TM_C_JRN_LSN_WRITTEN] = { "jrn_lsn_written", DD_TM_KIND_GAUGE },
	[DD_TM_C_JRN_LSN_DURABLE] = { "jrn_lsn_durable", DD_TM_KIND_GAUGE },
	[DD_TM_C_JRN_COMMITS] = { "jrn_commits", DD_TM_KIND_COUNTER },
	[DD_TM_C_JRN_RELEASED] = { "jrn_released", DD_TM_KIND_COUNTER },
};

_Static_assert(DD_TM_STAGE__PIPELINE <= DD_TM_MAX_STAGES && DD_TM_C__PIPELINE <= DD_TM_MAX_COUNTERS,
	       "the pipeline's own entries fit the tables");

void dd_tm_layout_init(struct dd_tm_layout *l)
{
	memset(l, 0, sizeof(*l));
	for (unsigned i = 0; i < DD_TM_STAGE__PIPELINE; i++)
		l->stage[i] = pipeline_stages[i];
	l->nstages = DD_TM_STAGE__PIPELINE;
	for (unsigned i = 0; i < DD_TM_C__PIPELINE; i++) {
		l->counter[i].name = pipeline_counters[i].name;
		l->counter[i].kind = pipeline_counters[i].kind;
	}
	l->ncounters = DD_TM_C__PIPELINE;
}

static bool name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && strnlen(name, DD_TM_NAME) < DD_TM_NAME;
}

int dd_tm_layout_stage(struct dd_tm_layout *l, const char *name)
{
	if (!name_ok(name))
		return -EINVAL;
	for (unsigned i = 0; i < l->nstages; i++)
		if (strcmp(l->stage[i], name) == 0)
			return -EINVAL;
	if (l->nstages >= DD_TM_MAX_STAGES)
		return -ENOSPC;
	l->stage[l->nstages] = name;
	return (int)l->nstages++;
}

int dd_tm_layout_counter(struct dd_tm_layout *l, const char *name, unsigned kind)
{
	if (!name_ok(name) || (kind != DD_TM_KIND_COUNTER && kind != DD_TM_KIND_GAUGE))
		return -EINVAL;
	for (unsigned i = 0; i < l->ncounters; i++)
		if (strcmp(l->counter[i].name, name) == 0)
			return -EINVAL;
	if (l->ncounters >= DD_TM_MAX_COUNTERS)
		return -ENOSPC;
	l->counter[l->ncounters].name = name;
	l->counter[l->ncounters].kind = kind;
	return (int)l->ncounters++;
}

/*
 * A layout handed to dd_tm_create() may have been filled by hand: everything dd_tm_layout_*() would
 * have refused is refused here too, and the pipeline's entries must lead. Returns 0 or -EINVAL with
 * a message.
 */
static int layout_check(const struct dd_tm_layout *l, char *err, size_t errlen)
{
	if (l->nstages > DD_TM_MAX_STAGES || l->ncounters > DD_TM_MAX_COUNTERS || l->nreasons > DD_TM_MAX_REASONS) {
		snprintf(err, errlen, "telemetry: %u stages, %u counters, %u reasons: at most %u stages "
			 "(DD_TM_MAX_STAGES), %u counters (DD_TM_MAX_COUNTERS), %u reasons (DD_TM_MAX_REASONS)",
			 l->nstages, l->ncounters, l->nreasons, DD_TM_MAX_STAGES, DD_TM_MAX_COUNTERS, DD_TM_MAX_REASONS);
		return -EINVAL;
	}
	if (l->nstages < DD_TM_STAGE__PIPELINE || l->ncounters < DD_TM_C__PIPELINE) {
		snprintf(err, errlen, "telemetry: the layout lacks the pipeline's own %u stages and %u counters: "
			 "start it with dd_tm_layout_init()", DD_TM_STAGE__PIPELINE, DD_TM_C__PIPELINE);
		return -EINVAL;
	}
	for (unsigned i = 0; i < l->nstages; i++) {
		if (!name_ok(l->stage[i])) {
			snprintf(err, errlen, "telemetry: stage %u has no name or one of %u bytes or more (DD_TM_NAME)",
				 i, DD_TM_NAME);
			return -EINVAL;
		}
		if (i < DD_TM_STAGE__PIPELINE && strcmp(l->stage[i], pipeline_stages[i]) != 0) {
			snprintf(err, errlen, "telemetry: stage %u is '%s' where the pipeline's '%s' belongs: start the "
				 "layout with dd_tm_layout_init()", i, l->stage[i], pipeline_stages[i]);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(l->stage[i], l->stage[j]) == 0) {
				snprintf(err, errlen, "telemetry: stage '%s' is described twice", l->stage[i]);
				return -EINVAL;
			}
	}
	for (unsigned i = 0; i < l->ncounters; i++) {
		const char *name = l->counter[i].name;
		if (!name_ok(name)) {
			snprintf(err, errlen, "telemetry: counter %u has no name or one of %u bytes or more (DD_TM_NAME)",
				 i, DD_TM_NAME);
			return -EINVAL;
		}
		if (l->counter[i].kind != DD_TM_KIND_COUNTER && l->counter[i].kind != DD_TM_KIND_GAUGE) {
			snprintf(err, errlen, "telemetry: counter '%s' has kind %u: DD_TM_KIND_COUNTER or DD_TM_KIND_GAUGE "
				 "expected", name, l->counter[i].kind);
			return -EINVAL;
		}
		if (i < DD_TM_C__PIPELINE && strcmp(name, pipeline_counters[i].name) != 0) {
			snprintf(err, errlen, "telemetry: counter %u is '%s' where the pipeline's '%s' belongs: start the "
				 "layout with dd_tm_layout_init()", i, name, pipeline_counters[i].name);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(name, l->counter[j].name) == 0) {
				snprintf(err, errlen, "telemetry: counter '%s' is described twice", name);
				return -EINVAL;
			}
	}
	for (unsigned r = 0; r < l->nreasons; r++)
		if (l->reason[r] == NULL) {
			snprintf(err, errlen, "telemetry: reason %u has no name", r);
			return -EINVAL;
		}
	return 0;
}

static size_t hist_size(void)
{
	return ALIGN64(dd_hdr_memsize(&dd_tm_hdr_params));
}

static size_t slot_offset(void)
{
	return ALIGN64(sizeof(struct dd_tm_header));
}

static size_t hist_offset(unsigned nslots)
{
	return ALIGN64(slot_offset() + (size_t)nslots * sizeof(struct dd_tm_slot));
}

size_t dd_tm_segment_size(unsigned nslots, unsigned nstages)
{
	return hist_offset(nslots) + (size_t)nslots * nstages * hist_size();
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Field 22 of /proc/PID/stat (start time in clock ticks after boot), 0 if unreadable. */
static uint64_t proc_start(int64_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name (field 2) is in parentheses and may hold spaces: start after the last ')' */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	unsigned long long v = 0;
	/* fields 3..21 skipped, field 22 read */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &v) != 1)
		return 0;
	return v;
}

bool dd_tm_owner_alive(const struct dd_tm_header *h)
{
	if (h->pid <= 0)
		return false;
	if (kill((pid_t)h->pid, 0) != 0 && errno != EPERM)
		return false;
	/* A live process with that pid: ours only if it started when the segment's creator did. */
	uint64_t st = proc_start(h->pid);
	return st == 0 || h->proc_start == 0 || st == h->proc_start;
}

static void seg_name(char *buf, size_t len, const char *instance)
{
	snprintf(buf, len, "/dadar-%s", instance);
}

/*
 * An existing object named `path`: refuse if its owner lives, else remove it. The owner holds an
 * exclusive flock on the object from before it sizes it until it exits, and the kernel drops the
 * lock when the process dies however it dies: a lock we can take means nobody owns the object,
 * even one caught half-created. The pid in the header only names the owner in the message.
 */
static int clear_stale(const char *path, const char *instance, bool *replaced, char *err, size_t errlen)
{
	int fd = shm_open(path, O_RDONLY, 0);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return 0; /* gone meanwhile: just try again */
		snprintf(err, errlen, "telemetry segment /dev/shm%s exists but cannot be opened (%s): remove it or pick another --instance",
			 path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		long long pid = 0;
		struct stat st;
		if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct dd_tm_header)) {
			struct dd_tm_header *h = mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
			if (h != MAP_FAILED) {
				pid = (long long)h->pid;
				munmap(h, sizeof(*h));
			}
		}
		close(fd);
		if (e != EWOULDBLOCK) {
			snprintf(err, errlen, "flock(/dev/shm%s) failed: %s", path, strerror(e));
			return -e;
		}
		if (pid > 0)
			snprintf(err, errlen, "instance '%s' is already running (pid %lld): stop it, or start this one with "
				 "--instance OTHER_NAME", instance, pid);
		else
			snprintf(err, errlen, "instance '%s' is starting in another process: stop it, or start this one "
				 "with --instance OTHER_NAME", instance);
		return -EEXIST;
	}
	bool exited = false;
	struct stat st;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct dd_tm_header)) {
		struct dd_tm_header *h = mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
		if (h != MAP_FAILED) {
			/* another major keeps its state elsewhere: an older dadar's segment is replaced quietly */
			exited = h->major != DD_TM_MAJOR ||
				 atomic_load_explicit(&h->state, memory_order_relaxed) == DD_TM_EXITED;
			munmap(h, sizeof(*h));
		}
	}
	if (shm_unlink(path) != 0 && errno != ENOENT) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "cannot remove the stale telemetry segment /dev/shm%s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	/* an instance that exited cleanly leaves its segment for readers: replacing it is routine */
	*replaced = *replaced || !exited;
	return 0;
}

int dd_tm_create(struct dd_tm *tm, const char *instance, unsigned nslots, uint64_t tsc_hz,
		 const struct dd_tm_layout *l, bool *replaced, char *err, size_t errlen)
{
	memset(tm, 0, sizeof(*tm));
	*replaced = false;
	if (nslots == 0 || nslots > DD_TM_MAX_SLOTS) {
		snprintf(err, errlen, "telemetry: %u slots: 1 to %u (DD_TM_MAX_SLOTS) lcores can have a slot", nslots,
			 DD_TM_MAX_SLOTS);
		return -EINVAL;
	}
	if (instance[0] == '\0' || strlen(instance) >= DD_TM_INSTANCE) {
		snprintf(err, errlen, "telemetry: instance name '%s' must be 1 to %u characters", instance,
			 DD_TM_INSTANCE - 1);
		return -EINVAL;
	}
	int rc = layout_check(l, err, errlen);
	if (rc != 0)
		return rc;
	seg_name(tm->path, sizeof(tm->path), instance);
	int fd;
	for (int attempt = 0;; attempt++) {
		fd = shm_open(tm->path, O_RDWR | O_CREAT | O_EXCL, 0640);
		if (fd >= 0)
			break;
		if (errno != EEXIST || attempt == 3) {
			int e = errno;
			snprintf(err, errlen, "shm_open(%s) failed: %s", tm->path, strerror(e));
			return -e;
		}
		rc = clear_stale(tm->path, instance, replaced, err, errlen);
		if (rc != 0)
			return rc;
	}
	/* held until dd_tm_close() or our death: how a later start knows we are alive */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "flock(/dev/shm%s) failed: %s", tm->path, strerror(e));
		return -e;
	}
	size_t size = dd_tm_segment_size(nslots, l->nstages);
	/* the mode must not depend on the caller's umask: readers in the group need it */
	if (fchmod(fd, 0640) != 0 || ftruncate(fd, (off_t)size) != 0) {
		rc = -errno;
		snprintf(err, errlen, "sizing telemetry segment /dev/shm%s to %zu bytes failed: %s", tm->path, size,
			 strerror(-rc));
		goto err;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "mmap(/dev/shm%s, %zu) failed: %s", tm->path, size, strerror(-rc));
		goto err;
	}
	tm->fd = fd;
	tm->hdr = p;
	tm->size = size;
	tm->writer = true;

	struct dd_tm_header *h = tm->hdr;
	h->major = DD_TM_MAJOR;
	h->minor = DD_TM_MINOR;
	h->header_size = sizeof(*h);
	h->segment_size = size;
	h->pid = (int64_t)getpid();
	h->proc_start = proc_start(h->pid);
	h->start_time_ns = realtime_ns();
	h->tsc_hz = tsc_hz;
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	h->nslots = nslots;
	h->nstages = l->nstages;
	h->ncounters = l->ncounters;
	h->nreasons = l->nreasons;
	h->slot_offset = slot_offset();
	h->slot_size = sizeof(struct dd_tm_slot);
	h->hist_offset = hist_offset(nslots);
	h->hist_size = hist_size();
	/* the object is new and zero-filled: names are NUL-padded, unused entries stay empty */
	for (unsigned t = 0; t < l->nstages; t++) {
		memcpy(h->stage[t].name, l->stage[t], strlen(l->stage[t]));
		h->stage[t].kind = DD_TM_KIND_LATENCY;
	}
	for (unsigned c = 0; c < l->ncounters; c++) {
		memcpy(h->counter[c].name, l->counter[c].name, strlen(l->counter[c].name));
		h->counter[c].kind = l->counter[c].kind;
	}
	for (unsigned r = 0; r < l->nreasons; r++)
		snprintf(h->reason_names[r], DD_TM_NAME, "%s", l->reason[r]);
	for (unsigned s = 0; s < nslots; s++)
		for (unsigned t = 0; t < l->nstages; t++)
			if (dd_hdr_init(dd_tm_hist(tm, s, t), h->hist_size, &dd_tm_hdr_params) != 0) {
				snprintf(err, errlen, "telemetry: histogram initialisation failed");
				dd_tm_close(tm, false);
				shm_unlink(tm->path);
				return -EINVAL;
			}
	return 0;
err:
	close(fd);
	shm_unlink(tm->path);
	return rc;
}

void dd_tm_publish(struct dd_tm *tm)
{
	atomic_store_explicit(&tm->hdr->state, DD_TM_RUNNING, memory_order_relaxed);
	/* Pairs with the acquire load in dd_tm_attach(): everything written above is visible first. */
	atomic_store_explicit(&tm->hdr->magic, DD_TM_MAGIC, memory_order_release);
}

void dd_tm_close(struct dd_tm *tm, bool exited)
{
	if (tm->hdr == NULL)
		return;
	if (tm->writer && exited) {
		atomic_store_explicit(&tm->hdr->exit_time_ns, realtime_ns(), memory_order_relaxed);
		/* pairs with readers' acquire load of state: the final counters are visible with it */
		atomic_store_explicit(&tm->hdr->state, DD_TM_EXITED, memory_order_release);
	}
	munmap(tm->hdr, tm->size);
	tm->hdr = NULL;
}

static const char *desc_problem(const struct dd_tm_desc *d, unsigned n, const char *what, char *buf, size_t len)
{
	for (unsigned i = 0; i < n; i++) {
		size_t l = strnlen(d[i].name, DD_TM_NAME);
		if (l == 0 || l == DD_TM_NAME) {
			snprintf(buf, len, "%s %u has an empty or unterminated name", what, i);
			return buf;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(d[i].name, d[j].name) == 0) {
				snprintf(buf, len, "%s '%s' is described twice", what, d[i].name);
				return buf;
			}
	}
	return NULL;
}

/*
 * Every count, size and offset of an untrusted header checked, products without overflow, and every
 * histogram block validated. Returns NULL, or what is wrong.
 */
static const char *layout_problem(const struct dd_tm_header *h, size_t size, char *buf, size_t len)
{
	uint64_t slots, hists;
	if (h->segment_size != size || h->header_size > size || h->nslots == 0 || h->nslots > DD_TM_MAX_SLOTS ||
	    h->nstages == 0 || h->nstages > DD_TM_MAX_STAGES || h->ncounters > DD_TM_MAX_COUNTERS ||
	    h->nreasons > DD_TM_MAX_REASONS || h->header_size < sizeof(struct dd_tm_header) ||
	    h->slot_size < sizeof(struct dd_tm_slot) || h->hist_size < dd_hdr_memsize(&dd_tm_hdr_params) ||
	    h->slot_offset > size || h->hist_offset > size)
		return "header sizes and offsets do not fit the object";
	if ((h->slot_offset | h->slot_size | h->hist_offset | h->hist_size) % 64 != 0)
		return "regions are not cache-line aligned";
	if (__builtin_mul_overflow((uint64_t)h->nslots, h->slot_size, &slots) ||
	    __builtin_mul_overflow((uint64_t)h->nslots * h->nstages, h->hist_size, &hists) ||
	    slots > size - h->slot_offset || hists > size - h->hist_offset)
		return "header sizes and offsets do not fit the object";
	/* names are what readers find entries by: each one terminated, non-empty and unique */
	const char *why = desc_problem(h->stage, h->nstages, "stage", buf, len);
	if (why == NULL)
		why = desc_problem(h->counter, h->ncounters, "counter", buf, len);
	if (why != NULL)
		return why;
	/* every histogram block must be a valid histogram before anyone reads it */
	for (unsigned s = 0; s < h->nslots; s++)
		for (unsigned t = 0; t < h->nstages; t++) {
			const struct dd_hdr *hd = (const struct dd_hdr *)(const void *)((const char *)h + h->hist_offset +
				((size_t)s * h->nstages + t) * h->hist_size);
			int rc = dd_hdr_check(hd, h->hist_size);
			if (rc == -EPROTO) {
				snprintf(buf, len, "version mismatch: histogram of slot %u, stage %u has a version this "
					 "reader does not know", s, t);
				return buf;
			}
			if (rc != 0) {
				snprintf(buf, len, "histogram of slot %u, stage %u is not initialised or is corrupt", s, t);
				return buf;
			}
		}
	return NULL;
}

int dd_tm_attach(struct dd_tm *tm, const char *instance, char *err, size_t errlen)
{
	memset(tm, 0, sizeof(*tm));
	seg_name(tm->path, sizeof(tm->path), instance);
	int fd = shm_open(tm->path, O_RDONLY, 0);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "no such instance '%s' (no /dev/shm%s): is dadar running with --instance %s?",
				 instance, tm->path, instance);
		else if (e == EACCES)
			snprintf(err, errlen, "permission denied reading /dev/shm%s: run as the user dadar runs as, or a "
				 "member of its group", tm->path);
		else
			snprintf(err, errlen, "shm_open(%s) failed: %s", tm->path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct dd_tm_header)) {
		close(fd);
		snprintf(err, errlen, "/dev/shm%s is too small to be a dadar telemetry segment", tm->path);
		return -EBADMSG;
	}
	size_t size = (size_t)st.st_size;
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap(/dev/shm%s, %zu) failed: %s", tm->path, size, strerror(e));
		return -e;
	}
	tm->hdr = p;
	tm->size = size;
	const struct dd_tm_header *h = tm->hdr;
	/* Pairs with the release store in dd_tm_publish(). */
	uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
	int rc = 0;
	if (magic != DD_TM_MAGIC) {
		snprintf(err, errlen, "/dev/shm%s is not a published dadar telemetry segment (still starting, or not ours)",
			 tm->path);
		rc = -EPROTO;
	} else if (h->major != DD_TM_MAJOR) {
		snprintf(err, errlen, "version mismatch: /dev/shm%s is telemetry v%u.%u, this reader knows v%u.x",
			 tm->path, h->major, h->minor, DD_TM_MAJOR);
		rc = -EPROTO;
	} else {
		char why[160];
		const char *problem = layout_problem(h, size, why, sizeof(why));
		if (problem != NULL) {
			snprintf(err, errlen, "/dev/shm%s (%zu bytes): %s", tm->path, size, problem);
			rc = strncmp(problem, "version mismatch", 16) == 0 ? -EPROTO : -EBADMSG;
		}
	}
	if (rc != 0) {
		munmap(tm->hdr, size);
		tm->hdr = NULL;
	}
	return rc;
}

void dd_tm_detach(struct dd_tm *tm)
{
	dd_tm_close(tm, false);
}

/* The header was checked by dd_tm_attach() (or written by dd_tm_create()): names are terminated. */
static int desc_find(const struct dd_tm_desc *d, unsigned n, const char *name)
{
	if (strnlen(name, DD_TM_NAME) >= DD_TM_NAME)
		return -ENOENT;
	for (unsigned i = 0; i < n; i++)
		if (strncmp(d[i].name, name, DD_TM_NAME) == 0)
			return (int)i;
	return -ENOENT;
}

int dd_tm_stage_find(const struct dd_tm *tm, const char *name)
{
	const struct dd_tm_header *h = tm->hdr;
	return desc_find(h->stage, h->nstages < DD_TM_MAX_STAGES ? h->nstages : DD_TM_MAX_STAGES, name);
}

int dd_tm_counter_find(const struct dd_tm *tm, const char *name)
{
	const struct dd_tm_header *h = tm->hdr;
	return desc_find(h->counter, h->ncounters < DD_TM_MAX_COUNTERS ? h->ncounters : DD_TM_MAX_COUNTERS, name);
}

const char *dd_tm_stage_name_at(const struct dd_tm *tm, unsigned i)
{
	return i < tm->hdr->nstages && i < DD_TM_MAX_STAGES ? tm->hdr->stage[i].name : NULL;
}
