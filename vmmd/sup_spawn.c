/*
 * sup_spawn.c: the supervisor's worker processes.  vmm-worker is started
 * with posix_spawn and exactly four descriptors (the definition, /dev/null,
 * the log pipe, the readiness pipe), watched through a pidfd (no pid reuse
 * race: signals go through pidfd_send_signal, exits are reaped with
 * waitid(P_PIDFD)), its log lines go to vmmd's log, and its readiness
 * byte opens the control connection (sup_ctl.c).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sup_internal.h"

#define SUP_ARGV_MAX	12

/* -------------------------------------------------------------------------- */
/* The worker's lifetime. */

static struct sup_worker *
sup_worker_new(struct sup_vm *v)
{
	struct sup_worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->s = v->s;
	w->vm = v;
	w->pidfd = w->log_fd = w->ready_fd = -1;
	TAILQ_INIT(&w->reqs);
	if (rpc_reader_init(&w->log_rd, SUP_LOG_READ_MAX) != 0 ||
	    rpc_reader_init(&w->ctl_rd, SUP_CTL_LINE_MAX) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

static void
sup_worker_free(struct sup_worker *w)
{
	unsigned int i;

	for (i = 0; i < w->nlog; i++)
		free(w->log[i]);
	rpc_reader_free(&w->log_rd);
	rpc_reader_free(&w->ctl_rd);
	free(w->rbuf);
	free(w);
}

/* A worker's handle is closed; the last one of a detached worker frees it. */
void
sup_handle_closed(uv_handle_t *h)
{
	struct sup_worker *w = h->data;
	struct sup *s = w->s;

	w->handles--;
	s->handles--;
	if (w->detached && w->handles == 0)
		sup_worker_free(w);
	sup_check_handles(s);
}

/* Start polling fd with h for readability: 0 or a libuv error. */
static int
sup_poll(struct sup_worker *w, uv_poll_t *h, int fd, uv_poll_cb cb,
    bool *polling)
{
	int rc;

	if ((rc = uv_poll_init(w->s->d->loop, h, fd)) != 0)
		return rc;
	h->data = w;
	w->handles++;
	w->s->handles++;
	*polling = true;
	if ((rc = uv_poll_start(h, UV_READABLE, cb)) != 0) {
		*polling = false;
		uv_close((uv_handle_t *)h, sup_handle_closed);
	}
	return rc;
}

/* Stop and close a poll handle, then its descriptor. */
static void
sup_unpoll(uv_poll_t *h, int *fd, bool *polling)
{
	if (*polling) {
		*polling = false;
		uv_close((uv_handle_t *)h, sup_handle_closed);
	}
	/* uv_close has taken the descriptor out of epoll. */
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Forget the worker: its control connection, pipes and pidfd are closed
 * (the process itself is left alone), and it frees itself once libuv is
 * done with its handles.  The caller has cleared vm->w.
 */
void
sup_worker_detach(struct sup_worker *w)
{
	if (w == NULL || w->detached)
		return;
	sup_ctl_close(w);
	sup_timer_stop(&w->timer);
	w->detached = true;
	w->vm = NULL;
	sup_unpoll(&w->pid_poll, &w->pidfd, &w->pid_polling);
	sup_unpoll(&w->log_poll, &w->log_fd, &w->log_polling);
	sup_unpoll(&w->ready_poll, &w->ready_fd, &w->ready_polling);
	if (w->handles == 0)
		sup_worker_free(w);
}

int
sup_worker_kill(struct sup_worker *w, int sig)
{
	if (w == NULL || w->pidfd == -1 || w->exited)
		return -ESRCH;
	if (pidfd_send_signal(w->pidfd, sig, NULL, 0) == -1)
		return -errno;
	return 0;
}

/* The exit-wait timer: the control socket said nothing more in time. */
static void
sup_exit_wait_done(void *arg)
{
	struct sup_worker *w = arg;

	sup_ctl_close(w);
	sup_worker_check(w);
}

/*
 * Is the worker gone?  Once its process has exited, the control
 * connection gets SUP_EXIT_WAIT_MS to deliver the last console bytes and
 * the exit event (they are in the socket already), then the exit is
 * handled, once.
 */
void
sup_worker_check(struct sup_worker *w)
{
	if (w->gone || w->detached || !w->exited)
		return;
	if (sup_ctl_open_now(w)) {
		if (w->timer == NULL)
			(void)sup_timer_start(w->s, &w->timer,
			    SUP_EXIT_WAIT_MS, sup_exit_wait_done, w);
		if (w->timer != NULL)
			return;
		sup_ctl_close(w);
	}
	w->gone = true;
	sup_timer_stop(&w->timer);
	sup_worker_gone(w);
}

/* -------------------------------------------------------------------------- */
/* The pidfd. */

/* Reap our child: its status, 0..255 or 128 + signal. */
static void
sup_reap(struct sup_worker *w)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)w->pidfd, &si,
	    WEXITED | WNOHANG) == -1) {
		/* ECHILD: another vmmd's worker; its exit event tells. */
		if (errno != ECHILD)
			vmmd_warn("waitid pid %d", (int)w->pid);
		return;
	}
	if (si.si_pid == 0)
		return;
	w->have_status = true;
	if (si.si_code == CLD_EXITED)
		w->status = si.si_status & 0xff;
	else
		w->status = VMSTATE_SIGNAL_BASE + (si.si_status & 0x7f);
}

