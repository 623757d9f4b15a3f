/*
 * sup_ops.c: the supervisor's client operations (sup.h): vm.start,
 * vm.stop, vm.restart, vm.reset, vm.pause, vm.resume, vm.stats and the
 * console's input.  Each checks what it can at once (the VM exists, its
 * state allows the request, nothing conflicting is in flight) and either
 * refuses with an RPC error or leaves an operation that finishes later,
 * through sup_op_finish, when the worker has answered or exited.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sup_internal.h"

int
sup_start(struct sup *s, const struct peer *p, const char *name,
    sup_done_fn *done, void *arg, struct rpc_error *err)
{
	struct sup_vm *v;
	struct sup_op *op;
	enum db_state to;
	int rc;

	if ((rc = sup_lookup(s, name, true, &v, err)) != 0)
		return rc;
	if (sup_halting(s))
		return rpc_error_set(err, RPC_E_BUSY, NULL, "%s",
		    sup_halt_why(s));
	/* Two starts of one VM: both finish when it runs. */
	if (v->rt.state != DB_STATE_STARTING &&
	    vmstate_next(v->rt.state, VMSTATE_EV_START_REQUESTED, &to) != 0)
		return sup_refused(v, VMSTATE_EV_START_REQUESTED, err);
	if ((op = sup_op_new(SUP_OP_START, sup_who(p), done, arg)) == NULL)
		return sup_nomem(err);
	TAILQ_INSERT_TAIL(&v->starts, op, link);
	if (v->rt.state == DB_STATE_STARTING)
		return 0;
	if ((rc = sup_run(v, op->who, true, err)) != 0) {
		TAILQ_REMOVE(&v->starts, op, link);
		free(op);
	}
	return rc;
}

/* vm.stop and vm.restart: op waits for the worker's exit. */
static int
sup_stop_op(struct sup_vm *v, struct sup_op *op, bool force,
    unsigned int timeout_s, struct rpc_error *err)
{
	enum vmstate_event ev = force ? VMSTATE_EV_STOP_FORCED :
	    VMSTATE_EV_STOP_REQUESTED;
	enum db_state to;
	unsigned int t;

	if (!(v->rt.state == DB_STATE_STARTING && v->w == NULL) &&
	    (vmstate_next(v->rt.state, ev, &to) != 0 || v->w == NULL)) {
		free(op);
		return sup_refused(v, ev, err);
	}
	t = timeout_s != 0 ? timeout_s : v->def_ok ?
	    v->def.shutdown_timeout : VMDEF_SHUTDOWN_DEF;
	if (t > VMDEF_SHUTDOWN_MAX)
		t = VMDEF_SHUTDOWN_MAX;
	TAILQ_INSERT_TAIL(&v->stops, op, link);
	(void)sup_stop_vm(v, op->who, force, t * 1000);
	return 0;
}

int
sup_stop(struct sup *s, const struct peer *p, const char *name, bool force,
    unsigned int timeout_s, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	struct sup_vm *v;
	struct sup_op *op;
	int rc;

	if ((rc = sup_lookup(s, name, true, &v, err)) != 0)
		return rc;
	if ((op = sup_op_new(SUP_OP_STOP, sup_who(p), done, arg)) == NULL)
		return sup_nomem(err);
	return sup_stop_op(v, op, force, timeout_s, err);
}

int
sup_restart(struct sup *s, const struct peer *p, const char *name,
    bool force, unsigned int timeout_s, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	struct sup_vm *v;
	struct sup_op *op;
	int rc;

	if ((rc = sup_lookup(s, name, true, &v, err)) != 0)
		return rc;
	if (sup_halting(s))
		return rpc_error_set(err, RPC_E_BUSY, NULL, "%s",
		    sup_halt_why(s));
	if ((op = sup_op_new(SUP_OP_RESTART, sup_who(p), done, arg)) == NULL)
		return sup_nomem(err);
	return sup_stop_op(v, op, force, timeout_s, err);
}

