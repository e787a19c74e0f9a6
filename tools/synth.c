/* SPDX-License-Identifier: MIT */
#include "tools/synth.h"

#include <errno.h>
#include <string.h>

#define TICK         100u               /* $0.01 in ITCH's 1e-4 price units */
#define MIN_MID      (100u * TICK)      /* mids stay at or above $1.00 */
#define NS           1000000000ull
#define AT(h, m, s)  ((((uint64_t)(h) * 60 + (m)) * 60 + (s)) * NS)
#define NIL          UINT32_MAX
#define MAX_HALTS    4
#define RECENT_MATCHES 16
#define DEFAULT_MAX_LIVE_CAP (1u << 20)

enum { BUY = 0, SELL = 1 };

/* One live order; it sits in the FIFO of its price level and in the dense live[] array. */
struct order {
	uint64_t ref;
	uint32_t shares;
	uint32_t price;
	uint32_t prev, next;  /* neighbours in the level's FIFO; next also links the free list */
	uint32_t level;
	uint32_t live_idx;
	uint16_t inst;
	uint8_t side;
};

/* One non-empty price level of one side of one instrument, found through the slots[] hash. */
struct level {
	uint64_t key;
	uint32_t head, tail;  /* oldest and newest order; head also links the free list */
};

struct inst {
	char stock[8];
	uint32_t mid;         /* fair price, multiple of TICK */
	uint32_t best[2];     /* best price per side, 0 when the side is empty */
	uint32_t norders[2];
	uint32_t rank;        /* popularity rank, 0 = most traded */
	bool halted;
};

struct halt {
	uint32_t inst;
	uint8_t state;
	uint64_t resume_at;   /* order-flow index at which the H 'T' is sent */
};

struct dd_synth {
	struct dd_synth_params p;
	uint64_t rng[4];
	uint64_t produced;
	uint64_t flow_start;  /* index of the first order-flow message */
	uint64_t flow_end;    /* index of the first end-of-day message */
	uint64_t ts;
	uint64_t next_ref;
	uint64_t next_match;
	uint64_t gap_span[3];
	uint64_t zipf_total;
	uint64_t mix_total;
	uint32_t n_live;
	uint32_t max_live;
	uint32_t free_order;
	uint32_t free_level;
	uint32_t slot_mask;
	unsigned slot_bits;
	unsigned force_i;
	unsigned nhalts;
	struct halt halts[MAX_HALTS];
	uint64_t recent_match[RECENT_MATCHES];
	uint64_t n_match;
	uint64_t counts[256];
	struct inst *inst;
	uint64_t *zipf_cdf;   /* cumulative popularity weights, by instrument */
	struct order *orders;
	struct level *levels;
	uint32_t *slots;      /* open addressing, linear probing, backward-shift deletion */
	uint32_t *live;
};

/* Order-flow mix in 1/10000ths: the brief's proportions, the rare types sharing the last 2%. */
static const struct {
	uint8_t type;
	uint16_t weight;
} mix[] = {
	{ 'A', 4000 }, { 'F', 500 }, { 'D', 3500 }, { 'X', 500 }, { 'E', 600 }, { 'C', 100 },
	{ 'U', 400 },  { 'P', 200 }, { 'I', 70 },   { 'N', 20 },  { 'Q', 20 },  { 'Y', 20 },
	{ 'L', 20 },   { 'H', 5 },  { 'J', 10 },   { 'h', 10 },  { 'B', 5 },   { 'O', 5 },
	{ 'K', 5 },    { 'V', 5 },   { 'W', 5 },
};

/*
 * Types the order flow must contain, in the order they are scheduled if chance has not produced them
 * by their deadline (adds first: executions need orders, B needs an execution). S, R and H always
 * appear at the start of the day.
 */
static const char forced[] = "AFECXDUPQBYLVWKJhINO";
#define NFORCED (sizeof(forced) - 1)

static const char mpids[][5] = {
	"GSCO", "MSCO", "UBSS", "NITE", "CDRG", "VIRT", "JPMS", "SGAS", "BARD", "HRTF", "JSES", "TMBR",
};

/* ---- random numbers: xoshiro256**, seeded through splitmix64 ---------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(struct dd_synth *s)
{
	uint64_t *r = s->rng;
	uint64_t out = rotl(r[1] * 5, 7) * 9;
	uint64_t t = r[1] << 17;

	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return out;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for our n). */
static uint64_t below(struct dd_synth *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(s) * n) >> 64);
}

static bool chance(struct dd_synth *s, unsigned num, unsigned den)
{
	return below(s, den) < num;
}

/* Failures before the first success of a trial that fails with probability num/den, capped. */
static unsigned geometric(struct dd_synth *s, unsigned num, unsigned den, unsigned cap)
{
	unsigned k = 0;

	while (k < cap && chance(s, num, den))
		k++;
	return k;
}

static uint8_t pick(struct dd_synth *s, const char *choices)
{
	return (uint8_t)choices[below(s, strlen(choices))];
}

/* ---- memory layout -------------------------------------------------------------------------- */

struct layout {
	size_t inst, zipf, orders, levels, slots, live, symset, total;
	uint32_t max_live;
	unsigned slot_bits, sym_bits;
};

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static unsigned log2_ceil(uint64_t n)
{
	unsigned b = 0;

	while (((uint64_t)1 << b) < n)
		b++;
	return b;
}

