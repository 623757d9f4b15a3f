/*
 * server.c: vmmd's listeners and client connections (server.h).  Each
 * connection reads JSON-RPC lines, answers them through d->methods with
 * the caller's role, and holds back the response of a message whose
 * replies are deferred until all of them are given.  The transport is
 * reached only through conn_tx_* below, so that TLS can be added under
 * them without touching the rest.
 */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "events.h"
#include "metrics.h"
#include "server.h"
#include "sup.h"
#include "tls.h"

#define SRV_READ_BUF	(64 * 1024)	/* one read, shared by all */
#define SRV_BACKLOG	128
#define SRV_LINGER_MS	2000	/* a refused client's time to go */
#define SRV_HTTP_HEAD_MAX 8192	/* an HTTP request's head, bytes */
/* Unsent responses past which a client's requests are no longer read. */
#define SRV_OUT_FACTOR	4		/* times max_message */

enum srv_listener_kind {
	SRV_LISTEN_RW,		/* the read-write socket */
	SRV_LISTEN_RO,		/* the read-only socket, 0666 */
	SRV_LISTEN_TLS,		/* tls-listen: roles from certificates */
	SRV_LISTEN_METRICS,	/* metrics-listen: HTTPS GET /metrics */
	SRV_LISTEN_COUNT
};

/* The transport labels of the metrics, per listener. */
static const char *const srv_transport[SRV_LISTEN_COUNT] = {
	[SRV_LISTEN_RW] = "unix",
	[SRV_LISTEN_RO] = "unix-ro",
	[SRV_LISTEN_TLS] = "tls",
	[SRV_LISTEN_METRICS] = "tls",
};

/* A stream handle of either family. */
union srv_stream {
	uv_handle_t h;
	uv_stream_t s;
	uv_pipe_t pipe;
	uv_tcp_t tcp;
};

struct listener {
	union srv_stream io;
	struct server *srv;
	enum srv_listener_kind kind;
	char path[CONFIG_PATH_MAX + 1];	/* socket path or listen address */
	bool bound;		/* a socket file that is ours to remove */
};

struct server {
	struct vmmd *d;
	struct listener ls[SRV_LISTEN_COUNT];
	struct tls_ctx *tls;	/* for new TLS connections; NULL: none */
	struct conn *conns;	/* open connections */
	unsigned int nconns;
	unsigned int closing;	/* handles whose close is pending */
	bool stopping;
	void (*stop_cb)(void *);
	void *stop_arg;
	char rbuf[SRV_READ_BUF];
	bool rbuf_busy;
};

/* Output not yet handed to the transport. */
struct obuf {
	char *p;
	size_t len, cap;
};

struct conn {
	union srv_stream io;
	uv_timer_t idle;		/* idle, or handshake, timeout */
	struct tls_conn *tls;		/* NULL on a UNIX socket */
	struct server *srv;
	struct conn *next, **prevp;	/* in srv->conns while open */
	struct peer peer;
	struct rpc_reader rd;
	struct obuf out;
	unsigned int refs;	/* the server's own, plus holders */
	unsigned int handles;	/* pipe and timer not yet closed */
	unsigned int inflight;	/* messages waiting for deferred replies */
	bool open;
	bool reading;
	bool throttled;		/* reading stopped: output backed up */
	bool eof;		/* the client sent all it will send */
	enum srv_listener_kind kind;	/* where it came from */
	bool ready;		/* identified: requests may be read */
	char *http;		/* metrics-listen: the request head so far */
	size_t hlen;
	bool answered;		/* metrics-listen: the response is out */
	bool draining;		/* refused: reading until EOF to close */
	bool refuse;		/* over max-clients: say so once ready */
};

/* A message whose response waits for deferred replies. */
struct msg {
	struct conn *conn;	/* a reference */
	json_t *resp;		/* the response being completed */
	struct reply *replies;	/* not yet given */
	unsigned int pending;	/* replies placed in resp, not yet given */
	bool resolved;		/* the replies have been placed in resp */
};

struct reply {
	struct msg *msg;	/* NULL once detached (notification) */
	struct reply *next;
	json_t *marker;		/* the placeholder result, a reference */
	json_t *answer;		/* given before resolution: kept here */
	int slot;		/* -1: the response itself, else its index */
	bool placed;
	bool given;
	/* For the audit and metrics once it is given (srv_observe). */
	const struct rpc_method *method;
	json_t *params;		/* a reference */
	uint64_t t0;
};

struct write_req {
	uv_write_t req;
	struct conn *conn;
	char data[];
};

static void	conn_close(struct conn *c);
static void	conn_flush(struct conn *c);
static void	conn_read_resume(struct conn *c);

/* A client that has sent everything goes once everything is answered. */
static void
conn_close_if_done(struct conn *c)
{
	if (c->eof && c->open && c->inflight == 0 && c->out.len == 0 &&
	    uv_stream_get_write_queue_size(&c->io.s) == 0)
		conn_close(c);
}

/*
 * Output buffering: responses of one read are gathered and handed to the
 * transport at once.
 */

