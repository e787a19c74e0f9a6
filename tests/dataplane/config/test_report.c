/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/config/report.c: the JSON summary, the book dump CSV and the human summary.
 *
 * Each test builds a struct dd_run by hand: a configuration from dd_config_defaults(), feeds from
 * dd_feed_init() with counters set directly, books filled through dd_book_apply() with hand-made
 * events, and receive counters. The JSON is parsed by python3 (skipped loudly without it), which
 * also checks the exact values; the CSV is compared byte for byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/config/config.h"
#include "dataplane/wire/feed.h"
#include "dataplane/wire/moldudp64.h"
#include "dataplane/config/report.h"
#include "ops/book/book.h"
#include "ops/event.h"

#define MAX_FEEDS 2
#define MAX_SHARDS 2

struct fx {
	struct dd_config cfg;
	struct dd_feed feeds[MAX_FEEDS];
	void *feed_mem[MAX_FEEDS];
	struct dd_book book[MAX_SHARDS * MAX_FEEDS];
	void *book_mem[MAX_SHARDS * MAX_FEEDS];
	const struct dd_book *books[MAX_SHARDS * MAX_FEEDS];
	struct dd_rx_stats rx;
	struct dd_run run;
	char dir[64];
	char path[128];
};

static char g_err[1024];

/* What a test allocated, freed by teardown() even when the test fails half way. */
static struct fx *g_fx;
static char *g_out;  /* human summary text */
static char *g_text; /* last file read */

/* ---- fixture ------------------------------------------------------------------------------------ */

static void fx_book(struct fx *x, unsigned i, uint32_t instruments, uint32_t orders, uint32_t levels)
{
	struct dd_book_params p = { instruments, orders, levels };
	size_t len = dd_book_memsize(&p);

	assert_true(len > 0);
	free(x->book_mem[i]);
	x->book_mem[i] = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(x->book_mem[i]);
	assert_int_equal(dd_book_init(&x->book[i], x->book_mem[i], len, &p), 0);
}

/* A run of `nfeeds` feeds (named `names`, or catch-all when NULL) over `nshards` shards of books. */
static struct fx *fx_new(unsigned nfeeds, unsigned nshards, const char *const *names)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_true(nfeeds <= MAX_FEEDS && nshards <= MAX_SHARDS);
	dd_config_defaults(&x->cfg);
	for (unsigned f = 0; f < nfeeds; f++) {
		struct dd_feed_cfg fc;
		memset(&fc, 0, sizeof(fc));
		if (names != NULL) {
			char key[64];
			snprintf(key, sizeof(key), "feed.%s", names[f]);
			char value[32];
			snprintf(value, sizeof(value), "233.54.12.%u:26477", 111 + f);
			assert_int_equal(dd_config_set(&x->cfg, key, value, "fixture.conf:1", g_err, sizeof(g_err)), 0);
			fc = x->cfg.feed[f];
		}
		size_t len = dd_feed_memsize(&x->cfg.mold);
		assert_true(len > 0);
		x->feed_mem[f] = aligned_alloc(64, (len + 63) & ~(size_t)63);
		assert_non_null(x->feed_mem[f]);
		assert_int_equal(dd_feed_init(&x->feeds[f], f, &fc, &x->cfg.mold, x->feed_mem[f], len), 0);
	}
	for (unsigned i = 0; i < nfeeds * nshards; i++) {
		fx_book(x, i, 16, 64, 64);
		x->books[i] = &x->book[i];
	}
	x->run = (struct dd_run){
		.cfg = &x->cfg,
		.feeds = x->feeds,
		.nfeeds = nfeeds,
		.books = x->books,
		.nshards = nshards,
		.rx = &x->rx,
		.tsc_hz = 0,
	};
	strcpy(x->dir, "/tmp/dadar-test-report-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	assert_null(g_fx);
	g_fx = x;
	return x;
}

static const char *fx_path(struct fx *x, const char *name)
{
	snprintf(x->path, sizeof(x->path), "%s/%s", x->dir, name);
	return x->path;
}

static void fx_free(struct fx *x)
{
	static const char *const files[] = { "summary.json", "book.csv", "check.py" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(fx_path(x, files[i]));
	rmdir(x->dir);
	for (unsigned i = 0; i < MAX_FEEDS; i++)
		free(x->feed_mem[i]);
	for (unsigned i = 0; i < MAX_SHARDS * MAX_FEEDS; i++)
		free(x->book_mem[i]);
	free(x);
}

static int teardown(void **state)
{
	(void)state;
	if (g_fx != NULL)
		fx_free(g_fx);
	g_fx = NULL;
	free(g_out);
	g_out = NULL;
	free(g_text);
	g_text = NULL;
	return 0;
}

/* ---- book events -------------------------------------------------------------------------------- */

static void add(struct dd_book *b, uint16_t locate, const char *stock, uint64_t ref, char side, uint32_t shares,
		uint32_t price)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = DD_EV_ADD;
	e.msg = 'A';
	e.key = locate;
	e.u.add.ref = ref;
	e.u.add.side = (uint8_t)side;
	e.u.add.shares = shares;
	e.u.add.price = price;
	memset(e.u.add.stock, ' ', 8);
	memcpy(e.u.add.stock, stock, strlen(stock));
	memcpy(e.u.add.mpid, "    ", 4);
	unsigned flags = dd_book_apply(b, &e);
	assert_int_equal(flags & DD_BOOK_REJECTED, 0);
}

