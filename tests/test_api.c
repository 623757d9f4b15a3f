/*
 * test_api.c: the libnvmm(3) API contract of libvmm: every documented
 * errno path (table-driven), capabilities, vcpu configuration (CPUID, TPR)
 * and its effect on a guest, NVMM_CTL_MACH_INFO, the library before
 * nvmm_init (in a fresh exec'd child), machines inherited across fork, and
 * close-on-exec descriptors.  Tests that need /dev/kvm say so and skip.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "nvmm.h"
#include "vmtest.h"

VMTEST_DECLARE_GUEST(vcpu_hlt);
VMTEST_DECLARE_GUEST(vcpu_cpuid);
VMTEST_DECLARE_GUEST(vcpu_tpr);

#define RAM_SIZE	0x200000UL
#define PAGE		4096UL
#define BASE		VMTEST_GUEST_BASE
#define PREINIT_ARG	"--preinit-child"
#define CPUID_HV	0x40000000U	/* NVMM's hypervisor leaf */
#define BOGUS_MACHID	1000U
#define UNUSED_MACHID	127U		/* a valid slot no test reaches */

static const char *prog_path;		/* argv[0], for the exec'd child */

/* Per-test resources, released by env_teardown whatever happened. */
struct env {
	struct vmtest t;
	struct nvmm_machine m2;		/* a second machine, if any */
	struct nvmm_vcpu m2_vcpu;	/* and a vcpu of it */
	bool m2_ok, m2_vcpu_ok;
	void *map[4];			/* host memory of the test */
	size_t map_size[4];
};

/* -------------------------------------------------------------------------- */
/* Helpers. */

static int
env_setup(void **state)
{
	struct env *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	*state = e;
	return 0;
}

static void
env_release(struct env *e)
{
	size_t i;

	if (e->m2_vcpu_ok)
		(void)nvmm_vcpu_destroy(&e->m2, &e->m2_vcpu);
	if (e->m2_ok)
		(void)nvmm_machine_destroy(&e->m2);
	e->m2_ok = e->m2_vcpu_ok = false;
	vmtest_fini(&e->t);
	for (i = 0; i < sizeof(e->map) / sizeof(e->map[0]); i++) {
		if (e->map[i] != NULL)
			(void)munmap(e->map[i], e->map_size[i]);
		e->map[i] = NULL;
	}
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	env_release(e);
	free(e);
	return 0;
}

/* Check for KVM, create the machine (vcpu 0, RAM at 0), load a guest. */
static void
env_start(struct env *e, const uint8_t *code, size_t len)
{
	vmtest_require_kvm();
	env_release(e);
	if (vmtest_init(&e->t, RAM_SIZE) == -1)
		fail_msg("vmtest_init: %s", strerror(errno));
	if (code != NULL)
		vmtest_load(&e->t, BASE, code, len);
}

/* Host memory for the test: prot PROT_NONE only reserves addresses. */
static uint8_t *
env_map(struct env *e, size_t size, int prot)
{
	size_t i;
	void *p;

	for (i = 0; i < sizeof(e->map) / sizeof(e->map[0]); i++) {
		if (e->map[i] == NULL)
			break;
	}
	assert_true(i < sizeof(e->map) / sizeof(e->map[0]));
	p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail_msg("mmap: %s", strerror(errno));
	e->map[i] = p;
	e->map_size[i] = size;
	return p;
}

static void
get_cap(struct nvmm_capability *cap)
{
	if (nvmm_capability(cap) == -1)
		fail_msg("nvmm_capability: %s", strerror(errno));
}

/* The call must fail with exactly this errno. */
#define EXPECT_ERRNO(call, err) do {					\
	int rv_, e_;							\
									\
	errno = 0;							\
	rv_ = (call);							\
	e_ = errno;							\
	if (rv_ != -1 || e_ != (err))					\
		fail_msg("%s: %d (%s), want -1 (%s)", #call, rv_,	\
		    rv_ == -1 ? strerror(e_) : "no error",		\
		    strerror(err));					\
} while (0)

#define EXPECT_OK(call) do {						\
	if ((call) == -1)						\
		fail_msg("%s: %s", #call, strerror(errno));		\
} while (0)

/* -1/err (or 0 when err is 0) from a call described by what. */
static void
expect_rv(const char *what, int rv, int err)
{
	int saved = errno;

	if (err == 0 && rv != 0)
		fail_msg("%s: %d (%s), want 0", what, rv, strerror(saved));
	if (err != 0 && (rv != -1 || saved != err))
		fail_msg("%s: %d (%s), want -1 (%s)", what, rv,
		    rv == -1 ? strerror(saved) : "no error", strerror(err));
}

/* Is this /proc/self/fd target one of KVM's descriptors? */
static bool
is_kvm_fd(const char *target)
{
	return strcmp(target, "/dev/kvm") == 0 ||
	    strcmp(target, "/dev/nvmm") == 0 ||
	    strcmp(target, "anon_inode:kvm-vm") == 0 ||
	    strncmp(target, "anon_inode:kvm-vcpu", 19) == 0;
}

/*
 * Call fn for every descriptor of this process that is one of KVM's.
 * Returns how many there were, or -1 if /proc/self/fd cannot be read.
 */
static int
kvm_fds(void (*fn)(int, const char *, void *), void *arg)
{
	char path[64], target[PATH_MAX];
	struct dirent *de;
	ssize_t n;
	DIR *d;
	int fd, count = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((n = readlink(path, target, sizeof(target) - 1)) == -1)
			continue;
		target[n] = '\0';
		if (!is_kvm_fd(target))
			continue;
		count++;
		if (fn != NULL)
			fn(fd, target, arg);
	}
	closedir(d);
	return count;
}

/* -------------------------------------------------------------------------- */
/* Operations on a machine or vcpu that should not be reachable. */

static uint8_t op_page[PAGE] __attribute__((__aligned__(PAGE)));

static int
op_mach_configure(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_vmm_conf_stats st = { -1 };

	/* A libvmm op, so that only the machine lookup can fail. */
	return nvmm_machine_configure(m, NVMM_MACH_CONF_VMM_STATS, &st);
}

static int
op_vcpu_create(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_vcpu nv;

	return nvmm_vcpu_create(m, 3, &nv);
}

static int
op_vcpu_destroy(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_destroy(m, v);
}

static int
op_vcpu_configure(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	struct nvmm_vcpu_conf_tpr tpr = { .exit_changed = 1 };

	return nvmm_vcpu_configure(m, v, NVMM_VCPU_CONF_TPR, &tpr);
}

static int
op_setstate(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_setstate(m, v, NVMM_X64_STATE_ALL);
}

static int
op_getstate(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_getstate(m, v, NVMM_X64_STATE_ALL);
}

static int
op_inject(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_inject(m, v);
}

static int
op_run(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_run(m, v);
}

static int
op_gpa_map(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_gpa_map(m, (uintptr_t)op_page, 0x10000000, PAGE,
	    PROT_READ | PROT_WRITE);
}

static int
op_gpa_unmap(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_gpa_unmap(m, (uintptr_t)op_page, 0x10000000, PAGE);
}

static int
op_hva_map(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_hva_map(m, (uintptr_t)op_page, PAGE);
}

static int
op_hva_unmap(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_hva_unmap(m, (uintptr_t)op_page, PAGE);
}

static int
op_gva_to_gpa(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	nvmm_prot_t prot;
	gpaddr_t gpa;

	return nvmm_gva_to_gpa(m, v, BASE, &gpa, &prot);
}

static int
op_gpa_to_hva(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	nvmm_prot_t prot;
	uintptr_t hva;

	return nvmm_gpa_to_hva(m, BASE, &hva, &prot);
}

static int
op_assist_io(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_assist_io(m, v);
}

static int
op_assist_mem(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_assist_mem(m, v);
}

static int
op_vcpu_dump(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_vcpu_dump(m, v);
}

static int
op_mach_destroy(struct nvmm_machine *m, struct nvmm_vcpu *v)
{
	return nvmm_machine_destroy(m);
}

