/*
 * vmtest.h: the harness shared by the libvmm tests.  It creates a machine
 * with one VCPU and RAM at GPA 0, loads a flat guest image, puts the VCPU in
 * real mode or 64-bit mode, and runs it with the libnvmm assists until an
 * expected exit.
 *
 * Guests are tests/guests/NAME.S, linked at VMTEST_GUEST_BASE and embedded
 * by the Makefile as guest_NAME[] .. guest_NAME_end[]; declare them with
 * VMTEST_DECLARE_GUEST(NAME) and pass them as VMTEST_GUEST(NAME) (pointer,
 * length) or, in static tables, VMTEST_GUEST_RANGE(NAME) (start, end).
 *
 * The harness uses cmocka: vmtest_run, vmtest_gpr, vmtest_set_gpr and the
 * vmtest_setup_* functions report failures with fail_msg() (which ends the
 * current cmocka test), and vmtest_require_kvm() calls skip().  The other
 * functions return errors and are usable outside a cmocka test.
 *
 * Guest physical memory layout (all fixed; RAM is mapped from GPA 0):
 *
 *	0x00000-0x003ff	real-mode IVT (unused by the harness)
 *	0x01000-0x02fff	guest code (VMTEST_GUEST_BASE, at most 8 KiB)
 *	0x03000-0x0301f	GDT of the 64-bit setup (VMTEST_GDT)
 *	0x08000		real-mode SP (VMTEST_REAL_SP), stack grows down
 *	0x80000		64-bit RSP (VMTEST_LONG_RSP), stack grows down
 *	0x100000-0x105fff page tables of the 64-bit setup (VMTEST_PT)
 *
 * The 64-bit setup identity-maps the first 4 GiB with 2 MiB pages, so any
 * GPA below 4 GiB that is not RAM (for example 0x80000000 or 0xC0000000)
 * is reachable by the guest and exits as NVMM_VCPU_EXIT_MEMORY.  A
 * real-mode test that needs MMIO below 1 MiB creates the harness with
 * 0xA0000 bytes of RAM and uses the hole at 0xA0000-0xFFFFF.
 */

#ifndef VMTEST_H
#define VMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvmm.h"

#define VMTEST_GUEST_BASE	0x1000UL
#define VMTEST_GUEST_MAX	0x2000UL	/* code ends before the GDT */
#define VMTEST_GDT		0x3000UL
#define VMTEST_REAL_SP		0x8000UL
#define VMTEST_LONG_RSP		0x80000UL
#define VMTEST_PT		0x100000UL
#define VMTEST_PT_SIZE		0x6000UL	/* PML4, PDPT, four PDs */

/* Selectors of the 64-bit setup's GDT (accessed bits preset). */
#define VMTEST_SEL_CODE64	0x08
#define VMTEST_SEL_DATA		0x10
#define VMTEST_SEL_CODE32	0x18

/* The smallest RAM that vmtest_setup_long accepts. */
#define VMTEST_LONG_MIN_RAM	(VMTEST_PT + VMTEST_PT_SIZE)

/* RFLAGS bits, for checks. */
#define VMTEST_FL_CF		0x0001
#define VMTEST_FL_PF		0x0004
#define VMTEST_FL_AF		0x0010
#define VMTEST_FL_ZF		0x0040
#define VMTEST_FL_SF		0x0080
#define VMTEST_FL_DF		0x0400
#define VMTEST_FL_OF		0x0800

#define VMTEST_DECLARE_GUEST(name)					\
	extern const uint8_t guest_##name[], guest_##name##_end[]
#define VMTEST_GUEST(name)						\
	guest_##name, (size_t)(guest_##name##_end - guest_##name)
/*
 * The same as two pointers, [start, end): unlike the length, these are
 * constant expressions, usable in static tables.
 */
#define VMTEST_GUEST_RANGE(name)					\
	guest_##name, guest_##name##_end

struct vmtest;

/*
 * Called by vmtest_run after every nvmm_vcpu_run, before the exit is
 * handled; t->vcpu.exit is the exit.  Optional (NULL: none).
 */
typedef void vmtest_exit_hook_t(struct vmtest *t);

