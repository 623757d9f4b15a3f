/*
 * sup_internal.h: the supervisor's private declarations, shared by its
 * files: sup.c (the VM entries, the state records, starts, exits,
 * restarts and stops), sup_ops.c (the client operations), sup_life.c
 * (adoption, autostart and shutdown), sup_spawn.c (the worker process:
 * posix_spawn, pidfd, its log and readiness pipes), sup_ctl.c (the
 * client of the worker's control socket) and sup_console.c (the console
 * mirror and its watchers).
 *
 * Ownership.  struct sup owns its VM entries (struct sup_vm), an entry
 * owns its worker (struct sup_worker) until the worker is detached; a
 * detached worker frees itself once libuv has closed its handles.  Every
 * libuv handle is counted in sup.handles, so that sup_shutdown knows when
 * the loop holds nothing of ours.
 */

#ifndef VMMD_SUP_INTERNAL_H
#define VMMD_SUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "rpc.h"
#include "sup.h"
#include "vmdef.h"
#include "vmmd.h"
#include "vmstate.h"

#define SUP_START_TIMEOUT_MS	30000	/* spawn to running, else killed */
#define SUP_STOP_GRACE_MS	5000	/* a stop's kill after its timeout */
#define SUP_HELLO_TIMEOUT_MS	5000	/* adoption: the socket must answer */
#define SUP_CTL_GRACE_MS	1000	/* a starting worker we cannot reach */
#define SUP_EXIT_WAIT_MS	1000	/* the socket's last words after exit */
#define SUP_SHUTDOWN_MS		60000	/* stop_vms_on_exit's deadline */
#define SUP_ALL_MARGIN_MS	5000	/* host.stop_all: at most this, */
#define SUP_ALL_MARGIN_DIV	10	/* or 1/10 of the deadline, to force */
#define SUP_LOG_KEEP		5	/* a worker's last log lines kept */
#define SUP_LOG_LINE_MAX	1024	/* bytes of a log line kept */
#define SUP_LOG_READ_MAX	4096	/* a longer log line is dropped */
#define SUP_CTL_LINE_MAX	(1024 * 1024)	/* a control line */
#define SUP_CTL_READ		(64 * 1024)	/* read buffer */
#define SUP_STATUS_LOST		(-1)	/* exit_status of a vanished worker */
#define SUP_WHO_VMMD		"vmmd"

struct sup_all;
struct sup_vm;
struct sup_worker;

/* A one-shot timer that clears its owner's pointer when it fires. */
struct sup_timer {
	uv_timer_t h;
	struct sup *s;
	struct sup_timer **slot;
	void (*fn)(void *arg);
	void *arg;
};

/* What an operation is; START also for a restart's second half. */
enum sup_op_kind {
	SUP_OP_START,
	SUP_OP_STOP,
	SUP_OP_RESTART,
	SUP_OP_REQUEST,		/* one control request: pause, stats... */
};

/* A pending operation: done(arg, ...) once, from the loop. */
struct sup_op {
	TAILQ_ENTRY(sup_op) link;
	enum sup_op_kind kind;
	sup_done_fn *done;	/* NULL: nobody waits (autostart, restarts) */
	void *arg;
	char who[DB_WHO_MAX + 1];
	json_t *result;		/* on completion */
	struct rpc_error err;
};

TAILQ_HEAD(sup_ops, sup_op);

/* A request sent on a control socket, answered in order. */
struct sup_req;
typedef void sup_reply_fn(struct sup_worker *w, struct sup_req *rq,
    json_t *reply);

struct sup_req {
	TAILQ_ENTRY(sup_req) link;
	json_int_t id;
	sup_reply_fn *fn;	/* reply NULL: the connection is gone */
	struct sup_op *op;	/* the client's operation, or NULL */
	char cmd[32];		/* the command's name */
};

TAILQ_HEAD(sup_reqs, sup_req);

/* Why the control connection is opened: what its hello leads to. */
enum sup_ctl_purpose {
	SUP_CTL_START,		/* our child said 'R': attach, then running */
	SUP_CTL_ADOPT,		/* a previous vmmd's worker: adopt it */
};

enum sup_ctl_state {
	SUP_CTL_NONE,		/* never opened */
	SUP_CTL_CONNECTING,
	SUP_CTL_HELLO,		/* connected, waiting for the hello */
	SUP_CTL_ATTACHING,	/* console_attach sent */
	SUP_CTL_UP,
	SUP_CTL_CLOSED,		/* closed or failed; not reopened */
};

