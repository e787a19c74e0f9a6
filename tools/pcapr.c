/* SPDX-License-Identifier: MIT */
#include "tools/pcapr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/be.h"

static uint32_t u32_of(const struct dd_pcapr *r, const uint8_t *b)
{
	uint32_t v;
	memcpy(&v, b, sizeof(v));
	return r->swap ? __builtin_bswap32(v) : v;
}

int dd_pcapr_open(struct dd_pcapr *r, const char *path, char *err, size_t errlen)
{
	uint8_t h[24];
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->f = fopen(path, "rb");
	if (r->f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	const char *why = NULL;
	uint32_t magic = 0;
	if (fread(h, 1, sizeof(h), r->f) != sizeof(h)) {
		why = "not a pcap file (shorter than its 24-byte header)";
	} else {
		memcpy(&magic, h, sizeof(magic));
		r->swap = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
		if (!r->swap && magic != 0xa1b2c3d4u && magic != 0xa1b23c4du)
			why = magic == 0x0a0d0d0au ? "a pcapng file" : "not a pcap file";
	}
	if (why == NULL) {
		r->linktype = u32_of(r, h + 20) & 0xffffu; /* the upper bits may carry FCS information */
		if (r->linktype != 1 && r->linktype != 113 && r->linktype != 276 && r->linktype != 101 &&
		    r->linktype != 228)
			why = "link type";
	}
	if (why == NULL && (r->rec = malloc(DD_PCAPR_MAX_FRAME)) == NULL)
		why = "out of memory";
	if (why == NULL)
		return 0;
	if (strcmp(why, "a pcapng file") == 0)
		snprintf(err, errlen, "%s: a pcapng file; convert it: editcap -F pcap %s out.pcap", path, path);
	else if (strcmp(why, "not a pcap file") == 0)
		snprintf(err, errlen, "%s: not a pcap file (magic %08x)", path, magic);
	else if (strcmp(why, "link type") == 0)
		snprintf(err, errlen, "%s: link type %u; Ethernet (1), Linux cooked (113, 276) and raw IPv4 (101, 228) "
			 "captures are read", path, r->linktype);
	else
		snprintf(err, errlen, "%s: %s", path, why);
	fclose(r->f);
	r->f = NULL;
	return -1;
}

long dd_pcapr_next(struct dd_pcapr *r, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
	uint8_t rh[16];
	size_t got = fread(rh, 1, sizeof(rh), r->f);
	if (got == 0)
		return 0;
	if (got != sizeof(rh)) {
		snprintf(err, errlen, "%s: cut short in the header of record %" PRIu64 ": the rest is ignored", r->path,
			 r->records + 1);
		return -2;
	}
	uint32_t incl = u32_of(r, rh + 8);
	r->records++;
	if (incl > DD_PCAPR_MAX_FRAME - 64) {
		snprintf(err, errlen, "%s: record %" PRIu64 " claims %u bytes: the file is corrupt; the rest is ignored",
			 r->path, r->records, incl);
		return -2;
	}
	if (fread(r->rec, 1, incl, r->f) != incl) {
		snprintf(err, errlen, "%s: record %" PRIu64 " is cut short: the rest is ignored", r->path, r->records);
		return -2;
	}
	size_t hdr = 0, skip = 0;
	uint16_t proto = 0;
	switch (r->linktype) {
	case 1:
		break;
	case 113: /* Linux cooked v1: 16 bytes, the protocol at 14 */
		if (incl < 16)
			return -1;
		proto = dd_ld_be16(r->rec + 14);
		skip = 16;
		hdr = 14;
		break;
	case 276: /* Linux cooked v2: 20 bytes, the protocol first */
		if (incl < 20)
			return -1;
		proto = dd_ld_be16(r->rec);
		skip = 20;
		hdr = 14;
		break;
	default: /* raw IP */
		proto = 0x0800;
		hdr = 14;
		break;
	}
	if (incl - skip + hdr > cap)
		return -1;
	if (hdr != 0) {
		memset(buf, 0, 12);
		dd_st_be16(buf + 12, proto);
	}
	memcpy(buf + hdr, r->rec + skip, incl - skip);
	return (long)(incl - skip + hdr);
}

void dd_pcapr_close(struct dd_pcapr *r)
{
	if (r->f != NULL)
		fclose(r->f);
	free(r->rec);
	r->f = NULL;
	r->rec = NULL;
}
