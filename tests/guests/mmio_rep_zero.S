/*
 * mmio_rep_zero.S: REP STOSD, REP MOVSB and REP LODSW with RCX = 0 touch
 * nothing and change no register; the one MOV after them is the only MMIO
 * access.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	lea	0x100(%rbx), %rdi
	lea	0x10(%rbx), %rsi
	mov	$0x99, %eax
	xor	%ecx, %ecx
	cld
	rep stosl
	rep movsb
	rep lodsw
	movb	$1, 0x1FF(%rbx)
	hlt
