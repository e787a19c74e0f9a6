/* SPDX-License-Identifier: MIT */
/*
 * dadar-journal: the journal inspector and offline replayer. Works on a journal directory
 * (dataplane/journal/jfile.h), never on a running dadar: verify checks every record and tells a torn tail
 * from corruption, truncate cuts a torn tail, dump prints records one per line, stats counts them,
 * and replay runs the journal through the same books the daemon runs (dataplane/journal/replay.h) and
 * writes dadar's own summary and book dump (dataplane/config/report.h). docs/dadar-journal.md explains
 * every command and its output.
 *
 * A journal is untrusted input: everything read from it goes through the scanner's checks, and
 * the few fields printed straight from it (symbols, sessions) are escaped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/config/config.h"
#include "dataplane/wire/feed.h"
#include "dataplane/wire/itch.h"
#include "dataplane/journal/jfile.h"
#include "dataplane/journal/replay.h"
#include "dataplane/config/report.h"
#include "ops/book/book.h"
#include "ops/book/book_op.h"
#include "ops/route.h"
#include "ops/cep/cep.h"
#include "ops/cep/symtab.h"
#include "ops/fraud/fraud.h"
#include "ops/window/window.h"
#include "ops/op.h"
#include "ops/event.h"
#include "ops/output.h"

/* Exit statuses, documented in usage() and docs/dadar-journal.md. */
enum {
	EX_OK = 0,
	EX_TORN = 1,    /* the journal ends in a torn tail (verify, dump, stats) */
	EX_CORRUPT = 2, /* corruption; replay: a mismatch or a journal that does not replay */
	EX_USAGE = 3,   /* bad command line */
	EX_IO = 4,      /* cannot read: no such directory, I/O error, another format version, no memory */
};

#define PROG "dadar-journal"
#define NS_PER_DAY 86400000000000ull

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
		"usage: " PROG " COMMAND DIR [options]\n"
		"\n"
		"  verify DIR      check every record of the journal in DIR (CRC, framing, LSN continuity)\n"
		"  truncate DIR    cut a torn tail now (dadar does it at its next start); refuses corruption\n"
		"  dump DIR [--from LSN] [--type event|output|feedpos|pad|config] [--limit N]\n"
		"                  one line per record, payload decoded\n"
		"  stats DIR       records and bytes by type, segments and their fill, LSN and time range,\n"
		"                  events per feed and per ITCH message type\n"
		"  replay DIR [--no-snapshot] [--summary FILE] [--book-dump FILE] [dadar options]\n"
		"                  replay the journal through the operators its config records describe\n"
		"                  (capacities included: nothing to repeat), sharded as dadar shards them;\n"
		"                  check every journaled output against the re-derived one; starts from the\n"
		"                  newest valid snapshot unless --no-snapshot; --summary and --book-dump write\n"
		"                  dadar's formats; dadar options given (--capacity-orders N, ...) must agree\n"
		"                  with the journal's; --feed NAME=... names the feeds\n"
		"  matched DIR LSN [--from LSN]\n"
		"                  the records the alert at LSN matched, each by its LSN (the message's EVENT\n"
		"                  record, or the window result's OUTPUT record), looked for from --from (0)\n"
		"\n"
		"exit status: 0 clean; 1 torn tail (verify, dump, stats); 2 corrupt, or replay found a mismatch\n"
		"or could not replay the journal, or matched could not find every record; 3 bad command line,\n"
		"or an option that conflicts with the journal's configuration; 4 cannot read (no such directory,\n"
		"I/O error, another journal format version, out of memory)\n");
}

/* ---- small helpers ------------------------------------------------------------------------------ */

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* A fixed-width text field of the journal (space padded, not terminated, untrusted): trailing
 * spaces and NULs dropped, anything outside printable ASCII as \xNN. */
static const char *text(char *buf, size_t len, const char *p, size_t n)
{
	return dd_report_text(buf, len, p, n);
}

/* A one-byte code (side, state, flag): the letter, ' ' for a space (ITCH's "not applicable"), or
 * \xNN. */
static const char *code(char *buf, size_t len, uint8_t c)
{
	if (c > 0x20 && c < 0x7f && c != '\\')
		snprintf(buf, len, "%c", c);
	else if (c == ' ')
		snprintf(buf, len, "' '");
	else
		snprintf(buf, len, "\\x%02x", c);
	return buf;
}

/* Exchange time: ns since midnight as HH:MM:SS.nnnnnnnnn (raw ns if it is not a time of day). */
static const char *tod(char *buf, size_t len, uint64_t ns)
{
	if (ns >= NS_PER_DAY) {
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
		return buf;
	}
	uint64_t s = ns / 1000000000ull;
	snprintf(buf, len, "%02llu:%02llu:%02llu.%09llu", (unsigned long long)(s / 3600),
		 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60), (unsigned long long)(ns % 1000000000ull));
	return buf;
}

/* A price in ITCH fixed point (four implied decimals). */
static const char *price(char *buf, size_t len, uint32_t p)
{
	snprintf(buf, len, "%u.%04u", p / 10000, p % 10000);
	return buf;
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* The base name of a path (for lines that would otherwise repeat the directory). */
static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ---- segment headers ---------------------------------------------------------------------------- */

struct seg {
	uint64_t num;           /* first LSN, from the file name */
	uint64_t size;          /* bytes of the file */
	bool header_ok;
	struct dd_jseg_header h;
	/* counted by stats over the good records */
	uint64_t records, bytes, pad_bytes, first_lsn, last_lsn;
};

static int cmp_seg(const void *a, const void *b)
{
	uint64_t x = ((const struct seg *)a)->num, y = ((const struct seg *)b)->num;
	return x < y ? -1 : x > y;
}

/* seg-<20 digits>.ddj, as dd_jseg_path() names them; anything else is not a segment. */
static bool seg_name(const char *name, uint64_t *num)
{
	char digits[21];

	if (strlen(name) != 4 + 20 + 4 || strncmp(name, "seg-", 4) != 0 || strcmp(name + 24, ".ddj") != 0)
		return false;
	memcpy(digits, name + 4, 20);
	digits[20] = '\0';
	return parse_u64(digits, num) == 0;
}

/*
 * The segments of `dir` in LSN order with their headers (header_ok false when a header does not
 * check: the scanner reports why). Returns 0 or -errno with a message; *out is malloc'd.
 */
static int read_segments(const char *dir, struct seg **out, size_t *n, char *err, size_t errlen)
{
	struct seg *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (d == NULL) {
		rc = -errno;
		if (rc == -ENOENT)
			snprintf(err, errlen, "journal directory %s does not exist (check the path)", dir);
		else
			snprintf(err, errlen, "opendir(%s) failed: %s", dir, strerror(-rc));
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t num;
		if (!seg_name(de->d_name, &num))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? 2 * cap : 32;
			struct seg *nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL) {
				rc = -ENOMEM;
				snprintf(err, errlen, "listing %s: out of memory", dir);
				goto err;
			}
			v = nv;
			cap = ncap;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		v[cnt++].num = num;
	}
	closedir(d);
	d = NULL;
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), cmp_seg);
	for (size_t i = 0; i < cnt; i++) {
		char path[1024], why[160];
		struct stat st;
		dd_jseg_path(path, sizeof(path), dir, v[i].num);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s(%s) failed: %s", fd < 0 ? "open" : "fstat", path, strerror(-rc));
			if (fd >= 0)
				close(fd);
			goto err;
		}
		v[i].size = (uint64_t)st.st_size;
		ssize_t k = pread(fd, &v[i].h, sizeof(v[i].h), 0);
		if (k < 0) {
			rc = -errno;
			snprintf(err, errlen, "pread(%s, %zu, 0) failed: %s", path, sizeof(v[i].h), strerror(-rc));
			close(fd);
			goto err;
		}
		close(fd);
		v[i].header_ok = (size_t)k == sizeof(v[i].h) && dd_jseg_header_check(&v[i].h, why, sizeof(why)) == 0;
	}
	*out = v;
	*n = cnt;
	return 0;
err:
	if (d != NULL)
		closedir(d);
	free(v);
	return rc;
}

/* ---- scan results ------------------------------------------------------------------------------- */

/* A scan that could not run (no directory, I/O, another major version): not a corrupt journal. */
static int scan_error(const char *err)
{
	return say(EX_IO, "%s", err);
}

static void print_counts(FILE *o, const struct dd_jscan *s)
{
	fprintf(o, "  records   ");
	for (unsigned t = 1; t < DD_JREC__COUNT; t++)
		fprintf(o, "%s %llu%s", dd_jrec_type_name(t), (unsigned long long)s->by_type[t],
			t + 1 < DD_JREC__COUNT ? "  " : "\n");
}

