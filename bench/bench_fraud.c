/* SPDX-License-Identifier: MIT */
/*
 * bench_fraud: the fraud operator (ops/fraud/fraud.h) with every default rule, through a chain as
 * the payment worker runs it, on a seeded synthetic day of Indian retail payments; and, on the
 * first payments of the same stream, the seed's own engine (bench/peer_fraud.py: the user's
 * paytm_fraud_engine.py imported from where it is, its random and hash-based parts replaced by the
 * spec's deterministic rules), which must decide every payment the same way.
 *
 * The stream (built in memory before anything is timed, events made by the wire decoder):
 *   payers     --payers accounts, each paying at least once; the rest of the payments go to them
 *              by a Pareto weight (most pay a few times, a few pay a hundred times and more); one
 *              home city each (weighted Indian cities), 88% share a location on ~92% of their
 *              payments (a few tens of metres of GPS jitter), 0.3% fly to another city that day;
 *              one device each, 3% of payments from a second device, ~2% share a family device
 *              (at most 3 payers), 0.05% sit on device farms (~10 payers each)
 *   times      non-decreasing over one day from 00:00 IST, with the daily rhythm of UPI traffic
 *              (quiet nights, a morning rise, an evening peak)
 *   kinds      P2M 55% (to --merchants merchants, popularity skewed, MCCs of retail), bill 10%
 *              (to a few dozen billers), P2P 35% (to another account); UPI mostly, card, wallet
 *   amounts    log-normal by kind (medians Rs 180 / Rs 800 / Rs 400), capped at Rs 2,00,000;
 *              P2P amounts whole rupees, often round tens or hundreds
 *   merchants  30% of them in a merchant risk table (risk mostly 0-50, 13% 51-70, 7% over 70;
 *              the few merchants with risky MCCs over 70), the rest absent (risk 0)
 *   fraud      a sprinkle (about 0.6% of payments) of episodes, each built to fire one rule family:
 *              bursts, repeated amounts, hourly and daily sums, structuring, round and
 *              just-below-limit amounts, a large payment from a new device, a shared device,
 *              impossible travel, large late-night payments; and one invalid payment in 50,000
 * The rules are the built-in default set plus a `table merchant_risk` block (compiled with
 * dd_frules_compile, installed with dd_fraud_install on every fresh chain). That set has no MCC or
 * risk-area table, so `high_risk_area` never fires and `merchant_category` adds its default 5 to
 * every merchant payment; --extra-tables adds both tables (9 MCC scores, 8 small circles in the
 * largest cities), for the rules and for the peer.
 * The operator is sized for the stream: payers, (payer, device) pairs, devices and merchants as
 * the stream has them, history for the most payments in any 24 h (the largest window); its
 * "table full" and "history evicted" counters must stay 0.
 *
 * Measured:
 *   throughput     every event through a fresh chain (init and rule install not timed) in runs of
 *                  --burst events (64: the daemon's worker burst), input positions as causes, the
 *                  decisions taken after each run and counted by action (the checksum every pass
 *                  must reproduce); median of --passes passes
 *   per payment    one more pass on a fresh chain, one chain run of the payment's two events at a
 *                  time between two lfence+rdtsc, into an HDR histogram (ns): the figures include
 *                  the two TSC reads (the empty timed region is reported next to them)
 *   peer           the first --peer-payments payments written as the spec's CSV (and the tables
 *                  as their CSV files) into a temporary directory; `python3 bench/peer_fraud.py` runs
 *                  the seed over them (its own timing: the scoring loop only) and writes its
 *                  decisions; dadar's chain runs the same payments (fresh chain, median of passes)
 *                  and the decisions are compared payment by payment (txn_id, score, action,
 *                  reasons). Any difference: the first 10 are printed and the exit status is 1.
 *                  No python3 or no seed: said, and skipped (exit 0).
 *
 * usage: bench_fraud [--payers N] [--payments N] [--merchants N] [--passes N] [--seed S]
 *                    [--burst N] [--peer-payments K] [--seed-dir DIR] [--peer-script FILE]
 *                    [--keep] [--extra-tables] [--small-pages] [--json FILE]
 *   --keep           leave the peer's input and decision files in /tmp (the path is printed)
 *   --small-pages    no transparent huge pages for the operator's tables (the daemon has hugepages)
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include "dataplane/wire/payment.h"
#include "ops/chain.h"
#include "ops/fraud/fraud.h"
#include "ops/fraud/rules.h"
#include "shm/hdr.h"
#include "shm/telemetry.h"
#include "tools/paths.h"
#include "tools/paygen.h"

#define NS_PER_S  UINT64_C(1000000000)
#define MIN_NS    (60 * NS_PER_S)
#define HOUR_NS   (3600 * NS_PER_S)
#define DAY_NS    (24 * HOUR_NS)
#define RUPEE     100                  /* paise */
#define START_NS  DD_PAYGEN_DEFAULT_START_NS /* 2026-03-10 00:00 IST */
#define MAX_PASSES 100
#define MAX_BURST  512
#define TARGET_PPS 5e6                 /* the figure: payments/s on one lcore */

static const char *prog = "bench_fraud";

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
	if (p == NULL) {
		fprintf(stderr, "%s: out of memory (%zu bytes)\n", prog, n);
		exit(1);
	}
	return p;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- random numbers: splitmix64, one sequence from --seed ----------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct rng *r)
{
	return mix64(r->s += 0x9e3779b97f4a7c15ull);
}

/* Uniform in [0, n), n > 0. */
static uint64_t below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(r) * n) >> 64);
}

static uint64_t between(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + below(r, hi - lo + 1);
}

/* Uniform in (0, 1]. */
static double unit(struct rng *r)
{
	return (double)((rnd(r) >> 11) + 1) * 0x1p-53;
}

static bool chance(struct rng *r, double p)
{
	return unit(r) <= p;
}

static double normal(struct rng *r)
{
	return sqrt(-2.0 * log(unit(r))) * cos(2.0 * M_PI * unit(r));
}

/* ---- the synthetic day -------------------------------------------------------------------------- */

struct city {
	int32_t lat, lon; /* centre, millionths of a degree */
	unsigned weight;  /* share of payers */
};

static const struct city cities[] = {
	{ 19076000, 72877700, 20 }, /* Mumbai */    { 28613900, 77209000, 20 }, /* Delhi */
	{ 12971600, 77594600, 15 }, /* Bengaluru */ { 17385000, 78486700, 10 }, /* Hyderabad */
	{ 13082700, 80270700, 10 }, /* Chennai */   { 22572600, 88363900, 10 }, /* Kolkata */
	{ 18520400, 73856700, 7 },  /* Pune */      { 23022500, 72571400, 7 },  /* Ahmedabad */
	{ 26912400, 75787300, 4 },  /* Jaipur */    { 26846700, 80946200, 4 },  /* Lucknow */
	{ 21170200, 72831100, 4 },  /* Surat */     { 26449900, 80331900, 2 },  /* Kanpur */
	{ 21145800, 79088200, 3 },  /* Nagpur */    { 22719600, 75857700, 3 },  /* Indore */
	{ 23259900, 77412600, 2 },  /* Bhopal */    { 25594100, 85137600, 3 },  /* Patna */
	{ 30733300, 76779400, 2 },  /* Chandigarh */{ 9931200, 76267300, 2 },   /* Kochi */
	{ 26144500, 91736200, 2 },  /* Guwahati */  { 17686800, 83218500, 2 },  /* Visakhapatnam */
};
#define NCITIES (sizeof(cities) / sizeof(cities[0]))

/* Payments per IST hour, relative. */
static const unsigned hour_weight[24] = {
	4, 2, 1, 1, 1, 2, 4, 8, 11, 12, 13, 13, 14, 12, 11, 11, 12, 13, 15, 16, 15, 12, 8, 5,
};

static const struct {
	uint16_t mcc;
	unsigned weight;
} retail_mccs[] = {
	{ 5411, 20 }, { 5499, 12 }, { 5812, 12 }, { 5814, 10 }, { 5541, 8 }, { 5912, 8 }, { 4121, 8 },
	{ 5651, 6 },  { 5311, 5 },  { 5732, 4 },  { 4111, 4 },  { 7832, 2 }, { 5977, 2 }, { 8062, 2 },
	{ 8220, 1 },  { 5942, 1 },  { 7011, 1 },  { 4511, 1 },
};
#define NRETAIL_MCCS (sizeof(retail_mccs) / sizeof(retail_mccs[0]))
static const uint16_t biller_mccs[] = { 4900, 4814, 4899, 6300 };
static const uint16_t risky_mccs[] = { 7995, 6051, 4829, 5967, 5993 };

/* --extra-tables: an MCC table and high-risk areas (the shipped rule set has neither). */
static const struct {
	uint16_t mcc, score;
} extra_mcc[] = {
	{ 7995, 25 }, { 6051, 20 }, { 4829, 20 }, { 5967, 15 }, { 5993, 10 }, { 5732, 8 }, { 5411, 0 }, { 5499, 0 },
	{ 4900, 0 },
};
#define NEXTRA_AREAS 8u  /* 2.5 km circles 2 km off the centres of the first cities */
#define AREA_OFF_E6  18000
#define AREA_RADIUS  "2.5"

