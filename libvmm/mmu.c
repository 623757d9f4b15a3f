/*
 * mmu.c: the x86 guest page walk (GVA -> GPA) behind nvmm_gva_to_gpa(3).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Control register and EFER bits (Intel SDM vol. 3A, 2.5 and 2.2.1). */
#define CR0_PG		0x80000000ULL
#define CR4_PSE		0x00000010ULL
#define CR4_PAE		0x00000020ULL
#define CR4_LA57	0x00001000ULL
#define EFER_LMA	0x00000400ULL
#define EFER_NXE	0x00000800ULL

/* Paging-structure entry bits (SDM vol. 3A, 4.3, 4.4.2 and 4.5.4). */
#define PTE_P		0x0000000000000001ULL
#define PTE_W		0x0000000000000002ULL
#define PTE_U		0x0000000000000004ULL
#define PTE_PS		0x0000000000000080ULL
#define PTE_NX		0x8000000000000000ULL

/* Physical address bits 12..51 of a PAE or 4-level entry. */
#define PTE_PA_MASK	0x000FFFFFFFFFF000ULL
/* Physical address bits 12..31 of a 32-bit entry, and of CR3 there. */
#define PTE32_PA_MASK	0x00000000FFFFF000ULL
/* A 32-bit 4 MB PDE: address bits 22..31, and bits 13..20 (PSE-36). */
#define PDE32_4M_LO	0x00000000FFC00000ULL
#define PDE32_4M_HI	0x00000000001FE000ULL
#define PDE32_4M_HI_SHIFT 19		/* bits 13..20 -> bits 32..39 */
/* PAE CR3 holds the 32-byte aligned PDPT address in bits 5..31. */
#define CR3_PAE_MASK	0x00000000FFFFFFE0ULL

#define MMU_MAX_LEVELS	4

/* How a level treats the PS bit of its entries. */
enum mmu_ps {
	MMU_PS_IGNORED,		/* PS is not a page size here (or is PAT) */
	MMU_PS_LARGE,		/* PS maps a page of 1 << shift bytes */
	MMU_PS_FAULT		/* PS is reserved: the walk fails */
};

/* One level of a walk, from the root (index 0) to the 4 KB page table. */
struct mmu_level {
	uint8_t shift;		/* lowest GVA bit of this level's index */
	uint8_t bits;		/* width of the index */
	uint8_t ps;		/* enum mmu_ps */
	bool rights;		/* the entry's W, U and NX bits apply */
};

/* A paging mode: entry width, address masks and its levels. */
struct mmu_mode {
	size_t esize;		/* bytes per entry: 4 or 8 */
	bool nx;		/* bit 63 is NX (when EFER.NXE) */
	uint64_t cr3_mask;	/* root table address in CR3 */
	uint64_t pa_mask;	/* next table or 4 KB frame in an entry */
	unsigned int nlevels;
	struct mmu_level levels[MMU_MAX_LEVELS];
};

enum {
	MMU_MODE_32,		/* 2-level, CR4.PSE=0: PS ignored */
	MMU_MODE_32_PSE,	/* 2-level, CR4.PSE=1: 4 MB pages */
	MMU_MODE_PAE,		/* 3-level: 2 MB pages */
	MMU_MODE_LONG		/* 4-level: 2 MB and 1 GB pages */
};

/*
 * PAE PDPTEs carry no access rights (SDM 4.4.1: bits 1, 2 and 63 are
 * reserved there), so that level does not narrow prot.  A PS bit at the
 * PAE PDPTE or at the PML4E is reserved and fails the walk.
 */
static const struct mmu_mode mmu_modes[] = {
	[MMU_MODE_32] = {
		4, false, PTE32_PA_MASK, PTE32_PA_MASK, 2, {
			{ 22, 10, MMU_PS_IGNORED, true },
			{ 12, 10, MMU_PS_IGNORED, true },
		},
	},
	[MMU_MODE_32_PSE] = {
		4, false, PTE32_PA_MASK, PTE32_PA_MASK, 2, {
			{ 22, 10, MMU_PS_LARGE, true },
			{ 12, 10, MMU_PS_IGNORED, true },
		},
	},
	[MMU_MODE_PAE] = {
		8, true, CR3_PAE_MASK, PTE_PA_MASK, 3, {
			{ 30, 2, MMU_PS_FAULT, false },
			{ 21, 9, MMU_PS_LARGE, true },
			{ 12, 9, MMU_PS_IGNORED, true },
		},
	},
	[MMU_MODE_LONG] = {
		8, true, PTE_PA_MASK, PTE_PA_MASK, 4, {
			{ 39, 9, MMU_PS_FAULT, true },
			{ 30, 9, MMU_PS_LARGE, true },
			{ 21, 9, MMU_PS_LARGE, true },
			{ 12, 9, MMU_PS_IGNORED, true },
		},
	},
};

