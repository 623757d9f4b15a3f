/*
 * metrics.c: the host.metrics method (metrics.h): the daemon's counters,
 * fed by the server, and scrapes that read the VMs from the database and
 * the running ones' stats from their workers, then render the Prometheus
 * 0.0.4 or OpenMetrics 1.0 text.  The families are documented in
 * proto/PROTOCOL.md ("Metrics"); keep the two in step.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "server.h"
#include "sup.h"

/*
 * The buckets of vmmd_rpc_duration_seconds, 50 us to 10 s: each upper
 * bound in ns and as its le label (the float forms Prometheus's Python
 * client writes).
 */
static const struct {
	uint64_t ns;
	const char *le;
} mx_buckets[] = {
	{ 50000ULL, "5e-05" }, { 100000ULL, "0.0001" },
	{ 250000ULL, "0.00025" }, { 500000ULL, "0.0005" },
	{ 1000000ULL, "0.001" }, { 2500000ULL, "0.0025" },
	{ 5000000ULL, "0.005" }, { 10000000ULL, "0.01" },
	{ 25000000ULL, "0.025" }, { 50000000ULL, "0.05" },
	{ 100000000ULL, "0.1" }, { 250000000ULL, "0.25" },
	{ 500000000ULL, "0.5" }, { 1000000000ULL, "1.0" },
	{ 2500000000ULL, "2.5" }, { 5000000000ULL, "5.0" },
	{ 10000000000ULL, "10.0" },
};

#define MX_NBUCKETS	(sizeof(mx_buckets) / sizeof(mx_buckets[0]))

/* The result codes counted: 0 (a result), then rpc.h's errors. */
static const int mx_codes[] = {
	0,
#define MX_X(NAME, code, name, msg)	RPC_E_##NAME,
	RPC_ERRNO_MAP(MX_X)
#undef MX_X
};

#define MX_NCODES	(sizeof(mx_codes) / sizeof(mx_codes[0]))
#define MX_OTHER	"other"	/* the method of any other name */

static const char *const mx_transports[] = {
#define MX_X(NAME, label)	label,
	METRICS_TRANSPORT_MAP(MX_X)
#undef MX_X
};

/* One method's counters; buckets[MX_NBUCKETS] is +Inf. */
struct mx_method {
	uint64_t requests[MX_NCODES];
	uint64_t buckets[MX_NBUCKETS + 1];
	uint64_t count;
	uint64_t sum_ns;
};

struct metrics {
	int64_t clients[METRICS_TRANSPORT_COUNT];
	size_t nmethods;		/* rpc_methods' rows, then "other" */
	struct mx_method methods[];
};

/*
 * The families, in the order they are written.  X(ID, name, type, unit,
 * help): a counter's name is without "_total" and an info's without
 * "_info" (OpenMetrics' family names); the unit is written in
 * OpenMetrics only.
 */
enum mx_type {
	MX_GAUGE,
	MX_COUNTER,
	MX_HISTOGRAM,
	MX_INFO,
};

