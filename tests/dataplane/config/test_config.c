/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/config/config.c: defaults, every key set from a string, the config file reader,
 * the command-line flags, the cross-field checks and the feed line syntax.
 *
 * Expected ranges and defaults are written out here from the documentation, not read from the
 * module's option table, so a changed bound shows up as a failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/config/config.h"

#define ORIGIN "test.conf:7"

static char g_err[1024];

/* 233.54.12.111 in host order */
#define IP_233_54_12_111 0xE9360C6Fu
#define IP_233_54_12_112 0xE9360C70u

/* ---- helpers ------------------------------------------------------------------------------------ */

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", needle, hay);
}

static int set(struct dd_config *c, const char *key, const char *value)
{
	g_err[0] = '\0';
	return dd_config_set(c, key, value, ORIGIN, g_err, sizeof(g_err));
}

/* Define feed `key` afresh (a test parsing one line after another: defining it twice is refused). */
static int redefine(struct dd_config *c, const char *key, const char *value)
{
	for (unsigned i = 0; i < c->nfeeds; i++)
		if (strcmp(c->feed[i].name, key + 5) == 0) {
			memmove(&c->feed[i], &c->feed[i + 1], (c->nfeeds - i - 1) * sizeof(c->feed[0]));
			memmove(c->feed_origin[i], c->feed_origin[i + 1], (c->nfeeds - i - 1) * sizeof(c->feed_origin[0]));
			c->nfeeds--;
			break;
		}
	return set(c, key, value);
}

/* Set must fail with -EINVAL, leave `c` unchanged and name the key, the value and the origin. */
static void assert_rejected(struct dd_config *c, const char *key, const char *value)
{
	struct dd_config before;

	memcpy(&before, c, sizeof(before));

	if (set(c, key, value) != -EINVAL)
		fail_msg("%s = '%s' was accepted", key, value);
	assert_memory_equal(c, &before, sizeof(before));
	assert_contains(g_err, ORIGIN);
	assert_contains(g_err, key);
	char quoted[600];
	snprintf(quoted, sizeof(quoted), "'%s'", value);
	assert_contains(g_err, quoted);
}

/* Write `text` to a new temporary file; its path goes to path[] (at least 64 bytes). */
static void write_temp(char *path, const char *text)
{
	strcpy(path, "/tmp/dadar-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

static int load_text(struct dd_config *c, const char *text, char *path)
{
	write_temp(path, text);
	g_err[0] = '\0';
	return dd_config_load(c, path, g_err, sizeof(g_err));
}

static int args(struct dd_config *c, FILE *out, int argc, ...)
{
	char *argv[32];
	va_list ap;

	assert_true(argc <= 32);
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	g_err[0] = '\0';
	return dd_config_args(c, argc, argv, out, g_err, sizeof(g_err));
}

static void assert_line(const struct dd_feed_line *l, uint32_t ip, uint16_t port, uint16_t dpdk_port)
{
	assert_int_equal(l->ip, ip);
	assert_int_equal(l->udp_port, port);
	assert_int_equal(l->dpdk_port, dpdk_port);
}

/* ---- defaults ----------------------------------------------------------------------------------- */

static void test_defaults_are_the_documented_values(void **state)
{
	(void)state;
	struct dd_config c;

	memset(&c, 0x5a, sizeof(c));
	dd_config_defaults(&c);
	assert_int_equal(c.pipeline, DD_PIPELINE_RTC);
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.rx_burst, 32);
	assert_int_equal(c.rx_desc, 1024);
	assert_int_equal(c.mbufs, 8191);
	assert_int_equal(c.mbuf_size, 2176);
	assert_int_equal(c.ring_size, 16384);
	assert_int_equal(c.exit_on_idle_ms, 0);
	assert_true(c.check_ip_csum);
	assert_false(c.check_udp_csum);
	assert_false(c.quiet);
	assert_string_equal(c.summary, "");
	assert_string_equal(c.book_dump, "");
	assert_string_equal(c.instance, "dadar");
	assert_int_equal(c.book.max_instruments, 16384);
	assert_int_equal(c.book.max_orders, 1u << 20);
	assert_int_equal(c.book.max_levels, 1u << 18);
	assert_int_equal(c.mold.reorder_window, 16);
	assert_int_equal(c.mold.reorder_timeout, 0);
	assert_false(c.mold.rewind);
	assert_int_equal(c.mold_timeout_us, 1000);
	assert_int_equal(c.nfeeds, 0);
	assert_string_equal(c.journal, "");
	assert_int_equal(c.jsync, DD_JSYNC_GROUP);
	assert_int_equal(c.jcommit_us, 200);
	assert_int_equal(c.jcommit_bytes, 256u << 10);
	assert_int_equal(c.jsegment_mb, 256);
	assert_int_equal(c.jring_size, 65536);
	assert_int_equal(c.jstall_ms, 2000);
	assert_false(c.jsqpoll);
	assert_int_equal(c.jidle, DD_JIDLE_SPIN);
	assert_int_equal(c.release, DD_RELEASE_DURABLE);
	assert_string_equal(c.output, "");
	assert_int_equal(c.snapshot_every, 0);
}

static void test_defaults_pass_the_cross_field_check(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), 0);
}

/* ---- numbers ------------------------------------------------------------------------------------ */

struct uint_key {
	const char *key;
	size_t off, size;
	uint64_t min, max;
};

#define UK(k, field, lo, hi) { k, offsetof(struct dd_config, field), sizeof(((struct dd_config *)0)->field), lo, hi }

static const struct uint_key uint_keys[] = {
	UK("workers", workers, 1, 64),
	UK("rx_burst", rx_burst, 1, 512),
	UK("rx_desc", rx_desc, 64, 16384),
	UK("mbufs", mbufs, 1023, 16777215),
	UK("mbuf_size", mbuf_size, 1024, 65535),
	UK("ring_size", ring_size, 64, 16777216),
	UK("exit_on_idle", exit_on_idle_ms, 0, 86400000),
	UK("capacity.instruments", book.max_instruments, 1, 65535),
	UK("capacity.orders", book.max_orders, 1, 1073741824),
	UK("capacity.levels", book.max_levels, 2, 1073741824),
	UK("mold.reorder_window", mold.reorder_window, 0, 64),
	UK("mold.reorder_timeout_us", mold_timeout_us, 0, 10000000),
};
#define NUINT (sizeof(uint_keys) / sizeof(uint_keys[0]))

static uint64_t get_uint(const struct dd_config *c, const struct uint_key *k)
{
	const char *p = (const char *)c + k->off;
	if (k->size == sizeof(uint64_t)) {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		return v;
	}
	assert_int_equal(k->size, sizeof(uint32_t));
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static void test_every_number_key_accepts_its_min_and_max(void **state)
{
	(void)state;
	char v[32];

	for (size_t i = 0; i < NUINT; i++) {
		const struct uint_key *k = &uint_keys[i];
		struct dd_config c;
		dd_config_defaults(&c);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)k->min);
		if (set(&c, k->key, v) != 0)
			fail_msg("%s = %s rejected: %s", k->key, v, g_err);
		assert_int_equal(get_uint(&c, k), k->min);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)k->max);
		if (set(&c, k->key, v) != 0)
			fail_msg("%s = %s rejected: %s", k->key, v, g_err);
		assert_int_equal(get_uint(&c, k), k->max);
	}
}

