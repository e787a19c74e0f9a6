/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_PCAPR_H
#define DD_TOOLS_PCAPR_H

/*
 * Classic pcap reader for the tools (dadar-tail --pcap, dadar-gen send --pcap). No libpcap.
 *
 * Reads either byte order, microsecond or nanosecond timestamps, and the link types dadar's traffic
 * is captured with: Ethernet (1), Linux cooked v1 (113) and v2 (276), raw IPv4 (101, 228). Every
 * record comes back as an Ethernet frame: the other link types get a 14-byte Ethernet header (zero
 * addresses, the packet's EtherType) in front of their IP packet. The file is untrusted: a record
 * header cut short, a record longer than DD_PCAPR_MAX_FRAME or cut short ends the reading with a
 * message; a record that cannot be made a frame is skipped and said so by the return value.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DD_PCAPR_MAX_FRAME (262144 + 64)

struct dd_pcapr {
	FILE *f;
	const char *path;
	int swap;              /* the file's byte order is not ours */
	unsigned linktype;
	uint64_t records;      /* records read */
	uint8_t *rec;          /* DD_PCAPR_MAX_FRAME bytes */
};

/* Open `path`. Returns 0, or -1 with the reason in err (not a pcap file, a pcapng file, a link type). */
int dd_pcapr_open(struct dd_pcapr *r, const char *path, char *err, size_t errlen);

/*
 * The next record as an Ethernet frame in buf (cap bytes). Returns its length; 0 at the end; -1 for
 * a record that cannot be one (too short for its link header, or longer than cap: skip it); -2 when
 * the file is cut short or corrupt (the end, with the reason in err).
 */
long dd_pcapr_next(struct dd_pcapr *r, uint8_t *buf, size_t cap, char *err, size_t errlen);

void dd_pcapr_close(struct dd_pcapr *r);

#endif /* DD_TOOLS_PCAPR_H */
