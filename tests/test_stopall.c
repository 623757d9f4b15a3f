/*
 * test_stopall.c: host.stop_all and `vmmctl stop --all` end to end: the
 * real vmmd on a private directory (tests/vmmdtest.h), real vmm-worker
 * processes, real guests.  dev_cad answers Ctrl-Alt-Del by ending at
 * once (a guest that shuts down when asked); sb_wait ignores it (the
 * worker forces it off when its share of the deadline runs out).  The
 * stop order is read back from the "vm.state" events of the database,
 * the timing from the clock around the call.
 */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "vmmdtest.h"

#define CTL(d, o, ...)	vd_ctl((d), (o), __VA_ARGS__, (char *)NULL)

/* A guest that powers off at Ctrl-Alt-Del (tests/guests/dev_cad.S). */
static json_t *
t_cad_def(const char *name, const char *extra)
{
	json_error_t jerr;
	json_t *def, *ex;

	def = json_pack("{s:s,s:{s:i},s:{s:s,s:s,s:s,s:s},s:{s:b}}", "name",
	    name, "memory", "size_mib", 4, "os", "loader", "raw", "kernel",
	    VD_GUEST("dev_cad"), "load_address", "0x1000", "mode", "long",
	    "devices", "debug_exit", 1);
	if (def == NULL)
		fail_msg("out of memory");
	if (extra != NULL) {
		if ((ex = json_loads(extra, JSON_REJECT_DUPLICATES, &jerr)) ==
		    NULL)
			fail_msg("t_cad_def: %s: %s", extra, jerr.text);
		json_object_update_recursive(def, ex);
		json_decref(ex);
	}
	return def;
}

static void
t_start(struct vc *c, const char *name)
{
	json_decref(vc_result(c, "vm.start", json_pack("{s:s}", "name",
	    name)));
}

/* host.stop_all with params (stolen); its result, *ms how long it took. */
static json_t *
t_stop_all(struct vc *c, json_t *params, int64_t *ms)
{
	int64_t t0 = vd_now_ms();
	json_t *res;

	res = vc_result(c, "host.stop_all", params);
	*ms = vd_now_ms() - t0;
	return res;
}

/* The names of a result's array key, as one comma-separated string. */
static const char *
t_names(const json_t *res, const char *key)
{
	static char buf[512];
	const json_t *v;
	size_t i, at = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(res, key), i, v)
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s",
		    i > 0 ? "," : "", json_string_value(v));
	return buf;
}

/* One "vm.state" event: the VM's name, its new state, who, when (ms). */
struct t_ev {
	char name[72];
	char to[16];
	char who[80];
	int64_t time;
};

/*
 * The "vm.state" events after seq after (in seq order) into ev (at most
 * max); returns how many.  The database is read as it is on disk.
 */
static size_t
t_events(const struct vd *d, int64_t after, struct t_ev *ev, size_t max)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	json_t *detail;
	size_t n = 0;

	if (sqlite3_open_v2(d->db, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		fail_msg("%s: %s", d->db, sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, "SELECT v.name, e.who, e.detail, e.time "
	    "FROM events e JOIN vms v ON v.uuid = e.vm WHERE e.kind = "
	    "'vm.state' AND e.seq > ?1 ORDER BY e.seq", -1, &st, NULL) !=
	    SQLITE_OK)
		fail_msg("%s: %s", d->db, sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, after);
	while (sqlite3_step(st) == SQLITE_ROW && n < max) {
		detail = json_loads((const char *)sqlite3_column_text(st, 2), 0,
		    NULL);
		snprintf(ev[n].name, sizeof(ev[n].name), "%s",
		    (const char *)sqlite3_column_text(st, 0));
		snprintf(ev[n].who, sizeof(ev[n].who), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		snprintf(ev[n].to, sizeof(ev[n].to), "%s",
		    json_string_value(json_object_get(detail, "to")) ?: "?");
		ev[n].time = sqlite3_column_int64(st, 3);
		json_decref(detail);
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The newest event's seq. */
static int64_t
t_last_seq(const struct vd *d)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int64_t seq = 0;

	if (sqlite3_open_v2(d->db, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT max(seq) FROM events", -1, &st,
	    NULL) != SQLITE_OK)
		fail_msg("%s: %s", d->db, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return seq;
}

/* The index of name's event to state to in ev, or fail. */
static size_t
t_ev_at(const struct t_ev *ev, size_t n, const char *name, const char *to)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ev[i].name, name) == 0 && strcmp(ev[i].to, to) == 0)
			return i;
	fail_msg("no event of %s to %s among %zu", name, to, n);
	return 0;
}

