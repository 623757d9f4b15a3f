/*
 * test_kmod.c: nvmm.ko (/dev/nvmm) through its ioctls, on the real module:
 * sessions and O_CLOEXEC, the root view, machines, the allowlists of KVM
 * ioctls, vcpus run straight on KVM, the accounting and every limit,
 * ownership across sessions, users, fork and exit, and unloading.
 *
 * Runs as root and switches to other uids in forked children.  Without
 * /dev/nvmm (the module cannot be loaded on a build host) every test skips
 * and says why, unless NVMM_TEST_REQUIRE is set (make check-kmod, inside
 * the VM-host harness), where that is a failure.  NVMM_TEST_KO names the
 * module file for the unload and reload test.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>
#include <linux/openat2.h>

#include "nvmm.h"
#include "../kmod/nvmm_kern.h"

#define DEV		NVMM_KERN_DEVICE
#define PARAMS		"/sys/module/nvmm/parameters/"
#define REFCNT		"/sys/module/nvmm/refcnt"
#define K		1024UL
#define MIB		(1024UL * 1024UL)
#define PRIVATE_SLOT	32764U	/* KVM_USER_MEM_SLOTS on x86: KVM's own */

/* The identities of the tests that switch user. */
#define UID_USER	1001	/* creates machines */
#define UID_MON		1002	/* monitors them */
#define UID_OTHER	1003	/* has no access to /dev/nvmm */
#define GID_NVMM	4242	/* the group of /dev/nvmm */
#define NO_GROUP	((gid_t)-1)

#define MAX_FDS		32
#define MAX_KIDS	8

/* Guest at GPA 0, in real mode from CS:IP 0:0: mov al,0x2a; out 0x80,al; hlt */
static const uint8_t guest_code[] = { 0xB0, 0x2A, 0xE6, 0x80, 0xF4 };
#define GUEST_RAM	(64 * K)

static const char *const param_names[] = {
	"max_machines", "max_machines_per_uid", "max_vcpus", "max_ram_mib",
	"max_host_ram_mib",
};
#define NPARAMS	(sizeof(param_names) / sizeof(param_names[0]))

/* A forked child: it reports lines on rd, the parent writes to it on wr. */
struct kid {
	pid_t pid;
	int rd;
	int wr;
};

struct kt {
	int fds[MAX_FDS];
	int nfds;
	struct kid kids[MAX_KIDS];
	int nkids;
	void *maps[MAX_FDS];
	int nmaps;
};

static char param_defaults[NPARAMS][32];
static struct stat dev_st, kvm_st;
static const char *absent_why;
static char absent_buf[160];

/* -------------------------------------------------------------------------- */
/* Small helpers; they return -errno rather than setting errno. */

static int
xioctl(int fd, unsigned long req, void *arg)
{
	int rv = ioctl(fd, req, arg);

	return rv == -1 ? -errno : rv;
}

static int
dev_open(int flags)
{
	int fd = open(DEV, flags);

	return fd == -1 ? -errno : fd;
}

static int
mach_create(int fd)
{
	struct nvmm_kern_machine m;
	int rv;

	memset(&m, 0xA5, sizeof(m));
	if ((rv = xioctl(fd, NVMM_IOC_MACHINE_CREATE, &m)) < 0)
		return rv;
	return m.rsvd != 0 ? -EPROTO : (int)m.machid;
}

static int
mach_destroy(int fd, uint32_t id)
{
	struct nvmm_kern_machine m = { .machid = id };

	return xioctl(fd, NVMM_IOC_MACHINE_DESTROY, &m);
}

static int
vcpu_create(int fd, uint32_t id, uint32_t cpuid)
{
	struct nvmm_kern_vcpu v = { .machid = id, .cpuid = cpuid };

	return xioctl(fd, NVMM_IOC_VCPU_CREATE, &v);
}

static int
vm_ioctl(int fd, uint32_t id, unsigned long cmd, uint64_t arg)
{
	struct nvmm_kern_vm_ioctl r = { .machid = id, .cmd = cmd, .arg = arg };

	return xioctl(fd, NVMM_IOC_VM_IOCTL, &r);
}

static int
set_mem(int fd, uint32_t id, uint32_t slot, uint64_t gpa, uint64_t size,
    void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return vm_ioctl(fd, id, KVM_SET_USER_MEMORY_REGION, (uintptr_t)&r);
}

static int
ctl(int fd, uint32_t op, void *data, uint32_t size)
{
	struct nvmm_kern_ctl c = { .op = op, .size = size,
	    .data = (uintptr_t)data };

	return xioctl(fd, NVMM_IOC_CTL, &c);
}

static int
mach_info(int fd, uint32_t id, struct nvmm_kern_mach_info *info)
{
	memset(info, 0xA5, sizeof(*info));
	info->machid = id;
	return ctl(fd, NVMM_KERN_CTL_MACH_INFO, info, sizeof(*info));
}

/* CTL LIST into infos (room for *count); *count becomes the total. */
static int
mach_list(int fd, struct nvmm_kern_mach_info *infos, uint32_t *count)
{
	struct nvmm_kern_ctl_list l = { .count = *count,
	    .infos = (uintptr_t)infos };
	int rv;

	rv = ctl(fd, NVMM_KERN_CTL_LIST, &l, sizeof(l));
	if (rv >= 0)
		*count = l.count;
	return rv;
}

static int
stats_fd(int fd, uint32_t id)
{
	struct nvmm_kern_ctl_stats s = { .machid = id, .fd = -7 };
	int rv;

	if ((rv = ctl(fd, NVMM_KERN_CTL_STATS, &s, sizeof(s))) < 0)
		return rv;
	return s.fd;
}

/* The id string of a KVM binary stats descriptor, or "" on an error. */
static const char *
stats_id(int fd, char *buf, size_t len)
{
	struct kvm_stats_header h;

	buf[0] = '\0';
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.name_size == 0 || h.num_desc == 0 ||
	    pread(fd, buf, len - 1, h.id_offset) <= 0)
		return "";
	buf[len - 1] = '\0';
	return buf;
}

static int
read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Write a module parameter; 0 or -errno (what the module says). */
static int
param_set(const char *name, const char *val)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n == -1 ? -errno : 0;
	close(fd);
	return (int)n;
}

static void
param_must(const char *name, const char *val)
{
	int rv = param_set(name, val);

	if (rv != 0)
		fail_msg("setting %s to %s: %s", name, val, strerror(-rv));
}

static long
refcnt(void)
{
	char buf[32];

	if (read_file(REFCNT, buf, sizeof(buf)) != 0)
		fail_msg("%s: unreadable", REFCNT);
	return strtol(buf, NULL, 10);
}

/* How many descriptors of this process are KVM VM files. */
static int
vm_fds(void)
{
	char path[64], target[128];
	int fd, n = 0;
	ssize_t len;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((len = readlink(path, target, sizeof(target) - 1)) <= 0)
			continue;
		target[len] = '\0';
		if (strcmp(target, "anon_inode:kvm-vm") == 0)
			n++;
	}
	return n;
}

/* -------------------------------------------------------------------------- */
/* A guest on a vcpu descriptor, driven with KVM's own ioctls. */

/*
 * Give machine id GUEST_RAM at GPA 0 holding guest_code (in *ram, which the
 * caller unmaps), and run it on vcpufd: an OUT of 0x2a to port 0x80, then
 * HLT.  Returns NULL or what went wrong.
 */
static const char *
guest_setup(int fd, uint32_t id, void **ram)
{
	*ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*ram == MAP_FAILED)
		return "mmap of guest RAM";
	memcpy(*ram, guest_code, sizeof(guest_code));
	if (set_mem(fd, id, 0, 0, GUEST_RAM, *ram) != 0)
		return "KVM_SET_USER_MEMORY_REGION through the gate";
	return NULL;
}

static const char *
guest_run(int vcpufd, int *err)
{
	struct kvm_sregs sr;
	struct kvm_regs regs;
	struct kvm_run *run;
	const char *why = NULL;
	size_t size = 4096 * 3;

	*err = 0;
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpufd, 0);
	if (run == MAP_FAILED) {
		*err = errno;
		return "mmap of kvm_run";
	}
	if (ioctl(vcpufd, KVM_GET_SREGS, &sr) == -1) {
		*err = errno;
		why = "KVM_GET_SREGS";
		goto out;
	}
	sr.cs.base = 0;
	sr.cs.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	if (ioctl(vcpufd, KVM_SET_SREGS, &sr) == -1 ||
	    ioctl(vcpufd, KVM_SET_REGS, &regs) == -1) {
		*err = errno;
		why = "KVM_SET_SREGS/REGS";
		goto out;
	}
	if (ioctl(vcpufd, KVM_RUN, 0) == -1) {
		*err = errno;
		why = "KVM_RUN";
		goto out;
	}
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80 ||
	    run->io.direction != KVM_EXIT_IO_OUT ||
	    ((uint8_t *)run)[run->io.data_offset] != 0x2A) {
		why = "the first exit is not OUT 0x2a to port 0x80";
		goto out;
	}
	if (ioctl(vcpufd, KVM_RUN, 0) == -1) {
		*err = errno;
		why = "KVM_RUN (second)";
		goto out;
	}
	if (run->exit_reason != KVM_EXIT_HLT)
		why = "the second exit is not HLT";
out:
	munmap(run, size);
	return why;
}

/* -------------------------------------------------------------------------- */
/* Children under other identities; they report lines to the parent. */

/* In a child: report a line to the parent. */
static void
kid_say(int out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)write(out, buf, (size_t)n);
}

/* In a child: report a failure and exit. */
#define KID_FAIL(out, ...) do {						\
	kid_say((out), "FAIL " __VA_ARGS__);				\
	_exit(1);							\
} while (0)

/* In a child: wait until the parent says "go" (or goes away). */
static void
kid_wait(int in)
{
	char c;

	(void)read(in, &c, 1);
}

