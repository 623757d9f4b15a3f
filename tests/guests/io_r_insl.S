/*
 * io_r_insl.S: INSD, in real mode.  The I/O instruction is at the load
 * address and a HLT follows it; the test sets the registers and checks the
 * results (tests/test_io.c).
 */
	.code16
	insl
	hlt
