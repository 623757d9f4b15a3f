/*
 * test_vmmd.c: vmmd end to end.  Each case starts the real daemon on a
 * private directory (tests/vmmdtest.h), drives it through vmmctl or a raw
 * JSON-RPC connection, and runs real vmm-worker processes on the test
 * guests: ctl_count (64-bit, prints "tick NNNN\n" forever, about 3700
 * ticks a second here) and sb_wait (real mode, prints "waiting\n" and
 * halts with interrupts on: it stays up and costs no CPU).  The hello
 * guest is not used for VMs that must stay up: it halts with interrupts
 * off, which the worker treats as a power-off.
 */

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "rpc.h"
#include "vmmdtest.h"

#define T_TICK_LEN	9		/* "tick NNNN" */
#define T_TICK_WRAP	10000
#define T_SCROLLBACK	1048576		/* console kept across a restart */

/* vmmctl with the arguments given; NULL is appended. */
#define CTL(d, o, ...)	vd_ctl((d), (o), __VA_ARGS__, (char *)NULL)

/* vmmctl that must succeed. */
#define CTL_OK(d, o, ...) do {						\
	CTL(d, o, __VA_ARGS__);						\
	if ((o)->status != 0)						\
		fail_msg("vmmctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", \
		    #__VA_ARGS__, (o)->status, (o)->out, (o)->err);	\
} while (0)

/* The text of a vmmctl --json output, parsed. */
static json_t *
t_parse(const struct vd_out *o)
{
	json_error_t jerr;
	json_t *v;

	if ((v = json_loads(o->out, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		fail_msg("vmmctl's output is not JSON (%s):\n%s", jerr.text,
		    o->out);
	return v;
}

/* Does one line of text hold a, and b too when b is not NULL? */
static bool
t_line_has(const char *text, const char *a, const char *b)
{
	const char *p = text, *nl;
	char line[1024];
	size_t len;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (strstr(line, a) != NULL && (b == NULL ||
		    strstr(line, b) != NULL))
			return true;
		p += len + (nl != NULL);
	}
	return false;
}

/*
 * Check that text holds "tick NNNN" lines, each the previous one plus 1
 * (modulo 10000).  Unless whole (the text is the guest's output from its
 * first byte), the first line may be cut and is skipped; an unterminated
 * last line is skipped too.  Returns the number of ticks.
 */
static unsigned int
t_ticks(const char *name, const char *text, size_t len, bool whole)
{
	const char *p = text, *end = text + len, *nl;
	unsigned int count = 0;
	int prev = -1, n, i;

	if (!whole) {
		if ((nl = memchr(p, '\n', len)) == NULL)
			return 0;
		p = nl + 1;
	}
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl - p != T_TICK_LEN || memcmp(p, "tick ", 5) != 0)
			fail_msg("%s: not a tick at byte %zu: \"%.*s\"", name,
			    (size_t)(p - text), (int)(nl - p > 40 ? 40 :
			    nl - p), p);
		for (n = 0, i = 5; i < T_TICK_LEN; i++) {
			if (!isdigit((unsigned char)p[i]))
				fail_msg("%s: not a tick at byte %zu: %.9s",
				    name, (size_t)(p - text), p);
			n = n * 10 + (p[i] - '0');
		}
		if (prev < 0 && whole && n != 0)
			fail_msg("%s: the first tick is %04d", name, n);
		if (prev >= 0 && n != (prev + 1) % T_TICK_WRAP)
			fail_msg("%s: tick %04d after tick %04d at byte %zu",
			    name, n, prev, (size_t)(p - text));
		prev = n;
		count++;
		p = nl + 1;
	}
	return count;
}

