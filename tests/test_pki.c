/*
 * test_pki.c: `vmmd pki` (vmmd/pki.c), checked with the real openssl
 * command: the files and their exact modes, the certificates' extensions,
 * names and validity, `openssl verify` with the CRL before and after a
 * revocation, expired and not yet valid certificates, fingerprints, a
 * mutual-TLS handshake between `openssl s_server` and `openssl s_client`
 * with the certificates made, vmmd-tls.conf through vmmd's own config
 * parser, no overwrite ever, bad names and options, the command line's
 * exact messages and exit statuses, and concurrent issues.  No KVM needed.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "pki.h"

#ifndef BUILD_DIR
#define BUILD_DIR "build"
#endif

#define VMMD		BUILD_DIR "/vmmd"
#define DAY		86400
#define CMD_MAX		8192
#define CHILDREN	4

/* One test's scratch space: root (removed afterwards) and root/pki. */
struct ctx {
	char root[64];
	char dir[256];
	char err[1024];
};

/* -------------------------------------------------------------------------- */
/* Helpers. */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(c->root, sizeof(c->root), "/tmp/test_pki.XXXXXX");
	assert_non_null(mkdtemp(c->root));
	snprintf(c->dir, sizeof(c->dir), "%s/pki", c->root);
	*state = c;
	return 0;
}

/* setup, and a PKI made with every default in c->dir. */
static int
setup_init(void **state)
{
	struct ctx *c;

	setup(state);
	c = *state;
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)), 0);
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	nftw(c->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/*
 * Run a shell command, its stdout and stderr together into *out (the
 * caller frees it; out may be NULL).  Returns its exit status.
 */
static int __attribute__((format(printf, 2, 3)))
run(char **out, const char *fmt, ...)
{
	char cmd[CMD_MAX], *buf = NULL;
	size_t len = 0, cap = 0, n;
	va_list ap;
	FILE *fp;
	int st;

	va_start(ap, fmt);
	assert_true((size_t)vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap) <
	    sizeof(cmd) - 8);
	va_end(ap);
	strcat(cmd, " 2>&1");
	assert_non_null(fp = popen(cmd, "r"));
	for (;;) {
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			assert_non_null(buf = realloc(buf, cap));
		}
		if ((n = fread(buf + len, 1, cap - len - 1, fp)) == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	st = pclose(fp);
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The text of c->dir/name, which must exist; the caller frees it. */
static char *
slurp(const struct ctx *c, const char *name)
{
	char path[PATH_MAX * 2];
	char *s;

	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	s = tu_read_file(path, NULL);
	if (s == NULL)
		fail_msg("%s: cannot read", path);
	return s;
}

/* Whitespace runs as one blank, to compare openssl's text output. */
static char *
squeeze(char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (*r == ' ' || *r == '\n' || *r == '\t') {
			while (*r == ' ' || *r == '\n' || *r == '\t')
				r++;
			*w++ = ' ';
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	return s;
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* `openssl x509 -noout ARGS -in dir/file`, which must succeed. */
static char *
x509(const struct ctx *c, const char *file, const char *args)
{
	char *out = NULL;

	if (run(&out, "openssl x509 -noout %s -in %s/%s", args, c->dir,
	    file) != 0)
		fail_msg("openssl x509 %s %s: %s", args, file, out);
	return out;
}

static mode_t
mode_of(const struct ctx *c, const char *name)
{
	char path[PATH_MAX * 2];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", c->dir, name[0] != '\0' ?
	    "/" : "", name);
	if (lstat(path, &st) == -1)
		fail_msg("%s: %s", path, strerror(errno));
	return st.st_mode;
}

/* The names in c->dir, sorted, joined by ' '; the caller frees it. */
static char *
listing(const struct ctx *c)
{
	struct dirent **v;
	char *s;
	size_t len = 1;
	int n, i;

	assert_true((n = scandir(c->dir, &v, NULL, alphasort)) >= 0);
	for (i = 0; i < n; i++)
		len += strlen(v[i]->d_name) + 1;
	assert_non_null(s = calloc(1, len));
	for (i = 0; i < n; i++) {
		if (strcmp(v[i]->d_name, ".") != 0 &&
		    strcmp(v[i]->d_name, "..") != 0) {
			if (s[0] != '\0')
				strcat(s, " ");
			strcat(s, v[i]->d_name);
		}
		free(v[i]);
	}
	free(v);
	return s;
}

#define INIT_FILES	"admin.key admin.pem ca.key ca.pem crl.pem " \
	"index.json readonly.key readonly.pem server.key server.pem " \
	"vmmd-tls.conf"

/* `openssl verify` of dir/file against the CA and the CRL. */
static int
verify(const struct ctx *c, const char *file, char **out)
{
	return run(out, "cd %s && openssl verify -CAfile ca.pem -crl_check "
	    "-CRLfile crl.pem %s", c->dir, file);
}

/* -------------------------------------------------------------------------- */
/* init: files, modes, contents. */

static void
test_init_files(void **state)
{
	struct ctx *c = *state;
	static const struct {
		const char *name;
		mode_t mode;
	} want[] = {
		{ "", S_IFDIR | 0755 },
		{ "ca.key", S_IFREG | 0600 },
		{ "ca.pem", S_IFREG | 0644 },
		{ "server.key", S_IFREG | 0600 },
		{ "server.pem", S_IFREG | 0644 },
		{ "admin.key", S_IFREG | 0600 },
		{ "admin.pem", S_IFREG | 0644 },
		{ "readonly.key", S_IFREG | 0600 },
		{ "readonly.pem", S_IFREG | 0644 },
		{ "crl.pem", S_IFREG | 0644 },
		{ "index.json", S_IFREG | 0644 },
		{ "vmmd-tls.conf", S_IFREG | 0644 },
	};
	mode_t old;
	size_t i;
	char *s;

	/* A strict umask changes nothing: the modes are set exactly. */
	old = umask(077);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)), 0);
	umask(old);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (mode_of(c, want[i].name) != want[i].mode)
			fail_msg("%s: mode %o, want %o", want[i].name,
			    mode_of(c, want[i].name), want[i].mode);
	s = listing(c);
	assert_string_equal(s, INIT_FILES);
	free(s);
	s = slurp(c, "ca.key");
	assert_true(strncmp(s, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	free(s);
}

static void
test_init_conf(void **state)
{
	struct ctx *c = *state;
	struct config_errors errs = { NULL, 0 };
	struct config cfg;
	char want[CMD_MAX], path[PATH_MAX * 2];
	char *s;
	const char *d = c->dir;

	snprintf(want, sizeof(want),
	    "tls-listen \"*:8443\"\n"
	    "tls-certificate \"%s/server.pem\"\n"
	    "tls-key \"%s/server.key\"\n"
	    "tls-ca \"%s/ca.pem\"\n"
	    "tls-crl \"%s/crl.pem\"\n"
	    "tls-role admin ou \"admin\"\n"
	    "tls-role operator ou \"operator\"\n"
	    "tls-role readonly ou \"readonly\"\n", d, d, d, d);
	s = slurp(c, "vmmd-tls.conf");
	assert_string_equal(s, want);
	free(s);

	/* vmmd's own parser takes the file as it is. */
	snprintf(path, sizeof(path), "%s/vmmd-tls.conf", d);
	assert_int_equal(config_load(path, &cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	config_errors_free(&errs);
	assert_string_equal(cfg.tls_listen, "*:8443");
	snprintf(path, sizeof(path), "%s/server.pem", d);
	assert_string_equal(cfg.tls_certificate, path);
	snprintf(path, sizeof(path), "%s/crl.pem", d);
	assert_string_equal(cfg.tls_crl, path);
	assert_int_equal(cfg.nroles, 3);
	assert_int_equal(cfg.roles[0].role, RPC_ROLE_ADMIN);
	assert_int_equal(cfg.roles[0].match, CONFIG_MATCH_OU);
	assert_string_equal(cfg.roles[0].pattern, "admin");
	assert_int_equal(cfg.roles[2].role, RPC_ROLE_READONLY);
	assert_string_equal(cfg.roles[2].pattern, "readonly");
}

/* A relative DIR is written absolute into vmmd-tls.conf. */
static void
test_init_relative(void **state)
{
	struct ctx *c = *state;
	char cwd[PATH_MAX], want[PATH_MAX * 2];
	char *s;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(c->root), 0);
	assert_int_equal(pki_init("pki/", NULL, c->err, sizeof(c->err)), 0);
	assert_int_equal(chdir(cwd), 0);
	s = slurp(c, "vmmd-tls.conf");
	snprintf(want, sizeof(want), "tls-certificate \"%s/server.pem\"\n",
	    c->dir);
	assert_contains(s, want);
	free(s);
}

/* An existing, empty directory is used and keeps its mode. */
static void
test_init_existing_dir(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(mkdir(c->dir, 0700), 0);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)), 0);
	assert_int_equal(mode_of(c, ""), S_IFDIR | 0700);
}

