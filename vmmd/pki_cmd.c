/*
 * pki_cmd.c: the command line of `vmmd pki` (init, issue, revoke,
 * fingerprint) over the library of pki.c; pki_main is called by vmmd's
 * main when its first argument is "pki".
 */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki.h"

/* Options, as bits of what a command accepts. */
enum {
	PKI_OPT_SAN = 1 << 0,
	PKI_OPT_DAYS = 1 << 1,
	PKI_OPT_CA_DAYS = 1 << 2,
	PKI_OPT_ROLE = 1 << 3,
};

struct pki_args {
	const char *pos[2];
	size_t npos;
	const char *san[PKI_SAN_MAX];
	size_t nsan;
	const char *days, *ca_days, *role;
};

struct pki_cmd {
	const char *name;
	const char *usage;
	unsigned int opts;
	size_t npos;			/* operands, exactly */
	int (*run)(const struct pki_args *);
};

static const struct {
	const char *name;
	unsigned int bit;
} pki_optnames[] = {
	{ "san", PKI_OPT_SAN },
	{ "days", PKI_OPT_DAYS },
	{ "ca-days", PKI_OPT_CA_DAYS },
	{ "role", PKI_OPT_ROLE },
};

/* Store an option's value; false when it cannot be taken. */
static bool
pki_args_set(struct pki_args *a, unsigned int bit, const char *value)
{
	const char **slot = bit == PKI_OPT_DAYS ? &a->days :
	    bit == PKI_OPT_CA_DAYS ? &a->ca_days : &a->role;

	if (bit == PKI_OPT_SAN) {
		if (a->nsan == PKI_SAN_MAX)
			return false;
		a->san[a->nsan++] = value;
		return true;
	}
	if (*slot != NULL)
		return false;
	*slot = value;
	return true;
}

/*
 * argv[1..] of a command: --NAME VALUE or --NAME=VALUE for the options
 * in allowed (each once, --san up to PKI_SAN_MAX times), "--" ends them,
 * anything else is an operand.  Returns false on a usage error.
 */
static bool
pki_args_parse(int argc, char **argv, unsigned int allowed,
    struct pki_args *a)
{
	const char *arg, *value, *eq;
	size_t i, len;
	int k;
	bool opts = true;

	memset(a, 0, sizeof(*a));
	for (k = 1; k < argc; k++) {
		arg = argv[k];
		if (!opts || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			if (opts && strcmp(arg, "--") == 0) {
				opts = false;
				continue;
			}
			if (a->npos == PKI_NITEMS(a->pos))
				return false;
			a->pos[a->npos++] = arg;
			continue;
		}
		eq = strchr(arg + 2, '=');
		len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (i = 0; i < PKI_NITEMS(pki_optnames); i++)
			if (strlen(pki_optnames[i].name) == len &&
			    strncmp(arg + 2, pki_optnames[i].name, len) == 0)
				break;
		if (i == PKI_NITEMS(pki_optnames) ||
		    (allowed & pki_optnames[i].bit) == 0)
			return false;
		if (eq != NULL)
			value = eq + 1;
		else if (k + 1 < argc)
			value = argv[++k];
		else
			return false;
		if (!pki_args_set(a, pki_optnames[i].bit, value))
			return false;
	}
	return true;
}

