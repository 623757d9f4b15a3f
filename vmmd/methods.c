/*
 * methods.c: vmmd's RPC handlers, bound by name into a copy of proto's
 * method table (rpc_methods).  rpc_dispatch has checked the caller's role
 * and the params against the schema before a handler runs; a handler
 * reads the database directly, and asks the supervisor (sup.h) for
 * anything that touches a worker, deferring its reply until that is done.
 * The results are documented in proto/PROTOCOL.md ("Methods").
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "events.h"
#include "metrics.h"
#include "server.h"
#include "sup.h"
#include "vmstate.h"

#define MT_PARAM_STR(p, k)	json_string_value(json_object_get((p), (k)))
#define MT_STOP_ALL_TIMEOUT	60	/* host.stop_all's default, in s */

/*
 * Errors.
 */

/* A database failure as an RPC error: full disk, busy, or internal. */
static int
mt_db_error(struct vmmd *d, int rc, struct rpc_error *err)
{
	if (rc == -ENOMEM)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of "
		    "memory");
	if (rc == -ENOSPC)
		return rpc_error_set(err, RPC_E_RESOURCE_LIMIT, NULL, "the "
		    "state directory is full; nothing was changed");
	if (rc == -EBUSY)
		return rpc_error_set(err, RPC_E_BUSY, NULL, "the database is "
		    "busy; try again");
	vmmd_warnx("database: %s", db_errmsg(d->db));
	return rpc_error_set(err, RPC_E_INTERNAL, NULL, "database error: "
	    "%s", db_errmsg(d->db));
}

int
methods_db_error(struct vmmd *d, int rc, struct rpc_error *err)
{
	return mt_db_error(d, rc, err);
}

static int
mt_not_found(const char *name, struct rpc_error *err)
{
	return rpc_error_set(err, RPC_E_NOT_FOUND, json_pack("{s:s}", "vm",
	    name), "no VM named \"%s\"", name);
}

/* Look name up; 0, or the RPC error with err filled. */
static int
mt_lookup(struct vmmd *d, const char *name, struct db_vm *vm,
    struct rpc_error *err)
{
	int rc = db_vm_get_by_name(d->db, name, vm, NULL);

	if (rc == -ENOENT)
		return mt_not_found(name, err);
	if (rc != 0)
		return mt_db_error(d, rc, err);
	return 0;
}

/*
 * Deferred replies: the supervisor's completion gives the reply.
 */

static void
mt_done(void *arg, json_t *result, struct rpc_error *err)
{
	struct reply *r = arg;

	if (err != NULL)
		reply_error(r, err);
	else
		reply_result(r, result);
}

/* A completion nobody waits for (vm.stop with wait false). */
static void
mt_drop(void *arg, json_t *result, struct rpc_error *err)
{
	json_decref(result);
	if (err != NULL)
		rpc_error_clear(err);
}

typedef int mt_async_fn(struct call *call, json_t *params, sup_done_fn *done,
    void *arg, struct rpc_error *err);

/* Run fn with a deferred reply as its completion. */
static int
mt_defer(struct call *call, json_t *params, json_t **result,
    struct rpc_error *err, mt_async_fn *fn)
{
	struct reply *r;
	int rc;

	if ((r = reply_new(call)) == NULL)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of "
		    "memory");
	if ((rc = fn(call, params, mt_done, r, err)) != 0) {
		reply_discard(r);
		return rc;
	}
	*result = reply_marker(r);
	return 0;
}

/*
 * Definitions.
 */

/*
 * Why db_vm_put refused def with -EEXIST: the name is another VM's, or
 * (without replace) the uuid is taken.  Looked up only on a conflict, so
 * that a define costs one transaction and no query.
 */
static int
mt_define_conflict(struct vmmd *d, const struct vmdef *def,
    struct rpc_error *err)
{
	struct db_vm vm;
	int rc;

