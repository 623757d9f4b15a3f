/*
 * control.c: the worker's control socket, $rundir/vm/<uuid>.sock.  One
 * JSON object per line each way (the protocol is proto/WORKER.md): a hello
 * on connect, then one reply per request, console output for attached
 * clients, and the exit message when the VM ends.
 *
 * Everything here runs on the main thread.  The sockets are non-blocking
 * and driven by uv_poll_t handles with our own read and write buffers (not
 * uv_pipe_t): control_final runs inside a loop callback, where the loop
 * cannot be run again, and must still push the exit message out with a
 * bounded wait; with our own buffers it can poll(2) them directly.
 *
 * Bounds: CTL_CLIENTS_MAX clients, request lines of at most CTL_LINE_MAX
 * bytes, and at most CTL_QUEUE_MAX bytes waiting for a client that does
 * not read (it is dropped beyond that).  Console output is pulled only
 * while a client's queue is below CTL_WATCH_HIGH, so a slow watcher falls
 * behind in the console ring (and is told what it lost) rather than
 * growing its queue.
 *
 * System calls after setup (the sandbox's allowlist): read, write, close,
 * accept4, getsockopt (SO_PEERCRED), poll (control_final's bounded wait,
 * and looking for departed clients when all places are taken), epoll via
 * libuv, and at the very end newfstatat and unlink for the socket file.
 * Writes are plain write(2) (send(2) is not on the list), so a client
 * that went away is EPIPE only because main.c ignores SIGPIPE.
 */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "base64.h"
#include "control.h"
#include "worker.h"

#define CTL_CLIENTS_MAX		32
#define CTL_LINE_MAX		(64 * 1024)	/* without the newline */
#define CTL_READ_CHUNK		(16 * 1024)
#define CTL_QUEUE_MAX		(1024 * 1024)
#define CTL_WATCH_HIGH		(64 * 1024)
#define CTL_CONSOLE_CHUNK	(8 * 1024)	/* bytes per console event */
#define CTL_FINAL_MS		1000		/* control_final's wait */
#define CTL_ACCEPT_BURST	16
#define CTL_BACKLOG		16
#define CTL_TIMEOUT_MAX_MS	((json_int_t)VMDEF_SHUTDOWN_MAX * 1000)
#define CTL_MSG_MAX		256

/* Error codes of replies, one list: name, word on the wire, errno. */
#define CTL_ERR_MAP(X)						\
	X(BAD_JSON,		"bad_json",		EINVAL)	\
	X(BAD_REQUEST,		"bad_request",		EINVAL)	\
	X(UNKNOWN_COMMAND,	"unknown_command",	ENOSYS)	\
	X(LINE_TOO_LONG,	"line_too_long",	EMSGSIZE) \
	X(BAD_STATE,		"bad_state",		EBUSY)	\
	X(BUSY,			"busy",			EBUSY)	\
	X(NO_CONSOLE,		"no_console",		ENODEV)	\
	X(NOT_WRITER,		"not_writer",		EPERM)	\
	X(TOO_MANY_CLIENTS,	"too_many_clients",	EMFILE)	\
	X(PERMISSION_DENIED,	"permission_denied",	EACCES)	\
	X(INTERNAL,		"internal",		ENOMEM)

enum ctl_err {
#define CTL_ERR_ENUM(name, word, errnum) CTL_E_##name,
	CTL_ERR_MAP(CTL_ERR_ENUM)
#undef CTL_ERR_ENUM
	CTL_E_COUNT
};

static const struct {
	const char *word;
	int errnum;
} ctl_errs[CTL_E_COUNT] = {
#define CTL_ERR_ROW(name, word, errnum) { word, errnum },
	CTL_ERR_MAP(CTL_ERR_ROW)
#undef CTL_ERR_ROW
};

static const char *const ctl_vcpu_states[] = {
	[VCPU_STATE_CREATED] = "created",
	[VCPU_STATE_RUNNING] = "running",
	[VCPU_STATE_HALTED] = "halted",
	[VCPU_STATE_PAUSED] = "paused",
	[VCPU_STATE_STOPPED] = "stopped",
};

static const char *const ctl_stat_words[VCPU_STAT_COUNT] = {
#define CTL_STAT_WORD(name, word) [VCPU_STAT_##name] = word,
	VCPU_STAT_MAP(CTL_STAT_WORD)
#undef CTL_STAT_WORD
};

enum ctl_attach {
	CTL_ATTACH_NONE,
	CTL_ATTACH_WATCH,
	CTL_ATTACH_WRITE,		/* watches too */
};

struct ctl_client {
	struct control *ctl;
	uv_poll_t poll;
	int fd;
	int events;			/* what poll is started for */
	pid_t pid;			/* peer credentials */
	uid_t uid;

	char *in;			/* the partial request line */
	size_t inlen, incap;
	char *out;			/* queued output: [outoff, outlen) */
	size_t outoff, outlen, outcap;

	bool rd_done;			/* read no more; close once flushed */
	bool closing;			/* closed, waiting for its callback */
	enum ctl_attach attach;
	struct console_watch watch;
	TAILQ_ENTRY(ctl_client) entry;
};

struct control {
	struct vm *vm;
	uv_poll_t server;
	int fd;
	bool accepting;			/* server poll started */
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	dev_t dev;			/* the socket file we bound */
	ino_t ino;
	uid_t owner;			/* euid when the socket was made */
	TAILQ_HEAD(, ctl_client) clients;
	unsigned int nclients;
	struct ctl_client *writer;	/* the console writer, or NULL */
	bool final;			/* the VM has ended */
};