/* The subject key identifier, "AB:CD:...", of dir/file; caller frees. */
static char *
ski_of(const struct ctx *c, const char *file)
{
	char *s = squeeze(x509(c, file, "-ext subjectKeyIdentifier"));
	char *p = strstr(s, "Identifier: ");
	char *r;

	assert_non_null(p);
	p += strlen("Identifier: ");
	assert_non_null(r = strdup(p));
	if (r[strlen(r) - 1] == ' ')
		r[strlen(r) - 1] = '\0';
	assert_int_equal(strlen(r), 59);	/* 20 bytes */
	free(s);
	return r;
}

static void
test_ca_cert(void **state)
{
	struct ctx *c = *state;
	char *s, *ski, *aki;

	s = squeeze(x509(c, "ca.pem", "-text"));
	assert_contains(s, "Version: 3 (0x2)");
	assert_contains(s, "Signature Algorithm: ecdsa-with-SHA256");
	assert_contains(s, "Public-Key: (256 bit)");
	assert_contains(s, "NIST CURVE: P-256");
	assert_contains(s, "X509v3 Basic Constraints: critical CA:TRUE, "
	    "pathlen:0 ");
	assert_contains(s, "X509v3 Key Usage: critical Certificate Sign, "
	    "CRL Sign ");
	assert_true(strstr(s, "Extended Key Usage") == NULL);
	assert_true(strstr(s, "Subject Alternative Name") == NULL);
	free(s);
	s = x509(c, "ca.pem", "-subject -nameopt sep_comma_plus_space");
	assert_true(strncmp(s, "subject=O=vmm, OU=ca, CN=vmm CA", 31) == 0);
	free(s);
	/* Self-signed: its authority key identifier is its own. */
	ski = ski_of(c, "ca.pem");
	aki = squeeze(x509(c, "ca.pem", "-ext authorityKeyIdentifier"));
	assert_contains(aki, ski);
	free(ski);
	free(aki);
	/* Valid for PKI_DAYS_CA days. */
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/ca.pem "
	    "-checkend %d", c->dir, (PKI_DAYS_CA - 1) * DAY), 0);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/ca.pem "
	    "-checkend %d", c->dir, (PKI_DAYS_CA + 1) * DAY), 1);
}

