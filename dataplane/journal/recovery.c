/* SPDX-License-Identifier: MIT */
#include "dataplane/journal/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/fraud/fraud.h"
#include "ops/op.h"

int dd_output_last_lsn(const char *path, uint64_t *lsn, uint64_t *cut, char *err, size_t errlen)
{
	*lsn = 0;
	*cut = 0;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "cannot open the output file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size == 0) {
		close(fd);
		return 0;
	}
	/* the last line is short: read the last 64 KiB */
	char buf[65536 + 1];
	off_t from = st.st_size > 65536 ? st.st_size - 65536 : 0;
	ssize_t n = pread(fd, buf, (size_t)(st.st_size - from), from);
	if (n != st.st_size - from) {
		int e = n < 0 ? errno : EIO;
		close(fd);
		snprintf(err, errlen, "cannot read the output file %s: %s", path, strerror(e));
		return -e;
	}
	buf[n] = '\0';
	char *nl = memrchr(buf, '\n', (size_t)n);
	size_t keep = nl ? (size_t)(nl - buf) + 1 : 0;
	if (keep < (size_t)n) {
		/* a line a crash cut short: it never fully left, so it goes */
		*cut = (uint64_t)n - keep;
		if (ftruncate(fd, from + (off_t)keep) != 0 || fsync(fd) != 0) {
			int e = errno;
			close(fd);
			snprintf(err, errlen, "cannot cut the torn last line of %s: %s", path, strerror(e));
			return -e;
		}
	}
	close(fd);
	if (nl == NULL)
		return 0;
	*nl = '\0';
	char *line = memrchr(buf, '\n', (size_t)(nl - buf));
	line = line ? line + 1 : buf;
	const char *k = strstr(line, "\"lsn\":");
	if (k == NULL || sscanf(k + 6, "%" SCNu64, lsn) != 1) {
		snprintf(err, errlen, "the last line of the output file %s has no \"lsn\": is it dadar's output?", path);
		return -EBADMSG;
	}
	return 0;
}

/* ---- re-release of journaled outputs -------------------------------------------------------------- */

struct rerelease {
	FILE *f;
	uint64_t after;
	uint64_t n;
};

