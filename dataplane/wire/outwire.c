/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/outwire.h"

#include "dataplane/wire/be.h"

/* One field: its offset in the message, its kind and its offset in struct dd_output. */
struct field {
	uint8_t at;
	uint8_t kind;   /* 1, 2, 4, 8: a big-endian integer of that many bytes; RAW | n: n bytes as they are */
	uint8_t off;
};

#define RAW 0x80u
#define F(at, kind, member) { (at), (kind), (uint8_t)offsetof(struct dd_output, member) }
#define B(at, kind, member) F(DD_OUTW_HDR_LEN + (at), kind, u.member)
#define END { 0, 0, 0 }

/* The header: type letter and version at 0 and 1, then these. */
static const struct field hdr[] = {
	/* lsn at 2 is not a member */
	F(10, 8, cause), F(18, 8, event_ns), F(26, 8, seq), F(34, 1, op), F(35, 1, source), F(36, 2, rule),
	F(38, 2, rule_version), F(40, 2, shard), F(42, 2, flags), F(44, 4, key), F(48, RAW | 8, symbol), END,
};

static const struct field bbo[] = {
	B(0, 4, bbo.bid_price), B(4, 4, bbo.ask_price), B(8, 8, bbo.bid_shares), B(16, 8, bbo.ask_shares),
	B(24, 4, bbo.bid_orders), B(28, 4, bbo.ask_orders), B(32, 2, bbo.locate), END,
};

static const struct field decision[] = {
	B(0, 8, decision.txn_id), B(8, 8, decision.payer), B(16, 8, decision.amount), B(24, 8, decision.merchant),
	B(32, 8, decision.device), B(40, 4, decision.reasons), B(44, 2, decision.score), B(46, 1, decision.action),
	B(47, 1, decision.flags), B(48, 2, decision.mcc), B(50, RAW | 3, decision.currency), END,
};

static const struct field alert[] = {
	B(0, 8, alert.first_ns), B(8, 8, alert.last_ns), B(16, 8, alert.measure[0]), B(24, 8, alert.measure[1]),
	B(32, 8, alert.measure[2]), B(40, 8, alert.measure[3]), B(48, 8, alert.first_seq), B(56, 4, alert.events),
	B(60, 1, alert.nmeasures), B(61, 1, alert.null_mask), B(62, 1, alert.timeout), B(63, 1, alert.first_feed),
	END,
};

static const struct field window[] = {
	B(0, 8, window.start_ns), B(8, 8, window.end_ns), B(16, 8, window.value[0]), B(24, 8, window.value[1]),
	B(32, 8, window.value[2]), B(40, 8, window.value[3]), B(48, 8, window.value[4]), B(56, 8, window.value[5]),
	END,
};

static const struct field late[] = {
	B(0, 8, late.window_end), B(8, 8, late.watermark), B(16, 8, late.time), B(24, 1, late.window), END,
};

static const struct field matched[] = {
	B(0, 8, matched.ref[0]), B(8, 8, matched.ref[1]), B(16, 8, matched.ref[2]), B(24, 8, matched.ref[3]),
	B(32, 8, matched.ref[4]), B(40, 8, matched.ref[5]), B(48, 8, matched.ref[6]), B(56, 1, matched.n),
	B(57, 1, matched.part), B(58, 1, matched.parts), END,
};

static const struct field test[] = {
	B(0, 8, test.v[0]), B(8, 8, test.v[1]), B(16, 8, test.v[2]), B(24, 8, test.v[3]), B(32, 8, test.v[4]),
	B(40, 8, test.v[5]), B(48, 8, test.v[6]), B(56, 8, test.v[7]), END,
};

