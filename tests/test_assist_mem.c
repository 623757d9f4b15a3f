/*
 * test_assist_mem.c: nvmm_assist_mem(3) against a fake MMIO device.  Each
 * case is a tiny guest (tests/guests/mmio_*.S) that touches MMIO with one
 * instruction form and halts; the test then checks every callback the
 * assist made (GPA, size, direction, value), the registers, RFLAGS, RAM and
 * the device's contents.  Needs /dev/kvm; skips without it.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "nvmm.h"
#include "vmtest.h"

/*
 * Where the device sits.  64-bit guests use MMIO_LONG (mapped by the
 * harness's page tables, far above RAM), except the RIP-relative case,
 * which needs MMIO within 2 GiB of its code.  Real-mode guests run with
 * RAM_REAL bytes of RAM, so that 0xA0000-0xFFFFF is a hole, and use
 * MMIO_REAL in it.
 */
#define MMIO_LONG	0xC0000000ULL
#define MMIO_RIPREL	0x80000000ULL
#define MMIO_REAL	0xB8000ULL
#define MMIO_SIZE	0x2000		/* two pages */
#define MMIO_LOG_MAX	16
#define RAM_LONG	(2UL << 20)
#define RAM_REAL	0xA0000UL

/* One callback as the device saw it; val is data[0..size) little-endian. */
struct mmio_access {
	uint32_t off;		/* from the window base */
	uint8_t size;		/* 0 ends a list */
	bool write;
	uint64_t val;
};

/*
 * The fake device: a byte window with an access log.  The callback has no
 * context pointer, so there is one device, used by one test at a time.
 */
struct mmio_dev {
	struct vmtest *t;		/* whose mach/vcpu must call us */
	gpaddr_t base;
	uint8_t mem[MMIO_SIZE];
	struct mmio_access log[MMIO_LOG_MAX];	/* the first accesses */
	unsigned int nlog;
	unsigned long ncalls;		/* all accesses */
	unsigned int nexits;		/* MEMORY exits seen */
	unsigned int nbad;		/* protocol violations */
	char bad[256];			/* the first one */
};

static struct mmio_dev mmio;

enum mmio_mode {
	MODE_LONG,
	MODE_REAL,
};

struct mmio_preset {
	uint32_t off;
	uint8_t size;			/* 0 ends the list */
	uint64_t val;
};

struct mmio_reg {
	bool on;			/* false ends the list */
	int idx;
	uint64_t val;
};

struct mmio_ram {
	gpaddr_t gpa;
	uint8_t size;			/* 0 ends the list */
	uint64_t val;
};

struct mmio_case {
	const char *name;
	const uint8_t *code;		/* the guest, [code, end) */
	const uint8_t *end;
	enum mmio_mode mode;
	gpaddr_t base;			/* 0: MMIO_LONG */
	void (*prep)(struct vmtest *);	/* after the mode setup */
	struct mmio_preset preset[4];	/* over the pattern mem[i] = i */
	struct mmio_access log[MMIO_LOG_MAX];
	unsigned long ncalls;		/* if log is only a prefix: the total */
	struct mmio_reg regs[12];
	struct mmio_ram ram[4];
	struct mmio_preset win[6];	/* device contents afterwards */
	uint64_t fl_mask;
	uint64_t fl_val;
};

#define RD(o, s, v)	{ (o), (s), false, (v) }
#define WR(o, s, v)	{ (o), (s), true, (v) }
#define SET(o, s, v)	{ (o), (s), (v) }
#define WIN(o, s, v)	{ (o), (s), (v) }
#define RAM(g, s, v)	{ (g), (s), (v) }
#define REG(r, v)	{ true, NVMM_X64_GPR_##r, (v) }
/* The flag markers the ALU guests leave in R8-R12 (1 when set). */
#define MARKS(zf, cf, sf, of, pf)					\
	REG(R8, zf), REG(R9, cf), REG(R10, sf), REG(R11, of), REG(R12, pf)

#define FL_ARITH	(VMTEST_FL_CF | VMTEST_FL_PF | VMTEST_FL_AF |	\
			 VMTEST_FL_ZF | VMTEST_FL_SF | VMTEST_FL_OF)
/* AF is undefined after the logical operations. */
#define FL_LOGIC	(VMTEST_FL_CF | VMTEST_FL_PF | VMTEST_FL_ZF |	\
			 VMTEST_FL_SF | VMTEST_FL_OF)

