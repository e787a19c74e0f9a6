/* SPDX-License-Identifier: MIT */
/*
 * tools/plant.c: the planted day of dadar-gen synth --plant. The stream is replayed here through a
 * book written independently of the generator, and the shipped patterns' conditions are checked over
 * it the simple way (runs of rises, per-minute volumes against the ten minutes before, five-minute
 * ranges, silences, big orders, news halts): only the planted instruments may meet them, each where
 * its expected alert says. tests/tools/plant_check.py evaluates the rules exactly over a capture.
 * The last test runs $B/dadar-gen (default build/) and reads its capture back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/wire/frame.h"
#include "dataplane/wire/itch.h"
#include "dataplane/wire/moldudp64.h"
#include "tools/plant.h"

#define NS          1000000000ull
#define MINUTE      (60 * NS)
#define ALL_BUT(p)  (DD_PLANT_ALL & ~(1u << (p)))
#define SYMS        (DD_PLANT_PATTERNS + 128)

struct day {
	struct dd_plant *pl;
	void *mem;
	struct dd_itch_msg *msg[DD_PLANT_FEEDS];
	size_t n[DD_PLANT_FEEDS];
};

static struct dd_plant *plant_open(void **mem, uint64_t seed, uint32_t background, uint32_t patterns)
{
	struct dd_plant_params p = { .seed = seed, .background = background, .patterns = patterns };
	size_t n = dd_plant_memsize(&p);
	struct dd_plant *pl;

	assert_true(n > 0);
	*mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(*mem);
	assert_int_equal(dd_plant_init(&pl, *mem, n, &p), 0);
	return pl;
}

/* The whole day, both feeds, in memory. */
static void day_open(struct day *d, uint64_t seed, uint32_t background, uint32_t patterns)
{
	d->pl = plant_open(&d->mem, seed, background, patterns);
	for (unsigned f = 0; f < DD_PLANT_FEEDS; f++) {
		size_t cap = 1024;

		d->msg[f] = malloc(cap * sizeof(struct dd_itch_msg));
		d->n[f] = 0;
		assert_non_null(d->msg[f]);
		for (;;) {
			if (d->n[f] == cap) {
				cap *= 2;
				d->msg[f] = realloc(d->msg[f], cap * sizeof(struct dd_itch_msg));
				assert_non_null(d->msg[f]);
			}
			if (dd_plant_next(d->pl, f, &d->msg[f][d->n[f]]) == 0)
				break;
			d->n[f]++;
		}
		assert_int_equal(dd_plant_produced(d->pl, f), d->n[f]);
	}
}

static void day_close(struct day *d)
{
	for (unsigned f = 0; f < DD_PLANT_FEEDS; f++)
		free(d->msg[f]);
	free(d->mem);
}

static int encode(const struct dd_itch_msg *m, uint8_t buf[DD_ITCH_MAX_LEN])
{
	int n = dd_itch_encode(m, buf, DD_ITCH_MAX_LEN);

	assert_true(n > 0);
	assert_int_equal((size_t)n, dd_itch_msg_len(m->type));
	return n;
}

static bool same_msg(const struct dd_itch_msg *a, const struct dd_itch_msg *b)
{
	uint8_t x[DD_ITCH_MAX_LEN], y[DD_ITCH_MAX_LEN];
	int n = encode(a, x);

	return encode(b, y) == n && memcmp(x, y, (size_t)n) == 0;
}

static const struct dd_plant_alert *find_alert(const struct dd_plant *pl, unsigned pattern, const char *sym)
{
	for (unsigned i = 0; i < dd_plant_alert_count(pl); i++) {
		const struct dd_plant_alert *a = dd_plant_alert(pl, i);

		if (a->pattern == pattern && (sym == NULL || strcmp(a->symbol, sym) == 0))
			return a;
	}
	return NULL;
}

/* ---- an independent replay: orders, trades, symbols ------------------------------------------ */

struct order {
	uint64_t ref;
	uint64_t seq;     /* arrival, for time priority */
	uint32_t shares;
	uint32_t price;
	uint16_t locate;
	uint8_t side;
};

struct trade {
	uint64_t time;
	uint32_t price;
	uint32_t shares;
	uint8_t side;
};

struct sym {
	char name[9];
	struct trade *t;   /* every trade of the day, in order */
	size_t nt, cap;
	uint64_t *any;     /* times of its A F E C X D U P H messages */
	size_t nany, anycap;
	unsigned news_halts, big_orders, big_sells_after_halt;
};

struct replay {
	struct order *o;
	size_t n, cap;
	uint64_t seq;
	struct sym s[SYMS + 1]; /* by locate */
};

static struct order *order_find(struct replay *r, uint64_t ref, size_t *at)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->o[i].ref == ref) {
			*at = i;
			return &r->o[i];
		}
	return NULL;
}

static void push_time(uint64_t **v, size_t *n, size_t *cap, uint64_t t)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*v = realloc(*v, *cap * sizeof(**v));
		assert_non_null(*v);
	}
	(*v)[(*n)++] = t;
}