static int plan(const struct dd_synth_params *p, struct layout *l)
{
	uint64_t max_live;
	size_t off;

	if (p->instruments == 0 || p->instruments > DD_SYNTH_MAX_INSTRUMENTS ||
	    p->messages < DD_SYNTH_FIXED_MESSAGES(p->instruments))
		return -EINVAL;
	max_live = p->max_live;
	if (max_live == 0) {
		max_live = 256 * (uint64_t)p->instruments;
		if (max_live < 4096)
			max_live = 4096;
		if (max_live > DEFAULT_MAX_LIVE_CAP)
			max_live = DEFAULT_MAX_LIVE_CAP;
		if (max_live > p->messages)
			max_live = p->messages;
	}
	if (max_live >= NIL / 2)
		return -EINVAL;
	l->max_live = (uint32_t)max_live;
	l->slot_bits = log2_ceil(2 * max_live);
	if (l->slot_bits < 4)
		l->slot_bits = 4;
	l->sym_bits = log2_ceil(2 * (uint64_t)p->instruments);
	if (l->sym_bits < 4)
		l->sym_bits = 4;

	off = align64(sizeof(struct dd_synth));
	l->inst = off;
	off = align64(off + p->instruments * sizeof(struct inst));
	l->zipf = off;
	off = align64(off + p->instruments * sizeof(uint64_t));
	l->orders = off;
	off = align64(off + max_live * sizeof(struct order));
	l->levels = off;
	off = align64(off + max_live * sizeof(struct level));
	l->slots = off;
	off = align64(off + ((size_t)1 << l->slot_bits) * sizeof(uint32_t));
	l->live = off;
	off = align64(off + max_live * sizeof(uint32_t));
	l->symset = off;
	off = align64(off + ((size_t)1 << l->sym_bits) * sizeof(uint64_t));
	l->total = off;
	return 0;
}

size_t dd_synth_memsize(const struct dd_synth_params *p)
{
	struct layout l;

	return plan(p, &l) ? 0 : l.total;
}

/* ---- the book: orders in FIFO price levels, best price per side ------------------------------ */

static uint64_t level_key(uint32_t inst, unsigned side, uint32_t price)
{
	return (uint64_t)inst << 33 | (uint64_t)side << 32 | price;
}

static uint32_t slot_home(const struct dd_synth *s, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - s->slot_bits));
}

static uint32_t level_find(const struct dd_synth *s, uint64_t key)
{
	for (uint32_t i = slot_home(s, key);; i = (i + 1) & s->slot_mask) {
		uint32_t lv = s->slots[i];

		if (lv == NIL || s->levels[lv].key == key)
			return lv;
	}
}

static uint32_t level_insert(struct dd_synth *s, uint64_t key)
{
	uint32_t lv = s->free_level;
	uint32_t i = slot_home(s, key);

	s->free_level = s->levels[lv].head;
	s->levels[lv].key = key;
	s->levels[lv].head = NIL;
	s->levels[lv].tail = NIL;
	while (s->slots[i] != NIL)
		i = (i + 1) & s->slot_mask;
	s->slots[i] = lv;
	return lv;
}