/* Fraud-like episodes, each built to fire one rule family. */
enum episode {
	EP_BURST, EP_REPEAT, EP_HOUR_SUM, EP_DAY_SUM, EP_STRUCTURING, EP_ROUND, EP_BELOW, EP_NEW_DEVICE_LARGE,
	EP_SHARED_DEVICE, EP_IMPOSSIBLE_TRAVEL, EP_LATE_NIGHT, EP__COUNT
};
static const char *const episode_names[EP__COUNT] = {
	"burst", "repeated", "hour_sum", "day_sum", "structuring", "round", "below_limit", "new_device_large",
	"shared_device", "impossible_travel", "late_night",
};

#define EPISODES_PER  10000u /* one episode of each kind per this many payments */
#define INVALID_PER   50000u /* one invalid payment per this many */
#define BILLERS       48u

/* Id spaces of devices (fingerprints are a bijection of the index, so spaces never collide). */
#define DEV_PRIMARY   UINT64_C(0)
#define DEV_SECOND    (UINT64_C(1) << 40)
#define DEV_FARM      (UINT64_C(2) << 40)
#define DEV_EPISODE   (UINT64_C(3) << 40)

struct gpayer {
	int32_t lat, lon;      /* home */
	int32_t lat2, lon2;    /* travellers: where they land */
	uint64_t depart, land; /* travellers: ns from the start; UINT64_MAX: stays home */
	uint64_t device;       /* fingerprint of the usual device */
	uint8_t located;       /* shares a location */
};

struct gmerchant {
	uint64_t id;
	uint16_t mcc;
	uint8_t listed; /* in the merchant risk table */
	uint8_t risk;
};

struct gen {
	struct rng r;
	uint32_t npayers, nmerchants;
	uint64_t dev_key;
	struct gpayer *payers;
	struct gmerchant *merchants;
	struct dd_paygen_msg *msg; /* in creation order; txn_id holds the creation index until sorted */
	uint64_t n, cap;
	uint64_t episodes[EP__COUNT], episode_payments;
	unsigned hour_total, city_total, mcc_total;
};

static uint64_t payer_id(uint64_t i)
{
	/* ten digits from 7000000000, a bijection of i mod 3e9 (the multiplier is prime to 2, 3, 5) */
	return UINT64_C(7000000000) + (i * UINT64_C(2654435761) + UINT64_C(1234567)) % UINT64_C(3000000000);
}

static uint64_t merchant_id(uint64_t i)
{
	return UINT64_C(50000000000) + (i * UINT64_C(2654435761) + UINT64_C(7654321)) % UINT64_C(4000000000);
}

static uint64_t device_id(const struct gen *g, uint64_t index)
{
	return mix64(g->dev_key ^ index) | 1; /* never 0 */
}

static unsigned pick_city(struct gen *g)
{
	uint64_t w = below(&g->r, g->city_total);
	unsigned c = 0;
	while (w >= cities[c].weight)
		w -= cities[c++].weight;
	return c;
}

/* A time of the day by the daily rhythm: ns from the start. */
static uint64_t day_time(struct gen *g)
{
	uint64_t w = below(&g->r, g->hour_total);
	unsigned h = 0;
	while (w >= hour_weight[h])
		w -= hour_weight[h++];
	return h * HOUR_NS + below(&g->r, HOUR_NS);
}

static int32_t jitter(struct gen *g, int32_t v, unsigned e6)
{
	return v + (int32_t)below(&g->r, 2 * e6 + 1) - (int32_t)e6;
}

static void setup_payers(struct gen *g)
{
	uint32_t nfarms = g->npayers / 20000 + 1;
	for (uint32_t i = 0; i < g->npayers; i++) {
		struct gpayer *p = &g->payers[i];
		unsigned c = pick_city(g);
		p->lat = jitter(g, cities[c].lat, 80000); /* within ~9 km of the centre */
		p->lon = jitter(g, cities[c].lon, 80000);
		p->located = chance(&g->r, 0.88);
		p->depart = p->land = UINT64_MAX;
		if (chance(&g->r, 0.003)) {
			unsigned c2 = (c + 1 + (unsigned)below(&g->r, NCITIES - 1)) % NCITIES;
			p->lat2 = jitter(g, cities[c2].lat, 40000);
			p->lon2 = jitter(g, cities[c2].lon, 40000);
			double km = dd_haversine_km(p->lat, p->lon, p->lat2, p->lon2);
			p->depart = between(&g->r, 6 * HOUR_NS, 20 * HOUR_NS);
			p->land = p->depart + HOUR_NS + (uint64_t)(km / 700.0 * (double)HOUR_NS);
		}
		uint64_t h = mix64(i ^ 0x5eedull);
		if (h % 10000 < 5)
			p->device = device_id(g, DEV_FARM + h / 10000 % nfarms);
		else if (h % 100 < 2)
			p->device = device_id(g, DEV_PRIMARY + i - i % 3); /* the first of its three: a family phone */
		else
			p->device = device_id(g, DEV_PRIMARY + i);
	}
}

static void setup_merchants(struct gen *g)
{
	for (uint32_t i = 0; i < g->nmerchants; i++) {
		struct gmerchant *m = &g->merchants[i];
		m->id = merchant_id(i);
		if (i < BILLERS) {
			m->mcc = biller_mccs[i % (sizeof(biller_mccs) / sizeof(biller_mccs[0]))];
			m->listed = 1;
			m->risk = (uint8_t)below(&g->r, 11);
			continue;
		}
		if (chance(&g->r, 0.01)) {
			m->mcc = risky_mccs[below(&g->r, sizeof(risky_mccs) / sizeof(risky_mccs[0]))];
			m->listed = 1;
			m->risk = (uint8_t)between(&g->r, 71, 100);
			continue;
		}
		uint64_t w = below(&g->r, g->mcc_total);
		unsigned k = 0;
		while (w >= retail_mccs[k].weight)
			w -= retail_mccs[k++].weight;
		m->mcc = retail_mccs[k].mcc;
		m->listed = chance(&g->r, 0.30);
		if (m->listed) {
			double u = unit(&g->r);
			m->risk = (uint8_t)(u <= 0.80 ? below(&g->r, 51) : u <= 0.93 ? between(&g->r, 51, 70) : between(&g->r, 71, 100));
		}
	}
}

/* A log-normal amount for a payment of `kind`, in paise. */
static int64_t amount_for(struct gen *g, uint8_t kind)
{
	double med = kind == DD_PAYGEN_KIND_P2M ? 180 : kind == DD_PAYGEN_KIND_BILL ? 800 : 400;
	double sig = kind == DD_PAYGEN_KIND_P2M ? 1.25 : kind == DD_PAYGEN_KIND_BILL ? 0.8 : 1.3;
	double rs = med * exp(sig * normal(&g->r));
	if (rs < 1)
		rs = 1;
	if (rs > 200000)
		rs = 200000;
	if (kind == DD_PAYGEN_KIND_P2P) {
		int64_t whole = llround(rs);
		if (whole >= 200 && chance(&g->r, 0.5))
			whole = (whole + 50) / 100 * 100;
		else if (whole >= 20 && chance(&g->r, 0.4))
			whole = (whole + 5) / 10 * 10;
		return whole * RUPEE;
	}
	if (kind == DD_PAYGEN_KIND_P2M && chance(&g->r, 0.45))
		return llround(rs) * RUPEE;
	int64_t paise = llround(rs * RUPEE);
	return paise > 0 ? paise : 1;
}

static struct dd_paygen_msg *new_msg(struct gen *g)
{
	if (g->n == g->cap) {
		fprintf(stderr, "%s: internal: more payments made than planned (%" PRIu64 ")\n", prog, g->cap);
		exit(1);
	}
	struct dd_paygen_msg *m = &g->msg[g->n];
	memset(m, 0, sizeof(*m));
	m->txn_id = g->n++;
	return m;
}

/* An ordinary payment of payer `pi` at `t` (ns from the start); episodes then change what they need. */
static struct dd_paygen_msg *payment(struct gen *g, uint32_t pi, uint64_t t)
{
	const struct gpayer *p = &g->payers[pi];
	struct dd_paygen_msg *m = new_msg(g);
	m->event_ns = START_NS + t;
	m->payer = payer_id(pi);
	memcpy(m->currency, "INR", 3);
	m->device = chance(&g->r, 0.03) ? device_id(g, DEV_SECOND + pi) : p->device;
	double u = unit(&g->r);
	if (u <= 0.55) {
		m->kind = DD_PAYGEN_KIND_P2M;
		/* popularity: index n * v^2.5 puts 1% of the payments on the top merchant */
		uint32_t nretail = g->nmerchants - BILLERS;
		uint32_t k = (uint32_t)((double)nretail * pow(unit(&g->r), 2.5));
		const struct gmerchant *gm = &g->merchants[BILLERS + (k < nretail ? k : nretail - 1)];
		m->merchant = gm->id;
		m->mcc = gm->mcc;
		u = unit(&g->r);
		m->channel = u <= 0.75 ? DD_PAYGEN_CHANNEL_UPI : u <= 0.90 ? DD_PAYGEN_CHANNEL_CARD : DD_PAYGEN_CHANNEL_WALLET;
	} else if (u <= 0.65) {
		m->kind = DD_PAYGEN_KIND_BILL;
		const struct gmerchant *gm = &g->merchants[below(&g->r, BILLERS)];
		m->merchant = gm->id;
		m->mcc = gm->mcc;
		u = unit(&g->r);
		m->channel = u <= 0.60 ? DD_PAYGEN_CHANNEL_UPI : u <= 0.85 ? DD_PAYGEN_CHANNEL_CARD : DD_PAYGEN_CHANNEL_WALLET;
	} else {
		m->kind = DD_PAYGEN_KIND_P2P;
		uint64_t q = below(&g->r, g->npayers);
		m->payee = payer_id(q == pi ? (q + 1) % g->npayers : q);
		m->channel = chance(&g->r, 0.95) ? DD_PAYGEN_CHANNEL_UPI : DD_PAYGEN_CHANNEL_WALLET;
	}
	m->amount = amount_for(g, m->kind);
	if (p->located && chance(&g->r, 0.92) && !(t >= p->depart && t < p->land)) {
		bool away = t >= p->land;
		m->lat_e6 = jitter(g, away ? p->lat2 : p->lat, 300); /* ~30 m of GPS jitter */
		m->lon_e6 = jitter(g, away ? p->lon2 : p->lon, 300);
	}
	return m;
}

