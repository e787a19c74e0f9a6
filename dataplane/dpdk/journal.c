/* SPDX-License-Identifier: MIT */
#include "dataplane/dpdk/journal.h"

#include "ops/fraud/rules.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_pause.h>

#include "dataplane/dpdk/outtx.h"
#include "dataplane/dpdk/ringcopy.h"
#include "dataplane/journal/recovery.h"
#include "dataplane/out/outhist.h"

/*
 * Staging buffer: segment offset o lives at buf[o % STAGE]; STAGE is a power of two and a multiple
 * of the page. A record is always written contiguously at buf[o % STAGE], running into an overflow
 * area past the end when it straddles it, and the overflow is then copied to the front: records
 * never need to be split. Bytes from the start of the page holding `committed` (the partial page a
 * commit rewrites) up to `append` are live and must not be overwritten, so append - that page
 * start stays below STAGE - PAGE.
 */
#define STAGE (8u << 20)
#define PAGE DD_J_PAGE
#define OUTBUF (256u << 10)     /* one half of the output (JSON lines) double buffer */
#define RELQ (1u << 16)         /* outputs waiting for durability */
#define GROUPS (1u << 16)       /* runs of records sharing an append time, waiting for durability */
/* The largest record a producer item can make. */
#define MAX_ITEM_REC dd_jrec_size(sizeof(((struct dd_jitem *)0)->payload))
/* The config record a start appends first is larger than an item's. */
#define CONFIG_REC dd_jrec_size(sizeof(struct dd_jconfig))
/* ... followed by the rules' records */
#define RULES_RECS(n) ((((n) + DD_JRULES_CHUNK - 1) / DD_JRULES_CHUNK) * DD_J_MAX_REC)

/* user_data tags of the SQEs */
enum { U_WRITE = 1, U_SYNC, U_HDR, U_HDR_SYNC, U_RENAME, U_DIR_SYNC, U_CLOSE, U_OUT };

struct relitem {
	uint64_t lsn;
	struct dd_output o;
};

struct group {
	uint64_t last_lsn;
	uint64_t tsc;
	uint32_t n;
};

struct dd_journal {
	/* parameters */
	enum dd_jsync sync;
	enum dd_release release;
	uint64_t commit_tsc, stall_tsc, commit_bytes, seg_size;
	bool idle_yield;             /* journal.idle = yield */
	uint64_t tsc_hz;
	uint32_t nshards, nfeeds;
	struct dd_jconfig config;
	const char *rules;           /* the rule text journaled after the config (the caller's, kept) */
	uint32_t rules_len, rules_chain;
	const char *mrules;          /* the market rules' text, after them (the caller's, kept) */
	uint32_t mrules_len;
	char dir[DD_PATH_MAX];
	char instance[DD_INSTANCE_MAX];
	int dir_fd;
	/* producers */
	unsigned nrings;
	struct rte_ring *rings[DD_JOURNAL_MAX_PRODUCERS];
	/* per ring: items dequeued but not yet journaled (an output waits for its input) */
	struct dd_jitem (*held)[DD_JOURNAL_BURST];
	unsigned held_n[DD_JOURNAL_MAX_PRODUCERS], held_i[DD_JOURNAL_MAX_PRODUCERS];
	/* framing: the shifts that join a header's CRC register to a producer's payload register,
	 * for the payloads producers hand over (event, output, feed position), and the one that
	 * patches an output's register when its cause is rewritten */
	struct dd_crc_shift *shift;  /* SHIFT_* */
	/* inputs: position in the run's input stream → LSN, for the last isn_mask + 1 of them */
	uint64_t isn_next;           /* position of the next input to append */
	uint64_t *isn_lsn;
	uint64_t isn_mask;
	/* io_uring */
	struct io_uring ring;
	bool ring_ok;
	unsigned cqe_pending;        /* SQEs submitted and not yet completed */
	/* current segment */
	int fd;
	uint64_t seg_first_lsn, seg_index;
	uint64_t append;             /* segment offset of the next record */
	uint64_t committed;          /* data end covered by the last completed commit */
	uint64_t uncommitted_tsc;    /* when the oldest record not yet in a commit was appended (0: none) */
	uint8_t *buf;                /* STAGE + DD_J_MAX_REC bytes, page aligned */
	/* the commit in flight */
	bool inflight;
	uint64_t c_end, c_last_lsn;
	size_t c_len;                /* bytes the write must complete */
	unsigned c_wait;             /* completions still expected */
	struct iovec iov[3];
	uint8_t *bounce;             /* the partial last page, copied: the staging page keeps changing */
	/* LSNs */
	uint64_t next_lsn;
	_Atomic uint64_t durable;    /* read by the control thread (acquire) */
	/* rotation */
	enum { ROT_NONE, ROT_PAD_COMMIT, ROT_WAIT_SPARE, ROT_SWITCHING } rot;
	uint8_t *hdr_page;
	char next_path[DD_PATH_MAX + 32];
	uint64_t rot_since;          /* TSC when the rotation started waiting */
	/* the spare segment, prepared by the control thread */
	_Atomic int spare_ready;     /* 1: spare_fd is ready (release by the control thread) */
	int spare_fd;
	char spare_path[DD_PATH_MAX + 32];
	int old_fd;                  /* the segment being closed after a rotation */
	/* latency: runs of records with one append time */
	struct group *groups;
	uint64_t g_head, g_tail;
	/* release */
	int out_fd;
	uint64_t out_off;
	uint8_t *outbuf[2];
	size_t outlen[2];
	uint64_t outlines[2];        /* lines in each half: released (counted) once their write completes */
	unsigned outcur;             /* the half being filled */
	bool out_inflight;
	struct relitem *relq;
	uint64_t r_head, r_tail;
	uint64_t released_lsn;
	uint64_t out_records;        /* OUTPUT records in the journal (the next segment header's outputs_before) */
	/* the output stream */
	struct dd_outhist *ohist;
	struct dd_outtx *tx;
	_Atomic uint64_t rel_seq;    /* the session's number of the last output released */
	/* telemetry */
	struct dd_tm_slot *slot;
	struct dd_hdr *hist;
	struct dd_hdr *rel_hist;     /* "release": RX time of an output's cause → the output leaves */
	struct dd_tsc_conv conv;
	uint64_t next_publish;
	/* outcome */
	struct dd_journal_stats st;
	_Atomic int failed;
	int fail_rc;                 /* -errno of the first failed write (set with error; settle() returns it) */
	char error[512];
};

static void set_error(struct dd_journal *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct dd_journal *j, const char *fmt, ...)
{
	if (atomic_load_explicit(&j->failed, memory_order_relaxed))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	/* pairs with the acquire load in dd_journal_error() */
	atomic_store_explicit(&j->failed, 1, memory_order_release);
}

const char *dd_journal_error(const struct dd_journal *j)
{
	return atomic_load_explicit(&j->failed, memory_order_acquire) ? j->error : NULL;
}

uint64_t dd_journal_durable_lsn(const struct dd_journal *j)
{
	/* pairs with the release store when a commit completes */
	return atomic_load_explicit(&j->durable, memory_order_acquire);
}

const struct dd_journal_stats *dd_journal_stats(const struct dd_journal *j)
{
	return &j->st;
}

struct rte_ring *dd_journal_ring(struct dd_journal *j, unsigned i)
{
	return i < j->nrings ? j->rings[i] : NULL;
}

void dd_journal_bind_release(struct dd_journal *j, struct dd_hdr *hist)
{
	j->rel_hist = hist;
}

void dd_journal_bind_tm(struct dd_journal *j, struct dd_tm_slot *slot, struct dd_hdr *hist,
			const struct dd_tsc_conv *conv)
{
	j->slot = slot;
	j->hist = hist;
	j->conv = *conv;
}

