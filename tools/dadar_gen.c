/* SPDX-License-Identifier: MIT */
/*
 * dadar-gen: feed generator and file-to-pcap packetizer (docs/dadar-gen.md).
 *
 *   itch-file IN OUT.pcap         a NASDAQ BinaryFILE packetized as MoldUDP64 / UDP / IPv4 / Ethernet
 *   synth OUT.pcap                a deterministic synthetic ITCH 5.0 day, packetized the same way
 *   payments-csv IN.csv OUT.pcap  payments from a CSV as dadar's 73-byte messages, same packetizing
 *   payments OUT.pcap             a deterministic synthetic payment stream with labelled fraud
 *
 * All feed one pipeline: messages -> MoldUDP64 packer -> per line (A, and B when --lines 2):
 * injections -> frames -> pcap. Exit status: 0 done, 1 I/O or input-data error, 2 usage error.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/config/config.h"
#include "dataplane/wire/itch.h"
#include "dataplane/wire/molddg.h"
#include "tools/paygen.h"
#include "tools/pcapw.h"
#include "tools/send.h"
#include "tools/plant.h"
#include "tools/synth.h"

#define EXIT_DATA  1
#define EXIT_USAGE 2

#define NS_PER_S        1000000000ull
#define BASE_ITCH_FILE  1293148800ull /* 2010-12-24 00:00:00 UTC, the sample's trading day */
#define BASE_SYNTH      1735776000ull /* 2025-01-02 00:00:00 UTC, a Thursday */
#define BASE_PAYMENTS   0ull          /* payment times are already ns since the Unix epoch */
#define MAX_B_DELAY     10000
#define IN_IOBUF        (1u << 20)

enum { MAL_TRUNCATED, MAL_COUNT, MAL_OVERRUN, MAL_RANDOM, MAL_OTHER_UDP, MAL_NON_UDP, MAL__N };

static const char *const mal_names[MAL__N] = {
	"truncated", "wrong count", "length overrun", "random bytes", "garbage UDP", "non-UDP",
};

enum cmd { CMD_ITCH_FILE, CMD_SYNTH, CMD_PAYMENTS_CSV, CMD_PAYMENTS };

static const char *const cmd_names[] = { "itch-file", "synth", "payments-csv", "payments" };

struct opts {
	const char *session;
	uint32_t group, group_b, src;
	uint16_t port;
	uint16_t vlan;
	size_t max_payload;
	uint64_t first_seq;
	uint64_t heartbeat_every;
	uint64_t flush_ns;
	bool end_of_session;
	unsigned lines;
	uint64_t b_delay;
	bool group_b_set, b_delay_set;
	double rate_gap, rate_dup, rate_reorder, rate_malformed;
	uint64_t inject_seed;
	/* synth */
	uint64_t seed;
	uint64_t instruments;
	uint64_t messages;
	bool drain;
	const char *itch_out;
	uint32_t plant;          /* patterns to plant (1 << enum dd_plant_pattern), 0: an ordinary day */
	const char *expect;
	const char *plant_venue2;
	uint64_t venue2_locate;  /* the second venue's locate of the arbitrage instrument (0: the first's) */
	bool messages_set;
	/* payments */
	uint64_t count;
	uint64_t payers;
	uint64_t days;
	uint64_t scenarios;
	uint64_t start_ns;
	const char *labels;
	const char *csv_out;
	const char *merchant_table;
};

/* A datagram on its way to a line: in the B line's delay queue or a line's reorder slot. */
struct dgram {
	uint64_t ts;
	size_t len;
	bool data;       /* carries messages: injections apply */
	uint16_t count;
	const uint8_t *buf;
	uint8_t *store;  /* max_payload bytes owned by a queue slot or a reorder slot, or NULL */
};

struct inj_stats {
	uint64_t gaps, gap_msgs, dups, swaps, malformed[MAL__N];
};

struct line {
	char name;
	struct dd_framew_flow flow;
	uint16_t ip_id;
	uint64_t rng_dec;  /* injection decisions: a fixed four draws per data datagram */
	uint64_t rng_val;  /* contents of injected datagrams */
	struct dgram held;
	bool holding;
	struct inj_stats st;
};

struct gen {
	const struct opts *o;
	const char *out_path;
	struct dd_pcapw pcap;
	bool pcap_open;
	struct dd_molddg mold;
	struct line line[2];
	bool inject;
	uint64_t base_ns;
	uint64_t last_ns;       /* pcap time of the last frame: time never goes backwards */
	uint64_t last_ts;       /* ITCH time of the last datagram */
	struct dgram *bq;       /* line B delay queue, b_delay + 1 slots */
	size_t bq_head, bq_n;
	uint64_t since_hb;
	uint64_t heartbeats;
	uint64_t payload_bytes; /* MoldUDP64 bytes of data datagrams (one line) */
	uint8_t frame[DD_FRAMEW_FRAME_MAX];
	uint8_t scratch[DD_MOLDDG_MAX_PAYLOAD];
};

