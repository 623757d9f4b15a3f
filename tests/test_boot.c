/*
 * test_boot.c: the boot loaders (vmmd/worker/boot.c, loader_*.c).
 *
 * Three layers: the parsers and builders on crafted buffers (every
 * malformation with its exact message), boot_load on a VM without KVM
 * (RAM in a malloc'd buffer, images in real files), and the real
 * vmm-worker booting real guests on KVM: raw images in real, protected and
 * long mode, the Multiboot kernel tests/guests/mb_hello.S and a fake
 * bzImage whose 64-bit entry prints what its zero page says.
 */

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader.h"
#include "vmtest.h"
#include "worker.h"
#include "workertest.h"

#define MIB			(1024ULL * 1024)
#define GIB4			0x100000000ULL
#define T_WHAT			"kernel t"
#define T_TIMEOUT_MS		20000

static char err[1024];

/* ------------------------------------------------------------------------ */
/* Little-endian helpers and patches. */

static void
t_put(uint8_t *p, int width, uint64_t v)
{
	int i;

	for (i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
t_get(const uint8_t *p, int width)
{
	uint64_t v = 0;
	int i;

	for (i = width - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* One change to a valid image: width bytes at off (width 0: none). */
struct t_patch {
	size_t off;
	int width;
	uint64_t val;
};

#define T_PATCHES		2

static void
t_apply(uint8_t *buf, const struct t_patch *p)
{
	int i;

	for (i = 0; i < T_PATCHES; i++)
		if (p[i].width != 0)
			t_put(buf + p[i].off, p[i].width, p[i].val);
}

static void
t_src(struct loader_src *src, const uint8_t *buf, size_t len)
{
	loader_src_buf(src, T_WHAT, buf, len);
	err[0] = '\0';
}

/* ------------------------------------------------------------------------ */
/* ELF images. */

struct t_ph {
	uint32_t type;
	uint64_t off, vaddr, paddr, filesz, memsz;
};

#define T_ELF_CAP		0x4000
#define T_EH64			64
#define T_PH64			56
#define T_PH64_OFF(i, f)	(T_EH64 + (i) * T_PH64 + (f))

/*
 * An ELF executable: the file header, the program headers right after it
 * and a byte pattern in each segment's file range.  Returns the length.
 */
static size_t
t_elf(uint8_t *buf, bool is64, unsigned int machine, uint64_t entry,
    const struct t_ph *ph, unsigned int n)
{
	size_t eh = is64 ? T_EH64 : 52, phs = is64 ? T_PH64 : 32, len, k;
	uint8_t *p;
	unsigned int i;

	memset(buf, 0, T_ELF_CAP);
	memcpy(buf, ELFMAG, SELFMAG);
	buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	buf[EI_DATA] = ELFDATA2LSB;
	buf[EI_VERSION] = EV_CURRENT;
	t_put(buf + 16, 2, ET_EXEC);
	t_put(buf + 18, 2, machine);
	t_put(buf + 20, 4, EV_CURRENT);
	if (is64) {
		t_put(buf + 24, 8, entry);
		t_put(buf + 32, 8, eh);
		t_put(buf + 52, 2, eh);
		t_put(buf + 54, 2, phs);
		t_put(buf + 56, 2, n);
	} else {
		t_put(buf + 24, 4, entry);
		t_put(buf + 28, 4, eh);
		t_put(buf + 40, 2, eh);
		t_put(buf + 42, 2, phs);
		t_put(buf + 44, 2, n);
	}
	len = eh + n * phs;
	for (i = 0; i < n; i++) {
		p = buf + eh + i * phs;
		t_put(p, 4, ph[i].type);
		if (is64) {
			t_put(p + 8, 8, ph[i].off);
			t_put(p + 16, 8, ph[i].vaddr);
			t_put(p + 24, 8, ph[i].paddr);
			t_put(p + 32, 8, ph[i].filesz);
			t_put(p + 40, 8, ph[i].memsz);
		} else {
			t_put(p + 4, 4, ph[i].off);
			t_put(p + 8, 4, ph[i].vaddr);
			t_put(p + 12, 4, ph[i].paddr);
			t_put(p + 16, 4, ph[i].filesz);
			t_put(p + 20, 4, ph[i].memsz);
		}
		for (k = ph[i].off; k < ph[i].off + ph[i].filesz &&
		    k < T_ELF_CAP; k++)
			buf[k] = (uint8_t)(k * 7 + 1);
		if (ph[i].off + ph[i].filesz > len)
			len = ph[i].off + ph[i].filesz;
	}
	return len;
}

/*
 * The valid ELF64 image the cases patch: two PT_LOADs around a PT_NOTE,
 * linked high (vaddr) and loaded low (paddr); 0x1280 bytes.
 */
static const struct t_ph t_elf64_ph[] = {
	{ PT_LOAD, 0x1000, 0xffffffff80100000ULL, 0x100000, 0x100, 0x2000 },
	{ PT_NOTE, 0x1100, 0, 0, 0x20, 0x20 },
	{ PT_LOAD, 0x1200, 0xffffffff80200000ULL, 0x200000, 0x80, 0x80 },
};
#define T_ELF64_ENTRY		0xffffffff80100010ULL

static size_t
t_elf64(uint8_t *buf)
{
	return t_elf(buf, true, EM_X86_64, T_ELF64_ENTRY, t_elf64_ph, 3);
}

static const struct t_ph t_elf32_ph[] = {
	{ PT_LOAD, 0x100, 0xc0100000, 0x100000, 0x40, 0x1000 },
};

static size_t
t_elf32(uint8_t *buf)
{
	return t_elf(buf, false, EM_386, 0xc0100004, t_elf32_ph, 1);
}

static void
t_seg_equal(const struct loader_seg *s, const char *name, uint64_t off,
    uint64_t filesz, uint64_t gpa, uint64_t memsz)
{
	assert_string_equal(s->name, name);
	assert_int_equal(s->off, off);
	assert_int_equal(s->filesz, filesz);
	assert_int_equal(s->gpa, gpa);
	assert_int_equal(s->memsz, memsz);
}

static void
test_elf64_valid(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	struct loader_image img;
	struct loader_src src;
	size_t len;

	len = t_elf64(buf);
	assert_int_equal(len, 0x1280);
	t_src(&src, buf, len);
	assert_true(loader_elf_probe(&src));
	assert_int_equal(loader_elf_parse(&src, false, &img, err, sizeof(err)),
	    0);
	assert_string_equal(err, "");
	assert_true(img.elf64);
	assert_int_equal(img.nseg, 2);
	t_seg_equal(&img.seg[0], "ELF program header 0", 0x1000, 0x100,
	    0x100000, 0x2000);
	t_seg_equal(&img.seg[1], "ELF program header 2", 0x1200, 0x80,
	    0x200000, 0x80);
	/* e_entry is virtual; the entry point is its physical address. */
	assert_int_equal(img.entry, 0x100010);
	assert_int_equal(loader_image_end(&img), 0x200080);
	/* Also valid with the 4 GiB limit of a 32-bit entry. */
	assert_int_equal(loader_elf_parse(&src, true, &img, err, sizeof(err)),
	    0);
}

static void
test_elf32_valid(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	struct loader_image img;
	struct loader_src src;
	size_t len;

	len = t_elf32(buf);
	t_src(&src, buf, len);
	assert_int_equal(loader_elf_parse(&src, false, &img, err, sizeof(err)),
	    0);
	assert_false(img.elf64);
	assert_int_equal(img.nseg, 1);
	t_seg_equal(&img.seg[0], "ELF program header 0", 0x100, 0x40,
	    0x100000, 0x1000);
	assert_int_equal(img.entry, 0x100004);

	/* An ELF32 file must be i386. */
	t_put(buf + 18, 2, EM_X86_64);
	assert_int_equal(loader_elf_parse(&src, false, &img, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, T_WHAT ": ELF machine 62 is not i386 "
	    "(EM_386)");
}

/* An empty PT_LOAD (memsz 0) is skipped, not loaded. */
static void
test_elf_empty_segment(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	struct loader_image img;
	struct loader_src src;
	size_t len;

	len = t_elf64(buf);
	t_put(buf + T_PH64_OFF(2, 32), 8, 0);
	t_put(buf + T_PH64_OFF(2, 40), 8, 0);
	t_src(&src, buf, len);
	assert_int_equal(loader_elf_parse(&src, false, &img, err, sizeof(err)),
	    0);
	assert_int_equal(img.nseg, 1);
}

struct t_elf_case {
	const char *name;
	struct t_patch patch[T_PATCHES];
	size_t len;		/* 0: the image's own */
	bool below_4g;
	const char *msg;
};

static const struct t_elf_case t_elf_cases[] = {
	{ "magic", { { 0, 1, 0x7e } }, 0, false,
	    T_WHAT ": not an ELF file (no \\177ELF magic)" },
	{ "class", { { EI_CLASS, 1, 3 } }, 0, false,
	    T_WHAT ": ELF class 3 is neither ELF32 nor ELF64" },
	{ "byte order", { { EI_DATA, 1, ELFDATA2MSB } }, 0, false,
	    T_WHAT ": ELF data encoding 2 is not little-endian" },
	{ "version", { { EI_VERSION, 1, 0 } }, 0, false,
	    T_WHAT ": ELF version 0 is not 1" },
	{ "type", { { 16, 2, ET_DYN } }, 0, false,
	    T_WHAT ": ELF type 3 is not an executable (ET_EXEC)" },
	{ "machine", { { 18, 2, EM_386 } }, 0, false,
	    T_WHAT ": ELF machine 3 is not x86-64 (EM_X86_64)" },
	{ "phentsize", { { 54, 2, 32 } }, 0, false,
	    T_WHAT ": ELF program header size 32, expected 56" },
	{ "phnum 0", { { 56, 2, 0 } }, 0, false,
	    T_WHAT ": ELF file has no program headers" },
	{ "phnum 65", { { 56, 2, 65 } }, 0, false,
	    T_WHAT ": ELF file has 65 program headers, at most 64 are "
	    "supported" },
	{ "phoff", { { 32, 8, 0x1250 } }, 0, false,
	    T_WHAT ": ELF program header table ends beyond the file "
	    "(offset 0x1250, 3 entries)" },
	{ "phoff huge", { { 32, 8, ~0ULL } }, 0, false,
	    T_WHAT ": ELF program header table ends beyond the file "
	    "(offset 0xffffffffffffffff, 3 entries)" },
	{ "segment beyond", { { T_PH64_OFF(2, 8), 8, 0x1250 } }, 0, false,
	    T_WHAT ": ELF program header 2 ends beyond the file "
	    "(offset 0x1250 size 0x80)" },
	{ "segment offset huge", { { T_PH64_OFF(2, 8), 8, ~0ULL - 0x10 } },
	    0, false,
	    T_WHAT ": ELF program header 2 ends beyond the file "
	    "(offset 0xffffffffffffffef size 0x80)" },
	{ "segment size huge", { { T_PH64_OFF(2, 32), 8, ~0ULL } }, 0, false,
	    T_WHAT ": ELF program header 2 ends beyond the file "
	    "(offset 0x1200 size 0xffffffffffffffff)" },
	{ "filesz > memsz", { { T_PH64_OFF(2, 40), 8, 0x40 } }, 0, false,
	    T_WHAT ": ELF program header 2 has a file size 0x80 larger than "
	    "its memory size 0x40" },
	{ "paddr wraps", { { T_PH64_OFF(0, 24), 8, 0xfffffffffffff000ULL } },
	    0, false,
	    T_WHAT ": ELF program header 0 wraps around the address space "
	    "(address 0xfffffffffffff000 size 0x2000)" },
	{ "vaddr wraps", { { T_PH64_OFF(0, 16), 8, 0xfffffffffffff000ULL } },
	    0, false,
	    T_WHAT ": ELF program header 0 wraps around the address space "
	    "(address 0x100000 size 0x2000)" },
	{ "above 4 GiB", { { T_PH64_OFF(2, 24), 8, 0xffffffc0 } }, 0, true,
	    T_WHAT ": ELF program header 2 lies above 4 GiB (address "
	    "0xffffffc0 size 0x80)" },
	{ "entry", { { 24, 8, 0x5000 } }, 0, false,
	    T_WHAT ": ELF entry point 0x5000 is in no loadable segment" },
	{ "entry at the end", { { 24, 8, 0xffffffff80102000ULL } }, 0, false,
	    T_WHAT ": ELF entry point 0xffffffff80102000 is in no loadable "
	    "segment" },
	{ "no PT_LOAD", { { T_PH64_OFF(0, 0), 4, PT_NOTE },
	    { T_PH64_OFF(2, 0), 4, PT_NOTE } }, 0, false,
	    T_WHAT ": ELF file has no loadable segment" },
	{ "truncated header", { { 0 } }, 0x30, false,
	    T_WHAT ": the file (0x30 bytes) is shorter than the ELF header" },
	{ "truncated ident", { { 0 } }, 8, false,
	    T_WHAT ": not an ELF file (0x8 bytes)" },
	{ "segment cut by the end", { { 0 } }, 0x1240, false,
	    T_WHAT ": ELF program header 2 ends beyond the file "
	    "(offset 0x1200 size 0x80)" },
};

static void
test_elf_malformed(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	const struct t_elf_case *c;
	struct loader_image img;
	struct loader_src src;
	size_t i, len;
	int error;

	for (i = 0; i < sizeof(t_elf_cases) / sizeof(t_elf_cases[0]); i++) {
		c = &t_elf_cases[i];
		len = t_elf64(buf);
		t_apply(buf, c->patch);
		t_src(&src, buf, c->len != 0 ? c->len : len);
		error = loader_elf_parse(&src, c->below_4g, &img, err,
		    sizeof(err));
		if (error != -EINVAL || strcmp(err, c->msg) != 0)
			fail_msg("case \"%s\": %d \"%s\", expected \"%s\"",
			    c->name, error, err, c->msg);
	}
}

static void
test_elf_too_many_segments(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	struct t_ph ph[LOADER_SEG_MAX + 1];
	struct loader_image img;
	struct loader_src src;
	unsigned int i;
	size_t len;

	for (i = 0; i <= LOADER_SEG_MAX; i++) {
		ph[i].type = PT_LOAD;
		ph[i].off = 0x1000;
		ph[i].vaddr = ph[i].paddr = 0x100000 + i * 0x1000;
		ph[i].filesz = ph[i].memsz = 0x10;
	}
	len = t_elf(buf, true, EM_X86_64, 0x100000, ph, LOADER_SEG_MAX);
	t_src(&src, buf, len);
	assert_int_equal(loader_elf_parse(&src, false, &img, err, sizeof(err)),
	    0);
	assert_int_equal(img.nseg, LOADER_SEG_MAX);
	len = t_elf(buf, true, EM_X86_64, 0x100000, ph, LOADER_SEG_MAX + 1);
	t_src(&src, buf, len);
	assert_int_equal(loader_elf_parse(&src, false, &img, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, T_WHAT ": ELF file has more than 16 loadable "
	    "segments");
}

/* ------------------------------------------------------------------------ */
/* Multiboot. */

#define T_MB_LEN		0x300
#define T_MB_OFF		0x20

/* Header fields after magic, flags, checksum: the a.out kludge. */
struct t_mb {
	uint32_t flags;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry;
};

static const struct t_mb t_mb_base = {
	MB_HDR_AOUT_KLUDGE | MB_HDR_PAGE_ALIGN | MB_HDR_MEMORY_INFO,
	0x100020, 0x100000, 0x100200, 0x101000, 0x100040
};

static void
t_mb_header(uint8_t *buf, size_t off, const struct t_mb *h)
{
	t_put(buf + off, 4, MB_HEADER_MAGIC);
	t_put(buf + off + 4, 4, h->flags);
	t_put(buf + off + 8, 4, (uint32_t)-(MB_HEADER_MAGIC + h->flags));
	t_put(buf + off + 12, 4, h->header_addr);
	t_put(buf + off + 16, 4, h->load_addr);
	t_put(buf + off + 20, 4, h->load_end_addr);
	t_put(buf + off + 24, 4, h->bss_end_addr);
	t_put(buf + off + 28, 4, h->entry);
}

/* A T_MB_LEN-byte kernel with the header at T_MB_OFF. */
static size_t
t_mb_image(uint8_t *buf, const struct t_mb *h)
{
	size_t i;

	for (i = 0; i < T_MB_LEN; i++)
		buf[i] = (uint8_t)(i * 3);
	t_mb_header(buf, T_MB_OFF, h);
	return T_MB_LEN;
}

static void
test_mb_kludge_valid(void **state)
{
	uint8_t buf[T_MB_LEN];
	struct loader_image img;
	struct loader_src src;
	struct loader_mb mb;
	struct t_mb h = t_mb_base;

	t_src(&src, buf, t_mb_image(buf, &h));
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)), 0);
	assert_int_equal(mb.off, T_MB_OFF);
	assert_int_equal(mb.flags, 0x10003);
	assert_int_equal(mb.header_addr, 0x100020);
	assert_int_equal(mb.entry_addr, 0x100040);
	assert_int_equal(loader_mb_image(&src, &mb, &img, err, sizeof(err)),
	    0);
	assert_int_equal(img.nseg, 1);
	t_seg_equal(&img.seg[0], "the Multiboot image", 0, 0x200, 0x100000,
	    0x1000);
	assert_int_equal(img.entry, 0x100040);

	/* load_end_addr 0: to the end of the file; bss_end_addr 0: none. */
	h.load_end_addr = 0;
	h.bss_end_addr = 0;
	t_src(&src, buf, t_mb_image(buf, &h));
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)), 0);
	assert_int_equal(loader_mb_image(&src, &mb, &img, err, sizeof(err)),
	    0);
	t_seg_equal(&img.seg[0], "the Multiboot image", 0, T_MB_LEN, 0x100000,
	    T_MB_LEN);

	/* The text starting inside the file: header 0x20 bytes into it. */
	h = t_mb_base;
	h.load_addr = 0x100010;
	t_src(&src, buf, t_mb_image(buf, &h));
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)), 0);
	assert_int_equal(loader_mb_image(&src, &mb, &img, err, sizeof(err)),
	    0);
	t_seg_equal(&img.seg[0], "the Multiboot image", 0x10, 0x1f0,
	    0x100010, 0xff0);
}

