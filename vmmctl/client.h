/*
 * client.h: vmmctl's connection to vmmd: the URI forms, the UNIX socket,
 * JSON-RPC requests and their responses, and the notifications the daemon
 * sends in between (proto/PROTOCOL.md, "JSON-RPC").  Blocking I/O; a
 * caller that also waits for other descriptors polls client_fd and calls
 * client_read when it is readable.
 */

#ifndef VMMCTL_CLIENT_H
#define VMMCTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "rpc.h"

/* sun_path holds 108 bytes with the NUL. */
#define CLIENT_PATH_MAX	108

enum client_transport {
	CLIENT_UNIX,		/* "unix:PATH" or "/PATH" */
	CLIENT_TLS,		/* "tls://HOST:PORT": not supported yet */
};

struct client_uri {
	enum client_transport transport;
	char path[CLIENT_PATH_MAX];	/* CLIENT_UNIX */
};

/*
 * Parse uri.  Returns 0; -ENOTSUP for a tls:// URI (not supported yet);
 * -EINVAL for anything else that is not a URI vmmctl knows, with the
 * reason in err.
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

struct client {
	int fd;				/* -1: closed */
	char path[CLIENT_PATH_MAX];	/* for messages */
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
 * connection broke (-ECONNRESET: closed by vmmd; -EPROTO: not JSON-RPC).
 */
int	client_call(struct client *c, const char *method, json_t *params,
	    json_t **result, json_t **error);

/*
 * Read once from the socket (blocking unless it is readable) and handle
 * every complete message.  Returns 0 or a negative errno as client_call.
 */
int	client_read(struct client *c);

/*
 * Handle one line as read from the daemon.  Returns 0, or -EPROTO when it
 * is not a JSON-RPC response or notification; for the tests.
 */
int	client_handle_line(struct client *c, const char *text, size_t len);

#endif /* VMMCTL_CLIENT_H */
