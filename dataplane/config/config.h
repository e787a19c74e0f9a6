/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_CONFIG_H
#define DD_DATAPLANE_CONFIG_H

/*
 * dadar's configuration: a file of `key = value` lines and command-line flags that override it.
 * Every key is also a flag: `--key value` with dots and underscores written as dashes
 * (`capacity.orders` → `--capacity-orders`), and `--set key=value` takes any key. Each value is
 * checked when it is read, and the whole configuration once more when it is complete; every
 * rejection names the key, the value, where it came from and what would be accepted. DPDK-free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane/wire/feed.h"
#include "dataplane/journal/jfile.h"
#include "ops/book/book.h"
#include "ops/chain.h"
#include "ops/fraud/fraud.h"

#define DD_PATH_MAX 512

/* What every binary's --version prints (after its name). */
#define DD_VERSION "0.4 (journal format 2, telemetry segment 3)"

#define DD_INSTANCE_MAX 32

enum dd_pipeline {
	DD_PIPELINE_RTC,    /* one lcore polls, decodes and runs the operators */
	DD_PIPELINE_STAGED, /* an RX lcore decodes and dispatches over rings to worker lcores */
};

enum dd_jsync {
	DD_JSYNC_GROUP, /* O_DIRECT writes linked to fdatasync: durable = on stable storage */
	DD_JSYNC_PAGE,  /* buffered writes, no sync: durable = in the page cache */
	DD_JSYNC_OFF,   /* nothing written: the journal stage runs, nothing to recover */
};

enum dd_jidle {
	DD_JIDLE_SPIN,  /* keep polling: no syscall beyond io_uring's own */
	DD_JIDLE_YIELD, /* sched_yield while waiting: an io_uring worker woken on this CPU can run */
};

/* The operators of the market-data chain (chain.market). */
enum dd_market_chain {
	DD_CHAIN_BOOK,      /* the order book */
	DD_CHAIN_BOOK_TEST, /* the book, then the test operators (ops/test/test_ops.h) */
};

/* Parameters of the test operators when chain.market includes them. */
#define DD_TEST_MULTI_OUTPUTS 3
#define DD_TEST_TIMER_PERIOD_NS 1000000ull

enum dd_release {
	DD_RELEASE_DURABLE,   /* an output leaves once its journal record is durable */
	DD_RELEASE_IMMEDIATE, /* an output leaves as soon as it is decided */
};

/* What the watermark does when every market feed is idle. */
enum dd_wm_all_idle {
	DD_WM_ALL_IDLE_HOLD = 0, /* it stays at the largest feed's time (less the delay) */
	DD_WM_ALL_IDLE_CLOCK,    /* it goes on from there with the wall clock (a feed that stopped goes stale) */
};

/* How a staged pipeline shards market events (ops/route.h). */
enum dd_route_cfg {
	DD_ROUTE_CFG_AUTO = 0, /* by symbol with more than one market feed, else by locate */
	DD_ROUTE_CFG_LOCATE,
	DD_ROUTE_CFG_SYMBOL,
};

