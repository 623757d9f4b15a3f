/*
 * test_vmmctl.c: vmmctl's own parts, without a daemon.  The command line
 * (table-driven: every command, option, value check and usage error with
 * its exact message, under POSIXLY_CORRECT too), the URI forms, the "~."
 * escape machine (exact cases, every split of each, and a randomized
 * loop against an independent model; VMMCTL_SEED replays it), the output
 * formats and printers (exact text), the error printer, the command table
 * against proto's method table, and the client's message handling over a
 * real socketpair (notifications interleaved with responses, every split
 * of the input, malformed messages).  Integration against a real vmmd is
 * tested elsewhere.
 *
 * vmmctl's sources are compiled in here, all but main.c, so that their
 * static functions can be tested too.
 */

#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
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
#include "../vmmctl/console.c"
#include "../vmmctl/print.c"

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
	assert_int_equal(n, NITEMS(cases) - 1);	/* console is there twice */
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
		{ "tls://host:5000", -ENOTSUP, "tls:// is not supported yet" },
		{ "tls://", -ENOTSUP, "tls:// is not supported yet" },
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
