/* SPDX-License-Identifier: MIT */
/*
 * dadar-tail: reads dadar's output stream (docs/wire-formats.md, "Output messages (the output
 * stream)") from a kernel UDP socket or a capture, puts it back in sequence with the request
 * server's help (tools/tail.h), and prints each output as the JSON line dadar's --output writes, or
 * as a table; or reads the outputs dadar published to NATS JetStream and prints them as they are.
 * docs/man/dadar-tail.1 documents every option, the summary line and the exit statuses.
 *
 * Everything read is untrusted: datagrams, frames and pcap records are checked before use and
 * counted when they are bad; nothing in them is printed unescaped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "dataplane/config/config.h"
#include "dataplane/journal/recovery.h"
#include "dataplane/wire/be.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/moldudp64.h"
#include "dataplane/wire/outwire.h"
#include "ops/cep/mrules.h"
#include "ops/cep/symtab.h"
#include "ops/fraud/fraud.h"
#include "ops/fraud/rules.h"
#include "ops/op.h"
#include "ops/output.h"
#include "tools/cli.h"
#include "tools/pcapr.h"
#include "tools/tail.h"

#define PROG "dadar-tail"

/* Exit statuses, documented in usage() and docs/man/dadar-tail.1. */
enum {
	EX_OK = 0,      /* nothing lost */
	EX_FAIL = 1,    /* the input cannot be opened or read (file, socket, NATS), out of memory */
	EX_USAGE = 2,   /* bad command line, or a --rules file that does not compile */
	EX_LOST = 3,    /* messages were lost (or, from NATS, outputs are missing from the stream) */
};

#define DEFAULT_PORT 26490
#define MAX_RULE_SETS 64
#define MAX_FRAME DD_PCAPR_MAX_FRAME

enum source { SRC_NONE, SRC_GROUP, SRC_PCAP, SRC_NATS };
enum format { FMT_JSON, FMT_TABLE };

struct opts {
	enum source src;
	const char *group, *iface, *pcap, *request, *nats, *nats_stream, *instance;
	unsigned port;
	uint64_t timeout_ms, tries, hold, from, nats_from, count, idle_ms, drop_every;
	enum format format;
	const char *rules[MAX_RULE_SETS];
	unsigned nrules;
};

struct app {
	struct opts o;
	struct dd_tail *tail;
	struct dd_mrules *sets[MAX_RULE_SETS];
	unsigned nsets;
	uint64_t printed;
	/* the socket */
	int fd;
	struct sockaddr_in req;
	uint64_t stream_dgrams, dropped, send_errors;
	/* the capture */
	uint64_t frames, skipped_frames;
	bool read_error;
};

/* SIGINT/SIGTERM: the one store the handler does; the loops poll it. */
static atomic_int quit;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&quit, 1, memory_order_relaxed); /* read by the same thread's loop */
}

static int say(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " --group GROUP:PORT [--interface IP] [--request HOST:PORT] [options]\n"
		"       " PROG " --pcap FILE [--port PORT] [options]\n"
		"       " PROG " --nats URL [--nats-stream NAME] [--instance NAME] [--nats-from SEQ] [--count N]\n"
		"                  [--idle-exit MS]\n"
		"\n"
		"Prints dadar's released outputs, in sequence, as they arrive on its output stream (one MoldUDP64\n"
		"session, sent with dadar --output-udp) or as dadar published them to NATS JetStream (--nats).\n"
		"\n"
		"input (exactly one):\n"
		"  --group GROUP:PORT     a kernel UDP socket on PORT; a multicast GROUP is joined, a unicast\n"
		"                         address just binds the port\n"
		"  --interface IP         the interface (its IPv4 address) to join the group on (default: the\n"
		"                         kernel's choice); with a unicast --group, the address to bind\n"
		"  --pcap FILE            a capture (pcap; Ethernet, Linux cooked or raw IP): the UDP datagrams to\n"
		"                         --port, read to the end\n"
		"  --port PORT            --pcap: the stream's UDP port (default %u); datagrams from PORT + 1\n"
		"                         are answers to requests\n"
		"  --nats URL             read the outputs from JetStream (nats://HOST:PORT) instead: an ordered\n"
		"                         consumer on dadar.INSTANCE.> from the start of the stream\n"
		"\n"
		"sequencing (--group, --pcap):\n"
		"  --request HOST:PORT    ask dadar's request server for missing messages (output_udp.request;\n"
		"                         at most 1000 a request); answers come back to the --group socket\n"
		"  --request-timeout-ms MS  ask again after MS ms (default 100); without --request, how long a\n"
		"                         gap waits for a late datagram before it is lost (a capture: to the end)\n"
		"  --request-tries N      requests for a gap before it is lost (default 20)\n"
		"  --hold N               messages held past a gap while it is filled (default 1000000); beyond,\n"
		"                         the oldest missing ones are lost\n"
		"  --from SEQ             first sequence number wanted (default: the first datagram's); with\n"
		"                         --request, --from 1 recovers a session from its start\n"
		"  --drop-every N         testing: drop every N-th datagram of the stream (never an answer) as\n"
		"                         if the network lost it\n"
		"\n"
		"output:\n"
		"  --format json|table    json (default): each output as the JSON line dadar's --output writes;\n"
		"                         table: one aligned line per output (seq, lsn, type, symbol or key,\n"
		"                         the type's main fields, prices with 4 decimals)\n"
		"  --rules FILE[,FILE...] market rule set whose names (patterns, windows, measures,\n"
		"                         aggregates) alerts and windows carry, as in dadar: the files of one\n"
		"                         argument are compiled together like dadar's rules = A,B (dadar's\n"
		"                         --rules A --rules B is --rules A,B here); repeat --rules for other\n"
		"                         versions of a reloaded rule set (each names the outputs of its version)\n"
		"\n"
		"ending (default: at the end of session once nothing is missing; a capture: at its end):\n"
		"  --count N              stop after N outputs\n"
		"  --idle-exit MS         stop after MS ms without a datagram (--nats: a message)\n"
		"  SIGINT, SIGTERM        stop\n"
		"\n"
		"--nats:\n"
		"  --nats-stream NAME     the JetStream stream (default DADAR)\n"
		"  --instance NAME        dadar's instance name: subjects dadar.NAME.<type> (default dadar)\n"
		"  --nats-from SEQ        start at stream sequence SEQ instead of the first message\n"
		"\n"
		"  --help, --version\n"
		"\n"
		"At exit, one line on standard error: session=, datagrams= (received, answers and dropped\n"
		"included), answers=, dropped= (--drop-every), messages= (outputs printed), gaps=, requests=,\n"
		"requested= (messages asked for), recovered= (missing messages that arrived), duplicates=, lost=,\n"
		"malformed= (messages dadar-tail could not decode, by reason: short, bad_type, bad_version,\n"
		"bad_length), bad_datagrams= (dropped whole: short, msg_overrun, count_mismatch, trailing,\n"
		"bad_seq, seq_jump), heartbeats=, end_of_session=yes|no; and when not zero: stale= (datagrams of\n"
		"a replaced session), after_end=, session_changes=, skipped_frames= (--pcap: not datagrams to\n"
		"--port), send_errors=. --nats: messages=, duplicates=, gaps=, lost=, late= (outputs that came\n"
		"after later ones, within 65536 of the highest: printed then, not lost), first=, last= (stream\n"
		"sequence numbers).\n"
		"\n"
		"exit status: 0 nothing lost; 1 the input cannot be opened or read (file, socket, NATS); 2 bad\n"
		"command line or a --rules file that does not compile; 3 messages were lost (--nats: outputs\n"
		"missing from the stream)\n",
		DEFAULT_PORT);
}

