/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_WIRE_PAYMENT_H
#define DD_DATAPLANE_WIRE_PAYMENT_H

/*
 * dadar's payment authorisation message (docs/wire-formats.md, "Payment authorisation"): 73 bytes,
 * big-endian, carried in MoldUDP64 message blocks. Decoded into the two events of a payment
 * (ops/event.h). The decoder checks what identifies a message (length, type, version); the values
 * of the fields are the fraud operator's to judge, so that an identifiable but invalid payment
 * still gets its decision (block, reason `invalid`). DPDK-free.
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/event.h"

#define DD_PAY_MSG_LEN 73
#define DD_PAY_TYPE 'P'
#define DD_PAY_VERSION 1
#define DD_PAY_DEFAULT_PORT 26480       /* UDP destination port read as payments with no feed configured */
#define DD_PAY_DEFAULT_GROUP 0xefc01a30u /* 239.192.26.48, where dadar-gen sends payments */

/* Why a message of a payment feed got no events. */
struct dd_pay_stats {
	uint64_t messages;    /* decoded (duplicates excluded) */
	uint64_t bad_length;  /* not 73 bytes */
	uint64_t unknown;     /* type not 'P' */
	uint64_t bad_version; /* version not 1 */
};

/*
 * Decode message `msg` of `len` bytes into ev[0] (DD_EV_PAYMENT) and ev[1] (DD_EV_PAYMENT_X): type,
 * msg, key, event_ns and payloads; the caller sets source, seq and rx_tsc of both. Returns 2, or
 * -EBADMSG (length), -ENOMSG (type), -EPROTO (version) with ev untouched.
 */
int dd_payment_decode(const uint8_t *msg, size_t len, struct dd_event ev[2]);

/* Encode a payment's two events back into a 73-byte message (for tools and tests). */
void dd_payment_encode(const struct dd_event ev[2], uint8_t msg[DD_PAY_MSG_LEN]);

#endif /* DD_DATAPLANE_WIRE_PAYMENT_H */
