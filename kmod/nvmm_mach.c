// SPDX-License-Identifier: GPL-2.0
/*
 * nvmm_mach.c: the host-wide machine registry: ids, ownership, the limits
 * on machines, vcpus and guest RAM, and the end of a machine (destroy,
 * session close, owner exit).
 *
 * Locking: nvmm_lock protects the id table, nvmm_all, every session's
 * list, nvmm_host_ram and each machine's nram.  A machine's own lock
 * serializes its accounted KVM calls (vcpus, memory slots) and is taken
 * before nvmm_lock, never after.  Lookups by id run under RCU and take a
 * reference.  Nothing that can end an address space (mmput) or wait for
 * MMU notifiers runs under nvmm_lock: the notifier's release takes it.
 */

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "nvmm_priv.h"

static DEFINE_MUTEX(nvmm_lock);
/* id -> machine; NULL while the machine is being created. */
static DEFINE_IDR(nvmm_machs);
/* Every machine that counts against the limits, created or in creation. */
static LIST_HEAD(nvmm_all);
static u64 nvmm_host_ram;
static struct workqueue_struct *nvmm_wq;

int
nvmm_mach_init(void)
{
	nvmm_wq = alloc_workqueue("nvmm", 0, 0);
	return nvmm_wq != NULL ? 0 : -ENOMEM;
}

/*
 * At unload no machine is linked (each holds a module reference): wait for
 * the teardown of the last ones and for MMU notifier calls still running.
 */
void
nvmm_mach_exit(void)
{
	destroy_workqueue(nvmm_wq);
	mmu_notifier_synchronize();
	idr_destroy(&nvmm_machs);
}

/* -------------------------------------------------------------------------- */
/* Lifetime. */

/* The last reference: stop watching the owner, drop the VM, free. */
static void
nvmm_mach_free(struct kref *ref)
{
	struct nvmm_mach *m = container_of(ref, struct nvmm_mach, ref);

	mmu_notifier_unregister(&m->mn, m->mm);
	fput(m->vm);
	put_pid(m->pid);
	xa_destroy(&m->slots);
	mutex_destroy(&m->lock);
	kfree_rcu(m, rcu);
}

void
nvmm_mach_put(struct nvmm_mach *m)
{
	kref_put(&m->ref, nvmm_mach_free);
}

/*
 * Take m out of the registry: no lookup finds it, its quota is free.
 * nvmm_lock held.  Returns false if it was out already (each machine is
 * unlinked once, by destroy, session close or owner exit).
 */
static bool
nvmm_mach_unlink(struct nvmm_mach *m)
{
	lockdep_assert_held(&nvmm_lock);
	if (test_and_set_bit(NVMM_MACH_UNLINKED, &m->flags))
		return false;
	idr_remove(&nvmm_machs, m->id);
	list_del(&m->all_entry);
	list_del_init(&m->s_entry);
	nvmm_host_ram -= m->nram;
	return true;
}

/* After a successful unlink, outside nvmm_lock: kill the VM, drop m. */
static void
nvmm_mach_retire(struct nvmm_mach *m)
{
	nvmm_kvm_kill(m->vm);
	module_put(THIS_MODULE);
	nvmm_mach_put(m);
}

static void
nvmm_mach_reap(struct work_struct *work)
{
	nvmm_mach_put(container_of(work, struct nvmm_mach, reap));
}

/*
 * The owner's address space is going (its last thread exited; a forked
 * child may still hold the session).  Its machines go with it.  The final
 * put unregisters this notifier, which cannot happen from inside it: a
 * work item does it.
 */
static void
nvmm_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct nvmm_mach *m = container_of(mn, struct nvmm_mach, mn);
	bool unlinked;

	mutex_lock(&nvmm_lock);
	unlinked = nvmm_mach_unlink(m);
	mutex_unlock(&nvmm_lock);
	if (!unlinked)
		return;
	queue_work(nvmm_wq, &m->reap);
	module_put(THIS_MODULE);
}

static const struct mmu_notifier_ops nvmm_mn_ops = {
	.release = nvmm_mn_release,
};

/* -------------------------------------------------------------------------- */
/* Ownership. */

static bool
nvmm_mach_own(const struct nvmm_session *s, const struct nvmm_mach *m)
{
	return m->session == s && m->mm == current->mm;
}

/*
 * May session s use m so?  Viewing (info, stats, destroy) is for the owner
 * and root sessions; KVM calls need the owner's address space as well, for
 * KVM serves no other.
 */
