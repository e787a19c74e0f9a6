/* SPDX-License-Identifier: MIT */
#include "tools/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool dd_path_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool dd_path_on_path(const char *name)
{
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/usr/bin:/bin";
	for (const char *p = path; *p != '\0';) {
		const char *end = strchr(p, ':');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		char full[PATH_MAX];
		if (n > 0 && (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)n, p, name) < sizeof(full) &&
		    access(full, X_OK) == 0)
			return true;
		p += n + (end != NULL);
	}
	return false;
}

/* Does directory `dir` hold `marker`? Then it is the root. */
static bool holds(const char *dir, const char *marker, char *root, size_t len)
{
	char f[PATH_MAX + 64];
	if ((size_t)snprintf(f, sizeof(f), "%s/%s", dir, marker) >= sizeof(f) || !dd_path_is_file(f))
		return false;
	snprintf(root, len, "%s", dir);
	return true;
}

bool dd_path_find_root(const char *marker, char *root, size_t len)
{
	char p[PATH_MAX];
	if (getcwd(p, sizeof(p)) != NULL && holds(p, marker, root, len))
		return true;
	ssize_t n = readlink("/proc/self/exe", p, sizeof(p) - 1);
	if (n <= 0)
		return false;
	p[n] = '\0';
	for (int up = 0; up < 5; up++) {
		char *slash = strrchr(p, '/');
		if (slash == NULL || slash == p)
			return false;
		*slash = '\0';
		if (holds(p, marker, root, len))
			return true;
	}
	return false;
}
