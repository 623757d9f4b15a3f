/*
 * sup.c: the supervisor's core (sup.h): one entry per VM, and what
 * starting, a worker's readiness, its exit and a stop do to its VM.
 * Every state a VM takes goes through vmstate_next and is written to the
 * database with its "vm.state" event before anything else happens.
 * Operations (sup_ops.c) finish through one queue that a zero timer
 * empties, so that no completion ever runs inside the call that started
 * it.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sup_internal.h"

/* -------------------------------------------------------------------------- */
/* Timers. */

static void
sup_timer_closed(uv_handle_t *h)
{
	struct sup_timer *t = h->data;
	struct sup *s = t->s;

	free(t);
	s->handles--;
	sup_check_handles(s);
}

static void
sup_timer_fired(uv_timer_t *h)
{
	struct sup_timer *t = h->data;

	*t->slot = NULL;
	uv_close((uv_handle_t *)h, sup_timer_closed);
	t->fn(t->arg);		/* t lives until its close callback */
}

/*
 * Run fn(arg) once in ms milliseconds; *slot holds the timer until it
 * fires or is stopped (a running one is replaced).  0 or -ENOMEM.
 */
int
sup_timer_start(struct sup *s, struct sup_timer **slot, uint64_t ms,
    void (*fn)(void *), void *arg)
{
	struct sup_timer *t;

	sup_timer_stop(slot);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	uv_timer_init(s->d->loop, &t->h);
	t->h.data = t;
	t->s = s;
	t->slot = slot;
	t->fn = fn;
	t->arg = arg;
	s->handles++;
	uv_timer_start(&t->h, sup_timer_fired, ms, 0);
	*slot = t;
	return 0;
}

void
sup_timer_stop(struct sup_timer **slot)
{
	struct sup_timer *t = *slot;

	if (t == NULL)
		return;
	*slot = NULL;
	uv_close((uv_handle_t *)&t->h, sup_timer_closed);
}

/* -------------------------------------------------------------------------- */
/* Operations: created by a request, finished through the queue. */

const char *
sup_who(const struct peer *p)
{
	return p != NULL && p->who[0] != '\0' ? p->who : SUP_WHO_VMMD;
}

struct sup_op *
sup_op_new(enum sup_op_kind kind, const char *who, sup_done_fn *done,
    void *arg)
{
	struct sup_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->kind = kind;
	op->done = done;
	op->arg = arg;
	snprintf(op->who, sizeof(op->who), "%s", who);
	return op;
}

static void
sup_defer_run(uv_timer_t *h)
{
	struct sup *s = h->data;
	struct sup_op *op;
	bool failed;

	while ((op = TAILQ_FIRST(&s->finished)) != NULL) {
		TAILQ_REMOVE(&s->finished, op, link);
		failed = op->err.code != 0;
		if (op->done != NULL)
			op->done(op->arg, failed ? NULL : op->result,
			    failed ? &op->err : NULL);
		else
			json_decref(op->result);
		if (failed)
			json_decref(op->result);
		rpc_error_clear(&op->err);
		free(op);
	}
	sup_check_handles(s);
}

/* op has its result (or error): its done runs from the loop, soon. */
void
sup_op_finish(struct sup *s, struct sup_op *op)
{
	TAILQ_INSERT_TAIL(&s->finished, op, link);
	if (!uv_is_active((uv_handle_t *)&s->defer))
		uv_timer_start(&s->defer, sup_defer_run, 0, 0);
}

