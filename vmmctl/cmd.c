/*
 * cmd.c: vmmctl's commands: the table, the connection (with the fall-back
 * to the read-only socket), the generic request-and-print handler and the
 * few commands that need more (create/define, stop, version).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "rpc.h"
#include "vmmctl.h"

static ctl_run_fn cmd_generic, cmd_define, cmd_list, cmd_stop, cmd_version;

#define O(NAME)	CTL_O(NAME)

const struct ctl_cmd ctl_cmds[] = {
	{ "create", NULL, "FILE", O(START) | O(JSON), "vm.define", 0, NULL,
	    cmd_define, print_define,
	    "define a new VM from FILE (\"-\": standard input)" },
	{ "define", NULL, "FILE", O(REPLACE) | O(JSON), "vm.define", 0, NULL,
	    cmd_define, print_define,
	    "define a VM from FILE, or replace its definition" },
	{ "undefine", "delete", "NAME", 0, "vm.undefine", 0, NULL,
	    cmd_generic, NULL, "remove the definition of a VM not running" },
	{ "list", NULL, NULL, O(STATE) | O(PREFIX) | O(AUTOSTART) | O(JSON),
	    "vm.list", 0, NULL, cmd_list, print_list,
	    "list the VMs with their state and UUID" },
	{ "info", NULL, "NAME", O(JSON), "vm.info", 0, NULL, cmd_generic,
	    print_info, "show a VM's state, process, uptime and last exit" },
	{ "get", NULL, "NAME", O(JSON), "vm.get", 0, NULL, cmd_generic,
	    print_json, "print a VM's definition (JSON, every default filled)" },
	{ "start", NULL, "NAME", 0, "vm.start", 0, NULL, cmd_generic, NULL,
	    "start a VM; returns once the guest runs" },
	{ "stop", NULL, "NAME", O(FORCE) | O(TIMEOUT) | O(WAIT), "vm.stop",
	    O(ALL), "host.stop_all", cmd_stop, NULL,
	    "ask a VM's guest to shut down, forced after a timeout" },
	{ "restart", NULL, "NAME", O(FORCE) | O(TIMEOUT), "vm.restart", 0,
	    NULL, cmd_generic, NULL,
	    "stop a VM and start it again; returns once it runs" },
	{ "reset", NULL, "NAME", 0, "vm.reset", 0, NULL, cmd_generic, NULL,
	    "reset a VM's hardware, like its reset button" },
	{ "pause", NULL, "NAME", 0, "vm.pause", 0, NULL, cmd_generic, NULL,
	    "stop running a VM's vcpus" },
	{ "resume", NULL, "NAME", 0, "vm.resume", 0, NULL, cmd_generic, NULL,
	    "run a paused VM's vcpus again" },
	{ "console", NULL, "NAME", O(WATCH), "vm.console", O(WATCH),
	    "vm.console_log", console_run, NULL,
	    "attach to a VM's serial console (\"~.\" disconnects)" },
	{ "logs", NULL, "NAME", O(BYTES) | O(FOLLOW) | O(JSON),
	    "vm.console_log", 0, NULL, console_logs, NULL,
	    "print a VM's console scrollback" },
	{ "stats", NULL, "NAME", O(JSON), "vm.stats", 0, NULL, cmd_generic,
	    print_stats, "show a running VM's vcpu, memory, console counters" },
	{ "host", NULL, NULL, O(JSON), "host.info", 0, NULL, cmd_generic,
	    print_host, "show the host's hypervisor, limits and VM counts" },
	{ "events", NULL, NULL, O(FOLLOW) | O(AFTER) | O(KIND) | O(JSON),
	    "events.list", O(FOLLOW), "events.subscribe", logs_events, NULL,
	    "print the event log; with --follow, new events as they come" },
	{ "audit", NULL, NULL, O(AFTER) | O(JSON), "audit.list", 0, NULL,
	    logs_audit, NULL, "print who changed what, and the refused calls" },
	{ "metrics", NULL, NULL, 0, "host.metrics", 0, NULL, logs_metrics,
	    NULL, "print vmmd's metrics (Prometheus text format)" },
	{ "version", NULL, NULL, O(JSON), "daemon.version", 0, NULL,
	    cmd_version, print_version, "show the versions of vmmctl and vmmd" },
	{ NULL, NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL }
};

/* Options that become a true boolean param of the same meaning. */
static const struct {
	unsigned int opt;
	const char *param;
} cmd_flag_params[] = {
	{ O(REPLACE), "replace" },
	{ O(AUTOSTART), "autostart" },
	{ O(FORCE), "force" },
	{ O(WAIT), "wait" },
	{ O(FOLLOW), "follow" },
};

