/*
 * loader_linux.c: the Linux x86 boot protocol 2.x for a bzImage, entered
 * at its 64-bit entry point (Documentation/x86/boot.rst, "64-bit boot
 * protocol"): the protected-mode kernel at pref_address (or 1 MiB), the
 * zero page (struct boot_params) at BOOT_ZERO_PAGE with the kernel's setup
 * header, an e820 map, the command line at BOOT_CMDLINE and the initrd
 * high in low RAM; long mode, identity-mapped, CS = __BOOT_CS (0x10),
 * DS = ES = SS = __BOOT_DS (0x18), RSI = the zero page, interrupts off.
 * The real-mode setup code in the image is not run.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

#define SECTOR			512
#define PAGE_SIZE_4K		0x1000ULL
#define GIB4			0x100000000ULL
#define LINUX_SETUP_DATA	0x250	/* boot loader's list: none here */

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Protocol version and flags: what this loader needs to boot it. */
static int
linux_check_version(const struct loader_src *src, const uint8_t *h,
    struct loader_linux *lx, char *err, size_t errlen)
{
	if (get16(h + LINUX_BOOT_FLAG) != LINUX_BOOT_FLAG_MAGIC)
		return loader_err(err, errlen, src, -EINVAL,
		    "bzImage boot_flag is 0x%x, expected 0xaa55",
		    get16(h + LINUX_BOOT_FLAG));
	lx->version = get16(h + LINUX_VERSION);
	if (lx->version < LINUX_MIN_VERSION)
		return loader_err(err, errlen, src, -EINVAL,
		    "boot protocol %u.%02u is older than 2.06 (no "
		    "cmdline_size) and not supported", lx->version >> 8,
		    lx->version & 0xff);
	lx->loadflags = h[LINUX_LOADFLAGS];
	if ((lx->loadflags & LINUX_LOADED_HIGH) == 0)
		return loader_err(err, errlen, src, -EINVAL,
		    "loadflags 0x%x lack LOADED_HIGH: a zImage, not a bzImage",
		    lx->loadflags);
	if (lx->version < LINUX_XLF_VERSION)
		return loader_err(err, errlen, src, -EINVAL,
		    "boot protocol %u.%02u has no xloadflags: the 64-bit "
		    "entry needs 2.12 or later", lx->version >> 8,
		    lx->version & 0xff);
	lx->xloadflags = get16(h + LINUX_XLOADFLAGS);
	if ((lx->xloadflags & LINUX_XLF_KERNEL_64) == 0)
		return loader_err(err, errlen, src, -EINVAL,
		    "xloadflags 0x%x lack XLF_KERNEL_64: the kernel has no "
		    "64-bit entry point", lx->xloadflags);
	return 0;
}

/* Where the protected-mode kernel lies in the file, from setup_sects. */
static int
linux_check_sizes(const struct loader_src *src, const uint8_t *h,
    struct loader_linux *lx, char *err, size_t errlen)
{
	unsigned int sects = h[LINUX_SETUP_SECTS];
	uint64_t sys;

	if (sects == 0)
		sects = 4;		/* boot.rst: 0 means 4 */
	lx->kernel_off = (uint64_t)(sects + 1) * SECTOR;
	if (lx->kernel_off >= src->size)
		return loader_err(err, errlen, src, -EINVAL,
		    "the setup code (%u sectors) leaves no kernel in the "
		    "file (0x%llx bytes)", sects,
		    (unsigned long long)src->size);
	lx->kernel_size = src->size - lx->kernel_off;
	/* syssize counts 16-byte paragraphs, rounded up. */
	sys = (uint64_t)get32(h + LINUX_SYSSIZE) * 16;
	if (sys == 0 || sys > lx->kernel_size + 15)
		return loader_err(err, errlen, src, -EINVAL,
		    "syssize says 0x%llx bytes of kernel, 0x%llx follow the "
		    "setup code", (unsigned long long)sys,
		    (unsigned long long)lx->kernel_size);
	if (sys < lx->kernel_size)
		lx->kernel_size = sys;
	if (lx->kernel_size <= LINUX_ENTRY64_OFF)
		return loader_err(err, errlen, src, -EINVAL,
		    "the protected-mode kernel (0x%llx bytes) ends before "
		    "its 64-bit entry point at offset 0x%x",
		    (unsigned long long)lx->kernel_size, LINUX_ENTRY64_OFF);
	return 0;
}

