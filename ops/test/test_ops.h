/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_TEST_TEST_OPS_H
#define DD_OPS_TEST_TEST_OPS_H

/*
 * Two operators that exist to test the chain, the pipeline shapes, the journal and replay with
 * something other than the book (they are in the daemon too: `--chain-market
 * book,test_multi,test_timer`). Their state is per key (ITCH: the stock locate, taken mod 65536), so
 * like every keyed operator their outputs are the same whatever shard a key lands on: in every
 * pipeline shape, in replay and after recovery.
 *
 *   test_multi  emits n = (seq + key) % (max + 1) outputs for every event that is not a system event
 *               (so 0..max, several per event), each DD_OUT_TEST rule 1 with v[0] = its index among
 *               them, v[1] = n, v[2] = events seen for the event's key (this one included),
 *               v[3] = outputs of earlier operators about that key it consumed so far.
 *   test_timer  time-driven: counts the events (system events aside) of keys 0..DD_TEST_TIMER_KEYS-1, and when the
 *               watermark crosses a multiple of period_ns emits, for each of those keys that had
 *               events since its last firing (in key order), one DD_OUT_TEST rule 2 with key = the
 *               key, v[0] = the last multiple crossed, v[1] = its events counted since its last
 *               firing, v[2] = multiples crossed at once.
 */

#include <stdint.h>

#include "ops/op.h"

#define DD_TEST_MULTI_MAX 8
#define DD_TEST_TIMER_KEYS 8

struct dd_test_multi_params {
	uint32_t max; /* most outputs per event, 1..DD_TEST_MULTI_MAX */
};

struct dd_test_timer_params {
	uint64_t period_ns; /* >= 1 */
};

extern const struct dd_op_ops dd_test_multi_op;
extern const struct dd_op_ops dd_test_timer_op;

#endif /* DD_OPS_TEST_TEST_OPS_H */
