/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for shm/telemetry.c (the telemetry segment) and, through popen(), for the figures
 * dadar-lat reads from a segment these tests fill with known values.
 *
 * Every test uses its own instance name, tt-PID-TAG, so that parallel runs never collide, and
 * unlinks its segment at the end (and at the start, in case a crashed run left one). Segments are
 * forged by patching the creator's writable mapping: a dead pid, another major version, sizes that
 * do not fit. The dadar-lat tests skip loudly when $B/dadar-lat (default build/) is not built.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/hdr.h"
#include "shm/telemetry.h"

#define HIST_BYTES 221312u /* dd_hdr_memsize() of 1 ns .. 60 s at 3 digits (shm/hdr.h) */

static const char *const REASONS[] = { "ip_bad_csum", "mold_bad_seq", "itch_empty" };

/* The header rounded up to a cache line, and a slot: what test_segment_size_... derives by hand. */
#define HDR_BYTES 6080u
#define SLOT_BYTES 1408u

/* The book operator's stage: the first after the pipeline's, as dadar registers it. */
#define BOOK DD_TM_STAGE__PIPELINE

/* The pipeline's stages and counters, the book's stage "book", and the three REASONS. */
static void book_layout(struct dd_tm_layout *l)
{
	dd_tm_layout_init(l);
	assert_int_equal(dd_tm_layout_stage(l, "book"), BOOK);
	for (unsigned r = 0; r < 3; r++)
		l->reason[l->nreasons++] = REASONS[r];
}

/* Every name handed out, so that the group teardown removes what a failed test left behind. */
static char g_names[32][DD_TM_INSTANCE];
static unsigned g_nnames;

/* "tt-PID-TAG", and its object removed in case an earlier run crashed with it. */
static const char *inst(const char *tag)
{
	assert_true(g_nnames < 32);
	char *name = g_names[g_nnames++];
	char path[64];
	snprintf(name, DD_TM_INSTANCE, "tt-%ld-%s", (long)getpid(), tag);
	snprintf(path, sizeof(path), "/dadar-%s", name);
	shm_unlink(path);
	return name;
}

static int unlink_all(void **state)
{
	(void)state;
	for (unsigned i = 0; i < g_nnames; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/dadar-%s", g_names[i]);
		shm_unlink(path);
	}
	return 0;
}

static void unlink_inst(const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "/dadar-%s", name);
	shm_unlink(path);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A published segment of `nslots` slots with the three REASONS, or the test fails. */
static void make_seg(struct dd_tm *w, const char *name, unsigned nslots, uint64_t tsc_hz)
{
	char err[256] = "";
	bool replaced = true;
	struct dd_tm_layout l;
	book_layout(&l);
	int rc = dd_tm_create(w, name, nslots, tsc_hz, &l, &replaced, err, sizeof(err));
	if (rc != 0)
		fail_msg("dd_tm_create(%s) = %d: %s", name, rc, err);
	assert_false(replaced);
	dd_tm_publish(w);
}

static int attach(struct dd_tm *r, const char *name, char *err, size_t errlen)
{
	err[0] = '\0';
	return dd_tm_attach(r, name, err, errlen);
}

/* A pid that was just in use and is now certainly free: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0)
		_exit(0);
	assert_int_equal(waitpid(p, NULL, 0), p);
	return p;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" in: %s", needle, hay);
}

/* ---- layout ------------------------------------------------------------------------------- */

static void test_segment_size_is_header_then_slots_then_histograms_on_cache_lines(void **state)
{
	(void)state;
	/*
	 * Hand-derived: the header is 152 bytes of fixed fields, 32 stage and 128 counter entries of 32
	 * bytes and 32 reason names of 24: 6040 bytes (6080 once rounded up to 64); a slot is 1408
	 * (identity 32, 128 counters from offset 64, publish_tsc, 32 reasons: 1352, rounded to 1408); a
	 * histogram HIST_BYTES; as many histograms per slot as stages.
	 */
	assert_int_equal(DD_TM_STAGE__PIPELINE, 4);
	assert_int_equal(DD_TM_C__PIPELINE, 14);
	assert_int_equal(sizeof(struct dd_tm_header), 6040);
	assert_int_equal(sizeof(struct dd_tm_slot), SLOT_BYTES);
	assert_int_equal(dd_hdr_memsize(&dd_tm_hdr_params), HIST_BYTES);
	assert_int_equal(dd_tm_segment_size(1, 5), HDR_BYTES + SLOT_BYTES + 5 * HIST_BYTES);
	assert_int_equal(dd_tm_segment_size(3, 5), HDR_BYTES + 3 * SLOT_BYTES + 15 * HIST_BYTES);
	assert_int_equal(dd_tm_segment_size(3, 4), HDR_BYTES + 3 * SLOT_BYTES + 12 * HIST_BYTES);
	assert_int_equal(dd_tm_segment_size(64, 32), HDR_BYTES + 64 * SLOT_BYTES + 2048 * (size_t)HIST_BYTES);
}

