/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/journal/jfile.c: CRC32C, record and segment encoding, the journal scanner on
 * clean, torn and corrupt journals, tail truncation, and snapshots.
 *
 * Journals are written here the way the writer does it: a segment file zero-filled to its size,
 * its header from dd_jseg_header_init() at offset 0, records from dd_jrec_put() appended with
 * pwrite() from offset 4096, and a PAD from dd_jrec_put_pad() before rotating. Segments are either
 * sparse (ftruncate) or dense (zeros written), so both the scanner's hole skipping and its reading of
 * real zeros are exercised. Each test gets its own mkdtemp() directory, removed by its teardown.
 *
 * The process picks its CRC32C code once. test_crc32c_table_code_agrees_when_forced runs this
 * binary again with DD_CRC32C=table and --crc-table, which runs only the CRC tests (and checks that
 * the table code is the one in use), so both implementations answer the same known values.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/journal/jfile.h"

#define SEG (16 * 1024) /* segment size of most tests: 12 KiB of records */
#define MAXLSN 70000
#define MAXSEG 16

extern char **environ;

static char g_err[1024];

/* ---- reference CRC -------------------------------------------------------------------------- */

static uint32_t ref_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	crc = ~crc;
	while (n-- > 0) {
		crc ^= *b++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* ---- a test journal ------------------------------------------------------------------------- */

struct tj {
	char dir[64];
	uint64_t seg_size;
	bool dense;
	int fd;                  /* current segment, -1 before the first */
	char path[MAXSEG][256];  /* path of segment i */
	uint64_t nseg;
	uint64_t off;            /* where the next record goes in the current segment */
	uint64_t lsn;            /* the next LSN */
	uint64_t index;          /* the next segment's index */
	/* what was written as valid records, for the expectations */
	uint64_t records, bytes, by_type[DD_JREC__COUNT];
	uint64_t off_of[MAXLSN];
	uint8_t seg_of[MAXLSN];
};

static struct tj *g_tj;

static void rm_files(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Names in `dir`, sorted and joined with spaces, into buf. */
static const char *ls(const char *dir, char *buf, size_t len)
{
	char names[32][256];
	int n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	buf[0] = '\0';
	if (d == NULL)
		return buf;
	while ((de = readdir(d)) != NULL && n < 32)
		if (de->d_name[0] != '.')
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_name);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s", i ? " " : "", names[i]);
	}
	return buf;
}

static int setup(void **state)
{
	(void)state;
	g_tj = calloc(1, sizeof(*g_tj));
	if (g_tj == NULL)
		return -1;
	snprintf(g_tj->dir, sizeof(g_tj->dir), "/tmp/dd-jfile-XXXXXX");
	if (mkdtemp(g_tj->dir) == NULL)
		return -1;
	g_tj->fd = -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (g_tj->fd >= 0)
		close(g_tj->fd);
	rm_files(g_tj->dir);
	rmdir(g_tj->dir);
	free(g_tj);
	g_tj = NULL;
	return 0;
}

/* Forget the journal written so far (files and expectations), keep the directory. */
static void tj_reset(struct tj *t, uint64_t seg_size, bool dense)
{
	if (t->fd >= 0)
		close(t->fd);
	rm_files(t->dir);
	char dir[sizeof(t->dir)];
	memcpy(dir, t->dir, sizeof(dir));
	memset(t, 0, sizeof(*t));
	memcpy(t->dir, dir, sizeof(dir));
	t->fd = -1;
	t->seg_size = seg_size;
	t->dense = dense;
	t->lsn = 1;
}

static void pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	assert_int_equal(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
}

static void tj_header(struct tj *t, const struct dd_jseg_header *h)
{
	pwrite_all(t->fd, h, sizeof(*h), 0);
}

/* Start segment t->nseg at the next LSN: zero-filled file, header, records from 4096. */
static void tj_segment(struct tj *t)
{
	struct dd_jseg_header h;
	char *path = t->path[t->nseg];

	assert_true(t->nseg < MAXSEG);
	if (t->fd >= 0)
		close(t->fd);
	dd_jseg_path(path, sizeof(t->path[0]), t->dir, t->lsn);
	t->fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	assert_true(t->fd >= 0);
	if (t->dense) {
		static const uint8_t zeros[64 * 1024];
		for (uint64_t o = 0; o < t->seg_size; o += sizeof(zeros))
			pwrite_all(t->fd, zeros, t->seg_size - o < sizeof(zeros) ? t->seg_size - o : sizeof(zeros), o);
	} else {
		assert_int_equal(ftruncate(t->fd, (off_t)t->seg_size), 0);
	}
	dd_jseg_header_init(&h, t->seg_size, t->lsn, t->index++, 3000000000ull, "test");
	tj_header(t, &h);
	t->nseg++;
	t->off = DD_J_PAGE;
}

static size_t payload_for(unsigned type, uint64_t lsn, uint8_t *buf)
{
	struct dd_jfeedpos fp;

	switch (type) {
	case DD_JREC_FEEDPOS:
		memset(&fp, 0, sizeof(fp));
		memcpy(fp.session, "SESSION001", 10);
		fp.next_seq = lsn * 10;
		memcpy(buf, &fp, sizeof(fp));
		return sizeof(fp);
	default: {
		/* every byte non-zero, the last one included: a cut record never looks whole; an output is
		 * 128 bytes, an event 64 (jfile.h) */
		size_t n = type == DD_JREC_OUTPUT ? 128 : 64;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((lsn * 31 + i * 7 + type) | 1);
		return n;
	}
	}
}

/* Write record `lsn` of `type` at t->off of the current segment (valid: counted as written). */
static uint64_t tj_rec_at(struct tj *t, unsigned type, uint64_t lsn)
{
	uint8_t payload[128], rec[DD_J_MAX_REC];
	size_t n = payload_for(type, lsn, payload);
	size_t len = dd_jrec_put(rec, (uint16_t)type, 1, 42, lsn, payload, n);
	uint64_t off = t->off;

	assert_true(off + len <= t->seg_size);
	pwrite_all(t->fd, rec, len, off);
	t->off += len;
	if (lsn < MAXLSN) {
		t->off_of[lsn] = off;
		t->seg_of[lsn] = (uint8_t)(t->nseg - 1);
	}
	t->records++;
	t->bytes += len;
	t->by_type[type]++;
	return off;
}

static void tj_pad(struct tj *t)
{
	uint8_t h[DD_J_REC_HDR];
	uint32_t len = (uint32_t)(t->seg_size - t->off);

	assert_int_equal(dd_jrec_put_pad(h, t->lsn, len), len);
	pwrite_all(t->fd, h, sizeof(h), t->off);
	if (t->lsn < MAXLSN) {
		t->off_of[t->lsn] = t->off;
		t->seg_of[t->lsn] = (uint8_t)(t->nseg - 1);
	}
	t->lsn++;
	t->off = t->seg_size;
	t->records++;
	t->bytes += len;
	t->by_type[DD_JREC_PAD]++;
}

static unsigned type_for(uint64_t lsn)
{
	return lsn % 5 == 0 ? DD_JREC_OUTPUT : lsn % 7 == 0 ? DD_JREC_FEEDPOS : DD_JREC_EVENT;
}

/* Append the next record, rotating (with a PAD when there is room for one) when it does not fit. */
static uint64_t tj_add(struct tj *t, unsigned type)
{
	uint8_t payload[128];
	size_t len = dd_jrec_size(payload_for(type, t->lsn, payload));

	if (t->fd < 0)
		tj_segment(t);
	if (t->off + len > t->seg_size) {
		if (t->seg_size - t->off >= DD_J_REC_HDR)
			tj_pad(t);
		tj_segment(t);
	}
	tj_rec_at(t, type, t->lsn);
	return t->lsn++;
}