static void level_erase(struct dd_synth *s, uint32_t lv)
{
	uint32_t i = slot_home(s, s->levels[lv].key), j, k;

	while (s->slots[i] != lv)
		i = (i + 1) & s->slot_mask;
	/*
	 * Backward-shift deletion keeps every probe chain unbroken without tombstones: an entry after the
	 * hole moves into it unless its home slot lies cyclically in (hole, entry].
	 */
	for (;;) {
		s->slots[i] = NIL;
		j = i;
		for (;;) {
			j = (j + 1) & s->slot_mask;
			if (s->slots[j] == NIL)
				goto done;
			k = slot_home(s, s->levels[s->slots[j]].key);
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		s->slots[i] = s->slots[j];
		i = j;
	}
done:
	s->levels[lv].head = s->free_level;
	s->free_level = lv;
}

static bool better(unsigned side, uint32_t a, uint32_t b)
{
	return side == BUY ? a > b : a < b;
}

static void book_add(struct dd_synth *s, uint32_t i, unsigned side, uint32_t price, uint32_t shares,
		     uint64_t ref)
{
	uint32_t o = s->free_order;
	struct order *od = &s->orders[o];
	struct inst *in = &s->inst[i];
	uint64_t key = level_key(i, side, price);
	uint32_t lv = level_find(s, key);
	struct level *l;

	s->free_order = od->next;
	if (lv == NIL)
		lv = level_insert(s, key);
	l = &s->levels[lv];
	od->ref = ref;
	od->shares = shares;
	od->price = price;
	od->inst = (uint16_t)i;
	od->side = (uint8_t)side;
	od->level = lv;
	od->prev = l->tail;
	od->next = NIL;
	if (l->tail != NIL)
		s->orders[l->tail].next = o;
	else
		l->head = o;
	l->tail = o;
	od->live_idx = s->n_live;
	s->live[s->n_live++] = o;
	in->norders[side]++;
	if (in->best[side] == 0 || better(side, price, in->best[side]))
		in->best[side] = price;
}

/*
 * The best level emptied: the next best is the nearest non-empty level behind it. Prices sit on
 * the tick grid and mostly within a few ticks of each other, so the walk is short.
 */
static void rescan_best(struct dd_synth *s, uint32_t i, unsigned side)
{
	struct inst *in = &s->inst[i];
	uint32_t p = in->best[side];

	if (in->norders[side] == 0) {
		in->best[side] = 0;
		return;
	}
	for (;;) {
		p = side == BUY ? p - TICK : p + TICK;
		if (level_find(s, level_key(i, side, p)) != NIL)
			break;
	}
	in->best[side] = p;
}

static void book_remove(struct dd_synth *s, uint32_t o)
{
	struct order *od = &s->orders[o];
	struct level *l = &s->levels[od->level];
	struct inst *in = &s->inst[od->inst];
	uint32_t last;

	if (od->prev != NIL)
		s->orders[od->prev].next = od->next;
	else
		l->head = od->next;
	if (od->next != NIL)
		s->orders[od->next].prev = od->prev;
	else
		l->tail = od->prev;
	in->norders[od->side]--;
	if (l->head == NIL) {
		level_erase(s, od->level);
		if (od->price == in->best[od->side])
			rescan_best(s, od->inst, od->side);
	}
	last = s->live[--s->n_live];
	s->live[od->live_idx] = last;
	s->orders[last].live_idx = od->live_idx;
	od->next = s->free_order;
	s->free_order = o;
}

/* ---- prices, sizes, time ------------------------------------------------------------------- */

static void walk(struct dd_synth *s, struct inst *in)
{
	if (!chance(s, 1, 8))
		return;
	if (chance(s, 1, 2))
		in->mid += TICK;
	else if (in->mid > MIN_MID)
		in->mid -= TICK;
}

/*
 * A limit price a geometric number of ticks behind the mid (buys at or below it, sells from one tick
 * above), never at or through the opposite side's best price. 0 if no such price exists.
 */
static uint32_t limit_price(struct dd_synth *s, const struct inst *in, unsigned side)
{
	uint32_t g = geometric(s, 55, 100, 50) * TICK;
	uint32_t p;

	if (side == BUY) {
		p = in->mid > g + TICK ? in->mid - g : TICK;
		if (in->best[SELL] && p >= in->best[SELL])
			p = in->best[SELL] - TICK;
		return p;
	}
	p = in->mid + TICK + g;
	if (in->best[BUY] && p <= in->best[BUY])
		p = in->best[BUY] + TICK;
	return p;
}

/* Mostly round lots of 100; some odd lots and mixed lots. */
static uint32_t order_size(struct dd_synth *s)
{
	static const uint8_t lots[] = { 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 5, 5, 5, 10, 10 };
	uint64_t r = below(s, 100);

	if (r < 10)
		return (uint32_t)(1 + below(s, 99));
	if (r < 18)
		return (uint32_t)(101 + below(s, 899));
	if (r < 21)
		return 100 * (uint32_t)(11 + below(s, 90));
	return 100u * lots[below(s, sizeof(lots))];
}

/* Part of `r` >= 2 shares, 1..r-1, in round lots where `r` allows. */
static uint32_t part_of(struct dd_synth *s, uint32_t r)
{
	if (r > 100 && r % 100 == 0)
		return 100 * (uint32_t)(1 + below(s, r / 100 - 1));
	return (uint32_t)(1 + below(s, r - 1));
}

/* Gap before the next message: bursts of ~1 us, a quarter ~25 us, one in twenty ~1 ms. */
static void advance(struct dd_synth *s)
{
	uint64_t r = below(s, 100);
	uint64_t span = s->gap_span[r < 70 ? 0 : r < 95 ? 1 : 2];

	s->ts += 1 + below(s, span);
}

static void advance_to(struct dd_synth *s, uint64_t step, uint64_t not_before)
{
	s->ts += step;
	if (s->ts < not_before)
		s->ts = not_before;
}

/* ---- instruments --------------------------------------------------------------------------- */

static int32_t pick_inst(struct dd_synth *s)
{
	uint64_t r = below(s, s->zipf_total);
	uint32_t lo = 0, hi = s->p.instruments - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->zipf_cdf[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int32_t)lo;
}

/* A popular instrument that is trading (not halted or paused), or -1. */
static int32_t pick_active(struct dd_synth *s)
{
	for (int tries = 0; tries < 8; tries++) {
		int32_t i = pick_inst(s);

		if (!s->inst[i].halted)
			return i;
	}
	return -1;
}

/* Crosses: opening in the first tenth of the flow, closing in the last, halt crosses between. */
static uint8_t phase_cross_type(const struct dd_synth *s)
{
	uint64_t flow = s->flow_end - s->flow_start, idx = s->produced - s->flow_start;

	if (idx < flow / 10)
		return 'O';
	if (idx >= flow - flow / 10)
		return 'C';
	return 'H';
}

/* ---- messages ------------------------------------------------------------------------------ */

static void hdr(struct dd_synth *s, struct dd_itch_msg *m, uint8_t type, uint32_t locate)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->locate = (uint16_t)locate;
	m->timestamp = s->ts;
}

