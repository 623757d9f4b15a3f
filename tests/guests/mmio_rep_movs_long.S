/*
 * mmio_rep_movs_long.S: REP MOVSB with RCX = 5000 from MMIO to RAM at
 * 0x10000, more reads than one completion round may batch; every byte
 * must be read exactly once.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x100(%rbx), %rsi
	mov	$0x10000, %edi
	mov	$5000, %ecx
	cld
	rep movsb
	hlt
