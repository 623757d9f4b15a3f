/*
 * mmio_xchg.S: XCHG between registers and MMIO (87, 86, REX.W 87): a read
 * then a write of the same location.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x55555555CAFEBABE, %rax
	xchg	%eax, 0x10(%rbx)
	movabs	$0xAAAAAAAAAAAAAA77, %rcx
	xchg	%cl, 0x20(%rbx)
	movabs	$0x0123456789ABCDEF, %r9
	xchg	%r9, 0x28(%rbx)
	hlt