/* What GRUB would not take as a header is no header (-ENOENT, no text). */
static void
test_mb_not_found(void **state)
{
	uint8_t buf[MB_SEARCH_LEN + 0x400];
	struct loader_src src;
	struct loader_mb mb;
	struct t_mb h = t_mb_base;

	t_mb_image(buf, &h);
	buf[T_MB_OFF + 8] ^= 1;				/* checksum */
	t_src(&src, buf, T_MB_LEN);
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)),
	    -ENOENT);
	assert_string_equal(err, "");

	memset(buf, 0, sizeof(buf));
	t_mb_header(buf, 0x22, &h);			/* unaligned */
	t_src(&src, buf, T_MB_LEN);
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)),
	    -ENOENT);

	memset(buf, 0, sizeof(buf));
	t_mb_header(buf, MB_SEARCH_LEN, &h);		/* beyond 8 KiB */
	t_src(&src, buf, sizeof(buf));
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)),
	    -ENOENT);

	t_src(&src, buf, 11);				/* shorter than one */
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)),
	    -ENOENT);
	assert_string_equal(err, "");
}

struct t_mb_case {
	const char *name;
	struct t_mb h;
	bool at_find;		/* loader_mb_find fails, else loader_mb_image */
	const char *msg;
};

#define T_MB(f, ha, la, le, be, en)	{ (f), (ha), (la), (le), (be), (en) }
#define T_MB_K				0x10003

static const struct t_mb_case t_mb_cases[] = {
	{ "video", T_MB(0x10007, 0x100020, 0x100000, 0x100200, 0x101000,
	    0x100040), true,
	    T_WHAT ": Multiboot header at offset 0x20 requires what this "
	    "loader cannot give (flags 0x10007: video mode information)" },
	{ "unknown bit", T_MB(0x10013, 0x100020, 0x100000, 0x100200, 0x101000,
	    0x100040), true,
	    T_WHAT ": Multiboot header at offset 0x20 requires what this "
	    "loader cannot give (flags 0x10013: unknown required bits)" },
	{ "load_addr above header_addr", T_MB(T_MB_K, 0x100020, 0x100030,
	    0x100200, 0x101000, 0x100040), false,
	    T_WHAT ": Multiboot load_addr 0x100030 puts the start of the "
	    "image outside the file (header_addr 0x100020, header at offset "
	    "0x20)" },
	{ "image before the file", T_MB(T_MB_K, 0x100020, 0xfff00, 0x100200,
	    0x101000, 0x100040), false,
	    T_WHAT ": Multiboot load_addr 0xfff00 puts the start of the image "
	    "outside the file (header_addr 0x100020, header at offset 0x20)" },
	{ "load_end beyond the file", T_MB(T_MB_K, 0x100020, 0x100000,
	    0x100400, 0x101000, 0x100040), false,
	    T_WHAT ": Multiboot load range [0x100000, 0x100400) does not fit "
	    "the file (offset 0x0, 0x300 bytes)" },
	{ "empty load range", T_MB(T_MB_K, 0x100020, 0x100000, 0x100000,
	    0x101000, 0x100040), false,
	    T_WHAT ": Multiboot load range [0x100000, 0x100000) does not fit "
	    "the file (offset 0x0, 0x300 bytes)" },
	{ "bss below load_end", T_MB(T_MB_K, 0x100020, 0x100000, 0x100200,
	    0x100100, 0x100040), false,
	    T_WHAT ": Multiboot bss_end_addr 0x100100 is below load_end_addr "
	    "0x100200" },
	{ "entry after the image", T_MB(T_MB_K, 0x100020, 0x100000, 0x100200,
	    0x101000, 0x101000), false,
	    T_WHAT ": Multiboot entry_addr 0x101000 is outside the image "
	    "[0x100000, 0x101000)" },
	{ "entry before the image", T_MB(T_MB_K, 0x100020, 0x100000,
	    0x100200, 0x101000, 0xfffff), false,
	    T_WHAT ": Multiboot entry_addr 0xfffff is outside the image "
	    "[0x100000, 0x101000)" },
	{ "above 4 GiB", T_MB(T_MB_K, 0xffffff20, 0xffffff00, 0, 0,
	    0xffffff40), false,
	    T_WHAT ": Multiboot load range [0xffffff00, 0x100000200) ends "
	    "above 4 GiB" },
	{ "no address fields, no ELF", T_MB(0x3, 0, 0, 0, 0, 0), false,
	    T_WHAT ": Multiboot header without address fields (flag 16) in a "
	    "file that is not ELF" },
};

static void
test_mb_malformed(void **state)
{
	uint8_t buf[T_MB_LEN];
	const struct t_mb_case *c;
	struct loader_image img;
	struct loader_src src;
	struct loader_mb mb;
	size_t i;
	int error;

	for (i = 0; i < sizeof(t_mb_cases) / sizeof(t_mb_cases[0]); i++) {
		c = &t_mb_cases[i];
		t_src(&src, buf, t_mb_image(buf, &c->h));
		error = loader_mb_find(&src, &mb, err, sizeof(err));
		if (!c->at_find) {
			if (error != 0)
				fail_msg("case \"%s\": find: %s", c->name,
				    err);
			error = loader_mb_image(&src, &mb, &img, err,
			    sizeof(err));
		}
		if (error != -EINVAL || strcmp(err, c->msg) != 0)
			fail_msg("case \"%s\": %d \"%s\", expected \"%s\"",
			    c->name, error, err, c->msg);
	}
}

/* The last aligned place for a header: its kludge fields do not fit. */
static void
test_mb_header_at_the_window_end(void **state)
{
	static uint8_t buf[MB_SEARCH_LEN + 0x100];
	struct loader_src src;
	struct loader_mb mb;
	struct t_mb h = t_mb_base;

	memset(buf, 0, sizeof(buf));
	t_mb_header(buf, MB_SEARCH_LEN - 12, &h);
	t_src(&src, buf, sizeof(buf));
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, T_WHAT ": Multiboot header at offset 0x1ff4: "
	    "its address fields end beyond the first 0x2000 bytes of the "
	    "file");
	/* Without the kludge flag the same header is fine. */
	h.flags = MB_HDR_MEMORY_INFO;
	memset(buf, 0, sizeof(buf));
	t_mb_header(buf, MB_SEARCH_LEN - 12, &h);
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)), 0);
	assert_int_equal(mb.off, MB_SEARCH_LEN - 12);
}

/* Without the kludge the ELF program headers say, below 4 GiB. */
static void
test_mb_elf(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	struct loader_image img;
	struct loader_src src;
	struct loader_mb mb;
	struct t_mb h = { MB_HDR_PAGE_ALIGN | MB_HDR_MEMORY_INFO, 0, 0, 0, 0,
	    0 };
	size_t len;

	len = t_elf32(buf);
	t_mb_header(buf, 0x60, &h);
	t_src(&src, buf, len);
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)), 0);
	assert_int_equal(mb.off, 0x60);
	assert_int_equal(loader_mb_image(&src, &mb, &img, err, sizeof(err)),
	    0);
	t_seg_equal(&img.seg[0], "ELF program header 0", 0x100, 0x40,
	    0x100000, 0x1000);
	assert_int_equal(img.entry, 0x100004);

	len = t_elf64(buf);
	t_mb_header(buf, 0x100, &h);
	t_put(buf + T_PH64_OFF(2, 24), 8, 0x100000000ULL);
	t_src(&src, buf, len);
	assert_int_equal(loader_mb_find(&src, &mb, err, sizeof(err)), 0);
	assert_int_equal(loader_mb_image(&src, &mb, &img, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, T_WHAT ": ELF program header 2 lies above "
	    "4 GiB (address 0x100000000 size 0x80)");
}

static const struct loader_e820 t_map16[] = {
	{ 0, 0xa0000, E820_RAM },
	{ 0xf0000, 0x10000, E820_RESERVED },
	{ 0x100000, 0xf00000, E820_RAM },
};

static uint32_t
t_u32(const uint8_t *p, size_t off)
{
	return (uint32_t)t_get(p + off, 4);
}

static void
test_mb_info(void **state)
{
	static uint8_t page[MB_INFO_SIZE];
	struct loader_mb_boot b;
	const uint8_t *e;
	unsigned int i;

	memset(&b, 0, sizeof(b));
	b.has_cmdline = true;
	b.has_module = true;
	b.mod_start = 0xfff000;
	b.mod_end = 0xfff123;
	b.map = t_map16;
	b.nmap = 3;
	memset(page, 0xee, sizeof(page));
	loader_mb_info(&b, page);

	/* flags: mem, cmdline, mods, mmap, boot_loader_name */
	assert_int_equal(t_u32(page, 0), 0x24d);
	assert_int_equal(t_u32(page, 4), 640);
	assert_int_equal(t_u32(page, 8), 15 * 1024);
	assert_int_equal(t_u32(page, 12), 0);		/* no boot_device */
	assert_int_equal(t_u32(page, 16), 0x20000);
	assert_int_equal(t_u32(page, 20), 1);
	assert_int_equal(t_u32(page, 24), 0x6080);
	assert_int_equal(t_u32(page, 44), 3 * 24);
	assert_int_equal(t_u32(page, 48), 0x6100);
	assert_int_equal(t_u32(page, 64), 0x6200);
	assert_int_equal(t_u32(page, 0x80), 0xfff000);
	assert_int_equal(t_u32(page, 0x84), 0xfff123);
	assert_int_equal(t_u32(page, 0x88), 0x21000);
	assert_int_equal(t_u32(page, 0x8c), 0);
	for (i = 0; i < 3; i++) {
		e = page + 0x100 + i * 24;
		assert_int_equal(t_get(e, 4), 20);
		assert_int_equal(t_get(e + 4, 8), t_map16[i].addr);
		assert_int_equal(t_get(e + 12, 8), t_map16[i].size);
		assert_int_equal(t_get(e + 20, 4), t_map16[i].type);
	}
	assert_string_equal((const char *)page + 0x200, "vmm-worker");
	/* Everything else is zero. */
	assert_int_equal(page[0x100 + 3 * 24], 0);
	assert_int_equal(page[MB_INFO_SIZE - 1], 0);

	b.has_cmdline = false;
	b.has_module = false;
	loader_mb_info(&b, page);
	assert_int_equal(t_u32(page, 0), 0x249);
	assert_int_equal(t_u32(page, 16), 0);
	assert_int_equal(t_u32(page, 20), 0);
	assert_int_equal(t_u32(page, 0x80), 0);
}

/* ------------------------------------------------------------------------ */
/* Linux bzImage. */

#define T_BZ_SETUP		0x400		/* boot sector + 1 sector */
#define T_BZ_KERNEL		0x300
#define T_BZ_LEN		(T_BZ_SETUP + T_BZ_KERNEL)
#define T_BZ_CAP		0x1000
#define T_BZ_HDR_END		0x26c		/* 0x202 + jump offset 0x6a */

/*
 * A bzImage: a setup header of protocol 2.15 (setup_sects 1, LOADED_HIGH,
 * XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G, pref_address 16 MiB,
 * init_size 128 KiB), then the protected-mode kernel: HLTs where the
 * 32-bit entry would be and payload at +0x200 (the 64-bit entry).
 */