#define MX_FAMILY_MAP(X)						\
	X(BUILD, "vmmd_build", MX_INFO, NULL,				\
	    "vmmd's version and the hypervisor backend it uses.")	\
	X(START, "vmmd_start_time_seconds", MX_GAUGE, "seconds",	\
	    "When vmmd started, in seconds since the Unix epoch.")	\
	X(CAP_MACHINES, "vmm_host_capability_max_machines", MX_GAUGE, NULL, \
	    "The most VMs the hypervisor runs at once.")		\
	X(CAP_VCPUS, "vmm_host_capability_max_vcpus", MX_GAUGE, NULL,	\
	    "The most vcpus the hypervisor gives one VM.")		\
	X(CAP_RAM, "vmm_host_capability_max_ram_bytes", MX_GAUGE, "bytes", \
	    "The most guest RAM the hypervisor gives one VM.")		\
	X(VMS, "vmm_vms", MX_GAUGE, NULL,				\
	    "VMs defined, by state.")					\
	X(CLIENTS, "vmmd_clients", MX_GAUGE, NULL,			\
	    "Clients connected, by transport.")				\
	X(RPC, "vmmd_rpc_requests", MX_COUNTER, NULL,			\
	    "RPC requests answered, by method and result code (0 for a " \
	    "result, else the JSON-RPC error code).")			\
	X(RPC_TIME, "vmmd_rpc_duration_seconds", MX_HISTOGRAM, "seconds", \
	    "Time from reading an RPC request to its complete response, " \
	    "by method.")						\
	X(VM_STATE, "vmm_vm_state", MX_GAUGE, NULL,			\
	    "1 for the state the VM is in, 0 for the others.")		\
	X(VM_UPTIME, "vmm_vm_uptime_seconds", MX_GAUGE, "seconds",	\
	    "Time since the VM's worker started; 0 without a worker.")	\
	X(VM_VCPUS, "vmm_vm_vcpus", MX_GAUGE, NULL,			\
	    "The VM's vcpus.")						\
	X(VM_MEMORY, "vmm_vm_memory_bytes", MX_GAUGE, "bytes",		\
	    "The VM's guest RAM.")					\
	X(VM_RESTARTS, "vmm_vm_restarts", MX_GAUGE, NULL,		\
	    "Restarts by the exit policy since a client last started "	\
	    "the VM (vm.info restart_count).")				\
	X(VM_STATS_OK, "vmm_vm_stats_ok", MX_GAUGE, NULL,		\
	    "For a running or paused VM: 1 when its worker's stats came " \
	    "back for this scrape, 0 when not (its exit and console "	\
	    "series are then missing).")				\
	X(VM_EXITS, "vmm_vm_exits", MX_COUNTER, NULL,			\
	    "VM exits since the worker started, summed over the vcpus, " \
	    "by reason.")						\
	X(VM_CONSOLE, "vmm_vm_console_bytes", MX_COUNTER, "bytes",	\
	    "Bytes the guest wrote to its console since the worker "	\
	    "started.")							\
	X(VM_DROPPED, "vmm_vm_console_dropped_bytes", MX_COUNTER, "bytes", \
	    "Console bytes the worker dropped because its console output " \
	    "did not take them.")

enum mx_family_id {
#define MX_X(ID, name, type, unit, help)	MX_F_##ID,
	MX_FAMILY_MAP(MX_X)
#undef MX_X
};

static const struct {
	const char *name;
	enum mx_type type;
	const char *unit;
	const char *help;
} mx_families[] = {
#define MX_X(ID, name, type, unit, help)	{ name, type, unit, help },
	MX_FAMILY_MAP(MX_X)
#undef MX_X
};

/*
 * The daemon's counters.
 */

struct metrics *
metrics_new(void)
{
	const struct rpc_method *r;
	struct metrics *m;
	size_t n = 1;

	for (r = rpc_methods; r->name != NULL; r++)
		n++;
	if ((m = calloc(1, sizeof(*m) + n * sizeof(m->methods[0]))) == NULL)
		return NULL;
	m->nmethods = n;
	return m;
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_clients(struct metrics *m, const char *transport, int delta)
{
	size_t i;

	if (m == NULL || transport == NULL)
		return;
	for (i = 0; i < METRICS_TRANSPORT_COUNT; i++)
		if (strcmp(mx_transports[i], transport) == 0)
			break;
	if (i == METRICS_TRANSPORT_COUNT)
		return;
	m->clients[i] += delta;
	if (m->clients[i] < 0)
		m->clients[i] = 0;
}

/* The row of method in m; the last one, "other", when unknown. */
static struct mx_method *
mx_method_of(struct metrics *m, const char *method)
{
	const struct rpc_method *r = NULL;

	if (method != NULL)
		r = rpc_method_lookup(rpc_methods, method, strlen(method));
	if (r == NULL)
		return &m->methods[m->nmethods - 1];
	return &m->methods[r - rpc_methods];
}

/* The slot of code in mx_codes; RPC_E_INTERNAL's for an unknown one. */
static size_t
mx_code_slot(int code)
{
	size_t i, internal = 0;

	for (i = 0; i < MX_NCODES; i++) {
		if (mx_codes[i] == code)
			return i;
		if (mx_codes[i] == RPC_E_INTERNAL)
			internal = i;
	}
	return internal;
}

void
metrics_rpc_done(struct metrics *m, const char *method, int code,
    uint64_t duration_ns)
{
	struct mx_method *mm;
	size_t b;

	if (m == NULL)
		return;
	mm = mx_method_of(m, method);
	mm->requests[mx_code_slot(code)]++;
	for (b = 0; b < MX_NBUCKETS; b++)
		if (duration_ns <= mx_buckets[b].ns)
			break;
	mm->buckets[b]++;
	mm->count++;
	mm->sum_ns += duration_ns;
}

/*
 * A worker's stats, checked and summed over the vcpus.  The keys of
 * reasons are borrowed from the stats object.
 */
struct mx_reason {
	const char *key;
	uint64_t n;
};

struct mx_worker {
	bool ok;
	unsigned int vcpus;
	uint64_t ram, console, dropped;
	size_t nreasons;
	struct mx_reason reasons[METRICS_REASONS_MAX];
};

static bool
mx_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* Add n exits of reason key; false when there are too many reasons. */
static bool
mx_reason_add(struct mx_worker *w, const char *key, uint64_t n)
{
	size_t i;

	for (i = 0; i < w->nreasons; i++)
		if (strcmp(w->reasons[i].key, key) == 0)
			break;
	if (i == w->nreasons) {
		if (i == METRICS_REASONS_MAX ||
		    strlen(key) > METRICS_REASON_MAX)
			return false;
		w->reasons[i].key = key;
		w->reasons[i].n = 0;
		w->nreasons++;
	}
	w->reasons[i].n = w->reasons[i].n + n < n ? UINT64_MAX :
	    w->reasons[i].n + n;
	return true;
}

static bool
mx_vcpu_exits(struct mx_worker *w, const json_t *vcpu)
{
	const json_t *exits = json_object_get(vcpu, "exits"), *v;
	const char *key;
	uint64_t n;

	if (!json_is_object(exits))
		return false;
	json_object_foreach((json_t *)(uintptr_t)exits, key, v)
		if (!mx_u64(v, &n) || !mx_reason_add(w, key, n))
			return false;
	return true;
}

static int
mx_reason_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mx_reason *)a)->key,
	    ((const struct mx_reason *)b)->key);
}

