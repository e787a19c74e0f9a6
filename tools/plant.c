/* SPDX-License-Identifier: MIT */
#include "tools/plant.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TICK          100u               /* $0.01 in ITCH's 1e-4 price units */
#define NS            1000000000ull
#define MS            1000000ull
#define MINUTE        (60 * NS)
#define AT(h, m, s)   ((((uint64_t)(h) * 60 + (m)) * 60 + (s)) * NS)
#define FLOW_START    AT(9, 30, 0)
#define FLOW_MINUTES  28u
#define FLOW_END      (FLOW_START + FLOW_MINUTES * MINUTE)
#define WINDOW_5M     5u                  /* price_5m's minutes */
#define PHASE_GRID    100000ull           /* 100 us: an instrument's locate (< 2^16 ns) fits below it */
#define PHASES        40000u              /* phases 0 .. 4 s on that grid */
#define DIR_GAP       50000ull            /* R and start-of-day H: 50 us apart, by locate */
#define VENUE2_SHIFT  25000ull            /* feed 1's system messages: 25 us after feed 0's */
#define VENUE2_REF    900000000ull        /* feed 1's order references: apart from feed 0's */
#define SLOTS         6
#define VENUE2_MSGS   16
#define NO_PLAN       0xff
#define PX_JUMP       INT8_MIN

/*
 * Times inside a minute (ms after the minute's start plus the instrument's phase) that the expected
 * alerts read: they are the times of the steps below, named once.
 */
#define AT_MOMO_A     30000u   /* momentum: the trade before the three rises */
#define AT_MOMO_R3    36000u   /* momentum: the third rise */
#define AT_HALT       1000u    /* a news halt */
#define AT_RESUME     31000u
#define AT_BEAR_SELL  33000u   /* bear_signal: 20,000 shares offered after the halt */
#define AT_BIG        32000u   /* manipulation: the big order; spoofing: the spoof */
#define AT_OPPOSITE   42000u   /* manipulation: the opposite order */
#define AT_SPOOF_DEL  32200u   /* spoofing: the spoof deleted, 200 ms on */
#define AT_CROSS      21000u   /* arbitrage: feed 1's crossing ask, between two of feed 0's steps */
#define AT_UNCROSS    21100u
#define AT_LAST       55000u   /* the last step of the background minute */
#define BEAR_SHARES   20000u
#define MANIP_BIG     60000u
#define MANIP_OPP     40000u
#define SPOOF_SHARES  80000u

enum op { OP_ADD, OP_ADD_F, OP_EXEC, OP_CANCEL, OP_DELETE, OP_TRADE, OP_HALT_T1, OP_HALT_T2, OP_RESUME };

/* One message of a one-minute program. */
struct step {
	uint32_t at_ms;  /* after the minute's start and the phase; increasing, at most 57 s (< 60) */
	uint8_t op;
	uint8_t slot;    /* the minute's order an add creates or an execution, cancel or delete takes */
	uint8_t side;    /* adds and hidden trades; a hidden trade's 0: 'B' in even minutes, 'S' in odd */
	int8_t ticks;    /* price of adds and hidden trades: ticks from the mid, or PX_JUMP */
	uint8_t lots;    /* shares, in the instrument's lots ... */
	uint32_t shares; /* ... or when lots is 0 this many (the scenarios' big orders) */
};

#define ADD(t, o, sd, tk, l)     { t, OP_ADD, o, sd, tk, l, 0 }
#define ADD_F(t, o, sd, tk, l)   { t, OP_ADD_F, o, sd, tk, l, 0 }
#define BIG(t, o, sd, tk, n)     { t, OP_ADD, o, sd, tk, 0, n }
#define EXEC(t, o, l)            { t, OP_EXEC, o, 0, 0, l, 0 }
#define CANCEL(t, o, l)          { t, OP_CANCEL, o, 0, 0, l, 0 }
#define DEL(t, o)                { t, OP_DELETE, o, 0, 0, 0, 0 }
#define TRADE(t, sd, tk, l)      { t, OP_TRADE, 0, sd, tk, l, 0 }
#define ACTION(t, op)            { t, op, 0, 0, 0, 0, 0 }

/*
 * The background minute. Order 0 bids at mid-1 and order 1 offers at mid+1 (3 lots each); they trade
 * one lot each, order 0 loses a lot to a cancel, a hidden trade prints at the mid, order 0's last lot
 * trades. Trades: mid-1, mid+1, mid, mid-1 (one rise, then two falls, then an equal price at the next
 * minute's first): never three rises in a row, a range of two ticks, four lots a minute. Every
 * execution takes the best (and only) order of its side. All orders are gone by the minute's end.
 */
#define BASE_OPEN \
	ADD(0, 0, 'B', -1, 3), ADD(5000, 1, 'S', 1, 3), EXEC(10000, 0, 1), EXEC(15000, 1, 1)
#define BASE_HEAD  BASE_OPEN, CANCEL(20000, 0, 1)
#define BASE_MID   EXEC(AT_MOMO_A, 0, 1)
#define BASE_TAIL  ADD(45000, 3, 'S', 2, 1), DEL(50000, 2), DEL(AT_LAST, 3)