static void
t_expect_state(struct vc *c, const char *name, const char *state)
{
	json_t *info = vd_info(c, name);

	if (strcmp(vd_str(info, "state"), state) != 0)
		fail_msg("%s: want %s: %s", name, state, vd_dump(info));
	json_decref(info);
}

/* ------------------------------------------------------------------------ */

/*
 * Four VMs in three autostart orders stop in reverse order, batch by
 * batch; the guests that shut down are "stopped", the one that ignores
 * the request is forced when its own shutdown_timeout (2 s) runs out,
 * and the next batch starts as soon as the one before is down.
 */
static void
test_order(void **state)
{
	struct vd *d = vd_start(NULL);
	static const char *const names[] = { "a1", "b2", "c2", "d3" };
	static const char *const extra[] = {
		"{\"autostart\": {\"order\": 1}}",
		"{\"autostart\": {\"order\": 2}}",
		"{\"autostart\": {\"order\": 2}}",
		"{\"autostart\": {\"order\": 3}}",
	};
	struct t_ev ev[64];
	pid_t pids[8];
	char who[64];
	int64_t seq, ms;
	json_t *res;
	struct vc c;
	size_t i, n;

	vc_connect(&c, d->rw);
	for (i = 0; i < 4; i++) {
		vd_define(&c, t_cad_def(names[i], extra[i]));
		t_start(&c, names[i]);
	}
	vd_define(&c, vd_def("ignorer", "sb_wait", "{\"autostart\": "
	    "{\"order\": 2}, \"shutdown_timeout\": 2}"));
	t_start(&c, "ignorer");
	free(vd_console_wait(&c, "ignorer", "waiting\n", VD_TIMEOUT_MS));
	free(vd_console_wait(&c, "a1", "cad: ready\n", VD_TIMEOUT_MS));
	seq = t_last_seq(d);

	res = t_stop_all(&c, json_pack("{s:i}", "timeout", 30), &ms);
	/* d3 first, then b2 and c2 (either order), then a1. */
	if (strcmp(t_names(res, "forced"), "ignorer") != 0 ||
	    (strcmp(t_names(res, "stopped"), "d3,b2,c2,a1") != 0 &&
	    strcmp(t_names(res, "stopped"), "d3,c2,b2,a1") != 0))
		fail_msg("host.stop_all: %s", vd_dump(res));
	json_decref(res);
	/* The ignorer had 2 s; the plan's level was 9 s a batch. */
	if (ms < 2000 || ms > 8000)
		fail_msg("host.stop_all took %lld ms", (long long)ms);

	n = t_events(d, seq, ev, 64);
	snprintf(who, sizeof(who), "uid %u pid %d", (unsigned int)getuid(),
	    (int)getpid());
	for (i = 0; i < n; i++)
		if (strcmp(ev[i].to, "stopping") == 0)
			assert_string_equal(ev[i].who, who);
	/* Batch k + 1 is asked only once batch k is down. */
	assert_true(t_ev_at(ev, n, "d3", "stopped") <
	    t_ev_at(ev, n, "b2", "stopping"));
	assert_true(t_ev_at(ev, n, "d3", "stopped") <
	    t_ev_at(ev, n, "c2", "stopping"));
	assert_true(t_ev_at(ev, n, "d3", "stopped") <
	    t_ev_at(ev, n, "ignorer", "stopping"));
	assert_true(t_ev_at(ev, n, "ignorer", "stopped") <
	    t_ev_at(ev, n, "a1", "stopping"));
	assert_true(t_ev_at(ev, n, "b2", "stopped") <
	    t_ev_at(ev, n, "a1", "stopping"));
	assert_true(t_ev_at(ev, n, "c2", "stopped") <
	    t_ev_at(ev, n, "a1", "stopping"));
	/* Each VM once to stopping and once to stopped; nothing else. */
	assert_int_equal(n, 10);
	for (i = 0; i < 4; i++)
		t_expect_state(&c, names[i], "stopped");
	t_expect_state(&c, "ignorer", "stopped");
	assert_int_equal(vd_workers(d, pids, 8), 0);

	/* Starting works again once it is over. */
	t_start(&c, "a1");
	vc_close(&c);
	vd_passed(d);
}

/*
 * The deadline: two VMs that ignore the request share 3 s less the
 * margin (0.3 s), 1.35 s each, and are forced in reverse order; a worker
 * that cannot answer (stopped with SIGSTOP) is killed at the deadline.
 */
