/*
 * logs.c: vmmctl's commands over vmmd's logs: events (the event log,
 * paged, or followed live with events.subscribe), audit (who changed
 * what, and the refused calls) and metrics (the Prometheus text).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "rpc.h"
#include "vmmctl.h"

#define LOGS_PAGE	1000	/* events.list / audit.list page */

/* events.list / events.subscribe params from --after and --kind. */
static json_t *
logs_params(const struct ctl_args *a, bool page)
{
	json_t *p = json_object();

	if (p == NULL)
		return NULL;
	if (((a->opts & CTL_O(AFTER)) != 0 && json_object_set_new(p, "after",
	    json_integer(a->after)) != 0) ||
	    (a->kind != NULL && json_object_set_new(p, "kind",
	    json_string(a->kind)) != 0) ||
	    (page && json_object_set_new(p, "limit",
	    json_integer(LOGS_PAGE)) != 0)) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* One event: "SEQ TIME KIND VM RESULT WHO DETAIL", or its JSON. */
static void
logs_print_event(const struct ctl *ctl, const json_t *ev)
{
	const json_t *detail = json_object_get(ev, "detail");
	const char *vm = json_string_value(json_object_get(ev, "vm"));
	char when[64], *d = NULL;

	if ((ctl->args.opts & CTL_O(JSON)) != 0) {
		print_json(stdout, ev);
		fflush(stdout);
		return;
	}
	print_time(when, sizeof(when), json_integer_value(
	    json_object_get(ev, "time")));
	if (json_is_object(detail))
		d = json_dumps(detail, JSON_COMPACT);
	printf("%lld %s %s %s %s %s%s%s\n", (long long)json_integer_value(
	    json_object_get(ev, "seq")), when, json_string_value(
	    json_object_get(ev, "kind")), vm != NULL ? vm : "-",
	    json_string_value(json_object_get(ev, "result")),
	    json_string_value(json_object_get(ev, "who")), d != NULL ? " " : "",
	    d != NULL ? d : "");
	free(d);
	fflush(stdout);
}

static void
logs_on_event(void *arg, const char *method, const json_t *params)
{
	if (strcmp(method, "event") == 0)
		logs_print_event(arg, params);
}

/* The gap the daemon reports: events pruned before we could see them. */
static void
logs_missed(const json_t *result)
{
	json_int_t n = json_integer_value(json_object_get(result, "missed"));

	if (n > 0)
		fprintf(stderr, "vmmctl: events: %lld event(s) after the one "
		    "asked for were pruned (event-retention)\n", (long long)n);
}

/* events --follow: subscribe, then print each event until interrupted. */
static int
logs_follow(struct ctl *ctl)
{
	json_t *result;
	int rc;

	ctl->cl.on_notify = logs_on_event;
	ctl->cl.arg = ctl;
	if ((rc = cmd_call(ctl, "events.subscribe", logs_params(&ctl->args,
	    false), &result)) != CTL_EXIT_OK)
		return rc;
	logs_missed(result);
	json_decref(result);
	for (;;)
		if ((rc = client_read(&ctl->cl)) != 0)
			return cmd_conn_lost(ctl, rc);
}

int
logs_events(struct ctl *ctl)
{
	json_t *params, *result, *ev;
	json_int_t last, latest;
	size_t i;
	int rc;

	if ((ctl->args.opts & CTL_O(FOLLOW)) != 0)
		return logs_follow(ctl);
	params = logs_params(&ctl->args, true);
	do {
		if ((rc = cmd_call(ctl, "events.list", params, &result)) !=
		    CTL_EXIT_OK)
			return rc;
		if (json_integer_value(json_object_get(result, "after")) ==
		    ctl->args.after)
			logs_missed(result);
		json_array_foreach(json_object_get(result, "events"), i, ev)
			logs_print_event(ctl, ev);
		last = json_integer_value(json_object_get(result, "last"));
		latest = json_integer_value(json_object_get(result, "latest"));
		json_decref(result);
		if ((params = logs_params(&ctl->args, true)) == NULL)
			return cmd_call(ctl, "events.list", NULL, NULL);
		json_object_set_new(params, "after", json_integer(last));
	} while (last < latest);
	json_decref(params);
	return CTL_EXIT_OK;
}

/* One audit record: "SEQ TIME METHOD CODE RESULT ROLE WHO PARAMS". */
static void
logs_print_audit(const struct ctl *ctl, const json_t *r)
{
	const json_t *params = json_object_get(r, "params");
	char when[64], *p = NULL;

	if ((ctl->args.opts & CTL_O(JSON)) != 0) {
		print_json(stdout, r);
		return;
	}
	print_time(when, sizeof(when), json_integer_value(
	    json_object_get(r, "time")));
	if (json_is_object(params) && json_object_size(params) > 0)
		p = json_dumps(params, JSON_COMPACT);
	printf("%lld %s %s %lld \"%s\" %s %s%s%s\n", (long long)
	    json_integer_value(json_object_get(r, "seq")), when,
	    json_string_value(json_object_get(r, "method")), (long long)
	    json_integer_value(json_object_get(r, "code")),
	    json_string_value(json_object_get(r, "result")),
	    json_string_value(json_object_get(r, "role")),
	    json_string_value(json_object_get(r, "who")), p != NULL ? " " : "",
	    p != NULL ? p : "");
	free(p);
}

int
logs_audit(struct ctl *ctl)
{
	json_t *result, *rec, *recs;
	json_int_t after = ctl->args.after;
	size_t i, n;
	int rc;

	do {
		if ((rc = cmd_call(ctl, "audit.list", json_pack("{s:I,s:i}",
		    "after", after, "limit", LOGS_PAGE), &result)) !=
		    CTL_EXIT_OK)
			return rc;
		recs = json_object_get(result, "records");
		n = json_array_size(recs);
		json_array_foreach(recs, i, rec)
			logs_print_audit(ctl, rec);
		after = json_integer_value(json_object_get(result, "last"));
		json_decref(result);
	} while (n == LOGS_PAGE);
	return CTL_EXIT_OK;
}

int
logs_metrics(struct ctl *ctl)
{
	json_t *result;
	int rc;

	if ((rc = cmd_call(ctl, "host.metrics", NULL, &result)) != CTL_EXIT_OK)
		return rc;
	fputs(json_string_value(json_object_get(result, "text")), stdout);
	json_decref(result);
	return CTL_EXIT_OK;
}
