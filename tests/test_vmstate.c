/*
 * test_vmstate.c: the supervisor's pure logic (vmmd/vmstate.c).  The
 * transition table exhaustively (every state by every event, against an
 * expected matrix written here independently, with the exact refusal
 * messages); the worker's exit statuses against WORKER_EXIT_MAP; the exit
 * policy table-driven with exact decisions; the crash-loop budget, its
 * backoff, its sliding window and its reset over a simulated clock; the
 * autostart and shutdown plans with exact orders, batches and timeouts,
 * and a randomized loop over shutdown plans (VMSTATE_SEED replays it).
 * No KVM needed.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "db.h"
#include "vmstate.h"
#include "worker.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define PROP_ITERS	2000
#define PROP_VMS_MAX	24

/* -------------------------------------------------------------------------- */
/* States and names. */

/* The order the expected matrix below assumes, DB_STATE_MAP's. */
static const char *const state_names[] = {
	"defined", "starting", "running", "paused", "stopping", "stopped",
	"crashed",
};

static void
test_state_names(void **state)
{
	enum db_state s;
	size_t i;

	assert_int_equal(NITEMS(state_names), DB_STATE_COUNT);
	for (i = 0; i < NITEMS(state_names); i++) {
		assert_string_equal(db_state_name((enum db_state)i),
		    state_names[i]);
		assert_int_equal(db_state_parse(state_names[i], &s), 0);
		assert_int_equal(s, (enum db_state)i);
	}
	assert_string_equal(vmstate_event_name(VMSTATE_EV_START_REQUESTED),
	    "start_requested");
	assert_string_equal(vmstate_event_name(VMSTATE_EV_UNDEFINE),
	    "undefine");
	assert_null(vmstate_event_name(VMSTATE_EV_COUNT));
	assert_string_equal(vmstate_kind_name(VMSTATE_KIND_SETUP), "setup");
	assert_null(vmstate_kind_name(VMSTATE_KIND_COUNT));
}

/* vmstate.h keeps the worker's statuses by value: they must agree. */
static void
test_status_map(void **state)
{
	static const struct {
		int status;
		const char *word;
	} ours[] = {
#define X(NAME, status, word)	{ status, word },
		VMSTATE_STATUS_MAP(X)
#undef X
	}, theirs[] = {
#define X(NAME, status, word)	{ status, word },
		WORKER_EXIT_MAP(X)
#undef X
	};
	size_t i;

	assert_int_equal(NITEMS(ours), NITEMS(theirs));
	for (i = 0; i < NITEMS(ours); i++) {
		assert_int_equal(ours[i].status, theirs[i].status);
		assert_string_equal(ours[i].word, theirs[i].word);
	}
	assert_int_equal(VMSTATE_STATUS_DEBUG_EXIT, WORKER_DEBUG_EXIT_BASE);
	assert_int_equal(VMSTATE_DEBUG_EXIT_LAST, WORKER_DEBUG_EXIT_BASE + 31);
}

/* -------------------------------------------------------------------------- */
/* The transition table. */

/*
 * Per event, the state reached from each state in DB_STATE_MAP order
 * (defined, starting, running, paused, stopping, stopped, crashed):
 * d s r p S o c for those states, '-' for a refusal.
 */
static const struct {
	enum vmstate_event ev;
	const char *to;
	const char *verb;	/* NULL: an internal event */
} expect_table[] = {
	{ VMSTATE_EV_START_REQUESTED,		"s----ss", "start" },
	{ VMSTATE_EV_WORKER_READY,		"-r-----", NULL },
	{ VMSTATE_EV_WORKER_EXITED_STOP,	"-oooo--", NULL },
	{ VMSTATE_EV_WORKER_EXITED_RESTART,	"-sss---", NULL },
	{ VMSTATE_EV_WORKER_EXITED_CRASH,	"-ccc---", NULL },
	{ VMSTATE_EV_START_CANCELLED,		"-o-----", NULL },
	{ VMSTATE_EV_STOP_REQUESTED,		"-SSS---", "stop" },
	{ VMSTATE_EV_STOP_FORCED,		"-SSSS--", "force a stop" },
	{ VMSTATE_EV_PAUSE_REQUESTED,		"--r----", "pause" },
	{ VMSTATE_EV_PAUSED,			"--p----", NULL },
	{ VMSTATE_EV_RESUME_REQUESTED,		"---p---", "resume" },
	{ VMSTATE_EV_RESUMED,			"---r---", NULL },
	{ VMSTATE_EV_RESET_REQUESTED,		"--r----", "reset" },
	{ VMSTATE_EV_ADOPT_FOUND,		"-srpS--", NULL },
	{ VMSTATE_EV_ADOPT_MISSING,		"-ccco--", NULL },
	{ VMSTATE_EV_UNDEFINE,			"d----oc", "undefine" },
};