unsigned dd_journal_push(struct rte_ring *r, const struct dd_jitem *it, unsigned n, uint64_t stall_tsc)
{
	unsigned done = dd_ring_enqueue_copy(r, it, sizeof(*it), n);
	if (done == n)
		return n;
	uint64_t deadline = rte_rdtsc() + stall_tsc;
	while (done < n) {
		rte_pause();
		done += dd_ring_enqueue_copy(r, it + done, sizeof(*it), n - done);
		if (done < n && rte_rdtsc() > deadline)
			return 0;
	}
	return n;
}

/* ---- the output file (released outputs, JSON lines) --------------------------------------------- */

static void out_line(struct dd_journal *j, uint64_t lsn, const struct dd_output *o)
{
	if (j->rel_hist != NULL && o->rx_tsc != 0) {
		uint64_t now = rte_rdtsc();
		if (now > o->rx_tsc) /* a recovered output's cause may come from before a reboot */
			dd_hdr_record(j->rel_hist, dd_tsc_to_ns(&j->conv, now - o->rx_tsc));
	}
	if (j->ohist != NULL) {
		uint64_t n = atomic_load_explicit(&j->rel_seq, memory_order_relaxed) + 1;
		dd_outhist_put(j->ohist, n, lsn, o);
		atomic_store_explicit(&j->rel_seq, n, memory_order_release);
	}
	if (j->tx != NULL)
		dd_outtx_add(j->tx, lsn, o, 0);
	if (j->out_fd < 0) {
		j->st.released++;
		j->released_lsn = lsn;
		return;
	}
	uint8_t *b = j->outbuf[j->outcur];
	size_t room = OUTBUF - j->outlen[j->outcur];
	int n = dd_output_json((char *)b + j->outlen[j->outcur], room, lsn, o); /* out_room: it fits */
	j->outlen[j->outcur] += (size_t)n;
	j->outlines[j->outcur]++;
	j->released_lsn = lsn;
}

/* Room for one more line in the half being filled? */
static inline bool out_room(const struct dd_journal *j)
{
	return j->out_fd < 0 || OUTBUF - j->outlen[j->outcur] >= DD_OUTPUT_JSON_MAX;
}

/* Write the filled half if no output write is in flight. */
static void out_flush(struct dd_journal *j)
{
	if (j->out_fd < 0 || j->out_inflight || j->outlen[j->outcur] == 0)
		return;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->ring);
	if (sqe == NULL)
		return;
	unsigned h = j->outcur;
	io_uring_prep_write(sqe, j->out_fd, j->outbuf[h], (unsigned)j->outlen[h], j->out_off);
	io_uring_sqe_set_data64(sqe, U_OUT);
	j->out_inflight = true;
	j->cqe_pending++;
	j->outcur ^= 1;
	j->outlen[j->outcur] = 0;
}

/* Release outputs whose records are durable, in LSN order, while the output buffer has room. */
static void release_durable(struct dd_journal *j, uint64_t durable)
{
	while (j->r_head != j->r_tail && j->relq[j->r_head % RELQ].lsn <= durable && out_room(j)) {
		struct relitem *ri = &j->relq[j->r_head % RELQ];
		out_line(j, ri->lsn, &ri->o);
		j->r_head++;
	}
}

/* ---- records into the staging buffer ------------------------------------------------------------ */

static inline size_t stage_free(const struct dd_journal *j)
{
	uint64_t live_from = j->committed & ~(uint64_t)(PAGE - 1);
	return STAGE - PAGE - (size_t)(j->append - live_from);
}

/* Copy a record written past the end of the staging ring to its front. */
static inline void wrap_fix(struct dd_journal *j, uint64_t at, size_t len)
{
	size_t pos = (size_t)(at % STAGE);
	if (pos + len > STAGE)
		memcpy(j->buf, j->buf + STAGE, pos + len - STAGE);
}

static void add_group(struct dd_journal *j, uint64_t tsc)
{
	if (j->g_tail != j->g_head) {
		struct group *g = &j->groups[(j->g_tail - 1) % GROUPS];
		if (g->tsc == tsc) {
			g->last_lsn = j->next_lsn - 1;
			g->n++;
			return;
		}
	}
	if (j->g_tail - j->g_head == GROUPS) {
		/* full: fold into the newest, counted with its (later) append time: a lower bound */
		struct group *g = &j->groups[(j->g_tail - 1) % GROUPS];
		g->last_lsn = j->next_lsn - 1;
		g->n++;
		return;
	}
	j->groups[j->g_tail++ % GROUPS] = (struct group){ j->next_lsn - 1, tsc, 1 };
}

/*
 * Zero the ring bytes of segment offsets [from, to). The ring is reused: bytes past the data hold
 * whatever an earlier stretch of the segment left there, and what reaches the disk past the data
 * must be zeros (the body of a PAD record, whose CRC counts zeros; the rest of a partial page).
 */
static void stage_zero(struct dd_journal *j, uint64_t from, uint64_t to)
{
	while (from < to) {
		size_t a = (size_t)(from % STAGE), n = (size_t)(to - from);
		if (a + n > STAGE)
			n = STAGE - a;
		memset(j->buf + a, 0, n);
		from += n;
	}
}

/* Fill the rest of the segment with a PAD (when its header fits) and start rotating. */
static void start_rotation(struct dd_journal *j)
{
	/* the PAD's body (or a tail too short for one) goes to disk from the ring: zeros, not stale bytes */
	stage_zero(j, j->append, j->seg_size);
	if (j->seg_size - j->append >= DD_J_REC_HDR) {
		uint64_t at = j->append;
		if (j->sync != DD_JSYNC_OFF) {
			dd_jrec_put_pad(j->buf + at % STAGE, j->next_lsn, (uint32_t)(j->seg_size - at));
			wrap_fix(j, at, DD_J_REC_HDR);
		}
		j->next_lsn++;
		j->st.records++;
		if (j->uncommitted_tsc == 0)
			j->uncommitted_tsc = rte_rdtsc();
	}
	j->append = j->seg_size;
	j->rot = ROT_PAD_COMMIT;
}

enum { SHIFT_EVENT, SHIFT_OUTPUT, SHIFT_FEEDPOS, SHIFT_CAUSE, SHIFT__COUNT };

/* The shift over the bytes of a payload of `n` bytes and its padding, NULL if none is kept. */
static inline const struct dd_crc_shift *payload_shift(const struct dd_journal *j, size_t n)
{
	uint64_t p = dd_jrec_size(n) - DD_J_REC_HDR;
	for (unsigned k = SHIFT_EVENT; k <= SHIFT_FEEDPOS; k++)
		if (j->shift[k].n == p)
			return &j->shift[k];
	return NULL;
}

/* Append one item as a record; the caller made sure it fits the segment and the staging buffer. */
static void append_item(struct dd_journal *j, const struct dd_jitem *it, uint64_t now)
{
	size_t len = dd_jrec_size(it->len);
	uint64_t at = j->append;
	if (j->sync != DD_JSYNC_OFF) {
		const struct dd_crc_shift *over = it->flags & DD_JITEM_CRC ? payload_shift(j, it->len) : NULL;
		if (over != NULL)
			dd_jrec_put_crc(j->buf + at % STAGE, it->type, it->source, it->partition, j->next_lsn, it->payload,
					it->len, it->crc, over);
		else
			dd_jrec_put(j->buf + at % STAGE, it->type, it->source, it->partition, j->next_lsn, it->payload,
				    it->len);
		wrap_fix(j, at, len);
	}
	uint64_t lsn = j->next_lsn++;
	j->append += len;
	j->st.records++;
	j->st.bytes += len;
	if (j->uncommitted_tsc == 0)
		j->uncommitted_tsc = now;
	add_group(j, it->tsc);
	if (it->type == DD_JREC_OUTPUT) {
		j->out_records++;
		struct dd_output o;
		memcpy(&o, it->payload, sizeof(o));
		if (j->release == DD_RELEASE_IMMEDIATE || j->sync == DD_JSYNC_OFF)
			out_line(j, lsn, &o);
		else
			j->relq[j->r_tail++ % RELQ] = (struct relitem){ lsn, o };
	}
}

