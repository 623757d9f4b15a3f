/*
 * test_sandbox.c: the worker's sandbox (vmmd/worker/sandbox.c).
 *
 * Two halves.  sandbox_enter itself runs in forked children of this test:
 * each child enters the sandbox, reports, waits for the parent to look at
 * /proc/<pid>/status, and then makes one system call from a table; a
 * forbidden one must kill it with SIGSYS, the allowed ones must work as
 * the worker uses them, a few refused ones fail with EACCES.  Then the
 * real vmm-worker runs without -S (as root, dropping to "nobody"): guests
 * still work under the sandbox, the process and every thread run as
 * nobody with no_new_privs and a seccomp filter, the control socket works,
 * and a forbidden system call made by the running worker kills it (the
 * worker is made to make one through ptrace: its next system call is
 * rewritten to openat, which the kernel checks against the filter again
 * after the tracer's change).
 *
 * The uid drop needs root (without it the worker keeps our ids and only
 * the filter is checked) and the worker tests need /dev/kvm; each test
 * says why it skips.  Debian's "nobody" is uid 65534, group "nogroup"
 * 65534.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/ptrace.h>

#include <cmocka.h>

#include "worker.h"
#include "workertest.h"

#define SB_NOBODY		65534	/* uid of "nobody", gid of "nogroup" */
#define SB_NOBODY_IDS		"65534\t65534\t65534\t65534"
#define SB_UNLISTED_UID		4242	/* a uid with no passwd entry */
#define SB_TIMEOUT_MS		10000
#define SB_EXIT_SURVIVED	42	/* the child's action did not kill it */
#define SB_EXIT_REFUSED		43	/* sandbox_enter failed */
#define SB_EXIT_NOGO		44	/* the parent went away */
#define SB_KICK_SIGNAL		(SIGRTMIN + 4)	/* libvmm's default kick */

#define SB_UUID			"5b0c3e8a-7d1f-4c52-9a61-0e2f3d4c5b6a"

/* What a child tells the parent. */
struct sb_report {
	int error;		/* sandbox_enter's result */
	char err[256];		/* its message */
	char failed[512];	/* the allowed-calls action: what went wrong */
};

struct sb_child {
	pid_t pid;
	int report_fd;		/* parent's read end */
	int go_fd;		/* parent's write end */
};

typedef void sb_action_fn(int report_fd);

static bool
sb_is_root(void)
{
	return geteuid() == 0;
}

/* The user children drop to: nobody as root, else whoever runs us. */
static const char *
sb_user(void)
{
	return sb_is_root() ? "nobody" : NULL;
}

/* ------------------------------------------------------------------------ */
/* /proc. */

/*
 * The line of /proc/<pid>[/task/<tid>]/status that starts with "key:",
 * without its newline, into buf; "" if there is none.
 */
static void
sb_status_line(pid_t pid, pid_t tid, const char *key, char *buf, size_t len)
{
	char path[96], line[512];
	size_t klen = strlen(key);
	FILE *f;

	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status",
		    (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	buf[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%s", line);
			break;
		}
	}
	fclose(f);
}

static void
sb_expect_line(pid_t pid, pid_t tid, const char *key, const char *want)
{
	char got[512];

	sb_status_line(pid, tid, key, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("pid %d task %d: \"%s\", expected \"%s\"", (int)pid,
		    (int)tid, got, want);
}

/*
 * The confinement of a sandboxed task: ids, no groups, no capability,
 * no_new_privs, seccomp filter mode, not dumpable (so /proc/pid belongs to
 * root).  uid < 0: the ids are not checked (a non-root run).
 */
static void
sb_expect_confined(pid_t pid, pid_t tid, long uid, long gid)
{
	char want[128];

	if (uid >= 0) {
		snprintf(want, sizeof(want), "Uid:\t%ld\t%ld\t%ld\t%ld", uid,
		    uid, uid, uid);
		sb_expect_line(pid, tid, "Uid", want);
		snprintf(want, sizeof(want), "Gid:\t%ld\t%ld\t%ld\t%ld", gid,
		    gid, gid, gid);
		sb_expect_line(pid, tid, "Gid", want);
		sb_expect_line(pid, tid, "Groups", "Groups:\t ");
		sb_expect_line(pid, tid, "CapEff", "CapEff:\t0000000000000000");
		sb_expect_line(pid, tid, "CapPrm", "CapPrm:\t0000000000000000");
	}
	sb_expect_line(pid, tid, "NoNewPrivs", "NoNewPrivs:\t1");
	sb_expect_line(pid, tid, "Seccomp", "Seccomp:\t2");
}

/* ------------------------------------------------------------------------ */
/* Children that call sandbox_enter. */

/* Set up before the sandbox by sb_prep, used by the actions after it. */
static struct {
	int epfd;		/* an epoll instance (libuv's loop) */
	int lfd;		/* a listening socket (the control socket) */
	int tfd;		/* a file (a disk image) */
	int pipe[2];		/* a kicked thread blocks reading it */
	int pair[2];		/* a connected socket pair */
	int efd;		/* an eventfd (libuv's async wake-up) */
	char path[32];		/* a file the sandbox may not remove */
	atomic_int kicked;
} sb_pre;

static void
sb_kick_handler(int signo)
{
	(void)signo;
	atomic_store(&sb_pre.kicked, 1);
}

/* What the worker has open and installed when it enters the sandbox. */
static void
sb_prep(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sigaction sa;
	char path[] = "/tmp/vmmsb.XXXXXX";

	sb_pre.epfd = epoll_create1(EPOLL_CLOEXEC);
	sb_pre.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	/* Abstract address: nothing to clean up. */
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "vmmsb.%d",
	    (int)getpid());
	if (bind(sb_pre.lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(sb_pre.lfd, 1) == -1)
		sb_pre.lfd = -1;
	sb_pre.tfd = mkstemp(path);
	if (sb_pre.tfd != -1)
		unlink(path);
	if (pipe2(sb_pre.pipe, O_CLOEXEC) == -1)
		sb_pre.pipe[0] = sb_pre.pipe[1] = -1;
	sb_pre.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sb_pre.pair) == -1)
		sb_pre.pair[0] = sb_pre.pair[1] = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sb_kick_handler;	/* no SA_RESTART: EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SB_KICK_SIGNAL, &sa, NULL);
}

static void
sb_child_main(const char *user, sb_action_fn *action, int rep, int go)
{
	struct sb_report r;
	char c;

	memset(&r, 0, sizeof(r));
	sb_prep();
	r.error = sandbox_enter(user, r.err, sizeof(r.err));
	if (write(rep, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(SB_EXIT_NOGO);
	if (r.error != 0)
		_exit(SB_EXIT_REFUSED);
	if (read(go, &c, 1) != 1)
		_exit(SB_EXIT_NOGO);
	if (action != NULL)
		action(rep);
	_exit(SB_EXIT_SURVIVED);
}

/* The running child, for the teardown (pid -1: none). */
static struct sb_child sb_live = { -1, -1, -1 };

