/*
 * libnvmm_x86.c: the x86 assists (nvmm_assist_io, nvmm_assist_mem), the
 * decoding of the IO and MSR instructions behind an exit, and
 * nvmm_vcpu_dump.
 *
 * On KVM the kernel has already decoded the faulting instruction and reports
 * each of its accesses (one MMIO access, or a batch of port I/O elements);
 * the assists hand those accesses to the caller's callbacks and let KVM
 * finish the instruction, so the guest sees what an NVMM program expects.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kvm_cpu.h"

#define SEG_ES	NVMM_X64_SEG_ES
#define SEG_DS	NVMM_X64_SEG_DS

/* -------------------------------------------------------------------------- */
/* Decoding. */

struct x86_prefixes {
	size_t len;
	bool rep;
	bool adsize;
	int8_t seg;
};

/* Legacy prefixes, then a REX prefix in 64-bit mode.  Returns their length. */
static void
decode_prefixes(const uint8_t *b, size_t n, bool longmode,
    struct x86_prefixes *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->seg = -1;
	for (i = 0; i < n; i++) {
		switch (b[i]) {
		case 0x66:
		case 0xF0:
			continue;
		case 0x67:
			p->adsize = true;
			continue;
		case 0xF2:
		case 0xF3:
			p->rep = true;
			continue;
		case 0x26: p->seg = NVMM_X64_SEG_ES; continue;
		case 0x2E: p->seg = NVMM_X64_SEG_CS; continue;
		case 0x36: p->seg = NVMM_X64_SEG_SS; continue;
		case 0x3E: p->seg = NVMM_X64_SEG_DS; continue;
		case 0x64: p->seg = NVMM_X64_SEG_FS; continue;
		case 0x65: p->seg = NVMM_X64_SEG_GS; continue;
		default:
			break;
		}
		break;
	}
	if (longmode && i < n && (b[i] & 0xF0) == 0x40)
		i++;
	p->len = i;
}

/* The address size of the current mode, after a 0x67 prefix. */
static uint8_t
address_size(bool longmode, bool def32, bool adsize)
{
	if (longmode)
		return adsize ? 4 : 8;
	if (def32)
		return adsize ? 2 : 4;
	return adsize ? 4 : 2;
}

/*
 * Decode the port I/O instruction in b[0..n).  Fills len, seg (-1 for the
 * non-string forms), address_size, rep and str.  0 or -EINVAL.
 */
int
x86_decode_io(const uint8_t *b, size_t n, bool longmode, bool def32,
    struct x86_insn_io *io)
{
	struct x86_prefixes p;
	size_t len;

	decode_prefixes(b, n, longmode, &p);
	if (p.len >= n)
		return -EINVAL;
	memset(io, 0, sizeof(*io));
	io->seg = -1;
	io->address_size = address_size(longmode, def32, p.adsize);
	len = p.len + 1;
	io->opcode = b[p.len];
	switch (b[p.len]) {
	case 0x6C: case 0x6D:		/* INS: always ES:rDI */
		io->str = true;
		io->seg = SEG_ES;
		break;
	case 0x6E: case 0x6F:		/* OUTS: DS:rSI unless overridden */
		io->str = true;
		io->seg = p.seg >= 0 ? p.seg : SEG_DS;
		break;
	case 0xE4: case 0xE5: case 0xE6: case 0xE7:	/* imm8 port */
		len++;
		break;
	case 0xEC: case 0xED: case 0xEE: case 0xEF:	/* port in DX */
		break;
	default:
		return -EINVAL;
	}
	if (len > n || len > 15)
		return -EINVAL;
	io->rep = io->str && p.rep;
	io->len = (uint8_t)len;
	return 0;
}

