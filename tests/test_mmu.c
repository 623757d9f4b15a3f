/*
 * test_mmu.c: nvmm_gva_to_gpa(3) against page tables written into the RAM
 * of a real (never run) KVM machine, in every x86 paging mode.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nvmm.h>

#define RAM_SIZE	(8UL << 20)
#define PT_BASE		0x10000UL	/* first GPA handed out for tables */
#define PAGE		0x1000UL

#define CR0_PE		0x00000001ULL
#define CR0_PG		0x80000000ULL
#define CR4_PSE		0x00000010ULL
#define CR4_PAE		0x00000020ULL
#define CR4_LA57	0x00001000ULL
#define EFER_LME	0x00000100ULL
#define EFER_LMA	0x00000400ULL
#define EFER_NXE	0x00000800ULL
#define CR3_PWT_PCD	0x18ULL		/* flag bits a walker must drop */

#define P		0x001ULL
#define W		0x002ULL
#define U		0x004ULL
#define PS		0x080ULL
#define PAT_4K		0x080ULL	/* PAT bit of a 4 KB PTE */
#define PAT_LARGE	0x1000ULL	/* PAT bit of a 2 MB or 1 GB entry */
#define AVL		0xE00ULL	/* bits 9..11, ignored */
#define HI_IGN		0x7FF0000000000000ULL	/* bits 52..62, ignored */
#define NX		0x8000000000000000ULL

#define PR		NVMM_PROT_READ
#define PW		NVMM_PROT_WRITE
#define PX		NVMM_PROT_EXEC
#define PU		NVMM_PROT_USER
#define PALL		NVMM_PROT_ALL

#define LM_CR0		(CR0_PE | CR0_PG)
#define LM_EFER		(EFER_LME | EFER_LMA)

/* One translation and what it must give: a GPA and prot, or an errno. */
struct xlat_case {
	const char *what;
	gvaddr_t gva;
	int error;		/* 0, or the errno of a failing call */
	gpaddr_t gpa;
	nvmm_prot_t prot;
};

/* The machine every test shares, and the guest-RAM table allocator. */
static struct {
	bool ok;
	char why[256];
	bool mach_created;
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	uint8_t *ram;
	gpaddr_t next;
} env;

#define REQUIRE_KVM() do {						\
	if (!env.ok) {							\
		print_message("skipped: %s\n", env.why);		\
		skip();							\
	}								\
} while (0)

/* A zeroed 4 KB page of guest RAM for a page table; returns its GPA. */
static gpaddr_t
pt_alloc(void)
{
	gpaddr_t gpa = env.next;

	assert_true(gpa + PAGE <= RAM_SIZE);
	env.next += PAGE;
	memset(env.ram + gpa, 0, PAGE);
	return gpa;
}

static void
put32(gpaddr_t gpa, uint64_t v)
{
	uint32_t e = (uint32_t)v;

	assert_true(gpa + sizeof(e) <= RAM_SIZE);
	memcpy(env.ram + gpa, &e, sizeof(e));
}

static void
put64(gpaddr_t gpa, uint64_t v)
{
	assert_true(gpa + sizeof(v) <= RAM_SIZE);
	memcpy(env.ram + gpa, &v, sizeof(v));
}

static uint64_t
get_entry(gpaddr_t gpa, size_t esize)
{
	uint32_t e32;
	uint64_t e64;

	if (esize == 4) {
		memcpy(&e32, env.ram + gpa, sizeof(e32));
		return e32;
	}
	memcpy(&e64, env.ram + gpa, sizeof(e64));
	return e64;
}

/* Load the paging registers into the vcpu's cached state (no run). */
static void
set_paging(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer)
{
	struct nvmm_x64_state *st = env.vcpu.state;

	st->crs[NVMM_X64_CR_CR0] = cr0;
	st->crs[NVMM_X64_CR_CR3] = cr3;
	st->crs[NVMM_X64_CR_CR4] = cr4;
	st->msrs[NVMM_X64_MSR_EFER] = efer;
	assert_int_equal(nvmm_vcpu_setstate(&env.mach, &env.vcpu,
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS), 0);
}

/*
 * Translate one case; returns true when it matches, printing the case and
 * what came back otherwise.  On failure gpa and prot must stay untouched.
 */
