/*
 * io_r_insb.S: INSB, in real mode.  The I/O instruction is at the load
 * address and a HLT follows it; the test sets the registers and checks the
 * results (tests/test_io.c).
 */
	.code16
	insb
	hlt
