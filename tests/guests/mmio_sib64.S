/*
 * mmio_sib64.S: 64-bit ModRM/SIB addressing: base+index*scale+disp8,
 * REX.X/REX.B registers (R13 base, R12 index), a negative disp8 with an
 * RBP base, a negative index, and an RSP base.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$3, %ecx
	movl	0x10(%rbx,%rcx,8), %eax
	mov	$MMIO, %r13d
	mov	$0x20, %r12d
	movabs	$0x1122334455667788, %rdx
	movq	%rdx, 0x8(%r13,%r12,2)
	lea	0x100(%rbx), %rbp
	mov	$-1, %rsi
	movw	-0x20(%rbp,%rcx,4), %si
	mov	$-8, %rdi
	movb	0x10(%rbx,%rdi,2), %dil
	mov	%rsp, %r15
	lea	0x60(%rbx), %rsp
	movl	0x4(%rsp), %r14d
	mov	%r15, %rsp
	hlt