/*
 * Read stats (vm.stats' result) into w; w->ok false when they are absent
 * or not as WORKER.md says: the VM is then shown without them.
 */
static void
mx_worker_read(const json_t *stats, struct mx_worker *w)
{
	const json_t *vcpus = json_object_get(stats, "vcpus"), *v;
	const json_t *con = json_object_get(stats, "console");
	size_t i;

	memset(w, 0, sizeof(*w));
	if (stats == NULL || !json_is_array(vcpus) ||
	    json_array_size(vcpus) == 0 ||
	    json_array_size(vcpus) > VMDEF_VCPU_MAX ||
	    !mx_u64(json_object_get(stats, "ram_bytes"), &w->ram) ||
	    !mx_u64(json_object_get(con, "bytes"), &w->console) ||
	    !mx_u64(json_object_get(con, "dropped"), &w->dropped))
		return;
	json_array_foreach(vcpus, i, v)
		if (!mx_vcpu_exits(w, v))
			return;
	qsort(w->reasons, w->nreasons, sizeof(w->reasons[0]), mx_reason_cmp);
	w->vcpus = (unsigned int)json_array_size(vcpus);
	w->ok = true;
}

/*
 * Writing the text.
 */

struct mx_out {
	FILE *fp;
	enum metrics_format f;
};

struct mx_label {
	const char *name;
	const char *value;
};

/*
 * s with backslash, newline and (when quote) the double quote escaped:
 * label values in both formats, HELP in OpenMetrics; 0.0.4's HELP leaves
 * the double quote as it is.
 */
static void
mx_escape(FILE *fp, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", fp);
		else if (*s == '\n')
			fputs("\\n", fp);
		else if (*s == '"' && quote)
			fputs("\\\"", fp);
		else
			fputc(*s, fp);
	}
}

/* The HELP and TYPE lines (and UNIT in OpenMetrics) of a family. */
static void
mx_head(struct mx_out *o, enum mx_family_id id)
{
	static const char *const types[] = { "gauge", "counter",
	    "histogram", "info" };
	const char *name = mx_families[id].name, *suffix = "";
	const char *type = types[mx_families[id].type];
	bool om = o->f == METRICS_OPENMETRICS;

	if (!om && mx_families[id].type == MX_COUNTER)
		suffix = "_total";
	if (!om && mx_families[id].type == MX_INFO) {
		suffix = "_info";
		type = "gauge";
	}
	fprintf(o->fp, "# HELP %s%s ", name, suffix);
	mx_escape(o->fp, mx_families[id].help, om);
	fprintf(o->fp, "\n# TYPE %s%s %s\n", name, suffix, type);
	if (om && mx_families[id].unit != NULL)
		fprintf(o->fp, "# UNIT %s %s\n", name,
		    mx_families[id].unit);
}