static bool
check_one(const struct xlat_case *c)
{
	const gpaddr_t gpa0 = 0xDEADBEEFULL;
	const nvmm_prot_t prot0 = 0xA5;
	gpaddr_t gpa = gpa0;
	nvmm_prot_t prot = prot0;
	int rc, err;

	errno = 0;
	rc = nvmm_gva_to_gpa(&env.mach, &env.vcpu, c->gva, &gpa, &prot);
	err = errno;
	if (c->error == 0 && rc == 0 && gpa == c->gpa && prot == c->prot)
		return true;
	if (c->error != 0 && rc == -1 && err == c->error && gpa == gpa0 &&
	    prot == prot0)
		return true;
	print_error("%s: gva %#" PRIx64 ": want %s gpa %#" PRIx64
	    " prot %#" PRIx64 ", got rc %d errno %d (%s) gpa %#" PRIx64
	    " prot %#" PRIx64 "\n", c->what, c->gva,
	    c->error ? strerror(c->error) : "ok", c->gpa, c->prot, rc, err,
	    strerror(err), gpa, prot);
	return false;
}

/* Run a table of cases; every mismatch is reported before failing. */
static void
check_cases(const struct xlat_case *cases, size_t n)
{
	size_t i, bad = 0;

	for (i = 0; i < n; i++)
		if (!check_one(&cases[i]))
			bad++;
	if (bad != 0)
		fail_msg("%zu of %zu translations wrong", bad, n);
}

#define CHECK_CASES(t)	check_cases((t), sizeof(t) / sizeof((t)[0]))

/* -------------------------------------------------------------------------- */
/* Paging off. */

static const struct xlat_case nopg_cases[] = {
	{ "zero", 0, 0, 0, PALL },
	{ "unaligned", 0x12345, 0, 0x12345, PALL },
	{ "top of 4 GB", 0xFFFFFFFF, 0, 0xFFFFFFFF, PALL },
	{ "beyond RAM", 0x123456789ULL, 0, 0x123456789ULL, PALL },
};

static void
test_nopaging(void **state)
{
	REQUIRE_KVM();
	set_paging(CR0_PE, 0x12345000, 0, 0);
	CHECK_CASES(nopg_cases);
	/* PAE, PSE and LME mean nothing until CR0.PG is set. */
	set_paging(CR0_PE, 0xFFFFF000, CR4_PAE | CR4_PSE, EFER_LME | EFER_NXE);
	CHECK_CASES(nopg_cases);
	set_paging(0, 0, 0, 0);
	CHECK_CASES(nopg_cases);
}

/* -------------------------------------------------------------------------- */
/* 32-bit, 2-level paging. */

/*
 * PDE 1 is a 4 MB page when CR4.PSE is set (frame 0x12_0040_0000 through
 * PSE-36) and otherwise a pointer to the page table at 0x424000.
 */
#define PDE32_4M	(0x00400000ULL | (0x12ULL << 13) | PS | P | W | U)
#define PT32_ALIAS	0x424000ULL

/* Build the 32-bit tables; returns the page directory's GPA. */
static gpaddr_t
build_32(void)
{
	gpaddr_t pd = pt_alloc(), pt = pt_alloc(), pt2 = pt_alloc();

	put32(pd + 0 * 4, pt | P | W | U);
	put32(pd + 1 * 4, PDE32_4M);
	put32(pd + 3 * 4, 0xFF000000 | P | W | U);	/* PT not in RAM */
	put32(pd + 4 * 4, pt2 | P | U);			/* read-only */
	put32(pd + 5 * 4, pt2 | P | W);			/* supervisor */
	put32(pd + 6 * 4, 0x00C00000 | PS | P | U);
	put32(pd + 7 * 4, 0xFFC00000 | (0xFFULL << 13) | PS | P | W);
	put32(pd + 1023 * 4, pt | P | W | U);

	put32(pt + 1 * 4, 0x5000 | P | W | U);
	put32(pt + 2 * 4, 0x6000 | P | U);
	put32(pt + 3 * 4, 0x7000 | P | W);
	put32(pt + 4 * 4, 0xFFFFF000 | AVL | PAT_4K | P | W | U);
	put32(pt + 1023 * 4, 0x9000 | P | W | U);
	put32(pt2 + 0 * 4, 0xB000 | P | W | U);

	assert_true(env.next <= PT32_ALIAS);
	put32(PT32_ALIAS + 1 * 4, 0xA000 | P | W | U);
	return pd;
}