/* Decode RDMSR/WRMSR (0F 32 / 0F 30) with any prefixes.  0 or -EINVAL. */
int
x86_decode_msr(const uint8_t *b, size_t n, bool longmode, uint8_t *len)
{
	struct x86_prefixes p;

	decode_prefixes(b, n, longmode, &p);
	if (p.len + 2 > n || p.len + 2 > 15 || b[p.len] != 0x0F ||
	    (b[p.len + 1] != 0x30 && b[p.len + 1] != 0x32))
		return -EINVAL;
	*len = (uint8_t)(p.len + 2);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Accesses reported by KVM, handed to the callbacks. */

/*
 * The port I/O elements of the current KVM_EXIT_IO: one io callback per
 * element, in order.  For IN the callback's bytes go back to KVM.  Returns 0
 * or a negative errno.
 */
int
x86_assist_pio(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    struct vmm_cpu *cpu)
{
	struct kvm_run *run = cpu->run;
	uint8_t data[8], *elem;
	struct nvmm_io io;
	size_t total;
	uint32_t i;

	if (vcpu->cbs.io == NULL)
		return -EINVAL;
	if (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)
		return -EIO;
	total = (size_t)run->io.size * run->io.count;
	if (run->io.data_offset > cpu->run_size ||
	    total > cpu->run_size - run->io.data_offset)
		return -EIO;
	elem = (uint8_t *)run + run->io.data_offset;
	for (i = 0; i < run->io.count; i++, elem += run->io.size) {
		memset(&io, 0, sizeof(io));
		io.mach = mach;
		io.vcpu = vcpu;
		io.port = run->io.port;
		io.in = run->io.direction == KVM_EXIT_IO_IN;
		io.size = run->io.size;
		io.data = data;
		memset(data, 0, sizeof(data));
		if (!io.in)
			memcpy(data, elem, io.size);
		(*vcpu->cbs.io)(&io);
		if (io.in)
			memcpy(elem, data, run->io.size);
	}
	return 0;
}

/* The MMIO access of the current KVM_EXIT_MMIO, through the mem callback. */
int
x86_assist_mmio(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    struct vmm_cpu *cpu)
{
	struct kvm_run *run = cpu->run;
	struct nvmm_mem mem;
	uint8_t data[8];

	if (vcpu->cbs.mem == NULL)
		return -EINVAL;
	if (run->mmio.len == 0 || run->mmio.len > sizeof(data))
		return -EIO;
	memset(&mem, 0, sizeof(mem));
	memset(data, 0, sizeof(data));
	mem.mach = mach;
	mem.vcpu = vcpu;
	mem.gpa = run->mmio.phys_addr;
	mem.write = run->mmio.is_write != 0;
	mem.size = run->mmio.len;
	mem.data = data;
	if (mem.write)
		memcpy(data, run->mmio.data, mem.size);
	(*vcpu->cbs.mem)(&mem);
	if (!mem.write)
		memcpy(run->mmio.data, data, mem.size);
	return 0;
}

/* -------------------------------------------------------------------------- */
/* The assists. */

/*
 * IN or OUT: done here, in the register cache, as libnvmm does: OUT sends the
 * low bytes of RAX, IN merges (1, 2 bytes) or zero-extends (4 bytes) into
 * RAX, and RIP moves to npc.  KVM sees RIP moved and drops its own
 * completion, so the handled exit costs no system call.
 */
static int
assist_pio_simple(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    struct vmm_cpu *cpu)
{
	const struct nvmm_x86_exit_io *x = &vcpu->exit->u.io;
	uint64_t *rax = &vcpu->state->gprs[NVMM_X64_GPR_RAX];
	struct nvmm_io io;
	uint8_t data[8];
	int error;

	if (vcpu->cbs.io == NULL)
		return -EINVAL;
	if (x->operand_size != 1 && x->operand_size != 2 &&
	    x->operand_size != 4)
		return -EINVAL;
	if ((error = kvm_cpu_getstate(cpu, NVMM_X64_STATE_GPRS)) != 0)
		return error;
	memset(&io, 0, sizeof(io));
	memset(data, 0, sizeof(data));
	io.mach = mach;
	io.vcpu = vcpu;
	io.port = x->port;
	io.in = x->in;
	io.size = x->operand_size;
	io.data = data;
	if (!io.in)
		memcpy(data, rax, io.size);
	(*vcpu->cbs.io)(&io);
	if (io.in) {
		if (io.size == 4)
			*rax = 0;
		memcpy(rax, data, io.size);
	}
	vcpu->state->gprs[NVMM_X64_GPR_RIP] = x->npc;
	kvm_cpu_setstate(cpu, NVMM_X64_STATE_GPRS);
	cpu->pending = VMM_PEND_NONE;
	return 0;
}

NVMM_EXPORT int
nvmm_assist_io(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		goto fail;
	error = EINVAL;
	if (vcpu->exit->reason != NVMM_VCPU_EXIT_IO)
		goto fail;
	if (cpu->pending == VMM_PEND_PIO || cpu->pending == VMM_PEND_PIO_DONE) {
		error = -assist_pio_simple(mach, vcpu, cpu);
	} else if (cpu->pending == VMM_PEND_STRIO) {
		error = -x86_assist_pio(mach, vcpu, cpu);
		if (error == 0)
			error = -kvm_cpu_complete(cpu, mach, vcpu);
	} else if (cpu->pending == VMM_PEND_STRIO_DONE) {
		/* KVM already moved the registers: only deliver the data. */
		error = -x86_assist_pio(mach, vcpu, cpu);
		if (error == 0)
			cpu->pending = VMM_PEND_NONE;
	}
	if (error != 0)
		goto fail;
	return 0;
fail:
	errno = error;
	return -1;
}

NVMM_EXPORT int
nvmm_assist_mem(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	struct vmm_cpu *cpu;
	int error;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL)
		goto fail;
	error = EINVAL;
	if (vcpu->exit->reason != NVMM_VCPU_EXIT_MEMORY ||
	    cpu->pending != VMM_PEND_MMIO)
		goto fail;
	error = -x86_assist_mmio(mach, vcpu, cpu);
	if (error == 0)
		error = -kvm_cpu_complete(cpu, mach, vcpu);
	if (error != 0)
		goto fail;
	return 0;
fail:
	errno = error;
	return -1;
}

