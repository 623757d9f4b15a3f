/*
 * vmstate.c: the supervisor's pure logic (see vmstate.h): one transition
 * table, the exit policy with its crash-loop budget, and the autostart
 * and shutdown plans.  Nothing here does I/O or reads a clock, so every
 * rule is tested exhaustively with a simulated clock (test_vmstate.c).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmstate.h"

/* -------------------------------------------------------------------------- */
/* Names. */

static const struct {
	const char *name;
	const char *verb;	/* NULL: the supervisor's own event */
} vs_events[VMSTATE_EV_COUNT] = {
#define VMSTATE_X(NAME, name, verb)	[VMSTATE_EV_##NAME] = { name, verb },
	VMSTATE_EVENT_MAP(VMSTATE_X)
#undef VMSTATE_X
};

static const char *const vs_kinds[VMSTATE_KIND_COUNT] = {
#define VMSTATE_X(NAME, name)	[VMSTATE_KIND_##NAME] = name,
	VMSTATE_KIND_MAP(VMSTATE_X)
#undef VMSTATE_X
};

static const struct {
	int status;
	const char *word;
} vs_statuses[] = {
#define VMSTATE_X(NAME, status, word)	{ status, word },
	VMSTATE_STATUS_MAP(VMSTATE_X)
#undef VMSTATE_X
};

const char *
vmstate_event_name(enum vmstate_event ev)
{
	if ((unsigned int)ev >= VMSTATE_EV_COUNT)
		return NULL;
	return vs_events[ev].name;
}

const char *
vmstate_kind_name(enum vmstate_kind kind)
{
	if ((unsigned int)kind >= VMSTATE_KIND_COUNT)
		return NULL;
	return vs_kinds[kind];
}

/* -------------------------------------------------------------------------- */
/* The transition table. */

#define S(x)	DB_STATE_##x
#define E(x)	VMSTATE_EV_##x

/*
 * Every allowed transition, and nothing else: a pair absent from this
 * table is refused with -EBUSY.  Grouped by event.  The client events'
 * rows follow PROTOCOL.md's "-32003 unless ..." columns, except that a
 * starting VM can also be stopped (see below).
 */
static const struct vs_row {
	enum db_state from;
	enum vmstate_event ev;
	enum db_state to;
} vs_table[] = {
	{ S(DEFINED), E(START_REQUESTED), S(STARTING) },
	{ S(STOPPED), E(START_REQUESTED), S(STARTING) },
	{ S(CRASHED), E(START_REQUESTED), S(STARTING) },

	{ S(STARTING), E(WORKER_READY), S(RUNNING) },

	{ S(STARTING), E(WORKER_EXITED_STOP), S(STOPPED) },
	{ S(RUNNING), E(WORKER_EXITED_STOP), S(STOPPED) },
	{ S(PAUSED), E(WORKER_EXITED_STOP), S(STOPPED) },
	{ S(STOPPING), E(WORKER_EXITED_STOP), S(STOPPED) },

	/* A requested stop never restarts nor ends crashed: no stopping. */
	{ S(STARTING), E(WORKER_EXITED_RESTART), S(STARTING) },
	{ S(RUNNING), E(WORKER_EXITED_RESTART), S(STARTING) },
	{ S(PAUSED), E(WORKER_EXITED_RESTART), S(STARTING) },

	{ S(STARTING), E(WORKER_EXITED_CRASH), S(CRASHED) },
	{ S(RUNNING), E(WORKER_EXITED_CRASH), S(CRASHED) },
	{ S(PAUSED), E(WORKER_EXITED_CRASH), S(CRASHED) },

	{ S(STARTING), E(START_CANCELLED), S(STOPPED) },

	/*
	 * A starting VM can be stopped: it may be waiting out a restart's
	 * backoff, or booting slowly.  A second graceful stop is refused
	 * (the first one's timeout runs); forcing one is not.
	 */
	{ S(STARTING), E(STOP_REQUESTED), S(STOPPING) },
	{ S(RUNNING), E(STOP_REQUESTED), S(STOPPING) },
	{ S(PAUSED), E(STOP_REQUESTED), S(STOPPING) },

	{ S(STARTING), E(STOP_FORCED), S(STOPPING) },
	{ S(RUNNING), E(STOP_FORCED), S(STOPPING) },
	{ S(PAUSED), E(STOP_FORCED), S(STOPPING) },
	{ S(STOPPING), E(STOP_FORCED), S(STOPPING) },

	/* The worker answers a request; the state moves on its answer. */
	{ S(RUNNING), E(PAUSE_REQUESTED), S(RUNNING) },
	{ S(RUNNING), E(PAUSED), S(PAUSED) },
	{ S(PAUSED), E(RESUME_REQUESTED), S(PAUSED) },
	{ S(PAUSED), E(RESUMED), S(RUNNING) },

	/* The worker then exits with "reboot" (vmm-worker(8)). */
	{ S(RUNNING), E(RESET_REQUESTED), S(RUNNING) },

	/* vmmd restarted: the live states keep going, or end. */
	{ S(STARTING), E(ADOPT_FOUND), S(STARTING) },
	{ S(RUNNING), E(ADOPT_FOUND), S(RUNNING) },
	{ S(PAUSED), E(ADOPT_FOUND), S(PAUSED) },
	{ S(STOPPING), E(ADOPT_FOUND), S(STOPPING) },
	{ S(STARTING), E(ADOPT_MISSING), S(CRASHED) },
	{ S(RUNNING), E(ADOPT_MISSING), S(CRASHED) },
	{ S(PAUSED), E(ADOPT_MISSING), S(CRASHED) },
	{ S(STOPPING), E(ADOPT_MISSING), S(STOPPED) },

	{ S(DEFINED), E(UNDEFINE), S(DEFINED) },
	{ S(STOPPED), E(UNDEFINE), S(STOPPED) },
	{ S(CRASHED), E(UNDEFINE), S(CRASHED) },
};