/* ---- commits -------------------------------------------------------------------------------------- */

static struct io_uring_sqe *sqe_or_fail(struct dd_journal *j)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->ring);
	if (sqe == NULL)
		set_error(j, "journal: io_uring submission queue full");
	return sqe;
}

/* Write [page of committed, append) — full pages from the ring, the partial last one from a copy. */
static void submit_commit(struct dd_journal *j)
{
	uint64_t from = j->committed & ~(uint64_t)(PAGE - 1);
	uint64_t full_end = j->append & ~(uint64_t)(PAGE - 1);
	unsigned n = 0;
	if (full_end > from) {
		size_t a = (size_t)(from % STAGE), len = (size_t)(full_end - from);
		if (a + len <= STAGE) {
			j->iov[n++] = (struct iovec){ j->buf + a, len };
		} else {
			j->iov[n++] = (struct iovec){ j->buf + a, STAGE - a };
			j->iov[n++] = (struct iovec){ j->buf, len - (STAGE - a) };
		}
	}
	if (j->append > full_end) {
		size_t a = (size_t)(full_end % STAGE);
		size_t used = (size_t)(j->append - full_end);
		memcpy(j->bounce, j->buf + a, used);
		memset(j->bounce + used, 0, PAGE - used); /* the ring past append holds stale bytes */
		j->iov[n++] = (struct iovec){ j->bounce, PAGE };
	}
	j->c_end = j->append;
	j->c_last_lsn = j->next_lsn - 1;
	j->inflight = true;
	j->st.commits++;
	uint64_t bytes = j->append - from;
	if (bytes > j->st.commit_bytes_max)
		j->st.commit_bytes_max = bytes;
	j->uncommitted_tsc = 0;
	if (j->sync == DD_JSYNC_OFF || n == 0) {
		j->c_wait = 0; /* completes at once */
		return;
	}
	struct io_uring_sqe *w = sqe_or_fail(j);
	if (w == NULL)
		return;
	j->c_len = 0;
	for (unsigned i = 0; i < n; i++)
		j->c_len += j->iov[i].iov_len;
	io_uring_prep_writev(w, j->fd, j->iov, n, from);
	io_uring_sqe_set_data64(w, U_WRITE);
	j->cqe_pending++;
	j->c_wait = 1;
	if (j->sync == DD_JSYNC_GROUP) {
		w->flags |= IOSQE_IO_LINK; /* the sync runs only after the write succeeded */
		struct io_uring_sqe *s = sqe_or_fail(j);
		if (s == NULL)
			return;
		io_uring_prep_fsync(s, j->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(s, U_SYNC);
		j->cqe_pending++;
		j->c_wait = 2;
	}
}

/* A commit finished: advance the durable LSN, release, record latency. */
static void commit_done(struct dd_journal *j, uint64_t now)
{
	j->inflight = false;
	j->committed = j->c_end;
	/* pairs with the acquire loads of the control thread (snapshots, exit report) */
	atomic_store_explicit(&j->durable, j->c_last_lsn, memory_order_release);
	while (j->g_head != j->g_tail && j->groups[j->g_head % GROUPS].last_lsn <= j->c_last_lsn) {
		struct group *g = &j->groups[j->g_head++ % GROUPS];
		if (j->hist != NULL)
			dd_hdr_record_n(j->hist, dd_tsc_to_ns(&j->conv, now > g->tsc ? now - g->tsc : 0), g->n);
	}
	release_durable(j, j->c_last_lsn);
}

/* ---- rotation ------------------------------------------------------------------------------------- */

/* The old segment's data is committed: put the spare in place under its final name. */
static void start_switch(struct dd_journal *j)
{
	if (j->sync == DD_JSYNC_OFF) { /* nothing on disk: the next segment is as virtual as this one */
		j->rot = ROT_SWITCHING;
		j->c_wait = 0;
		return;
	}
	/* pairs with the control thread's release store when it prepared the spare */
	if (!atomic_load_explicit(&j->spare_ready, memory_order_acquire))
		return; /* not yet: rot stays ROT_WAIT_SPARE; the stall timer runs */
	struct dd_jseg_header *h = (struct dd_jseg_header *)(void *)j->hdr_page;
	memset(j->hdr_page, 0, PAGE);
	dd_jseg_header_init(h, j->seg_size, j->next_lsn, j->seg_index + 1, j->tsc_hz, j->instance);
	dd_jseg_header_set_layout(h, j->nshards, j->nfeeds);
	dd_jseg_header_set_outputs(h, j->out_records);
	dd_jseg_path(j->next_path, sizeof(j->next_path), j->dir, j->next_lsn);
	/* header, its sync, the rename into place, the directory's sync: one linked chain */
	struct io_uring_sqe *s;
	if ((s = sqe_or_fail(j)) == NULL)
		return;
	io_uring_prep_write(s, j->spare_fd, j->hdr_page, PAGE, 0);
	io_uring_sqe_set_data64(s, U_HDR);
	s->flags |= IOSQE_IO_LINK;
	if ((s = sqe_or_fail(j)) == NULL)
		return;
	io_uring_prep_fsync(s, j->spare_fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(s, U_HDR_SYNC);
	s->flags |= IOSQE_IO_LINK;
	if ((s = sqe_or_fail(j)) == NULL)
		return;
	io_uring_prep_renameat(s, AT_FDCWD, j->spare_path, AT_FDCWD, j->next_path, 0);
	io_uring_sqe_set_data64(s, U_RENAME);
	s->flags |= IOSQE_IO_LINK;
	if ((s = sqe_or_fail(j)) == NULL)
		return;
	io_uring_prep_fsync(s, j->dir_fd, 0);
	io_uring_sqe_set_data64(s, U_DIR_SYNC);
	j->cqe_pending += 4;
	j->c_wait = 4;
	j->rot = ROT_SWITCHING;
}

static void finish_switch(struct dd_journal *j)
{
	j->old_fd = j->fd;
	j->seg_first_lsn = j->next_lsn;
	/* before the release store below: the control thread names the next spare after seg_index */
	j->seg_index++;
	if (j->sync != DD_JSYNC_OFF) {
		j->fd = j->spare_fd;
		j->spare_fd = -1;
		/* hands the spare slot back to the control thread (its acquire load), seg_index with it */
		atomic_store_explicit(&j->spare_ready, 0, memory_order_release);
	}
	j->append = j->committed = PAGE;
	j->rot = ROT_NONE;
	j->st.segments++;
	if (j->old_fd >= 0 && j->sync != DD_JSYNC_OFF) {
		struct io_uring_sqe *s = io_uring_get_sqe(&j->ring);
		if (s != NULL) {
			io_uring_prep_close(s, j->old_fd);
			io_uring_sqe_set_data64(s, U_CLOSE);
			j->cqe_pending++;
		}
	}
	j->old_fd = -1;
}

/* ---- completions ---------------------------------------------------------------------------------- */

static void reap(struct dd_journal *j, uint64_t now)
{
	struct io_uring_cqe *cqe;
	while (j->cqe_pending > 0 && io_uring_peek_cqe(&j->ring, &cqe) == 0) {
		uint64_t tag = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&j->ring, cqe);
		j->cqe_pending--;
		if (res < 0 && tag != U_CLOSE) {
			j->st.write_errors++;
			if (dd_journal_error(j) == NULL)
				j->fail_rc = res;
			set_error(j, "journal %s failed in %s at segment LSN %llu: %s; input stopped, durable LSN %llu kept",
				  tag == U_OUT ? "output write" : tag <= U_SYNC ? "commit" : "segment rotation",
				  tag == U_OUT ? "the output file" : j->dir, (unsigned long long)j->seg_first_lsn,
				  strerror(-res), (unsigned long long)dd_journal_durable_lsn(j));
		}
		if (tag == U_WRITE && res >= 0 && (size_t)res != j->c_len) {
			/* a regular file writes short only when the disk is full (the linked sync is then
			 * cancelled; without one, this is the only sign) */
			j->st.write_errors++;
			if (dd_journal_error(j) == NULL)
				j->fail_rc = -EIO;
			set_error(j, "journal commit wrote %d of %zu bytes in %s (disk full?); input stopped, durable LSN "
				  "%llu kept", res, j->c_len, j->dir, (unsigned long long)dd_journal_durable_lsn(j));
			res = -EIO;
		}
		switch (tag) {
		case U_WRITE:
		case U_SYNC:
			if (--j->c_wait == 0 && res >= 0 && j->inflight)
				commit_done(j, now);
			break;
		case U_HDR:
		case U_HDR_SYNC:
		case U_RENAME:
		case U_DIR_SYNC:
			if (--j->c_wait == 0 && res >= 0 && j->rot == ROT_SWITCHING)
				finish_switch(j);
			break;
		case U_OUT:
			if (res >= 0) {
				j->out_off += (uint64_t)res;
				/* short writes on a regular file mean the disk is full */
				if ((size_t)res != j->outlen[j->outcur ^ 1])
					set_error(j, "output file: short write (%d of %zu bytes): disk full?", res,
						  j->outlen[j->outcur ^ 1]);
				else /* released: the lines are in the file */
					j->st.released += j->outlines[j->outcur ^ 1];
			}
			if (res < 0 || (size_t)res != j->outlen[j->outcur ^ 1])
				j->st.unwritten += j->outlines[j->outcur ^ 1];
			j->outlen[j->outcur ^ 1] = 0;
			j->outlines[j->outcur ^ 1] = 0;
			j->out_inflight = false;
			break;
		default:
			break;
		}
	}
}

/* ---- the lcore loop ------------------------------------------------------------------------------- */

static void publish(struct dd_journal *j, uint64_t now)
{
	j->next_publish = now + j->tsc_hz / 1000;
	if (j->slot == NULL)
		return;
	dd_tm_set(dd_tm_counter(j->slot, DD_TM_C_EVENTS), j->st.records);
	dd_tm_set(dd_tm_counter(j->slot, DD_TM_C_BYTES), j->st.bytes);
	dd_tm_set(dd_tm_counter(j->slot, DD_TM_C_JRN_COMMITS), j->st.commits);
	dd_tm_set(dd_tm_counter(j->slot, DD_TM_C_JRN_LSN_WRITTEN), j->next_lsn - 1);
	dd_tm_set(dd_tm_counter(j->slot, DD_TM_C_JRN_LSN_DURABLE), dd_journal_durable_lsn(j));
	dd_tm_set(dd_tm_counter(j->slot, DD_TM_C_JRN_RELEASED), j->st.released);
	dd_tm_set(&j->slot->publish_tsc, now);
}


/*
 * An output may be journaled only after the input that caused it: in the staged pipeline outputs
 * come from the workers' rings and inputs from the RX lcore's, and a worker can be faster than the
 * journal reading the RX ring. The cause is the input's position in the run's input stream, which
 * only grows: right across a MoldUDP64 session change or a looped capture starting over.
 */
static inline bool may_append(const struct dd_journal *j, const struct dd_jitem *it)
{
	if (it->type != DD_JREC_OUTPUT || (it->flags & DD_JITEM_CAUSE_LSN))
		return true;
	const struct dd_output *o = (const struct dd_output *)(const void *)it->payload;
	return o->cause < j->isn_next;
}

/* Inputs are numbered as they are appended; an output's cause becomes the LSN of its input. */
static inline void note_item(struct dd_journal *j, struct dd_jitem *it, unsigned ring)
{
	if (it->type == DD_JREC_EVENT && ring == 0) {
		j->isn_lsn[j->isn_next++ & j->isn_mask] = j->next_lsn;
	} else if (it->type == DD_JREC_OUTPUT && !(it->flags & DD_JITEM_CAUSE_LSN)) {
		struct dd_output *o = (struct dd_output *)(void *)it->payload;
		uint64_t was = o->cause;
		if (j->isn_next - o->cause <= j->isn_mask + 1) {
			o->cause = j->isn_lsn[o->cause & j->isn_mask];
		} else {
			o->cause = 0;
			j->st.cause_lost++;
		}
		if ((it->flags & DD_JITEM_CRC) && it->len == sizeof(*o))
			it->crc = dd_jrec_crc_patch(it->crc, was, o->cause, &j->shift[SHIFT_CAUSE]);
	}
}

/*
 * Take records from the producers, no more than surely fit the staging buffer, the release queue
 * and the segment (so a burst is never split by a rotation). Returns how many.
 */
static unsigned take(struct dd_journal *j, uint64_t now)
{
	unsigned total = 0;
	for (unsigned r = 0; r < j->nrings && j->rot == ROT_NONE; r++) {
		if (j->seg_size - j->append < MAX_ITEM_REC) {
			start_rotation(j);
			break;
		}
		uint64_t room = stage_free(j) / MAX_ITEM_REC;
		uint64_t seg_room = (j->seg_size - j->append) / MAX_ITEM_REC;
		uint64_t rel_room = RELQ - (j->r_tail - j->r_head);
		/* outputs released as they are appended write their lines now: each needs a line's room */
		uint64_t out_lines = j->out_fd < 0 ? UINT64_MAX : (OUTBUF - j->outlen[j->outcur]) / DD_OUTPUT_JSON_MAX;
		if (seg_room < room)
			room = seg_room;
		if (rel_room < room)
			room = rel_room;
		if ((j->release == DD_RELEASE_IMMEDIATE || j->sync == DD_JSYNC_OFF) && out_lines < room)
			room = out_lines;
		if (room == 0) {
			j->st.stalls++;
			break;
		}
		struct dd_jitem *h = j->held[r];
		if (j->held_i[r] == j->held_n[r]) {
			j->held_i[r] = 0;
			j->held_n[r] = dd_ring_dequeue_copy(j->rings[r], h, sizeof(h[0]),
							   room < DD_JOURNAL_BURST ? (unsigned)room : DD_JOURNAL_BURST, NULL);
		}
		while (room > 0 && j->held_i[r] < j->held_n[r] && may_append(j, &h[j->held_i[r]])) {
			note_item(j, &h[j->held_i[r]], r);
			append_item(j, &h[j->held_i[r]++], now);
			room--;
			total++;
		}
	}
	return total;
}

static bool nothing_held(const struct dd_journal *j)
{
	for (unsigned r = 0; r < j->nrings; r++)
		if (j->held_i[r] != j->held_n[r])
			return false;
	return true;
}

/*
 * Every producer has finished and no input is left anywhere: outputs still waiting for their
 * cause wait for an input that the RX lcore never handed over (it stopped taking input when the
 * journal stalled). They were never journaled or released; count them and let the stage finish,
 * instead of waiting for ever.
 */
static void drop_orphans(struct dd_journal *j)
{
	if (j->held_i[0] != j->held_n[0] || !rte_ring_empty(j->rings[0]))
		return;
	for (unsigned r = 1; r < j->nrings; r++) {
		if (j->held_i[r] < j->held_n[r] && !may_append(j, &j->held[r][j->held_i[r]])) {
			j->st.orphaned += j->held_n[r] - j->held_i[r];
			j->held_i[r] = j->held_n[r];
			struct dd_jitem *h = j->held[r];
			unsigned n;
			while ((n = dd_ring_dequeue_copy(j->rings[r], h, sizeof(h[0]), DD_JOURNAL_BURST, NULL)) > 0)
				j->st.orphaned += n;
		}
	}
}

/* One record a start writes before any input (its config, its rules), straight into the stage. */
static void append_start_rec(struct dd_journal *j, uint16_t type, const void *p, size_t n)
{
	uint8_t rec[DD_J_MAX_REC];
	size_t len = dd_jrec_size(n);
	uint64_t at = j->append;
	if (j->sync != DD_JSYNC_OFF) {
		dd_jrec_put(rec, type, 0, 0, j->next_lsn, p, n);
		/* a record is written contiguously at its ring position (the overflow area takes the rest) */
		memcpy(j->buf + at % STAGE, rec, len);
		wrap_fix(j, at, len);
	}
	j->next_lsn++;
	j->append += len;
	j->st.records++;
	j->st.bytes += len;
	if (j->uncommitted_tsc == 0)
		j->uncommitted_tsc = rte_rdtsc();
}

/* One rule text in chunks (replay compiles it from them), for chain `chain`. */
static void append_rules(struct dd_journal *j, const char *text, uint32_t len, uint32_t chain)
{
	uint32_t nchunks = (uint32_t)((len + DD_JRULES_CHUNK - 1) / DD_JRULES_CHUNK);
	uint32_t hash = dd_frules_text_hash(text, len);
	for (uint32_t i = 0; i < nchunks; i++) {
		uint8_t p[sizeof(struct dd_jrules) + DD_JRULES_CHUNK];
		uint32_t off = i * (uint32_t)DD_JRULES_CHUNK, n = len - off;
		if (n > DD_JRULES_CHUNK)
			n = (uint32_t)DD_JRULES_CHUNK;
		struct dd_jrules h = { .chunk = i, .nchunks = nchunks, .total_len = len, .text_hash = hash,
				       .chain = chain, .len = n };
		memcpy(p, &h, sizeof(h));
		memcpy(p + sizeof(h), text + off, n);
		append_start_rec(j, DD_JREC_RULES, p, sizeof(h) + n);
	}
}

/* The configuration, then the payment chain's rule text and the market rules' text. */
static void append_config(struct dd_journal *j)
{
	append_start_rec(j, DD_JREC_CONFIG, &j->config, sizeof(j->config));
	append_rules(j, j->rules, j->rules_len, j->rules_chain);
	append_rules(j, j->mrules, j->mrules_len, DD_JRULES_MARKET);
}

void dd_journal_bind_stream(struct dd_journal *j, struct dd_outhist *hist, struct dd_outtx *tx, uint64_t first_seq)
{
	j->ohist = hist;
	j->tx = tx;
	atomic_store_explicit(&j->rel_seq, first_seq - 1, memory_order_release);
}

uint64_t dd_journal_released_seq(const struct dd_journal *j)
{
	return atomic_load_explicit(&j->rel_seq, memory_order_acquire);
}

/*
 * One turn of the journal's work but taking records: commit (when enough waits, or long enough, or
 * a rotation needs it, or `flush`: whatever waits), finish a commit, move a rotation on, release
 * what is durable, write the output file, reap completions. The lcore loop runs it every turn; a
 * start runs it through settle(), before the lcores exist.
 */
static void progress(struct dd_journal *j, uint64_t now, bool flush)
{
	bool failed = dd_journal_error(j) != NULL;
	bool want = j->append > j->committed &&
		    (flush || j->append - j->committed >= j->commit_bytes || j->rot == ROT_PAD_COMMIT ||
		     (j->uncommitted_tsc != 0 && now - j->uncommitted_tsc >= j->commit_tsc));
	if (!j->inflight && !failed && want)
		submit_commit(j);
	if (j->inflight && j->c_wait == 0)
		commit_done(j, now);
	if (j->rot == ROT_PAD_COMMIT && !j->inflight && j->committed == j->append) {
		j->rot = ROT_WAIT_SPARE;
		j->rot_since = now;
	}
	if (j->rot == ROT_WAIT_SPARE && !failed) {
		start_switch(j);
		if (j->rot == ROT_WAIT_SPARE && now - j->rot_since > j->stall_tsc)
			set_error(j, "journal: no preallocated segment after %llu ms (is %s full?); input stopped, "
				  "durable LSN %llu kept", (unsigned long long)((now - j->rot_since) * 1000 / j->tsc_hz),
				  j->dir, (unsigned long long)dd_journal_durable_lsn(j));
	}
	if (j->rot == ROT_SWITCHING && j->c_wait == 0 && j->sync == DD_JSYNC_OFF)
		finish_switch(j);
	/* release what is durable while the output buffer has room (it frees as writes complete) */
	release_durable(j, j->sync == DD_JSYNC_OFF ? j->next_lsn - 1 : dd_journal_durable_lsn(j));
	out_flush(j);
	if (j->tx != NULL)
		dd_outtx_poll(j->tx, now);
	if (io_uring_sq_ready(&j->ring) > 0)
		io_uring_submit(&j->ring);
	reap(j, rte_rdtsc());
}

/*
 * At start, before any lcore runs (the caller is the thread that later becomes the control thread,
 * so it may block): commit everything staged, finish a rotation under way, release what that made
 * durable and write it out, waiting for io_uring, until nothing is left in flight. The spare segment
 * a rotation waits for is prepared here, by dd_journal_tend(), as the control thread prepares it
 * (the next one is left to the control thread: a disk too full for it stops nothing yet). Returns
 * 0, or -errno with the cause in err.
 */
static int settle(struct dd_journal *j, char *err, size_t errlen)
{
	for (;;) {
		int rc = j->rot != ROT_NONE ? dd_journal_tend(j, err, errlen) : 0;
		if (rc != 0)
			return rc;
		progress(j, rte_rdtsc(), true);
		if (dd_journal_error(j) != NULL) {
			snprintf(err, errlen, "%s", j->error);
			return j->fail_rc != 0 ? j->fail_rc : -EIO;
		}
		if (j->rot == ROT_NONE && !j->inflight && j->append == j->committed && j->r_head == j->r_tail &&
		    !j->out_inflight && j->outlen[j->outcur] == 0 && j->cqe_pending == 0)
			return 0;
		/* submit too: reap() may have queued an SQE after progress() submitted (finish_switch()'s close) */
		if (j->cqe_pending > 0 && (rc = io_uring_submit_and_wait(&j->ring, 1)) < 0 && rc != -EINTR) {
			snprintf(err, errlen, "journal: io_uring_submit_and_wait failed at start: %s", strerror(-rc));
			return rc;
		}
	}
}

/*
 * How many outputs a crash can leave derived but not journaled (the tail) has no bound this stage
 * could size a buffer for. Per worker: the outputs in its journal ring (journal.ring_size - 1, up to
 * 2^24 - 1), the DD_JOURNAL_BURST the journal holds back and its producer buffer, plus those of the
 * inputs journaled but not yet run (the RX lcore journals an input before it stages it): its event
 * ring (ring_size - 1 slots, up to 2^24 - 1), its burst (65) and the RX lcore's flush (DD_RX_RUN,
 * 1,025), each input emitting up to its chain's bound. With the defaults and one worker that is
 * 65,535 + 64 + (16,383 + 65 + 1,025) x outputs per input: more than a 1 MiB segment holds (6,871
 * OUTPUT records of 152 bytes), than the staging buffer ((8 MiB - 4096) / 152 = 55,161) and than
 * the release queue (65,536). (Run to completion hands a flush's inputs and then their outputs to
 * one ring: it can lose one flush's outputs.) So the tail goes in as take() puts records in: a
 * segment that fills rotates (its PAD, the spare, the switch); a staging buffer, release queue or
 * (outputs released as they are appended) output buffer that fills is committed, released and
 * written out first.
 */
int dd_journal_prepend_outputs(struct dd_journal *j, const struct dd_output *o, uint64_t n, char *err,
			       size_t errlen)
{
	bool at_once = j->release == DD_RELEASE_IMMEDIATE || j->sync == DD_JSYNC_OFF;
	int rc = 0;
	uint64_t i;
	for (i = 0; i < n; i++) {
		if (j->seg_size - j->append < MAX_ITEM_REC)
			start_rotation(j);
		if (j->rot != ROT_NONE || stage_free(j) < MAX_ITEM_REC || j->r_tail - j->r_head == RELQ ||
		    (at_once && !out_room(j)))
			rc = settle(j, err, errlen);
		if (rc != 0)
			break;
		struct dd_jitem it = { .type = DD_JREC_OUTPUT, .source = o[i].source, .partition = o[i].key,
				       .len = sizeof(o[i]), .flags = DD_JITEM_CAUSE_LSN, .tsc = rte_rdtsc() };
		memcpy(it.payload, &o[i], sizeof(o[i]));
		append_item(j, &it, it.tsc);
	}
	if (rc == 0)
		rc = settle(j, err, errlen);
	if (rc == 0 && dd_journal_tend(j, err, errlen) != 0)
		err[0] = '\0'; /* the next spare, as at create; a full disk is the control thread's to report */
	if (rc != 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "journal: cannot journal the %llu outputs derived but not journaled before the stop "
			 "(%llu appended, durable up to LSN %llu): %s", (unsigned long long)n, (unsigned long long)i,
			 (unsigned long long)dd_journal_durable_lsn(j), why);
	}
	return rc;
}