/* The state of a walk in progress. */
struct mmu_walk {
	uint64_t table;		/* GPA of the table to index next */
	uint64_t frame;		/* GPA of the page, once found */
	unsigned int pgshift;	/* log2 of the page size, once found */
	nvmm_prot_t prot;
	bool nxe;
};

/*
 * Pick the paging mode described by pg for gva.  Returns 0 and the mode,
 * or -EFAULT when the combination cannot be walked: EFER.LMA without
 * CR4.PAE, 5-level paging (CR4.LA57 in long mode), a non-canonical GVA in
 * long mode, or a GVA above 4 GB in a 32-bit mode.  CR0.PG must be set.
 */
static int
mmu_mode_select(const struct vmm_paging *pg, gvaddr_t gva,
    const struct mmu_mode **modep)
{
	uint64_t top;
	int error;

	error = -EFAULT;
	if (pg->efer & EFER_LMA) {
		/* Canonical: bits 63..47 all equal bit 47 (SDM 3.3.7.1). */
		top = gva >> 47;
		if ((pg->cr4 & CR4_PAE) && !(pg->cr4 & CR4_LA57) &&
		    (top == 0 || top == 0x1FFFF)) {
			*modep = &mmu_modes[MMU_MODE_LONG];
			error = 0;
		}
	} else if (gva <= UINT32_MAX) {
		if (pg->cr4 & CR4_PAE)
			*modep = &mmu_modes[MMU_MODE_PAE];
		else if (pg->cr4 & CR4_PSE)
			*modep = &mmu_modes[MMU_MODE_32_PSE];
		else
			*modep = &mmu_modes[MMU_MODE_32];
		error = 0;
	}
	return error;
}

/*
 * Read the esize-byte paging entry at gpa into *ptep.  Entries are
 * naturally aligned, so one never straddles a page and thus a mapping.
 * Returns 0, or -EFAULT when gpa is not readable guest RAM.
 */
static int
mmu_read_entry(struct nvmm_machine *mach, gpaddr_t gpa, size_t esize,
    uint64_t *ptep)
{
	uintptr_t hva;
	nvmm_prot_t prot;
	uint32_t e32;
	uint64_t e64;

	if (nvmm_gpa_to_hva(mach, gpa, &hva, &prot) == -1 ||
	    !(prot & NVMM_PROT_READ))
		return -EFAULT;
	if (esize == sizeof(e32)) {
		memcpy(&e32, (const void *)hva, sizeof(e32));
		*ptep = e32;
	} else {
		memcpy(&e64, (const void *)hva, sizeof(e64));
		*ptep = e64;
	}
	return 0;
}

/* The GPA of the large page that entry pte maps at a level of shift. */
static uint64_t
mmu_large_frame(const struct mmu_mode *mode, uint64_t pte, unsigned int shift)
{
	if (mode->esize == 4)
		return (pte & PDE32_4M_LO) |
		    ((pte & PDE32_4M_HI) << PDE32_4M_HI_SHIFT);
	/* Drop PAT (bit 12) and the other low bits below the page size. */
	return pte & PTE_PA_MASK & ~((1ULL << shift) - 1);
}

/* Narrow w->prot by the access rights of a present entry at level lv. */
static void
mmu_narrow_prot(const struct mmu_mode *mode, const struct mmu_level *lv,
    uint64_t pte, struct mmu_walk *w)
{
	if (!lv->rights)
		return;
	if (!(pte & PTE_W))
		w->prot &= ~(nvmm_prot_t)NVMM_PROT_WRITE;
	if (!(pte & PTE_U))
		w->prot &= ~(nvmm_prot_t)NVMM_PROT_USER;
	if (mode->nx && w->nxe && (pte & PTE_NX))
		w->prot &= ~(nvmm_prot_t)NVMM_PROT_EXEC;
}

