/* SPDX-License-Identifier: MIT */
#ifndef DD_TOOLS_CLI_H
#define DD_TOOLS_CLI_H

/* Command-line values the tools and the benchmarks' peers share. Strict: no sign, no blanks, no suffix. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* An unsigned decimal in [min, max] into *out; false (and *out untouched) otherwise. */
bool dd_cli_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "IP:PORT" (a dotted IPv4 address, or with `resolve` a host name; a port 1..65535) into *a. */
bool dd_cli_ipv4_port(const char *s, bool resolve, struct sockaddr_in *a);

#endif /* DD_TOOLS_CLI_H */
