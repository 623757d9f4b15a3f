/*
 * test_config.c: the vmmd.conf parser (vmmd/config.c).  The defaults
 * exactly; etc/vmmd.conf, which must spell out those defaults, and the
 * manual, which must document every keyword; every keyword's valid and
 * invalid values (table-driven, exact messages); golden diagnostics
 * (tests/golden/config/NAME.conf with the exact error lines in NAME.err,
 * empty for a valid file); the printed form and its round trip; I/O
 * failures; and a randomized loop over mutated files (CONFIG_SEED replays
 * it).  No KVM needed.
 */

#include <dirent.h>
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

#include "testutil.h"

#include "config.h"

#ifndef SRC_DIR
#define SRC_DIR "."
#endif

#define GOLDEN_DIR	SRC_DIR "/tests/golden/config"
#define GOLDEN_MIN	10		/* error cases the directory holds */
#define EXAMPLE		SRC_DIR "/etc/vmmd.conf"
#define MANUAL		SRC_DIR "/vmmd/vmmd.conf.5"
#define NAME		"t.conf"	/* the file name of parsed strings */
#define PROP_ITERS	20000
#define KEYS_MAX	32

/* -------------------------------------------------------------------------- */
/* Helpers. */

/*
 * The errors, one per line, each without the prefix strip (when not NULL
 * and present); the caller frees the text.
 */
static char *
errors_text(const struct config_errors *errs, const char *strip)
{
	char *buf;
	size_t len, i, off = 0, skip, cap = 1;

	for (i = 0; i < errs->n; i++)
		cap += strlen(errs->v[i].msg) + 1;
	buf = malloc(cap);
	assert_non_null(buf);
	for (i = 0; i < errs->n; i++) {
		skip = 0;
		if (strip != NULL &&
		    strncmp(errs->v[i].msg, strip, strlen(strip)) == 0)
			skip = strlen(strip);
		len = strlen(errs->v[i].msg + skip);
		memcpy(buf + off, errs->v[i].msg + skip, len);
		off += len;
		buf[off++] = '\n';
	}
	buf[off] = '\0';
	return buf;
}

/* config_print's output, terminated; the caller frees it. */
static char *
printed(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	assert_int_equal(config_print(cfg, fp), 0);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/* Parsing cfg's printed form gives cfg back. */
static void
assert_round_trip(const struct config *cfg)
{
	struct config_errors errs;
	struct config back;
	char *text;
	int rc;

	text = printed(cfg);
	rc = config_parse(NAME, text, strlen(text), &back, &errs);
	if (rc != 0 || !config_equal(cfg, &back)) {
		print_error("printed:\n%s", text);
		if (errs.n > 0)
			print_error("first error: %s\n", errs.v[0].msg);
		fail_msg("round trip failed (rc %d)", rc);
	}
	config_errors_free(&errs);
	config_free(&back);
	free(text);
}

/*
 * The keywords, from the printed defaults (config_print writes every one,
 * first word of each line): their number, names stored in keys.
 */
static size_t
keywords(char keys[][32])
{
	struct config def;
	char *text, *line, *save = NULL;
	size_t n = 0;

	config_defaults(&def);
	text = printed(&def);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_true(n < KEYS_MAX);
		assert_true(strcspn(line, " ") < 32);
		snprintf(keys[n++], 32, "%.*s", (int)strcspn(line, " "), line);
	}
	free(text);
	return n;
}

/* -------------------------------------------------------------------------- */
/* Defaults, the example file and the manual. */