static void test_attach_sees_the_header_slots_and_histograms_the_creator_wrote(void **state)
{
	(void)state;
	const char *name = inst("hdr");
	struct dd_tm w, r;
	char err[256];
	uint64_t before = now_ns();
	make_seg(&w, name, 2, 3000000000u);
	uint64_t after = now_ns();
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	const struct dd_tm_header *h = r.hdr;
	assert_false(r.writer);
	assert_true(atomic_load(&h->magic) == DD_TM_MAGIC);
	assert_int_equal(h->major, DD_TM_MAJOR);
	assert_int_equal(h->minor, DD_TM_MINOR);
	assert_int_equal(h->header_size, sizeof(struct dd_tm_header));
	assert_int_equal(h->segment_size, dd_tm_segment_size(2, 5));
	assert_int_equal(r.size, dd_tm_segment_size(2, 5));
	assert_int_equal(h->pid, getpid());
	assert_true(h->proc_start != 0);
	assert_in_range(h->start_time_ns, before, after);
	assert_int_equal(h->tsc_hz, 3000000000u);
	assert_string_equal(h->instance, name);
	assert_int_equal(h->nslots, 2);
	assert_int_equal(h->nstages, 5);
	assert_int_equal(h->ncounters, DD_TM_C__PIPELINE);
	assert_int_equal(h->nreasons, 3);
	assert_string_equal(h->stage[DD_TM_RX].name, "rx");
	assert_string_equal(h->stage[DD_TM_RING].name, "ring");
	assert_string_equal(h->stage[DD_TM_WIRE].name, "wire_to_decision");
	assert_string_equal(h->stage[DD_TM_JOURNAL].name, "journal");
	assert_string_equal(h->stage[BOOK].name, "book");
	for (unsigned t = 0; t < 5; t++)
		assert_int_equal(h->stage[t].kind, DD_TM_KIND_LATENCY);
	assert_string_equal(h->stage[5].name, "");
	assert_string_equal(h->counter[DD_TM_C_PACKETS].name, "packets");
	assert_int_equal(h->counter[DD_TM_C_PACKETS].kind, DD_TM_KIND_COUNTER);
	assert_string_equal(h->counter[DD_TM_C_RING_USED].name, "ring_used");
	assert_int_equal(h->counter[DD_TM_C_RING_USED].kind, DD_TM_KIND_GAUGE);
	assert_string_equal(h->counter[DD_TM_C_JRN_RELEASED].name, "jrn_released");
	assert_int_equal(h->counter[DD_TM_C_JRN_RELEASED].kind, DD_TM_KIND_COUNTER);
	assert_string_equal(h->counter[DD_TM_C__PIPELINE].name, "");
	assert_string_equal(h->reason_names[0], "ip_bad_csum");
	assert_string_equal(h->reason_names[1], "mold_bad_seq");
	assert_string_equal(h->reason_names[2], "itch_empty");
	assert_string_equal(h->reason_names[3], "");
	assert_int_equal(h->slot_offset, HDR_BYTES);
	assert_int_equal(h->slot_size, SLOT_BYTES);
	assert_int_equal(h->hist_offset, HDR_BYTES + 2 * SLOT_BYTES);
	assert_int_equal(h->hist_size, HIST_BYTES);
	assert_int_equal(atomic_load(&h->state), DD_TM_RUNNING);
	assert_int_equal(atomic_load(&h->exit_time_ns), 0);

	/* slots and histograms where the offsets say, initialised and empty */
	assert_ptr_equal(dd_tm_slot(&r, 1), (const char *)h + HDR_BYTES + SLOT_BYTES);
	/* histogram (1, wire_to_decision) is number 1 * 5 + 2 */
	assert_ptr_equal(dd_tm_hist(&r, 1, DD_TM_WIRE),
			 (const char *)h + HDR_BYTES + 2 * SLOT_BYTES + 7 * (size_t)HIST_BYTES);
	for (unsigned s = 0; s < 2; s++) {
		for (unsigned i = 0; i < DD_TM_MAX_COUNTERS; i++)
			assert_int_equal(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, s), i)), 0);
		for (unsigned t = 0; t < 5; t++) {
			const struct dd_hdr *hh = dd_tm_hist(&r, s, t);
			assert_int_equal(dd_hdr_check(hh, h->hist_size), 0);
			assert_int_equal(dd_hdr_total(hh), 0);
			assert_int_equal(hh->highest, dd_tm_hdr_params.highest);
		}
	}
	/* the reader's mapping shows what the writer records */
	dd_hdr_record(dd_tm_hist(&w, 1, DD_TM_RING), 1234);
	assert_int_equal(dd_hdr_total(dd_tm_hist(&r, 1, DD_TM_RING)), 1);
	assert_int_equal(dd_hdr_max(dd_tm_hist(&r, 1, DD_TM_RING)), 1234);
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void test_segment_mode_is_0640_even_under_umask_077(void **state)
{
	(void)state;
	const char *name = inst("mode");
	char path[64];
	struct stat st;
	struct dd_tm w;
	mode_t old = umask(077);
	make_seg(&w, name, 1, 1000000000u);
	umask(old);
	snprintf(path, sizeof(path), "/dev/shm/dadar-%s", name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

/* ---- refusals ----------------------------------------------------------------------------- */

static void test_attach_before_publish_is_refused_as_not_published(void **state)
{
	(void)state;
	const char *name = inst("unpub");
	struct dd_tm w, r;
	char err[256];
	bool replaced;
	struct dd_tm_layout lay;
	book_layout(&lay);
	assert_int_equal(dd_tm_create(&w, name, 1, 1000000000u, &lay, &replaced, err, sizeof(err)), 0);
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EPROTO);
	assert_null(r.hdr);
	assert_contains(err, "not a published");
	dd_tm_publish(&w);
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void test_second_create_while_the_owner_lives_fails_naming_instance_and_pid(void **state)
{
	(void)state;
	const char *name = inst("twice");
	struct dd_tm w, w2;
	char err[256] = "", want[64];
	bool replaced = true;
	make_seg(&w, name, 1, 1000000000u);
	struct dd_tm_layout lay;
	book_layout(&lay);
	assert_int_equal(dd_tm_create(&w2, name, 1, 1000000000u, &lay, &replaced, err, sizeof(err)), -EEXIST);
	assert_false(replaced);
	assert_null(w2.hdr);
	assert_contains(err, name);
	snprintf(want, sizeof(want), "pid %ld", (long)getpid());
	assert_contains(err, want);
	/* and the first segment is untouched */
	assert_true(atomic_load(&w.hdr->magic) == DD_TM_MAGIC);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void test_a_segment_being_created_by_a_live_process_is_not_taken(void **state)
{
	(void)state;
	const char *name = inst("half");
	char path[80], err[256] = "";
	snprintf(path, sizeof(path), "/dadar-%s", name);
	/* another starter that has created and locked the object but not yet sized or filled it */
	int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	struct dd_tm w;
	bool replaced = false;
	struct dd_tm_layout lay;
	book_layout(&lay);
	assert_int_equal(dd_tm_create(&w, name, 1, 1000000000u, &lay, &replaced, err, sizeof(err)), -EEXIST);
	assert_contains(err, "starting in another process");
	assert_false(replaced);
	close(fd);
	unlink_inst(name);
}

static void test_segment_of_a_dead_owner_is_replaced(void **state)
{
	(void)state;
	const char *name = inst("stale");
	struct dd_tm w, w2, r;
	char err[256];
	bool replaced = false;
	make_seg(&w, name, 1, 1000000000u);
	/* the owner's death: its pid is gone and the kernel dropped its lock */
	w.hdr->pid = dead_pid();
	assert_int_equal(flock(w.fd, LOCK_UN), 0);
	dd_hdr_record(dd_tm_hist(&w, 0, DD_TM_RX), 5);
	struct dd_tm_layout lay;
	book_layout(&lay);
	assert_int_equal(dd_tm_create(&w2, name, 2, 2000000000u, &lay, &replaced, err, sizeof(err)), 0);
	assert_true(replaced);
	dd_tm_publish(&w2);
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	assert_int_equal(r.hdr->pid, getpid());
	assert_int_equal(r.hdr->nslots, 2);
	assert_int_equal(r.hdr->tsc_hz, 2000000000u);
	assert_int_equal(dd_hdr_total(dd_tm_hist(&r, 0, DD_TM_RX)), 0);
	dd_tm_detach(&r);
	dd_tm_close(&w, false);
	dd_tm_close(&w2, true);
	unlink_inst(name);
}

static void test_major_version_mismatch_is_refused_with_a_message_saying_so(void **state)
{
	(void)state;
	const char *name = inst("major");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 1, 1000000000u);
	w.hdr->major = DD_TM_MAJOR + 1;
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EPROTO);
	assert_null(r.hdr);
	assert_contains(err, "version mismatch");
	assert_contains(err, "telemetry v4.0, this reader knows v3.x");
	/* a segment of the fixed-field layout (v1) is not misread as described stages and counters */
	w.hdr->major = 1;
	w.hdr->minor = 1;
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EPROTO);
	assert_null(r.hdr);
	assert_contains(err, "telemetry v1.1, this reader knows v3.x");
	/* a minor version is compatible by definition */
	w.hdr->major = DD_TM_MAJOR;
	w.hdr->minor = DD_TM_MINOR + 7;
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void truncate_inst(const char *name, off_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/dadar-%s", name);
	int fd = shm_open(path, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, len), 0);
	close(fd);
}

