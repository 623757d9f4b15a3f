/*
 * mmio_stos.S: STOSB/W/D/Q (AA, 66 AB, AB, REX.W AB) to MMIO, one after
 * the other, so RDI advances by 1, 2, 4 and 8.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x1122334455667788, %rax
	lea	0x100(%rbx), %rdi
	cld
	stosb
	stosw
	stosl
	stosq
	hlt
