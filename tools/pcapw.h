/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_PCAPW_H
#define DD_TOOLS_PCAPW_H

/*
 * Classic pcap file writer and Ethernet / 802.1Q / IPv4 / UDP frame builder, for the tools.
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

#define DD_PCAP_MAGIC_NS 0xa1b23c4du
#define DD_PCAP_SNAPLEN  65535u
#define DD_PCAP_LINKTYPE_ETHERNET 1u

/* Shortest Ethernet frame without FCS; shorter frames are padded with zeros, as on the wire. */
#define DD_PCAPW_ETH_MIN_LEN 60
/* Largest frame dd_pcapw_build_*() builds: a 9000-byte IP packet behind Ethernet + 802.1Q. */
#define DD_PCAPW_FRAME_MAX (14 + 4 + 9000)

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

/* Addresses of one IPv4 flow. Addresses are host byte order; vlan 0 means untagged. */
struct dd_pcapw_flow {
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan;      /* 802.1Q VLAN ID 1..4094, or 0 for no tag */
};

/* The Ethernet multicast MAC of IPv4 group `group`: 01:00:5e followed by the group's low 23 bits. */
void dd_pcapw_mcast_mac(uint32_t group, uint8_t mac[6]);

/*
 * Internet checksum (RFC 1071) of `len` bytes at `p`, continuing from the partial sum `sum`
 * (0 to start). Returns the folded one's-complement sum, not yet inverted.
 */
uint32_t dd_pcapw_csum(const void *p, size_t len, uint32_t sum);

/*
 * Build an Ethernet (+802.1Q) / IPv4 frame carrying `len` bytes of `payload` as IP protocol `proto`
 * into `buf` (capacity `cap`): IHL 5, TTL 64, DF, identification `ip_id`, correct header checksum.
 * The payload is copied as is (for UDP use dd_pcapw_build_udp()). Frames shorter than
 * DD_PCAPW_ETH_MIN_LEN are padded. Returns the frame length, -EMSGSIZE if the IP packet would exceed 9000 bytes, -ENOSPC if `cap`
 * is short.
 */
int dd_pcapw_build_ipv4(uint8_t *buf, size_t cap, const struct dd_pcapw_flow *f, uint8_t proto,
			uint16_t ip_id, const uint8_t *payload, size_t len);

/*
 * Build an Ethernet (+802.1Q) / IPv4 / UDP frame carrying `len` bytes of `payload`, with a correct
 * UDP checksum. Returns the frame length or the errors of dd_pcapw_build_ipv4().
 */
int dd_pcapw_build_udp(uint8_t *buf, size_t cap, const struct dd_pcapw_flow *f, uint16_t ip_id,
		       const uint8_t *payload, size_t len);

/*
 * Build an ARP request frame (broadcast; sender f->src_mac/f->src_ip asks who has f->dst_ip),
 * tagged if f->vlan is set. Returns the frame length or -ENOSPC.
 */
int dd_pcapw_build_arp(uint8_t *buf, size_t cap, const struct dd_pcapw_flow *f);

#endif /* DD_TOOLS_PCAPW_H */