/* A request in flight that another would conflict with. */
static int
sup_busy(const struct sup_vm *v, struct rpc_error *err)
{
	return rpc_error_set(err, RPC_E_BUSY, json_pack("{s:s}", "state",
	    db_state_name(v->rt.state)), "a %s of this VM is under way",
	    v->pausing ? "pause" : v->resuming ? "resume" : "reset");
}

/*
 * Send cmd (stolen) for op's sake; fn finishes op with the reply.
 * 0, or RPC_E_FAILED when the worker cannot be reached.
 */
static int
sup_send_op(struct sup_vm *v, json_t *cmd, sup_reply_fn *fn,
    struct sup_op *op, struct rpc_error *err)
{
	if (sup_ctl_send(v->w, cmd, fn, op) != 0) {
		free(op);
		return rpc_error_set(err, RPC_E_FAILED, NULL, "vmmd has no "
		    "control connection to the worker of %s", v->name);
	}
	return 0;
}

/* The reply to a pause, resume or reset: the state moves on it. */
static void
sup_run_replied(struct sup_worker *w, struct sup_req *rq, json_t *reply)
{
	struct sup_op *op = rq->op;
	struct sup_vm *v = w->vm;
	bool ok = reply != NULL && json_is_true(json_object_get(reply, "ok"));
	enum vmstate_event ev;
	enum db_state to;

	if (strcmp(rq->cmd, "pause") == 0) {
		v->pausing = false;
		ev = VMSTATE_EV_PAUSED;
	} else if (strcmp(rq->cmd, "resume") == 0) {
		v->resuming = false;
		ev = VMSTATE_EV_RESUMED;
	} else {
		v->resetting = false;
		if (!ok && v->request == VMSTATE_REQUEST_RESET)
			v->request = VMSTATE_REQUEST_NONE;
		ev = VMSTATE_EV_COUNT;	/* the exit moves it */
	}
	if (!ok) {
		(void)sup_ctl_error(reply, &op->err, v);
		sup_op_finish(v->s, op);
		return;
	}
	/* Not when a stop came meanwhile: the stop decides the state. */
	if (ev != VMSTATE_EV_COUNT && vmstate_next(v->rt.state, ev, &to) == 0)
		(void)sup_record(v, to, op->who, NULL);
	sup_op_finish(v->s, op);
}

/* pause, resume, reset: ev must be allowed and nothing else in flight. */
static int
sup_runop(struct sup *s, const struct peer *p, const char *name,
    enum vmstate_event ev, const char *cmd, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	struct sup_vm *v;
	struct sup_op *op;
	enum db_state to;
	int rc;

	if ((rc = sup_lookup(s, name, true, &v, err)) != 0)
		return rc;
	if (vmstate_next(v->rt.state, ev, &to) != 0)
		return sup_refused(v, ev, err);
	if (v->pausing || v->resuming || v->resetting)
		return sup_busy(v, err);
	if ((op = sup_op_new(SUP_OP_REQUEST, sup_who(p), done, arg)) == NULL)
		return sup_nomem(err);
	if ((rc = sup_send_op(v, json_pack("{s:s}", "cmd", cmd),
	    sup_run_replied, op, err)) != 0)
		return rc;
	if (ev == VMSTATE_EV_PAUSE_REQUESTED)
		v->pausing = true;
	else if (ev == VMSTATE_EV_RESUME_REQUESTED)
		v->resuming = true;
	else {
		v->resetting = true;
		v->request = VMSTATE_REQUEST_RESET;
		snprintf(v->req_who, sizeof(v->req_who), "%s", op->who);
	}
	return 0;
}

int
sup_reset(struct sup *s, const struct peer *p, const char *name,
    sup_done_fn *done, void *arg, struct rpc_error *err)
{
	return sup_runop(s, p, name, VMSTATE_EV_RESET_REQUESTED, "reset",
	    done, arg, err);
}

int
sup_pause(struct sup *s, const struct peer *p, const char *name,
    sup_done_fn *done, void *arg, struct rpc_error *err)
{
	return sup_runop(s, p, name, VMSTATE_EV_PAUSE_REQUESTED, "pause",
	    done, arg, err);
}

