/*
 * wk_spin.S: raw 64-bit guest that prints "spin\n" on COM1 and then spins
 * with interrupts enabled, ignoring everything: the worker's graceful stop
 * must give up on it and force it off after the timeout.
 */
	.code64
	.text
	.globl	_start
_start:
	movw	$0x3f8, %dx
	leaq	msg(%rip), %rsi
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	pause
	jmp	2b
msg:	.asciz	"spin\n"