static void test_truncated_object_is_refused_as_malformed(void **state)
{
	(void)state;
	const char *name = inst("trunc");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 2, 1000000000u);
	size_t size = w.size;
	dd_tm_close(&w, false); /* no access through the old mapping past the new end */
	truncate_inst(name, (off_t)(size - 4096));
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	assert_null(r.hdr);
	assert_contains(err, name);
	truncate_inst(name, 100); /* smaller than a header */
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	assert_contains(err, "too small");
	unlink_inst(name);
}

static void test_attach_rejects_region_sizes_that_wrap_around_when_multiplied(void **state)
{
	(void)state;
	const char *name = inst("wrap");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 1, 1000000000u);
	/* 1 slot x 4 stages x 2^62 bytes is 2^64: 0 in 64-bit arithmetic, so "fits" in any object */
	w.hdr->hist_size = 1ull << 62;
	int rc = attach(&r, name, err, sizeof(err));
	if (rc == 0)
		dd_tm_detach(&r);
	/* 64 slots x 2^58 bytes and 64 x 4 histograms x 2^56 bytes wrap the same way */
	w.hdr->nslots = 64;
	w.hdr->slot_size = 1ull << 58;
	w.hdr->hist_size = 1ull << 56;
	int rc2 = attach(&r, name, err, sizeof(err));
	if (rc2 == 0)
		dd_tm_detach(&r);
	dd_tm_close(&w, false);
	unlink_inst(name);
	assert_int_equal(rc, -EBADMSG);
	assert_int_equal(rc2, -EBADMSG);
}

static void test_attach_to_a_missing_instance_fails_naming_it(void **state)
{
	(void)state;
	const char *name = inst("none");
	struct dd_tm r;
	char err[256];
	assert_int_equal(attach(&r, name, err, sizeof(err)), -ENOENT);
	assert_null(r.hdr);
	assert_contains(err, name);
}

/* ---- described stages and counters -------------------------------------------------------- */

static void test_layout_init_describes_the_pipeline_stages_and_counters_at_their_enum_indexes(void **state)
{
	(void)state;
	struct dd_tm_layout l;
	memset(&l, 0xa5, sizeof(l));
	dd_tm_layout_init(&l);
	assert_int_equal(l.nstages, 4);
	assert_string_equal(l.stage[DD_TM_RX], "rx");
	assert_string_equal(l.stage[DD_TM_RING], "ring");
	assert_string_equal(l.stage[DD_TM_WIRE], "wire_to_decision");
	assert_string_equal(l.stage[DD_TM_JOURNAL], "journal");
	assert_int_equal(l.ncounters, 14);
	static const char *const want[] = { "packets", "bytes", "events", "gaps", "missing", "duplicates",
					    "ring_used", "ring_high_water", "ring_size", "ring_full",
					    "jrn_lsn_written", "jrn_lsn_durable", "jrn_commits", "jrn_released" };
	for (unsigned i = 0; i < 14; i++) {
		assert_string_equal(l.counter[i].name, want[i]);
		bool gauge = i == DD_TM_C_RING_USED || i == DD_TM_C_RING_HIGH_WATER || i == DD_TM_C_RING_SIZE ||
			     i == DD_TM_C_JRN_LSN_WRITTEN || i == DD_TM_C_JRN_LSN_DURABLE;
		assert_int_equal(l.counter[i].kind, gauge ? DD_TM_KIND_GAUGE : DD_TM_KIND_COUNTER);
	}
	assert_int_equal(l.nreasons, 0);
}

static void test_layout_add_returns_the_next_index_and_refuses_bad_or_duplicate_names(void **state)
{
	(void)state;
	struct dd_tm_layout l;
	dd_tm_layout_init(&l);
	assert_int_equal(dd_tm_layout_stage(&l, "book"), 4);
	assert_int_equal(dd_tm_layout_stage(&l, "fraud"), 5);
	assert_int_equal(dd_tm_layout_counter(&l, "alerts", DD_TM_KIND_COUNTER), 14);
	assert_int_equal(dd_tm_layout_counter(&l, "open_cases", DD_TM_KIND_GAUGE), 15);
	/* 23 characters fit a 24-byte field with its NUL; 24 do not */
	assert_int_equal(dd_tm_layout_stage(&l, "abcdefghijklmnopqrstuvw"), 6);
	assert_int_equal(dd_tm_layout_stage(&l, "abcdefghijklmnopqrstuvwx"), -EINVAL);
	assert_int_equal(dd_tm_layout_counter(&l, "abcdefghijklmnopqrstuvwx", DD_TM_KIND_COUNTER), -EINVAL);
	assert_int_equal(dd_tm_layout_stage(&l, ""), -EINVAL);
	assert_int_equal(dd_tm_layout_stage(&l, NULL), -EINVAL);
	assert_int_equal(dd_tm_layout_counter(&l, "", DD_TM_KIND_GAUGE), -EINVAL);
	/* names already used, the pipeline's included */
	assert_int_equal(dd_tm_layout_stage(&l, "rx"), -EINVAL);
	assert_int_equal(dd_tm_layout_stage(&l, "fraud"), -EINVAL);
	assert_int_equal(dd_tm_layout_counter(&l, "packets", DD_TM_KIND_COUNTER), -EINVAL);
	assert_int_equal(dd_tm_layout_counter(&l, "alerts", DD_TM_KIND_GAUGE), -EINVAL);
	/* a counter is a counter or a gauge */
	assert_int_equal(dd_tm_layout_counter(&l, "lat", DD_TM_KIND_LATENCY), -EINVAL);
	assert_int_equal(dd_tm_layout_counter(&l, "zero", 0), -EINVAL);
	/* nothing refused was added */
	assert_int_equal(l.nstages, 7);
	assert_int_equal(l.ncounters, 16);
}

