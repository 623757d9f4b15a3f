/*
 * sup_ctl.c: vmmd's side of a worker's control socket (proto/WORKER.md).
 * A uv_pipe_t connection; lines are split by proto's rpc_reader and
 * decoded with jansson.  The hello is checked (uuid, pid, protocol), the
 * console is attached with its scrollback, and then requests go out with
 * an id and their replies, which come in order, find them in a FIFO.
 * Events (console output, lost output, the exit) go to the mirror and
 * the worker's record.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sup_internal.h"

#define SUP_PROTOCOL	1	/* WORKER_PROTOCOL_VERSION */

struct sup_write {
	uv_write_t req;
	char *text;
};

static void sup_ctl_attach(struct sup_worker *w);

/* Is the connection open or being opened (more may come on it)? */
bool
sup_ctl_open_now(const struct sup_worker *w)
{
	return w->ctl != SUP_CTL_NONE && w->ctl != SUP_CTL_CLOSED;
}

/*
 * Close the connection and fail every request still waiting for its
 * reply (its callback gets NULL).  Idempotent.
 */
void
sup_ctl_close(struct sup_worker *w)
{
	struct sup_req *rq;

	if (w->ctl == SUP_CTL_NONE || w->ctl == SUP_CTL_CLOSED)
		return;
	w->ctl = SUP_CTL_CLOSED;
	if (w->pipe_open) {
		w->pipe_open = false;
		uv_close((uv_handle_t *)&w->pipe, sup_handle_closed);
	}
	while ((rq = TAILQ_FIRST(&w->reqs)) != NULL) {
		TAILQ_REMOVE(&w->reqs, rq, link);
		rq->fn(w, rq, NULL);
		free(rq);
	}
}

/* The connection broke and the worker lives on: say so. */
static void
sup_ctl_lost(void *arg)
{
	struct sup_worker *w = arg;

	if (w->vm != NULL && !w->exited)
		vmmd_warnx("vm %s: %s; the worker (pid %d) runs on without "
		    "it", w->vm->name, w->lost_why, (int)w->pid);
}

/*
 * The connection failed or broke for why.  What it means depends on
 * where we were: an adoption that found no worker, a start that cannot
 * reach its worker, or a running worker we lost touch with.
 */
static void
sup_ctl_fail(struct sup_worker *w, const char *why)
{
	enum sup_ctl_state was = w->ctl;
	struct sup_vm *v = w->vm;

	sup_ctl_close(w);
	if (v == NULL || w->exited) {
		sup_worker_check(w);
		return;
	}
	if (w->purpose == SUP_CTL_ADOPT && was < SUP_CTL_ATTACHING)
		sup_adopt_missing(v, why);
	else if (w->purpose == SUP_CTL_START && was < SUP_CTL_UP)
		sup_start_trouble(v, why);
	else if (!w->exit_event) {
		/* A dying process's socket may close before its pidfd says. */
		snprintf(w->lost_why, sizeof(w->lost_why), "%s", why);
		if (sup_timer_start(w->s, &w->timer, SUP_EXIT_WAIT_MS,
		    sup_ctl_lost, w) != 0)
			sup_ctl_lost(w);
	}
}

static void
sup_ctl_written(uv_write_t *req, int status)
{
	struct sup_write *wr = req->data;

	free(wr->text);
	free(wr);
}

/* Send msg (borrowed) as one line.  0 or a negative errno. */
static int
sup_ctl_write(struct sup_worker *w, const json_t *msg)
{
	struct sup_write *wr;
	uv_buf_t b;
	size_t len;
	int rc;

	if ((wr = calloc(1, sizeof(*wr))) == NULL)
		return -ENOMEM;
	if ((wr->text = rpc_encode(msg, &len)) == NULL) {
		free(wr);
		return -ENOMEM;
	}
	wr->req.data = wr;
	b = uv_buf_init(wr->text, (unsigned int)len);
	if ((rc = uv_write(&wr->req, (uv_stream_t *)&w->pipe, &b, 1,
	    sup_ctl_written)) != 0) {
		rpc_text_free(wr->text);
		free(wr);
		return rc;
	}
	return 0;
}

/* Send cmd (stolen) with a new id; fn gets the reply.  0 or -errno. */
static int
sup_ctl_request(struct sup_worker *w, json_t *cmd, sup_reply_fn *fn,
    struct sup_op *op)
{
	struct sup_req *rq = NULL;
	int rc = -ENOMEM;

