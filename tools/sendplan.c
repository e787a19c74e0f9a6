/* SPDX-License-Identifier: MIT */
#include "tools/sendplan.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "dataplane/wire/be.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/framew.h"
#include "dataplane/wire/moldudp64.h"

int dd_sendplan_init(struct dd_sendplan *s, const struct dd_sendplan_params *p)
{
	if (!(p->rate > 0) || !isfinite(p->rate) || !(p->burst_mult >= 1) || !isfinite(p->burst_mult))
		return -EINVAL;
	if (p->burst_mult > 1 && (p->burst_on_ns == 0 || p->burst_on_ns >= p->burst_period_ns))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->p = *p;
	return 0;
}

uint64_t dd_sendplan_next(struct dd_sendplan *s, unsigned msgs)
{
	double t = s->t_ns, rate = s->p.rate;
	if (s->p.burst_mult > 1 && fmod(t, (double)s->p.burst_period_ns) < (double)s->p.burst_on_ns)
		rate *= s->p.burst_mult;
	s->t_ns = t + (double)msgs * 1e9 / rate;
	s->messages += msgs;
	return (uint64_t)t;
}

enum dd_sendframe_kind dd_sendframe_parse(const uint8_t *frame, size_t len, struct dd_sendframe *f)
{
	struct dd_udp_view v;
	struct dd_mold_hdr h;
	if (len > UINT16_MAX || dd_frame_udp(frame, len, 0, &v) != DD_FRAME_UDP ||
	    dd_mold_parse(v.payload, v.len, &h) != DD_MOLD_OK)
		return DD_SENDFRAME_OTHER;
	memset(f, 0, sizeof(*f));
	f->mold_off = (uint16_t)(v.payload - frame);
	f->udp_off = (uint16_t)(f->mold_off - 8);
	f->ip_end = (uint16_t)(f->mold_off + v.len);
	f->count = h.count;
	f->seq = h.seq;
	memcpy(f->session, h.session, sizeof(f->session));
	return h.count == 0 || h.count == DD_MOLD_COUNT_EOS ? DD_SENDFRAME_CONTROL : DD_SENDFRAME_DATA;
}

size_t dd_sendframe_len(const struct dd_sendframe *f, bool stamp)
{
	size_t n = (size_t)f->ip_end + (stamp ? DD_SEND_STAMP_LEN : 0);
	return n < DD_FRAMEW_ETH_MIN_LEN ? DD_FRAMEW_ETH_MIN_LEN : n;
}

size_t dd_sendframe_build(uint8_t *dst, size_t cap, const uint8_t *src, const struct dd_sendframe *f,
			  uint64_t seq_add, bool stamp)
{
	size_t n = dd_sendframe_len(f, stamp);
	if (n > cap)
		return 0;
	memcpy(dst, src, f->ip_end);
	memset(dst + f->ip_end, 0, n - f->ip_end);
	if (seq_add != 0) {
		dd_st_be64(dst + f->mold_off + 10, f->seq + seq_add);
		dd_st_be16(dst + f->udp_off + 6, 0);
	}
	if (stamp)
		memcpy(dst + f->ip_end, "DDTS", 4);
	return n;
}
