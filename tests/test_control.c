/*
 * test_control.c: the console ring (console.c) and the control socket
 * (control.c).  The ring, its watchers and its console descriptor are
 * tested in this process; the control socket both in this process (for
 * what a guest is too slow to provoke: a watcher that falls out of the
 * ring, a client that does not read) and on the real vmm-worker with the
 * guests tests/guests/ctl_count.S (prints "tick NNNN\n" forever) and
 * ctl_echo.S (prints "ctl_echo: ready\n", then answers each COM1 input
 * byte b with "[b]").  The protocol is proto/WORKER.md.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "control.h"
#include "vmtest.h"
#include "worker.h"
#include "workertest.h"

#define CT_UUID		"6c0e2f7a-0d4e-4b8a-9a51-3f2d1c0b9e01"
#define CT_NAME		"ctltest"
#define CT_TIMEOUT	20000		/* ms, for anything the guest does */
#define CT_LINE_MAX	(64 * 1024)	/* the protocol's request line limit */
#define CT_CLIENTS_MAX	32

static int64_t
ct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Base64, written separately from control.c's so each checks the other. */

static const char ct_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
ct_b64_encode(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	assert_non_null(out);
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = ct_b64[v >> 18];
		*o++ = ct_b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? ct_b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? ct_b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Decode s onto the end of *buf (a growing buffer of *len bytes). */
static void
ct_b64_append(const char *s, char **buf, size_t *len)
{
	size_t n = strlen(s), i;
	uint32_t v = 0;
	int bits = 0;
	char *p;

	assert_int_equal(n % 4, 0);
	p = realloc(*buf, *len + n / 4 * 3 + 1);
	assert_non_null(p);
	*buf = p;
	for (i = 0; i < n && s[i] != '='; i++) {
		const char *q = strchr(ct_b64, s[i]);

		assert_non_null(q);
		v = v << 6 | (uint32_t)(q - ct_b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[(*len)++] = (char)(v >> bits);
		}
	}
	p[*len] = '\0';
}

/* ------------------------------------------------------------------------ */
/* A control client: lines in, JSON out; console events are collected. */

struct ct_client {
	int fd;
	char *in;			/* received, not yet a whole line */
	size_t inlen;
	char *con;			/* console bytes from console events */
	size_t conlen;
	uint64_t lost;			/* sum of console_lost events */
	unsigned int nlost;
	bool eof;
	void (*pump)(void);		/* runs the in-process loop, or NULL */
};

static struct ct_client *
ct_client_fd(int fd)
{
	struct ct_client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fd = fd;
	c->con = calloc(1, 1);
	assert_non_null(c->con);
	return c;
}

static void
ct_close(struct ct_client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->in);
	free(c->con);
	free(c);
}

/* Connect to path, retrying while the worker is still setting up. */
static int
ct_dial(const char *path, unsigned int timeout_ms)
{
	int64_t end = ct_now_ms() + timeout_ms;
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		close(fd);
		if (ct_now_ms() >= end)
			fail_msg("connect %s: %s", path, strerror(errno));
		usleep(5000);
	}
}

/*
 * The next line (malloc'd, without its newline), or NULL at end of file
 * or after timeout_ms.
 */
static char *
ct_line(struct ct_client *c, unsigned int timeout_ms)
{
	int64_t end = ct_now_ms() + timeout_ms, left;
	char buf[65536], *nl, *line, *p;
	struct pollfd pfd;
	size_t n;
	ssize_t r;

	for (;;) {
		if (c->inlen > 0 &&
		    (nl = memchr(c->in, '\n', c->inlen)) != NULL) {
			n = (size_t)(nl - c->in);
			line = malloc(n + 1);
			assert_non_null(line);
			memcpy(line, c->in, n);
			line[n] = '\0';
			memmove(c->in, nl + 1, c->inlen - n - 1);
			c->inlen -= n + 1;
			return line;
		}
		if (c->eof)
			return NULL;
		/* At least one look at the socket, even with no time left. */
		left = end - ct_now_ms();
		if (c->pump != NULL) {
			c->pump();
			left = left > 1 ? 1 : left;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left > 10 ? 10 : left > 0 ? (int)left : 0) <=
		    0) {
			if (ct_now_ms() >= end)
				return NULL;
			continue;
		}
		r = read(c->fd, buf, sizeof(buf));
		if (r <= 0) {
			c->eof = true;
			continue;
		}
		p = realloc(c->in, c->inlen + (size_t)r);
		assert_non_null(p);
		c->in = p;
		memcpy(c->in + c->inlen, buf, (size_t)r);
		c->inlen += (size_t)r;
	}
}

/* Take a console or console_lost event: true if msg was one. */
static bool
ct_console_event(struct ct_client *c, json_t *msg)
{
	const char *ev = json_string_value(json_object_get(msg, "event"));
	json_t *v;

	if (ev == NULL)
		return false;
	if (strcmp(ev, "console") == 0) {
		assert_int_equal(json_object_size(msg), 2);
		v = json_object_get(msg, "data");
		assert_true(json_is_string(v));
		ct_b64_append(json_string_value(v), &c->con, &c->conlen);
		return true;
	}
	if (strcmp(ev, "console_lost") == 0) {
		assert_int_equal(json_object_size(msg), 2);
		v = json_object_get(msg, "bytes");
		assert_true(json_is_integer(v));
		assert_true(json_integer_value(v) > 0);
		c->lost += (uint64_t)json_integer_value(v);
		c->nlost++;
		return true;
	}
	return false;
}

/*
 * Read one line within timeout_ms: 0 when none came (timeout or end of
 * file), 1 when it was console output (collected), 2 when it was another
 * message, stored in *msg.  Every line must be one JSON object.
 */
static int
ct_step(struct ct_client *c, unsigned int timeout_ms, json_t **msg)
{
	json_error_t jerr;
	json_t *m;
	char *line;

	if ((line = ct_line(c, timeout_ms)) == NULL)
		return 0;
	m = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (m == NULL || !json_is_object(m))
		fail_msg("not a JSON object: %s (%s)", line, jerr.text);
	free(line);
	if (ct_console_event(c, m)) {
		json_decref(m);
		return 1;
	}
	*msg = m;
	return 2;
}

static unsigned int
ct_left(int64_t end)
{
	int64_t left = end - ct_now_ms();

	return left > 0 ? (unsigned int)left : 0;
}

/*
 * The next message that is not console output (which is collected), or
 * NULL at end of file or timeout.
 */
static json_t *
ct_next(struct ct_client *c, unsigned int timeout_ms)
{
	int64_t end = ct_now_ms() + timeout_ms;
	json_t *msg = NULL;

	while (ct_step(c, ct_left(end), &msg) == 1)
		;
	return msg;
}

/* Collect console output until there are n bytes; nothing else may come. */
static void
ct_console_until(struct ct_client *c, size_t n, unsigned int timeout_ms)
{
	int64_t end = ct_now_ms() + timeout_ms;
	json_t *msg = NULL;

	while (c->conlen < n) {
		switch (ct_step(c, ct_left(end), &msg)) {
		case 0:
			fail_msg("%zu of %zu console bytes after %u ms",
			    c->conlen, n, timeout_ms);
			break;
		case 2:
			fail_msg("unexpected message %s", json_dumps(msg, 0));
			break;
		}
	}
}

static void
ct_send(struct ct_client *c, const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;

	while (off < len) {
		n = write(c->fd, text + off, len - off);
		if (n == -1 && errno == EAGAIN && c->pump != NULL) {
			c->pump();
			continue;
		}
		assert_true(n > 0);
		off += (size_t)n;
	}
}

/* Send one request line and return the reply (fails on no reply). */
static json_t *
ct_call(struct ct_client *c, const char *request)
{
	json_t *reply;

	ct_send(c, request);
	ct_send(c, "\n");
	reply = ct_next(c, CT_TIMEOUT);
	if (reply == NULL)
		fail_msg("no reply to %s", request);
	if (json_object_get(reply, "ok") == NULL) {
		char *s = json_dumps(reply, 0);

		fail_msg("not a reply to %s: %s", request, s);
	}
	return reply;
}

/* ct_call, and the reply must be {"id": id, "ok": true, ...}. */
static json_t *
ct_ok(struct ct_client *c, const char *request)
{
	json_t *reply = ct_call(c, request);

	if (!json_is_true(json_object_get(reply, "ok"))) {
		char *s = json_dumps(reply, 0);

		fail_msg("%s failed: %s", request, s);
	}
	return reply;
}

/*
 * The reply must be exactly this error (id NULL: no id in the reply).
 * Takes the references to reply and id.
 */
static void
ct_expect_error(json_t *reply, json_t *id, const char *code, const char *msg)
{
	json_t *want;
	char *got, *exp;

	want = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code,
	    "message", msg);
	assert_non_null(want);
	if (id != NULL)
		json_object_set_new(want, "id", id);
	if (!json_equal(reply, want)) {
		got = json_dumps(reply, JSON_SORT_KEYS);
		exp = json_dumps(want, JSON_SORT_KEYS);
		fail_msg("reply\n  %s\nexpected\n  %s", got, exp);
	}
	json_decref(want);
	json_decref(reply);
}

