/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_SENDPLAN_H
#define DD_TOOLS_SENDPLAN_H

/*
 * What dadar-gen send decides without a port (so it is unit-tested without DPDK): when each
 * datagram goes (the pacing schedule) and what bytes it goes as (a captured frame with its MoldUDP64
 * numbers moved on for each pass over the capture and a send stamp after the IP packet).
 *
 * The schedule. Messages are offered at `rate` per second; with bursts, for the first `burst_on_ns`
 * of every `burst_period_ns` at `rate * burst_mult` instead (a market open's microbursts). A
 * datagram of n messages goes at the schedule's current time, which then moves on by n / (the rate
 * in force at that time) seconds. Times are nanoseconds from the start of the schedule, kept as a
 * double (exact to well under a nanosecond for days) and rounded down when returned.
 *
 * The frames. A capture is sent as it is, one datagram per frame, MoldUDP64 data datagrams only
 * (heartbeats and ends of session are not sent: a paced run has its own idea of time and its own
 * end). Looping over it, pass p adds p * span to every sequence number, span being the messages of
 * one pass, so the receiver sees one session numbered 1, 2, 3, ... for the whole run; for that the
 * capture's data datagrams must be one session, contiguous from its first number. A frame whose
 * numbers were moved gets a UDP checksum of 0 (none, legal for UDP over IPv4). The send stamp
 * (docs/wire-formats.md, "Send stamps") goes right after the IP packet: "DDTS", a zero u32, and the
 * TSC, little-endian; then zero padding to the Ethernet minimum.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dd_sendplan_params {
	double rate;              /* messages per second, > 0 */
	double burst_mult;        /* the rate's multiple inside a burst; 1 = no bursts */
	uint64_t burst_on_ns;     /* how long a burst lasts */
	uint64_t burst_period_ns; /* a burst starts every period; > burst_on_ns */
};

struct dd_sendplan {
	struct dd_sendplan_params p;
	double t_ns;              /* when the next datagram goes */
	uint64_t messages;        /* messages scheduled so far */
};

/* Returns 0, or -EINVAL for a rate <= 0, a multiple < 1, or a burst not shorter than its period. */
int dd_sendplan_init(struct dd_sendplan *s, const struct dd_sendplan_params *p);

/* When the next datagram, of `msgs` messages, goes (ns from the start); the schedule moves on. */
uint64_t dd_sendplan_next(struct dd_sendplan *s, unsigned msgs);

#define DD_SEND_STAMP_LEN 16

/* One captured frame, as dd_sendframe_parse() found it. */
struct dd_sendframe {
	uint16_t ip_end;          /* bytes of the frame up to the end of its IP packet */
	uint16_t udp_off;         /* the UDP header */
	uint16_t mold_off;        /* the MoldUDP64 header */
	uint16_t count;           /* messages */
	uint64_t seq;             /* the first message's number */
	char session[10];
};

enum dd_sendframe_kind {
	DD_SENDFRAME_DATA = 0,    /* a MoldUDP64 datagram with messages */
	DD_SENDFRAME_CONTROL,     /* a heartbeat or an end of session */
	DD_SENDFRAME_OTHER,       /* not IPv4/UDP, or a datagram whose framing does not add up */
};

/* Find the frame's IP end, UDP and MoldUDP64 headers (the frame is untrusted: bounds-checked). */
enum dd_sendframe_kind dd_sendframe_parse(const uint8_t *frame, size_t len, struct dd_sendframe *f);

/* Bytes dd_sendframe_build() writes for f (with or without a stamp). */
size_t dd_sendframe_len(const struct dd_sendframe *f, bool stamp);

/*
 * Write frame `src` (parsed into f) to dst (cap bytes) with every number moved on by `seq_add`
 * (0: the bytes as captured, checksum kept) and, with `stamp`, room for the send stamp (its magic
 * written, its TSC 0). Returns the length, or 0 if cap is too small.
 */
size_t dd_sendframe_build(uint8_t *dst, size_t cap, const uint8_t *src, const struct dd_sendframe *f,
			  uint64_t seq_add, bool stamp);

/* Put `tsc` into the stamp of a frame dd_sendframe_build() wrote with a stamp. */
static inline void dd_sendframe_stamp(uint8_t *frame, const struct dd_sendframe *f, uint64_t tsc)
{
	uint8_t *p = frame + f->ip_end + 8;
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(tsc >> (8 * i));
}

#endif /* DD_TOOLS_SENDPLAN_H */
