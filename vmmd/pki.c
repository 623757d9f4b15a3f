/*
 * pki.c: `vmmd pki`, a private CA and the certificates of vmmd's TLS
 * listener and its clients, made with OpenSSL 3's C API (pki.h).
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "pki.h"

#define PKI_CURVE	"P-256"
#define PKI_ORG		"vmm"
#define PKI_CN_MAX	64		/* ub-common-name, RFC 5280 */
#define PKI_DAY		86400
#define PKI_INDEX_VERSION 1
#define PKI_MODE_DIR	0755
#define PKI_MODE_KEY	0600
#define PKI_MODE_PUB	0644
#define PKI_UNDO_MAX	16

#define PKI_CA		"ca"
#define PKI_SERVER	"server"
#define PKI_CRL		"crl.pem"
#define PKI_INDEX	"index.json"
#define PKI_CONF	"vmmd-tls.conf"


static const char *const pki_roles[] = { "readonly", "operator", "admin" };

/* Names whose files the PKI itself uses (ca.pem, server.pem, crl.pem). */
static const char *const pki_reserved[] = { PKI_CA, PKI_SERVER, "crl" };

/* What pki_init makes, in order; each must be absent before it starts. */
static const char *const pki_init_files[] = {
	"ca.key", "ca.pem", "server.key", "server.pem", "admin.key",
	"admin.pem", "readonly.key", "readonly.pem", PKI_CRL, PKI_INDEX,
	PKI_CONF,
};

/* The lines of vmmd-tls.conf; each %s is the directory, absolute. */
static const char pki_conf_fmt[] =
    "tls-listen \"*:8443\"\n"
    "tls-certificate \"%s/server.pem\"\n"
    "tls-key \"%s/server.key\"\n"
    "tls-ca \"%s/ca.pem\"\n"
    "tls-crl \"%s/crl.pem\"\n"
    "tls-role admin ou \"admin\"\n"
    "tls-role operator ou \"operator\"\n"
    "tls-role readonly ou \"readonly\"\n";

/* An X509v3 extension in OpenSSL's configuration syntax. */
struct pki_ext {
	int nid;
	const char *value;
};

/*
 * The subject key identifier comes before the authority's: a self-signed
 * certificate's authority key identifier is read from it.
 */
static const struct pki_ext pki_ext_ca[] = {
	{ NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
	{ NID_key_usage, "critical,keyCertSign,cRLSign" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
};

static const struct pki_ext pki_ext_server[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "serverAuth" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
};

static const struct pki_ext pki_ext_client[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "clientAuth" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
};

enum pki_kind {
	PKI_KIND_CA,
	PKI_KIND_SERVER,
	PKI_KIND_CLIENT,
	PKI_KIND_COUNT
};

static const struct {
	const char *name;		/* in index.json and messages */
	const struct pki_ext *ext;
	size_t next;
} pki_kinds[PKI_KIND_COUNT] = {
	[PKI_KIND_CA] = { "ca", pki_ext_ca, PKI_NITEMS(pki_ext_ca) },
	[PKI_KIND_SERVER] = { "server", pki_ext_server,
	    PKI_NITEMS(pki_ext_server) },
	[PKI_KIND_CLIENT] = { "client", pki_ext_client,
	    PKI_NITEMS(pki_ext_client) },
};

/* A validity period. */
struct pki_times {
	time_t not_before, not_after;
};

/* What a certificate is made of; the keys and the CA are borrowed. */
struct pki_req {
	enum pki_kind kind;
	const char *ou, *cn;
	struct pki_times t;
	EVP_PKEY *key;			/* the subject's */
	X509 *ca;			/* NULL: self-signed */
	EVP_PKEY *ca_key;
	GENERAL_NAMES *san;		/* NULL: none */
};

/*
 * An open PKI directory: its CA, index.json, and ca.key's descriptor,
 * locked (flock) until pki_ca_close, so that two commands never change
 * the same directory at once.
 */
struct pki_ca {
	char dir[PATH_MAX];		/* without a trailing '/' */
	int lock_fd;
	X509 *cert;
	EVP_PKEY *key;
	json_t *index;
};

/* The files a command made, removed again if it fails. */
struct pki_undo {
	char name[PKI_UNDO_MAX][PKI_FILE_MAX];
	size_t n;
};

/* -------------------------------------------------------------------------- */
/* Errors, paths and files. */

static int __attribute__((format(printf, 4, 5)))
pki_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/*
 * As pki_fail, with OpenSSL's reason for its last error appended, and its
 * error queue cleared.  Returns -ENOMEM for an allocation failure, else
 * -EIO.
 */
static int __attribute__((format(printf, 3, 4)))
pki_ssl_fail(char *err, size_t errlen, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	char what[256];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	rc = e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? -ENOMEM :
	    -EIO;
	ERR_clear_error();
	return pki_fail(err, errlen, rc, "%s: %s", what,
	    reason != NULL ? reason : "OpenSSL failed");
}

/* dir/name followed by suffix into buf.  0 or -ENAMETOOLONG. */
static int
pki_path(char *buf, size_t len, const char *dir, const char *name,
    const char *suffix)
{
	size_t d = strlen(dir), n = strlen(name), s = strlen(suffix);

	if (d + 1 + n + s >= len)
		return -ENAMETOOLONG;
	memcpy(buf, dir, d);
	buf[d] = '/';
	memcpy(buf + d + 1, name, n);
	memcpy(buf + d + 1 + n, suffix, s + 1);
	return 0;
}

/* dir without its trailing slashes into out.  0 or -ENAMETOOLONG. */
static int
pki_dir_copy(char *out, size_t len, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(out, dir, n);
	out[n] = '\0';
	return 0;
}

static void
pki_undo_add(struct pki_undo *u, const char *name)
{
	if (u != NULL && u->n < PKI_UNDO_MAX)
		snprintf(u->name[u->n++], PKI_FILE_MAX, "%s", name);
}

/* Remove the files made, newest first. */
static void
pki_undo_run(struct pki_undo *u, const char *dir)
{
	char path[PATH_MAX];

	while (u->n > 0) {
		u->n--;
		if (pki_path(path, sizeof(path), dir, u->name[u->n], "") == 0)
			(void)unlink(path);
	}
}

static int
pki_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The bytes of a memory BIO onto fd, then fsync.  0 or a negative errno. */
static int
pki_put(int fd, BIO *bio)
{
	char *p;
	long len;
	int rc;

	if ((len = BIO_get_mem_data(bio, &p)) < 0)
		return -EIO;
	if ((rc = pki_write_all(fd, p, (size_t)len)) != 0)
		return rc;
	return fsync(fd) == -1 ? -errno : 0;
}

/*
 * A new file at path holding bio's bytes.  Opened O_EXCL with its mode,
 * so that no file is ever replaced and a key is never readable by others,
 * not even for a moment; a public file is set to its mode again past the
 * umask, a key keeps what the umask leaves of 0600.  Removed again if it
 * cannot be written.  Returns 0 or a negative errno.
 */
static int
pki_file_new(const char *path, BIO *bio, mode_t mode)
{
	int fd, rc = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1)
		return -errno;
	if (mode != PKI_MODE_KEY && fchmod(fd, mode) == -1)
		rc = -errno;
	if (rc == 0)
		rc = pki_put(fd, bio);
	if (close(fd) == -1 && rc == 0)
		rc = -errno;
	if (rc != 0)
		(void)unlink(path);
	return rc;
}

/* fsync a directory, so that a rename in it is on disk. */
static int
pki_dir_sync(const char *dir)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -errno;
	if (fsync(fd) == -1)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Replace dir/name with bio's bytes atomically: a temporary file in dir,
 * fsync, rename over the old one, fsync dir.  A failure leaves the old
 * file as it was.
 */
static int
pki_file_replace(const char *dir, const char *name, BIO *bio, mode_t mode,
    char *err, size_t errlen)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd, rc;

	if (pki_path(path, sizeof(path), dir, name, "") != 0 ||
	    pki_path(tmp, sizeof(tmp), dir, ".", name) != 0 ||
	    strlen(tmp) + 7 >= sizeof(tmp))
		return pki_fail(err, errlen, -ENAMETOOLONG, "%s/%s: path "
		    "too long", dir, name);
	strcat(tmp, ".XXXXXX");
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return pki_fail(err, errlen, -errno, "%s: %s", tmp,
		    strerror(errno));
	rc = fchmod(fd, mode) == -1 ? -errno : pki_put(fd, bio);
	if (close(fd) == -1 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) == -1)
		rc = -errno;
	if (rc != 0) {
		(void)unlink(tmp);
		return pki_fail(err, errlen, rc, "%s: %s", path,
		    strerror(-rc));
	}
	if ((rc = pki_dir_sync(dir)) != 0)
		return pki_fail(err, errlen, rc, "%s: %s", dir, strerror(-rc));
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Names. */