/* One request being handled: handlers fill reply, or code and msg. */
struct ctl_req {
	struct ctl_client *cl;
	struct vm *vm;
	const char *cmd;
	json_t *args;			/* the request without cmd and id */
	json_t *reply;
	enum ctl_err code;
	char msg[CTL_MSG_MAX];
};

typedef int ctl_handler(struct ctl_req *r);

#define CTL_NEED_CONSOLE	0x1

struct ctl_cmd {
	const char *name;
	ctl_handler *fn;
	unsigned int flags;
};

static void	ctl_client_close(struct ctl_client *cl);
static void	ctl_pull(struct ctl_client *cl, bool bounded);
static int	ctl_flush(struct ctl_client *cl);
static void	ctl_accept_start(struct control *ctl);
static void	ctl_server_closed(uv_handle_t *h);

/* ------------------------------------------------------------------------ */
/* Messages. */

/*
 * A JSON string of s; bytes that would not make valid UTF-8 (a message
 * cut short in the middle of a character) become '?'.  NULL only when out
 * of memory.
 */
static json_t *
ctl_string(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++) {
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	}
	j = json_string(copy);
	free(copy);
	return j;
}

static enum vm_state
ctl_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

/* How the VM ended: {"reason","status","code","message"}, NULL on ENOMEM. */
static json_t *
ctl_exit_info(struct vm *vm)
{
	char why[sizeof(vm->exit_why)];
	enum worker_exit e;
	int code, status;

	pthread_mutex_lock(&vm->lock);
	e = vm->exit;
	code = vm->exit_code;
	memcpy(why, vm->exit_why, sizeof(why));
	pthread_mutex_unlock(&vm->lock);
	why[sizeof(why) - 1] = '\0';
	if (e == WORKER_EXIT_DEBUG_EXIT)
		status = WORKER_DEBUG_EXIT_BASE + (code & 31);
	else
		status = worker_exit_status(e);
	return json_pack("{s:s, s:i, s:i, s:o}", "reason", worker_exit_word(e),
	    "status", status, "code", code, "message", ctl_string(why));
}

/*
 * Queue one message (a reference is taken from msg) for cl and try to
 * send it.  A client with more than CTL_QUEUE_MAX bytes still waiting is
 * not reading: it is dropped.  Returns 0, or a negative errno when the
 * client is gone.
 */
static int
ctl_send(struct ctl_client *cl, json_t *msg)
{
	size_t n, need;
	char *p;
	int error = 0;

	if (msg == NULL) {
		log_warnx("control: out of memory for a message");
		error = -ENOMEM;
		goto out;
	}
	if (cl->closing) {
		error = -EPIPE;
		goto out;
	}
	if (cl->outlen - cl->outoff > CTL_QUEUE_MAX) {
		log_warnx("control: client pid %d does not read; dropped",
		    (int)cl->pid);
		ctl_client_close(cl);
		error = -ENOBUFS;
		goto out;
	}
	if ((n = json_dumpb(msg, NULL, 0, JSON_COMPACT)) == 0) {
		error = -EINVAL;
		goto out;
	}
	need = cl->outlen + n + 1;
	if (need > cl->outcap && cl->outoff > 0) {
		memmove(cl->out, cl->out + cl->outoff, cl->outlen - cl->outoff);
		cl->outlen -= cl->outoff;
		cl->outoff = 0;
		need = cl->outlen + n + 1;
	}
	if (need > cl->outcap) {
		if ((p = realloc(cl->out, need + need / 2)) == NULL) {
			error = -ENOMEM;
			ctl_client_close(cl);
			goto out;
		}
		cl->out = p;
		cl->outcap = need + need / 2;
	}
	json_dumpb(msg, cl->out + cl->outlen, n, JSON_COMPACT);
	cl->out[cl->outlen + n] = '\n';
	cl->outlen += n + 1;
	error = ctl_flush(cl);
out:
	json_decref(msg);
	return error;
}

static json_t *
ctl_hello(struct control *ctl)
{
	const struct vmdef *def = ctl->vm->def;

	return json_pack("{s:s, s:s, s:i, s:s, s:i, s:s}", "event", "hello",
	    "uuid", def->uuid, "pid", (int)getpid(),
	    "state", vm_state_name(ctl_state(ctl->vm)),
	    "protocol", WORKER_PROTOCOL_VERSION, "name", def->name);
}

static json_t *
ctl_exit_event(struct vm *vm)
{
	json_t *ev, *info;

	if ((info = ctl_exit_info(vm)) == NULL)
		return NULL;
	if ((ev = json_pack("{s:s}", "event", "exit")) == NULL ||
	    json_object_update(ev, info) != 0) {
		json_decref(ev);
		ev = NULL;
	}
	json_decref(info);
	return ev;
}

/* ------------------------------------------------------------------------ */
/* Client I/O. */

static void ctl_poll_cb(uv_poll_t *h, int status, int events);

/*
 * Poll for what the client needs: input until it is done reading, and
 * writability while output waits.  A client that is done reading and has
 * nothing left to send is closed.
 */
static void
ctl_update_poll(struct ctl_client *cl)
{
	bool pending = cl->outlen > cl->outoff;
	int events = 0;

	if (cl->closing)
		return;
	if (cl->rd_done && !pending) {
		ctl_client_close(cl);
		return;
	}
	if (!cl->rd_done)
		events |= UV_READABLE;
	if (pending)
		events |= UV_WRITABLE;
	if (events == cl->events)
		return;
	if (uv_poll_start(&cl->poll, events, ctl_poll_cb) != 0) {
		ctl_client_close(cl);
		return;
	}
	cl->events = events;
}