/* Start of an episode lasting `span` ns: by the daily rhythm, moved back to end within the day. */
static uint64_t episode_start(struct gen *g, uint64_t span)
{
	uint64_t t = day_time(g);
	return t + span < DAY_NS ? t : DAY_NS - 1 - span;
}

/* Rupees lo..hi with random paise. */
static int64_t rupees(struct gen *g, int64_t lo, int64_t hi)
{
	return (int64_t)between(&g->r, (uint64_t)(lo * RUPEE), (uint64_t)(hi * RUPEE));
}

static void episode(struct gen *g, enum episode e)
{
	uint32_t pi = (uint32_t)below(&g->r, g->npayers);
	const struct gpayer *p = &g->payers[pi];
	uint64_t before = g->n;
	switch (e) {
	case EP_BURST: { /* 22-32 small payments in 15-50 minutes */
		unsigned n = (unsigned)between(&g->r, 22, 32);
		uint64_t span = between(&g->r, 15, 50) * MIN_NS, t0 = episode_start(g, span);
		for (unsigned i = 0; i < n; i++)
			payment(g, pi, t0 + span * i / n + below(&g->r, span / n))->amount = rupees(g, 50, 500);
		break;
	}
	case EP_REPEAT: { /* 5-7 payments of one amount to one merchant in 5-50 minutes */
		unsigned n = (unsigned)between(&g->r, 5, 7);
		uint64_t span = between(&g->r, 5, 50) * MIN_NS, t0 = episode_start(g, span);
		int64_t a = (int64_t)between(&g->r, 99, 2000) * RUPEE;
		const struct gmerchant *gm = &g->merchants[BILLERS + below(&g->r, g->nmerchants - BILLERS)];
		for (unsigned i = 0; i < n; i++) {
			struct dd_paygen_msg *m = payment(g, pi, t0 + span * i / n);
			m->kind = DD_PAYGEN_KIND_P2M;
			m->payee = 0;
			m->merchant = gm->id;
			m->mcc = gm->mcc;
			m->amount = a;
		}
		break;
	}
	case EP_HOUR_SUM: { /* 3-4 payments of Rs 15,000-28,000 in 10-50 minutes */
		unsigned n = (unsigned)between(&g->r, 3, 4);
		uint64_t span = between(&g->r, 10, 50) * MIN_NS, t0 = episode_start(g, span);
		for (unsigned i = 0; i < n; i++)
			payment(g, pi, t0 + span * i / n)->amount = rupees(g, 15000, 28000);
		break;
	}
	case EP_DAY_SUM: { /* 5-8 payments of Rs 28,000-45,000 over 8-20 hours */
		unsigned n = (unsigned)between(&g->r, 5, 8);
		uint64_t span = between(&g->r, 8, 20) * HOUR_NS, t0 = episode_start(g, span);
		for (unsigned i = 0; i < n; i++)
			payment(g, pi, t0 + span * i / n)->amount = rupees(g, 28000, 45000);
		break;
	}
	case EP_STRUCTURING: { /* 3-5 payments of Rs 9,000-9,999 over 1-6 hours */
		unsigned n = (unsigned)between(&g->r, 3, 5);
		uint64_t span = between(&g->r, 1, 6) * HOUR_NS, t0 = episode_start(g, span);
		for (unsigned i = 0; i < n; i++)
			payment(g, pi, t0 + span * i / n)->amount =
				chance(&g->r, 0.25) ? 9999 * RUPEE : (int64_t)between(&g->r, 9000, 9998) * RUPEE;
		break;
	}
	case EP_ROUND:
	case EP_BELOW: { /* 1-2 payments of exactly Rs 10k, 25k, 50k, 1L, or Rs 1 less */
		static const int64_t round[4] = { 10000, 25000, 50000, 100000 };
		unsigned n = (unsigned)between(&g->r, 1, 2);
		uint64_t t0 = episode_start(g, 2 * HOUR_NS);
		for (unsigned i = 0; i < n; i++)
			payment(g, pi, t0 + below(&g->r, 2 * HOUR_NS))->amount =
				(round[below(&g->r, 4)] - (e == EP_BELOW)) * RUPEE;
		break;
	}
	case EP_NEW_DEVICE_LARGE: { /* a device never seen, Rs 26,000-90,000 */
		struct dd_paygen_msg *m = payment(g, pi, episode_start(g, 0));
		m->device = device_id(g, DEV_EPISODE + g->n);
		m->amount = rupees(g, 26000, 90000);
		break;
	}
	case EP_SHARED_DEVICE: { /* one device, 5-8 payers, one payment each over 1-4 hours */
		unsigned n = (unsigned)between(&g->r, 5, 8);
		uint64_t span = between(&g->r, 1, 4) * HOUR_NS, t0 = episode_start(g, span);
		uint64_t dev = device_id(g, DEV_EPISODE + g->n);
		for (unsigned i = 0; i < n; i++) {
			uint32_t q = i == 0 ? pi : (uint32_t)below(&g->r, g->npayers);
			payment(g, q, t0 + span * i / n)->device = dev;
		}
		break;
	}
	case EP_IMPOSSIBLE_TRAVEL: { /* at home, then 5-40 minutes later from a city over 1,000 km away */
		uint64_t gap = between(&g->r, 5, 40) * MIN_NS, t0 = episode_start(g, gap);
		unsigned c;
		do
			c = (unsigned)below(&g->r, NCITIES);
		while (dd_haversine_km(p->lat, p->lon, cities[c].lat, cities[c].lon) < 1000);
		struct dd_paygen_msg *a = payment(g, pi, t0), *b = payment(g, pi, t0 + gap);
		a->lat_e6 = jitter(g, p->lat, 300);
		a->lon_e6 = jitter(g, p->lon, 300);
		b->lat_e6 = jitter(g, cities[c].lat, 20000);
		b->lon_e6 = jitter(g, cities[c].lon, 20000);
		break;
	}
	case EP_LATE_NIGHT: { /* Rs 10,500-40,000 between 23:00 and 05:59 IST */
		static const unsigned hours[7] = { 23, 0, 1, 2, 3, 4, 5 };
		uint64_t t = hours[below(&g->r, 7)] * HOUR_NS + below(&g->r, HOUR_NS);
		payment(g, pi, t)->amount = rupees(g, 10500, 40000);
		break;
	}
	case EP__COUNT:
		break;
	}
	g->episodes[e]++;
	g->episode_payments += g->n - before;
}

/* Payments episodes make at most (the planning bound). */
static const unsigned episode_max[EP__COUNT] = { 32, 7, 4, 8, 5, 2, 2, 1, 8, 2, 1 };

struct sortkey {
	uint64_t t;
	uint64_t i;
};

