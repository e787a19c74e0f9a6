/* SPDX-License-Identifier: MIT */
#include "dataplane/config/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Is stderr the journal? JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected. */
bool dd_log_to_journal(void)
{
	static int known = -1;
	if (known < 0) {
		const char *js = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;
		known = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
			(unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	}
	return known;
}

void dd_log(enum dd_log_prio prio, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bool j = dd_log_to_journal();
	/* each line its own entry in the journal: each gets the prefix (and "dadar: " the first) */
	for (char *line = msg, *nl;; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (j)
			fprintf(stderr, "<%d>", (int)prio);
		fprintf(stderr, "%s%s\n", line == msg ? "dadar: " : "", line);
		if (nl == NULL || nl[1] == '\0')
			break;
	}
	fflush(stderr);
}