/* ---- usage and option parsing ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: dadar-gen itch-file IN OUT.pcap [options]   packetize a NASDAQ BinaryFILE\n"
	      "       dadar-gen synth OUT.pcap [options]           generate a synthetic ITCH 5.0 day\n"
	      "       dadar-gen payments-csv IN.csv OUT.pcap [options]\n"
	      "                                                    packetize payments from a CSV\n"
	      "       dadar-gen payments OUT.pcap [options]        generate synthetic payments with fraud\n"
	      "       dadar-gen send [EAL options] -- --pcap FILE --rate MSGS_PER_S [--seconds N]\n"
	      "                                                    send a capture paced and stamped out of\n"
	      "                                                    a DPDK port (dadar-gen send -- --help)\n"
	      "       dadar-gen help\n"
	      "\n"
	      "packetizing (all subcommands; payments and payments-csv have defaults of their own):\n"
	      "  --session NAME        MoldUDP64 session, 1-10 printable characters\n"
	      "                        (default DADAR00001; payments DADARPAY01)\n"
	      "  --group IP            multicast group of line A (default 233.54.12.111; payments\n"
	      "                        239.192.26.48)\n"
	      "  --port N              UDP destination port (default 26477; payments 26480)\n"
	      "  --src IP              source address (default 192.0.2.1)\n"
	      "  --max-payload N       largest UDP payload, 64..8972 bytes (default 1400)\n"
	      "  --flush-ns N          close a datagram when the next message is N ns or more after its\n"
	      "                        first one (default 0: only when full)\n"
	      "  --vlan ID             add an 802.1Q tag, VLAN ID 1..4094\n"
	      "  --first-seq N         sequence number of the first message (default 1)\n"
	      "  --heartbeat-every N   a heartbeat after every N data datagrams (default 0: none)\n"
	      "  --end-of-session      append an end-of-session datagram\n"
	      "  --lines 1|2           2: also send every datagram on line B (default 1)\n"
	      "  --group-b IP          multicast group of line B (default 233.49.196.111; payments\n"
	      "                        239.192.26.49)\n"
	      "  --b-delay K           write line B's copy K datagrams after line A's (default 0, max 10000)\n"
	      "\n"
	      "injections (all; each line independently, data datagrams only):\n"
	      "  --gap-rate P          drop a datagram with probability P (0..1)\n"
	      "  --dup-rate P          send a datagram twice\n"
	      "  --reorder-rate P      swap a datagram with the next one\n"
	      "  --malformed-rate P    insert an extra malformed datagram or stray frame after one\n"
	      "  --inject-seed S       seed of the injections (default 1)\n"
	      "\n"
	      "synth only:\n"
	      "  --seed S              seed of the stream (default 1)\n"
	      "  --instruments N       instruments, 1..65535 (default 100)\n"
	      "  --messages M          ITCH messages in total (default 100000)\n"
	      "  --drain               end the order flow by deleting every live order\n"
	      "  --itch-out FILE       also write the clean stream as a BinaryFILE\n"
	      "  --plant all|NAME[,NAME...]\n"
	      "                        a planted day instead: a calm background of --instruments N that\n"
	      "                        fires no pattern of rules/market.rules, and a scenario per named\n"
	      "                        pattern on an instrument of its own (docs/patterns.md, \"Planted\n"
	      "                        streams\"); not with --messages\n"
	      "  --expect FILE         with --plant (and needed then): write the alerts the rules must\n"
	      "                        produce over the day, one JSON object a line\n"
	      "  --plant-venue2 FILE   with --plant arbitrage (and needed then): write the second venue's\n"
	      "                        feed, to line A's (and B's) group with its lowest bit flipped\n"
	      "  --venue2-locate N     the locate code the second venue gives the arbitrage instrument,\n"
	      "                        1..65535 (default: the first venue's)\n"
	      "\n"
	      "payments-csv reads a CSV with the header\n"
	      "  " DD_PAYGEN_CSV_HEADER "\n"
	      "\n"
	      "payments only:\n"
	      "  --seed S              seed of the stream (default 1)\n"
	      "  --count N             payments in total, scenarios included (default 100000)\n"
	      "  --payers N            ordinary payers, 1..1000000 (default 20000)\n"
	      "  --days N              days the stream covers, 1..366 (default 1)\n"
	      "  --scenarios K         instances of each fraud scenario, 0..10000 (default 1)\n"
	      "  --start-ns T          start, ns since the Unix epoch (default 1773081000000000000,\n"
	      "                        2026-03-10 00:00 IST)\n"
	      "  --labels FILE         write txn_id,scenario for every scenario payment\n"
	      "  --csv FILE            also write the stream as a payments-csv CSV\n"
	      "  --merchant-table FILE write the merchants' risks as merchant,risk\n"
	      "\n"
	      "Exit status: 0 done, 1 I/O or input data error, 2 usage error.\n",
	      f);
}

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...);

static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("dadar-gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int bad_value(const char *opt, const char *arg, const char *why)
{
	fail("--%s %s: %s", opt, arg, why);
	return -EINVAL;
}

static int parse_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, int base,
		     uint64_t *out)
{
	char *end;
	unsigned long long v;
	char why[96];

	errno = 0;
	v = strtoull(arg, &end, base);
	if (*arg == '\0' || *arg == '-' || *arg == '+' || *end != '\0' || errno == ERANGE || v < min ||
	    v > max) {
		if (max == UINT64_MAX)
			snprintf(why, sizeof(why), "must be an integer of at least %" PRIu64, min);
		else
			snprintf(why, sizeof(why), "must be between %" PRIu64 " and %" PRIu64, min, max);
		return bad_value(opt, arg, why);
	}
	*out = v;
	return 0;
}

static int parse_rate(const char *opt, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (*arg == '\0' || *end != '\0' || errno == ERANGE || !(v >= 0.0 && v <= 1.0))
		return bad_value(opt, arg, "must be a probability between 0 and 1");
	*out = v;
	return 0;
}

static int parse_ipv4(const char *opt, const char *arg, bool multicast, uint32_t *out)
{
	struct in_addr a;
	uint32_t v;

	if (inet_pton(AF_INET, arg, &a) != 1)
		return bad_value(opt, arg, "not an IPv4 address (a.b.c.d)");
	v = ntohl(a.s_addr);
	if (multicast && (v >> 28) != 0xe)
		return bad_value(opt, arg, "not a multicast group (224.0.0.0 to 239.255.255.255)");
	if (!multicast && ((v >> 28) >= 0xe || v == 0))
		return bad_value(opt, arg, "must be a unicast address");
	*out = v;
	return 0;
}

static int parse_session(const char *arg)
{
	size_t n = strlen(arg);

	if (n == 0 || n > DD_MOLDDG_SESSION_LEN)
		return bad_value("session", arg, "must be 1 to 10 characters");
	for (size_t i = 0; i < n; i++)
		if (arg[i] < 0x21 || arg[i] > 0x7e)
			return bad_value("session", arg, "must be printable ASCII without spaces");
	return 0;
}

enum {
	O_SESSION = 256, O_GROUP, O_PORT, O_SRC, O_MAX_PAYLOAD, O_FLUSH_NS, O_VLAN, O_FIRST_SEQ,
	O_HEARTBEAT, O_EOS, O_LINES, O_GROUP_B, O_B_DELAY, O_GAP, O_DUP, O_REORDER, O_MALFORMED,
	O_INJECT_SEED, O_SEED, O_INSTRUMENTS, O_MESSAGES, O_DRAIN, O_ITCH_OUT, O_COUNT, O_PAYERS, O_DAYS,
	O_SCENARIOS, O_START_NS, O_LABELS, O_CSV, O_MERCHANT_TABLE, O_PLANT, O_EXPECT, O_PLANT_VENUE2, O_VENUE2_LOCATE,
	O_HELP,
};

static const struct option long_opts[] = {
	{ "session", required_argument, NULL, O_SESSION },
	{ "group", required_argument, NULL, O_GROUP },
	{ "port", required_argument, NULL, O_PORT },
	{ "src", required_argument, NULL, O_SRC },
	{ "max-payload", required_argument, NULL, O_MAX_PAYLOAD },
	{ "flush-ns", required_argument, NULL, O_FLUSH_NS },
	{ "vlan", required_argument, NULL, O_VLAN },
	{ "first-seq", required_argument, NULL, O_FIRST_SEQ },
	{ "heartbeat-every", required_argument, NULL, O_HEARTBEAT },
	{ "end-of-session", no_argument, NULL, O_EOS },
	{ "lines", required_argument, NULL, O_LINES },
	{ "group-b", required_argument, NULL, O_GROUP_B },
	{ "b-delay", required_argument, NULL, O_B_DELAY },
	{ "gap-rate", required_argument, NULL, O_GAP },
	{ "dup-rate", required_argument, NULL, O_DUP },
	{ "reorder-rate", required_argument, NULL, O_REORDER },
	{ "malformed-rate", required_argument, NULL, O_MALFORMED },
	{ "inject-seed", required_argument, NULL, O_INJECT_SEED },
	{ "seed", required_argument, NULL, O_SEED },
	{ "instruments", required_argument, NULL, O_INSTRUMENTS },
	{ "messages", required_argument, NULL, O_MESSAGES },
	{ "drain", no_argument, NULL, O_DRAIN },
	{ "itch-out", required_argument, NULL, O_ITCH_OUT },
	{ "count", required_argument, NULL, O_COUNT },
	{ "payers", required_argument, NULL, O_PAYERS },
	{ "days", required_argument, NULL, O_DAYS },
	{ "scenarios", required_argument, NULL, O_SCENARIOS },
	{ "start-ns", required_argument, NULL, O_START_NS },
	{ "labels", required_argument, NULL, O_LABELS },
	{ "csv", required_argument, NULL, O_CSV },
	{ "merchant-table", required_argument, NULL, O_MERCHANT_TABLE },
	{ "plant", required_argument, NULL, O_PLANT },
	{ "expect", required_argument, NULL, O_EXPECT },
	{ "plant-venue2", required_argument, NULL, O_PLANT_VENUE2 },
	{ "venue2-locate", required_argument, NULL, O_VENUE2_LOCATE },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char *opt_name(int code)
{
	for (const struct option *lo = long_opts; lo->name; lo++)
		if (lo->val == code)
			return lo->name;
	return "?";
}

static bool is_payments(enum cmd cmd)
{
	return cmd == CMD_PAYMENTS || cmd == CMD_PAYMENTS_CSV;
}

static void default_opts(struct opts *o, enum cmd cmd)
{
	memset(o, 0, sizeof(*o));
	if (is_payments(cmd)) {
		/* docs/wire-formats.md, "Where payments arrive": dadar's default payment port. */
		o->session = "DADARPAY01";
		o->group = 0xefc01a30;   /* 239.192.26.48 */
		o->group_b = 0xefc01a31; /* 239.192.26.49 */
		o->port = 26480;
	} else {
		o->session = "DADAR00001";
		o->group = 0xe9360c6f;   /* 233.54.12.111 */
		o->group_b = 0xe931c46f; /* 233.49.196.111 */
		o->port = 26477;
	}
	o->src = 0xc0000201;     /* 192.0.2.1 (TEST-NET-1) */
	o->max_payload = 1400;
	o->first_seq = 1;
	o->lines = 1;
	o->inject_seed = 1;
	o->seed = 1;
	o->instruments = 100;
	o->messages = 100000;
	o->count = 100000;
	o->payers = 20000;
	o->days = 1;
	o->scenarios = 1;
	o->start_ns = DD_PAYGEN_DEFAULT_START_NS;
}

static int parse_plant(const char *arg, uint32_t *patterns)
{
	char known[256];
	size_t off, len, n = 0;

	if (dd_plant_parse(arg, patterns, &off, &len) == 0)
		return 0;
	for (unsigned k = 0; k < DD_PLANT_PATTERNS; k++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, ", %s", dd_plant_pattern_name(k));
	fail("--plant %s: '%.*s' is no pattern; name all, or some of%s, separated by commas", arg,
	     (int)len, arg + off, known + 1);
	return -EINVAL;
}