/*
 * One machine with VCPU 0 and ram_size bytes of RAM at GPA 0.  A zeroed
 * struct is "nothing created" and may be passed to vmtest_fini.  The
 * mach_ok/vcpu_ok fields are the harness's bookkeeping; exit_hook and
 * hook_arg belong to the caller, who sets them after vmtest_init (which
 * zeroes the struct).
 */
struct vmtest {
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	uint8_t *ram;
	size_t ram_size;

	bool mach_ok;
	bool vcpu_ok;
	vmtest_exit_hook_t *exit_hook;
	void *hook_arg;
};

/*
 * Can this process use KVM?  True if /dev/kvm opens read-write; otherwise
 * false, and *why (if why is not NULL) points to a static reason string.
 */
bool vmtest_have_kvm(const char **why);

/*
 * In a cmocka test: print the reason and skip() the test when KVM is not
 * usable.  Returns only when it is.
 */
void vmtest_require_kvm(void);

/*
 * Create the machine, VCPU 0 and ram_size bytes of zeroed RAM (a multiple
 * of the page size), mapped at GPA 0 readable, writable and executable.
 * No assist callbacks are configured.  Returns 0, or -1 with errno set;
 * on failure whatever was created is kept in *t for vmtest_fini.
 */
int vmtest_init(struct vmtest *t, size_t ram_size);

/*
 * Destroy the VCPU and the machine and unmap the RAM, then zero *t.
 * Accepts a zeroed or partly initialised struct.
 */
void vmtest_fini(struct vmtest *t);

/*
 * Copy len bytes of code or data into RAM at gpa.  The range must lie in
 * RAM (checked with assert: it is the caller's bug otherwise).
 */
void vmtest_load(struct vmtest *t, gpaddr_t gpa, const void *code,
    size_t len);

/*
 * Put the VCPU in real mode at cs:ip: CR0 = ET, CR4 = 0, all segments
 * base = selector << 4 and limit 0xFFFF (CS is cs, the data segments
 * selector 0), IDT at 0 limit 0x3FF, GPRs zero except RSP = VMTEST_REAL_SP
 * and RFLAGS = 2.  Uses getstate/setstate SEGS|GPRS|CRS.
 */
void vmtest_setup_real(struct vmtest *t, uint16_t cs, uint16_t ip);

/*
 * Put the VCPU in 64-bit mode at CPL0 at rip.  Writes the GDT at
 * VMTEST_GDT and the identity page tables for the first 4 GiB (2 MiB pages,
 * accessed and dirty bits preset) at VMTEST_PT, so RAM must be at least
 * VMTEST_LONG_MIN_RAM.  CS = VMTEST_SEL_CODE64, the data segments
 * VMTEST_SEL_DATA with base 0, IDT limit 0 (any exception becomes a triple
 * fault, i.e. a SHUTDOWN exit), TR a busy 64-bit TSS at 0.
 * CR0 = PE|ET|NE|PG, CR3 = VMTEST_PT, CR4 = PAE|OSFXSR, EFER = LME|LMA,
 * GPRs zero except RSP = VMTEST_LONG_RSP and RFLAGS = 2.
 */
void vmtest_setup_long(struct vmtest *t, uint64_t rip);

/*
 * Run the VCPU until t->vcpu.exit->reason == stop_reason.  IO exits go to
 * nvmm_assist_io, MEMORY exits to nvmm_assist_mem (the caller must have
 * configured the matching callback), NONE re-runs.  Any other exit, a
 * failing assist, or more than VMTEST_RUN_MAX_EXITS exits fails the cmocka
 * test with the exit reason and RIP.  Returns 0 when stopped as asked.
 */
#define VMTEST_RUN_MAX_EXITS	100000
int vmtest_run(struct vmtest *t, uint64_t stop_reason);

/* A GPR (NVMM_X64_GPR_*) of the VCPU: getstate GPRS, then read. */
uint64_t vmtest_gpr(struct vmtest *t, int idx);

/* Set one GPR (NVMM_X64_GPR_*): getstate GPRS, write, setstate GPRS. */
void vmtest_set_gpr(struct vmtest *t, int idx, uint64_t val);

/* The name of an exit reason ("MEMORY", "HALTED", ...), or "unknown". */
const char *vmtest_exit_name(uint64_t reason);

#endif /* VMTEST_H */
