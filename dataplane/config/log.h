/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_CONFIG_LOG_H
#define DD_DATAPLANE_CONFIG_LOG_H

/*
 * dadar's own messages: "dadar: ..." lines on stderr. When stderr is the systemd journal (the
 * JOURNAL_STREAM variable names the very stream stderr is), each line starts with its syslog
 * priority, <3> error, <4> warning, <5> notice, <6> info, which journald files the line at (and
 * strips): `journalctl -u dadar -p warning` then shows what went wrong. Anywhere else the lines are
 * as they always were. Control plane only: an lcore never logs.
 */

#include <stdbool.h>

enum dd_log_prio { DD_LOG_ERR = 3, DD_LOG_WARNING = 4, DD_LOG_NOTICE = 5, DD_LOG_INFO = 6 };

void dd_log(enum dd_log_prio prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Is stderr the journal (so that lines should carry their priority)? */
bool dd_log_to_journal(void);

#endif /* DD_DATAPLANE_CONFIG_LOG_H */
