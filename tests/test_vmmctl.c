/*
 * test_vmmctl.c: vmmctl's own parts, without a daemon.  The command line
 * (table-driven: every command, option, value check and usage error with
 * its exact message, under POSIXLY_CORRECT too), the URI forms, the "~."
 * escape machine (exact cases, every split of each, and a randomized
 * loop against an independent model; VMMCTL_SEED replays it), the output
 * formats and printers (exact text), the error printer, the command table
 * against proto's method table, and the client's message handling over a
 * real socketpair (notifications interleaved with responses, every split
 * of the input, malformed messages).  The client config file and how each
 * setting is resolved.  TLS for real: a PKI made with the openssl command
 * (req, ca, x509) in a temporary directory, a TLS server thread here, and
 * each failure's exact message, through the client and through the
 * vmmctl binary (exit status, stderr); the console over TLS.  Integration
 * against a real vmmd is tested elsewhere.
 *
 * vmmctl's sources are compiled in here, all but main.c, so that their
 * static functions can be tested too.
 */

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../vmmctl/args.c"
#include "../vmmctl/client.c"
#include "../vmmctl/cmd.c"
#include "../vmmctl/conf.c"
#include "../vmmctl/console.c"
#include "../vmmctl/logs.c"
#include "../vmmctl/print.c"
#include "../vmmctl/tls.c"
#include "testutil.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define PROP_ITERS	5000
#define ARGV_MAX	16

/* -------------------------------------------------------------------------- */
/* Helpers. */

/* Split s at spaces into argv (strings owned by the caller's buffer). */
static int
split(const char *s, char *buf, size_t len, char **argv)
{
	int argc = 0;
	char *p;

	assert_true(strlen(s) < len);
	strcpy(buf, s);
	for (p = strtok(buf, " "); p != NULL; p = strtok(NULL, " ")) {
		assert_true(argc < ARGV_MAX - 1);
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	return argc;
}

/* What a FILE * got, through open_memstream. */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void
cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

/* Close and compare; frees. */
static void
cap_check(struct capture *c, const char *want)
{
	fclose(c->f);
	assert_string_equal(c->buf, want);
	free(c->buf);
}

static json_t *
js(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_ANY, &e);

	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", text, e.text);
	return j;
}

/* -------------------------------------------------------------------------- */
/* The command line. */

struct args_case {
	const char *argv;
	const char *err;	/* NULL: parses */
	const char *cmd;	/* the command recognized, or NULL */
	const char *arg;
	unsigned int opts;
	const char *connect;
	const char *cert, *key, *ca, *config;
	const char *state, *prefix;
	int timeout;
	long bytes;
	bool help, quiet;
};

#define O(n)	CTL_O(n)

/* A command line that parses, and one that does not (err, the command). */
#define OK(a, c, n, o)	{ .argv = (a), .cmd = (c), .arg = (n), .opts = (o) }
#define BAD(a, e, c)	{ .argv = (a), .err = (e), .cmd = (c) }
#define HELP(a, c, n)	{ .argv = (a), .cmd = (c), .arg = (n), .help = true }

static const struct args_case args_cases[] = {
	OK("vmmctl list", "list", NULL, 0),
	OK("vmmctl --json list", "list", NULL, O(JSON)),
	OK("vmmctl list --json", "list", NULL, O(JSON)),
	{ .argv = "vmmctl list --state running --prefix we --autostart",
	    .cmd = "list", .opts = O(STATE) | O(PREFIX) | O(AUTOSTART),
	    .state = "running", .prefix = "we" },
	{ .argv = "vmmctl --connect unix:/x stop web1 --force --timeout 10 "
	    "--wait", .cmd = "stop", .arg = "web1",
	    .opts = O(FORCE) | O(TIMEOUT) | O(WAIT), .connect = "unix:/x",
	    .timeout = 10 },
	{ .argv = "vmmctl --connect=/x stop --force web1", .cmd = "stop",
	    .arg = "web1", .opts = O(FORCE), .connect = "/x" },
	{ .argv = "vmmctl stop web1 --timeout=3600", .cmd = "stop",
	    .arg = "web1", .opts = O(TIMEOUT), .timeout = 3600 },
	{ .argv = "vmmctl stop web1 --timeout 1", .cmd = "stop",
	    .arg = "web1", .opts = O(TIMEOUT), .timeout = 1 },
	OK("vmmctl stop web1 --for", "stop", "web1", O(FORCE)),
	OK("vmmctl stop -- --odd", "stop", "--odd", 0),
	{ .argv = "vmmctl restart web1 --force --timeout 5", .cmd = "restart",
	    .arg = "web1", .opts = O(FORCE) | O(TIMEOUT), .timeout = 5 },
	OK("vmmctl delete web1", "undefine", "web1", 0),
	OK("vmmctl undefine web1", "undefine", "web1", 0),
	OK("vmmctl create - --start", "create", "-", O(START)),
	OK("vmmctl define vm.json --replace --json", "define", "vm.json",
	    O(REPLACE) | O(JSON)),
	{ .argv = "vmmctl logs web1 --bytes 100 --follow", .cmd = "logs",
	    .arg = "web1", .opts = O(BYTES) | O(FOLLOW), .bytes = 100 },
	{ .argv = "vmmctl logs web1 --bytes 16777216 --json", .cmd = "logs",
	    .arg = "web1", .opts = O(BYTES) | O(JSON), .bytes = 16777216 },
	{ .argv = "vmmctl -q console web1 --watch", .cmd = "console",
	    .arg = "web1", .opts = O(WATCH), .quiet = true },
	{ .argv = "vmmctl --quiet console web1", .cmd = "console",
	    .arg = "web1", .quiet = true },
	OK("vmmctl info web1 --json", "info", "web1", O(JSON)),
	OK("vmmctl get web1", "get", "web1", 0),
	OK("vmmctl stats web1", "stats", "web1", 0),
	OK("vmmctl host --json", "host", NULL, O(JSON)),
	OK("vmmctl version", "version", NULL, 0),
	OK("vmmctl start web1", "start", "web1", 0),
	OK("vmmctl reset web1", "reset", "web1", 0),
	OK("vmmctl pause web1", "pause", "web1", 0),
	OK("vmmctl resume web1", "resume", "web1", 0),
	/* Help. */
	HELP("vmmctl -h", NULL, NULL),
	HELP("vmmctl --help", NULL, NULL),
	HELP("vmmctl help", NULL, NULL),
	HELP("vmmctl help stop", "stop", NULL),
	HELP("vmmctl help delete", "undefine", NULL),
	HELP("vmmctl stop --help", "stop", NULL),
	HELP("vmmctl -h logs", "logs", NULL),
	HELP("vmmctl stop web1 -h", "stop", "web1"),
	/* Usage errors. */
	BAD("vmmctl", "no command", NULL),
	BAD("vmmctl --json", "no command", NULL),
	BAD("vmmctl frob", "unknown command \"frob\"", NULL),
	BAD("vmmctl help frob", "unknown command \"frob\"", NULL),
	BAD("vmmctl help stop start", "help takes one command", NULL),
	BAD("vmmctl start", "start needs NAME", "start"),
	BAD("vmmctl create", "create needs FILE", "create"),
	BAD("vmmctl start a b", "unexpected argument \"b\"", "start"),
	BAD("vmmctl list extra", "unexpected argument \"extra\"", "list"),
	BAD("vmmctl host -- x", "unexpected argument \"x\"", "host"),
	BAD("vmmctl start web1 --json", "start does not take --json", "start"),
	BAD("vmmctl --json start web1", "start does not take --json", "start"),
	BAD("vmmctl --json console web1", "console does not take --json",
	    "console"),
	BAD("vmmctl start web1 --force", "start does not take --force",
	    "start"),
	BAD("vmmctl restart web1 --wait", "restart does not take --wait",
	    "restart"),
	BAD("vmmctl logs web1 --json --follow",
	    "--json cannot be used with --follow", "logs"),
	BAD("vmmctl logs web1 --bytes 0",
	    "--bytes must be an integer from 1 to 16777216", "logs"),
	BAD("vmmctl logs web1 --bytes 16777217",
	    "--bytes must be an integer from 1 to 16777216", "logs"),
	BAD("vmmctl logs web1 --bytes 1k",
	    "--bytes must be an integer from 1 to 16777216", "logs"),
	BAD("vmmctl stop web1 --timeout 0",
	    "--timeout must be an integer from 1 to 3600", "stop"),
	BAD("vmmctl stop web1 --timeout 3601",
	    "--timeout must be an integer from 1 to 3600", "stop"),
	BAD("vmmctl stop web1 --timeout -1",
	    "--timeout must be an integer from 1 to 3600", "stop"),
	BAD("vmmctl stop web1 --timeout 99999999999999999999",
	    "--timeout must be an integer from 1 to 3600", "stop"),
	BAD("vmmctl stop web1 --timeout", "option --timeout needs a value",
	    "stop"),
	BAD("vmmctl list --bogus", "unknown option --bogus", "list"),
	BAD("vmmctl list --bogus=1", "unknown option --bogus=1", "list"),
	BAD("vmmctl list -x", "unknown option -x", "list"),
	BAD("vmmctl list --json=yes", "option --json takes no value", "list"),
	BAD("vmmctl -x list", "unknown option -x", NULL),
	BAD("vmmctl --connect", "option --connect needs a value", NULL),
	BAD("vmmctl --bogus list", "unknown option --bogus", NULL),
	BAD("vmmctl --json=1 list", "option --json takes no value", NULL),
	/* The TLS files and the config file. */
	{ .argv = "vmmctl --connect tls://h --cert c.pem --key k.pem --ca "
	    "ca.pem --config v.conf list", .cmd = "list",
	    .connect = "tls://h", .cert = "c.pem", .key = "k.pem",
	    .ca = "ca.pem", .config = "v.conf" },
	{ .argv = "vmmctl --key=k --ca=c info a", .cmd = "info", .arg = "a",
	    .key = "k", .ca = "c" },
	BAD("vmmctl --cert", "option --cert needs a value", NULL),
	BAD("vmmctl --key", "option --key needs a value", NULL),
	BAD("vmmctl --ca", "option --ca needs a value", NULL),
	BAD("vmmctl --config", "option --config needs a value", NULL),
	BAD("vmmctl list --ca x", "unknown option --ca", "list"),
};

#undef OK
#undef BAD
#undef HELP
#undef O

static void
check_args_case(const struct args_case *t)
{
	char buf[512], err[256], *argv[ARGV_MAX];
	struct ctl_args a;
	int argc, rc;

	argc = split(t->argv, buf, sizeof(buf), argv);
	err[0] = '\0';
	rc = args_parse(argc, argv, &a, err, sizeof(err));
	if (t->err != NULL) {
		if (rc != -EINVAL || strcmp(err, t->err) != 0)
			fail_msg("%s: got %d \"%s\", want \"%s\"", t->argv, rc,
			    err, t->err);
	} else if (rc != 0)
		fail_msg("%s: %s", t->argv, err);
	if (t->cmd == NULL)
		assert_null(a.cmd);
	else {
		assert_non_null(a.cmd);
		assert_string_equal(a.cmd->name, t->cmd);
	}
	if (t->err != NULL)
		return;
	if (t->arg == NULL)
		assert_null(a.arg);
	else
		assert_string_equal(a.arg, t->arg);
	assert_int_equal(a.opts, t->opts);
	if (t->connect == NULL)
		assert_null(a.connect);
	else
		assert_string_equal(a.connect, t->connect);
	if (t->state != NULL)
		assert_string_equal(a.state, t->state);
	if (t->prefix != NULL)
		assert_string_equal(a.prefix, t->prefix);
	assert_int_equal(a.timeout, t->timeout);
	assert_int_equal(a.bytes, t->bytes);
	assert_int_equal(a.help, t->help);
	assert_int_equal(a.quiet, t->quiet);
	if (t->cert == NULL)
		assert_null(a.cert);
	else
		assert_string_equal(a.cert, t->cert);
	if (t->key == NULL)
		assert_null(a.key);
	else
		assert_string_equal(a.key, t->key);
	if (t->ca == NULL)
		assert_null(a.ca);
	else
		assert_string_equal(a.ca, t->ca);
	if (t->config == NULL)
		assert_null(a.config);
	else
		assert_string_equal(a.config, t->config);
}

static void
test_args(void **state)
{
	size_t i;

	for (i = 0; i < NITEMS(args_cases); i++)
		check_args_case(&args_cases[i]);
}

/* With POSIXLY_CORRECT, options after the NAME still count. */
static void
test_args_posixly_correct(void **state)
{
	size_t i;

	setenv("POSIXLY_CORRECT", "1", 1);
	for (i = 0; i < NITEMS(args_cases); i++)
		check_args_case(&args_cases[i]);
	unsetenv("POSIXLY_CORRECT");
}