static int
become(uid_t uid, gid_t extra)
{
	gid_t groups[1] = { extra };

	if (setgroups(extra != NO_GROUP ? 1 : 0, groups) == -1 ||
	    setresgid(uid, uid, uid) == -1 || setresuid(uid, uid, uid) == -1)
		return -1;
	return 0;
}

/*
 * Fork a child that becomes uid (with group extra unless NO_GROUP; uid 0
 * stays root) and runs fn(out, in).  The child's exit status is fn's.
 */
static struct kid *
kid_start(struct kt *kt, uid_t uid, gid_t extra,
    int (*fn)(int, int, void *), void *arg)
{
	struct kid *k;
	int up[2], down[2];

	if (kt->nkids == MAX_KIDS)
		fail_msg("too many children");
	if (pipe2(up, O_CLOEXEC) == -1 || pipe2(down, O_CLOEXEC) == -1)
		fail_msg("pipe: %s", strerror(errno));
	k = &kt->kids[kt->nkids];
	if ((k->pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (k->pid == 0) {
		close(up[0]);
		close(down[1]);
		if (uid != 0 && become(uid, extra) == -1)
			KID_FAIL(up[1], "cannot become uid %u: %s",
			    (unsigned)uid, strerror(errno));
		_exit(fn(up[1], down[0], arg));
	}
	close(up[1]);
	close(down[0]);
	k->rd = up[0];
	k->wr = down[1];
	kt->nkids++;
	return k;
}

/* Read the child's next line into buf; a FAIL line fails the test. */
static void
kid_hear(struct kid *k, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	while (n < len - 1 && read(k->rd, &c, 1) == 1 && c != '\n')
		buf[n++] = c;
	buf[n] = '\0';
	if (n == 0)
		fail_msg("child %d said nothing", (int)k->pid);
	if (strncmp(buf, "FAIL ", 5) == 0)
		fail_msg("child %d: %s", (int)k->pid, buf + 5);
}

static void
kid_go(struct kid *k)
{
	if (write(k->wr, "g", 1) != 1)
		fail_msg("cannot wake child %d", (int)k->pid);
}

/* Wait for the child; it must exit with status 0 (reported lines first). */
static void
kid_end(struct kid *k)
{
	char buf[512];
	int status;

	if (waitpid(k->pid, &status, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	k->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	kid_hear(k, buf, sizeof(buf));
	fail_msg("child exited with status 0x%x: %s", status, buf);
}

/* -------------------------------------------------------------------------- */
/* Fixtures. */

/* Is the module there?  Skips (or fails under NVMM_TEST_REQUIRE). */
static void
require_nvmm(void)
{
	if (absent_why == NULL)
		return;
	if (getenv("NVMM_TEST_REQUIRE") != NULL)
		fail_msg("%s (NVMM_TEST_REQUIRE is set)", absent_why);
	print_message("skipped: %s\n", absent_why);
	skip();
}

/* A session of the test, closed at teardown; fails the test on an error. */
static int
kt_open(struct kt *kt, int flags)
{
	int fd;

	if ((fd = dev_open(flags | O_CLOEXEC)) < 0)
		fail_msg("open %s: %s", DEV, strerror(-fd));
	if (kt->nfds == MAX_FDS)
		fail_msg("too many descriptors");
	kt->fds[kt->nfds++] = fd;
	return fd;
}

/* Forget fd (the test closed it). */
static void
kt_closed(struct kt *kt, int fd)
{
	int i;

	for (i = 0; i < kt->nfds; i++) {
		if (kt->fds[i] == fd)
			kt->fds[i] = -1;
	}
}

static int
kt_machine(int fd)
{
	int id;

	if ((id = mach_create(fd)) < 0)
		fail_msg("NVMM_IOC_MACHINE_CREATE: %s", strerror(-id));
	return id;
}

static void
kt_guest(struct kt *kt, int fd, uint32_t id)
{
	const char *why;
	void *ram;

	why = guest_setup(fd, id, &ram);
	if (ram != MAP_FAILED && kt->nmaps < MAX_FDS)
		kt->maps[kt->nmaps++] = ram;
	if (why != NULL)
		fail_msg("%s", why);
}

/* The number of machines on the host, as a root session sees it. */
static uint32_t
host_machines(void)
{
	uint32_t count = 0;
	int fd, rv;

	if ((fd = dev_open(O_WRONLY | O_CLOEXEC)) < 0)
		fail_msg("open %s for write: %s", DEV, strerror(-fd));
	rv = mach_list(fd, NULL, &count);
	close(fd);
	if (rv != 0)
		fail_msg("CTL LIST: %d", rv);
	return count;
}

static int
kt_setup(void **state)
{
	struct kt *kt;

	if ((kt = calloc(1, sizeof(*kt))) == NULL)
		return -1;
	*state = kt;
	return 0;
}

static int
kt_teardown(void **state)
{
	struct kt *kt = *state;
	size_t i;
	int j;

	for (j = 0; j < kt->nkids; j++) {
		if (kt->kids[j].pid > 0) {
			kill(kt->kids[j].pid, SIGKILL);
			waitpid(kt->kids[j].pid, NULL, 0);
		}
		close(kt->kids[j].rd);
		close(kt->kids[j].wr);
	}
	for (j = 0; j < kt->nfds; j++) {
		if (kt->fds[j] >= 0)
			close(kt->fds[j]);
	}
	for (j = 0; j < kt->nmaps; j++)
		munmap(kt->maps[j], GUEST_RAM);
	if (absent_why == NULL) {
		for (i = 0; i < NPARAMS; i++)
			(void)param_set(param_names[i], param_defaults[i]);
		(void)chown(DEV, dev_st.st_uid, dev_st.st_gid);
		(void)chmod(DEV, dev_st.st_mode & 07777);
		(void)chmod("/dev/kvm", kvm_st.st_mode & 07777);
	}
	free(kt);
	return 0;
}

/* Each test starts with the module there and no machine on the host. */
#define KT_BEGIN(kt, state) do {					\
	(kt) = *(state);						\
	require_nvmm();							\
	if (host_machines() != 0)					\
		fail_msg("machines left on the host before the test");	\
} while (0)

/* Let users in GID_NVMM open /dev/nvmm; nobody but root /dev/kvm. */
static void
grant_group(void)
{
	if (chown(DEV, 0, GID_NVMM) == -1 || chmod(DEV, 0660) == -1 ||
	    chmod("/dev/kvm", 0600) == -1)
		fail_msg("chown/chmod of %s, /dev/kvm: %s", DEV,
		    strerror(errno));
}

/* -------------------------------------------------------------------------- */
/* Sessions. */

/* Every way to open without O_CLOEXEC is refused; with it, accepted. */
static void
test_open_cloexec(void **state)
{
	struct open_how how;
	struct kt *kt;
	int fd, fl;

	KT_BEGIN(kt, state);
	assert_int_equal(dev_open(O_RDONLY), -EINVAL);
	assert_int_equal(dev_open(O_WRONLY), -EINVAL);
	assert_int_equal(dev_open(O_RDWR), -EINVAL);
	errno = 0;
	assert_int_equal(openat(AT_FDCWD, DEV, O_RDONLY), -1);
	assert_int_equal(errno, EINVAL);
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY;
	errno = 0;
	assert_int_equal(syscall(SYS_openat2, AT_FDCWD, DEV, &how,
	    sizeof(how)), -1);
	assert_int_equal(errno, EINVAL);

	how.flags = O_RDONLY | O_CLOEXEC;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, DEV, &how, sizeof(how));
	assert_true(fd >= 0);
	close(fd);
	fd = openat(AT_FDCWD, DEV, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	fd = kt_open(kt, O_RDONLY);
	fl = fcntl(fd, F_GETFD);
	assert_int_equal(fl & FD_CLOEXEC, FD_CLOEXEC);
}

/* An open for write (O_WRONLY or O_RDWR) is a root session. */
static void
test_open_root(void **state)
{
	static const struct {
		int flags;
		uint32_t want;
	} cases[] = {
		{ O_RDONLY, 0 },
		{ O_WRONLY, NVMM_KERN_CAP_ROOT },
		{ O_RDWR, NVMM_KERN_CAP_ROOT },
	};
	struct nvmm_kern_cap cap;
	struct kt *kt;
	size_t i;
	int fd;

	KT_BEGIN(kt, state);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = kt_open(kt, cases[i].flags);
		assert_int_equal(xioctl(fd, NVMM_IOC_CAPABILITY, &cap), 0);
		assert_int_equal(cap.flags, cases[i].want);
	}
}

/* The capability says the ABI version and the limits, as set. */
static void
test_capability(void **state)
{
	struct nvmm_kern_cap cap;
	struct kt *kt;
	int fd;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	memset(&cap, 0xA5, sizeof(cap));
	assert_int_equal(xioctl(fd, NVMM_IOC_CAPABILITY, &cap), 0);
	assert_int_equal(cap.version, NVMM_KERN_ABI_VERSION);
	assert_int_equal(cap.max_machines, NVMM_KERN_MAX_MACHINES);
	assert_int_equal(cap.max_machines_uid, NVMM_KERN_MAX_MACHINES);
	assert_int_equal(cap.max_vcpus, 256);
	assert_int_equal(cap.max_ram, 128ULL << 30);
	assert_int_equal(cap.max_host_ram, 0);
	assert_int_equal(cap.rsvd0, 0);
	assert_int_equal(cap.rsvd[0] | cap.rsvd[1] | cap.rsvd[2], 0);

	param_must("max_machines", "7");
	param_must("max_machines_per_uid", "3");
	param_must("max_vcpus", "5");
	param_must("max_ram_mib", "64");
	param_must("max_host_ram_mib", "100");
	assert_int_equal(xioctl(fd, NVMM_IOC_CAPABILITY, &cap), 0);
	assert_int_equal(cap.max_machines, 7);
	assert_int_equal(cap.max_machines_uid, 3);
	assert_int_equal(cap.max_vcpus, 5);
	assert_int_equal(cap.max_ram, 64 * MIB);
	assert_int_equal(cap.max_host_ram, 100 * MIB);
}

/* Parameters out of their ranges are refused and keep their value. */
static void
test_params_range(void **state)
{
	static const struct {
		const char *name, *val;
		int error;
	} cases[] = {
		{ "max_machines", "0", -ERANGE },
		{ "max_machines", "129", -ERANGE },
		{ "max_machines", "abc", -EINVAL },
		{ "max_machines_per_uid", "0", -ERANGE },
		{ "max_vcpus", "0", -ERANGE },
		{ "max_vcpus", "1025", -ERANGE },
		{ "max_ram_mib", "0", -ERANGE },
		{ "max_host_ram_mib", "-1", -EINVAL },
		{ "max_host_ram_mib", "0", 0 },
		{ "max_machines", "128", 0 },
	};
	char buf[32];
	struct kt *kt;
	size_t i;

	KT_BEGIN(kt, state);
	(void)kt;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (param_set(cases[i].name, cases[i].val) != cases[i].error)
			fail_msg("%s=%s: want %d", cases[i].name,
			    cases[i].val, cases[i].error);
	}
	assert_int_equal(read_file(PARAMS "max_machines", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "128");
	assert_int_equal(read_file(PARAMS "max_vcpus", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "256");
}

/* -------------------------------------------------------------------------- */
/* ioctls off the allowlists; the system ones on it. */

static void
test_ioctl_unknown(void **state)
{
	static const struct {
		const char *what;
		unsigned long req;
	} cases[] = {
		{ "KVM_CREATE_VM", KVM_CREATE_VM },
		{ "KVM_RUN", KVM_RUN },
		{ "KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION },
		{ "KVM_CREATE_VCPU", KVM_CREATE_VCPU },
		{ "KVM_GET_STATS_FD", KVM_GET_STATS_FD },
		{ "'N' 99", _IO('N', 99) },
		{ "CAPABILITY with another size", _IOR('N', 0, uint64_t) },
		{ "CTL as _IOWR", _IOWR('N', 20, struct nvmm_kern_ctl) },
		{ "NetBSD's VCPU_RUN", _IOWR('N', 10, uint64_t[8]) },
	};
	uint64_t buf[64];
	struct kt *kt;
	size_t i;
	int fd;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_WRONLY);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 0, sizeof(buf));
		if (xioctl(fd, cases[i].req, buf) != -ENOTTY)
			fail_msg("%s on %s: not ENOTTY", cases[i].what, DEV);
	}
	assert_int_equal(vm_fds(), 0);
	assert_int_equal(host_machines(), 0);
}

/* The system ioctls answer as /dev/kvm does. */
static void
test_sys_ioctls(void **state)
{
	struct kvm_cpuid2 *a, *b;
	struct kvm_msr_list *ml;
	size_t size;
	struct kt *kt;
	int fd, kvm;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1)
		fail_msg("/dev/kvm: %s", strerror(errno));
	assert_int_equal(xioctl(fd, KVM_GET_API_VERSION, NULL),
	    KVM_API_VERSION);
	assert_int_equal(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY),
	    1);
	assert_int_equal(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS),
	    ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS));
	assert_int_equal(ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0),
	    ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0));

	size = sizeof(*a) + 256 * sizeof(a->entries[0]);
	a = calloc(1, size);
	b = calloc(1, size);
	assert_non_null(a);
	assert_non_null(b);
	a->nent = b->nent = 256;
	assert_int_equal(xioctl(fd, KVM_GET_SUPPORTED_CPUID, a), 0);
	assert_int_equal(xioctl(kvm, KVM_GET_SUPPORTED_CPUID, b), 0);
	assert_true(a->nent > 0);
	assert_memory_equal(a, b, sizeof(*a) + a->nent * sizeof(a->entries[0]));
	a->nent = b->nent = 256;
	assert_int_equal(xioctl(fd, KVM_GET_EMULATED_CPUID, a), 0);
	free(a);
	free(b);

	ml = calloc(1, sizeof(*ml) + 1024 * sizeof(uint32_t));
	assert_non_null(ml);
	ml->nmsrs = 1;
	assert_int_equal(xioctl(fd, KVM_GET_MSR_INDEX_LIST, ml), -E2BIG);
	ml->nmsrs = 1024;
	assert_int_equal(xioctl(fd, KVM_GET_MSR_INDEX_LIST, ml), 0);
	assert_true(ml->nmsrs > 1);
	ml->nmsrs = 1024;
	assert_int_equal(xioctl(fd, KVM_GET_MSR_FEATURE_INDEX_LIST, ml), 0);
	free(ml);
	close(kvm);
}