/*
 * One sample: the family's name, suffix (NULL: the type's own, "_total"
 * or "_info"), its labels and its value, already formatted.
 */
static void
mx_sample(struct mx_out *o, enum mx_family_id id, const char *suffix,
    const struct mx_label *l, size_t nl, const char *value)
{
	size_t i;

	if (suffix == NULL)
		suffix = mx_families[id].type == MX_COUNTER ? "_total" :
		    mx_families[id].type == MX_INFO ? "_info" : "";
	fprintf(o->fp, "%s%s", mx_families[id].name, suffix);
	for (i = 0; i < nl; i++) {
		fprintf(o->fp, "%s%s=\"", i == 0 ? "{" : ",", l[i].name);
		mx_escape(o->fp, l[i].value, true);
		fputc('"', o->fp);
	}
	fprintf(o->fp, "%s %s\n", nl > 0 ? "}" : "", value);
}

/* Number formats: integers, and seconds from ms or ns, exactly. */
#define MX_NUM_MAX	32

static const char *
mx_fmt_u64(char *buf, uint64_t v)
{
	snprintf(buf, MX_NUM_MAX, "%" PRIu64, v);
	return buf;
}

static const char *
mx_fmt_ms(char *buf, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	snprintf(buf, MX_NUM_MAX, "%" PRId64 ".%03" PRId64, ms / 1000,
	    ms % 1000);
	return buf;
}

static const char *
mx_fmt_ns(char *buf, uint64_t ns)
{
	snprintf(buf, MX_NUM_MAX, "%" PRIu64 ".%09" PRIu64, ns / 1000000000,
	    ns % 1000000000);
	return buf;
}

static void
mx_host(struct mx_out *o, const struct metrics_host *h)
{
	struct mx_label build[] = {
		{ "version", h->version != NULL ? h->version : "" },
		{ "backend", h->backend != NULL ? h->backend : "" },
	};
	char num[MX_NUM_MAX];

	mx_head(o, MX_F_BUILD);
	mx_sample(o, MX_F_BUILD, NULL, build, 2, "1");
	mx_head(o, MX_F_START);
	mx_sample(o, MX_F_START, NULL, NULL, 0, mx_fmt_ms(num,
	    h->started_ms));
	mx_head(o, MX_F_CAP_MACHINES);
	mx_sample(o, MX_F_CAP_MACHINES, NULL, NULL, 0, mx_fmt_u64(num,
	    h->max_machines));
	mx_head(o, MX_F_CAP_VCPUS);
	mx_sample(o, MX_F_CAP_VCPUS, NULL, NULL, 0, mx_fmt_u64(num,
	    h->max_vcpus));
	mx_head(o, MX_F_CAP_RAM);
	mx_sample(o, MX_F_CAP_RAM, NULL, NULL, 0, mx_fmt_u64(num,
	    h->max_ram));
}

/* vmm_vms: every state, 0 included. */
static void
mx_vm_counts(struct mx_out *o, const struct metrics_vm *vms, size_t nvms)
{
	struct mx_label l = { "state", NULL };
	char num[MX_NUM_MAX];
	uint64_t n;
	size_t i;
	int s;

	mx_head(o, MX_F_VMS);
	for (s = 0; s < DB_STATE_COUNT; s++) {
		for (n = 0, i = 0; i < nvms; i++)
			n += vms[i].state == (enum db_state)s;
		l.value = db_state_name((enum db_state)s);
		mx_sample(o, MX_F_VMS, NULL, &l, 1, mx_fmt_u64(num, n));
	}
}

static const char *
mx_method_name(const struct metrics *m, size_t i)
{
	return i + 1 < m->nmethods ? rpc_methods[i].name : MX_OTHER;
}

/* vmmd_clients and vmmd_rpc_requests: the series seen so far. */
static void
mx_daemon(struct mx_out *o, const struct metrics *m)
{
	struct mx_label l[2] = { { "method", NULL }, { "code", NULL } };
	char num[MX_NUM_MAX], code[MX_NUM_MAX];
	size_t i, c;

	mx_head(o, MX_F_CLIENTS);
	for (i = 0; m != NULL && i < METRICS_TRANSPORT_COUNT; i++) {
		l[0].name = "transport";
		l[0].value = mx_transports[i];
		mx_sample(o, MX_F_CLIENTS, NULL, l, 1, mx_fmt_u64(num,
		    (uint64_t)m->clients[i]));
	}
	l[0].name = "method";
	mx_head(o, MX_F_RPC);
	for (i = 0; m != NULL && i < m->nmethods; i++)
		for (c = 0; c < MX_NCODES; c++) {
			if (m->methods[i].requests[c] == 0)
				continue;
			l[0].value = mx_method_name(m, i);
			snprintf(code, sizeof(code), "%d", mx_codes[c]);
			l[1].value = code;
			mx_sample(o, MX_F_RPC, NULL, l, 2, mx_fmt_u64(num,
			    m->methods[i].requests[c]));
		}
}