/* Every command names methods proto knows; who may fall back to ro. */
static void
test_cmd_table(void **state)
{
	static const struct {
		const char *argv;
		bool readonly;
		const char *method;
	} cases[] = {
		{ "vmmctl list", true, "vm.list" },
		{ "vmmctl info a", true, "vm.info" },
		{ "vmmctl get a", true, "vm.get" },
		{ "vmmctl logs a", true, "vm.console_log" },
		{ "vmmctl stats a", true, "vm.stats" },
		{ "vmmctl host", true, "host.info" },
		{ "vmmctl version", true, "daemon.version" },
		{ "vmmctl console a --watch", true, "vm.console_log" },
		{ "vmmctl console a", false, "vm.console" },
		{ "vmmctl create f", false, "vm.define" },
		{ "vmmctl define f", false, "vm.define" },
		{ "vmmctl undefine a", false, "vm.undefine" },
		{ "vmmctl start a", false, "vm.start" },
		{ "vmmctl stop a", false, "vm.stop" },
		{ "vmmctl restart a", false, "vm.restart" },
		{ "vmmctl reset a", false, "vm.reset" },
		{ "vmmctl pause a", false, "vm.pause" },
		{ "vmmctl resume a", false, "vm.resume" },
		{ "vmmctl events", true, "events.list" },
		{ "vmmctl events --follow --after 7 --kind vm.", true,
		    "events.subscribe" },
		{ "vmmctl audit", false, "audit.list" },
		{ "vmmctl metrics", true, "host.metrics" },
	};
	char buf[256], err[256], *argv[ARGV_MAX];
	const struct ctl_cmd *c;
	struct ctl_args a;
	size_t i, n = 0;

	for (c = ctl_cmds; c->name != NULL; c++, n++) {
		assert_non_null(rpc_method_lookup(rpc_methods, c->method,
		    strlen(c->method)));
		if (c->alt_method != NULL)
			assert_non_null(rpc_method_lookup(rpc_methods,
			    c->alt_method, strlen(c->alt_method)));
		assert_non_null(c->run);
		assert_ptr_equal(args_lookup(c->name), c);
	}
	/* console and events are there twice. */
	assert_int_equal(n, NITEMS(cases) - 2);
	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(args_parse(split(cases[i].argv, buf,
		    sizeof(buf), argv), argv, &a, err, sizeof(err)), 0);
		assert_string_equal(args_method(&a), cases[i].method);
		if (args_readonly(&a) != cases[i].readonly)
			fail_msg("%s: readonly %d", cases[i].argv,
			    !cases[i].readonly);
	}
}

static void
test_synopsis(void **state)
{
	static const char *const want[][2] = {
		{ "create", "vmmctl create FILE [--start] [--json]" },
		{ "define", "vmmctl define FILE [--replace] [--json]" },
		{ "undefine", "vmmctl undefine NAME" },
		{ "list", "vmmctl list [--state S] [--prefix P] [--autostart] "
		    "[--json]" },
		{ "info", "vmmctl info NAME [--json]" },
		{ "get", "vmmctl get NAME [--json]" },
		{ "start", "vmmctl start NAME" },
		{ "stop", "vmmctl stop NAME [--force] [--timeout S] [--wait]" },
		{ "restart", "vmmctl restart NAME [--force] [--timeout S]" },
		{ "reset", "vmmctl reset NAME" },
		{ "pause", "vmmctl pause NAME" },
		{ "resume", "vmmctl resume NAME" },
		{ "console", "vmmctl console NAME [--watch]" },
		{ "logs", "vmmctl logs NAME [--bytes N] [--follow] [--json]" },
		{ "stats", "vmmctl stats NAME [--json]" },
		{ "host", "vmmctl host [--json]" },
		{ "version", "vmmctl version [--json]" },
	};
	char buf[256];
	size_t i;

	for (i = 0; i < NITEMS(want); i++) {
		args_synopsis(args_lookup(want[i][0]), buf, sizeof(buf));
		assert_string_equal(buf, want[i][1]);
	}
}

static void
test_help(void **state)
{
	const struct ctl_cmd *c;
	struct capture cap;
	char line[64];

	cap_open(&cap);
	args_help(cap.f, NULL);
	fclose(cap.f);
	for (c = ctl_cmds; c->name != NULL; c++) {
		snprintf(line, sizeof(line), "\n  %s", c->name);
		assert_non_null(strstr(cap.buf, line));
	}
	free(cap.buf);

	cap_open(&cap);
	args_help(cap.f, args_lookup("console"));
	cap_check(&cap,
	    "usage: vmmctl console NAME [--watch]\n"
	    "\n"
	    "Attach to a VM's serial console (\"~.\" disconnects).\n"
	    "\n"
	    "Options:\n"
	    "  --watch       read only: the scrollback, then live output; "
	    "no input\n"
	    "\n"
	    "Needs the operator role (vm.console); with --watch the readonly "
	    "role (vm.console_log).\n");

	cap_open(&cap);
	args_usage(cap.f, args_lookup("delete"));
	cap_check(&cap, "usage: vmmctl undefine NAME\n"
	    "Run \"vmmctl help undefine\" for more.\n");
}

/* -------------------------------------------------------------------------- */
/* URIs. */

static void
test_uri(void **state)
{
	static const struct {
		const char *uri;
		int rc;
		const char *path_or_err;
	} cases[] = {
		{ "unix:/run/vmm/vmmd.sock", 0, "/run/vmm/vmmd.sock" },
		{ "/run/vmm/vmmd.ro.sock", 0, "/run/vmm/vmmd.ro.sock" },
		{ "unix:rel.sock", 0, "rel.sock" },
		{ "tcp://host:1", -EINVAL, "bad URI \"tcp://host:1\": expected "
		    "unix:PATH, an absolute path or tls://HOST:PORT" },
		{ "rel.sock", -EINVAL, "bad URI \"rel.sock\": expected "
		    "unix:PATH, an absolute path or tls://HOST:PORT" },
		{ "", -EINVAL, "bad URI \"\": expected unix:PATH, an absolute "
		    "path or tls://HOST:PORT" },
		{ "unix:", -EINVAL, "bad URI \"unix:\": the socket path is "
		    "empty" },
	};
	struct client_uri u;
	char err[256], path[200];
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		err[0] = '\0';
		assert_int_equal(client_uri_parse(cases[i].uri, &u, err,
		    sizeof(err)), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(u.transport, CLIENT_UNIX);
			assert_string_equal(u.path, cases[i].path_or_err);
		} else
			assert_string_equal(err, cases[i].path_or_err);
	}
	/* sun_path: 107 bytes and the NUL. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	assert_int_equal(client_uri_parse(path, &u, err, sizeof(err)), 0);
	assert_int_equal(strlen(u.path), 107);
	path[107] = 'a';
	path[108] = '\0';
	assert_int_equal(client_uri_parse(path, &u, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "bad URI: the socket path is longer than "
	    "107 bytes");
}

/* -------------------------------------------------------------------------- */
/* The escape machine. */

static const struct {
	const char *in;
	const char *out;
	bool quit;
} esc_cases[] = {
	{ "abc", "abc", false },
	{ "~.", "", true },
	{ "~.after", "", true },
	{ "a~.", "a~.", false },		/* not at a line's start */
	{ "a\r~.", "a\r", true },
	{ "a\n~.zz", "a\n", true },
	{ "~~", "~", false },
	{ "~~.", "~.", false },
	{ "~~~", "~~", false },
	{ "~x", "~x", false },
	{ "~\r~.", "~\r", true },
	{ "~\n", "~\n", false },
	{ ".~.", ".~.", false },
	{ "\r\r~~\r~.", "\r\r~\r", true },
	{ "x\r~", "x\r", false },		/* the ~ is held */
	{ "~", "", false },
	{ "", "", false },
};

static void
test_esc_cases(void **state)
{
	uint8_t out[64], acc[64];
	struct console_esc e;
	size_t i, j, n, m;
	bool quit, q;

	for (i = 0; i < NITEMS(esc_cases); i++) {
		/* At once. */
		memset(&e, 0, sizeof(e));
		n = strlen(esc_cases[i].in);
		m = console_esc_feed(&e, (const uint8_t *)esc_cases[i].in, n,
		    out, &quit);
		out[m] = '\0';
		assert_string_equal((char *)out, esc_cases[i].out);
		assert_int_equal(quit, esc_cases[i].quit);
		/* A byte at a time. */
		memset(&e, 0, sizeof(e));
		m = 0;
		q = false;
		for (j = 0; j < n && !q; j++)
			m += console_esc_feed(&e, (const uint8_t *)
			    esc_cases[i].in + j, 1, acc + m, &q);
		acc[m] = '\0';
		assert_string_equal((char *)acc, esc_cases[i].out);
		assert_int_equal(q, esc_cases[i].quit);
	}
	/* A held "~" comes out with the next byte, in the next call. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(console_esc_feed(&e, (const uint8_t *)"~", 1, out,
	    &quit), 0);
	assert_int_equal(e.state, CONSOLE_ESC_TILDE);
	assert_int_equal(console_esc_feed(&e, (const uint8_t *)"y", 1, out,
	    &quit), 2);
	assert_memory_equal(out, "~y", 2);
	assert_false(quit);
}

/*
 * The model: written as the rule reads, with a flag for "at a line's
 * start" and one for "a ~ is pending", over the whole input at once.
 */
static size_t
esc_model(const uint8_t *in, size_t n, uint8_t *out, bool *quit)
{
	bool bol = true, pending = false;
	size_t i, o = 0;

	*quit = false;
	for (i = 0; i < n; i++) {
		if (pending) {
			pending = false;
			if (in[i] == '.') {
				*quit = true;
				return o;
			}
			out[o++] = '~';
			if (in[i] == '~') {
				bol = false;
				continue;
			}
		} else if (bol && in[i] == '~') {
			pending = true;
			continue;
		}
		out[o++] = in[i];
		bol = in[i] == '\r' || in[i] == '\n';
	}
	return o;
}

static void
test_esc_random(void **state)
{
	static const uint8_t alphabet[] = { '~', '.', '\r', '\n', 'a', 0 };
	uint8_t in[64], out[128], want[128];
	struct console_esc e;
	unsigned int seed;
	size_t it, n, i, at, k, m, wn;
	bool quit, wq, q;
	const char *env = getenv("VMMCTL_SEED");

	seed = env != NULL ? (unsigned int)strtoul(env, NULL, 0) :
	    (unsigned int)time(NULL);
	print_message("VMMCTL_SEED=%u\n", seed);
	srandom(seed);
	for (it = 0; it < PROP_ITERS; it++) {
		n = (size_t)random() % sizeof(in);
		for (i = 0; i < n; i++)
			in[i] = alphabet[random() % sizeof(alphabet)];
		wn = esc_model(in, n, want, &wq);
		/* In random pieces. */
		memset(&e, 0, sizeof(e));
		m = 0;
		q = false;
		for (at = 0; at < n && !q; at += k) {
			k = 1 + (size_t)random() % (n - at);
			m += console_esc_feed(&e, in + at, k, out + m, &quit);
			assert_true(m <= at + k + 1);
			q = quit;
		}
		assert_int_equal(q, wq);
		assert_int_equal(m, wn);
		assert_memory_equal(out, want, wn);
	}
}

/* -------------------------------------------------------------------------- */
/* Formats and printers. */

static void
test_duration(void **state)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{ 0, "0s" }, { 999, "0s" }, { 1000, "1s" }, { 59999, "59s" },
		{ 60000, "1m 0s" }, { 3599999, "59m 59s" },
		{ 3600000, "1h 0m 0s" }, { 90061000, "1d 1h 1m 1s" },
		{ 86400000, "1d 0h 0m 0s" },
		{ (int64_t)400 * 86400000, "400d 0h 0m 0s" },
		{ -1, "-" },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		print_duration(buf, sizeof(buf), cases[i].ms);
		assert_string_equal(buf, cases[i].want);
	}
	print_duration(buf, 5, 90061000);
	assert_string_equal(buf, "1d 1");
}

