/*
 * mmio_rep_movs_mmio_to_ram.S: REP MOVSW with RCX = 3 from MMIO to RAM at
 * 0x8100.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x10(%rbx), %rsi
	mov	$0x8100, %edi
	mov	$3, %ecx
	cld
	rep movsw
	hlt
