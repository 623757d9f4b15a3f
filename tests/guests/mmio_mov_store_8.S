/*
 * mmio_mov_store_8.S: MOV m8, r8 (88) to MMIO from AL, AH (legacy high
 * byte), DIL and R11B (REX).  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x1122334455667788, %rax
	mov	$0xCD, %edi
	mov	$0xAB, %r11d
	mov	%al, 0x10(%rbx)
	mov	%ah, 0x11(%rbx)
	mov	%dil, 0x12(%rbx)
	mov	%r11b, 0x13(%rbx)
	hlt
