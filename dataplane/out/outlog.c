/* SPDX-License-Identifier: MIT */
#include "dataplane/out/outlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/journal/jfile.h"

#define CHUNK (1u << 20)
#define EVERY 1024u          /* remember where every EVERY-th output is */
#define MAX_MARKS (1u << 16)

/* Where output `n` starts: the segment (by first LSN) and the record's offset in it. */
struct mark {
	uint64_t n;
	uint64_t seg;
	uint64_t off;
};

struct dd_outlog {
	char dir[512];
	struct mark *marks;      /* ascending n */
	size_t nmarks;
	uint8_t *buf;            /* CHUNK + DD_J_MAX_REC */
};

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

int dd_outlog_open(struct dd_outlog **out, const char *dir, char *err, size_t errlen)
{
	struct dd_outlog *l = calloc(1, sizeof(*l));
	if (l != NULL) {
		l->marks = malloc(MAX_MARKS * sizeof(*l->marks));
		l->buf = malloc(CHUNK + DD_J_MAX_REC);
	}
	if (l == NULL || l->marks == NULL || l->buf == NULL) {
		dd_outlog_close(l);
		return fail(-ENOMEM, err, errlen, "output log: out of memory");
	}
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	*out = l;
	return 0;
}

void dd_outlog_close(struct dd_outlog *l)
{
	if (l == NULL)
		return;
	free(l->marks);
	free(l->buf);
	free(l);
}

static void remember(struct dd_outlog *l, uint64_t n, uint64_t seg, uint64_t off)
{
	size_t lo = 0, hi = l->nmarks;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->marks[mid].n < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	if ((lo < l->nmarks && l->marks[lo].n == n) || l->nmarks == MAX_MARKS)
		return;
	memmove(&l->marks[lo + 1], &l->marks[lo], (l->nmarks - lo) * sizeof(*l->marks));
	l->marks[lo] = (struct mark){ n, seg, off };
	l->nmarks++;
}

/* The last mark at or before output n, or NULL. */
static const struct mark *mark_before(const struct dd_outlog *l, uint64_t n)
{
	size_t lo = 0, hi = l->nmarks;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->marks[mid].n <= n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &l->marks[lo - 1] : NULL;
}

struct walk {
	struct dd_outlog *l;     /* NULL: count only */
	uint64_t next;           /* number of the next output record */
	uint64_t first, last;    /* deliver [first, last] */
	dd_outlog_fn fn;
	void *ctx;
	long delivered;
	bool done;               /* past `last` */
};

/*
 * Read segment `si` from offset `off`, numbering output records from w->next. Returns 0 at the end
 * of its data (a zero length, a PAD, its end), 1 when a record fails its checks (the read stops
 * there), or -errno.
 */
static int walk_segment(struct walk *w, uint8_t *buf, const struct dd_jseg_info *si, uint64_t off, char *err,
			size_t errlen)
{
	int fd = open(si->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, err, errlen, "open(%s) failed: %s", si->path, strerror(errno));
	uint64_t size = si->h.segment_size;
	uint64_t have_at = 0, have = 0;  /* buf holds file bytes [have_at, have_at + have) */
	int rc = 0;
	while (!w->done && off + DD_J_REC_HDR <= size) {
		if (off < have_at || off + DD_J_MAX_REC > have_at + have) {
			ssize_t r = pread(fd, buf, CHUNK + DD_J_MAX_REC, (off_t)off);
			if (r < 0) {
				rc = fail(-errno, err, errlen, "read(%s) failed: %s", si->path, strerror(errno));
				break;
			}
			have_at = off;
			have = (uint64_t)r;
			if (have < DD_J_REC_HDR)
				break;
		}
		const uint8_t *p = buf + (off - have_at);
		struct dd_jrec r;
		memcpy(&r, p, sizeof(r));
		if (r.len == 0 || r.type == DD_JREC_PAD)
			break;
		if (r.len < DD_J_REC_HDR || r.len % 8 || r.len > DD_J_MAX_REC || off - have_at + r.len > have) {
			rc = 1;
			break;
		}
		uint8_t h[DD_J_REC_HDR];
		memcpy(h, p, sizeof(h));
		memset(h + 16, 0, 4);
		uint32_t crc = dd_crc32c(dd_crc32c(0, h, sizeof(h)), p + DD_J_REC_HDR, r.len - DD_J_REC_HDR);
		if (crc != r.crc) {
			rc = 1;
			break;
		}
		if (r.type == DD_JREC_OUTPUT && r.len >= dd_jrec_size(sizeof(struct dd_output))) {
			uint64_t n = w->next++;
			if (w->l != NULL && n % EVERY == 1)
				remember(w->l, n, si->first_lsn, off);
			if (n >= w->first && n <= w->last) {
				struct dd_output o;
				memcpy(&o, p + DD_J_REC_HDR, sizeof(o));
				w->fn(w->ctx, n, r.lsn, &o);
				w->delivered++;
			}
			if (n >= w->last)
				w->done = true;
		}
		off += r.len;
	}
	close(fd);
	return rc;
}

