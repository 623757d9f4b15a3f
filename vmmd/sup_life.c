/*
 * sup_life.c: the supervisor at vmmd's start and end, and the host's.  At
 * the start the workers of a previous vmmd are adopted (their pid is
 * alive and their control socket answers with their uuid and pid) or
 * marked lost, and then the autostart plan runs.  At the end the workers
 * are left running (the next vmmd adopts them), or with stop_vms_on_exit
 * stopped first by the host shutdown plan, which host.stop_all also runs
 * on request (the host is going down: rc.d/vmmd, rc.d/vmmd.service).
 */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sup_internal.h"

/* VMs read from the database: uuid, name and (autostart) definition. */
struct sup_list {
	struct sup_item {
		char uuid[VMDEF_UUID_LEN + 1];
		char name[VMDEF_NAME_MAX + 1];
		struct vmdef def;
	} *v;
	size_t n, cap;
};

static struct sup_item *
sup_list_add(struct sup_list *l, const struct db_vm *vm)
{
	struct sup_item *nv;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap != 0 ? l->cap * 2 : 16;
		if ((nv = realloc(l->v, cap * sizeof(*nv))) == NULL)
			return NULL;
		l->v = nv;
		l->cap = cap;
	}
	nv = &l->v[l->n++];
	memset(nv, 0, sizeof(*nv));
	snprintf(nv->uuid, sizeof(nv->uuid), "%s", vm->uuid);
	snprintf(nv->name, sizeof(nv->name), "%s", vm->name);
	return nv;
}

static void
sup_list_free(struct sup_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		vmdef_free(&l->v[i].def);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The states in which a VM has (or had, before vmmd restarted) a worker. */
#define SUP_ACTIVE	(DB_STATE_BIT(DB_STATE_STARTING) |		\
	DB_STATE_BIT(DB_STATE_RUNNING) | DB_STATE_BIT(DB_STATE_PAUSED) |	\
	DB_STATE_BIT(DB_STATE_STOPPING))

/* -------------------------------------------------------------------------- */
/* Autostart. */

static int
sup_auto_collect(void *arg, const struct db_vm *vm)
{
	struct sup_list *l = arg;
	struct vmdef_errors errs = { NULL, 0 };
	struct sup_item *it;
	struct vmdef def;

	if (DB_STATE_BIT(vm->state) & SUP_ACTIVE)
		return 0;
	memset(&def, 0, sizeof(def));
	if (vmdef_parse(vm->definition, strlen(vm->definition), &def,
	    &errs) != 0) {
		vmmd_warnx("vm %s: its stored definition does not decode; "
		    "not autostarted", vm->name);
		vmdef_errors_free(&errs);
		vmdef_free(&def);
		return 0;
	}
	if (!def.autostart) {
		vmdef_free(&def);
		return 0;
	}
	if ((it = sup_list_add(l, vm)) == NULL) {
		vmdef_free(&def);
		return -ENOMEM;
	}
	it->def = def;
	return 0;
}

static void
sup_autostart_fire(void *arg)
{
	struct sup_vm *v = arg;
	struct rpc_error err;

	if (sup_halting(v->s))
		return;
	memset(&err, 0, sizeof(err));
	if (DB_STATE_BIT(v->rt.state) & SUP_ACTIVE)
		vmmd_info("vm %s: autostart: it is %s already", v->name,
		    db_state_name(v->rt.state));
	else if (sup_run(v, SUP_WHO_VMMD, true, &err) != 0)
		vmmd_warnx("vm %s: autostart: %s", v->name, err.message);
	else
		vmmd_info("vm %s: autostarted", v->name);
	rpc_error_clear(&err);
}