struct dd_config {
	enum dd_pipeline pipeline;
	unsigned workers;          /* staged: worker lcores */
	enum dd_route_cfg route;   /* staged: how market events are sharded */
	unsigned rx_burst;         /* packets per rte_eth_rx_burst */
	unsigned rx_desc;          /* RX descriptors per queue */
	unsigned mbufs;            /* mbufs in the pool */
	unsigned mbuf_size;        /* data room per mbuf */
	unsigned ring_size;        /* staged: events per worker ring */
	uint64_t exit_on_idle_ms;  /* stop when no packet arrived for this long; 0 = never */
	bool check_ip_csum;        /* verify IPv4 header checksums in software */
	bool check_udp_csum;       /* verify UDP checksums in software */
	bool quiet;                /* no human summary on stdout */
	bool nic_timestamps;
	bool stamps;               /* read dadar-gen send's send stamps (benchmarks) */       /* RX time from the NIC where the driver timestamps packets */
	char summary[DD_PATH_MAX];   /* JSON summary at exit; "" = none */
	char book_dump[DD_PATH_MAX]; /* CSV book dump at exit; "" = none */
	char instance[DD_INSTANCE_MAX];
	struct dd_book_params book;
	struct dd_mold_params mold;
	uint64_t mold_timeout_us;  /* reorder timeout in µs (converted to TSC ticks at start) */
	char journal[DD_PATH_MAX]; /* journal directory; "" = no journal */
	enum dd_jsync jsync;
	uint64_t jcommit_us;       /* group commit interval */
	unsigned jcommit_bytes;    /* ... or this many bytes, whichever first */
	unsigned jsegment_mb;      /* segment file size */
	unsigned jring_size;       /* items per producer ring */
	uint64_t jstall_ms;        /* a full journal ring this long stops input */
	bool jsqpoll;              /* io_uring SQPOLL: no syscall on the journal lcore */
	char jio_cpus[DD_PATH_MAX]; /* CPUs for io_uring's workers and SQPOLL thread ("0,2-3"); "" = any */
	enum dd_jidle jidle;       /* what the journal lcore does while only waiting for the disk */
	enum dd_release release;
	char output[DD_PATH_MAX];  /* released outputs as JSON lines; "" = none */
	/* the output stream (docs/wire-formats.md, "Output messages"): the keys as given ... */
	char out_udp[DD_PATH_MAX];      /* GROUP:PORT@PORTID; "" = off */
	char out_source[DD_PATH_MAX];   /* IP[:PORT] the datagrams come from */
	char out_dst_mac[DD_PATH_MAX];  /* destination MAC; "" = the group's multicast MAC (unicast: broadcast) */
	char out_request[DD_PATH_MAX];  /* request server IP:PORT; "" = 0.0.0.0:PORT+1; "none" = off */
	char out_session[DD_PATH_MAX];  /* first session's name; "" = the Unix time */
	unsigned out_mtu;               /* UDP payload bytes per datagram */
	uint64_t out_heartbeat_ms;      /* heartbeat after this long without a datagram; 0 = never */
	unsigned out_history;           /* outputs kept in memory for retransmission */
	unsigned out_request_max;       /* most messages one request is answered with */
	uint64_t out_request_rate;      /* messages per second the request server sends at most */
	/* ... and parsed by dd_config_check() */
	struct dd_out_udp {
		bool on;
		uint32_t group, src_ip, req_ip;  /* host order */
		uint16_t port, portid, src_port, req_port;
		bool req_off;
		bool have_mac;
		uint8_t dst_mac[6];
	} outu;
	char nats[DD_PATH_MAX];         /* NATS server URL for the JetStream bridge; "" = off */
	char nats_stream[DD_PATH_MAX];  /* JetStream stream name */
	unsigned nats_backlog;          /* without a journal: outputs kept for the broker */
	uint64_t nats_drain_ms;         /* at a clean stop: how long to wait for the broker to take the rest */
	uint64_t snapshot_every;   /* journal records (LSNs) between snapshots; 0 = never */
	enum dd_market_chain market_chain;
	uint64_t wm_interval_us;   /* event time between watermark ticks (time-driven operators only) */
	uint64_t wm_delay_us;      /* bounded out-of-orderness: ticks lag the latest event time by this */
	uint64_t wm_idle_ms;       /* a market feed without an event this long holds the watermark no more */
	enum dd_wm_all_idle wm_all_idle;
	char fraud_rules[DD_PATH_MAX];          /* fraud rule file; "" = the built-in default */
	char fraud_merchant_table[DD_PATH_MAX]; /* CSV merchant,risk; "" = empty */
	char fraud_mcc_table[DD_PATH_MAX];      /* CSV mcc,score; "" = empty */
	char fraud_risk_areas[DD_PATH_MAX];     /* CSV lat_e6,lon_e6,radius_km; "" = none */
	struct dd_fraud_params fraud;           /* the fraud operator's capacities */
	char rules[DD_PATH_MAX * 4];            /* market rule files, comma separated; "" = none */
	bool rules_flagged;                     /* a --rules flag was applied (later ones add to it) */
	bool market_rules;                      /* the market chain has the window and pattern operators */
	unsigned mkeys;                         /* symbols the market rules keep state for */
	unsigned cep_key_bytes;                 /* pattern state per symbol; 0 = what the rules need */
	unsigned cep_key_bytes_min;             /* the least the rules run with (alerts listing no records;
	                                         * dd_cep_key_bytes_min()), set with cep_key_bytes */
	unsigned window_key_bytes;              /* window state per symbol; 0 = what the rules need */
	unsigned nfeeds;           /* 0 = the default feeds: ITCH on any destination, payments on port 26480 */
	struct dd_feed_cfg feed[DD_MAX_FEEDS];
	uint64_t was_set[2];       /* a bit per key: given in a file or a flag (not a default) */
	char feed_origin[DD_MAX_FEEDS][48]; /* where each feed was defined ("file.conf:12", "--feed") */
};

/* Fill `c` with the defaults. */
void dd_config_defaults(struct dd_config *c);

/*
 * Set `key` to `value`; `origin` ("file.conf:12", "--workers") is quoted in errors.
 * Returns 0, or -EINVAL with a message in err.
 */
int dd_config_set(struct dd_config *c, const char *key, const char *value, const char *origin, char *err,
		  size_t errlen);

