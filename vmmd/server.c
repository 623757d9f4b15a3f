/*
 * server.c: vmmd's listeners and client connections (server.h).  Each
 * connection reads JSON-RPC lines, answers them through d->methods with
 * the caller's role, and holds back the response of a message whose
 * replies are deferred until all of them are given.  The transport is
 * reached only through conn_tx_* below, so that TLS can be added under
 * them without touching the rest.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "sup.h"

#define SRV_READ_BUF	(64 * 1024)	/* one read, shared by all */
#define SRV_BACKLOG	128
/* Unsent responses past which a client's requests are no longer read. */
#define SRV_OUT_FACTOR	4		/* times max_message */

enum srv_listener_kind {
	SRV_LISTEN_RW,		/* the read-write socket */
	SRV_LISTEN_RO,		/* the read-only socket, 0666 */
	SRV_LISTEN_COUNT
};

struct listener {
	uv_pipe_t pipe;
	struct server *srv;
	enum srv_listener_kind kind;
	char path[CONFIG_SOCKET_MAX + 1];
	bool bound;		/* the file is ours to remove */
};

struct server {
	struct vmmd *d;
	struct listener ls[SRV_LISTEN_COUNT];
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
	uv_pipe_t pipe;
	uv_timer_t idle;
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
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0)
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
	    uv_stream_get_write_queue_size((const uv_stream_t *)&c->pipe);
}

/*
 * The transport.  Today a UNIX stream socket; these three are what TLS
 * replaces.
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
conn_tx_write(struct conn *c, const char *p, size_t len)
{
	struct write_req *w;
	uv_buf_t buf;
	int n = 0;

	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0) {
		buf = uv_buf_init((char *)(uintptr_t)p, (unsigned int)len);
		n = uv_try_write((uv_stream_t *)&c->pipe, &buf, 1);
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
	if ((n = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1,
	    conn_tx_written)) != 0) {
		conn_unref(c);
		free(w);
		return n;
	}
	return 0;
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
	srv->closing += 2;
	uv_close((uv_handle_t *)&c->pipe, conn_handle_closed);
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

static void
reply_give(struct reply *r, json_t *result, struct rpc_error *err)
{
	json_t *answer = NULL;

	if (r->given)
		return;
	r->given = true;
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

/* One line from the client: answer it or hold it. */
static void
conn_line(struct conn *c, const char *text, size_t len)
{
	struct vmmd *d = c->srv->d;
	struct call call = { d, c, &c->peer, NULL };
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
		rc = rpc_dispatch_text(d->methods, c->peer.role, text, len,
		    &call, &resp);
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
		uv_read_stop((uv_stream_t *)&c->pipe);
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
		if (n != UV_EOF) {
			conn_close(c);
			return;
		}
		/* EOF: answer what was sent, then close once it is out. */
		conn_read_stop(c);
		c->eof = true;
		conn_flush(c);
		conn_close_if_done(c);
		return;
	}
	conn_ref(c);
	conn_idle_restart(c);
	conn_feed(c, buf->base, (size_t)n);
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
	if (uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read) == 0)
		c->reading = true;
}

static void
conn_idle(uv_timer_t *t)
{
	struct conn *c = t->data;

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

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
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

/* Refuse a client over max-clients: one error line, then close. */
static void
conn_refuse(struct conn *c)
{
	struct rpc_error err;
	json_t *resp;

	memset(&err, 0, sizeof(err));
	rpc_error_set(&err, RPC_E_RESOURCE_LIMIT, json_pack("{s:i}",
	    "max_clients", (int)c->srv->d->cfg.max_clients), "too many clients "
	    "(%u)", c->srv->d->cfg.max_clients);
	if ((resp = rpc_response_error(NULL, &err)) != NULL)
		(void)conn_send(c, resp);
	json_decref(resp);
	conn_flush(c);
	conn_close(c);
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
	uv_pipe_init(srv->d->loop, &c->pipe, 0);
	uv_timer_init(srv->d->loop, &c->idle);
	c->pipe.data = c->idle.data = c;
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prevp = &c->next;
	c->prevp = &srv->conns;
	srv->conns = c;
	srv->nconns++;
	snprintf(c->peer.who, sizeof(c->peer.who), "client");
	if ((rc = uv_accept(ls, (uv_stream_t *)&c->pipe)) != 0 ||
	    (rc = conn_identify(c, l->kind)) != 0) {
		vmmd_warnx("%s: accept: %s", l->path, rc < 0 && rc > -4096 ?
		    strerror(-rc) : "failed");
		conn_close(c);
		return;
	}
	if (srv->nconns > srv->d->cfg.max_clients) {
		vmmd_warnx("%s: refused: %u clients already", c->peer.who,
		    srv->d->cfg.max_clients);
		conn_refuse(c);
		return;
	}
	vmmd_debug("%s: connected on %s as %s", c->peer.who, l->path,
	    rpc_role_name(c->peer.role));
	if (srv->d->cfg.idle_timeout > 0)
		uv_timer_start(&c->idle, conn_idle,
		    srv->d->cfg.idle_timeout * 1000ULL,
		    srv->d->cfg.idle_timeout * 1000ULL);
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

	l->srv = srv;
	l->kind = kind;
	snprintf(l->path, sizeof(l->path), "%s", path);
	srv_mkparent(path);
	if ((rc = srv_clear_path(path, err, errlen)) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	uv_pipe_init(srv->d->loop, &l->pipe, 0);
	l->pipe.data = l;
	/* Created private, opened up once its owner and mode are right. */
	old = umask(0177);
	rc = uv_pipe_bind(&l->pipe, path);
	umask(old);
	if (rc == 0) {
		l->bound = true;
		if (kind == SRV_LISTEN_RW && chown(path, (uid_t)-1,
		    srv_group(srv->d->cfg.socket_group)) == -1)
			rc = -errno;
		else if (chmod(path, mode) == -1)
			rc = -errno;
		else
			rc = uv_listen((uv_stream_t *)&l->pipe, SRV_BACKLOG,
			    srv_accept);
	}
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", path, rc > -4096 && rc < 0 ?
		    strerror(-rc) : "cannot listen");
	return rc;
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
		if (l->srv == NULL || uv_is_closing((uv_handle_t *)&l->pipe))
			continue;
		if (l->bound)
			(void)unlink(l->path);
		l->bound = false;
		srv->closing++;
		uv_close((uv_handle_t *)&l->pipe, srv_handle_closed);
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
	    d->cfg.readonly_socket, SRV_LISTEN_RO, err, errlen)) != 0) {
		srv_close_listeners(srv);
		return rc;
	}
	vmmd_info("listening on %s (read-write) and %s (read-only)",
	    d->cfg.socket, d->cfg.readonly_socket);
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
	free(d->server);
	d->server = NULL;
}

unsigned int
server_clients(const struct vmmd *d)
{
	return d->server != NULL ? d->server->nconns : 0;
}
