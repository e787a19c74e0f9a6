/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_MRULES_CLI_H
#define DD_TOOLS_MRULES_CLI_H

#include <stdbool.h>

/* Is the file a market rule file (a line starting with PATTERN or WINDOW) rather than fraud rules? */
bool dd_mcli_is_market(const char *path);

/* dadar-rules check of a market rule file: 0 valid (a summary on stdout), 1 errors (on stderr). */
int dd_mcli_check(const char *path);

/* dadar-rules run RULES STREAM: 0, 1 on a bad file (docs/patterns.md has the stream's format). */
int dd_mcli_run(const char *rules, const char *stream);

#endif /* DD_TOOLS_MRULES_CLI_H */
