/*
 * vmmctl.h: what the parts of vmmctl share: the options, the command
 * table, the parsed command line, and the entry points of args.c (parsing
 * and help), cmd.c (the commands), print.c (human-readable output) and
 * console.c (the console and followed logs).  The connection itself is in
 * client.h.
 */

#ifndef VMMCTL_VMMCTL_H
#define VMMCTL_VMMCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "client.h"

#define VMMCTL_VERSION		"0.1.0"

/* Where vmmd listens by default (vmmd.conf(5)). */
#define VMMCTL_SOCKET		"/run/vmm/vmmd.sock"
#define VMMCTL_RO_SOCKET	"/run/vmm/vmmd.ro.sock"
#define VMMCTL_ENV_CONNECT	"VMM_CONNECT"
#define VMMCTL_ENV_CONFIG	"VMMCTL_CONFIG"
/* The client config file, under $XDG_CONFIG_HOME or ~/.config. */
#define VMMCTL_CONF_NAME	"vmm/vmmctl.conf"

/* The exit statuses, documented in vmmctl.8 (EXIT STATUS). */
enum ctl_exit {
	CTL_EXIT_OK = 0,	/* done */
	CTL_EXIT_ERROR = 1,	/* the daemon refused, or a bad input file */
	CTL_EXIT_USAGE = 2,	/* bad command line */
	CTL_EXIT_CONN = 3,	/* cannot connect, or the connection broke */
};

/*
 * The options a command may take, X(NAME, "long name", "ARG" or NULL,
 * "help").  Each is CTL_O_NAME, a bit in struct ctl_cmd's opts and in
 * struct ctl_args's opts; the order is the order in usage lines.
 */
#define CTL_OPT_MAP(X)							\
	X(START, "start", NULL, "start the VM once it is defined")	\
	X(REPLACE, "replace", NULL,					\
	    "replace the definition of a VM of that name")		\
	X(STATE, "state", "S", "only VMs in state S")			\
	X(PREFIX, "prefix", "P", "only VMs whose name starts with P")	\
	X(AUTOSTART, "autostart", NULL,					\
	    "only VMs started when vmmd starts")			\
	X(FORCE, "force", NULL,						\
	    "kill the VM at once instead of asking the guest to shut down") \
	X(TIMEOUT, "timeout", "S",					\
	    "seconds (1 to 3600) to wait for the guest before forcing")	\
	X(WAIT, "wait", NULL, "return only once the VM has stopped")	\
	X(ALL, "all", NULL,						\
	    "every VM, in reverse autostart order, within --timeout (60)") \
	X(WATCH, "watch", NULL,						\
	    "read only: the scrollback, then live output; no input")	\
	X(BYTES, "bytes", "N", "only the last N bytes of the scrollback") \
	X(FOLLOW, "follow", NULL,					\
	    "keep printing output as the guest writes it")		\
	X(AFTER, "after", "SEQ",					\
	    "only what follows sequence number SEQ")			\
	X(KIND, "kind", "K",						\
	    "only events of kind K, or of a prefix such as \"vm.\"")	\
	X(JSON, "json", NULL, "print the daemon's answer as JSON")

enum ctl_opt_index {
#define CTL_X(NAME, name, arg, help)	CTL_OI_##NAME,
	CTL_OPT_MAP(CTL_X)
#undef CTL_X
	CTL_OI_COUNT
};

#define CTL_O(NAME)	(1u << CTL_OI_##NAME)

/* The parsed command line; strings point into argv. */
struct ctl_args {
	const struct ctl_cmd *cmd;	/* NULL with help: every command */
	const char *connect;		/* --connect URI, or NULL */
	const char *cert, *key, *ca;	/* --cert, --key, --ca, or NULL */
	const char *config;		/* --config FILE, or NULL */
	const char *arg;		/* the command's NAME or FILE */
	unsigned int opts;		/* CTL_O() of each given */
	const char *state, *prefix;	/* --state, --prefix */
	int timeout;			/* --timeout, seconds */
	long bytes;			/* --bytes */
	long long after;		/* --after */
	const char *kind;		/* --kind */
	bool help;			/* -h, --help or "help": print it */
	bool commands;			/* "help --commands": the table */
	bool quiet;			/* -q */
};