static enum db_state
state_of(char c)
{
	const char *codes = "dsrpSoc";

	assert_non_null(strchr(codes, c));
	return (enum db_state)(strchr(codes, c) - codes);
}

static void
test_table(void **state)
{
	char msg[VMSTATE_ERR_MAX], want[VMSTATE_ERR_MAX];
	enum db_state to;
	size_t e, s, allowed = 0;
	int rc;

	assert_int_equal(NITEMS(expect_table), VMSTATE_EV_COUNT);
	for (e = 0; e < NITEMS(expect_table); e++) {
		assert_int_equal(expect_table[e].ev, (enum vmstate_event)e);
		for (s = 0; s < DB_STATE_COUNT; s++) {
			char c = expect_table[e].to[s];

			to = DB_STATE_COUNT;
			rc = vmstate_next((enum db_state)s,
			    expect_table[e].ev, &to);
			if (c != '-') {
				assert_int_equal(rc, 0);
				assert_int_equal(to, state_of(c));
				allowed++;
				continue;
			}
			assert_int_equal(rc, -EBUSY);
			assert_int_equal(to, DB_STATE_COUNT);	/* untouched */
			if (expect_table[e].verb != NULL)
				snprintf(want, sizeof(want), "cannot %s: the "
				    "VM is %s", expect_table[e].verb,
				    state_names[s]);
			else
				snprintf(want, sizeof(want), "unexpected %s: "
				    "the VM is %s",
				    vmstate_event_name(expect_table[e].ev),
				    state_names[s]);
			assert_string_equal(vmstate_errmsg((enum db_state)s,
			    expect_table[e].ev, msg, sizeof(msg)), want);
		}
	}
	print_message("transition table: %zu of %zu pairs allowed\n",
	    allowed, NITEMS(expect_table) * (size_t)DB_STATE_COUNT);

	/* A few literally, as a client reads them. */
	assert_string_equal(vmstate_errmsg(DB_STATE_RUNNING,
	    VMSTATE_EV_START_REQUESTED, msg, sizeof(msg)),
	    "cannot start: the VM is running");
	assert_string_equal(vmstate_errmsg(DB_STATE_STOPPED,
	    VMSTATE_EV_STOP_FORCED, msg, sizeof(msg)),
	    "cannot force a stop: the VM is stopped");
	assert_string_equal(vmstate_errmsg(DB_STATE_PAUSED,
	    VMSTATE_EV_RESET_REQUESTED, msg, sizeof(msg)),
	    "cannot reset: the VM is paused");
	assert_string_equal(vmstate_errmsg(DB_STATE_STOPPED,
	    VMSTATE_EV_WORKER_READY, msg, sizeof(msg)),
	    "unexpected worker_ready: the VM is stopped");

	/* Truncation and bounds. */
	assert_string_equal(vmstate_errmsg(DB_STATE_RUNNING,
	    VMSTATE_EV_START_REQUESTED, msg, 7), "cannot");
	assert_int_equal(vmstate_next(DB_STATE_COUNT,
	    VMSTATE_EV_START_REQUESTED, &to), -EINVAL);
	assert_int_equal(vmstate_next(DB_STATE_STOPPED, VMSTATE_EV_COUNT,
	    &to), -EINVAL);
	assert_int_equal(vmstate_next((enum db_state)-1,
	    VMSTATE_EV_START_REQUESTED, &to), -EINVAL);
}

/* -------------------------------------------------------------------------- */
/* The exit policy. */

#define D	VMDEF_ACTION_DESTROY
#define R	VMDEF_ACTION_RESTART
#define P	VMDEF_ACTION_PRESERVE

static void
def_actions(struct vmdef *def, enum vmdef_action off, enum vmdef_action reb,
    enum vmdef_action crash)
{
	memset(def, 0, sizeof(*def));
	def->name = (char *)(uintptr_t)"vm";
	def->on_poweroff = off;
	def->on_reboot = reb;
	def->on_crash = crash;
	def->shutdown_timeout = VMDEF_SHUTDOWN_DEF;
}

