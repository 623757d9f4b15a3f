/*
 * mmio_rep_movs_mmio_to_mmio.S: REP MOVSB with RCX = 2, both operands in
 * MMIO.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x30(%rbx), %rsi
	lea	0x300(%rbx), %rdi
	mov	$2, %ecx
	cld
	rep movsb
	hlt