/* A leaf's subject, extensions, key, serial and validity. */
static void
check_leaf(const struct ctx *c, const char *name, const char *ou,
    const char *eku, int days)
{
	char file[128], key[128], subject[256], *s, *ca_ski, *k1, *k2;
	int rc;

	snprintf(file, sizeof(file), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	s = x509(c, file, "-subject -nameopt sep_comma_plus_space");
	snprintf(subject, sizeof(subject), "subject=O=vmm, OU=%s, CN=", ou);
	assert_true(strncmp(s, subject, strlen(subject)) == 0);
	free(s);
	s = x509(c, file, "-issuer -nameopt sep_comma_plus_space");
	assert_true(strncmp(s, "issuer=O=vmm, OU=ca, CN=vmm CA", 30) == 0);
	free(s);
	s = squeeze(x509(c, file, "-text"));
	assert_contains(s, "Signature Algorithm: ecdsa-with-SHA256");
	assert_contains(s, "NIST CURVE: P-256");
	assert_contains(s, "X509v3 Basic Constraints: critical CA:FALSE ");
	assert_contains(s, "X509v3 Key Usage: critical Digital Signature ");
	assert_contains(s, eku);
	assert_contains(s, "X509v3 Subject Key Identifier: ");
	ca_ski = ski_of(c, "ca.pem");
	snprintf(subject, sizeof(subject), "X509v3 Authority Key Identifier: "
	    "%s ", ca_ski);
	assert_contains(s, subject);
	free(ca_ski);
	free(s);

	/* A 128-bit serial: 32 hex digits, the top bit set. */
	s = x509(c, file, "-serial");
	assert_int_equal(strlen(s), strlen("serial=") + 32 + 1);
	assert_true(strchr("89ABCDEF", s[7]) != NULL);
	free(s);

	/* The key is the certificate's. */
	assert_int_equal(run(&k1, "openssl pkey -pubout -in %s/%s", c->dir,
	    key), 0);
	k2 = x509(c, file, "-pubkey");
	assert_string_equal(k1, k2);
	free(k1);
	free(k2);

	rc = run(NULL, "openssl x509 -noout -in %s/%s -checkend %d", c->dir,
	    file, (days - 1) * DAY);
	assert_int_equal(rc, 0);
	rc = run(NULL, "openssl x509 -noout -in %s/%s -checkend %d", c->dir,
	    file, (days + 1) * DAY);
	assert_int_equal(rc, 1);
}

static void
test_leaf_certs(void **state)
{
	struct ctx *c = *state;
	char *s, host[PKI_SAN_LEN_MAX + 1], want[1024];
	const char *v[4];
	size_t n, i;

	check_leaf(c, "server", "server", "X509v3 Extended Key Usage: TLS Web "
	    "Server Authentication ", PKI_DAYS_LEAF);
	check_leaf(c, "admin", "admin", "X509v3 Extended Key Usage: TLS Web "
	    "Client Authentication ", PKI_DAYS_LEAF);
	check_leaf(c, "readonly", "readonly", "X509v3 Extended Key Usage: TLS "
	    "Web Client Authentication ", PKI_DAYS_LEAF);

	s = x509(c, "admin.pem", "-subject -nameopt sep_comma_plus_space");
	assert_string_equal(s, "subject=O=vmm, OU=admin, CN=admin\n");
	free(s);
	s = x509(c, "readonly.pem", "-subject -nameopt sep_comma_plus_space");
	assert_string_equal(s, "subject=O=vmm, OU=readonly, CN=readonly\n");
	free(s);

	/* The default names: the host's, localhost and the loopbacks. */
	n = pki_san_defaults(v, host, sizeof(host));
	assert_true(n == 3 || n == 4);
	assert_string_equal(v[n - 3], "localhost");
	assert_string_equal(v[n - 2], "127.0.0.1");
	assert_string_equal(v[n - 1], "::1");
	want[0] = '\0';
	for (i = 0; i + 3 < n; i++) {
		strcat(want, "DNS:");
		strcat(want, v[i]);
		strcat(want, ", ");
	}
	strcat(want, "DNS:localhost, IP Address:127.0.0.1, IP Address:"
	    "0:0:0:0:0:0:0:1");
	s = squeeze(x509(c, "server.pem", "-ext subjectAltName"));
	assert_contains(s, want);
	free(s);
	s = x509(c, "server.pem", "-subject -nameopt sep_comma_plus_space");
	snprintf(want, sizeof(want), "subject=O=vmm, OU=server, CN=%s\n",
	    v[0]);
	assert_string_equal(s, want);
	free(s);

	/* The purposes openssl checks for TLS. */
	assert_int_equal(run(NULL, "cd %s && openssl verify -CAfile ca.pem "
	    "-purpose sslclient admin.pem readonly.pem", c->dir), 0);
	assert_int_equal(run(NULL, "cd %s && openssl verify -CAfile ca.pem "
	    "-purpose sslserver server.pem", c->dir), 0);
	assert_int_equal(run(NULL, "cd %s && openssl verify -CAfile ca.pem "
	    "-purpose sslserver admin.pem", c->dir), 2);
}

static void
test_init_san(void **state)
{
	struct ctx *c = *state;
	static const char *const san[] = { "vmm.example.org", "10.0.0.7",
	    "fe80::1", "*.vm.example.org" };
	struct pki_opts o = { .san = san, .nsan = 4, .days = 30,
	    .ca_days = 100 };
	char *s;

	assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)), 0);
	s = squeeze(x509(c, "server.pem", "-ext subjectAltName"));
	assert_string_equal(s, "X509v3 Subject Alternative Name: "
	    "DNS:vmm.example.org, IP Address:10.0.0.7, IP Address:"
	    "FE80:0:0:0:0:0:0:1, DNS:*.vm.example.org ");
	free(s);
	s = x509(c, "server.pem", "-subject -nameopt sep_comma_plus_space");
	assert_string_equal(s, "subject=O=vmm, OU=server, "
	    "CN=vmm.example.org\n");
	free(s);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/admin.pem "
	    "-checkend %d", c->dir, 29 * DAY), 0);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/admin.pem "
	    "-checkend %d", c->dir, 31 * DAY), 1);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/ca.pem "
	    "-checkend %d", c->dir, 99 * DAY), 0);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/ca.pem "
	    "-checkend %d", c->dir, 101 * DAY), 1);
	/* The CRL is valid as long as the CA. */
	assert_int_equal(run(&s, "openssl crl -noout -in %s/crl.pem "
	    "-nextupdate", c->dir), 0);
	free(s);
	assert_int_equal(verify(c, "server.pem", NULL), 0);
}