static void tj_add_n(struct tj *t, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		tj_add(t, type_for(t->lsn));
}

/* Overwrite bytes of segment `seg` (the current one if it is open). */
static void tj_poke(struct tj *t, unsigned seg, uint64_t off, const void *p, size_t n)
{
	int fd = open(t->path[seg], O_RDWR);

	assert_true(fd >= 0);
	pwrite_all(fd, p, n, off);
	close(fd);
}

static void tj_flip(struct tj *t, unsigned seg, uint64_t off)
{
	uint8_t b;
	int fd = open(t->path[seg], O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	pwrite_all(fd, &b, 1, off);
	close(fd);
}

/* ---- scanning -------------------------------------------------------------------------------- */

struct seen {
	uint64_t n, first, last, pads;
	uint64_t bad_order, bad_payload;
	uint64_t stop_at; /* return stop_rc at this LSN */
	int stop_rc;
};

static int collect(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n)
{
	struct seen *v = ctx;
	uint8_t want[128];

	if (v->n == 0)
		v->first = r->lsn;
	else if (r->lsn != v->last + 1)
		v->bad_order++;
	v->last = r->lsn;
	v->n++;
	if (r->type == DD_JREC_PAD) {
		v->pads++;
		if (p != NULL || n != 0)
			v->bad_payload++;
	} else {
		size_t m = payload_for(r->type, r->lsn, want);
		if (p == NULL || n != m || ((uintptr_t)p & 7) != 0 || memcmp(p, want, m) != 0 || r->source != 1 ||
		    r->partition != 42)
			v->bad_payload++;
	}
	return v->stop_at != 0 && r->lsn == v->stop_at ? v->stop_rc : 0;
}

static int scan_from(struct tj *t, uint64_t from, struct dd_jscan *s, struct seen *v)
{
	memset(v, 0, sizeof(*v));
	return dd_jscan_dir(t->dir, from, collect, v, s, g_err, sizeof(g_err));
}

static int scan(struct tj *t, struct dd_jscan *s, struct seen *v)
{
	return scan_from(t, 0, s, v);
}

/* A clean scan of everything t wrote. */
static void assert_clean_scan(struct tj *t, const struct dd_jscan *s, const struct seen *v)
{
	assert_false(s->corrupt);
	assert_false(s->torn);
	assert_int_equal(s->torn_bytes, 0);
	assert_string_equal(g_err, "");
	assert_int_equal(s->segments, t->nseg);
	assert_int_equal(s->records, t->records);
	for (unsigned k = 0; k < DD_JREC__COUNT; k++)
		assert_int_equal(s->by_type[k], t->by_type[k]);
	assert_int_equal(s->first_lsn, t->records ? 1 : 0);
	assert_int_equal(s->last_lsn, t->lsn - 1);
	assert_string_equal(s->last_segment, t->path[t->nseg - 1]);
	assert_int_equal(s->end_offset, t->off);
	assert_int_equal(s->bytes, t->bytes);
	assert_int_equal(v->n, t->records);
	assert_int_equal(v->bad_order, 0);
	assert_int_equal(v->bad_payload, 0);
	assert_int_equal(v->pads, t->by_type[DD_JREC_PAD]);
}

/* Corruption at (segment seg, offset off) where LSN `lsn` was expected, `why` in the reason;
 * the callback saw exactly LSNs 1 .. lsn - 1. */
static void assert_corrupt(struct tj *t, const struct dd_jscan *s, const struct seen *v, unsigned seg, uint64_t off,
			   uint64_t lsn, const char *why)
{
	assert_true(s->corrupt);
	assert_false(s->torn);
	assert_string_equal(s->corrupt_segment, t->path[seg]);
	assert_int_equal(s->corrupt_offset, off);
	assert_int_equal(s->corrupt_lsn, lsn);
	if (strstr(s->corrupt_why, why) == NULL)
		fail_msg("corrupt_why \"%s\" does not say \"%s\"", s->corrupt_why, why);
	assert_int_equal(s->records, lsn - 1);
	assert_int_equal(s->last_lsn, lsn - 1);
	assert_int_equal(v->n, lsn - 1);
	assert_int_equal(v->bad_payload, 0);
	assert_non_null(strstr(g_err, "corrupt"));
	assert_non_null(strstr(g_err, t->path[seg]));
}

/* ---- CRC32C ---------------------------------------------------------------------------------- */

static void test_crc32c_answers_the_standard_check_values(void **state)
{
	uint8_t b[32];

	(void)state;
	assert_int_equal(dd_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(dd_crc32c(0, NULL, 0), 0);
	assert_int_equal(dd_crc32c(0xDEADBEEF, "", 0), 0xDEADBEEF);
	/* RFC 3720 (iSCSI) B.4 */
	memset(b, 0, sizeof(b));
	assert_int_equal(dd_crc32c(0, b, 32), 0x8A9136AA);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(dd_crc32c(0, b, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(dd_crc32c(0, b, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(dd_crc32c(0, b, 32), 0x113FDB5C);
}

static void test_crc32c_equals_a_bitwise_reference_on_64k_and_every_short_length(void **state)
{
	size_t n = 64 * 1024 + 13;
	uint8_t *b = malloc(n);
	uint64_t x = 0x9E3779B97F4A7C15ull;

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	assert_int_equal(dd_crc32c(0, b, 64 * 1024), ref_crc32c(0, b, 64 * 1024));
	assert_int_equal(dd_crc32c(0, b + 1, n - 1), ref_crc32c(0, b + 1, n - 1)); /* unaligned, odd length */
	/* every length up to 3 short blocks and a bit, at every alignment */
	for (size_t len = 0; len < 800; len++)
		for (size_t a = 0; a < 8; a++)
			if (dd_crc32c(0, b + a, len) != ref_crc32c(0, b + a, len))
				fail_msg("length %zu at offset %zu differs", len, a);
	/* continuing a CRC across any split equals the CRC of the whole */
	uint32_t whole = ref_crc32c(0, b, 3 * 8192 + 777);
	for (size_t cut = 0; cut <= 3 * 8192 + 777; cut += 257)
		assert_int_equal(dd_crc32c(dd_crc32c(0, b, cut), b + cut, 3 * 8192 + 777 - cut), whole);
	free(b);
}

static void test_crc32c_uses_sse42_when_the_cpu_has_it(void **state)
{
	(void)state;
	if (!__builtin_cpu_supports("sse4.2")) {
		print_message("SKIP: this CPU has no SSE4.2; the table code is tested by the other CRC tests\n");
		skip();
	}
	assert_string_equal(dd_crc32c_impl(), "sse4.2");
}

static void test_crc32c_uses_the_table_code_when_forced(void **state)
{
	(void)state;
	assert_string_equal(dd_crc32c_impl(), "table");
}

static void test_crc32c_table_code_agrees_when_forced(void **state)
{
	char exe[512], out[128], *argv[] = { exe, "--crc-table", NULL };
	char *envp[256];
	posix_spawn_file_actions_t fa;
	int n = 0, status;
	ssize_t k;
	pid_t pid;

	(void)state;
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(k > 0);
	exe[k] = '\0';
	for (char **e = environ; *e != NULL && n < 254; e++)
		if (strncmp(*e, "DD_CRC32C=", 10) != 0)
			envp[n++] = *e;
	envp[n++] = "DD_CRC32C=table";
	envp[n] = NULL;
	snprintf(out, sizeof(out), "%s/child.out", g_tj->dir);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(posix_spawn(&pid, exe, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char buf[4096] = "";
		FILE *f = fopen(out, "r");
		if (f != NULL) {
			buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
			fclose(f);
		}
		fail_msg("the CRC tests failed with DD_CRC32C=table:\n%s", buf);
	}
}

/* ---- encoding -------------------------------------------------------------------------------- */

static void test_jrec_put_writes_header_payload_zero_padding_and_crc(void **state)
{
	uint8_t buf[48];
	uint8_t want[32] = {
		0x20, 0x00, 0x00, 0x00,                         /* len 32 */
		0x03, 0x00,                                     /* type feedpos */
		0x07, 0x00,                                     /* source 7 */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* lsn */
		0x00, 0x00, 0x00, 0x00,                         /* crc, filled in below */
		0x04, 0x03, 0x02, 0x01,                         /* partition */
		'a', 'b', 'c', 'd', 'e', 0x00, 0x00, 0x00,      /* payload, padding */
	};
	uint32_t crc = ref_crc32c(0, want, sizeof(want));

	(void)state;
	memcpy(want + 16, &crc, 4);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(dd_jrec_size(5), 32);
	assert_int_equal(dd_jrec_put(buf, DD_JREC_FEEDPOS, 7, 0x01020304, 0x1122334455667788ull, "abcde", 5), 32);
	assert_memory_equal(buf, want, sizeof(want));
	for (size_t i = 32; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);
	/* an empty payload is a bare header */
	assert_int_equal(dd_jrec_put(buf, DD_JREC_EVENT, 0, 0, 1, NULL, 0), 24);
}

/* A producer's payload register joined by the journal stage gives the bytes dd_jrec_put() writes,
 * and a CRC the bitwise reference agrees with; so does a register patched for a rewritten word. */
static void test_jrec_put_crc_from_a_producer_register_is_the_same_record(void **state)
{
	static uint8_t payload[256], a[512], b[512];
	uint64_t x = 0x2545F4914F6CDD1Dull;
	static struct dd_crc_shift over, after;

	(void)state;
	for (unsigned round = 0; round < 3000; round++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t n = round < 256 ? round : (size_t)(x % 257);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			payload[i] = (uint8_t)x;
		}
		uint16_t type = (uint16_t)(x >> 8), source = (uint16_t)(x >> 24);
		uint32_t part = (uint32_t)(x >> 32);
		uint64_t lsn = x * 0x9E3779B97F4A7C15ull;
		size_t len = dd_jrec_size(n);
		if (over.n != len - DD_J_REC_HDR || round == 0)
			dd_crc_shift_init(&over, len - DD_J_REC_HDR);
		uint32_t reg = dd_jrec_payload_crc(payload, n);
		/* an 8-byte word of the payload rewritten after the producer's register (a cause) */
		size_t off = n >= 8 ? (size_t)((x >> 40) % (n - 7)) : 0;
		if (n >= 8) {
			uint64_t was, now = x ^ (x << 7);
			memcpy(&was, payload + off, 8);
			memcpy(payload + off, &now, 8);
			dd_crc_shift_init(&after, len - DD_J_REC_HDR - off - 8);
			reg = dd_jrec_crc_patch(reg, was, now, &after);
		}
		memset(a, 0xee, sizeof(a));
		memset(b, 0xee, sizeof(b));
		assert_int_equal(dd_jrec_put(a, type, source, part, lsn, payload, n), len);
		assert_int_equal(dd_jrec_put_crc(b, type, source, part, lsn, payload, n, reg, &over), len);
		if (memcmp(a, b, sizeof(a)) != 0)
			fail_msg("round %u: payload %zu bytes (word at %zu rewritten): the records differ", round, n, off);
		uint32_t crc;
		memcpy(&crc, b + 16, 4);
		memset(b + 16, 0, 4);
		assert_int_equal(crc, ref_crc32c(0, b, len));
	}
}

static void test_pad_header_is_the_header_of_an_all_zero_record(void **state)
{
	static uint8_t full[SEG];
	static const uint8_t zeros[SEG];
	uint8_t h[DD_J_REC_HDR];

	(void)state;
	for (uint32_t len = 24; len <= SEG; len += 8 * 97) {
		memset(full, 0xee, sizeof(full));
		assert_int_equal(dd_jrec_put(full, DD_JREC_PAD, 0, 0, 77, zeros, len - 24), len);
		assert_int_equal(dd_jrec_put_pad(h, 77, len), len);
		assert_memory_equal(h, full, sizeof(h));
	}
}

static void test_segment_header_init_fills_every_field_and_checks(void **state)
{
	struct dd_jseg_header h, z;

	(void)state;
	memset(&h, 0xee, sizeof(h));
	dd_jseg_header_init(&h, 1 << 20, 12345, 6, 2500000000ull, "an-instance-name-longer-than-thirty-two");
	assert_int_equal(h.magic, DD_J_MAGIC);
	assert_memory_equal(&h.magic, "DADARJNL", 8);
	assert_int_equal(h.major, DD_J_MAJOR);
	assert_int_equal(h.minor, DD_J_MINOR);
	assert_int_equal(h.header_size, 4096);
	assert_int_equal(h.segment_size, 1 << 20);
	assert_int_equal(h.first_lsn, 12345);
	assert_int_equal(h.segment_index, 6);
	assert_int_equal(h.tsc_hz, 2500000000ull);
	assert_true(h.created_ns > 1600000000ull * 1000000000ull);
	assert_string_equal(h.instance, "an-instance-name-longer-than-th"); /* 31 + NUL */
	for (size_t i = 0; i < sizeof(h.reserved); i++)
		assert_int_equal(h.reserved[i], 0);
	assert_int_equal(h.pad0, 0);
	z = h;
	z.header_crc = 0;
	assert_int_equal(h.header_crc, ref_crc32c(0, &z, sizeof(z)));
	assert_int_equal(dd_jseg_header_check(&h, g_err, sizeof(g_err)), 0);
}

/* One field of a segment header made wrong, and what a check and a scan say about it. */
struct hdr_case {
	const char *name;
	void (*mutate)(struct dd_jseg_header *h);
	bool recrc;       /* recompute header_crc after mutating */
	int check_rc;     /* dd_jseg_header_check() */
	const char *why;  /* in corrupt_why (NULL: clean or scan error) */
};

static void m_magic(struct dd_jseg_header *h) { h->magic ^= 1; }
static void m_major(struct dd_jseg_header *h) { h->major = DD_J_MAJOR + 1; }
static void m_minor(struct dd_jseg_header *h) { h->minor = DD_J_MINOR + 7; }
static void m_crc(struct dd_jseg_header *h) { h->header_crc ^= 0x100; }
static void m_instance(struct dd_jseg_header *h) { h->instance[3] ^= 1; }
static void m_hsize(struct dd_jseg_header *h) { h->header_size = 8192; }
static void m_ssize_odd(struct dd_jseg_header *h) { h->segment_size += 8; }
static void m_ssize_small(struct dd_jseg_header *h) { h->segment_size = DD_J_PAGE; }
static void m_ssize_file(struct dd_jseg_header *h) { h->segment_size /= 2; } /* the file is longer */
static void m_lsn0(struct dd_jseg_header *h) { h->first_lsn = 0; }
static void m_lsn_name(struct dd_jseg_header *h) { h->first_lsn = 2; }

static const struct hdr_case hdr_cases[] = {
	{ "magic", m_magic, true, -EBADMSG, "magic" },
	{ "major", m_major, true, -EPROTO, NULL },
	{ "minor", m_minor, true, 0, NULL },
	{ "header_crc", m_crc, false, -EBADMSG, "header CRC mismatch" },
	{ "a byte under the CRC", m_instance, false, -EBADMSG, "header CRC mismatch" },
	{ "header_size", m_hsize, true, -EBADMSG, "header_size 8192" },
	{ "segment_size not a page multiple", m_ssize_odd, true, -EBADMSG, "not a multiple of 4096" },
	{ "segment_size of one page", m_ssize_small, true, -EBADMSG, "at least 8192" },
	{ "segment_size not the file size", m_ssize_file, true, 0, "but the file is 16384 bytes" },
	{ "first_lsn 0", m_lsn0, true, -EBADMSG, "first_lsn is 0" },
	{ "first_lsn not the name", m_lsn_name, true, 0, "does not match the file name" },
};

static void test_each_bad_segment_header_field_is_reported(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct dd_jseg_header h;
		int rc;

		print_message("header case: %s\n", c->name);
		tj_reset(t, SEG, false);
		tj_add_n(t, 3);
		dd_jseg_header_init(&h, SEG, 1, 0, 1, "test");
		c->mutate(&h);
		if (c->recrc) {
			h.header_crc = 0;
			h.header_crc = dd_crc32c(0, &h, sizeof(h));
		}
		g_err[0] = '\0';
		assert_int_equal(dd_jseg_header_check(&h, g_err, sizeof(g_err)), c->check_rc);
		assert_true(c->check_rc == 0 || g_err[0] != '\0');
		tj_header(t, &h);
		rc = scan(t, &s, &v);
		if (c->check_rc == -EPROTO) {
			assert_int_equal(rc, -EPROTO);
			assert_non_null(strstr(g_err, t->path[0]));
			assert_non_null(strstr(g_err, "version 3."));
			assert_int_equal(v.n, 0);
		} else if (c->why == NULL) {
			assert_int_equal(rc, 0);
			assert_clean_scan(t, &s, &v);
		} else {
			assert_int_equal(rc, 0);
			assert_corrupt(t, &s, &v, 0, 0, 1, c->why);
			assert_string_equal(s.last_segment, "");
		}
	}
}

/* ---- scanning: clean journals ---------------------------------------------------------------- */

static void test_clean_multi_segment_journal_scans_with_exact_counts(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 500);
	assert_true(t->nseg >= 4);
	assert_true(t->by_type[DD_JREC_PAD] >= 3);
	assert_true(t->by_type[DD_JREC_OUTPUT] > 0 && t->by_type[DD_JREC_FEEDPOS] > 0);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_clean_scan(t, &s, &v);
	assert_int_equal(s.records, 500 + t->by_type[DD_JREC_PAD]);
	assert_int_equal(s.by_type[DD_JREC_OUTPUT], t->by_type[DD_JREC_OUTPUT]);
	assert_int_equal(v.first, 1);
	assert_int_equal(v.last, t->lsn - 1);
	/* and without a callback */
	assert_int_equal(dd_jscan_dir(t->dir, 0, NULL, NULL, &s, g_err, sizeof(g_err)), 0);
	assert_int_equal(s.records, t->records);
	assert_false(s.torn || s.corrupt);
}

static void test_layout_in_the_header_keeps_it_valid_and_reaches_the_scan(void **state)
{
	(void)state;
	struct dd_jseg_header h;
	char why[160];
	dd_jseg_header_init(&h, 1 << 20, 1, 0, 1, "test");
	assert_int_equal(h.nshards, 0);
	dd_jseg_header_set_layout(&h, 3, 2);
	assert_int_equal(h.nshards, 3);
	assert_int_equal(h.nfeeds, 2);
	assert_int_equal(dd_jseg_header_check(&h, why, sizeof(why)), 0);
	h.nshards = 4; /* changed without set_layout: the CRC no longer holds */
	assert_int_equal(dd_jseg_header_check(&h, why, sizeof(why)), -EBADMSG);
}

static void test_from_lsn_hides_earlier_records_and_skips_segments_before_it(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, true);
	tj_add_n(t, 300);
	assert_true(t->nseg > 2);
	assert_int_equal(scan_from(t, 250, &s, &v), 0);
	assert_int_equal(v.first, 250);
	assert_int_equal(v.last, t->lsn - 1);
	assert_int_equal(v.n, t->lsn - 250);
	assert_int_equal(v.bad_order + v.bad_payload, 0);
	/* the segments that end before LSN 250 were not read: only the one holding 250 and later count */
	unsigned seg250 = t->seg_of[250];
	assert_int_equal(s.skipped, seg250);
	assert_int_equal(s.segments, t->nseg);
	uint64_t first_read = 250;
	while (first_read > 1 && t->seg_of[first_read - 1] == seg250)
		first_read--;
	assert_int_equal(s.first_lsn, first_read);
	assert_int_equal(s.records, t->lsn - first_read);
	/* from the start, nothing is skipped */
	assert_int_equal(scan_from(t, 1, &s, &v), 0);
	assert_int_equal(s.skipped, 0);
	assert_int_equal(s.records, t->records);
	assert_int_equal(s.first_lsn, 1);
	assert_int_equal(scan_from(t, t->lsn, &s, &v), 0);
	assert_int_equal(v.n, 0);
	assert_int_equal(s.last_lsn, t->lsn - 1);
}

static void test_negative_callback_return_stops_the_scan_with_that_value(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 300);
	memset(&v, 0, sizeof(v));
	v.stop_at = 200;
	v.stop_rc = -42;
	assert_int_equal(dd_jscan_dir(t->dir, 0, collect, &v, &s, g_err, sizeof(g_err)), -42);
	assert_int_equal(v.n, 200);
	assert_int_equal(v.last, 200);
	assert_non_null(strstr(g_err, "LSN 200"));
}

static void test_rotation_via_pad_continues_in_the_next_segment(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_segment(t);
	tj_add_n(t, 10);
	tj_pad(t);            /* PAD of most of a segment: LSN 11 */
	tj_segment(t);        /* starts at 12 */
	tj_add_n(t, 5);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_clean_scan(t, &s, &v);
	assert_int_equal(s.by_type[DD_JREC_PAD], 1);
	assert_int_equal(s.last_lsn, 16);
	assert_string_equal(s.last_segment, t->path[1]);
	/* the journal may also end with a PAD: the appender must rotate */
	tj_pad(t);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_clean_scan(t, &s, &v);
	assert_int_equal(s.end_offset, SEG);
	assert_int_equal(s.last_lsn, 17);
	/* rotation without a PAD (the rest of segment 2 stays zero) continues too */
	tj_segment(t);
	tj_add_n(t, 3);
	tj_segment(t);
	tj_add_n(t, 3);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_clean_scan(t, &s, &v);
	assert_int_equal(s.segments, 4);
	assert_int_equal(s.last_lsn, 23);
}

static void test_empty_last_segment_after_rotation_is_clean(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 20);
	tj_pad(t);
	tj_segment(t);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_clean_scan(t, &s, &v);
	assert_string_equal(s.last_segment, t->path[1]);
	assert_int_equal(s.end_offset, DD_J_PAGE);
	assert_int_equal(s.last_lsn, 21);
}

static void test_records_straddling_read_chunks_and_a_long_pad_are_read_whole(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, 3 << 20, true);
	tj_segment(t);
	while (t->off < (1200u << 10))
		tj_add(t, type_for(t->lsn));
	tj_pad(t); /* ~1.8 MiB: its CRC is streamed over several reads */
	tj_segment(t);
	tj_add_n(t, 20000); /* 1.7 MiB: crosses a 1 MiB read at some record */
	assert_int_equal(scan(t, &s, &v), 0);
	assert_clean_scan(t, &s, &v);
	assert_true(s.records > 32000);
}

