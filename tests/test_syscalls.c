/*
 * test_syscalls.c: the comm-page contract, measured.  A handled IO exit
 * must cost exactly one system call, the KVM_RUN ioctl: the state of an
 * IO exit is already in the cache, so getstate, setstate and
 * nvmm_assist_io make none (NVMM.md 1.5, "state_provide").
 *
 * A child runs the guest tests/guests/sys_out_loop.S under ptrace.  It
 * makes a marker system call (getppid), handles SYS_ITERS IO exits, and
 * makes a second marker; the parent counts the system calls between the
 * two markers and checks that each is ioctl(KVM_RUN).  The child reports
 * what the guest saw through a pipe.  Needs /dev/kvm and ptrace; skips
 * without either.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <cmocka.h>

#include "nvmm.h"
#include "vmtest.h"

#define SYS_ITERS	100	/* exits measured */
#define SYS_WARMUP	5	/* exits handled before the first marker */
#define SYS_RAM		0x10000UL
#define SYS_PORT	0x10
#define SYS_OUT_RIP	(VMTEST_GUEST_BASE + 2)	/* the OUT in the guest */
#define SYS_OUT_NPC	(VMTEST_GUEST_BASE + 4)
#define SYS_RBX_ASSIST	0x1234	/* what the guest writes in the assist case */
#define SYS_WATCHDOG	60	/* seconds the child may take */

VMTEST_DECLARE_GUEST(sys_out_loop);

enum sys_way {
	SYS_MANUAL,	/* getstate, RBX += 1, RIP = npc, setstate */
	SYS_ASSIST,	/* nvmm_assist_io */
};

/* What the child sends the parent when it is done. */
struct sys_report {
	bool skip;		/* the child could not be traced */
	bool failed;		/* a call failed: see msg */
	char msg[200];
	unsigned int iters;	/* exits handled between the markers */
	unsigned int bad_exits;	/* not the expected IO exit */
	unsigned int bad_data;	/* OUT data not what the guest had to send */
	unsigned int io_calls;	/* io callbacks between the markers */
	uint64_t rbx_before, rbx_after;
	uint64_t rsi_before, rsi_after;
};

/* What the parent saw between the markers. */
struct sys_count {
	unsigned int markers;
	unsigned int calls;	/* system calls strictly between them */
	unsigned int ioctls;	/* of which ioctl(KVM_RUN) */
	long first_other;	/* the first other syscall number, or -1 */
	unsigned long first_other_req;	/* its request, if an ioctl */
};

/* ------------------------------------------------------------------------ */
/* The child.  It must not use cmocka: it reports through the pipe. */

static struct {
	struct vmtest t;
	struct sys_report rep;
	uint16_t want;		/* the data the next OUT must carry */
} child;

static void
child_fail(const char *what)
{
	if (child.rep.failed)
		return;
	child.rep.failed = true;
	snprintf(child.rep.msg, sizeof(child.rep.msg), "%s: %s", what,
	    strerror(errno));
}

static void
child_io_cb(struct nvmm_io *io)
{
	uint16_t data;

	child.rep.io_calls++;
	memcpy(&data, io->data, sizeof(data));
	if (io->mach != &child.t.mach || io->vcpu != &child.t.vcpu ||
	    io->in || io->port != SYS_PORT || io->size != 2 ||
	    data != child.want)
		child.rep.bad_data++;
}

/* Real mode at 0:VMTEST_GUEST_BASE, without the cmocka harness. */
static int
child_setup(struct vmtest *t, enum sys_way way)
{
	struct nvmm_assist_callbacks cbs = { .io = child_io_cb, .mem = NULL };
	struct nvmm_x64_state *st;
	uint64_t flags = NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS;

	if (vmtest_init(t, SYS_RAM) == -1) {
		child_fail("vmtest_init");
		return -1;
	}
	if (nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &cbs) == -1) {
		child_fail("nvmm_vcpu_configure");
		return -1;
	}
	vmtest_load(t, VMTEST_GUEST_BASE, VMTEST_GUEST(sys_out_loop));
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, flags) == -1) {
		child_fail("getstate");
		return -1;
	}
	st = t->vcpu.state;
	st->segs[NVMM_X64_SEG_CS].selector = 0;
	st->segs[NVMM_X64_SEG_CS].base = 0;
	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RIP] = VMTEST_GUEST_BASE;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;
	st->gprs[NVMM_X64_GPR_RSP] = VMTEST_REAL_SP;
	if (way == SYS_ASSIST)
		st->gprs[NVMM_X64_GPR_RBX] = SYS_RBX_ASSIST;
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, flags) == -1) {
		child_fail("setstate");
		return -1;
	}
	return 0;
}

