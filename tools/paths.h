/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_PATHS_H
#define DD_TOOLS_PATHS_H

/* Files and directories for the benchmarks and tools: what they look for around themselves. */

#include <stdbool.h>
#include <stddef.h>

/* Is `path` a regular file? */
bool dd_path_is_file(const char *path);

/* Is `name` an executable on $PATH (or /usr/bin:/bin without one)? */
bool dd_path_on_path(const char *name);

/*
 * The repository root: the directory holding `marker` (a path relative to it, "bench/peer_cep.py"),
 * the working directory or one of the five above the running binary. Into root[len]; false if none.
 */
bool dd_path_find_root(const char *marker, char *root, size_t len);

#endif /* DD_TOOLS_PATHS_H */
