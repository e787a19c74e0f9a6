/* SPDX-License-Identifier: MIT */
#include "tools/paygen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/be.h"

/* ---- the wire message ------------------------------------------------------------------------- */

/* docs/wire-formats.md, "Payment authorisation": the offsets below are that table's. */
enum {
	OFF_TYPE = 0, OFF_VERSION = 1, OFF_EVENT_NS = 2, OFF_TXN_ID = 10, OFF_PAYER = 18, OFF_PAYEE = 26,
	OFF_MERCHANT = 34, OFF_AMOUNT = 42, OFF_CURRENCY = 50, OFF_MCC = 53, OFF_CHANNEL = 55,
	OFF_KIND = 56, OFF_DEVICE = 57, OFF_LAT = 65, OFF_LON = 69,
};
_Static_assert(OFF_LON + 4 == DD_PAYGEN_MSG_LEN, "the payment message is 73 bytes");

void dd_paygen_encode(const struct dd_paygen_msg *m, uint8_t out[DD_PAYGEN_MSG_LEN])
{
	out[OFF_TYPE] = DD_PAYGEN_TYPE;
	out[OFF_VERSION] = DD_PAYGEN_VERSION;
	dd_st_be64(out + OFF_EVENT_NS, m->event_ns);
	dd_st_be64(out + OFF_TXN_ID, m->txn_id);
	dd_st_be64(out + OFF_PAYER, m->payer);
	dd_st_be64(out + OFF_PAYEE, m->payee);
	dd_st_be64(out + OFF_MERCHANT, m->merchant);
	dd_st_be64(out + OFF_AMOUNT, (uint64_t)m->amount);
	memcpy(out + OFF_CURRENCY, m->currency, 3);
	dd_st_be16(out + OFF_MCC, m->mcc);
	out[OFF_CHANNEL] = m->channel;
	out[OFF_KIND] = m->kind;
	dd_st_be64(out + OFF_DEVICE, m->device);
	dd_st_be32(out + OFF_LAT, (uint32_t)m->lat_e6);
	dd_st_be32(out + OFF_LON, (uint32_t)m->lon_e6);
}

/* ---- the payment CSV -------------------------------------------------------------------------- */

enum {
	COL_TXN_ID, COL_TIME_NS, COL_PAYER, COL_PAYEE, COL_MERCHANT, COL_AMOUNT, COL_CURRENCY, COL_MCC,
	COL_CHANNEL, COL_TYPE, COL_DEVICE, COL_LAT, COL_LON,
};

static const char *const col_names[DD_PAYGEN_CSV_COLUMNS] = {
	"txn_id", "time_ns", "payer", "payee", "merchant", "amount_minor", "currency", "mcc", "channel",
	"type", "device", "lat_e6", "lon_e6",
};

struct spelling {
	const char *name;
	uint8_t code;
};

static const struct spelling channels[] = {
	{ "upi", DD_PAYGEN_CHANNEL_UPI }, { "card", DD_PAYGEN_CHANNEL_CARD },
	{ "wallet", DD_PAYGEN_CHANNEL_WALLET },
};

static const struct spelling kinds[] = {
	{ "p2p", DD_PAYGEN_KIND_P2P }, { "p2m", DD_PAYGEN_KIND_P2M }, { "bill", DD_PAYGEN_KIND_BILL },
};


struct field {
	const char *p;
	size_t n;
};

void dd_paygen_csv_init(struct dd_paygen_csv *r, FILE *f, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->name = name;
}

__attribute__((format(printf, 2, 3))) static int csv_error(struct dd_paygen_csv *r, const char *fmt, ...);

static int csv_error(struct dd_paygen_csv *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, sizeof(r->err), "%s:%" PRIu64 ": ", r->name, r->line);

	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int col_error(struct dd_paygen_csv *r, int col, const struct field *f, const char *why)
{
	return csv_error(r, "column %d (%s): '%.*s' %s", col + 1, col_names[col], (int)f->n, f->p, why);
}

/*
 * Read one line into r->buf without its newline (and a CR before it). Returns its length, -ENODATA
 * at the end of the file, -EINVAL for a line too long or with a NUL byte, -errno of a failed read.
 */
static int read_line(struct dd_paygen_csv *r)
{
	size_t n = 0;
	int c = getc(r->f);

	if (c == EOF) {
		if (ferror(r->f))
			goto read_err;
		return -ENODATA;
	}
	r->line++;
	for (; c != EOF && c != '\n'; c = getc(r->f)) {
		if (c == '\0')
			return csv_error(r, "a NUL byte at character %zu (is this a text file?)", n + 1);
		if (n == DD_PAYGEN_CSV_LINE_MAX)
			return csv_error(r, "line longer than %d characters", DD_PAYGEN_CSV_LINE_MAX);
		r->buf[n++] = (char)c;
	}
	if (c == EOF && ferror(r->f))
		goto read_err;
	if (n && r->buf[n - 1] == '\r')
		n--;
	r->buf[n] = '\0';
	return (int)n;
read_err:
	snprintf(r->err, sizeof(r->err), "read(%s) failed after line %" PRIu64 ": %s", r->name, r->line,
		 strerror(errno ? errno : EIO));
	return errno ? -errno : -EIO;
}

/* Split r->buf (`len` bytes) at commas into at most `max` fields; returns how many there are. */
static size_t split(const char *s, size_t len, struct field *f, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ',')
			continue;
		if (n < max) {
			f[n].p = s + start;
			f[n].n = i - start;
		}
		n++;
		start = i + 1;
	}
	return n;
}

