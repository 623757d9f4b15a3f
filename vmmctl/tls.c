/*
 * tls.c: vmmctl's TLS transport (OpenSSL): the TCP connection and the
 * handshake under one deadline, the server checked against one CA file
 * and the URI's host, our certificate sent; blocking reads and writes
 * afterwards; and one sentence, naming the URI and the file involved, for
 * each way it can fail.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client.h"

/* TLS 1.2 suites with forward secrecy and AEAD only; 1.3's all are. */
#define CLIENT_TLS_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20"
#define CLIENT_TLS_TEXT_MAX	256	/* a name or a list of names */
#define CLIENT_TLS_NO_CERT_HINT						\
	"give --cert and --key, or cert and key in vmmctl.conf"

struct client_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;			/* the client's; not owned */
	char *ca, *cert, *key;	/* the files, for messages; cert may be NULL */
	char host[CLIENT_HOST_MAX + 1];	/* the URI's, for messages */
	/* The first problem verification found in the server's chain. */
	long verr;
	int vdepth;
	X509 *vcert;
	int sys_err;		/* errno of the socket's last failed call */
	bool sound;		/* no fatal error: close with close_notify */
};

static int	client_tls_fail(struct client *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* c->failure = "URI: " and the reason; returns err (negative). */
static int
client_tls_fail(struct client *c, int err, const char *fmt, ...)
{
	size_t at;
	va_list ap;

	snprintf(c->failure, sizeof(c->failure), "%s: ", c->path);
	at = strlen(c->failure);
	va_start(ap, fmt);
	vsnprintf(c->failure + at, sizeof(c->failure) - at, fmt, ap);
	va_end(ap);
	return err;
}

static int64_t
client_tls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline: 1, 0 at the deadline, -errno. */
static int
client_tls_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { fd, events, 0 };
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - client_tls_now_ms()) <= 0)
			return 0;
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 ? -errno : n;
	}
}

/*
 * The socket under OpenSSL: send with MSG_NOSIGNAL, so that a server gone
 * away is EPIPE and not the death of vmmctl (which keeps SIGPIPE's default
 * for its standard output), and the errno of each failure kept.
 */

static BIO_METHOD *client_tls_bio_method;

static int
client_tls_bio_write(BIO *b, const char *buf, int len)
{
	struct client_tls *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if ((n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL)) >= 0)
		return (int)n;
	t->sys_err = errno;
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_write(b);
	return -1;
}

static int
client_tls_bio_read(BIO *b, char *buf, int len)
{
	struct client_tls *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if ((n = recv(t->fd, buf, (size_t)len, 0)) >= 0)
		return (int)n;
	t->sys_err = errno;
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_read(b);
	return -1;
}

/* Nothing to control but a flush, which send needs not. */
static long
client_tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
client_tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* The method, made once and kept for the life of the process. */
static BIO *
client_tls_bio_new(struct client_tls *t)
{
	BIO_METHOD *m = client_tls_bio_method;
	BIO *b;

	if (m == NULL) {
		m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
		    "vmmctl socket");
		if (m == NULL || BIO_meth_set_write(m, client_tls_bio_write) !=
		    1 || BIO_meth_set_read(m, client_tls_bio_read) != 1 ||
		    BIO_meth_set_ctrl(m, client_tls_bio_ctrl) != 1 ||
		    BIO_meth_set_create(m, client_tls_bio_create) != 1) {
			BIO_meth_free(m);
			return NULL;
		}
		client_tls_bio_method = m;
	}
	if ((b = BIO_new(m)) != NULL)
		BIO_set_data(b, t);
	return b;
}

/*
 * Names and dates for messages.
 */

/* A certificate time as "2026-11-21 10:00:00 UTC", or "?". */
static void
client_tls_date(const ASN1_TIME *at, char *buf, size_t len)
{
	struct tm tm;

	if (at == NULL || ASN1_TIME_to_tm(at, &tm) != 1 ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "?");
}

