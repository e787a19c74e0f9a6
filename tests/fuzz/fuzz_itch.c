/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dataplane/wire/itch.c: every entry point on arbitrary bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_itch.c \
 *         dataplane/wire/itch.c ops/event.c -o /tmp/fuzz_itch
 *   mkdir -p /tmp/itch_corpus && /tmp/fuzz_itch -max_total_time=60 /tmp/itch_corpus
 *
 * fuzz-sources: dataplane/wire/itch.c ops/event.c
 *
 * Invariants checked (a broken one aborts, which libFuzzer reports as a crash):
 * - decode fails exactly as the header says (-ENODATA, -ENOMSG, -EBADMSG) and then writes nothing;
 * - decode succeeds only when len == dd_itch_msg_len(type), and encoding the result gives back the
 *   input bytes;
 * - dd_itch_decode_event() returns what decode + dd_itch_to_event() return, writes the same event;
 * - the input read as a struct dd_itch_msg encodes, decodes and re-encodes to the same bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/itch.h"
#include "ops/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,     \
				__LINE__, #cond);                                      \
			abort();                                                       \
		}                                                                      \
	} while (0)

static int expected_decode_rc(const uint8_t *data, size_t size)
{
	size_t want;

	if (size == 0)
		return -ENODATA;
	want = dd_itch_msg_len(data[0]);
	if (want == 0)
		return -ENOMSG;
	return size == want ? 0 : -EBADMSG;
}

/* Encode, decode and re-encode a message built from raw bytes. */
static void check_encode_of_arbitrary_msg(const uint8_t *data, size_t size)
{
	struct dd_itch_msg m, m2;
	uint8_t a[DD_ITCH_MAX_LEN], b[DD_ITCH_MAX_LEN];
	int n, n2;

	if (size < sizeof(m))
		return;
	memcpy(&m, data, sizeof(m));
	n = dd_itch_encode(&m, a, sizeof(a));
	if (dd_itch_msg_len(m.type) == 0) {
		CHECK(n == -EINVAL);
		return;
	}
	CHECK(n == (int)dd_itch_msg_len(m.type));
	CHECK(dd_itch_encode(&m, a, (size_t)n - 1) == -ENOSPC);
	CHECK(dd_itch_decode(a, (size_t)n, &m2) == 0);
	CHECK(m2.type == m.type && m2.locate == m.locate && m2.tracking == m.tracking);
	CHECK(m2.timestamp == (m.timestamp & 0xffffffffffffull));
	n2 = dd_itch_encode(&m2, b, sizeof(b));
	CHECK(n2 == n);
	CHECK(memcmp(a, b, (size_t)n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dd_itch_msg m, m_fill;
	struct dd_event ev1, ev2, ev_fill;
	uint8_t out[DD_ITCH_MAX_LEN];
	int rc, rc1, rc2;

	memset(&m_fill, 0xa5, sizeof(m_fill));
	memset(&ev_fill, 0xee, sizeof(ev_fill));

	m = m_fill;
	rc = dd_itch_decode(data, size, &m);
	CHECK(rc == expected_decode_rc(data, size));
	if (rc == 0) {
		CHECK(size == dd_itch_msg_len(data[0]));
		CHECK(m.type == data[0]);
		CHECK(dd_itch_msg_name(m.type) != NULL);
		CHECK(dd_itch_encode(&m, out, sizeof(out)) == (int)size);
		CHECK(memcmp(out, data, size) == 0);
	} else {
		CHECK(memcmp(&m, &m_fill, sizeof(m)) == 0);
	}

	ev1 = ev_fill;
	ev2 = ev_fill;
	rc1 = rc == 0 ? dd_itch_to_event(&m, &ev1) : rc;
	rc2 = dd_itch_decode_event(data, size, &ev2);
	CHECK(rc1 == rc2);
	CHECK(rc != 0 || rc2 == 0 || rc2 == 1);
	CHECK(memcmp(&ev1, &ev2, sizeof(ev1)) == 0);
	if (rc2 <= 0)
		CHECK(memcmp(&ev2, &ev_fill, sizeof(ev2)) == 0);
	else
		CHECK(ev2.source == 0xee && ev2.seq == ev1.seq && ev2.flags == 0);

	check_encode_of_arbitrary_msg(data, size);
	return 0;
}