static void
sb_child_start(struct sb_child *c, const char *user, sb_action_fn *action,
    void (*before)(void))
{
	int rep[2], go[2];

	if (pipe2(rep, O_CLOEXEC) == -1 || pipe2(go, O_CLOEXEC) == -1)
		fail_msg("pipe2: %s", strerror(errno));
	fflush(NULL);
	if ((c->pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (c->pid == 0) {
		close(rep[0]);
		close(go[1]);
		if (before != NULL)
			before();
		sb_child_main(user, action, rep[1], go[0]);
	}
	close(rep[1]);
	close(go[0]);
	c->report_fd = rep[0];
	c->go_fd = go[1];
	sb_live = *c;
}

/* Read one report (all of it), failing the test after SB_TIMEOUT_MS. */
static void
sb_child_report(struct sb_child *c, struct sb_report *r)
{
	struct pollfd pfd = { c->report_fd, POLLIN, 0 };
	size_t got = 0;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	while (got < sizeof(*r)) {
		if (poll(&pfd, 1, SB_TIMEOUT_MS) != 1)
			fail_msg("child %d: no report", (int)c->pid);
		n = read(c->report_fd, (char *)r + got, sizeof(*r) - got);
		if (n <= 0)
			fail_msg("child %d: report cut short (%zu bytes)",
			    (int)c->pid, got);
		got += (size_t)n;
	}
	r->err[sizeof(r->err) - 1] = '\0';
	r->failed[sizeof(r->failed) - 1] = '\0';
}

static void
sb_child_go(struct sb_child *c)
{
	if (write(c->go_fd, "g", 1) != 1)
		fail_msg("child %d: go: %s", (int)c->pid, strerror(errno));
}

/* The child's wait status; SIGKILL and fail after SB_TIMEOUT_MS. */
static int
sb_child_wait(struct sb_child *c)
{
	int st, i;

	for (i = 0; i < SB_TIMEOUT_MS; i++) {
		if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
			close(c->report_fd);
			close(c->go_fd);
			sb_live.pid = -1;
			return st;
		}
		usleep(1000);
	}
	fail_msg("child %d still running after %d ms", (int)c->pid,
	    SB_TIMEOUT_MS);
	return -1;
}

static const char *
sb_describe(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status 0x%x", st);
	return buf;
}

/*
 * Start a child, expect sandbox_enter to succeed, check its confinement,
 * let it run action and return its wait status.
 */
static int
sb_child_run(const char *user, sb_action_fn *action, void (*before)(void),
    long uid, long gid, struct sb_report *r)
{
	struct sb_child c;

	sb_child_start(&c, user, action, before);
	sb_child_report(&c, r);
	if (r->error != 0) {
		sb_child_go(&c);
		(void)sb_child_wait(&c);
		fail_msg("sandbox_enter(%s) = %d: %s", user ? user : "NULL",
		    r->error, r->err);
	}
	sb_expect_confined(c.pid, 0, uid, gid);
	sb_child_go(&c);
	return sb_child_wait(&c);
}

/* ------------------------------------------------------------------------ */
/* Forbidden system calls: each must kill the child with SIGSYS. */

static void
sb_do_openat(int rep)
{
	(void)rep;
	syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_CLOEXEC);
}

static void
sb_do_open(int rep)
{
	(void)rep;
	syscall(SYS_open, "/", O_RDONLY | O_CLOEXEC);
}

static void
sb_do_execve(int rep)
{
	char *const argv[] = { (char *)(uintptr_t)"/bin/true", NULL };

	(void)rep;
	syscall(SYS_execve, "/bin/true", argv, NULL);
}

static void
sb_do_socket(int rep)
{
	(void)rep;
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}

static void
sb_do_connect(int rep)
{
	(void)rep;
	syscall(SYS_connect, -1, NULL, 0);
}

static void
sb_do_sendmsg(int rep)
{
	(void)rep;
	syscall(SYS_sendmsg, -1, NULL, 0);
}

