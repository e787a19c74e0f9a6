/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/journal/replay.c: replay of a journal through the operator chains its
 * CONFIG record describes, the check of the re-derived outputs against the journaled ones (per
 * shard and operator, cause included), sharding, snapshots, feed positions, the configuration
 * checks, and what a torn or corrupt journal does to a replay.
 *
 * Journals are written here as the daemon writes them: segment files zero-filled to their size
 * (ftruncate), a header from dd_jseg_header_init() + dd_jseg_header_set_layout() at offset 0,
 * records from dd_jrec_put() appended with pwrite() from offset 4096, a PAD before rotating, a
 * CONFIG record first. The inputs are canonical events built by hand (a scripted day of adds,
 * executions, cancels, deletes and replaces on four instruments, with TICK events where a test
 * wants them). The outputs are what a reference "daemon" here derives from them without any
 * operator code: dd_book_apply() on its own books and, when the top changed, a DD_OUT_BBO built by
 * hand from dd_book_best(); for the test operators, the rules ops/test/test_ops.h documents,
 * computed here. Each test gets its own mkdtemp() directory, removed by its teardown.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/journal/jfile.h"
#include "dataplane/journal/replay.h"
#include "ops/book/book.h"
#include "ops/book/book_op.h"
#include "ops/chain.h"
#include "ops/event.h"
#include "ops/output.h"
#include "ops/test/test_ops.h"

#define SEG (16 * 1024) /* 12 KiB of records per segment: every journal here rotates */
#define MAXSEG 128
#define MAXLSN 16384
#define MAXSHARDS 4
#define MAXBOOKS 8
#define MAXEV 1024
#define MAXOUT 4096
#define EVOUT 32  /* most outputs one event derives over every shard */
#define NLOC 4    /* instruments: locates 1..4 (two per shard with two shards: the hash keeps parity) */
#define MULTI_KEYS 65536 /* test_multi's per-key state: "the stock locate, taken mod 65536" */

static const struct dd_book_params g_params = { .max_instruments = 16, .max_orders = 4096, .max_levels = 1024 };

/* The market chain of a test: the book alone (what dadar runs by default), or the book followed by
 * the two test operators (`--chain book,test_multi,test_timer`). */
enum chain { CHAIN_BOOK, CHAIN_BOOK_TEST };
#define MULTI_MAX 3u
#define TIMER_PERIOD 20000u /* ns: the scripted day's events are 1500 ns apart */
#define MULTI_RULE 1 /* the rules the test operators' outputs name (ops/test/test_ops.h) */
#define TIMER_RULE 2

/* ---- a journal written as the daemon writes it ----------------------------------------------- */

struct jw {
	char dir[64];
	int fd;                 /* current segment, -1 before the first */
	uint64_t off;           /* where the next record goes */
	uint64_t lsn;           /* the next LSN */
	uint64_t index;         /* the next segment's index */
	uint32_t nshards, nfeeds;
	char path[MAXSEG][256];
	unsigned nseg;
	uint64_t seg_of[MAXLSN]; /* LSN -> segment, offset (for poking) */
	uint64_t off_of[MAXLSN];
};

static void pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	assert_int_equal(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
}

static void jw_segment(struct jw *j)
{
	struct dd_jseg_header h;

	assert_true(j->nseg < MAXSEG);
	if (j->fd >= 0)
		close(j->fd);
	dd_jseg_path(j->path[j->nseg], sizeof(j->path[0]), j->dir, j->lsn);
	j->fd = open(j->path[j->nseg], O_RDWR | O_CREAT | O_EXCL, 0644);
	assert_true(j->fd >= 0);
	assert_int_equal(ftruncate(j->fd, SEG), 0);
	dd_jseg_header_init(&h, SEG, j->lsn, j->index++, 2000000000ull, "test");
	dd_jseg_header_set_layout(&h, j->nshards, j->nfeeds);
	pwrite_all(j->fd, &h, sizeof(h), 0);
	j->nseg++;
	j->off = DD_J_PAGE;
}

/* Close the current segment with a PAD (if there is room for one) and start the next. */
static void jw_rotate(struct jw *j)
{
	if (SEG - j->off >= DD_J_REC_HDR) {
		uint8_t h[DD_J_REC_HDR];
		assert_int_equal(dd_jrec_put_pad(h, j->lsn, (uint32_t)(SEG - j->off)), SEG - j->off);
		pwrite_all(j->fd, h, sizeof(h), j->off);
		assert_true(j->lsn < MAXLSN);
		j->seg_of[j->lsn] = j->nseg - 1;
		j->off_of[j->lsn] = j->off;
		j->lsn++;
	}
	jw_segment(j);
}

/* Append one record (rotating when it does not fit); returns its LSN. `cut` > 0 writes only the
 * first `cut` bytes of it: a crash in the middle of the write. */
static uint64_t jw_put_cut(struct jw *j, uint16_t type, uint16_t source, uint32_t partition, const void *p, size_t n,
			   size_t cut)
{
	uint8_t rec[DD_J_MAX_REC];
	size_t len = dd_jrec_size(n);

	if (j->fd < 0)
		jw_segment(j);
	if (j->off + len > SEG)
		jw_rotate(j);
	assert_int_equal(dd_jrec_put(rec, type, source, partition, j->lsn, p, n), len);
	pwrite_all(j->fd, rec, cut ? cut : len, j->off);
	assert_true(j->lsn < MAXLSN);
	j->seg_of[j->lsn] = j->nseg - 1;
	j->off_of[j->lsn] = j->off;
	j->off += len;
	return j->lsn++;
}

static uint64_t jw_put(struct jw *j, uint16_t type, uint16_t source, uint32_t partition, const void *p, size_t n)
{
	return jw_put_cut(j, type, source, partition, p, n, 0);
}

static uint64_t jw_event(struct jw *j, const struct dd_event *ev)
{
	return jw_put(j, DD_JREC_EVENT, ev->source, ev->key, ev, sizeof(*ev));
}

static uint64_t jw_output(struct jw *j, const struct dd_output *o)
{
	return jw_put(j, DD_JREC_OUTPUT, o->source, o->key, o, sizeof(*o));
}

static uint64_t jw_config(struct jw *j, const struct dd_jconfig *jc)
{
	return jw_put(j, DD_JREC_CONFIG, 0, 0, jc, sizeof(*jc));
}

static uint64_t jw_feedpos(struct jw *j, unsigned feed, const char *session, uint64_t next_seq, bool ended)
{
	struct dd_jfeedpos fp;

	memset(&fp, 0, sizeof(fp));
	memcpy(fp.session, session, sizeof(fp.session));
	fp.next_seq = next_seq;
	fp.ended = ended;
	return jw_put(j, DD_JREC_FEEDPOS, (uint16_t)feed, 0, &fp, sizeof(fp));
}

static void jw_flip(struct jw *j, uint64_t lsn, unsigned at)
{
	uint8_t b;
	int fd = open(j->path[j->seg_of[lsn]], O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)(j->off_of[lsn] + at)), 1);
	b ^= 0x40;
	pwrite_all(fd, &b, 1, j->off_of[lsn] + at);
	close(fd);
}

/* Lose every record from `lsn` on, as a disk that dropped acknowledged writes would: zeros from
 * its offset to the end of its segment, later segments removed. No torn bytes: a clean end. */
static void jw_lose_from(struct jw *j, uint64_t lsn)
{
	static const uint8_t zeros[SEG];
	unsigned seg = (unsigned)j->seg_of[lsn];
	int fd = open(j->path[seg], O_RDWR);

	assert_true(fd >= 0);
	pwrite_all(fd, zeros, SEG - j->off_of[lsn], j->off_of[lsn]);
	close(fd);
	for (unsigned s = seg + 1; s < j->nseg; s++)
		assert_int_equal(unlink(j->path[s]), 0);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->nseg = seg + 1;
}

/* ---- the scripted day ------------------------------------------------------------------------ */

static const char *const stock[NLOC + 1] = { "", "AAA     ", "BBB     ", "CCC     ", "DDDD    " };

struct live {
	uint64_t ref;
	uint32_t locate, price, shares;
	uint8_t side;
};

struct script {
	struct dd_event ev[MAXEV];
	unsigned n;
	uint64_t seq;
	uint64_t next_ref;
	uint64_t t_off;         /* added to event times: a TICK moves time ahead for what follows */
	unsigned tick_every;    /* a TICK after every this many steps (0: none) */
	uint32_t rng;
	struct live live[MAXEV];
	unsigned nlive;
};

static uint64_t ev_time(const struct script *s, uint64_t seq)
{
	return 34200000000000ull + seq * 1500 + s->t_off; /* 09:30:00 and on */
}

static struct dd_event mk(struct script *s, uint8_t type, uint8_t msg, uint8_t source, uint32_t locate)
{
	struct dd_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.msg = msg;
	e.source = source;
	e.key = locate;
	e.seq = ++s->seq;
	e.event_ns = ev_time(s, s->seq);
	e.rx_tsc = 1000000 + s->seq * 777;
	return e;
}

static uint32_t rnd(struct script *s, uint32_t n)
{
	s->rng = s->rng * 1103515245u + 12345u;
	return (s->rng >> 8) % n;
}

static void emit(struct script *s, const struct dd_event *e)
{
	assert_true(s->n < MAXEV);
	s->ev[s->n++] = *e;
}

/* Explicit time: `ahead` ns past the last event, and every later event after it. A TICK is no
 * feed message: no sequence number, no key. */
static void tick(struct script *s, uint8_t source, uint64_t ahead)
{
	struct dd_event e;

	memset(&e, 0, sizeof(e));
	e.type = DD_EV_TICK;
	e.source = source;
	s->t_off += ahead;
	e.event_ns = ev_time(s, s->seq);
	e.rx_tsc = 1000000 + s->seq * 777 + 1;
	emit(s, &e);
}