/* Send what is queued without blocking: 0, or -errno (client closed). */
static int
ctl_flush(struct ctl_client *cl)
{
	ssize_t n;

	while (cl->outlen > cl->outoff) {
		n = write(cl->fd, cl->out + cl->outoff,
		    cl->outlen - cl->outoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			ctl_client_close(cl);
			return -EPIPE;
		}
		cl->outoff += (size_t)n;
	}
	if (cl->outoff == cl->outlen) {
		cl->outoff = cl->outlen = 0;
		/* Do not keep a large console_log reply's buffer around. */
		if (cl->outcap > 2 * CTL_WATCH_HIGH) {
			free(cl->out);
			cl->out = NULL;
			cl->outcap = 0;
		}
	}
	ctl_update_poll(cl);
	return 0;
}

/*
 * Console output for an attached client: events of at most
 * CTL_CONSOLE_CHUNK bytes, while its queue is below CTL_WATCH_HIGH (all
 * there is when !bounded), each after a "console_lost" event if it fell
 * out of the ring.
 */
static void
ctl_pull(struct ctl_client *cl, bool bounded)
{
	static uint8_t buf[CTL_CONSOLE_CHUNK];
	static char b64[B64_ENCODE_SIZE(CTL_CONSOLE_CHUNK)];
	struct console *c = cl->ctl->vm->console;
	uint64_t lost;
	size_t n;

	while (cl->attach != CTL_ATTACH_NONE && !cl->closing) {
		if (bounded && cl->outlen - cl->outoff >= CTL_WATCH_HIGH)
			break;
		n = console_read(c, &cl->watch.pos, buf, sizeof(buf), &lost);
		if (lost > 0 && ctl_send(cl, json_pack("{s:s, s:I}", "event",
		    "console_lost", "bytes", (json_int_t)lost)) != 0)
			break;
		if (n == 0)
			break;
		b64_encode(buf, n, b64);
		if (ctl_send(cl, json_pack("{s:s, s:s}", "event", "console",
		    "data", b64)) != 0)
			break;
	}
}

static void
ctl_watch_ready(struct console_watch *w)
{
	struct ctl_client *cl = (struct ctl_client *)(void *)
	    ((char *)w - offsetof(struct ctl_client, watch));

	ctl_pull(cl, true);
}

static void
ctl_detach(struct ctl_client *cl)
{
	if (cl->attach == CTL_ATTACH_NONE)
		return;
	console_unwatch(cl->ctl->vm->console, &cl->watch);
	if (cl->ctl->writer == cl)
		cl->ctl->writer = NULL;
	cl->attach = CTL_ATTACH_NONE;
}

/* The handle is closed: its memory may go. */
static void
ctl_client_closed(uv_handle_t *h)
{
	struct ctl_client *cl = h->data;

	if (cl->fd != -1)
		close(cl->fd);
	free(cl->in);
	free(cl->out);
	free(cl);
}

/*
 * Forget the client: it leaves the list at once, its memory when libuv is
 * done with the handle.  Idempotent.
 */
static void
ctl_client_close(struct ctl_client *cl)
{
	struct control *ctl = cl->ctl;

	if (cl->closing)
		return;
	cl->closing = true;
	ctl_detach(cl);
	TAILQ_REMOVE(&ctl->clients, cl, entry);
	ctl->nclients--;
	uv_close((uv_handle_t *)&cl->poll, ctl_client_closed);
	/* A descriptor is free again: accept again after EMFILE. */
	if (!ctl->accepting && ctl->fd != -1)
		ctl_accept_start(ctl);
}

/* ------------------------------------------------------------------------ */
/* Commands: each checks its arguments, acts, and fills the reply. */

static int
ctl_fail(struct ctl_req *r, enum ctl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set the error of r; returns the code's negative errno. */
static int
ctl_fail(struct ctl_req *r, enum ctl_err code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return -ctl_errs[code].errnum;
}

/*
 * Unpack the arguments with the jansson format fmt, strictly: a key the
 * command does not know or a value of the wrong type is a bad request.
 */
static int
ctl_args(struct ctl_req *r, const char *fmt, ...)
{
	json_error_t jerr;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = json_vunpack_ex(r->args, &jerr, JSON_STRICT, fmt, ap);
	va_end(ap);
	if (rc != 0)
		return ctl_fail(r, CTL_E_BAD_REQUEST, "%s: %s", r->cmd,
		    jerr.text);
	return 0;
}

/* Add key: v (its reference is taken) to the reply.  0 or -ENOMEM. */
static int
ctl_set(struct ctl_req *r, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(r->reply, key, v) != 0)
		return ctl_fail(r, CTL_E_INTERNAL, "out of memory");
	return 0;
}

/* Add every member of o (its reference is taken) to the reply. */
static int
ctl_merge(struct ctl_req *r, json_t *o)
{
	int error = 0;

	if (o == NULL || json_object_update(r->reply, o) != 0)
		error = ctl_fail(r, CTL_E_INTERNAL, "out of memory");
	json_decref(o);
	return error;
}

static int
ctl_cmd_status(struct ctl_req *r)
{
	struct vm *vm = r->vm;
	const struct vmdef *def = vm->def;
	enum vm_state s;
	int64_t up = 0;
	int error;

	if ((error = ctl_args(r, "{}")) != 0)
		return error;
	s = ctl_state(vm);
	if (vm->started_ns != 0)
		up = (vm_now_ns() - vm->started_ns) / 1000000;
	error = ctl_merge(r, json_pack("{s:s, s:s, s:i, s:s, s:I, s:i, s:I}",
	    "name", def->name, "uuid", def->uuid, "pid", (int)getpid(),
	    "state", vm_state_name(s), "uptime_ms", (json_int_t)up,
	    "vcpus", (int)def->vcpus,
	    "memory_mib", (json_int_t)def->memory_mib));
	if (error == 0 && s == VM_STATE_EXITED)
		error = ctl_set(r, "exit", ctl_exit_info(vm));
	return error;
}

