/*
 * test_sup.c: vmmd's supervisor (vmmd/sup*.c) with a real libuv loop, a
 * real SQLite file in a fresh temporary directory, the real vmm-worker
 * and real guests.  A struct vmmd is built by hand (no server: the
 * requester is a struct peer, watchers are not involved).  Each case
 * checks the operation's completion, the runtime row and the "vm.state"
 * events with exact values.  proto/base64 is checked here too, since the
 * supervisor is its user on vmmd's side.
 */

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "base64.h"
#include "config.h"
#include "db.h"
#include "sup.h"
#include "vmdef.h"
#include "vmmd.h"
#include "workertest.h"

#define T_WAIT		20000	/* ms for anything a worker does */
#define T_WHO		"uid 0 pid 4242"
#define UUID_A		"5a000000-0000-4000-8000-000000000001"
#define UUID_B		"5a000000-0000-4000-8000-000000000002"
#define UUID_C		"5a000000-0000-4000-8000-000000000003"

static const struct peer t_peer = {
	.role = RPC_ROLE_ADMIN, .uid = 0, .gid = 0, .pid = 4242, .who = T_WHO,
};

struct fx {
	char dir[64];
	char dbpath[128];
	struct vmmd d;
	uv_loop_t loop;
	uv_timer_t tick;
	bool sup_down;
};

/* One operation's completion. */
struct res {
	bool done;
	json_t *result;
	int code;
	char msg[RPC_TEXT_MAX];
	json_t *data;
};

/* -------------------------------------------------------------------------- */
/* Helpers. */

static void
res_done(void *arg, json_t *result, struct rpc_error *err)
{
	struct res *r = arg;

	assert_false(r->done);		/* exactly once */
	r->done = true;
	r->result = result;
	if (err != NULL) {
		r->code = err->code;
		snprintf(r->msg, sizeof(r->msg), "%s", err->message);
		r->data = err->data;
		err->data = NULL;
	}
}

/* The same, for a child process with no cmocka around it. */
static void
res_done_plain(void *arg, json_t *result, struct rpc_error *err)
{
	struct res *r = arg;

	r->done = true;
	json_decref(result);
	r->code = err != NULL ? err->code : 0;
}

static void
res_clear(struct res *r)
{
	json_decref(r->result);
	json_decref(r->data);
	memset(r, 0, sizeof(*r));
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
tick_cb(uv_timer_t *h)
{
}

struct fx;
typedef bool fx_cond(struct fx *f, void *arg);
static bool	fx_run_until(struct fx *f, fx_cond *cond, void *arg, int ms);

static bool
cond_flag(struct fx *f, void *arg)
{
	return *(bool *)arg;
}

static void
fx_sup_up(struct fx *f)
{
	assert_int_equal(sup_init(&f->d), 0);
	assert_int_equal(sup_start_all(f->d.sup), 0);
	f->sup_down = false;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	signal(SIGPIPE, SIG_IGN);	/* as vmmd does */
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_sup.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->dbpath, sizeof(f->dbpath), "%s/vmmd.db", f->dir);
	if (db_open(f->dbpath, &f->d.db, err, sizeof(err)) != 0)
		fail_msg("db_open: %s", err);
	config_defaults(&f->d.cfg);
	snprintf(f->d.cfg.run_dir, sizeof(f->d.cfg.run_dir), "%s/run",
	    f->dir);
	snprintf(f->d.cfg.worker, sizeof(f->d.cfg.worker), "%s", WT_WORKER);
	/* Root's workers drop to this user after setup. */
	snprintf(f->d.cfg.worker_user, sizeof(f->d.cfg.worker_user),
	    "nobody");
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	/* The loop wakes up every 10 ms, so that waits can poll. */
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, tick_cb, 10, 10);
	vmmd_log_init(true, getenv("TEST_SUP_VERBOSE") != NULL ?
	    CONFIG_LOG_DEBUG : CONFIG_LOG_WARN);
	fx_sup_up(f);
	*state = f;
	return 0;
}

static void
shut_cb(void *arg)
{
	*(bool *)arg = true;
}

/* Close the supervisor, leaving the workers running. */
static void
fx_sup_down(struct fx *f)
{
	bool done = false;

	if (f->sup_down)
		return;
	sup_shutdown(f->d.sup, shut_cb, &done);
	if (!fx_run_until(f, cond_flag, &done, T_WAIT))
		fail_msg("the supervisor's shutdown did not end");
	sup_free(f->d.sup);
	f->sup_down = true;
}