static void
sb_do_ptrace(int rep)
{
	(void)rep;
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

static void
sb_do_fork(int rep)
{
	(void)rep;
	syscall(SYS_fork);
}

/* clone without CLONE_THREAD: a new process. */
static void
sb_do_clone_process(int rep)
{
	(void)rep;
	syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
}

static void
sb_do_mmap_exec(int rep)
{
	(void)rep;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
}

static void
sb_do_mprotect_exec(int rep)
{
	void *p;

	(void)rep;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static void
sb_do_madvise_other(int rep)
{
	void *p;

	(void)rep;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		madvise(p, 4096, MADV_DONTFORK);
}

static void
sb_do_ioctl_tty(int rep)
{
	struct termios t;

	(void)rep;
	ioctl(-1, TCGETS, &t);
}

/* A KVM request made only during setup. */
static void
sb_do_ioctl_irqchip(int rep)
{
	(void)rep;
	ioctl(-1, KVM_CREATE_IRQCHIP, 0);
}

static void
sb_do_setuid(int rep)
{
	(void)rep;
	syscall(SYS_setuid, 0);
}

static void
sb_do_kill(int rep)
{
	(void)rep;
	syscall(SYS_kill, getppid(), 0);
}

/* tgkill is allowed for our own threads only. */
static void
sb_do_tgkill_other(int rep)
{
	(void)rep;
	syscall(SYS_tgkill, getppid(), getppid(), 0);
}

/* getsockopt is for SO_PEERCRED only. */
static void
sb_do_getsockopt_other(int rep)
{
	int v;
	socklen_t len = sizeof(v);

	(void)rep;
	getsockopt(sb_pre.pair[0], SOL_SOCKET, SO_TYPE, &v, &len);
}

static void
sb_do_setsockopt(int rep)
{
	int v = 1;

	(void)rep;
	setsockopt(sb_pre.pair[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof(v));
}

static void
sb_do_rename(int rep)
{
	(void)rep;
	syscall(SYS_renameat2, AT_FDCWD, "/nonexistent-vmm-a", AT_FDCWD,
	    "/nonexistent-vmm-b", 0);
}

static void
sb_do_prctl(int rep)
{
	(void)rep;
	syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void
sb_do_memfd(int rep)
{
	(void)rep;
	syscall(SYS_memfd_create, "sb", 0);
}

static void
sb_do_io_uring(int rep)
{
	(void)rep;
	syscall(SYS_io_uring_setup, 1, NULL);
}

static void
sb_do_userfaultfd(int rep)
{
	(void)rep;
	syscall(SYS_userfaultfd, 0);
}

static void
sb_do_bpf(int rep)
{
	(void)rep;
	syscall(SYS_bpf, 0, NULL, 0);
}

/* getpid through the i386 entry (int $0x80, eax 20): another ABI. */
static void
sb_do_i386_abi(int rep)
{
	long ret;

	(void)rep;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
}

/* getpid with the x32 bit: the x32 ABI. */
static void
sb_do_x32_abi(int rep)
{
	(void)rep;
	syscall(0x40000000L | SYS_getpid);
}

/* No new descriptor of any kind after setup. */
static void
sb_do_eventfd(int rep)
{
	(void)rep;
	syscall(SYS_eventfd2, 0, 0);
}

static void
sb_do_epoll_create(int rep)
{
	(void)rep;
	syscall(SYS_epoll_create1, 0);
}

/* A KVM request the worker does not make after setup. */
static void
sb_do_ioctl_ioeventfd(int rep)
{
	(void)rep;
	ioctl(-1, KVM_IOEVENTFD, NULL);
}

static const struct sb_forbidden {
	const char *name;
	sb_action_fn *fn;
} sb_forbidden[] = {
	{ "openat", sb_do_openat },
	{ "open", sb_do_open },
	{ "execve", sb_do_execve },
	{ "socket", sb_do_socket },
	{ "connect", sb_do_connect },
	{ "sendmsg", sb_do_sendmsg },
	{ "ptrace", sb_do_ptrace },
	{ "fork", sb_do_fork },
	{ "clone without CLONE_THREAD", sb_do_clone_process },
	{ "mmap PROT_EXEC", sb_do_mmap_exec },
	{ "mprotect PROT_EXEC", sb_do_mprotect_exec },
	{ "madvise MADV_DONTFORK", sb_do_madvise_other },
	{ "ioctl TCGETS", sb_do_ioctl_tty },
	{ "ioctl KVM_CREATE_IRQCHIP", sb_do_ioctl_irqchip },
	{ "ioctl KVM_IOEVENTFD", sb_do_ioctl_ioeventfd },
	{ "eventfd2", sb_do_eventfd },
	{ "epoll_create1", sb_do_epoll_create },
	{ "setuid", sb_do_setuid },
	{ "kill", sb_do_kill },
	{ "tgkill to another process", sb_do_tgkill_other },
	{ "getsockopt SO_TYPE", sb_do_getsockopt_other },
	{ "setsockopt", sb_do_setsockopt },
	{ "renameat2", sb_do_rename },
	{ "prctl PR_SET_DUMPABLE", sb_do_prctl },
	{ "memfd_create", sb_do_memfd },
	{ "io_uring_setup", sb_do_io_uring },
	{ "userfaultfd", sb_do_userfaultfd },
	{ "bpf", sb_do_bpf },
	{ "i386 ABI (int $0x80)", sb_do_i386_abi },
	{ "x32 ABI", sb_do_x32_abi },
};

static void
test_forbidden_kills(void **state)
{
	struct sb_report r;
	char desc[64];
	size_t i;
	int st;

	(void)state;
	for (i = 0; i < sizeof(sb_forbidden) / sizeof(sb_forbidden[0]); i++) {
		st = sb_child_run(sb_user(), sb_forbidden[i].fn, NULL,
		    sb_is_root() ? SB_NOBODY : -1, SB_NOBODY, &r);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("%s: child ended with %s, expected SIGSYS",
			    sb_forbidden[i].name,
			    sb_describe(st, desc, sizeof(desc)));
	}
}

/* ------------------------------------------------------------------------ */
/* Allowed system calls: what the worker does after setup must work. */

static void *
sb_thread_flag(void *arg)
{
	atomic_store((atomic_int *)arg, 1);
	return NULL;
}

/* Blocks in read() until kicked (EINTR): a vcpu thread in KVM_RUN. */
static void *
sb_thread_kicked(void *arg)
{
	char c;

	(void)arg;
	while (atomic_load(&sb_pre.kicked) == 0) {
		if (read(sb_pre.pipe[0], &c, 1) == 1)
			break;
	}
	return NULL;
}

#define SB_CHECK(cond)							\
	do {								\
		if (!(cond))						\
			sb_fail_note(f, flen, #cond, errno);	\
	} while (0)

static void
sb_fail_note(char *f, size_t len, const char *what, int errnum)
{
	size_t used = strlen(f);

	if (used < len - 1)
		snprintf(f + used, len - used, "%s (errno %d); ", what, errnum);
}

static void
sb_check_memory(char *f, size_t flen)
{
	uint8_t *p, *big;

	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SB_CHECK(p != MAP_FAILED);
	if (p != MAP_FAILED) {
		p[0] = 1;
		p = mremap(p, 8192, 65536, MREMAP_MAYMOVE);
		SB_CHECK(p != MAP_FAILED);
	}
	if (p != MAP_FAILED) {
		SB_CHECK(p[0] == 1);
		SB_CHECK(mprotect(p, 4096, PROT_READ) == 0);
		SB_CHECK(madvise(p + 4096, 4096, MADV_DONTNEED) == 0);
		SB_CHECK(munmap(p, 65536) == 0);
	}
	/* Large (mmap) and small (brk) allocations. */
	big = malloc(8 << 20);
	SB_CHECK(big != NULL);
	if (big != NULL) {
		memset(big, 0xA5, 8 << 20);
		free(big);
	}
	big = malloc(100000);
	SB_CHECK(big != NULL);
	free(big);
}

static void
sb_check_files(char *f, size_t flen)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[2];
	struct iovec iov[2];
	uint64_t one = 1, v = 0;
	char buf[8], a[2], b[2];
	int efd;

	iov[0] = (struct iovec){ (void *)(uintptr_t)"disk", 4 };
	SB_CHECK(pwritev(sb_pre.tfd, iov, 1, 512) == 4);
	SB_CHECK(pread(sb_pre.tfd, buf, 4, 512) == 4 &&
	    memcmp(buf, "disk", 4) == 0);
	iov[0] = (struct iovec){ (void *)(uintptr_t)"ab", 2 };
	iov[1] = (struct iovec){ (void *)(uintptr_t)"cd", 2 };
	SB_CHECK(pwritev(sb_pre.tfd, iov, 2, 1024) == 4);
	iov[0] = (struct iovec){ a, 2 };
	iov[1] = (struct iovec){ b, 2 };
	SB_CHECK(preadv(sb_pre.tfd, iov, 2, 1024) == 4 &&
	    memcmp(a, "ab", 2) == 0 && memcmp(b, "cd", 2) == 0);
	SB_CHECK(fdatasync(sb_pre.tfd) == 0);

	efd = sb_pre.efd;
	ev.data.fd = efd;
	SB_CHECK(epoll_ctl(sb_pre.epfd, EPOLL_CTL_ADD, efd, &ev) == 0);
	SB_CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	SB_CHECK(epoll_wait(sb_pre.epfd, out, 2, 1000) == 1);
	SB_CHECK(read(efd, &v, sizeof(v)) == sizeof(v) && v == 1);
	SB_CHECK(epoll_ctl(sb_pre.epfd, EPOLL_CTL_DEL, efd, NULL) == 0);
	SB_CHECK(close(efd) == 0);

	/* No client waits: the control socket's accept says so. */
	SB_CHECK(accept4(sb_pre.lfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC) == -1 && errno == EAGAIN);
}

static void
sb_check_threads(char *f, size_t flen)
{
	atomic_int flag = 0;
	pthread_t t;

	SB_CHECK(syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS);
	SB_CHECK(pthread_create(&t, NULL, sb_thread_flag, &flag) == 0 &&
	    pthread_join(t, NULL) == 0 && atomic_load(&flag) == 1);
	/* nvmm_vcpu_stop's kick: pthread_kill, a handler, rt_sigreturn. */
	SB_CHECK(pthread_create(&t, NULL, sb_thread_kicked, NULL) == 0);
	SB_CHECK(pthread_kill(t, SB_KICK_SIGNAL) == 0);
	SB_CHECK(pthread_join(t, NULL) == 0 &&
	    atomic_load(&sb_pre.kicked) == 1);
	/* A single-threaded child: its one thread's id is its pid. */
	SB_CHECK(syscall(SYS_tgkill, getpid(), getpid(), 0) == 0);
}

static void
sb_check_misc(char *f, size_t flen)
{
	struct timespec ts;
	uint8_t rnd[16];

	SB_CHECK(getrandom(rnd, sizeof(rnd), 0) == sizeof(rnd));
	SB_CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0);
	SB_CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0);
	/* KVM requests pass the filter and reach the kernel's checks. */
	SB_CHECK(ioctl(-1, KVM_RUN, 0) == -1 && errno == EBADF);
	SB_CHECK(ioctl(-1, KVM_GET_REGS, NULL) == -1 && errno == EBADF);
	SB_CHECK(ioctl(-1, KVM_IRQ_LINE, NULL) == -1 && errno == EBADF);
	SB_CHECK(ioctl(-1, KVM_CREATE_VM, 0) == -1 && errno == EBADF);
	SB_CHECK(sched_yield() == 0);
}

/* The control socket's calls: peer credentials, poll, FIONBIO. */
static void
sb_check_sockets(char *f, size_t flen)
{
	struct pollfd pfd = { sb_pre.pair[0], POLLOUT, 0 };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int on = 1;

	SB_CHECK(getsockopt(sb_pre.pair[0], SOL_SOCKET, SO_PEERCRED, &cr,
	    &len) == 0 && cr.pid == getpid());
	SB_CHECK(poll(&pfd, 1, 0) == 1);
	SB_CHECK(ioctl(sb_pre.pair[0], FIONBIO, &on) == 0);
	SB_CHECK(lseek(sb_pre.tfd, 0, SEEK_END) == 1028);
}

static void
sb_do_allowed(int rep)
{
	struct sb_report r;

	memset(&r, 0, sizeof(r));
	sb_check_memory(r.failed, sizeof(r.failed));
	sb_check_files(r.failed, sizeof(r.failed));
	sb_check_threads(r.failed, sizeof(r.failed));
	sb_check_misc(r.failed, sizeof(r.failed));
	sb_check_sockets(r.failed, sizeof(r.failed));
	if (write(rep, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(SB_EXIT_NOGO);
}

static void
test_allowed_work(void **state)
{
	struct sb_child c;
	struct sb_report r;
	char desc[64];
	int st;

	(void)state;
	sb_child_start(&c, sb_user(), sb_do_allowed, NULL);
	sb_child_report(&c, &r);
	assert_int_equal(r.error, 0);
	sb_child_go(&c);
	sb_child_report(&c, &r);
	st = sb_child_wait(&c);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != SB_EXIT_SURVIVED)
		fail_msg("child ended with %s (failures so far: %s)",
		    sb_describe(st, desc, sizeof(desc)), r.failed);
	if (r.failed[0] != '\0')
		fail_msg("allowed calls failed: %s", r.failed);
}

/*
 * stat and unlink fail with EACCES instead of killing (control_destroy
 * tries them at the end) and do nothing.
 */
static void
sb_prep_file(void)
{
	int fd;

	snprintf(sb_pre.path, sizeof(sb_pre.path), "/tmp/vmmsb.XXXXXX");
	if ((fd = mkstemp(sb_pre.path)) != -1)
		close(fd);
}

static void
sb_do_refused(int rep)
{
	struct sb_report r;
	struct stat st;
	char *f = r.failed;
	size_t flen = sizeof(r.failed);

	memset(&r, 0, sizeof(r));
	SB_CHECK(stat(sb_pre.path, &st) == -1 && errno == EACCES);
	SB_CHECK(unlink(sb_pre.path) == -1 && errno == EACCES);
	SB_CHECK(unlinkat(AT_FDCWD, sb_pre.path, 0) == -1 && errno == EACCES);
	if (write(rep, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(SB_EXIT_NOGO);
}

static void
test_refused_quietly(void **state)
{
	struct sb_child c;
	struct sb_report r;
	struct stat st;
	char desc[64];
	int st_child;

	(void)state;
	sb_prep_file();
	sb_child_start(&c, sb_user(), sb_do_refused, NULL);
	sb_child_report(&c, &r);
	assert_int_equal(r.error, 0);
	sb_child_go(&c);
	sb_child_report(&c, &r);
	st_child = sb_child_wait(&c);
	if (!WIFEXITED(st_child) || WEXITSTATUS(st_child) != SB_EXIT_SURVIVED)
		fail_msg("child ended with %s",
		    sb_describe(st_child, desc, sizeof(desc)));
	if (r.failed[0] != '\0')
		fail_msg("refused calls: %s", r.failed);
	/* Still there. */
	assert_int_equal(stat(sb_pre.path, &st), 0);
	unlink(sb_pre.path);
}

/* ------------------------------------------------------------------------ */
/* Identities. */

static void
sb_require_root(void)
{
	if (!sb_is_root()) {
		print_message("  (needs root: the uid drop)\n");
		skip();
	}
}

static void
test_identity_default_nobody(void **state)
{
	struct sb_report r;
	int st;

	(void)state;
	sb_require_root();
	st = sb_child_run(NULL, NULL, NULL, SB_NOBODY, SB_NOBODY, &r);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), SB_EXIT_SURVIVED);
}

static void
test_identity_numeric(void **state)
{
	struct sb_report r;
	char uid[16];
	int st;

	(void)state;
	sb_require_root();
	st = sb_child_run("65534", NULL, NULL, SB_NOBODY, SB_NOBODY, &r);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), SB_EXIT_SURVIVED);
	/* No passwd entry: the group is the same number. */
	snprintf(uid, sizeof(uid), "%d", SB_UNLISTED_UID);
	st = sb_child_run(uid, NULL, NULL, SB_UNLISTED_UID, SB_UNLISTED_UID,
	    &r);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), SB_EXIT_SURVIVED);
}