static void push_trade(struct sym *s, uint64_t time, uint32_t price, uint32_t shares, uint8_t side)
{
	if (s->nt == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->t = realloc(s->t, s->cap * sizeof(*s->t));
		assert_non_null(s->t);
	}
	s->t[s->nt++] = (struct trade){ time, price, shares, side };
}

/* Best price of `side` of `locate` among live orders (0 if none), and the oldest order at it. */
static uint32_t best(const struct replay *r, uint16_t locate, uint8_t side, uint64_t *oldest_ref)
{
	uint32_t p = 0;
	uint64_t seq = UINT64_MAX;

	for (size_t i = 0; i < r->n; i++) {
		const struct order *o = &r->o[i];

		if (o->locate != locate || o->side != side)
			continue;
		if (p == 0 || (side == 'B' ? o->price > p : o->price < p)) {
			p = o->price;
			seq = UINT64_MAX;
		}
		if (o->price == p && o->seq < seq) {
			seq = o->seq;
			*oldest_ref = o->ref;
		}
	}
	return p;
}

static void replay_free(struct replay *r)
{
	for (size_t i = 0; i <= SYMS; i++) {
		free(r->s[i].t);
		free(r->s[i].any);
	}
	free(r->o);
}

/*
 * Replay one feed's messages (feed 0: the whole day) and check the book rules on the way: an add has a
 * new reference and does not cross; E X D take live orders, within their shares, X never all of them;
 * an execution takes the oldest order at its side's best price.
 */
static void replay(struct replay *r, const struct dd_itch_msg *msg, size_t n)
{
	uint64_t halted_at[SYMS + 1] = { 0 };

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		const struct dd_itch_msg *m = &msg[i];
		struct sym *s = m->locate <= SYMS ? &r->s[m->locate] : NULL;
		struct order *o;
		uint64_t ref = 0, oldest = 0;
		size_t at = 0;

		if (m->type == 'S')
			continue;
		assert_non_null(s);
		if (m->type == 'R') {
			memcpy(s->name, m->u.directory.stock, 8);
			for (int k = 7; k >= 0 && s->name[k] == ' '; k--)
				s->name[k] = '\0';
			continue;
		}
		assert_true(s->name[0] != '\0');
		push_time(&s->any, &s->nany, &s->anycap, m->timestamp);
		switch (m->type) {
		case 'A':
		case 'F':
			assert_null(order_find(r, m->u.add.ref, &at));
			if (r->n == r->cap) {
				r->cap = r->cap ? 2 * r->cap : 1024;
				r->o = realloc(r->o, r->cap * sizeof(*r->o));
				assert_non_null(r->o);
			}
			{
				uint8_t other = m->u.add.side == 'B' ? 'S' : 'B';
				uint32_t opp = best(r, m->locate, other, &oldest);

				assert_true(opp == 0 || (m->u.add.side == 'B' ? m->u.add.price < opp
									: m->u.add.price > opp));
			}
			r->o[r->n++] = (struct order){ m->u.add.ref, r->seq++, m->u.add.shares,
						       m->u.add.price, m->locate, m->u.add.side };
			if (m->u.add.shares > 50000)
				s->big_orders++;
			if (m->u.add.side == 'S' && m->u.add.shares > 10000 && halted_at[m->locate] &&
			    m->timestamp - halted_at[m->locate] <= 5 * MINUTE)
				s->big_sells_after_halt++;
			break;
		case 'E':
			ref = m->u.exec.ref;
			o = order_find(r, ref, &at);
			assert_non_null(o);
			assert_int_equal(o->locate, m->locate);
			assert_true(m->u.exec.shares > 0 && m->u.exec.shares <= o->shares);
			assert_int_equal(best(r, m->locate, o->side, &oldest), o->price);
			assert_int_equal(oldest, ref);
			push_trade(s, m->timestamp, o->price, m->u.exec.shares, o->side);
			o->shares -= m->u.exec.shares;
			break;
		case 'X':
			o = order_find(r, m->u.cancel.ref, &at);
			assert_non_null(o);
			assert_true(m->u.cancel.shares > 0 && m->u.cancel.shares < o->shares);
			o->shares -= m->u.cancel.shares;
			break;
		case 'D':
			o = order_find(r, m->u.del.ref, &at);
			assert_non_null(o);
			o->shares = 0;
			break;
		case 'P':
			push_trade(s, m->timestamp, m->u.trade.price, m->u.trade.shares, m->u.trade.side);
			break;
		case 'H':
			if (m->u.trading_action.state == 'H' &&
			    (!memcmp(m->u.trading_action.reason, "T1  ", 4) ||
			     !memcmp(m->u.trading_action.reason, "T2  ", 4))) {
				s->news_halts++;
				halted_at[m->locate] = m->timestamp;
			}
			break;
		default:
			fail_msg("unexpected message type '%c'", m->type);
		}
		if (m->type == 'E' || m->type == 'X' || m->type == 'D') {
			o = &r->o[at];
			if (o->shares == 0)
				r->o[at] = r->o[--r->n];
		}
	}
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_same_seed_gives_identical_days_and_another_seed_another(void **state)
{
	struct day a, b, c;

	(void)state;
	day_open(&a, 7, 30, DD_PLANT_ALL);
	day_open(&b, 7, 30, DD_PLANT_ALL);
	day_open(&c, 8, 30, DD_PLANT_ALL);
	for (unsigned f = 0; f < DD_PLANT_FEEDS; f++) {
		assert_int_equal(a.n[f], b.n[f]);
		for (size_t i = 0; i < a.n[f]; i++)
			assert_true(same_msg(&a.msg[f][i], &b.msg[f][i]));
	}
	assert_int_equal(dd_plant_alert_count(a.pl), dd_plant_alert_count(b.pl));
	for (unsigned i = 0; i < dd_plant_alert_count(a.pl); i++)
		assert_memory_equal(dd_plant_alert(a.pl, i), dd_plant_alert(b.pl, i),
				    sizeof(struct dd_plant_alert));
	/* Same shape (the programs do not depend on the seed), other symbols, prices and times. */
	assert_int_equal(a.n[0], c.n[0]);
	assert_memory_not_equal(dd_plant_symbol(a.pl, 1), dd_plant_symbol(c.pl, 1), 8);
	assert_true(dd_plant_alert(a.pl, 0)->first_ns != dd_plant_alert(c.pl, 0)->first_ns);
	day_close(&a);
	day_close(&b);
	day_close(&c);
}