int
loader_linux_parse(const struct loader_src *src, struct loader_linux *lx,
    char *err, size_t errlen)
{
	uint8_t h[LINUX_HDR_LIMIT];
	size_t n, end;
	int error;

	memset(lx, 0, sizeof(*lx));
	if (src->size < LINUX_HEADER + 4)
		return -ENOENT;
	memset(h, 0, sizeof(h));
	n = src->size < sizeof(h) ? (size_t)src->size : sizeof(h);
	error = loader_read(src, 0, h, n, err, errlen);
	if (error != 0)
		return error;
	if (get32(h + LINUX_HEADER) != LINUX_HDRS_MAGIC)
		return -ENOENT;
	error = linux_check_version(src, h, lx, err, errlen);
	if (error == 0)
		error = linux_check_sizes(src, h, lx, err, errlen);
	if (error != 0)
		return error;
	/* The header ends at 0x202 + the jump's offset byte (boot.rst). */
	end = LINUX_HEADER + h[LINUX_JUMP + 1];
	if (end > LINUX_HDR_LIMIT)
		end = LINUX_HDR_LIMIT;
	lx->hdr_len = end - LINUX_HDR_START;
	memcpy(lx->hdr, h + LINUX_HDR_START, lx->hdr_len);
	lx->initrd_addr_max = get32(h + LINUX_INITRD_ADDR_MAX);
	lx->cmdline_size = get32(h + LINUX_CMDLINE_SIZE);
	if (lx->version >= LINUX_PREF_VERSION) {
		lx->pref_address = get64(h + LINUX_PREF_ADDRESS);
		lx->init_size = get32(h + LINUX_INIT_SIZE);
	}
	return 0;
}

int
loader_linux_place(const struct loader_linux *lx, const struct loader_mem *m,
    const struct loader_src *src, uint64_t *load, uint64_t *floor, char *err,
    size_t errlen)
{
	uint64_t need, at = LINUX_DEFAULT_LOAD;
	int error;

	need = lx->kernel_size > lx->init_size ? lx->kernel_size :
	    lx->init_size;
	if (lx->pref_address != 0 && loader_mem_check(m, src, "",
	    lx->pref_address, need, NULL, 0) == 0)
		at = lx->pref_address;
	error = loader_mem_check(m, src, "the kernel with its init_size", at,
	    need, err, errlen);
	if (error != 0)
		return error;
	*load = at;
	*floor = at + need;
	/* A relocated kernel still decompresses at its preferred address. */
	if (lx->pref_address != 0 && lx->pref_address < GIB4 &&
	    lx->pref_address + lx->init_size > *floor)
		*floor = lx->pref_address + lx->init_size;
	return 0;
}

int
loader_linux_cmdline(const char *cmdline, const uint64_t *base,
    const unsigned int *irq, unsigned int n, uint32_t max, char *buf,
    size_t size)
{
	unsigned int i;
	size_t len;
	int k;

	if (size == 0)
		return -E2BIG;
	k = snprintf(buf, size, "%s", cmdline != NULL ? cmdline : "");
	if (k < 0 || (size_t)k >= size)
		return -E2BIG;
	len = (size_t)k;
	for (i = 0; i < n; i++) {
		k = snprintf(buf + len, size - len,
		    "%svirtio_mmio.device=%u@0x%llx:%u", len > 0 ? " " : "",
		    VM_MMIO_SIZE, (unsigned long long)base[i], irq[i]);
		if (k < 0 || (size_t)k >= size - len)
			return -E2BIG;
		len += (size_t)k;
	}
	if (len > max)
		return -E2BIG;
	return (int)len;
}