static void print_head(FILE *o, const char *dir, const struct dd_jscan *s)
{
	fprintf(o, "journal %s: %llu segment%s, %llu record%s", dir, (unsigned long long)s->segments,
		plural(s->segments), (unsigned long long)s->records, plural(s->records));
	if (s->records > 0)
		fprintf(o, ", LSN %llu..%llu", (unsigned long long)s->first_lsn, (unsigned long long)s->last_lsn);
	fprintf(o, ", %llu bytes of records\n", (unsigned long long)s->bytes);
}

static void print_layout(FILE *o, uint32_t nshards, uint32_t nfeeds)
{
	if (nshards == 0 && nfeeds == 0) {
		fprintf(o, "  layout    not recorded in the segment header\n");
		return;
	}
	fprintf(o, "  layout    %u book shard%s (%s), %u feed%s (from the segment header)\n", nshards, plural(nshards),
		nshards <= 1 ? "run to completion or one worker" : "staged workers", nfeeds, plural(nfeeds));
}

/* The verdict lines for a torn or corrupt journal; returns the exit status they mean. */
static int print_verdict(FILE *o, const char *dir, const struct dd_jscan *s)
{
	char good[64] = "no record before it is good";

	if (s->last_lsn != 0)
		snprintf(good, sizeof(good), "the records up to LSN %llu are good", (unsigned long long)s->last_lsn);
	if (s->corrupt) {
		fprintf(o,
			"CORRUPT: %s offset %llu, LSN %llu expected: %s\n"
			"  nothing after it is read (corruption is never skipped); %s.\n"
			"  Corruption is never cut automatically: keep the directory for inspection (`" PROG " dump %s "
			"--from %llu`).\n",
			s->corrupt_segment, (unsigned long long)s->corrupt_offset, (unsigned long long)s->corrupt_lsn,
			s->corrupt_why, good, dir, (unsigned long long)(s->corrupt_lsn > 20 ? s->corrupt_lsn - 20 : 0));
		return EX_CORRUPT;
	}
	if (s->torn && s->short_bytes > 0) {
		fprintf(o,
			"TORN TAIL: %s is %llu bytes short of its %llu (a copy cut short, or a file system that lost "
			"its end); the data ends at offset %llu, after LSN %llu; %s.\n"
			"  dadar zero-fills it back to its size at its next start; `" PROG " truncate %s` does it now.\n",
			s->last_segment, (unsigned long long)s->short_bytes, (unsigned long long)s->segment_size,
			(unsigned long long)s->end_offset, (unsigned long long)s->last_lsn, good, dir);
		return EX_TORN;
	}
	if (s->torn) {
		fprintf(o,
			"TORN TAIL: %llu byte%s at %s offset %llu, after LSN %llu: a crash while writing; %s.\n"
			"  dadar truncates it at its next start; `" PROG " truncate %s` does it now.\n",
			(unsigned long long)s->torn_bytes, plural(s->torn_bytes), s->last_segment,
			(unsigned long long)s->end_offset, (unsigned long long)s->last_lsn, good, dir);
		return EX_TORN;
	}
	return EX_OK;
}

/* ---- snapshots ---------------------------------------------------------------------------------- */

struct snapinfo {
	bool found;
	uint64_t lsn;
	bool have_meta;
	struct dd_snap_meta meta;
	unsigned bad;           /* invalid snapshot files skipped */
	char why[512];          /* the first reason */
};

/* The newest valid snapshot, as replay would choose it (its sections are read and dropped). */
static int snap_probe(const char *dir, struct snapinfo *si, char *err, size_t errlen)
{
	struct dd_jsnap snap;
	char msg[512] = "";
	int rc;

	memset(si, 0, sizeof(*si));
	rc = dd_jsnap_load(dir, UINT64_MAX, &snap, &si->bad, msg, sizeof(msg));
	if (si->bad > 0) /* msg names the first invalid file, found or not */
		snprintf(si->why, sizeof(si->why), "%s", msg);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0) {
		snprintf(err, errlen, "%s", msg);
		return rc;
	}
	si->found = true;
	si->lsn = snap.lsn;
	for (unsigned i = 0; i < snap.nsections; i++)
		if (snap.section[i].tag == DD_SNAP_TAG_META && snap.section[i].len == sizeof(si->meta)) {
			memcpy(&si->meta, snap.section[i].p, sizeof(si->meta));
			si->have_meta = true;
		}
	dd_jsnap_free(&snap);
	return 0;
}

static void print_snapinfo(FILE *o, const char *dir, const struct snapinfo *si)
{
	char path[1024];

	if (si->found) {
		dd_jsnap_path(path, sizeof(path), dir, si->lsn);
		fprintf(o, "  snapshot  LSN %llu (%s)", (unsigned long long)si->lsn, base(path));
		if (si->have_meta)
			fprintf(o, ": %u shard%s, %u feed%s, %llu events and %llu outputs before it", si->meta.config.nshards,
				plural(si->meta.config.nshards), si->meta.config.nfeeds, plural(si->meta.config.nfeeds),
				(unsigned long long)si->meta.events, (unsigned long long)si->meta.outputs);
		fputc('\n', o);
	} else {
		fprintf(o, "  snapshot  none\n");
	}
	if (si->bad > 0)
		fprintf(o, "  snapshot  %u invalid snapshot file%s skipped (replay ignores them): %s\n", si->bad,
			plural(si->bad), si->why);
}

/* ---- verify and truncate ------------------------------------------------------------------------ */

static int cmd_verify(const char *dir)
{
	struct dd_jscan s;
	struct snapinfo si;
	struct seg *segs;
	size_t nseg;
	char err[2048];
	int rc, status;

	rc = dd_jscan_dir(dir, 0, NULL, NULL, &s, err, sizeof(err));
	if (rc < 0)
		return scan_error(err);
	print_head(stdout, dir, &s);
	if (s.segments == 0) {
		printf("  no segment files (seg-<first LSN>.ddj): an empty journal\n");
		return EX_OK;
	}
	print_counts(stdout, &s);
	print_layout(stdout, s.nshards, s.nfeeds);
	/* a daemon restarted with another pipeline leaves segments of two layouts: replay can use one */
	uint64_t oldest = 0;
	if (read_segments(dir, &segs, &nseg, err, sizeof(err)) == 0) {
		const struct seg *last = nseg ? &segs[nseg - 1] : NULL;
		oldest = nseg ? segs[0].num : 0;
		for (size_t i = 0; last != NULL && last->header_ok && i + 1 < nseg; i++) {
			if (!segs[i].header_ok || (segs[i].h.nshards == last->h.nshards && segs[i].h.nfeeds == last->h.nfeeds))
				continue;
			char path[1024];
			dd_jseg_path(path, sizeof(path), dir, segs[i].num);
			printf("  layout    NOTE: %s was written with %u shard%s and %u feed%s: the pipeline changed; "
			       "replay uses the last segment's layout\n", base(path), segs[i].h.nshards,
			       plural(segs[i].h.nshards), segs[i].h.nfeeds, plural(segs[i].h.nfeeds));
			break;
		}
		free(segs);
	}
	rc = snap_probe(dir, &si, err, sizeof(err));
	if (rc < 0)
		return say(EX_IO, "%s", err);
	print_snapinfo(stdout, dir, &si);
	status = print_verdict(stdout, dir, &s);
	if (si.found && si.lsn > s.last_lsn && !s.corrupt) {
		printf("SNAPSHOT PAST THE END: snapshot %llu covers records past the journal's last good LSN %llu: the "
		       "journal lost records that were durable. Replay (and dadar's recovery) refuses it.\n",
		       (unsigned long long)si.lsn, (unsigned long long)s.last_lsn);
		return EX_CORRUPT;
	}
	/* segments before a snapshot may be archived; without one covering them the start is lost */
	if (oldest > 1 && (!si.found || si.lsn + 1 < oldest) && !s.corrupt) {
		printf("MISSING START: the oldest segment starts at LSN %llu: records 1..%llu are gone and %s. Replay "
		       "(and dadar's recovery) cannot rebuild the state: restore the missing segments, or move the "
		       "journal aside to start a new one.\n", (unsigned long long)oldest, (unsigned long long)(oldest - 1),
		       si.found ? "the newest snapshot does not reach them" : "no snapshot covers them");
		return EX_CORRUPT;
	}
	if (status == EX_OK)
		printf("clean: every record's framing, CRC and LSN checked; the data ends at %s offset %llu\n",
		       base(s.last_segment), (unsigned long long)s.end_offset);
	return status;
}

