/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dataplane/wire/moldudp64.c.
 *
 * fuzz-sources: dataplane/wire/moldudp64.c
 *
 * Input: one parameter byte (reorder window 0..4, timeout on/off, rewind on/off), then records:
 *   line byte   bits 0-1 line, bits 2-3 kind (0, 1 built, 2 built then corrupted, 3 raw);
 *               0xFF passes an invalid line
 *   time byte   added to `now`; 0xFF also flushes with pop(UINT64_MAX) afterwards
 *   kind 0-2:   session byte (bits 0-1 name, bits 2-7: 0 heartbeat, 1 end of session, else 1..5
 *               messages), seq byte (signed offset from next_seq; 0x80: near UINT64_MAX), then
 *               one byte per message (length & 15; 0xFF: one message too big for a slot)
 *   kind 3:     u16 BE length, then that many bytes taken as the datagram (its first byte forced
 *               to 'R' so built and raw sessions never share a name)
 * Built messages of 9 bytes or more carry a tag and their own sequence number (and from 10 bytes
 * the last letter of their session name), so a delivered message can be checked against the
 * sequence number the block gives it and the session it is delivered in.
 *
 * After each rx the target drains dd_mold_pop() and checks, per call: every block's messages lie
 * inside its bytes; next_seq only grows within a session pass and ends at the last block's end;
 * the messages skipped on the way are exactly the ones newly declared missing; and over a pass,
 * delivered + missing equals how far next_seq moved (for the first session: next_seq - 1).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/be.h"
#include "dataplane/wire/moldudp64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                          \
	do {                                                                              \
		if (!(c)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                          \
		}                                                                         \
	} while (0)

#define TAG 0xC5
#define BIG_MSG (DD_MOLD_MAX_DATAGRAM + 64)

static const char names[3][DD_MOLD_SESSION_LEN] = { "FUZZSESS00", "FUZZSESS01", "FUZZSESS02" };

struct cursor {
	const uint8_t *p;
	size_t left;
};

static bool take_byte(struct cursor *c, uint8_t *b)
{
	if (c->left == 0)
		return false;
	*b = *c->p++;
	c->left--;
	return true;
}

/* Builds a datagram into buf (room for BIG_MSG + header); returns its length, 0 if input ran out. */
static size_t build(struct cursor *c, const struct dd_mold_session *s, uint8_t kind, uint8_t tbyte,
		    uint8_t *buf)
{
	uint8_t sb, qb;

	if (!take_byte(c, &sb) || !take_byte(c, &qb))
		return 0;
	uint8_t sel = sb >> 2;
	uint16_t count = sel == 0 ? 0 : sel == 1 ? DD_MOLD_COUNT_EOS : (uint16_t)(1 + sel % 5);
	uint64_t base = s->started ? s->next_seq : 1;
	int8_t off = (int8_t)qb;
	uint64_t seq;
	if (qb == 0x80)
		seq = UINT64_MAX - 3;
	else if (off >= 0)
		seq = base + (uint64_t)off;
	else
		seq = base > (uint64_t)-off ? base - (uint64_t)-off : 0;

	memcpy(buf, names[(sb & 3) % 3], DD_MOLD_SESSION_LEN);
	dd_st_be64(buf + 10, seq);
	dd_st_be16(buf + 18, count);
	size_t len = DD_MOLD_HDR_LEN;
	for (unsigned i = 0; count != DD_MOLD_COUNT_EOS && i < count; i++) {
		uint8_t lb = 0;
		(void)take_byte(c, &lb);
		size_t ml = lb == 0xFF ? DD_MOLD_MAX_DATAGRAM : lb & 15;
		if (len + 2 + ml > DD_MOLD_HDR_LEN + BIG_MSG)
			ml = 0;
		dd_st_be16(buf + len, (uint16_t)ml);
		memset(buf + len + 2, 0x33, ml);
		if (ml >= 9) {
			buf[len + 2] = TAG;
			dd_st_be64(buf + len + 3, seq + i);
		}
		if (ml >= 10)
			buf[len + 2 + 9] = (uint8_t)names[(sb & 3) % 3][DD_MOLD_SESSION_LEN - 1];
		len += 2 + ml;
	}
	if (kind == 2) {
		if (tbyte & 1)
			len -= len > 0 ? 1 : 0;
		else
			buf[len++] = 0;
	}
	return len;
}

