/*
 * kvm_state.c: translation between NVMM's x64 state and KVM's vcpu state.
 *
 * NVMM state is kept per part (a "part" is the smallest unit KVM reads or
 * writes at once, see VMM_P_* in kvm_cpu.h).  The parts that KVM delivers in
 * the shared kvm_run page (KVM_CAP_SYNC_REGS: regs, sregs, events) convert
 * without a system call; the others need an ioctl on the vcpu descriptor.
 */

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_cpu.h"

#define MSR_IA32_TSC		0x00000010
#define MSR_IA32_SYSENTER_CS	0x00000174
#define MSR_IA32_SYSENTER_ESP	0x00000175
#define MSR_IA32_SYSENTER_EIP	0x00000176
#define MSR_IA32_PAT		0x00000277
#define MSR_STAR		0xC0000081
#define MSR_LSTAR		0xC0000082
#define MSR_CSTAR		0xC0000083
#define MSR_SFMASK		0xC0000084
#define MSR_KERNELGSBASE	0xC0000102

#define CR0_ET			0x00000010ULL
#define XCR0_X87		0x1ULL

/*
 * NVMM MSR slots (other than EFER, which lives in sregs), their indexes, and
 * whether the register is 32 bits wide on AMD's architecture (see
 * msrs_store).
 */
static const struct {
	int slot;
	uint32_t index;
	bool amd32;
} kvm_state_msrs[] = {
	{ NVMM_X64_MSR_STAR, MSR_STAR, false },
	{ NVMM_X64_MSR_LSTAR, MSR_LSTAR, false },
	{ NVMM_X64_MSR_CSTAR, MSR_CSTAR, false },
	{ NVMM_X64_MSR_SFMASK, MSR_SFMASK, false },
	{ NVMM_X64_MSR_KERNELGSBASE, MSR_KERNELGSBASE, false },
	{ NVMM_X64_MSR_SYSENTER_CS, MSR_IA32_SYSENTER_CS, false },
	{ NVMM_X64_MSR_SYSENTER_ESP, MSR_IA32_SYSENTER_ESP, true },
	{ NVMM_X64_MSR_SYSENTER_EIP, MSR_IA32_SYSENTER_EIP, true },
	{ NVMM_X64_MSR_PAT, MSR_IA32_PAT, false },
	{ NVMM_X64_MSR_TSC, MSR_IA32_TSC, false },
};
#define KVM_STATE_NMSRS	(sizeof(kvm_state_msrs) / sizeof(kvm_state_msrs[0]))

/* The parts of each public NVMM_X64_STATE_* flag, by flag bit. */
static const uint32_t kvm_state_flag_parts[] = {
	VMM_P_SEGS,			/* NVMM_X64_STATE_SEGS */
	VMM_P_GPRS,			/* NVMM_X64_STATE_GPRS */
	VMM_P_CRS | VMM_P_XCR0,		/* NVMM_X64_STATE_CRS */
	VMM_P_DRS,			/* NVMM_X64_STATE_DRS */
	VMM_P_EFER | VMM_P_MSRS,	/* NVMM_X64_STATE_MSRS */
	VMM_P_INTR,			/* NVMM_X64_STATE_INTR */
	VMM_P_FPU,			/* NVMM_X64_STATE_FPU */
};
#define KVM_STATE_NFLAGS \
	(sizeof(kvm_state_flag_parts) / sizeof(kvm_state_flag_parts[0]))

/* Which parts the public flags cover (unknown bits are ignored). */
uint32_t
kvm_state_parts(uint64_t flags)
{
	uint32_t parts = 0;
	size_t i;

	for (i = 0; i < KVM_STATE_NFLAGS; i++) {
		if (flags & (1ULL << i))
			parts |= kvm_state_flag_parts[i];
	}
	return parts;
}

/* The public flags whose parts are all present in parts. */
uint64_t
kvm_state_flags(uint32_t parts)
{
	uint64_t flags = 0;
	size_t i;

	for (i = 0; i < KVM_STATE_NFLAGS; i++) {
		if ((parts & kvm_state_flag_parts[i]) ==
		    kvm_state_flag_parts[i])
			flags |= 1ULL << i;
	}
	return flags;
}