/* vmmd_rpc_duration_seconds: one histogram per method called. */
static void
mx_latency(struct mx_out *o, const struct metrics *m)
{
	struct mx_label l[2] = { { "method", NULL }, { "le", NULL } };
	const struct mx_method *mm;
	char num[MX_NUM_MAX];
	uint64_t cum;
	size_t i, b;

	mx_head(o, MX_F_RPC_TIME);
	for (i = 0; m != NULL && i < m->nmethods; i++) {
		mm = &m->methods[i];
		if (mm->count == 0)
			continue;
		l[0].value = mx_method_name(m, i);
		for (cum = 0, b = 0; b <= MX_NBUCKETS; b++) {
			cum += mm->buckets[b];
			l[1].value = b < MX_NBUCKETS ? mx_buckets[b].le :
			    "+Inf";
			mx_sample(o, MX_F_RPC_TIME, "_bucket", l, 2,
			    mx_fmt_u64(num, cum));
		}
		mx_sample(o, MX_F_RPC_TIME, "_sum", l, 1, mx_fmt_ns(num,
		    mm->sum_ns));
		mx_sample(o, MX_F_RPC_TIME, "_count", l, 1, mx_fmt_u64(num,
		    mm->count));
	}
}

/* vmm_vm_state: one series per state, the VM's own at 1. */
static void
mx_vm_states(struct mx_out *o, const struct metrics_vm *vms, size_t nvms)
{
	struct mx_label l[3] = { { "name", NULL }, { "uuid", NULL },
	    { "state", NULL } };
	size_t i;
	int s;

	mx_head(o, MX_F_VM_STATE);
	for (i = 0; i < nvms; i++) {
		l[0].value = vms[i].name;
		l[1].value = vms[i].uuid;
		for (s = 0; s < DB_STATE_COUNT; s++) {
			l[2].value = db_state_name((enum db_state)s);
			mx_sample(o, MX_F_VM_STATE, NULL, l, 3,
			    vms[i].state == (enum db_state)s ? "1" : "0");
		}
	}
}

/* The per-VM numbers that every VM has. */
static void
mx_vm_figures(struct mx_out *o, const struct metrics_vm *vms, size_t nvms,
    const struct mx_worker *w)
{
	static const enum mx_family_id ids[] = { MX_F_VM_UPTIME,
	    MX_F_VM_VCPUS, MX_F_VM_MEMORY, MX_F_VM_RESTARTS };
	struct mx_label l[2] = { { "name", NULL }, { "uuid", NULL } };
	char num[MX_NUM_MAX];
	size_t f, i;

	for (f = 0; f < sizeof(ids) / sizeof(ids[0]); f++) {
		mx_head(o, ids[f]);
		for (i = 0; i < nvms; i++) {
			l[0].value = vms[i].name;
			l[1].value = vms[i].uuid;
			if (ids[f] == MX_F_VM_UPTIME)
				mx_fmt_ms(num, vms[i].uptime_ms);
			else if (ids[f] == MX_F_VM_VCPUS)
				mx_fmt_u64(num, w[i].ok ? w[i].vcpus :
				    vms[i].vcpus);
			else if (ids[f] == MX_F_VM_MEMORY)
				mx_fmt_u64(num, w[i].ok ? w[i].ram :
				    vms[i].memory_bytes);
			else
				mx_fmt_u64(num, vms[i].restarts);
			mx_sample(o, ids[f], NULL, l, 2, num);
		}
	}
}

