/*
 * io_l_outl_dx.S: OUT DX port, dword (EAX), in 64-bit mode.  The I/O
 * instruction is at the load address and a HLT follows it; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code64
	out	%eax, (%dx)
	hlt