/*
 * Every call that names a machine (and, for vcpu_op, a vcpu).  Machine
 * destruction comes last: on a live machine it would succeed.
 */
static const struct api_op {
	const char *name;
	int (*call)(struct nvmm_machine *, struct nvmm_vcpu *);
	bool vcpu_op;
} api_ops[] = {
	{ "nvmm_machine_configure", op_mach_configure, false },
	{ "nvmm_vcpu_create", op_vcpu_create, false },
	{ "nvmm_vcpu_destroy", op_vcpu_destroy, true },
	{ "nvmm_vcpu_configure", op_vcpu_configure, true },
	{ "nvmm_vcpu_setstate", op_setstate, true },
	{ "nvmm_vcpu_getstate", op_getstate, true },
	{ "nvmm_vcpu_inject", op_inject, true },
	{ "nvmm_vcpu_run", op_run, true },
	{ "nvmm_gpa_map", op_gpa_map, false },
	{ "nvmm_gpa_unmap", op_gpa_unmap, false },
	{ "nvmm_hva_map", op_hva_map, false },
	{ "nvmm_hva_unmap", op_hva_unmap, false },
	{ "nvmm_gva_to_gpa", op_gva_to_gpa, true },
	{ "nvmm_gpa_to_hva", op_gpa_to_hva, false },
	{ "nvmm_assist_io", op_assist_io, true },
	{ "nvmm_assist_mem", op_assist_mem, true },
	{ "nvmm_vcpu_dump", op_vcpu_dump, true },
	{ "nvmm_machine_destroy", op_mach_destroy, false },
};
#define NAPI_OPS	(sizeof(api_ops) / sizeof(api_ops[0]))

/*
 * Run the table (only the vcpu operations if vcpu_only); each must fail
 * with err.  Returns NULL, or a description of the first that did not,
 * in buf.  Usable outside cmocka (the forked child).
 */
static const char *
api_ops_expect(struct nvmm_machine *m, struct nvmm_vcpu *v, bool vcpu_only,
    int err, char *buf, size_t len)
{
	size_t i;
	int rv, e;

	for (i = 0; i < NAPI_OPS; i++) {
		if (vcpu_only && !api_ops[i].vcpu_op)
			continue;
		errno = 0;
		rv = api_ops[i].call(m, v);
		e = errno;
		if (rv != -1 || e != err) {
			snprintf(buf, len, "%s: %d (%s), want -1 (%s)",
			    api_ops[i].name, rv, rv == -1 ? strerror(e) :
			    "no error", strerror(err));
			return buf;
		}
	}
	return NULL;
}

/* -------------------------------------------------------------------------- */
/* Before nvmm_init, in a freshly exec'd child. */

static bool
pre_no_kvm_fds(void)
{
	/* The parent had machines open: close-on-exec must drop them. */
	return kvm_fds(NULL, NULL) == 0;
}

static bool
pre_capability(void)
{
	struct nvmm_capability cap;

	errno = 0;
	return nvmm_capability(&cap) == -1 && errno == EBADF;
}

static bool
pre_machine_create(void)
{
	struct nvmm_machine m;

	errno = 0;
	return nvmm_machine_create(&m) == -1 && errno == EBADF;
}

static bool
pre_ctl(void)
{
	struct nvmm_ctl_mach_info info;

	memset(&info, 0, sizeof(info));
	errno = 0;
	return nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) == -1 &&
	    errno == EBADF;
}

static bool
pre_init_twice(void)
{
	return nvmm_init() == 0 && nvmm_init() == 0;
}

static bool
pre_root_init(void)
{
	return nvmm_root_init() == 0;
}

static bool
pre_capability_after(void)
{
	struct nvmm_capability cap;

	return nvmm_capability(&cap) == 0 && cap.version == NVMM_KERN_VERSION;
}

static const struct pre_check {
	const char *what;
	bool (*check)(void);
} pre_checks[] = {
	{ "no KVM descriptor survives exec", pre_no_kvm_fds },
	{ "nvmm_capability before nvmm_init: EBADF", pre_capability },
	{ "nvmm_machine_create before nvmm_init: EBADF", pre_machine_create },
	{ "nvmm_ctl before nvmm_init: EBADF", pre_ctl },
	{ "nvmm_init twice: 0, 0", pre_init_twice },
	{ "nvmm_root_init after nvmm_init: 0", pre_root_init },
	{ "nvmm_capability after nvmm_init: version 2", pre_capability_after },
};
#define NPRE_CHECKS	(sizeof(pre_checks) / sizeof(pre_checks[0]))

/* The exec'd child: exit status 0, or 1 + the index of the failed check. */
static int
preinit_child(void)
{
	size_t i;

	for (i = 0; i < NPRE_CHECKS; i++) {
		if (!pre_checks[i].check()) {
			fprintf(stderr, "preinit child: %s: failed (%s)\n",
			    pre_checks[i].what, strerror(errno));
			return (int)i + 1;
		}
	}
	return 0;
}

/*
 * nvmm_init has run in this process by now, so the calls before it are
 * checked in a child that execs this program afresh (which also checks
 * that no KVM descriptor leaks through exec).
 */
static void
test_before_init(void **state)
{
	struct env *e = *state;
	pid_t pid;
	int status;

	env_start(e, NULL, 0);	/* machine and vcpu open across the exec */
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/proc/self/exe", prog_path, PREINIT_ARG, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status))
		fail_msg("preinit child died (status 0x%x)", status);
	if (WEXITSTATUS(status) == 127)
		fail_msg("cannot exec %s", prog_path);
	if (WEXITSTATUS(status) != 0 &&
	    (size_t)WEXITSTATUS(status) <= NPRE_CHECKS)
		fail_msg("preinit child: %s",
		    pre_checks[WEXITSTATUS(status) - 1].what);
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* -------------------------------------------------------------------------- */
/* Initialization, capabilities, machine configuration. */

static void
test_init(void **state)
{
	vmtest_require_kvm();
	assert_int_equal(nvmm_init(), 0);
	assert_int_equal(nvmm_init(), 0);
	assert_int_equal(nvmm_root_init(), 0);
	assert_int_equal(nvmm_init(), 0);
}

static void
test_capability(void **state)
{
	struct nvmm_capability cap;

	vmtest_require_kvm();
	EXPECT_OK(nvmm_init());
	memset(&cap, 0xA5, sizeof(cap));
	get_cap(&cap);
	assert_int_equal(cap.version, 2);
	assert_int_equal(cap.state_size, sizeof(struct nvmm_x64_state));
	assert_true(cap.max_machines >= 1);
	assert_true(cap.max_vcpus >= 1);
	assert_true(cap.max_ram >= RAM_SIZE);
	assert_int_equal(cap.max_ram % PAGE, 0);
	assert_int_equal(cap.arch.mach_conf_support, 0);
	assert_int_equal(cap.arch.vcpu_conf_support &
	    (NVMM_CAP_ARCH_VCPU_CONF_CPUID | NVMM_CAP_ARCH_VCPU_CONF_TPR),
	    NVMM_CAP_ARCH_VCPU_CONF_CPUID | NVMM_CAP_ARCH_VCPU_CONF_TPR);
	assert_int_equal(cap.arch.conf_cpuid_maxops, 32);
	assert_true(cap.arch.xcr0_mask & 1);	/* x87 */
	assert_true(cap.arch.mxcsr_mask != 0);
}

/* NetBSD's x86 has no machine configuration: every NVMM op is EINVAL. */
static void
test_machine_configure(void **state)
{
	static const uint64_t ops[] = { 0, 1, 99, 100, 101, 199, 200, 201,
	    250, 299 };
	struct env *e = *state;
	uint64_t conf[16];
	size_t i;
	char what[64];

	env_start(e, NULL, 0);
	memset(conf, 0, sizeof(conf));
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		snprintf(what, sizeof(what), "nvmm_machine_configure(op %llu)",
		    (unsigned long long)ops[i]);
		expect_rv(what, nvmm_machine_configure(&e->t.mach, ops[i],
		    conf), EINVAL);
	}
	EXPECT_ERRNO(nvmm_machine_configure(&e->t.mach, 200, NULL), EINVAL);
}

