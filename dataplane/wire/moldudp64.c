/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/moldudp64.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "dataplane/wire/be.h"

/*
 * One reorder-window slot. The datagram is copied whole, header included: a released slot is handed
 * out as a block in place, and a slot waiting for a session change still carries the new name.
 * Heartbeat and end-of-session markers are held the same way (20 bytes).
 */
struct dd_mold_held {
	uint64_t seq;
	uint64_t arrived;   /* `now` at rx: drives reorder_timeout */
	uint64_t line_seen; /* line_next[line] before this datagram: its messages below that had been
			     * seen on the same line, so dropping them is an own-line duplicate */
	size_t len;
	uint16_t count;     /* header count: 0 heartbeat, DD_MOLD_COUNT_EOS end of session */
	uint8_t line;
	bool pending;       /* belongs to the next session: waits until this one's slots are gone */
	bool ahead;         /* was ahead of next_seq when it entered the window: `reordered` if it
			     * comes out with no gap declared meanwhile (a session's first datagram
			     * that only waited for the change, in order at 1, is not) */
	uint64_t gaps_at_hold; /* stats.gaps when it entered the window */
	_Alignas(64) uint8_t data[DD_MOLD_MAX_DATAGRAM];
};

/*
 * Bookkeeping kept after the slots in the caller's memory, so the public struct shows only what an
 * operator reads.
 *
 * `order` lists the slots in use sorted by descending (pending, seq): the next slot to release, the
 * lowest sequence number of the current session, is last, so a release is a decrement, and the
 * next session's slots sort first, i.e. after every slot of the current one. Insertion shifts at
 * most DD_MOLD_MAX_WINDOW + 1 bytes: a linear scan and shift beat any tree at this size.
 */
struct dd_mold_ctl {
	uint64_t gap_log_base; /* gap_log_n when this session (or pass, after a rewind) began */
	unsigned npending;     /* slots of the next session, order[0 .. npending) */
	unsigned nfree;
	bool has_prev;         /* prev_name holds a replaced session */
	uint8_t order[DD_MOLD_MAX_WINDOW + 1];
	uint8_t free[DD_MOLD_MAX_WINDOW + 1];
};

static const char *const dd_mold_err_names[DD_MOLD_ERR__COUNT] = {
	[DD_MOLD_OK] = "ok",
	[DD_MOLD_ERR_SHORT] = "short",
	[DD_MOLD_ERR_MSG_OVERRUN] = "msg_overrun",
	[DD_MOLD_ERR_COUNT_MISMATCH] = "count_mismatch",
	[DD_MOLD_ERR_TRAILING] = "trailing",
	[DD_MOLD_ERR_BAD_SEQ] = "bad_seq",
	[DD_MOLD_ERR_SEQ_JUMP] = "seq_jump",
};

__attribute__((cold)) const char *dd_mold_err_name(enum dd_mold_err e)
{
	return (unsigned)e < DD_MOLD_ERR__COUNT ? dd_mold_err_names[e] : "?";
}