/* -------------------------------------------------------------------------- */
/* Sync parts: kvm_run->s.regs <-> comm->state, no system call. */

static void
gprs_load(struct nvmm_x64_state *st, const struct kvm_regs *r)
{
	uint64_t *g = st->gprs;

	g[NVMM_X64_GPR_RAX] = r->rax;
	g[NVMM_X64_GPR_RCX] = r->rcx;
	g[NVMM_X64_GPR_RDX] = r->rdx;
	g[NVMM_X64_GPR_RBX] = r->rbx;
	g[NVMM_X64_GPR_RSP] = r->rsp;
	g[NVMM_X64_GPR_RBP] = r->rbp;
	g[NVMM_X64_GPR_RSI] = r->rsi;
	g[NVMM_X64_GPR_RDI] = r->rdi;
	g[NVMM_X64_GPR_R8] = r->r8;
	g[NVMM_X64_GPR_R9] = r->r9;
	g[NVMM_X64_GPR_R10] = r->r10;
	g[NVMM_X64_GPR_R11] = r->r11;
	g[NVMM_X64_GPR_R12] = r->r12;
	g[NVMM_X64_GPR_R13] = r->r13;
	g[NVMM_X64_GPR_R14] = r->r14;
	g[NVMM_X64_GPR_R15] = r->r15;
	g[NVMM_X64_GPR_RIP] = r->rip;
	g[NVMM_X64_GPR_RFLAGS] = r->rflags;
}

static void
gprs_store(struct kvm_regs *r, const struct nvmm_x64_state *st)
{
	const uint64_t *g = st->gprs;

	r->rax = g[NVMM_X64_GPR_RAX];
	r->rcx = g[NVMM_X64_GPR_RCX];
	r->rdx = g[NVMM_X64_GPR_RDX];
	r->rbx = g[NVMM_X64_GPR_RBX];
	r->rsp = g[NVMM_X64_GPR_RSP];
	r->rbp = g[NVMM_X64_GPR_RBP];
	r->rsi = g[NVMM_X64_GPR_RSI];
	r->rdi = g[NVMM_X64_GPR_RDI];
	r->r8 = g[NVMM_X64_GPR_R8];
	r->r9 = g[NVMM_X64_GPR_R9];
	r->r10 = g[NVMM_X64_GPR_R10];
	r->r11 = g[NVMM_X64_GPR_R11];
	r->r12 = g[NVMM_X64_GPR_R12];
	r->r13 = g[NVMM_X64_GPR_R13];
	r->r14 = g[NVMM_X64_GPR_R14];
	r->r15 = g[NVMM_X64_GPR_R15];
	r->rip = g[NVMM_X64_GPR_RIP];
	/* Bit 1 of RFLAGS is reserved and always set. */
	r->rflags = g[NVMM_X64_GPR_RFLAGS] | 0x2;
}

static void
seg_load(struct nvmm_x64_state_seg *s, const struct kvm_segment *k)
{
	memset(s, 0, sizeof(*s));
	s->selector = k->selector;
	s->attrib.type = k->type;
	s->attrib.s = k->s;
	s->attrib.dpl = k->dpl;
	s->attrib.p = k->present;
	s->attrib.avl = k->avl;
	s->attrib.l = k->l;
	s->attrib.def = k->db;
	s->attrib.g = k->g;
	s->limit = k->limit;
	s->base = k->base;
}

static void
seg_store(struct kvm_segment *k, const struct nvmm_x64_state_seg *s)
{
	memset(k, 0, sizeof(*k));
	k->selector = s->selector;
	k->type = s->attrib.type;
	k->s = s->attrib.s;
	k->dpl = s->attrib.dpl;
	k->present = s->attrib.p;
	k->avl = s->attrib.avl;
	k->l = s->attrib.l;
	k->db = s->attrib.def;
	k->g = s->attrib.g;
	k->limit = s->limit;
	k->base = s->base;
	/* As NVMM on VMX: a segment that is not present is unusable. */
	k->unusable = !s->attrib.p;
}

static void
dtable_load(struct nvmm_x64_state_seg *s, const struct kvm_dtable *d)
{
	memset(s, 0, sizeof(*s));
	s->attrib.type = 2;
	s->attrib.p = 1;
	s->limit = d->limit;
	s->base = d->base;
}