static int cmd_truncate(const char *dir)
{
	struct dd_jscan s, after;
	char err[2048];
	int rc;

	rc = dd_jscan_dir(dir, 0, NULL, NULL, &s, err, sizeof(err));
	if (rc < 0)
		return scan_error(err);
	if (s.corrupt) {
		print_verdict(stdout, dir, &s);
		return say(EX_CORRUPT, "refusing to truncate %s: it is corrupt, not torn, and corruption is never cut "
			   "(nothing was changed)", dir);
	}
	if (!s.torn) {
		printf("nothing to cut: journal %s ends cleanly", dir);
		if (s.records > 0)
			printf(" at LSN %llu (%s offset %llu)", (unsigned long long)s.last_lsn, base(s.last_segment),
			       (unsigned long long)s.end_offset);
		printf("\n");
		return EX_OK;
	}
	rc = dd_jtruncate_tail(&s, err, sizeof(err));
	if (rc < 0)
		return say(EX_IO, "truncating %s failed: %s", dir, err);
	rc = dd_jscan_dir(dir, 0, NULL, NULL, &after, err, sizeof(err));
	if (rc < 0)
		return scan_error(err);
	if (s.short_bytes > 0)
		printf("zero-filled %s from offset %llu back to its %llu bytes (it was %llu bytes short), synced; journal %s "
		       "now ends cleanly at LSN %llu\n", s.last_segment, (unsigned long long)s.end_offset,
		       (unsigned long long)s.segment_size, (unsigned long long)s.short_bytes, dir,
		       (unsigned long long)after.last_lsn);
	else
		printf("cut %llu byte%s of torn tail at %s offset %llu (zeroed and synced); journal %s now ends cleanly at "
		       "LSN %llu\n",
		       (unsigned long long)s.torn_bytes, plural(s.torn_bytes), s.last_segment,
		       (unsigned long long)s.end_offset, dir, (unsigned long long)after.last_lsn);
	if (after.torn || after.corrupt || after.last_lsn != s.last_lsn) {
		print_verdict(stdout, dir, &after);
		return say(EX_CORRUPT, "%s still does not end cleanly after the cut (was it written to meanwhile?)", dir);
	}
	return EX_OK;
}

/* ---- dump --------------------------------------------------------------------------------------- */

static const char *system_code_name(uint8_t c)
{
	switch (c) {
	case 'O': return "start of messages";
	case 'S': return "start of system hours";
	case 'Q': return "start of market hours";
	case 'M': return "end of market hours";
	case 'E': return "end of system hours";
	case 'C': return "end of messages";
	default: return "?";
	}
}

/* The payload of an event, per type. */
static void event_fields(FILE *o, const struct dd_event *ev)
{
	char a[64], b[64], c[16], d[16];

	switch (ev->type) {
	case DD_EV_SYSTEM:
		fprintf(o, "code=%s (%s)", code(c, sizeof(c), ev->u.system.event_code),
			system_code_name(ev->u.system.event_code));
		break;
	case DD_EV_DIRECTORY: {
		const struct dd_ev_directory *r = &ev->u.directory;
		fprintf(o, "%s round_lot=%u category=%s status=%s", text(a, sizeof(a), r->stock, sizeof(r->stock)),
			r->round_lot_size, code(c, sizeof(c), r->market_category), code(d, sizeof(d), r->financial_status));
		break;
	}
	case DD_EV_TRADING_STATE: {
		const struct dd_ev_trading_state *t = &ev->u.trading_state;
		fprintf(o, "%s state=%s reason=%s", text(a, sizeof(a), t->stock, sizeof(t->stock)),
			code(c, sizeof(c), t->state), text(b, sizeof(b), t->reason, sizeof(t->reason)));
		break;
	}
	case DD_EV_ADD: {
		const struct dd_ev_add *x = &ev->u.add;
		fprintf(o, "ref=%llu %s %u @ %s %s", (unsigned long long)x->ref, code(c, sizeof(c), x->side), x->shares,
			price(a, sizeof(a), x->price), text(b, sizeof(b), x->stock, sizeof(x->stock)));
		if (ev->msg == 'F')
			fprintf(o, " mpid=%s", text(a, sizeof(a), x->mpid, sizeof(x->mpid)));
		break;
	}
	case DD_EV_EXEC:
		fprintf(o, "ref=%llu %u executed match=%llu", (unsigned long long)ev->u.exec.ref, ev->u.exec.shares,
			(unsigned long long)ev->u.exec.match);
		break;
	case DD_EV_EXEC_PRICE:
		fprintf(o, "ref=%llu %u executed @ %s match=%llu printable=%s", (unsigned long long)ev->u.exec.ref,
			ev->u.exec.shares, price(a, sizeof(a), ev->u.exec.price), (unsigned long long)ev->u.exec.match,
			code(c, sizeof(c), ev->u.exec.printable));
		break;
	case DD_EV_CANCEL:
		fprintf(o, "ref=%llu %u cancelled", (unsigned long long)ev->u.cancel.ref, ev->u.cancel.shares);
		break;
	case DD_EV_DELETE:
		fprintf(o, "ref=%llu", (unsigned long long)ev->u.del.ref);
		break;
	case DD_EV_REPLACE:
		fprintf(o, "ref=%llu -> %llu %u @ %s", (unsigned long long)ev->u.replace.ref,
			(unsigned long long)ev->u.replace.new_ref, ev->u.replace.shares, price(a, sizeof(a), ev->u.replace.price));
		break;
	case DD_EV_TRADE:
		fprintf(o, "ref=%llu %s %u @ %s match=%llu", (unsigned long long)ev->u.trade.ref,
			code(c, sizeof(c), ev->u.trade.side), ev->u.trade.shares, price(a, sizeof(a), ev->u.trade.price),
			(unsigned long long)ev->u.trade.match);
		break;
	case DD_EV_CROSS:
		fprintf(o, "%llu @ %s match=%llu cross=%s", (unsigned long long)ev->u.cross.shares,
			price(a, sizeof(a), ev->u.cross.price), (unsigned long long)ev->u.cross.match,
			code(c, sizeof(c), ev->u.cross.cross_type));
		break;
	case DD_EV_BROKEN:
		fprintf(o, "match=%llu", (unsigned long long)ev->u.broken.match);
		break;
	case DD_EV_TICK: {
		uint32_t idle; /* the feeds idle when it was made (docs/patterns.md) */
		memcpy(&idle, ev->u.raw, sizeof(idle));
		fprintf(o, "watermark=%llu", (unsigned long long)ev->event_ns);
		for (unsigned f = 0, k = 0; f < 32; f++)
			if (idle >> f & 1u)
				fprintf(o, "%s%u", k++ ? "," : " idle_feeds=", f);
		break;
	}
	case DD_EV_PAYMENT:
		fprintf(o, "txn=%llu payer=%llu amount=%lld device=%llu", (unsigned long long)ev->u.pay.txn_id,
			(unsigned long long)ev->u.pay.payer, (long long)ev->u.pay.amount, (unsigned long long)ev->u.pay.device);
		break;
	case DD_EV_PAYMENT_X: {
		char cur[16];
		fprintf(o, "payee=%llu merchant=%llu currency=%s mcc=%u channel=%s kind=%s lat_e6=%d lon_e6=%d",
			(unsigned long long)ev->u.payx.payee, (unsigned long long)ev->u.payx.merchant,
			text(cur, sizeof(cur), ev->u.payx.currency, sizeof(ev->u.payx.currency)), ev->u.payx.mcc,
			code(c, sizeof(c), ev->u.payx.channel), code(a, sizeof(a), ev->u.payx.kind), ev->u.payx.lat_e6,
			ev->u.payx.lon_e6);
		break;
	}
	default:
		fprintf(o, "payload=");
		for (size_t i = 0; i < sizeof(ev->u.raw); i++)
			fprintf(o, "%02x", ev->u.raw[i]);
		break;
	}
}

static void print_event(FILE *o, const struct dd_event *ev)
{
	char t[48], m[16];

	fprintf(o, "%s %s seq=%llu t=%s locate=%u ", dd_event_type_name(ev->type), code(m, sizeof(m), ev->msg),
		(unsigned long long)ev->seq, tod(t, sizeof(t), ev->event_ns), ev->key);
	event_fields(o, ev);
}

static void print_side(FILE *o, const char *name, uint32_t px, uint64_t shares, uint32_t orders)
{
	char p[32];

	if (px == 0 && shares == 0 && orders == 0)
		fprintf(o, "%s -", name);
	else
		fprintf(o, "%s %s x %llu (%u)", name, price(p, sizeof(p), px), (unsigned long long)shares, orders);
}

