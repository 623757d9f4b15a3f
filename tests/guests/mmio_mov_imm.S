/*
 * mmio_mov_imm.S: MOV m, imm (C6 /0, C7 /0) to MMIO at every width; the
 * 64-bit form sign-extends its imm32.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movb	$0x5A, 0x10(%rbx)
	movw	$0x1234, 0x20(%rbx)
	movl	$0x89ABCDEF, 0x30(%rbx)
	movq	$-2, 0x40(%rbx)
	movq	$0x7FFFFFFF, 0x48(%rbx)
	hlt