/* The child becomes nobody by itself first: a non-root worker. */
static void
sb_become_nobody(void)
{
	if (setgroups(0, NULL) == -1 ||
	    setresgid(SB_NOBODY, SB_NOBODY, SB_NOBODY) == -1 ||
	    setresuid(SB_NOBODY, SB_NOBODY, SB_NOBODY) == -1)
		_exit(SB_EXIT_NOGO);
}

static void
test_identity_not_root(void **state)
{
	struct sb_report r;
	int st;

	(void)state;
	sb_require_root();
	/* NULL and our own name keep the ids and still confine. */
	st = sb_child_run(NULL, NULL, sb_become_nobody, SB_NOBODY, SB_NOBODY,
	    &r);
	assert_int_equal(WEXITSTATUS(st), SB_EXIT_SURVIVED);
	st = sb_child_run("nobody", sb_do_openat, sb_become_nobody, SB_NOBODY,
	    SB_NOBODY, &r);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* sandbox_enter refuses: its result, its message, and nothing installed. */
static const struct sb_refusal {
	const char *user;
	bool as_nobody;		/* the child is already nobody */
	int error;
	const char *msg;
} sb_refusals[] = {
	{ "no-such-vmm-user", false, -ENOENT,
	    "user no-such-vmm-user: no such user" },
	{ "root", false, -EPERM, "user root has uid 0 gid 0: the sandbox "
	    "needs an unprivileged user and group" },
	{ "0", false, -EPERM, "user 0 has uid 0 gid 0: the sandbox needs an "
	    "unprivileged user and group" },
	{ "daemon", true, -EPERM,
	    "cannot become user daemon (uid 1): not running as root" },
};

static void
test_identity_refused(void **state)
{
	const struct sb_refusal *t;
	struct sb_child c;
	struct sb_report r;
	size_t i;
	int st;

	(void)state;
	sb_require_root();
	for (i = 0; i < sizeof(sb_refusals) / sizeof(sb_refusals[0]); i++) {
		t = &sb_refusals[i];
		sb_child_start(&c, t->user, NULL,
		    t->as_nobody ? sb_become_nobody : NULL);
		sb_child_report(&c, &r);
		/* Refused before anything changed. */
		sb_expect_line(c.pid, 0, "NoNewPrivs", "NoNewPrivs:\t0");
		sb_expect_line(c.pid, 0, "Seccomp", "Seccomp:\t0");
		st = sb_child_wait(&c);
		if (r.error != t->error || strcmp(r.err, t->msg) != 0)
			fail_msg("user %s: %d \"%s\", expected %d \"%s\"",
			    t->user, r.error, r.err, t->error, t->msg);
		assert_int_equal(WEXITSTATUS(st), SB_EXIT_REFUSED);
	}
}

/* ------------------------------------------------------------------------ */
/* The real worker, sandboxed. */

struct sb_worker {
	struct wt_proc p;
	char dir[64];		/* run directory and definition */
	char def[96];
};

/*
 * The test's worker.  Static, so that the teardown can stop it and
 * remove its directory when a check fails in the middle of a test.
 */
static struct sb_worker sb_w;

static struct sb_worker *
sb_worker_new(void)
{
	memset(&sb_w, 0, sizeof(sb_w));
	sb_w.p.pid = -1;
	sb_w.p.out_fd = sb_w.p.err_fd = -1;
	return &sb_w;
}

/* As root the worker drops to nobody; otherwise it keeps our ids. */
static const char *
sb_worker_user(void)
{
	return sb_is_root() ? "nobody" : NULL;
}

static long
sb_worker_uid(void)
{
	return sb_is_root() ? SB_NOBODY : -1;
}

/*
 * A raw real-mode definition for guest NAME loaded at 0x1000, with the
 * in-kernel irqchip and PIT if asked.
 */
static void
sb_def(char *buf, size_t len, const char *guest, bool irqchip)
{
	snprintf(buf, len, "{\"name\": \"sb\", \"uuid\": \"" SB_UUID "\", "
	    "\"memory\": {\"size_mib\": 2}, "
	    "\"os\": {\"loader\": \"raw\", \"kernel\": \"%s/tests/guests/"
	    "%s.bin\", \"load_address\": \"0x1000\", \"mode\": \"real\"}, "
	    "\"features\": {\"irqchip\": %s, \"pit\": %s}, "
	    "\"devices\": {\"debug_exit\": true}, \"shutdown_timeout\": 1}",
	    BUILD_DIR, guest, irqchip ? "true" : "false",
	    irqchip ? "true" : "false");
}

/*
 * Start the worker without -S (as root with -u user, unless user is
 * NULL), with run directory and definition in a directory of ours:
 * wt_spawn would add -S.
 */
static void
sb_worker_start(struct sb_worker *w, const char *guest, bool irqchip,
    const char *user)
{
	const char *argv[8];
	char json[1024];
	size_t n = 0;
	FILE *f;

	sb_def(json, sizeof(json), guest, irqchip);
	snprintf(w->dir, sizeof(w->dir), "/tmp/vmmsb.XXXXXX");
	if (mkdtemp(w->dir) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(w->def, sizeof(w->def), "%s/def.json", w->dir);
	if ((f = fopen(w->def, "w")) == NULL || fputs(json, f) == EOF ||
	    fclose(f) != 0)
		fail_msg("%s: cannot write", w->def);
	argv[n++] = WT_WORKER;
	argv[n++] = "-r";
	argv[n++] = w->dir;
	if (user != NULL) {
		argv[n++] = "-u";
		argv[n++] = user;
	}
	argv[n++] = w->def;
	argv[n] = NULL;
	wt_spawn_argv(&w->p, json, argv);
}

static int
sb_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
sb_worker_cleanup(struct sb_worker *w)
{
	wt_cleanup(&w->p);
	if (w->dir[0] != '\0')
		nftw(w->dir, sb_rm, 8, FTW_DEPTH | FTW_PHYS);
	w->dir[0] = '\0';
}

static void
sb_worker_wait(struct sb_worker *w)
{
	if (wt_wait(&w->p, SB_TIMEOUT_MS) != 0) {
		print_error("console:\n%s\nlog:\n%s\n",
		    w->p.console ? w->p.console : "",
		    w->p.log ? w->p.log : "");
		fail_msg("the worker still runs after %d ms", SB_TIMEOUT_MS);
	}
}

static void
sb_worker_expect(struct sb_worker *w, int status, const char *console)
{
	if (w->p.status != status || strcmp(w->p.console, console) != 0) {
		print_error("log:\n%s\n", w->p.log);
		fail_msg("status %d console \"%s\", expected %d \"%s\"",
		    w->p.status, w->p.console, status, console);
	}
}

/* Guests that run to their end under the sandbox. */
static const struct sb_guest_case {
	const char *guest;
	bool irqchip;
	int status;
	const char *console;
} sb_guest_cases[] = {
	{ "sb_hello", false, WORKER_DEBUG_EXIT_BASE + 5, "sandboxed guest\n" },
	/* The irqchip's interrupt lines (the UART's) after setup. */
	{ "sb_hello", true, WORKER_DEBUG_EXIT_BASE + 5, "sandboxed guest\n" },
	/* libvmm's OUT probe (a throwaway VM) runs under the sandbox. */
	{ "sb_double_out", false, WORKER_DEBUG_EXIT_BASE + 6, "ook\n" },
};

/* (1) Guests work under the sandbox: console bytes, exit status. */
static void
test_worker_guest_runs(void **state)
{
	const struct sb_guest_case *t;
	struct sb_worker *w = sb_worker_new();
	size_t i;

	(void)state;
	wt_require_worker();
	for (i = 0; i < sizeof(sb_guest_cases) / sizeof(sb_guest_cases[0]);
	    i++) {
		t = &sb_guest_cases[i];
		sb_worker_start(w, t->guest, t->irqchip, sb_worker_user());
		sb_worker_wait(w);
		if (w->p.status != t->status ||
		    strcmp(w->p.console, t->console) != 0)
			print_error("case %zu: %s%s\n", i, t->guest,
			    t->irqchip ? " with irqchip" : "");
		sb_worker_expect(w, t->status, t->console);
		sb_worker_cleanup(w);
	}
}

/* Wait for the guest's "waiting\n", failing with the log if it does not. */
static void
sb_worker_until_waiting(struct sb_worker *w)
{
	if (!wt_console_wait(&w->p, "waiting\n", SB_TIMEOUT_MS)) {
		(void)wt_wait(&w->p, 100);
		print_error("console:\n%s\nlog:\n%s\n",
		    w->p.console ? w->p.console : "",
		    w->p.log ? w->p.log : "");
		fail_msg("the guest did not start");
	}
}

/*
 * Stop it with SIGTERM: a graceful stop the guest ignores, forced off
 * after the definition's 1 s (a libuv timer, under the sandbox).
 */
static void
sb_worker_term(struct sb_worker *w)
{
	kill(w->p.pid, SIGTERM);
	sb_worker_wait(w);
	sb_worker_expect(w, 0, "waiting\n");
}

/* (2) The running worker and each of its threads: nobody, confined. */
static void
test_worker_confined(void **state)
{
	struct sb_worker *w = sb_worker_new();
	char path[64];
	struct dirent *de;
	unsigned int ntasks = 0;
	DIR *d;

	(void)state;
	wt_require_worker();
	sb_worker_start(w, "sb_wait", false, sb_worker_user());
	sb_worker_until_waiting(w);
	sb_expect_confined(w->p.pid, 0, sb_worker_uid(), SB_NOBODY);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)w->p.pid);
	if ((d = opendir(path)) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		sb_expect_confined(w->p.pid, (pid_t)atoi(de->d_name),
		    sb_worker_uid(), SB_NOBODY);
		ntasks++;
	}
	closedir(d);
	/* The main thread and the vcpu thread at least. */
	assert_true(ntasks >= 2);
	sb_worker_term(w);
	sb_worker_cleanup(w);
}