static void
test_init_bad(void **state)
{
	struct ctx *c = *state;
	static const struct {
		const char *san;
		const char *err;
	} bad[] = {
		{ "bad name", "--san bad name: not a DNS name nor an IP "
		    "address" },
		{ "", "--san : not a DNS name nor an IP address" },
		{ "-x.org", "--san -x.org: not a DNS name nor an IP address" },
		{ "a..b", "--san a..b: not a DNS name nor an IP address" },
		{ "a.b.", "--san a.b.: not a DNS name nor an IP address" },
		{ "1.2.3", "--san 1.2.3: not a DNS name nor an IP address" },
		{ "300.1.1.1", "--san 300.1.1.1: not a DNS name nor an IP "
		    "address" },
		{ "a,DNS:evil.org", "--san a,DNS:evil.org: not a DNS name nor "
		    "an IP address" },
		{ "a\"b", "--san a\"b: not a DNS name nor an IP address" },
		{ "x*.org", "--san x*.org: not a DNS name nor an IP address" },
	};
	const char *v[2];
	struct pki_opts o = { .san = v, .nsan = 1 };
	char label[70];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v[0] = bad[i].san;
		assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)),
		    -EINVAL);
		assert_string_equal(c->err, bad[i].err);
		assert_int_equal(access(c->dir, F_OK), -1);
	}
	memset(label, 'a', 64);
	label[64] = '\0';
	v[0] = label;
	assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)),
	    -EINVAL);
	assert_string_equal(c->err, "--san aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa: not a DNS name nor an IP address");
	v[0] = "localhost";
	v[1] = "localhost";
	o.nsan = 2;
	assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)),
	    -EINVAL);
	assert_string_equal(c->err, "--san localhost: given twice");
	o.nsan = PKI_SAN_MAX + 1;
	assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)),
	    -EINVAL);
	assert_string_equal(c->err, "the server needs 1 to 32 names");

	o.nsan = 0;
	o.days = PKI_DAYS_MAX + 1;
	assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)),
	    -EINVAL);
	assert_string_equal(c->err, "a validity is 1 to 36500 days");
	o.days = 0;
	o.not_before = 2000000000;
	o.not_after = 2000000000;
	assert_int_equal(pki_init(c->dir, &o, c->err, sizeof(c->err)),
	    -EINVAL);
	assert_string_equal(c->err, "the validity ends before it starts");
	assert_int_equal(access(c->dir, F_OK), -1);

	/* A file where the directory should be. */
	assert_int_equal(close(open(c->dir, O_CREAT | O_WRONLY, 0644)), 0);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)),
	    -ENOTDIR);
	assert_true(strstr(c->err, ": not a directory") != NULL);
	assert_int_equal(unlink(c->dir), 0);

	/* A path vmmd.conf cannot hold: nothing is left behind. */
	snprintf(c->dir, sizeof(c->dir), "%s/q\"uote", c->root);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)),
	    -EINVAL);
	assert_true(strstr(c->err, ": vmmd.conf cannot name a path with a "
	    "quote, a backslash or a control character") != NULL);
	assert_int_equal(access(c->dir, F_OK), -1);
}

/* -------------------------------------------------------------------------- */
/* No overwrite. */

static void
test_init_twice(void **state)
{
	struct ctx *c = *state;
	static const char *const files[] = { "ca.key", "ca.pem", "server.key",
	    "server.pem", "admin.key", "admin.pem", "readonly.key",
	    "readonly.pem", "crl.pem", "index.json", "vmmd-tls.conf" };
	char *before[11], *after, *out, want[PATH_MAX * 3];
	size_t i;

	for (i = 0; i < 11; i++)
		before[i] = slurp(c, files[i]);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)),
	    -EEXIST);
	snprintf(want, sizeof(want), "%s already holds a CA (%s/ca.key); not "
	    "overwriting", c->dir, c->dir);
	assert_string_equal(c->err, want);

	/* The same through the command line: one line, exit status 1. */
	assert_int_equal(run(&out, VMMD " pki init %s", c->dir), 1);
	snprintf(want, sizeof(want), "vmmd pki: %s already holds a CA "
	    "(%s/ca.key); not overwriting\n", c->dir, c->dir);
	assert_string_equal(out, want);
	free(out);

	for (i = 0; i < 11; i++) {
		after = slurp(c, files[i]);
		assert_string_equal(before[i], after);
		free(after);
		free(before[i]);
	}
	out = listing(c);
	assert_string_equal(out, INIT_FILES);
	free(out);

	/* Only ca.pem left: still a CA. */
	snprintf(want, sizeof(want), "%s/ca.key", c->dir);
	assert_int_equal(unlink(want), 0);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)),
	    -EEXIST);
	snprintf(want, sizeof(want), "%s already holds a CA (%s/ca.pem); not "
	    "overwriting", c->dir, c->dir);
	assert_string_equal(c->err, want);
}

