/* args.c: vmmctl's command line: global options, the command, its options. */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "vmdef.h"
#include "vmmctl.h"

/* getopt_long values of the command options: ARGS_VAL + CTL_OI_*. */
#define ARGS_VAL	256
/* Global options, before the command; "+": stop at the command. */
#define ARGS_GLOBAL_SHORT	"+:hq"
/* Command options; "-": arguments come in order, as option 1. */
#define ARGS_CMD_SHORT		"-:h"

struct args_opt {
	const char *name;
	const char *arg;	/* the value's placeholder, or NULL */
	const char *help;
};

static const struct args_opt args_opts[] = {
#define CTL_X(NAME, name, arg, help)	{ name, arg, help },
	CTL_OPT_MAP(CTL_X)
#undef CTL_X
};

enum {
	ARGS_G_CONNECT = 'c',
	ARGS_G_JSON = 'j',
	ARGS_G_CERT = 'C',
	ARGS_G_KEY = 'K',
	ARGS_G_CA = 'A',
	ARGS_G_CONFIG = 'F',
};

/* The global options with a value: where it goes in struct ctl_args. */
static const struct {
	int val;
	size_t off;
} args_global_values[] = {
	{ ARGS_G_CONNECT, offsetof(struct ctl_args, connect) },
	{ ARGS_G_CERT, offsetof(struct ctl_args, cert) },
	{ ARGS_G_KEY, offsetof(struct ctl_args, key) },
	{ ARGS_G_CA, offsetof(struct ctl_args, ca) },
	{ ARGS_G_CONFIG, offsetof(struct ctl_args, config) },
};

static const struct option args_global_long[] = {
	{ "connect", required_argument, NULL, ARGS_G_CONNECT },
	{ "cert", required_argument, NULL, ARGS_G_CERT },
	{ "key", required_argument, NULL, ARGS_G_KEY },
	{ "ca", required_argument, NULL, ARGS_G_CA },
	{ "config", required_argument, NULL, ARGS_G_CONFIG },
	{ "json", no_argument, NULL, ARGS_G_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "quiet", no_argument, NULL, 'q' },
	{ NULL, 0, NULL, 0 }
};

/*
 * The second forms of commands: with opt given, the command takes no
 * argument and only opts (opt among them).  Its main form takes the
 * options of its row in ctl_cmds.
 */
static const struct args_form {
	const char *cmd;
	unsigned int opt;
	unsigned int opts;
} args_forms[] = {
	{ "stop", CTL_O(ALL), CTL_O(ALL) | CTL_O(TIMEOUT) | CTL_O(JSON) },
};

/* The command options as getopt_long wants them, built once. */
static struct option args_cmd_long[CTL_OI_COUNT + 2];

static const char *const args_global_help[][2] = {
	{ "--connect URI", "the daemon to talk to (see below)" },
	{ "--cert FILE", "our TLS certificate (PEM)" },
	{ "--key FILE", "its private key (PEM; default: in the --cert file)" },
	{ "--ca FILE", "the only CA the TLS server's certificate may be from" },
	{ "--config FILE", "the client config file (see vmmctl(8))" },
	{ "--json", "print answers as JSON (also after the command)" },
	{ "-h, --help", "this help; \"vmmctl help COMMAND\" for a command" },
	{ "-q, --quiet", "no informational messages" },
};

static void
args_cmd_long_init(void)
{
	size_t i;

	for (i = 0; i < CTL_OI_COUNT; i++) {
		args_cmd_long[i].name = args_opts[i].name;
		args_cmd_long[i].has_arg = args_opts[i].arg != NULL ?
		    required_argument : no_argument;
		args_cmd_long[i].flag = NULL;
		args_cmd_long[i].val = ARGS_VAL + (int)i;
	}
	args_cmd_long[i].name = "help";
	args_cmd_long[i].has_arg = no_argument;
	args_cmd_long[i].val = 'h';
	memset(&args_cmd_long[i + 1], 0, sizeof(args_cmd_long[i + 1]));
}

const struct ctl_cmd *
args_lookup(const char *name)
{
	const struct ctl_cmd *c;

	for (c = ctl_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0 ||
		    (c->alias != NULL && strcmp(c->alias, name) == 0))
			return c;
	return NULL;
}