	if (cmd == NULL || (rq = calloc(1, sizeof(*rq))) == NULL)
		goto out;
	rq->id = ++w->next_id;
	rq->fn = fn;
	rq->op = op;
	snprintf(rq->cmd, sizeof(rq->cmd), "%s",
	    json_string_value(json_object_get(cmd, "cmd")));
	if (json_object_set_new(cmd, "id", json_integer(rq->id)) != 0)
		goto out;
	if ((rc = sup_ctl_write(w, cmd)) != 0)
		goto out;
	TAILQ_INSERT_TAIL(&w->reqs, rq, link);
	rq = NULL;
out:
	free(rq);
	json_decref(cmd);
	return rc;
}

/*
 * Send a request once the hello is checked (the console attachment may
 * still be on its way: replies come in order).  -ENOTCONN before.
 */
int
sup_ctl_send(struct sup_worker *w, json_t *cmd, sup_reply_fn *fn,
    struct sup_op *op)
{
	if (w == NULL || (w->ctl != SUP_CTL_UP &&
	    w->ctl != SUP_CTL_ATTACHING)) {
		json_decref(cmd);
		return -ENOTCONN;
	}
	return sup_ctl_request(w, cmd, fn, op);
}

/*
 * A worker's error reply as an RPC error: bad_state is
 * RPC_E_INVALID_STATE (with the VM's state), busy RPC_E_BUSY, anything
 * else RPC_E_FAILED; the message is the worker's.  Returns the code.
 */
int
sup_ctl_error(const json_t *reply, struct rpc_error *err,
    const struct sup_vm *v)
{
	const char *code = NULL, *msg = NULL;

	if (reply == NULL)
		return rpc_error_set(err, RPC_E_FAILED, NULL, "the worker "
		    "exited, or vmmd lost its control connection");
	(void)json_unpack((json_t *)(uintptr_t)reply, "{s:{s?s, s?s}}",
	    "error", "code", &code, "message", &msg);
	if (msg == NULL)
		msg = "the worker refused the request";
	if (code != NULL && strcmp(code, "bad_state") == 0)
		return rpc_error_set(err, RPC_E_INVALID_STATE,
		    json_pack("{s:s}", "state", db_state_name(v->rt.state)),
		    "%s", msg);
	if (code != NULL && strcmp(code, "busy") == 0)
		return rpc_error_set(err, RPC_E_BUSY, NULL, "%s", msg);
	return rpc_error_set(err, RPC_E_FAILED, NULL, "%s", msg);
}

/* -------------------------------------------------------------------------- */
/* The console attachment. */

static void
sup_attached(struct sup_worker *w, struct sup_req *rq, json_t *reply)
{
	struct sup_vm *v = w->vm;
	const char *code = NULL;

	if (reply == NULL || v == NULL)
		return;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		(void)json_unpack(reply, "{s:{s?s}}", "error", "code", &code);
		if (!w->watch_only && code != NULL &&
		    strcmp(code, "busy") == 0) {
			/* Someone else writes: watch, vm.console input fails. */
			vmmd_warnx("vm %s: another client writes the console; "
			    "watching it only", v->name);
			w->watch_only = true;
			sup_ctl_attach(w);
			return;
		}
		vmmd_warnx("vm %s: cannot attach to the console: %s", v->name,
		    code != NULL ? code : "no reason");
	}
	w->ctl = SUP_CTL_UP;
	if (w->purpose == SUP_CTL_START)
		sup_worker_ready(v);
}

/* Ask for the console output (all of the scrollback first, when replay). */
static void
sup_ctl_attach(struct sup_worker *w)
{
	json_t *cmd;

	cmd = json_pack("{s:s, s:s, s:b}", "cmd", "console_attach", "mode",
	    w->watch_only ? "watch" : "write", "replay", w->replay);
	w->ctl = SUP_CTL_ATTACHING;
	if (sup_ctl_request(w, cmd, sup_attached, NULL) != 0)
		sup_ctl_fail(w, "cannot write to the worker's control socket");
}

/* -------------------------------------------------------------------------- */
/* Events. */

typedef int sup_event_fn(struct sup_worker *w, json_t *m, char *why,
    size_t whylen);

