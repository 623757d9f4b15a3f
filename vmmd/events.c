/*
 * events.c: the event and audit logs for clients (events.h).  The
 * database is the only buffer: a subscription is a cursor (the last seq
 * sent) and a filter, and the pump reads what follows the cursor after
 * each commit that added events.  A subscriber that reads slower than
 * events come is not sent more until it catches up (its connection's
 * unsent output is bounded, server.h conn_notify); it then resumes from
 * its cursor, so it loses nothing that is still kept.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "server.h"

#define EV_PAGE		256	/* events read per subscriber per pump */
#define EV_LIST_LIMIT	100	/* events.list's default page */
#define EV_RETRY_MS	50	/* a lagging subscriber's next try */
#define EV_PRUNE_MS	(60 * 1000)

struct ev_sub {
	struct ev_sub *next;
	struct conn *c;			/* a reference */
	int64_t after;			/* the last seq handled */
	char vm[VMDEF_UUID_LEN + 1];	/* "": every VM */
	char kind[DB_KIND_MAX + 1];	/* a kind, or a prefix ending '.' */
};

struct events {
	struct vmmd *d;
	struct ev_sub *subs;
	uv_timer_t pump;		/* the pump's next run */
	uv_timer_t prune;
	unsigned int closing;
	void (*shut_cb)(void *);
	void *shut_arg;
};

/* Does event e pass the filter (vm uuid, kind) of s? */
static bool
ev_match(const char *vm, const char *kind, const struct db_event *e)
{
	size_t n = strlen(kind);

	if (vm[0] != '\0' && (e->vm == NULL || strcmp(vm, e->vm) != 0))
		return false;
	if (n == 0)
		return true;
	return kind[n - 1] == '.' ? strncmp(kind, e->kind, n) == 0 :
	    strcmp(kind, e->kind) == 0;
}

/* An event as clients see it (proto/PROTOCOL.md, "Events"). */
static json_t *
ev_json(const struct db_event *e)
{
	json_t *detail = NULL;

	if (e->detail != NULL)
		detail = json_loads(e->detail, 0, NULL);
	return json_pack("{s:I,s:I,s:s?,s:s,s:s,s:o,s:s}", "seq",
	    (json_int_t)e->seq, "time", (json_int_t)e->time, "vm", e->vm,
	    "kind", e->kind, "who", e->who, "detail", detail != NULL ? detail :
	    json_null(), "result", e->result);
}

/*
 * The pump.
 */

struct ev_send {
	struct ev_sub *s;
	int rc;			/* conn_notify's last failure */
};

static int
ev_send_one(void *arg, const struct db_event *e)
{
	struct ev_send *x = arg;
	int rc;

	if (ev_match(x->s->vm, x->s->kind, e)) {
		rc = conn_notify(x->s->c, EVENTS_NOTIFY, ev_json(e));
		if (rc != 0) {
			x->rc = rc;
			return 1;	/* not sent: the cursor stays */
		}
	}
	x->s->after = e->seq;
	return 0;
}

static void	ev_sub_drop(struct events *ev, struct ev_sub *s);

static void
ev_pump(uv_timer_t *t)
{
	struct events *ev = t->data;
	struct ev_sub *s, *next;
	struct ev_send x;
	bool lagging = false;
	int64_t before;
	int rc;

	for (s = ev->subs; s != NULL; s = next) {
		next = s->next;
		do {
			before = s->after;
			x.s = s;
			x.rc = 0;
			rc = db_events_since(ev->d->db, s->after, EV_PAGE,
			    ev_send_one, &x);
		} while (rc == 0 && s->after - before == EV_PAGE);
		if (x.rc == -EPIPE) {
			ev_sub_drop(ev, s);
		} else if (x.rc == -ENOBUFS) {
			lagging = true;
		} else if (rc < 0) {
			vmmd_warnx("events: %s", db_errmsg(ev->d->db));
			lagging = true;
		}
	}
	if (lagging)
		uv_timer_start(&ev->pump, ev_pump, EV_RETRY_MS, 0);
}

