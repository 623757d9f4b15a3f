/*
 * backend_gate.c: the nvmm.ko backend.  libvmm talks to /dev/nvmm: system
 * ioctls pass the gate's allowlist, a machine is an id in the module (the
 * same id as the library's), VM ioctls go through NVMM_IOC_VM_IOCTL, and
 * each vcpu is a KVM vcpu descriptor that the run loop uses directly.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "../kmod/nvmm_kern.h"

static int
gate_ioctl(int fd, unsigned long req, void *arg)
{
	int rv;

	rv = ioctl(fd, req, arg);
	return rv == -1 ? -errno : rv;
}

/*
 * Open for write is a root session (the host-wide view), as on NetBSD.
 * The module must speak this ABI and KVM's.
 */
static int
gate_open(bool root)
{
	struct nvmm_kern_cap cap;
	int fd, error;

	fd = open(NVMM_KERN_DEVICE, (root ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if ((error = gate_ioctl(fd, NVMM_IOC_CAPABILITY, &cap)) < 0)
		goto fail;
	error = -EPROGMISMATCH;
	if (cap.version != NVMM_KERN_ABI_VERSION ||
	    ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		goto fail;
	return fd;

fail:
	close(fd);
	return error;
}

static int
gate_machine_create(int devfd, struct vmm_mach *m)
{
	struct nvmm_kern_machine km;
	int error;

	memset(&km, 0, sizeof(km));
	if ((error = gate_ioctl(devfd, NVMM_IOC_MACHINE_CREATE, &km)) < 0)
		return error;
	m->gate_id = km.machid;
	return 0;
}

static void
gate_machine_destroy(struct vmm_mach *m)
{
	struct nvmm_kern_machine km;

	memset(&km, 0, sizeof(km));
	km.machid = m->gate_id;
	(void)gate_ioctl(vmm_lib.devfd, NVMM_IOC_MACHINE_DESTROY, &km);
}

static int
gate_vm_ioctl(struct vmm_mach *m, unsigned long req, void *arg)
{
	struct nvmm_kern_vm_ioctl r;

	memset(&r, 0, sizeof(r));
	r.machid = m->gate_id;
	r.cmd = req;
	r.arg = (uintptr_t)arg;
	return gate_ioctl(vmm_lib.devfd, NVMM_IOC_VM_IOCTL, &r);
}

static int
gate_vcpu_create(struct vmm_mach *m, nvmm_cpuid_t cpuid)
{
	struct nvmm_kern_vcpu v;

	v.machid = m->gate_id;
	v.cpuid = cpuid;
	return gate_ioctl(vmm_lib.devfd, NVMM_IOC_VCPU_CREATE, &v);
}

/*
 * NVMM_CTL_MACH_INFO for a machine of another process: the module says
 * whether this session may see it (a root session sees every machine).
 */
static int
gate_mach_info(int devfd, struct nvmm_ctl_mach_info *info)
{
	struct nvmm_kern_mach_info ki;
	struct nvmm_kern_ctl ctl;
	int error;

	memset(&ki, 0, sizeof(ki));
	ki.machid = info->machid;
	ctl.op = NVMM_KERN_CTL_MACH_INFO;
	ctl.size = sizeof(ki);
	ctl.data = (uintptr_t)&ki;
	if ((error = gate_ioctl(devfd, NVMM_IOC_CTL, &ctl)) < 0)
		return error;
	info->nvcpus = ki.nvcpus;
	info->nram = ki.nram;
	info->pid = ki.pid;
	info->time = (time_t)ki.time;
	return 0;
}

const struct vmm_backend vmm_backend_gate = {
	.name = "gate",
	.host_ids = true,
	.open = gate_open,
	.sys_ioctl = gate_ioctl,
	.machine_create = gate_machine_create,
	.machine_destroy = gate_machine_destroy,
	.vm_ioctl = gate_vm_ioctl,
	.vcpu_create = gate_vcpu_create,
	.mach_info = gate_mach_info,
};