/* An add the book must refuse (capacity): the refusal is what the test wants. */
static void add_refused(struct dd_book *b, uint16_t locate, uint64_t ref, uint32_t price)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = DD_EV_ADD;
	e.key = locate;
	e.u.add.ref = ref;
	e.u.add.side = DD_SIDE_BUY;
	e.u.add.shares = 1;
	e.u.add.price = price;
	memcpy(e.u.add.stock, "FULL    ", 8);
	assert_int_equal(dd_book_apply(b, &e) & DD_BOOK_REJECTED, DD_BOOK_REJECTED);
}

static unsigned del(struct dd_book *b, uint16_t locate, uint64_t ref)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = DD_EV_DELETE;
	e.msg = 'D';
	e.key = locate;
	e.u.del.ref = ref;
	return dd_book_apply(b, &e);
}

static void directory(struct dd_book *b, uint16_t locate, const char *stock)
{
	struct dd_event e;
	memset(&e, 0, sizeof(e));
	e.type = DD_EV_DIRECTORY;
	e.msg = 'R';
	e.key = locate;
	memset(e.u.directory.stock, ' ', 8);
	memcpy(e.u.directory.stock, stock, strlen(stock));
	e.u.directory.round_lot_size = 100;
	dd_book_apply(b, &e);
}

/* ---- file checks -------------------------------------------------------------------------------- */

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	free(g_text);
	g_text = calloc(1, 1 << 20);
	assert_non_null(g_text);
	size_t n = fread(g_text, 1, (1 << 20) - 1, f);
	g_text[n] = '\0';
	fclose(f);
	return g_text;
}

static void assert_file_equal(const char *path, const char *want)
{
	char *got = read_all(path);
	if (strcmp(got, want) != 0)
		fail_msg("%s differs\n--- got:\n%s--- want:\n%s---", path, got, want);
}

static void require_python3(void)
{
	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: python3 not found: cannot parse the JSON summary (apt-get install python3)\n");
		skip();
	}
}

/*
 * The JSON at `json` must parse (python3's json module), then the Python statements `checks` run
 * with the document in `j`; eq(got, want, what) compares values and types exactly.
 */
