/*
 * events.h: the event log (db.h, table events) for clients: events.list
 * pages through it, events.subscribe replays what a client missed since
 * a sequence number and then sends every new event as it is committed,
 * as "event" notifications; the log is pruned to cfg.event_retention
 * events.  And the audit log: audit_record after every call that changes
 * something or was refused, audit.list to read it.
 * See proto/PROTOCOL.md ("Events", "Audit").
 */

#ifndef VMMD_EVENTS_H
#define VMMD_EVENTS_H

#include <jansson.h>

#include "rpc.h"
#include "vmmd.h"

struct conn;

#define EVENTS_NOTIFY		"event"
#define EVENTS_SUBS_MAX		4	/* subscriptions per connection */

/* Start: hook the database, prune once.  0 or -ENOMEM. */
int	events_init(struct vmmd *d);
/* Stop every subscription; cb once the loop holds nothing of ours. */
void	events_shutdown(struct vmmd *d, void (*cb)(void *), void *arg);
void	events_free(struct vmmd *d);

/* A connection closed: drop its subscriptions. */
void	events_conn_closed(struct vmmd *d, struct conn *c);

/* The handlers (server.h struct call as ctx). */
rpc_handler_fn	events_list, events_subscribe, audit_list;

/*
 * Record a call to method m by p with params (borrowed, NULL: none):
 * err NULL for success.  Only calls that change something (m's least
 * role is above readonly) or that p's role did not allow are recorded;
 * the others return at once.  Secrets stay out: a definition is recorded
 * by its name, console input by its length.
 */
void	audit_record(struct vmmd *d, const struct peer *p,
	    const struct rpc_method *m, const json_t *params,
	    const struct rpc_error *err);

/*
 * Stage the success record of p's call to method for the database's next
 * commit (db_audit_stage): a handler whose change is one transaction
 * calls it just before, so that the change and its record are durable
 * together.  It returns whether the record is staged; the handler then
 * marks the call audited (server.h) if the commit took it, and
 * audit_record is not called for it.
 */
bool	audit_stage(struct vmmd *d, const struct peer *p, const char *method,
	    const json_t *params);

#endif /* VMMD_EVENTS_H */
