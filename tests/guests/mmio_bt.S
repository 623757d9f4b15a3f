/*
 * mmio_bt.S: BT m, imm8 (0F BA /4) on MMIO; the bit offset of the imm8
 * form is taken modulo the operand size (35 is bit 3 of a dword).  CF
 * after each BT goes to a marker: R8, R9, R10, R11 (1 when set).
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	btl	$3, 0x10(%rbx)
	jnc	1f
	mov	$1, %r8d
1:	btl	$35, 0x10(%rbx)
	jnc	2f
	mov	$1, %r9d
2:	btl	$4, 0x10(%rbx)
	jnc	3f
	mov	$1, %r10d
3:	btq	$63, 0x18(%rbx)
	jnc	4f
	mov	$1, %r11d
4:	hlt