static void test_layout_add_reports_enospc_once_a_table_is_full(void **state)
{
	(void)state;
	struct dd_tm_layout l;
	dd_tm_layout_init(&l);
	static char sn[DD_TM_MAX_STAGES][16], cn[DD_TM_MAX_COUNTERS][16];
	for (unsigned i = DD_TM_STAGE__PIPELINE; i < DD_TM_MAX_STAGES; i++) {
		snprintf(sn[i], sizeof(sn[i]), "op%u", i);
		assert_int_equal(dd_tm_layout_stage(&l, sn[i]), (int)i);
	}
	assert_int_equal(dd_tm_layout_stage(&l, "one_too_many"), -ENOSPC);
	for (unsigned i = DD_TM_C__PIPELINE; i < DD_TM_MAX_COUNTERS; i++) {
		snprintf(cn[i], sizeof(cn[i]), "c%u", i);
		assert_int_equal(dd_tm_layout_counter(&l, cn[i], i % 2 ? DD_TM_KIND_GAUGE : DD_TM_KIND_COUNTER), (int)i);
	}
	assert_int_equal(dd_tm_layout_counter(&l, "one_too_many", DD_TM_KIND_COUNTER), -ENOSPC);
	assert_int_equal(l.nstages, DD_TM_MAX_STAGES);
	assert_int_equal(l.ncounters, DD_TM_MAX_COUNTERS);

	/* a full layout is still one dd_tm_create() takes: 32 histograms per slot */
	const char *name = inst("full");
	struct dd_tm w, r;
	char err[256] = "";
	bool replaced;
	int rc = dd_tm_create(&w, name, 1, 1000000000u, &l, &replaced, err, sizeof(err));
	if (rc != 0)
		fail_msg("dd_tm_create: %d: %s", rc, err);
	assert_int_equal(w.size, dd_tm_segment_size(1, DD_TM_MAX_STAGES));
	dd_tm_publish(&w);
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	assert_int_equal(dd_tm_stage_find(&r, "op31"), 31);
	assert_int_equal(dd_tm_counter_find(&r, "c63"), 63);
	assert_int_equal(r.hdr->counter[63].kind, DD_TM_KIND_GAUGE);
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void test_operator_stage_and_counter_round_trip_through_create_attach_and_find(void **state)
{
	(void)state;
	const char *name = inst("ops");
	struct dd_tm_layout l;
	dd_tm_layout_init(&l);
	int book = dd_tm_layout_stage(&l, "book");
	int fraud = dd_tm_layout_stage(&l, "fraud_score");
	int alerts = dd_tm_layout_counter(&l, "fraud_alerts", DD_TM_KIND_COUNTER);
	int open = dd_tm_layout_counter(&l, "windows_open", DD_TM_KIND_GAUGE);
	assert_int_equal(book, 4);
	assert_int_equal(fraud, 5);
	assert_int_equal(alerts, 14);
	assert_int_equal(open, 15);
	l.reason[l.nreasons++] = "ip_bad_csum";
	struct dd_tm w, r;
	char err[256] = "";
	bool replaced;
	assert_int_equal(dd_tm_create(&w, name, 2, 1000000000u, &l, &replaced, err, sizeof(err)), 0);
	/* the writer finds them in the segment it created, before publication too */
	assert_int_equal(dd_tm_stage_find(&w, "fraud_score"), fraud);
	assert_int_equal(dd_tm_counter_find(&w, "windows_open"), open);
	dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 1), (unsigned)alerts), 17);
	dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 1), (unsigned)open), 3);
	dd_hdr_record(dd_tm_hist(&w, 1, (unsigned)fraud), 4321);
	dd_tm_publish(&w);

	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	const struct dd_tm_header *h = r.hdr;
	assert_int_equal(h->nstages, 6);
	assert_int_equal(h->ncounters, 16);
	assert_int_equal(h->nreasons, 1);
	assert_int_equal(r.size, dd_tm_segment_size(2, 6));
	assert_int_equal(dd_tm_stage_find(&r, "rx"), DD_TM_RX);
	assert_int_equal(dd_tm_stage_find(&r, "journal"), DD_TM_JOURNAL);
	assert_int_equal(dd_tm_stage_find(&r, "book"), book);
	assert_int_equal(dd_tm_stage_find(&r, "fraud_score"), fraud);
	assert_int_equal(dd_tm_stage_find(&r, "fraud"), -ENOENT);
	assert_int_equal(dd_tm_stage_find(&r, "fraud_alerts"), -ENOENT); /* a counter, not a stage */
	assert_int_equal(dd_tm_stage_find(&r, "abcdefghijklmnopqrstuvwxyz"), -ENOENT);
	assert_int_equal(dd_tm_counter_find(&r, "packets"), DD_TM_C_PACKETS);
	assert_int_equal(dd_tm_counter_find(&r, "jrn_released"), DD_TM_C_JRN_RELEASED);
	assert_int_equal(dd_tm_counter_find(&r, "fraud_alerts"), alerts);
	assert_int_equal(dd_tm_counter_find(&r, "windows_open"), open);
	assert_int_equal(dd_tm_counter_find(&r, "book"), -ENOENT);
	assert_string_equal(dd_tm_stage_name_at(&r, (unsigned)fraud), "fraud_score");
	assert_string_equal(dd_tm_stage_name_at(&r, DD_TM_WIRE), "wire_to_decision");
	assert_null(dd_tm_stage_name_at(&r, 6));
	assert_int_equal(h->stage[fraud].kind, DD_TM_KIND_LATENCY);
	assert_int_equal(h->counter[alerts].kind, DD_TM_KIND_COUNTER);
	assert_int_equal(h->counter[open].kind, DD_TM_KIND_GAUGE);
	assert_int_equal(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, 1), (unsigned)alerts)), 17);
	assert_int_equal(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, 1), (unsigned)open)), 3);
	assert_int_equal(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, 0), (unsigned)alerts)), 0);
	assert_int_equal(dd_hdr_total(dd_tm_hist(&r, 1, (unsigned)fraud)), 1);
	assert_int_equal(dd_hdr_total(dd_tm_hist(&r, 1, (unsigned)book)), 0);
	assert_int_equal(dd_hdr_total(dd_tm_hist(&r, 0, (unsigned)fraud)), 0);
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

/* dd_tm_create(`l`) fails with -EINVAL, a message holding `msg`, and leaves no segment behind. */
static void expect_layout_refused(const char *name, unsigned nslots, const struct dd_tm_layout *l, const char *msg)
{
	struct dd_tm w, r;
	char err[256] = "";
	bool replaced;
	assert_int_equal(dd_tm_create(&w, name, nslots, 1000000000u, l, &replaced, err, sizeof(err)), -EINVAL);
	assert_null(w.hdr);
	assert_contains(err, msg);
	assert_int_equal(attach(&r, name, err, sizeof(err)), -ENOENT);
}

static void test_create_refuses_a_layout_over_the_limits_naming_the_limit(void **state)
{
	(void)state;
	const char *name = inst("limits");
	struct dd_tm_layout l;
	book_layout(&l);
	expect_layout_refused(name, DD_TM_MAX_SLOTS + 1, &l, "DD_TM_MAX_SLOTS");
	expect_layout_refused(name, 0, &l, "DD_TM_MAX_SLOTS");
	/* a layout filled by hand past its arrays' counts */
	l.nstages = DD_TM_MAX_STAGES + 1;
	expect_layout_refused(name, 1, &l, "DD_TM_MAX_STAGES");
	book_layout(&l);
	l.ncounters = DD_TM_MAX_COUNTERS + 1;
	expect_layout_refused(name, 1, &l, "DD_TM_MAX_COUNTERS");
	book_layout(&l);
	l.nreasons = DD_TM_MAX_REASONS + 1;
	expect_layout_refused(name, 1, &l, "DD_TM_MAX_REASONS");
	/* and what dd_tm_layout_*() would have refused */
	book_layout(&l);
	l.stage[4] = "rx";
	expect_layout_refused(name, 1, &l, "'rx' is described twice");
	book_layout(&l);
	l.counter[l.ncounters].name = "abcdefghijklmnopqrstuvwxyz";
	l.counter[l.ncounters++].kind = DD_TM_KIND_COUNTER;
	expect_layout_refused(name, 1, &l, "DD_TM_NAME");
	book_layout(&l);
	l.counter[l.ncounters].name = "lat";
	l.counter[l.ncounters++].kind = DD_TM_KIND_LATENCY;
	expect_layout_refused(name, 1, &l, "DD_TM_KIND_COUNTER or DD_TM_KIND_GAUGE");
	/* the pipeline's entries lead, so that the enum indexes hold in every segment */
	memset(&l, 0, sizeof(l));
	l.stage[l.nstages++] = "book";
	expect_layout_refused(name, 1, &l, "dd_tm_layout_init()");
	book_layout(&l);
	l.counter[DD_TM_C_EVENTS].name = "evts";
	expect_layout_refused(name, 1, &l, "'evts' where the pipeline's 'events' belongs");
}

