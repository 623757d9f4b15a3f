/*
 * io_l_outb_imm.S: OUT imm8 port, byte (AL), in 64-bit mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code64
	out	%al, $0x10
	hlt