void
sup_op_fail(struct sup *s, struct sup_op *op, int code, json_t *data,
    const char *fmt, ...)
{
	char msg[RPC_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rpc_error_set(&op->err, code, data, "%s", msg);
	sup_op_finish(s, op);
}

/* Fail every operation of q with code, msg and a copy of data each. */
void
sup_ops_fail(struct sup *s, struct sup_ops *q, int code, const json_t *data,
    const char *msg)
{
	struct sup_op *op;

	while ((op = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, op, link);
		sup_op_fail(s, op, code, data != NULL ?
		    json_deep_copy(data) : NULL, "%s", msg);
	}
}

void
sup_ops_succeed(struct sup *s, struct sup_ops *q)
{
	struct sup_op *op;

	while ((op = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, op, link);
		sup_op_finish(s, op);
	}
}

int
sup_nomem(struct rpc_error *err)
{
	return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of memory");
}

/* -------------------------------------------------------------------------- */
/* Entries and records. */

struct sup_vm *
sup_vm_find(struct sup *s, const char *uuid)
{
	struct sup_vm *v;

	TAILQ_FOREACH(v, &s->vms, link)
		if (strcmp(v->uuid, uuid) == 0)
			return v;
	return NULL;
}

/*
 * The entry of uuid, made when missing with the runtime state the
 * database holds.  NULL only when out of memory.
 */
struct sup_vm *
sup_vm_get(struct sup *s, const char *uuid, const char *name)
{
	struct sup_vm *v;

	if ((v = sup_vm_find(s, uuid)) != NULL) {
		if (name != NULL)
			snprintf(v->name, sizeof(v->name), "%s", name);
		return v;
	}
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->s = s;
	snprintf(v->uuid, sizeof(v->uuid), "%s", uuid);
	snprintf(v->name, sizeof(v->name), "%s", name != NULL ? name : uuid);
	TAILQ_INIT(&v->starts);
	TAILQ_INIT(&v->stops);
	vmstate_budget_init(&v->budget);
	if (db_runtime_get(s->d->db, uuid, &v->rt) != 0) {
		memset(&v->rt, 0, sizeof(v->rt));
		v->rt.state = DB_STATE_DEFINED;
	}
	TAILQ_INSERT_TAIL(&s->vms, v, link);
	return v;
}

static void
sup_vm_free(struct sup_vm *v)
{
	struct sup *s = v->s;

	sup_timer_stop(&v->restart_t);
	sup_timer_stop(&v->start_t);
	sup_timer_stop(&v->stop_t);
	sup_timer_stop(&v->plan_t);
	sup_ops_fail(s, &v->starts, RPC_E_FAILED, NULL, "vmmd is shutting "
	    "down");
	sup_ops_fail(s, &v->stops, RPC_E_FAILED, NULL, "vmmd is shutting "
	    "down");
	if (v->w != NULL) {
		sup_worker_detach(v->w);
		v->w = NULL;
	}
	sup_console_free(v);
	vmdef_free(&v->def);
	TAILQ_REMOVE(&s->vms, v, link);
	free(v);
}

/*
 * The VM called name: *out its entry (made when create; else NULL when
 * it has none).  0, or RPC_E_NOT_FOUND or RPC_E_INTERNAL with err.
 */
int
sup_lookup(struct sup *s, const char *name, bool create, struct sup_vm **out,
    struct rpc_error *err)
{
	struct db_vm vm;
	int rc;

	*out = NULL;
	if ((rc = db_vm_get_by_name(s->d->db, name, &vm, NULL)) == -ENOENT)
		return rpc_error_set(err, RPC_E_NOT_FOUND, json_pack("{s:s}",
		    "vm", name), "no VM named \"%s\"", name);
	if (rc != 0)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "database "
		    "error: %s", db_errmsg(s->d->db));
	if (create)
		*out = sup_vm_get(s, vm.uuid, vm.name);
	else if ((*out = sup_vm_find(s, vm.uuid)) != NULL)
		snprintf((*out)->name, sizeof((*out)->name), "%s", vm.name);
	db_vm_free(&vm);
	if (create && *out == NULL)
		return sup_nomem(err);
	return 0;
}

