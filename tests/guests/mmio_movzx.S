/*
 * mmio_movzx.S: MOVZX (0F B6, 0F B7) from MMIO into 16-, 32- and 64-bit
 * registers; the source bytes have their top bit set, so sign extension
 * would show.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$-1, %rax
	mov	$-1, %rcx
	mov	$-1, %rdx
	mov	$-1, %rsi
	mov	$-1, %r8
	movzbl	0x10(%rbx), %eax
	movzwl	0x20(%rbx), %ecx
	movzbq	0x10(%rbx), %rdx
	movzbw	0x10(%rbx), %si
	movzwq	0x20(%rbx), %r8
	hlt