static void
sup_pid_cb(uv_poll_t *h, int status, int events)
{
	struct sup_worker *w = h->data;

	if (w->exited)
		return;
	w->exited = true;
	sup_reap(w);
	/* Readable for good now: stop polling, keep the pidfd for waitid. */
	uv_poll_stop(h);
	sup_worker_check(w);
}

/* -------------------------------------------------------------------------- */
/* The log pipe. */

/* Keep line (len bytes) as printable ASCII, at most SUP_LOG_LINE_MAX. */
static char *
sup_log_clean(const char *line, size_t len)
{
	char *s;
	size_t i;

	if (len > SUP_LOG_LINE_MAX - 1)
		len = SUP_LOG_LINE_MAX - 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		s[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	s[len] = '\0';
	return s;
}

static void
sup_log_line(struct sup_worker *w, const char *line, size_t len)
{
	const char *name = w->vm != NULL ? w->vm->name : "?";
	char *s;

	if ((s = sup_log_clean(line, len)) == NULL) {
		vmmd_warnx("vm %s: out of memory for a log line", name);
		return;
	}
	vmmd_info("vm %s: %s", name, s);
	if (w->nlog == SUP_LOG_KEEP) {
		free(w->log[0]);
		memmove(&w->log[0], &w->log[1],
		    (SUP_LOG_KEEP - 1) * sizeof(w->log[0]));
		w->nlog--;
	}
	w->log[w->nlog++] = s;
}

/* Split what was read into lines: 0, or -ENOMEM. */
static int
sup_log_feed(struct sup_worker *w, const char *p, size_t len)
{
	struct rpc_line line;
	size_t used;

	while (len > 0) {
		if (rpc_reader_feed(&w->log_rd, p, len, &used, &line) != 0)
			return -ENOMEM;
		p += used;
		len -= used;
		if (line.kind == RPC_LINE_OK)
			sup_log_line(w, line.text, line.len);
		else if (line.kind == RPC_LINE_TOO_LONG)
			sup_log_line(w, "(a log line too long, dropped)", 30);
	}
	return 0;
}

/* Read what the pipe holds: false at its end (or on an error). */
static bool
sup_log_read(struct sup_worker *w)
{
	char buf[SUP_LOG_READ_MAX];
	ssize_t n;

	for (;;) {
		n = read(w->log_fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		if (sup_log_feed(w, buf, (size_t)n) != 0)
			return false;
	}
}

static void
sup_log_cb(uv_poll_t *h, int status, int events)
{
	struct sup_worker *w = h->data;

	if (status < 0 || !sup_log_read(w))
		sup_unpoll(&w->log_poll, &w->log_fd, &w->log_polling);
}

/*
 * The process is gone: take what its pipes still hold, the last log
 * lines and the readiness byte, whatever order the loop saw them in.
 */
void
sup_worker_drain(struct sup_worker *w)
{
	char c = 0;

	if (w->log_fd != -1 && !sup_log_read(w))
		sup_unpoll(&w->log_poll, &w->log_fd, &w->log_polling);
	if (w->ready_fd != -1) {
		if (read(w->ready_fd, &c, 1) == 1 && c == 'R')
			w->ready_byte = true;
		sup_unpoll(&w->ready_poll, &w->ready_fd, &w->ready_polling);
	}
}

json_t *
sup_log_lines(const struct sup_worker *w)
{
	json_t *a;
	unsigned int i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; w != NULL && i < w->nlog; i++)
		json_array_append_new(a, json_string(w->log[i]));
	return a;
}

const char *
sup_log_last(const struct sup_worker *w)
{
	return w != NULL && w->nlog > 0 ? w->log[w->nlog - 1] : "";
}

/* -------------------------------------------------------------------------- */
/* The readiness pipe. */

static void
sup_ready_cb(uv_poll_t *h, int status, int events)
{
	struct sup_worker *w = h->data;
	struct sup_vm *v = w->vm;
	char c = 0;
	ssize_t n;

	do
		n = read(w->ready_fd, &c, 1);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN && status == 0)
		return;
	/* One byte, or the end: either way the pipe has said its piece. */
	sup_unpoll(&w->ready_poll, &w->ready_fd, &w->ready_polling);
	if (n != 1)
		return;		/* setup failed; the exit follows */
	if (c != 'R') {
		vmmd_warnx("vm %s: the worker's readiness byte is 0x%02x, "
		    "not 'R'", v->name, (unsigned char)c);
		return;
	}
	w->ready_byte = true;
	if (sup_ctl_open(w, SUP_CTL_START, v->rt.socket) != 0)
		sup_start_trouble(v, "cannot open the worker's control "
		    "socket");
}