/* A distinguished name as RFC 2253 writes it, control bytes escaped. */
static void
client_tls_dn(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	snprintf(buf, len, "?");
	if (b == NULL || name == NULL) {
		BIO_free(b);
		return;
	}
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(b, &p)) > 0)
		snprintf(buf, len, "%.*s", (int)n, p);
	BIO_free(b);
}

/* Append ", name" (or "name" first) to buf. */
static void
client_tls_list_add(char *buf, size_t len, const char *name)
{
	size_t at = strlen(buf);

	if (at + 1 < len)
		snprintf(buf + at, len - at, "%s%s", at > 0 ? ", " : "", name);
}

/* One subjectAltName entry, a DNS name or an address, into buf, or "". */
static void
client_tls_san(const GENERAL_NAME *g, char *buf, size_t len)
{
	const unsigned char *d;
	int n, i;

	buf[0] = '\0';
	if (g->type == GEN_DNS) {
		d = ASN1_STRING_get0_data(g->d.dNSName);
		n = ASN1_STRING_length(g->d.dNSName);
		for (i = 0; i < n; i++)
			if (d[i] < 0x21 || d[i] > 0x7e)
				return;
		snprintf(buf, len, "%.*s", n, (const char *)d);
	} else if (g->type == GEN_IPADD) {
		d = ASN1_STRING_get0_data(g->d.iPAddress);
		n = ASN1_STRING_length(g->d.iPAddress);
		if (n == 4 || n == 16)
			inet_ntop(n == 4 ? AF_INET : AF_INET6, d, buf,
			    (socklen_t)len);
	}
}

/* The hosts a certificate names: its DNS and IP SANs. */
static void
client_tls_names(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens;
	char one[INET6_ADDRSTRLEN + CLIENT_HOST_MAX];
	int i;

	buf[0] = '\0';
	gens = x != NULL ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL) : NULL;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		client_tls_san(sk_GENERAL_NAME_value(gens, i), one,
		    sizeof(one));
		if (one[0] != '\0')
			client_tls_list_add(buf, len, one);
	}
	GENERAL_NAMES_free(gens);
	if (buf[0] == '\0')
		snprintf(buf, len, "no host");
}

/*
 * The server's certificate failed verification.
 */

/* "the server's certificate", or the one in its chain that failed. */
static void
client_tls_who(const struct client_tls *t, char *buf, size_t len)
{
	char dn[CLIENT_TLS_TEXT_MAX];

	if (t->vdepth == 0 || t->vcert == NULL) {
		snprintf(buf, len, "the server's certificate");
		return;
	}
	client_tls_dn(X509_get_subject_name(t->vcert), dn, sizeof(dn));
	snprintf(buf, len, "the certificate \"%s\" in the server's chain", dn);
}

/*
 * Whichever certificate verification stopped at (the server's, missing
 * its issuer, or the self-signed root its chain leads to), its issuer
 * is the CA the server's certificate comes from.
 */
static int
client_tls_v_unknown_ca(struct client *c, const char *who)
{
	char dn[CLIENT_TLS_TEXT_MAX];

	client_tls_dn(c->tls->vcert != NULL ?
	    X509_get_issuer_name(c->tls->vcert) : NULL, dn, sizeof(dn));
	return client_tls_fail(c, -EKEYREJECTED, "the server's certificate "
	    "is not from the CA in %s (it comes from %s)", c->tls->ca, dn);
}

static int
client_tls_v_expired(struct client *c, const char *who)
{
	char date[64];

	client_tls_date(c->tls->vcert != NULL ?
	    X509_get0_notAfter(c->tls->vcert) : NULL, date, sizeof(date));
	return client_tls_fail(c, -EKEYEXPIRED, "%s expired on %s", who,
	    date);
}

static int
client_tls_v_not_yet(struct client *c, const char *who)
{
	char date[64];

	client_tls_date(c->tls->vcert != NULL ?
	    X509_get0_notBefore(c->tls->vcert) : NULL, date, sizeof(date));
	return client_tls_fail(c, -EKEYREJECTED, "%s is not valid before %s",
	    who, date);
}

