/*
 * test_io.c: IO exits and nvmm_assist_io(3).  Each case is a guest
 * (tests/guests/io_[rl]_*.S) made of one IN, OUT, INS or OUTS and a HLT;
 * the case sets the registers, runs the guest through the assists and
 * checks every IO exit (fields, RIP, npc), every io callback (port,
 * direction, size, bytes), the registers and the memory afterwards.  String
 * cases read and write RAM, or a fake MMIO device served by the mem
 * callback.  Then: the registers at the first IO exit of every case (the
 * instruction must not have run yet), and nvmm_assist_io's EINVAL after a
 * non-IO exit and on a second call for the same exit.  Needs /dev/kvm;
 * skips without it.
 */

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nvmm.h"
#include "vmtest.h"

/*
 * Guest memory.  Real-mode cases get RAM_REAL bytes of RAM, so that the
 * device can sit in the hole at DEV_REAL; 64-bit cases get RAM_LONG and
 * use DEV_LONG.
 */
#define RAM_REAL	0xA0000UL
#define RAM_LONG	(2UL << 20)
#define DEV_REAL	0xB8000ULL
#define DEV_LONG	0xC0000000ULL
#define DEV_SIZE	0x1000

/*
 * RAM contents every case starts with: SRC holds 0x40, 0x41, ... (the OUTS
 * source), FS_SRC holds 0x80, 0x81, ... (the source through an FS base of
 * FS_BASE), DECOY (where DS:SI of the FS cases points) holds 0xDD, and DST
 * (the INS destination) holds 0xEE.  The device's byte i is 0x10 + i.
 */
#define SRC		0x5000ULL
#define FS_BASE		0x4000ULL
#define FS_SRC		(FS_BASE + 0x200)
#define DECOY		0x200ULL
#define DST		0x6000ULL
#define PAT_LEN		0x40

/* Register values the cases start from. */
#define RAXP		0x1122334455667788ULL	/* OUT data */
#define ONES		0xFFFFFFFFFFFFFFFFULL	/* IN: shows what is kept */
#define RDXP		0xA5A5A5A5A5A51234ULL	/* port 0x1234 in DX */
#define PORT_IMM	0x10
#define PORT_DX		0x1234
#define IN_FIRST	0xC1		/* the first byte an IN returns */

#define LOG_MAX		2048
#define EXITS_MAX	64

enum io_mode {
	MODE_REAL,
	MODE_LONG,
};

struct io_regs {
	uint64_t rax, rcx, rdx, rsi, rdi;
};

/* One segment register a case changes after the mode setup. */
struct io_seg {
	bool on;
	int idx;			/* NVMM_X64_SEG_* */
	uint16_t sel;			/* real mode: base = sel << 4 */
	uint64_t base;			/* 64-bit mode */
};

/*
 * A case.  The guest is one I/O instruction at VMTEST_GUEST_BASE + at
 * followed by a one-byte HLT, so npc is VMTEST_GUEST_BASE + (end - code - 1).
 * Code before the I/O instruction (at > 0) sets up what the case needs.
 *
 * x is the IO exit every IO exit of the case must match; its npc is not
 * used, and its seg is checked for string I/O only (VMX defines the
 * segment only for INS/OUTS).  The assist may take several exits for one
 * REP instruction; a case with a zero count may take none; and when the
 * string memory is MMIO the I/O may be finished inside nvmm_assist_mem,
 * so those cases set exit_optional.
 *
 * log is every io callback in order, "o" or "i", the port in hex, ":",
 * the bytes in hex (so the size), separated by spaces.  IN callbacks
 * return IN_FIRST, IN_FIRST + 1, ... byte after byte.  win_bytes (hex,
 * spaces ignored) is what RAM or the device holds at win afterwards.
 */
struct io_case {
	const char *name;
	const uint8_t *code, *end;
	enum io_mode mode;
	uint8_t at;			/* offset of the I/O instruction */
	bool df;
	struct io_seg seg;
	gpaddr_t dev;			/* device base; 0: no MMIO expected */
	struct io_regs pre, post;
	struct nvmm_x86_exit_io x;
	bool exit_optional;
	const char *log;
	gpaddr_t win;			/* 0: no memory check */
	const char *win_bytes;
};

#define G(n)		guest_##n, guest_##n##_end
#define REGS(a, c, d, s, i)	{ (a), (c), (d), (s), (i) }
/* Non-string I/O in the given address size (the mode's). */
#define X_OUT(p, asz, osz)						\
	{ .in = false, .port = (p), .seg = -1, .address_size = (asz),	\
	  .operand_size = (osz) }
#define X_IN(p, asz, osz)						\
	{ .in = true, .port = (p), .seg = -1, .address_size = (asz),	\
	  .operand_size = (osz) }
/* String I/O, always through DX. */
#define X_OUTS(sg, asz, osz, rp)					\
	{ .in = false, .port = PORT_DX, .seg = NVMM_X64_SEG_##sg,	\
	  .address_size = (asz), .operand_size = (osz), .rep = (rp),	\
	  .str = true }
#define X_INS(asz, osz, rp)						\
	{ .in = true, .port = PORT_DX, .seg = NVMM_X64_SEG_ES,		\
	  .address_size = (asz), .operand_size = (osz), .rep = (rp),	\
	  .str = true }
#define SEG_REAL(s, v)	{ .on = true, .idx = NVMM_X64_SEG_##s, .sel = (v) }
#define SEG_LONG(s, b)	{ .on = true, .idx = NVMM_X64_SEG_##s,		\
			  .sel = VMTEST_SEL_DATA, .base = (b) }

/* The registers of non-string cases: RSI, RDI and RCX must not move. */
#define NS(a)		REGS((a), 5, RDXP, SRC, DST)