static void
test_defaults(void **state)
{
	struct config c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.socket, "/run/vmm/vmmd.sock");
	assert_int_equal(c.socket_mode, 0660);
	assert_string_equal(c.socket_group, "vmm");
	assert_string_equal(c.readonly_socket, "/run/vmm/vmmd.ro.sock");
	assert_string_equal(c.state_dir, "/var/lib/vmm");
	assert_string_equal(c.run_dir, "/run/vmm");
	assert_string_equal(c.worker, "/usr/local/libexec/vmm-worker");
	assert_string_equal(c.worker_user, "_vmm");
	assert_int_equal(c.max_clients, 256);
	assert_int_equal(c.max_inflight, 64);
	assert_int_equal(c.max_message, 1048576);
	assert_int_equal(c.idle_timeout, 300);
	assert_int_equal(c.handshake_timeout, 10);
	assert_int_equal(c.console_buffer, 65536);
	assert_false(c.stop_vms_on_exit);
	assert_int_equal(c.log_level, CONFIG_LOG_INFO);
	assert_string_equal(config_log_level_name(CONFIG_LOG_WARN), "warn");
	assert_string_equal(config_log_level_name(CONFIG_LOG_DEBUG), "debug");
	assert_null(config_log_level_name(CONFIG_LOG_COUNT));
	assert_round_trip(&c);
}

/* An empty file, and one of comments and blanks only, are the defaults. */
static void
test_empty(void **state)
{
	static const char *const texts[] = {
		"", "\n", "# nothing\n", "  \t\n\n# x \"y\n   # z", "\r\n",
	};
	struct config_errors errs;
	struct config c, def;
	size_t i;

	(void)state;
	config_defaults(&def);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(config_parse(NAME, texts[i],
		    strlen(texts[i]), &c, &errs), 0);
		assert_int_equal(errs.n, 0);
		assert_true(config_equal(&c, &def));
		config_errors_free(&errs);
	}
}

/* etc/vmmd.conf sets every keyword, to its default. */
static void
test_example(void **state)
{
	char keys[KEYS_MAX][32], pat[40], *text;
	struct config_errors errs;
	struct config c, def;
	size_t i, n;
	int rc;

	(void)state;
	rc = config_load(EXAMPLE, &c, &errs);
	if (rc != 0)
		fail_msg("%s: %d, %s", EXAMPLE, rc,
		    errs.n > 0 ? errs.v[0].msg : "no error");
	config_defaults(&def);
	assert_true(config_equal(&c, &def));
	config_errors_free(&errs);

	text = tu_read_file(EXAMPLE, NULL);
	assert_non_null(text);
	n = keywords(keys);
	assert_int_equal(n, 23);
	for (i = 0; i < n; i++) {
		snprintf(pat, sizeof(pat), "\n%s ", keys[i]);
		if (strstr(text, pat) == NULL)
			fail_msg("%s does not set %s", EXAMPLE, keys[i]);
	}
	free(text);
}

/* vmmd.conf.5 documents every keyword. */
static void
test_manual(void **state)
{
	char keys[KEYS_MAX][32], pat[48], *text;
	size_t i, n;

	(void)state;
	text = tu_read_file(MANUAL, NULL);
	assert_non_null(text);
	n = keywords(keys);
	for (i = 0; i < n; i++) {
		snprintf(pat, sizeof(pat), "\n.It Ic %s ", keys[i]);
		if (strstr(text, pat) == NULL)
			fail_msg("%s does not document %s", MANUAL, keys[i]);
	}
	free(text);
}

/* -------------------------------------------------------------------------- */
/* Valid values: the line, and the keyword's line in the printed form. */

struct valid_case {
	const char *text;
	const char *want;
};