/* The --plant options that go together. Returns true after telling the user what is wrong. */
static bool plant_opts_bad(const struct opts *o)
{
	bool arbitrage = o->plant & (1u << DD_PLANT_ARBITRAGE);

	if (!o->plant && (o->expect || o->plant_venue2))
		fail("--%s: needs --plant", o->expect ? "expect" : "plant-venue2");
	else if (o->plant && !o->expect)
		fail("--plant: needs --expect ALERTS.jsonl, for the alerts the planted day must produce");
	else if (o->plant && o->messages_set)
		fail("--messages %" PRIu64 ": not with --plant (a planted day's length follows from its "
		     "scenarios)", o->messages);
	else if (arbitrage && !o->plant_venue2)
		fail("--plant arbitrage: needs --plant-venue2 OUT2.pcap, the second venue's feed");
	else if (o->plant && !arbitrage && o->plant_venue2)
		fail("--plant-venue2 %s: only with arbitrage planted", o->plant_venue2);
	else if (o->venue2_locate && !o->plant_venue2)
		fail("--venue2-locate %" PRIu64 ": only with --plant-venue2", o->venue2_locate);
	else if (o->plant && o->instruments > DD_PLANT_MAX_BACKGROUND)
		fail("--instruments %" PRIu64 ": at most %u with --plant (locates are 16 bits and every "
		     "scenario takes one)", o->instruments, (unsigned)DD_PLANT_MAX_BACKGROUND);
	else
		return false;
	return true;
}

/*
 * Parse the options of subcommand `cmd` (argv[0] is the subcommand) and its `npos` positional
 * arguments into pos[]. Returns 0, 1 for --help, or -EINVAL after telling the user.
 */
static int parse_opts(int argc, char **argv, enum cmd cmd, struct opts *o, const char **pos, int npos)
{
	bool synth = cmd == CMD_SYNTH;
	uint64_t v;
	int c, n = 0;

	default_opts(o, cmd);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		const char *name = opt_name(c);
		int ret = 0;

		switch (c) {
		case O_SEED:
			if (cmd != CMD_SYNTH && cmd != CMD_PAYMENTS) {
				fail("--%s: only for synth and payments (see dadar-gen help)", name);
				return -EINVAL;
			}
			break;
		case O_COUNT:
		case O_PAYERS:
		case O_DAYS:
		case O_SCENARIOS:
		case O_START_NS:
		case O_LABELS:
		case O_CSV:
		case O_MERCHANT_TABLE:
			if (cmd != CMD_PAYMENTS) {
				fail("--%s: only for payments (see dadar-gen help)", name);
				return -EINVAL;
			}
			break;
		case O_INSTRUMENTS:
		case O_MESSAGES:
		case O_DRAIN:
		case O_ITCH_OUT:
		case O_PLANT:
		case O_EXPECT:
		case O_PLANT_VENUE2:
		case O_VENUE2_LOCATE:
			if (!synth) {
				fail("--%s: only for synth (see dadar-gen help)", name);
				return -EINVAL;
			}
			break;
		default:
			break;
		}
		switch (c) {
		case 'h':
		case O_HELP:
			return 1;
		case O_SESSION:
			ret = parse_session(optarg);
			o->session = optarg;
			break;
		case O_GROUP:
			ret = parse_ipv4(name, optarg, true, &o->group);
			break;
		case O_GROUP_B:
			ret = parse_ipv4(name, optarg, true, &o->group_b);
			o->group_b_set = true;
			break;
		case O_SRC:
			ret = parse_ipv4(name, optarg, false, &o->src);
			break;
		case O_PORT:
			ret = parse_u64(name, optarg, 1, 65535, 10, &v);
			o->port = (uint16_t)v;
			break;
		case O_MAX_PAYLOAD:
			ret = parse_u64(name, optarg, DD_MOLDDG_MIN_PAYLOAD, DD_MOLDDG_MAX_PAYLOAD, 10, &v);
			o->max_payload = (size_t)v;
			break;
		case O_FLUSH_NS:
			ret = parse_u64(name, optarg, 0, UINT64_MAX, 10, &o->flush_ns);
			break;
		case O_VLAN:
			ret = parse_u64(name, optarg, 1, 4094, 10, &v);
			o->vlan = (uint16_t)v;
			break;
		case O_FIRST_SEQ:
			ret = parse_u64(name, optarg, 1, UINT64_C(1) << 62, 10, &o->first_seq);
			break;
		case O_HEARTBEAT:
			ret = parse_u64(name, optarg, 0, UINT64_MAX, 10, &o->heartbeat_every);
			break;
		case O_EOS:
			o->end_of_session = true;
			break;
		case O_LINES:
			ret = parse_u64(name, optarg, 1, 2, 10, &v);
			o->lines = (unsigned)v;
			break;
		case O_B_DELAY:
			ret = parse_u64(name, optarg, 0, MAX_B_DELAY, 10, &o->b_delay);
			o->b_delay_set = true;
			break;
		case O_GAP:
			ret = parse_rate(name, optarg, &o->rate_gap);
			break;
		case O_DUP:
			ret = parse_rate(name, optarg, &o->rate_dup);
			break;
		case O_REORDER:
			ret = parse_rate(name, optarg, &o->rate_reorder);
			break;
		case O_MALFORMED:
			ret = parse_rate(name, optarg, &o->rate_malformed);
			break;
		case O_INJECT_SEED:
			ret = parse_u64(name, optarg, 0, UINT64_MAX, 0, &o->inject_seed);
			break;
		case O_SEED:
			ret = parse_u64(name, optarg, 0, UINT64_MAX, 0, &o->seed);
			break;
		case O_INSTRUMENTS:
			ret = parse_u64(name, optarg, 1, DD_SYNTH_MAX_INSTRUMENTS, 10, &o->instruments);
			break;
		case O_MESSAGES:
			ret = parse_u64(name, optarg, 1, UINT64_C(1) << 40, 10, &o->messages);
			o->messages_set = true;
			break;
		case O_DRAIN:
			o->drain = true;
			break;
		case O_ITCH_OUT:
			o->itch_out = optarg;
			break;
		case O_COUNT:
			ret = parse_u64(name, optarg, 1, DD_PAYGEN_MAX_COUNT, 10, &o->count);
			break;
		case O_PAYERS:
			ret = parse_u64(name, optarg, 1, DD_PAYGEN_MAX_PAYERS, 10, &o->payers);
			break;
		case O_DAYS:
			ret = parse_u64(name, optarg, 1, DD_PAYGEN_MAX_DAYS, 10, &o->days);
			break;
		case O_SCENARIOS:
			ret = parse_u64(name, optarg, 0, DD_PAYGEN_MAX_INSTANCES, 10, &o->scenarios);
			break;
		case O_START_NS:
			ret = parse_u64(name, optarg, 1, UINT64_MAX, 10, &o->start_ns);
			break;
		case O_LABELS:
			o->labels = optarg;
			break;
		case O_CSV:
			o->csv_out = optarg;
			break;
		case O_MERCHANT_TABLE:
			o->merchant_table = optarg;
			break;
		case O_PLANT:
			ret = parse_plant(optarg, &o->plant);
			break;
		case O_EXPECT:
			o->expect = optarg;
			break;
		case O_PLANT_VENUE2:
			o->plant_venue2 = optarg;
			break;
		case O_VENUE2_LOCATE:
			ret = parse_u64(name, optarg, 1, 65535, 10, &o->venue2_locate);
			break;
		case ':':
			fail("%s: needs a value (see dadar-gen help)", argv[optind - 1]);
			return -EINVAL;
		default:
			fail("%s: unknown option (see dadar-gen help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (ret)
			return ret;
	}
	for (int i = optind; i < argc; i++) {
		if (n == npos) {
			fail("%s: unexpected argument (see dadar-gen help)", argv[i]);
			return -EINVAL;
		}
		pos[n++] = argv[i];
	}
	if (n < npos) {
		fail("%s: missing %s (see dadar-gen help)", argv[0],
		     npos - n == 1 ? "OUT.pcap" : "IN and OUT.pcap");
		return -EINVAL;
	}
	if (o->lines < 2 && o->group_b_set) {
		fail("--group-b: needs --lines 2");
		return -EINVAL;
	}
	if (o->lines < 2 && o->b_delay_set) {
		fail("--b-delay %" PRIu64 ": needs --lines 2", o->b_delay);
		return -EINVAL;
	}
	if (o->lines == 2 && o->group_b == o->group) {
		fail("--group-b: line B needs its own group, not line A's");
		return -EINVAL;
	}
	if (is_payments(cmd) && o->max_payload < DD_MOLDDG_HDR_LEN + 2 + DD_PAYGEN_MSG_LEN) {
		fail("--max-payload %zu: %s needs at least %d (a payment message is %d bytes)", o->max_payload,
		     cmd_names[cmd], DD_MOLDDG_HDR_LEN + 2 + DD_PAYGEN_MSG_LEN, DD_PAYGEN_MSG_LEN);
		return -EINVAL;
	}
	if (synth && o->max_payload < DD_MOLDDG_HDR_LEN + 2 + DD_ITCH_MAX_LEN) {
		fail("--max-payload %zu: synth needs at least %d (its longest message, NOII, is %d bytes)",
		     o->max_payload, DD_MOLDDG_HDR_LEN + 2 + DD_ITCH_MAX_LEN, DD_ITCH_MAX_LEN);
		return -EINVAL;
	}
	if (synth && plant_opts_bad(o))
		return -EINVAL;
	if (synth && !o->plant && o->messages < DD_SYNTH_FIXED_MESSAGES(o->instruments)) {
		fail("--messages %" PRIu64 ": must be at least %" PRIu64 " for %" PRIu64
		     " instruments (start and end of day take 2 x instruments + 6)",
		     o->messages, DD_SYNTH_FIXED_MESSAGES(o->instruments), o->instruments);
		return -EINVAL;
	}
	return 0;
}

/* ---- injection randomness: splitmix64 streams (deterministic, independent of libc) ---------- */

static uint64_t sm64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit(uint64_t *x)
{
	return (double)(sm64(x) >> 11) * 0x1.0p-53;
}

static uint64_t upto(uint64_t *x, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)sm64(x) * n) >> 64);
}

