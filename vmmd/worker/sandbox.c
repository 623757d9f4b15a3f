/*
 * sandbox.c: the worker's confinement once setup is done.  When started as
 * root it becomes an unprivileged user (no supplementary groups, real,
 * effective and saved ids all changed, no capability left); then, always,
 * no_new_privs, no core dumps or same-uid ptrace, and a seccomp allowlist
 * whose default action kills the whole process.  libseccomp compiles the
 * allowlist at build time (SANDBOX_GEN, below); the worker loads the BPF.
 *
 * The allowlist is what the worker does after setup and nothing more:
 * every file it will ever use (KVM descriptors, guest RAM, disks, taps,
 * the console, the control socket, libuv's epoll and eventfd) is open by
 * then, so there is no open, no exec, no socket, no connect.  ioctl is
 * restricted to the KVM requests libvmm makes after setup (and libuv's
 * FIONBIO); mmap and mprotect never get PROT_EXEC; clone only makes
 * threads; tgkill only reaches this process.  Each row of
 * sandbox_rules[] says why it is there; a few harmless calls of the
 * worker's teardown (stat and unlink of its socket) fail with EACCES
 * instead of killing.  The set was found by running the worker's test
 * suites with every worker sandboxed and traced (strace -f), built with
 * -DSANDBOX_AUDIT: the default action becomes SCMP_ACT_LOG, nothing is
 * refused, and the kernel log (rate-limited) shows "audit: type=1326 ...
 * syscall=N" for each call the filter would have refused.
 */

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/kvm.h>
#include <seccomp.h>

#include "nvmm_kern.h"
#include "worker.h"

/* The user a root worker becomes when none is named (Debian has it). */
#define SANDBOX_DEFAULT_USER	"nobody"

#ifdef SANDBOX_AUDIT
#define SANDBOX_DEFAULT_ACTION	SCMP_ACT_LOG
#else
#define SANDBOX_DEFAULT_ACTION	SCMP_ACT_KILL_PROCESS
#endif

/* An AddressSanitizer build (make SAN=address): see sandbox_sanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif

#ifdef SANDBOX_SANITIZER
#include <sanitizer/lsan_interface.h>
#endif

#define SANDBOX_ARGS_MAX	2

/*
 * One allowlist row: a syscall, what the filter does with it, and up to
 * SANDBOX_ARGS_MAX argument comparisons that must all hold (rows for the
 * same syscall are alternatives).
 */
struct sandbox_rule {
	const char *name;
	int nr;
	uint32_t action;
	unsigned int argc;
	struct scmp_arg_cmp arg[SANDBOX_ARGS_MAX];
};