static size_t
t_bz(uint8_t *buf, const uint8_t *payload, size_t plen)
{
	size_t kernel = LINUX_ENTRY64_OFF + plen;

	if (kernel < T_BZ_KERNEL)
		kernel = T_BZ_KERNEL;
	memset(buf, 0, T_BZ_CAP);
	buf[LINUX_SETUP_SECTS] = 1;
	t_put(buf + LINUX_SYSSIZE, 4, (kernel + 15) / 16);
	t_put(buf + LINUX_BOOT_FLAG, 2, LINUX_BOOT_FLAG_MAGIC);
	buf[LINUX_JUMP] = 0xeb;
	buf[LINUX_JUMP + 1] = T_BZ_HDR_END - LINUX_HEADER;
	t_put(buf + LINUX_HEADER, 4, LINUX_HDRS_MAGIC);
	t_put(buf + LINUX_VERSION, 2, 0x020f);
	buf[LINUX_LOADFLAGS] = LINUX_LOADED_HIGH;
	t_put(buf + LINUX_CODE32_START, 4, 0x100000);
	t_put(buf + LINUX_INITRD_ADDR_MAX, 4, 0x7fffffff);
	t_put(buf + LINUX_KERNEL_ALIGNMENT, 4, 0x200000);
	buf[LINUX_RELOCATABLE] = 1;
	t_put(buf + LINUX_XLOADFLAGS, 2, 0x3);
	t_put(buf + LINUX_CMDLINE_SIZE, 4, 2047);
	t_put(buf + LINUX_PREF_ADDRESS, 8, 0x1000000);
	t_put(buf + LINUX_INIT_SIZE, 4, 0x20000);
	memset(buf + T_BZ_SETUP, 0xf4, LINUX_ENTRY64_OFF);
	if (plen > 0)
		memcpy(buf + T_BZ_SETUP + LINUX_ENTRY64_OFF, payload, plen);
	return T_BZ_SETUP + kernel;
}

static void
test_linux_valid(void **state)
{
	static uint8_t buf[T_BZ_CAP];
	struct loader_linux lx;
	struct loader_src src;

	t_src(&src, buf, t_bz(buf, NULL, 0));
	assert_int_equal(src.size, T_BZ_LEN);
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(lx.version, 0x020f);
	assert_int_equal(lx.kernel_off, T_BZ_SETUP);
	assert_int_equal(lx.kernel_size, T_BZ_KERNEL);
	assert_int_equal(lx.pref_address, 0x1000000);
	assert_int_equal(lx.init_size, 0x20000);
	assert_int_equal(lx.initrd_addr_max, 0x7fffffff);
	assert_int_equal(lx.cmdline_size, 2047);
	assert_int_equal(lx.xloadflags, 3);
	assert_int_equal(lx.hdr_len, T_BZ_HDR_END - LINUX_HDR_START);
	assert_memory_equal(lx.hdr, buf + LINUX_HDR_START, lx.hdr_len);

	/* syssize below the file: what follows it is not the kernel's. */
	t_put(buf + LINUX_SYSSIZE, 4, 0x28);
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)), 0);
	assert_int_equal(lx.kernel_size, 0x280);

	/* A header claiming more than the zero page holds is cut. */
	t_put(buf + LINUX_SYSSIZE, 4, 0x30);
	buf[LINUX_JUMP + 1] = 0xff;
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)), 0);
	assert_int_equal(lx.hdr_len, LINUX_HDR_LIMIT - LINUX_HDR_START);

	/* setup_sects 0 means 4. */
	t_src(&src, buf, T_BZ_CAP);
	buf[LINUX_SETUP_SECTS] = 0;
	t_put(buf + LINUX_SYSSIZE, 4, (T_BZ_CAP - 5 * 512) / 16);
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)), 0);
	assert_int_equal(lx.kernel_off, 5 * 512);
	assert_int_equal(lx.kernel_size, T_BZ_CAP - 5 * 512);
}

static void
test_linux_not_bzimage(void **state)
{
	static uint8_t buf[T_BZ_CAP];
	struct loader_linux lx;
	struct loader_src src;

	t_src(&src, buf, t_bz(buf, NULL, 0));
	buf[LINUX_HEADER] = 'h';
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)),
	    -ENOENT);
	assert_string_equal(err, "");
	t_src(&src, buf, LINUX_HEADER + 3);
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)),
	    -ENOENT);
	assert_string_equal(err, "");
}

struct t_bz_case {
	const char *name;
	struct t_patch patch[T_PATCHES];
	const char *msg;
};

static const struct t_bz_case t_bz_cases[] = {
	{ "boot_flag", { { LINUX_BOOT_FLAG, 2, 0 } },
	    T_WHAT ": bzImage boot_flag is 0x0, expected 0xaa55" },
	{ "protocol 2.02", { { LINUX_VERSION, 2, 0x0202 } },
	    T_WHAT ": boot protocol 2.02 is older than 2.06 (no cmdline_size) "
	    "and not supported" },
	{ "zImage", { { LINUX_LOADFLAGS, 1, 0 } },
	    T_WHAT ": loadflags 0x0 lack LOADED_HIGH: a zImage, not a "
	    "bzImage" },
	{ "protocol 2.10", { { LINUX_VERSION, 2, 0x020a } },
	    T_WHAT ": boot protocol 2.10 has no xloadflags: the 64-bit entry "
	    "needs 2.12 or later" },
	{ "32-bit kernel", { { LINUX_XLOADFLAGS, 2, 0x2 } },
	    T_WHAT ": xloadflags 0x2 lack XLF_KERNEL_64: the kernel has no "
	    "64-bit entry point" },
	{ "setup beyond the file", { { LINUX_SETUP_SECTS, 1, 14 } },
	    T_WHAT ": the setup code (14 sectors) leaves no kernel in the "
	    "file (0x700 bytes)" },
	{ "setup_sects 0 is 4", { { LINUX_SETUP_SECTS, 1, 0 } },
	    T_WHAT ": the setup code (4 sectors) leaves no kernel in the "
	    "file (0x700 bytes)" },
	{ "syssize 0", { { LINUX_SYSSIZE, 4, 0 } },
	    T_WHAT ": syssize says 0x0 bytes of kernel, 0x300 follow the "
	    "setup code" },
	{ "syssize beyond", { { LINUX_SYSSIZE, 4, 0x31 } },
	    T_WHAT ": syssize says 0x310 bytes of kernel, 0x300 follow the "
	    "setup code" },
	{ "syssize huge", { { LINUX_SYSSIZE, 4, 0xffffffff } },
	    T_WHAT ": syssize says 0xffffffff0 bytes of kernel, 0x300 follow "
	    "the setup code" },
	{ "no 64-bit entry", { { LINUX_SYSSIZE, 4, 0x20 } },
	    T_WHAT ": the protected-mode kernel (0x200 bytes) ends before its "
	    "64-bit entry point at offset 0x200" },
};

static void
test_linux_malformed(void **state)
{
	static uint8_t buf[T_BZ_CAP];
	const struct t_bz_case *c;
	struct loader_linux lx;
	struct loader_src src;
	size_t i;
	int error;

	for (i = 0; i < sizeof(t_bz_cases) / sizeof(t_bz_cases[0]); i++) {
		c = &t_bz_cases[i];
		t_src(&src, buf, t_bz(buf, NULL, 0));
		t_apply(buf, c->patch);
		error = loader_linux_parse(&src, &lx, err, sizeof(err));
		if (error != -EINVAL || strcmp(err, c->msg) != 0)
			fail_msg("case \"%s\": %d \"%s\", expected \"%s\"",
			    c->name, error, err, c->msg);
	}
}

static void
t_mem(struct loader_mem *m, struct vm_ram *ram, uint64_t size)
{
	ram->gpa = 0;
	ram->size = size;
	ram->hva = NULL;
	loader_mem_init(m, ram, 1);
}

static void
test_linux_place(void **state)
{
	static uint8_t buf[T_BZ_CAP];
	struct loader_linux lx;
	struct loader_src src;
	struct loader_mem m;
	struct vm_ram ram;
	uint64_t load, floor;

	t_src(&src, buf, t_bz(buf, NULL, 0));
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)), 0);

	/* Room at pref_address: the kernel goes there. */
	t_mem(&m, &ram, 64 * MIB);
	assert_int_equal(loader_linux_place(&lx, &m, &src, &load, &floor, err,
	    sizeof(err)), 0);
	assert_int_equal(load, 0x1000000);
	assert_int_equal(floor, 0x1020000);

	/* None: 1 MiB, and an initrd must still stay above 16 MiB + init. */
	t_mem(&m, &ram, 8 * MIB);
	assert_int_equal(loader_linux_place(&lx, &m, &src, &load, &floor, err,
	    sizeof(err)), 0);
	assert_int_equal(load, 0x100000);
	assert_int_equal(floor, 0x1020000);

	t_mem(&m, &ram, 1 * MIB);
	assert_int_equal(loader_linux_place(&lx, &m, &src, &load, &floor, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": the kernel with its init_size "
	    "[0x100000, 0x120000) is outside guest RAM ([0x0, 0x100000))");

	/* pref_address on a reserved range is not taken. */
	t_mem(&m, &ram, 64 * MIB);
	loader_mem_reserve(&m, 0x1010000, 0x1011000, "test range");
	assert_int_equal(loader_linux_place(&lx, &m, &src, &load, &floor, err,
	    sizeof(err)), 0);
	assert_int_equal(load, 0x100000);
}

