/*
 * mmio_rep_stos.S: REP STOSW with RCX = 3 to MMIO.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$0xBEEF, %eax
	lea	0x100(%rbx), %rdi
	mov	$3, %ecx
	cld
	rep stosw
	hlt
