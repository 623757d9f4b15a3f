/*
 * fuzz_loader.c: libFuzzer target for the boot loaders' parsers and
 * builders (vmmd/worker/loader.h): the input is a kernel image, and for
 * the initrd paths the initrd as well.  Nothing here touches KVM: guest
 * RAM is two host buffers (2 MiB at GPA 0, 1 MiB at 4 GiB), so every load
 * is a real copy that the sanitizers watch.  Besides not crashing, the
 * parsers' promises are checked: what they accept lies inside the file,
 * and every refusal comes with a message naming the image.
 * Seeds: tests/corpus/fuzz_loader/.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

#define FUZZ_LOW		(2U << 20)
#define FUZZ_HIGH		(1U << 20)
#define FUZZ_WHAT		"kernel fuzz"

/* A broken promise is a crash, which is what a fuzzer reports. */
#define FUZZ_CHECK(cond)	do { if (!(cond)) abort(); } while (0)

static uint8_t fuzz_low[FUZZ_LOW], fuzz_high[FUZZ_HIGH];
static struct vm_ram fuzz_ram[2];
static char err[512];
static size_t errlen;

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_mem(struct loader_mem *m)
{
	fuzz_ram[0].gpa = 0;
	fuzz_ram[0].size = FUZZ_LOW;
	fuzz_ram[0].hva = fuzz_low;
	fuzz_ram[1].gpa = VM_HIGH_RAM_START;
	fuzz_ram[1].size = FUZZ_HIGH;
	fuzz_ram[1].hva = fuzz_high;
	loader_mem_init(m, fuzz_ram, 2);
	loader_mem_reserve(m, BOOT_GDT, BOOT_PT_END, "boot area");
	loader_mem_reserve(m, BOOT_MPTABLE, LOADER_HIGH_MEM, "MP table");
}

/* An error is negative, and (unless a probe said "not mine") explained. */
static void
fuzz_error(int error)
{
	FUZZ_CHECK(error <= 0);
	if (error == 0 || error == -ENOENT)
		return;
	FUZZ_CHECK(strlen(err) < errlen);
	FUZZ_CHECK(strncmp(err, FUZZ_WHAT, errlen - 1 < 11 ? errlen - 1 :
	    11) == 0);
}

static void
fuzz_image(const struct loader_mem *m, const struct loader_src *src,
    const struct loader_image *img)
{
	unsigned int i;
	int error;

	FUZZ_CHECK(img->nseg >= 1 && img->nseg <= LOADER_SEG_MAX);
	for (i = 0; i < img->nseg; i++) {
		FUZZ_CHECK(img->seg[i].off <= src->size);
		FUZZ_CHECK(img->seg[i].filesz <= src->size - img->seg[i].off);
		FUZZ_CHECK(img->seg[i].filesz <= img->seg[i].memsz);
	}
	error = loader_image_check(m, src, img, err, errlen);
	fuzz_error(error);
	if (error == 0)
		fuzz_error(loader_image_load(m, src, img, err, errlen));
}

static void
fuzz_elf(const struct loader_mem *m, const struct loader_src *src)
{
	struct loader_image img;
	int error;

	(void)loader_elf_probe(src);
	error = loader_elf_parse(src, src->size % 2 == 0, &img, err, errlen);
	fuzz_error(error);
	if (error == 0)
		fuzz_image(m, src, &img);
}

static void
fuzz_multiboot(const struct loader_mem *m, const struct loader_src *src)
{
	static uint8_t page[MB_INFO_SIZE];
	struct loader_e820 map[LOADER_E820_MAX];
	struct loader_mb_boot b;
	struct loader_image img;
	struct loader_mb mb;
	uint64_t gpa = 0;
	int error;

	error = loader_mb_find(src, &mb, err, errlen);
	fuzz_error(error);
	if (error != 0)
		return;
	FUZZ_CHECK(mb.off % 4 == 0 && mb.off + 12 <= MB_SEARCH_LEN);
	error = loader_mb_image(src, &mb, &img, err, errlen);
	fuzz_error(error);
	if (error != 0)
		return;
	fuzz_image(m, src, &img);
	/* The image as its own module, placed above itself. */
	memset(&b, 0, sizeof(b));
	error = loader_initrd_place(m, src, loader_image_end(&img), 1ULL << 32,
	    &gpa, err, errlen);
	fuzz_error(error);
	if (error == 0) {
		FUZZ_CHECK(gpa % 4096 == 0 && gpa + src->size <= FUZZ_LOW);
		fuzz_error(loader_src_load(m, src, gpa, err, errlen));
		b.has_module = true;
		b.mod_start = (uint32_t)gpa;
		b.mod_end = (uint32_t)(gpa + src->size);
	}
	b.has_cmdline = mb.flags % 2 == 0;
	b.nmap = loader_e820(fuzz_ram, 2, (mb.flags & 2) != 0, map);
	b.map = map;
	loader_mb_info(&b, page);
}

