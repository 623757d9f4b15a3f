/*
 * mmio_cmp_overflow_16.S: CMP m16, imm16 (66 81 /7): 0x8000 - 0x100
 * overflows.
 * The flags of the last instruction are left in RFLAGS and, through
 * conditional jumps, in markers: R8 = ZF, R9 = CF, R10 = SF, R11 = OF,
 * R12 = PF (1 when set).  RFLAGS is preset with POPFQ to the opposite of
 * the expected flags.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	push	$0x8d3
	popfq
	cmpw	$0x100, 0x40(%rbx)
	jnz	1f
	mov	$1, %r8d
1:	jnc	2f
	mov	$1, %r9d
2:	jns	3f
	mov	$1, %r10d
3:	jno	4f
	mov	$1, %r11d
4:	jnp	5f
	mov	$1, %r12d
5:	hlt