int dd_journal_main(void *arg)
{
	struct dd_journal_lcore *L = arg;
	struct dd_journal *j = L->j;
	uint64_t stall_since = 0;
	for (;;) {
		uint64_t now = rte_rdtsc();
		bool failed = dd_journal_error(j) != NULL;
		unsigned took = failed ? 0 : take(j, now);
		if (took == 0 && !failed && j->rot == ROT_NONE && stage_free(j) < dd_jrec_size(64)) {
			if (stall_since == 0)
				stall_since = now;
		} else {
			stall_since = 0;
		}
		bool draining = atomic_load_explicit(L->producers_left, memory_order_acquire) == 0;
		if (draining && took == 0)
			drop_orphans(j);
		progress(j, now, draining);
		if (stall_since != 0 && now - stall_since > j->stall_tsc)
			set_error(j, "journal: the staging buffer stayed full for %llu ms (the disk cannot keep up); input "
				  "stopped, durable LSN %llu kept", (unsigned long long)((now - stall_since) * 1000 / j->tsc_hz),
				  (unsigned long long)dd_journal_durable_lsn(j));
		if (dd_journal_error(j) != NULL)
			/* pairs with the acquire loads of every lcore loop */
			atomic_store_explicit(L->quit, 1, memory_order_release);
		if (now >= j->next_publish)
			publish(j, now);
		/*
		 * journal.idle = yield, and only waiting for the disk: give the CPU away for a moment.
		 * The fdatasync runs on an io_uring worker thread, which the scheduler may wake on this
		 * CPU; a journal lcore that keeps spinning makes it wait for a time slice to end. On
		 * the 2-CPU test machine this was inconclusive (docs/benchmarks.md), hence not the default.
		 */
		if (j->idle_yield && took == 0 && (j->inflight || j->out_inflight))
			sched_yield();
		/* done: producers finished, rings empty, everything committed and written */
		/* (after a failure, a rotation left half way stays so: nothing more is written) */
		if (draining && (j->rot == ROT_NONE || failed) && !j->inflight && (nothing_held(j) || failed) &&
		    (j->append == j->committed || failed) && j->cqe_pending == 0 && !j->out_inflight &&
		    j->outlen[j->outcur] == 0 && (j->r_head == j->r_tail || failed) &&
		    (j->tx == NULL || !dd_outtx_busy(j->tx) || failed)) {
			bool empty = true;
			for (unsigned r = 0; r < j->nrings; r++)
				empty &= rte_ring_empty(j->rings[r]) != 0;
			if (empty || failed)
				break;
		}
	}
	/* a clean stop ends the output stream's session; after a failure it goes on after a restart */
	if (j->tx != NULL && dd_journal_error(j) == NULL)
		dd_outtx_end(j->tx);
	/* outputs never written: still waiting for durability, or in an output buffer a failure left */
	j->st.unreleased = j->r_tail - j->r_head + j->outlines[0] + j->outlines[1] + j->st.unwritten;
	publish(j, rte_rdtsc());
	atomic_fetch_sub_explicit(L->running, 1, memory_order_release);
	return 0;
}