static void
dtable_store(struct kvm_dtable *d, const struct nvmm_x64_state_seg *s)
{
	memset(d, 0, sizeof(*d));
	d->limit = (uint16_t)s->limit;
	d->base = s->base;
}

static void
segs_load(struct nvmm_x64_state *st, const struct kvm_sregs *sr)
{
	struct nvmm_x64_state_seg *s = st->segs;

	seg_load(&s[NVMM_X64_SEG_ES], &sr->es);
	seg_load(&s[NVMM_X64_SEG_CS], &sr->cs);
	seg_load(&s[NVMM_X64_SEG_SS], &sr->ss);
	seg_load(&s[NVMM_X64_SEG_DS], &sr->ds);
	seg_load(&s[NVMM_X64_SEG_FS], &sr->fs);
	seg_load(&s[NVMM_X64_SEG_GS], &sr->gs);
	dtable_load(&s[NVMM_X64_SEG_GDT], &sr->gdt);
	dtable_load(&s[NVMM_X64_SEG_IDT], &sr->idt);
	seg_load(&s[NVMM_X64_SEG_LDT], &sr->ldt);
	seg_load(&s[NVMM_X64_SEG_TR], &sr->tr);
}

static void
segs_store(struct kvm_sregs *sr, const struct nvmm_x64_state *st)
{
	const struct nvmm_x64_state_seg *s = st->segs;

	seg_store(&sr->es, &s[NVMM_X64_SEG_ES]);
	seg_store(&sr->cs, &s[NVMM_X64_SEG_CS]);
	seg_store(&sr->ss, &s[NVMM_X64_SEG_SS]);
	seg_store(&sr->ds, &s[NVMM_X64_SEG_DS]);
	seg_store(&sr->fs, &s[NVMM_X64_SEG_FS]);
	seg_store(&sr->gs, &s[NVMM_X64_SEG_GS]);
	dtable_store(&sr->gdt, &s[NVMM_X64_SEG_GDT]);
	dtable_store(&sr->idt, &s[NVMM_X64_SEG_IDT]);
	seg_store(&sr->ldt, &s[NVMM_X64_SEG_LDT]);
	seg_store(&sr->tr, &s[NVMM_X64_SEG_TR]);
	/* The task register is always usable (a busy TSS). */
	sr->tr.unusable = 0;
}

static void
crs_load(struct nvmm_x64_state *st, const struct kvm_sregs *sr)
{
	st->crs[NVMM_X64_CR_CR0] = sr->cr0;
	st->crs[NVMM_X64_CR_CR2] = sr->cr2;
	st->crs[NVMM_X64_CR_CR3] = sr->cr3;
	st->crs[NVMM_X64_CR_CR4] = sr->cr4;
	st->crs[NVMM_X64_CR_CR8] = sr->cr8;
}

static void
crs_store(struct kvm_sregs *sr, const struct nvmm_x64_state *st)
{
	/* CR0.ET is hardwired to 1 on every CPU with long mode. */
	sr->cr0 = st->crs[NVMM_X64_CR_CR0] | CR0_ET;
	sr->cr2 = st->crs[NVMM_X64_CR_CR2];
	sr->cr3 = st->crs[NVMM_X64_CR_CR3];
	sr->cr4 = st->crs[NVMM_X64_CR_CR4];
	sr->cr8 = st->crs[NVMM_X64_CR_CR8];
}

static bool
events_pending(const struct kvm_vcpu_events *ev)
{
	return ev->exception.injected || ev->exception.pending ||
	    ev->interrupt.injected || ev->nmi.injected || ev->nmi.pending;
}

static void
intr_load(struct vmm_cpu *cpu, struct nvmm_x64_state *st)
{
	const struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;

	memset(&st->intr, 0, sizeof(st->intr));
	st->intr.int_shadow = ev->interrupt.shadow != 0;
	st->intr.int_window_exiting = cpu->int_window;
	st->intr.nmi_window_exiting = cpu->nmi_window;
	st->intr.evt_pending = events_pending(ev);
}