static void print_output(FILE *o, const struct dd_output *out)
{
	char t[48];

	fprintf(o, "%s op=%s", dd_output_type_name(out->type), dd_op_name(out->op));
	if (out->rule != 0)
		fprintf(o, " rule=%u", out->rule);
	fprintf(o, " shard=%u cause=%llu key=%u seq=%llu t=%s ", out->shard, (unsigned long long)out->cause, out->key,
		(unsigned long long)out->seq, tod(t, sizeof(t), out->event_ns));
	if (out->type == DD_OUT_BBO) {
		print_side(o, "bid", out->u.bbo.bid_price, out->u.bbo.bid_shares, out->u.bbo.bid_orders);
		fputc(' ', o);
		print_side(o, "ask", out->u.bbo.ask_price, out->u.bbo.ask_shares, out->u.bbo.ask_orders);
	} else if (out->type == DD_OUT_DECISION) {
		const struct dd_out_decision *d = &out->u.decision;
		fprintf(o, "txn=%llu payer=%llu amount=%lld score=%u action=%s rules=v%u reasons=", (unsigned long long)d->txn_id,
			(unsigned long long)d->payer, (long long)d->amount, d->score, dd_action_name(d->action), out->rule_version);
		for (unsigned r = 0, k = 0; r < DD_R__COUNT; r++)
			if (d->reasons >> r & 1)
				fprintf(o, "%s%s", k++ ? "," : "", dd_reason_name(r));
	} else if (out->type == DD_OUT_ALERT || out->type == DD_OUT_MATCHED || out->type == DD_OUT_WINDOW ||
		   out->type == DD_OUT_LATE) {
		/* names need the rule set: `replay` has them; the dump shows what the record holds */
		char sym[9], t1[48];
		dd_symtab_name(out->symbol, sym);
		if (out->type == DD_OUT_ALERT) {
			const struct dd_out_alert *a = &out->u.alert;
			fprintf(o, "symbol=%s pattern#%u v%u first=%s events=%u refs=%u%s measures=", sym, out->rule,
				out->rule_version, tod(t1, sizeof(t1), a->first_ns), a->events, out->flags,
				a->timeout ? " timeout" : "");
			for (unsigned m = 0; m < a->nmeasures && m < 4; m++)
				fprintf(o, m ? ",%lld" : "%lld", (long long)a->measure[m]);
		} else if (out->type == DD_OUT_MATCHED) {
			const struct dd_out_matched *m = &out->u.matched;
			fprintf(o, "symbol=%s pattern#%u v%u part=%u/%u refs=", sym, out->rule, out->rule_version, m->part + 1u,
				m->parts);
			for (unsigned i = 0; i < m->n && i < DD_MATCHED_REFS; i++) {
				uint64_t ref = m->ref[i];
				if (dd_ref_is_window(ref))
					fprintf(o, "%swindow#%u@%s%s", i ? "," : "", dd_ref_window_index(ref),
						tod(t1, sizeof(t1), dd_ref_low(ref)), dd_ref_late(ref) ? "(late)" : "");
				else
					fprintf(o, "%s%u:%llu", i ? "," : "", dd_ref_feed(ref), (unsigned long long)dd_ref_low(ref));
			}
		} else if (out->type == DD_OUT_WINDOW) {
			fprintf(o, "symbol=%s window#%u start=%s%s values=", sym, out->rule, tod(t1, sizeof(t1), out->u.window.start_ns),
				(out->flags & DD_OUTPUT_FLAG_LATE) ? " late" : "");
			for (unsigned m = 0; m < 6; m++)
				fprintf(o, m ? ",%lld" : "%lld", (long long)out->u.window.value[m]);
		} else {
			fprintf(o, "symbol=%s window#%u record=%s", sym, out->u.late.window,
				tod(t1, sizeof(t1), out->u.late.time));
		}
	} else if (out->type == DD_OUT_TEST) {
		fprintf(o, "v=%llu,%llu,%llu,%llu,%llu", (unsigned long long)out->u.test.v[0],
			(unsigned long long)out->u.test.v[1], (unsigned long long)out->u.test.v[2],
			(unsigned long long)out->u.test.v[3], (unsigned long long)out->u.test.v[4]);
	}
}

/* A config record: the layout and each operator with the parameters dadar-journal knows. */
static void print_config(FILE *o, const struct dd_jconfig *c)
{
	fprintf(o, "shards=%u feeds=%u %smarket=", c->nshards, c->nfeeds,
		c->route == DD_ROUTE_SYMBOL ? "route=symbol " : ""); /* by locate: as before routes existed */
	for (unsigned i = 0; i < c->market.nops && i < DD_CHAIN_MAX_OPS; i++) {
		const struct dd_chain_op_spec *op = &c->market.op[i];
		fprintf(o, "%s%s", i ? "," : "", dd_op_name(op->id));
		if (op->id == DD_OP_BOOK && op->len >= DD_BOOK_OP_PARAMS_V1) {
			struct dd_book_op_params bp;
			memcpy(&bp, op->params, sizeof(bp));
			fprintf(o, "(instruments=%u orders=%u levels=%u%s)", bp.book.max_instruments, bp.book.max_orders,
				bp.book.max_levels, op->len == sizeof(bp) && bp.trades ? " trades" : "");
		} else if (op->id == DD_OP_WINDOW && op->len == sizeof(struct dd_window_params)) {
			struct dd_window_params wp;
			memcpy(&wp, op->params, sizeof(wp));
			fprintf(o, "(symbols=%u key_bytes=%u)", wp.keys, wp.key_bytes);
		} else if (op->id == DD_OP_CEP && op->len == sizeof(struct dd_cep_params)) {
			struct dd_cep_params cp;
			memcpy(&cp, op->params, sizeof(cp));
			fprintf(o, "(symbols=%u key_bytes=%u patterns<=%u)", cp.keys, cp.key_bytes, cp.max_patterns);
		}
	}
	for (unsigned i = 0; i < c->payment.nops && i < DD_CHAIN_MAX_OPS; i++) {
		const struct dd_chain_op_spec *op = &c->payment.op[i];
		fprintf(o, "%s%s", i ? "," : " payment=", dd_op_name(op->id));
		if (op->id == DD_OP_FRAUD && op->len == sizeof(struct dd_fraud_params)) {
			struct dd_fraud_params fp;
			memcpy(&fp, op->params, sizeof(fp));
			fprintf(o, "(payers=%u history=%u pairs=%u devices=%u merchants=%u merchant_table=%u)", fp.payers,
				fp.history, fp.pairs, fp.devices, fp.merchants, fp.merchant_table);
		}
	}
}

static void print_feedpos(FILE *o, const struct dd_jfeedpos *fp)
{
	char s[64];

	fprintf(o, "session=%s next_seq=%llu%s", text(s, sizeof(s), fp->session, sizeof(fp->session)),
		(unsigned long long)fp->next_seq, fp->ended ? " ended" : "");
}

struct dump {
	unsigned type;     /* 0: every type */
	uint64_t limit;    /* 0: no limit */
	uint64_t printed;
	bool stopped;      /* the limit stopped the scan */
};

static int dump_record(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct dump *d = ctx;

	if (d->type != 0 && r->type != d->type)
		return 0;
	if (d->limit != 0 && d->printed == d->limit) {
		d->stopped = true;
		return -ECANCELED;
	}
	printf("%-10llu %-7s %3u %6u  ", (unsigned long long)r->lsn, dd_jrec_type_name(r->type), r->source, r->partition);
	switch (r->type) {
	case DD_JREC_EVENT: {
		struct dd_event ev;
		memcpy(&ev, p, sizeof(ev)); /* the scanner checked n >= 64 */
		print_event(stdout, &ev);
		break;
	}
	case DD_JREC_OUTPUT: {
		struct dd_output out;
		memcpy(&out, p, sizeof(out));
		print_output(stdout, &out);
		break;
	}
	case DD_JREC_FEEDPOS: {
		struct dd_jfeedpos fp;
		memcpy(&fp, p, sizeof(fp));
		print_feedpos(stdout, &fp);
		break;
	}
	case DD_JREC_PAD:
		printf("%u bytes to the end of the segment", r->len);
		break;
	case DD_JREC_CONFIG: {
		struct dd_jconfig c;
		memset(&c, 0, sizeof(c));
		memcpy(&c, p, n < sizeof(c) ? n : sizeof(c)); /* version 1 ends before the payment chain */
		print_config(stdout, &c);
		break;
	}
	case DD_JREC_RULES: {
		struct dd_jrules h;
		memcpy(&h, p, sizeof(h));
		char chain[24];
		if (h.chain == DD_JRULES_MARKET)
			snprintf(chain, sizeof(chain), "market");
		else
			snprintf(chain, sizeof(chain), "chain=%u", h.chain);
		if (h.nchunks == 0) {
			char name[64];
			dd_jrules_name(name, sizeof(name), h.text_hash, h.total_len);
			printf("reload %s: the rules in %s (%u bytes)", chain, name, h.total_len);
		} else {
			printf("%s chunk %u of %u, %u of %u bytes, text fnv1a=%08x", chain, h.chunk + 1, h.nchunks, h.len,
			       h.total_len, h.text_hash);
		}
		break;
	}
	default:
		break;
	}
	putchar('\n');
	d->printed++;
	return 0;
}