/* -------------------------------------------------------------------------- */
/* Machines. */

/* Ids are the lowest free ones, host-wide; destroy frees them. */
static void
test_machine_ids(void **state)
{
	struct kt *kt;
	int a, b;

	KT_BEGIN(kt, state);
	a = kt_open(kt, O_RDONLY);
	b = kt_open(kt, O_RDONLY);
	assert_int_equal(mach_create(a), 0);
	assert_int_equal(mach_create(b), 1);
	assert_int_equal(mach_create(a), 2);
	assert_int_equal(mach_destroy(b, 1), 0);
	assert_int_equal(mach_destroy(b, 1), -ENOENT);
	assert_int_equal(mach_create(a), 1);
	assert_int_equal(mach_create(b), 3);
	assert_int_equal(host_machines(), 4);
	assert_int_equal(vm_fds(), 0);
}

/* What MACH_INFO says of a machine, and that it follows its use. */
static void
test_machine_info(void **state)
{
	struct nvmm_kern_mach_info info;
	time_t before, after;
	struct kt *kt;
	int fd, id, v0, v1;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	before = time(NULL);
	id = kt_machine(fd);
	after = time(NULL);
	assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
	assert_int_equal(info.machid, id);
	assert_int_equal(info.nvcpus, 0);
	assert_int_equal(info.nram, 0);
	assert_int_equal(info.pid, getpid());
	assert_int_equal(info.uid, 0);
	assert_true(info.time >= before && info.time <= after);
	assert_int_equal(info.flags, NVMM_KERN_MACH_OWN);
	assert_int_equal(info.rsvd, 0);

	kt_guest(kt, fd, (uint32_t)id);
	v0 = vcpu_create(fd, (uint32_t)id, 0);
	v1 = (int)vm_ioctl(fd, (uint32_t)id, KVM_CREATE_VCPU, 1);
	assert_true(v0 >= 0 && v1 >= 0);
	assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
	assert_int_equal(info.nvcpus, 2);
	assert_int_equal(info.nram, GUEST_RAM);
	close(v0);
	close(v1);
}

/* The machine ioctls' argument errors and unknown machines. */
static void
test_machine_errors(void **state)
{
	static const uint32_t unknown[] = { 5, 127, 128, 1000, UINT32_MAX };
	struct nvmm_kern_machine m;
	struct nvmm_kern_mach_info info;
	struct kt *kt;
	size_t i;
	int fd, id;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_WRONLY);
	id = kt_machine(fd);
	m.machid = (uint32_t)id;
	m.rsvd = 1;
	assert_int_equal(xioctl(fd, NVMM_IOC_MACHINE_DESTROY, &m), -EINVAL);
	/* A machine whose id cannot be told is not made. */
	assert_int_equal(xioctl(fd, NVMM_IOC_MACHINE_CREATE, NULL), -EFAULT);
	assert_int_equal(xioctl(fd, NVMM_IOC_MACHINE_DESTROY, NULL), -EFAULT);
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		uint32_t u = unknown[i];

		assert_int_equal(mach_destroy(fd, u), -ENOENT);
		assert_int_equal(mach_info(fd, u, &info), -ENOENT);
		assert_int_equal(vcpu_create(fd, u, 0), -ENOENT);
		assert_int_equal(vm_ioctl(fd, u, KVM_CHECK_EXTENSION,
		    KVM_CAP_USER_MEMORY), -ENOENT);
		assert_int_equal(stats_fd(fd, u), -ENOENT);
	}
	assert_int_equal(host_machines(), 1);
}

/* -------------------------------------------------------------------------- */
/* VM ioctls. */

/* Every VM ioctl on the allowlist reaches KVM, with KVM's answer. */
static void
test_vm_allowlist(void **state)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct kvm_irq_level level = { .irq = 4, .level = 1 };
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	struct kvm_pit_state2 pits;
	struct kvm_irq_routing routing = { .nr = 0 };
	struct kvm_msi msi = { .address_lo = 0xFEE00000, .flags = 0x80 };
	struct kvm_msr_filter filter = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
	};
	struct kvm_clock_data clock;
	struct kvm_irqfd irqfd;
	struct kvm_ioeventfd ioe;
	uint64_t identity = 0xFEFFC000;
	struct kt *kt;
	int fd, id, efd, sfd;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