static void json_check(struct fx *x, const char *json, const char *checks)
{
	char cmd[1024];

	require_python3();
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '%s'", json);
	if (system(cmd) != 0) {
		char *text = read_all(json);
		fail_msg("%s is not valid JSON:\n%s", json, text);
	}

	char script[160];
	snprintf(script, sizeof(script), "%s/check.py", x->dir);
	FILE *f = fopen(script, "w");
	assert_non_null(f);
	fputs("import json, sys\n"
	      "j = json.load(open(sys.argv[1]))\n"
	      "def eq(got, want, what):\n"
	      "    if got != want or type(got) is not type(want):\n"
	      "        print('%s: got %r, want %r' % (what, got, want))\n"
	      "        sys.exit(1)\n",
	      f);
	fputs(checks, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s'", script, json);
	if (system(cmd) != 0) {
		char *text = read_all(json);
		fail_msg("JSON summary check failed (python's message above); the summary:\n%s", text);
	}
}

/* ---- the run of the summary tests --------------------------------------------------------------- */

/* One feed with two lines, counters chosen so that every one differs. */
static struct fx *busy_run(void)
{
	static const char *const names[] = { "nasdaq" };
	struct fx *x = fx_new(1, 1, names);

	assert_int_equal(dd_config_set(&x->cfg, "feed.nasdaq", "233.54.12.111:26477,233.54.12.112:26477@1", "--feed",
				       g_err, sizeof(g_err)),
			 0);
	x->feeds[0].cfg = x->cfg.feed[0];

	x->rx.packets = 1000;
	x->rx.bytes = 123456;
	x->rx.udp = 990;
	x->rx.frame[DD_FRAME_NOT_IPV4] = 7;
	x->rx.frame[DD_FRAME_UDP_BAD_CHECKSUM] = 2;
	x->rx.no_feed = 3;
	x->rx.too_long = 1;
	x->rx.first_tsc = 1000;
	x->rx.last_tsc = 3000;
	x->run.tsc_hz = 1000;

	struct dd_itch_stats *it = &x->feeds[0].itch;
	it->messages['A'] = 5;
	it->messages['D'] = 1;
	it->messages['I'] = 2;
	it->messages['z'] = 9; /* not an ITCH 5.0 type: neither listed nor in the total */
	it->unknown = 11;
	it->bad_length = 13;
	it->empty = 4;
	it->events = 6;

	struct dd_mold_session *s = &x->feeds[0].mold;
	s->started = true;
	memcpy(s->name, "SESSION001", DD_MOLD_SESSION_LEN);
	s->next_seq = 42;
	s->stats.datagrams = 10;
	s->stats.delivered = 40;
	s->stats.gaps = 2;
	s->stats.missing = 17;
	s->stats.duplicates = 5;
	s->stats.heartbeats = 19;
	s->stats.end_of_session = 0;
	s->stats.reordered = 21;
	s->stats.late = 23;
	s->stats.session_changes = 0;
	s->stats.errors[DD_MOLD_ERR_SHORT] = 29;
	s->stats.after_end = 31;
	s->stats.line[0] = (struct dd_mold_line_stats){ .datagrams = 6, .delivered = 30, .duplicates = 37,
							.arb_dropped = 1 };
	s->stats.line[1] = (struct dd_mold_line_stats){ .datagrams = 4, .delivered = 10, .duplicates = 0,
							.arb_dropped = 2 };
	s->gap_log[0] = (struct dd_mold_gap){ 5, 6 };
	s->gap_log[1] = (struct dd_mold_gap){ 20, 34 };
	s->gap_log_n = 2;

	struct dd_book *b = &x->book[0];
	add(b, 1, "ABC", 1, 'B', 100, 1000000);
	add(b, 1, "ABC", 2, 'S', 50, 1010000);
	add(b, 1, "ABC", 3, 'B', 10, 990000);
	assert_int_equal(del(b, 1, 3) & DD_BOOK_REJECTED, 0);
	assert_int_equal(del(b, 1, 99) & DD_BOOK_REJECTED, DD_BOOK_REJECTED);
	return x;
}

#define BUSY_BOOK                                                                                          \
	"{'instruments': 1, 'orders': 2, 'levels': 2, 'adds': 3, 'executions': 0, 'cancels': 0, "          \
	"'deletes': 1, 'replaces': 0, 'trades': 0, 'crosses': 0, 'broken': 0, 'unknown_ref': 1, "        \
	"'duplicate_ref': 0, 'overexecuted': 0, 'bad_order': 0, 'order_overflow': 0, "                     \
	"'level_overflow': 0, 'instrument_overflow': 0}"

static void test_summary_is_valid_json_with_the_exact_counters(void **state)
{
	(void)state;
	struct fx *x = busy_run();
	const char *path = fx_path(x, "summary.json");

	assert_int_equal(dd_report_summary(&x->run, path, g_err, sizeof(g_err)), 0);
	json_check(x, path,
		   "eq(sorted(j.keys()), sorted(['version', 'instance', 'pipeline', 'workers', 'elapsed_s', "
		   "'packets', 'bytes', 'udp', 'messages_per_s', 'itch', 'moldudp64', 'errors', 'book', "
		   "'feeds', 'latency_ns']), 'keys')\n"
		   "eq(j['latency_ns'], {}, 'latency_ns without a telemetry segment')\n"
		   "eq(j['version'], 1, 'version')\n"
		   "eq(j['instance'], 'dadar', 'instance')\n"
		   "eq(j['pipeline'], 'rtc', 'pipeline')\n"
		   "eq(j['workers'], 1, 'workers')\n"
		   "eq(j['elapsed_s'], 2.0, 'elapsed_s')\n"
		   "eq(j['packets'], 1000, 'packets')\n"
		   "eq(j['bytes'], 123456, 'bytes')\n"
		   "eq(j['udp'], 990, 'udp')\n"
		   "eq(j['messages_per_s'], 4.0, 'messages_per_s')\n"
		   "eq(j['itch'], {'messages': {'A': 5, 'D': 1, 'I': 2}, 'unknown': 11, 'total': 8, 'events': 6},"
		   " 'itch')\n"
		   "eq(list(j['itch']['messages'].keys()), ['A', 'D', 'I'], 'itch.messages order')\n"
		   "eq(j['moldudp64'], {'datagrams': 10, 'delivered': 40, 'gaps': 2, 'missing': 17, "
		   "'duplicates': 2, 'arbitration_dropped': 3, 'heartbeats': 19, 'end_of_session': 0, "
		   "'reordered': 21, 'late': 23, 'session_changes': 0, 'too_big_to_hold': 0, "
		   "'gap_ranges': [[5, 6], [20, 34]]}, "
		   "'moldudp64')\n"
		   "eq(j['errors'], {'not_ipv4': 7, 'udp_bad_checksum': 2, 'no_feed': 3, 'frame_too_long': 1, "
		   "'mold_short': 29, 'mold_after_end': 31, 'itch_bad_length': 13, 'itch_empty': 4}, 'errors')\n"
		   "eq(j['book'], " BUSY_BOOK ", 'book')\n"
		   "eq(len(j['feeds']), 1, 'feeds')\n"
		   "f = j['feeds'][0]\n"
		   "eq(f['name'], 'nasdaq', 'name')\n"
		   "eq(f['session'], 'SESSION001', 'session')\n"
		   "eq(f['next_seq'], 42, 'next_seq')\n"
		   "eq(f['ended'], 0, 'ended')\n"
		   "eq(f['lines'], [{'dest': '233.54.12.111:26477', 'datagrams': 6, 'delivered': 30, "
		   "'duplicates': 37, 'arbitration_dropped': 1}, {'dest': '233.54.12.112:26477@1', "
		   "'datagrams': 4, 'delivered': 10, 'duplicates': 0, 'arbitration_dropped': 2}], 'lines')\n"
		   "eq(f['gap_ranges'], [[5, 6], [20, 34]], 'feed gap_ranges')\n"
		   "eq(f['book'], " BUSY_BOOK ", 'feed book')\n");
}

static void test_summary_of_a_clean_run_has_empty_errors_and_messages(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL); /* catch-all feed, nothing learned, nothing received */
	const char *path = fx_path(x, "summary.json");

	assert_int_equal(dd_report_summary(&x->run, path, g_err, sizeof(g_err)), 0);
	json_check(x, path,
		   "eq(j['errors'], {}, 'errors')\n"
		   "eq(j['itch'], {'messages': {}, 'unknown': 0, 'total': 0, 'events': 0}, 'itch')\n"
		   "eq(j['elapsed_s'], 0.0, 'elapsed_s')\n"
		   "eq(j['messages_per_s'], 0.0, 'messages_per_s')\n"
		   "eq(j['packets'], 0, 'packets')\n"
		   "eq('ring_full' in j, False, 'ring_full present')\n"
		   "eq(j['moldudp64']['gap_ranges'], [], 'gap_ranges')\n"
		   "eq(j['feeds'], [{'name': '', 'session': '', 'next_seq': 1, 'ended': 0, 'lines': [], "
		   "'gap_ranges': [], 'book': {'instruments': 0, 'orders': 0, 'levels': 0, 'adds': 0, "
		   "'executions': 0, 'cancels': 0, 'deletes': 0, 'replaces': 0, 'trades': 0, 'crosses': 0, "
		   "'broken': 0, 'unknown_ref': 0, 'duplicate_ref': 0, 'overexecuted': 0, 'bad_order': 0, "
		   "'order_overflow': 0, 'level_overflow': 0, 'instrument_overflow': 0}}], 'feeds')\n");
}

