/*
 * internal.h: libvmm's private declarations, shared by the API front end,
 * the KVM vcpu layer, the backends and the x86 helpers.  Not installed.
 */

#ifndef LIBVMM_INTERNAL_H
#define LIBVMM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvmm.h"

/* Public entry points; everything else stays hidden (-fvisibility=hidden). */
#define NVMM_EXPORT	__attribute__((__visibility__("default")))

#define VMM_MAX_MACHINES	128
#define VMM_MAX_VCPUS		256	/* NetBSD's limit; also the comm offset */
#define VMM_MAX_HMAPPINGS	128
#define VMM_MAX_CPUID_CONF	32
#define VMM_PAGE_SIZE		4096UL

/*
 * A backend is how libvmm reaches KVM: directly through /dev/kvm, or
 * through the nvmm.ko gate (/dev/nvmm).  Every ioctl hook returns a
 * non-negative result or a negative errno.
 */
struct vmm_mach;

struct vmm_backend {
	const char *name;
	/*
	 * Machine ids come from the device and are host-wide: the library
	 * files a machine under the id the device gave (gate_id).
	 */
	bool host_ids;
	/* Open the device; root asks for the host-wide view.  -> fd */
	int (*open)(bool root);
	/* A system ioctl (KVM_GET_SUPPORTED_CPUID, ...) on the device fd. */
	int (*sys_ioctl)(int devfd, unsigned long req, void *arg);
	/* Create the VM behind a machine; fills the backend's fields. */
	int (*machine_create)(int devfd, struct vmm_mach *);
	void (*machine_destroy)(struct vmm_mach *);
	/* A VM-level ioctl. */
	int (*vm_ioctl)(struct vmm_mach *, unsigned long req, void *arg);
	/* Create a vcpu; returns its KVM vcpu descriptor (close-on-exec). */
	int (*vcpu_create)(struct vmm_mach *, nvmm_cpuid_t);
	/* NVMM_CTL_MACH_INFO for a machine this backend cannot see locally. */
	int (*mach_info)(int devfd, struct nvmm_ctl_mach_info *);
};

extern const struct vmm_backend vmm_backend_kvm;
extern const struct vmm_backend vmm_backend_gate;

/* A guest physical range linked to host memory: one KVM memory slot. */
struct vmm_area {
	gpaddr_t gpa;
	uintptr_t hva;
	size_t size;
	int prot;		/* PROT_* as given to nvmm_gpa_map */
	uint32_t slot;
};

struct vmm_hmap {
	uintptr_t hva;
	size_t size;
};

struct vmm_cpu;

/*
 * The library's view of one machine, indexed by machid.  The table lock
 * protects creation, destruction and the memory lists; the run path does
 * not take it (destroying a machine while running it is the caller's bug,
 * as with libnvmm).
 */
struct vmm_mach {
	bool used;
	bool foreign;		/* inherited across fork: not ours */
	int vmfd;		/* KVM VM descriptor (kvm backend) */
	uint32_t gate_id;	/* machine id in nvmm.ko (gate backend) */
	pid_t pid;
	time_t time;
	bool irqchip;
	struct vmm_hmap hmaps[VMM_MAX_HMAPPINGS];
	unsigned int nhmaps;
	struct vmm_area *areas;
	unsigned int nareas;
	unsigned int areas_cap;
	uint32_t nslots;	/* KVM_CAP_NR_MEMSLOTS */
	struct vmm_cpu *cpus[VMM_MAX_VCPUS];
	uint32_t ncpus;
};

/* Library-wide state: one device descriptor per process, as libnvmm. */
struct vmm_lib {
	pthread_mutex_t lock;
	const struct vmm_backend *be;
	int devfd;
	bool root;
	int run_size;
	struct nvmm_capability cap;
	struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID, filtered */
	struct vmm_mach machs[VMM_MAX_MACHINES];
};

extern struct vmm_lib vmm_lib;

/* libnvmm.c */
struct vmm_mach *vmm_mach_get(struct nvmm_machine *, int *);
struct vmm_cpu *vmm_cpu_get(struct nvmm_machine *, struct nvmm_vcpu *, int *);
const struct vmm_area *vmm_area_find(const struct vmm_mach *, gpaddr_t);

/* kvm_cpu.c: NVMM vcpu semantics on a KVM vcpu. */
int kvm_cpu_create(struct vmm_mach *, nvmm_cpuid_t, struct nvmm_vcpu *);
void kvm_cpu_destroy(struct vmm_mach *, struct vmm_cpu *, bool);
int kvm_cpu_configure(struct vmm_mach *, struct vmm_cpu *, uint64_t, void *);
int kvm_cpu_getstate(struct vmm_cpu *, uint64_t);
void kvm_cpu_setstate(struct vmm_cpu *, uint64_t);
void kvm_cpu_inject(struct vmm_cpu *);
int kvm_cpu_run(struct vmm_mach *, struct vmm_cpu *, struct nvmm_machine *,
    struct nvmm_vcpu *);
void kvm_cpu_stop(struct nvmm_vcpu *);

/*
 * The paging registers of a vcpu, read without a system call when the last
 * exit delivered them.  Used by the page walker and the assists.
 */
struct vmm_paging {
	uint64_t cr0;
	uint64_t cr3;
	uint64_t cr4;
	uint64_t efer;
};
int kvm_cpu_paging(struct vmm_cpu *, struct vmm_paging *);

/* Complete the instruction KVM left pending, dispatching its accesses. */
int kvm_cpu_complete(struct vmm_cpu *, struct nvmm_machine *,
    struct nvmm_vcpu *);

/* mmu.c: the guest page walk behind nvmm_gva_to_gpa. */
int mmu_gva_to_gpa(struct nvmm_machine *, const struct vmm_paging *, gvaddr_t,
    gpaddr_t *, nvmm_prot_t *);

#endif /* LIBVMM_INTERNAL_H */