/* One vcpu's state and exit counters, NULL when out of memory. */
static json_t *
ctl_vcpu_stats(struct vcpu *vcpu)
{
	json_t *exits;
	unsigned int i, st;
	uint64_t v;

	if ((exits = json_object()) == NULL)
		return NULL;
	for (i = 0; i < VCPU_STAT_COUNT; i++) {
		v = atomic_load_explicit(&vcpu->stats[i],
		    memory_order_relaxed);
		if (json_object_set_new(exits, ctl_stat_words[i],
		    json_integer((json_int_t)v)) != 0) {
			json_decref(exits);
			return NULL;
		}
	}
	st = (unsigned int)atomic_load(&vcpu->state);
	return json_pack("{s:i, s:s, s:o}", "id", (int)vcpu->id, "state",
	    st < sizeof(ctl_vcpu_states) / sizeof(ctl_vcpu_states[0]) ?
	    ctl_vcpu_states[st] : "unknown", "exits", exits);
}

static int
ctl_cmd_stats(struct ctl_req *r)
{
	struct vm *vm = r->vm;
	struct console_stats cs;
	json_t *vcpus;
	unsigned int i;
	int error;

	if ((error = ctl_args(r, "{}")) != 0)
		return error;
	if ((vcpus = json_array()) == NULL)
		return ctl_fail(r, CTL_E_INTERNAL, "out of memory");
	for (i = 0; i < vm->nvcpus; i++) {
		if (json_array_append_new(vcpus,
		    ctl_vcpu_stats(&vm->vcpus[i])) != 0) {
			json_decref(vcpus);
			return ctl_fail(r, CTL_E_INTERNAL, "out of memory");
		}
	}
	if ((error = ctl_set(r, "vcpus", vcpus)) != 0 ||
	    (error = ctl_set(r, "ram_bytes",
	    json_integer((json_int_t)vm->ram_total))) != 0)
		return error;
	if (vm->console == NULL)
		return 0;
	console_get_stats(vm->console, &cs);
	return ctl_set(r, "console", json_pack("{s:I, s:I, s:I}",
	    "bytes", (json_int_t)cs.total,
	    "dropped", (json_int_t)cs.out_dropped,
	    "scrollback", (json_int_t)cs.scrollback));
}

static int
ctl_cmd_stop(struct ctl_req *r)
{
	json_int_t timeout = (json_int_t)r->vm->def->shutdown_timeout * 1000;
	int force = 0, error;

	if ((error = ctl_args(r, "{s?b, s?I}", "force", &force,
	    "timeout_ms", &timeout)) != 0)
		return error;
	if (timeout < 0 || timeout > CTL_TIMEOUT_MAX_MS)
		return ctl_fail(r, CTL_E_BAD_REQUEST, "stop: timeout_ms must "
		    "be between 0 and %lld", (long long)CTL_TIMEOUT_MAX_MS);
	if (vm_stop(r->vm, force != 0, (unsigned int)timeout) != 0)
		return ctl_fail(r, CTL_E_BAD_STATE, "cannot stop: the VM is %s",
		    vm_state_name(ctl_state(r->vm)));
	return ctl_set(r, "state", json_string(vm_state_name(
	    ctl_state(r->vm))));
}

/* pause and resume: op, which says -EBUSY in the wrong state. */
static int
ctl_run_op(struct ctl_req *r, int (*op)(struct vm *))
{
	int error;

	if ((error = ctl_args(r, "{}")) != 0)
		return error;
	if (op(r->vm) != 0)
		return ctl_fail(r, CTL_E_BAD_STATE, "cannot %s: the VM is %s",
		    r->cmd, vm_state_name(ctl_state(r->vm)));
	return ctl_set(r, "state", json_string(vm_state_name(
	    ctl_state(r->vm))));
}

static int
ctl_cmd_pause(struct ctl_req *r)
{
	return ctl_run_op(r, vm_pause);
}

static int
ctl_cmd_resume(struct ctl_req *r)
{
	return ctl_run_op(r, vm_resume);
}

static int
ctl_cmd_reset(struct ctl_req *r)
{
	enum vm_state s;
	int error;

	if ((error = ctl_args(r, "{}")) != 0)
		return error;
	s = ctl_state(r->vm);
	if (s == VM_STATE_SETUP || s == VM_STATE_EXITED)
		return ctl_fail(r, CTL_E_BAD_STATE, "cannot reset: the VM is "
		    "%s", vm_state_name(s));
	vm_request_reset(r->vm);
	return ctl_set(r, "state", json_string(vm_state_name(
	    ctl_state(r->vm))));
}

/*
 * Watch the console, or write to it as well (one writer at a time).
 * Attaching again changes the mode; replay starts over from the oldest
 * byte of the scrollback.  The output follows the reply.
 */
