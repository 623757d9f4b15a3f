/*
 * bench_vmmd.c: benchmark of vmmd (prints figures and ratios; not a timed
 * test).  One daemon on a private directory (tests/vmmdtest.h), run as in
 * production but for its paths: sandboxed workers as "nobody", log level
 * info, the default limits.
 *
 *   a) `vmmctl start NAME` to the guest's first console byte as vmmd
 *	has it, against the same guest run by vmm-worker directly (to the
 *	first byte on its console descriptor); median of 30 runs each.
 *	The guest is tests/guests/bench_boot.S without its debug-exit port:
 *	it writes '!' to COM1 and halts with interrupts on.  The byte is
 *	seen by polling vm.console_log (bytes 1: its "total") on a raw
 *	connection opened before the start, one request every 100 us: a
 *	follower (follow true) cannot attach before the VM runs, and by
 *	then vmmd has the byte (the worker's scrollback is replayed when
 *	vmmd attaches).  The poll's resolution, about 0.15 ms, is printed.
 *   b) vm.info round trips per second, pipelined on one connection; then
 *	latency with 100 clients connected at once, each sending its next
 *	request as soon as it has the answer (closed loop: every client
 *	always has one request waiting), and again with each client sending
 *	one request every 10 ms (paced: 10000 requests a second in all).
 *	One thread drives the 100 connections (poll), so the latencies
 *	include its own work, as a real client's would.
 *   c) durable vm.define per second: distinct names, one connection, one
 *	request at a time, each answered after its commit.
 *   d) vmmd's VmRSS with 10000 definitions, and after listing them all.
 *
 * Usage: bench_vmmd [runs]	(default 30, for a)
 *
 * Exit status: 0 when the benchmark ran (whatever the verdicts) or cannot
 * run (no /dev/kvm: the reason is printed); non-zero when vmmd misbehaves.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vmmdtest.h"
#include "vmtest.h"

#define B_RUNS_DEF		30
#define B_RUNS_MAX		1000
#define B_WARMUP		2
#define B_POLL_US		100
#define B_PIPELINED		50000
#define B_CLIENTS		100
#define B_CLOSED_PER_CLIENT	200
#define B_PACED_MS		10	/* one request per client this often */
#define B_PACED_PER_CLIENT	200
#define B_DEFINES		2000
#define B_RSS_DEFS		10000

#define B_TARGET_START_MS	10.0
#define B_TARGET_RPS		20000.0
#define B_TARGET_P99_MS		1.0
#define B_TARGET_DEFINES	2000.0
#define B_TARGET_RSS_MIB	30.0

static struct vd *b_vd;

static double
b_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
b_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
b_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of n values, sorted in place. */
static double
b_quantile(double *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), b_cmp);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static const char *
b_verdict(bool met)
{
	return met ? "met" : "MISSED";
}

static void
b_cleanup(void)
{
	if (b_vd != NULL)
		vd_teardown(NULL);
	b_vd = NULL;
}

/* ------------------------------------------------------------------------ */
/* a) Start to the first console byte. */

/* vm.console_log's total for name: the bytes vmmd knows the guest wrote. */
static json_int_t
b_console_total(struct vc *c, const char *name)
{
	json_t *r = vc_result(c, "vm.console_log", json_pack("{s:s,s:i}",
	    "name", name, "bytes", 1));
	json_int_t total = vd_int(r, "total");

	json_decref(r);
	return total;
}

/* Fork and exec argv with stdout on out (-1: /dev/null), stderr null. */
static pid_t
b_spawn(const char *const *argv, const char *env, int out)
{
	pid_t parent = getpid(), pid;
	int fd;

	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDERR_FILENO);
		dup2(out != -1 ? out : fd, STDOUT_FILENO);
	}
	if (env != NULL)
		putenv((char *)(uintptr_t)env);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

