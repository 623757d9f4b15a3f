/*
 * test_vcpu.c: NVMM vcpu semantics of libvmm on KVM: exits (HALTED,
 * SHUTDOWN, RDMSR/WRMSR), events (exceptions, interrupt windows, invalid
 * events), nvmm_vcpu_stop from threads and signal handlers, several vcpus
 * on threads, one host page at two GPAs, and the state round trip,
 * including the reset state of a new vcpu.  Every test needs /dev/kvm.
 */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nvmm.h"
#include "vmtest.h"

VMTEST_DECLARE_GUEST(vcpu_hlt);
VMTEST_DECLARE_GUEST(vcpu_fault);
VMTEST_DECLARE_GUEST(vcpu_msr);
VMTEST_DECLARE_GUEST(vcpu_events);
VMTEST_DECLARE_GUEST(vcpu_state);
VMTEST_DECLARE_GUEST(vcpu_spin);
VMTEST_DECLARE_GUEST(vcpu_multi);
VMTEST_DECLARE_GUEST(vcpu_alias);

#define RAM_SIZE	0x200000UL
#define PAGE		4096UL
#define BASE		VMTEST_GUEST_BASE

/* Guest layout beyond the harness's (see vmtest.h). */
#define IDT_BASE	0x4000UL	/* 256 16-byte gates */
#define IDT_LIMIT	0xFFFUL
#define FS_DATA		0x5000UL	/* FS base of the state test */
#define SPIN_COUNTER	0x6000UL	/* lap counter of vcpu_spin */
#define HANDLERS	(BASE + 8)	/* {vector, handler} table (guests) */
#define HANDLERS_END	0xFFFFFFFFFFFFFFFFULL

/* The user segments the CPL3 tests add to the harness's GDT. */
#define SEL_UCODE64	0x23		/* GDT index 4, RPL 3 */
#define SEL_UDATA	0x2B		/* GDT index 5, RPL 3 */
#define GDT_USER_LIMIT	0x2F

#define PTE_U		0x004ULL
#define RFLAGS_FIXED	0x002ULL
#define RFLAGS_IF	0x200ULL

#define CR0_PE		0x00000001ULL
#define CR0_ET		0x00000010ULL
#define CR0_NE		0x00000020ULL
#define CR0_PG		0x80000000ULL
#define CR4_PAE		0x00000020ULL
#define CR4_OSFXSR	0x00000200ULL
#define CR4_OSXMMEXCPT	0x00000400ULL
#define EFER_SCE	0x00000001ULL
#define EFER_LME	0x00000100ULL
#define EFER_LMA	0x00000400ULL
#define EFER_NXE	0x00000800ULL

#define MSR_UNKNOWN	0xFFFFFFFFU
#define NVCPUS		4		/* vcpus of the threaded test */
#define WATCHDOG_SECS	60

/* Per-test resources, released by env_teardown whatever happened. */
struct env {
	struct vmtest t;
	struct nvmm_vcpu more[NVCPUS];	/* vcpus 1.. made by the test */
	bool more_ok[NVCPUS];
	void *page;			/* extra host memory */
	size_t page_size;
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
	unsigned int i;

	for (i = 0; i < NVCPUS; i++) {
		if (e->more_ok[i])
			(void)nvmm_vcpu_destroy(&e->t.mach, &e->more[i]);
		e->more_ok[i] = false;
	}
	vmtest_fini(&e->t);
	if (e->page != NULL)
		(void)munmap(e->page, e->page_size);
	e->page = NULL;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	env_release(e);
	free(e);
	return 0;
}

/* Create the machine (after checking for KVM) and load a guest. */
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

/* Extra host memory for the test, zeroed, released at teardown. */
static uint8_t *
env_page(struct env *e, size_t size)
{
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail_msg("mmap: %s", strerror(errno));
	e->page = p;
	e->page_size = size;
	return p;
}

static struct nvmm_x64_state *
get(struct vmtest *t, uint64_t flags)
{
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, flags) == -1)
		fail_msg("nvmm_vcpu_getstate(0x%llx): %s",
		    (unsigned long long)flags, strerror(errno));
	return t->vcpu.state;
}

static void
set(struct vmtest *t, uint64_t flags)
{
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, flags) == -1)
		fail_msg("nvmm_vcpu_setstate(0x%llx): %s",
		    (unsigned long long)flags, strerror(errno));
}

static uint64_t
ram64(struct vmtest *t, gpaddr_t gpa)
{
	uint64_t v;

	assert_true(gpa + sizeof(v) <= t->ram_size);
	memcpy(&v, t->ram + gpa, sizeof(v));
	return v;
}

static void
ram64_put(struct vmtest *t, gpaddr_t gpa, uint64_t v)
{
	vmtest_load(t, gpa, &v, sizeof(v));
}

#define ASSERT_GPR(t, idx, want) do {					\
	uint64_t got_ = vmtest_gpr((t), NVMM_X64_GPR_##idx);		\
	if (got_ != (uint64_t)(want))					\
		fail_msg("%s = 0x%llx, want 0x%llx", #idx,		\
		    (unsigned long long)got_,				\
		    (unsigned long long)(want));			\
} while (0)

/* What every exit that is not about events must report in exitstate. */
static void
check_exitstate(struct vmtest *t, bool window)
{
	const struct nvmm_vcpu_exit *exit = t->vcpu.exit;
	uint64_t rflags;

	rflags = get(t, NVMM_X64_STATE_GPRS)->gprs[NVMM_X64_GPR_RFLAGS];
	if (exit->exitstate.rflags != rflags)
		fail_msg("exitstate.rflags 0x%llx, guest RFLAGS 0x%llx",
		    (unsigned long long)exit->exitstate.rflags,
		    (unsigned long long)rflags);
	assert_int_equal(exit->exitstate.int_window_exiting, window);
	assert_int_equal(exit->exitstate.nmi_window_exiting, 0);
	assert_int_equal(exit->exitstate.evt_pending, 0);
}

/* A 64-bit interrupt gate to handler in CS VMTEST_SEL_CODE64 (SDM 6.14.1). */
static void
idt_gate(struct vmtest *t, unsigned int vector, uint64_t handler)
{
	uint64_t lo, hi;

	lo = (handler & 0xFFFF) | ((uint64_t)VMTEST_SEL_CODE64 << 16) |
	    (0x8EULL << 40) | (((handler >> 16) & 0xFFFF) << 48);
	hi = handler >> 32;
	ram64_put(t, IDT_BASE + vector * 16, lo);
	ram64_put(t, IDT_BASE + vector * 16 + 8, hi);
}

/*
 * Build the IDT from the guest's {vector, handler} table at HANDLERS and
 * point IDTR at it.  Call after vmtest_setup_long.
 */
static void
idt_install(struct vmtest *t)
{
	struct nvmm_x64_state *st;
	gpaddr_t p;

	memset(t->ram + IDT_BASE, 0, IDT_LIMIT + 1);
	for (p = HANDLERS; ram64(t, p) != HANDLERS_END; p += 16) {
		assert_true(ram64(t, p) < 256);
		idt_gate(t, (unsigned int)ram64(t, p), ram64(t, p + 8));
	}
	st = get(t, NVMM_X64_STATE_SEGS);
	st->segs[NVMM_X64_SEG_IDT].base = IDT_BASE;
	st->segs[NVMM_X64_SEG_IDT].limit = IDT_LIMIT;
	set(t, NVMM_X64_STATE_SEGS);
}

static void
inject(struct vmtest *t, unsigned int type, uint8_t vector, uint64_t error)
{
	t->vcpu.event->type = type;
	t->vcpu.event->vector = vector;
	t->vcpu.event->u.excp.error = error;
	if (nvmm_vcpu_inject(&t->mach, &t->vcpu) == -1)
		fail_msg("nvmm_vcpu_inject: %s", strerror(errno));
}

/*
 * Create a thread with every signal blocked, so that process-directed
 * signals (SIGALRM) go to the thread that runs the vcpu.
 */
static void
thread_start(pthread_t *thr, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int error;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	error = pthread_create(thr, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0)
		fail_msg("pthread_create: %s", strerror(error));
}

/*
 * A watchdog for tests that could spin forever if nvmm_vcpu_stop failed:
 * after WATCHDOG_SECS it reports and ends the process.
 */
struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool done;
	const char *what;
	pthread_t thr;
};

static void *
watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WATCHDOG_SECS;
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		if (pthread_cond_timedwait(&w->cv, &w->lock, &ts) ==
		    ETIMEDOUT && !w->done) {
			fprintf(stderr, "watchdog: %s still running after "
			    "%d s\n", w->what, WATCHDOG_SECS);
			_exit(1);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void
watchdog_start(struct watchdog *w, const char *what)
{
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = false;
	w->what = what;
	thread_start(&w->thr, watchdog_main, w);
}

static void
watchdog_stop(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thr, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->lock);
}

static const uint64_t user_gdt[] = {
	0x00affb000000ffffULL,		/* SEL_UCODE64: L, P, DPL3, XRA */
	0x00cff3000000ffffULL,		/* SEL_UDATA: G, D, P, DPL3, RWA */
};

static void
user_seg(struct nvmm_x64_state_seg *seg, uint16_t sel, int type)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = sel;
	seg->attrib.type = type;
	seg->attrib.s = 1;
	seg->attrib.dpl = 3;
	seg->attrib.p = 1;
	seg->attrib.g = 1;
	seg->limit = 0xFFFFFFFF;
}

/*
 * Put the vcpu in 64-bit mode at CPL3 at rip: the harness's setup, user
 * access on the walk to the first 2 MiB, and user segments (also added to
 * the GDT, although nothing reloads them).
 */
static void
setup_user(struct vmtest *t, uint64_t rip)
{
	static const int data[] = { NVMM_X64_SEG_ES, NVMM_X64_SEG_SS,
	    NVMM_X64_SEG_DS, NVMM_X64_SEG_FS, NVMM_X64_SEG_GS };
	struct nvmm_x64_state *st;
	size_t i;

	vmtest_setup_long(t, rip);
	for (i = 0; i < 3; i++)
		ram64_put(t, VMTEST_PT + i * 0x1000,
		    ram64(t, VMTEST_PT + i * 0x1000) | PTE_U);
	vmtest_load(t, VMTEST_GDT + 0x20, user_gdt, sizeof(user_gdt));

	st = get(t, NVMM_X64_STATE_SEGS);
	user_seg(&st->segs[NVMM_X64_SEG_CS], SEL_UCODE64, 0xB);
	st->segs[NVMM_X64_SEG_CS].attrib.l = 1;
	for (i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		user_seg(&st->segs[data[i]], SEL_UDATA, 0x3);
		st->segs[data[i]].attrib.def = 1;
	}
	st->segs[NVMM_X64_SEG_GDT].limit = GDT_USER_LIMIT;
	set(t, NVMM_X64_STATE_SEGS);
}

/* -------------------------------------------------------------------------- */
/* Exits. */

/* HALTED leaves RIP past the HLT; running again goes on from there. */
static void
test_halted(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;

	env_start(e, VMTEST_GUEST(vcpu_hlt));
	vmtest_setup_long(t, BASE);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, RAX, 1);
	ASSERT_GPR(t, RIP, vmtest_gpr(t, NVMM_X64_GPR_RBX));
	check_exitstate(t, false);

	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, RAX, 2);
	ASSERT_GPR(t, RIP, vmtest_gpr(t, NVMM_X64_GPR_RCX));
	check_exitstate(t, false);
}

/*
 * With the harness's IDT limit of 0 every exception is a triple fault.
 * INT3 runs at CPL3: this host emulates CPL0 code with KVM's instruction
 * emulator, which cannot deliver a software interrupt in protected mode
 * (the run ends with an emulation failure, exit INVALID, KVM's own).
 */
static const struct fault_case {
	const char *what;
	uint64_t offset;	/* in vcpu_fault.S */
	bool user;		/* run at CPL3 */
} fault_cases[] = {
	{ "ud2", 0x00, false },
	{ "ud2 at CPL3", 0x00, true },
	{ "int3 at CPL3", 0x10, true },
	{ "non-canonical load (#GP)", 0x20, false },
	{ "unmapped load (#PF)", 0x30, false },
	{ "unmapped load (#PF) at CPL3", 0x30, true },
};

static void
test_shutdown(void **state)
{
	struct env *e = *state;
	const struct fault_case *c;
	size_t i;

	for (i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++) {
		c = &fault_cases[i];
		print_message("shutdown: %s\n", c->what);
		env_start(e, VMTEST_GUEST(vcpu_fault));
		if (c->user)
			setup_user(&e->t, BASE + c->offset);
		else
			vmtest_setup_long(&e->t, BASE + c->offset);
		vmtest_run(&e->t, NVMM_VCPU_EXIT_SHUTDOWN);
	}
}

/*
 * RDMSR/WRMSR of an MSR KVM does not know: the program completes the
 * instruction (RDX:RAX and RIP = npc) or injects #GP(0).
 */
static const struct msr_case {
	const char *what;
	uint64_t entry;		/* offset in vcpu_msr.S */
	bool write;
	bool gp;
} msr_cases[] = {
	{ "rdmsr, completed", 0x00, false, false },
	{ "rdmsr, #GP injected", 0x00, false, true },
	{ "wrmsr, completed", 0x40, true, false },
	{ "wrmsr, #GP injected", 0x40, true, true },
};

/* Check the MSR exit; returns the RIP of the instruction. */
static uint64_t
msr_exit_check(struct vmtest *t, const struct msr_case *c)
{
	const struct nvmm_vcpu_exit *exit = t->vcpu.exit;
	uint64_t rip, npc;

	rip = vmtest_gpr(t, NVMM_X64_GPR_RIP);
	assert_true(rip >= BASE && rip + 2 <= t->ram_size);
	assert_int_equal(t->ram[rip], 0x0F);
	assert_int_equal(t->ram[rip + 1], c->write ? 0x30 : 0x32);
	if (c->write) {
		assert_int_equal(exit->u.wrmsr.msr, MSR_UNKNOWN);
		assert_int_equal(exit->u.wrmsr.val, 0xAABBCCDD11223344ULL);
		npc = exit->u.wrmsr.npc;
	} else {
		assert_int_equal(exit->u.rdmsr.msr, MSR_UNKNOWN);
		npc = exit->u.rdmsr.npc;
	}
	assert_int_equal(npc, rip + 2);
	return rip;
}

static void
msr_complete(struct vmtest *t, const struct msr_case *c, uint64_t rip)
{
	struct nvmm_x64_state *st;

	st = get(t, NVMM_X64_STATE_GPRS);
	if (!c->write) {
		st->gprs[NVMM_X64_GPR_RAX] = 0xCAFEF00D;
		st->gprs[NVMM_X64_GPR_RDX] = 0x55667788;
	}
	st->gprs[NVMM_X64_GPR_RIP] = rip + 2;
	set(t, NVMM_X64_STATE_GPRS);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, R8, c->write ? 1 : 0x55667788CAFEF00DULL);
	ASSERT_GPR(t, R9, 0);
}

static void
msr_inject_gp(struct vmtest *t, uint64_t rip)
{
	inject(t, NVMM_VCPU_EVENT_EXCP, 13, 0);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, R9, 13);
	ASSERT_GPR(t, R12, 0);		/* the error code */
	ASSERT_GPR(t, R13, rip);	/* the faulting instruction */
	ASSERT_GPR(t, R8, 0);		/* never got past it */
}

static void
test_msr(void **state)
{
	struct env *e = *state;
	const struct msr_case *c;
	uint64_t rip;
	size_t i;

	for (i = 0; i < sizeof(msr_cases) / sizeof(msr_cases[0]); i++) {
		c = &msr_cases[i];
		print_message("msr: %s\n", c->what);
		env_start(e, VMTEST_GUEST(vcpu_msr));
		vmtest_setup_long(&e->t, BASE + c->entry);
		idt_install(&e->t);
		vmtest_run(&e->t, c->write ? NVMM_VCPU_EXIT_WRMSR :
		    NVMM_VCPU_EXIT_RDMSR);
		rip = msr_exit_check(&e->t, c);
		if (c->gp)
			msr_inject_gp(&e->t, rip);
		else
			msr_complete(&e->t, c, rip);
	}
}