#define VM(cmd, arg) vm_ioctl(fd, (uint32_t)id, (cmd), (uintptr_t)(arg))
	assert_true(VM(KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS) > 0);
	assert_int_equal(VM(KVM_SET_TSS_ADDR, 0xFFFBD000), 0);
	assert_int_equal(VM(KVM_SET_IDENTITY_MAP_ADDR, &identity), 0);
	assert_int_equal(VM(KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(VM(KVM_CREATE_IRQCHIP, 0), -EEXIST);
	assert_int_equal(VM(KVM_CREATE_PIT2, &pit), 0);
	assert_int_equal(VM(KVM_GET_PIT2, &pits), 0);
	assert_int_equal(VM(KVM_SET_PIT2, &pits), 0);
	assert_int_equal(VM(KVM_GET_IRQCHIP, &chip), 0);
	assert_int_equal(VM(KVM_SET_IRQCHIP, &chip), 0);
	assert_int_equal(VM(KVM_IRQ_LINE, &level), 0);
	assert_int_equal(VM(KVM_IRQ_LINE_STATUS, &level), 0);
	assert_int_equal(VM(KVM_SET_GSI_ROUTING, &routing), 0);
	/* KVM's own check of the flags, so it got there. */
	assert_int_equal(VM(KVM_SIGNAL_MSI, &msi), -EINVAL);
	assert_int_equal(VM(KVM_X86_SET_MSR_FILTER, &filter), 0);
	assert_int_equal(VM(KVM_GET_CLOCK, &clock), 0);
	clock.flags = 0;
	assert_int_equal(VM(KVM_SET_CLOCK, &clock), 0);

	/* Descriptors in the arguments are the caller's. */
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	memset(&irqfd, 0, sizeof(irqfd));
	irqfd.fd = (uint32_t)efd;
	irqfd.gsi = 5;
	assert_int_equal(VM(KVM_IRQFD, &irqfd), 0);
	irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	assert_int_equal(VM(KVM_IRQFD, &irqfd), 0);
	memset(&ioe, 0, sizeof(ioe));
	ioe.fd = efd;
	ioe.addr = 0x510;
	ioe.len = 2;
	ioe.flags = KVM_IOEVENTFD_FLAG_PIO;
	assert_int_equal(VM(KVM_IOEVENTFD, &ioe), 0);
	ioe.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	assert_int_equal(VM(KVM_IOEVENTFD, &ioe), 0);
	irqfd.fd = 999;
	irqfd.flags = 0;
	assert_int_equal(VM(KVM_IRQFD, &irqfd), -EBADF);
	close(efd);

	sfd = VM(KVM_GET_STATS_FD, 0);
	assert_true(sfd >= 0);
	assert_int_equal(fcntl(sfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(sfd);
#undef VM
	assert_int_equal(vm_fds(), 0);
}

/* VM ioctls off the allowlist are ENOTTY, before any machine lookup. */
static void
test_vm_offlist(void **state)
{
	static const struct {
		const char *what;
		unsigned long cmd;
	} cases[] = {
		{ "KVM_RUN", KVM_RUN },
		{ "KVM_CREATE_VM", KVM_CREATE_VM },
		{ "KVM_CREATE_DEVICE", KVM_CREATE_DEVICE },
		{ "KVM_GET_DIRTY_LOG", KVM_GET_DIRTY_LOG },
		{ "KVM_REGISTER_COALESCED_MMIO", KVM_REGISTER_COALESCED_MMIO },
		{ "KVM_SET_NR_MMU_PAGES", KVM_SET_NR_MMU_PAGES },
		{ "KVM_SET_PMU_EVENT_FILTER", KVM_SET_PMU_EVENT_FILTER },
		{ "KVM_SET_BOOT_CPU_ID", KVM_SET_BOOT_CPU_ID },
		{ "KVM_XEN_HVM_CONFIG", KVM_XEN_HVM_CONFIG },
		{ "KVM_MEMORY_ENCRYPT_OP", KVM_MEMORY_ENCRYPT_OP },
		{ "KVM_GET_API_VERSION", KVM_GET_API_VERSION },
		{ "NVMM_IOC_MACHINE_CREATE", NVMM_IOC_MACHINE_CREATE },
		{ "0", 0 },
	};
	uint64_t buf[64];
	struct nvmm_kern_vm_ioctl r;
	struct kt *kt;
	size_t i;
	int fd, id;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 0, sizeof(buf));
		if (vm_ioctl(fd, (uint32_t)id, cases[i].cmd,
		    (uintptr_t)buf) != -ENOTTY ||
		    vm_ioctl(fd, 1000, cases[i].cmd, (uintptr_t)buf) != -ENOTTY)
			fail_msg("%s: not ENOTTY", cases[i].what);
	}
	memset(&r, 0, sizeof(r));
	r.machid = (uint32_t)id;
	r.cmd = KVM_CHECK_EXTENSION;
	r.arg = KVM_CAP_USER_MEMORY;
	assert_int_equal(xioctl(fd, NVMM_IOC_VM_IOCTL, &r), 1);
	r.rsvd = 1;
	assert_int_equal(xioctl(fd, NVMM_IOC_VM_IOCTL, &r), -EINVAL);
	r.rsvd = 0;
	r.cmd |= 1ULL << 32;
	assert_int_equal(xioctl(fd, NVMM_IOC_VM_IOCTL, &r), -EINVAL);
	assert_int_equal(xioctl(fd, NVMM_IOC_VM_IOCTL, NULL), -EFAULT);
	assert_int_equal(vm_fds(), 0);
}

/* KVM_ENABLE_CAP only for the capabilities libvmm needs. */
static void
test_enable_cap(void **state)
{
	static const struct {
		const char *what;
		uint32_t cap, flags;
		uint64_t arg0;
		int want;
	} cases[] = {
		{ "user-space MSR", KVM_CAP_X86_USER_SPACE_MSR, 0,
		    KVM_MSR_EXIT_REASON_UNKNOWN, 0 },
		{ "disable quirks", KVM_CAP_DISABLE_QUIRKS, 0,
		    KVM_X86_QUIRK_OUT_7E_INC_RIP, 0 },
		{ "disable quirks 2", KVM_CAP_DISABLE_QUIRKS2, 0,
		    KVM_X86_QUIRK_OUT_7E_INC_RIP, 0 },
		{ "user-space MSR, flags", KVM_CAP_X86_USER_SPACE_MSR, 1,
		    KVM_MSR_EXIT_REASON_UNKNOWN, -EINVAL },
		{ "halt poll", KVM_CAP_HALT_POLL, 0, 1000000, -EINVAL },
		{ "disable exits", KVM_CAP_X86_DISABLE_EXITS, 0,
		    KVM_X86_DISABLE_EXITS_HLT, -EINVAL },
		{ "split irqchip", KVM_CAP_SPLIT_IRQCHIP, 0, 24, -EINVAL },
		{ "max vcpu id", KVM_CAP_MAX_VCPU_ID, 0, 4096, -EINVAL },
	};
	struct kvm_enable_cap ec;
	struct kt *kt;
	size_t i;
	int fd, id, rv;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ec, 0, sizeof(ec));
		ec.cap = cases[i].cap;
		ec.flags = cases[i].flags;
		ec.args[0] = cases[i].arg0;
		rv = vm_ioctl(fd, (uint32_t)id, KVM_ENABLE_CAP, (uintptr_t)&ec);
		if (rv != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].what, rv,
			    cases[i].want);
	}
	assert_int_equal(vm_ioctl(fd, (uint32_t)id, KVM_ENABLE_CAP, 8),
	    -EFAULT);
}

/*
 * VCPU_CREATE gives the caller a KVM vcpu descriptor, close-on-exec, which
 * runs a guest with KVM's own ioctls; the VM never is a descriptor.
 */
