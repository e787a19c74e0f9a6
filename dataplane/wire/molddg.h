/* SPDX-License-Identifier: MIT */
#ifndef DD_WIRE_MOLDDG_H
#define DD_WIRE_MOLDDG_H

/*
 * MoldUDP64 publisher: packs messages into downstream datagrams, assigns sequence numbers, makes
 * heartbeats and the end-of-session datagram. The receiving side is dataplane/wire/moldudp64.h, which
 * also documents the wire format: session (10 bytes), sequence number of the first message (u64 BE),
 * message count (u16 BE), then each message as a u16 BE length and its bytes. A heartbeat has count
 * 0, end of session count 0xFFFF; both carry the next sequence number and no messages.
 *
 * Usage: dd_molddg_add() messages until it returns -ENOSPC (or the caller wants to send), then
 * dd_molddg_flush() to close the open datagram and take its bytes, and add again.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_MOLDDG_HDR_LEN      20
#define DD_MOLDDG_SESSION_LEN  10
#define DD_MOLDDG_COUNT_EOS    0xFFFFu
/* Most messages one datagram carries: 0xFFFF means end of session. */
#define DD_MOLDDG_MAX_COUNT    0xFFFEu
/* UDP payload limits: a jumbo 9000-byte IP packet holds 8972 bytes of UDP payload. */
#define DD_MOLDDG_MIN_PAYLOAD  64
#define DD_MOLDDG_MAX_PAYLOAD  8972

struct dd_molddg {
	char session[DD_MOLDDG_SESSION_LEN];
	uint16_t count;        /* messages in the open datagram */
	uint64_t next_seq;     /* sequence number of the open datagram's first message */
	size_t max_payload;
	size_t len;            /* bytes in buf, header included; DD_MOLDDG_HDR_LEN when empty */
	uint64_t first_ts;     /* caller's timestamp of the open datagram's first message */
	uint64_t messages;     /* messages packed so far */
	uint64_t datagrams;    /* message-bearing datagrams closed so far */
	uint8_t buf[DD_MOLDDG_MAX_PAYLOAD];
};

/*
 * Initialise `p` for session `session` (up to 10 printable ASCII characters, NUL-terminated; space
 * padded on the wire), first sequence number `first_seq` (>= 1) and datagrams of at most
 * `max_payload` bytes (DD_MOLDDG_MIN_PAYLOAD..DD_MOLDDG_MAX_PAYLOAD).
 * Returns 0 or -EINVAL naming no parameter: the caller validated them for its user.
 */
int dd_molddg_init(struct dd_molddg *p, const char *session, uint64_t first_seq, size_t max_payload);

/* True if a message of `len` bytes could ever be sent: it fits alone in an empty datagram. */
bool dd_molddg_msg_fits(const struct dd_molddg *p, size_t len);

/*
 * Append message `msg` of `len` bytes (1..65535) to the open datagram; `ts` is the caller's time of
 * the message, remembered for the datagram's first one. Returns 0; -ENOSPC if it does not fit in
 * the open datagram (flush, then add again); -EMSGSIZE if it cannot fit in any datagram;
 * -EOVERFLOW if the sequence number would wrap.
 */
int dd_molddg_add(struct dd_molddg *p, const uint8_t *msg, size_t len, uint64_t ts);

/* Messages in the open datagram. */
static inline uint16_t dd_molddg_pending(const struct dd_molddg *p)
{
	return p->count;
}

/*
 * Close the open datagram: write its header, point *dg at its bytes (valid until the next add) and
 * *ts at its first message's timestamp, advance the sequence number. Returns the datagram length,
 * or 0 (and *dg untouched) if no message is pending.
 */
size_t dd_molddg_flush(struct dd_molddg *p, const uint8_t **dg, uint64_t *ts);

/*
 * Write a heartbeat (count 0) carrying the next sequence number into `out` (20 bytes). Call it with
 * no datagram open (after a flush) so the sequence number is the one the next datagram will carry.
 * Returns DD_MOLDDG_HDR_LEN.
 */
size_t dd_molddg_heartbeat(const struct dd_molddg *p, uint8_t out[DD_MOLDDG_HDR_LEN]);

/* Same as dd_molddg_heartbeat() for the end-of-session datagram (count 0xFFFF). */
size_t dd_molddg_end(const struct dd_molddg *p, uint8_t out[DD_MOLDDG_HDR_LEN]);

/*
 * Check the framing of a datagram the way a receiver does (header present, `count` messages whose
 * lengths stay inside it, no trailing bytes; heartbeats and end of session carry no bytes).
 * Returns true if a MoldUDP64 receiver would accept it. Used to make sure injected garbage really is
 * malformed.
 */
bool dd_molddg_valid(const uint8_t *dg, size_t len);

#endif /* DD_WIRE_MOLDDG_H */
