/*
 * test_metrics.c: vmmd's metrics (vmmd/metrics.h).  The renderer on
 * synthetic data in both formats, and host.metrics through a real vmmd on
 * its read-only socket with real workers running test guests.  Every
 * text is read back by the reference parsers of Prometheus's Python
 * client (Debian's python3-prometheus-client, run by /usr/bin/python3):
 * the checks are on the samples it finds, never on the text itself.
 */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "metrics.h"
#include "rpc.h"
#include "vmmdtest.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define PYTHON		"/usr/bin/python3"
#define UUID(n)		"00000000-0000-4000-8000-00000000000" #n

/* -------------------------------------------------------------------------- */
/* The reference parsers. */

/*
 * Parse the file argv[2] in format argv[1]; print the families as JSON:
 * [{"name", "type", "help", "unit", "samples": [{"name", "labels",
 * "value"}]}].  The parsers are generators: list() makes them read all.
 */
static const char mp_program[] =
    "import json, sys\n"
    "if sys.argv[1] == 'openmetrics':\n"
    "    from prometheus_client.openmetrics.parser import "
    "text_string_to_metric_families as parse\n"
    "else:\n"
    "    from prometheus_client.parser import "
    "text_string_to_metric_families as parse\n"
    "with open(sys.argv[2], encoding='utf-8', newline='') as f:\n"
    "    text = f.read()\n"
    "out = [{'name': m.name, 'type': m.type, 'help': m.documentation,\n"
    "        'unit': m.unit, 'samples': [{'name': s.name,\n"
    "        'labels': s.labels, 'value': s.value} for s in m.samples]}\n"
    "       for m in list(parse(text))]\n"
    "json.dump(out, sys.stdout, allow_nan=False)\n";

static const char *
mp_format_name(enum metrics_format f)
{
	return f == METRICS_OPENMETRICS ? "openmetrics" : "prometheus";
}

/* The families of text as the reference parser of f reads them. */
static json_t *
mp_parse(enum metrics_format f, const char *text, size_t len)
{
	char path[] = "/tmp/metrics.XXXXXX";
	const char *argv[] = { PYTHON, "-c", mp_program, mp_format_name(f),
	    path, NULL };
	struct vd_out o;
	json_error_t jerr;
	json_t *fams;
	int fd;

	if ((fd = mkstemp(path)) == -1)
		fail_msg("mkstemp: %s", strerror(errno));
	if (write(fd, text, len) != (ssize_t)len)
		fail_msg("write %s: %s", path, strerror(errno));
	close(fd);
	vd_exec(&o, argv, NULL, VD_TIMEOUT_MS);
	unlink(path);
	if (o.status != 0)
		fail_msg("the %s parser refused the text (%d):\n%s\ntext:\n%s",
		    mp_format_name(f), o.status, o.err, text);
	if ((fams = json_loads(o.out, 0, &jerr)) == NULL)
		fail_msg("the parser's output: %s", jerr.text);
	vd_out_free(&o);
	return fams;
}

static const json_t *
mp_vsample(const json_t *fams, const char *name, const char *fmt,
    va_list ap)
{
	const json_t *fam, *s, *found = NULL;
	json_error_t jerr;
	json_t *labels;
	size_t i, j;

	if ((labels = json_vpack_ex(&jerr, 0, fmt, ap)) == NULL)
		fail_msg("labels %s: %s", fmt, jerr.text);
	json_array_foreach(fams, i, fam)
		json_array_foreach(json_object_get(fam, "samples"), j, s)
			if (strcmp(vd_str(s, "name"), name) == 0 &&
			    json_equal(json_object_get(s, "labels"), labels))
				found = s;
	json_decref(labels);
	return found;
}

/* The value of the sample name with exactly the labels packed by fmt. */
static double
mp_value(const json_t *fams, const char *name, const char *fmt, ...)
{
	const json_t *s;
	va_list ap;

	va_start(ap, fmt);
	s = mp_vsample(fams, name, fmt, ap);
	va_end(ap);
	if (s == NULL) {
		va_start(ap, fmt);
		fail_msg("no sample %s with labels %s in %s", name,
		    vd_dump(json_vpack_ex(NULL, 0, fmt, ap)), vd_dump(fams));
		va_end(ap);
	}
	return json_number_value(json_object_get(s, "value"));
}

static bool
mp_has(const json_t *fams, const char *name, const char *fmt, ...)
{
	const json_t *s;
	va_list ap;

	va_start(ap, fmt);
	s = mp_vsample(fams, name, fmt, ap);
	va_end(ap);
	return s != NULL;
}

/* The samples named name; of the VM vm only, when not NULL. */
static size_t
mp_count(const json_t *fams, const char *name, const char *vm)
{
	const json_t *fam, *s;
	size_t i, j, n = 0;
	const char *l;

	json_array_foreach(fams, i, fam)
		json_array_foreach(json_object_get(fam, "samples"), j, s) {
			l = json_string_value(json_object_get(json_object_get(
			    s, "labels"), "name"));
			if (strcmp(vd_str(s, "name"), name) == 0 &&
			    (vm == NULL || (l != NULL && strcmp(l, vm) == 0)))
				n++;
		}
	return n;
}

/*
 * Every family, by the name the parser of f gives it, with its type and
 * its OpenMetrics unit: exactly these, each with its HELP.
 */