static void remember_match(struct dd_synth *s, uint64_t match)
{
	s->recent_match[s->n_match++ % RECENT_MATCHES] = match;
}

static bool gen_add(struct dd_synth *s, struct dd_itch_msg *m, uint8_t type)
{
	int32_t i = pick_active(s);
	unsigned side;
	uint32_t price;
	struct inst *in;

	if (i < 0)
		return false;
	in = &s->inst[i];
	walk(s, in);
	side = (unsigned)below(s, 2);
	price = limit_price(s, in, side);
	if (price == 0) {
		side ^= 1;
		price = limit_price(s, in, side);
	}
	hdr(s, m, type, (uint32_t)i + 1);
	m->u.add.ref = s->next_ref;
	m->u.add.side = side == BUY ? 'B' : 'S';
	m->u.add.shares = order_size(s);
	memcpy(m->u.add.stock, in->stock, 8);
	m->u.add.price = price;
	memcpy(m->u.add.attribution,
	       type == 'F' ? mpids[below(s, sizeof(mpids) / sizeof(mpids[0]))] : "    ", 4);
	book_add(s, (uint32_t)i, side, price, m->u.add.shares, s->next_ref);
	/* NASDAQ's references grow in small steps; unique and increasing is what matters. */
	s->next_ref += 1 + below(s, 4);
	return true;
}

/* The oldest order at the best price of the side an aggressor would take next, or NIL. */
static uint32_t exec_target(struct dd_synth *s)
{
	for (int tries = 0; tries < 5; tries++) {
		int32_t i;
		struct inst *in;
		unsigned side;
		uint32_t lv;

		if (tries < 4) {
			i = pick_active(s);
			if (i < 0)
				continue;
		} else {
			/* Quiet instruments: any live order's instrument. */
			if (s->n_live == 0)
				return NIL;
			i = s->orders[s->live[below(s, s->n_live)]].inst;
			if (s->inst[i].halted)
				return NIL;
		}
		in = &s->inst[i];
		if (in->norders[BUY] == 0 && in->norders[SELL] == 0)
			continue;
		if (in->norders[BUY] == 0)
			side = SELL;
		else if (in->norders[SELL] == 0)
			side = BUY;
		else if (in->mid >= in->best[SELL])
			side = SELL;    /* buyers lift the offer */
		else if (in->mid <= in->best[BUY])
			side = BUY;     /* sellers hit the bid */
		else
			side = (unsigned)below(s, 2);
		walk(s, in);
		lv = level_find(s, level_key((uint32_t)i, side, in->best[side]));
		return lv == NIL ? NIL : s->levels[lv].head;
	}
	return NIL;
}

static bool gen_exec(struct dd_synth *s, struct dd_itch_msg *m, uint8_t type)
{
	uint32_t o = exec_target(s);
	struct order *od;
	uint32_t shares;

	if (o == NIL)
		return false;
	od = &s->orders[o];
	shares = od->shares == 1 || chance(s, 3, 5) ? od->shares : part_of(s, od->shares);
	hdr(s, m, type, od->inst + 1u);
	if (type == 'E') {
		m->u.exec.ref = od->ref;
		m->u.exec.shares = shares;
		m->u.exec.match = s->next_match;
	} else {
		/* Executed at another price, as in a cross: no worse than the order's limit. */
		uint32_t d = (1 + (uint32_t)below(s, 2)) * TICK;

		m->u.exec_price.ref = od->ref;
		m->u.exec_price.shares = shares;
		m->u.exec_price.match = s->next_match;
		m->u.exec_price.printable = chance(s, 7, 10) ? 'Y' : 'N';
		m->u.exec_price.price = od->side == SELL ? od->price + d
					: od->price > d ? od->price - d : od->price;
	}
	remember_match(s, s->next_match++);
	if (shares == od->shares)
		book_remove(s, o);
	else
		od->shares -= shares;
	return true;
}

static bool gen_cancel(struct dd_synth *s, struct dd_itch_msg *m)
{
	for (int tries = 0; tries < 4 && s->n_live; tries++) {
		uint32_t o = s->live[below(s, s->n_live)];
		struct order *od = &s->orders[o];
		uint32_t shares;

		if (od->shares < 2)
			continue;
		shares = part_of(s, od->shares);
		hdr(s, m, 'X', od->inst + 1u);
		m->u.cancel.ref = od->ref;
		m->u.cancel.shares = shares;
		od->shares -= shares;
		return true;
	}
	return false;
}

static bool gen_delete(struct dd_synth *s, struct dd_itch_msg *m)
{
	uint32_t o;

	if (s->n_live == 0)
		return false;
	o = s->live[below(s, s->n_live)];
	hdr(s, m, 'D', s->orders[o].inst + 1u);
	m->u.del.ref = s->orders[o].ref;
	book_remove(s, o);
	return true;
}