static const struct args_form *
args_form(const struct ctl_cmd *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(args_forms) / sizeof(*args_forms); i++)
		if (strcmp(args_forms[i].cmd, cmd->name) == 0)
			return &args_forms[i];
	return NULL;
}

/* Every option cmd takes, in either form. */
static unsigned int
args_cmd_opts(const struct ctl_cmd *cmd)
{
	const struct args_form *f = args_form(cmd);

	return cmd->opts | (f != NULL ? f->opts : 0);
}

/* The name of the first option of opts (not 0). */
static const char *
args_opt_name(unsigned int opts)
{
	return args_opts[__builtin_ctz(opts)].name;
}

const char *
args_method(const struct ctl_args *a)
{
	if (a->cmd->alt_opt != 0 && (a->opts & a->cmd->alt_opt) != 0)
		return a->cmd->alt_method;
	return a->cmd->method;
}

/* The least role of method, or admin for a method rpc_methods lacks. */
static enum rpc_role
args_role(const char *method)
{
	const struct rpc_method *m;

	m = rpc_method_lookup(rpc_methods, method, strlen(method));
	return m != NULL ? m->least_role : RPC_ROLE_ADMIN;
}

bool
args_readonly(const struct ctl_args *a)
{
	return args_role(args_method(a)) == RPC_ROLE_READONLY;
}

static int	args_fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Write the reason of a usage error; returns -EINVAL. */
static int
args_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The reason for getopt's ':' or '?' on argv[optind - 1]. */
static int
args_getopt_fail(int ch, char **argv, char *err, size_t errlen)
{
	const char *what = argv[optind - 1];

	if (ch == ':')
		return args_fail(err, errlen, "option %s needs a value", what);
	if (strncmp(what, "--", 2) != 0)
		return args_fail(err, errlen, "unknown option -%c", optopt);
	/* glibc: optopt is 0 for an unknown long option, else its val. */
	if (optopt != 0 && strchr(what, '=') != NULL)
		return args_fail(err, errlen, "option %.*s takes no value",
		    (int)(strchr(what, '=') - what), what);
	return args_fail(err, errlen, "unknown option %s", what);
}

/* A decimal integer in min..max, all of s. */
static int
args_number(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Store the value of option idx. */
static int
args_value(struct ctl_args *a, int idx, const char *val, char *err,
    size_t errlen)
{
	long v;

	if (idx == CTL_OI_STATE)
		a->state = val;
	else if (idx == CTL_OI_PREFIX)
		a->prefix = val;
	else if (idx == CTL_OI_TIMEOUT) {
		if (args_number(val, 1, VMDEF_SHUTDOWN_MAX, &v) != 0)
			return args_fail(err, errlen, "--timeout must be an "
			    "integer from 1 to %d", VMDEF_SHUTDOWN_MAX);
		a->timeout = (int)v;
	} else if (idx == CTL_OI_BYTES) {
		if (args_number(val, 1, VMDEF_SCROLLBACK_MAX, &v) != 0)
			return args_fail(err, errlen, "--bytes must be an "
			    "integer from 1 to %d", VMDEF_SCROLLBACK_MAX);
		a->bytes = v;
	} else if (idx == CTL_OI_AFTER) {
		if (args_number(val, 0, LONG_MAX, &v) != 0)
			return args_fail(err, errlen, "--after must be an "
			    "integer of 0 or more");
		a->after = v;
	} else if (idx == CTL_OI_KIND) {
		if (strlen(val) < 1 || strlen(val) > 63)
			return args_fail(err, errlen, "--kind must have 1 to "
			    "63 characters");
		a->kind = val;
	}
	return 0;
}

/* A global option with a value: store it; false for any other. */
static bool
args_global_value(struct ctl_args *a, int ch, const char *val)
{
	size_t i;

	for (i = 0; i < sizeof(args_global_values) /
	    sizeof(*args_global_values); i++)
		if (args_global_values[i].val == ch) {
			*(const char **)(void *)((char *)a +
			    args_global_values[i].off) = val;
			return true;
		}
	return false;
}

/* The options before the command; *next is the command's index. */
static int
args_global(int argc, char **argv, struct ctl_args *a, int *next,
    char *err, size_t errlen)
{
	int ch;

	optind = 0;	/* glibc: a full reset */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ARGS_GLOBAL_SHORT,
	    args_global_long, NULL)) != -1) {
		if (args_global_value(a, ch, optarg))
			continue;
		if (ch == ARGS_G_JSON)
			a->opts |= CTL_O(JSON);
		else if (ch == 'h')
			a->help = true;
		else if (ch == 'q')
			a->quiet = true;
		else
			return args_getopt_fail(ch, argv, err, errlen);
	}
	*next = optind;
	return 0;
}