static int
client_tls_v_host(struct client *c, const char *who)
{
	char names[CLIENT_TLS_TEXT_MAX];

	client_tls_names(c->tls->vcert, names, sizeof(names));
	return client_tls_fail(c, -EKEYREJECTED, "%s is not for %s (it names "
	    "%s)", who, c->tls->host, names);
}

typedef int client_tls_verr_fn(struct client *, const char *);

/* Verification errors that have a sentence of their own. */
static const struct {
	long verr;
	client_tls_verr_fn *fn;
} client_tls_verrs[] = {
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, client_tls_v_unknown_ca },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
	    client_tls_v_unknown_ca },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, client_tls_v_unknown_ca },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, client_tls_v_unknown_ca },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, client_tls_v_unknown_ca },
	{ X509_V_ERR_CERT_UNTRUSTED, client_tls_v_unknown_ca },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, client_tls_v_unknown_ca },
	{ X509_V_ERR_CERT_HAS_EXPIRED, client_tls_v_expired },
	{ X509_V_ERR_CERT_NOT_YET_VALID, client_tls_v_not_yet },
	{ X509_V_ERR_HOSTNAME_MISMATCH, client_tls_v_host },
	{ X509_V_ERR_IP_ADDRESS_MISMATCH, client_tls_v_host },
};

static int
client_tls_verify_failed(struct client *c)
{
	struct client_tls *t = c->tls;
	char who[CLIENT_TLS_TEXT_MAX + 64];
	size_t i;

	if (t->verr == X509_V_OK)
		t->verr = SSL_get_verify_result(t->ssl);
	client_tls_who(t, who, sizeof(who));
	for (i = 0; i < sizeof(client_tls_verrs) / sizeof(*client_tls_verrs);
	    i++)
		if (client_tls_verrs[i].verr == t->verr)
			return client_tls_verrs[i].fn(c, who);
	return client_tls_fail(c, -EKEYREJECTED, "%s fails verification "
	    "against %s: %s", who, t->ca,
	    X509_verify_cert_error_string(t->verr));
}

/* Keep the first problem of the chain, with its certificate. */
static int
client_tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct client_tls *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	X509 *x;

	if (ok || t == NULL || t->verr != X509_V_OK)
		return ok;
	t->verr = X509_STORE_CTX_get_error(xs);
	t->vdepth = X509_STORE_CTX_get_error_depth(xs);
	if ((x = X509_STORE_CTX_get_current_cert(xs)) != NULL &&
	    X509_up_ref(x) == 1)
		t->vcert = x;
	return ok;
}

/*
 * Alerts and other errors from OpenSSL.
 */

enum client_tls_whose {
	CLIENT_TLS_OURS,	/* the server refused our certificate */
	CLIENT_TLS_NOCERT,	/* the server wants a certificate */
	CLIENT_TLS_NOCERT_OR,	/* that if we sent none, else text */
	CLIENT_TLS_SERVER,	/* text, about the server */
};

/*
 * The errors OpenSSL reports, by reason: an alert the server sent is
 * SSL_AD_REASON_OFFSET + its number (RFC 8446, section 6).
 */
