/*
 * dev_reset.S: the i8042 reset line (raw 64-bit guest at 0x1000).  Runs
 * the controller self-test (0xAA at port 0x64, the answer at 0x60 once
 * the status says the output buffer is full) and prints
 * "selftest XX\n" (55 expected), then pulses the reset line with command
 * 0xFE: the worker ends with status 10, "reboot".  Spins afterwards: a
 * worker that ignored the command would be killed by the test's timeout.
 */
#define DEV_GUEST
#include "dev_lib.S"

	.globl	_start
_start:
	movb	$0xaa, %al
	outb	%al, $0x64
1:	inb	$0x64, %al
	testb	$1, %al
	jz	1b
	inb	$0x60, %al
	movb	%al, %bl

	leaq	msg(%rip), %rsi
	call	puts
	movb	%bl, %al
	call	puthex
	movb	$'\n', %al
	call	putc

	movb	$0xfe, %al
	outb	%al, $0x64
2:	jmp	2b

msg:	.asciz	"selftest "
