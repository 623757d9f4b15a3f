/*
 * mmio_lods.S: LODSB/W/D/Q (AC, 66 AD, AD, REX.W AD) from MMIO; each
 * result is saved in R8-R10 before the next load.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x10(%rbx), %rsi
	cld
	mov	$-1, %rax
	lodsb
	mov	%rax, %r8
	lodsw
	mov	%rax, %r9
	lodsl
	mov	%rax, %r10
	lodsq
	hlt
