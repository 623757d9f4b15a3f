/*
 * mmio_seg_long.S: segments in 64-bit mode.  The test gives DS and ES
 * non-zero bases, which must be ignored, and FS and GS bases 0x100 and
 * 0x200, which must be added (also to the source of a MOVS).
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movl	0x10(%rbx), %eax
	movl	%fs:0x10(%rbx), %ecx
	movw	%gs:0x20(%rbx), %dx
	lea	0x300(%rbx), %rdi
	stosb
	lea	0x30(%rbx), %rsi
	lea	0x340(%rbx), %rdi
	movsb	%fs:(%rsi), %es:(%rdi)
	hlt