static void test_every_number_key_rejects_one_below_min_and_one_above_max(void **state)
{
	(void)state;
	char v[32], range[64];

	for (size_t i = 0; i < NUINT; i++) {
		const struct uint_key *k = &uint_keys[i];
		struct dd_config c;
		dd_config_defaults(&c);
		snprintf(range, sizeof(range), "from %llu to %llu", (unsigned long long)k->min,
			 (unsigned long long)k->max);
		if (k->min > 0) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)k->min - 1);
			assert_rejected(&c, k->key, v);
			assert_contains(g_err, range);
		}
		snprintf(v, sizeof(v), "%llu", (unsigned long long)k->max + 1);
		assert_rejected(&c, k->key, v);
		assert_contains(g_err, range);
	}
}

static void test_numbers_reject_non_digits_empty_sign_and_overflow(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "12a", "a12", "0x10", "1.5", "1e3", "1,000",
		"18446744073709551615",  /* UINT64_MAX: parses, above every max */
		"18446744073709551616",  /* UINT64_MAX + 1: overflows */
		"99999999999999999999999",
		"4294967297",            /* 2^32 + 1: would wrap to 1 in an unsigned field */
	};

	for (size_t i = 0; i < NUINT; i++) {
		struct dd_config c;
		dd_config_defaults(&c);
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
			assert_rejected(&c, uint_keys[i].key, bad[j]);
	}
}

static void test_numbers_accept_leading_zeros(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "workers", "007"), 0);
	assert_int_equal(c.workers, 7);
	assert_int_equal(set(&c, "exit_on_idle", "0"), 0);
	assert_int_equal(c.exit_on_idle_ms, 0);
}

/* ---- booleans, paths, names, pipeline ----------------------------------------------------------- */

static void test_booleans_accept_every_documented_spelling_in_any_case(void **state)
{
	(void)state;
	static const char *const yes[] = { "1", "yes", "true", "on", "YES", "True", "oN" };
	static const char *const no[] = { "0", "no", "false", "off", "NO", "False", "OFF" };
	static const char *const keys[] = { "check_ip_csum", "check_udp_csum", "quiet", "mold.rewind" };
	struct dd_config c;

	dd_config_defaults(&c);
	bool *const fields[] = { &c.check_ip_csum, &c.check_udp_csum, &c.quiet, &c.mold.rewind };
	for (size_t k = 0; k < 4; k++) {
		bool *field = fields[k];
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
			*field = false;
			assert_int_equal(set(&c, keys[k], yes[i]), 0);
			assert_true(*field);
			assert_int_equal(set(&c, keys[k], no[i]), 0);
			assert_false(*field);
		}
	}
}

static void test_booleans_reject_other_words(void **state)
{
	(void)state;
	static const char *const bad[] = { "", "y", "n", "2", "enable", " yes", "yes ", "truee", "of" };
	struct dd_config c;

	dd_config_defaults(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_rejected(&c, "quiet", bad[i]);
		assert_contains(g_err, "yes/no");
	}
}

static void test_paths_are_stored_up_to_511_bytes(void **state)
{
	(void)state;
	struct dd_config c;
	char p[DD_PATH_MAX + 1];

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "summary", "/tmp/out/summary.json"), 0);
	assert_string_equal(c.summary, "/tmp/out/summary.json");
	assert_int_equal(set(&c, "book_dump", "book dump, with spaces=.csv"), 0);
	assert_string_equal(c.book_dump, "book dump, with spaces=.csv");

	memset(p, 'x', DD_PATH_MAX - 1);
	p[DD_PATH_MAX - 1] = '\0';
	assert_int_equal(set(&c, "summary", p), 0);
	assert_string_equal(c.summary, p);

	assert_int_equal(set(&c, "summary", ""), 0);
	assert_string_equal(c.summary, "");
}

static void test_path_of_512_bytes_is_rejected_naming_key_and_origin(void **state)
{
	(void)state;
	struct dd_config c, before;
	char p[DD_PATH_MAX + 1];

	dd_config_defaults(&c);
	before = c;
	memset(p, 'x', DD_PATH_MAX);
	p[DD_PATH_MAX] = '\0';
	assert_int_equal(set(&c, "book_dump", p), -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_contains(g_err, ORIGIN);
	assert_contains(g_err, "book_dump");
	assert_contains(g_err, "511");
}

static void test_instance_names_accept_letters_digits_dash_underscore_up_to_31(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "instance", "a"), 0);
	assert_string_equal(c.instance, "a");
	assert_int_equal(set(&c, "instance", "Node-1_b"), 0);
	assert_string_equal(c.instance, "Node-1_b");
	assert_int_equal(set(&c, "instance", "abcdefghijklmnopqrstuvwxyz01234"), 0);
	assert_string_equal(c.instance, "abcdefghijklmnopqrstuvwxyz01234");
}

static void test_instance_names_reject_empty_long_and_other_characters(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "abcdefghijklmnopqrstuvwxyz012345", "a b", "a.b", "a/b", "../x", "a:b", "caf\xc3\xa9",
	};
	struct dd_config c;

	dd_config_defaults(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_rejected(&c, "instance", bad[i]);
		assert_contains(g_err, "1-31");
	}
}

static void test_pipeline_accepts_rtc_and_staged_only(void **state)
{
	(void)state;
	static const char *const bad[] = { "", "RTC", "Staged", "stage", "rtc ", "pipeline" };
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "pipeline", "staged"), 0);
	assert_int_equal(c.pipeline, DD_PIPELINE_STAGED);
	assert_int_equal(set(&c, "pipeline", "rtc"), 0);
	assert_int_equal(c.pipeline, DD_PIPELINE_RTC);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_rejected(&c, "pipeline", bad[i]);
		assert_contains(g_err, "rtc or staged");
	}
}

static void test_journal_idle_accepts_spin_and_yield_only(void **state)
{
	(void)state;
	static const char *const bad[] = { "", "Spin", "YIELD", "sleep", "spin ", "1" };
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "journal.idle", "yield"), 0);
	assert_int_equal(c.jidle, DD_JIDLE_YIELD);
	assert_int_equal(set(&c, "journal.idle", "spin"), 0);
	assert_int_equal(c.jidle, DD_JIDLE_SPIN);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_rejected(&c, "journal.idle", bad[i]);
		assert_contains(g_err, "spin or yield");
	}
}

static void test_unknown_key_is_rejected_naming_key_and_origin(void **state)
{
	(void)state;
	struct dd_config c, before;

	dd_config_defaults(&c);
	before = c;
	assert_int_equal(set(&c, "worker", "2"), -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_string_equal(g_err, ORIGIN ": unknown key 'worker' (dadar --help lists every key)");
	/* keys are case sensitive and written with dots and underscores, never dashes */
	assert_int_equal(set(&c, "Workers", "2"), -EINVAL);
	assert_int_equal(set(&c, "rx-burst", "2"), -EINVAL);
	assert_int_equal(set(&c, "capacity_orders", "2"), -EINVAL);
	assert_int_equal(set(&c, "", "2"), -EINVAL);
}

static void test_error_message_of_a_number_is_exact(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "workers", "65"), -EINVAL);
	assert_string_equal(g_err, ORIGIN ": workers = '65': must be a whole number from 1 to 64");
}

/* ---- feeds -------------------------------------------------------------------------------------- */

static void test_feed_line_with_group_and_port(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.nasdaq", "233.54.12.111:26477"), 0);
	assert_int_equal(c.nfeeds, 1);
	assert_string_equal(c.feed[0].name, "nasdaq");
	assert_int_equal(c.feed[0].nlines, 1);
	assert_line(&c.feed[0].line[0], IP_233_54_12_111, 26477, DD_ANY_PORT);
}