static bool gen_replace(struct dd_synth *s, struct dd_itch_msg *m)
{
	for (int tries = 0; tries < 4 && s->n_live; tries++) {
		uint32_t o = s->live[below(s, s->n_live)];
		struct order old = s->orders[o];
		struct inst *in = &s->inst[old.inst];
		uint32_t price, shares;

		if (in->halted)
			continue;
		shares = chance(s, 1, 2) ? old.shares : order_size(s);
		book_remove(s, o);
		walk(s, in);
		price = limit_price(s, in, old.side);
		if (price == 0)
			price = old.price; /* it did not cross before, and the other side has not moved */
		hdr(s, m, 'U', old.inst + 1u);
		m->u.replace.orig_ref = old.ref;
		m->u.replace.new_ref = s->next_ref;
		m->u.replace.shares = shares;
		m->u.replace.price = price;
		book_add(s, old.inst, old.side, price, shares, s->next_ref);
		s->next_ref += 1 + below(s, 4);
		return true;
	}
	return false;
}

/* Inside the spread: the midpoint (half cents allowed, as for midpoint pegs) or the mid. */
static uint32_t inside_price(const struct inst *in)
{
	if (in->best[BUY] && in->best[SELL])
		return (in->best[BUY] + in->best[SELL]) / 2 / (TICK / 2) * (TICK / 2);
	return in->mid;
}

static bool gen_trade(struct dd_synth *s, struct dd_itch_msg *m)
{
	int32_t i = pick_active(s);
	struct inst *in;

	if (i < 0)
		return false;
	in = &s->inst[i];
	walk(s, in);
	hdr(s, m, 'P', (uint32_t)i + 1);
	m->u.trade.ref = 0; /* NASDAQ sends 0 for non-displayed orders */
	m->u.trade.side = chance(s, 1, 2) ? 'B' : 'S';
	m->u.trade.shares = order_size(s);
	memcpy(m->u.trade.stock, in->stock, 8);
	m->u.trade.price = inside_price(in);
	m->u.trade.match = s->next_match;
	remember_match(s, s->next_match++);
	return true;
}

static bool gen_cross(struct dd_synth *s, struct dd_itch_msg *m)
{
	int32_t i = pick_active(s);
	uint8_t ct = phase_cross_type(s);

	if (i < 0)
		return false;
	hdr(s, m, 'Q', (uint32_t)i + 1);
	m->u.cross.shares = 100 * (10 + below(s, 5000));
	memcpy(m->u.cross.stock, s->inst[i].stock, 8);
	m->u.cross.price = inside_price(&s->inst[i]);
	m->u.cross.match = s->next_match;
	m->u.cross.cross_type = ct == 'H' && chance(s, 1, 2) ? 'I' : ct;
	remember_match(s, s->next_match++);
	return true;
}

static bool gen_broken(struct dd_synth *s, struct dd_itch_msg *m)
{
	uint64_t n = s->n_match < RECENT_MATCHES ? s->n_match : RECENT_MATCHES;

	if (n == 0)
		return false;
	hdr(s, m, 'B', 0);
	m->u.broken.match = s->recent_match[below(s, n)];
	return true;
}

static bool gen_halt(struct dd_synth *s, struct dd_itch_msg *m, uint64_t idx)
{
	struct halt *h;
	int32_t i;

	if (s->nhalts == MAX_HALTS || s->nhalts >= s->p.instruments / 4)
		return false;
	i = pick_active(s);
	if (i < 0)
		return false;
	h = &s->halts[s->nhalts++];
	h->inst = (uint32_t)i;
	h->state = chance(s, 7, 10) ? 'P' : 'H';
	h->resume_at = idx + 200 + below(s, 2000);
	s->inst[i].halted = true;
	hdr(s, m, 'H', (uint32_t)i + 1);
	memcpy(m->u.trading_action.stock, s->inst[i].stock, 8);
	m->u.trading_action.state = h->state;
	m->u.trading_action.reserved = ' ';
	memcpy(m->u.trading_action.reason, h->state == 'P' ? "LUDP" : "T1  ", 4);
	return true;
}

static bool resume_due(struct dd_synth *s, struct dd_itch_msg *m, uint64_t idx)
{
	for (unsigned k = 0; k < s->nhalts; k++) {
		struct halt *h = &s->halts[k];
		uint32_t i = h->inst;

		if (h->resume_at > idx)
			continue;
		s->inst[i].halted = false;
		*h = s->halts[--s->nhalts];
		hdr(s, m, 'H', i + 1);
		memcpy(m->u.trading_action.stock, s->inst[i].stock, 8);
		m->u.trading_action.state = 'T';
		m->u.trading_action.reserved = ' ';
		memcpy(m->u.trading_action.reason, "    ", 4);
		return true;
	}
	return false;
}

/* An instrument for a message that does not trade: paused ones are fine. */
static uint32_t any_inst(struct dd_synth *s)
{
	return (uint32_t)pick_inst(s);
}

static uint32_t pct_ticks(uint32_t price, unsigned pct)
{
	return (uint32_t)((uint64_t)price * pct / 100 / TICK * TICK);
}

