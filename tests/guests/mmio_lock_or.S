/*
 * mmio_lock_or.S: LOCK OR m32, imm32 (F0 81 /1) on MMIO: the LOCK prefix
 * is accepted and the access is a read then a write.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lock orl $0x00200000, 0x10(%rbx)
	hlt
