/*
 * mmio_rep_movs_df.S: REP MOVSW with RCX = 2 and DF = 1 (descending) from
 * RAM at 0x8002 to MMIO.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movl	$0xDDCCBBAA, 0x8000
	mov	$0x8002, %esi
	lea	0x102(%rbx), %rdi
	mov	$2, %ecx
	std
	rep movsw
	hlt