/* The series from the workers: only for VMs whose stats came back. */
static void
mx_vm_workers(struct mx_out *o, const struct metrics_vm *vms, size_t nvms,
    const struct mx_worker *w)
{
	struct mx_label l[3] = { { "name", NULL }, { "uuid", NULL },
	    { "reason", NULL } };
	char num[MX_NUM_MAX];
	size_t i, r;

	mx_head(o, MX_F_VM_STATS_OK);
	for (i = 0; i < nvms; i++) {
		l[0].value = vms[i].name;
		l[1].value = vms[i].uuid;
		if (vms[i].stats_asked)
			mx_sample(o, MX_F_VM_STATS_OK, NULL, l, 2,
			    w[i].ok ? "1" : "0");
	}
	mx_head(o, MX_F_VM_EXITS);
	for (i = 0; i < nvms; i++) {
		l[0].value = vms[i].name;
		l[1].value = vms[i].uuid;
		for (r = 0; w[i].ok && r < w[i].nreasons; r++) {
			l[2].value = w[i].reasons[r].key;
			mx_sample(o, MX_F_VM_EXITS, NULL, l, 3, mx_fmt_u64(num,
			    w[i].reasons[r].n));
		}
	}
	mx_head(o, MX_F_VM_CONSOLE);
	for (i = 0; i < nvms; i++) {
		l[0].value = vms[i].name;
		l[1].value = vms[i].uuid;
		if (w[i].ok)
			mx_sample(o, MX_F_VM_CONSOLE, NULL, l, 2,
			    mx_fmt_u64(num, w[i].console));
	}
	mx_head(o, MX_F_VM_DROPPED);
	for (i = 0; i < nvms; i++) {
		l[0].value = vms[i].name;
		l[1].value = vms[i].uuid;
		if (w[i].ok)
			mx_sample(o, MX_F_VM_DROPPED, NULL, l, 2,
			    mx_fmt_u64(num, w[i].dropped));
	}
}

int
metrics_render(const struct metrics *m, const struct metrics_host *h,
    const struct metrics_vm *vms, size_t nvms, enum metrics_format f,
    char **text, size_t *len)
{
	struct mx_worker *w;
	struct mx_out o = { NULL, f };
	char *buf = NULL;
	size_t i, n = 0;
	int rc = -ENOMEM;
	bool bad;

	*text = NULL;
	*len = 0;
	if ((w = calloc(nvms > 0 ? nvms : 1, sizeof(*w))) == NULL)
		return -ENOMEM;
	for (i = 0; i < nvms; i++)
		mx_worker_read(vms[i].stats, &w[i]);
	if ((o.fp = open_memstream(&buf, &n)) == NULL)
		goto out;
	mx_host(&o, h);
	mx_vm_counts(&o, vms, nvms);
	mx_daemon(&o, m);
	mx_latency(&o, m);
	mx_vm_states(&o, vms, nvms);
	mx_vm_figures(&o, vms, nvms, w);
	mx_vm_workers(&o, vms, nvms, w);
	if (f == METRICS_OPENMETRICS)
		fputs("# EOF\n", o.fp);
	bad = ferror(o.fp) != 0;
	if (fclose(o.fp) == 0 && !bad) {
		*text = buf;
		*len = n;
		buf = NULL;
		rc = 0;
	}
out:
	free(buf);
	free(w);
	return rc;
}

/*
 * A scrape: the VMs from the database, then the running ones' stats from
 * their workers, then the text.  It lives until it has ended, every
 * sup_stats completion has come back (late ones are dropped) and its
 * timer is closed.
 */

enum mx_timer_state {
	MX_TIMER_NONE,
	MX_TIMER_ON,
	MX_TIMER_CLOSING,
};

struct mx_scrape;

/* A sup_stats completion's argument: which VM of which scrape. */
struct mx_slot {
	struct mx_scrape *sc;
	size_t i;
};

struct mx_scrape {
	struct vmmd *d;
	enum metrics_format fmt;
	metrics_done_fn *done;
	void *arg;
	bool ended;		/* done was called */
	uv_timer_t timer;	/* the deadline, 0 ms with no stats to wait */
	enum mx_timer_state timer_state;
	unsigned int pending;	/* sup_stats completions to come */
	struct metrics_vm *vms;
	struct mx_slot *slots;
	size_t nvms, cap;
};

static void
mx_scrape_free(struct mx_scrape *sc)
{
	size_t i;

	for (i = 0; i < sc->nvms; i++)
		json_decref(sc->vms[i].stats);
	free(sc->vms);
	free(sc->slots);
	free(sc);
}

static void
mx_scrape_maybe_free(struct mx_scrape *sc)
{
	if (sc->ended && sc->pending == 0 &&
	    sc->timer_state == MX_TIMER_NONE)
		mx_scrape_free(sc);
}

