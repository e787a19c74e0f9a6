/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dataplane/journal/jfile.c: the journal scanner, tail truncation and the snapshot
 * loader, on files built from the input in a temporary directory.
 *
 * fuzz-sources: dataplane/journal/jfile.c
 *
 * Input: a mode byte, then a body.
 *   mode & 3 == 0  raw: the body is the whole segment file seg-00000000000000000001.ddj
 *   mode & 3 == 1  a valid header (segment_size: the body after offset 4096, rounded up to pages,
 *                  at least two), then the body at offset 4096, zero-filled to the end
 *   mode & 3 == 2  built: the body is a list of (op, arg) byte pairs; ops append valid records,
 *                  PADs and new segments, or damage what was built (LSN skew, bit flips, holes,
 *                  cuts, header bytes, valid-CRC records of a bad type or size, short PADs, header
 *                  fields changed under a valid CRC), so the scanner's deeper paths are reached
 *   mode & 3 == 3  snapshot: the body is snap-00000000000000000005.dds; with mode bit 2 the
 *                  target fixes its magic, version, LSN, size and CRC so the section parser runs
 *
 * After each scan: no crash or sanitizer report, and the result is consistent: records == callback
 * calls, LSNs handed over consecutive, last_lsn == first_lsn + records - 1, by_type sums to records,
 * never torn and corrupt at once, torn_bytes > 0 exactly when torn, end_offset inside the segment.
 * A torn journal is cut with dd_jtruncate_tail and scanned again: clean, ending at the same LSN. A
 * built journal that nothing damaged must scan clean with exactly the records built. Every input
 * also checks the framing split (check_split_framing()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/journal/jfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                    \
	do {                                                                                        \
		if (!(c)) {                                                                         \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                                    \
		}                                                                                   \
	} while (0)

#define MAX_SEGS 4
#define BUILT_SEG (16 * 1024)

static char g_dir[64];
static char g_err[1024];

/* Files written for the current input, removed before the next one. */
static char g_files[MAX_SEGS + 1][256];
static unsigned g_nfiles;

static void clean_dir(void);

static void remove_dir(void)
{
	clean_dir();
	rmdir(g_dir);
}

static void clean_dir(void)
{
	while (g_nfiles > 0)
		unlink(g_files[--g_nfiles]);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	close(fd);
	CHECK(g_nfiles < MAX_SEGS + 1);
	snprintf(g_files[g_nfiles++], sizeof(g_files[0]), "%s", path);
}

/* ---- scan and check --------------------------------------------------------------------------- */

struct seen {
	uint64_t calls, first, last, by_type[DD_JREC__COUNT];
};

static int on_rec(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct seen *v = ctx;

	CHECK(v->calls == 0 || r->lsn == v->last + 1);
	if (v->calls == 0)
		v->first = r->lsn;
	v->last = r->lsn;
	v->calls++;
	CHECK(r->type > 0 && r->type < DD_JREC__COUNT);
	v->by_type[r->type]++;
	if (r->type == DD_JREC_PAD) {
		CHECK(p == NULL && n == 0);
	} else {
		CHECK(p != NULL && ((uintptr_t)p & 7) == 0 && n == r->len - DD_J_REC_HDR && r->len <= DD_J_MAX_REC);
		volatile uint8_t sink = 0;
		for (size_t i = 0; i < n; i++) /* every byte handed over is readable (ASan) */
			sink ^= p[i];
		(void)sink;
	}
	return 0;
}

static int scan_checked(struct dd_jscan *s, struct seen *v)
{
	int rc;

	memset(v, 0, sizeof(*v));
	rc = dd_jscan_dir(g_dir, 0, on_rec, v, s, g_err, sizeof(g_err));
	CHECK(rc == 0 || rc == -EPROTO);
	if (rc != 0)
		return rc;
	CHECK(v->calls == s->records);
	uint64_t sum = 0;
	for (unsigned k = 0; k < DD_JREC__COUNT; k++) {
		CHECK(s->by_type[k] == v->by_type[k]);
		sum += s->by_type[k];
	}
	CHECK(sum == s->records);
	if (s->records > 0) {
		CHECK(s->last_lsn == s->first_lsn + s->records - 1);
		CHECK(v->first == s->first_lsn && v->last == s->last_lsn);
		CHECK(s->bytes >= s->records * DD_J_REC_HDR);
	} else {
		CHECK(s->first_lsn == 0 && s->last_lsn == 0 && s->bytes == 0);
	}
	CHECK(!(s->torn && s->corrupt));
	CHECK(s->corrupt || s->torn == (s->torn_bytes > 0 || s->short_bytes > 0)); /* a newest segment cut short is torn too */
	CHECK(s->short_bytes == 0 || s->torn || s->corrupt);
	if (s->last_segment[0] != '\0') {
		struct stat st;
		CHECK(stat(s->last_segment, &st) == 0);
		CHECK(s->end_offset >= DD_J_PAGE && s->end_offset <= (uint64_t)st.st_size);
		CHECK(s->end_offset + s->torn_bytes <= (uint64_t)st.st_size);
	}
	CHECK(s->corrupt == (s->corrupt_why[0] != '\0'));
	CHECK((s->torn || s->corrupt) == (g_err[0] != '\0'));
	return 0;
}

static void scan_and_cut(void)
{
	struct dd_jscan s, s2;
	struct seen v;

	if (scan_checked(&s, &v) != 0 || !s.torn)
		return;
	CHECK(dd_jtruncate_tail(&s, g_err, sizeof(g_err)) == 0);
	CHECK(scan_checked(&s2, &v) == 0);
	CHECK(!s2.torn && !s2.corrupt);
	CHECK(s2.records == s.records && s2.last_lsn == s.last_lsn && s2.end_offset == s.end_offset);
	CHECK(strcmp(s2.last_segment, s.last_segment) == 0);
}

/* ---- modes ------------------------------------------------------------------------------------ */

static void run_raw(const uint8_t *body, size_t n)
{
	char path[256];

	dd_jseg_path(path, sizeof(path), g_dir, 1);
	write_file(path, body, n);
	scan_and_cut();
}

static void run_headed(uint8_t mode, const uint8_t *body, size_t n)
{
	static const uint64_t lsns[4] = { 1, 2, 7, UINT64_MAX - 1 };
	uint64_t lsn = lsns[(mode >> 2) & 3];
	size_t size = (DD_J_PAGE + n + DD_J_PAGE - 1) / DD_J_PAGE * DD_J_PAGE;
	struct dd_jseg_header h;
	char path[256];
	uint8_t *file;

	if (size < 2 * DD_J_PAGE)
		size = 2 * DD_J_PAGE;
	file = calloc(1, size);
	CHECK(file != NULL);
	dd_jseg_header_init(&h, size, lsn, 0, 1, "fuzz");
	memcpy(file, &h, sizeof(h));
	memcpy(file + DD_J_PAGE, body, n);
	dd_jseg_path(path, sizeof(path), g_dir, lsn);
	write_file(path, file, size);
	free(file);
	scan_and_cut();
}

struct built {
	uint8_t seg[MAX_SEGS][BUILT_SEG];
	uint64_t first[MAX_SEGS];
	unsigned nseg;
	size_t off;           /* in the current segment */
	size_t last_off, last_len;
	uint64_t next_lsn;
	uint64_t records;
	bool damaged;
};

static void b_segment(struct built *b)
{
	struct dd_jseg_header h;

	uint64_t index = 0;

	if (b->nseg > 0) { /* continue from the previous header, which op 12 may have changed */
		memcpy(&h, b->seg[b->nseg - 1], sizeof(h));
		index = h.segment_index + 1;
	}
	memset(b->seg[b->nseg], 0, BUILT_SEG);
	dd_jseg_header_init(&h, BUILT_SEG, b->next_lsn, index, 1, "fuzz");
	memcpy(b->seg[b->nseg], &h, sizeof(h));
	b->first[b->nseg] = b->next_lsn;
	b->nseg++;
	b->off = DD_J_PAGE;
	b->last_len = 0;
}

static void run_built(const uint8_t *body, size_t n)
{
	static struct built b;
	uint8_t payload[64];
	char path[256];

	memset(&b, 0, sizeof(b));
	b.next_lsn = 1;
	b_segment(&b);
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint8_t op = body[i] & 15, arg = body[i + 1];
		uint8_t *seg = b.seg[b.nseg - 1];
		switch (op) {
		case 3: /* PAD to the end, then a new segment if there is room for one */
			if (BUILT_SEG - b.off >= DD_J_REC_HDR) {
				dd_jrec_put_pad(seg + b.off, b.next_lsn++, (uint32_t)(BUILT_SEG - b.off));
				b.records++;
				b.off = BUILT_SEG;
			}
			/* fall through */
		case 8: /* rotate (without a PAD when op 8) */
			if (b.nseg < MAX_SEGS && b.records > 0 && b.first[b.nseg - 1] != b.next_lsn)
				b_segment(&b);
			break;
		case 4: /* LSN skew: a gap or a repeat */
			if ((int8_t)arg != 0) {
				b.next_lsn += (uint64_t)(int64_t)(int8_t)arg;
				b.damaged = true;
			}
			break;
		case 5: /* flip a bit of the last record */
			if (b.last_len > 0) {
				seg[b.last_off + arg % b.last_len] ^= (uint8_t)(1u << (arg >> 5));
				b.damaged = true;
			}
			break;
		case 6: /* leave a hole of zeros */
			if (arg % 16 != 0 && b.off + 8u * (arg % 16) <= BUILT_SEG) {
				b.off += 8u * (arg % 16);
				b.damaged = true;
			}
			break;
		case 7: /* cut the last record short */
			if (b.last_len > 0) {
				size_t keep = arg % b.last_len;
				memset(seg + b.last_off + keep, 0, b.last_len - keep);
				b.damaged = true;
			}
			break;
		case 9: /* damage the segment header */
			seg[arg % sizeof(struct dd_jseg_header)] ^= (uint8_t)(1u << (arg & 7));
			b.damaged = true;
			break;
		case 10: { /* a record with a valid CRC but any type (0-7) and payload size (0-120) */
			unsigned type = arg & 7;
			size_t len = 8u * ((arg >> 3) & 15);
			uint8_t zero[128] = { 0 };
			if (b.off + dd_jrec_size(len) > BUILT_SEG)
				break;
			b.last_off = b.off;
			b.last_len = dd_jrec_put(seg + b.off, (uint16_t)type, 0, 0, b.next_lsn++, zero, len);
			b.off += b.last_len;
			b.records++;
			if (type == 0 || type >= DD_JREC_PAD ||
			    len < (type == DD_JREC_FEEDPOS ? 24u : type == DD_JREC_OUTPUT ? 128u : 64u))
				b.damaged = true;
			break;
		}
		case 11: { /* a PAD that may stop short of the end of its segment */
			uint32_t len = DD_J_REC_HDR + 8u * (arg % 64);
			if (b.off + len > BUILT_SEG)
				break;
			dd_jrec_put_pad(seg + b.off, b.next_lsn++, len);
			b.last_off = b.off;
			b.last_len = len;
			b.off += len;
			b.records++;
			if (b.off != BUILT_SEG)
				b.damaged = true;
			break;
		}
		case 12: { /* change a header field under a valid header CRC */
			struct dd_jseg_header h;
			memcpy(&h, seg, sizeof(h));
			switch (arg & 3) {
			case 0: h.segment_size += (arg & 4) ? DD_J_PAGE : 8; break;
			case 1: h.first_lsn += 1; break;
			case 2: h.segment_index += 1; break;
			default: h.major += 1; break;
			}
			h.header_crc = 0;
			h.header_crc = dd_crc32c(0, &h, sizeof(h));
			memcpy(seg, &h, sizeof(h));
			/* segment_index is only checked against the previous segment */
			if ((arg & 3) != 2 || b.nseg > 1)
				b.damaged = true;
			break;
		}
		default: { /* a valid record: event, output, feed position, or an oversized payload */
			unsigned type = op % 3 + 1;
			/* the smallest valid payload of each type (jfile.h): an output is 128 bytes */
			size_t len = type == DD_JREC_FEEDPOS ? 24 : type == DD_JREC_OUTPUT ? 128 : 64;
			if (op >= 13) /* 13-15: longer payloads, still valid */
				len += 8u * (arg % 16);
			for (size_t k = 0; k < sizeof(payload); k++)
				payload[k] = (uint8_t)(arg + k);
			uint8_t big[DD_J_MAX_REC] = { 0 };
			memcpy(big, payload, sizeof(payload));
			if (b.off + dd_jrec_size(len) > BUILT_SEG)
				break;
			b.last_off = b.off;
			b.last_len = dd_jrec_put(seg + b.off, (uint16_t)type, arg, arg, b.next_lsn++, big, len);
			b.off += b.last_len;
			b.records++;
			break;
		}
		}
	}
	for (unsigned k = 0; k < b.nseg; k++) {
		dd_jseg_path(path, sizeof(path), g_dir, b.first[k]);
		write_file(path, b.seg[k], BUILT_SEG);
	}
	if (!b.damaged) {
		struct dd_jscan s;
		struct seen v;
		CHECK(scan_checked(&s, &v) == 0);
		CHECK(!s.torn && !s.corrupt);
		CHECK(s.records == b.records && s.last_lsn == b.next_lsn - 1 && s.segments == b.nseg);
		return;
	}
	scan_and_cut();
}

