/*
 * libnvmm.c: the machine-independent front end of libnvmm(3): the device,
 * capabilities, the machine table, vcpu bookkeeping and guest memory.
 * Public calls return 0, or -1 with errno set; internal ones return 0 or a
 * negative errno.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm_cpu.h"

#define PAGE_MASK	(VMM_PAGE_SIZE - 1)
#define CPUID_MAX_ENT	512

struct vmm_lib vmm_lib = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.devfd = -1,
};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
lib_lock(void)
{
	pthread_mutex_lock(&vmm_lib.lock);
}

static void
lib_unlock(void)
{
	pthread_mutex_unlock(&vmm_lib.lock);
}

/* Set errno from a negative internal error and return -1. */
static int
fail(int error)
{
	errno = -error;
	return -1;
}

/*
 * A forked child shares nothing with KVM's view of the parent's VMs (KVM
 * refuses a VM to any other process), so the child marks them foreign:
 * every call on them fails with EPERM, never a crash.
 */
static void
atfork_child(void)
{
	unsigned int i;

	pthread_mutex_init(&vmm_lib.lock, NULL);
	for (i = 0; i < VMM_MAX_MACHINES; i++) {
		if (vmm_lib.machs[i].used)
			vmm_lib.machs[i].foreign = true;
	}
}

static void
atfork_setup(void)
{
	pthread_atfork(lib_lock, lib_unlock, atfork_child);
}

/* -------------------------------------------------------------------------- */
/* Initialization and capabilities. */

static const struct vmm_backend *const backends[] = {
	&vmm_backend_gate,
	&vmm_backend_kvm,
};

/*
 * The backend: the one LIBVMM_BACKEND names, else the gate when nvmm.ko's
 * device exists, else KVM directly.  NULL for an unknown name.
 */
static const struct vmm_backend *
backend_pick(void)
{
	const char *want;
	size_t i;

	want = secure_getenv("LIBVMM_BACKEND");
	if (want == NULL || *want == '\0')
		return access("/dev/nvmm", F_OK) == 0 ? &vmm_backend_gate :
		    &vmm_backend_kvm;
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i]->name, want) == 0)
			return backends[i];
	}
	return NULL;
}

/* The host's MXCSR mask, from an FXSAVE image (0 means the default). */
static uint32_t
host_mxcsr_mask(void)
{
	struct fxsave fx __attribute__((__aligned__(16)));

	memset(&fx, 0, sizeof(fx));
	__asm__ volatile("fxsave %0" : "=m"(fx));
	return fx.fx_mxcsr_mask != 0 ? fx.fx_mxcsr_mask : 0xFFBF;
}

static uint32_t
cpuid_reg(const struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index, int reg)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == leaf && e->index == index)
			return reg == 0 ? e->eax : reg == 1 ? e->ebx :
			    reg == 2 ? e->ecx : e->edx;
	}
	return 0;
}

/*
 * The CPUID table every vcpu starts from: what KVM supports, with NVMM's
 * hypervisor leaf in place of KVM's paravirtual leaves.
 */
static int
cpuid_load(int devfd)
{
	struct kvm_cpuid2 *c;
	uint32_t i, n;
	int error;

	c = calloc(1, sizeof(*c) + CPUID_MAX_ENT * sizeof(c->entries[0]));
	if (c == NULL)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENT;
	error = vmm_lib.be->sys_ioctl(devfd, KVM_GET_SUPPORTED_CPUID, c);
	if (error < 0) {
		free(c);
		return error;
	}
	for (i = n = 0; i < c->nent; i++) {
		if ((c->entries[i].function & 0xFFFF0000) != 0x40000000)
			c->entries[n++] = c->entries[i];
	}
	c->nent = n;
	memset(&c->entries[n], 0, sizeof(c->entries[n]));
	c->entries[n].function = 0x40000000;
	c->entries[n].eax = 0x40000000;
	memcpy(&c->entries[n].ebx, "___ ", 4);
	memcpy(&c->entries[n].ecx, "NVMM", 4);
	memcpy(&c->entries[n].edx, " ___", 4);
	c->nent++;
	for (i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 1)
			c->entries[i].ecx |= 1U << 31;	/* hypervisor */
	}
	vmm_lib.cpuid = c;
	return 0;
}