static void
test_bytes(void **state)
{
	static const struct {
		uint64_t n;
		const char *want;
	} cases[] = {
		{ 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1 KiB" },
		{ 1536, "1.5 KiB" }, { 65536, "64 KiB" },
		{ 16777216, "16 MiB" }, { 16777217, "16.0 MiB" },
		{ (uint64_t)1 << 30, "1 GiB" }, { (uint64_t)3 << 29, "1.5 GiB" },
		{ (uint64_t)1 << 40, "1 TiB" }, { (uint64_t)1 << 50, "1 PiB" },
		{ (uint64_t)1 << 60, "1024 PiB" },
		{ UINT64_MAX, "16384.0 PiB" },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		print_bytes(buf, sizeof(buf), cases[i].n);
		assert_string_equal(buf, cases[i].want);
	}
}

static void
test_time(void **state)
{
	char buf[64];

	setenv("TZ", "UTC", 1);
	tzset();
	print_time(buf, sizeof(buf), 0);
	assert_string_equal(buf, "1970-01-01 00:00:00 +0000");
	print_time(buf, sizeof(buf), 1763700000999);
	assert_string_equal(buf, "2025-11-21 04:40:00 +0000");
	print_time(buf, sizeof(buf), -5);
	assert_string_equal(buf, "-");
	setenv("TZ", "CET-1", 1);
	tzset();
	print_time(buf, sizeof(buf), 0);
	assert_string_equal(buf, "1970-01-01 01:00:00 +0100");
	setenv("TZ", "UTC", 1);
	tzset();
}

static void
test_value(void **state)
{
	static const struct {
		const char *json;
		const char *want;
	} cases[] = {
		{ "\"plain\"", "plain" },
		{ "\"a\\u0001b\\u001bc\\u007f\"", "a\\x01b\\x1bc\\x7f" },
		{ "\"caf\\u00e9\"", "caf\xc3\xa9" },
		{ "null", "-" },
		{ "true", "yes" },
		{ "false", "no" },
		{ "42", "42" },
		{ "-7", "-7" },
		{ "1.5", "1.5" },
		{ "{}", "-" },
		{ "[]", "-" },
		{ "{\"io\": 12, \"hlt\": 3}", "io 12, hlt 3" },
		{ "[1, \"x\", null]", "1, x, -" },
		{ "{\"a\": {\"b\": 1, \"c\": 2}, \"d\": [3, 4]}",
		    "a b 1, c 2, d 3, 4" },
	};
	char buf[PRINT_CELL], small[6];
	json_t *v;
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		v = js(cases[i].json);
		print_value(buf, sizeof(buf), v);
		assert_string_equal(buf, cases[i].want);
		json_decref(v);
	}
	print_value(buf, sizeof(buf), NULL);
	assert_string_equal(buf, "-");
	/* Truncated, terminated. */
	v = json_string("abcdefghij");
	print_value(small, sizeof(small), v);
	assert_string_equal(small, "abcde");
	json_decref(v);
	v = js("{\"io\": 12, \"hlt\": 3}");
	print_value(small, sizeof(small), v);
	assert_string_equal(small, "io 12");
	json_decref(v);
}

static void
test_list(void **state)
{
	struct capture cap;
	json_t *v;

	v = js("[{\"name\": \"a\", \"uuid\": \"00000000-0000-4000-8000-"
	    "000000000001\", \"state\": \"running\"}, {\"name\": "
	    "\"longer-name\", \"uuid\": \"00000000-0000-4000-8000-"
	    "000000000002\", \"state\": \"stopped\"}]");
	cap_open(&cap);
	print_list(cap.f, v);
	cap_check(&cap,
	    "NAME         STATE    UUID\n"
	    "a            running  00000000-0000-4000-8000-000000000001\n"
	    "longer-name  stopped  00000000-0000-4000-8000-000000000002\n");
	json_decref(v);

	v = js("[]");
	cap_open(&cap);
	print_list(cap.f, v);
	cap_check(&cap, "NAME  STATE  UUID\n");
	json_decref(v);

	/* A missing member is "-"; the state is the widest here. */
	v = js("[{\"name\": \"x\", \"state\": \"starting\"}]");
	cap_open(&cap);
	print_list(cap.f, v);
	cap_check(&cap, "NAME  STATE     UUID\nx     starting  -\n");
	json_decref(v);
}

static void
test_info(void **state)
{
	struct capture cap;
	json_t *v;

	setenv("TZ", "UTC", 1);
	tzset();
	v = js("{\"name\": \"web1\", \"uuid\": \"5f0c1e2a-8b3d-4c6e-9f10-"
	    "a1b2c3d4e5f6\", \"state\": \"running\", \"pid\": 4242, "
	    "\"started_at\": 1763700000000, \"uptime_ms\": 90061000, "
	    "\"restart_count\": 2, \"last_exit\": {\"reason\": \"reboot\", "
	    "\"status\": 10, \"message\": \"guest rebooted\"}}");
	cap_open(&cap);
	print_info(cap.f, v);
	cap_check(&cap,
	    "name:      web1\n"
	    "uuid:      5f0c1e2a-8b3d-4c6e-9f10-a1b2c3d4e5f6\n"
	    "state:     running\n"
	    "pid:       4242\n"
	    "started:   2025-11-21 04:40:00 +0000\n"
	    "uptime:    1d 1h 1m 1s\n"
	    "restarts:  2\n"
	    "last exit: reboot, status 10: guest rebooted\n");
	json_decref(v);

	/* A stopped VM; a member vmmctl does not know comes last. */
	v = js("{\"state\": \"stopped\", \"name\": \"db\", \"uuid\": \"u\", "
	    "\"pid\": null, \"started_at\": null, \"uptime_ms\": null, "
	    "\"restart_count\": 0, \"last_exit\": null, \"autostart\": true}");
	cap_open(&cap);
	print_info(cap.f, v);
	cap_check(&cap,
	    "name:      db\n"
	    "uuid:      u\n"
	    "state:     stopped\n"
	    "pid:       -\n"
	    "started:   -\n"
	    "uptime:    -\n"
	    "restarts:  0\n"
	    "last exit: -\n"
	    "autostart: yes\n");
	json_decref(v);

	v = js("{\"name\": \"x\", \"last_exit\": {\"reason\": \"poweroff\", "
	    "\"status\": 0, \"message\": \"\"}}");
	cap_open(&cap);
	print_info(cap.f, v);
	cap_check(&cap, "name:      x\nlast exit: poweroff, status 0\n");
	json_decref(v);
}

static void
test_stats_host_version(void **state)
{
	struct capture cap;
	json_t *v;

	v = js("{\"name\": \"web1\", \"state\": \"running\", \"uptime_ms\": "
	    "5000, \"vcpus\": [{\"id\": 0, \"state\": \"running\", \"exits\": "
	    "{\"io\": 12, \"hlt\": 3}}, {\"id\": 1, \"state\": \"halted\", "
	    "\"exits\": {}}], \"ram_bytes\": 16777216, \"console\": "
	    "{\"bytes\": 1536, \"dropped\": 0, \"scrollback\": 65536}}");
	cap_open(&cap);
	print_stats(cap.f, v);
	cap_check(&cap,
	    "name:    web1\n"
	    "state:   running\n"
	    "uptime:  5s\n"
	    "ram:     16 MiB\n"
	    "console: 1.5 KiB written, 0 B dropped, 64 KiB scrollback\n"
	    "vcpu 0:  running, exits io 12, hlt 3\n"
	    "vcpu 1:  halted, exits -\n");
	json_decref(v);

	v = js("{\"version\": \"0.1.0\", \"api\": 1, \"backend\": \"kvm\", "
	    "\"capabilities\": {\"max_machines\": 128, \"max_vcpus\": 64}, "
	    "\"vms\": 2, \"running\": 1, \"clients\": 1, \"uptime_ms\": "
	    "3723000}");
	cap_open(&cap);
	print_host(cap.f, v);
	cap_check(&cap,
	    "version:      0.1.0\n"
	    "api:          1\n"
	    "backend:      kvm\n"
	    "vms:          2\n"
	    "running:      1\n"
	    "clients:      1\n"
	    "uptime:       1h 2m 3s\n"
	    "capabilities:\n"
	    "  max_machines: 128\n"
	    "  max_vcpus:    64\n");
	json_decref(v);

	v = js("{\"version\": \"0.1.0\", \"api\": 1}");
	cap_open(&cap);
	print_version(cap.f, v);
	cap_check(&cap, "vmmd 0.1.0 (api 1)\n");
	json_decref(v);

	v = js("{\"name\": \"t1\", \"uuid\": \"00000000-0000-4000-8000-"
	    "00000000000a\"}");
	cap_open(&cap);
	print_define(cap.f, v);
	cap_check(&cap, "defined t1 (00000000-0000-4000-8000-00000000000a)\n");
	json_decref(v);

	v = js("{\"a\": [1, 2]}");
	cap_open(&cap);
	print_json(cap.f, v);
	cap_check(&cap, "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n");
	json_decref(v);
	cap_open(&cap);
	print_json(cap.f, json_null());
	cap_check(&cap, "null\n");
}

static void
test_print_error(void **state)
{
	struct capture cap;
	json_t *v;

	v = js("{\"code\": -32602, \"message\": \"Invalid params\", \"data\": "
	    "{\"name\": \"invalid_params\", \"problems\": [{\"path\": "
	    "\"$.params.definition.os.kernel\", \"message\": \"required\"}, "
	    "{\"path\": \"$.params.definition.memory.size_mib\", \"message\": "
	    "\"must be an integer from 1 to 1048576\"}]}}");
	cap_open(&cap);
	cmd_print_error(cap.f, "create web1", v);
	cap_check(&cap,
	    "vmmctl: create web1: Invalid params\n"
	    "  $.params.definition.os.kernel: required\n"
	    "  $.params.definition.memory.size_mib: must be an integer from 1 "
	    "to 1048576\n");
	json_decref(v);

	v = js("{\"code\": -32007, \"message\": \"cannot start\", \"data\": "
	    "{\"name\": \"failed\", \"reason\": \"unusable-file\", \"status\": "
	    "66, \"log\": \"vmm-worker: /k: No such file\\nbad\\u001b[0m\\n\"}}");
	cap_open(&cap);
	cmd_print_error(cap.f, "start web1", v);
	cap_check(&cap,
	    "vmmctl: start web1: cannot start\n"
	    "  vmm-worker: /k: No such file\n"
	    "  bad\\x1b[0m\n");
	json_decref(v);

	v = js("{\"code\": -32001, \"message\": \"Not found\"}");
	cap_open(&cap);
	cmd_print_error(cap.f, "info nope", v);
	cap_check(&cap, "vmmctl: info nope: Not found\n");
	json_decref(v);
}

/* The params each command line sends. */
static void
test_params(void **state)
{
	static const struct {
		const char *argv;
		const char *want;
	} cases[] = {
		{ "vmmctl list", "{}" },
		{ "vmmctl list --state running --prefix w --autostart",
		    "{\"autostart\": true, \"state\": \"running\", "
		    "\"prefix\": \"w\"}" },
		{ "vmmctl stop web1 --force --timeout 9 --wait",
		    "{\"name\": \"web1\", \"force\": true, \"wait\": true, "
		    "\"timeout\": 9}" },
		{ "vmmctl restart web1 --timeout 9",
		    "{\"name\": \"web1\", \"timeout\": 9}" },
		{ "vmmctl logs web1 --bytes 10 --follow",
		    "{\"name\": \"web1\", \"follow\": true, \"bytes\": 10}" },
		{ "vmmctl define f --replace", "{\"replace\": true}" },
		{ "vmmctl create f --start", "{}" },
		{ "vmmctl host", "{}" },
	};
	char buf[256], err[256], *argv[ARGV_MAX];
	struct ctl_args a;
	json_t *p, *want;
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		assert_int_equal(args_parse(split(cases[i].argv, buf,
		    sizeof(buf), argv), argv, &a, err, sizeof(err)), 0);
		p = cmd_params(&a);
		want = js(cases[i].want);
		if (!json_equal(p, want))
			fail_msg("%s: %s", cases[i].argv,
			    json_dumps(p, JSON_COMPACT));
		json_decref(p);
		json_decref(want);
	}
}

/* -------------------------------------------------------------------------- */
/* The client's messages. */

struct seen {
	char log[2048];
};

static void
seen_notify(void *arg, const char *method, const json_t *params)
{
	struct seen *s = arg;
	char *p = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t at = strlen(s->log);

	snprintf(s->log + at, sizeof(s->log) - at, "N %s %s;", method,
	    p != NULL ? p : "none");
	free(p);
}

static void
seen_response(void *arg, json_int_t id, const json_t *result,
    const json_t *error)
{
	struct seen *s = arg;
	char *p = json_dumps(result != NULL ? result : error,
	    JSON_COMPACT | JSON_ENCODE_ANY);
	size_t at = strlen(s->log);

	snprintf(s->log + at, sizeof(s->log) - at, "R %" JSON_INTEGER_FORMAT
	    " %s %s;", id, result != NULL ? "result" : "error", p);
	free(p);
}

static void
client_for_test(struct client *c, struct seen *s)
{
	client_init(c);
	assert_int_equal(rpc_reader_init(&c->rd, 0), 0);
	c->on_notify = seen_notify;
	c->on_response = seen_response;
	c->arg = s;
	s->log[0] = '\0';
}

