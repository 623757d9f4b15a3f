/*
 * vmstate.h: the supervisor's pure logic, with no I/O, no event loop and
 * no clock (times are parameters, in milliseconds): the per-VM state
 * machine as one transition table, the policy applied when a worker
 * exits (on_poweroff, on_reboot, on_crash, with a crash-loop budget and
 * an exponential backoff), and the plans for autostart and for a host
 * shutdown.  The states are the database's (enum db_state, DB_STATE_MAP),
 * so what the supervisor holds and what vm_runtime stores never differ.
 */

#ifndef VMMD_VMSTATE_H
#define VMMD_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "vmdef.h"

/*
 * The events that move a VM, X(NAME, "name", "verb").  A verb marks a
 * request from a client: refused, it reads "cannot VERB: the VM is
 * STATE".  The others come from the supervisor itself (a worker's
 * message, its exit, adoption at vmmd's start); refused, they read
 * "unexpected NAME: the VM is STATE", which is a supervisor bug.
 *
 *   start_requested	vm.start (or autostart, or a restart's new worker)
 *   worker_ready	the worker reports the guest running
 *   worker_exited_*	the worker is gone; vmstate_on_exit says which:
 *			_stop (stays stopped), _restart (a new worker after
 *			a delay; the delay is spent in "starting"),
 *			_crash (kept crashed)
 *   start_cancelled	a "starting" VM with no worker yet (a restart or
 *			autostart waiting for its delay) is stopped
 *   stop_requested	vm.stop, graceful: the guest is asked to shut down
 *   stop_forced	vm.stop force, or a graceful stop's timeout: the
 *			worker is killed (also to end a hung start)
 *   pause_requested,	vm.pause sent to the worker, and its answer
 *   paused
 *   resume_requested,	vm.resume, and its answer
 *   resumed
 *   reset_requested	vm.reset: the worker ends with "reboot" and starts
 *			again (see vmstate_on_exit, VMSTATE_REQUEST_RESET)
 *   adopt_found	vmmd restarted and found the recorded worker alive
 *   adopt_missing	... and found it gone
 *   undefine		vm.undefine; the state is kept, the row deleted
 */
#define VMSTATE_EVENT_MAP(X)						\
	X(START_REQUESTED, "start_requested", "start")			\
	X(WORKER_READY, "worker_ready", NULL)				\
	X(WORKER_EXITED_STOP, "worker_exited_stop", NULL)		\
	X(WORKER_EXITED_RESTART, "worker_exited_restart", NULL)		\
	X(WORKER_EXITED_CRASH, "worker_exited_crash", NULL)		\
	X(START_CANCELLED, "start_cancelled", NULL)			\
	X(STOP_REQUESTED, "stop_requested", "stop")			\
	X(STOP_FORCED, "stop_forced", "force a stop")			\
	X(PAUSE_REQUESTED, "pause_requested", "pause")			\
	X(PAUSED, "paused", NULL)					\
	X(RESUME_REQUESTED, "resume_requested", "resume")		\
	X(RESUMED, "resumed", NULL)					\
	X(RESET_REQUESTED, "reset_requested", "reset")			\
	X(ADOPT_FOUND, "adopt_found", NULL)				\
	X(ADOPT_MISSING, "adopt_missing", NULL)				\
	X(UNDEFINE, "undefine", "undefine")

enum vmstate_event {
#define VMSTATE_X(NAME, name, verb)	VMSTATE_EV_##NAME,
	VMSTATE_EVENT_MAP(VMSTATE_X)
#undef VMSTATE_X
	VMSTATE_EV_COUNT
};

#define VMSTATE_ERR_MAX	64	/* a refusal's message, with its NUL */

/* "start_requested" etc.; NULL outside the enum. */
const char *vmstate_event_name(enum vmstate_event ev);

/*
 * The transition table: 0 and *to when the event is allowed in state
 * from; -EBUSY when it is not (vmstate_errmsg says why); -EINVAL for a
 * state or an event outside its enum.  *to is untouched on failure.
 */
int	vmstate_next(enum db_state from, enum vmstate_event ev,
	    enum db_state *to);

/*
 * Why ev is refused in state from ("cannot start: the VM is running"),
 * written to buf (len bytes, VMSTATE_ERR_MAX is enough; always
 * terminated when len > 0); returns buf.  Meaningful only when
 * vmstate_next refused the pair.
 */
