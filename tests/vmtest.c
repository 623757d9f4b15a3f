/*
 * vmtest.c: the test harness: one machine, one VCPU, RAM at GPA 0, real
 * mode or 64-bit mode setup, and a run loop driving the libnvmm assists.
 * Failures inside a running cmocka test are reported with fail_msg().
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "nvmm.h"
#include "vmtest.h"

#define VMTEST_PAGE		4096UL

/* Page table entry bits (Intel SDM vol. 3A, 4.5). */
#define PTE_P			0x001ULL
#define PTE_W			0x002ULL
#define PTE_A			0x020ULL
#define PTE_D			0x040ULL
#define PTE_PS			0x080ULL

#define CR0_PE			0x00000001ULL
#define CR0_ET			0x00000010ULL
#define CR0_NE			0x00000020ULL
#define CR0_PG			0x80000000ULL
#define CR4_PAE			0x00000020ULL
#define CR4_OSFXSR		0x00000200ULL
#define EFER_LME		0x00000100ULL
#define EFER_LMA		0x00000400ULL

/* Segment descriptor types (SDM vol. 3A, 3.4.5.1), accessed bit set. */
#define SEG_DATA_RWA		0x3
#define SEG_CODE_XRA		0xb
#define SEG_TSS64_BUSY		0xb

/*
 * GDT of the 64-bit setup.  Every descriptor has its accessed bit preset:
 * the CPU would otherwise write it on a segment load, which this host's
 * nested KVM handles badly.
 */
static const uint64_t vmtest_gdt[] = {
	0,				/* null */
	0x00af9b000000ffffULL,		/* VMTEST_SEL_CODE64: L, P, XRA */
	0x00cf93000000ffffULL,		/* VMTEST_SEL_DATA: G, D, P, RWA */
	0x00cf9b000000ffffULL,		/* VMTEST_SEL_CODE32: G, D, P, XRA */
};

#define VMTEST_EXITS(X)							\
	X(NONE) X(MEMORY) X(IO) X(SHUTDOWN) X(INT_READY) X(NMI_READY)	\
	X(HALTED) X(TPR_CHANGED) X(RDMSR) X(WRMSR) X(MONITOR) X(MWAIT)	\
	X(CPUID) X(STOPPED) X(INVALID)

static const struct {
	uint64_t reason;
	const char *name;
} vmtest_exit_names[] = {
#define VMTEST_EXIT_NAME(n) { NVMM_VCPU_EXIT_##n, #n },
	VMTEST_EXITS(VMTEST_EXIT_NAME)
#undef VMTEST_EXIT_NAME
};

const char *
vmtest_exit_name(uint64_t reason)
{
	size_t i;

	for (i = 0; i < sizeof(vmtest_exit_names) /
	    sizeof(vmtest_exit_names[0]); i++)
		if (vmtest_exit_names[i].reason == reason)
			return vmtest_exit_names[i].name;
	return "unknown";
}

/*
 * The reason points to a static buffer: call from one thread at a time.
 */
bool
vmtest_have_kvm(const char **why)
{
	static char reason[128];
	int fd;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd == -1) {
		snprintf(reason, sizeof(reason), "cannot open /dev/kvm: %s",
		    strerror(errno));
		if (why != NULL)
			*why = reason;
		return false;
	}
	close(fd);
	return true;
}

void
vmtest_require_kvm(void)
{
	const char *why;

	if (!vmtest_have_kvm(&why)) {
		print_message("skipped: %s\n", why);
		skip();
	}
}

