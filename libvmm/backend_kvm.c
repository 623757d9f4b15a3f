/*
 * backend_kvm.c: the direct backend.  libvmm talks to /dev/kvm itself; every
 * machine is a KVM VM descriptor owned by this process.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

#define KVM_DEVICE	"/dev/kvm"

/*
 * The root view has no meaning for /dev/kvm (no one sees another process's
 * VMs), so both opens are the same; the device needs read and write.
 */
static int
kvm_open(bool root)
{
	int fd;

	(void)root;
	fd = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		close(fd);
		return -EPROGMISMATCH;
	}
	return fd;
}

static int
kvm_sys_ioctl(int devfd, unsigned long req, void *arg)
{
	int rv;

	rv = ioctl(devfd, req, arg);
	return rv == -1 ? -errno : rv;
}

static int
kvm_machine_create(int devfd, struct vmm_mach *m)
{
	int fd;

	fd = ioctl(devfd, KVM_CREATE_VM, 0);
	if (fd == -1)
		return -errno;
	m->vmfd = fd;	/* KVM gives VM descriptors O_CLOEXEC */
	return 0;
}

static void
kvm_machine_destroy(struct vmm_mach *m)
{
	if (m->vmfd != -1)
		close(m->vmfd);
	m->vmfd = -1;
}

static int
kvm_vm_ioctl(struct vmm_mach *m, unsigned long req, void *arg)
{
	int rv;

	rv = ioctl(m->vmfd, req, arg);
	return rv == -1 ? -errno : rv;
}

static int
kvm_vcpu_create(struct vmm_mach *m, nvmm_cpuid_t cpuid)
{
	int fd;

	fd = ioctl(m->vmfd, KVM_CREATE_VCPU, (unsigned long)cpuid);
	return fd == -1 ? -errno : fd;
}

/* Only this process's machines exist for the KVM backend. */
static int
kvm_mach_info(int devfd, struct nvmm_ctl_mach_info *info)
{
	(void)devfd;
	(void)info;
	return -ENOENT;
}

const struct vmm_backend vmm_backend_kvm = {
	.name = "kvm",
	.open = kvm_open,
	.sys_ioctl = kvm_sys_ioctl,
	.machine_create = kvm_machine_create,
	.machine_destroy = kvm_machine_destroy,
	.vm_ioctl = kvm_vm_ioctl,
	.vcpu_create = kvm_vcpu_create,
	.mach_info = kvm_mach_info,
};