static const struct {
	const char *name, *name_om;
	const char *type, *type_om;
	const char *unit;
} mp_families[] = {
	{ "vmmd_build_info", "vmmd_build", "gauge", "info", "" },
	{ "vmmd_start_time_seconds", NULL, "gauge", NULL, "seconds" },
	{ "vmm_host_capability_max_machines", NULL, "gauge", NULL, "" },
	{ "vmm_host_capability_max_vcpus", NULL, "gauge", NULL, "" },
	{ "vmm_host_capability_max_ram_bytes", NULL, "gauge", NULL, "bytes" },
	{ "vmm_vms", NULL, "gauge", NULL, "" },
	{ "vmmd_clients", NULL, "gauge", NULL, "" },
	{ "vmmd_rpc_requests", NULL, "counter", NULL, "" },
	{ "vmmd_rpc_duration_seconds", NULL, "histogram", NULL, "seconds" },
	{ "vmm_vm_state", NULL, "gauge", NULL, "" },
	{ "vmm_vm_uptime_seconds", NULL, "gauge", NULL, "seconds" },
	{ "vmm_vm_vcpus", NULL, "gauge", NULL, "" },
	{ "vmm_vm_memory_bytes", NULL, "gauge", NULL, "bytes" },
	{ "vmm_vm_restarts", NULL, "gauge", NULL, "" },
	{ "vmm_vm_stats_ok", NULL, "gauge", NULL, "" },
	{ "vmm_vm_exits", NULL, "counter", NULL, "" },
	{ "vmm_vm_console_bytes", NULL, "counter", NULL, "bytes" },
	{ "vmm_vm_console_dropped_bytes", NULL, "counter", NULL, "bytes" },
};

static void
mp_check_families(const json_t *fams, enum metrics_format f)
{
	bool om = f == METRICS_OPENMETRICS;
	const json_t *fam;
	const char *name;
	size_t i;

	assert_int_equal(json_array_size(fams), NITEMS(mp_families));
	for (i = 0; i < NITEMS(mp_families); i++) {
		name = om && mp_families[i].name_om != NULL ?
		    mp_families[i].name_om : mp_families[i].name;
		fam = json_array_get(fams, i);
		assert_string_equal(vd_str(fam, "name"), name);
		assert_string_equal(vd_str(fam, "type"), om &&
		    mp_families[i].type_om != NULL ? mp_families[i].type_om :
		    mp_families[i].type);
		if (strlen(vd_str(fam, "help")) < 10)
			fail_msg("%s: HELP \"%s\"", name, vd_str(fam, "help"));
		if (om)
			assert_string_equal(vd_str(fam, "unit"),
			    mp_families[i].unit);
	}
}

/* -------------------------------------------------------------------------- */
/* The renderer on synthetic data. */

static const char *const states[] = { "defined", "starting", "running",
    "paused", "stopping", "stopped", "crashed" };

/* A VM name with every character the formats escape. */
#define ODD_NAME	"a\\b\"c\nd}"

static json_t *
stats(const char *text)
{
	json_error_t jerr;
	json_t *v;

	if ((v = json_loads(text, 0, &jerr)) == NULL)
		fail_msg("%s: %s", text, jerr.text);
	return v;
}

/* Render, parse and check the families; the caller releases. */
static json_t *
render(const struct metrics *m, const struct metrics_host *h,
    const struct metrics_vm *vms, size_t nvms, enum metrics_format f)
{
	json_t *fams;
	size_t len;
	char *text;

	assert_int_equal(metrics_render(m, h, vms, nvms, f, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	fams = mp_parse(f, text, len);
	free(text);
	mp_check_families(fams, f);
	return fams;
}

static const struct metrics_host host = { "0.1.0-test", "kvm",
    1700000000123LL, 128, 64, 1ULL << 40 };

/* The daemon's counters: clients, and RPCs with known durations. */
static struct metrics *
synthetic_counters(void)
{
	struct metrics *m = metrics_new();

	assert_non_null(m);
	metrics_clients(m, "unix", 1);
	metrics_clients(m, "unix", 1);
	metrics_clients(m, "unix", -1);
	metrics_clients(m, "unix-ro", 1);
	metrics_clients(m, "tls", -3);		/* never below 0 */
	metrics_clients(m, "carrier-pigeon", 5);
	metrics_clients(m, NULL, 5);
	metrics_rpc_done(m, "vm.info", 0, 40000);
	metrics_rpc_done(m, "vm.info", 0, 50000);	/* le is <= */
	metrics_rpc_done(m, "vm.info", RPC_E_NOT_FOUND, 3000000);
	metrics_rpc_done(m, "vm.info", 12345, 1);	/* as internal */
	metrics_rpc_done(m, "vm.start", RPC_E_PERMISSION_DENIED,
	    20000000000ULL);
	metrics_rpc_done(m, "no.such", RPC_E_METHOD_NOT_FOUND, 7);
	metrics_rpc_done(m, NULL, RPC_E_PARSE, 8);
	return m;
}

static void
check_counters(const json_t *fams)
{
	static const struct {
		const char *le;
		double n;
	} info[] = {
		{ "5e-05", 3 }, { "0.0001", 3 }, { "0.00025", 3 },
		{ "0.0005", 3 }, { "0.001", 3 }, { "0.0025", 3 },
		{ "0.005", 4 }, { "0.01", 4 }, { "0.025", 4 }, { "0.05", 4 },
		{ "0.1", 4 }, { "0.25", 4 }, { "0.5", 4 }, { "1.0", 4 },
		{ "2.5", 4 }, { "5.0", 4 }, { "10.0", 4 }, { "+Inf", 4 },
	};
	const char *r = "vmmd_rpc_requests_total";
	const char *b = "vmmd_rpc_duration_seconds_bucket";
	size_t i;

	assert_true(mp_value(fams, "vmmd_clients", "{s:s}", "transport",
	    "unix") == 1);
	assert_true(mp_value(fams, "vmmd_clients", "{s:s}", "transport",
	    "unix-ro") == 1);
	assert_true(mp_value(fams, "vmmd_clients", "{s:s}", "transport",
	    "tls") == 0);
	assert_int_equal(mp_count(fams, "vmmd_clients", NULL), 3);

	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.info",
	    "code", "0") == 2);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.info",
	    "code", "-32001") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.info",
	    "code", "-32603") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.start",
	    "code", "-32004") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "other",
	    "code", "-32601") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "other",
	    "code", "-32700") == 1);
	assert_int_equal(mp_count(fams, r, NULL), 6);

	assert_int_equal(mp_count(fams, b, NULL), 3 * NITEMS(info));
	for (i = 0; i < NITEMS(info); i++) {
		assert_true(mp_value(fams, b, "{s:s,s:s}", "method",
		    "vm.info", "le", info[i].le) == info[i].n);
		assert_true(mp_value(fams, b, "{s:s,s:s}", "method",
		    "vm.start", "le", info[i].le) == (i + 1 < NITEMS(info) ?
		    0 : 1));
		assert_true(mp_value(fams, b, "{s:s,s:s}", "method",
		    "other", "le", info[i].le) == 2);
	}
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_count",
	    "{s:s}", "method", "vm.info") == 4);
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_sum",
	    "{s:s}", "method", "vm.info") == 0.003090001);
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_sum",
	    "{s:s}", "method", "vm.start") == 20.0);
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_sum",
	    "{s:s}", "method", "other") == 15e-9);
}