/* -------------------------------------------------------------------------- */
/* Spawning. */

/* fd moved to 4 or above (close-on-exec), so that dup2 to 0..3 is safe. */
static int
sup_fd_high(int fd)
{
	int nfd;

	if (fd >= 4)
		return fd;
	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 4)) == -1)
		return -errno;
	close(fd);
	return nfd;
}

/* The definition text in a rewound memfd, as the worker's stdin. */
static int
sup_memfd(const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd, error;

	if ((fd = memfd_create("vmm-definition", MFD_CLOEXEC)) == -1)
		return -errno;
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			error = n == -1 ? -errno : -EIO;
			close(fd);
			return error;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		error = -errno;
		close(fd);
		return error;
	}
	return sup_fd_high(fd);
}

/* A pipe: p[0] ours (non-blocking), p[1] the child's; both >= 4, CLOEXEC. */
static int
sup_pipe(int p[2])
{
	int error;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -errno;
	if ((p[0] = sup_fd_high(p[0])) < 0) {
		error = p[0];
		close(p[1]);
		p[0] = p[1] = -1;
		return error;
	}
	if ((p[1] = sup_fd_high(p[1])) < 0) {
		error = p[1];
		close(p[0]);
		p[0] = p[1] = -1;
		return error;
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1) {
		error = -errno;
		close(p[0]);
		close(p[1]);
		p[0] = p[1] = -1;
		return error;
	}
	return 0;
}

/*
 * argv: WORKER -r RUN_DIR [-u USER] -c none -R 3 -.  The worker drops to
 * USER after setup when started as root; without root it runs as us.
 */
static void
sup_argv(const struct config *cfg, char **argv)
{
	size_t n = 0;

	argv[n++] = (char *)(uintptr_t)cfg->worker;
	argv[n++] = (char *)(uintptr_t)"-r";
	argv[n++] = (char *)(uintptr_t)cfg->run_dir;
	if (geteuid() == 0 && cfg->worker_user[0] != '\0') {
		argv[n++] = (char *)(uintptr_t)"-u";
		argv[n++] = (char *)(uintptr_t)cfg->worker_user;
	}
	argv[n++] = (char *)(uintptr_t)"-c";
	argv[n++] = (char *)(uintptr_t)"none";
	argv[n++] = (char *)(uintptr_t)"-R";
	argv[n++] = (char *)(uintptr_t)"3";
	argv[n++] = (char *)(uintptr_t)"-";
	argv[n] = NULL;
}

/*
 * posix_spawn the worker with fd 0 = def, 1 = /dev/null, 2 = log, 3 =
 * ready and nothing else; every signal defaulted and none blocked.
 * glibc reports an exec failure as posix_spawn's error.  0 or -errno.
 */
