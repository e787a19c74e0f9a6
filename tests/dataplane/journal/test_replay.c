/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/journal/replay.c: replay of a journal through the books, the check of the
 * re-derived outputs against the journaled ones, sharding, snapshots, feed positions, and what a
 * torn or corrupt journal does to a replay.
 *
 * Journals are written here as the daemon writes them: segment files zero-filled to their size
 * (ftruncate), a header from dd_jseg_header_init() + dd_jseg_header_set_layout() at offset 0,
 * records from dd_jrec_put() appended with pwrite() from offset 4096, a PAD before rotating. The
 * inputs are canonical events built by hand (a scripted day of adds, executions, cancels, deletes
 * and replaces on four instruments); the outputs are what a reference "daemon" here derives from
 * them with dd_book_apply() + dd_book_bbo_output() on its own books, sharded by dd_shard_of().
 * Each test gets its own mkdtemp() directory, removed by its teardown.
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
#include "ops/event.h"
#include "ops/output.h"

#define SEG (16 * 1024) /* 12 KiB of records per segment: every journal here rotates */
#define MAXSEG 64
#define MAXBOOKS 8
#define MAXEV 1024
#define MAXOUT 2048
#define NLOC 4 /* instruments: locates 1..4 (two per shard with two shards: the hash keeps parity) */

static const struct dd_book_params g_params = { .max_instruments = 16, .max_orders = 4096, .max_levels = 1024 };

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
	uint64_t seg_of[8192];  /* LSN -> segment, offset (for poking) */
	uint64_t off_of[8192];
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
	if (j->lsn < 8192) {
		j->seg_of[j->lsn] = j->nseg - 1;
		j->off_of[j->lsn] = j->off;
	}
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
	return jw_put(j, DD_JREC_OUTPUT, o->source, o->locate, o, sizeof(*o));
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
	uint32_t rng;
	struct live live[MAXEV];
	unsigned nlive;
};