static int cmd_dump(const char *dir, int argc, char **argv)
{
	struct dump d = { 0 };
	uint64_t from = 0;
	struct dd_jscan s;
	char err[2048];
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--from") == 0 || strcmp(a, "--limit") == 0) {
			uint64_t x;
			if (v == NULL)
				return say(EX_USAGE, "dump: %s needs a number", a);
			if (parse_u64(v, &x) != 0 || (a[2] == 'l' && x == 0))
				return say(EX_USAGE, "dump: %s '%s': must be a whole number%s", a, v,
					   a[2] == 'l' ? " of at least 1" : " (an LSN)");
			*(a[2] == 'l' ? &d.limit : &from) = x;
			i++;
		} else if (strcmp(a, "--type") == 0) {
			if (v == NULL)
				return say(EX_USAGE, "dump: --type needs one of event, output, feedpos, pad, config");
			for (unsigned t = 1; t < DD_JREC__COUNT; t++)
				if (strcmp(v, dd_jrec_type_name(t)) == 0)
					d.type = t;
			if (d.type == 0)
				return say(EX_USAGE, "dump: --type '%s': must be event, output, feedpos, pad or config", v);
			i++;
		} else {
			return say(EX_USAGE, "dump: unknown option '%s' (options: --from LSN, --type TYPE, --limit N)", a);
		}
	}
	printf("%-10s %-7s %3s %6s  %s\n", "LSN", "type", "src", "part", "payload");
	rc = dd_jscan_dir(dir, from, dump_record, &d, &s, err, sizeof(err));
	if (rc == -ECANCELED && d.stopped)
		return EX_OK; /* --limit: the rest was not read, so there is no verdict on it */
	if (rc < 0)
		return scan_error(err);
	fflush(stdout);
	if (s.corrupt || s.torn) {
		printf("-- ");
		return print_verdict(stdout, dir, &s);
	}
	return EX_OK;
}

/* ---- matched ------------------------------------------------------------------------------------ */

/*
 * `matched DIR LSN`: the records the alert at LSN matched, by LSN. The alert's `matched` outputs
 * follow it among its shard's outputs; each ref names a message (feed, sequence number: the EVENT
 * record of that message) or a window's result (the WINDOW output of that window, symbol, end and
 * lateness). A ref resolves to the last such record before the alert (a feed's numbers start again
 * in a new session).
 */
struct matched {
	uint64_t alert_lsn;
	bool have_alert;
	struct dd_output alert;
	unsigned nrefs, parts_seen;
	uint64_t ref[DD_MR_MAX_REFS];
	uint64_t lsn[DD_MR_MAX_REFS]; /* 0: not found */
	bool broken;                  /* a part out of order, or another output of the shard between */
};

static int matched_parts(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct matched *m = ctx;
	(void)n;
	if (r->type != DD_JREC_OUTPUT)
		return 0;
	struct dd_output o;
	memcpy(&o, p, sizeof(o)); /* the scanner checked n >= 128 */
	if (!m->have_alert) {
		if (r->lsn != m->alert_lsn || o.type != DD_OUT_ALERT)
			return -ENOENT;
		m->alert = o;
		m->have_alert = true;
		return m->alert.flags == 0 ? -ECANCELED : 0;
	}
	if (o.shard != m->alert.shard)
		return 0;
	const struct dd_out_matched *b = &o.u.matched;
	if (o.type != DD_OUT_MATCHED || o.rule != m->alert.rule || b->part != m->parts_seen || b->n == 0 ||
	    b->n > DD_MATCHED_REFS) {
		m->broken = true;
		return -ECANCELED;
	}
	for (unsigned i = 0; i < b->n && m->nrefs < DD_MR_MAX_REFS; i++)
		m->ref[m->nrefs++] = b->ref[i];
	m->parts_seen++;
	return m->parts_seen == b->parts || m->nrefs >= m->alert.flags ? -ECANCELED : 0;
}

static int matched_find(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct matched *m = ctx;
	(void)n;
	if (r->lsn >= m->alert_lsn)
		return -ECANCELED;
	if (r->type == DD_JREC_EVENT) {
		struct dd_event ev;
		memcpy(&ev, p, sizeof(ev)); /* the scanner checked n >= 64 */
		for (unsigned i = 0; i < m->nrefs; i++)
			if (!dd_ref_is_window(m->ref[i]) && dd_ref_feed(m->ref[i]) == ev.source &&
			    dd_ref_low(m->ref[i]) == ev.seq && ev.seq != 0)
				m->lsn[i] = r->lsn;
	} else if (r->type == DD_JREC_OUTPUT) {
		struct dd_output o;
		memcpy(&o, p, sizeof(o));
		if (o.type != DD_OUT_WINDOW || memcmp(o.symbol, m->alert.symbol, sizeof(o.symbol)) != 0)
			return 0;
		for (unsigned i = 0; i < m->nrefs; i++)
			if (dd_ref_is_window(m->ref[i]) && dd_ref_window_index(m->ref[i]) == o.rule &&
			    dd_ref_low(m->ref[i]) == o.u.window.end_ns &&
			    dd_ref_late(m->ref[i]) == ((o.flags & DD_OUTPUT_FLAG_LATE) != 0))
				m->lsn[i] = r->lsn;
	}
	return 0;
}

struct print_at {
	uint64_t lsn;
	bool done;
};

static int print_one(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct print_at *a = ctx;
	(void)n;
	if (r->lsn != a->lsn)
		return -ECANCELED;
	printf("%-10llu %-7s %3u %6u  ", (unsigned long long)r->lsn, dd_jrec_type_name(r->type), r->source, r->partition);
	if (r->type == DD_JREC_EVENT) {
		struct dd_event ev;
		memcpy(&ev, p, sizeof(ev));
		print_event(stdout, &ev);
	} else {
		struct dd_output o;
		memcpy(&o, p, sizeof(o));
		print_output(stdout, &o);
	}
	putchar('\n');
	a->done = true;
	return -ECANCELED;
}

static int cmd_matched(const char *dir, int argc, char **argv)
{
	struct matched m;
	struct dd_jscan s;
	char err[2048];
	uint64_t from = 0;

	memset(&m, 0, sizeof(m));
	if (argc < 1 || parse_u64(argv[0], &m.alert_lsn) != 0 || m.alert_lsn == 0)
		return say(EX_USAGE, "matched: needs the LSN of an alert: " PROG " matched DIR LSN [--from LSN]");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc && parse_u64(argv[i + 1], &from) == 0) {
			i++;
			continue;
		}
		return say(EX_USAGE, "matched: unknown option '%s' (options: --from LSN: look for the records from there)",
			   argv[i]);
	}
	int rc = dd_jscan_dir(dir, m.alert_lsn, matched_parts, &m, &s, err, sizeof(err));
	if (rc == -ENOENT || (rc >= 0 && !m.have_alert))
		return say(EX_USAGE, "matched: the record at LSN %llu is not an alert (dadar-journal dump --type output "
				     "lists them)", (unsigned long long)m.alert_lsn);
	if (rc < 0 && rc != -ECANCELED)
		return scan_error(err);
	rc = dd_jscan_dir(dir, from, matched_find, &m, &s, err, sizeof(err));
	if (rc < 0 && rc != -ECANCELED)
		return scan_error(err);
	printf("%-10s %-7s %3s %6s  %s\n", "LSN", "type", "src", "part", "record");
	struct print_at a = { m.alert_lsn, false };
	rc = dd_jscan_dir(dir, m.alert_lsn, print_one, &a, &s, err, sizeof(err));
	if (rc < 0 && rc != -ECANCELED)
		return scan_error(err);
	unsigned found = 0;
	for (unsigned i = 0; i < m.nrefs; i++) {
		if (m.lsn[i] == 0) {
			char t[48];
			if (dd_ref_is_window(m.ref[i]))
				printf("%-10s window#%u ending %s%s: no such window result before the alert\n", "-",
				       dd_ref_window_index(m.ref[i]), tod(t, sizeof(t), dd_ref_low(m.ref[i])),
				       dd_ref_late(m.ref[i]) ? " (late)" : "");
			else
				printf("%-10s feed %u seq %llu: no such message before the alert%s\n", "-", dd_ref_feed(m.ref[i]),
				       (unsigned long long)dd_ref_low(m.ref[i]), from > 0 ? " (from the --from LSN)" : "");
			continue;
		}
		struct print_at one = { m.lsn[i], false };
		rc = dd_jscan_dir(dir, m.lsn[i], print_one, &one, &s, err, sizeof(err));
		if (rc < 0 && rc != -ECANCELED)
			return scan_error(err);
		found++;
	}
	unsigned events = m.alert.u.alert.events;
	printf("-- %u of %u listed records found%s; the match took %u record%s%s\n", found, m.nrefs,
	       m.broken || m.nrefs < m.alert.flags ? " (its matched outputs are incomplete in the journal)" : "", events,
	       plural(events), events > m.nrefs ? " (a long match lists its first records and its last)" : "");
	return found == m.nrefs && !m.broken && m.nrefs == m.alert.flags ? EX_OK : EX_CORRUPT;
}