static int
obuf_append(struct obuf *b, const char *p, size_t len)
{
	size_t cap;
	char *n;

	if (b->len + len > b->cap) {
		cap = b->cap == 0 ? 4096 : b->cap;
		while (cap < b->len + len)
			cap *= 2;
		if ((n = realloc(b->p, cap)) == NULL)
			return -ENOMEM;
		b->p = n;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

static void
obuf_free(struct obuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Bytes given to the connection and not yet sent. */
static size_t
conn_unsent(const struct conn *c)
{
	return c->out.len +
	    uv_stream_get_write_queue_size(&c->io.s);
}

/*
 * The transport: bytes to the socket (conn_raw_write), through the TLS
 * engine first on a TLS connection (conn_tx_write).
 */

static void
conn_tx_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;

	free(w);
	if (status < 0 && c->open) {
		vmmd_debug("%s: write: %s", c->peer.who, uv_strerror(status));
		conn_close(c);
	} else if (c->throttled && c->open) {
		conn_read_resume(c);
	}
	conn_close_if_done(c);
	conn_unref(c);
}

/* Send len bytes: what the socket takes now, the rest queued. */
static int
conn_raw_write(struct conn *c, const char *p, size_t len)
{
	struct write_req *w;
	uv_buf_t buf;
	int n = 0;

	if (uv_stream_get_write_queue_size(&c->io.s) == 0) {
		buf = uv_buf_init((char *)(uintptr_t)p, (unsigned int)len);
		n = uv_try_write(&c->io.s, &buf, 1);
		if (n < 0 && n != UV_EAGAIN)
			return n;
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return 0;
	}
	if ((w = malloc(sizeof(*w) + len - (size_t)n)) == NULL)
		return UV_ENOMEM;
	memcpy(w->data, p + n, len - (size_t)n);
	w->conn = conn_ref(c);
	buf = uv_buf_init(w->data, (unsigned int)(len - (size_t)n));
	if ((n = uv_write(&w->req, &c->io.s, &buf, 1,
	    conn_tx_written)) != 0) {
		conn_unref(c);
		free(w);
		return n;
	}
	return 0;
}

/* Hand the TLS engine's output to the socket. */
static int
conn_tls_flush(struct conn *c)
{
	size_t n;
	char *buf;
	int rc;

	if ((n = tls_conn_pending(c->tls)) == 0)
		return 0;
	if ((buf = malloc(n)) == NULL)
		return UV_ENOMEM;
	n = tls_conn_drain(c->tls, buf, n);
	rc = conn_raw_write(c, buf, n);
	free(buf);
	return rc;
}

static int
conn_tx_write(struct conn *c, const char *p, size_t len)
{
	if (c->tls == NULL)
		return conn_raw_write(c, p, len);
	if (tls_conn_write(c->tls, p, len) != 0) {
		vmmd_warnx("%s: TLS: %s", c->peer.who,
		    tls_conn_error(c->tls));
		return UV_EPROTO;
	}
	return conn_tls_flush(c);
}

static void
conn_flush(struct conn *c)
{
	int rc;

	if (!c->open || c->out.len == 0)
		return;
	rc = conn_tx_write(c, c->out.p, c->out.len);
	c->out.len = 0;
	if (rc != 0) {
		vmmd_debug("%s: write: %s", c->peer.who, uv_strerror(rc));
		conn_close(c);
	}
}

/* Queue one message (a line, compact JSON). */
static int
conn_send(struct conn *c, const json_t *msg)
{
	size_t len;
	char *text;
	int rc;

	if (!c->open)
		return -EPIPE;
	if ((text = rpc_encode(msg, &len)) == NULL)
		return -ENOMEM;
	rc = obuf_append(&c->out, text, len);
	rpc_text_free(text);
	return rc;
}

/*
 * References and teardown.
 */

struct conn *
conn_ref(struct conn *c)
{
	c->refs++;
	return c;
}

void
conn_unref(struct conn *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	rpc_reader_free(&c->rd);
	obuf_free(&c->out);
	free(c->http);
	tls_conn_free(c->tls);
	free(c);
}

bool
conn_is_open(const struct conn *c)
{
	return c->open;
}

const struct peer *
conn_peer(const struct conn *c)
{
	return &c->peer;
}

static void
srv_maybe_stopped(struct server *srv)
{
	void (*cb)(void *) = srv->stop_cb;

	if (!srv->stopping || srv->closing > 0 || cb == NULL)
		return;
	srv->stop_cb = NULL;
	cb(srv->stop_arg);
}

static void
conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct server *srv = c->srv;

	srv->closing--;
	if (--c->handles == 0)
		conn_unref(c);	/* the server's own */
	srv_maybe_stopped(srv);
}

/* Close once; the struct lives on while references remain. */
static void
conn_close(struct conn *c)
{
	struct server *srv = c->srv;

	if (!c->open)
		return;
	c->open = false;
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	srv->nconns--;
	vmmd_debug("%s: disconnected", c->peer.who);
	if (srv->d->sup != NULL)
		sup_conn_closed(srv->d->sup, c);
	events_conn_closed(srv->d, c);
	metrics_clients(srv->d->metrics, srv_transport[c->kind], -1);
	srv->closing += 2;
	uv_close(&c->io.h, conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

/*
 * Deferred replies.
 */

static void
msg_free(struct msg *m)
{
	json_decref(m->resp);
	conn_unref(m->conn);
	free(m);
}

/* Every placed reply has been given: send the response. */
static void
msg_finish(struct msg *m)
{
	struct conn *c = m->conn;

	if (c->open && m->resp != NULL) {
		if (conn_send(c, m->resp) != 0)
			vmmd_warnx("%s: out of memory for a response",
			    c->peer.who);
		conn_flush(c);
	}
	if (c->inflight > 0)
		c->inflight--;
	if (c->open && !c->reading && !c->throttled && !c->eof)
		conn_read_resume(c);
	conn_close_if_done(c);
	msg_free(m);
}

struct reply *
reply_new(struct call *call)
{
	struct reply *r;
	struct msg *m = call->msg;

	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL)
			return NULL;
		m->conn = conn_ref(call->conn);
		call->msg = m;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->marker = json_object()) == NULL) {
		free(r);
		return NULL;
	}
	r->msg = m;
	r->slot = -1;
	r->next = m->replies;
	m->replies = r;
	return r;
}