static const struct step background[] = {
	BASE_HEAD, TRADE(25000, 0, 0, 1), BASE_MID, ADD_F(35000, 2, 'B', -2, 2), DEL(40000, 1), BASE_TAIL,
};

/* momentum: asks at mid+2 and mid+3 join, then buyers lift mid+1, mid+2, mid+3 after the mid-1 trade. */
static const struct step momentum[] = {
	BASE_HEAD, TRADE(25000, 0, 0, 1), BASE_MID, ADD(31000, 4, 'S', 2, 1), ADD(31500, 5, 'S', 3, 1),
	EXEC(32000, 1, 2), EXEC(34000, 4, 1), ADD_F(35000, 2, 'B', -2, 2), EXEC(AT_MOMO_R3, 5, 1),
	BASE_TAIL,
};

/* A volume spike: three hidden trades of four lots at the ask price (equal prices: no rise). */
static const struct step spike[] = {
	BASE_OPEN, TRADE(17000, 'B', 1, 4), TRADE(18000, 'B', 1, 4), TRADE(19000, 'B', 1, 4),
	CANCEL(20000, 0, 1), TRADE(25000, 0, 0, 1), BASE_MID, ADD_F(35000, 2, 'B', -2, 2), DEL(40000, 1),
	BASE_TAIL,
};

/* circuit_breaker: the minute's hidden trade prints 6% above the window's first price. */
static const struct step jump[] = {
	BASE_HEAD, TRADE(25000, 0, PX_JUMP, 1), BASE_MID, ADD_F(35000, 2, 'B', -2, 2), DEL(40000, 1),
	BASE_TAIL,
};

/* A news halt of 30 s, nothing while halted, then a short book and one trade (less volume). */
#define HALT_TAIL \
	ADD(35000, 0, 'B', -1, 3), ADD(40000, 1, 'S', 1, 3), EXEC(45000, 0, 1), DEL(50000, 0), \
	DEL(AT_LAST, 1)

static const struct step halt_t1[] = {
	ACTION(AT_HALT, OP_HALT_T1), ACTION(AT_RESUME, OP_RESUME), HALT_TAIL,
};

static const struct step halt_t2[] = {
	ACTION(AT_HALT, OP_HALT_T2), ACTION(AT_RESUME, OP_RESUME), HALT_TAIL,
};

/* bear_signal: after the halt, 20,000 shares offered at mid+3 (no bid above it), deleted later. */
static const struct step bear[] = {
	ACTION(AT_HALT, OP_HALT_T1), ACTION(AT_RESUME, OP_RESUME), BIG(AT_BEAR_SELL, 2, 'S', 3, BEAR_SHARES),
	HALT_TAIL, DEL(57000, 2),
};

/* manipulation: 60,000 bid at mid-3, 40,000 offered at mid+3 10 s later; both deleted after 20 s. */
static const struct step manip[] = {
	BASE_HEAD, TRADE(25000, 0, 0, 1), BASE_MID, BIG(AT_BIG, 4, 'B', -3, MANIP_BIG),
	ADD_F(35000, 2, 'B', -2, 2), DEL(40000, 1), BIG(AT_OPPOSITE, 5, 'S', 3, MANIP_OPP),
	ADD(45000, 3, 'S', 2, 1), DEL(50000, 2), DEL(52000, 4), DEL(AT_LAST, 3), DEL(57000, 5),
};

/* spoofing: 80,000 offered at mid+4 and deleted 200 ms later. */
static const struct step spoof[] = {
	BASE_HEAD, TRADE(25000, 0, 0, 1), BASE_MID, BIG(AT_BIG, 4, 'S', 4, SPOOF_SHARES),
	DEL(AT_SPOOF_DEL, 4), ADD_F(35000, 2, 'B', -2, 2), DEL(40000, 1), BASE_TAIL,
};

enum { P_BASE, P_SILENT, P_MOMENTUM, P_SPIKE, P_JUMP, P_HALT_T1, P_HALT_T2, P_BEAR, P_MANIP, P_SPOOF };

#define PROG(a) { a, sizeof(a) / sizeof(a[0]) }

static const struct prog {
	const struct step *step;
	unsigned n;
} progs[] = {
	[P_BASE] = PROG(background),
	[P_SILENT] = { NULL, 0 },
	[P_MOMENTUM] = PROG(momentum),
	[P_SPIKE] = PROG(spike),
	[P_JUMP] = PROG(jump),
	[P_HALT_T1] = PROG(halt_t1),
	[P_HALT_T2] = PROG(halt_t2),
	[P_BEAR] = PROG(bear),
	[P_MANIP] = PROG(manip),
	[P_SPOOF] = PROG(spoof),
};

/*
 * Each scenario's instrument, and the minutes (from 09:30) it runs other programs. The alerts fall at
 * least 14 s apart, none between another's last record and the time it is produced (a window's result
 * comes when the watermark passes its end; stale_feed's 60 s after the last message).
 */
