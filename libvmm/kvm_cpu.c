/*
 * kvm_cpu.c: NVMM vcpu semantics (comm page, exits, events, stop) on a KVM
 * vcpu.  The comm page protocol of NVMM's kernel (NVMM.md section 1.5) runs
 * here, in the library, on top of KVM_CAP_SYNC_REGS.
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_cpu.h"

#define RFLAGS_DF		0x400ULL
#define EFER_LMA		0x400ULL
#define CPUID_NVMM_LEAF		0x40000000U

/* Completions that feed further accesses (a REP MOVS to MMIO, say) stop
 * after this many round trips; what is left becomes a new exit. */
#define VMM_COMPLETE_MAX	4096

/* The signal that kicks a vcpu thread out of KVM_RUN for nvmm_vcpu_stop. */
static int kvm_cpu_kick_signo;
static pthread_once_t kvm_cpu_kick_once = PTHREAD_ONCE_INIT;

static void
kick_handler(int signo)
{
	(void)signo;
}

/*
 * Pick the kick signal: SIGRTMIN + 4 unless LIBVMM_KICK_SIGNAL names
 * another.  A handler the program already installed is kept (any handler
 * interrupts KVM_RUN); otherwise an empty one is installed.
 */
static void
kick_setup(void)
{
	struct sigaction sa, old;
	const char *env;
	int signo;

	signo = SIGRTMIN + 4;
	if ((env = getenv("LIBVMM_KICK_SIGNAL")) != NULL && atoi(env) > 0 &&
	    atoi(env) < NSIG)
		signo = atoi(env);
	if (sigaction(signo, NULL, &old) == 0 &&
	    (old.sa_flags & SA_SIGINFO || old.sa_handler != SIG_DFL)) {
		kvm_cpu_kick_signo = signo;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) == 0)
		kvm_cpu_kick_signo = signo;
}

/* -------------------------------------------------------------------------- */
/* CPUID. */

static struct kvm_cpuid_entry2 *
cpuid_find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		if (c->entries[i].function == leaf &&
		    c->entries[i].index == index)
			return &c->entries[i];
	}
	return NULL;
}

static void
cpuid_apply_conf(struct kvm_cpuid2 *c, const struct vmm_cpuid_conf *conf)
{
	struct kvm_cpuid_entry2 *e;
	uint32_t i;
	bool found = false;

	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function != conf->leaf)
			continue;
		found = true;
		e->eax = (e->eax & ~conf->del[0]) | conf->set[0];
		e->ebx = (e->ebx & ~conf->del[1]) | conf->set[1];
		e->ecx = (e->ecx & ~conf->del[2]) | conf->set[2];
		e->edx = (e->edx & ~conf->del[3]) | conf->set[3];
	}
	if (!found) {
		/* A leaf KVM does not report: bits start from zero. */
		e = &c->entries[c->nent++];
		memset(e, 0, sizeof(*e));
		e->function = conf->leaf;
		e->eax = conf->set[0];
		e->ebx = conf->set[1];
		e->ecx = conf->set[2];
		e->edx = conf->set[3];
	}
}

/* Is c the table last installed on the vcpu? */
static bool
cpuid_unchanged(const struct vmm_cpu *cpu, const struct kvm_cpuid2 *c)
{
	const struct kvm_cpuid2 *old = cpu->cpuid_table;

	return old != NULL && old->nent == c->nent &&
	    memcmp(old->entries, c->entries,
	    c->nent * sizeof(c->entries[0])) == 0;
}

/*
 * Give the vcpu its CPUID table: what KVM supports, with the vcpu's APIC ids,
 * NVMM's hypervisor leaf, then the caller's NVMM_VCPU_CONF_CPUID masks.
 */
static int
cpuid_install(struct vmm_cpu *cpu)
{
	const struct kvm_cpuid2 *base = vmm_lib.cpuid;
	struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid2 *c;
	size_t size;
	unsigned int i;
	int error;

	size = sizeof(*c) + (base->nent + VMM_MAX_CPUID_CONF) *
	    sizeof(c->entries[0]);
	if ((c = malloc(size)) == NULL)
		return -ENOMEM;
	memcpy(c, base, sizeof(*c) + base->nent * sizeof(c->entries[0]));
	if ((e = cpuid_find(c, 1, 0)) != NULL)
		e->ebx = (e->ebx & 0x00FFFFFF) | (cpu->cpuid << 24);
	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 0xB || e->function == 0x1F)
			e->edx = cpu->cpuid;
	}
	for (i = 0; i < cpu->ncpuid_conf; i++)
		cpuid_apply_conf(c, &cpu->cpuid_conf[i]);
	/*
	 * Some KVMs refuse KVM_SET_CPUID2 after a run even to say the same
	 * thing again; the table we installed last is what the vcpu has.
	 */
	if (cpu->ran && cpuid_unchanged(cpu, c)) {
		free(c);
		return 0;
	}
	if (ioctl(cpu->fd, KVM_SET_CPUID2, c) == -1) {
		error = -errno;
		free(c);
		return error;
	}
	free(cpu->cpuid_table);
	cpu->cpuid_table = c;	/* owned by the vcpu now */
	return 0;
}

static int
conf_cpuid(struct vmm_cpu *cpu, const struct nvmm_vcpu_conf_cpuid *cc)
{
	struct vmm_cpuid_conf saved[VMM_MAX_CPUID_CONF], *slot = NULL;
	unsigned int i, nsaved;
	int error;

	if (cc->mask && cc->exit)
		return -EINVAL;
	if ((cc->u.mask.set.eax & cc->u.mask.del.eax) ||
	    (cc->u.mask.set.ebx & cc->u.mask.del.ebx) ||
	    (cc->u.mask.set.ecx & cc->u.mask.del.ecx) ||
	    (cc->u.mask.set.edx & cc->u.mask.del.edx))
		return -EINVAL;
	/* KVM answers CPUID in the kernel: it cannot exit on a leaf. */
	if (cc->exit)
		return -ENOTSUP;

	memcpy(saved, cpu->cpuid_conf, sizeof(saved));
	nsaved = cpu->ncpuid_conf;
	for (i = 0; i < cpu->ncpuid_conf; i++) {
		if (cpu->cpuid_conf[i].leaf == cc->leaf)
			slot = &cpu->cpuid_conf[i];
	}
	if (!cc->mask) {
		/* Neither option: forget the leaf. */
		if (slot != NULL)
			*slot = cpu->cpuid_conf[--cpu->ncpuid_conf];
	} else {
		if (slot == NULL) {
			if (cpu->ncpuid_conf == VMM_MAX_CPUID_CONF)
				return -ENOBUFS;
			slot = &cpu->cpuid_conf[cpu->ncpuid_conf++];
		}
		slot->leaf = cc->leaf;
		slot->set[0] = cc->u.mask.set.eax;
		slot->set[1] = cc->u.mask.set.ebx;
		slot->set[2] = cc->u.mask.set.ecx;
		slot->set[3] = cc->u.mask.set.edx;
		slot->del[0] = cc->u.mask.del.eax;
		slot->del[1] = cc->u.mask.del.ebx;
		slot->del[2] = cc->u.mask.del.ecx;
		slot->del[3] = cc->u.mask.del.edx;
	}
	if ((error = cpuid_install(cpu)) != 0) {
		memcpy(cpu->cpuid_conf, saved, sizeof(saved));
		cpu->ncpuid_conf = nsaved;
	}
	return error;
}