/* -------------------------------------------------------------------------- */
/* Machines and vcpus. */

static void
test_vcpu_create(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_capability cap;
	struct nvmm_vcpu v, last;

	env_start(e, NULL, 0);
	get_cap(&cap);
	EXPECT_ERRNO(nvmm_vcpu_create(&t->mach, cap.max_vcpus, &v), EINVAL);
	EXPECT_ERRNO(nvmm_vcpu_create(&t->mach, UINT32_MAX, &v), EINVAL);
	EXPECT_ERRNO(nvmm_vcpu_create(&t->mach, 0, &v), EBUSY);

	EXPECT_OK(nvmm_vcpu_create(&t->mach, cap.max_vcpus - 1, &last));
	EXPECT_ERRNO(nvmm_vcpu_create(&t->mach, cap.max_vcpus - 1, &v),
	    EBUSY);
	EXPECT_OK(nvmm_vcpu_destroy(&t->mach, &last));
	EXPECT_ERRNO(nvmm_vcpu_destroy(&t->mach, &last), ENOENT);

	/* Destroy, then create the same id: a new vcpu in reset state. */
	EXPECT_OK(nvmm_vcpu_create(&t->mach, 1, &v));
	EXPECT_OK(nvmm_vcpu_getstate(&t->mach, &v, NVMM_X64_STATE_GPRS));
	v.state->gprs[NVMM_X64_GPR_RAX] = 0x1234;
	v.state->gprs[NVMM_X64_GPR_RIP] = 0x5000;
	EXPECT_OK(nvmm_vcpu_setstate(&t->mach, &v, NVMM_X64_STATE_GPRS));
	EXPECT_OK(nvmm_vcpu_destroy(&t->mach, &v));
	EXPECT_OK(nvmm_vcpu_create(&t->mach, 1, &v));
	EXPECT_OK(nvmm_vcpu_getstate(&t->mach, &v, NVMM_X64_STATE_GPRS));
	assert_int_equal(v.state->gprs[NVMM_X64_GPR_RAX], 0);
	assert_int_equal(v.state->gprs[NVMM_X64_GPR_RIP], 0xFFF0);
	EXPECT_OK(nvmm_vcpu_destroy(&t->mach, &v));
}

/* A vcpu that ran, destroyed and created again runs from a fresh state. */
static void
test_vcpu_recreate_run(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;

	env_start(e, VMTEST_GUEST(vcpu_hlt));
	vmtest_setup_long(t, BASE);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RAX), 1);

	EXPECT_OK(nvmm_vcpu_destroy(&t->mach, &t->vcpu));
	t->vcpu_ok = false;
	EXPECT_OK(nvmm_vcpu_create(&t->mach, 0, &t->vcpu));
	t->vcpu_ok = true;
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RIP), 0xFFF0);
	vmtest_setup_long(t, BASE);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RAX), 1);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RIP),
	    vmtest_gpr(t, NVMM_X64_GPR_RBX));
}

/* Operations on a destroyed machine, or a machid never handed out. */
static void
test_dead_machine(void **state)
{
	struct nvmm_machine m, bogus;
	struct nvmm_vcpu v, fake;
	const char *why;
	char buf[256];

	vmtest_require_kvm();
	EXPECT_OK(nvmm_init());
	EXPECT_OK(nvmm_machine_create(&m));
	if (nvmm_vcpu_create(&m, 0, &v) == -1) {
		(void)nvmm_machine_destroy(&m);
		fail_msg("nvmm_vcpu_create: %s", strerror(errno));
	}
	/* The vcpu goes first: the machine would leave its exit to us. */
	EXPECT_OK(nvmm_vcpu_destroy(&m, &v));
	EXPECT_OK(nvmm_machine_destroy(&m));
	why = api_ops_expect(&m, &v, false, ENOENT, buf, sizeof(buf));
	if (why != NULL)
		fail_msg("destroyed machine: %s", why);

	memset(&fake, 0, sizeof(fake));
	memset(&bogus, 0, sizeof(bogus));
	bogus.machid = BOGUS_MACHID;
	why = api_ops_expect(&bogus, &fake, false, ENOENT, buf, sizeof(buf));
	if (why != NULL)
		fail_msg("machid %u: %s", BOGUS_MACHID, why);
	bogus.machid = UNUSED_MACHID;
	why = api_ops_expect(&bogus, &fake, false, ENOENT, buf, sizeof(buf));
	if (why != NULL)
		fail_msg("machid %u: %s", UNUSED_MACHID, why);
}

/* vcpu operations on a live machine with a cpuid never created. */
static void
test_bad_vcpu(void **state)
{
	static const nvmm_cpuid_t ids[] = { 7, 255, 100000 };
	struct env *e = *state;
	struct nvmm_vcpu fake;
	const char *why;
	char buf[256];
	size_t i;

	env_start(e, NULL, 0);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		memset(&fake, 0, sizeof(fake));
		fake.cpuid = ids[i];
		why = api_ops_expect(&e->t.mach, &fake, true, ENOENT, buf,
		    sizeof(buf));
		if (why != NULL)
			fail_msg("cpuid %u: %s", ids[i], why);
	}
}

/* -------------------------------------------------------------------------- */
/* Host and guest memory. */

enum mem_op {
	HVA_MAP,
	HVA_UNMAP,
	GPA_MAP,
	GPA_UNMAP,
};

/*
 * One memory call.  Host addresses are offsets into the test's buffer
 * unless abs is set; gpa is absolute, or relative to max_ram when
 * from_top is set.  error 0 means the call must succeed.
 */
struct mem_case {
	const char *what;
	enum mem_op op;
	bool abs;
	uintptr_t hva;
	bool from_top;
	gpaddr_t gpa;
	size_t size;
	int prot;
	int error;
};

#define K		1024UL
#define RW		(PROT_READ | PROT_WRITE)
#define GPA_T		0x10000000UL	/* where the GPA cases map */

static const struct mem_case hva_cases[] = {
	{ "misaligned hva", HVA_MAP, false, 1, false, 0, PAGE, 0, EINVAL },
	{ "zero size", HVA_MAP, false, 0, false, 0, 0, 0, EINVAL },
	{ "misaligned size", HVA_MAP, false, 0, false, 0, 100, 0, EINVAL },
	{ "hva 0", HVA_MAP, true, 0, false, 0, PAGE, 0, EINVAL },
	{ "wrapping range", HVA_MAP, true, 0xFFFFFFFFFFFFF000UL, false, 0,
	    0x2000, 0, EINVAL },
	{ "map [0, 64K)", HVA_MAP, false, 0, false, 0, 64 * K, 0, 0 },
	{ "same range", HVA_MAP, false, 0, false, 0, 64 * K, 0, EEXIST },
	{ "inside", HVA_MAP, false, 4 * K, false, 0, 4 * K, 0, EEXIST },
	{ "over the end", HVA_MAP, false, 60 * K, false, 0, 8 * K, 0,
	    EEXIST },
	{ "adjacent [64K, 68K)", HVA_MAP, false, 64 * K, false, 0, 4 * K, 0,
	    0 },
	{ "unmap unknown", HVA_UNMAP, false, 96 * K, false, 0, 4 * K, 0,
	    ENOENT },
	{ "unmap a sub-range", HVA_UNMAP, false, 0, false, 0, 4 * K, 0,
	    ENOENT },
	{ "unmap a larger range", HVA_UNMAP, false, 0, false, 0, 128 * K, 0,
	    ENOENT },
	{ "unmap [64K, 68K)", HVA_UNMAP, false, 64 * K, false, 0, 4 * K, 0,
	    0 },
	{ "unmap it again", HVA_UNMAP, false, 64 * K, false, 0, 4 * K, 0,
	    ENOENT },
	{ "unmap [0, 64K)", HVA_UNMAP, false, 0, false, 0, 64 * K, 0, 0 },
	{ "map [0, 64K) again", HVA_MAP, false, 0, false, 0, 64 * K, 0, 0 },
};

