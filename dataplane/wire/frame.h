/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_FRAME_H
#define DD_DATAPLANE_FRAME_H

/*
 * Ethernet (+ up to two 802.1Q / 802.1ad tags) → IPv4 → UDP, parsed from raw bytes with every
 * length checked against the bytes present. DPDK-free: the daemon hands it mbuf data, tests hand it
 * arrays. IPv4 fragments are not reassembled (exchange feeds never fragment): they are dropped and
 * counted.
 */

#include <stddef.h>
#include <stdint.h>

/* Verdict of dd_frame_udp(): DD_FRAME_UDP, or why the frame is not one of our UDP datagrams. */
enum dd_frame_verdict {
	DD_FRAME_UDP = 0,
	DD_FRAME_ETH_SHORT,        /* shorter than an Ethernet header */
	DD_FRAME_VLAN_SHORT,       /* a VLAN tag cut short, or more than two tags */
	DD_FRAME_NOT_IPV4,         /* another ethertype: ARP, IPv6, LLDP, ... */
	DD_FRAME_IP_SHORT,         /* shorter than its IPv4 header */
	DD_FRAME_IP_BAD_HEADER,    /* version not 4, IHL < 5, or total length outside the frame */
	DD_FRAME_IP_BAD_CHECKSUM,  /* header checksum wrong (when checked) */
	DD_FRAME_IP_FRAGMENT,      /* more-fragments set or a fragment offset */
	DD_FRAME_NOT_UDP,          /* another IP protocol */
	DD_FRAME_UDP_BAD_LENGTH,   /* UDP header cut short, or its length outside the IP payload */
	DD_FRAME_UDP_BAD_CHECKSUM, /* UDP checksum wrong (when checked and not zero) */
	DD_FRAME__COUNT
};

/* Stable snake_case name of a verdict ("ip_fragment", ...), for counters and JSON. */
const char *dd_frame_verdict_name(enum dd_frame_verdict v);

struct dd_udp_view {
	const uint8_t *payload;
	uint16_t len;       /* UDP payload bytes */
	uint16_t src_port;  /* host order */
	uint16_t dst_port;
	uint16_t vlan;      /* outer VLAN ID, 0 if untagged */
	uint32_t src_ip;    /* host order */
	uint32_t dst_ip;
};

/* Flags for dd_frame_udp(). */
#define DD_FRAME_CHECK_IP_CSUM  0x1u /* verify the IPv4 header checksum in software */
#define DD_FRAME_CHECK_UDP_CSUM 0x2u /* verify the UDP checksum in software (costs a pass over the payload) */

/* Parse the `len`-byte frame at `p`; fills *v and returns DD_FRAME_UDP, or the reason it is not. */
enum dd_frame_verdict dd_frame_udp(const uint8_t *p, size_t len, unsigned flags, struct dd_udp_view *v);

/* One's-complement sum of `len` bytes folded into `sum` (RFC 1071), unfinalised. */
uint32_t dd_csum_add(uint32_t sum, const uint8_t *p, size_t len);
/* Fold and complement a dd_csum_add() sum into the 16-bit checksum. */
uint16_t dd_csum_fold(uint32_t sum);

#endif /* DD_DATAPLANE_FRAME_H */