/* ---- the pipeline ----------------------------------------------------------------------------- */

static int put_frame(struct gen *g, const uint8_t *frame, int len, uint64_t ts)
{
	uint64_t ns = g->base_ns + ts;
	int ret;

	if (len < 0)
		return len;
	if (ns < g->last_ns)
		ns = g->last_ns;
	g->last_ns = ns;
	ret = dd_pcapw_write(&g->pcap, ns, frame, (size_t)len);
	return ret;
}

static int put_udp(struct gen *g, struct line *l, const uint8_t *p, size_t len, uint64_t ts)
{
	int n = dd_framew_build_udp(g->frame, sizeof(g->frame), &l->flow, l->ip_id++, p, len);

	return put_frame(g, g->frame, n, ts);
}

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * One malformed datagram or stray frame derived from `d`, the data datagram just sent. Every kind
 * is something a receiver must drop whole: MoldUDP64 framing that does not add up (checked with
 * dd_molddg_valid()), or traffic that is not the feed at all.
 */
static int put_malformed(struct gen *g, struct line *l, const struct dgram *d)
{
	unsigned kind = (unsigned)upto(&l->rng_val, MAL__N);
	uint8_t *b = g->scratch;
	size_t len = d->len;
	struct dd_framew_flow f;
	int n;

	l->st.malformed[kind]++;
	switch (kind) {
	case MAL_TRUNCATED:
		len = 1 + (size_t)upto(&l->rng_val, d->len - 1);
		memcpy(b, d->buf, len);
		break;
	case MAL_COUNT: {
		uint16_t c = d->count;

		memcpy(b, d->buf, len);
		c = c > 1 && upto(&l->rng_val, 2) ? (uint16_t)(c - 1) : (uint16_t)(c + 1 + upto(&l->rng_val, 3));
		b[18] = (uint8_t)(c >> 8);
		b[19] = (uint8_t)c;
		break;
	}
	case MAL_OVERRUN: {
		size_t off = DD_MOLDDG_HDR_LEN, last = off;
		uint16_t ml;

		memcpy(b, d->buf, len);
		for (uint16_t i = 0; i < d->count; i++) {
			last = off;
			off += 2 + be16_at(b + off);
		}
		ml = (uint16_t)(be16_at(b + last) + 1 + upto(&l->rng_val, 64));
		b[last] = (uint8_t)(ml >> 8);
		b[last + 1] = (uint8_t)ml;
		break;
	}
	case MAL_RANDOM:
		len = DD_MOLDDG_HDR_LEN + 1 + (size_t)upto(&l->rng_val, g->o->max_payload - DD_MOLDDG_HDR_LEN);
		do
			for (size_t i = 0; i < len; i++)
				b[i] = (uint8_t)sm64(&l->rng_val);
		while (dd_molddg_valid(b, len));
		break;
	case MAL_OTHER_UDP:
		f = l->flow;
		f.dst_port = (uint16_t)(f.dst_port == 65535 ? 65534 : f.dst_port + 1);
		len = 8 + (size_t)upto(&l->rng_val, 200);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)sm64(&l->rng_val);
		n = dd_framew_build_udp(g->frame, sizeof(g->frame), &f, l->ip_id++, b, len);
		return put_frame(g, g->frame, n, d->ts);
	case MAL_NON_UDP:
		if (upto(&l->rng_val, 2)) {
			/* The publisher asking for its gateway (.254, or .253 if it is .254 itself). */
			f = l->flow;
			f.dst_ip = (f.src_ip & ~0xffu) | ((f.src_ip & 0xff) == 0xfe ? 0xfd : 0xfe);
			n = dd_framew_build_arp(g->frame, sizeof(g->frame), &f);
		} else {
			uint32_t sum;

			/* ICMP echo request to the group, with a correct ICMP checksum. */
			len = 8 + 32;
			memset(b, 0, len);
			b[0] = 8;
			b[4] = (uint8_t)(l->ip_id >> 8);
			b[5] = (uint8_t)l->ip_id;
			b[7] = 1;
			for (size_t i = 8; i < len; i++)
				b[i] = (uint8_t)('a' + (i - 8) % 23);
			sum = ~dd_framew_csum(b, len, 0) & 0xffff;
			b[2] = (uint8_t)(sum >> 8);
			b[3] = (uint8_t)sum;
			n = dd_framew_build_ipv4(g->frame, sizeof(g->frame), &l->flow, 1, l->ip_id++, b, len);
		}
		return put_frame(g, g->frame, n, d->ts);
	}
	if (dd_molddg_valid(b, len)) /* cannot happen for the kinds above; never send a good one */
		return 0;
	return put_udp(g, l, b, len, d->ts);
}

static void hold(struct line *l, const struct dgram *d)
{
	memcpy(l->held.store, d->buf, d->len);
	l->held.buf = l->held.store;
	l->held.len = d->len;
	l->held.ts = d->ts;
	l->held.count = d->count;
	l->held.data = d->data;
	l->holding = true;
}

static int release(struct gen *g, struct line *l)
{
	if (!l->holding)
		return 0;
	l->holding = false;
	return put_udp(g, l, l->held.buf, l->held.len, l->held.ts);
}

/*
 * Send `d` on line `l`, applying the injections to data datagrams. Four decisions are drawn per
 * data datagram whatever the rates, so changing one rate does not move the others' choices.
 * A datagram held for a swap goes out right after the next datagram sent on the line.
 */
static int line_put(struct gen *g, struct line *l, const struct dgram *d)
{
	const struct opts *o = g->o;
	double u_gap, u_reorder, u_dup, u_mal;
	int ret;

	if (!d->data) {
		/*
		 * A held datagram swaps with a heartbeat like with any datagram, but never crosses the end
		 * of session: everything sent after it would be beyond the end.
		 */
		if (d->count == DD_MOLDDG_COUNT_EOS) {
			ret = release(g, l);
			return ret ? ret : put_udp(g, l, d->buf, d->len, d->ts);
		}
		ret = put_udp(g, l, d->buf, d->len, d->ts);
		if (ret == 0 && l->holding) {
			l->st.swaps++;
			ret = release(g, l);
		}
		return ret;
	}
	if (!g->inject)
		return put_udp(g, l, d->buf, d->len, d->ts);
	u_gap = unit(&l->rng_dec);
	u_reorder = unit(&l->rng_dec);
	u_dup = unit(&l->rng_dec);
	u_mal = unit(&l->rng_dec);
	if (u_gap < o->rate_gap) {
		l->st.gaps++;
		l->st.gap_msgs += d->count;
		return 0;
	}
	if (u_reorder < o->rate_reorder && !l->holding) {
		hold(l, d);
		return 0;
	}
	ret = put_udp(g, l, d->buf, d->len, d->ts);
	if (ret == 0 && u_dup < o->rate_dup) {
		l->st.dups++;
		ret = put_udp(g, l, d->buf, d->len, d->ts);
	}
	if (ret == 0 && l->holding) {
		l->st.swaps++;
		ret = release(g, l);
	}
	if (ret == 0 && u_mal < o->rate_malformed)
		ret = put_malformed(g, l, d);
	return ret;
}