static void test_empty_directory_is_an_empty_clean_journal_and_other_files_are_ignored(void **state)
{
	struct tj *t = g_tj;
	const char *other[] = { "seg-1.ddj", "seg-00000000000000000001.ddj.tmp", "notes.txt",
				"seg-0000000000000000000x.ddj", "seg-99999999999999999999.ddj" };
	struct dd_jscan s;
	struct seen v;
	char path[256];

	(void)state;
	tj_reset(t, SEG, false);
	assert_int_equal(scan(t, &s, &v), 0);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", t->dir, other[i]);
		int fd = open(path, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "junk", 4), 4);
		close(fd);
	}
	assert_int_equal(scan(t, &s, &v), 0);
	assert_int_equal(s.segments, 0);
	assert_int_equal(s.records, 0);
	assert_int_equal(s.first_lsn, 0);
	assert_int_equal(s.last_lsn, 0);
	assert_string_equal(s.last_segment, "");
	assert_int_equal(s.end_offset, 0);
	assert_false(s.torn || s.corrupt);
	assert_int_equal(v.n, 0);
}

static void test_missing_directory_is_enoent(void **state)
{
	struct dd_jscan s;
	struct seen v;
	char dir[128];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/nope", g_tj->dir);
	memset(&v, 0, sizeof(v));
	assert_int_equal(dd_jscan_dir(dir, 0, collect, &v, &s, g_err, sizeof(g_err)), -ENOENT);
	assert_non_null(strstr(g_err, dir));
	assert_int_equal(v.n, 0);
}