static const struct plan {
	char stock[8];
	uint8_t prog[2];
	uint8_t minute[2];
} plans[DD_PLANT_PATTERNS] = {
	[DD_PLANT_MOMENTUM] = { "MOMO    ", { P_MOMENTUM, P_BASE }, { 3, 0 } },
	[DD_PLANT_VOLUME_SPIKE] = { "VSPK    ", { P_SPIKE, P_BASE }, { 5, 0 } },
	/* the spike's window ends 09:38:00; the halt 121-125 s later: bull_run, not insider (< 5 min) */
	[DD_PLANT_BULL_RUN] = { "BULL    ", { P_SPIKE, P_HALT_T1 }, { 7, 10 } },
	[DD_PLANT_BEAR_SIGNAL] = { "BEAR    ", { P_BEAR, P_BASE }, { 12, 0 } },
	/* the spike's window ends 09:35:00; the halt is 15 min later: insider, not bull_run (> 10 min) */
	[DD_PLANT_INSIDER] = { "INSD    ", { P_SPIKE, P_HALT_T2 }, { 4, 20 } },
	[DD_PLANT_MANIPULATION] = { "MANP    ", { P_MANIP, P_BASE }, { 14, 0 } },
	[DD_PLANT_SPOOFING] = { "SPOF    ", { P_SPOOF, P_BASE }, { 16, 0 } },
	/* the jump in 09:42, in the window [09:40, 09:45) */
	[DD_PLANT_CIRCUIT_BREAKER] = { "CBRK    ", { P_JUMP, P_BASE }, { 12, 0 } },
	/* feed 1 crosses in minute 22; feed 0 runs the background */
	[DD_PLANT_ARBITRAGE] = { "ARBT    ", { P_BASE, P_BASE }, { 22, 0 } },
	/* silent through minute 25: 65 s without a message */
	[DD_PLANT_STALE_FEED] = { "STAL    ", { P_SILENT, P_BASE }, { 25, 0 } },
};

static const char *const names[DD_PLANT_PATTERNS] = {
	"momentum", "volume_spike", "bull_run", "bear_signal", "insider", "manipulation", "spoofing",
	"circuit_breaker", "arbitrage", "stale_feed",
};

/* Each pattern's MEASURES, as rules/market.rules names them. */
static const char *const measures[DD_PLANT_PATTERNS][DD_PLANT_MAX_MEASURES] = {
	[DD_PLANT_MOMENTUM] = { "start_price", "end_price" },
	[DD_PLANT_VOLUME_SPIKE] = { "volume", "avg_volume" },
	[DD_PLANT_BULL_RUN] = { "volume", "avg_volume" },
	[DD_PLANT_BEAR_SIGNAL] = { "shares", "price" },
	[DD_PLANT_INSIDER] = { "volume", "avg_volume" },
	[DD_PLANT_MANIPULATION] = { "big_shares", "opposite_shares" },
	[DD_PLANT_SPOOFING] = { "shares", "price", "lifetime_ns" },
	[DD_PLANT_CIRCUIT_BREAKER] = { "open", "low", "high" },
	[DD_PLANT_ARBITRAGE] = { "bid", "ask", "other_bid", "other_ask" },
	[DD_PLANT_STALE_FEED] = { "last_message_ns" },
};

static const char mpids[][5] = { "GSCO", "MSCO", "UBSS", "NITE", "VIRT", "JPMS" };

struct inst {
	char stock[8];
	uint64_t next_ns;     /* time of the next step; UINT64_MAX once the day is over for it */
	uint64_t phase;       /* ns after each minute's start */
	uint64_t ref[SLOTS];  /* the minute's orders */
	uint32_t mid;
	uint32_t lot;
	uint16_t locate;
	uint8_t plan;         /* enum dd_plant_pattern of its scenario, or NO_PLAN */
	uint8_t minute;
	uint8_t step;
};

enum stage { ST_START, ST_FLOW, ST_END, ST_DONE };

struct dd_plant {
	struct dd_plant_params p;
	uint64_t rng;
	uint32_t n;           /* instruments of feed 0 */
	uint32_t nheap;
	enum stage stage;
	uint32_t k;           /* message index within the stage */
	uint64_t next_ref;
	uint64_t next_match;
	uint64_t produced[DD_PLANT_FEEDS];
	uint64_t counts[DD_PLANT_FEEDS][256];
	unsigned nv2, v2_at;
	struct dd_itch_msg v2[VENUE2_MSGS];
	unsigned nalerts;
	struct dd_plant_alert alert[DD_PLANT_MAX_ALERTS];
	struct inst *inst;
	uint32_t *heap;       /* instruments by next_ns, a binary min-heap */
};

/* ---- random numbers, names ------------------------------------------------------------------ */

static uint64_t rnd(struct dd_plant *pl)
{
	uint64_t z = (pl->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(struct dd_plant *pl, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(pl) * n) >> 64);
}

const char *dd_plant_pattern_name(unsigned pattern)
{
	return pattern < DD_PLANT_PATTERNS ? names[pattern] : NULL;
}