/* One argument of the command (NAME or FILE). */
static int
args_positional(struct ctl_args *a, const char *s, char *err, size_t errlen)
{
	if (a->cmd->arg == NULL || a->arg != NULL)
		return args_fail(err, errlen, "unexpected argument \"%s\"", s);
	a->arg = s;
	return 0;
}

/* argv[0] is the command, a->cmd its row; the rest its options. */
static int
args_command(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen)
{
	int ch, idx, rc;

	args_cmd_long_init();
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ARGS_CMD_SHORT, args_cmd_long,
	    NULL)) != -1) {
		if (ch == 1)
			rc = args_positional(a, optarg, err, errlen);
		else if (ch == 'h') {
			a->help = true;
			rc = 0;
		} else if (ch < ARGS_VAL)
			return args_getopt_fail(ch, argv, err, errlen);
		else if ((args_cmd_opts(a->cmd) & (1u << (idx = ch - ARGS_VAL)))
		    == 0)
			return args_fail(err, errlen, "%s does not take --%s",
			    a->cmd->name, args_opts[idx].name);
		else {
			a->opts |= 1u << idx;
			rc = args_value(a, idx, optarg, err, errlen);
		}
		if (rc != 0)
			return rc;
	}
	for (; optind < argc; optind++)		/* after "--" */
		if ((rc = args_positional(a, argv[optind], err, errlen)) != 0)
			return rc;
	return 0;
}

/* A command with a second form: the options of the form used. */
static int
args_check_form(const struct ctl_args *a, const struct args_form *f,
    char *err, size_t errlen)
{
	const char *arg = a->cmd->arg != NULL ? a->cmd->arg : "";
	unsigned int extra;

	if ((a->opts & f->opt) != 0) {
		if (a->arg != NULL)
			return args_fail(err, errlen, "%s --%s takes no %s",
			    a->cmd->name, args_opt_name(f->opt), arg);
		if ((extra = a->opts & ~f->opts) != 0)
			return args_fail(err, errlen, "%s --%s does not take "
			    "--%s", a->cmd->name, args_opt_name(f->opt),
			    args_opt_name(extra));
	} else if ((extra = a->opts & ~a->cmd->opts) != 0)
		return args_fail(err, errlen, "%s %s does not take --%s",
		    a->cmd->name, arg, args_opt_name(extra));
	return 0;
}

/* The checks once every option is known. */
static int
args_check(struct ctl_args *a, char *err, size_t errlen)
{
	const struct args_form *f = args_form(a->cmd);

	if (f != NULL) {
		if (args_check_form(a, f, err, errlen) != 0)
			return -EINVAL;
		if ((a->opts & f->opt) != 0)
			return 0;
	}
	if ((a->opts & CTL_O(JSON)) != 0 && (a->cmd->opts & CTL_O(JSON)) == 0)
		return args_fail(err, errlen, "%s does not take --json",
		    a->cmd->name);
	if (a->cmd->arg != NULL && a->arg == NULL)
		return args_fail(err, errlen, "%s needs %s", a->cmd->name,
		    a->cmd->arg);
	if ((a->opts & CTL_O(JSON)) != 0 && (a->opts & CTL_O(FOLLOW)) != 0)
		return args_fail(err, errlen, "--json cannot be used with "
		    "--follow");
	return 0;
}

/* "help [COMMAND]" */
static int
args_help_cmd(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen)
{
	a->help = true;
	if (argc > 2)
		return args_fail(err, errlen, "help takes one command");
	if (argc == 2 && strcmp(argv[1], "--commands") == 0) {
		a->commands = true;
		return 0;
	}
	if (argc == 2 && (a->cmd = args_lookup(argv[1])) == NULL)
		return args_fail(err, errlen, "unknown command \"%s\"",
		    argv[1]);
	return 0;
}

