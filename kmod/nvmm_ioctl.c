// SPDX-License-Identifier: GPL-2.0
/*
 * nvmm_ioctl.c: the allowlists of KVM ioctls that reach KVM through
 * /dev/nvmm: system ioctls (on /dev/nvmm itself) and VM ioctls (through
 * NVMM_IOC_VM_IOCTL, by machine id).  Anything else is -ENOTTY.
 */

#include <linux/kernel.h>
#include <linux/kvm.h>
#include <linux/uaccess.h>

#include "nvmm_priv.h"

/*
 * System ioctls: questions about what KVM supports, answered by the
 * module's /dev/kvm.  None changes anything.
 */
static const unsigned int nvmm_sys_iocs[] = {
	KVM_GET_API_VERSION,
	KVM_CHECK_EXTENSION,
	KVM_GET_VCPU_MMAP_SIZE,
	KVM_GET_SUPPORTED_CPUID,
	KVM_GET_EMULATED_CPUID,
	KVM_GET_MSR_INDEX_LIST,
	KVM_GET_MSR_FEATURE_INDEX_LIST,
	KVM_GET_MSRS,
	KVM_X86_GET_MCE_CAP_SUPPORTED,
};

long
nvmm_ioctl_sys(unsigned int cmd, unsigned long arg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(nvmm_sys_iocs); i++) {
		if (nvmm_sys_iocs[i] == cmd)
			return nvmm_kvm_sys_ioctl(cmd, arg);
	}
	return -ENOTTY;
}

static long
nvmm_vm_forward(struct nvmm_mach *m, unsigned int cmd, unsigned long arg)
{
	return nvmm_kvm_vm_ioctl(m->vm, cmd, arg);
}

static long
nvmm_vm_create_vcpu(struct nvmm_mach *m, unsigned int cmd, unsigned long arg)
{
	return nvmm_mach_vcpu_create(m, arg);
}

static long
nvmm_vm_set_memory(struct nvmm_mach *m, unsigned int cmd, unsigned long arg)
{
	return nvmm_mach_set_memory(m, arg);
}

/* The VM capabilities a machine's owner may enable. */
static const u32 nvmm_vm_caps[] = {
	KVM_CAP_X86_USER_SPACE_MSR,	/* RDMSR/WRMSR exits */
	KVM_CAP_DISABLE_QUIRKS,
	KVM_CAP_DISABLE_QUIRKS2,
};

/*
 * KVM_ENABLE_CAP for the capabilities above only (-EINVAL otherwise).
 * KVM reads the argument again from user memory, where another thread of
 * the owner could change it after this check; KVM has no entry point that
 * takes a kernel copy.  What such a race can gain is another capability
 * of the owner's own VM (KVM still checks it), never access to another
 * machine, the host's limits or another process.
 */
static long
nvmm_vm_enable_cap(struct nvmm_mach *m, unsigned int cmd, unsigned long arg)
{
	struct kvm_enable_cap cap;
	size_t i;

	if (copy_from_user(&cap, (void __user *)arg, sizeof(cap)))
		return -EFAULT;
	if (cap.flags != 0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(nvmm_vm_caps); i++) {
		if (nvmm_vm_caps[i] == cap.cap)
			return nvmm_kvm_vm_ioctl(m->vm, cmd, arg);
	}
	return -EINVAL;
}

struct nvmm_vm_ioc {
	unsigned int cmd;
	long (*fn)(struct nvmm_mach *, unsigned int, unsigned long);
};

/* What libvmm and a VMM on it need of a VM, and nothing else. */
static const struct nvmm_vm_ioc nvmm_vm_iocs[] = {
	/* Accounted: vcpus and guest RAM. */
	{ KVM_CREATE_VCPU,		nvmm_vm_create_vcpu },
	{ KVM_SET_USER_MEMORY_REGION,	nvmm_vm_set_memory },
	/* Capabilities. */
	{ KVM_CHECK_EXTENSION,		nvmm_vm_forward },
	{ KVM_ENABLE_CAP,		nvmm_vm_enable_cap },
	/* x86 set-up for real mode on VMX. */
	{ KVM_SET_TSS_ADDR,		nvmm_vm_forward },
	{ KVM_SET_IDENTITY_MAP_ADDR,	nvmm_vm_forward },
	/* In-kernel irqchip, PIT and interrupt lines. */
	{ KVM_CREATE_IRQCHIP,		nvmm_vm_forward },
	{ KVM_GET_IRQCHIP,		nvmm_vm_forward },
	{ KVM_SET_IRQCHIP,		nvmm_vm_forward },
	{ KVM_CREATE_PIT2,		nvmm_vm_forward },
	{ KVM_GET_PIT2,			nvmm_vm_forward },
	{ KVM_SET_PIT2,			nvmm_vm_forward },
	{ KVM_IRQ_LINE,			nvmm_vm_forward },
	{ KVM_IRQ_LINE_STATUS,		nvmm_vm_forward },
	{ KVM_SET_GSI_ROUTING,		nvmm_vm_forward },
	{ KVM_SIGNAL_MSI,		nvmm_vm_forward },
	{ KVM_IRQFD,			nvmm_vm_forward },
	{ KVM_IOEVENTFD,		nvmm_vm_forward },
	/* MSRs handled in user space. */
	{ KVM_X86_SET_MSR_FILTER,	nvmm_vm_forward },
	/* Clock and statistics. */
	{ KVM_GET_CLOCK,		nvmm_vm_forward },
	{ KVM_SET_CLOCK,		nvmm_vm_forward },
	{ KVM_GET_STATS_FD,		nvmm_vm_forward },
};

/*
 * NVMM_IOC_VM_IOCTL: req->cmd on machine req->machid, which must be the
 * caller's (-ENOENT, -EPERM); -ENOTTY off the allowlist, checked first.
 * Returns what KVM returns.
 */
long
nvmm_ioctl_vm(struct nvmm_session *s, const struct nvmm_kern_vm_ioctl *req)
{
	const struct nvmm_vm_ioc *ioc = NULL;
	struct nvmm_mach *m;
	size_t i;
	long rv;

	if (req->rsvd != 0 || req->cmd > U32_MAX)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(nvmm_vm_iocs); i++) {
		if (nvmm_vm_iocs[i].cmd == req->cmd)
			ioc = &nvmm_vm_iocs[i];
	}
	if (ioc == NULL)
		return -ENOTTY;
	if ((rv = nvmm_mach_get(s, req->machid, NVMM_USE_KVM, &m)) != 0)
		return rv;
	rv = ioc->fn(m, ioc->cmd, req->arg);
	nvmm_mach_put(m);
	return rv;
}