/* ---- stats -------------------------------------------------------------------------------------- */

struct stats {
	struct seg *segs;
	size_t nseg, cur;
	uint64_t count[DD_JREC__COUNT], bytes[DD_JREC__COUNT];
	uint64_t ev_by_feed[256], out_by_feed[256], ev_by_msg[256], ev_by_type[DD_EV__COUNT + 1];
	bool have_ev;
	uint64_t first_ns, last_ns, min_ns, max_ns;
	bool have_pos[256];
	struct dd_jfeedpos pos[256];
};

static int stats_record(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct stats *st = ctx;

	(void)n;
	while (st->cur + 1 < st->nseg && st->segs[st->cur + 1].num <= r->lsn)
		st->cur++;
	if (st->nseg > 0) {
		struct seg *g = &st->segs[st->cur];
		if (g->records++ == 0)
			g->first_lsn = r->lsn;
		g->last_lsn = r->lsn;
		if (r->type == DD_JREC_PAD)
			g->pad_bytes += r->len;
		else
			g->bytes += r->len;
	}
	st->count[r->type]++;
	st->bytes[r->type] += r->len;
	if (r->type == DD_JREC_EVENT) {
		struct dd_event ev;
		memcpy(&ev, p, sizeof(ev));
		st->ev_by_feed[ev.source]++;
		st->ev_by_msg[ev.msg]++;
		st->ev_by_type[ev.type < DD_EV__COUNT ? ev.type : DD_EV__COUNT]++;
		if (!st->have_ev) {
			st->first_ns = st->min_ns = st->max_ns = ev.event_ns;
			st->have_ev = true;
		}
		st->last_ns = ev.event_ns;
		st->min_ns = ev.event_ns < st->min_ns ? ev.event_ns : st->min_ns;
		st->max_ns = ev.event_ns > st->max_ns ? ev.event_ns : st->max_ns;
	} else if (r->type == DD_JREC_OUTPUT) {
		struct dd_output o;
		memcpy(&o, p, sizeof(o));
		st->out_by_feed[o.source]++;
	} else if (r->type == DD_JREC_FEEDPOS && r->source < 256) {
		memcpy(&st->pos[r->source], p, sizeof(st->pos[0]));
		st->have_pos[r->source] = true;
	}
	return 0;
}

static int cmd_stats(const char *dir)
{
	struct stats *st = calloc(1, sizeof(*st));
	struct dd_jscan s;
	char err[2048], a[48], b[48];
	int rc, status;

	if (st == NULL)
		return say(EX_IO, "stats: out of memory");
	rc = read_segments(dir, &st->segs, &st->nseg, err, sizeof(err));
	if (rc == 0)
		rc = dd_jscan_dir(dir, 0, stats_record, st, &s, err, sizeof(err));
	if (rc < 0) {
		free(st->segs);
		free(st);
		return scan_error(err);
	}
	print_head(stdout, dir, &s);
	for (size_t i = st->nseg; i-- > 0;) {
		if (!st->segs[i].header_ok)
			continue;
		const struct dd_jseg_header *h = &st->segs[i].h;
		printf("  writer    instance %s, TSC %.3f GHz\n", text(a, sizeof(a), h->instance, sizeof(h->instance)),
		       (double)h->tsc_hz / 1e9);
		break;
	}
	print_layout(stdout, s.nshards, s.nfeeds);

	printf("records by type:\n");
	for (unsigned t = 1; t < DD_JREC__COUNT; t++)
		printf("  %-8s %12llu records %14llu bytes\n", dd_jrec_type_name(t), (unsigned long long)st->count[t],
		       (unsigned long long)st->bytes[t]);

	printf("segments:\n");
	for (size_t i = 0; i < st->nseg; i++) {
		const struct seg *g = &st->segs[i];
		char path[1024];
		dd_jseg_path(path, sizeof(path), dir, g->num);
		uint64_t room = g->size > DD_J_PAGE ? g->size - DD_J_PAGE : 0;
		printf("  %s  %llu bytes", base(path), (unsigned long long)g->size);
		if (!g->header_ok) {
			printf("  header does not check (see verify)\n");
			continue;
		}
		if (g->records == 0) {
			printf("  no records  fill 0.0%%\n");
			continue;
		}
		printf("  LSN %llu..%llu  %llu records  %llu bytes", (unsigned long long)g->first_lsn,
		       (unsigned long long)g->last_lsn, (unsigned long long)g->records, (unsigned long long)g->bytes);
		if (g->pad_bytes)
			printf(" + pad %llu", (unsigned long long)g->pad_bytes);
		printf("  fill %.1f%%\n", room ? 100.0 * (double)(g->bytes + g->pad_bytes) / (double)room : 0.0);
	}

	if (st->have_ev) {
		printf("time (event_ns): first event %s, last event %s", tod(a, sizeof(a), st->first_ns),
		       tod(b, sizeof(b), st->last_ns));
		if (st->last_ns >= st->first_ns)
			printf(" (%.6f s apart)", (double)(st->last_ns - st->first_ns) / 1e9);
		if (st->min_ns != st->first_ns || st->max_ns != st->last_ns)
			printf("; earliest %s, latest %s", tod(a, sizeof(a), st->min_ns), tod(b, sizeof(b), st->max_ns));
		printf("\n");
	}
	const char *sep = "";
	printf("events by feed:");
	for (unsigned f = 0; f < 256; f++) {
		if (st->ev_by_feed[f] == 0 && st->out_by_feed[f] == 0)
			continue;
		printf("%s feed %u: %llu events, %llu outputs", sep, f, (unsigned long long)st->ev_by_feed[f],
		       (unsigned long long)st->out_by_feed[f]);
		sep = ";";
	}
	printf("\nevents by message type:");
	for (const char *t = dd_itch_types; *t; t++)
		if (st->ev_by_msg[(uint8_t)*t])
			printf("  %c %llu", *t, (unsigned long long)st->ev_by_msg[(uint8_t)*t]);
	for (unsigned m = 0; m < 256; m++) /* letters ITCH does not define: a writer we do not know */
		if (st->ev_by_msg[m] && (m == 0 || strchr(dd_itch_types, (int)m) == NULL))
			printf("  %s %llu", code(a, sizeof(a), (uint8_t)m), (unsigned long long)st->ev_by_msg[m]);
	printf("\nevents by event type:");
	for (unsigned t = 0; t <= DD_EV__COUNT; t++)
		if (st->ev_by_type[t])
			printf("  %s %llu", t < DD_EV__COUNT ? dd_event_type_name(t) : "?", (unsigned long long)st->ev_by_type[t]);
	printf("\n");
	for (unsigned f = 0; f < 256; f++)
		if (st->have_pos[f]) {
			printf("feed %u position: ", f);
			print_feedpos(stdout, &st->pos[f]);
			printf("\n");
		}
	status = print_verdict(stdout, dir, &s);
	free(st->segs);
	free(st);
	return status;
}

/* ---- replay ------------------------------------------------------------------------------------- */

struct rep {
	struct dd_config cfg;
	unsigned nshards, nfeeds;
	uint64_t tsc_hz;
	struct dd_feed *feeds;
	void **feed_mem;
	const struct dd_book **book_ptrs;
	struct dd_replay r;
	uint64_t counted_to; /* the ITCH counting pass stops after this LSN */
};

/* Feed `f`'s configuration: the config's feed f, else a name (dadar's catch-all is "itch"). */
static void feed_cfg_of(const struct rep *x, unsigned f, struct dd_feed_cfg *fc)
{
	memset(fc, 0, sizeof(*fc));
	if (f < x->cfg.nfeeds)
		*fc = x->cfg.feed[f];
	else if (x->cfg.nfeeds == 0 && x->nfeeds == 1)
		strcpy(fc->name, "itch");
	else
		snprintf(fc->name, sizeof(fc->name), "feed%u", f);
}

