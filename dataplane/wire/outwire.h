/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_WIRE_OUTWIRE_H
#define DD_DATAPLANE_WIRE_OUTWIRE_H

/*
 * dadar's output messages: the binary form of a released output (ops/output.h) on the output
 * stream, one per MoldUDP64 message (docs/wire-formats.md, "Output messages"). Big-endian like the
 * rest of the stream; a 56-byte header every message has, then a body whose length its type fixes.
 * One table per type lists the body's fields (wire offset, width, offset in struct dd_output) and
 * drives both the encoder and the decoder, so the two cannot disagree. DPDK-free.
 *
 * The decoder takes untrusted bytes: it checks the type, the version and the length before it reads
 * a field, and rebuilds the output with every byte the message does not carry zero (rx_tsc too), so
 * decode(encode(o)) says the same as o (dd_output_same).
 */

#include <stddef.h>
#include <stdint.h>

#include "ops/output.h"

#define DD_OUTW_VERSION 1
#define DD_OUTW_HDR_LEN 56
#define DD_OUTW_MAX_LEN (DD_OUTW_HDR_LEN + 64) /* the longest message (alert, window, test) */

/* Message type letter of an output type; 0 if the type is never sent (internal, unknown). */
uint8_t dd_outw_letter(unsigned type);

/* Length of the message of output type `type`; 0 if the type is never sent. */
size_t dd_outw_len(unsigned type);

/*
 * Write output `o`, journaled at `lsn`, into `msg` (at least dd_outw_len(o->type) bytes).
 * Returns the message length, or 0 if its type is never sent.
 */
size_t dd_outw_encode(uint8_t *msg, uint64_t lsn, const struct dd_output *o);

/* Why a message could not be decoded. */
enum dd_outw_err {
	DD_OUTW_SHORT = -1,       /* shorter than the header */
	DD_OUTW_BAD_TYPE = -2,    /* a type letter no output has */
	DD_OUTW_BAD_VERSION = -3, /* a version this decoder does not read */
	DD_OUTW_BAD_LENGTH = -4,  /* not the length its type fixes */
};

/* Decode `len` bytes at `msg` into *o and *lsn. Returns 0 or an enum dd_outw_err (o untouched). */
int dd_outw_decode(const uint8_t *msg, size_t len, uint64_t *lsn, struct dd_output *o);

/* Text of an enum dd_outw_err. */
const char *dd_outw_strerror(int err);

#endif /* DD_DATAPLANE_WIRE_OUTWIRE_H */