static void
check_host(const json_t *fams)
{
	assert_true(mp_value(fams, "vmmd_build_info", "{s:s,s:s}",
	    "version", "0.1.0-test", "backend", "kvm") == 1);
	assert_true(mp_value(fams, "vmmd_start_time_seconds", "{}") ==
	    1700000000.123);
	assert_true(mp_value(fams, "vmm_host_capability_max_machines",
	    "{}") == 128);
	assert_true(mp_value(fams, "vmm_host_capability_max_vcpus", "{}") ==
	    64);
	assert_true(mp_value(fams, "vmm_host_capability_max_ram_bytes",
	    "{}") == 1099511627776.0);
}

/* The VMs: one with stats, one whose stats did not come, one stopped. */
static void
synthetic_vms(struct metrics_vm *vms)
{
	memset(vms, 0, 3 * sizeof(*vms));
	snprintf(vms[0].name, sizeof(vms[0].name), "%s", ODD_NAME);
	snprintf(vms[0].uuid, sizeof(vms[0].uuid), "%s", UUID(1));
	vms[0].state = DB_STATE_RUNNING;
	vms[0].uptime_ms = 61500;
	vms[0].vcpus = 1;			/* the worker says 2 */
	vms[0].memory_bytes = 16 << 20;	/* the worker says 32 MiB */
	vms[0].restarts = 3;
	vms[0].stats_asked = true;
	vms[0].stats = stats("{\"vcpus\": [{\"id\": 0, \"state\": \"running\","
	    " \"exits\": {\"io\": 10, \"halt\": 1}}, {\"id\": 1, \"exits\": "
	    "{\"io\": 5, \"mmio\": 7, \"we\\\"ird\\n\": 2}}], \"ram_bytes\": "
	    "33554432, \"console\": {\"bytes\": 100, \"dropped\": 4, "
	    "\"scrollback\": 65536}}");
	snprintf(vms[1].name, sizeof(vms[1].name), "paused-vm");
	snprintf(vms[1].uuid, sizeof(vms[1].uuid), "%s", UUID(2));
	vms[1].state = DB_STATE_PAUSED;
	vms[1].uptime_ms = 1000;
	vms[1].vcpus = 4;
	vms[1].memory_bytes = 64 << 20;
	vms[1].stats_asked = true;
	snprintf(vms[2].name, sizeof(vms[2].name), "off");
	snprintf(vms[2].uuid, sizeof(vms[2].uuid), "%s", UUID(3));
	vms[2].state = DB_STATE_STOPPED;
	vms[2].vcpus = 1;
	vms[2].memory_bytes = 2 << 20;
}

#define VM(i)	"{s:s,s:s}", "name", names[i], "uuid", uuids[i]

static void
check_vms(const json_t *fams)
{
	static const char *const names[] = { ODD_NAME, "paused-vm", "off" };
	static const char *const uuids[] = { UUID(1), UUID(2), UUID(3) };
	static const char *const vs[] = { "running", "paused", "stopped" };
	static const double up[] = { 61.5, 1, 0 }, vcpus[] = { 2, 4, 1 };
	static const double mem[] = { 33554432, 67108864, 2097152 };
	const char *e = "vmm_vm_exits_total";
	size_t i, s;

	for (s = 0; s < NITEMS(states); s++)
		assert_true(mp_value(fams, "vmm_vms", "{s:s}", "state",
		    states[s]) == (s == 2 || s == 3 || s == 5 ? 1 : 0));
	for (i = 0; i < 3; i++) {
		for (s = 0; s < NITEMS(states); s++)
			assert_true(mp_value(fams, "vmm_vm_state",
			    "{s:s,s:s,s:s}", "name", names[i], "uuid",
			    uuids[i], "state", states[s]) ==
			    (strcmp(states[s], vs[i]) == 0));
		assert_true(mp_value(fams, "vmm_vm_uptime_seconds", VM(i)) ==
		    up[i]);
		assert_true(mp_value(fams, "vmm_vm_vcpus", VM(i)) ==
		    vcpus[i]);
		assert_true(mp_value(fams, "vmm_vm_memory_bytes", VM(i)) ==
		    mem[i]);
		assert_true(mp_value(fams, "vmm_vm_restarts", VM(i)) ==
		    (i == 0 ? 3 : 0));
	}
	assert_int_equal(mp_count(fams, "vmm_vm_state", NULL), 21);
	assert_true(mp_value(fams, "vmm_vm_stats_ok", VM(0)) == 1);
	assert_true(mp_value(fams, "vmm_vm_stats_ok", VM(1)) == 0);
	assert_false(mp_has(fams, "vmm_vm_stats_ok", VM(2)));
	assert_true(mp_value(fams, e, "{s:s,s:s,s:s}", "name", names[0],
	    "uuid", uuids[0], "reason", "io") == 15);
	assert_true(mp_value(fams, e, "{s:s,s:s,s:s}", "name", names[0],
	    "uuid", uuids[0], "reason", "halt") == 1);
	assert_true(mp_value(fams, e, "{s:s,s:s,s:s}", "name", names[0],
	    "uuid", uuids[0], "reason", "mmio") == 7);
	assert_true(mp_value(fams, e, "{s:s,s:s,s:s}", "name", names[0],
	    "uuid", uuids[0], "reason", "we\"ird\n") == 2);
	assert_int_equal(mp_count(fams, e, NULL), 4);
	assert_true(mp_value(fams, "vmm_vm_console_bytes_total", VM(0)) ==
	    100);
	assert_true(mp_value(fams, "vmm_vm_console_dropped_bytes_total",
	    VM(0)) == 4);
	assert_int_equal(mp_count(fams, "vmm_vm_console_bytes_total", NULL),
	    1);
	assert_int_equal(mp_count(fams, "vmm_vm_console_dropped_bytes_total",
	    NULL), 1);
}