/* Read a config file. Returns 0, -EINVAL (bad content) or -errno (cannot read), with a message. */
int dd_config_load(struct dd_config *c, const char *path, char *err, size_t errlen);

/*
 * Apply the application arguments (after DPDK's `--`): `--config FILE` is read first wherever it
 * appears, then every other flag in order. Returns 0; 1 if --help was given (usage printed to
 * `out`); -EINVAL with a message.
 */
int dd_config_args(struct dd_config *c, int argc, char **argv, FILE *out, char *err, size_t errlen);

/* Was `key` given (in a config file or a flag) rather than left at its default? */
bool dd_config_was_set(const struct dd_config *c, const char *key);

/*
 * The market rules of the configuration (`rules`): its files read, each behind a "#line 1 FILE"
 * marker, into one malloc'd text (what the journal records), and compiled into a malloc'd image.
 * Returns 0 (*out NULL if there are none), or -errno with a message naming FILE:LINE:COLUMN.
 */
struct dd_mrules;
int dd_config_market_rules(const struct dd_config *c, struct dd_mrules **out, char **text, size_t *len, char *err,
			   size_t errlen);

/*
 * Size the window and pattern operators for `img` where the configuration leaves it to the rules
 * (cep.key_bytes, window.key_bytes 0), and mark the market chain as having them (img NULL: not).
 */
void dd_config_market_size(struct dd_config *c, const struct dd_mrules *img);

/* The market-data chain this configuration runs, for `nfeeds` market feeds. Returns 0 or -errno. */
int dd_config_market_chain(const struct dd_config *c, unsigned nfeeds, struct dd_chain_spec *out);

/* The payment chain (the fraud operator), or an empty spec if no feed is a payment feed. */
int dd_config_payment_chain(const struct dd_config *c, const struct dd_feed_cfg *feeds, unsigned nfeeds,
			    struct dd_chain_spec *out);

/*
 * The feeds this configuration reads: its own, or the defaults (a catch-all ITCH feed "itch" and a
 * payment feed "payments" on UDP port DD_PAY_DEFAULT_PORT). Market feeds come first (a payment
 * feed's index is above every market feed's). Returns how many were written to out[DD_MAX_FEEDS].
 */
unsigned dd_config_feeds(const struct dd_config *c, struct dd_feed_cfg *out);

/* Market feeds among feeds[0..n) (they come first). */
unsigned dd_config_market_feeds(const struct dd_feed_cfg *feeds, unsigned n);

/*
 * The fraud rule text this configuration runs: fraud.rules (or the built-in default), followed by
 * the tables of fraud.merchant_table, fraud.mcc_table and fraud.risk_areas as `table` blocks.
 * Every file error names the key, file and line. On success *text is malloc'd (the caller frees
 * it) and *origin names the rule file. Returns 0, -EINVAL or -errno, with a message.
 */
int dd_config_fraud_text(const struct dd_config *c, char **text, size_t *len, const char **origin, char *err,
			 size_t errlen);

/*
 * Compile the configuration's fraud rules into a malloc'd image (the caller frees it), every error
 * with file:line:column. Returns 0 or -EINVAL/-errno with the message (the first error) in err.
 */
int dd_config_fraud_rules(const struct dd_config *c, struct dd_frules **out, char **text, size_t *len, char *err,
			  size_t errlen);

/*
 * Take the configuration a journal was written with (capacities, chain.market), so recovery and
 * replay need nothing repeated. A value given explicitly that differs is refused: -EINVAL with a
 * message naming the key and both values; a configuration this build cannot run is -EBADMSG.
 */
int dd_config_adopt_journal(struct dd_config *c, const struct dd_jconfig *j, char *err, size_t errlen);

/* Cross-field checks once everything is set. Returns 0 or -EINVAL with a message. */
int dd_config_check(const struct dd_config *c, char *err, size_t errlen);

/* Is `arg` ("--exit-on-idle") one of dadar's flags (as dd_config_args() takes them)? */
bool dd_config_is_flag(const char *arg);

/* Print the option reference (every key, its flag, default and range) to `out`. */
void dd_config_usage(FILE *out);

/* Render a feed line as text ("233.54.12.111:26477", "*:26477@port1"). */
void dd_feed_line_format(const struct dd_feed_line *l, char *buf, size_t len);

/*
 * Parse a CPU list ("3", "0,2-3"): the CPUs into *set (cleared first). Returns 0, or -EINVAL with the reason
 * in err (a malformed list, a CPU past CPU_SETSIZE, a range backwards, an empty list).
 */
struct dd_cpuset {
	uint64_t bits[16];   /* CPUs 0..1023 */
	unsigned count, first;
};
int dd_cpulist_parse(const char *s, struct dd_cpuset *set, char *err, size_t errlen);

#endif /* DD_DATAPLANE_CONFIG_H */
