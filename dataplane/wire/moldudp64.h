/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_MOLDUDP64_H
#define DD_DATAPLANE_MOLDUDP64_H

/*
 * MoldUDP64 downstream: one session's sequencing, with A/B line arbitration and a bounded
 * reorder window. DPDK-free.
 *
 * Wire format (big-endian): session (10 bytes, ASCII), sequence number of the first message (u64),
 * message count (u16), then `count` messages each framed as a u16 length and that many bytes.
 * Count 0 is a heartbeat (its sequence number is the next one the server will send); count 0xFFFF
 * is end of session (likewise). Sequence numbers of a session start at 1.
 *
 * One struct dd_mold_session tracks one logical stream, whatever the number of lines (ports or
 * multicast groups) it arrives on: messages are delivered exactly once, in sequence order; the
 * first copy to arrive wins and later copies are dropped and counted, as own-line duplicates or as
 * arbitration losses. A datagram that arrives ahead of the next expected sequence number is held
 * (copied) for up to `reorder_window` datagrams or `reorder_timeout` time units, waiting for the
 * missing ones from either line; when the window fills or the timeout passes, the gap is declared
 * (counted, logged with its range) and delivery resumes after it. With a window of 0, gaps are
 * declared at once.
 *
 * A datagram whose framing does not add up (short header, a message length running past the end,
 * a count that disagrees with the messages present, trailing bytes) is dropped whole and counted;
 * it does not advance the sequence, so another line or a retransmission can still fill it.
 *
 * Time is whatever monotonic unit the caller passes as `now` (the daemon uses TSC ticks); the module
 * never reads a clock, so it is deterministic under test.
 *
 * Single writer: a session belongs to one lcore. No allocation after dd_mold_session_init().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_MOLD_HDR_LEN      20
#define DD_MOLD_SESSION_LEN  10
#define DD_MOLD_COUNT_EOS    0xFFFF
#define DD_MOLD_MAX_LINES    4
#define DD_MOLD_MAX_WINDOW   64
/* Largest datagram the reorder window can hold (a jumbo frame's UDP payload). */
#define DD_MOLD_MAX_DATAGRAM 9216
/* Number of most recent gaps whose ranges are kept. */
#define DD_MOLD_GAP_LOG      64

/* The furthest a datagram may be ahead of its started session (a late join from sequence 1 is
 * within it: a trading day is well under 2^32 messages). */
#define DD_MOLD_MAX_JUMP (1ull << 32)

/* Why a datagram was rejected: by dd_mold_parse(), or (seq_jump) by the session. */
enum dd_mold_err {
	DD_MOLD_OK = 0,
	DD_MOLD_ERR_SHORT,          /* shorter than the 20-byte header */
	DD_MOLD_ERR_MSG_OVERRUN,    /* a message length runs past the end of the datagram */
	DD_MOLD_ERR_COUNT_MISMATCH, /* fewer messages present than the header's count */
	DD_MOLD_ERR_TRAILING,       /* bytes left over after `count` messages */
	DD_MOLD_ERR_BAD_SEQ,        /* sequence number 0 with messages, or seq + count overflows */
	DD_MOLD_ERR_SEQ_JUMP,       /* more than DD_MOLD_MAX_JUMP ahead of the session: dropped whole, the
				     * sequence not moved (no real feed skips billions of messages) */
	DD_MOLD_ERR__COUNT
};

/* Stable snake_case name of an error ("msg_overrun", ...). */
const char *dd_mold_err_name(enum dd_mold_err e);

struct dd_mold_hdr {
	char session[DD_MOLD_SESSION_LEN];
	uint64_t seq;
	uint16_t count;
};

/*
 * Check the framing of one datagram of `len` bytes at `p` and decode its header into `h`.
 * Returns DD_MOLD_OK or the reason it is malformed. Heartbeats and end-of-session datagrams
 * must carry no message bytes.
 */
enum dd_mold_err dd_mold_parse(const uint8_t *p, size_t len, struct dd_mold_hdr *h);