/* One vmm-worker process, spawned by us or adopted. */
struct sup_worker {
	struct sup *s;
	struct sup_vm *vm;	/* NULL once detached */
	pid_t pid;
	unsigned int handles;	/* open libuv handles; freed at 0 */
	bool detached;

	int pidfd;		/* -1: none */
	uv_poll_t pid_poll;
	bool pid_polling;
	bool exited;		/* the pidfd said so */
	bool gone;		/* sup_worker_gone ran */
	int status;		/* waitid's (our child), 0..255 */
	bool have_status;

	int log_fd;		/* stderr's read end, -1: none */
	uv_poll_t log_poll;
	bool log_polling;
	struct rpc_reader log_rd;
	char *log[SUP_LOG_KEEP];	/* the last lines, oldest first */
	unsigned int nlog;

	int ready_fd;		/* fd 3's read end, -1: none */
	uv_poll_t ready_poll;
	bool ready_polling;
	bool ready_byte;	/* 'R' came: the vcpus run */

	/* The control socket (sup_ctl.c). */
	enum sup_ctl_state ctl;
	enum sup_ctl_purpose purpose;
	uv_pipe_t pipe;
	bool pipe_open;
	uv_connect_t connect;
	struct rpc_reader ctl_rd;
	char *rbuf;		/* SUP_CTL_READ bytes, for libuv's reads */
	struct sup_reqs reqs;
	json_int_t next_id;
	bool replay;		/* attach with the scrollback */
	bool watch_only;	/* another client writes the console */
	bool exit_event;	/* the worker said how it ended */
	int ev_status;		/* ... with this status */

	struct sup_timer *timer;	/* hello timeout, exit wait, lost */
	char lost_why[160];	/* why the connection broke */
};

/* A console watcher: a client connection and what it missed. */
struct sup_watcher {
	struct conn *c;		/* conn_ref'd */
	uint64_t lost;		/* bytes not delivered since its last chunk */
};

/* The console mirror: the newest bytes of the guest's output. */
struct sup_mirror {
	uint8_t *buf;		/* ring of size bytes, NULL until needed */
	size_t size;
	size_t head;		/* next byte written */
	size_t len;		/* bytes held */
	uint64_t total;		/* bytes the guest wrote, as vmmd knows */
	uint64_t lost;		/* of which the worker could not send us */
};

/* One VM the supervisor has seen since vmmd started. */
struct sup_vm {
	struct sup *s;
	TAILQ_ENTRY(sup_vm) link;
	char uuid[VMDEF_UUID_LEN + 1];
	char name[VMDEF_NAME_MAX + 1];
	struct vmdef def;	/* the current (or last) run's definition */
	bool def_ok;
	struct db_runtime rt;	/* as the database holds it */
	struct vmstate_budget budget;

	struct sup_worker *w;	/* NULL: no worker */
	enum vmstate_request request;	/* what we asked the worker */
	char req_who[DB_WHO_MAX + 1];	/* who asked it */
	char start_who[DB_WHO_MAX + 1];	/* who started this run */
	char start_fail[RPC_TEXT_MAX];	/* why pending starts fail */
	char kill_why[DB_EXIT_MESSAGE_MAX + 1];	/* the exit's message */
	bool pausing, resuming, resetting;	/* a request in flight */

	struct sup_ops starts;	/* vm.start (and restarts) until running */
	struct sup_ops stops;	/* vm.stop and vm.restart until exited */
	struct sup_timer *restart_t;	/* a restart's backoff */
	struct sup_timer *start_t;	/* a start's deadline */
	struct sup_timer *stop_t;	/* a stop's kill */
	struct sup_timer *plan_t;	/* autostart or shutdown step */
	unsigned int plan_timeout_ms;	/* shutdown: graceful time, 0 force */
	unsigned int plan_batch;	/* shutdown: its batch */

	bool adopting;		/* sup_start_all is looking at it */
	struct sup_mirror mirror;
	struct sup_watcher watchers[SUP_WATCHERS_MAX];
	unsigned int nwatchers;
};

struct sup {
	struct vmmd *d;
	TAILQ_HEAD(, sup_vm) vms;
	unsigned int handles;	/* open libuv handles, all of ours */
	uv_timer_t defer;	/* runs the finished operations */
	struct sup_ops finished;
	unsigned int adopting;	/* adoptions not yet decided */
	bool started;		/* sup_start_all ran */
	bool autostarted;	/* the autostart plan is set */
	bool shutting;
	bool stopping_vms;	/* shutdown with stop_vms_on_exit */
	bool shut_closing;	/* the last handles are closing */
	void (*shut_cb)(void *);
	void *shut_arg;
	struct sup_all *all;	/* host.stop_all under way, or NULL */
};

