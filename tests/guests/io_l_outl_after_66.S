/*
 * io_l_outl_after_66.S: OUT imm8 port, dword (EAX), in 64-bit mode, right
 * after an instruction whose last byte is 0x66 (the operand-size prefix
 * value), then HLT.  The OUT is at the load address plus 2; the test sets
 * the registers and checks the results (tests/test_io.c).
 */
	.code64
	mov	$0x66, %cl
	out	%eax, $0x10
	hlt