	memset(&vm, 0, sizeof(vm));
	if ((rc = db_vm_get_by_name(d->db, def->name, &vm, NULL)) == 0 &&
	    strcmp(vm.uuid, def->uuid) != 0)
		rc = rpc_error_set(err, RPC_E_ALREADY_EXISTS, json_pack(
		    "{s:s,s:s}", "vm", vm.name, "uuid", vm.uuid), "a VM named "
		    "\"%s\" already exists (uuid %s)", vm.name, vm.uuid);
	else if (db_vm_free(&vm), (rc = db_vm_get_by_uuid(d->db, def->uuid,
	    &vm, NULL)) == 0)
		rc = rpc_error_set(err, RPC_E_ALREADY_EXISTS, json_pack(
		    "{s:s,s:s}", "vm", vm.name, "uuid", vm.uuid), "uuid %s "
		    "already belongs to the VM \"%s\"", vm.uuid, vm.name);
	else
		rc = rpc_error_set(err, RPC_E_ALREADY_EXISTS, NULL, "the name "
		    "or uuid was taken meanwhile");
	db_vm_free(&vm);
	return rc;
}

/*
 * Store def.  A definition without a uuid that replaces a VM by name
 * keeps that VM's uuid.
 */
static int
mt_define_store(struct vmmd *d, const json_t *in, struct vmdef *def,
    bool replace, const char *who, struct rpc_error *err)
{
	struct db_vm vm;
	int rc;

	if (replace && json_object_get(in, "uuid") == NULL) {
		rc = db_vm_get_by_name(d->db, def->name, &vm, NULL);
		if (rc != 0 && rc != -ENOENT)
			return mt_db_error(d, rc, err);
		if (rc == 0)
			memcpy(def->uuid, vm.uuid, sizeof(def->uuid));
		db_vm_free(&vm);
	}
	if ((rc = db_vm_put(d->db, def, replace, who)) == -EEXIST)
		return mt_define_conflict(d, def, err);
	if (rc != 0)
		return mt_db_error(d, rc, err);
	return 0;
}

static int
mt_vm_define(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct vmmd *d = call->d;
	json_t *in = json_object_get(params, "definition");
	bool replace = json_is_true(json_object_get(params, "replace"));
	bool staged;
	struct vmdef_errors errs = { NULL, 0 };
	struct vmdef def;
	int rc;

	memset(&def, 0, sizeof(def));
	/* The schema has validated it: only memory can fail here. */
	if ((rc = vmdef_decode(in, &def, &errs)) != 0) {
		vmdef_errors_free(&errs);
		vmdef_free(&def);
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of "
		    "memory");
	}
	staged = audit_stage(d, call->peer, "vm.define", params);
	rc = mt_define_store(d, in, &def, replace, call->peer->who, err);
	call->audited = staged && !db_audit_unstage(d->db) && rc == 0;
	if (rc == 0) {
		vmmd_info("%s: defined %s (%s)", call->peer->who, def.name,
		    def.uuid);
		*result = json_pack("{s:s,s:s}", "name", def.name, "uuid",
		    def.uuid);
	}
	vmdef_free(&def);
	return rc;
}

static int
mt_vm_undefine(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct vmmd *d = call->d;
	const char *name = MT_PARAM_STR(params, "name");
	const char *uuid = MT_PARAM_STR(params, "uuid");
	char why[VMSTATE_ERR_MAX];
	bool staged = false;
	enum db_state to;
	struct db_vm vm;
	int rc;

	if ((rc = mt_lookup(d, name, &vm, err)) != 0)
		return rc;
	if (uuid != NULL && strcasecmp(uuid, vm.uuid) != 0)
		rc = rpc_error_set(err, RPC_E_NOT_FOUND, json_pack("{s:s,s:s}",
		    "vm", name, "uuid", vm.uuid), "the VM \"%s\" has uuid %s, "
		    "not %s", name, vm.uuid, uuid);
	else if (vmstate_next(vm.state, VMSTATE_EV_UNDEFINE, &to) != 0)
		rc = rpc_error_set(err, RPC_E_INVALID_STATE, json_pack("{s:s}",
		    "state", db_state_name(vm.state)), "%s",
		    vmstate_errmsg(vm.state, VMSTATE_EV_UNDEFINE, why,
		    sizeof(why)));
	else if ((staged = audit_stage(d, call->peer, "vm.undefine",
	    params), rc = db_vm_delete(d->db, vm.uuid, call->peer->who)) != 0)
		rc = rc == -ENOENT ? mt_not_found(name, err) :
		    mt_db_error(d, rc, err);
	call->audited = staged && !db_audit_unstage(d->db) && rc == 0;
	if (rc == 0) {
		sup_forget(d->sup, vm.uuid);
		vmmd_info("%s: undefined %s (%s)", call->peer->who, vm.name,
		    vm.uuid);
	}
	db_vm_free(&vm);
	return rc;
}

