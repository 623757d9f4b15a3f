/*
 * bench_worker.c: benchmark (prints figures; not a timed test) of booting
 * one tiny guest: vmm-worker against qemu-system-x86_64 -M microvm and
 * -M pc, all with KVM, on the same 64 KiB image, in one run.
 *
 * Usage: bench_worker [runs]	(default 20)
 *
 * The guest (tests/guests/bench_boot.S) is a flat firmware-style image
 * started at the real-mode reset vector: QEMU maps it with -bios (below
 * 4 GiB and at 0xF0000) and resets into it; the worker loads it raw at
 * 0xF0000 and enters it at 0xFFFF0 (CS 0xF000, IP 0xFFF0).  It writes '!'
 * to COM1 and 0 to a debug-exit port at 0x501 (QEMU: isa-debug-exit,
 * status 1; the worker: its debug-exit device, status 32).  QEMU cannot
 * run a raw flat image any other way without firmware of its own, and a
 * -kernel boot (Multiboot) would run its option ROM first: -bios keeps
 * the guest code and the path to it identical.
 *
 * For each contender and run: the time from just before fork to the first
 * console byte read from its stdout pipe, and to its exit (wait4), and its
 * peak RSS (wait4's ru_maxrss).  The contenders take turns run by run so
 * that drift hits them alike.  The worker runs as it runs in production:
 * sandboxed (as root it drops to "nobody"); "vmm-worker -S" is shown apart
 * as a diagnostic, and so is printf(1) printing '!': the floor of any
 * process started this way on this machine at this moment.  Also shown:
 * the least disturbed run and the CPU time (user + system) of each, since
 * wall times on a busy machine mostly measure the scheduler.  Medians,
 * 90th percentiles and ratios are printed, then the targets: first
 * byte within 3 ms (median), at least 10 times sooner than QEMU microvm,
 * and worker RSS at most 3 MiB beyond the guest memory it touched.  That
 * last figure comes from a live worker (the same image with no debug-exit
 * port, so the guest stays halted): its VmHWM minus the resident pages of
 * its guest RAM mappings (/proc/pid/smaps, "/memfd:guest-ram").
 *
 * A forked child starts with the parent's anonymous pages counted in its
 * RSS, and exec records that peak too; the benchmark prints its own
 * RssAnon so it is visible that this floor is below every figure.
 *
 * When QEMU is missing and this runs as root, it installs Debian's
 * qemu-system-x86 (apt-get); otherwise it says why it cannot compare.
 *
 * Exit status: 0 when the benchmark ran, whatever the verdict, and when
 * it cannot run (no /dev/kvm: the reason is printed); 1 when the worker
 * does not behave (no '!', wrong status).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"
#include "workertest.h"

#define BENCH_DEF_RUNS		20
#define BENCH_MAX_RUNS		1000
#define BENCH_WARMUP		2	/* unmeasured runs per contender */
#define BENCH_TIMEOUT_MS	30000
#define BENCH_ARGV_MAX		32
#define BENCH_UUID		"0b5e4c1d-2a3f-4e5d-8c7b-6a5f4e3d2c1b"
#define BENCH_QEMU		"qemu-system-x86_64"
#define BENCH_GUEST		WT_GUEST("bench_boot")
#define BENCH_MEM_MIB		2	/* guest RAM, both sides */

#define BENCH_TARGET_FIRST_MS	3.0
#define BENCH_TARGET_RATIO	10.0
#define BENCH_TARGET_RSS_KIB	(3 * 1024)

struct bench_contender {
	const char *name;
	char *argv[BENCH_ARGV_MAX];
	int status;		/* the exit status a good run ends with */
	bool diagnostic;	/* shown, but not a target's subject */
	bool usable;
	char why[512];		/* why it is not usable */
	unsigned int n;
	double first_ms[BENCH_MAX_RUNS];
	double exit_ms[BENCH_MAX_RUNS];
	double rss_kib[BENCH_MAX_RUNS];
	double cpu_ms[BENCH_MAX_RUNS];	/* user + system time */
};

