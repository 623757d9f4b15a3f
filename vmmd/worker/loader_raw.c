/*
 * loader_raw.c: a flat binary copied to os.load_address and entered at
 * os.entry in the mode os.mode says (real, 32-bit protected or 64-bit
 * long mode; see boot_cpu_state in boot.c for the register state).
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

#define REAL_MODE_LIMIT		0x100000ULL	/* 1 MiB */
#define GIB4			0x100000000ULL

void
loader_real_cs_ip(uint64_t entry, uint16_t *cs, uint16_t *ip)
{
	*cs = (uint16_t)((entry >> 4) & 0xF000);
	*ip = (uint16_t)(entry & 0xFFFF);
}

int
loader_raw_parse(const struct loader_src *src, uint64_t load, uint64_t entry,
    enum vmdef_mode mode, struct loader_image *img, char *err, size_t errlen)
{
	uint64_t size = src->size;

	memset(img, 0, sizeof(*img));
	if (size == 0)
		return loader_err(err, errlen, src, -EINVAL, "the image is "
		    "empty");
	if (load + size < load)
		return loader_err(err, errlen, src, -EINVAL,
		    "the image at 0x%llx (0x%llx bytes) wraps around the "
		    "address space", (unsigned long long)load,
		    (unsigned long long)size);
	if (mode == VMDEF_MODE_REAL && entry >= REAL_MODE_LIMIT)
		return loader_err(err, errlen, src, -EINVAL,
		    "real-mode entry point 0x%llx is not below 1 MiB",
		    (unsigned long long)entry);
	if (mode == VMDEF_MODE_PROTECTED && (load + size > GIB4 ||
	    entry >= GIB4))
		return loader_err(err, errlen, src, -EINVAL,
		    "a protected-mode image and its entry point must lie "
		    "below 4 GiB (image [0x%llx, 0x%llx), entry 0x%llx)",
		    (unsigned long long)load, (unsigned long long)(load + size),
		    (unsigned long long)entry);
	if (mode == VMDEF_MODE_LONG && entry >= GIB4)
		return loader_err(err, errlen, src, -EINVAL,
		    "long-mode entry point 0x%llx is above 4 GiB, beyond the "
		    "boot page tables", (unsigned long long)entry);
	(void)snprintf(img->seg[0].name, sizeof(img->seg[0].name),
	    "the image");
	img->seg[0].off = 0;
	img->seg[0].filesz = size;
	img->seg[0].gpa = load;
	img->seg[0].memsz = size;
	img->nseg = 1;
	img->entry = entry;
	return 0;
}

int
loader_raw_boot(struct loader_ctx *c)
{
	const struct vmdef *def = c->def;
	struct loader_image img;
	struct boot_cpu *b = &c->vm->boot;
	uint16_t cs, ip;
	int error;

	error = loader_no_initrd(c, "raw");
	if (error != 0)
		return error;
	error = loader_raw_parse(&c->kernel, def->load_address, def->entry,
	    def->mode, &img, c->err, c->errlen);
	if (error != 0)
		return error;
	loader_mem_reserve_boot(&c->mem, def->mode);
	error = loader_image_check(&c->mem, &c->kernel, &img, c->err,
	    c->errlen);
	if (error == 0)
		error = loader_image_load(&c->mem, &c->kernel, &img, c->err,
		    c->errlen);
	if (error != 0)
		return error;

	b->mode = def->mode;
	b->rsp = BOOT_STACK_TOP;
	b->rip = img.entry;
	if (def->mode == VMDEF_MODE_REAL) {
		loader_real_cs_ip(img.entry, &cs, &ip);
		b->cs_real = cs;
		b->rip = ip;
	}
	return 0;
}