void
loader_linux_zero_page(const struct loader_linux *lx,
    const struct loader_linux_boot *b, uint8_t *zp)
{
	uint8_t *e;
	unsigned int i, n;

	memset(zp, 0, LINUX_ZP_SIZE);
	memcpy(zp + LINUX_HDR_START, lx->hdr, lx->hdr_len);
	zp[LINUX_TYPE_OF_LOADER] = 0xff;	/* no registered id */
	put32(zp + LINUX_CODE32_START, (uint32_t)b->load);
	put32(zp + LINUX_CMD_LINE_PTR, (uint32_t)b->cmdline_gpa);
	put32(zp + LINUX_ZP_EXT_CMD_LINE_PTR, (uint32_t)(b->cmdline_gpa >> 32));
	put32(zp + LINUX_RAMDISK_IMAGE, (uint32_t)b->initrd_gpa);
	put32(zp + LINUX_ZP_EXT_RAMDISK_IMAGE, (uint32_t)(b->initrd_gpa >> 32));
	put32(zp + LINUX_RAMDISK_SIZE, (uint32_t)b->initrd_size);
	put32(zp + LINUX_ZP_EXT_RAMDISK_SIZE, (uint32_t)(b->initrd_size >> 32));
	/* setup_data is the boot loader's to give; the file's is not ours. */
	if (lx->hdr_len > LINUX_SETUP_DATA - LINUX_HDR_START)
		put64(zp + LINUX_SETUP_DATA, 0);

	n = b->nmap < LOADER_E820_MAX ? b->nmap : LOADER_E820_MAX;
	zp[LINUX_ZP_E820_ENTRIES] = (uint8_t)n;
	for (i = 0; i < n; i++) {
		/* struct boot_e820_entry: addr, size, type; packed. */
		e = zp + LINUX_ZP_E820_TABLE + i * 20;
		put64(e, b->map[i].addr);
		put64(e + 8, b->map[i].size);
		put32(e + 16, b->map[i].type);
	}
}

/* The command line with the virtio-mmio windows, into guest RAM. */
static int
linux_cmdline(struct loader_ctx *c, const struct loader_linux *lx)
{
	char buf[LINUX_CMDLINE_AREA];
	uint64_t base[VM_MMIO_MAX];
	unsigned int irq[VM_MMIO_MAX];
	unsigned int i, n;
	int len;

	n = c->vm->nmmio < VM_MMIO_MAX ? c->vm->nmmio : VM_MMIO_MAX;
	for (i = 0; i < n; i++)
		vm_mmio_window(c->vm, i, &base[i], &irq[i]);
	len = loader_linux_cmdline(c->def->cmdline, base, irq, n,
	    lx->cmdline_size, buf, sizeof(buf));
	if (len < 0)
		return loader_err(c->err, c->errlen, &c->kernel, len,
		    "the command line with %u virtio-mmio device%s does not "
		    "fit the kernel's cmdline_size of %u bytes", n,
		    n == 1 ? "" : "s", lx->cmdline_size);
	if (loader_mem_write(&c->mem, BOOT_CMDLINE, buf, (size_t)len + 1) != 0)
		return loader_err(c->err, c->errlen, &c->kernel, -EFAULT,
		    "the command line at 0x%llx is not in guest RAM",
		    (unsigned long long)BOOT_CMDLINE);
	return 0;
}

/* The initrd at the top of low RAM, under initrd_addr_max. */
static int
linux_initrd(struct loader_ctx *c, const struct loader_linux *lx,
    uint64_t floor, struct loader_linux_boot *b)
{
	int error;

	if (!c->has_initrd)
		return 0;
	error = loader_initrd_place(&c->mem, &c->initrd, floor,
	    (uint64_t)lx->initrd_addr_max + 1, &b->initrd_gpa, c->err,
	    c->errlen);
	if (error == 0)
		error = loader_src_load(&c->mem, &c->initrd, b->initrd_gpa,
		    c->err, c->errlen);
	if (error == 0)
		b->initrd_size = c->initrd.size;
	return error;
}