static int
ctl_cmd_console_attach(struct ctl_req *r)
{
	struct ctl_client *cl = r->cl;
	struct control *ctl = cl->ctl;
	struct console *c = r->vm->console;
	const char *mode = "watch";
	enum ctl_attach a;
	int replay = 0, error;

	if ((error = ctl_args(r, "{s?s, s?b}", "mode", &mode,
	    "replay", &replay)) != 0)
		return error;
	if (strcmp(mode, "watch") == 0)
		a = CTL_ATTACH_WATCH;
	else if (strcmp(mode, "write") == 0)
		a = CTL_ATTACH_WRITE;
	else
		return ctl_fail(r, CTL_E_BAD_REQUEST, "console_attach: mode "
		    "must be \"watch\" or \"write\"");
	if (a == CTL_ATTACH_WRITE && ctl->writer != NULL && ctl->writer != cl)
		return ctl_fail(r, CTL_E_BUSY, "another client (pid %d) is "
		    "the console writer", (int)ctl->writer->pid);
	if (cl->attach != CTL_ATTACH_NONE && replay)
		console_unwatch(c, &cl->watch);
	if (cl->attach == CTL_ATTACH_NONE || replay)
		console_watch(c, &cl->watch, replay != 0);
	cl->attach = a;
	if (a == CTL_ATTACH_WRITE)
		ctl->writer = cl;
	else if (ctl->writer == cl)
		ctl->writer = NULL;
	return ctl_set(r, "mode", json_string(mode));
}

static int
ctl_cmd_console_input(struct ctl_req *r)
{
	const char *data;
	uint8_t *buf;
	size_t len;
	ssize_t n;
	int error;

	if ((error = ctl_args(r, "{s:s%}", "data", &data, &len)) != 0)
		return error;
	if (r->cl->ctl->writer != r->cl)
		return ctl_fail(r, CTL_E_NOT_WRITER, "console_input needs "
		    "console_attach with mode \"write\"");
	if ((buf = malloc(B64_DECODE_MAX(len) + 1)) == NULL)
		return ctl_fail(r, CTL_E_INTERNAL, "out of memory");
	if ((n = b64_decode(data, len, buf)) < 0)
		error = ctl_fail(r, CTL_E_BAD_REQUEST, "console_input: data is "
		    "not valid base64");
	else if (console_input(r->vm->console, buf, (size_t)n) != 0)
		error = ctl_fail(r, CTL_E_NO_CONSOLE, "the VM has no console "
		    "input device");
	else
		error = ctl_set(r, "bytes", json_integer(n));
	free(buf);
	return error;
}

static int
ctl_cmd_console_log(struct ctl_req *r)
{
	struct console *c = r->vm->console;
	struct console_stats cs;
	json_int_t want;
	uint8_t *buf = NULL;
	char *b64 = NULL;
	uint64_t end;
	size_t n;
	int error;

	console_get_stats(c, &cs);
	want = (json_int_t)cs.scrollback;
	if ((error = ctl_args(r, "{s?I}", "bytes", &want)) != 0)
		return error;
	if (want < 0)
		return ctl_fail(r, CTL_E_BAD_REQUEST, "console_log: bytes must "
		    "not be negative");
	n = (uint64_t)want < cs.scrollback ? (size_t)want : cs.scrollback;
	if ((buf = malloc(n + 1)) == NULL ||
	    (b64 = malloc(B64_ENCODE_SIZE(n))) == NULL) {
		error = ctl_fail(r, CTL_E_INTERNAL, "out of memory");
		goto out;
	}
	n = console_scrollback(c, buf, n, &end);
	b64_encode(buf, n, b64);
	if ((error = ctl_set(r, "data", json_string(b64))) == 0 &&
	    (error = ctl_set(r, "bytes", json_integer((json_int_t)n))) == 0)
		error = ctl_set(r, "total", json_integer((json_int_t)end));
out:
	free(b64);
	free(buf);
	return error;
}

static int
ctl_cmd_detach(struct ctl_req *r)
{
	int error;

	if ((error = ctl_args(r, "{}")) != 0)
		return error;
	ctl_detach(r->cl);
	return 0;
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "status",		ctl_cmd_status,		0 },
	{ "stats",		ctl_cmd_stats,		0 },
	{ "stop",		ctl_cmd_stop,		0 },
	{ "pause",		ctl_cmd_pause,		0 },
	{ "resume",		ctl_cmd_resume,		0 },
	{ "reset",		ctl_cmd_reset,		0 },
	{ "console_attach",	ctl_cmd_console_attach,	CTL_NEED_CONSOLE },
	{ "console_input",	ctl_cmd_console_input,	CTL_NEED_CONSOLE },
	{ "console_log",	ctl_cmd_console_log,	CTL_NEED_CONSOLE },
	{ "detach",		ctl_cmd_detach,		CTL_NEED_CONSOLE },
};

/* The command named by the JSON string s (which may hold NULs), or NULL. */
static const struct ctl_cmd *
ctl_cmd_find(const json_t *s)
{
	const char *name = json_string_value(s);
	size_t i, len = json_string_length(s);

	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strlen(ctl_cmds[i].name) == len &&
		    memcmp(ctl_cmds[i].name, name, len) == 0)
			return &ctl_cmds[i];
	}
	return NULL;
}