/* -------------------------------------------------------------------------- */
/* Events. */

/*
 * Exceptions injected at the first instruction of vcpu_events.S, some in
 * an interrupt shadow (as if a MOV SS had just run): an exception is
 * delivered through it, and the handler's IRET would return without it.
 */
static const struct excp_case {
	uint8_t vector;
	bool has_error;		/* NVMM pushes one for 8, 10-14, 17 */
	uint32_t error;
	bool shadow;
} excp_cases[] = {
	{ 13, true, 0x1234, false },
	{ 6, false, 0, false },
	{ 4, false, 0, false },
	{ 5, false, 0, false },
	{ 7, false, 0, false },
	{ 8, true, 0, false },
	{ 10, true, 0x18, false },
	{ 11, true, 0x20, false },
	{ 12, true, 0x10, false },
	{ 14, true, 0x2, false },
	{ 16, false, 0, false },
	{ 17, true, 0, false },
	{ 19, false, 0, false },
	{ 4, false, 0, true },
	{ 6, false, 0, true },
	{ 13, true, 0x5678, true },
};

/*
 * The frame a 64-bit interrupt gate at the same CPL pushes (SDM 6.14.2):
 * [error,] RIP, CS, RFLAGS, RSP, SS, from the 16-byte aligned RSP down.
 * RF (bit 16) of the pushed RFLAGS is not checked.
 */
static void
frame_check(struct vmtest *t, bool has_error, uint32_t error, uint64_t rip,
    uint64_t rflags)
{
	gpaddr_t sp;

	sp = VMTEST_LONG_RSP - (has_error ? 48 : 40);
	ASSERT_GPR(t, R10, sp);
	if (has_error) {
		assert_int_equal(ram64(t, sp), error);
		sp += 8;
	}
	assert_int_equal(ram64(t, sp), rip);
	assert_int_equal(ram64(t, sp + 8), VMTEST_SEL_CODE64);
	assert_int_equal(ram64(t, sp + 16) & ~0x10000ULL, rflags);
	assert_int_equal(ram64(t, sp + 24), VMTEST_LONG_RSP);
	assert_int_equal(ram64(t, sp + 32), VMTEST_SEL_DATA);
}

static void
test_exceptions(void **state)
{
	struct env *e = *state;
	const struct excp_case *c;
	size_t i;

	for (i = 0; i < sizeof(excp_cases) / sizeof(excp_cases[0]); i++) {
		c = &excp_cases[i];
		print_message("exception: vector %u%s%s\n", c->vector,
		    c->has_error ? ", error code" : "",
		    c->shadow ? ", in a shadow" : "");
		env_start(e, VMTEST_GUEST(vcpu_events));
		vmtest_setup_long(&e->t, BASE);
		idt_install(&e->t);
		if (c->shadow) {
			get(&e->t, NVMM_X64_STATE_INTR)->intr.int_shadow = 1;
			set(&e->t, NVMM_X64_STATE_INTR);
		}
		inject(&e->t, NVMM_VCPU_EVENT_EXCP, c->vector,
		    c->has_error ? c->error : 0xBAD);
		vmtest_run(&e->t, NVMM_VCPU_EXIT_HALTED);
		ASSERT_GPR(&e->t, R9, c->vector);
		ASSERT_GPR(&e->t, RAX, 0);
		frame_check(&e->t, c->has_error, c->error, BASE, RFLAGS_FIXED);
		check_exitstate(&e->t, false);
	}
}

/* Events NVMM's kernel refuses: the run fails with EINVAL. */
static const struct bad_event {
	const char *what;
	unsigned int type;
	uint8_t vector;
} bad_events[] = {
	{ "exception 2 (NMI)", NVMM_VCPU_EVENT_EXCP, 2 },
	{ "exception 0", NVMM_VCPU_EVENT_EXCP, 0 },
	{ "exception 3", NVMM_VCPU_EVENT_EXCP, 3 },
	{ "exception 32", NVMM_VCPU_EVENT_EXCP, 32 },
	{ "exception 255", NVMM_VCPU_EVENT_EXCP, 255 },
	{ "type 2", 2, 0x30 },
	{ "type 0xFFFFFFFF", 0xFFFFFFFFU, 0x30 },
};

static void
test_bad_events(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	const struct bad_event *b;
	size_t i;
	int rv;

	env_start(e, VMTEST_GUEST(vcpu_events));
	vmtest_setup_long(t, BASE);
	idt_install(t);
	for (i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++) {
		b = &bad_events[i];
		inject(t, b->type, b->vector, 0);
		errno = 0;
		rv = nvmm_vcpu_run(&t->mach, &t->vcpu);
		if (rv != -1 || errno != EINVAL)
			fail_msg("%s: run gave %d (%s), want -1 (EINVAL)",
			    b->what, rv, strerror(errno));
	}
	/* The refused events are gone: the guest runs undisturbed. */
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, RAX, 2);
	ASSERT_GPR(t, R9, 0);
	check_exitstate(t, false);
}

/* vcpu_events.S: the counting loop where the interrupt window opens. */
#define WINDOW		(BASE + 0x100)
#define WINDOW_END	(WINDOW + 0x11)		/* its HLT */
#define WINDOW_LAPS	5000

/*
 * An INT_READY exit must come with IF=1, inside the counting loop that
 * follows STI's shadow.  NVMM exits at `window' itself; this host's
 * emulation of CPL0 code checks the window only every thousand or so
 * instructions (bare KVM does the same here), so a later RIP in the loop
 * is accepted and reported.  Returns the exit's RIP.
 */
static uint64_t
window_check(struct vmtest *t)
{
	struct nvmm_x64_state *st;
	uint64_t rip, rcx;

	st = get(t, NVMM_X64_STATE_GPRS);
	rip = st->gprs[NVMM_X64_GPR_RIP];
	rcx = st->gprs[NVMM_X64_GPR_RCX];
	if (rip < WINDOW || rip >= WINDOW_END || rcx >= WINDOW_LAPS)
		fail_msg("INT_READY at RIP 0x%llx, RCX %llu: outside the "
		    "window", (unsigned long long)rip,
		    (unsigned long long)rcx);
	if (rip != WINDOW || rcx != 0)
		print_message("note: window exit %llu laps late (host)\n",
		    (unsigned long long)rcx);
	assert_true(t->vcpu.exit->exitstate.rflags & RFLAGS_IF);
	check_exitstate(t, false);
	assert_int_equal(get(t, NVMM_X64_STATE_INTR)->intr.int_window_exiting,
	    0);
	return rip;
}

/*
 * After INT_READY, inject interrupt 0x30: its handler runs at once, with
 * the exit's RIP and RFLAGS in its frame and the other registers intact.
 */
static void
window_inject(struct vmtest *t, uint64_t rip)
{
	uint64_t rflags, rax, rcx;

	rflags = t->vcpu.exit->exitstate.rflags;
	rax = vmtest_gpr(t, NVMM_X64_GPR_RAX);
	rcx = vmtest_gpr(t, NVMM_X64_GPR_RCX);
	inject(t, NVMM_VCPU_EVENT_INTR, 0x30, 0);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, R9, 0x30);
	ASSERT_GPR(t, RAX, rax);
	ASSERT_GPR(t, RCX, rcx);
	frame_check(t, false, 0, rip, rflags);
	/* An interrupt gate clears IF: exitstate shows the handler's. */
	assert_false(t->vcpu.exit->exitstate.rflags & RFLAGS_IF);
	check_exitstate(t, false);
}

/* Requested while IF=0, the window opens only after STI and its shadow. */
static void
test_int_window(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_x64_state *st;
	uint64_t rip;

	env_start(e, VMTEST_GUEST(vcpu_events));
	vmtest_setup_long(t, BASE);
	idt_install(t);
	st = get(t, NVMM_X64_STATE_INTR);
	st->intr.int_window_exiting = 1;
	set(t, NVMM_X64_STATE_INTR);

	vmtest_run(t, NVMM_VCPU_EXIT_INT_READY);
	ASSERT_GPR(t, RBX, WINDOW);
	rip = window_check(t);
	ASSERT_GPR(t, RAX, rip == WINDOW ? 1 : 2);
	window_inject(t, rip);
}