static bool
nvmm_mach_allowed(const struct nvmm_session *s, const struct nvmm_mach *m,
    enum nvmm_use use)
{
	if (use == NVMM_USE_KVM && m->mm != current->mm)
		return false;
	return s->root || nvmm_mach_own(s, m);
}

/*
 * Machine id for session s, with a reference in *mp.  -ENOENT: no such
 * machine; -EPERM: not one s may use so.
 */
int
nvmm_mach_get(struct nvmm_session *s, u32 id, enum nvmm_use use,
    struct nvmm_mach **mp)
{
	struct nvmm_mach *m;
	int error = -ENOENT;

	if (id >= NVMM_KERN_MAX_MACHINES)
		return -ENOENT;
	rcu_read_lock();
	m = idr_find(&nvmm_machs, id);
	if (m == NULL || test_bit(NVMM_MACH_UNLINKED, &m->flags))
		goto out;
	error = -EPERM;
	if (!nvmm_mach_allowed(s, m, use))
		goto out;
	error = -ENOENT;
	if (!kref_get_unless_zero(&m->ref))
		goto out;
	*mp = m;
	error = 0;
out:
	rcu_read_unlock();
	return error;
}

/* -------------------------------------------------------------------------- */
/* Creation and destruction. */

/* Room for one more machine of uid?  nvmm_lock held.  0 or -ENOBUFS. */
static int
nvmm_quota_machine(kuid_t uid)
{
	struct nvmm_limits l;
	struct nvmm_mach *m;
	u32 n = 0, nuid = 0;

	nvmm_limits_get(&l);
	list_for_each_entry(m, &nvmm_all, all_entry) {
		n++;
		if (uid_eq(m->uid, uid))
			nuid++;
	}
	if (n >= l.max_machines || nuid >= l.max_machines_uid)
		return -ENOBUFS;
	return 0;
}

static struct nvmm_mach *
nvmm_mach_alloc(struct nvmm_session *s)
{
	struct nvmm_mach *m;

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (m == NULL)
		return NULL;
	kref_init(&m->ref);
	mutex_init(&m->lock);
	xa_init(&m->slots);
	INIT_WORK(&m->reap, nvmm_mach_reap);
	INIT_LIST_HEAD(&m->s_entry);
	m->session = s;
	m->mm = current->mm;
	m->mn.ops = &nvmm_mn_ops;
	m->pid = get_pid(task_tgid(current));
	m->uid = current_euid();
	m->ctime = ktime_get_real_seconds();
	return m;
}

/* Reserve an id and a place in the limits for m.  0 or a negative errno. */
static int
nvmm_mach_reserve(struct nvmm_mach *m)
{
	int id, error;

	mutex_lock(&nvmm_lock);
	if ((error = nvmm_quota_machine(m->uid)) != 0)
		goto out;
	id = idr_alloc(&nvmm_machs, NULL, 0, NVMM_KERN_MAX_MACHINES,
	    GFP_KERNEL);
	if (id < 0) {
		error = id == -ENOSPC ? -ENOBUFS : id;
		goto out;
	}
	m->id = id;
	list_add_tail(&m->all_entry, &nvmm_all);
out:
	mutex_unlock(&nvmm_lock);
	return error;
}

/*
 * MACHINE_CREATE: a KVM VM owned by the calling process, linked to session
 * s.  The id and the quota are taken first: a VM is costly to make and to
 * throw away.  Returns 0 with the id in *id, or a negative errno.
 */
int
nvmm_mach_create(struct nvmm_session *s, u32 *id)
{
	struct nvmm_mach *m;
	int error;

	if (current->mm == NULL)
		return -EINVAL;
	if ((m = nvmm_mach_alloc(s)) == NULL)
		return -ENOMEM;
	if ((error = nvmm_mach_reserve(m)) != 0)
		goto fail_alloc;
	if ((error = nvmm_kvm_create_vm(current->mm, &m->vm)) != 0)
		goto fail_reserve;
	if ((error = mmu_notifier_register(&m->mn, current->mm)) != 0)
		goto fail_vm;
	__module_get(THIS_MODULE);	/* dropped when m is unlinked */
	mutex_lock(&nvmm_lock);
	list_add_tail(&m->s_entry, &s->machines);
	idr_replace(&nvmm_machs, m, m->id);
	mutex_unlock(&nvmm_lock);
	*id = m->id;
	return 0;

fail_vm:
	fput(m->vm);
fail_reserve:
	mutex_lock(&nvmm_lock);
	idr_remove(&nvmm_machs, m->id);
	list_del(&m->all_entry);
	mutex_unlock(&nvmm_lock);
fail_alloc:
	put_pid(m->pid);
	kfree(m);
	return error;
}