static void test_summary_lists_learned_lines_of_a_catch_all_feed(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	const char *path = fx_path(x, "summary.json");

	assert_int_equal(dd_feed_line_of(&x->feeds[0], 0xE9360C6Fu, 26477, 0), 0);
	assert_int_equal(dd_feed_line_of(&x->feeds[0], 0x0A000001u, 5000, 0), 1);
	x->feeds[0].mold.stats.line[1].datagrams = 8;
	assert_int_equal(dd_report_summary(&x->run, path, g_err, sizeof(g_err)), 0);
	json_check(x, path,
		   "eq([l['dest'] for l in j['feeds'][0]['lines']], ['233.54.12.111:26477', '10.0.0.1:5000'], "
		   "'dests')\n"
		   "eq(j['feeds'][0]['lines'][1]['datagrams'], 8, 'datagrams')\n");
}

static void test_summary_of_staged_run_sums_shards_and_reports_ring_full(void **state)
{
	(void)state;
	static const char *const names[] = { "a" };
	struct fx *x = fx_new(1, 2, names);
	const char *path = fx_path(x, "summary.json");

	assert_int_equal(dd_config_set(&x->cfg, "pipeline", "staged", "test", g_err, sizeof(g_err)), 0);
	x->rx.ring_full = 9;
	add(&x->book[0], 1, "ABC", 1, 'B', 100, 1000000);
	add(&x->book[1], 2, "XYZ", 2, 'S', 100, 2000000);
	add(&x->book[1], 3, "QQQ", 3, 'S', 100, 3000000);
	assert_int_equal(dd_report_summary(&x->run, path, g_err, sizeof(g_err)), 0);
	json_check(x, path,
		   "eq(j['pipeline'], 'staged', 'pipeline')\n"
		   "eq(j['workers'], 2, 'workers')\n"
		   "eq(j['ring_full'], 9, 'ring_full')\n"
		   "eq(j['book']['instruments'], 3, 'instruments')\n"
		   "eq(j['book']['orders'], 3, 'orders')\n"
		   "eq(j['book']['levels'], 3, 'levels')\n"
		   "eq(j['book']['adds'], 3, 'adds')\n"
		   "eq(j['feeds'][0]['book']['adds'], 3, 'feed adds')\n");
}