static void test_attach_refuses_tables_with_unterminated_empty_or_duplicate_names(void **state)
{
	(void)state;
	const char *name = inst("tables");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 1, 1000000000u);
	struct dd_tm_header *h = w.hdr;
	memset(h->counter[3].name, 'x', DD_TM_NAME);
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	assert_contains(err, "counter 3 has an empty or unterminated name");
	strcpy(h->counter[3].name, "gaps");
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	dd_tm_detach(&r);
	strcpy(h->stage[BOOK].name, "ring");
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	assert_contains(err, "stage 'ring' is described twice");
	h->stage[BOOK].name[0] = '\0';
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	assert_contains(err, "stage 4 has an empty or unterminated name");
	strcpy(h->stage[BOOK].name, "book");
	h->ncounters = DD_TM_MAX_COUNTERS + 1;
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	h->ncounters = DD_TM_C__PIPELINE;
	h->nstages = DD_TM_MAX_STAGES + 1;
	assert_int_equal(attach(&r, name, err, sizeof(err)), -EBADMSG);
	h->nstages = 5;
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

/* ---- lifecycle and helpers ---------------------------------------------------------------- */

static void test_close_as_exited_marks_the_state_and_exit_time_for_readers(void **state)
{
	(void)state;
	const char *name = inst("close");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 1, 1000000000u);
	dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 0), DD_TM_C_EVENTS), 77);
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	uint64_t before = now_ns();
	dd_tm_close(&w, true);
	uint64_t after = now_ns();
	assert_null(w.hdr);
	assert_int_equal(atomic_load(&r.hdr->state), DD_TM_EXITED);
	assert_in_range(atomic_load(&r.hdr->exit_time_ns), before, after);
	dd_tm_detach(&r);
	/* the segment stays for readers after its creator closed it */
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	assert_int_equal(atomic_load(&r.hdr->state), DD_TM_EXITED);
	assert_int_equal(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, 0), DD_TM_C_EVENTS)), 77);
	dd_tm_detach(&r);
	unlink_inst(name);
}

static void test_close_without_exit_leaves_the_state_running(void **state)
{
	(void)state;
	const char *name = inst("abort");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 1, 1000000000u);
	dd_tm_close(&w, false);
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	assert_int_equal(atomic_load(&r.hdr->state), DD_TM_RUNNING);
	assert_int_equal(atomic_load(&r.hdr->exit_time_ns), 0);
	dd_tm_detach(&r);
	unlink_inst(name);
}

static uint64_t conv(uint64_t hz, uint64_t ticks)
{
	struct dd_tsc_conv c;
	dd_tsc_conv_init(&c, hz);
	return dd_tsc_to_ns(&c, ticks);
}

static void test_tsc_conversion_is_exact_when_the_nanoseconds_are_whole(void **state)
{
	(void)state;
	assert_int_equal(conv(3000000000u, 3000), 1000);
	assert_int_equal(conv(3000000000u, 3), 1);
	assert_int_equal(conv(3000000000u, 3000000000u), 1000000000u);
	assert_int_equal(conv(2500000000u, 2500), 1000);
	assert_int_equal(conv(2500000000u, 5), 2);
	assert_int_equal(conv(2600000000u, 2600), 1000);
	assert_int_equal(conv(1000000000u, 123456789), 123456789);
	assert_int_equal(conv(2000000000u, 7), 4); /* 3.5 ns: rounded to the nearest nanosecond */
	assert_int_equal(conv(3000000000u, 0), 0);
	assert_int_equal(conv(0, 12345), 0); /* an unknown frequency converts everything to 0 */
}

static void test_tsc_conversion_rounds_to_the_nearest_nanosecond(void **state)
{
	(void)state;
	static const uint64_t hz[] = { 1000000000u, 2194843000u, 2500000000u, 2600000000u, 2994373000u,
				       3000000000u, 3700000001u, 4999999999u };
	uint64_t x = 88172645463325252ull;
	for (unsigned i = 0; i < sizeof(hz) / sizeof(hz[0]); i++)
		for (unsigned k = 0; k < 20000; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* small values, then latencies up to 2^40 ticks (minutes at any of these clocks) */
			uint64_t t = k < 1000 ? k : x >> 24;
			uint64_t ns = conv(hz[i], t);
			/* in units of 1 / hz ns: exact = t * 1e9, got = ns * hz */
			__int128 exact = (__int128)t * 1000000000, got = (__int128)ns * hz[i];
			__int128 diff = got > exact ? got - exact : exact - got;
			/* |ns - exact| <= 1/2, with 1/1024 ns of slack for ties the fixed-point
			 * multiplier cannot tell apart */
			if (diff * 1024 > (__int128)hz[i] * 513)
				fail_msg("%llu ticks at %llu Hz -> %llu ns, exact %.6f", (unsigned long long)t,
					 (unsigned long long)hz[i], (unsigned long long)ns, (double)t * 1e9 / (double)hz[i]);
		}
}

static void test_counter_set_and_get_round_trip_64_bit_values_across_mappings(void **state)
{
	(void)state;
	const char *name = inst("ctr");
	struct dd_tm w, r;
	char err[256];
	make_seg(&w, name, 2, 1000000000u);
	assert_int_equal(attach(&r, name, err, sizeof(err)), 0);
	static const uint64_t v[] = { 0, 1, 0xffffffffull, 0x100000000ull, 0x0123456789abcdefull, UINT64_MAX };
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		dd_tm_set(&dd_tm_slot(&w, 1)->reasons[31], v[i]);
		dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 0), DD_TM_C_BYTES), ~v[i]);
		dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 1), DD_TM_MAX_COUNTERS - 1), v[i] ^ 5);
		assert_true(dd_tm_get(&dd_tm_slot(&r, 1)->reasons[31]) == v[i]);
		assert_true(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, 0), DD_TM_C_BYTES)) == ~v[i]);
		assert_true(dd_tm_get(dd_tm_counter(dd_tm_slot(&r, 1), DD_TM_MAX_COUNTERS - 1)) == (v[i] ^ 5));
	}
	dd_tm_detach(&r);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void test_owner_alive_for_self_not_for_a_dead_reused_or_zero_pid(void **state)
{
	(void)state;
	const char *name = inst("alive");
	struct dd_tm w;
	make_seg(&w, name, 1, 1000000000u);
	struct dd_tm_header *h = w.hdr;
	assert_true(dd_tm_owner_alive(h));
	int64_t pid = h->pid;
	h->pid = dead_pid();
	assert_false(dd_tm_owner_alive(h));
	h->pid = 0;
	assert_false(dd_tm_owner_alive(h));
	h->pid = -1;
	assert_false(dd_tm_owner_alive(h));
	/* our pid, but a process that started at another time: the pid was reused */
	h->pid = pid;
	h->proc_start += 1;
	assert_false(dd_tm_owner_alive(h));
	dd_tm_close(&w, true);
	unlink_inst(name);
}