static int
cap_load(int devfd)
{
	struct nvmm_capability *cap = &vmm_lib.cap;
	uint32_t physbits;
	int n;

	memset(cap, 0, sizeof(*cap));
	cap->version = NVMM_KERN_VERSION;
	cap->state_size = sizeof(struct nvmm_x64_state);
	cap->max_machines = VMM_MAX_MACHINES;
	n = vmm_lib.be->sys_ioctl(devfd, KVM_CHECK_EXTENSION,
	    (void *)(uintptr_t)KVM_CAP_MAX_VCPUS);
	cap->max_vcpus = n > 0 && n < VMM_MAX_VCPUS ? (uint32_t)n :
	    VMM_MAX_VCPUS;
	physbits = cpuid_reg(vmm_lib.cpuid, 0x80000008, 0, 0) & 0xFF;
	if (physbits < 32 || physbits > 52)
		physbits = 36;
	cap->max_ram = 1ULL << physbits;
	cap->arch.mach_conf_support = 0;
	cap->arch.vcpu_conf_support = NVMM_CAP_ARCH_VCPU_CONF_CPUID |
	    NVMM_CAP_ARCH_VCPU_CONF_TPR;
	cap->arch.xcr0_mask = cpuid_reg(vmm_lib.cpuid, 0xD, 0, 0) |
	    ((uint64_t)cpuid_reg(vmm_lib.cpuid, 0xD, 0, 3) << 32) | 1;
	cap->arch.mxcsr_mask = host_mxcsr_mask();
	cap->arch.conf_cpuid_maxops = VMM_MAX_CPUID_CONF;
	return 0;
}

/* Open the device and learn what it can do.  Lock held.  0 or -errno. */
static int
lib_open(bool root)
{
	int fd, error;

	if (vmm_lib.devfd != -1)
		return 0;
	pthread_once(&atfork_once, atfork_setup);
	if ((vmm_lib.be = backend_pick()) == NULL)
		return -EINVAL;
	if ((fd = vmm_lib.be->open(root)) < 0)
		return fd;
	error = vmm_lib.be->sys_ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (error < 0)
		goto fail;
	vmm_lib.run_size = error;
	if ((error = cpuid_load(fd)) != 0)
		goto fail;
	if ((error = cap_load(fd)) != 0)
		goto fail_cpuid;
	if (vmm_lib.cap.version != NVMM_KERN_VERSION) {
		error = -EPROGMISMATCH;
		goto fail_cpuid;
	}
	vmm_lib.devfd = fd;
	vmm_lib.root = root;
	return 0;

fail_cpuid:
	free(vmm_lib.cpuid);
	vmm_lib.cpuid = NULL;
fail:
	close(fd);
	return error;
}