/* Line A now; line B's copy after b_delay more datagrams. */
static int dispatch(struct gen *g, const uint8_t *p, size_t len, uint64_t ts, bool data, uint16_t count)
{
	struct dgram d = { .ts = ts, .len = len, .data = data, .count = count, .buf = p };
	size_t slots = g->o->b_delay + 1;
	struct dgram *q;
	int ret;

	ret = line_put(g, &g->line[0], &d);
	if (ret || g->o->lines < 2)
		return ret;
	q = &g->bq[(g->bq_head + g->bq_n) % slots];
	memcpy(q->store, p, len);
	q->buf = q->store;
	q->len = len;
	q->ts = ts;
	q->data = data;
	q->count = count;
	g->bq_n++;
	if (g->bq_n <= g->o->b_delay)
		return 0;
	q = &g->bq[g->bq_head];
	g->bq_head = (g->bq_head + 1) % slots;
	g->bq_n--;
	return line_put(g, &g->line[1], q);
}

static int send_data(struct gen *g)
{
	const uint8_t *dg;
	uint64_t ts;
	uint16_t count = dd_molddg_pending(&g->mold);
	size_t len = dd_molddg_flush(&g->mold, &dg, &ts);
	int ret;

	if (len == 0)
		return 0;
	g->last_ts = ts;
	g->payload_bytes += len;
	ret = dispatch(g, dg, len, ts, true, count);
	if (ret == 0 && g->o->heartbeat_every && ++g->since_hb == g->o->heartbeat_every) {
		uint8_t hb[DD_MOLDDG_HDR_LEN];

		g->since_hb = 0;
		g->heartbeats++;
		ret = dispatch(g, hb, dd_molddg_heartbeat(&g->mold, hb), ts, false, 0);
	}
	return ret;
}

/* Add one message of `len` bytes with ITCH time `ts`. -EMSGSIZE if it fits in no datagram. */
static int add_msg(struct gen *g, const uint8_t *msg, size_t len, uint64_t ts)
{
	int ret;

	if (dd_molddg_pending(&g->mold) && g->o->flush_ns && ts >= g->mold.first_ts &&
	    ts - g->mold.first_ts >= g->o->flush_ns) {
		ret = send_data(g);
		if (ret)
			return ret;
	}
	ret = dd_molddg_add(&g->mold, msg, len, ts);
	if (ret == -ENOSPC) {
		ret = send_data(g);
		if (ret)
			return ret;
		ret = dd_molddg_add(&g->mold, msg, len, ts);
	}
	return ret;
}

static int finish(struct gen *g)
{
	int ret = send_data(g);

	if (ret == 0 && g->o->end_of_session) {
		uint8_t eos[DD_MOLDDG_HDR_LEN];

		ret = dispatch(g, eos, dd_molddg_end(&g->mold, eos), g->last_ts, false, DD_MOLDDG_COUNT_EOS);
	}
	while (ret == 0 && g->bq_n) {
		struct dgram *q = &g->bq[g->bq_head];

		g->bq_head = (g->bq_head + 1) % (g->o->b_delay + 1);
		g->bq_n--;
		ret = line_put(g, &g->line[1], q);
	}
	for (unsigned i = 0; ret == 0 && i < g->o->lines; i++)
		ret = release(g, &g->line[i]);
	return ret;
}

static void gen_free(struct gen *g)
{
	if (g->bq)
		for (size_t i = 0; i <= g->o->b_delay; i++)
			free(g->bq[i].store);
	free(g->bq);
	for (unsigned i = 0; i < 2; i++)
		free(g->line[i].held.store);
	free(g);
}

static void line_init(struct line *l, char name, const struct opts *o, uint32_t group)
{
	l->name = name;
	dd_framew_mcast_mac(group, l->flow.dst_mac);
	/* One publisher host sends both lines: a locally administered MAC, the same on each. */
	memcpy(l->flow.src_mac, (const uint8_t[6]){ 0x02, 0x00, 0x00, 0xda, 0xda, 0x01 }, 6);
	l->flow.src_ip = o->src;
	l->flow.dst_ip = group;
	l->flow.src_port = o->port;
	l->flow.dst_port = o->port;
	l->flow.vlan = o->vlan;
	/* Two independent streams per line, both derived from the injection seed and the line. */
	l->rng_dec = o->inject_seed ^ (0x5eedull << 32) ^ (uint64_t)name;
	l->rng_val = sm64(&l->rng_dec) ^ 0xda0a11ull;
}

/* Allocate the pipeline and open the capture. Returns 0, or 1 after telling the user. */
static int gen_open(struct gen **out, const struct opts *o, const char *path, uint64_t base_s)
{
	struct gen *g = calloc(1, sizeof(*g));
	int ret;

	if (g == NULL)
		goto nomem;
	g->o = o;
	g->out_path = path;
	g->base_ns = base_s * NS_PER_S;
	g->inject = o->rate_gap > 0 || o->rate_dup > 0 || o->rate_reorder > 0 || o->rate_malformed > 0;
	ret = dd_molddg_init(&g->mold, o->session, o->first_seq, o->max_payload);
	if (ret) {
		fail("dd_molddg_init(%s, %" PRIu64 ", %zu) failed: %s", o->session, o->first_seq,
		     o->max_payload, strerror(-ret));
		gen_free(g);
		return 1;
	}
	line_init(&g->line[0], 'A', o, o->group);
	line_init(&g->line[1], 'B', o, o->group_b);
	for (unsigned i = 0; i < 2; i++) {
		g->line[i].held.store = malloc(o->max_payload);
		if (g->line[i].held.store == NULL)
			goto nomem;
	}
	if (o->lines == 2) {
		g->bq = calloc(o->b_delay + 1, sizeof(*g->bq));
		if (g->bq == NULL)
			goto nomem;
		for (size_t i = 0; i <= o->b_delay; i++) {
			g->bq[i].store = malloc(o->max_payload);
			if (g->bq[i].store == NULL)
				goto nomem;
		}
	}
	ret = dd_pcapw_open(&g->pcap, path);
	if (ret) {
		fail("open(%s) failed: %s", path, strerror(-ret));
		gen_free(g);
		return 1;
	}
	g->pcap_open = true;
	*out = g;
	return 0;
nomem:
	fail("out of memory setting up the pipeline (--b-delay %" PRIu64 ", --max-payload %zu)",
	     o->b_delay, o->max_payload);
	if (g)
		gen_free(g);
	return 1;
}

/* Close the capture; on `failed`, remove it rather than leave a partial file. Returns 0 or 1. */
static int gen_close(struct gen *g, bool failed)
{
	int ret = 0;

	if (g->pcap_open) {
		ret = dd_pcapw_close(&g->pcap);
		if (ret && !failed)
			fail("write(%s) failed: %s", g->out_path, strerror(-ret));
		if (ret || failed) {
			unlink(g->out_path);
			fprintf(stderr, "dadar-gen: removed the incomplete %s\n", g->out_path);
		}
	}
	gen_free(g);
	return ret || failed;
}

/* Report a failure of the pipeline: a message too big, or the capture write. */
static void pipeline_error(const struct gen *g, int err, const char *what)
{
	if (err == -EMSGSIZE)
		fail("%s does not fit in a datagram with --max-payload %zu "
		     "(a message needs its length + 22 bytes)", what, g->o->max_payload);
	else if (err == -EOVERFLOW)
		fail("%s: the MoldUDP64 sequence number would wrap (lower --first-seq)", what);
	else
		fail("write(%s) failed: %s", g->out_path, strerror(-err));
}

static void print_summary(const struct gen *g)
{
	const struct dd_molddg *m = &g->mold;

	fprintf(stderr,
		"dadar-gen: %" PRIu64 " messages, %" PRIu64 " datagrams (seq %" PRIu64 "..%" PRIu64
		", %" PRIu64 " payload bytes), %" PRIu64 " heartbeats, %s end of session, %u line%s; %" PRIu64
		" frames, %" PRIu64 " bytes written to %s\n",
		m->messages, m->datagrams, g->o->first_seq, m->next_seq - 1, g->payload_bytes, g->heartbeats,
		g->o->end_of_session ? "with" : "no", g->o->lines, g->o->lines > 1 ? "s" : "",
		g->pcap.frames, g->pcap.bytes, g->out_path);
	if (!g->inject)
		return;
	for (unsigned i = 0; i < g->o->lines; i++) {
		const struct inj_stats *st = &g->line[i].st;
		uint64_t mal = 0;

		for (int k = 0; k < MAL__N; k++)
			mal += st->malformed[k];
		fprintf(stderr,
			"dadar-gen: line %c injected: %" PRIu64 " gaps (%" PRIu64 " messages), %" PRIu64
			" duplicates, %" PRIu64 " swaps, %" PRIu64 " malformed (",
			g->line[i].name, st->gaps, st->gap_msgs, st->dups, st->swaps, mal);
		for (int k = 0; k < MAL__N; k++)
			fprintf(stderr, "%s%s %" PRIu64, k ? ", " : "", mal_names[k], st->malformed[k]);
		fputs(")\n", stderr);
	}
}

