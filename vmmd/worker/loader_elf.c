/*
 * loader_elf.c: ELF32 and ELF64 executables (their PT_LOAD program
 * headers) and Multiboot 1 kernels (The Multiboot Specification 0.6.96:
 * the header of section 3.1, the machine state of 3.2, the information
 * structure of 3.3).  A plain ELF64 file is entered in long mode and an
 * ELF32 file in protected mode; a Multiboot kernel always in 32-bit
 * protected mode with EAX = 0x2BADB002 and EBX = the information
 * structure.
 */

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader.h"

#define GIB4			0x100000000ULL
#define PAGE_SIZE_4K		0x1000ULL

/* The fields of either ELF class that the loader uses. */
struct elf_hdr {
	bool is64;
	uint64_t entry;
	uint64_t phoff;
	unsigned int phentsize;
	unsigned int phnum;
};

struct elf_phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

bool
loader_elf_probe(const struct loader_src *src)
{
	uint8_t ident[SELFMAG];

	if (loader_read(src, 0, ident, sizeof(ident), NULL, 0) != 0)
		return false;
	return memcmp(ident, ELFMAG, SELFMAG) == 0;
}

/* e_ident: magic, class, byte order, version. */
static int
elf_ident(const struct loader_src *src, const uint8_t *ident, char *err,
    size_t errlen)
{
	if (memcmp(ident, ELFMAG, SELFMAG) != 0)
		return loader_err(err, errlen, src, -EINVAL,
		    "not an ELF file (no \\177ELF magic)");
	if (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF class %u is neither ELF32 nor ELF64",
		    ident[EI_CLASS]);
	if (ident[EI_DATA] != ELFDATA2LSB)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF data encoding %u is not little-endian",
		    ident[EI_DATA]);
	if (ident[EI_VERSION] != EV_CURRENT)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF version %u is not 1", ident[EI_VERSION]);
	return 0;
}

/* Read the file header of either class into h. */
static int
elf_read_header(const struct loader_src *src, struct elf_hdr *h, char *err,
    size_t errlen)
{
	Elf64_Ehdr e64;
	Elf32_Ehdr e32;
	unsigned int type, machine, want;
	int error;

	if (src->size < EI_NIDENT)
		return loader_err(err, errlen, src, -EINVAL,
		    "not an ELF file (0x%llx bytes)",
		    (unsigned long long)src->size);
	error = loader_read(src, 0, e64.e_ident, EI_NIDENT, err, errlen);
	if (error == 0)
		error = elf_ident(src, e64.e_ident, err, errlen);
	if (error != 0)
		return error;
	h->is64 = e64.e_ident[EI_CLASS] == ELFCLASS64;
	if ((h->is64 && src->size < sizeof(e64)) ||
	    (!h->is64 && src->size < sizeof(e32)))
		return loader_err(err, errlen, src, -EINVAL,
		    "the file (0x%llx bytes) is shorter than the ELF header",
		    (unsigned long long)src->size);
	if (h->is64) {
		error = loader_read(src, 0, &e64, sizeof(e64), err, errlen);
		type = e64.e_type;
		machine = e64.e_machine;
		h->entry = e64.e_entry;
		h->phoff = e64.e_phoff;
		h->phentsize = e64.e_phentsize;
		h->phnum = e64.e_phnum;
	} else {
		error = loader_read(src, 0, &e32, sizeof(e32), err, errlen);
		type = e32.e_type;
		machine = e32.e_machine;
		h->entry = e32.e_entry;
		h->phoff = e32.e_phoff;
		h->phentsize = e32.e_phentsize;
		h->phnum = e32.e_phnum;
	}
	if (error != 0)
		return error;
	if (type != ET_EXEC)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF type %u is not an executable (ET_EXEC)", type);
	want = h->is64 ? EM_X86_64 : EM_386;
	if (machine != want)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF machine %u is not %s", machine,
		    h->is64 ? "x86-64 (EM_X86_64)" : "i386 (EM_386)");
	return 0;
}