/* ---- dadar-lat over a segment filled here ------------------------------------------------- */

static const char *lat_bin(void)
{
	static char path[512];
	const char *b = getenv("B");
	snprintf(path, sizeof(path), "%s/dadar-lat", b != NULL && b[0] ? b : "build");
	if (access(path, X_OK) != 0) {
		fprintf(stderr, "SKIP: %s is not built (make build/dadar-lat): dadar-lat tests not run\n", path);
		return NULL;
	}
	return path;
}

/* Run `dadar-lat ARGS`: its exit status; stdout into *out and stderr into *err (malloc'ed). */
static int run_lat(const char *bin, const char *args, char **out, char **err)
{
	char errpath[] = "/tmp/test_telemetry_err.XXXXXX";
	int fd = mkstemp(errpath);
	assert_true(fd >= 0);
	close(fd);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>'%s'", bin, args, errpath);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	int st = pclose(p);
	FILE *f = fopen(errpath, "r");
	assert_non_null(f);
	char *e = calloc(1, 8192);
	assert_non_null(e);
	size_t el = fread(e, 1, 8191, f);
	e[el] = '\0';
	fclose(f);
	unlink(errpath);
	*out = buf;
	*err = e;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * The number after the keys `path` ("stages", "rx", "count") met in this order in the JSON text:
 * dadar-lat writes objects in a fixed order, so each key is searched from where the last one was.
 */
static double json_num(const char *json, const char *const *path, unsigned n)
{
	const char *p = json;
	for (unsigned i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "\"%s\":", path[i]);
		const char *q = strstr(p, key);
		if (q == NULL)
			fail_msg("key path element \"%s\" not found in:\n%s", path[i], json);
		p = q + strlen(key);
	}
	char *end;
	double v = strtod(p, &end);
	if (end == p)
		fail_msg("no number after \"%s\" in:\n%s", path[n - 1], json);
	return v;
}

#define J(json, ...) json_num((json), (const char *const[]){ __VA_ARGS__ }, \
			      sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define assert_json(json, want, ...)                                                                 \
	do {                                                                                         \
		double got_ = J(json, __VA_ARGS__);                                                  \
		if (got_ != (double)(want))                                                          \
			fail_msg("%s: %.3f, expected %.3f\n%s", #__VA_ARGS__, got_, (double)(want), json); \
	} while (0)

/*
 * Slot 0 (RX, lcore 3) and slot 1 (worker0, lcore 5) with known values:
 *   rx   (slot 0): 100 x 400, 1500 x 599, 1000000 x 1
 *   book (slot 1): 20 x 10
 *   wire: 5000 in slot 0, 7000 in slot 1
 * and counters on both slots.
 */
static void fill(struct dd_tm *w)
{
	struct dd_tm_slot *rx = dd_tm_slot(w, 0), *wk = dd_tm_slot(w, 1);
	rx->lcore = 3;
	rx->role = DD_TM_ROLE_RX;
	strcpy(rx->name, "rx");
	wk->lcore = 5;
	wk->role = DD_TM_ROLE_WORKER;
	strcpy(wk->name, "worker0");
	dd_hdr_record_n(dd_tm_hist(w, 0, DD_TM_RX), 100, 400);
	dd_hdr_record_n(dd_tm_hist(w, 0, DD_TM_RX), 1500, 599);
	dd_hdr_record(dd_tm_hist(w, 0, DD_TM_RX), 1000000);
	dd_hdr_record_n(dd_tm_hist(w, 1, BOOK), 20, 10);
	dd_hdr_record(dd_tm_hist(w, 0, DD_TM_WIRE), 5000);
	dd_hdr_record(dd_tm_hist(w, 1, DD_TM_WIRE), 7000);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_PACKETS), 42);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_BYTES), 4200);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_EVENTS), 1000);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_GAPS), 2);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_MISSING), 7);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_DUPLICATES), 3);
	dd_tm_set(dd_tm_counter(rx, DD_TM_C_RING_FULL), 9);
	dd_tm_set(&rx->reasons[1], 5);
	dd_tm_set(dd_tm_counter(wk, DD_TM_C_EVENTS), 990);
	dd_tm_set(dd_tm_counter(wk, DD_TM_C_RING_USED), 12);
	dd_tm_set(dd_tm_counter(wk, DD_TM_C_RING_SIZE), 1024);
	dd_tm_set(dd_tm_counter(wk, DD_TM_C_RING_HIGH_WATER), 512);
}