static int
lib_init(bool root)
{
	int error;

	lib_lock();
	error = lib_open(root);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

NVMM_EXPORT int
nvmm_init(void)
{
	return lib_init(false);
}

NVMM_EXPORT int
nvmm_root_init(void)
{
	return lib_init(true);
}

NVMM_EXPORT int
nvmm_capability(struct nvmm_capability *cap)
{
	if (vmm_lib.devfd == -1)
		return fail(-EBADF);
	*cap = vmm_lib.cap;
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Lookups. */

/*
 * The library's machine behind mach, or NULL with *error set to a positive
 * errno: ENOENT for no such machine, EPERM for one inherited across fork.
 */
struct vmm_mach *
vmm_mach_get(struct nvmm_machine *mach, int *error)
{
	struct vmm_mach *m;

	if (mach == NULL || mach->machid >= VMM_MAX_MACHINES ||
	    !vmm_lib.machs[mach->machid].used) {
		*error = ENOENT;
		return NULL;
	}
	m = &vmm_lib.machs[mach->machid];
	if (m->foreign) {
		*error = EPERM;
		return NULL;
	}
	return m;
}

/* The private vcpu behind (mach, vcpu), or NULL with *error set (ENOENT). */
struct vmm_cpu *
vmm_cpu_get(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu, int *error)
{
	struct vmm_mach *m;
	struct vmm_cpu *cpu;

	if ((m = vmm_mach_get(mach, error)) == NULL)
		return NULL;
	if (vcpu == NULL || vcpu->cpuid >= VMM_MAX_VCPUS ||
	    (cpu = m->cpus[vcpu->cpuid]) == NULL || cpu->retired) {
		*error = ENOENT;
		return NULL;
	}
	return cpu;
}

/* -------------------------------------------------------------------------- */
/* Machines. */

/*
 * Free a machine's slot; ours says whether the machine is this process's
 * to destroy (not one inherited across fork).
 */
static void
mach_release(struct vmm_mach *m, bool ours)
{
	unsigned int i;

	for (i = 0; i < VMM_MAX_VCPUS; i++) {
		if (m->cpus[i] != NULL)
			kvm_cpu_destroy(m, m->cpus[i], true);
	}
	if (ours)
		vmm_lib.be->machine_destroy(m);
	free(m->areas);
	memset(m, 0, sizeof(*m));
	m->vmfd = -1;
}

/*
 * Settings every machine gets: unknown MSRs exit to user space (NVMM's
 * RDMSR/WRMSR exits); no special case for OUT to port 0x7E (an old KVM
 * quirk moves RIP past that one OUT only); and the TSS area KVM needs for
 * real mode on VMX without unrestricted guest, where QEMU also puts it.
 */
static void
mach_setup(struct vmm_mach *m)
{
	struct kvm_enable_cap ec;
	int n;

	memset(&ec, 0, sizeof(ec));
	ec.cap = KVM_CAP_X86_USER_SPACE_MSR;
	ec.args[0] = KVM_MSR_EXIT_REASON_UNKNOWN;
	(void)vmm_lib.be->vm_ioctl(m, KVM_ENABLE_CAP, &ec);
	memset(&ec, 0, sizeof(ec));
	ec.cap = KVM_CAP_DISABLE_QUIRKS;
	ec.args[0] = KVM_X86_QUIRK_OUT_7E_INC_RIP;
	(void)vmm_lib.be->vm_ioctl(m, KVM_ENABLE_CAP, &ec);
	(void)vmm_lib.be->vm_ioctl(m, KVM_SET_TSS_ADDR,
	    (void *)(uintptr_t)0xFFFBD000);
	n = vmm_lib.be->vm_ioctl(m, KVM_CHECK_EXTENSION,
	    (void *)(uintptr_t)KVM_CAP_NR_MEMSLOTS);
	m->nslots = n > 0 ? (uint32_t)n : 32;
}

/*
 * With host-wide ids (the gate), move the new machine *mp from slot *ip to
 * the slot of the id the device gave it.  A machine still filed there was
 * inherited across fork and is gone (the device reuses only free ids): it
 * is forgotten.  Lock held.  0 or a negative errno (the machine destroyed).
 */
static int
mach_place(struct vmm_mach **mp, unsigned int *ip)
{
	struct vmm_mach *m = *mp, *to;
	unsigned int id = m->gate_id;

	if (!vmm_lib.be->host_ids || id == *ip)
		return 0;
	if (id >= VMM_MAX_MACHINES) {
		vmm_lib.be->machine_destroy(m);
		return -ENOBUFS;
	}
	to = &vmm_lib.machs[id];
	if (to->used)
		mach_release(to, false);
	*to = *m;
	memset(m, 0, sizeof(*m));
	m->vmfd = -1;
	*mp = to;
	*ip = id;
	return 0;
}

NVMM_EXPORT int
nvmm_machine_create(struct nvmm_machine *mach)
{
	struct nvmm_comm_page **pages;
	struct vmm_mach *m = NULL;
	unsigned int i;
	int error;

	if (vmm_lib.devfd == -1)
		return fail(-EBADF);
	pages = calloc(VMM_MAX_VCPUS, sizeof(*pages));
	if (pages == NULL)
		return fail(-ENOMEM);
	lib_lock();
	for (i = 0; i < VMM_MAX_MACHINES; i++) {
		if (!vmm_lib.machs[i].used) {
			m = &vmm_lib.machs[i];
			break;
		}
	}
	error = -ENOBUFS;
	if (m == NULL)
		goto fail;
	memset(m, 0, sizeof(*m));
	m->vmfd = -1;
	if ((error = vmm_lib.be->machine_create(vmm_lib.devfd, m)) != 0 ||
	    (error = mach_place(&m, &i)) != 0)
		goto fail;
	mach_setup(m);
	m->used = true;
	m->pid = getpid();
	m->time = time(NULL);
	lib_unlock();

	memset(mach, 0, sizeof(*mach));
	mach->machid = i;
	mach->pages = pages;
	mach->areas = m;
	return 0;

fail:
	lib_unlock();
	free(pages);
	return fail(error);
}

NVMM_EXPORT int
nvmm_machine_destroy(struct nvmm_machine *mach)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL) {
		lib_unlock();
		return fail(-error);
	}
	mach_release(m, true);
	lib_unlock();
	free(mach->pages);
	mach->pages = NULL;
	mach->areas = NULL;
	return 0;
}