static void add(struct script *s, uint8_t source, uint32_t locate, uint8_t side, uint32_t shares, uint32_t price)
{
	struct dd_event e = mk(s, DD_EV_ADD, 'A', source, locate);

	e.u.add.ref = ++s->next_ref;
	e.u.add.shares = shares;
	e.u.add.price = price;
	e.u.add.side = side;
	memcpy(e.u.add.stock, stock[locate], 8);
	memcpy(e.u.add.mpid, "    ", 4);
	emit(s, &e);
	s->live[s->nlive++] = (struct live){ e.u.add.ref, locate, price, shares, side };
}

static void forget(struct script *s, unsigned i)
{
	s->live[i] = s->live[--s->nlive];
}

/*
 * The day: a system event, the directory, a few orders placed by hand, then `steps` operations
 * chosen by a fixed LCG among add (45%), execute (15%), cancel (10%), delete (15%) and replace
 * (15%) on the live orders of feed `source`; after every s->tick_every steps a TICK at the last
 * event's time, as the RX lcore makes them.
 */
static void script_day(struct script *s, uint8_t source, unsigned steps, uint32_t seed)
{
	struct dd_event e = mk(s, DD_EV_SYSTEM, 'S', source, 0);

	s->rng = seed;
	s->nlive = 0;
	e.u.system.event_code = 'O';
	emit(s, &e);
	for (uint32_t l = 1; l <= NLOC; l++) {
		e = mk(s, DD_EV_DIRECTORY, 'R', source, l);
		memcpy(e.u.directory.stock, stock[l], 8);
		e.u.directory.round_lot_size = 100;
		e.u.directory.market_category = 'Q';
		emit(s, &e);
	}
	add(s, source, 1, 'B', 300, 123400);
	add(s, source, 1, 'S', 200, 123600);
	add(s, source, 2, 'B', 100, 45000);
	add(s, source, 2, 'S', 100, 45100);
	add(s, source, 3, 'B', 500, 990000);
	add(s, source, 4, 'S', 700, 10100);
	for (unsigned k = 0; k < steps; k++) {
		if (s->tick_every != 0 && k % s->tick_every == s->tick_every - 1)
			tick(s, source, 0);
		uint32_t op = rnd(s, 100);
		if (op < 45 || s->nlive == 0) {
			uint32_t l = 1 + rnd(s, NLOC);
			uint8_t side = rnd(s, 2) ? 'B' : 'S';
			uint32_t px = 10000 * l + (side == 'B' ? 0 : 200) + 100 * rnd(s, 5);
			add(s, source, l, side, 100 * (1 + rnd(s, 9)), px);
			continue;
		}
		unsigned i = rnd(s, s->nlive);
		struct live *o = &s->live[i];
		if (op < 60) {
			uint32_t sh = o->shares > 100 ? 100 : o->shares;
			e = mk(s, DD_EV_EXEC, 'E', source, o->locate);
			e.u.exec.ref = o->ref;
			e.u.exec.match = 900000 + s->seq;
			e.u.exec.shares = sh;
			e.u.exec.printable = 'Y';
			emit(s, &e);
			if ((o->shares -= sh) == 0)
				forget(s, i);
		} else if (op < 70) {
			uint32_t sh = o->shares / 2 ? o->shares / 2 : o->shares;
			e = mk(s, DD_EV_CANCEL, 'X', source, o->locate);
			e.u.cancel.ref = o->ref;
			e.u.cancel.shares = sh;
			emit(s, &e);
			if ((o->shares -= sh) == 0)
				forget(s, i);
		} else if (op < 85) {
			e = mk(s, DD_EV_DELETE, 'D', source, o->locate);
			e.u.del.ref = o->ref;
			emit(s, &e);
			forget(s, i);
		} else {
			e = mk(s, DD_EV_REPLACE, 'U', source, o->locate);
			e.u.replace.ref = o->ref;
			e.u.replace.new_ref = ++s->next_ref;
			e.u.replace.shares = o->shares + 100;
			e.u.replace.price = o->price + (o->side == 'B' ? 100 : -100u);
			emit(s, &e);
			o->ref = e.u.replace.new_ref;
			o->shares = e.u.replace.shares;
			o->price = e.u.replace.price;
		}
	}
}

/* ---- the reference daemon -------------------------------------------------------------------- */

/*
 * What the daemon's chains hold, kept here without any operator code: the books of every shard and
 * feed (driven with dd_book_apply()), and for CHAIN_BOOK_TEST the state the rules of
 * ops/test/test_ops.h describe, per shard.
 */
struct model {
	unsigned nshards, nfeeds;
	enum chain chain;
	struct dd_book b[MAXBOOKS]; /* [shard * nfeeds + feed] */
	void *mem[MAXBOOKS];
	struct {
		uint32_t per_key[MULTI_KEYS];      /* events seen per key */
		uint32_t consumed_key[MULTI_KEYS]; /* outputs of the book about each key it consumed */
	} multi[MAXSHARDS];
	struct {
		uint64_t wm;                       /* the watermark (0: no tick yet) */
		uint64_t count[DD_TEST_TIMER_KEYS]; /* events of each key since its last firing */
	} timer[MAXSHARDS];
};

static void model_init(struct model *m, unsigned nshards, unsigned nfeeds, enum chain chain)
{
	size_t len = dd_book_memsize(&g_params);

	assert_true(nshards <= MAXSHARDS && nshards * nfeeds <= MAXBOOKS && len > 0);
	m->nshards = nshards;
	m->nfeeds = nfeeds;
	m->chain = chain;
	for (unsigned i = 0; i < nshards * nfeeds; i++) {
		m->mem[i] = aligned_alloc(64, (len + 63) & ~(size_t)63);
		assert_non_null(m->mem[i]);
		assert_int_equal(dd_book_init(&m->b[i], m->mem[i], len, &g_params), 0);
	}
}

static void model_free(struct model *m)
{
	for (unsigned i = 0; i < MAXBOOKS; i++)
		free(m->mem[i]);
	memset(m, 0, sizeof(*m));
}

/* The configuration a real dadar journals for this layout and chain (dd_config_market_chain()). */
static void make_jconfig(struct dd_jconfig *jc, unsigned nshards, unsigned nfeeds, enum chain chain)
{
	memset(jc, 0, sizeof(*jc));
	jc->version = DD_JCONFIG_VERSION;
	jc->nshards = nshards;
	jc->nfeeds = nfeeds;
	assert_int_equal(dd_chain_spec_add(&jc->market, DD_OP_BOOK,
					   &(struct dd_book_op_params){ .book = g_params, .nfeeds = nfeeds },
					   sizeof(struct dd_book_op_params)),
			 0);
	if (chain == CHAIN_BOOK_TEST) {
		assert_int_equal(dd_chain_spec_add(&jc->market, DD_OP_TEST_MULTI,
						   &(struct dd_test_multi_params){ .max = MULTI_MAX },
						   sizeof(struct dd_test_multi_params)),
				 0);
		assert_int_equal(dd_chain_spec_add(&jc->market, DD_OP_TEST_TIMER,
						   &(struct dd_test_timer_params){ .period_ns = TIMER_PERIOD },
						   sizeof(struct dd_test_timer_params)),
				 0);
	}
}

/* An output's header as every operator's output of event `ev` in `shard` starts, body zero. */
static struct dd_output *head(struct dd_output *o, const struct dd_event *ev, uint64_t cause, unsigned shard,
			      uint8_t op, uint16_t type, uint16_t rule)
{
	memset(o, 0, sizeof(*o));
	o->type = type;
	o->op = op;
	o->source = ev->source;
	o->rule = rule;
	o->key = ev->key;
	o->shard = (uint16_t)shard;
	o->seq = ev->seq;
	o->event_ns = ev->event_ns;
	o->cause = cause;
	o->rx_tsc = ev->rx_tsc;
	return o;
}

/*
 * What the daemon's chains derive from event `ev` (journaled at LSN `cause`): into out[], in the
 * order replay hands a tail back (shard by shard, in each the chain's operators in order, each
 * operator's outputs in the order it emits them). Returns how many.
 *
 * System events and TICKs go to every shard, the rest to dd_shard_of(key); a TICK is applied by
 * no operator: it only moves the watermark (ops/chain.h), and only a later one does.
 *   book        the event goes to the book of its feed; when that changes the best bid or offer,
 *               one DD_OUT_BBO with the new top of the event's instrument.
 *   test_multi  (ops/test/test_ops.h) for a non-system event n = (seq + key) % (max + 1) outputs,
 *               rule 1: v[0] index, v[1] n, v[2] events of the key so far (this one included),
 *               v[3] outputs of the book about the key it consumed before (it consumes the book's
 *               outputs of an event after applying the event).
 *   test_timer  counts the events (system events aside) of keys 0..DD_TEST_TIMER_KEYS-1; when a
 *               tick moves the watermark across one or more multiples of the period, for each such
 *               key with events since its last firing, in key order, one output, rule 2: key the
 *               key, v[0] the last multiple crossed, v[1] the key's events since its last firing,
 *               v[2] how many multiples. The first tick only sets where time starts (test_ops.c;
 *               the header does not say).
 */