static const struct valid_case valid_cases[] = {
	{ "socket \"/run/x.sock\"", "socket \"/run/x.sock\"" },
	{ "socket /run/x.sock", "socket \"/run/x.sock\"" },
	{ "socket \"/a b/#c\"", "socket \"/a b/#c\"" },
	{ "socket /", "socket \"/\"" },
	{ "socket \"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
	  "socket \"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"" },
	{ "socket-mode 0600", "socket-mode 0600" },
	{ "socket-mode 0", "socket-mode 0000" },
	{ "socket-mode 775", "socket-mode 0775" },
	{ "socket-mode 0770", "socket-mode 0770" },
	{ "socket-group wheel", "socket-group \"wheel\"" },
	{ "socket-group \"_vmm-ops2\"", "socket-group \"_vmm-ops2\"" },
	{ "socket-group abcdefghijabcdefghijabcdefghij01",
	  "socket-group \"abcdefghijabcdefghijabcdefghij01\"" },
	{ "readonly-socket /tmp/ro", "readonly-socket \"/tmp/ro\"" },
	{ "state-dir /srv/vmm", "state-dir \"/srv/vmm\"" },
	{ "run-dir \"/run/vmm2\"", "run-dir \"/run/vmm2\"" },
	{ "worker /usr/libexec/vmm-worker",
	  "worker \"/usr/libexec/vmm-worker\"" },
	{ "worker-user nobody", "worker-user \"nobody\"" },
	{ "max-clients 1", "max-clients 1" },
	{ "max-clients 65536", "max-clients 65536" },
	{ "max-clients 000256", "max-clients 256" },
	{ "max-clients \"300\"", "max-clients 300" },
	{ "max-inflight 1", "max-inflight 1" },
	{ "max-inflight 4096", "max-inflight 4096" },
	{ "max-message 1024", "max-message 1024" },
	{ "max-message 67108864", "max-message 67108864" },
	{ "idle-timeout 0", "idle-timeout 0" },
	{ "idle-timeout 86400", "idle-timeout 86400" },
	{ "handshake-timeout 1", "handshake-timeout 1" },
	{ "handshake-timeout 300", "handshake-timeout 300" },
	{ "console-buffer 4096", "console-buffer 4096" },
	{ "console-buffer 16777216", "console-buffer 16777216" },
	{ "stop-vms-on-exit yes", "stop-vms-on-exit yes" },
	{ "stop-vms-on-exit no", "stop-vms-on-exit no" },
	{ "log-level debug", "log-level debug" },
	{ "log-level warn", "log-level warn" },
	{ "log-level info", "log-level info" },
	/* Blanks, comments and line ends. */
	{ "\t max-clients\t\t7   # seven\r", "max-clients 7" },
	{ "max-clients 8#eight", "max-clients 8" },
	{ "socket \"/s\"# x", "socket \"/s\"" },
	{ "max-clients 9\n", "max-clients 9" },
};

static void
test_valid(void **state)
{
	struct config_errors errs;
	struct config c;
	char *text, want[256];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *v = &valid_cases[i];

		rc = config_parse(NAME, v->text, strlen(v->text), &c, &errs);
		if (rc != 0)
			fail_msg("\"%s\": %d, %s", v->text, rc,
			    errs.n > 0 ? errs.v[0].msg : "no error");
		text = printed(&c);
		snprintf(want, sizeof(want), "\n%s\n", v->want);
		if (strstr(text, want) == NULL && strncmp(text, want + 1,
		    strlen(want + 1)) != 0)
			fail_msg("\"%s\": printed\n%s", v->text, text);
		assert_round_trip(&c);
		free(text);
		config_errors_free(&errs);
	}
}

/* A few values checked in the struct itself. */
static void
test_valid_values(void **state)
{
	static const char text[] =
	    "socket-mode 0640\nmax-message 2048\nstop-vms-on-exit yes\n"
	    "log-level debug\nworker \"/opt/w w\"\nsocket-group \"_g\"\n";
	struct config_errors errs;
	struct config c;

	(void)state;
	assert_int_equal(config_parse(NAME, text, strlen(text), &c, &errs),
	    0);
	assert_int_equal(c.socket_mode, 0640);
	assert_int_equal(c.max_message, 2048);
	assert_true(c.stop_vms_on_exit);
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	assert_string_equal(c.worker, "/opt/w w");
	assert_string_equal(c.socket_group, "_g");
	assert_int_equal(c.max_clients, 256);	/* untouched: the default */
	config_errors_free(&errs);
	config_free(&c);
	config_free(NULL);
	config_errors_free(NULL);
}

/* -------------------------------------------------------------------------- */
/* Invalid values: the text (file t.conf) and every error, exactly. */

struct invalid_case {
	const char *text;
	const char *want;	/* the error lines, each ending in '\n' */
};

#define NAMERR(k, w)	"t.conf:1: " k ": must be a " w " name of at " \
	"most 32 characters from [a-z_][a-z0-9_-]*\n"
#define NUMERR(k, lo, hi)	"t.conf:1: " k ": must be a number from " \
	lo " to " hi "\n"
#define MODERR	"t.conf:1: socket-mode: must be an octal mode from 0000 " \
	"to 0777\n"