/* The libvmm machine extensions (nvmm.h); KVM does the checking. */
static int
mach_conf_vmm(struct vmm_mach *m, uint64_t op, void *conf)
{
	const struct nvmm_vmm_conf_irqchip *ic = conf;
	const struct nvmm_vmm_conf_irq_line *il = conf;
	const struct nvmm_vmm_conf_irqfd *ifd = conf;
	const struct nvmm_vmm_conf_ioeventfd *ioe = conf;
	struct nvmm_vmm_conf_stats *st = conf;
	struct kvm_pit_config pit;
	struct kvm_irq_level level;
	struct kvm_ioeventfd kioe;
	struct kvm_irqfd kifd;
	unsigned int i;
	int error;

	switch (op) {
	case NVMM_MACH_CONF_VMM_IRQCHIP:
		/* KVM wants it before any vcpu, retired ones included. */
		for (i = 0; i < VMM_MAX_VCPUS; i++) {
			if (m->cpus[i] != NULL)
				return -EBUSY;
		}
		if ((error = vmm_lib.be->vm_ioctl(m, KVM_CREATE_IRQCHIP,
		    NULL)) < 0)
			return error;
		m->irqchip = true;
		if (!ic->pit)
			return 0;
		memset(&pit, 0, sizeof(pit));
		pit.flags = KVM_PIT_SPEAKER_DUMMY;
		error = vmm_lib.be->vm_ioctl(m, KVM_CREATE_PIT2, &pit);
		return error < 0 ? error : 0;
	case NVMM_MACH_CONF_VMM_IRQ_LINE:
		memset(&level, 0, sizeof(level));
		level.irq = il->irq;
		level.level = il->level;
		error = vmm_lib.be->vm_ioctl(m, KVM_IRQ_LINE, &level);
		return error < 0 ? error : 0;
	case NVMM_MACH_CONF_VMM_IRQFD:
		memset(&kifd, 0, sizeof(kifd));
		kifd.fd = (uint32_t)ifd->fd;
		kifd.gsi = ifd->gsi;
		kifd.flags = ifd->deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
		error = vmm_lib.be->vm_ioctl(m, KVM_IRQFD, &kifd);
		return error < 0 ? error : 0;
	case NVMM_MACH_CONF_VMM_IOEVENTFD:
		memset(&kioe, 0, sizeof(kioe));
		kioe.fd = ioe->fd;
		kioe.addr = ioe->addr;
		kioe.len = ioe->len;
		kioe.datamatch = ioe->datamatch;
		kioe.flags = (ioe->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
		    (ioe->match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
		    (ioe->deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
		error = vmm_lib.be->vm_ioctl(m, KVM_IOEVENTFD, &kioe);
		return error < 0 ? error : 0;
	case NVMM_MACH_CONF_VMM_STATS:
		error = vmm_lib.be->vm_ioctl(m, KVM_GET_STATS_FD, NULL);
		if (error < 0)
			return error;
		st->fd = error;
		return 0;
	default:
		/* NetBSD's x86 has no machine configuration at all. */
		return -EINVAL;
	}
}

NVMM_EXPORT int
nvmm_machine_configure(struct nvmm_machine *mach, uint64_t op, void *conf)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL)
		error = -error;
	else if (conf == NULL)
		error = -EINVAL;
	else
		error = mach_conf_vmm(m, op, conf);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

/* -------------------------------------------------------------------------- */
/* VCPUs. */

NVMM_EXPORT int
nvmm_vcpu_create(struct nvmm_machine *mach, nvmm_cpuid_t cpuid,
    struct nvmm_vcpu *vcpu)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL) {
		error = -error;
		goto out;
	}
	error = -EINVAL;
	if (cpuid >= vmm_lib.cap.max_vcpus || vcpu == NULL)
		goto out;
	error = -EBUSY;
	if (m->cpus[cpuid] != NULL && !m->cpus[cpuid]->retired)
		goto out;
	if ((error = kvm_cpu_create(m, cpuid, vcpu)) != 0)
		goto out;
	m->ncpus++;
	mach->pages[cpuid] = &m->cpus[cpuid]->comm->pub;
out:
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

NVMM_EXPORT int
nvmm_vcpu_destroy(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct vmm_mach *m;
	struct vmm_cpu *cpu;
	int error;

	lib_lock();
	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL) {
		lib_unlock();
		return fail(-error);
	}
	m = &vmm_lib.machs[mach->machid];
	kvm_cpu_destroy(m, cpu, false);
	m->ncpus--;
	mach->pages[vcpu->cpuid] = NULL;
	free(cpu->exit);
	cpu->exit = NULL;
	lib_unlock();
	vcpu->exit = NULL;
	vcpu->state = NULL;
	vcpu->event = NULL;
	vcpu->stop = NULL;
	return 0;
}