static struct dd_event mk(struct script *s, uint8_t type, uint8_t msg, uint8_t source, uint32_t locate)
{
	struct dd_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.msg = msg;
	e.source = source;
	e.key = locate;
	e.seq = ++s->seq;
	e.event_ns = 34200000000000ull + s->seq * 1500; /* 09:30:00 and on */
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
 * (15%) on the live orders of feed `source`.
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

struct books {
	unsigned nshards, nfeeds;
	struct dd_book b[MAXBOOKS];
	void *mem[MAXBOOKS];
};

static void books_init(struct books *x, unsigned nshards, unsigned nfeeds)
{
	size_t len = dd_book_memsize(&g_params);

	assert_true(nshards * nfeeds <= MAXBOOKS && len > 0);
	x->nshards = nshards;
	x->nfeeds = nfeeds;
	for (unsigned i = 0; i < nshards * nfeeds; i++) {
		x->mem[i] = aligned_alloc(64, (len + 63) & ~(size_t)63);
		assert_non_null(x->mem[i]);
		assert_int_equal(dd_book_init(&x->b[i], x->mem[i], len, &g_params), 0);
	}
}

static void books_free(struct books *x)
{
	for (unsigned i = 0; i < MAXBOOKS; i++)
		free(x->mem[i]);
	memset(x, 0, sizeof(*x));
}

/* What the daemon's pipeline does with one event: apply it to the book of its shard (every shard
 * for a system event) and derive the top-of-book outputs. Returns how many; *shard_of_out says
 * which shard derived each. */
static unsigned derive(struct books *x, const struct dd_event *ev, struct dd_output *out, unsigned *shard_of_out)
{
	unsigned first = 0, last = x->nshards - 1, n = 0;

	if (ev->type != DD_EV_SYSTEM)
		first = last = dd_shard_of(ev->key, x->nshards);
	for (unsigned s = first; s <= last; s++) {
		struct dd_book *b = &x->b[s * x->nfeeds + ev->source];
		unsigned flags = dd_book_apply(b, ev);
		if ((flags & (DD_BOOK_BID_CHANGED | DD_BOOK_ASK_CHANGED)) && dd_book_bbo_output(b, ev, &out[n])) {
			if (shard_of_out != NULL)
				shard_of_out[n] = s;
			n++;
		}
	}
	return n;
}

/* A test's world: the journal, the reference books and everything the daemon derived. */
struct world {
	struct jw j;
	struct books ref;
	struct script sc;
	struct dd_output out[MAXOUT];
	uint64_t out_lsn[MAXOUT]; /* 0: not journaled */
	unsigned nout;
	uint64_t nevents;
};

static struct world *g_w;

static int setup(void **state)
{
	(void)state;
	g_w = calloc(1, sizeof(*g_w));
	if (g_w == NULL)
		return -1;
	snprintf(g_w->j.dir, sizeof(g_w->j.dir), "/tmp/dd-replay-XXXXXX");
	if (mkdtemp(g_w->j.dir) == NULL)
		return -1;
	g_w->j.fd = -1;
	g_w->j.lsn = 1;
	return 0;
}

static int teardown(void **state)
{
	char path[512];
	struct dirent *de;
	DIR *d;

	(void)state;
	if (g_w->j.fd >= 0)
		close(g_w->j.fd);
	d = opendir(g_w->j.dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", g_w->j.dir, de->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(g_w->j.dir);
	books_free(&g_w->ref);
	free(g_w);
	g_w = NULL;
	return 0;
}

static void world_init(struct world *w, unsigned nshards, unsigned nfeeds)
{
	w->j.nshards = nshards;
	w->j.nfeeds = nfeeds;
	books_init(&w->ref, nshards, nfeeds);
}

/* Journal event `ev` and derive its outputs; with `journal_outputs` they follow it at once. */
static unsigned daemon_event(struct world *w, const struct dd_event *ev, bool journal_outputs)
{
	struct dd_output o[MAXBOOKS];
	unsigned n;

	jw_event(&w->j, ev);
	w->nevents++;
	n = derive(&w->ref, ev, o, NULL);
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
	struct books bk;
	char err[512];
	int rc;
};

/* Replay `dir` into fresh books, stopping after LSN max_lsn (0: the whole journal). */
static void replay_to(struct rp *x, const char *dir, unsigned nshards, unsigned nfeeds, bool use_snapshot,
		      uint64_t max_lsn)
{
	memset(x, 0, sizeof(*x));
	books_init(&x->bk, nshards, nfeeds);
	x->r.nshards = nshards;
	x->r.nfeeds = nfeeds;
	x->r.books = x->bk.b;
	x->r.use_snapshot = use_snapshot;
	x->r.max_lsn = max_lsn;
	x->rc = dd_replay_run(dir, &x->r, x->err, sizeof(x->err));
}

static void replay(struct rp *x, const char *dir, unsigned nshards, unsigned nfeeds, bool use_snapshot)
{
	replay_to(x, dir, nshards, nfeeds, use_snapshot, 0);
}

static void replay_free(struct rp *x)
{
	dd_replay_fini(&x->r);
	books_free(&x->bk);
}

/* Book `b` holds exactly what `ref` holds: counters, instruments, every order, every level. */
static void assert_book_equal(const struct dd_book *ref, const struct dd_book *b, uint64_t max_ref)
{
	struct dd_book_level la[64], lb[64];
	struct dd_book_order_view oa, ob;
	char why[256];

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

static void assert_books_equal(const struct books *ref, const struct books *b, uint64_t max_ref)
{
	assert_int_equal(ref->nshards * ref->nfeeds, b->nshards * b->nfeeds);
	for (unsigned i = 0; i < ref->nshards * ref->nfeeds; i++)
		assert_book_equal(&ref->b[i], &b->b[i], max_ref);
}

static void assert_output_equal(const struct dd_output *want, const struct dd_output *got)
{
	assert_memory_equal(want, got, DD_OUTPUT_CMP_LEN);
}

static void assert_contains(const char *s, const char *what)
{
	if (strstr(s, what) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", s, what);
}

/* The whole day through one shard, outputs journaled right after their events. */
static void write_day(struct world *w, unsigned nshards, unsigned steps)
{
	world_init(w, nshards, 1);
	script_day(&w->sc, 0, steps, 7);
	daemon_run(w, 0, w->sc.n);
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
	replay(&x, w->j.dir, 1, 1, false);
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
	assert_int_equal(x.r.unjournaled, 0);
	assert_int_equal(x.r.last_lsn, w->j.lsn - 1);
	assert_books_equal(&w->ref, &x.bk, w->sc.next_ref);
	/* the day did what it says: every kind of change reached the books */
	const struct dd_book_stats *st = &x.bk.b[0].stats;
	assert_true(st->adds > 100 && st->executions > 10 && st->cancels > 10 && st->deletes > 10 && st->replaces > 10);
	assert_int_equal(st->unknown_ref + st->duplicate_ref + st->bad_order + st->overexecuted, 0);
	replay_free(&x);
}

static void test_a_changed_output_is_a_mismatch_at_its_lsn(void **state)
{
	struct world *w = g_w;
	struct dd_output o[MAXBOOKS];
	uint64_t bad_lsn = 0;
	struct rp x;

	(void)state;
	world_init(w, 1, 1);
	script_day(&w->sc, 0, 200, 7);
	for (unsigned i = 0; i < w->sc.n; i++) {
		jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], o, NULL);
		for (unsigned k = 0; k < n; k++) {
			w->nout++;
			if (w->nout == 50) {
				o[k].bid_shares += 1; /* the daemon journaled something else */
				bad_lsn = jw_output(&w->j, &o[k]);
			} else {
				jw_output(&w->j, &o[k]);
			}
		}
	}
	assert_true(bad_lsn != 0);
	replay(&x, w->j.dir, 1, 1, false);
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
	world_init(w, 1, 1);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, w->sc.n - 8);
	first_missing = w->nout;
	for (unsigned i = w->sc.n - 8; i < w->sc.n; i++) /* the daemon stopped before their outputs */
		daemon_event(w, &w->sc.ev[i], false);
	assert_true(w->nout - first_missing >= 2);
	replay(&x, w->j.dir, 1, 1, false);
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
	replay(&x, w->j.dir, 1, 1, false);
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
	world_init(w, 1, 1);
	script_day(&w->sc, 0, 100, 7);
	daemon_run(w, 0, 40);
	extra = w->out[w->nout - 1];
	extra.ask_shares += 7;
	/* every derived output so far is journaled: the extra one has no input before it */
	uint64_t extra_lsn = jw_output(&w->j, &extra);
	daemon_run(w, 40, w->sc.n);
	replay(&x, w->j.dir, 1, 1, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, extra_lsn);
	assert_contains(x.r.mismatch_why, "do not derive");
	replay_free(&x);
}

static void test_an_output_journaled_before_its_input_is_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	world_init(w, 1, 1);
	script_day(&w->sc, 0, 100, 7);
	/* the writer never does this: the output of the next event journaled ahead of the event */
	unsigned i = 0;
	struct dd_output o[MAXBOOKS];
	unsigned sh[MAXBOOKS], n = 0;
	for (; i < w->sc.n; i++) {
		n = derive(&w->ref, &w->sc.ev[i], o, sh);
		if (n > 0)
			break;
		jw_event(&w->j, &w->sc.ev[i]);
	}
	assert_true(n > 0);
	uint64_t early = jw_output(&w->j, &o[0]);
	jw_event(&w->j, &w->sc.ev[i]);
	replay(&x, w->j.dir, 1, 1, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_int_equal(x.r.mismatch_lsn, early);
	replay_free(&x);
}

/* Two shards; the outputs leave each shard in its order, after their events, but the shards
 * interleave differently from the derivation order and lag by different amounts. */
static void test_two_shards_match_outputs_per_shard_whatever_the_interleaving(void **state)
{
	struct world *w = g_w;
	struct dd_output pend[2][MAXOUT];
	unsigned npend[2] = { 0, 0 };
	struct rp x;

	(void)state;
	world_init(w, 2, 1);
	script_day(&w->sc, 0, 400, 11);
	for (unsigned i = 0; i < w->sc.n; i++) {
		struct dd_output o[MAXBOOKS];
		unsigned sh[MAXBOOKS];
		const struct dd_event *ev = &w->sc.ev[i];
		unsigned n = derive(&w->ref, ev, o, sh);
		jw_event(&w->j, ev);
		w->nevents++;
		w->nout += n;
		for (unsigned k = 0; k < n; k++)
			pend[sh[k]][npend[sh[k]]++] = o[k];
		if (i % 5 == 4) { /* shard 1 first */
			for (unsigned s = 2; s-- > 0; npend[s] = 0)
				for (unsigned k = 0; k < npend[s]; k++)
					jw_output(&w->j, &pend[s][k]);
		} else if (i % 3 == 0) { /* shard 0 alone: shard 1 lags */
			for (unsigned k = 0; k < npend[0]; k++)
				jw_output(&w->j, &pend[0][k]);
			npend[0] = 0;
		}
	}
	for (unsigned s = 0; s < 2; s++)
		for (unsigned k = 0; k < npend[s]; k++)
			jw_output(&w->j, &pend[s][k]);
	assert_true(w->ref.b[0].ninstr >= 2 && w->ref.b[1].ninstr >= 2); /* both shards have instruments */
	replay(&x, w->j.dir, 2, 1, false);
	assert_int_equal(x.rc, 0);
	assert_false(x.r.mismatch);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_journaled, w->nout);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_int_equal(x.r.unjournaled, 0);
	assert_books_equal(&w->ref, &x.bk, w->sc.next_ref);
	/* one shard replays the same journal into one book: the global order is not the daemon's, so
	 * the interleaving shows up as a mismatch (the check really is per shard) */
	replay_free(&x);
	replay(&x, w->j.dir, 1, 1, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	replay_free(&x);
}

static void test_two_outputs_of_one_shard_swapped_are_a_mismatch(void **state)
{
	struct world *w = g_w;
	struct rp x;
	struct dd_output o[MAXBOOKS], held;
	bool holding = false, swapped = false;

	(void)state;
	world_init(w, 2, 1);
	script_day(&w->sc, 0, 200, 11);
	for (unsigned i = 0; i < w->sc.n; i++) {
		jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], o, NULL);
		for (unsigned k = 0; k < n; k++) {
			if (!swapped && !holding && i > 50 && dd_shard_of(o[k].locate, 2) == 1) {
				held = o[k];
				holding = true;
			} else if (holding && dd_shard_of(o[k].locate, 2) == 1) {
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
	replay(&x, w->j.dir, 2, 1, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.mismatch);
	assert_contains(x.r.mismatch_why, "differs");
	replay_free(&x);
}

static void test_snapshot_then_replay_equals_replay_from_the_start(void **state)
{
	struct world *w = g_w;
	struct rp half, snap, full;
	uint64_t events_half, outputs_half;
	char err[512];

	(void)state;
	world_init(w, 2, 1);
	script_day(&w->sc, 0, 400, 5);
	unsigned mid = w->sc.n / 2;
	daemon_run(w, 0, mid);
	jw_feedpos(&w->j, 0, "SESSION001", w->sc.ev[mid - 1].seq + 1, false);
	events_half = w->nevents;
	outputs_half = w->nout;

	/* what the daemon does at a quiet point: replay (here: rebuild) the books and snapshot them */
	replay(&half, w->j.dir, 2, 1, false);
	assert_int_equal(half.rc, 0);
	assert_false(half.r.mismatch);
	assert_int_equal(dd_replay_snapshot(w->j.dir, half.r.last_lsn, half.bk.b, 2, 1, half.r.pos, half.r.have_pos,
					    half.r.events, half.r.outputs_derived, err, sizeof(err)),
			 0);
	daemon_run(w, mid, w->sc.n);

	replay(&snap, w->j.dir, 2, 1, true);
	replay(&full, w->j.dir, 2, 1, false);
	assert_int_equal(snap.rc, 0);
	assert_int_equal(full.rc, 0);
	assert_int_equal(snap.r.snapshot_lsn, half.r.last_lsn);
	assert_int_equal(full.r.snapshot_lsn, 0);
	assert_false(snap.r.mismatch);
	assert_false(full.r.mismatch);
	/* counted only after the snapshot */
	assert_int_equal(snap.r.events, w->nevents - events_half);
	assert_int_equal(snap.r.outputs_derived, w->nout - outputs_half);
	assert_int_equal(snap.r.outputs_matched, w->nout - outputs_half);
	assert_int_equal(full.r.events, w->nevents);
	assert_int_equal(snap.r.last_lsn, full.r.last_lsn);
	/* the feed position came from the snapshot: no FEEDPOS record follows it */
	assert_true(snap.r.have_pos[0]);
	assert_memory_equal(&snap.r.pos[0], &full.r.pos[0], sizeof(snap.r.pos[0]));
	assert_books_equal(&full.bk, &snap.bk, w->sc.next_ref);
	assert_books_equal(&w->ref, &snap.bk, w->sc.next_ref);
	replay_free(&half);
	replay_free(&snap);
	replay_free(&full);
}

static void test_snapshot_written_with_another_shard_count_is_ignored(void **state)
{
	struct world *w = g_w;
	struct books two;
	bool have[DD_MAX_FEEDS] = { false };
	struct dd_jfeedpos pos[DD_MAX_FEEDS];
	struct rp x;
	char err[512];

	(void)state;
	write_day(w, 1, 200);
	memset(pos, 0, sizeof(pos));
	memset(&two, 0, sizeof(two));
	books_init(&two, 2, 1);
	/* two (empty) shards: loading it into one shard would lose the whole day */
	assert_int_equal(dd_replay_snapshot(w->j.dir, w->j.lsn - 1, two.b, 2, 1, pos, have, 0, 0, err, sizeof(err)), 0);
	books_free(&two);
	replay(&x, w->j.dir, 1, 1, true);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.r.snapshot_lsn, 0);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_false(x.r.mismatch);
	assert_books_equal(&w->ref, &x.bk, w->sc.next_ref);
	replay_free(&x);
}

/* A snapshot covering the last record of a full segment, the next segment still empty: the
 * scan after it reads no record, which is not "the journal lost records". */
static void test_snapshot_at_the_end_of_a_segment_before_an_empty_one_replays(void **state)
{
	struct world *w = g_w;
	struct rp half, x;
	char err[512];

	(void)state;
	world_init(w, 1, 1);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, w->sc.n);
	jw_rotate(&w->j); /* PAD, then a new empty segment */
	replay(&half, w->j.dir, 1, 1, false);
	assert_int_equal(half.rc, 0);
	assert_int_equal(half.r.last_lsn, w->j.lsn - 1);
	assert_int_equal(dd_replay_snapshot(w->j.dir, half.r.last_lsn, half.bk.b, 1, 1, half.r.pos, half.r.have_pos,
					    half.r.events, half.r.outputs_derived, err, sizeof(err)),
			 0);
	replay(&x, w->j.dir, 1, 1, true);
	if (x.rc != 0)
		fail_msg("replay from a snapshot at a segment boundary failed (%d): %s", x.rc, x.err);
	assert_int_equal(x.r.snapshot_lsn, half.r.last_lsn);
	assert_int_equal(x.r.events, 0);
	assert_false(x.r.mismatch);
	assert_books_equal(&w->ref, &x.bk, w->sc.next_ref);
	replay_free(&half);
	replay_free(&x);
}