json_t *
reply_marker(struct reply *r)
{
	return json_incref(r->marker);
}

static void
reply_unlink(struct reply *r)
{
	struct reply **pp;

	if (r->msg == NULL)
		return;
	for (pp = &r->msg->replies; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->msg = NULL;
}

static void
reply_free(struct reply *r)
{
	json_decref(r->params);
	json_decref(r->marker);
	json_decref(r->answer);
	free(r);
}

void
reply_discard(struct reply *r)
{
	reply_unlink(r);
	reply_free(r);
}

/* Put the answer (a response object, stolen) into the reply's slot. */
static void
reply_place(struct reply *r, json_t *answer)
{
	struct msg *m = r->msg;

	if (answer == NULL) {
		/* Out of memory: the client gets no answer to this one. */
		vmmd_warnx("%s: out of memory for a deferred response",
		    m->conn->peer.who);
	} else if (r->slot < 0) {
		json_decref(m->resp);
		m->resp = answer;
	} else if (json_array_set_new(m->resp, (size_t)r->slot, answer) != 0) {
		vmmd_warnx("%s: out of memory for a deferred response",
		    m->conn->peer.who);
	}
	reply_unlink(r);
	reply_free(r);
	if (--m->pending == 0)
		msg_finish(m);
}

/* The id of the response entry that holds r's marker. */
static const json_t *
reply_id(const struct reply *r)
{
	const json_t *e = r->slot < 0 ? r->msg->resp :
	    json_array_get(r->msg->resp, (size_t)r->slot);

	return json_object_get(e, "id");
}

/*
 * A request was answered: its latency and code for the metrics, and the
 * audit record when it changed something or was refused.
 */
static void
srv_answered(struct vmmd *d, const struct peer *p,
    const struct rpc_method *m, const json_t *params, uint64_t t0,
    const struct rpc_error *err)
{
	metrics_rpc_done(d->metrics, m->name, err != NULL ? err->code : 0,
	    uv_hrtime() - t0);
	audit_record(d, p, m, params, err);
}

static void
reply_give(struct reply *r, json_t *result, struct rpc_error *err)
{
	json_t *answer = NULL;

	if (r->given)
		return;
	r->given = true;
	if (r->method != NULL && r->msg != NULL)
		srv_answered(r->msg->conn->srv->d, &r->msg->conn->peer,
		    r->method, r->params, r->t0, err);
	if (r->msg == NULL) {		/* a notification: nobody to tell */
		json_decref(result);
		if (err != NULL)
			rpc_error_clear(err);
		reply_free(r);
		return;
	}
	if (!r->msg->resolved) {	/* before its message was resolved */
		r->answer = err != NULL ? rpc_response_error(NULL, err) :
		    rpc_response_result(NULL, result);
		return;
	}
	if (err != NULL)
		answer = rpc_response_error(reply_id(r), err);
	else
		answer = rpc_response_result(reply_id(r), result);
	reply_place(r, answer);
}

void
reply_result(struct reply *r, json_t *result)
{
	reply_give(r, result, NULL);
}

void
reply_error(struct reply *r, struct rpc_error *err)
{
	reply_give(r, NULL, err);
}

/* Find where each reply's marker landed in resp; -1 when nowhere. */
static int
msg_slot_of(const json_t *resp, const json_t *marker, bool *found)
{
	size_t i;

	*found = false;
	if (json_is_object(resp)) {
		*found = json_object_get(resp, "result") == marker;
		return -1;
	}
	for (i = 0; i < json_array_size(resp); i++)
		if (json_object_get(json_array_get(resp, i), "result") ==
		    marker) {
			*found = true;
			return (int)i;
		}
	return -1;
}

/*
 * After dispatch: place the replies of m in resp (stolen).  Replies whose
 * request was a notification are detached.  Returns true when the
 * response is held for later, false when the caller may send it now.
 */
static bool
msg_resolve(struct msg *m, json_t *resp)
{
	struct reply *r, *next, **pp, *given = NULL;
	json_t *ans;

	m->resp = resp;
	m->resolved = true;
	for (r = m->replies; r != NULL; r = next) {
		next = r->next;
		r->slot = msg_slot_of(resp, r->marker, &r->placed);
		if (!r->placed) {
			reply_unlink(r);
			if (r->given)
				reply_free(r);
			continue;
		}
		m->pending++;
	}
	if (m->pending == 0)
		return false;
	m->conn->inflight++;
	/* Answers given during the dispatch go in now. */
	pp = &m->replies;
	while ((r = *pp) != NULL) {
		if (!r->given) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = given;
		given = r;
	}
	for (r = given; r != NULL; r = next) {
		next = r->next;
		ans = r->answer;
		r->answer = NULL;
		if (ans != NULL)
			json_object_set(ans, "id", json_object_get(r->slot < 0 ?
			    m->resp : json_array_get(m->resp, (size_t)r->slot),
			    "id"));
		reply_place(r, ans);
	}
	return true;
}

/*
 * Reading requests.
 */

static void
conn_idle_restart(struct conn *c)
{
	unsigned int t = c->srv->d->cfg.idle_timeout;

	if (t > 0)
		uv_timer_again(&c->idle);
}

/*
 * rpc_dispatch_observed's observer.  A deferred reply is accounted for
 * when it is given (reply_give); a notification's at once, since nobody
 * will hear how it ends.
 */
static void
srv_observe(void *ctx, const struct rpc_method *m,
    const struct rpc_request *req, const json_t *result,
    const struct rpc_error *err)
{
	struct call *call = ctx;
	struct reply *r = NULL;

	if (err == NULL && call->msg != NULL && req->id != NULL)
		for (r = call->msg->replies; r != NULL; r = r->next)
			if (r->marker == result)
				break;
	if (r == NULL && call->audited) {
		call->audited = false;
		metrics_rpc_done(call->d->metrics, m->name, 0,
		    uv_hrtime() - call->t0);
		return;
	}
	if (r == NULL) {
		srv_answered(call->d, call->peer, m, req->params, call->t0,
		    err);
		return;
	}
	r->method = m;
	r->params = json_incref(req->params);
	r->t0 = call->t0;
}

/* One line from the client: answer it or hold it. */
static void
conn_line(struct conn *c, const char *text, size_t len)
{
	struct vmmd *d = c->srv->d;
	struct call call = { d, c, &c->peer, NULL, uv_hrtime(), false };
	struct rpc_error err;
	json_t *resp = NULL;
	int rc;

	if (c->inflight >= d->cfg.max_inflight) {
		memset(&err, 0, sizeof(err));
		rpc_error_set(&err, RPC_E_RESOURCE_LIMIT, json_pack("{s:i}",
		    "max_inflight", (int)d->cfg.max_inflight), "more than %u "
		    "requests in flight", d->cfg.max_inflight);
		resp = rpc_response_error(NULL, &err);
	} else {
		rc = rpc_dispatch_observed(d->methods, c->peer.role, text,
		    len, &call, srv_observe, &resp);
		if (rc != 0) {
			vmmd_warnx("%s: out of memory answering a request",
			    c->peer.who);
			memset(&err, 0, sizeof(err));
			rpc_error_set(&err, RPC_E_INTERNAL, NULL, "out of "
			    "memory");
			json_decref(resp);
			resp = rpc_response_error(NULL, &err);
		}
	}
	if (call.msg != NULL && msg_resolve(call.msg, resp))
		return;
	if (call.msg != NULL) {
		call.msg->resp = NULL;
		msg_free(call.msg);
	}
	if (resp != NULL && conn_send(c, resp) != 0)
		vmmd_warnx("%s: out of memory for a response", c->peer.who);
	json_decref(resp);
}

static void
conn_too_long(struct conn *c)
{
	json_t *resp = rpc_response_too_long(c->rd.max);

	if (resp != NULL)
		(void)conn_send(c, resp);
	json_decref(resp);
}

static void
conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	/* One buffer for everyone: a read is consumed before the next. */
	if (c->srv->rbuf_busy) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	c->srv->rbuf_busy = true;
	*buf = uv_buf_init(c->srv->rbuf, sizeof(c->srv->rbuf));
}

