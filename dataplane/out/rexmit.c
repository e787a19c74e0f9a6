/* SPDX-License-Identifier: MIT */
#include "dataplane/out/rexmit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/out/outhist.h"
#include "dataplane/out/outlog.h"
#include "dataplane/wire/be.h"
#include "dataplane/wire/molddg.h"
#include "dataplane/wire/outwire.h"

#define REQ_LEN 20

struct dd_rexmit {
	struct dd_rexmit_params p;
	char session[DD_MOLDDG_SESSION_LEN + 1];
	char journal[512];
	int fd;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct dd_outlog *log;      /* NULL: no journal */
	/* outputs read from the journal for one answer */
	struct jout { uint64_t lsn; struct dd_output o; } *jbuf;
	unsigned jn;
	uint64_t jfirst, jbase;     /* jbuf holds messages jfirst.. of the session whose base is jbase */
	struct dd_stream_past past[DD_STREAM_PAST_MAX];
	/* the rate: a bucket of messages, refilled continuously, holding at most a second's worth */
	double tokens;
	uint64_t tokens_ns;
	pthread_mutex_t lock;       /* guards st for dd_rexmit_stats() */
	struct dd_rexmit_stats st;
	struct dd_molddg mold;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void count(struct dd_rexmit *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->lock);
	*field += n;
	pthread_mutex_unlock(&r->lock);
}

static void take_jout(void *ctx, uint64_t n, uint64_t lsn, const struct dd_output *o)
{
	struct dd_rexmit *r = ctx;
	(void)n;
	r->jbuf[r->jn++] = (struct jout){ lsn, *o };
}

/*
 * Message `s` of the session whose base is `base`: from memory when it is this run's session
 * (`current`), else from the journal (reading ahead up to `last`).
 */
static bool fetch(struct dd_rexmit *r, bool current, uint64_t base, uint64_t s, uint64_t last, uint64_t *lsn,
		  struct dd_output *o)
{
	if (current && dd_outhist_get(r->p.hist, s, lsn, o))
		return true;
	if (r->log == NULL)
		return false;
	if (base != r->jbase || !(s >= r->jfirst && s < r->jfirst + r->jn)) {
		char err[256];
		r->jn = 0;
		r->jfirst = s;
		r->jbase = base;
		unsigned want = (unsigned)(last - s + 1);
		if (dd_outlog_read(r->log, base + s, want, take_jout, r, err, sizeof(err)) <= 0)
			return false;
	}
	*lsn = r->jbuf[s - r->jfirst].lsn;
	*o = r->jbuf[s - r->jfirst].o;
	count(r, &r->st.from_journal, 1);
	return true;
}

static void send_dg(struct dd_rexmit *r, const struct sockaddr_in *to)
{
	const uint8_t *dg;
	uint64_t ts;
	size_t len = dd_molddg_flush(&r->mold, &dg, &ts);
	if (len == 0)
		return;
	if (sendto(r->fd, dg, len, 0, (const struct sockaddr *)to, sizeof(*to)) != (ssize_t)len)
		count(r, &r->st.send_errors, 1);
	else
		count(r, &r->st.datagrams, 1);
}

static void answer(struct dd_rexmit *r, const uint8_t *req, size_t len, const struct sockaddr_in *from)
{
	if (len != REQ_LEN) {
		count(r, &r->st.bad_length, 1);
		return;
	}
	bool current = memcmp(req, r->session, DD_MOLDDG_SESSION_LEN) == 0;
	const struct dd_stream_past *old = NULL;
	for (unsigned i = 0; !current && r->log != NULL && i < r->p.npast; i++)
		if (memcmp(req, r->past[i].session, DD_MOLDDG_SESSION_LEN) == 0)
			old = &r->past[i];
	if (!current && old == NULL) {
		count(r, &r->st.bad_session, 1);
		return;
	}
	uint64_t seq = dd_ld_be64(req + 10);
	uint16_t n = dd_ld_be16(req + 18);
	uint64_t sent = current ? dd_outhist_last(r->p.hist) : old->count;
	uint64_t base = current ? r->p.base : old->base;
	if (seq == 0 || n == 0 || n == 0xFFFF || seq > sent) {
		count(r, &r->st.bad_range, 1);
		return;
	}
	count(r, &r->st.requests, 1);
	if (!current)
		count(r, &r->st.past_requests, 1);
	uint64_t want = n < r->p.max_per_request ? n : r->p.max_per_request;
	if (want > sent - seq + 1)
		want = sent - seq + 1;
	uint64_t now = mono_ns();
	r->tokens += (double)(now - r->tokens_ns) * (double)r->p.rate / 1e9;
	if (r->tokens > (double)r->p.rate)
		r->tokens = (double)r->p.rate;
	r->tokens_ns = now;
	if ((double)want > r->tokens) {
		uint64_t can = (uint64_t)r->tokens;
		count(r, &r->st.rate_limited, want - can);
		want = can;
	}
	if (want == 0)
		return;
	r->tokens -= (double)want;
	dd_molddg_init(&r->mold, current ? r->session : old->session, seq, r->p.mtu);
	uint64_t last = seq + want - 1, done = 0;
	for (uint64_t s = seq; s <= last; s++) {
		uint64_t lsn;
		struct dd_output o;
		if (!fetch(r, current, base, s, last, &lsn, &o)) {
			count(r, &r->st.unavailable, last - s + 1);
			break;
		}
		uint8_t msg[DD_OUTW_MAX_LEN];
		size_t ml = dd_outw_encode(msg, lsn, &o);
		if (dd_molddg_add(&r->mold, msg, ml, 0) == -ENOSPC) {
			send_dg(r, from);
			dd_molddg_add(&r->mold, msg, ml, 0);
		}
		done++;
	}
	send_dg(r, from);
	count(r, &r->st.messages, done);
}

