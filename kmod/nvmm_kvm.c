// SPDX-License-Identifier: GPL-2.0
/*
 * nvmm_kvm.c: the KVM side of the gate: /dev/kvm opened once at load, VM
 * files made in their owner's address space without ever being one of the
 * owner's descriptors, ioctls forwarded in the caller's context, a VM
 * killed when its machine goes.
 */

#include <linux/completion.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/kvm_host.h>
#include <linux/memcontrol.h>
#include <linux/miscdevice.h>
#include <linux/sched/mm.h>

#include "nvmm_priv.h"

#define NVMM_KVM_PATH	"/dev/kvm"

static struct file *nvmm_kvm_dev;

/*
 * Open /dev/kvm for the module's life.  This runs in the context of
 * whoever loads the module, never on behalf of a user of /dev/nvmm (who
 * could mount anything on /dev/kvm in a namespace of their own), and the
 * node must be KVM's misc device.  Holding it also pins kvm-amd/kvm-intel.
 */
int
nvmm_kvm_init(void)
{
	struct inode *inode;
	struct file *f;

	f = filp_open(NVMM_KVM_PATH, O_RDWR, 0);
	if (IS_ERR(f)) {
		pr_err("nvmm: %s: error %ld (kvm-amd or kvm-intel loaded?)\n",
		    NVMM_KVM_PATH, PTR_ERR(f));
		return PTR_ERR(f);
	}
	inode = file_inode(f);
	if (!S_ISCHR(inode->i_mode) || imajor(inode) != MISC_MAJOR ||
	    iminor(inode) != KVM_MINOR || f->f_op->unlocked_ioctl == NULL) {
		pr_err("nvmm: %s is not KVM's device\n", NVMM_KVM_PATH);
		filp_close(f, NULL);
		return -ENODEV;
	}
	nvmm_kvm_dev = f;
	return 0;
}

void
nvmm_kvm_exit(void)
{
	filp_close(nvmm_kvm_dev, NULL);
	nvmm_kvm_dev = NULL;
}

/* A system ioctl on /dev/kvm, in the caller's context (its pointers). */
long
nvmm_kvm_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	return nvmm_kvm_dev->f_op->unlocked_ioctl(nvmm_kvm_dev, cmd, arg);
}

/*
 * A VM ioctl, in the caller's context.  KVM itself refuses (EIO) a caller
 * whose address space is not the VM's, and any call on a killed VM.
 */
long
nvmm_kvm_vm_ioctl(struct file *vm, unsigned int cmd, unsigned long arg)
{
	return vm->f_op->unlocked_ioctl(vm, cmd, arg);
}

/* Is slot one that user space may set (not one of KVM's private ones)? */
bool
nvmm_kvm_slot_ok(u32 slot)
{
	return (u16)slot < KVM_USER_MEM_SLOTS;
}

/*
 * KVM_SET_USER_MEMORY_REGION from a kernel copy of the region, which the
 * caller has checked and accounted: KVM reads no user memory that could
 * change in between.  The caller's slot is one nvmm_kvm_slot_ok accepts.
 */
int
nvmm_kvm_set_memory(struct file *vm,
    const struct kvm_userspace_memory_region *r)
{
	return kvm_set_memory_region(vm->private_data, r);
}

/* Stop a VM for good: its vcpus and every later ioctl on it fail (EIO). */
void
nvmm_kvm_kill(struct file *vm)
{
	kvm_vm_dead(vm->private_data);
}

/*
 * KVM hands out VM and stats files only as descriptors of the calling
 * task.  To keep them out of the owner's descriptor table (where another
 * of its threads could dup them before they are taken back), the ioctl
 * runs in a kernel thread that borrows the owner's address space, so that
 * for KVM the owner is the caller (kvm->mm), and whose descriptor table is
 * the kernel's own.  The descriptor lives there only until close_fd below.
 */
struct nvmm_kcall {
	struct mm_struct *mm;	/* the owner's, alive for the call */
	struct file *vm;	/* NULL: KVM_CREATE_VM on /dev/kvm */
	unsigned int cmd;	/* else this ioctl on vm */
	struct file *out;
	int error;
	struct completion done;
};

static int
nvmm_kcall_file(struct nvmm_kcall *c)
{
	long fd;

	if (c->vm == NULL)
		fd = nvmm_kvm_sys_ioctl(KVM_CREATE_VM, 0);
	else
		fd = nvmm_kvm_vm_ioctl(c->vm, c->cmd, 0);
	if (fd < 0)
		return fd;
	c->out = fget(fd);
	close_fd(fd);
	return c->out != NULL ? 0 : -EBADF;
}

static int
nvmm_kcall_thread(void *arg)
{
	struct nvmm_kcall *c = arg;
	struct mem_cgroup *memcg, *old;

	kthread_use_mm(c->mm);
	/* KVM's allocations are charged to the owner's memory cgroup. */
	memcg = get_mem_cgroup_from_mm(c->mm);
	old = set_active_memcg(memcg);
	c->error = nvmm_kcall_file(c);
	set_active_memcg(old);
	mem_cgroup_put(memcg);
	kthread_unuse_mm(c->mm);
	kthread_complete_and_exit(&c->done, 0);
}

/* Run c in a kernel thread and wait for it.  0 or a negative errno. */
static int
nvmm_kcall(struct nvmm_kcall *c)
{
	struct task_struct *t;

	c->out = NULL;
	init_completion(&c->done);
	t = kthread_run(nvmm_kcall_thread, c, "nvmm-kvm");
	if (IS_ERR(t))
		return PTR_ERR(t);
	wait_for_completion(&c->done);
	return c->error;
}

/*
 * Create a KVM VM owned by mm (the caller's) and return its file in *vm,
 * with the only reference.  0 or a negative errno.
 */
int
nvmm_kvm_create_vm(struct mm_struct *mm, struct file **vm)
{
	struct nvmm_kcall c = { .mm = mm };
	struct kvm *kvm;
	int error;

	if ((error = nvmm_kcall(&c)) != 0)
		return error;
	if (!file_is_kvm(c.out)) {
		fput(c.out);
		return -EIO;
	}
	/*
	 * KVM named the VM's statistics after the thread that created it;
	 * name them after the owner, as if it had.  No stats file exists yet.
	 */
	kvm = c.out->private_data;
	snprintf(kvm->stats_id, sizeof(kvm->stats_id), "kvm-%d",
	    task_pid_nr(current));
	*vm = c.out;
	return 0;
}

/*
 * A new KVM binary stats file for m, whoever its owner is, in *file (one
 * reference).  -ESRCH when the owner's address space is already gone.
 */
int
nvmm_kvm_stats_file(struct nvmm_mach *m, struct file **file)
{
	struct nvmm_kcall c = {
		.mm = m->mm, .vm = m->vm, .cmd = KVM_GET_STATS_FD,
	};
	int error;

	if (!mmget_not_zero(m->mm))
		return -ESRCH;
	error = nvmm_kcall(&c);
	mmput(m->mm);
	if (error)
		return error;
	*file = c.out;
	return 0;
}