#define SB_ALLOW(sc)							\
	{ #sc, SCMP_SYS(sc), SCMP_ACT_ALLOW, 0, { { 0 } } }
/* Allowed when (argument n & mask) == value. */
#define SB_ALLOW_MASKED(sc, n, mask, value)				\
	{ #sc, SCMP_SYS(sc), SCMP_ACT_ALLOW, 1,				\
	    { { (n), SCMP_CMP_MASKED_EQ, (mask), (value) } } }
/* Allowed when argument n0 == v0 and argument n1 == v1. */
#define SB_ALLOW_EQ2(sc, n0, v0, n1, v1)				\
	{ #sc, SCMP_SYS(sc), SCMP_ACT_ALLOW, 2,				\
	    { { (n0), SCMP_CMP_EQ, (v0), 0 }, { (n1), SCMP_CMP_EQ, (v1), 0 } } }
/* Refused with errno e instead of a kill: a harmless call that may fail. */
#define SB_ERRNO(sc, e)							\
	{ #sc, SCMP_SYS(sc), SCMP_ACT_ERRNO(e), 0, { { 0 } } }
/* ioctl with one request number (the kernel compares 32 bits of it). */
#define SB_IOCTL(req)							\
	{ "ioctl " #req, SCMP_SYS(ioctl), SCMP_ACT_ALLOW, 1,		\
	    { { 1, SCMP_CMP_MASKED_EQ, 0xFFFFFFFFULL, (req) } } }

/* The rows are compiled into BPF by the build-time generator only. */
#ifdef SANDBOX_GEN
static const struct sandbox_rule sandbox_rules[] = {
	/*
	 * ioctl: the KVM requests libvmm makes once the machine runs, and
	 * one of libuv's.  Nothing creates an irqchip, enables a capability
	 * or reads the CPUID table after setup.
	 */
	/* vcpu threads: enter the guest. */
	SB_IOCTL(KVM_RUN),
	/*
	 * nvmm_vcpu_getstate/setstate (a vcpu's first run commits its boot
	 * state, assists, AP start-up, a guest reset): the state parts that
	 * do not travel in the kvm_run page.
	 */
	SB_IOCTL(KVM_GET_XCRS),
	SB_IOCTL(KVM_SET_XCRS),
	SB_IOCTL(KVM_GET_DEBUGREGS),
	SB_IOCTL(KVM_SET_DEBUGREGS),
	SB_IOCTL(KVM_GET_MSRS),
	SB_IOCTL(KVM_SET_MSRS),
	SB_IOCTL(KVM_GET_XSAVE),
	SB_IOCTL(KVM_SET_XSAVE),
	/* vm_irq_line: device interrupts on the in-kernel irqchip. */
	SB_IOCTL(KVM_IRQ_LINE),
	/* Teardown unregisters guest RAM (nvmm_gpa_unmap) at the end. */
	SB_IOCTL(KVM_SET_USER_MEMORY_REGION),
	/*
	 * The first OUT exit whose RIP reads both ways (an OUT right after
	 * an OUT) makes libvmm learn KVM's RIP convention on a throwaway
	 * one-page VM (kvm_cpu.c, probe_out_advances): KVM_CREATE_VM on
	 * /dev/kvm, its memory region above, KVM_CREATE_VCPU and the
	 * register state of the one OUT it runs.
	 */
	SB_IOCTL(KVM_CREATE_VM),
	SB_IOCTL(KVM_CREATE_VCPU),
	SB_IOCTL(KVM_GET_REGS),
	SB_IOCTL(KVM_SET_REGS),
	SB_IOCTL(KVM_GET_SREGS),
	SB_IOCTL(KVM_SET_SREGS),
	/*
	 * The same through nvmm.ko when libvmm uses /dev/nvmm (the gate
	 * backend): the probe's machine and vcpu, and the VM-level requests
	 * above (KVM_IRQ_LINE, KVM_SET_USER_MEMORY_REGION), which the gate
	 * forwards by machine id from its own allowlist (nvmm(4)).  Vcpu
	 * requests go straight to KVM, as above.
	 */
	SB_IOCTL(NVMM_IOC_MACHINE_CREATE),
	SB_IOCTL(NVMM_IOC_MACHINE_DESTROY),
	SB_IOCTL(NVMM_IOC_VCPU_CREATE),
	SB_IOCTL(NVMM_IOC_VM_IOCTL),
	/*
	 * libuv's uv_poll_init makes the descriptor it watches non-blocking
	 * (each control connection).
	 */
	SB_IOCTL(FIONBIO),

	/* Memory.  Nothing becomes executable after setup. */
	/* malloc, thread stacks, the probe's page and kvm_run mapping. */
	SB_ALLOW_MASKED(mmap, 2, PROT_EXEC, 0),
	/* malloc's thread arenas grow in place; thread stacks. */
	SB_ALLOW_MASKED(mprotect, 2, PROT_EXEC, 0),
	/* free, thread exit, teardown of guest RAM and kvm_run pages. */
	SB_ALLOW(munmap),
	/* realloc of large blocks (control messages, console buffers). */
	SB_ALLOW(mremap),
	/* The main arena's heap. */
	SB_ALLOW(brk),
	/* An exiting thread gives its stack back; malloc trims. */
	SB_ALLOW_MASKED(madvise, 2, ~0ULL, MADV_DONTNEED),

	/*
	 * Descriptors opened during setup.  read and write: the console,
	 * the log, control connections, libuv's eventfd and signal pipe.
	 */
	SB_ALLOW(read),
	SB_ALLOW(write),
	/* virtio-net: frames to and from the tap. */
	SB_ALLOW(readv),
	SB_ALLOW(writev),
	/* virtio-blk requests. */
	SB_ALLOW(preadv),
	SB_ALLOW(pwritev),
	/* virtio-blk FLUSH. */
	SB_ALLOW(fdatasync),
	/* A guest reset loads the kernel again: its size, then its bytes. */
	SB_ALLOW(lseek),
	SB_ALLOW(pread64),
	/* A control client goes away; teardown. */
	SB_ALLOW(close),
	/* libuv's loop. */
	SB_ALLOW(epoll_wait),
	SB_ALLOW(epoll_ctl),
	/* New control connections (non-blocking, close-on-exec). */
	SB_ALLOW(accept4),
	/* Who connected: the control socket checks the peer's uid. */
	SB_ALLOW_EQ2(getsockopt, 1, SOL_SOCKET, 2, SO_PEERCRED),
	/* control_final waits for clients to take their last messages. */
	SB_ALLOW(poll),

	/* Threads and signals. */
	/* pthread_create of the vcpu threads (after the sandbox). */
	SB_ALLOW_MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD),
	/*
	 * clone3 passes its flags in memory, where seccomp cannot look:
	 * answer ENOSYS and glibc falls back to clone, checked above.
	 */
	SB_ERRNO(clone3, ENOSYS),
	/* A new thread registers its robust futex list and rseq area. */
	SB_ALLOW(set_robust_list),
	SB_ALLOW(rseq),
	/* Mutexes, condition variables, pthread_join. */
	SB_ALLOW(futex),
	/* uv_async_send racing the loop: libuv spins, then yields. */
	SB_ALLOW(sched_yield),
	/*
	 * pthread_create and pthread_kill block signals around their work;
	 * vcpu threads start with process signals blocked.
	 */
	SB_ALLOW(rt_sigprocmask),
	/*
	 * glibc's first pthread_create in a process (the vcpu threads
	 * start after the sandbox) installs its SIGSETXID handler.  A
	 * signal disposition concerns this process only.
	 */
	SB_ALLOW(rt_sigaction),
	/* Return from the kick signal and libuv's SIGTERM/SIGINT handler. */
	SB_ALLOW(rt_sigreturn),
	/*
	 * pthread_kill (nvmm_vcpu_stop kicks a vcpu thread out of KVM_RUN)
	 * asks for the pid, then tgkill: only to this process's threads,
	 * a rule sandbox_filter adds with the pid.
	 */
	SB_ALLOW(getpid),
	/* A futex or poll wait with a timeout, interrupted by a signal. */
	SB_ALLOW(restart_syscall),
	/* Thread exit, process exit. */
	SB_ALLOW(exit),
	SB_ALLOW(exit_group),

	/*
	 * The file system is out of reach, but these fail instead of
	 * killing: control_destroy looks at its socket file (stat) and
	 * removes it when it is still its own, and expects that to fail as
	 * another user (the next worker removes a stale socket).  Refused,
	 * they do nothing.
	 */
	SB_ERRNO(newfstatat, EACCES),
	SB_ERRNO(unlink, EACCES),
	SB_ERRNO(unlinkat, EACCES),

	/* Time and randomness. */
	/* vm_now_ns, the RTC, libuv timers: the vDSO, or this fallback. */
	SB_ALLOW(clock_gettime),
	/* virtio-rng. */
	SB_ALLOW(getrandom),

#ifdef SANDBOX_SANITIZER
	/*
	 * Test builds only: what the sanitizer runtime does in a new thread
	 * (its thread registry, alternate signal stack, affinity) and in
	 * its allocator (dump and huge-page advice for its own mappings).
	 */
	SB_ALLOW(gettid),
	SB_ALLOW(sigaltstack),
	SB_ALLOW(sched_getaffinity),
	SB_ALLOW_MASKED(madvise, 2, ~0ULL, MADV_DONTDUMP),
	SB_ALLOW_MASKED(madvise, 2, ~0ULL, MADV_NOHUGEPAGE),
#endif
};

#define SANDBOX_NRULES	(sizeof(sandbox_rules) / sizeof(sandbox_rules[0]))
#endif

static int __attribute__((format(printf, 4, 5)))
sandbox_fail(int error, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return error;
}

#ifndef SANDBOX_GEN
/* ------------------------------------------------------------------------ */
/* The user. */

struct sandbox_id {
	uid_t uid;
	gid_t gid;
};

/* A decimal uid, or -1 if s is not one. */
static long long
sandbox_numeric(const char *s)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	/* (uid_t)-1 means "unchanged" to setresuid: not a user. */
	if (errno != 0 || *end != '\0' || v >= (uid_t)-1)
		return -1;
	return (long long)v;
}