static void
test_linux_cmdline(void **state)
{
	static const uint64_t base[] = { 0xd0000000, 0xd0001000 };
	static const unsigned int irq[] = { 5, 6 };
	char buf[256];

	assert_int_equal(loader_linux_cmdline(NULL, base, irq, 0, 2047, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(loader_linux_cmdline("console=ttyS0", base, irq, 2,
	    2047, buf, sizeof(buf)), 85);
	assert_string_equal(buf, "console=ttyS0 "
	    "virtio_mmio.device=512@0xd0000000:5 "
	    "virtio_mmio.device=512@0xd0001000:6");
	assert_int_equal(loader_linux_cmdline(NULL, base, irq, 1, 2047, buf,
	    sizeof(buf)), 35);
	assert_string_equal(buf, "virtio_mmio.device=512@0xd0000000:5");
	/* cmdline_size counts the bytes without the NUL. */
	assert_int_equal(loader_linux_cmdline("console=ttyS0", base, irq, 0,
	    13, buf, sizeof(buf)), 13);
	assert_int_equal(loader_linux_cmdline("console=ttyS0", base, irq, 0,
	    12, buf, sizeof(buf)), -E2BIG);
	assert_int_equal(loader_linux_cmdline("console=ttyS0", base, irq, 2,
	    2047, buf, 50), -E2BIG);
	assert_int_equal(loader_linux_cmdline("x", base, irq, 0, 2047, buf, 1),
	    -E2BIG);
}

static void
test_linux_zero_page(void **state)
{
	static uint8_t buf[T_BZ_CAP], zp[LINUX_ZP_SIZE];
	struct loader_linux_boot b;
	struct loader_linux lx;
	struct loader_src src;
	const uint8_t *e;
	unsigned int i;

	t_src(&src, buf, t_bz(buf, NULL, 0));
	/* A setup_data pointer in the file is not passed on. */
	buf[LINUX_JUMP + 1] = 0x70;
	t_put(buf + 0x250, 8, 0xdeadbeef);
	assert_int_equal(loader_linux_parse(&src, &lx, err, sizeof(err)), 0);
	memset(&b, 0, sizeof(b));
	b.load = 0x1000000;
	b.cmdline_gpa = 0x20000;
	b.initrd_gpa = 0x3fff000;
	b.initrd_size = 0x1234;
	b.map = t_map16;
	b.nmap = 3;
	memset(zp, 0xee, sizeof(zp));
	loader_linux_zero_page(&lx, &b, zp);

	assert_memory_equal(zp + LINUX_HDR_START, buf + LINUX_HDR_START,
	    LINUX_TYPE_OF_LOADER - LINUX_HDR_START);
	assert_int_equal(zp[LINUX_TYPE_OF_LOADER], 0xff);
	assert_int_equal(zp[LINUX_LOADFLAGS], LINUX_LOADED_HIGH);
	assert_int_equal(t_get(zp + LINUX_CODE32_START, 4), 0x1000000);
	assert_int_equal(t_get(zp + LINUX_RAMDISK_IMAGE, 4), 0x3fff000);
	assert_int_equal(t_get(zp + LINUX_RAMDISK_SIZE, 4), 0x1234);
	assert_int_equal(t_get(zp + LINUX_CMD_LINE_PTR, 4), 0x20000);
	assert_int_equal(t_get(zp + LINUX_ZP_EXT_RAMDISK_IMAGE, 4), 0);
	assert_int_equal(t_get(zp + LINUX_ZP_EXT_RAMDISK_SIZE, 4), 0);
	assert_int_equal(t_get(zp + LINUX_ZP_EXT_CMD_LINE_PTR, 4), 0);
	assert_int_equal(t_get(zp + LINUX_XLOADFLAGS, 2), 3);
	assert_int_equal(t_get(zp + LINUX_PREF_ADDRESS, 8), 0x1000000);
	assert_int_equal(t_get(zp + 0x250, 8), 0);
	assert_int_equal(zp[LINUX_ZP_E820_ENTRIES], 3);
	for (i = 0; i < 3; i++) {
		e = zp + LINUX_ZP_E820_TABLE + i * 20;
		assert_int_equal(t_get(e, 8), t_map16[i].addr);
		assert_int_equal(t_get(e + 8, 8), t_map16[i].size);
		assert_int_equal(t_get(e + 16, 4), t_map16[i].type);
	}
	/* Past the kernel's header and the map: zero. */
	assert_int_equal(zp[0x272], 0);
	assert_int_equal(zp[LINUX_ZP_E820_TABLE + 3 * 20], 0);
	assert_int_equal(zp[0], 0);
	assert_int_equal(zp[LINUX_ZP_SIZE - 1], 0);

	/* High halves go to the ext_ fields. */
	b.initrd_gpa = 0x123456000ULL;
	loader_linux_zero_page(&lx, &b, zp);
	assert_int_equal(t_get(zp + LINUX_RAMDISK_IMAGE, 4), 0x23456000);
	assert_int_equal(t_get(zp + LINUX_ZP_EXT_RAMDISK_IMAGE, 4), 0x1);
}

/* ------------------------------------------------------------------------ */
/* Raw images, guest memory checks, initrd placement, the memory map. */

static void
test_raw(void **state)
{
	static const uint8_t code[0x100];
	struct loader_image img;
	struct loader_src src;
	uint16_t cs, ip;

	t_src(&src, code, sizeof(code));
	assert_int_equal(loader_raw_parse(&src, 0x200000, 0x200010,
	    VMDEF_MODE_LONG, &img, err, sizeof(err)), 0);
	assert_int_equal(img.nseg, 1);
	t_seg_equal(&img.seg[0], "the image", 0, 0x100, 0x200000, 0x100);
	assert_int_equal(img.entry, 0x200010);

	t_src(&src, code, 0);
	assert_int_equal(loader_raw_parse(&src, 0x1000, 0x1000,
	    VMDEF_MODE_REAL, &img, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": the image is empty");

	t_src(&src, code, 0x100);
	assert_int_equal(loader_raw_parse(&src, 0xffffffffffffff80ULL, 0,
	    VMDEF_MODE_LONG, &img, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": the image at 0xffffffffffffff80 "
	    "(0x100 bytes) wraps around the address space");
	assert_int_equal(loader_raw_parse(&src, 0x1000, 0x100000,
	    VMDEF_MODE_REAL, &img, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": real-mode entry point 0x100000 is "
	    "not below 1 MiB");
	assert_int_equal(loader_raw_parse(&src, 0xffffff80, 0xffffff80,
	    VMDEF_MODE_PROTECTED, &img, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": a protected-mode image and its "
	    "entry point must lie below 4 GiB (image [0xffffff80, "
	    "0x100000080), entry 0xffffff80)");
	assert_int_equal(loader_raw_parse(&src, 0x100000000ULL, GIB4,
	    VMDEF_MODE_LONG, &img, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": long-mode entry point 0x100000000 "
	    "is above 4 GiB, beyond the boot page tables");

	loader_real_cs_ip(0x1000, &cs, &ip);
	assert_true(cs == 0 && ip == 0x1000);
	loader_real_cs_ip(0x7c00, &cs, &ip);
	assert_true(cs == 0 && ip == 0x7c00);
	loader_real_cs_ip(0x10100, &cs, &ip);
	assert_true(cs == 0x1000 && ip == 0x0100);
	loader_real_cs_ip(0x12345, &cs, &ip);
	assert_true(cs == 0x1000 && ip == 0x2345);
	loader_real_cs_ip(0xfffff, &cs, &ip);
	assert_true(cs == 0xf000 && ip == 0xffff);
}

static void
test_mem_check(void **state)
{
	static const uint8_t none[1];
	struct vm_ram ram[2] = {
		{ 0, 0xc0000000ULL, NULL },
		{ 0x100000000ULL, 0x40000000ULL, NULL },
	};
	struct loader_src src;
	struct loader_mem m;

	t_src(&src, none, 0);
	loader_mem_init(&m, ram, 2);
	loader_mem_reserve(&m, BOOT_GDT, BOOT_PT_END,
	    "boot GDT, stack and page tables");
	assert_int_equal(loader_mem_low_end(&m), 0xc0000000ULL);

	assert_int_equal(loader_mem_check(&m, &src, "the image", 0x1000,
	    0x100, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": the image [0x1000, 0x1100) overlaps "
	    "the boot GDT, stack and page tables [0x500, 0xf000)");
	assert_int_equal(loader_mem_check(&m, &src, "the image", 0x4ff, 2,
	    err, sizeof(err)), -EINVAL);
	assert_int_equal(loader_mem_check(&m, &src, "the image", 0x4ff, 1,
	    err, sizeof(err)), 0);
	assert_int_equal(loader_mem_check(&m, &src, "the image", BOOT_PT_END,
	    0x100, err, sizeof(err)), 0);

	assert_int_equal(loader_mem_check(&m, &src, "the image", 0xbffff000,
	    0x2000, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": the image [0xbffff000, 0xc0001000) "
	    "is outside guest RAM ([0x0, 0xc0000000) and [0x100000000, "
	    "0x140000000))");
	assert_int_equal(loader_mem_check(&m, &src, "the image",
	    0x13ffff000ULL, 0x1000, err, sizeof(err)), 0);
	assert_int_equal(loader_mem_check(&m, &src, "the image",
	    0x13ffff000ULL, 0x1001, err, sizeof(err)), -EINVAL);

	assert_int_equal(loader_mem_check(&m, &src, "the image", ~0ULL, 2,
	    err, sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": the image at 0xffffffffffffffff "
	    "(0x2 bytes) wraps around the address space");
	assert_null(loader_mem_ptr(&m, ~0ULL, 2));
	assert_null(loader_mem_ptr(&m, 0, 0));
}

static void
test_initrd_place(void **state)
{
	static const uint8_t data[0x1234];
	struct loader_src src;
	struct loader_mem m;
	struct vm_ram ram;
	uint64_t gpa;

	t_mem(&m, &ram, 16 * MIB);
	loader_src_buf(&src, "initrd t", data, sizeof(data));
	assert_int_equal(loader_initrd_place(&m, &src, 0x200000, GIB4, &gpa,
	    err, sizeof(err)), 0);
	assert_int_equal(gpa, 0xffe000);
	assert_int_equal(loader_initrd_place(&m, &src, 0x200000, 0x800000,
	    &gpa, err, sizeof(err)), 0);
	assert_int_equal(gpa, 0x7fe000);
	/* The page it would start at lies just below the floor. */
	assert_int_equal(loader_initrd_place(&m, &src, 0xfff000, GIB4, &gpa,
	    err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "initrd t: 0x1234 bytes do not fit in guest "
	    "RAM between the kernel (ending at 0xfff000) and 0x1000000");
	assert_int_equal(loader_initrd_place(&m, &src, 0, 0x1000, &gpa, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "initrd t: 0x1234 bytes do not fit in guest "
	    "RAM between the kernel (ending at 0x0) and 0x1000");

	/* A reserved range in the way. */
	loader_mem_reserve(&m, 0xfff000, 0x1000000, "test range");
	assert_int_equal(loader_initrd_place(&m, &src, 0x200000, GIB4, &gpa,
	    err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "initrd t: the initrd [0xffe000, 0xfff234) "
	    "overlaps the test range [0xfff000, 0x1000000)");

	loader_src_buf(&src, "initrd t", data, 0);
	assert_int_equal(loader_initrd_place(&m, &src, 0, GIB4, &gpa, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "initrd t: the file is empty");
}

static void
t_map_equal(const struct loader_e820 *map, unsigned int n,
    const struct loader_e820 *want, unsigned int nwant)
{
	unsigned int i;

	assert_int_equal(n, nwant);
	for (i = 0; i < n; i++) {
		assert_int_equal(map[i].addr, want[i].addr);
		assert_int_equal(map[i].size, want[i].size);
		assert_int_equal(map[i].type, want[i].type);
	}
}

static void
test_e820(void **state)
{
	static const struct loader_e820 big[] = {
		{ 0, 0xa0000, E820_RAM },
		{ 0xf0000, 0x10000, E820_RESERVED },
		{ 0x100000, 0xbff00000ULL, E820_RAM },
		{ 0x100000000ULL, 0x80000000ULL, E820_RAM },
	};
	static const struct loader_e820 plain16[] = {
		{ 0, 0xa0000, E820_RAM },
		{ 0x100000, 0xf00000, E820_RAM },
	};
	static const struct loader_e820 tiny[] = {
		{ 0, 0xa0000, E820_RAM },
	};
	struct vm_ram ram[2] = {
		{ 0, 16 * MIB, NULL },
		{ 0x100000000ULL, 0x80000000ULL, NULL },
	};
	struct loader_e820 map[LOADER_E820_MAX];

	t_map_equal(map, loader_e820(ram, 1, false, map), plain16, 2);
	t_map_equal(map, loader_e820(ram, 1, true, map), t_map16, 3);
	ram[0].size = 0xc0000000ULL;
	t_map_equal(map, loader_e820(ram, 2, true, map), big, 4);
	ram[0].size = 1 * MIB;
	t_map_equal(map, loader_e820(ram, 1, false, map), tiny, 1);
}

/* ------------------------------------------------------------------------ */
/* MP table, descriptor and page tables, register state. */

static uint8_t
t_sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len-- > 0)
		s += *p++;
	return s;
}

static void
test_mptable(void **state)
{
	static const unsigned int gsi[] = { 5, 6, 16 };
	uint8_t buf[MPTABLE_SIZE_MAX];
	const uint8_t *t, *e;
	unsigned int i;
	int len;

	memset(buf, 0xee, sizeof(buf));
	len = boot_mptable(buf, sizeof(buf), 0xf0000, 2, gsi, 3);
	/* 16 + 44 + 2 processors + bus + IOAPIC + 17 I/O + 2 local. */
	assert_int_equal(len, 16 + 44 + 2 * 20 + 2 * 8 + 17 * 8 + 2 * 8);

	/* The floating pointer (MP spec 4.1). */
	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(t_get(buf + 4, 4), 0xf0010);
	assert_int_equal(buf[8], 1);
	assert_int_equal(buf[9], 4);
	assert_int_equal(t_sum(buf, 16), 0);
	assert_int_equal(buf[11], 0);			/* table present */

	/* The table header (4.2). */
	t = buf + 16;
	assert_memory_equal(t, "PCMP", 4);
	assert_int_equal(t_get(t + 4, 2), len - 16);
	assert_int_equal(t[6], 4);
	assert_int_equal(t_sum(t, len - 16), 0);
	assert_memory_equal(t + 8, "VMM     vmm-worker  ", 20);
	assert_int_equal(t_get(t + 34, 2), 23);
	assert_int_equal(t_get(t + 36, 4), 0xfee00000);

	/* Processors: APIC id = index, the BSP flag on 0 only. */
	e = t + 44;
	assert_int_equal(e[0], 0);
	assert_int_equal(e[1], 0);
	assert_int_equal(e[3], 0x3);
	assert_int_equal(e[20], 0);
	assert_int_equal(e[21], 1);
	assert_int_equal(e[23], 0x1);
	e += 40;
	assert_int_equal(e[0], 1);			/* bus 0: ISA */
	assert_memory_equal(e + 2, "ISA   ", 6);
	e += 8;
	assert_int_equal(e[0], 2);			/* IOAPIC id 2 */
	assert_int_equal(e[1], 2);
	assert_int_equal(e[3], 1);
	assert_int_equal(t_get(e + 4, 4), 0xfec00000);
	e += 8;
	/* ISA IRQ n -> IOAPIC 2 pin n for 0-15, then GSI 16. */
	for (i = 0; i < 17; i++, e += 8) {
		assert_int_equal(e[0], 3);
		assert_int_equal(e[1], 0);		/* INT */
		assert_int_equal(t_get(e + 2, 2), 0);	/* bus defaults */
		assert_int_equal(e[4], 0);
		assert_int_equal(e[5], i);
		assert_int_equal(e[6], 2);
		assert_int_equal(e[7], i);
	}
	/* ExtINT on LINT0 and NMI on LINT1 of every local APIC. */
	assert_memory_equal(e, "\x04\x03\x00\x00\x00\x00\xff\x00", 8);
	assert_memory_equal(e + 8, "\x04\x01\x00\x00\x00\x00\xff\x01", 8);
	assert_int_equal(e + 16 - buf, len);
	assert_int_equal(buf[len], 0xee);

	assert_int_equal(boot_mptable(buf, (size_t)len - 1, 0xf0000, 2, gsi,
	    3), -ENOSPC);
	i = 24;
	assert_int_equal(boot_mptable(buf, sizeof(buf), 0xf0000, 2, &i, 1),
	    -EINVAL);
	assert_int_equal(boot_mptable(buf, sizeof(buf), 0xf0000, 0, gsi, 0),
	    -EINVAL);
	/* The largest machine fits the buffer. */
	assert_true(boot_mptable(buf, sizeof(buf), 0xf0000, VMDEF_VCPU_MAX,
	    gsi, 3) > 0);
}

static void
test_gdt_page_tables(void **state)
{
	static uint8_t pt[BOOT_PT_SIZE];
	uint64_t gdt[BOOT_GDT_ENTRIES];

	boot_gdt(gdt);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0x00cf9b000000ffffULL);
	assert_int_equal(gdt[2], 0x00af9b000000ffffULL);
	assert_int_equal(gdt[3], 0x00cf93000000ffffULL);

	boot_page_tables(pt);
	/* PML4 at 0x9000, PDPT at 0xa000, PDs at 0xb000-0xe000. */
	assert_int_equal(t_get(pt, 8), 0xa023);
	assert_int_equal(t_get(pt + 8, 8), 0);
	assert_int_equal(t_get(pt + 0x1000, 8), 0xb023);
	assert_int_equal(t_get(pt + 0x1018, 8), 0xe023);
	assert_int_equal(t_get(pt + 0x1020, 8), 0);
	assert_int_equal(t_get(pt + 0x2000, 8), 0xe3);
	assert_int_equal(t_get(pt + 0x2008, 8), 0x2000e3);
	assert_int_equal(t_get(pt + 0x5ff8, 8), 0xffe000e3ULL);
}

/* A state full of junk, as after a guest ran; TSC and mask survive. */
static void
t_junk_state(struct nvmm_x64_state *st)
{
	memset(st, 0xa5, sizeof(*st));
	st->msrs[NVMM_X64_MSR_TSC] = 123456789;
	st->fpu.fx_mxcsr_mask = 0xffbf;
}

static void
t_common_state(const struct nvmm_x64_state *st)
{
	assert_int_equal(st->gprs[NVMM_X64_GPR_RFLAGS], 2);
	assert_int_equal(st->gprs[NVMM_X64_GPR_RCX], 0);
	assert_int_equal(st->gprs[NVMM_X64_GPR_R15], 0);
	assert_int_equal(st->crs[NVMM_X64_CR_CR2], 0);
	assert_int_equal(st->crs[NVMM_X64_CR_CR8], 0);
	assert_int_equal(st->crs[NVMM_X64_CR_XCR0], 1);
	assert_int_equal(st->drs[NVMM_X64_DR_DR6], 0xffff0ff0);
	assert_int_equal(st->drs[NVMM_X64_DR_DR7], 0x400);
	assert_int_equal(st->drs[NVMM_X64_DR_DR0], 0);
	assert_int_equal(st->msrs[NVMM_X64_MSR_TSC], 123456789);
	assert_int_equal(st->msrs[NVMM_X64_MSR_PAT], 0x0007040600070406ULL);
	assert_int_equal(st->msrs[NVMM_X64_MSR_LSTAR], 0);
	assert_int_equal(st->intr.int_shadow, 0);
	assert_int_equal(st->intr.evt_pending, 0);
	assert_int_equal(st->fpu.fx_cw, 0x37f);
	assert_int_equal(st->fpu.fx_sw, 0);
	assert_int_equal(st->fpu.fx_tw, 0);
	assert_int_equal(st->fpu.fx_mxcsr, 0x1f80);
	assert_int_equal(st->fpu.fx_mxcsr_mask, 0xffbf);
	assert_int_equal(st->segs[NVMM_X64_SEG_LDT].selector, 0);
	assert_int_equal(st->segs[NVMM_X64_SEG_LDT].attrib.type, 2);
}

/* Set st over junk from b, and check what every mode has in common. */
static void
t_cpu_state(const struct boot_cpu *b, struct nvmm_x64_state *st)
{
	t_junk_state(st);
	boot_cpu_state(b, st);
	t_common_state(st);
}

static void
test_cpu_state_long(void **state)
{
	static struct nvmm_x64_state st;
	const struct nvmm_x64_state_seg *cs, *ds, *tr;
	struct boot_cpu b = { VMDEF_MODE_LONG, 0x1000200, 0, 0x8000, 0, 0,
	    0x7000 };

	t_cpu_state(&b, &st);
	cs = &st.segs[NVMM_X64_SEG_CS];
	ds = &st.segs[NVMM_X64_SEG_SS];
	tr = &st.segs[NVMM_X64_SEG_TR];
	assert_int_equal(cs->selector, 0x10);
	assert_true(cs->attrib.l == 1 && cs->attrib.def == 0 &&
	    cs->attrib.p == 1 && cs->attrib.s == 1 && cs->attrib.type == 0xb);
	assert_true(ds->selector == 0x18 && ds->attrib.type == 3 &&
	    ds->attrib.def == 1 && ds->attrib.g == 1 && ds->limit == ~0U);
	assert_true(tr->attrib.type == 0xb && tr->attrib.s == 0 &&
	    tr->attrib.p == 1 && tr->limit == 0x67);
	assert_int_equal(st.segs[NVMM_X64_SEG_GDT].base, 0x500);
	assert_int_equal(st.segs[NVMM_X64_SEG_GDT].limit, 31);
	assert_int_equal(st.segs[NVMM_X64_SEG_IDT].limit, 0);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RIP], 0x1000200);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RSP], 0x8000);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RSI], 0x7000);
	assert_int_equal(st.crs[NVMM_X64_CR_CR0], 0x80000031);
	assert_int_equal(st.crs[NVMM_X64_CR_CR3], 0x9000);
	assert_int_equal(st.crs[NVMM_X64_CR_CR4], 0x620);
	assert_int_equal(st.msrs[NVMM_X64_MSR_EFER], 0x500);
}

static void
test_cpu_state_protected(void **state)
{
	static struct nvmm_x64_state st;
	const struct nvmm_x64_state_seg *cs, *ds;
	struct boot_cpu b = { VMDEF_MODE_PROTECTED, 0x1024, 0, 0x8000,
	    MB_BOOT_MAGIC, MB_INFO_GPA, 0 };

	t_cpu_state(&b, &st);
	cs = &st.segs[NVMM_X64_SEG_CS];
	ds = &st.segs[NVMM_X64_SEG_DS];
	assert_true(cs->selector == 0x08 && cs->attrib.def == 1 &&
	    cs->attrib.l == 0 && cs->attrib.g == 1 && cs->base == 0 &&
	    cs->limit == ~0U);
	assert_true(ds->selector == 0x18 && ds->attrib.def == 1 &&
	    ds->base == 0 && ds->limit == ~0U);
	assert_int_equal(st.segs[NVMM_X64_SEG_TR].attrib.type, 0xb);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RAX], 0x2badb002);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RBX], 0x6000);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RIP], 0x1024);
	assert_int_equal(st.crs[NVMM_X64_CR_CR0], 0x31);
	assert_int_equal(st.crs[NVMM_X64_CR_CR3], 0);
	assert_int_equal(st.crs[NVMM_X64_CR_CR4], 0);
	assert_int_equal(st.msrs[NVMM_X64_MSR_EFER], 0);
}

