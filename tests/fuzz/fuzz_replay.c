/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dataplane/journal/replay.c and the operator chain: replay of journals whose
 * records are valid on disk (framing, CRC, LSNs) but whose contents come from the input: config
 * records (layout, chain spec, parameters), events of any type, source and key, outputs of any
 * shard, operator and cause, feed positions, snapshots written and read back.
 *
 * fuzz-sources: dataplane/journal/jfile.c dataplane/journal/replay.c ops/route.c ops/op.c ops/cep/mrules.c ops/cep/cep.c ops/cep/symtab.c ops/window/window.c dataplane/journal/outjson.c ops/chain.c ops/event.c ops/book/book.c ops/book/book_op.c ops/test/test_ops.c ops/fraud/fraud.c ops/fraud/rules.c $B/gen/fraud_default.c
 * fuzz-libs: -lm
 *
 * Input: a list of (op, 3 argument bytes) records, then free bytes the ops draw payloads from.
 *   op % 8 == 0  a config record: a well-formed one (shards, feeds, route and the chain from the
 *                arguments) or, with argument bit 7, the next bytes raw; capacities are clamped
 *                small so a fuzzed config cannot ask for gigabytes
 *   1..4         an event: type, source and key from the arguments, payload from the bytes
 *   5            an output: from the bytes, with shard, operator and cause from the arguments
 *   6            a feed position
 *   7            a snapshot of what replay reached so far is written (then replayed from)
 *
 * Checks: no crash, no sanitizer report; replay returns 0 or a negative errno with a message;
 * counts are consistent (matched <= journaled, matched <= derived); a replay that succeeded
 * without mismatch, written as a snapshot and replayed from it, ends at the same LSN with the
 * same books.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/journal/jfile.h"
#include "dataplane/journal/replay.h"
#include "ops/book/book_op.h"
#include "ops/test/test_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                    \
	do {                                                                                        \
		if (!(c)) {                                                                         \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                                    \
		}                                                                                   \
	} while (0)

#define SEG (256 * 1024)

static char g_dir[64];
static char g_err[1024];

static void clean_dir(void)
{
	char path[256];
	dd_jseg_path(path, sizeof(path), g_dir, 1);
	unlink(path);
	for (uint64_t l = 0; l < 512; l++) {
		dd_jsnap_path(path, sizeof(path), g_dir, l);
		unlink(path);
	}
}

static void cleanup(void)
{
	clean_dir();
	rmdir(g_dir);
}

struct in {
	const uint8_t *p;
	size_t n;
};

static void take(struct in *in, void *out, size_t len)
{
	size_t k = in->n < len ? in->n : len;
	memset(out, 0, len);
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
}

/* Capacities a fuzzed config may ask for: small, so replay allocates kilobytes. */
static void clamp(struct dd_jconfig *c)
{
	for (unsigned i = 0; i < c->market.nops && i < DD_CHAIN_MAX_OPS; i++) {
		struct dd_chain_op_spec *o = &c->market.op[i];
		if (o->id == DD_OP_BOOK && o->len >= DD_BOOK_OP_PARAMS_V1) {
			struct dd_book_op_params bp;
			memcpy(&bp, o->params, sizeof(bp));
			bp.book.max_instruments = bp.book.max_instruments % 16;
			bp.book.max_orders = bp.book.max_orders % 512;
			bp.book.max_levels = bp.book.max_levels % 128;
			memcpy(o->params, &bp, sizeof(bp));
		}
	}
}

static void good_config(struct dd_jconfig *c, uint8_t a, uint8_t b)
{
	memset(c, 0, sizeof(*c));
	c->version = DD_JCONFIG_VERSION;
	c->nshards = 1 + a % 4;
	c->nfeeds = 1 + (a >> 2) % 2;
	c->route = (a >> 5) & 1; /* by locate or by symbol (ops/route.h) */
	struct dd_book_op_params bp = { .book = { .max_instruments = 1 + b % 8, .max_orders = 64 + b,
						  .max_levels = 16 + b % 32 },
					.nfeeds = c->nfeeds };
	CHECK(dd_chain_spec_add(&c->market, DD_OP_BOOK, &bp, sizeof(bp)) == 0);
	if (a & 0x10) {
		struct dd_test_multi_params mp = { .max = 1 + b % DD_TEST_MULTI_MAX };
		struct dd_test_timer_params tp = { .period_ns = 1 + b * 1000u };
		CHECK(dd_chain_spec_add(&c->market, DD_OP_TEST_MULTI, &mp, sizeof(mp)) == 0);
		CHECK(dd_chain_spec_add(&c->market, DD_OP_TEST_TIMER, &tp, sizeof(tp)) == 0);
	}
}

struct built {
	uint8_t seg[SEG];
	size_t off;
	uint64_t lsn;
	uint64_t snap_at[8];
	unsigned nsnap;
};

static bool put(struct built *b, uint16_t type, uint16_t source, uint32_t part, const void *p, size_t n)
{
	if (b->off + dd_jrec_size(n) > SEG)
		return false;
	b->off += dd_jrec_put(b->seg + b->off, type, source, part, b->lsn++, p, n);
	return true;
}

static void write_segment(const struct built *b)
{
	struct dd_jseg_header h;
	char path[256];
	uint8_t page[DD_J_PAGE] = { 0 };
	dd_jseg_header_init(&h, SEG, 1, 0, 1, "fuzz");
	memcpy(page, &h, sizeof(h));
	dd_jseg_path(path, sizeof(path), g_dir, 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, b->seg, SEG, 0) == SEG);
	CHECK(pwrite(fd, page, DD_J_PAGE, 0) == DD_J_PAGE);
	close(fd);
}