VMTEST_DECLARE_GUEST(io_r_outb_imm);
VMTEST_DECLARE_GUEST(io_r_outw_imm);
VMTEST_DECLARE_GUEST(io_r_outl_imm);
VMTEST_DECLARE_GUEST(io_r_outb_dx);
VMTEST_DECLARE_GUEST(io_r_outw_dx);
VMTEST_DECLARE_GUEST(io_r_outl_dx);
VMTEST_DECLARE_GUEST(io_r_inb_imm);
VMTEST_DECLARE_GUEST(io_r_inw_imm);
VMTEST_DECLARE_GUEST(io_r_inl_imm);
VMTEST_DECLARE_GUEST(io_r_inb_dx);
VMTEST_DECLARE_GUEST(io_r_inw_dx);
VMTEST_DECLARE_GUEST(io_r_inl_dx);
VMTEST_DECLARE_GUEST(io_r_outsb);
VMTEST_DECLARE_GUEST(io_r_outsw);
VMTEST_DECLARE_GUEST(io_r_outsl);
VMTEST_DECLARE_GUEST(io_r_insb);
VMTEST_DECLARE_GUEST(io_r_insw);
VMTEST_DECLARE_GUEST(io_r_insl);
VMTEST_DECLARE_GUEST(io_r_rep_outsb);
VMTEST_DECLARE_GUEST(io_r_rep_outsw);
VMTEST_DECLARE_GUEST(io_r_rep_outsl);
VMTEST_DECLARE_GUEST(io_r_rep_insb);
VMTEST_DECLARE_GUEST(io_r_rep_insw);
VMTEST_DECLARE_GUEST(io_r_rep_insl);
VMTEST_DECLARE_GUEST(io_r_fs_outsb);
VMTEST_DECLARE_GUEST(io_r_rep_fs_outsw);
VMTEST_DECLARE_GUEST(io_r_a32_outsb);
VMTEST_DECLARE_GUEST(io_l_outb_imm);
VMTEST_DECLARE_GUEST(io_l_outw_imm);
VMTEST_DECLARE_GUEST(io_l_outl_imm);
VMTEST_DECLARE_GUEST(io_l_outb_dx);
VMTEST_DECLARE_GUEST(io_l_outw_dx);
VMTEST_DECLARE_GUEST(io_l_outl_dx);
VMTEST_DECLARE_GUEST(io_l_inb_imm);
VMTEST_DECLARE_GUEST(io_l_inw_imm);
VMTEST_DECLARE_GUEST(io_l_inl_imm);
VMTEST_DECLARE_GUEST(io_l_inb_dx);
VMTEST_DECLARE_GUEST(io_l_inw_dx);
VMTEST_DECLARE_GUEST(io_l_inl_dx);
VMTEST_DECLARE_GUEST(io_l_outsb);
VMTEST_DECLARE_GUEST(io_l_outsw);
VMTEST_DECLARE_GUEST(io_l_outsl);
VMTEST_DECLARE_GUEST(io_l_insb);
VMTEST_DECLARE_GUEST(io_l_insw);
VMTEST_DECLARE_GUEST(io_l_insl);
VMTEST_DECLARE_GUEST(io_l_rep_outsb);
VMTEST_DECLARE_GUEST(io_l_rep_outsw);
VMTEST_DECLARE_GUEST(io_l_rep_outsl);
VMTEST_DECLARE_GUEST(io_l_rep_insb);
VMTEST_DECLARE_GUEST(io_l_rep_insw);
VMTEST_DECLARE_GUEST(io_l_rep_insl);
VMTEST_DECLARE_GUEST(io_l_fs_outsb);
VMTEST_DECLARE_GUEST(io_l_a32_rep_outsb);
VMTEST_DECLARE_GUEST(io_l_a32_rep_insw);
VMTEST_DECLARE_GUEST(io_l_outl_after_66);
VMTEST_DECLARE_GUEST(io_l_after_mmio);