/*
 * Reading.
 */

struct mt_list {
	json_t *out;
	const char *prefix;
	size_t prefix_len;
	int autostart;		/* -1: any */
};

/* Whether a stored definition has autostart enabled. */
static bool
mt_autostarts(const char *definition)
{
	json_t *def = json_loads(definition, 0, NULL);
	bool on;

	on = json_is_true(json_object_get(json_object_get(def, "autostart"),
	    "enabled"));
	json_decref(def);
	return on;
}

static int
mt_list_one(void *arg, const struct db_vm *vm)
{
	struct mt_list *l = arg;

	if (l->prefix != NULL &&
	    strncmp(vm->name, l->prefix, l->prefix_len) != 0)
		return 0;
	if (l->autostart >= 0 &&
	    mt_autostarts(vm->definition) != (l->autostart == 1))
		return 0;
	if (json_array_append_new(l->out, json_pack("{s:s,s:s,s:s}", "name",
	    vm->name, "uuid", vm->uuid, "state", db_state_name(vm->state)))
	    != 0)
		return -ENOMEM;
	return 0;
}

static int
mt_bad_state_filter(const char *state, struct rpc_error *err)
{
	json_t *problem;

	problem = json_pack("{s:[{s:s,s:s}]}", "problems", "path",
	    "$.params.state", "message", "must be a state: defined, starting, "
	    "running, paused, stopping, stopped or crashed");
	return rpc_error_set(err, RPC_E_INVALID_PARAMS, problem, NULL);
}

static int
mt_vm_list(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	const char *state = MT_PARAM_STR(params, "state");
	json_t *autostart = json_object_get(params, "autostart");
	struct mt_list l = { NULL, NULL, 0, -1 };
	enum db_state st;
	unsigned int mask = 0;
	int rc;

	if (state != NULL) {
		if (db_state_parse(state, &st) != 0)
			return mt_bad_state_filter(state, err);
		mask = DB_STATE_BIT(st);
	}
	if ((l.prefix = MT_PARAM_STR(params, "prefix")) != NULL)
		l.prefix_len = strlen(l.prefix);
	if (autostart != NULL)
		l.autostart = json_is_true(autostart);
	if ((l.out = json_array()) == NULL)
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of "
		    "memory");
	if ((rc = db_vm_list(call->d->db, mask, mt_list_one, &l)) != 0) {
		json_decref(l.out);
		return mt_db_error(call->d, rc, err);
	}
	*result = l.out;
	return 0;
}

static int
mt_vm_get(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct db_vm vm;
	int rc;

	if ((rc = mt_lookup(call->d, MT_PARAM_STR(params, "name"), &vm,
	    err)) != 0)
		return rc;
	if ((*result = json_loads(vm.definition, 0, NULL)) == NULL)
		rc = rpc_error_set(err, RPC_E_INTERNAL, NULL, "the stored "
		    "definition of %s does not parse", vm.name);
	db_vm_free(&vm);
	return rc;
}

/* A nullable integer: 0 reads as null. */
static json_t *
mt_int_or_null(int64_t v)
{
	return v != 0 ? json_integer(v) : json_null();
}

static bool
mt_has_worker(enum db_state s)
{
	return s == DB_STATE_RUNNING || s == DB_STATE_PAUSED ||
	    s == DB_STATE_STOPPING;
}