static void test_lat_json_reports_the_values_recorded_into_the_segment(void **state)
{
	(void)state;
	const char *bin = lat_bin();
	if (bin == NULL)
		skip();
	const char *name = inst("json");
	struct dd_tm w;
	char args[128], *out, *err;
	make_seg(&w, name, 2, 3000000000u);
	fill(&w);
	snprintf(args, sizeof(args), "--instance %s --json", name);
	int rc = run_lat(bin, args, &out, &err);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, err);
	assert_json(out, getpid(), "pid");
	assert_contains(out, "\"state\": \"running\"");
	/*
	 * rx: 1000 values. Below 2048 every value has its own slot, so min 100 and p50 (rank 500)
	 * 1500 are exact; 1000000 is in the slot of width 512 [999936, 1000447] (top bit 19), so max
	 * and p99.99 (rank 1000) are 1000447; the mean counts that slot at 999936 + 256.
	 */
	assert_json(out, 1000, "stages", "rx", "count");
	assert_json(out, 100, "stages", "rx", "min");
	assert_json(out, 1500, "stages", "rx", "p50");
	assert_json(out, 1500, "stages", "rx", "p90");
	assert_json(out, 1500, "stages", "rx", "p99");
	assert_json(out, 1500, "stages", "rx", "p999");
	assert_json(out, 1000447, "stages", "rx", "p9999");
	assert_json(out, 1000447, "stages", "rx", "max");
	assert_json(out, 1938.692, "stages", "rx", "mean");
	assert_json(out, 10, "stages", "book", "count");
	assert_json(out, 20, "stages", "book", "min");
	assert_json(out, 20, "stages", "book", "max");
	assert_contains(out, "\"ring\": null"); /* never recorded: null, not zeros */
	/* wire merges both slots: 4096..8191 has slots of width 4, [5000, 5003] and [7000, 7003] */
	assert_json(out, 2, "stages", "wire_to_decision", "count");
	assert_json(out, 5000, "stages", "wire_to_decision", "min");
	assert_json(out, 5003, "stages", "wire_to_decision", "p50");
	assert_json(out, 7003, "stages", "wire_to_decision", "max");
	/* totals: input counters from the RX slot, applied from the worker */
	assert_json(out, 42, "counters", "packets");
	assert_json(out, 4200, "counters", "bytes");
	assert_json(out, 1000, "counters", "events");
	assert_json(out, 990, "counters", "applied");
	assert_json(out, 2, "counters", "gaps");
	assert_json(out, 7, "counters", "missing");
	assert_json(out, 3, "counters", "duplicates");
	assert_json(out, 9, "counters", "ring_full");
	assert_json(out, 5, "counters", "dropped");
	assert_json(out, 5, "counters", "drops", "mold_bad_seq");
	assert_null(strstr(out, "ip_bad_csum")); /* zero reasons are left out */
	/* per lcore, in slot order */
	assert_json(out, 0, "lcores", "slot");
	assert_json(out, 3, "lcores", "slot", "lcore");
	assert_json(out, 42, "lcores", "slot", "packets");
	assert_json(out, 1000, "lcores", "slot", "stages", "rx", "count");
	assert_json(out, 1, "lcores", "slot", "stages", "wire_to_decision", "count");
	assert_json(out, 1, "lcores", "slot", "slot");
	assert_json(out, 5, "lcores", "slot", "slot", "lcore");
	assert_json(out, 990, "lcores", "slot", "slot", "events");
	assert_json(out, 12, "lcores", "slot", "slot", "ring_used");
	assert_json(out, 1024, "lcores", "slot", "slot", "ring_size");
	assert_json(out, 512, "lcores", "slot", "slot", "ring_high_water");
	assert_json(out, 7003, "lcores", "slot", "slot", "stages", "wire_to_decision", "max");
	assert_contains(out, "\"name\": \"worker0\"");
	assert_contains(out, "\"role\": \"worker\"");
	free(out);
	free(err);

	/* --lcore 5: only the worker; its applied events, none of the RX lcore's input */
	snprintf(args, sizeof(args), "--instance %s --json --lcore 5", name);
	rc = run_lat(bin, args, &out, &err);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, err);
	assert_contains(out, "\"rx\": null"); /* lcore 5 never recorded rx */
	assert_json(out, 10, "stages", "book", "count");
	assert_json(out, 7000, "stages", "wire_to_decision", "min");
	assert_json(out, 0, "counters", "packets");
	assert_json(out, 990, "counters", "applied");
	assert_null(strstr(out, "\"name\": \"rx\""));
	free(out);
	free(err);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void test_lat_reads_an_exited_instance_and_says_it_exited(void **state)
{
	(void)state;
	const char *bin = lat_bin();
	if (bin == NULL)
		skip();
	const char *name = inst("exited");
	struct dd_tm w;
	char args[128], *out, *err;
	make_seg(&w, name, 2, 3000000000u);
	fill(&w);
	dd_tm_close(&w, true);
	snprintf(args, sizeof(args), "--instance %s --json", name);
	int rc = run_lat(bin, args, &out, &err);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, err);
	assert_contains(out, "\"state\": \"exited\"");
	assert_contains(out, "\"clean_exit\": true");
	assert_json(out, 1000, "stages", "rx", "count");
	free(out);
	free(err);
	snprintf(args, sizeof(args), "--instance %s --watch 0.1", name);
	rc = run_lat(bin, args, &out, &err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "");
	assert_contains(err, "has exited");
	free(out);
	free(err);
	unlink_inst(name);
}

static void test_lat_percentiles_print_hdrhistogram_text(void **state)
{
	(void)state;
	const char *bin = lat_bin();
	if (bin == NULL)
		skip();
	const char *name = inst("pct");
	struct dd_tm w;
	char args[128], *out, *err;
	make_seg(&w, name, 2, 3000000000u);
	fill(&w);
	snprintf(args, sizeof(args), "--instance %s --percentiles rx", name);
	int rc = run_lat(bin, args, &out, &err);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, err);
	const char *head = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n";
	if (strncmp(out, head, strlen(head)) != 0)
		fail_msg("does not start with HdrHistogram's header:\n%s", out);
	assert_contains(out, "\n     100.000 0.000000000000        400           1.00\n");
	assert_contains(out, "#[Max     =  1000447.000, Total count    =         1000]\n");
	free(out);
	free(err);
	/* --unit us divides by 1000 */
	snprintf(args, sizeof(args), "--instance %s --percentiles rx --unit us", name);
	rc = run_lat(bin, args, &out, &err);
	assert_int_equal(rc, 0);
	assert_contains(out, "\n       0.100 0.000000000000        400           1.00\n");
	free(out);
	free(err);
	dd_tm_close(&w, true);
	unlink_inst(name);
}

static void expect_exit(const char *bin, const char *args, int want, const char *msg)
{
	char *out, *err;
	int rc = run_lat(bin, args, &out, &err);
	if (rc != want)
		fail_msg("dadar-lat %s: exit %d, expected %d; stderr: %s", args, rc, want, err);
	if (strstr(err, msg) == NULL)
		fail_msg("dadar-lat %s: stderr lacks \"%s\": %s", args, msg, err);
	free(out);
	free(err);
}

static void test_lat_exit_status_tells_each_failure_apart(void **state)
{
	(void)state;
	const char *bin = lat_bin();
	if (bin == NULL)
		skip();
	char args[256];
	const char *none = inst("nothere");
	snprintf(args, sizeof(args), "--instance %s", none);
	expect_exit(bin, args, 3, "ls /dev/shm/dadar-*");
	expect_exit(bin, args, 3, none);
	expect_exit(bin, "--watch soon", 2, "--watch");
	expect_exit(bin, "--bogus", 2, "--bogus");
	expect_exit(bin, "--instance ../etc", 2, "--instance");
	expect_exit(bin, "--hist rx --percentiles rx", 2, "--percentiles");
	expect_exit(bin, "--interval 1", 2, "--interval");

	const char *name = inst("codes");
	struct dd_tm w;
	make_seg(&w, name, 2, 3000000000u);
	fill(&w);
	snprintf(args, sizeof(args), "--instance %s --hist nosuchstage", name);
	expect_exit(bin, args, 2, "wire_to_decision");
	snprintf(args, sizeof(args), "--instance %s --lcore 9", name);
	expect_exit(bin, args, 2, "--lcore");
	/* a histogram block that is not initialised */
	struct dd_hdr *h = dd_tm_hist(&w, 1, DD_TM_RING);
	atomic_store(&h->magic, 0);
	snprintf(args, sizeof(args), "--instance %s", name);
	expect_exit(bin, args, 4, "not initialised");
	atomic_store(&h->magic, DD_HDR_MAGIC);
	/* a histogram block of another major version: dd_tm_attach() reports it as a malformed segment */
	h->version_major = DD_HDR_VERSION_MAJOR + 1;
	expect_exit(bin, args, 4, "slot 1, stage 1");
	h->version_major = DD_HDR_VERSION_MAJOR;
	/* a stride that wraps around when multiplied */
	w.hdr->hist_size = 1ull << 62;
	expect_exit(bin, args, 4, "malformed");
	w.hdr->hist_size = HIST_BYTES;
	/* a segment of another major version */
	w.hdr->major = DD_TM_MAJOR + 1;
	expect_exit(bin, args, 4, "version mismatch");
	w.hdr->major = DD_TM_MAJOR;
	/* permission denied: as nobody, for an object that is root's and 0640 */
	if (geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "--instance %s", name);
		char wrapped[1024];
		/* setpriv runs dadar-lat as nobody: run_lat() quotes its first word, so pass setpriv there */
		snprintf(wrapped, sizeof(wrapped), "--reuid=65534 --regid=65534 --clear-groups '%s' %s", bin, cmd);
		expect_exit("/usr/bin/setpriv", wrapped, 5, "permission denied");
	} else {
		fprintf(stderr, "SKIP: permission-denied case needs root and /usr/bin/setpriv\n");
	}
	dd_tm_close(&w, true);
	unlink_inst(name);
}