/* Write v->rt as it is (no state change, no event). */
void
sup_rt_write(struct sup_vm *v)
{
	struct db *db = v->s->d->db;

	if (db_runtime_set(db, v->uuid, &v->rt) != 0)
		vmmd_warnx("vm %s: cannot record its runtime state: %s",
		    v->name, db_errmsg(db));
}

/*
 * v goes to state to: vm_runtime (v->rt with the new state), then a
 * "vm.state" event by who with {"from", "to"} and extra's members
 * (stolen, may be NULL).  Returns 0, or the database's negative errno
 * (logged; v->rt.state is set all the same: the VM is where it is).
 */
int
sup_record(struct sup_vm *v, enum db_state to, const char *who,
    json_t *extra)
{
	struct db *db = v->s->d->db;
	enum db_state from = v->rt.state;
	json_t *detail;
	int rc;

	v->rt.state = to;
	if ((rc = db_runtime_set(db, v->uuid, &v->rt)) != 0) {
		vmmd_warnx("vm %s: cannot record the state %s: %s", v->name,
		    db_state_name(to), db_errmsg(db));
		json_decref(extra);
		return rc;
	}
	detail = json_pack("{s:s, s:s}", "from", db_state_name(from), "to",
	    db_state_name(to));
	if (detail != NULL && extra != NULL)
		json_object_update(detail, extra);
	json_decref(extra);
	if ((rc = db_event_append(db, "vm.state", v->uuid, who, detail, "ok",
	    NULL)) != 0)
		vmmd_warnx("vm %s: cannot log the state %s: %s", v->name,
		    db_state_name(to), db_errmsg(db));
	json_decref(detail);
	return 0;
}

/* The "cannot VERB: the VM is STATE" error of a refused event. */
int
sup_refused(const struct sup_vm *v, enum vmstate_event ev,
    struct rpc_error *err)
{
	char why[VMSTATE_ERR_MAX];

	return rpc_error_set(err, RPC_E_INVALID_STATE, json_pack("{s:s}",
	    "state", db_state_name(v->rt.state)), "%s",
	    vmstate_errmsg(v->rt.state, ev, why, sizeof(why)));
}

/* Move v by ev, recorded; false (and a warning) when the table refuses. */
static bool
sup_move(struct sup_vm *v, enum vmstate_event ev, const char *who,
    json_t *extra)
{
	char why[VMSTATE_ERR_MAX];
	enum db_state to;

	if (vmstate_next(v->rt.state, ev, &to) != 0) {
		vmmd_warnx("vm %s: %s", v->name, vmstate_errmsg(v->rt.state,
		    ev, why, sizeof(why)));
		json_decref(extra);
		return false;
	}
	(void)sup_record(v, to, who, extra);
	return true;
}

/* -------------------------------------------------------------------------- */
/* Starting. */

static void sup_start_timeout(void *arg);

/* The worker could not be started: a setup failure with why as its log. */
static void sup_spawn_failed(struct sup_vm *v, int status, const char *why);

/*
 * v->rt.socket: where the worker binds its control socket (the run
 * directory may have changed since the last run).  0, or -ENAMETOOLONG
 * with why filled.
 */
static int
sup_socket_path(struct sup_vm *v, char *why, size_t whylen)
{
	const char *dir = v->s->d->cfg.run_dir;

	if ((size_t)snprintf(v->rt.socket, sizeof(v->rt.socket),
	    "%s/vm/%s.sock", dir, v->uuid) < sizeof(v->rt.socket))
		return 0;
	v->rt.socket[0] = '\0';
	snprintf(why, whylen, "the control socket under %.64s would be "
	    "longer than %d bytes", dir, DB_SOCKET_MAX);
	return -ENAMETOOLONG;
}

/*
 * Spawn a worker for v, which is "starting" with none: the definition is
 * read again (a replaced one applies from the next start).  Failures end
 * the start like a worker's setup failure.
 */