bool
pki_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > PKI_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL)
			return false;
	return true;
}

bool
pki_role_ok(const char *role)
{
	size_t i;

	for (i = 0; i < PKI_NITEMS(pki_roles); i++)
		if (strcmp(role, pki_roles[i]) == 0)
			return true;
	return false;
}

static bool
pki_reserved_name(const char *name)
{
	size_t i;

	for (i = 0; i < PKI_NITEMS(pki_reserved); i++)
		if (strcmp(name, pki_reserved[i]) == 0)
			return true;
	return false;
}

/* One DNS label: 1 to 63 letters, digits and '-', no '-' at either end. */
static bool
pki_label_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/*
 * A DNS name for a certificate: labels (pki_label_ok) joined by '.', at
 * most PKI_SAN_LEN_MAX bytes, the first label possibly "*", the last not
 * all digits (which would be a mistyped address).
 */
static bool
pki_dns_ok(const char *name)
{
	const char *p = name, *dot;
	size_t len;
	bool digits = true;

	if (strlen(name) > PKI_SAN_LEN_MAX)
		return false;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	for (;;) {
		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (!pki_label_ok(p, len))
			return false;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	for (; *p != '\0'; p++)
		digits = digits && isdigit((unsigned char)*p);
	return !digits;
}

size_t
pki_san_defaults(const char *v[4], char *host, size_t hostlen)
{
	size_t n = 0;

	if (hostlen > 0 && gethostname(host, hostlen) == 0) {
		host[hostlen - 1] = '\0';
		if (pki_dns_ok(host) && strcmp(host, "localhost") != 0)
			v[n++] = host;
	}
	v[n++] = "localhost";
	v[n++] = "127.0.0.1";
	v[n++] = "::1";
	return n;
}

/* -------------------------------------------------------------------------- */
/* Certificates. */

/* A random positive serial of exactly PKI_SERIAL_BITS bits. */
static int
pki_serial(ASN1_INTEGER *sn)
{
	BIGNUM *bn;
	int rc = -EIO;

	if ((bn = BN_new()) == NULL)
		return -ENOMEM;
	if (BN_rand(bn, PKI_SERIAL_BITS, BN_RAND_TOP_ONE,
	    BN_RAND_BOTTOM_ANY) && BN_to_ASN1_INTEGER(bn, sn) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

/* A certificate's serial in upper-case hex into out.  0 or -EIO. */
static int
pki_serial_hex(const X509 *x, char *out, size_t len)
{
	BIGNUM *bn;
	char *hex = NULL;
	int rc = -EIO;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) ==
	    NULL)
		return -EIO;
	if ((hex = BN_bn2hex(bn)) != NULL && strlen(hex) < len) {
		memcpy(out, hex, strlen(hex) + 1);
		rc = 0;
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/* O=vmm, OU=ou, CN=cn. */
static int
pki_subject(X509_NAME *n, const char *ou, const char *cn)
{
	if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)PKI_ORG, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8,
	    (const unsigned char *)ou, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		return -EIO;
	return 0;
}

/* The extensions of r's kind, then its subjectAltName if any. */
static int
pki_extensions(X509 *x, const struct pki_req *r)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	size_t i;
	int ok;

	X509V3_set_ctx(&ctx, r->ca != NULL ? r->ca : x, x, NULL, NULL, 0);
	for (i = 0; i < pki_kinds[r->kind].next; i++) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx,
		    pki_kinds[r->kind].ext[i].nid,
		    pki_kinds[r->kind].ext[i].value);
		ok = ext != NULL && X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			return -EIO;
	}
	if (r->san != NULL && X509_add1_ext_i2d(x, NID_subject_alt_name,
	    r->san, 0, X509V3_ADD_DEFAULT) != 1)
		return -EIO;
	return 0;
}