/* A run of consecutive messages ready to be decoded, in sequence order. */
struct dd_mold_block {
	const uint8_t *p;  /* first message's u16 length prefix */
	const uint8_t *end;
	uint64_t seq;      /* sequence number of the message at p */
	uint16_t count;    /* messages from p */
	uint8_t line;      /* line the datagram arrived on */
	uint64_t rx_time;  /* `now` when the datagram arrived (earlier than the release if it was held) */
};

/*
 * Take the next message from `b`: sets *msg and *len and advances b. Returns false when the block
 * is exhausted. The block was validated by dd_mold_parse(), so lengths are in bounds.
 */
static inline bool dd_mold_next(struct dd_mold_block *b, const uint8_t **msg, uint16_t *len)
{
	if (b->count == 0)
		return false;
	uint16_t l = (uint16_t)((uint16_t)b->p[0] << 8 | b->p[1]);
	*msg = b->p + 2;
	*len = l;
	b->p += 2 + (size_t)l;
	b->seq++;
	b->count--;
	return true;
}

struct dd_mold_params {
	unsigned reorder_window;  /* datagrams held while waiting for a gap to fill, 0..DD_MOLD_MAX_WINDOW */
	uint64_t reorder_timeout; /* how long (in `now` units) a held datagram may wait; 0 = no limit */
	bool rewind;              /* benchmark loops only: see dd_mold_rx() */
};

struct dd_mold_gap {
	uint64_t first; /* first missing sequence number */
	uint64_t last;  /* last missing sequence number (inclusive) */
};

struct dd_mold_line_stats {
	uint64_t datagrams;     /* valid datagrams received on this line */
	uint64_t delivered;     /* messages delivered from this line (it won the race) */
	uint64_t duplicates;    /* messages this line had already delivered or seen */
	uint64_t arb_dropped;   /* messages first seen here but already delivered from another line */
};

struct dd_mold_stats {
	uint64_t datagrams;       /* datagrams accepted by dd_mold_parse() */
	uint64_t delivered;       /* messages delivered for decoding */
	uint64_t heartbeats;
	uint64_t end_of_session;  /* end-of-session datagrams received */
	uint64_t gaps;            /* gaps declared */
	uint64_t missing;         /* messages in declared gaps (saturates at UINT64_MAX) */
	uint64_t duplicates;      /* messages dropped as already delivered (all lines) */
	uint64_t reordered;       /* held datagrams put back in order by a late arrival (no gap declared while they waited) */
	uint64_t late;            /* messages that arrived after their gap was declared (in duplicates);
				   * judged against the gap log: the last DD_MOLD_GAP_LOG gaps of the
				   * current session */
	uint64_t session_changes; /* a new session name replaced the current one */
	uint64_t stale_session;   /* datagrams of the previous session after a change, dropped */
	uint64_t after_end;       /* message-bearing datagrams beyond the end of session, dropped */
	uint64_t rewinds;         /* benchmark rewinds (params.rewind) */
	uint64_t too_big_to_hold; /* out-of-order datagrams larger than DD_MOLD_MAX_DATAGRAM */
	uint64_t undrained;       /* datagrams dropped because dd_mold_pop() was not drained after
				   * DD_MOLD_HELD (a caller bug): no hold slot was free, or another
				   * session change was already waiting */
	uint64_t bad_line;        /* calls with line >= DD_MOLD_MAX_LINES (a caller bug), dropped unread */
	uint64_t errors[DD_MOLD_ERR__COUNT];
	struct dd_mold_line_stats line[DD_MOLD_MAX_LINES];
};

struct dd_mold_held; /* private: one reorder-window slot */

struct dd_mold_session {
	struct dd_mold_params params;
	char name[DD_MOLD_SESSION_LEN];      /* current session; all zero before the first datagram */
	char prev_name[DD_MOLD_SESSION_LEN]; /* the session a change replaced */
	bool started;
	bool ended;
	bool adopt_name;      /* restored without a name: the next datagram's session is this one */
	uint64_t first_seq;   /* first sequence number delivered in this session (for rewind) */
	uint64_t next_seq;    /* next sequence number to deliver */
	uint64_t line_next[DD_MOLD_MAX_LINES]; /* per line: one past the highest sequence number seen */
	struct dd_mold_held *held; /* reorder window: params.reorder_window + 1 slots */
	unsigned nheld;
	struct dd_mold_stats stats;
	struct dd_mold_gap gap_log[DD_MOLD_GAP_LOG]; /* ring of the most recent gaps */
	uint64_t gap_log_n;   /* gaps ever logged; the ring holds the last min(n, DD_MOLD_GAP_LOG) */
};

