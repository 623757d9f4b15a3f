/*
 * vmmd.h: what the parts of the daemon share: the daemon itself (struct
 * vmmd), a caller's identity, and the log.  The parts are server.c (the
 * listeners and connections, transport-blind), methods.c (the RPC
 * handlers), sup.c (the supervisor: workers and their states), db.c
 * (SQLite), config.c (vmmd.conf) and main.c (start-up and shut-down).
 * Everything runs on one thread, the libuv loop's.
 */

#ifndef VMMD_VMMD_H
#define VMMD_VMMD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "db.h"
#include "nvmm.h"
#include "rpc.h"

#define VMMD_VERSION	"0.1.0"

struct metrics;
struct events;
struct server;
struct sup;

/* The daemon: one per process, built by main.c. */
struct vmmd {
	uv_loop_t *loop;
	struct config cfg;
	struct db *db;
	struct server *server;
	struct sup *sup;
	struct events *events;		/* events.c: subscriptions */
	struct nvmm_capability cap;	/* from nvmm_root_init's device */
	const char *backend;		/* "nvmm" or "kvm": the device used */
	int64_t started_ms;		/* CLOCK_REALTIME */
	/* rpc_methods with vmmd's handlers bound (methods.c). */
	struct rpc_method *methods;
	/* The daemon's own counters, fed by the server (metrics.h). */
	struct metrics *metrics;
};

/*
 * A caller, from the transport only (ARCHITECTURE.md section 5): its role
 * and its identity as written in the event log ("uid 1000 pid 4242" on a
 * UNIX socket, "tls SUBJECT FINGERPRINT (ADDR)" over TLS, "vmmd" for the
 * daemon's own actions).
 */
struct peer {
	enum rpc_role role;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char who[DB_WHO_MAX + 1];
	/* TLS only: the client's address and certificate. */
	char addr[64];			/* "ADDR:PORT" */
	char fingerprint[104];		/* "SHA256:AB:..." */
	char subject[160];		/* RFC 2253 */
};

/* Milliseconds since the epoch (CLOCK_REALTIME), as the database keeps. */
int64_t	vmmd_now_ms(void);

/*
 * methods.c: bind the handlers into a copy of rpc_methods.  Returns 0 with
 * d->methods set (free it with methods_free), or -ENOMEM.
 */
int	methods_init(struct vmmd *d);
void	methods_free(struct vmmd *d);

/*
 * A database failure (rc from db.h, reason in db_errmsg) as an RPC error
 * for a handler to return: out of memory, a full disk (nothing was
 * changed), busy, or internal.
 */
int	methods_db_error(struct vmmd *d, int rc, struct rpc_error *err);

/*
 * log.c: one line per message, to stderr in the foreground (-d), else to
 * syslog (LOG_DAEMON).  vmmd_warn appends strerror(errno); the others do
 * not.  vmmd_fatal and vmmd_fatalx log and exit(1): only at start-up.
 */
void	vmmd_log_init(bool foreground, enum config_log_level level);
void	vmmd_log_level(enum config_log_level level);
void	vmmd_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	vmmd_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	vmmd_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	vmmd_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	vmmd_fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	vmmd_fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* VMMD_VMMD_H */