static void
fuzz_linux_boot(const struct loader_mem *m, const struct loader_src *src,
    const struct loader_linux *lx)
{
	static const uint64_t base[] = { 0xd0000000, 0xd0001000 };
	static const unsigned int irq[] = { 5, 16 };
	static uint8_t zp[LINUX_ZP_SIZE];
	struct loader_e820 map[LOADER_E820_MAX];
	struct loader_linux_boot b;
	char cmdline[LINUX_CMDLINE_AREA];
	uint64_t floor;
	int error, len;

	memset(&b, 0, sizeof(b));
	error = loader_linux_place(lx, m, src, &b.load, &floor, err, errlen);
	fuzz_error(error);
	if (error != 0)
		return;
	FUZZ_CHECK(floor > b.load);
	len = loader_linux_cmdline("console=ttyS0", base, irq, 2,
	    lx->cmdline_size, cmdline, sizeof(cmdline));
	FUZZ_CHECK(len == -E2BIG || (len > 0 && (uint32_t)len <=
	    lx->cmdline_size && cmdline[len] == '\0'));
	error = loader_initrd_place(m, src, floor,
	    (uint64_t)lx->initrd_addr_max + 1, &b.initrd_gpa, err, errlen);
	fuzz_error(error);
	if (error == 0)
		b.initrd_size = src->size;
	b.cmdline_gpa = BOOT_CMDLINE;
	b.nmap = loader_e820(fuzz_ram, 2, true, map);
	b.map = map;
	loader_linux_zero_page(lx, &b, zp);
	FUZZ_CHECK(zp[LINUX_TYPE_OF_LOADER] == 0xff);
}

static void
fuzz_linux(const struct loader_mem *m, const struct loader_src *src)
{
	struct loader_linux lx;
	int error;

	error = loader_linux_parse(src, &lx, err, errlen);
	fuzz_error(error);
	if (error != 0)
		return;
	FUZZ_CHECK(lx.kernel_off + lx.kernel_size <= src->size);
	FUZZ_CHECK(lx.kernel_size > LINUX_ENTRY64_OFF);
	FUZZ_CHECK(lx.hdr_len <= sizeof(lx.hdr));
	FUZZ_CHECK(lx.version >= LINUX_XLF_VERSION);
	fuzz_linux_boot(m, src, &lx);
}

/* A raw image at an address and in a mode the input's first bytes pick. */
static void
fuzz_raw(const struct loader_mem *m, const struct loader_src *src,
    const uint8_t *data, size_t size)
{
	struct loader_image img;
	uint64_t load = 0;
	int error;

	if (size >= 8)
		memcpy(&load, data, sizeof(load));
	if (size > 0 && data[0] % 2 == 0)
		load &= 0x3fffff;	/* often near RAM */
	error = loader_raw_parse(src, load, load + size / 2,
	    (enum vmdef_mode)(size % 3), &img, err, errlen);
	fuzz_error(error);
	if (error == 0)
		fuzz_image(m, src, &img);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loader_src src;
	struct loader_mem m;

	/* Now and then a short message buffer: truncation stays in bounds. */
	errlen = size % 7 == 0 ? 16 : sizeof(err);
	fuzz_mem(&m);
	loader_src_buf(&src, FUZZ_WHAT, data, size);
	fuzz_elf(&m, &src);
	fuzz_multiboot(&m, &src);
	fuzz_linux(&m, &src);
	fuzz_raw(&m, &src, data, size);
	return 0;
}