static int
sup_ev_hello(struct sup_worker *w, json_t *m, char *why, size_t whylen)
{
	struct sup_vm *v = w->vm;
	const char *uuid, *state;
	json_int_t pid, proto;

	if (w->ctl != SUP_CTL_HELLO) {
		snprintf(why, whylen, "a second hello");
		return -EPROTO;
	}
	if (json_unpack(m, "{s:s, s:I, s:s, s:I}", "uuid", &uuid, "pid", &pid,
	    "state", &state, "protocol", &proto) != 0) {
		snprintf(why, whylen, "a malformed hello");
		return -EPROTO;
	}
	if (strcmp(uuid, v->uuid) != 0 || (w->pid > 0 && pid != w->pid)) {
		snprintf(why, whylen, "the control socket answers for %.36s "
		    "pid %lld, not for pid %d", uuid, (long long)pid,
		    (int)w->pid);
		return -ESRCH;
	}
	if (proto != SUP_PROTOCOL) {
		snprintf(why, whylen, "the worker speaks protocol %lld, not %d",
		    (long long)proto, SUP_PROTOCOL);
		return -EPROTO;
	}
	sup_timer_stop(&w->timer);
	if (w->purpose == SUP_CTL_ADOPT)
		sup_adopt_found(v, state);
	/* An ended VM sends its exit event at once, and nothing more. */
	if (strcmp(state, "exited") == 0)
		w->ctl = SUP_CTL_UP;
	else if (w->vm != NULL && w->ctl == SUP_CTL_HELLO)
		sup_ctl_attach(w);
	return 0;
}

static int
sup_ev_console(struct sup_worker *w, json_t *m, char *why, size_t whylen)
{
	json_t *data = json_object_get(m, "data");

	if (!json_is_string(data)) {
		snprintf(why, whylen, "a console event without data");
		return -EPROTO;
	}
	sup_console_data(w->vm, json_string_value(data),
	    json_string_length(data));
	return 0;
}

static int
sup_ev_lost(struct sup_worker *w, json_t *m, char *why, size_t whylen)
{
	json_int_t bytes;

	if (json_unpack(m, "{s:I}", "bytes", &bytes) != 0 || bytes < 0) {
		snprintf(why, whylen, "a malformed console_lost event");
		return -EPROTO;
	}
	sup_console_lost(w->vm, (uint64_t)bytes);
	return 0;
}

/* The exit: kept, and used once the process is gone (sup_worker_gone). */
static int
sup_ev_exit(struct sup_worker *w, json_t *m, char *why, size_t whylen)
{
	const char *reason;
	json_int_t status;

	if (json_unpack(m, "{s:s, s:I}", "reason", &reason, "status",
	    &status) != 0 || status < 0 || status > VMSTATE_STATUS_MAX) {
		snprintf(why, whylen, "a malformed exit event");
		return -EPROTO;
	}
	w->exit_event = true;
	w->ev_status = (int)status;
	return 0;
}

static const struct {
	const char *name;
	sup_event_fn *fn;
} sup_events[] = {
	{ "hello",		sup_ev_hello },
	{ "console",		sup_ev_console },
	{ "console_lost",	sup_ev_lost },
	{ "exit",		sup_ev_exit },
};

static int
sup_ctl_event(struct sup_worker *w, json_t *m, const char *name, char *why,
    size_t whylen)
{
	size_t i;

	if (w->ctl == SUP_CTL_HELLO && strcmp(name, "hello") != 0) {
		snprintf(why, whylen, "no hello first");
		return -EPROTO;
	}
	for (i = 0; i < sizeof(sup_events) / sizeof(sup_events[0]); i++)
		if (strcmp(sup_events[i].name, name) == 0)
			return sup_events[i].fn(w, m, why, whylen);
	return 0;	/* a newer worker's event: not ours to know */
}

static int
sup_ctl_reply(struct sup_worker *w, json_t *m, char *why, size_t whylen)
{
	struct sup_req *rq = TAILQ_FIRST(&w->reqs);
	json_t *id = json_object_get(m, "id");

	if (rq == NULL || !json_is_integer(id) ||
	    json_integer_value(id) != rq->id) {
		snprintf(why, whylen, "a reply to no request of ours");
		return -EPROTO;
	}
	TAILQ_REMOVE(&w->reqs, rq, link);
	rq->fn(w, rq, m);
	free(rq);
	return 0;
}

