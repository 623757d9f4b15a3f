/*
 * metrics.h: vmmd's metrics for monitoring agents, in the Prometheus text
 * format 0.0.4 or in OpenMetrics 1.0, answered by the host.metrics method
 * (proto/PROTOCOL.md, "Metrics").  The daemon's own counters (RPC requests
 * by method and result code, their latency, clients by transport) live in
 * a struct metrics that the server feeds; the host and per-VM figures are
 * read at each scrape from the database and, for the running VMs, from
 * their workers' stats (sup_stats).
 *
 * Everything runs on the loop's thread; nothing here locks.
 */

#ifndef VMMD_METRICS_H
#define VMMD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "rpc.h"
#include "vmdef.h"
#include "vmmd.h"

/* The two answers' content types, as an HTTP exporter would send them. */
#define METRICS_CT_PROMETHEUS	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CT_OPENMETRICS						\
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

/* How long a scrape waits for the running VMs' stats. */
#define METRICS_STATS_TIMEOUT_MS	1000

/* Exit reasons kept per VM from a worker's stats; more is malformed. */
#define METRICS_REASONS_MAX	32
#define METRICS_REASON_MAX	64	/* bytes of one reason */

enum metrics_format {
	METRICS_PROMETHEUS,	/* text format 0.0.4 */
	METRICS_OPENMETRICS,	/* OpenMetrics 1.0 text */
};

/*
 * The transports clients come on, the label values of vmmd_clients:
 * X(NAME, "label"): METRICS_TRANSPORT_NAME.
 */
#define METRICS_TRANSPORT_MAP(X)					\
	X(UNIX, "unix")		/* the read-write socket */		\
	X(UNIX_RO, "unix-ro")	/* the read-only socket */		\
	X(TLS, "tls")

enum metrics_transport {
#define METRICS_X(NAME, label)	METRICS_TRANSPORT_##NAME,
	METRICS_TRANSPORT_MAP(METRICS_X)
#undef METRICS_X
	METRICS_TRANSPORT_COUNT
};

struct metrics;

/*
 * The daemon's counters, all zero; NULL when out of memory.  The methods
 * counted are proto's rpc_methods, plus "other" for anything else.
 * Every function below accepts a NULL struct metrics and then does
 * nothing, so that the server may call them unconditionally.
 */
struct metrics *metrics_new(void);
void	metrics_free(struct metrics *m);	/* accepts NULL */

/*
 * A client connected (delta 1) or went away (delta -1) on transport, one
 * of the labels of METRICS_TRANSPORT_MAP; an unknown transport is
 * ignored.  The gauge never goes below 0.
 */
void	metrics_clients(struct metrics *m, const char *transport,
	    int delta);

/*
 * One request handled: its method (NULL, or a name that is not in
 * rpc_methods, counts as "other", so that no client can make up label
 * values), its code (0 for a result, else the error's code; a code rpc.h
 * does not know counts as RPC_E_INTERNAL, which is what
 * rpc_response_error sends for it) and the time from reading the request
 * to its answer being given.  The server calls it from its rpc_observe_fn
 * (proto/rpc.h), or when a deferred reply is given.
 */
void	metrics_rpc_done(struct metrics *m, const char *method, int code,
	    uint64_t duration_ns);

/*
 * What a scrape renders.  The host: from struct vmmd.  Each VM: from the
 * database, and stats, when not NULL, is the result of vm.stats for it
 * (sup_stats: "vcpus", "ram_bytes", "console"...), owned by the struct.
 * stats_asked says that the VM was running or paused, so that its
 * worker's stats were asked for; stats NULL then means they did not come
 * (in time).  vcpus and memory_bytes are the stored definition's; a VM
 * whose stats came back shows its worker's own figures instead.
 */
struct metrics_host {
	const char *version;
	const char *backend;
	int64_t started_ms;		/* CLOCK_REALTIME */
	uint64_t max_machines;
	uint64_t max_vcpus;
	uint64_t max_ram;		/* bytes */
};

struct metrics_vm {
	char name[VMDEF_NAME_MAX + 1];
	char uuid[VMDEF_UUID_LEN + 1];
	enum db_state state;
	int64_t uptime_ms;		/* 0 without a worker */
	unsigned int vcpus;
	uint64_t memory_bytes;
	unsigned int restarts;		/* vm.info's restart_count */
	bool stats_asked;
	json_t *stats;			/* NULL: none */
};

/*
 * Render the text: the host and daemon families, then the per-VM ones,
 * each family with its HELP and TYPE lines (and UNIT in OpenMetrics),
 * label values escaped; OpenMetrics ends with "# EOF".  m may be NULL
 * (no RPC or client series).  Returns 0 with *text (NUL-terminated, free
 * with free) and *len, or -ENOMEM.
 */
int	metrics_render(const struct metrics *m, const struct metrics_host *h,
	    const struct metrics_vm *vms, size_t nvms, enum metrics_format f,
	    char **text, size_t *len);

/*
 * A scrape's end: rc 0 with the text (len bytes, NUL-terminated,
 * borrowed for the call) and its content type (METRICS_CT_*), or -ENOMEM
 * with text NULL.
 */
typedef void metrics_done_fn(void *arg, int rc, const char *content_type,
    const char *text, size_t len);

/*
 * Scrape in format f: read every VM from d's database, ask each running
 * or paused VM's worker for its stats (sup_stats), and once all came
 * back, or after METRICS_STATS_TIMEOUT_MS with those that did, render
 * and call done(arg, ...): exactly once, from the loop, never from
 * inside this call.  For host.metrics and an HTTP /metrics alike.
 * Returns 0, or -ENOMEM, or -EIO when the database failed (db_errmsg
 * says why); done is then never called.
 */
int	metrics_scrape(struct vmmd *d, enum metrics_format f,
	    metrics_done_fn *done, void *arg);

/*
 * The host.metrics handler (rpc_handler_fn; ctx is server.h's struct
 * call): params "format": "prometheus" (the default) or "openmetrics".
 * A metrics_scrape whose end is the deferred reply {"content_type",
 * "text"}.
 */
int	metrics_host_metrics(void *ctx, json_t *params, json_t **result,
	    struct rpc_error *err);

#endif /* VMMD_METRICS_H */