VMTEST_DECLARE_GUEST(mmio_mov_load_8);
VMTEST_DECLARE_GUEST(mmio_mov_load_16);
VMTEST_DECLARE_GUEST(mmio_mov_load_32);
VMTEST_DECLARE_GUEST(mmio_mov_load_64);
VMTEST_DECLARE_GUEST(mmio_mov_store_8);
VMTEST_DECLARE_GUEST(mmio_mov_store_16);
VMTEST_DECLARE_GUEST(mmio_mov_store_32);
VMTEST_DECLARE_GUEST(mmio_mov_store_64);
VMTEST_DECLARE_GUEST(mmio_mov_imm);
VMTEST_DECLARE_GUEST(mmio_moffs_load);
VMTEST_DECLARE_GUEST(mmio_moffs_store);
VMTEST_DECLARE_GUEST(mmio_movzx);
VMTEST_DECLARE_GUEST(mmio_movs_ram_to_mmio);
VMTEST_DECLARE_GUEST(mmio_movs_mmio_to_ram);
VMTEST_DECLARE_GUEST(mmio_movs_mmio_to_mmio);
VMTEST_DECLARE_GUEST(mmio_stos);
VMTEST_DECLARE_GUEST(mmio_lods);
VMTEST_DECLARE_GUEST(mmio_rep_movs_ram_to_mmio);
VMTEST_DECLARE_GUEST(mmio_rep_movs_mmio_to_ram);
VMTEST_DECLARE_GUEST(mmio_rep_movs_mmio_to_mmio);
VMTEST_DECLARE_GUEST(mmio_rep_movs_df);
VMTEST_DECLARE_GUEST(mmio_rep_stos);
VMTEST_DECLARE_GUEST(mmio_rep_stos_long);
VMTEST_DECLARE_GUEST(mmio_rep_movs_long);
VMTEST_DECLARE_GUEST(mmio_rep_zero);
VMTEST_DECLARE_GUEST(mmio_cmp_equal_8);
VMTEST_DECLARE_GUEST(mmio_cmp_borrow_32);
VMTEST_DECLARE_GUEST(mmio_cmp_signext_64);
VMTEST_DECLARE_GUEST(mmio_cmp_overflow_16);
VMTEST_DECLARE_GUEST(mmio_test_sign_32);
VMTEST_DECLARE_GUEST(mmio_test_zero_8);
VMTEST_DECLARE_GUEST(mmio_and);
VMTEST_DECLARE_GUEST(mmio_or);
VMTEST_DECLARE_GUEST(mmio_lock_or);
VMTEST_DECLARE_GUEST(mmio_xor);
VMTEST_DECLARE_GUEST(mmio_sub);
VMTEST_DECLARE_GUEST(mmio_xchg);
VMTEST_DECLARE_GUEST(mmio_bt);
VMTEST_DECLARE_GUEST(mmio_page_cross);
VMTEST_DECLARE_GUEST(mmio_real16);
VMTEST_DECLARE_GUEST(mmio_addr32);
VMTEST_DECLARE_GUEST(mmio_sib64);
VMTEST_DECLARE_GUEST(mmio_rip_rel);
VMTEST_DECLARE_GUEST(mmio_seg_long);

static void prep_seg_long(struct vmtest *);

/*
 * The cases.  Unless preset, the device byte at offset i holds i & 0xff,
 * so a read's expected value can be read off its offset.
 */
