/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_OUT_OUTLOG_H
#define DD_DATAPLANE_OUT_OUTLOG_H

/*
 * The journal's outputs by number: the n-th OUTPUT record of a journal (n from 1) is what the output
 * stream numbers n (after its session's base, docs/wire-formats.md "Output messages"). Segment
 * headers (minor 1) carry how many OUTPUT records came before them, so finding output n reads one
 * segment from its start, or less: every 1024th output read is remembered (an index in memory) and
 * the next look-up near it starts there. A journal written before minor 1 is read from its start.
 *
 * Reads records the writer has made durable (the output stream only asks for released outputs):
 * each is framed and CRC-checked; a record that fails ends the read there, and the caller learns
 * how many it got. DPDK-free; one reader per thread.
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/output.h"

struct dd_outlog;

int dd_outlog_open(struct dd_outlog **out, const char *dir, char *err, size_t errlen);
void dd_outlog_close(struct dd_outlog *l);

/* Called for each output read, in order: its number, its LSN, the output. */
typedef void (*dd_outlog_fn)(void *ctx, uint64_t n, uint64_t lsn, const struct dd_output *o);

/*
 * Read outputs `first` .. `first + count - 1` (fewer at the journal's end, or where a record fails
 * its checks). Returns how many were delivered, or -errno with a message.
 */
long dd_outlog_read(struct dd_outlog *l, uint64_t first, unsigned count, dd_outlog_fn fn, void *ctx, char *err,
		    size_t errlen);

/* How many OUTPUT records the journal in `dir` holds (0 for none, or no journal yet). */
int dd_outlog_count(const char *dir, uint64_t *count, char *err, size_t errlen);

/* ---- the stream's session, kept in the journal directory (`stream`) ------------------------------ */

#define DD_OUTLOG_SESSION_LEN 10

struct dd_stream_state {
	char session[DD_OUTLOG_SESSION_LEN + 1]; /* NUL-terminated */
	uint64_t base;     /* outputs before the session's message 1 */
	int ended;         /* 1: a clean stop ended it (its end of session was sent) */
};

/* Read `dir`/stream. Returns 0, -ENOENT (none yet), or -EBADMSG / -errno with a message. */
int dd_stream_state_load(const char *dir, struct dd_stream_state *s, char *err, size_t errlen);

/* Write `dir`/stream whole (a temporary file, fsync, rename, directory fsync). 0 or -errno with a message. */
int dd_stream_state_save(const char *dir, const struct dd_stream_state *s, char *err, size_t errlen);

/*
 * Sessions a clean stop ended, kept in `dir`/sessions ("session NAME base N count M" a line, oldest
 * first, the last DD_STREAM_PAST_MAX), so the request server still answers a consumer that missed
 * the end of one from the journal after the next start.
 */
#define DD_STREAM_PAST_MAX 64

struct dd_stream_past {
	char session[DD_OUTLOG_SESSION_LEN + 1];
	uint64_t base;     /* outputs before its message 1 */
	uint64_t count;    /* its messages */
};

/* Read `dir`/sessions into v (at most DD_STREAM_PAST_MAX). 0 (*n = 0 without the file) or -errno / -EBADMSG. */
int dd_stream_past_load(const char *dir, struct dd_stream_past *v, unsigned *n, char *err, size_t errlen);

/* Add session `p` (once: a name already there is left as it is), keeping the last DD_STREAM_PAST_MAX. */
int dd_stream_past_add(const char *dir, const struct dd_stream_past *p, char *err, size_t errlen);

#endif /* DD_DATAPLANE_OUT_OUTLOG_H */