static void run_snap(uint8_t mode, const uint8_t *body, size_t n)
{
	struct dd_jsnap snap;
	unsigned bad;
	char path[256];
	uint8_t *file = malloc(n + 1);
	int rc;

	CHECK(file != NULL);
	memcpy(file, body, n);
	if ((mode & 4) && n >= 40) {
		uint64_t magic = DD_J_SNAP_MAGIC, lsn = 5, size = n;
		uint16_t major = DD_J_SNAP_MAJOR;
		memcpy(file, &magic, 8);
		memcpy(file + 8, &major, 2);
		memcpy(file + 16, &lsn, 8);
		memcpy(file + 24, &size, 8);
		uint32_t crc = dd_crc32c(0, file, n - 8);
		memcpy(file + n - 8, &crc, 4);
	}
	dd_jsnap_path(path, sizeof(path), g_dir, 5);
	write_file(path, file, n);
	rc = dd_jsnap_load(g_dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err));
	CHECK(rc == 0 || rc == -ENOENT);
	if (rc == 0) {
		CHECK(bad == 0 && snap.lsn == 5 && snap.nsections <= DD_J_SNAP_MAX_SECTIONS);
		for (unsigned i = 0; i < snap.nsections; i++) {
			CHECK(snap.section[i].p >= snap.mem && snap.section[i].len <= n);
			CHECK((size_t)(snap.section[i].p - snap.mem) + snap.section[i].len <= n - 8);
			volatile uint8_t sink = 0;
			for (uint64_t k = 0; k < snap.section[i].len; k++)
				sink ^= snap.section[i].p[k];
			(void)sink;
		}
	} else {
		CHECK(bad == 1 && snap.mem == NULL);
	}
	dd_jsnap_free(&snap);
	free(file);
}

