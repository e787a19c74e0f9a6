/* SPDX-License-Identifier: MIT */
#include "dataplane/out/natsb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "dataplane/journal/recovery.h"
#include "dataplane/out/outhist.h"
#include "dataplane/out/outlog.h"

/*
 * Numbering. The bridge counts outputs by their number in the journal (the n-th OUTPUT record: the
 * session's number + base), which does not change when a clean stop starts a new session, and
 * names each message `<epoch>:<n>`: the epoch is made once per journal (kept in `<journal>/nats`
 * with the number acknowledged) or, without a journal, once per run.
 *
 * Order. A batch goes out on one connection, which the bridge makes itself: libnats's own
 * reconnection is off. With it on, what is published while libnats reconnects waits in its
 * reconnect buffer and goes to the next server first, while what the dead connection was carrying
 * is lost: the broker stored the end of a batch ahead of its middle, which the bridge sends again
 * only after (stream_test G: stream messages 7069..7144 held outputs 7093..7168, and 7145..7168
 * outputs 7069..7092). On one connection the broker takes a prefix of what was sent, in order; so
 * after a lost connection the bridge connects again and sends from the first output not
 * acknowledged, and the duplicate window drops what the broker already has.
 */
#define BATCH 256
#define ACK_WAIT_MS 5000
#define ACK_POLL_MS 20        /* how often a wait for acknowledgements looks at the connection */
#define CONNECT_EVERY_MS 200  /* between attempts to connect */
#define CONNECT_TIMEOUT_MS 2000
#define PING_EVERY_MS 1000    /* a silent broker is taken as gone after PINGS_OUT pings unanswered */
#define PINGS_OUT 3
#define SAVE_EVERY_NS 100000000ull

struct dd_natsb {
	struct dd_natsb_params p;
	char url[512], stream[80], instance[40], journal[512];
	char epoch[40];
	pthread_t thread;
	bool started;
	atomic_bool stop;
	_Atomic uint64_t stop_last;     /* at stop: publish up to this session number */
	_Atomic uint64_t stop_deadline; /* CLOCK_MONOTONIC ns */
	uint64_t acked;                 /* journal number acknowledged */
	uint64_t saved, saved_ns;
	struct dd_outlog *log;
	atomic_int batch_errors;
	pthread_mutex_t lock;
	struct dd_natsb_stats st;
	/* outputs of one batch read from the journal */
	struct jo { uint64_t n, lsn; struct dd_output o; } jbuf[BATCH];
	unsigned jn;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_error(struct dd_natsb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct dd_natsb *b, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&b->lock);
	va_start(ap, fmt);
	vsnprintf(b->st.last_error, sizeof(b->st.last_error), fmt, ap);
	va_end(ap);
	b->st.errors++;
	pthread_mutex_unlock(&b->lock);
}

static void add(struct dd_natsb *b, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&b->lock);
	*field += n;
	pthread_mutex_unlock(&b->lock);
}

/* ---- <journal>/nats: "epoch E acked N" ------------------------------------------------------------ */

static int load_state(struct dd_natsb *b)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/nats", b->journal);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	char line[160] = "";
	int ok = fgets(line, sizeof(line), f) != NULL &&
		 sscanf(line, "epoch %39s acked %" SCNu64, b->epoch, &b->acked) == 2;
	fclose(f);
	return ok ? 0 : -EBADMSG;
}

static void save_state(struct dd_natsb *b)
{
	if (b->journal[0] == '\0' || b->saved == b->acked)
		return;
	char path[600], tmp[610], line[160];
	snprintf(path, sizeof(path), "%s/nats", b->journal);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int len = snprintf(line, sizeof(line), "epoch %s acked %" PRIu64 "\n", b->epoch, b->acked);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	bool ok = fd >= 0 && write(fd, line, (size_t)len) == len && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	if (ok && rename(tmp, path) == 0) {
		b->saved = b->acked;
		b->saved_ns = mono_ns();
	} else {
		set_error(b, "cannot write %s: %s", path, strerror(errno));
	}
}

/* ---- publishing -------------------------------------------------------------------------------------- */

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct dd_natsb *b = closure;
	(void)js;
	if (pa == NULL || pae != NULL)
		atomic_fetch_add(&b->batch_errors, 1);
	natsMsg_Destroy(msg);
}