enum {
	BENCH_WORKER, BENCH_WORKER_NOSB, BENCH_FLOOR, BENCH_MICROVM, BENCH_PC,
	BENCH_N
};

static struct bench_contender bench[BENCH_N];
static char bench_dir[64];	/* definitions and the run directory */

static double
bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------ */
/* Set-up. */

/* Write the worker's definition; debug_exit false for the live probe. */
static int
bench_write_def(const char *path, bool debug_exit)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "{\"name\": \"bench\", \"uuid\": \"" BENCH_UUID "\", "
	    "\"memory\": {\"size_mib\": %d}, \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"%s\", \"load_address\": \"0xF0000\", "
	    "\"entry\": \"0xFFFF0\", \"mode\": \"real\"}, "
	    "\"devices\": {\"debug_exit\": %s}}\n", BENCH_MEM_MIB, BENCH_GUEST,
	    debug_exit ? "true" : "false");
	return fclose(f) == 0 ? 0 : -1;
}

/* argv from a NULL-terminated list of strings (copied). */
static void
bench_argv(struct bench_contender *c, const char *const *args)
{
	size_t i;

	for (i = 0; args[i] != NULL && i < BENCH_ARGV_MAX - 1; i++)
		c->argv[i] = strdup(args[i]);
	c->argv[i] = NULL;
}

static void
bench_worker_argv(struct bench_contender *c, bool sandbox, const char *def)
{
	char run[96];
	const char *args[12];
	size_t n = 0;

	snprintf(run, sizeof(run), "%s/run", bench_dir);
	args[n++] = WT_WORKER;
	if (!sandbox)
		args[n++] = "-S";
	else if (geteuid() == 0) {
		args[n++] = "-u";
		args[n++] = "nobody";
	}
	args[n++] = "-r";
	args[n++] = run;
	args[n++] = def;
	args[n] = NULL;
	bench_argv(c, args);
}

static void
bench_qemu_argv(struct bench_contender *c, const char *machine)
{
	char mem[16];
	const char *args[] = {
		BENCH_QEMU, "-M", machine, "-accel", "kvm", "-nodefaults",
		"-no-user-config", "-nographic", "-m", mem, "-bios",
		BENCH_GUEST, "-serial", "stdio", "-device",
		"isa-debug-exit,iobase=0x501", NULL
	};

	snprintf(mem, sizeof(mem), "%d", BENCH_MEM_MIB);
	bench_argv(c, args);
}

/* Is QEMU on PATH?  If not, install it as root; else say why not. */
static bool
bench_qemu_present(char *why, size_t len)
{
	int st;

	if (system("command -v " BENCH_QEMU " >/dev/null 2>&1") == 0)
		return true;
	if (geteuid() != 0) {
		snprintf(why, len, BENCH_QEMU " is not installed and this is "
		    "not root: apt-get install qemu-system-x86 to compare");
		return false;
	}
	printf("installing qemu-system-x86 (apt-get)...\n");
	fflush(stdout);
	st = system("DEBIAN_FRONTEND=noninteractive apt-get install -y "
	    "--no-install-recommends qemu-system-x86 >/dev/null 2>&1 || "
	    "{ apt-get update >/dev/null 2>&1 && "
	    "DEBIAN_FRONTEND=noninteractive apt-get install -y "
	    "--no-install-recommends qemu-system-x86 >/dev/null 2>&1; }");
	if (st == 0 && system("command -v " BENCH_QEMU " >/dev/null 2>&1")
	    == 0)
		return true;
	snprintf(why, len, "apt-get install qemu-system-x86 failed");
	return false;
}