static void test_timestamps_strictly_increase_and_every_message_round_trips(void **state)
{
	struct day d;

	(void)state;
	day_open(&d, 1, 100, DD_PLANT_ALL);
	assert_int_equal(dd_plant_feeds(d.pl), 2);
	for (unsigned f = 0; f < DD_PLANT_FEEDS; f++) {
		assert_true(d.n[f] > 0);
		for (size_t i = 0; i < d.n[f]; i++) {
			uint8_t buf[DD_ITCH_MAX_LEN];
			struct dd_itch_msg back;
			int n = encode(&d.msg[f][i], buf);

			assert_int_equal(dd_itch_decode(buf, (size_t)n, &back), 0);
			assert_true(same_msg(&back, &d.msg[f][i]));
			if (i > 0)
				assert_true(d.msg[f][i].timestamp > d.msg[f][i - 1].timestamp);
		}
		/* The day opens with S 'O' and closes with S 'M', 'E', 'C'. */
		assert_int_equal(d.msg[f][0].type, 'S');
		assert_int_equal(d.msg[f][0].u.system.event_code, 'O');
		assert_int_equal(d.msg[f][d.n[f] - 1].u.system.event_code, 'C');
	}
	/* 110 instruments, one message every 5 s each for 28 minutes but one silent minute. */
	assert_int_equal(dd_plant_instruments(d.pl), 110);
	assert_int_equal(dd_plant_type_count(d.pl, 0, 'R'), 110);
	assert_true(d.n[0] > 110 * 12 * 27);
	day_close(&d);
}

static void test_books_stay_consistent_and_end_empty(void **state)
{
	struct day d;
	struct replay r;

	(void)state;
	day_open(&d, 3, 40, DD_PLANT_ALL);
	for (unsigned f = 0; f < DD_PLANT_FEEDS; f++) {
		replay(&r, d.msg[f], d.n[f]);
		assert_int_equal(r.n, 0);
		replay_free(&r);
	}
	day_close(&d);
}

static void test_each_pattern_alone_gets_exactly_its_alerts(void **state)
{
	(void)state;
	for (unsigned p = 0; p < DD_PLANT_PATTERNS; p++) {
		void *mem;
		struct dd_plant *pl = plant_open(&mem, 5, 10, 1u << p);
		const char *sym = dd_plant_symbol(pl, (uint16_t)dd_plant_instruments(pl));
		bool spike = p == DD_PLANT_BULL_RUN || p == DD_PLANT_INSIDER;

		assert_int_equal(dd_plant_instruments(pl), 11);
		assert_int_equal(dd_plant_feeds(pl), p == DD_PLANT_ARBITRAGE ? 2 : 1);
		assert_int_equal(dd_plant_alert_count(pl), spike ? 2 : 1);
		for (unsigned i = 0; i < dd_plant_alert_count(pl); i++) {
			const struct dd_plant_alert *a = dd_plant_alert(pl, i);

			assert_memory_equal(a->symbol, sym, strlen(a->symbol));
			assert_true(a->first_ns <= a->last_ns);
		}
		assert_non_null(find_alert(pl, p, NULL));
		if (spike) {
			/* The spike's alert comes first: it is the bull run's (insider's) first record. */
			assert_int_equal(dd_plant_alert(pl, 0)->pattern, DD_PLANT_VOLUME_SPIKE);
			assert_int_equal(dd_plant_alert(pl, 0)->last_ns, dd_plant_alert(pl, 1)->first_ns);
		}
		free(mem);
	}
}