/* The program header table: its size, count and place in the file. */
static int
elf_check_phdrs(const struct loader_src *src, const struct elf_hdr *h,
    char *err, size_t errlen)
{
	size_t want = h->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t len;

	if (h->phentsize != want)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF program header size %u, expected %zu", h->phentsize,
		    want);
	if (h->phnum == 0)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF file has no program headers");
	if (h->phnum > LOADER_ELF_PHNUM_MAX)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF file has %u program headers, at most %d are "
		    "supported", h->phnum, LOADER_ELF_PHNUM_MAX);
	len = (uint64_t)h->phnum * h->phentsize;
	if (h->phoff > src->size || len > src->size - h->phoff)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF program header table ends beyond the file (offset "
		    "0x%llx, %u entries)", (unsigned long long)h->phoff,
		    h->phnum);
	return 0;
}

/* Program header i of the table read into raw. */
static void
elf_phdr(const struct elf_hdr *h, const uint8_t *raw, unsigned int i,
    struct elf_phdr *ph)
{
	Elf64_Phdr p64;
	Elf32_Phdr p32;

	if (h->is64) {
		memcpy(&p64, raw + (size_t)i * sizeof(p64), sizeof(p64));
		ph->type = p64.p_type;
		ph->offset = p64.p_offset;
		ph->vaddr = p64.p_vaddr;
		ph->paddr = p64.p_paddr;
		ph->filesz = p64.p_filesz;
		ph->memsz = p64.p_memsz;
	} else {
		memcpy(&p32, raw + (size_t)i * sizeof(p32), sizeof(p32));
		ph->type = p32.p_type;
		ph->offset = p32.p_offset;
		ph->vaddr = p32.p_vaddr;
		ph->paddr = p32.p_paddr;
		ph->filesz = p32.p_filesz;
		ph->memsz = p32.p_memsz;
	}
}

/* One PT_LOAD header: inside the file, sizes consistent, no wrap. */
static int
elf_check_load(const struct loader_src *src, const struct elf_phdr *ph,
    unsigned int i, bool below_4g, char *err, size_t errlen)
{
	if (ph->offset > src->size || ph->filesz > src->size - ph->offset)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF program header %u ends beyond the file (offset "
		    "0x%llx size 0x%llx)", i, (unsigned long long)ph->offset,
		    (unsigned long long)ph->filesz);
	if (ph->filesz > ph->memsz)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF program header %u has a file size 0x%llx larger than "
		    "its memory size 0x%llx", i,
		    (unsigned long long)ph->filesz,
		    (unsigned long long)ph->memsz);
	if (ph->paddr + ph->memsz < ph->paddr ||
	    ph->vaddr + ph->memsz < ph->vaddr)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF program header %u wraps around the address space "
		    "(address 0x%llx size 0x%llx)", i,
		    (unsigned long long)ph->paddr,
		    (unsigned long long)ph->memsz);
	if (below_4g && ph->paddr + ph->memsz > GIB4)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF program header %u lies above 4 GiB (address 0x%llx "
		    "size 0x%llx)", i, (unsigned long long)ph->paddr,
		    (unsigned long long)ph->memsz);
	return 0;
}

/* Add PT_LOAD header i as a segment; vaddr[] keeps its virtual address. */
static int
elf_add_load(const struct loader_src *src, const struct elf_phdr *ph,
    unsigned int i, struct loader_image *img, uint64_t *vaddr, char *err,
    size_t errlen)
{
	struct loader_seg *s;

	if (img->nseg >= LOADER_SEG_MAX)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF file has more than %d loadable segments",
		    LOADER_SEG_MAX);
	s = &img->seg[img->nseg];
	(void)snprintf(s->name, sizeof(s->name), "ELF program header %u", i);
	s->off = ph->offset;
	s->filesz = ph->filesz;
	s->gpa = ph->paddr;
	s->memsz = ph->memsz;
	vaddr[img->nseg] = ph->vaddr;
	img->nseg++;
	return 0;
}