static void gen_info(struct dd_synth *s, struct dd_itch_msg *m, uint8_t type)
{
	uint32_t i = any_inst(s);
	struct inst *in = &s->inst[i];
	uint32_t mid = in->mid;

	switch (type) {
	case 'Y':
		hdr(s, m, 'Y', i + 1);
		memcpy(m->u.reg_sho.stock, in->stock, 8);
		m->u.reg_sho.action = pick(s, "0001112");
		break;
	case 'L':
		hdr(s, m, 'L', i + 1);
		memcpy(m->u.participant.mpid, mpids[below(s, sizeof(mpids) / sizeof(mpids[0]))], 4);
		memcpy(m->u.participant.stock, in->stock, 8);
		m->u.participant.primary_market_maker = pick(s, "NNNY");
		m->u.participant.market_maker_mode = pick(s, "NNNNNNPSRL");
		m->u.participant.participant_state = pick(s, "AAAAAAAEWSD");
		break;
	case 'V': {
		/* S&P 500 at 4600-4900: the three market-wide circuit breaker levels, 8 decimals. */
		uint64_t close = (4600 + below(s, 300)) * 100000000ull;

		hdr(s, m, 'V', 0);
		m->u.mwcb_decline.level1 = close / 100 * 93;
		m->u.mwcb_decline.level2 = close / 100 * 87;
		m->u.mwcb_decline.level3 = close / 100 * 80;
		break;
	}
	case 'W':
		hdr(s, m, 'W', 0);
		m->u.mwcb_status.breached_level = pick(s, "1111111223");
		break;
	case 'K':
		hdr(s, m, 'K', i + 1);
		memcpy(m->u.ipo.stock, in->stock, 8);
		m->u.ipo.release_time = (uint32_t)((s->ts / NS + 900) / 60 * 60);
		m->u.ipo.release_qualifier = pick(s, "AAAAC");
		m->u.ipo.ipo_price = mid;
		break;
	case 'J': {
		/* Collars belong to a paused instrument when there is one. */
		for (unsigned k = 0; k < s->nhalts; k++)
			if (s->halts[k].state == 'P') {
				i = s->halts[k].inst;
				in = &s->inst[i];
				mid = in->mid;
				break;
			}
		hdr(s, m, 'J', i + 1);
		memcpy(m->u.luld_collar.stock, in->stock, 8);
		m->u.luld_collar.ref_price = mid;
		m->u.luld_collar.upper_price = pct_ticks(mid, 105);
		m->u.luld_collar.lower_price = pct_ticks(mid, 95);
		m->u.luld_collar.extension = (uint32_t)below(s, 3);
		break;
	}
	case 'h':
		hdr(s, m, 'h', i + 1);
		memcpy(m->u.op_halt.stock, in->stock, 8);
		m->u.op_halt.market_code = pick(s, "QQQBX");
		m->u.op_halt.action = pick(s, "HT");
		break;
	case 'I': {
		uint64_t imb = 100 * below(s, 500);

		hdr(s, m, 'I', i + 1);
		m->u.noii.paired_shares = 100 * below(s, 2000);
		m->u.noii.imbalance_shares = imb;
		m->u.noii.direction = imb ? pick(s, "BBSS") : pick(s, "NO");
		memcpy(m->u.noii.stock, in->stock, 8);
		m->u.noii.far_price = chance(s, 1, 3) ? 0 : mid + TICK * (uint32_t)below(s, 5);
		m->u.noii.near_price = mid;
		m->u.noii.ref_price = mid > TICK ? mid - TICK * (uint32_t)below(s, 2) : mid;
		m->u.noii.cross_type = phase_cross_type(s);
		m->u.noii.price_variation = pick(s, "LLLLL123 ");
		break;
	}
	case 'N':
		hdr(s, m, 'N', i + 1);
		memcpy(m->u.rpii.stock, in->stock, 8);
		m->u.rpii.interest_flag = pick(s, "BSAN");
		break;
	case 'O':
		hdr(s, m, 'O', i + 1);
		memcpy(m->u.dlcr.stock, in->stock, 8);
		m->u.dlcr.open_eligibility = pick(s, "YYYN");
		m->u.dlcr.min_price = pct_ticks(mid, 90);
		m->u.dlcr.max_price = pct_ticks(mid, 110);
		m->u.dlcr.near_price = mid;
		m->u.dlcr.near_time = s->ts;
		m->u.dlcr.lower_collar = pct_ticks(mid, 95);
		m->u.dlcr.upper_collar = pct_ticks(mid, 105);
		break;
	}
}

static bool gen(struct dd_synth *s, struct dd_itch_msg *m, uint8_t type, bool no_add, uint64_t idx)
{
	switch (type) {
	case 'A':
	case 'F':
		return !no_add && gen_add(s, m, type);
	case 'E':
	case 'C':
		return gen_exec(s, m, type);
	case 'X':
		return gen_cancel(s, m);
	case 'D':
		return gen_delete(s, m);
	case 'U':
		return gen_replace(s, m);
	case 'P':
		return gen_trade(s, m);
	case 'Q':
		return gen_cross(s, m);
	case 'B':
		return gen_broken(s, m);
	case 'H':
		return gen_halt(s, m, idx);
	default:
		gen_info(s, m, type);
		return true;
	}
}

static uint8_t draw_type(struct dd_synth *s)
{
	uint64_t r = below(s, s->mix_total);
	size_t k = 0;

	while (r >= mix[k].weight) {
		r -= mix[k].weight;
		k++;
	}
	return mix[k].type;
}

