/*
 * mem.c: guest RAM.  One memfd holds all of it; the part below the 32-bit
 * PCI hole is mapped at GPA 0 and the rest at 4 GiB, each in its own host
 * mapping with an inaccessible guard page on both sides, so that a device
 * model's overrun faults instead of touching a neighbour.  Guest RAM is
 * left out of core dumps.
 */

#include <errno.h>
#include <string.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "worker.h"

#define MEM_GUARD	(2UL << 20)	/* keeps huge-page alignment too */
#define MEM_HUGE	(2UL << 20)

/*
 * Map size bytes of memfd fd from offset off between two guard regions and
 * register it with the machine at gpa.  0 or a negative errno.
 */
static int
mem_map_region(struct vm *vm, int fd, uint64_t off, uint64_t gpa,
    uint64_t size)
{
	struct vm_ram *r = &vm->ram[vm->nram];
	uint8_t *base, *hva;
	int error;

	base = mmap(NULL, size + 2 * MEM_GUARD, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	hva = mmap(base + MEM_GUARD, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED, fd, (off_t)off);
	if (hva == MAP_FAILED) {
		error = -errno;
		goto fail_unmap;
	}
	/* Advisory: a kernel without it still runs the guest. */
	(void)madvise(hva, size, MADV_DONTDUMP);

	if (nvmm_hva_map(&vm->mach, (uintptr_t)hva, size) == -1) {
		error = -errno;
		goto fail_unmap;
	}
	if (nvmm_gpa_map(&vm->mach, (uintptr_t)hva, gpa, size,
	    PROT_READ | PROT_WRITE | PROT_EXEC) == -1) {
		error = -errno;
		(void)nvmm_hva_unmap(&vm->mach, (uintptr_t)hva, size);
		goto fail_unmap;
	}
	r->gpa = gpa;
	r->size = size;
	r->hva = hva;
	vm->nram++;
	return 0;

fail_unmap:
	munmap(base, size + 2 * MEM_GUARD);
	return error;
}

int
mem_setup(struct vm *vm)
{
	uint64_t total = vm->def->memory_mib << 20;
	uint64_t low, high;
	unsigned int flags = MFD_CLOEXEC;
	int fd, error;

	if (vm->def->hugepages) {
		if (total % MEM_HUGE != 0)
			return -EINVAL;
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	}
	low = total < VM_PCI_HOLE_START ? total : VM_PCI_HOLE_START;
	high = total - low;

	fd = memfd_create("guest-ram", flags);
	if (fd == -1)
		return -errno;
	if (ftruncate(fd, (off_t)total) == -1) {
		error = -errno;
		goto out;
	}
	error = mem_map_region(vm, fd, 0, 0, low);
	if (error == 0 && high != 0)
		error = mem_map_region(vm, fd, low, VM_HIGH_RAM_START, high);
	if (error == 0)
		vm->ram_total = total;
out:
	/* The mappings keep the memory; the descriptor is not needed. */
	close(fd);
	return error;
}

void
mem_teardown(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nram; i++) {
		struct vm_ram *r = &vm->ram[i];

		if (vm->mach_ok) {
			(void)nvmm_gpa_unmap(&vm->mach, (uintptr_t)r->hva,
			    r->gpa, r->size);
			(void)nvmm_hva_unmap(&vm->mach, (uintptr_t)r->hva,
			    r->size);
		}
		munmap(r->hva - MEM_GUARD, r->size + 2 * MEM_GUARD);
	}
	vm->nram = 0;
	vm->ram_total = 0;
}

void *
vm_gpa(struct vm *vm, uint64_t gpa, size_t len)
{
	unsigned int i;

	if (gpa + len < gpa)
		return NULL;
	for (i = 0; i < vm->nram; i++) {
		const struct vm_ram *r = &vm->ram[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

/*
 * The largest run starting at gpa that lies in one region: its host
 * address, and its length (at most len) in *run.  NULL if gpa is not RAM.
 */
static uint8_t *
mem_run(struct vm *vm, uint64_t gpa, size_t len, size_t *run)
{
	unsigned int i;

	for (i = 0; i < vm->nram; i++) {
		const struct vm_ram *r = &vm->ram[i];
		uint64_t off = gpa - r->gpa;

		if (gpa >= r->gpa && off < r->size) {
			*run = len < r->size - off ? len : r->size - off;
			return r->hva + off;
		}
	}
	return NULL;
}

int
vm_mem_read(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *dst = buf, *src;
	size_t run;

	if (gpa + len < gpa)
		return -EFAULT;
	while (len > 0) {
		if ((src = mem_run(vm, gpa, len, &run)) == NULL)
			return -EFAULT;
		memcpy(dst, src, run);
		dst += run;
		gpa += run;
		len -= run;
	}
	return 0;
}

int
vm_mem_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	uint8_t *dst;
	size_t run;

	if (gpa + len < gpa)
		return -EFAULT;
	while (len > 0) {
		if ((dst = mem_run(vm, gpa, len, &run)) == NULL)
			return -EFAULT;
		memcpy(dst, src, run);
		src += run;
		gpa += run;
		len -= run;
	}
	return 0;
}