static const struct exit_case {
	int status;
	enum vmstate_request req;
	enum vmdef_action off, reb, crash;
	enum vmstate_kind kind;
	const char *reason;
	enum db_state state;
	int64_t delay_ms;
	const char *message;
} exit_cases[] = {
#define NONE	VMSTATE_REQUEST_NONE
#define STOP	VMSTATE_REQUEST_STOP
#define RESET	VMSTATE_REQUEST_RESET
#define K(x)	VMSTATE_KIND_##x
#define ST(x)	DB_STATE_##x
	{ 0, NONE, D, R, D, K(POWEROFF), "poweroff", ST(STOPPED), 0,
	    "poweroff: on_poweroff is destroy" },
	{ 0, NONE, R, D, D, K(POWEROFF), "poweroff", ST(STARTING), 0,
	    "poweroff: restart in 0 ms" },
	{ 0, NONE, P, R, R, K(POWEROFF), "poweroff", ST(CRASHED), 0,
	    "poweroff: on_poweroff is preserve" },
	{ 0, RESET, D, R, R, K(POWEROFF), "poweroff", ST(STOPPED), 0,
	    "poweroff: on_poweroff is destroy" },
	{ 32, NONE, D, R, R, K(POWEROFF), "debug-exit 0", ST(STOPPED), 0,
	    "debug-exit 0: on_poweroff is destroy" },
	{ 63, NONE, R, D, D, K(POWEROFF), "debug-exit 31", ST(STARTING), 0,
	    "debug-exit 31: restart in 0 ms" },
	{ 10, NONE, D, R, D, K(REBOOT), "reboot", ST(STARTING), 0,
	    "reboot: restart in 0 ms" },
	{ 10, NONE, R, D, R, K(REBOOT), "reboot", ST(STOPPED), 0,
	    "reboot: on_reboot is destroy" },
	{ 10, NONE, R, P, R, K(REBOOT), "reboot", ST(CRASHED), 0,
	    "reboot: on_reboot is preserve" },
	{ 10, RESET, D, D, D, K(RESET), "reset", ST(STARTING), 0,
	    "reset on request" },
	{ 11, NONE, R, R, D, K(CRASH), "triple-fault", ST(STOPPED), 0,
	    "triple-fault: on_crash is destroy" },
	{ 11, RESET, D, D, P, K(CRASH), "triple-fault", ST(CRASHED), 0,
	    "triple-fault: on_crash is preserve" },
	{ 12, NONE, D, D, P, K(CRASH), "error", ST(CRASHED), 0,
	    "error: on_crash is preserve" },
	{ 12, NONE, D, D, R, K(CRASH), "error", ST(STARTING), 0,
	    "error: restart in 0 ms" },
	{ 128 + 9, NONE, D, D, R, K(CRASH), "signal 9", ST(STARTING), 0,
	    "signal 9: restart in 0 ms" },
	{ 128 + 11, NONE, R, R, D, K(CRASH), "signal 11", ST(STOPPED), 0,
	    "signal 11: on_crash is destroy" },
	{ 255, NONE, R, R, P, K(CRASH), "signal 127", ST(CRASHED), 0,
	    "signal 127: on_crash is preserve" },
	{ 1, NONE, R, R, D, K(CRASH), "exit 1", ST(STOPPED), 0,
	    "exit 1: on_crash is destroy" },
	{ 13, NONE, R, R, P, K(CRASH), "exit 13", ST(CRASHED), 0,
	    "exit 13: on_crash is preserve" },
	{ 31, NONE, R, R, D, K(CRASH), "exit 31", ST(STOPPED), 0,
	    "exit 31: on_crash is destroy" },
	{ 72, NONE, R, R, D, K(CRASH), "exit 72", ST(STOPPED), 0,
	    "exit 72: on_crash is destroy" },
	{ 127, NONE, R, R, D, K(CRASH), "exit 127", ST(STOPPED), 0,
	    "exit 127: on_crash is destroy" },
	/* Setup failures: crashed whatever on_crash says, never restarted. */
	{ 64, NONE, R, R, R, K(SETUP), "usage", ST(CRASHED), 0,
	    "usage: setup failed, not restarted" },
	{ 65, NONE, R, R, R, K(SETUP), "bad-definition", ST(CRASHED), 0,
	    "bad-definition: setup failed, not restarted" },
	{ 66, NONE, D, D, D, K(SETUP), "unusable-file", ST(CRASHED), 0,
	    "unusable-file: setup failed, not restarted" },
	{ 67, NONE, R, R, R, K(SETUP), "setup", ST(CRASHED), 0,
	    "setup: setup failed, not restarted" },
	{ 68, NONE, R, R, R, K(SETUP), "setup", ST(CRASHED), 0,
	    "setup: setup failed, not restarted" },
	{ 69, RESET, R, R, R, K(SETUP), "hypervisor-unavailable",
	    ST(CRASHED), 0, "hypervisor-unavailable: setup failed, not "
	    "restarted" },
	{ 70, NONE, R, R, R, K(SETUP), "internal-error", ST(CRASHED), 0,
	    "internal-error: setup failed, not restarted" },
	{ 71, NONE, R, R, P, K(SETUP), "os-error", ST(CRASHED), 0,
	    "os-error: setup failed, not restarted" },
	/* A requested stop always ends stopped. */
	{ 0, STOP, R, R, R, K(POWEROFF), "poweroff", ST(STOPPED), 0,
	    "poweroff: stopped on request" },
	{ 10, STOP, R, R, R, K(REBOOT), "reboot", ST(STOPPED), 0,
	    "reboot: stopped on request" },
	{ 12, STOP, R, R, P, K(CRASH), "error", ST(STOPPED), 0,
	    "error: stopped on request" },
	{ 128 + 9, STOP, R, R, P, K(CRASH), "signal 9", ST(STOPPED), 0,
	    "signal 9: stopped on request" },
	{ 65, STOP, R, R, R, K(SETUP), "bad-definition", ST(STOPPED), 0,
	    "bad-definition: stopped on request" },
#undef NONE
#undef STOP
#undef RESET
#undef K
#undef ST
};