/* Translations that are the same with and without CR4.PSE. */
static const struct xlat_case pg32_common_cases[] = {
	{ "4K page", 0x1000, 0, 0x5000, PALL },
	{ "4K unaligned", 0x1ABC, 0, 0x5ABC, PALL },
	{ "4K read-only", 0x2010, 0, 0x6010, PR | PX | PU },
	{ "4K supervisor", 0x3FFF, 0, 0x7FFF, PR | PW | PX },
	{ "4K frame at 4 GB - 4K, AVL/PAT", 0x4FFF, 0, 0xFFFFFFFF, PALL },
	{ "PTE not present", 0x5000, EFAULT, 0, 0 },
	{ "last PTE", 0x3FF123, 0, 0x9123, PALL },
	{ "PDE not present", 0x800000, EFAULT, 0, 0 },
	{ "PT outside RAM", 0xC00000, EFAULT, 0, 0 },
	{ "PDE read-only", 0x1000000, 0, 0xB000, PR | PX | PU },
	{ "PDE supervisor", 0x1400004, 0, 0xB004, PR | PW | PX },
	{ "last PDE", 0xFFC01ABC, 0, 0x5ABC, PALL },
	{ "top of 4 GB", 0xFFFFFFFF, 0, 0x9FFF, PALL },
	{ "above 4 GB", 0x100001000ULL, EFAULT, 0, 0 },
};

static const struct xlat_case pg32_nopse_cases[] = {
	{ "PS ignored: PDE is a PT", 0x401234, 0, 0xA234, PALL },
	{ "PS ignored: empty PT", 0x402000, EFAULT, 0, 0 },
};

static const struct xlat_case pg32_pse_cases[] = {
	{ "4M page, PSE-36", 0x401234, 0, 0x1200401234ULL, PALL },
	{ "4M page end", 0x7FFFFF, 0, 0x12007FFFFFULL, PALL },
	{ "4M read-only", 0x1BFFFFF, 0, 0xFFFFFF, PR | PX | PU },
	{ "4M supervisor, PA bit 39", 0x1C00010, 0, 0xFFFFC00010ULL,
	    PR | PW | PX },
};

static void
test_32bit_4k(void **state)
{
	gpaddr_t pd;

	REQUIRE_KVM();
	pd = build_32();
	set_paging(CR0_PE | CR0_PG, pd | CR3_PWT_PCD, 0, 0);
	CHECK_CASES(pg32_common_cases);
	CHECK_CASES(pg32_nopse_cases);
	/* NXE has no effect on 32-bit entries. */
	set_paging(CR0_PE | CR0_PG, pd, 0, EFER_NXE);
	CHECK_CASES(pg32_common_cases);
}

static void
test_32bit_4m(void **state)
{
	gpaddr_t pd;

	REQUIRE_KVM();
	pd = build_32();
	set_paging(CR0_PE | CR0_PG, pd | CR3_PWT_PCD, CR4_PSE, 0);
	CHECK_CASES(pg32_common_cases);
	CHECK_CASES(pg32_pse_cases);
}

/* -------------------------------------------------------------------------- */
/* PAE, 3-level paging. */

/*
 * Build the PAE tables; returns CR3.  The PDPT sits 32 bytes into its
 * page, as CR3 allows, and its entries carry no W or U bit: a PDPTE holds
 * no access rights, so that must not narrow prot.
 */