/*
 * The buffer is 128K; [0, 32K) and [32K, 64K) are two HVA mappings,
 * [64K, 128K) none.  RAM is at GPA [0, RAM_SIZE).
 */
static const struct mem_case gpa_cases[] = {
	{ "misaligned hva", GPA_MAP, false, 1, false, GPA_T, PAGE, RW,
	    EINVAL },
	{ "misaligned gpa", GPA_MAP, false, 0, false, GPA_T + 0x123, PAGE,
	    RW, EINVAL },
	{ "zero size", GPA_MAP, false, 0, false, GPA_T, 0, RW, EINVAL },
	{ "misaligned size", GPA_MAP, false, 0, false, GPA_T, 100, RW,
	    EINVAL },
	{ "hva 0", GPA_MAP, true, 0, false, GPA_T, PAGE, RW, EINVAL },
	{ "hva in no HVA mapping", GPA_MAP, false, 64 * K, false, GPA_T,
	    PAGE, RW, ENOENT },
	{ "range across two HVA mappings", GPA_MAP, false, 28 * K, false,
	    GPA_T, 8 * K, RW, ENOENT },
	{ "range past the HVA mapping", GPA_MAP, false, 60 * K, false, GPA_T,
	    8 * K, RW, ENOENT },
	{ "prot 0x10", GPA_MAP, false, 0, false, GPA_T, PAGE, 0x10, EINVAL },
	{ "prot RW|0x10", GPA_MAP, false, 0, false, GPA_T, PAGE, RW | 0x10,
	    EINVAL },
	{ "gpa + size > max_ram", GPA_MAP, false, 0, true, PAGE, 2 * PAGE,
	    RW, EINVAL },
	{ "gpa = max_ram", GPA_MAP, false, 0, true, 0, PAGE, RW, EINVAL },
	{ "gpa + size wraps", GPA_MAP, false, 0, false, 0xFFFFFFFFFFFFF000UL,
	    2 * PAGE, RW, EINVAL },
	{ "overlaps RAM", GPA_MAP, false, 0, false, RAM_SIZE - PAGE,
	    2 * PAGE, RW, EINVAL },
	{ "map 16K", GPA_MAP, false, 0, false, GPA_T, 16 * K, RW, 0 },
	{ "same GPA range", GPA_MAP, false, 16 * K, false, GPA_T, 16 * K, RW,
	    EINVAL },
	{ "over the end", GPA_MAP, false, 16 * K, false, GPA_T + 12 * K,
	    8 * K, RW, EINVAL },
	{ "over the start", GPA_MAP, false, 16 * K, false, GPA_T - 4 * K,
	    8 * K, RW, EINVAL },
	{ "adjacent", GPA_MAP, false, 16 * K, false, GPA_T + 16 * K, 4 * K,
	    RW, 0 },
	{ "unmap: wrong hva", GPA_UNMAP, false, 4 * K, false, GPA_T, 16 * K,
	    0, ESRCH },
	{ "unmap: wrong size", GPA_UNMAP, false, 0, false, GPA_T, 8 * K, 0,
	    ESRCH },
	{ "unmap: wrong gpa", GPA_UNMAP, false, 0, false, GPA_T + 0x100000,
	    16 * K, 0, ESRCH },
	{ "unmap: never mapped", GPA_UNMAP, false, 32 * K, false, 0x20000000,
	    PAGE, 0, ESRCH },
	{ "unmap 16K", GPA_UNMAP, false, 0, false, GPA_T, 16 * K, 0, 0 },
	{ "unmap it again", GPA_UNMAP, false, 0, false, GPA_T, 16 * K, 0,
	    ESRCH },
	{ "unmap adjacent", GPA_UNMAP, false, 16 * K, false, GPA_T + 16 * K,
	    4 * K, 0, 0 },
	/* DragonFly's fix of NetBSD's off-by-one: the last page works. */
	{ "map the last page", GPA_MAP, false, 0, true, PAGE, PAGE, RW, 0 },
	{ "unmap the last page", GPA_UNMAP, false, 0, true, PAGE, PAGE, 0,
	    0 },
};

static void
mem_cases_run(struct vmtest *t, const struct mem_case *cases, size_t n,
    uint8_t *buf, uint64_t max_ram)
{
	const struct mem_case *c;
	uintptr_t hva;
	gpaddr_t gpa;
	char what[128];
	size_t i;
	int rv = -1;

	for (i = 0; i < n; i++) {
		c = &cases[i];
		hva = c->abs ? c->hva : (uintptr_t)buf + c->hva;
		gpa = c->from_top ? max_ram - c->gpa : c->gpa;
		errno = 0;
		switch (c->op) {
		case HVA_MAP:
			rv = nvmm_hva_map(&t->mach, hva, c->size);
			break;
		case HVA_UNMAP:
			rv = nvmm_hva_unmap(&t->mach, hva, c->size);
			break;
		case GPA_MAP:
			rv = nvmm_gpa_map(&t->mach, hva, gpa, c->size,
			    c->prot);
			break;
		case GPA_UNMAP:
			rv = nvmm_gpa_unmap(&t->mach, hva, gpa, c->size);
			break;
		}
		snprintf(what, sizeof(what), "case %zu, %s", i, c->what);
		expect_rv(what, rv, c->error);
	}
}

static void
test_hva_errors(void **state)
{
	struct env *e = *state;
	uint8_t *buf;

	env_start(e, NULL, 0);
	buf = env_map(e, 128 * K, PROT_READ | PROT_WRITE);
	mem_cases_run(&e->t, hva_cases, sizeof(hva_cases) /
	    sizeof(hva_cases[0]), buf, 0);
}

/* The HVA table is bounded (NetBSD: 32 entries): ENOBUFS when full. */
static void
test_hva_full(void **state)
{
	struct env *e = *state;
	const size_t max = 4096;
	uint8_t *resv;
	size_t n, i;
	int rv;

	env_start(e, NULL, 0);
	resv = env_map(e, max * PAGE, PROT_NONE);
	for (n = 0; n < max; n++) {
		errno = 0;
		if ((rv = nvmm_hva_map(&e->t.mach, (uintptr_t)resv + n * PAGE,
		    PAGE)) == -1)
			break;
	}
	if (n == max)
		fail_msg("%zu HVA mappings and no ENOBUFS", max);
	expect_rv("nvmm_hva_map with the table full", rv, ENOBUFS);
	assert_true(n + 1 >= 32);	/* the harness's RAM is one */
	for (i = 0; i < n; i++)
		EXPECT_OK(nvmm_hva_unmap(&e->t.mach,
		    (uintptr_t)resv + i * PAGE, PAGE));
	EXPECT_OK(nvmm_hva_map(&e->t.mach, (uintptr_t)resv, PAGE));
}

static void
gpa_to_hva_expect(struct vmtest *t, gpaddr_t gpa, uintptr_t want,
    nvmm_prot_t want_prot)
{
	nvmm_prot_t prot;
	uintptr_t hva;

	if (nvmm_gpa_to_hva(&t->mach, gpa, &hva, &prot) == -1)
		fail_msg("nvmm_gpa_to_hva(0x%llx): %s",
		    (unsigned long long)gpa, strerror(errno));
	assert_int_equal(hva, want);
	assert_int_equal(prot, want_prot);
}