static void test_all_patterns_give_twelve_alerts_in_the_order_produced(void **state)
{
	static const struct {
		unsigned pattern;
		const char *symbol;
	} want[] = {
		{ DD_PLANT_MOMENTUM, "MOMO" },          { DD_PLANT_VOLUME_SPIKE, "INSD" },
		{ DD_PLANT_VOLUME_SPIKE, "VSPK" },      { DD_PLANT_VOLUME_SPIKE, "BULL" },
		{ DD_PLANT_BULL_RUN, "BULL" },          { DD_PLANT_BEAR_SIGNAL, "BEAR" },
		{ DD_PLANT_MANIPULATION, "MANP" },      { DD_PLANT_CIRCUIT_BREAKER, "CBRK" },
		{ DD_PLANT_SPOOFING, "SPOF" },          { DD_PLANT_INSIDER, "INSD" },
		{ DD_PLANT_ARBITRAGE, "ARBT" },         { DD_PLANT_STALE_FEED, "STAL" },
	};
	void *mem;
	struct dd_plant *pl = plant_open(&mem, 11, 50, DD_PLANT_ALL);

	(void)state;
	assert_int_equal(dd_plant_alert_count(pl), sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < dd_plant_alert_count(pl); i++) {
		const struct dd_plant_alert *a = dd_plant_alert(pl, i);

		assert_int_equal(a->pattern, want[i].pattern);
		assert_string_equal(a->symbol, want[i].symbol);
		/* 10 s apart at least: no alert is produced between another's last record and its report. */
		if (i > 0)
			assert_true(a->last_ns > dd_plant_alert(pl, i - 1)->last_ns + 10 * NS);
	}
	/* stale_feed is reported 60 s after its last record: nothing comes in between. */
	assert_int_equal(dd_plant_alert(pl, dd_plant_alert_count(pl) - 1)->pattern, DD_PLANT_STALE_FEED);
	free(mem);
}

/* Index of the message of `locate` at `time` on `feed`'s messages, or -1. */
static long msg_at(const struct day *d, unsigned feed, uint16_t locate, uint64_t time)
{
	for (size_t i = 0; i < d->n[feed]; i++)
		if (d->msg[feed][i].timestamp == time && d->msg[feed][i].locate == locate)
			return (long)i;
	return -1;
}

static uint16_t locate_of(const struct dd_plant *pl, const char *sym)
{
	for (uint16_t l = 1; l <= dd_plant_instruments(pl); l++)
		if (memcmp(dd_plant_symbol(pl, l), sym, strlen(sym)) == 0 &&
		    dd_plant_symbol(pl, l)[strlen(sym)] == ' ')
			return l;
	fail_msg("no instrument %s", sym);
	return 0;
}

/* Volume of `s`'s trades in [from, to). */
static uint64_t volume(const struct sym *s, uint64_t from, uint64_t to)
{
	uint64_t v = 0;

	for (size_t i = 0; i < s->nt; i++)
		if (s->t[i].time >= from && s->t[i].time < to)
			v += s->t[i].shares;
	return v;
}