/* A window requested while interrupts are already enabled opens at once. */
static void
test_int_window_open(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_x64_state *st;

	env_start(e, VMTEST_GUEST(vcpu_events));
	vmtest_setup_long(t, WINDOW);
	idt_install(t);
	st = get(t, NVMM_X64_STATE_GPRS | NVMM_X64_STATE_INTR);
	st->gprs[NVMM_X64_GPR_RFLAGS] |= RFLAGS_IF;
	st->intr.int_window_exiting = 1;
	set(t, NVMM_X64_STATE_GPRS | NVMM_X64_STATE_INTR);
	vmtest_run(t, NVMM_VCPU_EXIT_INT_READY);
	window_inject(t, window_check(t));
}

/* -------------------------------------------------------------------------- */
/* nvmm_vcpu_stop. */

static uint32_t
spin_laps(struct vmtest *t)
{
	return __atomic_load_n((uint32_t *)(void *)(t->ram + SPIN_COUNTER),
	    __ATOMIC_RELAXED);
}

enum stop_how {
	STOP_CALL,		/* another thread calls nvmm_vcpu_stop */
	STOP_SIGNAL,		/* it signals the vcpu thread, whose handler
				 * calls nvmm_vcpu_stop */
};

/* The vcpu that the signal handlers stop. */
static struct nvmm_vcpu *volatile stop_target;
static volatile sig_atomic_t stop_signals;

static void
stop_handler(int signo)
{
	int saved = errno;

	(void)signo;
	stop_signals++;
	nvmm_vcpu_stop(stop_target);
	errno = saved;
}

struct stopper {
	struct vmtest *t;
	pthread_t target;
	enum stop_how how;
	bool saw_laps;		/* the guest ran before the stop */
};

/* Wait until the guest is seen spinning (at most 10 s), then stop it. */
static void *
stopper_main(void *arg)
{
	struct stopper *s = arg;
	struct timespec ms = { 0, 1000000 };
	uint32_t start;
	int i;

	start = spin_laps(s->t);
	for (i = 0; i < 10000 && !s->saw_laps; i++) {
		nanosleep(&ms, NULL);
		s->saw_laps = spin_laps(s->t) - start > 100;
	}
	if (s->how == STOP_CALL)
		nvmm_vcpu_stop(&s->t->vcpu);
	else
		pthread_kill(s->target, SIGUSR1);
	return NULL;
}

/* After a STOPPED exit: the vcpu is still in the loop, at CPL3. */
static void
check_stopped(struct vmtest *t)
{
	struct nvmm_x64_state *st;
	uint64_t rip;

	assert_int_equal(*t->vcpu.stop, 0);
	st = get(t, NVMM_X64_STATE_GPRS | NVMM_X64_STATE_SEGS);
	rip = st->gprs[NVMM_X64_GPR_RIP];
	if (rip < BASE || rip >= BASE + (size_t)(guest_vcpu_spin_end -
	    guest_vcpu_spin))
		fail_msg("stopped at RIP 0x%llx, outside the loop",
		    (unsigned long long)rip);
	assert_int_equal(st->segs[NVMM_X64_SEG_CS].attrib.dpl, 3);
	check_exitstate(t, false);
}

static void
stop_rounds(struct env *e, enum stop_how how)
{
	struct sigaction sa, old;
	struct stopper s;
	struct watchdog w;
	pthread_t thr;
	int round;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);
	stop_target = &e->t.vcpu;
	watchdog_start(&w, "nvmm_vcpu_stop test");
	/* Two rounds: after a stop the vcpu runs again, normally. */
	for (round = 0; round < 2; round++) {
		memset(&s, 0, sizeof(s));
		s.t = &e->t;
		s.target = pthread_self();
		s.how = how;
		thread_start(&thr, stopper_main, &s);
		vmtest_run(&e->t, NVMM_VCPU_EXIT_STOPPED);
		pthread_join(thr, NULL);
		assert_true(s.saw_laps);
		check_stopped(&e->t);
	}
	watchdog_stop(&w);
	sigaction(SIGUSR1, &old, NULL);
}

static void
test_stop_thread(void **state)
{
	struct env *e = *state;

	env_start(e, VMTEST_GUEST(vcpu_spin));
	setup_user(&e->t, BASE);
	stop_rounds(e, STOP_CALL);
}

static void
test_stop_signal(void **state)
{
	struct env *e = *state;

	env_start(e, VMTEST_GUEST(vcpu_spin));
	setup_user(&e->t, BASE);
	stop_signals = 0;
	stop_rounds(e, STOP_SIGNAL);
	assert_int_equal(stop_signals, 2);
}

/* A process-directed timer signal whose handler stops the vcpu. */
static void
test_stop_timer(void **state)
{
	struct env *e = *state;
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	struct sigaction sa, old;
	struct watchdog w;

	env_start(e, VMTEST_GUEST(vcpu_spin));
	setup_user(&e->t, BASE);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	stop_target = &e->t.vcpu;
	stop_signals = 0;
	watchdog_start(&w, "timer stop test");
	setitimer(ITIMER_REAL, &it, NULL);
	vmtest_run(&e->t, NVMM_VCPU_EXIT_STOPPED);
	watchdog_stop(&w);
	sigaction(SIGALRM, &old, NULL);
	assert_int_equal(stop_signals, 1);
	assert_true(spin_laps(&e->t) > 0);
	check_stopped(&e->t);
}

/* A stop requested before the run ends that run at once, and only it. */
static void
test_stop_before_run(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;

	env_start(e, VMTEST_GUEST(vcpu_hlt));
	vmtest_setup_long(t, BASE);
	assert_int_equal(nvmm_vcpu_stop(&t->vcpu), 0);
	vmtest_run(t, NVMM_VCPU_EXIT_STOPPED);
	assert_int_equal(*t->vcpu.stop, 0);
	ASSERT_GPR(t, RIP, BASE);
	ASSERT_GPR(t, RAX, 0);

	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, RAX, 1);
	ASSERT_GPR(t, RIP, vmtest_gpr(t, NVMM_X64_GPR_RBX));
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, RAX, 2);
}

/* -------------------------------------------------------------------------- */
/* Several vcpus on threads. */

#define MULTI_ROUNDS	32

struct multi {
	struct vmtest *t;
	struct nvmm_vcpu *vcpu;
	const struct nvmm_x64_state *tmpl;	/* vcpu 0 after setup */
	unsigned int id;
	char err[256];
};

static int
multi_fail(struct multi *m, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));

static int
multi_fail(struct multi *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* Run until an exit other than NONE; -1 with m->err on failure. */
static int
multi_run(struct multi *m, uint64_t want)
{
	uint64_t reason;

	do {
		if (nvmm_vcpu_run(&m->t->mach, m->vcpu) == -1)
			return multi_fail(m, "run: %s", strerror(errno));
		reason = m->vcpu->exit->reason;
	} while (reason == NVMM_VCPU_EXIT_NONE);
	if (reason != want)
		return multi_fail(m, "exit %s, want %s",
		    vmtest_exit_name(reason), vmtest_exit_name(want));
	return 0;
}

/* This vcpu's own state: the template's mode, its own registers. */
static int
multi_state(struct multi *m, uint64_t rax)
{
	const uint64_t flags = NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS |
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS;
	struct nvmm_x64_state *st = m->vcpu->state;

	if (nvmm_vcpu_getstate(&m->t->mach, m->vcpu, flags) == -1)
		return multi_fail(m, "getstate: %s", strerror(errno));
	memcpy(st->segs, m->tmpl->segs, sizeof(st->segs));
	memcpy(st->crs, m->tmpl->crs, sizeof(st->crs));
	st->msrs[NVMM_X64_MSR_EFER] = m->tmpl->msrs[NVMM_X64_MSR_EFER];
	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RAX] = rax;
	st->gprs[NVMM_X64_GPR_RDX] = 0x100 + m->id;
	st->gprs[NVMM_X64_GPR_RSP] = VMTEST_LONG_RSP - m->id * PAGE;
	st->gprs[NVMM_X64_GPR_RIP] = BASE;
	st->gprs[NVMM_X64_GPR_RFLAGS] = RFLAGS_FIXED;
	if (nvmm_vcpu_setstate(&m->t->mach, m->vcpu, flags) == -1)
		return multi_fail(m, "setstate: %s", strerror(errno));
	return 0;
}