static unsigned derive(struct model *m, const struct dd_event *ev, uint64_t cause, struct dd_output *out)
{
	bool everywhere = ev->type == DD_EV_SYSTEM || ev->type == DD_EV_TICK;
	unsigned first = everywhere ? 0 : dd_shard_of(ev->key, m->nshards);
	unsigned last = everywhere ? m->nshards - 1 : first, n = 0;

	assert_true(ev->source < m->nfeeds);
	for (unsigned s = first; s <= last; s++) {
		unsigned book_out = 0;
		if (ev->type != DD_EV_TICK) {
			struct dd_book *b = &m->b[s * m->nfeeds + ev->source];
			if (dd_book_apply(b, ev) & (DD_BOOK_BID_CHANGED | DD_BOOK_ASK_CHANGED)) {
				const struct dd_book_instr *in = dd_book_find(b, (uint16_t)ev->key);
				struct dd_book_level bid = { 0, 0, 0 }, ask = { 0, 0, 0 };
				assert_non_null(in);
				dd_book_best(b, in, DD_BOOK_BID, &bid);
				dd_book_best(b, in, DD_BOOK_ASK, &ask);
				struct dd_output *o = head(&out[n++], ev, cause, s, DD_OP_BOOK, DD_OUT_BBO, 0);
				o->key = in->locate;
				o->u.bbo.bid_price = bid.price;
				o->u.bbo.ask_price = ask.price;
				o->u.bbo.bid_shares = bid.shares;
				o->u.bbo.ask_shares = ask.shares;
				o->u.bbo.bid_orders = bid.orders;
				o->u.bbo.ask_orders = ask.orders;
				o->u.bbo.locate = in->locate;
				book_out = 1;
			}
		}
		if (m->chain != CHAIN_BOOK_TEST)
			continue;
		if (ev->type != DD_EV_TICK) {
			uint32_t key = ev->key % MULTI_KEYS;
			if (ev->type != DD_EV_SYSTEM) {
				uint32_t kc = ++m->multi[s].per_key[key];
				unsigned k = (unsigned)((ev->seq + ev->key) % (MULTI_MAX + 1));
				for (unsigned i = 0; i < k; i++) {
					struct dd_output *o =
						head(&out[n++], ev, cause, s, DD_OP_TEST_MULTI, DD_OUT_TEST, MULTI_RULE);
					o->u.test.v[0] = i;
					o->u.test.v[1] = k;
					o->u.test.v[2] = kc;
					o->u.test.v[3] = m->multi[s].consumed_key[key];
				}
			}
			m->multi[s].consumed_key[key] += book_out; /* the book's output is about the event's key */
			if (ev->type != DD_EV_SYSTEM && ev->key < DD_TEST_TIMER_KEYS)
				m->timer[s].count[ev->key]++;
		} else if (ev->event_ns > m->timer[s].wm) {
			uint64_t was = m->timer[s].wm / TIMER_PERIOD, now = ev->event_ns / TIMER_PERIOD;
			for (uint32_t k = 0; m->timer[s].wm != 0 && now > was && k < DD_TEST_TIMER_KEYS; k++) {
				if (m->timer[s].count[k] == 0)
					continue;
				struct dd_output *o = head(&out[n++], ev, cause, s, DD_OP_TEST_TIMER, DD_OUT_TEST,
							   TIMER_RULE);
				o->key = k;
				o->u.test.v[0] = now * TIMER_PERIOD;
				o->u.test.v[1] = m->timer[s].count[k];
				o->u.test.v[2] = now - was;
				m->timer[s].count[k] = 0;
			}
			m->timer[s].wm = ev->event_ns;
		}
	}
	assert_true(n <= EVOUT);
	return n;
}

/* A test's world: the journal, the reference state and everything the daemon derived. */
struct world {
	struct jw j;
	struct model ref;
	struct script sc;
	struct dd_jconfig jc;     /* the CONFIG record the daemon journaled first */
	struct dd_output out[MAXOUT];
	uint64_t out_lsn[MAXOUT]; /* 0: not journaled */
	unsigned nout;
	uint64_t nevents;
};

static struct world *g_w;
static struct world *g_w2; /* a second journal, for tests that compare two */

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	snprintf(w->j.dir, sizeof(w->j.dir), "/tmp/dd-replay-XXXXXX");
	if (mkdtemp(w->j.dir) == NULL) {
		free(w);
		return NULL;
	}
	w->j.fd = -1;
	w->j.lsn = 1;
	return w;
}

static void world_free(struct world *w)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	if (w == NULL)
		return;
	if (w->j.fd >= 0)
		close(w->j.fd);
	d = opendir(w->j.dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", w->j.dir, de->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(w->j.dir);
	model_free(&w->ref);
	free(w);
}

static int setup(void **state)
{
	(void)state;
	g_w = world_new();
	return g_w != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	world_free(g_w);
	world_free(g_w2);
	g_w = g_w2 = NULL;
	return 0;
}

/* The daemon starts: the reference state, and the CONFIG record as the journal's first. */
static void world_init(struct world *w, unsigned nshards, unsigned nfeeds, enum chain chain)
{
	w->j.nshards = nshards;
	w->j.nfeeds = nfeeds;
	model_init(&w->ref, nshards, nfeeds, chain);
	make_jconfig(&w->jc, nshards, nfeeds, chain);
	assert_int_equal(jw_config(&w->j, &w->jc), 1);
}

/* Journal event `ev` and derive its outputs (their cause: the event's LSN); with
 * `journal_outputs` they follow it at once. Returns how many it derived. */
static unsigned daemon_event(struct world *w, const struct dd_event *ev, bool journal_outputs)
{
	struct dd_output o[EVOUT];
	uint64_t lsn = jw_event(&w->j, ev);
	unsigned n = derive(&w->ref, ev, lsn, o);

	w->nevents++;
	for (unsigned i = 0; i < n; i++) {
		assert_true(w->nout < MAXOUT);
		w->out[w->nout] = o[i];
		w->out_lsn[w->nout] = journal_outputs ? jw_output(&w->j, &o[i]) : 0;
		w->nout++;
	}
	return n;
}

/* Run the daemon over script events [from, to). */
static void daemon_run(struct world *w, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++)
		daemon_event(w, &w->sc.ev[i], true);
}

/* ---- replaying -------------------------------------------------------------------------------- */

struct rp {
	struct dd_replay r;
	char err[512];
	int rc;
};

typedef int (*check_fn)(void *ctx, const struct dd_jconfig *journaled, char *err, size_t errlen);

/* Replay `dir`, stopping after LSN max_lsn (0: the whole journal), the configuration checked by
 * `check` (NULL: none). */
static void replay_check(struct rp *x, const char *dir, bool use_snapshot, uint64_t max_lsn, check_fn check,
			 void *ctx)
{
	memset(x, 0, sizeof(*x));
	x->r.use_snapshot = use_snapshot;
	x->r.max_lsn = max_lsn;
	x->r.check_config = check;
	x->r.check_ctx = ctx;
	x->rc = dd_replay_run(dir, &x->r, x->err, sizeof(x->err));
}

static void replay_to(struct rp *x, const char *dir, bool use_snapshot, uint64_t max_lsn)
{
	replay_check(x, dir, use_snapshot, max_lsn, NULL, NULL);
}

static void replay(struct rp *x, const char *dir, bool use_snapshot)
{
	replay_to(x, dir, use_snapshot, 0);
}

static void replay_free(struct rp *x)
{
	dd_replay_fini(&x->r);
}

static void assert_clean(const struct rp *x)
{
	if (x->rc != 0)
		fail_msg("replay failed (%d): %s", x->rc, x->err);
	if (x->r.mismatch)
		fail_msg("replay: mismatch at LSN %llu: %s", (unsigned long long)x->r.mismatch_lsn, x->r.mismatch_why);
}

/* Book `b` holds exactly what `ref` holds: counters, instruments, every order, every level. */
static void assert_book_equal(const struct dd_book *ref, const struct dd_book *b, uint64_t max_ref)
{
	struct dd_book_level la[64], lb[64];
	struct dd_book_order_view oa, ob;
	char why[256];

	assert_non_null(b);
	assert_memory_equal(&ref->params, &b->params, sizeof(ref->params));
	assert_memory_equal(&ref->stats, &b->stats, sizeof(ref->stats));
	assert_int_equal(ref->ninstr, b->ninstr);
	assert_int_equal(ref->norders, b->norders);
	assert_int_equal(ref->nlevels, b->nlevels);
	assert_int_equal(ref->last_system_event, b->last_system_event);
	for (uint32_t i = 1; i <= ref->ninstr; i++) {
		const struct dd_book_instr *ia = dd_book_instr_at(ref, i);
		const struct dd_book_instr *ib = dd_book_find(b, ia->locate);
		assert_non_null(ib);
		assert_memory_equal(ia->symbol, ib->symbol, 8);
		assert_int_equal(ia->orders, ib->orders);
		assert_int_equal(ia->volume, ib->volume);
		assert_int_equal(ia->trades, ib->trades);
		assert_int_equal(ia->last_price, ib->last_price);
		for (unsigned side = 0; side < 2; side++) {
			unsigned na = dd_book_depth(ref, ia, side, la, 64), nb = dd_book_depth(b, ib, side, lb, 64);
			assert_int_equal(na, nb);
			assert_memory_equal(la, lb, na * sizeof(la[0]));
		}
	}
	for (uint64_t r = 1; r <= max_ref; r++) {
		bool ha = dd_book_order(ref, r, &oa), hb = dd_book_order(b, r, &ob);
		assert_int_equal(ha, hb);
		if (ha) {
			assert_int_equal(oa.shares, ob.shares);
			assert_int_equal(oa.price, ob.price);
			assert_int_equal(oa.locate, ob.locate);
			assert_int_equal(oa.side, ob.side);
		}
	}
	if (dd_book_check(b, why, sizeof(why)) != 0)
		fail_msg("replayed book inconsistent: %s", why);
}

