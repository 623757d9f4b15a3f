/*
 * vmmdtest.c: run the real vmmd, vmmctl and vmm-worker from cmocka tests
 * (vmmdtest.h).
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#include "base64.h"
#include "testutil.h"
#include "vmmdtest.h"
#include "vmtest.h"
#include "workertest.h"

#define VD_ARGV_MAX	64
#define VD_LOG_TAIL	(48 * 1024)	/* printed of a failed test's log */
#define VD_PIDS_MAX	256

/* The daemon of the running test (one at a time), for vd_teardown. */
static struct vd vd_slot;
static struct vd *vd_cur;

int64_t
vd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
vd_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void
vd_expect_json(const json_t *got, const char *want)
{
	json_error_t jerr;
	json_t *w;

	if ((w = json_loads(want, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		fail_msg("bad expectation %s: %s", want, jerr.text);
	if (!json_equal(got, w))
		fail_msg("got  %s\nwant %s", vd_dump(got), vd_dump(w));
	json_decref(w);
}

const char *
vd_dump(const json_t *v)
{
	static char bufs[4][4096];
	static unsigned int next;
	char *buf = bufs[next++ % 4];
	char *s;

	if (v == NULL)
		return "(nothing)";
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(buf, sizeof(bufs[0]), "%s", s != NULL ? s : "(unprintable)");
	free(s);
	return buf;
}

const char *
vd_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("%s: no string \"%s\"", vd_dump(o), key);
	return json_string_value(v);
}

json_int_t
vd_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s: no integer \"%s\"", vd_dump(o), key);
	return json_integer_value(v);
}

/* ------------------------------------------------------------------------ */
/* Files and directories. */

/* d->dir/name into path (VD_PATH_MAX bytes). */
static void
vd_path(const struct vd *d, char *path, const char *name)
{
	if ((size_t)snprintf(path, VD_PATH_MAX, "%s/%s", d->dir, name) >=
	    VD_PATH_MAX)
		fail_msg("%s/%s: longer than %d bytes", d->dir, name,
		    VD_PATH_MAX - 1);
}