static void
test_gpa_errors(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_capability cap;
	nvmm_prot_t prot;
	uintptr_t hva;
	uint8_t *buf;

	env_start(e, NULL, 0);
	get_cap(&cap);
	buf = env_map(e, 128 * K, PROT_READ | PROT_WRITE);
	EXPECT_OK(nvmm_hva_map(&t->mach, (uintptr_t)buf, 32 * K));
	EXPECT_OK(nvmm_hva_map(&t->mach, (uintptr_t)buf + 32 * K, 32 * K));
	mem_cases_run(t, gpa_cases, sizeof(gpa_cases) / sizeof(gpa_cases[0]),
	    buf, cap.max_ram);

	/* gpa_to_hva: hits give the HVA and prot; misses ENOENT. */
	EXPECT_ERRNO(nvmm_gpa_to_hva(&t->mach, GPA_T, &hva, &prot), ENOENT);
	EXPECT_ERRNO(nvmm_gpa_to_hva(&t->mach, 0x50000000, &hva, &prot),
	    ENOENT);
	EXPECT_ERRNO(nvmm_gpa_to_hva(&t->mach, RAM_SIZE, &hva, &prot),
	    ENOENT);
	gpa_to_hva_expect(t, RAM_SIZE - 1, (uintptr_t)t->ram + RAM_SIZE - 1,
	    NVMM_PROT_ALL & ~NVMM_PROT_USER);
	EXPECT_OK(nvmm_gpa_map(&t->mach, (uintptr_t)buf + 4 * K, GPA_T,
	    8 * K, PROT_READ));
	gpa_to_hva_expect(t, GPA_T + 0x1234, (uintptr_t)buf + 4 * K + 0x1234,
	    NVMM_PROT_READ);
	EXPECT_ERRNO(nvmm_gpa_to_hva(&t->mach, GPA_T + 8 * K, &hva, &prot),
	    ENOENT);
	EXPECT_OK(nvmm_gpa_unmap(&t->mach, (uintptr_t)buf + 4 * K, GPA_T,
	    8 * K));
	EXPECT_ERRNO(nvmm_gpa_to_hva(&t->mach, GPA_T + 0x1234, &hva, &prot),
	    ENOENT);

	/* The last page below max_ram maps, translates and unmaps. */
	EXPECT_OK(nvmm_gpa_map(&t->mach, (uintptr_t)buf, cap.max_ram - PAGE,
	    PAGE, RW));
	gpa_to_hva_expect(t, cap.max_ram - 1, (uintptr_t)buf + PAGE - 1,
	    NVMM_PROT_READ | NVMM_PROT_WRITE);
	EXPECT_OK(nvmm_gpa_unmap(&t->mach, (uintptr_t)buf, cap.max_ram - PAGE,
	    PAGE));
	EXPECT_ERRNO(nvmm_gpa_to_hva(&t->mach, cap.max_ram - 1, &hva, &prot),
	    ENOENT);
}

/* -------------------------------------------------------------------------- */
/* Assists. */

static void
cb_io(struct nvmm_io *io)
{
	(void)io;
}

static void
cb_mem(struct nvmm_mem *mem)
{
	(void)mem;
}

/* Either assist on an exit that is not its own: EINVAL, nothing done. */
static void
test_assist_wrong_exit(void **state)
{
	struct nvmm_assist_callbacks cbs = { cb_io, cb_mem };
	struct env *e = *state;
	struct vmtest *t = &e->t;

	env_start(e, VMTEST_GUEST(vcpu_hlt));
	EXPECT_OK(nvmm_vcpu_configure(&t->mach, &t->vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	vmtest_setup_long(t, BASE);
	/* Before any run (no exit yet). */
	EXPECT_ERRNO(nvmm_assist_io(&t->mach, &t->vcpu), EINVAL);
	EXPECT_ERRNO(nvmm_assist_mem(&t->mach, &t->vcpu), EINVAL);

	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	EXPECT_ERRNO(nvmm_assist_io(&t->mach, &t->vcpu), EINVAL);
	EXPECT_ERRNO(nvmm_assist_mem(&t->mach, &t->vcpu), EINVAL);
	assert_int_equal(t->vcpu.exit->reason, NVMM_VCPU_EXIT_HALTED);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RIP),
	    vmtest_gpr(t, NVMM_X64_GPR_RBX));

	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RAX), 2);
}

/* -------------------------------------------------------------------------- */
/* vcpu configuration. */

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static struct nvmm_vcpu_conf_cpuid
cpuid_conf(uint32_t leaf, bool mask, bool exit, struct cpuid_regs set,
    struct cpuid_regs del)
{
	struct nvmm_vcpu_conf_cpuid c;

	memset(&c, 0, sizeof(c));
	c.mask = mask;
	c.exit = exit;
	c.leaf = leaf;
	c.u.mask.set.eax = set.eax;
	c.u.mask.set.ebx = set.ebx;
	c.u.mask.set.ecx = set.ecx;
	c.u.mask.set.edx = set.edx;
	c.u.mask.del.eax = del.eax;
	c.u.mask.del.ebx = del.ebx;
	c.u.mask.del.ecx = del.ecx;
	c.u.mask.del.edx = del.edx;
	return c;
}

static int
conf_cpuid(struct vmtest *t, struct nvmm_vcpu_conf_cpuid c)
{
	return nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_CPUID,
	    &c);
}

static const struct cpuid_conf_case {
	const char *what;
	bool mask, exit;
	struct cpuid_regs set, del;
	int error;
} cpuid_conf_cases[] = {
	{ "mask and exit", true, true, { 1, 0, 0, 0 }, { 0, 0, 0, 0 },
	    EINVAL },
	{ "set & del in EAX", true, false, { 3, 0, 0, 0 }, { 2, 0, 0, 0 },
	    EINVAL },
	{ "set & del in EBX", true, false, { 0, 0x100, 0, 0 },
	    { 0, 0x300, 0, 0 }, EINVAL },
	{ "set & del in ECX", true, false, { 0, 0, 1U << 31, 0 },
	    { 0, 0, 1U << 31, 0 }, EINVAL },
	{ "set & del in EDX", true, false, { 0, 0, 0, 0xFF },
	    { 0, 0, 0, 0x80 }, EINVAL },
	/* KVM answers CPUID in the kernel: no CPUID exits (libvmm(3)). */
	{ "exit alone", false, true, { 0, 0, 0, 0 }, { 0, 0, 0, 0 },
	    ENOTSUP },
	{ "mask", true, false, { 1, 2, 4, 8 }, { 0x10, 0x20, 0x40, 0x80 },
	    0 },
	{ "mask again (replaces)", true, false, { 0, 0, 0, 0 },
	    { 0, 0, 0, 0 }, 0 },
	{ "neither (deletes)", false, false, { 0, 0, 0, 0 }, { 0, 0, 0, 0 },
	    0 },
	{ "neither, leaf absent", false, false, { 0, 0, 0, 0 },
	    { 0, 0, 0, 0 }, 0 },
};

static void
test_cpuid_conf_errors(void **state)
{
	struct env *e = *state;
	const struct cpuid_conf_case *c;
	char what[96];
	size_t i;

	env_start(e, NULL, 0);
	for (i = 0; i < sizeof(cpuid_conf_cases) /
	    sizeof(cpuid_conf_cases[0]); i++) {
		c = &cpuid_conf_cases[i];
		snprintf(what, sizeof(what), "CPUID conf: %s", c->what);
		errno = 0;
		expect_rv(what, conf_cpuid(&e->t, cpuid_conf(CPUID_HV + 0x10,
		    c->mask, c->exit, c->set, c->del)), c->error);
	}
}

/* At most conf_cpuid_maxops leaves; replacing or deleting stays possible. */
static void
test_cpuid_conf_full(void **state)
{
	static const struct cpuid_regs set = { 1, 0, 0, 0 }, none;
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_capability cap;
	uint32_t i, leaf = CPUID_HV + 0x100;

	env_start(e, NULL, 0);
	get_cap(&cap);
	for (i = 0; i < cap.arch.conf_cpuid_maxops; i++)
		EXPECT_OK(conf_cpuid(t, cpuid_conf(leaf + i, true, false, set,
		    none)));
	EXPECT_ERRNO(conf_cpuid(t, cpuid_conf(leaf + i, true, false, set,
	    none)), ENOBUFS);
	EXPECT_OK(conf_cpuid(t, cpuid_conf(leaf + 5, true, false, none,
	    set)));
	EXPECT_OK(conf_cpuid(t, cpuid_conf(leaf + 5, false, false, none,
	    none)));
	EXPECT_OK(conf_cpuid(t, cpuid_conf(leaf + i, true, false, set,
	    none)));
	EXPECT_ERRNO(conf_cpuid(t, cpuid_conf(leaf + i + 1, true, false, set,
	    none)), ENOBUFS);
}