static const struct invalid_case invalid_cases[] = {
	/* Paths. */
	{ "socket run/vmmd.sock",
	  "t.conf:1: socket: must be an absolute path\n" },
	{ "socket \"\"", "t.conf:1: socket: must be an absolute path\n" },
	{ "socket \"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
	  "t.conf:1: socket: longer than 107 bytes\n" },
	{ "readonly-socket ro.sock",
	  "t.conf:1: readonly-socket: must be an absolute path\n" },
	{ "state-dir var/lib/vmm",
	  "t.conf:1: state-dir: must be an absolute path\n" },
	{ "run-dir ./run", "t.conf:1: run-dir: must be an absolute path\n" },
	{ "worker vmm-worker",
	  "t.conf:1: worker: must be an absolute path\n" },
	/* Modes. */
	{ "socket-mode 0666",
	  "t.conf:1: socket-mode: must not let others write (connect)\n" },
	{ "socket-mode 0602",
	  "t.conf:1: socket-mode: must not let others write (connect)\n" },
	{ "socket-mode 0680", MODERR },
	{ "socket-mode 01660", MODERR },
	{ "socket-mode 00660", MODERR },
	{ "socket-mode rw", MODERR },
	{ "socket-mode -660", MODERR },
	{ "socket-mode \"\"", MODERR },
	/* Names. */
	{ "socket-group Wheel", NAMERR("socket-group", "group") },
	{ "socket-group 1vmm", NAMERR("socket-group", "group") },
	{ "socket-group \"\"", NAMERR("socket-group", "group") },
	{ "socket-group \"a b\"", NAMERR("socket-group", "group") },
	{ "socket-group -vmm", NAMERR("socket-group", "group") },
	{ "socket-group abcdefghijabcdefghijabcdefghij012",
	  NAMERR("socket-group", "group") },
	{ "worker-user vmm$", NAMERR("worker-user", "user") },
	{ "worker-user r.oot", NAMERR("worker-user", "user") },
	/* Numbers. */
	{ "max-clients 0", NUMERR("max-clients", "1", "65536") },
	{ "max-clients 65537", NUMERR("max-clients", "1", "65536") },
	{ "max-clients -1", NUMERR("max-clients", "1", "65536") },
	{ "max-clients +5", NUMERR("max-clients", "1", "65536") },
	{ "max-clients 0x10", NUMERR("max-clients", "1", "65536") },
	{ "max-clients 10k", NUMERR("max-clients", "1", "65536") },
	{ "max-clients \"\"", NUMERR("max-clients", "1", "65536") },
	{ "max-clients 99999999999999999999999999",
	  NUMERR("max-clients", "1", "65536") },
	{ "max-inflight 0", NUMERR("max-inflight", "1", "4096") },
	{ "max-inflight 4097", NUMERR("max-inflight", "1", "4096") },
	{ "max-message 1023", NUMERR("max-message", "1024", "67108864") },
	{ "max-message 67108865",
	  NUMERR("max-message", "1024", "67108864") },
	{ "idle-timeout 86401", NUMERR("idle-timeout", "0", "86400") },
	{ "idle-timeout none", NUMERR("idle-timeout", "0", "86400") },
	{ "handshake-timeout 0", NUMERR("handshake-timeout", "1", "300") },
	{ "handshake-timeout 301",
	  NUMERR("handshake-timeout", "1", "300") },
	{ "console-buffer 4095",
	  NUMERR("console-buffer", "4096", "16777216") },
	{ "console-buffer 16777217",
	  NUMERR("console-buffer", "4096", "16777216") },
	/* Choices. */
	{ "stop-vms-on-exit true",
	  "t.conf:1: stop-vms-on-exit: must be yes or no\n" },
	{ "stop-vms-on-exit YES",
	  "t.conf:1: stop-vms-on-exit: must be yes or no\n" },
	{ "log-level error",
	  "t.conf:1: log-level: must be one of warn, info, debug\n" },
	{ "log-level Info",
	  "t.conf:1: log-level: must be one of warn, info, debug\n" },
	/* Lines. */
	{ "max-clients", "t.conf:1: max-clients: missing value\n" },
	{ "max-clients # 5", "t.conf:1: max-clients: missing value\n" },
	{ "max-clients 5 6",
	  "t.conf:1: max-clients: unexpected \"6\" after the value\n" },
	{ "socket \"/a\" \"/b c\"",
	  "t.conf:1: socket: unexpected \"/b c\" after the value\n" },
	{ "max-client 5", "t.conf:1: unknown keyword \"max-client\"\n" },
	{ "Socket /s", "t.conf:1: unknown keyword \"Socket\"\n" },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 1",
	  "t.conf:1: unknown keyword "
	  "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"\n" },
	{ "socket \"/run/x", "t.conf:1: unterminated quoted string\n" },
	{ "socket \"/run/x\\\"", "t.conf:1: unterminated quoted string\n" },
	{ "socket \"/a\\\"b\"",
	  "t.conf:1: socket: must not contain a quote or a backslash\n" },
	{ "worker /a\\b",
	  "t.conf:1: worker: must not contain a quote or a backslash\n" },
	{ "run-dir \"/a\\\\b\"",
	  "t.conf:1: run-dir: must not contain a quote or a backslash\n" },
	{ "socket \"/a\\nb\"", "t.conf:1: quoted string: only \\\" and \\\\ "
	  "may follow a backslash\n" },
	{ "socket \"/a\tb\"",
	  "t.conf:1: quoted string: control character 0x09\n" },
	{ "socket \"/a\"b", "t.conf:1: missing space after a quoted string\n" },
	{ "socket /a\"b\"", "t.conf:1: quote inside a word\n" },
	{ "socket /a\x01", "t.conf:1: invalid character 0x01\n" },
	{ "socket /a\x7f", "t.conf:1: invalid character 0x7f\n" },
	/* Twice, and across keywords. */
	{ "max-clients 5\n\nmax-clients 6",
	  "t.conf:3: max-clients: already set on line 1\n" },
	{ "max-clients 0\nmax-clients 6",
	  NUMERR("max-clients", "1", "65536")
	  "t.conf:2: max-clients: already set on line 1\n" },
	{ "readonly-socket /run/vmm/vmmd.sock",
	  "t.conf:1: socket and readonly-socket must differ\n" },
	{ "readonly-socket /s\nsocket /s",
	  "t.conf:2: socket and readonly-socket must differ\n" },
	/* Every error, in line order. */
	{ "a 1\nmax-clients 0\n# ok\nlog-level 3\nb",
	  "t.conf:1: unknown keyword \"a\"\n"
	  "t.conf:2: max-clients: must be a number from 1 to 65536\n"
	  "t.conf:4: log-level: must be one of warn, info, debug\n"
	  "t.conf:5: unknown keyword \"b\"\n" },
};