static void test_feed_line_wildcards_and_dpdk_port_suffix(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.a", "*:26477"), 0);
	assert_line(&c.feed[0].line[0], 0, 26477, DD_ANY_PORT);
	assert_int_equal(redefine(&c, "feed.a", "233.54.12.111:*"), 0);
	assert_line(&c.feed[0].line[0], IP_233_54_12_111, 0, DD_ANY_PORT);
	assert_int_equal(redefine(&c, "feed.a", "*:*"), 0);
	assert_line(&c.feed[0].line[0], 0, 0, DD_ANY_PORT);
	assert_int_equal(redefine(&c, "feed.a", "233.54.12.111:26477@1"), 0);
	assert_line(&c.feed[0].line[0], IP_233_54_12_111, 26477, 1);
	assert_int_equal(redefine(&c, "feed.a", "*:26477@0"), 0);
	assert_line(&c.feed[0].line[0], 0, 26477, 0);
	assert_int_equal(redefine(&c, "feed.a", "*:*@65534"), 0);
	assert_line(&c.feed[0].line[0], 0, 0, 65534);
	assert_int_equal(redefine(&c, "feed.a", "0.0.0.1:1"), 0);
	assert_line(&c.feed[0].line[0], 1, 1, DD_ANY_PORT);
	assert_int_equal(redefine(&c, "feed.a", "255.255.255.255:65535"), 0);
	assert_line(&c.feed[0].line[0], 0xFFFFFFFFu, 65535, DD_ANY_PORT);
	assert_int_equal(c.nfeeds, 1);
}

static void test_feed_with_four_lines_keeps_their_order_and_trims_spaces(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.ab", " 233.54.12.111:26477 ,233.54.12.112:26477@1,\t*:26478 , 10.0.0.1:*"), 0);
	assert_int_equal(c.feed[0].nlines, 4);
	assert_line(&c.feed[0].line[0], IP_233_54_12_111, 26477, DD_ANY_PORT);
	assert_line(&c.feed[0].line[1], IP_233_54_12_112, 26477, 1);
	assert_line(&c.feed[0].line[2], 0, 26478, DD_ANY_PORT);
	assert_line(&c.feed[0].line[3], 0x0A000001u, 0, DD_ANY_PORT);
}

static void test_feed_with_five_lines_is_rejected(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.ab", "1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1"), -EINVAL);
	assert_contains(g_err, ORIGIN);
	assert_contains(g_err, "feed.ab");
	assert_contains(g_err, "at most 4 lines");
}

static void test_feed_rejects_bad_groups(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"256.1.1.1:26477", "1.2.3:26477", "1.2.3.4.5:26477", "a.b.c.d:26477", "1.2.3.x:26477",
		"1..2.3:26477", ".1.2.3:26477", "1.2.3.4.:26477", ":26477", "1.2.3.1000:26477", "-1.2.3.4:1",
		"**:26477", "1.2.3.4@1:26477", " 1.2.3.4 :26477", "233.54.12.111", "233.54.12.111;26477",
		"0001.2.3.4:26477", "4294967297.2.3.4:26477", /* 2^32 + 1 would wrap to 1 */
		/* a leading zero: octal to inet_aton (010 is 8), refused by inet_pton */
		"010.1.1.1:26477", "1.02.3.4:26477", "1.2.3.00:26477", "233.054.12.111:26477",
	};
	struct dd_config c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dd_config_defaults(&c);
		if (set(&c, "feed.x", bad[i]) != -EINVAL)
			fail_msg("feed line '%s' accepted", bad[i]);
		assert_contains(g_err, ORIGIN);
		assert_contains(g_err, "feed.x");
		assert_contains(g_err, "GROUP:PORT");
	}
}

static void test_feed_rejects_bad_ports(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:-1", "1.2.3.4:+1", "1.2.3.4:x",
		"1.2.3.4:99999999999999999999", "1.2.3.4:80@", "1.2.3.4:80@65535", "1.2.3.4:80@x",
		"1.2.3.4:@1", "1.2.3.4:80@1@2", "1.2.3.4:80@-1", "1.2.3.4:**",
	};
	struct dd_config c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dd_config_defaults(&c);
		if (set(&c, "feed.x", bad[i]) != -EINVAL)
			fail_msg("feed line '%s' accepted", bad[i]);
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "line '%s'", bad[i]);
		assert_contains(g_err, quoted);
		assert_contains(g_err, ORIGIN);
	}
}

static void test_feed_error_quotes_the_offending_line_exactly(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.b", "233.54.12.111:26477, 256.1.1.1:26477"), -EINVAL);
	assert_string_equal(g_err, ORIGIN ": feed.b: line '256.1.1.1:26477' is not GROUP:PORT[@DPDK_PORT] "
				   "(e.g. 233.54.12.111:26477, *:26477@1)");
}

static void test_feed_without_any_line_is_rejected(void **state)
{
	(void)state;
	static const char *const none[] = { "", ",", ",,," };
	static const char *const blank[] = { "   ", " , ,", "1.2.3.4:5, ,1.2.3.4:6" };
	struct dd_config c;

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		dd_config_defaults(&c);
		assert_int_equal(set(&c, "feed.x", none[i]), -EINVAL);
		char want[128];
		snprintf(want, sizeof(want), ORIGIN ": feed.x = '%s': needs at least one line GROUP:PORT", none[i]);
		assert_string_equal(g_err, want);
	}
	/* a blank between commas is an empty line, not nothing */
	for (size_t i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
		dd_config_defaults(&c);
		assert_int_equal(set(&c, "feed.x", blank[i]), -EINVAL);
		assert_contains(g_err, ORIGIN ": feed.x: line '' is not GROUP:PORT");
	}
}

static void test_feed_names_are_validated(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"feed.", "feed.a b", "feed.a.b", "feed.a/b", "feed.abcdefghijklmnopqrstuvwxyz012345",
	};
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.Nasdaq-A_1", "1.2.3.4:5"), 0);
	assert_int_equal(set(&c, "feed.abcdefghijklmnopqrstuvwxyz01234", "1.2.3.4:6"), 0);
	assert_int_equal(c.nfeeds, 2);
	assert_string_equal(c.feed[0].name, "Nasdaq-A_1");
	assert_string_equal(c.feed[1].name, "abcdefghijklmnopqrstuvwxyz01234");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dd_config before = c;
		assert_int_equal(set(&c, bad[i], "1.2.3.4:7"), -EINVAL);
		assert_memory_equal(&c, &before, sizeof(c));
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "feed name '%s'", bad[i] + 5);
		assert_contains(g_err, quoted);
		assert_contains(g_err, ORIGIN);
	}
}

static void test_more_than_max_feeds_is_rejected_naming_the_feed(void **state)
{
	(void)state;
	struct dd_config c;
	char key[32], value[32];

	dd_config_defaults(&c);
	for (int i = 0; i < DD_MAX_FEEDS; i++) {
		snprintf(key, sizeof(key), "feed.f%d", i);
		snprintf(value, sizeof(value), "10.0.0.%d:1000", i + 1);
		assert_int_equal(set(&c, key, value), 0);
	}
	assert_int_equal(c.nfeeds, DD_MAX_FEEDS);
	/* a flag overriding one of them is still fine */
	assert_int_equal(dd_config_set(&c, "feed.f3", "10.0.1.1:2000", "--feed", g_err, sizeof(g_err)), 0);
	assert_int_equal(c.nfeeds, DD_MAX_FEEDS);

	assert_int_equal(set(&c, "feed.ninth", "10.0.0.9:1000"), -EINVAL);
	assert_int_equal(c.nfeeds, DD_MAX_FEEDS);
	assert_contains(g_err, ORIGIN);
	assert_contains(g_err, "at most 8");
	/* the user must learn which definition was one too many (header: every rejection names the key) */
	assert_contains(g_err, "ninth");
}