static const struct io_case cases[] = {
	/* Real mode, IN and OUT: address size 2. */
	{ "real out imm8 byte", G(io_r_outb_imm), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_IMM, 2, 1), .log = "o10:88" },
	{ "real out imm8 word", G(io_r_outw_imm), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_IMM, 2, 2), .log = "o10:8877" },
	{ "real out imm8 dword", G(io_r_outl_imm), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_IMM, 2, 4), .log = "o10:88776655" },
	{ "real out dx byte", G(io_r_outb_dx), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_DX, 2, 1), .log = "o1234:88" },
	{ "real out dx word", G(io_r_outw_dx), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_DX, 2, 2), .log = "o1234:8877" },
	{ "real out dx dword", G(io_r_outl_dx), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_DX, 2, 4), .log = "o1234:88776655" },
	{ "real in imm8 byte (merged)", G(io_r_inb_imm), MODE_REAL,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFFFC1ULL),
	  .x = X_IN(PORT_IMM, 2, 1), .log = "i10:c1" },
	{ "real in imm8 word (merged)", G(io_r_inw_imm), MODE_REAL,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFC2C1ULL),
	  .x = X_IN(PORT_IMM, 2, 2), .log = "i10:c1c2" },
	{ "real in imm8 dword (zero-extended)", G(io_r_inl_imm), MODE_REAL,
	  .pre = NS(ONES), .post = NS(0x00000000C4C3C2C1ULL),
	  .x = X_IN(PORT_IMM, 2, 4), .log = "i10:c1c2c3c4" },
	{ "real in dx byte (merged)", G(io_r_inb_dx), MODE_REAL,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFFFC1ULL),
	  .x = X_IN(PORT_DX, 2, 1), .log = "i1234:c1" },
	{ "real in dx word (merged)", G(io_r_inw_dx), MODE_REAL,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFC2C1ULL),
	  .x = X_IN(PORT_DX, 2, 2), .log = "i1234:c1c2" },
	{ "real in dx dword (zero-extended)", G(io_r_inl_dx), MODE_REAL,
	  .pre = NS(ONES), .post = NS(0x00000000C4C3C2C1ULL),
	  .x = X_IN(PORT_DX, 2, 4), .log = "i1234:c1c2c3c4" },

	/* Real mode, INS and OUTS, one element: RCX stays 5. */
	{ "real outsb", G(io_r_outsb), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 1, DST),
	  .x = X_OUTS(DS, 2, 1, false), .log = "o1234:40" },
	{ "real outsw", G(io_r_outsw), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 2, DST),
	  .x = X_OUTS(DS, 2, 2, false), .log = "o1234:4041" },
	{ "real outsd", G(io_r_outsl), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 4, DST),
	  .x = X_OUTS(DS, 2, 4, false), .log = "o1234:40414243" },
	{ "real outsb DF=1", G(io_r_outsb), MODE_REAL, .df = true,
	  .pre = REGS(RAXP, 5, RDXP, SRC + 3, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 2, DST),
	  .x = X_OUTS(DS, 2, 1, false), .log = "o1234:43" },
	{ "real insb", G(io_r_insb), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST + 1),
	  .x = X_INS(2, 1, false), .log = "i1234:c1",
	  .win = DST, .win_bytes = "c1 ee ee ee" },
	{ "real insw", G(io_r_insw), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST + 2),
	  .x = X_INS(2, 2, false), .log = "i1234:c1c2",
	  .win = DST, .win_bytes = "c1c2 ee ee" },
	{ "real insd", G(io_r_insl), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST + 4),
	  .x = X_INS(2, 4, false), .log = "i1234:c1c2c3c4",
	  .win = DST, .win_bytes = "c1c2c3c4 ee" },
	{ "real insw DF=1", G(io_r_insw), MODE_REAL, .df = true,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST + 2),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST),
	  .x = X_INS(2, 2, false), .log = "i1234:c1c2",
	  .win = DST, .win_bytes = "eeee c1c2 ee" },

	/* Real mode, REP. */
	{ "real rep outsb x5", G(io_r_rep_outsb), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 5, DST),
	  .x = X_OUTS(DS, 2, 1, true),
	  .log = "o1234:40 o1234:41 o1234:42 o1234:43 o1234:44" },
	{ "real rep outsw x5", G(io_r_rep_outsw), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 10, DST),
	  .x = X_OUTS(DS, 2, 2, true),
	  .log = "o1234:4041 o1234:4243 o1234:4445 o1234:4647 o1234:4849" },
	{ "real rep outsd x5", G(io_r_rep_outsl), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 20, DST),
	  .x = X_OUTS(DS, 2, 4, true),
	  .log = "o1234:40414243 o1234:44454647 o1234:48494a4b "
	      "o1234:4c4d4e4f o1234:50515253" },
	{ "real rep insb x5", G(io_r_rep_insb), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 5),
	  .x = X_INS(2, 1, true),
	  .log = "i1234:c1 i1234:c2 i1234:c3 i1234:c4 i1234:c5",
	  .win = DST, .win_bytes = "c1c2c3c4c5 ee" },
	{ "real rep insw x5", G(io_r_rep_insw), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 10),
	  .x = X_INS(2, 2, true),
	  .log = "i1234:c1c2 i1234:c3c4 i1234:c5c6 i1234:c7c8 i1234:c9ca",
	  .win = DST, .win_bytes = "c1c2c3c4c5c6c7c8c9ca ee" },
	{ "real rep insd x5", G(io_r_rep_insl), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 20),
	  .x = X_INS(2, 4, true),
	  .log = "i1234:c1c2c3c4 i1234:c5c6c7c8 i1234:c9cacbcc "
	      "i1234:cdcecfd0 i1234:d1d2d3d4",
	  .win = DST,
	  .win_bytes = "c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4 ee" },
	{ "real rep outsb RCX=0", G(io_r_rep_outsb), MODE_REAL,
	  .pre = REGS(RAXP, 0, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST),
	  .x = X_OUTS(DS, 2, 1, true), .exit_optional = true, .log = "" },
	{ "real rep insd RCX=0", G(io_r_rep_insl), MODE_REAL,
	  .pre = REGS(RAXP, 0, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST),
	  .x = X_INS(2, 4, true), .exit_optional = true, .log = "",
	  .win = DST, .win_bytes = "ee ee ee ee" },
	{ "real rep outsw x3 DF=1", G(io_r_rep_outsw), MODE_REAL, .df = true,
	  .pre = REGS(RAXP, 3, RDXP, SRC + 4, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC - 2, DST),
	  .x = X_OUTS(DS, 2, 2, true),
	  .log = "o1234:4445 o1234:4243 o1234:4041" },
	{ "real rep insb x5 DF=1", G(io_r_rep_insb), MODE_REAL, .df = true,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST + 4),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST - 1),
	  .x = X_INS(2, 1, true),
	  .log = "i1234:c1 i1234:c2 i1234:c3 i1234:c4 i1234:c5",
	  .win = DST - 1, .win_bytes = "ee c5c4c3c2c1 ee" },
	/* A 16-bit address size uses and updates SI and CX only. */
	{ "real rep outsb x5 SI/CX only", G(io_r_rep_outsb), MODE_REAL,
	  .pre = REGS(RAXP, 0xFFFF000000000005ULL, RDXP,
	      0xDEAD000000AB0000ULL | SRC, DST),
	  .post = REGS(RAXP, 0xFFFF000000000000ULL, RDXP,
	      0xDEAD000000AB0000ULL | (SRC + 5), DST),
	  .x = X_OUTS(DS, 2, 1, true),
	  .log = "o1234:40 o1234:41 o1234:42 o1234:43 o1234:44" },
	{ "real fs outsb (FS base 0x4000)", G(io_r_fs_outsb), MODE_REAL,
	  .seg = SEG_REAL(FS, FS_BASE >> 4),
	  .pre = REGS(RAXP, 5, RDXP, DECOY, DST),
	  .post = REGS(RAXP, 5, RDXP, DECOY + 1, DST),
	  .x = X_OUTS(FS, 2, 1, false), .log = "o1234:80" },
	{ "real rep fs outsw x2 (FS base 0x4000)", G(io_r_rep_fs_outsw),
	  MODE_REAL, .seg = SEG_REAL(FS, FS_BASE >> 4),
	  .pre = REGS(RAXP, 2, RDXP, DECOY, DST),
	  .post = REGS(RAXP, 0, RDXP, DECOY + 4, DST),
	  .x = X_OUTS(FS, 2, 2, true), .log = "o1234:8081 o1234:8283" },
	{ "real addr32 outsb", G(io_r_a32_outsb), MODE_REAL,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 1, DST),
	  .x = X_OUTS(DS, 4, 1, false), .log = "o1234:40" },

	/* Real mode, MMIO at 0xB8000 through DS or ES = 0xB800. */
	{ "real rep outsb x3 from MMIO", G(io_r_rep_outsb), MODE_REAL,
	  .seg = SEG_REAL(DS, DEV_REAL >> 4), .dev = DEV_REAL,
	  .pre = REGS(RAXP, 3, RDXP, 0x10, DST),
	  .post = REGS(RAXP, 0, RDXP, 0x13, DST),
	  .x = X_OUTS(DS, 2, 1, true), .exit_optional = true,
	  .log = "o1234:20 o1234:21 o1234:22" },
	{ "real rep insw x2 to MMIO", G(io_r_rep_insw), MODE_REAL,
	  .seg = SEG_REAL(ES, DEV_REAL >> 4), .dev = DEV_REAL,
	  .pre = REGS(RAXP, 2, RDXP, SRC, 0x100),
	  .post = REGS(RAXP, 0, RDXP, SRC, 0x104),
	  .x = X_INS(2, 2, true), .exit_optional = true,
	  .log = "i1234:c1c2 i1234:c3c4",
	  .win = DEV_REAL + 0x100, .win_bytes = "c1c2c3c4 14" },

	/* 64-bit mode, IN and OUT: address size 8. */
	{ "long out imm8 byte", G(io_l_outb_imm), MODE_LONG,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_IMM, 8, 1), .log = "o10:88" },
	{ "long out imm8 word", G(io_l_outw_imm), MODE_LONG,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_IMM, 8, 2), .log = "o10:8877" },
	{ "long out imm8 dword", G(io_l_outl_imm), MODE_LONG,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_IMM, 8, 4), .log = "o10:88776655" },
	{ "long out dx byte", G(io_l_outb_dx), MODE_LONG,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_DX, 8, 1), .log = "o1234:88" },
	{ "long out dx word", G(io_l_outw_dx), MODE_LONG,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_DX, 8, 2), .log = "o1234:8877" },
	{ "long out dx dword", G(io_l_outl_dx), MODE_LONG,
	  .pre = NS(RAXP), .post = NS(RAXP),
	  .x = X_OUT(PORT_DX, 8, 4), .log = "o1234:88776655" },
	/*
	 * The byte before the OUT is 0x66 but not a prefix of it: in 64-bit
	 * mode a dword OUT has none.
	 */
	{ "long out imm8 dword after a 0x66 byte", G(io_l_outl_after_66),
	  MODE_LONG, .at = 2,
	  .pre = NS(RAXP), .post = REGS(RAXP, 0x66, RDXP, SRC, DST),
	  .x = X_OUT(PORT_IMM, 8, 4), .log = "o10:88776655" },
	{ "long in imm8 byte (merged)", G(io_l_inb_imm), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFFFC1ULL),
	  .x = X_IN(PORT_IMM, 8, 1), .log = "i10:c1" },
	{ "long in imm8 word (merged)", G(io_l_inw_imm), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFC2C1ULL),
	  .x = X_IN(PORT_IMM, 8, 2), .log = "i10:c1c2" },
	{ "long in imm8 dword (zero-extended)", G(io_l_inl_imm), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0x00000000C4C3C2C1ULL),
	  .x = X_IN(PORT_IMM, 8, 4), .log = "i10:c1c2c3c4" },
	{ "long in dx byte (merged)", G(io_l_inb_dx), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFFFC1ULL),
	  .x = X_IN(PORT_DX, 8, 1), .log = "i1234:c1" },
	{ "long in dx word (merged)", G(io_l_inw_dx), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFC2C1ULL),
	  .x = X_IN(PORT_DX, 8, 2), .log = "i1234:c1c2" },
	{ "long in dx dword (zero-extended)", G(io_l_inl_dx), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0x00000000C4C3C2C1ULL),
	  .x = X_IN(PORT_DX, 8, 4), .log = "i1234:c1c2c3c4" },

	/* 64-bit mode, INS and OUTS, one element. */
	{ "long outsb", G(io_l_outsb), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 1, DST),
	  .x = X_OUTS(DS, 8, 1, false), .log = "o1234:40" },
	{ "long outsw", G(io_l_outsw), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 2, DST),
	  .x = X_OUTS(DS, 8, 2, false), .log = "o1234:4041" },
	{ "long outsd", G(io_l_outsl), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC + 4, DST),
	  .x = X_OUTS(DS, 8, 4, false), .log = "o1234:40414243" },
	{ "long insb", G(io_l_insb), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST + 1),
	  .x = X_INS(8, 1, false), .log = "i1234:c1",
	  .win = DST, .win_bytes = "c1 ee ee ee" },
	{ "long insw", G(io_l_insw), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST + 2),
	  .x = X_INS(8, 2, false), .log = "i1234:c1c2",
	  .win = DST, .win_bytes = "c1c2 ee ee" },
	{ "long insd", G(io_l_insl), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST + 4),
	  .x = X_INS(8, 4, false), .log = "i1234:c1c2c3c4",
	  .win = DST, .win_bytes = "c1c2c3c4 ee" },
	{ "long outsd DF=1", G(io_l_outsl), MODE_LONG, .df = true,
	  .pre = REGS(RAXP, 5, RDXP, SRC + 4, DST),
	  .post = REGS(RAXP, 5, RDXP, SRC, DST),
	  .x = X_OUTS(DS, 8, 4, false), .log = "o1234:44454647" },

	/* 64-bit mode, REP. */
	{ "long rep outsb x5", G(io_l_rep_outsb), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 5, DST),
	  .x = X_OUTS(DS, 8, 1, true),
	  .log = "o1234:40 o1234:41 o1234:42 o1234:43 o1234:44" },
	{ "long rep outsw x5", G(io_l_rep_outsw), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 10, DST),
	  .x = X_OUTS(DS, 8, 2, true),
	  .log = "o1234:4041 o1234:4243 o1234:4445 o1234:4647 o1234:4849" },
	{ "long rep outsd x5", G(io_l_rep_outsl), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 20, DST),
	  .x = X_OUTS(DS, 8, 4, true),
	  .log = "o1234:40414243 o1234:44454647 o1234:48494a4b "
	      "o1234:4c4d4e4f o1234:50515253" },
	{ "long rep insb x5", G(io_l_rep_insb), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 5),
	  .x = X_INS(8, 1, true),
	  .log = "i1234:c1 i1234:c2 i1234:c3 i1234:c4 i1234:c5",
	  .win = DST, .win_bytes = "c1c2c3c4c5 ee" },
	{ "long rep insw x5", G(io_l_rep_insw), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 10),
	  .x = X_INS(8, 2, true),
	  .log = "i1234:c1c2 i1234:c3c4 i1234:c5c6 i1234:c7c8 i1234:c9ca",
	  .win = DST, .win_bytes = "c1c2c3c4c5c6c7c8c9ca ee" },
	{ "long rep insd x5", G(io_l_rep_insl), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 20),
	  .x = X_INS(8, 4, true),
	  .log = "i1234:c1c2c3c4 i1234:c5c6c7c8 i1234:c9cacbcc "
	      "i1234:cdcecfd0 i1234:d1d2d3d4",
	  .win = DST,
	  .win_bytes = "c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4 ee" },
	/* 40 bytes: more than one 32-byte batch of libnvmm. */
	{ "long rep insd x10", G(io_l_rep_insl), MODE_LONG,
	  .pre = REGS(RAXP, 10, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 40),
	  .x = X_INS(8, 4, true),
	  .log = "i1234:c1c2c3c4 i1234:c5c6c7c8 i1234:c9cacbcc "
	      "i1234:cdcecfd0 i1234:d1d2d3d4 i1234:d5d6d7d8 "
	      "i1234:d9dadbdc i1234:dddedfe0 i1234:e1e2e3e4 "
	      "i1234:e5e6e7e8",
	  .win = DST, .win_bytes = "c1c2c3c4c5c6c7c8c9cacbcccdcecfd0"
	      "d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8 ee" },
	{ "long rep outsb x1", G(io_l_rep_outsb), MODE_LONG,
	  .pre = REGS(RAXP, 1, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 1, DST),
	  .x = X_OUTS(DS, 8, 1, true), .log = "o1234:40" },
	{ "long rep outsd RCX=0", G(io_l_rep_outsl), MODE_LONG,
	  .pre = REGS(RAXP, 0, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST),
	  .x = X_OUTS(DS, 8, 4, true), .exit_optional = true, .log = "" },
	{ "long rep insb RCX=0", G(io_l_rep_insb), MODE_LONG,
	  .pre = REGS(RAXP, 0, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST),
	  .x = X_INS(8, 1, true), .exit_optional = true, .log = "",
	  .win = DST, .win_bytes = "ee ee" },
	{ "long rep insb x5 DF=1", G(io_l_rep_insb), MODE_LONG, .df = true,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST + 4),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST - 1),
	  .x = X_INS(8, 1, true),
	  .log = "i1234:c1 i1234:c2 i1234:c3 i1234:c4 i1234:c5",
	  .win = DST - 1, .win_bytes = "ee c5c4c3c2c1 ee" },
	{ "long rep outsd x2 DF=1", G(io_l_rep_outsl), MODE_LONG, .df = true,
	  .pre = REGS(RAXP, 2, RDXP, SRC + 4, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC - 4, DST),
	  .x = X_OUTS(DS, 8, 4, true),
	  .log = "o1234:44454647 o1234:40414243" },
	{ "long fs outsb (FS base 0x4000)", G(io_l_fs_outsb), MODE_LONG,
	  .seg = SEG_LONG(FS, FS_BASE),
	  .pre = REGS(RAXP, 5, RDXP, DECOY, DST),
	  .post = REGS(RAXP, 5, RDXP, DECOY + 1, DST),
	  .x = X_OUTS(FS, 8, 1, false), .log = "o1234:80" },
	{ "long addr32 rep outsb x3", G(io_l_a32_rep_outsb), MODE_LONG,
	  .pre = REGS(RAXP, 3, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC + 3, DST),
	  .x = X_OUTS(DS, 4, 1, true),
	  .log = "o1234:40 o1234:41 o1234:42" },
	{ "long addr32 rep insw x2", G(io_l_a32_rep_insw), MODE_LONG,
	  .pre = REGS(RAXP, 2, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 4),
	  .x = X_INS(4, 2, true), .log = "i1234:c1c2 i1234:c3c4",
	  .win = DST, .win_bytes = "c1c2c3c4 ee" },

	/* 64-bit mode, MMIO at 0xC0000000 (not RAM). */
	{ "long rep outsb x5 from MMIO", G(io_l_rep_outsb), MODE_LONG,
	  .dev = DEV_LONG,
	  .pre = REGS(RAXP, 5, RDXP, DEV_LONG + 0x10, DST),
	  .post = REGS(RAXP, 0, RDXP, DEV_LONG + 0x15, DST),
	  .x = X_OUTS(DS, 8, 1, true), .exit_optional = true,
	  .log = "o1234:20 o1234:21 o1234:22 o1234:23 o1234:24" },
	{ "long outsw from MMIO", G(io_l_outsw), MODE_LONG,
	  .dev = DEV_LONG,
	  .pre = REGS(RAXP, 5, RDXP, DEV_LONG + 0x20, DST),
	  .post = REGS(RAXP, 5, RDXP, DEV_LONG + 0x22, DST),
	  .x = X_OUTS(DS, 8, 2, false), .exit_optional = true,
	  .log = "o1234:3031" },
	{ "long rep outsw x3 from MMIO DF=1", G(io_l_rep_outsw), MODE_LONG,
	  .df = true, .dev = DEV_LONG,
	  .pre = REGS(RAXP, 3, RDXP, DEV_LONG + 0x24, DST),
	  .post = REGS(RAXP, 0, RDXP, DEV_LONG + 0x1E, DST),
	  .x = X_OUTS(DS, 8, 2, true), .exit_optional = true,
	  .log = "o1234:3435 o1234:3233 o1234:3031" },
	{ "long rep insd x2 to MMIO", G(io_l_rep_insl), MODE_LONG,
	  .dev = DEV_LONG,
	  .pre = REGS(RAXP, 2, RDXP, SRC, DEV_LONG + 0x100),
	  .post = REGS(RAXP, 0, RDXP, SRC, DEV_LONG + 0x108),
	  .x = X_INS(8, 4, true), .exit_optional = true,
	  .log = "i1234:c1c2c3c4 i1234:c5c6c7c8",
	  .win = DEV_LONG + 0x100, .win_bytes = "c1c2c3c4c5c6c7c8 18" },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* An IO exit as the exit hook saw it. */