static int rerelease_one(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct rerelease *rr = ctx;
	(void)n;
	if (r->type != DD_JREC_OUTPUT || r->lsn <= rr->after)
		return 0;
	struct dd_output o;
	memcpy(&o, p, sizeof(o));
	char line[DD_OUTPUT_JSON_MAX];
	int len = dd_output_json(line, sizeof(line), r->lsn, &o);
	if (fwrite(line, 1, (size_t)len, rr->f) != (size_t)len)
		return -EIO;
	rr->n++;
	return 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* ---- recovery ---------------------------------------------------------------------------------------- */

int dd_recover(struct dd_recovery *rc, char *err, size_t errlen)
{
	int r;
	if (rc->output != NULL && rc->output[0] != '\0' &&
	    (r = dd_output_last_lsn(rc->output, &rc->released_lsn, &rc->output_cut, err, errlen)) != 0)
		return r;

	struct dd_replay *rp = &rc->replay;
	memset(rp, 0, sizeof(*rp));
	rp->use_snapshot = true;
	rp->burst = rc->burst;
	rp->check_config = rc->check_config;
	rp->check_ctx = rc->check_ctx;
	rp->alloc = rc->alloc;
	rp->release = rc->release;
	rp->alloc_ctx = rc->alloc_ctx;
	rp->clock = rc->clock;
	rp->name_outputs = true; /* it writes the outputs a crash left unreleased */
	r = dd_replay_run(rc->dir, rp, err, errlen);
	if (r == -ENOENT || (r == 0 && rp->scan.segments == 0)) {
		if (rc->released_lsn != 0) {
			snprintf(err, errlen,
				 "the output file %s holds outputs released up to LSN %llu, but journal %s is new: they would be "
				 "numbered again from LSN 1. Move the output file aside (or give the journal it was written "
				 "with)", rc->output, (unsigned long long)rc->released_lsn, rc->dir);
			return -EPROTO;
		}
		rc->fresh = true;
		rc->next_lsn = 1;
		rc->segment[0] = '\0';
		snprintf(rc->message, sizeof(rc->message), "journal %s: new", rc->dir);
		err[0] = '\0';
		return 0;
	}
	if (r != 0)
		return r;
	const struct dd_jscan *s = &rp->scan;
	if (rp->have_config && (rp->nshards != rc->nshards || rp->nfeeds != rc->nfeeds)) {
		snprintf(err, errlen,
			 "journal %s was written by a pipeline with %u shard(s) and %u feed(s); this start has %u and %u: "
			 "start with the same --pipeline/--workers and feeds (or replay it offline with dadar-journal replay)",
			 rc->dir, rp->nshards, rp->nfeeds, rc->nshards, rc->nfeeds);
		return -EINVAL;
	}
	if (s->corrupt) {
		snprintf(err, errlen,
			 "journal %s is corrupt at %s offset %llu (LSN %llu expected): %s. dadar will not start on it: "
			 "`dadar-journal verify %s` shows it; move the journal aside to start a new one",
			 rc->dir, s->corrupt_segment, (unsigned long long)s->corrupt_offset,
			 (unsigned long long)s->corrupt_lsn, s->corrupt_why, rc->dir);
		return -EBADMSG;
	}
	if (rp->mismatch) {
		snprintf(err, errlen,
			 "journal %s: replaying it does not give the outputs it recorded (at LSN %llu: %s). The operators "
			 "or their configuration changed since it was written; dadar will not start on it",
			 rc->dir, (unsigned long long)rp->mismatch_lsn, rp->mismatch_why);
		return -EPROTO;
	}
	/*
	 * The output file must not be ahead of the journal: outputs released past the journal's end
	 * were acknowledged and then lost from the journal (a segment deleted or cut short, a journal
	 * restored from an older copy). Going on would release different outputs under the same LSNs.
	 */
	if (rc->released_lsn > s->last_lsn) {
		snprintf(err, errlen,
			 "the output file %s holds outputs released up to LSN %llu, but journal %s ends at LSN %llu: the "
			 "journal lost records whose outputs were released. dadar will not number new outputs over them: "
			 "move the output file aside (its lines stay valid up to LSN %llu), or restore the journal",
			 rc->output, (unsigned long long)rc->released_lsn, rc->dir, (unsigned long long)s->last_lsn,
			 (unsigned long long)s->last_lsn);
		return -EPROTO;
	}
	if (s->torn) {
		if ((r = dd_jtruncate_tail(s, err, errlen)) != 0)
			return r;
		rc->truncated = true;
		rc->cut_bytes = s->torn_bytes;
	} else if (s->last_segment[0] != '\0' && (r = fsync_path(s->last_segment)) != 0) {
		/* records written before the crash but never synced are on disk from here on */
		snprintf(err, errlen, "fsync(%s) failed: %s", s->last_segment, strerror(-r));
		return r;
	}
	snprintf(rc->segment, sizeof(rc->segment), "%s", s->last_segment);
	rc->end_offset = s->end_offset;
	if (s->last_lsn != 0) {
		rc->next_lsn = s->last_lsn + 1;
	} else {
		/* segments but no record yet: continue at the LSN the segment's name promises */
		const char *b = strrchr(s->last_segment, '/');
		unsigned long long first = 1;
		if (b == NULL || sscanf(b + 1, "seg-%llu.ddj", &first) != 1)
			first = 1;
		rc->next_lsn = first;
	}
	/*
	 * A feed resumes after the later of its last journaled position and the last event journaled
	 * after that position: positions are journaled once per receive burst, events as they come, so
	 * a crash can leave events past the last position. Only events after the position count, so an
	 * earlier MoldUDP64 session's larger sequence numbers never move a later session's position.
	 * (If a session changed within the last burst, before its position was journaled, the events
	 * of the new session already journaled are received again.) Without a position (a crash in
	 * the very first burst) the name is unknown: the first datagram names the session.
	 */
	for (unsigned f = 0; f < rc->nfeeds && f < DD_MAX_FEEDS; f++) {
		uint64_t next = rp->have_pos[f] ? rp->pos[f].next_seq : 0;
		if (rp->max_seq[f] + 1 > next && rp->max_seq[f] != 0)
			next = rp->max_seq[f] + 1;
		if (next != 0)
			dd_mold_restore(&rc->feeds[f].mold, rp->have_pos[f] ? rp->pos[f].session : NULL, next,
					rp->have_pos[f] && rp->pos[f].ended != 0);
	}

	if (rc->output != NULL && rc->output[0] != '\0' && rc->released_lsn < rc->next_lsn - 1) {
		struct rerelease rr = { .after = rc->released_lsn };
		rr.f = fopen(rc->output, "a");
		if (rr.f == NULL) {
			int e = errno;
			snprintf(err, errlen, "cannot append to the output file %s: %s", rc->output, strerror(e));
			return -e;
		}
		struct dd_jscan s2;
		r = dd_jscan_dir(rc->dir, rc->released_lsn + 1, rerelease_one, &rr, &s2, err, errlen);
		if (fflush(rr.f) != 0 || fsync(fileno(rr.f)) != 0)
			r = r ? r : -errno;
		fclose(rr.f);
		if (r != 0) {
			if (err[0] == '\0')
				snprintf(err, errlen, "writing journaled outputs to %s failed: %s", rc->output, strerror(-r));
			return r;
		}
		rc->rereleased = rr.n;
		if (rr.n > 0)
			rc->released_lsn = rc->next_lsn - 1;
	}
	char from[64] = "";
	if (rp->snapshot_lsn)
		snprintf(from, sizeof(from), " after the snapshot at LSN %llu", (unsigned long long)rp->snapshot_lsn);
	int n = snprintf(rc->message, sizeof(rc->message),
			 "journal %s: recovered to LSN %llu (%llu events replayed%s), %llu outputs matched", rc->dir,
			 (unsigned long long)(rc->next_lsn - 1), (unsigned long long)rp->events, from,
			 (unsigned long long)rp->outputs_matched);
	if (rc->truncated && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      "; cut a torn tail of %llu bytes at %s offset %llu after LSN %llu",
			      (unsigned long long)rc->cut_bytes, s->last_segment, (unsigned long long)s->end_offset,
			      (unsigned long long)s->last_lsn);
	if (rc->truncated && s->short_bytes > 0 && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      " (the file was %llu bytes short of its %llu: zero-filled back to its size)",
			      (unsigned long long)s->short_bytes, (unsigned long long)s->segment_size);
	if (rp->ntail && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      "; %llu outputs derived but not journaled before the stop (journaled next, before any input)",
			      (unsigned long long)rp->ntail);
	if (rc->rereleased && n > 0 && (size_t)n < sizeof(rc->message))
		n += snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			      "; %llu journaled outputs released now", (unsigned long long)rc->rereleased);
	if (rc->output_cut && n > 0 && (size_t)n < sizeof(rc->message))
		snprintf(rc->message + n, sizeof(rc->message) - (size_t)n,
			 "; cut %llu bytes of a torn last line from %s", (unsigned long long)rc->output_cut, rc->output);
	err[0] = '\0';
	return 0;
}

void dd_recovery_fini(struct dd_recovery *rc)
{
	dd_replay_fini(&rc->replay);
}