/* Timers for the autostart plan of the VMs that have no worker now. */
static void
sup_autostart(struct sup *s)
{
	struct sup_list l = { NULL, 0, 0 };
	struct vmstate_plan_entry *plan = NULL;
	const struct vmdef **defs = NULL;
	struct sup_item *it;
	struct sup_vm *v;
	size_t i, n;
	int rc;

	if ((rc = db_vm_list(s->d->db, 0, sup_auto_collect, &l)) != 0) {
		vmmd_warnx("autostart: %s", rc == -ENOMEM ? "out of memory" :
		    db_errmsg(s->d->db));
		goto out;
	}
	if (l.n == 0)
		goto out;
	if ((defs = calloc(l.n, sizeof(*defs))) == NULL ||
	    (plan = calloc(l.n, sizeof(*plan))) == NULL) {
		vmmd_warnx("autostart: out of memory");
		goto out;
	}
	for (i = 0; i < l.n; i++)
		defs[i] = &l.v[i].def;
	n = vmstate_autostart_plan(defs, l.n, plan);
	for (i = 0; i < n; i++) {
		it = &l.v[plan[i].index];
		if ((v = sup_vm_get(s, it->uuid, it->name)) == NULL ||
		    sup_timer_start(s, &v->plan_t, (uint64_t)plan[i].at_ms,
		    sup_autostart_fire, v) != 0)
			vmmd_warnx("vm %s: autostart: out of memory",
			    it->name);
	}
	vmmd_info("autostart: %zu VM(s)", n);
out:
	free(plan);
	free(defs);
	sup_list_free(&l);
}

/* The adoptions are decided: the autostart plan follows, once. */
static void
sup_adopt_done(struct sup *s)
{
	if (!s->started || s->adopting > 0 || s->autostarted ||
	    sup_halting(s))
		return;
	s->autostarted = true;
	sup_autostart(s);
}

/* -------------------------------------------------------------------------- */
/* Adoption. */

static void
sup_adopt_settled(struct sup_vm *v)
{
	if (v->adopting) {
		v->adopting = false;
		v->s->adopting--;
	}
}

/* The state a worker's hello reports, as vmmd's; def when unknown. */
static enum db_state
sup_hello_state(const char *state, enum db_state def)
{
	static const struct {
		const char *word;
		enum db_state state;
	} map[] = {
		{ "running", DB_STATE_RUNNING },
		{ "paused", DB_STATE_PAUSED },
		{ "stopping", DB_STATE_STOPPING },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].word, state) == 0)
			return map[i].state;
	return def;	/* "exited": its exit event follows */
}

/*
 * The worker answered as itself: it is adopted, its state from its
 * hello.  Its console is attached next with the scrollback, so that the
 * mirror has what the guest wrote while vmmd was away.
 */
void
sup_adopt_found(struct sup_vm *v, const char *state)
{
	enum db_state to;
	int64_t now = vmmd_now_ms();

	sup_adopt_settled(v);
	if (vmstate_next(v->rt.state, VMSTATE_EV_ADOPT_FOUND, &to) != 0)
		to = v->rt.state;
	to = sup_hello_state(state, to);
	if (v->rt.started_at == 0 && to != DB_STATE_STARTING)
		v->rt.started_at = now;
	vmstate_budget_started(&v->budget, v->rt.started_at != 0 ?
	    v->rt.started_at : now);
	if (to == DB_STATE_STOPPING) {
		/* A stop was asked of it; the worker's own timer ends it. */
		v->request = VMSTATE_REQUEST_STOP;
		snprintf(v->req_who, sizeof(v->req_who), SUP_WHO_VMMD);
	}
	snprintf(v->start_who, sizeof(v->start_who), SUP_WHO_VMMD);
	(void)sup_record(v, to, SUP_WHO_VMMD, json_pack("{s:s, s:I}",
	    "reason", "adopted", "pid", (json_int_t)v->rt.pid));
	vmmd_info("vm %s: adopted its worker (pid %lld), %s", v->name,
	    (long long)v->rt.pid, db_state_name(to));
	if (to == DB_STATE_RUNNING || to == DB_STATE_PAUSED)
		sup_ops_succeed(v->s, &v->starts);
	sup_adopt_done(v->s);
}

/*
 * The recorded worker is not there (why): the VM is crashed, or stopped
 * when it was stopping, with the reason "lost".  A process that is
 * there but does not answer as the worker is left alone.
 */
void
sup_adopt_missing(struct sup_vm *v, const char *why)
{
	struct sup_worker *w = v->w;
	enum db_state to;

	sup_adopt_settled(v);
	if (w != NULL) {
		v->w = NULL;
		sup_worker_detach(w);
	}
	if (vmstate_next(v->rt.state, VMSTATE_EV_ADOPT_MISSING, &to) != 0)
		to = DB_STATE_CRASHED;
	v->rt.pid = 0;
	v->rt.socket[0] = '\0';
	snprintf(v->rt.exit_reason, sizeof(v->rt.exit_reason), "lost");
	v->rt.exit_status = SUP_STATUS_LOST;
	snprintf(v->rt.exit_message, sizeof(v->rt.exit_message), "%s", why);
	v->request = VMSTATE_REQUEST_NONE;
	(void)sup_record(v, to, SUP_WHO_VMMD, json_pack("{s:s, s:i, s:s}",
	    "reason", "lost", "status", SUP_STATUS_LOST, "message", why));
	vmmd_warnx("vm %s: %s; now %s", v->name, why, db_state_name(to));
	sup_ops_fail(v->s, &v->starts, RPC_E_FAILED, NULL, why);
	sup_ops_succeed(v->s, &v->stops);
	sup_adopt_done(v->s);
}