void
vd_write_file(const struct vd *d, const char *name, const char *text,
    char *path)
{
	size_t len = strlen(text);
	FILE *f;

	vd_path(d, path, name);
	if ((f = fopen(path, "we")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0)
		fail_msg("%s: write failed", path);
}

char *
vd_log(const struct vd *d)
{
	char *log = tu_read_file(d->log, NULL);

	if (log == NULL && (log = strdup("")) == NULL)
		fail_msg("out of memory");
	return log;
}

static void
vd_rmtree(const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dir;

	if ((dir = opendir(path)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			vd_rmtree(sub);
		else
			(void)unlink(sub);
	}
	closedir(dir);
	(void)rmdir(path);
}

/* The configuration: the harness's lines, then extra. */
static void
vd_write_conf(struct vd *d, const char *extra)
{
	char path[VD_PATH_MAX], text[4096];
	bool level = extra != NULL && strstr(extra, "log-level") != NULL;

	snprintf(text, sizeof(text),
	    "# vmmdtest.c: one daemon of a test\n"
	    "socket \"%s\"\n"
	    "readonly-socket \"%s\"\n"
	    "state-dir \"%s\"\n"
	    "run-dir \"%s\"\n"
	    "worker \"%s\"\n"
	    "worker-user nobody\n"
	    "socket-group root\n"
	    "%s"
	    "%s",
	    d->rw, d->ro, d->state, d->run, VD_WORKER,
	    level ? "" : "log-level info\n", extra != NULL ? extra : "");
	vd_write_file(d, "vmmd.conf", text, path);
}

struct vd *
vd_prepare(const char *extra)
{
	struct vd *d;

	vmtest_require_kvm();
	if (vd_cur != NULL)
		fail_msg("vd_prepare: one daemon per test");
	d = &vd_slot;
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/vmmdt.XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	vd_cur = d;
	vd_path(d, d->conf, "vmmd.conf");
	vd_path(d, d->rw, "rw.sock");
	vd_path(d, d->ro, "ro.sock");
	vd_path(d, d->state, "state");
	vd_path(d, d->run, "run");
	vd_path(d, d->log, "vmmd.log");
	vd_path(d, d->db, "state/vmmd.db");
	/*
	 * Workers outlive a killed vmmd; as the subreaper the test reaps
	 * them instead of leaving zombies to a container's init.
	 */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	vd_write_conf(d, extra);
	return d;
}

void
vd_append_conf(struct vd *d, const char *text)
{
	FILE *fp;

	if ((fp = fopen(d->conf, "a")) == NULL ||
	    fputs(text, fp) == EOF || fclose(fp) == EOF)
		fail_msg("%s: %s", d->conf, strerror(errno));
}

struct vd *
vd_start(const char *extra)
{
	struct vd *d = vd_prepare(extra);

	vd_spawn(d);
	return d;
}

/* ------------------------------------------------------------------------ */
/* The daemon. */

/* Has vmmd exited (waitpid with flags)?  Sets d->status and d->pid -1. */
static bool
vd_reap(struct vd *d, int flags)
{
	pid_t r;
	int st;

	if (d->pid <= 0)
		return true;
	while ((r = waitpid(d->pid, &st, flags)) == -1 && errno == EINTR)
		;
	if (r == -1 && errno == ECHILD) {
		d->status = -1;		/* reaped by someone else: unknown */
		d->pid = -1;
		return true;
	}
	if (r != d->pid)
		return false;
	d->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	d->pid = -1;
	return true;
}

/* daemon.version on a new connection: does vmmd answer? */
static bool
vd_answers(const struct vd *d, int timeout_ms)
{
	struct vc c;
	json_t *resp;
	bool ok;

	if (vc_open(&c, d->rw) != 0)
		return false;
	vc_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":0,"
	    "\"method\":\"daemon.version\"}");
	resp = vc_response(&c, timeout_ms);
	ok = json_object_get(resp, "result") != NULL;
	json_decref(resp);
	vc_close(&c);
	return ok;
}

void
vd_spawn(struct vd *d)
{
	int64_t end;
	pid_t parent = getpid();
	int fd;

	if (d->pid > 0)
		fail_msg("vd_spawn: vmmd is running already (pid %d)",
		    (int)d->pid);
	if ((d->pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (d->pid == 0) {
		/* A failing test must not leave its daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd == -1)
			_exit(127);
		dprintf(fd, "--- %s -d -f %s (pid %d)\n", VD_VMMD, d->conf,
		    (int)getpid());
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, STDIN_FILENO);
		execl(VD_VMMD, "vmmd", "-d", "-f", d->conf, (char *)NULL);
		dprintf(STDERR_FILENO, "exec %s: %s\n", VD_VMMD,
		    strerror(errno));
		_exit(127);
	}
	end = vd_now_ms() + VD_TIMEOUT_MS;
	for (;;) {
		if (vd_reap(d, WNOHANG))
			fail_msg("vmmd exited with status %d before answering",
			    d->status);
		if (vd_answers(d, (int)(end - vd_now_ms())))
			return;
		if (vd_now_ms() >= end)
			fail_msg("vmmd does not answer on %s after %d ms",
			    d->rw, VD_TIMEOUT_MS);
		vd_sleep_ms(10);
	}
}

int
vd_signal(struct vd *d, int sig)
{
	int64_t end = vd_now_ms() + VD_TIMEOUT_MS;

	if (d->pid <= 0)
		fail_msg("vd_signal: vmmd is not running");
	if (kill(d->pid, sig) == -1)
		fail_msg("kill %d: %s", (int)d->pid, strerror(errno));
	while (!vd_reap(d, WNOHANG)) {
		if (vd_now_ms() >= end) {
			kill(d->pid, SIGKILL);
			vd_reap(d, 0);
			fail_msg("vmmd still running %d ms after signal %d",
			    VD_TIMEOUT_MS, sig);
		}
		vd_sleep_ms(2);
	}
	return d->status;
}

void
vd_passed(struct vd *d)
{
	d->passed = true;
}

/* ------------------------------------------------------------------------ */
/* Workers. */

/* Read /proc/PID/NAME into buf (NUL-terminated); its length, or <= 0. */
static ssize_t
vd_proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Is pid alive (not a zombie)? */
static bool
vd_alive(pid_t pid)
{
	char buf[512], *p;

	if (vd_proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return false;
	/* "pid (comm) S ...": the comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return false;
	return p[2] != 'Z' && p[2] != 'X';
}

/* Is pid a vmm-worker whose command line mentions dir? */
static bool
vd_is_worker_of(pid_t pid, const char *dir)
{
	const char *arg, *base;
	bool match = false;
	char buf[8192];
	ssize_t n;

	if ((n = vd_proc_read(pid, "cmdline", buf, sizeof(buf))) <= 0)
		return false;
	base = strrchr(buf, '/');
	if (strcmp(base != NULL ? base + 1 : buf, "vmm-worker") != 0)
		return false;
	for (arg = buf; arg < buf + n; arg += strlen(arg) + 1)
		if (strstr(arg, dir) != NULL)
			match = true;
	return match;
}

/* The workers the database records, whose executable is the worker. */
static size_t
vd_db_workers(const struct vd *d, pid_t *pids, size_t n, size_t max)
{
	char exe[PATH_MAX], want[PATH_MAX], link[64];
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	ssize_t len;
	pid_t pid;

	if (access(d->db, F_OK) != 0 || realpath(VD_WORKER, want) == NULL)
		return n;
	if (sqlite3_open_v2(d->db, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT pid FROM vm_runtime WHERE pid "
	    "IS NOT NULL", -1, &st, NULL) != SQLITE_OK)
		goto out;
	while (n < max && sqlite3_step(st) == SQLITE_ROW) {
		pid = (pid_t)sqlite3_column_int64(st, 0);
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
		if ((len = readlink(link, exe, sizeof(exe) - 1)) <= 0)
			continue;
		exe[len] = '\0';
		if (strcmp(exe, want) == 0 && vd_alive(pid))
			pids[n++] = pid;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

size_t
vd_workers(const struct vd *d, pid_t *pids, size_t max)
{
	struct dirent *de;
	size_t n = 0, i, j, m;
	DIR *proc;
	pid_t pid;

	if ((proc = opendir("/proc")) != NULL) {
		while (n < max && (de = readdir(proc)) != NULL) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			pid = (pid_t)atoi(de->d_name);
			if (vd_is_worker_of(pid, d->dir) && vd_alive(pid))
				pids[n++] = pid;
		}
		closedir(proc);
	}
	m = vd_db_workers(d, pids, n, max);
	/* Drop the database's pids already found in /proc. */
	for (i = n; i < m; i++) {
		for (j = 0; j < n && pids[j] != pids[i]; j++)
			;
		if (j == n)
			pids[n++] = pids[i];
	}
	return n;
}

/* SIGKILL every worker of d until none is left (or 5 s pass). */
static void
vd_kill_workers(const struct vd *d)
{
	pid_t pids[VD_PIDS_MAX];
	int64_t end = vd_now_ms() + 5000;
	size_t n, i;

	while ((n = vd_workers(d, pids, VD_PIDS_MAX)) > 0 &&
	    vd_now_ms() < end) {
		for (i = 0; i < n; i++)
			(void)kill(pids[i], SIGKILL);
		vd_sleep_ms(5);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	if (n > 0)
		print_error("vmmdtest: %zu workers of %s survive SIGKILL\n",
		    n, d->dir);
}

static void
vd_print_log(const struct vd *d)
{
	char *log = vd_log(d);
	size_t len = strlen(log);
	const char *p = log;

	if (len > VD_LOG_TAIL)
		p = log + len - VD_LOG_TAIL;
	/* Not print_error: cmocka cuts its messages at 1 KiB. */
	fflush(stdout);
	fprintf(stderr, "--- %s%s:\n%s--- end of the log\n", d->log,
	    p != log ? " (its end)" : "", p);
	fflush(stderr);
	free(log);
}

/*
 * After a test that passed: SIGTERM must end vmmd with status 0 and
 * nothing from a sanitizer in its log (leaks show only at exit).  Returns
 * 0, or -1 with the reason printed.  No fail_msg: this runs in teardown.
 */
static int
vd_stop_clean(struct vd *d)
{
	int64_t end = vd_now_ms() + VD_TIMEOUT_MS;
	const char *why = NULL;
	char *log;

	(void)kill(d->pid, SIGTERM);
	while (!vd_reap(d, WNOHANG) && vd_now_ms() < end)
		vd_sleep_ms(2);
	log = vd_log(d);
	if (d->pid > 0)
		why = "vmmd still runs after SIGTERM";
	else if (d->status != 0)
		why = "vmmd's exit status after SIGTERM is not 0";
	else if (strstr(log, "Sanitizer") != NULL ||
	    strstr(log, "runtime error:") != NULL)
		why = "a sanitizer complained in vmmd's log";
	free(log);
	if (why == NULL)
		return 0;
	print_error("vmmdtest: %s (status %d)\n", why, d->status);
	vd_print_log(d);
	return -1;
}

int
vd_teardown(void **state)
{
	struct vd *d = vd_cur;
	int rc = 0;

	(void)state;
	if (d == NULL)
		return 0;
	if (!d->passed)
		vd_print_log(d);
	else if (d->pid > 0)
		rc = vd_stop_clean(d);
	if (d->pid > 0) {
		(void)kill(d->pid, SIGKILL);
		vd_reap(d, 0);
	}
	vd_kill_workers(d);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	vd_rmtree(d->dir);
	vd_cur = NULL;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Programs. */

static pid_t
vd_fork_exec(const char *const *argv, const char *const *env, int out,
    int err)
{
	pid_t parent = getpid(), pid;
	size_t i;
	int fd;

	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if ((fd = open("/dev/null", O_RDONLY)) != -1)
		dup2(fd, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	for (i = 0; env != NULL && env[i] != NULL; i++)
		putenv((char *)(uintptr_t)env[i]);
	execv(argv[0], (char *const *)(uintptr_t)argv);
	dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

void
vd_exec(struct vd_out *o, const char *const *argv, const char *const *env,
    unsigned int timeout_ms)
{
	int64_t end = vd_now_ms() + timeout_ms;
	struct pollfd pfd[2];
	int out[2], err[2], st, left;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1)
		fail_msg("pipe2: %s", strerror(errno));
	pid = vd_fork_exec(argv, env, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	pfd[0] = (struct pollfd){ out[0], POLLIN, 0 };
	pfd[1] = (struct pollfd){ err[0], POLLIN, 0 };
	while (pfd[0].fd != -1 || pfd[1].fd != -1) {
		left = (int)(end - vd_now_ms());
		if (left <= 0)
			break;
		if (poll(pfd, 2, left) <= 0)
			continue;
		if (pfd[0].revents != 0 &&
		    !wt_drain(pfd[0].fd, &o->out, &o->out_len)) {
			close(pfd[0].fd);
			pfd[0].fd = -1;
		}
		if (pfd[1].revents != 0 &&
		    !wt_drain(pfd[1].fd, &o->err, &o->err_len)) {
			close(pfd[1].fd);
			pfd[1].fd = -1;
		}
	}
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (vd_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("%s did not end within %u ms; stdout:\n%s\n"
			    "stderr:\n%s", argv[0], timeout_ms,
			    o->out != NULL ? o->out : "",
			    o->err != NULL ? o->err : "");
		}
		vd_sleep_ms(1);
	}
	if (pfd[0].fd != -1)
		close(pfd[0].fd);
	if (pfd[1].fd != -1)
		close(pfd[1].fd);
	o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (o->out == NULL && (o->out = calloc(1, 1)) == NULL)
		fail_msg("out of memory");
	if (o->err == NULL && (o->err = calloc(1, 1)) == NULL)
		fail_msg("out of memory");
}

void
vd_ctl(const struct vd *d, struct vd_out *o, ...)
{
	const char *argv[VD_ARGV_MAX + 1];
	char env[VD_PATH_MAX + 32];
	const char *envv[2] = { env, NULL };
	size_t n = 0;
	va_list ap;

	argv[n++] = VD_VMMCTL;
	va_start(ap, o);
	while ((argv[n] = va_arg(ap, const char *)) != NULL)
		if (++n == VD_ARGV_MAX)
			fail_msg("vd_ctl: too many arguments");
	va_end(ap);
	snprintf(env, sizeof(env), "VMM_CONNECT=%s", d->rw);
	vd_exec(o, argv, envv, VD_TIMEOUT_MS);
}

void
vd_out_free(struct vd_out *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------------------ */
/* The raw client. */

int
vc_open(struct vc *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((c->notes = json_array()) == NULL)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		vc_close(c);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		err = -errno;
		vc_close(c);
		return err;
	}
	return 0;
}

int
vd_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fail_msg("free port: %s", strerror(errno));
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* A TLS client context for cert/key (NULL: none) trusting ca. */
static SSL_CTX *
vc_tls_ctx(const char *cert, const char *key, const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    (cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, cert) !=
	    1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
	    1)))
		fail_msg("TLS client context for %s: %s", cert != NULL ? cert :
		    "no certificate", ERR_reason_error_string(ERR_get_error()));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int
vc_open_tls(struct vc *c, int port, const char *cert, const char *key,
    const char *ca, char *why, size_t whylen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	SSL_CTX *ctx;
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((c->notes = json_array()) == NULL)
		return -ENOMEM;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ctx = vc_tls_ctx(cert, key, ca);
	c->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);	/* the SSL holds a reference */
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set1_host(c->ssl, "localhost") != 1)
		fail_msg("SSL_new: %s", ERR_reason_error_string(
		    ERR_get_error()));
	ERR_clear_error();
	if (SSL_connect(c->ssl) != 1) {
		if (why != NULL)
			snprintf(why, whylen, "%s", ERR_reason_error_string(
			    ERR_peek_error()) != NULL ? ERR_reason_error_string(
			    ERR_peek_error()) : "handshake failed");
		ERR_clear_error();
		vc_close(c);
		return -EPROTO;
	}
	return 0;
}

void
vc_connect_tls(struct vc *c, int port, const char *cert, const char *key,
    const char *ca)
{
	char why[128];

	if (vc_open_tls(c, port, cert, key, ca, why, sizeof(why)) != 0)
		fail_msg("TLS to 127.0.0.1:%d with %s: %s", port, cert, why);
}

void
vc_connect(struct vc *c, const char *path)
{
	int rc;

	if ((rc = vc_open(c, path)) != 0)
		fail_msg("connect %s: %s", path, strerror(-rc));
}

void
vc_close(struct vc *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	json_decref(c->notes);
	c->notes = NULL;
}

void
vc_send(struct vc *c, const char *text, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if (c->ssl != NULL) {
			if ((n = SSL_write(c->ssl, text, (int)len)) <= 0) {
				ERR_clear_error();
				c->eof = true;
				return;
			}
			text += n;
			len -= (size_t)n;
			continue;
		}
		n = send(c->fd, text, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET)) {
			c->eof = true;
			return;
		}
		if (n == -1)
			fail_msg("send: %s", strerror(errno));
		text += n;
		len -= (size_t)n;
	}
}

void
vc_send_line(struct vc *c, const char *text)
{
	vc_send(c, text, strlen(text));
	vc_send(c, "\n", 1);
}

/* Take one complete line out of c->buf, or return NULL. */
static json_t *
vc_take_line(struct vc *c, bool *got)
{
	json_error_t jerr;
	char *nl;
	size_t len;
	json_t *msg;

	*got = false;
	while (c->len > 0 && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
		len = (size_t)(nl - c->buf);
		if (len > 0 && c->buf[len - 1] == '\r')
			len--;
		if (len == 0) {
			c->len -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->len);
			continue;
		}
		msg = json_loadb(c->buf, len, JSON_REJECT_DUPLICATES, &jerr);
		if (msg == NULL)
			fail_msg("not JSON from vmmd (%s): %.*s", jerr.text,
			    (int)(len > 400 ? 400 : len), c->buf);
		c->len -= (size_t)(nl + 1 - c->buf);
		memmove(c->buf, nl + 1, c->len);
		*got = true;
		return msg;
	}
	return NULL;
}

/* vc_fill's read over TLS: a record may hold no application data. */
static bool
vc_fill_tls(struct vc *c)
{
	unsigned long e;
	int n;

	ERR_clear_error();
	n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
	if (n > 0) {
		c->len += (size_t)n;
		return true;
	}
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return true;
	case SSL_ERROR_SSL:
		e = ERR_peek_error();
		snprintf(c->alert, sizeof(c->alert), "%s",
		    ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "error");
		break;
	default:
		break;
	}
	ERR_clear_error();
	c->eof = true;
	return false;
}

/* Read what the socket has, waiting up to ms; false on timeout or EOF. */
static bool
vc_fill(struct vc *c, int ms)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };
	size_t cap;
	ssize_t n;
	char *nb;

	if (c->eof || ((c->ssl == NULL || SSL_pending(c->ssl) == 0) &&
	    poll(&pfd, 1, ms < 0 ? 0 : ms) <= 0))
		return false;
	if (c->cap - c->len < 65536) {
		cap = c->cap == 0 ? 131072 : c->cap * 2;
		if ((nb = realloc(c->buf, cap)) == NULL)
			fail_msg("out of memory");
		c->buf = nb;
		c->cap = cap;
	}
	if (c->ssl != NULL)
		return vc_fill_tls(c);
	n = read(c->fd, c->buf + c->len, c->cap - c->len);
	if (n == -1 && errno == EINTR)
		return true;
	if (n <= 0) {
		c->eof = true;
		return false;
	}
	c->len += (size_t)n;
	return true;
}

json_t *
vc_next(struct vc *c, int timeout_ms)
{
	int64_t end = vd_now_ms() + timeout_ms;
	json_t *msg;
	bool got;

	for (;;) {
		msg = vc_take_line(c, &got);
		if (got)
			return msg;
		if (!vc_fill(c, (int)(end - vd_now_ms())) &&
		    (c->eof || vd_now_ms() >= end))
			return NULL;
	}
}

static bool
vc_is_notification(const json_t *msg)
{
	return json_object_get(msg, "method") != NULL &&
	    json_object_get(msg, "id") == NULL;
}

json_t *
vc_response(struct vc *c, int timeout_ms)
{
	int64_t end = vd_now_ms() + timeout_ms;
	json_t *msg;

	for (;;) {
		msg = vc_next(c, (int)(end - vd_now_ms()));
		if (msg == NULL || !vc_is_notification(msg))
			return msg;
		json_array_append_new(c->notes, msg);
	}
}

bool
vc_wait_eof(struct vc *c, int timeout_ms)
{
	int64_t end = vd_now_ms() + timeout_ms;
	json_t *msg;

	while (!c->eof) {
		if (vd_now_ms() >= end)
			return false;
		msg = vc_next(c, (int)(end - vd_now_ms()));
		if (msg != NULL && !vc_is_notification(msg))
			fail_msg("a message while waiting for the end of the "
			    "connection: %s", vd_dump(msg));
		json_decref(msg);
	}
	return true;
}

json_t *
vc_call(struct vc *c, const char *method, json_t *params)
{
	json_int_t id = ++c->next_id;
	json_t *req, *resp, *rid;
	char *text;

	req = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", id,
	    "method", method);
	if (req == NULL)
		fail_msg("out of memory");
	if (params != NULL)
		json_object_set_new(req, "params", params);
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL)
		fail_msg("out of memory");
	json_decref(req);
	vc_send_line(c, text);
	free(text);
	if ((resp = vc_response(c, VD_TIMEOUT_MS)) == NULL)
		fail_msg("%s: no answer within %d ms%s", method,
		    VD_TIMEOUT_MS, c->eof ? " (connection closed)" : "");
	rid = json_object_get(resp, "id");
	if (!json_is_integer(rid) || json_integer_value(rid) != id)
		fail_msg("%s: the answer is not to id %lld: %s", method,
		    (long long)id, vd_dump(resp));
	return resp;
}

