/*
 * mmio_mov_load_16.S: MOV r16, m16 (66 8B) from MMIO; bits 16-63 of the
 * destination must survive.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$-1, %rdx
	mov	$-1, %r9
	mov	0x20(%rbx), %dx
	mov	0x22(%rbx), %r9w
	hlt