const char *vmstate_errmsg(enum db_state from, enum vmstate_event ev,
	    char *buf, size_t len);

/*
 * The worker's exit statuses (vmm-worker(8)), X(NAME, status, "word"),
 * kept by value because vmmd does not include the worker's private
 * header; test_vmstate checks them against WORKER_EXIT_MAP.
 */
#define VMSTATE_STATUS_MAP(X)						\
	X(POWEROFF,	0,	"poweroff")				\
	X(REBOOT,	10,	"reboot")				\
	X(TRIPLE_FAULT,	11,	"triple-fault")				\
	X(ERROR,	12,	"error")				\
	X(DEBUG_EXIT,	32,	"debug-exit")				\
	X(USAGE,	64,	"usage")				\
	X(DEFINITION,	65,	"bad-definition")			\
	X(NOINPUT,	66,	"unusable-file")			\
	X(UNAVAILABLE,	69,	"hypervisor-unavailable")		\
	X(SOFTWARE,	70,	"internal-error")			\
	X(OSERR,	71,	"os-error")

enum {
#define VMSTATE_X(NAME, status, word) VMSTATE_STATUS_##NAME = status,
	VMSTATE_STATUS_MAP(VMSTATE_X)
#undef VMSTATE_X
};

#define VMSTATE_DEBUG_EXIT_LAST	63	/* 32 + 31 */
#define VMSTATE_SETUP_FIRST	64	/* sysexits.h EX__BASE */
#define VMSTATE_SETUP_LAST	71	/* EX_OSERR */
#define VMSTATE_SIGNAL_BASE	128	/* the caller's 128 + signal */
#define VMSTATE_STATUS_MAX	255

/*
 * How a worker ended, as the policy sees it, X(NAME, "name"):
 *   poweroff	status 0, or a debug-exit (32 + v: the guest chose to end)
 *   reboot	status 10 that nobody asked for
 *   reset	status 10 after a requested reset
 *   crash	triple fault (11), error (12), death by a signal (128 + s)
 *		and any status the worker does not document
 *   setup	64 to 71: the worker could not set the VM up
 */
#define VMSTATE_KIND_MAP(X)						\
	X(POWEROFF,	"poweroff")					\
	X(REBOOT,	"reboot")					\
	X(RESET,	"reset")					\
	X(CRASH,	"crash")					\
	X(SETUP,	"setup")

enum vmstate_kind {
#define VMSTATE_X(NAME, name)	VMSTATE_KIND_##NAME,
	VMSTATE_KIND_MAP(VMSTATE_X)
#undef VMSTATE_X
	VMSTATE_KIND_COUNT
};

/* "poweroff" etc.; NULL outside the enum. */
const char *vmstate_kind_name(enum vmstate_kind kind);

/*
 * What the supervisor had asked of the worker when it exited.  A stop
 * wins over a reset (a stop after a reset request replaces it).
 * VMSTATE_REQUEST_STOP is 1, so a bool "stop requested" also reads right.
 */
enum vmstate_request {
	VMSTATE_REQUEST_NONE,
	VMSTATE_REQUEST_STOP,	/* vm.stop, graceful or forced */
	VMSTATE_REQUEST_RESET,	/* vm.reset */
};

/*
 * The crash-loop budget: at most VMSTATE_RESTART_BUDGET automatic
 * restarts in any VMSTATE_RESTART_WINDOW_MS (sliding, timed at the
 * exits); the restarts of a streak wait 0, then 1 s, 2 s, 4 s ... at
 * most VMSTATE_BACKOFF_MAX_MS.  A run that lasted longer than the window
 * ends the streak (the next restart waits 0 again).
 */
#define VMSTATE_RESTART_BUDGET		5
#define VMSTATE_RESTART_WINDOW_MS	60000
#define VMSTATE_BACKOFF_BASE_MS		1000
#define VMSTATE_BACKOFF_MAX_MS		30000

/*
 * One VM's budget, owned by its supervisor entry, zeroed by
 * vmstate_budget_init and at every operator's vm.start (a crash loop
 * must not outlive the operator's decision to try again).
 */