static void
test_render(void **state)
{
	static const enum metrics_format fmts[] = { METRICS_PROMETHEUS,
	    METRICS_OPENMETRICS };
	struct metrics *m = synthetic_counters();
	struct metrics_vm vms[3];
	json_t *fams;
	size_t i;

	synthetic_vms(vms);
	for (i = 0; i < NITEMS(fmts); i++) {
		fams = render(m, &host, vms, NITEMS(vms), fmts[i]);
		check_host(fams);
		check_counters(fams);
		check_vms(fams);
		json_decref(fams);
	}
	for (i = 0; i < NITEMS(vms); i++)
		json_decref(vms[i].stats);
	metrics_free(m);
}

/* No counters and no VMs: every family is still there, without samples. */
static void
test_render_empty(void **state)
{
	static const enum metrics_format fmts[] = { METRICS_PROMETHEUS,
	    METRICS_OPENMETRICS };
	struct metrics *m = metrics_new();
	json_t *fams;
	size_t i, s;

	for (i = 0; i < NITEMS(fmts); i++) {
		fams = render(NULL, &host, NULL, 0, fmts[i]);
		check_host(fams);
		for (s = 0; s < NITEMS(states); s++)
			assert_true(mp_value(fams, "vmm_vms", "{s:s}",
			    "state", states[s]) == 0);
		assert_int_equal(mp_count(fams, "vmmd_clients", NULL), 0);
		assert_int_equal(mp_count(fams, "vmm_vm_state", NULL), 0);
		json_decref(fams);

		fams = render(m, &host, NULL, 0, fmts[i]);
		assert_true(mp_value(fams, "vmmd_clients", "{s:s}",
		    "transport", "tls") == 0);
		assert_int_equal(mp_count(fams, "vmmd_rpc_requests_total",
		    NULL), 0);
		assert_int_equal(mp_count(fams,
		    "vmmd_rpc_duration_seconds_count", NULL), 0);
		json_decref(fams);
	}
	metrics_free(m);
	/* NULL is accepted everywhere. */
	metrics_clients(NULL, "unix", 1);
	metrics_rpc_done(NULL, "vm.info", 0, 1);
	metrics_free(NULL);
}

/*
 * Worker stats that are not as WORKER.md says: the VM is listed with
 * stats_ok 0 and without the worker's series.  The last rows are the
 * limits themselves, which are fine.
 */
static const struct {
	const char *stats;
	bool ok;
} bad_stats[] = {
	{ "{}", false },
	{ "{\"vcpus\": {}, \"ram_bytes\": 1, \"console\": {\"bytes\": 1, "
	  "\"dropped\": 0}}", false },
	{ "{\"vcpus\": [], \"ram_bytes\": 1, \"console\": {\"bytes\": 1, "
	  "\"dropped\": 0}}", false },
	{ "{\"vcpus\": [{\"exits\": {}}], \"console\": {\"bytes\": 1, "
	  "\"dropped\": 0}}", false },
	{ "{\"vcpus\": [{\"exits\": {}}], \"ram_bytes\": -1, \"console\": "
	  "{\"bytes\": 1, \"dropped\": 0}}", false },
	{ "{\"vcpus\": [{\"exits\": {}}], \"ram_bytes\": 1}", false },
	{ "{\"vcpus\": [{\"exits\": {}}], \"ram_bytes\": 1, \"console\": "
	  "{\"bytes\": 1, \"dropped\": \"0\"}}", false },
	{ "{\"vcpus\": [{\"exits\": []}], \"ram_bytes\": 1, \"console\": "
	  "{\"bytes\": 1, \"dropped\": 0}}", false },
	{ "{\"vcpus\": [{}], \"ram_bytes\": 1, \"console\": "
	  "{\"bytes\": 1, \"dropped\": 0}}", false },
	{ "{\"vcpus\": [{\"exits\": {\"io\": -1}}], \"ram_bytes\": 1, "
	  "\"console\": {\"bytes\": 1, \"dropped\": 0}}", false },
	{ "{\"vcpus\": [{\"exits\": {\"io\": 1.0}}], \"ram_bytes\": 1, "
	  "\"console\": {\"bytes\": 1, \"dropped\": 0}}", false },
	{ NULL, false },	/* 65 vcpus */
	{ NULL, false },	/* 33 reasons */
	{ NULL, false },	/* a reason of 65 bytes */
	{ NULL, true },		/* 64 vcpus, 32 reasons of 64 bytes */
};