json_t *
vc_result(struct vc *c, const char *method, json_t *params)
{
	json_t *resp = vc_call(c, method, params), *res;

	if ((res = json_object_get(resp, "result")) == NULL)
		fail_msg("%s failed: %s", method, vd_dump(resp));
	json_incref(res);
	json_decref(resp);
	return res;
}

int
vc_error(struct vc *c, const char *method, json_t *params, json_t **error)
{
	json_t *resp = vc_call(c, method, params), *e;
	int code;

	if ((e = json_object_get(resp, "error")) == NULL)
		fail_msg("%s succeeded but should not: %s", method,
		    vd_dump(resp));
	code = (int)vd_int(e, "code");
	if (error != NULL)
		*error = json_incref(e);
	json_decref(resp);
	return code;
}

/* ------------------------------------------------------------------------ */
/* VMs. */

/* How each test guest is loaded (tests/guests/NAME.S says). */
static const struct vd_guest {
	const char *name;
	const char *load, *entry;	/* entry NULL: the load address */
	const char *mode;
	int mib;
} vd_guests[] = {
	{ "ctl_count", "0x100000", NULL, "long", 16 },
	{ "sb_wait", "0x1000", NULL, "real", 2 },
	{ "hello", "0x1000", NULL, "real", 2 },
	{ "bench_boot", "0xF0000", "0xFFFF0", "real", 2 },
};