static void
conn_read_stop(struct conn *c)
{
	if (c->reading)
		uv_read_stop(&c->io.s);
	c->reading = false;
}

static void
conn_feed(struct conn *c, const char *p, size_t n)
{
	struct rpc_line line;
	size_t used;

	while (n > 0 && c->open) {
		if (rpc_reader_feed(&c->rd, p, n, &used, &line) != 0) {
			vmmd_warnx("%s: out of memory reading; dropped",
			    c->peer.who);
			conn_close(c);
			return;
		}
		p += used;
		n -= used;
		if (line.kind == RPC_LINE_OK)
			conn_line(c, line.text, line.len);
		else if (line.kind == RPC_LINE_TOO_LONG)
			conn_too_long(c);
	}
}

/* EOF: answer what was sent, then close once it is out. */
static void
conn_eof(struct conn *c)
{
	conn_read_stop(c);
	c->eof = true;
	conn_flush(c);
	conn_close_if_done(c);
}

static void	conn_tls_ready(struct conn *c);

/*
 * HTTPS /metrics (metrics-listen): one GET per connection, answered with
 * metrics_scrape's text, then the connection closes.
 */

/* Send an HTTP/1.1 response and end the connection once it is out. */
static void
conn_http_reply(struct conn *c, const char *status, const char *ctype,
    const char *body, size_t len)
{
	char head[256];
	int n;

	if (!c->open || c->answered)
		return;
	c->answered = true;
	n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
	    ctype, len);
	if (obuf_append(&c->out, head, (size_t)n) != 0 ||
	    obuf_append(&c->out, body, len) != 0) {
		conn_close(c);
		return;
	}
	conn_flush(c);
	conn_eof(c);
}

static void
conn_http_text(struct conn *c, const char *status, const char *text)
{
	conn_http_reply(c, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

static void
conn_http_scraped(void *arg, int rc, const char *ctype, const char *text,
    size_t len)
{
	struct conn *c = arg;

	c->inflight--;
	if (rc != 0)
		conn_http_text(c, "500 Internal Server Error", "the metrics "
		    "could not be collected\n");
	else
		conn_http_reply(c, "200 OK", ctype, text, len);
	conn_unref(c);
}

/* The request head is complete: "GET /metrics[?format=...] HTTP/1.x". */
static void
conn_http_request(struct conn *c)
{
	enum metrics_format f = METRICS_PROMETHEUS;
	char *line = c->http, *target, *q;
	size_t n;

	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "GET ", 4) != 0) {
		conn_http_text(c, "405 Method Not Allowed", "only GET\n");
		return;
	}
	target = line + 4;
	n = strcspn(target, " ");
	if (strcmp(target + n, " HTTP/1.1") != 0 &&
	    strcmp(target + n, " HTTP/1.0") != 0) {
		conn_http_text(c, "400 Bad Request", "not HTTP/1.x\n");
		return;
	}
	target[n] = '\0';
	if ((q = strchr(target, '?')) != NULL)
		*q++ = '\0';
	if (strcmp(target, "/metrics") != 0) {
		conn_http_text(c, "404 Not Found", "only /metrics\n");
		return;
	}
	if (q != NULL && strcmp(q, "format=openmetrics") == 0)
		f = METRICS_OPENMETRICS;
	else if (q != NULL && q[0] != '\0' &&
	    strcmp(q, "format=prometheus") != 0) {
		conn_http_text(c, "400 Bad Request", "format=prometheus or "
		    "format=openmetrics\n");
		return;
	}
	c->inflight++;
	if (metrics_scrape(c->srv->d, f, conn_http_scraped, conn_ref(c)) !=
	    0) {
		c->inflight--;
		conn_unref(c);
		conn_http_text(c, "500 Internal Server Error", "the metrics "
		    "could not be collected\n");
	}
}