static void
test_vcpu_conf_ops(void **state)
{
	static const uint64_t bad_ops[] = { 1, 2, 99, 100, 101, 199, 202,
	    250, 299 };
	struct nvmm_assist_callbacks cbs = { cb_io, cb_mem };
	struct nvmm_vcpu_conf_tpr tpr;
	struct env *e = *state;
	struct vmtest *t = &e->t;
	uint64_t conf[16];
	char what[64];
	size_t i;

	env_start(e, NULL, 0);
	memset(conf, 0, sizeof(conf));
	for (i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++) {
		snprintf(what, sizeof(what), "nvmm_vcpu_configure(op %llu)",
		    (unsigned long long)bad_ops[i]);
		expect_rv(what, nvmm_vcpu_configure(&t->mach, &t->vcpu,
		    bad_ops[i], conf), EINVAL);
	}
	EXPECT_OK(nvmm_vcpu_configure(&t->mach, &t->vcpu,
	    NVMM_VCPU_CONF_CALLBACKS, &cbs));
	assert_ptr_equal(t->vcpu.cbs.io, cb_io);
	assert_ptr_equal(t->vcpu.cbs.mem, cb_mem);
	memset(&tpr, 0, sizeof(tpr));
	tpr.exit_changed = 1;
	EXPECT_OK(nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_TPR,
	    &tpr));
	tpr.exit_changed = 0;
	EXPECT_OK(nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_TPR,
	    &tpr));
}

/* Run vcpu_cpuid.S from the start and return what CPUID gave. */
static struct cpuid_regs
cpuid_run(struct vmtest *t)
{
	struct cpuid_regs r;

	vmtest_setup_long(t, BASE);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	r.eax = (uint32_t)vmtest_gpr(t, NVMM_X64_GPR_RAX);
	r.ebx = (uint32_t)vmtest_gpr(t, NVMM_X64_GPR_RBX);
	r.ecx = (uint32_t)vmtest_gpr(t, NVMM_X64_GPR_RCX);
	r.edx = (uint32_t)vmtest_gpr(t, NVMM_X64_GPR_RDX);
	return r;
}

static void
cpuid_expect(const char *ctx, struct cpuid_regs got, struct cpuid_regs want)
{
	if (got.eax != want.eax || got.ebx != want.ebx ||
	    got.ecx != want.ecx || got.edx != want.edx)
		fail_msg("%s: CPUID 0x%x = %08x %08x %08x %08x, want %08x "
		    "%08x %08x %08x", ctx, CPUID_HV, got.eax, got.ebx,
		    got.ecx, got.edx, want.eax, want.ebx, want.ecx, want.edx);
}

/* "___ NVMM ___" in EBX, ECX, EDX; EAX the highest hypervisor leaf. */
static const struct cpuid_regs cpuid_hv_default = {
	CPUID_HV, 0x205F5F5F, 0x4D4D564E, 0x5F5F5F20,
};
/* The conf of the effect tests, and what the guest must then see. */
static const struct cpuid_regs cpuid_hv_set = { 0x5, 0, 0, 0x1 };
static const struct cpuid_regs cpuid_hv_del = { CPUID_HV, 0x20000000, 0,
    0 };
static const struct cpuid_regs cpuid_hv_masked = {
	0x5, 0x005F5F5F, 0x4D4D564E, 0x5F5F5F21,
};

/* The guest sees NVMM's hypervisor leaf, then the conf's changes to it. */
static void
test_cpuid_conf_effect(void **state)
{
	struct env *e = *state;

	env_start(e, VMTEST_GUEST(vcpu_cpuid));
	cpuid_expect("default", cpuid_run(&e->t), cpuid_hv_default);

	env_start(e, VMTEST_GUEST(vcpu_cpuid));
	EXPECT_OK(conf_cpuid(&e->t, cpuid_conf(CPUID_HV, true, false,
	    cpuid_hv_set, cpuid_hv_del)));
	cpuid_expect("masked", cpuid_run(&e->t), cpuid_hv_masked);
}

/*
 * After the first run KVM refuses a CPUID table that differs (libvmm(3),
 * COMPATIBILITY): such a conf fails with EINVAL and changes nothing,
 * while one that leaves the table as it is (deleting a leaf that has no
 * conf) still succeeds.  NVMM itself takes confs at any time.
 */
static void
test_cpuid_conf_after_run(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;

	env_start(e, VMTEST_GUEST(vcpu_cpuid));
	cpuid_expect("default", cpuid_run(t), cpuid_hv_default);
	EXPECT_ERRNO(conf_cpuid(t, cpuid_conf(CPUID_HV, true, false,
	    cpuid_hv_set, cpuid_hv_del)), EINVAL);
	cpuid_expect("after a refused conf", cpuid_run(t), cpuid_hv_default);
	EXPECT_OK(conf_cpuid(t, cpuid_conf(CPUID_HV, false, false,
	    cpuid_hv_set, cpuid_hv_del)));
	cpuid_expect("after a conf that changes nothing", cpuid_run(t),
	    cpuid_hv_default);
}

/*
 * A vcpu re-created after a CPUID conf and a run would start without the
 * conf on NetBSD.  KVM keeps the vcpu and freezes its CPUID table at the
 * first run, so libvmm refuses the re-creation with EINVAL rather than hand
 * back a vcpu with the old table (libvmm(3), COMPATIBILITY); the id stays
 * free, and a vcpu that ran without a conf is re-created normally
 * (test_vcpu_recreate_run).
 */
static void
test_cpuid_conf_recreate(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;

	env_start(e, VMTEST_GUEST(vcpu_cpuid));
	EXPECT_OK(conf_cpuid(t, cpuid_conf(CPUID_HV, true, false,
	    cpuid_hv_set, cpuid_hv_del)));
	cpuid_expect("masked", cpuid_run(t), cpuid_hv_masked);
	EXPECT_OK(nvmm_vcpu_destroy(&t->mach, &t->vcpu));
	t->vcpu_ok = false;
	EXPECT_ERRNO(nvmm_vcpu_create(&t->mach, 0, &t->vcpu), EINVAL);
	EXPECT_ERRNO(nvmm_vcpu_create(&t->mach, 0, &t->vcpu), EINVAL);
}

/*
 * Bare KVM: does this host report a CR8 write that lowers the TPR
 * (KVM_EXIT_SET_TPR, no in-kernel LAPIC)?  A host that emulates CPL0
 * code (as paravirtual nested KVM may) handles CR8 inside its emulator
 * and never does; the TPR test then has nothing to observe.  Runs
 * vcpu_tpr.S in 64-bit mode.  Returns 1 or 0, or -1 if the probe itself
 * failed.
 */
#define PROBE_RAM	0x10000UL
#define PROBE_PML4	0x2000UL	/* PML4, PDPT, PD: 2 MiB page at 0 */

static void
probe_seg(struct kvm_segment *seg, uint16_t sel, uint8_t type, bool code)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = sel;
	seg->type = type;
	seg->present = 1;
	seg->s = 1;
	seg->l = code;
	seg->db = !code;
	seg->g = 1;
	seg->limit = 0xFFFFFFFF;
}

