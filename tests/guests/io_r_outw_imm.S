/*
 * io_r_outw_imm.S: OUT imm8 port, word (AX), in real mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code16
	out	%ax, $0x10
	hlt