/* Request bytes on a metrics connection: gather the head, then act. */
static void
conn_http_feed(struct conn *c, const char *p, size_t n)
{
	char *nb;

	if (c->answered || c->inflight > 0)
		return;		/* one request per connection */
	if (c->hlen + n >= SRV_HTTP_HEAD_MAX) {
		conn_http_text(c, "431 Request Header Fields Too Large",
		    "request head over 8192 bytes\n");
		return;
	}
	if ((nb = realloc(c->http, c->hlen + n + 1)) == NULL) {
		conn_close(c);
		return;
	}
	c->http = nb;
	memcpy(c->http + c->hlen, p, n);
	c->hlen += n;
	c->http[c->hlen] = '\0';
	if (strstr(c->http, "\r\n\r\n") != NULL ||
	    strstr(c->http, "\n\n") != NULL)
		conn_http_request(c);
}

/*
 * Ciphertext from a TLS client, in the shared read buffer: into the
 * engine, then the handshake until it completes, then the requests,
 * decrypted into the same buffer (free again once fed).
 */
static void
conn_tls_input(struct conn *c, const char *p, size_t n)
{
	char *plain = c->srv->rbuf;
	ssize_t got = 0;
	int rc;

	if (tls_conn_feed(c->tls, p, n) != 0) {
		vmmd_warnx("%s: out of memory reading; dropped", c->peer.who);
		conn_close(c);
		return;
	}
	if (!c->ready) {
		if ((rc = tls_conn_handshake(c->tls)) < 0) {
			vmmd_info("%s: TLS handshake failed: %s", c->peer.who,
			    tls_conn_error(c->tls));
			(void)conn_tls_flush(c);	/* the alert */
			conn_close(c);
			return;
		}
		if (conn_tls_flush(c) != 0) {
			conn_close(c);
			return;
		}
		if (rc == 0)
			return;
		conn_tls_ready(c);
		if (!c->ready)
			return;
	}
	conn_idle_restart(c);
	while (c->open && (got = tls_conn_read(c->tls, plain,
	    sizeof(c->srv->rbuf))) > 0) {
		if (c->kind == SRV_LISTEN_METRICS)
			conn_http_feed(c, plain, (size_t)got);
		else
			conn_feed(c, plain, (size_t)got);
	}
	if (!c->open)
		return;
	if (got == -EPIPE) {
		conn_eof(c);
	} else if (got < 0) {
		vmmd_info("%s: TLS: %s", c->peer.who, tls_conn_error(c->tls));
		conn_close(c);
	}
}

static void
conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	size_t limit;

	if (buf->base == c->srv->rbuf)
		c->srv->rbuf_busy = false;
	if (n == 0)
		return;
	if (n < 0) {
		if (n != UV_EOF)
			conn_close(c);
		else if (c->draining)
			conn_close(c);
		else
			conn_eof(c);
		return;
	}
	if (c->draining)
		return;		/* refused: what it sends is dropped */
	conn_ref(c);
	if (c->tls != NULL) {
		conn_tls_input(c, buf->base, (size_t)n);
	} else {
		conn_idle_restart(c);
		conn_feed(c, buf->base, (size_t)n);
	}
	conn_flush(c);
	/* A client that does not read its answers is not read either. */
	limit = (size_t)c->srv->d->cfg.max_message * SRV_OUT_FACTOR;
	if (c->open && conn_unsent(c) > limit) {
		conn_read_stop(c);
		c->throttled = true;
	}
	conn_unref(c);
}

static void
conn_read_resume(struct conn *c)
{
	size_t limit = (size_t)c->srv->d->cfg.max_message * SRV_OUT_FACTOR;

	if (!c->open || c->reading || c->eof || conn_unsent(c) > limit)
		return;
	c->throttled = false;
	if (uv_read_start(&c->io.s, conn_alloc, conn_read) == 0)
		c->reading = true;
}

static void
conn_idle(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->draining) {
		conn_close(c);
		return;
	}
	if (!c->ready) {
		vmmd_info("%s: no TLS handshake within %u s; disconnected",
		    c->peer.who, c->srv->d->cfg.handshake_timeout);
		conn_close(c);
		return;
	}
	/* Not idle: waiting for its answers, or watching a console. */
	if (c->inflight > 0 || c->refs > 1)
		return;
	vmmd_info("%s: idle for %u s; disconnected", c->peer.who,
	    c->srv->d->cfg.idle_timeout);
	conn_close(c);
}

/*
 * Notifications.
 */

int
conn_notify(struct conn *c, const char *method, json_t *params)
{
	json_t *msg;
	int rc;

	if (!c->open) {
		json_decref(params);
		return -EPIPE;
	}
	if (conn_unsent(c) > c->srv->d->cfg.console_buffer) {
		json_decref(params);
		return -ENOBUFS;
	}
	msg = json_pack("{s:s,s:s,s:o}", "jsonrpc", RPC_JSONRPC, "method",
	    method, "params", params);
	if (msg == NULL)
		return -ENOMEM;
	rc = conn_send(c, msg);
	json_decref(msg);
	if (rc == 0)
		conn_flush(c);
	return rc;
}