static bool
child_exit_ok(const struct nvmm_vcpu_exit *exit)
{
	return exit->reason == NVMM_VCPU_EXIT_IO && !exit->u.io.in &&
	    exit->u.io.port == SYS_PORT && exit->u.io.operand_size == 2 &&
	    !exit->u.io.str && exit->u.io.npc == SYS_OUT_NPC;
}

/*
 * One exit, handled by hand: the guest sends BX, so the k-th OUT carries
 * k when RBX starts at 0 and every handled exit adds 1 to it.
 */
static int
child_manual(struct vmtest *t)
{
	uint64_t *g = t->vcpu.state->gprs;

	if (nvmm_vcpu_run(&t->mach, &t->vcpu) == -1) {
		child_fail("nvmm_vcpu_run");
		return -1;
	}
	if (!child_exit_ok(t->vcpu.exit)) {
		child.rep.bad_exits++;
		return -1;
	}
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) ==
	    -1) {
		child_fail("getstate");
		return -1;
	}
	if (g[NVMM_X64_GPR_RIP] != SYS_OUT_RIP ||
	    (uint16_t)g[NVMM_X64_GPR_RAX] != child.want)
		child.rep.bad_data++;
	g[NVMM_X64_GPR_RBX] += 1;
	g[NVMM_X64_GPR_RIP] = t->vcpu.exit->u.io.npc;
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) ==
	    -1) {
		child_fail("setstate");
		return -1;
	}
	child.want++;
	return 0;
}

/* One exit, handled by nvmm_assist_io; the callback checks the data. */
static int
child_assist(struct vmtest *t)
{
	if (nvmm_vcpu_run(&t->mach, &t->vcpu) == -1) {
		child_fail("nvmm_vcpu_run");
		return -1;
	}
	if (!child_exit_ok(t->vcpu.exit)) {
		child.rep.bad_exits++;
		return -1;
	}
	if (nvmm_assist_io(&t->mach, &t->vcpu) == -1) {
		child_fail("nvmm_assist_io");
		return -1;
	}
	return 0;
}

static void
child_gprs(struct vmtest *t, uint64_t *rbx, uint64_t *rsi)
{
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) ==
	    -1) {
		child_fail("getstate");
		return;
	}
	*rbx = t->vcpu.state->gprs[NVMM_X64_GPR_RBX];
	*rsi = t->vcpu.state->gprs[NVMM_X64_GPR_RSI];
}

/*
 * The measured part: SYS_WARMUP exits, the first marker, SYS_ITERS exits,
 * the second marker.  Nothing but the exits may run between the markers.
 */
static void
child_measure(struct vmtest *t, enum sys_way way)
{
	int (*handle)(struct vmtest *) = way == SYS_MANUAL ? child_manual :
	    child_assist;
	unsigned int i;

	child.want = way == SYS_MANUAL ? 0 : SYS_RBX_ASSIST;
	for (i = 0; i < SYS_WARMUP; i++)
		if (handle(t) == -1)
			return;
	child_gprs(t, &child.rep.rbx_before, &child.rep.rsi_before);
	child.rep.io_calls = 0;

	(void)syscall(SYS_getppid);
	for (i = 0; i < SYS_ITERS; i++) {
		if (handle(t) == -1)
			break;
		child.rep.iters++;
	}
	(void)syscall(SYS_getppid);

	child_gprs(t, &child.rep.rbx_after, &child.rep.rsi_after);
}