struct io_seen {
	struct nvmm_x86_exit_io io;
	uint64_t rip;
};

/*
 * What the callbacks and the exit hook record.  The callbacks get no
 * context pointer, so there is one of these, used by one test at a time;
 * t is the machine whose mach and vcpu pointers the callbacks must get.
 */
static struct {
	struct vmtest *t;
	char log[LOG_MAX];		/* the io callbacks, as in io_case */
	size_t loglen;
	bool log_full;
	unsigned long io_calls;
	uint8_t in_next;
	gpaddr_t dev_base;		/* 0: no device */
	uint8_t dev[DEV_SIZE];
	unsigned long mem_calls;
	unsigned int nbad;		/* callbacks that broke the contract */
	char bad[256];			/* the first one */
	struct io_seen exits[EXITS_MAX];
	unsigned int nexits;		/* all IO exits, even past EXITS_MAX */
} rec;

static void
rec_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
rec_bad(const char *fmt, ...)
{
	va_list ap;

	if (rec.nbad++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(rec.bad, sizeof(rec.bad), fmt, ap);
	va_end(ap);
}

static void
rec_reset(struct vmtest *t, gpaddr_t dev_base)
{
	size_t i;

	memset(&rec, 0, sizeof(rec));
	rec.t = t;
	rec.in_next = IN_FIRST;
	rec.dev_base = dev_base;
	for (i = 0; i < DEV_SIZE; i++)
		rec.dev[i] = (uint8_t)(0x10 + i);
}

static void
log_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_append(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rec.log_full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(rec.log + rec.loglen, sizeof(rec.log) - rec.loglen,
	    fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rec.log) - rec.loglen)
		rec.log_full = true;
	else
		rec.loglen += (size_t)n;
}

