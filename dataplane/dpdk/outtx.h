/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_OUTTX_H
#define DD_DATAPLANE_OUTTX_H

/*
 * The output stream's sender, on the release stage's lcore: released outputs become output messages
 * (dataplane/wire/outwire.h) packed into MoldUDP64 datagrams (dataplane/wire/molddg.h) in
 * Ethernet/IPv4/UDP frames (dataplane/wire/framew.h) sent on TX queue 0 of one DPDK port.
 *
 * A datagram closes when the next message does not fit it, and at every poll (the release stage
 * polls once per loop: an output never waits for a later one). Frames go to the port at each poll,
 * and DD_OUTTX_BURST at a time while a large release fills them between polls. Sending never
 * blocks: frames the port does not take wait in a bounded queue and are tried again; a frame still not
 * taken after DD_OUTTX_RETRY_US, or one the queue has no room for, is dropped and counted
 * (`tx_dropped`); its messages stay retransmittable. No allocation after create: mbufs come from
 * the sender's own pool.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ops/output.h"

#define DD_OUTTX_RETRY_US 1000
#define DD_OUTTX_QUEUE 256      /* frames waiting for the port */
#define DD_OUTTX_BURST 32       /* frames handed to the port at once between polls */

struct dd_outtx_params {
	uint16_t port;              /* DPDK port (started, with a TX queue) */
	uint32_t group, src_ip;     /* host order */
	uint16_t dport, src_port;
	bool have_mac;              /* dst_mac given; else the group's multicast MAC, or broadcast */
	uint8_t dst_mac[6];
	unsigned mtu;               /* UDP payload bytes per datagram */
	uint64_t heartbeat_ms;      /* 0: never */
	const char *session;        /* 10 characters */
	uint64_t next_seq;          /* the session's number of the next message */
	int socket;
};

struct dd_outtx_stats {
	uint64_t messages;          /* output messages packed */
	uint64_t datagrams;         /* datagrams the port took (messages, heartbeats, end of session) */
	uint64_t heartbeats;
	uint64_t bytes;             /* UDP payload bytes of the datagrams that carried messages */
	uint64_t tx_full;           /* times the port took less than it was given (frames waited) */
	uint64_t tx_dropped;        /* datagrams given up (their messages stay retransmittable) */
	uint64_t next_seq;          /* the next message's number */
	bool ended;                 /* the end of session was sent */
};

struct dd_outtx;

/* Create the sender (its mbuf pool). Returns 0 or -errno with a message. */
int dd_outtx_create(struct dd_outtx **out, const struct dd_outtx_params *p, char *err, size_t errlen);
void dd_outtx_destroy(struct dd_outtx *t);

/* Pack output `o`, journaled at `lsn`, as the session's next message. */
void dd_outtx_add(struct dd_outtx *t, uint64_t lsn, const struct dd_output *o, uint64_t now);

/* Close the open datagram, hand waiting frames to the port, send a heartbeat when one is due. */
void dd_outtx_poll(struct dd_outtx *t, uint64_t now);

/* A clean stop: send what is open and the end of session, waiting up to DD_OUTTX_RETRY_US for the port. */
void dd_outtx_end(struct dd_outtx *t);

/* True while frames wait for the port. */
bool dd_outtx_busy(const struct dd_outtx *t);

const struct dd_outtx_stats *dd_outtx_stats(const struct dd_outtx *t);

#endif /* DD_DATAPLANE_OUTTX_H */
