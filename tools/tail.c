/* SPDX-License-Identifier: MIT */
#include "tools/tail.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/be.h"
#include "dataplane/wire/outwire.h"

#define RING_MIN 1024u
#define GAPS_MIN 64u
/* Requests one poll makes at most (a million messages): a gap the size of the hold bound is asked
 * for over several polls rather than in one burst the answers could not fit in a socket buffer. */
#define REQUESTS_PER_POLL 1024u

/* One held message: its bytes when they decode, else only the verdict (a refused message can be
 * longer than any output, and only its reason is ever needed). */
struct slot {
	uint8_t held;
	int8_t err;
	uint8_t len;
	uint8_t msg[DD_OUTW_MAX_LEN];
};

/*
 * Messages missing in [first, last], opened when something ahead of them arrived. Filling a gap
 * trims it from either end; one filled in the middle is not split (the request scan skips what is
 * held), and first > last marks a gap filled before the ones ahead of it.
 */
struct gap {
	uint64_t first, last;
	uint64_t due;      /* next request, or (lost or no requests) when it is given up */
	unsigned tries;
	bool lost;
};

/*
 * Invariants: every held message is in [next, next + cap), in slot seq % cap; every sequence
 * number in [next, high) that is not held belongs to exactly one gap; gaps are disjoint and in
 * sequence order (a deque: opened at the back, closed at the front as `next` passes them).
 */
struct dd_tail {
	struct dd_tail_params p;
	dd_tail_out_fn out;
	dd_tail_request_fn req;
	dd_tail_note_fn note;
	void *ctx;
	char session[DD_MOLD_SESSION_LEN], prev[DD_MOLD_SESSION_LEN];
	bool started, has_prev, stopped;
	uint64_t floor;    /* first sequence number wanted in this session: below it, not ours */
	uint64_t next;     /* next sequence number to deliver */
	uint64_t high;     /* one past the highest known to exist */
	uint64_t end_seq;  /* the end of session's next sequence number (st.ended) */
	struct slot *ring;
	uint64_t cap;      /* a power of two */
	uint64_t nheld;
	struct gap *g;
	size_t gcap, ghead, gn; /* gcap a power of two */
	uint64_t next_due; /* earliest gap due (UINT64_MAX: none) */
	struct dd_tail_stats st;
};

static const char *const reason_names[DD_TAIL_NREASONS] = { "short", "bad_type", "bad_version", "bad_length" };

const char *dd_tail_reason_name(unsigned i)
{
	return i < DD_TAIL_NREASONS ? reason_names[i] : "?";
}

static void say(struct dd_tail *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct dd_tail *t, const char *fmt, ...)
{
	if (t->note == NULL)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->note(t->ctx, buf);
}

