/*
 * mmio_mov_store_64.S: MOV m64, r64 (REX.W 89) to MMIO, also with REX.B
 * (R14 as the base) and REX.R (R15 as the source).
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x1122334455667788, %rax
	mov	%rax, 0x40(%rbx)
	mov	$MMIO, %r14d
	movabs	$0x0123456789ABCDEF, %r15
	mov	%r15, 0x48(%r14)
	hlt