/* MACHINE_DESTROY: by its owner or a root session.  0 or a negative errno. */
int
nvmm_mach_destroy(struct nvmm_session *s, u32 id)
{
	struct nvmm_mach *m;
	bool unlinked;
	int error;

	if ((error = nvmm_mach_get(s, id, NVMM_USE_VIEW, &m)) != 0)
		return error;
	mutex_lock(&nvmm_lock);
	unlinked = nvmm_mach_unlink(m);
	mutex_unlock(&nvmm_lock);
	if (unlinked)
		nvmm_mach_retire(m);
	nvmm_mach_put(m);
	return unlinked ? 0 : -ENOENT;
}

/* The session is closing: destroy every machine it owns. */
void
nvmm_session_close(struct nvmm_session *s)
{
	struct nvmm_mach *m, *n;
	LIST_HEAD(dead);

	mutex_lock(&nvmm_lock);
	list_for_each_entry_safe(m, n, &s->machines, s_entry) {
		nvmm_mach_unlink(m);
		list_add_tail(&m->s_entry, &dead);
	}
	mutex_unlock(&nvmm_lock);
	list_for_each_entry_safe(m, n, &dead, s_entry) {
		list_del_init(&m->s_entry);
		nvmm_mach_retire(m);
	}
}

/* -------------------------------------------------------------------------- */
/* Accounting of vcpus and guest RAM. */

/*
 * KVM_CREATE_VCPU on m, for its owner: one more vcpu unless m has the
 * most allowed (-ENOBUFS).  Returns the vcpu descriptor or a negative
 * errno.  KVM has no vcpu destruction: the count only grows.
 */
long
nvmm_mach_vcpu_create(struct nvmm_mach *m, unsigned long cpuid)
{
	struct nvmm_limits l;
	long fd;

	nvmm_limits_get(&l);
	mutex_lock(&m->lock);
	if (m->nvcpus >= l.max_vcpus) {
		fd = -ENOBUFS;
		goto out;
	}
	fd = nvmm_kvm_vm_ioctl(m->vm, KVM_CREATE_VCPU, cpuid);
	if (fd >= 0)
		WRITE_ONCE(m->nvcpus, m->nvcpus + 1);
out:
	mutex_unlock(&m->lock);
	return fd;
}

static u64
nvmm_slot_size(struct nvmm_mach *m, u32 slot)
{
	void *e = xa_load(&m->slots, slot);

	return e != NULL ? (u64)xa_to_value(e) << PAGE_SHIFT : 0;
}

/*
 * Move m's RAM from m->nram to nram, taking the growth from the host's
 * budget first.  m->lock held.  0 or -ENOBUFS.
 */
static int
nvmm_ram_reserve(struct nvmm_mach *m, u64 nram, const struct nvmm_limits *l)
{
	int error = 0;

	if (nram <= m->nram)
		return 0;
	mutex_lock(&nvmm_lock);
	if (l->max_host_ram != 0 &&
	    nvmm_host_ram + (nram - m->nram) > l->max_host_ram)
		error = -ENOBUFS;
	else
		nvmm_host_ram += nram - m->nram;
	mutex_unlock(&nvmm_lock);
	return error;
}

/*
 * Settle the host's budget after the KVM call: on success m has nram (a
 * shrink gives back the difference); on failure, or if m was unlinked
 * meanwhile (which gave back m->nram), the reserved growth goes back.
 */
static void
nvmm_ram_settle(struct nvmm_mach *m, u64 nram, bool ok)
{
	u64 grow = nram > m->nram ? nram - m->nram : 0;

	mutex_lock(&nvmm_lock);
	if (!ok || test_bit(NVMM_MACH_UNLINKED, &m->flags)) {
		nvmm_host_ram -= grow;
	} else {
		nvmm_host_ram -= m->nram + grow - nram;
		WRITE_ONCE(m->nram, nram);
	}
	mutex_unlock(&nvmm_lock);
}