json_t *
vd_def(const char *name, const char *guest, const char *extra)
{
	const struct vd_guest *g = NULL;
	char kernel[PATH_MAX];
	json_error_t jerr;
	json_t *def, *ex;
	size_t i;

	for (i = 0; i < sizeof(vd_guests) / sizeof(vd_guests[0]); i++)
		if (strcmp(vd_guests[i].name, guest) == 0)
			g = &vd_guests[i];
	if (g == NULL)
		fail_msg("vd_def: no guest %s in the harness's table", guest);
	snprintf(kernel, sizeof(kernel), "%s/tests/guests/%s.bin", BUILD_DIR,
	    guest);
	def = json_pack("{s:s,s:{s:i},s:{s:s,s:s,s:s,s:s}}", "name", name,
	    "memory", "size_mib", g->mib, "os", "loader", "raw", "kernel",
	    kernel, "load_address", g->load, "mode", g->mode);
	if (def == NULL)
		fail_msg("out of memory");
	if (g->entry != NULL)
		json_object_set_new(json_object_get(def, "os"), "entry",
		    json_string(g->entry));
	if (extra != NULL) {
		if ((ex = json_loads(extra, JSON_REJECT_DUPLICATES, &jerr)) ==
		    NULL)
			fail_msg("vd_def: %s: %s", extra, jerr.text);
		json_object_update_recursive(def, ex);
		json_decref(ex);
	}
	return def;
}

