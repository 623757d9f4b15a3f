/*
 * io_r_outw_dx.S: OUT DX port, word (AX), in real mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code16
	out	%ax, (%dx)
	hlt