static void
test_client_lines(void **state)
{
	static const char *const bad[] = {
		"not json",
		"[]",
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}]",
		"{\"id\":1,\"result\":null}",
		"{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":null}",
		"{\"jsonrpc\":\"2.0\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"x\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":1}",
		"{\"jsonrpc\":\"2.0\",\"result\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"x\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"result\":2}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":7}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":[1]}",
	};
	struct client c;
	struct seen s;
	size_t i;

	client_for_test(&c, &s);
	for (i = 0; i < NITEMS(bad); i++)
		if (client_handle_line(&c, bad[i], strlen(bad[i])) != -EPROTO)
			fail_msg("accepted %s", bad[i]);
	assert_string_equal(s.log, "");

#define LINE(t)	assert_int_equal(client_handle_line(&c, t, strlen(t)), 0)
	LINE("{\"jsonrpc\":\"2.0\",\"method\":\"console.data\",\"params\":"
	    "{\"name\":\"a\",\"data\":\"eA==\"}}");
	LINE("{\"jsonrpc\":\"2.0\",\"method\":\"tick\"}");
	LINE("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"bytes\":1}}");
	LINE("{\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-32003,"
	    "\"message\":\"Invalid state\"}}");
	assert_string_equal(s.log,
	    "N console.data {\"name\":\"a\",\"data\":\"eA==\"};"
	    "N tick none;"
	    "R 7 result {\"bytes\":1};"
	    "R 8 error {\"code\":-32003,\"message\":\"Invalid state\"};");

	/* The awaited response is kept, not passed on; so is a null id. */
	s.log[0] = '\0';
	c.waiting = true;
	c.wait_id = 3;
	LINE("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":null}");
	assert_true(c.answered);
	assert_true(json_is_null(json_object_get(c.answer, "result")));
	json_decref(c.answer);
	c.answer = NULL;
	c.answered = false;
	LINE("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
	    "\"message\":\"Parse error\"}}");
	assert_true(c.answered);
	assert_string_equal(s.log, "");
#undef LINE
	client_close(&c);
}

/* The same two lines in every split, through the reader. */
static void
test_client_splits(void **state)
{
	static const char text[] =
	    "{\"jsonrpc\":\"2.0\",\"method\":\"console.end\",\"params\":"
	    "{\"name\":\"a\",\"reason\":\"poweroff\"}}\r\n\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":[1]}\n";
	static const char want[] =
	    "N console.end {\"name\":\"a\",\"reason\":\"poweroff\"};"
	    "R 2 result [1];";
	struct client c;
	struct seen s;
	size_t i, j, n = sizeof(text) - 1;

	for (i = 0; i <= n; i++)
		for (j = i; j <= n; j += 7) {
			client_for_test(&c, &s);
			assert_int_equal(client_feed(&c, text, i), 0);
			assert_int_equal(client_feed(&c, text + i, j - i), 0);
			assert_int_equal(client_feed(&c, text + j, n - j), 0);
			assert_string_equal(s.log, want);
			assert_false(rpc_reader_pending(&c.rd));
			client_close(&c);
		}
}

static void
peer_write(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* client_call over a real socket, with messages in between. */
static void
test_client_call(void **state)
{
	json_t *result, *error;
	struct client c;
	struct seen s;
	char req[512];
	ssize_t n;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	client_for_test(&c, &s);
	c.fd = sv[0];
	snprintf(c.path, sizeof(c.path), "socketpair");

	peer_write(sv[1], "{\"jsonrpc\":\"2.0\",\"method\":\"console.data\","
	    "\"params\":{\"name\":\"a\",\"data\":\"\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":true}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"version\":\"x\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"late\",\"params\":{}}\n");
	assert_int_equal(client_call(&c, "daemon.version", json_object(),
	    &result, &error), 0);
	assert_null(error);
	assert_string_equal(json_string_value(json_object_get(result,
	    "version")), "x");
	json_decref(result);
	/* What came in the same read after the answer is handled too. */
	assert_string_equal(s.log,
	    "N console.data {\"name\":\"a\",\"data\":\"\"};"
	    "R 99 result true;N late {};");
	n = read(sv[1], req, sizeof(req) - 1);
	assert_true(n > 0);
	req[n] = '\0';
	assert_string_equal(req, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"daemon.version\",\"params\":{}}\n");

	/* An error answer. */
	peer_write(sv[1], "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":"
	    "-32001,\"message\":\"Not found\"}}\n");
	assert_int_equal(client_call(&c, "vm.info", json_pack("{s:s}", "name",
	    "x"), &result, &error), 0);
	assert_null(result);
	assert_int_equal(json_integer_value(json_object_get(error, "code")),
	    -32001);
	json_decref(error);

	/* A line not JSON-RPC, then a closed connection. */
	peer_write(sv[1], "hello\n");
	assert_int_equal(client_call(&c, "vm.list", NULL, &result, &error),
	    -EPROTO);
	close(sv[1]);
	assert_int_equal(client_call(&c, "vm.list", NULL, &result, &error),
	    -EPIPE);
	client_close(&c);

	/* The peer closes before answering. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	client_for_test(&c, &s);
	c.fd = sv[0];
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(client_call(&c, "vm.list", NULL, &result, &error),
	    -ECONNRESET);
	client_close(&c);
	close(sv[1]);
}

/* Connecting: a socket path with no one behind it. */
static void
test_client_connect(void **state)
{
	char dir[] = "/tmp/test_vmmctl.XXXXXX", path[128];
	struct client c;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	client_init(&c);
	assert_int_equal(client_connect(&c, path), -ENOENT);
	client_close(&c);
	assert_int_equal(c.fd, -1);
	rmdir(dir);
}

/* -------------------------------------------------------------------------- */
/* tls:// URIs. */

static void
test_uri_tls(void **state)
{
	static const struct {
		const char *uri;
		const char *host;	/* NULL: refused, with err */
		enum client_host kind;
		unsigned int port;
		const char *name_or_err;
	} cases[] = {
		{ "tls://vmm.example.com:9443", "vmm.example.com",
		    CLIENT_HOST_DNS, 9443, "tls://vmm.example.com:9443" },
		{ "tls://vmm.example.com", "vmm.example.com", CLIENT_HOST_DNS,
		    8443, "tls://vmm.example.com:8443" },
		{ "tls://localhost:1", "localhost", CLIENT_HOST_DNS, 1,
		    "tls://localhost:1" },
		{ "tls://a-b.c9:65535", "a-b.c9", CLIENT_HOST_DNS, 65535,
		    "tls://a-b.c9:65535" },
		{ "tls://192.0.2.7:8443", "192.0.2.7", CLIENT_HOST_IPV4, 8443,
		    "tls://192.0.2.7:8443" },
		{ "tls://192.0.2.7", "192.0.2.7", CLIENT_HOST_IPV4, 8443,
		    "tls://192.0.2.7:8443" },
		{ "tls://[::1]:7000", "::1", CLIENT_HOST_IPV6, 7000,
		    "tls://[::1]:7000" },
		{ "tls://[2001:db8::1]", "2001:db8::1", CLIENT_HOST_IPV6, 8443,
		    "tls://[2001:db8::1]:8443" },
		{ "tls://[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1",
		    CLIENT_HOST_IPV6, 1, "tls://[::ffff:192.0.2.1]:1" },
		{ "tls://", NULL, 0, 0,
		    "bad URI \"tls://\": the host is empty" },
		{ "tls://:8443", NULL, 0, 0,
		    "bad URI \"tls://:8443\": the host is empty" },
		{ "tls://[]:1", NULL, 0, 0,
		    "bad URI \"tls://[]:1\": the host is empty" },
		{ "tls://h:", NULL, 0, 0, "bad URI \"tls://h:\": the port must "
		    "be a number from 1 to 65535" },
		{ "tls://h:0", NULL, 0, 0, "bad URI \"tls://h:0\": the port "
		    "must be a number from 1 to 65535" },
		{ "tls://h:65536", NULL, 0, 0, "bad URI \"tls://h:65536\": the "
		    "port must be a number from 1 to 65535" },
		{ "tls://h:99999999999999999999", NULL, 0, 0, "bad URI "
		    "\"tls://h:99999999999999999999\": the port must be a "
		    "number from 1 to 65535" },
		{ "tls://h:-1", NULL, 0, 0, "bad URI \"tls://h:-1\": the port "
		    "must be a number from 1 to 65535" },
		{ "tls://h:+1", NULL, 0, 0, "bad URI \"tls://h:+1\": the port "
		    "must be a number from 1 to 65535" },
		{ "tls://h:80/x", NULL, 0, 0, "bad URI \"tls://h:80/x\": the "
		    "port must be a number from 1 to 65535" },
		{ "tls://h:8x", NULL, 0, 0, "bad URI \"tls://h:8x\": the port "
		    "must be a number from 1 to 65535" },
		{ "tls://::1", NULL, 0, 0, "bad URI \"tls://::1\": an IPv6 "
		    "address must be in brackets, as in tls://[::1]:8443" },
		{ "tls://2001:db8::1:80", NULL, 0, 0, "bad URI "
		    "\"tls://2001:db8::1:80\": an IPv6 address must be in "
		    "brackets, as in tls://[::1]:8443" },
		{ "tls://[::1", NULL, 0, 0, "bad URI \"tls://[::1\": missing "
		    "\"]\" after the IPv6 address" },
		{ "tls://[::1]x", NULL, 0, 0, "bad URI \"tls://[::1]x\": "
		    "expected \":PORT\" or the end after \"]\"" },
		{ "tls://[vmm.example]:1", NULL, 0, 0, "bad URI "
		    "\"tls://[vmm.example]:1\": \"vmm.example\" is not an IPv6 "
		    "address" },
		{ "tls://[192.0.2.1]:1", NULL, 0, 0, "bad URI "
		    "\"tls://[192.0.2.1]:1\": \"192.0.2.1\" is not an IPv6 "
		    "address" },
#define HOSTRULE "the host must be a DNS name, an IPv4 address or an IPv6 " \
		    "address in brackets"
		{ "tls://a b", NULL, 0, 0, "bad URI \"tls://a b\": " HOSTRULE },
		{ "tls://user@h", NULL, 0, 0, "bad URI \"tls://user@h\": "
		    HOSTRULE },
		{ "tls://h_1", NULL, 0, 0, "bad URI \"tls://h_1\": " HOSTRULE },
		{ "tls://-h", NULL, 0, 0, "bad URI \"tls://-h\": " HOSTRULE },
		{ "tls://h-", NULL, 0, 0, "bad URI \"tls://h-\": " HOSTRULE },
		{ "tls://a..b", NULL, 0, 0, "bad URI \"tls://a..b\": "
		    HOSTRULE },
		{ "tls://h.", NULL, 0, 0, "bad URI \"tls://h.\": " HOSTRULE },
		{ "tls://.h", NULL, 0, 0, "bad URI \"tls://.h\": " HOSTRULE },
		/* Not an address, and no name either: no surprises. */
		{ "tls://1.2.3", NULL, 0, 0, "bad URI \"tls://1.2.3\": "
		    HOSTRULE },
		{ "tls://256.1.1.1", NULL, 0, 0, "bad URI "
		    "\"tls://256.1.1.1\": " HOSTRULE },
		{ "tls://1234", NULL, 0, 0, "bad URI \"tls://1234\": "
		    HOSTRULE },
#undef HOSTRULE
		{ "TLS://h", NULL, 0, 0, "bad URI \"TLS://h\": expected "
		    "unix:PATH, an absolute path or tls://HOST:PORT" },
	};
	struct client_uri u;
	char err[512], host[300];
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		err[0] = '\0';
		if (cases[i].host == NULL) {
			assert_int_equal(client_uri_parse(cases[i].uri, &u,
			    err, sizeof(err)), -EINVAL);
			if (strcmp(err, cases[i].name_or_err) != 0)
				fail_msg("%s: got \"%s\"", cases[i].uri, err);
			continue;
		}
		if (client_uri_parse(cases[i].uri, &u, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].uri, err);
		assert_int_equal(u.transport, CLIENT_TLS);
		assert_string_equal(u.host, cases[i].host);
		assert_int_equal(u.host_kind, cases[i].kind);
		assert_int_equal(u.port, cases[i].port);
		assert_string_equal(u.name, cases[i].name_or_err);
	}
	/* A DNS name: labels up to 63 bytes, 253 in all. */
	memset(host, 'a', sizeof(host));
	memcpy(host, "tls://", 6);
	host[6 + 63] = '\0';
	assert_int_equal(client_uri_parse(host, &u, err, sizeof(err)), 0);
	host[6 + 63] = 'a';
	host[6 + 64] = '\0';
	assert_int_equal(client_uri_parse(host, &u, err, sizeof(err)),
	    -EINVAL);
	host[6 + 64] = 'a';
	for (i = 6 + 63; i < 6 + 253; i += 64)
		host[i] = '.';
	host[6 + 253] = '\0';
	assert_int_equal(client_uri_parse(host, &u, err, sizeof(err)), 0);
	assert_int_equal(strlen(u.host), 253);
	assert_string_equal(u.name + 6 + 253, ":8443");
	host[6 + 253] = 'a';
	host[6 + 254] = '\0';
	assert_int_equal(client_uri_parse(host, &u, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, ": the host is longer than 253 bytes"));
}