static void
test_deadline(void **state)
{
	struct vd *d = vd_start(NULL);
	pid_t pids[8];
	json_t *res, *info;
	int64_t ms, seq, at;
	struct t_ev ev[32];
	char *log;
	size_t n;
	struct vc c;

	vc_connect(&c, d->rw);
	vd_define(&c, vd_def("x0", "sb_wait", "{\"autostart\": "
	    "{\"order\": 0}}"));
	vd_define(&c, vd_def("y5", "sb_wait", "{\"autostart\": "
	    "{\"order\": 5}}"));
	t_start(&c, "x0");
	t_start(&c, "y5");
	free(vd_console_wait(&c, "x0", "waiting\n", VD_TIMEOUT_MS));
	free(vd_console_wait(&c, "y5", "waiting\n", VD_TIMEOUT_MS));
	seq = t_last_seq(d);
	res = t_stop_all(&c, json_pack("{s:i}", "timeout", 3), &ms);
	vd_expect_json(res, "{\"stopped\": [], \"forced\": [\"y5\", \"x0\"]}");
	json_decref(res);
	/*
	 * Forced by the plan at 2.7 s, before the deadline: not killed at
	 * it (the answer itself may come a little later on a busy host).
	 */
	if (ms < 2600 || ms >= 3500)
		fail_msg("host.stop_all took %lld ms", (long long)ms);
	log = vd_log(d);
	if (strstr(log, "stop-all deadline") != NULL)
		fail_msg("killed at the deadline:\n%s", log);
	free(log);
	/*
	 * x0's turn comes when y5's share is out: y5 is forced then by its
	 * worker, so the two are about simultaneous.
	 */
	n = t_events(d, seq, ev, 32);
	at = ev[t_ev_at(ev, n, "x0", "stopping")].time -
	    ev[t_ev_at(ev, n, "y5", "stopping")].time;
	if (at < 1300 || at > 1500)
		fail_msg("x0 was asked %lld ms after y5", (long long)at);

	/* A worker that cannot act: killed at the deadline. */
	vd_define(&c, vd_def("hung", "sb_wait", NULL));
	t_start(&c, "hung");
	free(vd_console_wait(&c, "hung", "waiting\n", VD_TIMEOUT_MS));
	assert_int_equal(vd_workers(d, pids, 8), 1);
	assert_int_equal(kill(pids[0], SIGSTOP), 0);
	res = t_stop_all(&c, json_pack("{s:i}", "timeout", 2), &ms);
	vd_expect_json(res, "{\"stopped\": [], \"forced\": [\"hung\"]}");
	json_decref(res);
	if (ms < 2000 || ms > 3000)
		fail_msg("host.stop_all took %lld ms", (long long)ms);
	info = vd_info(&c, "hung");
	assert_string_equal(vd_str(info, "state"), "stopped");
	assert_string_equal(vd_str(json_object_get(info, "last_exit"),
	    "reason"), "signal 9");
	json_decref(info);
	log = vd_log(d);
	if (strstr(log, "vm hung: still running at the stop-all deadline; "
	    "killing its worker") == NULL)
		fail_msg("no deadline line in the log:\n%s", log);
	free(log);
	vc_close(&c);
	vd_passed(d);
}

/*
 * The params, the role, one stop-all at a time, no start meanwhile, a
 * VM in its restart backoff is cancelled, and nothing running is
 * answered at once.
 */