static int
bench_setup(char *def, size_t deflen, char *probe_def, size_t probelen)
{
	static const char *const floor_args[] = { "printf", "!", NULL };
	char why[256] = "";
	bool qemu;
	int i;

	snprintf(bench_dir, sizeof(bench_dir), "/tmp/vmmbench.XXXXXX");
	if (mkdtemp(bench_dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(def, deflen, "%s/def.json", bench_dir);
	snprintf(probe_def, probelen, "%s/probe.json", bench_dir);
	if (bench_write_def(def, true) != 0 ||
	    bench_write_def(probe_def, false) != 0) {
		perror("definition");
		return -1;
	}
	bench[BENCH_WORKER].name = "vmm-worker";
	bench[BENCH_WORKER].status = WORKER_DEBUG_EXIT_BASE;
	bench_worker_argv(&bench[BENCH_WORKER], true, def);
	bench[BENCH_WORKER_NOSB].name = "vmm-worker -S";
	bench[BENCH_WORKER_NOSB].status = WORKER_DEBUG_EXIT_BASE;
	bench[BENCH_WORKER_NOSB].diagnostic = true;
	bench_worker_argv(&bench[BENCH_WORKER_NOSB], false, def);
	/* The floor: fork, exec and exit of a tiny program printing '!'. */
	bench[BENCH_FLOOR].name = "printf (floor)";
	bench[BENCH_FLOOR].status = 0;
	bench[BENCH_FLOOR].diagnostic = true;
	bench_argv(&bench[BENCH_FLOOR], floor_args);
	bench[BENCH_MICROVM].name = "qemu -M microvm";
	bench[BENCH_MICROVM].status = 1;
	bench_qemu_argv(&bench[BENCH_MICROVM], "microvm");
	bench[BENCH_PC].name = "qemu -M pc";
	bench[BENCH_PC].status = 1;
	bench_qemu_argv(&bench[BENCH_PC], "pc");
	qemu = bench_qemu_present(why, sizeof(why));
	for (i = 0; i < BENCH_N; i++) {
		bench[i].usable = i < BENCH_MICROVM || qemu;
		if (!bench[i].usable)
			snprintf(bench[i].why, sizeof(bench[i].why), "%s", why);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* One run. */

struct bench_run {
	double first_ms, exit_ms, cpu_ms;
	long maxrss_kib;
	int status;		/* exit status or 128 + signal */
	char out[64];		/* what it printed (the start of it) */
	size_t outlen;
	char err[2048];		/* its stderr (the start of it) */
};

/*
 * Start argv with stdout on a pipe and stderr on a file; out_fd gets the
 * pipe's read end.  Returns the pid or -1.
 */
static pid_t
bench_spawn(char *const *argv, int *out_fd, int err_fd)
{
	int p[2], devnull;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* Read what is there; false at the end of the stream. */
static bool
bench_read(int fd, struct bench_run *r)
{
	char buf[256];
	ssize_t n;
	size_t k;

	n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return n == -1 && errno == EINTR;
	k = (size_t)n;
	if (k > sizeof(r->out) - 1 - r->outlen)
		k = sizeof(r->out) - 1 - r->outlen;
	memcpy(r->out + r->outlen, buf, k);
	r->outlen += k;
	r->out[r->outlen] = '\0';
	return true;
}

static void
bench_read_err(int fd, struct bench_run *r)
{
	char *p;
	ssize_t n;

	n = pread(fd, r->err, sizeof(r->err) - 1, 0);
	r->err[n > 0 ? n : 0] = '\0';
	/* One line in the report. */
	for (p = r->err; *p != '\0'; p++) {
		if (*p == '\n')
			*p = ' ';
	}
}

/* Run argv once: 0, or -1 (timeout or spawn failure: r->err says). */
static int
bench_run(char *const *argv, struct bench_run *r)
{
	struct pollfd pfd;
	struct rusage ru;
	double t0, left;
	int out_fd, err_fd, st;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->first_ms = -1;
	if ((err_fd = open(bench_dir, O_TMPFILE | O_RDWR | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(r->err, sizeof(r->err), "O_TMPFILE: %s",
		    strerror(errno));
		return -1;
	}
	t0 = bench_now_ms();
	if ((pid = bench_spawn(argv, &out_fd, err_fd)) == -1) {
		snprintf(r->err, sizeof(r->err), "fork: %s", strerror(errno));
		close(err_fd);
		return -1;
	}
	pfd.fd = out_fd;
	pfd.events = POLLIN;
	while ((left = t0 + BENCH_TIMEOUT_MS - bench_now_ms()) > 0) {
		if (poll(&pfd, 1, (int)left + 1) <= 0)
			continue;
		if (!bench_read(out_fd, r))
			break;
		if (r->first_ms < 0 && r->outlen > 0)
			r->first_ms = bench_now_ms() - t0;
		if (r->first_ms >= 0)
			break;
	}
	if (left <= 0)
		kill(pid, SIGKILL);
	if (wait4(pid, &st, 0, &ru) == pid)
		r->exit_ms = bench_now_ms() - t0;
	while (bench_read(out_fd, r))
		;
	close(out_fd);
	bench_read_err(err_fd, r);
	close(err_fd);
	r->maxrss_kib = ru.ru_maxrss;
	r->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return left > 0 ? 0 : -1;
}

/* A run is good when it printed exactly "!" and ended as expected. */
static bool
bench_good(const struct bench_contender *c, const struct bench_run *r)
{
	return r->first_ms >= 0 && r->status == c->status &&
	    strcmp(r->out, "!") == 0;
}

/* One run of c; a bad one makes c unusable, with the reason. */
static void
bench_one(struct bench_contender *c, bool record)
{
	struct bench_run r;

	if (!c->usable)
		return;
	if (bench_run(c->argv, &r) != 0 || !bench_good(c, &r)) {
		c->usable = false;
		snprintf(c->why, sizeof(c->why), "status %d, output \"%s\" "
		    "(expected %d, \"!\"); stderr: %.150s", r.status, r.out,
		    c->status, r.err);
		return;
	}
	if (!record)
		return;
	c->first_ms[c->n] = r.first_ms;
	c->exit_ms[c->n] = r.exit_ms;
	c->rss_kib[c->n] = (double)r.maxrss_kib;
	c->cpu_ms[c->n] = r.cpu_ms;
	c->n++;
}

/* ------------------------------------------------------------------------ */
/* The live worker: its RSS beyond the guest RAM it touched. */

struct bench_mem {
	long hwm_kib, rss_kib, anon_kib, file_kib, shmem_kib;
	long guest_kib;		/* resident pages of guest RAM */
};

/* "Key:   N kB" from /proc/pid/status. */
static long
bench_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Sum of Rss over the mappings of guest RAM (/memfd:guest-ram). */
static long
bench_guest_rss_kib(pid_t pid)
{
	char path[64], line[512];
	unsigned long start, end;
	bool in_guest = false;
	long sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		/* A mapping starts "start-end perms offset dev inode path". */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in_guest = strstr(line, "/memfd:guest-ram") != NULL;
			continue;
		}
		if (in_guest && strncmp(line, "Rss:", 4) == 0)
			sum += strtol(line + 4, NULL, 10);
	}
	fclose(f);
	return sum;
}

/*
 * Start the worker on the probe definition, wait for its '!', read its
 * memory figures, kill it.  0 or -1 (m is then unset).
 */
static int
bench_probe(const char *probe_def, struct bench_mem *m)
{
	struct bench_contender c;
	struct pollfd pfd;
	char buf[16];
	int out_fd, err_fd, st, rc = -1;
	pid_t pid;

	memset(&c, 0, sizeof(c));
	bench_worker_argv(&c, true, probe_def);
	if ((err_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1 ||
	    (pid = bench_spawn(c.argv, &out_fd, err_fd)) == -1)
		return -1;
	pfd.fd = out_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, BENCH_TIMEOUT_MS) == 1 &&
	    read(out_fd, buf, sizeof(buf)) == 1 && buf[0] == '!') {
		/* The guest is halted now; nothing more happens. */
		usleep(50000);
		m->hwm_kib = bench_status_kib(pid, "VmHWM");
		m->rss_kib = bench_status_kib(pid, "VmRSS");
		m->anon_kib = bench_status_kib(pid, "RssAnon");
		m->file_kib = bench_status_kib(pid, "RssFile");
		m->shmem_kib = bench_status_kib(pid, "RssShmem");
		m->guest_kib = bench_guest_rss_kib(pid);
		rc = m->hwm_kib > 0 && m->guest_kib >= 0 ? 0 : -1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(out_fd);
	close(err_fd);
	for (st = 0; c.argv[st] != NULL; st++)
		free(c.argv[st]);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Figures. */

static int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n), nearest rank; v is sorted here. */
static double
bench_quantile(double *v, unsigned int n, double q)
{
	unsigned int i;

	qsort(v, n, sizeof(*v), bench_cmp);
	i = (unsigned int)(q * (double)n + 0.999999);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
bench_print_row(struct bench_contender *c)
{
	if (!c->usable || c->n == 0) {
		printf("  %-15s not measured: %s\n", c->name, c->why);
		return;
	}
	printf("  %-15s %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %8.0f%s\n",
	    c->name, bench_quantile(c->first_ms, c->n, 0.5),
	    bench_quantile(c->first_ms, c->n, 0.9),
	    bench_quantile(c->first_ms, c->n, 0.0),
	    bench_quantile(c->exit_ms, c->n, 0.5),
	    bench_quantile(c->exit_ms, c->n, 0.9),
	    bench_quantile(c->cpu_ms, c->n, 0.5),
	    bench_quantile(c->rss_kib, c->n, 0.5),
	    c->diagnostic ? "  (diagnostic)" : "");
}

static double
bench_median_first(struct bench_contender *c)
{
	return bench_quantile(c->first_ms, c->n, 0.5);
}

static double
bench_median_exit(struct bench_contender *c)
{
	return bench_quantile(c->exit_ms, c->n, 0.5);
}

static void
bench_print_ratios(void)
{
	struct bench_contender *w = &bench[BENCH_WORKER];
	int i;

	for (i = BENCH_MICROVM; i < BENCH_N; i++) {
		if (!bench[i].usable || bench[i].n == 0)
			continue;
		printf("  %-17s first byte %6.1fx later, exit %6.1fx later, "
		    "peak RSS %5.1fx\n", bench[i].name,
		    bench_median_first(&bench[i]) / bench_median_first(w),
		    bench_median_exit(&bench[i]) / bench_median_exit(w),
		    bench_quantile(bench[i].rss_kib, bench[i].n, 0.5) /
		    bench_quantile(w->rss_kib, w->n, 0.5));
	}
}

static const char *
bench_verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void
bench_print_targets(const struct bench_mem *m, bool have_mem)
{
	struct bench_contender *w = &bench[BENCH_WORKER];
	struct bench_contender *q = &bench[BENCH_MICROVM];
	double first = bench_median_first(w), ratio;
	long beyond;

	printf("\ntargets (issue 4)\n");
	printf("  first byte median %.2f ms <= %.1f ms: %s\n", first,
	    BENCH_TARGET_FIRST_MS,
	    bench_verdict(first <= BENCH_TARGET_FIRST_MS));
	if (q->usable && q->n > 0) {
		ratio = bench_median_first(q) / first;
		printf("  QEMU microvm / worker first byte %.1fx >= %.0fx: "
		    "%s\n", ratio, BENCH_TARGET_RATIO,
		    bench_verdict(ratio >= BENCH_TARGET_RATIO));
	} else
		printf("  QEMU microvm comparison: not measured (%s)\n",
		    q->why);
	if (!have_mem) {
		printf("  worker RSS beyond guest memory: not measured\n");
		return;
	}
	beyond = m->hwm_kib - m->guest_kib;
	printf("  worker RSS beyond the guest memory it touched %ld KiB "
	    "<= %d KiB: %s\n", beyond, BENCH_TARGET_RSS_KIB,
	    bench_verdict(beyond <= BENCH_TARGET_RSS_KIB));
}

static void
bench_print_mem(const struct bench_mem *m)
{
	printf("\nlive worker (guest halted after its '!'):\n"
	    "  VmHWM %ld KiB, VmRSS %ld KiB = anon %ld + file %ld + shmem "
	    "%ld KiB\n  guest RAM resident %ld KiB (of %d MiB); peak beyond "
	    "it %ld KiB\n", m->hwm_kib, m->rss_kib, m->anon_kib, m->file_kib,
	    m->shmem_kib, m->guest_kib, BENCH_MEM_MIB,
	    m->hwm_kib - m->guest_kib);
}

/* ------------------------------------------------------------------------ */

/* /proc/loadavg's first three fields and a newline. */
static void
bench_loadavg(char *buf, size_t len)
{
	double a = -1, b = -1, c = -1;
	FILE *f;

	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
			a = b = c = -1;
		fclose(f);
	}
	snprintf(buf, len, "%.2f %.2f %.2f (%ld CPUs)\n", a, b, c,
	    sysconf(_SC_NPROCESSORS_ONLN));
}

static unsigned int
bench_parse_runs(int argc, char **argv)
{
	char *end;
	long v;

	if (argc < 2)
		return BENCH_DEF_RUNS;
	v = strtol(argv[1], &end, 10);
	if (*end != '\0' || v < 1 || v > BENCH_MAX_RUNS) {
		fprintf(stderr, "usage: bench_worker [runs (1..%d)]\n",
		    BENCH_MAX_RUNS);
		exit(1);
	}
	return (unsigned int)v;
}

static void
bench_cleanup(void)
{
	char cmd[128];

	if (bench_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bench_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", bench_dir);
}

int
main(int argc, char **argv)
{
	char def[96], probe_def[96], load[64];
	struct bench_mem m;
	unsigned int runs, r;
	bool have_mem;
	int i, fd;

	runs = bench_parse_runs(argc, argv);
	bench_loadavg(load, sizeof(load));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1) {
		printf("bench_worker: skipped: /dev/kvm: %s\n",
		    strerror(errno));
		return 0;
	}
	close(fd);
	if (bench_setup(def, sizeof(def), probe_def, sizeof(probe_def)) != 0)
		return 1;
	for (r = 0; r < BENCH_WARMUP; r++) {
		for (i = 0; i < BENCH_N; i++)
			bench_one(&bench[i], false);
	}
	for (r = 0; r < runs; r++) {
		for (i = 0; i < BENCH_N; i++)
			bench_one(&bench[i], true);
	}
	have_mem = bench_probe(probe_def, &m) == 0;

	printf("boot to first console byte and to exit, %u runs each, guest "
	    "%s (%d MiB RAM)\nthis process: RssAnon %ld KiB (the floor of a "
	    "forked child's ru_maxrss); load average before: %s", runs,
	    BENCH_GUEST, BENCH_MEM_MIB, bench_status_kib(getpid(), "RssAnon"),
	    load);
	printf("(first/exit: wall time from fork; min: the least disturbed "
	    "run; cpu: user + system time of the process)\n\n");
	printf("  %-15s %7s %7s %7s %7s %7s %7s %8s\n", "", "first", "p90",
	    "min", "exit", "p90", "cpu", "maxrss");
	printf("  %-15s %7s %7s %7s %7s %7s %7s %8s\n", "", "ms", "ms", "ms",
	    "ms", "ms", "ms", "KiB");
	for (i = 0; i < BENCH_N; i++)
		bench_print_row(&bench[i]);
	if (!bench[BENCH_WORKER].usable || bench[BENCH_WORKER].n == 0) {
		bench_cleanup();
		return 1;
	}
	printf("\nagainst vmm-worker (medians)\n");
	bench_print_ratios();
	if (have_mem)
		bench_print_mem(&m);
	bench_print_targets(&m, have_mem);
	bench_cleanup();
	return 0;
}