/* {"id": id (if any), "ok": ok}, NULL when out of memory. */
static json_t *
ctl_reply_head(json_t *id, bool ok)
{
	json_t *m;

	if ((m = json_object()) == NULL)
		return NULL;
	if ((id != NULL && json_object_set(m, "id", id) != 0) ||
	    json_object_set_new(m, "ok", json_boolean(ok)) != 0) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static void
ctl_reply(struct ctl_client *cl, json_t *id, struct ctl_req *r, int error)
{
	json_t *m, *e;

	if ((m = ctl_reply_head(id, error == 0)) == NULL)
		goto send;
	if (error == 0) {
		if (r->reply != NULL && json_object_update(m, r->reply) != 0)
			goto fail;
		goto send;
	}
	e = json_pack("{s:s, s:o}", "code", ctl_errs[r->code].word,
	    "message", ctl_string(r->msg));
	if (json_object_set_new(m, "error", e) != 0)
		goto fail;
	goto send;
fail:
	json_decref(m);
	m = NULL;
send:
	(void)ctl_send(cl, m);
}

/*
 * Handle one request line: decode, check, dispatch, and send exactly one
 * reply.  The id is echoed when it is a string or an integer.
 */
static void
ctl_request(struct ctl_client *cl, const char *line, size_t len)
{
	const struct ctl_cmd *cmd;
	struct ctl_req r;
	json_error_t jerr;
	json_t *req, *id = NULL, *name;
	int error;

	memset(&r, 0, sizeof(r));
	r.cl = cl;
	r.vm = cl->ctl->vm;
	if ((req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		error = ctl_fail(&r, CTL_E_BAD_JSON, "invalid JSON: %s",
		    jerr.text);
		goto reply;
	}
	if (!json_is_object(req)) {
		error = ctl_fail(&r, CTL_E_BAD_REQUEST, "a request must be a "
		    "JSON object");
		goto reply;
	}
	id = json_object_get(req, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
		id = NULL;
		error = ctl_fail(&r, CTL_E_BAD_REQUEST, "\"id\" must be a "
		    "string or an integer");
		goto reply;
	}
	name = json_object_get(req, "cmd");
	if (!json_is_string(name)) {
		error = ctl_fail(&r, CTL_E_BAD_REQUEST, "\"cmd\" must be a "
		    "string");
		goto reply;
	}
	r.cmd = json_string_value(name);
	if ((cmd = ctl_cmd_find(name)) == NULL) {
		error = ctl_fail(&r, CTL_E_UNKNOWN_COMMAND, "unknown command "
		    "\"%s\"", r.cmd);
		goto reply;
	}
	if ((cmd->flags & CTL_NEED_CONSOLE) && r.vm->console == NULL) {
		error = ctl_fail(&r, CTL_E_NO_CONSOLE, "the VM has no console");
		goto reply;
	}
	if ((r.args = json_copy(req)) == NULL ||
	    (r.reply = json_object()) == NULL) {
		error = ctl_fail(&r, CTL_E_INTERNAL, "out of memory");
		goto reply;
	}
	json_object_del(r.args, "cmd");
	json_object_del(r.args, "id");
	error = cmd->fn(&r);
reply:
	ctl_reply(cl, id, &r, error);
	json_decref(r.reply);
	json_decref(r.args);
	json_decref(req);
	ctl_pull(cl, true);
}

/* One complete line (without its newline); blank lines are ignored. */
static void
ctl_line(struct ctl_client *cl, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > 0)
		ctl_request(cl, line, len);
}

/* Keep a partial line: 0 or -ENOMEM (the caller knows it fits). */
static int
ctl_keep(struct ctl_client *cl, const char *p, size_t len)
{
	size_t need = cl->inlen + len;
	char *n;

	if (need > cl->incap) {
		need = need < 4096 ? 4096 : need + need / 2;
		if (need > CTL_LINE_MAX)
			need = CTL_LINE_MAX;
		if ((n = realloc(cl->in, need)) == NULL)
			return -ENOMEM;
		cl->in = n;
		cl->incap = need;
	}
	memcpy(cl->in + cl->inlen, p, len);
	cl->inlen += len;
	return 0;
}

/* A line over the limit: say so, read no more, close once that is out. */
static void
ctl_too_long(struct ctl_client *cl)
{
	struct ctl_req r;

	memset(&r, 0, sizeof(r));
	cl->rd_done = true;
	cl->inlen = 0;
	ctl_reply(cl, NULL, &r, ctl_fail(&r, CTL_E_LINE_TOO_LONG,
	    "request line longer than %d bytes", CTL_LINE_MAX));
}

/* Split input into lines and handle each. */
static void
ctl_input(struct ctl_client *cl, const char *p, size_t len)
{
	const char *nl;
	size_t seg;

	while (len > 0 && !cl->rd_done && !cl->closing) {
		nl = memchr(p, '\n', len);
		seg = nl != NULL ? (size_t)(nl - p) : len;
		if (cl->inlen + seg > CTL_LINE_MAX) {
			ctl_too_long(cl);
			return;
		}
		if (nl == NULL || cl->inlen > 0) {
			if (ctl_keep(cl, p, seg) != 0) {
				ctl_client_close(cl);
				return;
			}
		}
		if (nl == NULL)
			return;
		if (cl->inlen > 0) {
			ctl_line(cl, cl->in, cl->inlen);
			cl->inlen = 0;
		} else
			ctl_line(cl, p, seg);
		p += seg + 1;
		len -= seg + 1;
	}
}

static void
ctl_read(struct ctl_client *cl)
{
	char buf[CTL_READ_CHUNK];
	ssize_t n;

	n = read(cl->fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n == -1) {
		ctl_client_close(cl);
		return;
	}
	if (n > 0) {
		ctl_input(cl, buf, (size_t)n);
		return;
	}
	/* End of input: a last line without its newline still counts. */
	cl->rd_done = true;
	if (cl->inlen > 0) {
		ctl_line(cl, cl->in, cl->inlen);
		cl->inlen = 0;
	}
}

static void
ctl_poll_cb(uv_poll_t *h, int status, int events)
{
	struct ctl_client *cl = h->data;

	if (status < 0) {
		ctl_client_close(cl);
		return;
	}
	if ((events & UV_WRITABLE) && !cl->closing) {
		if (ctl_flush(cl) != 0)
			return;
		ctl_pull(cl, true);
	}
	if ((events & UV_READABLE) && !cl->closing && !cl->rd_done)
		ctl_read(cl);
	ctl_update_poll(cl);
}

/* ------------------------------------------------------------------------ */
/* Connections. */

/* Best effort: one error line to a connection we do not take, closed. */
static void
ctl_refuse(int fd, enum ctl_err code, const char *msg)
{
	json_t *m;
	char *s;

	m = ctl_reply_head(NULL, false);
	if (m != NULL && json_object_set_new(m, "error", json_pack("{s:s, s:s}",
	    "code", ctl_errs[code].word, "message", msg)) == 0 &&
	    (s = json_dumps(m, JSON_COMPACT)) != NULL) {
		(void)!write(fd, s, strlen(s));
		(void)!write(fd, "\n", 1);
		free(s);
	}
	json_decref(m);
	close(fd);
}

/*
 * Peers allowed: root and the user that created the socket (the file's
 * mode says the same; this holds even if someone loosens it).
 */
static bool
ctl_peer_ok(const struct control *ctl, uid_t uid)
{
	return uid == 0 || uid == ctl->owner;
}

/*
 * At the limit: forget the clients that have closed their end although
 * we have not read their end of file yet (a client that leaves just
 * before another connects), so that their places are free now.
 */
static void
ctl_reap_gone(struct control *ctl)
{
	struct ctl_client *cls[CTL_CLIENTS_MAX], *cl;
	struct pollfd pfd[CTL_CLIENTS_MAX];
	unsigned int i, n = 0;

	TAILQ_FOREACH(cl, &ctl->clients, entry) {
		if (n == CTL_CLIENTS_MAX)
			break;
		/* POLLHUP comes unasked: both directions are shut. */
		pfd[n].fd = cl->fd;
		pfd[n].events = 0;
		pfd[n].revents = 0;
		cls[n++] = cl;
	}
	if (poll(pfd, n, 0) <= 0)
		return;
	for (i = 0; i < n; i++) {
		if (pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL))
			ctl_client_close(cls[i]);
	}
}