static void take_jo(void *ctx, uint64_t n, uint64_t lsn, const struct dd_output *o)
{
	struct dd_natsb *b = ctx;
	b->jbuf[b->jn++] = (struct jo){ n, lsn, *o };
}

/* Output number `n` of the journal (the session's n - base): from memory, else the journal. */
static bool fetch(struct dd_natsb *b, uint64_t n, uint64_t end, uint64_t *lsn, struct dd_output *o)
{
	if (n > b->p.base && dd_outhist_get(b->p.hist, n - b->p.base, lsn, o))
		return true;
	if (b->log == NULL)
		return false;
	if (b->jn == 0 || n < b->jbuf[0].n || n > b->jbuf[b->jn - 1].n) {
		char err[256];
		b->jn = 0;
		long got = dd_outlog_read(b->log, n, (unsigned)(end - n + 1), take_jo, b, err, sizeof(err));
		if (got < 0)
			set_error(b, "reading output %llu from the journal: %s", (unsigned long long)n, err);
		if (got <= 0)
			return false;
	}
	const struct jo *j = &b->jbuf[n - b->jbuf[0].n];
	*lsn = j->lsn;
	*o = j->o;
	add(b, &b->st.from_journal, 1);
	return true;
}

static bool up(natsConnection *nc)
{
	return nc != NULL && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
}

/*
 * Wait for the acknowledgements of what was sent: at most ACK_WAIT_MS, and no longer than the
 * connection lives (what a closed connection had not acknowledged will never be).
 */
static natsStatus wait_acks(natsConnection *nc, jsCtx *js)
{
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = ACK_POLL_MS;
	uint64_t deadline = mono_ns() + (uint64_t)ACK_WAIT_MS * 1000000ull;
	natsStatus s;
	while ((s = js_PublishAsyncComplete(js, &po)) == NATS_TIMEOUT && up(nc) && mono_ns() < deadline)
		;
	return s == NATS_TIMEOUT && !up(nc) ? NATS_CONNECTION_CLOSED : s;
}

/* Publish outputs acked+1 .. end and wait for their acknowledgements. Returns true if all were. */
static bool publish_batch(struct dd_natsb *b, natsConnection *nc, jsCtx *js, uint64_t end)
{
	atomic_store(&b->batch_errors, 0);
	uint64_t first = b->acked + 1, n = first, sent = 0;
	b->jn = 0;
	for (; n <= end; n++) {
		uint64_t lsn;
		struct dd_output o;
		if (!fetch(b, n, end, &lsn, &o)) {
			if (b->log != NULL)
				break; /* the journal will have it: try again */
			add(b, &b->st.lost, 1); /* gone from memory, and there is no journal */
			continue;
		}
		char line[DD_OUTPUT_JSON_MAX], subj[160], id[80];
		int len = dd_output_json(line, sizeof(line), lsn, &o);
		if (len > 0 && line[len - 1] == '\n')
			len--;
		snprintf(subj, sizeof(subj), "dadar.%s.%s", b->instance, dd_output_type_name(o.type));
		snprintf(id, sizeof(id), "%s:%" PRIu64, b->epoch, n);
		natsMsg *m = NULL;
		natsStatus s = natsMsg_Create(&m, subj, NULL, line, len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
		if (s == NATS_OK)
			s = js_PublishMsgAsync(js, &m, NULL);
		natsMsg_Destroy(m); /* NULL once the library took it */
		if (s != NATS_OK) {
			set_error(b, "publish: %s", natsStatus_GetText(s));
			break;
		}
		sent++;
	}
	natsStatus s = sent ? wait_acks(nc, js) : NATS_OK;
	if (s != NATS_OK || atomic_load(&b->batch_errors) != 0 || n <= end) {
		if (s != NATS_OK)
			set_error(b, "waiting for acknowledgements: %s", natsStatus_GetText(s));
		else if (atomic_load(&b->batch_errors) != 0)
			set_error(b, "%d messages refused by the broker", atomic_load(&b->batch_errors));
		natsMsgList pending = { 0 };
		if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK)
			natsMsgList_Destroy(&pending);
		add(b, &b->st.resent, sent);
		return false;
	}
	pthread_mutex_lock(&b->lock);
	b->acked = end;
	b->st.published += sent;
	b->st.acked_seq = end > b->p.base ? end - b->p.base : 0;
	pthread_mutex_unlock(&b->lock);
	return true;
}