/* One line from the control socket (at most len - 1 bytes), or fail. */
static void
sb_ctl_line(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t n = 0;

	while (n < len - 1) {
		if (poll(&pfd, 1, SB_TIMEOUT_MS) != 1 ||
		    read(fd, buf + n, 1) != 1)
			fail_msg("control socket: no line (got \"%.*s\")",
			    (int)n, buf);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
}

static void
sb_ctl_send(int fd, const char *line)
{
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		fail_msg("control socket: write: %s", strerror(errno));
}

/*
 * The control socket under the sandbox: accept, the peer check, the
 * handshake, a request, pause (the vcpu is stopped and parked), resume
 * and a forced stop, which ends the worker with poweroff.
 */
static void
test_worker_control(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sb_worker *w = sb_worker_new();
	char line[4096], want[128];
	int fd;

	(void)state;
	wt_require_worker();
	sb_worker_start(w, "sb_wait", false, sb_worker_user());
	sb_worker_until_waiting(w);
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/vm/%s.sock", w->dir, SB_UUID) >= sizeof(sun.sun_path))
		fail_msg("socket path too long");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fail_msg("connect %s: %s", sun.sun_path, strerror(errno));
	sb_ctl_line(fd, line, sizeof(line));
	snprintf(want, sizeof(want), "{\"event\":\"hello\",\"uuid\":\"%s\","
	    "\"pid\":%d,\"state\":\"running\",", SB_UUID, (int)w->p.pid);
	if (strncmp(line, want, strlen(want)) != 0)
		fail_msg("hello: %s", line);
	sb_ctl_send(fd, "{\"cmd\":\"pause\",\"id\":1}\n");
	sb_ctl_line(fd, line, sizeof(line));
	assert_string_equal(line,
	    "{\"id\":1,\"ok\":true,\"state\":\"paused\"}\n");
	sb_ctl_send(fd, "{\"cmd\":\"resume\",\"id\":2}\n");
	sb_ctl_line(fd, line, sizeof(line));
	assert_string_equal(line,
	    "{\"id\":2,\"ok\":true,\"state\":\"running\"}\n");
	sb_ctl_send(fd, "{\"cmd\":\"stop\",\"force\":true,\"id\":3}\n");
	sb_worker_wait(w);
	close(fd);
	sb_worker_expect(w, 0, "waiting\n");
	sb_worker_cleanup(w);
}

/* A bad -u: one clear line and the os-error status, before any guest. */
static void
test_worker_bad_user(void **state)
{
	struct sb_worker *w = sb_worker_new();

	(void)state;
	wt_require_worker();
	sb_worker_start(w, "sb_hello", false, "no-such-vmm-user");
	sb_worker_wait(w);
	assert_int_equal(w->p.status, worker_exit_status(WORKER_EXIT_OSERR));
	assert_string_equal(w->p.console, "");
	if (strstr(w->p.log, "sandbox: user no-such-vmm-user: no such user\n")
	    == NULL)
		fail_msg("log: %s", w->p.log);
	sb_worker_cleanup(w);
}

/*
 * Trace the worker's main thread to its next system call entry and, if
 * nr >= 0, turn that call into nr (openat(AT_FDCWD, NULL, O_RDONLY)); the
 * kernel runs the seccomp filter again after a tracer's change.  Returns
 * false (the test should skip) when this process may not trace.
 */
static bool
sb_trace_substitute(pid_t pid, long nr)
{
	struct ptrace_syscall_info info;
	struct user_regs_struct regs;
	int st, i, sig = 0;

	if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD) == -1) {
		print_message("  (ptrace: %s)\n", strerror(errno));
		return false;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) == -1 ||
	    waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
		fail_msg("cannot interrupt the worker");
	for (i = 0; i < 100; i++) {
		if (ptrace(PTRACE_SYSCALL, pid, 0, sig) == -1 ||
		    waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
			fail_msg("the worker ended while traced");
		sig = 0;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			/* A signal for it (not ours to swallow). */
			if (st >> 16 == 0)
				sig = WSTOPSIG(st);
			continue;
		}
		memset(&info, 0, sizeof(info));
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info),
		    &info) <= 0)
			fail_msg("PTRACE_GET_SYSCALL_INFO: %s",
			    strerror(errno));
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
			break;
	}
	if (i == 100)
		fail_msg("no system call entry from the worker");
	if (nr >= 0) {
		if (ptrace(PTRACE_GETREGS, pid, 0, &regs) == -1)
			fail_msg("PTRACE_GETREGS: %s", strerror(errno));
		regs.orig_rax = (unsigned long long)nr;
		regs.rdi = (unsigned long long)(long long)AT_FDCWD;
		regs.rsi = 0;
		regs.rdx = O_RDONLY;
		if (ptrace(PTRACE_SETREGS, pid, 0, &regs) == -1)
			fail_msg("PTRACE_SETREGS: %s", strerror(errno));
	}
	if (ptrace(PTRACE_DETACH, pid, 0, 0) == -1)
		fail_msg("PTRACE_DETACH: %s", strerror(errno));
	return true;
}