static void
intr_store(struct vmm_cpu *cpu, const struct nvmm_x64_state *st)
{
	struct kvm_vcpu_events *ev = &cpu->run->s.regs.events;

	/*
	 * MOV-SS blocking: it blocks interrupts as STI blocking does, without
	 * VMX's rule that STI blocking requires RFLAGS.IF.
	 */
	ev->interrupt.shadow = st->intr.int_shadow ? KVM_X86_SHADOW_INT_MOV_SS : 0;
	ev->flags |= KVM_VCPUEVENT_VALID_SHADOW;
	cpu->int_window = st->intr.int_window_exiting;
	cpu->nmi_window = st->intr.nmi_window_exiting;
}

/* -------------------------------------------------------------------------- */
/* Parts behind an ioctl. */

static int
vcpu_ioctl(struct vmm_cpu *cpu, unsigned long req, void *arg)
{
	return ioctl(cpu->fd, req, arg) == -1 ? -errno : 0;
}

static int
xcr0_load(struct vmm_cpu *cpu, struct nvmm_x64_state *st)
{
	struct kvm_xcrs xcrs;
	uint32_t i;
	int error;

	memset(&xcrs, 0, sizeof(xcrs));
	if ((error = vcpu_ioctl(cpu, KVM_GET_XCRS, &xcrs)) != 0)
		return error;
	st->crs[NVMM_X64_CR_XCR0] = XCR0_X87;
	for (i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
		if (xcrs.xcrs[i].xcr == 0)
			st->crs[NVMM_X64_CR_XCR0] = xcrs.xcrs[i].value;
	}
	return 0;
}

static int
xcr0_store(struct vmm_cpu *cpu, const struct nvmm_x64_state *st)
{
	struct kvm_xcrs xcrs;

	memset(&xcrs, 0, sizeof(xcrs));
	xcrs.nr_xcrs = 1;
	xcrs.xcrs[0].xcr = 0;
	/* As NVMM: masked with the supported bits, x87 always on. */
	xcrs.xcrs[0].value = (st->crs[NVMM_X64_CR_XCR0] &
	    vmm_lib.cap.arch.xcr0_mask) | XCR0_X87;
	return vcpu_ioctl(cpu, KVM_SET_XCRS, &xcrs);
}

static int
drs_load(struct vmm_cpu *cpu, struct nvmm_x64_state *st)
{
	struct kvm_debugregs dr;
	int error, i;

	memset(&dr, 0, sizeof(dr));
	if ((error = vcpu_ioctl(cpu, KVM_GET_DEBUGREGS, &dr)) != 0)
		return error;
	for (i = 0; i < 4; i++)
		st->drs[NVMM_X64_DR_DR0 + i] = dr.db[i];
	st->drs[NVMM_X64_DR_DR6] = dr.dr6;
	st->drs[NVMM_X64_DR_DR7] = dr.dr7;
	return 0;
}

static int
drs_store(struct vmm_cpu *cpu, const struct nvmm_x64_state *st)
{
	struct kvm_debugregs dr;
	int i;

	memset(&dr, 0, sizeof(dr));
	for (i = 0; i < 4; i++)
		dr.db[i] = st->drs[NVMM_X64_DR_DR0 + i];
	/* As NVMM: DR6 is a 32-bit register. */
	dr.dr6 = (uint32_t)st->drs[NVMM_X64_DR_DR6];
	dr.dr7 = st->drs[NVMM_X64_DR_DR7];
	return vcpu_ioctl(cpu, KVM_SET_DEBUGREGS, &dr);
}

struct kvm_state_msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[KVM_STATE_NMSRS];
};

static int
msrs_load(struct vmm_cpu *cpu, struct nvmm_x64_state *st)
{
	struct kvm_state_msr_buf b;
	size_t i;
	int rv;

	memset(&b, 0, sizeof(b));
	b.hdr.nmsrs = KVM_STATE_NMSRS;
	for (i = 0; i < KVM_STATE_NMSRS; i++)
		b.e[i].index = kvm_state_msrs[i].index;
	rv = ioctl(cpu->fd, KVM_GET_MSRS, &b);
	if (rv == -1)
		return -errno;
	if ((size_t)rv != KVM_STATE_NMSRS)
		return -EIO;
	for (i = 0; i < KVM_STATE_NMSRS; i++)
		st->msrs[kvm_state_msrs[i].slot] = b.e[i].data;
	return 0;
}

