/*
 * server.h: vmmd's listeners and client connections.  A connection reads
 * JSON-RPC lines (proto/rpc.h framing), answers them through d->methods
 * with the caller's role, and carries notifications (console output)
 * back.  A connection is a UNIX socket (the role from the peer's
 * credentials) or TLS over TCP (the role from the client certificate,
 * tls.h); above the transport they are the same.
 *
 * Replies may be deferred: a handler that finishes later (vm.start answers
 * when the guest runs) takes a struct reply and returns its marker as the
 * result; the message's response is held until every deferred reply in
 * it is given, so that a batch is still answered as one array.
 */

#ifndef VMMD_SERVER_H
#define VMMD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rpc.h"
#include "vmmd.h"

struct conn;
struct msg;
struct reply;

/*
 * The context of one request: rpc_dispatch's ctx, which every handler
 * receives.  Borrowed for the handler's call only.
 */
struct call {
	struct vmmd *d;
	struct conn *conn;
	const struct peer *peer;
	struct msg *msg;	/* the message being answered */
	uint64_t t0;		/* when it was read, uv_hrtime() */
	bool audited;		/* the handler's commit wrote its audit record */
};

/*
 * Open the listeners of d->cfg (the read-write socket with its mode and
 * group, the read-only socket 0666, the TLS listener when tls-listen is
 * set) and start accepting.  A socket path
 * that exists is replaced only when it is a socket nobody answers on; a
 * live one means another vmmd and is refused (-EADDRINUSE).  Returns 0
 * with d->server set, or a negative errno with a reason in err.
 */
int	server_start(struct vmmd *d, char *err, size_t errlen);

/*
 * Read the TLS files again (SIGHUP: a renewed certificate, a new CRL) for
 * the connections to come.  Returns 0 (also without tls-listen), or a
 * negative errno with the reason in err, the old files staying in use.
 */
int	server_reload_tls(struct vmmd *d, char *err, size_t errlen);

/*
 * Stop accepting, close every connection (pending replies are dropped)
 * and remove the socket files.  cb runs once everything is closed.
 */
void	server_stop(struct vmmd *d, void (*cb)(void *), void *arg);

/* Release what server_stop left, after its cb. */
void	server_free(struct vmmd *d);

/* Connected clients now; for host.info. */
unsigned int server_clients(const struct vmmd *d);

/*
 * A connection stays allocated while referenced: the supervisor keeps a
 * reference to each console watcher.  conn_is_open turns false when the
 * client goes away; sending to a closed connection is a no-op.
 */
struct conn *conn_ref(struct conn *c);
void	conn_unref(struct conn *c);	/* accepts NULL */
bool	conn_is_open(const struct conn *c);
const struct peer *conn_peer(const struct conn *c);

/*
 * Send a notification {"jsonrpc":"2.0","method":method,"params":params}
 * (params stolen).  Returns 0; -EPIPE when the connection is closed;
 * -ENOBUFS when the client has more than cfg.console_buffer bytes unsent,
 * in which case nothing is sent (the caller counts what the client lost).
 */
int	conn_notify(struct conn *c, const char *method, json_t *params);

/*
 * Deferred replies.  In a handler: r = reply_new(call); start the work
 * with r as the completion's argument; on a synchronous failure
 * reply_discard(r) and return the error; else *result = reply_marker(r)
 * and return 0.  Later, exactly one of reply_result (result stolen, NULL
 * for null) or reply_error (err's data taken, err cleared) ends r.  When
 * the request was a notification or the connection closed meanwhile, the
 * answer is dropped.  NULL from reply_new means out of memory.
 */
struct reply *reply_new(struct call *call);
json_t	*reply_marker(struct reply *r);
void	reply_discard(struct reply *r);
void	reply_result(struct reply *r, json_t *result);
void	reply_error(struct reply *r, struct rpc_error *err);

#endif /* VMMD_SERVER_H */