static int cmp_key(const void *a, const void *b)
{
	const struct sortkey *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

/*
 * Pareto(1.5) activity weights capped at 100: with 4 payments a payer on average, the median payer
 * pays 3 times, 1% of payers 25 times or more, the busiest 100 to 150 times (every 7-10 minutes of
 * the waking day).
 */
static double *activity(struct gen *g)
{
	double *cum = xalloc((size_t)g->npayers * sizeof(double));
	double total = 0;
	for (uint32_t i = 0; i < g->npayers; i++) {
		double w = pow(unit(&g->r), -1.0 / 1.5);
		total += w < 100 ? w : 100;
		cum[i] = total;
	}
	return cum;
}

static uint32_t weighted_payer(struct gen *g, const double *cum)
{
	double x = unit(&g->r) * cum[g->npayers - 1];
	uint32_t lo = 0, hi = g->npayers - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cum[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct stream {
	struct dd_event *ev;   /* 2 per payment, in time order */
	uint64_t npay;
	struct gmerchant *merchants;
	uint32_t nmerchants, nlisted;
	uint64_t episodes[EP__COUNT], episode_payments, invalid;
	uint64_t kinds[3], located, gen_ns; /* P2M, bill, P2P */
};

static void build(struct stream *s, uint64_t seed, uint32_t npayers, uint64_t npay, uint32_t nmerchants)
{
	double t0 = now_s();
	static struct gen g;
	g.r.s = seed;
	g.npayers = npayers;
	g.nmerchants = nmerchants;
	g.dev_key = mix64(seed ^ 0xde71ce0ull);
	for (unsigned h = 0; h < 24; h++)
		g.hour_total += hour_weight[h];
	for (unsigned c = 0; c < NCITIES; c++)
		g.city_total += cities[c].weight;
	for (unsigned k = 0; k < NRETAIL_MCCS; k++)
		g.mcc_total += retail_mccs[k].weight;
	g.payers = xalloc((size_t)npayers * sizeof(*g.payers));
	g.merchants = xalloc((size_t)nmerchants * sizeof(*g.merchants));
	setup_payers(&g);
	setup_merchants(&g);
	g.cap = npay;
	g.msg = xalloc((size_t)npay * sizeof(*g.msg));

	/* the episodes first (they are counted in --payments), then one payment of every payer, then
	 * the rest by activity; ordinary payments take shuffled payers at times of the rhythm */
	uint64_t per_kind = npay / EPISODES_PER, planned = 0;
	for (unsigned e = 0; e < EP__COUNT; e++)
		planned += per_kind * episode_max[e];
	if (planned > npay / 2)
		per_kind = 0;
	for (uint64_t k = 0; k < per_kind; k++)
		for (unsigned e = 0; e < EP__COUNT; e++)
			episode(&g, (enum episode)e);
	uint64_t nord = npay - g.n;
	uint32_t *who = xalloc((size_t)nord * sizeof(uint32_t));
	double *cum = activity(&g);
	for (uint64_t j = 0; j < nord; j++)
		who[j] = j < npayers ? (uint32_t)j : weighted_payer(&g, cum);
	free(cum);
	for (uint64_t j = nord; j > 1; j--) {
		uint64_t k = below(&g.r, j);
		uint32_t x = who[j - 1];
		who[j - 1] = who[k];
		who[k] = x;
	}
	for (uint64_t j = 0; j < nord; j++)
		payment(&g, who[j], day_time(&g));
	free(who);
	/* a few invalid payments: no amount, or a currency that does not exist */
	for (uint64_t k = 0; k < npay / INVALID_PER; k++) {
		struct dd_paygen_msg *m = &g.msg[below(&g.r, npay)];
		if (chance(&g.r, 0.5))
			m->amount = 0;
		else
			memcpy(m->currency, "XYZ", 3);
	}

	struct sortkey *key = xalloc((size_t)npay * sizeof(*key));
	for (uint64_t i = 0; i < npay; i++)
		key[i] = (struct sortkey){ g.msg[i].event_ns, i };
	qsort(key, npay, sizeof(*key), cmp_key);
	s->ev = xalloc((size_t)npay * 2 * sizeof(struct dd_event));
	for (uint64_t r = 0; r < npay; r++) {
		struct dd_paygen_msg *m = &g.msg[key[r].i];
		m->txn_id = r + 1;
		uint8_t wire[DD_PAYGEN_MSG_LEN];
		dd_paygen_encode(m, wire);
		struct dd_event *e = &s->ev[2 * r];
		if (dd_payment_decode(wire, sizeof(wire), e) != 2) {
			fprintf(stderr, "%s: internal: a generated payment does not decode\n", prog);
			exit(1);
		}
		e[0].seq = e[1].seq = r + 1;
		s->kinds[m->kind == DD_PAYGEN_KIND_P2M ? 0 : m->kind == DD_PAYGEN_KIND_BILL ? 1 : 2]++;
		s->located += m->lat_e6 != 0 || m->lon_e6 != 0;
		s->invalid += m->amount <= 0 || memcmp(m->currency, "INR", 3) != 0;
	}
	free(key);
	free(g.msg);
	free(g.payers);
	s->npay = npay;
	s->merchants = g.merchants;
	s->nmerchants = nmerchants;
	for (uint32_t i = 0; i < nmerchants; i++)
		s->nlisted += g.merchants[i].listed;
	memcpy(s->episodes, g.episodes, sizeof(s->episodes));
	s->episode_payments = g.episode_payments;
	s->gen_ns = (uint64_t)((now_s() - t0) * 1e9);
}

/* ---- sizing the operator for the stream --------------------------------------------------------- */

/* Distinct (a, b) keys among n, with an open-addressed set in scratch memory. */
struct kset {
	uint64_t *k;   /* pairs: a, b */
	uint8_t *used;
	uint64_t mask, n;
};

static void kset_init(struct kset *s, uint64_t n)
{
	uint64_t slots = 64;
	while (slots < 2 * n)
		slots <<= 1;
	s->k = xalloc(slots * 2 * sizeof(uint64_t));
	s->used = calloc(slots, 1);
	if (s->used == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	s->mask = slots - 1;
	s->n = 0;
}

/* Add (a, b); returns its slot. */
static uint64_t kset_add(struct kset *s, uint64_t a, uint64_t b)
{
	for (uint64_t h = mix64(a ^ mix64(b)) & s->mask;; h = (h + 1) & s->mask) {
		if (!s->used[h]) {
			s->used[h] = 1;
			s->k[2 * h] = a;
			s->k[2 * h + 1] = b;
			s->n++;
			return h;
		}
		if (s->k[2 * h] == a && s->k[2 * h + 1] == b)
			return h;
	}
}

static void kset_free(struct kset *s)
{
	free(s->k);
	free(s->used);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

struct sizing {
	uint64_t payers, pairs, devices, merchants, window_max;
	uint32_t per_payer_p50, per_payer_p99, per_payer_max;
	double earlier_mean; /* the payer's earlier payments in the last 24 h, on average per payment */
};

/*
 * What the stream needs of each table: distinct keys, and the most payments in any 24 h window;
 * and how busy payers are (what the windowed rules walk through).
 */
static void size_for(const struct stream *s, struct sizing *z)
{
	struct kset a, b, c, d;
	kset_init(&a, s->npay);
	kset_init(&b, s->npay);
	kset_init(&c, s->npay);
	kset_init(&d, s->nmerchants + 1);
	uint32_t *count = calloc(a.mask + 1, sizeof(uint32_t));
	if (count == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	uint64_t lo = 0, earlier = 0;
	z->window_max = 0;
	for (uint64_t i = 0; i < s->npay; i++) {
		const struct dd_event *e = &s->ev[2 * i];
		/* the stream lies within one day: every earlier payment of the payer is in its windows */
		earlier += count[kset_add(&a, e[0].u.pay.payer, 0)]++;
		kset_add(&b, e[0].u.pay.payer, e[0].u.pay.device);
		kset_add(&c, e[0].u.pay.device, 0);
		if (e[1].u.payx.merchant != 0)
			kset_add(&d, e[1].u.payx.merchant, 0);
		while (s->ev[2 * lo].event_ns + DAY_NS <= e[0].event_ns)
			lo++;
		if (i + 1 - lo > z->window_max)
			z->window_max = i + 1 - lo;
	}
	z->earlier_mean = (double)earlier / (double)s->npay;
	uint64_t n = 0;
	for (uint64_t h = 0; h <= a.mask; h++)
		if (a.used[h])
			count[n++] = count[h];
	qsort(count, n, sizeof(count[0]), cmp_u32);
	z->per_payer_p50 = count[n / 2];
	z->per_payer_p99 = count[n * 99 / 100];
	z->per_payer_max = count[n - 1];
	free(count);
	z->payers = a.n;
	z->pairs = b.n;
	z->devices = c.n;
	z->merchants = d.n;
	kset_free(&a);
	kset_free(&b);
	kset_free(&c);
	kset_free(&d);
}

/* ---- the chain ---------------------------------------------------------------------------------- */

static int small_pages;

struct bench {
	struct dd_chain_spec spec;
	struct dd_chain_params cp;
	struct dd_fraud_params fp;
	struct dd_chain chain;
	void *mem;
	size_t len;
	struct dd_frules *img; /* the default rules plus the merchant table */
	double init_s;         /* what the last fresh chain took (not timed in any figure) */
};

static void *big_alloc(size_t len)
{
	/* the daemon's tables live in hugepage memory: THP (madvise) where the kernel allows it */
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "%s: mmap(%zu) for the chain failed: %s\n", prog, len, strerror(errno));
		exit(1);
	}
	if (!small_pages)
		(void)madvise(m, len, MADV_HUGEPAGE);
	return m;
}

/* A chain as fresh as the daemon's at start, with the rule set installed. */
static void chain_fresh(struct bench *b)
{
	char err[256];
	double t0 = now_s();
	if (dd_chain_init(&b->chain, b->mem, b->len, &b->cp, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		exit(1);
	}
	int rc = dd_fraud_install(dd_chain_state(&b->chain, DD_OP_FRAUD), b->img);
	if (rc != 0) {
		fprintf(stderr, "%s: dd_fraud_install: %s\n", prog, strerror(-rc));
		exit(1);
	}
	b->init_s = now_s() - t0;
}

/* The default rule text with the merchant table (and with `extra`, the MCC and area tables) appended. */
static void compile_rules(struct bench *b, const struct stream *s, bool extra)
{
	size_t cap = strlen(dd_frules_default_text) + 4096 + (size_t)s->nlisted * 32;
	char *text = xalloc(cap);
	size_t n = (size_t)snprintf(text, cap, "%s\ntable merchant_risk\n", dd_frules_default_text);
	for (uint32_t i = 0; i < s->nmerchants; i++)
		if (s->merchants[i].listed)
			n += (size_t)snprintf(text + n, cap - n, "%" PRIu64 ",%u\n", s->merchants[i].id,
					      s->merchants[i].risk);
	n += (size_t)snprintf(text + n, cap - n, "end\n");
	if (extra) {
		n += (size_t)snprintf(text + n, cap - n, "table mcc\n");
		for (size_t i = 0; i < sizeof(extra_mcc) / sizeof(extra_mcc[0]); i++)
			n += (size_t)snprintf(text + n, cap - n, "%u,%u\n", extra_mcc[i].mcc, extra_mcc[i].score);
		n += (size_t)snprintf(text + n, cap - n, "end\ntable risk_areas\n");
		for (unsigned i = 0; i < NEXTRA_AREAS; i++)
			n += (size_t)snprintf(text + n, cap - n, "%d,%d," AREA_RADIUS "\n", cities[i].lat + AREA_OFF_E6,
					      cities[i].lon - AREA_OFF_E6);
		n += (size_t)snprintf(text + n, cap - n, "end\n");
	}
	b->img = xalloc(dd_frules_memsize(b->fp.merchant_table));
	char err[512];
	if (dd_frules_compile(text, n, "bench_fraud (default rules + merchant table)", b->img, b->fp.merchant_table,
			      err, sizeof(err), NULL, NULL, NULL) != 0) {
		fprintf(stderr, "%s: the rules do not compile: %s\n", prog, err);
		exit(1);
	}
	free(text);
}

struct tally {
	uint64_t action[4];
	uint64_t decisions;
};

static inline void take(struct dd_chain *c, struct tally *t)
{
	const struct dd_output *o = c->emit.out;
	for (unsigned k = 0; k < c->emit.n; k++)
		t->action[o[k].u.decision.action & 3]++;
	t->decisions += c->emit.n;
	dd_chain_drain(c);
}

/* Every event of the first `npay` payments in runs of `burst`; returns the seconds it took. */
static double run(struct dd_chain *c, const struct dd_event *ev, uint64_t npay, unsigned burst, struct tally *t)
{
	uint64_t cause[MAX_BURST];
	uint64_t nev = 2 * npay;
	memset(t, 0, sizeof(*t));
	double t0 = now_s();
	for (uint64_t i = 0; i < nev; i += burst) {
		unsigned n = nev - i < burst ? (unsigned)(nev - i) : burst;
		for (unsigned k = 0; k < n; k++)
			cause[k] = i + k;
		dd_chain_run(c, ev + i, cause, n);
		take(c, t);
	}
	return now_s() - t0;
}

static inline uint64_t tsc_fenced(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}

/* TSC frequency against CLOCK_MONOTONIC over 200 ms (the bench has no DPDK to ask). */
static uint64_t tsc_hz(void)
{
	double t0 = now_s();
	uint64_t c0 = __rdtsc();
	while (now_s() - t0 < 0.2)
		;
	return (uint64_t)((double)(__rdtsc() - c0) / (now_s() - t0));
}

struct lat {
	uint64_t p50, p90, p99, p999, max, empty_p50, empty_max;
	double mean;
};

/* One payment at a time (one chain run of its two events) between two fenced TSC reads. */
static void per_payment(struct bench *b, const struct stream *s, const struct dd_tsc_conv *conv, struct lat *l,
			struct tally *t)
{
	struct dd_hdr *h, *e;
	if (dd_hdr_create(&dd_tm_hdr_params, &h) != 0 || dd_hdr_create(&dd_tm_hdr_params, &e) != 0) {
		fprintf(stderr, "%s: out of memory for the histograms\n", prog);
		exit(1);
	}
	memset(t, 0, sizeof(*t));
	for (uint64_t i = 0; i < s->npay; i++) {
		uint64_t cause[2] = { 2 * i, 2 * i + 1 };
		uint64_t a = tsc_fenced();
		dd_chain_run(&b->chain, s->ev + 2 * i, cause, 2);
		uint64_t z = tsc_fenced();
		dd_hdr_record(h, dd_tsc_to_ns(conv, z - a));
		take(&b->chain, t);
	}
	/* the same two reads around nothing, as many times */
	for (uint64_t i = 0; i < s->npay; i++) {
		uint64_t a = tsc_fenced();
		uint64_t z = tsc_fenced();
		dd_hdr_record(e, dd_tsc_to_ns(conv, z - a));
	}
	l->p50 = dd_hdr_value_at_percentile(h, 50);
	l->p90 = dd_hdr_value_at_percentile(h, 90);
	l->p99 = dd_hdr_value_at_percentile(h, 99);
	l->p999 = dd_hdr_value_at_percentile(h, 99.9);
	l->max = dd_hdr_max(h);
	l->mean = dd_hdr_mean(h);
	l->empty_p50 = dd_hdr_value_at_percentile(e, 50);
	l->empty_max = dd_hdr_max(e);
	dd_hdr_free(h);
	dd_hdr_free(e);
}

/* The operator's counters by name (reading them, as the reports do). */
static uint64_t counter(const struct dd_chain *c, const char *name)
{
	const struct dd_op_ops *ops = c->op[0].ops;
	uint64_t v[DD_OP_MAX_COUNTERS];
	ops->counters(c->op[0].state, v);
	for (unsigned i = 0; i < ops->ncounters; i++)
		if (strcmp(ops->counter_names[i], name) == 0)
			return v[i];
	return 0;
}

/* ---- the peer ------------------------------------------------------------------------------------ */

struct decision {
	uint64_t txn_id, payer;
	uint32_t reasons;
	uint16_t score;
	uint8_t action;
};

struct peer {
	bool ran, skipped;
	char why[PATH_MAX + 256]; /* why it was skipped */
	uint64_t npay;
	double peer_pps, peer_s;
	double dadar_pps, dadar_s;
	uint64_t compared, mismatches;
	uint64_t reason_diff[DD_R__COUNT], score_diff, action_diff;
	uint64_t reasons[DD_R__COUNT]; /* in the compared decisions */
};


static void msg_of(const struct dd_event *e, struct dd_paygen_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->event_ns = e[0].event_ns;
	m->txn_id = e[0].u.pay.txn_id;
	m->payer = e[0].u.pay.payer;
	m->amount = e[0].u.pay.amount;
	m->device = e[0].u.pay.device;
	m->payee = e[1].u.payx.payee;
	m->merchant = e[1].u.payx.merchant;
	m->lat_e6 = e[1].u.payx.lat_e6;
	m->lon_e6 = e[1].u.payx.lon_e6;
	memcpy(m->currency, e[1].u.payx.currency, 3);
	m->mcc = e[1].u.payx.mcc;
	m->channel = e[1].u.payx.channel;
	m->kind = e[1].u.payx.kind;
}

static int write_inputs(const struct stream *s, uint64_t k, const char *csv, const char *mcsv, const char *mccsv,
			const char *acsv)
{
	FILE *f = fopen(csv, "w");
	if (f == NULL) {
		fprintf(stderr, "%s: cannot create %s: %s\n", prog, csv, strerror(errno));
		return -1;
	}
	fprintf(f, "%s\n", DD_PAYGEN_CSV_HEADER);
	for (uint64_t i = 0; i < k; i++) {
		struct dd_paygen_msg m;
		msg_of(&s->ev[2 * i], &m);
		if (dd_paygen_csv_write(f, &m) != 0) {
			fprintf(stderr, "%s: cannot write payment %" PRIu64 " to %s\n", prog, i + 1, csv);
			fclose(f);
			return -1;
		}
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: writing %s failed: %s\n", prog, csv, strerror(errno));
		return -1;
	}
	if ((f = fopen(mcsv, "w")) == NULL) {
		fprintf(stderr, "%s: cannot create %s: %s\n", prog, mcsv, strerror(errno));
		return -1;
	}
	fprintf(f, "merchant,risk\n");
	for (uint32_t i = 0; i < s->nmerchants; i++)
		if (s->merchants[i].listed)
			fprintf(f, "%" PRIu64 ",%u\n", s->merchants[i].id, s->merchants[i].risk);
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: writing %s failed: %s\n", prog, mcsv, strerror(errno));
		return -1;
	}
	if (mccsv == NULL)
		return 0;
	if ((f = fopen(mccsv, "w")) == NULL) {
		fprintf(stderr, "%s: cannot create %s: %s\n", prog, mccsv, strerror(errno));
		return -1;
	}
	fprintf(f, "mcc,score\n");
	for (size_t i = 0; i < sizeof(extra_mcc) / sizeof(extra_mcc[0]); i++)
		fprintf(f, "%u,%u\n", extra_mcc[i].mcc, extra_mcc[i].score);
	if (fclose(f) != 0 || (f = fopen(acsv, "w")) == NULL) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, f == NULL ? acsv : mccsv, strerror(errno));
		return -1;
	}
	fprintf(f, "lat_e6,lon_e6,radius_km\n");
	for (unsigned i = 0; i < NEXTRA_AREAS; i++)
		fprintf(f, "%d,%d," AREA_RADIUS "\n", cities[i].lat + AREA_OFF_E6, cities[i].lon - AREA_OFF_E6);
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: writing %s failed: %s\n", prog, acsv, strerror(errno));
		return -1;
	}
	return 0;
}

/* Run argv with stdout into `out` (NUL-terminated, truncated to len - 1); returns its exit status. */
static int run_capture(char *const argv[], char *out, size_t len)
{
	int fd[2];
	if (pipe(fd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], STDOUT_FILENO);
		close(fd[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, argv[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	size_t n = 0;
	ssize_t r;
	char sink[4096];
	while ((r = read(fd[0], n + 1 < len ? out + n : sink, n + 1 < len ? len - 1 - n : sizeof(sink))) > 0)
		if (n + 1 < len)
			n += (size_t)r;
	out[n] = '\0';
	close(fd[0]);
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static bool json_num(const char *s, const char *key, double *v)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\"", key);
	const char *p = strstr(s, k);
	if (p == NULL || (p = strchr(p + strlen(k), ':')) == NULL)
		return false;
	char *end;
	*v = strtod(p + 1, &end);
	return end != p + 1;
}

static bool json_str(const char *s, const char *key, char *out, size_t len)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\"", key);
	const char *p = strstr(s, k);
	if (p == NULL || (p = strchr(p + strlen(k), ':')) == NULL || (p = strchr(p, '"')) == NULL)
		return false;
	const char *e = strchr(++p, '"');
	if (e == NULL || (size_t)(e - p) >= len)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

/* The "reasons" array of a decision line as a mask; false if malformed or a name is unknown. */
static bool json_reasons(const char *s, uint32_t *mask, char *bad, size_t badlen)
{
	const char *p = strstr(s, "\"reasons\"");
	*mask = 0;
	if (p == NULL || (p = strchr(p, '[')) == NULL)
		return false;
	for (p++;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ']')
			return true;
		if (*p != '"')
			return false;
		const char *e = strchr(++p, '"');
		if (e == NULL)
			return false;
		unsigned r;
		for (r = 0; r < DD_R__COUNT; r++)
			if (strlen(dd_reason_name(r)) == (size_t)(e - p) && memcmp(dd_reason_name(r), p, (size_t)(e - p)) == 0)
				break;
		if (r == DD_R__COUNT) {
			snprintf(bad, badlen, "%.*s", (int)(e - p), p);
			return false;
		}
		*mask |= 1u << r;
		p = e + 1;
	}
}

static void reasons_str(uint32_t mask, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned r = 0; r < DD_R__COUNT && n < len; r++)
		if (mask >> r & 1)
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "," : "", dd_reason_name(r));
}

