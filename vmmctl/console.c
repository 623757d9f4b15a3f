/*
 * console.c: a VM's serial console from vmmctl: attached (raw terminal,
 * typed bytes to the guest, "~." to leave, like ssh and cu), watched
 * (read only: the scrollback, then live output) and the scrollback alone
 * (logs).  Output bytes go to standard output untouched.  The terminal is
 * restored on every way out, signals included.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "base64.h"
#include "client.h"
#include "vmmctl.h"

#define CONSOLE_INPUT_MAX	4096	/* bytes per vm.console input */
#define CONSOLE_INFLIGHT_MAX	8	/* input requests not yet answered */

/*
 * The escape machine, one row per state, one column per kind of byte.
 */
enum console_class {
	CONSOLE_C_TILDE,
	CONSOLE_C_DOT,
	CONSOLE_C_EOL,		/* CR or LF: the next byte starts a line */
	CONSOLE_C_OTHER,
	CONSOLE_C_COUNT
};

enum console_action {
	CONSOLE_A_SEND,		/* the byte */
	CONSOLE_A_HOLD,		/* nothing yet */
	CONSOLE_A_BOTH,		/* the held "~", then the byte */
	CONSOLE_A_QUIT,		/* disconnect */
};

static const struct {
	enum console_action action;
	enum console_esc_state next;
} console_esc_table[][CONSOLE_C_COUNT] = {
	[CONSOLE_ESC_BOL] = {
		[CONSOLE_C_TILDE] = { CONSOLE_A_HOLD, CONSOLE_ESC_TILDE },
		[CONSOLE_C_DOT] = { CONSOLE_A_SEND, CONSOLE_ESC_MID },
		[CONSOLE_C_EOL] = { CONSOLE_A_SEND, CONSOLE_ESC_BOL },
		[CONSOLE_C_OTHER] = { CONSOLE_A_SEND, CONSOLE_ESC_MID },
	},
	[CONSOLE_ESC_MID] = {
		[CONSOLE_C_TILDE] = { CONSOLE_A_SEND, CONSOLE_ESC_MID },
		[CONSOLE_C_DOT] = { CONSOLE_A_SEND, CONSOLE_ESC_MID },
		[CONSOLE_C_EOL] = { CONSOLE_A_SEND, CONSOLE_ESC_BOL },
		[CONSOLE_C_OTHER] = { CONSOLE_A_SEND, CONSOLE_ESC_MID },
	},
	[CONSOLE_ESC_TILDE] = {
		/* "~~" sends one "~". */
		[CONSOLE_C_TILDE] = { CONSOLE_A_SEND, CONSOLE_ESC_MID },
		[CONSOLE_C_DOT] = { CONSOLE_A_QUIT, CONSOLE_ESC_BOL },
		[CONSOLE_C_EOL] = { CONSOLE_A_BOTH, CONSOLE_ESC_BOL },
		[CONSOLE_C_OTHER] = { CONSOLE_A_BOTH, CONSOLE_ESC_MID },
	},
};

static enum console_class
console_class(uint8_t c)
{
	if (c == '~')
		return CONSOLE_C_TILDE;
	if (c == '.')
		return CONSOLE_C_DOT;
	if (c == '\r' || c == '\n')
		return CONSOLE_C_EOL;
	return CONSOLE_C_OTHER;
}

size_t
console_esc_feed(struct console_esc *e, const uint8_t *in, size_t n,
    uint8_t *out, bool *quit)
{
	enum console_action a;
	size_t i, o = 0;

	*quit = false;
	for (i = 0; i < n; i++) {
		a = console_esc_table[e->state][console_class(in[i])].action;
		e->state = console_esc_table[e->state][console_class(in[i])].next;
		if (a == CONSOLE_A_QUIT) {
			*quit = true;
			break;
		}
		if (a == CONSOLE_A_BOTH)
			out[o++] = '~';
		if (a != CONSOLE_A_HOLD)
			out[o++] = in[i];
	}
	return o;
}

/*
 * The terminal and the signals.  A signal only writes its number into a
 * pipe the loop polls, so the loop restores the terminal itself.
 */

static int console_sigpipe[2] = { -1, -1 };
static struct termios console_saved;
static bool console_raw_on;

static const int console_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void
console_on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	(void)!write(console_sigpipe[1], &b, 1);
	errno = saved;
}