/*
 * A signed certificate made of r into *out (the caller frees it).
 * Returns 0 or a negative errno with the reason in err.
 */
static int
pki_cert_new(const struct pki_req *r, X509 **out, char *err, size_t errlen)
{
	X509 *x;

	if ((x = X509_new()) == NULL)
		goto fail;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    pki_serial(X509_get_serialNumber(x)) != 0 ||
	    pki_subject(X509_get_subject_name(x), r->ou, r->cn) != 0 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(r->ca != NULL ?
	    r->ca : x)) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), r->t.not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), r->t.not_after) == NULL ||
	    !X509_set_pubkey(x, r->key) ||
	    pki_extensions(x, r) != 0 ||
	    X509_sign(x, r->ca_key != NULL ? r->ca_key : r->key,
	    EVP_sha256()) <= 0)
		goto fail_x;
	*out = x;
	return 0;

fail_x:
	X509_free(x);
fail:
	return pki_ssl_fail(err, errlen, "cannot make the certificate of %s",
	    r->cn);
}

/*
 * The server's names as a subjectAltName into *out (the caller frees it
 * with GENERAL_NAMES_free): each an IPv4 or IPv6 address, else a DNS
 * name.  -EINVAL for anything else, or a name given twice.
 */
static int
pki_san(const char *const *v, size_t n, GENERAL_NAMES **out, char *err,
    size_t errlen)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	unsigned char addr[16];
	size_t i, j;
	int rc = -ENOMEM, len;

	if (n == 0 || n > PKI_SAN_MAX)
		return pki_fail(err, errlen, -EINVAL, "the server needs 1 to "
		    "%d names", PKI_SAN_MAX);
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(v[i], v[j]) == 0)
				return pki_fail(err, errlen, -EINVAL,
				    "--san %s: given twice", v[i]);
	if ((gens = GENERAL_NAMES_new()) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		len = inet_pton(AF_INET, v[i], addr) == 1 ? 4 :
		    inet_pton(AF_INET6, v[i], addr) == 1 ? 16 : 0;
		if (len == 0 && !pki_dns_ok(v[i])) {
			rc = pki_fail(err, errlen, -EINVAL, "--san %.*s: not "
			    "a DNS name nor an IP address", PKI_SAN_LEN_MAX,
			    v[i]);
			goto fail_gens;
		}
		if ((gen = GENERAL_NAME_new()) == NULL)
			goto fail_gens;
		if (len != 0) {
			if ((ip = ASN1_OCTET_STRING_new()) == NULL ||
			    !ASN1_OCTET_STRING_set(ip, addr, len))
				goto fail_gen;
			GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
			ip = NULL;
		} else {
			if ((dns = ASN1_IA5STRING_new()) == NULL ||
			    !ASN1_STRING_set(dns, v[i], -1))
				goto fail_gen;
			GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
			dns = NULL;
		}
		if (!sk_GENERAL_NAME_push(gens, gen))
			goto fail_gen;
		gen = NULL;	/* owned by gens now */
	}
	*out = gens;
	return 0;

fail_gen:
	ASN1_OCTET_STRING_free(ip);
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(gen);
fail_gens:
	GENERAL_NAMES_free(gens);
fail:
	if (rc == -ENOMEM)
		rc = pki_fail(err, errlen, rc, "out of memory");
	return rc;
}

/* The PEM text of x, or of key (PKCS#8, unencrypted), in a memory BIO. */
static BIO *
pki_pem_cert(X509 *x)
{
	BIO *bio;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (!PEM_write_bio_X509(bio, x)) {
		BIO_free(bio);
		return NULL;
	}
	return bio;
}

