/*
 * bench_io.c: benchmark (prints figures; not a timed test) of one port I/O
 * exit round trip handled through libvmm (nvmm_vcpu_run, nvmm_assist_io and
 * an io callback) against a raw KVM_RUN loop on /dev/kvm, in one run, on
 * the same guest.  Prints exits per second and nanoseconds per exit of
 * each, their ratio, and whether libvmm's overhead meets the target (at
 * most 5%).
 *
 * Usage: bench_io [exits-per-round]	(default 20000)
 *
 * The guest (tests/guests/bench_io_out.S) loops on "inc %rcx; out %al,
 * $0x10" at CPL3 in 64-bit mode, because on a nested KVM CPL3 code runs
 * natively while CPL0 and real-mode code is emulated: only the exit is
 * measured.  Both sides build the same RAM image and the same register
 * state (64-bit mode set directly through the state: no mode switch code)
 * and do the same trivial work per exit (bench_io_work).  A third
 * contender, reported apart as a diagnostic, is the raw loop with
 * KVM_CAP_SYNC_REGS turned on as libvmm uses it: it splits libvmm's
 * overhead into the kernel's share and the library's own code.
 *
 * The contenders run interleaved in short slices (see bench_round) and
 * the medians of the rounds are compared.  Afterwards every guest's OUT
 * counter must equal the exits its side handled, or the figures are not
 * printed: a lost or repeated OUT is an error, not a measurement.
 *
 * Exit status: 0 when the benchmark ran, whatever the verdict, and when it
 * is skipped because /dev/kvm is unusable; 1 on an error (an unexpected
 * exit is reported with the vcpu's state).
 */

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "nvmm.h"
#include "vmtest.h"

VMTEST_DECLARE_GUEST(bench_io_out);

#define BENCH_TARGET_PCT	5.0	/* the target for the overhead */
#define BENCH_DEF_EXITS		20000UL	/* per side and round */
#define BENCH_MAX_EXITS		100000000UL
#define BENCH_WARMUP		2000UL	/* per side, before the rounds */
#define BENCH_ROUNDS		5
#define BENCH_SLICE		1000UL	/* exits per turn of a side */

#define BENCH_PORT		0x10	/* as PORT in bench_io_out.S */
#define BENCH_AL		0x5a	/* the byte every OUT sends */

/*
 * Guest physical memory, the same on both sides (RAM from GPA 0):
 *
 *	0x01000		guest code (VMTEST_GUEST_BASE, where it is linked)
 *	0x03000		GDT: null, 64-bit code DPL 3, data DPL 3, busy TSS
 *	0x04000		the TSS the TR descriptor points to (never used)
 *	0x10000		PML4, 0x11000 PDPT, 0x12000 PD: one 2 MiB page
 *			mapping [0, 2 MiB) identically, user-accessible
 *	0x80000		RSP (the guest uses no stack)
 */
#define BENCH_RAM_SIZE		0x200000UL
#define BENCH_CODE		VMTEST_GUEST_BASE
#define BENCH_GDT		0x3000UL
#define BENCH_TSS		0x4000UL
#define BENCH_PML4		0x10000UL
#define BENCH_PDPT		0x11000UL
#define BENCH_PD		0x12000UL
#define BENCH_RSP		0x80000UL

/* Selectors, RPL 3 where the segment is used at CPL3. */
#define BENCH_SEL_CODE		(0x08 | 3)
#define BENCH_SEL_DATA		(0x10 | 3)
#define BENCH_SEL_TSS		0x18

/* Paging-structure entry bits (Intel SDM vol. 3A, 4.5). */
#define PTE_P			0x001ULL
#define PTE_W			0x002ULL
#define PTE_U			0x004ULL
#define PTE_A			0x020ULL
#define PTE_D			0x040ULL
#define PTE_PS			0x080ULL

#define CR0_PE			0x00000001ULL
#define CR0_ET			0x00000010ULL
#define CR0_NE			0x00000020ULL
#define CR0_PG			0x80000000ULL
#define CR4_PAE			0x00000020ULL
#define EFER_LME		0x00000100ULL
#define EFER_LMA		0x00000400ULL
#define RFLAGS_IOPL3		0x3000ULL
#define RFLAGS_FIXED		0x0002ULL

#define BENCH_CR0		(CR0_PE | CR0_ET | CR0_NE | CR0_PG)
#define BENCH_CR4		CR4_PAE
#define BENCH_EFER		(EFER_LME | EFER_LMA)
#define BENCH_RFLAGS		(RFLAGS_IOPL3 | RFLAGS_FIXED)