/* Any file init would make is never replaced, and nothing is made. */
static void
test_init_stray_file(void **state)
{
	struct ctx *c = *state;
	char path[PATH_MAX * 2], want[PATH_MAX * 3], *s;
	FILE *fp;

	assert_int_equal(mkdir(c->dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/readonly.key", c->dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("mine\n", fp);
	fclose(fp);
	assert_int_equal(pki_init(c->dir, NULL, c->err, sizeof(c->err)),
	    -EEXIST);
	snprintf(want, sizeof(want), "%s exists; not overwriting", path);
	assert_string_equal(c->err, want);
	s = listing(c);
	assert_string_equal(s, "readonly.key");
	free(s);
	s = slurp(c, "readonly.key");
	assert_string_equal(s, "mine\n");
	free(s);
}

/* -------------------------------------------------------------------------- */
/* issue. */

static void
test_issue(void **state)
{
	struct ctx *c = *state;
	char *s, *after, want[PATH_MAX * 3];

	assert_int_equal(pki_issue(c->dir, "operator", "alice", NULL, c->err,
	    sizeof(c->err)), 0);
	assert_int_equal(mode_of(c, "alice.key"), S_IFREG | 0600);
	assert_int_equal(mode_of(c, "alice.pem"), S_IFREG | 0644);
	check_leaf(c, "alice", "operator", "X509v3 Extended Key Usage: TLS "
	    "Web Client Authentication ", PKI_DAYS_LEAF);
	s = x509(c, "alice.pem", "-subject -nameopt sep_comma_plus_space");
	assert_string_equal(s, "subject=O=vmm, OU=operator, CN=alice\n");
	free(s);
	assert_int_equal(verify(c, "alice.pem", &s), 0);
	assert_string_equal(s, "alice.pem: OK\n");
	free(s);

	/* Never twice, never over a file. */
	s = slurp(c, "alice.key");
	assert_int_equal(pki_issue(c->dir, "admin", "alice", NULL, c->err,
	    sizeof(c->err)), -EEXIST);
	snprintf(want, sizeof(want), "alice: a certificate was issued for "
	    "this name before (%s/index.json); not overwriting", c->dir);
	assert_string_equal(c->err, want);
	after = slurp(c, "alice.key");
	assert_string_equal(s, after);
	free(after);
	free(s);
	snprintf(want, sizeof(want), "%s/bob.key", c->dir);
	assert_int_equal(close(open(want, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(pki_issue(c->dir, "admin", "bob", NULL, c->err,
	    sizeof(c->err)), -EEXIST);
	snprintf(want, sizeof(want), "%s/bob.key exists; not overwriting",
	    c->dir);
	assert_string_equal(c->err, want);
	assert_int_equal(access(want, F_OK), -1);	/* bob.pem */
	s = slurp(c, "index.json");
	assert_null(strstr(s, "\"bob\""));
	free(s);

	/* Every role; the index records them. */
	assert_int_equal(pki_issue(c->dir, "admin", "carol", NULL, c->err,
	    sizeof(c->err)), 0);
	assert_int_equal(pki_issue(c->dir, "readonly", "dave", NULL, c->err,
	    sizeof(c->err)), 0);
	s = x509(c, "dave.pem", "-subject -nameopt sep_comma_plus_space");
	assert_string_equal(s, "subject=O=vmm, OU=readonly, CN=dave\n");
	free(s);
	s = slurp(c, "index.json");
	assert_contains(s, "\"name\": \"carol\",\n      \"kind\": \"client\","
	    "\n      \"role\": \"admin\"");
	free(s);
}

static void
test_issue_names(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = { "", ".x", "..", "a/b", "a b",
	    "x\n", "caf\xc3\xa9", "a:b", "*", "a\\b",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	static const char *const reserved[] = { "ca", "server", "crl" };
	static const char *const good[] = { "a", "A-b_c.d", "x.",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	char want[256];
	size_t i;
	char *before, *after;

	before = listing(c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(pki_name_ok(bad[i]));
		assert_int_equal(pki_issue(c->dir, "admin", bad[i], NULL,
		    c->err, sizeof(c->err)), -EINVAL);
		snprintf(want, sizeof(want), "%.64s: a name is 1 to 64 "
		    "letters, digits, '.', '_' or '-', not starting with '.'",
		    bad[i]);
		assert_string_equal(c->err, want);
	}
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		assert_int_equal(pki_issue(c->dir, "admin", reserved[i], NULL,
		    c->err, sizeof(c->err)), -EINVAL);
		snprintf(want, sizeof(want), "%s: reserved for the PKI's own "
		    "files", reserved[i]);
		assert_string_equal(c->err, want);
	}
	assert_int_equal(pki_issue(c->dir, "root", "eve", NULL, c->err,
	    sizeof(c->err)), -EINVAL);
	assert_string_equal(c->err, "root: not a role (readonly, operator or "
	    "admin)");
	after = listing(c);
	assert_string_equal(before, after);
	free(before);
	free(after);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(pki_name_ok(good[i]));
		assert_int_equal(pki_issue(c->dir, "readonly", good[i], NULL,
		    c->err, sizeof(c->err)), 0);
	}
}

static void
test_issue_no_ca(void **state)
{
	struct ctx *c = *state;
	char want[PATH_MAX * 3];

	assert_int_equal(pki_issue(c->dir, "admin", "x", NULL, c->err,
	    sizeof(c->err)), -ENOENT);
	snprintf(want, sizeof(want), "%s holds no CA (%s/ca.key is missing); "
	    "vmmd pki init makes one", c->dir, c->dir);
	assert_string_equal(c->err, want);
}

/* A damaged index or a CA key that is not the CA's: refused, unchanged. */
static void
test_issue_damaged(void **state)
{
	struct ctx *c = *state;
	struct ctx other;
	char path[PATH_MAX * 2], want[PATH_MAX * 3], *idx, *s;
	FILE *fp;

	idx = slurp(c, "index.json");
	snprintf(path, sizeof(path), "%s/index.json", c->dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("{\"version\": 2, \"crl_number\": 1, \"certificates\": []}\n",
	    fp);
	fclose(fp);
	assert_int_equal(pki_issue(c->dir, "admin", "x", NULL, c->err,
	    sizeof(c->err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not an index of vmmd pki (version "
	    "1)", path);
	assert_string_equal(c->err, want);
	assert_non_null(fp = fopen(path, "w"));
	fputs("{\"version\": 1, \"version\": 1}", fp);
	fclose(fp);
	assert_int_equal(pki_issue(c->dir, "admin", "x", NULL, c->err,
	    sizeof(c->err)), -EIO);
	assert_true(strncmp(c->err, path, strlen(path)) == 0);
	assert_non_null(fp = fopen(path, "w"));
	fputs(idx, fp);
	fclose(fp);
	free(idx);
	s = listing(c);
	assert_string_equal(s, INIT_FILES);
	free(s);

	/* Another PKI's ca.pem next to this ca.key. */
	memcpy(&other, c, sizeof(other));
	snprintf(other.dir, sizeof(other.dir), "%s/other", c->root);
	assert_int_equal(pki_init(other.dir, NULL, c->err, sizeof(c->err)),
	    0);
	assert_int_equal(run(NULL, "cp %s/ca.pem %s/ca.pem", other.dir,
	    c->dir), 0);
	assert_int_equal(pki_issue(c->dir, "admin", "x", NULL, c->err,
	    sizeof(c->err)), -EINVAL);
	snprintf(want, sizeof(want), "%s/ca.key does not match %s/ca.pem",
	    c->dir, c->dir);
	assert_string_equal(c->err, want);
}

/* Concurrent issues in one directory: the lock keeps every entry. */
static void
test_issue_concurrent(void **state)
{
	struct ctx *c = *state;
	char name[32], err[512], *s;
	pid_t pid[CHILDREN];
	int i, st;

	for (i = 0; i < CHILDREN; i++) {
		assert_true((pid[i] = fork()) != -1);
		if (pid[i] == 0) {
			snprintf(name, sizeof(name), "child%d", i);
			_exit(pki_issue(c->dir, "operator", name, NULL, err,
			    sizeof(err)) == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < CHILDREN; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	s = slurp(c, "index.json");
	for (i = 0; i < CHILDREN; i++) {
		snprintf(name, sizeof(name), "\"child%d\"", i);
		assert_contains(s, name);
		snprintf(name, sizeof(name), "child%d.pem", i);
		assert_int_equal(verify(c, name, NULL), 0);
	}
	free(s);
}

/* -------------------------------------------------------------------------- */
/* Validity. */

static void
test_expired(void **state)
{
	struct ctx *c = *state;
	time_t now = time(NULL);
	struct pki_opts o = { .not_before = now - 10 * DAY,
	    .not_after = now - DAY };
	char *s;

	assert_int_equal(pki_issue(c->dir, "admin", "old", &o, c->err,
	    sizeof(c->err)), 0);
	assert_int_equal(verify(c, "old.pem", &s), 2);
	assert_contains(s, "error 10 at 0 depth lookup: certificate has "
	    "expired");
	free(s);

	o.not_before = now + DAY;
	o.not_after = now + 10 * DAY;
	assert_int_equal(pki_issue(c->dir, "admin", "early", &o, c->err,
	    sizeof(c->err)), 0);
	assert_int_equal(verify(c, "early.pem", &s), 2);
	assert_contains(s, "error 9 at 0 depth lookup: certificate is not yet "
	    "valid");
	free(s);

	o.not_before = now;
	o.not_after = now - 1;
	assert_int_equal(pki_issue(c->dir, "admin", "never", &o, c->err,
	    sizeof(c->err)), -EINVAL);
	assert_string_equal(c->err, "the validity ends before it starts");

	/* --days: validity from now. */
	memset(&o, 0, sizeof(o));
	o.days = 7;
	assert_int_equal(pki_issue(c->dir, "admin", "week", &o, c->err,
	    sizeof(c->err)), 0);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/week.pem "
	    "-checkend %d", c->dir, 6 * DAY), 0);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/week.pem "
	    "-checkend %d", c->dir, 8 * DAY), 1);
	assert_int_equal(verify(c, "week.pem", NULL), 0);
}

/* -------------------------------------------------------------------------- */
/* revoke. */

static void
test_revoke(void **state)
{
	struct ctx *c = *state;
	char serial[64], want[1024], *s;
	bool already;

	assert_int_equal(verify(c, "admin.pem", &s), 0);
	assert_string_equal(s, "admin.pem: OK\n");
	free(s);
	assert_int_equal(run(&s, "openssl crl -noout -text -in %s/crl.pem",
	    c->dir), 0);
	squeeze(s);
	assert_contains(s, "X509v3 CRL Number: 1 ");
	assert_contains(s, "No Revoked Certificates.");
	assert_contains(s, "Version 2 (0x1)");
	free(s);

	assert_int_equal(pki_revoke(c->dir, "admin", &already, serial,
	    sizeof(serial), c->err, sizeof(c->err)), 0);
	assert_false(already);
	s = x509(c, "admin.pem", "-serial");
	snprintf(want, sizeof(want), "serial=%s\n", serial);
	assert_string_equal(s, want);
	free(s);

	assert_int_equal(verify(c, "admin.pem", &s), 2);
	assert_contains(s, "error 23 at 0 depth lookup: certificate revoked");
	free(s);
	assert_int_equal(verify(c, "readonly.pem", &s), 0);
	assert_string_equal(s, "readonly.pem: OK\n");
	free(s);
	assert_int_equal(mode_of(c, "crl.pem"), S_IFREG | 0644);
	assert_int_equal(mode_of(c, "index.json"), S_IFREG | 0644);
	s = listing(c);
	assert_string_equal(s, INIT_FILES);	/* no temporary file left */
	free(s);
	assert_int_equal(run(&s, "openssl crl -noout -text -in %s/crl.pem",
	    c->dir), 0);
	squeeze(s);
	assert_contains(s, "X509v3 CRL Number: 2 ");
	snprintf(want, sizeof(want), "Revoked Certificates: Serial Number: "
	    "%s Revocation Date: ", serial);
	assert_contains(s, want);
	free(s);
	assert_int_equal(run(NULL, "openssl crl -noout -in %s/crl.pem "
	    "-CAfile %s/ca.pem", c->dir, c->dir), 0);

	/* Again: not an error, the list signed anew. */
	assert_int_equal(pki_revoke(c->dir, "admin", &already, NULL, 0,
	    c->err, sizeof(c->err)), 0);
	assert_true(already);
	assert_int_equal(verify(c, "admin.pem", NULL), 2);

	/* Two revoked. */
	assert_int_equal(pki_revoke(c->dir, "readonly", &already, NULL, 0,
	    c->err, sizeof(c->err)), 0);
	assert_int_equal(verify(c, "readonly.pem", &s), 2);
	assert_contains(s, "certificate revoked");
	free(s);
	assert_int_equal(verify(c, "admin.pem", NULL), 2);
	assert_int_equal(verify(c, "server.pem", NULL), 0);

	assert_int_equal(pki_revoke(c->dir, "nobody", NULL, NULL, 0, c->err,
	    sizeof(c->err)), -ENOENT);
	snprintf(want, sizeof(want), "nobody: no certificate was issued for "
	    "this name in %s", c->dir);
	assert_string_equal(c->err, want);
	assert_int_equal(pki_revoke(c->dir, "ca", NULL, NULL, 0, c->err,
	    sizeof(c->err)), -EINVAL);
	assert_string_equal(c->err, "ca: the CA cannot be revoked; make a new "
	    "PKI instead");
	assert_int_equal(pki_revoke(c->dir, "../x", NULL, NULL, 0, c->err,
	    sizeof(c->err)), -EINVAL);
	assert_string_equal(c->err, "../x: not a name of vmmd pki");
}

/* -------------------------------------------------------------------------- */
/* Fingerprints. */

static void
test_fingerprint(void **state)
{
	struct ctx *c = *state;
	char fp[PKI_FINGERPRINT_SIZE], want[PATH_MAX * 3], path[PATH_MAX * 2];
	char *s, *eq, *nl;
	/* admin.pem last: fp stays its fingerprint. */
	static const char *const files[] = { "ca.pem", "server.pem",
	    "readonly.pem", "admin.pem" };
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, files[i]);
		assert_int_equal(pki_fingerprint_file(path, fp, sizeof(fp),
		    c->err, sizeof(c->err)), 0);
		assert_int_equal(strlen(fp), 7 + 95);
		s = x509(c, files[i], "-fingerprint -sha256");
		assert_non_null(eq = strchr(s, '='));
		assert_non_null(nl = strchr(eq, '\n'));
		*nl = '\0';
		snprintf(want, sizeof(want), "SHA256:%s", eq + 1);
		assert_string_equal(fp, want);
		free(s);
	}

	/* DER too, and the command line. */
	assert_int_equal(run(NULL, "openssl x509 -in %s/admin.pem -outform DER "
	    "-out %s/admin.der", c->dir, c->root), 0);
	snprintf(path, sizeof(path), "%s/admin.der", c->root);
	assert_int_equal(pki_fingerprint_file(path, want, sizeof(want),
	    c->err, sizeof(c->err)), 0);
	assert_string_equal(want, fp);	/* fp: admin.pem's */
	assert_int_equal(run(&s, VMMD " pki fingerprint %s", path), 0);
	snprintf(want, sizeof(want), "%s\n", fp);
	assert_string_equal(s, want);
	free(s);

	assert_int_equal(pki_fingerprint_file(path, fp, PKI_FINGERPRINT_SIZE -
	    1, c->err, sizeof(c->err)), -ENOSPC);
	snprintf(path, sizeof(path), "%s/index.json", c->dir);
	assert_int_equal(pki_fingerprint_file(path, fp, sizeof(fp), c->err,
	    sizeof(c->err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a certificate (PEM or DER)",
	    path);
	assert_string_equal(c->err, want);
	snprintf(path, sizeof(path), "%s/none.pem", c->dir);
	assert_int_equal(pki_fingerprint_file(path, fp, sizeof(fp), c->err,
	    sizeof(c->err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(c->err, want);
}

/* -------------------------------------------------------------------------- */
/* A real mutual-TLS handshake: openssl s_server and s_client. */

struct srv {
	pid_t pid;
	int in;				/* s_server's stdin, kept open */
	int port;
	char log[PATH_MAX * 2];
};

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/*
 * openssl s_server on 127.0.0.1 with c's server certificate, requiring a
 * client certificate from c's CA, checked against the CRL; for one
 * connection.  Returns once it accepts.
 */
static void
srv_start(const struct ctx *c, struct srv *s)
{
	char accept[32], ca[PATH_MAX * 2], crl[PATH_MAX * 2];
	char cert[PATH_MAX * 2], key[PATH_MAX * 2], *log = NULL;
	int p[2], fd, i;

	s->port = free_port();
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", s->port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", c->dir);
	snprintf(crl, sizeof(crl), "%s/crl.pem", c->dir);
	snprintf(cert, sizeof(cert), "%s/server.pem", c->dir);
	snprintf(key, sizeof(key), "%s/server.key", c->dir);
	snprintf(s->log, sizeof(s->log), "%s/s_server.%d.log", c->root,
	    s->port);
	assert_int_equal(pipe(p), 0);
	assert_true((s->pid = fork()) != -1);
	if (s->pid == 0) {
		fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 || dup2(p[0], 0) == -1 || dup2(fd, 1) == -1 ||
		    dup2(fd, 2) == -1)
			_exit(127);
		close(p[1]);
		execlp("openssl", "openssl", "s_server", "-accept", accept,
		    "-naccept", "1", "-Verify", "1", "-verify_return_error",
		    "-CAfile", ca, "-crl_check", "-CRL", crl, "-cert", cert,
		    "-key", key, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	s->in = p[1];
	for (i = 0; i < 1000; i++) {
		free(log);
		log = tu_read_file(s->log, NULL);
		if (log != NULL && strstr(log, "ACCEPT\n") != NULL)
			break;
		usleep(10000);
	}
	if (log == NULL || strstr(log, "ACCEPT\n") == NULL)
		fail_msg("s_server did not start: %s", log != NULL ? log : "");
	free(log);
}

/* Stop s_server (it ends after its connection); its output. */
static char *
srv_stop(struct srv *s)
{
	int i, st;
	char *log;

	close(s->in);
	for (i = 0; i < 500; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid)
			break;
		usleep(10000);
	}
	if (i == 500) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &st, 0);
	}
	assert_non_null(log = tu_read_file(s->log, NULL));
	return log;
}

/* s_client as client name, checking the server's name host. */
static int
client(const struct ctx *c, const struct srv *s, const char *name,
    const char *host, char **out)
{
	return run(out, "echo hello-from-%s | timeout 20 openssl s_client "
	    "-connect 127.0.0.1:%d -cert %s/%s.pem -key %s/%s.key -CAfile "
	    "%s/ca.pem -verify_return_error -verify_hostname %s -brief", name,
	    s->port, c->dir, name, c->dir, name, c->dir, host);
}

static void
test_tls(void **state)
{
	struct ctx *c = *state;
	struct srv s;
	char *out, *log;
	bool already;

	/* admin: trusted both ways. */
	srv_start(c, &s);
	assert_int_equal(client(c, &s, "admin", "localhost", &out), 0);
	log = srv_stop(&s);
	assert_contains(out, "CONNECTION ESTABLISHED\n");
	assert_contains(out, "Verification: OK\n");
	assert_contains(out, "Verified peername: localhost\n");
	assert_contains(out, "Peer certificate: O = vmm, OU = server, CN = ");
	assert_contains(log, "subject=O = vmm, OU = admin, CN = admin\n");
	assert_contains(log, "hello-from-admin\n");
	free(out);
	free(log);

	/* The server's certificate does not name other.example.org. */
	srv_start(c, &s);
	assert_int_not_equal(client(c, &s, "readonly", "other.example.org",
	    &out), 0);
	log = srv_stop(&s);
	assert_contains(out, "hostname mismatch");
	assert_null(strstr(log, "hello-from-readonly"));
	free(out);
	free(log);

	/* A revoked client is refused by the server. */
	assert_int_equal(pki_revoke(c->dir, "readonly", &already, NULL, 0,
	    c->err, sizeof(c->err)), 0);
	srv_start(c, &s);
	(void)client(c, &s, "readonly", "localhost", &out);
	log = srv_stop(&s);
	assert_contains(log, "verify error:num=23:certificate revoked\n");
	assert_null(strstr(log, "hello-from-readonly"));
	free(out);
	free(log);
}

/* -------------------------------------------------------------------------- */
/* The command line. */

static void
test_cli_usage(void **state)
{
	struct ctx *c = *state;
	static const struct {
		const char *args;
		int status;
		const char *out;
	} cases[] = {
		{ "", 2, "usage: vmmd pki init DIR [--san NAME]... [--days N] "
		    "[--ca-days N]\n"
		    "       vmmd pki issue DIR --role readonly|operator|admin "
		    "[--days N] NAME\n"
		    "       vmmd pki revoke DIR NAME\n"
		    "       vmmd pki fingerprint FILE\n" },
		{ "bogus", 2, NULL },
		{ "init", 2, "usage: vmmd pki init DIR [--san NAME]... "
		    "[--days N] [--ca-days N]\n" },
		{ "init D E", 2, "usage: vmmd pki init DIR [--san NAME]... "
		    "[--days N] [--ca-days N]\n" },
		{ "init D --role admin", 2, "usage: vmmd pki init DIR "
		    "[--san NAME]... [--days N] [--ca-days N]\n" },
		{ "init D --days", 2, "usage: vmmd pki init DIR "
		    "[--san NAME]... [--days N] [--ca-days N]\n" },
		{ "init D --days 1 --days 2", 2, "usage: vmmd pki init DIR "
		    "[--san NAME]... [--days N] [--ca-days N]\n" },
		{ "init D --days 0", 2, "vmmd pki: --days 0: a number of days "
		    "from 1 to 36500\n" },
		{ "init D --days=1x", 2, "vmmd pki: --days 1x: a number of days "
		    "from 1 to 36500\n" },
		{ "init D --ca-days -5", 2, "vmmd pki: --ca-days -5: a number "
		    "of days from 1 to 36500\n" },
		{ "init D --days 36501", 2, "vmmd pki: --days 36501: a number "
		    "of days from 1 to 36500\n" },
		{ "issue D bob", 2, "vmmd pki issue: --role readonly|operator|"
		    "admin is required\n" },
		{ "issue D --role root bob", 2, "vmmd pki issue: --role root: "
		    "readonly, operator or admin\n" },
		{ "issue D --role admin", 2, "usage: vmmd pki issue DIR --role "
		    "readonly|operator|admin [--days N] NAME\n" },
		{ "issue D --role admin --san x bob", 2, "usage: vmmd pki "
		    "issue DIR --role readonly|operator|admin [--days N] "
		    "NAME\n" },
		{ "revoke D", 2, "usage: vmmd pki revoke DIR NAME\n" },
		{ "revoke D --days 3 x", 2, "usage: vmmd pki revoke DIR "
		    "NAME\n" },
		{ "fingerprint", 2, "usage: vmmd pki fingerprint FILE\n" },
		{ "fingerprint a b", 2, "usage: vmmd pki fingerprint FILE\n" },
	};
	size_t i;
	char *out;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (run(&out, "cd %s && " VMMD " pki %s", c->root,
		    cases[i].args) != cases[i].status)
			fail_msg("vmmd pki %s: status, output %s",
			    cases[i].args, out);
		if (cases[i].out != NULL)
			assert_string_equal(out, cases[i].out);
		free(out);
	}
	/* Nothing was made by any of them. */
	out = NULL;
	assert_int_equal(run(&out, "ls -A %s", c->root), 0);
	assert_string_equal(out, "");
	free(out);
}

static void
test_cli(void **state)
{
	struct ctx *c = *state;
	char want[PATH_MAX * 4], *out, *line;
	const char *d = c->dir;

	assert_int_equal(run(&out, VMMD " pki init %s --san vmm.example.org "
	    "--san 192.0.2.1 --days 90", d), 0);
	snprintf(want, sizeof(want),
	    "vmmd pki: made a CA and certificates in %s:\n"
	    "  ca.pem, ca.key              the CA (ca.key signs: keep it "
	    "secret)\n"
	    "  server.pem, server.key      vmmd's certificate, for "
	    "vmm.example.org, 192.0.2.1\n"
	    "  admin.pem, admin.key        a client with the admin role\n"
	    "  readonly.pem, readonly.key  a client with the readonly role\n"
	    "  crl.pem                     the revocation list (vmmd pki "
	    "revoke)\n"
	    "  index.json                  the certificates issued\n"
	    "  vmmd-tls.conf               the vmmd.conf lines that use them\n"
	    "next: add the lines of %s/vmmd-tls.conf to /etc/vmmd.conf and "
	    "restart vmmd; then, from a client holding copies of ca.pem, "
	    "admin.pem and admin.key:\n"
	    "  vmmctl --connect tls://vmm.example.org:8443 --cert %s/admin.pem "
	    "--key %s/admin.key --ca %s/ca.pem list\n", d, d, d, d, d);
	assert_string_equal(out, want);
	free(out);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/server.pem "
	    "-checkend %d", d, 91 * DAY), 1);

	assert_int_equal(run(&out, VMMD " pki issue %s --role operator "
	    "--days 30 bob", d), 0);
	snprintf(want, sizeof(want), "vmmd pki: issued %s/bob.pem and "
	    "%s/bob.key with the operator role\n  fingerprint SHA256:", d, d);
	assert_true(strncmp(out, want, strlen(want)) == 0);
	line = out + strlen(want) - strlen("SHA256:");
	assert_int_equal(strlen(line), 7 + 95 + 1);
	free(out);
	assert_int_equal(run(NULL, "openssl x509 -noout -in %s/bob.pem "
	    "-checkend %d", d, 31 * DAY), 1);

	assert_int_equal(run(&out, VMMD " pki issue %s --role admin .bob", d),
	    1);
	assert_string_equal(out, "vmmd pki: .bob: a name is 1 to 64 letters, "
	    "digits, '.', '_' or '-', not starting with '.'\n");
	free(out);

	assert_int_equal(run(&out, VMMD " pki revoke %s bob", d), 0);
	assert_true(strncmp(out, "vmmd pki: bob revoked (serial ", 30) == 0);
	snprintf(want, sizeof(want), "); %s/crl.pem re-signed\nnext: reload "
	    "vmmd (SIGHUP) or restart it so that it reads the new list\n", d);
	assert_contains(out, want);
	free(out);
	assert_int_equal(verify(c, "bob.pem", NULL), 2);
	assert_int_equal(run(&out, VMMD " pki revoke %s bob", d), 0);
	assert_true(strncmp(out, "vmmd pki: bob was already revoked (serial ",
	    42) == 0);
	free(out);
	assert_int_equal(run(&out, VMMD " pki revoke %s nobody", d), 1);
	snprintf(want, sizeof(want), "vmmd pki: nobody: no certificate was "
	    "issued for this name in %s\n", d);
	assert_string_equal(out, want);
	free(out);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TI(f)	cmocka_unit_test_setup_teardown(f, setup_init, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init_files),
		TI(test_init_conf),
		T(test_init_relative),
		T(test_init_existing_dir),
		TI(test_ca_cert),
		TI(test_leaf_certs),
		T(test_init_san),
		T(test_init_bad),
		TI(test_init_twice),
		T(test_init_stray_file),
		TI(test_issue),
		TI(test_issue_names),
		T(test_issue_no_ca),
		TI(test_issue_damaged),
		TI(test_issue_concurrent),
		TI(test_expired),
		TI(test_revoke),
		TI(test_fingerprint),
		TI(test_tls),
		T(test_cli_usage),
		T(test_cli),
	};
#undef T
#undef TI

	return cmocka_run_group_tests(tests, NULL, NULL);
}