/* -------------------------------------------------------------------------- */
/* The config file. */

static void
test_conf_parse(void **state)
{
	static const struct {
		const char *name;
		const char *text;
		const char *err;	/* NULL: parses into the four below */
		const char *connect, *cert, *key, *ca;
	} cases[] = {
		{ "/etc/vmm/vmmctl.conf",
		    "# vmmctl.conf\n"
		    "connect \"tls://vmm.example:9443\"\n"
		    "\tcert admin.pem   # relative: to this file's directory\n"
		    "key \"/keys/admin key.pem\"\r\n"
		    "ca \"ca \\\"1\\\".pem\"\n", NULL,
		    "tls://vmm.example:9443", "/etc/vmm/admin.pem",
		    "/keys/admin key.pem", "/etc/vmm/ca \"1\".pem" },
		{ "rel/v.conf", "ca ca.pem\ncert c.pem", NULL, "", "rel/c.pem",
		    "", "rel/ca.pem" },
		{ "v.conf", "ca ca.pem\nconnect unix:/x.sock\n", NULL,
		    "unix:/x.sock", "", "", "ca.pem" },
		{ "v.conf", "", NULL, "", "", "", "" },
		{ "v.conf", "\n  # nothing\n\n", NULL, "", "", "", "" },
#define BAD(t, e)	{ .name = "F", .text = (t), .err = (e) }
		BAD("bogus 1\n", "F:1: unknown keyword \"bogus\""),
		BAD("Connect tls://h\n", "F:1: unknown keyword \"Connect\""),
		BAD("ca a\n\nca b\n", "F:3: ca: already set on line 1"),
		BAD("ca\n", "F:1: ca: missing value"),
		BAD("ca a b\n", "F:1: ca: unexpected \"b\" after the value"),
		BAD("ca \"a\n", "F:1: unterminated quoted string"),
		BAD("ca \"a\"b\n", "F:1: missing space after a quoted string"),
		BAD("ca a\"b\"\n", "F:1: quote inside a word"),
		BAD("ca \"a\\n\"\n", "F:1: quoted string: only \\\" and \\\\ "
		    "may follow a backslash"),
		BAD("ca \"a\tb\"\n", "F:1: quoted string: control character "
		    "0x09"),
		BAD("\n\nca a\x01\n", "F:3: invalid character 0x01"),
		BAD("ca \"\"\n", "F:1: ca: empty value"),
		BAD("connect tls://\n", "F:1: connect: bad URI \"tls://\": the "
		    "host is empty"),
		BAD("connect http://h\n", "F:1: connect: bad URI \"http://h\": "
		    "expected unix:PATH, an absolute path or tls://HOST:PORT"),
		BAD("ca c\nkey k.pem\n", "F:2: key: there is no cert for it"),
#undef BAD
	};
	char err[512], line[CONF_LINE_MAX + 8];
	struct conf cf;
	size_t i;
	int rc;

	for (i = 0; i < NITEMS(cases); i++) {
		memset(&cf, 0, sizeof(cf));
		err[0] = '\0';
		rc = conf_parse(cases[i].name, cases[i].text,
		    strlen(cases[i].text), &cf, err, sizeof(err));
		if (cases[i].err != NULL) {
			if (rc != -EINVAL || strcmp(err, cases[i].err) != 0)
				fail_msg("case %zu: got %d \"%s\"", i, rc, err);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu: %s", i, err);
		assert_string_equal(cf.f_connect, cases[i].connect);
		assert_string_equal(cf.f_cert, cases[i].cert);
		assert_string_equal(cf.f_key, cases[i].key);
		assert_string_equal(cf.f_ca, cases[i].ca);
	}
	/* A line of 1024 bytes, and one more. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "ca x", 4);
	assert_int_equal(conf_parse("F", line, CONF_LINE_MAX, &cf, err,
	    sizeof(err)), 0);
	assert_string_equal(cf.f_ca, "x");
	assert_int_equal(conf_parse("F", line, CONF_LINE_MAX + 1, &cf, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "F:1: line longer than 1024 bytes");
}

/* Write text to dir/name, making its directories. */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX], cmd[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s)\"", path);
	assert_int_equal(system(cmd), 0);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The environment conf_resolve reads, set or unset (NULL). */
static void
conf_env_set(const char *home, const char *xdg, const char *config,
    const char *connect)
{
	const char *names[] = { "HOME", "XDG_CONFIG_HOME", VMMCTL_ENV_CONFIG,
	    VMMCTL_ENV_CONNECT };
	const char *values[] = { home, xdg, config, connect };
	size_t i;

	for (i = 0; i < NITEMS(names); i++)
		if (values[i] != NULL)
			setenv(names[i], values[i], 1);
		else
			unsetenv(names[i]);
}

/* Command line, then environment, then file; the pair cert and key. */
static void
test_conf_resolve(void **state)
{
	char dir[] = "/tmp/test_vmmctl_conf.XXXXXX", home[128], xdg[128];
	char file[160], path[4][200], err[512], cmd[512], want[512];
	char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	struct ctl_args a;
	struct conf cf;

	assert_non_null(mkdtemp(dir));
	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	assert_int_equal(mkdir(home, 0700), 0);

	/* Nothing anywhere: the default socket, no files. */
	memset(&a, 0, sizeof(a));
	conf_env_set(home, NULL, NULL, NULL);
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_null(cf.connect);
	assert_null(cf.cert);
	assert_null(cf.key);
	assert_null(cf.ca);
	snprintf(file, sizeof(file), "%s/.config/vmm/vmmctl.conf", home);
	assert_string_equal(cf.file, file);
	/* No HOME: no file. */
	conf_env_set(NULL, NULL, NULL, "");
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.file, "");
	assert_null(cf.connect);

	/* ~/.config/vmm/vmmctl.conf, paths relative to it. */
	write_file(home, ".config/vmm/vmmctl.conf", "connect tls://h1\n"
	    "cert c1.pem\nca /ca1.pem\n");
	conf_env_set(home, "relative/is/ignored", NULL, NULL);
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.file, file);
	assert_string_equal(cf.connect, "tls://h1");
	snprintf(path[0], sizeof(path[0]), "%s/.config/vmm/c1.pem", home);
	assert_string_equal(cf.cert, path[0]);
	assert_string_equal(cf.key, path[0]);	/* the key in the cert */
	assert_string_equal(cf.ca, "/ca1.pem");

	/* $XDG_CONFIG_HOME/vmm/vmmctl.conf instead. */
	write_file(xdg, "vmm/vmmctl.conf", "connect tls://h2\ncert c2.pem\n"
	    "key k2.pem\n");
	conf_env_set(home, xdg, NULL, NULL);
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	snprintf(file, sizeof(file), "%s/vmm/vmmctl.conf", xdg);
	assert_string_equal(cf.file, file);
	assert_string_equal(cf.connect, "tls://h2");
	snprintf(path[0], sizeof(path[0]), "%s/vmm/c2.pem", xdg);
	snprintf(path[1], sizeof(path[1]), "%s/vmm/k2.pem", xdg);
	assert_string_equal(cf.cert, path[0]);
	assert_string_equal(cf.key, path[1]);
	assert_null(cf.ca);

	/* $VMMCTL_CONFIG, then --config. */
	write_file(dir, "env.conf", "connect tls://h3\nca ca3.pem\n");
	write_file(dir, "opt.conf", "ca ca4.pem\n");
	snprintf(path[2], sizeof(path[2]), "%s/env.conf", dir);
	conf_env_set(home, xdg, path[2], NULL);
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.file, path[2]);
	assert_string_equal(cf.connect, "tls://h3");
	snprintf(path[0], sizeof(path[0]), "%s/ca3.pem", dir);
	assert_string_equal(cf.ca, path[0]);
	snprintf(path[3], sizeof(path[3]), "%s/opt.conf", dir);
	a.config = path[3];
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.file, path[3]);
	assert_null(cf.connect);
	snprintf(path[0], sizeof(path[0]), "%s/ca4.pem", dir);
	assert_string_equal(cf.ca, path[0]);

	/* The URI: --connect, else $VMM_CONNECT, else the file's. */
	a.config = path[2];
	conf_env_set(home, xdg, NULL, "unix:/env.sock");
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.connect, "unix:/env.sock");
	a.connect = "tls://opt";
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.connect, "tls://opt");
	conf_env_set(home, xdg, NULL, "");	/* empty: not set */
	a.connect = NULL;
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.connect, "tls://h3");

	/* --ca over the file's; --cert and --key together, over both. */
	conf_env_set(home, xdg, NULL, NULL);
	a.config = NULL;
	a.ca = "o-ca.pem";
	a.cert = "o-cert.pem";
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.ca, "o-ca.pem");
	assert_string_equal(cf.cert, "o-cert.pem");
	assert_string_equal(cf.key, "o-cert.pem");	/* not k2.pem */
	a.key = "o-key.pem";
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), 0);
	assert_string_equal(cf.key, "o-key.pem");
	a.cert = NULL;
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--key needs --cert");

	/* A file asked for by name must exist; a bad one is an error. */
	memset(&a, 0, sizeof(a));
	a.config = "/nonexistent/vmmctl.conf";
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot read /nonexistent/vmmctl.conf: No "
	    "such file or directory");
	write_file(dir, "bad.conf", "ca a\nfrob b\n");
	snprintf(path[0], sizeof(path[0]), "%s/bad.conf", dir);
	a.config = path[0];
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown keyword \"frob\"",
	    path[0]);
	assert_string_equal(err, want);
	/* Unreadable (a directory), too big. */
	a.config = dir;
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "cannot read %s: Is a directory", dir);
	assert_string_equal(err, want);
	snprintf(cmd, sizeof(cmd), "head -c 65537 /dev/zero | tr '\\0' '#' "
	    "> %s", path[0]);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), -EISDIR);
	a.config = path[0];
	assert_int_equal(conf_resolve(&a, &cf, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: larger than 65536 bytes", path[0]);
	assert_string_equal(err, want);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	conf_env_set(saved_home, NULL, NULL, NULL);
	free(saved_home);
}
/* -------------------------------------------------------------------------- */
/* TLS: a PKI made by the openssl command, a server thread, real sockets. */

/*
 * The PKI: "Test CA" and "Other CA"; server certificates for localhost,
 * 127.0.0.1 and ::1 (valid, expired, not yet valid) and one for
 * other.example; client certificates (admin, expired, revoked and in the
 * CRL, norole, and stranger from Other CA); an encrypted copy of admin's
 * key; norole's fingerprint as the openssl command prints it.
 */
static const char tt_script[] =
    "set -e\n"
    "cat > ca.cnf <<'EOF'\n"
    "[ ca ]\n"
    "default_ca = test_ca\n"
    "[ test_ca ]\n"
    "dir = .\n"
    "database = index.txt\n"
    "new_certs_dir = .\n"
    "serial = serial\n"
    "certificate = ca.pem\n"
    "private_key = ca.key\n"
    "default_md = sha256\n"
    "default_days = 30\n"
    "default_crl_days = 30\n"
    "policy = any\n"
    "unique_subject = no\n"
    "[ any ]\n"
    "commonName = supplied\n"
    "[ req ]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[ dn ]\n"
    "CN = unused\n"
    "[ v3ca ]\n"
    "basicConstraints = critical, CA:true\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[ server ]\n"
    "basicConstraints = CA:false\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n"
    "[ other ]\n"
    "basicConstraints = CA:false\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:other.example\n"
    "[ client ]\n"
    "basicConstraints = CA:false\n"
    "extendedKeyUsage = clientAuth\n"
    "EOF\n"
    "touch index.txt\n"
    "echo 1000 > serial\n"
    "key() { openssl genpkey -algorithm EC -pkeyopt "
    "ec_paramgen_curve:P-256 -out \"$1.key\"; }\n"
    "csr() { key \"$1\"; openssl req -new -config ca.cnf -key \"$1.key\" "
    "-subj \"/CN=$2\" -out \"$1.csr\"; }\n"
    "sign() { openssl ca -batch -config ca.cnf -notext -extensions \"$2\" "
    "-in \"$1.csr\" -out \"$1.pem\" $3; }\n"
    "root() { key \"$1\"; openssl req -x509 -new -config ca.cnf "
    "-extensions v3ca -key \"$1.key\" -subj \"/CN=$2\" -days 30 "
    "-out \"$1.pem\"; }\n"
    "root ca 'Test CA'\n"
    "root other-ca 'Other CA'\n"
    "old='-startdate 20200101000000Z -enddate 20200201000000Z'\n"
    "csr server localhost; sign server server\n"
    "csr server-expired localhost; sign server-expired server \"$old\"\n"
    "csr server-future localhost\n"
    "sign server-future server '-startdate 20990101000000Z "
    "-enddate 21000101000000Z'\n"
    "csr server-other other.example; sign server-other other\n"
    "csr admin admin; sign admin client\n"
    "csr expired expired; sign expired client \"$old\"\n"
    "csr revoked revoked; sign revoked client\n"
    "csr norole norole; sign norole client\n"
    "csr stranger stranger\n"
    "openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey "
    "other-ca.key -CAcreateserial -days 30 -extfile ca.cnf -extensions "
    "client -out stranger.pem\n"
    "openssl ca -batch -config ca.cnf -revoke revoked.pem\n"
    "openssl ca -batch -config ca.cnf -gencrl -out crl.pem\n"
    "openssl pkey -in admin.key -aes256 -passout pass:secret "
    "-out encrypted.key\n"
    "openssl x509 -in norole.pem -noout -fingerprint -sha256 > norole.fp\n"
    "cat admin.pem admin.key > both.pem\n"
    "chmod 600 *.key both.pem\n"
    "mkdir home\n";

static char tt_dir[64];		/* the PKI; "" when it could not be made */
static char tt_fp[128];		/* norole.pem's SHA-256 fingerprint */
static bool tt_v6;		/* ::1 can be bound */

/* dir/name, in one of a few rotating buffers. */
static const char *
tt_file(const char *name)
{
	static char bufs[8][160];
	static unsigned int next;
	char *b = bufs[next++ % NITEMS(bufs)];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tt_dir, name);
	return b;
}