static void
ctl_client_new(struct control *ctl, int fd)
{
	struct ctl_client *cl;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1) {
		log_warn("control: peer credentials");
		close(fd);
		return;
	}
	if (!ctl_peer_ok(ctl, cr.uid)) {
		log_warnx("control: refused pid %d of uid %u", (int)cr.pid,
		    (unsigned int)cr.uid);
		ctl_refuse(fd, CTL_E_PERMISSION_DENIED, "not allowed to "
		    "control this VM");
		return;
	}
	if (ctl->nclients >= CTL_CLIENTS_MAX)
		ctl_reap_gone(ctl);
	if (ctl->nclients >= CTL_CLIENTS_MAX) {
		log_warnx("control: refused pid %d: %d clients already",
		    (int)cr.pid, CTL_CLIENTS_MAX);
		ctl_refuse(fd, CTL_E_TOO_MANY_CLIENTS, "too many control "
		    "clients");
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL ||
	    uv_poll_init(vm_loop(ctl->vm), &cl->poll, fd) != 0) {
		log_warnx("control: cannot take a client");
		free(cl);
		close(fd);
		return;
	}
	cl->poll.data = cl;
	cl->ctl = ctl;
	cl->fd = fd;
	cl->pid = cr.pid;
	cl->uid = cr.uid;
	cl->watch.ready = ctl_watch_ready;
	TAILQ_INSERT_TAIL(&ctl->clients, cl, entry);
	ctl->nclients++;
	log_debug("control: client pid %d connected", (int)cr.pid);
	if (ctl_send(cl, ctl_hello(ctl)) == 0 && ctl->final)
		(void)ctl_send(cl, ctl_exit_event(ctl->vm));
	ctl_update_poll(cl);
}

static void
ctl_accept_stop(struct control *ctl)
{
	uv_poll_stop(&ctl->server);
	ctl->accepting = false;
}

static void
ctl_accept_cb(uv_poll_t *h, int status, int events)
{
	struct control *ctl = h->data;
	int i, fd;

	for (i = 0; i < CTL_ACCEPT_BURST; i++) {
		fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			ctl_client_new(ctl, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		log_warn("control: accept");
		/* Out of descriptors: wait for a client to close one. */
		if (errno == EMFILE || errno == ENFILE)
			ctl_accept_stop(ctl);
		return;
	}
}

static void
ctl_accept_start(struct control *ctl)
{
	if (uv_poll_start(&ctl->server, UV_READABLE, ctl_accept_cb) == 0)
		ctl->accepting = true;
}

/* ------------------------------------------------------------------------ */
/* The socket file. */

/* mkdir -p path (mode 0755 for what it creates). */
static int
ctl_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

/* rundir and rundir/vm (0700 when we create it), a real directory. */
static int
ctl_make_dir(const char *rundir, char *dir, size_t len)
{
	struct stat st;
	int error;

	if ((size_t)snprintf(dir, len, "%s/vm", rundir) >= len)
		return -ENAMETOOLONG;
	if ((error = ctl_mkdirs(rundir)) != 0) {
		log_warnx("control: cannot create %s: %s", rundir,
		    strerror(-error));
		return error;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		error = -errno;
		log_warn("control: cannot create %s", dir);
		return error;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("control: %s is not a directory", dir);
		return -ENOTDIR;
	}
	return 0;
}

/*
 * Make way for our socket at path: nothing there is fine; a socket nobody
 * answers on is a dead worker's and is removed; a socket that answers
 * belongs to a live worker of the same VM, and we refuse to start.
 */
static int
ctl_claim(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int s, rc, error;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("control: %s exists and is not a socket", path);
		return -EEXIST;
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -errno;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rc = connect(s, (struct sockaddr *)&sun, sizeof(sun));
	error = rc == 0 ? 0 : errno;
	close(s);
	/* EAGAIN: a full backlog, someone listens. */
	if (error == 0 || error == EAGAIN || error == EINPROGRESS) {
		log_warnx("control: %s: another worker of this VM is running "
		    "(its control socket answers)", path);
		return -EADDRINUSE;
	}
	if (error != ECONNREFUSED)
		return error == ENOENT ? 0 : -error;
	if (unlink(path) == -1 && errno != ENOENT) {
		error = -errno;
		log_warn("control: cannot remove the stale socket %s", path);
		return error;
	}
	log_info("control: removed the stale socket %s", path);
	return 0;
}

/* Bind and listen on ctl->path, mode 0600 from the start. */
static int
ctl_bind(struct control *ctl)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t omask;
	int fd, error;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -errno;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, ctl->path, strlen(ctl->path) + 1);
	/* Setup is single-threaded: the umask change is ours alone. */
	omask = umask(0177);
	error = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ?
	    -errno : 0;
	umask(omask);
	if (error != 0) {
		log_warnx("control: bind %s: %s", ctl->path, strerror(-error));
		goto fail;
	}
	if (stat(ctl->path, &st) == -1 || listen(fd, CTL_BACKLOG) == -1) {
		error = -errno;
		log_warn("control: listen %s", ctl->path);
		unlink(ctl->path);
		goto fail;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->fd = fd;
	return 0;

fail:
	close(fd);
	return error;
}