static void test_alerts_point_at_the_planted_records(void **state)
{
	struct day d;
	struct replay r;
	const struct dd_plant_alert *a;
	const struct dd_itch_msg *m, *m2;
	uint16_t l;
	long i;

	(void)state;
	day_open(&d, 13, 20, DD_PLANT_ALL);
	replay(&r, d.msg[0], d.n[0]);

	/* momentum: four trades, each above the one before; the first and last prices are the measures. */
	a = find_alert(d.pl, DD_PLANT_MOMENTUM, "MOMO");
	l = locate_of(d.pl, "MOMO");
	{
		const struct trade *t = r.s[l].t;
		size_t k = 0;

		while (k + 3 < r.s[l].nt && t[k].time != a->first_ns)
			k++;
		assert_true(k + 3 < r.s[l].nt);
		assert_int_equal(t[k + 3].time, a->last_ns);
		for (int j = 1; j <= 3; j++)
			assert_true(t[k + j].price > t[k + j - 1].price);
		assert_int_equal(t[k].price, a->measure[0]);
		assert_int_equal(t[k + 3].price, a->measure[1]);
	}

	/* volume_spike: the minute ending at the alert against the minutes before (all since the first). */
	for (unsigned k = 0; k < dd_plant_alert_count(d.pl); k++) {
		uint64_t prev = 0, first;
		unsigned n = 0;

		a = dd_plant_alert(d.pl, k);
		if (a->pattern != DD_PLANT_VOLUME_SPIKE)
			continue;
		l = locate_of(d.pl, a->symbol);
		assert_int_equal(a->first_ns, a->last_ns);
		assert_int_equal(a->last_ns % MINUTE, 0);
		assert_int_equal(volume(&r.s[l], a->last_ns - MINUTE, a->last_ns), a->measure[0]);
		first = r.s[l].t[0].time / MINUTE * MINUTE;
		for (uint64_t t = a->last_ns - MINUTE; t > first && n < 10; t -= MINUTE, n++)
			prev += volume(&r.s[l], t - MINUTE, t);
		assert_true(n > 0);
		assert_int_equal(prev % n, 0);
		assert_int_equal(prev / n, a->measure[1]);
		assert_true(a->measure[0] >= 3 * a->measure[1]);
	}

	/* bull_run and insider: a news halt at last_ns, 0-10 and 5-30 minutes after the spike's window. */
	a = find_alert(d.pl, DD_PLANT_BULL_RUN, "BULL");
	i = msg_at(&d, 0, locate_of(d.pl, "BULL"), a->last_ns);
	assert_true(i >= 0 && d.msg[0][i].type == 'H' && d.msg[0][i].u.trading_action.state == 'H');
	assert_true(a->last_ns - a->first_ns < 5 * MINUTE);
	assert_non_null(find_alert(d.pl, DD_PLANT_VOLUME_SPIKE, "BULL"));
	a = find_alert(d.pl, DD_PLANT_INSIDER, "INSD");
	i = msg_at(&d, 0, locate_of(d.pl, "INSD"), a->last_ns);
	assert_true(i >= 0 && d.msg[0][i].type == 'H');
	assert_memory_equal(d.msg[0][i].u.trading_action.reason, "T2  ", 4);
	assert_true(a->last_ns - a->first_ns > 10 * MINUTE && a->last_ns - a->first_ns <= 30 * MINUTE);

	/* bear_signal: a news halt, then 20,000 shares offered within 5 minutes. */
	a = find_alert(d.pl, DD_PLANT_BEAR_SIGNAL, "BEAR");
	l = locate_of(d.pl, "BEAR");
	m = &d.msg[0][msg_at(&d, 0, l, a->first_ns)];
	m2 = &d.msg[0][msg_at(&d, 0, l, a->last_ns)];
	assert_true(m->type == 'H' && m->u.trading_action.state == 'H');
	assert_true(m2->type == 'A' && m2->u.add.side == 'S' && m2->u.add.shares > 10000);
	assert_int_equal(m2->u.add.shares, a->measure[0]);
	assert_int_equal(m2->u.add.price, a->measure[1]);
	assert_true(a->last_ns - a->first_ns <= 5 * MINUTE);

	/* manipulation: > 50,000 on one side, > 30,000 on the other within 60 s. */
	a = find_alert(d.pl, DD_PLANT_MANIPULATION, "MANP");
	l = locate_of(d.pl, "MANP");
	m = &d.msg[0][msg_at(&d, 0, l, a->first_ns)];
	m2 = &d.msg[0][msg_at(&d, 0, l, a->last_ns)];
	assert_true(m->type == 'A' && m->u.add.shares == a->measure[0] && a->measure[0] > 50000);
	assert_true(m2->type == 'A' && m2->u.add.shares == a->measure[1] && a->measure[1] > 30000);
	assert_true(m->u.add.side != m2->u.add.side && a->last_ns - a->first_ns <= 60 * NS);

	/* spoofing: > 50,000 added, deleted 200 ms later. */
	a = find_alert(d.pl, DD_PLANT_SPOOFING, "SPOF");
	l = locate_of(d.pl, "SPOF");
	m = &d.msg[0][msg_at(&d, 0, l, a->first_ns)];
	m2 = &d.msg[0][msg_at(&d, 0, l, a->last_ns)];
	assert_true(m->type == 'A' && m->u.add.shares == a->measure[0] && m->u.add.price == a->measure[1]);
	assert_true(m2->type == 'D' && m2->u.del.ref == m->u.add.ref);
	assert_int_equal(a->measure[2], 200000000);
	assert_int_equal(a->last_ns - a->first_ns, 200000000);

	/* circuit_breaker: the five minutes ending at the alert, from their first trade's price. */
	a = find_alert(d.pl, DD_PLANT_CIRCUIT_BREAKER, "CBRK");
	l = locate_of(d.pl, "CBRK");
	assert_int_equal(a->last_ns % (5 * MINUTE), 0);
	{
		int64_t open = -1, lo = INT64_MAX, hi = 0;

		for (size_t k = 0; k < r.s[l].nt; k++) {
			const struct trade *t = &r.s[l].t[k];

			if (t->time < a->last_ns - 5 * MINUTE || t->time >= a->last_ns)
				continue;
			if (open < 0)
				open = t->price;
			lo = t->price < lo ? t->price : lo;
			hi = t->price > hi ? t->price : hi;
		}
		assert_int_equal(open, a->measure[0]);
		assert_int_equal(lo, a->measure[1]);
		assert_int_equal(hi, a->measure[2]);
		assert_true((hi - open) * 100 >= 5 * open);
	}

	/* arbitrage: the second venue's ask 0.5% or more under the first's bid, at first_ns. */
	a = find_alert(d.pl, DD_PLANT_ARBITRAGE, "ARBT");
	l = locate_of(d.pl, "ARBT");
	i = msg_at(&d, 1, l, a->first_ns);
	assert_true(i >= 0);
	m = &d.msg[1][i];
	assert_true(m->type == 'A' && m->u.add.side == 'S' && m->u.add.price == a->measure[1]);
	assert_true(a->measure[2] * 1000 >= a->measure[1] * 1005);
	assert_true(a->measure[0] < a->measure[1] && a->measure[2] < a->measure[3]);
	assert_true(d.msg[1][i + 1].type == 'D' && d.msg[1][i + 1].u.del.ref == m->u.add.ref);
	/* Same locate on both feeds: the first venue's minute opened 21 s before, on this locate. */
	assert_true(msg_at(&d, 0, l, a->first_ns - 21 * NS) >= 0);

	/* stale_feed: its last message, then more than 60 s without one. */
	a = find_alert(d.pl, DD_PLANT_STALE_FEED, "STAL");
	l = locate_of(d.pl, "STAL");
	assert_int_equal(a->measure[0], a->first_ns);
	for (size_t k = 0; k + 1 < r.s[l].nany; k++)
		if (r.s[l].any[k] == a->first_ns)
			assert_true(r.s[l].any[k + 1] - r.s[l].any[k] > 60 * NS);
	replay_free(&r);
	day_close(&d);
}