/* vm_runtime.state of name in the database file, read-only. */
static char *
t_db_state(const struct vd *d, const char *name)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	char *state = NULL;

	if (sqlite3_open_v2(d->db, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		fail_msg("%s: %s", d->db, sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, "SELECT r.state FROM vms v JOIN "
	    "vm_runtime r USING (uuid) WHERE v.name = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		fail_msg("%s: %s", d->db, sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		state = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (state == NULL)
		fail_msg("%s: no runtime row for %s", d->db, name);
	return state;
}

/* A definition as a file of d's directory; its path in path. */
static void
t_def_file(const struct vd *d, json_t *def, const char *file, char *path)
{
	char *text = json_dumps(def, JSON_INDENT(2));

	if (text == NULL)
		fail_msg("out of memory");
	vd_write_file(d, file, text, path);
	free(text);
	json_decref(def);
}

/* The guest's console bytes counted by the worker (vmmctl stats). */
static json_int_t
t_ctl_console_bytes(const struct vd *d, const char *name, json_t **stats)
{
	struct vd_out o;
	json_int_t n;
	json_t *s;

	CTL_OK(d, &o, "stats", name, "--json");
	s = t_parse(&o);
	vd_out_free(&o);
	n = vd_int(json_object_get(s, "console"), "bytes");
	if (stats != NULL)
		*stats = s;
	else
		json_decref(s);
	return n;
}

/* vmmctl info NAME --json */
static json_t *
t_ctl_info(const struct vd *d, const char *name)
{
	struct vd_out o;
	json_t *v;

	CTL_OK(d, &o, "info", name, "--json");
	v = t_parse(&o);
	vd_out_free(&o);
	return v;
}

/* ------------------------------------------------------------------------ */
/* 1. A VM's life through vmmctl. */

/* Pause: the guest writes nothing for 300 ms; the mirror agrees. */
static void
t_lifecycle_paused(const struct vd *d, struct vc *c)
{
	json_int_t bytes, later, total = -1;
	int64_t end;
	json_t *v;
	char *text;

	v = t_ctl_info(d, "count");
	assert_string_equal(vd_str(v, "state"), "paused");
	json_decref(v);
	bytes = t_ctl_console_bytes(d, "count", &v);
	assert_string_equal(vd_str(v, "state"), "paused");
	json_decref(v);
	/* vmmd's mirror catches up with what the guest wrote, then stays. */
	end = vd_now_ms() + 2000;
	while (total != bytes && vd_now_ms() < end) {
		free(vd_console(c, "count", NULL, &total));
		if (total != bytes)
			vd_sleep_ms(5);
	}
	assert_int_equal(total, bytes);
	vd_sleep_ms(300);
	later = t_ctl_console_bytes(d, "count", NULL);
	assert_int_equal(later, bytes);
	text = vd_console(c, "count", NULL, &total);
	assert_int_equal(total, bytes);
	free(text);
}

/* Resume: ticks again, consecutive with those before the pause. */
static void
t_lifecycle_resumed(const struct vd *d, struct vc *c, json_int_t before)
{
	int64_t end = vd_now_ms() + 5000;
	json_int_t total;
	size_t len;
	char *text;

	while (t_ctl_console_bytes(d, "count", NULL) <= before + 100) {
		if (vd_now_ms() > end)
			fail_msg("no ticks 5 s after vmmctl resume");
		vd_sleep_ms(20);
	}
	text = vd_console(c, "count", &len, &total);
	assert_true(total > before);
	t_ticks("count", text, len, (json_int_t)len == total);
	free(text);
}

static void
test_lifecycle(void **state)
{
	struct vd *d = vd_start(NULL);
	char file[VD_PATH_MAX], uuid[40], pid[64], want[256], *st;
	char *create_out;
	json_int_t paused_at;
	struct vd_out o;
	json_t *v, *e;
	struct vc c;

	vc_connect(&c, d->rw);
	t_def_file(d, vd_def("count", "ctl_count", NULL), "count.json", file);
	CTL_OK(d, &o, "create", file, "--start");
	create_out = o.out;
	o.out = NULL;
	vd_out_free(&o);

	v = t_ctl_info(d, "count");
	assert_string_equal(vd_str(v, "name"), "count");
	assert_string_equal(vd_str(v, "state"), "running");
	assert_true(vd_int(v, "pid") > 0);
	assert_int_equal(vd_int(v, "restart_count"), 0);
	assert_true(json_is_null(json_object_get(v, "last_exit")));
	snprintf(uuid, sizeof(uuid), "%s", vd_str(v, "uuid"));
	snprintf(pid, sizeof(pid), "pid:       %lld",
	    (long long)vd_int(v, "pid"));
	json_decref(v);
	snprintf(want, sizeof(want), "defined count (%s)\n", uuid);
	assert_string_equal(create_out, want);
	free(create_out);

	/* list: a table for people, JSON for scripts. */
	CTL_OK(d, &o, "list");
	snprintf(want, sizeof(want), "NAME   STATE    UUID\n"
	    "count  running  %s\n", uuid);
	assert_string_equal(o.out, want);
	vd_out_free(&o);
	CTL_OK(d, &o, "list", "--json");
	v = t_parse(&o);
	e = json_pack("[{s:s,s:s,s:s}]", "name", "count", "uuid", uuid,
	    "state", "running");
	if (!json_equal(v, e))
		fail_msg("vmmctl list --json: %s", o.out);
	json_decref(e);
	json_decref(v);
	vd_out_free(&o);

	/* info for people: one "key: value" line each. */
	CTL_OK(d, &o, "info", "count");
	snprintf(want, sizeof(want), "uuid:      %s", uuid);
	if (!t_line_has(o.out, "name:      count", NULL) ||
	    !t_line_has(o.out, want, NULL) ||
	    !t_line_has(o.out, "state:     running", NULL) ||
	    !t_line_has(o.out, pid, NULL) ||
	    !t_line_has(o.out, "restarts:  0", NULL))
		fail_msg("vmmctl info count (%s):\n%s", pid, o.out);
	vd_out_free(&o);

	/* logs: the guest's ticks, in order. */
	free(vd_console_wait(&c, "count", "tick 0010\n", VD_TIMEOUT_MS));
	CTL_OK(d, &o, "logs", "count");
	if (t_ticks("vmmctl logs", o.out, o.out_len, false) < 5)
		fail_msg("vmmctl logs count:\n%.2000s", o.out);
	vd_out_free(&o);

	CTL_OK(d, &o, "pause", "count");
	vd_out_free(&o);
	t_lifecycle_paused(d, &c);
	paused_at = t_ctl_console_bytes(d, "count", NULL);

	CTL_OK(d, &o, "resume", "count");
	vd_out_free(&o);
	v = t_ctl_info(d, "count");
	assert_string_equal(vd_str(v, "state"), "running");
	json_decref(v);
	t_lifecycle_resumed(d, &c, paused_at);

	/* stats: the worker's figures. */
	t_ctl_console_bytes(d, "count", &v);
	assert_string_equal(vd_str(v, "name"), "count");
	assert_int_equal(json_array_size(json_object_get(v, "vcpus")), 1);
	assert_int_equal(vd_int(v, "ram_bytes"), 16 << 20);
	assert_int_equal(vd_int(json_object_get(v, "console"), "scrollback"),
	    65536);
	json_decref(v);
	CTL_OK(d, &o, "stats", "count");
	if (!t_line_has(o.out, "name:    count", NULL) ||
	    !t_line_has(o.out, "ram:     16 MiB", NULL) ||
	    !t_line_has(o.out, "vcpu 0:  running, exits io ", NULL))
		fail_msg("vmmctl stats count:\n%s", o.out);
	vd_out_free(&o);

	CTL_OK(d, &o, "stop", "count", "--force", "--wait");
	vd_out_free(&o);
	v = t_ctl_info(d, "count");
	assert_string_equal(vd_str(v, "state"), "stopped");
	assert_true(json_is_null(json_object_get(v, "pid")));
	json_decref(v);
	st = t_db_state(d, "count");
	assert_string_equal(st, "stopped");
	free(st);

	CTL_OK(d, &o, "undefine", "count");
	vd_out_free(&o);
	CTL_OK(d, &o, "list", "--json");
	v = t_parse(&o);
	vd_expect_json(v, "[]");
	json_decref(v);
	vd_out_free(&o);
	CTL_OK(d, &o, "list");
	assert_string_equal(o.out, "NAME  STATE  UUID\n");
	vd_out_free(&o);

	/* Exit statuses: the daemon refused (1), a bad command line (2). */
	CTL(d, &o, "info", "nosuch");
	assert_int_equal(o.status, 1);
	assert_string_equal(o.err, "vmmctl: info nosuch: no VM named "
	    "\"nosuch\"\n");
	assert_string_equal(o.out, "");
	vd_out_free(&o);
	CTL(d, &o, "list", "--bogus");
	assert_int_equal(o.status, 2);
	if (strncmp(o.err, "vmmctl: unknown option --bogus\n", 31) != 0)
		fail_msg("vmmctl list --bogus: stderr:\n%s", o.err);
	assert_string_equal(o.out, "");
	vd_out_free(&o);

	vc_close(&c);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 2. Many VMs. */

#define T_MANY_DEFINED	50
#define T_MANY_RUNNING	20

/* One batch of method on vm00..vm(n-1); every answer must be null. */
static void
t_many_batch(struct vc *c, const char *method, const char *extra,
    unsigned int n)
{
	char name[16], *text;
	json_t *batch, *req, *resp, *r;
	unsigned int i;

	batch = json_array();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "vm%02u", i);
		req = json_pack("{s:s,s:I,s:s,s:{s:s}}", "jsonrpc", "2.0",
		    "id", (json_int_t)(1000 + i), "method", method, "params",
		    "name", name);
		if (extra != NULL)
			json_object_set_new(json_object_get(req, "params"),
			    extra, json_true());
		json_array_append_new(batch, req);
	}
	text = json_dumps(batch, JSON_COMPACT);
	json_decref(batch);
	vc_send_line(c, text);
	free(text);
	if ((resp = vc_response(c, 60000)) == NULL)
		fail_msg("no answer to a batch of %u %s", n, method);
	if (!json_is_array(resp) || json_array_size(resp) != n)
		fail_msg("%s batch: %s", method, vd_dump(resp));
	for (i = 0; i < n; i++) {
		r = json_array_get(resp, i);
		if (vd_int(r, "id") != 1000 + i ||
		    !json_is_null(json_object_get(r, "result")))
			fail_msg("%s batch, entry %u: %s", method, i,
			    vd_dump(r));
	}
	json_decref(resp);
}

static void
test_many(void **state)
{
	struct vd *d = vd_start(NULL);
	pid_t pids[T_MANY_RUNNING], wpids[64];
	char name[16], *text;
	size_t len, nw;
	unsigned int i, j;
	json_t *v;
	struct vc c;

	vc_connect(&c, d->rw);
	for (i = 0; i < T_MANY_DEFINED; i++) {
		snprintf(name, sizeof(name), "vm%02u", i);
		vd_define(&c, vd_def(name, "sb_wait", NULL));
	}
	/* One batch: answered as one array once every guest runs. */
	t_many_batch(&c, "vm.start", NULL, T_MANY_RUNNING);
	for (i = 0; i < T_MANY_RUNNING; i++) {
		snprintf(name, sizeof(name), "vm%02u", i);
		v = vd_info(&c, name);
		assert_string_equal(vd_str(v, "state"), "running");
		pids[i] = (pid_t)vd_int(v, "pid");
		for (j = 0; j < i; j++)
			assert_int_not_equal(pids[i], pids[j]);
		json_decref(v);
		text = vd_console_wait(&c, name, "waiting\n", VD_TIMEOUT_MS);
		len = strlen(text);
		if (strcmp(text, "waiting\n") != 0)
			fail_msg("%s: console \"%s\" (%zu bytes)", name, text,
			    len);
		free(text);
	}
	nw = vd_workers(d, wpids, 64);
	assert_int_equal(nw, T_MANY_RUNNING);
	for (i = T_MANY_RUNNING; i < T_MANY_DEFINED; i++) {
		snprintf(name, sizeof(name), "vm%02u", i);
		v = vd_info(&c, name);
		assert_string_equal(vd_str(v, "state"), "defined");
		assert_true(json_is_null(json_object_get(v, "pid")));
		json_decref(v);
	}
	v = vc_result(&c, "host.info", NULL);
	assert_int_equal(vd_int(v, "vms"), T_MANY_DEFINED);
	assert_int_equal(vd_int(v, "running"), T_MANY_RUNNING);
	json_decref(v);
	v = vc_result(&c, "vm.list", json_pack("{s:s}", "state", "running"));
	assert_int_equal(json_array_size(v), T_MANY_RUNNING);
	json_decref(v);

	t_many_batch(&c, "vm.stop", "force", T_MANY_RUNNING);
	v = vc_result(&c, "host.info", NULL);
	assert_int_equal(vd_int(v, "running"), 0);
	json_decref(v);
	vc_close(&c);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 3. A worker killed: restarted or kept crashed, as on_crash says. */

static void
test_worker_killed(void **state)
{
	struct vd *d = vd_start(NULL);
	json_int_t rpid, ppid;
	json_t *v, *last;
	struct vc c;

	vc_connect(&c, d->rw);
	vd_define(&c, vd_def("r", "sb_wait", "{\"on_crash\": \"restart\"}"));
	vd_define(&c, vd_def("p", "sb_wait", "{\"on_crash\": \"preserve\"}"));
	json_decref(vc_result(&c, "vm.start", json_pack("{s:s}", "name",
	    "r")));
	json_decref(vc_result(&c, "vm.start", json_pack("{s:s}", "name",
	    "p")));
	v = vd_info(&c, "r");
	rpid = vd_int(v, "pid");
	json_decref(v);
	v = vd_info(&c, "p");
	ppid = vd_int(v, "pid");
	json_decref(v);
	assert_int_equal(kill((pid_t)rpid, SIGKILL), 0);
	assert_int_equal(kill((pid_t)ppid, SIGKILL), 0);

	v = vd_wait_state(&c, "r", "running", rpid, VD_TIMEOUT_MS);
	assert_int_equal(vd_int(v, "restart_count"), 1);
	last = json_object_get(v, "last_exit");
	assert_string_equal(vd_str(last, "reason"), "signal 9");
	json_decref(v);
	free(vd_console_wait(&c, "r", "waiting\n", VD_TIMEOUT_MS));

	v = vd_wait_state(&c, "p", "crashed", 0, VD_TIMEOUT_MS);
	assert_true(json_is_null(json_object_get(v, "pid")));
	last = json_object_get(v, "last_exit");
	assert_string_equal(vd_str(last, "reason"), "signal 9");
	assert_int_equal(vd_int(v, "restart_count"), 0);
	json_decref(v);
	vc_close(&c);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 4. vmmd killed and started again: it adopts the running workers. */

#define T_ADOPT_VMS	3

static void
test_adopt(void **state)
{
	struct vd *d = vd_start(NULL);
	static const char *const names[T_ADOPT_VMS] = { "t0", "t1", "t2" };
	json_int_t pids[T_ADOPT_VMS], before[T_ADOPT_VMS], total;
	char extra[128], *text;
	pid_t wpids[16];
	unsigned int i;
	int64_t end;
	size_t len;
	json_t *v;
	struct vc c;

	snprintf(extra, sizeof(extra), "{\"devices\": {\"console\": "
	    "{\"scrollback\": %d}}}", T_SCROLLBACK);
	vc_connect(&c, d->rw);
	for (i = 0; i < T_ADOPT_VMS; i++) {
		vd_define(&c, vd_def(names[i], "ctl_count", extra));
		json_decref(vc_result(&c, "vm.start", json_pack("{s:s}",
		    "name", names[i])));
	}
	for (i = 0; i < T_ADOPT_VMS; i++) {
		free(vd_console_wait(&c, names[i], "tick 0020\n",
		    VD_TIMEOUT_MS));
		v = vd_info(&c, names[i]);
		pids[i] = vd_int(v, "pid");
		json_decref(v);
		free(vd_console(&c, names[i], NULL, &before[i]));
	}
	vc_close(&c);

	assert_int_equal(vd_signal(d, SIGKILL), 128 + SIGKILL);
	assert_int_equal(vd_workers(d, wpids, 16), T_ADOPT_VMS);
	vd_spawn(d);

	vc_connect(&c, d->rw);
	for (i = 0; i < T_ADOPT_VMS; i++) {
		v = vd_info(&c, names[i]);
		assert_string_equal(vd_str(v, "state"), "running");
		assert_int_equal(vd_int(v, "pid"), pids[i]);
		json_decref(v);
	}
	for (i = 0; i < T_ADOPT_VMS; i++) {
		/*
		 * The adoption refills the mirror from the worker's
		 * scrollback once its control socket answers, a moment
		 * after vmmd does: until then the log is empty.
		 */
		end = vd_now_ms() + VD_TIMEOUT_MS;
		for (;;) {
			text = vd_console(&c, names[i], &len, &total);
			if (total > before[i] || vd_now_ms() >= end)
				break;
			free(text);
			vd_sleep_ms(5);
		}
		/* The log covers the restart, and the guest kept writing. */
		if (total - (json_int_t)len > before[i] ||
		    total <= before[i])
			fail_msg("%s: before the kill %lld bytes; now %zu "
			    "bytes up to %lld", names[i],
			    (long long)before[i], len, (long long)total);
		t_ticks(names[i], text, len, (json_int_t)len == total);
		free(text);
	}
	vc_close(&c);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 5. Bad input on one connection; another is served all along. */

/* The bystander's vm.info. */
static void
t_bystander(struct vc *b)
{
	json_t *v = vd_info(b, "good");

	assert_string_equal(vd_str(v, "state"), "running");
	json_decref(v);
}

/* The next response on c, expected to equal want. */
static void
t_expect_response(struct vc *c, const char *want)
{
	json_t *resp = vc_response(c, VD_TIMEOUT_MS);

	if (resp == NULL)
		fail_msg("no response; wanted %s", want);
	vd_expect_json(resp, want);
	json_decref(resp);
}

/* A request line of exactly len bytes (len >= 100): a padded vm.info. */
static char *
t_padded_request(size_t len, int id)
{
	static const char fmt[] = "{\"jsonrpc\":\"2.0\",\"id\":%d,"
	    "\"method\":\"vm.info\",\"params\":{\"name\":\"good\","
	    "\"pad\":\"%s\"}}";
	char *line, *pad;
	size_t fixed;

	fixed = (size_t)snprintf(NULL, 0, fmt, id, "");
	pad = malloc(len - fixed + 1);
	line = malloc(len + 1);
	if (pad == NULL || line == NULL)
		fail_msg("out of memory");
	memset(pad, 'x', len - fixed);
	pad[len - fixed] = '\0';
	snprintf(line, len + 1, fmt, id, pad);
	free(pad);
	assert_int_equal(strlen(line), len);
	return line;
}

static void
t_bad_framing(struct vc *a, struct vc *b)
{
	char *line;
	json_t *resp, *v;

	vc_send_line(a, "{\"jsonrpc\": \"2.0\", \"id\": 1, ");
	resp = vc_response(a, VD_TIMEOUT_MS);
	assert_non_null(resp);
	assert_int_equal(vd_int(json_object_get(resp, "error"), "code"),
	    -32700);
	assert_true(json_is_null(json_object_get(resp, "id")));
	v = json_object_get(json_object_get(resp, "error"), "data");
	assert_string_equal(vd_str(v, "name"), "parse_error");
	v = json_array_get(json_object_get(v, "problems"), 0);
	assert_string_equal(vd_str(v, "path"), "$");
	if (strncmp(vd_str(v, "message"), "invalid JSON at line 1 column ",
	    30) != 0)
		fail_msg("parse error: %s", vd_dump(resp));
	json_decref(resp);
	t_bystander(b);

	/* 4096 bytes is a request (with an unknown param), 4097 is not. */
	line = t_padded_request(4096, 41);
	vc_send_line(a, line);
	free(line);
	t_expect_response(a, "{\"jsonrpc\":\"2.0\",\"id\":41,\"error\":"
	    "{\"code\":-32602,\"message\":\"Invalid params\",\"data\":"
	    "{\"name\":\"invalid_params\",\"problems\":[{\"path\":"
	    "\"$.params.pad\",\"message\":\"unknown parameter\"}]}}}");
	line = t_padded_request(4097, 42);
	vc_send_line(a, line);
	free(line);
	t_expect_response(a, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
	    "{\"code\":-32600,\"message\":\"Invalid Request\",\"data\":"
	    "{\"name\":\"invalid_request\",\"problems\":[{\"path\":\"$\","
	    "\"message\":\"must be at most 4096 bytes\"}]}}}");
	/* The connection still works, and nothing else came for the line. */
	json_decref(vd_info(a, "good"));
	t_bystander(b);
}

static void
t_bad_requests(struct vc *a, struct vc *b, const char *uuid)
{
	json_t *e;
	char want[512];

	assert_int_equal(vc_error(a, "vm.frobnicate", NULL, &e), -32601);
	vd_expect_json(e, "{\"code\":-32601,\"message\":\"Method not found\","
	    "\"data\":{\"name\":\"method_not_found\"}}");
	json_decref(e);
	t_bystander(b);

	assert_int_equal(vc_error(a, "vm.info", json_pack("{s:i}", "name", 5),
	    &e), -32602);
	vd_expect_json(e, "{\"code\":-32602,\"message\":\"Invalid params\","
	    "\"data\":{\"name\":\"invalid_params\",\"problems\":[{\"path\":"
	    "\"$.params.name\",\"message\":\"must be a string\"}]}}");
	json_decref(e);
	t_bystander(b);

	assert_int_equal(vc_error(a, "vm.define", json_pack("{s:{s:s,s:{s:i},"
	    "s:{}}}", "definition", "name", "bad name", "memory", "size_mib",
	    0, "os"), &e), -32602);
	vd_expect_json(e, "{\"code\":-32602,\"message\":\"Invalid params\","
	    "\"data\":{\"name\":\"invalid_params\",\"problems\":["
	    "{\"path\":\"$.params.definition.name\",\"message\":\"must be 1 "
	    "to 64 characters from [A-Za-z0-9._-], starting with a letter or "
	    "digit, without \\\"..\\\"\"},"
	    "{\"path\":\"$.params.definition.memory.size_mib\",\"message\":"
	    "\"must be an integer from 1 to 1048576\"},"
	    "{\"path\":\"$.params.definition.os.kernel\",\"message\":"
	    "\"required\"}]}}");
	json_decref(e);
	t_bystander(b);

	/* The same name again: data.name names the code, data.vm the VM. */
	assert_int_equal(vc_error(a, "vm.define", json_pack("{s:o}",
	    "definition", vd_def("good", "sb_wait", NULL)), &e), -32002);
	snprintf(want, sizeof(want), "{\"code\":-32002,\"message\":\"a VM "
	    "named \\\"good\\\" already exists (uuid %s)\",\"data\":"
	    "{\"name\":\"already_exists\",\"vm\":\"good\",\"uuid\":\"%s\"}}",
	    uuid, uuid);
	vd_expect_json(e, want);
	json_decref(e);
	t_bystander(b);

	assert_int_equal(vc_error(a, "vm.start", json_pack("{s:s}", "name",
	    "good"), &e), -32003);
	assert_string_equal(vd_str(e, "message"),
	    "cannot start: the VM is running");
	assert_string_equal(vd_str(json_object_get(e, "data"), "name"),
	    "invalid_state");
	assert_string_equal(vd_str(json_object_get(e, "data"), "state"),
	    "running");
	json_decref(e);
	t_bystander(b);
}

static void
t_bad_batches(struct vc *a, struct vc *b)
{
	json_t *resp, *r;

	vc_send_line(a, "[]");
	t_expect_response(a, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
	    "{\"code\":-32600,\"message\":\"Invalid Request\",\"data\":"
	    "{\"name\":\"invalid_request\",\"problems\":[{\"path\":\"$\","
	    "\"message\":\"must not be an empty batch\"}]}}}");
	t_bystander(b);

	/* Good, bad, a notification, a deferred answer: one array. */
	vc_send_line(a, "["
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vm.info\","
	    "\"params\":{\"name\":\"good\"}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"nope\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"vm.info\","
	    "\"params\":{\"name\":\"good\"}},"
	    "42,"
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"vm.info\","
	    "\"params\":{\"name\":\"missing\"}},"
	    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"vm.stats\","
	    "\"params\":{\"name\":\"good\"}},"
	    "{\"jsonrpc\":\"1.0\",\"id\":5,\"method\":\"vm.info\"}]");
	resp = vc_response(a, VD_TIMEOUT_MS);
	if (!json_is_array(resp) || json_array_size(resp) != 6)
		fail_msg("mixed batch: %s", vd_dump(resp));
	r = json_array_get(resp, 0);
	assert_int_equal(vd_int(r, "id"), 1);
	assert_string_equal(vd_str(json_object_get(r, "result"), "state"),
	    "running");
	vd_expect_json(json_array_get(resp, 1), "{\"jsonrpc\":\"2.0\","
	    "\"id\":\"two\",\"error\":{\"code\":-32601,\"message\":"
	    "\"Method not found\",\"data\":{\"name\":\"method_not_found\"}}}");
	vd_expect_json(json_array_get(resp, 2), "{\"jsonrpc\":\"2.0\","
	    "\"id\":null,\"error\":{\"code\":-32600,\"message\":"
	    "\"Invalid Request\",\"data\":{\"name\":\"invalid_request\","
	    "\"problems\":[{\"path\":\"$\",\"message\":"
	    "\"must be an object\"}]}}}");
	r = json_array_get(resp, 3);
	assert_int_equal(vd_int(r, "id"), 3);
	assert_int_equal(vd_int(json_object_get(r, "error"), "code"), -32001);
	assert_string_equal(vd_str(json_object_get(r, "error"), "message"),
	    "no VM named \"missing\"");
	r = json_array_get(resp, 4);
	assert_int_equal(vd_int(r, "id"), 4);
	assert_int_equal(json_array_size(json_object_get(json_object_get(r,
	    "result"), "vcpus")), 1);
	vd_expect_json(json_array_get(resp, 5), "{\"jsonrpc\":\"2.0\","
	    "\"id\":5,\"error\":{\"code\":-32600,\"message\":"
	    "\"Invalid Request\",\"data\":{\"name\":\"invalid_request\","
	    "\"problems\":[{\"path\":\"$.jsonrpc\",\"message\":"
	    "\"must be \\\"2.0\\\"\"}]}}}");
	json_decref(resp);
	t_bystander(b);
}

static void
test_bad_input(void **state)
{
	struct vd *d = vd_start("max-message 4096\n");
	char uuid[40];
	struct vc a, b;
	json_t *v;

	vc_connect(&a, d->rw);
	vc_connect(&b, d->rw);
	snprintf(uuid, sizeof(uuid), "%s", vd_define(&a, vd_def("good",
	    "sb_wait", NULL)));
	json_decref(vc_result(&a, "vm.start", json_pack("{s:s}", "name",
	    "good")));
	t_bystander(&b);

	t_bad_framing(&a, &b);
	t_bad_requests(&a, &b, uuid);
	t_bad_batches(&a, &b);

	/* Nothing took the daemon down; the first connection still works. */
	v = vc_result(&a, "host.info", NULL);
	assert_int_equal(vd_int(v, "running"), 1);
	json_decref(v);
	assert_int_equal(waitpid(d->pid, NULL, WNOHANG), 0);
	vc_close(&a);
	vc_close(&b);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 6. Roles: the read-only socket, from proto's method table. */

/* Does the method take a "name" param? */
static bool
t_takes_name(const struct rpc_method *m)
{
	const struct rpc_param *p;

	for (p = m->params; p != NULL && p->name != NULL; p++)
		if (strcmp(p->name, "name") == 0)
			return true;
	return false;
}

static void
test_roles(void **state)
{
	struct vd *d = vd_start(NULL);
	const struct rpc_method *m;
	char want[128];
	struct vc ro, rw;
	unsigned int n = 0, denied = 0;
	json_t *resp, *err, *data;

	vc_connect(&rw, d->rw);
	vc_connect(&ro, d->ro);
	vd_define(&rw, vd_def("ro1", "sb_wait", NULL));
	for (m = rpc_methods; m->name != NULL; m++, n++) {
		/* Read-only: a real VM's name, where the method takes one. */
		resp = vc_call(&ro, m->name, t_takes_name(m) ?
		    json_pack("{s:s}", "name", "ro1") : json_object());
		err = json_object_get(resp, "error");
		if (m->least_role > RPC_ROLE_READONLY) {
			if (err == NULL || vd_int(err, "code") != -32004)
				fail_msg("%s on the read-only socket: %s",
				    m->name, vd_dump(resp));
			snprintf(want, sizeof(want), "%s needs the %s role",
			    m->name, rpc_role_name(m->least_role));
			assert_string_equal(vd_str(err, "message"), want);
			data = json_object_get(err, "data");
			assert_string_equal(vd_str(data, "name"),
			    "permission_denied");
			assert_string_equal(vd_str(data, "required_role"),
			    rpc_role_name(m->least_role));
			assert_string_equal(vd_str(data, "your_role"),
			    "readonly");
			denied++;
		} else if (err != NULL && vd_int(err, "code") == -32004) {
			fail_msg("%s (readonly) refused on the read-only "
			    "socket: %s", m->name, vd_dump(resp));
		}
		json_decref(resp);

		/* Read-write as root: no params, so nothing is changed. */
		resp = vc_call(&rw, m->name, json_object());
		err = json_object_get(resp, "error");
		if (err != NULL && vd_int(err, "code") == -32004)
			fail_msg("%s refused to root on the read-write "
			    "socket: %s", m->name, vd_dump(resp));
		json_decref(resp);
	}
	assert_true(n >= 16);
	assert_true(denied > 0 && denied < n);
	/* Nothing was started nor removed. */
	resp = vd_info(&rw, "ro1");
	assert_string_equal(vd_str(resp, "state"), "defined");
	json_decref(resp);
	vc_close(&ro);
	vc_close(&rw);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 7. Limits: max-clients, idle-timeout. */

static json_int_t
t_clients(struct vc *c)
{
	json_t *v = vc_result(c, "host.info", NULL);
	json_int_t n = vd_int(v, "clients");

	json_decref(v);
	return n;
}

static void
t_wait_clients(struct vc *c, json_int_t want)
{
	int64_t end = vd_now_ms() + VD_TIMEOUT_MS;
	json_int_t n;

	while ((n = t_clients(c)) != want) {
		if (vd_now_ms() >= end)
			fail_msg("%lld clients, want %lld", (long long)n,
			    (long long)want);
		vd_sleep_ms(5);
	}
}

static void
test_max_clients(void **state)
{
	struct vd *d = vd_start("max-clients 4\n");
	struct vc c[4], extra;
	json_t *resp;
	unsigned int i;

	vc_connect(&c[0], d->rw);
	t_wait_clients(&c[0], 1);	/* the harness's probe is gone */
	for (i = 1; i < 4; i++) {
		vc_connect(&c[i], i % 2 ? d->ro : d->rw);
		json_decref(vc_result(&c[i], "daemon.version", NULL));
	}
	assert_int_equal(t_clients(&c[0]), 4);

	/* The fifth gets one line and is closed. */
	vc_connect(&extra, d->ro);
	resp = vc_next(&extra, VD_TIMEOUT_MS);
	vd_expect_json(resp, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
	    "{\"code\":-32005,\"message\":\"too many clients (4)\","
	    "\"data\":{\"name\":\"resource_limit\",\"max_clients\":4}}}");
	json_decref(resp);
	assert_true(vc_wait_eof(&extra, VD_TIMEOUT_MS));
	vc_close(&extra);

	for (i = 0; i < 4; i++)
		json_decref(vc_result(&c[i], "vm.list", NULL));
	assert_int_equal(t_clients(&c[0]), 4);

	/* A place freed is a place taken. */
	vc_close(&c[3]);
	t_wait_clients(&c[0], 3);
	vc_connect(&c[3], d->rw);
	json_decref(vc_result(&c[3], "daemon.version", NULL));
	for (i = 0; i < 4; i++)
		vc_close(&c[i]);
	vd_passed(d);
}

static void
test_idle_timeout(void **state)
{
	struct vd *d = vd_start("idle-timeout 1\n");
	struct vc idle, console, follow;
	int64_t t0, waited;
	json_t *v;

	vc_connect(&console, d->rw);
	vd_define(&console, vd_def("w", "sb_wait", NULL));
	json_decref(vc_result(&console, "vm.start", json_pack("{s:s}", "name",
	    "w")));
	vc_connect(&idle, d->ro);
	vc_connect(&follow, d->ro);
	json_decref(vc_result(&console, "vm.console", json_pack("{s:s}",
	    "name", "w")));
	json_decref(vc_result(&follow, "vm.console_log", json_pack("{s:s,s:b}",
	    "name", "w", "follow", 1)));
	json_decref(vc_result(&idle, "daemon.version", NULL));
	t0 = vd_now_ms();

	assert_true(vc_wait_eof(&idle, 5000));
	waited = vd_now_ms() - t0;
	if (waited < 900 || waited > 2500)
		fail_msg("an idle client was disconnected after %lld ms, "
		    "with idle-timeout 1", (long long)waited);

	/* Console watchers are not idle: still there at 2.5 s. */
	while (vd_now_ms() - t0 < 2500) {
		assert_false(vc_wait_eof(&console, 50));
		assert_false(vc_wait_eof(&follow, 50));
	}
	v = vd_info(&console, "w");
	assert_string_equal(vd_str(v, "state"), "running");
	json_decref(v);
	json_decref(vc_result(&follow, "daemon.version", NULL));
	vc_close(&idle);
	vc_close(&console);
	vc_close(&follow);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 8. The command line: -n, and one vmmd per state directory. */

static void
test_command_line(void **state)
{
	struct vd *d = vd_start(NULL);
	char bad[VD_PATH_MAX], conf2[VD_PATH_MAX], text[1024], want[512];
	const char *argv[6], *ns[6];
	struct vd_out o;
	struct vc c;

	argv[0] = VD_VMMD;
	argv[1] = "-n";
	argv[2] = "-f";
	argv[3] = d->conf;
	argv[4] = NULL;
	vd_exec(&o, argv, NULL, VD_TIMEOUT_MS);
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out, "configuration OK\n");
	vd_out_free(&o);

	vd_write_file(d, "bad.conf", "max-clients 0\nbogus-key 1\n"
	    "idle-timeout 5\n", bad);
	argv[3] = bad;
	vd_exec(&o, argv, NULL, VD_TIMEOUT_MS);
	assert_int_equal(o.status, 1);
	snprintf(want, sizeof(want), "vmmd: %s:1: max-clients: must be a "
	    "number from 1 to 65536\nvmmd: %s:2: unknown keyword "
	    "\"bogus-key\"\n", bad, bad);
	assert_string_equal(o.err, want);
	assert_string_equal(o.out, "");
	vd_out_free(&o);

	/* Another vmmd on the same state directory, other sockets. */
	snprintf(text, sizeof(text), "socket \"%s/rw2.sock\"\n"
	    "readonly-socket \"%s/ro2.sock\"\nstate-dir \"%s\"\n"
	    "run-dir \"%s\"\nworker \"%s\"\nworker-user nobody\n"
	    "socket-group root\n", d->dir, d->dir, d->state, d->run,
	    VD_WORKER);
	vd_write_file(d, "vmmd2.conf", text, conf2);
	snprintf(want, sizeof(want), "vmmd: %s: another vmmd is using this "
	    "state directory\n", d->state);
	argv[1] = "-d";
	argv[3] = conf2;
	vd_exec(&o, argv, NULL, VD_TIMEOUT_MS);
	assert_int_equal(o.status, 1);
	if (strstr(o.err, want) == NULL)
		fail_msg("second vmmd: stderr:\n%s", o.err);
	vd_out_free(&o);
	snprintf(text, sizeof(text), "%s/rw2.sock", d->dir);
	assert_int_equal(access(text, F_OK), -1);

	/*
	 * An unusable hypervisor device (/dev/kvm bound to /dev/null in a
	 * mount namespace of its own): one clear line, status 1, no socket.
	 */
	snprintf(text, sizeof(text), "mount --bind /dev/null /dev/kvm && "
	    "exec %s -d -f %s", VD_VMMD, conf2);
	ns[0] = "/usr/bin/unshare";
	ns[1] = "-m";
	ns[2] = "/bin/sh";
	ns[3] = "-c";
	ns[4] = text;
	ns[5] = NULL;
	vd_exec(&o, ns, NULL, VD_TIMEOUT_MS);
	assert_int_equal(o.status, 1);
	if (strncmp(o.err, "vmmd: cannot open the hypervisor device for "
	    "write (/dev/nvmm, else /dev/kvm): ", 78) != 0 ||
	    strchr(o.err, '\n') != o.err + strlen(o.err) - 1)
		fail_msg("vmmd without a usable device: stderr:\n%s", o.err);
	vd_out_free(&o);
	snprintf(text, sizeof(text), "%s/rw2.sock", d->dir);
	assert_int_equal(access(text, F_OK), -1);

	/* The same configuration: the same answer; the first one lives on. */
	argv[3] = d->conf;
	vd_exec(&o, argv, NULL, VD_TIMEOUT_MS);
	assert_int_equal(o.status, 1);
	if (strstr(o.err, want) == NULL)
		fail_msg("second vmmd: stderr:\n%s", o.err);
	vd_out_free(&o);
	vc_connect(&c, d->rw);
	json_decref(vc_result(&c, "daemon.version", NULL));
	vc_close(&c);
	vc_connect(&c, d->ro);
	json_decref(vc_result(&c, "daemon.version", NULL));
	vc_close(&c);
	vd_passed(d);
}

/* ------------------------------------------------------------------------ */
/* 9. A worker that cannot set its VM up. */

static void
test_setup_failure(void **state)
{
	struct vd *d = vd_start(NULL);
	static const char kernel[] = "/nonexistent/vmmd-test-kernel.bin";
	json_t *def, *e, *data, *logv, *v, *last;
	char *log = NULL;
	size_t i;
	struct vc c;

	vc_connect(&c, d->rw);
	def = vd_def("nok", "sb_wait", NULL);
	json_object_set_new(json_object_get(def, "os"), "kernel",
	    json_string(kernel));
	vd_define(&c, def);
	assert_int_equal(vc_error(&c, "vm.start", json_pack("{s:s}", "name",
	    "nok"), &e), -32007);
	data = json_object_get(e, "data");
	assert_string_equal(vd_str(data, "name"), "failed");
	assert_int_equal(vd_int(data, "status"), 66);
	assert_string_equal(vd_str(data, "reason"), "unusable-file");
	/* The worker's own words: one string, or an array of lines. */
	logv = json_object_get(data, "log");
	if (json_is_string(logv)) {
		log = strdup(json_string_value(logv));
	} else if (json_is_array(logv)) {
		log = calloc(1, 1);
		for (i = 0; i < json_array_size(logv); i++) {
			const char *l = json_string_value(json_array_get(logv,
			    i));
			char *n = NULL;

			if (l == NULL || asprintf(&n, "%s%s\n", log, l) == -1)
				fail_msg("data.log: %s", vd_dump(logv));
			free(log);
			log = n;
		}
	}
	if (log == NULL || strstr(log, "nok: kernel /nonexistent/"
	    "vmmd-test-kernel.bin: No such file or directory") == NULL)
		fail_msg("vm.start: %s", vd_dump(e));
	free(log);
	json_decref(e);

	v = vd_info(&c, "nok");
	assert_string_equal(vd_str(v, "state"), "crashed");
	assert_true(json_is_null(json_object_get(v, "pid")));
	last = json_object_get(v, "last_exit");
	assert_string_equal(vd_str(last, "reason"), "unusable-file");
	assert_int_equal(vd_int(last, "status"), 66);
	json_decref(v);
	vc_close(&c);
	vd_passed(d);
}

#define T_TEST(t)	cmocka_unit_test_teardown(t, vd_teardown)

/* An argument runs only the tests whose names match it (a glob). */
int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T_TEST(test_lifecycle),
		T_TEST(test_many),
		T_TEST(test_worker_killed),
		T_TEST(test_adopt),
		T_TEST(test_bad_input),
		T_TEST(test_roles),
		T_TEST(test_max_clients),
		T_TEST(test_idle_timeout),
		T_TEST(test_command_line),
		T_TEST(test_setup_failure),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