int dd_plant_parse(const char *list, uint32_t *patterns, size_t *bad_off, size_t *bad_len)
{
	uint32_t mask = 0;
	const char *s = list;

	for (;;) {
		size_t n = strcspn(s, ",");
		unsigned k = 0;

		if (n == 3 && strncmp(s, "all", 3) == 0)
			mask |= DD_PLANT_ALL;
		else {
			while (k < DD_PLANT_PATTERNS && (strlen(names[k]) != n || strncmp(s, names[k], n)))
				k++;
			if (k == DD_PLANT_PATTERNS) {
				*bad_off = (size_t)(s - list);
				*bad_len = n;
				return -EINVAL;
			}
			mask |= 1u << k;
		}
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	*patterns = mask;
	return 0;
}

/* ---- memory layout -------------------------------------------------------------------------- */

struct layout {
	size_t inst, heap, symset, total;
	uint32_t n;
	unsigned sym_bits;
};

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static unsigned popcount(uint32_t x)
{
	unsigned c = 0;

	for (; x; x &= x - 1)
		c++;
	return c;
}

static int plan_layout(const struct dd_plant_params *p, struct layout *l)
{
	size_t off;

	if (p->background == 0 || p->background > DD_PLANT_MAX_BACKGROUND || p->patterns == 0 ||
	    (p->patterns & ~DD_PLANT_ALL))
		return -EINVAL;
	l->n = p->background + popcount(p->patterns);
	l->sym_bits = 4;
	while (((uint64_t)1 << l->sym_bits) < 2 * (uint64_t)l->n)
		l->sym_bits++;
	off = align64(sizeof(struct dd_plant));
	l->inst = off;
	off = align64(off + l->n * sizeof(struct inst));
	l->heap = off;
	off = align64(off + l->n * sizeof(uint32_t));
	l->symset = off;
	off = align64(off + ((size_t)1 << l->sym_bits) * sizeof(uint64_t));
	l->total = off;
	return 0;
}

size_t dd_plant_memsize(const struct dd_plant_params *p)
{
	struct layout l;

	return plan_layout(p, &l) ? 0 : l.total;
}

/* ---- prices and times ----------------------------------------------------------------------- */

static uint32_t ceil_tick(uint64_t price)
{
	return (uint32_t)((price + TICK - 1) / TICK * TICK);
}

static uint32_t floor_tick(uint64_t price)
{
	return (uint32_t)(price / TICK * TICK);
}

/* circuit_breaker's print: 6% above the window's first price (mid-1), up to the tick. */
static uint32_t jump_price(const struct inst *in)
{
	return ceil_tick((uint64_t)(in->mid - TICK) * 106 / 100);
}

static uint32_t price_of(const struct inst *in, int8_t ticks)
{
	if (ticks == PX_JUMP)
		return jump_price(in);
	return (uint32_t)((int64_t)in->mid + (int64_t)ticks * TICK);
}

/* Feed 1's quote around the arbitrage instrument's mid: 2% either side, apart from feed 0's. */
static uint32_t v2_bid(const struct inst *in)
{
	return floor_tick((uint64_t)in->mid * 98 / 100);
}

static uint32_t v2_ask(const struct inst *in)
{
	return ceil_tick((uint64_t)in->mid * 102 / 100);
}

/* Feed 1's crossing ask: 1% under feed 0's bid (mid-1) at the time, above feed 1's own bid. */
static uint32_t v2_cross(const struct inst *in)
{
	return floor_tick((uint64_t)(in->mid - TICK) * 99 / 100);
}

static uint64_t step_ns(const struct inst *in, unsigned minute, uint32_t at_ms)
{
	return FLOW_START + minute * MINUTE + in->phase + at_ms * MS + in->locate;
}

static uint64_t minute_end(unsigned minute)
{
	return FLOW_START + (minute + 1) * MINUTE;
}

static uint64_t window_5m_end(unsigned minute)
{
	uint64_t m = FLOW_START / MINUTE + minute;

	return (m / WINDOW_5M + 1) * WINDOW_5M * MINUTE;
}

static const struct prog *program(const struct inst *in, unsigned minute)
{
	if (in->plan != NO_PLAN)
		for (int k = 0; k < 2; k++)
			if (plans[in->plan].prog[k] != P_BASE && plans[in->plan].minute[k] == minute)
				return &progs[plans[in->plan].prog[k]];
	return &progs[P_BASE];
}

/* Lots a program trades (executions and hidden trades): its minute's volume in lots. */
static uint32_t traded_lots(const struct prog *pg)
{
	uint32_t lots = 0;

	for (unsigned i = 0; i < pg->n; i++)
		if (pg->step[i].op == OP_EXEC || pg->step[i].op == OP_TRADE)
			lots += pg->step[i].lots;
	return lots;
}

/* ---- the flow: instruments merged by the time of their next step ------------------------------ */

static bool earlier(const struct dd_plant *pl, uint32_t a, uint32_t b)
{
	return pl->inst[a].next_ns < pl->inst[b].next_ns;
}

static void sift_down(struct dd_plant *pl, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i, t;

		if (l < pl->nheap && earlier(pl, pl->heap[l], pl->heap[m]))
			m = l;
		if (r < pl->nheap && earlier(pl, pl->heap[r], pl->heap[m]))
			m = r;
		if (m == i)
			return;
		t = pl->heap[i];
		pl->heap[i] = pl->heap[m];
		pl->heap[m] = t;
		i = m;
	}
}