/* ---- parsing --------------------------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const char *const with_value[] = {
		"--group", "--interface", "--pcap", "--port", "--request", "--request-timeout-ms", "--request-tries",
		"--hold", "--from", "--drop-every", "--format", "--rules", "--count", "--idle-exit", "--nats",
		"--nats-stream", "--instance", "--nats-from",
	};
	bool seen_port = false, seen_timeout = false, seen_tries = false, seen_hold = false, seen_from = false;
	bool seen_format = false, seen_stream = false, seen_instance = false, seen_nfrom = false;
	*o = (struct opts){ .port = DEFAULT_PORT, .timeout_ms = 100, .tries = 20, .hold = 1000000,
			    .nats_stream = "DADAR", .instance = "dadar" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		char name[40];
		const char *eq = strchr(a, '=');
		size_t nl = eq != NULL && strncmp(a, "--", 2) == 0 ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name))
			return say(EX_USAGE, "unknown option '%s' (see --help)", a);
		memcpy(name, a, nl);
		name[nl] = '\0';
		bool takes = false;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			takes |= strcmp(name, with_value[k]) == 0;
		if (!takes)
			return say(EX_USAGE, "unknown option '%s' (see --help)", a);
		if (eq != NULL && nl < strlen(a))
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			return say(EX_USAGE, "%s needs a value (see --help)", name);
		uint64_t x;
#define NUM(field, min, max, what)                                                                          \
	do {                                                                                                \
		if (!dd_cli_u64(v, (min), (max), &x))                                                        \
			return say(EX_USAGE, "%s '%s': must be %s", name, v, what);                         \
		o->field = x;                                                                               \
	} while (0)
		if (strcmp(name, "--group") == 0 || strcmp(name, "--pcap") == 0 || strcmp(name, "--nats") == 0) {
			enum source s = name[2] == 'g' ? SRC_GROUP : name[2] == 'p' ? SRC_PCAP : SRC_NATS;
			if (o->src != SRC_NONE)
				return say(EX_USAGE, "one input only: --group, --pcap or --nats (%s given after another)", name);
			o->src = s;
			if (s == SRC_GROUP)
				o->group = v;
			else if (s == SRC_PCAP)
				o->pcap = v;
			else
				o->nats = v;
		} else if (strcmp(name, "--interface") == 0) {
			o->iface = v;
		} else if (strcmp(name, "--port") == 0) {
			NUM(port, 1, 65534, "a UDP port, 1..65534 (its answers come from PORT + 1)");
			seen_port = true;
		} else if (strcmp(name, "--request") == 0) {
			o->request = v;
		} else if (strcmp(name, "--request-timeout-ms") == 0) {
			NUM(timeout_ms, 1, 3600000, "milliseconds, 1..3600000");
			seen_timeout = true;
		} else if (strcmp(name, "--request-tries") == 0) {
			NUM(tries, 1, 1000000, "a count, 1..1000000");
			seen_tries = true;
		} else if (strcmp(name, "--hold") == 0) {
			NUM(hold, 1, DD_TAIL_MAX_HOLD, "messages, 1..67108864");
			seen_hold = true;
		} else if (strcmp(name, "--from") == 0) {
			NUM(from, 1, UINT64_MAX, "a sequence number, from 1");
			seen_from = true;
		} else if (strcmp(name, "--drop-every") == 0) {
			NUM(drop_every, 1, UINT64_MAX, "a count, from 1");
		} else if (strcmp(name, "--format") == 0) {
			if (strcmp(v, "json") == 0)
				o->format = FMT_JSON;
			else if (strcmp(v, "table") == 0)
				o->format = FMT_TABLE;
			else
				return say(EX_USAGE, "--format '%s': json or table", v);
			seen_format = true;
		} else if (strcmp(name, "--rules") == 0) {
			if (o->nrules == MAX_RULE_SETS)
				return say(EX_USAGE, "--rules: at most %u rule sets", MAX_RULE_SETS);
			o->rules[o->nrules++] = v;
		} else if (strcmp(name, "--count") == 0) {
			NUM(count, 1, UINT64_MAX, "a count, from 1");
		} else if (strcmp(name, "--idle-exit") == 0) {
			NUM(idle_ms, 1, 86400000, "milliseconds, 1..86400000");
		} else if (strcmp(name, "--nats-stream") == 0) {
			o->nats_stream = v;
			seen_stream = true;
		} else if (strcmp(name, "--instance") == 0) {
			o->instance = v;
			seen_instance = true;
		} else if (strcmp(name, "--nats-from") == 0) {
			NUM(nats_from, 1, UINT64_MAX, "a stream sequence number, from 1");
			seen_nfrom = true;
		}
#undef NUM
	}
	if (o->src == SRC_NONE)
		return say(EX_USAGE, "no input: give --group GROUP:PORT, --pcap FILE or --nats URL (see --help)");
	if (o->src != SRC_GROUP && (o->iface != NULL || o->request != NULL))
		return say(EX_USAGE, "%s goes with --group only%s", o->iface != NULL ? "--interface" : "--request",
			   o->src == SRC_PCAP && o->request != NULL ? ": a capture cannot be asked for what it lacks" : "");
	if (o->src != SRC_PCAP && seen_port)
		return say(EX_USAGE, "--port goes with --pcap only (--group GROUP:PORT names the port)");
	if (o->src != SRC_NATS && (seen_stream || seen_instance || seen_nfrom))
		return say(EX_USAGE, "%s goes with --nats only",
			   seen_stream ? "--nats-stream" : seen_instance ? "--instance" : "--nats-from");
	if (o->src == SRC_NATS && (seen_timeout || seen_tries || seen_hold || seen_from || o->drop_every ||
				   o->nrules || seen_format))
		return say(EX_USAGE, "--nats prints the JSON lines as dadar published them: --format, --rules, --hold, "
			   "--from, --drop-every and the --request options go with --group or --pcap");
	if (o->src == SRC_PCAP && (seen_timeout || seen_tries))
		return say(EX_USAGE, "--request-timeout-ms and --request-tries go with --group: in a capture a gap "
			   "waits for a late datagram until the end");
	if (o->src == SRC_PCAP && o->idle_ms)
		return say(EX_USAGE, "--idle-exit goes with --group or --nats: a capture is read to its end");
	if (o->src == SRC_NATS && (strlen(o->instance) == 0 || strpbrk(o->instance, ".*> \t") != NULL))
		return say(EX_USAGE, "--instance '%s': a NATS subject token (no '.', '*', '>' or blanks)", o->instance);
	return EX_OK;
}

/* ---- rules --------------------------------------------------------------------------------------------- */

