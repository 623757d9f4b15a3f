/*
 * boot.c: putting the guest's first instruction in place.  boot_load picks
 * the loader (os.loader, or "auto" detection: bzImage, then Multiboot,
 * then ELF) and runs it; the parts every loader shares live here too:
 * image sources, the guest memory checks, the memory map, the MP table,
 * the GDT and page tables, and the boot vcpu's register state.
 *
 * Low memory while the guest starts (RAM from GPA 0):
 *
 *	0x00500-0x0051f	GDT: null, code32 0x08, code64 0x10, data 0x18
 *	0x06000-0x06fff	Multiboot information page (Multiboot only)
 *	0x07000-0x07fff	the boot stack, below the initial RSP 0x8000
 *			(BOOT_STACK_TOP); for Linux the zero page, whose
 *			last 0x114 bytes are padding
 *	0x09000-0x0efff	page tables: PML4, PDPT, 4 PDs (long mode only)
 *	0x20000-0x21fff	kernel command line, Multiboot module string
 *	0xf0000-0xfffff	MP floating pointer and table (with an irqchip)
 *
 * Each loader reserves the ranges it uses (struct loader_mem), and only
 * those: an image that would overlap one is refused with a message naming
 * both ranges instead of being silently overwritten, while the test
 * guests linked at 0x1000 fit between the GDT and the stack.
 */

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "worker.h"

#define PAGE_SIZE_4K		0x1000ULL
#define GIB4			0x100000000ULL

/* Page table entry bits (Intel SDM vol. 3A, 4.5). */
#define PTE_P			0x001ULL
#define PTE_W			0x002ULL
#define PTE_A			0x020ULL
#define PTE_D			0x040ULL
#define PTE_PS			0x080ULL

#define CR0_PE			0x00000001ULL
#define CR0_ET			0x00000010ULL
#define CR0_NE			0x00000020ULL
#define CR0_PG			0x80000000ULL
#define CR4_PAE			0x00000020ULL
#define CR4_OSFXSR		0x00000200ULL
#define CR4_OSXMMEXCPT		0x00000400ULL
#define EFER_LME		0x00000100ULL
#define EFER_LMA		0x00000400ULL
#define XCR0_X87		0x1ULL

/* Segment descriptor types (SDM vol. 3A, 3.4.5.1), accessed bit set. */
#define SEG_DATA_RWA		0x3
#define SEG_CODE_XRA		0xb
#define SEG_LDT			0x2
#define SEG_TSS16_BUSY		0x3
#define SEG_TSS_BUSY		0xb	/* 32-bit, or 64-bit in long mode */

/* ------------------------------------------------------------------------ */
/* Sources. */

int
loader_err(char *err, size_t errlen, const struct loader_src *src, int error,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return error;
	n = snprintf(err, errlen, "%s: ", src->what);
	if (n < 0 || (size_t)n >= errlen)
		return error;
	va_start(ap, fmt);
	(void)vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return error;
}

int
loader_src_fd(struct loader_src *src, const char *what, int fd, char *err,
    size_t errlen)
{
	off_t end;

	memset(src, 0, sizeof(*src));
	src->what = what;
	src->fd = fd;
	end = lseek(fd, 0, SEEK_END);
	if (end == -1)
		return loader_err(err, errlen, src, -EIO,
		    "cannot find the size: %s", strerror(errno));
	src->size = (uint64_t)end;
	return 0;
}

void
loader_src_buf(struct loader_src *src, const char *what, const void *buf,
    size_t len)
{
	memset(src, 0, sizeof(*src));
	src->what = what;
	src->fd = -1;
	src->buf = buf;
	src->size = len;
}

/*
 * pread all of len bytes; a file that shrank since its size was taken is
 * an I/O error.
 */