/*
 * No VM may start (vm.start, vm.restart, a restart by the exit policy,
 * autostart): vmmd is shutting down, or host.stop_all is stopping every
 * VM.  sup_halt_why says which, as an error message.
 */
static inline bool
sup_halting(const struct sup *s)
{
	return s->shutting || s->all != NULL;
}

static inline const char *
sup_halt_why(const struct sup *s)
{
	return s->shutting ? "vmmd is shutting down" : "every VM is being "
	    "stopped (host.stop_all)";
}

/* sup.c */
struct sup_vm *sup_vm_find(struct sup *s, const char *uuid);
struct sup_vm *sup_vm_get(struct sup *s, const char *uuid, const char *name);
int	sup_lookup(struct sup *s, const char *name, bool create,
	    struct sup_vm **out, struct rpc_error *err);
int	sup_record(struct sup_vm *v, enum db_state to, const char *who,
	    json_t *extra);
void	sup_rt_write(struct sup_vm *v);
struct sup_op *sup_op_new(enum sup_op_kind kind, const char *who,
	    sup_done_fn *done, void *arg);
void	sup_op_finish(struct sup *s, struct sup_op *op);
int	sup_nomem(struct rpc_error *err);
int	sup_refused(const struct sup_vm *v, enum vmstate_event ev,
	    struct rpc_error *err);
void	sup_op_fail(struct sup *s, struct sup_op *op, int code, json_t *data,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void	sup_ops_fail(struct sup *s, struct sup_ops *q, int code,
	    const json_t *data, const char *msg);
void	sup_ops_succeed(struct sup *s, struct sup_ops *q);
void	sup_worker_ready(struct sup_vm *v);
void	sup_worker_gone(struct sup_worker *w);
void	sup_start_trouble(struct sup_vm *v, const char *why);
int	sup_run(struct sup_vm *v, const char *who, bool operator,
	    struct rpc_error *err);
void	sup_respawn(struct sup_vm *v);
int	sup_stop_vm(struct sup_vm *v, const char *who, bool force,
	    unsigned int timeout_ms);
void	sup_cancel_start(struct sup_vm *v, const char *who);
void	sup_check_handles(struct sup *s);
const char *sup_who(const struct peer *p);

/* sup_life.c */
void	sup_adopt_found(struct sup_vm *v, const char *state);
void	sup_adopt_missing(struct sup_vm *v, const char *why);
void	sup_shutdown_step(struct sup *s);

/* Timers (sup.c). */
int	sup_timer_start(struct sup *s, struct sup_timer **slot, uint64_t ms,
	    void (*fn)(void *), void *arg);
void	sup_timer_stop(struct sup_timer **slot);

/* sup_spawn.c */
int	sup_spawn(struct sup_vm *v, const char *text, char *why,
	    size_t whylen);
int	sup_adopt_pid(struct sup_vm *v, pid_t pid);
void	sup_worker_detach(struct sup_worker *w);
int	sup_worker_kill(struct sup_worker *w, int sig);
void	sup_worker_check(struct sup_worker *w);
void	sup_worker_drain(struct sup_worker *w);
json_t	*sup_log_lines(const struct sup_worker *w);
const char *sup_log_last(const struct sup_worker *w);
void	sup_handle_closed(uv_handle_t *h);

/* sup_ctl.c */
int	sup_ctl_open(struct sup_worker *w, enum sup_ctl_purpose purpose,
	    const char *path);
int	sup_ctl_send(struct sup_worker *w, json_t *cmd, sup_reply_fn *fn,
	    struct sup_op *op);
bool	sup_ctl_open_now(const struct sup_worker *w);
void	sup_ctl_close(struct sup_worker *w);
int	sup_ctl_error(const json_t *reply, struct rpc_error *err,
	    const struct sup_vm *v);

/* sup_console.c */
void	sup_console_data(struct sup_vm *v, const char *b64, size_t len);
void	sup_console_lost(struct sup_vm *v, uint64_t bytes);
void	sup_console_end(struct sup_vm *v, const char *reason);
int	sup_mirror_size(struct sup_vm *v, size_t size);
void	sup_console_free(struct sup_vm *v);

#endif /* VMMD_SUP_INTERNAL_H */