static int action_of(const char *name)
{
	for (unsigned a = 0; a < 4; a++)
		if (strcmp(dd_action_name(a), name) == 0)
			return (int)a;
	return -1;
}

/* dadar's decisions on the first k payments, from a fresh chain. */
static struct decision *dadar_decisions(struct bench *b, const struct stream *s, uint64_t k)
{
	struct decision *d = xalloc((size_t)k * sizeof(*d));
	uint64_t nd = 0, cause[MAX_BURST];
	unsigned burst = b->cp.burst;
	chain_fresh(b);
	for (uint64_t i = 0; i < 2 * k; i += burst) {
		unsigned n = 2 * k - i < burst ? (unsigned)(2 * k - i) : burst;
		for (unsigned j = 0; j < n; j++)
			cause[j] = i + j;
		dd_chain_run(&b->chain, s->ev + i, cause, n);
		for (unsigned j = 0; j < b->chain.emit.n && nd < k; j++) {
			const struct dd_out_decision *o = &b->chain.emit.out[j].u.decision;
			d[nd++] = (struct decision){ o->txn_id, o->payer, o->reasons, o->score, o->action };
		}
		dd_chain_drain(&b->chain);
	}
	if (nd != k) {
		fprintf(stderr, "%s: dadar made %" PRIu64 " decisions on %" PRIu64 " payments\n", prog, nd, k);
		exit(1);
	}
	return d;
}