const char *
vd_define(struct vc *c, json_t *def)
{
	static char uuid[40];
	json_t *res;

	res = vc_result(c, "vm.define", json_pack("{s:o}", "definition",
	    def));
	snprintf(uuid, sizeof(uuid), "%s", vd_str(res, "uuid"));
	json_decref(res);
	return uuid;
}

json_t *
vd_info(struct vc *c, const char *name)
{
	return vc_result(c, "vm.info", json_pack("{s:s}", "name", name));
}

json_t *
vd_wait_state(struct vc *c, const char *name, const char *state,
    json_int_t pid_not, int timeout_ms)
{
	int64_t end = vd_now_ms() + timeout_ms;
	const json_t *pid;
	json_t *info;

	for (;;) {
		info = vd_info(c, name);
		pid = json_object_get(info, "pid");
		if (strcmp(vd_str(info, "state"), state) == 0 &&
		    (pid_not == 0 || (json_is_integer(pid) &&
		    json_integer_value(pid) != pid_not)))
			return info;
		if (vd_now_ms() >= end)
			fail_msg("%s: not %s%s after %d ms: %s", name, state,
			    pid_not != 0 ? " with a new pid" : "", timeout_ms,
			    vd_dump(info));
		json_decref(info);
		vd_sleep_ms(10);
	}
}