static int
loader_pread(const struct loader_src *src, uint64_t off, uint8_t *buf,
    size_t len, char *err, size_t errlen)
{
	ssize_t n;

	while (len > 0) {
		n = pread(src->fd, buf, len, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return loader_err(err, errlen, src, -EIO,
			    "read at offset 0x%llx: %s",
			    (unsigned long long)off, strerror(errno));
		if (n == 0)
			return loader_err(err, errlen, src, -EIO,
			    "read at offset 0x%llx: the file shrank",
			    (unsigned long long)off);
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int
loader_read(const struct loader_src *src, uint64_t off, void *buf,
    size_t len, char *err, size_t errlen)
{
	if (off > src->size || len > src->size - off)
		return loader_err(err, errlen, src, -EINVAL,
		    "read of 0x%zx bytes at offset 0x%llx ends beyond the "
		    "file (0x%llx bytes)", len, (unsigned long long)off,
		    (unsigned long long)src->size);
	if (len == 0)
		return 0;
	if (src->buf != NULL) {
		memcpy(buf, src->buf + off, len);
		return 0;
	}
	return loader_pread(src, off, buf, len, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Guest memory. */

void
loader_mem_init(struct loader_mem *m, const struct vm_ram *ram,
    unsigned int nram)
{
	memset(m, 0, sizeof(*m));
	m->ram = ram;
	m->nram = nram;
}

void
loader_mem_reserve(struct loader_mem *m, uint64_t start, uint64_t end,
    const char *name)
{
	/* The loaders reserve a fixed handful of ranges. */
	assert(m->nresv < LOADER_RESV_MAX);
	m->resv[m->nresv].start = start;
	m->resv[m->nresv].end = end;
	m->resv[m->nresv].name = name;
	m->nresv++;
}

void
loader_mem_reserve_boot(struct loader_mem *m, enum vmdef_mode mode)
{
	if (mode == VMDEF_MODE_REAL)
		return;
	loader_mem_reserve(m, BOOT_GDT, BOOT_GDT + BOOT_GDT_ENTRIES * 8,
	    "boot GDT");
	loader_mem_reserve(m, BOOT_STACK_TOP - PAGE_SIZE_4K, BOOT_STACK_TOP,
	    "boot stack");
	if (mode == VMDEF_MODE_LONG)
		loader_mem_reserve(m, BOOT_PT, BOOT_PT_END,
		    "boot page tables");
}

uint64_t
loader_mem_low_end(const struct loader_mem *m)
{
	unsigned int i;

	for (i = 0; i < m->nram; i++)
		if (m->ram[i].gpa == 0)
			return m->ram[i].size;
	return 0;
}

/* The RAM region holding all of [gpa, gpa + len), or NULL (len > 0). */
static const struct vm_ram *
loader_mem_region(const struct loader_mem *m, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	if (len == 0 || gpa + len < gpa)
		return NULL;
	for (i = 0; i < m->nram; i++)
		if (gpa >= m->ram[i].gpa &&
		    gpa - m->ram[i].gpa < m->ram[i].size &&
		    len <= m->ram[i].size - (gpa - m->ram[i].gpa))
			return &m->ram[i];
	return NULL;
}

void *
loader_mem_ptr(const struct loader_mem *m, uint64_t gpa, uint64_t len)
{
	const struct vm_ram *r;

	r = loader_mem_region(m, gpa, len);
	if (r == NULL)
		return NULL;
	return r->hva + (gpa - r->gpa);
}

int
loader_mem_write(const struct loader_mem *m, uint64_t gpa, const void *buf,
    size_t len)
{
	void *p;

	if (len == 0)
		return 0;
	p = loader_mem_ptr(m, gpa, len);
	if (p == NULL)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

/* "[0x0, 0x1000000) and [0x100000000, 0x140000000)" for messages. */
static void
loader_mem_describe(const struct loader_mem *m, char *buf, size_t len)
{
	unsigned int i;
	size_t n = 0;
	int k;

	buf[0] = '\0';
	if (m->nram == 0)
		(void)snprintf(buf, len, "none");
	for (i = 0; i < m->nram && n < len; i++) {
		k = snprintf(buf + n, len - n, "%s[0x%llx, 0x%llx)",
		    i == 0 ? "" : " and ", (unsigned long long)m->ram[i].gpa,
		    (unsigned long long)(m->ram[i].gpa + m->ram[i].size));
		if (k < 0)
			break;
		n += (size_t)k;
	}
}

int
loader_mem_check(const struct loader_mem *m, const struct loader_src *src,
    const char *desc, uint64_t gpa, uint64_t len, char *err, size_t errlen)
{
	const struct loader_range *r;
	char ram[128];
	unsigned int i;

	if (len == 0 || gpa + len < gpa)
		return loader_err(err, errlen, src, -EINVAL,
		    "%s at 0x%llx (0x%llx bytes) wraps around the address "
		    "space", desc, (unsigned long long)gpa,
		    (unsigned long long)len);
	for (i = 0; i < m->nresv; i++) {
		r = &m->resv[i];
		if (gpa < r->end && r->start < gpa + len)
			return loader_err(err, errlen, src, -EINVAL,
			    "%s [0x%llx, 0x%llx) overlaps the %s "
			    "[0x%llx, 0x%llx)", desc, (unsigned long long)gpa,
			    (unsigned long long)(gpa + len), r->name,
			    (unsigned long long)r->start,
			    (unsigned long long)r->end);
	}
	if (loader_mem_region(m, gpa, len) == NULL) {
		loader_mem_describe(m, ram, sizeof(ram));
		return loader_err(err, errlen, src, -EINVAL,
		    "%s [0x%llx, 0x%llx) is outside guest RAM (%s)", desc,
		    (unsigned long long)gpa, (unsigned long long)(gpa + len),
		    ram);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Images. */

uint64_t
loader_image_end(const struct loader_image *img)
{
	uint64_t end = 0;
	unsigned int i;

	for (i = 0; i < img->nseg; i++)
		if (img->seg[i].gpa + img->seg[i].memsz > end)
			end = img->seg[i].gpa + img->seg[i].memsz;
	return end;
}

int
loader_image_check(const struct loader_mem *m, const struct loader_src *src,
    const struct loader_image *img, char *err, size_t errlen)
{
	const struct loader_seg *s;
	unsigned int i;
	int error;

	for (i = 0; i < img->nseg; i++) {
		s = &img->seg[i];
		error = loader_mem_check(m, src, s->name, s->gpa, s->memsz,
		    err, errlen);
		if (error != 0)
			return error;
	}
	if (loader_mem_region(m, img->entry, 1) == NULL)
		return loader_err(err, errlen, src, -EINVAL,
		    "entry point 0x%llx is outside guest RAM",
		    (unsigned long long)img->entry);
	return 0;
}

int
loader_image_load(const struct loader_mem *m, const struct loader_src *src,
    const struct loader_image *img, char *err, size_t errlen)
{
	const struct loader_seg *s;
	uint8_t *p;
	unsigned int i;
	int error;

	for (i = 0; i < img->nseg; i++) {
		s = &img->seg[i];
		p = loader_mem_ptr(m, s->gpa, s->memsz);
		if (p == NULL)
			return loader_err(err, errlen, src, -EFAULT,
			    "%s is not in guest RAM", s->name);
		error = loader_read(src, s->off, p, s->filesz, err, errlen);
		if (error != 0)
			return error;
		memset(p + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

int
loader_initrd_place(const struct loader_mem *m, const struct loader_src *src,
    uint64_t floor, uint64_t ceiling, uint64_t *gpa, char *err,
    size_t errlen)
{
	uint64_t top, addr;

	top = loader_mem_low_end(m);
	if (ceiling < top)
		top = ceiling;
	if (src->size == 0)
		return loader_err(err, errlen, src, -EINVAL, "the file is "
		    "empty");
	if (src->size > top || ((top - src->size) & ~(PAGE_SIZE_4K - 1)) <
	    floor)
		return loader_err(err, errlen, src, -EINVAL,
		    "0x%llx bytes do not fit in guest RAM between the kernel "
		    "(ending at 0x%llx) and 0x%llx",
		    (unsigned long long)src->size, (unsigned long long)floor,
		    (unsigned long long)top);
	addr = (top - src->size) & ~(PAGE_SIZE_4K - 1);
	*gpa = addr;
	return loader_mem_check(m, src, "the initrd", addr, src->size, err,
	    errlen);
}

int
loader_src_load(const struct loader_mem *m, const struct loader_src *src,
    uint64_t gpa, char *err, size_t errlen)
{
	uint8_t *p;

	p = loader_mem_ptr(m, gpa, src->size);
	if (p == NULL)
		return loader_err(err, errlen, src, -EFAULT,
		    "[0x%llx, 0x%llx) is not in guest RAM",
		    (unsigned long long)gpa,
		    (unsigned long long)(gpa + src->size));
	return loader_read(src, 0, p, src->size, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* The memory map. */

static unsigned int
loader_e820_add(struct loader_e820 *map, unsigned int n, uint64_t start,
    uint64_t end, uint32_t type)
{
	unsigned int i;

	if (start >= end || n >= LOADER_E820_MAX)
		return n;
	/* Insert sorted by address; the map has a handful of entries. */
	for (i = n; i > 0 && map[i - 1].addr > start; i--)
		map[i] = map[i - 1];
	map[i].addr = start;
	map[i].size = end - start;
	map[i].type = type;
	return n + 1;
}

unsigned int
loader_e820(const struct vm_ram *ram, unsigned int nram, bool mptable,
    struct loader_e820 *map)
{
	uint64_t start, end;
	unsigned int i, n = 0;

	for (i = 0; i < nram; i++) {
		start = ram[i].gpa;
		end = ram[i].gpa + ram[i].size;
		/* The legacy VGA and BIOS area is not RAM to the guest. */
		n = loader_e820_add(map, n, start,
		    end < LOADER_BIOS_HOLE ? end : LOADER_BIOS_HOLE, E820_RAM);
		n = loader_e820_add(map, n,
		    start > LOADER_HIGH_MEM ? start : LOADER_HIGH_MEM, end,
		    E820_RAM);
	}
	if (mptable)
		n = loader_e820_add(map, n, BOOT_MPTABLE, LOADER_HIGH_MEM,
		    E820_RESERVED);
	return n;
}

/* ------------------------------------------------------------------------ */
/* The MP table (Intel MultiProcessor Specification 1.4, chapter 4). */

#define MP_FLOATING_LEN		16
#define MP_HEADER_LEN		44
#define MP_PROC_LEN		20
#define MP_ENTRY_LEN		8
#define MP_SPEC_REV		4
#define MP_ENTRY_PROC		0
#define MP_ENTRY_BUS		1
#define MP_ENTRY_IOAPIC		2
#define MP_ENTRY_IOINT		3
#define MP_ENTRY_LINT		4
#define MP_INT			0
#define MP_NMI			1
#define MP_EXTINT		3
#define MP_CPU_EN		0x01
#define MP_CPU_BP		0x02
#define MP_LAPIC_VERSION	0x14	/* KVM's local APIC */
#define MP_IOAPIC_VERSION	0x11	/* KVM's IOAPIC */
#define MP_CPU_SIGNATURE	0x600	/* family 6 */
#define MP_CPU_FEATURES		0x201	/* FPU, APIC */
#define MP_ISA_IRQS		16

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static uint8_t
mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len-- > 0)
		sum += *p++;
	return (uint8_t)-sum;
}

/* An 8-byte interrupt assignment entry (I/O or local). */
static uint8_t *
mp_intr(uint8_t *p, int entry, int type, int srcirq, int dst, int pin)
{
	memset(p, 0, MP_ENTRY_LEN);
	p[0] = entry;
	p[1] = type;
	/* p[2..3]: polarity and trigger conform to the bus (ISA: edge). */
	p[4] = 0;			/* source bus: ISA */
	p[5] = srcirq;
	p[6] = dst;
	p[7] = pin;
	return p + MP_ENTRY_LEN;
}

/* The IOAPIC pins that get an I/O interrupt entry: ISA 0-15, then GSIs. */
static int
mp_irq_set(const unsigned int *gsi, unsigned int ngsi, bool set[])
{
	unsigned int i, n = 0;

	memset(set, 0, MPTABLE_IOAPIC_PINS * sizeof(set[0]));
	for (i = 0; i < MP_ISA_IRQS; i++)
		set[i] = true;
	for (i = 0; i < ngsi; i++) {
		if (gsi[i] >= MPTABLE_IOAPIC_PINS)
			return -EINVAL;
		set[gsi[i]] = true;
	}
	for (i = 0; i < MPTABLE_IOAPIC_PINS; i++)
		n += set[i];
	return (int)n;
}

static uint8_t *
mp_processors(uint8_t *p, unsigned int ncpus)
{
	unsigned int i;

	for (i = 0; i < ncpus; i++) {
		memset(p, 0, MP_PROC_LEN);
		p[0] = MP_ENTRY_PROC;
		p[1] = i;			/* local APIC id = vcpu index */
		p[2] = MP_LAPIC_VERSION;
		p[3] = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0);
		put32(p + 4, MP_CPU_SIGNATURE);
		put32(p + 8, MP_CPU_FEATURES);
		p += MP_PROC_LEN;
	}
	return p;
}

int
boot_mptable(uint8_t *buf, size_t len, uint64_t gpa, unsigned int ncpus,
    const unsigned int *gsi, unsigned int ngsi)
{
	bool set[MPTABLE_IOAPIC_PINS];
	uint8_t *hdr, *p;
	size_t need, tablen;
	int nirq;
	unsigned int i;

	nirq = mp_irq_set(gsi, ngsi, set);
	if (nirq < 0 || ncpus == 0 || ncpus > 255 || gpa + 16 >= GIB4)
		return -EINVAL;
	/* One bus and one IOAPIC entry, nirq I/O and 2 local entries. */
	tablen = MP_HEADER_LEN + (size_t)ncpus * MP_PROC_LEN +
	    (2 + (size_t)nirq + 2) * MP_ENTRY_LEN;
	need = MP_FLOATING_LEN + tablen;
	if (need > len)
		return -ENOSPC;
	memset(buf, 0, need);

	/* The floating pointer structure (4.1). */
	memcpy(buf, "_MP_", 4);
	put32(buf + 4, (uint32_t)(gpa + MP_FLOATING_LEN));
	buf[8] = 1;			/* length in 16-byte units */
	buf[9] = MP_SPEC_REV;
	/* feature bytes 0: a configuration table is present, no IMCR. */
	buf[10] = mp_checksum(buf, MP_FLOATING_LEN);

	/* The configuration table header (4.2). */
	hdr = buf + MP_FLOATING_LEN;
	memcpy(hdr, "PCMP", 4);
	put16(hdr + 4, (uint16_t)tablen);
	hdr[6] = MP_SPEC_REV;
	memcpy(hdr + 8, "VMM     ", 8);
	memcpy(hdr + 16, "vmm-worker  ", 12);
	put16(hdr + 34, (uint16_t)(ncpus + 2 + nirq + 2));
	put32(hdr + 36, MPTABLE_LAPIC_ADDR);

	/* Entries, sorted by type as the specification requires (4.3). */
	p = mp_processors(hdr + MP_HEADER_LEN, ncpus);
	p[0] = MP_ENTRY_BUS;
	p[1] = 0;
	memcpy(p + 2, "ISA   ", 6);
	p += MP_ENTRY_LEN;
	p[0] = MP_ENTRY_IOAPIC;
	p[1] = ncpus;			/* IOAPIC id follows the APIC ids */
	p[2] = MP_IOAPIC_VERSION;
	p[3] = 1;			/* enabled */
	put32(p + 4, MPTABLE_IOAPIC_ADDR);
	p += MP_ENTRY_LEN;
	/* KVM's default routing connects GSI n to IOAPIC pin n. */
	for (i = 0; i < MPTABLE_IOAPIC_PINS; i++)
		if (set[i])
			p = mp_intr(p, MP_ENTRY_IOINT, MP_INT, i, ncpus, i);
	p = mp_intr(p, MP_ENTRY_LINT, MP_EXTINT, 0, 0xff, 0);
	p = mp_intr(p, MP_ENTRY_LINT, MP_NMI, 0, 0xff, 1);

	hdr[7] = mp_checksum(hdr, tablen);
	return (int)need;
}

/* Write the MP table at BOOT_MPTABLE for the vcpus and virtio GSIs. */
static int
boot_write_mptable(struct vm *vm, const struct loader_mem *m, char *err,
    size_t errlen)
{
	uint8_t buf[MPTABLE_SIZE_MAX];
	unsigned int gsi[VM_MMIO_MAX];
	unsigned int i, n;
	uint64_t base;
	int len;

	n = vm->nmmio < VM_MMIO_MAX ? vm->nmmio : VM_MMIO_MAX;
	for (i = 0; i < n; i++)
		vm_mmio_window(vm, i, &base, &gsi[i]);
	/* The vcpus are created after the boot image is loaded. */
	len = boot_mptable(buf, sizeof(buf), BOOT_MPTABLE, vm->def->vcpus, gsi,
	    n);
	if (len < 0) {
		(void)snprintf(err, errlen, "cannot build the MP table for %u "
		    "vcpus and %u virtio devices: %s", vm->def->vcpus, n,
		    strerror(-len));
		return len;
	}
	if (loader_mem_write(m, BOOT_MPTABLE, buf, (size_t)len) != 0) {
		(void)snprintf(err, errlen, "the MP table at 0x%llx is not in "
		    "guest RAM", (unsigned long long)BOOT_MPTABLE);
		return -EFAULT;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Dispatch. */

static const struct {
	enum vmdef_loader loader;
	int (*boot)(struct loader_ctx *c);
} boot_loaders[] = {
	{ VMDEF_LOADER_LINUX,		loader_linux_boot },
	{ VMDEF_LOADER_MULTIBOOT,	loader_mb_boot },
	{ VMDEF_LOADER_ELF,		loader_elf_boot },
	{ VMDEF_LOADER_RAW,		loader_raw_boot },
};

/*
 * "auto": a bzImage, then a Multiboot header, then an ELF file.  A raw
 * image has no signature, so it needs os.loader "raw".
 */
static int
boot_detect(struct loader_ctx *c, enum vmdef_loader *loader)
{
	struct loader_linux lx;
	struct loader_mb mb;
	int error;

	error = loader_linux_parse(&c->kernel, &lx, c->err, c->errlen);
	if (error != -ENOENT) {
		*loader = VMDEF_LOADER_LINUX;
		return error;
	}
	error = loader_mb_find(&c->kernel, &mb, c->err, c->errlen);
	if (error != -ENOENT) {
		*loader = VMDEF_LOADER_MULTIBOOT;
		return error;
	}
	if (loader_elf_probe(&c->kernel)) {
		*loader = VMDEF_LOADER_ELF;
		return 0;
	}
	return loader_err(c->err, c->errlen, &c->kernel, -EINVAL,
	    "not a bzImage, Multiboot kernel or ELF file (a flat binary "
	    "needs os.loader \"raw\" and a load address)");
}

/* The sources: the kernel, and the initrd when the definition has one. */
static int
boot_sources(struct loader_ctx *c)
{
	const struct vmdef *def = c->vm->def;
	int error;

	(void)snprintf(c->kernel_what, sizeof(c->kernel_what), "kernel %s",
	    def->kernel);
	error = loader_src_fd(&c->kernel, c->kernel_what, c->vm->kernel_fd,
	    c->err, c->errlen);
	if (error != 0 || def->initrd == NULL)
		return error;
	(void)snprintf(c->initrd_what, sizeof(c->initrd_what), "initrd %s",
	    def->initrd);
	c->has_initrd = true;
	return loader_src_fd(&c->initrd, c->initrd_what, c->vm->initrd_fd,
	    c->err, c->errlen);
}

int
boot_load(struct vm *vm, char *err, size_t errlen)
{
	struct loader_ctx *c;
	enum vmdef_loader loader;
	unsigned int i;
	int error;

	/* Two path-sized buffers: keep them off small thread stacks. */
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		(void)snprintf(err, errlen, "boot: out of memory");
		return -ENOMEM;
	}
	c->vm = vm;
	c->def = vm->def;
	c->err = err;
	c->errlen = errlen;
	c->mptable = vm->def->irqchip;
	loader_mem_init(&c->mem, vm->ram, vm->nram);
	if (c->mptable)
		loader_mem_reserve(&c->mem, BOOT_MPTABLE, LOADER_HIGH_MEM,
		    "MP table");
	memset(&vm->boot, 0, sizeof(vm->boot));

	error = boot_sources(c);
	if (error != 0)
		goto out;
	loader = c->def->loader;
	if (loader == VMDEF_LOADER_AUTO) {
		error = boot_detect(c, &loader);
		if (error != 0)
			goto out;
	}
	for (i = 0; i < sizeof(boot_loaders) / sizeof(boot_loaders[0]); i++)
		if (boot_loaders[i].loader == loader)
			break;
	if (i == sizeof(boot_loaders) / sizeof(boot_loaders[0])) {
		error = loader_err(err, errlen, &c->kernel, -EINVAL,
		    "no loader %d", (int)loader);
		goto out;
	}
	error = boot_loaders[i].boot(c);
	if (error == 0 && c->mptable)
		error = boot_write_mptable(vm, &c->mem, err, errlen);
out:
	free(c);
	return error;
}

/* ------------------------------------------------------------------------ */
/* Descriptor tables, page tables and the boot vcpu. */

void
boot_gdt(uint64_t gdt[BOOT_GDT_ENTRIES])
{
	/*
	 * Accessed bits preset: the CPU would otherwise write them on a
	 * segment load, which this host's nested KVM handles badly.
	 */
	gdt[0] = 0;
	gdt[BOOT_SEL_CODE32 / 8] = 0x00cf9b000000ffffULL;	/* G D P XRA */
	gdt[BOOT_SEL_CODE64 / 8] = 0x00af9b000000ffffULL;	/* G L P XRA */
	gdt[BOOT_SEL_DATA / 8] = 0x00cf93000000ffffULL;	/* G B P RWA */
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, v & 0xffffffff);
	put32(p + 4, v >> 32);
}

void
boot_page_tables(uint8_t pt[BOOT_PT_SIZE])
{
	const uint64_t flags = PTE_P | PTE_W | PTE_A;
	uint64_t pdpt = BOOT_PT + PAGE_SIZE_4K;
	uint64_t pd = BOOT_PT + 2 * PAGE_SIZE_4K;
	uint64_t i, j;

	/* PML4[0] -> PDPT, PDPT[0..3] -> 4 PDs of 512 2 MiB pages each. */
	memset(pt, 0, BOOT_PT_SIZE);
	put64(pt, pdpt | flags);
	for (i = 0; i < 4; i++) {
		put64(pt + PAGE_SIZE_4K + i * 8, (pd + i * PAGE_SIZE_4K) |
		    flags);
		for (j = 0; j < 512; j++)
			put64(pt + (2 + i) * PAGE_SIZE_4K + j * 8,
			    (i << 30) | (j << 21) | flags | PTE_D | PTE_PS);
	}
}

/* A present segment; the caller adjusts what differs. */
static void
boot_seg(struct nvmm_x64_state_seg *seg, uint16_t sel, int type, bool s,
    uint64_t base, uint32_t limit)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = sel;
	seg->attrib.type = type;
	seg->attrib.s = s;
	seg->attrib.p = 1;
	seg->base = base;
	seg->limit = limit;
}

static const int boot_data_segs[] = { NVMM_X64_SEG_ES, NVMM_X64_SEG_SS,
    NVMM_X64_SEG_DS, NVMM_X64_SEG_FS, NVMM_X64_SEG_GS };

static void
boot_segs_real(const struct boot_cpu *b, struct nvmm_x64_state *st)
{
	size_t i;

	boot_seg(&st->segs[NVMM_X64_SEG_CS], b->cs_real, SEG_CODE_XRA, true,
	    (uint64_t)b->cs_real << 4, 0xffff);
	for (i = 0; i < sizeof(boot_data_segs) / sizeof(boot_data_segs[0]);
	    i++)
		boot_seg(&st->segs[boot_data_segs[i]], 0, SEG_DATA_RWA, true, 0,
		    0xffff);
	boot_seg(&st->segs[NVMM_X64_SEG_TR], 0, SEG_TSS16_BUSY, false, 0,
	    0xffff);
	st->segs[NVMM_X64_SEG_GDT].limit = 0xffff;
	st->segs[NVMM_X64_SEG_IDT].limit = 0x3ff;	/* the real-mode IVT */
}

/* Flat 4 GiB segments; long mode differs in CS.L/CS.D and the TSS. */
static void
boot_segs_flat(struct nvmm_x64_state *st, bool long_mode)
{
	struct nvmm_x64_state_seg *seg;
	size_t i;

	seg = &st->segs[NVMM_X64_SEG_CS];
	boot_seg(seg, long_mode ? BOOT_SEL_CODE64 : BOOT_SEL_CODE32,
	    SEG_CODE_XRA, true, 0, 0xffffffff);
	seg->attrib.g = 1;
	seg->attrib.l = long_mode;
	seg->attrib.def = !long_mode;
	for (i = 0; i < sizeof(boot_data_segs) / sizeof(boot_data_segs[0]);
	    i++) {
		seg = &st->segs[boot_data_segs[i]];
		boot_seg(seg, BOOT_SEL_DATA, SEG_DATA_RWA, true, 0, 0xffffffff);
		seg->attrib.g = 1;
		seg->attrib.def = 1;
	}
	/* VM entry wants a busy TSS, 64-bit in IA-32e mode (SDM 26.3.1.2). */
	boot_seg(&st->segs[NVMM_X64_SEG_TR], 0, SEG_TSS_BUSY, false, 0, 0x67);
	st->segs[NVMM_X64_SEG_GDT].base = BOOT_GDT;
	st->segs[NVMM_X64_SEG_GDT].limit = BOOT_GDT_ENTRIES * 8 - 1;
	st->segs[NVMM_X64_SEG_IDT].limit = 0;	/* no IDT: faults shut down */
}

/*
 * Control registers per mode.  Long mode: CR0 PE|PG|ET|NE, CR4
 * PAE|OSFXSR|OSXMMEXCPT (SSE usable, as the x86-64 ABI assumes), EFER
 * LME|LMA only: SCE and NXE are the guest's to enable when it sets up
 * SYSCALL or NX mappings.  Protected mode: PE|ET|NE, paging off.  Real
 * mode: ET only (CD and NW clear: caches on, as firmware leaves them).
 */
static void
boot_crs(enum vmdef_mode mode, struct nvmm_x64_state *st)
{
	memset(st->crs, 0, sizeof(st->crs));
	st->crs[NVMM_X64_CR_XCR0] = XCR0_X87;
	st->msrs[NVMM_X64_MSR_EFER] = 0;
	switch (mode) {
	case VMDEF_MODE_REAL:
		st->crs[NVMM_X64_CR_CR0] = CR0_ET;
		break;
	case VMDEF_MODE_PROTECTED:
		st->crs[NVMM_X64_CR_CR0] = CR0_PE | CR0_ET | CR0_NE;
		break;
	case VMDEF_MODE_LONG:
		st->crs[NVMM_X64_CR_CR0] = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		st->crs[NVMM_X64_CR_CR3] = BOOT_PT;
		st->crs[NVMM_X64_CR_CR4] = CR4_PAE | CR4_OSFXSR |
		    CR4_OSXMMEXCPT;
		st->msrs[NVMM_X64_MSR_EFER] = EFER_LME | EFER_LMA;
		break;
	}
}

void
boot_cpu_state(const struct boot_cpu *b, struct nvmm_x64_state *st)
{
	uint64_t tsc = st->msrs[NVMM_X64_MSR_TSC];
	uint32_t mxcsr_mask = st->fpu.fx_mxcsr_mask;

	memset(st->segs, 0, sizeof(st->segs));
	if (b->mode == VMDEF_MODE_REAL)
		boot_segs_real(b, st);
	else
		boot_segs_flat(st, b->mode == VMDEF_MODE_LONG);
	/* An LDT descriptor that is valid but never selected (selector 0). */
	boot_seg(&st->segs[NVMM_X64_SEG_LDT], 0, SEG_LDT, false, 0, 0xffff);

	memset(st->gprs, 0, sizeof(st->gprs));
	st->gprs[NVMM_X64_GPR_RIP] = b->rip;
	st->gprs[NVMM_X64_GPR_RSP] = b->rsp;
	st->gprs[NVMM_X64_GPR_RAX] = b->rax;
	st->gprs[NVMM_X64_GPR_RBX] = b->rbx;
	st->gprs[NVMM_X64_GPR_RSI] = b->rsi;
	st->gprs[NVMM_X64_GPR_RFLAGS] = 0x2;	/* IF clear */

	memset(st->msrs, 0, sizeof(st->msrs));
	boot_crs(b->mode, st);
	st->msrs[NVMM_X64_MSR_PAT] = 0x0007040600070406ULL;
	st->msrs[NVMM_X64_MSR_TSC] = tsc;

	memset(st->drs, 0, sizeof(st->drs));
	st->drs[NVMM_X64_DR_DR6] = 0xffff0ff0;
	st->drs[NVMM_X64_DR_DR7] = 0x400;
	memset(&st->intr, 0, sizeof(st->intr));

	/* The FPU as FNINIT leaves it; SSE exceptions masked. */
	memset(&st->fpu, 0, sizeof(st->fpu));
	st->fpu.fx_cw = 0x037f;
	st->fpu.fx_mxcsr = 0x1f80;
	st->fpu.fx_mxcsr_mask = mxcsr_mask;
}

int
boot_setup_cpu(struct vm *vm, struct vcpu *vcpu)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];
	uint8_t *pt;

	if (vm->boot.mode != VMDEF_MODE_REAL) {
		boot_gdt(gdt);
		if (vm_mem_write(vm, BOOT_GDT, gdt, sizeof(gdt)) != 0)
			return -EFAULT;
	}
	if (vm->boot.mode == VMDEF_MODE_LONG) {
		pt = vm_gpa(vm, BOOT_PT, BOOT_PT_SIZE);
		if (pt == NULL)
			return -EFAULT;
		boot_page_tables(pt);
	}
	/* Read everything first: the TSC and MXCSR mask are kept. */
	if (nvmm_vcpu_getstate(&vm->mach, &vcpu->nv, NVMM_X64_STATE_ALL) == -1)
		return -errno;
	boot_cpu_state(&vm->boot, vcpu->nv.state);
	if (nvmm_vcpu_setstate(&vm->mach, &vcpu->nv, NVMM_X64_STATE_ALL) == -1)
		return -errno;
	return 0;
}

int
loader_no_initrd(const struct loader_ctx *c, const char *loader)
{
	if (!c->has_initrd)
		return 0;
	return loader_err(c->err, c->errlen, &c->initrd, -EINVAL,
	    "the %s loader takes no initrd (linux and multiboot do)", loader);
}
