/*
 * client.h: vmmctl's connection to vmmd: the URI forms, the UNIX socket
 * and TLS transports (tls.c), JSON-RPC requests and their responses, and
 * the notifications the daemon sends in between (proto/PROTOCOL.md,
 * "JSON-RPC").  Blocking I/O; a caller that also waits for other
 * descriptors polls client_fd and calls client_read when it is readable
 * (over TLS too: client_read leaves nothing decrypted behind in OpenSSL).
 */

#ifndef VMMCTL_CLIENT_H
#define VMMCTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "rpc.h"

/* sun_path holds 108 bytes with the NUL. */
#define CLIENT_PATH_MAX	108
/* A DNS name (RFC 1035); the text of an address is shorter. */
#define CLIENT_HOST_MAX	253
#define CLIENT_TLS_PORT	8443		/* tls://HOST without a port */
/* "tls://[HOST]:65535" and the NUL; holds a socket path too. */
#define CLIENT_NAME_MAX	(6 + CLIENT_HOST_MAX + 2 + 6 + 1)
#define CLIENT_FAILURE_MAX	1024	/* bytes of client.failure */
/* The TCP connection and the TLS handshake, together. */
#define CLIENT_TLS_TIMEOUT_MS	10000

enum client_transport {
	CLIENT_UNIX,		/* "unix:PATH" or "/PATH" */
	CLIENT_TLS,		/* "tls://HOST[:PORT]" */
};

/* What the HOST of a tls:// URI is. */
enum client_host {
	CLIENT_HOST_DNS,	/* a DNS name: a DNS SAN, sent as SNI */
	CLIENT_HOST_IPV4,	/* dotted quad: checked as an IP SAN */
	CLIENT_HOST_IPV6,	/* "[ADDR]" in the URI: checked as an IP SAN */
};

struct client_uri {
	enum client_transport transport;
	char path[CLIENT_PATH_MAX];	/* CLIENT_UNIX */
	/* CLIENT_TLS: */
	char host[CLIENT_HOST_MAX + 1];	/* an IPv6 address without [] */
	enum client_host host_kind;
	unsigned int port;		/* 1 to 65535 */
	char name[CLIENT_NAME_MAX];	/* "tls://HOST:PORT", port filled in */
};

/*
 * Parse uri.  Returns 0, or -EINVAL for anything that is not a URI
 * vmmctl knows, with the reason in err.
 */
int	client_uri_parse(const char *uri, struct client_uri *u, char *err,
	    size_t errlen);

/*
 * Called for each notification (borrowed method and params, params may be
 * NULL), and for each response whose id is not the one client_call waits
 * for (borrowed result or error, exactly one not NULL).
 */
typedef void client_notify_fn(void *arg, const char *method,
    const json_t *params);
typedef void client_response_fn(void *arg, json_int_t id,
    const json_t *result, const json_t *error);

struct client_tls;

struct client {
	int fd;				/* -1: closed */
	char path[CLIENT_NAME_MAX];	/* for messages: the socket or URI */
	struct client_tls *tls;		/* NULL: a UNIX socket (tls.c) */
	/*
	 * Why the connection failed or was refused, a sentence that starts
	 * with the URI, when the transport knows more than an errno can say
	 * (TLS); "" otherwise.
	 */
	char failure[CLIENT_FAILURE_MAX];
	struct rpc_reader rd;
	json_int_t next_id;
	client_notify_fn *on_notify;	/* NULL: notifications dropped */
	client_response_fn *on_response; /* NULL: stray responses dropped */
	void *arg;
	/* The call client_call waits for. */
	bool waiting, answered;
	json_int_t wait_id;
	json_t *answer;			/* the whole response */
};

/* A closed client, ready for client_connect; client_close accepts it. */
void	client_init(struct client *c);

/* Connect to the UNIX socket at path.  Returns 0 or a negative errno. */
int	client_connect(struct client *c, const char *path);

/* The files of a TLS connection; paths as given (for messages too). */
struct client_tls_conf {
	const char *ca;		/* required: the only CA the server may use */
	const char *cert;	/* our certificate (PEM), or NULL: none */
	const char *key;	/* its private key (PEM), or NULL: in cert */
	int timeout_ms;		/* 0: CLIENT_TLS_TIMEOUT_MS */
};

/*
 * Connect to u (CLIENT_TLS) over TCP and TLS 1.2 or later: the server's
 * certificate must come from conf->ca alone and name u->host (a DNS name
 * or an IP address SAN); we send conf->cert when given.  Returns 0, or a
 * negative errno with the reason in c->failure ("tls://HOST:PORT: ...",
 * naming the file involved).  In tls.c.
 */
int	client_connect_tls(struct client *c, const struct client_uri *u,
	    const struct client_tls_conf *conf);

/* Close (a TLS session with close_notify); accepts a closed client. */
void	client_close(struct client *c);

static inline int
client_fd(const struct client *c)
{
	return c->fd;
}

/*
 * Send one request (params stolen, NULL: none) with a new id, stored in
 * *id when id is not NULL.  Returns 0 or a negative errno (-EPIPE: the
 * daemon went away; -ENOMEM).
 */
int	client_send(struct client *c, const char *method, json_t *params,
	    json_int_t *id);

/*
 * Send a request and wait for its response, passing notifications and
 * other responses to the callbacks meanwhile.  Returns 0 with exactly one
 * of *result (a new reference, json null for a null result) and *error
 * (a new reference to the error object) set, or a negative errno when the
 * connection broke (-ECONNRESET: closed by vmmd; -EPROTO: not JSON-RPC;
 * -EACCES: the server knows our TLS certificate but gives it no role;
 * others) or was refused: c->failure then says why when it is not "".
 */
int	client_call(struct client *c, const char *method, json_t *params,
	    json_t **result, json_t **error);

/*
 * Read once from the socket (blocking unless it is readable) and handle
 * every complete message; over TLS, also every byte OpenSSL decrypted
 * (SSL_pending), so that poll on client_fd misses nothing.  Returns 0
 * (also when what came was TLS housekeeping without data) or a negative
 * errno as client_call.
 */
int	client_read(struct client *c);

/*
 * Handle one line as read from the daemon.  Returns 0, -EPROTO when it
 * is not a JSON-RPC response or notification, or -EACCES for a TLS
 * server's refusal of our certificate (an error with id null, code
 * -32004 and data.fingerprint; c->failure says so); for the tests.
 */
int	client_handle_line(struct client *c, const char *text, size_t len);

/*
 * tls.c, for client.c: the TLS transport under an open client.
 */

/*
 * Up to len bytes of plaintext: their number, 0 when a record brought
 * none (a session ticket...), -ECONNRESET at the end of the session, or
 * another negative errno (c->failure then says why when it knows more,
 * e.g. an alert refusing our certificate, which TLS 1.3 sends after the
 * handshake).
 */
ssize_t	client_tls_read(struct client *c, char *buf, size_t len);
/* All of buf.  0 or a negative errno (-EPIPE: the server went away). */
int	client_tls_write(struct client *c, const char *buf, size_t len);
/* Decrypted bytes that client_tls_read would return at once. */
size_t	client_tls_pending(const struct client *c);
/* Fill c->failure for a server that gives our certificate no role. */
void	client_tls_no_role(struct client *c, const char *fingerprint);
/* Send close_notify if the session is sound; free it (not c->fd). */
void	client_tls_close(struct client *c);

#endif /* VMMCTL_CLIENT_H */