static void
test_cpu_state_real(void **state)
{
	static struct nvmm_x64_state st;
	const struct nvmm_x64_state_seg *cs, *ss;
	struct boot_cpu b = { VMDEF_MODE_REAL, 0x0100, 0x1000, 0x8000, 0, 0,
	    0 };

	t_cpu_state(&b, &st);
	cs = &st.segs[NVMM_X64_SEG_CS];
	ss = &st.segs[NVMM_X64_SEG_SS];
	assert_true(cs->selector == 0x1000 && cs->base == 0x10000 &&
	    cs->limit == 0xffff && cs->attrib.def == 0);
	assert_true(ss->selector == 0 && ss->base == 0 && ss->limit == 0xffff);
	assert_int_equal(st.segs[NVMM_X64_SEG_TR].attrib.type, 3);
	assert_int_equal(st.segs[NVMM_X64_SEG_IDT].limit, 0x3ff);
	assert_int_equal(st.gprs[NVMM_X64_GPR_RIP], 0x100);
	assert_int_equal(st.crs[NVMM_X64_CR_CR0], 0x10);
	assert_int_equal(st.msrs[NVMM_X64_MSR_EFER], 0);
}

/* ------------------------------------------------------------------------ */
/* Property: mutated images never break the parsers' promises. */

static void
t_check_image(const struct loader_src *src, const struct loader_image *img)
{
	unsigned int i;

	assert_true(img->nseg >= 1 && img->nseg <= LOADER_SEG_MAX);
	for (i = 0; i < img->nseg; i++) {
		assert_true(img->seg[i].off <= src->size);
		assert_true(img->seg[i].filesz <= src->size - img->seg[i].off);
		assert_true(img->seg[i].filesz <= img->seg[i].memsz);
		assert_true(img->seg[i].gpa + img->seg[i].memsz >=
		    img->seg[i].gpa);
	}
}

static void
t_check_error(int error, size_t len)
{
	if (error == 0 || error == -ENOENT)
		return;
	if (error != -EINVAL || strncmp(err, T_WHAT ": ", 10) != 0 ||
	    strlen(err) < 12)
		fail_msg("input of 0x%zx bytes: %d \"%s\"", len, error, err);
}

/* Every parser and check on buf, with 64 MiB of RAM. */
static void
t_parse_all(const uint8_t *buf, size_t len)
{
	struct loader_linux lx;
	struct loader_image img;
	struct loader_src src;
	struct loader_mem m;
	struct loader_mb mb;
	struct vm_ram ram;
	uint64_t load, floor;
	int error;

	t_mem(&m, &ram, 64 * MIB);
	t_src(&src, buf, len);
	error = loader_elf_parse(&src, false, &img, err, sizeof(err));
	t_check_error(error, len);
	if (error == 0) {
		t_check_image(&src, &img);
		t_check_error(loader_image_check(&m, &src, &img, err,
		    sizeof(err)), len);
	}
	t_src(&src, buf, len);
	error = loader_mb_find(&src, &mb, err, sizeof(err));
	t_check_error(error, len);
	if (error == 0) {
		error = loader_mb_image(&src, &mb, &img, err, sizeof(err));
		t_check_error(error, len);
		if (error == 0)
			t_check_image(&src, &img);
	}
	t_src(&src, buf, len);
	error = loader_linux_parse(&src, &lx, err, sizeof(err));
	t_check_error(error, len);
	if (error == 0) {
		assert_true(lx.kernel_off + lx.kernel_size <= len);
		assert_true(lx.hdr_len <= sizeof(lx.hdr));
		t_check_error(loader_linux_place(&lx, &m, &src, &load, &floor,
		    err, sizeof(err)), len);
	}
}

static void
test_parsers_mutated(void **state)
{
	static uint8_t base[4][T_ELF_CAP], buf[T_ELF_CAP];
	size_t blen[4], len, pos;
	unsigned int seed = 20261121, i, k, n, which;
	struct t_mb h = t_mb_base;

	blen[0] = t_elf64(base[0]);
	blen[1] = t_elf32(base[1]);
	memset(base[2], 0, T_ELF_CAP);
	blen[2] = t_mb_image(base[2], &h);
	blen[3] = t_bz(base[3], NULL, 0);
	print_message("mutation seed %u\n", seed);
	srandom(seed);
	for (i = 0; i < 20000; i++) {
		which = (unsigned int)random() % 4;
		len = blen[which];
		memcpy(buf, base[which], len);
		n = 1 + (unsigned int)random() % 6;
		for (k = 0; k < n; k++) {
			/* Mostly in the headers, where the numbers are. */
			pos = (size_t)random() % (random() % 2 &&
			    len > 0x300 ? 0x300 : len);
			buf[pos] = (uint8_t)random();
		}
		if (random() % 8 == 0)
			len = (size_t)random() % (len + 1);
		t_parse_all(buf, len);
	}
}

/* ------------------------------------------------------------------------ */
/* Guest code for the worker runs (the sources are the comments). */

/*
 * A raw long-mode guest, loaded and entered at 0x200000.  It checks the
 * boot state (each check n fails with debug-exit value n), then prints
 * "long mode ok".
 * Assembled with gcc -c, then objcopy -O binary, from:
 *
 *		.code64
 *	start:
 *		pushfq
 *		mov	%rax, %r8
 *		or	%rbx, %r8
 *		or	%rcx, %r8
 *		or	%rdx, %r8
 *		or	%rsi, %r8
 *		or	%rdi, %r8
 *		or	%rbp, %r8
 *		mov	$1, %bl
 *		jnz	fail
 *		mov	$2, %bl
 *		cmp	$0x7ff8, %rsp
 *		jne	fail
 *		mov	$3, %bl
 *		mov	%cs, %ax
 *		cmp	$0x10, %ax
 *		jne	fail
 *		mov	$4, %bl
 *		mov	%ss, %ax
 *		cmp	$0x18, %ax
 *		jne	fail
 *		mov	$5, %bl
 *		mov	%cr0, %rax
 *		mov	$0x80000031, %ecx
 *		cmp	%rcx, %rax
 *		jne	fail
 *		mov	$6, %bl
 *		mov	%cr4, %rax
 *		cmp	$0x620, %rax
 *		jne	fail
 *		mov	$7, %bl
 *		mov	%cr3, %rax
 *		cmp	$0x9000, %rax
 *		jne	fail
 *		mov	$8, %bl
 *		mov	$0xC0000080, %ecx
 *		rdmsr
 *		cmp	$0x500, %eax
 *		jne	fail
 *		mov	$9, %bl
 *		pop	%rax
 *		cmp	$2, %rax
 *		jne	fail
 *		mov	$10, %bl
 *		lea	start(%rip), %rax
 *		cmp	$0x200000, %rax
 *		jne	fail
 *		mov	$11, %bl
 *		movabs	$0x1122334455667788, %rax
 *		mov	%rax, 0xFFF000
 *		cmp	0xFFF000, %rax
 *		jne	fail
 *		lea	msg(%rip), %rsi
 *		mov	$0x3f8, %dx
 *	1:	lodsb
 *		test	%al, %al
 *		jz	2f
 *		outb	%al, %dx
 *		jmp	1b
 *	2:	xor	%ebx, %ebx
 *	fail:	mov	%bl, %al
 *		mov	$0x501, %dx
 *		outb	%al, %dx
 *	3:	hlt
 *		jmp	3b
 *	msg:	.asciz	"long mode ok\n"
 */
static const uint8_t t_guest_raw_long[] = {
	0x9c, 0x49, 0x89, 0xc0, 0x49, 0x09, 0xd8, 0x49, 0x09, 0xc8, 0x49, 0x09,
	0xd0, 0x49, 0x09, 0xf0, 0x49, 0x09, 0xf8, 0x49, 0x09, 0xe8, 0xb3, 0x01,
	0x0f, 0x85, 0xb3, 0x00, 0x00, 0x00, 0xb3, 0x02, 0x48, 0x81, 0xfc, 0xf8,
	0x7f, 0x00, 0x00, 0x0f, 0x85, 0xa4, 0x00, 0x00, 0x00, 0xb3, 0x03, 0x66,
	0x8c, 0xc8, 0x66, 0x83, 0xf8, 0x10, 0x0f, 0x85, 0x95, 0x00, 0x00, 0x00,
	0xb3, 0x04, 0x66, 0x8c, 0xd0, 0x66, 0x83, 0xf8, 0x18, 0x0f, 0x85, 0x86,
	0x00, 0x00, 0x00, 0xb3, 0x05, 0x0f, 0x20, 0xc0, 0xb9, 0x31, 0x00, 0x00,
	0x80, 0x48, 0x39, 0xc8, 0x75, 0x77, 0xb3, 0x06, 0x0f, 0x20, 0xe0, 0x48,
	0x3d, 0x20, 0x06, 0x00, 0x00, 0x75, 0x6a, 0xb3, 0x07, 0x0f, 0x20, 0xd8,
	0x48, 0x3d, 0x00, 0x90, 0x00, 0x00, 0x75, 0x5d, 0xb3, 0x08, 0xb9, 0x80,
	0x00, 0x00, 0xc0, 0x0f, 0x32, 0x3d, 0x00, 0x05, 0x00, 0x00, 0x75, 0x4d,
	0xb3, 0x09, 0x58, 0x48, 0x83, 0xf8, 0x02, 0x75, 0x44, 0xb3, 0x0a, 0x48,
	0x8d, 0x05, 0x6a, 0xff, 0xff, 0xff, 0x48, 0x3d, 0x00, 0x00, 0x20, 0x00,
	0x75, 0x33, 0xb3, 0x0b, 0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
	0x22, 0x11, 0x48, 0x89, 0x04, 0x25, 0x00, 0xf0, 0xff, 0x00, 0x48, 0x3b,
	0x04, 0x25, 0x00, 0xf0, 0xff, 0x00, 0x75, 0x15, 0x48, 0x8d, 0x35, 0x18,
	0x00, 0x00, 0x00, 0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03,
	0xee, 0xeb, 0xf8, 0x31, 0xdb, 0x88, 0xd8, 0x66, 0xba, 0x01, 0x05, 0xee,
	0xf4, 0xeb, 0xfd, 0x6c, 0x6f, 0x6e, 0x67, 0x20, 0x6d, 0x6f, 0x64, 0x65,
	0x20, 0x6f, 0x6b, 0x0a, 0x00,
};

/*
 * A raw protected-mode guest at 0x300000, checked the same way.
 * Assembled with gcc -c, then objcopy -O binary, from:
 *
 *		.code32
 *	start:
 *		pushf
 *		mov	%eax, %edi
 *		or	%ebx, %edi
 *		or	%ecx, %edi
 *		or	%edx, %edi
 *		or	%esi, %edi
 *		or	%ebp, %edi
 *		mov	$1, %bl
 *		jnz	fail
 *		mov	$2, %bl
 *		cmp	$0x7ffc, %esp
 *		jne	fail
 *		mov	$3, %bl
 *		mov	%cs, %ax
 *		cmp	$0x08, %ax
 *		jne	fail
 *		mov	$4, %bl
 *		mov	%ds, %ax
 *		cmp	$0x18, %ax
 *		jne	fail
 *		mov	$5, %bl
 *		mov	%cr0, %eax
 *		cmp	$0x31, %eax
 *		jne	fail
 *		mov	$6, %bl
 *		mov	%cr4, %eax
 *		test	%eax, %eax
 *		jne	fail
 *		mov	$7, %bl
 *		pop	%eax
 *		cmp	$2, %eax
 *		jne	fail
 *		mov	$8, %bl
 *		call	1f
 *	1:	pop	%esi
 *		cmp	$0x300000 + (1b - start), %esi
 *		jne	fail
 *		add	$(msg - 1b), %esi
 *		mov	$0x3f8, %dx
 *	1:	lodsb
 *		test	%al, %al
 *		jz	2f
 *		outb	%al, %dx
 *		jmp	1b
 *	2:	xor	%ebx, %ebx
 *	fail:	mov	%bl, %al
 *		mov	$0x501, %dx
 *		outb	%al, %dx
 *	3:	hlt
 *		jmp	3b
 *	msg:	.asciz	"protected mode ok\n"
 */
static const uint8_t t_guest_raw_prot[] = {
	0x9c, 0x89, 0xc7, 0x09, 0xdf, 0x09, 0xcf, 0x09, 0xd7, 0x09, 0xf7, 0x09,
	0xef, 0xb3, 0x01, 0x75, 0x5f, 0xb3, 0x02, 0x81, 0xfc, 0xfc, 0x7f, 0x00,
	0x00, 0x75, 0x55, 0xb3, 0x03, 0x66, 0x8c, 0xc8, 0x66, 0x83, 0xf8, 0x08,
	0x75, 0x4a, 0xb3, 0x04, 0x66, 0x8c, 0xd8, 0x66, 0x83, 0xf8, 0x18, 0x75,
	0x3f, 0xb3, 0x05, 0x0f, 0x20, 0xc0, 0x83, 0xf8, 0x31, 0x75, 0x35, 0xb3,
	0x06, 0x0f, 0x20, 0xe0, 0x85, 0xc0, 0x75, 0x2c, 0xb3, 0x07, 0x58, 0x83,
	0xf8, 0x02, 0x75, 0x24, 0xb3, 0x08, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x5e,
	0x81, 0xfe, 0x53, 0x00, 0x30, 0x00, 0x75, 0x14, 0x81, 0xc6, 0x27, 0x00,
	0x00, 0x00, 0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee,
	0xeb, 0xf8, 0x31, 0xdb, 0x88, 0xd8, 0x66, 0xba, 0x01, 0x05, 0xee, 0xf4,
	0xeb, 0xfd, 0x70, 0x72, 0x6f, 0x74, 0x65, 0x63, 0x74, 0x65, 0x64, 0x20,
	0x6d, 0x6f, 0x64, 0x65, 0x20, 0x6f, 0x6b, 0x0a, 0x00,
};