NVMM_EXPORT int
nvmm_vcpu_configure(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t op, void *conf)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		return fail(-error);
	if (op == NVMM_VCPU_CONF_CALLBACKS) {
		/* Library-only: the kernel never sees it. */
		if (conf == NULL)
			return fail(-EINVAL);
		memcpy(&vcpu->cbs, conf, sizeof(vcpu->cbs));
		return 0;
	}
	if (op < NVMM_VCPU_CONF_MD_BEGIN)
		return fail(-EINVAL);
	error = kvm_cpu_configure(&vmm_lib.machs[mach->machid], cpu, op, conf);
	return error != 0 ? fail(error) : 0;
}

NVMM_EXPORT int
nvmm_vcpu_setstate(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t flags)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		return fail(-error);
	kvm_cpu_setstate(cpu, flags);
	return 0;
}

NVMM_EXPORT int
nvmm_vcpu_getstate(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    uint64_t flags)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		return fail(-error);
	error = kvm_cpu_getstate(cpu, flags);
	return error != 0 ? fail(error) : 0;
}

NVMM_EXPORT int
nvmm_vcpu_inject(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		return fail(-error);
	kvm_cpu_inject(cpu);
	return 0;
}

NVMM_EXPORT int
nvmm_vcpu_run(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		return fail(-error);
	error = kvm_cpu_run(&vmm_lib.machs[mach->machid], cpu, mach, vcpu);
	return error != 0 ? fail(error) : 0;
}