int
vmtest_init(struct vmtest *t, size_t ram_size)
{
	void *ram;
	int prot = PROT_READ | PROT_WRITE | PROT_EXEC;

	memset(t, 0, sizeof(*t));
	if (ram_size == 0 || ram_size % VMTEST_PAGE != 0) {
		errno = EINVAL;
		return -1;
	}
	if (nvmm_init() == -1)
		return -1;
	if (nvmm_machine_create(&t->mach) == -1)
		return -1;
	t->mach_ok = true;
	if (nvmm_vcpu_create(&t->mach, 0, &t->vcpu) == -1)
		return -1;
	t->vcpu_ok = true;

	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return -1;
	t->ram = ram;
	t->ram_size = ram_size;

	if (nvmm_hva_map(&t->mach, (uintptr_t)t->ram, ram_size) == -1)
		return -1;
	if (nvmm_gpa_map(&t->mach, (uintptr_t)t->ram, 0, ram_size,
	    prot) == -1)
		return -1;
	return 0;
}

/*
 * Destroying the machine also drops its GPA and HVA mappings, so the RAM
 * can be unmapped afterwards without unmapping it from the machine first.
 */
void
vmtest_fini(struct vmtest *t)
{
	int saved = errno;

	if (t->vcpu_ok)
		(void)nvmm_vcpu_destroy(&t->mach, &t->vcpu);
	if (t->mach_ok)
		(void)nvmm_machine_destroy(&t->mach);
	if (t->ram != NULL)
		(void)munmap(t->ram, t->ram_size);
	memset(t, 0, sizeof(*t));
	errno = saved;
}

void
vmtest_load(struct vmtest *t, gpaddr_t gpa, const void *code, size_t len)
{
	assert(gpa <= t->ram_size && len <= t->ram_size - gpa);
	memcpy(t->ram + gpa, code, len);
}

/* getstate, or fail the test saying which. */
static void
vmtest_getstate(struct vmtest *t, uint64_t flags)
{
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, flags) == -1)
		fail_msg("nvmm_vcpu_getstate(0x%llx): %s",
		    (unsigned long long)flags, strerror(errno));
}

static void
vmtest_setstate(struct vmtest *t, uint64_t flags)
{
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, flags) == -1)
		fail_msg("nvmm_vcpu_setstate(0x%llx): %s",
		    (unsigned long long)flags, strerror(errno));
}

/* A present, non-system segment; the caller adds what differs. */
static void
vmtest_seg(struct nvmm_x64_state_seg *seg, uint16_t sel, int type,
    uint64_t base, uint32_t limit)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = sel;
	seg->attrib.type = type;
	seg->attrib.s = 1;
	seg->attrib.p = 1;
	seg->limit = limit;
	seg->base = base;
}

void
vmtest_setup_real(struct vmtest *t, uint16_t cs, uint16_t ip)
{
	struct nvmm_x64_state *st = t->vcpu.state;
	static const int data[] = { NVMM_X64_SEG_ES, NVMM_X64_SEG_SS,
	    NVMM_X64_SEG_DS, NVMM_X64_SEG_FS, NVMM_X64_SEG_GS };
	size_t i;

	vmtest_getstate(t, NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS |
	    NVMM_X64_STATE_CRS);

	vmtest_seg(&st->segs[NVMM_X64_SEG_CS], cs, SEG_CODE_XRA,
	    (uint64_t)cs << 4, 0xffff);
	for (i = 0; i < sizeof(data) / sizeof(data[0]); i++)
		vmtest_seg(&st->segs[data[i]], 0, SEG_DATA_RWA, 0, 0xffff);
	st->segs[NVMM_X64_SEG_IDT].base = 0;
	st->segs[NVMM_X64_SEG_IDT].limit = 0x3ff;

	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RSP] = VMTEST_REAL_SP;
	st->gprs[NVMM_X64_GPR_RIP] = ip;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;

	st->crs[NVMM_X64_CR_CR0] = CR0_ET;
	st->crs[NVMM_X64_CR_CR2] = 0;
	st->crs[NVMM_X64_CR_CR3] = 0;
	st->crs[NVMM_X64_CR_CR4] = 0;

	vmtest_setstate(t, NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS |
	    NVMM_X64_STATE_CRS);
}

static void
vmtest_put64(struct vmtest *t, gpaddr_t gpa, uint64_t v)
{
	vmtest_load(t, gpa, &v, sizeof(v));
}