static bool ensure_stream(struct dd_natsb *b, jsCtx *js)
{
	jsStreamInfo *si = NULL;
	jsErrCode ec = 0;
	natsStatus s = js_GetStreamInfo(&si, js, b->stream, NULL, &ec);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return true;
	}
	if (s != NATS_NOT_FOUND) {
		set_error(b, "stream %s: %s", b->stream, natsStatus_GetText(s));
		return false;
	}
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	const char *subjects[] = { "dadar.>" };
	cfg.Name = b->stream;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	s = js_AddStream(&si, js, &cfg, NULL, &ec);
	if (s != NATS_OK) {
		set_error(b, "creating stream %s: %s (JetStream error %d)", b->stream, natsStatus_GetText(s), (int)ec);
		return false;
	}
	jsStreamInfo_Destroy(si);
	return true;
}

static bool stopping(struct dd_natsb *b, uint64_t *end)
{
	if (!atomic_load_explicit(&b->stop, memory_order_acquire))
		return false;
	uint64_t last = atomic_load(&b->stop_last);
	if (last > 0 && b->p.base + last < *end)
		*end = b->p.base + last;
	return b->acked >= *end || mono_ns() >= atomic_load(&b->stop_deadline);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Close a connection: what it did not acknowledge goes again on the next one. */
static void drop(natsConnection **nc, jsCtx **js)
{
	if (*nc != NULL) /* the reader thread stops before what it could deliver to is freed */
		natsConnection_Close(*nc);
	jsCtx_Destroy(*js);
	natsConnection_Destroy(*nc);
	*nc = NULL;
	*js = NULL;
}

/*
 * One attempt to connect, without libnats's reconnection (see "Order" above) and without its
 * retries (they would block a stop for as long as the broker is away). `quiet`: the outage is
 * already counted.
 */
static bool connect_broker(struct dd_natsb *b, natsConnection **nc, jsCtx **js, bool quiet)
{
	natsOptions *opts = NULL;
	natsStatus s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, b->url);
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(opts, false);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS);
	/* a broker that goes away without closing the connection (a partition, a host that stops)
	 * is noticed by pings: libnats's default, every 2 minutes, would hold a batch that long */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(opts, PING_EVERY_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(opts, PINGS_OUT);
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, opts);
	natsOptions_Destroy(opts); /* the connection keeps its own copy */
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = BATCH;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = b;
	if (s == NATS_OK)
		s = natsConnection_JetStream(js, *nc, &jo);
	if (s == NATS_OK)
		return true;
	if (!quiet)
		set_error(b, "cannot connect to %s: %s (trying again every %d ms)", b->url, natsStatus_GetText(s),
			  CONNECT_EVERY_MS);
	drop(nc, js);
	return false;
}

