/*
 * workertest.c: run the real vmm-worker from cmocka tests (workertest.h).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmtest.h"
#include "workertest.h"

static int64_t
wt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wt_init(struct wt_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->out_fd = p->err_fd = -1;
	snprintf(p->dir, sizeof(p->dir), "/tmp/vmmwt.XXXXXX");
	if (mkdtemp(p->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(p->def_path, sizeof(p->def_path), "%s/def.json", p->dir);
}

static void
wt_write_def(const struct wt_proc *p, const char *json)
{
	size_t len = strlen(json);
	FILE *f;

	if ((f = fopen(p->def_path, "w")) == NULL)
		fail_msg("%s: %s", p->def_path, strerror(errno));
	if (fwrite(json, 1, len, f) != len || fclose(f) != 0)
		fail_msg("%s: write failed", p->def_path);
}

/* Fork and exec the worker with argv (argv[0] replaced). */
static void
wt_start(struct wt_proc *p, const char *const *argv)
{
	char *args[WT_ARGV_MAX + 1];
	int out[2], err[2];
	size_t n;

	for (n = 0; argv[n] != NULL; n++) {
		if (n == WT_ARGV_MAX)
			fail_msg("wt_spawn: too many arguments");
		args[n] = (char *)(uintptr_t)argv[n];
	}
	args[n] = NULL;
	args[0] = (char *)(uintptr_t)WT_WORKER;

	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1)
		fail_msg("pipe2: %s", strerror(errno));
	if ((p->pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (p->pid == 0) {
		/*
		 * A failing test longjmps past its cleanup: the worker (in a
		 * session of its own) must still not outlive the test program.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(WT_WORKER, args);
		fprintf(stderr, "exec %s: %s\n", WT_WORKER, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
}

int
wt_spawn_argv(struct wt_proc *p, const char *json, const char *const *argv)
{
	wt_init(p);
	wt_write_def(p, json);
	wt_start(p, argv);
	return 0;
}

int
wt_spawn(struct wt_proc *p, const char *json, const char *const *extra)
{
	const char *argv[WT_ARGV_MAX + 1];
	size_t n = 0, i;

	wt_init(p);
	wt_write_def(p, json);
	argv[n++] = WT_WORKER;
	argv[n++] = "-S";
	argv[n++] = "-r";
	argv[n++] = p->dir;
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (n == WT_ARGV_MAX - 1)
			fail_msg("wt_spawn: too many arguments");
		argv[n++] = extra[i];
	}
	argv[n++] = p->def_path;
	argv[n] = NULL;
	wt_start(p, argv);
	return 0;
}

bool
wt_drain(int fd, char **buf, size_t *len)
{
	char tmp[4096];
	ssize_t n;
	char *nb;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		if ((nb = realloc(*buf, *len + (size_t)n + 1)) == NULL)
			fail_msg("out of memory");
		memcpy(nb + *len, tmp, (size_t)n);
		*len += (size_t)n;
		nb[*len] = '\0';
		*buf = nb;
	}
}

/* Collect output for up to ms milliseconds (or until both pipes close). */
static void
wt_collect(struct wt_proc *p, int ms)
{
	struct pollfd pfd[2] = {
		{ p->out_fd, POLLIN, 0 }, { p->err_fd, POLLIN, 0 },
	};

	if (poll(pfd, 2, ms) <= 0)
		return;
	if (p->out_fd != -1 && pfd[0].revents != 0 &&
	    !wt_drain(p->out_fd, &p->console, &p->console_len)) {
		close(p->out_fd);
		p->out_fd = -1;
	}
	if (p->err_fd != -1 && pfd[1].revents != 0 &&
	    !wt_drain(p->err_fd, &p->log, &p->log_len)) {
		close(p->err_fd);
		p->err_fd = -1;
	}
}

static bool
wt_reap(struct wt_proc *p, int flags)
{
	int st;
	pid_t r;

	if (p->exited || p->pid <= 0)
		return p->exited;
	r = waitpid(p->pid, &st, flags);
	if (r != p->pid)
		return false;
	p->exited = true;
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return true;
}

int
wt_wait(struct wt_proc *p, unsigned int timeout_ms)
{
	int64_t end = wt_now_ms() + timeout_ms;

	while (!wt_reap(p, WNOHANG)) {
		int64_t left = end - wt_now_ms();

		if (left <= 0)
			return -1;
		if (p->out_fd == -1 && p->err_fd == -1)
			usleep(1000);
		else
			wt_collect(p, left < 50 ? (int)left : 50);
	}
	/* The pipes may hold the last words: drain them to the end. */
	while (p->out_fd != -1 || p->err_fd != -1)
		wt_collect(p, 1000);
	if (p->console == NULL)
		p->console = calloc(1, 1);
	if (p->log == NULL)
		p->log = calloc(1, 1);
	return 0;
}

bool
wt_console_wait(struct wt_proc *p, const char *needle, unsigned int timeout_ms)
{
	int64_t end = wt_now_ms() + timeout_ms;

	for (;;) {
		if (p->console != NULL && strstr(p->console, needle) != NULL)
			return true;
		if (wt_now_ms() >= end || (p->out_fd == -1 && p->exited))
			return false;
		if (p->out_fd == -1)
			usleep(1000);
		else
			wt_collect(p, 20);
	}
}

static void
wt_rmdir(const char *path)
{
	char sub[512];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (unlink(sub) == -1 && (errno == EISDIR || errno == EPERM))
			wt_rmdir(sub);
	}
	closedir(d);
	rmdir(path);
}

void
wt_cleanup(struct wt_proc *p)
{
	if (p->pid > 0 && !p->exited) {
		kill(p->pid, SIGKILL);
		wt_reap(p, 0);
	}
	if (p->out_fd != -1)
		close(p->out_fd);
	if (p->err_fd != -1)
		close(p->err_fd);
	p->out_fd = p->err_fd = -1;
	if (p->dir[0] != '\0')
		wt_rmdir(p->dir);
	free(p->console);
	free(p->log);
	p->console = p->log = NULL;
	p->dir[0] = '\0';
}

int
wt_run(struct wt_proc *p, const char *json, unsigned int timeout_ms)
{
	wt_spawn(p, json, NULL);
	if (wt_wait(p, timeout_ms) != 0) {
		print_error("worker still running after %u ms; console:\n%s\n"
		    "log:\n%s\n", timeout_ms, p->console ? p->console : "",
		    p->log ? p->log : "");
		wt_cleanup(p);
		fail_msg("timeout");
	}
	return p->status;
}

void
wt_sock_path(const struct wt_proc *p, const char *uuid, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s/vm/%s.sock", p->dir, uuid);
}

void
wt_require_worker(void)
{
	vmtest_require_kvm();
	if (access(WT_WORKER, X_OK) != 0) {
		print_message("skipped: %s: %s\n", WT_WORKER, strerror(errno));
		skip();
	}
}