static void
test_exit_policy(void **state)
{
	const struct exit_case *c;
	struct vmstate_budget b, b0;
	struct vmstate_exit d;
	struct vmdef def;
	enum db_state from, to;
	size_t i;

	for (i = 0; i < NITEMS(exit_cases); i++) {
		c = &exit_cases[i];
		def_actions(&def, c->off, c->reb, c->crash);
		vmstate_budget_init(&b);
		vmstate_budget_started(&b, 1000);
		b0 = b;
		assert_int_equal(vmstate_on_exit(&def, c->status, c->req, &b,
		    2000, &d), 0);
		assert_int_equal(d.kind, c->kind);
		assert_string_equal(d.reason, c->reason);
		assert_int_equal(d.state, c->state);
		assert_int_equal(d.delay_ms, c->delay_ms);
		assert_string_equal(d.message, c->message);
		/* Only an automatic restart touches the budget. */
		if (d.state == DB_STATE_STARTING &&
		    d.kind != VMSTATE_KIND_RESET)
			assert_int_equal(b.nrestarts, 1);
		else
			assert_memory_equal(&b, &b0, sizeof(b));
		/* The event leads to the decided state. */
		from = c->req == VMSTATE_REQUEST_STOP ? DB_STATE_STOPPING :
		    DB_STATE_RUNNING;
		assert_int_equal(vmstate_next(from, d.event, &to), 0);
		assert_int_equal(to, d.state);
		assert_int_equal(vmstate_next(DB_STATE_PAUSED, d.event, &to),
		    0);
		assert_int_equal(to, d.state);
	}

	def_actions(&def, R, R, R);
	vmstate_budget_init(&b);
	b0 = b;
	assert_int_equal(vmstate_on_exit(&def, -1, VMSTATE_REQUEST_NONE, &b,
	    0, &d), -EINVAL);
	assert_int_equal(vmstate_on_exit(&def, 256, VMSTATE_REQUEST_NONE, &b,
	    0, &d), -EINVAL);
	assert_memory_equal(&b, &b0, sizeof(b));
}

/*
 * Run the VM from *now for run_ms, end it with status at the end, and
 * check the decision; the new run starts after the delay.
 */
static void
run_and_exit(const struct vmdef *def, struct vmstate_budget *b,
    int64_t *now, int64_t run_ms, int status, enum db_state want_state,
    int64_t want_delay)
{
	struct vmstate_exit d;

	vmstate_budget_started(b, *now);
	*now += run_ms;
	assert_int_equal(vmstate_on_exit(def, status, VMSTATE_REQUEST_NONE,
	    b, *now, &d), 0);
	assert_int_equal(d.state, want_state);
	assert_int_equal(d.delay_ms, want_delay);
	if (want_state == DB_STATE_CRASHED)
		assert_string_equal(d.message,
		    "crash loop: 5 restarts in 60 s");
	*now += d.delay_ms;
}

