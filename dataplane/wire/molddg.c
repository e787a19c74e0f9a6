/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/molddg.h"

#include <errno.h>
#include <string.h>

#include "dataplane/wire/be.h"

static void put_hdr(const struct dd_molddg *p, uint8_t *out, uint64_t seq, uint16_t count)
{
	memcpy(out, p->session, DD_MOLDDG_SESSION_LEN);
	dd_st_be64(out + 10, seq);
	dd_st_be16(out + 18, count);
}

int dd_molddg_init(struct dd_molddg *p, const char *session, uint64_t first_seq, size_t max_payload)
{
	size_t n = strlen(session);

	if (n > DD_MOLDDG_SESSION_LEN || first_seq == 0 ||
	    max_payload < DD_MOLDDG_MIN_PAYLOAD || max_payload > DD_MOLDDG_MAX_PAYLOAD)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (session[i] < 0x20 || session[i] > 0x7e)
			return -EINVAL;
	memset(p, 0, offsetof(struct dd_molddg, buf));
	memset(p->session, ' ', DD_MOLDDG_SESSION_LEN);
	memcpy(p->session, session, n);
	p->next_seq = first_seq;
	p->max_payload = max_payload;
	p->len = DD_MOLDDG_HDR_LEN;
	return 0;
}

bool dd_molddg_msg_fits(const struct dd_molddg *p, size_t len)
{
	return len <= 0xffff && DD_MOLDDG_HDR_LEN + 2 + len <= p->max_payload;
}

int dd_molddg_add(struct dd_molddg *p, const uint8_t *msg, size_t len, uint64_t ts)
{
	if (len == 0 || !dd_molddg_msg_fits(p, len))
		return -EMSGSIZE;
	if (p->len + 2 + len > p->max_payload || p->count == DD_MOLDDG_MAX_COUNT)
		return -ENOSPC;
	/* The last message of a session needs seq + count - 1 to be representable. */
	if (p->next_seq + p->count < p->next_seq)
		return -EOVERFLOW;
	if (p->count == 0)
		p->first_ts = ts;
	dd_st_be16(p->buf + p->len, (uint16_t)len);
	memcpy(p->buf + p->len + 2, msg, len);
	p->len += 2 + len;
	p->count++;
	p->messages++;
	return 0;
}

size_t dd_molddg_flush(struct dd_molddg *p, const uint8_t **dg, uint64_t *ts)
{
	size_t len = p->len;

	if (p->count == 0)
		return 0;
	put_hdr(p, p->buf, p->next_seq, p->count);
	*dg = p->buf;
	*ts = p->first_ts;
	p->next_seq += p->count;
	p->count = 0;
	p->len = DD_MOLDDG_HDR_LEN;
	p->datagrams++;
	return len;
}

size_t dd_molddg_heartbeat(const struct dd_molddg *p, uint8_t out[DD_MOLDDG_HDR_LEN])
{
	put_hdr(p, out, p->next_seq, 0);
	return DD_MOLDDG_HDR_LEN;
}

size_t dd_molddg_end(const struct dd_molddg *p, uint8_t out[DD_MOLDDG_HDR_LEN])
{
	put_hdr(p, out, p->next_seq, DD_MOLDDG_COUNT_EOS);
	return DD_MOLDDG_HDR_LEN;
}

bool dd_molddg_valid(const uint8_t *dg, size_t len)
{
	const uint8_t *q = dg + DD_MOLDDG_HDR_LEN, *end = dg + len;
	uint64_t seq = 0;
	unsigned count;

	if (len < DD_MOLDDG_HDR_LEN)
		return false;
	for (int i = 10; i < 18; i++)
		seq = seq << 8 | dg[i];
	count = (unsigned)dg[18] << 8 | dg[19];
	if (count == 0 || count == DD_MOLDDG_COUNT_EOS)
		return len == DD_MOLDDG_HDR_LEN;
	if (seq == 0 || seq + count < seq)
		return false;
	for (unsigned i = 0; i < count; i++) {
		size_t l;

		if (end - q < 2)
			return false;
		l = (size_t)q[0] << 8 | q[1];
		if ((size_t)(end - q - 2) < l)
			return false;
		q += 2 + l;
	}
	return q == end;
}