#undef S
#undef E

int
vmstate_next(enum db_state from, enum vmstate_event ev, enum db_state *to)
{
	size_t i;

	if ((unsigned int)from >= DB_STATE_COUNT ||
	    (unsigned int)ev >= VMSTATE_EV_COUNT)
		return -EINVAL;
	for (i = 0; i < sizeof(vs_table) / sizeof(vs_table[0]); i++) {
		if (vs_table[i].from == from && vs_table[i].ev == ev) {
			*to = vs_table[i].to;
			return 0;
		}
	}
	return -EBUSY;
}

const char *
vmstate_errmsg(enum db_state from, enum vmstate_event ev, char *buf,
    size_t len)
{
	const char *state, *verb;

	if (len == 0)
		return buf;
	state = db_state_name(from);
	if (state == NULL || (unsigned int)ev >= VMSTATE_EV_COUNT) {
		snprintf(buf, len, "invalid state or event");
		return buf;
	}
	if ((verb = vs_events[ev].verb) != NULL)
		snprintf(buf, len, "cannot %s: the VM is %s", verb, state);
	else
		snprintf(buf, len, "unexpected %s: the VM is %s",
		    vs_events[ev].name, state);
	return buf;
}

/* -------------------------------------------------------------------------- */
/* The exit policy. */

void
vmstate_budget_init(struct vmstate_budget *b)
{
	memset(b, 0, sizeof(*b));
}

void
vmstate_budget_started(struct vmstate_budget *b, int64_t now_ms)
{
	b->started_ms = now_ms;
	b->started = true;
}

/* The worker's word for a documented status, else NULL. */
static const char *
vs_status_word(int status)
{
	size_t i;

	for (i = 0; i < sizeof(vs_statuses) / sizeof(vs_statuses[0]); i++)
		if (vs_statuses[i].status == status)
			return vs_statuses[i].word;
	return NULL;
}

/* Classify status into d->kind and d->reason. */
static void
vs_classify(int status, enum vmstate_request req, struct vmstate_exit *d)
{
	const char *word = vs_status_word(status);
	size_t len = sizeof(d->reason);

	if (status >= VMSTATE_SIGNAL_BASE) {
		d->kind = VMSTATE_KIND_CRASH;
		snprintf(d->reason, len, "signal %d",
		    status - VMSTATE_SIGNAL_BASE);
	} else if (status >= VMSTATE_SETUP_FIRST &&
	    status <= VMSTATE_SETUP_LAST) {
		/* 67 and 68 are sysexits.h's too, unused by the worker. */
		d->kind = VMSTATE_KIND_SETUP;
		snprintf(d->reason, len, "%s", word != NULL ? word : "setup");
	} else if (status >= VMSTATE_STATUS_DEBUG_EXIT &&
	    status <= VMSTATE_DEBUG_EXIT_LAST) {
		d->kind = VMSTATE_KIND_POWEROFF;
		snprintf(d->reason, len, "debug-exit %d",
		    status - VMSTATE_STATUS_DEBUG_EXIT);
	} else if (status == VMSTATE_STATUS_POWEROFF) {
		d->kind = VMSTATE_KIND_POWEROFF;
		snprintf(d->reason, len, "%s", word);
	} else if (status == VMSTATE_STATUS_REBOOT) {
		d->kind = req == VMSTATE_REQUEST_RESET ? VMSTATE_KIND_RESET :
		    VMSTATE_KIND_REBOOT;
		snprintf(d->reason, len, "%s",
		    vs_kinds[d->kind]);
	} else {
		/* Triple fault, error, or a status nobody documented. */
		d->kind = VMSTATE_KIND_CRASH;
		if (word != NULL)
			snprintf(d->reason, len, "%s", word);
		else
			snprintf(d->reason, len, "exit %d", status);
	}
}