static const struct {
	uint8_t letter;
	uint8_t body;   /* body bytes */
	const struct field *f;
} types[DD_OUT__COUNT] = {
	[DD_OUT_BBO] = { 'B', 34, bbo },           [DD_OUT_TEST] = { 'T', 64, test },
	[DD_OUT_DECISION] = { 'D', 53, decision }, [DD_OUT_ALERT] = { 'A', 64, alert },
	[DD_OUT_WINDOW] = { 'W', 64, window },     [DD_OUT_LATE] = { 'L', 25, late },
	[DD_OUT_MATCHED] = { 'M', 59, matched },
};

uint8_t dd_outw_letter(unsigned type)
{
	return type < DD_OUT__COUNT ? types[type].letter : 0;
}

size_t dd_outw_len(unsigned type)
{
	return dd_outw_letter(type) ? DD_OUTW_HDR_LEN + types[type].body : 0;
}

static void put(uint8_t *msg, const struct field *f, const struct dd_output *o)
{
	const uint8_t *s = (const uint8_t *)o + f->off;
	uint64_t v = 0;
	switch (f->kind) {
	case 1: msg[f->at] = *s; return;
	case 2: { uint16_t x; memcpy(&x, s, 2); dd_st_be16(msg + f->at, x); return; }
	case 4: { uint32_t x; memcpy(&x, s, 4); dd_st_be32(msg + f->at, x); return; }
	case 8: memcpy(&v, s, 8); dd_st_be64(msg + f->at, v); return;
	default: memcpy(msg + f->at, s, f->kind & ~RAW); return;
	}
}

static void get(const uint8_t *msg, const struct field *f, struct dd_output *o)
{
	uint8_t *d = (uint8_t *)o + f->off;
	switch (f->kind) {
	case 1: *d = msg[f->at]; return;
	case 2: { uint16_t x = dd_ld_be16(msg + f->at); memcpy(d, &x, 2); return; }
	case 4: { uint32_t x = dd_ld_be32(msg + f->at); memcpy(d, &x, 4); return; }
	case 8: { uint64_t x = dd_ld_be64(msg + f->at); memcpy(d, &x, 8); return; }
	default: memcpy(d, msg + f->at, f->kind & ~RAW); return;
	}
}

size_t dd_outw_encode(uint8_t *msg, uint64_t lsn, const struct dd_output *o)
{
	size_t len = dd_outw_len(o->type);
	if (len == 0)
		return 0;
	msg[0] = types[o->type].letter;
	msg[1] = DD_OUTW_VERSION;
	dd_st_be64(msg + 2, lsn);
	for (const struct field *f = hdr; f->kind; f++)
		put(msg, f, o);
	for (const struct field *f = types[o->type].f; f->kind; f++)
		put(msg, f, o);
	return len;
}

int dd_outw_decode(const uint8_t *msg, size_t len, uint64_t *lsn, struct dd_output *o)
{
	if (len < DD_OUTW_HDR_LEN)
		return DD_OUTW_SHORT;
	unsigned type = 0;
	for (unsigned t = 1; t < DD_OUT__COUNT; t++)
		if (types[t].letter != 0 && types[t].letter == msg[0])
			type = t;
	if (type == 0)
		return DD_OUTW_BAD_TYPE;
	if (msg[1] != DD_OUTW_VERSION)
		return DD_OUTW_BAD_VERSION;
	if (len != dd_outw_len(type))
		return DD_OUTW_BAD_LENGTH;
	memset(o, 0, sizeof(*o));
	o->type = (uint16_t)type;
	*lsn = dd_ld_be64(msg + 2);
	for (const struct field *f = hdr; f->kind; f++)
		get(msg, f, o);
	for (const struct field *f = types[type].f; f->kind; f++)
		get(msg, f, o);
	return 0;
}

const char *dd_outw_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case DD_OUTW_SHORT: return "shorter than the 56-byte header";
	case DD_OUTW_BAD_TYPE: return "not an output type";
	case DD_OUTW_BAD_VERSION: return "unknown version";
	case DD_OUTW_BAD_LENGTH: return "wrong length for its type";
	default: return "?";
	}
}
