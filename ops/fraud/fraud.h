/* SPDX-License-Identifier: MIT */
#ifndef DD_OPS_FRAUD_FRAUD_H
#define DD_OPS_FRAUD_FRAUD_H

/*
 * The fraud operator (ops/op.h): one decision per payment, with a score and the reason codes that
 * produced it, from a compiled rule set (ops/fraud/rules.h) and per payer / device / merchant
 * state in fixed-capacity tables.
 *
 * A payment arrives as two events (ops/event.h): the operator keeps the first half and decides on
 * the second, emitting one DD_OUT_DECISION. Payments are one partition: every payment goes through
 * one fraud chain (shard 0) whatever the pipeline shape, so the global features (payers per device,
 * a merchant's first payment) are exact. One lcore scores millions of payments a second; the
 * national peak of UPI is tens of thousands.
 *
 * State (all sized from the parameters at init, nothing allocated after):
 *   payers    open-addressed table: last event time, last location, EWMA of amounts, and a list of
 *             the payer's recent payments in the history pool. An idle payer expires once no rule
 *             could use its state (the rule set's payer_ttl_ns after its last payment, event
 *             time); a new payer takes an expired slot. Table full: the payment is scored without
 *             payer state and counted (payers_full).
 *   history   a payer's six newest (time, amount) live in its slot; older ones spill into a pool
 *             shared by all payers, in blocks of seven, a block reused oldest first. An entry is
 *             dropped once it is older than the largest window plus the late grace before the
 *             payer's latest payment. Reusing a pool entry still kept is counted
 *             (fraud_history_evicted): size fraud.history for the spilled payments of that span.
 *   pairs     (payer, device): the first time the payer used the device. Never expires (the rules
 *             say "never before"); full: counted (pairs_full), the payment scores as a new device.
 *   devices   distinct payers per device. Never expires; full: counted (devices_full).
 *   merchants merchants seen. Never expires; full: counted (merchants_full), scores as new.
 * A payment earlier than its payer's latest (event time) is counted (out_of_order) and scored over
 * every earlier payment its windows reach, as long as it is at most late_grace_s behind that latest
 * one: the payer keeps its payments for the largest window plus the grace. One later still is
 * scored against what is kept.
 */

#include <stdint.h>

#include "ops/fraud/rules.h"
#include "ops/op.h"

/* Actions, in the order of severity. */
enum dd_action { DD_ACT_APPROVE = 0, DD_ACT_VERIFY = 1, DD_ACT_REVIEW = 2, DD_ACT_BLOCK = 3 };

/* Stable name of an action ("approve", "verify", "review", "block"), "?" if out of range. */
const char *dd_action_name(unsigned a);

/* The score an invalid payment gets (with action block and the single reason `invalid`). */
#define DD_FRAUD_INVALID_SCORE 100

struct dd_fraud_params {
	uint32_t payers;         /* payer capacity */
	uint32_t history;        /* history pool entries (payments inside the largest window) */
	uint32_t pairs;          /* (payer, device) capacity */
	uint32_t devices;        /* device capacity */
	uint32_t merchants;      /* merchants-seen capacity */
	uint32_t merchant_table; /* merchant risk table entries a rule set may have */
	uint32_t late_grace_s;   /* how late (behind its payer's latest) a payment is still scored exactly */
};

extern const struct dd_op_ops dd_fraud_op;

/* Sensible capacities for a host (the daemon's defaults; fraud.* config keys override them). */
void dd_fraud_params_default(struct dd_fraud_params *p);

/*
 * Install rule set `r` in a fraud operator's state (copied: `r` may be freed after). Control plane
 * only: before the chain runs, or by replay at a journaled rules record. Returns 0, or -EINVAL if
 * its merchant table does not fit the operator's merchant_table capacity.
 */
int dd_fraud_install(void *state, const struct dd_frules *r);

/*
 * Put rule set `r` in force without copying it (a reload, on the lcore, at an event boundary): the
 * caller keeps `r` alive and unchanged until another takes its place. A snapshot saves its
 * content (and a load takes it into the state's own copy). Returns 0, or -EINVAL if its merchant
 * table does not fit the operator's capacity. Allocates nothing; O(rules).
 */
int dd_fraud_use(void *state, const struct dd_frules *r);

/* The rule set in force (its version goes into every decision's rule_version). */
const struct dd_frules *dd_fraud_rules(const void *state);

/* What a run decided, for the reports: how often each reason fired, and the first blocked payments. */
#define DD_FRAUD_KEEP_BLOCKED 5
struct dd_fraud_stats {
	uint64_t reasons[DD_R__COUNT];   /* decisions each reason code was part of */
	unsigned nblocked;               /* blocked[0..nblocked): the first blocked decisions */
	struct dd_out_decision blocked[DD_FRAUD_KEEP_BLOCKED];
};

void dd_fraud_stats(const void *state, struct dd_fraud_stats *out);

/* A model's score for a payment, 0..100 (the hook of rule `model_score`): none is built in. */
typedef uint32_t (*dd_fraud_model_fn)(const struct dd_ev_payment *p, const struct dd_ev_payment_x *x);

/* Set the model hook (NULL: rule model_score never fires). It must be deterministic: replay calls it. */
void dd_fraud_set_model(void *state, dd_fraud_model_fn fn);

#endif /* DD_OPS_FRAUD_FRAUD_H */
