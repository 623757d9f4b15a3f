/*
 * mmio_real16.S: 16-bit addressing in real mode against MMIO at 0xB8000
 * (DS = 0xB800) and 0xB9000 (SS = 0xB900): [bx+si+disp8], [bx+di+disp8],
 * the disp16-only form, [bp+disp8] and [bp+di+disp16] (which default to
 * SS), and [bx+si] wrapping at 64 KiB.  Expectations: tests/test_assist_mem.c.
 */
	.code16

	mov	$0xB800, %ax
	mov	%ax, %ds
	mov	$0xB900, %ax
	mov	%ax, %ss
	mov	$0x0010, %bx
	mov	$0x0004, %si
	mov	$0x0100, %di
	mov	$0x0020, %bp
	movw	0x20(%bx,%si), %ax
	movb	$0x77, 0x10(%bx,%di)
	movw	0x50, %dx
	movl	0x8(%bp), %ecx
	movw	%ax, 0x200(%bp,%di)
	mov	$0xFFF0, %bx
	mov	$0x0020, %si
	movb	(%bx,%si), %cl
	hlt
