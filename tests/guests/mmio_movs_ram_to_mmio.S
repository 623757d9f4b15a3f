/*
 * mmio_movs_ram_to_mmio.S: MOVSD and MOVSW (A5, 66 A5) from RAM at 0x8000
 * to MMIO.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movl	$0xDDCCBBAA, 0x8000
	movl	$0x44332211, 0x8004
	mov	$0x8000, %esi
	lea	0x100(%rbx), %rdi
	cld
	movsl
	movsw
	hlt