/* ---- scanning: torn tails -------------------------------------------------------------------- */

static void test_torn_final_record_cut_at_every_byte_is_torn_and_truncates_clean(void **state)
{
	struct tj *t = g_tj;
	uint8_t payload[64], rec[128], zeros[128] = { 0 }, back[128];
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, true);
	tj_add_n(t, 200);
	uint64_t last = tj_add(t, DD_JREC_EVENT);
	unsigned seg = t->seg_of[last];
	uint64_t o = t->off_of[last];
	size_t len = dd_jrec_put(rec, DD_JREC_EVENT, 1, 42, last, payload, payload_for(DD_JREC_EVENT, last, payload));

	assert_true(seg > 0 && seg == t->nseg - 1);
	for (size_t cut = 0; cut <= len; cut++) {
		tj_poke(t, seg, o, zeros, len);
		if (cut > 0)
			tj_poke(t, seg, o, rec, cut);
		assert_int_equal(scan(t, &s, &v), 0);
		assert_false(s.corrupt);
		assert_string_equal(s.last_segment, t->path[seg]);
		assert_int_equal(v.bad_order + v.bad_payload, 0);
		if (cut == len) { /* whole: clean, ends at it */
			assert_false(s.torn);
			assert_int_equal(s.last_lsn, last);
			assert_int_equal(s.end_offset, o + len);
			continue;
		}
		assert_int_equal(s.last_lsn, last - 1);
		assert_int_equal(v.last, last - 1);
		assert_int_equal(s.end_offset, o);
		if (cut == 0) { /* nothing written: clean, ends at the previous record */
			assert_false(s.torn);
			continue;
		}
		size_t nz = cut;
		while (rec[nz - 1] == 0)
			nz--;
		if (!s.torn || s.torn_bytes != nz)
			fail_msg("cut %zu: torn %d, torn_bytes %llu, expected %zu", cut, s.torn,
				 (unsigned long long)s.torn_bytes, nz);
		assert_non_null(strstr(g_err, "torn"));
		assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), 0);
		int fd = open(t->path[seg], O_RDONLY);
		assert_int_equal(pread(fd, back, len, (off_t)o), (ssize_t)len);
		close(fd);
		assert_memory_equal(back, zeros, len);
		assert_int_equal(scan(t, &s, &v), 0);
		assert_false(s.torn || s.corrupt);
		assert_int_equal(s.last_lsn, last - 1);
		assert_int_equal(s.end_offset, o);
		assert_string_equal(s.last_segment, t->path[seg]);
		assert_int_equal(v.n, last - 1);
	}
}

