/*
 * dev_uart.S: the 16550A end to end (raw 64-bit guest at 0x1000).  Sets
 * 115200 8N1 through the divisor latch, turns the FIFOs on, checks the
 * scratch register, and prints a line one byte at a time, each after LSR
 * says the transmit holding register is empty.  Then, in loopback mode, it
 * sends 'L' to itself, takes LSR and RBR, leaves loopback and prints what
 * it got, with IIR.  Ends through the debug-exit port with 0.
 * Console (tests/test_devices.c):
 *	"dev_uart: hello\nloop: L lsr 61 iir c1\n"
 * A scratch register that does not keep its value prints "scr bad\n".
 */
#define DEV_GUEST
#include "dev_lib.S"

	.globl	_start
_start:
	call	uart_init
	movw	$COM1 + 7, %dx		/* SCR keeps what it is given */
	movb	$0x5a, %al
	outb	%al, %dx
	inb	%dx, %al
	cmpb	$0x5a, %al
	jne	scr_bad

	leaq	hello(%rip), %rsi
	call	puts

	movw	$COM1 + 4, %dx		/* MCR: loopback */
	movb	$0x10, %al
	outb	%al, %dx
	movw	$COM1, %dx
	movb	$'L', %al
	outb	%al, %dx
	movw	$COM1 + 5, %dx
	inb	%dx, %al
	movb	%al, %bl		/* LSR */
	movw	$COM1, %dx
	inb	%dx, %al
	movb	%al, %bh		/* RBR */
	movw	$COM1 + 4, %dx		/* MCR: DTR, RTS, out of loopback */
	movb	$0x03, %al
	outb	%al, %dx
	movw	$COM1 + 2, %dx
	inb	%dx, %al
	movb	%al, %r8b		/* IIR */

	leaq	loop(%rip), %rsi
	call	puts
	movb	%bh, %al
	call	putc
	leaq	lsr(%rip), %rsi
	call	puts
	movb	%bl, %al
	call	puthex
	leaq	iir(%rip), %rsi
	call	puts
	movb	%r8b, %al
	call	puthex
	movb	$'\n', %al
	call	putc
	jmp	done

scr_bad:
	leaq	scrbad(%rip), %rsi
	call	puts
done:
	xorb	%al, %al
	jmp	dev_exit

hello:	.asciz	"dev_uart: hello\n"
loop:	.asciz	"loop: "
lsr:	.asciz	" lsr "
iir:	.asciz	" iir "
scrbad:	.asciz	"scr bad\n"