/* One pass: OUT to port 0x100 + id, skip it, HLT; check every value. */
static int
multi_round(struct multi *m, unsigned int round)
{
	const struct nvmm_x86_exit_io *io = &m->vcpu->exit->u.io;
	struct nvmm_x64_state *st = m->vcpu->state;
	uint64_t rax = ((uint64_t)m->id << 32) | (m->id << 8) | round;

	if (multi_state(m, rax) == -1 || multi_run(m, NVMM_VCPU_EXIT_IO) == -1)
		return -1;
	if (io->in || io->port != 0x100 + m->id || io->operand_size != 1 ||
	    io->npc != BASE + 1)
		return multi_fail(m, "IO exit: in %d port 0x%x size %u npc "
		    "0x%llx", io->in, io->port, io->operand_size,
		    (unsigned long long)io->npc);
	if (nvmm_vcpu_getstate(&m->t->mach, m->vcpu, NVMM_X64_STATE_GPRS))
		return multi_fail(m, "getstate: %s", strerror(errno));
	if (st->gprs[NVMM_X64_GPR_RAX] != rax ||
	    st->gprs[NVMM_X64_GPR_RIP] != BASE)
		return multi_fail(m, "at the OUT: RAX 0x%llx RIP 0x%llx",
		    (unsigned long long)st->gprs[NVMM_X64_GPR_RAX],
		    (unsigned long long)st->gprs[NVMM_X64_GPR_RIP]);
	st->gprs[NVMM_X64_GPR_RIP] = io->npc;
	if (nvmm_vcpu_setstate(&m->t->mach, m->vcpu, NVMM_X64_STATE_GPRS))
		return multi_fail(m, "setstate: %s", strerror(errno));
	if (multi_run(m, NVMM_VCPU_EXIT_HALTED) == -1)
		return -1;
	if (nvmm_vcpu_getstate(&m->t->mach, m->vcpu, NVMM_X64_STATE_GPRS))
		return multi_fail(m, "getstate: %s", strerror(errno));
	if (st->gprs[NVMM_X64_GPR_RCX] != 2 * rax + 1 ||
	    st->gprs[NVMM_X64_GPR_RIP] != st->gprs[NVMM_X64_GPR_RSI] ||
	    st->gprs[NVMM_X64_GPR_RAX] != rax)
		return multi_fail(m, "at the HLT: RAX 0x%llx RCX 0x%llx RIP "
		    "0x%llx", (unsigned long long)st->gprs[NVMM_X64_GPR_RAX],
		    (unsigned long long)st->gprs[NVMM_X64_GPR_RCX],
		    (unsigned long long)st->gprs[NVMM_X64_GPR_RIP]);
	return 0;
}

static void *
multi_main(void *arg)
{
	struct multi *m = arg;
	unsigned int round;

	for (round = 0; round < MULTI_ROUNDS; round++) {
		if (multi_round(m, round) == -1)
			break;
	}
	return NULL;
}

static void
test_multi_vcpu(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_capability cap;
	struct nvmm_x64_state tmpl;
	struct multi m[NVCPUS];
	pthread_t thr[NVCPUS];
	unsigned int i;

	env_start(e, VMTEST_GUEST(vcpu_multi));
	assert_int_equal(nvmm_capability(&cap), 0);
	if (cap.max_vcpus < NVCPUS)
		skip();
	vmtest_setup_long(t, BASE);
	tmpl = *get(t, NVMM_X64_STATE_SEGS | NVMM_X64_STATE_CRS |
	    NVMM_X64_STATE_MSRS);
	for (i = 1; i < NVCPUS; i++) {
		if (nvmm_vcpu_create(&t->mach, i, &e->more[i]) == -1)
			fail_msg("nvmm_vcpu_create(%u): %s", i,
			    strerror(errno));
		e->more_ok[i] = true;
	}
	for (i = 0; i < NVCPUS; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].t = t;
		m[i].vcpu = i == 0 ? &t->vcpu : &e->more[i];
		m[i].tmpl = &tmpl;
		m[i].id = i;
		thread_start(&thr[i], multi_main, &m[i]);
	}
	for (i = 0; i < NVCPUS; i++)
		pthread_join(thr[i], NULL);
	for (i = 0; i < NVCPUS; i++) {
		if (m[i].err[0] != '\0')
			fail_msg("vcpu %u: %s", i, m[i].err);
	}
}

/* -------------------------------------------------------------------------- */
/* Guest memory. */

#define ALIAS_GPA1	0x400000UL
#define ALIAS_GPA2	0x800000UL

static void
alias_check_hva(struct vmtest *t, gpaddr_t gpa, uintptr_t want)
{
	uintptr_t hva;
	nvmm_prot_t prot;

	if (nvmm_gpa_to_hva(&t->mach, gpa, &hva, &prot) == -1)
		fail_msg("nvmm_gpa_to_hva(0x%llx): %s",
		    (unsigned long long)gpa, strerror(errno));
	assert_int_equal(hva, want);
	assert_int_equal(prot, NVMM_PROT_READ | NVMM_PROT_WRITE);
}

