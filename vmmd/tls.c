/*
 * tls.c: vmmd's TLS (tls.h).  One SSL_CTX per configuration, one SSL per
 * connection between two memory BIOs: server.c feeds what the socket
 * read, drains what must be written, and OpenSSL never touches a
 * descriptor.  The policy is fixed here, not configurable: TLS 1.2 or
 * 1.3, ECDHE with AES-GCM or ChaCha20-Poly1305 only, no renegotiation,
 * no compression, no session resumption, and a client certificate that
 * the configured CA (and CRL) must verify.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* TLS 1.2: forward secret AEAD suites only.  TLS 1.3's are all AEAD. */
#define TLS_CIPHERS_12	"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!SHA1"
#define TLS_CIPHERS_13	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384"

struct tls_ctx {
	SSL_CTX *ssl;
	unsigned int refs;
	struct config_role roles[CONFIG_ROLES_MAX];
	unsigned int nroles;
};

struct tls_conn {
	struct tls_ctx *t;	/* a reference */
	SSL *ssl;
	BIO *in, *out;		/* owned by ssl */
	bool done;		/* handshake complete */
	char reason[TLS_REASON_MAX];
};

/* The first OpenSSL error of the queue as a sentence, then clear it. */
static void
tls_reason(char *buf, size_t len, const char *what)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		snprintf(buf, len, "%s: %s", what, r);
	else
		snprintf(buf, len, "%s", what);
	ERR_clear_error();
}

/*
 * The private key must be the daemon's alone: a key others can read is
 * no longer a secret, so vmmd refuses to use it (as ssh does).
 */
static int
tls_key_private(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "tls-key %s: %s", path, strerror(errno));
		return -errno;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "tls-key %s: mode %04o lets others read "
		    "it; make it 0600", path, (unsigned int)st.st_mode & 07777);
		return -EPERM;
	}
	return 0;
}

/* Every CRL in the PEM file at path into the store, checked per leaf. */
static int
tls_load_crl(SSL_CTX *ssl, const char *path, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ssl);
	X509_CRL *crl;
	BIO *bio;
	int n = 0;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		snprintf(err, errlen, "tls-crl %s: %s", path, strerror(errno));
		ERR_clear_error();
		return -ENOENT;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_crl(store, crl) != 1) {
			X509_CRL_free(crl);
			BIO_free(bio);
			tls_reason(err, errlen, "tls-crl: cannot add a CRL");
			return -EINVAL;
		}
		X509_CRL_free(crl);
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, errlen, "tls-crl %s: no CRL in PEM form", path);
		return -EINVAL;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

/* The fixed policy: versions, suites, options. */
static int
tls_policy(SSL_CTX *ssl, char *err, size_t errlen)
{
	if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ssl, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ssl, TLS_CIPHERS_13) != 1 ||
	    SSL_CTX_set1_groups_list(ssl, TLS_GROUPS) != 1 ||
	    SSL_CTX_set_num_tickets(ssl, 0) != 1) {
		tls_reason(err, errlen, "TLS policy");
		return -EINVAL;
	}
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

/* The server's certificate and key, and the CA for clients. */
static int
tls_files(SSL_CTX *ssl, const struct config *cfg, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	char what[CONFIG_PATH_MAX + 32];
	int rc;

	snprintf(what, sizeof(what), "tls-certificate %s",
	    cfg->tls_certificate);
	if (SSL_CTX_use_certificate_chain_file(ssl, cfg->tls_certificate) !=
	    1)
		goto fail;
	if ((rc = tls_key_private(cfg->tls_key, err, errlen)) != 0)
		return rc;
	snprintf(what, sizeof(what), "tls-key %s", cfg->tls_key);
	if (SSL_CTX_use_PrivateKey_file(ssl, cfg->tls_key, SSL_FILETYPE_PEM)
	    != 1 || SSL_CTX_check_private_key(ssl) != 1)
		goto fail;
	snprintf(what, sizeof(what), "tls-ca %s", cfg->tls_ca);
	if (SSL_CTX_load_verify_locations(ssl, cfg->tls_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(cfg->tls_ca)) == NULL)
		goto fail;
	SSL_CTX_set_client_CA_list(ssl, names);
	return 0;
fail:
	tls_reason(err, errlen, what);
	return -EINVAL;
}