int
kvm_cpu_configure(struct vmm_mach *m, struct vmm_cpu *cpu, uint64_t op,
    void *conf)
{
	const struct nvmm_vcpu_conf_tpr *tpr;
	struct nvmm_vmm_conf_stats *st;
	int fd;

	(void)m;
	if (conf == NULL)
		return -EINVAL;
	switch (op) {
	case NVMM_VCPU_CONF_CPUID:
		return conf_cpuid(cpu, conf);
	case NVMM_VCPU_CONF_TPR:
		tpr = conf;
		cpu->tpr_exit = tpr->exit_changed;
		return 0;
	case NVMM_VCPU_CONF_VMM_STATS:
		st = conf;
		if ((fd = ioctl(cpu->fd, KVM_GET_STATS_FD, NULL)) == -1)
			return -errno;
		st->fd = fd;
		return 0;
	default:
		return -EINVAL;
	}
}

/* -------------------------------------------------------------------------- */
/* Creation. */

static int
sync_init(struct vmm_cpu *cpu)
{
	struct kvm_sync_regs *s = &cpu->run->s.regs;

	cpu->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS |
	    KVM_SYNC_X86_EVENTS;
	if (ioctl(cpu->fd, KVM_GET_REGS, &s->regs) == -1 ||
	    ioctl(cpu->fd, KVM_GET_SREGS, &s->sregs) == -1 ||
	    ioctl(cpu->fd, KVM_GET_VCPU_EVENTS, &s->events) == -1)
		return -errno;
	/* A re-created vcpu starts with nothing pending. */
	memset(&s->events.exception, 0, sizeof(s->events.exception));
	memset(&s->events.interrupt, 0, sizeof(s->events.interrupt));
	s->events.nmi.injected = 0;
	s->events.nmi.pending = 0;
	s->events.nmi.masked = 0;
	cpu->run->kvm_dirty_regs = KVM_SYNC_X86_EVENTS;
	return 0;
}

static void
cpu_free(struct vmm_cpu *cpu)
{
	if (cpu == NULL)
		return;
	if (cpu->run != NULL && cpu->run != MAP_FAILED)
		munmap(cpu->run, cpu->run_size);
	if (cpu->fd != -1)
		close(cpu->fd);
	if (cpu->comm != NULL && cpu->comm != MAP_FAILED)
		munmap(cpu->comm, VMM_PAGE_SIZE);
	free(cpu->cpuid_table);
	free(cpu->exit);
	free(cpu);
}

/*
 * Create (or re-create) vcpu cpuid of m and fill the caller's struct
 * nvmm_vcpu.  The new vcpu has NVMM's reset state, committed at its first
 * run.  Called with the library lock held.  Returns 0 or a negative errno.
 */
int
kvm_cpu_create(struct vmm_mach *m, nvmm_cpuid_t cpuid, struct nvmm_vcpu *vcpu)
{
	struct vmm_cpu *cpu = m->cpus[cpuid];
	struct nvmm_vcpu_exit *exit = NULL;
	int error;

	pthread_once(&kvm_cpu_kick_once, kick_setup);
	if ((exit = calloc(1, sizeof(*exit))) == NULL)
		return -ENOMEM;
	if (cpu == NULL) {
		if ((cpu = calloc(1, sizeof(*cpu))) == NULL) {
			error = -ENOMEM;
			goto fail_exit;
		}
		cpu->cpuid = cpuid;
		cpu->comm = MAP_FAILED;
		cpu->run = MAP_FAILED;
		cpu->fd = vmm_lib.be->vcpu_create(m, cpuid);
		if (cpu->fd < 0) {
			error = cpu->fd;
			cpu->fd = -1;
			goto fail_cpu;
		}
		cpu->run_size = (size_t)vmm_lib.run_size;
		cpu->run = mmap(NULL, cpu->run_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, cpu->fd, 0);
		if (cpu->run == MAP_FAILED) {
			error = -errno;
			goto fail_cpu;
		}
	} else {
		/*
		 * A retired KVM vcpu: reuse it with a fresh NVMM state.  If
		 * it ran with another CPUID table, KVM refuses the default
		 * one and the creation fails (libvmm(3), COMPATIBILITY).
		 */
		cpu->retired = false;
		cpu->tpr_exit = false;
		cpu->ncpuid_conf = 0;
	}
	cpu->comm = mmap(NULL, VMM_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cpu->comm == MAP_FAILED) {
		error = -errno;
		goto fail_cpu;
	}
	cpu->comm->cpu = cpu;
	if ((error = cpuid_install(cpu)) != 0 || (error = sync_init(cpu)) != 0)
		goto fail_cpu;

	cpu->int_window = cpu->nmi_window = false;
	cpu->pending = VMM_PEND_NONE;
	cpu->deferred = cpu->rewound = false;
	cpu->cached = cpu->commit = 0;
	kvm_state_reset(&cpu->comm->pub.state);
	kvm_cpu_setstate(cpu, NVMM_X64_STATE_ALL);

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->cpuid = cpuid;
	vcpu->state = &cpu->comm->pub.state;
	vcpu->event = &cpu->comm->pub.event;
	vcpu->stop = &cpu->comm->pub.stop;
	vcpu->exit = exit;
	cpu->exit = exit;	/* freed by vcpu or machine destruction */
	m->cpus[cpuid] = cpu;
	return 0;

fail_cpu:
	if (m->cpus[cpuid] == cpu) {
		/* Keep the retired KVM vcpu; drop only the new comm page. */
		if (cpu->comm != MAP_FAILED)
			munmap(cpu->comm, VMM_PAGE_SIZE);
		cpu->comm = NULL;
		cpu->retired = true;
	} else {
		cpu_free(cpu);
	}
fail_exit:
	free(exit);
	return error;
}

