/*
 * mmio_mov_load_32.S: MOV r32, m32 (8B) from MMIO; a 32-bit result clears
 * bits 32-63.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$-1, %rax
	mov	$-1, %r10
	mov	0x30(%rbx), %eax
	mov	0x34(%rbx), %r10d
	hlt