/* Crashes 1 s into each run: 0, 1, 2, 4, 8 s of backoff, then a loop. */
static void
test_crash_loop(void **state)
{
	static const int64_t delays[] = { 0, 1000, 2000, 4000, 8000 };
	struct vmstate_budget b;
	struct vmdef def;
	int64_t now = 0;
	size_t i;

	def_actions(&def, D, R, R);
	vmstate_budget_init(&b);
	for (i = 0; i < NITEMS(delays); i++)
		run_and_exit(&def, &b, &now, 1000, 11, DB_STATE_STARTING,
		    delays[i]);
	assert_int_equal(now, 20000);
	run_and_exit(&def, &b, &now, 1000, 11, DB_STATE_CRASHED, 0);

	/* Reboots count as well: the same loop with status 10. */
	vmstate_budget_init(&b);
	for (i = 0; i < NITEMS(delays); i++)
		run_and_exit(&def, &b, &now, 500, 10, DB_STATE_STARTING,
		    delays[i]);
	run_and_exit(&def, &b, &now, 500, 10, DB_STATE_CRASHED, 0);

	/* The operator starts it again: a fresh budget. */
	vmstate_budget_init(&b);
	run_and_exit(&def, &b, &now, 1000, 12, DB_STATE_STARTING, 0);
	run_and_exit(&def, &b, &now, 1000, 12, DB_STATE_STARTING, 1000);
}

/* The window slides: the 6th restart is allowed once the 1st is 60 s old. */
static void
test_window(void **state)
{
	struct vmstate_budget b;
	struct vmstate_exit d;
	struct vmdef def;
	int64_t t;

	def_actions(&def, R, R, R);
	vmstate_budget_init(&b);
	/* Exits at 10, 20, 30, 40, 50 s (runs shorter than the window). */
	for (t = 10000; t <= 50000; t += 10000) {
		vmstate_budget_started(&b, t - 1);
		assert_int_equal(vmstate_on_exit(&def, 12,
		    VMSTATE_REQUEST_NONE, &b, t, &d), 0);
		assert_int_equal(d.state, DB_STATE_STARTING);
	}
	/* At 69.999 s the first (10 s) is still within 60 s: refused. */
	vmstate_budget_started(&b, 69000);
	assert_int_equal(vmstate_on_exit(&def, 12, VMSTATE_REQUEST_NONE, &b,
	    69999, &d), 0);
	assert_int_equal(d.state, DB_STATE_CRASHED);
	assert_int_equal(d.event, VMSTATE_EV_WORKER_EXITED_CRASH);
	assert_string_equal(d.reason, "error");
	assert_string_equal(d.message, "crash loop: 5 restarts in 60 s");
	/* At 70 s it is 60 s old: allowed, the streak's 6th delay (16 s). */
	assert_int_equal(vmstate_on_exit(&def, 12, VMSTATE_REQUEST_NONE, &b,
	    70000, &d), 0);
	assert_int_equal(d.state, DB_STATE_STARTING);
	assert_int_equal(d.delay_ms, 16000);
	/* Now 20, 30, 40, 50 and 70 s: at 79.999 s refused, at 80 s not. */
	assert_int_equal(vmstate_on_exit(&def, 12, VMSTATE_REQUEST_NONE, &b,
	    79999, &d), 0);
	assert_int_equal(d.state, DB_STATE_CRASHED);
	assert_int_equal(vmstate_on_exit(&def, 12, VMSTATE_REQUEST_NONE, &b,
	    80000, &d), 0);
	assert_int_equal(d.state, DB_STATE_STARTING);
}

/* Runs of 50 s: never a loop, the backoff grows to its 30 s cap. */
static void
test_backoff_cap(void **state)
{
	static const int64_t delays[] = { 0, 1000, 2000, 4000, 8000, 16000,
	    30000, 30000, 30000 };
	struct vmstate_budget b;
	struct vmdef def;
	int64_t now = 0;
	size_t i;

	def_actions(&def, R, R, R);
	vmstate_budget_init(&b);
	for (i = 0; i < NITEMS(delays); i++)
		run_and_exit(&def, &b, &now, 50000, 137, DB_STATE_STARTING,
		    delays[i]);
}