/*
 * Destroy a vcpu as NVMM sees it.  KVM cannot destroy one vcpu of a VM, so
 * unless the whole machine goes (final), the KVM vcpu is retired and reused
 * if the caller creates the same cpuid again.
 */
void
kvm_cpu_destroy(struct vmm_mach *m, struct vmm_cpu *cpu, bool final)
{
	if (cpu->comm != NULL) {
		munmap(cpu->comm, VMM_PAGE_SIZE);
		cpu->comm = NULL;
	}
	if (final) {
		m->cpus[cpu->cpuid] = NULL;
		cpu_free(cpu);
		return;
	}
	cpu->retired = true;
}

/* -------------------------------------------------------------------------- */
/* State. */

/*
 * getstate: fill what the caller asks for and the cache lacks.  Parts the
 * last exit delivered in the kvm_run page cost no system call.
 */
int
kvm_cpu_getstate(struct vmm_cpu *cpu, uint64_t flags)
{
	struct nvmm_comm_page *comm = &cpu->comm->pub;
	uint32_t need;
	int error;

	need = kvm_state_parts(flags) & ~cpu->cached;
	if (need == 0)
		return 0;
	comm->state_wanted = flags & ~comm->state_cached;
	error = kvm_state_load(cpu, need);
	comm->state_wanted = 0;
	if (error != 0)
		return error;
	cpu->cached |= need;
	comm->state_cached = kvm_state_flags(cpu->cached);
	return 0;
}

/* setstate: the caller wrote comm->state; commit it at the next run. */
void
kvm_cpu_setstate(struct vmm_cpu *cpu, uint64_t flags)
{
	struct nvmm_comm_page *comm = &cpu->comm->pub;
	uint32_t parts = kvm_state_parts(flags);

	cpu->cached |= parts;
	cpu->commit |= parts;
	comm->state_cached |= flags;
	comm->state_commit |= flags;
}

void
kvm_cpu_inject(struct vmm_cpu *cpu)
{
	cpu->comm->pub.event_commit = true;
}