/*
 * The GDT.  Every descriptor has its accessed bit preset: the CPU would
 * otherwise write it on a segment load, which this host's nested KVM
 * handles badly.  The TSS descriptor (16 bytes in long mode, SDM 7.2.3)
 * exists only so that TR names a real descriptor.
 */
static const uint64_t bench_gdt[] = {
	0,				/* null */
	0x00affb000000ffffULL,		/* 0x08: L, P, DPL 3, code XRA */
	0x00cff3000000ffffULL,		/* 0x10: G, D, P, DPL 3, data RWA */
	0x00008b0000000067ULL |		/* 0x18: P, busy 64-bit TSS */
	    ((BENCH_TSS & 0xffffffULL) << 16),
	0,				/* upper half of the TSS */
};

/* A segment register's hidden part, written the same way on both sides. */
struct bench_seg {
	uint16_t sel;
	uint8_t type;
	uint8_t s;
	uint8_t dpl;
	uint8_t present;
	uint8_t l;
	uint8_t db;
	uint8_t g;
	uint32_t limit;
	uint64_t base;
};

static const struct bench_seg bench_code = {
	BENCH_SEL_CODE, 0xb, 1, 3, 1, 1, 0, 1, 0xffffffff, 0
};
static const struct bench_seg bench_data = {
	BENCH_SEL_DATA, 0x3, 1, 3, 1, 0, 1, 1, 0xffffffff, 0
};
/* VM entry in IA-32e mode requires a busy 64-bit TSS (SDM 26.3.1.2). */
static const struct bench_seg bench_tr = {
	BENCH_SEL_TSS, 0xb, 0, 0, 1, 0, 0, 0, 0x67, BENCH_TSS
};
/* No LDT: not present, i.e. unusable. */
static const struct bench_seg bench_ldt = {
	0, 0x2, 0, 0, 0, 0, 0, 0, 0, 0
};

/* What the trivial per-exit work has seen, on both sides. */
static struct {
	unsigned long count;
	unsigned long sum;
} bench_sink;

/*
 * A raw VM: KVM descriptors and the kvm_run page (-1/NULL: none).  With
 * sync set it uses KVM_CAP_SYNC_REGS as libvmm does (KVM stores regs,
 * sregs and events in kvm_run at every exit; the loop writes regs back
 * before every entry), which separates the kernel's share of libvmm's cost
 * from the library's own.
 */
struct raw_vm {
	bool sync;
	int kvmfd;
	int vmfd;
	int vcpufd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
};

/* The libvmm side.  A zeroed struct is "nothing created". */
struct lib_vm {
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	bool mach_ok;
	bool vcpu_ok;
	uint8_t *ram;
};

/* ------------------------------------------------------------------------ */
/* Shared: guest image, timing, the work done per exit. */

/*
 * The trivial work of one handled OUT, identical on both sides: what a
 * device model does at the least (look at the port, take the data).
 */
static void
bench_io_work(uint16_t port, const uint8_t *data, size_t size)
{
	if (port == BENCH_PORT && size == 1) {
		bench_sink.count++;
		bench_sink.sum += data[0];
	}
}

static void
bench_put64(uint8_t *ram, uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, sizeof(v));
}

/*
 * Fill BENCH_RAM_SIZE bytes of zeroed RAM with the guest code, the GDT and
 * the page tables.  Every level has U/S set so that CPL3 may use the
 * mapping; A and D are preset so that the CPU never writes the tables.
 */
static void
bench_image(uint8_t *ram)
{
	size_t len = (size_t)(guest_bench_io_out_end - guest_bench_io_out);

	memcpy(ram + BENCH_CODE, guest_bench_io_out, len);
	memcpy(ram + BENCH_GDT, bench_gdt, sizeof(bench_gdt));
	bench_put64(ram, BENCH_PML4, BENCH_PDPT | PTE_P | PTE_W | PTE_U |
	    PTE_A);
	bench_put64(ram, BENCH_PDPT, BENCH_PD | PTE_P | PTE_W | PTE_U | PTE_A);
	bench_put64(ram, BENCH_PD, 0 | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D |
	    PTE_PS);
}