/* A run longer than the window (strictly) ends the streak. */
static void
test_budget_reset(void **state)
{
	struct vmstate_budget b;
	struct vmdef def;
	int64_t now = 0;

	def_actions(&def, R, R, R);
	vmstate_budget_init(&b);
	run_and_exit(&def, &b, &now, 100, 0, DB_STATE_STARTING, 0);
	run_and_exit(&def, &b, &now, 100, 0, DB_STATE_STARTING, 1000);
	run_and_exit(&def, &b, &now, 100, 0, DB_STATE_STARTING, 2000);
	/* Exactly the window: still the same streak. */
	run_and_exit(&def, &b, &now, VMSTATE_RESTART_WINDOW_MS, 0,
	    DB_STATE_STARTING, 4000);
	/* One millisecond more: a new streak. */
	run_and_exit(&def, &b, &now, VMSTATE_RESTART_WINDOW_MS + 1, 0,
	    DB_STATE_STARTING, 0);
	run_and_exit(&def, &b, &now, 100, 0, DB_STATE_STARTING, 1000);
	/* Without vmstate_budget_started nothing ends the streak. */
	vmstate_budget_init(&b);
	b.step = 3;
	{
		struct vmstate_exit d;

		assert_int_equal(vmstate_on_exit(&def, 0,
		    VMSTATE_REQUEST_NONE, &b, 1000000, &d), 0);
		assert_int_equal(d.delay_ms, 4000);
	}
}

/* Requested resets neither count nor wait. */
static void
test_reset_outside_budget(void **state)
{
	struct vmstate_budget b;
	struct vmstate_exit d;
	struct vmdef def;
	int64_t t;

	def_actions(&def, D, D, R);
	vmstate_budget_init(&b);
	for (t = 1; t <= 20; t++) {
		vmstate_budget_started(&b, t - 1);
		assert_int_equal(vmstate_on_exit(&def, 10,
		    VMSTATE_REQUEST_RESET, &b, t, &d), 0);
		assert_int_equal(d.kind, VMSTATE_KIND_RESET);
		assert_int_equal(d.state, DB_STATE_STARTING);
		assert_int_equal(d.delay_ms, 0);
	}
	assert_int_equal(b.nrestarts, 0);
	assert_int_equal(b.step, 0);
	assert_int_equal(vmstate_on_exit(&def, 11, VMSTATE_REQUEST_NONE, &b,
	    21, &d), 0);
	assert_int_equal(d.state, DB_STATE_STARTING);
	assert_int_equal(d.delay_ms, 0);
	assert_int_equal(b.nrestarts, 1);
}

/* -------------------------------------------------------------------------- */
/* Plans. */

struct vm_spec {
	const char *name;
	bool autostart;
	int order;
	unsigned int delay;	/* seconds */
	unsigned int timeout;	/* seconds */
};

static void
make_defs(const struct vm_spec *spec, size_t n, struct vmdef *defs,
    const struct vmdef **ptrs)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&defs[i], 0, sizeof(defs[i]));
		defs[i].name = (char *)(uintptr_t)spec[i].name;
		defs[i].autostart = spec[i].autostart;
		defs[i].autostart_order = spec[i].order;
		defs[i].autostart_delay = spec[i].delay;
		defs[i].shutdown_timeout = spec[i].timeout;
		ptrs[i] = &defs[i];
	}
}

static void
test_autostart_plan(void **state)
{
	static const struct vm_spec spec[] = {
		{ "web", true, 10, 5, 30 },
		{ "db", true, 0, 2, 30 },
		{ "cache", false, -5, 0, 30 },
		{ "app", true, 0, 3, 30 },
		{ "zeta", true, -1, 0, 30 },
		{ "mon", true, INT_MAX, 1, 30 },
		{ "low", true, INT_MIN, 0, 30 },
	};
	static const struct {
		const char *name;
		size_t index;
		int64_t at_ms;
	} want[] = {
		{ "low", 6, 0 },
		{ "zeta", 4, 0 },
		{ "app", 3, 3000 },
		{ "db", 1, 5000 },
		{ "web", 0, 10000 },
		{ "mon", 5, 11000 },
	};
	struct vmdef defs[NITEMS(spec)];
	const struct vmdef *ptrs[NITEMS(spec)];
	struct vmstate_plan_entry out[NITEMS(spec)];
	size_t i;

	make_defs(spec, NITEMS(spec), defs, ptrs);
	assert_int_equal(vmstate_autostart_plan(ptrs, NITEMS(spec), out),
	    NITEMS(want));
	for (i = 0; i < NITEMS(want); i++) {
		assert_string_equal(out[i].def->name, want[i].name);
		assert_int_equal(out[i].index, want[i].index);
		assert_ptr_equal(out[i].def, ptrs[want[i].index]);
		assert_int_equal(out[i].at_ms, want[i].at_ms);
		assert_int_equal(out[i].batch, i);
		assert_int_equal(out[i].timeout_ms, 0);
	}
	assert_int_equal(vmstate_autostart_plan(ptrs, 0, out), 0);

	/* The same name twice (a caller's mistake): the index decides. */
	defs[1].name = (char *)(uintptr_t)"app";
	assert_int_equal(vmstate_autostart_plan(ptrs, NITEMS(spec), out),
	    NITEMS(want));
	assert_int_equal(out[2].index, 1);
	assert_int_equal(out[3].index, 3);
}

