/*
 * conf.c: where vmmctl connects and with which TLS files: the command
 * line, then the environment, then the client config file (vmmctl.conf,
 * in vmmd.conf's syntax); and the TLS connection made with them.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "vmmctl.h"

#define CONF_WORDS	3	/* a keyword, a value, and one too many */
#define CONF_SHOW_MAX	40	/* bytes of a word quoted in a message */

/* A keyword: its value goes to the member at off, a path or a URI. */
struct conf_key {
	const char *name;
	size_t off;		/* of a char[] in struct conf */
	size_t size;
	bool path;		/* relative to the file's directory */
};

#define CONF_KEY(name, m, path)						\
	{ name, offsetof(struct conf, m),				\
	  sizeof(((struct conf *)NULL)->m), path }

static const struct conf_key conf_keys[] = {
	CONF_KEY("connect", f_connect, false),
	CONF_KEY("cert", f_cert, true),
	CONF_KEY("key", f_key, true),
	CONF_KEY("ca", f_ca, true),
};

#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))
#define CONF_KEY_KEY	2	/* conf_keys[] of "key" */

/* The state of a parse: the file, the line, the first error. */
struct conf_ctx {
	const char *name;	/* the file, for messages */
	unsigned int line;
	unsigned int seen[CONF_NKEYS];	/* the line that set each, or 0 */
	struct conf *cf;
	char *err;
	size_t errlen;
};

