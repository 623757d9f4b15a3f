/*
 * compat_libnvmm.c: a program written for NetBSD's libnvmm, nothing else.
 * It includes only <nvmm.h> and system headers, links with -lnvmm, and
 * would build unchanged on NetBSD.  Its guest, in the NetBSD tests' style,
 * is assembled inside this file: real mode code that writes a byte to an
 * I/O port, reads one back, stores it into an MMIO register and halts.
 * Exit status 0 when every check holds.
 */

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <nvmm.h>

#define GUEST_RAM	0x10000
#define GUEST_CODE	0x1000
#define MMIO_GPA	0x20000

extern const uint8_t compat_guest[], compat_guest_end[];

__asm__(
	"	.pushsection .rodata\n"
	"	.code16\n"
	"compat_guest:\n"
	"	movb	$0x5a, %al\n"
	"	outb	%al, $0x42\n"		/* port 0x42 <- 0x5a */
	"	inb	$0x43, %al\n"		/* al <- port 0x43 */
	"	movw	$0x2000, %bx\n"
	"	movw	%bx, %ds\n"		/* DS base 0x20000: MMIO */
	"	movb	%al, 0x10\n"		/* MMIO 0x20010 <- al */
	"	movw	0x20, %cx\n"		/* cx <- MMIO 0x20020 */
	"	hlt\n"
	"compat_guest_end:\n"
	"	.code64\n"
	"	.popsection\n");

static uint8_t port43 = 0xc3, mmio_byte;
static uint16_t mmio_word = 0xbeef;
static int nio, nmem;

static void
compat_io(struct nvmm_io *io)
{
	nio++;
	if (io->in && io->port == 0x43 && io->size == 1)
		io->data[0] = port43;
	else if (!io->in && io->port == 0x42 && io->data[0] != 0x5a)
		errx(1, "OUT 0x42 sent 0x%x, not 0x5a", io->data[0]);
}

static void
compat_mem(struct nvmm_mem *mem)
{
	nmem++;
	if (mem->write && mem->gpa == MMIO_GPA + 0x10 && mem->size == 1)
		mmio_byte = mem->data[0];
	else if (!mem->write && mem->gpa == MMIO_GPA + 0x20 && mem->size == 2)
		memcpy(mem->data, &mmio_word, 2);
	else
		errx(1, "unexpected MMIO gpa 0x%llx size %zu write %d",
		    (unsigned long long)mem->gpa, mem->size, mem->write);
}

static struct nvmm_assist_callbacks callbacks = {
	.io = compat_io,
	.mem = compat_mem,
};

int
main(void)
{
	struct nvmm_capability cap;
	struct nvmm_machine mach;
	struct nvmm_vcpu vcpu;
	uint8_t *ram;
	size_t len = (size_t)(compat_guest_end - compat_guest);

	if (nvmm_init() == -1)
		err(1, "nvmm_init");
	if (nvmm_capability(&cap) == -1)
		err(1, "nvmm_capability");
	if (cap.version != NVMM_KERN_VERSION || NVMM_USER_VERSION < 2)
		errx(1, "unexpected versions");
	if (nvmm_machine_create(&mach) == -1)
		err(1, "nvmm_machine_create");
	ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_PRIVATE, -1, 0);
	if (ram == MAP_FAILED)
		err(1, "mmap");
	if (nvmm_hva_map(&mach, (uintptr_t)ram, GUEST_RAM) == -1)
		err(1, "nvmm_hva_map");
	if (nvmm_gpa_map(&mach, (uintptr_t)ram, 0, GUEST_RAM,
	    PROT_READ | PROT_WRITE | PROT_EXEC) == -1)
		err(1, "nvmm_gpa_map");
	memcpy(ram + GUEST_CODE, compat_guest, len);

	if (nvmm_vcpu_create(&mach, 0, &vcpu) == -1)
		err(1, "nvmm_vcpu_create");
	if (nvmm_vcpu_configure(&mach, &vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &callbacks) == -1)
		err(1, "nvmm_vcpu_configure");
	if (nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_ALL) == -1)
		err(1, "nvmm_vcpu_getstate");
	vcpu.state->segs[NVMM_X64_SEG_CS].selector = 0;
	vcpu.state->segs[NVMM_X64_SEG_CS].base = 0;
	vcpu.state->gprs[NVMM_X64_GPR_RIP] = GUEST_CODE;
	if (nvmm_vcpu_setstate(&mach, &vcpu, NVMM_X64_STATE_ALL) == -1)
		err(1, "nvmm_vcpu_setstate");

	for (;;) {
		if (nvmm_vcpu_run(&mach, &vcpu) == -1)
			err(1, "nvmm_vcpu_run");
		if (vcpu.exit->reason == NVMM_VCPU_EXIT_IO) {
			if (nvmm_assist_io(&mach, &vcpu) == -1)
				err(1, "nvmm_assist_io");
		} else if (vcpu.exit->reason == NVMM_VCPU_EXIT_MEMORY) {
			if (nvmm_assist_mem(&mach, &vcpu) == -1)
				err(1, "nvmm_assist_mem");
		} else if (vcpu.exit->reason == NVMM_VCPU_EXIT_HALTED) {
			break;
		} else if (vcpu.exit->reason != NVMM_VCPU_EXIT_NONE) {
			errx(1, "unexpected exit 0x%llx",
			    (unsigned long long)vcpu.exit->reason);
		}
	}
	if (nvmm_vcpu_getstate(&mach, &vcpu, NVMM_X64_STATE_GPRS) == -1)
		err(1, "nvmm_vcpu_getstate");
	if (mmio_byte != port43 ||
	    (vcpu.state->gprs[NVMM_X64_GPR_RCX] & 0xffff) != mmio_word ||
	    nio != 2 || nmem != 2)
		errx(1, "wrong results: mmio 0x%x cx 0x%llx io %d mem %d",
		    mmio_byte, (unsigned long long)
		    vcpu.state->gprs[NVMM_X64_GPR_RCX], nio, nmem);
	if (nvmm_vcpu_destroy(&mach, &vcpu) == -1)
		err(1, "nvmm_vcpu_destroy");
	if (nvmm_machine_destroy(&mach) == -1)
		err(1, "nvmm_machine_destroy");
	printf("compat_libnvmm: a NetBSD libnvmm program ran unchanged "
	    "(-lnvmm): 2 io, 2 mmio callbacks, results exact\n");
	return 0;
}