static int
b_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * One start through vmmd: the ms to the first byte (and, in *ctl_ms, to
 * vmmctl's exit), then a forced stop, not timed.
 */
static double
b_start_vmmd(struct vc *poller, struct vc *rw, double *ctl_ms)
{
	static const char *const argv[] = { VD_VMMCTL, "start", "b", NULL };
	char env[VD_PATH_MAX + 32];
	json_int_t before = b_console_total(poller, "b");
	double t0, first = -1;
	pid_t pid;
	int st;

	snprintf(env, sizeof(env), "VMM_CONNECT=%s", b_vd->rw);
	t0 = b_now_ms();
	pid = b_spawn(argv, env, -1);
	while (first < 0) {
		if (b_console_total(poller, "b") > before)
			first = b_now_ms() - t0;
		else if (b_now_ms() - t0 > VD_TIMEOUT_MS)
			fail_msg("no console byte %d ms after vmmctl start",
			    VD_TIMEOUT_MS);
		else
			b_sleep_us(B_POLL_US);
	}
	if ((st = b_wait(pid)) != 0)
		fail_msg("vmmctl start b: exit status %d", st);
	*ctl_ms = b_now_ms() - t0;
	json_decref(vc_result(rw, "vm.stop", json_pack("{s:s,s:b}", "name",
	    "b", "force", 1)));
	return first;
}

/* One run of the same guest by vmm-worker itself: ms to its first byte. */
static double
b_start_worker(const char *def, const char *run)
{
	const char *argv[] = { VD_WORKER, "-r", run, def, NULL };
	struct pollfd pfd;
	double t0, first;
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) == -1)
		fail_msg("pipe2: %s", strerror(errno));
	t0 = b_now_ms();
	pid = b_spawn(argv, NULL, p[1]);
	close(p[1]);
	pfd = (struct pollfd){ p[0], POLLIN, 0 };
	if (poll(&pfd, 1, VD_TIMEOUT_MS) != 1 || read(p[0], &c, 1) != 1)
		fail_msg("vmm-worker: no console byte");
	first = b_now_ms() - t0;
	kill(pid, SIGKILL);
	b_wait(pid);
	close(p[0]);
	if (c != '!')
		fail_msg("vmm-worker: console byte 0x%02x, not '!'", c);
	return first;
}

static void
b_print_row(const char *what, double *v, size_t n)
{
	double med = b_quantile(v, n, 0.5);

	printf("  %-34s %8.2f %8.2f %8.2f\n", what, med, b_quantile(v, n,
	    0.9), v[0]);
}

static void
bench_start(unsigned int runs)
{
	static double vmmd_ms[B_RUNS_MAX], ctl_ms[B_RUNS_MAX];
	static double worker_ms[B_RUNS_MAX];
	char def[VD_PATH_MAX], run[VD_PATH_MAX], *text;
	double vm, wk, ignored;
	struct vc poller, rw;
	unsigned int i;
	json_t *peer;

	vc_connect(&rw, b_vd->rw);
	vc_connect(&poller, b_vd->ro);
	vd_define(&rw, vd_def("b", "bench_boot", NULL));
	peer = vd_def("peer", "bench_boot", NULL);
	text = json_dumps(peer, JSON_COMPACT);
	json_decref(peer);
	vd_write_file(b_vd, "peer.json", text, def);
	free(text);
	snprintf(run, sizeof(run), "%s/peer-run", b_vd->dir);

	for (i = 0; i < B_WARMUP; i++) {
		b_start_vmmd(&poller, &rw, &ignored);
		b_start_worker(def, run);
	}
	/* Taking turns, so that drift hits both alike. */
	for (i = 0; i < runs; i++) {
		vmmd_ms[i] = b_start_vmmd(&poller, &rw, &ctl_ms[i]);
		worker_ms[i] = b_start_worker(def, run);
	}
	vm = b_quantile(vmmd_ms, runs, 0.5);
	wk = b_quantile(worker_ms, runs, 0.5);
	printf("a) start to the first console byte, %u runs each "
	    "(guest bench_boot, 2 MiB)\n", runs);
	printf("  %-34s %8s %8s %8s\n", "", "median", "p90", "min");
	printf("  %-34s %8s %8s %8s\n", "", "ms", "ms", "ms");
	b_print_row("vmmctl start, byte in vmmd", vmmd_ms, runs);
	b_print_row("vmmctl start, until vmmctl exits", ctl_ms, runs);
	b_print_row("vmm-worker alone, byte on its fd", worker_ms, runs);
	printf("  vmmd / vmm-worker (medians): %.2fx, %.2f ms more\n",
	    wk > 0 ? vm / wk : 0, vm - wk);
	printf("  (vm.console_log polled every %d us: the byte is seen up "
	    "to about 0.15 ms late)\n", B_POLL_US);
	printf("  target: median <= %.0f ms: %.2f ms, %s\n\n",
	    B_TARGET_START_MS, vm, b_verdict(vm <= B_TARGET_START_MS));
	vc_close(&poller);
	vc_close(&rw);
}