/* CPUID vendor strings (leaf 0 EBX, EDX, ECX) of AMD's architecture. */
static const uint32_t kvm_state_amd_vendors[][3] = {
	{ 0x68747541, 0x69746e65, 0x444d4163 },	/* AuthenticAMD */
	{ 0x6f677948, 0x6e65476e, 0x656e6975 },	/* HygonGenuine */
};

/* Does the vcpu's CPUID table name a vendor of AMD's architecture? */
static bool
cpuid_is_amd(const struct vmm_cpu *cpu)
{
	const struct kvm_cpuid2 *c = cpu->cpuid_table;
	const struct kvm_cpuid_entry2 *e;
	uint32_t i;
	size_t v;

	if (c == NULL)
		return false;
	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function != 0)
			continue;
		for (v = 0; v < sizeof(kvm_state_amd_vendors) /
		    sizeof(kvm_state_amd_vendors[0]); v++) {
			if (e->ebx == kvm_state_amd_vendors[v][0] &&
			    e->edx == kvm_state_amd_vendors[v][1] &&
			    e->ecx == kvm_state_amd_vendors[v][2])
				return true;
		}
		return false;
	}
	return false;
}

/*
 * On AMD's architecture SYSENTER_ESP and SYSENTER_EIP are 32-bit registers:
 * SYSENTER is a legacy-mode instruction there (AMD APM vol. 2, 6.1.1) and
 * the CPU keeps only the low half of a write, which kvm-amd mirrors by
 * truncating a write itself when the vcpu's CPUID vendor is AMD
 * (svm_set_msr).  Other KVMs (PVM on an AMD host) keep all 64 bits.  So for
 * a vcpu of AMD CPUID libvmm writes the low half: the same state on every
 * KVM, that of the CPU the vcpu claims to be.  On Intel both hold 64-bit
 * addresses (SDM vol. 2B, SYSENTER) and are written whole.
 */
static int
msrs_store(struct vmm_cpu *cpu, const struct nvmm_x64_state *st)
{
	struct kvm_state_msr_buf b;
	bool amd = cpuid_is_amd(cpu);
	uint64_t v;
	size_t i;
	int rv;

	memset(&b, 0, sizeof(b));
	b.hdr.nmsrs = KVM_STATE_NMSRS;
	for (i = 0; i < KVM_STATE_NMSRS; i++) {
		v = st->msrs[kvm_state_msrs[i].slot];
		b.e[i].index = kvm_state_msrs[i].index;
		b.e[i].data = amd && kvm_state_msrs[i].amd32 ? (uint32_t)v : v;
	}
	rv = ioctl(cpu->fd, KVM_SET_MSRS, &b);
	if (rv == -1)
		return -errno;
	/* KVM stops at the first MSR it refuses (a bad PAT, say). */
	return (size_t)rv == KVM_STATE_NMSRS ? 0 : -EINVAL;
}

/*
 * The FPU goes through KVM_GET/SET_XSAVE: its first 512 bytes are the FXSAVE
 * image NVMM uses, byte for byte.  KVM_SET_FPU is not enough: it leaves the
 * XSAVE header alone, and a component whose XSTATE_BV bit is clear is
 * restored in its initial state, whatever the image says.
 */
#define XSAVE_HDR_BV	(512 / 4)	/* XSTATE_BV, in region[] words */
#define XFEATURE_X87	0x1ULL
#define XFEATURE_SSE	0x2ULL
#define XFEATURE_YMM	0x4ULL

static uint64_t
xsave_bv(const struct kvm_xsave *x)
{
	uint64_t bv;

	memcpy(&bv, &x->region[XSAVE_HDR_BV], sizeof(bv));
	return bv;
}