/* Record slot's new size (0: gone) before the KVM call.  0 or -ENOMEM. */
static int
nvmm_slot_record(struct nvmm_mach *m, u32 slot, u64 size)
{
	if (size == 0)
		return 0;
	return xa_err(xa_store(&m->slots, slot, xa_mk_value(size >> PAGE_SHIFT),
	    GFP_KERNEL_ACCOUNT));
}

/* Make the slot table say old (or, with ok, size) again after the call. */
static void
nvmm_slot_settle(struct nvmm_mach *m, u32 slot, u64 old, u64 size, bool ok)
{
	u64 now = ok ? size : old;

	/* Replacing a present entry or erasing one never allocates. */
	if (now == 0)
		xa_erase(&m->slots, slot);
	else
		xa_store(&m->slots, slot, xa_mk_value(now >> PAGE_SHIFT),
		    GFP_KERNEL_ACCOUNT);
}

/*
 * KVM_SET_USER_MEMORY_REGION on m, for its owner, accounted against the
 * per-machine and host limits (-ENOBUFS).  KVM gets the region checked
 * here (a kernel copy), and KVM's slots are only ever changed so: the
 * table of slot sizes is KVM's.  Returns 0 or a negative errno.
 */
long
nvmm_mach_set_memory(struct nvmm_mach *m, unsigned long arg)
{
	struct kvm_userspace_memory_region r;
	struct nvmm_limits l;
	u64 old, nram;
	long error;

	if (copy_from_user(&r, (void __user *)arg, sizeof(r)))
		return -EFAULT;
	if (!nvmm_kvm_slot_ok(r.slot) || (r.memory_size & ~PAGE_MASK) != 0)
		return -EINVAL;
	nvmm_limits_get(&l);
	if (r.memory_size > l.max_ram)
		return -ENOBUFS;
	mutex_lock(&m->lock);
	old = nvmm_slot_size(m, r.slot);
	nram = m->nram - old + r.memory_size;
	error = -ENOBUFS;
	if (nram > l.max_ram)
		goto out;
	if ((error = nvmm_ram_reserve(m, nram, &l)) != 0)
		goto out;
	if ((error = nvmm_slot_record(m, r.slot, r.memory_size)) != 0) {
		nvmm_ram_settle(m, nram, false);
		goto out;
	}
	error = nvmm_kvm_set_memory(m->vm, &r);
	nvmm_slot_settle(m, r.slot, old, r.memory_size, error == 0);
	nvmm_ram_settle(m, nram, error == 0);
out:
	mutex_unlock(&m->lock);
	return error;
}

/* -------------------------------------------------------------------------- */
/* What root sessions (and owners) see. */

static void
nvmm_mach_fill(const struct nvmm_session *s, const struct nvmm_mach *m,
    struct nvmm_kern_mach_info *info)
{
	memset(info, 0, sizeof(*info));
	info->machid = m->id;
	info->nvcpus = READ_ONCE(m->nvcpus);
	info->nram = READ_ONCE(m->nram);
	info->pid = pid_vnr(m->pid);
	info->uid = from_kuid_munged(current_user_ns(), m->uid);
	info->time = m->ctime;
	info->flags = nvmm_mach_own(s, m) ? NVMM_KERN_MACH_OWN : 0;
}

/* CTL MACH_INFO: info->machid in, the rest out.  0 or a negative errno. */
int
nvmm_mach_info(struct nvmm_session *s, struct nvmm_kern_mach_info *info)
{
	struct nvmm_mach *m;
	int error;

	if ((error = nvmm_mach_get(s, info->machid, NVMM_USE_VIEW, &m)) != 0)
		return error;
	nvmm_mach_fill(s, m, info);
	nvmm_mach_put(m);
	return 0;
}

/*
 * CTL LIST: the machines s may see (all for root, its own otherwise), by
 * ascending id, at most *count of them into out.  *count becomes how many
 * there are; returns how many were written.
 */
int
nvmm_mach_list(struct nvmm_session *s, struct nvmm_kern_mach_info *out,
    u32 *count)
{
	struct nvmm_mach *m;
	u32 seen = 0;
	int id, n = 0;

	mutex_lock(&nvmm_lock);
	idr_for_each_entry(&nvmm_machs, m, id) {
		if (!s->root && !nvmm_mach_own(s, m))
			continue;
		if (seen++ < *count)
			nvmm_mach_fill(s, m, &out[n++]);
	}
	mutex_unlock(&nvmm_lock);
	*count = seen;
	return n;
}