static int
kill_worker(void *arg, const struct db_vm *vm)
{
	struct fx *f = arg;
	struct db_runtime rt;

	if (db_runtime_get(f->d.db, vm->uuid, &rt) == 0 && rt.pid > 0 &&
	    kill((pid_t)rt.pid, SIGKILL) == 0)
		(void)waitpid((pid_t)rt.pid, NULL, 0);
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fx_sup_down(f);
	/* Whatever still runs (a failed case) goes now. */
	(void)db_vm_list(f->d.db, 0, kill_worker, f);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	/* Nothing of the supervisor's is left on the loop. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	db_close(f->d.db);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Define a raw guest; extra is more of the definition's members. */
static void
fx_define(struct fx *f, const char *name, const char *uuid,
    const char *kernel, const char *extra)
{
	struct vmdef_errors errs = { NULL, 0 };
	struct vmdef def;
	char json[2048];

	snprintf(json, sizeof(json), "{\"name\": \"%s\", \"uuid\": \"%s\", "
	    "\"memory\": {\"size_mib\": 4}, \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"%s\", \"load_address\": 4096}%s%s}", name, uuid,
	    kernel, extra != NULL ? ", " : "", extra != NULL ? extra : "");
	memset(&def, 0, sizeof(def));
	if (vmdef_parse(json, strlen(json), &def, &errs) != 0)
		fail_msg("%s: %s: %s", json, errs.n ? errs.v[0].path : "",
		    errs.n ? errs.v[0].msg : "");
	assert_int_equal(db_vm_put(f->d.db, &def, false, T_WHO), 0);
	vmdef_free(&def);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until cond holds or ms pass: whether it holds. */
static bool
fx_run_until(struct fx *f, fx_cond *cond, void *arg, int ms)
{
	int64_t end = now_ms() + ms;

	while (!cond(f, arg)) {
		if (now_ms() >= end)
			return false;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	return true;
}

static bool
cond_done(struct fx *f, void *arg)
{
	return ((struct res *)arg)->done;
}

/* Wait for r and check that it succeeded with a null result. */
static void
fx_wait_ok(struct fx *f, struct res *r)
{
	if (!fx_run_until(f, cond_done, r, T_WAIT))
		fail_msg("the operation did not finish in %d ms", T_WAIT);
	if (r->code != 0)
		fail_msg("failed: %d %s", r->code, r->msg);
	assert_null(r->result);
}

static struct db_runtime
fx_rt(struct fx *f, const char *uuid)
{
	struct db_runtime rt;

	assert_int_equal(db_runtime_get(f->d.db, uuid, &rt), 0);
	return rt;
}

/* The whole console log of name (decoded, NUL-terminated), and total. */
static char *
fx_console(struct fx *f, const char *name, size_t bytes, size_t *n,
    json_int_t *total)
{
	struct rpc_error err;
	json_t *r = NULL;
	const char *b64;
	json_int_t nbytes;
	char *out;
	ssize_t len;

	memset(&err, 0, sizeof(err));
	if (sup_console_log(f->d.sup, name, bytes, false, NULL, &r, &err) !=
	    0)
		fail_msg("console_log: %s", err.message);
	assert_int_equal(json_unpack(r, "{s:s, s:I, s:I}", "data", &b64,
	    "bytes", &nbytes, "total", total), 0);
	out = malloc(B64_DECODE_MAX(strlen(b64)) + 1);
	assert_non_null(out);
	len = b64_decode(b64, strlen(b64), out);
	assert_true(len >= 0);
	assert_int_equal(len, nbytes);
	out[len] = '\0';
	if (n != NULL)
		*n = (size_t)len;
	json_decref(r);
	return out;
}

struct cond_console {
	const char *name;
	const char *needle;
};

static bool
cond_console(struct fx *f, void *arg)
{
	struct cond_console *c = arg;
	json_int_t total;
	char *s = fx_console(f, c->name, 0, NULL, &total);
	bool found = strstr(s, c->needle) != NULL;

	free(s);
	return found;
}

static void
fx_wait_console(struct fx *f, const char *name, const char *needle)
{
	struct cond_console c = { name, needle };

	if (!fx_run_until(f, cond_console, &c, T_WAIT))
		fail_msg("%s's console never showed \"%s\"", name, needle);
}

/* The "vm.state" events of uuid: "from>to who" joined by "; ". */
struct evs {
	const char *uuid;
	char buf[4096];
};

static int
ev_cb(void *arg, const struct db_event *ev)
{
	struct evs *e = arg;
	json_t *d;
	size_t len = strlen(e->buf);

	if (strcmp(ev->kind, "vm.state") != 0 || ev->vm == NULL ||
	    strcmp(ev->vm, e->uuid) != 0)
		return 0;
	assert_string_equal(ev->result, "ok");
	assert_non_null(d = json_loads(ev->detail, 0, NULL));
	snprintf(e->buf + len, sizeof(e->buf) - len, "%s%s>%s %s",
	    len > 0 ? "; " : "",
	    json_string_value(json_object_get(d, "from")),
	    json_string_value(json_object_get(d, "to")), ev->who);
	json_decref(d);
	return 0;
}

static const char *
fx_events(struct fx *f, const char *uuid, struct evs *e)
{
	memset(e, 0, sizeof(*e));
	e->uuid = uuid;
	assert_int_equal(db_events_since(f->d.db, 0, DB_EVENTS_PAGE_MAX,
	    ev_cb, e), 0);
	return e->buf;
}

/* The last "vm.state" event's detail for uuid (caller decrefs). */
static int
last_cb(void *arg, const struct db_event *ev)
{
	json_t **out = arg;

	if (strcmp(ev->kind, "vm.state") == 0 && ev->detail != NULL) {
		json_decref(*out);
		*out = json_loads(ev->detail, 0, NULL);
	}
	return 0;
}

/*
 * The ticks of ctl_count in s: the number of the first and last complete
 * "tick NNNN" lines; fails unless they follow one another without a gap.
 */
static void
ticks_check(const char *s, int *first, int *last)
{
	const char *p = s, *nl;
	int n, prev = -1, lines = 0;

	/* The first line may be cut by the ring: start after a newline. */
	if (strncmp(p, "tick ", 5) != 0 && (p = strchr(p, '\n')) != NULL)
		p++;
	for (; p != NULL && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		if (nl - p != 9 || sscanf(p, "tick %4d", &n) != 1)
			fail_msg("not a tick line: %.*s", (int)(nl - p), p);
		if (prev != -1 && n != (prev + 1) % 10000)
			fail_msg("tick %04d after tick %04d", n, prev);
		if (prev == -1)
			*first = n;
		prev = n;
		lines++;
	}
	assert_true(lines > 0);
	*last = prev;
}

/* A raw guest image path. */
#define GUEST(name)	WT_GUEST(name)

/* -------------------------------------------------------------------------- */
/* base64 (proto/base64.c). */

static void
test_base64(void **state)
{
	static const struct {
		const char *plain, *b64;
	} vec[] = {	/* RFC 4648 section 10 */
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "====", "Zm9v=Zg=", "Zm9\x01", "Zm 9",
		"Zg=a", "=Zm9",
	};
	uint8_t raw[300], back[300];
	char enc[B64_ENCODE_SIZE(300)];
	size_t i, len, k;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		b64_encode(vec[i].plain, strlen(vec[i].plain), enc);
		assert_string_equal(enc, vec[i].b64);
		assert_int_equal(b64_decode(enc, strlen(enc), back),
		    strlen(vec[i].plain));
		assert_memory_equal(back, vec[i].plain, strlen(vec[i].plain));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode(bad[i], strlen(bad[i]), back),
		    -EINVAL);
	/* Random bytes: the size macros hold and every text decodes back. */
	srand(7);
	for (i = 0; i < 2000; i++) {
		len = (size_t)rand() % sizeof(raw);
		for (k = 0; k < len; k++)
			raw[k] = (uint8_t)rand();
		b64_encode(raw, len, enc);
		assert_int_equal(strlen(enc) + 1, B64_ENCODE_SIZE(len));
		assert_true(B64_DECODE_MAX(strlen(enc)) >= len);
		assert_int_equal(b64_decode(enc, strlen(enc), back), len);
		assert_memory_equal(back, raw, len);
	}
}

/* -------------------------------------------------------------------------- */
/* Starting and stopping. */

/*
 * dev_cad: two starts join (both answered once it runs), the runtime
 * row, a refused third start, then a graceful stop: Ctrl-Alt-Del, which
 * the guest answers by printing the scancodes and halting.
 */
static void
test_start_and_graceful_stop(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct res r1, r2, r3;
	struct db_runtime rt;
	struct evs e;
	json_int_t total;
	int64_t t0;
	char path[1100], *con;
	size_t n;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	fx_define(f, "cad", UUID_A, GUEST("dev_cad"), NULL);

	t0 = vmmd_now_ms();
	assert_int_equal(sup_start(f->d.sup, &t_peer, "cad", res_done, &r1,
	    &err), 0);
	assert_int_equal(fx_rt(f, UUID_A).state, DB_STATE_STARTING);
	assert_int_equal(sup_start(f->d.sup, &t_peer, "cad", res_done, &r2,
	    &err), 0);
	assert_false(r1.done);		/* never from inside the call */
	fx_wait_ok(f, &r1);
	fx_wait_ok(f, &r2);

	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_RUNNING);
	assert_true(rt.pid > 0);
	assert_int_equal(kill((pid_t)rt.pid, 0), 0);
	assert_true(rt.started_at >= t0 && rt.started_at <= vmmd_now_ms());
	snprintf(path, sizeof(path), "%s/vm/%s.sock", f->d.cfg.run_dir,
	    UUID_A);
	assert_string_equal(rt.socket, path);
	assert_int_equal(rt.restart_count, 0);
	assert_string_equal(rt.exit_reason, "");
	assert_int_equal(sup_active(f->d.sup), 1);

	/* A running VM cannot be started; an unknown one is not found. */
	assert_int_equal(sup_start(f->d.sup, &t_peer, "cad", res_done, &r3,
	    &err), RPC_E_INVALID_STATE);
	assert_int_equal(err.code, -32003);
	assert_string_equal(err.message, "cannot start: the VM is running");
	assert_string_equal(json_string_value(json_object_get(err.data,
	    "state")), "running");
	rpc_error_clear(&err);
	assert_int_equal(sup_start(f->d.sup, &t_peer, "nope", res_done, &r3,
	    &err), RPC_E_NOT_FOUND);
	assert_string_equal(err.message, "no VM named \"nope\"");
	rpc_error_clear(&err);
	assert_false(r3.done);

	fx_wait_console(f, "cad", "cad: ready\n");
	assert_int_equal(sup_stop(f->d.sup, &t_peer, "cad", false, 0,
	    res_done, &r3, &err), 0);
	assert_int_equal(fx_rt(f, UUID_A).state, DB_STATE_STOPPING);
	fx_wait_ok(f, &r3);

	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_int_equal(rt.pid, 0);
	assert_string_equal(rt.socket, "");
	/* Without a debug-exit port, its last "cli; hlt" powers it off. */
	assert_string_equal(rt.exit_reason, "poweroff");
	assert_int_equal(rt.exit_status, 0);
	assert_string_equal(rt.exit_message, "poweroff: stopped on request");
	assert_int_equal(sup_active(f->d.sup), 0);

	/* The mirror outlives the worker, with every byte. */
	con = fx_console(f, "cad", 0, &n, &total);
	assert_string_equal(con, "cad: ready\ncad: 1d 38 e0 53 e0 d3 b8 9d\n");
	assert_int_equal(total, n);
	free(con);

	assert_string_equal(fx_events(f, UUID_A, &e),
	    "defined>starting " T_WHO "; starting>running " T_WHO "; "
	    "running>stopping " T_WHO "; stopping>stopped " T_WHO);
	res_clear(&r1);
	res_clear(&r2);
	res_clear(&r3);
}

/*
 * ctl_count with a 1000-byte scrollback: a forced stop, and the mirror's
 * ring after it has wrapped (the newest bytes, exact totals).
 */
static void
test_forced_stop_and_console_log(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct res r;
	struct db_runtime rt;
	json_int_t total, total2;
	char *all, *tail;
	int first, last;
	size_t n, m;
	json_t *res = NULL;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	fx_define(f, "count", UUID_A, GUEST("ctl_count"),
	    "\"devices\": {\"console\": {\"scrollback\": 1000}}");
	fx_define(f, "idle", UUID_B, GUEST("hello"), NULL);

	/* A VM that never ran has an empty log. */
	assert_int_equal(sup_console_log(f->d.sup, "idle", 0, false, NULL,
	    &res, &err), 0);
	assert_string_equal(json_string_value(json_object_get(res, "data")),
	    "");
	assert_int_equal(json_integer_value(json_object_get(res, "bytes")),
	    0);
	assert_int_equal(json_integer_value(json_object_get(res, "total")),
	    0);
	json_decref(res);
	assert_int_equal(sup_console_log(f->d.sup, "nope", 0, false, NULL,
	    &res, &err), RPC_E_NOT_FOUND);
	assert_string_equal(err.message, "no VM named \"nope\"");
	rpc_error_clear(&err);

	assert_int_equal(sup_start(f->d.sup, &t_peer, "count", res_done, &r,
	    &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	/* 150 ticks of 10 bytes: the 1000-byte ring has wrapped. */
	fx_wait_console(f, "count", "tick 0150\n");

	assert_int_equal(sup_stop(f->d.sup, &t_peer, "count", true, 0,
	    res_done, &r, &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_string_equal(rt.exit_reason, "poweroff");
	assert_int_equal(rt.exit_status, 0);
	assert_string_equal(rt.exit_message, "poweroff: stopped on request");

	/* All it keeps: the newest 1000 bytes, continuous ticks. */
	all = fx_console(f, "count", 0, &n, &total);
	assert_int_equal(n, 1000);
	assert_true(total >= 1500);
	ticks_check(all, &first, &last);
	assert_true(last >= 150);
	/* Every byte ever written is counted (the stop may cut a line). */
	assert_true(total >= (last + 1) * 10 && total < (last + 2) * 10);
	/* The last 25 bytes, and more than there is. */
	tail = fx_console(f, "count", 25, &m, &total2);
	assert_int_equal(m, 25);
	assert_int_equal(total2, total);
	assert_memory_equal(tail, all + n - 25, 25);
	free(tail);
	tail = fx_console(f, "count", 1 << 20, &m, &total2);
	assert_int_equal(m, 1000);
	assert_string_equal(tail, all);
	free(tail);
	free(all);

	/* A stopped VM cannot be stopped, nor its console watched. */
	assert_int_equal(sup_stop(f->d.sup, &t_peer, "count", true, 0,
	    res_done, &r, &err), RPC_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot force a stop: the VM is "
	    "stopped");
	rpc_error_clear(&err);
	assert_false(r.done);
	assert_int_equal(sup_console_attach(f->d.sup, "count", NULL, &err),
	    RPC_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot attach to the console: the "
	    "VM is stopped");
	rpc_error_clear(&err);
	assert_int_equal(sup_console_log(f->d.sup, "count", 0, true, NULL,
	    &res, &err), RPC_E_INVALID_STATE);
	assert_null(res);
	rpc_error_clear(&err);
	assert_int_equal(sup_console_attach(f->d.sup, "nope", NULL, &err),
	    RPC_E_NOT_FOUND);
	rpc_error_clear(&err);
}

/* A kernel that does not exist: the worker's own words in the error. */
static void
test_missing_kernel(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct res r;
	struct db_runtime rt;
	json_t *log;
	struct evs e;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	fx_define(f, "nok", UUID_A, "/nonexistent/k.bin", NULL);
	assert_int_equal(sup_start(f->d.sup, &t_peer, "nok", res_done, &r,
	    &err), 0);
	if (!fx_run_until(f, cond_done, &r, T_WAIT))
		fail_msg("no answer");
	assert_int_equal(r.code, RPC_E_FAILED);
	assert_string_equal(r.msg, "the worker exited during start: nok: "
	    "kernel /nonexistent/k.bin: No such file or directory");
	assert_string_equal(json_string_value(json_object_get(r.data,
	    "reason")), "unusable-file");
	assert_int_equal(json_integer_value(json_object_get(r.data,
	    "status")), 66);
	log = json_object_get(r.data, "log");
	assert_true(json_array_size(log) >= 1);
	assert_string_equal(json_string_value(json_array_get(log,
	    json_array_size(log) - 1)), "nok: kernel /nonexistent/k.bin: "
	    "No such file or directory");

	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_CRASHED);
	assert_string_equal(rt.exit_reason, "unusable-file");
	assert_int_equal(rt.exit_status, 66);
	assert_string_equal(rt.exit_message, "unusable-file: setup failed, "
	    "not restarted");
	assert_string_equal(fx_events(f, UUID_A, &e),
	    "defined>starting " T_WHO "; starting>crashed vmmd");
	res_clear(&r);

	/* A worker binary that cannot run: the same path, status 71. */
	snprintf(f->d.cfg.worker, sizeof(f->d.cfg.worker), "%s/none",
	    f->dir);
	fx_define(f, "nobin", UUID_B, GUEST("hello"), NULL);
	assert_int_equal(sup_start(f->d.sup, &t_peer, "nobin", res_done, &r,
	    &err), 0);
	assert_false(r.done);
	if (!fx_run_until(f, cond_done, &r, T_WAIT))
		fail_msg("no answer");
	assert_int_equal(r.code, RPC_E_FAILED);
	assert_true(strstr(r.msg, "/none: No such file or directory") !=
	    NULL);
	assert_int_equal(fx_rt(f, UUID_B).state, DB_STATE_CRASHED);
	assert_string_equal(fx_rt(f, UUID_B).exit_reason, "os-error");
	res_clear(&r);
}

/* -------------------------------------------------------------------------- */
/* Exits and the policy. */

struct cond_rt {
	const char *uuid;
	enum db_state state;
	int64_t not_pid;	/* a pid it must not have */
	bool no_pid;		/* pid must be 0 */
};

static bool
cond_rt(struct fx *f, void *arg)
{
	struct cond_rt *c = arg;
	struct db_runtime rt = fx_rt(f, c->uuid);

	return rt.state == c->state && rt.pid != c->not_pid &&
	    (c->no_pid ? rt.pid == 0 : rt.pid > 0);
}

static void
fx_wait_rt(struct fx *f, const char *uuid, enum db_state state,
    int64_t not_pid, bool no_pid)
{
	struct cond_rt c = { uuid, state, not_pid, no_pid };

	if (!fx_run_until(f, cond_rt, &c, T_WAIT))
		fail_msg("%s never became %s", uuid, db_state_name(state));
}

static void
fx_start(struct fx *f, const char *name)
{
	struct rpc_error err;
	struct res r;

	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	if (sup_start(f->d.sup, &t_peer, name, res_done, &r, &err) != 0)
		fail_msg("start %s: %s", name, err.message);
	fx_wait_ok(f, &r);
	res_clear(&r);
}

/*
 * kill -9 with on_crash restart: a new worker at once (restart_count 1);
 * killed again, the restart waits out a 1 s backoff, and a stop then
 * cancels it at once.
 */
static void
test_kill_restart_and_cancel(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct db_runtime rt;
	int64_t pid1, pid2, t0;
	struct res r;
	struct evs e;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	fx_define(f, "crashy", UUID_A, GUEST("ctl_count"),
	    "\"on_crash\": \"restart\"");
	fx_start(f, "crashy");
	pid1 = fx_rt(f, UUID_A).pid;

	assert_int_equal(kill((pid_t)pid1, SIGKILL), 0);
	fx_wait_rt(f, UUID_A, DB_STATE_RUNNING, pid1, false);
	rt = fx_rt(f, UUID_A);
	pid2 = rt.pid;
	assert_int_equal(kill((pid_t)pid2, 0), 0);
	assert_int_equal(rt.restart_count, 1);
	assert_string_equal(rt.exit_reason, "signal 9");
	assert_int_equal(rt.exit_status, 137);
	assert_string_equal(rt.exit_message, "signal 9: restart in 0 ms");

	assert_int_equal(kill((pid_t)pid2, SIGKILL), 0);
	fx_wait_rt(f, UUID_A, DB_STATE_STARTING, -1, true);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.restart_count, 2);
	assert_string_equal(rt.exit_message, "signal 9: restart in 1000 ms");
	assert_int_equal(sup_active(f->d.sup), 0);

	t0 = now_ms();
	assert_int_equal(sup_stop(f->d.sup, &t_peer, "crashy", false, 0,
	    res_done, &r, &err), 0);
	assert_false(r.done);
	fx_wait_ok(f, &r);
	assert_true(now_ms() - t0 < 500);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_int_equal(rt.pid, 0);
	/* The backoff's timer is gone: nothing starts later. */
	fx_run_until(f, cond_done, &(struct res){ 0 }, 1300);
	assert_int_equal(fx_rt(f, UUID_A).state, DB_STATE_STOPPED);
	assert_string_equal(fx_events(f, UUID_A, &e),
	    "defined>starting " T_WHO "; starting>running " T_WHO "; "
	    "running>starting vmmd; starting>running vmmd; "
	    "running>starting vmmd; starting>stopped " T_WHO);
	res_clear(&r);
}

/*
 * The policy's other outcomes: a triple fault kept for inspection
 * (on_crash preserve; the start itself succeeded: the guest ran), and
 * a worker killed with on_crash destroy.
 */
static void
test_crash_policies(void **state)
{
	struct fx *f = *state;
	struct db_runtime rt;
	int64_t pid;

	wt_require_worker();
	fx_define(f, "tf", UUID_A, GUEST("wk_triple"),
	    "\"on_crash\": \"preserve\"");
	fx_start(f, "tf");
	fx_wait_rt(f, UUID_A, DB_STATE_CRASHED, -1, true);
	rt = fx_rt(f, UUID_A);
	assert_string_equal(rt.exit_reason, "triple-fault");
	assert_int_equal(rt.exit_status, 11);
	assert_string_equal(rt.exit_message, "triple-fault: on_crash is "
	    "preserve");
	assert_int_equal(rt.restart_count, 0);

	fx_define(f, "gone", UUID_B, GUEST("ctl_count"), NULL);
	fx_start(f, "gone");
	pid = fx_rt(f, UUID_B).pid;
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	fx_wait_rt(f, UUID_B, DB_STATE_STOPPED, -1, true);
	rt = fx_rt(f, UUID_B);
	assert_string_equal(rt.exit_reason, "signal 9");
	assert_int_equal(rt.exit_status, 137);
	assert_string_equal(rt.exit_message, "signal 9: on_crash is destroy");
}

/*
 * vm.restart: the stop, then a new worker, answered once it runs; all
 * recorded for the requester.  A stopped VM cannot be restarted.
 */
static void
test_restart(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct db_runtime rt;
	struct res r;
	struct evs e;
	int64_t pid;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	fx_define(f, "again", UUID_A, GUEST("ctl_count"), NULL);
	fx_start(f, "again");
	pid = fx_rt(f, UUID_A).pid;
	assert_int_equal(sup_restart(f->d.sup, &t_peer, "again", true, 0,
	    res_done, &r, &err), 0);
	assert_int_equal(fx_rt(f, UUID_A).state, DB_STATE_STOPPING);
	fx_wait_ok(f, &r);
	res_clear(&r);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_RUNNING);
	assert_true(rt.pid > 0 && rt.pid != pid);
	assert_int_equal(kill((pid_t)pid, 0), -1);
	assert_string_equal(rt.exit_reason, "poweroff");
	assert_int_equal(rt.restart_count, 0);
	assert_string_equal(fx_events(f, UUID_A, &e),
	    "defined>starting " T_WHO "; starting>running " T_WHO "; "
	    "running>stopping " T_WHO "; stopping>stopped " T_WHO "; "
	    "stopped>starting " T_WHO "; starting>running " T_WHO);

	assert_int_equal(sup_stop(f->d.sup, &t_peer, "again", true, 0,
	    res_done, &r, &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	assert_int_equal(sup_restart(f->d.sup, &t_peer, "again", false, 0,
	    res_done, &r, &err), RPC_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot stop: the VM is stopped");
	rpc_error_clear(&err);
}

/* -------------------------------------------------------------------------- */
/* Requests through the control socket. */

static void
test_pause_stats_input_reset(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct res r, r2;
	struct db_runtime rt;
	int64_t pid;
	json_t *v;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	memset(&r2, 0, sizeof(r2));
	fx_define(f, "ops", UUID_A, GUEST("ctl_count"), NULL);
	fx_start(f, "ops");
	pid = fx_rt(f, UUID_A).pid;

	/* Two pauses at once: the second is busy. */
	assert_int_equal(sup_pause(f->d.sup, &t_peer, "ops", res_done, &r,
	    &err), 0);
	assert_int_equal(sup_pause(f->d.sup, &t_peer, "ops", res_done, &r2,
	    &err), RPC_E_BUSY);
	assert_string_equal(err.message, "a pause of this VM is under way");
	rpc_error_clear(&err);
	fx_wait_ok(f, &r);
	res_clear(&r);
	assert_int_equal(fx_rt(f, UUID_A).state, DB_STATE_PAUSED);
	assert_int_equal(sup_pause(f->d.sup, &t_peer, "ops", res_done, &r,
	    &err), RPC_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot pause: the VM is paused");
	rpc_error_clear(&err);

	assert_int_equal(sup_stats(f->d.sup, "ops", res_done, &r, &err), 0);
	if (!fx_run_until(f, cond_done, &r, T_WAIT))
		fail_msg("no stats");
	assert_int_equal(r.code, 0);
	assert_string_equal(json_string_value(json_object_get(r.result,
	    "name")), "ops");
	assert_string_equal(json_string_value(json_object_get(r.result,
	    "state")), "paused");
	assert_true(json_integer_value(json_object_get(r.result,
	    "uptime_ms")) >= 0);
	assert_int_equal(json_integer_value(json_object_get(r.result,
	    "ram_bytes")), 4 << 20);
	v = json_object_get(r.result, "vcpus");
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(v, 0), "state")), "paused");
	assert_null(json_object_get(r.result, "ok"));
	assert_null(json_object_get(r.result, "id"));
	res_clear(&r);

	assert_int_equal(sup_console_input(f->d.sup, &t_peer, "ops", "hi", 2,
	    res_done, &r, &err), 0);
	if (!fx_run_until(f, cond_done, &r, T_WAIT))
		fail_msg("no input reply");
	assert_int_equal(r.code, 0);
	assert_int_equal(json_integer_value(json_object_get(r.result,
	    "bytes")), 2);
	res_clear(&r);

	assert_int_equal(sup_resume(f->d.sup, &t_peer, "ops", res_done, &r,
	    &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	assert_int_equal(fx_rt(f, UUID_A).state, DB_STATE_RUNNING);

	/* A reset ends the worker ("reboot") and starts a new one at once. */
	assert_int_equal(sup_reset(f->d.sup, &t_peer, "ops", res_done, &r,
	    &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	fx_wait_rt(f, UUID_A, DB_STATE_RUNNING, pid, false);
	rt = fx_rt(f, UUID_A);
	assert_string_equal(rt.exit_reason, "reset");
	assert_int_equal(rt.exit_status, 10);
	assert_string_equal(rt.exit_message, "reset on request");
	assert_int_equal(rt.restart_count, 1);

	/* Stats and input need a live VM. */
	assert_int_equal(sup_stop(f->d.sup, &t_peer, "ops", true, 0, res_done,
	    &r, &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	assert_int_equal(sup_stats(f->d.sup, "ops", res_done, &r, &err),
	    RPC_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot read the stats: the VM is "
	    "stopped");
	rpc_error_clear(&err);
}

/* -------------------------------------------------------------------------- */
/* vmmd's restart: adoption; and its shutdown. */

/* A pid that is certainly dead: a child that has exited and been reaped. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void
fx_record(struct fx *f, const char *uuid, enum db_state state, pid_t pid)
{
	struct db_runtime rt;

	memset(&rt, 0, sizeof(rt));
	rt.state = state;
	rt.pid = pid;
	rt.started_at = vmmd_now_ms();
	assert_int_equal(db_runtime_set(f->d.db, uuid, &rt), 0);
}

static bool
cond_adopted(struct fx *f, void *arg)
{
	json_t *last = NULL;
	bool yes;

	assert_int_equal(db_events_since(f->d.db, 0, DB_EVENTS_PAGE_MAX,
	    last_cb, &last), 0);
	yes = last != NULL && json_is_string(json_object_get(last, "reason"))
	    && strcmp(json_string_value(json_object_get(last, "reason")),
	    "adopted") == 0;
	json_decref(last);
	return yes;
}

/*
 * A second supervisor over the same database adopts the running worker
 * the first one left (same pid, the console continuous across the gap)
 * and marks the VMs whose recorded worker is dead as lost.
 */
static void
test_adoption(void **state)
{
	struct fx *f = *state;
	struct rpc_error err;
	struct db_runtime rt;
	json_int_t total;
	char *con, needle[32];
	int first, last, seen;
	int64_t pid;
	pid_t dead;
	struct res r;
	struct evs e;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	fx_define(f, "keep", UUID_A, GUEST("ctl_count"), NULL);
	fx_define(f, "ghost", UUID_B, GUEST("hello"), NULL);
	fx_define(f, "ghost2", UUID_C, GUEST("hello"), NULL);
	fx_start(f, "keep");
	pid = fx_rt(f, UUID_A).pid;
	fx_wait_console(f, "keep", "tick 0003\n");
	con = fx_console(f, "keep", 0, NULL, &total);
	ticks_check(con, &first, &seen);
	free(con);

	/* vmmd goes away; the worker does not. */
	fx_sup_down(f);
	assert_int_equal(kill((pid_t)pid, 0), 0);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_RUNNING);
	assert_int_equal(rt.pid, pid);
	usleep(200000);
	dead = dead_pid();
	fx_record(f, UUID_B, DB_STATE_RUNNING, dead);
	fx_record(f, UUID_C, DB_STATE_STOPPING, dead);

	fx_sup_up(f);
	/* The dead ones are decided at once. */
	rt = fx_rt(f, UUID_B);
	assert_int_equal(rt.state, DB_STATE_CRASHED);
	assert_string_equal(rt.exit_reason, "lost");
	assert_int_equal(rt.exit_status, -1);
	snprintf(needle, sizeof(needle), "(pid %d)", (int)dead);
	assert_non_null(strstr(rt.exit_message, needle));
	assert_int_equal(rt.pid, 0);
	rt = fx_rt(f, UUID_C);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_string_equal(rt.exit_reason, "lost");

	if (!fx_run_until(f, cond_adopted, NULL, T_WAIT))
		fail_msg("the worker was not adopted");
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_RUNNING);
	assert_int_equal(rt.pid, pid);
	assert_int_equal(sup_active(f->d.sup), 1);
	assert_string_equal(fx_events(f, UUID_A, &e),
	    "defined>starting " T_WHO "; starting>running " T_WHO "; "
	    "running>running vmmd");

	/* The replay: from tick 0000, past what the first vmmd saw. */
	snprintf(needle, sizeof(needle), "tick %04d\n", seen + 5);
	fx_wait_console(f, "keep", needle);
	con = fx_console(f, "keep", 0, NULL, &total);
	ticks_check(con, &first, &last);
	assert_int_equal(first, 0);
	assert_true(last >= seen + 5);
	assert_true(total >= (last + 1) * 10 && total < (last + 2) * 10);
	free(con);

	/* And it is ours to stop. */
	assert_int_equal(sup_stop(f->d.sup, &t_peer, "keep", true, 0,
	    res_done, &r, &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_string_equal(rt.exit_reason, "poweroff");
	assert_int_equal(rt.exit_status, 0);
}

/* Child: another "vmmd" starts the VMs and ends, leaving their workers. */
static void
foreign_sup_child(const struct fx *f, const char *const *names, size_t n)
{
	struct vmmd d;
	struct res r;
	struct rpc_error err;
	char why[256];
	bool done = false;
	int64_t end;
	size_t i;

	memset(&d, 0, sizeof(d));
	d.cfg = f->d.cfg;
	if (db_open(f->dbpath, &d.db, why, sizeof(why)) != 0 ||
	    (d.loop = malloc(sizeof(*d.loop))) == NULL ||
	    uv_loop_init(d.loop) != 0 || sup_init(&d) != 0 ||
	    sup_start_all(d.sup) != 0)
		_exit(2);
	end = now_ms() + T_WAIT;
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		memset(&err, 0, sizeof(err));
		if (sup_start(d.sup, &t_peer, names[i], res_done_plain, &r,
		    &err) != 0)
			_exit(3);
		while (!r.done && now_ms() < end)
			uv_run(d.loop, UV_RUN_ONCE);
		if (!r.done || r.code != 0)
			_exit(4);
	}
	sup_shutdown(d.sup, shut_cb, &done);
	while (!done && now_ms() < end)
		uv_run(d.loop, UV_RUN_ONCE);
	_exit(done ? 0 : 5);
}

/*
 * Workers that are not our children (their vmmd was another process):
 * the exit status comes from the exit event, and one killed without a
 * word is "lost", then handled by its on_crash.
 */
static void
test_adopt_foreign(void **state)
{
	static const char *const names[] = { "fa", "fb" };
	struct fx *f = *state;
	struct rpc_error err;
	struct db_runtime rt;
	int64_t pa, pb;
	struct res r;
	pid_t child;
	int st;

	wt_require_worker();
	memset(&err, 0, sizeof(err));
	memset(&r, 0, sizeof(r));
	fx_sup_down(f);
	fx_define(f, "fa", UUID_A, GUEST("ctl_count"), NULL);
	fx_define(f, "fb", UUID_B, GUEST("ctl_count"), NULL);
	if ((child = fork()) == 0)
		foreign_sup_child(f, names, 2);
	assert_true(child > 0);
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	pa = fx_rt(f, UUID_A).pid;
	pb = fx_rt(f, UUID_B).pid;
	assert_int_equal(kill((pid_t)pa, 0), 0);
	assert_int_equal(kill((pid_t)pb, 0), 0);
	/* Not ours: another process started them. */
	assert_int_equal(waitpid((pid_t)pa, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	fx_sup_up(f);
	if (!fx_run_until(f, cond_adopted, NULL, T_WAIT))
		fail_msg("not adopted");
	fx_wait_console(f, "fa", "tick 0001\n");
	fx_wait_console(f, "fb", "tick 0001\n");

	/* A forced stop: the status from the worker's exit event. */
	assert_int_equal(sup_stop(f->d.sup, &t_peer, "fa", true, 0, res_done,
	    &r, &err), 0);
	fx_wait_ok(f, &r);
	res_clear(&r);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_string_equal(rt.exit_reason, "poweroff");
	assert_int_equal(rt.exit_status, 0);

	/* Killed: no exit event, no status to reap. */
	assert_int_equal(kill((pid_t)pb, SIGKILL), 0);
	fx_wait_rt(f, UUID_B, DB_STATE_STOPPED, -1, true);
	rt = fx_rt(f, UUID_B);
	assert_string_equal(rt.exit_reason, "lost");
	assert_int_equal(rt.exit_status, -1);
	assert_string_equal(rt.exit_message, "the worker vanished without an "
	    "exit status: on_crash is destroy");
}

/* The time of uuid's first "vm.state" event to "starting". */
struct first_start {
	const char *uuid;
	int64_t time;
};

static int
first_start_cb(void *arg, const struct db_event *ev)
{
	struct first_start *fs = arg;

	if (fs->time == 0 && strcmp(ev->kind, "vm.state") == 0 &&
	    ev->vm != NULL && strcmp(ev->vm, fs->uuid) == 0 &&
	    strstr(ev->detail, "\"to\":\"starting\"") != NULL)
		fs->time = ev->time;
	return 0;
}

static int64_t
fx_first_start(struct fx *f, const char *uuid)
{
	struct first_start fs = { uuid, 0 };

	assert_int_equal(db_events_since(f->d.db, 0, DB_EVENTS_PAGE_MAX,
	    first_start_cb, &fs), 0);
	return fs.time;
}

/*
 * At vmmd's start: the autostart plan (order, then each VM's delay after
 * the one before it), and a restart that was waiting when the previous
 * vmmd ended.
 */
static void
test_autostart(void **state)
{
	struct fx *f = *state;
	struct evs e;
	int64_t t0, t1;

	wt_require_worker();
	fx_sup_down(f);
	fx_define(f, "second", UUID_A, GUEST("ctl_count"),
	    "\"autostart\": {\"enabled\": true, \"order\": 2, "
	    "\"delay\": 1}");
	fx_define(f, "first", UUID_B, GUEST("ctl_count"),
	    "\"autostart\": {\"enabled\": true, \"order\": 1}");
	fx_define(f, "pending", UUID_C, GUEST("ctl_count"), NULL);
	fx_define(f, "manual", "5a000000-0000-4000-8000-000000000004",
	    GUEST("hello"), NULL);
	fx_record(f, UUID_C, DB_STATE_STARTING, 0);

	fx_sup_up(f);
	fx_wait_rt(f, UUID_B, DB_STATE_RUNNING, -1, false);
	fx_wait_rt(f, UUID_C, DB_STATE_RUNNING, -1, false);
	fx_wait_rt(f, UUID_A, DB_STATE_RUNNING, -1, false);
	assert_int_equal(fx_rt(f, "5a000000-0000-4000-8000-000000000004").state,
	    DB_STATE_DEFINED);
	assert_int_equal(sup_active(f->d.sup), 3);
	t0 = fx_first_start(f, UUID_B);
	t1 = fx_first_start(f, UUID_A);
	assert_true(t0 > 0 && t1 - t0 >= 950 && t1 - t0 < 3000);
	assert_string_equal(fx_events(f, UUID_B, &e),
	    "defined>starting vmmd; starting>running vmmd");
	assert_string_equal(fx_events(f, UUID_C, &e),
	    "starting>running vmmd");
}

/* stop_vms_on_exit: the shutdown stops the VMs and waits for them. */
static void
test_shutdown_stops_vms(void **state)
{
	struct fx *f = *state;
	struct db_runtime rt;
	int64_t pid, t0, took;

	wt_require_worker();
	/* ctl_count ignores Ctrl-Alt-Del: forced after its 1 s. */
	fx_define(f, "last", UUID_A, GUEST("ctl_count"),
	    "\"shutdown_timeout\": 1");
	fx_start(f, "last");
	pid = fx_rt(f, UUID_A).pid;
	f->d.cfg.stop_vms_on_exit = true;
	t0 = now_ms();
	fx_sup_down(f);
	took = now_ms() - t0;
	assert_true(took >= 900 && took < 5000);
	rt = fx_rt(f, UUID_A);
	assert_int_equal(rt.state, DB_STATE_STOPPED);
	assert_int_equal(rt.pid, 0);
	assert_string_equal(rt.exit_reason, "poweroff");
	assert_string_equal(rt.exit_message, "poweroff: stopped on request");
	assert_int_equal(kill((pid_t)pid, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test_setup_teardown(test_start_and_graceful_stop,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_forced_stop_and_console_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_kernel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_kill_restart_and_cancel,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_policies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pause_stats_input_reset,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_adoption, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_adopt_foreign, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_autostart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_stops_vms, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