/* One line from the worker.  0, or a negative errno with why filled. */
static int
sup_ctl_line(struct sup_worker *w, const char *text, size_t len, char *why,
    size_t whylen)
{
	json_error_t jerr;
	json_t *m, *ev;
	int rc;

	if ((m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(m)) {
		json_decref(m);
		snprintf(why, whylen, "the worker sent a line that is not a "
		    "JSON object");
		return -EPROTO;
	}
	if ((ev = json_object_get(m, "event")) != NULL)
		rc = json_is_string(ev) ? sup_ctl_event(w, m,
		    json_string_value(ev), why, whylen) : -EPROTO;
	else if (json_is_boolean(json_object_get(m, "ok")))
		rc = sup_ctl_reply(w, m, why, whylen);
	else
		rc = -EPROTO;
	if (rc == -EPROTO && why[0] == '\0')
		snprintf(why, whylen, "the worker sent neither a reply nor an "
		    "event");
	json_decref(m);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* I/O. */

static void
sup_ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sup_worker *w = h->data;

	if (w->rbuf == NULL)
		w->rbuf = malloc(SUP_CTL_READ);
	*buf = uv_buf_init(w->rbuf, w->rbuf != NULL ? SUP_CTL_READ : 0);
}

static void
sup_ctl_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sup_worker *w = st->data;
	const char *p = buf->base;
	size_t len = nread > 0 ? (size_t)nread : 0, used;
	struct rpc_line line;
	char why[256];

	if (nread < 0) {
		snprintf(why, sizeof(why), "the control connection closed: "
		    "%s", nread == UV_EOF ? "end of file" :
		    uv_strerror((int)nread));
		sup_ctl_fail(w, why);
		return;
	}
	while (len > 0 && w->ctl != SUP_CTL_CLOSED) {
		why[0] = '\0';
		if (rpc_reader_feed(&w->ctl_rd, p, len, &used, &line) != 0) {
			sup_ctl_fail(w, "out of memory for a control line");
			return;
		}
		p += used;
		len -= used;
		if (line.kind == RPC_LINE_TOO_LONG) {
			sup_ctl_fail(w, "the worker sent a line too long");
			return;
		}
		if (line.kind == RPC_LINE_OK &&
		    sup_ctl_line(w, line.text, line.len, why, sizeof(why)) !=
		    0) {
			sup_ctl_fail(w, why);
			return;
		}
	}
}

static void
sup_ctl_connected(uv_connect_t *req, int status)
{
	struct sup_worker *w = req->data;
	char why[160];
	int rc;

	if (w->ctl != SUP_CTL_CONNECTING)
		return;		/* closed meanwhile */
	if (status == 0 && (rc = uv_read_start((uv_stream_t *)&w->pipe,
	    sup_ctl_alloc, sup_ctl_read)) != 0)
		status = rc;
	if (status != 0) {
		snprintf(why, sizeof(why), "cannot connect to the control "
		    "socket: %s", uv_strerror(status));
		sup_ctl_fail(w, why);
		return;
	}
	w->ctl = SUP_CTL_HELLO;
}

static void
sup_hello_timeout(void *arg)
{
	struct sup_worker *w = arg;

	sup_ctl_fail(w, "the control socket did not answer in time");
}

/*
 * Connect to the worker's socket at path.  The hello decides what
 * follows (see purpose); the console is attached with its scrollback.
 * 0, or a negative errno when nothing could be started.
 */
int
sup_ctl_open(struct sup_worker *w, enum sup_ctl_purpose purpose,
    const char *path)
{
	int rc;

	if (w->ctl != SUP_CTL_NONE)
		return -EALREADY;
	if ((rc = uv_pipe_init(w->s->d->loop, &w->pipe, 0)) != 0)
		return rc;
	w->pipe.data = w;
	w->pipe_open = true;
	w->handles++;
	w->s->handles++;
	w->purpose = purpose;
	w->replay = true;
	w->ctl = SUP_CTL_CONNECTING;
	w->connect.data = w;
	uv_pipe_connect(&w->connect, &w->pipe, path, sup_ctl_connected);
	if (purpose == SUP_CTL_ADOPT &&
	    sup_timer_start(w->s, &w->timer, SUP_HELLO_TIMEOUT_MS,
	    sup_hello_timeout, w) != 0) {
		sup_ctl_close(w);
		return -ENOMEM;
	}
	return 0;
}