/*
 * Walk from the best known place before output w->first: a mark, a segment whose header numbers
 * its outputs, or the journal's first segment.
 */
static int walk(struct dd_outlog *l, const char *dir, uint8_t *buf, struct walk *w, char *err, size_t errlen)
{
	struct dd_jseg_info *segs;
	size_t n;
	w->next = 1;
	int rc = dd_jseg_list(dir, &segs, &n, err, errlen);
	if (rc == -ENOENT && l == NULL)
		return 0; /* no journal: no outputs */
	if (rc != 0)
		return rc;
	size_t si = 0;
	uint64_t off = DD_J_PAGE;
	bool found = false;
	w->next = 1;
	for (size_t i = n; i-- > 0 && !found;)
		if (segs[i].h.minor >= 1 && segs[i].h.outputs_before < w->first) {
			si = i;
			w->next = segs[i].h.outputs_before + 1;
			found = true;
		}
	if (!found && n > 0 && (segs[0].first_lsn != 1 || segs[0].h.minor >= 1)) {
		/* output w->first is before the first segment that numbers its outputs, and the journal's
		 * start is not there to count from */
		rc = fail(-ENODATA, err, errlen, "journal %s: output %llu is before its first segment (LSN %llu)", dir,
			  (unsigned long long)w->first, (unsigned long long)segs[0].first_lsn);
		free(segs);
		return rc;
	}
	const struct mark *m = l != NULL ? mark_before(l, w->first) : NULL;
	if (m != NULL && m->n >= w->next) {
		for (size_t i = 0; i < n; i++)
			if (segs[i].first_lsn == m->seg) {
				si = i;
				off = m->off;
				w->next = m->n;
				break;
			}
	}
	for (; si < n && !w->done && rc == 0; si++, off = DD_J_PAGE)
		rc = walk_segment(w, buf, &segs[si], off, err, errlen);
	free(segs);
	return rc < 0 ? rc : 0;
}

long dd_outlog_read(struct dd_outlog *l, uint64_t first, unsigned count, dd_outlog_fn fn, void *ctx, char *err,
		    size_t errlen)
{
	if (first == 0 || count == 0)
		return 0;
	struct walk w = { .l = l, .first = first, .last = first + count - 1, .fn = fn, .ctx = ctx };
	int rc = walk(l, l->dir, l->buf, &w, err, errlen);
	return rc < 0 ? rc : w.delivered;
}

static void count_none(void *ctx, uint64_t n, uint64_t lsn, const struct dd_output *o)
{
	(void)ctx, (void)n, (void)lsn, (void)o;
}

int dd_outlog_count(const char *dir, uint64_t *count, char *err, size_t errlen)
{
	uint8_t *buf = malloc(CHUNK + DD_J_MAX_REC);
	if (buf == NULL)
		return fail(-ENOMEM, err, errlen, "output log: out of memory");
	/* deliver nothing: first past every output; the walk starts at the last numbered segment */
	struct walk w = { .first = UINT64_MAX, .last = UINT64_MAX, .fn = count_none };
	int rc = walk(NULL, dir, buf, &w, err, errlen);
	free(buf);
	if (rc == 0)
		*count = w.next - 1;
	return rc;
}

