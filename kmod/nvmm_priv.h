/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nvmm_priv.h: nvmm.ko's private declarations, shared by the device
 * (nvmm_dev.c), the machine registry (nvmm_mach.c), the ioctl tables
 * (nvmm_ioctl.c), the KVM side (nvmm_kvm.c) and the limits (nvmm_param.c).
 */

#ifndef NVMM_PRIV_H
#define NVMM_PRIV_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/kvm.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/uidgid.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "nvmm_kern.h"

/* One open of /dev/nvmm: an owner. */
struct nvmm_session {
	bool root;			/* opened for write */
	struct list_head machines;	/* nvmm_mach.s_entry, nvmm_lock */
};

/*
 * A machine: one KVM VM, created in its owner's address space.  The
 * registry holds one reference while the machine is linked (visible by id);
 * every lookup takes another.  The owner is the session and the process
 * (mm) that created it: a forked child sharing the session is not one.
 */
struct nvmm_mach {
	u32 id;
	struct kref ref;
	unsigned long flags;		/* NVMM_MACH_UNLINKED */
	struct nvmm_session *session;	/* owner; constant */
	struct list_head s_entry;	/* in session->machines, nvmm_lock */
	struct mm_struct *mm;		/* owner's; held by the notifier */
	struct mmu_notifier mn;		/* unlinks the machine at owner exit */
	struct file *vm;		/* KVM VM file, never a descriptor */
	struct pid *pid;		/* owner's thread group */
	kuid_t uid;			/* owner's effective uid */
	time64_t ctime;
	struct mutex lock;		/* accounting ops: vcpus, slots */
	struct xarray slots;		/* KVM slot -> pages, under lock */
	u32 nvcpus;			/* written under lock and nvmm_lock */
	u64 nram;			/* bytes, idem */
	struct work_struct reap;	/* teardown after owner exit */
	struct list_head all_entry;	/* in nvmm_all, nvmm_lock */
	struct rcu_head rcu;		/* lookups by id are under RCU */
};

#define NVMM_MACH_UNLINKED	0	/* bit in flags: no longer by id */

/* How a lookup means to use the machine (nvmm_mach_get). */
enum nvmm_use {
	NVMM_USE_VIEW,		/* info, stats, destroy: root sees all */
	NVMM_USE_KVM,		/* KVM calls: the owner's process only */
};

/* nvmm_param.c: the limits, module parameters. */
struct nvmm_limits {
	u32 max_machines;
	u32 max_machines_uid;
	u32 max_vcpus;
	u64 max_ram;		/* bytes per machine */
	u64 max_host_ram;	/* bytes; 0: no limit */
};
void nvmm_limits_get(struct nvmm_limits *);

/* nvmm_mach.c: the registry, ownership and accounting. */
int nvmm_mach_init(void);
void nvmm_mach_exit(void);
int nvmm_mach_create(struct nvmm_session *, u32 *);
int nvmm_mach_destroy(struct nvmm_session *, u32);
void nvmm_session_close(struct nvmm_session *);
int nvmm_mach_get(struct nvmm_session *, u32, enum nvmm_use,
    struct nvmm_mach **);
void nvmm_mach_put(struct nvmm_mach *);
int nvmm_mach_info(struct nvmm_session *, struct nvmm_kern_mach_info *);
int nvmm_mach_list(struct nvmm_session *, struct nvmm_kern_mach_info *,
    u32 *);
long nvmm_mach_vcpu_create(struct nvmm_mach *, unsigned long);
long nvmm_mach_set_memory(struct nvmm_mach *, unsigned long);

/* nvmm_ioctl.c: the allowlists of KVM ioctls. */
long nvmm_ioctl_sys(unsigned int, unsigned long);
long nvmm_ioctl_vm(struct nvmm_session *, const struct nvmm_kern_vm_ioctl *);

/* nvmm_kvm.c: the KVM side. */
int nvmm_kvm_init(void);
void nvmm_kvm_exit(void);
long nvmm_kvm_sys_ioctl(unsigned int, unsigned long);
long nvmm_kvm_vm_ioctl(struct file *, unsigned int, unsigned long);
bool nvmm_kvm_slot_ok(u32);
int nvmm_kvm_set_memory(struct file *,
    const struct kvm_userspace_memory_region *);
void nvmm_kvm_kill(struct file *);
int nvmm_kvm_create_vm(struct mm_struct *, struct file **);
int nvmm_kvm_stats_file(struct nvmm_mach *, struct file **);

#endif /* NVMM_PRIV_H */