/* Compile each --rules argument as dadar compiles its `rules` (the same files behind the same
 * markers) and register it for dd_output_json(). */
static int load_rules(struct app *a)
{
	struct dd_config *c = malloc(sizeof(*c));
	if (c == NULL)
		return say(EX_FAIL, "out of memory");
	int rc = EX_OK;
	for (unsigned i = 0; i < a->o.nrules && rc == EX_OK; i++) {
		dd_config_defaults(c);
		if (strlen(a->o.rules[i]) >= sizeof(c->rules)) {
			rc = say(EX_USAGE, "--rules '%.60s...': too long a list", a->o.rules[i]);
			break;
		}
		snprintf(c->rules, sizeof(c->rules), "%s", a->o.rules[i]);
		struct dd_mrules *img = NULL;
		char *text = NULL, err[768];
		size_t len = 0;
		if (dd_config_market_rules(c, &img, &text, &len, err, sizeof(err)) != 0) {
			rc = say(EX_USAGE, "--rules %s: %s", a->o.rules[i], err);
			break;
		}
		free(text);
		if (img == NULL) {
			rc = say(EX_USAGE, "--rules '%s': no file", a->o.rules[i]);
			break;
		}
		a->sets[a->nsets++] = img;
		dd_output_json_rules(img);
	}
	free(c);
	return rc;
}

/* The rule set that names outputs of rule set version `v` (the last given of that version). */
static const struct dd_mrules *set_of(const struct app *a, unsigned v)
{
	for (unsigned i = a->nsets; i-- > 0;)
		if (a->sets[i]->version == v)
			return a->sets[i];
	return NULL;
}

/* ---- printing ------------------------------------------------------------------------------------------ */

/* Event time: a time of day for times since midnight (ITCH), else the nanoseconds. */
static const char *tod(char *buf, size_t len, uint64_t ns)
{
	if (ns < 86400000000000ull) {
		uint64_t ms = ns / 1000000;
		snprintf(buf, len, "%02u:%02u:%02u.%03u", (unsigned)(ms / 3600000), (unsigned)(ms / 60000 % 60),
			 (unsigned)(ms / 1000 % 60), (unsigned)(ms % 1000));
	} else {
		snprintf(buf, len, "%" PRIu64, ns);
	}
	return buf;
}

static const char *price4(char *buf, size_t len, uint32_t p)
{
	snprintf(buf, len, "%u.%04u", p / 10000, p % 10000);
	return buf;
}