/* e_entry is virtual: find its segment and translate it. */
static int
elf_entry(const struct loader_src *src, uint64_t entry,
    struct loader_image *img, const uint64_t *vaddr, char *err,
    size_t errlen)
{
	const struct loader_seg *s;
	unsigned int i;

	for (i = 0; i < img->nseg; i++) {
		s = &img->seg[i];
		if (entry >= vaddr[i] && entry - vaddr[i] < s->memsz) {
			img->entry = s->gpa + (entry - vaddr[i]);
			return 0;
		}
	}
	return loader_err(err, errlen, src, -EINVAL,
	    "ELF entry point 0x%llx is in no loadable segment",
	    (unsigned long long)entry);
}

int
loader_elf_parse(const struct loader_src *src, bool below_4g,
    struct loader_image *img, char *err, size_t errlen)
{
	uint8_t raw[LOADER_ELF_PHNUM_MAX * sizeof(Elf64_Phdr)];
	uint64_t vaddr[LOADER_SEG_MAX];
	struct elf_phdr ph;
	struct elf_hdr h;
	unsigned int i;
	int error;

	memset(img, 0, sizeof(*img));
	memset(&h, 0, sizeof(h));
	error = elf_read_header(src, &h, err, errlen);
	if (error == 0)
		error = elf_check_phdrs(src, &h, err, errlen);
	if (error == 0)
		error = loader_read(src, h.phoff, raw,
		    (size_t)h.phnum * h.phentsize, err, errlen);
	if (error != 0)
		return error;
	img->elf64 = h.is64;
	for (i = 0; i < h.phnum; i++) {
		elf_phdr(&h, raw, i, &ph);
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		error = elf_check_load(src, &ph, i, below_4g, err, errlen);
		if (error == 0)
			error = elf_add_load(src, &ph, i, img, vaddr, err,
			    errlen);
		if (error != 0)
			return error;
	}
	if (img->nseg == 0)
		return loader_err(err, errlen, src, -EINVAL,
		    "ELF file has no loadable segment");
	return elf_entry(src, h.entry, img, vaddr, err, errlen);
}

int
loader_elf_boot(struct loader_ctx *c)
{
	struct loader_image img;
	struct boot_cpu *b = &c->vm->boot;
	int error;

	error = loader_no_initrd(c, "elf");
	if (error == 0)
		error = loader_elf_parse(&c->kernel, false, &img, c->err,
		    c->errlen);
	if (error != 0)
		return error;
	if (img.elf64 && img.entry >= GIB4)
		return loader_err(c->err, c->errlen, &c->kernel, -EINVAL,
		    "long-mode entry point 0x%llx is above 4 GiB, beyond the "
		    "boot page tables", (unsigned long long)img.entry);
	loader_mem_reserve_boot(&c->mem, img.elf64 ? VMDEF_MODE_LONG :
	    VMDEF_MODE_PROTECTED);
	error = loader_image_check(&c->mem, &c->kernel, &img, c->err,
	    c->errlen);
	if (error == 0)
		error = loader_image_load(&c->mem, &c->kernel, &img, c->err,
		    c->errlen);
	if (error != 0)
		return error;
	b->mode = img.elf64 ? VMDEF_MODE_LONG : VMDEF_MODE_PROTECTED;
	b->rip = img.entry;
	b->rsp = BOOT_STACK_TOP;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Multiboot 1. */

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* The header's required flag bits (0-15) must all be known (spec 3.1.2). */
static int
mb_check_flags(const struct loader_src *src, const struct loader_mb *mb,
    char *err, size_t errlen)
{
	uint32_t missing = mb->flags & MB_HDR_REQUIRED & ~MB_HDR_SUPPORTED;

	if (missing == 0)
		return 0;
	return loader_err(err, errlen, src, -EINVAL,
	    "Multiboot header at offset 0x%llx requires what this loader "
	    "cannot give (flags 0x%x: %s)", (unsigned long long)mb->off,
	    mb->flags, (missing & MB_HDR_VIDEO_MODE) != 0 ?
	    "video mode information" : "unknown required bits");
}

/* The a.out kludge fields follow magic, flags and checksum. */
static int
mb_kludge_fields(const struct loader_src *src, const uint8_t *win,
    size_t winlen, struct loader_mb *mb, char *err, size_t errlen)
{
	const uint8_t *p;

	if ((mb->flags & MB_HDR_AOUT_KLUDGE) == 0)
		return 0;
	if (winlen - mb->off < 32)
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot header at offset 0x%llx: its address fields "
		    "end beyond the first 0x%zx bytes of the file",
		    (unsigned long long)mb->off, winlen);
	p = win + mb->off;
	mb->header_addr = get32(p + 12);
	mb->load_addr = get32(p + 16);
	mb->load_end_addr = get32(p + 20);
	mb->bss_end_addr = get32(p + 24);
	mb->entry_addr = get32(p + 28);
	return 0;
}