struct ctl;

/* A command's handler: returns the exit status (enum ctl_exit). */
typedef int ctl_run_fn(struct ctl *ctl);

/* A printer of a result for people (print.c). */
typedef void ctl_print_fn(FILE *out, const json_t *result);

/*
 * One command.  The least role is the one rpc_methods gives its method
 * (with alt_opt given: alt_method), and a command whose method needs only
 * the readonly role may fall back to the read-only socket.
 */
struct ctl_cmd {
	const char *name;
	const char *alias;		/* another name, or NULL */
	const char *arg;		/* "NAME", "FILE", or NULL: none */
	unsigned int opts;		/* CTL_O() of each it takes */
	const char *method;		/* the RPC method it calls */
	unsigned int alt_opt;		/* with this option... */
	const char *alt_method;		/* ...it calls this one instead */
	ctl_run_fn *run;
	ctl_print_fn *print;		/* the result for people, or NULL */
	const char *help;		/* one line */
};

/* The command table, ended by a NULL name (cmd.c). */
extern const struct ctl_cmd ctl_cmds[];

/* A running command: its arguments and its connection. */
struct ctl {
	struct ctl_args args;
	struct client cl;
	char label[160];	/* "start web1": the prefix of its errors */
};

/* args.c */

/*
 * Parse argv into *a (zeroed first), resetting getopt_long's state; argv
 * is left in its order.  Returns 0, or -EINVAL with a one-line reason in
 * err (a->cmd is then the command, when one was recognized, so that its
 * usage can be shown).
 */
int	args_parse(int argc, char **argv, struct ctl_args *a, char *err,
	    size_t errlen);

const struct ctl_cmd *args_lookup(const char *name);

/* The method cmd calls with the options in a, and its least role. */
const char *args_method(const struct ctl_args *a);
bool	args_readonly(const struct ctl_args *a);

/*
 * "vmmctl stop NAME [--force] ..." (no newline) into buf: the command's
 * main form.  A command may have a second form, selected by an option
 * (stop --all), with no argument and options of its own (args.c,
 * args_forms): args_form_synopsis writes its synopsis, or "" for none.
 */
void	args_synopsis(const struct ctl_cmd *cmd, char *buf, size_t len);
void	args_form_synopsis(const struct ctl_cmd *cmd, char *buf, size_t len);

/* Help: cmd's, or every command's when cmd is NULL. */
void	args_help(FILE *out, const struct ctl_cmd *cmd);
/*
 * "help --commands", for shell completion (vmmctl.bash): the global
 * options, then one line per command name (aliases too): "NAME ARG
 * OPTION...", ARG "NAME", "FILE" or "-", an option with a value as
 * --name=VALUE.  The first line is "vmmctl -" and the global options.
 */
void	args_commands(FILE *out);
/* After a usage error: the usage lines to stderr. */
void	args_usage(FILE *out, const struct ctl_cmd *cmd);

/* cmd.c */

/* Connect, run a->cmd and return the exit status; a is copied. */
int	cmd_main(const struct ctl_args *a);

/*
 * Call method (params stolen, NULL: none) for the command ctl runs.
 * Returns CTL_EXIT_OK with *result a new reference (null for a null
 * result; result may be NULL to drop it), or prints the daemon's error
 * (CTL_EXIT_ERROR) or the broken connection (CTL_EXIT_CONN) and returns
 * that status.
 */
int	cmd_call(struct ctl *ctl, const char *method, json_t *params,
	    json_t **result);

/* Print an error answer for ctl's label: message, then each problem. */
void	cmd_print_error(FILE *out, const char *label, const json_t *error);

/*
 * Report a broken connection on stderr (c->failure when set); returns
 * CTL_EXIT_CONN, or CTL_EXIT_ERROR for -EACCES: a TLS server that gives
 * our certificate no role.
 */
int	cmd_conn_lost(struct ctl *ctl, int err);

/* logs.c: events [--follow], audit, metrics. */
ctl_run_fn	logs_events, logs_audit, logs_metrics;

/* conf.c */

#define CONF_LINE_MAX	1024		/* bytes in a line, without '\n' */
#define CONF_FILE_MAX	65536		/* bytes in the file */

