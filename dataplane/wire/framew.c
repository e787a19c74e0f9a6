/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/framew.h"

#include <errno.h>
#include <string.h>

#include "dataplane/wire/be.h"

#define ETH_HDR_LEN  14
#define VLAN_HDR_LEN 4
#define IPV4_HDR_LEN 20
#define UDP_HDR_LEN  8
#define IP_MAX_LEN 9000u

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP  0x0806
#define ETHERTYPE_VLAN 0x8100
#define IPPROTO_UDP_   17

void dd_framew_mcast_mac(uint32_t group, uint8_t mac[6])
{
	mac[0] = 0x01;
	mac[1] = 0x00;
	mac[2] = 0x5e;
	mac[3] = (uint8_t)((group >> 16) & 0x7f);
	mac[4] = (uint8_t)(group >> 8);
	mac[5] = (uint8_t)group;
}

uint32_t dd_framew_csum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;
	uint64_t s = sum;

	for (; len >= 2; b += 2, len -= 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (len)
		s += (uint32_t)b[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

/* Ethernet header (+ tag); returns its length. */
static size_t put_eth(uint8_t *buf, const uint8_t dst[6], const struct dd_framew_flow *f, uint16_t type)
{
	size_t n = 12;

	memcpy(buf, dst, 6);
	memcpy(buf + 6, f->src_mac, 6);
	if (f->vlan) {
		dd_st_be16(buf + n, ETHERTYPE_VLAN);
		dd_st_be16(buf + n + 2, f->vlan & 0x0fff); /* PCP 0, DEI 0 */
		n += VLAN_HDR_LEN;
	}
	dd_st_be16(buf + n, type);
	return n + 2;
}

static size_t pad_frame(uint8_t *buf, size_t len)
{
	if (len < DD_FRAMEW_ETH_MIN_LEN) {
		memset(buf + len, 0, DD_FRAMEW_ETH_MIN_LEN - len);
		len = DD_FRAMEW_ETH_MIN_LEN;
	}
	return len;
}

static size_t eth_len(const struct dd_framew_flow *f)
{
	return ETH_HDR_LEN + (f->vlan ? VLAN_HDR_LEN : 0);
}

int dd_framew_build_ipv4(uint8_t *buf, size_t cap, const struct dd_framew_flow *f, uint8_t proto,
			uint16_t ip_id, const uint8_t *payload, size_t len)
{
	size_t l2 = eth_len(f);
	size_t ip_len = IPV4_HDR_LEN + len;
	size_t total = l2 + ip_len;
	uint8_t *ip;

	if (ip_len > IP_MAX_LEN)
		return -EMSGSIZE;
	if (cap < total || cap < DD_FRAMEW_ETH_MIN_LEN)
		return -ENOSPC;
	put_eth(buf, f->dst_mac, f, ETHERTYPE_IPV4);
	ip = buf + l2;
	ip[0] = 0x45;                      /* version 4, IHL 5 */
	ip[1] = 0;                         /* DSCP/ECN */
	dd_st_be16(ip + 2, (uint16_t)ip_len);
	dd_st_be16(ip + 4, ip_id);
	dd_st_be16(ip + 6, 0x4000);          /* DF, offset 0 */
	ip[8] = 64;                        /* TTL */
	ip[9] = proto;
	dd_st_be16(ip + 10, 0);
	dd_st_be32(ip + 12, f->src_ip);
	dd_st_be32(ip + 16, f->dst_ip);
	dd_st_be16(ip + 10, (uint16_t)~dd_framew_csum(ip, IPV4_HDR_LEN, 0));
	if (len)
		memmove(ip + IPV4_HDR_LEN, payload, len);
	return (int)pad_frame(buf, total);
}

int dd_framew_build_udp(uint8_t *buf, size_t cap, const struct dd_framew_flow *f, uint16_t ip_id,
		       const uint8_t *payload, size_t len)
{
	size_t l4 = eth_len(f) + IPV4_HDR_LEN;
	size_t udp_len = UDP_HDR_LEN + len;
	uint8_t pseudo[12];
	uint8_t *udp;
	uint32_t sum;
	uint16_t csum;

	if (IPV4_HDR_LEN + udp_len > IP_MAX_LEN)
		return -EMSGSIZE;
	if (cap < l4 + udp_len)
		return -ENOSPC;
	/* UDP is built in place, then handed to dd_framew_build_ipv4() as its payload (a no-op move). */
	udp = buf + l4;
	memmove(udp + UDP_HDR_LEN, payload, len);
	dd_st_be16(udp, f->src_port);
	dd_st_be16(udp + 2, f->dst_port);
	dd_st_be16(udp + 4, (uint16_t)udp_len);
	dd_st_be16(udp + 6, 0);
	dd_st_be32(pseudo, f->src_ip);
	dd_st_be32(pseudo + 4, f->dst_ip);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP_;
	dd_st_be16(pseudo + 10, (uint16_t)udp_len);
	sum = dd_framew_csum(pseudo, sizeof(pseudo), 0);
	sum = dd_framew_csum(udp, udp_len, sum);
	csum = (uint16_t)~sum;
	dd_st_be16(udp + 6, csum ? csum : 0xffff); /* 0 means "no checksum" in UDP over IPv4 */
	return dd_framew_build_ipv4(buf, cap, f, IPPROTO_UDP_, ip_id, udp, udp_len);
}

int dd_framew_build_arp(uint8_t *buf, size_t cap, const struct dd_framew_flow *f)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	size_t l2 = eth_len(f);
	uint8_t *a;

	if (cap < l2 + 28 || cap < DD_FRAMEW_ETH_MIN_LEN)
		return -ENOSPC;
	put_eth(buf, bcast, f, ETHERTYPE_ARP);
	a = buf + l2;
	dd_st_be16(a, 1);                  /* hardware: Ethernet */
	dd_st_be16(a + 2, ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	dd_st_be16(a + 6, 1);              /* request */
	memcpy(a + 8, f->src_mac, 6);
	dd_st_be32(a + 14, f->src_ip);
	memset(a + 18, 0, 6);
	dd_st_be32(a + 24, f->dst_ip);
	return (int)pad_frame(buf, l2 + 28);
}