/* ------------------------------------------------------------------------ */
/* b) Round trips. */

/*
 * Send n request lines (text, len bytes) on a fresh connection as fast
 * as the socket takes them while reading the answers; each answer must
 * be a result (its first bytes, {"jsonrpc":"2.0","id":N,"result":...,
 * say so).  Returns the ms from the first byte sent to the last answer.
 */
static double
b_pipeline(const char *text, size_t len, size_t n)
{
	size_t sent = 0, answers = 0, hl = 0, i;
	char buf[65536], head[65];
	struct pollfd pfd;
	struct vc c;
	double t0;
	ssize_t r;

	vc_connect(&c, b_vd->rw);
	fcntl(c.fd, F_SETFL, O_NONBLOCK);
	t0 = b_now_ms();
	while (answers < n) {
		pfd = (struct pollfd){ c.fd, POLLIN | (sent < len ? POLLOUT :
		    0), 0 };
		if (poll(&pfd, 1, VD_TIMEOUT_MS) <= 0)
			fail_msg("pipeline: stuck after %zu answers", answers);
		if ((pfd.revents & POLLOUT) && sent < len) {
			r = send(c.fd, text + sent, len - sent, MSG_NOSIGNAL);
			if (r > 0)
				sent += (size_t)r;
			else if (r == -1 && errno != EAGAIN)
				fail_msg("pipeline: send: %s", strerror(errno));
		}
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		if ((r = read(c.fd, buf, sizeof(buf))) == 0)
			fail_msg("pipeline: vmmd closed after %zu answers",
			    answers);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r < 0)
			fail_msg("pipeline: read: %s", strerror(errno));
		for (i = 0; i < (size_t)r; i++) {
			if (buf[i] != '\n') {
				if (hl < sizeof(head) - 1)
					head[hl++] = buf[i];
				continue;
			}
			head[hl] = '\0';
			if (strstr(head, "\"result\":") == NULL)
				fail_msg("pipeline: answer %zu: %s...", answers,
				    head);
			answers++;
			hl = 0;
		}
	}
	vc_close(&c);
	return b_now_ms() - t0;
}

/* n vm.info request lines for name, with ids from 1. */
static char *
b_info_requests(size_t n, const char *name, size_t *len)
{
	size_t cap = n * 96, off = 0, i;
	char *text = malloc(cap);

	if (text == NULL)
		fail_msg("out of memory");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, cap - off,
		    "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"vm.info\","
		    "\"params\":{\"name\":\"%s\"}}\n", i + 1, name);
	*len = off;
	return text;
}

/* One client of the latency runs. */
struct b_client {
	struct vc c;
	double sent_at;		/* 0: nothing in flight */
	double next_at;		/* paced: when to send the next */
	unsigned int done;
};

static void
b_client_send(struct b_client *cl, double now)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"vm.info\",\"params\":{\"name\":\"b\"}}\n";

	vc_send(&cl->c, req, sizeof(req) - 1);
	cl->sent_at = now;
}

/*
 * 100 clients, per_client requests each, closed loop (interval 0) or
 * one request every interval ms per client.  Latencies go to lat (ms);
 * returns the requests per second achieved.
 */