/* The generated rows of bad_stats, by index from the end. */
static json_t *
bad_stats_gen(size_t from_end)
{
	json_t *s, *vcpus, *exits;
	size_t nv = 1, nr = 1, klen = 2, i;
	char key[80];

	if (from_end == 4)
		nv = 65;
	else if (from_end == 3)
		nr = 33;
	else if (from_end == 2)
		klen = 65;
	else {
		nv = 64;
		nr = 32;
		klen = 64;
	}
	exits = json_object();
	for (i = 0; i < nr; i++) {
		snprintf(key, sizeof(key), "%02zu", i);
		memset(key + 2, 'r', klen - 2);
		key[klen] = '\0';
		json_object_set_new(exits, key, json_integer(1));
	}
	vcpus = json_array();
	for (i = 0; i < nv; i++)
		json_array_append_new(vcpus, json_pack("{s:O}", "exits",
		    exits));
	json_decref(exits);
	s = json_pack("{s:o,s:i,s:{s:i,s:i}}", "vcpus", vcpus, "ram_bytes",
	    1, "console", "bytes", 1, "dropped", 0);
	return s;
}

static void
test_render_bad_stats(void **state)
{
	struct metrics_vm vms[NITEMS(bad_stats)];
	char name[VMDEF_NAME_MAX + 1], key[80];
	json_t *fams;
	size_t i, n = NITEMS(bad_stats);

	memset(vms, 0, sizeof(vms));
	for (i = 0; i < n; i++) {
		snprintf(vms[i].name, sizeof(vms[i].name), "bad%zu", i);
		snprintf(vms[i].uuid, sizeof(vms[i].uuid), "%s", UUID(9));
		vms[i].state = DB_STATE_RUNNING;
		vms[i].vcpus = 3;
		vms[i].memory_bytes = 5;
		vms[i].stats_asked = true;
		vms[i].stats = bad_stats[i].stats != NULL ?
		    stats(bad_stats[i].stats) : bad_stats_gen(n - i);
	}
	fams = render(NULL, &host, vms, n, METRICS_OPENMETRICS);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bad%zu", i);
		if (mp_value(fams, "vmm_vm_stats_ok", "{s:s,s:s}", "name",
		    name, "uuid", UUID(9)) != bad_stats[i].ok)
			fail_msg("bad_stats[%zu]: stats_ok is not %d", i,
			    bad_stats[i].ok);
		assert_int_equal(mp_count(fams, "vmm_vm_exits_total", name),
		    bad_stats[i].ok ? 32 : 0);
		assert_int_equal(mp_count(fams, "vmm_vm_console_bytes_total",
		    name), bad_stats[i].ok);
		/* The definition's figures, or the worker's. */
		assert_true(mp_value(fams, "vmm_vm_vcpus", "{s:s,s:s}", "name",
		    name, "uuid", UUID(9)) == (bad_stats[i].ok ? 64 : 3));
		assert_true(mp_value(fams, "vmm_vm_memory_bytes", "{s:s,s:s}",
		    "name", name, "uuid", UUID(9)) == (bad_stats[i].ok ?
		    1 : 5));
	}
	/* 64 vcpus of 1 exit each for every reason: "31rrr...", 64 bytes. */
	snprintf(key, sizeof(key), "31");
	memset(key + 2, 'r', 62);
	key[64] = '\0';
	assert_true(mp_value(fams, "vmm_vm_exits_total", "{s:s,s:s,s:s}",
	    "name", name, "uuid", UUID(9), "reason", key) == 64);
	json_decref(fams);
	for (i = 0; i < n; i++)
		json_decref(vms[i].stats);
}

/* -------------------------------------------------------------------------- */
/* Through a real vmmd. */

#define R	"{\"jsonrpc\":\"2.0\","	/* a request's start */

/*
 * host.metrics on c in format f (NULL: the default); the families.  When
 * ms is not NULL, it gets the time the call took (the parsing left out).
 */
static json_t *
scrape_timed(struct vc *c, const char *format, int64_t *ms)
{
	enum metrics_format f = format != NULL &&
	    strcmp(format, "openmetrics") == 0 ? METRICS_OPENMETRICS :
	    METRICS_PROMETHEUS;
	int64_t t0 = vd_now_ms();
	json_t *res, *fams;
	const char *text;

	res = vc_result(c, "host.metrics", format != NULL ?
	    json_pack("{s:s}", "format", format) : NULL);
	if (ms != NULL)
		*ms = vd_now_ms() - t0;
	assert_string_equal(vd_str(res, "content_type"), f ==
	    METRICS_OPENMETRICS ? "application/openmetrics-text; "
	    "version=1.0.0; charset=utf-8" : "text/plain; version=0.0.4; "
	    "charset=utf-8");
	text = vd_str(res, "text");
	fams = mp_parse(f, text, strlen(text));
	mp_check_families(fams, f);
	json_decref(res);
	return fams;
}

static json_t *
scrape(struct vc *c, const char *format)
{
	return scrape_timed(c, format, NULL);
}

static double
realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static json_int_t
vm_pid(struct vc *c, const char *name)
{
	json_t *v = vd_info(c, name);
	json_int_t pid = vd_int(v, "pid");

	json_decref(v);
	return pid;
}

static void
start_vm(struct vc *c, const char *name)
{
	json_decref(vc_result(c, "vm.start", json_pack("{s:s}", "name",
	    name)));
}