static const struct vm_spec stop_spec[] = {
	{ "a", false, 0, 0, 30 },
	{ "b", true, 0, 0, 10 },
	{ "c", true, 5, 0, 20 },
	{ "d", true, -1, 0, 60 },
	{ "e", false, 5, 0, 5 },
};

/* The expected plan: names in order, batch, at and timeout in seconds. */
struct stop_want {
	const char *name;
	unsigned int batch;
	int64_t at, timeout;
};

static void
check_stop_plan(int64_t deadline_ms, const struct stop_want *want)
{
	struct vmdef defs[NITEMS(stop_spec)];
	const struct vmdef *ptrs[NITEMS(stop_spec)];
	struct vmstate_plan_entry out[NITEMS(stop_spec)];
	size_t i;

	make_defs(stop_spec, NITEMS(stop_spec), defs, ptrs);
	assert_int_equal(vmstate_shutdown_plan(ptrs, NITEMS(stop_spec),
	    deadline_ms, out), NITEMS(stop_spec));
	for (i = 0; i < NITEMS(stop_spec); i++) {
		assert_string_equal(out[i].def->name, want[i].name);
		assert_ptr_equal(out[i].def, ptrs[out[i].index]);
		assert_int_equal(out[i].batch, want[i].batch);
		assert_int_equal(out[i].at_ms, want[i].at * 1000);
		assert_int_equal(out[i].timeout_ms, want[i].timeout * 1000);
	}
}

static void
test_shutdown_plan(void **state)
{
	/* Batches: order 5 {c, e} asks 20 s, 0 {a, b} 30 s, -1 {d} 60 s. */
	static const struct stop_want roomy[] = {
		{ "c", 0, 0, 20 }, { "e", 0, 0, 5 },
		{ "a", 1, 20, 30 }, { "b", 1, 20, 10 },
		{ "d", 2, 50, 60 },
	}, exact[] = {
		{ "c", 0, 0, 20 }, { "e", 0, 0, 5 },
		{ "a", 1, 20, 30 }, { "b", 1, 20, 10 },
		{ "d", 2, 50, 60 },
	}, level50[] = {
		{ "c", 0, 0, 20 }, { "e", 0, 0, 5 },
		{ "a", 1, 20, 30 }, { "b", 1, 20, 10 },
		{ "d", 2, 50, 50 },
	}, level20[] = {
		{ "c", 0, 0, 20 }, { "e", 0, 0, 5 },
		{ "a", 1, 20, 20 }, { "b", 1, 20, 10 },
		{ "d", 2, 40, 20 },
	}, level3[] = {
		{ "c", 0, 0, 3 }, { "e", 0, 0, 3 },
		{ "a", 1, 3, 3 }, { "b", 1, 3, 3 },
		{ "d", 2, 6, 3 },
	}, forced[] = {
		{ "c", 0, 0, 0 }, { "e", 0, 0, 0 },
		{ "a", 1, 0, 0 }, { "b", 1, 0, 0 },
		{ "d", 2, 0, 0 },
	};

	check_stop_plan(200000, roomy);
	check_stop_plan(110000, exact);
	check_stop_plan(100000, level50);
	check_stop_plan(60000, level20);
	check_stop_plan(9000, level3);
	check_stop_plan(0, forced);
	check_stop_plan(-5, forced);
	check_stop_plan(2, forced);	/* 3 batches: not even 1 ms each */
}