/* The replay's books (dd_replay_book()) are the reference's, shard by shard and feed by feed. */
static void assert_books_equal(const struct model *ref, const struct dd_replay *r, uint64_t max_ref)
{
	assert_int_equal(r->nshards, ref->nshards);
	assert_int_equal(r->nfeeds, ref->nfeeds);
	for (unsigned s = 0; s < ref->nshards; s++)
		for (unsigned f = 0; f < ref->nfeeds; f++)
			assert_book_equal(&ref->b[s * ref->nfeeds + f], dd_replay_book(r, s, f), max_ref);
	assert_null(dd_replay_book(r, ref->nshards, 0));
	assert_null(dd_replay_book(r, 0, ref->nfeeds));
}

/* Two replays reached the same state: the same books, and every operator of every shard at the
 * same watermark with the same outputs and counters. */
static void assert_replays_equal(const struct dd_replay *a, const struct dd_replay *b, uint64_t max_ref)
{
	assert_int_equal(a->nshards, b->nshards);
	assert_int_equal(a->nfeeds, b->nfeeds);
	for (unsigned s = 0; s < a->nshards; s++) {
		const struct dd_chain *ca = &a->chains[s], *cb = &b->chains[s];
		for (unsigned f = 0; f < a->nfeeds; f++)
			assert_book_equal(dd_replay_book(a, s, f), dd_replay_book(b, s, f), max_ref);
		assert_int_equal(ca->nops, cb->nops);
		assert_int_equal(ca->events, cb->events);
		assert_int_equal(ca->ticks, cb->ticks);
		for (unsigned k = 0; k < ca->nops; k++) {
			uint64_t va[DD_OP_MAX_COUNTERS], vb[DD_OP_MAX_COUNTERS];
			assert_int_equal(ca->op[k].ops->id, cb->op[k].ops->id);
			assert_int_equal(ca->op[k].watermark, cb->op[k].watermark);
			assert_int_equal(ca->op[k].outputs, cb->op[k].outputs);
			if (ca->op[k].ops->counters == NULL)
				continue;
			ca->op[k].ops->counters(ca->op[k].state, va);
			cb->op[k].ops->counters(cb->op[k].state, vb);
			assert_memory_equal(va, vb, ca->op[k].ops->ncounters * sizeof(va[0]));
		}
	}
}

/* Every byte but rx_tsc (replay cannot reproduce it). */
static void assert_output_equal(const struct dd_output *want, const struct dd_output *got)
{
	char w[160], g[160];

	if (memcmp(want, got, offsetof(struct dd_output, rx_tsc)) == 0 &&
	    memcmp(&want->u, &got->u, sizeof(want->u)) == 0)
		return;
	dd_output_describe(want, w, sizeof(w));
	dd_output_describe(got, g, sizeof(g));
	fail_msg("output differs: want {%s}, got {%s}", w, g);
}

static void assert_contains(const char *s, const char *what)
{
	if (strstr(s, what) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", s, what);
}

/* The whole day through `nshards` shards and the book, outputs journaled right after their events. */
static void write_day(struct world *w, unsigned nshards, unsigned steps)
{
	world_init(w, nshards, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, steps, 7);
	daemon_run(w, 0, w->sc.n);
}

/* Outputs of operator `op` among the reference's. */
static unsigned count_op(const struct world *w, unsigned op)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->nout; i++)
		n += w->out[i].op == op;
	return n;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_replay_rebuilds_the_books_and_matches_every_journaled_output(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	write_day(w, 1, 400);
	assert_true(w->j.nseg >= 3); /* rotations with PADs in the way */
	assert_true(w->nout > 100);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_string_equal(x.err, "");
	assert_false(x.r.scan.torn);
	assert_false(x.r.scan.corrupt);
	assert_false(x.r.mismatch);
	assert_int_equal(x.r.snapshot_lsn, 0);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_journaled, w->nout);
	assert_int_equal(x.r.outputs_derived, w->nout);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_int_equal(x.r.overflow, 0);
	assert_int_equal(x.r.unjournaled, 0);
	assert_int_equal(x.r.ntail, 0);
	assert_int_equal(x.r.last_lsn, w->j.lsn - 1);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	/* the day did what it says: every kind of change reached the books */
	const struct dd_book_stats *st = &dd_replay_book(&x.r, 0, 0)->stats;
	assert_true(st->adds > 100 && st->executions > 10 && st->cancels > 10 && st->deletes > 10 && st->replaces > 10);
	assert_int_equal(st->unknown_ref + st->duplicate_ref + st->bad_order + st->overexecuted, 0);
	replay_free(&x);
}

/* Nothing about the chains is given to replay: shards, feeds, operators and capacities all come
 * from the journal's CONFIG record. */
static void test_the_chains_are_built_from_the_journals_config_record(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	world_init(w, 2, 2, CHAIN_BOOK_TEST);
	script_day(&w->sc, 0, 80, 3);
	script_day(&w->sc, 1, 80, 4);
	daemon_run(w, 0, w->sc.n);
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_true(x.r.have_config);
	assert_memory_equal(&x.r.config, &w->jc, sizeof(w->jc));
	assert_int_equal(x.r.nshards, 2);
	assert_int_equal(x.r.nfeeds, 2);
	assert_non_null(x.r.chains);
	for (unsigned s = 0; s < 2; s++) {
		const struct dd_chain *c = &x.r.chains[s];
		assert_int_equal(c->shard, s);
		assert_int_equal(c->nops, 3);
		assert_int_equal(c->op[0].ops->id, DD_OP_BOOK);
		assert_int_equal(c->op[1].ops->id, DD_OP_TEST_MULTI);
		assert_int_equal(c->op[2].ops->id, DD_OP_TEST_TIMER);
		assert_true(dd_replay_book(&x.r, s, 0)->stats.adds > 0 && dd_replay_book(&x.r, s, 1)->stats.adds > 0);
	}
	assert_int_equal(x.r.outputs_matched, w->nout);
	/* the capacities are the journaled ones (assert_book_equal compares the books' params) */
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&x);
}

static void test_a_changed_output_is_a_mismatch_at_its_lsn(void **state)
{
	struct world *w = g_w;
	struct dd_output o[EVOUT];
	uint64_t bad_lsn = 0;
	struct rp x;

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 200, 7);
	for (unsigned i = 0; i < w->sc.n; i++) {
		uint64_t lsn = jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], lsn, o);
		for (unsigned k = 0; k < n; k++) {
			w->nout++;
			if (w->nout == 50) {
				o[k].u.bbo.bid_shares += 1; /* the daemon journaled something else */
				bad_lsn = jw_output(&w->j, &o[k]);
			} else {
				jw_output(&w->j, &o[k]);
			}
		}
	}
	assert_true(bad_lsn != 0);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, bad_lsn);
	assert_contains(x.r.mismatch_why, "differs");
	assert_int_equal(x.r.outputs_matched, w->nout - 1);
	replay_free(&x);
}

/* The cause is compared like every other byte: an output journaled with the LSN of another event
 * (here the one before its own) is a mismatch. */
static void test_an_output_with_the_wrong_cause_is_a_mismatch_at_its_lsn(void **state)
{
	struct world *w = g_w;
	struct dd_output o[EVOUT];
	uint64_t bad_lsn = 0, prev_event = 0;
	struct rp x;

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 100, 7);
	for (unsigned i = 0; i < w->sc.n; i++) {
		uint64_t lsn = jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], lsn, o);
		for (unsigned k = 0; k < n; k++) {
			if (++w->nout == 30) {
				assert_true(prev_event != 0);
				o[k].cause = prev_event;
				bad_lsn = jw_output(&w->j, &o[k]);
			} else {
				jw_output(&w->j, &o[k]);
			}
		}
		prev_event = lsn;
	}
	assert_true(bad_lsn != 0);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, bad_lsn);
	assert_contains(x.r.mismatch_why, "differs");
	assert_int_equal(x.r.outputs_matched, w->nout - 1);
	replay_free(&x);
}

static void test_outputs_missing_at_the_tail_are_unjournaled_and_handed_back(void **state)
{
	struct world *w = g_w;
	struct rp x;
	unsigned first_missing;

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, w->sc.n - 8);
	first_missing = w->nout;
	for (unsigned i = w->sc.n - 8; i < w->sc.n; i++) /* the daemon stopped before their outputs */
		daemon_event(w, &w->sc.ev[i], false);
	assert_true(w->nout - first_missing >= 2);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_false(x.r.mismatch);
	assert_int_equal(x.r.outputs_derived, w->nout);
	assert_int_equal(x.r.outputs_matched, first_missing);
	assert_int_equal(x.r.unjournaled, w->nout - first_missing);
	assert_int_equal(x.r.ntail, w->nout - first_missing);
	for (unsigned i = 0; i < x.r.ntail; i++)
		assert_output_equal(&w->out[first_missing + i], &x.r.tail[i]);
	replay_free(&x);
}

static void test_a_journaled_output_the_events_do_not_produce_is_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct dd_output extra;
	uint64_t lsn;
	struct rp x;

	(void)state;
	write_day(w, 1, 100);
	extra = w->out[w->nout - 1];
	extra.seq += 1000; /* an output of an event that is not in the journal */
	lsn = jw_output(&w->j, &extra);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, lsn);
	assert_contains(x.r.mismatch_why, "do not derive");
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_int_equal(x.r.outputs_journaled, w->nout + 1);
	replay_free(&x);
}

static void test_an_extra_journaled_output_mid_journal_is_a_mismatch_at_its_lsn(void **state)
{
	struct world *w = g_w;
	struct dd_output extra;
	struct rp x;

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 100, 7);
	daemon_run(w, 0, 40);
	extra = w->out[w->nout - 1];
	extra.u.bbo.ask_shares += 7;
	/* every derived output so far is journaled: the extra one has no input before it */
	uint64_t extra_lsn = jw_output(&w->j, &extra);
	daemon_run(w, 40, w->sc.n);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, extra_lsn);
	assert_contains(x.r.mismatch_why, "do not derive");
	assert_int_equal(x.r.outputs_matched, w->nout);
	replay_free(&x);
}