/* Compare the peer's decision lines with dadar's; prints the first 10 differences. */
static int compare(const char *path, const struct decision *d, uint64_t k, struct peer *pr)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "%s: the peer wrote no decisions (%s: %s)\n", prog, path, strerror(errno));
		return -1;
	}
	char line[1024];
	uint64_t i = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		double txn, score;
		char act[16], bad[64] = "";
		uint32_t mask;
		if (!json_num(line, "txn_id", &txn) || !json_num(line, "score", &score) ||
		    !json_str(line, "action", act, sizeof(act)) || !json_reasons(line, &mask, bad, sizeof(bad)) ||
		    action_of(act) < 0) {
			fprintf(stderr, "%s: %s:%" PRIu64 ": cannot read the peer's decision%s%s: %s", prog, path, i + 1,
				bad[0] ? ", unknown reason " : "", bad, line);
			fclose(f);
			return -1;
		}
		if (i >= k) {
			fprintf(stderr, "%s: the peer made more decisions than the %" PRIu64 " payments\n", prog, k);
			fclose(f);
			return -1;
		}
		const struct decision *x = &d[i];
		int a = action_of(act);
		if ((uint64_t)txn != x->txn_id || (unsigned)score != x->score || a != x->action || mask != x->reasons) {
			if (pr->mismatches < 10) {
				char rd[512], rp[512];
				reasons_str(x->reasons, rd, sizeof(rd));
				reasons_str(mask, rp, sizeof(rp));
				printf("  MISMATCH payment %" PRIu64 ": dadar txn %" PRIu64 " payer %" PRIu64
				       " score %u %s [%s]; peer txn %.0f score %.0f %s [%s]\n",
				       i + 1, x->txn_id, x->payer, x->score, dd_action_name(x->action), rd, txn, score, act, rp);
			}
			pr->mismatches++;
			pr->score_diff += (unsigned)score != x->score;
			pr->action_diff += a != x->action;
			for (unsigned r = 0; r < DD_R__COUNT; r++)
				pr->reason_diff[r] += (mask ^ x->reasons) >> r & 1;
		}
		i++;
	}
	fclose(f);
	pr->compared = i;
	if (i != k) {
		fprintf(stderr, "%s: the peer made %" PRIu64 " decisions on %" PRIu64 " payments\n", prog, i, k);
		return -1;
	}
	return 0;
}

struct opts {
	uint32_t payers, merchants;
	uint64_t payments, peer_payments, seed;
	unsigned passes, burst;
	const char *json, *seed_dir, *peer_script;
	bool keep, extra_tables;
};