static double
b_clients(double *lat, unsigned int per_client, double interval)
{
	static struct b_client cl[B_CLIENTS];
	struct pollfd pfd[B_CLIENTS];
	unsigned int i, nlat = 0, total = B_CLIENTS * per_client;
	double t0, now, wait, soonest;
	json_t *resp;
	int timeout;

	for (i = 0; i < B_CLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		vc_connect(&cl[i].c, b_vd->ro);
	}
	t0 = b_now_ms();
	for (i = 0; i < B_CLIENTS; i++)
		cl[i].next_at = t0 + interval * i / B_CLIENTS;
	while (nlat < total) {
		now = b_now_ms();
		soonest = now + 1000;
		for (i = 0; i < B_CLIENTS; i++) {
			if (cl[i].sent_at == 0 && cl[i].done < per_client &&
			    cl[i].next_at <= now)
				b_client_send(&cl[i], now);
			if (cl[i].sent_at == 0 && cl[i].done < per_client &&
			    cl[i].next_at < soonest)
				soonest = cl[i].next_at;
			pfd[i] = (struct pollfd){ cl[i].c.fd, POLLIN, 0 };
		}
		wait = soonest - b_now_ms();
		timeout = wait <= 0 ? 0 : (int)wait + (wait > (int)wait);
		if (poll(pfd, B_CLIENTS, timeout) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		for (i = 0; i < B_CLIENTS; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			if ((resp = vc_next(&cl[i].c, 0)) == NULL)
				continue;
			now = b_now_ms();
			if (json_object_get(resp, "result") == NULL)
				fail_msg("client %u: %s", i, vd_dump(resp));
			json_decref(resp);
			lat[nlat++] = now - cl[i].sent_at;
			cl[i].next_at = interval > 0 ? cl[i].next_at +
			    interval : now;
			cl[i].sent_at = 0;
			cl[i].done++;
		}
	}
	now = b_now_ms();
	for (i = 0; i < B_CLIENTS; i++)
		vc_close(&cl[i].c);
	return (double)total * 1000.0 / (now - t0);
}

static void
bench_rpc(void)
{
	static double lat[B_CLIENTS * (B_CLOSED_PER_CLIENT >
	    B_PACED_PER_CLIENT ? B_CLOSED_PER_CLIENT : B_PACED_PER_CLIENT)];
	double ms, rps, p50, p99, max;
	size_t len, n;
	char *text;

	text = b_info_requests(B_PIPELINED / 10, "b", &len);
	b_pipeline(text, len, B_PIPELINED / 10);	/* warm-up */
	free(text);
	text = b_info_requests(B_PIPELINED, "b", &len);
	ms = b_pipeline(text, len, B_PIPELINED);
	free(text);
	rps = B_PIPELINED * 1000.0 / ms;
	printf("b) vm.info\n");
	printf("  pipelined on one connection: %d in %.0f ms, %.0f/s\n",
	    B_PIPELINED, ms, rps);
	printf("  target: >= %.0f/s: %s\n", B_TARGET_RPS,
	    b_verdict(rps >= B_TARGET_RPS));

	n = B_CLIENTS * B_CLOSED_PER_CLIENT;
	rps = b_clients(lat, B_CLOSED_PER_CLIENT, 0);
	max = b_quantile(lat, n, 1.0);
	p50 = b_quantile(lat, n, 0.5);
	p99 = b_quantile(lat, n, 0.99);
	printf("  %d clients, closed loop (each sends its next request on "
	    "the answer):\n    %zu requests, %.0f/s; latency p50 %.3f ms, "
	    "p99 %.3f ms, max %.3f ms\n", B_CLIENTS, n, rps, p50, p99, max);
	printf("    target: p99 <= %.0f ms: %s\n", B_TARGET_P99_MS,
	    b_verdict(p99 <= B_TARGET_P99_MS));

	n = B_CLIENTS * B_PACED_PER_CLIENT;
	rps = b_clients(lat, B_PACED_PER_CLIENT, B_PACED_MS);
	max = b_quantile(lat, n, 1.0);
	p50 = b_quantile(lat, n, 0.5);
	p99 = b_quantile(lat, n, 0.99);
	printf("  %d clients, paced (each one request every %d ms):\n"
	    "    %zu requests, %.0f/s; latency p50 %.3f ms, p99 %.3f ms, "
	    "max %.3f ms\n", B_CLIENTS, B_PACED_MS, n, rps, p50, p99, max);
	printf("    target: p99 <= %.0f ms: %s\n\n", B_TARGET_P99_MS,
	    b_verdict(p99 <= B_TARGET_P99_MS));
}

/* ------------------------------------------------------------------------ */
/* c) and d) Definitions. */

/* The text of vm.define for a bench_boot VM named name, id id. */
static char *
b_define_request(const char *name, size_t id)
{
	json_t *req;
	char *text;

	req = json_pack("{s:s,s:I,s:s,s:{s:o}}", "jsonrpc", "2.0", "id",
	    (json_int_t)id, "method", "vm.define", "params", "definition",
	    vd_def(name, "bench_boot", NULL));
	if (req == NULL || (text = json_dumps(req, JSON_COMPACT)) == NULL)
		fail_msg("out of memory");
	json_decref(req);
	return text;
}

static long
b_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			kib = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return kib;
}