/* The writer never does this: an output journaled ahead of the event that causes it (its cause is
 * an LSN after its own). */
static void test_an_output_journaled_before_its_input_is_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct dd_output o[EVOUT];
	unsigned i = 0, n = 0;
	struct rp x;

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 100, 7);
	for (; i < w->sc.n; i++) {
		/* the event will be journaled right after its output: its LSN is the next but one */
		n = derive(&w->ref, &w->sc.ev[i], w->j.lsn + 1, o);
		if (n > 0)
			break;
		jw_event(&w->j, &w->sc.ev[i]);
	}
	assert_int_equal(n, 1);
	uint64_t early = jw_output(&w->j, &o[0]);
	assert_int_equal(jw_event(&w->j, &w->sc.ev[i]), o[0].cause);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, early);
	assert_contains(x.r.mismatch_why, "before its cause");
	assert_int_equal(x.r.outputs_matched, 0);
	/* the event's own output, derived after it, was never journaled */
	assert_int_equal(x.r.unjournaled, 1);
	replay_free(&x);
}

/* A cause before the output's own LSN that names no event applied before it (here a FEEDPOS
 * record) is no input the output can come from. */
static void test_an_output_whose_cause_is_not_an_event_before_it_is_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct dd_output bad;
	struct rp x;

	(void)state;
	write_day(w, 1, 60);
	bad = w->out[w->nout - 1];
	bad.cause = jw_feedpos(&w->j, 0, "SESSION001", w->sc.ev[w->sc.n - 1].seq + 1, false);
	uint64_t lsn = jw_output(&w->j, &bad);
	assert_true(bad.cause < lsn);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, lsn);
	assert_contains(x.r.mismatch_why, "before its cause");
	assert_int_equal(x.r.outputs_matched, w->nout);
	replay_free(&x);
}

/* Outputs the chain has no queue for: a shard beyond the configuration's, an operator the chain
 * does not hold. */
static void test_a_journaled_output_of_a_shard_or_operator_the_chain_lacks_is_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct dd_output bad;
	uint64_t lsn;
	struct rp x;

	(void)state;
	write_day(w, 2, 60);
	bad = w->out[w->nout - 1];
	bad.shard = 2;
	lsn = jw_output(&w->j, &bad);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, lsn);
	assert_contains(x.r.mismatch_why, "shard the configuration does not have");
	assert_int_equal(x.r.outputs_matched, w->nout);
	replay_free(&x);

	/* a book-only chain: a test_multi output is no operator of it */
	bad = w->out[w->nout - 1];
	bad.op = DD_OP_TEST_MULTI;
	bad.type = DD_OUT_TEST;
	memset(&bad.u, 0, sizeof(bad.u));
	struct world *w2 = g_w2 = world_new();
	assert_non_null(w2);
	world_init(w2, 2, 1, CHAIN_BOOK);
	w2->sc = w->sc;
	daemon_run(w2, 0, w2->sc.n);
	lsn = jw_output(&w2->j, &bad);
	replay(&x, w2->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, lsn);
	assert_contains(x.r.mismatch_why, "operator the chain does not have");
	assert_int_equal(x.r.outputs_matched, w2->nout);
	replay_free(&x);
}

/*
 * A staged daemon over `nshards` shards (1 or 2): its outputs leave in groups by
 * dd_shard_of(key, 2) — the two workers of a two-shard pipeline — each group in its own order,
 * after their events, but the groups interleave differently from the derivation order and lag by
 * different amounts. Returns how many outputs were journaled before one derived earlier.
 */
static unsigned write_interleaved(struct world *w, unsigned nshards)
{
	struct dd_output pend[2][MAXOUT];
	unsigned idx[2][MAXOUT], npend[2] = { 0, 0 }, inversions = 0, newest = 0;

	world_init(w, nshards, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 400, 11);
	for (unsigned i = 0; i < w->sc.n; i++) {
		struct dd_output o[EVOUT];
		const struct dd_event *ev = &w->sc.ev[i];
		uint64_t lsn = jw_event(&w->j, ev);
		unsigned n = derive(&w->ref, ev, lsn, o);
		w->nevents++;
		for (unsigned k = 0; k < n; k++) {
			unsigned g = dd_shard_of(o[k].key, 2);
			idx[g][npend[g]] = w->nout++;
			pend[g][npend[g]++] = o[k];
		}
		bool both = i % 7 == 6 || i + 1 == w->sc.n, first = i % 2 == 0;
		for (unsigned g = 2; g-- > 0;) { /* group 1 first */
			if (!both && !(first && g == 0))
				continue; /* group 1 lags */
			for (unsigned k = 0; k < npend[g]; k++) {
				jw_output(&w->j, &pend[g][k]);
				inversions += idx[g][k] < newest;
				if (idx[g][k] > newest)
					newest = idx[g][k];
			}
			npend[g] = 0;
		}
	}
	return inversions;
}

static void test_two_shards_match_outputs_per_shard_whatever_the_interleaving(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	/* the journal's order is not the derivation order: one queue for all would not match it */
	assert_true(write_interleaved(w, 2) >= 10);
	assert_true(w->ref.b[0].ninstr >= 2 && w->ref.b[1].ninstr >= 2); /* both shards have instruments */
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_int_equal(x.r.nshards, 2);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_journaled, w->nout);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_int_equal(x.r.unjournaled, 0);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&x);

	/* the same interleaving from a one-shard daemon is out of order within its one shard: the
	 * check really is per shard */
	struct world *one = g_w2 = world_new();
	assert_non_null(one);
	assert_true(write_interleaved(one, 1) >= 10);
	replay(&x, one->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.r.nshards, 1);
	assert_true(x.r.mismatch);
	assert_contains(x.r.mismatch_why, "differs");
	replay_free(&x);
}

static void test_two_outputs_of_one_shard_swapped_are_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct rp x;
	struct dd_output o[EVOUT], held;
	bool holding = false, swapped = false;

	(void)state;
	world_init(w, 2, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 200, 11);
	for (unsigned i = 0; i < w->sc.n; i++) {
		uint64_t lsn = jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], lsn, o);
		for (unsigned k = 0; k < n; k++) {
			if (!swapped && !holding && i > 50 && o[k].shard == 1) {
				held = o[k];
				holding = true;
			} else if (holding && o[k].shard == 1) {
				jw_output(&w->j, &o[k]);
				jw_output(&w->j, &held);
				holding = false;
				swapped = true;
			} else {
				jw_output(&w->j, &o[k]);
			}
		}
	}
	assert_true(swapped);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_contains(x.r.mismatch_why, "differs");
	replay_free(&x);
}

/* What the daemon does at a quiet point: replay up to its durable LSN, snapshot that state; a later
 * replay from the snapshot reaches what a replay from the start reaches. */
static void test_snapshot_then_replay_equals_replay_from_the_start(void **state)
{
	struct world *w = g_w;
	struct rp half, snap, full;
	uint64_t events_half, outputs_half, cut;
	char err[512];

	(void)state;
	world_init(w, 2, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 400, 5);
	unsigned mid = w->sc.n / 2;
	daemon_run(w, 0, mid);
	cut = jw_feedpos(&w->j, 0, "SESSION001", w->sc.ev[mid - 1].seq + 1, false);
	events_half = w->nevents;
	outputs_half = w->nout;
	daemon_run(w, mid, w->sc.n);

	replay_to(&half, w->j.dir, false, cut);
	assert_clean(&half);
	assert_int_equal(half.r.last_lsn, cut);
	assert_int_equal(half.r.events, events_half);
	assert_int_equal(half.r.outputs_matched, outputs_half);
	assert_int_equal(half.r.unjournaled, 0);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);

	replay(&snap, w->j.dir, true);
	replay(&full, w->j.dir, false);
	assert_clean(&snap);
	assert_clean(&full);
	assert_int_equal(snap.r.snapshot_lsn, cut);
	assert_int_equal(full.r.snapshot_lsn, 0);
	/* the snapshot carries the configuration: no CONFIG record follows it */
	assert_true(snap.r.have_config);
	assert_memory_equal(&snap.r.config, &w->jc, sizeof(w->jc));
	/* counted only after the snapshot */
	assert_int_equal(snap.r.events, w->nevents - events_half);
	assert_int_equal(snap.r.outputs_derived, w->nout - outputs_half);
	assert_int_equal(snap.r.outputs_matched, w->nout - outputs_half);
	assert_int_equal(half.r.outputs_matched + snap.r.outputs_matched, full.r.outputs_matched);
	assert_int_equal(full.r.outputs_matched, w->nout);
	assert_int_equal(full.r.events, w->nevents);
	assert_int_equal(snap.r.last_lsn, full.r.last_lsn);
	/* the feed position came from the snapshot: no FEEDPOS record follows it */
	assert_true(snap.r.have_pos[0]);
	assert_memory_equal(&snap.r.pos[0], &full.r.pos[0], sizeof(snap.r.pos[0]));
	assert_int_equal(snap.r.max_seq[0], w->sc.ev[w->sc.n - 1].seq);
	assert_int_equal(full.r.max_seq[0], w->sc.ev[w->sc.n - 1].seq);
	assert_replays_equal(&full.r, &snap.r, w->sc.next_ref);
	assert_books_equal(&w->ref, &snap.r, w->sc.next_ref);
	replay_free(&half);
	replay_free(&snap);
	replay_free(&full);
}

/* A snapshot covering the last record of a full segment, the next segment still empty: the
 * scan after it reads no record, which is not "the journal lost records". */