static void test_partially_zero_torn_tail_counts_to_its_last_nonzero_byte(void **state)
{
	struct tj *t = g_tj;
	uint8_t payload[64], rec[128];
	struct dd_jscan s;
	struct seen v;

	(void)state;
	/* 4 MiB segments, sparse and dense: the stray bytes lie beyond the first 1 MiB read, in a hole */
	for (int dense = 0; dense < 2; dense++) {
		tj_reset(t, 4 << 20, dense);
		tj_add_n(t, 50);
		uint64_t o = t->off;
		/* a record's first 30 bytes, then zeros, then stray bytes far after it */
		dd_jrec_put(rec, DD_JREC_EVENT, 1, 42, t->lsn, payload, payload_for(DD_JREC_EVENT, t->lsn, payload));
		tj_poke(t, 0, o, rec, 30);
		tj_poke(t, 0, o + 3000000, "\x01\x00\x02", 3);
		assert_int_equal(scan(t, &s, &v), 0);
		assert_true(s.torn);
		assert_false(s.corrupt);
		assert_int_equal(s.torn_bytes, 3000003);
		assert_int_equal(s.last_lsn, 50);
		assert_int_equal(s.end_offset, o);
		assert_int_equal(v.n, 50);
		assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), 0);
		assert_int_equal(scan(t, &s, &v), 0);
		assert_clean_scan(t, &s, &v);
	}
}

static void test_nonzero_bytes_after_a_zero_len_in_the_last_segment_are_a_torn_tail(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 10);
	tj_poke(t, 0, SEG - 1, "\x80", 1); /* the very last byte of the segment */
	assert_int_equal(scan(t, &s, &v), 0);
	assert_true(s.torn);
	assert_int_equal(s.torn_bytes, SEG - t->off);
	assert_int_equal(s.end_offset, t->off);
	assert_int_equal(s.last_lsn, 10);
}

static void test_truncate_does_nothing_on_a_clean_journal_and_refuses_a_corrupt_one(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 10);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), 0);
	tj_flip(t, 0, t->off_of[3] + 30);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_true(s.corrupt);
	assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), -EINVAL);
	assert_non_null(strstr(g_err, "corrupt"));
	assert_int_equal(scan(t, &s, &v), 0); /* untouched */
	assert_true(s.corrupt);
	assert_int_equal(s.corrupt_offset, t->off_of[3]);
}

/* ---- scanning: corruption -------------------------------------------------------------------- */

static void test_lsn_gap_is_corruption_at_that_record(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 5);
	uint64_t off = tj_rec_at(t, DD_JREC_EVENT, 7);
	tj_rec_at(t, DD_JREC_EVENT, 8);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, off, 6, "record LSN 7, expected 6: a gap");
	assert_int_equal(s.end_offset, off);
}

static void test_repeated_lsn_is_corruption_at_that_record(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 5);
	uint64_t off = tj_rec_at(t, DD_JREC_EVENT, 5);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, off, 6, "record LSN 5, expected 6: a repeated LSN");
}

