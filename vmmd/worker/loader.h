/*
 * loader.h: the boot loaders' internal interface (boot.c, loader_raw.c,
 * loader_elf.c, loader_linux.c).
 *
 * Loading is split in two steps so that everything that looks at an image
 * also runs on a byte buffer, without KVM and without a struct vm (the
 * parser tests in tests/test_boot.c and the fuzz target
 * tests/fuzz_loader.c call these functions directly):
 *
 *   parse	read an image through a struct loader_src and describe it
 *		(segments, entry point, protocol header), checking every
 *		offset and size against the file;
 *   place	check that description against guest RAM and the ranges the
 *		boot protocol reserves (struct loader_mem), then copy.
 *
 * Error convention: a function that fails writes one line for the operator
 * into err, prefixed with the source's name ("kernel /x/y: ELF program
 * header 2 ends beyond the file (offset 0x2000 size 0x400)"), and returns a
 * negative errno: -EINVAL for a malformed or unplaceable image, -E2BIG for
 * a command line that does not fit, -EIO when reading fails.  Probes
 * (loader_mb_find, loader_linux_parse) return -ENOENT and leave err alone
 * when the image simply is not of their kind.  No function here prints,
 * allocates or keeps a pointer to its arguments.
 */

#ifndef LOADER_H
#define LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker.h"

/* ------------------------------------------------------------------------ */
/* Sources: an image behind a descriptor (pread only) or in a buffer. */

struct loader_src {
	const char *what;	/* message prefix: "kernel /boot/vmlinuz" */
	int fd;			/* read with pread when buf is NULL */
	const uint8_t *buf;	/* else the image itself, borrowed */
	uint64_t size;		/* bytes in the image */
};

/*
 * A source reading fd (which stays the caller's); the size comes from
 * lseek(SEEK_END), so only lseek and pread are used (both work under the
 * sandbox).  what must outlive src.  0, or -EIO with a message.
 */
int	loader_src_fd(struct loader_src *src, const char *what, int fd,
	    char *err, size_t errlen);
/* A source over buf[0, len): borrowed, must outlive src. */
void	loader_src_buf(struct loader_src *src, const char *what,
	    const void *buf, size_t len);

/*
 * Read exactly len bytes at off.  0; -EINVAL (with a message) if the range
 * is not inside the image; -EIO if the file shrank or read failed.
 */
int	loader_read(const struct loader_src *src, uint64_t off, void *buf,
	    size_t len, char *err, size_t errlen);