/*
 * Over every instrument, the conditions of the patterns the simple way: only the planted instruments
 * meet them, as often as their alerts say (a bull run's or insider's spike counts as a spike), and the
 * background instruments never.
 */
static void test_only_the_planted_instruments_meet_the_patterns(void **state)
{
	struct day d;
	struct replay r;

	(void)state;
	day_open(&d, 21, 60, DD_PLANT_ALL);
	replay(&r, d.msg[0], d.n[0]);
	for (uint16_t l = 1; l <= dd_plant_instruments(d.pl); l++) {
		const struct sym *s = &r.s[l];
		unsigned rises = 0, runs3 = 0, spikes = 0, ranges = 0, silences = 0;
		uint64_t first = s->t[0].time / MINUTE, last_msg = d.msg[0][d.n[0] - 1].timestamp;
		uint64_t vol[64] = { 0 };

		for (size_t k = 1; k < s->nt; k++) {
			rises = s->t[k].price > s->t[k - 1].price ? rises + 1 : 0;
			runs3 += rises == 3;
		}
		for (size_t k = 0; k < s->nt; k++) {
			uint64_t w = s->t[k].time / MINUTE - first;

			assert_true(w < 64);
			vol[w] += s->t[k].shares;
		}
		for (unsigned w = 1; w < 64; w++) {
			unsigned n = w < 10 ? w : 10;
			uint64_t avg = 0;

			for (unsigned j = w - n; j < w; j++)
				avg += vol[j];
			avg /= n;
			/* A minute without trades does not fire; one that fires spikes at 3x the average. */
			spikes += vol[w] && avg && vol[w] >= 3 * avg;
		}
		for (uint64_t w5 = s->t[0].time / (5 * MINUTE); w5 <= s->t[s->nt - 1].time / (5 * MINUTE);
		     w5++) {
			int64_t open = -1, lo = INT64_MAX, hi = 0;

			for (size_t k = 0; k < s->nt; k++) {
				if (s->t[k].time / (5 * MINUTE) != w5)
					continue;
				if (open < 0)
					open = s->t[k].price;
				lo = s->t[k].price < lo ? s->t[k].price : lo;
				hi = s->t[k].price > hi ? s->t[k].price : hi;
			}
			ranges += open > 0 &&
				  ((hi - open) * 100 >= 5 * open || (open - lo) * 100 >= 5 * open);
		}
		for (size_t k = 0; k < s->nany; k++)
			silences += (k + 1 < s->nany ? s->any[k + 1] : last_msg) - s->any[k] > 60 * NS;

		if (strcmp(s->name, "MOMO") == 0)
			assert_int_equal(runs3, 1);
		else
			assert_int_equal(runs3, 0);
		assert_int_equal(spikes, !strcmp(s->name, "VSPK") || !strcmp(s->name, "BULL") ||
						 !strcmp(s->name, "INSD"));
		assert_int_equal(ranges, !strcmp(s->name, "CBRK"));
		assert_int_equal(silences, !strcmp(s->name, "STAL"));
		assert_int_equal(s->big_orders, !strcmp(s->name, "MANP") || !strcmp(s->name, "SPOF") ? 1 : 0);
		assert_int_equal(s->news_halts, !strcmp(s->name, "BULL") || !strcmp(s->name, "INSD") ||
						!strcmp(s->name, "BEAR"));
		assert_int_equal(s->big_sells_after_halt, !strcmp(s->name, "BEAR"));
	}
	replay_free(&r);
	day_close(&d);
}

static void test_alert_lines_are_the_briefed_json(void **state)
{
	void *mem;
	struct dd_plant *pl = plant_open(&mem, 1, 5, 1u << DD_PLANT_SPOOFING);
	const struct dd_plant_alert *a = dd_plant_alert(pl, 0);
	char line[512], want[512];

	(void)state;
	snprintf(want, sizeof(want),
		 "{\"pattern\":\"spoofing\",\"symbol\":\"SPOF\",\"first_ns\":%llu,\"last_ns\":%llu,"
		 "\"shares\":80000,\"price\":%lld,\"lifetime_ns\":200000000}",
		 (unsigned long long)a->first_ns, (unsigned long long)a->last_ns, (long long)a->measure[1]);
	assert_int_equal(dd_plant_alert_json(a, line, sizeof(line)), (int)strlen(want));
	assert_string_equal(line, want);
	assert_int_equal(dd_plant_alert_json(a, line, strlen(want)), -ENOSPC);
	assert_int_equal(dd_plant_alert_json(a, line, 20), -ENOSPC);
	free(mem);
}