static void test_flipped_payload_byte_mid_journal_is_corruption_never_skipped(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, true);
	tj_add_n(t, 300);
	tj_pad(t);
	tj_segment(t);
	tj_add_n(t, 20);
	uint64_t bad = t->lsn - 10;
	unsigned seg = t->seg_of[bad];
	assert_int_equal(seg, t->nseg - 1);
	tj_flip(t, seg, t->off_of[bad] + 40);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, seg, t->off_of[bad], bad, "CRC mismatch");
	char follows[64];
	snprintf(follows, sizeof(follows), "a valid record (LSN %llu) follows", (unsigned long long)bad + 1);
	assert_non_null(strstr(s.corrupt_why, follows));
	assert_int_equal(v.last, bad - 1);
	assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), -EINVAL);
}

static void test_zero_len_with_a_valid_record_after_it_is_corruption(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_add_n(t, 5);
	uint64_t hole = t->off;
	t->off += 4096; /* a page never written, then the next records */
	tj_add_n(t, 3);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, hole, 6, "len 0 ends the data, but a valid record (LSN 6) follows");
}

static void test_records_after_a_hole_up_to_a_page_boundary_are_a_torn_tail(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	/* a commit's pages landed out of order: the rewrite of the partial page was lost (zeros from
	 * the end of the data to the page boundary), the next page with later records was not */
	tj_reset(t, SEG, false);
	tj_add_n(t, 5);
	uint64_t end = t->off;
	t->off = (t->off + DD_J_PAGE) & ~(uint64_t)(DD_J_PAGE - 1);
	t->lsn += 3; /* the records that were in the lost part of the page */
	tj_add_n(t, 4);
	uint64_t last_nz = t->off - 1;
	assert_int_equal(scan(t, &s, &v), 0);
	assert_false(s.corrupt);
	assert_true(s.torn);
	assert_int_equal(s.last_lsn, 5);
	assert_int_equal(s.end_offset, end);
	assert_true(s.torn_bytes > 0 && s.torn_bytes <= last_nz + 1 - end);
	assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), 0);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_false(s.torn);
	assert_false(s.corrupt);
	assert_int_equal(s.last_lsn, 5);
	assert_int_equal(s.end_offset, end);
}

static void test_bad_record_in_a_segment_that_is_not_the_last_is_corruption(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_segment(t);
	tj_add_n(t, 10);
	tj_pad(t);
	tj_segment(t);
	tj_add_n(t, 10);
	/* the last record of segment 0 cut short, as a torn write would: corruption there */
	tj_poke(t, 0, t->off_of[10] + 60, (uint8_t[28]){ 0 }, 28);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, t->off_of[10], 10, "CRC mismatch");
	assert_non_null(strstr(s.corrupt_why, "not the last"));
	assert_string_equal(s.last_segment, t->path[0]);
	assert_int_equal(s.end_offset, t->off_of[10]);
}

static void test_nonzero_byte_after_the_data_of_a_segment_that_is_not_the_last_is_corruption(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	for (int dense = 0; dense < 2; dense++) {
		tj_reset(t, 2 << 20, dense);
		tj_segment(t);
		tj_add_n(t, 10);
		uint64_t end = t->off;
		tj_segment(t); /* rotated without a PAD */
		tj_add_n(t, 10);
		assert_int_equal(scan(t, &s, &v), 0);
		assert_false(s.corrupt);
		tj_poke(t, 0, end + 1500000, "\x01", 1); /* beyond the first 1 MiB read, in a hole */
		assert_int_equal(scan(t, &s, &v), 0);
		assert_true(s.corrupt);
		assert_string_equal(s.corrupt_segment, t->path[0]);
		assert_int_equal(s.corrupt_offset, end + 1500000);
		assert_int_equal(s.corrupt_lsn, 11);
		assert_non_null(strstr(s.corrupt_why, "non-zero byte after the end of the data"));
		assert_int_equal(v.n, 10);
	}
}

static void test_segment_whose_first_lsn_does_not_continue_is_corruption(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_segment(t);
	tj_add_n(t, 10);
	tj_pad(t);
	t->lsn += 2; /* the next segment claims 14 where 12 is due */
	tj_segment(t);
	tj_add_n(t, 5);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 1, 0, 12, "first_lsn 14 does not continue the previous segment, which ends at LSN 11");
	assert_string_equal(s.last_segment, t->path[0]);
	assert_int_equal(s.end_offset, SEG);

	/* a segment_index that skips one is caught too */
	tj_reset(t, SEG, false);
	tj_segment(t);
	tj_add_n(t, 10);
	tj_pad(t);
	t->index++;
	tj_segment(t);
	tj_add_n(t, 5);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 1, 0, 12, "segment_index 2 does not follow the previous segment's 0");
}

static void test_first_record_lsn_differing_from_its_segment_header_is_corruption(void **state)
{
	struct tj *t = g_tj;
	struct dd_jscan s;
	struct seen v;

	(void)state;
	tj_reset(t, SEG, false);
	tj_segment(t);
	tj_add_n(t, 10);
	tj_pad(t);
	tj_segment(t); /* header first_lsn 12 */
	tj_rec_at(t, DD_JREC_EVENT, 13);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 1, DD_J_PAGE, 12, "record LSN 13, expected 12");
}

static void test_valid_crc_with_bad_type_payload_or_pad_length_is_corruption(void **state)
{
	struct tj *t = g_tj;
	uint8_t rec[DD_J_MAX_REC], payload[64] = { 0 };
	struct dd_jscan s;
	struct seen v;
	size_t len;

	(void)state;
	/* unknown type */
	tj_reset(t, SEG, false);
	tj_add_n(t, 4);
	len = dd_jrec_put(rec, 9, 1, 42, 5, payload, 64);
	tj_poke(t, 0, t->off, rec, len);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, t->off, 5, "unknown record type 9");
	/* an event too short to hold a struct dd_event */
	len = dd_jrec_put(rec, DD_JREC_EVENT, 1, 42, 5, payload, 8);
	tj_poke(t, 0, t->off, rec, len);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, t->off, 5, "event record of 32 bytes");
	/* a PAD that stops short of the end of its segment */
	len = dd_jrec_put_pad(rec, 5, 48);
	tj_poke(t, 0, t->off, rec, DD_J_REC_HDR);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_corrupt(t, &s, &v, 0, t->off, 5, "pad record of 48 bytes does not end the segment");
	/* a record over DD_J_MAX_REC that is not a PAD is bad framing: a torn tail here, being last */
	len = dd_jrec_put(rec, DD_JREC_EVENT, 1, 42, 5, NULL, 0);
	uint32_t big = DD_J_MAX_REC + 8;
	memcpy(rec, &big, 4);
	tj_poke(t, 0, t->off, rec, len);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_true(s.torn);
	assert_false(s.corrupt);
	assert_int_equal(s.last_lsn, 4);
}

/* ---- snapshots ------------------------------------------------------------------------------- */

static void write_snap(const char *dir, uint64_t lsn, unsigned nsec)
{
	struct dd_jsnap_writer *w;
	uint8_t data[300];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i + lsn);
	assert_int_equal(dd_jsnap_begin(&w, dir, lsn, g_err, sizeof(g_err)), 0);
	for (unsigned i = 0; i < nsec; i++)
		assert_int_equal(dd_jsnap_section(w, 0x100 + i, data, i * 37 % sizeof(data)), 0);
	assert_int_equal(dd_jsnap_end(w, true, g_err, sizeof(g_err)), 0);
}