static void *rexmit_main(void *arg)
{
	struct dd_rexmit *r = arg;
	uint8_t buf[2048];
	while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(r->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (len < 0)
			continue; /* the timeout (to look at stop), or EINTR */
		answer(r, buf, (size_t)len, &from);
	}
	return NULL;
}

int dd_rexmit_start(struct dd_rexmit **out, const struct dd_rexmit_params *p, char *err, size_t errlen)
{
	struct dd_rexmit *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "retransmission server: out of memory");
		return -ENOMEM;
	}
	r->p = *p;
	r->fd = -1;
	snprintf(r->session, sizeof(r->session), "%s", p->session);
	r->p.npast = p->npast < DD_STREAM_PAST_MAX ? p->npast : DD_STREAM_PAST_MAX;
	if (r->p.npast > 0)
		memcpy(r->past, p->past, r->p.npast * sizeof(r->past[0]));
	r->p.past = r->past;
	r->jbase = UINT64_MAX;
	snprintf(r->journal, sizeof(r->journal), "%s", p->journal ? p->journal : "");
	r->p.journal = r->journal;
	pthread_mutex_init(&r->lock, NULL);
	r->tokens = (double)p->rate;
	r->tokens_ns = mono_ns();
	int rc = 0;
	r->jbuf = malloc(p->max_per_request * sizeof(*r->jbuf));
	if (r->jbuf == NULL) {
		snprintf(err, errlen, "retransmission server: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if (r->journal[0] != '\0' && (rc = dd_outlog_open(&r->log, r->journal, err, errlen)) != 0)
		goto fail;
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p->port), .sin_addr.s_addr = htonl(p->ip) };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	if (r->fd < 0 || setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    bind(r->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		rc = -errno;
		snprintf(err, errlen, "retransmission server: cannot bind UDP %u.%u.%u.%u:%u: %s (output_udp.request "
			 "chooses another address, or none)", p->ip >> 24, (p->ip >> 16) & 255, (p->ip >> 8) & 255,
			 p->ip & 255, p->port, strerror(-rc));
		goto fail;
	}
	if ((rc = pthread_create(&r->thread, NULL, rexmit_main, r)) != 0) {
		snprintf(err, errlen, "retransmission server: cannot start its thread: %s", strerror(rc));
		rc = -rc;
		goto fail;
	}
	pthread_setname_np(r->thread, "dd-rexmit");
	r->started = true;
	*out = r;
	return 0;
fail:
	dd_rexmit_free(r);
	return rc;
}

void dd_rexmit_stop(struct dd_rexmit *r)
{
	if (r == NULL || !r->started)
		return;
	atomic_store_explicit(&r->stop, true, memory_order_release);
	pthread_join(r->thread, NULL);
	r->started = false;
}

void dd_rexmit_free(struct dd_rexmit *r)
{
	if (r == NULL)
		return;
	dd_rexmit_stop(r);
	if (r->fd >= 0)
		close(r->fd);
	dd_outlog_close(r->log);
	free(r->jbuf);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void dd_rexmit_stats(const struct dd_rexmit *r, struct dd_rexmit_stats *out)
{
	pthread_mutex_t *l = (pthread_mutex_t *)(uintptr_t)&r->lock;
	pthread_mutex_lock(l);
	*out = r->st;
	pthread_mutex_unlock(l);
}