/*
 * user as a name from the password database or a decimal uid (whose group
 * is its passwd entry's, or the same number without one).  Must run before
 * the filter: the lookup opens files and may load NSS modules.  0, or
 * -ENOENT / -errno with a line in err.
 */
static int
sandbox_resolve(const char *user, struct sandbox_id *id, char *err,
    size_t errlen)
{
	struct passwd *pw;
	long long n;

	n = sandbox_numeric(user);
	errno = 0;
	pw = n >= 0 ? getpwuid((uid_t)n) : getpwnam(user);
	if (pw != NULL) {
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
		return 0;
	}
	if (n >= 0) {
		id->uid = (uid_t)n;
		id->gid = (gid_t)n;
		return 0;
	}
	if (errno != 0 && errno != ENOENT && errno != ESRCH)
		return sandbox_fail(-errno, err, errlen, "user %s: %s", user,
		    strerror(errno));
	return sandbox_fail(-ENOENT, err, errlen, "user %s: no such user",
	    user);
}

/* No capability is effective or permitted any more. */
static bool
sandbox_caps_empty(void)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	unsigned int i;

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &hdr, data) == -1)
		return false;
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective != 0 || data[i].permitted != 0)
			return false;
	}
	return true;
}

/*
 * After the drop: every id is the target's, there is no supplementary
 * group and no capability, and asking for root back fails.
 */