static void __attribute__((noreturn))
child_main(int wfd, enum sys_way way)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	size_t i;

	/* cmocka's handlers would longjmp into the parent's test. */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	memset(&child, 0, sizeof(child));
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1) {
		child.rep.skip = true;
		snprintf(child.rep.msg, sizeof(child.rep.msg),
		    "ptrace(PTRACE_TRACEME): %s", strerror(errno));
	} else {
		raise(SIGSTOP);
		alarm(SYS_WATCHDOG);
		if (child_setup(&child.t, way) == 0)
			child_measure(&child.t, way);
		vmtest_fini(&child.t);
	}
	if (write(wfd, &child.rep, sizeof(child.rep)) !=
	    (ssize_t)sizeof(child.rep))
		_exit(2);
	_exit(0);
}

/* ------------------------------------------------------------------------ */
/* The parent: the tracer. */

/* The child and the pipe of the running test, for the teardown. */
static struct {
	pid_t pid;
	int rfd;
} tracee = { -1, -1 };

/*
 * A syscall stop.  Stops alternate between entry and exit (*in_call says
 * which comes); at an entry the kernel has set RAX to -ENOSYS, which
 * checks that the tracer has not lost count.  Entries between the markers
 * are counted.
 */
static void
syscall_stop(pid_t pid, bool *in_call, struct sys_count *cnt)
{
	struct user_regs_struct regs;
	long nr;

	if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) == -1)
		fail_msg("ptrace(PTRACE_GETREGS): %s", strerror(errno));
	*in_call = !*in_call;
	if (!*in_call)
		return;
	if ((long)regs.rax != -ENOSYS)
		fail_msg("syscall-entry stop with RAX %lld: lost track of "
		    "entries and exits", (long long)regs.rax);
	nr = (long)regs.orig_rax;
	if (nr == SYS_getppid) {
		cnt->markers++;
		return;
	}
	if (cnt->markers != 1)
		return;
	cnt->calls++;
	/* ioctl(fd, request, arg): the request is the second argument. */
	if (nr == SYS_ioctl && regs.rsi == KVM_RUN)
		cnt->ioctls++;
	else if (cnt->first_other == -1) {
		cnt->first_other = nr;
		cnt->first_other_req = regs.rsi;
	}
}

/*
 * Trace the child until it exits, counting system calls between its two
 * markers.  After the second marker it runs untraced.  Returns false (and
 * the reason in why) when the child cannot be traced.
 */