/* ,"name=value" pairs of measures or aggregates (m0.. without a rule set). */
static int values_text(char *buf, size_t room, const char (*names)[DD_MR_NAME], const int64_t *v, unsigned n,
		       unsigned null_mask)
{
	int t = 0;
	for (unsigned i = 0; i < n && t >= 0 && (size_t)t < room; i++) {
		char dflt[8];
		snprintf(dflt, sizeof(dflt), "m%u", i);
		const char *name = names != NULL ? names[i] : dflt;
		if (null_mask >> i & 1u)
			t += snprintf(buf + t, room - (size_t)t, "  %s=null", name);
		else
			t += snprintf(buf + t, room - (size_t)t, "  %s=%" PRId64, name, v[i]);
	}
	return t;
}

#define TABLE_HEADER "       seq        lsn  type      symbol/key  fields\n"

/* One table line (with its newline) into buf; returns its length (snprintf's). */
static int table_line(const struct app *a, char *buf, size_t len, uint64_t seq, uint64_t lsn, const struct dd_output *o)
{
	char key[24], p1[24], p2[24], t1[24], t2[24], t3[24];
	bool sym = o->type == DD_OUT_ALERT || o->type == DD_OUT_MATCHED || o->type == DD_OUT_WINDOW ||
		   o->type == DD_OUT_LATE;
	if (sym) {
		dd_symtab_name(o->symbol, key);
		for (unsigned i = 0; key[i] != 0; i++) /* the feed's bytes: printable or '?' */
			if (key[i] < 0x21 || key[i] > 0x7e)
				key[i] = '?';
	} else if (o->type == DD_OUT_BBO) {
		snprintf(key, sizeof(key), "%u", o->u.bbo.locate);
	} else if (o->type == DD_OUT_DECISION) {
		snprintf(key, sizeof(key), "%" PRIu64, o->u.decision.payer);
	} else {
		snprintf(key, sizeof(key), "%u", o->key);
	}
	int n = snprintf(buf, len, "%10" PRIu64 " %10" PRIu64 "  %-9s %-11s ", seq, lsn, dd_output_type_name(o->type), key);
	if (n < 0 || (size_t)n >= len)
		return n;
	size_t room = len - (size_t)n;
	char *b = buf + n;
	int t = 0;
	const struct dd_mrules *r = set_of(a, o->rule_version);
	switch (o->type) {
	case DD_OUT_BBO: {
		const struct dd_out_bbo *q = &o->u.bbo;
		char bs[24], as[24];
		bool bid = q->bid_orders != 0 || q->bid_shares != 0, ask = q->ask_orders != 0 || q->ask_shares != 0;
		snprintf(bs, sizeof(bs), "%" PRIu64, q->bid_shares);
		snprintf(as, sizeof(as), "%" PRIu64, q->ask_shares);
		t = snprintf(b, room, "%9s @ %-10s | %10s x %-9s  orders %u | %u", bid ? bs : "-",
			     bid ? price4(p1, sizeof(p1), q->bid_price) : "-", ask ? price4(p2, sizeof(p2), q->ask_price) : "-",
			     ask ? as : "-", q->bid_orders, q->ask_orders);
		break;
	}
	case DD_OUT_DECISION: {
		const struct dd_out_decision *d = &o->u.decision;
		char cur[4] = { 0 };
		for (unsigned i = 0; i < 3; i++)
			cur[i] = d->currency[i] >= 'A' && d->currency[i] <= 'Z' ? d->currency[i] : '?';
		t = snprintf(b, room, "txn %" PRIu64 "  amount %" PRId64 " %s  score %u  %s%s  reasons ", d->txn_id, d->amount,
			     cur, d->score, dd_action_name(d->action), (d->flags & DD_DECISION_OUT_OF_ORDER) ? " (out of order)" : "");
		unsigned k = 0;
		for (unsigned rr = 0; t >= 0 && (size_t)t < room && rr < DD_R__COUNT; rr++)
			if (d->reasons >> rr & 1)
				t += snprintf(b + t, room - (size_t)t, "%s%s", k++ ? "," : "", dd_reason_name(rr));
		if (k == 0 && t >= 0 && (size_t)t < room)
			t += snprintf(b + t, room - (size_t)t, "-");
		break;
	}
	case DD_OUT_ALERT: {
		const struct dd_out_alert *al = &o->u.alert;
		const struct dd_mr_pattern *p = r != NULL && o->rule < r->npatterns ? &r->pattern[o->rule] : NULL;
		char pname[24];
		snprintf(pname, sizeof(pname), "pattern%u", o->rule);
		t = snprintf(b, room, "%-16s %s - %s  events %u%s", p != NULL ? p->name : pname, tod(t1, sizeof(t1), al->first_ns),
			     tod(t2, sizeof(t2), al->last_ns), al->events, al->timeout ? " (timeout)" : "");
		char mnames[DD_MR_MAX_MEASURES][DD_MR_NAME];
		if (p != NULL)
			for (unsigned i = 0; i < DD_MR_MAX_MEASURES; i++)
				memcpy(mnames[i], p->measure[i].name, DD_MR_NAME);
		unsigned nm = al->nmeasures > DD_MR_MAX_MEASURES ? DD_MR_MAX_MEASURES : al->nmeasures;
		if (t >= 0 && (size_t)t < room)
			t += values_text(b + t, room - (size_t)t, p != NULL ? (const char(*)[DD_MR_NAME])mnames : NULL,
					 al->measure, nm, al->null_mask);
		break;
	}
	case DD_OUT_MATCHED: {
		/* the pattern, part/parts (from 1), then each ref: feed:seq, or window@end, [late] if late */
		const struct dd_out_matched *m = &o->u.matched;
		const struct dd_mr_pattern *p = r != NULL && o->rule < r->npatterns ? &r->pattern[o->rule] : NULL;
		char pname[24];
		snprintf(pname, sizeof(pname), "pattern%u", o->rule);
		t = snprintf(b, room, "%-16s part %u/%u ", p != NULL ? p->name : pname, m->part + 1u,
			     (unsigned)m->parts);
		unsigned nr = m->n < DD_MATCHED_REFS ? m->n : DD_MATCHED_REFS;
		for (unsigned i = 0; i < nr && t >= 0 && (size_t)t < room; i++) {
			uint64_t ref = m->ref[i];
			if (!dd_ref_is_window(ref)) {
				t += snprintf(b + t, room - (size_t)t, " %u:%" PRIu64, dd_ref_feed(ref), dd_ref_low(ref));
				continue;
			}
			unsigned wi = dd_ref_window_index(ref);
			char wname[24];
			snprintf(wname, sizeof(wname), "window%u", wi); /* as the JSON line names it */
			const char *name = r != NULL && wi < r->nwindows ? r->window[wi].name : wname;
			t += snprintf(b + t, room - (size_t)t, " %s@%s%s", name, tod(t1, sizeof(t1), dd_ref_low(ref)),
				      dd_ref_late(ref) ? "[late]" : "");
		}
		break;
	}
	case DD_OUT_WINDOW:
	case DD_OUT_LATE: {
		const struct dd_mr_window *w = r != NULL && o->rule < r->nwindows ? &r->window[o->rule] : NULL;
		char wname[24];
		snprintf(wname, sizeof(wname), "window%u", o->rule);
		if (o->type == DD_OUT_LATE) {
			const struct dd_out_late *l = &o->u.late;
			t = snprintf(b, room, "%-16s time %s  window end %s  watermark %s", w != NULL ? w->name : wname,
				     tod(t1, sizeof(t1), l->time), tod(t2, sizeof(t2), l->window_end),
				     tod(t3, sizeof(t3), l->watermark));
			break;
		}
		const struct dd_out_window *v = &o->u.window;
		t = snprintf(b, room, "%-16s %s - %s%s", w != NULL ? w->name : wname, tod(t1, sizeof(t1), v->start_ns),
			     tod(t2, sizeof(t2), v->end_ns), (o->flags & DD_OUTPUT_FLAG_LATE) ? " (late)" : "");
		char anames[DD_MR_MAX_AGGS][DD_MR_NAME];
		if (w != NULL)
			for (unsigned i = 0; i < DD_MR_MAX_AGGS; i++)
				memcpy(anames[i], w->agg[i].name, DD_MR_NAME);
		if (t >= 0 && (size_t)t < room)
			t += values_text(b + t, room - (size_t)t, w != NULL ? (const char(*)[DD_MR_NAME])anames : NULL,
					 v->value, w != NULL ? w->naggs : DD_MR_MAX_AGGS, 0);
		break;
	}
	case DD_OUT_TEST: {
		const uint64_t *v = o->u.test.v;
		t = snprintf(b, room, "v %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			     " %" PRIu64, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
		break;
	}
	default:
		break;
	}
	if (t >= 0 && (size_t)t < room)
		t += snprintf(b + t, room - (size_t)t, "\n");
	return t < 0 ? t : n + t;
}

static bool print_output(void *ctx, uint64_t seq, uint64_t lsn, const struct dd_output *o)
{
	struct app *a = ctx;
	char line[2048];
	int n = a->o.format == FMT_JSON ? dd_output_json(line, sizeof(line), lsn, o)
					: table_line(a, line, sizeof(line), seq, lsn, o);
	if (n > 0) {
		size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
		if (line[len - 1] != '\n') /* cut short (cannot happen: the buffer fits any output) */
			line[len - 1] = '\n';
		fwrite(line, 1, len, stdout);
	}
	a->printed++;
	return a->o.count == 0 || a->printed < a->o.count;
}

static void note(void *ctx, const char *msg)
{
	(void)ctx;
	fflush(stdout); /* what was printed comes before the note that follows it */
	fprintf(stderr, PROG ": %s\n", msg);
}

static void send_request(void *ctx, const char *session, uint64_t seq, uint16_t count)
{
	struct app *a = ctx;
	uint8_t req[DD_TAIL_REQUEST_LEN];
	memcpy(req, session, DD_MOLD_SESSION_LEN);
	dd_st_be64(req + 10, seq);
	dd_st_be16(req + 18, count);
	if (sendto(a->fd, req, sizeof(req), 0, (const struct sockaddr *)&a->req, sizeof(a->req)) != (ssize_t)sizeof(req))
		a->send_errors++;
}

/* ---- the summary ----------------------------------------------------------------------------------------- */

static void summary(const struct app *a)
{
	const struct dd_tail_stats *s = dd_tail_stats(a->tail);
	char sess[DD_MOLD_SESSION_LEN + 1] = "-";
	if (dd_tail_session(a->tail, sess)) {
		sess[DD_MOLD_SESSION_LEN] = 0;
		for (unsigned i = 0; i < DD_MOLD_SESSION_LEN; i++)
			if (sess[i] < 0x21 || sess[i] > 0x7e)
				sess[i] = '?';
	}
	uint64_t mal = 0, bad = 0;
	for (unsigned i = 0; i < DD_TAIL_NREASONS; i++)
		mal += s->malformed[i];
	for (unsigned i = 0; i < DD_MOLD_ERR__COUNT; i++)
		bad += s->bad[i];
	fflush(stdout);
	fprintf(stderr,
		PROG ": session=%s datagrams=%" PRIu64 " answers=%" PRIu64 " dropped=%" PRIu64 " messages=%" PRIu64
		     " gaps=%" PRIu64 " requests=%" PRIu64 " requested=%" PRIu64 " recovered=%" PRIu64 " duplicates=%" PRIu64
		     " lost=%" PRIu64 " malformed=%" PRIu64 " (",
		sess, s->datagrams + a->dropped, s->answers, a->dropped, s->messages, s->gaps, s->requests, s->requested,
		s->recovered, s->duplicates, s->lost, mal);
	for (unsigned i = 0; i < DD_TAIL_NREASONS; i++)
		fprintf(stderr, "%s%s=%" PRIu64, i ? " " : "", dd_tail_reason_name(i), s->malformed[i]);
	fprintf(stderr, ") bad_datagrams=%" PRIu64 " (", bad);
	for (unsigned i = 1; i < DD_MOLD_ERR__COUNT; i++)
		fprintf(stderr, "%s%s=%" PRIu64, i > 1 ? " " : "", dd_mold_err_name((enum dd_mold_err)i), s->bad[i]);
	fprintf(stderr, ") heartbeats=%" PRIu64 " end_of_session=%s", s->heartbeats, s->ended ? "yes" : "no");
	if (s->stale)
		fprintf(stderr, " stale=%" PRIu64, s->stale);
	if (s->after_end)
		fprintf(stderr, " after_end=%" PRIu64, s->after_end);
	if (s->session_changes)
		fprintf(stderr, " session_changes=%" PRIu64, s->session_changes);
	if (a->skipped_frames)
		fprintf(stderr, " skipped_frames=%" PRIu64, a->skipped_frames);
	if (a->send_errors)
		fprintf(stderr, " send_errors=%" PRIu64, a->send_errors);
	fputc('\n', stderr);
}

/* ---- a kernel UDP socket ------------------------------------------------------------------------------------ */

static int open_socket(struct app *a)
{
	struct sockaddr_in g, bind_at;
	struct in_addr iface = { .s_addr = htonl(INADDR_ANY) };
	if (!dd_cli_ipv4_port(a->o.group, false, &g))
		return say(EX_USAGE, "--group '%s': must be GROUP:PORT (an IPv4 address and a UDP port, e.g. "
			   "239.192.26.49:26490)", a->o.group);
	if (a->o.iface != NULL && inet_pton(AF_INET, a->o.iface, &iface) != 1)
		return say(EX_USAGE, "--interface '%s': must be the IPv4 address of an interface of this host", a->o.iface);
	if (a->o.request != NULL && !dd_cli_ipv4_port(a->o.request, true, &a->req))
		return say(EX_USAGE, "--request '%s': must be HOST:PORT (dadar's output_udp.request, e.g. 10.0.0.5:26491)",
			   a->o.request);
	bool mcast = IN_MULTICAST(ntohl(g.sin_addr.s_addr));
	/* the socket binds the port on every address so the unicast answers to requests reach it too;
	 * IP_MULTICAST_ALL off keeps the groups other sockets of the host joined out */
	bind_at = g;
	bind_at.sin_addr = mcast ? (struct in_addr){ .s_addr = htonl(INADDR_ANY) } : iface;
	a->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->fd < 0)
		return say(EX_FAIL, "socket(AF_INET, SOCK_DGRAM) failed: %s", strerror(errno));
	int one = 1, zero = 0, buf = 16 << 20;
	setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a burst of answers must not overflow the default buffer; FORCE needs CAP_NET_ADMIN */
	if (setsockopt(a->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0)
		setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	char ip[INET_ADDRSTRLEN];
	if (bind(a->fd, (const struct sockaddr *)&bind_at, sizeof(bind_at)) != 0)
		return say(EX_FAIL, "bind(%s:%u) failed: %s (another program on that port without SO_REUSEADDR?)",
			   inet_ntop(AF_INET, &bind_at.sin_addr, ip, sizeof(ip)), ntohs(bind_at.sin_port), strerror(errno));
	if (mcast) {
		struct ip_mreq mr = { .imr_multiaddr = g.sin_addr, .imr_interface = iface };
		if (setsockopt(a->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0)
			return say(EX_FAIL, "joining %s on %s failed: %s (--interface names the interface by its IPv4 "
				   "address)", inet_ntop(AF_INET, &g.sin_addr, ip, sizeof(ip)),
				   a->o.iface != NULL ? a->o.iface : "the default interface", strerror(errno));
		setsockopt(a->fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
	}
	return EX_OK;
}

/* Take what the socket holds (at most a burst, so requests stay on time). */
static void read_socket(struct app *a, uint64_t *last_rx)
{
	static uint8_t buf[65536];
	for (unsigned i = 0; i < 4096 && !dd_tail_stopped(a->tail); i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(a->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			break; /* EAGAIN: all read; anything else shows again at the next poll */
		*last_rx = mono_ns();
		bool answer = a->o.request != NULL && from.sin_addr.s_addr == a->req.sin_addr.s_addr &&
			      from.sin_port == a->req.sin_port;
		if (!answer && a->o.drop_every != 0 && ++a->stream_dgrams % a->o.drop_every == 0) {
			a->dropped++;
			continue;
		}
		dd_tail_datagram(a->tail, buf, (size_t)n, answer, *last_rx);
	}
}

static int run_socket(struct app *a)
{
	int rc = open_socket(a);
	if (rc != EX_OK)
		return rc;
	uint64_t last_rx = mono_ns(), idle_ns = a->o.idle_ms * 1000000ull;
	while (!atomic_load_explicit(&quit, memory_order_relaxed)) {
		uint64_t now = mono_ns();
		uint64_t due = dd_tail_poll(a->tail, now);
		if (dd_tail_stopped(a->tail) || dd_tail_done(a->tail))
			break;
		if (idle_ns != 0 && now - last_rx >= idle_ns)
			break;
		fflush(stdout);
		uint64_t wait = 1000;
		if (due != UINT64_MAX)
			wait = due > now ? (due - now + 999999) / 1000000 : 0;
		if (idle_ns != 0 && (last_rx + idle_ns - now + 999999) / 1000000 < wait)
			wait = (last_rx + idle_ns - now + 999999) / 1000000;
		struct pollfd pf = { .fd = a->fd, .events = POLLIN };
		int r = poll(&pf, 1, (int)(wait < 1000 ? wait : 1000));
		if (r < 0 && errno != EINTR) {
			say(EX_FAIL, "poll() failed: %s", strerror(errno));
			a->read_error = true;
			break;
		}
		if (r > 0)
			read_socket(a, &last_rx);
	}
	close(a->fd);
	return EX_OK;
}

/* ---- a capture ------------------------------------------------------------------------------------------------ */

static int run_pcap(struct app *a)
{
	struct dd_pcapr p;
	char err[512];
	if (dd_pcapr_open(&p, a->o.pcap, err, sizeof(err)) != 0)
		return say(EX_FAIL, "%s", err);
	static uint8_t frame[MAX_FRAME];
	while (!atomic_load_explicit(&quit, memory_order_relaxed) && !dd_tail_stopped(a->tail)) {
		long n = dd_pcapr_next(&p, frame, sizeof(frame), err, sizeof(err));
		if (n == 0)
			break;
		if (n == -2) {
			say(EX_FAIL, "%s", err);
			a->read_error = true;
			break;
		}
		a->frames++;
		struct dd_udp_view v;
		if (n < 0 || dd_frame_udp(frame, (size_t)n, 0, &v) != DD_FRAME_UDP ||
		    (v.dst_port != a->o.port && v.src_port != a->o.port + 1)) {
			a->skipped_frames++;
			continue;
		}
		bool answer = v.src_port == a->o.port + 1;
		if (!answer && a->o.drop_every != 0 && ++a->stream_dgrams % a->o.drop_every == 0) {
			a->dropped++;
			continue;
		}
		/* a capture has no clock of its own here: gaps wait for late datagrams until the end */
		dd_tail_datagram(a->tail, v.payload, v.len, answer, 0);
		dd_tail_poll(a->tail, 0);
		if (dd_tail_done(a->tail))
			break;
	}
	dd_pcapr_close(&p);
	return EX_OK;
}

/* ---- NATS JetStream ------------------------------------------------------------------------------------------- */

/*
 * The numbers missing below the highest seen, over the last LATE_WINDOW numbers: the bridge
 * publishes in order, but an output the broker refused while it took later ones of the same batch
 * is stored after them (docs/outputs.md). One that arrives late is printed then (out of order) and
 * is no longer lost; one older than the window stays lost, and a number seen again is a duplicate.
 */
#define LATE_WINDOW 65536u

struct missing {
	uint64_t bit[LATE_WINDOW / 64]; /* bit n % LATE_WINDOW: n is missing */
};

static inline bool missing_has(const struct missing *ms, uint64_t n)
{
	return ms->bit[n % LATE_WINDOW / 64] >> (n % 64) & 1;
}

static inline void missing_set(struct missing *ms, uint64_t n, bool on)
{
	uint64_t *w = &ms->bit[n % LATE_WINDOW / 64];
	*w = on ? *w | 1ull << (n % 64) : *w & ~(1ull << (n % 64));
}

/* The highest number seen goes from `have` to `n` (> have): have + 1 .. n - 1 are missing. Numbers
 * that leave the window (at or below n - LATE_WINDOW) are forgotten as they are overwritten. */
static void missing_advance(struct missing *ms, uint64_t have, uint64_t n)
{
	uint64_t from = n - have > LATE_WINDOW ? n - LATE_WINDOW : have + 1;
	if (n - have > LATE_WINDOW)
		memset(ms->bit, 0, sizeof(ms->bit));
	for (uint64_t k = from; k < n; k++)
		missing_set(ms, k, true);
	missing_set(ms, n, false);
}

/* "EPOCH:N" of a Nats-Msg-Id (dataplane/out/natsb.c): the run's epoch and the output's number. */
static bool msg_id(const char *id, char *epoch, size_t elen, uint64_t *n)
{
	const char *c = id != NULL ? strrchr(id, ':') : NULL;
	if (c == NULL || (size_t)(c - id) >= elen || !dd_cli_u64(c + 1, 1, UINT64_MAX, n))
		return false;
	memcpy(epoch, id, (size_t)(c - id));
	epoch[c - id] = '\0';
	return true;
}

static int run_nats(struct app *a)
{
	natsOptions *no = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	jsErrCode jerr = 0;
	char subj[128];
	int rc = EX_OK;
	uint64_t messages = 0, dups = 0, gaps = 0, lost = 0, late = 0, first = 0, last = 0, have_n = 0;
	char epoch[64] = "";
	static struct missing ms; /* 8 KiB: one per process */
	snprintf(subj, sizeof(subj), "dadar.%s.>", a->o.instance);
	natsStatus s = natsOptions_Create(&no);
	if (s == NATS_OK)
		s = natsOptions_SetURL(no, a->o.nats);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(no, 5000);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, no);
	if (s != NATS_OK) {
		rc = say(EX_FAIL, "cannot connect to %s: %s (is nats-server running there, with -js?)", a->o.nats,
			 natsStatus_GetText(s));
		goto out;
	}
	if ((s = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK) {
		rc = say(EX_FAIL, "%s: JetStream: %s", a->o.nats, natsStatus_GetText(s));
		goto out;
	}
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = a->o.nats_stream;
	so.Ordered = true;
	so.Config.DeliverPolicy = a->o.nats_from ? js_DeliverByStartSequence : js_DeliverAll;
	so.Config.OptStartSeq = a->o.nats_from;
	if ((s = js_SubscribeSync(&sub, js, subj, NULL, &so, &jerr)) != NATS_OK) {
		const char *le = nats_GetLastError(NULL);
		rc = say(EX_FAIL, "%s: cannot read %s from stream %s: %s (JetStream error %d; is dadar publishing there "
			 "with --nats, and are --nats-stream and --instance its?)", a->o.nats, subj, a->o.nats_stream,
			 le != NULL && *le != '\0' ? le : natsStatus_GetText(s), (int)jerr);
		goto out;
	}
	uint64_t last_rx = mono_ns(), idle_ns = a->o.idle_ms * 1000000ull;
	while (!atomic_load_explicit(&quit, memory_order_relaxed)) {
		natsMsg *m = NULL;
		s = natsSubscription_NextMsg(&m, sub, 100);
		uint64_t now = mono_ns();
		if (s == NATS_TIMEOUT) {
			fflush(stdout);
			if (idle_ns != 0 && now - last_rx >= idle_ns)
				break;
			continue;
		}
		if (s != NATS_OK) {
			rc = say(EX_FAIL, "%s: reading %s: %s", a->o.nats, subj, natsStatus_GetText(s));
			a->read_error = true;
			break;
		}
		last_rx = now;
		jsMsgMetaData *meta = NULL;
		if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
			if (first == 0)
				first = meta->Sequence.Stream;
			last = meta->Sequence.Stream;
			jsMsgMetaData_Destroy(meta);
		}
		/* the bridge numbers outputs per epoch: a number seen again is a duplicate (published
		 * again after JetStream's duplicate window), one skipped an output the stream lacks until
		 * it comes late (struct missing) */
		const char *id = NULL;
		char ep[64];
		uint64_t n;
		if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && msg_id(id, ep, sizeof(ep), &n)) {
			bool same = have_n && strcmp(ep, epoch) == 0;
			if (same && n <= have_n && (have_n - n >= LATE_WINDOW || !missing_has(&ms, n))) {
				dups++;
				natsMsg_Destroy(m);
				continue;
			}
			if (same && n <= have_n) {
				missing_set(&ms, n, false);
				lost--;
				late++;
			} else {
				if (same && n > have_n + 1) {
					gaps++;
					lost += n - have_n - 1;
				}
				if (!same)
					memset(&ms, 0, sizeof(ms));
				missing_advance(&ms, same ? have_n : n - 1, n);
				snprintf(epoch, sizeof(epoch), "%s", ep);
				have_n = n;
			}
		}
		const char *data = natsMsg_GetData(m);
		int len = natsMsg_GetDataLength(m);
		if (data != NULL && len > 0)
			fwrite(data, 1, (size_t)len, stdout);
		fputc('\n', stdout);
		natsMsg_Destroy(m);
		if (++messages == a->o.count)
			break;
	}
	fflush(stdout);
	fprintf(stderr,
		PROG ": nats=%s stream=%s subject=%s messages=%" PRIu64 " duplicates=%" PRIu64 " gaps=%" PRIu64 " lost=%" PRIu64
		     " late=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64 "\n",
		a->o.nats, a->o.nats_stream, subj, messages, dups, gaps, lost, late, first, last);
	if (rc == EX_OK && lost > 0)
		rc = EX_LOST;
out:
	/* the connection's reader thread may still be delivering to the subscription (an ordered
	 * consumer keeps flowing after --count): stop it first, then free */
	if (sub != NULL)
		natsSubscription_Unsubscribe(sub);
	if (nc != NULL)
		natsConnection_Close(nc);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(no);
	nats_Close();
	return rc;
}

/* ---- main ------------------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", PROG, DD_VERSION);
			return EX_OK;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EX_OK;
		}
	}
	static struct app a;
	int rc = parse_args(argc, argv, &a.o);
	if (rc != EX_OK)
		return rc;
	a.fd = -1;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll() wakes up */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (a.o.src == SRC_NATS)
		return run_nats(&a);
	if ((rc = load_rules(&a)) != EX_OK)
		goto out;
	struct dd_tail_params tp = { .hold = a.o.hold, .from = a.o.from, .request = a.o.request != NULL,
				     .timeout_ns = a.o.src == SRC_PCAP ? 0 : a.o.timeout_ms * 1000000ull,
				     .tries = (unsigned)a.o.tries, .max_per_request = 1000 };
	int e = dd_tail_create(&a.tail, &tp, print_output, send_request, note, &a);
	if (e != 0) {
		rc = say(EX_FAIL, "cannot set up: %s", strerror(-e));
		goto out;
	}
	if (a.o.format == FMT_TABLE)
		fputs(TABLE_HEADER, stdout);
	rc = a.o.src == SRC_GROUP ? run_socket(&a) : run_pcap(&a);
	if (rc != EX_OK)
		goto out;
	if (!dd_tail_stopped(a.tail))
		dd_tail_finish(a.tail);
	fflush(stdout);
	summary(&a);
	if (dd_tail_stats(a.tail)->lost > 0)
		rc = EX_LOST;
	else if (a.read_error)
		rc = EX_FAIL;
	if (ferror(stdout))
		rc = say(EX_FAIL, "writing to standard output failed");
out:
	dd_tail_destroy(a.tail);
	for (unsigned i = 0; i < a.nsets; i++) {
		dd_output_json_forget(a.sets[i]);
		free(a.sets[i]);
	}
	return rc;
}
