/* SPDX-License-Identifier: MIT */
#include "ops/event.h"

static const char *const dd_event_names[DD_EV__COUNT] = {
	[DD_EV_NONE] = "none",
	[DD_EV_SYSTEM] = "system",
	[DD_EV_DIRECTORY] = "directory",
	[DD_EV_TRADING_STATE] = "trading_state",
	[DD_EV_ADD] = "add",
	[DD_EV_EXEC] = "exec",
	[DD_EV_EXEC_PRICE] = "exec_price",
	[DD_EV_CANCEL] = "cancel",
	[DD_EV_DELETE] = "delete",
	[DD_EV_REPLACE] = "replace",
	[DD_EV_TRADE] = "trade",
	[DD_EV_CROSS] = "cross",
	[DD_EV_BROKEN] = "broken",
	[DD_EV_MARK] = "mark",
	[DD_EV_TICK] = "tick",
	[DD_EV_PAYMENT] = "payment",
	[DD_EV_PAYMENT_X] = "payment_x",
	[DD_EV_RULES] = "rules",
};

const char *dd_event_type_name(unsigned type)
{
	return type < DD_EV__COUNT ? dd_event_names[type] : "?";
}