static bool
trace(pid_t pid, struct sys_count *cnt, char *why, size_t whylen)
{
	int st, sig = 0;
	bool in_call = false;
	long req;

	if (waitpid(pid, &st, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	if (!WIFSTOPPED(st)) {
		tracee.pid = -1;	/* reaped */
		snprintf(why, whylen, "the child did not stop for tracing");
		return false;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
	    (void *)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)) == -1) {
		snprintf(why, whylen, "ptrace(PTRACE_SETOPTIONS): %s",
		    strerror(errno));
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &st, 0);
		tracee.pid = -1;
		return false;
	}
	for (;;) {
		req = cnt->markers >= 2 ? PTRACE_CONT : PTRACE_SYSCALL;
		if (ptrace((enum __ptrace_request)req, pid, NULL,
		    (void *)(long)sig) == -1)
			fail_msg("ptrace(%s): %s", req == PTRACE_CONT ?
			    "PTRACE_CONT" : "PTRACE_SYSCALL", strerror(errno));
		sig = 0;
		if (waitpid(pid, &st, 0) == -1)
			fail_msg("waitpid: %s", strerror(errno));
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (!WIFSTOPPED(st))
			continue;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			syscall_stop(pid, &in_call, cnt);
		} else {
			sig = WSTOPSIG(st);	/* deliver it */
		}
	}
	tracee.pid = -1;	/* reaped */
	if (WIFSIGNALED(st))
		fail_msg("the child died of signal %d", WTERMSIG(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("the child exited with status %d", WEXITSTATUS(st));
	return true;
}

static void
read_report(int rfd, struct sys_report *rep)
{
	ssize_t n;

	n = read(rfd, rep, sizeof(*rep));
	if (n != (ssize_t)sizeof(*rep))
		fail_msg("the child's report: %zd bytes of %zu", n,
		    sizeof(*rep));
}

/* Fork and trace a child measuring one way of handling the exits. */
static void
measure(enum sys_way way, const char *name)
{
	struct sys_count cnt = { .first_other = -1 };
	struct sys_report rep;
	char why[200] = "";
	int fds[2];
	pid_t pid;
	bool traced;

	vmtest_require_kvm();
	if (pipe2(fds, O_CLOEXEC) == -1)
		fail_msg("pipe2: %s", strerror(errno));
	tracee.rfd = fds[0];
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		close(fds[1]);
		fail_msg("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], way);
	}
	tracee.pid = pid;
	close(fds[1]);
	traced = trace(pid, &cnt, why, sizeof(why));
	if (!traced) {
		/* A child that could not trace itself says why. */
		if (read(fds[0], &rep, sizeof(rep)) == (ssize_t)sizeof(rep) &&
		    rep.skip)
			snprintf(why, sizeof(why), "%s", rep.msg);
		print_message("skipped: ptrace is not permitted: %s\n", why);
		skip();
	}
	read_report(fds[0], &rep);

	print_message("%s: %u exits handled; %u system calls between the "
	    "markers, %u of them ioctl(KVM_RUN); %u io callbacks; guest "
	    "RBX +%" PRIu64 ", RSI (its loop count) +%" PRIu64 "\n", name,
	    rep.iters, cnt.calls, cnt.ioctls, rep.io_calls,
	    rep.rbx_after - rep.rbx_before, rep.rsi_after - rep.rsi_before);
	if (rep.failed)
		fail_msg("%s: the child failed: %s", name, rep.msg);
	assert_int_equal(rep.bad_exits, 0);
	assert_int_equal(rep.bad_data, 0);
	assert_int_equal(rep.iters, SYS_ITERS);
	assert_int_equal(cnt.markers, 2);
	if (cnt.first_other == SYS_ioctl)
		print_error("%s: the first system call other than "
		    "ioctl(KVM_RUN): ioctl request 0x%lx\n", name,
		    cnt.first_other_req);
	else if (cnt.first_other != -1)
		print_error("%s: the first system call other than "
		    "ioctl(KVM_RUN): number %ld\n", name, cnt.first_other);
	assert_int_equal(cnt.calls, SYS_ITERS);
	assert_int_equal(cnt.ioctls, SYS_ITERS);
	/*
	 * What the guest saw: each OUT sent the value it had to (bad_data),
	 * and it went round its loop once per exit.
	 */
	assert_int_equal(rep.rsi_after - rep.rsi_before, SYS_ITERS);
	if (way == SYS_MANUAL) {
		assert_int_equal(rep.rbx_after - rep.rbx_before, SYS_ITERS);
	} else {
		assert_int_equal(rep.rbx_after, SYS_RBX_ASSIST);
		assert_int_equal(rep.io_calls, SYS_ITERS);
	}
}

/* Kill and reap a child a failed test left behind; close the pipe. */
static int
teardown(void **state)
{
	if (tracee.pid > 0) {
		(void)kill(tracee.pid, SIGKILL);
		(void)waitpid(tracee.pid, NULL, 0);
		tracee.pid = -1;
	}
	if (tracee.rfd != -1) {
		close(tracee.rfd);
		tracee.rfd = -1;
	}
	return 0;
}

/* getstate GPRS, RBX += 1, RIP = npc, setstate GPRS: one KVM_RUN each. */
static void
test_manual(void **state)
{
	measure(SYS_MANUAL, "manual");
}

/* nvmm_assist_io with an io callback: one KVM_RUN each. */
static void
test_assist(void **state)
{
	measure(SYS_ASSIST, "assist");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_manual, teardown),
		cmocka_unit_test_teardown(test_assist, teardown),
	};

	return cmocka_run_group_tests_name("syscalls", tests, NULL, NULL);
}
