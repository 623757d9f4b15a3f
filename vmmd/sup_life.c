/*
 * sup_life.c: the supervisor at vmmd's start and end.  At the start the
 * workers of a previous vmmd are adopted (their pid is alive and their
 * control socket answers with their uuid and pid) or marked lost, and
 * then the autostart plan runs.  At the end the workers are left running
 * (the next vmmd adopts them), or with stop_vms_on_exit stopped first by
 * the host shutdown plan.
 */

#include <errno.h>
#include <limits.h>
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

	if (v->s->shutting)
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
	if (!s->started || s->adopting > 0 || s->autostarted || s->shutting)
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
/* Shutdown. */

static void
sup_shutdown_fire(void *arg)
{
	struct sup_vm *v = arg;

	if (v->w == NULL)
		return;
	/* Refused only when a stop is under way already. */
	(void)sup_stop_vm(v, SUP_WHO_VMMD, v->plan_timeout_ms == 0,
	    v->plan_timeout_ms);
}

/*
 * The host shutdown plan for the VMs with a worker: batches in reverse
 * autostart order, each VM forced after its share of the deadline.
 */
static void
sup_shutdown_plan(struct sup *s)
{
	struct vmstate_plan_entry *plan = NULL;
	const struct vmdef **defs = NULL;
	struct sup_vm **vms = NULL, *v;
	size_t n = 0, i;

	if ((n = sup_active(s)) == 0)
		return;
	if ((defs = calloc(n, sizeof(*defs))) == NULL ||
	    (vms = calloc(n, sizeof(*vms))) == NULL ||
	    (plan = calloc(n, sizeof(*plan))) == NULL) {
		vmmd_warnx("shutdown: out of memory; forcing every VM off");
		TAILQ_FOREACH(v, &s->vms, link)
			if (v->w != NULL)
				(void)sup_stop_vm(v, SUP_WHO_VMMD, true, 0);
		goto out;
	}
	i = 0;
	TAILQ_FOREACH(v, &s->vms, link) {
		if (v->w == NULL)
			continue;
		vms[i] = v;
		defs[i++] = &v->def;
	}
	(void)vmstate_shutdown_plan(defs, n, SUP_SHUTDOWN_MS, plan);
	for (i = 0; i < n; i++) {
		v = vms[plan[i].index];
		v->plan_timeout_ms = (unsigned int)plan[i].timeout_ms;
		v->plan_batch = plan[i].batch;
		if (sup_timer_start(s, &v->plan_t, (uint64_t)plan[i].at_ms,
		    sup_shutdown_fire, v) != 0)
			(void)sup_stop_vm(v, SUP_WHO_VMMD, true, 0);
	}
	vmmd_info("shutdown: stopping %zu VM(s)", n);
out:
	free(plan);
	free(vms);
	free(defs);
}

/* Start the next batch now when every VM of the earlier ones is down. */
static void
sup_shutdown_early(struct sup *s)
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
			sup_shutdown_fire(v);
		}
	}
}

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
		sup_shutdown_early(s);
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
		sup_shutdown_plan(s);
	sup_shutdown_step(s);
}