/* Point `in` at its next step from (minute, step) on, past silent minutes; UINT64_MAX at the end. */
static void schedule(struct inst *in)
{
	while (in->minute < FLOW_MINUTES) {
		const struct prog *pg = program(in, in->minute);

		if (in->step < pg->n) {
			in->next_ns = step_ns(in, in->minute, pg->step[in->step].at_ms);
			return;
		}
		in->minute++;
		in->step = 0;
	}
	in->next_ns = UINT64_MAX;
}

static void hdr(struct dd_itch_msg *m, uint8_t type, uint16_t locate, uint64_t ts)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->locate = locate;
	m->timestamp = ts;
}

static void trading_action(struct dd_itch_msg *m, const char stock[8], uint8_t state, const char *reason)
{
	memcpy(m->u.trading_action.stock, stock, 8);
	m->u.trading_action.state = state;
	m->u.trading_action.reserved = ' ';
	memcpy(m->u.trading_action.reason, reason, 4);
}

static void add_order(struct dd_itch_msg *m, uint8_t type, uint64_t ref, uint8_t side, uint32_t shares,
		      const char stock[8], uint32_t price, const char *mpid)
{
	m->u.add.ref = ref;
	m->u.add.side = side;
	m->u.add.shares = shares;
	memcpy(m->u.add.stock, stock, 8);
	m->u.add.price = price;
	memcpy(m->u.add.attribution, type == 'F' ? mpid : "    ", 4);
}

static void emit(struct dd_plant *pl, struct inst *in, const struct step *st, struct dd_itch_msg *m)
{
	static const uint8_t type[] = {
		[OP_ADD] = 'A', [OP_ADD_F] = 'F', [OP_EXEC] = 'E', [OP_CANCEL] = 'X', [OP_DELETE] = 'D',
		[OP_TRADE] = 'P', [OP_HALT_T1] = 'H', [OP_HALT_T2] = 'H', [OP_RESUME] = 'H',
	};
	uint32_t shares = st->lots ? st->lots * in->lot : st->shares;

	hdr(m, type[st->op], in->locate, in->next_ns);
	switch (st->op) {
	case OP_ADD:
	case OP_ADD_F:
		in->ref[st->slot] = pl->next_ref;
		add_order(m, type[st->op], pl->next_ref, st->side, shares, in->stock, price_of(in, st->ticks),
			  mpids[below(pl, sizeof(mpids) / sizeof(mpids[0]))]);
		/* NASDAQ's references grow in small steps; unique and increasing is what matters. */
		pl->next_ref += 1 + below(pl, 4);
		break;
	case OP_EXEC:
		m->u.exec.ref = in->ref[st->slot];
		m->u.exec.shares = shares;
		m->u.exec.match = pl->next_match++;
		break;
	case OP_CANCEL:
		m->u.cancel.ref = in->ref[st->slot];
		m->u.cancel.shares = shares;
		break;
	case OP_DELETE:
		m->u.del.ref = in->ref[st->slot];
		break;
	case OP_TRADE:
		m->u.trade.ref = 0; /* NASDAQ sends 0 for non-displayed orders */
		m->u.trade.side = st->side ? st->side : in->minute % 2 ? 'S' : 'B';
		m->u.trade.shares = shares;
		memcpy(m->u.trade.stock, in->stock, 8);
		m->u.trade.price = price_of(in, st->ticks);
		m->u.trade.match = pl->next_match++;
		break;
	case OP_HALT_T1:
		trading_action(m, in->stock, 'H', "T1  ");
		break;
	case OP_HALT_T2:
		trading_action(m, in->stock, 'H', "T2  ");
		break;
	case OP_RESUME:
		trading_action(m, in->stock, 'T', "    ");
		break;
	}
}

static bool flow(struct dd_plant *pl, struct dd_itch_msg *m)
{
	struct inst *in;

	if (pl->nheap == 0)
		return false;
	in = &pl->inst[pl->heap[0]];
	emit(pl, in, &program(in, in->minute)->step[in->step], m);
	in->step++;
	schedule(in);
	if (in->next_ns == UINT64_MAX)
		pl->heap[0] = pl->heap[--pl->nheap];
	sift_down(pl, 0);
	return true;
}

static void system_event(struct dd_itch_msg *m, uint64_t ts, uint8_t code)
{
	hdr(m, 'S', 0, ts);
	m->u.system.event_code = code;
}

static void directory_as(struct dd_itch_msg *m, const struct inst *in, uint16_t locate, uint64_t ts)
{
	hdr(m, 'R', locate, ts);
	memcpy(m->u.directory.stock, in->stock, 8);
	m->u.directory.market_category = 'Q';
	m->u.directory.financial_status = 'N';
	m->u.directory.round_lot_size = 100;
	m->u.directory.round_lots_only = 'N';
	m->u.directory.issue_classification = 'C';
	memcpy(m->u.directory.issue_subtype, "Z ", 2);
	m->u.directory.authenticity = 'P';
	m->u.directory.short_sale_threshold = 'N';
	m->u.directory.ipo_flag = 'N';
	m->u.directory.luld_tier = '1';
	m->u.directory.etp_flag = 'N';
	m->u.directory.inverse = 'N';
}