#undef O

/*
 * Connecting.
 */

/* What to suggest after a failed connect, by errno. */
static const struct {
	int err;
	const char *hint;
} cmd_conn_hints[] = {
	{ ENOENT, " (is vmmd running?)" },
	{ ECONNREFUSED, " (is vmmd running?)" },
	{ EACCES, " (root and the socket's group may use it)" },
};

static const char *
cmd_conn_hint(int err)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_conn_hints) / sizeof(*cmd_conn_hints); i++)
		if (cmd_conn_hints[i].err == -err)
			return cmd_conn_hints[i].hint;
	return "";
}

/* The default socket, or the read-only one when only it may be used. */
static int
cmd_connect_default(struct ctl *ctl)
{
	int rc, ro;

	if ((rc = client_connect(&ctl->cl, VMMCTL_SOCKET)) == 0)
		return CTL_EXIT_OK;
	if (rc != -EACCES || !args_readonly(&ctl->args)) {
		fprintf(stderr, "vmmctl: cannot connect to %s: %s%s\n",
		    VMMCTL_SOCKET, strerror(-rc), cmd_conn_hint(rc));
		return CTL_EXIT_CONN;
	}
	if ((ro = client_connect(&ctl->cl, VMMCTL_RO_SOCKET)) == 0)
		return CTL_EXIT_OK;
	fprintf(stderr, "vmmctl: cannot connect to %s: %s, nor to %s: %s%s\n",
	    VMMCTL_SOCKET, strerror(-rc), VMMCTL_RO_SOCKET, strerror(-ro),
	    cmd_conn_hint(ro));
	return CTL_EXIT_CONN;
}

/*
 * Connect to --connect, $VMM_CONNECT, the config file's or the default
 * (conf.c); an exit status.
 */
