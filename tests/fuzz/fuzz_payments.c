/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the payment path without DPDK: the input is first decoded as one payment
 * message (dd_payment_decode on the raw bytes), then read as a sequence of frames (u16 BE length +
 * bytes) into a payment feed (MoldUDP64 with a small reorder window, the payment decoder) whose
 * events run through a chain with the fraud operator, with tiny capacities so that every table
 * fills. Nothing may crash or read out of bounds, and:
 * - a message decodes iff it is 73 bytes of type 'P' version 1, and re-encodes to the same bytes;
 * - the feed hands out payments as two events, the first half then the second, same seq;
 * - the operator decides exactly once per payment, and every decision is consistent: its action
 *   follows from its score and the rule set's thresholds, its reasons are known codes, an invalid
 *   payment has the reason `invalid` alone and score 100.
 *
 * fuzz-sources: dataplane/wire/frame.c dataplane/wire/feed.c dataplane/wire/moldudp64.c dataplane/wire/itch.c dataplane/wire/payment.c ops/event.c ops/op.c ops/cep/mrules.c ops/cep/cep.c ops/cep/symtab.c ops/window/window.c ops/chain.c ops/book/book.c ops/book/book_op.c ops/test/test_ops.c ops/fraud/fraud.c ops/fraud/rules.c $B/gen/fraud_default.c
 * fuzz-libs: -lm
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/feed.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/payment.h"
#include "ops/chain.h"
#include "ops/fraud/fraud.h"

#define CHECK(cond)                                                                                        \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                           \
		}                                                                                          \
	} while (0)

static struct dd_chain chain;
static struct dd_event evbuf[16];
static uint64_t pairs, decisions, cause;

static void run(struct dd_sink *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct dd_event *e = &s->ev[i];
		CHECK(e->type == DD_EV_PAYMENT || e->type == DD_EV_PAYMENT_X);
		/* halves come in order: a first half is followed by its second in the same flush */
		if (e->type == DD_EV_PAYMENT) {
			CHECK(i + 1 < s->n && s->ev[i + 1].type == DD_EV_PAYMENT_X && s->ev[i + 1].seq == e->seq);
			pairs++;
		}
		uint64_t c = ++cause;
		dd_chain_run(&chain, e, &c, 1);
		for (unsigned k = 0; k < chain.emit.n; k++) {
			const struct dd_output *o = &chain.emit.out[k];
			const struct dd_out_decision *d = &o->u.decision;
			const struct dd_frules *r = dd_fraud_rules(dd_chain_state(&chain, DD_OP_FRAUD));
			CHECK(o->type == DD_OUT_DECISION && o->cause == c && e->type == DD_EV_PAYMENT_X);
			CHECK(d->reasons < (1u << DD_R__COUNT));
			if (d->flags & DD_DECISION_INVALID) {
				CHECK(d->reasons == 1u << DD_R_INVALID && d->score == DD_FRAUD_INVALID_SCORE &&
				      d->action == DD_ACT_BLOCK);
			} else {
				unsigned a = d->score >= r->act_block    ? DD_ACT_BLOCK
					     : d->score >= r->act_review ? DD_ACT_REVIEW
					     : d->score >= r->act_verify ? DD_ACT_VERIFY
									 : DD_ACT_APPROVE;
				CHECK(d->action == a && !(d->reasons >> DD_R_INVALID & 1));
			}
			decisions++;
		}
		dd_chain_drain(&chain);
	}
	s->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *cmem, *fmem;
	static size_t clen, flen;
	static struct dd_chain_spec spec;
	static const struct dd_mold_params mp = { .reorder_window = 2, .reorder_timeout = 3 };
	static const struct dd_fraud_params fp = { .payers = 8, .history = 16, .pairs = 8, .devices = 8,
						   .merchants = 8, .merchant_table = 4 };
	struct dd_chain_params cp = { .spec = &spec, .shard = 1, .burst = 1 };
	if (cmem == NULL) {
		if (dd_chain_spec_add(&spec, DD_OP_FRAUD, &fp, sizeof(fp)) != 0)
			abort();
		clen = dd_chain_memsize(&cp);
		flen = dd_feed_memsize(&mp);
		cmem = aligned_alloc(64, (clen + 63) & ~(size_t)63);
		fmem = aligned_alloc(64, (flen + 63) & ~(size_t)63);
	}
	char err[256];
	if (dd_chain_init(&chain, cmem, clen, &cp, err, sizeof(err)) != 0)
		abort();

	/* the raw input as one message */
	struct dd_event two[2];
	int rc = dd_payment_decode(data, size, two);
	bool ok = size == DD_PAY_MSG_LEN && data[0] == DD_PAY_TYPE && data[1] == DD_PAY_VERSION;
	CHECK((rc == 2) == ok);
	if (rc == 2) {
		uint8_t back[DD_PAY_MSG_LEN];
		dd_payment_encode(two, back);
		CHECK(memcmp(back, data, DD_PAY_MSG_LEN) == 0);
	} else {
		CHECK(rc == -EBADMSG || rc == -ENOMSG || rc == -EPROTO);
	}

	/* and as frames to a payment feed */
	struct dd_feed_cfg cfg = { .name = "pay", .kind = DD_FEED_PAYMENT };
	struct dd_feed feed;
	if (dd_feed_init(&feed, 0, &cfg, &mp, fmem, flen) != 0)
		abort();
	struct dd_sink sink = { evbuf, 0, 16, run, NULL };
	pairs = decisions = cause = 0;
	uint64_t now = 0;
	for (size_t i = 0; i + 2 <= size;) {
		size_t n = (size_t)data[i] << 8 | data[i + 1];
		i += 2;
		if (n > size - i)
			n = size - i;
		uint8_t *frame = malloc(n ? n : 1); /* a private copy: reads past it hit ASan's redzone */
		memcpy(frame, data + i, n);
		i += n;
		struct dd_udp_view u;
		if (dd_frame_udp(frame, n, 0, &u) == DD_FRAME_UDP) {
			int line = dd_feed_line_of(&feed, u.dst_ip, u.dst_port, 0);
			dd_feed_rx(&feed, u.payload, u.len, (unsigned)line, now++, &sink);
		}
		free(frame);
	}
	dd_feed_poll(&feed, UINT64_MAX, &sink);
	CHECK(decisions == pairs && pairs == feed.pay.messages);
	return 0;
}