/* The host and the VMs: what the database, the workers and host.info say. */
static void
check_scrape(const json_t *fams, const json_t *hinfo, double t0, double t1,
    const char *const *uuids)
{
	const json_t *cap = json_object_get(hinfo, "capabilities");
	static const char *const names[] = { "count", "crashy", "idle" };
	static const char *const vs[] = { "running", "running", "defined" };
	static const double vcpus[] = { 1, 2, 1 };
	static const double mem[] = { 16 << 20, 2 << 20, 2 << 20 };
	double start;
	size_t i, s;

	assert_true(mp_value(fams, "vmmd_build_info", "{s:s,s:s}", "version",
	    VMMD_VERSION, "backend", vd_str(hinfo, "backend")) == 1);
	start = mp_value(fams, "vmmd_start_time_seconds", "{}");
	if (start < t0 - 0.001 || start > t1 + 0.001)
		fail_msg("start time %.3f not in [%.3f, %.3f]", start, t0, t1);
	assert_true(mp_value(fams, "vmm_host_capability_max_machines",
	    "{}") == vd_int(cap, "max_machines"));
	assert_true(mp_value(fams, "vmm_host_capability_max_vcpus", "{}") ==
	    vd_int(cap, "max_vcpus"));
	assert_true(mp_value(fams, "vmm_host_capability_max_ram_bytes",
	    "{}") == vd_int(cap, "max_ram"));
	for (s = 0; s < NITEMS(states); s++)
		assert_true(mp_value(fams, "vmm_vms", "{s:s}", "state",
		    states[s]) == (s == 2 ? 2 : s == 0 ? 1 : 0));
	for (i = 0; i < NITEMS(names); i++) {
		for (s = 0; s < NITEMS(states); s++)
			assert_true(mp_value(fams, "vmm_vm_state",
			    "{s:s,s:s,s:s}", "name", names[i], "uuid",
			    uuids[i], "state", states[s]) ==
			    (strcmp(states[s], vs[i]) == 0));
		assert_true(mp_value(fams, "vmm_vm_vcpus", VM(i)) ==
		    vcpus[i]);
		assert_true(mp_value(fams, "vmm_vm_memory_bytes", VM(i)) ==
		    mem[i]);
		assert_true(mp_value(fams, "vmm_vm_restarts", VM(i)) ==
		    (i == 1 ? 1 : 0));
		assert_int_equal(mp_has(fams, "vmm_vm_stats_ok", VM(i)),
		    i < 2);
	}
	assert_true(mp_value(fams, "vmm_vm_uptime_seconds", VM(2)) == 0);
	assert_true(mp_value(fams, "vmm_vm_stats_ok", VM(0)) == 1);
	assert_true(mp_value(fams, "vmm_vm_stats_ok", VM(1)) == 1);
	assert_int_equal(mp_count(fams, "vmm_vm_console_bytes_total", NULL),
	    2);
}

/*
 * The worker's figures of "count": io exits and console bytes.  The
 * console bytes lie between what vmmd had mirrored before the scrape
 * and what it mirrors once the worker's output has all come.
 */
static void
check_count(struct vc *c, const json_t *fams, const char *uuid,
    json_int_t before)
{
	double bytes, io;
	json_int_t total = 0;
	int64_t end = vd_now_ms() + VD_TIMEOUT_MS;

	bytes = mp_value(fams, "vmm_vm_console_bytes_total", "{s:s,s:s}",
	    "name", "count", "uuid", uuid);
	io = mp_value(fams, "vmm_vm_exits_total", "{s:s,s:s,s:s}", "name",
	    "count", "uuid", uuid, "reason", "io");
	if (bytes < (double)before || io < 1)
		fail_msg("console bytes %.0f (mirrored before: %lld), io exits "
		    "%.0f", bytes, (long long)before, io);
	while (total < bytes) {
		free(vd_console(c, "count", NULL, &total));
		if (vd_now_ms() > end)
			fail_msg("vmmd mirrored %lld bytes, the worker said "
			    "%.0f", (long long)total, bytes);
		vd_sleep_ms(5);
	}
	assert_true(mp_value(fams, "vmm_vm_console_dropped_bytes_total",
	    "{s:s,s:s}", "name", "count", "uuid", uuid) == 0);
}

/*
 * Three VMs: "count" running ctl_count, "crashy" (2 vcpus, on_crash
 * restart) killed once and restarted, "idle" never started.  Scraped
 * over the read-only socket in both formats.
 */
static void
test_vmmd_scrape(void **state)
{
	const char *uuids[3];
	static char ubuf[3][40];
	double t0 = realtime_s(), t1, up;
	struct vd *d = vd_start(NULL);
	json_int_t pid, before;
	json_t *fams, *hinfo, *v;
	struct vc c, ro;
	int64_t started;
	size_t i;

	t1 = realtime_s();
	vc_connect(&c, d->rw);
	vc_connect(&ro, d->ro);
	snprintf(ubuf[0], sizeof(ubuf[0]), "%s", vd_define(&c, vd_def("count",
	    "ctl_count", NULL)));
	snprintf(ubuf[1], sizeof(ubuf[1]), "%s", vd_define(&c, vd_def(
	    "crashy", "sb_wait", "{\"on_crash\": \"restart\", \"vcpu\": "
	    "{\"count\": 2}, \"features\": {\"irqchip\": true}}")));
	snprintf(ubuf[2], sizeof(ubuf[2]), "%s", vd_define(&c, vd_def("idle",
	    "sb_wait", NULL)));
	for (i = 0; i < 3; i++)
		uuids[i] = ubuf[i];
	started = vd_now_ms();
	start_vm(&c, "count");
	start_vm(&c, "crashy");
	pid = vm_pid(&c, "crashy");
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	json_decref(vd_wait_state(&c, "crashy", "running", pid,
	    VD_TIMEOUT_MS));
	free(vd_console_wait(&c, "count", "tick 0003", VD_TIMEOUT_MS));
	hinfo = vc_result(&ro, "host.info", NULL);

	free(vd_console(&c, "count", NULL, &before));
	fams = scrape(&ro, NULL);
	check_scrape(fams, hinfo, t0, t1, uuids);
	check_count(&c, fams, uuids[0], before);
	up = mp_value(fams, "vmm_vm_uptime_seconds", "{s:s,s:s}", "name",
	    "count", "uuid", uuids[0]);
	if (up <= 0 || up * 1000 > vd_now_ms() - started + 1)
		fail_msg("uptime %.3f s, started %lld ms ago", up,
		    (long long)(vd_now_ms() - started));
	json_decref(fams);

	free(vd_console(&c, "count", NULL, &before));
	fams = scrape(&ro, "openmetrics");
	check_scrape(fams, hinfo, t0, t1, uuids);
	check_count(&c, fams, uuids[0], before);
	json_decref(fams);

	/* Explicitly "prometheus", and vm.info agrees on restarts. */
	fams = scrape(&ro, "prometheus");
	v = vd_info(&ro, "crashy");
	assert_true(mp_value(fams, "vmm_vm_restarts", "{s:s,s:s}", "name",
	    "crashy", "uuid", uuids[1]) == vd_int(v, "restart_count"));
	json_decref(v);
	json_decref(fams);
	json_decref(hinfo);
	vc_close(&ro);
	vc_close(&c);
	vd_passed(d);
}