static void
test_refusals(void **state)
{
	struct vd *d = vd_start(NULL);
	json_t *err, *res, *resp;
	struct vc c, c2, ro;
	int64_t ms;

	vc_connect(&c, d->rw);
	vc_connect(&c2, d->rw);
	vc_connect(&ro, d->ro);

	res = t_stop_all(&c, NULL, &ms);
	vd_expect_json(res, "{\"stopped\": [], \"forced\": []}");
	json_decref(res);
	assert_true(ms < 1000);

	assert_int_equal(vc_error(&c, "host.stop_all", json_pack("{s:i}",
	    "timeout", 0), &err), -32602);
	vd_expect_json(json_object_get(json_object_get(err, "data"),
	    "problems"), "[{\"path\": \"$.params.timeout\", \"message\": "
	    "\"must be an integer from 1 to 3600\"}]");
	json_decref(err);
	assert_int_equal(vc_error(&c, "host.stop_all", json_pack("{s:i,s:b}",
	    "timeout", 3601, "force", 1), &err), -32602);
	vd_expect_json(json_object_get(json_object_get(err, "data"),
	    "problems"), "[{\"path\": \"$.params.timeout\", \"message\": "
	    "\"must be an integer from 1 to 3600\"}, {\"path\": "
	    "\"$.params.force\", \"message\": \"unknown parameter\"}]");
	json_decref(err);
	assert_int_equal(vc_error(&ro, "host.stop_all", NULL, &err), -32004);
	assert_string_equal(vd_str(err, "message"),
	    "host.stop_all needs the operator role");
	json_decref(err);

	/* A stop-all under way: no second one, no start. */
	vd_define(&c, vd_def("slow", "sb_wait", "{\"shutdown_timeout\": 2}"));
	vd_define(&c, vd_def("idle", "sb_wait", NULL));
	vd_define(&c, vd_def("flap", "hello", "{\"on_poweroff\": "
	    "\"restart\"}"));
	t_start(&c, "slow");
	free(vd_console_wait(&c, "slow", "waiting\n", VD_TIMEOUT_MS));
	/* flap powers off at once and is restarted, with a backoff. */
	json_decref(vc_call(&c, "vm.start", json_pack("{s:s}", "name",
	    "flap")));
	vd_sleep_ms(1500);
	vc_send_line(&c2, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":"
	    "\"host.stop_all\",\"params\":{\"timeout\":10}}");
	vd_sleep_ms(200);
	assert_int_equal(vc_error(&c, "host.stop_all", NULL, &err), -32006);
	assert_string_equal(vd_str(err, "message"),
	    "a host.stop_all is under way already");
	json_decref(err);
	assert_int_equal(vc_error(&c, "vm.start", json_pack("{s:s}", "name",
	    "idle"), &err), -32006);
	assert_string_equal(vd_str(err, "message"),
	    "every VM is being stopped (host.stop_all)");
	json_decref(err);
	resp = vc_response(&c2, VD_TIMEOUT_MS);
	if (resp == NULL)
		fail_msg("no answer to host.stop_all");
	res = json_object_get(resp, "result");
	/* flap was stopped in its backoff, or while it ran. */
	if (strcmp(t_names(res, "forced"), "slow") != 0 ||
	    strcmp(t_names(res, "stopped"), "flap") != 0)
		fail_msg("host.stop_all: %s", vd_dump(resp));
	json_decref(resp);
	t_expect_state(&c, "slow", "stopped");
	t_expect_state(&c, "flap", "stopped");
	t_expect_state(&c, "idle", "defined");
	/* The policy does not restart it afterwards either. */
	vd_sleep_ms(1200);
	t_expect_state(&c, "flap", "stopped");
	t_start(&c, "idle");
	vc_close(&ro);
	vc_close(&c2);
	vc_close(&c);
	vd_passed(d);
}

/*
 * After a vmmd restart (what `systemctl restart vmmd` does), the adopted
 * workers are stopped like the others, and an autostart still waiting
 * for its delay is dropped.
 */
static void
test_adopted(void **state)
{
	struct vd *d = vd_start(NULL);
	pid_t pids[8];
	json_t *res;
	int64_t ms, end;
	struct vc c;
	char *log;

	vc_connect(&c, d->rw);
	vd_define(&c, t_cad_def("cad", "{\"autostart\": {\"enabled\": true, "
	    "\"order\": 1}}"));
	vd_define(&c, vd_def("late", "sb_wait", "{\"autostart\": "
	    "{\"enabled\": true, \"order\": 2, \"delay\": 2}}"));
	vd_define(&c, vd_def("wait", "sb_wait", NULL));
	t_start(&c, "cad");
	t_start(&c, "wait");
	free(vd_console_wait(&c, "cad", "cad: ready\n", VD_TIMEOUT_MS));
	vc_close(&c);
	assert_int_equal(vd_signal(d, SIGTERM), 0);
	assert_int_equal(vd_workers(d, pids, 8), 2);

	vd_spawn(d);
	vc_connect(&c, d->rw);
	for (end = vd_now_ms() + VD_TIMEOUT_MS;; vd_sleep_ms(10)) {
		log = vd_log(d);
		if (strstr(log, "vm cad: adopted") != NULL &&
		    strstr(log, "vm wait: adopted") != NULL)
			break;
		if (vd_now_ms() > end)
			fail_msg("no adoption:\n%s", log);
		free(log);
	}
	free(log);
	res = t_stop_all(&c, json_pack("{s:i}", "timeout", 4), &ms);
	vd_expect_json(res, "{\"stopped\": [\"cad\"], \"forced\": "
	    "[\"wait\"]}");
	json_decref(res);
	vd_sleep_ms(2500);
	t_expect_state(&c, "late", "defined");
	t_expect_state(&c, "cad", "stopped");
	assert_int_equal(vd_workers(d, pids, 8), 0);
	vc_close(&c);
	vd_passed(d);
}