/* ---- setup and the control thread's side ------------------------------------------------------ */

static int open_flags(const struct dd_journal *j)
{
	return O_RDWR | O_CLOEXEC | (j->sync == DD_JSYNC_GROUP ? O_DIRECT : 0);
}

/*
 * A new zero-filled segment file under a temporary name. Zeros are written, not fallocated:
 * ext4 keeps fallocated extents "unwritten", and every commit into one pays a conversion
 * (bench_journal: a 64 KiB O_DIRECT write + fdatasync took 201 µs into a fallocated file, 113 µs
 * into written zeros). Writing them here, on the control thread, also means a full disk shows
 * here and never mid-commit.
 */
static int make_spare(struct dd_journal *j, char *path, size_t plen, int *fdp, char *err, size_t errlen)
{
	snprintf(path, plen, "%s/.spare-%llu.tmp", j->dir, (unsigned long long)(j->seg_index + 1));
	int fd = open(path, O_CREAT | O_TRUNC | open_flags(j), 0640);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "journal: cannot create %s: %s", path, strerror(e));
		return -e;
	}
	int rc = 0;
	const size_t chunk = 1u << 20;
	void *zeros = NULL;
	if (posix_memalign(&zeros, PAGE, chunk) != 0) {
		rc = ENOMEM;
	} else {
		memset(zeros, 0, chunk);
		for (uint64_t off = 0; off < j->seg_size && rc == 0; off += chunk) {
			size_t n = j->seg_size - off < chunk ? (size_t)(j->seg_size - off) : chunk;
			ssize_t w = pwrite(fd, zeros, n, (off_t)off);
			if (w != (ssize_t)n)
				rc = w < 0 ? errno : ENOSPC;
		}
		if (rc == 0 && fdatasync(fd) != 0)
			rc = errno;
		free(zeros);
	}
	if (rc != 0) {
		close(fd);
		unlink(path);
		snprintf(err, errlen, "journal: cannot write %llu MiB of zeros to %s: %s%s",
			 (unsigned long long)(j->seg_size >> 20), path, strerror(rc),
			 rc == ENOSPC ? " (free space, or lower journal.segment_mb)" : "");
		return -rc;
	}
	*fdp = fd;
	return 0;
}