void
sup_respawn(struct sup_vm *v)
{
	struct db *db = v->s->d->db;
	struct db_vm vm;
	struct vmdef def;
	char why[256];

	if (sup_socket_path(v, why, sizeof(why)) != 0) {
		sup_spawn_failed(v, VMSTATE_STATUS_USAGE, why);
		return;
	}
	if (db_vm_get_by_uuid(db, v->uuid, &vm, &def) != 0) {
		snprintf(why, sizeof(why), "cannot load the definition: %s",
		    db_errmsg(db));
		sup_spawn_failed(v, VMSTATE_STATUS_DEFINITION, why);
		return;
	}
	vmdef_free(&v->def);
	v->def = def;
	v->def_ok = true;
	snprintf(v->name, sizeof(v->name), "%s", vm.name);
	(void)sup_mirror_size(v, def.scrollback);
	if (sup_spawn(v, vm.definition, why, sizeof(why)) != 0) {
		db_vm_free(&vm);
		sup_spawn_failed(v, VMSTATE_STATUS_OSERR, why);
		return;
	}
	db_vm_free(&vm);
	v->rt.pid = v->w->pid;
	sup_rt_write(v);
	vmmd_info("vm %s: worker pid %d started", v->name, (int)v->w->pid);
	if (sup_timer_start(v->s, &v->start_t, SUP_START_TIMEOUT_MS,
	    sup_start_timeout, v) != 0)
		vmmd_warnx("vm %s: out of memory for the start's deadline",
		    v->name);
}

/*
 * Start v now (its state allows it): "starting" recorded for who, then
 * the worker.  operator: a client's (or autostart's) start, which
 * forgives the crash loop.  0, or an RPC error when nothing changed.
 */
int
sup_run(struct sup_vm *v, const char *who, bool operator,
    struct rpc_error *err)
{
	struct sup *s = v->s;
	struct db_runtime old = v->rt;
	char why[RPC_TEXT_MAX];
	enum db_state to;

	if (vmstate_next(v->rt.state, VMSTATE_EV_START_REQUESTED, &to) != 0)
		return sup_refused(v, VMSTATE_EV_START_REQUESTED, err);
	if (sup_socket_path(v, why, sizeof(why)) != 0) {
		v->rt = old;
		return rpc_error_set(err, RPC_E_FAILED, NULL, "%s", why);
	}
	v->rt.pid = 0;
	v->rt.started_at = 0;
	if (operator)
		v->rt.restart_count = 0;
	if (sup_record(v, to, who, NULL) != 0) {
		v->rt = old;
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "database "
		    "error: %s", db_errmsg(s->d->db));
	}
	if (operator)
		vmstate_budget_init(&v->budget);
	snprintf(v->start_who, sizeof(v->start_who), "%s", who);
	v->start_fail[0] = v->kill_why[0] = '\0';
	v->request = VMSTATE_REQUEST_NONE;
	sup_respawn(v);
	return 0;
}

/* The guest runs: "running", and every pending start succeeds. */
void
sup_worker_ready(struct sup_vm *v)
{
	int64_t now = vmmd_now_ms();

	if (v->rt.state != DB_STATE_STARTING)
		return;		/* being stopped: the stop decides */
	sup_timer_stop(&v->start_t);
	v->rt.started_at = now;
	vmstate_budget_started(&v->budget, now);
	if (!sup_move(v, VMSTATE_EV_WORKER_READY, v->start_who, NULL))
		return;
	vmmd_info("vm %s: running (worker pid %d)", v->name,
	    v->w != NULL ? (int)v->w->pid : 0);
	sup_ops_succeed(v->s, &v->starts);
}

/* A start that cannot finish (why): its worker is killed soon. */
void
sup_start_trouble(struct sup_vm *v, const char *why)
{
	if (v->rt.state != DB_STATE_STARTING || v->w == NULL)
		return;
	vmmd_warnx("vm %s: %s", v->name, why);
	snprintf(v->start_fail, sizeof(v->start_fail), "%s", why);
	/* The worker may be ending by itself: let it, briefly. */
	if (sup_timer_start(v->s, &v->start_t, SUP_CTL_GRACE_MS,
	    sup_start_timeout, v) != 0)
		sup_start_timeout(v);
}