/* The type whose deadline in the first half of the flow has passed while it never appeared, or 0. */
static uint8_t forced_type(struct dd_synth *s, uint64_t idx, bool no_add)
{
	uint64_t flow = s->flow_end - s->flow_start;
	uint8_t t;

	while (s->force_i < NFORCED && s->counts[(uint8_t)forced[s->force_i]])
		s->force_i++;
	if (s->force_i == NFORCED || idx < flow * (s->force_i + 1) / (2 * (NFORCED + 1)))
		return 0;
	t = (uint8_t)forced[s->force_i];
	return no_add && (t == 'A' || t == 'F') ? 0 : t;
}

static void flow(struct dd_synth *s, struct dd_itch_msg *m)
{
	uint64_t idx = s->produced - s->flow_start;
	uint64_t budget = s->flow_end - s->produced;
	bool no_add;
	uint8_t t;

	advance(s);
	/*
	 * Drain: the flow must end with no live order. Invariant n_live <= budget: an add is only
	 * allowed while n_live + 1 < budget, and once n_live == budget every message is a delete.
	 */
	if (s->p.drain && s->n_live >= budget) {
		gen_delete(s, m);
		return;
	}
	no_add = s->n_live >= s->max_live || (s->p.drain && s->n_live + 1 >= budget);
	if (resume_due(s, m, idx))
		return;
	t = forced_type(s, idx, no_add);
	if (t == 0)
		t = draw_type(s);
	if (gen(s, m, t, no_add, idx))
		return;
	if (gen(s, m, 'A', no_add, idx) || gen_delete(s, m) || gen_trade(s, m))
		return;
	gen_info(s, m, 'Y');
}

static void directory(struct dd_synth *s, struct dd_itch_msg *m, uint32_t i)
{
	struct inst *in = &s->inst[i];
	uint8_t cat = pick(s, "QQQQQQQQGGGSSNNNNPPAZ");

	hdr(s, m, 'R', i + 1);
	memcpy(m->u.directory.stock, in->stock, 8);
	m->u.directory.market_category = cat;
	m->u.directory.financial_status = cat == 'Q' || cat == 'G' || cat == 'S' ? 'N' : ' ';
	m->u.directory.round_lot_size = 100;
	m->u.directory.round_lots_only = 'N';
	m->u.directory.issue_classification = 'C';
	memcpy(m->u.directory.issue_subtype, "Z ", 2);
	m->u.directory.authenticity = 'P';
	m->u.directory.short_sale_threshold = 'N';
	m->u.directory.ipo_flag = 'N';
	m->u.directory.luld_tier = in->rank < s->p.instruments / 5 + 1 ? '1' : '2';
	m->u.directory.etp_flag = 'N';
	m->u.directory.etp_leverage_factor = 0;
	m->u.directory.inverse = 'N';
}

static void system_event(struct dd_synth *s, struct dd_itch_msg *m, uint8_t code)
{
	hdr(s, m, 'S', 0);
	m->u.system.event_code = code;
}

static void start_of_day(struct dd_synth *s, struct dd_itch_msg *m, uint64_t k)
{
	uint64_t n = s->p.instruments;

	if (k == 0) {
		advance_to(s, AT(3, 5, 0) + below(s, 1000000), 0);
		system_event(s, m, 'O');
	} else if (k <= n) {
		advance_to(s, 50000 + below(s, 100000), 0);
		directory(s, m, (uint32_t)(k - 1));
	} else if (k <= 2 * n) {
		uint32_t i = (uint32_t)(k - n - 1);

		advance_to(s, 50000 + below(s, 100000), k == n + 1 ? AT(3, 30, 0) : 0);
		hdr(s, m, 'H', i + 1);
		memcpy(m->u.trading_action.stock, s->inst[i].stock, 8);
		m->u.trading_action.state = 'T';
		m->u.trading_action.reserved = ' ';
		memcpy(m->u.trading_action.reason, "    ", 4);
	} else if (k == 2 * n + 1) {
		advance_to(s, 1000000, AT(4, 0, 0));
		system_event(s, m, 'S');
	} else {
		advance_to(s, 1000000, AT(9, 30, 0));
		system_event(s, m, 'Q');
	}
}

static void end_of_day(struct dd_synth *s, struct dd_itch_msg *m, uint64_t k)
{
	static const struct {
		uint8_t code;
		uint8_t h, min;
	} ends[] = { { 'M', 16, 0 }, { 'E', 20, 0 }, { 'C', 20, 5 } };

	advance_to(s, 1000000, AT(ends[k].h, ends[k].min, 0));
	system_event(s, m, ends[k].code);
}

int dd_synth_next(struct dd_synth *s, struct dd_itch_msg *m)
{
	uint64_t k = s->produced;

	if (k >= s->p.messages)
		return 0;
	if (k < s->flow_start)
		start_of_day(s, m, k);
	else if (k < s->flow_end)
		flow(s, m);
	else
		end_of_day(s, m, k - s->flow_end);
	s->produced++;
	s->counts[m->type]++;
	return 1;
}

/* ---- init ---------------------------------------------------------------------------------- */

bool dd_symset_claim(uint64_t *set, unsigned bits, const char stock[8])
{
	uint64_t v = 0, mask = ((uint64_t)1 << bits) - 1;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)stock[i];
	for (uint64_t i = (v * 0x9e3779b97f4a7c15ull) >> (64 - bits);; i = (i + 1) & mask) {
		if (set[i] == v)
			return false;
		if (set[i] == 0) {
			set[i] = v;
			return true;
		}
	}
}