/* Zeroed anonymous RAM for one side, or NULL with errno set. */
static uint8_t *
bench_ram(void)
{
	void *p;

	p = mmap(NULL, BENCH_RAM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* The raw side: /dev/kvm ioctls only. */

static void
raw_seg(struct kvm_segment *k, const struct bench_seg *s)
{
	memset(k, 0, sizeof(*k));
	k->selector = s->sel;
	k->type = s->type;
	k->s = s->s;
	k->dpl = s->dpl;
	k->present = s->present;
	k->l = s->l;
	k->db = s->db;
	k->g = s->g;
	k->limit = s->limit;
	k->base = s->base;
	k->unusable = !s->present;
}

/*
 * Give the vcpu what KVM supports as its CPUID, as any VMM does (and as
 * libvmm does): long mode must be visible to the guest.  0 or -1 (warned).
 */
static int
raw_cpuid(struct raw_vm *vm)
{
	struct kvm_cpuid2 *c = NULL;
	unsigned int nent = 64;
	int rv = -1;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (c == NULL) {
			warn("raw: cpuid table");
			return -1;
		}
		c->nent = nent;
		if (ioctl(vm->kvmfd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		if (errno != E2BIG || nent >= 4096) {
			warn("raw: KVM_GET_SUPPORTED_CPUID");
			goto out;
		}
		nent *= 2;
	}
	if (ioctl(vm->vcpufd, KVM_SET_CPUID2, c) == -1) {
		warn("raw: KVM_SET_CPUID2");
		goto out;
	}
	rv = 0;
out:
	free(c);
	return rv;
}

/* The 64-bit CPL3 state of the layout above, through KVM_SET_*REGS. */
static int
raw_state(struct raw_vm *vm)
{
	struct kvm_sregs sr;
	struct kvm_regs r;

	if (ioctl(vm->vcpufd, KVM_GET_SREGS, &sr) == -1) {
		warn("raw: KVM_GET_SREGS");
		return -1;
	}
	raw_seg(&sr.cs, &bench_code);
	raw_seg(&sr.ss, &bench_data);
	raw_seg(&sr.ds, &bench_data);
	raw_seg(&sr.es, &bench_data);
	raw_seg(&sr.fs, &bench_data);
	raw_seg(&sr.gs, &bench_data);
	raw_seg(&sr.tr, &bench_tr);
	raw_seg(&sr.ldt, &bench_ldt);
	sr.gdt.base = BENCH_GDT;
	sr.gdt.limit = sizeof(bench_gdt) - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = BENCH_CR0;
	sr.cr2 = 0;
	sr.cr3 = BENCH_PML4;
	sr.cr4 = BENCH_CR4;
	sr.efer = BENCH_EFER;
	if (ioctl(vm->vcpufd, KVM_SET_SREGS, &sr) == -1) {
		warn("raw: KVM_SET_SREGS");
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.rax = BENCH_AL;
	r.rsp = BENCH_RSP;
	r.rip = BENCH_CODE;
	r.rflags = BENCH_RFLAGS;
	if (ioctl(vm->vcpufd, KVM_SET_REGS, &r) == -1) {
		warn("raw: KVM_SET_REGS");
		return -1;
	}
	return 0;
}

/*
 * Vcpu 0 of vm->vmfd with its kvm_run page, CPUID and the 64-bit CPL3
 * state; with vm->sync, KVM_CAP_SYNC_REGS turned on.  0, or -1 (warned).
 */
static int
raw_vcpu(struct raw_vm *vm)
{
	int size;

	if ((vm->vcpufd = ioctl(vm->vmfd, KVM_CREATE_VCPU, 0UL)) == -1) {
		warn("raw: KVM_CREATE_VCPU");
		return -1;
	}
	if ((size = ioctl(vm->kvmfd, KVM_GET_VCPU_MMAP_SIZE, 0)) == -1) {
		warn("raw: KVM_GET_VCPU_MMAP_SIZE");
		return -1;
	}
	vm->run_size = (size_t)size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm->vcpufd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		warn("raw: mmap kvm_run");
		return -1;
	}
	if (raw_cpuid(vm) == -1 || raw_state(vm) == -1)
		return -1;
	if (!vm->sync)
		return 0;
	/* The loop writes regs back before every entry, the first too. */
	vm->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS |
	    KVM_SYNC_X86_EVENTS;
	if (ioctl(vm->vcpufd, KVM_GET_REGS, &vm->run->s.regs.regs) == -1) {
		warn("raw: KVM_GET_REGS");
		return -1;
	}
	return 0;
}

/*
 * Create a raw VM (sync as in struct raw_vm): KVM_CREATE_VM, RAM as slot 0
 * at GPA 0, then raw_vcpu.  Returns 0, or -1 (warned) with what was
 * created left in *vm for raw_fini.
 */
static int
raw_setup(struct raw_vm *vm, bool sync)
{
	struct kvm_userspace_memory_region region;

	vm->sync = sync;
	vm->kvmfd = vm->vmfd = vm->vcpufd = -1;
	vm->run = NULL;
	vm->ram = NULL;
	if ((vm->kvmfd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1) {
		warn("raw: /dev/kvm");
		return -1;
	}
	if ((vm->vmfd = ioctl(vm->kvmfd, KVM_CREATE_VM, 0)) == -1) {
		warn("raw: KVM_CREATE_VM");
		return -1;
	}
	if ((vm->ram = bench_ram()) == NULL) {
		warn("raw: RAM");
		return -1;
	}
	bench_image(vm->ram);
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = BENCH_RAM_SIZE;
	region.userspace_addr = (uintptr_t)vm->ram;
	if (ioctl(vm->vmfd, KVM_SET_USER_MEMORY_REGION, &region) == -1) {
		warn("raw: KVM_SET_USER_MEMORY_REGION");
		return -1;
	}
	return raw_vcpu(vm);
}

/* Undo raw_setup, whatever part of it succeeded. */
static void
raw_fini(struct raw_vm *vm)
{
	if (vm->run != NULL)
		munmap(vm->run, vm->run_size);
	if (vm->vcpufd != -1)
		close(vm->vcpufd);
	if (vm->vmfd != -1)
		close(vm->vmfd);
	if (vm->kvmfd != -1)
		close(vm->kvmfd);
	if (vm->ram != NULL)
		munmap(vm->ram, BENCH_RAM_SIZE);
	vm->run = NULL;
	vm->ram = NULL;
	vm->kvmfd = vm->vmfd = vm->vcpufd = -1;
}

/* Report an exit the raw loop did not expect, with RIP. */
static void
raw_unexpected(struct raw_vm *vm)
{
	struct kvm_regs r;
	unsigned long long rip = ~0ULL;

	if (ioctl(vm->vcpufd, KVM_GET_REGS, &r) == 0)
		rip = r.rip;
	if (vm->run->exit_reason == KVM_EXIT_IO)
		warnx("raw: unexpected I/O exit: port 0x%x %s, RIP 0x%llx",
		    vm->run->io.port, vm->run->io.direction ==
		    KVM_EXIT_IO_OUT ? "out" : "in", rip);
	else
		warnx("raw: unexpected exit reason %u at RIP 0x%llx",
		    vm->run->exit_reason, rip);
}

/*
 * Handle n OUT exits with bare KVM_RUN.  Whether KVM left RIP on the OUT
 * (mainline Linux, which completes the OUT at the next KVM_RUN) or past it
 * (this host's KVM), calling KVM_RUN again is all there is to do.
 * Returns 0, or -1 (warned).
 */
static int
raw_run(struct raw_vm *vm, unsigned long n)
{
	struct kvm_run *run = vm->run;
	unsigned long done = 0;

	while (done < n) {
		if (vm->sync)
			run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
		if (ioctl(vm->vcpufd, KVM_RUN, 0) == -1) {
			if (errno == EINTR)
				continue;
			warn("raw: KVM_RUN");
			return -1;
		}
		if (run->exit_reason != KVM_EXIT_IO ||
		    run->io.direction != KVM_EXIT_IO_OUT ||
		    run->io.port != BENCH_PORT || run->io.count != 1) {
			raw_unexpected(vm);
			return -1;
		}
		bench_io_work(run->io.port, (const uint8_t *)run +
		    run->io.data_offset, run->io.size);
		done++;
	}
	return 0;
}

/*
 * Where this KVM leaves RIP at an OUT exit, judged right after one: "on"
 * the OUT, "past" it, or "unknown".  Costs an ioctl: not in the timed path.
 */
static const char *
raw_rip_semantics(struct raw_vm *vm)
{
	struct kvm_regs r;
	uint64_t off;

	if (ioctl(vm->vcpufd, KVM_GET_REGS, &r) == -1 ||
	    r.rip < BENCH_CODE + 2 || r.rip + 2 > BENCH_RAM_SIZE)
		return "unknown";
	off = r.rip;
	if (vm->ram[off] == 0xe6 && vm->ram[off + 1] == BENCH_PORT)
		return "on the OUT (completed at the next KVM_RUN)";
	if (vm->ram[off - 2] == 0xe6 && vm->ram[off - 1] == BENCH_PORT)
		return "past the OUT (completed before the exit)";
	return "unknown";
}

/* The guest's OUT counter (RCX), or -1 (warned). */
static int
raw_guest_count(struct raw_vm *vm, uint64_t *count)
{
	struct kvm_regs r;

	if (ioctl(vm->vcpufd, KVM_GET_REGS, &r) == -1) {
		warn("raw: KVM_GET_REGS");
		return -1;
	}
	*count = r.rcx;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The libvmm side: the libnvmm API only. */

/* The io callback: the same work as the raw loop, reached via the assist. */
static void
lib_io_cb(struct nvmm_io *io)
{
	if (!io->in)
		bench_io_work(io->port, io->data, io->size);
}

static void
lib_seg(struct nvmm_x64_state_seg *seg, const struct bench_seg *s)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = s->sel;
	seg->attrib.type = s->type;
	seg->attrib.s = s->s;
	seg->attrib.dpl = s->dpl;
	seg->attrib.p = s->present;
	seg->attrib.l = s->l;
	seg->attrib.def = s->db;
	seg->attrib.g = s->g;
	seg->limit = s->limit;
	seg->base = s->base;
}

/* The 64-bit CPL3 state of the layout above, through getstate/setstate. */
static int
lib_state(struct lib_vm *vm)
{
	struct nvmm_x64_state *st = vm->vcpu.state;
	uint64_t flags = NVMM_X64_STATE_SEGS | NVMM_X64_STATE_GPRS |
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS;

	if (nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, flags) == -1) {
		warn("libvmm: nvmm_vcpu_getstate");
		return -1;
	}
	lib_seg(&st->segs[NVMM_X64_SEG_CS], &bench_code);
	lib_seg(&st->segs[NVMM_X64_SEG_SS], &bench_data);
	lib_seg(&st->segs[NVMM_X64_SEG_DS], &bench_data);
	lib_seg(&st->segs[NVMM_X64_SEG_ES], &bench_data);
	lib_seg(&st->segs[NVMM_X64_SEG_FS], &bench_data);
	lib_seg(&st->segs[NVMM_X64_SEG_GS], &bench_data);
	lib_seg(&st->segs[NVMM_X64_SEG_TR], &bench_tr);
	lib_seg(&st->segs[NVMM_X64_SEG_LDT], &bench_ldt);
	st->segs[NVMM_X64_SEG_GDT].base = BENCH_GDT;
	st->segs[NVMM_X64_SEG_GDT].limit = sizeof(bench_gdt) - 1;
	st->segs[NVMM_X64_SEG_IDT].base = 0;
	st->segs[NVMM_X64_SEG_IDT].limit = 0;

	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RAX] = BENCH_AL;
	st->gprs[NVMM_X64_GPR_RSP] = BENCH_RSP;
	st->gprs[NVMM_X64_GPR_RIP] = BENCH_CODE;
	st->gprs[NVMM_X64_GPR_RFLAGS] = BENCH_RFLAGS;

	st->crs[NVMM_X64_CR_CR0] = BENCH_CR0;
	st->crs[NVMM_X64_CR_CR2] = 0;
	st->crs[NVMM_X64_CR_CR3] = BENCH_PML4;
	st->crs[NVMM_X64_CR_CR4] = BENCH_CR4;
	st->msrs[NVMM_X64_MSR_EFER] = BENCH_EFER;

	if (nvmm_vcpu_setstate(&vm->mach, &vm->vcpu, flags) == -1) {
		warn("libvmm: nvmm_vcpu_setstate");
		return -1;
	}
	return 0;
}

/*
 * Create the libvmm machine: nvmm_init, machine, vcpu 0 with the io
 * callback, RAM mapped at GPA 0, the 64-bit CPL3 state.  Returns 0, or -1
 * (warned) with what was created left in *vm for lib_fini.
 */
static int
lib_setup(struct lib_vm *vm)
{
	struct nvmm_assist_callbacks cbs = { lib_io_cb, NULL };

	memset(vm, 0, sizeof(*vm));
	if (nvmm_init() == -1) {
		warn("libvmm: nvmm_init");
		return -1;
	}
	if (nvmm_machine_create(&vm->mach) == -1) {
		warn("libvmm: nvmm_machine_create");
		return -1;
	}
	vm->mach_ok = true;
	if (nvmm_vcpu_create(&vm->mach, 0, &vm->vcpu) == -1) {
		warn("libvmm: nvmm_vcpu_create");
		return -1;
	}
	vm->vcpu_ok = true;
	if (nvmm_vcpu_configure(&vm->mach, &vm->vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &cbs) == -1) {
		warn("libvmm: nvmm_vcpu_configure(CALLBACKS)");
		return -1;
	}
	if ((vm->ram = bench_ram()) == NULL) {
		warn("libvmm: RAM");
		return -1;
	}
	bench_image(vm->ram);
	if (nvmm_hva_map(&vm->mach, (uintptr_t)vm->ram, BENCH_RAM_SIZE) ==
	    -1) {
		warn("libvmm: nvmm_hva_map");
		return -1;
	}
	if (nvmm_gpa_map(&vm->mach, (uintptr_t)vm->ram, 0, BENCH_RAM_SIZE,
	    PROT_READ | PROT_WRITE | PROT_EXEC) == -1) {
		warn("libvmm: nvmm_gpa_map");
		return -1;
	}
	return lib_state(vm);
}

/*
 * Undo lib_setup.  Destroying the machine drops its mappings, so the RAM
 * is unmapped last.
 */
static void
lib_fini(struct lib_vm *vm)
{
	if (vm->vcpu_ok)
		(void)nvmm_vcpu_destroy(&vm->mach, &vm->vcpu);
	if (vm->mach_ok)
		(void)nvmm_machine_destroy(&vm->mach);
	if (vm->ram != NULL)
		munmap(vm->ram, BENCH_RAM_SIZE);
	memset(vm, 0, sizeof(*vm));
}

/* Report an exit the libvmm loop did not expect, and dump the vcpu. */
static void
lib_unexpected(struct lib_vm *vm)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;

	if (exit->reason == NVMM_VCPU_EXIT_IO)
		warnx("libvmm: unexpected I/O exit: port 0x%x %s",
		    exit->u.io.port, exit->u.io.in ? "in" : "out");
	else if (exit->reason == NVMM_VCPU_EXIT_INVALID)
		warnx("libvmm: exit INVALID (hwcode 0x%llx)",
		    (unsigned long long)exit->u.inv.hwcode);
	else
		warnx("libvmm: unexpected exit %s (0x%llx)",
		    vmtest_exit_name(exit->reason),
		    (unsigned long long)exit->reason);
	fflush(stderr);
	(void)nvmm_vcpu_dump(&vm->mach, &vm->vcpu);
	fflush(stdout);
}

/*
 * Handle n OUT exits the way an NVMM program does: nvmm_vcpu_run, check
 * the exit, nvmm_assist_io (which calls lib_io_cb).  NONE exits (a signal)
 * re-run without counting.  Returns 0, or -1 (warned).
 */
static int
lib_run(struct lib_vm *vm, unsigned long n)
{
	const struct nvmm_vcpu_exit *exit = vm->vcpu.exit;
	unsigned long done = 0;

	while (done < n) {
		if (nvmm_vcpu_run(&vm->mach, &vm->vcpu) == -1) {
			warn("libvmm: nvmm_vcpu_run");
			return -1;
		}
		if (exit->reason == NVMM_VCPU_EXIT_NONE)
			continue;
		if (exit->reason != NVMM_VCPU_EXIT_IO || exit->u.io.in ||
		    exit->u.io.port != BENCH_PORT) {
			lib_unexpected(vm);
			return -1;
		}
		if (nvmm_assist_io(&vm->mach, &vm->vcpu) == -1) {
			warn("libvmm: nvmm_assist_io");
			return -1;
		}
		done++;
	}
	return 0;
}

/* The guest's OUT counter (RCX), or -1 (warned). */
static int
lib_guest_count(struct lib_vm *vm, uint64_t *count)
{
	if (nvmm_vcpu_getstate(&vm->mach, &vm->vcpu, NVMM_X64_STATE_GPRS) ==
	    -1) {
		warn("libvmm: nvmm_vcpu_getstate");
		return -1;
	}
	*count = vm->vcpu.state->gprs[NVMM_X64_GPR_RCX];
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Measurement and report. */

/* The contenders, in the order they are reported. */
enum { SIDE_RAW, SIDE_LIB, SIDE_SYNC, BENCH_NSIDES };

/* One contender: how it runs n exits, and what it measured. */
struct bench_side {
	const char *name;
	int (*run)(void *, unsigned long);
	void *vm;			/* not owned */
	uint64_t elapsed;		/* ns spent in the current round */
	double ns[BENCH_ROUNDS];	/* ns per exit, per round */
};

static int
bench_run_raw(void *vm, unsigned long n)
{
	return raw_run(vm, n);
}

static int
bench_run_lib(void *vm, unsigned long n)
{
	return lib_run(vm, n);
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of the rounds of one side; v is left unchanged. */
static double
bench_median(const double *v)
{
	double s[BENCH_ROUNDS];
	size_t n = BENCH_ROUNDS;

	memcpy(s, v, sizeof(s));
	qsort(s, n, sizeof(s[0]), bench_cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/*
 * The median over the rounds of num[r] / den[r]: paired within a round,
 * so steadier than a ratio of medians when the host drifts between rounds.
 */
static double
bench_ratio_median(const double *num, const double *den)
{
	double q[BENCH_ROUNDS];
	int r;

	for (r = 0; r < BENCH_ROUNDS; r++)
		q[r] = num[r] / den[r];
	return bench_median(q);
}

/*
 * Round r: n exits per side, in slices of BENCH_SLICE exits that the sides
 * take in turn, the first of each turn rotating, so that the drift of this
 * shared, nested host hits every side alike.  Each side's ns per exit go
 * to its ns[r].  0, or -1 (warned).
 */
static int
bench_round(struct bench_side *sides, unsigned long n, int r)
{
	struct bench_side *sd;
	unsigned long left, chunk, k;
	uint64_t t0;
	int i;

	for (i = 0; i < BENCH_NSIDES; i++)
		sides[i].elapsed = 0;
	for (left = n, k = 0; left > 0; left -= chunk, k++) {
		chunk = left < BENCH_SLICE ? left : BENCH_SLICE;
		for (i = 0; i < BENCH_NSIDES; i++) {
			sd = &sides[(k + (unsigned long)i) % BENCH_NSIDES];
			t0 = bench_now_ns();
			if (sd->run(sd->vm, chunk) == -1)
				return -1;
			sd->elapsed += bench_now_ns() - t0;
		}
	}
	for (i = 0; i < BENCH_NSIDES; i++)
		sides[i].ns[r] = (double)sides[i].elapsed / (double)n;
	return 0;
}

/*
 * Every exit handled must be exactly one OUT of the guest: each guest's
 * counter equals the exits its side handled, and the handlers saw them
 * all.  0, or -1 (warned).
 */
static int
bench_check(struct raw_vm *raw, struct raw_vm *sync, struct lib_vm *lib,
    unsigned long want)
{
	uint64_t rc, sc, lc;

	if (raw_guest_count(raw, &rc) == -1 ||
	    raw_guest_count(sync, &sc) == -1 ||
	    lib_guest_count(lib, &lc) == -1)
		return -1;
	if (rc != want || sc != want || lc != want) {
		warnx("guest OUT counters: raw %" PRIu64 ", raw+sync %" PRIu64
		    ", libvmm %" PRIu64 "; want %lu each", rc, sc, lc, want);
		return -1;
	}
	if (bench_sink.count != BENCH_NSIDES * want ||
	    bench_sink.sum != BENCH_NSIDES * want * BENCH_AL) {
		warnx("the handlers saw %lu OUTs (sum %lu), want %lu",
		    bench_sink.count, bench_sink.sum, BENCH_NSIDES * want);
		return -1;
	}
	return 0;
}

static void
bench_print_side(const char *indent, const struct bench_side *sd)
{
	double med = bench_median(sd->ns);
	int r;

	printf("%s%-16s %7.0f exits/s %8.0f ns/exit  (rounds:", indent,
	    sd->name, 1e9 / med, med);
	for (r = 0; r < BENCH_ROUNDS; r++)
		printf(" %.0f", sd->ns[r]);
	printf(")\n");
}

static void
bench_report(const struct bench_side *sides, unsigned long n,
    const char *rip)
{
	double raw = bench_median(sides[SIDE_RAW].ns);
	double lib = bench_median(sides[SIDE_LIB].ns);
	double pct = (lib / raw - 1) * 100;
	double kern, own;
	int r;

	printf("bench_io: port I/O exit round trip, 64-bit CPL3 guest "
	    "(inc %%rcx; out %%al, $0x%x)\n", BENCH_PORT);
	printf("  %lu warm-up exits, then %d rounds of %lu exits per side, "
	    "interleaved in\n  slices of %lu; figures are the medians of "
	    "the rounds\n", BENCH_WARMUP, BENCH_ROUNDS, n, BENCH_SLICE);
	printf("  KVM leaves RIP %s\n", rip);
	bench_print_side("  ", &sides[SIDE_RAW]);
	bench_print_side("  ", &sides[SIDE_LIB]);
	printf("  ratio libvmm/raw: %.3f   overhead: %+.1f%%   (per round:",
	    lib / raw, pct);
	for (r = 0; r < BENCH_ROUNDS; r++)
		printf(" %.3f", sides[SIDE_LIB].ns[r] / sides[SIDE_RAW].ns[r]);
	printf(")\n");
	printf("  target: overhead <= %.0f%%: %s\n", BENCH_TARGET_PCT,
	    pct <= BENCH_TARGET_PCT ? "met" : "not met");
	printf("  diagnostic (not part of the target): the raw loop with "
	    "KVM_CAP_SYNC_REGS\n  as libvmm uses it (regs, sregs, events "
	    "stored at every exit, regs written back)\n");
	bench_print_side("    ", &sides[SIDE_SYNC]);
	kern = bench_ratio_median(sides[SIDE_SYNC].ns, sides[SIDE_RAW].ns);
	own = bench_ratio_median(sides[SIDE_LIB].ns, sides[SIDE_SYNC].ns);
	printf("    KVM's share:       raw+sync / raw     %.3f\n", kern);
	printf("    libvmm's own code: libvmm / raw+sync  %.3f\n", own);
	printf("    (each the median of the per-round ratios)\n");
}

/* argv[1]: exits per round, within [1, BENCH_MAX_EXITS].  0 or -1. */
static int
bench_args(int argc, char **argv, unsigned long *n)
{
	char *end;

	*n = BENCH_DEF_EXITS;
	if (argc > 2)
		return -1;
	if (argc == 2) {
		errno = 0;
		*n = strtoul(argv[1], &end, 10);
		if (errno != 0 || end == argv[1] || *end != '\0' ||
		    argv[1][0] == '-' || *n < 1 || *n > BENCH_MAX_EXITS)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct raw_vm raw = { false, -1, -1, -1, NULL, 0, NULL };
	struct raw_vm sync = raw;
	struct lib_vm lib;
	struct bench_side sides[BENCH_NSIDES] = {
		[SIDE_RAW] = { "raw KVM_RUN:", bench_run_raw, &raw, 0, { 0 } },
		[SIDE_LIB] = { "libvmm:", bench_run_lib, &lib, 0, { 0 } },
		[SIDE_SYNC] = { "raw + sync regs:", bench_run_raw, &sync, 0,
		    { 0 } },
	};
	const char *why, *rip;
	unsigned long n;
	int i, status = 1;

	memset(&lib, 0, sizeof(lib));
	if (bench_args(argc, argv, &n) == -1) {
		fprintf(stderr, "usage: bench_io [exits-per-round (1-%lu)]\n",
		    BENCH_MAX_EXITS);
		return 1;
	}
	if (!vmtest_have_kvm(&why)) {
		printf("bench_io: skipped: %s\n", why);
		return 0;
	}
	if (raw_setup(&raw, false) == -1 || raw_setup(&sync, true) == -1 ||
	    lib_setup(&lib) == -1)
		goto out;

	/* Warm-up; the first raw exit also shows where KVM leaves RIP. */
	if (raw_run(&raw, 1) == -1)
		goto out;
	rip = raw_rip_semantics(&raw);
	if (raw_run(&raw, BENCH_WARMUP - 1) == -1 ||
	    raw_run(&sync, BENCH_WARMUP) == -1 ||
	    lib_run(&lib, BENCH_WARMUP) == -1)
		goto out;

	for (i = 0; i < BENCH_ROUNDS; i++) {
		if (bench_round(sides, n, i) == -1)
			goto out;
	}
	if (bench_check(&raw, &sync, &lib, BENCH_WARMUP + BENCH_ROUNDS * n) ==
	    -1)
		goto out;
	bench_report(sides, n, rip);
	status = 0;
out:
	lib_fini(&lib);
	raw_fini(&sync);
	raw_fini(&raw);
	return status;
}