/*
 * A raw real-mode guest loaded at 0x10000 and entered at 0x10100, which
 * must give CS:IP = 1000:0100.
 * Assembled with gcc -c, then objcopy -O binary, from:
 *
 *		.code16
 *	msg:	.asciz	"real mode ok\n"
 *		.org	0x100
 *		pushf
 *		mov	$1, %bl
 *		mov	%cs, %ax
 *		cmp	$0x1000, %ax
 *		jne	fail
 *		mov	$2, %bl
 *		mov	%ss, %ax
 *		test	%ax, %ax
 *		jne	fail
 *		mov	$3, %bl
 *		cmp	$0x7ffe, %sp
 *		jne	fail
 *		mov	$4, %bl
 *		smsw	%ax
 *		cmp	$0x10, %ax
 *		jne	fail
 *		mov	$5, %bl
 *		pop	%ax
 *		cmp	$2, %ax
 *		jne	fail
 *		mov	$6, %bl
 *		call	1f
 *	1:	pop	%ax
 *		cmp	$(1b - msg), %ax
 *		jne	fail
 *		mov	%cs, %ax
 *		mov	%ax, %ds
 *		xor	%si, %si
 *		mov	$0x3f8, %dx
 *	1:	lodsb
 *		test	%al, %al
 *		jz	2f
 *		outb	%al, %dx
 *		jmp	1b
 *	2:	xor	%bl, %bl
 *	fail:	mov	%bl, %al
 *		mov	$0x501, %dx
 *		outb	%al, %dx
 *	3:	hlt
 *		jmp	3b
 */
static const uint8_t t_guest_raw_real[] = {
	0x72, 0x65, 0x61, 0x6c, 0x20, 0x6d, 0x6f, 0x64, 0x65, 0x20, 0x6f, 0x6b,
	0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x9c, 0xb3, 0x01, 0x8c, 0xc8, 0x3d, 0x00, 0x10,
	0x75, 0x40, 0xb3, 0x02, 0x8c, 0xd0, 0x85, 0xc0, 0x75, 0x38, 0xb3, 0x03,
	0x81, 0xfc, 0xfe, 0x7f, 0x75, 0x30, 0xb3, 0x04, 0x0f, 0x01, 0xe0, 0x83,
	0xf8, 0x10, 0x75, 0x26, 0xb3, 0x05, 0x58, 0x83, 0xf8, 0x02, 0x75, 0x1e,
	0xb3, 0x06, 0xe8, 0x00, 0x00, 0x58, 0x3d, 0x31, 0x01, 0x75, 0x13, 0x8c,
	0xc8, 0x8e, 0xd8, 0x31, 0xf6, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74,
	0x03, 0xee, 0xeb, 0xf8, 0x30, 0xdb, 0x88, 0xd8, 0xba, 0x01, 0x05, 0xee,
	0xf4, 0xeb, 0xfd,
};

/*
 * The 64-bit entry of the fake bzImage (protected-mode kernel + 0x200):
 * it prints what the zero page says (RSI), and the MP table signature.
 * Assembled with gcc -c, then objcopy -O binary, from:
 *
 *		.code64
 *	start:
 *			mov	$1, %bl
 *		cmp	$0x7000, %rsi
 *		jne	fail
 *		mov	$2, %bl
 *		cmpb	$0xff, 0x210(%rsi)
 *		jne	fail
 *		mov	$3, %bl
 *		mov	%cs, %ax
 *		cmp	$0x10, %ax
 *		jne	fail
 *		mov	$0x3f8, %dx
 *		lea	s_cmdline(%rip), %rdi
 *		call	puts
 *		mov	0x228(%rsi), %edi
 *		call	puts
 *		lea	s_e820(%rip), %rdi
 *		call	puts
 *		movzbl	0x1e8(%rsi), %eax
 *		call	hex32
 *		lea	s_mp(%rip), %rdi
 *		call	puts
 *		mov	0xf0000, %eax
 *		call	hex32
 *		lea	s_load(%rip), %rdi
 *		call	puts
 *		mov	0x214(%rsi), %eax
 *		call	hex32
 *		mov	0x21c(%rsi), %ecx
 *		test	%ecx, %ecx
 *		jz	1f
 *		lea	s_initrd(%rip), %rdi
 *		call	puts
 *		mov	0x218(%rsi), %eax
 *		call	hex32
 *		mov	$' ', %al
 *		outb	%al, %dx
 *		mov	0x21c(%rsi), %eax
 *		call	hex32
 *		mov	$' ', %al
 *		outb	%al, %dx
 *		mov	0x218(%rsi), %edi
 *		call	puts
 *	1:	mov	$'\n', %al
 *		outb	%al, %dx
 *		xor	%ebx, %ebx
 *	fail:	mov	%bl, %al
 *		mov	$0x501, %dx
 *		outb	%al, %dx
 *	2:	hlt
 *		jmp	2b
 *	puts:	mov	(%rdi), %al
 *		test	%al, %al
 *		jz	1f
 *		outb	%al, %dx
 *		inc	%rdi
 *		jmp	puts
 *	1:	ret
 *	hex32:	mov	%eax, %edi
 *		mov	$8, %ecx
 *	1:	rol	$4, %edi
 *		mov	%edi, %eax
 *		and	$0xf, %eax
 *		add	$'0', %al
 *		cmp	$'9', %al
 *		jbe	2f
 *		add	$('a' - '9' - 1), %al
 *	2:	outb	%al, %dx
 *		loop	1b
 *		ret
 *	s_cmdline:	.asciz	"cmdline="
 *	s_e820:		.asciz	"\ne820="
 *	s_mp:		.asciz	" mp="
 *	s_load:		.asciz	" load="
 *	s_initrd:	.asciz	" initrd="
 */
static const uint8_t t_guest_bz64[] = {
	0xb3, 0x01, 0x48, 0x81, 0xfe, 0x00, 0x70, 0x00, 0x00, 0x0f, 0x85, 0xc2,
	0x00, 0x00, 0x00, 0xb3, 0x02, 0x80, 0xbe, 0x10, 0x02, 0x00, 0x00, 0xff,
	0x0f, 0x85, 0xb3, 0x00, 0x00, 0x00, 0xb3, 0x03, 0x66, 0x8c, 0xc8, 0x66,
	0x83, 0xf8, 0x10, 0x0f, 0x85, 0xa4, 0x00, 0x00, 0x00, 0x66, 0xba, 0xf8,
	0x03, 0x48, 0x8d, 0x3d, 0xcb, 0x00, 0x00, 0x00, 0xe8, 0x9e, 0x00, 0x00,
	0x00, 0x8b, 0xbe, 0x28, 0x02, 0x00, 0x00, 0xe8, 0x93, 0x00, 0x00, 0x00,
	0x48, 0x8d, 0x3d, 0xbd, 0x00, 0x00, 0x00, 0xe8, 0x87, 0x00, 0x00, 0x00,
	0x0f, 0xb6, 0x86, 0xe8, 0x01, 0x00, 0x00, 0xe8, 0x88, 0x00, 0x00, 0x00,
	0x48, 0x8d, 0x3d, 0xac, 0x00, 0x00, 0x00, 0xe8, 0x6f, 0x00, 0x00, 0x00,
	0x8b, 0x04, 0x25, 0x00, 0x00, 0x0f, 0x00, 0xe8, 0x70, 0x00, 0x00, 0x00,
	0x48, 0x8d, 0x3d, 0x99, 0x00, 0x00, 0x00, 0xe8, 0x57, 0x00, 0x00, 0x00,
	0x8b, 0x86, 0x14, 0x02, 0x00, 0x00, 0xe8, 0x59, 0x00, 0x00, 0x00, 0x8b,
	0x8e, 0x1c, 0x02, 0x00, 0x00, 0x85, 0xc9, 0x74, 0x33, 0x48, 0x8d, 0x3d,
	0x7f, 0x00, 0x00, 0x00, 0xe8, 0x36, 0x00, 0x00, 0x00, 0x8b, 0x86, 0x18,
	0x02, 0x00, 0x00, 0xe8, 0x38, 0x00, 0x00, 0x00, 0xb0, 0x20, 0xee, 0x8b,
	0x86, 0x1c, 0x02, 0x00, 0x00, 0xe8, 0x2a, 0x00, 0x00, 0x00, 0xb0, 0x20,
	0xee, 0x8b, 0xbe, 0x18, 0x02, 0x00, 0x00, 0xe8, 0x0f, 0x00, 0x00, 0x00,
	0xb0, 0x0a, 0xee, 0x31, 0xdb, 0x88, 0xd8, 0x66, 0xba, 0x01, 0x05, 0xee,
	0xf4, 0xeb, 0xfd, 0x8a, 0x07, 0x84, 0xc0, 0x74, 0x06, 0xee, 0x48, 0xff,
	0xc7, 0xeb, 0xf4, 0xc3, 0x89, 0xc7, 0xb9, 0x08, 0x00, 0x00, 0x00, 0xc1,
	0xc7, 0x04, 0x89, 0xf8, 0x83, 0xe0, 0x0f, 0x04, 0x30, 0x3c, 0x39, 0x76,
	0x02, 0x04, 0x27, 0xee, 0xe2, 0xed, 0xc3, 0x63, 0x6d, 0x64, 0x6c, 0x69,
	0x6e, 0x65, 0x3d, 0x00, 0x0a, 0x65, 0x38, 0x32, 0x30, 0x3d, 0x00, 0x20,
	0x6d, 0x70, 0x3d, 0x00, 0x20, 0x6c, 0x6f, 0x61, 0x64, 0x3d, 0x00, 0x20,
	0x69, 0x6e, 0x69, 0x74, 0x72, 0x64, 0x3d, 0x00,
};

/*
 * A raw long-mode guest at 0x200000 that counts its boots in RAM the
 * kernel image does not cover (0x300000) and prints "boot N".  The first
 * time it then spoils its own message (a reset that did not load the
 * image again would print "Xoot 2") and waits to be reset; the second
 * time it ends through debug-exit.
 * Assembled with gcc -c, then objcopy -O binary, from:
 *
 *		.code64
 *	start:
 *		incl	0x300000
 *		mov	0x300000, %ebx
 *		lea	msg(%rip), %rsi
 *		mov	$0x3f8, %dx
 *	1:	lodsb
 *		test	%al, %al
 *		jz	2f
 *		outb	%al, %dx
 *		jmp	1b
 *	2:	mov	%bl, %al
 *		add	$'0', %al
 *		outb	%al, %dx
 *		mov	$'\n', %al
 *		outb	%al, %dx
 *		cmp	$1, %ebx
 *		jne	3f
 *		movb	$'X', msg(%rip)
 *	5:	pause
 *		jmp	5b
 *	3:	xor	%eax, %eax
 *		mov	$0x501, %dx
 *		outb	%al, %dx
 *	4:	hlt
 *		jmp	4b
 *	msg:	.asciz	"boot "
 */
static const uint8_t t_guest_raw_reset[] = {
	0xff, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0x8b, 0x1c, 0x25, 0x00, 0x00,
	0x30, 0x00, 0x48, 0x8d, 0x35, 0x2e, 0x00, 0x00, 0x00, 0x66, 0xba, 0xf8,
	0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0x88, 0xd8, 0x04,
	0x30, 0xee, 0xb0, 0x0a, 0xee, 0x83, 0xfb, 0x01, 0x75, 0x0b, 0xc6, 0x05,
	0x0e, 0x00, 0x00, 0x00, 0x58, 0xf3, 0x90, 0xeb, 0xfc, 0x31, 0xc0, 0x66,
	0xba, 0x01, 0x05, 0xee, 0xf4, 0xeb, 0xfd, 0x62, 0x6f, 0x6f, 0x74, 0x20,
	0x00,
};

/* ------------------------------------------------------------------------ */
/* boot_load on a VM without KVM: RAM in a buffer, images in real files. */

#define T_FILES_MAX		64

static char t_dir[64];
static char t_files[T_FILES_MAX][128];
static unsigned int t_nfiles;

