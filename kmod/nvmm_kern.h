/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * nvmm_kern.h: the ABI of nvmm.ko (/dev/nvmm), shared by the module and
 * libvmm's gate backend.  Every structure has a fixed size and layout on
 * x86_64 (checked below); reserved fields must be zero.
 */

#ifndef NVMM_KERN_H
#define NVMM_KERN_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * The revision of this ABI, reported by NVMM_IOC_CAPABILITY.  It is not
 * NetBSD's NVMM_KERN_VERSION (<nvmm.h>), which libvmm reports to programs.
 */
#define NVMM_KERN_ABI_VERSION	1

#define NVMM_KERN_DEVICE	"/dev/nvmm"

/* Machine ids are host-wide, in [0, NVMM_KERN_MAX_MACHINES). */
#define NVMM_KERN_MAX_MACHINES	128

/* NVMM_IOC_CAPABILITY: what the module allows, for this session. */
struct nvmm_kern_cap {
	__u32 version;			/* NVMM_KERN_ABI_VERSION */
	__u32 flags;			/* NVMM_KERN_CAP_* */
	__u32 max_machines;		/* per host */
	__u32 max_machines_uid;		/* per effective uid */
	__u32 max_vcpus;		/* per machine */
	__u32 rsvd0;
	__u64 max_ram;			/* bytes per machine */
	__u64 max_host_ram;		/* bytes, all machines; 0: no limit */
	__u64 rsvd[3];
};

#define NVMM_KERN_CAP_ROOT	0x1	/* the session was opened for write */

/* NVMM_IOC_MACHINE_CREATE (machid out), NVMM_IOC_MACHINE_DESTROY (in). */
struct nvmm_kern_machine {
	__u32 machid;
	__u32 rsvd;
};

/* NVMM_IOC_VCPU_CREATE: KVM_CREATE_VCPU; returns the vcpu descriptor. */
struct nvmm_kern_vcpu {
	__u32 machid;
	__u32 cpuid;
};

/*
 * NVMM_IOC_VM_IOCTL: a VM-level KVM ioctl, cmd with arg, on a machine of
 * the caller.  Returns what KVM returns.  Only ioctls on the module's
 * allowlist pass (nvmm(4)); cmd's upper 32 bits must be zero.
 */
struct nvmm_kern_vm_ioctl {
	__u32 machid;
	__u32 rsvd;
	__u64 cmd;
	__u64 arg;
};

/* NVMM_IOC_CTL: op, with data pointing to exactly size bytes. */
struct nvmm_kern_ctl {
	__u32 op;
	__u32 size;
	__u64 data;
};

#define NVMM_KERN_CTL_MACH_INFO	0	/* struct nvmm_kern_mach_info */
#define NVMM_KERN_CTL_LIST	1	/* struct nvmm_kern_ctl_list */
#define NVMM_KERN_CTL_STATS	2	/* struct nvmm_kern_ctl_stats */

/* One machine, as NVMM_KERN_CTL_MACH_INFO and NVMM_KERN_CTL_LIST see it. */
struct nvmm_kern_mach_info {
	__u32 machid;			/* in for MACH_INFO */
	__u32 nvcpus;			/* KVM vcpus created */
	__u64 nram;			/* bytes in its KVM memory slots */
	__s32 pid;			/* owner, in the caller's pid ns */
	__u32 uid;			/* owner's effective uid */
	__s64 time;			/* creation, seconds since the Epoch */
	__u32 flags;			/* NVMM_KERN_MACH_* */
	__u32 rsvd;
};

#define NVMM_KERN_MACH_OWN	0x1	/* the caller owns it */

/*
 * NVMM_KERN_CTL_LIST: up to count machines into infos, by ascending id.
 * On return count holds how many the caller may see; the ioctl returns how
 * many it wrote.
 */
struct nvmm_kern_ctl_list {
	__u32 count;
	__u32 rsvd;
	__u64 infos;			/* struct nvmm_kern_mach_info[count] */
};

/* NVMM_KERN_CTL_STATS: a KVM binary stats descriptor of machid, in fd. */
struct nvmm_kern_ctl_stats {
	__u32 machid;
	__s32 fd;
};

#define NVMM_KERN_IOC_TYPE	'N'

#define NVMM_IOC_CAPABILITY	_IOR(NVMM_KERN_IOC_TYPE, 0, \
				    struct nvmm_kern_cap)
#define NVMM_IOC_MACHINE_CREATE	_IOR(NVMM_KERN_IOC_TYPE, 1, \
				    struct nvmm_kern_machine)
#define NVMM_IOC_MACHINE_DESTROY _IOW(NVMM_KERN_IOC_TYPE, 2, \
				    struct nvmm_kern_machine)
#define NVMM_IOC_VCPU_CREATE	_IOW(NVMM_KERN_IOC_TYPE, 4, \
				    struct nvmm_kern_vcpu)
#define NVMM_IOC_VM_IOCTL	_IOW(NVMM_KERN_IOC_TYPE, 16, \
				    struct nvmm_kern_vm_ioctl)
#define NVMM_IOC_CTL		_IOW(NVMM_KERN_IOC_TYPE, 20, \
				    struct nvmm_kern_ctl)

#ifdef __KERNEL__
#define NVMM_KERN_SIZE_CHECK(t, n) \
	static_assert(sizeof(struct t) == (n), #t " has the ABI's size")
#else
#define NVMM_KERN_SIZE_CHECK(t, n) \
	_Static_assert(sizeof(struct t) == (n), #t " has the ABI's size")
#endif

NVMM_KERN_SIZE_CHECK(nvmm_kern_cap, 64);
NVMM_KERN_SIZE_CHECK(nvmm_kern_machine, 8);
NVMM_KERN_SIZE_CHECK(nvmm_kern_vcpu, 8);
NVMM_KERN_SIZE_CHECK(nvmm_kern_vm_ioctl, 24);
NVMM_KERN_SIZE_CHECK(nvmm_kern_ctl, 16);
NVMM_KERN_SIZE_CHECK(nvmm_kern_mach_info, 40);
NVMM_KERN_SIZE_CHECK(nvmm_kern_ctl_list, 16);
NVMM_KERN_SIZE_CHECK(nvmm_kern_ctl_stats, 8);

#endif /* NVMM_KERN_H */