static void test_snapshot_at_the_end_of_a_segment_before_an_empty_one_replays(void **state)
{
	struct world *w = g_w;
	struct rp half, x;
	char err[512];

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, w->sc.n);
	jw_rotate(&w->j); /* PAD, then a new empty segment */
	replay(&half, w->j.dir, false);
	assert_clean(&half);
	assert_int_equal(half.r.last_lsn, w->j.lsn - 1);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);
	replay(&x, w->j.dir, true);
	if (x.rc != 0)
		fail_msg("replay from a snapshot at a segment boundary failed (%d): %s", x.rc, x.err);
	assert_int_equal(x.r.snapshot_lsn, half.r.last_lsn);
	assert_int_equal(x.r.events, 0);
	assert_false(x.r.mismatch);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&half);
	replay_free(&x);
}

/* The opposite case is still caught: a snapshot past the last record the journal holds (records
 * it covered were lost after it was written). */
static void test_snapshot_past_the_end_of_the_journal_is_an_error(void **state)
{
	struct world *w = g_w;
	struct rp half, x;
	char err[512];

	(void)state;
	write_day(w, 1, 100);
	replay(&half, w->j.dir, false);
	assert_clean(&half);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);
	jw_lose_from(&w->j, half.r.last_lsn - 4);
	replay(&x, w->j.dir, true);
	assert_int_equal(x.rc, -EBADMSG);
	assert_contains(x.err, "past the journal's end");
	replay_free(&x);
	/* the journal itself is intact up to the loss: it replays from the start */
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_int_equal(x.r.last_lsn, half.r.last_lsn - 5);
	replay_free(&half);
	replay_free(&x);
}

static void test_max_lsn_stops_replay_after_that_lsn(void **state)
{
	struct world *w = g_w;
	uint64_t cut, events_to_cut = 0, seq_to_cut = 0;
	struct rp x;

	(void)state;
	world_init(w, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, 100);
	cut = w->j.lsn - 1;
	events_to_cut = w->nevents;
	seq_to_cut = w->sc.ev[99].seq;
	daemon_run(w, 100, w->sc.n);
	replay_to(&x, w->j.dir, false, cut);
	assert_int_equal(x.rc, 0);
	assert_string_equal(x.err, "");
	assert_int_equal(x.r.last_lsn, cut);
	assert_int_equal(x.r.events, events_to_cut);
	assert_int_equal(x.r.max_seq[0], seq_to_cut);
	assert_false(x.r.mismatch);
	assert_false(x.r.scan.torn);
	assert_false(x.r.scan.corrupt);
	replay_free(&x);
}

/* A staged journal cut where a worker's outputs are still on their way: the snapshot the daemon
 * writes (dd_replay_snapshot_state) carries them, so a replay from it pairs them with their
 * records after the snapshot. */
static void test_snapshot_state_carries_outputs_journaled_after_it(void **state)
{
	struct world *w = g_w;
	struct dd_output late[MAXOUT];
	uint64_t out_lsn[MAXOUT];
	unsigned nlate = 0, nrec = 0;
	uint64_t cut = 0, pending_at_cut = 0, outputs_after_cut = 0;
	struct rp half, snap;
	char err[512];

	(void)state;
	world_init(w, 2, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 300, 13);
	for (unsigned i = 0; i < w->sc.n; i++) {
		struct dd_output o[EVOUT];
		uint64_t lsn = jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], lsn, o);
		w->nevents++;
		w->nout += n;
		for (unsigned k = 0; k < n; k++) {
			if (o[k].shard == 1) /* shard 1's worker journals in batches of 8 events */
				late[nlate++] = o[k];
			else
				out_lsn[nrec++] = jw_output(&w->j, &o[k]);
		}
		if (cut == 0 && i > w->sc.n / 2 && nlate > 0) {
			cut = lsn;
			pending_at_cut = nlate;
		}
		if (i % 8 == 7 || i + 1 == w->sc.n) {
			for (unsigned k = 0; k < nlate; k++)
				out_lsn[nrec++] = jw_output(&w->j, &late[k]);
			nlate = 0;
		}
	}
	assert_true(cut != 0 && pending_at_cut > 0);
	for (unsigned k = 0; k < nrec; k++)
		outputs_after_cut += out_lsn[k] > cut;
	replay_to(&half, w->j.dir, false, cut);
	assert_clean(&half);
	assert_int_equal(half.r.unjournaled, pending_at_cut);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);
	replay(&snap, w->j.dir, true);
	assert_int_equal(snap.r.snapshot_lsn, cut);
	assert_clean(&snap);
	assert_int_equal(snap.r.outputs_journaled, outputs_after_cut);
	assert_int_equal(snap.r.outputs_matched, outputs_after_cut);
	assert_int_equal(snap.r.unjournaled, 0);
	assert_books_equal(&w->ref, &snap.r, w->sc.next_ref);
	replay_free(&half);
	replay_free(&snap);
}

static void test_feedpos_records_give_each_feed_its_last_position(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	world_init(w, 1, 2, CHAIN_BOOK);
	script_day(&w->sc, 0, 60, 3);
	script_day(&w->sc, 1, 60, 4);
	daemon_run(w, 0, 40);
	jw_feedpos(&w->j, 0, "SESSION001", 41, false);
	daemon_run(w, 40, w->sc.n);
	jw_feedpos(&w->j, 1, "SESSION777", 123456, true);
	jw_feedpos(&w->j, 0, "SESSION002", 9001, false);
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_true(x.r.have_pos[0]);
	assert_true(x.r.have_pos[1]);
	for (unsigned f = 2; f < DD_MAX_FEEDS; f++)
		assert_false(x.r.have_pos[f]);
	assert_memory_equal(x.r.pos[0].session, "SESSION002", 10);
	assert_int_equal(x.r.pos[0].next_seq, 9001);
	assert_int_equal(x.r.pos[0].ended, 0);
	assert_memory_equal(x.r.pos[1].session, "SESSION777", 10);
	assert_int_equal(x.r.pos[1].next_seq, 123456);
	assert_int_equal(x.r.pos[1].ended, 1);
	/* every event of both feeds is covered by a FEEDPOS after it */
	assert_int_equal(x.r.max_seq[0], 0);
	assert_int_equal(x.r.max_seq[1], 0);
	/* and two feeds replay into two books */
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	assert_true(dd_replay_book(&x.r, 0, 0)->stats.adds > 0 && dd_replay_book(&x.r, 0, 1)->stats.adds > 0);
	replay_free(&x);
}

/*
 * Where the feeds and time stand at the end, for the RX lcore to go on from: per feed the highest
 * sequence number of an event after its last FEEDPOS record (a crash between the two), the largest
 * event time (ticks aside) and the time of the last tick. Returns what they should be.
 */
struct stand {
	uint64_t max_seq[2], max_event_ns, last_tick_ns;
};

static struct stand write_two_feeds_with_ticks(struct world *w)
{
	struct stand want = { { 0, 0 }, 0, 0 };
	unsigned mid;

	world_init(w, 2, 2, CHAIN_BOOK);
	w->sc.tick_every = 10;
	script_day(&w->sc, 0, 100, 3);
	w->sc.tick_every = 0;
	mid = w->sc.n;
	script_day(&w->sc, 1, 100, 4);
	daemon_run(w, 0, mid - 20);
	jw_feedpos(&w->j, 0, "SESSION001", w->sc.ev[mid - 21].seq + 1, false);
	daemon_run(w, mid - 20, w->sc.n);
	jw_feedpos(&w->j, 1, "SESSION001", w->sc.ev[w->sc.n - 1].seq + 1, false);
	for (unsigned i = 0; i < w->sc.n; i++) {
		const struct dd_event *ev = &w->sc.ev[i];
		if (ev->type == DD_EV_TICK) {
			want.last_tick_ns = ev->event_ns;
			continue;
		}
		if (ev->event_ns > want.max_event_ns)
			want.max_event_ns = ev->event_ns;
		if (ev->source == 0 && i >= mid - 20 && ev->seq > want.max_seq[0])
			want.max_seq[0] = ev->seq; /* feed 1's FEEDPOS comes after all its events: 0 */
	}
	assert_true(want.last_tick_ns != 0 && want.max_event_ns > want.last_tick_ns && want.max_seq[0] != 0);
	return want;
}

static void test_replay_says_where_each_feed_and_time_stand_at_the_end(void **state)
{
	struct world *w = g_w;
	struct stand want = write_two_feeds_with_ticks(w);
	struct rp x;

	(void)state;
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_int_equal(x.r.max_seq[0], want.max_seq[0]);
	assert_int_equal(x.r.max_seq[1], 0);
	assert_int_equal(x.r.max_event_ns, want.max_event_ns);
	assert_int_equal(x.r.last_tick_ns, want.last_tick_ns);
	assert_int_equal(x.r.chains[0].ticks, 10);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&x);
}

/* A snapshot at the end of the journal: the replay from it applies no event, and still knows where
 * the feeds and time stand. */
static void test_a_snapshot_carries_where_each_feed_and_time_stand(void **state)
{
	struct world *w = g_w;
	struct stand want = write_two_feeds_with_ticks(w);
	struct rp all, x;
	char err[512];

	(void)state;
	replay(&all, w->j.dir, false);
	assert_clean(&all);
	assert_int_equal(dd_replay_snapshot_state(&all.r, w->j.dir, err, sizeof(err)), 0);
	replay(&x, w->j.dir, true);
	assert_clean(&x);
	assert_int_equal(x.r.snapshot_lsn, w->j.lsn - 1);
	assert_int_equal(x.r.events, 0);
	assert_int_equal(x.r.max_seq[0], want.max_seq[0]);
	assert_int_equal(x.r.max_seq[1], 0);
	assert_int_equal(x.r.max_event_ns, want.max_event_ns);
	assert_int_equal(x.r.last_tick_ns, want.last_tick_ns);
	assert_replays_equal(&all.r, &x.r, w->sc.next_ref);
	replay_free(&all);
	replay_free(&x);
}