/*
 * Identity map of [0, 4 GiB): PML4[0] -> PDPT, PDPT[0..3] -> four PDs of
 * 512 2 MiB pages.  A and D are preset so that the CPU never has to write
 * the tables.
 */
static void
vmtest_page_tables(struct vmtest *t)
{
	gpaddr_t pml4 = VMTEST_PT;
	gpaddr_t pdpt = VMTEST_PT + 0x1000;
	gpaddr_t pd = VMTEST_PT + 0x2000;
	uint64_t i, j;

	memset(t->ram + VMTEST_PT, 0, VMTEST_PT_SIZE);
	vmtest_put64(t, pml4, pdpt | PTE_P | PTE_W | PTE_A);
	for (i = 0; i < 4; i++) {
		vmtest_put64(t, pdpt + i * 8,
		    (pd + i * 0x1000) | PTE_P | PTE_W | PTE_A);
		for (j = 0; j < 512; j++)
			vmtest_put64(t, pd + i * 0x1000 + j * 8,
			    (i << 30) | (j << 21) |
			    PTE_P | PTE_W | PTE_A | PTE_D | PTE_PS);
	}
}

static void
vmtest_long_segs(struct nvmm_x64_state *st)
{
	static const int data[] = { NVMM_X64_SEG_ES, NVMM_X64_SEG_SS,
	    NVMM_X64_SEG_DS, NVMM_X64_SEG_FS, NVMM_X64_SEG_GS };
	struct nvmm_x64_state_seg *seg;
	size_t i;

	seg = &st->segs[NVMM_X64_SEG_CS];
	vmtest_seg(seg, VMTEST_SEL_CODE64, SEG_CODE_XRA, 0, 0xffffffff);
	seg->attrib.l = 1;
	seg->attrib.g = 1;
	for (i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		seg = &st->segs[data[i]];
		vmtest_seg(seg, VMTEST_SEL_DATA, SEG_DATA_RWA, 0, 0xffffffff);
		seg->attrib.def = 1;
		seg->attrib.g = 1;
	}
	st->segs[NVMM_X64_SEG_GDT].base = VMTEST_GDT;
	st->segs[NVMM_X64_SEG_GDT].limit = sizeof(vmtest_gdt) - 1;
	st->segs[NVMM_X64_SEG_IDT].base = 0;
	st->segs[NVMM_X64_SEG_IDT].limit = 0;

	/* VM entry in IA-32e mode requires a busy 64-bit TSS (SDM 26.3.1.2). */
	seg = &st->segs[NVMM_X64_SEG_TR];
	vmtest_seg(seg, 0, SEG_TSS64_BUSY, 0, 0x67);
	seg->attrib.s = 0;
}

void
vmtest_setup_long(struct vmtest *t, uint64_t rip)
{
	struct nvmm_x64_state *st = t->vcpu.state;
	uint64_t flags = NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS |
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS;

	if (t->ram_size < VMTEST_LONG_MIN_RAM)
		fail_msg("vmtest_setup_long: %zu bytes of RAM, need %lu",
		    t->ram_size, VMTEST_LONG_MIN_RAM);
	vmtest_load(t, VMTEST_GDT, vmtest_gdt, sizeof(vmtest_gdt));
	vmtest_page_tables(t);

	vmtest_getstate(t, flags);
	vmtest_long_segs(st);

	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RSP] = VMTEST_LONG_RSP;
	st->gprs[NVMM_X64_GPR_RIP] = rip;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;

	st->crs[NVMM_X64_CR_CR0] = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	st->crs[NVMM_X64_CR_CR2] = 0;
	st->crs[NVMM_X64_CR_CR3] = VMTEST_PT;
	st->crs[NVMM_X64_CR_CR4] = CR4_PAE | CR4_OSFXSR;
	st->msrs[NVMM_X64_MSR_EFER] = EFER_LME | EFER_LMA;

	vmtest_setstate(t, flags);
}