static const struct mmio_case cases[] = {
	/* MOV r, m and MOV m, r (88-8B) at every width. */
	{ .name = "mov_load_8", .code = VMTEST_GUEST_RANGE(mmio_mov_load_8),
	  .log = { RD(0x10, 1, 0x10), RD(0x11, 1, 0x11), RD(0x12, 1, 0x12) },
	  .regs = { REG(RAX, 0xFFFFFFFFFFFFFF10), REG(RCX, 0xFFFFFFFFFFFF11FF),
	    REG(RSI, 0xFFFFFFFFFFFFFF12), REG(RBX, MMIO_LONG) } },
	{ .name = "mov_load_16", .code = VMTEST_GUEST_RANGE(mmio_mov_load_16),
	  .log = { RD(0x20, 2, 0x2120), RD(0x22, 2, 0x2322) },
	  .regs = { REG(RDX, 0xFFFFFFFFFFFF2120),
	    REG(R9, 0xFFFFFFFFFFFF2322) } },
	{ .name = "mov_load_32", .code = VMTEST_GUEST_RANGE(mmio_mov_load_32),
	  .log = { RD(0x30, 4, 0x33323130), RD(0x34, 4, 0x37363534) },
	  .regs = { REG(RAX, 0x33323130), REG(R10, 0x37363534) } },
	{ .name = "mov_load_64", .code = VMTEST_GUEST_RANGE(mmio_mov_load_64),
	  .log = { RD(0x40, 8, 0x4746454443424140),
	    RD(0x48, 8, 0x4F4E4D4C4B4A4948), RD(0x53, 8, 0x5A59585756555453) },
	  .regs = { REG(RAX, 0x4746454443424140), REG(R11, 0x4F4E4D4C4B4A4948),
	    REG(RDX, 0x5A59585756555453) } },
	{ .name = "mov_store_8", .code = VMTEST_GUEST_RANGE(mmio_mov_store_8),
	  .log = { WR(0x10, 1, 0x88), WR(0x11, 1, 0x77), WR(0x12, 1, 0xCD),
	    WR(0x13, 1, 0xAB) },
	  .regs = { REG(RAX, 0x1122334455667788) },
	  .win = { WIN(0x10, 4, 0xABCD7788), WIN(0x14, 1, 0x14) } },
	{ .name = "mov_store_16", .code = VMTEST_GUEST_RANGE(mmio_mov_store_16),
	  .log = { WR(0x20, 2, 0x7788), WR(0x22, 2, 0xBEEF) },
	  .win = { WIN(0x20, 4, 0xBEEF7788) } },
	{ .name = "mov_store_32", .code = VMTEST_GUEST_RANGE(mmio_mov_store_32),
	  .log = { WR(0x30, 4, 0x55667788), WR(0x35, 4, 0xFEEDF00D) },
	  .win = { WIN(0x30, 4, 0x55667788), WIN(0x34, 1, 0x34),
	    WIN(0x35, 4, 0xFEEDF00D), WIN(0x39, 1, 0x39) } },
	{ .name = "mov_store_64", .code = VMTEST_GUEST_RANGE(mmio_mov_store_64),
	  .log = { WR(0x40, 8, 0x1122334455667788),
	    WR(0x48, 8, 0x0123456789ABCDEF) },
	  .win = { WIN(0x40, 8, 0x1122334455667788),
	    WIN(0x48, 8, 0x0123456789ABCDEF) } },

	/* MOV m, imm (C6 /0, C7 /0). */
	{ .name = "mov_imm", .code = VMTEST_GUEST_RANGE(mmio_mov_imm),
	  .log = { WR(0x10, 1, 0x5A), WR(0x20, 2, 0x1234),
	    WR(0x30, 4, 0x89ABCDEF), WR(0x40, 8, 0xFFFFFFFFFFFFFFFE),
	    WR(0x48, 8, 0x7FFFFFFF) },
	  .win = { WIN(0x10, 1, 0x5A), WIN(0x11, 1, 0x11),
	    WIN(0x40, 8, 0xFFFFFFFFFFFFFFFE), WIN(0x48, 8, 0x7FFFFFFF) } },

	/* MOV with moffs (A0-A3). */
	{ .name = "moffs_load", .code = VMTEST_GUEST_RANGE(mmio_moffs_load),
	  .log = { RD(0x10, 1, 0x10), RD(0x20, 2, 0x2120),
	    RD(0x30, 4, 0x33323130), RD(0x40, 8, 0x4746454443424140) },
	  .regs = { REG(R8, 0xFFFFFFFFFFFFFF10), REG(R9, 0xFFFFFFFFFFFF2120),
	    REG(R10, 0x33323130), REG(RAX, 0x4746454443424140) } },
	{ .name = "moffs_store", .code = VMTEST_GUEST_RANGE(mmio_moffs_store),
	  .log = { WR(0x10, 1, 0x88), WR(0x20, 2, 0x7788),
	    WR(0x30, 4, 0x55667788), WR(0x40, 8, 0x1122334455667788) } },

	/* MOVZX (0F B6, 0F B7). */
	{ .name = "movzx", .code = VMTEST_GUEST_RANGE(mmio_movzx),
	  .preset = { SET(0x10, 1, 0x80), SET(0x20, 2, 0x8001) },
	  .log = { RD(0x10, 1, 0x80), RD(0x20, 2, 0x8001), RD(0x10, 1, 0x80),
	    RD(0x10, 1, 0x80), RD(0x20, 2, 0x8001) },
	  .regs = { REG(RAX, 0x80), REG(RCX, 0x8001), REG(RDX, 0x80),
	    REG(RSI, 0xFFFFFFFFFFFF0080), REG(R8, 0x8001) } },

	/* MOVS, STOS, LODS without REP. */
	{ .name = "movs_ram_to_mmio",
	  .code = VMTEST_GUEST_RANGE(mmio_movs_ram_to_mmio),
	  .log = { WR(0x100, 4, 0xDDCCBBAA), WR(0x104, 2, 0x2211) },
	  .regs = { REG(RSI, 0x8006), REG(RDI, MMIO_LONG + 0x106) },
	  .win = { WIN(0x100, 8, 0x07062211DDCCBBAA) } },
	{ .name = "movs_mmio_to_ram",
	  .code = VMTEST_GUEST_RANGE(mmio_movs_mmio_to_ram),
	  .log = { RD(0x10, 8, 0x1716151413121110), RD(0x18, 1, 0x18) },
	  .regs = { REG(RSI, MMIO_LONG + 0x19), REG(RDI, 0x8009) },
	  .ram = { RAM(0x8000, 8, 0x1716151413121110), RAM(0x8008, 1, 0x18),
	    RAM(0x8009, 1, 0) } },
	{ .name = "movs_mmio_to_mmio",
	  .code = VMTEST_GUEST_RANGE(mmio_movs_mmio_to_mmio),
	  .log = { RD(0x20, 4, 0x23222120), WR(0x180, 4, 0x23222120),
	    RD(0x24, 1, 0x24), WR(0x184, 1, 0x24) },
	  .regs = { REG(RSI, MMIO_LONG + 0x25), REG(RDI, MMIO_LONG + 0x185) },
	  .win = { WIN(0x180, 8, 0x8786852423222120) } },
	{ .name = "stos", .code = VMTEST_GUEST_RANGE(mmio_stos),
	  .log = { WR(0x100, 1, 0x88), WR(0x101, 2, 0x7788),
	    WR(0x103, 4, 0x55667788), WR(0x107, 8, 0x1122334455667788) },
	  .regs = { REG(RDI, MMIO_LONG + 0x10F) },
	  .win = { WIN(0x100, 8, 0x8855667788778888),
	    WIN(0x108, 8, 0x0F11223344556677) } },
	{ .name = "lods", .code = VMTEST_GUEST_RANGE(mmio_lods),
	  .log = { RD(0x10, 1, 0x10), RD(0x11, 2, 0x1211),
	    RD(0x13, 4, 0x16151413), RD(0x17, 8, 0x1E1D1C1B1A191817) },
	  .regs = { REG(R8, 0xFFFFFFFFFFFFFF10), REG(R9, 0xFFFFFFFFFFFF1211),
	    REG(R10, 0x16151413), REG(RAX, 0x1E1D1C1B1A191817),
	    REG(RSI, MMIO_LONG + 0x1F) } },

	/* REP MOVS / REP STOS, and RCX = 0. */
	{ .name = "rep_movs_ram_to_mmio",
	  .code = VMTEST_GUEST_RANGE(mmio_rep_movs_ram_to_mmio),
	  .log = { WR(0x200, 4, 0x44332211), WR(0x204, 4, 0x88776655),
	    WR(0x208, 4, 0xCCBBAA99), WR(0x20C, 4, 0x00FFEEDD) },
	  .regs = { REG(RCX, 0), REG(RSI, 0x8010),
	    REG(RDI, MMIO_LONG + 0x210) },
	  .win = { WIN(0x200, 8, 0x8877665544332211),
	    WIN(0x208, 8, 0x00FFEEDDCCBBAA99), WIN(0x210, 1, 0x10) } },
	{ .name = "rep_movs_mmio_to_ram",
	  .code = VMTEST_GUEST_RANGE(mmio_rep_movs_mmio_to_ram),
	  .log = { RD(0x10, 2, 0x1110), RD(0x12, 2, 0x1312),
	    RD(0x14, 2, 0x1514) },
	  .regs = { REG(RCX, 0), REG(RSI, MMIO_LONG + 0x16),
	    REG(RDI, 0x8106) },
	  .ram = { RAM(0x8100, 8, 0x0000151413121110) } },
	{ .name = "rep_movs_mmio_to_mmio",
	  .code = VMTEST_GUEST_RANGE(mmio_rep_movs_mmio_to_mmio),
	  .log = { RD(0x30, 1, 0x30), WR(0x300, 1, 0x30), RD(0x31, 1, 0x31),
	    WR(0x301, 1, 0x31) },
	  .regs = { REG(RCX, 0), REG(RSI, MMIO_LONG + 0x32),
	    REG(RDI, MMIO_LONG + 0x302) },
	  .win = { WIN(0x300, 4, 0x03023130) } },
	{ .name = "rep_movs_df", .code = VMTEST_GUEST_RANGE(mmio_rep_movs_df),
	  .log = { WR(0x102, 2, 0xDDCC), WR(0x100, 2, 0xBBAA) },
	  .regs = { REG(RCX, 0), REG(RSI, 0x7FFE),
	    REG(RDI, MMIO_LONG + 0xFE) },
	  .win = { WIN(0x100, 4, 0xDDCCBBAA) },
	  .fl_mask = VMTEST_FL_DF, .fl_val = VMTEST_FL_DF },
	{ .name = "rep_stos", .code = VMTEST_GUEST_RANGE(mmio_rep_stos),
	  .log = { WR(0x100, 2, 0xBEEF), WR(0x102, 2, 0xBEEF),
	    WR(0x104, 2, 0xBEEF) },
	  .regs = { REG(RCX, 0), REG(RDI, MMIO_LONG + 0x106) },
	  .win = { WIN(0x100, 8, 0x0706BEEFBEEFBEEF) } },
	{ .name = "rep_stos_long",
	  .code = VMTEST_GUEST_RANGE(mmio_rep_stos_long),
	  .log = { WR(0x100, 1, 0x5A), WR(0x101, 1, 0x5A) }, .ncalls = 5000,
	  .regs = { REG(RCX, 0), REG(RDI, MMIO_LONG + 0x100 + 5000) },
	  .win = { WIN(0xFF, 1, 0xFF), WIN(0x100, 8, 0x5A5A5A5A5A5A5A5A),
	    WIN(0x1480, 8, 0x5A5A5A5A5A5A5A5A), WIN(0x1488, 1, 0x88) } },
	{ .name = "rep_movs_long",
	  .code = VMTEST_GUEST_RANGE(mmio_rep_movs_long),
	  .log = { RD(0x100, 1, 0x00), RD(0x101, 1, 0x01) }, .ncalls = 5000,
	  .regs = { REG(RCX, 0), REG(RSI, MMIO_LONG + 0x100 + 5000),
	    REG(RDI, 0x10000 + 5000) },
	  .ram = { RAM(0x10000, 8, 0x0706050403020100),
	    RAM(0x10000 + 4992, 8, 0x8786858483828180),
	    RAM(0x10000 + 5000, 1, 0) } },
	{ .name = "rep_zero", .code = VMTEST_GUEST_RANGE(mmio_rep_zero),
	  .log = { WR(0x1FF, 1, 1) },
	  .regs = { REG(RCX, 0), REG(RDI, MMIO_LONG + 0x100),
	    REG(RSI, MMIO_LONG + 0x10), REG(RAX, 0x99) },
	  .win = { WIN(0x100, 4, 0x03020100), WIN(0x1FF, 1, 1) } },

	/* CMP m, imm (80 /7, 83 /7, 81 /7): markers and raw flags. */
	{ .name = "cmp_equal_8", .code = VMTEST_GUEST_RANGE(mmio_cmp_equal_8),
	  .log = { RD(0x42, 1, 0x42) },
	  .regs = { MARKS(1, 0, 0, 0, 1) },
	  .fl_mask = FL_ARITH, .fl_val = VMTEST_FL_ZF | VMTEST_FL_PF },
	{ .name = "cmp_borrow_32",
	  .code = VMTEST_GUEST_RANGE(mmio_cmp_borrow_32),
	  .preset = { SET(0x20, 4, 0) },
	  .log = { RD(0x20, 4, 0) },
	  .regs = { MARKS(0, 1, 1, 0, 1) },
	  .fl_mask = FL_ARITH, .fl_val = VMTEST_FL_CF | VMTEST_FL_PF |
	    VMTEST_FL_AF | VMTEST_FL_SF },
	{ .name = "cmp_signext_64",
	  .code = VMTEST_GUEST_RANGE(mmio_cmp_signext_64),
	  .preset = { SET(0x30, 8, 0xFFFFFFFFFFFFFFFF) },
	  .log = { RD(0x30, 8, 0xFFFFFFFFFFFFFFFF) },
	  .regs = { MARKS(1, 0, 0, 0, 1) },
	  .fl_mask = FL_ARITH, .fl_val = VMTEST_FL_ZF | VMTEST_FL_PF },
	{ .name = "cmp_overflow_16",
	  .code = VMTEST_GUEST_RANGE(mmio_cmp_overflow_16),
	  .preset = { SET(0x40, 2, 0x8000) },
	  .log = { RD(0x40, 2, 0x8000) },
	  .regs = { MARKS(0, 0, 0, 1, 1) },
	  .fl_mask = FL_ARITH, .fl_val = VMTEST_FL_OF | VMTEST_FL_PF },

	/* TEST m, imm (F6 /0, F7 /0). */
	{ .name = "test_sign_32", .code = VMTEST_GUEST_RANGE(mmio_test_sign_32),
	  .preset = { SET(0x10, 4, 0x80000001) },
	  .log = { RD(0x10, 4, 0x80000001) },
	  .regs = { MARKS(0, 0, 1, 0, 1) },
	  .win = { WIN(0x10, 4, 0x80000001) },
	  .fl_mask = FL_LOGIC, .fl_val = VMTEST_FL_SF | VMTEST_FL_PF },
	{ .name = "test_zero_8", .code = VMTEST_GUEST_RANGE(mmio_test_zero_8),
	  .log = { RD(0x20, 1, 0x20) },
	  .regs = { MARKS(1, 0, 0, 0, 1) },
	  .fl_mask = FL_LOGIC, .fl_val = VMTEST_FL_ZF | VMTEST_FL_PF },

	/* AND, OR, XOR, SUB in both directions. */
	{ .name = "and", .code = VMTEST_GUEST_RANGE(mmio_and),
	  .preset = { SET(0x10, 4, 0xF0F0F0F0) },
	  .log = { RD(0x10, 4, 0xF0F0F0F0), WR(0x10, 4, 0x00F000F0),
	    RD(0x14, 1, 0x14), WR(0x14, 1, 0x04), RD(0x20, 4, 0x23222120),
	    RD(0x30, 4, 0x33323130), WR(0x30, 4, 0) },
	  .regs = { REG(RCX, 0x23222120), MARKS(1, 0, 0, 0, 1) },
	  .win = { WIN(0x10, 4, 0x00F000F0), WIN(0x14, 1, 0x04),
	    WIN(0x30, 4, 0) },
	  .fl_mask = FL_LOGIC, .fl_val = VMTEST_FL_ZF | VMTEST_FL_PF },
	{ .name = "or", .code = VMTEST_GUEST_RANGE(mmio_or),
	  .log = { RD(0x10, 1, 0x10), WR(0x10, 1, 0x90), RD(0x30, 2, 0x3130),
	    WR(0x30, 2, 0x3F30), RD(0x20, 8, 0x2726252423222120) },
	  .regs = { REG(RDX, 0xA726252423222120), REG(RCX, 0x0F00),
	    MARKS(0, 0, 1, 0, 0) },
	  .win = { WIN(0x10, 1, 0x90), WIN(0x30, 2, 0x3F30) },
	  .fl_mask = FL_LOGIC, .fl_val = VMTEST_FL_SF },
	{ .name = "lock_or", .code = VMTEST_GUEST_RANGE(mmio_lock_or),
	  .log = { RD(0x10, 4, 0x13121110), WR(0x10, 4, 0x13321110) },
	  .win = { WIN(0x10, 4, 0x13321110) } },
	{ .name = "xor", .code = VMTEST_GUEST_RANGE(mmio_xor),
	  .log = { RD(0x20, 1, 0x20), WR(0x20, 1, 0xDF), RD(0x30, 1, 0x30),
	    RD(0x10, 4, 0x13121110), WR(0x10, 4, 0) },
	  .regs = { REG(RCX, 0xFFFFFFFFFFFFFF3F), REG(RAX, 0x13121110),
	    MARKS(1, 0, 0, 0, 1) },
	  .win = { WIN(0x10, 4, 0), WIN(0x20, 1, 0xDF) },
	  .fl_mask = FL_LOGIC, .fl_val = VMTEST_FL_ZF | VMTEST_FL_PF },
	{ .name = "sub", .code = VMTEST_GUEST_RANGE(mmio_sub),
	  .log = { RD(0x20, 8, 0x2726252423222120), RD(0x30, 1, 0x30),
	    WR(0x30, 1, 0), RD(0x10, 4, 0x13121110), WR(0x10, 4, 0xFFFFFFFF) },
	  .regs = { REG(RCX, 0xA), REG(RDX, 0x30), MARKS(0, 1, 1, 0, 1) },
	  .win = { WIN(0x10, 4, 0xFFFFFFFF), WIN(0x30, 1, 0) },
	  .fl_mask = FL_ARITH, .fl_val = VMTEST_FL_CF | VMTEST_FL_PF |
	    VMTEST_FL_AF | VMTEST_FL_SF },

	/* XCHG (86, 87) and BT m, imm8 (0F BA /4). */
	{ .name = "xchg", .code = VMTEST_GUEST_RANGE(mmio_xchg),
	  .log = { RD(0x10, 4, 0x13121110), WR(0x10, 4, 0xCAFEBABE),
	    RD(0x20, 1, 0x20), WR(0x20, 1, 0x77),
	    RD(0x28, 8, 0x2F2E2D2C2B2A2928), WR(0x28, 8, 0x0123456789ABCDEF) },
	  .regs = { REG(RAX, 0x13121110), REG(RCX, 0xAAAAAAAAAAAAAA20),
	    REG(R9, 0x2F2E2D2C2B2A2928) },
	  .win = { WIN(0x10, 4, 0xCAFEBABE), WIN(0x20, 1, 0x77),
	    WIN(0x28, 8, 0x0123456789ABCDEF) } },
	{ .name = "bt", .code = VMTEST_GUEST_RANGE(mmio_bt),
	  .preset = { SET(0x10, 4, 8), SET(0x18, 8, 0x8000000000000000) },
	  .log = { RD(0x10, 4, 8), RD(0x10, 4, 8), RD(0x10, 4, 8),
	    RD(0x18, 8, 0x8000000000000000) },
	  .regs = { REG(R8, 1), REG(R9, 1), REG(R10, 0), REG(R11, 1) },
	  .win = { WIN(0x10, 4, 8) },
	  .fl_mask = VMTEST_FL_CF, .fl_val = VMTEST_FL_CF },

	/* Accesses that cross a page: one callback per page. */
	{ .name = "page_cross", .code = VMTEST_GUEST_RANGE(mmio_page_cross),
	  .log = { RD(0xFFC, 4, 0xFFFEFDFC), RD(0x1000, 4, 0x03020100),
	    WR(0xFFE, 2, 0xCCDD), WR(0x1000, 2, 0xAABB) },
	  .regs = { REG(RAX, 0x03020100FFFEFDFC) },
	  .win = { WIN(0xFFC, 8, 0x0302AABBCCDDFDFC) } },

	/* Addressing forms. */
	{ .name = "real16", .code = VMTEST_GUEST_RANGE(mmio_real16),
	  .mode = MODE_REAL, .base = MMIO_REAL,
	  .log = { RD(0x34, 2, 0x3534), WR(0x120, 1, 0x77), RD(0x50, 2, 0x5150),
	    RD(0x1028, 4, 0x2B2A2928), WR(0x1320, 2, 0x3534),
	    RD(0x10, 1, 0x10) },
	  .regs = { REG(RAX, 0x3534), REG(RBX, 0xFFF0), REG(RCX, 0x2B2A2910),
	    REG(RDX, 0x5150), REG(RSI, 0x20), REG(RDI, 0x100),
	    REG(RBP, 0x20) },
	  .win = { WIN(0x120, 1, 0x77), WIN(0x1320, 2, 0x3534) } },
	{ .name = "addr32", .code = VMTEST_GUEST_RANGE(mmio_addr32),
	  .log = { RD(0x10, 4, 0x13121110), WR(0x28, 1, 0x5A) },
	  .regs = { REG(RAX, 0x13121110), REG(RBX, 0x12345678FFFFFFF0),
	    REG(RCX, 0x5A), REG(RDI, 0x7777777700000004) },
	  .win = { WIN(0x28, 1, 0x5A) } },
	{ .name = "sib64", .code = VMTEST_GUEST_RANGE(mmio_sib64),
	  .preset = { SET(0, 1, 0x5C) },
	  .log = { RD(0x28, 4, 0x2B2A2928), WR(0x48, 8, 0x1122334455667788),
	    RD(0xEC, 2, 0xEDEC), RD(0, 1, 0x5C), RD(0x64, 4, 0x67666564) },
	  .regs = { REG(RAX, 0x2B2A2928), REG(RSI, 0xFFFFFFFFFFFFEDEC),
	    REG(RDI, 0xFFFFFFFFFFFFFF5C), REG(R14, 0x67666564),
	    REG(RSP, VMTEST_LONG_RSP) },
	  .win = { WIN(0x48, 8, 0x1122334455667788) } },
	{ .name = "rip_rel", .code = VMTEST_GUEST_RANGE(mmio_rip_rel),
	  .base = MMIO_RIPREL,
	  .log = { RD(0x10, 4, 0x13121110), WR(0x20, 2, 0xBEEF),
	    WR(0x30, 4, 0x11223344), RD(0x40, 1, 0x40) },
	  .regs = { REG(RAX, 0x13121110), REG(RCX, 0xBEEF),
	    MARKS(0, 1, 1, 0, 1) },
	  .win = { WIN(0x20, 2, 0xBEEF), WIN(0x30, 4, 0x11223344) },
	  .fl_mask = FL_ARITH, .fl_val = VMTEST_FL_CF | VMTEST_FL_PF |
	    VMTEST_FL_AF | VMTEST_FL_SF },
	{ .name = "seg_long", .code = VMTEST_GUEST_RANGE(mmio_seg_long),
	  .prep = prep_seg_long,
	  .log = { RD(0x10, 4, 0x13121110), RD(0x110, 4, 0x13121110),
	    RD(0x220, 2, 0x2120), WR(0x300, 1, 0x10), RD(0x130, 1, 0x30),
	    WR(0x340, 1, 0x30) },
	  .regs = { REG(RAX, 0x13121110), REG(RCX, 0x13121110),
	    REG(RDX, 0x2120), REG(RSI, MMIO_LONG + 0x31),
	    REG(RDI, MMIO_LONG + 0x341) } },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

static size_t
case_len(const struct mmio_case *c)
{
	return (size_t)(c->end - c->code);
}

/*
 * In 64-bit mode the DS and ES bases are ignored and the FS and GS bases
 * are added (SDM vol. 3A, 3.2.4); give all four distinct non-zero bases.
 */
static void
prep_seg_long(struct vmtest *t)
{
	struct nvmm_x64_state *st = t->vcpu.state;

	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_SEGS) == -1)
		fail_msg("getstate: %s", strerror(errno));
	st->segs[NVMM_X64_SEG_DS].base = 0x1000;
	st->segs[NVMM_X64_SEG_ES].base = 0x2000;
	st->segs[NVMM_X64_SEG_FS].base = 0x100;
	st->segs[NVMM_X64_SEG_GS].base = 0x200;
	if (nvmm_vcpu_setstate(&t->mach, &t->vcpu, NVMM_X64_STATE_SEGS) == -1)
		fail_msg("setstate: %s", strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* The device. */

static uint64_t
le_value(const uint8_t *p, size_t size)
{
	uint64_t v = 0;
	size_t i;

	for (i = size; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

static void
le_store(uint8_t *p, size_t size, uint64_t v)
{
	size_t i;

	for (i = 0; i < size; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void mmio_bad(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Note a protocol violation; the test fails on it after the run. */
static void
mmio_bad(const char *fmt, ...)
{
	va_list ap;

	if (mmio.nbad++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(mmio.bad, sizeof(mmio.bad), fmt, ap);
	va_end(ap);
}

/* Reset the device for case c of test t: pattern, presets, empty log. */
static void
mmio_reset(struct vmtest *t, const struct mmio_case *c)
{
	const struct mmio_preset *p;
	size_t i;

	memset(&mmio, 0, sizeof(mmio));
	mmio.t = t;
	mmio.base = c->base != 0 ? c->base : MMIO_LONG;
	for (i = 0; i < MMIO_SIZE; i++)
		mmio.mem[i] = (uint8_t)i;
	for (p = c->preset; p->size != 0; p++)
		le_store(mmio.mem + p->off, p->size, p->val);
}

/*
 * The mem callback.  Checks that the library passed the caller's machine
 * and VCPU and an access inside the window of 1 to 8 bytes, then reads or
 * writes the window and logs the access.  A bad read gets 0xFF bytes.
 */
static void
mmio_cb(struct nvmm_mem *mem)
{
	struct mmio_access *a;
	uint64_t off = mem->gpa - mmio.base;

	if (mem->mach != &mmio.t->mach || mem->vcpu != &mmio.t->vcpu)
		mmio_bad("callback with mach %p vcpu %p, expected %p %p",
		    (void *)mem->mach, (void *)mem->vcpu,
		    (void *)&mmio.t->mach, (void *)&mmio.t->vcpu);
	if (mem->size < 1 || mem->size > 8 || mem->gpa < mmio.base ||
	    off > MMIO_SIZE - mem->size) {
		mmio_bad("%s of %zu bytes at GPA 0x%llx, outside the device",
		    mem->write ? "write" : "read", mem->size,
		    (unsigned long long)mem->gpa);
		if (!mem->write && mem->size <= 8)
			memset(mem->data, 0xff, mem->size);
		return;
	}
	if (mem->write)
		memcpy(mmio.mem + off, mem->data, mem->size);
	else
		memcpy(mem->data, mmio.mem + off, mem->size);

	if (mmio.ncalls++ >= MMIO_LOG_MAX)
		return;
	a = &mmio.log[mmio.nlog++];
	a->off = (uint32_t)off;
	a->size = (uint8_t)mem->size;
	a->write = mem->write;
	a->val = le_value(mmio.mem + off, mem->size);
}

/* Every MEMORY exit must name a GPA in the device and a read or a write. */
static void
mmio_exit_hook(struct vmtest *t)
{
	const struct nvmm_vcpu_exit *exit = t->vcpu.exit;

	if (exit->reason != NVMM_VCPU_EXIT_MEMORY)
		return;
	mmio.nexits++;
	if (exit->u.mem.gpa < mmio.base ||
	    exit->u.mem.gpa - mmio.base >= MMIO_SIZE)
		mmio_bad("MEMORY exit at GPA 0x%llx, outside the device",
		    (unsigned long long)exit->u.mem.gpa);
	if (exit->u.mem.prot != PROT_READ && exit->u.mem.prot != PROT_WRITE)
		mmio_bad("MEMORY exit at GPA 0x%llx with prot 0x%x",
		    (unsigned long long)exit->u.mem.gpa, exit->u.mem.prot);
}

/* ------------------------------------------------------------------------ */
/* Checks.  Each prints every mismatch and returns how many it found. */

static const char *const gpr_names[NVMM_X64_NGPR] = {
	"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
	"R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15", "RIP", "RFLAGS",
};

static void
print_access(const char *what, gpaddr_t base, const struct mmio_access *a)
{
	print_error("  %s %s gpa 0x%llx size %u value 0x%llx\n", what,
	    a->write ? "W" : "R", (unsigned long long)(base + a->off),
	    a->size, (unsigned long long)a->val);
}

static bool
access_eq(const struct mmio_access *a, const struct mmio_access *b)
{
	return a->off == b->off && a->size == b->size &&
	    a->write == b->write && a->val == b->val;
}

/*
 * The accesses must be exactly c->log, or, when c->ncalls is set, start
 * with c->log and number c->ncalls in all.
 */
static int
check_log(const struct mmio_case *c)
{
	unsigned int n, i;
	unsigned long want;
	bool same;

	for (n = 0; n < MMIO_LOG_MAX && c->log[n].size != 0; n++)
		continue;
	want = c->ncalls != 0 ? c->ncalls : n;
	same = mmio.ncalls == want && mmio.nlog >= n;
	for (i = 0; same && i < n; i++)
		same = access_eq(&c->log[i], &mmio.log[i]);
	if (same)
		return 0;
	print_error("%s: MMIO accesses differ\n", c->name);
	for (i = 0; i < n; i++)
		print_access("expected", mmio.base, &c->log[i]);
	if (want > n)
		print_error("  expected %lu accesses in all\n", want);
	for (i = 0; i < mmio.nlog; i++)
		print_access("got     ", mmio.base, &mmio.log[i]);
	if (mmio.ncalls > mmio.nlog)
		print_error("  got %lu accesses in all\n", mmio.ncalls);
	return 1;
}

static int
check_u64(const char *name, const char *what, uint64_t got, uint64_t want)
{
	if (got == want)
		return 0;
	print_error("%s: %s is 0x%llx, expected 0x%llx\n", name, what,
	    (unsigned long long)got, (unsigned long long)want);
	return 1;
}

static int
check_regs(struct vmtest *t, const struct mmio_case *c)
{
	const uint64_t *gprs = t->vcpu.state->gprs;
	const struct mmio_reg *r;
	int nerr = 0;

	if (nvmm_vcpu_getstate(&t->mach, &t->vcpu, NVMM_X64_STATE_GPRS) == -1)
		fail_msg("getstate: %s", strerror(errno));
	for (r = c->regs; r->on; r++)
		nerr += check_u64(c->name, gpr_names[r->idx], gprs[r->idx],
		    r->val);
	/* Every guest ends with its HLT; the exit leaves RIP past it. */
	nerr += check_u64(c->name, "RIP", gprs[NVMM_X64_GPR_RIP],
	    VMTEST_GUEST_BASE + case_len(c));
	nerr += check_u64(c->name, "RFLAGS (masked)",
	    gprs[NVMM_X64_GPR_RFLAGS] & c->fl_mask, c->fl_val);
	return nerr;
}

static int
check_mem(struct vmtest *t, const struct mmio_case *c)
{
	const struct mmio_ram *m;
	const struct mmio_preset *w;
	char what[64];
	int nerr = 0;

	for (m = c->ram; m->size != 0; m++) {
		snprintf(what, sizeof(what), "RAM[0x%llx]/%u",
		    (unsigned long long)m->gpa, m->size);
		nerr += check_u64(c->name, what,
		    le_value(t->ram + m->gpa, m->size), m->val);
	}
	for (w = c->win; w->size != 0; w++) {
		snprintf(what, sizeof(what), "MMIO[0x%llx]/%u",
		    (unsigned long long)(mmio.base + w->off), w->size);
		nerr += check_u64(c->name, what,
		    le_value(mmio.mem + w->off, w->size), w->val);
	}
	return nerr;
}

/* ------------------------------------------------------------------------ */
/* Running. */

struct fixture {
	const struct mmio_case *c;
	struct vmtest t;
};

/* Machine, device, callbacks, guest and CPU mode for case c. */
static void
case_start(struct vmtest *t, const struct mmio_case *c)
{
	struct nvmm_assist_callbacks cbs = { .io = NULL, .mem = mmio_cb };
	size_t ram = c->mode == MODE_REAL ? RAM_REAL : RAM_LONG;

	vmtest_require_kvm();
	assert_true(case_len(c) <= VMTEST_GUEST_MAX);
	if (vmtest_init(t, ram) == -1)
		fail_msg("vmtest_init: %s", strerror(errno));
	mmio_reset(t, c);
	if (nvmm_vcpu_configure(&t->mach, &t->vcpu, NVMM_VCPU_CONF_CALLBACKS,
	    &cbs) == -1)
		fail_msg("nvmm_vcpu_configure(CALLBACKS): %s", strerror(errno));
	t->exit_hook = mmio_exit_hook;

	vmtest_load(t, VMTEST_GUEST_BASE, c->code, case_len(c));
	if (c->mode == MODE_REAL)
		vmtest_setup_real(t, 0, VMTEST_GUEST_BASE);
	else
		vmtest_setup_long(t, VMTEST_GUEST_BASE);
	if (c->prep != NULL)
		c->prep(t);
}

static void
run_case(void **state)
{
	struct fixture *f = *state;
	const struct mmio_case *c = f->c;
	int nerr = 0;

	case_start(&f->t, c);
	vmtest_run(&f->t, NVMM_VCPU_EXIT_HALTED);

	if (mmio.nbad > 0) {
		print_error("%s: %u bad accesses; the first: %s\n", c->name,
		    mmio.nbad, mmio.bad);
		nerr++;
	}
	if (mmio.ncalls > 0 && mmio.nexits == 0) {
		print_error("%s: callbacks without a MEMORY exit\n", c->name);
		nerr++;
	}
	nerr += check_log(c);
	nerr += check_regs(&f->t, c);
	nerr += check_mem(&f->t, c);
	if (nerr > 0)
		fail_msg("%s: %d mismatches", c->name, nerr);
}

/*
 * nvmm_assist_mem after an exit other than MEMORY fails with EINVAL and
 * calls nothing (libnvmm_x86.c: "if (exit->reason != MEMORY)").
 */
static void
test_not_memory(void **state)
{
	struct fixture *f = *state;

	case_start(&f->t, f->c);
	vmtest_run(&f->t, NVMM_VCPU_EXIT_HALTED);
	mmio.nlog = 0;
	mmio.ncalls = 0;
	errno = 0;
	assert_int_equal(nvmm_assist_mem(&f->t.mach, &f->t.vcpu), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(mmio.ncalls, 0);
}

static int
fixture_teardown(void **state)
{
	struct fixture *f = *state;

	vmtest_fini(&f->t);
	return 0;
}

/*
 * One cmocka test per case, plus the wrong-exit test.  The test array is
 * built at run time so that each test's state is its own fixture.
 */
int
main(void)
{
	static struct fixture fixtures[NCASES + 1];
	static struct CMUnitTest tests[NCASES + 1];
	size_t i;

	for (i = 0; i < NCASES; i++) {
		fixtures[i].c = &cases[i];
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].teardown_func = fixture_teardown;
		tests[i].initial_state = &fixtures[i];
	}
	fixtures[NCASES].c = &cases[0];
	tests[NCASES].name = "not_memory_exit";
	tests[NCASES].test_func = test_not_memory;
	tests[NCASES].teardown_func = fixture_teardown;
	tests[NCASES].initial_state = &fixtures[NCASES];

	return _cmocka_run_group_tests("assist_mem", tests, NCASES + 1,
	    NULL, NULL);
}
