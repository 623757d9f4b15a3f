/*
 * ext_ioeventfd.S: real mode.  Writes port 0x99 three times (an ioeventfd
 * the test registers: no exit), then port 0x10 once (a normal IO exit), then
 * halts.
 */
	.code16
	.text
	.globl	_start
_start:
	movb	$1, %al
	outb	%al, $0x99
	outb	%al, $0x99
	outb	%al, $0x99
	movb	$0x2a, %al
	outb	%al, $0x10
	hlt