static void test_parse_takes_all_and_lists_and_names_the_bad_element(void **state)
{
	uint32_t p = 0;
	size_t off = 99, len = 99;

	(void)state;
	assert_int_equal(dd_plant_parse("all", &p, &off, &len), 0);
	assert_int_equal(p, DD_PLANT_ALL);
	assert_int_equal(dd_plant_parse("stale_feed,momentum,momentum", &p, &off, &len), 0);
	assert_int_equal(p, 1u << DD_PLANT_STALE_FEED | 1u << DD_PLANT_MOMENTUM);
	assert_int_equal(dd_plant_parse("spoofing,all", &p, &off, &len), 0);
	assert_int_equal(p, DD_PLANT_ALL);
	assert_int_equal(dd_plant_parse("momentum,bul_run", &p, &off, &len), -EINVAL);
	assert_int_equal(off, 9);
	assert_int_equal(len, 7);
	assert_int_equal(dd_plant_parse("momentum,", &p, &off, &len), -EINVAL);
	assert_int_equal(off, 9);
	assert_int_equal(len, 0);
	assert_int_equal(dd_plant_parse("", &p, &off, &len), -EINVAL);
	assert_int_equal(dd_plant_parse("momentumx", &p, &off, &len), -EINVAL);
	for (unsigned k = 0; k < DD_PLANT_PATTERNS; k++) {
		assert_int_equal(dd_plant_parse(dd_plant_pattern_name(k), &p, &off, &len), 0);
		assert_int_equal(p, 1u << k);
	}
	assert_null(dd_plant_pattern_name(DD_PLANT_PATTERNS));
}

static void test_rejects_out_of_range_parameters(void **state)
{
	struct dd_plant_params p = { .seed = 1, .background = 10, .patterns = DD_PLANT_ALL };
	struct dd_plant *pl;
	size_t n = dd_plant_memsize(&p);
	void *mem = aligned_alloc(64, (n + 63) & ~(size_t)63);

	(void)state;
	assert_non_null(mem);
	assert_int_equal(dd_plant_init(&pl, mem, n - 1, &p), -EINVAL);
	assert_int_equal(dd_plant_init(&pl, (char *)mem + 4, n, &p), -EINVAL);
	p.background = 0;
	assert_int_equal(dd_plant_memsize(&p), 0);
	assert_int_equal(dd_plant_init(&pl, mem, n, &p), -EINVAL);
	p.background = DD_PLANT_MAX_BACKGROUND + 1;
	assert_int_equal(dd_plant_memsize(&p), 0);
	p.background = DD_PLANT_MAX_BACKGROUND;
	assert_true(dd_plant_memsize(&p) > 0);
	p.background = 10;
	p.patterns = 0;
	assert_int_equal(dd_plant_memsize(&p), 0);
	p.patterns = 1u << DD_PLANT_PATTERNS;
	assert_int_equal(dd_plant_memsize(&p), 0);
	free(mem);
}

static void test_second_feed_only_with_arbitrage(void **state)
{
	void *mem;
	struct dd_plant *pl = plant_open(&mem, 1, 3, ALL_BUT(DD_PLANT_ARBITRAGE));
	struct dd_itch_msg m;

	(void)state;
	assert_int_equal(dd_plant_feeds(pl), 1);
	assert_int_equal(dd_plant_next(pl, 1, &m), 0);
	assert_int_equal(dd_plant_next(pl, 2, &m), 0);
	assert_null(find_alert(pl, DD_PLANT_ARBITRAGE, NULL));
	assert_int_equal(dd_plant_alert_count(pl), 11);
	free(mem);
}

/* ---- dadar-gen synth --plant ------------------------------------------------------------------- */

static const char *gen_bin(void)
{
	static char path[512];
	const char *b = getenv("B");

	snprintf(path, sizeof(path), "%s/dadar-gen", b != NULL && b[0] ? b : "build");
	if (access(path, X_OK) != 0) {
		fprintf(stderr, "SKIP: %s is not built (make build/dadar-gen): synth --plant not run\n", path);
		return NULL;
	}
	return path;
}

static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	assert_true(rc != -1 && WIFEXITED(rc));
	return WEXITSTATUS(rc);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Read the capture at `path` frame by frame (checksums verified) and compare each ITCH message with
 * feed `feed` of the library's day `d`, in order: the same bytes, all of them, sequence numbers from 1.
 */
