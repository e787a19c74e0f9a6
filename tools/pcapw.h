/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_PCAPW_H
#define DD_TOOLS_PCAPW_H

/*
 * Classic pcap file writer for the tools (frames come from dataplane/wire/framew.h).
 * No libpcap, no DPDK.
 *
 * File format (what libpcap, tshark and DPDK's net_pcap PMD read): a 24-byte global header, magic
 * 0xa1b23c4d (nanosecond timestamps), version 2.4, thiszone 0, sigfigs 0, snaplen 65535, linktype 1
 * (Ethernet); then per frame a 16-byte record header (seconds, nanoseconds, captured length,
 * original length) followed by the frame bytes without FCS. Readers detect the byte order from the
 * magic; this writer always writes little-endian so a file is byte-identical on every host.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane/wire/framew.h"

#define DD_PCAP_MAGIC_NS 0xa1b23c4du
#define DD_PCAP_SNAPLEN  65535u
#define DD_PCAP_LINKTYPE_ETHERNET 1u


struct dd_pcapw {
	FILE *f;
	char *iobuf;
	uint64_t frames;    /* records written */
	uint64_t bytes;     /* file bytes written, headers included */
};

/*
 * Create (truncate) the capture file `path` and write its global header into `w`.
 * Returns 0, or -errno of the failed fopen()/fwrite() (nothing is left open on failure).
 */
int dd_pcapw_open(struct dd_pcapw *w, const char *path);

/*
 * Append one frame of `len` bytes at `frame`, stamped `unix_ns` nanoseconds since the Unix epoch.
 * Returns 0, -EINVAL if `len` is 0 or above the snaplen, or -errno of the failed write.
 */
int dd_pcapw_write(struct dd_pcapw *w, uint64_t unix_ns, const uint8_t *frame, size_t len);

/* Flush and close the file. Returns 0 or -errno of the failed flush/close; `w` is closed either way. */
int dd_pcapw_close(struct dd_pcapw *w);

#endif /* DD_TOOLS_PCAPW_H */