static void
test_vcpu_create(void **state)
{
	char path[64], target[64];
	const char *why;
	struct kt *kt;
	int fd, id, v, err;
	ssize_t n;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	kt_guest(kt, fd, (uint32_t)id);
	v = vcpu_create(fd, (uint32_t)id, 0);
	assert_true(v >= 0);
	assert_int_equal(fcntl(v, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", v);
	n = readlink(path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "anon_inode:kvm-vcpu:0");
	assert_int_equal(vcpu_create(fd, (uint32_t)id, 0), -EEXIST);
	assert_int_equal(vm_ioctl(fd, (uint32_t)id, KVM_CREATE_VCPU, 0),
	    -EEXIST);
	if ((why = guest_run(v, &err)) != NULL)
		fail_msg("guest: %s (%s)", why, strerror(err));
	assert_int_equal(vm_fds(), 0);
	close(v);
}

/* Guest RAM is the sum of the KVM slots, exact through KVM's errors. */
static void
test_memory_accounting(void **state)
{
	static const struct {
		const char *what;
		uint32_t slot;
		uint64_t gpa, size;
		int want;
		uint64_t nram;
	} steps[] = {
		{ "slot 0, 64K", 0, 0, 64 * K, 0, 64 * K },
		{ "slot 1, 128K", 1, 1 * MIB, 128 * K, 0, 192 * K },
		{ "slot 2 over slot 1", 2, 1 * MIB, 4 * K, -EEXIST, 192 * K },
		{ "slot 1 resized", 1, 1 * MIB, 64 * K, -EINVAL, 192 * K },
		{ "KVM's private slot", PRIVATE_SLOT, 4 * MIB, 4 * K, -EINVAL,
		    192 * K },
		{ "size not in pages", 3, 4 * MIB, 100, -EINVAL, 192 * K },
		{ "gpa not in pages", 3, 4 * MIB + 8, 4 * K, -EINVAL, 192 * K },
		{ "slot 1 moved", 1, 2 * MIB, 128 * K, 0, 192 * K },
		{ "slot 0 deleted", 0, 0, 0, 0, 128 * K },
		{ "slot 0 again", 0, 8 * MIB, 32 * K, 0, 160 * K },
		{ "slot 5 deleted, never made", 5, 0, 0, -EINVAL, 160 * K },
	};
	struct nvmm_kern_mach_info info;
	struct kt *kt;
	uint8_t *ram;
	size_t i;
	int fd, id, rv;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	ram = mmap(NULL, 1 * MIB, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		rv = set_mem(fd, (uint32_t)id, steps[i].slot, steps[i].gpa,
		    steps[i].size, ram);
		if (rv != steps[i].want)
			fail_msg("%s: %d, want %d", steps[i].what, rv,
			    steps[i].want);
		assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
		if (info.nram != steps[i].nram)
			fail_msg("%s: nram %" PRIu64 ", want %" PRIu64,
			    steps[i].what, (uint64_t)info.nram, steps[i].nram);
	}
	assert_int_equal(vm_ioctl(fd, (uint32_t)id,
	    KVM_SET_USER_MEMORY_REGION, 8), -EFAULT);
	munmap(ram, 1 * MIB);
}

/* -------------------------------------------------------------------------- */
/* Limits. */

static void
test_limit_vcpus(void **state)
{
	struct nvmm_kern_mach_info info;
	struct kt *kt;
	int fd, id, v0, v1;

	KT_BEGIN(kt, state);
	param_must("max_vcpus", "2");
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	v0 = vcpu_create(fd, (uint32_t)id, 0);
	v1 = vm_ioctl(fd, (uint32_t)id, KVM_CREATE_VCPU, 7);
	assert_true(v0 >= 0 && v1 >= 0);
	assert_int_equal(vcpu_create(fd, (uint32_t)id, 2), -ENOBUFS);
	assert_int_equal(vm_ioctl(fd, (uint32_t)id, KVM_CREATE_VCPU, 3),
	    -ENOBUFS);
	assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
	assert_int_equal(info.nvcpus, 2);
	param_must("max_vcpus", "3");
	v1 = vcpu_create(fd, (uint32_t)id, 2);
	assert_true(v1 >= 0);
	assert_int_equal(vcpu_create(fd, (uint32_t)id, 3), -ENOBUFS);
	close(v0);
	close(v1);
}

static void
test_limit_ram(void **state)
{
	struct nvmm_kern_mach_info info;
	struct kt *kt;
	uint8_t *ram;
	int fd, id;

	KT_BEGIN(kt, state);
	param_must("max_ram_mib", "1");
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	ram = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	assert_int_equal(set_mem(fd, (uint32_t)id, 0, 0, 2 * MIB, ram),
	    -ENOBUFS);
	assert_int_equal(set_mem(fd, (uint32_t)id, 0, 0, 1 * MIB, ram), 0);
	assert_int_equal(set_mem(fd, (uint32_t)id, 1, 4 * MIB, 4 * K, ram),
	    -ENOBUFS);
	assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
	assert_int_equal(info.nram, 1 * MIB);
	/* A move of the same slot costs nothing more. */
	assert_int_equal(set_mem(fd, (uint32_t)id, 0, 8 * MIB, 1 * MIB, ram),
	    0);
	assert_int_equal(set_mem(fd, (uint32_t)id, 0, 0, 0, ram), 0);
	assert_int_equal(set_mem(fd, (uint32_t)id, 1, 4 * MIB, 4 * K, ram), 0);
	assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
	assert_int_equal(info.nram, 4 * K);
	munmap(ram, 2 * MIB);
}

static void
test_limit_host_ram(void **state)
{
	struct kt *kt;
	uint8_t *ram;
	int fd, a, b;

	KT_BEGIN(kt, state);
	param_must("max_host_ram_mib", "2");
	fd = kt_open(kt, O_RDONLY);
	a = kt_machine(fd);
	b = kt_machine(fd);
	ram = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	assert_int_equal(set_mem(fd, (uint32_t)a, 0, 0, 1 * MIB, ram), 0);
	assert_int_equal(set_mem(fd, (uint32_t)b, 0, 0, 1 * MIB, ram), 0);
	assert_int_equal(set_mem(fd, (uint32_t)b, 1, 4 * MIB, 4 * K, ram),
	    -ENOBUFS);
	assert_int_equal(set_mem(fd, (uint32_t)a, 0, 0, 0, ram), 0);
	assert_int_equal(set_mem(fd, (uint32_t)b, 1, 4 * MIB, 4 * K, ram), 0);
	assert_int_equal(set_mem(fd, (uint32_t)a, 0, 0, 1 * MIB, ram),
	    -ENOBUFS);
	/* A destroyed machine gives its RAM back. */
	assert_int_equal(mach_destroy(fd, (uint32_t)b), 0);
	assert_int_equal(set_mem(fd, (uint32_t)a, 0, 0, 2 * MIB, ram), 0);
	munmap(ram, 2 * MIB);
}

static void
test_limit_machines(void **state)
{
	struct kt *kt;
	int a, b;

	KT_BEGIN(kt, state);
	param_must("max_machines", "2");
	a = kt_open(kt, O_RDONLY);
	b = kt_open(kt, O_WRONLY);
	assert_int_equal(mach_create(a), 0);
	assert_int_equal(mach_create(b), 1);
	assert_int_equal(mach_create(a), -ENOBUFS);
	assert_int_equal(mach_create(b), -ENOBUFS);
	assert_int_equal(mach_destroy(a, 0), 0);
	assert_int_equal(mach_create(b), 0);
	param_must("max_machines", "3");
	assert_int_equal(mach_create(a), 2);
	assert_int_equal(host_machines(), 3);
}

static int
kid_two_machines(int out, int in, void *arg)
{
	int fd, a, b;

	(void)arg;
	if ((fd = dev_open(O_RDONLY | O_CLOEXEC)) < 0)
		KID_FAIL(out, "open: %s", strerror(-fd));
	if ((a = mach_create(fd)) < 0)
		KID_FAIL(out, "first machine: %s", strerror(-a));
	if ((b = mach_create(fd)) != -ENOBUFS)
		KID_FAIL(out, "second machine: %d, want -ENOBUFS", b);
	kid_say(out, "ok %d", a);
	kid_wait(in);
	return 0;
}

/* One machine per uid: root has its one, another user its own. */
static void
test_limit_machines_uid(void **state)
{
	struct nvmm_kern_mach_info info;
	struct kid *k;
	char buf[64];
	struct kt *kt;
	int fd, id;

	KT_BEGIN(kt, state);
	grant_group();
	param_must("max_machines_per_uid", "1");
	fd = kt_open(kt, O_WRONLY);
	assert_int_equal(mach_create(fd), 0);
	assert_int_equal(mach_create(fd), -ENOBUFS);
	k = kid_start(kt, UID_USER, GID_NVMM, kid_two_machines, NULL);
	kid_hear(k, buf, sizeof(buf));
	id = atoi(buf + 3);
	assert_int_equal(id, 1);
	assert_int_equal(mach_info(fd, (uint32_t)id, &info), 0);
	assert_int_equal(info.uid, UID_USER);
	assert_int_equal(host_machines(), 2);
	kid_go(k);
	kid_end(k);
	assert_int_equal(host_machines(), 1);
}

/* -------------------------------------------------------------------------- */
/* Privilege. */

/*
 * Two read-only sessions of one process are two owners; the root session
 * sees both's machines and may use them, the address space being the same.
 */
static void
test_privilege_sessions(void **state)
{
	struct nvmm_kern_mach_info info, infos[4];
	uint32_t count;
	struct kt *kt;
	int a, b, r, id;

	KT_BEGIN(kt, state);
	a = kt_open(kt, O_RDONLY);
	b = kt_open(kt, O_RDONLY);
	r = kt_open(kt, O_WRONLY);
	id = kt_machine(a);
	assert_int_equal(mach_info(b, (uint32_t)id, &info), -EPERM);
	assert_int_equal(mach_destroy(b, (uint32_t)id), -EPERM);
	assert_int_equal(vcpu_create(b, (uint32_t)id, 0), -EPERM);
	assert_int_equal(vm_ioctl(b, (uint32_t)id, KVM_CHECK_EXTENSION,
	    KVM_CAP_USER_MEMORY), -EPERM);
	assert_int_equal(stats_fd(b, (uint32_t)id), -EPERM);
	count = 4;
	assert_int_equal(mach_list(b, infos, &count), 0);
	assert_int_equal(count, 0);
	/* Off the allowlist is still ENOTTY, whoever asks. */
	assert_int_equal(vm_ioctl(b, (uint32_t)id, KVM_RUN, 0), -ENOTTY);

	assert_int_equal(mach_info(a, (uint32_t)id, &info), 0);
	assert_int_equal(info.flags, NVMM_KERN_MACH_OWN);
	assert_int_equal(mach_info(r, (uint32_t)id, &info), 0);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.pid, getpid());
	count = 4;
	assert_int_equal(mach_list(r, infos, &count), 1);
	assert_int_equal(count, 1);
	assert_int_equal(infos[0].machid, id);
	assert_int_equal(vm_ioctl(r, (uint32_t)id, KVM_CHECK_EXTENSION,
	    KVM_CAP_USER_MEMORY), 1);
	count = 4;
	assert_int_equal(mach_list(a, infos, &count), 1);
	assert_int_equal(infos[0].flags, NVMM_KERN_MACH_OWN);
}

/* A user with /dev/nvmm but not /dev/kvm runs a guest. */
static int
kid_user(int out, int in, void *arg)
{
	struct nvmm_kern_mach_info info;
	const char *why;
	void *ram;
	int fd, id, v, err, kvm;

	(void)arg;
	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) != -1 ||
	    errno != EACCES)
		KID_FAIL(out, "/dev/kvm opens (or not with EACCES)");
	if ((fd = dev_open(O_RDONLY | O_CLOEXEC)) < 0)
		KID_FAIL(out, "open: %s", strerror(-fd));
	if ((id = mach_create(fd)) < 0)
		KID_FAIL(out, "machine: %s", strerror(-id));
	if ((why = guest_setup(fd, (uint32_t)id, &ram)) != NULL)
		KID_FAIL(out, "%s", why);
	if ((v = vcpu_create(fd, (uint32_t)id, 0)) < 0)
		KID_FAIL(out, "vcpu: %s", strerror(-v));
	if ((why = guest_run(v, &err)) != NULL)
		KID_FAIL(out, "guest: %s (%s)", why, strerror(err));
	if (mach_info(fd, (uint32_t)id, &info) != 0 || info.uid != UID_USER ||
	    info.flags != NVMM_KERN_MACH_OWN)
		KID_FAIL(out, "MACH_INFO of its own machine");
	kid_say(out, "ok %d", id);
	kid_wait(in);
	/* After a root session destroyed the machine (if it did). */
	err = guest_run(v, &err) != NULL ? err : 0;
	kid_say(out, "ok %d %d", err, mach_info(fd, (uint32_t)id, &info));
	kid_wait(in);
	return 0;
}

/*
 * A monitor: not root, but with write access to /dev/nvmm, it lists the
 * machine of another user (arg: its id and pid) with its owner, vcpus and
 * RAM, and reads its KVM statistics.  Read-only, it sees nothing.
 */