int dd_journal_tend(struct dd_journal *j, char *err, size_t errlen)
{
	if (j->sync == DD_JSYNC_OFF || j->dir[0] == '\0')
		return 0;
	/* pairs with the lcore's release store when it took the spare */
	if (atomic_load_explicit(&j->spare_ready, memory_order_acquire))
		return 0;
	int rc = make_spare(j, j->spare_path, sizeof(j->spare_path), &j->spare_fd, err, errlen);
	if (rc != 0)
		return rc;
	/* pairs with the lcore's acquire load: spare_fd and spare_path are set */
	atomic_store_explicit(&j->spare_ready, 1, memory_order_release);
	return 0;
}

/* The first segment of a new journal, written synchronously at start. */
static int first_segment(struct dd_journal *j, char *err, size_t errlen)
{
	char tmp[DD_PATH_MAX + 32], final[DD_PATH_MAX + 32];
	int fd, rc = make_spare(j, tmp, sizeof(tmp), &fd, err, errlen);
	if (rc != 0)
		return rc;
	memset(j->hdr_page, 0, PAGE);
	struct dd_jseg_header *h = (struct dd_jseg_header *)(void *)j->hdr_page;
	dd_jseg_header_init(h, j->seg_size, j->next_lsn, j->seg_index, j->tsc_hz, j->instance);
	dd_jseg_header_set_layout(h, j->nshards, j->nfeeds);
	dd_jseg_header_set_outputs(h, j->out_records);
	dd_jseg_path(final, sizeof(final), j->dir, j->next_lsn);
	if (pwrite(fd, j->hdr_page, PAGE, 0) != PAGE || fdatasync(fd) != 0 || rename(tmp, final) != 0 ||
	    fsync(j->dir_fd) != 0) {
		rc = -errno;
		snprintf(err, errlen, "journal: cannot create the first segment %s: %s", final, strerror(-rc));
		close(fd);
		unlink(tmp);
		return rc;
	}
	j->fd = fd;
	j->seg_first_lsn = j->next_lsn;
	j->append = j->committed = PAGE;
	j->st.segments++;
	return 0;
}