static BIO *
pki_pem_key(EVP_PKEY *key)
{
	BIO *bio;

	/* A secure-memory BIO: its buffer is cleared when freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		return NULL;
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		return NULL;
	}
	return bio;
}

/* The leaves' validity from o, at now.  -EINVAL when it is empty. */
static int
pki_times(const struct pki_opts *o, time_t now, struct pki_times *t,
    char *err, size_t errlen)
{
	unsigned int days = o->days != 0 ? o->days : PKI_DAYS_LEAF;

	if (days > PKI_DAYS_MAX || o->ca_days > PKI_DAYS_MAX)
		return pki_fail(err, errlen, -EINVAL, "a validity is 1 to %d "
		    "days", PKI_DAYS_MAX);
	t->not_before = o->not_before != 0 ? o->not_before :
	    now - PKI_BACKDATE;
	t->not_after = o->not_after != 0 ? o->not_after :
	    now + (time_t)days * PKI_DAY;
	if (t->not_before >= t->not_after)
		return pki_fail(err, errlen, -EINVAL, "the validity ends "
		    "before it starts");
	return 0;
}

/* -------------------------------------------------------------------------- */
/* index.json: every certificate issued, and the CRL's number. */

static json_t *
pki_index_find(json_t *index, const char *name)
{
	json_t *certs = json_object_get(index, "certificates"), *e;
	const char *s;
	size_t i;

	json_array_foreach(certs, i, e)
		if ((s = json_string_value(json_object_get(e, "name"))) !=
		    NULL && strcmp(s, name) == 0)
			return e;
	return NULL;
}

/* One entry: its members exactly, a known kind, a hex serial. */
static bool
pki_index_entry_ok(json_t *e)
{
	const char *name, *kind, *role, *serial;
	json_int_t not_after, revoked;
	size_t i;

	if (json_unpack_ex(e, NULL, JSON_STRICT, "{s:s, s:s, s:s, s:s, s:I, "
	    "s:I}", "name", &name, "kind", &kind, "role", &role, "serial",
	    &serial, "not_after", &not_after, "revoked", &revoked) != 0)
		return false;
	if (strlen(name) > PKI_NAME_MAX || strlen(serial) == 0 ||
	    strlen(serial) >= PKI_SERIAL_HEX || revoked < 0)
		return false;
	for (i = 0; serial[i] != '\0'; i++)
		if (!isxdigit((unsigned char)serial[i]))
			return false;
	for (i = 0; i < PKI_KIND_COUNT; i++)
		if (strcmp(kind, pki_kinds[i].name) == 0)
			return true;
	return false;
}

/* dir/index.json into *out (the caller frees it), checked. */
static int
pki_index_load(const char *dir, json_t **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *root, *certs, *e;
	json_int_t version, number;
	size_t i;

	if (pki_path(path, sizeof(path), dir, PKI_INDEX, "") != 0)
		return pki_fail(err, errlen, -ENAMETOOLONG, "%s: path too "
		    "long", dir);
	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL)
		return pki_fail(err, errlen, -EIO, "%s: %s", path, je.text);
	if (json_unpack_ex(root, &je, JSON_STRICT, "{s:I, s:I, s:o}",
	    "version", &version, "crl_number", &number, "certificates",
	    &certs) != 0 || version != PKI_INDEX_VERSION || number < 1 ||
	    !json_is_array(certs))
		goto bad;
	json_array_foreach(certs, i, e)
		if (!pki_index_entry_ok(e))
			goto bad;
	json_array_foreach(certs, i, e)
		if (pki_index_find(root, json_string_value(json_object_get(e,
		    "name"))) != e)
			goto bad;
	*out = root;
	return 0;

bad:
	json_decref(root);
	return pki_fail(err, errlen, -EINVAL, "%s: not an index of vmmd pki "
	    "(version %d)", path, PKI_INDEX_VERSION);
}

static json_t *
pki_index_new(void)
{
	return json_pack("{s:i, s:i, s:[]}", "version", PKI_INDEX_VERSION,
	    "crl_number", 1, "certificates");
}

/* Record x, issued for name. */
static int
pki_index_add(json_t *index, const char *name, enum pki_kind kind,
    const char *role, const X509 *x, time_t not_after)
{
	char serial[PKI_SERIAL_HEX];
	json_t *e;

	if (pki_serial_hex(x, serial, sizeof(serial)) != 0)
		return -EIO;
	e = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", name, "kind",
	    pki_kinds[kind].name, "role", role, "serial", serial, "not_after",
	    (json_int_t)not_after, "revoked", (json_int_t)0);
	if (e == NULL || json_array_append_new(json_object_get(index,
	    "certificates"), e) != 0)
		return -ENOMEM;
	return 0;
}

static int
pki_index_dump(const char *buf, size_t len, void *arg)
{
	return BIO_write(arg, buf, (int)len) == (int)len ? 0 : -1;
}

/*
 * Write ca->index as dir/index.json: a new file (fresh) or an atomic
 * replacement.
 */
static int
pki_index_save(const struct pki_ca *ca, bool fresh, struct pki_undo *u,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	BIO *bio;
	int rc;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    json_dump_callback(ca->index, pki_index_dump, bio, JSON_INDENT(2) |
	    JSON_PRESERVE_ORDER) != 0 || BIO_puts(bio, "\n") != 1) {
		rc = pki_fail(err, errlen, -ENOMEM, "out of memory");
		goto done;
	}
	if (!fresh) {
		rc = pki_file_replace(ca->dir, PKI_INDEX, bio, PKI_MODE_PUB,
		    err, errlen);
		goto done;
	}
	if ((rc = pki_path(path, sizeof(path), ca->dir, PKI_INDEX, "")) != 0 ||
	    (rc = pki_file_new(path, bio, PKI_MODE_PUB)) != 0) {
		rc = pki_fail(err, errlen, rc, "%s/%s: %s", ca->dir, PKI_INDEX,
		    strerror(-rc));
		goto done;
	}
	pki_undo_add(u, PKI_INDEX);
done:
	BIO_free(bio);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* The revocation list. */

/* An entry of the CRL for the serial (hex), revoked at when. */
static int
pki_crl_add(X509_CRL *crl, const char *serial, time_t when)
{
	X509_REVOKED *r = NULL;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = NULL;
	int rc = -EIO;

	if (BN_hex2bn(&bn, serial) == 0 ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, when)) == NULL ||
	    (r = X509_REVOKED_new()) == NULL ||
	    !X509_REVOKED_set_serialNumber(r, sn) ||
	    !X509_REVOKED_set_revocationDate(r, t) ||
	    !X509_CRL_add0_revoked(crl, r))
		goto done;
	r = NULL;	/* owned by crl now */
	rc = 0;
done:
	X509_REVOKED_free(r);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return rc;
}