/* (3) The running worker makes a forbidden call (openat): SIGSYS. */
static void
test_worker_forbidden_kills(void **state)
{
	struct sb_worker *w = sb_worker_new();

	(void)state;
	wt_require_worker();
	sb_worker_start(w, "sb_wait", false, sb_worker_user());
	sb_worker_until_waiting(w);
	if (!sb_trace_substitute(w->p.pid, SYS_openat)) {
		sb_worker_cleanup(w);
		skip();
	}
	sb_worker_wait(w);
	if (w->p.status != 128 + SIGSYS)
		fail_msg("status %d, expected %d (SIGSYS); log:\n%s",
		    w->p.status, 128 + SIGSYS, w->p.log);
	sb_worker_cleanup(w);
}

/* The control: the same tracing without the change leaves it running. */
static void
test_worker_traced_untouched_survives(void **state)
{
	struct sb_worker *w = sb_worker_new();

	(void)state;
	wt_require_worker();
	sb_worker_start(w, "sb_wait", false, sb_worker_user());
	sb_worker_until_waiting(w);
	if (!sb_trace_substitute(w->p.pid, -1)) {
		sb_worker_cleanup(w);
		skip();
	}
	usleep(50000);
	assert_int_equal(wt_wait(&w->p, 0), -1);	/* still running */
	sb_worker_term(w);
	sb_worker_cleanup(w);
}