static int	conf_error(struct conf_ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* "FILE:LINE: reason" into the error buffer; returns -EINVAL. */
static int
conf_error(struct conf_ctx *ctx, const char *fmt, ...)
{
	size_t at;
	va_list ap;

	snprintf(ctx->err, ctx->errlen, "%s:%u: ", ctx->name, ctx->line);
	at = strlen(ctx->err);
	va_start(ap, fmt);
	vsnprintf(ctx->err + at, ctx->errlen - at, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Lines: words separated by blanks, "quoted" words with \" and \\, and
 * comments from a # outside quotes; the same as vmmd.conf(5).
 */

static bool
conf_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
conf_control(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7f;
}

/* A quoted word after its opening quote at *pp, into w. */
static int
conf_quoted(struct conf_ctx *ctx, const char **pp, const char *end, char *w)
{
	const char *p = *pp;
	size_t n = 0;

	for (; p < end && *p != '"'; p++) {
		if (*p == '\\') {
			if (p + 1 == end || (p[1] != '"' && p[1] != '\\'))
				return conf_error(ctx, "quoted string: only "
				    "\\\" and \\\\ may follow a backslash");
			p++;
		} else if (conf_control(*p))
			return conf_error(ctx, "quoted string: control "
			    "character 0x%02x", (unsigned char)*p);
		w[n++] = *p;
	}
	if (p == end)
		return conf_error(ctx, "unterminated quoted string");
	p++;
	if (p < end && !conf_space(*p) && *p != '#')
		return conf_error(ctx, "missing space after a quoted string");
	w[n] = '\0';
	*pp = p;
	return 0;
}

/* A bare word at *pp, into w. */
static int
conf_bare(struct conf_ctx *ctx, const char **pp, const char *end, char *w)
{
	const char *p = *pp;
	size_t n = 0;

	for (; p < end && !conf_space(*p) && *p != '#'; p++) {
		if (*p == '"')
			return conf_error(ctx, "quote inside a word");
		if (conf_control(*p))
			return conf_error(ctx, "invalid character 0x%02x",
			    (unsigned char)*p);
		w[n++] = *p;
	}
	w[n] = '\0';
	*pp = p;
	return 0;
}

/*
 * Cut [p, end), at most CONF_LINE_MAX bytes, into at most CONF_WORDS
 * words of w (each CONF_LINE_MAX + 1 bytes).  Returns how many, or
 * -EINVAL.
 */
static int
conf_split(struct conf_ctx *ctx, const char *p, const char *end,
    char w[][CONF_LINE_MAX + 1])
{
	int n, rc;

	for (n = 0; n < CONF_WORDS; n++) {
		while (p < end && conf_space(*p))
			p++;
		if (p == end || *p == '#')
			break;
		if (*p == '"') {
			p++;
			rc = conf_quoted(ctx, &p, end, w[n]);
		} else
			rc = conf_bare(ctx, &p, end, w[n]);
		if (rc < 0)
			return rc;
	}
	return n;
}

/* A word for a message: its first CONF_SHOW_MAX bytes, then "...". */
static const char *
conf_show(const char *text, char *buf, size_t size)
{
	if (strlen(text) <= CONF_SHOW_MAX)
		snprintf(buf, size, "%s", text);
	else
		snprintf(buf, size, "%.*s...", CONF_SHOW_MAX, text);
	return buf;
}

/* The value of k: a URI vmmctl knows, or a path (made absolute). */
static int
conf_value(struct conf_ctx *ctx, const struct conf_key *k, const char *v)
{
	char *member = (char *)ctx->cf + k->off, err[CLIENT_NAME_MAX + 160];
	struct client_uri u;
	const char *slash;
	int n;

	if (v[0] == '\0')
		return conf_error(ctx, "%s: empty value", k->name);
	if (!k->path) {
		if (client_uri_parse(v, &u, err, sizeof(err)) != 0)
			return conf_error(ctx, "%s: %s", k->name, err);
		n = snprintf(member, k->size, "%s", v);
	} else if (v[0] == '/' || (slash = strrchr(ctx->name, '/')) == NULL)
		n = snprintf(member, k->size, "%s", v);
	else
		n = snprintf(member, k->size, "%.*s/%s",
		    (int)(slash - ctx->name), ctx->name, v);
	if (n < 0 || (size_t)n >= k->size)
		return conf_error(ctx, "%s: longer than %zu bytes", k->name,
		    k->size - 1);
	return 0;
}

/* One line, [p, end), without its newline. */
static int
conf_line(struct conf_ctx *ctx, const char *p, const char *end)
{
	char w[CONF_WORDS][CONF_LINE_MAX + 1], show[CONF_SHOW_MAX + 4];
	const struct conf_key *k;
	int n;

	if (end - p > CONF_LINE_MAX)
		return conf_error(ctx, "line longer than %d bytes",
		    CONF_LINE_MAX);
	if ((n = conf_split(ctx, p, end, w)) <= 0)
		return n;
	for (k = conf_keys; k < conf_keys + CONF_NKEYS; k++)
		if (strcmp(k->name, w[0]) == 0)
			break;
	if (k == conf_keys + CONF_NKEYS)
		return conf_error(ctx, "unknown keyword \"%s\"",
		    conf_show(w[0], show, sizeof(show)));
	if (ctx->seen[k - conf_keys] != 0)
		return conf_error(ctx, "%s: already set on line %u", k->name,
		    ctx->seen[k - conf_keys]);
	ctx->seen[k - conf_keys] = ctx->line;
	if (n == 1)
		return conf_error(ctx, "%s: missing value", k->name);
	if (n > 2)
		return conf_error(ctx, "%s: unexpected \"%s\" after the value",
		    k->name, conf_show(w[2], show, sizeof(show)));
	return conf_value(ctx, k, w[1]);
}

int
conf_parse(const char *name, const char *text, size_t len, struct conf *cf,
    char *err, size_t errlen)
{
	struct conf_ctx ctx = {
		.name = name, .cf = cf, .err = err, .errlen = errlen,
	};
	const char *p = text, *end = text + len, *nl;
	int rc;

	cf->f_connect[0] = cf->f_cert[0] = cf->f_key[0] = cf->f_ca[0] = '\0';
	while (p < end) {
		ctx.line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((rc = conf_line(&ctx, p, nl)) != 0)
			return rc;
		p = nl < end ? nl + 1 : end;
	}
	if (cf->f_key[0] != '\0' && cf->f_cert[0] == '\0') {
		ctx.line = ctx.seen[CONF_KEY_KEY];
		return conf_error(&ctx, "key: there is no cert for it");
	}
	return 0;
}

/*
 * The file at path into cf.  Returns 0 (also for a missing file that was
 * not asked for by name), or a negative errno with the reason in err.
 */
static int
conf_load(const char *path, bool named, struct conf *cf, char *err,
    size_t errlen)
{
	char *text;
	ssize_t n = 0, r;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && !named)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return rc;
	}
	if ((text = malloc(CONF_FILE_MAX + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	/* One byte more than the limit tells a file past it. */
	for (;;) {
		r = read(fd, text + n, (size_t)(CONF_FILE_MAX + 1 - n));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0 || (n += r) > CONF_FILE_MAX)
			break;
	}
	if (r == -1)
		rc = -errno;
	else if (n > CONF_FILE_MAX)
		rc = -EFBIG;
	else
		rc = conf_parse(path, text, (size_t)n, cf, err, errlen);
	if (rc == -EFBIG)
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONF_FILE_MAX);
	else if (rc < 0 && rc != -EINVAL)
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(-rc));
	free(text);
	close(fd);
	return rc;
}

/* An environment variable, NULL when unset or empty. */
static const char *
conf_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * The config file: --config, $VMMCTL_CONFIG, else $XDG_CONFIG_HOME (an
 * absolute path) or ~/.config, then vmm/vmmctl.conf.  Sets cf->file
 * ("" when there is no home) and *named.
 */
static void
conf_path(const struct ctl_args *a, struct conf *cf, bool *named)
{
	const char *p, *xdg, *home;

	*named = true;
	if ((p = a->config) != NULL || (p = conf_env(VMMCTL_ENV_CONFIG)) !=
	    NULL) {
		snprintf(cf->file, sizeof(cf->file), "%s", p);
		return;
	}
	*named = false;
	cf->file[0] = '\0';
	if ((xdg = conf_env("XDG_CONFIG_HOME")) != NULL && xdg[0] == '/')
		snprintf(cf->file, sizeof(cf->file), "%s/%s", xdg,
		    VMMCTL_CONF_NAME);
	else if ((home = conf_env("HOME")) != NULL)
		snprintf(cf->file, sizeof(cf->file), "%s/.config/%s", home,
		    VMMCTL_CONF_NAME);
}

/* A file value, or NULL when the file did not set it. */
static const char *
conf_or_null(const char *v)
{
	return v[0] != '\0' ? v : NULL;
}

int
conf_resolve(const struct ctl_args *a, struct conf *cf, char *err,
    size_t errlen)
{
	const char *env;
	bool named;
	int rc;

	memset(cf, 0, sizeof(*cf));
	conf_path(a, cf, &named);
	if (cf->file[0] != '\0' &&
	    (rc = conf_load(cf->file, named, cf, err, errlen)) != 0)
		return rc;
	cf->connect = conf_or_null(cf->f_connect);
	if ((env = conf_env(VMMCTL_ENV_CONNECT)) != NULL)
		cf->connect = env;
	if (a->connect != NULL)
		cf->connect = a->connect;
	cf->ca = a->ca != NULL ? a->ca : conf_or_null(cf->f_ca);
	/* A certificate and its key go together: both from one place. */
	if (a->key != NULL && a->cert == NULL) {
		snprintf(err, errlen, "--key needs --cert");
		return -EINVAL;
	}
	if (a->cert != NULL) {
		cf->cert = a->cert;
		cf->key = a->key != NULL ? a->key : a->cert;
	} else if ((cf->cert = conf_or_null(cf->f_cert)) != NULL)
		cf->key = cf->f_key[0] != '\0' ? cf->f_key : cf->f_cert;
	return 0;
}

/*
 * Like ssh, mind a private key others may read; unlike ssh, go on: the
 * server decides, and the file may be shared on purpose (a group of
 * operators).  The warning says how to fix it.
 */
static void
conf_key_mode(const char *key)
{
	struct stat st;

	if (key == NULL || stat(key, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) == 0)
		return;
	fprintf(stderr, "vmmctl: warning: the key file %s is open to group "
	    "or others (mode %04o); chmod 600 %s\n", key,
	    (unsigned int)(st.st_mode & 07777), key);
}

int
conf_connect_tls(struct ctl *ctl, const struct client_uri *u,
    const struct conf *cf)
{
	struct client_tls_conf tc = {
		.ca = cf->ca, .cert = cf->cert, .key = cf->key,
	};

	if (cf->ca == NULL) {
		fprintf(stderr, "vmmctl: %s: no CA to check the server "
		    "against: give --ca, or ca in %s\n", u->name,
		    cf->file[0] != '\0' ? cf->file : "vmmctl.conf");
		return CTL_EXIT_USAGE;
	}
	conf_key_mode(cf->key);
	if (client_connect_tls(&ctl->cl, u, &tc) != 0) {
		fprintf(stderr, "vmmctl: %s\n", ctl->cl.failure);
		return CTL_EXIT_CONN;
	}
	return CTL_EXIT_OK;
}
