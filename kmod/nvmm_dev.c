// SPDX-License-Identifier: GPL-2.0
/*
 * nvmm_dev.c: /dev/nvmm, the misc device: module load and unload, one
 * session per open, and the table of the gate's own ioctls.
 */

#include <linux/compat.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

#include "nvmm_priv.h"

/* -------------------------------------------------------------------------- */
/* Sessions. */

/* Where open(2) and its siblings carry their flags. */
static const struct {
	int nr;
	int arg;
	bool how;	/* the argument points to a struct open_how */
} nvmm_open_calls[] = {
	{ __NR_open, 1, false },
	{ __NR_openat, 2, false },
	{ __NR_openat2, 2, true },
};

/*
 * Did the open in progress ask for O_CLOEXEC?  The VFS strips that flag
 * from file->f_flags, so it is read from the system call's arguments.
 * Opens by other means (io_uring, the kernel, 32-bit callers, which the
 * ioctls do not serve anyway) count as without it.  openat2's flags are
 * read again from user memory: a caller racing itself there only defeats
 * its own safety net.
 */
static bool
nvmm_open_cloexec(void)
{
	struct pt_regs *regs = current_pt_regs();
	unsigned long args[6];
	u64 flags;
	size_t i;
	int nr;

	if ((current->flags & (PF_KTHREAD | PF_IO_WORKER)) ||
	    in_compat_syscall())
		return false;
	nr = syscall_get_nr(current, regs);
	syscall_get_arguments(current, regs, args);
	for (i = 0; i < ARRAY_SIZE(nvmm_open_calls); i++) {
		if (nvmm_open_calls[i].nr != nr)
			continue;
		flags = args[nvmm_open_calls[i].arg];
		if (nvmm_open_calls[i].how &&
		    (args[3] < sizeof(u64) ||
		    get_user(flags, (u64 __user *)args[2])))
			return false;
		return (flags & O_CLOEXEC) != 0;
	}
	return false;
}

/* Each open is a session; an open for write is a root session. */
static int
nvmm_dev_open(struct inode *inode, struct file *f)
{
	struct nvmm_session *s;

	if (!nvmm_open_cloexec())
		return -EINVAL;
	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (s == NULL)
		return -ENOMEM;
	s->root = (f->f_mode & FMODE_WRITE) != 0;
	INIT_LIST_HEAD(&s->machines);
	f->private_data = s;
	return 0;
}

