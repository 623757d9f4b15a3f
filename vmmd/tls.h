/*
 * tls.h: vmmd's TLS (OpenSSL): the server context built from vmmd.conf
 * (certificate, key, CA, CRL; TLS 1.2 and 1.3 with AEAD suites only, no
 * renegotiation, no compression, a client certificate required), the role
 * a client certificate maps to (tls-role lines, vmmd.conf(5)), and one
 * connection's engine over memory BIOs: server.c moves the ciphertext
 * between the socket and the engine, so that the event loop never blocks
 * in OpenSSL.
 *
 * Conventions: 0 or a negative errno; a failure's reason is a sentence in
 * the caller's buffer (tls_ctx_new) or from tls_conn_error.
 */

#ifndef VMMD_TLS_H
#define VMMD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "rpc.h"

/* "SHA256:" and 32 hex pairs joined by ':', with the NUL. */
#define TLS_FINGERPRINT_MAX	(7 + 95 + 1)
#define TLS_SUBJECT_MAX		160	/* RFC 2253 form, truncated */
#define TLS_REASON_MAX		160

struct tls_ctx;
struct tls_conn;

/*
 * Build the server context from cfg's tls-* settings, reading every file
 * now.  Returns 0 with *out set, or a negative errno with the reason in
 * err (the file and what is wrong with it).  The context holds a copy of
 * the role table; connections keep it alive (reference counted), so a
 * reload can swap contexts under open connections.
 */
int	tls_ctx_new(const struct config *cfg, struct tls_ctx **out, char *err,
	    size_t errlen);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
void	tls_ctx_unref(struct tls_ctx *t);	/* accepts NULL */

/* A server-side connection of t.  NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_ctx *t);
void	tls_conn_free(struct tls_conn *c);	/* accepts NULL */

/* Ciphertext from the client.  0 or -ENOMEM. */
int	tls_conn_feed(struct tls_conn *c, const void *p, size_t len);

/*
 * Advance the handshake with what was fed.  Returns 1 once it is complete
 * (and at every later call), 0 while it needs more from the client, or
 * -EPROTO when it failed (tls_conn_error says why; the alert for the
 * client, if any, is waiting in the output).
 */
int	tls_conn_handshake(struct tls_conn *c);

/*
 * Plaintext from the client, after the handshake: up to cap bytes.
 * Returns the number of bytes, 0 when nothing more is complete for now,
 * -EPIPE when the client closed the TLS session (close_notify), or
 * -EPROTO on an error (tls_conn_error).
 */
ssize_t	tls_conn_read(struct tls_conn *c, void *buf, size_t cap);

/* Encrypt len bytes of plaintext into the output.  0, -EPROTO, -ENOMEM. */
int	tls_conn_write(struct tls_conn *c, const void *p, size_t len);

/* Queue a close_notify alert (the connection is ending). */
void	tls_conn_shutdown(struct tls_conn *c);

/* Bytes of ciphertext waiting for the client. */
size_t	tls_conn_pending(const struct tls_conn *c);

/*
 * Move up to cap bytes of ciphertext for the client into buf.  Returns
 * the number of bytes (0: nothing waiting).
 */
size_t	tls_conn_drain(struct tls_conn *c, char *buf, size_t cap);

/*
 * The client's identity, once the handshake is complete: its
 * certificate's fingerprint and subject, and the role of the first
 * tls-role line that matches it.  Returns 0, or -EACCES when no line
 * matches (fingerprint and subject are filled all the same).
 */
int	tls_conn_identify(struct tls_conn *c, enum rpc_role *role,
	    char fingerprint[TLS_FINGERPRINT_MAX],
	    char subject[TLS_SUBJECT_MAX]);

/* The protocol and cipher agreed, e.g. "TLSv1.3 TLS_AES_128_GCM_SHA256". */
void	tls_conn_describe(struct tls_conn *c, char *buf, size_t len);

/* Why the last call failed, a sentence. */
const char *tls_conn_error(const struct tls_conn *c);

#endif /* VMMD_TLS_H */