static int
fpu_load(struct vmm_cpu *cpu, struct nvmm_x64_state *st)
{
	struct fxsave *fx = &st->fpu;
	struct kvm_xsave x;
	uint64_t bv;
	int error;

	if ((error = vcpu_ioctl(cpu, KVM_GET_XSAVE, &x)) != 0)
		return error;
	memcpy(fx, x.region, sizeof(*fx));
	bv = xsave_bv(&x);
	if (!(bv & XFEATURE_X87)) {
		/* x87 in its initial state (Intel SDM 13.6). */
		fx->fx_cw = 0x37F;
		fx->fx_sw = 0;
		fx->fx_tw = 0;
		fx->fx_opcode = 0;
		fx->fx_ip.fa_64 = 0;
		fx->fx_dp.fa_64 = 0;
		memset(fx->fx_87_ac, 0, sizeof(fx->fx_87_ac));
	}
	if (!(bv & XFEATURE_SSE))
		memset(fx->fx_xmm, 0, sizeof(fx->fx_xmm));
	if (!(bv & (XFEATURE_SSE | XFEATURE_YMM)))
		fx->fx_mxcsr = 0x1F80;
	fx->fx_mxcsr_mask = vmm_lib.cap.arch.mxcsr_mask;
	memset(fx->fx_rsvd, 0, sizeof(fx->fx_rsvd));
	memset(fx->fx_kernel, 0, sizeof(fx->fx_kernel));
	return 0;
}

static int
fpu_store(struct vmm_cpu *cpu, const struct nvmm_x64_state *st)
{
	struct fxsave fx = st->fpu;
	struct kvm_xsave x;
	uint64_t bv;
	int error;

	if ((error = vcpu_ioctl(cpu, KVM_GET_XSAVE, &x)) != 0)
		return error;
	/* As NVMM: reserved MXCSR bits are cleared, not faulted on. */
	fx.fx_mxcsr &= vmm_lib.cap.arch.mxcsr_mask;
	fx.fx_mxcsr_mask = 0;
	memcpy(fx.fx_rsvd, (const uint8_t *)x.region +
	    offsetof(struct fxsave, fx_rsvd), sizeof(fx.fx_rsvd));
	memcpy(fx.fx_kernel, (const uint8_t *)x.region +
	    offsetof(struct fxsave, fx_kernel), sizeof(fx.fx_kernel));
	memcpy(x.region, &fx, sizeof(fx));
	bv = xsave_bv(&x) | XFEATURE_X87 | XFEATURE_SSE;
	memcpy(&x.region[XSAVE_HDR_BV], &bv, sizeof(bv));
	return vcpu_ioctl(cpu, KVM_SET_XSAVE, &x);
}

/* -------------------------------------------------------------------------- */

/*
 * Fill the given parts of cpu->comm->pub.state from KVM.  Sync parts come
 * from the kvm_run page; the others cost one ioctl each.  Returns 0 or a
 * negative errno; parts loaded before a failure stay loaded.
 */
int
kvm_state_load(struct vmm_cpu *cpu, uint32_t parts)
{
	struct nvmm_x64_state *st = &cpu->comm->pub.state;
	const struct kvm_sync_regs *s = &cpu->run->s.regs;
	int error = 0;

	if (parts & VMM_P_GPRS)
		gprs_load(st, &s->regs);
	if (parts & VMM_P_SEGS)
		segs_load(st, &s->sregs);
	if (parts & VMM_P_CRS)
		crs_load(st, &s->sregs);
	if (parts & VMM_P_EFER)
		st->msrs[NVMM_X64_MSR_EFER] = s->sregs.efer;
	if (parts & VMM_P_INTR)
		intr_load(cpu, st);
	if (error == 0 && (parts & VMM_P_XCR0))
		error = xcr0_load(cpu, st);
	if (error == 0 && (parts & VMM_P_DRS))
		error = drs_load(cpu, st);
	if (error == 0 && (parts & VMM_P_MSRS))
		error = msrs_load(cpu, st);
	if (error == 0 && (parts & VMM_P_FPU))
		error = fpu_load(cpu, st);
	return error;
}

/*
 * Write the given parts of cpu->comm->pub.state to KVM.  Sync parts are
 * written into the kvm_run page and flagged dirty, so the next KVM_RUN
 * applies them; the others are set now with an ioctl each.  Returns 0 or a
 * negative errno.
 */