/* Async-signal-safe: no lock, no allocation, errno only on misuse. */
NVMM_EXPORT int
nvmm_vcpu_stop(struct nvmm_vcpu *vcpu)
{
	if (vcpu == NULL || vcpu->stop == NULL) {
		errno = EINVAL;
		return -1;
	}
	kvm_cpu_stop(vcpu);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Memory. */

static bool
range_ok(uintptr_t a, size_t size)
{
	return size != 0 && (a & PAGE_MASK) == 0 && (size & PAGE_MASK) == 0 &&
	    a + size > a;
}

static int
hva_map(struct vmm_mach *m, uintptr_t hva, size_t size)
{
	unsigned int i;

	if (!range_ok(hva, size) || hva == 0)
		return -EINVAL;
	for (i = 0; i < m->nhmaps; i++) {
		if (hva < m->hmaps[i].hva + m->hmaps[i].size &&
		    m->hmaps[i].hva < hva + size)
			return -EEXIST;
	}
	if (m->nhmaps == VMM_MAX_HMAPPINGS)
		return -ENOBUFS;
	m->hmaps[m->nhmaps].hva = hva;
	m->hmaps[m->nhmaps].size = size;
	m->nhmaps++;
	return 0;
}

static int
hva_unmap(struct vmm_mach *m, uintptr_t hva, size_t size)
{
	unsigned int i;

	for (i = 0; i < m->nhmaps; i++) {
		if (m->hmaps[i].hva == hva && m->hmaps[i].size == size) {
			m->hmaps[i] = m->hmaps[--m->nhmaps];
			return 0;
		}
	}
	return -ENOENT;
}

NVMM_EXPORT int
nvmm_hva_map(struct nvmm_machine *mach, uintptr_t hva, size_t size)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL)
		error = -error;
	else
		error = hva_map(m, hva, size);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

NVMM_EXPORT int
nvmm_hva_unmap(struct nvmm_machine *mach, uintptr_t hva, size_t size)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL)
		error = -error;
	else
		error = hva_unmap(m, hva, size);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

/* The lowest KVM memory slot no area uses, or -ENOBUFS. */
static int
slot_alloc(const struct vmm_mach *m)
{
	uint32_t slot;
	unsigned int i;

	for (slot = 0; slot < m->nslots; slot++) {
		for (i = 0; i < m->nareas; i++) {
			if (m->areas[i].slot == slot)
				break;
		}
		if (i == m->nareas)
			return (int)slot;
	}
	return -ENOBUFS;
}

/*
 * Tell KVM about an area (or, with size 0, forget it).  An area the guest
 * may not read has no slot: its accesses exit as MEMORY, as on NVMM.
 */
static int
slot_set(struct vmm_mach *m, const struct vmm_area *a, bool remove)
{
	struct kvm_userspace_memory_region r;
	int error;

	if (!(a->prot & PROT_READ))
		return 0;
	memset(&r, 0, sizeof(r));
	r.slot = a->slot;
	r.flags = (a->prot & PROT_WRITE) ? 0 : KVM_MEM_READONLY;
	r.guest_phys_addr = a->gpa;
	r.memory_size = remove ? 0 : a->size;
	r.userspace_addr = a->hva;
	error = vmm_lib.be->vm_ioctl(m, KVM_SET_USER_MEMORY_REGION, &r);
	return error < 0 ? error : 0;
}

/* Checks of nvmm_gpa_map, in NetBSD's order of precedence. */
static int
gpa_map_check(const struct vmm_mach *m, uintptr_t hva, gpaddr_t gpa,
    size_t size, int prot)
{
	unsigned int i;

	if (!range_ok(hva, size) || (gpa & PAGE_MASK) != 0 || hva == 0)
		return -EINVAL;
	if (gpa + size < gpa || gpa + size > vmm_lib.cap.max_ram)
		return -EINVAL;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -EINVAL;
	for (i = 0; i < m->nareas; i++) {
		if (gpa < m->areas[i].gpa + m->areas[i].size &&
		    m->areas[i].gpa < gpa + size)
			return -EINVAL;
	}
	for (i = 0; i < m->nhmaps; i++) {
		if (hva >= m->hmaps[i].hva && hva + size <= m->hmaps[i].hva +
		    m->hmaps[i].size)
			return 0;
	}
	return -ENOENT;
}

static int
gpa_map(struct vmm_mach *m, uintptr_t hva, gpaddr_t gpa, size_t size, int prot)
{
	struct vmm_area *a;
	int error, slot;

	if ((error = gpa_map_check(m, hva, gpa, size, prot)) != 0)
		return error;
	if ((slot = slot_alloc(m)) < 0)
		return slot;
	if (m->nareas == m->areas_cap) {
		unsigned int cap = m->areas_cap ? m->areas_cap * 2 : 16;

		a = reallocarray(m->areas, cap, sizeof(*a));
		if (a == NULL)
			return -ENOMEM;
		m->areas = a;
		m->areas_cap = cap;
	}
	a = &m->areas[m->nareas];
	a->gpa = gpa;
	a->hva = hva;
	a->size = size;
	a->prot = prot;
	a->slot = (uint32_t)slot;
	if ((error = slot_set(m, a, false)) != 0)
		return error;
	m->nareas++;
	return 0;
}