static int
sandbox_verify(const struct sandbox_id *id, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return sandbox_fail(-errno, err, errlen, "getresuid: %s",
		    strerror(errno));
	if (ru != id->uid || eu != id->uid || su != id->uid ||
	    rg != id->gid || eg != id->gid || sg != id->gid)
		return sandbox_fail(-EPERM, err, errlen, "ids are %u/%u/%u "
		    "%u/%u/%u after the drop to uid %u gid %u", ru, eu, su,
		    rg, eg, sg, id->uid, id->gid);
	if (getgroups(0, NULL) != 0)
		return sandbox_fail(-EPERM, err, errlen, "supplementary "
		    "groups remain after setgroups");
	if (!sandbox_caps_empty())
		return sandbox_fail(-EPERM, err, errlen, "capabilities remain "
		    "after the drop to uid %u", id->uid);
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		return sandbox_fail(-EPERM, err, errlen, "root could be "
		    "regained after the drop to uid %u", id->uid);
	return 0;
}

/* Root becomes id: groups first, while it may still change them. */
static int
sandbox_drop(const struct sandbox_id *id, char *err, size_t errlen)
{
	if (setgroups(0, NULL) == -1)
		return sandbox_fail(-errno, err, errlen, "setgroups: %s",
		    strerror(errno));
	if (setresgid(id->gid, id->gid, id->gid) == -1)
		return sandbox_fail(-errno, err, errlen, "setresgid %u: %s",
		    id->gid, strerror(errno));
	if (setresuid(id->uid, id->uid, id->uid) == -1)
		return sandbox_fail(-errno, err, errlen, "setresuid %u: %s",
		    id->uid, strerror(errno));
	return sandbox_verify(id, err, errlen);
}

/*
 * The identity part: as root, resolve user (default SANDBOX_DEFAULT_USER)
 * and drop to it; root itself is refused.  Not root: user, if given, must
 * be who we already are.
 */