static void
bench_define(void)
{
	char name[32], *text, *all;
	size_t i, len, off, cap;
	double t0, ms, rate;
	json_t *resp;
	struct vc c;

	vc_connect(&c, b_vd->rw);
	t0 = b_now_ms();
	for (i = 0; i < B_DEFINES; i++) {
		snprintf(name, sizeof(name), "d%05zu", i);
		text = b_define_request(name, i + 1);
		vc_send_line(&c, text);
		free(text);
		if ((resp = vc_response(&c, VD_TIMEOUT_MS)) == NULL ||
		    json_object_get(resp, "result") == NULL)
			fail_msg("vm.define %s: %s", name, vd_dump(resp));
		json_decref(resp);
	}
	ms = b_now_ms() - t0;
	vc_close(&c);
	rate = B_DEFINES * 1000.0 / ms;
	printf("c) durable vm.define, one at a time on one connection\n");
	printf("  %d in %.0f ms: %.0f/s (%.3f ms each)\n", B_DEFINES, ms, rate,
	    ms / B_DEFINES);
	printf("  target: >= %.0f/s: %s\n\n", B_TARGET_DEFINES,
	    b_verdict(rate >= B_TARGET_DEFINES));

	/* The rest of the 10000, pipelined. */
	cap = (size_t)(B_RSS_DEFS - B_DEFINES) * 512;
	if ((all = malloc(cap)) == NULL)
		fail_msg("out of memory");
	for (off = 0, i = B_DEFINES; i < B_RSS_DEFS; i++) {
		snprintf(name, sizeof(name), "d%05zu", i);
		text = b_define_request(name, i + 1);
		len = strlen(text);
		if (off + len + 1 > cap)
			fail_msg("definition requests larger than planned");
		memcpy(all + off, text, len);
		all[off + len] = '\n';
		off += len + 1;
		free(text);
	}
	b_pipeline(all, off, B_RSS_DEFS - B_DEFINES);
	free(all);
}

static void
bench_rss(void)
{
	long idle = b_status_kib(b_vd->pid, "VmRSS"), rss, after, hwm;
	double t0, ms;
	struct vc c;
	json_t *v;

	vc_connect(&c, b_vd->rw);
	v = vc_result(&c, "host.info", NULL);
	if (vd_int(v, "vms") != B_RSS_DEFS + 1)
		fail_msg("host.info: %s, want %d VMs", vd_dump(v),
		    B_RSS_DEFS + 1);
	json_decref(v);
	rss = b_status_kib(b_vd->pid, "VmRSS");
	t0 = b_now_ms();
	v = vc_result(&c, "vm.list", NULL);
	ms = b_now_ms() - t0;
	if (json_array_size(v) != B_RSS_DEFS + 1)
		fail_msg("vm.list: %zu VMs", json_array_size(v));
	json_decref(v);
	after = b_status_kib(b_vd->pid, "VmRSS");
	hwm = b_status_kib(b_vd->pid, "VmHWM");
	vc_close(&c);
	(void)idle;
	printf("d) vmmd memory with %d definitions\n", B_RSS_DEFS + 1);
	printf("  VmRSS %.1f MiB; after a vm.list of them all (%.0f ms) "
	    "%.1f MiB; peak (VmHWM) %.1f MiB\n", rss / 1024.0, ms,
	    after / 1024.0, hwm / 1024.0);
	printf("  target: <= %.0f MiB: %s\n", B_TARGET_RSS_MIB,
	    b_verdict(after / 1024.0 <= B_TARGET_RSS_MIB));
}

int
main(int argc, char **argv)
{
	unsigned int runs = B_RUNS_DEF;
	const char *why;
	long idle;

	if (argc > 2 || (argc == 2 && ((runs = (unsigned int)atoi(argv[1])) <
	    1 || runs > B_RUNS_MAX))) {
		fprintf(stderr, "usage: bench_vmmd [runs (1..%d)]\n",
		    B_RUNS_MAX);
		return 2;
	}
	if (!vmtest_have_kvm(&why)) {
		printf("bench_vmmd: skipped: %s\n", why);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	atexit(b_cleanup);
	b_vd = vd_start(NULL);
	idle = b_status_kib(b_vd->pid, "VmRSS");
	printf("bench_vmmd: vmmd pid %d, VmRSS at start %.1f MiB\n\n",
	    (int)b_vd->pid, idle / 1024.0);
	bench_start(runs);
	bench_rpc();
	bench_define();
	bench_rss();
	vd_passed(b_vd);
	return 0;
}
