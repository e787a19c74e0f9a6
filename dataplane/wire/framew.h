/* SPDX-License-Identifier: MIT */
#ifndef DD_WIRE_FRAMEW_H
#define DD_WIRE_FRAMEW_H

/*
 * Ethernet / 802.1Q / IPv4 / UDP frame builder: what the tools write into captures and the daemon
 * sends on its output port. libc only. The parser of the same frames is frame.h.
 */

#include <stddef.h>
#include <stdint.h>

/* Shortest Ethernet frame without FCS; shorter frames are padded with zeros, as on the wire. */
#define DD_FRAMEW_ETH_MIN_LEN 60
/* Largest frame dd_framew_build_*() builds: a 9000-byte IP packet behind Ethernet + 802.1Q. */
#define DD_FRAMEW_FRAME_MAX (14 + 4 + 9000)
/* Bytes before a UDP payload: Ethernet (+ 802.1Q), IPv4 without options, UDP. */
#define DD_FRAMEW_UDP_HDR(vlan) (14 + ((vlan) ? 4 : 0) + 20 + 8)

/* Addresses of one IPv4 flow. Addresses are host byte order; vlan 0 means untagged. */
struct dd_framew_flow {
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan;      /* 802.1Q VLAN ID 1..4094, or 0 for no tag */
};

/* The Ethernet multicast MAC of IPv4 group `group`: 01:00:5e followed by the group's low 23 bits. */
void dd_framew_mcast_mac(uint32_t group, uint8_t mac[6]);

/*
 * Internet checksum (RFC 1071) of `len` bytes at `p`, continuing from the partial sum `sum`
 * (0 to start). Returns the folded one's-complement sum, not yet inverted.
 */
uint32_t dd_framew_csum(const void *p, size_t len, uint32_t sum);

/*
 * Build an Ethernet (+802.1Q) / IPv4 frame carrying `len` bytes of `payload` as IP protocol `proto`
 * into `buf` (capacity `cap`): IHL 5, TTL 64, DF, identification `ip_id`, correct header checksum.
 * The payload is copied as is (for UDP use dd_framew_build_udp()). Frames shorter than
 * DD_FRAMEW_ETH_MIN_LEN are padded. Returns the frame length, -EMSGSIZE if the IP packet would exceed 9000 bytes, -ENOSPC if `cap`
 * is short.
 */
int dd_framew_build_ipv4(uint8_t *buf, size_t cap, const struct dd_framew_flow *f, uint8_t proto,
			uint16_t ip_id, const uint8_t *payload, size_t len);

/*
 * Build an Ethernet (+802.1Q) / IPv4 / UDP frame carrying `len` bytes of `payload`, with a correct
 * UDP checksum. Returns the frame length or the errors of dd_framew_build_ipv4().
 */
int dd_framew_build_udp(uint8_t *buf, size_t cap, const struct dd_framew_flow *f, uint16_t ip_id,
		       const uint8_t *payload, size_t len);

/*
 * Build an ARP request frame (broadcast; sender f->src_mac/f->src_ip asks who has f->dst_ip),
 * tagged if f->vlan is set. Returns the frame length or -ENOSPC.
 */
int dd_framew_build_arp(uint8_t *buf, size_t cap, const struct dd_framew_flow *f);

#endif /* DD_WIRE_FRAMEW_H */