/* ---- itch-file -------------------------------------------------------------------------------- */

/* Read exactly `n` bytes; returns how many were read before end of file (or -errno). */
static long read_full(FILE *f, uint8_t *p, size_t n)
{
	size_t got = fread(p, 1, n, f);

	if (got < n && ferror(f))
		return errno ? -errno : -EIO;
	return (long)got;
}

/* A subcommand's options: -1 to go on, else the exit status (0 after --help printed the usage). */
static int cmd_opts(int argc, char **argv, enum cmd cmd, struct opts *o, const char **pos, int npos)
{
	int ret = parse_opts(argc, argv, cmd, o, pos, npos);
	if (ret == 0)
		return -1;
	if (ret == 1)
		usage(stdout);
	return ret == 1 ? 0 : EXIT_USAGE;
}

/*
 * What the two file subcommands start with: their options, the input file (read through a large
 * buffer) and the generator writing OUT.pcap. Returns -1 to go on, else the exit status.
 */
static int open_file_cmd(int argc, char **argv, enum cmd cmd, const char *mode, uint64_t base_s, struct opts *o,
			 const char **pos, FILE **in, char **iobuf, struct gen **g)
{
	int ret = cmd_opts(argc, argv, cmd, o, pos, 2);
	if (ret >= 0)
		return ret;
	*in = fopen(pos[0], mode);
	if (*in == NULL) {
		fail("open(%s) failed: %s", pos[0], strerror(errno));
		return EXIT_DATA;
	}
	*iobuf = malloc(IN_IOBUF);
	if (*iobuf)
		setvbuf(*in, *iobuf, _IOFBF, IN_IOBUF);
	if (gen_open(g, o, pos[1], base_s)) {
		fclose(*in);
		free(*iobuf);
		return EXIT_DATA;
	}
	return -1;
}

static int cmd_itch_file(int argc, char **argv)
{
	struct opts o;
	const char *pos[2];
	struct gen *g;
	FILE *in;
	char *iobuf;
	uint8_t msg[65536];
	uint64_t off = 0, ts = 0, repaired = 0;
	long got;
	int ret;
	bool failed = true;

	ret = open_file_cmd(argc, argv, CMD_ITCH_FILE, "rb", BASE_ITCH_FILE, &o, pos, &in, &iobuf, &g);
	if (ret >= 0)
		return ret;
	for (;;) {
		uint8_t pfx[2];
		size_t len, spec;

		got = read_full(in, pfx, 2);

		if (got < 0)
			goto read_err;
		if (got == 0)
			break;
		if (got == 1) {
			fail("%s: truncated at offset %" PRIu64 ": 1 byte of a 2-byte length prefix", pos[0], off);
			goto out;
		}
		len = (size_t)pfx[0] << 8 | pfx[1];
		if (len == 0) {
			/*
			 * A zero prefix cannot frame a message. Files like the RITCH sample carry 0x0000 in
			 * every prefix; the type byte that follows tells the true length.
			 */
			got = read_full(in, msg, 1);
			if (got < 0)
				goto read_err;
			if (got == 0) {
				fail("%s: truncated at offset %" PRIu64 ": a zero length prefix at the end of the file",
				     pos[0], off);
				goto out;
			}
			len = dd_itch_msg_len(msg[0]);
			if (len == 0) {
				fail("%s: offset %" PRIu64 ": zero length prefix before unknown message type 0x%02x (%c); "
				     "cannot tell its length (is this a NASDAQ BinaryFILE?)",
				     pos[0], off, msg[0], msg[0] >= 0x21 && msg[0] <= 0x7e ? msg[0] : '?');
				goto out;
			}
			got = read_full(in, msg + 1, len - 1);
			if (got < 0)
				goto read_err;
			if ((size_t)got < len - 1) {
				fail("%s: truncated at offset %" PRIu64 ": message type '%c' needs %zu bytes, %ld left",
				     pos[0], off, msg[0], len, got + 1);
				goto out;
			}
			repaired++;
		} else {
			got = read_full(in, msg, len);
			if (got < 0)
				goto read_err;
			if ((size_t)got < len) {
				fail("%s: truncated at offset %" PRIu64 ": length prefix %zu runs past the end "
				     "of the file (%ld bytes left)", pos[0], off, len, got);
				goto out;
			}
			spec = dd_itch_msg_len(msg[0]);
			if (spec && spec != len) {
				fail("%s: offset %" PRIu64 ": length prefix %zu, but ITCH 5.0 '%c' (%s) "
				     "messages are %zu bytes",
				     pos[0], off, len, msg[0], dd_itch_msg_name(msg[0]), spec);
				goto out;
			}
		}
		/* Unknown types too short for a timestamp keep the previous message's time. */
		if (len >= DD_ITCH_HDR_LEN) {
			ts = 0;
			for (int i = 5; i < 11; i++)
				ts = ts << 8 | msg[i];
		}
		ret = add_msg(g, msg, len, ts);
		if (ret) {
			char what[96];

			snprintf(what, sizeof(what), "%s: the %zu-byte message at offset %" PRIu64, pos[0], len, off);
			pipeline_error(g, ret, what);
			goto out;
		}
		off += 2 + (uint64_t)len;
	}
	ret = finish(g);
	if (ret) {
		pipeline_error(g, ret, "end of stream");
		goto out;
	}
	failed = false;
	goto out;
read_err:
	fail("read(%s) failed at offset %" PRIu64 ": %s", pos[0], off, strerror((int)-got));
out:
	fclose(in);
	free(iobuf);
	if (!failed) {
		print_summary(g);
		if (repaired)
			fprintf(stderr, "dadar-gen: repaired %" PRIu64 " zero length prefixes from message types\n",
				repaired);
	}
	return gen_close(g, failed) ? EXIT_DATA : 0;
}

/* ---- synth ------------------------------------------------------------------------------------ */

/*
 * Write the planted day's expected alerts to `path`, one JSON object a line. Returns 0, or -1 after
 * telling the user; *created says whether `path` is a regular file this run wrote (removed on failure).
 */
static int write_expect(const char *path, const struct dd_plant *pl, bool *created)
{
	FILE *f = fopen(path, "w");
	struct stat st;
	char line[512];
	bool bad;

	if (f == NULL) {
		fail("open(%s) failed: %s", path, strerror(errno));
		return -1;
	}
	/* Never remove what is not a regular file (--expect /dev/stdout, a FIFO). */
	*created = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	errno = 0;
	for (unsigned i = 0; i < dd_plant_alert_count(pl); i++)
		if (dd_plant_alert_json(dd_plant_alert(pl, i), line, sizeof(line)) < 0 ||
		    fprintf(f, "%s\n", line) < 0)
			break;
	bad = ferror(f) != 0;
	bad = fclose(f) != 0 || bad;
	if (bad)
		fail("write(%s) failed: %s", path, strerror(errno ? errno : EIO));
	return bad ? -1 : 0;
}

/*
 * synth --plant: the planted day (tools/plant.h) to OUT.pcap, the second venue's feed (arbitrage) to
 * --plant-venue2, its expected alerts to --expect. Same packetizing as synth; the second venue's
 * lines go to groups of their own so that a receiver can tell the feeds apart.
 */
