/*
 * io_l_a32_rep_insw.S: REP INSW with a 0x67 prefix (32-bit address: EDI,
 * ECX), in 64-bit mode.  The I/O instruction is at the load address and a
 * HLT follows it; the test sets the registers and checks the results
 * (tests/test_io.c).
 */
	.code64
	addr32 rep insw
	hlt