/*
 * The framing split (dd_jrec_payload_crc, dd_jrec_crc_patch, dd_jrec_put_crc): on the input's first
 * bytes as a payload, with a word of it rewritten after the register was taken, the record is the
 * one dd_jrec_put writes. Shifts are made once per length.
 */
static void check_split_framing(const uint8_t *data, size_t size)
{
	static struct dd_crc_shift over[257], after[257];
	static bool have_over[257], have_after[257];
	static uint8_t payload[256], a[DD_J_MAX_REC], b[DD_J_MAX_REC];
	size_t n = size > 8 ? (size - 8) % 257 : 0;
	if (n > size - (size > 8 ? 8 : size))
		n = 0;
	memcpy(payload, data + (size > 8 ? 8 : size), n);
	uint64_t lsn = 0;
	memcpy(&lsn, data, size < 8 ? size : 8);
	size_t p = dd_jrec_size(n) - DD_J_REC_HDR;
	if (!have_over[p % 257]) {
		dd_crc_shift_init(&over[p % 257], p);
		have_over[p % 257] = true;
	}
	CHECK(over[p % 257].n == p);
	uint32_t reg = dd_jrec_payload_crc(payload, n);
	if (n >= 8) {
		size_t off = (size_t)(lsn % (n - 7)), tail = p - off - 8;
		if (!have_after[tail]) {
			dd_crc_shift_init(&after[tail], tail);
			have_after[tail] = true;
		}
		uint64_t was, now = lsn * 0x9E3779B97F4A7C15ull;
		memcpy(&was, payload + off, 8);
		memcpy(payload + off, &now, 8);
		reg = dd_jrec_crc_patch(reg, was, now, &after[tail]);
	}
	uint16_t type = (uint16_t)(lsn >> 3), source = (uint16_t)(lsn >> 19);
	uint32_t part = (uint32_t)(lsn >> 32);
	size_t la = dd_jrec_put(a, type, source, part, lsn, payload, n);
	size_t lb = dd_jrec_put_crc(b, type, source, part, lsn, payload, n, reg, &over[p % 257]);
	CHECK(la == lb && memcmp(a, b, la) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0)
		check_split_framing(data, size);
	if (g_dir[0] == '\0') {
		snprintf(g_dir, sizeof(g_dir), "%s/dd-fuzz-jfile-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		CHECK(mkdtemp(g_dir) != NULL);
		atexit(remove_dir); /* the directory, not only its files: nothing left in /dev/shm */
	}
	if (size < 1 || size > 64 * 1024)
		return 0;
	clean_dir();
	switch (data[0] & 3) {
	case 0:
		run_raw(data + 1, size - 1);
		break;
	case 1:
		run_headed(data[0], data + 1, size - 1);
		break;
	case 2:
		run_built(data + 1, size - 1);
		break;
	default:
		run_snap(data[0], data + 1, size - 1);
		break;
	}
	return 0;
}