static const struct {
	int reason;
	int err;
	enum client_tls_whose whose;
	const char *text;
} client_tls_reasons[] = {
	{ SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED, EKEYEXPIRED, CLIENT_TLS_OURS,
	    "it has expired" },
	{ SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED, EKEYREVOKED, CLIENT_TLS_OURS,
	    "it is revoked" },
	{ SSL_R_TLSV1_ALERT_UNKNOWN_CA, EKEYREJECTED, CLIENT_TLS_OURS,
	    "it is not from a CA the server trusts" },
	{ SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, EKEYREJECTED, CLIENT_TLS_OURS,
	    "alert bad_certificate" },
	{ SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE, EKEYREJECTED,
	    CLIENT_TLS_OURS, "alert unsupported_certificate" },
	{ SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, EKEYREJECTED, CLIENT_TLS_OURS,
	    "alert certificate_unknown" },
	{ SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, ENOKEY, CLIENT_TLS_NOCERT,
	    NULL },
	/* TLS 1.2 has no certificate_required. */
	{ SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE, ECONNREFUSED,
	    CLIENT_TLS_NOCERT_OR,
	    "the server refused the TLS handshake (alert handshake_failure)" },
	{ SSL_R_TLSV1_ALERT_ACCESS_DENIED, ECONNREFUSED, CLIENT_TLS_SERVER,
	    "the server denies access (alert access_denied)" },
	{ SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, EPROTONOSUPPORT,
	    CLIENT_TLS_SERVER, "the server does not speak TLS 1.2 or later" },
	{ SSL_R_UNSUPPORTED_PROTOCOL, EPROTONOSUPPORT, CLIENT_TLS_SERVER,
	    "the server does not speak TLS 1.2 or later" },
	{ SSL_R_WRONG_VERSION_NUMBER, EPROTO, CLIENT_TLS_SERVER,
	    "the server does not speak TLS" },
	{ SSL_R_PACKET_LENGTH_TOO_LONG, EPROTO, CLIENT_TLS_SERVER,
	    "the server does not speak TLS" },
};

#define CLIENT_TLS_NREASONS						\
	(sizeof(client_tls_reasons) / sizeof(*client_tls_reasons))

/* Our certificate refused: row i's text, or the date it expired. */
static int
client_tls_refused(struct client *c, size_t i)
{
	struct client_tls *t = c->tls;
	X509 *ours = SSL_CTX_get0_certificate(t->ctx);
	char date[64];

	if (client_tls_reasons[i].reason ==
	    SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED && ours != NULL) {
		client_tls_date(X509_get0_notAfter(ours), date, sizeof(date));
		return client_tls_fail(c, -EKEYEXPIRED, "the server refused "
		    "our certificate %s: it expired on %s", t->cert, date);
	}
	return client_tls_fail(c, -client_tls_reasons[i].err, "the server "
	    "refused our certificate %s: %s", t->cert,
	    client_tls_reasons[i].text);
}

/* The sentence of row i of client_tls_reasons. */
static int
client_tls_reason(struct client *c, size_t i)
{
	enum client_tls_whose whose = client_tls_reasons[i].whose;
	bool sent = c->tls->cert != NULL;

	if (whose == CLIENT_TLS_OURS && sent)
		return client_tls_refused(c, i);
	if (whose == CLIENT_TLS_NOCERT || (!sent &&
	    (whose == CLIENT_TLS_NOCERT_OR || whose == CLIENT_TLS_OURS)))
		return client_tls_fail(c, -ENOKEY, "the server requires a "
		    "client certificate: %s", CLIENT_TLS_NO_CERT_HINT);
	return client_tls_fail(c, -client_tls_reasons[i].err, "%s",
	    client_tls_reasons[i].text);
}

/*
 * An SSL_ERROR_SSL: the first error in OpenSSL's queue that has a
 * sentence, else the first one.  Empties the queue.
 */
static int
client_tls_ssl_error(struct client *c, bool handshake)
{
	unsigned long e, first = 0;
	int reason;
	size_t i;

	while ((e = ERR_get_error()) != 0) {
		if (first == 0)
			first = e;
		if (ERR_GET_LIB(e) != ERR_LIB_SSL)
			continue;
		reason = ERR_GET_REASON(e);
		if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
			ERR_clear_error();
			return client_tls_verify_failed(c);
		}
		if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return handshake ? client_tls_fail(c, -ECONNRESET,
			    "the server closed the connection during the TLS "
			    "handshake") : -ECONNRESET;
		}
		for (i = 0; i < CLIENT_TLS_NREASONS; i++)
			if (client_tls_reasons[i].reason == reason) {
				ERR_clear_error();
				return client_tls_reason(c, i);
			}
		reason -= SSL_AD_REASON_OFFSET;
		if (reason >= 0 && reason <= 255) {
			ERR_clear_error();
			return client_tls_fail(c, -EPROTO, "the server ended "
			    "the session (alert %s)",
			    SSL_alert_desc_string_long(reason));
		}
	}
	return client_tls_fail(c, -EPROTO, "TLS error: %s",
	    first != 0 && ERR_reason_error_string(first) != NULL ?
	    ERR_reason_error_string(first) : "unknown");
}