/* The session name for a message: printable ASCII, anything else as '?'. */
static const char *name_text(char out[DD_MOLD_SESSION_LEN + 1], const char *s)
{
	for (unsigned i = 0; i < DD_MOLD_SESSION_LEN; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[DD_MOLD_SESSION_LEN] = 0;
	return out;
}

static inline struct slot *slot_of(const struct dd_tail *t, uint64_t seq)
{
	return &t->ring[seq & (t->cap - 1)];
}

static inline bool held(const struct dd_tail *t, uint64_t seq)
{
	return seq >= t->next && seq - t->next < t->cap && slot_of(t, seq)->held;
}

static inline struct gap *gap_at(const struct dd_tail *t, size_t i)
{
	return &t->g[(t->ghead + i) & (t->gcap - 1)];
}

/* ---- delivery -------------------------------------------------------------------------------- */

static void deliver(struct dd_tail *t, uint64_t seq, int err, uint64_t lsn, const struct dd_output *o)
{
	if (err != 0) {
		unsigned r = (unsigned)(-1 - err);
		t->st.malformed[r < DD_TAIL_NREASONS ? r : DD_TAIL_NREASONS - 1]++;
		return;
	}
	t->st.messages++;
	if (!t->out(t->ctx, seq, lsn, o))
		t->stopped = true;
}

static void deliver_held(struct dd_tail *t, uint64_t seq)
{
	struct slot *s = slot_of(t, seq);
	uint64_t lsn = 0;
	struct dd_output o;
	int err = s->err != 0 ? s->err : dd_outw_decode(s->msg, s->len, &lsn, &o);
	s->held = 0;
	t->nheld--;
	deliver(t, seq, err, lsn, &o);
}

/* Close the gaps `next` has passed. */
static void pop_gaps(struct dd_tail *t)
{
	while (t->gn > 0) {
		struct gap *g = gap_at(t, 0);
		if (g->first < t->next)
			g->first = t->next;
		if (g->first <= g->last)
			break;
		t->ghead = (t->ghead + 1) & (t->gcap - 1);
		t->gn--;
	}
}

/*
 * Everything below `target` is done with: held messages delivered, missing ones lost. Only the
 * held ones are visited one by one (they are within cap of next); the rest is counted at once, so a
 * heartbeat announcing billions of messages costs nothing.
 */
static void advance_to(struct dd_tail *t, uint64_t target)
{
	uint64_t stop = target < t->high ? target : t->high;
	while (t->next < stop && !t->stopped) {
		if (t->nheld == 0) {
			t->st.lost += stop - t->next;
			t->next = stop;
			break;
		}
		if (slot_of(t, t->next)->held)
			deliver_held(t, t->next);
		else
			t->st.lost++;
		t->next++;
	}
	if (t->stopped)
		return;
	if (target > t->high) {
		t->st.lost += target - t->high;
		t->high = target;
	}
	if (t->next < target)
		t->next = target;
	pop_gaps(t);
}

/* Deliver what is next in sequence, skipping the gaps given up. */
static void release(struct dd_tail *t)
{
	while (!t->stopped) {
		if (t->nheld > 0 && slot_of(t, t->next)->held) {
			deliver_held(t, t->next);
			t->next++;
			continue;
		}
		if (t->next >= t->high)
			break;
		pop_gaps(t);
		struct gap *g = t->gn > 0 ? gap_at(t, 0) : NULL;
		if (g == NULL || !g->lost || g->first != t->next)
			break;
		uint64_t lost = t->st.lost, first = g->first, last = g->last;
		unsigned tries = g->tries;
		advance_to(t, last + 1);
		if (tries > 0)
			say(t, "messages %" PRIu64 "-%" PRIu64 ": %" PRIu64 " still missing after %u request%s: lost", first, last,
			    t->st.lost - lost, tries, tries == 1 ? "" : "s");
		else
			say(t, "messages %" PRIu64 "-%" PRIu64 ": %" PRIu64 " missing, not asked for: lost", first, last,
			    t->st.lost - lost);
	}
	pop_gaps(t);
}

/* ---- gaps ------------------------------------------------------------------------------------- */

static int grow_gaps(struct dd_tail *t)
{
	size_t nc = t->gcap * 2;
	struct gap *g = nc > t->gcap ? malloc(nc * sizeof(*g)) : NULL;
	if (g == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->gn; i++)
		g[i] = *gap_at(t, i);
	free(t->g);
	t->g = g;
	t->gcap = nc;
	t->ghead = 0;
	return 0;
}

static void open_gap(struct dd_tail *t, uint64_t first, uint64_t last, uint64_t now)
{
	t->st.gaps++;
	if (t->gn == t->gcap && grow_gaps(t) != 0) {
		/* no memory for one more: the last gap takes this one in (its scan skips what is held) */
		gap_at(t, t->gn - 1)->last = last;
		return;
	}
	uint64_t due = t->p.request ? now : t->p.timeout_ns ? now + t->p.timeout_ns : UINT64_MAX;
	*gap_at(t, t->gn++) = (struct gap){ .first = first, .last = last, .due = due };
	if (due < t->next_due)
		t->next_due = due;
}

/* The gap holding missing number `seq`, or NULL. */
static struct gap *find_gap(const struct dd_tail *t, uint64_t seq)
{
	/* `last` never decreases along the deque (gaps are disjoint and in order): the first gap
	 * ending at or after seq is the only one that can hold it */
	size_t lo = 0, hi = t->gn;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (gap_at(t, mid)->last < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->gn)
		return NULL;
	struct gap *g = gap_at(t, lo);
	return g->first <= seq ? g : NULL;
}

/* Missing `seq` has arrived (delivered or held): trim its gap if it was at an end. */
static void fill(struct dd_tail *t, uint64_t seq)
{
	struct gap *g = find_gap(t, seq);
	if (g == NULL)
		return;
	if (seq == g->first)
		while (g->first <= g->last && (g->first < t->next || held(t, g->first)))
			g->first++;
	if (seq == g->last)
		while (g->last >= g->first && held(t, g->last))
			g->last--;
}

/* Ask for the missing runs of gap g that could be held, at most max_per_request each. */
static void ask(struct dd_tail *t, struct gap *g, unsigned *budget)
{
	uint64_t s = g->first < t->next ? t->next : g->first;
	uint64_t end = g->last - t->next <= t->p.hold ? g->last : t->next + t->p.hold;
	while (s <= end && *budget > 0) {
		if (held(t, s)) {
			s++;
			continue;
		}
		uint64_t a = s;
		while (s <= end && s - a < t->p.max_per_request && !held(t, s))
			s++;
		t->req(t->ctx, t->session, a, (uint16_t)(s - a));
		t->st.requests++;
		t->st.requested += s - a;
		(*budget)--;
	}
}

/* ---- the hold buffer ------------------------------------------------------------------------------ */

static int grow_ring(struct dd_tail *t, uint64_t need)
{
	uint64_t nc = t->cap;
	while (nc < need)
		nc <<= 1;
	struct slot *r = calloc(nc, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	for (uint64_t s = t->next, moved = 0; moved < t->nheld; s++)
		if (slot_of(t, s)->held) {
			r[s & (nc - 1)] = *slot_of(t, s);
			moved++;
		}
	free(t->ring);
	t->ring = r;
	t->cap = nc;
	return 0;
}

/* Make room for `seq` (>= next): give up the oldest missing messages past the bound (--hold, or
 * what memory allows). */
static void make_room(struct dd_tail *t, uint64_t seq)
{
	uint64_t first = t->next, lost = t->st.lost;
	if (seq - t->next > t->p.hold) {
		advance_to(t, seq - t->p.hold);
		say(t, "hold buffer full (--hold %" PRIu64 "): gave up messages %" PRIu64 "-%" PRIu64 ", %" PRIu64
		    " of them missing", t->p.hold, first, t->next - 1, t->st.lost - lost);
	}
	if (t->stopped || seq - t->next < t->cap || grow_ring(t, seq - t->next + 1) == 0)
		return;
	first = t->next;
	lost = t->st.lost;
	advance_to(t, seq - t->cap + 1);
	say(t, "out of memory for the hold buffer (%" PRIu64 " messages): gave up messages %" PRIu64 "-%" PRIu64
	    ", %" PRIu64 " of them missing", t->cap, first, t->next - 1, t->st.lost - lost);
}

/* ---- messages and datagrams ---------------------------------------------------------------------- */

static void take(struct dd_tail *t, uint64_t seq, const uint8_t *msg, size_t len, uint64_t now)
{
	if (seq < t->next) {
		if (seq >= t->floor)
			t->st.duplicates++;
		return;
	}
	if (t->st.ended && seq >= t->end_seq) {
		t->st.after_end++;
		return;
	}
	if (seq - t->next >= t->cap || seq - t->next > t->p.hold) {
		make_room(t, seq);
		if (t->stopped)
			return;
	}
	bool missing = false;
	if (seq < t->high) {
		if (held(t, seq)) {
			t->st.duplicates++;
			return;
		}
		missing = true;
		t->st.recovered++;
	} else {
		if (seq > t->high)
			open_gap(t, t->high, seq - 1, now);
		t->high = seq + 1;
	}
	uint64_t lsn = 0;
	struct dd_output o;
	int err = dd_outw_decode(msg, len, &lsn, &o);
	if (seq == t->next) {
		deliver(t, seq, err, lsn, &o);
		t->next++;
	} else {
		struct slot *s = slot_of(t, seq);
		s->held = 1;
		s->err = (int8_t)err;
		s->len = err == 0 ? (uint8_t)len : 0;
		if (err == 0)
			memcpy(s->msg, msg, len);
		t->nheld++;
	}
	if (missing)
		fill(t, seq);
	release(t);
}

static void start(struct dd_tail *t, const char *name, uint64_t first)
{
	memcpy(t->session, name, DD_MOLD_SESSION_LEN);
	t->started = true;
	t->next = t->p.from != 0 ? t->p.from : first;
	t->floor = t->next;
	t->high = t->next;
	t->st.ended = false;
	t->end_seq = 0;
}

static void change_session(struct dd_tail *t, const char *name, uint64_t first)
{
	char a[DD_MOLD_SESSION_LEN + 1], b[DD_MOLD_SESSION_LEN + 1];
	uint64_t lost = t->st.lost;
	advance_to(t, t->high);
	if (t->stopped)
		return;
	say(t, "session %s replaced by %s after message %" PRIu64 "%s; %" PRIu64 " of its messages lost",
	    name_text(a, t->session), name_text(b, name), t->next - 1, t->st.ended ? " (ended)" : " (not ended)",
	    t->st.lost - lost);
	memcpy(t->prev, t->session, DD_MOLD_SESSION_LEN);
	t->has_prev = true;
	t->gn = 0;
	t->ghead = 0;
	t->next_due = UINT64_MAX;
	t->st.session_changes++;
	start(t, name, first);
}

void dd_tail_datagram(struct dd_tail *t, const uint8_t *p, size_t len, bool answer, uint64_t now)
{
	if (t->stopped)
		return;
	t->st.datagrams++;
	if (answer)
		t->st.answers++;
	struct dd_mold_hdr h;
	enum dd_mold_err e = dd_mold_parse(p, len, &h);
	if (e != DD_MOLD_OK) {
		t->st.bad[e]++;
		return;
	}
	bool marker = h.count == 0 || h.count == DD_MOLD_COUNT_EOS;
	if (marker && h.seq == 0) { /* numbers start at 1: a marker naming 0 says nothing true */
		t->st.bad[DD_MOLD_ERR_BAD_SEQ]++;
		return;
	}
	if (!t->started) {
		start(t, h.session, h.seq);
	} else if (memcmp(h.session, t->session, DD_MOLD_SESSION_LEN) != 0) {
		if (t->has_prev && memcmp(h.session, t->prev, DD_MOLD_SESSION_LEN) == 0) {
			t->st.stale++;
			return;
		}
		change_session(t, h.session, h.seq);
		if (t->stopped)
			return;
	}
	if (h.seq > t->high && h.seq - t->high > DD_MOLD_MAX_JUMP) {
		t->st.bad[DD_MOLD_ERR_SEQ_JUMP]++;
		return;
	}
	if (marker) {
		if (h.count == 0)
			t->st.heartbeats++;
		if (h.seq > t->high) {
			open_gap(t, t->high, h.seq - 1, now);
			t->high = h.seq;
		}
		if (h.count == DD_MOLD_COUNT_EOS) {
			t->st.ended = true;
			t->end_seq = h.seq;
		}
		return;
	}
	const uint8_t *q = p + DD_MOLD_HDR_LEN;
	for (unsigned i = 0; i < h.count && !t->stopped; i++) {
		uint16_t ml = dd_ld_be16(q); /* dd_mold_parse() checked every length */
		take(t, h.seq + i, q + 2, ml, now);
		q += 2 + (size_t)ml;
	}
}

uint64_t dd_tail_poll(struct dd_tail *t, uint64_t now)
{
	if (t->stopped)
		return UINT64_MAX;
	if (now < t->next_due)
		return t->next_due;
	uint64_t next_due = UINT64_MAX;
	unsigned budget = REQUESTS_PER_POLL;
	for (size_t i = 0; i < t->gn; i++) {
		struct gap *g = gap_at(t, i);
		if (g->lost || g->first > g->last)
			continue;
		if (g->due > now) {
			next_due = g->due < next_due ? g->due : next_due;
			continue;
		}
		if (!t->p.request || g->tries >= t->p.tries) {
			g->lost = true;
			continue;
		}
		if (budget == 0) { /* the rest at the next poll, at once */
			next_due = now;
			continue;
		}
		ask(t, g, &budget);
		g->tries++;
		g->due = now + t->p.timeout_ns;
		next_due = g->due < next_due ? g->due : next_due;
	}
	t->next_due = next_due;
	release(t);
	return t->next_due;
}

void dd_tail_finish(struct dd_tail *t)
{
	if (!t->started || t->stopped)
		return;
	uint64_t first = t->next, last = t->high - 1, lost = t->st.lost;
	advance_to(t, t->high);
	if (t->st.lost > lost)
		say(t, "at the end, %" PRIu64 " message%s missing in %" PRIu64 "-%" PRIu64 ": lost", t->st.lost - lost,
		    t->st.lost - lost == 1 ? "" : "s", first, last);
	t->gn = 0;
	t->next_due = UINT64_MAX;
}

bool dd_tail_done(const struct dd_tail *t)
{
	return t->started && t->st.ended && t->nheld == 0 && t->next >= t->high && t->next >= t->end_seq;
}

bool dd_tail_stopped(const struct dd_tail *t)
{
	return t->stopped;
}

uint64_t dd_tail_missing(const struct dd_tail *t)
{
	return t->started ? t->high - t->next - t->nheld : 0;
}

bool dd_tail_session(const struct dd_tail *t, char session[DD_MOLD_SESSION_LEN])
{
	if (t->started)
		memcpy(session, t->session, DD_MOLD_SESSION_LEN);
	return t->started;
}

const struct dd_tail_stats *dd_tail_stats(const struct dd_tail *t)
{
	return &t->st;
}

int dd_tail_create(struct dd_tail **out, const struct dd_tail_params *p, dd_tail_out_fn out_fn,
		   dd_tail_request_fn req_fn, dd_tail_note_fn note_fn, void *ctx)
{
	if (p == NULL || out_fn == NULL || p->hold == 0 || p->hold > DD_TAIL_MAX_HOLD ||
	    (p->request && (req_fn == NULL || p->tries == 0 || p->timeout_ns == 0 || p->max_per_request == 0 ||
			    p->max_per_request > DD_MOLD_COUNT_EOS - 1)))
		return -EINVAL;
	struct dd_tail *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->p = *p;
	t->out = out_fn;
	t->req = req_fn;
	t->note = note_fn;
	t->ctx = ctx;
	t->next_due = UINT64_MAX;
	t->cap = RING_MIN;
	t->gcap = GAPS_MIN;
	t->ring = calloc(t->cap, sizeof(*t->ring));
	t->g = malloc(t->gcap * sizeof(*t->g));
	if (t->ring == NULL || t->g == NULL) {
		dd_tail_destroy(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void dd_tail_destroy(struct dd_tail *t)
{
	if (t == NULL)
		return;
	free(t->ring);
	free(t->g);
	free(t);
}