/* A start that did not get its worker running in time: killed. */
static void
sup_start_timeout(void *arg)
{
	struct sup_vm *v = arg;

	if (v->rt.state != DB_STATE_STARTING || v->w == NULL)
		return;
	if (v->start_fail[0] == '\0') {
		snprintf(v->start_fail, sizeof(v->start_fail), "the worker "
		    "was not ready within %d s and was killed",
		    SUP_START_TIMEOUT_MS / 1000);
		vmmd_warnx("vm %s: %s", v->name, v->start_fail);
	}
	/* The exit's message says why we killed it. */
	snprintf(v->kill_why, sizeof(v->kill_why), "killed during start: %s",
	    v->start_fail);
	(void)sup_stop_vm(v, SUP_WHO_VMMD, true, 0);
}

static void
sup_restart_fire(void *arg)
{
	struct sup_vm *v = arg;

	if (v->rt.state == DB_STATE_STARTING && v->w == NULL &&
	    !v->s->shutting)
		sup_respawn(v);
}

/* -------------------------------------------------------------------------- */
/* The end of a worker. */

/* How a worker ended, as sup_end needs it. */
struct sup_end {
	int status;		/* 0..255, or SUP_STATUS_LOST */
	bool ready;		/* it had said 'R': the guest ran */
	json_t *log;		/* its last log lines (owned) */
	char last[SUP_LOG_LINE_MAX];	/* the last one, "" for none */
};

/* Pending starts fail: the worker ended before the guest ran. */
static void
sup_fail_starts(struct sup_vm *v, const struct sup_end *e,
    const struct vmstate_exit *dec)
{
	char msg[RPC_TEXT_MAX];
	json_t *data;

	if (TAILQ_EMPTY(&v->starts))
		return;
	if (v->start_fail[0] != '\0')
		snprintf(msg, sizeof(msg), "%s", v->start_fail);
	else if (e->last[0] != '\0')
		snprintf(msg, sizeof(msg), "the worker exited during start: "
		    "%.126s", e->last);
	else
		snprintf(msg, sizeof(msg), "the worker exited during start "
		    "with status %d", e->status);
	data = json_pack("{s:s, s:i, s:O}", "reason", dec->reason, "status",
	    e->status, "log", e->log);
	sup_ops_fail(v->s, &v->starts, RPC_E_FAILED, data, msg);
	json_decref(data);
}

/*
 * The stops are done.  A vm.restart among them starts the VM again, for
 * its requester; the other restarts join that start.
 */
static void
sup_stops_done(struct sup_vm *v)
{
	struct sup *s = v->s;
	struct sup_ops restarts;
	struct rpc_error err;
	struct sup_op *op;

	TAILQ_INIT(&restarts);
	while ((op = TAILQ_FIRST(&v->stops)) != NULL) {
		TAILQ_REMOVE(&v->stops, op, link);
		if (op->kind == SUP_OP_RESTART)
			TAILQ_INSERT_TAIL(&restarts, op, link);
		else
			sup_op_finish(s, op);
	}
	if ((op = TAILQ_FIRST(&restarts)) == NULL)
		return;
	TAILQ_CONCAT(&v->starts, &restarts, link);
	memset(&err, 0, sizeof(err));
	if (sup_halting(s))
		sup_ops_fail(s, &v->starts, RPC_E_FAILED, NULL,
		    sup_halt_why(s));
	else if (sup_run(v, op->who, true, &err) != 0)
		sup_ops_fail(s, &v->starts, err.code, err.data, err.message);
	rpc_error_clear(&err);
}