/* Set the outcome: the event and the state it leads to. */
static void
vs_end(struct vmstate_exit *d, enum vmstate_event ev, enum db_state state)
{
	d->event = ev;
	d->state = state;
}

/* The delay before restart number step + 1 of a streak. */
static int64_t
vs_backoff(unsigned int step)
{
	int64_t delay = VMSTATE_BACKOFF_BASE_MS;

	if (step == 0)
		return 0;
	while (--step > 0 && delay < VMSTATE_BACKOFF_MAX_MS)
		delay *= 2;
	return delay < VMSTATE_BACKOFF_MAX_MS ? delay :
	    VMSTATE_BACKOFF_MAX_MS;
}

/*
 * An automatic restart at now_ms: refused (crashed) when the last
 * VMSTATE_RESTART_BUDGET restarts all fall within the window, else
 * recorded with its backoff delay.
 */
static void
vs_restart(struct vmstate_budget *b, int64_t now_ms, struct vmstate_exit *d)
{
	/* A run longer than the window ends the streak. */
	if (b->started && now_ms - b->started_ms > VMSTATE_RESTART_WINDOW_MS)
		b->step = 0;
	if (b->nrestarts == VMSTATE_RESTART_BUDGET &&
	    now_ms - b->restarts[b->next] < VMSTATE_RESTART_WINDOW_MS) {
		vs_end(d, VMSTATE_EV_WORKER_EXITED_CRASH, DB_STATE_CRASHED);
		snprintf(d->message, sizeof(d->message),
		    "crash loop: %d restarts in %d s", VMSTATE_RESTART_BUDGET,
		    VMSTATE_RESTART_WINDOW_MS / 1000);
		return;
	}
	d->delay_ms = vs_backoff(b->step);
	if (b->step < UINT32_MAX)
		b->step++;
	b->restarts[b->next] = now_ms;
	b->next = (b->next + 1) % VMSTATE_RESTART_BUDGET;
	if (b->nrestarts < VMSTATE_RESTART_BUDGET)
		b->nrestarts++;
	vs_end(d, VMSTATE_EV_WORKER_EXITED_RESTART, DB_STATE_STARTING);
	snprintf(d->message, sizeof(d->message), "%s: restart in %" PRId64
	    " ms", d->reason, d->delay_ms);
}

int
vmstate_on_exit(const struct vmdef *def, int exit_status,
    enum vmstate_request req, struct vmstate_budget *b, int64_t now_ms,
    struct vmstate_exit *d)
{
	enum vmdef_action action;
	const char *which;

	if (exit_status < 0 || exit_status > VMSTATE_STATUS_MAX)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	vs_classify(exit_status, req, d);

	if (req == VMSTATE_REQUEST_STOP) {
		vs_end(d, VMSTATE_EV_WORKER_EXITED_STOP, DB_STATE_STOPPED);
		snprintf(d->message, sizeof(d->message), "%s: stopped on "
		    "request", d->reason);
		return 0;
	}
	switch (d->kind) {
	case VMSTATE_KIND_RESET:
		vs_end(d, VMSTATE_EV_WORKER_EXITED_RESTART, DB_STATE_STARTING);
		snprintf(d->message, sizeof(d->message), "reset on request");
		return 0;
	case VMSTATE_KIND_SETUP:
		vs_end(d, VMSTATE_EV_WORKER_EXITED_CRASH, DB_STATE_CRASHED);
		snprintf(d->message, sizeof(d->message), "%s: setup failed, "
		    "not restarted", d->reason);
		return 0;
	case VMSTATE_KIND_POWEROFF:
		action = def->on_poweroff;
		which = "on_poweroff";
		break;
	case VMSTATE_KIND_REBOOT:
		action = def->on_reboot;
		which = "on_reboot";
		break;
	default:
		action = def->on_crash;
		which = "on_crash";
		break;
	}