/*
 * Continue the segment recovery ended in: its partial last page back into the staging buffer. A
 * segment that has no room left for the start's own records (see start_room()) is rotated by the
 * caller, as any full segment is.
 */
static int continue_segment(struct dd_journal *j, const struct dd_journal_start *st, char *err, size_t errlen)
{
	int fd = open(st->segment, open_flags(j));
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "journal: cannot open %s: %s", st->segment, strerror(e));
		return -e;
	}
	/* O_DIRECT reads need aligned buffers: the header through the header page buffer */
	ssize_t n = pread(fd, j->hdr_page, PAGE, 0);
	if (n != PAGE) {
		int e = n < 0 ? errno : EIO;
		snprintf(err, errlen, "journal: cannot read the header of %s: %s", st->segment, strerror(e));
		close(fd);
		return -e;
	}
	struct dd_jseg_header h;
	memcpy(&h, j->hdr_page, sizeof(h));
	j->seg_size = h.segment_size; /* segments keep the size they were created with */
	j->seg_index = h.segment_index;
	/* a segment that ends with its PAD (the crash came before the next one was in place) ends on a
	 * page boundary, at the end of the file: no partial page to read back */
	uint64_t page = st->end_offset & ~(uint64_t)(PAGE - 1);
	if (st->end_offset > page && (n = pread(fd, j->buf + page % STAGE, PAGE, (off_t)page)) != PAGE) {
		int e = n < 0 ? errno : EIO;
		snprintf(err, errlen, "journal: cannot read %s at offset %llu: %s", st->segment,
			 (unsigned long long)page, strerror(e));
		close(fd);
		return -e;
	}
	/* only bytes before end_offset are data (recovery cut the torn tail) */
	memset(j->buf + st->end_offset % STAGE, 0, (size_t)(page + PAGE - st->end_offset));
	j->fd = fd;
	j->seg_first_lsn = h.first_lsn;
	j->append = j->committed = st->end_offset;
	return 0;
}

/*
 * The room a start needs in the segment it continues: its own records (the config, the rules),
 * which go in one segment, and one item more (take() rotates with less). The recovered outputs
 * after them rotate like any record (dd_journal_prepend_outputs()).
 */
static uint64_t start_room(const struct dd_journal *j)
{
	return CONFIG_REC + RULES_RECS(j->rules_len) + RULES_RECS(j->mrules_len) + MAX_ITEM_REC;
}

/* A start that rotates has less than that left: its PAD goes through the staging buffer like any
 * record, from the partial page on (stage_free()). dd_jrec_size() spelled out, as a constant. */
#define REC_SIZE_CONST(n) ((DD_J_REC_HDR + (n) + 7) & ~(size_t)7)
_Static_assert(REC_SIZE_CONST(sizeof(struct dd_jconfig)) + 2 * RULES_RECS(DD_JOURNAL_MAX_RULES) +
			       REC_SIZE_CONST(sizeof(((struct dd_jitem *)0)->payload)) + PAGE <=
		       STAGE - PAGE,
	       "a start's rotation fits the staging buffer");

/* Spare segments a crash left behind were never part of the journal. */
static void remove_stale_spares(struct dd_journal *j)
{
	DIR *d = fdopendir(dup(j->dir_fd));
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".spare-", 7) == 0)
			unlinkat(j->dir_fd, e->d_name, 0);
	closedir(d);
}

uint64_t dd_journal_lag(const struct dd_config *c, unsigned nworkers, unsigned rx_events)
{
	/*
	 * After input i, the RX lcore hands over at most what the worker rings hold (it waits when one
	 * is full) plus a buffer of events before the worker that got i runs it; the worker's output
	 * then waits in its journal ring behind at most ring_size items, while the journal reads at
	 * most that many from the RX ring (it reads every ring in turn, a burst at a time). Doubled
	 * for margin.
	 */
	uint64_t lag = (uint64_t)nworkers * c->ring_size + 2ull * c->jring_size + 4ull * rx_events;
	return 2 * lag;
}