/* The decision's message for a worker that vanished without a status. */
static void
sup_lost_decision(struct vmstate_exit *dec)
{
	const char *rest = strchr(dec->message, ':');
	char msg[sizeof(dec->message)];

	snprintf(msg, sizeof(msg), "the worker vanished without an exit "
	    "status%s", rest != NULL ? rest : "");
	snprintf(dec->message, sizeof(dec->message), "%s", msg);
	snprintf(dec->reason, sizeof(dec->reason), "lost");
}

/*
 * The exit policy's decision on e (the budget is charged for a
 * restart), and the state it leads v to.
 */
static enum db_state
sup_decide(struct sup_vm *v, const struct sup_end *e,
    struct vmstate_exit *dec)
{
	int status = e->status;
	enum db_state to;

	/* Policy-wise a worker that vanished was killed. */
	if (status == SUP_STATUS_LOST)
		status = VMSTATE_SIGNAL_BASE + SIGKILL;
	(void)vmstate_on_exit(&v->def, status, v->request, &v->budget,
	    vmmd_now_ms(), dec);
	if (e->status == SUP_STATUS_LOST)
		sup_lost_decision(dec);
	if (v->kill_why[0] != '\0')
		snprintf(dec->message, sizeof(dec->message), "%s",
		    v->kill_why);
	if (vmstate_next(v->rt.state, dec->event, &to) != 0) {
		vmmd_warnx("vm %s: unexpected %s in state %s", v->name,
		    vmstate_event_name(dec->event),
		    db_state_name(v->rt.state));
		to = dec->state;
	}
	return to;
}

/* The exit in vm_runtime (last_exit, no worker) and the event log. */
static void
sup_end_record(struct sup_vm *v, const struct sup_end *e,
    const struct vmstate_exit *dec, enum db_state to, const char *who)
{
	v->rt.pid = 0;
	v->rt.socket[0] = '\0';
	snprintf(v->rt.exit_reason, sizeof(v->rt.exit_reason), "%s",
	    dec->reason);
	v->rt.exit_status = e->status;
	snprintf(v->rt.exit_message, sizeof(v->rt.exit_message), "%s",
	    dec->message);
	if (to == DB_STATE_STARTING)
		v->rt.restart_count++;
	(void)sup_record(v, to, who, json_pack("{s:s, s:i, s:s}", "reason",
	    dec->reason, "status", e->status, "message", dec->message));
	vmmd_info("vm %s: %s (status %d): %s; now %s", v->name, dec->reason,
	    e->status, dec->message, db_state_name(to));
}

/*
 * The worker of v is gone (e): decide by the exit policy, record it,
 * tell the watchers, finish the operations that waited for it, and
 * restart when the policy says so.
 */
static void
sup_end(struct sup_vm *v, const struct sup_end *e)
{
	struct sup *s = v->s;
	struct vmstate_exit dec;
	const char *who;
	enum db_state to;

	sup_timer_stop(&v->start_t);
	sup_timer_stop(&v->stop_t);
	/* A guest that ran and ended at once still started. */
	if (e->ready && v->rt.state == DB_STATE_STARTING)
		sup_worker_ready(v);
	to = sup_decide(v, e, &dec);
	who = v->request != VMSTATE_REQUEST_NONE ? v->req_who : SUP_WHO_VMMD;
	sup_end_record(v, e, &dec, to, who);
	v->request = VMSTATE_REQUEST_NONE;
	v->pausing = v->resuming = v->resetting = false;
	v->kill_why[0] = '\0';
	/* A restart's readiness is recorded for who caused the exit. */
	snprintf(v->start_who, sizeof(v->start_who), "%s", who);
	sup_console_end(v, dec.reason);
	sup_fail_starts(v, e, &dec);
	v->start_fail[0] = '\0';
	sup_stops_done(v);
	if (v->rt.state == DB_STATE_STARTING && v->w == NULL) {
		if (sup_halting(s))
			sup_cancel_start(v, SUP_WHO_VMMD);
		else if (sup_timer_start(s, &v->restart_t,
		    (uint64_t)dec.delay_ms, sup_restart_fire, v) != 0)
			sup_respawn(v);
	}
	if (s->shutting)
		sup_shutdown_step(s);
}