/* One line "<src->what>: <fmt...>" into err; returns error (negative). */
int	loader_err(char *err, size_t errlen, const struct loader_src *src,
	    int error, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------------ */
/* Guest memory as the loaders see it: RAM regions and reserved ranges. */

#define LOADER_RESV_MAX		8

struct loader_range {
	uint64_t start, end;	/* [start, end) */
	const char *name;	/* for messages; static storage */
};

struct loader_mem {
	const struct vm_ram *ram;	/* borrowed: vm->ram or a test's */
	unsigned int nram;
	struct loader_range resv[LOADER_RESV_MAX];
	unsigned int nresv;
};

void	 loader_mem_init(struct loader_mem *m, const struct vm_ram *ram,
	    unsigned int nram);
/*
 * Reserve [start, end) for the boot protocol; name is static storage.  At
 * most LOADER_RESV_MAX ranges (an invariant of the loaders: asserted).
 */
void	 loader_mem_reserve(struct loader_mem *m, uint64_t start, uint64_t end,
	    const char *name);
/*
 * Reserve what boot_setup_cpu writes or uses for a flat entry in mode:
 * the GDT and the stack page below BOOT_STACK_TOP (protected and long
 * mode) and the page tables (long mode).  Only what is used is reserved,
 * so that small images linked at 0x1000 still fit below the stack.
 */
void	 loader_mem_reserve_boot(struct loader_mem *m, enum vmdef_mode mode);
/* The end of the RAM region at GPA 0 (0 if there is none). */
uint64_t loader_mem_low_end(const struct loader_mem *m);
/* Host pointer to [gpa, gpa + len) inside one RAM region, else NULL. */
void	*loader_mem_ptr(const struct loader_mem *m, uint64_t gpa,
	    uint64_t len);
/*
 * Check that [gpa, gpa + len) lies in one RAM region and clear of every
 * reserved range; desc names the range in the message ("ELF program
 * header 2").  0 or -EINVAL.
 */
int	 loader_mem_check(const struct loader_mem *m,
	    const struct loader_src *src, const char *desc, uint64_t gpa,
	    uint64_t len, char *err, size_t errlen);
/* Copy len bytes to gpa, which loader_mem_check accepted: 0 or -EFAULT. */
int	 loader_mem_write(const struct loader_mem *m, uint64_t gpa,
	    const void *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* A loadable image: segments copied from the file, zero-filled beyond. */

#define LOADER_SEG_MAX		16

struct loader_seg {
	char name[40];		/* "ELF program header 2", "the image" */
	uint64_t off;		/* file offset of the bytes */
	uint64_t filesz;	/* bytes copied from the file */
	uint64_t gpa;		/* guest physical load address */
	uint64_t memsz;		/* >= filesz; the rest is zeroed */
};

struct loader_image {
	struct loader_seg seg[LOADER_SEG_MAX];
	unsigned int nseg;
	uint64_t entry;		/* guest physical */
	bool elf64;		/* an ELF64 file (the ELF loader enters it in
				   long mode, ELF32 in protected mode) */
};

/* The end of the highest segment (gpa + memsz). */
uint64_t loader_image_end(const struct loader_image *img);
/* Check every segment and the entry point against m: 0 or -EINVAL. */
int	 loader_image_check(const struct loader_mem *m,
	    const struct loader_src *src, const struct loader_image *img,
	    char *err, size_t errlen);
/* Copy the segments that loader_image_check accepted: 0 or -EIO. */
int	 loader_image_load(const struct loader_mem *m,
	    const struct loader_src *src, const struct loader_image *img,
	    char *err, size_t errlen);

/*
 * Place an initrd (or Multiboot module) as high as possible: page-aligned,
 * ending at or below min(ceiling, end of low RAM), starting at or above
 * floor, clear of the reserved ranges.  *gpa is the chosen address.
 * 0 or -EINVAL (empty, too large, no room).
 */
int	 loader_initrd_place(const struct loader_mem *m,
	    const struct loader_src *src, uint64_t floor, uint64_t ceiling,
	    uint64_t *gpa, char *err, size_t errlen);

/* Copy all of src to gpa (checked with loader_initrd_place): 0 or -EIO. */
int	 loader_src_load(const struct loader_mem *m,
	    const struct loader_src *src, uint64_t gpa, char *err,
	    size_t errlen);

/* ------------------------------------------------------------------------ */
/* The memory map given to the guest (Linux e820, Multiboot mmap). */

#define LOADER_E820_MAX		8
#define E820_RAM		1
#define E820_RESERVED		2
#define LOADER_BIOS_HOLE	0xA0000ULL	/* RAM ends at 640 KiB ... */
#define LOADER_HIGH_MEM		0x100000ULL	/* ... and resumes at 1 MiB */

struct loader_e820 {
	uint64_t addr, size;
	uint32_t type;
};

/*
 * The map of ram[0, nram): every region as RAM except [640 KiB, 1 MiB),
 * plus [BOOT_MPTABLE, 1 MiB) reserved when mptable.  Sorted by address.
 * Returns the number of entries (at most LOADER_E820_MAX).
 */
unsigned int loader_e820(const struct vm_ram *ram, unsigned int nram,
	    bool mptable, struct loader_e820 *map);

/* ------------------------------------------------------------------------ */
/* One boot_load call, as boot.c hands it to a format's loader. */

struct loader_ctx {
	struct vm *vm;
	const struct vmdef *def;
	struct loader_src kernel;
	struct loader_src initrd;	/* valid if has_initrd */
	bool has_initrd;
	struct loader_mem mem;		/* the MP table already reserved */
	bool mptable;			/* boot.c writes one afterwards */
	char *err;
	size_t errlen;
	char kernel_what[VMDEF_PATH_MAX + 16];	/* "kernel <path>" */
	char initrd_what[VMDEF_PATH_MAX + 16];
};

/*
 * Each loader reserves what its protocol uses in c->mem, checks, copies
 * the image (and initrd, command line, boot information) into guest RAM
 * and fills c->vm->boot.  0 or a negative errno with c->err set.
 */
int	loader_raw_boot(struct loader_ctx *c);
int	loader_elf_boot(struct loader_ctx *c);
int	loader_mb_boot(struct loader_ctx *c);
int	loader_linux_boot(struct loader_ctx *c);

/* An initrd is refused by the loaders whose protocol has none. */
int	loader_no_initrd(const struct loader_ctx *c, const char *loader);

/* ------------------------------------------------------------------------ */
/* loader_raw.c: a flat image at a load address. */

/*
 * A raw image of src->size bytes at load, entered at entry in mode.  Real
 * mode needs entry below 1 MiB; protected mode needs the image and entry
 * below 4 GiB.
 */
int	loader_raw_parse(const struct loader_src *src, uint64_t load,
	    uint64_t entry, enum vmdef_mode mode, struct loader_image *img,
	    char *err, size_t errlen);

/*
 * Real-mode CS:IP for a linear entry point below 1 MiB: CS is the 64 KiB
 * aligned segment holding it (entry >> 4 & 0xF000) and IP the offset in
 * it, so code linked at its flat address (a boot sector at 0x7C00, a test
 * guest at 0x1000) runs with CS = 0 and its own offsets.
 */
void	loader_real_cs_ip(uint64_t entry, uint16_t *cs, uint16_t *ip);

/* ------------------------------------------------------------------------ */
/* loader_elf.c: ELF32/ELF64 program headers and the Multiboot 1 header. */

#define LOADER_ELF_PHNUM_MAX	64

/* True if the image starts with the ELF magic. */
bool	loader_elf_probe(const struct loader_src *src);

/*
 * The PT_LOAD segments of an ELF32 (EM_386) or ELF64 (EM_X86_64)
 * executable, at their physical addresses (p_paddr); the entry point is
 * e_entry translated from the virtual to the physical address of the
 * segment that contains it.  below_4g: every segment must end at or below
 * 4 GiB (a 32-bit entry).
 */
int	loader_elf_parse(const struct loader_src *src, bool below_4g,
	    struct loader_image *img, char *err, size_t errlen);

/* Multiboot 1 (the Multiboot Specification 0.6.96). */
#define MB_HEADER_MAGIC		0x1BADB002U
#define MB_BOOT_MAGIC		0x2BADB002U	/* EAX at entry */
#define MB_SEARCH_LEN		8192		/* header within these bytes */
#define MB_HDR_PAGE_ALIGN	0x00000001U	/* modules page-aligned */
#define MB_HDR_MEMORY_INFO	0x00000002U	/* mem_* and mmap_* wanted */
#define MB_HDR_VIDEO_MODE	0x00000004U	/* video table wanted */
#define MB_HDR_AOUT_KLUDGE	0x00010000U	/* address fields valid */
#define MB_HDR_REQUIRED		0x0000FFFFU	/* bits a loader must know */
#define MB_HDR_SUPPORTED	(MB_HDR_PAGE_ALIGN | MB_HDR_MEMORY_INFO)

#define MB_INFO_MEMORY		0x00000001U
#define MB_INFO_CMDLINE		0x00000004U
#define MB_INFO_MODS		0x00000008U
#define MB_INFO_MEM_MAP		0x00000040U
#define MB_INFO_LOADER_NAME	0x00000200U

/*
 * Where the Multiboot boot data goes.  The information structure, module
 * list, memory map and loader name share one page; the command line and
 * the module string have a page each.  ESP starts at BOOT_STACK_TOP, just
 * above the information page.
 */
#define MB_INFO_GPA		0x6000ULL
#define MB_INFO_SIZE		0x1000ULL
#define MB_INFO_MODS_OFF	0x080		/* one module: 16 bytes */
#define MB_INFO_MMAP_OFF	0x100		/* LOADER_E820_MAX * 24 bytes */
#define MB_INFO_NAME_OFF	0x200
#define MB_CMDLINE_GPA		BOOT_CMDLINE
#define MB_MODSTR_GPA		(BOOT_CMDLINE + 0x1000)
#define MB_STRING_MAX		0x1000		/* each string, with its NUL */
#define MB_LOADER_NAME		"vmm-worker"

struct loader_mb {
	uint64_t off;		/* file offset of the header */
	uint32_t flags;
	/* The a.out kludge fields (valid with MB_HDR_AOUT_KLUDGE). */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr;
	uint32_t entry_addr;
};

/*
 * Find the Multiboot header: 32-bit aligned in the first MB_SEARCH_LEN
 * bytes, magic and checksum right (a candidate with a bad checksum is
 * skipped, as GRUB does).  0; -ENOENT without a message if there is none;
 * -EINVAL if the header asks for what this loader cannot give (required
 * flag bits other than page alignment and memory information) or is cut
 * short by the end of the file.
 */
int	loader_mb_find(const struct loader_src *src, struct loader_mb *mb,
	    char *err, size_t errlen);

/*
 * The image a Multiboot header describes: with the a.out kludge, one
 * segment from the header's address fields (spec 3.1.3); otherwise the
 * ELF32/ELF64 program headers, below 4 GiB.
 */
int	loader_mb_image(const struct loader_src *src,
	    const struct loader_mb *mb, struct loader_image *img, char *err,
	    size_t errlen);

/* What the Multiboot information structure describes. */
struct loader_mb_boot {
	bool has_cmdline;		/* cmdline at MB_CMDLINE_GPA */
	bool has_module;		/* the initrd as module 0 */
	uint32_t mod_start, mod_end;	/* [start, end) */
	const struct loader_e820 *map;
	unsigned int nmap;
};

/*
 * Build the information page (MB_INFO_SIZE bytes, to be copied to
 * MB_INFO_GPA): info structure with flags, mem_lower/mem_upper from the
 * map, cmdline, mods, mmap and the boot loader name, pointing at each
 * other by their guest addresses.
 */
void	loader_mb_info(const struct loader_mb_boot *b, uint8_t *page);

/* ------------------------------------------------------------------------ */
/* loader_linux.c: the bzImage boot protocol 2.x with the 64-bit entry. */

/* Offsets in the file and the zero page (Documentation/x86/boot.rst). */
#define LINUX_HDR_START		0x1F1		/* struct setup_header */
#define LINUX_HDR_LIMIT		0x290		/* copied no further */
#define LINUX_ZP_EXT_RAMDISK_IMAGE 0x0C0
#define LINUX_ZP_EXT_RAMDISK_SIZE 0x0C4
#define LINUX_ZP_EXT_CMD_LINE_PTR 0x0C8
#define LINUX_ZP_E820_ENTRIES	0x1E8
#define LINUX_ZP_E820_TABLE	0x2D0
#define LINUX_ZP_E820_MAX	128
#define LINUX_ZP_SIZE		0x1000
#define LINUX_SETUP_SECTS	0x1F1
#define LINUX_SYSSIZE		0x1F4
#define LINUX_BOOT_FLAG		0x1FE
#define LINUX_JUMP		0x200
#define LINUX_HEADER		0x202
#define LINUX_VERSION		0x206
#define LINUX_TYPE_OF_LOADER	0x210
#define LINUX_LOADFLAGS		0x211
#define LINUX_CODE32_START	0x214
#define LINUX_RAMDISK_IMAGE	0x218
#define LINUX_RAMDISK_SIZE	0x21C
#define LINUX_CMD_LINE_PTR	0x228
#define LINUX_INITRD_ADDR_MAX	0x22C
#define LINUX_KERNEL_ALIGNMENT	0x230
#define LINUX_RELOCATABLE	0x234
#define LINUX_XLOADFLAGS	0x236
#define LINUX_CMDLINE_SIZE	0x238
#define LINUX_PREF_ADDRESS	0x258
#define LINUX_INIT_SIZE		0x260

#define LINUX_HDRS_MAGIC	0x53726448U	/* "HdrS" */
#define LINUX_BOOT_FLAG_MAGIC	0xAA55
#define LINUX_LOADED_HIGH	0x01
#define LINUX_XLF_KERNEL_64	0x0001
#define LINUX_MIN_VERSION	0x0206		/* cmdline_size */
#define LINUX_XLF_VERSION	0x020C		/* xloadflags */
#define LINUX_PREF_VERSION	0x020A		/* pref_address, init_size */
#define LINUX_ENTRY64_OFF	0x200		/* 64-bit entry after the
						   protected-mode start */
#define LINUX_DEFAULT_LOAD	0x100000ULL
#define LINUX_CMDLINE_AREA	0x1000ULL	/* at BOOT_CMDLINE */

struct loader_linux {
	uint8_t hdr[LINUX_HDR_LIMIT - LINUX_HDR_START];	/* setup header */
	size_t hdr_len;			/* bytes of it the kernel defines */
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint64_t kernel_off;		/* protected-mode part in the file */
	uint64_t kernel_size;
	uint64_t pref_address;		/* 0 before 2.10 */
	uint32_t init_size;		/* 0 before 2.10 */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
};

/*
 * Probe and check a bzImage: -ENOENT (no message) without "HdrS" at 0x202;
 * -EINVAL for a kernel this loader cannot boot (protocol older than 2.06,
 * not LOADED_HIGH, no XLF_KERNEL_64, sizes beyond the file).
 */
int	loader_linux_parse(const struct loader_src *src,
	    struct loader_linux *lx, char *err, size_t errlen);

/*
 * Where the protected-mode kernel goes: pref_address when the kernel has
 * one and [pref_address, + max(file part, init_size)) fits in m, else
 * 1 MiB, checked.  *floor is where an initrd may start (above everything
 * the kernel uses while it decompresses).  0 or -EINVAL.
 */
int	loader_linux_place(const struct loader_linux *lx,
	    const struct loader_mem *m, const struct loader_src *src,
	    uint64_t *load, uint64_t *floor, char *err, size_t errlen);

/*
 * The kernel command line: cmdline (NULL is empty) followed by
 * " virtio_mmio.device=512@0x<base>:<irq>" for each of the n windows, into
 * buf.  Returns its length without the NUL, or -E2BIG if it does not fit
 * in size bytes or is longer than max.
 */
int	loader_linux_cmdline(const char *cmdline, const uint64_t *base,
	    const unsigned int *irq, unsigned int n, uint32_t max, char *buf,
	    size_t size);

/* What the zero page describes besides the setup header. */
struct loader_linux_boot {
	uint64_t load;			/* protected-mode kernel */
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa, initrd_size;	/* size 0: none */
	const struct loader_e820 *map;
	unsigned int nmap;
};

/*
 * Build boot_params (LINUX_ZP_SIZE bytes): zeroed, the kernel's setup
 * header copied in, type_of_loader 0xff, code32_start = load, the command
 * line and initrd pointers (with their ext_ high halves) and the e820 map.
 */
void	loader_linux_zero_page(const struct loader_linux *lx,
	    const struct loader_linux_boot *b, uint8_t *zp);

/* ------------------------------------------------------------------------ */
/* boot.c: CPU state, descriptor tables, page tables and the MP table. */

#define BOOT_GDT_ENTRIES	4
#define BOOT_PT_SIZE		(BOOT_PT_END - BOOT_PT)

/* Intel MultiProcessor Specification 1.4. */
#define MPTABLE_LAPIC_ADDR	0xFEE00000U
#define MPTABLE_IOAPIC_ADDR	0xFEC00000U
#define MPTABLE_IOAPIC_PINS	24
#define MPTABLE_SIZE_MAX	0x1000

/* The GDT at BOOT_GDT: null, code32 (0x08), code64 (0x10), data (0x18). */
void	boot_gdt(uint64_t gdt[BOOT_GDT_ENTRIES]);

/* Identity map of [0, 4 GiB) with 2 MiB pages, as laid out at BOOT_PT. */
void	boot_page_tables(uint8_t pt[BOOT_PT_SIZE]);

/*
 * Fill st with the register state of b (segments, GPRs, control, debug
 * and model-specific registers, interrupt state, a just-initialised FPU).
 * msrs[TSC] and fpu.fx_mxcsr_mask are left as they are.
 */
void	boot_cpu_state(const struct boot_cpu *b, struct nvmm_x64_state *st);

/*
 * The MP floating pointer at gpa followed by the configuration table:
 * ncpus processors (APIC id = index, the BSP is 0), an ISA bus, one IOAPIC
 * (id ncpus), I/O interrupt entries for ISA IRQs 0-15 and each of gsi[0,
 * ngsi), ExtINT on LINT0 and NMI on LINT1.  Returns the length written, or
 * -ENOSPC if buf is too small, -EINVAL for a GSI beyond the IOAPIC.
 */
int	boot_mptable(uint8_t *buf, size_t len, uint64_t gpa, unsigned int ncpus,
	    const unsigned int *gsi, unsigned int ngsi);

#endif /* LOADER_H */
