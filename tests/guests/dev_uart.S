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
	.set	COM1, 0x3f8
	.set	DEBUG_EXIT, 0x501

	.code64
	.text
	.globl	_start
_start:
	movw	$COM1 + 3, %dx		/* LCR: DLAB */
	movb	$0x80, %al
	outb	%al, %dx
	movw	$COM1, %dx		/* DLL = 1: 115200 baud */
	movb	$1, %al
	outb	%al, %dx
	movw	$COM1 + 1, %dx		/* DLM = 0 */
	xorb	%al, %al
	outb	%al, %dx
	movw	$COM1 + 3, %dx		/* LCR: 8N1, DLAB off */
	movb	$0x03, %al
	outb	%al, %dx
	movw	$COM1 + 2, %dx		/* FCR: FIFOs on and cleared, 14 */
	movb	$0xc7, %al
	outb	%al, %dx
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
	movw	$DEBUG_EXIT, %dx
	xorb	%al, %al
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

/* Print the NUL-terminated string at RSI. */
puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/* Print AL once LSR bit 5 (THRE) is set.  Clobbers DX. */
putc:
	pushq	%rax
	movw	$COM1 + 5, %dx
1:	inb	%dx, %al
	testb	$0x20, %al
	jz	1b
	popq	%rax
	movw	$COM1, %dx
	outb	%al, %dx
	ret

/* Print AL as two lower-case hex digits. */
puthex:
	pushq	%rax
	shrb	$4, %al
	call	putnib
	popq	%rax
putnib:
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	putc
	addb	$'a' - '9' - 1, %al
	jmp	putc

hello:	.asciz	"dev_uart: hello\n"
loop:	.asciz	"loop: "
lsr:	.asciz	" lsr "
iir:	.asciz	" iir "
scrbad:	.asciz	"scr bad\n"