static int cmd_plant(const struct opts *o, const char *out)
{
	struct dd_plant_params pp = { .seed = o->seed, .background = (uint32_t)o->instruments,
				      .patterns = o->plant, .venue2_locate = (uint16_t)o->venue2_locate };
	const char *path[DD_PLANT_FEEDS] = { out, o->plant_venue2 };
	struct gen *g[DD_PLANT_FEEDS] = { NULL, NULL };
	struct opts o2 = *o;
	struct dd_plant *pl;
	struct dd_itch_msg m;
	FILE *itch = NULL;
	uint8_t buf[2 + DD_ITCH_MAX_LEN];
	bool failed = true, expect_created = false;
	unsigned feeds = 0;
	size_t memsize;
	void *mem;
	int ret;

	memsize = dd_plant_memsize(&pp);
	mem = memsize ? aligned_alloc(64, (memsize + 63) & ~(size_t)63) : NULL;
	if (mem == NULL) {
		fail("cannot allocate %zu bytes for the generator (--instruments %" PRIu64 ")", memsize,
		     o->instruments);
		return EXIT_DATA;
	}
	ret = dd_plant_init(&pl, mem, memsize, &pp);
	if (ret) {
		fail("dd_plant_init(seed %" PRIu64 ", %" PRIu64 " instruments) failed: %s", o->seed,
		     o->instruments, strerror(-ret));
		free(mem);
		return EXIT_USAGE;
	}
	o2.group ^= 1;
	o2.group_b ^= 1;
	if (o->itch_out) {
		itch = fopen(o->itch_out, "wb");
		if (itch == NULL) {
			fail("open(%s) failed: %s", o->itch_out, strerror(errno));
			goto out;
		}
	}
	for (; feeds < dd_plant_feeds(pl); feeds++)
		if (gen_open(&g[feeds], feeds ? &o2 : o, path[feeds], BASE_SYNTH))
			goto out;
	for (unsigned f = 0; f < feeds; f++) {
		while (dd_plant_next(pl, f, &m) == 1) {
			int n = dd_itch_encode(&m, buf + 2, sizeof(buf) - 2);

			if (n < 0) {
				fail("dd_itch_encode(type '%c', message %" PRIu64 ") failed: %s", m.type,
				     dd_plant_produced(pl, f), strerror(-n));
				goto out;
			}
			buf[0] = (uint8_t)(n >> 8);
			buf[1] = (uint8_t)n;
			if (f == 0 && itch && fwrite(buf, (size_t)n + 2, 1, itch) != 1) {
				fail("write(%s) failed: %s", o->itch_out, strerror(errno));
				goto out;
			}
			ret = add_msg(g[f], buf + 2, (size_t)n, m.timestamp);
			if (ret) {
				char what[64];

				snprintf(what, sizeof(what), "message type '%c' (%d bytes)", m.type, n);
				pipeline_error(g[f], ret, what);
				goto out;
			}
		}
		ret = finish(g[f]);
		if (ret) {
			pipeline_error(g[f], ret, "end of stream");
			goto out;
		}
	}
	if (write_expect(o->expect, pl, &expect_created))
		goto out;
	failed = false;
out:
	if (itch) {
		if (fclose(itch) != 0 && !failed) {
			fail("write(%s) failed: %s", o->itch_out, strerror(errno));
			failed = true;
		}
		if (failed)
			unlink(o->itch_out);
	}
	if (!failed) {
		fprintf(stderr, "dadar-gen: synth --plant seed %" PRIu64 ", %" PRIu64 " background and %u "
			"planted instruments: %" PRIu64 " messages (", o->seed, o->instruments,
			dd_plant_instruments(pl) - (uint32_t)o->instruments, dd_plant_produced(pl, 0));
		for (const char *t = "SRHAFEXDP"; *t; t++)
			fprintf(stderr, "%s%c %" PRIu64, *t == 'S' ? "" : " ", *t,
				dd_plant_type_count(pl, 0, (uint8_t)*t));
		fprintf(stderr, ")");
		if (feeds > 1)
			fprintf(stderr, ", %" PRIu64 " on the second venue", dd_plant_produced(pl, 1));
		fprintf(stderr, "; %u alerts expected in %s\n", dd_plant_alert_count(pl), o->expect);
		for (unsigned f = 0; f < feeds; f++)
			print_summary(g[f]);
	}
	for (unsigned f = 0; f < DD_PLANT_FEEDS; f++)
		if (g[f] && gen_close(g[f], failed)) {
			/* The second capture failed at close: the first goes too, like every output. */
			if (!failed && f > 0)
				unlink(path[0]);
			failed = true;
		}
	if (failed && expect_created)
		unlink(o->expect);
	free(mem);
	return failed ? EXIT_DATA : 0;
}

static int cmd_synth(int argc, char **argv)
{
	struct opts o;
	const char *pos[1];
	struct dd_synth_params sp;
	struct dd_synth *s;
	struct dd_itch_msg m;
	struct gen *g;
	FILE *itch = NULL;
	void *mem;
	size_t memsize;
	uint8_t buf[2 + DD_ITCH_MAX_LEN];
	bool failed = true;
	int ret;

	ret = cmd_opts(argc, argv, CMD_SYNTH, &o, pos, 1);
	if (ret >= 0)
		return ret;
	if (o.plant)
		return cmd_plant(&o, pos[0]);
	memset(&sp, 0, sizeof(sp));
	sp.seed = o.seed;
	sp.instruments = (uint32_t)o.instruments;
	sp.messages = o.messages;
	sp.drain = o.drain;
	memsize = dd_synth_memsize(&sp);
	mem = memsize ? aligned_alloc(64, (memsize + 63) & ~(size_t)63) : NULL;
	if (mem == NULL) {
		fail("cannot allocate %zu bytes for the generator (--instruments %" PRIu64
		     ", --messages %" PRIu64 ")", memsize, o.instruments, o.messages);
		return EXIT_DATA;
	}
	ret = dd_synth_init(&s, mem, memsize, &sp);
	if (ret) {
		fail("dd_synth_init(seed %" PRIu64 ", %" PRIu64 " instruments, %" PRIu64 " messages) failed: %s",
		     o.seed, o.instruments, o.messages, strerror(-ret));
		free(mem);
		return EXIT_USAGE;
	}
	if (o.itch_out) {
		itch = fopen(o.itch_out, "wb");
		if (itch == NULL) {
			fail("open(%s) failed: %s", o.itch_out, strerror(errno));
			free(mem);
			return EXIT_DATA;
		}
	}
	if (gen_open(&g, &o, pos[0], BASE_SYNTH)) {
		if (itch) {
			fclose(itch);
			unlink(o.itch_out);
		}
		free(mem);
		return EXIT_DATA;
	}
	while (dd_synth_next(s, &m) == 1) {
		int n = dd_itch_encode(&m, buf + 2, sizeof(buf) - 2);

		if (n < 0) {
			fail("dd_itch_encode(type '%c', message %" PRIu64 ") failed: %s", m.type,
			     dd_synth_produced(s), strerror(-n));
			goto out;
		}
		buf[0] = (uint8_t)(n >> 8);
		buf[1] = (uint8_t)n;
		if (itch && fwrite(buf, (size_t)n + 2, 1, itch) != 1) {
			fail("write(%s) failed: %s", o.itch_out, strerror(errno));
			goto out;
		}
		ret = add_msg(g, buf + 2, (size_t)n, m.timestamp);
		if (ret) {
			char what[64];

			snprintf(what, sizeof(what), "message type '%c' (%d bytes)", m.type, n);
			pipeline_error(g, ret, what);
			goto out;
		}
	}
	ret = finish(g);
	if (ret) {
		pipeline_error(g, ret, "end of stream");
		goto out;
	}
	failed = false;
out:
	if (itch) {
		if (fclose(itch) != 0 && !failed) {
			fail("write(%s) failed: %s", o.itch_out, strerror(errno));
			failed = true;
		}
		if (failed)
			unlink(o.itch_out);
	}
	if (!failed) {
		fprintf(stderr, "dadar-gen: synth seed %" PRIu64 ", %" PRIu64 " instruments: %" PRIu64
			" messages (", o.seed, o.instruments, dd_synth_produced(s));
		for (const char *t = dd_itch_types; *t; t++)
			fprintf(stderr, "%s%c %" PRIu64, t == dd_itch_types ? "" : " ", *t,
				dd_synth_type_count(s, (uint8_t)*t));
		fprintf(stderr, "), %" PRIu64 " live orders at end\n", dd_synth_live_orders(s));
		print_summary(g);
	}
	free(mem);
	return gen_close(g, failed) ? EXIT_DATA : 0;
}

/* ---- payments-csv ----------------------------------------------------------------------------- */

static int cmd_payments_csv(int argc, char **argv)
{
	struct opts o;
	const char *pos[2];
	struct dd_paygen_csv rd;
	struct dd_paygen_msg m;
	struct gen *g;
	FILE *in;
	char *iobuf;
	uint8_t msg[DD_PAYGEN_MSG_LEN];
	uint64_t rows = 0;
	bool failed = true;
	int ret;

	ret = open_file_cmd(argc, argv, CMD_PAYMENTS_CSV, "r", BASE_PAYMENTS, &o, pos, &in, &iobuf, &g);
	if (ret >= 0)
		return ret;
	dd_paygen_csv_init(&rd, in, pos[0]);
	while ((ret = dd_paygen_csv_next(&rd, &m)) == 1) {
		dd_paygen_encode(&m, msg);
		ret = add_msg(g, msg, sizeof(msg), m.event_ns);
		if (ret) {
			char what[96];

			snprintf(what, sizeof(what), "%s:%" PRIu64 ": the payment", pos[0], rd.line);
			pipeline_error(g, ret, what);
			goto out;
		}
		rows++;
	}
	if (ret < 0) {
		fail("%s", rd.err);
		goto out;
	}
	ret = finish(g);
	if (ret) {
		pipeline_error(g, ret, "end of stream");
		goto out;
	}
	failed = false;
out:
	fclose(in);
	free(iobuf);
	if (!failed) {
		fprintf(stderr, "dadar-gen: payments-csv %s: %" PRIu64 " payments\n", pos[0], rows);
		print_summary(g);
	}
	return gen_close(g, failed) ? EXIT_DATA : 0;
}

