/*
 * pki.h: the private PKI behind `vmmd pki` (vmmd(8), PKI): a CA, vmmd's
 * server certificate, client certificates whose subject OU names their
 * role, the revocation list vmmd checks, and the vmmd.conf lines that use
 * them.  Keys are ECDSA P-256, signatures SHA-256 (OpenSSL 3).
 *
 * A PKI directory holds ca.pem, ca.key, server.pem, server.key, NAME.pem
 * and NAME.key for each client, crl.pem, index.json (every certificate
 * issued: name, role, serial, expiry, revocation; the CRL is rebuilt from
 * it) and vmmd-tls.conf.  Nothing in it is ever overwritten except crl.pem
 * and index.json, which are replaced atomically.  ca.key is locked
 * (flock) while a command changes the directory.
 *
 * Conventions.  Functions return 0 or a negative errno and on failure put
 * one line (no prefix, no newline) into err.  The library never prints;
 * pki_main, the command-line front end, does.
 */

#ifndef VMMD_PKI_H
#define VMMD_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/types.h>

#define PKI_DAYS_CA	3650	/* the CA's validity, and the CRL's */
#define PKI_DAYS_LEAF	825	/* server and client certificates */
#define PKI_DAYS_MAX	36500
#define PKI_NAME_MAX	64	/* bytes in a client name */
#define PKI_SAN_MAX	32	/* names in the server's subjectAltName */
#define PKI_SAN_LEN_MAX	253	/* bytes in one of them (a DNS name) */
/*
 * Certificates' notBefore is this many seconds in the past, and so is the
 * CRL's lastUpdate, so that a peer whose clock is a little behind accepts
 * them at once.
 */
#define PKI_BACKDATE	300
/* "SHA256:", 32 upper-case hex pairs joined by ':', and the NUL. */
#define PKI_SERIAL_BITS	128
#define PKI_SERIAL_HEX	(PKI_SERIAL_BITS / 4 + 3)	/* a serial as text, NUL too */
#define PKI_FILE_MAX	(PKI_NAME_MAX + 8)	/* "NAME.key" and its NUL */
#define PKI_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define PKI_FINGERPRINT_SIZE	(7 + 32 * 3)

/*
 * Options of pki_init and pki_issue; a zeroed struct (or NULL) means every
 * default.  not_before and not_after, when not 0, replace the validity of
 * every leaf certificate the call makes (tests make expired and not yet
 * valid ones with them); not_before must be before not_after.
 */
struct pki_opts {
	unsigned int days;	/* leaves' validity; 0: PKI_DAYS_LEAF */
	unsigned int ca_days;	/* pki_init: the CA's; 0: PKI_DAYS_CA */
	time_t not_before;	/* 0: now - PKI_BACKDATE */
	time_t not_after;	/* 0: now + days */
	/*
	 * pki_init: the server's names, DNS names or IPv4/IPv6 addresses;
	 * nsan 0 means pki_san_defaults'.  The first is the subject's CN.
	 */
	const char *const *san;
	size_t nsan;
};

/*
 * Create the PKI in dir (created with mode 0755 if missing): the CA, the
 * server's certificate, the clients "admin" (OU admin) and "readonly"
 * (OU readonly), an empty CRL valid as long as the CA, index.json and
 * vmmd-tls.conf.  A dir that already holds a CA (ca.key or ca.pem), or any
 * of these files, is refused (-EEXIST) and left untouched.  On any other
 * failure the files made so far are removed again (and dir, if this call
 * created it).
 */
int	pki_init(const char *dir, const struct pki_opts *opts, char *err,
	    size_t errlen);

/*
 * Issue a client certificate for name (pki_name_ok) with role "readonly",
 * "operator" or "admin" as its OU: dir/name.key (mode 0600) and
 * dir/name.pem (0644), recorded in index.json.  -EEXIST when the name was
 * issued before or its files exist; -EINVAL for a bad role, name or
 * validity.
 */
int	pki_issue(const char *dir, const char *role, const char *name,
	    const struct pki_opts *opts, char *err, size_t errlen);

/*
 * Revoke the certificate issued for name (a client, or "server") and
 * re-sign crl.pem with it added; crl.pem and index.json are each replaced
 * atomically (temporary file, fsync, rename).  -ENOENT when nothing was
 * issued for name, -EINVAL for the CA.  A name already revoked is not an
 * error: the CRL is re-signed all the same, and *already (when not NULL)
 * says so.  The serial revoked, upper-case hex, goes to serial (when not
 * NULL) of serial_len bytes.
 */
int	pki_revoke(const char *dir, const char *name, bool *already,
	    char *serial, size_t serial_len, char *err, size_t errlen);

/*
 * The SHA-256 fingerprint of the certificate (of its DER encoding), as
 * "SHA256:AB:CD:..." into out of len bytes (PKI_FINGERPRINT_SIZE is
 * enough).  Returns 0, -ENOSPC when out is too small, -EINVAL when the
 * certificate cannot be encoded.
 */
int	pki_fingerprint(const X509 *x, char *out, size_t len);

/* As pki_fingerprint, for the certificate in the PEM or DER file path. */
int	pki_fingerprint_file(const char *path, char *out, size_t len,
	    char *err, size_t errlen);

/* A client name: [A-Za-z0-9._-], 1 to PKI_NAME_MAX bytes, no leading '.'. */
bool	pki_name_ok(const char *name);

/*
 * The server's default names: the host name (when it is a valid DNS
 * name), "localhost", "127.0.0.1" and "::1", without duplicates.  host
 * (of at least PKI_SAN_LEN_MAX + 1 bytes) holds the host name the first
 * entry may point to.  Returns the number of names put in v (at most 4).
 */
size_t	pki_san_defaults(const char *v[4], char *host, size_t hostlen);

/*
 * The command line: argv[0] is "pki", then init, issue, revoke or
 * fingerprint and their arguments (vmmd(8)).  Prints what it did, or one
 * line per error to stderr.  Returns the exit status: 0, 1 on an error,
 * 2 on a usage error.
 */
int	pki_main(int argc, char **argv);

/* "readonly", "operator" or "admin". */
bool	pki_role_ok(const char *role);

#endif /* VMMD_PKI_H */