static void test_a_feed_defined_twice_is_refused_naming_both_unless_a_flag_overrides_a_file(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(dd_config_set(&c, "feed.a", "1.1.1.1:1,1.1.1.2:2,1.1.1.3:3", "f.conf:3", g_err, sizeof(g_err)), 0);
	assert_int_equal(dd_config_set(&c, "feed.b", "2.2.2.2:2", "f.conf:4", g_err, sizeof(g_err)), 0);
	/* twice in files (or twice on the command line): which one was meant? */
	assert_int_equal(dd_config_set(&c, "feed.a", "4.4.4.4:4", "f.conf:9", g_err, sizeof(g_err)), -EINVAL);
	assert_string_equal(g_err, "feed.a is defined twice: at f.conf:3 and at f.conf:9 (a flag may override a "
			    "config file's feed; otherwise keep one)");
	assert_int_equal(c.feed[0].nlines, 3);
	/* a flag overrides the file's definition, once */
	assert_int_equal(dd_config_set(&c, "feed.a", "3.3.3.3:3", "--feed", g_err, sizeof(g_err)), 0);
	assert_int_equal(c.nfeeds, 2);
	assert_string_equal(c.feed[0].name, "a");
	assert_int_equal(c.feed[0].nlines, 1);
	assert_line(&c.feed[0].line[0], 0x03030303u, 3, DD_ANY_PORT);
	assert_string_equal(c.feed[1].name, "b");
	assert_int_equal(c.feed[1].nlines, 1);
	assert_line(&c.feed[1].line[0], 0x02020202u, 2, DD_ANY_PORT);
	assert_int_equal(dd_config_set(&c, "feed.a", "5.5.5.5:5", "--feed", g_err, sizeof(g_err)), -EINVAL);
	assert_contains(g_err, "at --feed and at --feed");
}

/* A flag may change a file's feed from market to payment or back: market feeds stay first (found by
 * tests/fuzz/fuzz_config: a payment feed ahead of a market one made every feed after it a payment feed). */
static void test_a_flag_changing_a_feeds_kind_moves_it_keeping_market_feeds_first(void **state)
{
	(void)state;
	struct dd_config c;
	struct dd_feed_cfg f[DD_MAX_FEEDS];

	dd_config_defaults(&c);
	assert_int_equal(dd_config_set(&c, "feed.a", "1.1.1.1:1", "f.conf:1", g_err, sizeof(g_err)), 0);
	assert_int_equal(dd_config_set(&c, "feed.b", "2.2.2.2:2", "f.conf:2", g_err, sizeof(g_err)), 0);
	assert_int_equal(dd_config_set(&c, "feed.p", "payment 9.9.9.9:9", "f.conf:3", g_err, sizeof(g_err)), 0);
	/* market a becomes a payment feed: after the market feeds */
	assert_int_equal(dd_config_set(&c, "feed.a", "payment 3.3.3.3:3", "--feed", g_err, sizeof(g_err)), 0);
	assert_int_equal(c.nfeeds, 3);
	assert_string_equal(c.feed[0].name, "b");
	assert_int_equal(c.feed[0].kind, DD_FEED_MARKET);
	assert_string_equal(c.feed_origin[0], "f.conf:2");
	assert_string_equal(c.feed[1].name, "p");
	assert_string_equal(c.feed_origin[1], "f.conf:3");
	assert_string_equal(c.feed[2].name, "a");
	assert_int_equal(c.feed[2].kind, DD_FEED_PAYMENT);
	assert_line(&c.feed[2].line[0], 0x03030303u, 3, DD_ANY_PORT);
	assert_string_equal(c.feed_origin[2], "--feed");
	assert_int_equal(dd_config_market_feeds(f, dd_config_feeds(&c, f)), 1);
	/* payment p becomes a market feed: after the market feeds, before the payment ones */
	assert_int_equal(dd_config_set(&c, "feed.p", "market 4.4.4.4:4", "--feed", g_err, sizeof(g_err)), 0);
	assert_int_equal(c.nfeeds, 3);
	assert_string_equal(c.feed[0].name, "b");
	assert_string_equal(c.feed[1].name, "p");
	assert_int_equal(c.feed[1].kind, DD_FEED_MARKET);
	assert_string_equal(c.feed_origin[1], "--feed");
	assert_string_equal(c.feed[2].name, "a");
	assert_int_equal(dd_config_market_feeds(f, dd_config_feeds(&c, f)), 2);
	/* overridden once: a second flag is refused as before */
	assert_int_equal(dd_config_set(&c, "feed.a", "5.5.5.5:5", "--feed", g_err, sizeof(g_err)), -EINVAL);
	assert_contains(g_err, "at --feed and at --feed");
}

/* ---- the config file ---------------------------------------------------------------------------- */

static void test_load_applies_keys_and_skips_comments_blank_lines_and_whitespace(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64];

	dd_config_defaults(&c);
	int rc = load_text(&c,
			   "# dadar test configuration\n"
			   "\n"
			   "   \t  \n"
			   "workers = 4   # four of them\n"
			   "  rx_burst=64\n"
			   "capacity.orders\t=\t1000\r\n"
			   "#workers = 9\n"
			   "   # indented comment\n"
			   "pipeline = staged\n"
			   "summary = /tmp/a=b.json\n"
			   "quiet = yes\n"
			   "feed.A = 233.54.12.111:26477, 233.54.12.112:26477@1\n"
			   "instance = test-1",
			   path);
	if (rc != 0)
		fail_msg("load failed: %s", g_err);
	unlink(path);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.rx_burst, 64);
	assert_int_equal(c.book.max_orders, 1000);
	assert_int_equal(c.pipeline, DD_PIPELINE_STAGED);
	assert_string_equal(c.summary, "/tmp/a=b.json");
	assert_true(c.quiet);
	assert_int_equal(c.nfeeds, 1);
	assert_string_equal(c.feed[0].name, "A");
	assert_int_equal(c.feed[0].nlines, 2);
	assert_line(&c.feed[0].line[0], IP_233_54_12_111, 26477, DD_ANY_PORT);
	assert_line(&c.feed[0].line[1], IP_233_54_12_112, 26477, 1);
	assert_string_equal(c.instance, "test-1");
	/* untouched keys keep their defaults */
	assert_int_equal(c.rx_desc, 1024);
}

static void test_load_of_an_empty_file_changes_nothing(void **state)
{
	(void)state;
	struct dd_config c, d;
	char path[64];

	dd_config_defaults(&c);
	d = c;
	assert_int_equal(load_text(&c, "", path), 0);
	unlink(path);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_load_error_names_file_and_line_of_a_bad_value(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64], want[256];

	dd_config_defaults(&c);
	int rc = load_text(&c, "# c\nworkers = 2\n\nrx_burst = 0\nrx_desc = 128\n", path);
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s:4: rx_burst = '0': must be a whole number from 1 to 512", path);
	assert_string_equal(g_err, want);
	/* lines before the error were applied, lines after it were not read */
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.rx_desc, 1024);
}