struct track {
	uint64_t changes, rewinds;
	uint64_t base_delivered, base_missing, base_seq; /* at the start of this session pass */
	bool first_pass;
};

static void check_block(const struct dd_mold_session *s, const struct dd_mold_block *blk,
			const uint8_t *dgram, size_t dlen)
{
	struct dd_mold_block b = *blk;
	const uint8_t *msg;
	uint16_t len;

	CHECK(b.count > 0);
	CHECK(b.p < b.end);
	CHECK(b.line < DD_MOLD_MAX_LINES);
	if (dgram != NULL)
		CHECK(b.p >= dgram + DD_MOLD_HDR_LEN && b.end == dgram + dlen);
	while (dd_mold_next(&b, &msg, &len)) {
		CHECK(msg >= blk->p && msg <= b.end);
		CHECK((size_t)(b.end - msg) >= len);
		if (s->name[0] == 'F' && len >= 9 && msg[0] == TAG)
			CHECK(dd_ld_be64(msg + 1) == b.seq - 1);
		/* a block belongs to the session being tracked when it comes out */
		if (s->name[0] == 'F' && len >= 10 && msg[0] == TAG)
			CHECK(msg[9] == (uint8_t)s->name[DD_MOLD_SESSION_LEN - 1]);
	}
	CHECK(b.p == b.end);
}

/* Per-call invariants: `blk` is the block the call returned, or NULL. */
static void after_call(const struct dd_mold_session *s, struct track *t, uint64_t ns0, uint64_t d0,
		       uint64_t m0, bool ended0, const struct dd_mold_block *blk)
{
	const struct dd_mold_stats *st = &s->stats;
	bool new_pass = st->session_changes != t->changes || st->rewinds != t->rewinds;

	if (new_pass) {
		/* The call mixed two passes: start counting afresh from here. */
		t->changes = st->session_changes;
		t->rewinds = st->rewinds;
		t->base_delivered = st->delivered;
		t->base_missing = st->missing;
		t->base_seq = s->next_seq;
		t->first_pass = false;
	} else if (s->started) {
		CHECK(s->next_seq >= ns0);
		/* what was skipped on the way to this call's block was declared missing */
		CHECK((st->delivered - d0) + (st->missing - m0) == s->next_seq - ns0);
		/* nothing is missing after the end of a session */
		if (ended0)
			CHECK(st->missing == m0 && s->next_seq == ns0 && s->ended);
		if (blk != NULL) {
			CHECK(blk->seq >= ns0);
			CHECK(blk->seq - ns0 == st->missing - m0);
			CHECK(st->delivered - d0 == blk->count);
		} else {
			CHECK(st->delivered == d0);
		}
	}
	if (blk != NULL)
		CHECK(blk->seq + blk->count == s->next_seq);
	if (s->started && !new_pass) {
		uint64_t moved = s->next_seq - t->base_seq;
		CHECK((st->delivered - t->base_delivered) + (st->missing - t->base_missing) == moved);
		if (t->first_pass)
			CHECK(st->delivered + st->missing == s->next_seq - 1);
	}

	uint64_t ld = 0, ldup = 0, ldg = 0;
	for (unsigned i = 0; i < DD_MOLD_MAX_LINES; i++) {
		ld += st->line[i].delivered;
		ldup += st->line[i].duplicates + st->line[i].arb_dropped;
		ldg += st->line[i].datagrams;
	}
	CHECK(ld == st->delivered);
	CHECK(ldup == st->duplicates);
	CHECK(ldg == st->datagrams);
	CHECK(st->late <= st->duplicates);
	CHECK(s->nheld <= s->params.reorder_window + 1);
	CHECK(s->gap_log_n == st->gaps);

	struct dd_mold_gap g;
	if (dd_mold_gap_at(s, 0, &g)) {
		CHECK(g.first <= g.last);
		if (!new_pass && s->gap_log_n > 0 && st->gaps > 0 && t->first_pass)
			CHECK(g.last < s->next_seq);
	}
}

