/*
 * config.c: the vmmd.conf parser.  The file is read whole (bounded by
 * CONFIG_FILE_MAX), cut into lines, each line into words (bare, or quoted
 * with \" and \\ as the only escapes); a line is a keyword and its value.
 * One table lists the keywords with the rule that checks a value and
 * stores it in struct config, and the one that prints it back.  Every
 * problem is its own error and the parse goes on with the next line, so
 * one run of vmmd -n shows them all.  vmmd.conf.5 documents the syntax,
 * the keywords and their defaults; keep the three in step.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define CF_WORDS	5	/* a keyword, its values, and one too many */
#define CF_SHOW_MAX	40	/* bytes of a word quoted in a message */
#define CF_MSG_MAX	256	/* a reason, without "FILE:LINE: " */

/* A parse in progress.  errs is the caller's list. */
struct cf_ctx {
	const char *name;	/* the file, for the errors */
	unsigned int line;	/* the current line, from 1 */
	struct config_errors *errs;
	struct config *cfg;
	bool nomem;		/* an allocation failed: -ENOMEM */
	bool full;		/* CONFIG_ERRORS_MAX reached: stop */
	unsigned int *seen;	/* per keyword, the line that set it */
};

/* One word of a line, unquoted and terminated. */
struct cf_word {
	char text[CONFIG_LINE_MAX + 1];
	size_t len;
};

struct cf_key;

/*
 * A keyword's value rule: check text and store it in *member.  Reports
 * its own problem and returns -EINVAL, or returns 0.
 */
typedef int cf_parse_fn(struct cf_ctx *ctx, const struct cf_key *k,
    const char *text, void *member);
/* Print *member as a value the parse rule takes back. */
typedef int cf_print_fn(FILE *fp, const struct cf_key *k,
    const void *member);
/*
 * A keyword of several values (words[0] is the keyword, n words in all),
 * which may be repeated: checks and stores into ctx->cfg as cf_parse_fn.
 */
typedef int cf_parse_words_fn(struct cf_ctx *ctx, const struct cf_key *k,
    const struct cf_word *words, int n);

/* One keyword. */
struct cf_key {
	const char *name;
	cf_parse_fn *parse;
	cf_print_fn *print;
	size_t off;		/* member of struct config */
	size_t size;		/* its size: a string's room, with the NUL */
	unsigned long min, max;	/* a number's range */
	const char *what;	/* a name's kind: "user", "group" */
	cf_parse_words_fn *parse_words;	/* instead of parse: repeatable */
};

static cf_parse_fn cf_parse_path, cf_parse_name, cf_parse_uint,
    cf_parse_mode, cf_parse_bool, cf_parse_log, cf_parse_optpath,
    cf_parse_listen;
static cf_parse_words_fn cf_parse_role;
static cf_print_fn cf_print_string, cf_print_uint, cf_print_mode,
    cf_print_bool, cf_print_log;

#define CF_MEMBER_SIZE(m)	sizeof(((struct config *)NULL)->m)

#define CF_PATH(name, m)						\
	{ name, cf_parse_path, cf_print_string,				\
	  offsetof(struct config, m), CF_MEMBER_SIZE(m), 0, 0, NULL, NULL }
#define CF_NAME(name, m, what)						\
	{ name, cf_parse_name, cf_print_string,				\
	  offsetof(struct config, m), CF_MEMBER_SIZE(m), 0, 0, what, NULL }
#define CF_UINT(name, m, min, max)					\
	{ name, cf_parse_uint, cf_print_uint,				\
	  offsetof(struct config, m), CF_MEMBER_SIZE(m), min, max, NULL, NULL }
#define CF_OTHER(name, m, kind)						\
	{ name, cf_parse_##kind, cf_print_##kind,			\
	  offsetof(struct config, m), CF_MEMBER_SIZE(m), 0, 0, NULL, NULL }
