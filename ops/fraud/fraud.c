/* SPDX-License-Identifier: MIT */
#include "ops/fraud/fraud.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)
#define NIL UINT32_MAX
#define PROBE 128 /* slots a key may be from its home: a table is never more than half full */
#define NS_PER_H 3600000000000ll

const char *dd_action_name(unsigned a)
{
	static const char *const names[] = { "approve", "verify", "review", "block" };
	return a < 4 ? names[a] : "?";
}

/* ---- fixed-capacity tables ------------------------------------------------------------------- */

/*
 * Open addressing with linear probing over at most PROBE slots. A used slot is never emptied, so a
 * lookup stops at the first empty slot; a slot whose entry expired (last_ns before the caller's
 * horizon) is reused by the next new key that probes past it. Every entry starts with this header.
 */
struct kent {
	uint64_t k1, k2;
	int64_t last_ns; /* the entry's last use, for expiry */
	uint32_t used;
	uint32_t aux;    /* the table's own: pairs and devices keep a count here */
};

struct ktab {
	uint8_t *slots;
	uint64_t mask;
	uint32_t stride;
};

static size_t ktab_slots(uint32_t cap)
{
	size_t n = 64;
	while (n < 2 * (size_t)cap)
		n <<= 1;
	return n;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ (b * 0x9E3779B97F4A7C15ull) ^ (b >> 29);
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* Where a key's probe starts: its hash. Worked out once per payment and key, for the prefetch and the
 * lookup both. */
struct hashes {
	uint64_t payer, pair, device, merchant;
};

static inline void hashes_of(struct hashes *h, uint64_t payer, uint64_t device, uint64_t merchant)
{
	h->payer = mix(payer, 0);
	h->pair = mix(payer, device);
	h->device = mix(device, 0);
	h->merchant = mix(merchant, 0);
}

/* `stride` is the table's (t->stride), passed as a constant so the address is a shift, not a multiply. */
static inline const uint8_t *ktab_home(const struct ktab *t, uint64_t h, size_t stride)
{
	return t->slots + (h & t->mask) * stride;
}

/*
 * The entry of key (k1, k2) whose hash is h (mix(k1, k2)): *found true if it is there; otherwise
 * the slot a new entry takes (the first empty one, or an earlier one whose last_ns is before
 * `expire_before`), NULL if none. With `key2` false the key is k1 alone (the payer table: a payer
 * keeps something else in k2).
 */
static inline struct kent *ktab_find(const struct ktab *t, size_t stride, uint64_t h, uint64_t k1, bool key2,
				     uint64_t k2, int64_t expire_before, bool *found)
{
	struct kent *reuse = NULL;
	*found = false;
	for (unsigned i = 0; i < PROBE; i++) {
		struct kent *e = (struct kent *)(void *)(t->slots + ((h + i) & t->mask) * stride);
		if (!e->used)
			return reuse != NULL ? reuse : e;
		if (e->k1 == k1 && (!key2 || e->k2 == k2)) {
			*found = true;
			return e;
		}
		if (reuse == NULL && e->last_ns < expire_before)
			reuse = e;
	}
	return reuse;
}

/* ---- state --------------------------------------------------------------------------------- */

/*
 * A payer's payments in the windows, in input order: its RECENT newest in the slot itself (most
 * payers pay a few times a day, and their windows are then read from lines the lookup brought in),
 * older ones spilled into the shared pool as a list, oldest first. The pool list comes before the
 * ring in input order.
 */
#define RECENT 6

struct recent {
	int64_t t;
	int64_t amount;
};

/*
 * A window group's running count and sum over a payer's kept payments, for a payer whose history is
 * in time order (PY_AGG): the payments with time > t - window are a suffix of the history, from the
 * one numbered q on (the n-th payment kept is numbered n - 1 at the last rebuild, and numbers go up
 * by one a payment). blk and off: where payment q is in the pool, while it is there (it is in the
 * ring when q >= pushed - rn).
 */
struct gagg {
	uint32_t q, blk;
	uint32_t cnt;
	uint8_t off;
	uint8_t pad[3];
	int64_t sum;          /* never saturated: an addition that would overflow clears PY_AGG */
};

#define AGG_GROUPS 2 /* the shipped rule sets have one or two window groups */

struct pagg {
	uint32_t pushed;      /* the number the next payment kept gets */
	uint32_t gen;         /* the rule plan's (agg_gen) these were built for */
	struct gagg g[AGG_GROUPS];
	uint8_t pad[8];
};

struct payer {
	struct kent h;       /* k1 = payer id; k2: the device of pair_first (PY_PAIR); last_ns = its
	                      * latest payment's event time */
	uint32_t head, tail; /* its entries spilled into the pool, oldest first (NIL: none) */
	uint32_t n;          /* valid payments seen */
	uint8_t has_loc;
	uint8_t rn, r0;      /* entries in recent[], and where the oldest is */
	uint8_t flags;       /* PY_* */
	int64_t loc_ns;      /* time of its last located payment */
	int32_t lat, lon;
	int64_t ew_mean;     /* EWMA of amounts, minor units << 16 (amounts are capped at 2^40) */
	int64_t pair_first;  /* PY_PAIR: the first use of (this payer, h.k2), a copy of its pair's */
	__int128 ew_var;     /* EW variance, minor units squared */
	struct recent recent[RECENT];
	struct pagg agg;     /* its own line: read only for a payer with a long pool list */
};
_Static_assert(sizeof(struct payer) % 64 == 0, "a payer is whole cache lines");
_Static_assert(offsetof(struct payer, agg) == 192 && sizeof(struct pagg) == 64, "the aggregates: line 3");

/*
 * PY_PAIR: the payer's slot holds a copy of its last device's (payer, device) pair: the device in
 * h.k2, the pair's first use in pair_first. A pair, once in the pair table, never changes nor
 * leaves it (pairs do not expire), so a payment from that device needs no pair lookup: most
 * payers pay from one device, and the lookup was a line from DRAM on most payments. The copy is
 * not in snapshots (a loaded payer starts without it, and the next payment makes it again).
 */
#define PY_PAIR 1u
/* PY_AGG: agg holds the windows' running counts and sums (struct pagg), for the rule plan of
 * generation agg.gen. PY_DISORDER: a payment was kept out of time order since the payer's pool list
 * was last empty, so no suffix is a window and the history is scanned. */
#define PY_AGG 2u
#define PY_DISORDER 4u

/*
 * The pool holds a payer's older payments in blocks of HBLOCK (two cache lines), a list per payer,
 * oldest first: a busy payer's windows are read a block, not an entry, per miss.
 */
#define HBLOCK 7

struct hblock {
	struct recent e[HBLOCK];
	uint32_t next;  /* the payer's next (newer) block */
	uint32_t payer; /* slot index of its payer, NIL: free */
	uint8_t first;  /* its live entries: e[first .. first + n) */
	uint8_t n;
	uint8_t pad[2];
	uint32_t ahead; /* a hint: the block SCAN_AHEAD further along the list when last walked */
};
_Static_assert(sizeof(struct hblock) == 128, "a pool block is two cache lines");

enum counter {
	C_DECISIONS, C_APPROVE, C_VERIFY, C_REVIEW, C_BLOCK, C_INVALID_AMOUNT, C_INVALID_CURRENCY,
	C_INVALID_TIME, C_INVALID_CHANNEL, C_INVALID_KIND, C_INVALID_LOCATION, C_OUT_OF_ORDER,
	C_PAYERS_FULL, C_PAYERS_EXPIRED, C_PAIRS_FULL, C_DEVICES_FULL, C_MERCHANTS_FULL,
	C_HISTORY_EVICTED_LIVE, C_ORPHAN_HALVES, C_TOO_LATE, C__COUNT
};

static const char *const counter_names[C__COUNT] = {
	"fraud_decisions", "fraud_approve", "fraud_verify", "fraud_review", "fraud_block", "fraud_invalid_amount",
	"fraud_invalid_currency", "fraud_invalid_time", "fraud_invalid_channel", "fraud_invalid_kind",
	"fraud_invalid_location", "fraud_out_of_order", "fraud_payers_full", "fraud_payers_expired",
	"fraud_pairs_full", "fraud_devices_full", "fraud_merchants_full", "fraud_history_evicted",
	"fraud_orphan_halves", "fraud_too_late",
};

/* Everything a snapshot holds besides the regions: plain data. */
struct vars {
	uint64_t c[C__COUNT];
	int64_t max_ns;      /* latest event time of any valid payment */
	uint32_t hist_next;  /* next pool block to use (oldest first) */
	uint32_t have_head;
	struct dd_event head; /* the first half of the payment being assembled */
	uint64_t reasons[DD_R__COUNT];   /* decisions each reason was part of */
	uint32_t nblocked;
	uint32_t pad;
	struct dd_out_decision blocked[DD_FRAUD_KEEP_BLOCKED]; /* the first blocked decisions */
};

/* A window the windowed rules read: (lo, t] of the payment's time t, or (lo, t) without ties. */
struct wgroup {
	int64_t window_ns;
	uint8_t ties;        /* earlier payments at exactly t are in it (no DD_FR_EXCL_TIES) */
	uint8_t ring;        /* a repeated rule reads its amounts (struct win's last[]) */
	uint8_t pad[6];
};

enum { S_ANY, S_MERCHANT, S_TRAVEL, S_REQUIRES, S__COUNT };

/*
 * What a payment offers the steps' range tests (struct step): one value per source, filled once per
 * payment. A windowed group g has four: its count and sum without and with the payment itself.
 */
enum {
	V_ZERO, V_AMOUNT, V_DEVICE_PAYERS, V_DEVICE_AGE, V_RISK, V_MERCHANT_NEW, V_HAS_LOC, V_EW_N, V_GROUP,
	V__COUNT = V_GROUP + 4 * DD_FR_MAX_WINDOWED
};
enum { VG_COUNT, VG_COUNT_INCL, VG_SUM, VG_SUM_INCL };

/*
 * An enabled rule as the evaluation reads it: its hot fields together, the rest in rule[]. Every
 * step has a range test, base <= value[src] <= base + span (one unsigned compare): a rule cannot
 * fire outside it, and for an `exact` step (a threshold on one value, most rules) it is the whole
 * rule, so no per-kind code runs for it; the others run fires() when it passes.
 */
struct step {
	uint8_t src, exact;  /* the value the range test reads; the test is the rule */
	uint8_t code;
	uint8_t requires;    /* DD_R__COUNT: none */
	uint16_t score;
	uint8_t when, rule;  /* index in rule[] */
	int64_t base;
	uint64_t span;
	uint8_t group;       /* windowed: its wgroup */
	uint8_t flags;       /* DD_FR_* */
	uint8_t pad[6];
	int64_t limit;
	int64_t lo, hi;      /* amount_in: its smallest and largest value; amount_between: min, max */
};

struct fraud {
	struct dd_fraud_params p;
	struct vars v;
	/* derived at init, not saved */
	struct ktab payers, pairs, devices, merchants;
	struct hblock *hist;
	uint32_t nblocks;           /* pool blocks: history entries in blocks of HBLOCK */
	const struct dd_frules *img; /* the rule set in force: own, or one handed over by dd_fraud_use() */
	struct dd_frules *own;      /* this state's copy (installed, loaded from a snapshot) */
	size_t img_size;
	size_t payers_bytes, pairs_bytes, devices_bytes, merchants_bytes;
	int64_t win_ns;             /* largest window of an enabled rule (0: no history kept) */
	int64_t keep_ns;            /* how long a payer keeps a payment: win_ns plus the late grace */
	/* the evaluation plan of the rules in force, fixed when they are put in force */
	unsigned ngroups;                     /* windows of the windowed rules (count, sum, repeated) */
	struct wgroup group[DD_FR_MAX_WINDOWED]; /* rules with the same window and ties share one */
	/* the enabled rules that can fire, by class, each in file order: those every payment needs, those
	 * only a merchant payment does, those only travel does, then those that require another (their
	 * order among the others does not matter: scores add up, reasons are a set) */
	unsigned end[S__COUNT];               /* class c is step[end[c - 1] .. end[c]) */
	struct step step[DD_FR_MAX_RULES];
	/* the range tests of step[0 .. end[S_TRAVEL]) as arrays, all made in one pass without a branch
	 * (passed()), and each class's steps as a mask */
	uint8_t rsrc[DD_FR_MAX_RULES];
	int64_t rbase[DD_FR_MAX_RULES];
	uint64_t rspan[DD_FR_MAX_RULES];
	uint32_t cmask[S_REQUIRES];
	uint32_t ew_shift;                    /* the z-score rule's EWMA weight (4 without one) */
	double travel_over;                   /* the lowest speed_over of the travel rules (none: +inf) */
	int64_t risk_gen;                     /* the rules in force's generation: merchant_facts()' cache */
	uint32_t agg_gen;                     /* the plan's generation: a payer's aggregates (PY_AGG) */
	bool agg_ok;                          /* the plan's windows can be kept as running aggregates */
	uint64_t currency_ok[(26 * 26 * 26 + 63) / 64]; /* a bit per three capital letters */
	dd_fraud_model_fn model;
};

/* The payer's running aggregates are in force: made under the rule plan in force, so for at most
 * AGG_GROUPS windows (a plan with more has agg_ok false, and nothing is built under it). */
static inline bool agg_live(const struct fraud *s, const struct payer *py)
{
	return (py->flags & PY_AGG) && py->agg.gen == s->agg_gen;
}

void dd_fraud_params_default(struct dd_fraud_params *p)
{
	*p = (struct dd_fraud_params){ .payers = 1u << 16, .history = 1u << 18, .pairs = 1u << 17,
				       .devices = 1u << 17, .merchants = 1u << 16, .merchant_table = 1u << 16,
				       .late_grace_s = 86400 };
}

static bool params_ok(const struct dd_fraud_params *p)
{
	const uint32_t max = 1u << 28;
	return p->payers >= 1 && p->payers <= max && p->history <= max && p->pairs >= 1 && p->pairs <= max &&
	       p->late_grace_s <= 30 * 86400 &&
	       p->devices >= 1 && p->devices <= max && p->merchants >= 1 && p->merchants <= max &&
	       dd_frules_memsize(p->merchant_table) != 0;
}

static size_t fraud_memsize(const void *params)
{
	const struct dd_fraud_params *p = params;
	if (!params_ok(p))
		return 0;
	return ALIGN64(sizeof(struct fraud)) + ALIGN64(dd_frules_memsize(p->merchant_table)) +
	       ktab_slots(p->payers) * sizeof(struct payer) + ktab_slots(p->pairs) * sizeof(struct kent) +
	       ktab_slots(p->devices) * sizeof(struct kent) + ktab_slots(p->merchants) * sizeof(struct kent) +
	       ALIGN64((size_t)((p->history + HBLOCK - 1) / HBLOCK) * sizeof(struct hblock));
}

static uint8_t *carve(struct ktab *t, uint8_t *m, uint32_t cap, uint32_t stride, size_t *bytes)
{
	size_t n = ktab_slots(cap);
	t->slots = m;
	t->mask = n - 1;
	t->stride = stride;
	*bytes = n * stride;
	memset(m, 0, *bytes);
	return m + *bytes;
}

static inline bool windowed(const struct dd_frule *r)
{
	return r->when == DD_FW_COUNT || r->when == DD_FW_SUM || r->when == DD_FW_REPEATED;
}

static unsigned step_class(const struct dd_frule *r)
{
	if (r->requires < DD_R__COUNT)
		return S_REQUIRES;
	if (r->when == DD_FW_MERCHANT_RISK || r->when == DD_FW_NEW_MERCHANT || r->when == DD_FW_MCC)
		return S_MERCHANT;
	return r->when == DD_FW_TRAVEL ? S_TRAVEL : S_ANY;
}

/* A threshold's values, `over limit` or `at_least limit`, as [lo, INT64_MAX]; false: none. */
static bool threshold(uint8_t flags, int64_t limit, int64_t *lo)
{
	if (flags & DD_FR_AT_LEAST) {
		*lo = limit;
		return true;
	}
	*lo = limit + (limit < INT64_MAX);
	return limit < INT64_MAX;
}

/*
 * The step's range test (struct step) from its rule, in class `cls`; false if no value passes it
 * (the rule can never fire). Where the test is not the whole rule, it is one the rule implies.
 */
static bool step_range(struct step *st, const struct dd_frule *r, unsigned cls)
{
	int64_t lo = 0, hi = INT64_MAX;
	bool can = true, merchant = cls == S_MERCHANT; /* that class runs only on a merchant's payment */
	unsigned vg = V_GROUP + 4u * st->group;
	st->exact = 0;
	switch (r->when) {
	case DD_FW_COUNT:
		st->src = (uint8_t)(vg + ((r->flags & DD_FR_EXCL_CURRENT) ? VG_COUNT : VG_COUNT_INCL));
		can = threshold(r->flags, r->limit, &lo);
		st->exact = 1;
		break;
	case DD_FW_SUM:
		st->src = (uint8_t)(vg + ((r->flags & DD_FR_EXCL_CURRENT) ? VG_SUM : VG_SUM_INCL));
		can = threshold(r->flags, r->limit, &lo);
		st->exact = 1;
		break;
	case DD_FW_REPEATED: /* the payment and last - 1 before it */
		st->src = (uint8_t)(vg + VG_COUNT_INCL);
		lo = r->last;
		break;
	case DD_FW_AMOUNT_IN:
	case DD_FW_AMOUNT_BETWEEN:
		st->src = V_AMOUNT;
		lo = st->lo;
		hi = st->hi;
		st->exact = r->when == DD_FW_AMOUNT_BETWEEN;
		break;
	case DD_FW_AMOUNT_MULTIPLE:
		st->src = V_AMOUNT;
		lo = r->min;
		break;
	case DD_FW_AMOUNT_OVER:
	case DD_FW_LATE_NIGHT:
		st->src = V_AMOUNT;
		can = threshold(r->flags, r->limit, &lo);
		st->exact = r->when == DD_FW_AMOUNT_OVER;
		break;
	case DD_FW_NEW_DEVICE: /* first use (INT64_MIN) or younger than the age */
		st->src = V_DEVICE_AGE;
		lo = INT64_MIN;
		hi = r->window_ns > INT64_MIN ? r->window_ns - 1 : INT64_MIN;
		st->exact = 1;
		break;
	case DD_FW_SHARED_DEVICE:
		st->src = V_DEVICE_PAYERS;
		can = threshold(r->flags, r->limit, &lo);
		st->exact = 1;
		break;
	case DD_FW_RISK_AREA:
		st->src = V_HAS_LOC;
		lo = hi = 1;
		break;
	case DD_FW_MERCHANT_RISK:
		st->src = V_RISK;
		can = threshold(r->flags, r->limit, &lo);
		hi = (r->flags & DD_FR_HAS_MAX) ? r->max : INT64_MAX;
		st->exact = merchant;
		break;
	case DD_FW_NEW_MERCHANT:
		st->src = V_MERCHANT_NEW;
		lo = hi = 1;
		st->exact = merchant;
		break;
	case DD_FW_ZSCORE: /* 0 before the payer's first payment */
		st->src = V_EW_N;
		lo = r->min_count;
		break;
	default: /* travel, mcc, model: fires() alone */
		st->src = V_ZERO;
		lo = hi = 0;
		break;
	}
	st->base = lo;
	st->span = (uint64_t)hi - (uint64_t)lo;
	return can && lo <= hi;
}

/* The plan of the rules in force: what decide() would otherwise work out for every payment. */
static void set_window(struct fraud *s)
{
	const struct dd_frules *img = s->img;
	s->win_ns = 0;
	s->ngroups = 0;
	unsigned n = 0;
	s->ew_shift = 4;
	s->travel_over = HUGE_VAL;
	s->risk_gen++; /* another merchant table, perhaps: every merchant's risk is looked up again */
	for (unsigned c = 0; c < S__COUNT; c++) {
		for (uint32_t i = 0; i < img->nrules && i < DD_FR_MAX_RULES; i++) {
			const struct dd_frule *r = &img->rule[i];
			/* no risk area: that rule cannot fire */
			if ((r->flags & DD_FR_OFF) || step_class(r) != c ||
			    (r->when == DD_FW_RISK_AREA && img->nareas == 0))
				continue;
			struct step *st = &s->step[n++];
			*st = (struct step){ .when = r->when, .code = r->code, .requires = r->requires, .flags = r->flags,
					     .rule = (uint8_t)i, .score = r->score, .limit = r->limit, .lo = r->min,
					     .hi = r->max };
			if (r->when == DD_FW_AMOUNT_IN) {
				st->lo = INT64_MAX;
				st->hi = INT64_MIN;
				for (unsigned v = 0; v < r->nvalues; v++) {
					st->lo = r->values[v] < st->lo ? r->values[v] : st->lo;
					st->hi = r->values[v] > st->hi ? r->values[v] : st->hi;
				}
			}
			if (r->when == DD_FW_ZSCORE)
				s->ew_shift = r->alpha_shift;
			if (r->when == DD_FW_TRAVEL && r->speed_over < s->travel_over)
				s->travel_over = r->speed_over;
			if (windowed(r)) {
				uint8_t ties = !(r->flags & DD_FR_EXCL_TIES);
				unsigned g = 0;
				while (g < s->ngroups &&
				       (s->group[g].window_ns != r->window_ns || s->group[g].ties != ties))
					g++;
				if (g == s->ngroups) /* the compiler allows no more windowed rules than groups */
					s->group[s->ngroups++] = (struct wgroup){ .window_ns = r->window_ns, .ties = ties };
				st->group = (uint8_t)g;
				s->group[g].ring |= r->when == DD_FW_REPEATED;
				if (r->window_ns > s->win_ns)
					s->win_ns = r->window_ns;
			}
			if (!step_range(st, r, c))
				n--; /* it never fires: no step (its window still shapes the history kept) */
		}
		s->end[c] = n;
	}
	for (unsigned c = 0; c < S_REQUIRES; c++) {
		s->cmask[c] = 0;
		for (unsigned k = c > 0 ? s->end[c - 1] : 0; k < s->end[c]; k++) {
			s->cmask[c] |= 1u << k;
			s->rsrc[k] = s->step[k].src;
			s->rbase[k] = s->step[k].base;
			s->rspan[k] = s->step[k].span;
		}
	}
	s->keep_ns = s->win_ns + (int64_t)s->p.late_grace_s * 1000000000;
	/* running aggregates (struct pagg) for at most AGG_GROUPS windows, whose repeated rules read no
	 * more amounts than a payer's ring holds, from a window with the payments at t in it */
	s->agg_gen++;
	s->agg_ok = s->ngroups >= 1 && s->ngroups <= AGG_GROUPS && s->nblocks > 0;
	for (unsigned g = 0; g < s->ngroups; g++)
		s->agg_ok = s->agg_ok && (s->group[g].ties || !s->group[g].ring);
	for (uint32_t i = 0; i < img->nrules && i < DD_FR_MAX_RULES; i++)
		if (img->rule[i].when == DD_FW_REPEATED && !(img->rule[i].flags & DD_FR_OFF) && img->rule[i].last > RECENT + 1)
			s->agg_ok = false;
}

static void currency_init(uint64_t *ok);

static int fraud_init(void *mem, size_t len, const void *params)
{
	const struct dd_fraud_params *p = params;
	size_t need = fraud_memsize(params);
	if (need == 0 || len < need)
		return -EINVAL;
	struct fraud *s = mem;
	memset(s, 0, sizeof(*s));
	s->p = *p;
	uint8_t *m = (uint8_t *)mem + ALIGN64(sizeof(*s));
	s->own = (struct dd_frules *)(void *)m;
	s->img = s->own;
	s->img_size = dd_frules_memsize(p->merchant_table);
	memset(s->own, 0, s->img_size);
	m += ALIGN64(s->img_size);
	m = carve(&s->payers, m, p->payers, sizeof(struct payer), &s->payers_bytes);
	m = carve(&s->pairs, m, p->pairs, sizeof(struct kent), &s->pairs_bytes);
	m = carve(&s->devices, m, p->devices, sizeof(struct kent), &s->devices_bytes);
	m = carve(&s->merchants, m, p->merchants, sizeof(struct kent), &s->merchants_bytes);
	currency_init(s->currency_ok);
	s->hist = (struct hblock *)(void *)m;
	s->nblocks = (p->history + HBLOCK - 1) / HBLOCK;
	for (uint32_t i = 0; i < s->nblocks; i++)
		s->hist[i] = (struct hblock){ .next = NIL, .payer = NIL };
	/* The built-in rule set until another is installed: an operator always has rules. */
	char err[256];
	int rc = dd_frules_compile(dd_frules_default_text, strlen(dd_frules_default_text), dd_frules_default_origin,
				   s->own, p->merchant_table, err, sizeof(err), NULL, NULL, NULL);
	if (rc != 0)
		return rc;
	set_window(s);
	return 0;
}

int dd_fraud_install(void *state, const struct dd_frules *r)
{
	struct fraud *s = state;
	if (r->magic != DD_FRULES_MAGIC || r->nmerchants > s->p.merchant_table)
		return -EINVAL;
	memcpy(s->own, r, dd_frules_used_size(r));
	s->own->merchant_cap = s->p.merchant_table;
	s->img = s->own;
	set_window(s);
	return 0;
}

int dd_fraud_use(void *state, const struct dd_frules *r)
{
	struct fraud *s = state;
	if (r->magic != DD_FRULES_MAGIC || r->nmerchants > s->p.merchant_table)
		return -EINVAL;
	s->img = r;
	set_window(s);
	return 0;
}

const struct dd_frules *dd_fraud_rules(const void *state)
{
	return ((const struct fraud *)state)->img;
}

void dd_fraud_stats(const void *state, struct dd_fraud_stats *out)
{
	const struct fraud *s = state;
	memcpy(out->reasons, s->v.reasons, sizeof(out->reasons));
	out->nblocked = s->v.nblocked;
	memcpy(out->blocked, s->v.blocked, sizeof(out->blocked));
}

/* What the reports keep of a decision: its reasons counted, the first blocked ones whole. */
static void note(struct fraud *s, const struct dd_out_decision *d)
{
	for (uint32_t m = d->reasons; m != 0; m &= m - 1)
		s->v.reasons[__builtin_ctz(m)]++;
	if (d->action == DD_ACT_BLOCK && s->v.nblocked < DD_FRAUD_KEEP_BLOCKED)
		s->v.blocked[s->v.nblocked++] = *d;
}

void dd_fraud_set_model(void *state, dd_fraud_model_fn fn)
{
	((struct fraud *)state)->model = fn;
}

/* ---- validation ------------------------------------------------------------------------------ */

/* Active ISO 4217 alphabetic codes (2025; BGN and SLL kept while phased out), sorted; the "no currency" code
 * and XTS (testing) left out: no payment is made in them. */
static const char iso4217[] =
	"AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN "
	"BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD "
	"FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS "
	"KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
	"MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR "
	"SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS "
	"UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF "
	"XPD XPF XPT XSU XUA YER ZAR ZMW ZWG";

/* Three capital letters as a number below 26^3, or -1. */
static inline int currency_index(const char c[3])
{
	unsigned a = (unsigned char)c[0] - 'A', b = (unsigned char)c[1] - 'A', d = (unsigned char)c[2] - 'A';
	return a < 26 && b < 26 && d < 26 ? (int)((a * 26 + b) * 26 + d) : -1;
}

static void currency_init(uint64_t *ok)
{
	for (size_t i = 0; i + 3 <= sizeof(iso4217) - 1; i += 4) {
		int k = currency_index(iso4217 + i);
		if (k >= 0)
			ok[k / 64] |= 1ull << (k % 64);
	}
}

static inline bool currency_ok(const uint64_t *ok, const char c[3])
{
	int k = currency_index(c);
	return k >= 0 && (ok[k / 64] >> (k % 64) & 1);
}

/* The counter of the first thing wrong with a payment, or C__COUNT if it is valid. */
static enum counter invalid_reason(const struct fraud *s, const struct dd_event *ev, const struct dd_ev_payment *p,
				   const struct dd_ev_payment_x *x)
{
	if (p->amount <= 0)
		return C_INVALID_AMOUNT;
	if (!currency_ok(s->currency_ok, x->currency))
		return C_INVALID_CURRENCY;
	if (ev->event_ns == 0 || ev->event_ns > (uint64_t)INT64_MAX)
		return C_INVALID_TIME;
	if (x->channel != 'U' && x->channel != 'C' && x->channel != 'W')
		return C_INVALID_CHANNEL;
	if (x->kind != 'P' && x->kind != 'M' && x->kind != 'B')
		return C_INVALID_KIND;
	if (x->lat_e6 < -90000000 || x->lat_e6 > 90000000 || x->lon_e6 < -180000000 || x->lon_e6 > 180000000)
		return C_INVALID_LOCATION;
	return C__COUNT;
}

/* ---- scoring ---------------------------------------------------------------------------------- */

static inline bool over(const struct step *st, int64_t v)
{
	return (st->flags & DD_FR_AT_LEAST) ? v >= st->limit : v > st->limit;
}

static uint32_t payer_index(const struct fraud *s, const struct payer *py)
{
	return (uint32_t)(((const uint8_t *)py - s->payers.slots) / sizeof(struct payer));
}

/* Take the payer's head block off its list and free it. */
static void block_pop(struct fraud *s, struct payer *py)
{
	struct hblock *b = &s->hist[py->head];
	py->head = b->next;
	if (py->head == NIL) {
		py->tail = NIL;
		py->flags &= (uint8_t)~(PY_AGG | PY_DISORDER); /* the ring alone is scanned */
	}
	b->payer = NIL;
	b->next = NIL;
	b->n = 0;
}

/* Drop the payer's oldest kept payment: the pool's first, else the ring's oldest. */
static void drop_oldest(struct fraud *s, struct payer *py)
{
	if (py->head != NIL) {
		struct hblock *b = &s->hist[py->head];
		b->first++;
		if (--b->n == 0)
			block_pop(s, py);
	} else if (py->rn > 0) {
		py->r0 = (uint8_t)((py->r0 + 1) % RECENT);
		py->rn--;
	}
}

/* Its oldest kept payment's time (INT64_MAX: none). */
static inline int64_t oldest_t(const struct fraud *s, const struct payer *py)
{
	if (py->head != NIL) {
		const struct hblock *b = &s->hist[py->head];
		return b->e[b->first].t;
	}
	return py->rn > 0 ? py->recent[py->r0].t : INT64_MAX;
}

/*
 * A new payer in the slot. Only its first line is written: the rest is read only under what that
 * line says (the EWMA once n > 0, and ew_update() sets it at n == 0; pair_first under PY_PAIR; the
 * ring's rn entries; agg under PY_AGG), so a new payer's payment brings in no line it does not use.
 */
static void payer_reset(struct fraud *s, struct payer *py, uint64_t id)
{
	/* a slot never used is all zeros: its head is no list */
	while (py->h.used && py->head != NIL)
		block_pop(s, py);
	memset(py, 0, offsetof(struct payer, ew_mean));
	py->h.k1 = id;
	py->h.used = 1;
	py->head = py->tail = NIL;
}

/*
 * An entry at the end of payer `py`'s pool list: into its newest block while that has room, else
 * into a new block, the oldest of the pool, taken from its payer if still held (blocks are taken
 * in order and payers drop theirs oldest first, so it is that payer's first block).
 */
static void hist_spill(struct fraud *s, struct payer *py, int64_t t, int64_t amount, uint32_t *blk,
		       uint8_t *off)
{
	*blk = NIL;
	if (s->nblocks == 0) {
		if (t > py->h.last_ns - s->keep_ns)
			s->v.c[C_HISTORY_EVICTED_LIVE]++; /* no pool: the ring is all there is */
		return;
	}
	if (py->tail != NIL) {
		struct hblock *b = &s->hist[py->tail];
		if (b->first + b->n < HBLOCK) {
			*blk = py->tail;
			*off = (uint8_t)(b->first + b->n);
			b->e[b->first + b->n++] = (struct recent){ t, amount };
			return;
		}
	}
	uint32_t i = s->v.hist_next;
	s->v.hist_next = i + 1 == s->nblocks ? 0 : i + 1;
	struct hblock *b = &s->hist[i];
	if (b->payer != NIL) {
		struct payer *owner = (struct payer *)(void *)(s->payers.slots + (size_t)b->payer * sizeof(struct payer));
		for (unsigned j = b->first; j < (unsigned)b->first + b->n; j++)
			if (b->e[j].t > owner->h.last_ns - s->keep_ns)
				s->v.c[C_HISTORY_EVICTED_LIVE]++;
		owner->flags &= (uint8_t)~PY_AGG; /* its history lost a block: rebuilt from what is left */
		block_pop(s, owner);
	}
	*b = (struct hblock){ .next = NIL, .payer = payer_index(s, py), .first = 0, .n = 1 };
	b->e[0] = (struct recent){ t, amount };
	if (py->tail == NIL)
		py->head = i;
	else
		s->hist[py->tail].next = i;
	py->tail = i;
	*blk = i;
	*off = 0;
}

/* A payment kept for the windows: into the ring, its oldest spilling into the pool when full. */
static void hist_push(struct fraud *s, struct payer *py, int64_t t, int64_t amount)
{
	if (py->rn == RECENT) {
		const struct recent *o = &py->recent[py->r0];
		uint32_t blk;
		uint8_t off = 0;
		hist_spill(s, py, o->t, o->amount, &blk, &off);
		if (agg_live(s, py)) { /* a window starting at the ring's oldest now starts in the pool */
			uint32_t q = py->agg.pushed - py->rn;
			for (unsigned g = 0; g < s->ngroups; g++)
				if (py->agg.g[g].q == q) {
					py->agg.g[g].blk = blk;
					py->agg.g[g].off = off;
				}
			if (blk == NIL)
				py->flags &= (uint8_t)~PY_AGG;
		}
		py->r0 = (uint8_t)((py->r0 + 1) % RECENT);
		py->rn--;
	}
	py->recent[(py->r0 + py->rn) % RECENT] = (struct recent){ t, amount };
	py->rn++;
	if (agg_live(s, py)) { /* in every window: it is the newest, at the time windows end */
		py->agg.pushed++;
		for (unsigned g = 0; g < s->ngroups; g++) {
			py->agg.g[g].cnt++;
			if (__builtin_add_overflow(py->agg.g[g].sum, amount, &py->agg.g[g].sum))
				py->flags &= (uint8_t)~PY_AGG; /* the scan saturates; a running sum cannot */
		}
	}
}

/* What the windowed rules see of a payer's earlier payments, per window group. */
struct win {
	unsigned n;
	int64_t lo[DD_FR_MAX_WINDOWED], hi[DD_FR_MAX_WINDOWED]; /* a payment at et is in it: lo < et <= hi */
	int64_t count[DD_FR_MAX_WINDOWED];
	int64_t sum[DD_FR_MAX_WINDOWED];
	int64_t last[DD_FR_MAX_WINDOWED][64]; /* the amounts in it, a ring (groups a repeated rule reads) */
};

/*
 * The windows of a payment at t: (t - window, t], or (t - window, t) when ties are out (t >= 1: a
 * valid payment's time is positive). One older than the payer's latest payment (this one included)
 * by the largest window plus the late grace or more is forgotten: a payment up to the grace late
 * sees every earlier payment its windows reach; one later still is scored against the state as it
 * is (the spec's words). Exactly what the oldest-first drop keeps.
 */
static inline void window_open(struct win *w, const struct fraud *s, int64_t t, int64_t floor)
{
	w->n = s->ngroups;
	/* whole arrays: a fixed size is a few stores, where the loop became two calls of memset */
	memset(w->count, 0, sizeof(w->count));
	memset(w->sum, 0, sizeof(w->sum));
	for (unsigned g = 0; g < w->n; g++) {
		int64_t lo = t - s->group[g].window_ns;
		w->lo[g] = lo > floor ? lo : floor; /* nothing at or below the floor is kept */
		w->hi[g] = s->group[g].ties ? t : t - 1;
	}
}

/* Amounts are positive and any int64: a window's sum saturates (over every threshold) rather than
 * wraps. */
static inline int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;
	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Pool blocks a window scan asks for ahead of the one it reads (struct hblock's `ahead`). */
#define SCAN_AHEAD 8

/*
 * A payer's kept payments into the n windows, oldest first, without branches (whether a payment is
 * in a window is as often yes as no over a payer's day). The amount goes into the ring's next slot
 * either way; only one in the window moves the ring on. always_inline with n a constant: the loops
 * over the windows unroll and the counts and sums stay in registers.
 */
static inline __attribute__((always_inline)) void scan_n(const struct fraud *s, const struct payer *py,
							 struct win *w, const unsigned n)
{
	int64_t lo[DD_FR_MAX_WINDOWED], hi[DD_FR_MAX_WINDOWED], cnt[DD_FR_MAX_WINDOWED], sum[DD_FR_MAX_WINDOWED];
	bool ring[DD_FR_MAX_WINDOWED];
	for (unsigned g = 0; g < n; g++) {
		ring[g] = s->group[g].ring;
		lo[g] = w->lo[g];
		hi[g] = w->hi[g];
		cnt[g] = sum[g] = 0;
	}
#define WINDOW_ADD(et, amount)                                                                         \
	do {                                                                                           \
		int64_t et_ = (et), a_ = (amount);                                                     \
		for (unsigned g = 0; g < n; g++) {                                                     \
			if (et_ <= lo[g] || et_ > hi[g])                                               \
				continue;                                                              \
			if (ring[g])                                                                   \
				w->last[g][cnt[g] & 63] = a_;                                          \
			cnt[g]++;                                                                      \
			sum[g] = sat_add(sum[g], a_);                                                  \
		}                                                                                      \
	} while (0)
	/* A busy payer's blocks are a list in a pool they share with every other payer, so walking it
	 * is a miss a block, each waiting for the one before (its `next`). Each block keeps a hint, the
	 * block SCAN_AHEAD further along, set by the walk before: asked for as a block is reached,
	 * SCAN_AHEAD misses are in flight instead of one. Only a prefetch reads it, so a hint gone
	 * stale (the list changed since) costs a wasted prefetch, never a wrong count. The hints are
	 * the one thing a scan writes (the pool's blocks are the operator's, `s` notwithstanding). */
	uint32_t walked[SCAN_AHEAD];
	unsigned nb = 0;
	for (uint32_t i = py->head; i != NIL; i = s->hist[i].next, nb++) {
		const struct hblock *b = &s->hist[i];
		if (b->ahead < s->nblocks) {
			const uint8_t *a = (const uint8_t *)&s->hist[b->ahead];
			__builtin_prefetch(a);
			__builtin_prefetch(a + 64);
		}
		if (nb >= SCAN_AHEAD && s->hist[walked[nb % SCAN_AHEAD]].ahead != i)
			s->hist[walked[nb % SCAN_AHEAD]].ahead = i;
		walked[nb % SCAN_AHEAD] = i;
		for (unsigned j = b->first; j < (unsigned)b->first + b->n; j++)
			WINDOW_ADD(b->e[j].t, b->e[j].amount);
	}
	for (unsigned j = 0, k = py->r0; j < py->rn; j++, k = k + 1 == RECENT ? 0 : k + 1)
		WINDOW_ADD(py->recent[k].t, py->recent[k].amount);
#undef WINDOW_ADD
	for (unsigned g = 0; g < n; g++) {
		w->count[g] = cnt[g];
		w->sum[g] = sum[g];
	}
}

/*
 * Running aggregates. A payer with a long pool list (three blocks or more) whose history is in time
 * order keeps each window's count and sum as payments enter and leave it (struct pagg), so a
 * payment reads the few payments leaving its windows instead of all its payer keeps: with ties in
 * every window, (t - window, t] of a payment in order is a suffix of the history. Anything else
 * (a payment out of order, one kept out of order, a window without ties, more windows than
 * AGG_GROUPS, a block the pool took back, a sum past INT64_MAX) goes to the scan, which is exact
 * for any history; a payer is rebuilt from a scan of its own once it is back in order.
 */
static inline bool long_list(const struct fraud *s, const struct payer *py)
{
	return py->head != NIL && py->head != py->tail && s->hist[py->head].next != py->tail;
}

/* Where payment q is: the ring when it is among the rn newest, else the pool at (blk, off). */
static inline const struct recent *agg_at(const struct fraud *s, const struct payer *py, const struct gagg *a)
{
	uint32_t d = py->agg.pushed - a->q; /* payments from q to the newest, q included */
	if (d <= py->rn)
		return &py->recent[(py->r0 + py->rn - d) % RECENT];
	return a->blk < s->nblocks ? &s->hist[a->blk].e[a->off] : NULL;
}

/* The payer's aggregates, built from a walk of its history for windows (lo[g], t]; false (and
 * PY_DISORDER when that is why) if the history is out of time order or a sum overflows. */
static bool agg_rebuild(struct fraud *s, struct payer *py, const struct win *w)
{
	struct pagg *a = &py->agg;
	bool found[AGG_GROUPS] = { false };
	uint32_t seq = 0;
	int64_t prev = INT64_MIN;
	for (unsigned g = 0; g < s->ngroups; g++)
		a->g[g] = (struct gagg){ .blk = NIL };
#define AGG_ENTRY(et, amount, b, j)                                                                    \
	do {                                                                                           \
		if ((et) < prev) {                                                                     \
			py->flags |= PY_DISORDER;                                                      \
			return false;                                                                  \
		}                                                                                      \
		prev = (et);                                                                           \
		for (unsigned g = 0; g < s->ngroups; g++) {                                            \
			if ((et) <= w->lo[g])                                                          \
				continue;                                                              \
			if (!found[g]) {                                                               \
				found[g] = true;                                                       \
				a->g[g].q = seq;                                                       \
				a->g[g].blk = (b);                                                     \
				a->g[g].off = (uint8_t)(j);                                            \
			}                                                                              \
			a->g[g].cnt++;                                                                 \
			if (__builtin_add_overflow(a->g[g].sum, (amount), &a->g[g].sum))               \
				return false;                                                          \
		}                                                                                      \
		seq++;                                                                                 \
	} while (0)
	for (uint32_t i = py->head; i != NIL; i = s->hist[i].next) {
		const struct hblock *b = &s->hist[i];
		for (unsigned j = b->first; j < (unsigned)b->first + b->n; j++)
			AGG_ENTRY(b->e[j].t, b->e[j].amount, i, j);
	}
	for (unsigned j = 0, k = py->r0; j < py->rn; j++, k = k + 1 == RECENT ? 0 : k + 1)
		AGG_ENTRY(py->recent[k].t, py->recent[k].amount, NIL, 0);
#undef AGG_ENTRY
	for (unsigned g = 0; g < s->ngroups; g++)
		if (!found[g])
			a->g[g].q = seq;
	a->pushed = seq;
	a->gen = s->agg_gen;
	py->flags |= PY_AGG;
	return true;
}

/*
 * The payer's windows from its running aggregates, each moved on past the payments no longer in
 * it, for a payment in order; false: the payment is to be scanned (see above). Runs before the
 * history's oldest are dropped (the payments leaving a window are read here).
 */
static bool agg_windows(struct fraud *s, struct payer *py, const struct win *w)
{
	if ((py->flags & PY_DISORDER) || !long_list(s, py))
		return false;
	if (!agg_live(s, py))
		return agg_rebuild(s, py, w);
	for (unsigned g = 0; g < s->ngroups; g++) {
		struct gagg *a = &py->agg.g[g];
		while (a->q != py->agg.pushed) {
			const struct recent *e = agg_at(s, py, a);
			if (e == NULL)
				return false; /* cannot be: PY_AGG names no block outside the pool */
			if (e->t > w->lo[g])
				break;
			a->cnt--;
			a->sum -= e->amount;
			bool pool = py->agg.pushed - a->q > py->rn;
			a->q++;
			if (pool) {
				const struct hblock *b = &s->hist[a->blk];
				if (++a->off == b->first + b->n) {
					a->blk = b->next;
					a->off = a->blk != NIL ? s->hist[a->blk].first : 0;
				}
			}
		}
	}
	return true;
}

/*
 * The windows' counts and sums at t from the aggregates, and the amounts repeated rules read (the
 * newest in the window: in the ring, which holds RECENT while the pool holds any). A window without
 * ties leaves out the newest payments at exactly t, read from the ring; false if the whole ring is
 * at t (the pool's newest may be too: the payment is scanned).
 */
static bool agg_fill(const struct fraud *s, const struct payer *py, struct win *w, int64_t t)
{
	for (unsigned g = 0; g < s->ngroups; g++) {
		const struct gagg *a = &py->agg.g[g];
		w->count[g] = a->cnt;
		w->sum[g] = a->sum;
		if (!s->group[g].ties) {
			uint32_t k = 0;
			while (k < py->rn && k < a->cnt && py->recent[(py->r0 + py->rn - 1 - k) % RECENT].t == t) {
				w->sum[g] -= py->recent[(py->r0 + py->rn - 1 - k) % RECENT].amount;
				k++;
			}
			if (k == py->rn && py->head != NIL)
				return false;
			w->count[g] -= k;
		}
		if (!s->group[g].ring)
			continue;
		for (uint32_t j = 1; j <= a->cnt && j <= py->rn && j < 64; j++)
			w->last[g][(a->cnt - j) & 63] = py->recent[(py->r0 + py->rn - j) % RECENT].amount;
	}
	return true;
}

static void scan_history(const struct fraud *s, const struct payer *py, struct win *w)
{
	if (py == NULL)
		return;
	switch (w->n) { /* the rule sets we ship have two windows; the UPI one, one */
	case 1: scan_n(s, py, w, 1); break;
	case 2: scan_n(s, py, w, 2); break;
	case 3: scan_n(s, py, w, 3); break;
	default: scan_n(s, py, w, w->n); break;
	}
}

/* This payment and the `last` - 1 before it in window g all of one amount (last <= 64). */
static bool repeated(const struct win *w, unsigned g, unsigned last, int64_t amount)
{
	if (w->count[g] + 1 < last)
		return false;
	for (unsigned j = 1; j < last; j++)
		if (w->last[g][(w->count[g] - j) & 63] != amount)
			return false;
	return true;
}

static int local_hour(int64_t t_ns, int32_t off_s)
{
	int64_t s = t_ns / 1000000000 + off_s;
	int64_t d = ((s % 86400) + 86400) % 86400;
	return (int)(d / 3600);
}

static bool amount_in(const struct dd_frule *r, int64_t a)
{
	for (unsigned i = 0; i < r->nvalues; i++)
		if (r->values[i] == a)
			return true;
	return false;
}

static bool in_risk_area(const struct dd_frules *img, int32_t lat, int32_t lon)
{
	for (uint32_t i = 0; i < img->nareas; i++)
		if (dd_haversine_km(img->area[i].lat_e6, img->area[i].lon_e6, lat, lon) <= img->area[i].radius_km)
			return true;
	return false;
}

/*
 * At least the haversine distance between two points, in km, however dd_haversine_km() rounds: the
 * great circle is no longer than the path along the meridian and then the parallel, R (|dlat| +
 * cos(lat) |dlon|) <= R (|dlat| + |dlon|) with dlon the shorter way round; the margin covers the
 * rounding of both (relative 1e-15 at most, 1e-8 rad near antipodes) many times over.
 */
static inline double distance_bound_km(int32_t lat1_e6, int32_t lon1_e6, int32_t lat2_e6, int32_t lon2_e6)
{
	int64_t dlat = llabs((int64_t)lat2_e6 - lat1_e6), dlon = llabs((int64_t)lon2_e6 - lon1_e6);
	if (dlon > 180000000)
		dlon = 360000000 - dlon;
	return (double)(dlat + dlon) * (6371.0 * M_PI / 180e6) * (1 + 1e-6) + 1e-3;
}

/* What one payment looks like to the rules, gathered before any of them is evaluated. */
struct facts {
	int64_t t, amount;
	bool has_loc, travel;
	double dist_km, speed;
	bool pair_new;        /* never used this device before (or the pair table was full) */
	int64_t device_age;   /* t - first use, when not new */
	uint32_t device_payers;
	bool merchant_new;
	uint32_t risk;
	bool zscore_ready;
	__int128 z_diff, z_var;
	uint32_t ew_n;
};

/*
 * The score of the step's rule on the payment, NO if it does not fire. The step holds what most
 * kinds read; the others read their rule (`r`, only where needed: most payments never get there).
 */
#define NO (-1)

static inline __attribute__((always_inline)) int32_t fires(const struct fraud *s, const struct step *st,
							  const struct facts *f, const struct win *w,
							  const struct dd_ev_payment *p,
							  const struct dd_ev_payment_x *x)
{
	const struct dd_frule *r;
	bool yes = false;
	switch (st->when) {
	case DD_FW_COUNT:
		yes = over(st, w->count[st->group] + !(st->flags & DD_FR_EXCL_CURRENT));
		break;
	case DD_FW_SUM:
		yes = over(st, sat_add(w->sum[st->group], (st->flags & DD_FR_EXCL_CURRENT) ? 0 : f->amount));
		break;
	case DD_FW_REPEATED:
		yes = repeated(w, st->group, s->img->rule[st->rule].last, f->amount);
		break;
	case DD_FW_AMOUNT_IN: /* most amounts are outside the values' range: no list to read */
		yes = f->amount >= st->lo && f->amount <= st->hi && amount_in(&s->img->rule[st->rule], f->amount);
		break;
	case DD_FW_AMOUNT_BETWEEN:
		yes = f->amount >= st->lo && f->amount <= st->hi;
		break;
	case DD_FW_AMOUNT_MULTIPLE:
		r = &s->img->rule[st->rule];
		yes = f->amount % r->of == 0 && f->amount >= r->min;
		break;
	case DD_FW_AMOUNT_OVER:
		yes = over(st, f->amount);
		break;
	case DD_FW_LATE_NIGHT:
		yes = over(st, f->amount) &&
		      (s->img->rule[st->rule].hours >> local_hour(f->t, s->img->utc_offset_s) & 1);
		break;
	case DD_FW_NEW_DEVICE:
		yes = f->pair_new || f->device_age < s->img->rule[st->rule].window_ns;
		break;
	case DD_FW_SHARED_DEVICE:
		yes = over(st, f->device_payers);
		break;
	case DD_FW_TRAVEL:
		r = &s->img->rule[st->rule];
		yes = f->travel && f->speed > r->speed_over && (!(st->flags & DD_FR_HAS_MAX) || f->speed <= r->speed_max) &&
		      (!(st->flags & DD_FR_HAS_DIST) || f->dist_km > r->distance_km);
		break;
	case DD_FW_RISK_AREA:
		yes = f->has_loc && in_risk_area(s->img, x->lat_e6, x->lon_e6);
		break;
	case DD_FW_MERCHANT_RISK:
		yes = x->merchant != 0 && over(st, f->risk) &&
		      (!(st->flags & DD_FR_HAS_MAX) || f->risk <= s->img->rule[st->rule].max);
		break;
	case DD_FW_NEW_MERCHANT:
		yes = x->merchant != 0 && f->merchant_new;
		break;
	case DD_FW_MCC: {
		int sc = x->mcc < DD_FR_MCC_CODES ? s->img->mcc_score[x->mcc] : -1;
		return x->merchant == 0 ? NO : sc >= 0 ? sc : (int32_t)st->limit;
	}
	case DD_FW_ZSCORE:
		/* |d| / sqrt(var) > z  <=>  d^2 * 100 > z10^2 * var, in integers */
		yes = f->zscore_ready && f->ew_n >= s->img->rule[st->rule].min_count && f->z_var > 0 &&
		      f->z_diff * f->z_diff * 100 > (__int128)st->limit * st->limit * f->z_var;
		break;
	case DD_FW_MODEL:
		yes = s->model != NULL && over(st, s->model(p, x));
		break;
	}
	return yes ? st->score : NO;
}

/*
 * The facts of the payment's device, recording its use: the pair's first use, distinct payers. The
 * pair from the payer's own slot when it holds it (PY_PAIR), else from the pair table, and then
 * copied into the slot.
 */
static void device_facts(struct fraud *s, const struct hashes *h, struct payer *py, uint64_t payer,
			 uint64_t device, int64_t t, struct facts *f)
{
	bool pf, df;
	struct kent *pr = NULL;
	int64_t first = t;
	if (py != NULL && (py->flags & PY_PAIR) && py->h.k2 == device) {
		pf = true;
		first = py->pair_first;
	} else {
		pr = ktab_find(&s->pairs, sizeof(struct kent), h->pair, payer, true, device, INT64_MIN, &pf);
		if (pf)
			first = pr->last_ns; /* a pair's last_ns is its first use */
	}
	struct kent *dv = ktab_find(&s->devices, sizeof(struct kent), h->device, device, true, 0, INT64_MIN, &df);
	f->pair_new = !pf;
	if (pf)
		f->device_age = t - first;
	if (dv == NULL)
		s->v.c[C_DEVICES_FULL]++;
	else if (!df)
		*dv = (struct kent){ .k1 = device, .used = 1 };
	if (!pf) {
		if (pr == NULL) {
			s->v.c[C_PAIRS_FULL]++;
		} else {
			*pr = (struct kent){ .k1 = payer, .k2 = device, .last_ns = t, .used = 1 };
			if (dv != NULL)
				dv->aux++;
		}
	}
	f->device_payers = dv != NULL ? dv->aux : 0;
	if (py != NULL && (pf || pr != NULL)) { /* the pair is in the table: (device, first) is its */
		py->h.k2 = device;
		py->pair_first = first;
		py->flags |= PY_PAIR;
	}
}

/*
 * The facts of the payment's merchant, recording it as seen: new or not, and its risk from the rule
 * set's table. A merchant's entry keeps the risk the table gave it (aux) with the generation of the
 * rule set that table came with (last_ns; 0: none), so the table is searched once per merchant and
 * rule set rather than per payment. Snapshots leave both out (save_table).
 */
static void merchant_facts(struct fraud *s, const struct dd_frules *img, uint64_t hash, uint64_t merchant,
			   struct facts *f)
{
	bool found;
	struct kent *m = ktab_find(&s->merchants, sizeof(struct kent), hash, merchant, true, 0, INT64_MIN, &found);
	f->merchant_new = !found;
	if (m == NULL) {
		s->v.c[C_MERCHANTS_FULL]++;
		f->risk = dd_frules_merchant_risk(img, merchant);
		return;
	}
	if (!found)
		*m = (struct kent){ .k1 = merchant, .used = 1 };
	if (m->last_ns != s->risk_gen) {
		m->aux = dd_frules_merchant_risk(img, merchant);
		m->last_ns = s->risk_gen;
	}
	f->risk = m->aux;
}

/* The payer's entry, made or renewed; NULL if the table is full. */
static struct payer *payer_get(struct fraud *s, uint64_t hash, uint64_t id)
{
	bool found;
	int64_t ttl = s->img->payer_ttl_ns;
	int64_t horizon = s->v.max_ns > INT64_MIN + ttl ? s->v.max_ns - ttl : INT64_MIN;
	struct payer *py = (struct payer *)ktab_find(&s->payers, sizeof(struct payer), hash, id, false, 0, horizon, &found);
	if (py == NULL) {
		s->v.c[C_PAYERS_FULL]++;
		return NULL;
	}
	if (found && py->h.last_ns >= horizon)
		return py;
	if (py->h.used)
		s->v.c[C_PAYERS_EXPIRED]++;
	payer_reset(s, py, id);
	return py;
}

/* Amounts the EWMA sees are capped at 2^40 minor units, so its fixed point cannot overflow. */
#define EW_MAX_AMOUNT (1ll << 40)

static inline int64_t ew_amount(int64_t amount)
{
	return amount < EW_MAX_AMOUNT ? amount : EW_MAX_AMOUNT;
}

static void ew_update(struct payer *py, int64_t amount, uint32_t shift)
{
	amount = ew_amount(amount);
	/* scaled by 2^16 with multiplications (a left shift of a negative value is undefined); the
	 * right shifts of a negative diff are arithmetic (GCC and clang define them so) */
	if (py->n == 0) {
		py->ew_mean = amount * 65536; /* at most 2^56 */
		py->ew_var = 0;
		return;
	}
	__int128 diff = amount - (py->ew_mean >> 16);
	__int128 incr = (diff * 65536) >> shift;
	py->ew_mean = (int64_t)(py->ew_mean + incr); /* within the amounts' range << 16, give or take 2^16 */
	py->ew_var += (diff * incr) >> 16;
	py->ew_var -= py->ew_var >> shift;
}

/* The steps of step[0 .. end[S_TRAVEL]) whose range test passes on the payment's values, as a mask. */
static inline uint32_t passed(const struct fraud *s, const int64_t *v)
{
	uint32_t m = 0;
	for (unsigned k = 0; k < s->end[S_TRAVEL]; k++)
		m |= (uint32_t)((uint64_t)v[s->rsrc[k]] - (uint64_t)s->rbase[k] <= s->rspan[k]) << k;
	return m;
}

/* Decide on a payment: `hint` its keys' hashes when the caller has them (apply_run), else NULL. */
static void decide(struct fraud *s, const struct dd_ev_payment *p, const struct dd_ev_payment_x *x,
		   const struct dd_event *ev, const struct hashes *hint, struct dd_emit *e)
{
	const struct dd_frules *img = s->img;
	struct dd_output *o = dd_emit(e, DD_OUT_DECISION, 0);
	struct dd_out_decision tmp = { 0 }, *d = o != NULL ? &o->u.decision : &tmp;
	if (o != NULL)
		o->rule_version = (uint16_t)img->version;
	d->txn_id = p->txn_id;
	d->payer = p->payer;
	d->amount = p->amount;
	d->merchant = x->merchant;
	d->device = p->device;
	d->mcc = x->mcc;
	memcpy(d->currency, x->currency, 3);
	s->v.c[C_DECISIONS]++;

	enum counter bad = invalid_reason(s, ev, p, x);
	if (bad != C__COUNT) {
		s->v.c[bad]++;
		d->reasons = 1u << DD_R_INVALID;
		d->score = DD_FRAUD_INVALID_SCORE;
		d->action = DD_ACT_BLOCK;
		d->flags = DD_DECISION_INVALID;
		s->v.c[C_BLOCK]++;
		note(s, d);
		return;
	}

	/* the pair, device and merchant slots this payment reads, asked for now: their misses overlap
	 * with the payer's (each is independent of it) */
	struct hashes h;
	if (hint != NULL) { /* apply_run asked for the slots when it hashed the keys */
		h = *hint;
	} else {
		hashes_of(&h, p->payer, p->device, x->merchant);
		__builtin_prefetch(ktab_home(&s->pairs, h.pair, sizeof(struct kent)));
		__builtin_prefetch(ktab_home(&s->devices, h.device, sizeof(struct kent)));
		if (x->merchant != 0)
			__builtin_prefetch(ktab_home(&s->merchants, h.merchant, sizeof(struct kent)));
	}
	struct facts f = { .t = (int64_t)ev->event_ns, .amount = p->amount };
	if (f.t > s->v.max_ns)
		s->v.max_ns = f.t;
	struct payer *py = payer_get(s, h.payer, p->payer);
	if (py == NULL)
		d->flags |= DD_DECISION_NO_PAYER;
	if (py != NULL && py->n > 0 && f.t < py->h.last_ns) {
		d->flags |= DD_DECISION_OUT_OF_ORDER;
		s->v.c[C_OUT_OF_ORDER]++;
		/* later than the grace: scored against what is kept, not every earlier payment */
		if (f.t < py->h.last_ns - (int64_t)s->p.late_grace_s * 1000000000) {
			d->flags |= DD_DECISION_TOO_LATE;
			s->v.c[C_TOO_LATE]++;
		}
	}
	/* forget what no window can reach from the payer's latest payment (this one included); a
	 * payer's running aggregates move on first, while the payments leaving its windows are there */
	int64_t floor = INT64_MIN;
	if (py != NULL) {
		int64_t latest = py->n > 0 && py->h.last_ns > f.t ? py->h.last_ns : f.t;
		floor = latest - s->keep_ns;
	}
	struct win w;
	window_open(&w, s, f.t, floor);
	bool agg = py != NULL && s->agg_ok && (py->n == 0 || f.t >= py->h.last_ns) && agg_windows(s, py, &w);
	if (py != NULL)
		while (oldest_t(s, py) <= floor)
			drop_oldest(s, py);
	if (!agg || !agg_fill(s, py, &w, f.t)) {
		if (py != NULL && !agg)
			py->flags &= (uint8_t)~PY_AGG; /* this payment is kept without them */
		if (w.n > 0)
			scan_history(s, py, &w);
	}

	f.has_loc = x->lat_e6 != 0 || x->lon_e6 != 0;
	if (f.has_loc && py != NULL && py->has_loc && py->loc_ns < f.t) {
		double hours = (double)(f.t - py->loc_ns) / (double)NS_PER_H;
		/* the distance only when the speed could reach a travel rule's (most payments come from
		 * where the payer was hours before: no sine needed to know it is not travel) */
		if (distance_bound_km(py->lat, py->lon, x->lat_e6, x->lon_e6) / hours > s->travel_over) {
			f.travel = true;
			f.dist_km = dd_haversine_km(py->lat, py->lon, x->lat_e6, x->lon_e6);
			f.speed = f.dist_km / hours;
		}
	}
	/* devices and merchants are recorded whatever the rules use, so a reload finds them */
	device_facts(s, &h, py, p->payer, p->device, f.t, &f);
	if (x->merchant != 0)
		merchant_facts(s, img, h.merchant, x->merchant, &f);
	if (py != NULL && py->n > 0) {
		f.zscore_ready = true;
		f.z_diff = ew_amount(p->amount) - (py->ew_mean >> 16);
		f.z_var = py->ew_var;
		f.ew_n = py->n;
	}

	int64_t v[V__COUNT]; /* what the steps' range tests read (not zeroed: 320 bytes a payment) */
	v[V_ZERO] = 0;
	v[V_AMOUNT] = f.amount;
	v[V_DEVICE_PAYERS] = f.device_payers;
	v[V_DEVICE_AGE] = f.pair_new ? INT64_MIN : f.device_age;
	v[V_RISK] = f.risk;
	v[V_MERCHANT_NEW] = f.merchant_new;
	v[V_HAS_LOC] = f.has_loc;
	v[V_EW_N] = f.zscore_ready ? f.ew_n : 0;
	for (unsigned g = 0; g < w.n; g++) {
		int64_t *vg = &v[V_GROUP + 4 * g];
		vg[VG_COUNT] = w.count[g];
		vg[VG_COUNT_INCL] = w.count[g] + 1;
		vg[VG_SUM] = w.sum[g];
		vg[VG_SUM_INCL] = sat_add(w.sum[g], f.amount);
	}

	/* the steps whose range test passes, of the classes this payment needs (a merchant's rules
	 * cannot fire on a payment without one, nor travel's without travel); most payments pass two or
	 * three, whichever they are, so the tests are made without a branch and only those run */
	uint32_t want = s->cmask[S_ANY] | (x->merchant != 0 ? s->cmask[S_MERCHANT] : 0) |
			(f.travel ? s->cmask[S_TRAVEL] : 0);
	uint32_t fired = 0, score = 0;
	for (uint32_t m = passed(s, v) & want; m != 0; m &= m - 1) {
		const struct step *st = &s->step[__builtin_ctz(m)];
		int32_t sc = st->exact ? st->score : fires(s, st, &f, &w, p, x);
		if (sc > 0) {
			score += (uint32_t)sc;
			fired |= 1u << st->code;
		}
	}
	/* then those that require another: only once it fired (with a score) */
	for (unsigned k = s->end[S_TRAVEL]; k < s->end[S_REQUIRES]; k++) {
		const struct step *st = &s->step[k];
		if (!(fired >> st->requires & 1) || (uint64_t)v[st->src] - (uint64_t)st->base > st->span)
			continue;
		int32_t sc = st->exact ? st->score : fires(s, st, &f, &w, p, x);
		if (sc > 0) {
			score += (uint32_t)sc;
			fired |= 1u << st->code;
		}
	}
	d->reasons = fired;
	d->score = (uint16_t)(score > 65535 ? 65535 : score);
	d->action = score >= img->act_block    ? DD_ACT_BLOCK
		    : score >= img->act_review ? DD_ACT_REVIEW
		    : score >= img->act_verify ? DD_ACT_VERIFY
					       : DD_ACT_APPROVE;
	s->v.c[C_APPROVE + d->action]++;
	note(s, d);

	if (py == NULL)
		return;
	if (py->n > 0 && f.t < py->h.last_ns)
		py->flags |= PY_DISORDER; /* out of time order: no suffix is a window while it is kept */
	if (s->win_ns > 0)
		hist_push(s, py, f.t, p->amount);
	ew_update(py, p->amount, s->ew_shift);
	if (f.has_loc) {
		py->has_loc = 1;
		py->loc_ns = f.t;
		py->lat = x->lat_e6;
		py->lon = x->lon_e6;
	}
	if (py->n == 0 || f.t > py->h.last_ns)
		py->h.last_ns = f.t;
	py->n++;
}

/* ---- the operator ---------------------------------------------------------------------------- */

static void apply(struct fraud *s, const struct dd_event *ev, const struct hashes *hint, struct dd_emit *e)
{
	if (ev->type == DD_EV_PAYMENT) {
		s->v.c[C_ORPHAN_HALVES] += s->v.have_head;
		s->v.head = *ev;
		s->v.have_head = 1;
		return;
	}
	if (ev->type != DD_EV_PAYMENT_X)
		return;
	if (!s->v.have_head || s->v.head.seq != ev->seq || s->v.head.source != ev->source) {
		s->v.c[C_ORPHAN_HALVES] += 1 + s->v.have_head;
		s->v.have_head = 0;
		return;
	}
	s->v.have_head = 0;
	decide(s, &s->v.head.u.pay, &ev->u.payx, ev, hint, e);
}

static void fraud_apply(void *state, const struct dd_event *ev, struct dd_emit *e)
{
	apply(state, ev, NULL, e);
}

/* The slots an event's payment will read, asked for ahead of it: the payer's (its first three lines,
 * where its windows' newest payments sit), the (payer, device) pair's and the device's from the first
 * half, the merchant's from the second. Each lookup's home slot; a table is at most half full, so
 * that is where most are. always_inline: GCC 12 finds a function that only prefetches "const" and
 * drops every call to it (an earlier try at this measured nothing because no prefetch was left). */
static inline __attribute__((always_inline)) void prefetch_event(const struct fraud *s, const struct dd_event *ev,
								 struct hashes *h)
{
	if (ev->type == DD_EV_PAYMENT) {
		const struct dd_ev_payment *p = &ev->u.pay;
		h->payer = mix(p->payer, 0);
		h->pair = mix(p->payer, p->device);
		h->device = mix(p->device, 0);
		const uint8_t *py = ktab_home(&s->payers, h->payer, sizeof(struct payer));
		__builtin_prefetch(py);
		__builtin_prefetch(py + 64);
		__builtin_prefetch(py + 128);
		__builtin_prefetch(ktab_home(&s->devices, h->device, sizeof(struct kent)));
	} else if (ev->type == DD_EV_PAYMENT_X) {
		h->merchant = mix(ev->u.payx.merchant, 0);
		if (ev->u.payx.merchant != 0)
			__builtin_prefetch(ktab_home(&s->merchants, h->merchant, sizeof(struct kent)));
	}
}

/*
 * The second look at a payment's slots, AHEAD / 2 events after the first asked for them (they are
 * mostly in by now), for what the first could not know:
 *   - a key not in its home slot: a table is at most half full, yet on bench_fraud's default day
 *     about one payer lookup in six, and one kent lookup in ten, ends further along the probe, in
 *     lines nothing asked for: the next two payer slots, or the device's next line, are asked for;
 *   - the pair's slot, only when the payer's slot holds no copy of this device's pair (PY_PAIR);
 *   - the pool blocks its windows will read first: the payer's oldest and newest spilled blocks (all
 *     of them for a payer with at most two), when the payer is in its home slot.
 * Only prefetches: a slot read here that changes before the payment is decided costs a wasted
 * prefetch, never a wrong result.
 */
static inline __attribute__((always_inline)) void prefetch_second(const struct fraud *s, const struct dd_event *ev,
								  const struct hashes *h)
{
	if (ev->type != DD_EV_PAYMENT)
		return;
	const struct dd_ev_payment *p = &ev->u.pay;
	const struct kent *k = (const struct kent *)(const void *)ktab_home(&s->devices, h->device, sizeof(struct kent));
	if (k->used && k->k1 != p->device)
		__builtin_prefetch(ktab_home(&s->devices, h->device + 2, sizeof(struct kent)));
	const struct payer *py =
		(const struct payer *)(const void *)ktab_home(&s->payers, h->payer, sizeof(struct payer));
	bool home = py->h.used && py->h.k1 == p->payer;
	if (!home || !(py->flags & PY_PAIR) || py->h.k2 != p->device)
		__builtin_prefetch(ktab_home(&s->pairs, h->pair, sizeof(struct kent)));
	if (!py->h.used)
		return;
	if (!home) {
		for (uint64_t i = 1; i <= 2; i++) {
			const uint8_t *q = ktab_home(&s->payers, h->payer + i, sizeof(struct payer));
			__builtin_prefetch(q);
			__builtin_prefetch(q + 64);
			__builtin_prefetch(q + 128);
		}
		return;
	}
	if (py->head == NIL)
		return;
	const uint8_t *b = (const uint8_t *)&s->hist[py->head];
	__builtin_prefetch(b);
	__builtin_prefetch(b + 64);
	if (py->tail != py->head) {
		b = (const uint8_t *)&s->hist[py->tail];
		__builtin_prefetch(b);
		__builtin_prefetch(b + 64);
	}
}

/* Events ahead of the one applied whose slots are asked for: far enough for a DRAM miss to come
 * back in the time the payments between take, near enough that the lines are not evicted first.
 * The second look (prefetch_second) is half as far ahead, when the slots are (mostly) in. */
#define AHEAD 8
#define HQ 16 /* hashes kept: events i - 1 .. i + AHEAD, a power of two */

/*
 * The run's events with their slots asked for ahead. Each event's keys are hashed once, when it is
 * asked for; a payment whose first half is the event before in the run is decided with them.
 */
static void fraud_apply_run(void *state, const struct dd_event *ev, const uint64_t *cause, unsigned n,
			    struct dd_emit *e)
{
	struct fraud *s = state;
	struct hashes hq[HQ];
	unsigned ahead = n < AHEAD ? n : AHEAD;
	for (unsigned i = 0; i < ahead; i++)
		prefetch_event(s, &ev[i], &hq[i % HQ]);
	/* the run's first events get no second look (a payment alone, the common case at a real
	 * payment rate, is two events): their pair slots are asked for now, with the rest */
	for (unsigned i = 0; i < n && i < AHEAD / 2; i++)
		if (ev[i].type == DD_EV_PAYMENT)
			__builtin_prefetch(ktab_home(&s->pairs, hq[i % HQ].pair, sizeof(struct kent)));
	for (unsigned i = 0; i < n; i++) {
		if (i + AHEAD < n)
			prefetch_event(s, &ev[i + AHEAD], &hq[(i + AHEAD) % HQ]);
		if (i + AHEAD / 2 < n)
			prefetch_second(s, &ev[i + AHEAD / 2], &hq[(i + AHEAD / 2) % HQ]);
		if (ev[i].type == DD_EV_TICK)
			continue;
		e->ev = &ev[i];
		e->cause = cause[i];
		if (ev[i].type == DD_EV_PAYMENT_X && i > 0 && ev[i - 1].type == DD_EV_PAYMENT) {
			const struct hashes *a = &hq[(i - 1) % HQ];
			struct hashes h = { a->payer, a->pair, a->device, hq[i % HQ].merchant };
			apply(s, &ev[i], &h, e);
		} else {
			apply(s, &ev[i], NULL, e);
		}
	}
}

#define SNAP_VERSION 2 /* 2: the too_late counter */

/*
 * A payer's record in a snapshot is its slot as it was before the PY_PAIR copy (snapshot version 2
 * has not changed): the EWMA's mean a 16-byte integer at 64, where the mean and pair_first are now,
 * k2 and flags 0. So snapshots from before load, and a snapshot does not depend on the copy.
 */
_Static_assert(offsetof(struct payer, ew_mean) == 64 && offsetof(struct payer, pair_first) == 72 &&
		       offsetof(struct payer, ew_var) == 80,
	       "a payer's snapshot record: the mean as 16 bytes at 64");

static void payer_to_record(struct payer *m)
{
	__int128 mean = m->ew_mean;
	m->h.k2 = 0;
	m->flags = 0;
	memcpy((uint8_t *)m + offsetof(struct payer, ew_mean), &mean, sizeof(mean));
	/* the ring's slots outside its rn entries hold nothing (a reset leaves them as they were) */
	for (unsigned j = m->rn, k = (m->r0 + m->rn) % RECENT; j < RECENT; j++, k = k + 1 == RECENT ? 0 : k + 1)
		m->recent[k] = (struct recent){ 0, 0 };
}

static int payer_from_record(struct payer *py)
{
	__int128 mean;
	memcpy(&mean, (const uint8_t *)py + offsetof(struct payer, ew_mean), sizeof(mean));
	if (mean < INT64_MIN || mean > INT64_MAX)
		return -EBADMSG;
	py->ew_mean = (int64_t)mean;
	py->pair_first = 0;
	py->h.k2 = 0;
	py->flags = 0;
	return 0;
}

enum table_kind { T_PLAIN, T_MERCHANTS, T_PAYERS };

/* A table's used slots only, each with its index (probing depends on where an entry sits). */
static int save_table(const struct ktab *t, enum table_kind kind, dd_put_fn put, void *ctx)
{
	uint64_t used = 0;
	for (uint64_t i = 0; i <= t->mask; i++)
		used += ((const struct kent *)(const void *)(t->slots + i * t->stride))->used != 0;
	int rc = put(ctx, &used, sizeof(used));
	for (uint64_t i = 0; rc == 0 && i <= t->mask; i++) {
		const uint8_t *e = t->slots + i * t->stride;
		if (((const struct kent *)(const void *)e)->used == 0)
			continue;
		uint32_t idx = (uint32_t)i;
		struct kent m;
		struct payer py;
		if (kind == T_MERCHANTS) { /* without merchant_facts()' cache: a snapshot does not depend on it */
			memcpy(&m, e, sizeof(m));
			m.last_ns = 0;
			m.aux = 0;
			e = (const uint8_t *)&m;
		} else if (kind == T_PAYERS) {
			memcpy(&py, e, sizeof(py));
			payer_to_record(&py);
			e = (const uint8_t *)&py;
		}
		if ((rc = put(ctx, &idx, sizeof(idx))) == 0)
			rc = put(ctx, e, kind == T_PAYERS ? offsetof(struct payer, agg) : t->stride);
	}
	return rc;
}

static int load_table(struct ktab *t, enum table_kind kind, dd_get_fn get, void *ctx)
{
	uint64_t used;
	int rc = get(ctx, &used, sizeof(used));
	if (rc != 0)
		return rc;
	if (used > t->mask + 1)
		return -EBADMSG;
	for (uint64_t k = 0; k < used; k++) {
		uint32_t idx;
		if ((rc = get(ctx, &idx, sizeof(idx))) != 0)
			return rc;
		if (idx > t->mask)
			return -EBADMSG;
		uint8_t *e = t->slots + (size_t)idx * t->stride;
		size_t rec = kind == T_PAYERS ? offsetof(struct payer, agg) : t->stride;
		if ((rc = get(ctx, e, rec)) != 0)
			return rc;
		memset(e + rec, 0, t->stride - rec);
		if (((struct kent *)(void *)e)->used == 0)
			return -EBADMSG;
		if (kind == T_PAYERS && (rc = payer_from_record((struct payer *)(void *)e)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Snapshot: u32 version, the params, the variables, the rule image (its used part), each table's
 * used slots, then the history entries a payer holds (index and entry). Sparse, so an idle payment
 * chain snapshots in a few bytes whatever its capacities.
 */
static int fraud_save(const void *state, dd_put_fn put, void *ctx)
{
	const struct fraud *s = state;
	uint32_t ver = SNAP_VERSION;
	int rc;
	if ((rc = put(ctx, &ver, sizeof(ver))) != 0 || (rc = put(ctx, &s->p, sizeof(s->p))) != 0 ||
	    (rc = put(ctx, &s->v, sizeof(s->v))) != 0 || (rc = put(ctx, s->img, dd_frules_used_size(s->img))) != 0 ||
	    (rc = save_table(&s->payers, T_PAYERS, put, ctx)) != 0 ||
	    (rc = save_table(&s->pairs, T_PLAIN, put, ctx)) != 0 ||
	    (rc = save_table(&s->devices, T_PLAIN, put, ctx)) != 0 ||
	    (rc = save_table(&s->merchants, T_MERCHANTS, put, ctx)) != 0)
		return rc;
	uint64_t live = 0;
	for (uint32_t i = 0; i < s->nblocks; i++)
		live += s->hist[i].payer != NIL;
	rc = put(ctx, &live, sizeof(live));
	for (uint32_t i = 0; rc == 0 && i < s->nblocks; i++)
		if (s->hist[i].payer != NIL && (rc = put(ctx, &i, sizeof(i))) == 0)
			rc = put(ctx, &s->hist[i], sizeof(s->hist[i]));
	return rc;
}

static int fraud_load(void *state, dd_get_fn get, void *ctx)
{
	struct fraud *s = state;
	uint32_t ver;
	struct dd_fraud_params p;
	int rc;
	if ((rc = get(ctx, &ver, sizeof(ver))) != 0)
		return rc;
	if (ver != SNAP_VERSION)
		return -EBADMSG;
	if ((rc = get(ctx, &p, sizeof(p))) != 0)
		return rc;
	if (memcmp(&p, &s->p, sizeof(p)) != 0)
		return -EINVAL;
	struct dd_frules *own = s->own;
	s->img = own;
	if ((rc = get(ctx, &s->v, sizeof(s->v))) != 0 || (rc = get(ctx, own, sizeof(*own))) != 0)
		return rc;
	if (own->magic != DD_FRULES_MAGIC || own->nmerchants > s->p.merchant_table || own->nrules > DD_FR_MAX_RULES ||
	    own->nareas > DD_FR_MAX_AREAS)
		return -EBADMSG;
	own->merchant_cap = s->p.merchant_table;
	if ((rc = get(ctx, own->merchant, (size_t)own->nmerchants * sizeof(own->merchant[0]))) != 0 ||
	    (rc = load_table(&s->payers, T_PAYERS, get, ctx)) != 0 ||
	    (rc = load_table(&s->pairs, T_PLAIN, get, ctx)) != 0 ||
	    (rc = load_table(&s->devices, T_PLAIN, get, ctx)) != 0 ||
	    (rc = load_table(&s->merchants, T_MERCHANTS, get, ctx)) != 0)
		return rc;
	uint64_t live;
	if ((rc = get(ctx, &live, sizeof(live))) != 0)
		return rc;
	if (live > s->nblocks)
		return -EBADMSG;
	for (uint64_t k = 0; k < live; k++) {
		uint32_t i;
		if ((rc = get(ctx, &i, sizeof(i))) != 0)
			return rc;
		if (i >= s->nblocks || (rc = get(ctx, &s->hist[i], sizeof(s->hist[i]))) != 0)
			return rc ? rc : -EBADMSG;
	}
	if (s->nblocks > 0 && s->v.hist_next >= s->nblocks)
		return -EBADMSG;
	/* indexes and counts from the file are bounds-checked before anything follows them */
	for (uint32_t i = 0; i < s->nblocks; i++) {
		const struct hblock *b = &s->hist[i];
		if ((b->next != NIL && b->next >= s->nblocks) || (b->payer != NIL && b->payer > s->payers.mask) ||
		    (b->payer != NIL && (b->n == 0 || b->first + b->n > HBLOCK)))
			return -EBADMSG;
	}
	/* every payer's list is a chain of its own entries, head to tail, with no cycle */
	for (uint64_t i = 0; i <= s->payers.mask; i++) {
		const struct payer *py = (const struct payer *)(void *)(s->payers.slots + i * sizeof(struct payer));
		if (!py->h.used)
			continue;
		if ((py->head == NIL) != (py->tail == NIL) || py->rn > RECENT || py->r0 >= RECENT)
			return -EBADMSG;
		uint32_t last = NIL, steps = 0;
		for (uint32_t e = py->head; e != NIL; e = s->hist[e].next) {
			if (e >= s->nblocks || s->hist[e].payer != i || ++steps > s->nblocks)
				return -EBADMSG;
			last = e;
		}
		if (last != py->tail)
			return -EBADMSG;
	}
	set_window(s);
	return 0;
}

static void fraud_counters(const void *state, uint64_t *v)
{
	const struct fraud *s = state;
	memcpy(v, s->v.c, sizeof(s->v.c));
}

const struct dd_op_ops dd_fraud_op = {
	.name = "fraud",
	.id = DD_OP_FRAUD,
	.max_out = 1,
	.memsize = fraud_memsize,
	.init = fraud_init,
	.apply = fraud_apply,
	.apply_run = fraud_apply_run,
	.save = fraud_save,
	.load = fraud_load,
	.ncounters = C__COUNT,
	.counter_names = counter_names,
	.counters = fraud_counters,
};