/* The io callback: logs the call; an IN returns the next bytes. */
static void
io_cb(struct nvmm_io *io)
{
	size_t i;

	rec.io_calls++;
	if (io->mach != &rec.t->mach || io->vcpu != &rec.t->vcpu)
		rec_bad("io callback with mach %p vcpu %p, not %p %p",
		    (void *)io->mach, (void *)io->vcpu, (void *)&rec.t->mach,
		    (void *)&rec.t->vcpu);
	if (io->size != 1 && io->size != 2 && io->size != 4) {
		rec_bad("io callback of size %zu", io->size);
		return;
	}
	if (io->in)
		for (i = 0; i < io->size; i++)
			io->data[i] = rec.in_next++;
	log_append("%s%c%x:", rec.loglen > 0 ? " " : "", io->in ? 'i' : 'o',
	    io->port);
	for (i = 0; i < io->size; i++)
		log_append("%02x", io->data[i]);
}

/* The mem callback: the device, a byte array at rec.dev_base. */
static void
mem_cb(struct nvmm_mem *mem)
{
	gpaddr_t off;

	rec.mem_calls++;
	if (mem->mach != &rec.t->mach || mem->vcpu != &rec.t->vcpu)
		rec_bad("mem callback with mach %p vcpu %p, not %p %p",
		    (void *)mem->mach, (void *)mem->vcpu,
		    (void *)&rec.t->mach, (void *)&rec.t->vcpu);
	off = mem->gpa - rec.dev_base;
	if (rec.dev_base == 0 || mem->gpa < rec.dev_base ||
	    mem->size == 0 || mem->size > 8 || off + mem->size > DEV_SIZE) {
		rec_bad("mem callback for gpa 0x%" PRIx64 " size %zu outside "
		    "the device", mem->gpa, mem->size);
		if (!mem->write)
			memset(mem->data, 0, mem->size > 8 ? 8 : mem->size);
		return;
	}
	if (mem->write)
		memcpy(rec.dev + off, mem->data, mem->size);
	else
		memcpy(mem->data, rec.dev + off, mem->size);
}