/* ---- the stream's session ------------------------------------------------------------------------ */

int dd_stream_state_load(const char *dir, struct dd_stream_state *s, char *err, size_t errlen)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/stream", dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? -ENOENT : fail(-errno, err, errlen, "cannot read %s: %s", path, strerror(errno));
	char line[128] = "";
	memset(s, 0, sizeof(*s));
	bool ok = fgets(line, sizeof(line), f) != NULL &&
		  sscanf(line, "session %10s base %" SCNu64 " ended %d", s->session, &s->base, &s->ended) == 3 &&
		  strlen(s->session) == DD_OUTLOG_SESSION_LEN && (s->ended == 0 || s->ended == 1);
	fclose(f);
	if (!ok)
		return fail(-EBADMSG, err, errlen, "%s is not \"session NAME base N ended 0|1\" with a 10-character NAME: "
			    "move it aside to start a new session", path);
	return 0;
}

/* Write `text` to `dir`/`name` whole: a temporary file, fsync, rename, directory fsync. */
static int save_whole(const char *dir, const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	char path[600], tmp[610];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return fail(-errno, err, errlen, "cannot create %s: %s", tmp, strerror(errno));
	int rc = 0;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = -(errno ? errno : EIO);
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) != 0)
				rc = -errno;
			close(dfd);
		}
	}
	if (rc != 0) {
		unlink(tmp);
		return fail(rc, err, errlen, "cannot write %s: %s", path, strerror(-rc));
	}
	return 0;
}

int dd_stream_state_save(const char *dir, const struct dd_stream_state *s, char *err, size_t errlen)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "session %s base %" PRIu64 " ended %d\n", s->session, s->base, s->ended);
	return save_whole(dir, "stream", line, (size_t)len, err, errlen);
}

int dd_stream_past_load(const char *dir, struct dd_stream_past *v, unsigned *n, char *err, size_t errlen)
{
	char path[600], line[128];
	snprintf(path, sizeof(path), "%s/sessions", dir);
	*n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : fail(-errno, err, errlen, "cannot read %s: %s", path, strerror(errno));
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct dd_stream_past p;
		lineno++;
		memset(&p, 0, sizeof(p));
		if (sscanf(line, "session %10s base %" SCNu64 " count %" SCNu64, p.session, &p.base, &p.count) != 3 ||
		    strlen(p.session) != DD_OUTLOG_SESSION_LEN || p.count > UINT64_MAX - p.base) {
			fclose(f);
			return fail(-EBADMSG, err, errlen, "%s:%u is not \"session NAME base N count M\" with a 10-character "
				    "NAME: mend or remove the line (it only serves requests for ended sessions)", path, lineno);
		}
		if (*n == DD_STREAM_PAST_MAX) { /* keep the last ones */
			memmove(v, v + 1, (DD_STREAM_PAST_MAX - 1) * sizeof(*v));
			(*n)--;
		}
		v[(*n)++] = p;
	}
	fclose(f);
	return 0;
}

int dd_stream_past_add(const char *dir, const struct dd_stream_past *p, char *err, size_t errlen)
{
	struct dd_stream_past v[DD_STREAM_PAST_MAX + 1];
	unsigned n;
	int rc = dd_stream_past_load(dir, v, &n, err, errlen);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(v[i].session, p->session) == 0)
			return 0;
	v[n++] = *p;
	unsigned from = n > DD_STREAM_PAST_MAX ? n - DD_STREAM_PAST_MAX : 0;
	char text[DD_STREAM_PAST_MAX * 80];
	size_t len = 0;
	for (unsigned i = from; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "session %s base %" PRIu64 " count %" PRIu64 "\n",
					v[i].session, v[i].base, v[i].count);
	return save_whole(dir, "sessions", text, len, err, errlen);
}