/* Put a fresh KVM vcpu in 64-bit mode at BASE.  0 or -1. */
static int
probe_long_mode(int kvm, int cpu)
{
	static struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 e[256];
	} cpuid;
	struct kvm_sregs sr;
	struct kvm_regs regs;

	cpuid.hdr.nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) == -1 ||
	    ioctl(cpu, KVM_SET_CPUID2, &cpuid) == -1 ||
	    ioctl(cpu, KVM_GET_SREGS, &sr) == -1)
		return -1;
	probe_seg(&sr.cs, VMTEST_SEL_CODE64, 0xB, true);
	probe_seg(&sr.ds, VMTEST_SEL_DATA, 0x3, false);
	sr.es = sr.ss = sr.fs = sr.gs = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.type = 0xB;
	sr.tr.present = 1;
	sr.tr.limit = 0x67;
	sr.cr0 = 0x80000031;		/* PG, NE, ET, PE */
	sr.cr3 = PROBE_PML4;
	sr.cr4 = 0x20;			/* PAE */
	sr.efer = 0x500;		/* LMA, LME */
	memset(&regs, 0, sizeof(regs));
	regs.rip = BASE;
	regs.rflags = 2;
	if (ioctl(cpu, KVM_SET_SREGS, &sr) == -1 ||
	    ioctl(cpu, KVM_SET_REGS, &regs) == -1)
		return -1;
	return 0;
}

static int
probe_tpr_exit(void)
{
	struct kvm_userspace_memory_region r;
	struct kvm_run *run = MAP_FAILED;
	uint8_t *ram = MAP_FAILED;
	uint64_t *pt;
	int kvm, vm = -1, cpu = -1, result = -1, i, size = 0;

	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	ram = mmap(NULL, PROBE_RAM, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || (vm = ioctl(kvm, KVM_CREATE_VM, 0)) == -1)
		goto out;
	memcpy(ram + BASE, guest_vcpu_tpr,
	    (size_t)(guest_vcpu_tpr_end - guest_vcpu_tpr));
	pt = (uint64_t *)(void *)(ram + PROBE_PML4);
	pt[0] = (PROBE_PML4 + 0x1000) | 0x23;	/* P, W, A */
	pt[512] = (PROBE_PML4 + 0x2000) | 0x23;
	pt[1024] = 0xE3;			/* P, W, A, D, PS */
	memset(&r, 0, sizeof(r));
	r.memory_size = PROBE_RAM;
	r.userspace_addr = (uintptr_t)ram;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) == -1 ||
	    (cpu = ioctl(vm, KVM_CREATE_VCPU, 0)) == -1 ||
	    (size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0 ||
	    probe_long_mode(kvm, cpu) == -1)
		goto out;
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    cpu, 0);
	for (i = 0; run != MAP_FAILED && i < 10; i++) {
		if (ioctl(cpu, KVM_RUN, 0) == -1 && errno != EINTR)
			break;
		if (run->exit_reason == KVM_EXIT_SET_TPR ||
		    run->exit_reason == KVM_EXIT_HLT) {
			result = run->exit_reason == KVM_EXIT_SET_TPR;
			break;
		}
	}
out:
	if (run != MAP_FAILED)
		munmap(run, (size_t)size);
	if (cpu != -1)
		close(cpu);
	if (vm != -1)
		close(vm);
	if (ram != MAP_FAILED)
		munmap(ram, PROBE_RAM);
	close(kvm);
	return result;
}

/*
 * With NVMM_VCPU_CONF_TPR exit_changed, a guest write that lowers CR8
 * exits TPR_CHANGED with RIP past the MOV and the new value in
 * exitstate.cr8 and crs[CR8] (NVMM also exits on a raise; KVM cannot,
 * libvmm(3) COMPATIBILITY).  Without the conf the guest runs to its HLT.
 * vcpu_tpr.S raises the TPR to 5, then lowers it to 2 with a MOV ending
 * at BASE + 18.
 */
#define TPR_LOWER_NPC	(BASE + 18)

/* Run to the HLT; returns how many TPR_CHANGED exits came on the way. */
static unsigned int
tpr_run(struct vmtest *t)
{
	struct nvmm_x64_state *st = t->vcpu.state;
	unsigned int n = 0;
	uint64_t reason;
	int i;

	for (i = 0; i < 100; i++) {
		EXPECT_OK(nvmm_vcpu_run(&t->mach, &t->vcpu));
		reason = t->vcpu.exit->reason;
		if (reason == NVMM_VCPU_EXIT_HALTED)
			return n;
		if (reason == NVMM_VCPU_EXIT_NONE)
			continue;
		if (reason != NVMM_VCPU_EXIT_TPR_CHANGED)
			fail_msg("exit %s", vmtest_exit_name(reason));
		n++;
		EXPECT_OK(nvmm_vcpu_getstate(&t->mach, &t->vcpu,
		    NVMM_X64_STATE_GPRS | NVMM_X64_STATE_CRS));
		if (st->gprs[NVMM_X64_GPR_RIP] != TPR_LOWER_NPC ||
		    st->crs[NVMM_X64_CR_CR8] != 2 ||
		    t->vcpu.exit->exitstate.cr8 != 2)
			fail_msg("TPR_CHANGED at RIP 0x%llx, CR8 %llu, "
			    "exitstate.cr8 %llu; want RIP 0x%lx, 2, 2",
			    (unsigned long long)st->gprs[NVMM_X64_GPR_RIP],
			    (unsigned long long)st->crs[NVMM_X64_CR_CR8],
			    (unsigned long long)t->vcpu.exit->exitstate.cr8,
			    TPR_LOWER_NPC);
	}
	fail_msg("no HLT after 100 runs");
	return n;
}

static void
test_tpr_conf_effect(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_vcpu_conf_tpr tpr;

	env_start(e, VMTEST_GUEST(vcpu_tpr));
	vmtest_setup_long(t, BASE);
	assert_int_equal(tpr_run(t), 0);
	EXPECT_OK(nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_CRS));
	assert_int_equal(t->vcpu.state->crs[NVMM_X64_CR_CR8], 2);

	if (probe_tpr_exit() == 0) {
		print_message("skipped: this host's KVM never reports a "
		    "lowered CR8 (KVM_EXIT_SET_TPR)\n");
		skip();
	}
	env_start(e, VMTEST_GUEST(vcpu_tpr));
	memset(&tpr, 0, sizeof(tpr));
	tpr.exit_changed = 1;
	EXPECT_OK(nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_TPR,
	    &tpr));
	vmtest_setup_long(t, BASE);
	assert_int_equal(tpr_run(t), 1);
}

/* -------------------------------------------------------------------------- */
/* Control. */

static void
mach_info(struct nvmm_machine *m, struct nvmm_ctl_mach_info *info)
{
	memset(info, 0, sizeof(*info));
	info->machid = m->machid;
	if (nvmm_ctl(NVMM_CTL_MACH_INFO, info, sizeof(*info)) == -1)
		fail_msg("NVMM_CTL_MACH_INFO: %s", strerror(errno));
}

static void
test_ctl_mach_info(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_ctl_mach_info info;
	struct nvmm_vcpu v;
	time_t before, after;
	uint8_t *buf;

	vmtest_require_kvm();
	before = time(NULL);
	env_start(e, NULL, 0);
	after = time(NULL);
	mach_info(&t->mach, &info);
	assert_int_equal(info.machid, t->mach.machid);
	assert_int_equal(info.nvcpus, 1);
	assert_int_equal(info.nram, RAM_SIZE);
	assert_int_equal(info.pid, getpid());
	assert_true(info.time >= before - 1 && info.time <= after + 1);

	buf = env_map(e, 64 * K, PROT_READ | PROT_WRITE);
	EXPECT_OK(nvmm_hva_map(&t->mach, (uintptr_t)buf, 64 * K));
	EXPECT_OK(nvmm_vcpu_create(&t->mach, 1, &v));
	mach_info(&t->mach, &info);
	assert_int_equal(info.nvcpus, 2);
	assert_int_equal(info.nram, RAM_SIZE + 64 * K);
	EXPECT_OK(nvmm_vcpu_destroy(&t->mach, &v));
	EXPECT_OK(nvmm_hva_unmap(&t->mach, (uintptr_t)buf, 64 * K));
	mach_info(&t->mach, &info);
	assert_int_equal(info.nvcpus, 1);
	assert_int_equal(info.nram, RAM_SIZE);
}