/*
 * Accepting.
 */

/* The role of a peer on a listener: see vmmd(8), "ROLES". */
static enum rpc_role
srv_role(enum srv_listener_kind kind, uid_t uid)
{
	if (kind == SRV_LISTEN_RO)
		return RPC_ROLE_READONLY;
	if (uid == 0 || uid == geteuid())
		return RPC_ROLE_ADMIN;
	return RPC_ROLE_OPERATOR;
}

static int
conn_identify(struct conn *c, enum srv_listener_kind kind)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno(&c->io.h, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -errno;
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	c->peer.pid = cred.pid;
	c->peer.role = srv_role(kind, cred.uid);
	snprintf(c->peer.who, sizeof(c->peer.who), "uid %u pid %d%s",
	    (unsigned int)cred.uid, (int)cred.pid, kind == SRV_LISTEN_RO ?
	    " (read-only)" : "");
	return 0;
}

static void
conn_shutdown_done(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	conn_unref(c);
}

/*
 * Turn a client away: one error line (code, data stolen, message), then
 * the end of our side of the stream.  What the client still sends is
 * read and dropped until it closes, or for SRV_LINGER_MS: closing with
 * unread input would reset the connection and could destroy the line
 * before the client reads it.
 */
static void __attribute__((format(printf, 4, 5)))
conn_deny(struct conn *c, int code, json_t *data, const char *fmt, ...)
{
	char text[RPC_TEXT_MAX];
	struct rpc_error err;
	uv_shutdown_t *req;
	json_t *resp;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memset(&err, 0, sizeof(err));
	rpc_error_set(&err, code, data, "%s", text);
	if ((resp = rpc_response_error(NULL, &err)) != NULL)
		(void)conn_send(c, resp);
	json_decref(resp);
	conn_flush(c);
	if (c->tls != NULL) {
		tls_conn_shutdown(c->tls);
		(void)conn_tls_flush(c);
	}
	c->draining = true;
	if ((req = malloc(sizeof(*req))) == NULL) {
		conn_close(c);
		return;
	}
	req->data = conn_ref(c);
	if (!c->open || uv_shutdown(req, &c->io.s, conn_shutdown_done) != 0) {
		free(req);
		conn_unref(c);
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, conn_idle, SRV_LINGER_MS, 0);
	conn_read_resume(c);
}

/* Refuse a client over max-clients: one error line, then close. */
static void
conn_refuse(struct conn *c)
{
	vmmd_warnx("%s: refused: %u clients already", c->peer.who,
	    c->srv->d->cfg.max_clients);
	conn_deny(c, RPC_E_RESOURCE_LIMIT, json_pack("{s:i}", "max_clients",
	    (int)c->srv->d->cfg.max_clients), "too many clients (%u)",
	    c->srv->d->cfg.max_clients);
}

/*
 * A TLS client finished its handshake: its certificate's role, or a
 * refusal when no tls-role line matches it.
 */
static void
conn_tls_ready(struct conn *c)
{
	struct vmmd *d = c->srv->d;
	char fp[TLS_FINGERPRINT_MAX], subject[TLS_SUBJECT_MAX], desc[96];
	enum rpc_role role;

	if (tls_conn_identify(c->tls, &role, fp, subject) != 0) {
		vmmd_warnx("%s: refused: no tls-role matches %s (%s)",
		    c->peer.who, subject, fp);
		if (c->kind == SRV_LISTEN_METRICS) {
			conn_http_text(c, "403 Forbidden", "no role for this "
			    "certificate\n");
			return;
		}
		conn_deny(c, RPC_E_PERMISSION_DENIED, json_pack("{s:s,s:s}",
		    "fingerprint", fp, "subject", subject), "no role for this "
		    "certificate");
		return;
	}
	c->peer.role = role;
	snprintf(c->peer.fingerprint, sizeof(c->peer.fingerprint), "%s", fp);
	snprintf(c->peer.subject, sizeof(c->peer.subject), "%s", subject);
	/* Cut short past DB_WHO_MAX: the audit keeps the parts whole. */
	if (snprintf(c->peer.who, sizeof(c->peer.who), "tls %s %s (%s)", fp,
	    subject, c->peer.addr) >= (int)sizeof(c->peer.who))
		vmmd_debug("%s: identity cut to %zu bytes", c->peer.who,
		    sizeof(c->peer.who) - 1);
	c->ready = true;
	tls_conn_describe(c->tls, desc, sizeof(desc));
	vmmd_debug("%s: connected with %s as %s", c->peer.who, desc,
	    rpc_role_name(role));
	if (c->refuse && c->kind == SRV_LISTEN_METRICS) {
		conn_http_text(c, "503 Service Unavailable", "too many "
		    "clients\n");
		return;
	}
	if (c->refuse) {
		conn_refuse(c);
		return;
	}
	if (d->cfg.idle_timeout > 0)
		uv_timer_start(&c->idle, conn_idle, d->cfg.idle_timeout * 1000ULL,
		    d->cfg.idle_timeout * 1000ULL);
	else
		uv_timer_stop(&c->idle);
}

/* A TCP peer's address as "ADDR:PORT" or "[ADDR]:PORT". */
static void
conn_tcp_addr(struct conn *c)
{
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN], port[8];
	int len = sizeof(ss);

	snprintf(c->peer.addr, sizeof(c->peer.addr), "unknown address");
	if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, (socklen_t)len, host,
	    sizeof(host), port, sizeof(port), NI_NUMERICHOST |
	    NI_NUMERICSERV) != 0)
		return;
	snprintf(c->peer.addr, sizeof(c->peer.addr), ss.ss_family == AF_INET6 ?
	    "[%s]:%s" : "%s:%s", host, port);
}

