/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/frame.h"

#include <stdbool.h>

#include "dataplane/wire/be.h"

#define ETH_HDR    14
#define VLAN_TAG   4
#define IP_MIN_HDR 20
#define UDP_HDR    8

#define ETHERTYPE_IPV4  0x0800
#define ETHERTYPE_VLAN  0x8100
#define ETHERTYPE_QINQ  0x88A8
#define IPPROTO_UDP_    17

static const char *const verdict_names[DD_FRAME__COUNT] = {
	[DD_FRAME_UDP] = "udp",
	[DD_FRAME_ETH_SHORT] = "eth_short",
	[DD_FRAME_VLAN_SHORT] = "vlan_short",
	[DD_FRAME_NOT_IPV4] = "not_ipv4",
	[DD_FRAME_IP_SHORT] = "ip_short",
	[DD_FRAME_IP_BAD_HEADER] = "ip_bad_header",
	[DD_FRAME_IP_BAD_CHECKSUM] = "ip_bad_checksum",
	[DD_FRAME_IP_FRAGMENT] = "ip_fragment",
	[DD_FRAME_NOT_UDP] = "not_udp",
	[DD_FRAME_UDP_BAD_LENGTH] = "udp_bad_length",
	[DD_FRAME_UDP_BAD_CHECKSUM] = "udp_bad_checksum",
};

const char *dd_frame_verdict_name(enum dd_frame_verdict v)
{
	return (unsigned)v < DD_FRAME__COUNT ? verdict_names[v] : "?";
}

uint32_t dd_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < len; i += 2)
		s += dd_ld_be16(p + i);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t dd_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

static bool udp_csum_ok(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len)
{
	uint16_t wire = dd_ld_be16(udp + 6);
	if (wire == 0) /* sender did not compute one: allowed for IPv4 */
		return true;
	uint32_t sum = dd_csum_add(0, ip + 12, 8); /* source and destination addresses */
	sum += IPPROTO_UDP_;
	sum += udp_len;
	sum = dd_csum_add(sum, udp, udp_len);
	return dd_csum_fold(sum) == 0;
}

enum dd_frame_verdict dd_frame_udp(const uint8_t *p, size_t len, unsigned flags, struct dd_udp_view *v)
{
	if (len < ETH_HDR)
		return DD_FRAME_ETH_SHORT;
	size_t off = 12;
	uint16_t type = dd_ld_be16(p + off);
	v->vlan = 0;
	for (unsigned tags = 0; type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ; tags++) {
		if (tags == 2 || len < off + VLAN_TAG + 2)
			return DD_FRAME_VLAN_SHORT;
		if (tags == 0)
			v->vlan = dd_ld_be16(p + off + 2) & 0x0fff;
		off += VLAN_TAG;
		type = dd_ld_be16(p + off);
	}
	off += 2;
	if (type != ETHERTYPE_IPV4)
		return DD_FRAME_NOT_IPV4;

	const uint8_t *ip = p + off;
	size_t room = len - off;
	if (room < IP_MIN_HDR)
		return DD_FRAME_IP_SHORT;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	uint16_t total = dd_ld_be16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < IP_MIN_HDR || total < ihl || total > room)
		return DD_FRAME_IP_BAD_HEADER;
	if ((flags & DD_FRAME_CHECK_IP_CSUM) && dd_csum_fold(dd_csum_add(0, ip, ihl)) != 0)
		return DD_FRAME_IP_BAD_CHECKSUM;
	if (dd_ld_be16(ip + 6) & 0x3fff) /* MF flag or fragment offset */
		return DD_FRAME_IP_FRAGMENT;
	if (ip[9] != IPPROTO_UDP_)
		return DD_FRAME_NOT_UDP;

	/* Ethernet pads short frames: the IP total length, not the frame, bounds the datagram. */
	const uint8_t *udp = ip + ihl;
	size_t ip_payload = total - ihl;
	if (ip_payload < UDP_HDR)
		return DD_FRAME_UDP_BAD_LENGTH;
	uint16_t udp_len = dd_ld_be16(udp + 4);
	if (udp_len < UDP_HDR || udp_len > ip_payload)
		return DD_FRAME_UDP_BAD_LENGTH;
	if ((flags & DD_FRAME_CHECK_UDP_CSUM) && !udp_csum_ok(ip, udp, udp_len))
		return DD_FRAME_UDP_BAD_CHECKSUM;

	v->src_ip = dd_ld_be32(ip + 12);
	v->dst_ip = dd_ld_be32(ip + 16);
	v->src_port = dd_ld_be16(udp);
	v->dst_port = dd_ld_be16(udp + 2);
	v->payload = udp + UDP_HDR;
	v->len = (uint16_t)(udp_len - UDP_HDR);
	return DD_FRAME_UDP;
}