static gpaddr_t
build_pae(void)
{
	gpaddr_t pdpt = pt_alloc() + 0x20, pd = pt_alloc(), pt = pt_alloc();
	gpaddr_t pt2 = pt_alloc();

	put64(pdpt + 0 * 8, pd | P);
	put64(pdpt + 1 * 8, pd | PS | P);
	put64(pdpt + 3 * 8, pd | P);

	put64(pd + 0 * 8, pt | P | W | U);
	put64(pd + 1 * 8, 0x123400000ULL | PAT_LARGE | PS | P | W | U);
	put64(pd + 2 * 8, 0x00600000 | NX | PS | P | U);
	put64(pd + 4 * 8, 0x10000000 | P | W | U);	/* PT not in RAM */
	put64(pd + 5 * 8, pt2 | NX | P | U);
	put64(pd + 511 * 8, pt | P | W | U);

	put64(pt + 1 * 8, 0x5000 | P | W | U);
	put64(pt + 2 * 8, 0x6000 | P | U);
	put64(pt + 3 * 8, 0x7000 | P | W);
	put64(pt + 4 * 8, 0x8000 | NX | P | W | U);
	put64(pt + 6 * 8, 0xFFFFFF000ULL | AVL | PAT_4K | P | W | U);
	put64(pt + 511 * 8, 0xC000 | P | W | U);
	put64(pt2 + 0 * 8, 0xB000 | P | W | U);
	return pdpt | CR3_PWT_PCD;
}

static const struct xlat_case pae_cases[] = {
	{ "4K page", 0x1ABC, 0, 0x5ABC, PALL },
	{ "4K read-only", 0x2008, 0, 0x6008, PR | PX | PU },
	{ "4K supervisor", 0x3000, 0, 0x7000, PR | PW | PX },
	{ "4K NX", 0x4321, 0, 0x8321, PR | PW | PU },
	{ "PTE not present", 0x5000, EFAULT, 0, 0 },
	{ "4K 36-bit frame, AVL/PAT", 0x6008, 0, 0xFFFFFF008ULL, PALL },
	{ "2M page above 4 GB, PAT", 0x212345, 0, 0x123412345ULL, PALL },
	{ "2M read-only NX", 0x5FFFFF, 0, 0x7FFFFF, PR | PU },
	{ "PDE not present", 0x600000, EFAULT, 0, 0 },
	{ "PT outside RAM", 0x800000, EFAULT, 0, 0 },
	{ "PDE NX", 0xA00FED, 0, 0xBFED, PR | PU },
	{ "PS at PDPTE", 0x40001000, EFAULT, 0, 0 },
	{ "PDPTE not present", 0x80001000, EFAULT, 0, 0 },
	{ "last PDPTE", 0xC0001ABC, 0, 0x5ABC, PALL },
	{ "top of 4 GB", 0xFFFFFFFF, 0, 0xCFFF, PALL },
	{ "above 4 GB", 0x100001000ULL, EFAULT, 0, 0 },
};

/* The NX rows of pae_cases with EFER.NXE clear: bit 63 is ignored. */
static const struct xlat_case pae_nonxe_cases[] = {
	{ "4K NX, no NXE", 0x4321, 0, 0x8321, PALL },
	{ "2M read-only NX, no NXE", 0x5FFFFF, 0, 0x7FFFFF, PR | PX | PU },
	{ "PDE NX, no NXE", 0xA00FED, 0, 0xBFED, PR | PX | PU },
	{ "4K page, no NXE", 0x1ABC, 0, 0x5ABC, PALL },
};

static void
test_pae(void **state)
{
	gpaddr_t cr3;

	REQUIRE_KVM();
	cr3 = build_pae();
	set_paging(CR0_PE | CR0_PG, cr3, CR4_PAE, EFER_NXE);
	CHECK_CASES(pae_cases);
	/* CR4.PSE does not matter under PAE. */
	set_paging(CR0_PE | CR0_PG, cr3, CR4_PAE | CR4_PSE, EFER_NXE);
	CHECK_CASES(pae_cases);
	set_paging(CR0_PE | CR0_PG, cr3, CR4_PAE, 0);
	CHECK_CASES(pae_nonxe_cases);
}

/* -------------------------------------------------------------------------- */
/* Long mode, 4-level paging. */

