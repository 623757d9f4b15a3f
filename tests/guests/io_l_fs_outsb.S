/*
 * io_l_fs_outsb.S: OUTSB with an FS override (64 6E), in 64-bit mode.  The
 * I/O instruction is at the load address and a HLT follows it; the test
 * sets the registers and checks the results (tests/test_io.c).
 */
	.code64
	outsb	%fs:(%rsi), (%dx)
	hlt