int
tls_ctx_new(const struct config *cfg, struct tls_ctx **out, char *err,
    size_t errlen)
{
	struct tls_ctx *t;
	int rc = -ENOMEM;

	*out = NULL;
	snprintf(err, errlen, "out of memory");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->refs = 1;
	if ((t->ssl = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	if ((rc = tls_policy(t->ssl, err, errlen)) != 0 ||
	    (rc = tls_files(t->ssl, cfg, err, errlen)) != 0)
		goto fail;
	if (cfg->tls_crl[0] != '\0' &&
	    (rc = tls_load_crl(t->ssl, cfg->tls_crl, err, errlen)) != 0)
		goto fail;
	memcpy(t->roles, cfg->roles, sizeof(t->roles));
	t->nroles = cfg->nroles;
	*out = t;
	return 0;
fail:
	ERR_clear_error();
	tls_ctx_unref(t);
	return rc;
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *t)
{
	t->refs++;
	return t;
}

void
tls_ctx_unref(struct tls_ctx *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}

struct tls_conn *
tls_conn_new(struct tls_ctx *t)
{
	struct tls_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->ssl = SSL_new(t->ssl)) == NULL ||
	    (c->in = BIO_new(BIO_s_mem())) == NULL ||
	    (c->out = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(c->in);
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	/* An empty input is "try again", not the end of the stream. */
	BIO_set_mem_eof_return(c->in, -1);
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_accept_state(c->ssl);
	c->t = tls_ctx_ref(t);
	return c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	tls_ctx_unref(c->t);
	free(c);
}

int
tls_conn_feed(struct tls_conn *c, const void *p, size_t len)
{
	size_t done;

	if (BIO_write_ex(c->in, p, len, &done) != 1 || done != len) {
		ERR_clear_error();
		return -ENOMEM;
	}
	return 0;
}

/* Why the handshake failed: the certificate's check, else OpenSSL's. */
static void
tls_handshake_reason(struct tls_conn *c)
{
	long v = SSL_get_verify_result(c->ssl);

	if (v != X509_V_OK) {
		snprintf(c->reason, sizeof(c->reason), "client certificate: "
		    "%s", X509_verify_cert_error_string(v));
		ERR_clear_error();
		return;
	}
	tls_reason(c->reason, sizeof(c->reason), "handshake");
}

int
tls_conn_handshake(struct tls_conn *c)
{
	int rc;

	if (c->done)
		return 1;
	ERR_clear_error();
	if ((rc = SSL_do_handshake(c->ssl)) == 1) {
		c->done = true;
		return 1;
	}
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		tls_handshake_reason(c);
		return -EPROTO;
	}
}

ssize_t
tls_conn_read(struct tls_conn *c, void *buf, size_t cap)
{
	size_t n;
	int rc;

	ERR_clear_error();
	if ((rc = SSL_read_ex(c->ssl, buf, cap, &n)) == 1)
		return (ssize_t)n;
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -EPIPE;
	default:
		tls_reason(c->reason, sizeof(c->reason), "read");
		return -EPROTO;
	}
}

int
tls_conn_write(struct tls_conn *c, const void *p, size_t len)
{
	size_t n;

	ERR_clear_error();
	if (SSL_write_ex(c->ssl, p, len, &n) != 1 || n != len) {
		tls_reason(c->reason, sizeof(c->reason), "write");
		return -EPROTO;
	}
	return 0;
}

void
tls_conn_shutdown(struct tls_conn *c)
{
	ERR_clear_error();
	if (c->done)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

size_t
tls_conn_pending(const struct tls_conn *c)
{
	return BIO_ctrl_pending(c->out);
}

size_t
tls_conn_drain(struct tls_conn *c, char *buf, size_t cap)
{
	size_t n;

	if (BIO_read_ex(c->out, buf, cap, &n) != 1)
		n = 0;
	ERR_clear_error();
	return n;
}

/* Does an entry nid of name match the fnmatch(3) pattern? */
static bool
tls_name_matches(const X509_NAME *name, int nid, const char *pattern)
{
	const X509_NAME_ENTRY *e;
	unsigned char *utf8;
	bool match = false;
	int i = -1, len;

	while (!match && (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0) {
		e = X509_NAME_get_entry(name, i);
		if ((len = ASN1_STRING_to_UTF8(&utf8,
		    X509_NAME_ENTRY_get_data(e))) < 0)
			continue;
		/* An embedded NUL would cut the comparison short. */
		match = (size_t)len == strlen((char *)utf8) &&
		    fnmatch(pattern, (char *)utf8, 0) == 0;
		OPENSSL_free(utf8);
	}
	return match;
}

static void
tls_fingerprint(X509 *cert, char out[TLS_FINGERPRINT_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	char *p = out;

	p += sprintf(p, "SHA256:");
	if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32) {
		out[0] = '\0';
		return;
	}
	for (i = 0; i < len; i++)
		p += sprintf(p, i == 0 ? "%02X" : ":%02X", md[i]);
}

static void
tls_subject(X509 *cert, char out[TLS_SUBJECT_MAX])
{
	BIO *b = BIO_new(BIO_s_mem());
	size_t n = 0;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) >= 0)
		(void)BIO_read_ex(b, out, TLS_SUBJECT_MAX - 1, &n);
	out[n] = '\0';
	BIO_free(b);
}

int
tls_conn_identify(struct tls_conn *c, enum rpc_role *role,
    char fingerprint[TLS_FINGERPRINT_MAX], char subject[TLS_SUBJECT_MAX])
{
	const struct config_role *r;
	const X509_NAME *name;
	X509 *cert;
	bool match;
	unsigned int i;

	fingerprint[0] = subject[0] = '\0';
	if (!c->done || (cert = SSL_get0_peer_certificate(c->ssl)) == NULL)
		return -EACCES;
	tls_fingerprint(cert, fingerprint);
	tls_subject(cert, subject);
	name = X509_get_subject_name(cert);
	for (i = 0; i < c->t->nroles; i++) {
		r = &c->t->roles[i];
		if (r->match == CONFIG_MATCH_FINGERPRINT)
			match = strcmp(r->pattern, fingerprint) == 0;
		else
			match = tls_name_matches(name, r->match ==
			    CONFIG_MATCH_CN ? NID_commonName :
			    NID_organizationalUnitName, r->pattern);
		if (match) {
			*role = r->role;
			return 0;
		}
	}
	return -EACCES;
}

void
tls_conn_describe(struct tls_conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl));
}

const char *
tls_conn_error(const struct tls_conn *c)
{
	return c->reason[0] != '\0' ? c->reason : "TLS error";
}