static void
check_invalid(const char *text, size_t len, const char *want)
{
	struct config_errors errs;
	struct config c;
	char *got;
	int rc;

	rc = config_parse(NAME, text, len, &c, &errs);
	got = errors_text(&errs, NULL);
	if (strcmp(got, want) != 0) {
		print_error("\"%s\": expected:\n%s", text, want);
		print_error("got (rc %d):\n%s", rc, got);
		fail();
	}
	assert_int_equal(rc, -EINVAL);
	free(got);
	config_errors_free(&errs);
	config_free(&c);
}

static void
test_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
	    i++)
		check_invalid(invalid_cases[i].text,
		    strlen(invalid_cases[i].text), invalid_cases[i].want);
	/* A NUL byte is a control character like any other. */
	check_invalid("socket /a\0b", 11, "t.conf:1: invalid character 0x00\n");
}

/* Lines up to CONFIG_LINE_MAX bytes, and one past. */
static void
test_line_length(void **state)
{
	struct config_errors errs;
	struct config c;
	char text[CONFIG_LINE_MAX + 64];
	size_t pad;

	(void)state;
	/* "max-clients 5" and blanks: exactly CONFIG_LINE_MAX bytes. */
	pad = CONFIG_LINE_MAX - strlen("max-clients 5");
	memset(text, ' ', pad);
	strcpy(text + pad, "max-clients 5\nlog-level debug");
	assert_int_equal(config_parse(NAME, text, strlen(text), &c, &errs),
	    0);
	assert_int_equal(c.max_clients, 5);
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	config_errors_free(&errs);

	/* One byte more; the next line is still read. */
	memset(text, ' ', pad + 1);
	strcpy(text + pad + 1, "max-clients 5\nlog-level bad");
	check_invalid(text, strlen(text),
	    "t.conf:1: line longer than 1024 bytes\n"
	    "t.conf:2: log-level: must be one of warn, info, debug\n");
	/* A comment counts too. */
	memset(text, '#', CONFIG_LINE_MAX + 1);
	text[CONFIG_LINE_MAX + 1] = '\0';
	check_invalid(text, strlen(text),
	    "t.conf:1: line longer than 1024 bytes\n");
}