/* Read console output until it contains needle. */
static void
ct_wait_console(struct ct_client *c, const char *needle)
{
	int64_t end = ct_now_ms() + CT_TIMEOUT;
	json_t *msg = NULL;

	while (memmem(c->con, c->conlen, needle, strlen(needle)) == NULL) {
		switch (ct_step(c, ct_left(end), &msg)) {
		case 0:
			fail_msg("no \"%s\" in the console after %d ms: \"%s\"",
			    needle, CT_TIMEOUT, c->con);
			break;
		case 2:
			fail_msg("unexpected message %s", json_dumps(msg, 0));
			break;
		}
	}
}

/* The string member key of o (which must be there). */
static const char *
ct_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("no string \"%s\"", key);
	return json_string_value(v);
}

static json_int_t
ct_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("no integer \"%s\"", key);
	return json_integer_value(v);
}

/* ------------------------------------------------------------------------ */
/* The real worker. */

struct ct_vm {
	struct wt_proc p;
	char sock[256];
};

static const char *
ct_def(const char *guest, size_t scrollback)
{
	static char json[1024];

	snprintf(json, sizeof(json), "{\"name\": \"" CT_NAME "\", "
	    "\"uuid\": \"" CT_UUID "\", \"memory\": {\"size_mib\": 16}, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"%s\", "
	    "\"load_address\": \"0x100000\", \"mode\": \"long\"}, "
	    "\"devices\": {\"console\": {\"scrollback\": %zu}}, "
	    "\"shutdown_timeout\": 5}", guest, scrollback);
	return json;
}

/*
 * Workers of the running test, stopped and cleaned up by ct_teardown even
 * when the test fails half-way (their wt_proc must outlive the test's
 * stack frame, hence the pool).
 */
#define CT_VMS_MAX	4
static struct ct_vm ct_vms[CT_VMS_MAX];
static unsigned int ct_nvms;

static struct ct_vm *
ct_vm_new(void)
{
	struct ct_vm *v;

	assert_true(ct_nvms < CT_VMS_MAX);
	v = &ct_vms[ct_nvms++];
	memset(v, 0, sizeof(*v));
	v->p.pid = -1;
	v->p.out_fd = v->p.err_fd = -1;
	return v;
}

static struct ct_vm *
ct_start(const char *guest, size_t scrollback)
{
	struct ct_vm *v;

	wt_require_worker();
	v = ct_vm_new();
	wt_spawn(&v->p, ct_def(guest, scrollback), NULL);
	wt_sock_path(&v->p, CT_UUID, v->sock, sizeof(v->sock));
	return v;
}

/* Connect, check the hello, and return the client. */
static struct ct_client *
ct_open(struct ct_vm *v)
{
	struct ct_client *c = ct_client_fd(ct_dial(v->sock, CT_TIMEOUT));
	json_t *hello = ct_next(c, CT_TIMEOUT);

	assert_non_null(hello);
	if (json_object_get(hello, "event") == NULL)
		fail_msg("not a hello: %s", json_dumps(hello, 0));
	assert_string_equal(ct_str(hello, "event"), "hello");
	json_decref(hello);
	return c;
}

/* The worker's log and console, when a test fails. */
static void
ct_dump(struct ct_vm *v)
{
	wt_console_wait(&v->p, "\x01", 10);
	print_message("worker log:\n%s\n", v->p.log != NULL ? v->p.log : "");
}

static void
ct_stop(struct ct_vm *v, int want_status)
{
	struct ct_client *c = ct_open(v);

	json_decref(ct_ok(c, "{\"cmd\": \"stop\", \"force\": true}"));
	ct_close(c);
	if (wt_wait(&v->p, CT_TIMEOUT) != 0) {
		ct_dump(v);
		fail_msg("the worker did not exit");
	}
	assert_int_equal(v->p.status, want_status);
}

/* ------------------------------------------------------------------------ */
/* The console ring, in this process. */

static void
ct_close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* After vm_fini: close what the loop still has, and the loop. */
static void
ct_loop_close(struct vm *vm)
{
	uv_walk(vm_loop(vm), ct_close_handle, NULL);
	uv_run(vm_loop(vm), UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(vm_loop(vm)), 0);
}

static void
ct_pattern(uint8_t *buf, uint64_t pos, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)((pos + i) % 251);
}

/* The scrollback keeps exactly the newest bytes; 0 keeps none. */
static void
test_console_scrollback(void **state)
{
	static const size_t sizes[] = { 0, 1, 8, 100, CONSOLE_RING_MIN,
	    CONSOLE_RING_MIN + 3, 3 * CONSOLE_RING_MIN };
	uint8_t chunk[1000], *got, *want;
	struct console_stats st;
	struct vm vm;
	uint64_t pos, end;
	size_t i, n, total = 10 * CONSOLE_RING_MIN + 77;

	(void)state;
	got = malloc(total);
	want = malloc(total);
	assert_non_null(got);
	assert_non_null(want);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&vm, 0, sizeof(vm));
		assert_int_equal(console_create(&vm, -1, sizes[i]), 0);
		assert_non_null(vm.console);
		/* Nothing written yet: nothing kept. */
		assert_int_equal(console_scrollback(vm.console, got, total,
		    &end), 0);
		assert_int_equal(end, 0);
		for (pos = 0; pos < total; pos += n) {
			n = total - pos < 997 ? total - pos : 997;
			ct_pattern(chunk, pos, n);
			console_output(vm.console, chunk, n);
		}
		n = console_scrollback(vm.console, got, total, &end);
		assert_int_equal(n, sizes[i]);
		assert_int_equal(end, total);
		ct_pattern(want, total - n, n);
		assert_memory_equal(got, want, n);
		/* Asking for fewer gives the newest of them. */
		if (sizes[i] >= 5) {
			assert_int_equal(console_scrollback(vm.console, got, 5,
			    &end), 5);
			ct_pattern(want, total - 5, 5);
			assert_memory_equal(got, want, 5);
		}
		console_get_stats(vm.console, &st);
		assert_int_equal(st.total, total);
		assert_int_equal(st.scrollback, sizes[i]);
		assert_int_equal(st.out_dropped, 0);
		console_destroy(vm.console);
	}
	/* More than the definition allows is refused. */
	assert_int_equal(console_create(&vm, -1, VMDEF_SCROLLBACK_MAX + 1),
	    -EINVAL);
	free(got);
	free(want);
}

/* A reader that fell out of the ring learns exactly how much it lost. */
static void
test_console_read_lost(void **state)
{
	uint8_t big[3 * CONSOLE_RING_MIN], got[CONSOLE_RING_MIN + 100];
	uint8_t want[CONSOLE_RING_MIN + 100];
	struct vm vm;
	uint64_t pos = 0, lost;
	size_t n;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(console_create(&vm, -1, 0), 0);
	ct_pattern(big, 0, 100);
	console_output(vm.console, big, 100);
	/* In the ring: no loss, reads in pieces, then nothing. */
	assert_int_equal(console_read(vm.console, &pos, got, 60, &lost), 60);
	assert_int_equal(lost, 0);
	assert_int_equal(pos, 60);
	assert_int_equal(console_read(vm.console, &pos, got + 60, 1000, &lost),
	    40);
	ct_pattern(want, 0, 100);
	assert_memory_equal(got, want, 100);
	assert_int_equal(console_read(vm.console, &pos, got, 1000, &lost), 0);
	assert_int_equal(lost, 0);

	/* One write larger than the ring: only its tail is kept. */
	ct_pattern(big, 100, sizeof(big));
	console_output(vm.console, big, sizeof(big));
	n = console_read(vm.console, &pos, got, sizeof(got), &lost);
	assert_int_equal(lost, sizeof(big) - CONSOLE_RING_MIN);
	assert_int_equal(n, CONSOLE_RING_MIN);
	ct_pattern(want, 100 + sizeof(big) - CONSOLE_RING_MIN, n);
	assert_memory_equal(got, want, n);
	assert_int_equal(pos, 100 + sizeof(big));
	console_destroy(vm.console);
}

/*
 * The console descriptor never blocks the guest: what a full pipe does
 * not take is dropped and counted, and the parent's end of the pipe is
 * left blocking (the worker writes through its own description).
 */
static void
test_console_out_never_blocks(void **state)
{
	uint8_t buf[10000], got[10000], want[10000];
	struct console_stats st;
	struct vm vm;
	int fds[2], cap;
	ssize_t n;

	(void)state;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	cap = fcntl(fds[1], F_SETPIPE_SZ, 4096);
	assert_int_equal(cap, 4096);
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(console_create(&vm, fds[1], 64), 0);
	assert_int_equal(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0);
	ct_pattern(buf, 0, sizeof(buf));
	console_output(vm.console, buf, sizeof(buf));
	console_get_stats(vm.console, &st);
	assert_int_equal(st.total, sizeof(buf));
	assert_int_equal(st.out_dropped, sizeof(buf) - 4096);
	/* The pipe has the first 4096 bytes, exactly. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	n = read(fds[0], got, sizeof(got));
	assert_int_equal(n, 4096);
	ct_pattern(want, 0, 4096);
	assert_memory_equal(got, want, 4096);
	/* Room again: the next bytes go through. */
	console_output(vm.console, "ok", 2);
	assert_int_equal(read(fds[0], got, sizeof(got)), 2);
	assert_memory_equal(got, "ok", 2);
	/* The reader is gone: no SIGPIPE death, the bytes are dropped. */
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	console_output(vm.console, "xyz", 3);
	console_get_stats(vm.console, &st);
	assert_int_equal(st.out_dropped, sizeof(buf) - 4096 + 3);
	console_destroy(vm.console);
	close(fds[1]);
}