static void
test_ctl_errors(void **state)
{
	static const struct {
		const char *what;
		int op;
		size_t size;
		nvmm_machid_t machid;
		int error;
	} cases[] = {
		{ "size - 1", NVMM_CTL_MACH_INFO,
		    sizeof(struct nvmm_ctl_mach_info) - 1, 0, EINVAL },
		{ "size + 1", NVMM_CTL_MACH_INFO,
		    sizeof(struct nvmm_ctl_mach_info) + 1, 0, EINVAL },
		{ "size 0", NVMM_CTL_MACH_INFO, 0, 0, EINVAL },
		{ "op 1", 1, sizeof(struct nvmm_ctl_mach_info), 0, EINVAL },
		{ "op -1", -1, sizeof(struct nvmm_ctl_mach_info), 0, EINVAL },
		{ "machid never used", NVMM_CTL_MACH_INFO,
		    sizeof(struct nvmm_ctl_mach_info), UNUSED_MACHID, ENOENT },
		{ "machid out of range", NVMM_CTL_MACH_INFO,
		    sizeof(struct nvmm_ctl_mach_info), BOGUS_MACHID, ENOENT },
	};
	struct nvmm_ctl_mach_info info[2];
	struct nvmm_machine m;
	struct env *e = *state;
	char what[64];
	size_t i;

	env_start(e, NULL, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(info, 0, sizeof(info));
		info[0].machid = cases[i].machid != 0 ? cases[i].machid :
		    e->t.mach.machid;
		snprintf(what, sizeof(what), "nvmm_ctl: %s", cases[i].what);
		errno = 0;
		expect_rv(what, nvmm_ctl(cases[i].op, info, cases[i].size),
		    cases[i].error);
	}

	EXPECT_OK(nvmm_machine_create(&m));
	memset(info, 0, sizeof(info));
	info[0].machid = m.machid;
	EXPECT_OK(nvmm_machine_destroy(&m));
	EXPECT_ERRNO(nvmm_ctl(NVMM_CTL_MACH_INFO, info, sizeof(info[0])),
	    ENOENT);
}

/* -------------------------------------------------------------------------- */
/* fork and exec. */

/*
 * In the forked child: every call on the parent's machine is EPERM, and
 * the child can make and run a machine of its own.  Returns NULL or what
 * failed (in buf).  No cmocka here.
 */
static const char *
child_checks(struct vmtest *t, char *buf, size_t len)
{
	struct nvmm_ctl_mach_info info;
	struct nvmm_machine m;
	struct nvmm_vcpu v;
	const char *why;
	uint8_t *page;

	if (nvmm_init() != 0)
		return "nvmm_init in the child";
	memset(&info, 0, sizeof(info));
	info.machid = t->mach.machid;
	errno = 0;
	if (nvmm_ctl(NVMM_CTL_MACH_INFO, &info, sizeof(info)) != -1 ||
	    errno != EPERM)
		return "NVMM_CTL_MACH_INFO on the parent's machine: not EPERM";
	if ((why = api_ops_expect(&t->mach, &t->vcpu, false, EPERM, buf,
	    len)) != NULL)
		return why;

	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return "mmap";
	page[0xFF0] = 0xF4;	/* hlt at the reset vector */
	if (nvmm_machine_create(&m) != 0 || nvmm_vcpu_create(&m, 0, &v) != 0 ||
	    nvmm_hva_map(&m, (uintptr_t)page, PAGE) != 0 ||
	    nvmm_gpa_map(&m, (uintptr_t)page, 0xFFFFF000, PAGE,
	    PROT_READ | PROT_EXEC) != 0)
		return "creating the child's own machine";
	do {
		if (nvmm_vcpu_run(&m, &v) != 0)
			return "running the child's own machine";
	} while (v.exit->reason == NVMM_VCPU_EXIT_NONE);
	if (v.exit->reason != NVMM_VCPU_EXIT_HALTED)
		return "the child's own machine did not halt";
	if (nvmm_vcpu_getstate(&m, &v, NVMM_X64_STATE_GPRS) != 0 ||
	    v.state->gprs[NVMM_X64_GPR_RIP] != 0xFFF1)
		return "the child's own machine halted at the wrong RIP";
	if (nvmm_machine_destroy(&m) != 0)
		return "destroying the child's own machine";
	return NULL;
}

static void
test_fork(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_ctl_mach_info info;
	char buf[256], msg[256];
	const char *why;
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	env_start(e, VMTEST_GUEST(vcpu_hlt));
	vmtest_setup_long(t, BASE);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	if (pipe(pfd) == -1)
		fail_msg("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		why = child_checks(t, buf, sizeof(buf));
		if (why != NULL)
			(void)write(pfd[1], why, strlen(why));
		_exit(why != NULL);
	}
	close(pfd[1]);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	msg[n > 0 ? n : 0] = '\0';
	if (waitpid(pid, &status, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status))
		fail_msg("the child died (status 0x%x)", status);
	if (WEXITSTATUS(status) != 0)
		fail_msg("child: %s", msg);

	/* The parent's machine is intact. */
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RAX), 2);
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RIP),
	    vmtest_gpr(t, NVMM_X64_GPR_RCX));
	mach_info(&t->mach, &info);
	assert_int_equal(info.pid, getpid());
	assert_int_equal(info.nvcpus, 1);
}

struct cloexec_count {
	int dev, gate, vm, vcpu;
	char bad[128];
};

static void
cloexec_check(int fd, const char *target, void *arg)
{
	struct cloexec_count *c = arg;
	int flags;

	flags = fcntl(fd, F_GETFD);
	if ((flags == -1 || !(flags & FD_CLOEXEC)) && c->bad[0] == '\0')
		snprintf(c->bad, sizeof(c->bad), "fd %d (%s)", fd, target);
	if (strcmp(target, "/dev/kvm") == 0)
		c->dev++;
	else if (strcmp(target, "/dev/nvmm") == 0)
		c->gate++;
	else if (strcmp(target, "anon_inode:kvm-vm") == 0)
		c->vm++;
	else
		c->vcpu++;
}

/* Every KVM descriptor of the library (device, VMs, vcpus) is CLOEXEC. */
static void
test_cloexec(void **state)
{
	struct env *e = *state;
	struct cloexec_count c;

	env_start(e, NULL, 0);
	EXPECT_OK(nvmm_machine_create(&e->m2));
	e->m2_ok = true;
	EXPECT_OK(nvmm_vcpu_create(&e->m2, 2, &e->m2_vcpu));
	e->m2_vcpu_ok = true;
	memset(&c, 0, sizeof(c));
	if (kvm_fds(cloexec_check, &c) == -1)
		skip();
	if (c.bad[0] != '\0')
		fail_msg("not close-on-exec: %s", c.bad);
	assert_true(c.dev + c.gate >= 1);
	/* Through nvmm.ko the VMs stay inside the module (nvmm(4)). */
	if (c.gate == 1)
		assert_int_equal(c.vm, 0);
	else
		assert_true(c.vm >= 2);
	assert_true(c.vcpu >= 2);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, env_setup, env_teardown)
		T(test_init),
		T(test_before_init),
		T(test_capability),
		T(test_machine_configure),
		T(test_vcpu_create),
		T(test_vcpu_recreate_run),
		T(test_dead_machine),
		T(test_bad_vcpu),
		T(test_hva_errors),
		T(test_hva_full),
		T(test_gpa_errors),
		T(test_assist_wrong_exit),
		T(test_cpuid_conf_errors),
		T(test_cpuid_conf_full),
		T(test_vcpu_conf_ops),
		T(test_cpuid_conf_effect),
		T(test_cpuid_conf_after_run),
		T(test_cpuid_conf_recreate),
		T(test_tpr_conf_effect),
		T(test_ctl_mach_info),
		T(test_ctl_errors),
		T(test_fork),
		T(test_cloexec),
#undef T
	};

	prog_path = argv[0];
	if (argc == 2 && strcmp(argv[1], PREINIT_ARG) == 0)
		return preinit_child();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