/* Build the 4-level tables; returns the PML4's GPA. */
static gpaddr_t
build_long(void)
{
	gpaddr_t pml4 = pt_alloc(), pdpt = pt_alloc(), pd = pt_alloc();
	gpaddr_t pt = pt_alloc(), pt2 = pt_alloc(), pd_ro = pt_alloc();
	gpaddr_t pdpt_hi = pt_alloc();

	put64(pml4 + 0 * 8, pdpt | P | W | U);
	put64(pml4 + 2 * 8, pdpt | PS | P | W | U);
	put64(pml4 + 3 * 8, 0x200000000ULL | P | W | U); /* not in RAM */
	put64(pml4 + 4 * 8, pdpt | NX | P | W | U);
	put64(pml4 + 256 * 8, pdpt_hi | AVL | P | W | U);
	put64(pml4 + 511 * 8, pdpt_hi | P | W | U);

	put64(pdpt + 0 * 8, pd | P | W | U);
	put64(pdpt + 1 * 8, 0x100000000ULL | PAT_LARGE | PS | P | W | U);
	put64(pdpt + 3 * 8, 0xC0000000ULL | PS | P | U);
	put64(pdpt + 4 * 8, pd_ro | P | U);
	put64(pdpt_hi + 0 * 8, 0x240000000ULL | HI_IGN | PS | P | W | U);
	put64(pdpt_hi + 511 * 8, pd | P | W | U);

	put64(pd + 0 * 8, pt | P | W | U);
	put64(pd + 1 * 8, 0x00600000 | PAT_LARGE | PS | P | W | U);
	put64(pd + 2 * 8, pt2 | P | W);
	put64(pd + 4 * 8, 0x100000000ULL | P | W | U);	/* PT not in RAM */
	put64(pd + 5 * 8, 0xFFE00000ULL | NX | PS | P | U);
	put64(pd + 511 * 8, pt | P | W | U);
	put64(pd_ro + 0 * 8, 0 | PS | P | W | U);

	put64(pt + 1 * 8, 0x5000 | P | W | U);
	put64(pt + 2 * 8, 0x6000 | P | U);
	put64(pt + 3 * 8, 0x7000 | P | W);
	put64(pt + 4 * 8, 0x8000 | NX | P | W | U);
	put64(pt + 6 * 8, 0x000FFFFFFFFFF000ULL | HI_IGN | AVL | PAT_4K |
	    P | W | U);
	put64(pt + 511 * 8, 0xD000 | P | W | U);
	put64(pt2 + 0 * 8, 0xB000 | P | W | U);
	return pml4;
}

static const struct xlat_case long_cases[] = {
	{ "4K page", 0x1ABC, 0, 0x5ABC, PALL },
	{ "4K read-only", 0x2008, 0, 0x6008, PR | PX | PU },
	{ "4K supervisor", 0x3000, 0, 0x7000, PR | PW | PX },
	{ "4K NX", 0x4321, 0, 0x8321, PR | PW | PU },
	{ "PTE not present", 0x5000, EFAULT, 0, 0 },
	{ "4K 52-bit frame, ignored bits", 0x6008, 0, 0xFFFFFFFFFF008ULL,
	    PALL },
	{ "2M page, PAT", 0x21ABCD, 0, 0x61ABCD, PALL },
	{ "PDE supervisor", 0x400FFF, 0, 0xBFFF, PR | PW | PX },
	{ "PDE not present", 0x600000, EFAULT, 0, 0 },
	{ "PT outside RAM", 0x800000, EFAULT, 0, 0 },
	{ "2M read-only NX", 0xBFFFFF, 0, 0xFFFFFFFF, PR | PU },
	{ "1G page, PAT", 0x7FFFFFFF, 0, 0x13FFFFFFFULL, PALL },
	{ "1G unaligned", 0x41234567, 0, 0x101234567ULL, PALL },
	{ "PDPTE not present", 0x80000000, EFAULT, 0, 0 },
	{ "1G read-only", 0xC0000123, 0, 0xC0000123, PR | PX | PU },
	{ "PDPTE read-only", 0x100000042ULL, 0, 0x42, PR | PX | PU },
	{ "PML4E not present", 0x8000000000ULL, EFAULT, 0, 0 },
	{ "PS at PML4E", 0x10000001000ULL, EFAULT, 0, 0 },
	{ "PDPT outside RAM", 0x18000000000ULL, EFAULT, 0, 0 },
	{ "PML4E NX", 0x20000001ABCULL, 0, 0x5ABC, PR | PW | PU },
	{ "high half, 1G, ignored bits", 0xFFFF800012345678ULL, 0,
	    0x252345678ULL, PALL },
	{ "top of the address space", 0xFFFFFFFFFFFFF123ULL, 0, 0xD123,
	    PALL },
	{ "non-canonical, bit 47 only", 0x0000800000000000ULL, EFAULT, 0, 0 },
	{ "non-canonical, below high", 0xFFFF7FFFFFFFF000ULL, EFAULT, 0, 0 },
	{ "non-canonical, bit 63 only", 0x8000000000001000ULL, EFAULT, 0, 0 },
	{ "non-canonical, bit 48 only", 0x0001000000001000ULL, EFAULT, 0, 0 },
};

