/* SPDX-License-Identifier: MIT */
#include "ops/op.h"

#include "ops/book/book_op.h"
#include "ops/cep/cep.h"
#include "ops/window/window.h"
#include "ops/fraud/fraud.h"
#include "ops/test/test_ops.h"

/* Every operator kind dadar knows. A new operator adds itself here and to enum dd_op_id. */
static const struct dd_op_ops *const kinds[] = {
	&dd_book_op,
	&dd_fraud_op,
	&dd_window_op,
	&dd_cep_op,
	&dd_test_multi_op,
	&dd_test_timer_op,
};

const struct dd_op_ops *dd_op_find(unsigned id)
{
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->id == id)
			return kinds[i];
	return NULL;
}

const char *dd_op_name(unsigned id)
{
	const struct dd_op_ops *o = dd_op_find(id);
	return o != NULL ? o->name : "?";
}

const char *dd_output_type_name(unsigned type)
{
	static const char *const names[DD_OUT__COUNT] = { [DD_OUT_NONE] = "none", [DD_OUT_BBO] = "bbo",
							  [DD_OUT_TEST] = "test",
							  [DD_OUT_DECISION] = "decision", [DD_OUT_ALERT] = "alert",
							  [DD_OUT_WINDOW] = "window", [DD_OUT_LATE] = "late",
							  [DD_OUT_TRADE] = "trade", [DD_OUT_MATCHED] = "matched" };
	return type < DD_OUT__COUNT ? names[type] : "?";
}