#define CF_STRING(name, m, kind)					\
	{ name, cf_parse_##kind, cf_print_string,			\
	  offsetof(struct config, m), CF_MEMBER_SIZE(m), 0, 0, NULL, NULL }

/* The keywords, in the order config_print writes them. */
static const struct cf_key cf_keys[] = {
	CF_PATH("socket", socket),
	CF_OTHER("socket-mode", socket_mode, mode),
	CF_NAME("socket-group", socket_group, "group"),
	CF_PATH("readonly-socket", readonly_socket),
	CF_PATH("state-dir", state_dir),
	CF_PATH("run-dir", run_dir),
	CF_PATH("worker", worker),
	CF_NAME("worker-user", worker_user, "user"),
	CF_UINT("max-clients", max_clients, 1, 65536),
	CF_UINT("max-inflight", max_inflight, 1, 4096),
	CF_UINT("max-message", max_message, 1024, 67108864),
	CF_UINT("idle-timeout", idle_timeout, 0, 86400),
	CF_UINT("handshake-timeout", handshake_timeout, 1, 300),
	CF_UINT("console-buffer", console_buffer, 4096, 16777216),
	CF_OTHER("stop-vms-on-exit", stop_vms_on_exit, bool),
	CF_OTHER("log-level", log_level, log),
	CF_STRING("tls-listen", tls_listen, listen),
	CF_STRING("tls-certificate", tls_certificate, optpath),
	CF_STRING("tls-key", tls_key, optpath),
	CF_STRING("tls-ca", tls_ca, optpath),
	CF_STRING("tls-crl", tls_crl, optpath),
	CF_STRING("metrics-listen", metrics_listen, listen),
	CF_UINT("event-retention", event_retention, 1000, 100000000),
	/* Repeatable; printed after the others, one line per role. */
	{ "tls-role", NULL, NULL, 0, 0, 0, 0, NULL, cf_parse_role },
};

#define CF_NKEYS	(sizeof(cf_keys) / sizeof(cf_keys[0]))

static const char *const cf_log_names[] = {
#define CONFIG_X(NAME, name)	[CONFIG_LOG_##NAME] = name,
	CONFIG_LOG_MAP(CONFIG_X)
#undef CONFIG_X
};

static const char *const cf_match_names[] = {
#define CONFIG_X(NAME, name)	[CONFIG_MATCH_##NAME] = name,
	CONFIG_MATCH_MAP(CONFIG_X)
#undef CONFIG_X
};

const char *
config_match_name(enum config_match match)
{
	if ((unsigned int)match >= CONFIG_MATCH_COUNT)
		return NULL;
	return cf_match_names[match];
}

const char *
config_log_level_name(enum config_log_level level)
{
	if ((unsigned int)level >= CONFIG_LOG_COUNT)
		return NULL;
	return cf_log_names[level];
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->socket, "/run/vmm/vmmd.sock");
	cfg->socket_mode = 0660;
	strcpy(cfg->socket_group, "vmm");
	strcpy(cfg->readonly_socket, "/run/vmm/vmmd.ro.sock");
	strcpy(cfg->state_dir, "/var/lib/vmm");
	strcpy(cfg->run_dir, "/run/vmm");
	snprintf(cfg->worker, sizeof(cfg->worker), "%s",
	    CONFIG_WORKER_DEFAULT);
	strcpy(cfg->worker_user, "_vmm");
	cfg->max_clients = 256;
	cfg->max_inflight = 64;
	cfg->max_message = 1048576;
	cfg->idle_timeout = 300;
	cfg->handshake_timeout = 10;
	cfg->console_buffer = 65536;
	cfg->stop_vms_on_exit = false;
	cfg->log_level = CONFIG_LOG_INFO;
	cfg->event_retention = 100000;
}

void
config_free(struct config *cfg)
{
	if (cfg != NULL)
		config_defaults(cfg);
}

void
config_errors_free(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->v[i].msg);
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