/* The NX rows of long_cases with EFER.NXE clear: bit 63 is ignored. */
static const struct xlat_case long_nonxe_cases[] = {
	{ "4K NX, no NXE", 0x4321, 0, 0x8321, PALL },
	{ "2M read-only NX, no NXE", 0xBFFFFF, 0, 0xFFFFFFFF, PR | PX | PU },
	{ "PML4E NX, no NXE", 0x20000001ABCULL, 0, 0x5ABC, PALL },
	{ "1G page, no NXE", 0x41234567, 0, 0x101234567ULL, PALL },
};

static void
test_long(void **state)
{
	gpaddr_t pml4;

	REQUIRE_KVM();
	pml4 = build_long();
	set_paging(LM_CR0, pml4 | CR3_PWT_PCD, CR4_PAE, LM_EFER | EFER_NXE);
	CHECK_CASES(long_cases);
	/* CR4.PSE does not matter in long mode. */
	set_paging(LM_CR0, pml4, CR4_PAE | CR4_PSE, LM_EFER | EFER_NXE);
	CHECK_CASES(long_cases);
	set_paging(LM_CR0, pml4, CR4_PAE, LM_EFER);
	CHECK_CASES(long_nonxe_cases);
}

/* Register states the walker refuses, and roots outside guest RAM. */
static void
test_bad_modes(void **state)
{
	static const struct xlat_case mapped[] = {
		{ "mapped page", 0x1ABC, EFAULT, 0, 0 },
	};
	static const struct xlat_case ok[] = {
		{ "mapped page", 0x1ABC, 0, 0x5ABC, PALL },
	};
	gpaddr_t pml4;

	REQUIRE_KVM();
	pml4 = build_long();
	set_paging(LM_CR0, pml4, CR4_PAE, LM_EFER);
	CHECK_CASES(ok);
	/* LMA without PAE. */
	set_paging(LM_CR0, pml4, 0, LM_EFER);
	CHECK_CASES(mapped);
	set_paging(LM_CR0, pml4, CR4_PSE, LM_EFER);
	CHECK_CASES(mapped);
	/* 5-level paging is not supported. */
	set_paging(LM_CR0, pml4, CR4_PAE | CR4_LA57, LM_EFER);
	CHECK_CASES(mapped);
	/* Root tables outside guest RAM, in each mode. */
	set_paging(LM_CR0, 0x40000000, CR4_PAE, LM_EFER);
	CHECK_CASES(mapped);
	set_paging(CR0_PE | CR0_PG, 0x40000000, CR4_PAE, 0);
	CHECK_CASES(mapped);
	set_paging(CR0_PE | CR0_PG, 0x40000000, 0, 0);
	CHECK_CASES(mapped);
	set_paging(CR0_PE | CR0_PG, 0x40000000, CR4_PSE, 0);
	CHECK_CASES(mapped);
}

