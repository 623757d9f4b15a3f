/*
 * mmio_movs_mmio_to_ram.S: MOVSQ and MOVSB (REX.W A5, A4) from MMIO to RAM
 * at 0x8000.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x10(%rbx), %rsi
	mov	$0x8000, %edi
	cld
	movsq
	movsb
	hlt