/* -------------------------------------------------------------------------- */

static void
dump_seg(const char *name, const struct nvmm_x64_state_seg *s)
{
	printf("| -> %s: sel=0x%04x base=%016" PRIx64 " limit=%08x "
	    "type=%x s=%u dpl=%u p=%u avl=%u l=%u def=%u g=%u\n", name,
	    s->selector, s->base, s->limit, s->attrib.type, s->attrib.s,
	    s->attrib.dpl, s->attrib.p, s->attrib.avl, s->attrib.l,
	    s->attrib.def, s->attrib.g);
}

/* Print the vcpu's state on standard output, as libnvmm's debugging aid. */
NVMM_EXPORT int
nvmm_vcpu_dump(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu)
{
	static const char *const segnames[NVMM_X64_NSEG] = {
		"ES", "CS", "SS", "DS", "FS", "GS", "GDT", "IDT", "LDT", "TR",
	};
	const struct nvmm_x64_state *st = vcpu->state;
	struct vmm_cpu *cpu;
	int error, i;

	if ((cpu = vmm_cpu_get(mach, vcpu, &error)) == NULL) {
		errno = error;
		return -1;
	}
	if ((error = kvm_cpu_getstate(cpu, NVMM_X64_STATE_ALL)) != 0) {
		errno = -error;
		return -1;
	}
	printf("+ VCPU id=%u\n", vcpu->cpuid);
	printf("| -> RAX=%016" PRIx64 " RBX=%016" PRIx64 " RCX=%016" PRIx64
	    " RDX=%016" PRIx64 "\n", st->gprs[NVMM_X64_GPR_RAX],
	    st->gprs[NVMM_X64_GPR_RBX], st->gprs[NVMM_X64_GPR_RCX],
	    st->gprs[NVMM_X64_GPR_RDX]);
	printf("| -> RSI=%016" PRIx64 " RDI=%016" PRIx64 " RSP=%016" PRIx64
	    " RBP=%016" PRIx64 "\n", st->gprs[NVMM_X64_GPR_RSI],
	    st->gprs[NVMM_X64_GPR_RDI], st->gprs[NVMM_X64_GPR_RSP],
	    st->gprs[NVMM_X64_GPR_RBP]);
	printf("| -> RIP=%016" PRIx64 " RFLAGS=%016" PRIx64 "\n",
	    st->gprs[NVMM_X64_GPR_RIP], st->gprs[NVMM_X64_GPR_RFLAGS]);
	for (i = 0; i < NVMM_X64_NSEG; i++)
		dump_seg(segnames[i], &st->segs[i]);
	printf("| -> CR0=%016" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64
	    " CR4=%016" PRIx64 " CR8=%016" PRIx64 " XCR0=%016" PRIx64 "\n",
	    st->crs[NVMM_X64_CR_CR0], st->crs[NVMM_X64_CR_CR2],
	    st->crs[NVMM_X64_CR_CR3], st->crs[NVMM_X64_CR_CR4],
	    st->crs[NVMM_X64_CR_CR8], st->crs[NVMM_X64_CR_XCR0]);
	printf("| -> EFER=%016" PRIx64 " PAT=%016" PRIx64 "\n",
	    st->msrs[NVMM_X64_MSR_EFER], st->msrs[NVMM_X64_MSR_PAT]);
	printf("| -> int_shadow=%u evt_pending=%u\n",
	    (unsigned int)st->intr.int_shadow,
	    (unsigned int)st->intr.evt_pending);
	return 0;
}