static void make_symbols(struct dd_synth *s, uint64_t *set, unsigned bits)
{
	for (uint32_t i = 0; i < s->p.instruments; i++) {
		char *st = s->inst[i].stock;

		do {
			uint64_t r = below(s, 100);
			unsigned len = r < 2 ? 1 : r < 10 ? 2 : r < 40 ? 3 : r < 95 ? 4 : 5;

			memset(st, ' ', 8);
			for (unsigned c = 0; c < len; c++)
				st[c] = (char)('A' + below(s, 26));
		} while (!dd_symset_claim(set, bits, st));
	}
}

/* Opening mids from $2 to $600, most between $10 and $200. */
static uint32_t opening_mid(struct dd_synth *s)
{
	static const uint32_t lo[] = { 200, 1000, 5000, 20000 }, hi[] = { 1000, 5000, 20000, 60000 };
	uint64_t r = below(s, 100);
	unsigned c = r < 25 ? 0 : r < 65 ? 1 : r < 93 ? 2 : 3;

	return (lo[c] + (uint32_t)below(s, hi[c] - lo[c])) * TICK;
}

int dd_synth_init(struct dd_synth **out, void *mem, size_t len, const struct dd_synth_params *p)
{
	struct dd_synth *s = mem;
	struct layout l;
	uint64_t x, flow, spread;
	uint8_t *base = mem;
	uint32_t n;

	if (plan(p, &l) || len < l.total || ((uintptr_t)mem & 7))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->p = *p;
	n = p->instruments;
	s->max_live = l.max_live;
	s->inst = (struct inst *)(base + l.inst);
	s->zipf_cdf = (uint64_t *)(base + l.zipf);
	s->orders = (struct order *)(base + l.orders);
	s->levels = (struct level *)(base + l.levels);
	s->slots = (uint32_t *)(base + l.slots);
	s->live = (uint32_t *)(base + l.live);
	s->slot_bits = l.slot_bits;
	s->slot_mask = ((uint32_t)1 << l.slot_bits) - 1;

	x = p->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);

	memset(s->inst, 0, n * sizeof(struct inst));
	memset(base + l.symset, 0, ((size_t)1 << l.sym_bits) * sizeof(uint64_t));
	make_symbols(s, (uint64_t *)(base + l.symset), l.sym_bits);
	for (uint32_t i = 0; i < n; i++)
		s->inst[i].mid = opening_mid(s);

	/* Popularity: a seeded permutation of ranks, weight 2^32 / (rank + 1) (Zipf, s = 1). */
	for (uint32_t i = 0; i < n; i++)
		s->inst[i].rank = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)below(s, (uint64_t)i + 1), t = s->inst[i].rank;

		s->inst[i].rank = s->inst[j].rank;
		s->inst[j].rank = t;
	}
	for (uint32_t i = 0; i < n; i++) {
		s->zipf_total += ((uint64_t)1 << 32) / (s->inst[i].rank + 1);
		s->zipf_cdf[i] = s->zipf_total;
	}

	for (uint32_t i = 0; i < l.max_live; i++) {
		s->orders[i].next = i + 1 < l.max_live ? i + 1 : NIL;
		s->levels[i].head = i + 1 < l.max_live ? i + 1 : NIL;
	}
	s->free_order = 0;
	s->free_level = 0;
	memset(s->slots, 0xff, ((size_t)1 << l.slot_bits) * sizeof(uint32_t));

	for (size_t k = 0; k < sizeof(mix) / sizeof(mix[0]); k++)
		s->mix_total += mix[k].weight;

	s->flow_start = 2 * (uint64_t)n + 3;
	s->flow_end = p->messages - 3;
	/*
	 * Gaps average ~57 us (0.7 x 1 us + 0.25 x 25 us + 0.05 x 1 ms). A flow too long for 6 hours at
	 * that pace is compressed so that the day still ends before midnight.
	 */
	s->gap_span[0] = 2000;
	s->gap_span[1] = 50000;
	s->gap_span[2] = 2000000;
	flow = s->flow_end - s->flow_start;
	spread = 57200;
	if (flow > AT(6, 0, 0) / spread)
		for (int k = 0; k < 3; k++) {
			s->gap_span[k] = (uint64_t)((unsigned __int128)s->gap_span[k] * AT(6, 0, 0) /
						    ((unsigned __int128)flow * spread));
			if (s->gap_span[k] == 0)
				s->gap_span[k] = 1;
		}
	s->next_ref = 4000 + below(s, 1000);
	s->next_match = 10000 + below(s, 1000);
	*out = s;
	return 0;
}

uint64_t dd_synth_type_count(const struct dd_synth *s, uint8_t type)
{
	return s->counts[type];
}

uint64_t dd_synth_produced(const struct dd_synth *s)
{
	return s->produced;
}

uint64_t dd_synth_live_orders(const struct dd_synth *s)
{
	return s->n_live;
}

const char *dd_synth_symbol(const struct dd_synth *s, uint16_t locate)
{
	return locate >= 1 && locate <= s->p.instruments ? s->inst[locate - 1].stock : NULL;
}