static int
cmd_connect(struct ctl *ctl)
{
	struct client_uri u;
	struct conf cf;
	char err[PATH_MAX + 256];
	int rc;

	if (conf_resolve(&ctl->args, &cf, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmmctl: %s\n", err);
		return CTL_EXIT_USAGE;
	}
	if (cf.connect == NULL)
		return cmd_connect_default(ctl);
	if (client_uri_parse(cf.connect, &u, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmmctl: %s\n", err);
		return CTL_EXIT_USAGE;
	}
	if (u.transport == CLIENT_TLS)
		return conf_connect_tls(ctl, &u, &cf);
	if ((rc = client_connect(&ctl->cl, u.path)) != 0) {
		fprintf(stderr, "vmmctl: cannot connect to %s: %s%s\n", u.path,
		    strerror(-rc), cmd_conn_hint(rc));
		return CTL_EXIT_CONN;
	}
	return CTL_EXIT_OK;
}

/*
 * Calls and errors.
 */

int
cmd_conn_lost(struct ctl *ctl, int err)
{
	/* What TLS knows better; a certificate without a role is refused. */
	if (ctl->cl.failure[0] != '\0') {
		fprintf(stderr, "vmmctl: %s\n", ctl->cl.failure);
		return err == -EACCES ? CTL_EXIT_ERROR : CTL_EXIT_CONN;
	}
	if (err == -EPROTO)
		fprintf(stderr, "vmmctl: %s: vmmd at %s sent a message that is "
		    "not JSON-RPC\n", ctl->label, ctl->cl.path);
	else
		fprintf(stderr, "vmmctl: %s: lost the connection to %s: %s\n",
		    ctl->label, ctl->cl.path, strerror(-err));
	return CTL_EXIT_CONN;
}

/* The lines of text, each indented, control characters escaped. */
static void
cmd_print_lines(FILE *out, const char *text)
{
	const char *nl;

	while (*text != '\0') {
		nl = strchr(text, '\n');
		fputs("  ", out);
		print_escaped(out, text, nl != NULL ? (size_t)(nl - text) :
		    strlen(text));
		fputc('\n', out);
		if (nl == NULL)
			break;
		text = nl + 1;
	}
}

void
cmd_print_error(FILE *out, const char *label, const json_t *error)
{
	const json_t *data = json_object_get(error, "data");
	const json_t *p, *log;
	const char *msg;
	size_t i;

	msg = json_string_value(json_object_get(error, "message"));
	fprintf(out, "vmmctl: %s: ", label);
	print_escaped(out, msg, strlen(msg));
	fputc('\n', out);
	json_array_foreach(json_object_get(data, "problems"), i, p) {
		fprintf(out, "  %s: %s\n",
		    json_string_value(json_object_get(p, "path")) ?: "?",
		    json_string_value(json_object_get(p, "message")) ?: "?");
	}
	/* A worker that could not start its VM: what it logged. */
	if (json_is_string(log = json_object_get(data, "log")))
		cmd_print_lines(out, json_string_value(log));
}

int
cmd_call(struct ctl *ctl, const char *method, json_t *params,
    json_t **result)
{
	json_t *res, *err;
	int rc;

	if (ctl->cl.fd == -1 && (rc = cmd_connect(ctl)) != CTL_EXIT_OK) {
		json_decref(params);
		return rc;
	}
	if ((rc = client_call(&ctl->cl, method, params, &res, &err)) != 0)
		return cmd_conn_lost(ctl, rc);
	if (err != NULL) {
		cmd_print_error(stderr, ctl->label, err);
		json_decref(err);
		return CTL_EXIT_ERROR;
	}
	if (result != NULL)
		*result = res;
	else
		json_decref(res);
	return CTL_EXIT_OK;
}

/*
 * The commands.
 */

/* The params the command line gives: name, then its options'. */
static json_t *
cmd_params(const struct ctl_args *a)
{
	json_t *p;
	size_t i;
	int rc = 0;

	if ((p = json_object()) == NULL)
		return NULL;
	if (a->arg != NULL && strcmp(a->cmd->arg, "NAME") == 0)
		rc |= json_object_set_new(p, "name", json_string(a->arg));
	for (i = 0; i < sizeof(cmd_flag_params) / sizeof(*cmd_flag_params);
	    i++)
		if ((a->opts & cmd_flag_params[i].opt) != 0)
			rc |= json_object_set_new(p, cmd_flag_params[i].param,
			    json_true());
	if (a->state != NULL)
		rc |= json_object_set_new(p, "state", json_string(a->state));
	if (a->prefix != NULL)
		rc |= json_object_set_new(p, "prefix", json_string(a->prefix));
	if ((a->opts & CTL_O(TIMEOUT)) != 0)
		rc |= json_object_set_new(p, "timeout",
		    json_integer(a->timeout));
	if ((a->opts & CTL_O(BYTES)) != 0)
		rc |= json_object_set_new(p, "bytes", json_integer(a->bytes));
	if (rc != 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}

static int
cmd_nomem(void)
{
	fprintf(stderr, "vmmctl: %s\n", strerror(ENOMEM));
	return CTL_EXIT_ERROR;
}

/* A result: nothing for null, JSON with --json, else the printer. */
static void
cmd_print_result(struct ctl *ctl, const json_t *result)
{
	if (json_is_null(result))
		return;
	if ((ctl->args.opts & CTL_O(JSON)) != 0)
		print_json(stdout, result);
	else if (ctl->args.cmd->print != NULL)
		ctl->args.cmd->print(stdout, result);
}

/* Call the command's method with params (stolen) and print the result. */
static int
cmd_run_params(struct ctl *ctl, json_t *params)
{
	json_t *result;
	int rc;

	if (params == NULL)
		return cmd_nomem();
	rc = cmd_call(ctl, args_method(&ctl->args), params, &result);
	if (rc != CTL_EXIT_OK)
		return rc;
	cmd_print_result(ctl, result);
	json_decref(result);
	return CTL_EXIT_OK;
}

static int
cmd_generic(struct ctl *ctl)
{
	return cmd_run_params(ctl, cmd_params(&ctl->args));
}

/* With -q (and no --json), the names only, one per line, for scripts. */
static int
cmd_list(struct ctl *ctl)
{
	json_t *result, *vm;
	size_t i;
	int rc;

	if (!ctl->args.quiet || (ctl->args.opts & CTL_O(JSON)) != 0)
		return cmd_generic(ctl);
	if ((rc = cmd_call(ctl, "vm.list", cmd_params(&ctl->args),
	    &result)) != CTL_EXIT_OK)
		return rc;
	json_array_foreach(result, i, vm)
		printf("%s\n", json_string_value(json_object_get(vm, "name")));
	json_decref(result);
	return CTL_EXIT_OK;
}

/* "stopped: a b" and "forced: c": the VMs of host.stop_all, "-": none. */
static void
cmd_print_names(const char *label, const json_t *names)
{
	const json_t *v;
	size_t i;

	printf("%s:", label);
	json_array_foreach(names, i, v)
		printf(" %s", json_string_value(v));
	printf("%s\n", json_array_size(names) == 0 ? " -" : "");
}

/* stop --all [--timeout S]: host.stop_all, answered once all are down. */
static int
cmd_stop_all(struct ctl *ctl)
{
	json_t *result;
	int rc;

	snprintf(ctl->label, sizeof(ctl->label), "stop --all");
	if ((rc = cmd_call(ctl, "host.stop_all", cmd_params(&ctl->args),
	    &result)) != CTL_EXIT_OK)
		return rc;
	if ((ctl->args.opts & CTL_O(JSON)) != 0)
		print_json(stdout, result);
	else {
		cmd_print_names("stopped", json_object_get(result, "stopped"));
		cmd_print_names("forced", json_object_get(result, "forced"));
	}
	json_decref(result);
	return CTL_EXIT_OK;
}

/* Without --wait, vm.stop answers at once instead of at the exit. */
static int
cmd_stop(struct ctl *ctl)
{
	json_t *p;

	if ((ctl->args.opts & CTL_O(ALL)) != 0)
		return cmd_stop_all(ctl);
	p = cmd_params(&ctl->args);
	if (p != NULL && (ctl->args.opts & CTL_O(WAIT)) == 0 &&
	    json_object_set_new(p, "wait", json_false()) != 0) {
		json_decref(p);
		p = NULL;
	}
	return cmd_run_params(ctl, p);
}

/* Our version first: it is known even when vmmd is not. */
static int
cmd_version(struct ctl *ctl)
{
	json_t *result;
	int rc;

	if ((ctl->args.opts & CTL_O(JSON)) == 0) {
		printf("vmmctl %s (api %d)\n", VMMCTL_VERSION, RPC_API_VERSION);
		fflush(stdout);
	}
	rc = cmd_call(ctl, "daemon.version", json_object(), &result);
	if (rc != CTL_EXIT_OK)
		return rc;
	cmd_print_result(ctl, result);
	if (json_integer_value(json_object_get(result, "api")) !=
	    RPC_API_VERSION)
		fprintf(stderr, "vmmctl: warning: vmmd speaks API version "
		    "%" JSON_INTEGER_FORMAT ", vmmctl %d\n",
		    json_integer_value(json_object_get(result, "api")),
		    RPC_API_VERSION);
	json_decref(result);
	return CTL_EXIT_OK;
}

/*
 * Read the definition in FILE ("-": standard input) as JSON; a syntax
 * error is reported here, with its line and column, like vmmd would.
 */
static int
cmd_read_definition(struct ctl *ctl, json_t **def)
{
	const char *file = ctl->args.arg;
	json_error_t jerr;
	FILE *f;

	f = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
	if (f == NULL) {
		fprintf(stderr, "vmmctl: %s: %s\n", ctl->label,
		    strerror(errno));
		return CTL_EXIT_ERROR;
	}
	*def = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (f != stdin)
		fclose(f);
	if (*def == NULL) {
		fprintf(stderr, "vmmctl: %s: invalid JSON at line %d column "
		    "%d: %s\n", ctl->label, jerr.line, jerr.column, jerr.text);
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

/* create FILE [--start], define FILE [--replace] */
static int
cmd_define(struct ctl *ctl)
{
	json_t *def = NULL, *params, *result = NULL;
	const char *name;
	int rc;

	if ((rc = cmd_read_definition(ctl, &def)) != CTL_EXIT_OK)
		return rc;
	/* Errors name the VM when the definition does. */
	if ((name = json_string_value(json_object_get(def, "name"))) != NULL)
		snprintf(ctl->label, sizeof(ctl->label), "%s %s",
		    ctl->args.cmd->name, name);
	if ((params = cmd_params(&ctl->args)) == NULL ||
	    json_object_set_new(params, "definition", def) != 0) {
		json_decref(params);
		return cmd_nomem();
	}
	if ((rc = cmd_call(ctl, "vm.define", params, &result)) != CTL_EXIT_OK)
		return rc;
	if (!ctl->args.quiet || (ctl->args.opts & CTL_O(JSON)) != 0)
		cmd_print_result(ctl, result);
	name = json_string_value(json_object_get(result, "name"));
	if ((ctl->args.opts & CTL_O(START)) != 0 && name != NULL) {
		snprintf(ctl->label, sizeof(ctl->label), "start %s", name);
		if ((params = json_pack("{s:s}", "name", name)) == NULL)
			rc = cmd_nomem();
		else
			rc = cmd_call(ctl, "vm.start", params, NULL);
	}
	json_decref(result);
	return rc;
}

int
cmd_main(const struct ctl_args *a)
{
	struct ctl ctl;
	int rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.args = *a;
	client_init(&ctl.cl);
	snprintf(ctl.label, sizeof(ctl.label), "%s%s%s", a->cmd->name,
	    a->arg != NULL ? " " : "", a->arg != NULL ? a->arg : "");
	rc = a->cmd->run(&ctl);
	client_close(&ctl.cl);
	return rc;
}
