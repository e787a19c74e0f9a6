/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_SEND_H
#define DD_TOOLS_SEND_H

/*
 * dadar-gen send (tools/dpdk/send.c, the one part of dadar-gen built with DPDK): a capture's
 * MoldUDP64 datagrams sent out of a DPDK port at a paced rate, stamped (docs/wire-formats.md, "Send
 * stamps"), with an optional send log of every message's send TSC for receivers that cannot see the
 * stamp (a kernel socket strips it). The schedule and the frames are tools/sendplan.h's.
 *
 * Send log (`--send-log FILE`, normally under /dev/shm; little-endian):
 *   0   8 bytes  "DDSENDLG"
 *   8   u32      version 1
 *   12  u32      0
 *   16  u64      capacity: u64 slots after the 64-byte header
 *   24  u64      tsc_hz: the sender's TSC frequency
 *   32  u64      sent: messages sent so far (updated as it goes)
 *   40  24 bytes 0
 *   64  u64 slot[capacity]: slot[seq - 1] = the TSC the datagram carrying message seq was stamped
 *       with (every message of a datagram gets its datagram's); 0: not sent
 */

#define DD_SENDLOG_MAGIC "DDSENDLG"
#define DD_SENDLOG_VERSION 1u
#define DD_SENDLOG_HDR 64u

/* argv[0] is "send"; EAL options, then "--", then send's own. Returns the exit status. */
int dd_gen_send(int argc, char **argv);

#endif /* DD_TOOLS_SEND_H */