/* Deterministic xorshift, seeded by VMSTATE_SEED or the time. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random shutdown plans: a permutation of the input; batches in falling
 * order, contiguous and numbered from 0; no VM gets more than it asks;
 * the batches fit the deadline; everyone gets their ask when it all
 * fits; else the level is maximal (one more ms for each capped batch
 * would not fit).
 */
static void
test_shutdown_property(void **state)
{
	static char names[PROP_VMS_MAX][8];
	struct vmdef defs[PROP_VMS_MAX];
	const struct vmdef *ptrs[PROP_VMS_MAX];
	struct vmstate_plan_entry out[PROP_VMS_MAX];
	bool seen[PROP_VMS_MAX];
	const char *env = getenv("VMSTATE_SEED");
	uint64_t seed, s;
	int64_t deadline, sum, asks, bt, level, want;
	size_t n, i, capped;
	int iter;

	seed = env != NULL ? strtoull(env, NULL, 0) :
	    (uint64_t)time(NULL) | 1;
	print_message("shutdown property loop: VMSTATE_SEED=%" PRIu64 "\n",
	    seed);
	s = seed;
	for (iter = 0; iter < PROP_ITERS; iter++) {
		n = rnd(&s) % (PROP_VMS_MAX + 1);
		for (i = 0; i < n; i++) {
			memset(&defs[i], 0, sizeof(defs[i]));
			snprintf(names[i], sizeof(names[i]), "vm%zu",
			    (size_t)(rnd(&s) % 100));
			defs[i].name = names[i];
			defs[i].autostart_order = (int)(rnd(&s) % 5) - 2;
			defs[i].shutdown_timeout = 1 + rnd(&s) %
			    VMDEF_SHUTDOWN_MAX;
			ptrs[i] = &defs[i];
		}
		deadline = (int64_t)(rnd(&s) % 4000000) - 1000;
		assert_int_equal(vmstate_shutdown_plan(ptrs, n, deadline, out),
		    n);
		memset(seen, 0, sizeof(seen));
		sum = asks = level = 0;
		capped = 0;
		for (i = 0; i < n; i++) {
			assert_true(out[i].index < n);
			assert_false(seen[out[i].index]);
			seen[out[i].index] = true;
			want = (int64_t)out[i].def->shutdown_timeout * 1000;
			assert_true(out[i].timeout_ms >= 0);
			assert_true(out[i].timeout_ms <= want);
			if (i == 0) {
				assert_int_equal(out[i].batch, 0);
				assert_int_equal(out[i].at_ms, 0);
				continue;
			}
			if (out[i].def->autostart_order ==
			    out[i - 1].def->autostart_order) {
				assert_int_equal(out[i].batch,
				    out[i - 1].batch);
				assert_int_equal(out[i].at_ms,
				    out[i - 1].at_ms);
				assert_true(strcmp(out[i - 1].def->name,
				    out[i].def->name) <= 0);
			} else {
				assert_true(out[i].def->autostart_order <
				    out[i - 1].def->autostart_order);
				assert_int_equal(out[i].batch,
				    out[i - 1].batch + 1);
				assert_true(out[i].at_ms >= out[i - 1].at_ms);
			}
		}
		/* Per batch: its timeout (the longest), its ask. */
		for (i = 0; i < n; ) {
			size_t j = i;

			bt = 0;
			want = 0;
			for (; j < n && out[j].batch == out[i].batch; j++) {
				if (out[j].timeout_ms > bt)
					bt = out[j].timeout_ms;
				if ((int64_t)out[j].def->shutdown_timeout *
				    1000 > want)
					want = (int64_t)out[j].def->
					    shutdown_timeout * 1000;
			}
			assert_int_equal(out[i].at_ms, sum);
			sum += bt;
			asks += want;
			if (bt < want) {
				capped++;
				if (capped == 1)
					level = bt;
				assert_int_equal(bt, level);
			}
			i = j;
		}
		assert_true(sum <= (deadline < 0 ? 0 : deadline));
		if (asks <= deadline)
			assert_int_equal(sum, asks);
		else
			assert_true(sum + (int64_t)capped > deadline);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_status_map),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_exit_policy),
		cmocka_unit_test(test_crash_loop),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_backoff_cap),
		cmocka_unit_test(test_budget_reset),
		cmocka_unit_test(test_reset_outside_budget),
		cmocka_unit_test(test_autostart_plan),
		cmocka_unit_test(test_shutdown_plan),
		cmocka_unit_test(test_shutdown_property),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
