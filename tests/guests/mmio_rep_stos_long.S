/*
 * mmio_rep_stos_long.S: REP STOSB with RCX = 5000 to MMIO, more accesses
 * than one completion round may batch; every byte must reach the device
 * exactly once.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	$0x5A, %eax
	lea	0x100(%rbx), %rdi
	mov	$5000, %ecx
	cld
	rep stosb
	hlt