int
control_create(struct vm *vm, const char *rundir)
{
	struct control *ctl;
	char dir[PATH_MAX];
	int error;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return -ENOMEM;
	ctl->vm = vm;
	ctl->fd = -1;
	ctl->owner = geteuid();
	TAILQ_INIT(&ctl->clients);
	if ((error = ctl_make_dir(rundir, dir, sizeof(dir))) != 0)
		goto fail;
	if ((size_t)snprintf(ctl->path, sizeof(ctl->path), "%s/%s.sock", dir,
	    vm->def->uuid) >= sizeof(ctl->path)) {
		log_warnx("control: %s/%s.sock: longer than a socket path can "
		    "be (%zu bytes)", dir, vm->def->uuid,
		    sizeof(ctl->path) - 1);
		error = -ENAMETOOLONG;
		goto fail;
	}
	if ((error = ctl_claim(ctl->path)) != 0 ||
	    (error = ctl_bind(ctl)) != 0)
		goto fail;
	if ((error = uv_poll_init(vm_loop(vm), &ctl->server, ctl->fd)) != 0)
		goto fail_poll;
	ctl->server.data = ctl;
	ctl_accept_start(ctl);
	if (!ctl->accepting) {
		error = -EINVAL;
		goto fail_start;
	}
	vm->control = ctl;
	return 0;

fail_start:
	/* The handle is the loop's now: ctl goes with its close callback. */
	uv_close((uv_handle_t *)&ctl->server, ctl_server_closed);
	close(ctl->fd);
	unlink(ctl->path);
	return error;
fail_poll:
	close(ctl->fd);
	unlink(ctl->path);
fail:
	free(ctl);
	return error;
}

/* ------------------------------------------------------------------------ */
/* The end. */

/* Wait (at most CTL_FINAL_MS in all) until every client has its output. */
static void
ctl_final_flush(struct control *ctl)
{
	struct ctl_client *cls[CTL_CLIENTS_MAX], *cl;
	struct pollfd pfd[CTL_CLIENTS_MAX];
	int64_t deadline, left;
	unsigned int i, n;

	deadline = vm_now_ns() + (int64_t)CTL_FINAL_MS * 1000000;
	for (;;) {
		n = 0;
		TAILQ_FOREACH(cl, &ctl->clients, entry) {
			if (cl->outlen == cl->outoff || n == CTL_CLIENTS_MAX)
				continue;
			pfd[n].fd = cl->fd;
			pfd[n].events = POLLOUT;
			pfd[n].revents = 0;
			cls[n++] = cl;
		}
		left = (deadline - vm_now_ns()) / 1000000;
		if (n == 0 || left <= 0)
			return;
		if (poll(pfd, n, (int)left) == -1 && errno != EINTR)
			return;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents != 0 && !cls[i]->closing)
				(void)ctl_flush(cls[i]);
		}
	}
}

void
control_final(struct vm *vm)
{
	struct control *ctl = vm->control;
	struct ctl_client *cl, *next;
	json_t *ev;

	if (ctl == NULL || ctl->final)
		return;
	ctl->final = true;
	ev = ctl_exit_event(vm);
	for (cl = TAILQ_FIRST(&ctl->clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		/* The guest's last words first, all of them. */
		ctl_pull(cl, false);
		if (!cl->closing)
			(void)ctl_send(cl, json_incref(ev));
	}
	json_decref(ev);
	ctl_final_flush(ctl);
}

static void
ctl_server_closed(uv_handle_t *h)
{
	free(h->data);
}

/*
 * Close every connection and the socket, and remove the socket file if it
 * is still ours.  The memory goes with the handles' close callbacks, on
 * the loop's next run, if any.
 */
void
control_destroy(struct vm *vm)
{
	struct control *ctl = vm->control;
	struct ctl_client *cl;
	struct stat st;

	if (ctl == NULL)
		return;
	vm->control = NULL;
	/*
	 * While we still listen, no other worker can have claimed the path
	 * (ctl_claim would have found us alive); the inode check covers a
	 * file replaced by hand.  Under the sandbox, as another user, this
	 * may fail: the next worker removes the stale socket.
	 */
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		(void)unlink(ctl->path);
	uv_close((uv_handle_t *)&ctl->server, ctl_server_closed);
	close(ctl->fd);
	ctl->fd = -1;
	while ((cl = TAILQ_FIRST(&ctl->clients)) != NULL) {
		ctl_client_close(cl);
		close(cl->fd);
		cl->fd = -1;
	}
}