static int
sandbox_identity(const char *user, char *err, size_t errlen)
{
	struct sandbox_id id = { (uid_t)-1, (gid_t)-1 };
	int error;

	if (geteuid() != 0 && user == NULL)
		return 0;
	if (user == NULL)
		user = SANDBOX_DEFAULT_USER;
	if ((error = sandbox_resolve(user, &id, err, errlen)) != 0)
		return error;
	if (geteuid() != 0) {
		if (id.uid == getuid() && id.uid == geteuid())
			return 0;
		return sandbox_fail(-EPERM, err, errlen, "cannot become user "
		    "%s (uid %u): not running as root", user, id.uid);
	}
	if (id.uid == 0 || id.gid == 0)
		return sandbox_fail(-EPERM, err, errlen, "user %s has uid %u "
		    "gid %u: the sandbox needs an unprivileged user and group",
		    user, id.uid, id.gid);
	return sandbox_drop(&id, err, errlen);
}

#endif /* !SANDBOX_GEN */

/* ------------------------------------------------------------------------ */
/* The filter. */

#ifdef SANDBOX_GEN
static int
sandbox_add(scmp_filter_ctx ctx, const struct sandbox_rule *r)
{
	if (r->argc == 0)
		return seccomp_rule_add_exact(ctx, r->action, r->nr, 0);
	return seccomp_rule_add_exact_array(ctx, r->action, r->nr, r->argc,
	    r->arg);
}

/*
 * tgkill to this process's threads only (pthread_kill, nvmm_vcpu_stop's
 * kick): the rule needs the pid, so it is not a row of the table.
 */
static int
sandbox_add_tgkill(scmp_filter_ctx ctx, uint32_t pid)
{
	struct scmp_arg_cmp own;

	memset(&own, 0, sizeof(own));
	own.arg = 0;
	own.op = SCMP_CMP_EQ;
	own.datum_a = pid;
	return seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(tgkill), 1, &own);
}

/*
 * The allowlist as libseccomp builds it, with pid in the tgkill rule.  A
 * syscall from another ABI (i386, x32) kills the process too.  *ctxp is
 * the caller's to release, also on failure.
 */
static int
sandbox_build(scmp_filter_ctx *ctxp, uint32_t pid, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	size_t i;
	int error;

	if ((*ctxp = ctx = seccomp_init(SANDBOX_DEFAULT_ACTION)) == NULL)
		return sandbox_fail(-ENOMEM, err, errlen,
		    "seccomp_init failed");
	error = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS);
	/*
	 * A binary tree of syscall numbers instead of a linear scan: every
	 * KVM_RUN and device syscall of the vcpu threads pays for the filter.
	 */
	if (error == 0)
		error = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (error != 0)
		return sandbox_fail(error, err, errlen, "seccomp attributes: "
		    "%s", strerror(-error));
	for (i = 0; i < SANDBOX_NRULES; i++) {
		if ((error = sandbox_add(ctx, &sandbox_rules[i])) != 0)
			return sandbox_fail(error, err, errlen, "seccomp rule "
			    "%s: %s", sandbox_rules[i].name, strerror(-error));
	}
	if ((error = sandbox_add_tgkill(ctx, pid)) != 0)
		return sandbox_fail(error, err, errlen, "seccomp rule tgkill: "
		    "%s", strerror(-error));
	return 0;
}

#endif /* SANDBOX_GEN */

/*
 * Compiling the allowlist costs libseccomp about 0.3 ms, a tenth of a
 * VM's start here, so it is compiled at build time: the build runs this
 * file as a program (SANDBOX_GEN) that prints the BPF as
 * sandbox_bpf.h, with SANDBOX_PID_MARK where the pid goes, and
 * sandbox_filter copies it and writes in the pid.
 */
#define SANDBOX_PID_MARK	0x5EC0DE01U

/* Is insn the comparison with the pid placeholder? */
static bool
sandbox_is_pid_mark(const struct sock_filter *insn)
{
	return insn->code == (BPF_JMP | BPF_JEQ | BPF_K) &&
	    insn->k == SANDBOX_PID_MARK;
}

#ifndef SANDBOX_GEN
#include "sandbox_bpf.h"

/*
 * Load the allowlist with this process's pid; every thread of the process
 * gets it (TSYNC) or none does.
 */