static int
kid_monitor(int out, int in, void *arg)
{
	const int *want = arg;
	struct nvmm_kern_mach_info infos[4], info;
	uint32_t count = 4;
	char id[64], expect[64];
	int ro, rw, sfd, rv;

	(void)in;
	if ((ro = dev_open(O_RDONLY | O_CLOEXEC)) < 0 ||
	    (rw = dev_open(O_WRONLY | O_CLOEXEC)) < 0)
		KID_FAIL(out, "open: %s", strerror(errno));
	if ((rv = mach_list(ro, infos, &count)) != 0 || count != 0)
		KID_FAIL(out, "read-only list: %d, count %u", rv, count);
	if ((rv = mach_info(ro, (uint32_t)want[0], &info)) != -EPERM)
		KID_FAIL(out, "read-only MACH_INFO: %d, want -EPERM", rv);
	count = 4;
	if ((rv = mach_list(rw, infos, &count)) != 1 || count != 1)
		KID_FAIL(out, "root list: %d, count %u", rv, count);
	if (infos[0].machid != (uint32_t)want[0] || infos[0].pid != want[1] ||
	    infos[0].uid != UID_USER || infos[0].nvcpus != 1 ||
	    infos[0].nram != GUEST_RAM || infos[0].flags != 0)
		KID_FAIL(out, "root list: id %u pid %d uid %u vcpus %u ram %"
		    PRIu64 " flags %u", infos[0].machid, infos[0].pid,
		    infos[0].uid, infos[0].nvcpus, (uint64_t)infos[0].nram,
		    infos[0].flags);
	if ((sfd = stats_fd(rw, (uint32_t)want[0])) < 0)
		KID_FAIL(out, "stats: %s", strerror(-sfd));
	snprintf(expect, sizeof(expect), "kvm-%d", want[1]);
	if (strcmp(stats_id(sfd, id, sizeof(id)), expect) != 0)
		KID_FAIL(out, "stats id \"%s\", want \"%s\"", id, expect);
	if ((fcntl(sfd, F_GETFD) & FD_CLOEXEC) == 0)
		KID_FAIL(out, "stats descriptor not close-on-exec");
	if ((rv = stats_fd(ro, (uint32_t)want[0])) != -EPERM)
		KID_FAIL(out, "read-only stats: %d, want -EPERM", rv);
	if ((rv = mach_destroy(ro, (uint32_t)want[0])) != -EPERM)
		KID_FAIL(out, "read-only destroy: %d, want -EPERM", rv);
	kid_say(out, "ok");
	return 0;
}

static int
kid_no_access(int out, int in, void *arg)
{
	int fd;

	(void)in;
	(void)arg;
	if ((fd = dev_open(O_RDONLY | O_CLOEXEC)) != -EACCES)
		KID_FAIL(out, "open without the group: %d, want -EACCES", fd);
	kid_say(out, "ok");
	return 0;
}

static void
test_privilege_users(void **state)
{
	struct nvmm_kern_mach_info infos[4];
	uint32_t count = 4;
	struct kid *user, *mon, *other;
	char buf[128];
	struct kt *kt;
	int want[2], r;

	KT_BEGIN(kt, state);
	grant_group();
	user = kid_start(kt, UID_USER, GID_NVMM, kid_user, NULL);
	kid_hear(user, buf, sizeof(buf));
	want[0] = atoi(buf + 3);
	want[1] = user->pid;
	mon = kid_start(kt, UID_MON, GID_NVMM, kid_monitor, want);
	kid_hear(mon, buf, sizeof(buf));
	kid_end(mon);
	other = kid_start(kt, UID_OTHER, NO_GROUP, kid_no_access, NULL);
	kid_hear(other, buf, sizeof(buf));
	kid_end(other);

	r = kt_open(kt, O_WRONLY);
	assert_int_equal(mach_list(r, infos, &count), 1);
	assert_int_equal(infos[0].pid, user->pid);
	assert_int_equal(infos[0].uid, UID_USER);
	/* Root may destroy it; the owner's vcpu then fails with EIO. */
	assert_int_equal(mach_destroy(r, (uint32_t)want[0]), 0);
	kid_go(user);
	kid_hear(user, buf, sizeof(buf));
	assert_string_equal(buf, "ok 5 -2");	/* EIO, then -ENOENT */
	kid_go(user);
	kid_end(user);
	assert_int_equal(host_machines(), 0);
}

/* libvmm's gate backend: nvmm_root_init sees another user's machine. */
static int
kid_libvmm_user(int out, int in, void *arg)
{
	struct nvmm_machine m;
	struct nvmm_vcpu v;
	void *ram;

	(void)arg;
	ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || nvmm_init() != 0 ||
	    nvmm_machine_create(&m) != 0 || nvmm_vcpu_create(&m, 0, &v) != 0 ||
	    nvmm_hva_map(&m, (uintptr_t)ram, GUEST_RAM) != 0 ||
	    nvmm_gpa_map(&m, (uintptr_t)ram, 0, GUEST_RAM,
	    PROT_READ | PROT_WRITE) != 0)
		KID_FAIL(out, "libvmm: %s", strerror(errno));
	kid_say(out, "ok %u", m.machid);
	kid_wait(in);
	return 0;
}

static int
kid_libvmm_root(int out, int in, void *arg)
{
	const int *want = arg;
	struct nvmm_ctl_mach_info info;

	(void)in;
	memset(&info, 0, sizeof(info));
	info.machid = (nvmm_machid_t)want[0];
	if (nvmm_root_init() != 0)
		KID_FAIL(out, "nvmm_root_init: %s", strerror(errno));
	if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) != 0)
		KID_FAIL(out, "nvmm_ctl: %s", strerror(errno));
	if (info.nvcpus != 1 || info.nram != GUEST_RAM || info.pid != want[1])
		KID_FAIL(out, "vcpus %u ram %" PRIu64 " pid %d", info.nvcpus,
		    info.nram, (int)info.pid);
	kid_say(out, "ok");
	return 0;
}

static int
kid_libvmm_plain(int out, int in, void *arg)
{
	const int *want = arg;
	struct nvmm_ctl_mach_info info;

	(void)in;
	memset(&info, 0, sizeof(info));
	info.machid = (nvmm_machid_t)want[0];
	if (nvmm_init() != 0)
		KID_FAIL(out, "nvmm_init: %s", strerror(errno));
	if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) != -1 ||
	    errno != EPERM)
		KID_FAIL(out, "nvmm_ctl of another's machine: not EPERM");
	kid_say(out, "ok");
	return 0;
}

static void
test_libvmm_root(void **state)
{
	const char *be = getenv("LIBVMM_BACKEND");
	struct kid *user, *k;
	char buf[64];
	struct kt *kt;
	int want[2];

	KT_BEGIN(kt, state);
	if (be != NULL && strcmp(be, "gate") != 0) {
		print_message("skipped: LIBVMM_BACKEND=%s\n", be);
		skip();
	}
	grant_group();
	user = kid_start(kt, UID_USER, GID_NVMM, kid_libvmm_user, NULL);
	kid_hear(user, buf, sizeof(buf));
	want[0] = atoi(buf + 3);
	want[1] = user->pid;
	k = kid_start(kt, UID_MON, GID_NVMM, kid_libvmm_root, want);
	kid_hear(k, buf, sizeof(buf));
	kid_end(k);
	k = kid_start(kt, UID_MON, GID_NVMM, kid_libvmm_plain, want);
	kid_hear(k, buf, sizeof(buf));
	kid_end(k);
	kid_go(user);
	kid_end(user);
	assert_int_equal(host_machines(), 0);
}

/*
 * In a child of a libvmm process: once the parent destroyed machine 0,
 * the id is the gate's to give again, and libvmm files the child's new
 * machine under it, over the entry inherited across fork.
 */
static int
libvmm_reuse_grandchild(int go)
{
	struct nvmm_ctl_mach_info info;
	struct nvmm_machine m;
	struct nvmm_vcpu v;
	char c;

	if (read(go, &c, 1) != 1)
		return 10;
	if (nvmm_machine_create(&m) != 0)
		return 11;
	if (m.machid != 0)
		return 12;
	if (nvmm_vcpu_create(&m, 0, &v) != 0)
		return 13;
	memset(&info, 0, sizeof(info));
	if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) != 0 ||
	    info.pid != getpid() || info.nvcpus != 1)
		return 14;
	return nvmm_machine_destroy(&m) != 0 ? 15 : 0;
}

static int
kid_libvmm_reuse(int out, int in, void *arg)
{
	struct nvmm_machine m;
	int go[2], st;
	pid_t pid;

	(void)in;
	(void)arg;
	if (nvmm_init() != 0 || nvmm_machine_create(&m) != 0 || m.machid != 0)
		KID_FAIL(out, "the first machine: %s", strerror(errno));
	if (pipe(go) == -1 || (pid = fork()) == -1)
		KID_FAIL(out, "pipe or fork: %s", strerror(errno));
	if (pid == 0)
		_exit(libvmm_reuse_grandchild(go[0]));
	if (nvmm_machine_destroy(&m) != 0)
		KID_FAIL(out, "destroy: %s", strerror(errno));
	if (write(go[1], "g", 1) != 1 || waitpid(pid, &st, 0) != pid)
		KID_FAIL(out, "the grandchild");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		KID_FAIL(out, "the grandchild: status 0x%x", st);
	kid_say(out, "ok");
	return 0;
}

static void
test_libvmm_fork_reuse(void **state)
{
	const char *be = getenv("LIBVMM_BACKEND");
	struct kid *k;
	char buf[64];
	struct kt *kt;

	KT_BEGIN(kt, state);
	if (be != NULL && strcmp(be, "gate") != 0) {
		print_message("skipped: LIBVMM_BACKEND=%s\n", be);
		skip();
	}
	k = kid_start(kt, 0, NO_GROUP, kid_libvmm_reuse, NULL);
	kid_hear(k, buf, sizeof(buf));
	kid_end(k);
	assert_int_equal(host_machines(), 0);
}

/* -------------------------------------------------------------------------- */
/* Lifetime: fork, owner exit, session close. */

