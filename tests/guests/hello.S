/*
 * hello.S: the demo guest.  Real mode at 0000:1000: writes a greeting to
 * COM1's transmit register one byte at a time, then halts.
 */
	.code16
	.text
	.globl	_start
_start:
	cld
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$msg, %si
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	hlt
	jmp	2b

msg:	.asciz	"Hello from a guest on libvmm (libnvmm API on KVM)\n"