static void test_snapshot_round_trip_keeps_every_section(void **state)
{
	const char *dir = g_tj->dir;
	const size_t big = 700 * 1000 + 3; /* larger than the writer's buffer */
	const size_t lens[] = { 0, 1, 7, 8, 13, 4096, big, 5 };
	struct dd_jsnap_writer *w;
	struct dd_jsnap snap;
	unsigned bad = 99;
	char names[256];
	uint8_t *data = malloc(big + 8);

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < big + 8; i++)
		data[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(dd_jsnap_begin(&w, dir, 4242, g_err, sizeof(g_err)), 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(dd_jsnap_section(w, 0xA0 + i, lens[i] ? data + i : NULL, lens[i]), 0);
	assert_int_equal(dd_jsnap_end(w, true, g_err, sizeof(g_err)), 0);
	assert_string_equal(ls(dir, names, sizeof(names)), "snap-00000000000000004242.dds");

	assert_int_equal(dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(bad, 0);
	assert_string_equal(g_err, "");
	assert_int_equal(snap.lsn, 4242);
	assert_int_equal(snap.nsections, 8);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(snap.section[i].tag, 0xA0 + i);
		assert_int_equal(snap.section[i].len, lens[i]);
		if (lens[i] > 0)
			assert_memory_equal(snap.section[i].p, data + i, lens[i]);
	}
	/* exact file size: header, each section's header and padded bytes, trailer */
	struct stat st;
	char path[256];
	uint64_t want = 32 + 8;
	for (unsigned i = 0; i < 8; i++)
		want += 16 + ((lens[i] + 7) & ~(size_t)7);
	dd_jsnap_path(path, sizeof(path), dir, 4242);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, want);
	dd_jsnap_free(&snap);
	assert_null(snap.mem);
	free(data);
}

static void test_newest_valid_snapshot_at_or_below_max_lsn_is_chosen(void **state)
{
	const char *dir = g_tj->dir;
	struct dd_jsnap snap;
	unsigned bad;

	(void)state;
	write_snap(dir, 10, 1);
	write_snap(dir, 20, 2);
	write_snap(dir, 30, 3);
	assert_int_equal(dd_jsnap_load(dir, 25, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(snap.lsn, 20);
	assert_int_equal(snap.nsections, 2);
	assert_int_equal(snap.section[1].tag, 0x101);
	assert_int_equal(snap.section[1].len, 37);
	assert_int_equal(snap.section[1].p[0], (uint8_t)20);
	dd_jsnap_free(&snap);
	assert_int_equal(dd_jsnap_load(dir, 30, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(snap.lsn, 30);
	dd_jsnap_free(&snap);
	assert_int_equal(dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(snap.lsn, 30);
	dd_jsnap_free(&snap);
	assert_int_equal(dd_jsnap_load(dir, 9, &snap, &bad, g_err, sizeof(g_err)), -ENOENT);
	assert_int_equal(bad, 0);
	assert_non_null(strstr(g_err, "no snapshot with LSN <= 9"));
	assert_null(snap.mem);
	dd_jsnap_free(&snap);
}

static void test_truncated_and_crc_bad_snapshots_are_skipped_and_counted(void **state)
{
	const char *dir = g_tj->dir;
	struct dd_jsnap snap;
	struct stat st;
	char p20[256], p30[256], p40[256];
	unsigned bad;
	int fd;

	(void)state;
	write_snap(dir, 10, 2);
	write_snap(dir, 20, 2);
	write_snap(dir, 30, 2);
	write_snap(dir, 40, 2);
	/* 40: truncated by 5 bytes */
	dd_jsnap_path(p40, sizeof(p40), dir, 40);
	assert_int_equal(stat(p40, &st), 0);
	assert_int_equal(truncate(p40, st.st_size - 5), 0);
	/* 30: one body byte flipped */
	dd_jsnap_path(p30, sizeof(p30), dir, 30);
	fd = open(p30, O_RDWR);
	assert_true(fd >= 0);
	pwrite_all(fd, "\xff", 1, 32 + 16 + 3);
	close(fd);
	/* 20: renamed to 25, so its header disagrees with its name */
	dd_jsnap_path(p20, sizeof(p20), dir, 20);
	char p25[256];
	dd_jsnap_path(p25, sizeof(p25), dir, 25);
	assert_int_equal(rename(p20, p25), 0);

	assert_int_equal(dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(snap.lsn, 10);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(g_err, p40)); /* the first one skipped: the newest */
	assert_non_null(strstr(g_err, "truncated"));
	dd_jsnap_free(&snap);
	assert_int_equal(dd_jsnap_load(dir, 39, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(bad, 2);
	assert_non_null(strstr(g_err, p30));
	assert_non_null(strstr(g_err, "CRC mismatch"));
	dd_jsnap_free(&snap);
	assert_int_equal(dd_jsnap_load(dir, 29, &snap, &bad, g_err, sizeof(g_err)), 0);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(g_err, "does not match the file name"));
	dd_jsnap_free(&snap);
	/* nothing valid at all */
	char p10[256];
	dd_jsnap_path(p10, sizeof(p10), dir, 10);
	assert_int_equal(truncate(p10, 20), 0);
	assert_int_equal(dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err)), -ENOENT);
	assert_int_equal(bad, 4);
	assert_non_null(strstr(g_err, "4 skipped"));
	assert_null(snap.mem);
}

static void test_abandoned_snapshot_leaves_no_file(void **state)
{
	const char *dir = g_tj->dir;
	struct dd_jsnap_writer *w;
	struct dd_jsnap snap;
	char names[256];
	unsigned bad;

	(void)state;
	assert_int_equal(dd_jsnap_begin(&w, dir, 7, g_err, sizeof(g_err)), 0);
	assert_string_equal(ls(dir, names, sizeof(names)), "snap-00000000000000000007.dds.tmp");
	assert_int_equal(dd_jsnap_section(w, 1, "state", 5), 0);
	assert_int_equal(dd_jsnap_end(w, false, g_err, sizeof(g_err)), 0);
	assert_string_equal(ls(dir, names, sizeof(names)), "");
	assert_int_equal(dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err)), -ENOENT);
}

/* The end of record `lsn` in its segment (it starts at t->off_of[lsn]). */
static uint64_t rec_end(struct tj *t, uint64_t lsn)
{
	uint8_t payload[128];
	return t->off_of[lsn] + dd_jrec_size(payload_for(type_for(lsn), lsn, payload));
}

static void test_the_newest_segment_cut_short_is_a_torn_tail_that_recovery_mends_at_any_offset(void **state)
{
	struct tj *t = g_tj;
	(void)state;
	/* cut points in the newest segment, relative to its data: inside a record, at a record's
	 * boundary, right after the header page, in the zeros after the data, a page short, and
	 * exactly at the end of the data */
	for (unsigned c = 0; c < 6; c++) {
		tj_reset(t, SEG, false);
		while (t->nseg < 2)
			tj_add(t, type_for(t->lsn));
		tj_add_n(t, 20);
		uint64_t first2 = t->lsn - 21, mid = first2 + 10, end = t->off;
		uint64_t cuts[6] = { t->off_of[mid] + 13, t->off_of[mid], DD_J_PAGE, end + 100, SEG - DD_J_PAGE, end };
		uint64_t cut = cuts[c];
		/* the last record wholly before the cut: everything else of the segment is lost */
		uint64_t last = first2 - 1;
		for (uint64_t l = first2; l < t->lsn; l++)
			if (rec_end(t, l) <= cut)
				last = l;
		print_message("cut at %llu: last whole record %llu\n", (unsigned long long)cut, (unsigned long long)last);
		assert_int_equal(truncate(t->path[1], (off_t)cut), 0);
		struct dd_jscan s;
		struct seen v;
		assert_int_equal(scan(t, &s, &v), 0);
		assert_false(s.corrupt);
		assert_true(s.torn);
		assert_int_equal(s.short_bytes, SEG - cut);
		assert_int_equal(s.segment_size, SEG);
		assert_int_equal(s.last_lsn, last);
		assert_string_equal(s.last_segment, t->path[1]);
		assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), 0);
		struct stat st;
		assert_int_equal(stat(t->path[1], &st), 0);
		assert_int_equal(st.st_size, SEG); /* its size back, zero-filled */
		assert_int_equal(scan(t, &s, &v), 0);
		assert_false(s.corrupt);
		assert_false(s.torn);
		assert_int_equal(s.short_bytes, 0);
		assert_int_equal(s.last_lsn, last);
		assert_int_equal(v.bad_payload, 0);
	}
}