/* vmmctl stop --all: its output, its JSON, its usage errors. */
static void
test_vmmctl(void **state)
{
	struct vd *d = vd_start(NULL);
	const char *want;
	struct vd_out o;
	json_t *v;
	struct vc c;

	vc_connect(&c, d->rw);
	vd_define(&c, t_cad_def("cad", NULL));
	vd_define(&c, vd_def("wait", "sb_wait", "{\"shutdown_timeout\": 1}"));
	t_start(&c, "cad");
	t_start(&c, "wait");
	free(vd_console_wait(&c, "cad", "cad: ready\n", VD_TIMEOUT_MS));

	CTL(d, &o, "-q", "list");
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out, "cad\nwait\n");
	vd_out_free(&o);

	CTL(d, &o, "stop", "--all", "--timeout", "5");
	if (o.status != 0 || strcmp(o.out, "stopped: cad\nforced: wait\n") !=
	    0)
		fail_msg("vmmctl stop --all: %d\n%s%s", o.status, o.out, o.err);
	vd_out_free(&o);

	CTL(d, &o, "stop", "--all", "--json");
	assert_int_equal(o.status, 0);
	v = json_loads(o.out, 0, NULL);
	vd_expect_json(v, "{\"stopped\": [], \"forced\": []}");
	json_decref(v);
	vd_out_free(&o);

	CTL(d, &o, "stop", "--all", "cad");
	assert_int_equal(o.status, 2);
	assert_string_equal(o.err, "vmmctl: stop --all takes no NAME\n"
	    "usage: vmmctl stop NAME [--force] [--timeout S] [--wait]\n"
	    "       vmmctl stop --all [--timeout S] [--json]\n"
	    "Run \"vmmctl help stop\" for more.\n");
	vd_out_free(&o);
	CTL(d, &o, "stop", "--all", "--force");
	assert_int_equal(o.status, 2);
	assert_string_equal(o.err, "vmmctl: stop --all does not take --force\n"
	    "usage: vmmctl stop NAME [--force] [--timeout S] [--wait]\n"
	    "       vmmctl stop --all [--timeout S] [--json]\n"
	    "Run \"vmmctl help stop\" for more.\n");
	vd_out_free(&o);
	CTL(d, &o, "stop", "cad", "--json");
	assert_int_equal(o.status, 2);
	assert_string_equal(o.err, "vmmctl: stop NAME does not take --json\n"
	    "usage: vmmctl stop NAME [--force] [--timeout S] [--wait]\n"
	    "       vmmctl stop --all [--timeout S] [--json]\n"
	    "Run \"vmmctl help stop\" for more.\n");
	vd_out_free(&o);
	CTL(d, &o, "stop", "--all", "--timeout", "0");
	assert_int_equal(o.status, 2);
	want = "vmmctl: --timeout must be an integer from 1 to 3600\n";
	assert_int_equal(strncmp(o.err, want, strlen(want)), 0);
	vd_out_free(&o);

	CTL(d, &o, "help", "stop");
	assert_int_equal(o.status, 0);
	assert_string_equal(o.out,
	    "usage: vmmctl stop NAME [--force] [--timeout S] [--wait]\n"
	    "       vmmctl stop --all [--timeout S] [--json]\n"
	    "\n"
	    "Ask a VM's guest to shut down, forced after a timeout.\n"
	    "\n"
	    "Options:\n"
	    "  --force       kill the VM at once instead of asking the guest "
	    "to shut down\n"
	    "  --timeout S   seconds (1 to 3600) to wait for the guest before "
	    "forcing\n"
	    "  --wait        return only once the VM has stopped\n"
	    "  --all         every VM, in reverse autostart order, within "
	    "--timeout (60)\n"
	    "  --json        print the daemon's answer as JSON\n"
	    "\n"
	    "Needs the operator role (vm.stop); with --all the operator role "
	    "(host.stop_all).\n");
	vd_out_free(&o);
	vc_close(&c);
	vd_passed(d);
}

#define T_TEST(t)	cmocka_unit_test_teardown(t, vd_teardown)

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T_TEST(test_order),
		T_TEST(test_deadline),
		T_TEST(test_refusals),
		T_TEST(test_adopted),
		T_TEST(test_vmmctl),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