/*
 * A forked child shares the session but owns none of its parent's
 * machines; the machine it makes in that session dies with it.
 */
static int
kid_forked(int out, int in, void *arg)
{
	const int *p = arg;	/* the session, the parent's machine */
	struct nvmm_kern_mach_info infos[4], info;
	uint32_t count = 4;
	int rv, id;

	if ((rv = mach_info(p[0], (uint32_t)p[1], &info)) != -EPERM)
		KID_FAIL(out, "MACH_INFO of the parent's: %d", rv);
	if ((rv = vm_ioctl(p[0], (uint32_t)p[1], KVM_CHECK_EXTENSION,
	    KVM_CAP_USER_MEMORY)) != -EPERM)
		KID_FAIL(out, "VM ioctl on the parent's: %d", rv);
	if ((rv = vcpu_create(p[0], (uint32_t)p[1], 1)) != -EPERM)
		KID_FAIL(out, "VCPU_CREATE on the parent's: %d", rv);
	if ((rv = mach_destroy(p[0], (uint32_t)p[1])) != -EPERM)
		KID_FAIL(out, "destroy of the parent's: %d", rv);
	if ((rv = mach_list(p[0], infos, &count)) != 0 || count != 0)
		KID_FAIL(out, "list: %d, count %u", rv, count);
	if ((id = mach_create(p[0])) < 0)
		KID_FAIL(out, "its own machine: %s", strerror(-id));
	if ((rv = vcpu_create(p[0], (uint32_t)id, 0)) < 0)
		KID_FAIL(out, "its own vcpu: %s", strerror(-rv));
	count = 4;
	if (mach_list(p[0], infos, &count) != 1 || infos[0].machid !=
	    (uint32_t)id || infos[0].flags != NVMM_KERN_MACH_OWN)
		KID_FAIL(out, "list of its own");
	kid_say(out, "ok %d", id);
	kid_wait(in);
	return 0;	/* exits with its machine and the session open */
}

static void
test_fork(void **state)
{
	struct nvmm_kern_mach_info info, infos[4];
	uint32_t count;
	struct kid *k;
	char buf[64];
	struct kt *kt;
	int p[2], r, child;

	KT_BEGIN(kt, state);
	p[0] = kt_open(kt, O_RDONLY);
	p[1] = kt_machine(p[0]);
	r = kt_open(kt, O_WRONLY);
	k = kid_start(kt, 0, NO_GROUP, kid_forked, p);
	kid_hear(k, buf, sizeof(buf));
	child = atoi(buf + 3);
	/* Not the parent's either. */
	assert_int_equal(mach_info(p[0], (uint32_t)child, &info), -EPERM);
	count = 4;
	assert_int_equal(mach_list(p[0], infos, &count), 1);
	assert_int_equal(infos[0].machid, p[1]);
	assert_int_equal(mach_info(r, (uint32_t)child, &info), 0);
	assert_int_equal(info.pid, k->pid);
	assert_int_equal(info.nvcpus, 1);
	assert_int_equal(host_machines(), 2);
	kid_go(k);
	kid_end(k);
	/* The session is still open here; the child's machine is gone. */
	assert_int_equal(mach_info(r, (uint32_t)child, &info), -ENOENT);
	assert_int_equal(host_machines(), 1);
	assert_int_equal(mach_info(p[0], (uint32_t)p[1], &info), 0);
	assert_int_equal(info.pid, getpid());
}

static int
kid_owner(int out, int in, void *arg)
{
	static uint8_t ram[192 * K] __attribute__((__aligned__(4096)));
	int fd, a, b, v[3];

	(void)arg;
	if ((fd = dev_open(O_RDONLY | O_CLOEXEC)) < 0)
		KID_FAIL(out, "open: %s", strerror(-fd));
	if ((a = mach_create(fd)) < 0 || (b = mach_create(fd)) < 0)
		KID_FAIL(out, "machines");
	v[0] = vcpu_create(fd, (uint32_t)a, 0);
	v[1] = vcpu_create(fd, (uint32_t)b, 0);
	v[2] = vcpu_create(fd, (uint32_t)b, 1);
	if (v[0] < 0 || v[1] < 0 || v[2] < 0 ||
	    set_mem(fd, (uint32_t)a, 0, 0, 64 * K, ram) != 0 ||
	    set_mem(fd, (uint32_t)b, 0, 0, 128 * K, ram + 64 * K) != 0)
		KID_FAIL(out, "vcpus or RAM");
	kid_say(out, "ok %d %d", a, b);
	kid_wait(in);
	return 0;
}

/* Machines vanish when their owner dies, even by SIGKILL. */
static void
test_owner_exit(void **state)
{
	struct nvmm_kern_mach_info infos[4];
	uint32_t count = 4;
	struct kid *k;
	char buf[64];
	struct kt *kt;
	int r, status;

	KT_BEGIN(kt, state);
	grant_group();
	r = kt_open(kt, O_WRONLY);
	k = kid_start(kt, UID_USER, GID_NVMM, kid_owner, NULL);
	kid_hear(k, buf, sizeof(buf));
	assert_string_equal(buf, "ok 0 1");
	assert_int_equal(mach_list(r, infos, &count), 2);
	assert_int_equal(count, 2);
	assert_int_equal(infos[0].machid, 0);
	assert_int_equal(infos[0].nvcpus, 1);
	assert_int_equal(infos[0].nram, 64 * K);
	assert_int_equal(infos[1].machid, 1);
	assert_int_equal(infos[1].nvcpus, 2);
	assert_int_equal(infos[1].nram, 128 * K);
	assert_int_equal(infos[0].pid, k->pid);
	assert_int_equal(infos[1].uid, UID_USER);
	/* Sessions: this one and the child's; machines: two. */
	assert_int_equal(refcnt(), 4);
	kill(k->pid, SIGKILL);
	assert_int_equal(waitpid(k->pid, &status, 0), k->pid);
	k->pid = 0;
	assert_true(WIFSIGNALED(status));
	count = 4;
	assert_int_equal(mach_list(r, infos, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(refcnt(), 1);
}

/* Closing a session destroys its machines; their vcpus stop for good. */
static void
test_session_close(void **state)
{
	struct nvmm_kern_mach_info info;
	const char *why;
	struct kt *kt;
	int fd, r, id, v, err;

	KT_BEGIN(kt, state);
	r = kt_open(kt, O_WRONLY);
	fd = kt_open(kt, O_RDONLY);
	id = kt_machine(fd);
	kt_guest(kt, fd, (uint32_t)id);
	v = vcpu_create(fd, (uint32_t)id, 0);
	assert_true(v >= 0);
	if ((why = guest_run(v, &err)) != NULL)
		fail_msg("guest: %s (%s)", why, strerror(err));
	assert_int_equal(refcnt(), 3);
	close(fd);
	kt_closed(kt, fd);
	assert_int_equal(mach_info(r, (uint32_t)id, &info), -ENOENT);
	assert_int_equal(refcnt(), 1);
	why = guest_run(v, &err);
	assert_non_null(why);
	assert_int_equal(err, EIO);
	close(v);
}

/* -------------------------------------------------------------------------- */
/* CTL. */

static void
test_ctl_errors(void **state)
{
	static const struct {
		const char *what;
		uint32_t op, size;
		int want;
	} cases[] = {
		{ "op 3", 3, 8, -EINVAL },
		{ "op -1", UINT32_MAX, 8, -EINVAL },
		{ "MACH_INFO size - 1", NVMM_KERN_CTL_MACH_INFO,
		    sizeof(struct nvmm_kern_mach_info) - 1, -EINVAL },
		{ "MACH_INFO size + 1", NVMM_KERN_CTL_MACH_INFO,
		    sizeof(struct nvmm_kern_mach_info) + 1, -EINVAL },
		{ "LIST size 0", NVMM_KERN_CTL_LIST, 0, -EINVAL },
		{ "STATS size 16", NVMM_KERN_CTL_STATS, 16, -EINVAL },
	};
	uint64_t buf[8];
	struct nvmm_kern_ctl_list l;
	struct kt *kt;
	size_t i;
	int fd, rv;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_WRONLY);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 0, sizeof(buf));
		rv = ctl(fd, cases[i].op, buf, cases[i].size);
		if (rv != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].what, rv,
			    cases[i].want);
	}
	assert_int_equal(ctl(fd, NVMM_KERN_CTL_MACH_INFO, NULL,
	    sizeof(struct nvmm_kern_mach_info)), -EFAULT);
	assert_int_equal(xioctl(fd, NVMM_IOC_CTL, NULL), -EFAULT);
	memset(&l, 0, sizeof(l));
	l.rsvd = 1;
	assert_int_equal(ctl(fd, NVMM_KERN_CTL_LIST, &l, sizeof(l)), -EINVAL);
}

static void
test_list(void **state)
{
	struct nvmm_kern_mach_info infos[3];
	uint32_t count;
	struct kt *kt;
	int fd, r;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	r = kt_open(kt, O_WRONLY);
	kt_machine(fd);
	kt_machine(fd);
	kt_machine(fd);
	kt_machine(fd);
	assert_int_equal(mach_destroy(fd, 1), 0);
	kt_machine(r);		/* id 1 again, root's own */
	count = 0;
	assert_int_equal(mach_list(fd, NULL, &count), 0);
	assert_int_equal(count, 3);
	count = 2;
	memset(infos, 0xA5, sizeof(infos));
	assert_int_equal(mach_list(fd, infos, &count), 2);
	assert_int_equal(count, 3);
	assert_int_equal(infos[0].machid, 0);
	assert_int_equal(infos[1].machid, 2);
	assert_int_equal(infos[2].machid, 0xA5A5A5A5);
	count = 3;
	assert_int_equal(mach_list(r, infos, &count), 3);
	assert_int_equal(count, 4);
	assert_int_equal(infos[1].machid, 1);
	assert_int_equal(infos[1].flags, NVMM_KERN_MACH_OWN);
	assert_int_equal(infos[2].flags, 0);
	count = 3;
	assert_int_equal(mach_list(fd, (void *)8, &count), -EFAULT);
}