/* Write a file in the test directory; the path stays valid. */
static const char *
t_file(const char *name, const void *data, size_t len)
{
	char *path;
	FILE *f;

	assert_true(t_nfiles < T_FILES_MAX);
	path = t_files[t_nfiles++];
	snprintf(path, sizeof(t_files[0]), "%s/%s", t_dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	if ((len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		fail_msg("%s: write failed", path);
	return path;
}

/* A built file (a guest image) into buf: its length. */
static size_t
t_read_file(const char *path, uint8_t *buf, size_t cap)
{
	size_t len;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("%s: %s (built by make)", path, strerror(errno));
	len = fread(buf, 1, cap, f);
	fclose(f);
	assert_true(len > 0 && len < cap);
	return len;
}

static int
t_setup_dir(void **state)
{
	snprintf(t_dir, sizeof(t_dir), "/tmp/vmmboot.XXXXXX");
	return mkdtemp(t_dir) == NULL ? -1 : 0;
}

/* The files written, and what a worker left in its run directory. */
static int
t_teardown_dir(void **state)
{
	struct dirent *de;
	char path[256];
	unsigned int i;
	DIR *d;

	for (i = 0; i < t_nfiles; i++)
		(void)unlink(t_files[i]);
	t_nfiles = 0;
	snprintf(path, sizeof(path), "%s/vm", t_dir);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				(void)unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
		(void)rmdir(path);
	}
	return rmdir(t_dir);
}

struct t_vm {
	struct vm vm;
	struct vmdef def;
	uint8_t *ram;
};

static struct t_vm tv;

static void
t_vm_init(uint64_t mib, enum vmdef_loader loader, const char *kernel)
{
	memset(&tv, 0, sizeof(tv));
	tv.def.name = "t";
	tv.def.vcpus = 1;
	tv.def.memory_mib = mib;
	tv.def.loader = loader;
	tv.def.kernel = (char *)(uintptr_t)kernel;
	tv.ram = malloc(mib * MIB);
	assert_non_null(tv.ram);
	/* Not zero: what the loaders must clear shows. */
	memset(tv.ram, 0x5a, mib * MIB);
	tv.vm.def = &tv.def;
	tv.vm.ram[0].gpa = 0;
	tv.vm.ram[0].size = mib * MIB;
	tv.vm.ram[0].hva = tv.ram;
	tv.vm.nram = 1;
	tv.vm.ram_total = mib * MIB;
	tv.vm.kernel_fd = open(kernel, O_RDONLY | O_CLOEXEC);
	assert_true(tv.vm.kernel_fd >= 0);
	tv.vm.initrd_fd = -1;
	err[0] = '\0';
}

static void
t_vm_initrd(const char *path)
{
	tv.def.initrd = (char *)(uintptr_t)path;
	tv.vm.initrd_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(tv.vm.initrd_fd >= 0);
}

static void
t_vm_fini(void)
{
	close(tv.vm.kernel_fd);
	if (tv.vm.initrd_fd >= 0)
		close(tv.vm.initrd_fd);
	free(tv.ram);
	tv.ram = NULL;
}

static void
test_boot_load_multiboot(void **state)
{
	static uint8_t img[0x4000], copy[0x3000];
	const char *path = WT_GUEST("mb_hello");
	size_t len;
	uint32_t entry, bss_end;

	len = t_read_file(path, img, sizeof(img));
	entry = (uint32_t)t_get(img + 4 + 28, 4);
	bss_end = (uint32_t)t_get(img + 4 + 24, 4);
	assert_int_equal(t_get(img + 4, 4), MB_HEADER_MAGIC);

	t_vm_init(16, VMDEF_LOADER_AUTO, path);
	tv.def.cmdline = "a b c";
	assert_int_equal(boot_load(&tv.vm, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(tv.vm.boot.mode, VMDEF_MODE_PROTECTED);
	assert_int_equal(tv.vm.boot.rip, entry);
	assert_int_equal(tv.vm.boot.rsp, BOOT_STACK_TOP);
	assert_int_equal(tv.vm.boot.rax, MB_BOOT_MAGIC);
	assert_int_equal(tv.vm.boot.rbx, MB_INFO_GPA);
	assert_memory_equal(tv.ram + 0x1000, img, len);
	assert_int_equal(tv.ram[0x1000 + len], 0);		/* bss */
	assert_int_equal(tv.ram[bss_end - 1], 0);
	assert_int_equal(tv.ram[bss_end], 0x5a);		/* untouched */
	assert_int_equal(t_get(tv.ram + MB_INFO_GPA, 4), 0x24d);
	assert_string_equal((char *)tv.ram + MB_CMDLINE_GPA, "a b c");
	assert_int_equal(tv.ram[BOOT_MPTABLE], 0x5a);		/* no irqchip */

	/* A reset loads everything again over what the guest left. */
	assert_true(bss_end - 0x1000 <= sizeof(copy));
	memcpy(copy, tv.ram + 0x1000, bss_end - 0x1000);
	memset(tv.ram, 0x77, 0x30000);
	assert_int_equal(boot_load(&tv.vm, err, sizeof(err)), 0);
	assert_memory_equal(tv.ram + 0x1000, copy, bss_end - 0x1000);
	assert_int_equal(t_get(tv.ram + MB_INFO_GPA, 4), 0x24d);
	assert_string_equal((char *)tv.ram + MB_CMDLINE_GPA, "a b c");
	t_vm_fini();
}

static void
test_boot_load_linux(void **state)
{
	static uint8_t bz[T_BZ_CAP];
	const uint8_t *zp, *mp;
	const char *kpath, *ipath;
	size_t len;

	len = t_bz(bz, t_guest_bz64, sizeof(t_guest_bz64));
	kpath = t_file("bzimage", bz, len);
	ipath = t_file("initrd", "initrd-bytes!", 13);
	t_vm_init(32, VMDEF_LOADER_AUTO, kpath);
	t_vm_initrd(ipath);
	tv.def.cmdline = "root=/dev/vda";
	tv.def.irqchip = true;
	tv.def.vcpus = 2;
	tv.vm.nmmio = 2;
	assert_int_equal(boot_load(&tv.vm, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(tv.vm.boot.mode, VMDEF_MODE_LONG);
	assert_int_equal(tv.vm.boot.rip, 0x1000200);
	assert_int_equal(tv.vm.boot.rsi, BOOT_ZERO_PAGE);
	assert_int_equal(tv.vm.boot.rsp, BOOT_STACK_TOP);
	assert_memory_equal(tv.ram + 0x1000000, bz + T_BZ_SETUP,
	    len - T_BZ_SETUP);
	assert_string_equal((char *)tv.ram + BOOT_CMDLINE, "root=/dev/vda "
	    "virtio_mmio.device=512@0xd0000000:5 "
	    "virtio_mmio.device=512@0xd0001000:6");
	assert_memory_equal(tv.ram + 0x1fff000, "initrd-bytes!", 13);

	zp = tv.ram + BOOT_ZERO_PAGE;
	assert_int_equal(zp[LINUX_TYPE_OF_LOADER], 0xff);
	assert_int_equal(t_get(zp + LINUX_CODE32_START, 4), 0x1000000);
	assert_int_equal(t_get(zp + LINUX_CMD_LINE_PTR, 4), BOOT_CMDLINE);
	assert_int_equal(t_get(zp + LINUX_RAMDISK_IMAGE, 4), 0x1fff000);
	assert_int_equal(t_get(zp + LINUX_RAMDISK_SIZE, 4), 13);
	assert_int_equal(zp[LINUX_ZP_E820_ENTRIES], 3);
	assert_int_equal(zp[0], 0);

	mp = tv.ram + BOOT_MPTABLE;
	assert_memory_equal(mp, "_MP_", 4);
	assert_int_equal(t_sum(mp, 16), 0);
	/* 2 processors, bus, IOAPIC, 16 I/O (GSIs 5, 6 are ISA), 2 local. */
	assert_int_equal(t_get(mp + 16 + 34, 2), 22);
	assert_int_equal(t_sum(mp + 16, t_get(mp + 16 + 4, 2)), 0);
	t_vm_fini();
}

/* The test guests' place, 0x1000, is free in every mode. */
static void
test_boot_load_raw_low(void **state)
{
	static const enum vmdef_mode modes[] = { VMDEF_MODE_REAL,
	    VMDEF_MODE_PROTECTED, VMDEF_MODE_LONG };
	static uint8_t code[0x6000];
	const char *path;
	size_t i;

	memset(code, 0xf4, sizeof(code));
	path = t_file("raw_low", code, sizeof(code));
	for (i = 0; i < 3; i++) {
		t_vm_init(1, VMDEF_LOADER_RAW, path);
		tv.def.mode = modes[i];
		tv.def.load_address = tv.def.entry = 0x1000;
		assert_int_equal(boot_load(&tv.vm, err, sizeof(err)), 0);
		assert_int_equal(tv.vm.boot.mode, modes[i]);
		assert_int_equal(tv.vm.boot.rip, 0x1000);
		assert_int_equal(tv.vm.boot.cs_real, 0);
		assert_memory_equal(tv.ram + 0x1000, code, sizeof(code));
		t_vm_fini();
	}
}

static void
test_boot_load_elf(void **state)
{
	static uint8_t buf[T_ELF_CAP];
	const char *path;
	size_t len;

	len = t_elf64(buf);
	path = t_file("elf64", buf, len);
	t_vm_init(16, VMDEF_LOADER_AUTO, path);
	assert_int_equal(boot_load(&tv.vm, err, sizeof(err)), 0);
	assert_int_equal(tv.vm.boot.mode, VMDEF_MODE_LONG);
	assert_int_equal(tv.vm.boot.rip, 0x100010);
	assert_memory_equal(tv.ram + 0x100000, buf + 0x1000, 0x100);
	assert_int_equal(tv.ram[0x100100], 0);
	assert_int_equal(tv.ram[0x101fff], 0);
	assert_int_equal(tv.ram[0x102000], 0x5a);
	assert_memory_equal(tv.ram + 0x200000, buf + 0x1200, 0x80);
	t_vm_fini();

	len = t_elf32(buf);
	path = t_file("elf32", buf, len);
	t_vm_init(16, VMDEF_LOADER_ELF, path);
	assert_int_equal(boot_load(&tv.vm, err, sizeof(err)), 0);
	assert_int_equal(tv.vm.boot.mode, VMDEF_MODE_PROTECTED);
	assert_int_equal(tv.vm.boot.rip, 0x100004);
	assert_int_equal(tv.vm.boot.rax, 0);
	t_vm_fini();
}

/* Which image a boot_load error case starts from. */
enum t_kind { T_GARBAGE, T_ELF64, T_BZ, T_MB_LOW };

struct t_load_case {
	const char *name;
	enum t_kind kind;
	enum vmdef_loader loader;
	uint64_t mib;
	enum vmdef_mode mode;		/* raw */
	uint64_t load;			/* raw */
	bool irqchip;
	size_t initrd;			/* bytes; 0: none */
	uint32_t cmdline_size;		/* bzImage; 0: keep */
	int error;
	bool about_initrd;		/* the message names the initrd */
	const char *msg;		/* %s: the file's path */
};

static const struct t_load_case t_load_cases[] = {
	{ "auto, unknown", T_GARBAGE, VMDEF_LOADER_AUTO, 16, 0, 0, false, 0,
	    0, -EINVAL, false, "kernel %s: not a bzImage, Multiboot kernel or "
	    "ELF file (a flat binary needs os.loader \"raw\" and a load "
	    "address)" },
	{ "linux, ELF", T_ELF64, VMDEF_LOADER_LINUX, 16, 0, 0, false, 0, 0,
	    -EINVAL, false, "kernel %s: not a bzImage (no \"HdrS\" setup "
	    "header at offset 0x202)" },
	{ "multiboot, ELF", T_ELF64, VMDEF_LOADER_MULTIBOOT, 16, 0, 0, false,
	    0, 0, -EINVAL, false, "kernel %s: no Multiboot header (magic "
	    "0x1badb002 with a valid checksum) in the first 8192 bytes" },
	{ "elf, bzImage", T_BZ, VMDEF_LOADER_ELF, 32, 0, 0, false, 0, 0,
	    -EINVAL, false, "kernel %s: not an ELF file (no \\177ELF magic)" },
	{ "raw, initrd", T_GARBAGE, VMDEF_LOADER_RAW, 16, VMDEF_MODE_LONG,
	    0x200000, false, 16, 0, -EINVAL, true, "initrd %s: the raw loader "
	    "takes no initrd (linux and multiboot do)" },
	{ "elf, initrd", T_ELF64, VMDEF_LOADER_ELF, 16, 0, 0, false, 16, 0,
	    -EINVAL, true, "initrd %s: the elf loader takes no initrd (linux "
	    "and multiboot do)" },
	{ "raw over the page tables", T_GARBAGE, VMDEF_LOADER_RAW, 16,
	    VMDEF_MODE_LONG, 0xef00, false, 0, 0, -EINVAL, false,
	    "kernel %s: the image [0xef00, 0xf000) overlaps the boot page "
	    "tables [0x9000, 0xf000)" },
	{ "raw over the stack", T_GARBAGE, VMDEF_LOADER_RAW, 16,
	    VMDEF_MODE_PROTECTED, 0x7800, false, 0, 0, -EINVAL, false,
	    "kernel %s: the image [0x7800, 0x7900) overlaps the boot stack "
	    "[0x7000, 0x8000)" },
	{ "raw over the GDT", T_GARBAGE, VMDEF_LOADER_RAW, 16,
	    VMDEF_MODE_PROTECTED, 0x480, false, 0, 0, -EINVAL, false,
	    "kernel %s: the image [0x480, 0x580) overlaps the boot GDT "
	    "[0x500, 0x520)" },

	{ "raw real mode over the MP table", T_GARBAGE, VMDEF_LOADER_RAW, 16,
	    VMDEF_MODE_REAL, 0xf0000, true, 0, 0, -EINVAL, false,
	    "kernel %s: the image [0xf0000, 0xf0100) overlaps the MP table "
	    "[0xf0000, 0x100000)" },
	{ "raw beyond RAM", T_GARBAGE, VMDEF_LOADER_RAW, 16, VMDEF_MODE_LONG,
	    0x1000000, false, 0, 0, -EINVAL, false, "kernel %s: the image "
	    "[0x1000000, 0x1000100) is outside guest RAM ([0x0, 0x1000000))" },
	{ "ELF beyond RAM", T_ELF64, VMDEF_LOADER_AUTO, 1, 0, 0, false, 0, 0,
	    -EINVAL, false, "kernel %s: ELF program header 0 [0x100000, "
	    "0x102000) is outside guest RAM ([0x0, 0x100000))" },
	{ "Multiboot over its information", T_MB_LOW, VMDEF_LOADER_AUTO, 16,
	    0, 0, false, 0, 0, -EINVAL, false, "kernel %s: the Multiboot "
	    "image [0x6000, 0x7000) overlaps the Multiboot information and "
	    "boot stack [0x6000, 0x8000)" },
	{ "command line too long", T_BZ, VMDEF_LOADER_LINUX, 32, 0, 0, false,
	    0, 10, -E2BIG, false, "kernel %s: the command line with 2 "
	    "virtio-mmio devices does not fit the kernel's cmdline_size of 10 "
	    "bytes" },
	{ "initrd too big", T_BZ, VMDEF_LOADER_LINUX, 17, 0, 0, false,
	    0x100000, 0, -EINVAL, true, "initrd %s: 0x100000 bytes do not fit "
	    "in guest RAM between the kernel (ending at 0x1020000) and "
	    "0x1100000" },
};

/* msg with its "%s" replaced by path (messages are data, not formats). */
static void
t_subst(char *buf, size_t len, const char *msg, const char *path)
{
	const char *at = strstr(msg, "%s");

	assert_non_null(at);
	snprintf(buf, len, "%.*s%s%s", (int)(at - msg), msg, path, at + 2);
}

static const char *
t_case_kernel(const struct t_load_case *c)
{
	static uint8_t buf[T_ELF_CAP];
	struct t_mb h = { T_MB_K, 0x6020, 0x6000, 0x6200, 0x7000, 0x6040 };
	size_t len = 0x100;

	memset(buf, 0x90, sizeof(buf));
	if (c->kind == T_ELF64)
		len = t_elf64(buf);
	else if (c->kind == T_BZ)
		len = t_bz(buf, NULL, 0);
	else if (c->kind == T_MB_LOW)
		len = t_mb_image(buf, &h);
	if (c->cmdline_size != 0)
		t_put(buf + LINUX_CMDLINE_SIZE, 4, c->cmdline_size);
	return t_file(c->name, buf, len);
}

static void
test_boot_load_errors(void **state)
{
	static uint8_t initrd[0x100000];
	const struct t_load_case *c;
	const char *kpath, *ipath = NULL;
	char want[1024];
	size_t i;
	int error;

	for (i = 0; i < sizeof(t_load_cases) / sizeof(t_load_cases[0]); i++) {
		c = &t_load_cases[i];
		kpath = t_case_kernel(c);
		t_vm_init(c->mib, c->loader, kpath);
		if (c->initrd != 0) {
			ipath = t_file("an initrd", initrd, c->initrd);
			t_vm_initrd(ipath);
		}
		tv.def.mode = c->mode;
		tv.def.load_address = tv.def.entry = c->load;
		tv.def.irqchip = c->irqchip;
		tv.vm.nmmio = 2;
		error = boot_load(&tv.vm, err, sizeof(err));
		t_subst(want, sizeof(want), c->msg,
		    c->about_initrd ? ipath : kpath);
		t_vm_fini();
		if (error != c->error || strcmp(err, want) != 0)
			fail_msg("case \"%s\": %d \"%s\", expected %d \"%s\"",
			    c->name, error, err, c->error, want);
		unlink(kpath);
	}
}

/* A file that shrinks under the loader is an I/O error, not a crash. */
static void
test_src_fd(void **state)
{
	static uint8_t data[0x2000], back[0x2000];
	struct loader_src src;
	const char *path;
	int fd;

	memset(data, 0x42, sizeof(data));
	path = t_file("shrinking", data, sizeof(data));
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(loader_src_fd(&src, T_WHAT, fd, err, sizeof(err)), 0);
	assert_int_equal(src.size, sizeof(data));
	assert_int_equal(loader_read(&src, 0x1000, back, 0x1000, err,
	    sizeof(err)), 0);
	assert_memory_equal(back, data, 0x1000);
	assert_int_equal(loader_read(&src, 0x1800, back, 0x1000, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, T_WHAT ": read of 0x1000 bytes at offset "
	    "0x1800 ends beyond the file (0x2000 bytes)");
	assert_int_equal(ftruncate(fd, 0x1000), 0);
	assert_int_equal(loader_read(&src, 0x800, back, 0x1000, err,
	    sizeof(err)), -EIO);
	assert_string_equal(err, T_WHAT ": read at offset 0x1000: the file "
	    "shrank");
	close(fd);
	assert_int_equal(loader_src_fd(&src, T_WHAT, -1, err, sizeof(err)),
	    -EIO);
	assert_string_equal(err, T_WHAT ": cannot find the size: Bad file "
	    "descriptor");
}

/* ------------------------------------------------------------------------ */
/* The real worker on KVM. */

/*
 * Run the worker on the definition printed from fmt and check its exit
 * status and console output (exact) or, for a setup failure, that its
 * log holds the line expected.
 */
static void
t_run(int status, const char *console, const char *logline,
    const char *fmt, ...)
{
	struct wt_proc p;
	char json[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
	wt_run(&p, json, T_TIMEOUT_MS);
	if (p.status != status || strcmp(p.console, console) != 0 ||
	    (logline != NULL && strstr(p.log, logline) == NULL)) {
		print_error("definition: %s\nstatus %d, expected %d\n"
		    "console:\n%s\nexpected:\n%s\nlog:\n%s\n", json, p.status,
		    status, p.console, console, p.log);
		wt_cleanup(&p);
		fail_msg("unexpected outcome");
	}
	wt_cleanup(&p);
}

#define T_DEBUG_EXIT_0		WORKER_DEBUG_EXIT_BASE

static void
test_worker_multiboot(void **state)
{
	wt_require_worker();
	t_run(T_DEBUG_EXIT_0,
	    "multiboot eax=2badb002 flags=0000024d\n"
	    "mem lower=00000280 upper=00003c00\n"
	    "cmdline console=ttyS0 hello=world\n"
	    "mods 00000000\n"
	    "mmap 0000000000000000 00000000000a0000 00000001\n"
	    "mmap 0000000000100000 0000000000f00000 00000001\n"
	    "loader vmm-worker\n", NULL,
	    "{\"name\": \"mb\", \"memory\": {\"size_mib\": 16}, "
	    "\"os\": {\"kernel\": \"%s\", "
	    "\"cmdline\": \"console=ttyS0 hello=world\"}, "
	    "\"devices\": {\"debug_exit\": true}}", WT_GUEST("mb_hello"));
}

/* The ELF file, a module, the in-kernel irqchip (its MP table). */
static void
test_worker_multiboot_module(void **state)
{
	const char *ipath;
	char want[1024];

	wt_require_worker();
	ipath = t_file("module", "module-zero-data-0123456789", 27);
	snprintf(want, sizeof(want),
	    "multiboot eax=2badb002 flags=00000249\n"
	    "mem lower=00000280 upper=00007c00\n"
	    "mods 00000001\n"
	    "mod 01fff000 01fff01b %s module-zero-data\n"
	    "mmap 0000000000000000 00000000000a0000 00000001\n"
	    "mmap 00000000000f0000 0000000000010000 00000002\n"
	    "mmap 0000000000100000 0000000001f00000 00000001\n"
	    "loader vmm-worker\n", ipath);
	t_run(T_DEBUG_EXIT_0, want, NULL,
	    "{\"name\": \"mb\", \"memory\": {\"size_mib\": 32}, "
	    "\"os\": {\"loader\": \"multiboot\", \"kernel\": \"%s\", "
	    "\"initrd\": \"%s\"}, \"features\": {\"irqchip\": true}, "
	    "\"devices\": {\"debug_exit\": true}}", WT_GUEST_ELF("mb_hello"),
	    ipath);
}

#define T_RAW_DEF							\
	"{\"name\": \"raw\", \"memory\": {\"size_mib\": 16}, "		\
	"\"os\": {\"loader\": \"raw\", \"kernel\": \"%s\", "		\
	"\"load_address\": \"%s\", \"entry\": \"%s\", \"mode\": \"%s\"}, "\
	"\"devices\": {\"debug_exit\": true}}"

/* A raw image run by the worker: where it loads, how it starts, its output. */
struct t_raw_case {
	const char *name;	/* the file's name; NULL: the guest at path */
	const uint8_t *image;
	size_t len;
	const char *path;
	const char *load, *entry, *mode;
	int status;
	const char *console;
};

static const struct t_raw_case t_raw_cases[] = {
	{ "raw_long", t_guest_raw_long, sizeof(t_guest_raw_long), NULL,
	    "0x200000", "0x200000", "long", T_DEBUG_EXIT_0,
	    "long mode ok\n" },
	{ "raw_prot", t_guest_raw_prot, sizeof(t_guest_raw_prot), NULL,
	    "0x300000", "0x300000", "protected", T_DEBUG_EXIT_0,
	    "protected mode ok\n" },
	{ "raw_real", t_guest_raw_real, sizeof(t_guest_raw_real), NULL,
	    "0x10000", "0x10100", "real", T_DEBUG_EXIT_0, "real mode ok\n" },
	/* The demo guest, linked at 0x1000 and run as 0000:1000: it halts. */
	{ NULL, NULL, 0, WT_GUEST("hello"), "0x1000", "0x1000", "real", 0,
	    "Hello from a guest on libvmm (libnvmm API on KVM)\n" },
};

static void
test_worker_raw(void **state)
{
	const struct t_raw_case *c;
	const char *path;
	size_t i;

	wt_require_worker();
	for (i = 0; i < sizeof(t_raw_cases) / sizeof(t_raw_cases[0]); i++) {
		c = &t_raw_cases[i];
		path = c->name != NULL ? t_file(c->name, c->image, c->len) :
		    c->path;
		t_run(c->status, c->console, NULL, T_RAW_DEF, path, c->load,
		    c->entry, c->mode);
	}
}

static void
test_worker_bzimage(void **state)
{
	static uint8_t bz[T_BZ_CAP];
	const char *kpath, *ipath, *disk;

	wt_require_worker();
	kpath = t_file("bzimage", bz, t_bz(bz, t_guest_bz64,
	    sizeof(t_guest_bz64)));
	ipath = t_file("initrd", "initrd-bytes!", 13);
	disk = t_file("disk", bz, 4096);
	/* The disk and the rng take the first two virtio-mmio windows. */
	t_run(T_DEBUG_EXIT_0,
	    "cmdline=console=ttyS0 quiet "
	    "virtio_mmio.device=512@0xd0000000:5 "
	    "virtio_mmio.device=512@0xd0001000:6\n"
	    "e820=00000003 mp=5f504d5f load=01000000 "
	    "initrd=01fff000 0000000d initrd-bytes!\n", NULL,
	    "{\"name\": \"bz\", \"memory\": {\"size_mib\": 32}, "
	    "\"os\": {\"kernel\": \"%s\", \"initrd\": \"%s\", "
	    "\"cmdline\": \"console=ttyS0 quiet\"}, "
	    "\"features\": {\"irqchip\": true}, "
	    "\"devices\": {\"debug_exit\": true, \"rng\": true, "
	    "\"disks\": [{\"path\": \"%s\", \"readonly\": true}]}}",
	    kpath, ipath, disk);
}

/* An image the loader refuses: status 66 and the one line of the log. */
static void
test_worker_refused(void **state)
{
	static uint8_t elf[T_ELF_CAP];
	const char *path;
	char line[512];
	size_t len;

	wt_require_worker();
	path = t_file("raw_low", t_guest_raw_long, sizeof(t_guest_raw_long));
	snprintf(line, sizeof(line), "kernel %s: the image [0x9000, 0x%zx) "
	    "overlaps the boot page tables [0x9000, 0xf000)\n", path,
	    0x9000 + sizeof(t_guest_raw_long));
	t_run(worker_exit_status(WORKER_EXIT_NOINPUT), "", line, T_RAW_DEF,
	    path, "0x9000", "0x9000", "long");

	/* An ELF64 file entered in long mode, loaded over its tables. */
	len = t_elf64(elf);
	t_put(elf + T_PH64_OFF(0, 24), 8, 0x9000);
	path = t_file("elf_low", elf, len);
	snprintf(line, sizeof(line), "kernel %s: ELF program header 0 "
	    "[0x9000, 0xb000) overlaps the boot page tables [0x9000, "
	    "0xf000)\n", path);
	t_run(worker_exit_status(WORKER_EXIT_NOINPUT), "", line,
	    "{\"name\": \"elf\", \"memory\": {\"size_mib\": 16}, "
	    "\"os\": {\"loader\": \"elf\", \"kernel\": \"%s\"}}", path);
}

/* One line from fd (at most len - 1 bytes, NUL-terminated), or fail. */
static void
t_readline(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t n = 0;
	char c;

	while (n + 1 < len) {
		if (poll(&pfd, 1, T_TIMEOUT_MS) != 1 || read(fd, &c, 1) != 1)
			fail_msg("control socket: no line (so far \"%.*s\")",
			    (int)n, buf);
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
}

/* Ask for a reset on the control socket at path: the reply says ok. */
static void
t_control_reset(const char *path)
{
	static const char req[] = "{\"cmd\": \"reset\"}\n";
	struct sockaddr_un sun;
	char line[1024];
	int fd, i;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	t_readline(fd, line, sizeof(line));		/* the handshake */
	assert_non_null(strstr(line, "\"event\":\"hello\""));
	assert_int_equal(write(fd, req, sizeof(req) - 1), sizeof(req) - 1);
	/* Events may come first; the reply carries "ok". */
	for (i = 0; i < 8; i++) {
		t_readline(fd, line, sizeof(line));
		if (strstr(line, "\"ok\"") != NULL)
			break;
	}
	if (strstr(line, "\"ok\":true") == NULL)
		fail_msg("reset: %s", line);
	close(fd);
}

/*
 * A reset asked for on the control socket, inside the sandbox (no -S
 * here): the worker ends with "reboot" (status 10) for its supervisor to
 * start the VM again, after the guest's first boot only.
 */
static void
test_worker_reset_sandboxed(void **state)
{
	static const char uuid[] = "0b007e57-1000-4000-8000-00000000b007";
	const char *argv[5], *kpath, *dpath;
	char json[1024], sock[256], vmdir[128];
	struct wt_proc p;

	wt_require_worker();
	kpath = t_file("raw_reset", t_guest_raw_reset,
	    sizeof(t_guest_raw_reset));
	snprintf(json, sizeof(json), "{\"name\": \"reset\", \"uuid\": \"%s\", "
	    "\"memory\": {\"size_mib\": 16}, \"os\": {\"loader\": \"raw\", "
	    "\"kernel\": \"%s\", \"load_address\": \"0x200000\", "
	    "\"mode\": \"long\"}, \"devices\": {\"debug_exit\": true}}", uuid,
	    kpath);
	dpath = t_file("reset.json", json, strlen(json));
	argv[0] = WT_WORKER;
	argv[1] = "-r";
	argv[2] = t_dir;
	argv[3] = dpath;
	argv[4] = NULL;
	snprintf(vmdir, sizeof(vmdir), "%s/vm", t_dir);
	snprintf(sock, sizeof(sock), "%s/%s.sock", vmdir, uuid);

	wt_spawn_argv(&p, json, argv);
	if (!wt_console_wait(&p, "boot 1\n", T_TIMEOUT_MS)) {
		(void)wt_wait(&p, 100);
		print_error("status %d\nconsole:\n%s\nlog:\n%s\n", p.status,
		    p.console != NULL ? p.console : "",
		    p.log != NULL ? p.log : "");
		wt_cleanup(&p);
		fail_msg("no first boot");
	}
	t_control_reset(sock);
	/* A sandboxed worker cannot remove its socket (no file system). */
	(void)unlink(sock);
	if (wt_wait(&p, T_TIMEOUT_MS) != 0 || p.status != 10 ||
	    strcmp(p.console, "boot 1\n") != 0 ||
	    strstr(p.log, "reset: reboot (status 10): reset requested") ==
	    NULL) {
		print_error("status %d\nconsole:\n%s\nlog:\n%s\n", p.status,
		    p.console, p.log);
		wt_cleanup(&p);
		fail_msg("the reset did not end the worker with reboot");
	}
	wt_cleanup(&p);
	(void)rmdir(vmdir);
}

/* ------------------------------------------------------------------------ */

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf64_valid),
		cmocka_unit_test(test_elf32_valid),
		cmocka_unit_test(test_elf_empty_segment),
		cmocka_unit_test(test_elf_malformed),
		cmocka_unit_test(test_elf_too_many_segments),
		cmocka_unit_test(test_mb_kludge_valid),
		cmocka_unit_test(test_mb_not_found),
		cmocka_unit_test(test_mb_malformed),
		cmocka_unit_test(test_mb_header_at_the_window_end),
		cmocka_unit_test(test_mb_elf),
		cmocka_unit_test(test_mb_info),
		cmocka_unit_test(test_linux_valid),
		cmocka_unit_test(test_linux_not_bzimage),
		cmocka_unit_test(test_linux_malformed),
		cmocka_unit_test(test_linux_place),
		cmocka_unit_test(test_linux_cmdline),
		cmocka_unit_test(test_linux_zero_page),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_mem_check),
		cmocka_unit_test(test_initrd_place),
		cmocka_unit_test(test_e820),
		cmocka_unit_test(test_mptable),
		cmocka_unit_test(test_gdt_page_tables),
		cmocka_unit_test(test_cpu_state_long),
		cmocka_unit_test(test_cpu_state_protected),
		cmocka_unit_test(test_cpu_state_real),
		cmocka_unit_test(test_parsers_mutated),
		cmocka_unit_test(test_boot_load_multiboot),
		cmocka_unit_test(test_boot_load_linux),
		cmocka_unit_test(test_boot_load_raw_low),
		cmocka_unit_test(test_boot_load_elf),
		cmocka_unit_test(test_boot_load_errors),
		cmocka_unit_test(test_src_fd),
		cmocka_unit_test(test_worker_multiboot),
		cmocka_unit_test(test_worker_multiboot_module),
		cmocka_unit_test(test_worker_raw),
		cmocka_unit_test(test_worker_bzimage),
		cmocka_unit_test(test_worker_refused),
		cmocka_unit_test(test_worker_reset_sandboxed),
	};

	return cmocka_run_group_tests(tests, t_setup_dir, t_teardown_dir);
}