struct ct_watcher {
	struct console_watch w;
	struct console *c;
	char got[256];
	size_t len;
	unsigned int calls;
};

static void
ct_watcher_ready(struct console_watch *w)
{
	struct ct_watcher *cw = (struct ct_watcher *)(void *)w;
	uint64_t lost;

	cw->calls++;
	cw->len += console_read(cw->c, &w->pos, cw->got + cw->len,
	    sizeof(cw->got) - 1 - cw->len, &lost);
	cw->got[cw->len] = '\0';
	assert_int_equal(lost, 0);
}

struct ct_writer_arg {
	struct console *c;
	const char *text;
};

static void *
ct_writer_thread(void *arg)
{
	struct ct_writer_arg *a = arg;

	console_output(a->c, a->text, strlen(a->text));
	return NULL;
}

/*
 * Output written on another thread reaches every watcher through the
 * main loop; replay starts at the scrollback; unwatched is unwatched.
 */
static void
test_console_watchers(void **state)
{
	static struct vmdef def = { .name = (char *)"w", .vcpus = 1 };
	struct ct_watcher a, b, r;
	struct ct_writer_arg arg;
	struct vm vm;
	pthread_t t;
	int64_t end;

	(void)state;
	assert_int_equal(vm_init(&vm, &def), 0);
	assert_int_equal(console_create(&vm, -1, 6), 0);
	console_output(vm.console, "before\n", 7);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&r, 0, sizeof(r));
	a.w.ready = b.w.ready = r.w.ready = ct_watcher_ready;
	a.c = b.c = r.c = vm.console;
	console_watch(vm.console, &a.w, false);
	console_watch(vm.console, &b.w, false);
	console_watch(vm.console, &r.w, true);
	assert_int_equal(r.w.pos, 1);		/* the last 6 of 7 bytes */

	arg.c = vm.console;
	arg.text = "hello from a vcpu\n";
	assert_int_equal(pthread_create(&t, NULL, ct_writer_thread, &arg), 0);
	pthread_join(t, NULL);
	end = ct_now_ms() + 5000;
	while ((a.len < 18 || b.len < 18) && ct_now_ms() < end)
		uv_run(vm_loop(&vm), UV_RUN_NOWAIT);
	assert_string_equal(a.got, "hello from a vcpu\n");
	assert_string_equal(b.got, "hello from a vcpu\n");
	assert_string_equal(r.got, "efore\nhello from a vcpu\n");

	console_unwatch(vm.console, &b.w);
	console_output(vm.console, "more", 4);
	end = ct_now_ms() + 5000;
	while (a.len < 22 && ct_now_ms() < end)
		uv_run(vm_loop(&vm), UV_RUN_NOWAIT);
	assert_string_equal(a.got, "hello from a vcpu\nmore");
	assert_string_equal(b.got, "hello from a vcpu\n");
	/* console_notify calls the watchers at once. */
	a.calls = 0;
	console_notify(vm.console);
	assert_int_equal(a.calls, 1);
	console_unwatch(vm.console, &a.w);
	console_unwatch(vm.console, &r.w);
	console_destroy(vm.console);
	vm_fini(&vm);
	ct_loop_close(&vm);
}

static uint8_t ct_input_buf[64];
static size_t ct_input_len;

static void
ct_input_fn(void *dev, const uint8_t *buf, size_t len)
{
	assert_ptr_equal(dev, &ct_input_len);
	memcpy(ct_input_buf + ct_input_len, buf, len);
	ct_input_len += len;
}

static void
test_console_input(void **state)
{
	struct vm vm;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(console_create(&vm, -1, 0), 0);
	assert_int_equal(console_input(vm.console, (const uint8_t *)"x", 1),
	    -ENODEV);
	console_set_input(vm.console, ct_input_fn, &ct_input_len);
	assert_int_equal(console_input(vm.console, (const uint8_t *)"ab", 2),
	    0);
	assert_int_equal(console_input(vm.console, (const uint8_t *)"c", 1),
	    0);
	assert_int_equal(ct_input_len, 3);
	assert_memory_equal(ct_input_buf, "abc", 3);
	console_destroy(vm.console);
	console_destroy(NULL);
}

/* ------------------------------------------------------------------------ */
/* The control socket in this process, with the loop run by hand. */

static struct vm ct_ivm;
static struct vmdef ct_idef;
static char ct_idir[64];
static bool ct_ilive;

static void
ct_ipump(void)
{
	uv_run(vm_loop(&ct_ivm), UV_RUN_NOWAIT);
}

static void
ct_iset_state(enum vm_state s)
{
	pthread_mutex_lock(&ct_ivm.lock);
	ct_ivm.state = s;
	pthread_mutex_unlock(&ct_ivm.lock);
}

/* A VM with no vcpus, a console and a control socket. */
static void
ct_istart(size_t scrollback)
{
	memset(&ct_idef, 0, sizeof(ct_idef));
	ct_idef.name = (char *)"inproc";
	strcpy(ct_idef.uuid, CT_UUID);
	ct_idef.vcpus = 1;
	ct_idef.memory_mib = 1;
	ct_idef.shutdown_timeout = 30;
	signal(SIGPIPE, SIG_IGN);
	snprintf(ct_idir, sizeof(ct_idir), "/tmp/vmmct.XXXXXX");
	assert_non_null(mkdtemp(ct_idir));
	assert_int_equal(vm_init(&ct_ivm, &ct_idef), 0);
	assert_int_equal(console_create(&ct_ivm, -1, scrollback), 0);
	assert_int_equal(control_create(&ct_ivm, ct_idir), 0);
	ct_ilive = true;
	ct_iset_state(VM_STATE_RUNNING);
}

/* Connect to the in-process socket; the hello goes to *hello. */
static struct ct_client *
ct_iconnect(json_t **hello)
{
	char path[256];
	struct ct_client *c;

	snprintf(path, sizeof(path), "%s/vm/%s.sock", ct_idir, CT_UUID);
	c = ct_client_fd(ct_dial(path, 1000));
	c->pump = ct_ipump;
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	*hello = ct_next(c, 5000);
	assert_non_null(*hello);
	assert_string_equal(ct_str(*hello, "event"), "hello");
	return c;
}

static struct ct_client *
ct_iopen(void)
{
	struct ct_client *c;
	json_t *hello;

	c = ct_iconnect(&hello);
	assert_string_equal(ct_str(hello, "state"), "running");
	json_decref(hello);
	return c;
}

/* Take the in-process VM down (also after a failed test). */
static void
ct_idown(void)
{
	char path[256];

	ct_ilive = false;
	control_destroy(&ct_ivm);
	ct_ipump();
	console_destroy(ct_ivm.console);
	ct_ivm.console = NULL;
	vm_fini(&ct_ivm);
	ct_loop_close(&ct_ivm);
	snprintf(path, sizeof(path), "%s/vm/%s.sock", ct_idir, CT_UUID);
	unlink(path);
	snprintf(path, sizeof(path), "%s/vm", ct_idir);
	rmdir(path);
	rmdir(ct_idir);
}

static void
ct_istop(void)
{
	char path[256];

	/* The socket file goes with the control socket. */
	snprintf(path, sizeof(path), "%s/vm/%s.sock", ct_idir, CT_UUID);
	control_destroy(&ct_ivm);
	assert_int_equal(access(path, F_OK), -1);
	ct_idown();
}

/*
 * A watcher that does not read while the guest writes much more than the
 * ring holds is not dropped: once it reads again it gets what is left,
 * with console_lost events whose counts fill the gaps exactly.
 */
static void
test_control_slow_watcher(void **state)
{
	const size_t total = 1024 * 1024, chunk = 4096;
	struct ct_client *w, *fast;
	uint8_t buf[4096];
	uint64_t pos;
	int64_t end;
	json_t *m;

	(void)state;
	ct_istart(0);
	w = ct_iopen();
	fast = ct_iopen();
	json_decref(ct_ok(w, "{\"cmd\": \"console_attach\"}"));
	json_decref(ct_ok(fast, "{\"cmd\": \"console_attach\"}"));
	/* w does not read: its socket and then its queue fill up. */
	for (pos = 0; pos < total; pos += chunk) {
		ct_pattern(buf, pos, chunk);
		console_output(ct_ivm.console, buf, chunk);
		ct_ipump();
		ct_ipump();
		/* The fast one keeps up and loses nothing. */
		m = ct_next(fast, 0);
		assert_null(m);
	}
	ct_console_until(fast, total, 10000);
	assert_int_equal(fast->conlen, total);
	assert_int_equal(fast->nlost, 0);

	/* Now w reads everything: the kept bytes plus the lost count. */
	end = ct_now_ms() + 10000;
	while (w->conlen + w->lost < total && ct_now_ms() < end)
		assert_null(ct_next(w, 10));
	assert_int_equal(w->conlen + w->lost, total);
	assert_true(w->nlost >= 1);
	/* Not vacuous: it lost a lot but kept at least a ring's worth. */
	assert_true(w->lost > total / 2);
	assert_true(w->conlen >= CONSOLE_RING_MIN);
	/* It is still connected and served. */
	m = ct_ok(w, "{\"cmd\": \"status\", \"id\": 1}");
	json_decref(m);
	ct_close(w);
	ct_close(fast);
	ct_istop();
}