/* A --days value: 1 to PKI_DAYS_MAX, digits only; 0 when absent. */
static int
pki_days(const char *s, const char *opt, unsigned int *out)
{
	unsigned long v;
	char *end;

	*out = 0;
	if (s == NULL)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end != '\0' || errno != 0 ||
	    v < 1 || v > PKI_DAYS_MAX) {
		fprintf(stderr, "vmmd pki: %s %s: a number of days from 1 to "
		    "%d\n", opt, s, PKI_DAYS_MAX);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

/* dir, absolute when it can be resolved, for the messages. */
static void
pki_abs(const char *dir, char *out)
{
	if (realpath(dir, out) == NULL)
		snprintf(out, PATH_MAX, "%s", dir);
}

static void
pki_print_init(const char *abs, const char *const *san, size_t nsan)
{
	size_t i;
	bool v6;

	printf("vmmd pki: made a CA and certificates in %s:\n", abs);
	printf("  ca.pem, ca.key              the CA (ca.key signs: keep it "
	    "secret)\n");
	printf("  server.pem, server.key      vmmd's certificate, for");
	for (i = 0; i < nsan; i++)
		printf("%s %s", i > 0 ? "," : "", san[i]);
	printf("\n  admin.pem, admin.key        a client with the admin "
	    "role\n");
	printf("  readonly.pem, readonly.key  a client with the readonly "
	    "role\n");
	printf("  crl.pem                     the revocation list (vmmd pki "
	    "revoke)\n");
	printf("  index.json                  the certificates issued\n");
	printf("  vmmd-tls.conf               the vmmd.conf lines that use "
	    "them\n");
	printf("next: add the lines of %s/vmmd-tls.conf to /etc/vmmd.conf and "
	    "restart vmmd; then, from a client holding copies of ca.pem, "
	    "admin.pem and admin.key:\n", abs);
	/* An IPv6 address goes in brackets, before the port. */
	v6 = strchr(san[0], ':') != NULL;
	printf("  vmmctl --connect tls://%s%s%s:8443 --cert %s/admin.pem --key "
	    "%s/admin.key --ca %s/ca.pem list\n", v6 ? "[" : "", san[0],
	    v6 ? "]" : "", abs, abs, abs);
}

static int
pki_cmd_init(const struct pki_args *a)
{
	struct pki_opts o = { .san = a->san, .nsan = a->nsan };
	char err[512], abs[PATH_MAX], host[PKI_SAN_LEN_MAX + 1];
	const char *dsan[4];

	if (pki_days(a->days, "--days", &o.days) != 0 ||
	    pki_days(a->ca_days, "--ca-days", &o.ca_days) != 0)
		return 2;
	if (o.nsan == 0) {
		o.nsan = pki_san_defaults(dsan, host, sizeof(host));
		o.san = dsan;
	}
	if (pki_init(a->pos[0], &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "vmmd pki: %s\n", err);
		return 1;
	}
	pki_abs(a->pos[0], abs);
	pki_print_init(abs, o.san, o.nsan);
	return 0;
}

static int
pki_cmd_issue(const struct pki_args *a)
{
	struct pki_opts o = { .days = 0 };
	char err[512], abs[PATH_MAX], fp[PKI_FINGERPRINT_SIZE];
	char path[PATH_MAX + PKI_FILE_MAX];

	if (a->role == NULL) {
		fprintf(stderr, "vmmd pki issue: --role readonly|operator|"
		    "admin is required\n");
		return 2;
	}
	if (!pki_role_ok(a->role)) {
		fprintf(stderr, "vmmd pki issue: --role %s: readonly, operator "
		    "or admin\n", a->role);
		return 2;
	}
	if (pki_days(a->days, "--days", &o.days) != 0)
		return 2;
	if (pki_issue(a->pos[0], a->role, a->pos[1], &o, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "vmmd pki: %s\n", err);
		return 1;
	}
	pki_abs(a->pos[0], abs);
	snprintf(path, sizeof(path), "%s/%s.pem", abs, a->pos[1]);
	printf("vmmd pki: issued %s and %s/%s.key with the %s role\n", path,
	    abs, a->pos[1], a->role);
	if (pki_fingerprint_file(path, fp, sizeof(fp), err,
	    sizeof(err)) == 0)
		printf("  fingerprint %s\n", fp);
	return 0;
}

static int
pki_cmd_revoke(const struct pki_args *a)
{
	char err[512], abs[PATH_MAX], serial[PKI_SERIAL_HEX];
	bool already;

	if (pki_revoke(a->pos[0], a->pos[1], &already, serial,
	    sizeof(serial), err, sizeof(err)) != 0) {
		fprintf(stderr, "vmmd pki: %s\n", err);
		return 1;
	}
	pki_abs(a->pos[0], abs);
	printf("vmmd pki: %s %s (serial %s); %s/crl.pem re-signed\n",
	    a->pos[1], already ? "was already revoked" : "revoked", serial,
	    abs);
	printf("next: reload vmmd (SIGHUP) or restart it so that it reads "
	    "the new list\n");
	return 0;
}

static int
pki_cmd_fingerprint(const struct pki_args *a)
{
	char err[512], fp[PKI_FINGERPRINT_SIZE];

	if (pki_fingerprint_file(a->pos[0], fp, sizeof(fp), err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "vmmd pki: %s\n", err);
		return 1;
	}
	printf("%s\n", fp);
	return 0;
}

static const struct pki_cmd pki_cmds[] = {
	{ "init", "init DIR [--san NAME]... [--days N] [--ca-days N]",
	    PKI_OPT_SAN | PKI_OPT_DAYS | PKI_OPT_CA_DAYS, 1, pki_cmd_init },
	{ "issue", "issue DIR --role readonly|operator|admin [--days N] NAME",
	    PKI_OPT_ROLE | PKI_OPT_DAYS, 2, pki_cmd_issue },
	{ "revoke", "revoke DIR NAME", 0, 2, pki_cmd_revoke },
	{ "fingerprint", "fingerprint FILE", 0, 1, pki_cmd_fingerprint },
};

static int
pki_usage(const struct pki_cmd *c)
{
	size_t i;

	for (i = 0; i < PKI_NITEMS(pki_cmds); i++)
		if (c == NULL || c == &pki_cmds[i])
			fprintf(stderr, "%s vmmd pki %s\n", i == 0 || c != NULL ?
			    "usage:" : "      ", pki_cmds[i].usage);
	return 2;
}

int
pki_main(int argc, char **argv)
{
	const struct pki_cmd *c = NULL;
	struct pki_args a;
	size_t i;

	if (argc < 2)
		return pki_usage(NULL);
	for (i = 0; i < PKI_NITEMS(pki_cmds); i++)
		if (strcmp(argv[1], pki_cmds[i].name) == 0)
			c = &pki_cmds[i];
	if (c == NULL)
		return pki_usage(NULL);
	if (!pki_args_parse(argc - 1, argv + 1, c->opts, &a) ||
	    a.npos != c->npos)
		return pki_usage(c);
	return c->run(&a);
}
