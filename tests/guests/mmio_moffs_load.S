/*
 * mmio_moffs_load.S: MOV AL/AX/EAX/RAX, moffs64 (A0, 66 A1, A1, REX.W A1)
 * from MMIO; each result is saved in R8-R10 before the next load.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$-1, %rax
	movabs	MMIO+0x10, %al
	mov	%rax, %r8
	mov	$-1, %rax
	movabs	MMIO+0x20, %ax
	mov	%rax, %r9
	mov	$-1, %rax
	movabs	MMIO+0x30, %eax
	mov	%rax, %r10
	movabs	MMIO+0x40, %rax
	hlt