/*
 * Where to connect and with which TLS files, each from the command line,
 * else the environment (the URI only), else the config file.  The
 * pointers point into argv, the environment or the f_ buffers.
 */
struct conf {
	char file[PATH_MAX];		/* the config file, or "": none */
	const char *connect;		/* NULL: the default socket */
	const char *cert, *key, *ca;	/* NULL: not given */
	/* The file's values ("": not set), paths relative to its directory. */
	char f_connect[CONF_LINE_MAX + 1];
	char f_cert[PATH_MAX], f_key[PATH_MAX], f_ca[PATH_MAX];
};

/*
 * Read the config file (--config, $VMMCTL_CONFIG, or the default one
 * when it exists) and resolve every setting into *cf.  Returns 0, or a
 * negative errno with one line ("FILE:LINE: reason" for the file's
 * mistakes) in err: a usage error.
 */
int	conf_resolve(const struct ctl_args *a, struct conf *cf, char *err,
	    size_t errlen);

/*
 * Parse text, the config file name, into cf's f_ members.  Returns 0, or
 * -EINVAL with the first mistake in err.  For conf_resolve and the tests.
 */
int	conf_parse(const char *name, const char *text, size_t len,
	    struct conf *cf, char *err, size_t errlen);

/*
 * Connect ctl->cl to u (a tls:// URI) with cf's files; a failure is
 * printed.  Returns the exit status: CTL_EXIT_USAGE without a CA,
 * CTL_EXIT_CONN when the connection fails.
 */
int	conf_connect_tls(struct ctl *ctl, const struct client_uri *u,
	    const struct conf *cf);

/* console.c */

int	console_run(struct ctl *ctl);	/* console NAME [--watch] */
int	console_logs(struct ctl *ctl);	/* logs NAME [--bytes N] [--follow] */

/*
 * The "~." escape: ~ at the start of a line (the first byte, or after CR
 * or LF) is held; a following "." disconnects, "~" sends one "~", and
 * anything else sends both.  A zeroed struct is at the start of a line.
 */
enum console_esc_state {
	CONSOLE_ESC_BOL,	/* at the start of a line */
	CONSOLE_ESC_MID,	/* inside a line */
	CONSOLE_ESC_TILDE,	/* a "~" at the start of a line is held */
};

struct console_esc {
	enum console_esc_state state;
};

/*
 * Filter n typed bytes into out, which has room for n + 1 bytes (a held
 * "~" comes out with the byte after it).  Returns how many bytes of out
 * go to the guest; *quit turns true at "~.", and the bytes after it are
 * ignored.
 */
size_t	console_esc_feed(struct console_esc *e, const uint8_t *in, size_t n,
	    uint8_t *out, bool *quit);

/* print.c */

/* Pretty JSON (2-space indent) and a newline. */
void	print_json(FILE *out, const json_t *v);

/* The printers of ctl_cmd.print. */
void	print_define(FILE *out, const json_t *result);
void	print_list(FILE *out, const json_t *result);
void	print_info(FILE *out, const json_t *result);
void	print_stats(FILE *out, const json_t *result);
void	print_host(FILE *out, const json_t *result);
void	print_version(FILE *out, const json_t *result);

/* Formats, for the printers and the tests; each writes a NUL. */
void	print_duration(char *buf, size_t len, int64_t ms);  /* "1h 2m 3s" */
void	print_time(char *buf, size_t len, int64_t ms);	/* local time */
void	print_bytes(char *buf, size_t len, uint64_t n);	/* "16 MiB" */
/*
 * A JSON value for people: strings with control characters as \xHH, null
 * (or NULL) "-", booleans "yes" and "no", objects "key value, ...".
 */
void	print_value(char *buf, size_t len, const json_t *v);

/* n bytes of s, control characters as \xHH. */
void	print_escaped(FILE *out, const char *s, size_t n);

/* A column of print_table: its header and the member it shows. */
struct print_col {
	const char *header;
	const char *key;
};

/* An array of objects as a table, one row each, columns aligned. */
void	print_table(FILE *out, const json_t *rows,
	    const struct print_col *cols, size_t ncols);

#endif /* VMMCTL_VMMCTL_H */