static void directory(struct dd_itch_msg *m, const struct inst *in, uint64_t ts)
{
	directory_as(m, in, in->locate, ts);
}

static const uint8_t end_codes[] = { 'M', 'E', 'C' };

/* The day's last messages: 1, 2 and 3 ms after the last minute's end (plus `shift`). */
static uint64_t end_ns(unsigned k, uint64_t shift)
{
	return FLOW_END + (k + 1) * MS + shift;
}

static bool next_venue1(struct dd_plant *pl, struct dd_itch_msg *m)
{
	uint32_t n = pl->n;

	switch (pl->stage) {
	case ST_START:
		if (pl->k == 0)
			system_event(m, AT(9, 29, 0), 'O');
		else if (pl->k <= n)
			directory(m, &pl->inst[pl->k - 1], AT(9, 29, 0) + pl->k * DIR_GAP);
		else if (pl->k == n + 1)
			system_event(m, AT(9, 29, 20), 'S');
		else if (pl->k <= 2 * n + 1) {
			const struct inst *in = &pl->inst[pl->k - n - 2];

			hdr(m, 'H', in->locate, AT(9, 29, 30) + in->locate * DIR_GAP);
			trading_action(m, in->stock, 'T', "    ");
		} else
			system_event(m, FLOW_START, 'Q');
		if (++pl->k == 2 * n + 3) {
			pl->stage = ST_FLOW;
			pl->k = 0;
		}
		return true;
	case ST_FLOW:
		if (flow(pl, m))
			return true;
		pl->stage = ST_END;
		/* fall through */
	case ST_END:
		system_event(m, end_ns(pl->k, 0), end_codes[pl->k]);
		if (++pl->k == sizeof(end_codes))
			pl->stage = ST_DONE;
		return true;
	case ST_DONE:
		break;
	}
	return false;
}

int dd_plant_next(struct dd_plant *pl, unsigned feed, struct dd_itch_msg *m)
{
	bool got;

	if (feed == 0)
		got = next_venue1(pl, m);
	else if (feed == 1 && pl->v2_at < pl->nv2) {
		*m = pl->v2[pl->v2_at++];
		got = true;
	} else
		got = false;
	if (!got)
		return 0;
	pl->produced[feed]++;
	pl->counts[feed][m->type]++;
	return 1;
}

/* ---- the second venue (arbitrage) ----------------------------------------------------------- */

/*
 * Feed 1 quotes the arbitrage instrument 2% either side of its mid all day; in minute 22, between
 * feed 0's steps at 20 s and 25 s (feed 0 then bids mid-1 and offers mid+1, and does not change), an
 * ask 1% under feed 0's bid stands for 100 ms: one bbo record of feed 1 is crossed, and none of feed
 * 0's, which does not move meanwhile.
 */
static void build_venue2(struct dd_plant *pl, const struct inst *in)
{
	struct dd_itch_msg *v = pl->v2;
	uint64_t ref = VENUE2_REF + below(pl, 1000);
	uint16_t vl = pl->p.venue2_locate ? pl->p.venue2_locate : in->locate; /* its locate on this venue */
	unsigned n = 0, minute = plans[DD_PLANT_ARBITRAGE].minute[0];

	system_event(&v[n++], AT(9, 29, 0) + VENUE2_SHIFT, 'O');
	directory_as(&v[n++], in, vl, AT(9, 29, 0) + in->locate * DIR_GAP + VENUE2_SHIFT);
	system_event(&v[n++], AT(9, 29, 20) + VENUE2_SHIFT, 'S');
	hdr(&v[n], 'H', vl, AT(9, 29, 30) + in->locate * DIR_GAP + VENUE2_SHIFT);
	trading_action(&v[n++], in->stock, 'T', "    ");
	system_event(&v[n++], FLOW_START + VENUE2_SHIFT, 'Q');
	hdr(&v[n], 'A', vl, step_ns(in, 0, 2500));
	add_order(&v[n++], 'A', ref, 'B', 2 * in->lot, in->stock, v2_bid(in), NULL);
	hdr(&v[n], 'A', vl, step_ns(in, 0, 2600));
	add_order(&v[n++], 'A', ref + 1, 'S', 2 * in->lot, in->stock, v2_ask(in), NULL);
	hdr(&v[n], 'A', vl, step_ns(in, minute, AT_CROSS));
	add_order(&v[n++], 'A', ref + 2, 'S', in->lot, in->stock, v2_cross(in), NULL);
	hdr(&v[n], 'D', vl, step_ns(in, minute, AT_UNCROSS));
	v[n++].u.del.ref = ref + 2;
	hdr(&v[n], 'D', vl, step_ns(in, FLOW_MINUTES - 1, 57500));
	v[n++].u.del.ref = ref;
	hdr(&v[n], 'D', vl, step_ns(in, FLOW_MINUTES - 1, 57600));
	v[n++].u.del.ref = ref + 1;
	for (unsigned k = 0; k < sizeof(end_codes); k++)
		system_event(&v[n++], end_ns(k, VENUE2_SHIFT), end_codes[k]);
	pl->nv2 = n;
}

/* ---- the expected alerts -------------------------------------------------------------------- */