static int
mt_vm_info(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct db_runtime rt;
	json_t *last = NULL;
	struct db_vm vm;
	int64_t up = 0;
	int rc;

	if ((rc = mt_lookup(call->d, MT_PARAM_STR(params, "name"), &vm,
	    err)) != 0)
		return rc;
	if ((rc = db_runtime_get(call->d->db, vm.uuid, &rt)) != 0) {
		db_vm_free(&vm);
		return mt_db_error(call->d, rc, err);
	}
	if (mt_has_worker(rt.state) && rt.started_at != 0)
		up = vmmd_now_ms() - rt.started_at;
	if (rt.exit_reason[0] != '\0')
		last = json_pack("{s:s,s:i,s:s}", "reason", rt.exit_reason,
		    "status", rt.exit_status, "message", rt.exit_message);
	*result = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:i,s:o}", "name",
	    vm.name, "uuid", vm.uuid, "state", db_state_name(rt.state),
	    "pid", mt_int_or_null(rt.pid), "started_at",
	    mt_int_or_null(rt.started_at), "uptime_ms", mt_has_worker(rt.state) ?
	    json_integer(up) : json_null(), "restart_count",
	    (int)rt.restart_count, "last_exit", last != NULL ? last :
	    json_null());
	db_vm_free(&vm);
	return 0;
}

/*
 * The supervisor's operations.
 */

static int
mt_start(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_start(call->d->sup, call->peer, MT_PARAM_STR(params,
	    "name"), done, arg, err);
}

static unsigned int
mt_timeout(const json_t *params)
{
	return (unsigned int)json_integer_value(json_object_get(params,
	    "timeout"));
}

static int
mt_stop(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_stop(call->d->sup, call->peer, MT_PARAM_STR(params,
	    "name"), json_is_true(json_object_get(params, "force")),
	    mt_timeout(params), done, arg, err);
}

static int
mt_restart(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_restart(call->d->sup, call->peer, MT_PARAM_STR(params,
	    "name"), json_is_true(json_object_get(params, "force")),
	    mt_timeout(params), done, arg, err);
}

static int
mt_reset(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_reset(call->d->sup, call->peer, MT_PARAM_STR(params,
	    "name"), done, arg, err);
}

static int
mt_pause(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_pause(call->d->sup, call->peer, MT_PARAM_STR(params,
	    "name"), done, arg, err);
}

static int
mt_resume(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_resume(call->d->sup, call->peer, MT_PARAM_STR(params,
	    "name"), done, arg, err);
}

static int
mt_stats(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	return sup_stats(call->d->sup, MT_PARAM_STR(params, "name"), done,
	    arg, err);
}

/* vm.console's input: base64 of 1 to 4096 bytes. */
static int
mt_console_input(struct call *call, json_t *params, sup_done_fn *done,
    void *arg, struct rpc_error *err)
{
	const char *in = MT_PARAM_STR(params, "input");
	uint8_t buf[B64_DECODE_MAX(4096 / 3 * 4 + 4)];
	size_t len = strlen(in);
	ssize_t n = -1;

	/* The schema bounds the length; the buffer fits the longest. */
	if (len <= 4096 / 3 * 4 + 4)
		n = b64_decode(in, len, buf);
	if (n <= 0 || n > 4096)
		return rpc_error_set(err, RPC_E_INVALID_PARAMS, json_pack(
		    "{s:[{s:s,s:s}]}", "problems", "path", "$.params.input",
		    "message", "must be base64 of 1 to 4096 bytes"), NULL);
	return sup_console_input(call->d->sup, call->peer,
	    MT_PARAM_STR(params, "name"), buf, (size_t)n, done, arg, err);
}

/* host.stop_all: timeout defaults to 60 s. */
static int
mt_stop_all(struct call *call, json_t *params, sup_done_fn *done, void *arg,
    struct rpc_error *err)
{
	unsigned int t = mt_timeout(params);

	return sup_stop_all(call->d->sup, call->peer, t != 0 ? t :
	    MT_STOP_ALL_TIMEOUT, done, arg, err);
}

#define MT_ASYNC(fn, impl)						\
static int								\
fn(void *ctx, json_t *params, json_t **result, struct rpc_error *err)	\
{									\
	return mt_defer(ctx, params, result, err, impl);		\
}

MT_ASYNC(mt_vm_start, mt_start)
MT_ASYNC(mt_vm_restart, mt_restart)
MT_ASYNC(mt_vm_reset, mt_reset)
MT_ASYNC(mt_vm_pause, mt_pause)
MT_ASYNC(mt_vm_resume, mt_resume)
MT_ASYNC(mt_vm_stats, mt_stats)
MT_ASYNC(mt_host_stop_all, mt_stop_all)

