/*
 * io_r_a32_outsb.S: OUTSB with a 0x67 prefix (32-bit address, ESI), in real
 * mode.  The I/O instruction is at the load address and a HLT follows it;
 * the test sets the registers and checks the results (tests/test_io.c).
 */
	.code16
	addr32 outsb
	hlt