/*
 * One step of the walk: read the entry for gva at level i of w->table.
 * Returns 1 when the entry maps the page (w->frame and w->pgshift set),
 * 0 when it points to the next table (w->table updated), or -EFAULT when
 * the entry is unreadable, not present or has a reserved PS bit.
 */
static int
mmu_step(struct nvmm_machine *mach, const struct mmu_mode *mode,
    unsigned int i, gvaddr_t gva, struct mmu_walk *w)
{
	const struct mmu_level *lv = &mode->levels[i];
	uint64_t idx, pte;
	int error;

	idx = (gva >> lv->shift) & ((1ULL << lv->bits) - 1);
	error = mmu_read_entry(mach, w->table + idx * mode->esize,
	    mode->esize, &pte);
	if (error == 0 && !(pte & PTE_P))
		error = -EFAULT;
	if (error == 0 && (pte & PTE_PS) && lv->ps == MMU_PS_FAULT)
		error = -EFAULT;
	if (error != 0)
		goto out;

	mmu_narrow_prot(mode, lv, pte, w);
	if (i + 1 == mode->nlevels) {
		w->frame = pte & mode->pa_mask;
		w->pgshift = lv->shift;
		error = 1;
	} else if ((pte & PTE_PS) && lv->ps == MMU_PS_LARGE) {
		w->frame = mmu_large_frame(mode, pte, lv->shift);
		w->pgshift = lv->shift;
		error = 1;
	} else
		w->table = pte & mode->pa_mask;
out:
	return error;
}

/*
 * Translate gva with the paging registers in pg, reading the guest's page
 * tables through mach's memory mappings; no system call is made.  On
 * success stores the GPA (page offset included) in *gpa and the rights
 * of the whole walk (NVMM_PROT_*) in *prot and returns 0.  Returns
 * -EFAULT, leaving *gpa and *prot alone, when gva is not mapped or the
 * mode cannot be walked (see mmu_mode_select).  There are no reserved-bit,
 * protection-key, SMEP or SMAP checks, as in NetBSD's libnvmm.
 */
int
mmu_gva_to_gpa(struct nvmm_machine *mach, const struct vmm_paging *pg,
    gvaddr_t gva, gpaddr_t *gpa, nvmm_prot_t *prot)
{
	const struct mmu_mode *mode;
	struct mmu_walk w;
	unsigned int i;
	int error;

	memset(&w, 0, sizeof(w));
	w.prot = NVMM_PROT_ALL;
	if (!(pg->cr0 & CR0_PG)) {
		/* Paging off: the GVA is the GPA, with every right. */
		w.frame = gva;
		goto done;
	}
	error = mmu_mode_select(pg, gva, &mode);
	if (error != 0)
		goto out;

	w.table = pg->cr3 & mode->cr3_mask;
	w.nxe = (pg->efer & EFER_NXE) != 0;
	for (i = 0; i < mode->nlevels && error == 0; i++)
		error = mmu_step(mach, mode, i, gva, &w);
	if (error < 0)
		goto out;
	w.frame |= gva & ((1ULL << w.pgshift) - 1);
done:
	*gpa = w.frame;
	*prot = w.prot;
	error = 0;
out:
	return error;
}

/*
 * nvmm_gva_to_gpa(3): translate gva with the current paging registers of
 * vcpu.  Returns 0, or -1 with errno set: ENOENT (or another error of
 * vmm_cpu_get) for a bad machine or vcpu, EFAULT when gva is not mapped.
 */
NVMM_EXPORT int
nvmm_gva_to_gpa(struct nvmm_machine *mach, struct nvmm_vcpu *vcpu,
    gvaddr_t gva, gpaddr_t *gpa, nvmm_prot_t *prot)
{
	struct vmm_paging pg;
	struct vmm_cpu *cpu;
	int error;

	cpu = vmm_cpu_get(mach, vcpu, &error);
	if (cpu == NULL) {
		errno = error;
		return -1;
	}
	error = kvm_cpu_paging(cpu, &pg);
	if (error == 0)
		error = mmu_gva_to_gpa(mach, &pg, gva, gpa, prot);
	if (error != 0) {
		errno = -error;
		return -1;
	}
	return 0;
}
