/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dataplane/wire/outwire.c: dadar's output messages decoded from arbitrary
 * bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_outwire.c \
 *         dataplane/wire/outwire.c -o /tmp/fuzz_outwire
 *   mkdir -p /tmp/outwire_corpus && /tmp/fuzz_outwire -max_total_time=60 /tmp/outwire_corpus
 *
 * fuzz-sources: dataplane/wire/outwire.c
 *
 * Invariants checked (a broken one aborts, which libFuzzer reports as a crash):
 * - decode fails exactly as docs/wire-formats.md says (shorter than 56 bytes, a letter other than
 *   B D A M W L T, a version other than 1, a length other than its type's), and then writes nothing;
 * - when it succeeds, the output is of the type the letter names, holds zero in everything the
 *   message does not carry (reserved, rx_tsc), and encoding it at the decoded lsn gives back the
 *   input bytes, no more;
 * - the input read as a struct dd_output encodes, decodes and re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/outwire.h"
#include "ops/output.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                        \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                           \
		}                                                                                          \
	} while (0)

/* The document's table, written out again so the decoder is checked against it, not itself. */
static const struct {
	uint8_t letter;
	unsigned type;
	size_t len;
} doc[] = {
	{ 'B', DD_OUT_BBO, 90 },      { 'D', DD_OUT_DECISION, 109 }, { 'A', DD_OUT_ALERT, 120 },
	{ 'M', DD_OUT_MATCHED, 115 }, { 'W', DD_OUT_WINDOW, 120 },   { 'L', DD_OUT_LATE, 81 },
	{ 'T', DD_OUT_TEST, 120 },
};
#define N_DOC (sizeof(doc) / sizeof(doc[0]))

static int expected_decode_rc(const uint8_t *data, size_t size, unsigned *type)
{
	size_t i;

	if (size < 56)
		return DD_OUTW_SHORT;
	for (i = 0; i < N_DOC && doc[i].letter != data[0]; i++)
		;
	if (i == N_DOC)
		return DD_OUTW_BAD_TYPE;
	if (data[1] != 1)
		return DD_OUTW_BAD_VERSION;
	if (size != doc[i].len)
		return DD_OUTW_BAD_LENGTH;
	*type = doc[i].type;
	return 0;
}

/* Encode, decode and re-encode an output built from raw bytes. */
static void check_encode_of_arbitrary_output(const uint8_t *data, size_t size)
{
	struct dd_output o, o2;
	uint8_t a[DD_OUTW_MAX_LEN], b[DD_OUTW_MAX_LEN];
	uint64_t lsn, lsn2 = 0;
	size_t n;

	if (size < sizeof(o) + sizeof(lsn))
		return;
	memcpy(&o, data, sizeof(o));
	memcpy(&lsn, data + sizeof(o), sizeof(lsn));
	o.type %= DD_OUT__COUNT + 1; /* mostly types that exist */
	n = dd_outw_encode(a, lsn, &o);
	if (dd_outw_letter(o.type) == 0) {
		CHECK(n == 0 && dd_outw_len(o.type) == 0);
		return;
	}
	CHECK(n == dd_outw_len(o.type) && n >= DD_OUTW_HDR_LEN && n <= DD_OUTW_MAX_LEN);
	CHECK(a[0] == dd_outw_letter(o.type) && a[1] == DD_OUTW_VERSION);
	CHECK(dd_outw_decode(a, n, &lsn2, &o2) == 0);
	CHECK(lsn2 == lsn && o2.type == o.type && o2.rx_tsc == 0);
	CHECK(memcmp(&o2, &o, offsetof(struct dd_output, symbol) + sizeof(o.symbol)) == 0);
	CHECK(dd_outw_encode(b, lsn2, &o2) == n);
	CHECK(memcmp(a, b, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[8];
	struct dd_output o, fill;
	uint8_t out[DD_OUTW_MAX_LEN + 8];
	uint64_t lsn = 0xa5a5a5a5a5a5a5a5ull;
	unsigned type = 0;
	int rc, want;

	memset(&fill, 0xa5, sizeof(fill));
	o = fill;
	rc = dd_outw_decode(data, size, &lsn, &o);
	want = expected_decode_rc(data, size, &type);
	CHECK(rc == want);
	CHECK(dd_outw_strerror(rc) != NULL && dd_outw_strerror(rc)[0] != '\0');
	if (rc != 0) {
		CHECK(memcmp(&o, &fill, sizeof(o)) == 0);
		CHECK(lsn == 0xa5a5a5a5a5a5a5a5ull);
	} else {
		CHECK(o.type == type);
		CHECK(o.rx_tsc == 0 && memcmp(o.reserved, zero, sizeof(o.reserved)) == 0);
		memset(out, 0x5a, sizeof(out));
		CHECK(dd_outw_encode(out, lsn, &o) == size);
		CHECK(memcmp(out, data, size) == 0);
		for (size_t i = size; i < sizeof(out); i++)
			CHECK(out[i] == 0x5a);
	}

	check_encode_of_arbitrary_output(data, size);
	return 0;
}