static int
console_signals_init(void)
{
	struct sigaction sa;
	size_t i;

	if (pipe2(console_sigpipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = console_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(console_signals) / sizeof(*console_signals);
	    i++)
		sigaction(console_signals[i], &sa, NULL);
	/* A closed standard output is an error to handle, not a death. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
console_raw(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &console_saved) == -1)
		return;
	t = console_saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0)
		console_raw_on = true;
}

static void
console_restore(void)
{
	if (console_raw_on)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &console_saved);
	console_raw_on = false;
}

/* After the terminal is restored: die of sig as if never caught. */
static int
console_die(int sig)
{
	signal(sig, SIG_DFL);
	raise(sig);
	return 128 + sig;
}

/*
 * A session.
 */

struct console {
	struct ctl *ctl;
	const char *name;
	bool input;		/* stdin goes to the guest */
	bool escapes;		/* stdin is a terminal: "~." works */
	bool stdin_open;
	struct console_esc esc;
	unsigned int inflight;	/* input requests not yet answered */
	/* Why the loop ends; the first one wins. */
	bool ended, quit;
	int sig;		/* a signal */
	int err;		/* the connection broke: -errno */
	int out_err;		/* standard output failed: errno */
	json_t *error;		/* an input request's error answer */
	char reason[128];	/* console.end's */
	/*
	 * Notifications that come before the answer to the first request
	 * are kept and handled after it: the scrollback comes first, and the
	 * terminal is set up before the first byte.
	 */
	json_t *held;		/* [[method, params], ...], or NULL */
	bool was_raw;		/* the session had the terminal raw */
};

static bool
console_done(const struct console *c)
{
	return c->ended || c->quit || c->sig != 0 || c->err != 0 ||
	    c->out_err != 0 || c->error != NULL;
}

/* A line of our own on stderr, mid-session: CR LF in a raw terminal. */
static void
console_note(const char *text)
{
	fprintf(stderr, "%s%s%s", console_raw_on ? "\r\n" : "", text,
	    console_raw_on ? "\r\n" : "\n");
}

/* All of buf to standard output. */
static void
console_write(struct console *c, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0 && c->out_err == 0) {
		n = write(STDOUT_FILENO, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			c->out_err = errno;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Decode base64 text and write it out; -EPROTO when it is not base64. */
static int
console_write_b64(struct console *c, const json_t *text)
{
	size_t len = json_string_length(text);
	uint8_t *buf;
	ssize_t n;

	if (!json_is_string(text))
		return -EPROTO;
	if ((buf = malloc(B64_DECODE_MAX(len) + 1)) == NULL)
		return -ENOMEM;
	n = b64_decode(json_string_value(text), len, buf);
	if (n >= 0)
		console_write(c, buf, (size_t)n);
	free(buf);
	return n < 0 ? -EPROTO : 0;
}

static void
console_on_data(struct console *c, const json_t *params)
{
	int rc;

	if ((rc = console_write_b64(c, json_object_get(params, "data"))) != 0)
		c->err = rc;
}

static void
console_on_lost(struct console *c, const json_t *params)
{
	char text[80];

	snprintf(text, sizeof(text), "[vmmctl: %" JSON_INTEGER_FORMAT
	    " bytes of console output lost]",
	    json_integer_value(json_object_get(params, "bytes")));
	console_note(text);
}

static void
console_on_end(struct console *c, const json_t *params)
{
	const char *reason;

	reason = json_string_value(json_object_get(params, "reason"));
	snprintf(c->reason, sizeof(c->reason), "%s", reason ?: "unknown");
	c->ended = true;
}

static const struct {
	const char *method;
	void (*fn)(struct console *, const json_t *);
} console_notifications[] = {
	{ "console.data", console_on_data },
	{ "console.lost", console_on_lost },
	{ "console.end", console_on_end },
};

static void
console_notify(void *arg, const char *method, const json_t *params)
{
	struct console *c = arg;
	const char *name;
	size_t i;

	if (c->held != NULL) {
		if (json_array_append_new(c->held, json_pack("[sO?]", method,
		    (json_t *)(uintptr_t)params)) != 0)
			c->err = -ENOMEM;
		return;
	}
	name = json_string_value(json_object_get(params, "name"));
	if (name == NULL || strcmp(name, c->name) != 0)
		return;
	for (i = 0; i < sizeof(console_notifications) /
	    sizeof(*console_notifications); i++)
		if (strcmp(method, console_notifications[i].method) == 0)
			console_notifications[i].fn(c, params);
}

/* Handle the notifications held until now, and hold no more. */
static void
console_release(struct console *c)
{
	json_t *held = c->held, *n;
	size_t i;

	c->held = NULL;
	json_array_foreach(held, i, n)
		console_notify(c, json_string_value(json_array_get(n, 0)),
		    json_array_get(n, 1));
	json_decref(held);
}

/* The answer to an input request. */
static void
console_response(void *arg, json_int_t id, const json_t *result,
    const json_t *error)
{
	struct console *c = arg;

	if (c->inflight > 0)
		c->inflight--;
	if (error != NULL && c->error == NULL)
		c->error = json_incref((json_t *)(uintptr_t)error);
}

/* Send n bytes to the guest. */
static int
console_send(struct console *c, const uint8_t *buf, size_t n)
{
	char b64[B64_ENCODE_SIZE(CONSOLE_INPUT_MAX)];
	json_t *params;
	int rc;

	b64_encode(buf, n, b64);
	params = json_pack("{s:s,s:s}", "name", c->name, "input", b64);
	if (params == NULL)
		return -ENOMEM;
	if ((rc = client_send(&c->ctl->cl, "vm.console", params, NULL)) == 0)
		c->inflight++;
	return rc;
}

/* Standard input is readable: filter it and send it. */
static void
console_input(struct console *c)
{
	uint8_t in[CONSOLE_INPUT_MAX - 1], out[CONSOLE_INPUT_MAX];
	ssize_t n;
	size_t m;
	bool quit = false;

	n = read(STDIN_FILENO, in, sizeof(in));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* The guest may still write: keep showing it. */
		c->stdin_open = false;
		return;
	}
	if (c->escapes)
		m = console_esc_feed(&c->esc, in, (size_t)n, out, &quit);
	else
		memcpy(out, in, (m = (size_t)n));
	if (m > 0)
		c->err = console_send(c, out, m);
	c->quit = quit;
}

static void
console_poll_once(struct console *c)
{
	struct pollfd pfd[3];
	unsigned char sig;
	nfds_t n = 2;

	pfd[0] = (struct pollfd){ client_fd(&c->ctl->cl), POLLIN, 0 };
	pfd[1] = (struct pollfd){ console_sigpipe[0], POLLIN, 0 };
	if (c->input && c->stdin_open && c->inflight < CONSOLE_INFLIGHT_MAX)
		pfd[n++] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 };
	if (poll(pfd, n, -1) == -1) {
		if (errno != EINTR)
			c->err = -errno;
		return;
	}
	if ((pfd[1].revents & POLLIN) != 0 &&
	    read(console_sigpipe[0], &sig, 1) == 1) {
		c->sig = sig;
		return;
	}
	if (pfd[0].revents != 0 && (c->err = client_read(&c->ctl->cl)) != 0)
		return;
	if (n > 2 && pfd[2].revents != 0 && !console_done(c))
		console_input(c);
}

/* How the session ended, on stderr once the terminal is sane; status. */
static int
console_finish(struct console *c)
{
	struct ctl *ctl = c->ctl;
	int rc = CTL_EXIT_OK;

	c->was_raw = console_raw_on;
	console_restore();
	if (c->sig != 0)
		return console_die(c->sig);
	if (c->out_err == EPIPE)
		return console_die(SIGPIPE);
	if (c->out_err != 0) {
		fprintf(stderr, "vmmctl: %s: standard output: %s\n",
		    ctl->label, strerror(c->out_err));
		rc = CTL_EXIT_ERROR;
	} else if (c->error != NULL) {
		cmd_print_error(stderr, ctl->label, c->error);
		rc = CTL_EXIT_ERROR;
	} else if (c->err != 0)
		rc = cmd_conn_lost(ctl, c->err);
	else if (c->ended)
		fprintf(stderr, "%svmmctl: %s: the VM ended (%s)\n",
		    c->was_raw ? "\n" : "", ctl->label, c->reason);
	else if (c->quit && !ctl->args.quiet)
		fprintf(stderr, "\nvmmctl: %s: disconnected\n", ctl->label);
	return rc;
}

static void
console_free(struct console *c)
{
	json_decref(c->error);
	c->error = NULL;
	json_decref(c->held);
	c->held = NULL;
}

/* Returns 0 or -ENOMEM. */
static int
console_init(struct console *c, struct ctl *ctl, bool input)
{
	memset(c, 0, sizeof(*c));
	if ((c->held = json_array()) == NULL)
		return -ENOMEM;
	c->ctl = ctl;
	c->name = ctl->args.arg;
	c->input = input;
	c->stdin_open = input;
	c->escapes = input && isatty(STDIN_FILENO);
	ctl->cl.on_notify = console_notify;
	ctl->cl.on_response = console_response;
	ctl->cl.arg = c;
	return 0;
}

/* Until the VM ends, the user leaves or something breaks. */
static int
console_loop(struct console *c)
{
	while (!console_done(c))
		console_poll_once(c);
	return console_finish(c);
}

static int
console_setup_failed(struct ctl *ctl, int err)
{
	fprintf(stderr, "vmmctl: %s: %s\n", ctl->label, strerror(-err));
	return CTL_EXIT_ERROR;
}

/* vm.console_log's answer: its data to standard output. */
static int
console_log_result(struct console *c, const json_t *result)
{
	int rc;

	if ((rc = console_write_b64(c, json_object_get(result, "data"))) != 0)
		return cmd_conn_lost(c->ctl, rc);
	if (c->out_err == EPIPE)
		return console_die(SIGPIPE);
	if (c->out_err != 0) {
		fprintf(stderr, "vmmctl: %s: standard output: %s\n",
		    c->ctl->label, strerror(c->out_err));
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

/*
 * The scrollback (params, stolen: name, bytes?, follow?), then, with
 * follow, the output as it comes until the VM ends.
 */
static int
console_follow(struct ctl *ctl, json_t *params, bool follow)
{
	struct console c;
	json_t *result = NULL;
	int rc;

	if (params == NULL || console_init(&c, ctl, false) != 0) {
		json_decref(params);
		return console_setup_failed(ctl, -ENOMEM);
	}
	if ((rc = cmd_call(ctl, "vm.console_log", params, &result)) != 0)
		goto out;
	if ((ctl->args.opts & CTL_O(JSON)) != 0)
		print_json(stdout, result);
	else if ((rc = console_log_result(&c, result)) != 0)
		goto out;
	if (!follow)
		goto out;
	if ((rc = console_signals_init()) != 0) {
		rc = console_setup_failed(ctl, rc);
		goto out;
	}
	console_release(&c);
	rc = console_loop(&c);
out:
	json_decref(result);
	console_free(&c);
	return rc;
}

int
console_logs(struct ctl *ctl)
{
	const struct ctl_args *a = &ctl->args;
	json_t *params;

	params = json_pack("{s:s}", "name", a->arg);
	if (params != NULL && (a->opts & CTL_O(BYTES)) != 0 &&
	    json_object_set_new(params, "bytes", json_integer(a->bytes)) != 0)
		params = (json_decref(params), NULL);
	if (params != NULL && (a->opts & CTL_O(FOLLOW)) != 0 &&
	    json_object_set_new(params, "follow", json_true()) != 0)
		params = (json_decref(params), NULL);
	return console_follow(ctl, params, (a->opts & CTL_O(FOLLOW)) != 0);
}

int
console_run(struct ctl *ctl)
{
	struct console c;
	json_t *params;
	int rc;

	/* Watching is following the whole scrollback. */
	if ((ctl->args.opts & CTL_O(WATCH)) != 0)
		return console_follow(ctl, json_pack("{s:s,s:b}", "name",
		    ctl->args.arg, "follow", 1), true);
	params = json_pack("{s:s}", "name", ctl->args.arg);
	if (params == NULL || console_init(&c, ctl, true) != 0) {
		json_decref(params);
		return console_setup_failed(ctl, -ENOMEM);
	}
	if ((rc = cmd_call(ctl, "vm.console", params, NULL)) != 0)
		goto out;
	/* Until here a signal may just kill us: the terminal is as it was. */
	if ((rc = console_signals_init()) != 0) {
		rc = console_setup_failed(ctl, rc);
		goto out;
	}
	if (c.escapes && !ctl->args.quiet)
		fprintf(stderr, "vmmctl: connected to the console of %s; type "
		    "~. at the start of a line to leave\n", c.name);
	if (c.escapes)
		console_raw();
	console_release(&c);
	rc = console_loop(&c);
out:
	console_free(&c);
	return rc;
}