/*
 * A watcher's stream, checked byte by byte: the data of console events in
 * order, with each console_lost count skipping exactly that many bytes of
 * the guest's output.  Done here on a small scale, event by event.
 */
static void
test_control_lost_positions(void **state)
{
	struct ct_client *w;
	uint8_t buf[3 * CONSOLE_RING_MIN], want[3 * CONSOLE_RING_MIN];
	json_t *m;
	char *line;
	uint64_t pos = 0;
	size_t n;

	(void)state;
	ct_istart(0);
	w = ct_iopen();
	json_decref(ct_ok(w, "{\"cmd\": \"console_attach\"}"));
	/* Two ring-fulls and a bit, between two runs of the loop. */
	ct_pattern(buf, 0, sizeof(buf));
	console_output(ct_ivm.console, buf, sizeof(buf));
	while (pos < sizeof(buf)) {
		line = ct_line(w, 5000);
		assert_non_null(line);
		m = json_loads(line, 0, NULL);
		free(line);
		assert_non_null(m);
		if (strcmp(ct_str(m, "event"), "console_lost") == 0) {
			assert_int_equal(pos, 0);
			pos += (uint64_t)ct_int(m, "bytes");
			assert_int_equal(pos, sizeof(buf) - CONSOLE_RING_MIN);
		} else {
			w->conlen = 0;
			ct_b64_append(ct_str(m, "data"), &w->con, &w->conlen);
			n = w->conlen;
			/* Events carry at most 8 KiB each. */
			assert_true(n > 0 && n <= 8192);
			ct_pattern(want, pos, n);
			assert_memory_equal(w->con, want, n);
			pos += n;
		}
		json_decref(m);
	}
	assert_int_equal(pos, sizeof(buf));
	ct_close(w);
	ct_istop();
}

/*
 * A client that sends requests but never reads the replies is dropped
 * once more than the queue limit waits for it; the others are served.
 */
static void
test_control_nonreader_dropped(void **state)
{
	const size_t sb = 1024 * 1024;
	struct ct_client *lazy, *other;
	uint8_t *buf;
	int64_t end;
	int i;

	(void)state;
	ct_istart(sb);
	buf = malloc(sb);
	assert_non_null(buf);
	ct_pattern(buf, 0, sb);
	console_output(ct_ivm.console, buf, sb);
	free(buf);
	lazy = ct_iopen();
	other = ct_iopen();
	/* Each reply is about 1.4 MB of base64. */
	for (i = 0; i < 4; i++)
		ct_send(lazy, "{\"cmd\": \"console_log\"}\n");
	for (i = 0; i < 20; i++)
		ct_ipump();
	json_decref(ct_ok(other, "{\"cmd\": \"status\"}"));
	/* lazy reads now: some of what was queued, then the end. */
	end = ct_now_ms() + 5000;
	while (!lazy->eof && ct_now_ms() < end) {
		char *line = ct_line(lazy, 10);

		free(line);
	}
	assert_true(lazy->eof);
	json_decref(ct_ok(other, "{\"cmd\": \"status\"}"));
	ct_close(lazy);
	ct_close(other);
	ct_istop();
}

/*
 * Identity comes from the peer's credentials, not only from the socket
 * file's mode: with the file opened up, another user still gets one
 * permission_denied line (and no hello) and is disconnected.
 */
static void
test_control_peer_refused(void **state)
{
	char path[256], line[512];
	struct ct_client *c;
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to connect as another "
		    "user\n");
		skip();
	}
	ct_istart(0);
	snprintf(path, sizeof(path), "%s/vm", ct_idir);
	assert_int_equal(chmod(ct_idir, 0755), 0);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/vm/%s.sock", ct_idir, CT_UUID);
	assert_int_equal(chmod(path, 0666), 0);
	if ((pid = fork()) == 0) {
		/* nobody: reads the one line, checks it, says so. */
		const char *want = "{\"ok\":false,\"error\":{\"code\":"
		    "\"permission_denied\",\"message\":\"not allowed to "
		    "control this VM\"}}\n";
		struct sockaddr_un sun;
		ssize_t n, got = 0;
		int fd;

		/* No cmocka in the child: it must only ever _exit. */
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, path, strlen(path) + 1);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			_exit(3);
		while ((n = read(fd, line + got, sizeof(line) - 1 -
		    (size_t)got)) > 0)
			got += n;
		line[got] = '\0';
		_exit(strcmp(line, want) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &st, WNOHANG) == 0)
		ct_ipump();
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* Root still gets in. */
	c = ct_iopen();
	ct_close(c);
	ct_istop();
}

static uint8_t ct_rx[4096];
static size_t ct_rxlen;

static void
ct_rx_fn(void *dev, const uint8_t *buf, size_t len)
{
	(void)dev;
	assert_true(ct_rxlen + len <= sizeof(ct_rx));
	memcpy(ct_rx + ct_rxlen, buf, len);
	ct_rxlen += len;
}

/*
 * Random bytes of random lengths both ways: console_input decodes
 * exactly what our encoder made, console events encode exactly what the
 * guest wrote (each checked with this file's own base64), and malformed
 * data, one bad character anywhere, is refused.
 */
static void
test_control_base64_random(void **state)
{
	static const char bad[] = "=!-_ .*";
	uint8_t data[300];
	struct ct_client *c;
	char req[1024], *b64;
	size_t len, i, off, at;
	json_t *m;
	unsigned int seed, round;

	(void)state;
	seed = getenv("CT_SEED") != NULL ?
	    (unsigned int)strtoul(getenv("CT_SEED"), NULL, 0) :
	    (unsigned int)time(NULL);
	print_message("CT_SEED=%u\n", seed);
	srand(seed);
	ct_istart(4096);
	console_set_input(ct_ivm.console, ct_rx_fn, NULL);
	c = ct_iopen();
	json_decref(ct_ok(c, "{\"cmd\": \"console_attach\", \"mode\": "
	    "\"write\"}"));
	for (round = 0; round < 200; round++) {
		len = (size_t)rand() % sizeof(data);
		for (i = 0; i < len; i++)
			data[i] = (uint8_t)rand();
		b64 = ct_b64_encode(data, len);
		snprintf(req, sizeof(req), "{\"cmd\": \"console_input\", "
		    "\"data\": \"%s\"}", b64);
		ct_rxlen = 0;
		m = ct_ok(c, req);
		assert_int_equal(ct_int(m, "bytes"), (json_int_t)len);
		json_decref(m);
		assert_int_equal(ct_rxlen, len);
		assert_memory_equal(ct_rx, data, len);
		/* One bad character anywhere: refused, nothing goes in. */
		if (len > 0) {
			at = (size_t)rand() % strlen(b64);
			b64[at] = bad[(size_t)rand() % (sizeof(bad) - 1)];
			/* '=' is fine where the padding is. */
			if (b64[at] != '=' || at < strlen(b64) - 2) {
				snprintf(req, sizeof(req), "{\"cmd\": "
				    "\"console_input\", \"data\": \"%s\"}",
				    b64);
				ct_expect_error(ct_call(c, req), NULL,
				    "bad_request", "console_input: data is not "
				    "valid base64");
				assert_int_equal(ct_rxlen, len);
			}
		}
		free(b64);

		off = c->conlen;
		console_output(ct_ivm.console, data, len);
		ct_console_until(c, off + len, 5000);
		assert_int_equal(c->conlen, off + len);
		assert_memory_equal(c->con + off, data, len);
	}
	ct_close(c);
	ct_istop();
}

/*
 * control_final: every client gets the guest's last output and then the
 * exit message, and a client that connects afterwards gets the hello and
 * the exit message at once.
 */
static void
test_control_final(void **state)
{
	struct ct_client *a, *late;
	json_t *m, *want;

	(void)state;
	ct_istart(100);
	a = ct_iopen();
	json_decref(ct_ok(a, "{\"cmd\": \"console_attach\"}"));
	console_output(ct_ivm.console, "last words\n", 11);
	pthread_mutex_lock(&ct_ivm.lock);
	ct_ivm.state = VM_STATE_EXITED;
	ct_ivm.exit = WORKER_EXIT_DEBUG_EXIT;
	ct_ivm.exit_code = 0x45;
	snprintf(ct_ivm.exit_why, sizeof(ct_ivm.exit_why), "debug exit 0x45");
	pthread_mutex_unlock(&ct_ivm.lock);
	/* Without running the loop: control_final pulls the output itself. */
	control_final(&ct_ivm);
	want = json_pack("{s:s, s:s, s:i, s:i, s:s}", "event", "exit",
	    "reason", "debug-exit", "status", 32 + (0x45 & 31), "code", 0x45,
	    "message", "debug exit 0x45");
	m = ct_next(a, 5000);
	assert_non_null(m);
	assert_true(json_equal(m, want));
	json_decref(m);
	assert_string_equal(a->con, "last words\n");

	/* Late: hello (state "exited"), then the exit message. */
	late = ct_iconnect(&m);
	assert_string_equal(ct_str(m, "state"), "exited");
	json_decref(m);
	m = ct_next(late, 5000);
	assert_non_null(m);
	assert_true(json_equal(m, want));
	json_decref(m);
	/* status says the same under "exit". */
	json_object_del(want, "event");
	m = ct_ok(late, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "exited");
	assert_true(json_equal(json_object_get(m, "exit"), want));
	json_decref(m);
	/* Nothing can be stopped, paused or reset any more. */
	ct_expect_error(ct_call(late, "{\"cmd\": \"pause\"}"), NULL,
	    "bad_state", "cannot pause: the VM is exited");
	ct_expect_error(ct_call(late, "{\"cmd\": \"reset\"}"), NULL,
	    "bad_state", "cannot reset: the VM is exited");
	ct_expect_error(ct_call(late, "{\"cmd\": \"stop\"}"), NULL,
	    "bad_state", "cannot stop: the VM is exited");
	json_decref(want);
	ct_close(late);
	ct_close(a);
	ct_istop();
}