/* A vcpu id that was never created: ENOENT, nothing written. */
static void
test_bad_vcpu(void **state)
{
	struct nvmm_vcpu bad;
	gpaddr_t gpa = 1;
	nvmm_prot_t prot = 2;

	REQUIRE_KVM();
	bad = env.vcpu;
	bad.cpuid = 7;
	errno = 0;
	assert_int_equal(nvmm_gva_to_gpa(&env.mach, &bad, 0x1000, &gpa,
	    &prot), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(gpa, 1);
	assert_int_equal(prot, 2);
}

/* -------------------------------------------------------------------------- */
/* Randomized: many 4 KB mappings checked against an oracle. */

#define RAND_MAPPINGS	256
#define RAND_PROBES	512

/* A paging format, as the table builder (not the walker) sees it. */
struct fmt {
	const char *name;
	size_t esize;
	unsigned int nlevels;
	unsigned int shift[4];
	unsigned int bits[4];
	uint64_t upper[4];	/* flags of the intermediate entries */
	uint64_t cr0, cr4, efer;
	uint64_t frame_mask;	/* where random leaf frames may lie */
	uint64_t ign_mask;	/* bits a leaf may carry that are ignored */
	unsigned int va_bits;	/* 32, or 48 (canonical) */
	bool nx;
};

static const struct fmt rand_fmts[] = {
	{ "32-bit", 4, 2, { 22, 12 }, { 10, 10 }, { P | W | U },
	    CR0_PE | CR0_PG, CR4_PSE, 0, 0xFFFFF000ULL, AVL | PAT_4K, 32,
	    false },
	{ "PAE", 8, 3, { 30, 21, 12 }, { 2, 9, 9 }, { P, P | W | U },
	    CR0_PE | CR0_PG, CR4_PAE, EFER_NXE, 0xFFFFFF000ULL,
	    AVL | PAT_4K, 32, true },
	{ "4-level", 8, 4, { 39, 30, 21, 12 }, { 9, 9, 9, 9 },
	    { P | W | U, P | W | U, P | W | U }, LM_CR0, CR4_PAE,
	    LM_EFER | EFER_NXE, 0x000FFFFFFFFFF000ULL,
	    AVL | PAT_4K | HI_IGN, 48, true },
};

struct oracle {
	gvaddr_t va;		/* page aligned */
	gpaddr_t pa;
	nvmm_prot_t prot;	/* with EFER.NXE as in the format */
};

static uint64_t rng_state;

/* xorshift64*: reproducible from the seed printed by the test. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* A random page-aligned GVA of the format (canonical in long mode). */
static gvaddr_t
rand_va(const struct fmt *f)
{
	gvaddr_t va = rng() & ((1ULL << f->va_bits) - 1) & ~(PAGE - 1);

	if (f->va_bits == 48 && (va & (1ULL << 47)))
		va |= 0xFFFF000000000000ULL;
	return va;
}

static void
put_entry(gpaddr_t gpa, size_t esize, uint64_t v)
{
	if (esize == 4)
		put32(gpa, v);
	else
		put64(gpa, v);
}

/* Map the 4 KB page va with leaf entry pte, adding tables as needed. */
static void
map_4k(const struct fmt *f, gpaddr_t root, gvaddr_t va, uint64_t pte)
{
	gpaddr_t table = root, slot;
	uint64_t e;
	unsigned int i;

	for (i = 0; i < f->nlevels; i++) {
		slot = table +
		    ((va >> f->shift[i]) & ((1ULL << f->bits[i]) - 1)) *
		    f->esize;
		if (i + 1 == f->nlevels) {
			put_entry(slot, f->esize, pte);
			break;
		}
		e = get_entry(slot, f->esize);
		if (!(e & P)) {
			e = pt_alloc() | f->upper[i];
			put_entry(slot, f->esize, e);
		}
		table = e & 0x000FFFFFFFFFF000ULL;
	}
}

static const struct oracle *
oracle_find(const struct oracle *o, size_t n, gvaddr_t va)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (o[i].va == va)
			return &o[i];
	return NULL;
}

/* A random leaf for a new mapping; its expected result goes to *o. */
static uint64_t
rand_leaf(const struct fmt *f, struct oracle *o)
{
	uint64_t r = rng(), pte;

	o->pa = rng() & f->frame_mask;
	o->prot = PR | PX;
	pte = o->pa | P | (rng() & f->ign_mask);
	if (r & 1) {
		pte |= W;
		o->prot |= PW;
	}
	if (r & 2) {
		pte |= U;
		o->prot |= PU;
	}
	if (f->nx && (r & 4)) {
		pte |= NX;
		o->prot &= ~(nvmm_prot_t)PX;
	}
	return pte;
}

/* Fill the tables with random mappings; returns how many were made. */
static size_t
rand_build(const struct fmt *f, gpaddr_t root, struct oracle *o, size_t max)
{
	size_t n = 0;

	while (n < max) {
		o[n].va = rand_va(f);
		if (oracle_find(o, n, o[n].va) != NULL)
			continue;
		map_4k(f, root, o[n].va, rand_leaf(f, &o[n]));
		n++;
	}
	return n;
}