/* Look for the worker the database records for v. */
static void
sup_adopt(struct sup_vm *v)
{
	struct sup *s = v->s;
	struct vmdef def;
	char why[160];
	int rc;

	if (db_vm_get_by_uuid(s->d->db, v->uuid, NULL, &def) != 0) {
		snprintf(why, sizeof(why), "cannot load its definition: %s",
		    db_errmsg(s->d->db));
		sup_adopt_missing(v, why);
		return;
	}
	vmdef_free(&v->def);
	v->def = def;
	v->def_ok = true;
	(void)sup_mirror_size(v, def.scrollback);
	if (v->rt.pid <= 0 && v->rt.state == DB_STATE_STARTING) {
		/* A restart was waiting when the last vmmd ended. */
		vmmd_info("vm %s: its restart was pending; starting it",
		    v->name);
		snprintf(v->start_who, sizeof(v->start_who), SUP_WHO_VMMD);
		sup_respawn(v);
		return;
	}
	if (v->rt.pid <= 0 || v->rt.pid > INT_MAX) {
		sup_adopt_missing(v, "no worker was recorded");
		return;
	}
	if ((rc = sup_adopt_pid(v, (pid_t)v->rt.pid)) != 0) {
		snprintf(why, sizeof(why), "its worker (pid %lld) is gone: %s",
		    (long long)v->rt.pid, strerror(-rc));
		sup_adopt_missing(v, why);
		return;
	}
	v->adopting = true;
	s->adopting++;
	if (sup_ctl_open(v->w, SUP_CTL_ADOPT, v->rt.socket) != 0)
		sup_adopt_missing(v, "cannot open its control socket");
}

static int
sup_live_collect(void *arg, const struct db_vm *vm)
{
	return sup_list_add(arg, vm) != NULL ? 0 : -ENOMEM;
}