static struct dd_plant_alert *alert(struct dd_plant *pl, unsigned pattern, const struct inst *in,
				    uint64_t first_ns, uint64_t last_ns)
{
	struct dd_plant_alert *a = &pl->alert[pl->nalerts++];
	unsigned len = 0;

	memset(a, 0, sizeof(*a));
	a->pattern = (uint8_t)pattern;
	while (len < 8 && in->stock[len] != ' ')
		len++;
	memcpy(a->symbol, in->stock, len);
	a->first_ns = first_ns;
	a->last_ns = last_ns;
	while (a->nmeasures < DD_PLANT_MAX_MEASURES && measures[pattern][a->nmeasures]) {
		a->measure_name[a->nmeasures] = measures[pattern][a->nmeasures];
		a->nmeasures++;
	}
	return a;
}

/*
 * The spike's volume_1m result: its minute's volume against the ten minutes before, every one of
 * which ran the background program (an exact average: no rounding).
 */
static void spike_alert(struct dd_plant *pl, unsigned pattern, const struct inst *in, uint64_t last_ns)
{
	unsigned minute = plans[in->plan].minute[0];
	struct dd_plant_alert *a = alert(pl, pattern, in, minute_end(minute), last_ns);

	a->measure[0] = (int64_t)traded_lots(&progs[P_SPIKE]) * in->lot;
	a->measure[1] = (int64_t)traded_lots(&progs[P_BASE]) * in->lot;
}

static void expect(struct dd_plant *pl, const struct inst *in)
{
	const struct plan *pn = &plans[in->plan];
	struct dd_plant_alert *a;

	switch (in->plan) {
	case DD_PLANT_MOMENTUM:
		a = alert(pl, in->plan, in, step_ns(in, pn->minute[0], AT_MOMO_A),
			  step_ns(in, pn->minute[0], AT_MOMO_R3));
		a->measure[0] = in->mid - TICK;
		a->measure[1] = in->mid + 3 * TICK;
		break;
	case DD_PLANT_VOLUME_SPIKE:
		spike_alert(pl, DD_PLANT_VOLUME_SPIKE, in, minute_end(pn->minute[0]));
		break;
	case DD_PLANT_BULL_RUN:
	case DD_PLANT_INSIDER:
		spike_alert(pl, DD_PLANT_VOLUME_SPIKE, in, minute_end(pn->minute[0]));
		spike_alert(pl, in->plan, in, step_ns(in, pn->minute[1], AT_HALT));
		break;
	case DD_PLANT_BEAR_SIGNAL:
		a = alert(pl, in->plan, in, step_ns(in, pn->minute[0], AT_HALT),
			  step_ns(in, pn->minute[0], AT_BEAR_SELL));
		a->measure[0] = BEAR_SHARES;
		a->measure[1] = in->mid + 3 * TICK;
		break;
	case DD_PLANT_MANIPULATION:
		a = alert(pl, in->plan, in, step_ns(in, pn->minute[0], AT_BIG),
			  step_ns(in, pn->minute[0], AT_OPPOSITE));
		a->measure[0] = MANIP_BIG;
		a->measure[1] = MANIP_OPP;
		break;
	case DD_PLANT_SPOOFING:
		a = alert(pl, in->plan, in, step_ns(in, pn->minute[0], AT_BIG),
			  step_ns(in, pn->minute[0], AT_SPOOF_DEL));
		a->measure[0] = SPOOF_SHARES;
		a->measure[1] = in->mid + 4 * TICK;
		a->measure[2] = (int64_t)(AT_SPOOF_DEL - AT_BIG) * (int64_t)MS;
		break;
	case DD_PLANT_CIRCUIT_BREAKER:
		/* The window's first trade is its first minute's first execution: order 0's bid at mid-1. */
		a = alert(pl, in->plan, in, window_5m_end(pn->minute[0]), window_5m_end(pn->minute[0]));
		a->measure[0] = in->mid - TICK;
		a->measure[1] = in->mid - TICK;
		a->measure[2] = jump_price(in);
		break;
	case DD_PLANT_ARBITRAGE:
		a = alert(pl, in->plan, in, step_ns(in, pn->minute[0], AT_CROSS),
			  step_ns(in, pn->minute[0], AT_CROSS));
		a->measure[0] = v2_bid(in);
		a->measure[1] = v2_cross(in);
		a->measure[2] = in->mid - TICK;
		a->measure[3] = in->mid + TICK;
		break;
	case DD_PLANT_STALE_FEED:
		a = alert(pl, in->plan, in, step_ns(in, pn->minute[0] - 1, AT_LAST),
			  step_ns(in, pn->minute[0] - 1, AT_LAST));
		a->measure[0] = (int64_t)a->first_ns;
		break;
	}
}

static bool alert_before(const struct dd_plant_alert *a, const struct dd_plant_alert *b)
{
	if (a->last_ns != b->last_ns)
		return a->last_ns < b->last_ns;
	return strcmp(names[a->pattern], names[b->pattern]) < 0;
}

static void sort_alerts(struct dd_plant *pl)
{
	for (unsigned i = 1; i < pl->nalerts; i++) {
		struct dd_plant_alert a = pl->alert[i];
		unsigned j = i;

		for (; j > 0 && alert_before(&a, &pl->alert[j - 1]); j--)
			pl->alert[j] = pl->alert[j - 1];
		pl->alert[j] = a;
	}
}