static void test_summary_of_two_feeds_sums_counters_and_keeps_each_feed_apart(void **state)
{
	(void)state;
	static const char *const names[] = { "nasdaq", "bats" };
	struct fx *x = fx_new(2, 2, names);
	const char *path = fx_path(x, "summary.json");

	x->feeds[0].itch.messages['A'] = 3;
	x->feeds[1].itch.messages['A'] = 4;
	x->feeds[1].itch.messages['S'] = 1;
	x->feeds[0].itch.empty = 1;
	x->feeds[1].itch.empty = 2;
	x->feeds[0].mold.stats.datagrams = 5;
	x->feeds[1].mold.stats.datagrams = 6;
	x->feeds[0].mold.stats.errors[DD_MOLD_ERR_TRAILING] = 1;
	x->feeds[1].mold.stats.errors[DD_MOLD_ERR_TRAILING] = 2;
	x->feeds[1].mold.gap_log[0] = (struct dd_mold_gap){ 3, 4 };
	x->feeds[1].mold.gap_log_n = 1;
	/* books[shard * nfeeds + feed] */
	add(&x->book[0], 1, "S0F0", 1, 'B', 1, 1);
	add(&x->book[1], 2, "S0F1", 2, 'B', 1, 1);
	add(&x->book[1], 3, "S0F1B", 3, 'B', 1, 1);
	add(&x->book[2], 4, "S1F0", 4, 'B', 1, 1);
	add(&x->book[3], 5, "S1F1", 5, 'B', 1, 1);
	add(&x->book[3], 6, "S1F1B", 6, 'B', 1, 1);
	add(&x->book[3], 7, "S1F1C", 7, 'B', 1, 1);
	assert_int_equal(dd_report_summary(&x->run, path, g_err, sizeof(g_err)), 0);
	json_check(x, path,
		   "eq(j['itch']['messages'], {'S': 1, 'A': 7}, 'messages')\n"
		   "eq(j['itch']['total'], 8, 'total')\n"
		   "eq(j['moldudp64']['datagrams'], 11, 'datagrams')\n"
		   "eq('gap_ranges' in j['moldudp64'], False, 'gap_ranges of several feeds')\n"
		   "eq(j['errors'], {'mold_trailing': 3, 'itch_empty': 3}, 'errors')\n"
		   "eq(j['book']['instruments'], 7, 'instruments')\n"
		   "eq([f['name'] for f in j['feeds']], ['nasdaq', 'bats'], 'names')\n"
		   "eq([l['dest'] for l in j['feeds'][1]['lines']], ['233.54.12.112:26477'], 'dests')\n"
		   "eq(j['feeds'][0]['book']['instruments'], 2, 'feed 0 instruments')\n"
		   "eq(j['feeds'][1]['book']['instruments'], 5, 'feed 1 instruments')\n"
		   "eq(j['feeds'][0]['gap_ranges'], [], 'feed 0 gaps')\n"
		   "eq(j['feeds'][1]['gap_ranges'], [[3, 4]], 'feed 1 gaps')\n");
}

static void test_summary_escapes_session_bytes_into_valid_json(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	const char *path = fx_path(x, "summary.json");

	x->feeds[0].mold.started = true;
	memcpy(x->feeds[0].mold.name, "SE\"\\\x01\xffNAME", DD_MOLD_SESSION_LEN);
	assert_int_equal(dd_report_summary(&x->run, path, g_err, sizeof(g_err)), 0);
	json_check(x, path, "eq(j['feeds'][0]['session'], 'SE\"\\\\\\x01\\xffNAME', 'session')\n");
}

static void test_summary_to_an_unwritable_path_fails_naming_it(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);

	assert_int_equal(dd_report_summary(&x->run, "/nonexistent-dir/summary.json", g_err, sizeof(g_err)), -ENOENT);
	assert_string_equal(g_err, "cannot write summary /nonexistent-dir/summary.json: No such file or directory");
	assert_int_equal(dd_report_summary(&x->run, x->dir, g_err, sizeof(g_err)), -EISDIR);
	assert_contains(g_err, x->dir);
}

static void test_summary_reports_a_failed_write(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	struct stat st;

	if (stat("/dev/full", &st) != 0) {
		fprintf(stderr, "SKIP: /dev/full is missing: cannot provoke a write error\n");
		skip();
	}
	assert_int_equal(dd_report_summary(&x->run, "/dev/full", g_err, sizeof(g_err)), -ENOSPC);
	assert_string_equal(g_err, "writing summary /dev/full failed: No space left on device");
}

/* ---- book dump ---------------------------------------------------------------------------------- */

#define CSV_HEADER "symbol,side,level,price,shares,orders\n"