static inline bool is_marker(uint16_t count)
{
	return count == 0 || count == DD_MOLD_COUNT_EOS;
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

enum dd_mold_err dd_mold_parse(const uint8_t *p, size_t len, struct dd_mold_hdr *h)
{
	if (len < DD_MOLD_HDR_LEN)
		return DD_MOLD_ERR_SHORT;
	memcpy(h->session, p, DD_MOLD_SESSION_LEN);
	h->seq = dd_ld_be64(p + DD_MOLD_SESSION_LEN);
	h->count = dd_ld_be16(p + DD_MOLD_SESSION_LEN + 8);
	if (is_marker(h->count))
		return len == DD_MOLD_HDR_LEN ? DD_MOLD_OK : DD_MOLD_ERR_TRAILING;
	/* Messages are numbered from 1, and seq + count must stay representable: it becomes next_seq. */
	if (h->seq == 0 || h->seq > UINT64_MAX - h->count)
		return DD_MOLD_ERR_BAD_SEQ;

	size_t off = DD_MOLD_HDR_LEN;
	for (unsigned i = 0; i < h->count; i++) {
		size_t left = len - off; /* off <= len: every step below is checked against left */
		if (left == 0)
			return DD_MOLD_ERR_COUNT_MISMATCH;
		/* A lone byte is a length prefix cut short: it runs past the end like a long length. */
		if (left < 2 || dd_ld_be16(p + off) > left - 2)
			return DD_MOLD_ERR_MSG_OVERRUN;
		off += 2 + (size_t)dd_ld_be16(p + off);
	}
	return off == len ? DD_MOLD_OK : DD_MOLD_ERR_TRAILING;
}

static inline unsigned nslots(const struct dd_mold_params *p)
{
	return p->reorder_window + 1;
}

static inline struct dd_mold_ctl *ctl_of(struct dd_mold_session *s)
{
	return (struct dd_mold_ctl *)(void *)(s->held + nslots(&s->params));
}

size_t dd_mold_session_memsize(const struct dd_mold_params *p)
{
	if (p == NULL || p->reorder_window > DD_MOLD_MAX_WINDOW)
		return 0;
	return nslots(p) * sizeof(struct dd_mold_held) + sizeof(struct dd_mold_ctl);
}

static void free_all_slots(struct dd_mold_session *s, struct dd_mold_ctl *c)
{
	unsigned n = nslots(&s->params);

	s->nheld = 0;
	c->npending = 0;
	c->nfree = n;
	for (unsigned i = 0; i < n; i++)
		c->free[i] = (uint8_t)(n - 1 - i);
}

__attribute__((cold)) int dd_mold_session_init(struct dd_mold_session *s, void *mem, size_t len,
					       const struct dd_mold_params *p)
{
	if (s == NULL || mem == NULL || p == NULL || p->reorder_window > DD_MOLD_MAX_WINDOW ||
	    (uintptr_t)mem % 64 != 0 || len < dd_mold_session_memsize(p))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->params = *p;
	s->next_seq = 1;
	s->held = mem;
	struct dd_mold_ctl *c = ctl_of(s);
	memset(c, 0, sizeof(*c));
	free_all_slots(s, c);
	return 0;
}

bool dd_mold_gap_at(const struct dd_mold_session *s, uint64_t i, struct dd_mold_gap *g)
{
	if (i >= s->gap_log_n || i >= DD_MOLD_GAP_LOG)
		return false;
	*g = s->gap_log[(s->gap_log_n - 1 - i) % DD_MOLD_GAP_LOG];
	return true;
}

/* Messages [next_seq, last] will never be delivered: count and log them, and move past them. */
static void declare_gap(struct dd_mold_session *s, uint64_t last)
{
	s->gap_log[s->gap_log_n % DD_MOLD_GAP_LOG] = (struct dd_mold_gap){ s->next_seq, last };
	s->gap_log_n++;
	s->stats.gaps++;
	uint64_t k = last - s->next_seq + 1;
	s->stats.missing = s->stats.missing > UINT64_MAX - k ? UINT64_MAX : s->stats.missing + k;
	s->next_seq = last + 1;
}

/*
 * How many of the messages [first, first + n) (n >= 1) lie in a gap this session declared.
 * Within a session next_seq only grows, so gaps are logged in rising order and never overlap: the
 * walk from the newest stops at the first gap wholly below the range, which for a copy from the
 * slower line is the first comparison. Only the gap log is searched (the approximation the header
 * documents for `late`): a message from an older gap counts as a plain duplicate.
 */
static uint64_t in_declared_gaps(const struct dd_mold_session *s, const struct dd_mold_ctl *c,
				 uint64_t first, uint64_t n)
{
	uint64_t last = first + n - 1;
	uint64_t stop = c->gap_log_base;
	uint64_t hits = 0;

	if (s->gap_log_n - stop > DD_MOLD_GAP_LOG)
		stop = s->gap_log_n - DD_MOLD_GAP_LOG;
	for (uint64_t i = s->gap_log_n; i > stop; i--) {
		const struct dd_mold_gap *g = &s->gap_log[(i - 1) % DD_MOLD_GAP_LOG];
		if (g->last < first)
			break;
		if (g->first > last)
			continue;
		uint64_t lo = g->first > first ? g->first : first;
		hits += min_u64(g->last, last) - lo + 1;
	}
	return hits;
}

/*
 * Account for n >= 1 messages from `seq` dropped as already delivered (or declared missing). The
 * ones below line_seen had reached the same line before: own duplicates; the rest lost the race to
 * another line.
 */
static void drop_seen(struct dd_mold_session *s, const struct dd_mold_ctl *c, unsigned line,
		      uint64_t seq, uint64_t n, uint64_t line_seen)
{
	uint64_t own = line_seen > seq ? min_u64(line_seen - seq, n) : 0;

	s->stats.duplicates += n;
	s->stats.line[line].duplicates += own;
	s->stats.line[line].arb_dropped += n - own;
	s->stats.late += in_declared_gaps(s, c, seq, n);
}

/*
 * Hand out the messages of a validated datagram from next_seq on (the caller made sure some are
 * new and none is missing before them). dd_mold_parse() checked every length against the datagram,
 * so the walk over the duplicate prefix stays inside it.
 */
static void deliver(struct dd_mold_session *s, const uint8_t *dgram, size_t len, uint64_t seq,
		    uint16_t count, unsigned line, uint64_t arrived, struct dd_mold_block *out)
{
	uint64_t skip = s->next_seq > seq ? s->next_seq - seq : 0;
	const uint8_t *p = dgram + DD_MOLD_HDR_LEN;

	for (uint64_t i = 0; i < skip; i++)
		p += 2 + (size_t)dd_ld_be16(p);
	out->p = p;
	out->end = dgram + len;
	out->seq = seq + skip;
	out->count = (uint16_t)(count - skip);
	out->line = (uint8_t)line;
	out->rx_time = arrived;
	s->stats.delivered += out->count;
	s->stats.line[line].delivered += out->count;
	if (s->first_seq == 0)
		s->first_seq = out->seq;
	s->next_seq = seq + count;
}

static void clear_line_next(struct dd_mold_session *s)
{
	for (unsigned i = 0; i < DD_MOLD_MAX_LINES; i++)
		s->line_next[i] = 0;
}

static void begin(struct dd_mold_session *s, struct dd_mold_ctl *c, const void *name)
{
	memcpy(s->name, name, DD_MOLD_SESSION_LEN);
	s->started = true;
	s->ended = false;
	s->first_seq = 0;
	s->next_seq = 1;
	clear_line_next(s);
	c->gap_log_base = s->gap_log_n;
}

static void change_session(struct dd_mold_session *s, struct dd_mold_ctl *c, const void *name)
{
	memcpy(s->prev_name, s->name, DD_MOLD_SESSION_LEN);
	c->has_prev = true;
	s->stats.session_changes++;
	begin(s, c, name);
}

/*
 * A looped capture came back to its first datagram. Slots still held belong to the previous pass
 * (the same datagrams will come round again), so they are discarded rather than released.
 */
static void rewind_session(struct dd_mold_session *s, struct dd_mold_ctl *c)
{
	s->stats.rewinds++;
	s->next_seq = s->first_seq;
	s->ended = false;
	clear_line_next(s);
	c->gap_log_base = s->gap_log_n;
	free_all_slots(s, c);
}

static inline bool key_below(const struct dd_mold_held *a, bool pending, uint64_t seq)
{
	return a->pending != pending ? !a->pending : a->seq <= seq;
}

/*
 * Copy a datagram into a free slot. A datagram already held with the same sequence number and
 * count (the other line's copy) is dropped; so is one that finds no free slot, which a caller that
 * drains dd_mold_pop() never sees: after a drain at most reorder_window - 1 current slots and no
 * pending one are in use, and one rx adds at most one.
 */
static enum dd_mold_verdict hold(struct dd_mold_session *s, struct dd_mold_ctl *c, const uint8_t *p,
				 size_t len, const struct dd_mold_hdr *h, unsigned line, uint64_t now,
				 uint64_t line_seen, bool pending)
{
	unsigned pos = s->nheld;

	for (unsigned i = 0; i < s->nheld; i++) {
		const struct dd_mold_held *o = &s->held[c->order[i]];
		if (o->pending == pending && o->seq == h->seq && o->count == h->count) {
			if (!is_marker(h->count))
				drop_seen(s, c, line, h->seq, h->count, line_seen);
			return DD_MOLD_DROP;
		}
		if (pos == s->nheld && key_below(o, pending, h->seq))
			pos = i;
	}
	if (c->nfree == 0) {
		s->stats.undrained++;
		if (!pending)
			s->line_next[line] = line_seen;
		return DD_MOLD_DROP;
	}

	uint8_t idx = c->free[--c->nfree];
	struct dd_mold_held *slot = &s->held[idx];
	slot->seq = h->seq;
	slot->arrived = now;
	slot->gaps_at_hold = s->stats.gaps;
	slot->line_seen = line_seen;
	slot->len = len;
	slot->count = h->count;
	slot->line = (uint8_t)line;
	slot->pending = pending;
	slot->ahead = !pending;
	memcpy(slot->data, p, len);
	for (unsigned i = s->nheld; i > pos; i--)
		c->order[i] = c->order[i - 1];
	c->order[pos] = idx;
	s->nheld++;
	if (pending)
		c->npending++;
	return DD_MOLD_HELD;
}

/* A datagram of the current session, framing checked. */
static enum dd_mold_verdict sequence(struct dd_mold_session *s, const uint8_t *p, size_t len,
				     const struct dd_mold_hdr *h, unsigned line, uint64_t now,
				     struct dd_mold_block *out)
{
	struct dd_mold_ctl *c = ctl_of(s);
	uint64_t line_seen = s->line_next[line];

	/*
	 * A heartbeat or end of session says the server's next message is h->seq. Ahead of next_seq it
	 * reveals a gap, which takes the same path as any datagram ahead (held as a marker, or the gap
	 * declared now), so the gap is declared once, by whichever comes first.
	 */
	if (is_marker(h->count)) {
		if (s->ended || h->seq < s->next_seq)
			return DD_MOLD_DROP;
		if (h->seq > s->next_seq) {
			if (s->params.reorder_window > 0)
				return hold(s, c, p, len, h, line, now, line_seen, false);
			declare_gap(s, h->seq - 1);
		}
		if (h->count == DD_MOLD_COUNT_EOS)
			s->ended = true;
		return DD_MOLD_DROP;
	}

	uint64_t end = h->seq + h->count;
	if (s->params.rewind && s->first_seq != 0 && h->seq == s->first_seq &&
	    s->next_seq > s->first_seq && line_seen > h->seq) {
		rewind_session(s, c);
		line_seen = 0;
	}
	/* Only messages move line_next: a heartbeat at N does not mean the line saw N - 1. */
	if (end > s->line_next[line])
		s->line_next[line] = end;

	if (h->seq < s->next_seq) {
		uint64_t ndup = min_u64(end, s->next_seq) - h->seq;
		drop_seen(s, c, line, h->seq, ndup, line_seen);
		if (ndup == h->count)
			return DD_MOLD_DROP;
	}
	if (s->ended) {
		s->stats.after_end++;
		return DD_MOLD_DROP;
	}
	if (h->seq > s->next_seq) {
		if (s->params.reorder_window > 0) {
			if (len <= DD_MOLD_MAX_DATAGRAM)
				return hold(s, c, p, len, h, line, now, line_seen, false);
			s->stats.too_big_to_hold++;
		}
		declare_gap(s, h->seq - 1);
	}
	deliver(s, p, len, h->seq, h->count, line, now, out);
	return DD_MOLD_DELIVER;
}

/*
 * Session change. The current session's held datagrams must come out first, but rx returns one
 * block. So when some are held, the new session's first datagram waits in a slot marked pending
 * (sorted after every current slot) and rx returns DD_MOLD_HELD; dd_mold_pop() then releases the
 * current slots, declaring their gaps whatever `now` is, and on reaching the pending slot starts
 * the new session and treats that slot as the new session's first held datagram (in order at seq 1,
 * or ahead and subject to the window like any other). When nothing is held the change is
 * immediate. A new-session datagram too big for a slot while some are held is dropped (counted in
 * too_big_to_hold): the next one of the new session makes the change and its gap logic counts the
 * dropped messages as missing.
 */
enum dd_mold_verdict dd_mold_rx(struct dd_mold_session *s, const uint8_t *p, size_t len,
				unsigned line, uint64_t now, struct dd_mold_block *out)
{
	struct dd_mold_hdr h;

	if (line >= DD_MOLD_MAX_LINES) {
		s->stats.bad_line++;
		return DD_MOLD_DROP;
	}
	enum dd_mold_err e = dd_mold_parse(p, len, &h);
	if (e != DD_MOLD_OK) {
		s->stats.errors[e]++;
		return DD_MOLD_DROP;
	}
	s->stats.datagrams++;
	s->stats.line[line].datagrams++;
	if (h.count == 0)
		s->stats.heartbeats++;
	else if (h.count == DD_MOLD_COUNT_EOS)
		s->stats.end_of_session++;

	if (!s->started) {
		begin(s, ctl_of(s), h.session);
	} else if (s->adopt_name) {
		/* restored from a journal that knew the position but not the name: this is the session */
		memcpy(s->name, h.session, DD_MOLD_SESSION_LEN);
		s->adopt_name = false;
	} else if (memcmp(h.session, s->name, DD_MOLD_SESSION_LEN) != 0) {
		struct dd_mold_ctl *c = ctl_of(s);
		if (c->has_prev && memcmp(h.session, s->prev_name, DD_MOLD_SESSION_LEN) == 0) {
			s->stats.stale_session++;
			return DD_MOLD_DROP;
		}
		/* a new session starts at 1: the jump limit holds for it too, held or not (its held
		 * datagrams are released into it without passing the check below) */
		if (h.seq > 1 && h.seq - 1 > DD_MOLD_MAX_JUMP) {
			s->stats.errors[DD_MOLD_ERR_SEQ_JUMP]++;
			return DD_MOLD_DROP;
		}
		if (c->npending > 0) {
			/* The caller skipped the drain after the change began: join it or give up. */
			const struct dd_mold_held *first = &s->held[c->order[0]];
			if (memcmp(h.session, first->data, DD_MOLD_SESSION_LEN) != 0 ||
			    len > DD_MOLD_MAX_DATAGRAM) {
				s->stats.undrained++;
				return DD_MOLD_DROP;
			}
			return hold(s, c, p, len, &h, line, now, 0, true);
		}
		if (s->nheld > 0) {
			if (len > DD_MOLD_MAX_DATAGRAM) {
				s->stats.too_big_to_hold++;
				return DD_MOLD_DROP;
			}
			return hold(s, c, p, len, &h, line, now, 0, true);
		}
		change_session(s, c, h.session);
	}
	if (h.seq > s->next_seq && h.seq - s->next_seq > DD_MOLD_MAX_JUMP) {
		s->stats.errors[DD_MOLD_ERR_SEQ_JUMP]++;
		return DD_MOLD_DROP;
	}
	return sequence(s, p, len, &h, line, now, out);
}

/* Every slot is the new session's now (they were pending, nothing else is held). */
static void start_pending_session(struct dd_mold_session *s, struct dd_mold_ctl *c)
{
	change_session(s, c, s->held[c->order[s->nheld - 1]].data);
	c->npending = 0;
	for (unsigned i = 0; i < s->nheld; i++) {
		struct dd_mold_held *h = &s->held[c->order[i]];
		h->pending = false;
		h->ahead = h->seq > s->next_seq;
		h->gaps_at_hold = s->stats.gaps; /* the old session's gaps are not this one's */
		h->line_seen = 0;
		if (!is_marker(h->count) && h->seq + h->count > s->line_next[h->line])
			s->line_next[h->line] = h->seq + h->count;
	}
}

/*
 * Number of current slots, counted from the next to release, up to and including the last one
 * that has waited reorder_timeout: while this is non-zero, a release may declare a gap.
 */
static unsigned count_timed_out(const struct dd_mold_session *s, const struct dd_mold_ctl *c,
				uint64_t now)
{
	unsigned ncur = s->nheld - c->npending;
	unsigned n = 0;

	if (s->params.reorder_timeout == 0)
		return 0;
	for (unsigned k = 0; k < ncur; k++) {
		uint64_t arrived = s->held[c->order[s->nheld - 1 - k]].arrived;
		if (now >= arrived && now - arrived >= s->params.reorder_timeout)
			n = k + 1;
	}
	return n;
}

/* Released slot `h` (its gap, if any, declared already): true if it has messages to hand out. */
static bool release(struct dd_mold_session *s, struct dd_mold_ctl *c, const struct dd_mold_held *h,
		    bool after_gap, struct dd_mold_block *out)
{
	if (is_marker(h->count)) {
		if (h->count == DD_MOLD_COUNT_EOS && !s->ended && h->seq == s->next_seq)
			s->ended = true;
		return false;
	}
	if (h->seq < s->next_seq) {
		uint64_t ndup = min_u64(h->seq + h->count, s->next_seq) - h->seq;
		drop_seen(s, c, h->line, h->seq, ndup, h->line_seen);
		if (ndup == h->count)
			return false;
	}
	if (s->ended) {
		s->stats.after_end++;
		return false;
	}
	/* Put back in order by a late arrival, not merely released behind a declared gap. */
	if (!after_gap && h->ahead && s->stats.gaps == h->gaps_at_hold)
		s->stats.reordered++;
	deliver(s, h->data, h->len, h->seq, h->count, h->line, h->arrived, out);
	return true;
}

/*
 * Slots are released lowest sequence number first, from the end of `order`, so one call costs one
 * scan of the window for the timeout (only when a gap blocks the lowest slot) plus one step per
 * slot released; slots that deliver nothing (markers, whole duplicates) do not end the call.
 */
bool dd_mold_pop(struct dd_mold_session *s, uint64_t now, struct dd_mold_block *out)
{
	struct dd_mold_ctl *c = ctl_of(s);
	unsigned timed_out = UINT_MAX; /* not counted yet */

	while (s->nheld > 0) {
		const struct dd_mold_held *h = &s->held[c->order[s->nheld - 1]];
		if (h->pending) {
			start_pending_session(s, c);
			timed_out = UINT_MAX;
			continue;
		}

		bool after_gap = false;
		if (!s->ended && h->seq > s->next_seq) {
			unsigned ncur = s->nheld - c->npending;
			bool force = c->npending > 0 || now == UINT64_MAX ||
				     ncur >= s->params.reorder_window;
			if (!force) {
				if (timed_out == UINT_MAX)
					timed_out = count_timed_out(s, c, now);
				force = timed_out > 0;
			}
			if (!force)
				return false;
			declare_gap(s, h->seq - 1);
			after_gap = true;
		}

		/* The slot's bytes stay put until an rx reuses it: *out is valid until the next call. */
		s->nheld--;
		c->free[c->nfree++] = c->order[s->nheld];
		if (timed_out != UINT_MAX && timed_out > 0)
			timed_out--;
		if (release(s, c, h, after_gap, out))
			return true;
	}
	return false;
}

void dd_mold_restore(struct dd_mold_session *s, const char *name, uint64_t next_seq, bool ended)
{
	s->adopt_name = name == NULL;
	if (name != NULL)
		memcpy(s->name, name, DD_MOLD_SESSION_LEN);
	else
		memset(s->name, 0, DD_MOLD_SESSION_LEN);
	s->started = true;
	s->ended = ended;
	s->next_seq = next_seq;
	s->first_seq = 0;
	for (unsigned i = 0; i < DD_MOLD_MAX_LINES; i++)
		s->line_next[i] = next_seq; /* whatever a line sends below it is a copy it sent before */
}