/* Replay up to `max_lsn` (0: all); the invariants every result keeps. */
static int replay(struct dd_replay *r, uint64_t max_lsn, bool snap)
{
	memset(r, 0, sizeof(*r));
	r->use_snapshot = snap;
	r->max_lsn = max_lsn;
	g_err[0] = '\0';
	int rc = dd_replay_run(g_dir, r, g_err, sizeof(g_err));
	CHECK(rc <= 0);
	CHECK(rc == 0 || g_err[0] != '\0');
	if (rc == 0) {
		CHECK(!r->scan.corrupt && !r->scan.torn);
		CHECK(r->outputs_matched <= r->outputs_journaled && r->outputs_matched <= r->outputs_derived);
		CHECK(r->have_config == (r->chains != NULL));
		for (uint64_t i = 0; i < r->ntail; i++)
			CHECK(r->tail[i].cause <= r->last_lsn && (i == 0 || r->tail[i - 1].cause <= r->tail[i].cause));
	}
	return rc;
}

static bool same_books(const struct dd_replay *a, const struct dd_replay *b)
{
	if (a->nshards != b->nshards || a->nfeeds != b->nfeeds)
		return false;
	for (unsigned s = 0; s < a->nshards; s++)
		for (unsigned f = 0; f < a->nfeeds; f++) {
			const struct dd_book *x = dd_replay_book(a, s, f), *y = dd_replay_book(b, s, f);
			char why[128];
			CHECK(dd_book_check(y, why, sizeof(why)) == 0);
			if (x->norders != y->norders || x->nlevels != y->nlevels || x->ninstr != y->ninstr ||
			    memcmp(&x->stats, &y->stats, sizeof(x->stats)) != 0)
				return false;
		}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g_dir[0] == '\0') {
		snprintf(g_dir, sizeof(g_dir), "%s/dd-fuzz-replay-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		CHECK(mkdtemp(g_dir) != NULL);
		atexit(cleanup);
	}
	if (size < 4 || size > 16 * 1024)
		return 0;
	clean_dir();
	static struct built b;
	memset(b.seg, 0, sizeof(b.seg));
	b.off = DD_J_PAGE;
	b.lsn = 1;
	b.nsnap = 0;
	size_t nops = data[0] % 64;
	struct in in = { data + 1 + 4 * nops, size > 1 + 4 * nops ? size - 1 - 4 * nops : 0 };
	if (size < 1 + 4 * nops)
		nops = (size - 1) / 4;
	for (size_t k = 0; k < nops; k++) {
		const uint8_t *o = data + 1 + 4 * k;
		uint8_t op = o[0] % 8, a = o[1], c = o[2], d = o[3];
		switch (op) {
		case 0: {
			struct dd_jconfig cfg;
			if (a & 0x80) {
				take(&in, &cfg, sizeof(cfg));
				clamp(&cfg);
			} else {
				good_config(&cfg, a, c);
			}
			put(&b, DD_JREC_CONFIG, 0, 0, &cfg, sizeof(cfg));
			break;
		}
		case 1: case 2: case 3: case 4: {
			struct dd_event ev;
			take(&in, &ev, sizeof(ev));
			ev.type = (uint8_t)(a % DD_EV__COUNT);
			ev.source = (uint8_t)(c % 3);
			ev.key = d % 12;
			ev.seq = k + 1;
			put(&b, DD_JREC_EVENT, ev.source, ev.key, &ev, sizeof(ev));
			break;
		}
		case 5: {
			struct dd_output out;
			take(&in, &out, sizeof(out));
			out.shard = a % 5;
			out.op = (c & 1) ? DD_OP_BOOK : c;
			out.cause = b.lsn > d ? b.lsn - d : 0;
			put(&b, DD_JREC_OUTPUT, out.source, out.key, &out, sizeof(out));
			break;
		}
		case 6: {
			struct dd_jfeedpos fp;
			take(&in, &fp, sizeof(fp));
			put(&b, DD_JREC_FEEDPOS, a % 3, 0, &fp, sizeof(fp));
			break;
		}
		default:
			if (b.nsnap < 8)
				b.snap_at[b.nsnap++] = b.lsn - 1;
			break;
		}
	}
	write_segment(&b);
	uint64_t end = b.lsn - 1;

	/* snapshots where the input asked, each from a replay up to there */
	for (unsigned i = 0; i < b.nsnap; i++) {
		struct dd_replay r;
		if (b.snap_at[i] == 0)
			continue;
		if (replay(&r, b.snap_at[i], true) == 0 && r.have_config && !r.mismatch && r.last_lsn == b.snap_at[i])
			CHECK(dd_replay_snapshot_state(&r, g_dir, g_err, sizeof(g_err)) == 0);
		dd_replay_fini(&r);
	}
	struct dd_replay full, fresh;
	int rc = replay(&full, 0, false);
	int rs = replay(&fresh, 0, true);
	if (rc == 0 && !full.mismatch && full.have_config) {
		CHECK(full.last_lsn == end);
		/* from the newest snapshot: the same end, the same books */
		CHECK(rs == 0);
		CHECK(!fresh.mismatch);
		CHECK(fresh.last_lsn == end);
		CHECK(same_books(&full, &fresh));
	}
	dd_replay_fini(&full);
	dd_replay_fini(&fresh);
	return 0;
}