/* ---- payments --------------------------------------------------------------------------------- */

/* An output file besides the capture (--csv, --labels, --merchant-table): removed if the run fails. */
struct side_out {
	const char *path;
	FILE *f;
	bool created;   /* a regular file this run created or truncated: removed on failure */
};

static int side_open(struct side_out *s, const char *path, const char *header)
{
	struct stat st;

	s->path = path;
	if (path == NULL)
		return 0;
	s->f = fopen(path, "w");
	if (s->f == NULL) {
		fail("open(%s) failed: %s", path, strerror(errno));
		return -1;
	}
	/* Never remove what is not a regular file (--csv /dev/stdout, a FIFO). */
	s->created = fstat(fileno(s->f), &st) == 0 && S_ISREG(st.st_mode);
	if (fprintf(s->f, "%s\n", header) < 0) {
		fail("write(%s) failed: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Close `s`; returns -1 (after telling the user unless `quiet`) if its data did not all reach the file. */
static int side_close(struct side_out *s, bool quiet)
{
	bool bad;

	if (s->f == NULL)
		return 0;
	errno = 0;
	bad = ferror(s->f) != 0;
	bad = fclose(s->f) != 0 || bad;
	s->f = NULL;
	if (bad && !quiet)
		fail("write(%s) failed: %s", s->path, strerror(errno ? errno : EIO));
	return bad ? -1 : 0;
}

static void print_start(uint64_t start_ns, char *buf, size_t len)
{
	time_t t = (time_t)(start_ns / NS_PER_S) + 19800; /* shown in IST (+05:30) */
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S IST", &tm) == 0)
		snprintf(buf, len, "%" PRIu64 " ns", start_ns);
}

static int cmd_payments(int argc, char **argv)
{
	struct opts o;
	const char *pos[1];
	struct dd_paygen_params pp;
	struct dd_paygen *pg;
	struct dd_paygen_msg m;
	enum dd_paygen_scenario label;
	struct side_out csv, labels, table;
	struct gen *g = NULL;
	uint8_t msg[DD_PAYGEN_MSG_LEN];
	char why[256], start[48];
	void *mem;
	size_t memsize;
	bool failed = true;
	int ret;

	ret = cmd_opts(argc, argv, CMD_PAYMENTS, &o, pos, 1);
	if (ret >= 0)
		return ret;
	memset(&pp, 0, sizeof(pp));
	pp.seed = o.seed;
	pp.count = o.count;
	pp.payers = (uint32_t)o.payers;
	pp.days = (uint32_t)o.days;
	pp.instances = (uint32_t)o.scenarios;
	pp.start_ns = o.start_ns;
	if (dd_paygen_check(&pp, why, sizeof(why))) {
		fail("%s", why);
		return EXIT_USAGE;
	}
	memsize = dd_paygen_memsize(&pp);
	mem = memsize ? aligned_alloc(64, (memsize + 63) & ~(size_t)63) : NULL;
	if (mem == NULL) {
		fail("cannot allocate %zu bytes for the generator (--payers %" PRIu64 ", --scenarios %" PRIu64 ")",
		     memsize, o.payers, o.scenarios);
		return EXIT_DATA;
	}
	ret = dd_paygen_init(&pg, mem, memsize, &pp);
	if (ret) {
		fail("dd_paygen_init(seed %" PRIu64 ", %" PRIu64 " payments, %" PRIu64 " payers) failed: %s",
		     o.seed, o.count, o.payers, strerror(-ret));
		free(mem);
		return EXIT_DATA;
	}
	memset(&csv, 0, sizeof(csv));
	memset(&labels, 0, sizeof(labels));
	memset(&table, 0, sizeof(table));
	if (side_open(&csv, o.csv_out, DD_PAYGEN_CSV_HEADER) ||
	    side_open(&labels, o.labels, "txn_id,scenario") ||
	    side_open(&table, o.merchant_table, "merchant,risk") ||
	    gen_open(&g, &o, pos[0], BASE_PAYMENTS))
		goto out;
	while (dd_paygen_next(pg, &m, &label) == 1) {
		dd_paygen_encode(&m, msg);
		if (csv.f && dd_paygen_csv_write(csv.f, &m)) {
			fail("write(%s) failed: %s", csv.path, strerror(errno ? errno : EIO));
			goto out;
		}
		if (labels.f && label != DD_PAYGEN_NORMAL &&
		    fprintf(labels.f, "%" PRIu64 ",%s\n", m.txn_id, dd_paygen_scenario_name(label)) < 0) {
			fail("write(%s) failed: %s", labels.path, strerror(errno));
			goto out;
		}
		ret = add_msg(g, msg, sizeof(msg), m.event_ns);
		if (ret) {
			char what[64];

			snprintf(what, sizeof(what), "payment %" PRIu64, m.txn_id);
			pipeline_error(g, ret, what);
			goto out;
		}
	}
	for (uint32_t i = 0; table.f && i < dd_paygen_merchants(pg); i++) {
		uint64_t id;
		unsigned risk;

		dd_paygen_merchant(pg, i, &id, &risk);
		if (fprintf(table.f, "%" PRIu64 ",%u\n", id, risk) < 0) {
			fail("write(%s) failed: %s", table.path, strerror(errno));
			goto out;
		}
	}
	ret = finish(g);
	if (ret) {
		pipeline_error(g, ret, "end of stream");
		goto out;
	}
	failed = false;
out:
	/* A write error found at close fails the run: then every output goes, the capture included. */
	for (struct side_out *so = &csv; so; so = so == &csv ? &labels : so == &labels ? &table : NULL)
		if (side_close(so, failed))
			failed = true;
	if (failed) {
		if (csv.created)
			unlink(csv.path);
		if (labels.created)
			unlink(labels.path);
		if (table.created)
			unlink(table.path);
	}
	if (!failed) {
		print_start(o.start_ns, start, sizeof(start));
		fprintf(stderr, "dadar-gen: payments seed %" PRIu64 ", %" PRIu64 " day%s from %s, %" PRIu64
			" payer%s, %" PRIu32 " merchants: %" PRIu64 " payments (%" PRIu64 " ordinary",
			o.seed, o.days, o.days == 1 ? "" : "s", start, o.payers, o.payers == 1 ? "" : "s",
			dd_paygen_merchants(pg), o.count, dd_paygen_label_count(pg, DD_PAYGEN_NORMAL));
		for (int s = 1; s < DD_PAYGEN_SCENARIOS; s++)
			fprintf(stderr, ", %s %" PRIu64, dd_paygen_scenario_name((enum dd_paygen_scenario)s),
				dd_paygen_label_count(pg, (enum dd_paygen_scenario)s));
		fputs(")\n", stderr);
		if (dd_paygen_crowded(pg))
			fprintf(stderr, "dadar-gen: warning: %" PRIu64 " ordinary payments found no payer within "
				"the ordinary margins and may fire velocity rules; raise --payers\n",
				dd_paygen_crowded(pg));
		print_summary(g);
	}
	free(mem);
	if (g == NULL)
		return EXIT_DATA;
	return gen_close(g, failed) ? EXIT_DATA : 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", "dadar-gen", DD_VERSION);
			return 0;
		}
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "itch-file"))
		return cmd_itch_file(argc - 1, argv + 1);
	if (!strcmp(cmd, "synth"))
		return cmd_synth(argc - 1, argv + 1);
	if (!strcmp(cmd, "payments-csv"))
		return cmd_payments_csv(argc - 1, argv + 1);
	if (!strcmp(cmd, "payments"))
		return cmd_payments(argc - 1, argv + 1);
	if (!strcmp(cmd, "send"))
		return dd_gen_send(argc - 1, argv + 1);
	fail("%s: unknown subcommand; use itch-file, synth, payments-csv, payments or send (see dadar-gen help)",
	     cmd);
	return EXIT_USAGE;
}