/* A stored definition's vcpu count and memory; 0 when it does not parse. */
static void
mx_def_sizes(const char *definition, struct metrics_vm *v)
{
	json_int_t vcpus = 0, mib = 0;
	json_t *def;

	if ((def = json_loads(definition, 0, NULL)) == NULL)
		return;
	if (json_unpack(def, "{s:{s:I},s:{s:I}}", "vcpu", "count", &vcpus,
	    "memory", "size_mib", &mib) == 0 && vcpus > 0 && mib > 0) {
		v->vcpus = (unsigned int)vcpus;
		v->memory_bytes = (uint64_t)mib << 20;
	}
	json_decref(def);
}

static int
mx_collect_one(void *arg, const struct db_vm *vm)
{
	struct mx_scrape *sc = arg;
	struct metrics_vm *v;
	size_t cap;

	if (sc->nvms == sc->cap) {
		cap = sc->cap == 0 ? 16 : sc->cap * 2;
		if ((v = reallocarray(sc->vms, cap, sizeof(*v))) == NULL)
			return -ENOMEM;
		sc->vms = v;
		sc->cap = cap;
	}
	v = &sc->vms[sc->nvms++];
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", vm->name);
	snprintf(v->uuid, sizeof(v->uuid), "%s", vm->uuid);
	v->state = vm->state;
	mx_def_sizes(vm->definition, v);
	return 0;
}

/* The runtime record of v: restarts and uptime as vm.info has them. */
static int
mx_collect_runtime(struct mx_scrape *sc, struct metrics_vm *v)
{
	struct db_runtime rt;
	int rc;

	if ((rc = db_runtime_get(sc->d->db, v->uuid, &rt)) != 0)
		return rc;
	v->state = rt.state;
	v->restarts = rt.restart_count;
	if ((rt.state == DB_STATE_RUNNING || rt.state == DB_STATE_PAUSED ||
	    rt.state == DB_STATE_STOPPING) && rt.started_at != 0)
		v->uptime_ms = vmmd_now_ms() - rt.started_at;
	if (v->uptime_ms < 0)
		v->uptime_ms = 0;
	v->stats_asked = rt.state == DB_STATE_RUNNING ||
	    rt.state == DB_STATE_PAUSED;
	return 0;
}

/* Every VM, by name, from the database: 0, -ENOMEM or -EIO. */
static int
mx_collect(struct mx_scrape *sc)
{
	size_t i;
	int rc;

	rc = db_vm_list(sc->d->db, 0, mx_collect_one, sc);
	for (i = 0; rc == 0 && i < sc->nvms; i++)
		rc = mx_collect_runtime(sc, &sc->vms[i]);
	if (rc != 0)
		return rc == -ENOMEM ? rc : -EIO;
	if (sc->nvms > 0 &&
	    (sc->slots = calloc(sc->nvms, sizeof(*sc->slots))) == NULL)
		return -ENOMEM;
	return 0;
}

static void
mx_timer_closed(uv_handle_t *h)
{
	struct mx_scrape *sc = h->data;

	sc->timer_state = MX_TIMER_NONE;
	mx_scrape_maybe_free(sc);
}

/* Render with the stats that came and end; the caller then maybe_free. */
static void
mx_finish(struct mx_scrape *sc)
{
	struct vmmd *d = sc->d;
	struct metrics_host h = { VMMD_VERSION, d->backend, d->started_ms,
	    d->cap.max_machines, d->cap.max_vcpus, d->cap.max_ram };
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = metrics_render(d->metrics, &h, sc->vms, sc->nvms, sc->fmt, &text,
	    &len);
	sc->ended = true;
	sc->done(sc->arg, rc, sc->fmt == METRICS_OPENMETRICS ?
	    METRICS_CT_OPENMETRICS : METRICS_CT_PROMETHEUS, text, len);
	free(text);
	if (sc->timer_state == MX_TIMER_ON) {
		sc->timer_state = MX_TIMER_CLOSING;
		uv_close((uv_handle_t *)&sc->timer, mx_timer_closed);
	}
}

static void
mx_timeout(uv_timer_t *t)
{
	struct mx_scrape *sc = t->data;

	if (sc->pending > 0)
		vmmd_info("metrics: no stats from %u VM%s within %d ms; "
		    "answered without them", sc->pending, sc->pending == 1 ?
		    "" : "s", METRICS_STATS_TIMEOUT_MS);
	mx_finish(sc);
	mx_scrape_maybe_free(sc);
}