/*
 * The journal's configuration is the one replayed with; options given on the command line must
 * agree with it (dd_config_adopt_journal() names the first that does not).
 */
static int rep_check_config(void *ctx, const struct dd_jconfig *j, char *err, size_t errlen)
{
	struct rep *x = ctx;
	return dd_config_adopt_journal(&x->cfg, j, err, errlen);
}

/* Feeds (for the positions and message counts) and the book pointers of the chains replay built. */
static int rep_alloc(struct rep *x, char *err, size_t errlen)
{
	struct dd_mold_params mp = x->cfg.mold;
	size_t flen;

	x->nshards = x->r.nshards;
	x->nfeeds = x->r.nfeeds;
	mp.reorder_timeout = x->cfg.mold_timeout_us * (x->tsc_hz / 1000000);
	flen = dd_feed_memsize(&mp);
	x->feeds = calloc(x->nfeeds, sizeof(*x->feeds));
	x->feed_mem = calloc(x->nfeeds, sizeof(*x->feed_mem));
	x->book_ptrs = calloc((size_t)x->nshards * x->nfeeds, sizeof(*x->book_ptrs));
	if (x->feeds == NULL || x->feed_mem == NULL || x->book_ptrs == NULL) {
		snprintf(err, errlen, "out of memory for %u feeds", x->nfeeds);
		return -ENOMEM;
	}
	for (unsigned f = 0; f < x->nfeeds; f++) {
		struct dd_feed_cfg fc;
		feed_cfg_of(x, f, &fc);
		x->feed_mem[f] = aligned_alloc(64, (flen + 63) & ~(size_t)63);
		if (x->feed_mem[f] == NULL) {
			snprintf(err, errlen, "out of memory for feed '%s'", fc.name);
			return -ENOMEM;
		}
		int rc = dd_feed_init(&x->feeds[f], f, &fc, &mp, x->feed_mem[f], flen);
		if (rc != 0) {
			snprintf(err, errlen, "feed '%s': invalid MoldUDP64 parameters", fc.name);
			return rc;
		}
	}
	if (dd_report_books_of(x->r.chains, x->nshards, x->nfeeds, x->book_ptrs) != 0) {
		snprintf(err, errlen, "the journal's market chain has no order book");
		return -EINVAL;
	}
	return 0;
}

static void rep_free(struct rep *x)
{
	dd_replay_fini(&x->r);
	for (unsigned f = 0; x->feed_mem != NULL && f < x->nfeeds; f++)
		free(x->feed_mem[f]);
	free(x->feeds);
	free(x->feed_mem);
	free(x->book_ptrs);
}

/* The counting pass: ITCH message letters of the events replay applied, per feed, as dadar's
 * summary counts the messages it decoded. */
static int count_record(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct rep *x = ctx;
	struct dd_event ev;

	(void)n;
	if (r->lsn <= x->r.snapshot_lsn)
		return 0;
	if (r->lsn > x->counted_to)
		return -ECANCELED;
	if (r->type != DD_JREC_EVENT)
		return 0;
	memcpy(&ev, p, sizeof(ev));
	if (ev.source < x->nfeeds) {
		x->feeds[ev.source].itch.messages[ev.msg]++;
		x->feeds[ev.source].itch.events++;
	}
	return 0;
}

/* The TSC frequency of the writer (for the summary's times), from the last good segment header. */
static int rep_tsc(struct rep *x, const char *dir)
{
	struct seg *segs;
	size_t n;
	char err[1024];
	int rc = read_segments(dir, &segs, &n, err, sizeof(err));

	if (rc < 0)
		return say(EX_IO, "%s", err);
	for (size_t i = n; i-- > 0;)
		if (segs[i].header_ok) {
			x->tsc_hz = segs[i].h.tsc_hz;
			break;
		}
	free(segs);
	return EX_OK;
}

static void print_tail(FILE *o, const struct dd_replay *r)
{
	for (uint64_t i = 0; i < r->ntail && i < 5; i++) {
		fprintf(o, "             feed %u ", r->tail[i].source);
		print_output(o, &r->tail[i]);
		fputc('\n', o);
	}
	if (r->ntail > 5)
		fprintf(o, "             ... and %llu more\n", (unsigned long long)(r->ntail - 5));
}

static void print_replay(FILE *o, const char *dir, struct rep *x, const struct snapinfo *si, bool use_snapshot)
{
	const struct dd_replay *r = &x->r;
	struct dd_run run = { .nshards = x->nshards, .nfeeds = x->nfeeds, .books = x->book_ptrs };
	struct dd_book_stats bs;
	uint64_t ni, no, nl;

	fprintf(o, "replay of %s: %u shard%s, %u feed%s (", dir, x->nshards, plural(x->nshards), x->nfeeds,
		plural(x->nfeeds));
	for (unsigned f = 0; f < x->nfeeds; f++)
		fprintf(o, "%s%s", f ? ", " : "", x->feeds[f].cfg.name);
	fprintf(o, ") as the journal's configuration says\n  operators  ");
	print_config(o, &r->config);
	fputc('\n', o);
	if (x->cfg.nfeeds != 0 && x->cfg.nfeeds != x->nfeeds)
		fprintf(o, "  NOTE       the configuration names %u feed%s, the journal was written with %u\n", x->cfg.nfeeds,
			plural(x->cfg.nfeeds), x->nfeeds);
	if (!use_snapshot)
		fprintf(o, "  snapshot   not used (--no-snapshot): replayed from LSN 1\n");
	else if (r->snapshot_lsn != 0)
		fprintf(o, "  snapshot   LSN %llu loaded: replayed the records after it\n", (unsigned long long)r->snapshot_lsn);
	else
		fprintf(o, "  snapshot   none: replayed from LSN 1\n");
	if (use_snapshot && si->bad > 0)
		fprintf(o, "  snapshot   %u invalid snapshot file%s skipped: %s\n", si->bad, plural(si->bad), si->why);
	fprintf(o, "  events     %llu replayed", (unsigned long long)r->events);
	if (r->events != 0) {
		fprintf(o, " (");
		bool first = true;
		for (const char *t = dd_itch_types; *t; t++) {
			uint64_t k = 0;
			for (unsigned f = 0; f < x->nfeeds; f++)
				k += x->feeds[f].itch.messages[(uint8_t)*t];
			if (k) {
				fprintf(o, "%s%c %llu", first ? "" : "  ", *t, (unsigned long long)k);
				first = false;
			}
		}
		fprintf(o, ")");
	}
	if (r->last_lsn != 0)
		fprintf(o, ", up to LSN %llu", (unsigned long long)r->last_lsn);
	fputc('\n', o);
	fprintf(o, "  outputs    journaled %llu, derived %llu, matched %llu", (unsigned long long)r->outputs_journaled,
		(unsigned long long)r->outputs_derived, (unsigned long long)r->outputs_matched);
	if (r->overflow != 0)
		fprintf(o, "; %llu DID NOT FIT the chain's output buffer", (unsigned long long)r->overflow);
	if (r->unjournaled == 0) {
		fprintf(o, "; none derived but not journaled\n");
	} else {
		fprintf(o, "\n  tail       %llu output%s derived but not journaled: dadar stopped before journaling %s "
			"(it journals them at its next start)\n", (unsigned long long)r->unjournaled, plural(r->unjournaled),
			r->unjournaled == 1 ? "it" : "them");
		print_tail(o, r);
	}
	for (unsigned f = 0; f < x->nfeeds; f++) {
		if (!r->have_pos[f] && r->max_seq[f] == 0)
			continue;
		fprintf(o, "  position   %s: ", x->feeds[f].cfg.name);
		if (r->have_pos[f])
			print_feedpos(o, &r->pos[f]);
		else
			fprintf(o, "no position journaled");
		if (r->max_seq[f] != 0)
			fprintf(o, "; last event seq %llu", (unsigned long long)r->max_seq[f]);
		fprintf(o, "; dadar resumes at seq %llu\n", (unsigned long long)x->feeds[f].mold.next_seq);
	}
	dd_report_book_totals(&run, -1, &bs, &ni, &no, &nl);
	fprintf(o, "  books      %llu instrument%s, %llu live order%s on %llu price level%s", (unsigned long long)ni,
		plural(ni), (unsigned long long)no, plural(no), (unsigned long long)nl, plural(nl));
	if (bs.unknown_ref)
		fprintf(o, "; %llu references to orders not in the book", (unsigned long long)bs.unknown_ref);
	if (bs.order_overflow + bs.level_overflow + bs.instrument_overflow)
		fprintf(o, "; %llu refused for capacity (as they were in dadar, with the journal's capacities)",
			(unsigned long long)(bs.order_overflow + bs.level_overflow + bs.instrument_overflow));
	fputc('\n', o);
}

