/*
 * sup.h: the supervisor.  It runs one vmm-worker per running VM, moves
 * each VM through the state machine of vmstate.h, records every state in
 * the database (vm_runtime, and a "vm.state" event), applies the exit
 * policy (on_poweroff, on_reboot, on_crash with the crash-loop budget),
 * autostarts at vmmd's start, re-adopts the workers of a previous vmmd,
 * and mirrors each VM's console so that watchers and the scrollback
 * outlive a worker.  See ARCHITECTURE.md section 5 ("Supervisor").
 *
 * Conventions.  The operations take the VM's name and the requester.
 * They check what can be checked at once (the VM exists, its state allows
 * the operation) and return an RPC error code with err filled when not
 * (RPC_E_NOT_FOUND, RPC_E_INVALID_STATE with data {"state": "..."},
 * RPC_E_BUSY...).  When they return 0 the operation is under way and
 * done(arg, result, err) is called exactly once when it ends, never from
 * inside the call itself: err NULL and result (stolen, NULL for null) on
 * success, else err (the callee clears it after the call).
 *
 * Everything runs on d->loop.  vmmd must ignore SIGPIPE (a worker may
 * close its control socket while a request is being written).
 */

#ifndef VMMD_SUP_H
#define VMMD_SUP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "rpc.h"
#include "vmmd.h"

struct conn;

typedef void sup_done_fn(void *arg, json_t *result, struct rpc_error *err);

/* Console watchers per VM; one more is RPC_E_RESOURCE_LIMIT. */
#define SUP_WATCHERS_MAX	16

/*
 * The notifications sent to console watchers (server.h conn_notify):
 *   "console.data"	{"name", "data"}: output bytes, base64
 *   "console.lost"	{"name", "bytes"}: output this client missed
 *			(it did not read fast enough), before the next data
 *   "console.end"	{"name", "reason"}: the worker exited (its exit
 *			word); the watcher is detached
 */
#define SUP_NOTIFY_DATA		"console.data"
#define SUP_NOTIFY_LOST		"console.lost"
#define SUP_NOTIFY_END		"console.end"

/* Create the supervisor (no I/O yet): d->sup. 0 or -ENOMEM. */
int	sup_init(struct vmmd *d);

/*
 * At vmmd's start, once: re-adopt the worker of every VM the database
 * records as starting, running, paused or stopping (its pid is alive and
 * its control socket answers with its uuid), mark the others crashed
 * (stopped when they were stopping), then start the autostart plan.
 * Returns 0 or a negative errno (the database failed).
 */
int	sup_start_all(struct sup *s);

/*
 * vmmd is stopping: cancel timers, close control connections; the
 * workers keep running unless cfg.stop_vms_on_exit, when every VM is
 * stopped by the host shutdown plan first (as sup_stop_all, with a
 * deadline of SUP_SHUTDOWN_MS, 60 s, and no margin).  Operations
 * still pending fail.  cb runs once nothing of the supervisor's is left
 * on the loop.  Once only: a second call is ignored.  A VM waiting out
 * a restart's backoff stays "starting" without a worker, and the next
 * vmmd starts it.
 */
void	sup_shutdown(struct sup *s, void (*cb)(void *), void *arg);
void	sup_free(struct sup *s);	/* after sup_shutdown's cb */

/*
 * Operations (see the conventions above and proto/PROTOCOL.md).  A stop's
 * timeout_s is the guest's time to shut down (0: the definition's
 * shutdown_timeout); the worker is killed 5 s after it (5 s after a
 * forced stop).  vm.start on a starting VM joins its start.  pause,
 * resume and reset refuse with RPC_E_BUSY while one of them is in flight.
 */
int	sup_start(struct sup *s, const struct peer *p, const char *name,
	    sup_done_fn *done, void *arg, struct rpc_error *err);
int	sup_stop(struct sup *s, const struct peer *p, const char *name,
	    bool force, unsigned int timeout_s, sup_done_fn *done, void *arg,
	    struct rpc_error *err);
int	sup_restart(struct sup *s, const struct peer *p, const char *name,
	    bool force, unsigned int timeout_s, sup_done_fn *done, void *arg,
	    struct rpc_error *err);
int	sup_reset(struct sup *s, const struct peer *p, const char *name,
	    sup_done_fn *done, void *arg, struct rpc_error *err);
int	sup_pause(struct sup *s, const struct peer *p, const char *name,
	    sup_done_fn *done, void *arg, struct rpc_error *err);
int	sup_resume(struct sup *s, const struct peer *p, const char *name,
	    sup_done_fn *done, void *arg, struct rpc_error *err);
int	sup_stats(struct sup *s, const char *name, sup_done_fn *done,
	    void *arg, struct rpc_error *err);
int	sup_console_input(struct sup *s, const struct peer *p,
	    const char *name, const void *data, size_t len,
	    sup_done_fn *done, void *arg, struct rpc_error *err);

/*
 * host.stop_all: stop every VM that has a worker by the host shutdown
 * plan (vmstate_shutdown_plan: reverse autostart order, parallel
 * batches) within timeout_s seconds (1 to 3600).  The plan shares out
 * the deadline less a margin (a tenth of it, at most 5 s): each VM's
 * guest is asked to shut down and forced off by its worker when its
 * share runs out, and at the deadline a worker still there is killed.
 * A restart waiting out its backoff is cancelled, pending autostarts
 * are dropped, and until the end no VM may start (RPC_E_BUSY).  The
 * result is {"stopped": [names], "forced": [names]}: each VM once, in
 * the order its worker ended; "forced" are those still running when
 * their share ran out.  RPC_E_BUSY while vmmd shuts down or another
 * stop_all runs.
 */
int	sup_stop_all(struct sup *s, const struct peer *p,
	    unsigned int timeout_s, sup_done_fn *done, void *arg,
	    struct rpc_error *err);

/*
 * Synchronous ones.  sup_console_attach makes c a watcher of name's
 * console (from now on; the VM must be running or paused).
 * sup_console_log returns {"data", "bytes", "total"} from the mirror (the
 * last bytes, 0: all it holds; it survives the worker; empty for a VM
 * that has not run since vmmd started), and with follow makes c a watcher
 * too.  "total" counts the bytes the guest wrote as vmmd knows them: those
 * received and those the worker reported lost, since this vmmd started
 * (across the VM's runs; for an adopted worker, from the start of the
 * scrollback it replayed).  Both return 0 or an RPC error code with err
 * filled.
 */
int	sup_console_attach(struct sup *s, const char *name, struct conn *c,
	    struct rpc_error *err);
int	sup_console_log(struct sup *s, const char *name, size_t bytes,
	    bool follow, struct conn *c, json_t **result,
	    struct rpc_error *err);

/* A connection closed: drop it from every watcher list. */
void	sup_conn_closed(struct sup *s, struct conn *c);

/* A VM was undefined (its state allowed it): forget what is kept of it. */
void	sup_forget(struct sup *s, const char *uuid);

/* VMs with a worker now (starting with a worker, running, paused, stopping). */
unsigned int sup_active(const struct sup *s);

#endif /* VMMD_SUP_H */
