/*
 * sb_hello.S: the sandbox tests' plain guest.  Real mode, loaded at 0x1000
 * (any CS: data is addressed through DS = 0): prints "sandboxed guest\n"
 * on COM1 one byte at a time, then writes 5 to the debug-exit port, which
 * ends the worker with status 32 + 5 = 37.
 */
#include "rm_lib.S"

	.code16
	.text
	.globl	_start
_start:
	RM_PUTS	msg
	movw	$0x501, %dx
	movb	$5, %al
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

msg:	.asciz	"sandboxed guest\n"