static int
sup_posix_spawn(const struct config *cfg, int def, int log, int ready,
    pid_t *pid)
{
	static char *const envp[] = {
		(char *)(uintptr_t)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL,
	};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *argv[SUP_ARGV_MAX];
	sigset_t none, all;
	int error;

	sup_argv(cfg, argv);
	sigemptyset(&none);
	sigfillset(&all);
	if ((error = posix_spawn_file_actions_init(&fa)) != 0)
		return -error;
	if ((error = posix_spawnattr_init(&at)) != 0)
		goto out_fa;
	if ((error = posix_spawn_file_actions_adddup2(&fa, def, 0)) != 0 ||
	    (error = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
	    O_WRONLY, 0)) != 0 ||
	    (error = posix_spawn_file_actions_adddup2(&fa, log, 2)) != 0 ||
	    (error = posix_spawn_file_actions_adddup2(&fa, ready, 3)) != 0 ||
	    (error = posix_spawn_file_actions_addclosefrom_np(&fa, 4)) != 0 ||
	    (error = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (error = posix_spawnattr_setsigdefault(&at, &all)) != 0 ||
	    (error = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF)) != 0)
		goto out_at;
	error = posix_spawn(pid, cfg->worker, &fa, &at, argv, envp);
out_at:
	posix_spawnattr_destroy(&at);
out_fa:
	posix_spawn_file_actions_destroy(&fa);
	return -error;
}

/* Watch the new child: pidfd, log and readiness polls.  0 or -errno. */
static int
sup_watch(struct sup_worker *w, int logfd, int readyfd)
{
	int rc;

	w->log_fd = logfd;
	w->ready_fd = readyfd;
	if ((w->pidfd = pidfd_open(w->pid, 0)) == -1)
		return -errno;
	if ((rc = sup_poll(w, &w->pid_poll, w->pidfd, sup_pid_cb,
	    &w->pid_polling)) != 0 ||
	    (rc = sup_poll(w, &w->log_poll, w->log_fd, sup_log_cb,
	    &w->log_polling)) != 0 ||
	    (rc = sup_poll(w, &w->ready_poll, w->ready_fd, sup_ready_cb,
	    &w->ready_polling)) != 0)
		return rc;
	return 0;
}

/* A child we cannot watch: kill and reap it (it is ours, not reused). */
static void
sup_abandon(struct sup_worker *w)
{
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		while (waitpid(w->pid, NULL, 0) == -1 && errno == EINTR)
			;
	}
	w->exited = true;
	sup_worker_detach(w);
}

int
sup_spawn(struct sup_vm *v, const char *text, char *why, size_t whylen)
{
	const struct config *cfg = &v->s->d->cfg;
	struct sup_worker *w;
	int def = -1, logp[2] = { -1, -1 }, readyp[2] = { -1, -1 };
	int error;

	if ((w = sup_worker_new(v)) == NULL) {
		snprintf(why, whylen, "cannot start the worker: out of memory");
		return -ENOMEM;
	}
	if ((def = sup_memfd(text)) < 0 || (error = sup_pipe(logp)) != 0 ||
	    (error = sup_pipe(readyp)) != 0) {
		error = def < 0 ? def : error;
		snprintf(why, whylen, "cannot start the worker: %s",
		    strerror(-error));
		goto fail;
	}
	if ((error = sup_posix_spawn(cfg, def, logp[1], readyp[1],
	    &w->pid)) != 0) {
		snprintf(why, whylen, "cannot run %s: %s", cfg->worker,
		    strerror(-error));
		goto fail;
	}
	close(def);
	close(logp[1]);
	close(readyp[1]);
	def = logp[1] = readyp[1] = -1;
	if ((error = sup_watch(w, logp[0], readyp[0])) != 0) {
		snprintf(why, whylen, "cannot watch the worker (pid %d): %s",
		    (int)w->pid, strerror(-error));
		sup_abandon(w);
		return error;
	}
	v->w = w;
	return 0;

fail:
	if (def >= 0)
		close(def);
	if (logp[0] != -1) {
		close(logp[0]);
		close(logp[1]);
	}
	if (readyp[0] != -1) {
		close(readyp[0]);
		close(readyp[1]);
	}
	sup_worker_free(w);
	return error;
}

int
sup_adopt_pid(struct sup_vm *v, pid_t pid)
{
	struct sup_worker *w;
	int error;

	if ((w = sup_worker_new(v)) == NULL)
		return -ENOMEM;
	w->pid = pid;
	if ((w->pidfd = pidfd_open(pid, 0)) == -1) {
		error = -errno;
		sup_worker_free(w);
		return error;
	}
	if ((error = sup_poll(w, &w->pid_poll, w->pidfd, sup_pid_cb,
	    &w->pid_polling)) != 0) {
		sup_worker_detach(w);
		return error;
	}
	v->w = w;
	return 0;
}