/*
 * A worker that does not answer (stopped with SIGSTOP): the scrape
 * answers after METRICS_STATS_TIMEOUT_MS with the VM listed, stats_ok 0
 * and none of its worker's series; the late answer, once the worker
 * runs again, is dropped, and the next scrape has it all.  Also: bad
 * formats, a batch of scrapes, and a scrape sent as a notification.
 */
static void
test_vmmd_slow_worker(void **state)
{
	struct vd *d = vd_start(NULL);
	json_t *fams, *err, *resp;
	char u1[40], u2[40];
	json_int_t pid;
	int64_t t;
	int i;
	struct vc c, ro;

	vc_connect(&c, d->rw);
	vc_connect(&ro, d->ro);
	snprintf(u1, sizeof(u1), "%s", vd_define(&c, vd_def("stuck",
	    "sb_wait", NULL)));
	snprintf(u2, sizeof(u2), "%s", vd_define(&c, vd_def("fine",
	    "sb_wait", NULL)));
	start_vm(&c, "stuck");
	start_vm(&c, "fine");
	pid = vm_pid(&c, "stuck");
	assert_int_equal(kill((pid_t)pid, SIGSTOP), 0);

	fams = scrape_timed(&ro, "openmetrics", &t);
	if (t < METRICS_STATS_TIMEOUT_MS || t > METRICS_STATS_TIMEOUT_MS +
	    2000)
		fail_msg("the scrape took %lld ms", (long long)t);
	assert_true(mp_value(fams, "vmm_vm_state", "{s:s,s:s,s:s}", "name",
	    "stuck", "uuid", u1, "state", "running") == 1);
	assert_true(mp_value(fams, "vmm_vm_stats_ok", "{s:s,s:s}", "name",
	    "stuck", "uuid", u1) == 0);
	assert_true(mp_value(fams, "vmm_vm_vcpus", "{s:s,s:s}", "name",
	    "stuck", "uuid", u1) == 1);
	assert_true(mp_value(fams, "vmm_vm_stats_ok", "{s:s,s:s}", "name",
	    "fine", "uuid", u2) == 1);
	assert_int_equal(mp_count(fams, "vmm_vm_stats_ok", "stuck"), 1);
	assert_int_equal(mp_count(fams, "vmm_vm_exits_total", "stuck"), 0);
	assert_int_equal(mp_count(fams, "vmm_vm_console_bytes_total",
	    "stuck"), 0);
	assert_int_equal(mp_count(fams, "vmm_vm_console_bytes_total",
	    "fine"), 1);
	assert_true(mp_value(fams, "vmm_vm_memory_bytes", "{s:s,s:s}", "name",
	    "fine", "uuid", u2) == 2 << 20);
	json_decref(fams);

	/* Running again, it answers the next scrapes (a loaded host: 5). */
	assert_int_equal(kill((pid_t)pid, SIGCONT), 0);
	for (i = 0;; i++) {
		fams = scrape(&ro, NULL);
		if (mp_value(fams, "vmm_vm_stats_ok", "{s:s,s:s}", "name",
		    "stuck", "uuid", u1) == 1)
			break;
		if (i == 4)
			fail_msg("no stats from the worker after SIGCONT");
		json_decref(fams);
	}
	assert_int_equal(mp_count(fams, "vmm_vm_console_bytes_total",
	    "stuck"), 1);
	json_decref(fams);

	/* Formats that are not one. */
	assert_int_equal(vc_error(&ro, "host.metrics", json_pack("{s:s}",
	    "format", "json"), &err), RPC_E_INVALID_PARAMS);
	assert_string_equal(vd_dump(json_object_get(err, "data")),
	    "{\"name\":\"invalid_params\",\"problems\":[{\"path\":"
	    "\"$.params.format\",\"message\":\"must be one of "
	    "\\\"prometheus\\\", \\\"openmetrics\\\"\"}]}");
	json_decref(err);
	assert_int_equal(vc_error(&ro, "host.metrics", json_pack("{s:i}",
	    "format", 1), &err), RPC_E_INVALID_PARAMS);
	assert_string_equal(vd_dump(json_object_get(json_object_get(err,
	    "data"), "problems")), "[{\"path\":\"$.params.format\","
	    "\"message\":\"must be a string\"}]");
	json_decref(err);
	assert_int_equal(vc_error(&ro, "host.metrics", json_pack("{s:b}",
	    "verbose", 1), NULL), RPC_E_INVALID_PARAMS);

	/* A scrape nobody waits for, then a batch of two. */
	kill((pid_t)pid, SIGSTOP);
	vc_send_line(&ro, R "\"method\":\"host.metrics\"}");
	vc_send_line(&ro, "[" R "\"id\":\"a\",\"method\":\"host.metrics\"},"
	    R "\"id\":\"b\",\"method\":\"host.metrics\",\"params\":"
	    "{\"format\":\"openmetrics\"}}]");
	resp = vc_response(&ro, VD_TIMEOUT_MS);
	kill((pid_t)pid, SIGCONT);
	assert_non_null(resp);
	assert_int_equal(json_array_size(resp), 2);
	assert_string_equal(vd_str(json_array_get(resp, 0), "id"), "a");
	assert_string_equal(vd_str(json_array_get(resp, 1), "id"), "b");
	assert_string_equal(vd_str(json_object_get(json_array_get(resp, 1),
	    "result"), "content_type"), METRICS_CT_OPENMETRICS);
	json_decref(resp);
	/* The connection still works; nothing else was sent on it. */
	json_decref(vc_result(&ro, "daemon.version", NULL));

	/*
	 * vmmd stopped in the middle of a scrape: it still exits cleanly
	 * (vd_teardown checks), the scrape answered or dropped.
	 */
	kill((pid_t)pid, SIGSTOP);
	vc_send_line(&ro, R "\"id\":9,\"method\":\"host.metrics\"}");
	json_decref(vc_result(&c, "daemon.version", NULL));
	vc_close(&ro);
	vc_close(&c);
	vd_passed(d);
}

