/*
 * io_r_outl_imm.S: OUT imm8 port, dword (EAX), in real mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code16
	out	%eax, $0x10
	hlt