/* One host page at two GPAs: both see the same bytes. */
static void
test_gpa_alias(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	uint8_t *page;
	uint32_t v;

	env_start(e, VMTEST_GUEST(vcpu_alias));
	page = env_page(e, PAGE);
	assert_int_equal(nvmm_hva_map(&t->mach, (uintptr_t)page, PAGE), 0);
	assert_int_equal(nvmm_gpa_map(&t->mach, (uintptr_t)page, ALIAS_GPA1,
	    PAGE, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(nvmm_gpa_map(&t->mach, (uintptr_t)page, ALIAS_GPA2,
	    PAGE, PROT_READ | PROT_WRITE), 0);
	alias_check_hva(t, ALIAS_GPA1, (uintptr_t)page);
	alias_check_hva(t, ALIAS_GPA2, (uintptr_t)page);
	alias_check_hva(t, ALIAS_GPA1 + 0x10, (uintptr_t)page + 0x10);
	alias_check_hva(t, ALIAS_GPA2 + 0xFFF, (uintptr_t)page + 0xFFF);
	v = 0x600DF00D;
	memcpy(page + 0x30, &v, sizeof(v));

	vmtest_setup_long(t, BASE);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	ASSERT_GPR(t, RAX, 0xCAFEBABE);
	ASSERT_GPR(t, RBX, 0x5EED);
	ASSERT_GPR(t, RCX, 0x600DF00D);
	memcpy(&v, page + 0x10, sizeof(v));
	assert_int_equal(v, 0xCAFEBABE);
	memcpy(&v, page + 0x20, sizeof(v));
	assert_int_equal(v, 0x5EED);
}

/* -------------------------------------------------------------------------- */
/* State. */

/*
 * Mismatches found by the state checks, collected so that one failure
 * reports all of them.
 */
struct diff {
	const char *ctx;
	char buf[4096];
	size_t len;
	unsigned int n;
};

static void
diff_add(struct diff *d, const char *what, uint64_t got, uint64_t want)
{
	int n;

	if (got == want)
		return;
	d->n++;
	if (d->len >= sizeof(d->buf))
		return;
	n = snprintf(d->buf + d->len, sizeof(d->buf) - d->len,
	    "\n    %s: %s = 0x%llx, want 0x%llx", d->ctx, what,
	    (unsigned long long)got, (unsigned long long)want);
	if (n > 0)
		d->len += (size_t)n;
}

static void
diff_report(const struct diff *d)
{
	if (d->n != 0)
		fail_msg("%u mismatch(es):%s", d->n, d->buf);
}

static const char *const seg_names[NVMM_X64_NSEG] = {
	"ES", "CS", "SS", "DS", "FS", "GS", "GDT", "IDT", "LDT", "TR",
};
static const char *const gpr_names[NVMM_X64_NGPR] = {
	"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "R8", "R9",
	"R10", "R11", "R12", "R13", "R14", "R15", "RIP", "RFLAGS",
};
static const char *const cr_names[NVMM_X64_NCR] = {
	"CR0", "CR2", "CR3", "CR4", "CR8", "XCR0",
};
static const char *const dr_names[NVMM_X64_NDR] = {
	"DR0", "DR1", "DR2", "DR3", "DR6", "DR7",
};
static const char *const msr_names[NVMM_X64_NMSR] = {
	"EFER", "STAR", "LSTAR", "CSTAR", "SFMASK", "KERNELGSBASE",
	"SYSENTER_CS", "SYSENTER_ESP", "SYSENTER_EIP", "PAT", "TSC",
};

static uint64_t
seg_attrib(const struct nvmm_x64_state_seg *s)
{
	return (uint64_t)s->attrib.type | (uint64_t)s->attrib.s << 4 |
	    (uint64_t)s->attrib.dpl << 5 | (uint64_t)s->attrib.p << 7 |
	    (uint64_t)s->attrib.avl << 8 | (uint64_t)s->attrib.l << 9 |
	    (uint64_t)s->attrib.def << 10 | (uint64_t)s->attrib.g << 11;
}

static void
segs_compare(struct diff *d, const struct nvmm_x64_state *got,
    const struct nvmm_x64_state *want)
{
	const struct nvmm_x64_state_seg *g, *w;
	bool table;
	char what[32];
	int i;

	for (i = 0; i < NVMM_X64_NSEG; i++) {
		g = &got->segs[i];
		w = &want->segs[i];
		table = i == NVMM_X64_SEG_GDT || i == NVMM_X64_SEG_IDT;
		snprintf(what, sizeof(what), "%s.base", seg_names[i]);
		diff_add(d, what, g->base, w->base);
		snprintf(what, sizeof(what), "%s.limit", seg_names[i]);
		diff_add(d, what, g->limit, w->limit);
		if (table)
			continue;
		snprintf(what, sizeof(what), "%s.selector", seg_names[i]);
		diff_add(d, what, g->selector, w->selector);
		snprintf(what, sizeof(what), "%s.attrib", seg_names[i]);
		diff_add(d, what, seg_attrib(g), seg_attrib(w));
	}
}

static void
fpu_compare(struct diff *d, const struct fxsave *g, const struct fxsave *w)
{
	uint64_t gx[2], wx[2];
	char what[32];
	int i;

	diff_add(d, "fx_cw", g->fx_cw, w->fx_cw);
	diff_add(d, "fx_sw", g->fx_sw, w->fx_sw);
	diff_add(d, "fx_tw", g->fx_tw, w->fx_tw);
	diff_add(d, "fx_opcode", g->fx_opcode, w->fx_opcode);
	diff_add(d, "fx_ip", g->fx_ip.fa_64, w->fx_ip.fa_64);
	diff_add(d, "fx_dp", g->fx_dp.fa_64, w->fx_dp.fa_64);
	diff_add(d, "fx_mxcsr", g->fx_mxcsr, w->fx_mxcsr);
	for (i = 0; i < 8; i++) {
		snprintf(what, sizeof(what), "ST%d.mantissa", i);
		diff_add(d, what, g->fx_87_ac[i].r.f87_mantissa,
		    w->fx_87_ac[i].r.f87_mantissa);
		snprintf(what, sizeof(what), "ST%d.exp_sign", i);
		diff_add(d, what, g->fx_87_ac[i].r.f87_exp_sign,
		    w->fx_87_ac[i].r.f87_exp_sign);
	}
	for (i = 0; i < 16; i++) {
		memcpy(gx, &g->fx_xmm[i], sizeof(gx));
		memcpy(wx, &w->fx_xmm[i], sizeof(wx));
		snprintf(what, sizeof(what), "XMM%d[63:0]", i);
		diff_add(d, what, gx[0], wx[0]);
		snprintf(what, sizeof(what), "XMM%d[127:64]", i);
		diff_add(d, what, gx[1], wx[1]);
	}
}

/*
 * Compare every register of two states.  RIP and TSC are left to the
 * caller when ran is set (a run moves them); so is INTR, whose bits the
 * run may consume.
 */
static void
state_compare(struct diff *d, const struct nvmm_x64_state *got,
    const struct nvmm_x64_state *want, bool ran)
{
	int i;

	segs_compare(d, got, want);
	for (i = 0; i < NVMM_X64_NGPR; i++) {
		if (!ran || i != NVMM_X64_GPR_RIP)
			diff_add(d, gpr_names[i], got->gprs[i], want->gprs[i]);
	}
	for (i = 0; i < NVMM_X64_NCR; i++)
		diff_add(d, cr_names[i], got->crs[i], want->crs[i]);
	for (i = 0; i < NVMM_X64_NDR; i++)
		diff_add(d, dr_names[i], got->drs[i], want->drs[i]);
	for (i = 0; i < NVMM_X64_NMSR; i++) {
		if (!ran || i != NVMM_X64_MSR_TSC)
			diff_add(d, msr_names[i], got->msrs[i], want->msrs[i]);
	}
	if (!ran) {
		diff_add(d, "int_shadow", got->intr.int_shadow,
		    want->intr.int_shadow);
		diff_add(d, "int_window_exiting",
		    got->intr.int_window_exiting,
		    want->intr.int_window_exiting);
		diff_add(d, "nmi_window_exiting",
		    got->intr.nmi_window_exiting,
		    want->intr.nmi_window_exiting);
	}
	fpu_compare(d, &got->fpu, &want->fpu);
}

/*
 * Values for every part of the state, round k (1 or 2), on top of the
 * harness's 64-bit setup at the HLT of vcpu_state.S.  All are values KVM
 * must keep exactly (canonical addresses, valid PAT types, no enabled
 * breakpoint on an address the guest touches).
 */
static void
state_fill(struct nvmm_x64_state *st, uint64_t k,
    const struct nvmm_capability *cap)
{
	int i;

	for (i = 0; i < 16; i++)
		st->gprs[i] = 0x0101010101010101ULL * (uint64_t)(i + 1) + k;
	st->gprs[NVMM_X64_GPR_RIP] = BASE;
	/* CF, PF, ZF, SF, OF (and AF); IF clear: the window stays shut. */
	st->gprs[NVMM_X64_GPR_RFLAGS] = RFLAGS_FIXED | 0x8C5 |
	    (k == 1 ? 0x10 : 0);

	st->segs[NVMM_X64_SEG_FS].base = 0x0000123456789000ULL + k * PAGE;
	st->segs[NVMM_X64_SEG_GS].base = 0xFFFF800000001000ULL + k * PAGE;

	st->crs[NVMM_X64_CR_CR2] = 0xFFFF800012345678ULL + k;
	st->crs[NVMM_X64_CR_CR4] = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	st->crs[NVMM_X64_CR_CR8] = 4 + k;
	st->crs[NVMM_X64_CR_XCR0] =
	    (cap->arch.xcr0_mask & 3) == 3 && k == 1 ? 3 : 1;

	for (i = 0; i < 4; i++)
		st->drs[NVMM_X64_DR_DR0 + i] =
		    0x10000000ULL * (uint64_t)(i + 1) + k * PAGE;
	st->drs[NVMM_X64_DR_DR6] = 0xFFFF0FF0ULL | k;
	st->drs[NVMM_X64_DR_DR7] = 0x400 | (k == 1 ? 0x5 : 0x300);

	st->msrs[NVMM_X64_MSR_EFER] = EFER_LME | EFER_LMA | EFER_SCE |
	    (k == 1 ? EFER_NXE : 0);
	st->msrs[NVMM_X64_MSR_STAR] = 0x0023001000000000ULL + k;
	st->msrs[NVMM_X64_MSR_LSTAR] = 0xFFFFFFFF81000000ULL + k * 0x100;
	st->msrs[NVMM_X64_MSR_CSTAR] = 0xFFFFFFFF82000000ULL + k * 0x100;
	st->msrs[NVMM_X64_MSR_SFMASK] = 0x47700 + k;
	st->msrs[NVMM_X64_MSR_KERNELGSBASE] = 0xFFFF888000000000ULL + k;
	st->msrs[NVMM_X64_MSR_SYSENTER_CS] = 0x10 + k * 8;
	st->msrs[NVMM_X64_MSR_SYSENTER_ESP] = 0xFFFFC90000001000ULL + k;
	st->msrs[NVMM_X64_MSR_SYSENTER_EIP] = 0xFFFFFFFF81000200ULL + k;
	st->msrs[NVMM_X64_MSR_PAT] = k == 1 ? 0x0007010600070106ULL :
	    0x0505050505050505ULL;
	st->msrs[NVMM_X64_MSR_TSC] = k << 40;

	memset(&st->intr, 0, sizeof(st->intr));
	st->intr.int_window_exiting = k == 1;
	st->intr.int_shadow = k == 2;

	memset(&st->fpu, 0, sizeof(st->fpu));
	st->fpu.fx_cw = 0x037F;
	st->fpu.fx_sw = 0;
	st->fpu.fx_tw = 0x01;		/* R0 = ST0 is valid */
	/*
	 * FOP, FIP and FDP stay 0: AMD CPUs save them only while an x87
	 * exception is pending, so no VMM can return them after a run.
	 */
	st->fpu.fx_opcode = 0;
	st->fpu.fx_ip.fa_64 = 0;
	st->fpu.fx_dp.fa_64 = 0;
	st->fpu.fx_mxcsr = (0x1F80 | (k == 1 ? 0x8000 : 0x6000)) &
	    cap->arch.mxcsr_mask;
	st->fpu.fx_mxcsr_mask = cap->arch.mxcsr_mask;
	st->fpu.fx_87_ac[0].r.f87_mantissa = 0x8000000000000000ULL;
	st->fpu.fx_87_ac[0].r.f87_exp_sign = (uint16_t)(0x3FFF + k);
	for (i = 0; i < 16; i++)
		st->fpu.fx_xmm[0].xmm_bytes[i] = (uint8_t)(i + k);
	for (i = 0; i < 16; i++)
		st->fpu.fx_xmm[15].xmm_bytes[i] = (uint8_t)(0xF0 + i + k);
}

/* What a run of the HLT must leave, beyond the values set. */
static void
state_after_run(struct diff *d, const struct nvmm_x64_state *st, uint64_t k,
    const struct nvmm_capability *cap)
{
	uint64_t tsc = st->msrs[NVMM_X64_MSR_TSC];

	diff_add(d, "RIP", st->gprs[NVMM_X64_GPR_RIP], BASE + 1);
	/*
	 * The TSC runs on from the value set.  This host ignores TSC writes
	 * (bare KVM too: no TSC offsetting), so that it is also near the
	 * value set (within 1000 s at 1 GHz) is only reported.
	 */
	diff_add(d, "TSC >= set", tsc >= (k << 40), 1);
	if (tsc - (k << 40) >= 1000000000000ULL)
		print_message("note: TSC 0x%llx, set 0x%llx: the host ignored "
		    "the write\n", (unsigned long long)tsc,
		    (unsigned long long)(k << 40));
	diff_add(d, "int_window_exiting", st->intr.int_window_exiting, k == 1);
	diff_add(d, "int_shadow", st->intr.int_shadow, 0);
	diff_add(d, "nmi_window_exiting", st->intr.nmi_window_exiting, 0);
	diff_add(d, "evt_pending", st->intr.evt_pending, 0);
	diff_add(d, "fx_mxcsr_mask", st->fpu.fx_mxcsr_mask,
	    cap->arch.mxcsr_mask);
}

/* vcpu_state.S: CPUID leaf 0, the vendor, into EBX, EDX, ECX. */
#define STATE_VENDOR	(BASE + 0xC0)

/*
 * Is the vcpu's CPUID vendor one of AMD's architecture?  Asked of the guest
 * itself, on a machine of its own (env_start releases it).
 */
static bool
vendor_is_amd(struct env *e)
{
	struct nvmm_x64_state *st;
	char vendor[13];

	env_start(e, VMTEST_GUEST(vcpu_state));
	vmtest_setup_long(&e->t, STATE_VENDOR);
	vmtest_run(&e->t, NVMM_VCPU_EXIT_HALTED);
	st = get(&e->t, NVMM_X64_STATE_GPRS);
	memcpy(vendor, &st->gprs[NVMM_X64_GPR_RBX], 4);
	memcpy(vendor + 4, &st->gprs[NVMM_X64_GPR_RDX], 4);
	memcpy(vendor + 8, &st->gprs[NVMM_X64_GPR_RCX], 4);
	vendor[12] = '\0';
	print_message("vcpu vendor %s\n", vendor);
	return strcmp(vendor, "AuthenticAMD") == 0 ||
	    strcmp(vendor, "HygonGenuine") == 0;
}

/*
 * What a run leaves of the values set.  On AMD's architecture SYSENTER_ESP
 * and SYSENTER_EIP are 32-bit registers (AMD APM vol. 2, 6.1.1, SYSENTER
 * being legacy-mode only): their low halves remain.  On Intel's they hold
 * 64-bit addresses (SDM vol. 2B, SYSENTER): all of them remains.
 */
static void
state_ran(struct nvmm_x64_state *st, bool amd)
{
	if (!amd)
		return;
	st->msrs[NVMM_X64_MSR_SYSENTER_ESP] &= 0xFFFFFFFFULL;
	st->msrs[NVMM_X64_MSR_SYSENTER_EIP] &= 0xFFFFFFFFULL;
}

/*
 * setstate(ALL) then getstate(ALL) gives the values back, before a run
 * (from the comm page) and after it (from KVM), with exact values (after
 * the run, those of the vcpu's architecture: state_ran); twice, the second
 * time set after an exit.
 */
static void
test_state_roundtrip(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_capability cap;
	struct nvmm_x64_state want, *st;
	const struct nvmm_vcpu_exit *exit;
	struct diff d;
	uint64_t k;
	bool amd;

	amd = vendor_is_amd(e);
	env_start(e, VMTEST_GUEST(vcpu_state));
	assert_int_equal(nvmm_capability(&cap), 0);
	vmtest_setup_long(t, BASE);
	for (k = 1; k <= 2; k++) {
		print_message("state round trip %llu\n", (unsigned long long)k);
		st = get(t, NVMM_X64_STATE_ALL);
		state_fill(st, k, &cap);
		want = *st;
		set(t, NVMM_X64_STATE_ALL);
		memset(&d, 0, sizeof(d));
		d.ctx = "before the run";
		state_compare(&d, get(t, NVMM_X64_STATE_ALL), &want, false);
		diff_report(&d);

		vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
		exit = t->vcpu.exit;
		assert_int_equal(exit->exitstate.int_window_exiting, k == 1);
		assert_int_equal(exit->exitstate.rflags,
		    want.gprs[NVMM_X64_GPR_RFLAGS]);
		st = get(t, NVMM_X64_STATE_ALL);
		memset(&d, 0, sizeof(d));
		d.ctx = "after the run";
		state_ran(&want, amd);
		state_compare(&d, st, &want, true);
		state_after_run(&d, st, k, &cap);
		diff_report(&d);
	}
}

/* The values the guest-view tests set, and read back through the guest. */
#define VIEW_XMM0_LO	0x1122334455667788ULL
#define VIEW_XMM0_HI	0x99AABBCCDDEEFF00ULL
#define VIEW_FCW	0x027F		/* 53-bit precision, not the default */
#define VIEW_MXCSR	0x9F80		/* FZ, not the default */
#define VIEW_XMM_GPA	(FS_DATA + 0x100)
#define VIEW_FCW_GPA	(FS_DATA + 0x110)
#define VIEW_MXCSR_GPA	(FS_DATA + 0x120)

static void
view_fpu_set(struct nvmm_x64_state *st)
{
	memcpy(st->fpu.fx_xmm[0].xmm_bytes, &(uint64_t){ VIEW_XMM0_LO }, 8);
	memcpy(st->fpu.fx_xmm[0].xmm_bytes + 8, &(uint64_t){ VIEW_XMM0_HI },
	    8);
	st->fpu.fx_cw = VIEW_FCW;
	st->fpu.fx_mxcsr = VIEW_MXCSR;
}

static void
view_fpu_check(struct diff *d, struct vmtest *t, bool mxcsr)
{
	uint16_t fcw;
	uint32_t v;

	diff_add(d, "XMM0[63:0]", ram64(t, VIEW_XMM_GPA), VIEW_XMM0_LO);
	diff_add(d, "XMM0[127:64]", ram64(t, VIEW_XMM_GPA + 8), VIEW_XMM0_HI);
	memcpy(&fcw, t->ram + VIEW_FCW_GPA, sizeof(fcw));
	diff_add(d, "FCW", fcw, VIEW_FCW);
	if (mxcsr) {
		memcpy(&v, t->ram + VIEW_MXCSR_GPA, sizeof(v));
		diff_add(d, "MXCSR", v, VIEW_MXCSR);
	}
}

/* The guest itself sees what setstate put in (CPL0 part of the guest). */
static void
test_state_guest_view(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_x64_state *st;
	struct diff d;

	env_start(e, VMTEST_GUEST(vcpu_state));
	ram64_put(t, FS_DATA, 0xFEEDFACECAFEBEEFULL);
	vmtest_setup_long(t, BASE + 0x10);
	st = get(t, NVMM_X64_STATE_ALL);
	st->crs[NVMM_X64_CR_CR2] = 0x0000123456789ABCULL;
	st->crs[NVMM_X64_CR_CR8] = 7;
	st->drs[NVMM_X64_DR_DR0] = 0x12345000;
	st->drs[NVMM_X64_DR_DR7] = 0x400;
	st->msrs[NVMM_X64_MSR_LSTAR] = 0xFFFFFFFF81234560ULL;
	st->msrs[NVMM_X64_MSR_PAT] = 0x0007010600070106ULL;
	st->segs[NVMM_X64_SEG_FS].base = FS_DATA;
	view_fpu_set(st);
	set(t, NVMM_X64_STATE_ALL);

	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	st = get(t, NVMM_X64_STATE_GPRS);
	memset(&d, 0, sizeof(d));
	d.ctx = "guest read";
	diff_add(&d, "CR2", st->gprs[NVMM_X64_GPR_R8], 0x0000123456789ABCULL);
	diff_add(&d, "DR0", st->gprs[NVMM_X64_GPR_R9], 0x12345000);
	diff_add(&d, "DR7", st->gprs[NVMM_X64_GPR_R10], 0x400);
	diff_add(&d, "LSTAR", st->gprs[NVMM_X64_GPR_R12],
	    0xFFFFFFFF81234560ULL);
	diff_add(&d, "PAT", st->gprs[NVMM_X64_GPR_R13],
	    0x0007010600070106ULL);
	diff_add(&d, "FS:0", st->gprs[NVMM_X64_GPR_R14],
	    0xFEEDFACECAFEBEEFULL);
	diff_add(&d, "CR8", st->gprs[NVMM_X64_GPR_R15], 7);
	view_fpu_check(&d, t, false);
	diff_report(&d);
}

/* The FPU state as code at CPL3 (run natively here) sees it, MXCSR too. */
static void
test_state_guest_view_fpu(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct nvmm_x64_state *st;
	struct diff d;

	env_start(e, VMTEST_GUEST(vcpu_state));
	setup_user(t, BASE + 0x80);
	st = get(t, NVMM_X64_STATE_FPU);
	view_fpu_set(st);
	set(t, NVMM_X64_STATE_FPU);
	vmtest_run(t, NVMM_VCPU_EXIT_SHUTDOWN);	/* the final UD2 */
	memset(&d, 0, sizeof(d));
	d.ctx = "guest read at CPL3";
	view_fpu_check(&d, t, true);
	diff_report(&d);
}

/* NVMM's reset state (nvmm_x86_reset_state), for the checks below. */
static void
reset_check(struct diff *d, const struct nvmm_x64_state *st, uint64_t rip)
{
	static const int data[] = { NVMM_X64_SEG_ES, NVMM_X64_SEG_SS,
	    NVMM_X64_SEG_DS, NVMM_X64_SEG_FS, NVMM_X64_SEG_GS };
	const struct nvmm_x64_state_seg *s;
	char what[32];
	size_t i;

	s = &st->segs[NVMM_X64_SEG_CS];
	diff_add(d, "CS.selector", s->selector, 0xF000);
	diff_add(d, "CS.base", s->base, 0xFFFF0000);
	diff_add(d, "CS.limit", s->limit, 0xFFFF);
	diff_add(d, "CS.p", s->attrib.p, 1);
	diff_add(d, "CS.s", s->attrib.s, 1);
	for (i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		s = &st->segs[data[i]];
		snprintf(what, sizeof(what), "%s", seg_names[data[i]]);
		diff_add(d, what, s->selector, 0);
		diff_add(d, what, s->base, 0);
		diff_add(d, what, s->limit, 0xFFFF);
		diff_add(d, what, s->attrib.type, 3);
		diff_add(d, what, s->attrib.p, 1);
	}
	diff_add(d, "GDT.limit", st->segs[NVMM_X64_SEG_GDT].limit, 0xFFFF);
	diff_add(d, "IDT.limit", st->segs[NVMM_X64_SEG_IDT].limit, 0xFFFF);
	for (i = 0; i < NVMM_X64_NGPR; i++) {
		diff_add(d, gpr_names[i], st->gprs[i],
		    i == NVMM_X64_GPR_RDX ? 0x600 :
		    i == NVMM_X64_GPR_RIP ? rip :
		    i == NVMM_X64_GPR_RFLAGS ? 0x2 : 0);
	}
	diff_add(d, "CR0", st->crs[NVMM_X64_CR_CR0], 0x60000010);
	diff_add(d, "CR3", st->crs[NVMM_X64_CR_CR3], 0);
	diff_add(d, "CR4", st->crs[NVMM_X64_CR_CR4], 0);
	diff_add(d, "XCR0", st->crs[NVMM_X64_CR_XCR0], 1);
	for (i = 0; i < 4; i++)
		diff_add(d, dr_names[i], st->drs[i], 0);
	diff_add(d, "DR6", st->drs[NVMM_X64_DR_DR6], 0xFFFF0FF0);
	diff_add(d, "DR7", st->drs[NVMM_X64_DR_DR7], 0x400);
	diff_add(d, "EFER", st->msrs[NVMM_X64_MSR_EFER], 0);
	diff_add(d, "PAT", st->msrs[NVMM_X64_MSR_PAT], 0x0007040600070406ULL);
	diff_add(d, "fx_cw", st->fpu.fx_cw, 0x40);
	diff_add(d, "fx_tw", st->fpu.fx_tw, 0x55);
	diff_add(d, "fx_mxcsr", st->fpu.fx_mxcsr, 0x1F80);
	diff_add(d, "int_window_exiting", st->intr.int_window_exiting, 0);
	diff_add(d, "evt_pending", st->intr.evt_pending, 0);
}

/*
 * A new vcpu has NVMM's reset state, and keeps it through a run: one HLT
 * at the reset vector (GPA 0xFFFFFFF0, real mode) leaves all but RIP.
 */
static void
test_reset_state(void **state)
{
	struct env *e = *state;
	struct vmtest *t = &e->t;
	struct diff d;
	uint8_t *page;

	env_start(e, NULL, 0);
	memset(&d, 0, sizeof(d));
	d.ctx = "fresh vcpu";
	reset_check(&d, get(t, NVMM_X64_STATE_ALL), 0xFFF0);
	diff_report(&d);

	page = env_page(e, PAGE);
	page[0xFF0] = 0xF4;		/* hlt */
	assert_int_equal(nvmm_hva_map(&t->mach, (uintptr_t)page, PAGE), 0);
	assert_int_equal(nvmm_gpa_map(&t->mach, (uintptr_t)page, 0xFFFFF000,
	    PAGE, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	memset(&d, 0, sizeof(d));
	d.ctx = "after a HLT at the reset vector";
	reset_check(&d, get(t, NVMM_X64_STATE_ALL), 0xFFF1);
	diff_report(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, env_setup, env_teardown)
		T(test_halted),
		T(test_shutdown),
		T(test_msr),
		T(test_exceptions),
		T(test_bad_events),
		T(test_int_window),
		T(test_int_window_open),
		T(test_stop_before_run),
		T(test_stop_thread),
		T(test_stop_signal),
		T(test_stop_timer),
		T(test_multi_vcpu),
		T(test_gpa_alias),
		T(test_reset_state),
		T(test_state_roundtrip),
		T(test_state_guest_view),
		T(test_state_guest_view_fpu),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