/* The opposite case is still caught: a snapshot past the last record the journal holds. */
static void test_snapshot_past_the_end_of_the_journal_is_an_error(void **state)
{
	struct world *w = g_w;
	struct rp half, x;
	char err[512];

	(void)state;
	write_day(w, 1, 100);
	replay(&half, w->j.dir, 1, 1, false);
	assert_int_equal(half.rc, 0);
	assert_int_equal(dd_replay_snapshot(w->j.dir, half.r.last_lsn + 5, half.bk.b, 1, 1, half.r.pos,
					    half.r.have_pos, half.r.events, half.r.outputs_derived, err, sizeof(err)),
			 0);
	replay(&x, w->j.dir, 1, 1, true);
	assert_int_equal(x.rc, -EBADMSG);
	assert_contains(x.err, "past the journal's end");
	replay_free(&half);
	replay_free(&x);
}

static void test_max_lsn_stops_replay_after_that_lsn(void **state)
{
	struct world *w = g_w;
	uint64_t cut, events_to_cut = 0, seq_to_cut = 0;
	struct rp x;

	(void)state;
	world_init(w, 1, 1);
	script_day(&w->sc, 0, 200, 7);
	daemon_run(w, 0, 100);
	cut = w->j.lsn - 1;
	events_to_cut = w->nevents;
	seq_to_cut = w->sc.ev[99].seq;
	daemon_run(w, 100, w->sc.n);
	replay_to(&x, w->j.dir, 1, 1, false, cut);
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
	world_init(w, 2, 1);
	script_day(&w->sc, 0, 300, 13);
	for (unsigned i = 0; i < w->sc.n; i++) {
		struct dd_output o[MAXBOOKS];
		unsigned sh[MAXBOOKS];
		uint64_t lsn = jw_event(&w->j, &w->sc.ev[i]);
		unsigned n = derive(&w->ref, &w->sc.ev[i], o, sh);
		w->nevents++;
		w->nout += n;
		for (unsigned k = 0; k < n; k++) {
			if (sh[k] == 1) /* shard 1's worker journals in batches of 8 events */
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
	replay_to(&half, w->j.dir, 2, 1, false, cut);
	assert_int_equal(half.rc, 0);
	assert_false(half.r.mismatch);
	assert_int_equal(half.r.unjournaled, pending_at_cut);
	assert_int_equal(dd_replay_snapshot_state(&half.r, w->j.dir, err, sizeof(err)), 0);
	replay(&snap, w->j.dir, 2, 1, true);
	assert_int_equal(snap.rc, 0);
	assert_int_equal(snap.r.snapshot_lsn, cut);
	if (snap.r.mismatch)
		fail_msg("replay from the snapshot: mismatch at LSN %llu: %s", (unsigned long long)snap.r.mismatch_lsn,
			 snap.r.mismatch_why);
	assert_int_equal(snap.r.outputs_journaled, outputs_after_cut);
	assert_int_equal(snap.r.outputs_matched, outputs_after_cut);
	assert_int_equal(snap.r.unjournaled, 0);
	assert_books_equal(&w->ref, &snap.bk, w->sc.next_ref);
	replay_free(&half);
	replay_free(&snap);
}

static void test_feedpos_records_give_each_feed_its_last_position(void **state)
{
	struct world *w = g_w;
	struct rp x;

	(void)state;
	world_init(w, 1, 2);
	script_day(&w->sc, 0, 60, 3);
	script_day(&w->sc, 1, 60, 4);
	daemon_run(w, 0, 40);
	jw_feedpos(&w->j, 0, "SESSION001", 41, false);
	daemon_run(w, 40, w->sc.n);
	jw_feedpos(&w->j, 1, "SESSION777", 123456, true);
	jw_feedpos(&w->j, 0, "SESSION002", 9001, false);
	replay(&x, w->j.dir, 1, 2, false);
	assert_int_equal(x.rc, 0);
	assert_false(x.r.mismatch);
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
	/* and two feeds replay into two books */
	assert_books_equal(&w->ref, &x.bk, w->sc.next_ref);
	assert_true(x.bk.b[0].stats.adds > 0 && x.bk.b[1].stats.adds > 0);
	replay_free(&x);
}

static void test_an_event_of_a_feed_beyond_the_configured_ones_is_an_error_naming_it(void **state)
{
	struct world *w = g_w;
	struct dd_event ev;
	uint64_t lsn;
	struct rp x;
	char want[64];

	(void)state;
	world_init(w, 1, 2);
	script_day(&w->sc, 0, 30, 3);
	daemon_run(w, 0, w->sc.n);
	ev = w->sc.ev[w->sc.n - 1];
	ev.source = 3;
	lsn = jw_event(&w->j, &ev);
	replay(&x, w->j.dir, 1, 2, false);
	assert_int_equal(x.rc, -EINVAL);
	assert_contains(x.err, "feed 3");
	assert_contains(x.err, "2 feed(s)");
	snprintf(want, sizeof(want), "LSN %llu", (unsigned long long)lsn);
	assert_contains(x.err, want);
	replay_free(&x);
}

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
	replay(&x, w->j.dir, 1, 1, false);
	assert_int_equal(x.rc, 0);
	assert_true(x.r.scan.torn);
	assert_false(x.r.scan.corrupt);
	assert_int_equal(x.r.scan.torn_bytes, last_nz + 1);
	assert_int_equal(x.r.last_lsn, good);
	assert_int_equal(x.r.events, w->nevents);
	assert_int_equal(x.r.outputs_matched, w->nout);
	assert_false(x.r.mismatch);
	assert_books_equal(&w->ref, &x.bk, w->sc.next_ref);
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
	replay(&x, w->j.dir, 1, 1, false);
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
		T(test_a_changed_output_is_a_mismatch_at_its_lsn),
		T(test_outputs_missing_at_the_tail_are_unjournaled_and_handed_back),
		T(test_a_journaled_output_the_events_do_not_produce_is_a_mismatch),
		T(test_an_extra_journaled_output_mid_journal_is_a_mismatch_at_its_lsn),
		T(test_an_output_journaled_before_its_input_is_a_mismatch),
		T(test_two_shards_match_outputs_per_shard_whatever_the_interleaving),
		T(test_two_outputs_of_one_shard_swapped_are_a_mismatch),
		T(test_snapshot_then_replay_equals_replay_from_the_start),
		T(test_snapshot_written_with_another_shard_count_is_ignored),
		T(test_snapshot_at_the_end_of_a_segment_before_an_empty_one_replays),
		T(test_snapshot_past_the_end_of_the_journal_is_an_error),
		T(test_max_lsn_stops_replay_after_that_lsn),
		T(test_snapshot_state_carries_outputs_journaled_after_it),
		T(test_feedpos_records_give_each_feed_its_last_position),
		T(test_an_event_of_a_feed_beyond_the_configured_ones_is_an_error_naming_it),
		T(test_a_torn_tail_stops_replay_at_the_last_good_record),
		T(test_corruption_stops_replay_there_and_is_reported),
	};

	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