static int
gpa_unmap(struct vmm_mach *m, uintptr_t hva, gpaddr_t gpa, size_t size)
{
	unsigned int i;
	int error;

	for (i = 0; i < m->nareas; i++) {
		struct vmm_area *a = &m->areas[i];

		if (a->gpa != gpa || a->hva != hva || a->size != size)
			continue;
		if ((error = slot_set(m, a, true)) != 0)
			return error;
		*a = m->areas[--m->nareas];
		return 0;
	}
	return -ESRCH;
}

NVMM_EXPORT int
nvmm_gpa_map(struct nvmm_machine *mach, uintptr_t hva, gpaddr_t gpa,
    size_t size, int prot)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL)
		error = -error;
	else
		error = gpa_map(m, hva, gpa, size, prot);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

NVMM_EXPORT int
nvmm_gpa_unmap(struct nvmm_machine *mach, uintptr_t hva, gpaddr_t gpa,
    size_t size)
{
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL)
		error = -error;
	else
		error = gpa_unmap(m, hva, gpa, size);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}

static nvmm_prot_t
prot_to_nvmm(int prot)
{
	nvmm_prot_t p = 0;

	if (prot & PROT_READ)
		p |= NVMM_PROT_READ;
	if (prot & PROT_WRITE)
		p |= NVMM_PROT_WRITE;
	if (prot & PROT_EXEC)
		p |= NVMM_PROT_EXEC;
	return p;
}

/* The area that holds gpa, or NULL.  Lock held. */
const struct vmm_area *
vmm_area_find(const struct vmm_mach *m, gpaddr_t gpa)
{
	unsigned int i;

	for (i = 0; i < m->nareas; i++) {
		if (gpa >= m->areas[i].gpa &&
		    gpa - m->areas[i].gpa < m->areas[i].size)
			return &m->areas[i];
	}
	return NULL;
}

NVMM_EXPORT int
nvmm_gpa_to_hva(struct nvmm_machine *mach, gpaddr_t gpa, uintptr_t *hva,
    nvmm_prot_t *prot)
{
	const struct vmm_area *a;
	struct vmm_mach *m;
	int error;

	lib_lock();
	if ((m = vmm_mach_get(mach, &error)) == NULL) {
		lib_unlock();
		return fail(-error);
	}
	if ((a = vmm_area_find(m, gpa)) == NULL) {
		lib_unlock();
		return fail(-ENOENT);
	}
	*hva = a->hva + (gpa - a->gpa);
	*prot = prot_to_nvmm(a->prot);
	lib_unlock();
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Control. */

static int
mach_info(struct nvmm_ctl_mach_info *info)
{
	struct vmm_mach *m;
	unsigned int i;

	if (info->machid >= VMM_MAX_MACHINES ||
	    !vmm_lib.machs[info->machid].used)
		return vmm_lib.be->mach_info(vmm_lib.devfd, info);
	m = &vmm_lib.machs[info->machid];
	if (m->foreign)
		return -EPERM;
	info->nvcpus = m->ncpus;
	info->nram = 0;
	for (i = 0; i < m->nhmaps; i++)
		info->nram += m->hmaps[i].size;
	info->pid = m->pid;
	info->time = m->time;
	return 0;
}

NVMM_EXPORT int
nvmm_ctl(int op, void *data, size_t size)
{
	int error;

	if (vmm_lib.devfd == -1)
		return fail(-EBADF);
	if (op != NVMM_CTL_MACH_INFO || data == NULL ||
	    size != sizeof(struct nvmm_ctl_mach_info))
		return fail(-EINVAL);
	lib_lock();
	error = mach_info(data);
	lib_unlock();
	return error != 0 ? fail(error) : 0;
}