static int cmd_replay(const char *dir, int argc, char **argv)
{
	struct rep *x = calloc(1, sizeof(*x));
	struct snapinfo si;
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0, status = EX_OK, rc;
	bool use_snapshot = true;
	struct dd_rx_stats rx;
	struct dd_jscan cs;
	struct dd_run run;
	char err[2048];

	if (x == NULL || rest == NULL) {
		free(x);
		free(rest);
		return say(EX_IO, "replay: out of memory");
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-snapshot") == 0)
			use_snapshot = false;
		else if (strcmp(argv[i], "--from-snapshot") == 0)
			use_snapshot = true;
		else
			rest[nrest++] = argv[i];
	}
	dd_config_defaults(&x->cfg);
	rc = dd_config_args(&x->cfg, nrest, rest, stdout, err, sizeof(err));
	if (rc == 0)
		rc = dd_config_check(&x->cfg, err, sizeof(err));
	free(rest);
	if (rc != 0) {
		free(x);
		return say(EX_USAGE, "replay: %s", err);
	}
	status = rep_tsc(x, dir);
	if (status != EX_OK) {
		free(x);
		return status;
	}
	memset(&si, 0, sizeof(si));
	if (use_snapshot && snap_probe(dir, &si, err, sizeof(err)) < 0) {
		free(x);
		return say(EX_IO, "%s", err);
	}
	snprintf(x->cfg.journal, sizeof(x->cfg.journal), "%s", dir); /* named in its messages */
	x->r.use_snapshot = use_snapshot;
	x->r.check_config = rep_check_config;
	x->r.check_ctx = x;
	rc = dd_replay_run(dir, &x->r, err, sizeof(err));
	if (rc < 0) {
		/* a conflicting option is the user's to change; anything else is the journal's */
		status = rc == -EINVAL ? EX_USAGE : rc == -EBADMSG ? EX_CORRUPT : EX_IO; /* -EPROTO: another major */
		say(status, "replay of %s failed: %s", dir, err);
		if (use_snapshot && strstr(err, "past the journal") != NULL)
			say(0, "--no-snapshot replays what the journal still holds, from the start");
		goto out;
	}
	if (!x->r.have_config) {
		printf("replay of %s: the journal holds no record yet: nothing to replay\n", dir);
		goto out;
	}
	if (rep_alloc(x, err, sizeof(err)) < 0) {
		status = say(EX_IO, "replay: %s", err);
		goto out;
	}
	/* a second pass for the message letters: replay hands no per-event hook */
	x->counted_to = x->r.last_lsn;
	rc = dd_jscan_dir(dir, x->r.snapshot_lsn, count_record, x, &cs, err, sizeof(err));
	if (rc < 0 && rc != -ECANCELED) {
		status = say(EX_IO, "counting the events of %s failed: %s", dir, err);
		goto out;
	}
	/* where dadar's recovery resumes each feed: after the later of its journaled position and its
	 * last journaled event (positions are journaled per burst, events as they come) */
	for (unsigned f = 0; f < x->nfeeds; f++) {
		const struct dd_jfeedpos *fp = x->r.have_pos[f] ? &x->r.pos[f] : NULL;
		uint64_t next = fp != NULL ? fp->next_seq : 0;
		if (x->r.max_seq[f] != 0 && x->r.max_seq[f] + 1 > next)
			next = x->r.max_seq[f] + 1;
		if (next != 0)
			dd_mold_restore(&x->feeds[f].mold, fp != NULL ? fp->session : NULL, next, fp != NULL && fp->ended);
	}
	print_replay(stdout, dir, x, &si, use_snapshot);

	memset(&rx, 0, sizeof(rx));
	if (x->nshards > 1)
		x->cfg.pipeline = DD_PIPELINE_STAGED;
	run = (struct dd_run){
		.cfg = &x->cfg,
		.feeds = x->feeds,
		.nfeeds = x->nfeeds,
		.books = x->book_ptrs,
		.nshards = x->nshards,
		.chains = x->r.chains,
		.pchain = x->r.nchains > x->r.nshards ? &x->r.chains[x->r.nshards] : NULL,
		.rx = &rx,
		.tsc_hz = x->tsc_hz,
		.tm = NULL,
	};
	if (x->cfg.summary[0] && dd_report_summary(&run, x->cfg.summary, err, sizeof(err)) != 0)
		status = say(EX_IO, "replay: %s", err);
	if (x->cfg.book_dump[0] && dd_report_book_dump(&run, x->cfg.book_dump, err, sizeof(err)) != 0)
		status = say(EX_IO, "replay: %s", err);

	if (x->r.scan.corrupt) {
		const struct dd_jscan *s = &x->r.scan;
		printf("  result     CORRUPT: %s offset %llu, LSN %llu expected: %s. Replay stopped at LSN %llu: the books "
		       "hold the state up to there\n", s->corrupt_segment, (unsigned long long)s->corrupt_offset,
		       (unsigned long long)s->corrupt_lsn, s->corrupt_why, (unsigned long long)s->last_lsn);
		status = EX_CORRUPT;
	}
	if (x->r.mismatch) {
		printf("  result     MISMATCH at LSN %llu: %s\n", (unsigned long long)x->r.mismatch_lsn, x->r.mismatch_why);
		say(0, "MISMATCH: the operators do not re-derive the journaled outputs (first at LSN %llu): the journal "
		    "was written by a build whose operators behave differently, or it was altered",
		    (unsigned long long)x->r.mismatch_lsn);
		if (x->r.snapshot_lsn != 0)
			say(0, "replayed from snapshot %llu: if `" PROG " replay %s --no-snapshot` matches, the snapshot "
			    "was taken while outputs of events it covers were still unjournaled",
			    (unsigned long long)x->r.snapshot_lsn, dir);
		status = EX_CORRUPT;
	}
	const struct dd_jscan *s = &x->r.scan;
	if (s->torn)
		printf("  note       torn tail of %llu byte%s at %s offset %llu after LSN %llu: everything before it was "
		       "replayed. dadar truncates it at its next start; `" PROG " truncate %s` does it now\n",
		       (unsigned long long)s->torn_bytes, plural(s->torn_bytes), s->last_segment,
		       (unsigned long long)s->end_offset, (unsigned long long)s->last_lsn, dir);
	if (!s->corrupt && !x->r.mismatch)
		printf("  result     OK: the operators re-derived every journaled output%s\n",
		       s->torn ? " (up to the torn tail)" : "");
	if (x->cfg.summary[0] && status != EX_IO)
		printf("  summary    %s\n", x->cfg.summary);
	if (x->cfg.book_dump[0] && status != EX_IO)
		printf("  book dump  %s\n", x->cfg.book_dump);
out:
	rep_free(x);
	free(x);
	return status;
}

/* ---- main --------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", "dadar-journal", DD_VERSION);
			return 0;
		}
	static const char *const cmds[] = { "verify", "truncate", "dump", "stats", "replay", "matched" };
	const char *cmd, *dir;
	bool known = false;

	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EX_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		known |= strcmp(cmd, cmds[i]) == 0;
	if (!known)
		return say(EX_USAGE, "unknown command '%s': use verify, truncate, dump, stats, replay or matched (see --help)",
			   cmd);
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			if (strcmp(cmd, "replay") == 0) {
				printf("\nreplay builds the operators the journal's config records describe (capacities "
				       "included): no option needs repeating.\ncapacity.* and chain.market, if given, must "
				       "equal the journal's (replay refuses a conflict, naming it); feed.* name the feeds;\n"
				       "--summary and --book-dump are written after the replay; the others are accepted and "
				       "change nothing.\n\n");
				dd_config_usage(stdout);
			}
			return EX_OK;
		}
	if (argc < 3)
		return say(EX_USAGE, "%s needs the journal directory: " PROG " %s DIR", cmd, cmd);
	dir = argv[2];
	if (dir[0] == '-' && dir[1] == '-')
		return say(EX_USAGE, "%s: '%s' is an option, the journal directory comes first: " PROG " %s DIR [options]",
			   cmd, dir, cmd);
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(dir, argc - 3, argv + 3);
	if (strcmp(cmd, "replay") == 0)
		return cmd_replay(dir, argc - 3, argv + 3);
	if (strcmp(cmd, "matched") == 0)
		return cmd_matched(dir, argc - 3, argv + 3);
	if (argc > 3)
		return say(EX_USAGE, "%s takes no options: unexpected '%s'", cmd, argv[3]);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(dir);
	if (strcmp(cmd, "truncate") == 0)
		return cmd_truncate(dir);
	return cmd_stats(dir);
}