/* Every mapping at a random offset, then neighbours that are unmapped. */
static void
rand_check(const struct fmt *f, const struct oracle *o, size_t n)
{
	struct xlat_case c;
	size_t i, bad = 0;
	gvaddr_t off;
	unsigned int bit;

	c.what = f->name;
	for (i = 0; i < n; i++) {
		off = rng() & (PAGE - 1);
		c.gva = o[i].va | off;
		c.error = 0;
		c.gpa = o[i].pa | off;
		c.prot = o[i].prot;
		bad += !check_one(&c);
	}
	for (i = 0; i < RAND_PROBES; i++) {
		/* Flip one index bit: a sibling at some level, or garbage. */
		bit = 12 + rng() % (f->va_bits - 12);
		c.gva = o[rng() % n].va ^ (1ULL << bit);
		if (oracle_find(o, n, c.gva) != NULL)
			continue;
		c.gva |= rng() & (PAGE - 1);
		c.error = EFAULT;
		bad += !check_one(&c);
	}
	if (bad != 0)
		fail_msg("%s: %zu random translations wrong", f->name, bad);
}

static void
test_random(void **state)
{
	static struct oracle o[RAND_MAPPINGS];
	const struct fmt *f;
	gpaddr_t root;
	size_t i, n;
	const char *s;

	REQUIRE_KVM();
	s = getenv("TEST_MMU_SEED");
	rng_state = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	if (rng_state == 0)
		rng_state = 1;
	print_message("test_mmu: random seed %" PRIu64
	    " (set TEST_MMU_SEED to repeat)\n", rng_state);

	for (i = 0; i < sizeof(rand_fmts) / sizeof(rand_fmts[0]); i++) {
		f = &rand_fmts[i];
		env.next = PT_BASE;
		root = pt_alloc();
		n = rand_build(f, root, o, RAND_MAPPINGS);
		set_paging(f->cr0, root, f->cr4, f->efer);
		rand_check(f, o, n);
	}
}

/* -------------------------------------------------------------------------- */

/* Open a machine with one vcpu and RAM at GPA 0, unless KVM is absent. */
static int
group_setup(void **state)
{
	int fd;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd == -1) {
		snprintf(env.why, sizeof(env.why),
		    "cannot open /dev/kvm (%s); these tests need KVM",
		    strerror(errno));
		print_message("test_mmu: skipping every test: %s\n", env.why);
		return 0;
	}
	close(fd);

	if (nvmm_init() == -1 || nvmm_machine_create(&env.mach) == -1)
		goto fail;
	env.mach_created = true;
	if (nvmm_vcpu_create(&env.mach, 0, &env.vcpu) == -1)
		goto fail;
	if (nvmm_vcpu_getstate(&env.mach, &env.vcpu,
	    NVMM_X64_STATE_CRS | NVMM_X64_STATE_MSRS) == -1)
		goto fail;
	env.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (env.ram == MAP_FAILED) {
		env.ram = NULL;
		goto fail;
	}
	if (nvmm_hva_map(&env.mach, (uintptr_t)env.ram, RAM_SIZE) == -1 ||
	    nvmm_gpa_map(&env.mach, (uintptr_t)env.ram, 0, RAM_SIZE,
	    PROT_READ | PROT_WRITE | PROT_EXEC) == -1)
		goto fail;
	env.ok = true;
	return 0;

fail:
	print_error("test_mmu: machine setup failed: %s\n", strerror(errno));
	return -1;
}

static int
group_teardown(void **state)
{
	if (env.mach_created)
		nvmm_machine_destroy(&env.mach);
	if (env.ram != NULL)
		munmap(env.ram, RAM_SIZE);
	return 0;
}

/* Each test starts from zeroed RAM and an empty table allocator. */
static int
test_setup(void **state)
{
	if (env.ok) {
		memset(env.ram, 0, RAM_SIZE);
		env.next = PT_BASE;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_nopaging, test_setup),
		cmocka_unit_test_setup(test_32bit_4k, test_setup),
		cmocka_unit_test_setup(test_32bit_4m, test_setup),
		cmocka_unit_test_setup(test_pae, test_setup),
		cmocka_unit_test_setup(test_long, test_setup),
		cmocka_unit_test_setup(test_bad_modes, test_setup),
		cmocka_unit_test_setup(test_bad_vcpu, test_setup),
		cmocka_unit_test_setup(test_random, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