uint64_t
vmtest_gpr(struct vmtest *t, int idx)
{
	assert(idx >= 0 && idx < NVMM_X64_NGPR);
	vmtest_getstate(t, NVMM_X64_STATE_GPRS);
	return t->vcpu.state->gprs[idx];
}

void
vmtest_set_gpr(struct vmtest *t, int idx, uint64_t val)
{
	assert(idx >= 0 && idx < NVMM_X64_NGPR);
	vmtest_getstate(t, NVMM_X64_STATE_GPRS);
	t->vcpu.state->gprs[idx] = val;
	vmtest_setstate(t, NVMM_X64_STATE_GPRS);
}

/* RIP for a diagnostic; ~0 if even getstate fails. */
static unsigned long long
vmtest_rip(struct vmtest *t)
{
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		return ~0ULL;
	return t->vcpu.state->gprs[NVMM_X64_GPR_RIP];
}

static void
vmtest_do_io(struct vmtest *t)
{
	const struct nvmm_x86_exit_io *io = &t->vcpu.exit->u.io;

	if (t->vcpu.cbs.io == NULL)
		fail_msg("IO exit (port 0x%x, %s) at RIP 0x%llx, but no io "
		    "callback is configured", io->port, io->in ? "in" : "out",
		    vmtest_rip(t));
	if (nvmm_assist_io(&t->mach, &t->vcpu) == -1)
		fail_msg("nvmm_assist_io (port 0x%x, %s) at RIP 0x%llx: %s",
		    io->port, io->in ? "in" : "out", vmtest_rip(t),
		    strerror(errno));
}

static void
vmtest_do_mem(struct vmtest *t)
{
	const struct nvmm_x86_exit_memory *mem = &t->vcpu.exit->u.mem;

	if (t->vcpu.cbs.mem == NULL)
		fail_msg("MEMORY exit (gpa 0x%llx) at RIP 0x%llx, but no mem "
		    "callback is configured", (unsigned long long)mem->gpa,
		    vmtest_rip(t));
	if (nvmm_assist_mem(&t->mach, &t->vcpu) == -1)
		fail_msg("nvmm_assist_mem (gpa 0x%llx, prot 0x%x) at RIP "
		    "0x%llx: %s", (unsigned long long)mem->gpa, mem->prot,
		    vmtest_rip(t), strerror(errno));
}

static void
vmtest_unexpected(struct vmtest *t)
{
	const struct nvmm_vcpu_exit *exit = t->vcpu.exit;

	if (exit->reason == NVMM_VCPU_EXIT_INVALID)
		fail_msg("unexpected exit INVALID (hwcode 0x%llx) at RIP "
		    "0x%llx", (unsigned long long)exit->u.inv.hwcode,
		    vmtest_rip(t));
	fail_msg("unexpected exit %s (0x%llx) at RIP 0x%llx",
	    vmtest_exit_name(exit->reason),
	    (unsigned long long)exit->reason, vmtest_rip(t));
}

int
vmtest_run(struct vmtest *t, uint64_t stop_reason)
{
	uint64_t reason;
	unsigned long n;

	for (n = 0; n < VMTEST_RUN_MAX_EXITS; n++) {
		if (nvmm_vcpu_run(&t->mach, &t->vcpu) == -1)
			fail_msg("nvmm_vcpu_run: %s", strerror(errno));
		if (t->exit_hook != NULL)
			t->exit_hook(t);
		reason = t->vcpu.exit->reason;
		if (reason == stop_reason)
			return 0;
		if (reason == NVMM_VCPU_EXIT_NONE)
			continue;
		else if (reason == NVMM_VCPU_EXIT_IO)
			vmtest_do_io(t);
		else if (reason == NVMM_VCPU_EXIT_MEMORY)
			vmtest_do_mem(t);
		else
			vmtest_unexpected(t);
	}
	fail_msg("no %s exit after %d exits, RIP 0x%llx",
	    vmtest_exit_name(stop_reason), VMTEST_RUN_MAX_EXITS,
	    vmtest_rip(t));
	return -1;
}