	switch (action) {
	case VMDEF_ACTION_RESTART:
		vs_restart(b, now_ms, d);
		return 0;
	case VMDEF_ACTION_PRESERVE:
		vs_end(d, VMSTATE_EV_WORKER_EXITED_CRASH, DB_STATE_CRASHED);
		break;
	default:
		vs_end(d, VMSTATE_EV_WORKER_EXITED_STOP, DB_STATE_STOPPED);
		break;
	}
	snprintf(d->message, sizeof(d->message), "%s: %s is %s", d->reason,
	    which, vmdef_action_name(action));
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Plans. */

static int
vs_cmp_int(int a, int b)
{
	return (a > b) - (a < b);
}

static int
vs_cmp_zu(size_t a, size_t b)
{
	return (a > b) - (a < b);
}

/* Autostart: order up, then name, then index. */
static int
vs_cmp_start(const void *pa, const void *pb)
{
	const struct vmstate_plan_entry *a = pa, *b = pb;
	int c;

	if ((c = vs_cmp_int(a->def->autostart_order,
	    b->def->autostart_order)) != 0)
		return c;
	if ((c = strcmp(a->def->name, b->def->name)) != 0)
		return c;
	return vs_cmp_zu(a->index, b->index);
}

/* Shutdown: order down, then (within a batch) name, then index. */
static int
vs_cmp_stop(const void *pa, const void *pb)
{
	const struct vmstate_plan_entry *a = pa, *b = pb;
	int c;

	if ((c = vs_cmp_int(b->def->autostart_order,
	    a->def->autostart_order)) != 0)
		return c;
	if ((c = strcmp(a->def->name, b->def->name)) != 0)
		return c;
	return vs_cmp_zu(a->index, b->index);
}

size_t
vmstate_autostart_plan(const struct vmdef *const *defs, size_t n,
    struct vmstate_plan_entry *out)
{
	size_t i, m = 0;
	int64_t at = 0;

	for (i = 0; i < n; i++) {
		if (!defs[i]->autostart)
			continue;
		memset(&out[m], 0, sizeof(out[m]));
		out[m].index = i;
		out[m].def = defs[i];
		m++;
	}
	qsort(out, m, sizeof(*out), vs_cmp_start);
	for (i = 0; i < m; i++) {
		at += (int64_t)out[i].def->autostart_delay * 1000;
		out[i].at_ms = at;
		out[i].batch = (unsigned int)i;
	}
	return m;
}

/* The end of the batch that starts at out[i]. */
static size_t
vs_batch_end(const struct vmstate_plan_entry *out, size_t n, size_t i)
{
	int order = out[i].def->autostart_order;

	while (i < n && out[i].def->autostart_order == order)
		i++;
	return i;
}

/* What the batch [i, end) asks for: its longest timeout. */
static int64_t
vs_batch_want(const struct vmstate_plan_entry *out, size_t i, size_t end)
{
	int64_t want = 0, t;

	for (; i < end; i++) {
		t = (int64_t)out[i].def->shutdown_timeout * 1000;
		if (t > want)
			want = t;
	}
	return want;
}

/* The sum over the batches of min(ask, level). */
static int64_t
vs_level_sum(const struct vmstate_plan_entry *out, size_t n, int64_t level)
{
	int64_t sum = 0, want;
	size_t i, end;

	for (i = 0; i < n; i = end) {
		end = vs_batch_end(out, n, i);
		want = vs_batch_want(out, i, end);
		sum += want < level ? want : level;
	}
	return sum;
}

/*
 * The water level: the largest level whose sum of min(ask, level) fits
 * the deadline, found by bisection (the sum grows with the level).
 */
static int64_t
vs_level(const struct vmstate_plan_entry *out, size_t n, int64_t deadline)
{
	int64_t lo = 0, hi = 0, mid;
	size_t i;

	for (i = 0; i < n; i++)
		if ((int64_t)out[i].def->shutdown_timeout * 1000 > hi)
			hi = (int64_t)out[i].def->shutdown_timeout * 1000;
	if (vs_level_sum(out, n, hi) <= deadline)
		return hi;
	/* Invariant: sum(lo) <= deadline < sum(hi). */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (vs_level_sum(out, n, mid) <= deadline)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

size_t
vmstate_shutdown_plan(const struct vmdef *const *defs, size_t n,
    int64_t deadline_ms, struct vmstate_plan_entry *out)
{
	int64_t level, at = 0, bt, t;
	size_t i, j, end;
	unsigned int batch = 0;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].index = i;
		out[i].def = defs[i];
	}
	qsort(out, n, sizeof(*out), vs_cmp_stop);
	level = vs_level(out, n, deadline_ms < 0 ? 0 : deadline_ms);
	for (i = 0; i < n; i = end, batch++) {
		end = vs_batch_end(out, n, i);
		bt = vs_batch_want(out, i, end);
		if (bt > level)
			bt = level;
		for (j = i; j < end; j++) {
			t = (int64_t)out[j].def->shutdown_timeout * 1000;
			out[j].timeout_ms = t < bt ? t : bt;
			out[j].at_ms = at;
			out[j].batch = batch;
		}
		at += bt;
	}
	return n;
}