static void drain(struct dd_mold_session *s, struct track *t, uint64_t now)
{
	struct dd_mold_block b;

	for (;;) {
		uint64_t ns0 = s->next_seq, d0 = s->stats.delivered, m0 = s->stats.missing;
		bool ended0 = s->ended;
		bool got = dd_mold_pop(s, now, &b);
		if (got)
			check_block(s, &b, NULL, 0);
		after_call(s, t, ns0, d0, m0, ended0, got ? &b : NULL);
		if (!got)
			break;
	}
	/* a drained window never holds a full window, nor waits on a session change */
	CHECK(s->nheld == 0 || s->nheld < s->params.reorder_window);
	if (now == UINT64_MAX)
		CHECK(s->nheld == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(64) uint8_t mem[(4 + 2) * (DD_MOLD_MAX_DATAGRAM + 128)];
	static uint8_t buf[DD_MOLD_HDR_LEN + BIG_MSG + 8];
	struct dd_mold_session s;
	struct cursor c = { data, size };
	uint8_t pb;

	if (!take_byte(&c, &pb))
		return 0;
	struct dd_mold_params p = {
		.reorder_window = pb % 5,
		.reorder_timeout = (pb & 0x08) ? 50 : 0,
		.rewind = (pb & 0x10) != 0,
	};
	CHECK(dd_mold_session_memsize(&p) <= sizeof(mem));
	CHECK(dd_mold_session_init(&s, mem, sizeof(mem), &p) == 0);

	struct track t = { .base_seq = 1, .first_pass = true };
	uint64_t now = 0;
	uint8_t lb, tb;
	while (take_byte(&c, &lb) && take_byte(&c, &tb)) {
		uint8_t kind = (lb >> 2) & 3;
		size_t len;
		if (kind == 3) {
			uint8_t h, l;
			if (!take_byte(&c, &h) || !take_byte(&c, &l))
				break;
			len = (size_t)h << 8 | l;
			if (len > c.left)
				len = c.left;
			memcpy(buf, c.p, len);
			c.p += len;
			c.left -= len;
			if (len > 0)
				buf[0] = 'R';
		} else {
			len = build(&c, &s, kind, tb, buf);
			if (len == 0)
				break;
		}

		/* an exact-size copy, so that reading past the datagram trips ASan */
		uint8_t *dg = malloc(len ? len : 1);
		CHECK(dg != NULL);
		memcpy(dg, buf, len);
		now += tb;
		unsigned line = lb == 0xFF ? DD_MOLD_MAX_LINES + 3 : lb & 3u;

		struct dd_mold_block b;
		uint64_t ns0 = s.next_seq, d0 = s.stats.delivered, m0 = s.stats.missing;
		bool ended0 = s.ended;
		enum dd_mold_verdict v = dd_mold_rx(&s, dg, len, line, now, &b);
		if (v == DD_MOLD_DELIVER)
			check_block(&s, &b, dg, len);
		after_call(&s, &t, ns0, d0, m0, ended0, v == DD_MOLD_DELIVER ? &b : NULL);
		free(dg);

		drain(&s, &t, now);
		if (tb == 0xFF)
			drain(&s, &t, UINT64_MAX);
		CHECK(s.stats.undrained == 0);
	}
	drain(&s, &t, UINT64_MAX);
	return 0;
}