static bool
cf_roles_equal(const struct config *a, const struct config *b)
{
	unsigned int i;

	if (a->nroles != b->nroles)
		return false;
	for (i = 0; i < a->nroles; i++)
		if (a->roles[i].role != b->roles[i].role ||
		    a->roles[i].match != b->roles[i].match ||
		    strcmp(a->roles[i].pattern, b->roles[i].pattern) != 0)
			return false;
	return true;
}

bool
config_equal(const struct config *a, const struct config *b)
{
	return strcmp(a->socket, b->socket) == 0 &&
	    a->socket_mode == b->socket_mode &&
	    strcmp(a->socket_group, b->socket_group) == 0 &&
	    strcmp(a->readonly_socket, b->readonly_socket) == 0 &&
	    strcmp(a->state_dir, b->state_dir) == 0 &&
	    strcmp(a->run_dir, b->run_dir) == 0 &&
	    strcmp(a->worker, b->worker) == 0 &&
	    strcmp(a->worker_user, b->worker_user) == 0 &&
	    a->max_clients == b->max_clients &&
	    a->max_inflight == b->max_inflight &&
	    a->max_message == b->max_message &&
	    a->idle_timeout == b->idle_timeout &&
	    a->handshake_timeout == b->handshake_timeout &&
	    a->console_buffer == b->console_buffer &&
	    a->stop_vms_on_exit == b->stop_vms_on_exit &&
	    a->log_level == b->log_level &&
	    strcmp(a->tls_listen, b->tls_listen) == 0 &&
	    strcmp(a->tls_certificate, b->tls_certificate) == 0 &&
	    strcmp(a->tls_key, b->tls_key) == 0 &&
	    strcmp(a->tls_ca, b->tls_ca) == 0 &&
	    strcmp(a->tls_crl, b->tls_crl) == 0 &&
	    strcmp(a->metrics_listen, b->metrics_listen) == 0 &&
	    a->event_retention == b->event_retention &&
	    cf_roles_equal(a, b);
}

/*
 * Errors.
 */

/*
 * Append "NAME:LINE: reason" (line 0: "NAME: reason") to the list.
 * Sets ctx->nomem when out of memory, ctx->full (after a notice) once
 * CONFIG_ERRORS_MAX errors are listed.
 */
static void
cf_add(struct cf_ctx *ctx, unsigned int line, const char *reason)
{
	struct config_errors *errs = ctx->errs;
	struct config_error *v;
	char *msg;
	int n;

	if (ctx->full || ctx->nomem)
		return;
	if (line == 0)
		n = asprintf(&msg, "%s: %s", ctx->name, reason);
	else
		n = asprintf(&msg, "%s:%u: %s", ctx->name, line, reason);
	if (n < 0) {
		ctx->nomem = true;
		return;
	}
	v = realloc(errs->v, (errs->n + 1) * sizeof(*v));
	if (v == NULL) {
		free(msg);
		ctx->nomem = true;
		return;
	}
	errs->v = v;
	errs->v[errs->n].line = line;
	errs->v[errs->n].msg = msg;
	errs->n++;
	if (errs->n == CONFIG_ERRORS_MAX) {
		cf_add(ctx, line, "too many errors, giving up");
		ctx->full = true;
	}
}

