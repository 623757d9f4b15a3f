/*
 * sb_hello.S: the sandbox tests' plain guest.  Real mode, loaded at 0x1000
 * (any CS: data is addressed through DS = 0): prints "sandboxed guest\n"
 * on COM1 one byte at a time, then writes 5 to the debug-exit port, which
 * ends the worker with status 32 + 5 = 37.
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
2:	movw	$0x501, %dx
	movb	$5, %al
	outb	%al, %dx
3:	cli
	hlt
	jmp	3b

msg:	.asciz	"sandboxed guest\n"