/* Paths of CONFIG_PATH_MAX bytes, and one more. */
static void
test_path_length(void **state)
{
	struct config_errors errs;
	struct config c;
	char text[CONFIG_LINE_MAX + 1];
	size_t key = strlen("state-dir \"");

	(void)state;
	memcpy(text, "state-dir \"/", key + 1);
	memset(text + key + 1, 'p', CONFIG_PATH_MAX - 1);
	strcpy(text + key + CONFIG_PATH_MAX, "\"");
	assert_int_equal(config_parse(NAME, text, strlen(text), &c, &errs),
	    0);
	assert_int_equal(strlen(c.state_dir), CONFIG_PATH_MAX);
	assert_round_trip(&c);
	config_errors_free(&errs);

	memset(text + key + 1, 'p', CONFIG_PATH_MAX);
	strcpy(text + key + CONFIG_PATH_MAX + 1, "\"");
	check_invalid(text, strlen(text),
	    "t.conf:1: state-dir: longer than 1000 bytes\n");
}

/* CONFIG_ERRORS_MAX errors, then one notice, and the parse stops. */
static void
test_too_many(void **state)
{
	struct config_errors errs;
	struct config c;
	char *text;
	size_t i;

	(void)state;
	text = malloc(CONFIG_ERRORS_MAX * 2 * 4 + 1);
	assert_non_null(text);
	for (i = 0; i < CONFIG_ERRORS_MAX * 2; i++)
		memcpy(text + 4 * i, "bad\n", 4);
	text[CONFIG_ERRORS_MAX * 2 * 4] = '\0';
	assert_int_equal(config_parse(NAME, text, strlen(text), &c, &errs),
	    -EINVAL);
	assert_int_equal(errs.n, CONFIG_ERRORS_MAX + 1);
	assert_string_equal(errs.v[0].msg, "t.conf:1: unknown keyword \"bad\"");
	assert_int_equal(errs.v[0].line, 1);
	assert_string_equal(errs.v[CONFIG_ERRORS_MAX].msg,
	    "t.conf:100: too many errors, giving up");
	config_errors_free(&errs);
	assert_null(errs.v);
	assert_int_equal(errs.n, 0);
	free(text);
}

/* -------------------------------------------------------------------------- */
/* Files: golden diagnostics and I/O failures. */

static int
golden_filter(const struct dirent *de)
{
	size_t len = strlen(de->d_name);

	return len > 5 && strcmp(de->d_name + len - 5, ".conf") == 0;
}

/*
 * One golden case: NAME.conf must give exactly the lines of NAME.err,
 * the directory left out of the file names; an empty NAME.err means it
 * is valid.  Returns whether NAME.err is non-empty.
 */
static bool
golden_case(const char *name)
{
	char path[1024], *want, *got;
	struct config_errors errs;
	struct config c;
	bool has_errors;
	size_t n;
	int rc;

	n = strlen(name) - 5;
	snprintf(path, sizeof(path), "%s/%.*s.err", GOLDEN_DIR, (int)n, name);
	if ((want = tu_read_file(path, NULL)) == NULL)
		fail_msg("%s: missing", path);
	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
	rc = config_load(path, &c, &errs);
	got = errors_text(&errs, GOLDEN_DIR "/");
	if (strcmp(want, got) != 0) {
		print_error("%s: expected:\n%s", name, want);
		print_error("%s: got (rc %d):\n%s", name, rc, got);
		fail();
	}
	assert_int_equal(rc, want[0] == '\0' ? 0 : -EINVAL);
	if (rc == 0)
		assert_round_trip(&c);
	config_errors_free(&errs);
	config_free(&c);
	has_errors = want[0] != '\0';
	free(want);
	free(got);
	return has_errors;
}