/* The sum of the vmmd_rpc_requests_total series of known methods. */
static double
rpc_total(const json_t *fams)
{
	const json_t *fam, *smp;
	double n = 0;
	size_t i, j;

	json_array_foreach(fams, i, fam)
		json_array_foreach(json_object_get(fam, "samples"), j, smp)
			if (strcmp(vd_str(smp, "name"),
			    "vmmd_rpc_requests_total") == 0 &&
			    strcmp(vd_str(json_object_get(smp, "labels"),
			    "method"), "other") != 0)
				n += json_number_value(json_object_get(smp,
				    "value"));
	return n;
}

/*
 * The RPC and client series, through the server's wiring: every request
 * this test (and the harness: one daemon.version when vmmd starts) made
 * is accounted for, by method and code.  Lines that name no method of
 * the table (unknown method, not JSON) are "other" when counted at all.
 */
static void
test_vmmd_rpc_counters(void **state)
{
	const char *r = "vmmd_rpc_requests_total";
	struct vd *d = vd_start(NULL);
	struct vc c, ro, ro2;
	json_t *fams;
	int i;

	vc_connect(&c, d->rw);
	vc_connect(&ro, d->ro);
	vc_connect(&ro2, d->ro);
	vd_define(&c, vd_def("a", "sb_wait", NULL));
	for (i = 0; i < 7; i++)
		json_decref(vd_info(&ro, "a"));
	for (i = 0; i < 2; i++)
		assert_int_equal(vc_error(&ro, "vm.info", json_pack("{s:s}",
		    "name", "b"), NULL), RPC_E_NOT_FOUND);
	assert_int_equal(vc_error(&ro, "vm.start", json_pack("{s:s}",
	    "name", "a"), NULL), RPC_E_PERMISSION_DENIED);
	assert_int_equal(vc_error(&ro, "vm.info", json_pack("{s:i}",
	    "name", 1), NULL), RPC_E_INVALID_PARAMS);
	assert_int_equal(vc_error(&ro, "no.such", NULL, NULL),
	    RPC_E_METHOD_NOT_FOUND);
	vc_send_line(&ro, "{not json");
	json_decref(vc_response(&ro, VD_TIMEOUT_MS));
	vc_close(&ro2);
	/* vmmd has seen ro2 go once it answers this. */
	json_decref(vc_result(&c, "daemon.version", NULL));

	fams = scrape(&ro, NULL);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.info",
	    "code", "0") == 7);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.info",
	    "code", "-32001") == 2);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.info",
	    "code", "-32602") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.start",
	    "code", "-32004") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "vm.define",
	    "code", "0") == 1);
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method",
	    "daemon.version", "code", "0") == 2);
	assert_true(rpc_total(fams) == 14);
	if (mp_has(fams, r, "{s:s,s:s}", "method", "other", "code",
	    "-32601"))
		assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "other",
		    "code", "-32601") == 1);
	if (mp_has(fams, r, "{s:s,s:s}", "method", "other", "code",
	    "-32700"))
		assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "other",
		    "code", "-32700") == 1);
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_count",
	    "{s:s}", "method", "vm.info") == 10);
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_count",
	    "{s:s}", "method", "vm.start") == 1);
	assert_true(mp_value(fams, "vmmd_clients", "{s:s}", "transport",
	    "unix") == 1);
	assert_true(mp_value(fams, "vmmd_clients", "{s:s}", "transport",
	    "unix-ro") == 1);
	assert_true(mp_value(fams, "vmmd_clients", "{s:s}", "transport",
	    "tls") == 0);
	json_decref(fams);

	/* A scrape counts the ones before it, once answered. */
	fams = scrape(&ro, "openmetrics");
	assert_true(mp_value(fams, r, "{s:s,s:s}", "method", "host.metrics",
	    "code", "0") == 1);
	assert_true(mp_value(fams, "vmmd_rpc_duration_seconds_count",
	    "{s:s}", "method", "host.metrics") == 1);
	assert_true(rpc_total(fams) == 15);
	json_decref(fams);
	vc_close(&ro);
	vc_close(&c);
	vd_passed(d);
}

#define T_TEST(t)	cmocka_unit_test_teardown(t, vd_teardown)

/* An argument runs only the tests whose names match it (a glob). */
int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_render_bad_stats),
		T_TEST(test_vmmd_scrape),
		T_TEST(test_vmmd_slow_worker),
		T_TEST(test_vmmd_rpc_counters),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