/* The journal contradicts itself (an event of a feed its configuration does not have): -EBADMSG,
 * naming the feed, the configured count and the record. */
static void test_an_event_of_a_feed_beyond_the_configured_ones_is_an_error_naming_it(void **state)
{
	struct world *w = g_w;
	struct dd_event ev;
	uint64_t lsn;
	struct rp x;
	char want[64];

	(void)state;
	world_init(w, 1, 2, CHAIN_BOOK);
	script_day(&w->sc, 0, 30, 3);
	daemon_run(w, 0, w->sc.n);
	ev = w->sc.ev[w->sc.n - 1];
	ev.source = 3;
	lsn = jw_event(&w->j, &ev);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, -EBADMSG);
	assert_contains(x.err, "feed 3");
	assert_contains(x.err, "2 feed(s)");
	snprintf(want, sizeof(want), "LSN %llu", (unsigned long long)lsn);
	assert_contains(x.err, want);
	replay_free(&x);
}

/* ---- the configuration ------------------------------------------------------------------------ */

struct check {
	unsigned calls;
	int rc;                  /* what the check answers */
	struct dd_jconfig seen;  /* the configuration it was shown last */
};

static int check_config(void *ctx, const struct dd_jconfig *journaled, char *err, size_t errlen)
{
	struct check *c = ctx;

	c->calls++;
	c->seen = *journaled;
	if (c->rc != 0)
		snprintf(err, errlen, "test: this start has 3 shard(s), the journal %u", journaled->nshards);
	return c->rc;
}

static void test_a_config_the_caller_refuses_fails_replay_with_its_message(void **state)
{
	struct world *w = g_w;
	struct check yes = { .rc = 0 }, no = { .rc = -EINVAL };
	struct rp x;

	(void)state;
	write_day(w, 2, 60);
	/* shown the journal's configuration once, accepted: replay runs */
	replay_check(&x, w->j.dir, false, 0, check_config, &yes);
	assert_clean(&x);
	assert_int_equal(yes.calls, 1);
	assert_memory_equal(&yes.seen, &w->jc, sizeof(w->jc));
	assert_int_equal(x.r.outputs_matched, w->nout);
	replay_free(&x);
	/* refused: nothing is replayed */
	replay_check(&x, w->j.dir, false, 0, check_config, &no);
	assert_int_equal(x.rc, -EINVAL);
	assert_string_equal(x.err, "test: this start has 3 shard(s), the journal 2");
	assert_int_equal(no.calls, 1);
	assert_memory_equal(&no.seen, &w->jc, sizeof(w->jc));
	assert_int_equal(x.r.events, 0);
	assert_int_equal(x.r.outputs_derived, 0);
	assert_null(x.r.chains);
	replay_free(&x);
}

/* A snapshot holds the configuration the chains are built from: it is checked like a CONFIG record. */
static void test_a_snapshots_config_goes_through_the_callers_check(void **state)
{
	struct world *w = g_w;
	struct check no = { .rc = -EINVAL };
	struct rp half, x;
	char err[512];

	(void)state;
	write_day(w, 2, 60);
	replay_to(&half, w->j.dir, false, w->j.lsn / 2);
	assert_clean(&half);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);
	replay_check(&x, w->j.dir, true, 0, check_config, &no);
	assert_int_equal(x.rc, -EINVAL);
	assert_string_equal(x.err, "test: this start has 3 shard(s), the journal 2");
	assert_int_equal(no.calls, 1);
	assert_memory_equal(&no.seen, &w->jc, sizeof(w->jc));
	assert_int_equal(x.r.events, 0);
	replay_free(&half);
	replay_free(&x);
}

/* A journal whose first records are gone (or one written without them) cannot say what its chains
 * are: replaying it from the start is an error, not a guess. */
static void test_an_event_before_any_config_record_fails_saying_the_start_is_missing(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	w->j.nshards = 1;
	w->j.nfeeds = 1;
	model_init(&w->ref, 1, 1, CHAIN_BOOK);
	script_day(&w->sc, 0, 20, 7);
	daemon_run(w, 0, w->sc.n); /* no CONFIG record first */
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, -EBADMSG);
	assert_contains(x.err, "LSN 1:");
	assert_contains(x.err, "start is missing");
	assert_false(x.r.have_config);
	assert_int_equal(x.r.events, 0);
	replay_free(&x);
}

/* The daemon journals its configuration at every start: the same one again mid-journal (a restart)
 * changes nothing. */
static void test_a_restart_journaling_the_same_config_again_replays_on(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	world_init(w, 2, 1, CHAIN_BOOK_TEST);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, 100);
	jw_config(&w->j, &w->jc);
	daemon_run(w, 100, w->sc.n);
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&x);
}

static void test_a_config_that_changes_mid_journal_is_refused_naming_its_lsn(void **state)
{
	struct world *w = g_w;
	struct dd_jconfig other;
	uint64_t lsn;
	struct rp x;
	char want[64];

	(void)state;
	write_day(w, 2, 100);
	make_jconfig(&other, 2, 1, CHAIN_BOOK_TEST); /* a restart with more operators */
	lsn = jw_config(&w->j, &other);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, -EBADMSG);
	snprintf(want, sizeof(want), "LSN %llu:", (unsigned long long)lsn);
	assert_contains(x.err, want);
	assert_contains(x.err, "configuration changes");
	assert_int_equal(x.r.events, w->nevents); /* everything before it was replayed */
	replay_free(&x);
}

static void test_a_config_this_build_cannot_replay_is_an_error(void **state)
{
	struct world *w = g_w;
	struct rp x;
	char want[128];

	(void)state;
	w->j.nshards = 1;
	w->j.nfeeds = 1;
	make_jconfig(&w->jc, 1, 1, CHAIN_BOOK);
	w->jc.version = DD_JCONFIG_VERSION + 1;
	jw_config(&w->j, &w->jc);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, -EBADMSG);
	snprintf(want, sizeof(want), "version %u with 1 shard(s) and 1 feed(s): not one this build can replay",
		 DD_JCONFIG_VERSION + 1);
	assert_contains(x.err, want);
	assert_false(x.r.have_config);
	replay_free(&x);

	/* operators whose parameters are out of range (a book of no feed) */
	struct world *w2 = g_w2 = world_new();
	assert_non_null(w2);
	w2->j.nshards = 1;
	w2->j.nfeeds = 1;
	memset(&w2->jc, 0, sizeof(w2->jc));
	w2->jc.version = DD_JCONFIG_VERSION;
	w2->jc.nshards = 1;
	w2->jc.nfeeds = 1;
	assert_int_equal(dd_chain_spec_add(&w2->jc.market, DD_OP_BOOK,
					   &(struct dd_book_op_params){ .book = g_params, .nfeeds = 0 },
					   sizeof(struct dd_book_op_params)),
			 0);
	jw_config(&w2->j, &w2->jc);
	replay(&x, w2->j.dir, false);
	assert_int_equal(x.rc, -EBADMSG);
	assert_contains(x.err, "operator 0 (book): parameters out of range");
	replay_free(&x);
}

/* A journal just created, no record in it yet: replayed to nothing, without a configuration. */
static void test_a_journal_without_records_replays_to_no_chains(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	w->j.nshards = 1;
	w->j.nfeeds = 1;
	jw_segment(&w->j);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_false(x.r.have_config);
	assert_null(x.r.chains);
	assert_null(dd_replay_book(&x.r, 0, 0));
	assert_int_equal(x.r.last_lsn, 0);
	assert_int_equal(x.r.events, 0);
	assert_false(x.r.mismatch);
	replay_free(&x);
}

/* ---- the book and the test operators ----------------------------------------------------------- */

/* The day through book + test_multi + test_timer over two shards, with TICKs: several outputs per
 * event, outputs of time for several keys at once, outputs of one TICK in both shards. */
static void write_test_ops_day(struct world *w, unsigned steps)
{
	world_init(w, 2, 1, CHAIN_BOOK_TEST);
	w->sc.tick_every = 10;
	script_day(&w->sc, 0, steps, 17);
	add(&w->sc, 0, 1, 'B', 100, 10000); /* key 1: shard 1 */
	add(&w->sc, 0, 2, 'B', 100, 20000); /* key 2: shard 0 */
	tick(&w->sc, 0, 100000); /* the last event: a TICK five periods on, that fires in both shards */
}