static void
test_golden(void **state)
{
	struct dirent **list;
	int i, n, nerr = 0;

	(void)state;
	n = scandir(GOLDEN_DIR, &list, golden_filter, alphasort);
	if (n < 0)
		fail_msg("%s: %s", GOLDEN_DIR, strerror(errno));
	for (i = 0; i < n; i++) {
		nerr += golden_case(list[i]->d_name);
		free(list[i]);
	}
	free(list);
	if (nerr < GOLDEN_MIN)
		fail_msg("%d golden error cases, expected at least %d", nerr,
		    GOLDEN_MIN);
	print_message("%d golden cases, %d with errors\n", n, nerr);
}

/* config_load's failures: one error "FILE: reason" and a negative errno. */
static void
test_io(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[64], want[128];
	struct config_errors errs;
	struct config c, def;
	FILE *fp;
	int rc;

	(void)state;
	config_defaults(&def);
	assert_non_null(mkdtemp(dir));

	snprintf(path, sizeof(path), "%s/absent.conf", dir);
	rc = config_load(path, &c, &errs);
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 0);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	assert_string_equal(errs.v[0].msg, want);
	assert_true(config_equal(&c, &def));
	config_errors_free(&errs);

	rc = config_load(dir, &c, &errs);
	assert_int_equal(rc, -EISDIR);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want), "%s: %s", dir, strerror(EISDIR));
	assert_string_equal(errs.v[0].msg, want);
	config_errors_free(&errs);

	/* One byte past CONFIG_FILE_MAX, of blanks: still refused. */
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, CONFIG_FILE_MAX, SEEK_SET), 0);
	assert_int_equal(fputc('\n', fp), '\n');
	assert_int_equal(fclose(fp), 0);
	rc = config_load(path, &c, &errs);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	assert_string_equal(errs.v[0].msg, want);
	config_errors_free(&errs);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);

	/* A full disk is config_print's error. */
	if ((fp = fopen("/dev/full", "w")) != NULL) {
		assert_int_equal(config_print(&def, fp), -ENOSPC);
		fclose(fp);
	}
}

/* -------------------------------------------------------------------------- */
/* The printed form and its round trip, with random values. */

static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned int
rnd_range(unsigned int lo, unsigned int hi)
{
	return lo + (unsigned int)(rnd() % ((uint64_t)hi - lo + 1));
}

/* A random absolute path of at most max bytes, quotes included. */
static void
rnd_path(char *buf, size_t max)
{
	static const char chars[] = "abz09/._- #";
	size_t i, len = rnd_range(1, (unsigned int)max);

	buf[0] = '/';
	for (i = 1; i < len; i++)
		buf[i] = chars[rnd() % (sizeof(chars) - 1)];
	buf[len] = '\0';
}

static void
rnd_name(char *buf)
{
	static const char chars[] = "az09_-";
	size_t i, len = rnd_range(1, CONFIG_NAME_MAX);

	buf[0] = rnd() % 2 ? '_' : 'q';
	for (i = 1; i < len; i++)
		buf[i] = chars[rnd() % (sizeof(chars) - 1)];
	buf[len] = '\0';
}

static void
test_round_trip(void **state)
{
	struct config c;
	int i;

	(void)state;
	rng = 0x9e3779b97f4a7c15ull;
	for (i = 0; i < 2000; i++) {
		config_defaults(&c);
		rnd_path(c.socket, CONFIG_SOCKET_MAX);
		do
			rnd_path(c.readonly_socket, CONFIG_SOCKET_MAX);
		while (strcmp(c.socket, c.readonly_socket) == 0);
		c.socket_mode = rnd_range(0, 0777) & ~0002u;
		rnd_name(c.socket_group);
		rnd_path(c.state_dir, CONFIG_PATH_MAX);
		rnd_path(c.run_dir, CONFIG_PATH_MAX);
		rnd_path(c.worker, CONFIG_PATH_MAX);
		rnd_name(c.worker_user);
		c.max_clients = rnd_range(1, 65536);
		c.max_inflight = rnd_range(1, 4096);
		c.max_message = rnd_range(1024, 67108864);
		c.idle_timeout = rnd_range(0, 86400);
		c.handshake_timeout = rnd_range(1, 300);
		c.console_buffer = rnd_range(4096, 16777216);
		c.stop_vms_on_exit = rnd() % 2;
		c.log_level = rnd_range(0, CONFIG_LOG_COUNT - 1);
		assert_round_trip(&c);
	}
}