/*
 * A segment with an operator's own stage and counters beyond the pipeline's: dadar-lat shows what
 * the header describes, with no knowledge of the operator.
 */
static void test_lat_shows_the_stages_and_counters_an_operator_described(void **state)
{
	(void)state;
	const char *bin = lat_bin();
	if (bin == NULL)
		skip();
	const char *name = inst("opview");
	struct dd_tm_layout l;
	book_layout(&l);
	int fraud = dd_tm_layout_stage(&l, "fraud_score");
	int alerts = dd_tm_layout_counter(&l, "fraud_alerts", DD_TM_KIND_COUNTER);
	int open = dd_tm_layout_counter(&l, "windows_open", DD_TM_KIND_GAUGE);
	assert_true(fraud > 0 && alerts > 0 && open > 0);
	struct dd_tm w;
	char err[256] = "", args[160], *out, *e;
	bool replaced;
	assert_int_equal(dd_tm_create(&w, name, 2, 3000000000u, &l, &replaced, err, sizeof(err)), 0);
	dd_tm_publish(&w);
	fill(&w);
	dd_hdr_record_n(dd_tm_hist(&w, 1, (unsigned)fraud), 250, 10);
	dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 0), (unsigned)alerts), 4);
	dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 1), (unsigned)alerts), 17);
	dd_tm_set(dd_tm_counter(dd_tm_slot(&w, 1), (unsigned)open), 3);

	snprintf(args, sizeof(args), "--instance %s --json", name);
	int rc = run_lat(bin, args, &out, &e);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, e);
	assert_json(out, 10, "stages", "fraud_score", "count");
	assert_json(out, 250, "stages", "fraud_score", "min");
	assert_json(out, 10, "stages", "book", "count");
	/* a counter adds up over the slots; a gauge has no total */
	assert_json(out, 21, "counters", "other", "fraud_alerts");
	assert_json(out, 4, "lcores", "slot", "counters", "fraud_alerts");
	assert_json(out, 17, "lcores", "slot", "slot", "counters", "fraud_alerts");
	assert_json(out, 3, "lcores", "slot", "slot", "counters", "windows_open");
	assert_json(out, 990, "lcores", "slot", "slot", "counters", "events");
	assert_json(out, 10, "lcores", "slot", "slot", "stages", "fraud_score", "count");
	assert_contains(out, "\"other\": {\n      \"fraud_alerts\": 21\n    }");
	assert_contains(out, "\"stages\": [\n      \"rx\",\n      \"ring\",\n      \"wire_to_decision\",\n"
			"      \"journal\",\n      \"book\",\n      \"fraud_score\"\n    ]");
	assert_contains(out, "\"fraud_alerts\": \"counter\",\n      \"windows_open\": \"gauge\"\n");
	assert_contains(out, "\"ring_used\": \"gauge\"");
	free(out);
	free(e);

	/* the table: a row per described stage, operators' counters per slot as name=value */
	snprintf(args, sizeof(args), "--instance %s", name);
	rc = run_lat(bin, args, &out, &e);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, e);
	assert_contains(out, "\nfraud_score                10      250      250");
	assert_contains(out, "\nbook                       10       20       20");
	assert_null(strstr(out, "\njournal ")); /* never recorded: no row */
	assert_contains(out, "(worker)\n  events      990 applied\n  ring        12/1,024 used (1.2%), high water 512\n"
			"  counters    fraud_alerts=17  windows_open=3\n");
	assert_contains(out, "  counters    fraud_alerts=4  windows_open=0\n");
	free(out);
	free(e);

	snprintf(args, sizeof(args), "--instance %s --hist fraud_score", name);
	rc = run_lat(bin, args, &out, &e);
	if (rc != 0)
		fail_msg("dadar-lat %s: exit %d: %s", args, rc, e);
	assert_contains(out, "fraud_score latency of '");
	assert_contains(out, ": 10 values\n");
	free(out);
	free(e);
	snprintf(args, sizeof(args), "--instance %s --hist nosuch", name);
	expect_exit(bin, args, 2, "fraud_score");
	dd_tm_close(&w, true);
	unlink_inst(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_segment_size_is_header_then_slots_then_histograms_on_cache_lines),
		cmocka_unit_test(test_attach_sees_the_header_slots_and_histograms_the_creator_wrote),
		cmocka_unit_test(test_segment_mode_is_0640_even_under_umask_077),
		cmocka_unit_test(test_attach_before_publish_is_refused_as_not_published),
		cmocka_unit_test(test_second_create_while_the_owner_lives_fails_naming_instance_and_pid),
		cmocka_unit_test(test_a_segment_being_created_by_a_live_process_is_not_taken),
		cmocka_unit_test(test_segment_of_a_dead_owner_is_replaced),
		cmocka_unit_test(test_major_version_mismatch_is_refused_with_a_message_saying_so),
		cmocka_unit_test(test_truncated_object_is_refused_as_malformed),
		cmocka_unit_test(test_attach_rejects_region_sizes_that_wrap_around_when_multiplied),
		cmocka_unit_test(test_attach_to_a_missing_instance_fails_naming_it),
		cmocka_unit_test(test_layout_init_describes_the_pipeline_stages_and_counters_at_their_enum_indexes),
		cmocka_unit_test(test_layout_add_returns_the_next_index_and_refuses_bad_or_duplicate_names),
		cmocka_unit_test(test_layout_add_reports_enospc_once_a_table_is_full),
		cmocka_unit_test(test_operator_stage_and_counter_round_trip_through_create_attach_and_find),
		cmocka_unit_test(test_create_refuses_a_layout_over_the_limits_naming_the_limit),
		cmocka_unit_test(test_attach_refuses_tables_with_unterminated_empty_or_duplicate_names),
		cmocka_unit_test(test_close_as_exited_marks_the_state_and_exit_time_for_readers),
		cmocka_unit_test(test_close_without_exit_leaves_the_state_running),
		cmocka_unit_test(test_tsc_conversion_is_exact_when_the_nanoseconds_are_whole),
		cmocka_unit_test(test_tsc_conversion_rounds_to_the_nearest_nanosecond),
		cmocka_unit_test(test_counter_set_and_get_round_trip_64_bit_values_across_mappings),
		cmocka_unit_test(test_owner_alive_for_self_not_for_a_dead_reused_or_zero_pid),
		cmocka_unit_test(test_lat_json_reports_the_values_recorded_into_the_segment),
		cmocka_unit_test(test_lat_reads_an_exited_instance_and_says_it_exited),
		cmocka_unit_test(test_lat_percentiles_print_hdrhistogram_text),
		cmocka_unit_test(test_lat_exit_status_tells_each_failure_apart),
		cmocka_unit_test(test_lat_shows_the_stages_and_counters_an_operator_described),
	};
	return cmocka_run_group_tests(tests, NULL, unlink_all);
}