static int check_header(struct dd_paygen_csv *r, size_t len)
{
	static const char bom[] = "\xef\xbb\xbf";
	struct field f[DD_PAYGEN_CSV_COLUMNS];
	const char *s = r->buf;
	size_t n;

	if (len >= 3 && memcmp(s, bom, 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len == strlen(DD_PAYGEN_CSV_HEADER) && memcmp(s, DD_PAYGEN_CSV_HEADER, len) == 0)
		return 0;
	n = split(s, len, f, DD_PAYGEN_CSV_COLUMNS);
	for (size_t i = 0; i < n && i < DD_PAYGEN_CSV_COLUMNS; i++)
		if (f[i].n != strlen(col_names[i]) || memcmp(f[i].p, col_names[i], f[i].n) != 0)
			return csv_error(r, "header column %zu is '%.*s', expected '%s'%s (the header must be "
					 "exactly " DD_PAYGEN_CSV_HEADER ")", i + 1, (int)f[i].n, f[i].p,
					 col_names[i], i == 0 ? " (is the header missing?)" : "");
	return csv_error(r, "header has %zu columns, expected %d (the header must be exactly "
			 DD_PAYGEN_CSV_HEADER ")", n, DD_PAYGEN_CSV_COLUMNS);
}

/* A plain decimal integer: optional '-' (when `neg_ok`), then 1 to 20 digits; magnitude in *mag. */
static int parse_digits(const struct field *f, bool neg_ok, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	uint64_t v = 0;

	*neg = false;
	if (neg_ok && f->n > 0 && f->p[0] == '-') {
		*neg = true;
		i = 1;
	}
	if (i == f->n)
		return -EINVAL;
	for (; i < f->n; i++) {
		unsigned d = (unsigned)(unsigned char)f->p[i] - '0';

		if (d > 9)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*mag = v;
	return 0;
}

static int field_u(struct dd_paygen_csv *r, int col, const struct field *f, uint64_t max, uint64_t *out)
{
	char why[96];
	bool neg;
	uint64_t v = 0;
	int ret = parse_digits(f, false, &neg, &v);

	if (ret == -EINVAL)
		return col_error(r, col, f, f->n ? "is not an unsigned decimal integer" : "is empty");
	if (ret == -ERANGE || v > max) {
		snprintf(why, sizeof(why), "is out of range 0..%" PRIu64, max);
		return col_error(r, col, f, why);
	}
	*out = v;
	return 0;
}

static int field_i(struct dd_paygen_csv *r, int col, const struct field *f, int64_t min, int64_t max,
		   int64_t *out)
{
	char why[96];
	bool neg;
	uint64_t v = 0;
	int ret = parse_digits(f, true, &neg, &v);

	if (ret == -EINVAL)
		return col_error(r, col, f, f->n ? "is not a decimal integer" : "is empty");
	/* -min as unsigned is (uint64_t)max + 1 for two's complement widths. */
	if (ret == -ERANGE || (!neg && v > (uint64_t)max) || (neg && v > (uint64_t)max + 1)) {
		snprintf(why, sizeof(why), "is out of range %" PRId64 "..%" PRId64, min, max);
		return col_error(r, col, f, why);
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* One of the three spellings `sp` (channels or kinds), exactly. */
static int field_word(struct dd_paygen_csv *r, int col, const struct field *f, const struct spelling *sp,
		      uint8_t *out)
{
	char why[96];

	for (size_t i = 0; i < 3; i++)
		if (f->n == strlen(sp[i].name) && memcmp(f->p, sp[i].name, f->n) == 0) {
			*out = sp[i].code;
			return 0;
		}
	snprintf(why, sizeof(why), "is not one of %s, %s, %s", sp[0].name, sp[1].name, sp[2].name);
	return col_error(r, col, f, why);
}

static bool ascii_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int dd_paygen_csv_next(struct dd_paygen_csv *r, struct dd_paygen_msg *m)
{
	struct field f[DD_PAYGEN_CSV_COLUMNS];
	uint64_t u;
	int64_t s;
	size_t n;
	int len, ret;

	if (!r->header_done) {
		len = read_line(r);
		if (len == -ENODATA) {
			snprintf(r->err, sizeof(r->err), "%s: empty file; expected the header " DD_PAYGEN_CSV_HEADER,
				 r->name);
			return -EINVAL;
		}
		if (len < 0)
			return len;
		ret = check_header(r, (size_t)len);
		if (ret)
			return ret;
		r->header_done = true;
	}
	len = read_line(r);
	if (len == -ENODATA)
		return 0;
	if (len < 0)
		return len;
	if (len == 0)
		return csv_error(r, "empty line, expected %d columns", DD_PAYGEN_CSV_COLUMNS);
	n = split(r->buf, (size_t)len, f, DD_PAYGEN_CSV_COLUMNS);
	if (n != DD_PAYGEN_CSV_COLUMNS)
		return csv_error(r, "%zu column%s, expected %d (" DD_PAYGEN_CSV_HEADER ")", n, n == 1 ? "" : "s",
				 DD_PAYGEN_CSV_COLUMNS);
	memset(m, 0, sizeof(*m));
	if ((ret = field_u(r, COL_TXN_ID, &f[COL_TXN_ID], UINT64_MAX, &m->txn_id)) ||
	    (ret = field_u(r, COL_TIME_NS, &f[COL_TIME_NS], UINT64_MAX, &m->event_ns)) ||
	    (ret = field_u(r, COL_PAYER, &f[COL_PAYER], UINT64_MAX, &m->payer)) ||
	    (ret = field_u(r, COL_PAYEE, &f[COL_PAYEE], UINT64_MAX, &m->payee)) ||
	    (ret = field_u(r, COL_MERCHANT, &f[COL_MERCHANT], UINT64_MAX, &m->merchant)) ||
	    (ret = field_i(r, COL_AMOUNT, &f[COL_AMOUNT], INT64_MIN, INT64_MAX, &m->amount)))
		return ret;
	if (f[COL_CURRENCY].n != 3 || !ascii_letter(f[COL_CURRENCY].p[0]) ||
	    !ascii_letter(f[COL_CURRENCY].p[1]) || !ascii_letter(f[COL_CURRENCY].p[2]))
		return col_error(r, COL_CURRENCY, &f[COL_CURRENCY], "is not three ASCII letters (ISO 4217, e.g. INR)");
	memcpy(m->currency, f[COL_CURRENCY].p, 3);
	if ((ret = field_u(r, COL_MCC, &f[COL_MCC], UINT16_MAX, &u)))
		return ret;
	m->mcc = (uint16_t)u;
	if ((ret = field_word(r, COL_CHANNEL, &f[COL_CHANNEL], channels, &m->channel)) ||
	    (ret = field_word(r, COL_TYPE, &f[COL_TYPE], kinds, &m->kind)) ||
	    (ret = field_u(r, COL_DEVICE, &f[COL_DEVICE], UINT64_MAX, &m->device)))
		return ret;
	if ((ret = field_i(r, COL_LAT, &f[COL_LAT], INT32_MIN, INT32_MAX, &s)))
		return ret;
	m->lat_e6 = (int32_t)s;
	if ((ret = field_i(r, COL_LON, &f[COL_LON], INT32_MIN, INT32_MAX, &s)))
		return ret;
	m->lon_e6 = (int32_t)s;
	return 1;
}

static const char *code_name(const struct spelling *sp, uint8_t code)
{
	for (size_t i = 0; i < 3; i++)
		if (sp[i].code == code)
			return sp[i].name;
	return NULL;
}

int dd_paygen_csv_write(FILE *f, const struct dd_paygen_msg *m)
{
	const char *ch = code_name(channels, m->channel), *k = code_name(kinds, m->kind);

	if (ch == NULL || k == NULL || !ascii_letter(m->currency[0]) || !ascii_letter(m->currency[1]) ||
	    !ascii_letter(m->currency[2]))
		return -EINVAL;
	if (fprintf(f, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%.3s,%u,%s,%s,%"
		    PRIu64 ",%" PRId32 ",%" PRId32 "\n",
		    m->txn_id, m->event_ns, m->payer, m->payee, m->merchant, m->amount, m->currency,
		    (unsigned)m->mcc, ch, k, m->device, m->lat_e6, m->lon_e6) < 0)
		return -EIO;
	return 0;
}

/* ---- the synthetic stream --------------------------------------------------------------------- */

#define NS          UINT64_C(1000000000)
#define HOUR_S      3600u
#define DAY_S       86400u
#define HOUR_NS     (HOUR_S * NS)
#define DAY_NS      (DAY_S * NS)
#define IST_S       19800u          /* +05:30 */
#define RUPEE       100             /* paise */
#define MAX_START_NS ((uint64_t)4000000000 * NS) /* 2096-10-02: leaves room for the days and u64 sums */

/*
 * Ordinary traffic stays clear of every rule a scenario is built to fire, with margin, so a label
 * is the only reason a payment should be flagged beyond the rules every first payment fires
 * (new_device, new_merchant, merchant_category). Per payer (window in whole seconds, counting one
 * second more than the rule does): at most 15 payments and Rs 40,000 an hour, Rs 1,50,000 a day,
 * never the same amount twice in a row; amounts avoid the round, below-limit and structuring sets
 * and stay at or below Rs 24,000 (new_device_large needs more than Rs 25,000) and, from 23:00 to
 * 05:59 IST, at or below Rs 8,900 (late_night_large needs more than Rs 10,000); a payer always pays
 * from the same place (or from none); at most two payers share a device; ordinary merchants have
 * risk 0-40 and none of the risky MCCs.
 */
#define CLEAN_HOUR_COUNT  15u
#define CLEAN_HOUR_AMOUNT (40000 * RUPEE)
#define CLEAN_DAY_AMOUNT  (150000 * RUPEE)
#define RING              16u      /* payments a payer remembers: more in a day counts as busy */
#define PROBES            8u

/* Synthetic ids: payer accounts and merchant ids are scrambled indexes, unique by construction. */
#define ID_MOD      4000000000ull   /* 2^11 * 5^9 */
#define ID_MUL      2654435761ull   /* odd and not a multiple of 5: a bijection mod ID_MOD */
#define PAYER_BASE  10000000000ull  /* 11-digit accounts */
#define MERCH_BASE  50000000000ull

struct city {
	const char *name;
	int32_t lat, lon;   /* millionths of a degree */
	unsigned weight;    /* share of payers */
};

/* City centres (degrees x 1e6). */
static const struct city cities[] = {
	{ "Mumbai", 19076000, 72877700, 20 },    { "Delhi", 28613900, 77209000, 20 },
	{ "Bengaluru", 12971600, 77594600, 15 }, { "Hyderabad", 17385000, 78486700, 10 },
	{ "Chennai", 13082700, 80270700, 10 },   { "Kolkata", 22572600, 88363900, 10 },
	{ "Pune", 18520400, 73856700, 7 },       { "Ahmedabad", 23022500, 72571400, 7 },
	{ "Jaipur", 26912400, 75787300, 4 },     { "Lucknow", 26846700, 80946200, 4 },
	{ "Surat", 21170200, 72831100, 4 },      { "Kanpur", 26449900, 80331900, 2 },
	{ "Nagpur", 21145800, 79088200, 3 },     { "Indore", 22719600, 75857700, 3 },
	{ "Bhopal", 23259900, 77412600, 2 },     { "Patna", 25594100, 85137600, 3 },
	{ "Chandigarh", 30733300, 76779400, 2 }, { "Kochi", 9931200, 76267300, 2 },
	{ "Guwahati", 26144500, 91736200, 2 },   { "Visakhapatnam", 17686800, 83218500, 2 },
};
#define NCITIES (sizeof(cities) / sizeof(cities[0]))
enum { MUMBAI, DELHI, BENGALURU, HYDERABAD, CHENNAI, KOLKATA, PUNE, AHMEDABAD, JAIPUR, LUCKNOW, SURAT,
       KANPUR };

/* Pairs for the travel scenarios and the minutes between the two payments (lo..hi). */
static const struct {
	uint8_t from, to;
	uint16_t lo, hi;
} far_pairs[] = {  /* 1,000 km and more in 20-40 minutes: over 1,500 km/h */
	{ MUMBAI, DELHI, 20, 40 },   { DELHI, BENGALURU, 20, 40 }, { KOLKATA, MUMBAI, 20, 40 },
	{ CHENNAI, DELHI, 20, 40 },  { BENGALURU, KOLKATA, 20, 40 }, { HYDERABAD, DELHI, 20, 40 },
}, near_pairs[] = { /* 70-300 km at 120-180 km/h */
	{ MUMBAI, PUNE, 40, 50 },    { DELHI, JAIPUR, 90, 110 },   { BENGALURU, CHENNAI, 100, 130 },
	{ LUCKNOW, KANPUR, 25, 32 }, { AHMEDABAD, SURAT, 75, 95 },
};
#define NFAR  (sizeof(far_pairs) / sizeof(far_pairs[0]))
#define NNEAR (sizeof(near_pairs) / sizeof(near_pairs[0]))

/* Payments per IST hour of the day, relative: quiet nights, a morning rise, an evening peak. */
static const uint8_t hour_weight[24] = {
	3, 2, 1, 1, 1, 2, 4, 7, 10, 12, 13, 13, 12, 12, 11, 11, 11, 12, 14, 15, 14, 11, 7, 4,
};

static const struct {
	uint16_t mcc;
	uint8_t weight;
} retail_mccs[] = {
	{ 5411, 20 }, /* grocery stores, supermarkets */
	{ 5499, 10 }, /* misc. food stores (kirana) */
	{ 5812, 12 }, /* restaurants */
	{ 5814, 10 }, /* fast food */
	{ 5541, 8 },  /* fuel */
	{ 5912, 8 },  /* pharmacies */
	{ 4121, 8 },  /* taxis and ride hailing */
	{ 5651, 6 },  /* clothing */
	{ 5311, 5 },  /* department stores */
	{ 5732, 4 },  /* electronics */
	{ 4111, 4 },  /* local transit */
	{ 7832, 2 },  /* cinemas */
	{ 5977, 2 },  /* cosmetics */
	{ 8062, 2 },  /* hospitals */
	{ 8220, 1 },  /* colleges */
	{ 5942, 1 },  /* book stores */
	{ 7011, 1 },  /* hotels */
	{ 4511, 1 },  /* airlines */
};
#define NRETAIL (sizeof(retail_mccs) / sizeof(retail_mccs[0]))

/* Utilities, telecom, cable and DTH, insurance. */
static const uint16_t biller_mccs[] = { 4900, 4814, 4899, 6300 };
/* Betting, quasi-cash (crypto), money transfer, direct marketing, tobacco. */
static const uint16_t risky_mccs[] = { 7995, 6051, 4829, 5967, 5993 };
#define NBILLER_MCCS (sizeof(biller_mccs) / sizeof(biller_mccs[0]))
#define NRISKY_MCCS  (sizeof(risky_mccs) / sizeof(risky_mccs[0]))
#define NBILLERS     24u

static const char *const scenario_names[DD_PAYGEN_SCENARIOS] = {
	"normal", "velocity_hour_count", "velocity_hour_amount", "velocity_day_amount",
	"repeated_amount", "structuring", "below_limit", "round_amount", "new_device_large",
	"shared_device", "impossible_travel", "fast_travel", "late_night_large", "merchant_high_risk",
	"merchant_medium_risk",
};

/* Payments of one instance of each scenario, in enum order, as make_scenario() makes them. */
static const uint8_t scenario_len[DD_PAYGEN_SCENARIOS] = {
	0, 24, 4, 10, 6, 3, 4, 4, 3, 5, 2, 2, 1, 2, 2,
};

struct payer {
	int32_t lat, lon;
	uint32_t device;      /* device index */
	uint8_t city;
	uint8_t n, head;      /* ring of the last RING payments: head is the oldest when full */
	uint32_t last_amount;
	uint32_t t[RING];     /* seconds since the start of the stream */
	uint32_t amount[RING];
};

struct merchant {
	uint64_t id;
	uint16_t mcc;
	uint8_t risk;
	uint8_t city;
};

/* A scenario payment, made at init; its txn_id is given when it is emitted. */
struct spay {
	struct dd_paygen_msg m;
	uint32_t order;       /* creation order: ties in time keep it */
	uint8_t label;
};

struct dd_paygen {
	struct dd_paygen_params p;
	uint64_t rng_init[4];     /* ids, homes, merchants, scenarios */
	uint64_t rng_flow[4];     /* the ordinary traffic */
	uint64_t id_off;          /* scramble offsets of payer and merchant ids, from the seed */
	uint64_t dev_key;
	uint64_t normal_total;
	uint64_t produced;
	uint64_t crowded;
	uint64_t labels[DD_PAYGEN_SCENARIOS];
	/* ordinary traffic: stratified times, hour slot by hour slot */
	uint64_t weight_total;    /* sum of the weights of every slot */
	uint64_t weight_before;   /* of the slots before the current one */
	uint32_t nslots, slot;    /* slots started so far */
	uint64_t slot_start, slot_k, slot_q, slot_step;
	uint64_t next_normal;     /* time of the next ordinary payment */
	bool normal_ready;
	uint32_t city_weight_total;
	uint32_t retail_weight_total;
	uint32_t ndevices;        /* devices of ordinary payers */
	uint32_t next_payer;      /* scenario payers are numbered after the ordinary ones */
	uint32_t next_device;
	uint32_t nretail, nmerchants, high0, medium0, nhigh; /* merchants: retail, billers, high, medium */
	uint32_t nspay, spay_i;
	uint32_t spay_cap;        /* scenario payments the memory holds */
	uint32_t spay_made;       /* ... and made: they must agree (scenario_len[]) */
	struct spay spare;        /* where a payment beyond spay_cap goes, never emitted */
	struct payer *payers;
	struct merchant *merchants;
	struct spay *spay;
};

/* ---- random numbers: xoshiro256**, seeded through splitmix64 ---------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(uint64_t r[4])
{
	uint64_t out = rotl(r[1] * 5, 7) * 9;
	uint64_t t = r[1] << 17;

	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return out;
}

/* Uniform in [0, n), n > 0. */
static uint64_t below(uint64_t r[4], uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static uint64_t between(uint64_t r[4], uint64_t lo, uint64_t hi)
{
	return lo + below(r, hi - lo + 1);
}

static void seed_rng(uint64_t r[4], uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r[i] = splitmix64(&seed);
}

/* ---- parameters and memory -------------------------------------------------------------------- */

const char *dd_paygen_scenario_name(enum dd_paygen_scenario s)
{
	return (unsigned)s < DD_PAYGEN_SCENARIOS ? scenario_names[s] : NULL;
}

uint64_t dd_paygen_scenario_payments(uint32_t instances)
{
	uint64_t n = 0;

	for (int s = 0; s < DD_PAYGEN_SCENARIOS; s++)
		n += scenario_len[s];
	return n * instances;
}

int dd_paygen_check(const struct dd_paygen_params *p, char *why, size_t len)
{
	uint64_t scen = dd_paygen_scenario_payments(p->instances), normal, cap;

	if (p->payers == 0 || p->payers > DD_PAYGEN_MAX_PAYERS) {
		snprintf(why, len, "--payers %" PRIu32 ": must be between 1 and %u", p->payers, DD_PAYGEN_MAX_PAYERS);
		return -EINVAL;
	}
	if (p->days == 0 || p->days > DD_PAYGEN_MAX_DAYS) {
		snprintf(why, len, "--days %" PRIu32 ": must be between 1 and %u", p->days, DD_PAYGEN_MAX_DAYS);
		return -EINVAL;
	}
	if (p->instances > DD_PAYGEN_MAX_INSTANCES) {
		snprintf(why, len, "--scenarios %" PRIu32 ": must be between 0 and %u", p->instances,
			 DD_PAYGEN_MAX_INSTANCES);
		return -EINVAL;
	}
	if (p->start_ns == 0 || p->start_ns > MAX_START_NS) {
		snprintf(why, len, "--start-ns %" PRIu64 ": must be between 1 and %" PRIu64 " (2096-10-02)",
			 p->start_ns, MAX_START_NS);
		return -EINVAL;
	}
	if (p->count == 0 || p->count > DD_PAYGEN_MAX_COUNT) {
		snprintf(why, len, "--count %" PRIu64 ": must be between 1 and %" PRIu64, p->count,
			 DD_PAYGEN_MAX_COUNT);
		return -EINVAL;
	}
	if (p->count < scen) {
		snprintf(why, len, "--count %" PRIu64 ": the scenarios alone take %" PRIu64 " payments (%" PRIu32
			 " of each); raise --count or lower --scenarios (0: none)", p->count, scen, p->instances);
		return -EINVAL;
	}
	normal = p->count - scen;
	cap = (uint64_t)p->payers * p->days * DD_PAYGEN_PER_PAYER_DAY;
	if (normal > cap) {
		snprintf(why, len, "--payers %" PRIu32 ": too few for %" PRIu64 " ordinary payments in %" PRIu32
			 " day%s (at most %u per payer and day); use at least --payers %" PRIu64 " or more --days",
			 p->payers, normal, p->days, p->days == 1 ? "" : "s", DD_PAYGEN_PER_PAYER_DAY,
			 (normal + (uint64_t)p->days * DD_PAYGEN_PER_PAYER_DAY - 1) /
				 ((uint64_t)p->days * DD_PAYGEN_PER_PAYER_DAY));
		return -EINVAL;
	}
	return 0;
}

struct layout {
	size_t payers, merchants, spay, total;
	uint32_t nretail, nmerchants, nrisky;
	uint32_t nspay;
};

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static int plan(const struct dd_paygen_params *p, struct layout *l)
{
	char why[256];
	uint32_t nretail;
	size_t off;

	if (dd_paygen_check(p, why, sizeof(why)))
		return -EINVAL;
	nretail = p->payers / 20;
	if (nretail < 50)
		nretail = 50;
	/* The whole merchant table stays within dadar's default fraud.merchant_table capacity (65536). */
	if (nretail > 50000)
		nretail = 50000;
	l->nretail = nretail;
	l->nrisky = nretail / 100 < 4 ? 4 : nretail / 100;
	l->nmerchants = nretail + NBILLERS + 2 * l->nrisky;
	l->nspay = (uint32_t)dd_paygen_scenario_payments(p->instances);
	off = align64(sizeof(struct dd_paygen));
	l->payers = off;
	off = align64(off + (size_t)p->payers * sizeof(struct payer));
	l->merchants = off;
	off = align64(off + (size_t)l->nmerchants * sizeof(struct merchant));
	l->spay = off;
	off = align64(off + (size_t)l->nspay * sizeof(struct spay));
	l->total = off;
	return 0;
}

size_t dd_paygen_memsize(const struct dd_paygen_params *p)
{
	struct layout l;

	return plan(p, &l) ? 0 : l.total;
}

/* ---- ids, places, amounts --------------------------------------------------------------------- */

static uint64_t payer_id(const struct dd_paygen *g, uint64_t i)
{
	return PAYER_BASE + (i * ID_MUL + g->id_off) % ID_MOD;
}

static uint64_t merchant_id(const struct dd_paygen *g, uint64_t i)
{
	return MERCH_BASE + (i * ID_MUL + g->id_off + 1) % ID_MOD;
}

/* Device fingerprints: splitmix64's finaliser is a bijection, so distinct indexes never collide. */
static uint64_t device_id(const struct dd_paygen *g, uint32_t i)
{
	uint64_t x = g->dev_key + i;

	return splitmix64(&x);
}

static unsigned pick_city(struct dd_paygen *g, uint64_t r[4])
{
	uint64_t w = below(r, g->city_weight_total);
	unsigned c = 0;

	while (w >= cities[c].weight)
		w -= cities[c++].weight;
	return c;
}

/* A point within about 5 km of the centre of `city`. */
static void near_centre(uint64_t r[4], unsigned city, int32_t *lat, int32_t *lon)
{
	*lat = cities[city].lat + (int32_t)between(r, 0, 100000) - 50000;
	*lon = cities[city].lon + (int32_t)between(r, 0, 100000) - 50000;
}

/* IST hour of the day at `t` ns since the epoch. */
static unsigned ist_hour(uint64_t t)
{
	return (unsigned)((t / NS + IST_S) % DAY_S / HOUR_S);
}

static bool night(uint64_t t)
{
	unsigned h = ist_hour(t);

	return h >= 23 || h < 6;
}

/*
 * The first instant at or after the start of day `day` of the stream whose IST time of day is
 * `sec` seconds after midnight (0..86399).
 */
static uint64_t ist_time(const struct dd_paygen *g, uint32_t day, uint64_t sec)
{
	uint64_t day_start = g->p.start_ns + day * DAY_NS;
	uint64_t into = (day_start + IST_S * NS) % DAY_NS;
	uint64_t want = sec % DAY_S * NS;

	return day_start + (want >= into ? want - into : want + DAY_NS - into);
}

/* A random instant of day `day` between IST hh:mm `lo` and `hi` (minutes after midnight). */
static uint64_t ist_between(struct dd_paygen *g, uint32_t day, unsigned lo_min, unsigned hi_min)
{
	return ist_time(g, day, between(g->rng_init, (uint64_t)lo_min * 60, (uint64_t)hi_min * 60 - 1)) +
	       below(g->rng_init, NS);
}

/*
 * An ordinary amount in paise for `kind`; `night` keeps it at or below Rs 8,900. Every band stays
 * at least Rs 1 away from the structuring range (Rs 9,000-9,999) and from Rs 10,000, so the
 * repeated-amount nudge of Rs 1 cannot enter them.
 */
static uint32_t ordinary_amount(uint64_t r[4], uint8_t kind, bool at_night)
{
	uint64_t u = below(r, 100), a;

	switch (kind) {
	case DD_PAYGEN_KIND_P2P:
		/* Whole rupees, half of them a multiple of Rs 10. */
		if (u < 45)
			a = between(r, 10, 500);
		else if (u < 75)
			a = between(r, 501, 2000);
		else if (u < 95 || at_night)
			a = between(r, 2001, 8890);
		else
			a = between(r, 10100, 24000);
		if (below(r, 2))
			a = (a + 9) / 10 * 10;
		return (uint32_t)a * RUPEE;
	case DD_PAYGEN_KIND_P2M:
		if (u < 40)
			a = between(r, 10 * RUPEE, 300 * RUPEE);
		else if (u < 75)
			a = between(r, 300 * RUPEE + 1, 1500 * RUPEE);
		else if (u < 93)
			a = between(r, 1500 * RUPEE + 1, 5000 * RUPEE);
		else if (u < 98 || at_night)
			a = between(r, 5000 * RUPEE + 1, 8900 * RUPEE);
		else
			a = between(r, 10100 * RUPEE, 24000 * RUPEE);
		/* Most shops price in whole rupees. */
		if (below(r, 3))
			a = a / RUPEE * RUPEE;
		return (uint32_t)a;
	default:
		if (u < 85)
			return (uint32_t)between(r, 150 * RUPEE, 5000 * RUPEE);
		return (uint32_t)between(r, 5000 * RUPEE + 1, 8900 * RUPEE);
	}
}

static uint8_t pick_channel(uint64_t r[4], uint8_t kind)
{
	uint64_t u = below(r, 100);

	switch (kind) {
	case DD_PAYGEN_KIND_P2P:
		return u < 88 ? DD_PAYGEN_CHANNEL_UPI : DD_PAYGEN_CHANNEL_WALLET;
	case DD_PAYGEN_KIND_P2M:
		return u < 68 ? DD_PAYGEN_CHANNEL_UPI : u < 90 ? DD_PAYGEN_CHANNEL_CARD : DD_PAYGEN_CHANNEL_WALLET;
	default:
		return u < 55 ? DD_PAYGEN_CHANNEL_UPI : u < 85 ? DD_PAYGEN_CHANNEL_CARD : DD_PAYGEN_CHANNEL_WALLET;
	}
}

/* A retail merchant of `city`, the first ones of the city more popular. */
static const struct merchant *retail_in(struct dd_paygen *g, uint64_t r[4], unsigned city)
{
	uint32_t n = (g->nretail - city + (uint32_t)NCITIES - 1) / (uint32_t)NCITIES;
	uint64_t k = below(r, 1 + below(r, n));

	return &g->merchants[city + k * NCITIES];
}

static void set_merchant(struct dd_paygen_msg *m, const struct merchant *mc)
{
	m->merchant = mc->id;
	m->mcc = mc->mcc;
	m->payee = 0;
}

/* ---- init: payers, merchants, scenarios ------------------------------------------------------- */

static void make_merchants(struct dd_paygen *g)
{
	uint64_t *r = g->rng_init;

	for (uint32_t i = 0; i < g->nmerchants; i++) {
		struct merchant *mc = &g->merchants[i];

		mc->id = merchant_id(g, i);
		mc->city = (uint8_t)(i % NCITIES);
		if (i < g->nretail) {
			uint64_t w = below(r, g->retail_weight_total);
			unsigned k = 0;

			while (w >= retail_mccs[k].weight)
				w -= retail_mccs[k++].weight;
			mc->mcc = retail_mccs[k].mcc;
			mc->risk = (uint8_t)below(r, 41);
		} else if (i < g->high0) {
			mc->mcc = biller_mccs[below(r, NBILLER_MCCS)];
			mc->risk = (uint8_t)below(r, 21);
		} else if (i < g->medium0) {
			mc->mcc = risky_mccs[below(r, NRISKY_MCCS)];
			mc->risk = (uint8_t)between(r, 71, 95);
		} else {
			mc->mcc = risky_mccs[below(r, NRISKY_MCCS)];
			mc->risk = (uint8_t)between(r, 51, 70);
		}
	}
}

static void make_payers(struct dd_paygen *g)
{
	uint64_t *r = g->rng_init;
	bool prev_shares = false;

	g->ndevices = 0;
	for (uint32_t i = 0; i < g->p.payers; i++) {
		struct payer *p = &g->payers[i];

		memset(p, 0, sizeof(*p));
		/* One in twenty shares the previous payer's phone (a household), never three on one. */
		if (i > 0 && !prev_shares && below(r, 20) == 0) {
			*p = g->payers[i - 1];
			p->n = 0;
			p->head = 0;
			p->last_amount = 0;
			prev_shares = true;
			continue;
		}
		prev_shares = false;
		p->city = (uint8_t)pick_city(g, r);
		near_centre(r, p->city, &p->lat, &p->lon);
		p->device = g->ndevices++;
	}
	g->next_payer = g->p.payers;
	g->next_device = g->ndevices;
}

/* A scenario payer: who pays, from what, from where. */
struct who {
	uint64_t payer, device;
	int32_t lat, lon;
	unsigned city;
};

static void new_who(struct dd_paygen *g, struct who *w)
{
	w->payer = payer_id(g, g->next_payer++);
	w->device = device_id(g, g->next_device++);
	w->city = pick_city(g, g->rng_init);
	near_centre(g->rng_init, w->city, &w->lat, &w->lon);
}

static void at_centre(struct who *w, unsigned city)
{
	w->city = city;
	w->lat = cities[city].lat;
	w->lon = cities[city].lon;
}

/*
 * Add one scenario payment: P2M at a retail merchant of the payer's city (or, one in three, P2P to
 * an ordinary payer), by UPI. Returns it for the caller to adjust.
 */
static struct dd_paygen_msg *spay_add(struct dd_paygen *g, enum dd_paygen_scenario s, const struct who *w,
				      uint64_t t, int64_t amount)
{
	uint64_t *r = g->rng_init;
	struct spay *sp = g->nspay < g->spay_cap ? &g->spay[g->nspay++] : &g->spare;
	struct dd_paygen_msg *m = &sp->m;

	memset(sp, 0, sizeof(*sp));
	sp->order = g->spay_made++;
	sp->label = (uint8_t)s;
	m->event_ns = t;
	m->payer = w->payer;
	m->amount = amount;
	memcpy(m->currency, "INR", 3);
	m->channel = DD_PAYGEN_CHANNEL_UPI;
	m->device = w->device;
	m->lat_e6 = w->lat;
	m->lon_e6 = w->lon;
	if (below(r, 3) == 0) {
		m->kind = DD_PAYGEN_KIND_P2P;
		m->payee = payer_id(g, below(r, g->p.payers));
	} else {
		m->kind = DD_PAYGEN_KIND_P2M;
		set_merchant(m, retail_in(g, r, w->city));
	}
	return m;
}

/* Whole rupees in [lo, hi], never `avoid` (the previous amount: no accidental repetition). */
static int64_t rupees(uint64_t r[4], unsigned lo, unsigned hi, int64_t avoid)
{
	int64_t a = (int64_t)between(r, lo, hi) * RUPEE;

	return a == avoid ? (a > (int64_t)lo * RUPEE ? a - RUPEE : a + RUPEE) : a;
}

#define MIN_NS(m) ((uint64_t)(m) * 60 * NS)

/*
 * One instance of scenario `s` on day `day`. Each uses payers and devices of its own, so scenarios
 * never add up with each other or with ordinary traffic; what each is built to fire is in
 * docs/dadar-gen.md ("Scenarios").
 */
static void make_scenario(struct dd_paygen *g, enum dd_paygen_scenario s, uint32_t day)
{
	uint64_t *r = g->rng_init;
	struct dd_paygen_msg *m;
	struct who w, w2;
	uint64_t t;
	int64_t a = 0;

	new_who(g, &w);
	switch (s) {
	case DD_PAYGEN_VELOCITY_HOUR_COUNT:
		/* 24 small payments 90-150 s apart: any 21 of them within the hour. */
		t = ist_between(g, day, 10 * 60, 19 * 60);
		for (int i = 0; i < 24; i++, t += between(r, 90, 150) * NS)
			a = (spay_add(g, s, &w, t, rupees(r, 50, 800, a)))->amount;
		break;
	case DD_PAYGEN_VELOCITY_HOUR_AMOUNT:
		/* Four of Rs 14,000-22,000 within 45 minutes: over Rs 50,000 by the fourth. */
		t = ist_between(g, day, 9 * 60, 19 * 60);
		for (int i = 0; i < 4; i++, t += between(r, 5 * 60, 15 * 60) * NS)
			a = spay_add(g, s, &w, t, rupees(r, 14000, 22000, a))->amount;
		break;
	case DD_PAYGEN_VELOCITY_DAY_AMOUNT:
		/* Ten of Rs 22,000-24,900, 70-80 minutes apart from 07:00: over Rs 2,00,000 by the tenth. */
		t = ist_between(g, day, 7 * 60, 7 * 60 + 30);
		for (int i = 0; i < 10; i++, t += between(r, 70 * 60, 80 * 60) * NS)
			a = spay_add(g, s, &w, t, rupees(r, 22000, 24900, a))->amount;
		break;
	case DD_PAYGEN_REPEATED_AMOUNT:
		/* Six of one amount 3-8 minutes apart. */
		t = ist_between(g, day, 10 * 60, 20 * 60);
		a = rupees(r, 100, 2000, 0);
		for (int i = 0; i < 6; i++, t += between(r, 3 * 60, 8 * 60) * NS)
			spay_add(g, s, &w, t, a);
		break;
	case DD_PAYGEN_STRUCTURING:
		/* Three in Rs 9,000-9,998, two to three hours apart. */
		t = ist_between(g, day, 9 * 60, 12 * 60);
		for (int i = 0; i < 3; i++, t += between(r, 120 * 60, 180 * 60) * NS)
			a = spay_add(g, s, &w, t, rupees(r, 9000, 9998, a))->amount;
		break;
	case DD_PAYGEN_BELOW_LIMIT:
	case DD_PAYGEN_ROUND_AMOUNT: {
		/* One payer for each amount of the rule's set, at different times of the day. */
		static const int64_t below_set[4] = { 999900, 2499900, 4999900, 9999900 };
		static const int64_t round_set[4] = { 1000000, 2500000, 5000000, 10000000 };

		for (int i = 0; i < 4; i++) {
			if (i)
				new_who(g, &w);
			t = ist_between(g, day, 10 * 60, 18 * 60);
			spay_add(g, s, &w, t, (s == DD_PAYGEN_BELOW_LIMIT ? below_set : round_set)[i]);
		}
		break;
	}
	case DD_PAYGEN_NEW_DEVICE_LARGE:
		/* Two small payments from the payer's phone, then Rs 30,001-45,000 from a new one. */
		t = ist_between(g, day, 9 * 60, 17 * 60);
		a = spay_add(g, s, &w, t, rupees(r, 100, 1000, 0))->amount;
		t += between(r, 20 * 60, 40 * 60) * NS;
		spay_add(g, s, &w, t, rupees(r, 100, 1000, a));
		t += between(r, 60 * 60, 180 * 60) * NS;
		w.device = device_id(g, g->next_device++);
		spay_add(g, s, &w, t, rupees(r, 30001, 45000, 0));
		break;
	case DD_PAYGEN_SHARED_DEVICE:
		/* Five payers on one phone within two hours: the fourth and fifth are over three. */
		t = ist_between(g, day, 10 * 60, 20 * 60);
		for (int i = 0; i < 5; i++, t += between(r, 5 * 60, 20 * 60) * NS) {
			if (i)
				w.payer = payer_id(g, g->next_payer++);
			spay_add(g, s, &w, t, rupees(r, 100, 2000, 0));
		}
		break;
	case DD_PAYGEN_IMPOSSIBLE_TRAVEL:
	case DD_PAYGEN_FAST_TRAVEL: {
		/* A payment at one city centre, then one at another: far too soon, or just too soon. */
		bool far = s == DD_PAYGEN_IMPOSSIBLE_TRAVEL;
		unsigned k = (unsigned)below(r, far ? NFAR : NNEAR);
		unsigned from = far ? far_pairs[k].from : near_pairs[k].from;
		unsigned to = far ? far_pairs[k].to : near_pairs[k].to;
		unsigned lo = far ? far_pairs[k].lo : near_pairs[k].lo;
		unsigned hi = far ? far_pairs[k].hi : near_pairs[k].hi;

		t = ist_between(g, day, 10 * 60, 18 * 60);
		at_centre(&w, from);
		a = spay_add(g, s, &w, t, rupees(r, 200, 3000, 0))->amount;
		w2 = w;
		at_centre(&w2, to);
		spay_add(g, s, &w2, t + between(r, MIN_NS(lo), MIN_NS(hi)), rupees(r, 200, 3000, a));
		break;
	}
	case DD_PAYGEN_LATE_NIGHT_LARGE:
		/* Rs 11,000-24,000 between 23:00 and 05:30 IST. */
		t = ist_time(g, day, between(r, 23 * HOUR_S, 29 * HOUR_S + 30 * 60 - 1)) + below(r, NS);
		spay_add(g, s, &w, t, rupees(r, 11000, 24000, 0));
		break;
	case DD_PAYGEN_MERCHANT_HIGH_RISK:
	case DD_PAYGEN_MERCHANT_MEDIUM_RISK: {
		/* Two card payments to one risky merchant, 30-90 minutes apart. */
		uint32_t first = s == DD_PAYGEN_MERCHANT_HIGH_RISK ? g->high0 : g->medium0;
		const struct merchant *mc = &g->merchants[first + below(r, g->nhigh)];

		t = ist_between(g, day, 10 * 60, 21 * 60);
		for (int i = 0; i < 2; i++, t += between(r, 30 * 60, 90 * 60) * NS) {
			m = spay_add(g, s, &w, t, (int64_t)between(r, 500 * RUPEE, 5000 * RUPEE));
			m->kind = DD_PAYGEN_KIND_P2M;
			m->channel = DD_PAYGEN_CHANNEL_CARD;
			set_merchant(m, mc);
		}
		break;
	}
	default:
		break;
	}
}

static int spay_cmp(const void *a, const void *b)
{
	const struct spay *x = a, *y = b;

	if (x->m.event_ns != y->m.event_ns)
		return x->m.event_ns < y->m.event_ns ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Weight of hour slot `j` of the stream: that of the IST hour it starts in. */
static unsigned slot_weight(const struct dd_paygen *g, uint32_t j)
{
	return hour_weight[ist_hour(g->p.start_ns + j * HOUR_NS)];
}

int dd_paygen_init(struct dd_paygen **out, void *mem, size_t len, const struct dd_paygen_params *p)
{
	struct dd_paygen *g = mem;
	struct layout l;
	uint64_t x;

	if (plan(p, &l) || len < l.total)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->p = *p;
	g->payers = (struct payer *)((char *)mem + l.payers);
	g->merchants = (struct merchant *)((char *)mem + l.merchants);
	g->spay = (struct spay *)((char *)mem + l.spay);
	g->spay_cap = l.nspay;
	x = p->seed;
	seed_rng(g->rng_init, splitmix64(&x));
	seed_rng(g->rng_flow, splitmix64(&x));
	g->id_off = splitmix64(&x) % ID_MOD;
	g->dev_key = splitmix64(&x);
	g->nretail = l.nretail;
	g->nmerchants = l.nmerchants;
	g->nhigh = l.nrisky;
	g->high0 = l.nretail + NBILLERS;
	g->medium0 = g->high0 + l.nrisky;
	for (unsigned c = 0; c < NCITIES; c++)
		g->city_weight_total += cities[c].weight;
	for (unsigned k = 0; k < NRETAIL; k++)
		g->retail_weight_total += retail_mccs[k].weight;
	make_merchants(g);
	make_payers(g);
	for (uint32_t k = 0; k < p->instances; k++)
		for (int s = 1; s < DD_PAYGEN_SCENARIOS; s++)
			make_scenario(g, (enum dd_paygen_scenario)s, (uint32_t)((k + (uint32_t)s) % p->days));
	if (g->spay_made != l.nspay)
		return -EINVAL; /* scenario_len[] out of step with make_scenario() */
	qsort(g->spay, g->nspay, sizeof(*g->spay), spay_cmp);
	g->normal_total = p->count - g->nspay;
	g->nslots = p->days * 24;
	for (uint32_t j = 0; j < g->nslots; j++)
		g->weight_total += slot_weight(g, j);
	*out = g;
	return 0;
}

/* ---- the stream ------------------------------------------------------------------------------- */

/*
 * Time of the next ordinary payment. Slot j (one hour) gets floor(N W(j+1) / W) - floor(N W(j) / W)
 * of the N payments, W(j) being the weight of the slots before it, so the counts add up to N
 * exactly; inside a slot its k payments fall one in each k-th of the hour, at random within it,
 * which keeps times in order without sorting.
 */
static bool normal_advance(struct dd_paygen *g)
{
	uint64_t *r = g->rng_flow;

	while (g->slot_q == g->slot_k) {
		unsigned __int128 n = g->normal_total;
		uint64_t w;

		if (g->slot == g->nslots)
			return false;
		w = slot_weight(g, g->slot);
		g->slot_k = (uint64_t)(n * (g->weight_before + w) / g->weight_total -
				       n * g->weight_before / g->weight_total);
		g->weight_before += w;
		g->slot_start = g->p.start_ns + g->slot * HOUR_NS;
		g->slot_q = 0;
		g->slot_step = g->slot_k ? HOUR_NS / g->slot_k : 0;
		g->slot++;
	}
	g->next_normal = g->slot_start + g->slot_q * g->slot_step + below(r, g->slot_step);
	g->slot_q++;
	return true;
}

/* Would payer `p` stay within the ordinary margins paying `amount` at `ts` s after the start? */
static bool payer_fits(const struct payer *p, uint32_t ts, uint32_t amount)
{
	unsigned hour_n = 0, day_n = 0;
	uint64_t hour_sum = amount, day_sum = amount;

	for (unsigned i = 0; i < p->n; i++) {
		uint32_t age = ts - p->t[i]; /* times never decrease */

		if (age > DAY_S)
			continue;
		day_n++;
		day_sum += p->amount[i];
		if (age <= HOUR_S) {
			hour_n++;
			hour_sum += p->amount[i];
		}
	}
	/* A full ring whose oldest entry is within the day may have forgotten some of the day. */
	if (day_n == RING)
		return false;
	return hour_n + 1 <= CLEAN_HOUR_COUNT && hour_sum <= CLEAN_HOUR_AMOUNT && day_sum <= CLEAN_DAY_AMOUNT;
}

/* `amount`, nudged by Rs 1 if it repeats the payer's previous one (within the band: see above). */
static uint32_t not_repeated(const struct payer *p, uint32_t amount)
{
	if (amount != p->last_amount)
		return amount;
	return amount > 20 * RUPEE ? amount - RUPEE : amount + RUPEE;
}

/* Remember a payment: fill the ring, then overwrite the oldest (head) and move head on. */
static void payer_record(struct payer *p, uint32_t ts, uint32_t amount)
{
	unsigned slot;

	if (p->n < RING) {
		slot = p->n++;
	} else {
		slot = p->head;
		p->head = (uint8_t)((p->head + 1) % RING);
	}
	p->t[slot] = ts;
	p->amount[slot] = amount;
	p->last_amount = amount;
}

static void next_normal(struct dd_paygen *g, struct dd_paygen_msg *m)
{
	uint64_t *r = g->rng_flow;
	uint64_t t = g->next_normal;
	uint32_t ts = (uint32_t)((t - g->p.start_ns) / NS), amount, pi = 0, pick;
	uint64_t u = below(r, 100);
	uint8_t kind = u < 35 ? DD_PAYGEN_KIND_P2P : u < 90 ? DD_PAYGEN_KIND_P2M : DD_PAYGEN_KIND_BILL;
	struct payer *p = NULL;
	bool found = false;

	if (kind == DD_PAYGEN_KIND_P2P && g->p.payers < 2)
		kind = DD_PAYGEN_KIND_P2M;
	amount = ordinary_amount(r, kind, night(t));
	/* A few random payers, then every payer in turn; a crowd that fits nobody is counted. */
	pick = (uint32_t)below(r, g->p.payers);
	for (uint32_t i = 0; i < PROBES && !found; i++) {
		pi = i ? (uint32_t)below(r, g->p.payers) : pick;
		found = payer_fits(&g->payers[pi], ts, not_repeated(&g->payers[pi], amount));
	}
	for (uint32_t i = 1; i < g->p.payers && !found; i++) {
		pi = (pick + i) % g->p.payers;
		found = payer_fits(&g->payers[pi], ts, not_repeated(&g->payers[pi], amount));
	}
	if (!found) {
		pi = pick;
		g->crowded++;
	}
	p = &g->payers[pi];
	amount = not_repeated(p, amount);
	payer_record(p, ts, amount);

	memset(m, 0, sizeof(*m));
	m->event_ns = t;
	m->payer = payer_id(g, pi);
	m->amount = amount;
	memcpy(m->currency, "INR", 3);
	m->kind = kind;
	m->channel = pick_channel(r, kind);
	m->device = device_id(g, p->device);
	if (below(r, 25)) {
		m->lat_e6 = p->lat;
		m->lon_e6 = p->lon;
	}
	if (kind == DD_PAYGEN_KIND_P2P) {
		uint64_t q = below(r, g->p.payers - 1);

		m->payee = payer_id(g, q >= pi ? q + 1 : q);
	} else if (kind == DD_PAYGEN_KIND_P2M) {
		set_merchant(m, retail_in(g, r, p->city));
	} else {
		set_merchant(m, &g->merchants[g->nretail + below(r, NBILLERS)]);
	}
}

int dd_paygen_next(struct dd_paygen *g, struct dd_paygen_msg *m, enum dd_paygen_scenario *label)
{
	if (!g->normal_ready && g->produced - g->spay_i < g->normal_total)
		g->normal_ready = normal_advance(g);
	if (g->spay_i < g->nspay && (!g->normal_ready || g->spay[g->spay_i].m.event_ns <= g->next_normal)) {
		*m = g->spay[g->spay_i].m;
		*label = (enum dd_paygen_scenario)g->spay[g->spay_i++].label;
	} else if (g->normal_ready) {
		next_normal(g, m);
		g->normal_ready = false;
		*label = DD_PAYGEN_NORMAL;
	} else {
		return 0;
	}
	m->txn_id = ++g->produced;
	g->labels[*label]++;
	return 1;
}

uint64_t dd_paygen_label_count(const struct dd_paygen *g, enum dd_paygen_scenario s)
{
	return (unsigned)s < DD_PAYGEN_SCENARIOS ? g->labels[s] : 0;
}

uint64_t dd_paygen_crowded(const struct dd_paygen *g)
{
	return g->crowded;
}

uint32_t dd_paygen_merchants(const struct dd_paygen *g)
{
	return g->nmerchants;
}

void dd_paygen_merchant(const struct dd_paygen *g, uint32_t i, uint64_t *id, unsigned *risk)
{
	*id = g->merchants[i].id;
	*risk = g->merchants[i].risk;
}