static void
sup_spawn_failed(struct sup_vm *v, int status, const char *why)
{
	struct sup_end e;

	memset(&e, 0, sizeof(e));
	e.status = status;
	snprintf(e.last, sizeof(e.last), "%s", why);
	e.log = json_pack("[s]", e.last);
	vmmd_warnx("vm %s: %s", v->name, why);
	sup_end(v, &e);
	json_decref(e.log);
}

/*
 * The worker w's process has exited and its control connection is
 * closed.  Its status is waitid's for our child, else the exit event's;
 * a worker that said nothing is "lost".
 */
void
sup_worker_gone(struct sup_worker *w)
{
	struct sup_vm *v = w->vm;
	char why[160];
	struct sup_end e;

	if (v == NULL)
		return;
	sup_worker_drain(w);
	if (v->adopting) {
		snprintf(why, sizeof(why), "the worker (pid %d) exited while "
		    "vmmd was adopting it", (int)w->pid);
		sup_adopt_missing(v, why);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (w->have_status)
		e.status = w->status;
	else if (w->exit_event)
		e.status = w->ev_status;
	else
		e.status = SUP_STATUS_LOST;
	e.ready = w->ready_byte;
	e.log = sup_log_lines(w);
	snprintf(e.last, sizeof(e.last), "%s", sup_log_last(w));
	v->w = NULL;
	sup_worker_detach(w);
	sup_end(v, &e);
	json_decref(e.log);
}

/* -------------------------------------------------------------------------- */
/* Stopping. */

static void
sup_stop_timeout(void *arg)
{
	struct sup_vm *v = arg;

	if (v->w == NULL)
		return;
	vmmd_warnx("vm %s: the worker (pid %d) did not exit in time; "
	    "killing it", v->name, (int)v->w->pid);
	(void)sup_worker_kill(v->w, SIGKILL);
}

static void
sup_stop_replied(struct sup_worker *w, struct sup_req *rq, json_t *reply)
{
	struct rpc_error err;

	if (reply == NULL || json_is_true(json_object_get(reply, "ok")) ||
	    w->vm == NULL)
		return;
	memset(&err, 0, sizeof(err));
	(void)sup_ctl_error(reply, &err, w->vm);
	vmmd_warnx("vm %s: stop: %s", w->vm->name, err.message);
	rpc_error_clear(&err);
}

/*
 * A "starting" VM with no worker (a restart's backoff): stopped at once.
 * Its pending starts fail, its stops (and restarts) finish.
 */
void
sup_cancel_start(struct sup_vm *v, const char *who)
{
	sup_timer_stop(&v->restart_t);
	if (!sup_move(v, VMSTATE_EV_START_CANCELLED, who, NULL))
		return;
	vmmd_info("vm %s: start cancelled", v->name);
	sup_ops_fail(v->s, &v->starts, RPC_E_FAILED, NULL, "the start was "
	    "cancelled by a stop");
	sup_stops_done(v);
}

/* Ask the worker to stop, or signal it when we cannot talk to it. */
static void
sup_stop_ask(struct sup_vm *v, bool force, unsigned int timeout_ms)
{
	struct sup_worker *w = v->w;
	json_t *cmd;

	cmd = json_pack("{s:s, s:b, s:I}", "cmd", "stop", "force", force,
	    "timeout_ms", (json_int_t)timeout_ms);
	if (sup_ctl_send(w, cmd, sup_stop_replied, NULL) == 0)
		return;
	/* SIGTERM: the worker's own graceful stop (its definition's time). */
	if (sup_worker_kill(w, force ? SIGKILL : SIGTERM) != 0 &&
	    !w->exited)
		vmmd_warn("vm %s: cannot signal the worker (pid %d)", v->name,
		    (int)w->pid);
}

/*
 * Stop v for who: gracefully with timeout_ms for the guest, or forced;
 * the worker is killed if it has not exited SUP_STOP_GRACE_MS later.  A
 * starting VM with a worker not yet ready is killed at once; one with no
 * worker is cancelled.  Returns 0, or -EBUSY when v's state refuses.
 */
int
sup_stop_vm(struct sup_vm *v, const char *who, bool force,
    unsigned int timeout_ms)
{
	enum vmstate_event ev = force ? VMSTATE_EV_STOP_FORCED :
	    VMSTATE_EV_STOP_REQUESTED;
	enum db_state from = v->rt.state, to;
	uint64_t grace = SUP_STOP_GRACE_MS;

	if (from == DB_STATE_STARTING && v->w == NULL) {
		sup_cancel_start(v, who);
		return 0;
	}
	if (vmstate_next(from, ev, &to) != 0 || v->w == NULL)
		return -EBUSY;
	if (to != from)
		(void)sup_record(v, to, who, NULL);
	v->request = VMSTATE_REQUEST_STOP;
	snprintf(v->req_who, sizeof(v->req_who), "%s", who);
	if (from == DB_STATE_STARTING) {
		if (v->start_fail[0] == '\0')
			snprintf(v->start_fail, sizeof(v->start_fail), "the "
			    "start was cancelled by a stop");
		sup_timer_stop(&v->start_t);
		(void)sup_worker_kill(v->w, SIGKILL);
	} else {
		sup_stop_ask(v, force, timeout_ms);
		if (!force)
			grace += timeout_ms;
	}
	if (sup_timer_start(v->s, &v->stop_t, grace, sup_stop_timeout, v) !=
	    0)
		vmmd_warnx("vm %s: out of memory for the stop's deadline",
		    v->name);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* The supervisor. */

int
sup_init(struct vmmd *d)
{
	struct sup *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->d = d;
	TAILQ_INIT(&s->vms);
	TAILQ_INIT(&s->finished);
	uv_timer_init(d->loop, &s->defer);
	s->defer.data = s;
	d->sup = s;
	return 0;
}

unsigned int
sup_active(const struct sup *s)
{
	const struct sup_vm *v;
	unsigned int n = 0;

	TAILQ_FOREACH(v, &s->vms, link)
		if (v->w != NULL)
			n++;
	return n;
}

void
sup_forget(struct sup *s, const char *uuid)
{
	struct sup_vm *v = sup_vm_find(s, uuid);

	if (v != NULL && v->w == NULL && TAILQ_EMPTY(&v->starts) &&
	    TAILQ_EMPTY(&v->stops))
		sup_vm_free(v);
}

static void
sup_defer_closed(uv_handle_t *h)
{
	struct sup *s = h->data;

	if (s->shut_cb != NULL)
		s->shut_cb(s->shut_arg);
}

/*
 * At the end of a shutdown: once every handle of ours is closed and
 * every finished operation has been answered, the last handle goes and
 * the shutdown's callback runs.
 */
void
sup_check_handles(struct sup *s)
{
	if (!s->shut_closing || s->handles != 0 ||
	    !TAILQ_EMPTY(&s->finished) ||
	    uv_is_closing((uv_handle_t *)&s->defer))
		return;
	uv_close((uv_handle_t *)&s->defer, sup_defer_closed);
}

void
sup_free(struct sup *s)
{
	struct sup_vm *v;

	if (s == NULL)
		return;
	while ((v = TAILQ_FIRST(&s->vms)) != NULL) {
		TAILQ_REMOVE(&s->vms, v, link);
		sup_console_free(v);
		vmdef_free(&v->def);
		free(v);
	}
	if (s->d->sup == s)
		s->d->sup = NULL;
	free(s);
}