int
loader_mb_find(const struct loader_src *src, struct loader_mb *mb, char *err,
    size_t errlen)
{
	uint8_t win[MB_SEARCH_LEN];
	size_t winlen, off;
	uint32_t magic, flags, sum;
	int error;

	memset(mb, 0, sizeof(*mb));
	winlen = src->size < MB_SEARCH_LEN ? (size_t)src->size :
	    MB_SEARCH_LEN;
	error = loader_read(src, 0, win, winlen, err, errlen);
	if (error != 0)
		return error;
	for (off = 0; off + 12 <= winlen; off += 4) {
		magic = get32(win + off);
		flags = get32(win + off + 4);
		sum = get32(win + off + 8);
		if (magic != MB_HEADER_MAGIC || magic + flags + sum != 0)
			continue;
		mb->off = off;
		mb->flags = flags;
		error = mb_check_flags(src, mb, err, errlen);
		if (error == 0)
			error = mb_kludge_fields(src, win, winlen, mb, err,
			    errlen);
		return error;
	}
	return -ENOENT;
}

/* Segment and entry from the header's address fields (spec 3.1.3). */
static int
mb_kludge_image(const struct loader_src *src, const struct loader_mb *mb,
    struct loader_image *img, char *err, size_t errlen)
{
	struct loader_seg *s = &img->seg[0];
	uint64_t start, end, bss_end, text_off;

	if (mb->header_addr < mb->load_addr ||
	    mb->header_addr - mb->load_addr > mb->off)
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot load_addr 0x%x puts the start of the image "
		    "outside the file (header_addr 0x%x, header at offset "
		    "0x%llx)", mb->load_addr, mb->header_addr,
		    (unsigned long long)mb->off);
	text_off = mb->off - (mb->header_addr - mb->load_addr);
	start = mb->load_addr;
	end = mb->load_end_addr != 0 ? mb->load_end_addr :
	    start + (src->size - text_off);
	if (end <= start || end - start > src->size - text_off)
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot load range [0x%llx, 0x%llx) does not fit the "
		    "file (offset 0x%llx, 0x%llx bytes)",
		    (unsigned long long)start, (unsigned long long)end,
		    (unsigned long long)text_off,
		    (unsigned long long)src->size);
	if (end > GIB4)
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot load range [0x%llx, 0x%llx) ends above 4 GiB",
		    (unsigned long long)start, (unsigned long long)end);
	bss_end = mb->bss_end_addr != 0 ? mb->bss_end_addr : end;
	if (bss_end < end)
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot bss_end_addr 0x%llx is below load_end_addr "
		    "0x%llx", (unsigned long long)bss_end,
		    (unsigned long long)end);
	if (mb->entry_addr < start || mb->entry_addr >= bss_end)
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot entry_addr 0x%x is outside the image "
		    "[0x%llx, 0x%llx)", mb->entry_addr,
		    (unsigned long long)start, (unsigned long long)bss_end);
	(void)snprintf(s->name, sizeof(s->name), "the Multiboot image");
	s->off = text_off;
	s->filesz = end - start;
	s->gpa = start;
	s->memsz = bss_end - start;
	img->nseg = 1;
	img->entry = mb->entry_addr;
	return 0;
}