/*
 * What SSL_get_error said (e) after a call failed, as a negative errno;
 * c->failure says why when there is more to say than the errno.
 */
static int
client_tls_failed(struct client *c, int e, bool handshake)
{
	struct client_tls *t = c->tls;
	int err = t->sys_err != 0 ? t->sys_err : ECONNRESET;

	t->sound = false;
	if (e == SSL_ERROR_ZERO_RETURN)
		return -ECONNRESET;	/* close_notify: vmmd closed */
	if (e == SSL_ERROR_SSL)
		return client_tls_ssl_error(c, handshake);
	ERR_clear_error();
	if (e != SSL_ERROR_SYSCALL)
		return client_tls_fail(c, -EPROTO, "TLS error %d", e);
	if (!handshake)
		return -err;
	if (err == ECONNRESET || err == EPIPE)
		return client_tls_fail(c, -err, "the server closed the "
		    "connection during the TLS handshake");
	return client_tls_fail(c, -err, "TLS handshake: %s", strerror(err));
}

/*
 * Setting up.
 */

/* Refuse to ask for a passphrase: vmmctl takes unencrypted keys only. */
static int
client_tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* Can path be opened?  0, or the failure for what (a kind of file). */
static int
client_tls_readable(struct client *c, const char *what, const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return client_tls_fail(c, -errno, "cannot read the %s %s: %s",
		    what, path, strerror(errno));
	close(fd);
	return 0;
}

/* Our private key, unencrypted PEM, into t->ctx. */
static int
client_tls_key(struct client *c)
{
	struct client_tls *t = c->tls;
	EVP_PKEY *pkey;
	FILE *f;
	int rc = 0;

	if ((f = fopen(t->key, "re")) == NULL)
		return client_tls_fail(c, -errno, "cannot read the key file "
		    "%s: %s", t->key, strerror(errno));
	pkey = PEM_read_PrivateKey(f, NULL, client_tls_no_passphrase, NULL);
	fclose(f);
	if (pkey == NULL)
		return client_tls_fail(c, -EINVAL, "the key file %s holds no "
		    "PEM private key (encrypted keys are not supported)",
		    t->key);
	if (SSL_CTX_use_PrivateKey(t->ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1)
		rc = client_tls_fail(c, -EINVAL, "the key in %s does not "
		    "belong to the certificate in %s", t->key, t->cert);
	EVP_PKEY_free(pkey);
	return rc;
}

/* The CA, our certificate and key into t->ctx. */
static int
client_tls_files(struct client *c)
{
	struct client_tls *t = c->tls;
	int rc;

	if ((rc = client_tls_readable(c, "CA file", t->ca)) != 0)
		return rc;
	if (SSL_CTX_load_verify_file(t->ctx, t->ca) != 1)
		return client_tls_fail(c, -EINVAL, "the CA file %s holds no "
		    "PEM certificate", t->ca);
	if (t->cert == NULL)
		return 0;
	if ((rc = client_tls_readable(c, "certificate file", t->cert)) != 0)
		return rc;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, t->cert) != 1)
		return client_tls_fail(c, -EINVAL, "the certificate file %s "
		    "holds no PEM certificate", t->cert);
	return client_tls_key(c);
}

/* The context: TLS 1.2 or later, the server verified, our files. */
static int
client_tls_ctx(struct client *c)
{
	struct client_tls *t = c->tls;

	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return -ENOMEM;
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(t->ctx, CLIENT_TLS_CIPHERS) != 1)
		return client_tls_fail(c, -EINVAL, "OpenSSL refuses TLS 1.2 "
		    "with AEAD suites");
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	/* After a record without data, SSL_read returns: poll again. */
	SSL_CTX_clear_mode(t->ctx, SSL_MODE_AUTO_RETRY);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_default_passwd_cb(t->ctx, client_tls_no_passphrase);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, client_tls_verify_cb);
	return client_tls_files(c);
}

