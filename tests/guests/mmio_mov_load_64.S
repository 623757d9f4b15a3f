/*
 * mmio_mov_load_64.S: MOV r64, m64 (REX.W 8B) from MMIO, aligned and
 * unaligned.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	0x40(%rbx), %rax
	mov	0x48(%rbx), %r11
	mov	0x53(%rbx), %rdx
	hlt