/* Records every IO exit with the RIP it left the guest at. */
static void
exit_hook(struct vmtest *t)
{
	struct io_seen *s;

	if (t->vcpu.exit->reason != NVMM_VCPU_EXIT_IO)
		return;
	if (rec.nexits++ >= EXITS_MAX)
		return;
	s = &rec.exits[rec.nexits - 1];
	s->io = t->vcpu.exit->u.io;
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		s->rip = ~0ULL;
	else
		s->rip = t->vcpu.state->gprs[NVMM_X64_GPR_RIP];
}

/* ------------------------------------------------------------------------ */
/* Setting up. */

static size_t
guest_len(const struct io_case *c)
{
	return (size_t)(c->end - c->code);
}

static void
fill(struct vmtest *t, gpaddr_t gpa, uint8_t first, uint8_t step, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		t->ram[gpa + i] = (uint8_t)(first + i * step);
}

static void
set_seg(struct vmtest *t, const struct io_case *c)
{
	struct nvmm_x64_state_seg *seg;

	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_SEGS) == -1)
		fail_msg("getstate SEGS: %s", strerror(errno));
	seg = &t->vcpu.state->segs[c->seg.idx];
	seg->selector = c->seg.sel;
	seg->base = c->mode == MODE_REAL ? (uint64_t)c->seg.sel << 4 :
	    c->seg.base;
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, NVMM_X64_STATE_SEGS) == -1)
		fail_msg("setstate SEGS: %s", strerror(errno));
}

static void
set_regs(struct vmtest *t, const struct io_case *c)
{
	uint64_t *g = t->vcpu.state->gprs;

	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("getstate GPRS: %s", strerror(errno));
	g[NVMM_X64_GPR_RAX] = c->pre.rax;
	g[NVMM_X64_GPR_RCX] = c->pre.rcx;
	g[NVMM_X64_GPR_RDX] = c->pre.rdx;
	g[NVMM_X64_GPR_RSI] = c->pre.rsi;
	g[NVMM_X64_GPR_RDI] = c->pre.rdi;
	g[NVMM_X64_GPR_RFLAGS] = 0x2 | (c->df ? VMTEST_FL_DF : 0);
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("setstate GPRS: %s", strerror(errno));
}

/* Machine, callbacks, RAM patterns, guest, mode, segment and registers. */
static void
case_start(struct vmtest *t, const struct io_case *c)
{
	struct nvmm_assist_callbacks cbs = { .io = io_cb, .mem = mem_cb };
	size_t ram = c->mode == MODE_REAL ? RAM_REAL : RAM_LONG;

	vmtest_require_kvm();
	assert_true(guest_len(c) >= c->at + 2u &&
	    guest_len(c) <= VMTEST_GUEST_MAX);
	if (vmtest_init(t, ram) == -1)
		fail_msg("vmtest_init: %s", strerror(errno));
	rec_reset(t, c->dev);
	if (nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &cbs) == -1)
		fail_msg("nvmm_vcpu_configure(CALLBACKS): %s", strerror(errno));
	t->exit_hook = exit_hook;

	fill(t, SRC, 0x40, 1, PAT_LEN);
	fill(t, FS_SRC, 0x80, 1, PAT_LEN);
	fill(t, DECOY, 0xDD, 0, PAT_LEN);
	fill(t, DST - PAT_LEN, 0xEE, 0, 2 * PAT_LEN);
	vmtest_load(t, VMTEST_GUEST_BASE, c->code, guest_len(c));
	if (c->mode == MODE_REAL)
		vmtest_setup_real(t, 0, VMTEST_GUEST_BASE);
	else
		vmtest_setup_long(t, VMTEST_GUEST_BASE);
	if (c->seg.on)
		set_seg(t, c);
	set_regs(t, c);
}

/* ------------------------------------------------------------------------ */
/* Checking.  Each check prints its mismatches and returns their number. */

static void
render_exit(char *buf, size_t len, const struct nvmm_x86_exit_io *x,
    uint64_t rip, uint64_t npc, bool seg)
{
	char segbuf[8] = "-";

	if (seg)
		snprintf(segbuf, sizeof(segbuf), "%d", x->seg);
	snprintf(buf, len, "%s port 0x%x seg %s address_size %u "
	    "operand_size %u rep %d str %d rip 0x%" PRIx64 " npc 0x%" PRIx64,
	    x->in ? "in" : "out", x->port, segbuf, x->address_size,
	    x->operand_size, x->rep, x->str, rip, npc);
}

static int
check_exits(const struct io_case *c)
{
	char want[256], got[256];
	uint64_t npc = VMTEST_GUEST_BASE + guest_len(c) - 1;
	unsigned int i, n = rec.nexits < EXITS_MAX ? rec.nexits : EXITS_MAX;
	int nerr = 0;

	if (rec.nexits == 0 && !c->exit_optional) {
		print_error("%s: no IO exit\n", c->name);
		nerr++;
	}
	/*
	 * KVM executes an OUTS element before it exits (libvmm(3),
	 * COMPATIBILITY): a single OUTS is done and RIP is already at npc; a
	 * REP OUTS keeps RIP on the instruction.
	 */
	render_exit(want, sizeof(want), &c->x, !c->x.in && c->x.str &&
	    !c->x.rep ? npc : VMTEST_GUEST_BASE + c->at, npc, c->x.str);
	for (i = 0; i < n; i++) {
		render_exit(got, sizeof(got), &rec.exits[i].io,
		    rec.exits[i].rip, rec.exits[i].io.npc, c->x.str);
		if (strcmp(want, got) == 0)
			continue;
		print_error("%s: IO exit %u:\n  want %s\n  got  %s\n",
		    c->name, i, want, got);
		nerr++;
	}
	return nerr;
}

static int
check_callbacks(const struct io_case *c)
{
	int nerr = 0;

	if (rec.log_full || strcmp(rec.log, c->log) != 0) {
		print_error("%s: io callbacks:\n  want \"%s\"\n"
		    "  got  \"%s\"%s\n", c->name, c->log, rec.log,
		    rec.log_full ? "..." : "");
		nerr++;
	}
	if (rec.nbad > 0) {
		print_error("%s: %u bad callbacks; the first: %s\n", c->name,
		    rec.nbad, rec.bad);
		nerr++;
	}
	if (c->dev != 0 && rec.mem_calls == 0) {
		print_error("%s: the string memory is MMIO, but the mem "
		    "callback was never called\n", c->name);
		nerr++;
	}
	return nerr;
}