int
args_parse(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen)
{
	int i = argc, rc;

	memset(a, 0, sizeof(*a));
	if ((rc = args_global(argc, argv, a, &i, err, errlen)) != 0)
		return rc;
	if (i >= argc)
		return a->help ? 0 : args_fail(err, errlen, "no command");
	if (strcmp(argv[i], "help") == 0)
		return args_help_cmd(argc - i, argv + i, a, err, errlen);
	if ((a->cmd = args_lookup(argv[i])) == NULL)
		return args_fail(err, errlen, "unknown command \"%s\"",
		    argv[i]);
	if ((rc = args_command(argc - i, argv + i, a, err, errlen)) != 0)
		return rc;
	return a->help ? 0 : args_check(a, err, errlen);
}

/*
 * Help.
 */

static void
args_append(char *buf, size_t len, const char *s)
{
	size_t at = strlen(buf);

	if (at + 1 < len)
		snprintf(buf + at, len - at, "%s", s);
}

/* " [--name ARG]" for each option of opts. */
static void
args_append_opts(char *buf, size_t len, unsigned int opts)
{
	char opt[64];
	size_t i;

	for (i = 0; i < CTL_OI_COUNT; i++) {
		if ((opts & (1u << i)) == 0)
			continue;
		snprintf(opt, sizeof(opt), " [--%s%s%s]", args_opts[i].name,
		    args_opts[i].arg != NULL ? " " : "",
		    args_opts[i].arg != NULL ? args_opts[i].arg : "");
		args_append(buf, len, opt);
	}
}

void
args_synopsis(const struct ctl_cmd *cmd, char *buf, size_t len)
{
	snprintf(buf, len, "vmmctl %s", cmd->name);
	if (cmd->arg != NULL) {
		args_append(buf, len, " ");
		args_append(buf, len, cmd->arg);
	}
	args_append_opts(buf, len, cmd->opts);
}

void
args_form_synopsis(const struct ctl_cmd *cmd, char *buf, size_t len)
{
	const struct args_form *f = args_form(cmd);

	buf[0] = '\0';
	if (f == NULL)
		return;
	snprintf(buf, len, "vmmctl %s --%s", cmd->name,
	    args_opt_name(f->opt));
	args_append_opts(buf, len, f->opts & ~f->opt);
}

/* "usage: " and the synopsis of each form, one line each. */
static void
args_usage_lines(FILE *out, const struct ctl_cmd *cmd)
{
	char syn[512];

	args_synopsis(cmd, syn, sizeof(syn));
	fprintf(out, "usage: %s\n", syn);
	args_form_synopsis(cmd, syn, sizeof(syn));
	if (syn[0] != '\0')
		fprintf(out, "       %s\n", syn);
}

static void
args_help_all(FILE *out)
{
	const struct ctl_cmd *c;
	char name[32];
	size_t i;

	fprintf(out, "usage: vmmctl [-hq] [--connect URI] [--json] COMMAND "
	    "[ARGUMENTS]\n\nCommands:\n");
	for (c = ctl_cmds; c->name != NULL; c++) {
		snprintf(name, sizeof(name), "%s%s%s", c->name,
		    c->alias != NULL ? ", " : "",
		    c->alias != NULL ? c->alias : "");
		fprintf(out, "  %-18s%s\n", name, c->help);
	}
	fprintf(out, "  %-18s%s\n", "help [COMMAND]",
	    "this help, or a command's");
	fprintf(out, "\nOptions:\n");
	for (i = 0; i < sizeof(args_global_help) / sizeof(*args_global_help);
	    i++)
		fprintf(out, "  %-18s%s\n", args_global_help[i][0],
		    args_global_help[i][1]);
	fprintf(out, "\nURI: unix:PATH, an absolute PATH, or tls://HOST[:PORT] "
	    "(port %d by default;\nHOST a DNS name, an IPv4 address or "
	    "[IPv6]).  The default is --connect, else\n$%s, else connect "
	    "in the config file, else unix:%s;\nread-only commands fall "
	    "back to unix:%s when that one is not\npermitted.  The config "
	    "file: --config, else $%s, else\n$XDG_CONFIG_HOME/%s or "
	    "~/.config/%s.\n", CLIENT_TLS_PORT, VMMCTL_ENV_CONNECT,
	    VMMCTL_SOCKET, VMMCTL_RO_SOCKET, VMMCTL_ENV_CONFIG,
	    VMMCTL_CONF_NAME, VMMCTL_CONF_NAME);
}

