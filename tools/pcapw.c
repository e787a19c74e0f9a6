/* SPDX-License-Identifier: MIT */
#include "tools/pcapw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/be.h"

#define PCAP_IOBUF (1u << 20)

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/* fwrite() only promises errno on POSIX systems; keep a meaningful code if it left none. */
static int write_err(void)
{
	return errno ? -errno : -EIO;
}

int dd_pcapw_open(struct dd_pcapw *w, const char *path)
{
	uint8_t h[24];
	int ret;

	memset(w, 0, sizeof(*w));
	w->f = fopen(path, "wb");
	if (w->f == NULL)
		return -errno;
	/* A large buffer: captures are written in one pass and can be gigabytes. */
	w->iobuf = malloc(PCAP_IOBUF);
	if (w->iobuf != NULL)
		setvbuf(w->f, w->iobuf, _IOFBF, PCAP_IOBUF);

	put_le32(h, DD_PCAP_MAGIC_NS);
	put_le16(h + 4, 2);
	put_le16(h + 6, 4);
	put_le32(h + 8, 0);   /* thiszone: timestamps are UTC */
	put_le32(h + 12, 0);  /* sigfigs */
	put_le32(h + 16, DD_PCAP_SNAPLEN);
	put_le32(h + 20, DD_PCAP_LINKTYPE_ETHERNET);
	errno = 0;
	if (fwrite(h, sizeof(h), 1, w->f) != 1) {
		ret = write_err();
		goto err;
	}
	w->bytes = sizeof(h);
	return 0;
err:
	fclose(w->f);
	free(w->iobuf);
	memset(w, 0, sizeof(*w));
	return ret;
}

int dd_pcapw_write(struct dd_pcapw *w, uint64_t unix_ns, const uint8_t *frame, size_t len)
{
	uint8_t h[16];

	if (len == 0 || len > DD_PCAP_SNAPLEN)
		return -EINVAL;
	put_le32(h, (uint32_t)(unix_ns / 1000000000u));
	put_le32(h + 4, (uint32_t)(unix_ns % 1000000000u));
	put_le32(h + 8, (uint32_t)len);
	put_le32(h + 12, (uint32_t)len);
	errno = 0;
	if (fwrite(h, sizeof(h), 1, w->f) != 1 || fwrite(frame, len, 1, w->f) != 1)
		return write_err();
	w->frames++;
	w->bytes += sizeof(h) + len;
	return 0;
}

int dd_pcapw_close(struct dd_pcapw *w)
{
	int ret = 0;

	if (w->f == NULL)
		return 0;
	errno = 0;
	if (fflush(w->f) != 0)
		ret = write_err();
	if (fclose(w->f) != 0 && ret == 0)
		ret = write_err();
	free(w->iobuf);
	w->f = NULL;
	w->iobuf = NULL;
	return ret;
}

