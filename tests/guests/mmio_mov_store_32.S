/*
 * mmio_mov_store_32.S: MOV m32, r32 (89) to MMIO, aligned and unaligned.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x1122334455667788, %rax
	mov	$0xFEEDF00D, %r12d
	mov	%eax, 0x30(%rbx)
	mov	%r12d, 0x35(%rbx)
	hlt