/* A TLS client: its address now, its identity after the handshake. */
static int
conn_tls_accept(struct conn *c)
{
	struct server *srv = c->srv;

	conn_tcp_addr(c);
	snprintf(c->peer.who, sizeof(c->peer.who), "tls %s", c->peer.addr);
	(void)uv_tcp_nodelay(&c->io.tcp, 1);
	if ((c->tls = tls_conn_new(srv->tls)) == NULL)
		return -ENOMEM;
	/* Refused once it can be told why, over TLS. */
	c->refuse = srv->nconns > srv->d->cfg.max_clients;
	uv_timer_start(&c->idle, conn_idle,
	    srv->d->cfg.handshake_timeout * 1000ULL, 0);
	return 0;
}

static int
conn_unix_accept(struct conn *c, enum srv_listener_kind kind)
{
	struct vmmd *d = c->srv->d;
	int rc;

	if ((rc = conn_identify(c, kind)) != 0)
		return rc;
	c->ready = true;
	if (c->srv->nconns > d->cfg.max_clients) {
		conn_refuse(c);
		return 0;
	}
	vmmd_debug("%s: connected as %s", c->peer.who,
	    rpc_role_name(c->peer.role));
	if (d->cfg.idle_timeout > 0)
		uv_timer_start(&c->idle, conn_idle, d->cfg.idle_timeout * 1000ULL,
		    d->cfg.idle_timeout * 1000ULL);
	return 0;
}

static void
srv_accept(uv_stream_t *ls, int status)
{
	struct listener *l = ls->data;
	struct server *srv = l->srv;
	struct conn *c;
	int rc;

	if (status < 0) {
		vmmd_warnx("%s: accept: %s", l->path, uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    rpc_reader_init(&c->rd, srv->d->cfg.max_message) != 0) {
		vmmd_warnx("%s: out of memory for a client", l->path);
		free(c);
		return;
	}
	c->srv = srv;
	c->refs = 1;
	c->handles = 2;
	c->open = true;
	c->kind = l->kind;
	metrics_clients(srv->d->metrics, srv_transport[c->kind], 1);
	if (l->kind == SRV_LISTEN_TLS || l->kind == SRV_LISTEN_METRICS)
		uv_tcp_init(srv->d->loop, &c->io.tcp);
	else
		uv_pipe_init(srv->d->loop, &c->io.pipe, 0);
	uv_timer_init(srv->d->loop, &c->idle);
	c->io.h.data = c->idle.data = c;
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prevp = &c->next;
	c->prevp = &srv->conns;
	srv->conns = c;
	srv->nconns++;
	snprintf(c->peer.who, sizeof(c->peer.who), "client");
	if ((rc = uv_accept(ls, &c->io.s)) == 0)
		rc = l->kind == SRV_LISTEN_TLS || l->kind ==
		    SRV_LISTEN_METRICS ? conn_tls_accept(c) :
		    conn_unix_accept(c, l->kind);
	if (rc != 0) {
		vmmd_warnx("%s: accept: %s", l->path, rc < 0 && rc > -4096 ?
		    strerror(-rc) : "failed");
		conn_close(c);
		return;
	}
	conn_read_resume(c);
}

/*
 * Listeners.
 */

/* Is somebody answering on the socket at path? */
static bool
srv_socket_live(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool live;
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return live;
}

/* Make way for a socket at path: only a dead socket is removed. */
static int
srv_clear_path(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	if (srv_socket_live(path)) {
		snprintf(err, errlen, "%s: another vmmd is listening there",
		    path);
		return -EADDRINUSE;
	}
	if (unlink(path) == -1)
		return -errno;
	return 0;
}

/* The group of the read-write socket; -1 (keep ours) when unknown. */
static gid_t
srv_group(const char *name)
{
	struct group *gr;

	if (name[0] == '\0')
		return (gid_t)-1;
	if ((gr = getgrnam(name)) == NULL) {
		vmmd_warnx("socket-group %s does not exist: the read-write "
		    "socket is for its owner only", name);
		return (gid_t)-1;
	}
	return gr->gr_gid;
}

/* Create the parent directory of a socket if missing (0755). */
static void
srv_mkparent(const char *path)
{
	char dir[CONFIG_SOCKET_MAX + 1];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno == ENOENT) {
		srv_mkparent(dir);
		(void)mkdir(dir, 0755);
	}
}

static int
srv_listen(struct server *srv, struct listener *l, const char *path,
    enum srv_listener_kind kind, char *err, size_t errlen)
{
	mode_t mode = kind == SRV_LISTEN_RO ? 0666 : srv->d->cfg.socket_mode;
	mode_t old;
	int rc;

	l->kind = kind;
	snprintf(l->path, sizeof(l->path), "%s", path);
	srv_mkparent(path);
	if ((rc = srv_clear_path(path, err, errlen)) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	uv_pipe_init(srv->d->loop, &l->io.pipe, 0);
	l->io.h.data = l;
	l->srv = srv;		/* a handle to close from now on */
	/* Created private, opened up once its owner and mode are right. */
	old = umask(0177);
	rc = uv_pipe_bind(&l->io.pipe, path);
	umask(old);
	if (rc == 0) {
		l->bound = true;
		if (kind == SRV_LISTEN_RW && chown(path, (uid_t)-1,
		    srv_group(srv->d->cfg.socket_group)) == -1)
			rc = -errno;
		else if (chmod(path, mode) == -1)
			rc = -errno;
		else
			rc = uv_listen(&l->io.s, SRV_BACKLOG,
			    srv_accept);
	}
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", path, rc > -4096 && rc < 0 ?
		    strerror(-rc) : "cannot listen");
	return rc;
}