static int
mt_vm_stop(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	json_t *wait = json_object_get(params, "wait");

	if (wait == NULL || json_is_true(wait))
		return mt_defer(ctx, params, result, err, mt_stop);
	/* Answered once the stop is under way. */
	return mt_stop(ctx, params, mt_drop, NULL, err);
}

static int
mt_vm_console(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;

	if (json_object_get(params, "input") != NULL)
		return mt_defer(ctx, params, result, err, mt_console_input);
	return sup_console_attach(call->d->sup, MT_PARAM_STR(params, "name"),
	    call->conn, err);
}

static int
mt_vm_console_log(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	json_int_t bytes = json_integer_value(json_object_get(params,
	    "bytes"));

	return sup_console_log(call->d->sup, MT_PARAM_STR(params, "name"),
	    (size_t)bytes, json_is_true(json_object_get(params, "follow")),
	    call->conn, result, err);
}

/*
 * The host and the daemon.
 */

static int
mt_count(void *arg, const struct db_vm *vm)
{
	(*(unsigned int *)arg)++;
	return 0;
}

static int
mt_host_info(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct vmmd *d = call->d;
	unsigned int nvms = 0;
	int rc;

	if ((rc = db_vm_list(d->db, 0, mt_count, &nvms)) != 0)
		return mt_db_error(d, rc, err);
	*result = json_pack("{s:s,s:i,s:s,s:{s:i,s:i,s:i,s:I},s:i,s:i,s:i,"
	    "s:I}", "version", VMMD_VERSION, "api", RPC_API_VERSION,
	    "backend", d->backend, "capabilities", "version",
	    (int)d->cap.version, "max_machines", (int)d->cap.max_machines,
	    "max_vcpus", (int)d->cap.max_vcpus, "max_ram",
	    (json_int_t)d->cap.max_ram, "vms", (int)nvms, "running",
	    (int)sup_active(d->sup), "clients", (int)server_clients(d),
	    "uptime_ms", (json_int_t)(vmmd_now_ms() - d->started_ms));
	return 0;
}

static int
mt_daemon_version(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	*result = json_pack("{s:s,s:i}", "version", VMMD_VERSION, "api",
	    RPC_API_VERSION);
	return 0;
}

static const struct {
	const char *name;
	rpc_handler_fn *fn;
} mt_handlers[] = {
	{ "vm.define", mt_vm_define },
	{ "vm.undefine", mt_vm_undefine },
	{ "vm.list", mt_vm_list },
	{ "vm.get", mt_vm_get },
	{ "vm.info", mt_vm_info },
	{ "vm.start", mt_vm_start },
	{ "vm.stop", mt_vm_stop },
	{ "vm.restart", mt_vm_restart },
	{ "vm.reset", mt_vm_reset },
	{ "vm.pause", mt_vm_pause },
	{ "vm.resume", mt_vm_resume },
	{ "vm.console", mt_vm_console },
	{ "vm.console_log", mt_vm_console_log },
	{ "vm.stats", mt_vm_stats },
	{ "host.info", mt_host_info },
	{ "host.metrics", metrics_host_metrics },
	{ "host.stop_all", mt_host_stop_all },
	{ "daemon.version", mt_daemon_version },
	{ "events.list", events_list },
	{ "events.subscribe", events_subscribe },
	{ "audit.list", audit_list },
};

int
methods_init(struct vmmd *d)
{
	const struct rpc_method *m;
	struct rpc_method *t;
	size_t n = 0, i;

	for (m = rpc_methods; m->name != NULL; m++)
		n++;
	if ((t = calloc(n + 1, sizeof(*t))) == NULL)
		return -ENOMEM;
	memcpy(t, rpc_methods, (n + 1) * sizeof(*t));
	for (i = 0; i < sizeof(mt_handlers) / sizeof(mt_handlers[0]); i++)
		for (m = t; m->name != NULL; m++)
			if (strcmp(m->name, mt_handlers[i].name) == 0)
				t[m - t].handler = mt_handlers[i].fn;
	d->methods = t;
	return 0;
}

void
methods_free(struct vmmd *d)
{
	free(d->methods);
	d->methods = NULL;
}