/* Instruments of the dump tests, added out of symbol order, spread over two books. */
static void fill_dump_books(struct dd_book *b0, struct dd_book *b1)
{
	/* ABC: six bid levels and six ask levels, two orders at one price, added out of price order */
	add(b0, 1, "ABC", 10, 'B', 1, 980000);
	add(b0, 1, "ABC", 11, 'B', 100, 1000000);
	add(b0, 1, "ABC", 12, 'B', 1, 960000);
	add(b0, 1, "ABC", 13, 'B', 10, 1010000);
	add(b0, 1, "ABC", 14, 'B', 50, 1000000);
	add(b0, 1, "ABC", 15, 'B', 2, 990000);
	add(b0, 1, "ABC", 16, 'B', 3, 970000);
	add(b0, 1, "ABC", 20, 'S', 1, 1070000);
	add(b0, 1, "ABC", 21, 'S', 20, 1020000);
	add(b0, 1, "ABC", 22, 'S', 4, 1050000);
	add(b0, 1, "ABC", 23, 'S', 5, 1030000);
	add(b0, 1, "ABC", 24, 'S', 6, 1060000);
	add(b0, 1, "ABC", 25, 'S', 7, 1040000);
	/* B: only asks, the largest price, shares beyond 32 bits */
	add(b0, 2, "B", 30, 'S', 4000000000u, 4294967295u);
	add(b0, 2, "B", 31, 'S', 4000000000u, 4294967295u);
	/* DEAD: every order gone */
	add(b0, 4, "DEAD", 40, 'B', 5, 10000);
	assert_int_equal(del(b0, 4, 40) & DD_BOOK_REJECTED, 0);
	/* DIR: named by the directory, never an order */
	directory(b0, 5, "DIR");

	/* AB: smallest price */
	add(b1, 3, "AB", 50, 'B', 5, 1);
	add(b1, 3, "AB", 51, 'S', 6, 1234500);
	/* Ab sorts after ABC ('b' > 'C'), A before AB */
	add(b1, 6, "Ab", 60, 'B', 3, 5000);
	add(b1, 7, "A", 70, 'S', 7, 100);
	/* a directory name wins over the add's stock */
	directory(b1, 8, "ZED");
	add(b1, 8, "IGNORED", 80, 'B', 9, 10000);
}

static const char dump_want[] = CSV_HEADER
	"A,S,1,0.0100,7,1\n"
	"AB,B,1,0.0001,5,1\n"
	"AB,S,1,123.4500,6,1\n"
	"ABC,B,1,101.0000,10,1\n"
	"ABC,B,2,100.0000,150,2\n"
	"ABC,B,3,99.0000,2,1\n"
	"ABC,B,4,98.0000,1,1\n"
	"ABC,B,5,97.0000,3,1\n"
	"ABC,S,1,102.0000,20,1\n"
	"ABC,S,2,103.0000,5,1\n"
	"ABC,S,3,104.0000,7,1\n"
	"ABC,S,4,105.0000,4,1\n"
	"ABC,S,5,106.0000,6,1\n"
	"Ab,B,1,0.5000,3,1\n"
	"B,S,1,429496.7295,8000000000,2\n"
	"ZED,B,1,1.0000,9,1\n";

static void test_book_dump_is_sorted_by_symbol_bids_then_asks_best_first_five_levels(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	const char *path = fx_path(x, "book.csv");

	fill_dump_books(&x->book[0], &x->book[0]);
	assert_int_equal(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)), 0);
	assert_file_equal(path, dump_want);
}

static void test_book_dump_merges_the_shards_of_a_staged_run(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 2, NULL);
	const char *path = fx_path(x, "book.csv");

	fill_dump_books(&x->book[1], &x->book[0]);
	assert_int_equal(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)), 0);
	assert_file_equal(path, dump_want);
}

static void test_book_dump_of_several_feeds_writes_feed_colon_symbol(void **state)
{
	(void)state;
	static const char *const names[] = { "NSDQ", "BATS" };
	struct fx *x = fx_new(2, 2, names);
	const char *path = fx_path(x, "book.csv");

	/* books[shard * nfeeds + feed] */
	add(&x->book[0], 1, "AB", 1, 'B', 10, 10000);   /* shard 0, NSDQ */
	add(&x->book[1], 1, "AB", 1, 'S', 20, 20000);   /* shard 0, BATS: same symbol, other feed */
	add(&x->book[1], 2, "AA", 2, 'B', 30, 30000);   /* shard 0, BATS */
	add(&x->book[2], 3, "B", 3, 'S', 40, 40000);    /* shard 1, NSDQ */
	add(&x->book[3], 4, "C", 4, 'B', 50, 50000);    /* shard 1, BATS */
	assert_int_equal(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)), 0);
	assert_file_equal(path, CSV_HEADER
			  "BATS:AA,B,1,3.0000,30,1\n"
			  "NSDQ:AB,B,1,1.0000,10,1\n"
			  "BATS:AB,S,1,2.0000,20,1\n"
			  "NSDQ:B,S,1,4.0000,40,1\n"
			  "BATS:C,B,1,5.0000,50,1\n");
}