/* The kernel's part of the image: one segment, entered at +0x200. */
static int
linux_kernel(struct loader_ctx *c, const struct loader_linux *lx,
    uint64_t *load, uint64_t *floor)
{
	struct loader_image img;
	int error;

	error = loader_linux_place(lx, &c->mem, &c->kernel, load, floor,
	    c->err, c->errlen);
	if (error != 0)
		return error;
	memset(&img, 0, sizeof(img));
	(void)snprintf(img.seg[0].name, sizeof(img.seg[0].name),
	    "the protected-mode kernel");
	img.seg[0].off = lx->kernel_off;
	img.seg[0].filesz = lx->kernel_size;
	img.seg[0].gpa = *load;
	img.seg[0].memsz = lx->kernel_size;
	img.nseg = 1;
	img.entry = *load + LINUX_ENTRY64_OFF;
	error = loader_image_check(&c->mem, &c->kernel, &img, c->err,
	    c->errlen);
	if (error == 0)
		error = loader_image_load(&c->mem, &c->kernel, &img, c->err,
		    c->errlen);
	return error;
}

int
loader_linux_boot(struct loader_ctx *c)
{
	struct loader_e820 map[LOADER_E820_MAX];
	struct loader_linux_boot lb;
	struct loader_linux lx;
	uint8_t zp[LINUX_ZP_SIZE];
	uint64_t floor;
	int error;

	error = loader_linux_parse(&c->kernel, &lx, c->err, c->errlen);
	if (error == -ENOENT)
		return loader_err(c->err, c->errlen, &c->kernel, -EINVAL,
		    "not a bzImage (no \"HdrS\" setup header at offset 0x%x)",
		    LINUX_HEADER);
	if (error != 0)
		return error;
	/* The stack page below BOOT_STACK_TOP is the zero page's. */
	loader_mem_reserve(&c->mem, BOOT_GDT, BOOT_GDT + BOOT_GDT_ENTRIES * 8,
	    "boot GDT");
	loader_mem_reserve(&c->mem, BOOT_ZERO_PAGE, BOOT_ZERO_PAGE +
	    LINUX_ZP_SIZE, "zero page");
	loader_mem_reserve(&c->mem, BOOT_PT, BOOT_PT_END, "boot page tables");
	loader_mem_reserve(&c->mem, BOOT_CMDLINE,
	    BOOT_CMDLINE + LINUX_CMDLINE_AREA, "kernel command line");
	memset(&lb, 0, sizeof(lb));
	lb.cmdline_gpa = BOOT_CMDLINE;
	error = linux_kernel(c, &lx, &lb.load, &floor);
	if (error == 0)
		error = linux_cmdline(c, &lx);
	if (error == 0)
		error = linux_initrd(c, &lx, floor, &lb);
	if (error != 0)
		return error;
	lb.nmap = loader_e820(c->mem.ram, c->mem.nram, c->mptable, map);
	lb.map = map;
	loader_linux_zero_page(&lx, &lb, zp);
	if (loader_mem_write(&c->mem, BOOT_ZERO_PAGE, zp, sizeof(zp)) != 0)
		return loader_err(c->err, c->errlen, &c->kernel, -EFAULT,
		    "the zero page at 0x%llx is not in guest RAM",
		    (unsigned long long)BOOT_ZERO_PAGE);

	c->vm->boot.mode = VMDEF_MODE_LONG;
	c->vm->boot.rip = lb.load + LINUX_ENTRY64_OFF;
	c->vm->boot.rsp = BOOT_STACK_TOP;
	c->vm->boot.rsi = BOOT_ZERO_PAGE;
	return 0;
}