/* Make the PKI once; without the openssl command the TLS tests skip. */
static int
tt_setup(void **state)
{
	char cmd[256], *fp, *eq;
	FILE *f;
	int s;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
	    .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	signal(SIGPIPE, SIG_IGN);	/* the server writes to leavers */
	snprintf(tt_dir, sizeof(tt_dir), "/tmp/test_vmmctl_tls.XXXXXX");
	if (mkdtemp(tt_dir) == NULL)
		return -1;
	if ((f = fopen(tt_file("mk.sh"), "w")) == NULL)
		return -1;
	fputs(tt_script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && sh mk.sh > mk.log 2>&1", tt_dir);
	if (system(cmd) != 0) {
		print_message("TLS tests skipped: the PKI could not be made "
		    "with the openssl command; see %s/mk.log\n", tt_dir);
		tt_dir[0] = '\0';
		return 0;
	}
	/* "sha256 Fingerprint=AB:CD:..." */
	fp = tu_read_file(tt_file("norole.fp"), NULL);
	if (fp == NULL || (eq = strchr(fp, '=')) == NULL)
		return -1;
	eq[strcspn(eq, "\n")] = '\0';
	snprintf(tt_fp, sizeof(tt_fp), "SHA256:%s", eq + 1);
	free(fp);
	if ((s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		tt_v6 = bind(s, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
		close(s);
	}
	return 0;
}

static int
tt_teardown(void **state)
{
	char cmd[128];

	if (tt_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tt_dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

#define TT_SKIP_WITHOUT_PKI()						\
	do {								\
		if (tt_dir[0] == '\0')					\
			skip();						\
	} while (0)

/* What the server thread does with each connection. */
enum tt_mode {
	TT_RPC,		/* TLS, then answer requests (tt_methods) */
	TT_NOROLE,	/* TLS, then vmmd's refusal of a certificate */
	TT_PLAIN,	/* no TLS: a line of text */
	TT_STALL,	/* accept, then silence until the client leaves */
};

struct tt_srv {
	enum tt_mode mode;
	const char *name;	/* its certificate: name.pem and name.key */
	int version;		/* the highest TLS version; 0: 1.3 */
	int family;		/* 0: AF_INET */
	int nconn;		/* connections before the thread ends; 0: 1 */
	/* Set by tt_start. */
	int lfd;
	unsigned int port;
	char uri[64];		/* "tls://127.0.0.1:PORT" */
	SSL_CTX *ctx;
	pthread_t thread;
};

/* Send msg (stolen) as one line. */
static void
tt_send(SSL *ssl, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t n = strlen(text);
	char *line = malloc(n + 2);

	memcpy(line, text, n);
	line[n] = '\n';
	SSL_write(ssl, line, (int)n + 1);
	free(line);
	free(text);
	json_decref(msg);
}

static void
tt_notify(SSL *ssl, const char *method, json_t *params)
{
	tt_send(ssl, json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method",
	    method, "params", params));
}

static void
tt_result(SSL *ssl, json_t *id, json_t *result)
{
	tt_send(ssl, json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id,
	    "result", result));
}

/* console.data for name with n bytes of buf. */
static void
tt_console_data(SSL *ssl, const char *name, const void *buf, size_t n)
{
	char b64[B64_ENCODE_SIZE(4096)];

	b64_encode(buf, n, b64);
	tt_notify(ssl, "console.data", json_pack("{s:s,s:s}", "name", name,
	    "data", b64));
}

static void
tt_console_end(SSL *ssl, const char *name)
{
	tt_notify(ssl, "console.end", json_pack("{s:s,s:s}", "name", name,
	    "reason", "poweroff"));
}

/* The server thread's handlers: no cmocka asserts there (not thread-safe). */
typedef void tt_method_fn(SSL *, json_t *, json_t *);

/* A notification before the answer. */
static void
tt_version(SSL *ssl, json_t *id, json_t *params)
{
	tt_notify(ssl, "tick", json_pack("{s:i}", "n", 1));
	tt_result(ssl, id, json_pack("{s:s,s:i}", "version", "9.9", "api", 1));
}

static void
tt_list(SSL *ssl, json_t *id, json_t *params)
{
	tt_result(ssl, id, json_pack("[{s:s,s:s,s:s}]", "name", "web1",
	    "uuid", "00000000-0000-4000-8000-000000000001", "state",
	    "running"));
}

/* An answer of many TLS records. */
static void
tt_big(SSL *ssl, json_t *id, json_t *params)
{
	char *s = malloc(200001);

	memset(s, 'x', 200000);
	s[200000] = '\0';
	tt_result(ssl, id, json_pack("{s:s}", "data", s));
	free(s);
}

/* The answer, then later three notifications, one record each. */
static void
tt_push(SSL *ssl, json_t *id, json_t *params)
{
	int i;

	tt_result(ssl, id, json_null());
	usleep(50000);
	for (i = 1; i <= 3; i++)
		tt_notify(ssl, "pushed", json_pack("{s:i}", "n", i));
}

/* The scrollback; with follow, live output and the end. */
static void
tt_console_log(SSL *ssl, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));

	tt_result(ssl, id, json_pack("{s:s,s:i,s:i}", "data", "c2Nyb2xsZWQK",
	    "bytes", 9, "total", 9));
	if (json_is_true(json_object_get(params, "follow"))) {
		tt_console_data(ssl, name, "live\n", 5);
		tt_console_end(ssl, name);
	}
}

/* Attach; input is echoed, and a "q" in it powers the guest off. */
static void
tt_console(SSL *ssl, json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const char *in = json_string_value(json_object_get(params, "input"));
	char buf[B64_DECODE_MAX(B64_ENCODE_SIZE(4096))];
	ssize_t n;

	if (in == NULL) {
		tt_result(ssl, id, json_null());
		return;
	}
	/* No cmocka assert in this thread: a bad input just ends here. */
	if (strlen(in) >= B64_ENCODE_SIZE(4096) ||
	    (n = b64_decode(in, strlen(in), buf)) <= 0)
		return;
	tt_result(ssl, id, json_pack("{s:i}", "bytes", (int)n));
	tt_console_data(ssl, name, buf, (size_t)n);
	if (memchr(buf, 'q', (size_t)n) != NULL)
		tt_console_end(ssl, name);
}

static const struct {
	const char *method;
	tt_method_fn *fn;
} tt_methods[] = {
	{ "daemon.version", tt_version },
	{ "vm.list", tt_list },
	{ "test.big", tt_big },
	{ "test.push", tt_push },
	{ "vm.console_log", tt_console_log },
	{ "vm.console", tt_console },
};

static void
tt_request(SSL *ssl, const char *line)
{
	json_t *req = json_loads(line, 0, NULL), *id;
	const char *method;
	size_t i;

	method = json_string_value(json_object_get(req, "method"));
	id = json_object_get(req, "id");
	for (i = 0; method != NULL && i < NITEMS(tt_methods); i++)
		if (strcmp(method, tt_methods[i].method) == 0) {
			tt_methods[i].fn(ssl, id, json_object_get(req,
			    "params"));
			break;
		}
	if (method != NULL && i == NITEMS(tt_methods))
		tt_send(ssl, json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc",
		    "2.0", "id", id, "error", "code", -32601, "message",
		    "Method not found"));
	json_decref(req);
}

/* Answer each line until the client leaves. */
static void
tt_rpc(SSL *ssl)
{
	char buf[65536], *nl;
	size_t have = 0;
	int n;

	while ((n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 -
	    have))) > 0) {
		have += (size_t)n;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			*nl = '\0';
			tt_request(ssl, buf);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
		}
	}
}

/* What vmmd does with a certificate no tls-role matches. */
static void
tt_norole(SSL *ssl)
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	char fp[7 + 3 * EVP_MAX_MD_SIZE] = "SHA256";

	/* The client then sees no fingerprint: the test fails there. */
	if (peer == NULL || X509_digest(peer, EVP_sha256(), md, &n) != 1)
		n = 0;
	for (i = 0; i < n; i++)
		snprintf(fp + strlen(fp), sizeof(fp) - strlen(fp), ":%02X",
		    md[i]);
	X509_free(peer);
	tt_send(ssl, json_pack("{s:s,s:n,s:{s:i,s:s,s:{s:s,s:s,s:s}}}",
	    "jsonrpc", "2.0", "id", "error", "code", -32004, "message",
	    "no role for this certificate", "data", "name",
	    "permission_denied", "fingerprint", fp, "subject", "CN=norole"));
}

static void
tt_serve(struct tt_srv *s, int fd)
{
	char buf[4096];
	SSL *ssl;

	if (s->mode == TT_PLAIN) {
		(void)!recv(fd, buf, sizeof(buf), 0);
		(void)!write(fd, "hello, I speak no TLS\n", 22);
		shutdown(fd, SHUT_WR);
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		return;
	}
	if (s->mode == TT_STALL) {
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		return;
	}
	ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		if (s->mode == TT_NOROLE)
			tt_norole(ssl);
		else
			tt_rpc(ssl);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	ERR_clear_error();
	/*
	 * Linger as vmmd does: closing with the client's request unread
	 * would send a reset, and the reset could overtake our last words.
	 */
	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

static void *
tt_main(void *arg)
{
	struct tt_srv *s = arg;
	struct timeval tv = { 10, 0 };
	struct pollfd pfd;
	int i, fd;

	for (i = 0; i < (s->nconn > 0 ? s->nconn : 1); i++) {
		pfd = (struct pollfd){ s->lfd, POLLIN, 0 };
		if (poll(&pfd, 1, 10000) != 1)
			break;
		if ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			break;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		tt_serve(s, fd);
		close(fd);
	}
	return NULL;
}

/* The server's context: its certificate, client certificates required
 * from Test CA and checked against the CRL. */
static SSL_CTX *
tt_ctx(const struct tt_srv *s)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509_STORE *store;
	char name[64];

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, s->version), 1);
	snprintf(name, sizeof(name), "%s.pem", s->name);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx,
	    tt_file(name)), 1);
	snprintf(name, sizeof(name), "%s.key", s->name);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, tt_file(name),
	    SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_load_verify_file(ctx, tt_file("ca.pem")), 1);
	store = SSL_CTX_get_cert_store(ctx);
	assert_int_equal(X509_STORE_load_file(store, tt_file("crl.pem")), 1);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

/* Listen on the loopback address of s->family and start serving. */
static void
tt_start(struct tt_srv *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	if (s->family == 0)
		s->family = AF_INET;
	if (s->name == NULL)
		s->name = "server";
	if (s->version == 0)
		s->version = TLS1_3_VERSION;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)s->family;
	if (s->family == AF_INET)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		sin6->sin6_addr = in6addr_loopback;
	s->lfd = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&ss, &len),
	    0);
	s->port = ntohs(s->family == AF_INET ? sin->sin_port :
	    sin6->sin6_port);
	snprintf(s->uri, sizeof(s->uri), s->family == AF_INET ?
	    "tls://127.0.0.1:%u" : "tls://[::1]:%u", s->port);
	s->ctx = s->mode == TT_PLAIN || s->mode == TT_STALL ? NULL :
	    tt_ctx(s);
	assert_int_equal(pthread_create(&s->thread, NULL, tt_main, s), 0);
}