static void
mx_stats_done(void *arg, json_t *result, struct rpc_error *err)
{
	struct mx_slot *slot = arg;
	struct mx_scrape *sc = slot->sc;
	struct metrics_vm *v = &sc->vms[slot->i];

	if (err != NULL)
		vmmd_debug("metrics: %s: no stats: %s", v->name, err->message);
	if (result != NULL && !sc->ended)
		v->stats = result;
	else
		json_decref(result);
	sc->pending--;
	if (sc->pending == 0 && !sc->ended)
		mx_finish(sc);
	mx_scrape_maybe_free(sc);
}

/* Ask every running or paused VM's worker for its stats. */
static void
mx_ask_stats(struct mx_scrape *sc)
{
	struct rpc_error err;
	size_t i;

	memset(&err, 0, sizeof(err));
	for (i = 0; sc->d->sup != NULL && i < sc->nvms; i++) {
		if (!sc->vms[i].stats_asked)
			continue;
		sc->slots[i].sc = sc;
		sc->slots[i].i = i;
		if (sup_stats(sc->d->sup, sc->vms[i].name, mx_stats_done,
		    &sc->slots[i], &err) == 0)
			sc->pending++;
		else
			vmmd_debug("metrics: %s: no stats: %s",
			    sc->vms[i].name, err.message);
		rpc_error_clear(&err);
	}
}

int
metrics_scrape(struct vmmd *d, enum metrics_format f, metrics_done_fn *done,
    void *arg)
{
	struct mx_scrape *sc;
	int rc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return -ENOMEM;
	sc->d = d;
	sc->fmt = f;
	sc->done = done;
	sc->arg = arg;
	if ((rc = mx_collect(sc)) != 0) {
		mx_scrape_free(sc);
		return rc;
	}
	mx_ask_stats(sc);
	/* With nothing to wait for, the timer defers the end to the loop. */
	uv_timer_init(d->loop, &sc->timer);
	sc->timer.data = sc;
	sc->timer_state = MX_TIMER_ON;
	uv_timer_start(&sc->timer, mx_timeout, sc->pending > 0 ?
	    METRICS_STATS_TIMEOUT_MS : 0, 0);
	return 0;
}

/*
 * host.metrics.
 */

static int
mx_nomem(struct rpc_error *err)
{
	return rpc_error_set(err, RPC_E_INTERNAL, NULL, "out of memory");
}

/* A scrape's end as host.metrics' deferred reply. */
static void
mx_rpc_done(void *arg, int rc, const char *content_type, const char *text,
    size_t len)
{
	struct reply *r = arg;
	struct rpc_error err;
	json_t *result = NULL;

	if (rc == 0)
		result = json_pack("{s:s,s:s%}", "content_type", content_type,
		    "text", text, len);
	if (result != NULL) {
		reply_result(r, result);
		return;
	}
	memset(&err, 0, sizeof(err));
	mx_nomem(&err);
	reply_error(r, &err);
}

static int
mx_format(const json_t *params, enum metrics_format *f,
    struct rpc_error *err)
{
	const char *s = json_string_value(json_object_get(params, "format"));

	if (s == NULL || strcmp(s, "prometheus") == 0)
		*f = METRICS_PROMETHEUS;
	else if (strcmp(s, "openmetrics") == 0)
		*f = METRICS_OPENMETRICS;
	else
		return rpc_error_set(err, RPC_E_INVALID_PARAMS, json_pack(
		    "{s:[{s:s,s:s}]}", "problems", "path", "$.params.format",
		    "message", "must be one of \"prometheus\", "
		    "\"openmetrics\""), NULL);
	return 0;
}

int
metrics_host_metrics(void *ctx, json_t *params, json_t **result,
    struct rpc_error *err)
{
	struct call *call = ctx;
	enum metrics_format f = METRICS_PROMETHEUS;
	struct reply *r;
	int rc;

	if ((rc = mx_format(params, &f, err)) != 0)
		return rc;
	if ((r = reply_new(call)) == NULL)
		return mx_nomem(err);
	if ((rc = metrics_scrape(call->d, f, mx_rpc_done, r)) != 0) {
		reply_discard(r);
		if (rc == -ENOMEM)
			return mx_nomem(err);
		return rpc_error_set(err, RPC_E_INTERNAL, NULL, "database "
		    "error: %s", db_errmsg(call->d->db));
	}
	*result = reply_marker(r);
	return 0;
}