static int
sandbox_filter(char *err, size_t errlen)
{
	struct sock_filter insns[SANDBOX_BPF_LEN];
	struct sock_fprog prog = { SANDBOX_BPF_LEN, insns };
	unsigned int i, marks = 0;

	memcpy(insns, sandbox_bpf, sizeof(insns));
	for (i = 0; i < SANDBOX_BPF_LEN; i++) {
		if (sandbox_is_pid_mark(&insns[i])) {
			insns[i].k = (uint32_t)getpid();
			marks++;
		}
	}
	if (marks != 1)
		return sandbox_fail(-EINVAL, err, errlen, "the built-in "
		    "seccomp filter has %u pid marks, not 1", marks);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
		return sandbox_fail(errno != 0 ? -errno : -ESRCH, err, errlen,
		    "loading the seccomp filter: %s", errno != 0 ?
		    strerror(errno) : "a thread could not be synchronized");
	return 0;
}

/*
 * LeakSanitizer's check at exit stops the world with a traced clone and
 * reads /proc, which the filter forbids: a sanitizer build checks for
 * leaks now instead (after this, the check at exit does not run).  Runs
 * with -S keep the check at exit.
 */
static void
sandbox_sanitizer(void)
{
#ifdef SANDBOX_SANITIZER
	__lsan_do_leak_check();
#endif
}

int
sandbox_enter(const char *user, char *err, size_t errlen)
{
	int error;

	sandbox_sanitizer();
	if ((error = sandbox_identity(user, err, errlen)) != 0)
		return error;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return sandbox_fail(-errno, err, errlen, "PR_SET_NO_NEW_PRIVS: "
		    "%s", strerror(errno));
	/*
	 * Guest RAM and disk contents live here, and every worker may share
	 * one uid: no core dump, no ptrace or /proc/pid/mem from a process
	 * of the same user (the kernel also clears this on the uid change).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return sandbox_fail(-errno, err, errlen, "PR_SET_DUMPABLE: %s",
		    strerror(errno));
	return sandbox_filter(err, errlen);
}

#else /* SANDBOX_GEN */

/*
 * The build-time generator: the compiled allowlist as a C header on
 * standard output.  Exit status 1 with a message on failure.
 */
int
main(void)
{
	struct sock_filter *insns = NULL;
	scmp_filter_ctx ctx = NULL;
	char err[256];
	struct stat st;
	size_t i, n, marks = 0;
	int fd = -1, status = 1;

	if (sandbox_build(&ctx, SANDBOX_PID_MARK, err, sizeof(err)) != 0)
		goto out;
	if ((fd = memfd_create("seccomp-bpf", MFD_CLOEXEC)) == -1 ||
	    seccomp_export_bpf(ctx, fd) != 0 || fstat(fd, &st) == -1) {
		snprintf(err, sizeof(err), "exporting the filter failed");
		goto out;
	}
	n = (size_t)st.st_size / sizeof(*insns);
	if (n == 0 || n > BPF_MAXINSNS ||
	    (insns = malloc(n * sizeof(*insns))) == NULL ||
	    pread(fd, insns, n * sizeof(*insns), 0) !=
	    (ssize_t)(n * sizeof(*insns))) {
		snprintf(err, sizeof(err), "reading the filter back failed");
		goto out;
	}
	for (i = 0; i < n; i++)
		marks += sandbox_is_pid_mark(&insns[i]);
	if (marks != 1) {
		snprintf(err, sizeof(err), "%zu pid marks in the filter", marks);
		goto out;
	}
	printf("/* Generated from vmmd/worker/sandbox.c at build time. */\n"
	    "#define SANDBOX_BPF_LEN\t%zu\n"
	    "static const struct sock_filter sandbox_bpf[SANDBOX_BPF_LEN] = {\n",
	    n);
	for (i = 0; i < n; i++)
		printf("\t{ 0x%04x, %u, %u, 0x%08x },\n", insns[i].code,
		    insns[i].jt, insns[i].jf, insns[i].k);
	printf("};\n");
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	if (status != 0)
		fprintf(stderr, "sandbox_gen: %s\n", err);
	free(insns);
	if (fd != -1)
		close(fd);
	seccomp_release(ctx);
	return status;
}

#endif /* SANDBOX_GEN */