static void
args_help_one(FILE *out, const struct ctl_cmd *cmd)
{
	unsigned int opts = args_cmd_opts(cmd);
	char opt[64];
	size_t i;

	args_usage_lines(out, cmd);
	/* The one-line help, as a sentence. */
	fprintf(out, "\n%c%s%s%s.\n", toupper((unsigned char)cmd->help[0]),
	    cmd->help + 1, cmd->alias != NULL ? "; also called " : "",
	    cmd->alias != NULL ? cmd->alias : "");
	if (opts != 0)
		fprintf(out, "\nOptions:\n");
	for (i = 0; i < CTL_OI_COUNT; i++) {
		if ((opts & (1u << i)) == 0)
			continue;
		snprintf(opt, sizeof(opt), "--%s%s%s", args_opts[i].name,
		    args_opts[i].arg != NULL ? " " : "",
		    args_opts[i].arg != NULL ? args_opts[i].arg : "");
		fprintf(out, "  %-14s%s\n", opt, args_opts[i].help);
	}
	fprintf(out, "\nNeeds the %s role (%s)", rpc_role_name(
	    args_role(cmd->method)), cmd->method);
	if (cmd->alt_method != NULL)
		fprintf(out, "; with --%s the %s role (%s)",
		    args_opts[__builtin_ctz(cmd->alt_opt)].name,
		    rpc_role_name(args_role(cmd->alt_method)),
		    cmd->alt_method);
	fprintf(out, ".\n");
}

void
args_help(FILE *out, const struct ctl_cmd *cmd)
{
	if (cmd == NULL)
		args_help_all(out);
	else
		args_help_one(out, cmd);
}

void
args_usage(FILE *out, const struct ctl_cmd *cmd)
{
	if (cmd == NULL) {
		fprintf(out, "usage: vmmctl [-hq] [--connect URI] [--json] "
		    "COMMAND [ARGUMENTS]\nRun \"vmmctl help\" for the "
		    "commands.\n");
		return;
	}
	args_usage_lines(out, cmd);
	fprintf(out, "Run \"vmmctl help %s\" for more.\n", cmd->name);
}

/* One line of args_commands. */
static void
args_commands_line(FILE *out, const char *name, const char *arg,
    unsigned int opts)
{
	size_t i;

	fprintf(out, "%s %s", name, arg != NULL ? arg : "-");
	for (i = 0; i < CTL_OI_COUNT; i++)
		if ((opts & (1u << i)) != 0)
			fprintf(out, " --%s%s%s", args_opts[i].name,
			    args_opts[i].arg != NULL ? "=" : "",
			    args_opts[i].arg != NULL ? args_opts[i].arg : "");
	fputc('\n', out);
}

/* The placeholder of global option name's value in the help ("URI"). */
static const char *
args_global_arg(const char *name)
{
	size_t i, len = strlen(name);
	const char *h;

	for (i = 0; i < sizeof(args_global_help) / sizeof(*args_global_help);
	    i++) {
		h = args_global_help[i][0];
		if (strncmp(h, "--", 2) == 0 &&
		    strncmp(h + 2, name, len) == 0 && h[2 + len] == ' ')
			return h + 3 + len;
	}
	return "ARG";
}

void
args_commands(FILE *out)
{
	const struct ctl_cmd *c;
	const struct option *o;
	const char *p;

	fprintf(out, "vmmctl -");
	for (o = args_global_long; o->name != NULL; o++)
		fprintf(out, " --%s%s%s", o->name, o->has_arg != no_argument ?
		    "=" : "", o->has_arg != no_argument ?
		    args_global_arg(o->name) : "");
	for (p = ARGS_GLOBAL_SHORT; *p != '\0'; p++)
		if (*p != '+' && *p != ':')
			fprintf(out, " -%c", *p);
	fputc('\n', out);
	for (c = ctl_cmds; c->name != NULL; c++) {
		args_commands_line(out, c->name, c->arg, args_cmd_opts(c));
		if (c->alias != NULL)
			args_commands_line(out, c->alias, c->arg,
			    args_cmd_opts(c));
	}
	fprintf(out, "help COMMAND\n");
}