int dd_journal_create(struct dd_journal **out, const struct dd_config *c, unsigned nproducers,
		      const struct dd_jconfig *jc, uint64_t lag, const struct dd_journal_start *st, int socket,
		      char *err, size_t errlen)
{
	if (nproducers == 0 || nproducers > DD_JOURNAL_MAX_PRODUCERS) {
		snprintf(err, errlen, "journal: %u producers", nproducers);
		return -EINVAL;
	}
	struct dd_journal *j = rte_zmalloc_socket("journal", sizeof(*j), 64, socket);
	if (j == NULL) {
		snprintf(err, errlen, "journal: out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	j->fd = j->spare_fd = j->old_fd = j->out_fd = j->dir_fd = -1;
	bool disk = c->journal[0] != '\0';
	j->sync = disk ? c->jsync : DD_JSYNC_OFF;
	j->release = disk ? c->release : DD_RELEASE_IMMEDIATE;
	j->tsc_hz = rte_get_tsc_hz();
	j->commit_tsc = c->jcommit_us * j->tsc_hz / 1000000;
	j->stall_tsc = c->jstall_ms * j->tsc_hz / 1000;
	j->idle_yield = c->jidle == DD_JIDLE_YIELD;
	j->commit_bytes = c->jcommit_bytes;
	j->seg_size = (uint64_t)c->jsegment_mb << 20;
	j->nshards = jc->nshards;
	j->nfeeds = jc->nfeeds;
	j->config = *jc;
	j->rules = st->rules;
	j->rules_len = st->rules != NULL && st->rules_len <= DD_JOURNAL_MAX_RULES ? (uint32_t)st->rules_len : 0;
	j->rules_chain = st->rules_chain;
	j->mrules = st->mrules;
	j->mrules_len = st->mrules != NULL && st->mrules_len <= DD_JOURNAL_MAX_RULES ? (uint32_t)st->mrules_len : 0;
	uint64_t slots = 1;
	while (slots < lag)
		slots <<= 1;
	j->isn_mask = slots - 1;
	snprintf(j->dir, sizeof(j->dir), "%s", c->journal);
	snprintf(j->instance, sizeof(j->instance), "%s", c->instance);
	j->next_lsn = st->next_lsn;
	atomic_store_explicit(&j->durable, st->next_lsn - 1, memory_order_relaxed);
	j->released_lsn = st->released_lsn;
	j->out_records = st->outputs;
	j->buf = rte_zmalloc_socket("journal staging", STAGE + DD_J_MAX_REC, PAGE, socket);
	j->bounce = rte_zmalloc_socket("journal bounce", PAGE, PAGE, socket);
	j->hdr_page = rte_zmalloc_socket("journal header", PAGE, PAGE, socket);
	j->outbuf[0] = rte_malloc_socket("journal output", OUTBUF, 64, socket);
	j->outbuf[1] = rte_malloc_socket("journal output", OUTBUF, 64, socket);
	j->relq = rte_malloc_socket("journal release", RELQ * sizeof(*j->relq), 64, socket);
	j->groups = rte_malloc_socket("journal groups", GROUPS * sizeof(*j->groups), 64, socket);
	j->held = rte_malloc_socket("journal held", nproducers * sizeof(*j->held), 64, socket);
	j->isn_lsn = rte_malloc_socket("journal input positions", slots * sizeof(*j->isn_lsn), 64, socket);
	j->shift = rte_malloc_socket("journal crc shifts", SHIFT__COUNT * sizeof(*j->shift), 64, socket);
	if (!j->buf || !j->bounce || !j->hdr_page || !j->outbuf[0] || !j->outbuf[1] || !j->relq || !j->groups ||
	    !j->held || !j->isn_lsn || !j->shift) {
		snprintf(err, errlen, "journal: cannot allocate %llu MiB of staging memory (raise -m)",
			 (unsigned long long)((STAGE >> 20) + 7 + ((slots * 8) >> 20)));
		rc = -ENOMEM;
		goto err;
	}
	dd_crc_shift_init(&j->shift[SHIFT_EVENT], dd_jrec_size(sizeof(struct dd_event)) - DD_J_REC_HDR);
	dd_crc_shift_init(&j->shift[SHIFT_OUTPUT], dd_jrec_size(sizeof(struct dd_output)) - DD_J_REC_HDR);
	dd_crc_shift_init(&j->shift[SHIFT_FEEDPOS], dd_jrec_size(sizeof(struct dd_jfeedpos)) - DD_J_REC_HDR);
	dd_crc_shift_init(&j->shift[SHIFT_CAUSE], dd_jrec_size(sizeof(struct dd_output)) - DD_J_REC_HDR -
							  offsetof(struct dd_output, cause) - sizeof(uint64_t));
	j->nrings = nproducers;
	for (unsigned i = 0; i < nproducers; i++) {
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "dd_jrnl_%u", i);
		j->rings[i] = rte_ring_create_elem(name, sizeof(struct dd_jitem), c->jring_size, socket,
						   RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (j->rings[i] == NULL) {
			snprintf(err, errlen, "journal: cannot create ring %s of %u records: %s (raise -m or lower "
				 "journal.ring_size)", name, c->jring_size, rte_strerror(rte_errno));
			rc = -ENOMEM;
			goto err;
		}
	}
	struct io_uring_params up;
	memset(&up, 0, sizeof(up));
	struct dd_cpuset io_cpus = { .count = 0 };
	if (c->jio_cpus[0] != '\0' && dd_cpulist_parse(c->jio_cpus, &io_cpus, err, errlen) != 0) {
		rc = -EINVAL;
		goto err;
	}
	if (c->jsqpoll) {
		up.flags = IORING_SETUP_SQPOLL;
		up.sq_thread_idle = 1000;
		if (io_cpus.count > 0) { /* the SQPOLL thread on the first of journal.io_cpus */
			up.flags |= IORING_SETUP_SQ_AFF;
			up.sq_thread_cpu = io_cpus.first;
		}
	}
	rc = io_uring_queue_init_params(256, &j->ring, &up);
	if (rc < 0) {
		snprintf(err, errlen, "journal: io_uring setup failed: %s%s", strerror(-rc),
			 c->jsqpoll ? (io_cpus.count > 0 ? " (SQPOLL on journal.io_cpus' first CPU: is it online and allowed?)"
							 : " (SQPOLL needs CAP_SYS_NICE on older kernels; try without journal.sqpoll)")
				    : "");
		goto err;
	}
	j->ring_ok = true;
	if (io_cpus.count > 0) {
		/* io_uring's workers (the blocking parts of writes and fdatasync) off the lcores' CPUs */
		cpu_set_t set;
		CPU_ZERO(&set);
		for (unsigned cpu = 0; cpu < CPU_SETSIZE && cpu < 1024; cpu++)
			if (io_cpus.bits[cpu / 64] & (1ull << (cpu % 64)))
				CPU_SET(cpu, &set);
		rc = io_uring_register_iowq_aff(&j->ring, sizeof(set), &set);
		if (rc < 0) {
			snprintf(err, errlen, "journal: journal.io_cpus = %s: io_uring_register_iowq_aff failed: %s (are those "
				 "CPUs online?)", c->jio_cpus, strerror(-rc));
			goto err;
		}
	}
	if (c->output[0] != '\0') {
		j->out_fd = open(c->output, O_WRONLY | O_CREAT | O_CLOEXEC | (disk ? 0 : O_TRUNC), 0640);
		struct stat sb;
		if (j->out_fd < 0 || fstat(j->out_fd, &sb) != 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot open the output file %s: %s", c->output, strerror(-rc));
			goto err;
		}
		j->out_off = (uint64_t)sb.st_size;
	}
	if (j->sync == DD_JSYNC_OFF) {
		j->seg_first_lsn = j->next_lsn;
		j->append = j->committed = PAGE;
		append_config(j);
		*out = j;
		return 0;
	}
	if ((rc = dd_jdir_create(c->journal)) != 0) {
		snprintf(err, errlen, "journal: cannot create directory %s: %s", c->journal, strerror(-rc));
		goto err;
	}
	j->dir_fd = open(c->journal, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dir_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "journal: cannot open directory %s: %s", c->journal, strerror(-rc));
		goto err;
	}
	remove_stale_spares(j);
	bool cont = st->segment != NULL && st->segment[0] != '\0';
	rc = cont ? continue_segment(j, st, err, errlen) : first_segment(j, err, errlen);
	if (rc != 0)
		goto err;
	rc = dd_journal_tend(j, err, errlen);
	if (rc != 0)
		goto err;
	/* too little room for the start's records (a crash near the segment's end, or after its PAD):
	 * it ends as a rotation ends it, with a PAD, and the next segment is put in place */
	if (cont && j->seg_size - j->append < start_room(j)) {
		start_rotation(j);
		if ((rc = settle(j, err, errlen)) != 0)
			goto err;
	}
	append_config(j);
	*out = j;
	return 0;
err:
	dd_journal_destroy(j);
	return rc;
}

void dd_journal_destroy(struct dd_journal *j)
{
	if (j == NULL)
		return;
	if (j->ring_ok)
		io_uring_queue_exit(&j->ring);
	if (atomic_load_explicit(&j->spare_ready, memory_order_relaxed) && j->spare_fd >= 0) {
		close(j->spare_fd);
		unlink(j->spare_path); /* never renamed: not part of the journal */
	}
	if (j->fd >= 0)
		close(j->fd);
	if (j->out_fd >= 0) {
		fsync(j->out_fd);
		close(j->out_fd);
	}
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	for (unsigned i = 0; i < j->nrings; i++)
		rte_ring_free(j->rings[i]);
	rte_free(j->buf);
	rte_free(j->bounce);
	rte_free(j->hdr_page);
	rte_free(j->outbuf[0]);
	rte_free(j->outbuf[1]);
	rte_free(j->relq);
	rte_free(j->groups);
	rte_free(j->held);
	rte_free(j->isn_lsn);
	rte_free(j->shift);
	rte_free(j);
}