static void
tt_stop(struct tt_srv *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

/*
 * Connect to uri with the PKI's files (NULL: none) and call
 * daemon.version.  Returns what client_connect_tls or client_call
 * returned, with c->failure in failure.
 */
static int
tt_attempt(const char *uri, const char *ca, const char *cert,
    const char *key, int timeout_ms, char *failure, size_t len)
{
	struct client_tls_conf tc = { .timeout_ms = timeout_ms };
	json_t *result = NULL, *error = NULL;
	struct client_uri u;
	struct client c;
	char err[256], f[3][160];
	int rc;

	if (ca != NULL)
		tc.ca = strcpy(f[0], tt_file(ca));
	if (cert != NULL)
		tc.cert = strcpy(f[1], tt_file(cert));
	if (key != NULL)
		tc.key = strcpy(f[2], tt_file(key));
	client_init(&c);
	if (client_uri_parse(uri, &u, err, sizeof(err)) != 0)
		fail_msg("%s: %s", uri, err);
	rc = client_connect_tls(&c, &u, &tc);
	if (rc == 0)
		assert_string_equal(c.failure, "");
	else
		assert_int_equal(c.fd, -1);
	if (rc == 0 && (rc = client_call(&c, "daemon.version", json_object(),
	    &result, &error)) == 0) {
		assert_null(error);
		assert_string_equal(json_string_value(json_object_get(result,
		    "version")), "9.9");
	}
	json_decref(result);
	json_decref(error);
	snprintf(failure, len, "%s", c.failure);
	client_close(&c);
	assert_null(c.tls);
	return rc;
}

/* tmpl with "@URI@" and "@DIR@" replaced. */
static void
tt_subst(const char *tmpl, const char *uri, char *out, size_t len)
{
	size_t o = 0;

	while (*tmpl != '\0' && o + 1 < len) {
		if (strncmp(tmpl, "@URI@", 5) == 0) {
			o += (size_t)snprintf(out + o, len - o, "%s", uri);
			tmpl += 5;
		} else if (strncmp(tmpl, "@DIR@", 5) == 0) {
			o += (size_t)snprintf(out + o, len - o, "%s", tt_dir);
			tmpl += 5;
		} else if (strncmp(tmpl, "@FP@", 4) == 0) {
			o += (size_t)snprintf(out + o, len - o, "%s", tt_fp);
			tmpl += 4;
		} else
			out[o++] = *tmpl++;
	}
	out[o < len ? o : len - 1] = '\0';
}
/* A good session: notifications, a long answer, output polled for. */
static void
tt_session(const char *uri)
{
	struct client_tls_conf tc = { .ca = tt_file("ca.pem"),
	    .cert = tt_file("admin.pem"), .key = tt_file("admin.key") };
	json_t *result, *error;
	struct client_uri u;
	struct client c;
	struct seen s;
	struct pollfd pfd;
	char err[256];
	int i;

	client_for_test(&c, &s);
	rpc_reader_free(&c.rd);
	assert_int_equal(client_uri_parse(uri, &u, err, sizeof(err)), 0);
	if (client_connect_tls(&c, &u, &tc) != 0)
		fail_msg("%s", c.failure);
	assert_string_equal(c.path, u.name);
	/* Blocking, as over a UNIX socket. */
	assert_int_equal(fcntl(c.fd, F_GETFL) & O_NONBLOCK, 0);

	assert_int_equal(client_call(&c, "daemon.version", json_object(),
	    &result, &error), 0);
	assert_null(error);
	assert_string_equal(json_string_value(json_object_get(result,
	    "version")), "9.9");
	json_decref(result);
	assert_string_equal(s.log, "N tick {\"n\":1};");

	/* 200000 bytes: a dozen records and more. */
	assert_int_equal(client_call(&c, "test.big", NULL, &result, &error),
	    0);
	assert_int_equal(json_string_length(json_object_get(result, "data")),
	    200000);
	json_decref(result);

	/* What comes later is seen by poll on client_fd. */
	s.log[0] = '\0';
	assert_int_equal(client_call(&c, "test.push", NULL, &result, &error),
	    0);
	assert_true(json_is_null(result));
	json_decref(result);
	for (i = 0; i < 100 && strstr(s.log, "{\"n\":3}") == NULL; i++) {
		pfd = (struct pollfd){ client_fd(&c), POLLIN, 0 };
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		assert_int_equal(client_read(&c), 0);
		assert_int_equal(client_tls_pending(&c), 0);
	}
	assert_string_equal(s.log, "N pushed {\"n\":1};N pushed {\"n\":2};"
	    "N pushed {\"n\":3};");

	/* An error answer is an answer. */
	assert_int_equal(client_call(&c, "no.such", NULL, &result, &error),
	    0);
	assert_int_equal(json_integer_value(json_object_get(error, "code")),
	    -32601);
	json_decref(error);
	client_close(&c);
	assert_int_equal(c.fd, -1);
	assert_null(c.tls);
}

static void
test_tls_session(void **state)
{
	static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	struct tt_srv srv;
	char uri[64];
	size_t i;

	TT_SKIP_WITHOUT_PKI();
	for (i = 0; i < NITEMS(versions); i++) {
		/* By address, and by name: SNI and a DNS SAN. */
		srv = (struct tt_srv){ .mode = TT_RPC,
		    .version = versions[i], .nconn = 2 };
		tt_start(&srv);
		tt_session(srv.uri);
		snprintf(uri, sizeof(uri), "tls://localhost:%u", srv.port);
		tt_session(uri);
		tt_stop(&srv);
		if (!tt_v6)
			continue;
		srv = (struct tt_srv){ .mode = TT_RPC, .version = versions[i],
		    .family = AF_INET6 };
		tt_start(&srv);
		tt_session(srv.uri);
		tt_stop(&srv);
	}
}

/* A case of test_tls_failures; TT_NONE: no server, files only. */
#define TT_NONE	(-1)

struct tt_case {
	int mode;		/* enum tt_mode, or TT_NONE */
	const char *srv;	/* the server's certificate, NULL: server */
	const char *host;	/* NULL: 127.0.0.1 */
	const char *ca, *cert, *key;
	int timeout_ms;
	int rc;
	const char *want;	/* @URI@, @DIR@ and @FP@ replaced */
};

static const struct tt_case tt_cases[] = {
	{ TT_RPC, NULL, NULL, "ca.pem", "admin.pem", "admin.key", 0, 0, "" },
	/* The key in the certificate's file, by name, by address. */
	{ TT_RPC, NULL, "localhost", "ca.pem", "both.pem", NULL, 0, 0, "" },
	{ TT_NONE, NULL, NULL, "ca.pem", "admin.pem", NULL, 0, -EINVAL,
	    "@URI@: the key file @DIR@/admin.pem holds no PEM private key "
	    "(encrypted keys are not supported)" },
	/* The server's certificate. */
	{ TT_RPC, NULL, NULL, "other-ca.pem", "admin.pem", "admin.key", 0,
	    -EKEYREJECTED, "@URI@: the server's certificate is not from the "
	    "CA in @DIR@/other-ca.pem (it comes from CN=Test CA)" },
	{ TT_RPC, "server-expired", NULL, "ca.pem", "admin.pem", "admin.key",
	    0, -EKEYEXPIRED, "@URI@: the server's certificate expired on "
	    "2020-02-01 00:00:00 UTC" },
	{ TT_RPC, "server-future", NULL, "ca.pem", "admin.pem", "admin.key",
	    0, -EKEYREJECTED, "@URI@: the server's certificate is not valid "
	    "before 2099-01-01 00:00:00 UTC" },
	{ TT_RPC, "server-other", NULL, "ca.pem", "admin.pem", "admin.key",
	    0, -EKEYREJECTED, "@URI@: the server's certificate is not for "
	    "127.0.0.1 (it names other.example)" },
	{ TT_RPC, "server-other", "localhost", "ca.pem", "admin.pem",
	    "admin.key", 0, -EKEYREJECTED, "@URI@: the server's certificate "
	    "is not for localhost (it names other.example)" },
	/* Ours, refused by the server: an alert (after TLS 1.3's handshake). */
	{ TT_RPC, NULL, NULL, "ca.pem", "expired.pem", "expired.key", 0,
	    -EKEYEXPIRED, "@URI@: the server refused our certificate "
	    "@DIR@/expired.pem: it expired on 2020-02-01 00:00:00 UTC" },
	{ TT_RPC, NULL, NULL, "ca.pem", "revoked.pem", "revoked.key", 0,
	    -EKEYREVOKED, "@URI@: the server refused our certificate "
	    "@DIR@/revoked.pem: it is revoked" },
	{ TT_RPC, NULL, NULL, "ca.pem", "stranger.pem", "stranger.key", 0,
	    -EKEYREJECTED, "@URI@: the server refused our certificate "
	    "@DIR@/stranger.pem: it is not from a CA the server trusts" },
	{ TT_RPC, NULL, NULL, "ca.pem", NULL, NULL, 0, -ENOKEY,
	    "@URI@: the server requires a client certificate: give --cert "
	    "and --key, or cert and key in vmmctl.conf" },
	/* Accepted, but no role. */
	{ TT_NOROLE, NULL, NULL, "ca.pem", "norole.pem", "norole.key", 0,
	    -EACCES, "@URI@: the server knows our certificate "
	    "@DIR@/norole.pem (@FP@) but gives it no role" },
	/* Not a TLS server; one that says nothing. */
	{ TT_PLAIN, NULL, NULL, "ca.pem", "admin.pem", "admin.key", 0,
	    -EPROTO, "@URI@: the server does not speak TLS" },
	{ TT_STALL, NULL, NULL, "ca.pem", "admin.pem", "admin.key", 300,
	    -ETIMEDOUT, "@URI@: no TLS handshake from the server within "
	    "0.3 s" },
	/* Our files. */
	{ TT_NONE, NULL, NULL, "missing.pem", NULL, NULL, 0, -ENOENT,
	    "@URI@: cannot read the CA file @DIR@/missing.pem: No such file "
	    "or directory" },
	{ TT_NONE, NULL, NULL, "admin.csr", NULL, NULL, 0, -EINVAL,
	    "@URI@: the CA file @DIR@/admin.csr holds no PEM certificate" },
	{ TT_NONE, NULL, NULL, "ca.pem", "missing.pem", "admin.key", 0,
	    -ENOENT, "@URI@: cannot read the certificate file "
	    "@DIR@/missing.pem: No such file or directory" },
	{ TT_NONE, NULL, NULL, "ca.pem", "admin.key", "admin.key", 0, -EINVAL,
	    "@URI@: the certificate file @DIR@/admin.key holds no PEM "
	    "certificate" },
	{ TT_NONE, NULL, NULL, "ca.pem", "admin.pem", "missing.key", 0,
	    -ENOENT, "@URI@: cannot read the key file @DIR@/missing.key: No "
	    "such file or directory" },
	{ TT_NONE, NULL, NULL, "ca.pem", "admin.pem", "encrypted.key", 0,
	    -EINVAL, "@URI@: the key file @DIR@/encrypted.key holds no PEM "
	    "private key (encrypted keys are not supported)" },
	{ TT_NONE, NULL, NULL, "ca.pem", "admin.pem", "admin.pem", 0, -EINVAL,
	    "@URI@: the key file @DIR@/admin.pem holds no PEM private key "
	    "(encrypted keys are not supported)" },
	{ TT_NONE, NULL, NULL, "ca.pem", "admin.pem", "norole.key", 0,
	    -EINVAL, "@URI@: the key in @DIR@/norole.key does not belong to "
	    "the certificate in @DIR@/admin.pem" },
};

/* One case against a server that speaks at most version. */
static void
tt_case_run(const struct tt_case *t, size_t i, int version)
{
	struct tt_srv srv = { .mode = (enum tt_mode)t->mode, .name = t->srv,
	    .version = version };
	char uri[64], want[1024], got[CLIENT_FAILURE_MAX];
	int rc;

	if (t->mode != TT_NONE) {
		tt_start(&srv);
		snprintf(uri, sizeof(uri), "tls://%s:%u", t->host != NULL ?
		    t->host : "127.0.0.1", srv.port);
	} else
		snprintf(uri, sizeof(uri), "tls://127.0.0.1:1");
	rc = tt_attempt(uri, t->ca, t->cert, t->key, t->timeout_ms, got,
	    sizeof(got));
	if (t->mode != TT_NONE)
		tt_stop(&srv);
	tt_subst(t->want, uri, want, sizeof(want));
	if (rc != t->rc || strcmp(got, want) != 0)
		fail_msg("case %zu (TLS %s): got %d \"%s\", want %d \"%s\"", i,
		    version == TLS1_2_VERSION ? "1.2" : "1.3", rc, got, t->rc,
		    want);
}

/* Each failure, its errno and its exact sentence, over TLS 1.2 and 1.3. */
static void
test_tls_failures(void **state)
{
	size_t i;

	TT_SKIP_WITHOUT_PKI();
	for (i = 0; i < NITEMS(tt_cases); i++) {
		tt_case_run(&tt_cases[i], i, TLS1_3_VERSION);
		if (tt_cases[i].mode != TT_NONE)
			tt_case_run(&tt_cases[i], i, TLS1_2_VERSION);
	}
}

/* Refused, no answer (a full accept queue), no such host. */
static void
test_tls_connect_errors(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	char uri[64], want[256], got[CLIENT_FAILURE_MAX];
	int lfd, fill[3], i;
	unsigned int port;

	TT_SKIP_WITHOUT_PKI();
	/* A port just closed. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(lfd);
	snprintf(uri, sizeof(uri), "tls://127.0.0.1:%u", port);
	assert_int_equal(tt_attempt(uri, "ca.pem", "admin.pem", "admin.key",
	    0, got, sizeof(got)), -ECONNREFUSED);
	snprintf(want, sizeof(want), "%s: cannot connect to 127.0.0.1 port "
	    "%u: Connection refused", uri, port);
	assert_string_equal(got, want);

	/*
	 * A listener whose accept queue is full: Linux drops the SYN, so the
	 * connection is never made.
	 */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_port = 0;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	len = sizeof(sin);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	for (i = 0; i < 3; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(100000);
	snprintf(uri, sizeof(uri), "tls://127.0.0.1:%u", port);
	assert_int_equal(tt_attempt(uri, "ca.pem", "admin.pem", "admin.key",
	    250, got, sizeof(got)), -ETIMEDOUT);
	snprintf(want, sizeof(want), "%s: cannot connect to 127.0.0.1 port "
	    "%u: no answer within 0.25 s", uri, port);
	assert_string_equal(got, want);
	for (i = 0; i < 3; i++)
		close(fill[i]);
	close(lfd);

	/* .invalid never resolves (RFC 6761); the resolver says why. */
	assert_int_equal(tt_attempt("tls://nohost.invalid", "ca.pem",
	    "admin.pem", "admin.key", 0, got, sizeof(got)), -EHOSTUNREACH);
	assert_true(strncmp(got, "tls://nohost.invalid:8443: cannot resolve "
	    "nohost.invalid: ", 58) == 0);
	assert_true(strlen(got) > 58);
}

/* -------------------------------------------------------------------------- */
/* The vmmctl binary over TLS. */

struct tt_run {
	int status;		/* the exit status, or 128 + a signal */
	char out[8192], err[8192];
};

/* All of fd from its start, NUL-terminated. */
static void
tt_slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

/*
 * Run build/vmmctl with the arguments of fmt (split at blanks, @URI@ and
 * @DIR@ replaced by uri and the PKI), env added to PATH and HOME (the
 * PKI's home, empty), stdin in (NULL: empty).
 */
static void
tt_vmmctl(struct tt_run *r, const char *uri, const char *const *env,
    const char *in, const char *args)
{
	char line[2048], *argv[32], *envp[16], home[200], *p;
	int argc = 0, envc = 0, out, err, inp[2], st;
	pid_t pid;

	tt_subst(args, uri != NULL ? uri : "", line, sizeof(line));
	argv[argc++] = (char *)BUILD_DIR "/vmmctl";
	for (p = strtok(line, " "); p != NULL; p = strtok(NULL, " "))
		argv[argc++] = p;
	argv[argc] = NULL;
	snprintf(home, sizeof(home), "HOME=%s/home", tt_dir);
	envp[envc++] = (char *)"PATH=/usr/bin:/bin";
	envp[envc++] = home;
	while (env != NULL && *env != NULL)
		envp[envc++] = (char *)(uintptr_t)*env++;
	envp[envc] = NULL;
	out = memfd_create("out", MFD_CLOEXEC);
	err = memfd_create("err", MFD_CLOEXEC);
	assert_int_equal(pipe2(inp, O_CLOEXEC), 0);
	if ((pid = fork()) == 0) {
		dup2(inp[0], 0);
		dup2(out, 1);
		dup2(err, 2);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, envp);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	assert_true(pid > 0);
	close(inp[0]);
	if (in != NULL)
		assert_int_equal(write(inp[1], in, strlen(in)),
		    (ssize_t)strlen(in));
	close(inp[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	tt_slurp(out, r->out, sizeof(r->out));
	tt_slurp(err, r->err, sizeof(r->err));
	close(out);
	close(err);
}

/* A run against a fresh server (mode, certificate name; NULL: none). */
static void
tt_check(enum tt_mode mode, const char *srv_name, const char *const *env,
    const char *in, const char *args, int status, const char *out,
    const char *err)
{
	struct tt_srv srv = { .mode = mode, .name = srv_name };
	char want_out[1024], want_err[1024];
	struct tt_run r;
	const char *uri = "tls://127.0.0.1:1";

	if (srv_name != NULL) {
		tt_start(&srv);
		uri = srv.uri;
	}
	tt_vmmctl(&r, uri, env, in, args);
	if (srv_name != NULL)
		tt_stop(&srv);
	tt_subst(out, uri, want_out, sizeof(want_out));
	tt_subst(err, uri, want_err, sizeof(want_err));
	if (r.status != status || strcmp(r.out, want_out) != 0 ||
	    strcmp(r.err, want_err) != 0)
		fail_msg("vmmctl %s: status %d, want %d\nstdout: %s\nwant: "
		    "%s\nstderr: %s\nwant: %s", args, r.status, status, r.out,
		    want_out, r.err, want_err);
}

#define TT_FILES	"--ca @DIR@/ca.pem --cert @DIR@/admin.pem " \
			"--key @DIR@/admin.key"

/* vmmctl list with nothing but $XDG_CONFIG_HOME/vmm/vmmctl.conf. */
static void
tt_config_file(void)
{
	struct tt_srv srv = { .mode = TT_RPC };
	char xdg[200], mk[256];
	const char *env[] = { xdg, NULL };
	struct tt_run r;
	FILE *f;

	snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/xdg", tt_dir);
	snprintf(mk, sizeof(mk), "mkdir -p %s/xdg/vmm", tt_dir);
	assert_int_equal(system(mk), 0);
	tt_start(&srv);
	assert_non_null(f = fopen(tt_file("xdg/vmm/vmmctl.conf"), "w"));
	fprintf(f, "# test\nconnect \"%s\"\nca ../../ca.pem\n"
	    "cert ../../admin.pem\nkey ../../admin.key\n", srv.uri);
	fclose(f);
	tt_vmmctl(&r, srv.uri, env, NULL, "list");
	tt_stop(&srv);
	if (r.status != 0 || strcmp(r.out, "NAME  STATE    UUID\n"
	    "web1  running  00000000-0000-4000-8000-000000000001\n") != 0 ||
	    r.err[0] != '\0')
		fail_msg("list by the config file: %d\n%s%s", r.status, r.out,
		    r.err);
}

static void
test_vmmctl_tls(void **state)
{
	char cfg[200], open_key[200], cmd[512];
	const char *env_cfg[] = { cfg, NULL };
	FILE *f;

	TT_SKIP_WITHOUT_PKI();
	/* Everything on the command line. */
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ " TT_FILES
	    " version", 0, "vmmctl " VMMCTL_VERSION " (api 1)\n"
	    "vmmd 9.9 (api 1)\n", "");
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ " TT_FILES
	    " list --json", 0, "[\n  {\n    \"name\": \"web1\",\n    "
	    "\"uuid\": \"00000000-0000-4000-8000-000000000001\",\n    "
	    "\"state\": \"running\"\n  }\n]\n", "");
	/* The console, typed into and watched, over TLS. */
	tt_check(TT_RPC, "server", NULL, "hello q\n", "--connect @URI@ "
	    TT_FILES " console vm1", 0, "hello q\n",
	    "vmmctl: console vm1: the VM ended (poweroff)\n");
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ " TT_FILES
	    " console vm1 --watch", 0, "scrolled\nlive\n",
	    "vmmctl: console vm1: the VM ended (poweroff)\n");
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ " TT_FILES
	    " logs vm1 --follow", 0, "scrolled\nlive\n",
	    "vmmctl: logs vm1: the VM ended (poweroff)\n");

	/* Refusals: exit 1 for no role, 3 for the rest. */
	tt_check(TT_NOROLE, "server", NULL, NULL, "--connect @URI@ --ca "
	    "@DIR@/ca.pem --cert @DIR@/norole.pem --key @DIR@/norole.key "
	    "list", 1, "", "vmmctl: @URI@: the server knows our certificate "
	    "@DIR@/norole.pem (@FP@) but gives it no role\n");
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ --ca "
	    "@DIR@/other-ca.pem --cert @DIR@/admin.pem --key @DIR@/admin.key "
	    "list", 3, "", "vmmctl: @URI@: the server's certificate is not "
	    "from the CA in @DIR@/other-ca.pem (it comes from CN=Test CA)\n");
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ --ca "
	    "@DIR@/ca.pem --cert @DIR@/expired.pem --key @DIR@/expired.key "
	    "version --json", 3, "", "vmmctl: @URI@: the server refused our "
	    "certificate @DIR@/expired.pem: it expired on 2020-02-01 "
	    "00:00:00 UTC\n");
	tt_check(TT_RPC, "server-other", NULL, NULL, "--connect @URI@ "
	    TT_FILES " list", 3, "", "vmmctl: @URI@: the server's "
	    "certificate is not for 127.0.0.1 (it names other.example)\n");
	/* Usage: no CA, a key alone. */
	tt_check(TT_RPC, NULL, NULL, NULL, "--connect @URI@ list", 2, "",
	    "vmmctl: @URI@: no CA to check the server against: give --ca, "
	    "or ca in @DIR@/home/.config/vmm/vmmctl.conf\n");
	tt_check(TT_RPC, NULL, NULL, NULL, "--connect @URI@ --ca x --key y "
	    "list", 2, "", "vmmctl: --key needs --cert\n");

	/* The config file, paths relative to it; a key others may read. */
	tt_config_file();
	snprintf(open_key, sizeof(open_key), "%s", tt_file("open.key"));
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 644 %s",
	    tt_file("admin.key"), open_key, open_key);
	assert_int_equal(system(cmd), 0);
	tt_check(TT_RPC, "server", NULL, NULL, "--connect @URI@ --ca "
	    "@DIR@/ca.pem --cert @DIR@/admin.pem --key @DIR@/open.key "
	    "version --json", 0,
	    "{\n  \"version\": \"9.9\",\n  \"api\": 1\n}\n",
	    "vmmctl: warning: the key file @DIR@/open.key is open to group or "
	    "others (mode 0644); chmod 600 @DIR@/open.key\n");
	/* $VMMCTL_CONFIG: a mistake in it is a usage error. */
	snprintf(cfg, sizeof(cfg), "VMMCTL_CONFIG=%s", tt_file("bad.conf"));
	assert_non_null(f = fopen(tt_file("bad.conf"), "w"));
	fprintf(f, "ca ca.pem\nconect tls://h\n");
	fclose(f);
	tt_check(TT_RPC, NULL, env_cfg, NULL, "list", 2, "",
	    "vmmctl: @DIR@/bad.conf:2: unknown keyword \"conect\"\n");
	tt_check(TT_RPC, NULL, NULL, NULL, "--config @DIR@/none.conf list", 2,
	    "", "vmmctl: cannot read @DIR@/none.conf: No such file or "
	    "directory\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_args_posixly_correct),
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_synopsis),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_esc_cases),
		cmocka_unit_test(test_esc_random),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_value),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_stats_host_version),
		cmocka_unit_test(test_print_error),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_client_lines),
		cmocka_unit_test(test_client_splits),
		cmocka_unit_test(test_client_call),
		cmocka_unit_test(test_client_connect),
		cmocka_unit_test(test_uri_tls),
		cmocka_unit_test(test_conf_parse),
		cmocka_unit_test(test_conf_resolve),
		cmocka_unit_test(test_tls_session),
		cmocka_unit_test(test_tls_failures),
		cmocka_unit_test(test_tls_connect_errors),
		cmocka_unit_test(test_vmmctl_tls),
	};

	return cmocka_run_group_tests(tests, tt_setup, tt_teardown);
}
