/*
 * kvm_cpu.h: the private vcpu of libvmm (NVMM vcpu semantics on a KVM vcpu),
 * shared by kvm_cpu.c, kvm_state.c and the assists.
 */

#ifndef LIBVMM_KVM_CPU_H
#define LIBVMM_KVM_CPU_H

#include <signal.h>

#include "internal.h"

/*
 * State parts: the units in which KVM reads and writes vcpu state.  Public
 * NVMM_X64_STATE_* flags map onto them (kvm_state_parts).  The sync parts
 * travel in the kvm_run page at every exit.
 */
#define VMM_P_GPRS	0x001	/* sync: regs */
#define VMM_P_SEGS	0x002	/* sync: sregs segments and tables */
#define VMM_P_CRS	0x004	/* sync: sregs cr0, cr2, cr3, cr4, cr8 */
#define VMM_P_EFER	0x008	/* sync: sregs efer */
#define VMM_P_INTR	0x010	/* sync: events, plus the window requests */
#define VMM_P_XCR0	0x020	/* KVM_GET/SET_XCRS */
#define VMM_P_DRS	0x040	/* KVM_GET/SET_DEBUGREGS */
#define VMM_P_MSRS	0x080	/* KVM_GET/SET_MSRS */
#define VMM_P_FPU	0x100	/* KVM_GET/SET_FPU */
#define VMM_P_SYNC	(VMM_P_GPRS | VMM_P_SEGS | VMM_P_CRS | VMM_P_EFER | \
			 VMM_P_INTR)
#define VMM_P_ALL	0x1FF

/*
 * What KVM still has to finish of the instruction behind the last exit.
 * KVM completes an IO, MMIO or MSR exit at the next KVM_RUN ("complete
 * userspace I/O"); libvmm decides at that point whether KVM's completion is
 * what the NVMM program asked for (see kvm_cpu.c, pending_resolve).
 */
enum vmm_pending {
	VMM_PEND_NONE,
	VMM_PEND_PIO,		/* IN/OUT */
	VMM_PEND_PIO_DONE,	/* OUT that KVM completed before exiting */
	VMM_PEND_STRIO,		/* INS, with or without REP */
	VMM_PEND_STRIO_DONE,	/* OUTS elements KVM executed before exiting */
	VMM_PEND_MMIO,
	VMM_PEND_MSR,
};

/*
 * The per-vcpu page.  Its first part is the NVMM comm page the caller sees
 * through vcpu->state, vcpu->event and vcpu->stop; the back pointer lets
 * nvmm_vcpu_stop, which gets only the vcpu, find the rest without a lock.
 */
struct vmm_comm {
	struct nvmm_comm_page pub;
	struct vmm_cpu *cpu;
};

struct vmm_cpuid_conf {
	uint32_t leaf;
	uint32_t set[4];
	uint32_t del[4];
};

struct vmm_cpu {
	nvmm_cpuid_t cpuid;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	struct vmm_comm *comm;

	uint32_t cached;	/* parts valid in comm->pub.state */
	uint32_t commit;	/* parts to write before the next entry */
	bool int_window;	/* NVMM intr.int_window_exiting */
	bool nmi_window;	/* NVMM intr.nmi_window_exiting */
	bool tpr_exit;		/* NVMM_VCPU_CONF_TPR exit_changed */

	enum vmm_pending pending;
	uint64_t exit_rip;	/* RIP of the instruction behind the exit */
	uint64_t exit_npc;	/* and of the next one */

	/* Who runs the vcpu, for nvmm_vcpu_stop's kick. */
	volatile sig_atomic_t running;
	pthread_t thread;

	struct vmm_cpuid_conf cpuid_conf[VMM_MAX_CPUID_CONF];
	unsigned int ncpuid_conf;

	/* An exit produced while completing the previous instruction,
	 * returned by the next run without entering the guest. */
	bool deferred;
	struct nvmm_vcpu_exit deferred_exit;
	/* RIP was rewound for KVM's own MSR completion (pending_resolve). */
	bool rewound;

	bool ran;		/* KVM_RUN was called: CPUID is frozen */
	struct kvm_cpuid2 *cpuid_table;	/* last installed */
	struct nvmm_vcpu_exit *exit;	/* the caller's vcpu->exit */

	/* A retired vcpu descriptor kept for re-creation (KVM cannot
	 * destroy a single vcpu). */
	bool retired;
};

/* kvm_state.c */
uint32_t kvm_state_parts(uint64_t);
uint64_t kvm_state_flags(uint32_t);
int kvm_state_load(struct vmm_cpu *, uint32_t);
int kvm_state_store(struct vmm_cpu *, uint32_t);
bool kvm_state_evt_pending(const struct vmm_cpu *);
void kvm_state_reset(struct nvmm_x64_state *);

/* kvm_cpu.c */
int kvm_cpu_read_gva(struct nvmm_machine *, struct vmm_cpu *, gvaddr_t,
    void *, size_t);

/* libnvmm_x86.c: decoding the instruction behind an exit. */
struct x86_insn_io {
	uint8_t len;
	uint8_t opcode;
	int8_t seg;
	uint8_t address_size;
	bool rep;
	bool str;
};
int x86_decode_io(const uint8_t *, size_t, bool, bool, struct x86_insn_io *);
int x86_decode_msr(const uint8_t *, size_t, bool, uint8_t *);
int x86_assist_pio(struct nvmm_machine *, struct nvmm_vcpu *, struct vmm_cpu *);
int x86_assist_mmio(struct nvmm_machine *, struct nvmm_vcpu *,
    struct vmm_cpu *);

#endif /* LIBVMM_KVM_CPU_H */