static void test_an_older_segment_cut_short_is_corruption_never_cut(void **state)
{
	struct tj *t = g_tj;
	(void)state;
	tj_reset(t, SEG, false);
	while (t->nseg < 2)
		tj_add(t, type_for(t->lsn));
	tj_add_n(t, 5);
	assert_int_equal(truncate(t->path[0], SEG - 100), 0);
	struct dd_jscan s;
	struct seen v;
	assert_int_equal(scan(t, &s, &v), 0);
	assert_true(s.corrupt);
	assert_false(s.torn);
	assert_string_equal(s.corrupt_segment, t->path[0]);
	assert_non_null(strstr(s.corrupt_why, "only the newest segment may be cut short"));
	assert_int_equal(dd_jtruncate_tail(&s, g_err, sizeof(g_err)), -EINVAL);
	/* and a newest segment longer than its header says is corruption too */
	tj_reset(t, SEG, false);
	tj_add_n(t, 5);
	assert_int_equal(truncate(t->path[0], SEG + DD_J_PAGE), 0);
	assert_int_equal(scan(t, &s, &v), 0);
	assert_true(s.corrupt);
	assert_non_null(strstr(s.corrupt_why, "but the file is"));
}

static void test_too_many_sections_fail_and_leave_no_file(void **state)
{
	const char *dir = g_tj->dir;
	struct dd_jsnap_writer *w;
	char names[256];

	(void)state;
	assert_int_equal(dd_jsnap_begin(&w, dir, 8, g_err, sizeof(g_err)), 0);
	for (unsigned i = 0; i < DD_J_SNAP_MAX_SECTIONS; i++)
		assert_int_equal(dd_jsnap_section(w, i, &i, sizeof(i)), 0);
	assert_int_equal(dd_jsnap_section(w, 99, "x", 1), -ENOSPC);
	assert_int_equal(dd_jsnap_section(w, 100, "x", 1), -ENOSPC); /* sticky */
	assert_int_equal(dd_jsnap_end(w, true, g_err, sizeof(g_err)), -ENOSPC);
	assert_non_null(strstr(g_err, "more than 128 sections"));
	assert_string_equal(ls(dir, names, sizeof(names)), "");
}

static void test_snapshot_in_a_missing_directory_fails_with_the_path(void **state)
{
	struct dd_jsnap_writer *w;
	struct dd_jsnap snap;
	unsigned bad;
	char dir[128];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/nope", g_tj->dir);
	assert_int_equal(dd_jsnap_begin(&w, dir, 1, g_err, sizeof(g_err)), -ENOENT);
	assert_null(w);
	assert_non_null(strstr(g_err, dir));
	assert_int_equal(dd_jsnap_load(dir, UINT64_MAX, &snap, &bad, g_err, sizeof(g_err)), -ENOENT);
	assert_non_null(strstr(g_err, dir));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest crc_table[] = {
		T(test_crc32c_uses_the_table_code_when_forced),
		T(test_crc32c_answers_the_standard_check_values),
		T(test_crc32c_equals_a_bitwise_reference_on_64k_and_every_short_length),
		T(test_pad_header_is_the_header_of_an_all_zero_record),
		T(test_jrec_put_crc_from_a_producer_register_is_the_same_record),
	};
	const struct CMUnitTest tests[] = {
		T(test_crc32c_answers_the_standard_check_values),
		T(test_crc32c_equals_a_bitwise_reference_on_64k_and_every_short_length),
		T(test_crc32c_uses_sse42_when_the_cpu_has_it),
		T(test_crc32c_table_code_agrees_when_forced),
		T(test_jrec_put_writes_header_payload_zero_padding_and_crc),
		T(test_jrec_put_crc_from_a_producer_register_is_the_same_record),
		T(test_pad_header_is_the_header_of_an_all_zero_record),
		T(test_segment_header_init_fills_every_field_and_checks),
		T(test_each_bad_segment_header_field_is_reported),
		T(test_clean_multi_segment_journal_scans_with_exact_counts),
		T(test_layout_in_the_header_keeps_it_valid_and_reaches_the_scan),
		T(test_from_lsn_hides_earlier_records_and_skips_segments_before_it),
		T(test_negative_callback_return_stops_the_scan_with_that_value),
		T(test_rotation_via_pad_continues_in_the_next_segment),
		T(test_empty_last_segment_after_rotation_is_clean),
		T(test_records_straddling_read_chunks_and_a_long_pad_are_read_whole),
		T(test_empty_directory_is_an_empty_clean_journal_and_other_files_are_ignored),
		T(test_missing_directory_is_enoent),
		T(test_torn_final_record_cut_at_every_byte_is_torn_and_truncates_clean),
		T(test_partially_zero_torn_tail_counts_to_its_last_nonzero_byte),
		T(test_nonzero_bytes_after_a_zero_len_in_the_last_segment_are_a_torn_tail),
		T(test_truncate_does_nothing_on_a_clean_journal_and_refuses_a_corrupt_one),
		T(test_lsn_gap_is_corruption_at_that_record),
		T(test_repeated_lsn_is_corruption_at_that_record),
		T(test_flipped_payload_byte_mid_journal_is_corruption_never_skipped),
		T(test_zero_len_with_a_valid_record_after_it_is_corruption),
		T(test_records_after_a_hole_up_to_a_page_boundary_are_a_torn_tail),
		T(test_bad_record_in_a_segment_that_is_not_the_last_is_corruption),
		T(test_nonzero_byte_after_the_data_of_a_segment_that_is_not_the_last_is_corruption),
		T(test_segment_whose_first_lsn_does_not_continue_is_corruption),
		T(test_first_record_lsn_differing_from_its_segment_header_is_corruption),
		T(test_valid_crc_with_bad_type_payload_or_pad_length_is_corruption),
		T(test_snapshot_round_trip_keeps_every_section),
		T(test_newest_valid_snapshot_at_or_below_max_lsn_is_chosen),
		T(test_truncated_and_crc_bad_snapshots_are_skipped_and_counted),
		T(test_abandoned_snapshot_leaves_no_file),
		T(test_too_many_sections_fail_and_leave_no_file),
		T(test_snapshot_in_a_missing_directory_fails_with_the_path),
		T(test_the_newest_segment_cut_short_is_a_torn_tail_that_recovery_mends_at_any_offset),
		T(test_an_older_segment_cut_short_is_corruption_never_cut),
	};

	if (argc == 2 && strcmp(argv[1], "--crc-table") == 0)
		return cmocka_run_group_tests_name("jfile (DD_CRC32C=table)", crc_table, NULL, NULL);
	return cmocka_run_group_tests_name("jfile", tests, NULL, NULL);
}
