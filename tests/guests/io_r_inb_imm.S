/*
 * io_r_inb_imm.S: IN imm8 port, byte (AL), in real mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code16
	in	$0x10, %al
	hlt
