/* SPDX-License-Identifier: MIT */
#include "dataplane/wire/payment.h"

#include <errno.h>
#include <string.h>

#include "dataplane/wire/be.h"

int dd_payment_decode(const uint8_t *msg, size_t len, struct dd_event ev[2])
{
	if (len != DD_PAY_MSG_LEN)
		return -EBADMSG;
	if (msg[0] != DD_PAY_TYPE)
		return -ENOMSG;
	if (msg[1] != DD_PAY_VERSION)
		return -EPROTO;
	struct dd_event *a = &ev[0], *b = &ev[1];
	memset(a, 0, 2 * sizeof(*a));
	a->type = DD_EV_PAYMENT;
	b->type = DD_EV_PAYMENT_X;
	a->msg = b->msg = DD_PAY_TYPE;
	a->event_ns = b->event_ns = dd_ld_be64(msg + 2);
	a->u.pay.txn_id = dd_ld_be64(msg + 10);
	a->u.pay.payer = dd_ld_be64(msg + 18);
	b->u.payx.payee = dd_ld_be64(msg + 26);
	b->u.payx.merchant = dd_ld_be64(msg + 34);
	a->u.pay.amount = (int64_t)dd_ld_be64(msg + 42);
	memcpy(b->u.payx.currency, msg + 50, 3);
	b->u.payx.mcc = dd_ld_be16(msg + 53);
	b->u.payx.channel = msg[55];
	b->u.payx.kind = msg[56];
	a->u.pay.device = dd_ld_be64(msg + 57);
	b->u.payx.lat_e6 = (int32_t)dd_ld_be32(msg + 65);
	b->u.payx.lon_e6 = (int32_t)dd_ld_be32(msg + 69);
	a->key = b->key = dd_payment_key(a->u.pay.payer);
	return 2;
}

static void st64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

static void st32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

void dd_payment_encode(const struct dd_event ev[2], uint8_t msg[DD_PAY_MSG_LEN])
{
	const struct dd_ev_payment *a = &ev[0].u.pay;
	const struct dd_ev_payment_x *b = &ev[1].u.payx;
	msg[0] = DD_PAY_TYPE;
	msg[1] = DD_PAY_VERSION;
	st64(msg + 2, ev[0].event_ns);
	st64(msg + 10, a->txn_id);
	st64(msg + 18, a->payer);
	st64(msg + 26, b->payee);
	st64(msg + 34, b->merchant);
	st64(msg + 42, (uint64_t)a->amount);
	memcpy(msg + 50, b->currency, 3);
	msg[53] = (uint8_t)(b->mcc >> 8);
	msg[54] = (uint8_t)b->mcc;
	msg[55] = b->channel;
	msg[56] = b->kind;
	st64(msg + 57, a->device);
	st32(msg + 65, (uint32_t)b->lat_e6);
	st32(msg + 69, (uint32_t)b->lon_e6);
}