int
kvm_state_store(struct vmm_cpu *cpu, uint32_t parts)
{
	const struct nvmm_x64_state *st = &cpu->comm->pub.state;
	struct kvm_run *run = cpu->run;
	struct kvm_sync_regs *s = &run->s.regs;
	int error = 0;

	if (parts & VMM_P_GPRS) {
		gprs_store(&s->regs, st);
		run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	if (parts & (VMM_P_SEGS | VMM_P_CRS | VMM_P_EFER)) {
		if (parts & VMM_P_SEGS)
			segs_store(&s->sregs, st);
		if (parts & VMM_P_CRS) {
			crs_store(&s->sregs, st);
			/* Without an in-kernel APIC, KVM_RUN reloads CR8
			 * (the TPR) from here after applying sregs. */
			run->cr8 = st->crs[NVMM_X64_CR_CR8];
		}
		if (parts & VMM_P_EFER)
			s->sregs.efer = st->msrs[NVMM_X64_MSR_EFER];
		run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
	}
	if (parts & VMM_P_INTR) {
		intr_store(cpu, st);
		run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	}
	if (error == 0 && (parts & VMM_P_XCR0))
		error = xcr0_store(cpu, st);
	if (error == 0 && (parts & VMM_P_DRS))
		error = drs_store(cpu, st);
	if (error == 0 && (parts & VMM_P_MSRS))
		error = msrs_store(cpu, st);
	if (error == 0 && (parts & VMM_P_FPU))
		error = fpu_store(cpu, st);
	return error;
}

/* Whether an event is still waiting to be delivered (exitstate.evt_pending). */
bool
kvm_state_evt_pending(const struct vmm_cpu *cpu)
{
	return events_pending(&cpu->run->s.regs.events);
}

/*
 * The reset state NVMM gives a new vcpu (nvmm_x86_reset_state): real mode
 * at F000:FFF0 with the power-on register values.
 */
void
kvm_state_reset(struct nvmm_x64_state *st)
{
	int i;

	memset(st, 0, sizeof(*st));
	for (i = NVMM_X64_SEG_ES; i <= NVMM_X64_SEG_GS; i++) {
		st->segs[i].limit = 0xFFFF;
		st->segs[i].attrib.type = 3;
		st->segs[i].attrib.s = 1;
		st->segs[i].attrib.p = 1;
	}
	st->segs[NVMM_X64_SEG_CS].selector = 0xF000;
	st->segs[NVMM_X64_SEG_CS].base = 0xFFFF0000;
	/* CS is a code segment: execute/read, accessed. */
	st->segs[NVMM_X64_SEG_CS].attrib.type = 0xB;
	st->segs[NVMM_X64_SEG_GDT].limit = 0xFFFF;
	st->segs[NVMM_X64_SEG_GDT].attrib.type = 2;
	st->segs[NVMM_X64_SEG_IDT].limit = 0xFFFF;
	st->segs[NVMM_X64_SEG_IDT].attrib.type = 2;
	st->segs[NVMM_X64_SEG_LDT].limit = 0xFFFF;
	st->segs[NVMM_X64_SEG_LDT].attrib.type = 2;	/* SDT_SYSLDT */
	st->segs[NVMM_X64_SEG_LDT].attrib.p = 1;
	st->segs[NVMM_X64_SEG_TR].limit = 0xFFFF;
	st->segs[NVMM_X64_SEG_TR].attrib.type = 3;	/* SDT_SYS286BSY */
	st->segs[NVMM_X64_SEG_TR].attrib.p = 1;

	st->gprs[NVMM_X64_GPR_RDX] = 0x600;
	st->gprs[NVMM_X64_GPR_RIP] = 0xFFF0;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;

	st->crs[NVMM_X64_CR_CR0] = 0x60000010;
	st->crs[NVMM_X64_CR_XCR0] = XCR0_X87;
	st->drs[NVMM_X64_DR_DR6] = 0xFFFF0FF0;
	st->drs[NVMM_X64_DR_DR7] = 0x400;
	st->msrs[NVMM_X64_MSR_PAT] = 0x0007040600070406ULL;

	st->fpu.fx_cw = 0x40;
	st->fpu.fx_tw = 0x55;
	st->fpu.fx_mxcsr = 0x1F80;
}