/* ------------------------------------------------------------------------ */
/* The real worker. */

/* Hello, socket and directory modes, status. */
static void
test_worker_handshake(void **state)
{
	struct ct_client *c;
	struct ct_vm *v;
	struct stat st;
	char dir[256];
	json_t *m, *want;
	json_int_t up;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	c = ct_client_fd(ct_dial(v->sock, CT_TIMEOUT));
	m = ct_next(c, CT_TIMEOUT);
	want = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s}", "event", "hello",
	    "uuid", CT_UUID, "pid", (int)v->p.pid, "state", "running",
	    "protocol", WORKER_PROTOCOL_VERSION, "name", CT_NAME);
	assert_non_null(m);
	assert_true(json_equal(m, want));
	json_decref(m);
	json_decref(want);

	assert_int_equal(lstat(v->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	snprintf(dir, sizeof(dir), "%s/vm", v->p.dir);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);

	m = ct_ok(c, "{\"cmd\": \"status\", \"id\": \"s1\"}");
	up = ct_int(m, "uptime_ms");
	assert_true(up >= 0 && up < CT_TIMEOUT);
	json_object_del(m, "uptime_ms");
	want = json_pack("{s:s, s:b, s:s, s:s, s:i, s:s, s:i, s:i}",
	    "id", "s1", "ok", 1, "name", CT_NAME, "uuid", CT_UUID,
	    "pid", (int)v->p.pid, "state", "running", "vcpus", 1,
	    "memory_mib", 16);
	assert_true(json_equal(m, want));
	json_decref(m);
	json_decref(want);
	usleep(100 * 1000);
	m = ct_ok(c, "{\"cmd\": \"status\", \"id\": 2}");
	assert_int_equal(ct_int(m, "id"), 2);
	assert_true(ct_int(m, "uptime_ms") >= up + 100);
	json_decref(m);
	ct_close(c);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

static json_t *
ct_vcpu0(json_t *stats)
{
	json_t *vcpus = json_object_get(stats, "vcpus");

	assert_true(json_is_array(vcpus));
	assert_int_equal(json_array_size(vcpus), 1);
	return json_array_get(vcpus, 0);
}

/* stats: every counter named, the exit counters move, RAM and console. */
static void
test_worker_stats(void **state)
{
	static const char *const words[] = {
#define CT_STAT_WORD(name, word) word,
		VCPU_STAT_MAP(CT_STAT_WORD)
#undef CT_STAT_WORD
	};
	struct ct_client *c;
	struct ct_vm *v;
	json_t *s1, *s2, *v0, *exits, *con;
	json_int_t io1, bytes1;
	size_t i;

	(void)state;
	v = ct_start(WT_GUEST("ctl_count"), 4096);
	c = ct_open(v);
	if (!wt_console_wait(&v->p, "tick 0002\n", CT_TIMEOUT)) {
		ct_dump(v);
		fail_msg("no ticks");
	}
	s1 = ct_ok(c, "{\"cmd\": \"stats\"}");
	assert_int_equal(json_object_size(s1), 4);	/* ok, vcpus, ... */
	assert_int_equal(ct_int(s1, "ram_bytes"), 16 * 1024 * 1024);
	v0 = ct_vcpu0(s1);
	assert_int_equal(json_object_size(v0), 3);
	assert_int_equal(ct_int(v0, "id"), 0);
	assert_string_equal(ct_str(v0, "state"), "running");
	exits = json_object_get(v0, "exits");
	assert_int_equal(json_object_size(exits), VCPU_STAT_COUNT);
	for (i = 0; i < VCPU_STAT_COUNT; i++)
		assert_true(json_is_integer(json_object_get(exits, words[i])));
	io1 = ct_int(exits, "io");
	assert_true(io1 >= 30);		/* three ticks, one exit per byte */
	assert_int_equal(ct_int(exits, "mmio"), 0);
	assert_int_equal(ct_int(exits, "shutdown"), 0);
	con = json_object_get(s1, "console");
	assert_int_equal(json_object_size(con), 3);
	bytes1 = ct_int(con, "bytes");
	assert_true(bytes1 >= 30);
	assert_int_equal(ct_int(con, "dropped"), 0);
	assert_int_equal(ct_int(con, "scrollback"), 4096);

	/* Some ticks later, both counters have moved. */
	if (!wt_console_wait(&v->p, "tick 0006\n", CT_TIMEOUT))
		fail_msg("no more ticks");
	s2 = ct_ok(c, "{\"cmd\": \"stats\"}");
	exits = json_object_get(ct_vcpu0(s2), "exits");
	assert_true(ct_int(exits, "io") >= io1 + 30);
	assert_true(ct_int(json_object_get(s2, "console"), "bytes") >=
	    bytes1 + 30);
	json_decref(s1);
	json_decref(s2);
	ct_close(c);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

/* "tick 0000\ntick 0001\n..." up to n ticks, for exact comparisons. */
static char *
ct_ticks(unsigned int n)
{
	char *s = malloc((size_t)n * 10 + 1), one[32];
	unsigned int i;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		snprintf(one, sizeof(one), "tick %04u\n", i % 10000);
		memcpy(s + (size_t)i * 10, one, 10);
	}
	s[(size_t)n * 10] = '\0';
	return s;
}

/* The console so far is exactly the start of the tick sequence. */
static void
ct_assert_ticks(const char *con, size_t len)
{
	char *want = ct_ticks((unsigned int)(len / 10 + 1));

	assert_memory_equal(con, want, len);
	free(want);
}

/* Paused: not one byte of output.  Resumed: it goes on where it was. */
static void
test_worker_pause_resume(void **state)
{
	struct ct_client *c, *w;
	struct ct_vm *v;
	size_t con_len, out_len;
	json_t *m;
	int64_t end;

	(void)state;
	v = ct_start(WT_GUEST("ctl_count"), 4096);
	c = ct_open(v);
	w = ct_open(v);
	m = ct_ok(w, "{\"cmd\": \"console_attach\", \"replay\": true}");
	assert_string_equal(ct_str(m, "mode"), "watch");
	json_decref(m);
	ct_wait_console(w, "tick 0003\n");

	m = ct_ok(c, "{\"cmd\": \"pause\", \"id\": 5}");
	assert_int_equal(ct_int(m, "id"), 5);
	assert_string_equal(ct_str(m, "state"), "paused");
	json_decref(m);
	m = ct_ok(c, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "paused");
	json_decref(m);
	m = ct_ok(c, "{\"cmd\": \"stats\"}");
	assert_string_equal(ct_str(ct_vcpu0(m), "state"), "paused");
	json_decref(m);
	/* Pausing twice is refused. */
	ct_expect_error(ct_call(c, "{\"cmd\": \"pause\"}"), NULL, "bad_state",
	    "cannot pause: the VM is paused");

	/* What was written before the pause has arrived by now... */
	assert_null(ct_next(w, 200));
	wt_console_wait(&v->p, "\x01", 200);
	con_len = w->conlen;
	out_len = v->p.console_len;
	/* ...and for half a second nothing more comes. */
	end = ct_now_ms() + 500;
	while (ct_now_ms() < end) {
		assert_null(ct_next(w, 50));
		wt_console_wait(&v->p, "\x01", 10);
	}
	assert_int_equal(w->conlen, con_len);
	assert_int_equal(v->p.console_len, out_len);

	m = ct_ok(c, "{\"cmd\": \"resume\"}");
	assert_string_equal(ct_str(m, "state"), "running");
	json_decref(m);
	ct_expect_error(ct_call(c, "{\"cmd\": \"resume\"}"), NULL,
	    "bad_state", "cannot resume: the VM is running");
	/* More ticks, and the whole stream has no gap and no repeat. */
	ct_console_until(w, con_len + 30, CT_TIMEOUT);
	ct_assert_ticks(w->con, w->conlen);
	assert_true(wt_console_wait(&v->p, "tick 0008\n", CT_TIMEOUT));
	ct_assert_ticks(v->p.console, v->p.console_len);
	ct_close(w);
	ct_close(c);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

/* Send data (any bytes) as console_input; the reply must say len. */
static void
ct_input(struct ct_client *c, const void *data, size_t len)
{
	char *b64 = ct_b64_encode(data, len), req[256];
	json_t *m;

	snprintf(req, sizeof(req), "{\"cmd\": \"console_input\", "
	    "\"data\": \"%s\"}", b64);
	m = ct_ok(c, req);
	assert_int_equal(ct_int(m, "bytes"), (json_int_t)len);
	json_decref(m);
	free(b64);
}

/*
 * Two watchers and a writer; a second writer is refused; input reaches
 * the guest and its answer reaches every watcher (and the console fd).
 */
static void
test_worker_console_attach(void **state)
{
	static const uint8_t bin[] = { 0x00, 0xFF, 0x80, '\n' };
	static const char bin_echo[] = "[\x00][\xFF][\x80][\n]";
	struct ct_client *a, *b, *wr, *d, *r;
	struct ct_vm *v;
	char busy[128];
	json_t *m;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	if (!wt_console_wait(&v->p, "ctl_echo: ready\n", CT_TIMEOUT)) {
		ct_dump(v);
		fail_msg("no banner");
	}
	a = ct_open(v);
	b = ct_open(v);
	wr = ct_open(v);
	d = ct_open(v);
	m = ct_ok(a, "{\"cmd\": \"console_attach\", \"mode\": \"watch\"}");
	assert_string_equal(ct_str(m, "mode"), "watch");
	json_decref(m);
	json_decref(ct_ok(b, "{\"cmd\": \"console_attach\", "
	    "\"replay\": false}"));
	m = ct_ok(wr, "{\"cmd\": \"console_attach\", \"mode\": \"write\", "
	    "\"id\": \"w\"}");
	assert_string_equal(ct_str(m, "mode"), "write");
	json_decref(m);
	snprintf(busy, sizeof(busy), "another client (pid %d) is the console "
	    "writer", (int)getpid());
	ct_expect_error(ct_call(d, "{\"cmd\": \"console_attach\", \"mode\": "
	    "\"write\", \"id\": 3}"), json_integer(3), "busy", busy);
	ct_expect_error(ct_call(d, "{\"cmd\": \"console_input\", \"data\": "
	    "\"aGk=\"}"), NULL, "not_writer", "console_input needs "
	    "console_attach with mode \"write\"");

	ct_input(wr, "hi", 2);
	ct_wait_console(a, "[i]");
	ct_wait_console(b, "[i]");
	ct_wait_console(wr, "[i]");
	assert_string_equal(a->con, "[h][i]");
	assert_string_equal(b->con, "[h][i]");
	assert_string_equal(wr->con, "[h][i]");
	assert_true(wt_console_wait(&v->p, "ctl_echo: ready\n[h][i]",
	    CT_TIMEOUT));
	/* A watcher with replay starts at the scrollback. */
	r = ct_open(v);
	json_decref(ct_ok(r, "{\"cmd\": \"console_attach\", "
	    "\"replay\": true}"));
	ct_wait_console(r, "[i]");
	assert_string_equal(r->con, "ctl_echo: ready\n[h][i]");

	/* Any bytes, in every padding of base64. */
	ct_input(wr, bin, 1);
	ct_input(wr, bin + 1, 2);
	ct_input(wr, bin + 3, 1);
	ct_wait_console(a, "[\n]");
	assert_int_equal(a->conlen, 6 + sizeof(bin_echo) - 1);
	assert_memory_equal(a->con + 6, bin_echo, sizeof(bin_echo) - 1);
	ct_expect_error(ct_call(wr, "{\"cmd\": \"console_input\", \"data\": "
	    "\"a=bc\"}"), NULL, "bad_request", "console_input: data is not "
	    "valid base64");
	ct_expect_error(ct_call(wr, "{\"cmd\": \"console_input\", \"data\": "
	    "\"abc\"}"), NULL, "bad_request", "console_input: data is not "
	    "valid base64");

	/* The writer detaches: b's turn; a detached watcher hears nothing. */
	json_decref(ct_ok(wr, "{\"cmd\": \"detach\"}"));
	ct_expect_error(ct_call(wr, "{\"cmd\": \"console_input\", \"data\": "
	    "\"aGk=\"}"), NULL, "not_writer", "console_input needs "
	    "console_attach with mode \"write\"");
	json_decref(ct_ok(b, "{\"cmd\": \"console_attach\", \"mode\": "
	    "\"write\"}"));
	json_decref(ct_ok(a, "{\"cmd\": \"detach\"}"));
	ct_input(b, "z", 1);
	ct_wait_console(b, "[z]");
	ct_wait_console(r, "[z]");
	assert_null(ct_next(a, 300));
	assert_int_equal(a->conlen, 6 + sizeof(bin_echo) - 1);
	/* The writer goes away: the place is free again. */
	ct_close(b);
	json_decref(ct_ok(d, "{\"cmd\": \"console_attach\", \"mode\": "
	    "\"write\"}"));
	ct_close(a);
	ct_close(wr);
	ct_close(d);
	ct_close(r);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

/* console_log {"bytes": n} for n = 0, 3, 8, 1000, and the errors. */
static void
ct_expect_log(struct ct_client *c, const char *req, const char *data,
    json_int_t total)
{
	char *b64 = ct_b64_encode(data, strlen(data));
	json_t *m, *want;

	m = ct_ok(c, req);
	want = json_pack("{s:b, s:s, s:i, s:I}", "ok", 1, "data", b64,
	    "bytes", (int)strlen(data), "total", total);
	if (!json_equal(m, want))
		fail_msg("%s: %s", req, json_dumps(m, 0));
	json_decref(m);
	json_decref(want);
	free(b64);
}

/* The scrollback holds exactly the configured number of newest bytes. */
static void
test_worker_scrollback(void **state)
{
	struct ct_client *c, *r;
	struct ct_vm *v;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 8);
	if (!wt_console_wait(&v->p, "ctl_echo: ready\n", CT_TIMEOUT))
		fail_msg("no banner");
	c = ct_open(v);
	ct_expect_log(c, "{\"cmd\": \"console_log\"}", ": ready\n", 16);
	json_decref(ct_ok(c, "{\"cmd\": \"console_attach\", \"mode\": "
	    "\"write\"}"));
	ct_input(c, "abc", 3);
	ct_wait_console(c, "[c]");
	ct_expect_log(c, "{\"cmd\": \"console_log\"}", "a][b][c]", 25);
	ct_expect_log(c, "{\"cmd\": \"console_log\", \"bytes\": 3}", "[c]", 25);
	ct_expect_log(c, "{\"cmd\": \"console_log\", \"bytes\": 1000}",
	    "a][b][c]", 25);
	ct_expect_log(c, "{\"cmd\": \"console_log\", \"bytes\": 0}", "", 25);
	ct_expect_error(ct_call(c, "{\"cmd\": \"console_log\", \"bytes\": -1}"),
	    NULL, "bad_request", "console_log: bytes must not be negative");
	ct_expect_error(ct_call(c, "{\"cmd\": \"console_log\", \"bytes\": "
	    "\"x\"}"), NULL, "bad_request", "console_log: Expected integer, "
	    "got string");
	/* Replay gives the same eight bytes. */
	r = ct_open(v);
	json_decref(ct_ok(r, "{\"cmd\": \"console_attach\", "
	    "\"replay\": true}"));
	ct_wait_console(r, "[c]");
	assert_string_equal(r->con, "a][b][c]");
	ct_close(r);
	ct_close(c);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

struct ct_bad {
	const char *line;
	json_int_t id;			/* -1: no id in the reply */
	const char *code;
	const char *message;
};

static const struct ct_bad ct_bads[] = {
	{ "not json", -1, "bad_json",
	    "invalid JSON: '[' or '{' expected near 'not'" },
	{ "{\"cmd\": \"status\", \"cmd\": \"status\"}", -1, "bad_json",
	    "invalid JSON: duplicate object key near '\"cmd\"'" },
	{ "{\"cmd\": \"status\"} {}", -1, "bad_json",
	    "invalid JSON: end of file expected near '{'" },
	{ "{\"cmd\": \"status\"", -1, "bad_json",
	    "invalid JSON: '}' expected near end of file" },
	{ "[1]", -1, "bad_request", "a request must be a JSON object" },
	{ "{\"id\": 7}", 7, "bad_request", "\"cmd\" must be a string" },
	{ "{\"cmd\": 5, \"id\": 8}", 8, "bad_request",
	    "\"cmd\" must be a string" },
	{ "{\"cmd\": \"status\", \"id\": [1]}", -1, "bad_request",
	    "\"id\" must be a string or an integer" },
	{ "{\"cmd\": \"frobnicate\", \"id\": 9}", 9, "unknown_command",
	    "unknown command \"frobnicate\"" },
	{ "{\"cmd\": \"status\\u0000\", \"id\": 10}", -1, "bad_json",
	    "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near "
	    "'\"status\\u0000\"'" },
	{ "{\"cmd\": \"status\", \"verbose\": true, \"id\": 11}", 11,
	    "bad_request", "status: 1 object item(s) left unpacked: verbose" },
	{ "{\"cmd\": \"stop\", \"force\": 1, \"id\": 12}", 12, "bad_request",
	    "stop: Expected true or false, got integer" },
	{ "{\"cmd\": \"stop\", \"timeout_ms\": -5}", -1, "bad_request",
	    "stop: timeout_ms must be between 0 and 3600000" },
	{ "{\"cmd\": \"stop\", \"timeout_ms\": 3600001}", -1, "bad_request",
	    "stop: timeout_ms must be between 0 and 3600000" },
	{ "{\"cmd\": \"console_attach\", \"mode\": \"read\"}", -1,
	    "bad_request",
	    "console_attach: mode must be \"watch\" or \"write\"" },
	{ "{\"cmd\": \"console_input\"}", -1, "bad_request",
	    "console_input: Object item not found: data" },
	{ "{\"cmd\": \"console_input\", \"data\": \"aGk=\"}", -1,
	    "not_writer",
	    "console_input needs console_attach with mode \"write\"" },
};

/* A request line of exactly len bytes: status with a padded id. */
static char *
ct_padded_status(size_t len)
{
	static const char head[] = "{\"cmd\": \"status\", \"id\": \"";
	char *s = malloc(len + 2);

	assert_non_null(s);
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'x', len - (sizeof(head) - 1) - 2);
	memcpy(s + len - 2, "\"}", 2);
	s[len] = '\n';
	s[len + 1] = '\0';
	return s;
}

/* Every bad line gets its exact error; the worker carries on. */
static void
test_worker_malformed(void **state)
{
	struct ct_client *c;
	struct ct_vm *v;
	char line[1024], *big;
	json_t *m;
	size_t i;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	c = ct_open(v);
	for (i = 0; i < sizeof(ct_bads) / sizeof(ct_bads[0]); i++) {
		const struct ct_bad *b = &ct_bads[i];

		snprintf(line, sizeof(line), "%s", b->line);
		ct_expect_error(ct_call(c, line), b->id < 0 ? NULL :
		    json_integer(b->id), b->code, b->message);
	}
	/* Blank lines get no reply: the next reply is the status's. */
	ct_send(c, "\n\r\n\n");
	m = ct_ok(c, "{\"cmd\": \"status\", \"id\": \"after\"}\r");
	assert_string_equal(ct_str(m, "id"), "after");
	json_decref(m);

	/* A line of exactly the limit is fine... */
	big = ct_padded_status(CT_LINE_MAX);
	ct_send(c, big);
	m = ct_next(c, CT_TIMEOUT);
	assert_non_null(m);
	assert_true(json_is_true(json_object_get(m, "ok")));
	assert_int_equal(strlen(ct_str(m, "id")), CT_LINE_MAX - 27);
	json_decref(m);
	free(big);
	/* ...one more byte is not: an error, then the end. */
	big = ct_padded_status(CT_LINE_MAX + 1);
	ct_send(c, big);
	free(big);
	m = ct_next(c, CT_TIMEOUT);
	ct_expect_error(m, NULL, "line_too_long",
	    "request line longer than 65536 bytes");
	assert_null(ct_next(c, CT_TIMEOUT));
	assert_true(c->eof);
	ct_close(c);

	/* A new client finds the worker running. */
	c = ct_open(v);
	m = ct_ok(c, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "running");
	json_decref(m);
	ct_close(c);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

/*
 * stop force: the reply, then the exit message to every client, exit
 * status 0, and the socket file is gone.
 */
static void
test_worker_stop_force(void **state)
{
	struct ct_client *w, *s;
	struct ct_vm *v;
	json_t *m, *want;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	w = ct_open(v);
	s = ct_open(v);
	json_decref(ct_ok(w, "{\"cmd\": \"console_attach\", "
	    "\"replay\": true}"));
	ct_wait_console(w, "ready\n");
	m = ct_ok(s, "{\"cmd\": \"stop\", \"force\": true, \"id\": 1}");
	want = json_pack("{s:i, s:b, s:s}", "id", 1, "ok", 1, "state",
	    "exited");
	assert_true(json_equal(m, want));
	json_decref(m);
	json_decref(want);
	want = json_pack("{s:s, s:s, s:i, s:i, s:s}", "event", "exit",
	    "reason", "poweroff", "status", 0, "code", 0,
	    "message", "forced stop");
	m = ct_next(w, CT_TIMEOUT);
	assert_non_null(m);
	assert_true(json_equal(m, want));
	json_decref(m);
	m = ct_next(s, CT_TIMEOUT);
	assert_non_null(m);
	assert_true(json_equal(m, want));
	json_decref(m);
	json_decref(want);
	assert_string_equal(w->con, "ctl_echo: ready\n");
	/* Then the connections end with the worker. */
	assert_null(ct_next(w, CT_TIMEOUT));
	assert_true(w->eof);
	assert_int_equal(wt_wait(&v->p, CT_TIMEOUT), 0);
	assert_int_equal(v->p.status, 0);
	assert_int_equal(access(v->sock, F_OK), -1);
	ct_close(w);
	ct_close(s);
	wt_cleanup(&v->p);
}

/*
 * A graceful stop the guest ignores (ctl_echo does not listen to the
 * keyboard): state "stopping", then forced off after timeout_ms, which
 * a second request can only shorten.
 */
static void
test_worker_stop_graceful(void **state)
{
	struct ct_client *c;
	struct ct_vm *v;
	json_t *m, *want;
	int64_t t0, dt;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	c = ct_open(v);
	m = ct_ok(c, "{\"cmd\": \"stop\", \"timeout_ms\": 60000}");
	assert_string_equal(ct_str(m, "state"), "stopping");
	json_decref(m);
	t0 = ct_now_ms();
	m = ct_ok(c, "{\"cmd\": \"stop\", \"timeout_ms\": 300}");
	assert_string_equal(ct_str(m, "state"), "stopping");
	json_decref(m);
	m = ct_ok(c, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "stopping");
	json_decref(m);
	/* Neither pause nor a longer deadline get in the way. */
	ct_expect_error(ct_call(c, "{\"cmd\": \"pause\"}"), NULL,
	    "bad_state", "cannot pause: the VM is stopping");
	json_decref(ct_ok(c, "{\"cmd\": \"stop\", \"timeout_ms\": 60000}"));
	m = ct_next(c, CT_TIMEOUT);
	dt = ct_now_ms() - t0;
	want = json_pack("{s:s, s:s, s:i, s:i, s:s}", "event", "exit",
	    "reason", "poweroff", "status", 0, "code", 0,
	    "message", "the guest did not stop in time; forced off");
	assert_non_null(m);
	assert_true(json_equal(m, want));
	assert_true(dt >= 250 && dt < 10000);
	json_decref(m);
	json_decref(want);
	assert_int_equal(wt_wait(&v->p, CT_TIMEOUT), 0);
	assert_int_equal(v->p.status, 0);
	ct_close(c);
	wt_cleanup(&v->p);
}

/* 32 clients at most; the 33rd is told why; a free place is taken. */
static void
test_worker_too_many_clients(void **state)
{
	struct ct_client *c[CT_CLIENTS_MAX], *extra;
	struct ct_vm *v;
	json_t *m;
	int i;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	for (i = 0; i < CT_CLIENTS_MAX; i++)
		c[i] = ct_open(v);
	extra = ct_client_fd(ct_dial(v->sock, CT_TIMEOUT));
	m = ct_next(extra, CT_TIMEOUT);
	ct_expect_error(m, NULL, "too_many_clients",
	    "too many control clients");
	assert_null(ct_next(extra, CT_TIMEOUT));
	assert_true(extra->eof);
	ct_close(extra);
	/* Every one of the 32 is served. */
	for (i = 0; i < CT_CLIENTS_MAX; i++)
		json_decref(ct_ok(c[i], "{\"cmd\": \"status\"}"));
	/* One leaves: its place is free at once for the next. */
	ct_close(c[0]);
	c[0] = ct_open(v);
	for (i = 0; i < CT_CLIENTS_MAX; i++)
		ct_close(c[i]);
	ct_stop(v, 0);
	wt_cleanup(&v->p);
}

/*
 * reset: the VM ends with "reboot" (status 10, "reset requested") for its
 * supervisor to start again; every client is told.
 */
static void
test_worker_reset(void **state)
{
	struct ct_client *c;
	struct ct_vm *v;
	json_t *m, *want;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	c = ct_open(v);
	json_decref(ct_ok(c, "{\"cmd\": \"console_attach\", "
	    "\"replay\": true}"));
	ct_wait_console(c, "ready\n");
	m = ct_ok(c, "{\"cmd\": \"reset\"}");
	assert_string_equal(ct_str(m, "state"), "exited");
	json_decref(m);
	want = json_pack("{s:s, s:s, s:i, s:i, s:s}", "event", "exit",
	    "reason", "reboot", "status", 10, "code", 0,
	    "message", "reset requested");
	m = ct_next(c, CT_TIMEOUT);
	assert_non_null(m);
	assert_true(json_equal(m, want));
	json_decref(m);
	json_decref(want);
	assert_string_equal(c->con, "ctl_echo: ready\n");
	ct_close(c);
	assert_int_equal(wt_wait(&v->p, CT_TIMEOUT), 0);
	assert_int_equal(v->p.status, 10);
	wt_cleanup(&v->p);
}

/* Start a worker for json with exactly "-S -r rundir def" and wait. */
static void
ct_run_argv(struct wt_proc *p, const char *rundir, const char *def)
{
	const char *argv[] = { WT_WORKER, "-S", "-r", rundir, def, NULL };

	wt_spawn_argv(p, "{}", argv);
	if (wt_wait(p, CT_TIMEOUT) != 0)
		fail_msg("the worker did not exit");
}

static void
ct_expect_log_line(const struct wt_proc *p, const char *line)
{
	if (p->log == NULL || strstr(p->log, line) == NULL)
		fail_msg("no \"%s\" in the log:\n%s", line,
		    p->log != NULL ? p->log : "");
}

/*
 * The socket path: a live worker's socket is never taken over, a stale
 * one is, anything else there or a path too long for a socket is a clear
 * setup error (exit status 71).
 */
static void
test_worker_socket_claims(void **state)
{
	struct wt_proc *second;
	struct sockaddr_un sun;
	struct ct_client *c;
	struct ct_vm *v;
	char dir[64], vmdir[128], def[128], line[512], longdir[256], sp[256];
	json_t *m;
	FILE *f;
	int s;

	(void)state;
	v = ct_start(WT_GUEST("ctl_echo"), 4096);
	second = &ct_vm_new()->p;
	c = ct_open(v);
	/* The same VM again, same run directory: refused. */
	ct_run_argv(second, v->p.dir, v->p.def_path);
	assert_int_equal(second->status, 71);
	snprintf(line, sizeof(line), CT_NAME ": control: %s: another worker "
	    "of this VM is running (its control socket answers)\n", v->sock);
	ct_expect_log_line(second, line);
	ct_expect_log_line(second, CT_NAME ": control socket: Address "
	    "already in use\n");
	wt_cleanup(second);
	m = ct_ok(c, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "running");
	json_decref(m);
	ct_close(c);
	ct_stop(v, 0);
	wt_cleanup(&v->p);

	/* A dead worker's socket is replaced. */
	snprintf(dir, sizeof(dir), "/tmp/vmmct.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(vmdir, sizeof(vmdir), "%s/vm", dir);
	assert_int_equal(mkdir(vmdir, 0700), 0);
	snprintf(def, sizeof(def), "%s/def.json", dir);
	f = fopen(def, "w");
	assert_non_null(f);
	fputs(ct_def(WT_GUEST("ctl_echo"), 4096), f);
	fclose(f);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sp, sizeof(sp), "%s/" CT_UUID ".sock", vmdir);
	assert_true(strlen(sp) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, sp);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	{
		const char *argv[] = { WT_WORKER, "-S", "-r", dir, def, NULL };

		wt_spawn_argv(&v->p, "{}", argv);
	}
	snprintf(v->sock, sizeof(v->sock), "%s", sun.sun_path);
	c = ct_open(v);
	m = ct_ok(c, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "running");
	json_decref(m);
	ct_close(c);
	ct_stop(v, 0);
	snprintf(line, sizeof(line), CT_NAME ": control: removed the stale "
	    "socket %s\n", sun.sun_path);
	ct_expect_log_line(&v->p, line);
	wt_cleanup(&v->p);

	/* Not a socket: left alone, refused. */
	f = fopen(sun.sun_path, "w");
	assert_non_null(f);
	fclose(f);
	ct_run_argv(second, dir, def);
	assert_int_equal(second->status, 71);
	snprintf(line, sizeof(line), CT_NAME ": control: %s exists and is "
	    "not a socket\n", sun.sun_path);
	ct_expect_log_line(second, line);
	ct_expect_log_line(second, CT_NAME ": control socket: File exists\n");
	assert_int_equal(access(sun.sun_path, F_OK), 0);
	wt_cleanup(second);

	/* A run directory too long for a socket path. */
	snprintf(longdir, sizeof(longdir), "%s/%0100d", dir, 0);
	ct_run_argv(second, longdir, def);
	assert_int_equal(second->status, 71);
	snprintf(line, sizeof(line), CT_NAME ": control: %s/vm/" CT_UUID
	    ".sock: longer than a socket path can be (107 bytes)\n", longdir);
	ct_expect_log_line(second, line);
	wt_cleanup(second);

	unlink(sun.sun_path);
	unlink(def);
	snprintf(line, sizeof(line), "%s/vm", longdir);
	rmdir(line);
	rmdir(longdir);
	rmdir(vmdir);
	rmdir(dir);
}

/*
 * The worker outlives its parent: a child starts it (as vmmd would: its
 * stdout and stderr are pipes the child reads) and exits, taking the read
 * ends of those pipes with it.  The worker keeps running, its console
 * output is dropped and counted, and a new controller finds it through
 * the socket.  This process is the subreaper that inherits it.  (Not
 * wt_spawn: its workers die with their parent, on purpose.)
 */
static void
test_worker_survives_parent(void **state)
{
	struct ct_client *c;
	struct ct_vm *v;
	pid_t mid, wpid;
	int pp[2], st;
	json_t *m, *con;
	FILE *f;

	(void)state;
	wt_require_worker();
	v = ct_vm_new();
	snprintf(v->p.dir, sizeof(v->p.dir), "/tmp/vmmwt.XXXXXX");
	assert_non_null(mkdtemp(v->p.dir));
	snprintf(v->p.def_path, sizeof(v->p.def_path), "%s/def.json",
	    v->p.dir);
	assert_non_null(f = fopen(v->p.def_path, "w"));
	fputs(ct_def(WT_GUEST("ctl_count"), 4096), f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	if ((mid = fork()) == 0) {
		int out[2], err[2];

		if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1)
			_exit(1);
		if ((wpid = fork()) == 0) {
			dup2(out[1], STDOUT_FILENO);
			dup2(err[1], STDERR_FILENO);
			execl(WT_WORKER, WT_WORKER, "-S", "-r", v->p.dir,
			    v->p.def_path, (char *)NULL);
			_exit(127);
		}
		if (write(pp[1], &wpid, sizeof(wpid)) != (ssize_t)sizeof(wpid))
			_exit(1);
		_exit(0);
	}
	close(pp[1]);
	assert_int_equal(read(pp[0], &wpid, sizeof(wpid)), sizeof(wpid));
	close(pp[0]);
	assert_int_equal(waitpid(mid, &st, 0), mid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	v->p.pid = wpid;
	wt_sock_path(&v->p, CT_UUID, v->sock, sizeof(v->sock));

	/* The worker must not die of its broken pipes. */
	while (access(v->sock, F_OK) != 0) {
		if (wt_wait(&v->p, 10) == 0)
			fail_msg("the orphaned worker ended with status %d",
			    v->p.status);
	}
	c = ct_open(v);
	json_decref(ct_ok(c, "{\"cmd\": \"console_attach\", "
	    "\"replay\": true}"));
	ct_wait_console(c, "tick 0003\n");
	ct_assert_ticks(c->con, c->conlen);
	m = ct_ok(c, "{\"cmd\": \"status\"}");
	assert_string_equal(ct_str(m, "state"), "running");
	assert_int_equal(ct_int(m, "pid"), wpid);
	json_decref(m);
	/* Nobody reads its stdout: the console bytes are dropped there. */
	m = ct_ok(c, "{\"cmd\": \"stats\"}");
	con = json_object_get(m, "console");
	assert_true(ct_int(con, "dropped") > 0);
	assert_true(ct_int(con, "dropped") <= ct_int(con, "bytes"));
	json_decref(m);
	ct_close(c);
	/* Another controller, later: still there, still printing. */
	c = ct_open(v);
	json_decref(ct_ok(c, "{\"cmd\": \"console_attach\"}"));
	ct_wait_console(c, "\n");
	json_decref(ct_ok(c, "{\"cmd\": \"stop\", \"force\": true}"));
	m = ct_next(c, CT_TIMEOUT);
	assert_non_null(m);
	assert_string_equal(ct_str(m, "event"), "exit");
	assert_string_equal(ct_str(m, "reason"), "poweroff");
	json_decref(m);
	ct_close(c);
	/* Reaped here, as the subreaper. */
	assert_int_equal(wt_wait(&v->p, CT_TIMEOUT), 0);
	assert_int_equal(v->p.status, 0);
}

/*
 * After every test, passed or failed: no worker of ours left running, no
 * run directory left behind, no in-process control socket, and this
 * process no longer a subreaper.
 */
static int
ct_teardown(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < ct_nvms; i++)
		wt_cleanup(&ct_vms[i].p);
	ct_nvms = 0;
	if (ct_ilive)
		ct_idown();
	(void)prctl(PR_SET_CHILD_SUBREAPER, 0);
	return 0;
}

#define CT_TEST(t)	cmocka_unit_test_teardown(t, ct_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CT_TEST(test_console_scrollback),
		CT_TEST(test_console_read_lost),
		CT_TEST(test_console_out_never_blocks),
		CT_TEST(test_console_watchers),
		CT_TEST(test_console_input),
		CT_TEST(test_control_slow_watcher),
		CT_TEST(test_control_lost_positions),
		CT_TEST(test_control_nonreader_dropped),
		CT_TEST(test_control_peer_refused),
		CT_TEST(test_control_base64_random),
		CT_TEST(test_control_final),
		CT_TEST(test_worker_handshake),
		CT_TEST(test_worker_stats),
		CT_TEST(test_worker_pause_resume),
		CT_TEST(test_worker_console_attach),
		CT_TEST(test_worker_scrollback),
		CT_TEST(test_worker_malformed),
		CT_TEST(test_worker_stop_force),
		CT_TEST(test_worker_stop_graceful),
		CT_TEST(test_worker_too_many_clients),
		CT_TEST(test_worker_reset),
		CT_TEST(test_worker_socket_claims),
		CT_TEST(test_worker_survives_parent),
	};

	/* CT_FILTER=test_worker_* runs only the tests it matches. */
	if (getenv("CT_FILTER") != NULL)
		cmocka_set_test_filter(getenv("CT_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