static char *
client_tls_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* c->tls with copies of conf's paths, and its context. */
static int
client_tls_new(struct client *c, const struct client_tls_conf *conf)
{
	struct client_tls *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	c->tls = t;
	t->fd = -1;
	t->ca = client_tls_strdup(conf->ca);
	t->cert = client_tls_strdup(conf->cert);
	t->key = client_tls_strdup(conf->key != NULL ? conf->key :
	    conf->cert);
	if (t->ca == NULL || (conf->cert != NULL &&
	    (t->cert == NULL || t->key == NULL)))
		return -ENOMEM;
	return client_tls_ctx(c);
}

/* A TCP connection to one address, non-blocking, before deadline. */
static int
client_tls_tcp_one(const struct addrinfo *ai, int64_t deadline, int *fdp)
{
	socklen_t len = sizeof(int);
	int fd, rc, soerr = 0, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto fail;
		}
		if ((rc = client_tls_wait(fd, POLLOUT, deadline)) <= 0) {
			rc = rc == 0 ? -ETIMEDOUT : rc;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1 ||
		    soerr != 0) {
			rc = soerr != 0 ? -soerr : -errno;
			goto fail;
		}
	}
	/* Requests are small and answered at once: no Nagle delays. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fdp = fd;
	return 0;

fail:
	close(fd);
	return rc;
}

/* "ADDR port P" of an address, for messages. */
static void
client_tls_addr(const struct addrinfo *ai, unsigned int port, char *buf,
    size_t len)
{
	char host[NI_MAXHOST];

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL,
	    0, NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	snprintf(buf, len, "%s port %u", host, port);
}

/* Resolve u's host and connect to its first address that answers. */
static int
client_tls_tcp(struct client *c, const struct client_uri *u, int timeout_ms,
    int64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8], addr[NI_MAXHOST + 16];
	int rc = -EHOSTUNREACH, g;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = u->host_kind == CLIENT_HOST_IPV4 ? AF_INET :
	    u->host_kind == CLIENT_HOST_IPV6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV |
	    (u->host_kind != CLIENT_HOST_DNS ? AI_NUMERICHOST : 0);
	snprintf(port, sizeof(port), "%u", u->port);
	if ((g = getaddrinfo(u->host, port, &hints, &res)) != 0)
		return client_tls_fail(c, -EHOSTUNREACH, "cannot resolve %s: "
		    "%s", u->host, g == EAI_SYSTEM ? strerror(errno) :
		    gai_strerror(g));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		client_tls_addr(ai, u->port, addr, sizeof(addr));
		if ((rc = client_tls_tcp_one(ai, deadline, &c->fd)) == 0)
			break;
	}
	freeaddrinfo(res);
	if (rc == -ETIMEDOUT)
		return client_tls_fail(c, rc, "cannot connect to %s: no answer "
		    "within %g s", addr, timeout_ms / 1000.0);
	if (rc != 0)
		return client_tls_fail(c, rc, "cannot connect to %s: %s", addr,
		    strerror(-rc));
	return 0;
}

/* The session over c->fd, checking u's host. */
static int
client_tls_session(struct client *c, const struct client_uri *u)
{
	struct client_tls *t = c->tls;
	BIO *b;

	t->fd = c->fd;
	snprintf(t->host, sizeof(t->host), "%s", u->host);
	if ((t->ssl = SSL_new(t->ctx)) == NULL)
		return -ENOMEM;
	SSL_set_app_data(t->ssl, t);
	if ((b = client_tls_bio_new(t)) == NULL)
		return -ENOMEM;
	SSL_set_bio(t->ssl, b, b);
	SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (u->host_kind != CLIENT_HOST_DNS)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    u->host) == 1 ? 0 : -EINVAL;
	/* Server Name Indication is for DNS names only (RFC 6066, 3). */
	if (SSL_set_tlsext_host_name(t->ssl, u->host) != 1 ||
	    SSL_set1_host(t->ssl, u->host) != 1)
		return -ENOMEM;
	return 0;
}