struct vmstate_budget {
	int64_t started_ms;	/* the current run's start */
	bool started;		/* started_ms is set */
	int64_t restarts[VMSTATE_RESTART_BUDGET];	/* ring of exit times */
	unsigned int nrestarts;	/* valid entries in restarts */
	unsigned int next;	/* the ring's next slot (its oldest if full) */
	unsigned int step;	/* restarts in the current streak */
};

void	vmstate_budget_init(struct vmstate_budget *b);

/* A worker was spawned for this VM at now_ms: its run starts. */
void	vmstate_budget_started(struct vmstate_budget *b, int64_t now_ms);

/*
 * The decision for one exit.  event is what the supervisor feeds to
 * vmstate_next (from starting, running or paused, and from stopping
 * for a requested stop), which then yields state.  reason is a word for
 * vm_runtime.exit_reason ("triple-fault", "signal 9"); message says
 * what was decided and why ("crash loop: 5 restarts in 60 s").
 */
struct vmstate_exit {
	enum vmstate_kind kind;
	enum vmstate_event event;	/* VMSTATE_EV_WORKER_EXITED_* */
	enum db_state state;		/* stopped, starting or crashed */
	int64_t delay_ms;		/* before the new worker (restart) */
	char reason[DB_EXIT_REASON_MAX + 1];
	char message[DB_EXIT_MESSAGE_MAX + 1];
};

/*
 * Decide what follows the exit of def's worker with exit_status (0 to
 * 255; a death by signal s is passed as 128 + s) at now_ms, the request
 * pending then, and the VM's budget b (updated: an automatic restart is
 * recorded in it).  The rules, in order:
 *   - a requested stop always ends stopped;
 *   - a requested reset that ended in "reboot" restarts at once, outside
 *     the budget (the operator asked for it);
 *   - a setup failure (64 to 71) ends crashed and is never restarted:
 *     a bad definition, an unusable file or a missing hypervisor does
 *     not heal by retrying, and the reason is the worker's own word;
 *   - otherwise on_poweroff, on_reboot or on_crash applies: destroy ends
 *     stopped, preserve ends crashed (kept for inspection), restart
 *     starts a new worker after the backoff delay unless the budget is
 *     spent, which ends crashed with "crash loop: N restarts in S s".
 *     Every automatic restart counts, whatever ended the run.
 * Returns 0 and *d, or -EINVAL for a status outside 0..255 (d and b
 * untouched).
 */
int	vmstate_on_exit(const struct vmdef *def, int exit_status,
	    enum vmstate_request req, struct vmstate_budget *b, int64_t now_ms,
	    struct vmstate_exit *d);

/*
 * One step of a plan.  index is the VM's position in the caller's defs
 * (def is defs[index], borrowed).  at_ms is the step's start, counted
 * from the plan's start.  For a shutdown, batch numbers the parallel
 * batches from 0 and timeout_ms is the graceful time the VM gets before
 * it is forced (0: forced at once).
 */
struct vmstate_plan_entry {
	size_t index;
	const struct vmdef *def;
	int64_t at_ms;
	unsigned int batch;
	int64_t timeout_ms;
};

/*
 * The autostart plan: the n defs whose autostart is enabled, by
 * autostart.order, then name (bytes), then index; each starts its own
 * autostart.delay after the one before it (the first, after vmmd's
 * start): at_ms is the sum of the delays up to and including its own.
 * batch is the entry's position, timeout_ms 0.  out has room for n
 * entries; returns how many were written.
 */
size_t	vmstate_autostart_plan(const struct vmdef *const *defs, size_t n,
	    struct vmstate_plan_entry *out);

/*
 * The host shutdown plan for the n running VMs defs: the autostart order
 * reversed, one batch per autostart.order value (higher first), stopped
 * in parallel within a batch (listed by name).  A batch asks for its
 * longest shutdown_timeout; when the sum of the asks exceeds deadline_ms
 * (negative counts as 0), the batches get equal shares of it, a share
 * a batch does not need going to the others (water-filling), so the sum
 * never exceeds the deadline.  A VM gets the lesser of its own timeout
 * and its batch's, then is forced; at_ms is its batch's start at the
 * latest (the sum of the earlier batches' timeouts; the supervisor may
 * start a batch sooner when the one before is all down).  out has room
 * for n entries; returns n.
 */
size_t	vmstate_shutdown_plan(const struct vmdef *const *defs, size_t n,
	    int64_t deadline_ms, struct vmstate_plan_entry *out);

#endif /* VMMD_VMSTATE_H */