static void rm_tree(const char *dir, bool keep)
{
	if (keep) {
		printf("peer files kept in %s\n", dir);
		return;
	}
	static const char *const names[] = { "payments.csv", "merchants.csv", "mcc.csv", "areas.csv", "decisions.jsonl" };
	char p[PATH_MAX + 32];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Returns 0 (compared, or skipped with pr->skipped and a reason), 1 if the decisions differ, -1 on error. */
static int peer_run(struct bench *b, const struct stream *s, const struct opts *o, struct peer *pr)
{
	char root[PATH_MAX], script[PATH_MAX + 32], seeds[PATH_MAX + 32], engine[PATH_MAX + 64];
	uint64_t k = o->peer_payments < s->npay ? o->peer_payments : s->npay;
	pr->npay = k;
	bool have_root = dd_path_find_root("bench/peer_fraud.py", root, sizeof(root));
	if (o->peer_script != NULL)
		snprintf(script, sizeof(script), "%s", o->peer_script);
	else if (have_root)
		snprintf(script, sizeof(script), "%s/bench/peer_fraud.py", root);
	else
		script[0] = '\0';
	if (o->seed_dir != NULL)
		snprintf(seeds, sizeof(seeds), "%s", o->seed_dir);
	else if (have_root)
		snprintf(seeds, sizeof(seeds), "%s/../shared/seeds", root);
	else
		seeds[0] = '\0';
	char real[PATH_MAX];
	if (seeds[0] != '\0' && realpath(seeds, real) != NULL)
		snprintf(seeds, sizeof(seeds), "%s", real);
	snprintf(engine, sizeof(engine), "%s/paytm_fraud_engine.py", seeds);
	pr->skipped = true;
	if (k == 0) {
		snprintf(pr->why, sizeof(pr->why), "--peer-payments 0");
		return 0;
	}
	if (!dd_path_on_path("python3")) {
		snprintf(pr->why, sizeof(pr->why), "python3 is not on PATH (install python3 to compare with the seed)");
		return 0;
	}
	if (script[0] == '\0' || !dd_path_is_file(script)) {
		snprintf(pr->why, sizeof(pr->why), "%s not found (run from the repository, or give --peer-script FILE)",
			 script[0] ? script : "bench/peer_fraud.py");
		return 0;
	}
	if (seeds[0] == '\0' || !dd_path_is_file(engine)) {
		snprintf(pr->why, sizeof(pr->why), "no seed engine at %s (give --seed-dir DIR holding paytm_fraud_engine.py)",
			 seeds[0] ? engine : "../shared/seeds");
		return 0;
	}
	pr->skipped = false;

	char dir[] = "/tmp/bench_fraud.XXXXXX";
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "%s: mkdtemp(/tmp/bench_fraud.XXXXXX) failed: %s\n", prog, strerror(errno));
		return -1;
	}
	char csv[PATH_MAX], mcsv[PATH_MAX], mccsv[PATH_MAX], acsv[PATH_MAX], dec[PATH_MAX];
	snprintf(csv, sizeof(csv), "%s/payments.csv", dir);
	snprintf(mcsv, sizeof(mcsv), "%s/merchants.csv", dir);
	snprintf(mccsv, sizeof(mccsv), "%s/mcc.csv", dir);
	snprintf(acsv, sizeof(acsv), "%s/areas.csv", dir);
	snprintf(dec, sizeof(dec), "%s/decisions.jsonl", dir);
	if (write_inputs(s, k, csv, mcsv, o->extra_tables ? mccsv : NULL, acsv) != 0) {
		rm_tree(dir, o->keep);
		return -1;
	}
	char *argv[16] = { "python3", script, "--seed-dir", seeds, "--json", "--decisions", dec, "--merchant-table", mcsv };
	unsigned argc = 9;
	if (o->extra_tables) {
		argv[argc++] = "--mcc-table";
		argv[argc++] = mccsv;
		argv[argc++] = "--risk-areas";
		argv[argc++] = acsv;
	}
	argv[argc++] = csv;
	argv[argc] = NULL;
	printf("peer:");
	for (unsigned i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fflush(stdout);
	char out[4096];
	int st = run_capture(argv, out, sizeof(out));
	if (st != 0 || !json_num(out, "payments_per_s", &pr->peer_pps) || !json_num(out, "seconds", &pr->peer_s)) {
		fprintf(stderr, "%s: the peer failed (exit status %d): %s\n", prog, st, out);
		rm_tree(dir, o->keep);
		return -1;
	}
	pr->ran = true;

	/* dadar on the same payments: fresh chain each pass, median */
	double t[MAX_PASSES];
	struct tally first, tl;
	for (unsigned p = 0; p < o->passes; p++) {
		chain_fresh(b);
		t[p] = run(&b->chain, s->ev, k, b->cp.burst, p == 0 ? &first : &tl);
	}
	pr->dadar_s = median(t, o->passes);
	pr->dadar_pps = (double)k / pr->dadar_s;
	struct decision *d = dadar_decisions(b, s, k);
	for (uint64_t i = 0; i < k; i++)
		for (unsigned r = 0; r < DD_R__COUNT; r++)
			pr->reasons[r] += d[i].reasons >> r & 1;
	int rc = compare(dec, d, k, pr);
	free(d);
	rm_tree(dir, o->keep);
	if (rc != 0)
		return -1;
	return pr->mismatches != 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

static bool parse_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || x < lo || x > hi) {
		fprintf(stderr, "%s: %s '%s': expected an integer from %" PRIu64 " to %" PRIu64 "\n", prog, opt, v, lo, hi);
		return false;
	}
	*out = x;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [--payers N] [--payments N] [--merchants N] [--passes N] [--seed S] [--burst N]\n"
		   "       [--peer-payments K] [--seed-dir DIR] [--peer-script FILE] [--keep] [--extra-tables] [--small-pages]\n"
		   "       [--json FILE]\n",
		prog);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const char *const valued[] = { "--payers", "--payments", "--merchants", "--passes", "--burst", "--seed",
					      "--peer-payments", "--seed-dir", "--peer-script", "--json" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--small-pages") == 0) {
			small_pages = 1;
			continue;
		}
		if (strcmp(a, "--keep") == 0) {
			o->keep = true;
			continue;
		}
		if (strcmp(a, "--extra-tables") == 0) {
			o->extra_tables = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		size_t k = 0;
		while (k < sizeof(valued) / sizeof(valued[0]) && strcmp(a, valued[k]) != 0)
			k++;
		if (k == sizeof(valued) / sizeof(valued[0])) {
			fprintf(stderr, "%s: unknown option %s\n", prog, a);
			usage(stderr);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", prog, a);
			return -1;
		}
		const char *v = argv[++i];
		uint64_t x;
		if (strcmp(a, "--payers") == 0) {
			if (!parse_u64(a, v, 1, 100000000, &x))
				return -1;
			o->payers = (uint32_t)x;
		} else if (strcmp(a, "--payments") == 0) {
			if (!parse_u64(a, v, 1, 100000000, &o->payments))
				return -1;
		} else if (strcmp(a, "--merchants") == 0) {
			if (!parse_u64(a, v, BILLERS + 1, 10000000, &x))
				return -1;
			o->merchants = (uint32_t)x;
		} else if (strcmp(a, "--passes") == 0) {
			if (!parse_u64(a, v, 1, MAX_PASSES, &x))
				return -1;
			o->passes = (unsigned)x;
		} else if (strcmp(a, "--burst") == 0) {
			if (!parse_u64(a, v, 2, MAX_BURST, &x))
				return -1;
			o->burst = (unsigned)x;
		} else if (strcmp(a, "--seed") == 0) {
			if (!parse_u64(a, v, 0, UINT64_MAX, &o->seed))
				return -1;
		} else if (strcmp(a, "--peer-payments") == 0) {
			if (!parse_u64(a, v, 0, 100000000, &o->peer_payments))
				return -1;
		} else if (strcmp(a, "--seed-dir") == 0) {
			o->seed_dir = v;
		} else if (strcmp(a, "--peer-script") == 0) {
			o->peer_script = v;
		} else {
			o->json = v;
		}
	}
	return 0;
}

static void print_thousands(char *out, size_t len, double v)
{
	char digits[32];
	snprintf(digits, sizeof(digits), "%.0f", v);
	size_t n = strlen(digits), j = 0;
	for (size_t i = 0; i < n && j + 2 < len; i++) {
		out[j++] = digits[i];
		if ((n - i - 1) % 3 == 0 && i + 1 < n && digits[i] != '-')
			out[j++] = ',';
	}
	out[j] = '\0';
}

