/*
 * io_l_after_mmio.S: a MEMORY exit (a byte load from the device at
 * 0xC0000040), then an OUT of that byte to port 0x10 (an IO exit), then
 * HLT, in 64-bit mode.  The test calls nvmm_assist_io at each exit and
 * checks which calls must fail (tests/test_io.c).
 */
	.code64
	mov	$0xC0000000, %ebx
	movb	0x40(%rbx), %al
	out	%al, $0x10
	hlt