static void test_load_error_names_file_and_line_of_an_unknown_key(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64], want[256];

	dd_config_defaults(&c);
	int rc = load_text(&c, "workers = 2\nworkerz = 3\n", path);
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown key 'workerz' (dadar --help lists every key)", path);
	assert_string_equal(g_err, want);
}

static void test_load_rejects_a_line_without_equals_sign(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64], want[256];

	dd_config_defaults(&c);
	int rc = load_text(&c, "\n\nworkers 2   # no equals\n", path);
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s:3: expected 'key = value', got 'workers 2'", path);
	assert_string_equal(g_err, want);
	assert_int_equal(c.workers, 1);
}

static void test_load_rejects_an_over_long_line(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64], text[2100];

	dd_config_defaults(&c);
	strcpy(text, "workers = 2\n# ");
	memset(text + strlen(text), 'x', 2000);
	strcpy(text + 14 + 2000, "\n");
	int rc = load_text(&c, text, path);
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: line longer than", path);
	assert_contains(g_err, want);
}

/* A NUL byte is not the end of its line: the line is refused as such, not as an over-long one. */
static void test_load_rejects_a_nul_byte_naming_its_line(void **state)
{
	(void)state;
	static const char text[] = "workers = 2\nwork\0ers = 3\n";
	struct dd_config c;
	char path[64];

	dd_config_defaults(&c);
	strcpy(path, "/tmp/dadar-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	g_err[0] = '\0';
	int rc = dd_config_load(&c, path, g_err, sizeof(g_err));
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: a NUL byte", path);
	assert_contains(g_err, want);
	assert_int_equal(c.workers, 2);
}

/* What main() takes for one of dadar's options given before the `--` (DPDK's side). */
static void test_is_flag_knows_every_form_dd_config_args_takes(void **state)
{
	(void)state;
	assert_true(dd_config_is_flag("--workers"));
	assert_true(dd_config_is_flag("--journal-sqpoll"));
	assert_true(dd_config_is_flag("--quiet"));
	assert_true(dd_config_is_flag("--no-quiet"));      /* a boolean turned off */
	assert_true(dd_config_is_flag("--no-check-ip-csum"));
	assert_true(dd_config_is_flag("--set"));
	assert_true(dd_config_is_flag("--bench-loop"));
	assert_false(dd_config_is_flag("--no-workers"));   /* not a boolean: dd_config_args refuses it */
	assert_false(dd_config_is_flag("--no-"));
	assert_false(dd_config_is_flag("--vdev"));         /* DPDK's */
	assert_false(dd_config_is_flag("-l"));
	assert_false(dd_config_is_flag("--nonsense"));
}

static void test_load_of_a_missing_file_returns_enoent_naming_the_path(void **state)
{
	(void)state;
	struct dd_config c, d;

	dd_config_defaults(&c);
	d = c;
	assert_int_equal(dd_config_load(&c, "/nonexistent/dadar-test.conf", g_err, sizeof(g_err)), -ENOENT);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_contains(g_err, "/nonexistent/dadar-test.conf");
	assert_contains(g_err, strerror(ENOENT));
}

static void test_load_of_a_directory_fails_naming_the_path(void **state)
{
	(void)state;
	struct dd_config c;

	/* fopen("r") of a directory succeeds on Linux; the read then fails with EISDIR */
	dd_config_defaults(&c);
	g_err[0] = '\0';
	int rc = dd_config_load(&c, "/tmp", g_err, sizeof(g_err));
	assert_int_equal(rc, -EISDIR);
	assert_contains(g_err, "/tmp");
}

/* ---- command-line flags ------------------------------------------------------------------------- */

static void test_args_config_is_read_first_even_when_given_last(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64];

	dd_config_defaults(&c);
	write_temp(path, "workers = 2\nrx_burst = 64\nquiet = yes\n");
	int rc = args(&c, stdout, 5, "--workers", "4", "--no-quiet", "--config", path);
	unlink(path);
	if (rc != 0)
		fail_msg("args failed: %s", g_err);
	assert_int_equal(c.workers, 4);   /* the flag overrides the file */
	assert_int_equal(c.rx_burst, 64); /* the file applies where no flag overrides */
	assert_false(c.quiet);
}

static void test_args_config_errors_keep_file_and_line(void **state)
{
	(void)state;
	struct dd_config c;
	char path[64], want[256];

	dd_config_defaults(&c);
	write_temp(path, "workers = 2\nmbufs = 5\n");
	int rc = args(&c, stdout, 2, "--config", path);
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s:2: mbufs = '5': must be a whole number from 1023 to 16777215", path);
	assert_string_equal(g_err, want);

	rc = args(&c, stdout, 2, "--config", "/nonexistent/x.conf");
	assert_int_equal(rc, -ENOENT);
	assert_contains(g_err, "/nonexistent/x.conf");

	rc = args(&c, stdout, 1, "--config");
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(g_err, "--config needs a file name");

	/* the next option is not a file name */
	g_err[0] = '\0';
	rc = args(&c, stdout, 2, "--config", "--quiet");
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(g_err, "--config needs a file name");
}

static void test_args_set_takes_any_key(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	int rc = args(&c, stdout, 8, "--set", "workers=5", "--set", "capacity.orders=100", "--set",
		      "summary=/tmp/x=y.json", "--set", "feed.n=1.2.3.4:5");
	if (rc != 0)
		fail_msg("args failed: %s", g_err);
	assert_int_equal(c.workers, 5);
	assert_int_equal(c.book.max_orders, 100);
	assert_string_equal(c.summary, "/tmp/x=y.json");
	assert_int_equal(c.nfeeds, 1);
	assert_string_equal(c.feed[0].name, "n");
	assert_line(&c.feed[0].line[0], 0x01020304u, 5, DD_ANY_PORT);
}

static void test_args_set_errors_name_flag_key_and_value(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 2, "--set", "workers=0"), -EINVAL);
	assert_string_equal(g_err, "--set: workers = '0': must be a whole number from 1 to 64");
	assert_int_equal(args(&c, stdout, 2, "--set", "nope=1"), -EINVAL);
	assert_string_equal(g_err, "--set: unknown key 'nope' (dadar --help lists every key)");
	assert_int_equal(args(&c, stdout, 2, "--set", "workers"), -EINVAL);
	assert_string_equal(g_err, "--set needs KEY=VALUE");
	assert_int_equal(args(&c, stdout, 1, "--set"), -EINVAL);
	assert_string_equal(g_err, "--set needs KEY=VALUE");
}

static void test_args_feed_defines_a_feed(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	int rc = args(&c, stdout, 4, "--feed", "a=233.54.12.111:26477,233.54.12.112:26477", "--feed", "b=*:26478@1");
	if (rc != 0)
		fail_msg("args failed: %s", g_err);
	assert_int_equal(c.nfeeds, 2);
	assert_string_equal(c.feed[0].name, "a");
	assert_int_equal(c.feed[0].nlines, 2);
	assert_line(&c.feed[0].line[0], IP_233_54_12_111, 26477, DD_ANY_PORT);
	assert_line(&c.feed[0].line[1], IP_233_54_12_112, 26477, DD_ANY_PORT);
	assert_string_equal(c.feed[1].name, "b");
	assert_int_equal(c.feed[1].nlines, 1);
	assert_line(&c.feed[1].line[0], 0, 26478, 1);

	assert_int_equal(args(&c, stdout, 2, "--feed", "a"), -EINVAL);
	assert_string_equal(g_err, "--feed needs NAME=GROUP:PORT[,GROUP:PORT...]");
	assert_int_equal(args(&c, stdout, 2, "--feed", "c=1.2.3.4:0"), -EINVAL);
	assert_contains(g_err, "--feed: feed.c: line '1.2.3.4:0'");
}