int
loader_mb_image(const struct loader_src *src, const struct loader_mb *mb,
    struct loader_image *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	if ((mb->flags & MB_HDR_AOUT_KLUDGE) != 0)
		return mb_kludge_image(src, mb, img, err, errlen);
	if (!loader_elf_probe(src))
		return loader_err(err, errlen, src, -EINVAL,
		    "Multiboot header without address fields (flag 16) in a "
		    "file that is not ELF");
	return loader_elf_parse(src, true, img, err, errlen);
}

/* mem_lower and mem_upper (KiB) from the map (spec 3.3). */
static void
mb_mem_sizes(const struct loader_mb_boot *b, uint32_t *lower,
    uint32_t *upper)
{
	const struct loader_e820 *e;
	unsigned int i;

	*lower = 0;
	*upper = 0;
	for (i = 0; i < b->nmap; i++) {
		e = &b->map[i];
		if (e->type != E820_RAM)
			continue;
		if (e->addr == 0)
			*lower = (uint32_t)(e->size / 1024);
		else if (e->addr == LOADER_HIGH_MEM)
			*upper = (uint32_t)(e->size / 1024 > UINT32_MAX ?
			    UINT32_MAX : e->size / 1024);
	}
}

void
loader_mb_info(const struct loader_mb_boot *b, uint8_t *page)
{
	uint32_t flags = MB_INFO_MEMORY | MB_INFO_MEM_MAP |
	    MB_INFO_LOADER_NAME | MB_INFO_MODS;
	uint32_t lower, upper;
	uint8_t *e;
	unsigned int i, n;

	memset(page, 0, MB_INFO_SIZE);
	mb_mem_sizes(b, &lower, &upper);
	put32(page + 4, lower);
	put32(page + 8, upper);
	if (b->has_cmdline) {
		flags |= MB_INFO_CMDLINE;
		put32(page + 16, (uint32_t)MB_CMDLINE_GPA);
	}
	/* mods_count may be 0, with the flag set: "no modules". */
	put32(page + 20, b->has_module ? 1 : 0);
	put32(page + 24, (uint32_t)(MB_INFO_GPA + MB_INFO_MODS_OFF));
	if (b->has_module) {
		e = page + MB_INFO_MODS_OFF;
		put32(e, b->mod_start);
		put32(e + 4, b->mod_end);
		put32(e + 8, (uint32_t)MB_MODSTR_GPA);
	}
	n = b->nmap < LOADER_E820_MAX ? b->nmap : LOADER_E820_MAX;
	for (i = 0; i < n; i++) {
		/* size (of the rest: 20), base_addr, length, type */
		e = page + MB_INFO_MMAP_OFF + i * 24;
		put32(e, 20);
		put32(e + 4, (uint32_t)b->map[i].addr);
		put32(e + 8, (uint32_t)(b->map[i].addr >> 32));
		put32(e + 12, (uint32_t)b->map[i].size);
		put32(e + 16, (uint32_t)(b->map[i].size >> 32));
		put32(e + 20, b->map[i].type);
	}
	put32(page + 44, n * 24);
	put32(page + 48, (uint32_t)(MB_INFO_GPA + MB_INFO_MMAP_OFF));
	memcpy(page + MB_INFO_NAME_OFF, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
	put32(page + 64, (uint32_t)(MB_INFO_GPA + MB_INFO_NAME_OFF));
	put32(page, flags);
}

/* A NUL-terminated string into guest RAM, at most MB_STRING_MAX bytes. */
static int
mb_put_string(struct loader_ctx *c, const struct loader_src *src,
    const char *what, uint64_t gpa, const char *s)
{
	size_t len = strlen(s) + 1;

	if (len > MB_STRING_MAX)
		return loader_err(c->err, c->errlen, src, -E2BIG,
		    "the %s is %zu bytes, at most %llu fit", what, len - 1,
		    (unsigned long long)MB_STRING_MAX - 1);
	if (loader_mem_write(&c->mem, gpa, s, len) != 0)
		return loader_err(c->err, c->errlen, src, -EFAULT,
		    "the %s at 0x%llx is not in guest RAM", what,
		    (unsigned long long)gpa);
	return 0;
}

/* The initrd as module 0, page-aligned above the kernel. */
static int
mb_module(struct loader_ctx *c, uint64_t kernel_end, struct loader_mb_boot *b)
{
	uint64_t gpa;
	int error;

	if (!c->has_initrd)
		return 0;
	error = loader_initrd_place(&c->mem, &c->initrd,
	    (kernel_end + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1), GIB4,
	    &gpa, c->err, c->errlen);
	if (error != 0)
		return error;
	error = loader_src_load(&c->mem, &c->initrd, gpa, c->err, c->errlen);
	if (error != 0)
		return error;
	b->has_module = true;
	b->mod_start = (uint32_t)gpa;
	b->mod_end = (uint32_t)(gpa + c->initrd.size);
	/* The module's string: its path, as a boot loader's "module" line. */
	return mb_put_string(c, &c->initrd, "module string", MB_MODSTR_GPA,
	    c->def->initrd);
}

/* Command line, module, memory map and the information page. */
static int
mb_boot_info(struct loader_ctx *c, uint64_t kernel_end)
{
	struct loader_e820 map[LOADER_E820_MAX];
	uint8_t page[MB_INFO_SIZE];
	struct loader_mb_boot b;
	int error;

	memset(&b, 0, sizeof(b));
	if (c->def->cmdline != NULL) {
		error = mb_put_string(c, &c->kernel, "command line",
		    MB_CMDLINE_GPA, c->def->cmdline);
		if (error != 0)
			return error;
		b.has_cmdline = true;
	}
	error = mb_module(c, kernel_end, &b);
	if (error != 0)
		return error;
	b.nmap = loader_e820(c->mem.ram, c->mem.nram, c->mptable, map);
	b.map = map;
	loader_mb_info(&b, page);
	if (loader_mem_write(&c->mem, MB_INFO_GPA, page, sizeof(page)) != 0)
		return loader_err(c->err, c->errlen, &c->kernel, -EFAULT,
		    "the Multiboot information at 0x%llx is not in guest RAM",
		    (unsigned long long)MB_INFO_GPA);
	return 0;
}

int
loader_mb_boot(struct loader_ctx *c)
{
	struct loader_image img;
	struct loader_mb mb;
	struct boot_cpu *b = &c->vm->boot;
	int error;

	error = loader_mb_find(&c->kernel, &mb, c->err, c->errlen);
	if (error == -ENOENT)
		return loader_err(c->err, c->errlen, &c->kernel, -EINVAL,
		    "no Multiboot header (magic 0x%x with a valid checksum) "
		    "in the first %d bytes", MB_HEADER_MAGIC, MB_SEARCH_LEN);
	if (error == 0)
		error = loader_mb_image(&c->kernel, &mb, &img, c->err,
		    c->errlen);
	if (error != 0)
		return error;
	loader_mem_reserve(&c->mem, BOOT_GDT, BOOT_GDT + BOOT_GDT_ENTRIES * 8,
	    "boot GDT");
	loader_mem_reserve(&c->mem, MB_INFO_GPA, BOOT_STACK_TOP,
	    "Multiboot information and boot stack");
	loader_mem_reserve(&c->mem, MB_CMDLINE_GPA,
	    MB_MODSTR_GPA + MB_STRING_MAX, "Multiboot command line and "
	    "module string");
	error = loader_image_check(&c->mem, &c->kernel, &img, c->err,
	    c->errlen);
	if (error == 0)
		error = loader_image_load(&c->mem, &c->kernel, &img, c->err,
		    c->errlen);
	if (error == 0)
		error = mb_boot_info(c, loader_image_end(&img));
	if (error != 0)
		return error;
	/* Spec 3.2: flat 32-bit segments, paging off, IF clear. */
	b->mode = VMDEF_MODE_PROTECTED;
	b->rip = img.entry;
	b->rsp = BOOT_STACK_TOP;
	b->rax = MB_BOOT_MAGIC;
	b->rbx = MB_INFO_GPA;
	return 0;
}