int
sup_resume(struct sup *s, const struct peer *p, const char *name,
    sup_done_fn *done, void *arg, struct rpc_error *err)
{
	return sup_runop(s, p, name, VMSTATE_EV_RESUME_REQUESTED, "resume",
	    done, arg, err);
}

/* Running or paused, as stats and console input need. */
static int
sup_live(struct sup *s, const char *name, const char *what,
    struct sup_vm **out, struct rpc_error *err)
{
	enum db_state st;
	int rc;

	if ((rc = sup_lookup(s, name, true, out, err)) != 0)
		return rc;
	st = (*out)->rt.state;
	if (st != DB_STATE_RUNNING && st != DB_STATE_PAUSED)
		return rpc_error_set(err, RPC_E_INVALID_STATE,
		    json_pack("{s:s}", "state", db_state_name(st)),
		    "cannot %s: the VM is %s", what, db_state_name(st));
	return 0;
}

static void
sup_stats_replied(struct sup_worker *w, struct sup_req *rq, json_t *reply)
{
	struct sup_op *op = rq->op;
	struct sup_vm *v = w->vm;
	json_t *r;

	if (reply == NULL || !json_is_true(json_object_get(reply, "ok"))) {
		(void)sup_ctl_error(reply, &op->err, v);
		sup_op_finish(v->s, op);
		return;
	}
	if ((r = json_deep_copy(reply)) == NULL) {
		rpc_error_set(&op->err, RPC_E_INTERNAL, NULL, "out of memory");
		sup_op_finish(v->s, op);
		return;
	}
	json_object_del(r, "ok");
	json_object_del(r, "id");
	json_object_set_new(r, "name", json_string(v->name));
	json_object_set_new(r, "state", json_string(db_state_name(
	    v->rt.state)));
	json_object_set_new(r, "uptime_ms", json_integer(v->rt.started_at ?
	    vmmd_now_ms() - v->rt.started_at : 0));
	op->result = r;
	sup_op_finish(v->s, op);
}

int
sup_stats(struct sup *s, const char *name, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	struct sup_vm *v;
	struct sup_op *op;
	int rc;

	if ((rc = sup_live(s, name, "read the stats", &v, err)) != 0)
		return rc;
	if ((op = sup_op_new(SUP_OP_REQUEST, SUP_WHO_VMMD, done, arg)) ==
	    NULL)
		return sup_nomem(err);
	return sup_send_op(v, json_pack("{s:s}", "cmd", "stats"),
	    sup_stats_replied, op, err);
}

static void
sup_input_replied(struct sup_worker *w, struct sup_req *rq, json_t *reply)
{
	struct sup_op *op = rq->op;
	json_t *n = reply != NULL ? json_object_get(reply, "bytes") : NULL;

	if (reply == NULL || !json_is_true(json_object_get(reply, "ok")) ||
	    !json_is_integer(n))
		(void)sup_ctl_error(reply, &op->err, w->vm);
	else
		op->result = json_pack("{s:I}", "bytes", json_integer_value(n));
	sup_op_finish(w->s, op);
}

int
sup_console_input(struct sup *s, const struct peer *p, const char *name,
    const void *data, size_t len, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	struct sup_vm *v;
	struct sup_op *op;
	json_t *cmd;
	char *b64;
	int rc;

	if ((rc = sup_live(s, name, "write to the console", &v, err)) != 0)
		return rc;
	if ((b64 = malloc(B64_ENCODE_SIZE(len))) == NULL)
		return sup_nomem(err);
	b64_encode(data, len, b64);
	cmd = json_pack("{s:s, s:s}", "cmd", "console_input", "data", b64);
	free(b64);
	if ((op = sup_op_new(SUP_OP_REQUEST, sup_who(p), done, arg)) == NULL) {
		json_decref(cmd);
		return sup_nomem(err);
	}
	return sup_send_op(v, cmd, sup_input_replied, op, err);
}