int main(int argc, char **argv)
{
	struct opts o = { .payers = 1000000, .merchants = 100000, .payments = 4000000, .peer_payments = 100000,
			  .seed = 42, .passes = 5, .burst = 64 };
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	double wall0 = now_s();

	static struct stream s;
	build(&s, o.seed, o.payers, o.payments, o.merchants);
	struct sizing z;
	size_for(&s, &z);

	static struct bench b;
	dd_fraud_params_default(&b.fp);
	b.fp.payers = (uint32_t)(z.payers > o.payers ? z.payers : o.payers);
	b.fp.history = (uint32_t)z.window_max;
	b.fp.pairs = (uint32_t)z.pairs;
	b.fp.devices = (uint32_t)z.devices;
	b.fp.merchants = (uint32_t)(z.merchants > 0 ? z.merchants : 1);
	if (s.nlisted > b.fp.merchant_table)
		b.fp.merchant_table = s.nlisted;
	compile_rules(&b, &s, o.extra_tables);
	if (dd_chain_spec_add(&b.spec, DD_OP_FRAUD, &b.fp, sizeof(b.fp)) != 0) {
		fprintf(stderr, "%s: cannot add the fraud operator to the chain spec\n", prog);
		return 1;
	}
	b.cp = (struct dd_chain_params){ .spec = &b.spec, .shard = 0, .burst = o.burst };
	b.len = dd_chain_memsize(&b.cp);
	if (b.len == 0) {
		fprintf(stderr, "%s: the fraud parameters are out of range\n", prog);
		return 1;
	}
	b.mem = big_alloc(b.len);

	char buf[5][32];
	print_thousands(buf[0], sizeof(buf[0]), (double)s.npay);
	print_thousands(buf[1], sizeof(buf[1]), (double)z.payers);
	print_thousands(buf[2], sizeof(buf[2]), (double)o.merchants);
	print_thousands(buf[3], sizeof(buf[3]), (double)s.nlisted);
	printf("bench_fraud: %s payments of %s payers over one day from 00:00 IST, %s merchants (%s in the risk table), "
	       "seed %" PRIu64 "\n", buf[0], buf[1], buf[2], buf[3], o.seed);
	printf("  stream: P2M %.1f%%, bill %.1f%%, P2P %.1f%%; %.1f%% located; %" PRIu64 " payments in %" PRIu64
	       " fraud-like episodes (",
	       100.0 * (double)s.kinds[0] / (double)s.npay, 100.0 * (double)s.kinds[1] / (double)s.npay,
	       100.0 * (double)s.kinds[2] / (double)s.npay, 100.0 * (double)s.located / (double)s.npay,
	       s.episode_payments, s.episodes[0] * EP__COUNT);
	for (unsigned e = 0; e < EP__COUNT; e++)
		printf("%s%s", e ? ", " : "", episode_names[e]);
	printf("); %" PRIu64 " invalid; built in %.2f s\n", s.invalid, (double)s.gen_ns * 1e-9);
	printf("  payments per payer: median %u, p99 %u, max %u; on average a payment's payer has %.1f earlier "
	       "payments in its windows\n", z.per_payer_p50, z.per_payer_p99, z.per_payer_max, z.earlier_mean);
	if (o.extra_tables)
		printf("  extra tables: %zu MCC scores, %u high-risk areas of " AREA_RADIUS " km\n",
		       sizeof(extra_mcc) / sizeof(extra_mcc[0]), NEXTRA_AREAS);
	printf("  operator capacities: payers %u, history %u (the most payments in 24 h), pairs %u, devices %u, "
	       "merchants %u, merchant table %u; chain %.0f MiB (%s pages), burst %u events\n",
	       b.fp.payers, b.fp.history, b.fp.pairs, b.fp.devices, b.fp.merchants, b.fp.merchant_table,
	       (double)b.len / 1048576.0, small_pages ? "4 KiB" : "THP", o.burst);

	/* throughput */
	double t[MAX_PASSES], init_s[MAX_PASSES];
	struct tally first, tl;
	int rc = 0;
	for (unsigned p = 0; p < o.passes; p++) {
		chain_fresh(&b);
		init_s[p] = b.init_s;
		t[p] = run(&b.chain, s.ev, s.npay, o.burst, p == 0 ? &first : &tl);
		if (p > 0 && memcmp(&first, &tl, sizeof(tl)) != 0) {
			fprintf(stderr, "%s: pass %u decided differently from pass 1\n", prog, p + 1);
			rc = 1;
		}
	}
	double passes_s[MAX_PASSES];
	memcpy(passes_s, t, sizeof(t));
	double med_s = median(t, o.passes), pps = (double)s.npay / med_s;
	if (first.decisions != s.npay) {
		fprintf(stderr, "%s: %" PRIu64 " decisions for %" PRIu64 " payments\n", prog, first.decisions, s.npay);
		rc = 1;
	}
	static const char *const full_names[] = { "fraud_payers_full", "fraud_pairs_full", "fraud_devices_full",
						  "fraud_merchants_full", "fraud_history_evicted", "fraud_out_of_order",
						  "fraud_orphan_halves" };
	uint64_t fullv[7];
	for (unsigned i = 0; i < 7; i++) {
		fullv[i] = counter(&b.chain, full_names[i]);
		if (fullv[i] != 0) {
			fprintf(stderr, "%s: %s = %" PRIu64 ": the operator was not sized for the stream\n", prog,
				full_names[i], fullv[i]);
			rc = 1;
		}
	}
	struct dd_fraud_stats fs;
	dd_fraud_stats(dd_chain_state(&b.chain, DD_OP_FRAUD), &fs);

	print_thousands(buf[0], sizeof(buf[0]), pps);
	printf("\nthroughput (median of %u pass%s, each on a fresh chain; this 2-vCPU VM is shared and noisy)\n", o.passes,
	       o.passes == 1 ? "" : "es");
	printf("  %s payments/s   %.1f ns/payment   passes:", buf[0], med_s * 1e9 / (double)s.npay);
	for (unsigned p = 0; p < o.passes; p++)
		printf(" %.3f", passes_s[p]);
	printf(" s   (target 5,000,000/s: %s)\n", pps >= TARGET_PPS ? "reached" : "NOT reached");
	printf("  decisions: approve %" PRIu64 ", verify %" PRIu64 ", review %" PRIu64 ", block %" PRIu64 "\n",
	       first.action[0], first.action[1], first.action[2], first.action[3]);
	printf("  reasons fired:");
	for (unsigned r = 0; r < DD_R__COUNT; r++)
		printf("%s %s %" PRIu64, r ? "," : "", dd_reason_name(r), fs.reasons[r]);
	printf("\n");

	/* per payment */
	struct dd_tsc_conv conv;
	uint64_t hz = tsc_hz();
	dd_tsc_conv_init(&conv, hz);
	struct lat l;
	struct tally lt;
	chain_fresh(&b);
	double lat_t0 = now_s();
	per_payment(&b, &s, &conv, &l, &lt);
	double lat_s = now_s() - lat_t0;
	if (memcmp(&lt, &first, sizeof(lt)) != 0) {
		fprintf(stderr, "%s: one payment per run decided differently from bursts of %u events\n", prog, o.burst);
		rc = 1;
	}
	printf("\nper-payment operator time (one chain run of the payment's 2 events, between two lfence+rdtsc: the "
	       "figures include those two TSC reads; TSC %.3f GHz)\n", (double)hz * 1e-9);
	printf("  p50 %" PRIu64 " ns   p90 %" PRIu64 " ns   p99 %" PRIu64 " ns   p99.9 %" PRIu64 " ns   max %" PRIu64
	       " ns   mean %.1f ns   (empty timed region: p50 %" PRIu64 " ns, max %" PRIu64 " ns)\n",
	       l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.empty_p50, l.empty_max);

	/* the peer */
	struct peer pr;
	memset(&pr, 0, sizeof(pr));
	printf("\n");
	fflush(stdout);
	int prc = peer_run(&b, &s, &o, &pr);
	if (pr.skipped) {
		printf("peer: skipped: %s\n", pr.why);
	} else if (prc < 0) {
		rc = 1;
	} else {
		char pa[32], pb[32];
		print_thousands(pa, sizeof(pa), pr.dadar_pps);
		print_thousands(pb, sizeof(pb), pr.peer_pps);
		printf("peer: the first %" PRIu64 " payments, the same stream\n", pr.npay);
		printf("  dadar (chain, median of %2u passes)  %14s payments/s   %.4f s\n", o.passes, pa, pr.dadar_s);
		printf("  seed engine (Python, scoring loop)  %14s payments/s   %.4f s\n", pb, pr.peer_s);
		printf("  ratio dadar / seed: %.0fx\n", pr.dadar_pps / pr.peer_pps);
		printf("  reasons in these payments:");
		for (unsigned r = 0; r < DD_R__COUNT; r++)
			printf("%s %s %" PRIu64, r ? "," : "", dd_reason_name(r), pr.reasons[r]);
		printf("\n");
		if (pr.mismatches == 0) {
			printf("  decisions: all %" PRIu64 " the same (txn_id, score, action, reasons)\n", pr.compared);
		} else {
			printf("  decisions: %" PRIu64 " of %" PRIu64 " DIFFER (score %" PRIu64 ", action %" PRIu64 "; by reason:",
			       pr.mismatches, pr.compared, pr.score_diff, pr.action_diff);
			for (unsigned r = 0; r < DD_R__COUNT; r++)
				if (pr.reason_diff[r])
					printf(" %s %" PRIu64, dd_reason_name(r), pr.reason_diff[r]);
			printf(")\n");
			rc = 1;
		}
	}
	double wall = now_s() - wall0;
	printf("\nrun took %.1f s (stream %.1f s, fresh chains %.2f s each, per-payment pass %.1f s)\n", wall,
	       (double)s.gen_ns * 1e-9, median(init_s, o.passes), lat_s);

	if (o.json != NULL) {
		FILE *f = fopen(o.json, "w");
		if (f == NULL) {
			fprintf(stderr, "%s: cannot write %s: %s\n", prog, o.json, strerror(errno));
			return 1;
		}
		fprintf(f, "{\"bench\": \"fraud\", \"seed\": %" PRIu64 ", \"payers\": %" PRIu64 ", \"payments\": %" PRIu64
			", \"merchants\": %u, \"merchant_table\": %u, \"extra_tables\": %s, \"burst\": %u, \"passes\": %u,\n",
			o.seed, z.payers, s.npay, o.merchants, s.nlisted, o.extra_tables ? "true" : "false", o.burst, o.passes);
		fprintf(f, " \"stream\": {\"p2m\": %" PRIu64 ", \"bill\": %" PRIu64 ", \"p2p\": %" PRIu64
			", \"located\": %" PRIu64 ", \"episode_payments\": %" PRIu64 ", \"invalid\": %" PRIu64
			", \"pairs\": %" PRIu64 ", \"devices\": %" PRIu64 ", \"merchants_paid\": %" PRIu64
			", \"max_payments_24h\": %" PRIu64 ", \"per_payer_p50\": %u, \"per_payer_p99\": %u"
			", \"per_payer_max\": %u, \"earlier_in_window_mean\": %.2f},\n",
			s.kinds[0], s.kinds[1], s.kinds[2], s.located, s.episode_payments, s.invalid, z.pairs, z.devices,
			z.merchants, z.window_max, z.per_payer_p50, z.per_payer_p99, z.per_payer_max, z.earlier_mean);
		fprintf(f, " \"chain_bytes\": %zu, \"huge_pages\": %s,\n", b.len, small_pages ? "false" : "true");
		fprintf(f, " \"payments_per_s\": %.0f, \"ns_per_payment\": %.3f, \"target_payments_per_s\": %.0f, "
			"\"target_reached\": %s,\n \"pass_seconds\": [",
			pps, med_s * 1e9 / (double)s.npay, TARGET_PPS, pps >= TARGET_PPS ? "true" : "false");
		for (unsigned p = 0; p < o.passes; p++)
			fprintf(f, "%s%.6f", p ? ", " : "", passes_s[p]);
		fprintf(f, "],\n \"decisions\": {\"approve\": %" PRIu64 ", \"verify\": %" PRIu64 ", \"review\": %" PRIu64
			", \"block\": %" PRIu64 "},\n \"reasons\": {",
			first.action[0], first.action[1], first.action[2], first.action[3]);
		for (unsigned r = 0; r < DD_R__COUNT; r++)
			fprintf(f, "%s\"%s\": %" PRIu64, r ? ", " : "", dd_reason_name(r), fs.reasons[r]);
		fprintf(f, "},\n \"per_payment_ns\": {\"p50\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
			", \"p99_9\": %" PRIu64 ", \"max\": %" PRIu64 ", \"mean\": %.1f, \"empty_region_p50\": %" PRIu64
			", \"includes\": \"two lfence+rdtsc\"}, \"tsc_hz\": %" PRIu64 ",\n",
			l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.empty_p50, hz);
		if (pr.ran) {
			fprintf(f, " \"peer\": {\"name\": \"seed-paytm-python\", \"payments\": %" PRIu64
				", \"peer_payments_per_s\": %.1f, \"peer_seconds\": %.6f, \"dadar_payments_per_s\": %.0f"
				", \"dadar_seconds\": %.6f, \"ratio\": %.1f, \"compared\": %" PRIu64 ", \"mismatches\": %" PRIu64
				", \"reasons\": {",
				pr.npay, pr.peer_pps, pr.peer_s, pr.dadar_pps, pr.dadar_s, pr.dadar_pps / pr.peer_pps,
				pr.compared, pr.mismatches);
			for (unsigned r = 0; r < DD_R__COUNT; r++)
				fprintf(f, "%s\"%s\": %" PRIu64, r ? ", " : "", dd_reason_name(r), pr.reasons[r]);
			fprintf(f, "}},\n");
		} else {
			fprintf(f, " \"peer\": {\"skipped\": \"%s\"},\n", pr.skipped ? pr.why : "failed");
		}
		fprintf(f, " \"seconds\": %.1f}\n", wall);
		fclose(f);
	}
	munmap(b.mem, b.len);
	return rc;
}