/* The handshake, non-blocking, before deadline. */
static int
client_tls_handshake(struct client *c, int timeout_ms, int64_t deadline)
{
	struct client_tls *t = c->tls;
	int n, e;

	for (;;) {
		ERR_clear_error();
		t->sys_err = 0;
		if ((n = SSL_connect(t->ssl)) == 1)
			return 0;
		e = SSL_get_error(t->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return client_tls_failed(c, e, true);
		n = client_tls_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, deadline);
		if (n == 0)
			return client_tls_fail(c, -ETIMEDOUT, "no TLS "
			    "handshake from the server within %g s",
			    timeout_ms / 1000.0);
		if (n < 0)
			return client_tls_fail(c, n, "TLS handshake: %s",
			    strerror(-n));
	}
}

int
client_connect_tls(struct client *c, const struct client_uri *u,
    const struct client_tls_conf *conf)
{
	int timeout = conf->timeout_ms > 0 ? conf->timeout_ms :
	    CLIENT_TLS_TIMEOUT_MS;
	int64_t deadline = client_tls_now_ms() + timeout;
	int rc, fl;

	c->failure[0] = '\0';
	snprintf(c->path, sizeof(c->path), "%s", u->name);
	if ((rc = rpc_reader_init(&c->rd, RPC_MSG_MAX_LIMIT)) != 0 ||
	    (rc = client_tls_new(c, conf)) != 0 ||
	    (rc = client_tls_tcp(c, u, timeout, deadline)) != 0 ||
	    (rc = client_tls_session(c, u)) != 0 ||
	    (rc = client_tls_handshake(c, timeout, deadline)) != 0)
		goto fail;
	/* From here on, blocking I/O, as over a UNIX socket. */
	if ((fl = fcntl(c->fd, F_GETFL)) == -1 ||
	    fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		rc = -errno;
		goto fail;
	}
	c->tls->sound = true;
	return 0;

fail:
	if (c->failure[0] == '\0')
		client_tls_fail(c, rc, "%s", strerror(-rc));
	if (c->tls != NULL)
		c->tls->sound = false;
	client_tls_close(c);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	return rc;
}

/*
 * The open session.
 */

ssize_t
client_tls_read(struct client *c, char *buf, size_t len)
{
	struct client_tls *t = c->tls;
	size_t n;
	int e;

	ERR_clear_error();
	t->sys_err = 0;
	if (SSL_read_ex(t->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	e = SSL_get_error(t->ssl, 0);
	/* A record without data, or a signal: nothing for now. */
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return client_tls_failed(c, e, false);
}

int
client_tls_write(struct client *c, const char *buf, size_t len)
{
	struct client_tls *t = c->tls;
	size_t n;
	int e;

	while (len > 0) {
		ERR_clear_error();
		t->sys_err = 0;
		if (SSL_write_ex(t->ssl, buf, len, &n) == 1) {
			buf += n;
			len -= n;
			continue;
		}
		e = SSL_get_error(t->ssl, 0);
		/* Blocking: only a signal gets here; the same write again. */
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return client_tls_failed(c, e, false);
	}
	return 0;
}

size_t
client_tls_pending(const struct client *c)
{
	return c->tls != NULL && c->tls->ssl != NULL ?
	    (size_t)SSL_pending(c->tls->ssl) : 0;
}

void
client_tls_no_role(struct client *c, const char *fingerprint)
{
	client_tls_fail(c, 0, "the server knows our certificate %s (%s) but "
	    "gives it no role", c->tls->cert != NULL ? c->tls->cert : "",
	    fingerprint);
}

void
client_tls_close(struct client *c)
{
	struct client_tls *t = c->tls;

	if (t == NULL)
		return;
	if (t->ssl != NULL && t->sound) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
	}
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	X509_free(t->vcert);
	free(t->ca);
	free(t->cert);
	free(t->key);
	free(t);
	c->tls = NULL;
	ERR_clear_error();
}