/* The address to bind for "HOST:PORT" ("*": every address). */
static int
srv_resolve(const char *text, struct sockaddr_storage *ss, char *err,
    size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	char host[CONFIG_LISTEN_MAX + 1], port[8];
	struct addrinfo *res;
	unsigned int p;
	int rc;

	if (config_listen_split(text, host, sizeof(host), &p) != 0) {
		snprintf(err, errlen, "%s: not HOST:PORT", text);
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%u", p);
	/* "*" is every address: IPv6's, which takes IPv4 too, else IPv4. */
	if (strcmp(host, "*") == 0)
		hints.ai_family = AF_INET6;
	rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints,
	    &res);
	if (rc != 0 && strcmp(host, "*") == 0) {
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, port, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", text, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* A TLS listener: at cfg.tls_listen, or metrics-listen's. */
static int
srv_listen_tls(struct server *srv, struct listener *l,
    enum srv_listener_kind kind, const char *addr, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	int rc;

	l->kind = kind;
	snprintf(l->path, sizeof(l->path), "%s", addr);
	if ((rc = srv_resolve(l->path, &ss, err, errlen)) != 0)
		return rc;
	uv_tcp_init(srv->d->loop, &l->io.tcp);
	l->io.h.data = l;
	l->srv = srv;
	if ((rc = uv_tcp_bind(&l->io.tcp, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen(&l->io.s, SRV_BACKLOG, srv_accept)) != 0)
		snprintf(err, errlen, "%s %s: %s", kind == SRV_LISTEN_TLS ?
		    "tls-listen" : "metrics-listen", l->path, uv_strerror(rc));
	return rc;
}

/*
 * (Re)read the TLS files into a new context for the connections to come;
 * those open keep theirs.  On failure the old context stays.
 */
int
server_reload_tls(struct vmmd *d, char *err, size_t errlen)
{
	struct server *srv = d->server;
	struct tls_ctx *t;
	int rc;

	if (d->cfg.tls_listen[0] == '\0' && d->cfg.metrics_listen[0] == '\0')
		return 0;
	if ((rc = tls_ctx_new(&d->cfg, &t, err, errlen)) != 0)
		return rc;
	tls_ctx_unref(srv->tls);
	srv->tls = t;
	return 0;
}

static void
srv_handle_closed(uv_handle_t *h)
{
	struct listener *l = h->data;

	l->srv->closing--;
	srv_maybe_stopped(l->srv);
}

static void
srv_close_listeners(struct server *srv)
{
	struct listener *l;
	int i;

	for (i = 0; i < SRV_LISTEN_COUNT; i++) {
		l = &srv->ls[i];
		if (l->srv == NULL || uv_is_closing(&l->io.h))
			continue;
		if (l->bound)
			(void)unlink(l->path);
		l->bound = false;
		srv->closing++;
		uv_close(&l->io.h, srv_handle_closed);
	}
}

int
server_start(struct vmmd *d, char *err, size_t errlen)
{
	struct server *srv;
	int rc;

	err[0] = '\0';
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return -ENOMEM;
	srv->d = d;
	d->server = srv;
	if ((rc = srv_listen(srv, &srv->ls[SRV_LISTEN_RW], d->cfg.socket,
	    SRV_LISTEN_RW, err, errlen)) != 0 ||
	    (rc = srv_listen(srv, &srv->ls[SRV_LISTEN_RO],
	    d->cfg.readonly_socket, SRV_LISTEN_RO, err, errlen)) != 0 ||
	    (rc = server_reload_tls(d, err, errlen)) != 0 ||
	    (d->cfg.tls_listen[0] != '\0' &&
	    (rc = srv_listen_tls(srv, &srv->ls[SRV_LISTEN_TLS],
	    SRV_LISTEN_TLS, d->cfg.tls_listen, err, errlen)) != 0) ||
	    (d->cfg.metrics_listen[0] != '\0' &&
	    (rc = srv_listen_tls(srv, &srv->ls[SRV_LISTEN_METRICS],
	    SRV_LISTEN_METRICS, d->cfg.metrics_listen, err, errlen)) != 0)) {
		srv_close_listeners(srv);
		return rc;
	}
	vmmd_info("listening on %s (read-write) and %s (read-only)",
	    d->cfg.socket, d->cfg.readonly_socket);
	if (d->cfg.tls_listen[0] != '\0')
		vmmd_info("listening on %s (TLS)", d->cfg.tls_listen);
	if (d->cfg.metrics_listen[0] != '\0')
		vmmd_info("listening on %s (HTTPS /metrics)",
		    d->cfg.metrics_listen);
	return 0;
}

void
server_stop(struct vmmd *d, void (*cb)(void *), void *arg)
{
	struct server *srv = d->server;

	if (srv == NULL) {
		if (cb != NULL)
			cb(arg);
		return;
	}
	srv->stopping = true;
	srv->stop_cb = cb;
	srv->stop_arg = arg;
	srv_close_listeners(srv);
	while (srv->conns != NULL)
		conn_close(srv->conns);
	srv_maybe_stopped(srv);
}

void
server_free(struct vmmd *d)
{
	if (d->server != NULL)
		tls_ctx_unref(d->server->tls);
	free(d->server);
	d->server = NULL;
}

unsigned int
server_clients(const struct vmmd *d)
{
	return d->server != NULL ? d->server->nconns : 0;
}