static void test_args_flags_write_dots_and_underscores_as_dashes(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	int rc = args(&c, stdout, 30, "--capacity-orders", "100", "--capacity-levels", "200",
		      "--capacity-instruments", "300", "--mold-reorder-window", "0", "--mold-reorder-timeout-us",
		      "50", "--rx-burst", "8", "--rx-desc", "128", "--mbuf-size", "4096", "--ring-size", "1024",
		      "--exit-on-idle", "200", "--book-dump", "/tmp/b.csv", "--summary", "/tmp/s.json", "--mbufs",
		      "2047", "--instance", "inst", "--pipeline", "staged");
	if (rc != 0)
		fail_msg("args failed: %s", g_err);
	assert_int_equal(c.book.max_orders, 100);
	assert_int_equal(c.book.max_levels, 200);
	assert_int_equal(c.book.max_instruments, 300);
	assert_int_equal(c.mold.reorder_window, 0);
	assert_int_equal(c.mold_timeout_us, 50);
	assert_int_equal(c.rx_burst, 8);
	assert_int_equal(c.rx_desc, 128);
	assert_int_equal(c.mbuf_size, 4096);
	assert_int_equal(c.ring_size, 1024);
	assert_int_equal(c.exit_on_idle_ms, 200);
	assert_string_equal(c.book_dump, "/tmp/b.csv");
	assert_string_equal(c.summary, "/tmp/s.json");
	assert_int_equal(c.mbufs, 2047);
	assert_string_equal(c.instance, "inst");
	assert_int_equal(c.pipeline, DD_PIPELINE_STAGED);

	rc = args(&c, stdout, 2, "--workers", "3");
	assert_int_equal(rc, 0);
	assert_int_equal(c.workers, 3);
}

static void test_args_flags_spelled_with_dots_or_underscores_are_unknown(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 2, "--capacity.orders", "5"), -EINVAL);
	assert_string_equal(g_err, "unknown option '--capacity.orders' (see --help)");
	assert_int_equal(args(&c, stdout, 2, "--rx_burst", "5"), -EINVAL);
	assert_string_equal(g_err, "unknown option '--rx_burst' (see --help)");
	assert_int_equal(args(&c, stdout, 2, "--capacity-order", "5"), -EINVAL);
	assert_int_equal(args(&c, stdout, 2, "--capacity-orders-x", "5"), -EINVAL);
	assert_int_equal(c.book.max_orders, 1u << 20);
}

static void test_args_flag_errors_name_the_flag_key_and_value(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 2, "--rx-burst", "513"), -EINVAL);
	assert_string_equal(g_err, "--rx-burst: rx_burst = '513': must be a whole number from 1 to 512");
}

static void test_args_later_flags_override_earlier_ones(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 6, "--workers", "2", "--set", "workers=3", "--workers", "4"), 0);
	assert_int_equal(c.workers, 4);
}

static void test_args_boolean_flags_take_no_value_and_no_prefix_turns_them_off(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	int rc = args(&c, stdout, 6, "--quiet", "--check-udp-csum", "--workers", "3", "--no-check-ip-csum",
		      "--mold-rewind");
	if (rc != 0)
		fail_msg("args failed: %s", g_err);
	assert_true(c.quiet);
	assert_true(c.check_udp_csum);
	assert_false(c.check_ip_csum);
	assert_true(c.mold.rewind);
	assert_int_equal(c.workers, 3);

	assert_int_equal(args(&c, stdout, 3, "--no-quiet", "--no-check-udp-csum", "--no-mold-rewind"), 0);
	assert_false(c.quiet);
	assert_false(c.check_udp_csum);
	assert_false(c.mold.rewind);

	/* a boolean flag does not take the next word as its value */
	assert_int_equal(args(&c, stdout, 2, "--quiet", "no"), -EINVAL);
	assert_string_equal(g_err, "unexpected argument 'no' (options start with --; see --help)");
}

static void test_args_no_prefix_on_a_non_boolean_is_unknown(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 1, "--no-workers"), -EINVAL);
	assert_string_equal(g_err, "unknown option '--no-workers' (see --help)");
	assert_int_equal(args(&c, stdout, 1, "--no-bogus"), -EINVAL);
	assert_string_equal(g_err, "unknown option '--no-bogus' (see --help)");
}

static void test_args_bench_loop_turns_on_mold_rewind(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 1, "--bench-loop"), 0);
	assert_true(c.mold.rewind);
}

static void test_args_unknown_options_and_stray_words_are_rejected(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 1, "--bogus"), -EINVAL);
	assert_string_equal(g_err, "unknown option '--bogus' (see --help)");
	assert_int_equal(args(&c, stdout, 1, "workers"), -EINVAL);
	assert_string_equal(g_err, "unexpected argument 'workers' (options start with --; see --help)");
	assert_int_equal(args(&c, stdout, 1, "-w"), -EINVAL);
	assert_string_equal(g_err, "unexpected argument '-w' (options start with --; see --help)");
	assert_int_equal(args(&c, stdout, 1, "--"), -EINVAL);
}

static void test_args_missing_value_is_rejected_naming_the_flag(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(args(&c, stdout, 1, "--workers"), -EINVAL);
	assert_string_equal(g_err, "--workers needs a value");
	assert_int_equal(args(&c, stdout, 3, "--quiet", "--rx-burst", "4"), 0);
	assert_int_equal(args(&c, stdout, 2, "--quiet", "--summary"), -EINVAL);
	assert_string_equal(g_err, "--summary needs a value");
}

static void test_args_with_no_arguments_changes_nothing(void **state)
{
	(void)state;
	struct dd_config c, d;

	dd_config_defaults(&c);
	d = c;
	assert_int_equal(args(&c, stdout, 0), 0);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_args_help_returns_1_and_prints_usage_to_the_given_file(void **state)
{
	(void)state;
	static const char *const want[] = {
		"usage: dadar",
		"--config FILE", "--set KEY=VALUE", "--feed NAME=LINES", "--bench-loop", "--help",
		"--pipeline", "--workers", "--rx-burst", "--rx-desc", "--mbufs", "--mbuf-size", "--ring-size",
		"--exit-on-idle", "--check-ip-csum", "--check-udp-csum", "--quiet", "--summary", "--book-dump",
		"--instance", "--capacity-instruments", "--capacity-orders", "--capacity-levels",
		"--mold-reorder-window", "--mold-reorder-timeout-us", "--mold-rewind",
		"capacity.orders", "mold.reorder_timeout_us",
		"default 16384", "default dadar", "default rtc", "default yes", "default none", "default 1000",
	};
	struct dd_config c, d;
	char *buf = NULL;
	size_t len = 0;

	dd_config_defaults(&c);
	d = c;
	FILE *out = open_memstream(&buf, &len);
	assert_non_null(out);
	/* --help wins over anything else, even an invalid option before it */
	assert_int_equal(args(&c, out, 3, "--bogus", "--workers", "--help"), 1);
	fclose(out);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_true(len > 0);
	assert_int_equal(strncmp(buf, "usage: dadar", 12), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_contains(buf, want[i]);
	free(buf);

	buf = NULL;
	out = open_memstream(&buf, &len);
	assert_int_equal(args(&c, out, 1, "-h"), 1);
	fclose(out);
	assert_int_equal(strncmp(buf, "usage: dadar", 12), 0);
	free(buf);
}

/* ---- cross-field checks ------------------------------------------------------------------------- */

static void test_check_requires_ring_size_power_of_two(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "ring_size", "100"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), -EINVAL);
	assert_string_equal(g_err, "ring_size = 100: must be a power of 2");
	assert_int_equal(set(&c, "ring_size", "16777215"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), -EINVAL);
	assert_int_equal(set(&c, "ring_size", "64"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), 0);
	assert_int_equal(set(&c, "ring_size", "16777216"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), 0);
}

