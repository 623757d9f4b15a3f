/*
 * mmio_movs_mmio_to_mmio.S: MOVSD and MOVSB with both operands in MMIO:
 * each needs a read callback and then a write callback.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x20(%rbx), %rsi
	lea	0x180(%rbx), %rdi
	cld
	movsl
	movsb
	hlt