/* The database took an event (not yet committed): pump on the next turn. */
static void
ev_dirty(void *arg)
{
	struct events *ev = arg;

	if (ev->subs != NULL)
		uv_timer_start(&ev->pump, ev_pump, 0, 0);
}

static void
ev_prune(uv_timer_t *t)
{
	struct events *ev = t->data;
	int64_t n;

	if (db_prune(ev->d->db, ev->d->cfg.event_retention, &n) != 0)
		vmmd_warnx("events: pruning: %s", db_errmsg(ev->d->db));
	else if (n > 0)
		vmmd_debug("events: pruned %lld old records", (long long)n);
}

/*
 * Life.
 */

int
events_init(struct vmmd *d)
{
	struct events *ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return -ENOMEM;
	ev->d = d;
	uv_timer_init(d->loop, &ev->pump);
	uv_timer_init(d->loop, &ev->prune);
	ev->pump.data = ev->prune.data = ev;
	uv_unref((uv_handle_t *)&ev->prune);
	uv_timer_start(&ev->prune, ev_prune, 0, EV_PRUNE_MS);
	db_event_hook(d->db, ev_dirty, ev);
	d->events = ev;
	return 0;
}

static void
ev_sub_drop(struct events *ev, struct ev_sub *s)
{
	struct ev_sub **pp;

	for (pp = &ev->subs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	conn_unref(s->c);
	free(s);
}

static void
ev_closed(uv_handle_t *h)
{
	struct events *ev = h->data;

	if (--ev->closing == 0 && ev->shut_cb != NULL)
		ev->shut_cb(ev->shut_arg);
}

void
events_shutdown(struct vmmd *d, void (*cb)(void *), void *arg)
{
	struct events *ev = d->events;

	if (ev == NULL) {
		cb(arg);
		return;
	}
	db_event_hook(d->db, NULL, NULL);
	while (ev->subs != NULL)
		ev_sub_drop(ev, ev->subs);
	ev->shut_cb = cb;
	ev->shut_arg = arg;
	ev->closing = 2;
	uv_close((uv_handle_t *)&ev->pump, ev_closed);
	uv_close((uv_handle_t *)&ev->prune, ev_closed);
}

void
events_free(struct vmmd *d)
{
	free(d->events);
	d->events = NULL;
}

void
events_conn_closed(struct vmmd *d, struct conn *c)
{
	struct events *ev = d->events;
	struct ev_sub *s, *next;

	if (ev == NULL)
		return;
	for (s = ev->subs; s != NULL; s = next) {
		next = s->next;
		if (s->c == c)
			ev_sub_drop(ev, s);
	}
}

/*
 * The methods.
 */

/* A filter from params: vm (a name, to its uuid) and kind. */
static int
ev_filter(struct vmmd *d, const json_t *params, char vm[VMDEF_UUID_LEN + 1],
    char kind[DB_KIND_MAX + 1], struct rpc_error *err)
{
	const char *name = json_string_value(json_object_get(params, "vm"));
	const char *k = json_string_value(json_object_get(params, "kind"));
	struct db_vm v;
	int rc;

	vm[0] = kind[0] = '\0';
	if (k != NULL)
		snprintf(kind, DB_KIND_MAX + 1, "%s", k);
	if (name == NULL)
		return 0;
	if ((rc = db_vm_get_by_name(d->db, name, &v, NULL)) == -ENOENT)
		return rpc_error_set(err, RPC_E_NOT_FOUND, json_pack("{s:s}",
		    "vm", name), "no VM named %s", name);
	if (rc != 0)
		return methods_db_error(d, rc, err);
	snprintf(vm, VMDEF_UUID_LEN + 1, "%s", v.uuid);
	db_vm_free(&v);
	return 0;
}

/*
 * Where a client resumes: after (the last seq it saw), the log's bounds,
 * and how many events it missed because they were pruned meanwhile.
 */
static json_t *
ev_position(int64_t after, int64_t oldest, int64_t latest)
{
	int64_t missed = oldest > after + 1 ? oldest - after - 1 : 0;

	return json_pack("{s:I,s:I,s:I,s:I}", "after", (json_int_t)after,
	    "oldest", (json_int_t)oldest, "latest", (json_int_t)latest,
	    "missed", (json_int_t)missed);
}

struct ev_list {
	json_t *events;
	const char *vm, *kind;
	int64_t last;
};

static int
ev_list_one(void *arg, const struct db_event *e)
{
	struct ev_list *l = arg;

	l->last = e->seq;
	if (ev_match(l->vm, l->kind, e) &&
	    json_array_append_new(l->events, ev_json(e)) != 0)
		return -ENOMEM;
	return 0;
}

int
events_list(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct vmmd *d = call->d;
	char vm[VMDEF_UUID_LEN + 1], kind[DB_KIND_MAX + 1];
	json_int_t after, limit;
	int64_t oldest, latest;
	struct ev_list l;
	int rc;

	after = json_integer_value(json_object_get(params, "after"));
	limit = json_integer_value(json_object_get(params, "limit"));
	if ((rc = ev_filter(d, params, vm, kind, err)) != 0)
		return rc;
	if ((l.events = json_array()) == NULL)
		return methods_db_error(d, -ENOMEM, err);
	l.vm = vm;
	l.kind = kind;
	l.last = after;
	if ((rc = db_events_bounds(d->db, &oldest, &latest)) != 0 ||
	    (rc = db_events_since(d->db, after, limit > 0 ? (unsigned int)limit :
	    EV_LIST_LIMIT, ev_list_one, &l)) != 0) {
		json_decref(l.events);
		return methods_db_error(d, rc, err);
	}
	if ((*result = ev_position(after, oldest, latest)) == NULL) {
		json_decref(l.events);
		return methods_db_error(d, -ENOMEM, err);
	}
	json_object_set_new(*result, "events", l.events);
	json_object_set_new(*result, "last", json_integer(l.last));
	return 0;
}

int
events_subscribe(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	struct vmmd *d = call->d;
	struct events *ev = d->events;
	int64_t oldest, latest;
	unsigned int n = 0;
	struct ev_sub *s;
	int rc;

	for (s = ev->subs; s != NULL; s = s->next)
		n += s->c == call->conn;
	if (n >= EVENTS_SUBS_MAX)
		return rpc_error_set(err, RPC_E_RESOURCE_LIMIT, NULL, "at most "
		    "%d subscriptions per connection", EVENTS_SUBS_MAX);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return methods_db_error(d, -ENOMEM, err);
	if ((rc = ev_filter(d, params, s->vm, s->kind, err)) != 0) {
		free(s);
		return rc;
	}
	if ((rc = db_events_bounds(d->db, &oldest, &latest)) != 0) {
		free(s);
		return methods_db_error(d, rc, err);
	}
	/* Without "after": from now on. */
	s->after = json_object_get(params, "after") != NULL ?
	    json_integer_value(json_object_get(params, "after")) : latest;
	if ((*result = ev_position(s->after, oldest, latest)) == NULL) {
		free(s);
		return methods_db_error(d, -ENOMEM, err);
	}
	s->c = conn_ref(call->conn);
	s->next = ev->subs;
	ev->subs = s;
	/* The replay follows the answer, on the loop's next turn. */
	uv_timer_start(&ev->pump, ev_pump, 0, 0);
	return 0;
}

/*
 * Audit.
 */

/* params as recorded: no definition but its name, no console input. */
static json_t *
audit_params(const json_t *params)
{
	const json_t *def, *in;
	json_t *p;

	if (params == NULL || (p = json_deep_copy(params)) == NULL)
		return NULL;
	if ((def = json_object_get(params, "definition")) != NULL)
		json_object_set_new(p, "definition", json_pack("{s:O?}",
		    "name", json_object_get(def, "name")));
	if ((in = json_object_get(params, "input")) != NULL)
		json_object_set_new(p, "input", json_pack("{s:I}", "length",
		    (json_int_t)json_string_length(in)));
	return p;
}

/* The record of p's call to method; a->params (a new copy) to release. */
static void
audit_fill(struct db_audit *a, const struct peer *p, const char *method,
    const json_t *params, const struct rpc_error *err)
{
	memset(a, 0, sizeof(*a));
	a->who = p->who;
	a->uid = p->fingerprint[0] != '\0' ? -1 : (int64_t)p->uid;
	a->fingerprint = p->fingerprint[0] != '\0' ? p->fingerprint : NULL;
	a->subject = p->fingerprint[0] != '\0' ? p->subject : NULL;
	a->role = rpc_role_name(p->role);
	a->method = method;
	a->params = audit_params(params);
	a->code = err != NULL ? err->code : 0;
	a->result = err != NULL ? err->message : "ok";
}

void
audit_record(struct vmmd *d, const struct peer *p,
    const struct rpc_method *m, const json_t *params,
    const struct rpc_error *err)
{
	struct db_audit a;

	if (m->least_role == RPC_ROLE_READONLY &&
	    (err == NULL || err->code != RPC_E_PERMISSION_DENIED))
		return;
	audit_fill(&a, p, m->name, params, err);
	if (db_audit_append(d->db, &a, NULL) != 0)
		vmmd_warnx("audit: %s %s by %s: %s", m->name, a.result, p->who,
		    db_errmsg(d->db));
	json_decref((json_t *)(uintptr_t)a.params);
}

bool
audit_stage(struct vmmd *d, const struct peer *p, const char *method,
    const json_t *params)
{
	struct db_audit a;
	int rc;

	audit_fill(&a, p, method, params, NULL);
	if ((rc = db_audit_stage(d->db, &a)) != 0)
		vmmd_warnx("audit: %s by %s: %s", method, p->who,
		    db_errmsg(d->db));
	json_decref((json_t *)(uintptr_t)a.params);
	return rc == 0;
}

struct au_list {
	json_t *records;
	int64_t last;
};

static int
au_list_one(void *arg, const struct db_audit *a)
{
	struct au_list *l = arg;
	json_t *r, *params = NULL;

	l->last = a->seq;
	if (a->params_text != NULL)
		params = json_loads(a->params_text, 0, NULL);
	r = json_pack("{s:I,s:I,s:s,s:o,s:s?,s:s?,s:s,s:s,s:o,s:i,s:s}",
	    "seq", (json_int_t)a->seq, "time", (json_int_t)a->time, "who",
	    a->who, "uid", a->uid < 0 ? json_null() : json_integer(a->uid),
	    "fingerprint", a->fingerprint, "subject", a->subject, "role",
	    a->role, "method", a->method, "params", params != NULL ? params :
	    json_null(), "code", a->code, "result", a->result);
	return json_array_append_new(l->records, r) != 0 ? -ENOMEM : 0;
}

int
audit_list(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	json_int_t after, limit;
	struct au_list l;
	int rc;

	after = json_integer_value(json_object_get(params, "after"));
	limit = json_integer_value(json_object_get(params, "limit"));
	if ((l.records = json_array()) == NULL)
		return methods_db_error(call->d, -ENOMEM, err);
	l.last = after;
	if ((rc = db_audit_since(call->d->db, after, limit > 0 ?
	    (unsigned int)limit : EV_LIST_LIMIT, au_list_one, &l)) != 0) {
		json_decref(l.records);
		return methods_db_error(call->d, rc, err);
	}
	*result = json_pack("{s:o,s:I}", "records", l.records, "last",
	    (json_int_t)l.last);
	return *result == NULL ? methods_db_error(call->d, -ENOMEM, err) : 0;
}