static void test_book_dump_of_empty_books_is_the_header_only(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	const char *path = fx_path(x, "book.csv");

	directory(&x->book[0], 1, "ABC");
	assert_int_equal(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)), 0);
	assert_file_equal(path, CSV_HEADER);
}

static void test_book_dump_to_an_unwritable_path_fails_naming_it(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);

	add(&x->book[0], 1, "ABC", 1, 'B', 10, 10000);
	assert_int_equal(dd_report_book_dump(&x->run, "/nonexistent-dir/book.csv", g_err, sizeof(g_err)), -ENOENT);
	assert_string_equal(g_err, "cannot write book dump /nonexistent-dir/book.csv: No such file or directory");
	assert_int_equal(dd_report_book_dump(&x->run, x->dir, g_err, sizeof(g_err)), -EISDIR);
	assert_contains(g_err, x->dir);
}

static void test_book_dump_quotes_and_escapes_symbols_from_the_wire(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	const char *path = fx_path(x, "book.csv");

	/* a comma, a quote, a newline, an escape sequence and a backslash, as a hostile feed sends them */
	add(&x->book[0], 1, "X,Y\"\n\x1b[\\", 1, 'B', 10, 10000);
	assert_int_equal(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)), 0);
	assert_file_equal(path, CSV_HEADER "\"X,Y\"\"\\x0a\\x1b[\\x5c\",B,1,1.0000,10,1\n");
	char buf[40];
	assert_string_equal(dd_report_text(buf, sizeof(buf), "AB\x01\x7f\\  ", 7), "AB\\x01\\x7f\\x5c");
	assert_string_equal(dd_report_text(buf, 6, "ABCDEFGH", 8), "ABCDE");
	assert_string_equal(dd_report_text(buf, 6, "A\x01", 2), "A\\x01");
	assert_string_equal(dd_report_text(buf, 5, "A\x01", 2), "A"); /* an escape that does not fit is left out */
}

static void test_a_report_that_cannot_be_written_leaves_the_old_file_whole(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	const char *path = fx_path(x, "book.csv");
	char tmp[600];

	add(&x->book[0], 1, "ABC", 1, 'B', 10, 10000);
	assert_int_equal(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)), 0);
	char *before = strdup(read_all(path));
	/* the temporary file cannot be made: the write fails, the file is as it was, no temporary left */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(mkdir(tmp, 0700), 0);
	add(&x->book[0], 1, "ABC", 2, 'B', 20, 10100);
	assert_true(dd_report_book_dump(&x->run, path, g_err, sizeof(g_err)) < 0);
	assert_contains(g_err, path);
	assert_string_equal(read_all(path), before);
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(dd_report_summary(&x->run, "/dev/null", g_err, sizeof(g_err)), 0); /* in place */
	struct stat st;
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(access(tmp, F_OK), -1);
	free(before);
}

static void test_book_dump_reports_a_failed_write(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);
	struct stat st;

	if (stat("/dev/full", &st) != 0) {
		fprintf(stderr, "SKIP: /dev/full is missing: cannot provoke a write error\n");
		skip();
	}
	add(&x->book[0], 1, "ABC", 1, 'B', 10, 10000);
	assert_int_equal(dd_report_book_dump(&x->run, "/dev/full", g_err, sizeof(g_err)), -ENOSPC);
	assert_string_equal(g_err, "writing book dump /dev/full failed: No space left on device");
}

/* ---- human summary ------------------------------------------------------------------------------ */

static char *human(const struct fx *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	assert_non_null(out);
	dd_report_human(&x->run, out);
	fclose(out);
	free(g_out);
	g_out = buf;
	return buf;
}

static void test_human_summary_states_the_run_in_readable_numbers(void **state)
{
	(void)state;
	struct fx *x = busy_run();

	x->rx.packets = 1234567;
	char *out = human(x);
	assert_contains(out, "dadar: 1,234,567 packets, 8 ITCH messages in 2.000 s (4 msg/s), run-to-completion "
			     "pipeline, 1 book shard\n");
	assert_contains(out, "  itch     A 5  D 1  I 2  \n");
	assert_contains(out, "  mold     nasdaq: session SESSION001, next seq 42; gaps 2 (17 missing), duplicates 2, "
			     "A/B copies dropped 3, heartbeats 19\n");
	assert_contains(out, "  book     1 instruments, 2 live orders on 2 price levels; 1 references to orders not "
			     "in the book\n");
	assert_contains(out, "  dropped  not_ipv4 7  udp_bad_checksum 2  no_feed 3  frame_too_long 1  mold_short 29  "
			     "mold_after_end 31  itch_bad_length 13  itch_empty 4  itch_unknown_type 11  \n");
	assert_contains(out, "    ABC           100 @ 100.0000 | 101.0000 x 50        0\n");
	assert_null(strstr(out, "REFUSED"));
}