static void test_check_limits_rx_burst_to_a_quarter_of_mbufs(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "mbufs", "1023"), 0);
	assert_int_equal(set(&c, "rx_burst", "255"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), 0);
	assert_int_equal(set(&c, "rx_burst", "256"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), -EINVAL);
	assert_string_equal(g_err, "rx_burst = 256 is too large for mbufs = 1023 (at most a quarter)");
}

static void test_check_rejects_the_same_line_in_two_feeds(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.a", "1.2.3.4:5,1.2.3.5:5"), 0);
	assert_int_equal(set(&c, "feed.b", "1.2.3.6:5,1.2.3.5:5"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), -EINVAL);
	assert_string_equal(g_err, "feed.a line 1.2.3.5:5 and feed.b line 1.2.3.5:5 can match the same datagrams: make them distinct");
}

static void test_check_rejects_the_same_line_twice_in_one_feed(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.a", "*:5@1,1.2.3.4:6,*:5@1"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), -EINVAL);
	assert_string_equal(g_err, "feed.a line *:5@1 and feed.a line *:5@1 can match the same datagrams: make them distinct");
}

static void test_check_rejects_a_wildcard_line_shadowing_another_feed(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.a", "*:26477"), 0);
	assert_int_equal(set(&c, "feed.b", "233.54.12.111:26477"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), -EINVAL);
	assert_string_equal(g_err, "feed.a line *:26477 and feed.b line 233.54.12.111:26477 can match the same datagrams: make them distinct");
	/* a different DPDK port keeps them apart */
	assert_int_equal(redefine(&c, "feed.a", "*:26477@0"), 0);
	assert_int_equal(redefine(&c, "feed.b", "233.54.12.111:26477@1"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), 0);
}

static void test_check_accepts_lines_differing_in_group_port_or_dpdk_port(void **state)
{
	(void)state;
	struct dd_config c;

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "feed.a", "1.2.3.4:5@0,1.2.3.4:6@0"), 0);
	assert_int_equal(set(&c, "feed.b", "1.2.3.4:5@1,1.2.3.5:5@0"), 0);
	assert_int_equal(dd_config_check(&c, g_err, sizeof(g_err)), 0);
}

/* ---- line format -------------------------------------------------------------------------------- */

static void test_feed_line_format_renders_each_form(void **state)
{
	(void)state;
	char buf[64];
	struct dd_feed_line l;

	l = (struct dd_feed_line){ IP_233_54_12_111, 26477, DD_ANY_PORT };
	dd_feed_line_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "233.54.12.111:26477");
	l = (struct dd_feed_line){ 0, 26477, 1 };
	dd_feed_line_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "*:26477@1");
	l = (struct dd_feed_line){ IP_233_54_12_111, 0, DD_ANY_PORT };
	dd_feed_line_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "233.54.12.111:*");
	l = (struct dd_feed_line){ 0xFFFFFFFFu, 65535, 65534 };
	dd_feed_line_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "255.255.255.255:65535@65534");
	/* truncated, but always terminated */
	memset(buf, 'z', sizeof(buf));
	dd_feed_line_format(&l, buf, 8);
	assert_string_equal(buf, "255.255");
}

static void test_feed_line_format_round_trips_through_the_parser(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"233.54.12.111:26477", "*:26477", "233.54.12.111:*", "*:*", "*:26477@1", "0.0.0.1:1@0",
		"255.255.255.255:65535@65534", "10.20.30.40:5000@7",
	};
	struct dd_config c;
	char buf[64];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		dd_config_defaults(&c);
		if (set(&c, "feed.rt", lines[i]) != 0)
			fail_msg("'%s' rejected: %s", lines[i], g_err);
		dd_feed_line_format(&c.feed[0].line[0], buf, sizeof(buf));
		assert_string_equal(buf, lines[i]);
		struct dd_feed_line first = c.feed[0].line[0];
		assert_int_equal(redefine(&c, "feed.rt", buf), 0);
		assert_memory_equal(&c.feed[0].line[0], &first, sizeof(first));
	}
}

static bool has_cpu(const struct dd_cpuset *cs, unsigned c)
{
	return (cs->bits[c / 64] >> (c % 64)) & 1;
}