int
sup_start_all(struct sup *s)
{
	struct sup_list l = { NULL, 0, 0 };
	struct sup_vm *v;
	size_t i;
	int rc;

	if ((rc = db_vm_list(s->d->db, SUP_ACTIVE, sup_live_collect,
	    &l)) != 0) {
		vmmd_warnx("adoption: %s", rc == -ENOMEM ? "out of memory" :
		    db_errmsg(s->d->db));
		sup_list_free(&l);
		return rc;
	}
	for (i = 0; i < l.n; i++) {
		if ((v = sup_vm_get(s, l.v[i].uuid, l.v[i].name)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		sup_adopt(v);
	}
	sup_list_free(&l);
	s->started = true;
	sup_adopt_done(s);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* The host shutdown plan: vmmd's own shutdown and host.stop_all. */

/* One VM of a host.stop_all: the argument of its stop operation. */
struct sup_all_vm {
	struct sup_all *all;
	struct sup_vm *v;	/* valid until done (its op holds it) */
	char name[VMDEF_NAME_MAX + 1];
	int64_t fired_ms;	/* when its stop was asked, 0: not yet */
	unsigned int grace_ms;	/* the graceful time it was given */
	bool forced;		/* forced at once, or killed at the end */
	bool done;		/* its worker is gone (or the stop failed) */
};

/* A host.stop_all under way: s->all. */
struct sup_all {
	struct sup *s;
	struct sup_op *op;	/* the client's, finished at the end */
	struct sup_all_vm *vms;	/* the VMs that had a worker */
	size_t n, left;		/* ... and those not done */
	json_t *stopped, *forced;	/* names, in the order they ended */
	struct sup_timer *deadline_t;
	int64_t started_ms;
	char fail[RPC_TEXT_MAX];	/* why a VM's stop failed, or "" */
};

/* v's entry in the host.stop_all under way, while it is pending. */
static struct sup_all_vm *
sup_all_entry(struct sup *s, const struct sup_vm *v)
{
	size_t i;

	if (s->all == NULL)
		return NULL;
	for (i = 0; i < s->all->n; i++)
		if (!s->all->vms[i].done && s->all->vms[i].v == v)
			return &s->all->vms[i];
	return NULL;
}

/*
 * v's turn in the plan: a graceful stop with its share of the deadline,
 * or a forced one when its share is 0.  The requester is the client of a
 * host.stop_all, else vmmd.
 */
static void
sup_plan_fire(void *arg)
{
	struct sup_vm *v = arg;
	struct sup_all_vm *av = sup_all_entry(v->s, v);

	if (v->w == NULL)
		return;
	if (av != NULL) {
		av->fired_ms = vmmd_now_ms();
		av->grace_ms = v->plan_timeout_ms;
		/* A start in progress is killed whatever its share. */
		av->forced = v->plan_timeout_ms == 0 ||
		    v->rt.state == DB_STATE_STARTING;
	}
	/* Refused only when a stop is under way already. */
	(void)sup_stop_vm(v, av != NULL ? av->all->op->who : SUP_WHO_VMMD,
	    v->plan_timeout_ms == 0, v->plan_timeout_ms);
}

/*
 * Start the host shutdown plan for the VMs with a worker within
 * deadline_ms (vmstate_shutdown_plan): batches in reverse autostart
 * order, each VM forced after its share.  Returns how many VMs it
 * covers; out of memory, each is forced off at once instead.
 */
static size_t
sup_plan_stops(struct sup *s, int64_t deadline_ms)
{
	struct vmstate_plan_entry *plan = NULL;
	const struct vmdef **defs = NULL;
	struct sup_vm **vms = NULL, *v;
	size_t n, i;

	if ((n = sup_active(s)) == 0)
		return 0;
	if ((defs = calloc(n, sizeof(*defs))) == NULL ||
	    (vms = calloc(n, sizeof(*vms))) == NULL ||
	    (plan = calloc(n, sizeof(*plan))) == NULL) {
		vmmd_warnx("stopping the VMs: out of memory; forcing every "
		    "VM off");
		TAILQ_FOREACH(v, &s->vms, link) {
			v->plan_timeout_ms = 0;
			sup_plan_fire(v);
		}
		goto out;
	}
	i = 0;
	TAILQ_FOREACH(v, &s->vms, link) {
		if (v->w == NULL)
			continue;
		vms[i] = v;
		defs[i++] = &v->def;
	}
	(void)vmstate_shutdown_plan(defs, n, deadline_ms, plan);
	for (i = 0; i < n; i++) {
		v = vms[plan[i].index];
		v->plan_timeout_ms = (unsigned int)plan[i].timeout_ms;
		v->plan_batch = plan[i].batch;
		if (sup_timer_start(s, &v->plan_t, (uint64_t)plan[i].at_ms,
		    sup_plan_fire, v) != 0) {
			v->plan_timeout_ms = 0;
			sup_plan_fire(v);
		}
	}
out:
	free(plan);
	free(vms);
	free(defs);
	return n;
}

/* Start the next batch now when every VM of the earlier ones is down. */
static void
sup_plan_early(struct sup *s)
{
	unsigned int next = UINT_MAX;
	struct sup_vm *v;

	TAILQ_FOREACH(v, &s->vms, link)
		if (v->plan_t != NULL && v->plan_batch < next)
			next = v->plan_batch;
	if (next == UINT_MAX)
		return;
	TAILQ_FOREACH(v, &s->vms, link)
		if (v->w != NULL && v->plan_t == NULL &&
		    v->plan_batch < next)
			return;
	TAILQ_FOREACH(v, &s->vms, link) {
		if (v->plan_t != NULL && v->plan_batch == next) {
			sup_timer_stop(&v->plan_t);
			sup_plan_fire(v);
		}
	}
}

/* -------------------------------------------------------------------------- */
/* host.stop_all. */

static void
sup_all_free(struct sup_all *all)
{
	if (all == NULL)
		return;
	json_decref(all->stopped);
	json_decref(all->forced);
	free(all->vms);
	free(all);
}

/* Every VM is down: the client is answered and VMs may start again. */
static void
sup_all_finish(struct sup_all *all)
{
	struct sup *s = all->s;
	struct sup_op *op = all->op;
	json_t *res;

	sup_timer_stop(&all->deadline_t);
	s->all = NULL;
	vmmd_info("stop-all: %zu VM(s) stopped, %zu forced, in %lld ms",
	    json_array_size(all->stopped), json_array_size(all->forced),
	    (long long)(vmmd_now_ms() - all->started_ms));
	res = json_pack("{s:O, s:O}", "stopped", all->stopped, "forced",
	    all->forced);
	if (all->fail[0] != '\0')
		sup_op_fail(s, op, RPC_E_FAILED, res, "%s", all->fail);
	else if (res == NULL)
		sup_op_fail(s, op, RPC_E_INTERNAL, NULL, "out of memory");
	else {
		op->result = res;
		sup_op_finish(s, op);
	}
	sup_all_free(all);
}

/*
 * The stop of one VM is over (its worker is gone), or failed (vmmd is
 * shutting down and leaves it running).  A VM still running when its
 * share of the deadline ran out counts as forced.
 */
static void
sup_all_vm_done(void *arg, json_t *result, struct rpc_error *err)
{
	struct sup_all_vm *av = arg;
	struct sup_all *all = av->all;
	json_t *to;

	json_decref(result);
	av->done = true;
	if (err != NULL) {
		if (all->fail[0] == '\0')
			snprintf(all->fail, sizeof(all->fail), "%s",
			    err->message);
	} else {
		if (av->fired_ms != 0 &&
		    vmmd_now_ms() - av->fired_ms >= (int64_t)av->grace_ms)
			av->forced = true;
		to = av->forced ? all->forced : all->stopped;
		if (json_array_append_new(to, json_string(av->name)) != 0)
			vmmd_warnx("stop-all: out of memory");
	}
	if (--all->left == 0)
		sup_all_finish(all);
	else if (!all->s->shutting)
		sup_plan_early(all->s);
}

/* The deadline: a worker still there is forced and killed. */
static void
sup_all_deadline(void *arg)
{
	struct sup_all *all = arg;
	struct sup_all_vm *av;
	struct sup_vm *v;
	size_t i;

	for (i = 0; i < all->n; i++) {
		av = &all->vms[i];
		if (av->done || av->v->w == NULL)
			continue;
		v = av->v;
		av->forced = true;
		sup_timer_stop(&v->plan_t);
		vmmd_warnx("vm %s: still running at the stop-all deadline; "
		    "killing its worker (pid %d)", v->name, (int)v->w->pid);
		(void)sup_stop_vm(v, all->op->who, true, 0);
		if (v->w != NULL)
			(void)sup_worker_kill(v->w, SIGKILL);
	}
}

/*
 * Everything a stop-all needs, allocated before anything changes: its
 * entries, and one stop operation per VM with a worker (in ops).
 */
static struct sup_all *
sup_all_new(struct sup *s, const char *who, sup_done_fn *done, void *arg,
    struct sup_op ***opsp)
{
	struct sup_op **ops = NULL;
	struct sup_all *all;
	struct sup_vm *v;
	size_t n = sup_active(s), i = 0;

	if ((all = calloc(1, sizeof(*all))) == NULL)
		return NULL;
	all->s = s;
	all->n = all->left = n;
	all->started_ms = vmmd_now_ms();
	if ((all->vms = calloc(n + 1, sizeof(*all->vms))) == NULL ||
	    (ops = calloc(n + 1, sizeof(*ops))) == NULL ||
	    (all->stopped = json_array()) == NULL ||
	    (all->forced = json_array()) == NULL ||
	    (all->op = sup_op_new(SUP_OP_STOP, who, done, arg)) == NULL)
		goto fail;
	TAILQ_FOREACH(v, &s->vms, link) {
		if (v->w == NULL)
			continue;
		all->vms[i].all = all;
		all->vms[i].v = v;
		snprintf(all->vms[i].name, sizeof(all->vms[i].name), "%s",
		    v->name);
		if ((ops[i] = sup_op_new(SUP_OP_STOP, who, sup_all_vm_done,
		    &all->vms[i])) == NULL)
			goto fail;
		i++;
	}
	*opsp = ops;
	return all;
fail:
	for (i = 0; ops != NULL && i < n; i++)
		free(ops[i]);
	free(ops);
	free(all->op);
	sup_all_free(all);
	return NULL;
}

/*
 * No VM is to start any more: a restart waiting out its backoff is
 * cancelled (the VM counts as stopped), a pending autostart dropped.
 */
static void
sup_all_cancel_starts(struct sup_all *all)
{
	struct sup_vm *v, *next;

	for (v = TAILQ_FIRST(&all->s->vms); v != NULL; v = next) {
		next = TAILQ_NEXT(v, link);
		if (v->w != NULL)
			continue;
		sup_timer_stop(&v->plan_t);
		if (v->rt.state != DB_STATE_STARTING)
			continue;
		if (json_array_append_new(all->stopped,
		    json_string(v->name)) != 0)
			vmmd_warnx("stop-all: out of memory");
		sup_cancel_start(v, all->op->who);
	}
}

int
sup_stop_all(struct sup *s, const struct peer *p, unsigned int timeout_s,
    sup_done_fn *done, void *arg, struct rpc_error *err)
{
	int64_t deadline = (int64_t)timeout_s * 1000, margin;
	struct sup_op **ops = NULL;
	struct sup_all *all;
	size_t i;

	if (sup_halting(s))
		return rpc_error_set(err, RPC_E_BUSY, NULL, "%s", s->shutting ?
		    "vmmd is shutting down" : "a host.stop_all is under way "
		    "already");
	if ((all = sup_all_new(s, sup_who(p), done, arg, &ops)) == NULL)
		return sup_nomem(err);
	if (sup_timer_start(s, &all->deadline_t, (uint64_t)deadline,
	    sup_all_deadline, all) != 0) {
		for (i = 0; i < all->n; i++)
			free(ops[i]);
		free(ops);
		free(all->op);
		sup_all_free(all);
		return sup_nomem(err);
	}
	s->all = all;
	for (i = 0; i < all->n; i++)
		TAILQ_INSERT_TAIL(&all->vms[i].v->stops, ops[i], link);
	free(ops);
	sup_all_cancel_starts(all);
	margin = deadline / SUP_ALL_MARGIN_DIV;
	if (margin > SUP_ALL_MARGIN_MS)
		margin = SUP_ALL_MARGIN_MS;
	vmmd_info("stop-all: %s: stopping %zu VM(s) within %u s",
	    all->op->who, sup_plan_stops(s, deadline - margin), timeout_s);
	if (all->n == 0)
		sup_all_finish(all);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* vmmd's shutdown. */

/*
 * Where the shutdown stands: while VMs are being stopped, wait for them;
 * then close everything of ours (the workers left run on) and let the
 * handles go.
 */
void
sup_shutdown_step(struct sup *s)
{
	struct sup_worker *w;
	struct sup_vm *v;

	if (!s->shutting || s->shut_closing)
		return;
	if (s->stopping_vms && sup_active(s) > 0) {
		sup_plan_early(s);
		return;
	}
	s->shut_closing = true;
	TAILQ_FOREACH(v, &s->vms, link) {
		sup_timer_stop(&v->restart_t);
		sup_timer_stop(&v->start_t);
		sup_timer_stop(&v->stop_t);
		sup_timer_stop(&v->plan_t);
		if ((w = v->w) != NULL) {
			sup_ctl_close(w);	/* its requests fail now */
			v->w = NULL;
			sup_worker_detach(w);
		}
		sup_ops_fail(s, &v->starts, RPC_E_FAILED, NULL, "vmmd is "
		    "shutting down");
		sup_ops_fail(s, &v->stops, RPC_E_FAILED, NULL, "vmmd is "
		    "shutting down");
		sup_console_end(v, "vmmd-shutdown");
	}
	sup_check_handles(s);
}

void
sup_shutdown(struct sup *s, void (*cb)(void *), void *arg)
{
	struct sup_vm *v, *next;

	if (s->shutting)
		return;
	s->shutting = true;
	s->shut_cb = cb;
	s->shut_arg = arg;
	s->stopping_vms = s->d->cfg.stop_vms_on_exit;
	for (v = TAILQ_FIRST(&s->vms); v != NULL; v = next) {
		next = TAILQ_NEXT(v, link);
		sup_timer_stop(&v->plan_t);
		if (v->rt.state != DB_STATE_STARTING || v->w != NULL)
			continue;
		/* A restart waiting out its backoff. */
		if (s->stopping_vms)
			sup_cancel_start(v, SUP_WHO_VMMD);
		else
			sup_timer_stop(&v->restart_t);
	}
	if (s->stopping_vms)
		vmmd_info("shutdown: stopping %zu VM(s)",
		    sup_plan_stops(s, SUP_SHUTDOWN_MS));
	sup_shutdown_step(s);
}