static void *natsb_main(void *arg)
{
	struct dd_natsb *b = arg;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	bool have_stream = false, outage = false;
	uint64_t next_connect = 0;
	unsigned backoff = 0;
	for (;;) {
		uint64_t end = b->p.base + dd_outhist_last(b->p.hist);
		if (dd_outhist_last(b->p.hist) == 0)
			end = b->p.base + b->p.first_seq - 1;
		if (stopping(b, &end))
			break;
		if (nc != NULL && !up(nc)) {
			set_error(b, "lost the connection to %s (connecting again)", b->url);
			drop(&nc, &js);
			outage = true;
		}
		if (nc == NULL && mono_ns() >= next_connect) {
			next_connect = mono_ns() + CONNECT_EVERY_MS * 1000000ull;
			if (connect_broker(b, &nc, &js, outage)) {
				outage = false;
				have_stream = false; /* a broker back on an empty store has no stream */
			} else {
				outage = true;
			}
		}
		bool is_up = up(nc);
		pthread_mutex_lock(&b->lock);
		b->st.connected = is_up;
		b->st.backlog = end > b->acked ? end - b->acked : 0;
		pthread_mutex_unlock(&b->lock);
		if (!is_up) {
			sleep_ms(20);
			continue;
		}
		if (!have_stream && !(have_stream = ensure_stream(b, js))) {
			sleep_ms(200);
			continue;
		}
		if (end <= b->acked) {
			if (b->saved != b->acked)
				save_state(b);
			sleep_ms(1);
			continue;
		}
		if (end - b->acked > BATCH)
			end = b->acked + BATCH;
		if (publish_batch(b, nc, js, end)) {
			backoff = 0;
			if (mono_ns() - b->saved_ns >= SAVE_EVERY_NS)
				save_state(b);
		} else {
			have_stream = false; /* refused: the stream may be gone */
			backoff = backoff ? (backoff < 1000 ? backoff * 2 : 1000) : 50;
			sleep_ms(backoff);
		}
	}
	save_state(b);
	{
		uint64_t end = b->p.base + dd_outhist_last(b->p.hist);
		pthread_mutex_lock(&b->lock);
		b->st.backlog = end > b->acked && dd_outhist_last(b->p.hist) != 0 ? end - b->acked : 0;
		pthread_mutex_unlock(&b->lock);
	}
	drop(&nc, &js);
	pthread_mutex_lock(&b->lock);
	b->st.connected = false;
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int dd_natsb_start(struct dd_natsb **out, const struct dd_natsb_params *p, char *err, size_t errlen)
{
	struct dd_natsb *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errlen, "nats: out of memory");
		return -ENOMEM;
	}
	b->p = *p;
	snprintf(b->url, sizeof(b->url), "%s", p->url);
	snprintf(b->stream, sizeof(b->stream), "%s", p->stream);
	snprintf(b->instance, sizeof(b->instance), "%s", p->instance);
	snprintf(b->journal, sizeof(b->journal), "%s", p->journal ? p->journal : "");
	pthread_mutex_init(&b->lock, NULL);
	/* where the broker stands: the journal remembers; else this run's first output is next */
	int rc = b->journal[0] != '\0' ? load_state(b) : -ENOENT;
	if (rc == -EBADMSG) {
		snprintf(err, errlen, "%s/nats is not \"epoch E acked N\": move it aside (the bridge then starts at this "
			 "run's first output)", b->journal);
		free(b);
		return -EBADMSG;
	}
	if (rc != 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(b->epoch, sizeof(b->epoch), "%s-%lld%09ld", p->instance, (long long)ts.tv_sec, ts.tv_nsec);
		b->acked = p->base + p->first_seq - 1;
	}
	b->saved = b->journal[0] != '\0' && rc == 0 ? b->acked : UINT64_MAX;
	b->st.acked_seq = b->acked > p->base ? b->acked - p->base : 0;
	if (b->journal[0] != '\0' && (rc = dd_outlog_open(&b->log, b->journal, err, errlen)) != 0) {
		free(b);
		return rc;
	}
	if (b->journal[0] != '\0')
		save_state(b); /* the epoch is the journal's from now on */
	if ((rc = pthread_create(&b->thread, NULL, natsb_main, b)) != 0) {
		snprintf(err, errlen, "nats: cannot start the bridge's thread: %s", strerror(rc));
		dd_outlog_close(b->log);
		free(b);
		return -rc;
	}
	pthread_setname_np(b->thread, "dd-nats");
	b->started = true;
	*out = b;
	return 0;
}

void dd_natsb_stop(struct dd_natsb *b, uint64_t last, unsigned wait_ms)
{
	if (b == NULL || !b->started)
		return;
	atomic_store(&b->stop_last, last);
	atomic_store(&b->stop_deadline, mono_ns() + (uint64_t)wait_ms * 1000000ull);
	atomic_store_explicit(&b->stop, true, memory_order_release);
	pthread_join(b->thread, NULL);
	b->started = false;
}

void dd_natsb_free(struct dd_natsb *b)
{
	if (b == NULL)
		return;
	dd_natsb_stop(b, 0, 0);
	dd_outlog_close(b->log);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void dd_natsb_stats(const struct dd_natsb *b, struct dd_natsb_stats *out)
{
	pthread_mutex_t *l = (pthread_mutex_t *)(uintptr_t)&b->lock;
	pthread_mutex_lock(l);
	*out = b->st;
	pthread_mutex_unlock(l);
}
