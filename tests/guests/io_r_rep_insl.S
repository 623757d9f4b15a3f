/*
 * io_r_rep_insl.S: REP INSD, in real mode.  The I/O instruction is at the
 * load address and a HLT follows it; the test sets the registers and checks
 * the results (tests/test_io.c).
 */
	.code16
	rep insl
	hlt