char *
vd_console(struct vc *c, const char *name, size_t *len, json_int_t *total)
{
	json_t *res;
	const char *data;
	size_t dlen;
	ssize_t n;
	char *buf;

	res = vc_result(c, "vm.console_log", json_pack("{s:s}", "name",
	    name));
	data = vd_str(res, "data");
	dlen = strlen(data);
	if ((buf = malloc(B64_DECODE_MAX(dlen) + 1)) == NULL)
		fail_msg("out of memory");
	if ((n = b64_decode(data, dlen, buf)) < 0)
		fail_msg("vm.console_log %s: data is not base64", name);
	buf[n] = '\0';
	if (vd_int(res, "bytes") != n)
		fail_msg("vm.console_log %s: bytes %lld, data holds %zd", name,
		    (long long)vd_int(res, "bytes"), n);
	if (len != NULL)
		*len = (size_t)n;
	if (total != NULL)
		*total = vd_int(res, "total");
	json_decref(res);
	return buf;
}

char *
vd_console_wait(struct vc *c, const char *name, const char *needle,
    int timeout_ms)
{
	int64_t end = vd_now_ms() + timeout_ms;
	char *text;

	for (;;) {
		text = vd_console(c, name, NULL, NULL);
		if (strstr(text, needle) != NULL)
			return text;
		if (vd_now_ms() >= end)
			fail_msg("%s: \"%s\" not on the console after %d ms; "
			    "it holds:\n%.2000s", name, needle, timeout_ms,
			    text);
		free(text);
		vd_sleep_ms(10);
	}
}
