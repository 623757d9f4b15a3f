/*
 * mmio_mov_load_8.S: MOV r8, m8 (8A) from MMIO into AL, CH (legacy high
 * byte) and SIL (REX); the other bits of each register must survive.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$-1, %rax
	mov	$-1, %rcx
	mov	$-1, %rsi
	mov	0x10(%rbx), %al
	mov	0x11(%rbx), %ch
	mov	0x12(%rbx), %sil
	hlt