static void test_human_summary_of_a_clean_run_says_nothing_dropped(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 2, NULL);

	char *out = human(x);
	assert_contains(out, "dadar: 0 packets, 0 ITCH messages in 0.000 s, run-to-completion pipeline, "
			     "2 book shards\n");
	assert_contains(out, "  mold     : session (none), next seq 1; gaps 0 (0 missing)");
	assert_contains(out, "  book     0 instruments, 0 live orders on 0 price levels\n");
	assert_contains(out, "  dropped  nothing\n");
	assert_null(strstr(out, "REFUSED"));
	assert_null(strstr(out, "top of book"));
}

static void test_human_summary_lists_every_drop_the_json_errors_list(void **state)
{
	(void)state;
	struct fx *x = fx_new(1, 1, NULL);

	/* dropped frames and datagrams that only these counters record (JSON: frame_too_long,
	 * mold_stale_session, mold_after_end) */
	x->rx.too_long = 5;
	x->feeds[0].mold.stats.stale_session = 6;
	x->feeds[0].mold.stats.after_end = 7;
	char *out = human(x);
	assert_null(strstr(out, "dropped  nothing"));
	assert_contains(out, "too_long 5");
	assert_contains(out, "stale_session 6");
	assert_contains(out, "after_end 7");
}

static void test_human_summary_mentions_capacity_refusals(void **state)
{
	(void)state;
	static const char *const names[] = { "a" };
	struct fx *x = fx_new(1, 2, names);

	/* shard 0: two orders at most, one instrument at most */
	fx_book(x, 0, 1, 2, 8);
	add(&x->book[0], 1, "ABC", 1, 'B', 1, 100);
	add(&x->book[0], 1, "ABC", 2, 'B', 1, 200);
	add_refused(&x->book[0], 1, 3, 300); /* order table full */
	assert_int_equal(del(&x->book[0], 1, 2) & DD_BOOK_REJECTED, 0);
	add_refused(&x->book[0], 2, 4, 300); /* instrument table full */
	/* shard 1: two levels at most */
	fx_book(x, 1, 4, 8, 2);
	add(&x->book[1], 3, "XYZ", 5, 'B', 1, 100);
	add(&x->book[1], 3, "XYZ", 6, 'S', 1, 200);
	add_refused(&x->book[1], 3, 7, 300); /* level pool full */
	assert_int_equal(x->book[0].stats.order_overflow, 1);
	assert_int_equal(x->book[0].stats.instrument_overflow, 1);
	assert_int_equal(x->book[1].stats.level_overflow, 1);

	char *out = human(x);
	assert_contains(out, "  book     2 instruments, 3 live orders on 3 price levels; 3 REFUSED FOR CAPACITY "
			     "(raise capacity.*)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_summary_is_valid_json_with_the_exact_counters, teardown),
		cmocka_unit_test_teardown(test_summary_of_a_clean_run_has_empty_errors_and_messages, teardown),
		cmocka_unit_test_teardown(test_summary_lists_learned_lines_of_a_catch_all_feed, teardown),
		cmocka_unit_test_teardown(test_summary_of_staged_run_sums_shards_and_reports_ring_full, teardown),
		cmocka_unit_test_teardown(test_summary_of_two_feeds_sums_counters_and_keeps_each_feed_apart, teardown),
		cmocka_unit_test_teardown(test_summary_escapes_session_bytes_into_valid_json, teardown),
		cmocka_unit_test_teardown(test_summary_to_an_unwritable_path_fails_naming_it, teardown),
		cmocka_unit_test_teardown(test_summary_reports_a_failed_write, teardown),
		cmocka_unit_test_teardown(test_book_dump_is_sorted_by_symbol_bids_then_asks_best_first_five_levels,
					  teardown),
		cmocka_unit_test_teardown(test_book_dump_merges_the_shards_of_a_staged_run, teardown),
		cmocka_unit_test_teardown(test_book_dump_of_several_feeds_writes_feed_colon_symbol, teardown),
		cmocka_unit_test_teardown(test_book_dump_of_empty_books_is_the_header_only, teardown),
		cmocka_unit_test_teardown(test_book_dump_to_an_unwritable_path_fails_naming_it, teardown),
		cmocka_unit_test_teardown(test_book_dump_reports_a_failed_write, teardown),
		cmocka_unit_test_teardown(test_book_dump_quotes_and_escapes_symbols_from_the_wire, teardown),
		cmocka_unit_test_teardown(test_a_report_that_cannot_be_written_leaves_the_old_file_whole, teardown),
		cmocka_unit_test_teardown(test_human_summary_states_the_run_in_readable_numbers, teardown),
		cmocka_unit_test_teardown(test_human_summary_of_a_clean_run_says_nothing_dropped, teardown),
		cmocka_unit_test_teardown(test_human_summary_lists_every_drop_the_json_errors_list, teardown),
		cmocka_unit_test_teardown(test_human_summary_mentions_capacity_refusals, teardown),
	};
	return cmocka_run_group_tests_name("dataplane/report", tests, NULL, NULL);
}