/* The last close of a session destroys its machines. */
static int
nvmm_dev_release(struct inode *inode, struct file *f)
{
	struct nvmm_session *s = f->private_data;

	nvmm_session_close(s);
	kfree(s);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* CTL operations. */

static int
nvmm_ctl_mach_info(struct nvmm_session *s, void *buf, void __user *data)
{
	struct nvmm_kern_mach_info *info = buf;
	int error;

	if ((error = nvmm_mach_info(s, info)) != 0)
		return error;
	return copy_to_user(data, info, sizeof(*info)) ? -EFAULT : 0;
}

static int
nvmm_ctl_list(struct nvmm_session *s, void *buf, void __user *data)
{
	struct nvmm_kern_ctl_list *req = buf;
	struct nvmm_kern_mach_info *infos;
	u32 want;
	int n;

	if (req->rsvd != 0)
		return -EINVAL;
	want = min_t(u32, req->count, NVMM_KERN_MAX_MACHINES);
	infos = kcalloc(max_t(u32, want, 1), sizeof(*infos), GFP_KERNEL);
	if (infos == NULL)
		return -ENOMEM;
	n = nvmm_mach_list(s, infos, &want);
	req->count = want;
	if (copy_to_user((void __user *)(uintptr_t)req->infos, infos,
	    n * sizeof(*infos)) || copy_to_user(data, req, sizeof(*req)))
		n = -EFAULT;
	kfree(infos);
	return n;
}

/* A stats descriptor: reserved first, installed once the reply is out. */
static int
nvmm_ctl_stats(struct nvmm_session *s, void *buf, void __user *data)
{
	struct nvmm_kern_ctl_stats *req = buf;
	struct nvmm_mach *m;
	struct file *f;
	int fd, error;

	if ((error = nvmm_mach_get(s, req->machid, NVMM_USE_VIEW, &m)) != 0)
		return error;
	error = nvmm_kvm_stats_file(m, &f);
	nvmm_mach_put(m);
	if (error)
		return error;
	if ((fd = get_unused_fd_flags(O_CLOEXEC)) < 0) {
		fput(f);
		return fd;
	}
	req->fd = fd;
	if (copy_to_user(data, req, sizeof(*req))) {
		put_unused_fd(fd);
		fput(f);
		return -EFAULT;
	}
	fd_install(fd, f);
	return 0;
}

static const struct {
	u32 size;
	int (*fn)(struct nvmm_session *, void *, void __user *);
} nvmm_ctl_ops[] = {
	[NVMM_KERN_CTL_MACH_INFO] = {
		sizeof(struct nvmm_kern_mach_info), nvmm_ctl_mach_info },
	[NVMM_KERN_CTL_LIST] = {
		sizeof(struct nvmm_kern_ctl_list), nvmm_ctl_list },
	[NVMM_KERN_CTL_STATS] = {
		sizeof(struct nvmm_kern_ctl_stats), nvmm_ctl_stats },
};

/* -------------------------------------------------------------------------- */
/* The gate's ioctls, on a kernel copy of their argument. */

union nvmm_ioc_buf {
	struct nvmm_kern_cap cap;
	struct nvmm_kern_machine mach;
	struct nvmm_kern_vcpu vcpu;
	struct nvmm_kern_vm_ioctl vm;
	struct nvmm_kern_ctl ctl;
};

static long
nvmm_ioc_capability(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	struct nvmm_limits l;

	nvmm_limits_get(&l);
	memset(&b->cap, 0, sizeof(b->cap));
	b->cap.version = NVMM_KERN_ABI_VERSION;
	b->cap.flags = s->root ? NVMM_KERN_CAP_ROOT : 0;
	b->cap.max_machines = l.max_machines;
	b->cap.max_machines_uid = l.max_machines_uid;
	b->cap.max_vcpus = l.max_vcpus;
	b->cap.max_ram = l.max_ram;
	b->cap.max_host_ram = l.max_host_ram;
	return 0;
}

static long
nvmm_ioc_machine_create(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	memset(&b->mach, 0, sizeof(b->mach));
	return nvmm_mach_create(s, &b->mach.machid);
}

/* The caller cannot learn the new machine's id: it must not stay. */
static void
nvmm_ioc_machine_create_undo(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	nvmm_mach_destroy(s, b->mach.machid);
}

static long
nvmm_ioc_machine_destroy(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	if (b->mach.rsvd != 0)
		return -EINVAL;
	return nvmm_mach_destroy(s, b->mach.machid);
}

static long
nvmm_ioc_vcpu_create(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	struct nvmm_mach *m;
	long rv;

	if ((rv = nvmm_mach_get(s, b->vcpu.machid, NVMM_USE_KVM, &m)) != 0)
		return rv;
	rv = nvmm_mach_vcpu_create(m, b->vcpu.cpuid);
	nvmm_mach_put(m);
	return rv;
}

static long
nvmm_ioc_vm_ioctl(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	return nvmm_ioctl_vm(s, &b->vm);
}

static long
nvmm_ioc_ctl(struct nvmm_session *s, union nvmm_ioc_buf *b)
{
	union {
		struct nvmm_kern_mach_info info;
		struct nvmm_kern_ctl_list list;
		struct nvmm_kern_ctl_stats stats;
	} data;
	void __user *udata = (void __user *)(uintptr_t)b->ctl.data;

	if (b->ctl.op >= ARRAY_SIZE(nvmm_ctl_ops) ||
	    b->ctl.size != nvmm_ctl_ops[b->ctl.op].size)
		return -EINVAL;
	if (copy_from_user(&data, udata, b->ctl.size))
		return -EFAULT;
	return nvmm_ctl_ops[b->ctl.op].fn(s, &data, udata);
}

/*
 * The argument is copied in for _IOW, out for _IOR (after a successful
 * handler), both for _IOWR, by the size in the ioctl number.  When the
 * copy out fails, undo (if any) takes back what the handler did.
 */
static const struct {
	unsigned int cmd;
	long (*fn)(struct nvmm_session *, union nvmm_ioc_buf *);
	void (*undo)(struct nvmm_session *, union nvmm_ioc_buf *);
} nvmm_iocs[] = {
	{ NVMM_IOC_CAPABILITY,		nvmm_ioc_capability, NULL },
	{ NVMM_IOC_MACHINE_CREATE,	nvmm_ioc_machine_create,
	    nvmm_ioc_machine_create_undo },
	{ NVMM_IOC_MACHINE_DESTROY,	nvmm_ioc_machine_destroy, NULL },
	{ NVMM_IOC_VCPU_CREATE,		nvmm_ioc_vcpu_create, NULL },
	{ NVMM_IOC_VM_IOCTL,		nvmm_ioc_vm_ioctl, NULL },
	{ NVMM_IOC_CTL,			nvmm_ioc_ctl, NULL },
};

static long
nvmm_dev_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	union nvmm_ioc_buf b;
	size_t size = _IOC_SIZE(cmd), i;
	long rv;

	for (i = 0; i < ARRAY_SIZE(nvmm_iocs); i++) {
		if (nvmm_iocs[i].cmd == cmd)
			break;
	}
	if (i == ARRAY_SIZE(nvmm_iocs))
		return nvmm_ioctl_sys(cmd, arg);
	BUILD_BUG_ON(sizeof(b) > 64);
	if ((_IOC_DIR(cmd) & _IOC_WRITE) && copy_from_user(&b, uarg, size))
		return -EFAULT;
	rv = nvmm_iocs[i].fn(f->private_data, &b);
	if (rv >= 0 && (_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(uarg, &b, size)) {
		if (nvmm_iocs[i].undo != NULL)
			nvmm_iocs[i].undo(f->private_data, &b);
		return -EFAULT;
	}
	return rv;
}

static const struct file_operations nvmm_fops = {
	.owner = THIS_MODULE,
	.open = nvmm_dev_open,
	.release = nvmm_dev_release,
	.unlocked_ioctl = nvmm_dev_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice nvmm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "nvmm",
	.fops = &nvmm_fops,
	.mode = 0660,
};

/* -------------------------------------------------------------------------- */
/* Load and unload; unload is refused while a session or machine exists. */

static int __init
nvmm_init(void)
{
	int error;

	if ((error = nvmm_mach_init()) != 0)
		return error;
	if ((error = nvmm_kvm_init()) != 0)
		goto fail_mach;
	if ((error = misc_register(&nvmm_misc)) != 0)
		goto fail_kvm;
	pr_info("nvmm: /dev/nvmm, ABI %u\n", NVMM_KERN_ABI_VERSION);
	return 0;

fail_kvm:
	nvmm_kvm_exit();
fail_mach:
	nvmm_mach_exit();
	return error;
}

static void __exit
nvmm_exit(void)
{
	misc_deregister(&nvmm_misc);
	nvmm_mach_exit();
	nvmm_kvm_exit();
}

module_init(nvmm_init);
module_exit(nvmm_exit);

MODULE_DESCRIPTION("NVMM-style gate in front of KVM: /dev/nvmm");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("the vmm project");
