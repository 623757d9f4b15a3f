/*
 * mmio_mov_store_16.S: MOV m16, r16 (66 89) to MMIO.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x1122334455667788, %rax
	mov	$0xBEEF, %r8d
	mov	%ax, 0x20(%rbx)
	mov	%r8w, 0x22(%rbx)
	hlt