static void test_cpu_lists_parse_to_their_cpus_and_bad_ones_say_why(void **state)
{
	(void)state;
	struct dd_cpuset cs;
	char err[256];
	assert_int_equal(dd_cpulist_parse("3", &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.count, 1);
	assert_int_equal(cs.first, 3);
	assert_true(has_cpu(&cs, 3) && !has_cpu(&cs, 2) && !has_cpu(&cs, 4));
	assert_int_equal(dd_cpulist_parse("5,0,2-3,3,64-65,1023", &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.count, 7); /* 0 2 3 5 64 65 1023: 3 counted once */
	assert_int_equal(cs.first, 0);
	for (unsigned c = 0; c < 1024; c++)
		assert_int_equal(has_cpu(&cs, c), c == 0 || c == 2 || c == 3 || c == 5 || c == 64 || c == 65 || c == 1023);
	static const char *const bad[] = { "", ",", "1,", ",1", "a", "1-", "-1", "3-1", "1024", "0-1024", "1 2", "1;2",
					   "+1", "1--2" };
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		err[0] = '\0';
		assert_int_equal(dd_cpulist_parse(bad[b], &cs, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[b]));
	}
	/* the key: checked with the rest of the configuration */
	struct dd_config c;
	dd_config_defaults(&c);
	assert_int_equal(dd_config_set(&c, "journal.io_cpus", "0,1", "test", err, sizeof(err)), 0);
	assert_int_equal(dd_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(dd_config_set(&c, "journal.io_cpus", "1-0", "test", err, sizeof(err)), 0);
	assert_int_equal(dd_config_check(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "journal.io_cpus"));
}

/* strtoul skips blanks and takes a sign: found by tests/fuzz/fuzz_config ("\n023" was CPU 23, " -0" CPU 0) */
static void test_cpu_lists_refuse_blanks_and_signs_before_a_number(void **state)
{
	(void)state;
	struct dd_cpuset cs;
	char err[256];
	static const char *const bad[] = { " 3", "\n023", " -0", "\t+1", "0, 2", "1- 2", "1-\t2", "2-3, 5", " -1" };
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		err[0] = '\0';
		if (dd_cpulist_parse(bad[b], &cs, err, sizeof(err)) != -EINVAL)
			fail_msg("CPU list '%s' accepted", bad[b]);
		char want[64];
		snprintf(want, sizeof(want), "'%s': a CPU list is numbers and ranges, e.g. 0 or 0,2-3", bad[b]);
		assert_string_equal(err, want);
	}
	/* what is left once the blanks go */
	assert_int_equal(dd_cpulist_parse("0,2", &cs, err, sizeof(err)), 0);
	assert_int_equal(cs.count, 2);
	assert_int_equal(cs.first, 0);
	assert_true(has_cpu(&cs, 0) && has_cpu(&cs, 2) && !has_cpu(&cs, 1));
}

/* %x skips blanks and takes a sign: found by tests/fuzz/fuzz_config ("01:00:-e:40:1a:31" sent to 01:00:f2:...) */
static void test_output_udp_dst_mac_takes_six_hex_bytes_only(void **state)
{
	(void)state;
	struct dd_config c;
	char err[256];

	dd_config_defaults(&c);
	assert_int_equal(set(&c, "output_udp", "239.192.26.49:26490@1"), 0);
	assert_int_equal(set(&c, "output_udp.dst_mac", "01:00:5e:40:1A:31"), 0);
	assert_int_equal(dd_config_check(&c, err, sizeof(err)), 0);
	assert_true(c.outu.have_mac);
	static const uint8_t want[6] = { 0x01, 0x00, 0x5e, 0x40, 0x1a, 0x31 };
	assert_memory_equal(c.outu.dst_mac, want, 6);
	static const char *const bad[] = { "01:00:-e:40:1a:31", "01:00: e:40:1a:31", "+1:00:5e:40:1a:31",
					   "01:00:5e:40:1a:-1", "0x:00:5e:40:1a:31", "01-00-5e-40-1a-31",
					   "01:00:5e:40:1a:3", "01:00:5e:40:1a:311", "01:00:5e:40:1a:3g" };
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		assert_int_equal(set(&c, "output_udp.dst_mac", bad[b]), 0);
		if (dd_config_check(&c, err, sizeof(err)) != -EINVAL)
			fail_msg("output_udp.dst_mac = '%s' accepted", bad[b]);
		char msg[128];
		snprintf(msg, sizeof(msg), "output_udp.dst_mac = '%s': must be six hex bytes, aa:bb:cc:dd:ee:ff", bad[b]);
		assert_string_equal(err, msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_the_documented_values),
		cmocka_unit_test(test_defaults_pass_the_cross_field_check),
		cmocka_unit_test(test_every_number_key_accepts_its_min_and_max),
		cmocka_unit_test(test_every_number_key_rejects_one_below_min_and_one_above_max),
		cmocka_unit_test(test_numbers_reject_non_digits_empty_sign_and_overflow),
		cmocka_unit_test(test_numbers_accept_leading_zeros),
		cmocka_unit_test(test_booleans_accept_every_documented_spelling_in_any_case),
		cmocka_unit_test(test_booleans_reject_other_words),
		cmocka_unit_test(test_paths_are_stored_up_to_511_bytes),
		cmocka_unit_test(test_path_of_512_bytes_is_rejected_naming_key_and_origin),
		cmocka_unit_test(test_instance_names_accept_letters_digits_dash_underscore_up_to_31),
		cmocka_unit_test(test_instance_names_reject_empty_long_and_other_characters),
		cmocka_unit_test(test_pipeline_accepts_rtc_and_staged_only),
		cmocka_unit_test(test_journal_idle_accepts_spin_and_yield_only),
		cmocka_unit_test(test_unknown_key_is_rejected_naming_key_and_origin),
		cmocka_unit_test(test_error_message_of_a_number_is_exact),
		cmocka_unit_test(test_feed_line_with_group_and_port),
		cmocka_unit_test(test_feed_line_wildcards_and_dpdk_port_suffix),
		cmocka_unit_test(test_feed_with_four_lines_keeps_their_order_and_trims_spaces),
		cmocka_unit_test(test_feed_with_five_lines_is_rejected),
		cmocka_unit_test(test_feed_rejects_bad_groups),
		cmocka_unit_test(test_feed_rejects_bad_ports),
		cmocka_unit_test(test_feed_error_quotes_the_offending_line_exactly),
		cmocka_unit_test(test_feed_without_any_line_is_rejected),
		cmocka_unit_test(test_feed_names_are_validated),
		cmocka_unit_test(test_more_than_max_feeds_is_rejected_naming_the_feed),
		cmocka_unit_test(test_a_feed_defined_twice_is_refused_naming_both_unless_a_flag_overrides_a_file),
		cmocka_unit_test(test_a_flag_changing_a_feeds_kind_moves_it_keeping_market_feeds_first),
		cmocka_unit_test(test_load_applies_keys_and_skips_comments_blank_lines_and_whitespace),
		cmocka_unit_test(test_load_of_an_empty_file_changes_nothing),
		cmocka_unit_test(test_load_error_names_file_and_line_of_a_bad_value),
		cmocka_unit_test(test_load_error_names_file_and_line_of_an_unknown_key),
		cmocka_unit_test(test_load_rejects_a_line_without_equals_sign),
		cmocka_unit_test(test_load_rejects_an_over_long_line),
		cmocka_unit_test(test_load_rejects_a_nul_byte_naming_its_line),
		cmocka_unit_test(test_is_flag_knows_every_form_dd_config_args_takes),
		cmocka_unit_test(test_load_of_a_missing_file_returns_enoent_naming_the_path),
		cmocka_unit_test(test_load_of_a_directory_fails_naming_the_path),
		cmocka_unit_test(test_args_config_is_read_first_even_when_given_last),
		cmocka_unit_test(test_args_config_errors_keep_file_and_line),
		cmocka_unit_test(test_args_set_takes_any_key),
		cmocka_unit_test(test_args_set_errors_name_flag_key_and_value),
		cmocka_unit_test(test_args_feed_defines_a_feed),
		cmocka_unit_test(test_args_flags_write_dots_and_underscores_as_dashes),
		cmocka_unit_test(test_args_flags_spelled_with_dots_or_underscores_are_unknown),
		cmocka_unit_test(test_args_flag_errors_name_the_flag_key_and_value),
		cmocka_unit_test(test_args_later_flags_override_earlier_ones),
		cmocka_unit_test(test_args_boolean_flags_take_no_value_and_no_prefix_turns_them_off),
		cmocka_unit_test(test_args_no_prefix_on_a_non_boolean_is_unknown),
		cmocka_unit_test(test_args_bench_loop_turns_on_mold_rewind),
		cmocka_unit_test(test_args_unknown_options_and_stray_words_are_rejected),
		cmocka_unit_test(test_args_missing_value_is_rejected_naming_the_flag),
		cmocka_unit_test(test_args_with_no_arguments_changes_nothing),
		cmocka_unit_test(test_args_help_returns_1_and_prints_usage_to_the_given_file),
		cmocka_unit_test(test_check_requires_ring_size_power_of_two),
		cmocka_unit_test(test_check_limits_rx_burst_to_a_quarter_of_mbufs),
		cmocka_unit_test(test_check_rejects_the_same_line_in_two_feeds),
		cmocka_unit_test(test_check_rejects_the_same_line_twice_in_one_feed),
		cmocka_unit_test(test_check_rejects_a_wildcard_line_shadowing_another_feed),
		cmocka_unit_test(test_check_accepts_lines_differing_in_group_port_or_dpdk_port),
		cmocka_unit_test(test_feed_line_format_renders_each_form),
		cmocka_unit_test(test_feed_line_format_round_trips_through_the_parser),
		cmocka_unit_test(test_cpu_lists_parse_to_their_cpus_and_bad_ones_say_why),
		cmocka_unit_test(test_cpu_lists_refuse_blanks_and_signs_before_a_number),
		cmocka_unit_test(test_output_udp_dst_mac_takes_six_hex_bytes_only),
	};
	return cmocka_run_group_tests_name("dataplane/config", tests, NULL, NULL);
}