/* The paging registers, from the cache when valid, else from the exit. */
int
kvm_cpu_paging(struct vmm_cpu *cpu, struct vmm_paging *pg)
{
	uint32_t need;
	int error;

	/* Never reload a part the caller has set: it would be lost. */
	need = (VMM_P_CRS | VMM_P_EFER) & ~cpu->cached;
	if (need != 0) {
		if ((error = kvm_state_load(cpu, need)) != 0)
			return error;
		cpu->cached |= need;
	}
	pg->cr0 = cpu->comm->pub.state.crs[NVMM_X64_CR_CR0];
	pg->cr3 = cpu->comm->pub.state.crs[NVMM_X64_CR_CR3];
	pg->cr4 = cpu->comm->pub.state.crs[NVMM_X64_CR_CR4];
	pg->efer = cpu->comm->pub.state.msrs[NVMM_X64_MSR_EFER];
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Events. */

static bool
excp_has_error(uint8_t vector)
{
	switch (vector) {
	case 8:		/* #DF */
	case 10:	/* #TS */
	case 11:	/* #NP */
	case 12:	/* #SS */
	case 13:	/* #GP */
	case 14:	/* #PF */
	case 17:	/* #AC */
	case 30:	/* #SX */
		return true;
	default:
		return false;
	}
}

/* Check the committed event as NVMM's kernel does.  0 or -EINVAL. */
static int
event_check(const struct nvmm_vcpu_event *ev)
{
	switch (ev->type) {
	case NVMM_VCPU_EVENT_EXCP:
		if (ev->vector == 2 || ev->vector >= 32)
			return -EINVAL;
		if (ev->vector == 3 || ev->vector == 0)
			return -EINVAL;
		return 0;
	case NVMM_VCPU_EVENT_INTR:
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Put the committed event into the kvm_run page for the next entry.
 *
 * NVMM injects every exception with the hardware-exception type (VMX
 * interruption type 3, SVM EVENTINJ type 3): the handler's frame holds the
 * RIP the guest was at (Intel SDM vol. 3C, "Vectored-Event Injection").
 * KVM treats an injected #OF (like #BP, which event_check refuses) as the
 * trap of an INTO instead.  On VMX it becomes a software exception whose
 * return RIP is advanced by an instruction length KVM kept from an earlier
 * exit.  On SVM, since the Linux commit "KVM: SVM: Don't skip unrelated
 * instruction if INT3/INTO is replaced" (2025, also in the stable kernels:
 * Debian 12's 6.1.0-56 has it), KVM silently drops it unless an INTO sits
 * at RIP, which never holds in 64-bit mode, where INTO is invalid.  So #OF
 * goes in as an external interrupt of vector 4: the same gate and the same
 * frame (no error code, the current RIP); #OF is benign (SDM vol. 3A, table
 * 6-4), so no double-fault rule tells the two apart.  VMX refuses to enter
 * with an external interrupt in an interrupt shadow (SDM vol. 3C, "Checks
 * on Guest Non-Register State"), where an exception goes through: the
 * shadow is dropped, as the delivery would drop it (the handler's IRET
 * returns without one).
 */
#define EXCP_OF		4

static void
event_store(struct vmm_cpu *cpu, const struct nvmm_vcpu_event *ev)
{
	struct kvm_vcpu_events *ke = &cpu->run->s.regs.events;

	if (ev->type == NVMM_VCPU_EVENT_EXCP && ev->vector == EXCP_OF) {
		ke->interrupt.injected = 1;
		ke->interrupt.nr = EXCP_OF;
		ke->interrupt.soft = 0;
		ke->interrupt.shadow = 0;
		ke->flags |= KVM_VCPUEVENT_VALID_SHADOW;
	} else if (ev->type == NVMM_VCPU_EVENT_EXCP) {
		ke->exception.injected = 1;
		ke->exception.pending = 0;
		ke->exception.nr = ev->vector;
		ke->exception.has_error_code = excp_has_error(ev->vector);
		ke->exception.error_code = (uint32_t)ev->u.excp.error;
	} else if (ev->vector == 2) {
		/* As NVMM: interrupt vector 2 is an NMI. */
		ke->nmi.pending = 1;
		ke->flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
	} else {
		ke->interrupt.injected = 1;
		ke->interrupt.nr = ev->vector;
		ke->interrupt.soft = 0;
	}
	cpu->run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
}

/* -------------------------------------------------------------------------- */
/* Reading guest memory (instruction fetch for exit decoding). */

/*
 * Copy len bytes at guest virtual address gva, page by page.  Returns 0 or a
 * negative errno (-EFAULT for an address that is not RAM).
 */
int
kvm_cpu_read_gva(struct nvmm_machine *mach, struct vmm_cpu *cpu, gvaddr_t gva,
    void *buf, size_t len)
{
	struct vmm_paging pg;
	uint8_t *out = buf;
	nvmm_prot_t prot;
	uintptr_t hva;
	gpaddr_t gpa;
	size_t chunk;
	int error;

	if ((error = kvm_cpu_paging(cpu, &pg)) != 0)
		return error;
	while (len > 0) {
		chunk = VMM_PAGE_SIZE - (gva & (VMM_PAGE_SIZE - 1));
		if (chunk > len)
			chunk = len;
		if ((error = mmu_gva_to_gpa(mach, &pg, gva, &gpa, &prot)) != 0)
			return error;
		if (nvmm_gpa_to_hva(mach, gpa, &hva, &prot) == -1)
			return -EFAULT;
		memcpy(out, (const void *)hva, chunk);
		out += chunk;
		gva += chunk;
		len -= chunk;
	}
	return 0;
}

/*
 * Fetch the instruction at CS:RIP.  A fetch that crosses into an unmapped
 * page keeps what it got before it: an x86 instruction that decodes needs
 * only its own bytes.  Returns the number of bytes read, or a negative errno.
 */
static int
fetch_insn(struct nvmm_machine *mach, struct vmm_cpu *cpu, uint8_t *buf,
    size_t len, bool *longmode, bool *def32)
{
	const struct kvm_sregs *sr = &cpu->run->s.regs.sregs;
	uint64_t rip = cpu->run->s.regs.regs.rip;
	gvaddr_t gva;
	size_t first;
	int error;

	*longmode = (sr->efer & EFER_LMA) && sr->cs.l;
	*def32 = sr->cs.db;
	gva = *longmode ? rip : sr->cs.base + (rip & 0xFFFFFFFF);
	if (!*longmode)
		gva &= 0xFFFFFFFF;
	first = VMM_PAGE_SIZE - (gva & (VMM_PAGE_SIZE - 1));
	if (first >= len)
		first = len;
	if ((error = kvm_cpu_read_gva(mach, cpu, gva, buf, first)) != 0)
		return error;
	if (first < len &&
	    kvm_cpu_read_gva(mach, cpu, gva + first, buf + first,
	    len - first) == 0)
		first = len;
	return (int)first;
}

/* -------------------------------------------------------------------------- */
/* Exits. */

/*
 * Does the decoded instruction at some RIP match the OUT KVM reported?
 * The port must agree (imm8, or DX from the exit's registers).
 */
static bool
io_matches(const struct vmm_cpu *cpu, const uint8_t *b,
    const struct x86_insn_io *insn)
{
	const struct kvm_run *run = cpu->run;

	if ((insn->opcode & 1) != (run->io.size != 1))
		return false;
	if (insn->opcode == 0xE6 || insn->opcode == 0xE7)
		return run->io.port == b[insn->len - 1];
	if (insn->opcode == 0xEE || insn->opcode == 0xEF)
		return (uint16_t)run->s.regs.regs.rdx == run->io.port;
	return false;
}

/*
 * The 15 bytes before RIP, read once per exit and only when needed: what
 * the OUT and OUTS checks look at when KVM has already moved past them.
 */
struct io_before {
	uint8_t b[15];
	int state;		/* 0 unread, 1 read, -1 unreadable */
};

static bool
read_before(struct nvmm_machine *mach, struct vmm_cpu *cpu, bool longmode,
    struct io_before *ib)
{
	const struct kvm_run *run = cpu->run;
	uint64_t rip = run->s.regs.regs.rip;

	if (ib->state == 0) {
		ib->state = rip >= sizeof(ib->b) &&
		    kvm_cpu_read_gva(mach, cpu, (longmode ? 0 :
		    run->s.regs.sregs.cs.base) + rip - sizeof(ib->b), ib->b,
		    sizeof(ib->b)) == 0 ? 1 : -1;
	}
	return ib->state == 1;
}

/*
 * The length of an OUT that ends exactly at RIP, or 0: E6/E7 ib or EE/EF,
 * with the 0x66 prefix an operand other than the default size needs
 * (opsize32: the default is 32 bits, as in 32- and 64-bit code).
 */
static uint8_t
out_ending_at(struct nvmm_machine *mach, struct vmm_cpu *cpu, bool longmode,
    bool opsize32, struct io_before *ib)
{
	const struct kvm_run *run = cpu->run;
	const uint8_t *b = ib->b;
	uint8_t len = 0;
	bool wide;

	if (!read_before(mach, cpu, longmode, ib))
		return 0;
	if ((b[13] & 0xFE) == 0xE6 && b[14] == (run->io.port & 0xFF) &&
	    run->io.port < 0x100)
		len = 2;
	else if ((b[14] & 0xFE) == 0xEE &&
	    (uint16_t)run->s.regs.regs.rdx == run->io.port)
		len = 1;
	if (len == 0 || ((b[15 - len] & 1) != (run->io.size != 1)))
		return 0;
	wide = run->io.size != 1 && (run->io.size == 4) != opsize32;
	if (wide && b[15 - len - 1] == 0x66)
		len++;
	return len;
}

/*
 * Learn, once per process, whether this KVM moves RIP past an OUT before it
 * exits (older kernels, and some KVM implementations, do; current Linux
 * does not).  A throwaway VM runs one OUT in real mode.  0, 1, or -errno.
 */
static int
probe_out_advances(void)
{
	struct vmm_mach m;
	struct kvm_userspace_memory_region r;
	struct kvm_sregs sr;
	struct kvm_regs regs;
	struct kvm_run *run = MAP_FAILED;
	uint8_t *page;
	int fd = -1, error;

	if ((page = mmap(NULL, VMM_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return -errno;
	page[0] = 0xE6;		/* out %al, $0x80 */
	page[1] = 0x80;
	page[2] = 0xF4;		/* hlt */
	memset(&m, 0, sizeof(m));
	m.vmfd = -1;
	if ((error = vmm_lib.be->machine_create(vmm_lib.devfd, &m)) != 0)
		goto out_page;
	memset(&r, 0, sizeof(r));
	r.memory_size = VMM_PAGE_SIZE;
	r.userspace_addr = (uintptr_t)page;
	if ((error = vmm_lib.be->vm_ioctl(&m, KVM_SET_USER_MEMORY_REGION,
	    &r)) < 0)
		goto out_vm;
	if ((fd = vmm_lib.be->vcpu_create(&m, 0)) < 0) {
		error = fd;
		goto out_vm;
	}
	run = mmap(NULL, (size_t)vmm_lib.run_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	error = -EIO;
	if (run == MAP_FAILED || ioctl(fd, KVM_GET_SREGS, &sr) == -1)
		goto out_vcpu;
	sr.cs.base = 0;
	sr.cs.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	if (ioctl(fd, KVM_SET_SREGS, &sr) == -1 ||
	    ioctl(fd, KVM_SET_REGS, &regs) == -1 ||
	    ioctl(fd, KVM_RUN, 0) == -1 || run->exit_reason != KVM_EXIT_IO ||
	    ioctl(fd, KVM_GET_REGS, &regs) == -1)
		goto out_vcpu;
	error = regs.rip == 2;
out_vcpu:
	if (run != MAP_FAILED)
		munmap(run, (size_t)vmm_lib.run_size);
	if (fd >= 0)
		close(fd);
out_vm:
	vmm_lib.be->machine_destroy(&m);
out_page:
	munmap(page, VMM_PAGE_SIZE);
	return error;
}

/* -1 unknown, else whether KVM advances RIP before an OUT exit. */
static int kvm_out_advances = -1;

/*
 * Decide where the reported OUT is: at RIP (at_rip), or just before it.
 * Returns the length of the instruction before RIP, 0 if it is at RIP, or
 * -1 when neither reading fits.
 */
static int
out_locate(struct nvmm_machine *mach, struct vmm_cpu *cpu, bool at_rip,
    bool longmode, bool opsize32, struct io_before *ib)
{
	uint8_t before;
	int learned;

	before = out_ending_at(mach, cpu, longmode, opsize32, ib);
	learned = __atomic_load_n(&kvm_out_advances, __ATOMIC_RELAXED);
	if (learned < 0) {
		if (at_rip && before == 0)
			learned = 0;
		else if (!at_rip && before != 0)
			learned = 1;
		else if (at_rip)
			learned = probe_out_advances();
		if (learned >= 0)
			__atomic_store_n(&kvm_out_advances, learned,
			    __ATOMIC_RELAXED);
	}
	if (learned == 1)
		return before != 0 ? before : -1;
	return at_rip ? 0 : -1;
}

/*
 * An OUTS that ends at RIP: KVM emulates OUTS and exits after the element
 * is done, with RIP past the instruction unless a REP has more to do.  Scan
 * its prefixes backwards for the exit's fields.  True if the byte before
 * RIP is an OUTS opcode of the reported size (and not the port byte of an
 * OUT imm8).
 */
static bool
outs_ending_at(struct nvmm_machine *mach, struct vmm_cpu *cpu, bool longmode,
    bool def32, struct io_before *ib, struct x86_insn_io *io)
{
	const struct kvm_run *run = cpu->run;
	const uint8_t *b = ib->b;
	struct x86_insn_io fwd;
	int start;

	if (!read_before(mach, cpu, longmode, ib))
		return false;
	if ((b[14] & 0xFE) != 0x6E || (b[14] & 1) != (run->io.size != 1))
		return false;
	if ((b[13] & 0xFE) == 0xE6 && b[14] == run->io.port)
		return false;
	for (start = 14; start > 0; start--) {
		uint8_t c = b[start - 1];

		if (c == 0x66 || c == 0x67 || c == 0xF2 || c == 0xF3 ||
		    c == 0x26 || c == 0x2E || c == 0x36 || c == 0x3E ||
		    c == 0x64 || c == 0x65 || c == 0xF0)
			continue;
		if (longmode && (c & 0xF0) == 0x40 && start == 14)
			continue;
		break;
	}
	if (x86_decode_io(&b[start], sizeof(ib->b) - (size_t)start, longmode,
	    def32, &fwd) != 0 || !fwd.str)
		return false;
	*io = fwd;
	return true;
}

/* The address-size mask of RCX for a REP of that address size. */
static uint64_t
rcx_masked(const struct vmm_cpu *cpu, uint8_t address_size)
{
	uint64_t rcx = cpu->run->s.regs.regs.rcx;

	return address_size == 8 ? rcx : address_size == 4 ?
	    (rcx & 0xFFFFFFFF) : (rcx & 0xFFFF);
}

static void
exit_io_fill(struct vmm_cpu *cpu, struct nvmm_vcpu_exit *exit,
    const struct x86_insn_io *insn, uint64_t npc, enum vmm_pending pending)
{
	const struct kvm_run *run = cpu->run;

	exit->reason = NVMM_VCPU_EXIT_IO;
	exit->u.io.in = run->io.direction == KVM_EXIT_IO_IN;
	exit->u.io.port = run->io.port;
	exit->u.io.operand_size = run->io.size;
	exit->u.io.seg = insn->seg;
	exit->u.io.address_size = insn->address_size;
	exit->u.io.rep = insn->rep;
	exit->u.io.str = insn->str;
	exit->u.io.npc = npc;
	cpu->pending = pending;
	cpu->exit_npc = npc;
}

/*
 * Translate KVM_EXIT_IO.  KVM leaves RIP on IN, INS and (mainline) OUT, but
 * has already executed an OUTS element, and some KVMs an OUT, before
 * exiting; each case is told apart from the instruction bytes around RIP.
 */
static bool
io_data_is_rax(const struct vmm_cpu *cpu)
{
	const struct kvm_run *run = cpu->run;
	uint64_t rax = run->s.regs.regs.rax;

	if (run->io.data_offset > cpu->run_size - sizeof(uint32_t))
		return false;
	return memcmp((const uint8_t *)run + run->io.data_offset, &rax,
	    run->io.size) == 0;
}

static void
exit_io(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu_exit *exit)
{
	struct kvm_run *run = cpu->run;
	uint64_t rip = run->s.regs.regs.rip;
	struct x86_insn_io insn, before_insn;
	struct io_before ib = { .state = 0 };
	uint8_t bytes[15];
	bool longmode, def32, at_rip, out;
	int n, before = -1;

	longmode = (run->s.regs.sregs.efer & EFER_LMA) &&
	    run->s.regs.sregs.cs.l;
	def32 = run->s.regs.sregs.cs.db;
	out = run->io.direction == KVM_EXIT_IO_OUT;
	/*
	 * The common case on a KVM that moves past OUT: an OUT ends at RIP
	 * and KVM's data is AL/AX/EAX (not a REP OUTS element that happens
	 * to follow an OUT to the same port).
	 */
	if (out && run->io.count == 1 && kvm_out_advances == 1 &&
	    io_data_is_rax(cpu) &&
	    (before = out_ending_at(mach, cpu, longmode, longmode || def32,
	    &ib)) > 0)
		goto out_done;

	n = fetch_insn(mach, cpu, bytes, sizeof(bytes), &longmode, &def32);
	at_rip = n > 0 && x86_decode_io(bytes, (size_t)n, longmode, def32,
	    &insn) == 0;
	if (!out) {
		if (at_rip) {
			exit_io_fill(cpu, exit, &insn, rip + insn.len,
			    insn.str ? VMM_PEND_STRIO : VMM_PEND_PIO);
			return;
		}
	} else if (at_rip && insn.str && insn.rep &&
	    (rcx_masked(cpu, insn.address_size) != 0 ||
	    !outs_ending_at(mach, cpu, longmode, def32, &ib, &before_insn))) {
		/*
		 * A REP OUTS: RIP stays on it while elements remain, and
		 * after the last one until the next entry moves it on.
		 */
		exit_io_fill(cpu, exit, &insn, rip + insn.len,
		    VMM_PEND_STRIO_DONE);
		return;
	} else if (!(at_rip && !insn.str && io_matches(cpu, bytes, &insn) &&
	    kvm_out_advances != 1) &&
	    outs_ending_at(mach, cpu, longmode, def32, &ib, &insn)) {
		exit_io_fill(cpu, exit, &insn, rip, VMM_PEND_STRIO_DONE);
		return;
	} else if (run->io.count == 1) {
		at_rip = at_rip && !insn.str && io_matches(cpu, bytes, &insn);
		before = out_locate(mach, cpu, at_rip, longmode,
		    longmode || def32, &ib);
		if (before == 0) {
			exit_io_fill(cpu, exit, &insn, rip + insn.len,
			    VMM_PEND_PIO);
			return;
		}
		if (before > 0)
			goto out_done;
	}
	/* Another vcpu rewrote the code under us: nothing to do. */
	exit->reason = NVMM_VCPU_EXIT_INVALID;
	exit->u.inv.hwcode = KVM_EXIT_IO;
	cpu->pending = VMM_PEND_NONE;
	return;

out_done:
	/*
	 * KVM already moved past the OUT: show the caller NVMM's view, RIP on
	 * the instruction, npc after it.
	 */
	memset(&insn, 0, sizeof(insn));
	insn.seg = -1;
	insn.address_size = longmode ? 8 : def32 ? 4 : 2;
	exit_io_fill(cpu, exit, &insn, rip, VMM_PEND_PIO_DONE);
	run->s.regs.regs.rip -= (uint64_t)before;
	cpu->exit_rip = run->s.regs.regs.rip;
}

static void
exit_msr(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu_exit *exit, bool write)
{
	struct kvm_run *run = cpu->run;
	uint8_t bytes[15], len = 2;
	bool longmode, def32;
	int n;

	n = fetch_insn(mach, cpu, bytes, sizeof(bytes), &longmode, &def32);
	if (n > 0)
		(void)x86_decode_msr(bytes, (size_t)n, longmode, &len);
	cpu->exit_npc = run->s.regs.regs.rip + len;
	if (write) {
		exit->reason = NVMM_VCPU_EXIT_WRMSR;
		exit->u.wrmsr.msr = run->msr.index;
		exit->u.wrmsr.val = run->msr.data;
		exit->u.wrmsr.npc = cpu->exit_npc;
	} else {
		exit->reason = NVMM_VCPU_EXIT_RDMSR;
		exit->u.rdmsr.msr = run->msr.index;
		exit->u.rdmsr.npc = cpu->exit_npc;
	}
	cpu->pending = VMM_PEND_MSR;
}

static void
exit_mmio(struct vmm_cpu *cpu, struct nvmm_vcpu_exit *exit)
{
	exit->reason = NVMM_VCPU_EXIT_MEMORY;
	exit->u.mem.prot = cpu->run->mmio.is_write ? PROT_WRITE : PROT_READ;
	exit->u.mem.gpa = cpu->run->mmio.phys_addr;
	/* As NVMM on VMX: no instruction bytes; KVM decodes the access. */
	exit->u.mem.inst_len = 0;
	cpu->pending = VMM_PEND_MMIO;
}

/* Translate the KVM exit in cpu->run into the caller's exit structure. */
static void
exit_translate(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu_exit *exit)
{
	struct kvm_run *run = cpu->run;

	memset(exit, 0, sizeof(*exit));
	cpu->exit_rip = run->s.regs.regs.rip;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit_io(mach, cpu, exit);
		break;
	case KVM_EXIT_MMIO:
		exit_mmio(cpu, exit);
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		exit_msr(mach, cpu, exit,
		    run->exit_reason == KVM_EXIT_X86_WRMSR);
		break;
	case KVM_EXIT_HLT:
		exit->reason = NVMM_VCPU_EXIT_HALTED;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->reason = NVMM_VCPU_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		exit->reason = NVMM_VCPU_EXIT_INT_READY;
		cpu->int_window = false;
		break;
	case KVM_EXIT_SET_TPR:
		exit->reason = cpu->tpr_exit ? NVMM_VCPU_EXIT_TPR_CHANGED :
		    NVMM_VCPU_EXIT_NONE;
		break;
	case KVM_EXIT_INTR:
		exit->reason = NVMM_VCPU_EXIT_NONE;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit->reason = NVMM_VCPU_EXIT_INVALID;
		exit->u.inv.hwcode =
		    run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit->reason = NVMM_VCPU_EXIT_INVALID;
		exit->u.inv.hwcode = run->internal.suberror;
		break;
	default:
		exit->reason = NVMM_VCPU_EXIT_INVALID;
		exit->u.inv.hwcode = run->exit_reason;
		break;
	}
}

static void
exit_state(struct vmm_cpu *cpu, struct nvmm_vcpu_exit *exit)
{
	const struct kvm_run *run = cpu->run;

	exit->exitstate.rflags = run->s.regs.regs.rflags;
	exit->exitstate.cr8 = run->cr8;
	exit->exitstate.int_shadow = run->s.regs.events.interrupt.shadow != 0;
	exit->exitstate.int_window_exiting = cpu->int_window;
	exit->exitstate.nmi_window_exiting = cpu->nmi_window;
	exit->exitstate.evt_pending = kvm_state_evt_pending(cpu);
}

/* -------------------------------------------------------------------------- */
/* Completion of the instruction behind an exit. */

static int
kvm_run_ioctl(struct vmm_cpu *cpu)
{
	return ioctl(cpu->fd, KVM_RUN, 0) == -1 ? -errno : 0;
}

/* Hand one KVM access (IO or MMIO) of a completing instruction to the
 * callbacks, or, when discard is set, answer reads with zeros. */
static int
complete_access(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu *vcpu, bool discard)
{
	struct kvm_run *run = cpu->run;

	if (discard) {
		if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
			memset(run->mmio.data, 0, sizeof(run->mmio.data));
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_IN &&
		    run->io.data_offset + (size_t)run->io.size *
		    run->io.count <= cpu->run_size)
			memset((uint8_t *)run + run->io.data_offset, 0,
			    (size_t)run->io.size * run->io.count);
		return 0;
	}
	if (run->exit_reason == KVM_EXIT_MMIO)
		return x86_assist_mmio(mach, vcpu, cpu);
	return x86_assist_pio(mach, vcpu, cpu);
}

/*
 * Let KVM finish the pending instruction now, without entering the guest
 * (KVM_RUN with immediate_exit).  Accesses the instruction still makes
 * (the write half of an MMIO-to-MMIO MOVS, the memory side of INS) are
 * dispatched to the callbacks, or discarded.  An exit of another kind that
 * the completion produces is kept for the next nvmm_vcpu_run.  Afterwards
 * the cache holds the post-instruction registers.  0 or a negative errno.
 */
static int
complete_now(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu *vcpu, bool discard)
{
	struct kvm_run *run = cpu->run;
	unsigned int n;
	int error = 0;

	for (n = 0; n < VMM_COMPLETE_MAX; n++) {
		run->immediate_exit = 1;
		error = kvm_run_ioctl(cpu);
		run->immediate_exit = 0;
		if (error == -EINTR) {
			error = 0;
			break;
		}
		if (error != 0)
			break;
		if (run->exit_reason != KVM_EXIT_MMIO &&
		    run->exit_reason != KVM_EXIT_IO) {
			/* Discarding: the caller's registers win anyway. */
			if (!discard)
				cpu->deferred = true;
			break;
		}
		if ((error = complete_access(mach, cpu, vcpu, discard)) != 0)
			break;
	}
	/*
	 * Past VMM_COMPLETE_MAX the last access has been handed over: KVM
	 * finishes it at the next run, with nothing left to resolve.
	 */
	cpu->pending = VMM_PEND_NONE;
	if (cpu->deferred) {
		/* The instruction goes on at the next run. */
		exit_translate(mach, cpu, &cpu->deferred_exit);
		exit_state(cpu, &cpu->deferred_exit);
	}
	cpu->cached = 0;
	cpu->comm->pub.state_cached = 0;
	if (error == 0)
		error = kvm_cpu_getstate(cpu, NVMM_X64_STATE_GPRS |
		    NVMM_X64_STATE_SEGS);
	return error;
}

int
kvm_cpu_complete(struct vmm_cpu *cpu, struct nvmm_machine *mach,
    struct nvmm_vcpu *vcpu)
{
	return complete_now(mach, cpu, vcpu, false);
}

/* The committed RIP, if the caller set GPRS since the exit. */
static bool
committed_rip(const struct vmm_cpu *cpu, uint64_t *rip)
{
	if (!(cpu->commit & VMM_P_GPRS))
		return false;
	*rip = cpu->comm->pub.state.gprs[NVMM_X64_GPR_RIP];
	return true;
}

/*
 * Let KVM finish its pending completion without entering the guest, then
 * put back the caller's view of the registers (the exit's, if the caller
 * set none), so KVM's completion leaves no trace in them.
 */
static int
neutralize(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu *vcpu)
{
	struct nvmm_x64_state saved;
	uint32_t cached, commit;
	int error;

	if (!(cpu->commit & VMM_P_GPRS)) {
		if ((error = kvm_cpu_getstate(cpu, NVMM_X64_STATE_GPRS)) != 0)
			return error;
		cpu->commit |= VMM_P_GPRS;
	}
	saved = cpu->comm->pub.state;
	cached = cpu->cached;
	commit = cpu->commit;
	error = complete_now(mach, cpu, vcpu, true);
	cpu->comm->pub.state = saved;
	cpu->cached = cached;
	cpu->commit = commit;
	cpu->comm->pub.state_cached = kvm_state_flags(cached);
	return error;
}

/*
 * Before re-entering after an IO, MMIO or MSR exit the caller handled
 * without an assist: make KVM's pending completion agree with what the
 * caller did, so the guest sees exactly NVMM's behaviour.
 *  - IN/OUT with RIP at npc: KVM drops its completion by itself (it checks
 *    that RIP is unchanged) or, having emulated the instruction, writes
 *    back what the caller set anyway.
 *  - RDMSR/WRMSR with RIP at npc: KVM completes it with the caller's
 *    RDX:RAX; RIP is rewound so that KVM's own skip lands at npc.
 *  - RDMSR/WRMSR with a #GP(0) injected and RIP unchanged: KVM injects it.
 *  - Anything else (RIP left on the instruction, MMIO without the assist):
 *    KVM's completion runs now without entering the guest and the caller's
 *    registers (or the exit's, if the caller set none) are put back.
 */
static int
pending_resolve(struct nvmm_machine *mach, struct vmm_cpu *cpu,
    struct nvmm_vcpu *vcpu)
{
	const struct nvmm_x64_state *st = &cpu->comm->pub.state;
	const struct nvmm_vcpu_event *ev = &cpu->comm->pub.event;
	struct kvm_run *run = cpu->run;
	uint64_t rip;
	int error;

	/*
	 * At npc, the instruction is done as KVM would do it: its completion
	 * either drops itself (RIP moved) or, for an instruction it
	 * emulated, writes back the same registers.  Anywhere else (the
	 * caller reset the vcpu) an emulated instruction's completion would
	 * overwrite the caller's RIP: neutralize it below.
	 */
	if (cpu->pending == VMM_PEND_PIO && committed_rip(cpu, &rip) &&
	    rip == cpu->exit_npc) {
		cpu->pending = VMM_PEND_NONE;
		return 0;
	}
	if (cpu->pending == VMM_PEND_PIO_DONE) {
		/*
		 * KVM finished the OUT before exiting; its RIP is at npc while
		 * the caller saw the OUT.  Whatever the caller left is what
		 * the guest must see: commit the registers.
		 */
		cpu->pending = VMM_PEND_NONE;
		if (!(cpu->commit & VMM_P_GPRS)) {
			error = kvm_cpu_getstate(cpu, NVMM_X64_STATE_GPRS);
			if (error != 0)
				return error;
			cpu->commit |= VMM_P_GPRS;
		}
		return 0;
	}
	if (cpu->pending == VMM_PEND_MSR) {
		run->msr.error = 0;
		if (committed_rip(cpu, &rip) && rip == cpu->exit_npc) {
			run->msr.data = (st->gprs[NVMM_X64_GPR_RDX] << 32) |
			    (st->gprs[NVMM_X64_GPR_RAX] & 0xFFFFFFFF);
			cpu->comm->pub.state.gprs[NVMM_X64_GPR_RIP] =
			    cpu->exit_rip;
			cpu->rewound = true;
			cpu->pending = VMM_PEND_NONE;
			return 0;
		}
		if (cpu->comm->pub.event_commit &&
		    ev->type == NVMM_VCPU_EVENT_EXCP && ev->vector == 13 &&
		    ev->u.excp.error == 0 &&
		    (!committed_rip(cpu, &rip) || rip == cpu->exit_rip)) {
			run->msr.error = 1;
			cpu->comm->pub.event_commit = false;
			cpu->pending = VMM_PEND_NONE;
			return 0;
		}
	}
	return neutralize(mach, cpu, vcpu);
}

/* -------------------------------------------------------------------------- */
/* Run. */

/*
 * Commit what the caller set (state, then the event) into KVM.  Returns 0
 * or a negative errno; on -EINVAL for a bad event nothing was committed.
 */
static int
commit(struct nvmm_machine *mach, struct vmm_cpu *cpu, struct nvmm_vcpu *vcpu)
{
	struct nvmm_comm_page *comm = &cpu->comm->pub;
	int error;

	if (comm->event_commit && (error = event_check(&comm->event)) != 0) {
		comm->event_commit = false;
		return error;
	}
	if (cpu->pending != VMM_PEND_NONE &&
	    (error = pending_resolve(mach, cpu, vcpu)) != 0)
		return error;
	if (cpu->commit != 0) {
		if ((error = kvm_state_store(cpu, cpu->commit)) != 0)
			return error;
		if (cpu->rewound) {
			/* Keep the caller's view: RIP is at npc. */
			comm->state.gprs[NVMM_X64_GPR_RIP] = cpu->exit_npc;
			cpu->rewound = false;
		}
	}
	if (comm->event_commit) {
		event_store(cpu, &comm->event);
		comm->event_commit = false;
	}
	cpu->commit = 0;
	comm->state_commit = 0;
	cpu->cached = 0;
	comm->state_cached = 0;
	return 0;
}

/* NMIs are unmasked and none waits: the window NVMM would report is open. */
static bool
nmi_window_open(const struct vmm_cpu *cpu)
{
	const struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;

	return !ev->nmi.masked && !ev->nmi.pending && !ev->nmi.injected;
}

/*
 * Run the vcpu until the next exit NVMM would report.  Returns 0 (the exit
 * is in vcpu->exit) or a negative errno.
 */
int
kvm_cpu_run(struct vmm_mach *m, struct vmm_cpu *cpu, struct nvmm_machine *mach,
    struct nvmm_vcpu *vcpu)
{
	struct nvmm_comm_page *comm = &cpu->comm->pub;
	struct kvm_run *run = cpu->run;
	int error;

	if (cpu->deferred) {
		/* An exit produced while completing the last instruction. */
		cpu->deferred = false;
		*vcpu->exit = cpu->deferred_exit;
		return 0;
	}
	if ((error = commit(mach, cpu, vcpu)) != 0)
		return error;
	memset(vcpu->exit, 0, sizeof(*vcpu->exit));
	if (cpu->nmi_window && nmi_window_open(cpu)) {
		cpu->nmi_window = false;
		vcpu->exit->reason = NVMM_VCPU_EXIT_NMI_READY;
		goto out;
	}
	cpu->thread = pthread_self();
	cpu->running = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (comm->stop) {
		/* As NVMM: a stop requested before the run ends it at once. */
		vcpu->exit->reason = NVMM_VCPU_EXIT_STOPPED;
		cpu->running = 0;
		comm->stop = 0;
		run->immediate_exit = 0;
		goto out;
	}
	run->request_interrupt_window = cpu->int_window;
	error = kvm_run_ioctl(cpu);
	cpu->running = 0;
	cpu->ran = true;
	/*
	 * EAGAIN: an application processor of an in-kernel irqchip left its
	 * wait for INIT/SIPI; like a signal, nothing for the caller to do.
	 */
	if (error != 0 && error != -EINTR && error != -EAGAIN)
		return error;
	if (error != 0)
		run->exit_reason = KVM_EXIT_INTR;
	exit_translate(mach, cpu, vcpu->exit);
	if (comm->stop && vcpu->exit->reason == NVMM_VCPU_EXIT_NONE) {
		vcpu->exit->reason = NVMM_VCPU_EXIT_STOPPED;
		comm->stop = 0;
	}
	run->immediate_exit = 0;
out:
	exit_state(cpu, vcpu->exit);
	return 0;
}

/*
 * nvmm_vcpu_stop: async-signal-safe.  Mark the stop, make any KVM_RUN about
 * to start return at once, and kick the thread out of one in progress.
 */
void
kvm_cpu_stop(struct nvmm_vcpu *vcpu)
{
	struct vmm_comm *c;
	struct vmm_cpu *cpu;

	c = (struct vmm_comm *)(void *)((uintptr_t)vcpu->stop -
	    offsetof(struct vmm_comm, pub.stop));
	cpu = c->cpu;
	*vcpu->stop = 1;
	__atomic_store_n(&cpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (cpu->running && !pthread_equal(cpu->thread, pthread_self()) &&
	    kvm_cpu_kick_signo != 0)
		pthread_kill(cpu->thread, kvm_cpu_kick_signo);
}
