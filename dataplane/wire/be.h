/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_BE_H
#define DD_DATAPLANE_BE_H

/*
 * Big-endian (network order) loads and stores at any alignment: what every wire format here
 * (Ethernet/IPv4/UDP, MoldUDP64, ITCH, pcap's own headers aside) is written in. libc only, so the
 * tools, tests and fuzzers use the same ones as the decoders. The caller checks the bounds.
 */

#include <stdint.h>
#include <string.h>

static inline uint16_t dd_ld_be16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap16(v);
}

static inline uint32_t dd_ld_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap32(v);
}

static inline uint64_t dd_ld_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

/* ITCH's 6-byte timestamps. */
static inline uint64_t dd_ld_be48(const uint8_t *p)
{
	return (uint64_t)dd_ld_be16(p) << 32 | dd_ld_be32(p + 2);
}

static inline void dd_st_be16(uint8_t *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void dd_st_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void dd_st_be64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, sizeof(v));
}

/* Only the low 48 bits are stored: a larger value is truncated, as ITCH's timestamp field allows. */
static inline void dd_st_be48(uint8_t *p, uint64_t v)
{
	dd_st_be16(p, (uint16_t)(v >> 32));
	dd_st_be32(p + 2, (uint32_t)v);
}

#endif
