/*
 * io_l_inw_imm.S: IN imm8 port, word (AX), in 64-bit mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code64
	in	$0x10, %ax
	hlt
