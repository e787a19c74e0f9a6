/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the whole receive path without DPDK: each input is a sequence of frames
 * (u16 BE length + bytes) parsed by dd_frame_udp(), handed to a catch-all feed (MoldUDP64 with a
 * small reorder window, ITCH decoding) whose events go into a small order book. Nothing may crash
 * or read out of bounds, and the book's invariants must hold after every input. Checksums are not
 * verified, so that mutated payloads reach the MoldUDP64 and ITCH layers.
 *
 * fuzz-sources: dataplane/wire/frame.c dataplane/wire/feed.c dataplane/wire/moldudp64.c dataplane/wire/itch.c dataplane/wire/payment.c ops/event.c ops/book/book.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/feed.h"
#include "dataplane/wire/frame.h"
#include "ops/book/book.h"

static struct dd_book book;
static struct dd_event evbuf[64];

static void apply(struct dd_sink *s)
{
	for (unsigned i = 0; i < s->n; i++)
		dd_book_apply(&book, &s->ev[i]);
	s->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *bmem, *fmem;
	static size_t blen, flen;
	static const struct dd_book_params bp = { 64, 256, 256 };
	static const struct dd_mold_params mp = { .reorder_window = 2, .reorder_timeout = 3 };
	if (bmem == NULL) {
		blen = dd_book_memsize(&bp);
		flen = dd_feed_memsize(&mp);
		bmem = aligned_alloc(64, blen);
		fmem = aligned_alloc(64, (flen + 63) & ~(size_t)63);
	}
	dd_book_init(&book, bmem, blen, &bp);
	struct dd_feed_cfg cfg = { .name = "fuzz" };
	struct dd_feed feed;
	if (dd_feed_init(&feed, 0, &cfg, &mp, fmem, flen) != 0)
		abort();
	struct dd_sink sink = { evbuf, 0, 64, apply, NULL };

	uint64_t now = 0;
	for (size_t i = 0; i + 2 <= size;) {
		size_t n = (size_t)data[i] << 8 | data[i + 1];
		i += 2;
		if (n > size - i)
			n = size - i;
		/* a private copy, so reads past the frame hit ASan's redzone */
		uint8_t *frame = malloc(n ? n : 1);
		memcpy(frame, data + i, n);
		i += n;
		struct dd_udp_view u;
		if (dd_frame_udp(frame, n, 0, &u) == DD_FRAME_UDP) {
			if (u.payload < frame || u.payload + u.len > frame + n)
				abort();
			int line = dd_feed_line_of(&feed, u.dst_ip, u.dst_port, 0);
			dd_feed_rx(&feed, u.payload, u.len, (unsigned)line, now++, &sink);
		}
		free(frame);
	}
	dd_feed_poll(&feed, UINT64_MAX, &sink);
	char why[256];
	if (dd_book_check(&book, why, sizeof(why)) != 0) {
		fprintf(stderr, "book invariant broken: %s\n", why);
		abort();
	}
	return 0;
}