static int
check_reg(const struct io_case *c, const char *name, uint64_t got,
    uint64_t want)
{
	if (got == want)
		return 0;
	print_error("%s: %s = 0x%016" PRIx64 ", want 0x%016" PRIx64 "\n",
	    c->name, name, got, want);
	return 1;
}

static int
check_regs(struct vmtest *t, const struct io_case *c)
{
	const uint64_t *g = t->vcpu.state->gprs;
	int nerr = 0;

	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("getstate GPRS: %s", strerror(errno));
	nerr += check_reg(c, "RAX", g[NVMM_X64_GPR_RAX], c->post.rax);
	nerr += check_reg(c, "RCX", g[NVMM_X64_GPR_RCX], c->post.rcx);
	nerr += check_reg(c, "RDX", g[NVMM_X64_GPR_RDX], c->post.rdx);
	nerr += check_reg(c, "RSI", g[NVMM_X64_GPR_RSI], c->post.rsi);
	nerr += check_reg(c, "RDI", g[NVMM_X64_GPR_RDI], c->post.rdi);
	/* RIP past the HLT, which is past npc. */
	nerr += check_reg(c, "RIP", g[NVMM_X64_GPR_RIP],
	    VMTEST_GUEST_BASE + guest_len(c));
	nerr += check_reg(c, "RFLAGS.DF",
	    g[NVMM_X64_GPR_RFLAGS] & VMTEST_FL_DF, c->df ? VMTEST_FL_DF : 0);
	return nerr;
}

/* Parse hex digits, ignoring spaces; returns the number of bytes. */
static size_t
hex_parse(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int v;

	for (; *s != '\0'; s++) {
		if (*s == ' ')
			continue;
		assert_true(n < max && s[1] != '\0');
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s++;
	}
	return n;
}

static void
hex_render(char *buf, size_t len, const uint8_t *b, size_t n)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < n && 2 * i + 3 <= len; i++)
		snprintf(buf + 2 * i, len - 2 * i, "%02x", b[i]);
}