/* Report a problem on the current line. */
static void __attribute__((format(printf, 2, 3)))
cf_error(struct cf_ctx *ctx, const char *fmt, ...)
{
	char reason[CF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	cf_add(ctx, ctx->line, reason);
}

/*
 * A word for a message: at most CF_SHOW_MAX bytes of it, then "...".
 * Words hold no control characters (cf_split refuses them).
 */
static const char *
cf_show(const char *text, char *buf, size_t size)
{
	if (strlen(text) <= CF_SHOW_MAX)
		snprintf(buf, size, "%s", text);
	else
		snprintf(buf, size, "%.*s...", CF_SHOW_MAX, text);
	return buf;
}

/*
 * Values.
 */

static int
cf_parse_path(struct cf_ctx *ctx, const struct cf_key *k, const char *text,
    void *member)
{
	if (text[0] != '/') {
		cf_error(ctx, "%s: must be an absolute path", k->name);
		return -EINVAL;
	}
	if (strlen(text) >= k->size) {
		cf_error(ctx, "%s: longer than %zu bytes", k->name,
		    k->size - 1);
		return -EINVAL;
	}
	/*
	 * Legal in a file name but never needed; refusing them keeps every
	 * printed line within CONFIG_LINE_MAX (see config.h).
	 */
	if (strpbrk(text, "\\\"") != NULL) {
		cf_error(ctx, "%s: must not contain a quote or a backslash",
		    k->name);
		return -EINVAL;
	}
	memcpy(member, text, strlen(text) + 1);
	return 0;
}

/* A path, or "" for "not set". */
static int
cf_parse_optpath(struct cf_ctx *ctx, const struct cf_key *k,
    const char *text, void *member)
{
	if (text[0] == '\0') {
		*(char *)member = '\0';
		return 0;
	}
	return cf_parse_path(ctx, k, text, member);
}

int
config_listen_split(const char *text, char *host, size_t hostlen,
    unsigned int *port)
{
	const char *colon, *h = text, *hend;
	unsigned long v = 0;
	const char *p;

	if (text[0] == '[') {
		if ((hend = strchr(text, ']')) == NULL || hend[1] != ':')
			return -EINVAL;
		h = text + 1;
		colon = hend + 1;
	} else {
		if ((colon = strrchr(text, ':')) == NULL ||
		    memchr(text, ':', (size_t)(colon - text)) != NULL)
			return -EINVAL;
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= hostlen || colon[1] == '\0')
		return -EINVAL;
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || (v = v * 10 +
		    (unsigned long)(*p - '0')) > 65535)
			return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	for (p = h; p < hend; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:*_", *p) == NULL)
			return -EINVAL;
	if (memchr(h, '*', (size_t)(hend - h)) != NULL && hend - h != 1)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	*port = (unsigned int)v;
	return 0;
}

/* "HOST:PORT", "[ADDR]:PORT", "*:PORT", or "" for "none". */
static int
cf_parse_listen(struct cf_ctx *ctx, const struct cf_key *k,
    const char *text, void *member)
{
	char host[CONFIG_LISTEN_MAX + 1];
	unsigned int port;

	if (text[0] != '\0' && (strlen(text) >= k->size ||
	    config_listen_split(text, host, sizeof(host), &port) != 0)) {
		cf_error(ctx, "%s: must be HOST:PORT, [ADDRESS]:PORT or "
		    "*:PORT with a port from 1 to 65535", k->name);
		return -EINVAL;
	}
	memcpy(member, text, strlen(text) + 1);
	return 0;
}

/* "SHA256:" and 32 hex pairs joined by ':', upper-cased into out. */
static bool
cf_fingerprint(const char *text, char *out)
{
	size_t i;

	if (strncasecmp(text, "SHA256:", 7) != 0 || strlen(text) != 7 + 95)
		return false;
	memcpy(out, "SHA256:", 7);
	for (i = 7; i < 7 + 95; i++) {
		if ((i - 7) % 3 == 2 ? text[i] != ':' :
		    !isxdigit((unsigned char)text[i]))
			return false;
		out[i] = (char)toupper((unsigned char)text[i]);
	}
	out[i] = '\0';
	return true;
}

/* tls-role ROLE fingerprint|cn|ou PATTERN */
static int
cf_parse_role(struct cf_ctx *ctx, const struct cf_key *k,
    const struct cf_word *w, int n)
{
	struct config_role r;
	size_t len;
	int i;

	if (n != 4) {
		cf_error(ctx, "%s: wants ROLE fingerprint|cn|ou PATTERN",
		    k->name);
		return -EINVAL;
	}
	memset(&r, 0, sizeof(r));
	for (i = 0; i <= RPC_ROLE_ADMIN; i++)
		if (strcmp(w[1].text, rpc_role_name((enum rpc_role)i)) == 0)
			break;
	if (i > RPC_ROLE_ADMIN) {
		cf_error(ctx, "%s: the role must be readonly, operator or "
		    "admin", k->name);
		return -EINVAL;
	}
	r.role = (enum rpc_role)i;
	for (i = 0; i < CONFIG_MATCH_COUNT; i++)
		if (strcmp(w[2].text, cf_match_names[i]) == 0)
			break;
	if (i == CONFIG_MATCH_COUNT) {
		cf_error(ctx, "%s: match by fingerprint, cn or ou", k->name);
		return -EINVAL;
	}
	r.match = (enum config_match)i;
	len = strlen(w[3].text);
	if (r.match == CONFIG_MATCH_FINGERPRINT) {
		if (!cf_fingerprint(w[3].text, r.pattern)) {
			cf_error(ctx, "%s: a fingerprint is SHA256: and 32 "
			    "hex pairs joined by ':'", k->name);
			return -EINVAL;
		}
	} else if (len == 0 || len > CONFIG_PATTERN_MAX ||
	    strpbrk(w[3].text, "\\\"") != NULL) {
		cf_error(ctx, "%s: a pattern has 1 to %d characters, no quote "
		    "nor backslash", k->name, CONFIG_PATTERN_MAX);
		return -EINVAL;
	} else {
		memcpy(r.pattern, w[3].text, len + 1);
	}
	if (ctx->cfg->nroles == CONFIG_ROLES_MAX) {
		cf_error(ctx, "%s: more than %d lines", k->name,
		    CONFIG_ROLES_MAX);
		return -EINVAL;
	}
	ctx->cfg->roles[ctx->cfg->nroles++] = r;
	return 0;
}

/* [a-z_][a-z0-9_-]*, 1 to CONFIG_NAME_MAX bytes: a portable name. */
static bool
cf_name_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > CONFIG_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static int
cf_parse_name(struct cf_ctx *ctx, const struct cf_key *k, const char *text,
    void *member)
{
	if (!cf_name_ok(text)) {
		cf_error(ctx, "%s: must be a %s name of at most %d characters "
		    "from [a-z_][a-z0-9_-]*", k->name, k->what,
		    CONFIG_NAME_MAX);
		return -EINVAL;
	}
	memcpy(member, text, strlen(text) + 1);
	return 0;
}

/*
 * A number of decimal (base 10) or octal (base 8) digits only, at most
 * max: 0 and *out, or -EINVAL.
 */
static int
cf_number(const char *text, unsigned int base, unsigned long max,
    unsigned long *out)
{
	unsigned long v = 0, d;

	if (*text == '\0')
		return -EINVAL;
	for (; *text != '\0'; text++) {
		if (*text < '0' || *text >= (char)('0' + base))
			return -EINVAL;
		d = (unsigned long)(*text - '0');
		if (d > max || v > (max - d) / base)
			return -EINVAL;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

static int
cf_parse_uint(struct cf_ctx *ctx, const struct cf_key *k, const char *text,
    void *member)
{
	unsigned long v;

	if (cf_number(text, 10, k->max, &v) < 0 || v < k->min) {
		cf_error(ctx, "%s: must be a number from %lu to %lu", k->name,
		    k->min, k->max);
		return -EINVAL;
	}
	*(unsigned int *)member = (unsigned int)v;
	return 0;
}

/*
 * The read-write socket's mode.  Connecting to a UNIX socket needs write
 * permission on it, so o+w would let every local user define and start
 * VMs: refused.
 */
static int
cf_parse_mode(struct cf_ctx *ctx, const struct cf_key *k, const char *text,
    void *member)
{
	unsigned long v;

	if (strlen(text) > 4 || cf_number(text, 8, 0777, &v) < 0) {
		cf_error(ctx, "%s: must be an octal mode from 0000 to 0777",
		    k->name);
		return -EINVAL;
	}
	if (v & S_IWOTH) {
		cf_error(ctx, "%s: must not let others write (connect)",
		    k->name);
		return -EINVAL;
	}
	*(unsigned int *)member = (unsigned int)v;
	return 0;
}

static int
cf_parse_bool(struct cf_ctx *ctx, const struct cf_key *k, const char *text,
    void *member)
{
	if (strcmp(text, "yes") == 0)
		*(bool *)member = true;
	else if (strcmp(text, "no") == 0)
		*(bool *)member = false;
	else {
		cf_error(ctx, "%s: must be yes or no", k->name);
		return -EINVAL;
	}
	return 0;
}

static int
cf_parse_log(struct cf_ctx *ctx, const struct cf_key *k, const char *text,
    void *member)
{
	unsigned int i;

	for (i = 0; i < CONFIG_LOG_COUNT; i++)
		if (strcmp(text, cf_log_names[i]) == 0) {
			*(enum config_log_level *)member = i;
			return 0;
		}
	cf_error(ctx, "%s: must be one of warn, info, debug", k->name);
	return -EINVAL;
}

/*
 * A string, always quoted.  Paths and names hold no quote nor backslash
 * (their rules refuse them) but are escaped all the same.
 */
static int
cf_print_string(FILE *fp, const struct cf_key *k, const void *member)
{
	const char *s;

	if (fputc('"', fp) == EOF)
		return -EIO;
	for (s = member; *s != '\0'; s++)
		if ((*s == '"' || *s == '\\') && fputc('\\', fp) == EOF)
			return -EIO;
		else if (fputc(*s, fp) == EOF)
			return -EIO;
	return fputc('"', fp) == EOF ? -EIO : 0;
}

static int
cf_print_uint(FILE *fp, const struct cf_key *k, const void *member)
{
	return fprintf(fp, "%u", *(const unsigned int *)member) < 0 ?
	    -EIO : 0;
}

static int
cf_print_mode(FILE *fp, const struct cf_key *k, const void *member)
{
	return fprintf(fp, "%04o", *(const unsigned int *)member) < 0 ?
	    -EIO : 0;
}

static int
cf_print_bool(FILE *fp, const struct cf_key *k, const void *member)
{
	return fputs(*(const bool *)member ? "yes" : "no", fp) == EOF ?
	    -EIO : 0;
}

static int
cf_print_log(FILE *fp, const struct cf_key *k, const void *member)
{
	const char *name;

	name = config_log_level_name(*(const enum config_log_level *)member);
	if (name == NULL)
		return -EINVAL;
	return fputs(name, fp) == EOF ? -EIO : 0;
}

int
config_print(const struct config *cfg, FILE *fp)
{
	const struct cf_key *k;
	unsigned int i;
	int rc;

	for (k = cf_keys; k < cf_keys + CF_NKEYS; k++) {
		if (k->print == NULL)
			continue;
		if (fprintf(fp, "%s ", k->name) < 0)
			return -EIO;
		if ((rc = k->print(fp, k, (const char *)cfg + k->off)) < 0)
			return rc;
		if (fputc('\n', fp) == EOF)
			return -EIO;
	}
	for (i = 0; i < cfg->nroles; i++)
		if (fprintf(fp, "tls-role %s %s \"%s\"\n",
		    rpc_role_name(cfg->roles[i].role),
		    config_match_name(cfg->roles[i].match),
		    cfg->roles[i].pattern) < 0)
			return -EIO;
	return fflush(fp) == EOF ? -errno : 0;
}

/*
 * Lines.
 */

static bool
cf_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
cf_control(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

/*
 * A quoted word starting after its opening quote at *pp, into w; *pp
 * ends after the closing quote.  Returns 0, or -EINVAL after reporting.
 */
static int
cf_quoted(struct cf_ctx *ctx, const char **pp, const char *end,
    struct cf_word *w)
{
	const char *p = *pp;

	for (; p < end && *p != '"'; p++) {
		if (*p == '\\') {
			if (p + 1 == end || (p[1] != '"' && p[1] != '\\')) {
				cf_error(ctx, "quoted string: only \\\" and "
				    "\\\\ may follow a backslash");
				return -EINVAL;
			}
			p++;
		} else if (cf_control(*p)) {
			cf_error(ctx, "quoted string: control character "
			    "0x%02x", (unsigned char)*p);
			return -EINVAL;
		}
		w->text[w->len++] = *p;
	}
	if (p == end) {
		cf_error(ctx, "unterminated quoted string");
		return -EINVAL;
	}
	p++;
	if (p < end && !cf_space(*p) && *p != '#') {
		cf_error(ctx, "missing space after a quoted string");
		return -EINVAL;
	}
	*pp = p;
	return 0;
}

/* A bare word at *pp, into w; as cf_quoted. */
static int
cf_bare(struct cf_ctx *ctx, const char **pp, const char *end,
    struct cf_word *w)
{
	const char *p = *pp;

	for (; p < end && !cf_space(*p) && *p != '#'; p++) {
		if (*p == '"') {
			cf_error(ctx, "quote inside a word");
			return -EINVAL;
		}
		if (cf_control(*p)) {
			cf_error(ctx, "invalid character 0x%02x",
			    (unsigned char)*p);
			return -EINVAL;
		}
		w->text[w->len++] = *p;
	}
	*pp = p;
	return 0;
}

/*
 * Cut the line [p, end) (at most CONFIG_LINE_MAX bytes) into at most
 * CF_WORDS words; a '#' outside quotes starts a comment.  Returns the
 * number of words, or -EINVAL after reporting.
 */
static int
cf_split(struct cf_ctx *ctx, const char *p, const char *end,
    struct cf_word *w)
{
	int n, rc;

	for (n = 0; n < CF_WORDS; n++) {
		while (p < end && cf_space(*p))
			p++;
		if (p == end || *p == '#')
			break;
		w[n].len = 0;
		if (*p == '"') {
			p++;
			rc = cf_quoted(ctx, &p, end, &w[n]);
		} else
			rc = cf_bare(ctx, &p, end, &w[n]);
		if (rc < 0)
			return rc;
		w[n].text[w[n].len] = '\0';
	}
	return n;
}

static const struct cf_key *
cf_key_find(const char *name)
{
	const struct cf_key *k;

	for (k = cf_keys; k < cf_keys + CF_NKEYS; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* One line, [p, end), without its newline. */
static void
cf_line(struct cf_ctx *ctx, const char *p, const char *end)
{
	struct cf_word w[CF_WORDS];
	const struct cf_key *k;
	char show[CF_SHOW_MAX + 4];
	unsigned int *seen;
	int n;

	if (end - p > CONFIG_LINE_MAX) {
		cf_error(ctx, "line longer than %d bytes", CONFIG_LINE_MAX);
		return;
	}
	if ((n = cf_split(ctx, p, end, w)) <= 0)
		return;
	if ((k = cf_key_find(w[0].text)) == NULL) {
		cf_error(ctx, "unknown keyword \"%s\"",
		    cf_show(w[0].text, show, sizeof(show)));
		return;
	}
	if (k->parse_words != NULL) {
		if (n == CF_WORDS)
			cf_error(ctx, "%s: unexpected \"%s\" after the values",
			    k->name, cf_show(w[n - 1].text, show,
			    sizeof(show)));
		else
			(void)k->parse_words(ctx, k, w, n);
		return;
	}
	seen = &ctx->seen[k - cf_keys];
	if (*seen != 0) {
		cf_error(ctx, "%s: already set on line %u", k->name, *seen);
		return;
	}
	*seen = ctx->line;
	if (n == 1)
		cf_error(ctx, "%s: missing value", k->name);
	else if (n > 2)
		cf_error(ctx, "%s: unexpected \"%s\" after the value",
		    k->name, cf_show(w[2].text, show, sizeof(show)));
	else
		k->parse(ctx, k, w[1].text, (char *)ctx->cfg + k->off);
}

/* The rules that join several keywords, once every line is read. */
static void
cf_check(struct cf_ctx *ctx)
{
	const struct config *cfg = ctx->cfg;
	unsigned int a, b;

	if (strcmp(ctx->cfg->socket, ctx->cfg->readonly_socket) == 0) {
		a = ctx->seen[cf_key_find("socket") - cf_keys];
		b = ctx->seen[cf_key_find("readonly-socket") - cf_keys];
		ctx->line = a > b ? a : b;
		cf_error(ctx, "socket and readonly-socket must differ");
	}
	if (cfg->tls_listen[0] == '\0' && cfg->metrics_listen[0] == '\0')
		return;
	ctx->line = ctx->seen[cf_key_find(cfg->tls_listen[0] != '\0' ?
	    "tls-listen" : "metrics-listen") - cf_keys];
	if (cfg->tls_certificate[0] == '\0' || cfg->tls_key[0] == '\0' ||
	    cfg->tls_ca[0] == '\0')
		cf_error(ctx, "%s needs tls-certificate, tls-key and tls-ca",
		    cfg->tls_listen[0] != '\0' ? "tls-listen" :
		    "metrics-listen");
	else if (cfg->nroles == 0)
		cf_error(ctx, "%s without a tls-role line lets no client in",
		    cfg->tls_listen[0] != '\0' ? "tls-listen" :
		    "metrics-listen");
}

int
config_parse(const char *name, const char *text, size_t len,
    struct config *cfg, struct config_errors *errs)
{
	unsigned int seen[CF_NKEYS] = { 0 };
	struct cf_ctx ctx = {
		.name = name, .errs = errs, .cfg = cfg, .seen = seen,
	};
	const char *p = text, *end = text + len, *nl;

	errs->v = NULL;
	errs->n = 0;
	config_defaults(cfg);
	while (p < end && !ctx.full && !ctx.nomem) {
		ctx.line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		cf_line(&ctx, p, nl);
		p = nl < end ? nl + 1 : end;
	}
	if (!ctx.full && !ctx.nomem)
		cf_check(&ctx);
	if (ctx.nomem)
		return -ENOMEM;
	return errs->n == 0 ? 0 : -EINVAL;
}

/*
 * The file at path, whole, into a buffer the caller frees: 0, *text and
 * *len, or a negative errno (-EFBIG past CONFIG_FILE_MAX).
 */
static int
cf_read(const char *path, char **text, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		rc = -ENOMEM;
		goto fail_alloc;
	}
	/* One byte more than the limit tells a file past it. */
	while (n <= CONFIG_FILE_MAX) {
		r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = -errno;
			goto fail_read;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_FILE_MAX) {
		rc = -EFBIG;
		goto fail_read;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;

fail_read:
	free(buf);
fail_alloc:
	close(fd);
	return rc;
}

int
config_load(const char *path, struct config *cfg,
    struct config_errors *errs)
{
	struct cf_ctx ctx = { .name = path, .errs = errs };
	char reason[CF_MSG_MAX];
	char *text = NULL;
	size_t len = 0;
	int rc;

	errs->v = NULL;
	errs->n = 0;
	config_defaults(cfg);
	if ((rc = cf_read(path, &text, &len)) < 0) {
		if (rc == -EFBIG)
			snprintf(reason, sizeof(reason),
			    "larger than %d bytes", CONFIG_FILE_MAX);
		else
			snprintf(reason, sizeof(reason), "%s", strerror(-rc));
		cf_add(&ctx, 0, reason);
		return ctx.nomem ? -ENOMEM : rc;
	}
	rc = config_parse(path, text, len, cfg, errs);
	free(text);
	return rc;
}