/*
 * With VMM_WORKER_TEST_FORBIDDEN=openat the worker opens a file right
 * after entering the sandbox (a test hook in main.c, which logs that it
 * does): SIGSYS.  Skips while the worker has no such hook.
 */
static void
test_worker_hook_forbidden(void **state)
{
	struct sb_worker *w = sb_worker_new();

	(void)state;
	wt_require_worker();
	setenv("VMM_WORKER_TEST_FORBIDDEN", "openat", 1);
	sb_worker_start(w, "sb_hello", false, sb_worker_user());
	unsetenv("VMM_WORKER_TEST_FORBIDDEN");
	sb_worker_wait(w);
	if (strstr(w->p.log, "VMM_WORKER_TEST_FORBIDDEN") == NULL) {
		print_message("  (the worker has no VMM_WORKER_TEST_FORBIDDEN "
		    "hook; status %d)\n", w->p.status);
		sb_worker_cleanup(w);
		skip();
	}
	if (w->p.status != 128 + SIGSYS)
		fail_msg("status %d, expected %d (SIGSYS); log:\n%s",
		    w->p.status, 128 + SIGSYS, w->p.log);
	assert_string_equal(w->p.console, "");
	sb_worker_cleanup(w);
}

/* After each test, whatever it left: a child, a worker, a directory. */
static int
sb_teardown(void **state)
{
	int st;

	(void)state;
	if (sb_live.pid > 0) {
		kill(sb_live.pid, SIGKILL);
		waitpid(sb_live.pid, &st, 0);
		close(sb_live.report_fd);
		close(sb_live.go_fd);
		sb_live.pid = -1;
	}
	if (sb_w.dir[0] != '\0')
		sb_worker_cleanup(&sb_w);
	return 0;
}

#define SB_TEST(f)	cmocka_unit_test_teardown(f, sb_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		SB_TEST(test_forbidden_kills),
		SB_TEST(test_allowed_work),
		SB_TEST(test_refused_quietly),
		SB_TEST(test_identity_default_nobody),
		SB_TEST(test_identity_numeric),
		SB_TEST(test_identity_not_root),
		SB_TEST(test_identity_refused),
		SB_TEST(test_worker_guest_runs),
		SB_TEST(test_worker_confined),
		SB_TEST(test_worker_control),
		SB_TEST(test_worker_bad_user),
		SB_TEST(test_worker_forbidden_kills),
		SB_TEST(test_worker_traced_untouched_survives),
		SB_TEST(test_worker_hook_forbidden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