/* Stats through CTL and through the VM ioctl: named after the owner. */
static void
test_stats(void **state)
{
	char id[64], expect[64];
	struct kt *kt;
	int fd, m, a, b;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	m = kt_machine(fd);
	snprintf(expect, sizeof(expect), "kvm-%d", getpid());
	a = stats_fd(fd, (uint32_t)m);
	assert_true(a >= 0);
	assert_int_equal(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_string_equal(stats_id(a, id, sizeof(id)), expect);
	b = vm_ioctl(fd, (uint32_t)m, KVM_GET_STATS_FD, 0);
	assert_true(b >= 0);
	assert_string_equal(stats_id(b, id, sizeof(id)), expect);
	close(a);
	close(b);
	assert_int_equal(mach_destroy(fd, (uint32_t)m), 0);
	assert_int_equal(stats_fd(fd, (uint32_t)m), -ENOENT);
}

/* -------------------------------------------------------------------------- */
/* Races: owners, forks and a root session that destroys at random. */

#define RACE_KIDS	3
#define RACE_ITERS	25	/* NVMM_TEST_RACE_ITERS for more */

/*
 * Is rv one of the answers a racing owner may get?  After root destroyed
 * its machine the id is free: it may be gone (ENOENT), another's (EPERM),
 * or the VM dead under a call in flight (EIO).
 */
static bool
race_ok(int rv)
{
	return rv >= 0 || rv == -ENOENT || rv == -EPERM || rv == -EIO;
}

static int
kid_race_grandchild(int fd)
{
	int id;

	id = mach_create(fd);
	if (id >= 0 && vcpu_create(fd, (uint32_t)id, 0) < 0)
		return 1;
	return id >= 0 ? 0 : 1;	/* exits with its machine */
}

/*
 * One owner: sessions that come and go with machines, vcpus and RAM,
 * sometimes a fork that makes a machine and exits.  Every answer must be
 * one a racing owner may get.
 */
static int
kid_race(int out, int in, void *arg)
{
	static uint8_t ram[64 * K] __attribute__((__aligned__(4096)));
	const char *env = getenv("NVMM_TEST_RACE_ITERS");
	int i, n, fd, id, rv, st;
	pid_t pid;

	(void)in;
	n = env != NULL && atoi(env) > 0 ? atoi(env) : RACE_ITERS;
	srand((unsigned)getpid());
	for (i = 0; i < n; i++) {
		if ((fd = dev_open(O_RDONLY | O_CLOEXEC)) < 0)
			KID_FAIL(out, "open: %s", strerror(-fd));
		if ((id = mach_create(fd)) < 0)
			KID_FAIL(out, "create: %s", strerror(-id));
		rv = vcpu_create(fd, (uint32_t)id, 0);
		if (!race_ok(rv))
			KID_FAIL(out, "vcpu: %d", rv);
		if (rv >= 0)
			close(rv);
		rv = set_mem(fd, (uint32_t)id, 0, 0, sizeof(ram), ram);
		if (!race_ok(rv))
			KID_FAIL(out, "memory: %d", rv);
		if (rand() % 4 == 0) {
			if ((pid = fork()) == 0)
				_exit(kid_race_grandchild(fd));
			if (pid == -1 || waitpid(pid, &st, 0) != pid ||
			    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				KID_FAIL(out, "grandchild");
		}
		if (rand() % 2 == 0) {
			rv = mach_destroy(fd, (uint32_t)id);
			if (!race_ok(rv) || rv == -EIO)
				KID_FAIL(out, "destroy: %d", rv);
		}
		close(fd);
	}
	kid_say(out, "ok");
	return 0;
}

static void
test_race(void **state)
{
	struct nvmm_kern_mach_info infos[NVMM_KERN_MAX_MACHINES];
	struct kid *kids[RACE_KIDS];
	uint32_t count, id;
	char buf[64];
	struct kt *kt;
	int r, i, rv, alive;

	KT_BEGIN(kt, state);
	r = kt_open(kt, O_WRONLY);
	for (i = 0; i < RACE_KIDS; i++)
		kids[i] = kid_start(kt, 0, NO_GROUP, kid_race, NULL);
	/* The root session pokes at whatever exists until the owners end. */
	do {
		count = NVMM_KERN_MAX_MACHINES;
		if ((rv = mach_list(r, infos, &count)) < 0)
			fail_msg("list: %d", rv);
		if (rv > 0) {
			id = infos[rand() % rv].machid;
			rv = stats_fd(r, id);
			if (rv >= 0)
				close(rv);
			else if (rv != -ENOENT && rv != -ESRCH && rv != -EIO)
				fail_msg("stats of %u: %d", id, rv);
			rv = mach_info(r, id, &infos[0]);
			if (rv != 0 && rv != -ENOENT)
				fail_msg("info of %u: %d", id, rv);
			rv = rand() % 3 == 0 ? mach_destroy(r, id) : 0;
			if (rv != 0 && rv != -ENOENT)
				fail_msg("destroy of %u: %d", id, rv);
		}
		for (i = alive = 0; i < RACE_KIDS; i++)
			alive += waitpid(kids[i]->pid, NULL, WNOHANG) == 0;
	} while (alive > 0);
	for (i = 0; i < RACE_KIDS; i++) {
		kid_hear(kids[i], buf, sizeof(buf));
		kids[i]->pid = 0;
	}
	assert_int_equal(host_machines(), 0);
	assert_int_equal(refcnt(), 1);
}

/* -------------------------------------------------------------------------- */
/* The module's references and unloading (last). */

static void
test_refcnt(void **state)
{
	struct kt *kt;
	int a, b;

	KT_BEGIN(kt, state);
	assert_int_equal(refcnt(), 0);
	a = kt_open(kt, O_RDONLY);
	b = kt_open(kt, O_WRONLY);
	assert_int_equal(refcnt(), 2);
	kt_machine(a);
	kt_machine(a);
	kt_machine(b);
	assert_int_equal(refcnt(), 5);
	assert_int_equal(mach_destroy(b, 0), 0);
	assert_int_equal(refcnt(), 4);
	close(a);
	kt_closed(kt, a);
	assert_int_equal(refcnt(), 2);
}

static int
delete_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) == -1 ? -errno : 0;
}

/* Unloading is refused while a machine exists; then it works, and back. */
static void
test_unload(void **state)
{
	const char *ko = getenv("NVMM_TEST_KO");
	struct stat st;
	struct kt *kt;
	int fd, kfd;

	KT_BEGIN(kt, state);
	fd = kt_open(kt, O_RDONLY);
	kt_machine(fd);
	assert_int_equal(delete_module("nvmm"), -EWOULDBLOCK);
	assert_int_equal(stat(DEV, &st), 0);
	assert_int_equal(refcnt(), 2);
	if (ko == NULL) {
		print_message("skipped: unload and reload (no NVMM_TEST_KO)\n");
		skip();
	}
	if ((kfd = open(ko, O_RDONLY | O_CLOEXEC)) == -1)
		fail_msg("%s: %s", ko, strerror(errno));
	close(fd);
	kt_closed(kt, fd);
	assert_int_equal(refcnt(), 0);
	assert_int_equal(delete_module("nvmm"), 0);
	assert_int_equal(stat(DEV, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(delete_module("nvmm"), -ENOENT);
	if (syscall(SYS_finit_module, kfd, "", 0) == -1)
		fail_msg("finit_module(%s): %s", ko, strerror(errno));
	close(kfd);
	assert_int_equal(stat(DEV, &st), 0);
	fd = kt_open(kt, O_RDONLY);
	assert_int_equal(mach_create(fd), 0);
}

/* -------------------------------------------------------------------------- */

/* Is /dev/nvmm usable here?  Remember why not, and the defaults. */
static void
probe(void)
{
	size_t i;
	char path[128];
	int fd;

	if (geteuid() != 0) {
		absent_why = "test_kmod runs as root (it switches uids and "
		    "sets module parameters)";
		return;
	}
	if ((fd = dev_open(O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(absent_buf, sizeof(absent_buf), "%s: %s (nvmm.ko is "
		    "not loaded; make check-kmod runs these tests inside the "
		    "VM-host harness)", DEV, strerror(-fd));
		absent_why = absent_buf;
		return;
	}
	close(fd);
	for (i = 0; i < NPARAMS; i++) {
		snprintf(path, sizeof(path), PARAMS "%s", param_names[i]);
		if (read_file(path, param_defaults[i],
		    sizeof(param_defaults[i])) != 0) {
			absent_why = "the module's parameters are unreadable";
			return;
		}
	}
	if (stat(DEV, &dev_st) == -1 || stat("/dev/kvm", &kvm_st) == -1)
		absent_why = "cannot stat /dev/nvmm or /dev/kvm";
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, kt_setup, kt_teardown)
		T(test_open_cloexec),
		T(test_open_root),
		T(test_capability),
		T(test_params_range),
		T(test_ioctl_unknown),
		T(test_sys_ioctls),
		T(test_machine_ids),
		T(test_machine_info),
		T(test_machine_errors),
		T(test_vm_allowlist),
		T(test_vm_offlist),
		T(test_enable_cap),
		T(test_vcpu_create),
		T(test_memory_accounting),
		T(test_limit_vcpus),
		T(test_limit_ram),
		T(test_limit_host_ram),
		T(test_limit_machines),
		T(test_limit_machines_uid),
		T(test_privilege_sessions),
		T(test_privilege_users),
		T(test_libvmm_root),
		T(test_libvmm_fork_reuse),
		T(test_fork),
		T(test_owner_exit),
		T(test_session_close),
		T(test_ctl_errors),
		T(test_list),
		T(test_stats),
		T(test_race),
		T(test_refcnt),
		T(test_unload),
#undef T
	};

	probe();
	if (absent_why != NULL)
		printf("test_kmod: %s: %s\n", getenv("NVMM_TEST_REQUIRE") ?
		    "failing every test" : "skipping every test", absent_why);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