/* -------------------------------------------------------------------------- */
/* Property loop: mutated files never crash and always say why. */

/* Mutate text (len bytes, room for cap) in place; returns the new len. */
static size_t
mutate(char *text, size_t len, size_t cap)
{
	static const char interesting[] = "\"\\# \t\n\r\0\x01/0x9-";
	size_t at, n, i;

	for (n = rnd_range(1, 4); n > 0; n--) {
		at = len == 0 ? 0 : rnd() % (len + 1);
		switch (rnd() % 5) {
		case 0:			/* replace a byte */
			if (at < len)
				text[at] = (char)rnd();
			break;
		case 1:			/* insert an interesting byte */
			if (len < cap) {
				memmove(text + at + 1, text + at, len - at);
				text[at] = interesting[rnd() %
				    (sizeof(interesting) - 1)];
				len++;
			}
			break;
		case 2:			/* delete a run */
			i = rnd_range(1, 8);
			if (at + i <= len) {
				memmove(text + at, text + at + i,
				    len - at - i);
				len -= i;
			}
			break;
		case 3:			/* duplicate a run */
			i = rnd_range(1, 64);
			if (at + i <= len && len + i <= cap) {
				memmove(text + at + i, text + at, len - at);
				len += i;
			}
			break;
		default:		/* a digit somewhere */
			if (at < len)
				text[at] = (char)('0' + rnd() % 10);
			break;
		}
	}
	return len;
}

static void
test_property(void **state)
{
	struct config_errors errs;
	struct config c;
	char *base, *text, *defaults;
	size_t base_len, len, cap, i, lines;
	uint64_t seed;
	int iter, rc, nerr = 0;

	(void)state;
	seed = getenv("CONFIG_SEED") != NULL ?
	    strtoull(getenv("CONFIG_SEED"), NULL, 0) : (uint64_t)time(NULL);
	rng = seed != 0 ? seed : 1;
	print_message("property loop: %d iterations, CONFIG_SEED=%" PRIu64
	    "\n", PROP_ITERS, seed);
	base = tu_read_file(EXAMPLE, &base_len);
	assert_non_null(base);
	config_defaults(&c);
	defaults = printed(&c);
	cap = base_len + 4096;
	text = malloc(cap);
	assert_non_null(text);
	for (iter = 0; iter < PROP_ITERS; iter++) {
		/* Half from the commented example, half from the dump. */
		if (iter % 2 == 0) {
			memcpy(text, base, base_len);
			len = base_len;
		} else {
			len = strlen(defaults);
			memcpy(text, defaults, len);
		}
		len = mutate(text, len, cap);
		for (i = 0, lines = 1; i < len; i++)
			lines += text[i] == '\n';
		rc = config_parse("m.conf", text, len, &c, &errs);
		if (rc == 0) {
			assert_int_equal(errs.n, 0);
			assert_round_trip(&c);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_true(errs.n >= 1);
			nerr++;
		}
		for (i = 0; i < errs.n; i++) {
			if (strncmp(errs.v[i].msg, "m.conf:", 7) != 0 ||
			    errs.v[i].line < 1 || errs.v[i].line > lines)
				fail_msg("seed %" PRIu64 ", iteration %d: %s",
				    seed, iter, errs.v[i].msg);
		}
		config_errors_free(&errs);
	}
	print_message("property loop: %d of %d mutants refused\n", nerr,
	    PROP_ITERS);
	free(text);
	free(defaults);
	free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_manual),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_valid_values),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_path_length),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_property),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