static void test_book_and_test_operators_derive_exactly_the_journaled_outputs(void **state)
{
	struct world *w = g_w;
	unsigned ticks = 0, timer_keys = 0, multi_full = 0, multi_consumed = 0, timer_crossed = 0;
	struct rp x;

	(void)state;
	write_test_ops_day(w, 300);
	daemon_run(w, 0, w->sc.n);
	/* the day exercises what it should */
	for (unsigned i = 0; i < w->sc.n; i++)
		ticks += w->sc.ev[i].type == DD_EV_TICK;
	for (unsigned i = 0; i < w->nout; i++) {
		const struct dd_output *o = &w->out[i];
		if (o->op == DD_OP_TEST_TIMER) {
			timer_keys |= 1u << (o->shard * 8 + o->key);
			timer_crossed += o->u.test.v[2] > 1;
		}
		if (o->op == DD_OP_TEST_MULTI) {
			multi_full += o->u.test.v[1] == MULTI_MAX;
			multi_consumed += o->u.test.v[3] > 0;
		}
	}
	assert_int_equal(ticks, 31);
	/* keys 1 to 4, each in its shard */
	assert_int_equal(timer_keys, 1u << (dd_shard_of(1, 2) * 8 + 1) | 1u << (dd_shard_of(2, 2) * 8 + 2) |
					     1u << (dd_shard_of(3, 2) * 8 + 3) | 1u << (dd_shard_of(4, 2) * 8 + 4));
	assert_true(timer_crossed >= 2 && multi_full > 20 && multi_consumed > 20);
	assert_true(count_op(w, DD_OP_BOOK) > 100 && count_op(w, DD_OP_TEST_TIMER) > 40);
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_journaled, w->nout);
	assert_int_equal(x.r.outputs_derived, w->nout);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_int_equal(x.r.overflow, 0);
	assert_int_equal(x.r.unjournaled, 0);
	/* per operator, what the rules give */
	unsigned per_op[3] = { 0, 0, 0 };
	for (unsigned s = 0; s < 2; s++)
		for (unsigned k = 0; k < 3; k++)
			per_op[k] += (unsigned)x.r.chains[s].op[k].outputs;
	assert_int_equal(per_op[0], count_op(w, DD_OP_BOOK));
	assert_int_equal(per_op[1], count_op(w, DD_OP_TEST_MULTI));
	assert_int_equal(per_op[2], count_op(w, DD_OP_TEST_TIMER));
	assert_int_equal(x.r.chains[0].ticks, ticks);
	assert_int_equal(x.r.chains[1].ticks, ticks);
	assert_int_equal(x.r.chains[0].op[2].watermark, w->sc.ev[w->sc.n - 1].event_ns);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&x);
}

static void test_book_and_test_operators_hand_back_the_missing_tail_in_cause_order(void **state)
{
	struct world *w = g_w;
	unsigned first_missing, ops_seen = 0;
	struct rp x;

	(void)state;
	write_test_ops_day(w, 300);
	daemon_run(w, 0, w->sc.n - 12);
	first_missing = w->nout;
	for (unsigned i = w->sc.n - 12; i < w->sc.n; i++) /* the daemon stopped before their outputs */
		daemon_event(w, &w->sc.ev[i], false);
	for (unsigned i = first_missing; i < w->nout; i++)
		ops_seen |= 1u << (w->out[i].op == DD_OP_BOOK ? 0 : w->out[i].op == DD_OP_TEST_MULTI ? 1 : 2);
	assert_int_equal(ops_seen, 7); /* every operator has outputs in the tail */
	/* the closing TICK fired in both shards: equal causes, shard 0's first */
	unsigned at = w->nout - 1;
	while (w->out[at - 1].cause == w->out[w->nout - 1].cause)
		at--;
	assert_int_equal(w->out[at].shard, 0);
	assert_int_equal(w->out[w->nout - 1].shard, 1);
	replay(&x, w->j.dir, false);
	assert_clean(&x);
	assert_int_equal(x.r.outputs_derived, w->nout);
	assert_int_equal(x.r.outputs_matched, first_missing);
	assert_int_equal(x.r.unjournaled, w->nout - first_missing);
	assert_int_equal(x.r.ntail, w->nout - first_missing);
	for (unsigned i = 0; i < x.r.ntail; i++)
		assert_output_equal(&w->out[first_missing + i], &x.r.tail[i]);
	replay_free(&x);
}

/* A snapshot cut right after an event whose outputs are not journaled yet: the test operators'
 * state (counters, watermarks, time) and the pending outputs go through it. */
static void test_snapshot_of_book_and_test_operators_then_replay_equals_replay_from_the_start(void **state)
{
	struct world *w = g_w;
	uint64_t cut = 0;
	unsigned pending = 0, outputs_to_cut = 0;
	struct rp half, snap, full;
	char err[512];

	(void)state;
	write_test_ops_day(w, 300);
	for (unsigned i = 0; i < w->sc.n; i++) {
		unsigned before = w->nout, n = daemon_event(w, &w->sc.ev[i], true);
		if (cut == 0 && i > w->sc.n / 2 && n >= 3) {
			cut = w->out_lsn[before] - 1; /* the event's own LSN */
			pending = n;
			outputs_to_cut = before;
		}
	}
	assert_true(cut != 0);
	replay_to(&half, w->j.dir, false, cut);
	assert_clean(&half);
	assert_int_equal(half.r.last_lsn, cut);
	assert_int_equal(half.r.outputs_matched, outputs_to_cut);
	assert_int_equal(half.r.unjournaled, pending);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);

	replay(&snap, w->j.dir, true);
	replay(&full, w->j.dir, false);
	assert_clean(&snap);
	assert_clean(&full);
	assert_int_equal(snap.r.snapshot_lsn, cut);
	assert_int_equal(snap.r.outputs_derived, w->nout - outputs_to_cut - pending);
	assert_int_equal(snap.r.outputs_matched, w->nout - outputs_to_cut);
	assert_int_equal(half.r.outputs_matched + snap.r.outputs_matched, full.r.outputs_matched);
	assert_int_equal(full.r.outputs_matched, w->nout);
	assert_int_equal(snap.r.unjournaled, 0);
	assert_replays_equal(&full.r, &snap.r, w->sc.next_ref);
	assert_books_equal(&w->ref, &snap.r, w->sc.next_ref);
	replay_free(&half);
	replay_free(&snap);
	replay_free(&full);
}

/* ---- damaged journals --------------------------------------------------------------------------- */

static void test_a_torn_tail_stops_replay_at_the_last_good_record(void **state)
{
	struct world *w = g_w;
	struct dd_event ev;
	uint8_t rec[DD_J_MAX_REC];
	uint64_t good, last_nz = 0;
	struct rp x;

	(void)state;
	write_day(w, 1, 100);
	good = w->j.lsn - 1;
	ev = w->sc.ev[w->sc.n - 1];
	ev.seq += 1;
	/* the daemon died halfway through writing the next event: the tail ends at its last non-zero byte */
	dd_jrec_put(rec, DD_JREC_EVENT, 0, ev.key, w->j.lsn, &ev, sizeof(ev));
	for (unsigned i = 0; i < 40; i++)
		if (rec[i] != 0)
			last_nz = i;
	jw_put_cut(&w->j, DD_JREC_EVENT, 0, ev.key, &ev, sizeof(ev), 40);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.scan.torn);
	assert_false(x.r.scan.corrupt);
	assert_int_equal(x.r.scan.torn_bytes, last_nz + 1);
	assert_int_equal(x.r.last_lsn, good);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_false(x.r.mismatch);
	assert_books_equal(&w->ref, &x.r, w->sc.next_ref);
	replay_free(&x);
}

static void test_corruption_stops_replay_there_and_is_reported(void **state)
{
	struct world *w = g_w;
	uint64_t bad;
	struct rp x;

	(void)state;
	write_day(w, 1, 200);
	bad = w->j.lsn / 2;
	jw_flip(&w->j, bad, DD_J_REC_HDR + 20);
	replay(&x, w->j.dir, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.scan.corrupt);
	assert_int_equal(x.r.scan.corrupt_lsn, bad);
	assert_int_equal(x.r.last_lsn, bad - 1);
	assert_true(x.r.events < w->nevents);
	replay_free(&x);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_replay_rebuilds_the_books_and_matches_every_journaled_output),
		T(test_the_chains_are_built_from_the_journals_config_record),
		T(test_a_changed_output_is_a_mismatch_at_its_lsn),
		T(test_an_output_with_the_wrong_cause_is_a_mismatch_at_its_lsn),
		T(test_outputs_missing_at_the_tail_are_unjournaled_and_handed_back),
		T(test_a_journaled_output_the_events_do_not_produce_is_a_mismatch),
		T(test_an_extra_journaled_output_mid_journal_is_a_mismatch_at_its_lsn),
		T(test_an_output_journaled_before_its_input_is_a_mismatch),
		T(test_an_output_whose_cause_is_not_an_event_before_it_is_a_mismatch),
		T(test_a_journaled_output_of_a_shard_or_operator_the_chain_lacks_is_a_mismatch),
		T(test_two_shards_match_outputs_per_shard_whatever_the_interleaving),
		T(test_two_outputs_of_one_shard_swapped_are_a_mismatch),
		T(test_snapshot_then_replay_equals_replay_from_the_start),
		T(test_snapshot_at_the_end_of_a_segment_before_an_empty_one_replays),
		T(test_snapshot_past_the_end_of_the_journal_is_an_error),
		T(test_max_lsn_stops_replay_after_that_lsn),
		T(test_snapshot_state_carries_outputs_journaled_after_it),
		T(test_feedpos_records_give_each_feed_its_last_position),
		T(test_replay_says_where_each_feed_and_time_stand_at_the_end),
		T(test_a_snapshot_carries_where_each_feed_and_time_stand),
		T(test_an_event_of_a_feed_beyond_the_configured_ones_is_an_error_naming_it),
		T(test_a_config_the_caller_refuses_fails_replay_with_its_message),
		T(test_a_snapshots_config_goes_through_the_callers_check),
		T(test_an_event_before_any_config_record_fails_saying_the_start_is_missing),
		T(test_a_restart_journaling_the_same_config_again_replays_on),
		T(test_a_config_that_changes_mid_journal_is_refused_naming_its_lsn),
		T(test_a_config_this_build_cannot_replay_is_an_error),
		T(test_a_journal_without_records_replays_to_no_chains),
		T(test_book_and_test_operators_derive_exactly_the_journaled_outputs),
		T(test_book_and_test_operators_hand_back_the_missing_tail_in_cause_order),
		T(test_snapshot_of_book_and_test_operators_then_replay_equals_replay_from_the_start),
		T(test_a_torn_tail_stops_replay_at_the_last_good_record),
		T(test_corruption_stops_replay_there_and_is_reported),
	};

	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