/* The CRL's number and the key identifier of the CA that signs it. */
static int
pki_crl_extensions(X509_CRL *crl, const struct pki_ca *ca)
{
	ASN1_INTEGER *num;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	int ok;

	if ((num = ASN1_INTEGER_new()) == NULL)
		return -ENOMEM;
	ok = ASN1_INTEGER_set_int64(num, json_integer_value(
	    json_object_get(ca->index, "crl_number"))) &&
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;
	ASN1_INTEGER_free(num);
	if (!ok)
		return -EIO;
	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always");
	ok = ext != NULL && X509_CRL_add_ext(crl, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EIO;
}

/*
 * The CRL of ca's index, signed, as PEM in *out (the caller frees it):
 * version 2, lastUpdate PKI_BACKDATE before now, nextUpdate the CA's
 * notAfter (a CRL that expired before its CA would lock every client
 * out), one entry per revoked certificate.
 */
static int
pki_crl_make(const struct pki_ca *ca, time_t now, BIO **out, char *err,
    size_t errlen)
{
	json_t *certs = json_object_get(ca->index, "certificates"), *e;
	X509_CRL *crl;
	ASN1_TIME *t = NULL;
	json_int_t when;
	BIO *bio = NULL;
	size_t i;

	if ((crl = X509_CRL_new()) == NULL)
		goto fail;
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    (t = ASN1_TIME_set(NULL, now - PKI_BACKDATE)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    !X509_CRL_set1_nextUpdate(crl, X509_get0_notAfter(ca->cert)))
		goto fail_crl;
	json_array_foreach(certs, i, e) {
		when = json_integer_value(json_object_get(e, "revoked"));
		if (when != 0 && pki_crl_add(crl, json_string_value(
		    json_object_get(e, "serial")), (time_t)when) != 0)
			goto fail_crl;
	}
	if (!X509_CRL_sort(crl) || pki_crl_extensions(crl, ca) != 0 ||
	    X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0 ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(bio, crl))
		goto fail_crl;
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	*out = bio;
	return 0;

fail_crl:
	BIO_free(bio);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
fail:
	return pki_ssl_fail(err, errlen, "cannot make the revocation list");
}

/* Sign and write dir/crl.pem: a new file (fresh) or a replacement. */
static int
pki_crl_save(const struct pki_ca *ca, time_t now, bool fresh,
    struct pki_undo *u, char *err, size_t errlen)
{
	char path[PATH_MAX];
	BIO *bio = NULL;
	int rc;

	if ((rc = pki_crl_make(ca, now, &bio, err, errlen)) != 0)
		return rc;
	if (!fresh) {
		rc = pki_file_replace(ca->dir, PKI_CRL, bio, PKI_MODE_PUB, err,
		    errlen);
		goto done;
	}
	if ((rc = pki_path(path, sizeof(path), ca->dir, PKI_CRL, "")) != 0 ||
	    (rc = pki_file_new(path, bio, PKI_MODE_PUB)) != 0) {
		rc = pki_fail(err, errlen, rc, "%s/%s: %s", ca->dir, PKI_CRL,
		    strerror(-rc));
		goto done;
	}
	pki_undo_add(u, PKI_CRL);
done:
	BIO_free(bio);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* The CA: made by pki_init, opened by the other commands. */

#define PKI_CA_INIT	{ .lock_fd = -1 }

static void
pki_ca_close(struct pki_ca *ca)
{
	if (ca->lock_fd != -1)
		close(ca->lock_fd);	/* releases the flock */
	ca->lock_fd = -1;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	json_decref(ca->index);
	ca->cert = NULL;
	ca->key = NULL;
	ca->index = NULL;
}

/* No passphrase prompt ever: an encrypted ca.key fails to load. */
static int
pki_no_pass(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* The certificate in path, PEM or DER, into *out (the caller frees it). */
static int
pki_x509_read(const char *path, X509 **out, char *err, size_t errlen)
{
	X509 *x = NULL;
	BIO *bio;
	FILE *fp;

	if ((fp = fopen(path, "rbe")) == NULL)
		return pki_fail(err, errlen, -errno, "%s: %s", path,
		    strerror(errno));
	if ((bio = BIO_new_fp(fp, BIO_CLOSE)) == NULL) {
		fclose(fp);
		return pki_fail(err, errlen, -ENOMEM, "out of memory");
	}
	if ((x = PEM_read_bio_X509(bio, NULL, pki_no_pass, NULL)) == NULL &&
	    BIO_reset(bio) == 0)
		x = d2i_X509_bio(bio, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (x == NULL)
		return pki_fail(err, errlen, -EINVAL, "%s: not a certificate "
		    "(PEM or DER)", path);
	*out = x;
	return 0;
}

/* ca.key from the locked descriptor, then ca.pem, which must match it. */
static int
pki_ca_read(struct pki_ca *ca, char *err, size_t errlen)
{
	char path[PATH_MAX];
	BIO *bio;
	int rc;

	if ((bio = BIO_new_fd(ca->lock_fd, BIO_NOCLOSE)) != NULL)
		ca->key = PEM_read_bio_PrivateKey(bio, NULL, pki_no_pass, NULL);
	BIO_free(bio);
	if (ca->key == NULL)
		return pki_ssl_fail(err, errlen, "%s/ca.key", ca->dir);
	if (pki_path(path, sizeof(path), ca->dir, PKI_CA, ".pem") != 0)
		return pki_fail(err, errlen, -ENAMETOOLONG, "%s: path too "
		    "long", ca->dir);
	if ((rc = pki_x509_read(path, &ca->cert, err, errlen)) != 0)
		return rc;
	if (!X509_check_private_key(ca->cert, ca->key)) {
		ERR_clear_error();
		return pki_fail(err, errlen, -EINVAL, "%s/ca.key does not "
		    "match %s", ca->dir, path);
	}
	return 0;
}

/*
 * Open the PKI in dir: lock ca.key (waiting for another command to
 * finish), read the CA and the index.  The caller calls pki_ca_close,
 * also after a failure.
 */
static int
pki_ca_open(struct pki_ca *ca, const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc;

	if (pki_dir_copy(ca->dir, sizeof(ca->dir), dir) != 0 ||
	    pki_path(path, sizeof(path), ca->dir, PKI_CA, ".key") != 0)
		return pki_fail(err, errlen, -ENAMETOOLONG, "%s: path too "
		    "long", dir);
	if ((ca->lock_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1) {
		rc = -errno;
		if (rc == -ENOENT)
			return pki_fail(err, errlen, rc, "%s holds no CA (%s "
			    "is missing); vmmd pki init makes one", ca->dir,
			    path);
		return pki_fail(err, errlen, rc, "%s: %s", path,
		    strerror(-rc));
	}
	if (flock(ca->lock_fd, LOCK_EX) == -1)
		return pki_fail(err, errlen, -errno, "%s: lock: %s", path,
		    strerror(errno));
	if ((rc = pki_ca_read(ca, err, errlen)) != 0)
		return rc;
	return pki_index_load(ca->dir, &ca->index, err, errlen);
}

/*
 * The CN of the CA: "vmm CA" and the host name, within PKI_CN_MAX
 * bytes, so that the CAs of two hosts have different names.
 */
static void
pki_ca_cn(char *cn, size_t len)
{
	char host[PKI_SAN_LEN_MAX + 1];

	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		if (pki_dns_ok(host)) {
			snprintf(cn, len, "vmm CA %.*s",
			    PKI_CN_MAX - (int)strlen("vmm CA "), host);
			return;
		}
	}
	snprintf(cn, len, "vmm CA");
}

/*
 * Make the CA of a new PKI: ca.key (created O_EXCL, which refuses an
 * existing CA even when another init raced this one, and locked) and
 * ca.pem, valid from PKI_BACKDATE ago for ca_days days.
 */
static int
pki_ca_make(struct pki_ca *ca, unsigned int ca_days, time_t now,
    struct pki_undo *u, char *err, size_t errlen)
{
	char path[PATH_MAX], cn[PKI_CN_MAX + 1];
	struct pki_req r = { .kind = PKI_KIND_CA, .ou = PKI_CA, .cn = cn };
	BIO *kb = NULL, *cb = NULL;
	int rc;

	pki_ca_cn(cn, sizeof(cn));
	r.t.not_before = now - PKI_BACKDATE;
	r.t.not_after = now + (time_t)(ca_days != 0 ? ca_days : PKI_DAYS_CA) *
	    PKI_DAY;
	if ((ca->key = r.key = EVP_EC_gen(PKI_CURVE)) == NULL)
		return pki_ssl_fail(err, errlen, "cannot make the CA's key");
	if ((rc = pki_cert_new(&r, &ca->cert, err, errlen)) != 0)
		return rc;
	if ((kb = pki_pem_key(ca->key)) == NULL ||
	    (cb = pki_pem_cert(ca->cert)) == NULL) {
		rc = pki_ssl_fail(err, errlen, "cannot encode the CA");
		goto done;
	}
	(void)pki_path(path, sizeof(path), ca->dir, PKI_CA, ".key");
	if ((ca->lock_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, PKI_MODE_KEY)) == -1) {
		rc = errno == EEXIST ? pki_fail(err, errlen, -EEXIST, "%s "
		    "already holds a CA (%s); not overwriting", ca->dir, path) :
		    pki_fail(err, errlen, -errno, "%s: %s", path,
		    strerror(errno));
		goto done;
	}
	pki_undo_add(u, "ca.key");
	rc = flock(ca->lock_fd, LOCK_EX) == -1 ? -errno :
	    pki_put(ca->lock_fd, kb);
	if (rc != 0) {
		rc = pki_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
		goto done;
	}
	(void)pki_path(path, sizeof(path), ca->dir, PKI_CA, ".pem");
	if ((rc = pki_file_new(path, cb, PKI_MODE_PUB)) != 0) {
		rc = pki_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
		goto done;
	}
	pki_undo_add(u, "ca.pem");
	if (pki_index_add(ca->index, PKI_CA, PKI_KIND_CA, PKI_CA, ca->cert,
	    r.t.not_after) != 0)
		rc = pki_fail(err, errlen, -ENOMEM, "out of memory");
done:
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* Leaves. */

/* A server or client certificate to make, and the files for it. */
struct pki_leaf {
	enum pki_kind kind;
	const char *ou, *cn;
	const char *file;		/* dir/file.key and dir/file.pem */
	struct pki_times t;
	GENERAL_NAMES *san;		/* borrowed; NULL: none */
};

/* Write a leaf's key and certificate: new files only. */
static int
pki_leaf_write(const struct pki_ca *ca, const struct pki_leaf *l,
    BIO *kb, BIO *cb, struct pki_undo *u, char *err, size_t errlen)
{
	static const char *const suffix[2] = { ".key", ".pem" };
	char path[PATH_MAX], file[PKI_FILE_MAX];
	BIO *bio[2] = { kb, cb };
	size_t i;
	int rc;

	for (i = 0; i < 2; i++) {
		snprintf(file, sizeof(file), "%s%s", l->file, suffix[i]);
		if (pki_path(path, sizeof(path), ca->dir, file, "") != 0)
			return pki_fail(err, errlen, -ENAMETOOLONG, "%s: path "
			    "too long", ca->dir);
		rc = pki_file_new(path, bio[i], i == 0 ? PKI_MODE_KEY :
		    PKI_MODE_PUB);
		if (rc == -EEXIST)
			return pki_fail(err, errlen, rc, "%s exists; not "
			    "overwriting", path);
		if (rc != 0)
			return pki_fail(err, errlen, rc, "%s: %s", path,
			    strerror(-rc));
		pki_undo_add(u, file);
	}
	return 0;
}

/*
 * Make a leaf signed by ca: a new key, its certificate, both files, and
 * its entry in ca->index (not saved yet).
 */
static int
pki_leaf_make(struct pki_ca *ca, const struct pki_leaf *l,
    struct pki_undo *u, char *err, size_t errlen)
{
	struct pki_req r = { .kind = l->kind, .ou = l->ou, .cn = l->cn,
	    .t = l->t, .ca = ca->cert, .ca_key = ca->key, .san = l->san };
	X509 *x = NULL;
	BIO *kb = NULL, *cb = NULL;
	int rc;

	if ((r.key = EVP_EC_gen(PKI_CURVE)) == NULL)
		return pki_ssl_fail(err, errlen, "cannot make the key of %s",
		    l->cn);
	if ((rc = pki_cert_new(&r, &x, err, errlen)) != 0)
		goto done;
	if ((kb = pki_pem_key(r.key)) == NULL || (cb = pki_pem_cert(x)) ==
	    NULL) {
		rc = pki_ssl_fail(err, errlen, "cannot encode %s", l->cn);
		goto done;
	}
	if ((rc = pki_leaf_write(ca, l, kb, cb, u, err, errlen)) != 0)
		goto done;
	if (pki_index_add(ca->index, l->file, l->kind, l->ou, x,
	    l->t.not_after) != 0)
		rc = pki_fail(err, errlen, -ENOMEM, "out of memory");
done:
	BIO_free(cb);
	BIO_free(kb);
	X509_free(x);
	EVP_PKEY_free(r.key);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* pki_init. */

/*
 * Make dir if missing (mode 0755, past the umask; *made says so) and put
 * its absolute path into abs, which vmmd.conf must be able to hold.
 */
static int
pki_init_dir(const char *dir, bool *made, char *abs, char *err,
    size_t errlen)
{
	struct stat st;
	const char *p;

	if (mkdir(dir, PKI_MODE_DIR) == 0) {
		*made = true;
		if (chmod(dir, PKI_MODE_DIR) == -1)
			return pki_fail(err, errlen, -errno, "%s: %s", dir,
			    strerror(errno));
	} else if (errno != EEXIST)
		return pki_fail(err, errlen, -errno, "%s: %s", dir,
		    strerror(errno));
	if (stat(dir, &st) == -1 || realpath(dir, abs) == NULL)
		return pki_fail(err, errlen, -errno, "%s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pki_fail(err, errlen, -ENOTDIR, "%s: not a directory",
		    dir);
	for (p = abs; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || iscntrl((unsigned char)*p))
			return pki_fail(err, errlen, -EINVAL, "%s: vmmd.conf "
			    "cannot name a path with a quote, a backslash or "
			    "a control character", abs);
	if (strlen(abs) + strlen("/vmmd-tls.conf") > CONFIG_PATH_MAX)
		return pki_fail(err, errlen, -ENAMETOOLONG, "%s: too long for "
		    "vmmd.conf's paths", abs);
	return 0;
}

/* Nothing pki_init makes may exist yet; a CA is refused by name. */
static int
pki_init_check(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < PKI_NITEMS(pki_init_files); i++) {
		if (pki_path(path, sizeof(path), dir, pki_init_files[i],
		    "") != 0)
			return pki_fail(err, errlen, -ENAMETOOLONG, "%s: path "
			    "too long", dir);
		if (lstat(path, &st) == -1) {
			if (errno == ENOENT)
				continue;
			return pki_fail(err, errlen, -errno, "%s: %s", path,
			    strerror(errno));
		}
		if (i < 2)
			return pki_fail(err, errlen, -EEXIST, "%s already "
			    "holds a CA (%s); not overwriting", dir, path);
		return pki_fail(err, errlen, -EEXIST, "%s exists; not "
		    "overwriting", path);
	}
	return 0;
}

/* vmmd-tls.conf: the vmmd.conf lines that use the PKI at abs. */
static int
pki_init_conf(const struct pki_ca *ca, const char *abs, struct pki_undo *u,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	BIO *bio;
	int rc;

	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    BIO_printf(bio, pki_conf_fmt, abs, abs, abs, abs) <= 0) {
		BIO_free(bio);
		return pki_fail(err, errlen, -ENOMEM, "out of memory");
	}
	if ((rc = pki_path(path, sizeof(path), ca->dir, PKI_CONF, "")) == 0)
		rc = pki_file_new(path, bio, PKI_MODE_PUB);
	BIO_free(bio);
	if (rc != 0)
		return pki_fail(err, errlen, rc, "%s/%s: %s", ca->dir,
		    PKI_CONF, strerror(-rc));
	pki_undo_add(u, PKI_CONF);
	return 0;
}

/* The CA, the server, admin and readonly, the CRL, the index, the conf. */
static int
pki_init_make(struct pki_ca *ca, const char *abs, const struct pki_opts *o,
    GENERAL_NAMES *san, const char *server_cn, time_t now,
    struct pki_undo *u, char *err, size_t errlen)
{
	struct pki_leaf l[3] = {
		{ PKI_KIND_SERVER, PKI_SERVER, server_cn, PKI_SERVER, { 0, 0 },
		    san },
		{ PKI_KIND_CLIENT, "admin", "admin", "admin", { 0, 0 }, NULL },
		{ PKI_KIND_CLIENT, "readonly", "readonly", "readonly",
		    { 0, 0 }, NULL },
	};
	size_t i;
	int rc;

	if ((ca->index = pki_index_new()) == NULL)
		return pki_fail(err, errlen, -ENOMEM, "out of memory");
	if ((rc = pki_ca_make(ca, o->ca_days, now, u, err, errlen)) != 0)
		return rc;
	for (i = 0; i < PKI_NITEMS(l); i++) {
		(void)pki_times(o, now, &l[i].t, NULL, 0);
		if ((rc = pki_leaf_make(ca, &l[i], u, err, errlen)) != 0)
			return rc;
	}
	if ((rc = pki_crl_save(ca, now, true, u, err, errlen)) != 0 ||
	    (rc = pki_index_save(ca, true, u, err, errlen)) != 0)
		return rc;
	return pki_init_conf(ca, abs, u, err, errlen);
}

int
pki_init(const char *dir, const struct pki_opts *opts, char *err,
    size_t errlen)
{
	static const struct pki_opts defaults;
	struct pki_ca ca = PKI_CA_INIT;
	struct pki_undo u = { .n = 0 };
	struct pki_times t;
	GENERAL_NAMES *san = NULL;
	char abs[PATH_MAX], host[PKI_SAN_LEN_MAX + 1], cn[PKI_CN_MAX + 1];
	const char *dsan[4];
	const char *const *sanv;
	size_t nsan;
	time_t now = time(NULL);
	bool made = false;
	int rc;

	if (opts == NULL)
		opts = &defaults;
	sanv = opts->san;
	nsan = opts->nsan;
	if (nsan == 0) {
		nsan = pki_san_defaults(dsan, host, sizeof(host));
		sanv = dsan;
	}
	if ((rc = pki_times(opts, now, &t, err, errlen)) != 0 ||
	    (rc = pki_san(sanv, nsan, &san, err, errlen)) != 0)
		return rc;
	snprintf(cn, sizeof(cn), "%s", sanv[0]);
	if ((rc = pki_dir_copy(ca.dir, sizeof(ca.dir), dir)) != 0) {
		rc = pki_fail(err, errlen, rc, "%s: path too long", dir);
		goto done;
	}
	if ((rc = pki_init_dir(ca.dir, &made, abs, err, errlen)) != 0 ||
	    (rc = pki_init_check(ca.dir, err, errlen)) != 0)
		goto done;
	rc = pki_init_make(&ca, abs, opts, san, cn, now, &u, err, errlen);
done:
	if (rc != 0) {
		pki_undo_run(&u, ca.dir);
		if (made)
			(void)rmdir(ca.dir);
	}
	pki_ca_close(&ca);
	GENERAL_NAMES_free(san);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* pki_issue and pki_revoke. */

int
pki_issue(const char *dir, const char *role, const char *name,
    const struct pki_opts *opts, char *err, size_t errlen)
{
	static const struct pki_opts defaults;
	struct pki_ca ca = PKI_CA_INIT;
	struct pki_undo u = { .n = 0 };
	struct pki_leaf l = { .kind = PKI_KIND_CLIENT, .ou = role, .cn = name,
	    .file = name };
	int rc;

	if (opts == NULL)
		opts = &defaults;
	if (!pki_role_ok(role))
		return pki_fail(err, errlen, -EINVAL, "%s: not a role "
		    "(readonly, operator or admin)", role);
	if (!pki_name_ok(name))
		return pki_fail(err, errlen, -EINVAL, "%.*s: a name is 1 to %d "
		    "letters, digits, '.', '_' or '-', not starting with '.'",
		    PKI_NAME_MAX, name, PKI_NAME_MAX);
	if (pki_reserved_name(name))
		return pki_fail(err, errlen, -EINVAL, "%s: reserved for the "
		    "PKI's own files", name);
	if ((rc = pki_times(opts, time(NULL), &l.t, err, errlen)) != 0)
		return rc;
	if ((rc = pki_ca_open(&ca, dir, err, errlen)) != 0)
		goto done;
	if (pki_index_find(ca.index, name) != NULL) {
		rc = pki_fail(err, errlen, -EEXIST, "%s: a certificate was "
		    "issued for this name before (%s/%s); not overwriting",
		    name, ca.dir, PKI_INDEX);
		goto done;
	}
	if ((rc = pki_leaf_make(&ca, &l, &u, err, errlen)) != 0 ||
	    (rc = pki_index_save(&ca, false, &u, err, errlen)) != 0)
		pki_undo_run(&u, ca.dir);
done:
	pki_ca_close(&ca);
	return rc;
}

/*
 * The index is written before the CRL: if the CRL then fails, a second
 * revoke finds the name revoked and signs the CRL again.
 */
int
pki_revoke(const char *dir, const char *name, bool *already, char *serial,
    size_t serial_len, char *err, size_t errlen)
{
	struct pki_ca ca = PKI_CA_INIT;
	json_t *e;
	json_int_t number;
	time_t now = time(NULL);
	int rc;

	if (already != NULL)
		*already = false;
	if (!pki_name_ok(name))
		return pki_fail(err, errlen, -EINVAL, "%.*s: not a name of "
		    "vmmd pki", PKI_NAME_MAX, name);
	if ((rc = pki_ca_open(&ca, dir, err, errlen)) != 0)
		goto done;
	if ((e = pki_index_find(ca.index, name)) == NULL) {
		rc = pki_fail(err, errlen, -ENOENT, "%s: no certificate was "
		    "issued for this name in %s", name, ca.dir);
		goto done;
	}
	if (strcmp(json_string_value(json_object_get(e, "kind")),
	    pki_kinds[PKI_KIND_CA].name) == 0) {
		rc = pki_fail(err, errlen, -EINVAL, "%s: the CA cannot be "
		    "revoked; make a new PKI instead", name);
		goto done;
	}
	if (json_integer_value(json_object_get(e, "revoked")) != 0) {
		if (already != NULL)
			*already = true;
	} else if (json_object_set_new(e, "revoked",
	    json_integer(now)) != 0) {
		rc = pki_fail(err, errlen, -ENOMEM, "out of memory");
		goto done;
	}
	number = json_integer_value(json_object_get(ca.index, "crl_number"));
	if (json_object_set_new(ca.index, "crl_number",
	    json_integer(number + 1)) != 0) {
		rc = pki_fail(err, errlen, -ENOMEM, "out of memory");
		goto done;
	}
	if (serial != NULL && serial_len > 0)
		snprintf(serial, serial_len, "%s", json_string_value(
		    json_object_get(e, "serial")));
	if ((rc = pki_index_save(&ca, false, NULL, err, errlen)) == 0)
		rc = pki_crl_save(&ca, now, false, NULL, err, errlen);
done:
	pki_ca_close(&ca);
	return rc;
}

/* -------------------------------------------------------------------------- */
/* Fingerprints. */

int
pki_fingerprint(const X509 *x, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n, i;
	char *p;

	if (len < PKI_FINGERPRINT_SIZE)
		return -ENOSPC;
	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32) {
		ERR_clear_error();
		return -EINVAL;
	}
	memcpy(out, "SHA256:", 7);
	p = out + 7;
	for (i = 0; i < n; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 0xf];
		*p++ = ':';
	}
	p[-1] = '\0';
	return 0;
}

int
pki_fingerprint_file(const char *path, char *out, size_t len, char *err,
    size_t errlen)
{
	X509 *x = NULL;
	int rc;

	if ((rc = pki_x509_read(path, &x, err, errlen)) != 0)
		return rc;
	if ((rc = pki_fingerprint(x, out, len)) != 0)
		pki_fail(err, errlen, rc, "%s: cannot compute its "
		    "fingerprint", path);
	X509_free(x);
	return rc;
}
