/*
 * dev_reset.S: the i8042 reset line (raw 64-bit guest at 0x1000).  Runs
 * the controller self-test (0xAA at port 0x64, the answer at 0x60 once
 * the status says the output buffer is full) and prints
 * "selftest XX\n" (55 expected), then pulses the reset line with command
 * 0xFE: the worker ends with status 10, "reboot".  Spins afterwards: a
 * worker that ignored the command would be killed by the test's timeout.
 */
	.set	COM1, 0x3f8

	.code64
	.text
	.globl	_start
_start:
	movb	$0xaa, %al
	outb	%al, $0x64
1:	inb	$0x64, %al
	testb	$1, %al
	jz	1b
	inb	$0x60, %al
	movb	%al, %bl

	movw	$COM1, %dx
	leaq	msg(%rip), %rsi
2:	lodsb
	testb	%al, %al
	jz	3f
	outb	%al, %dx
	jmp	2b
3:	movb	%bl, %al
	shrb	$4, %al
	call	putnib
	movb	%bl, %al
	call	putnib
	movb	$'\n', %al
	outb	%al, %dx

	movb	$0xfe, %al
	outb	%al, $0x64
4:	jmp	4b

/* AL's low nibble as a hex digit to COM1 (DX). */
putnib:
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	1f
	addb	$'a' - '9' - 1, %al
1:	outb	%al, %dx
	ret

msg:	.asciz	"selftest "