/*
 * Bytes of caller memory dd_mold_session_init() needs for `p` (the reorder window's slots and their
 * bookkeeping); 0 if `p` is NULL or its reorder_window exceeds DD_MOLD_MAX_WINDOW.
 */
size_t dd_mold_session_memsize(const struct dd_mold_params *p);

/*
 * Initialise session `s` with parameters `p`, using `len` bytes of caller memory at `mem`
 * (at least dd_mold_session_memsize(p), 64-byte aligned; it must outlive the session).
 * Returns 0, or -EINVAL if a parameter is out of range or `len` is too small.
 */
int dd_mold_session_init(struct dd_mold_session *s, void *mem, size_t len, const struct dd_mold_params *p);

enum dd_mold_verdict {
	DD_MOLD_DELIVER, /* *out holds messages to decode now (pointing into the caller's datagram) */
	DD_MOLD_HELD,    /* datagram copied into the reorder window; call dd_mold_pop() */
	DD_MOLD_DROP,    /* nothing to deliver (heartbeat, end of session, duplicate, malformed: counted) */
};

/*
 * Take one datagram of `len` bytes at `p`, received on `line` (< DD_MOLD_MAX_LINES) at time `now`.
 *
 * The first datagram names the session; a datagram with another name is a session change: the
 * current session's held datagrams are released first (declaring their gaps), then tracking starts
 * again at sequence 1 of the new session. Datagrams of the replaced session are dropped afterwards.
 * Messages below the next expected sequence number are dropped (a datagram straddling it delivers
 * only its new messages).
 *
 * With params.rewind (for benchmarks that loop a capture), a message-bearing datagram of the
 * current session whose sequence number equals the first one the session delivered, arriving after
 * delivery moved past it on a line that had already seen it, starts the session over instead of
 * being dropped as a duplicate (so the other line's copy of that first datagram is not a rewind).
 * Datagrams still held then are discarded: they belong to the previous pass.
 *
 * `line` must be below DD_MOLD_MAX_LINES; any other value is dropped and counted in bad_line.
 *
 * After any call that returns DD_MOLD_DELIVER or DD_MOLD_HELD, drain dd_mold_pop(): the datagram
 * may have completed a run of held ones.
 */
enum dd_mold_verdict dd_mold_rx(struct dd_mold_session *s, const uint8_t *p, size_t len,
				unsigned line, uint64_t now, struct dd_mold_block *out);

/*
 * Release the next held datagram that is ready at time `now`: either it is next in sequence, or the
 * window is full, or it has waited reorder_timeout (the gap before it is then declared). Pass
 * now = UINT64_MAX to force everything out (at shutdown or idle). Returns true and fills *out, which
 * stays valid until the next call on this session; false when nothing is ready.
 */
bool dd_mold_pop(struct dd_mold_session *s, uint64_t now, struct dd_mold_block *out);

/*
 * Restore a session's position from a journal (recovery): session `name` (DD_MOLD_SESSION_LEN
 * bytes; NULL if the journal did not record it: the first datagram's session is then taken as
 * this one), next sequence number `next_seq`, ended or not. Nothing may be held. Datagrams below
 * next_seq are then dropped as duplicates, so a feed replayed after a crash resumes where the
 * journal stopped.
 */
void dd_mold_restore(struct dd_mold_session *s, const char *name, uint64_t next_seq, bool ended);

/* The i-th most recent gap (0 = newest); false if fewer than i + 1 are logged. */
bool dd_mold_gap_at(const struct dd_mold_session *s, uint64_t i, struct dd_mold_gap *g);

#endif /* DD_DATAPLANE_MOLDUDP64_H */