static void capture_matches(const char *path, const struct day *d, unsigned feed, uint32_t group)
{
	size_t len, off = 24, k = 0;
	uint8_t *buf = slurp(path, &len);
	uint64_t seq = 1;
	const unsigned flags = DD_FRAME_CHECK_IP_CSUM | DD_FRAME_CHECK_UDP_CSUM;

	assert_true(len >= 24);
	assert_int_equal(le32(buf), 0xa1b23c4du);
	while (off < len) {
		struct dd_udp_view v;
		struct dd_mold_hdr h;
		struct dd_mold_block b;
		const uint8_t *msg;
		uint16_t mlen;
		uint32_t cap;

		assert_true(off + 16 <= len);
		cap = le32(buf + off + 8);
		assert_true(off + 16 + cap <= len);
		assert_int_equal(dd_frame_udp(buf + off + 16, cap, flags, &v), DD_FRAME_UDP);
		assert_int_equal(v.dst_ip, group);
		assert_int_equal(dd_mold_parse(v.payload, v.len, &h), DD_MOLD_OK);
		assert_int_equal(h.seq, seq);
		b = (struct dd_mold_block){ .p = v.payload + DD_MOLD_HDR_LEN, .end = v.payload + v.len,
					    .seq = h.seq, .count = h.count };
		while (dd_mold_next(&b, &msg, &mlen)) {
			struct dd_itch_msg m;

			assert_int_equal(dd_itch_decode(msg, mlen, &m), 0);
			assert_true(k < d->n[feed]);
			assert_true(same_msg(&m, &d->msg[feed][k]));
			k++;
		}
		seq += h.count;
		off += 16 + cap;
	}
	assert_int_equal(k, d->n[feed]);
	free(buf);
}

static void test_dadar_gen_writes_captures_and_the_expect_file_of_the_library(void **state)
{
	const char *bin = gen_bin();
	char dir[] = "/tmp/test_plant.XXXXXX", line[512];
	char day[600], v2[600], exp[600], errs[600];
	struct day d;
	uint8_t *text;
	size_t len, at = 0;

	(void)state;
	if (bin == NULL)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(day, sizeof(day), "%s/day.pcap", dir);
	snprintf(v2, sizeof(v2), "%s/v2.pcap", dir);
	snprintf(exp, sizeof(exp), "%s/alerts.jsonl", dir);
	snprintf(errs, sizeof(errs), "%s/stderr", dir);
	assert_int_equal(run("'%s' synth '%s' --plant all --expect '%s' --plant-venue2 '%s' --seed 4 "
			     "--instruments 25 2>'%s'", bin, day, exp, v2, errs), 0);
	day_open(&d, 4, 25, DD_PLANT_ALL);
	capture_matches(day, &d, 0, 0xe9360c6f);   /* 233.54.12.111 */
	capture_matches(v2, &d, 1, 0xe9360c6e);    /* 233.54.12.110: the lowest bit flipped */
	text = slurp(exp, &len);
	for (unsigned i = 0; i < dd_plant_alert_count(d.pl); i++) {
		int n = dd_plant_alert_json(dd_plant_alert(d.pl, i), line, sizeof(line));

		assert_true(n > 0 && at + (size_t)n + 1 <= len);
		assert_memory_equal(text + at, line, (size_t)n);
		assert_int_equal(text[at + (size_t)n], '\n');
		at += (size_t)n + 1;
	}
	assert_int_equal(at, len);
	free(text);
	day_close(&d);

	/* Usage errors: exit 2, nothing written. */
	unlink(day);
	assert_int_equal(run("'%s' synth '%s' --plant all --expect '%s' 2>>'%s'", bin, day, exp, errs), 2);
	assert_int_equal(run("'%s' synth '%s' --plant momentum 2>>'%s'", bin, day, errs), 2);
	assert_int_equal(run("'%s' synth '%s' --expect '%s' 2>>'%s'", bin, day, exp, errs), 2);
	assert_int_equal(run("'%s' synth '%s' --plant momentum --expect '%s' --messages 5000 2>>'%s'", bin,
			     day, exp, errs), 2);
	assert_int_equal(run("'%s' synth '%s' --plant momentum --expect '%s' --plant-venue2 '%s' 2>>'%s'",
			     bin, day, exp, v2, errs), 2);
	assert_int_equal(run("'%s' synth '%s' --plant momentun --expect '%s' 2>>'%s'", bin, day, exp, errs),
			 2);
	assert_int_equal(run("'%s' payments '%s' --plant momentum 2>>'%s'", bin, day, errs), 2);
	assert_int_equal(access(day, F_OK), -1);
	text = slurp(errs, &len);
	assert_non_null(strstr((char *)text, "--plant arbitrage: needs --plant-venue2"));
	assert_non_null(strstr((char *)text, "--plant momentun: 'momentun' is no pattern"));
	free(text);
	assert_int_equal(run("rm -rf '%s'", dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_seed_gives_identical_days_and_another_seed_another),
		cmocka_unit_test(test_timestamps_strictly_increase_and_every_message_round_trips),
		cmocka_unit_test(test_books_stay_consistent_and_end_empty),
		cmocka_unit_test(test_each_pattern_alone_gets_exactly_its_alerts),
		cmocka_unit_test(test_all_patterns_give_twelve_alerts_in_the_order_produced),
		cmocka_unit_test(test_alerts_point_at_the_planted_records),
		cmocka_unit_test(test_only_the_planted_instruments_meet_the_patterns),
		cmocka_unit_test(test_alert_lines_are_the_briefed_json),
		cmocka_unit_test(test_parse_takes_all_and_lists_and_names_the_bad_element),
		cmocka_unit_test(test_rejects_out_of_range_parameters),
		cmocka_unit_test(test_second_feed_only_with_arbitrage),
		cmocka_unit_test(test_dadar_gen_writes_captures_and_the_expect_file_of_the_library),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