int dd_plant_alert_json(const struct dd_plant_alert *a, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "{\"pattern\":\"%s\",\"symbol\":\"%s\",\"first_ns\":%" PRIu64
			 ",\"last_ns\":%" PRIu64, names[a->pattern], a->symbol, a->first_ns, a->last_ns);

	for (unsigned i = 0; i < a->nmeasures && n >= 0 && (size_t)n < cap; i++)
		n += snprintf(buf + n, cap - (size_t)n, ",\"%s\":%" PRId64, a->measure_name[i],
			      a->measure[i]);
	if (n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, "}");
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* ---- init ----------------------------------------------------------------------------------- */

/* Mids from $20 to $200 (a tick is at most 0.05%), lots of 100 to 500 shares, phases 0-4 s. */
static void instrument(struct dd_plant *pl, struct inst *in, uint32_t locate, uint8_t plan)
{
	in->locate = (uint16_t)locate;
	in->plan = plan;
	in->mid = (2000 + (uint32_t)below(pl, 18000)) * TICK;
	in->lot = 100 * (1 + (uint32_t)below(pl, 5));
	in->phase = below(pl, PHASES) * PHASE_GRID;
	in->minute = 0;
	in->step = 0;
	schedule(in);
}

int dd_plant_init(struct dd_plant **out, void *mem, size_t len, const struct dd_plant_params *p)
{
	struct dd_plant *pl = mem;
	uint8_t *base = mem;
	struct layout l;
	uint64_t *set;
	uint32_t i = 0;

	if (plan_layout(p, &l) || len < l.total || ((uintptr_t)mem & 7))
		return -EINVAL;
	memset(pl, 0, sizeof(*pl));
	pl->p = *p;
	pl->n = l.n;
	pl->inst = (struct inst *)(base + l.inst);
	pl->heap = (uint32_t *)(base + l.heap);
	set = (uint64_t *)(base + l.symset);
	memset(pl->inst, 0, l.n * sizeof(struct inst));
	memset(set, 0, ((size_t)1 << l.sym_bits) * sizeof(uint64_t));
	pl->rng = p->seed ^ 0x9a1a7edda7ull;

	/* The scenarios' symbols first, so that no background symbol takes one. */
	for (unsigned k = 0; k < DD_PLANT_PATTERNS; k++)
		dd_symset_claim(set, l.sym_bits, plans[k].stock);
	for (; i < p->background; i++) {
		char *st = pl->inst[i].stock;

		do {
			uint64_t r = below(pl, 100);
			unsigned n = r < 2 ? 1 : r < 10 ? 2 : r < 40 ? 3 : r < 95 ? 4 : 5;

			memset(st, ' ', 8);
			for (unsigned c = 0; c < n; c++)
				st[c] = (char)('A' + below(pl, 26));
		} while (!dd_symset_claim(set, l.sym_bits, st));
		instrument(pl, &pl->inst[i], i + 1, NO_PLAN);
	}
	for (unsigned k = 0; k < DD_PLANT_PATTERNS; k++) {
		if (!(p->patterns & (1u << k)))
			continue;
		memcpy(pl->inst[i].stock, plans[k].stock, 8);
		instrument(pl, &pl->inst[i], i + 1, (uint8_t)k);
		expect(pl, &pl->inst[i]);
		if (k == DD_PLANT_ARBITRAGE)
			build_venue2(pl, &pl->inst[i]);
		i++;
	}
	sort_alerts(pl);

	/* Every instrument starts in minute 0: the heap is built once, then kept by sift_down(). */
	pl->nheap = l.n;
	for (i = 0; i < l.n; i++)
		pl->heap[i] = i;
	for (i = l.n / 2; i-- > 0;)
		sift_down(pl, i);
	pl->next_ref = 4000 + below(pl, 1000);
	pl->next_match = 10000 + below(pl, 1000);
	pl->stage = ST_START;
	*out = pl;
	return 0;
}

unsigned dd_plant_feeds(const struct dd_plant *pl)
{
	return pl->nv2 ? 2 : 1;
}

uint64_t dd_plant_produced(const struct dd_plant *pl, unsigned feed)
{
	return feed < DD_PLANT_FEEDS ? pl->produced[feed] : 0;
}

uint64_t dd_plant_type_count(const struct dd_plant *pl, unsigned feed, uint8_t type)
{
	return feed < DD_PLANT_FEEDS ? pl->counts[feed][type] : 0;
}

uint32_t dd_plant_instruments(const struct dd_plant *pl)
{
	return pl->n;
}

const char *dd_plant_symbol(const struct dd_plant *pl, uint16_t locate)
{
	return locate >= 1 && locate <= pl->n ? pl->inst[locate - 1].stock : NULL;
}

unsigned dd_plant_alert_count(const struct dd_plant *pl)
{
	return pl->nalerts;
}

const struct dd_plant_alert *dd_plant_alert(const struct dd_plant *pl, unsigned i)
{
	return i < pl->nalerts ? &pl->alert[i] : NULL;
}