static int
check_mem(struct vmtest *t, const struct io_case *c)
{
	uint8_t want[64];
	const uint8_t *got;
	char wbuf[160], gbuf[160];
	size_t n;

	if (c->win == 0)
		return 0;
	n = hex_parse(c->win_bytes, want, sizeof(want));
	if (c->dev != 0 && c->win >= c->dev) {
		assert_true(c->win - c->dev + n <= DEV_SIZE);
		got = rec.dev + (c->win - c->dev);
	} else {
		assert_true(c->win + n <= t->ram_size);
		got = t->ram + c->win;
	}
	if (memcmp(want, got, n) == 0)
		return 0;
	hex_render(wbuf, sizeof(wbuf), want, n);
	hex_render(gbuf, sizeof(gbuf), got, n);
	print_error("%s: %s at 0x%" PRIx64 ":\n  want %s\n  got  %s\n",
	    c->name, c->dev != 0 && c->win >= c->dev ? "device" : "RAM",
	    c->win, wbuf, gbuf);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* The tests. */

struct fixture {
	const struct io_case *c;
	struct vmtest t;
};

static void
run_case(void **state)
{
	struct fixture *f = *state;
	const struct io_case *c = f->c;
	int nerr = 0;

	case_start(&f->t, c);
	vmtest_run(&f->t, NVMM_VCPU_EXIT_HALTED);
	nerr += check_exits(c);
	nerr += check_callbacks(c);
	nerr += check_regs(&f->t, c);
	nerr += check_mem(&f->t, c);
	if (nerr > 0)
		fail_msg("%s: %d mismatches", c->name, nerr);
}

/* One nvmm_vcpu_run, which must give the exit reason want. */
static void
run_once(struct vmtest *t, uint64_t want)
{
	if (nvmm_vcpu_run(&t->mach, &t->vcpu) == -1)
		fail_msg("nvmm_vcpu_run: %s", strerror(errno));
	if (t->vcpu.exit->reason != want)
		fail_msg("exit %s (0x%" PRIx64 "), want %s",
		    vmtest_exit_name(t->vcpu.exit->reason),
		    t->vcpu.exit->reason, vmtest_exit_name(want));
}

static void
assist_io_fails(struct vmtest *t, const char *when)
{
	unsigned long calls = rec.io_calls;
	int rc;

	errno = 0;
	rc = nvmm_assist_io(&t->mach, &t->vcpu);
	if (rc != -1 || errno != EINVAL)
		fail_msg("nvmm_assist_io %s: rc %d errno %d (%s), want -1 "
		    "EINVAL", when, rc, errno, strerror(errno));
	assert_int_equal(rec.io_calls, calls);
}

static void
assist_io_ok(struct vmtest *t)
{
	if (nvmm_assist_io(&t->mach, &t->vcpu) == -1)
		fail_msg("nvmm_assist_io: %s", strerror(errno));
}

static const struct io_case mmio_then_out = {
	"MEMORY exit, then OUT", G(io_l_after_mmio), MODE_LONG,
	.dev = DEV_LONG,
};

/*
 * nvmm_assist_io fails with EINVAL, calling nothing, after a MEMORY exit
 * (which nvmm_assist_mem then still handles) and after a HALTED exit.
 */
static void
test_not_io(void **state)
{
	struct fixture *f = *state;
	struct vmtest *t = &f->t;

	case_start(t, f->c);
	t->exit_hook = NULL;
	run_once(t, NVMM_VCPU_EXIT_MEMORY);
	assist_io_fails(t, "after a MEMORY exit");
	assert_int_equal(rec.mem_calls, 0);
	if (nvmm_assist_mem(&t->mach, &t->vcpu) == -1)
		fail_msg("nvmm_assist_mem: %s", strerror(errno));
	assert_int_equal(rec.mem_calls, 1);

	run_once(t, NVMM_VCPU_EXIT_IO);
	assert_int_equal(t->vcpu.exit->u.io.port, PORT_IMM);
	assist_io_ok(t);
	assert_string_equal(rec.log, "o10:50");	/* device byte 0x40 */

	run_once(t, NVMM_VCPU_EXIT_HALTED);
	assist_io_fails(t, "after a HALTED exit");
	assert_string_equal(rec.log, "o10:50");
	assert_int_equal(vmtest_gpr(t, NVMM_X64_GPR_RIP),
	    VMTEST_GUEST_BASE + guest_len(f->c));
}

/*
 * A second nvmm_assist_io on the same exit fails with EINVAL and changes
 * nothing: no callback, no register, no memory.
 */
static void
test_twice(void **state)
{
	struct fixture *f = *state;
	const struct io_case *c = f->c;
	struct vmtest *t = &f->t;
	uint64_t gprs[NVMM_X64_NGPR];
	uint8_t mem[PAT_LEN];

	case_start(t, c);
	t->exit_hook = NULL;
	run_once(t, NVMM_VCPU_EXIT_IO);
	assist_io_ok(t);
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("getstate GPRS: %s", strerror(errno));
	memcpy(gprs, t->vcpu.state->gprs, sizeof(gprs));
	memcpy(mem, t->ram + DST, sizeof(mem));

	assist_io_fails(t, "a second time on the same exit");
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("getstate GPRS: %s", strerror(errno));
	assert_memory_equal(gprs, t->vcpu.state->gprs, sizeof(gprs));
	assert_memory_equal(mem, t->ram + DST, sizeof(mem));

	/* The guest finishes as if the second call had not been made. */
	vmtest_run(t, NVMM_VCPU_EXIT_HALTED);
	if (check_callbacks(c) + check_regs(t, c) + check_mem(t, c) > 0)
		fail_msg("%s: wrong results after a double assist", c->name);
}

static const struct io_case twice_cases[] = {
	{ "twice: out imm8 byte", G(io_r_outb_imm), MODE_REAL,
	  .pre = NS(RAXP), .post = NS(RAXP), .log = "o10:88" },
	{ "twice: in imm8 word", G(io_l_inw_imm), MODE_LONG,
	  .pre = NS(ONES), .post = NS(0xFFFFFFFFFFFFC2C1ULL),
	  .log = "i10:c1c2" },
	{ "twice: rep insb x5", G(io_l_rep_insb), MODE_LONG,
	  .pre = REGS(RAXP, 5, RDXP, SRC, DST),
	  .post = REGS(RAXP, 0, RDXP, SRC, DST + 5),
	  .log = "i1234:c1 i1234:c2 i1234:c3 i1234:c4 i1234:c5",
	  .win = DST, .win_bytes = "c1c2c3c4c5 ee" },
};

#define NTWICE	(sizeof(twice_cases) / sizeof(twice_cases[0]))

/*
 * The registers at the first IO exit of one case, which must be the ones
 * the case set: NVMM exits before the instruction has done anything (with
 * REP, later exits may follow partial batches).  Runs until that exit
 * without checking anything else; a case without one passes here.
 */
static int
check_first_exit_regs(struct vmtest *t, const struct io_case *c)
{
	uint64_t want_rcx, want_rsi, mask, step;
	const uint64_t *g;
	unsigned int n;

	case_start(t, c);
	g = t->vcpu.state->gprs;
	t->exit_hook = NULL;
	for (n = 0; n < 100; n++) {
		if (nvmm_vcpu_run(&t->mach, &t->vcpu) == -1)
			fail_msg("nvmm_vcpu_run: %s", strerror(errno));
		if (t->vcpu.exit->reason == NVMM_VCPU_EXIT_MEMORY &&
		    nvmm_assist_mem(&t->mach, &t->vcpu) == 0)
			continue;
		if (t->vcpu.exit->reason != NVMM_VCPU_EXIT_IO)
			return 0;
		break;
	}
	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("getstate GPRS: %s", strerror(errno));
	want_rcx = c->pre.rcx;
	want_rsi = c->pre.rsi;
	if (!c->x.in && c->x.str) {
		/*
		 * KVM has executed the first OUTS element before exiting
		 * (libvmm(3), COMPATIBILITY): RSI moved by one element and
		 * a REP count went down by one, within the address size.
		 */
		mask = c->x.address_size == 8 ? ~0ULL :
		    (1ULL << (8 * c->x.address_size)) - 1;
		step = c->df ? -(uint64_t)c->x.operand_size :
		    c->x.operand_size;
		want_rsi = (want_rsi & ~mask) | ((want_rsi + step) & mask);
		if (c->x.rep)
			want_rcx = (want_rcx & ~mask) | ((want_rcx - 1) & mask);
	}
	if (g[NVMM_X64_GPR_RCX] == want_rcx &&
	    g[NVMM_X64_GPR_RSI] == want_rsi &&
	    g[NVMM_X64_GPR_RDI] == c->pre.rdi)
		return 0;
	print_error("%s: registers at the first IO exit:\n"
	    "  want RCX 0x%" PRIx64 " RSI 0x%" PRIx64 " RDI 0x%" PRIx64 "\n"
	    "  got  RCX 0x%" PRIx64 " RSI 0x%" PRIx64 " RDI 0x%" PRIx64 "\n",
	    c->name, want_rcx, want_rsi, c->pre.rdi, g[NVMM_X64_GPR_RCX],
	    g[NVMM_X64_GPR_RSI], g[NVMM_X64_GPR_RDI]);
	return 1;
}

/* check_first_exit_regs for every case whose guest starts with its I/O. */
static void
test_exit_regs(void **state)
{
	struct fixture *f = *state;
	size_t i;
	int nerr = 0;

	for (i = 0; i < NCASES; i++) {
		if (cases[i].at != 0)
			continue;
		nerr += check_first_exit_regs(&f->t, &cases[i]);
		vmtest_fini(&f->t);
	}
	if (nerr > 0)
		fail_msg("%d cases show the instruction already (partly) "
		    "executed at the IO exit", nerr);
}

static int
fixture_teardown(void **state)
{
	struct fixture *f = *state;

	vmtest_fini(&f->t);
	return 0;
}

static void
add_test(struct CMUnitTest *test, struct fixture *f, const char *name,
    CMUnitTestFunction fn, const struct io_case *c)
{
	f->c = c;
	test->name = name;
	test->test_func = fn;
	test->setup_func = NULL;
	test->teardown_func = fixture_teardown;
	test->initial_state = f;
}

/*
 * One cmocka test per case, then the assist error tests.  The array is
 * built at run time so that each test's state is its own fixture.
 */
int
main(void)
{
	enum { NTESTS = NCASES + 2 + NTWICE };
	static struct fixture fixtures[NTESTS];
	static struct CMUnitTest tests[NTESTS];
	size_t i, n = 0;

	for (i = 0; i < NCASES; i++, n++)
		add_test(&tests[n], &fixtures[n], cases[i].name, run_case,
		    &cases[i]);
	add_test(&tests[n], &fixtures[n], "assist_io after MEMORY and "
	    "HALTED exits", test_not_io, &mmio_then_out);
	n++;
	add_test(&tests[n], &fixtures[n], "registers at the first IO exit",
	    test_exit_regs, NULL);
	n++;
	for (i = 0; i < NTWICE; i++, n++)
		add_test(&tests[n], &fixtures[n], twice_cases[i].name,
		    test_twice, &twice_cases[i]);
	return _cmocka_run_group_tests("io", tests, n, NULL, NULL);
}
