/*
 * dev_uart_irq.S: the 16550A's THRE interrupt on IRQ 4 through the
 * in-kernel PIC (raw 64-bit guest at 0x1000, irqchip on).  Loads an IDT
 * for vectors 0x20-0x2F, programs the PICs with only IRQ 4 unmasked, sets
 * MCR's OUT2 (the PC's interrupt gate) and enables the THRE interrupt,
 * which fires at once with THR empty.  The handler reads IIR; while it
 * says THRE (low bits 0x2) it sends the next byte of the message, and
 * after the last byte it disables the interrupt.  The main code halts
 * until then and prints, polling, "uart irq: NN iir XX\n": the number of
 * interrupts (message length + 1 = 0x14 expected) and the AND of every
 * IIR value read (c2: FIFOs on, THRE).  Ends through the debug-exit port
 * with 0.  Any other PIC vector prints "uart irq: vector XX\n" and ends
 * with 31.
 * Console (tests/test_devices.c):
 *	"THRE-driven output\nuart irq: 14 iir c2\n"
 */
	.set	COM1, 0x3f8
	.set	DEBUG_EXIT, 0x501
	.set	CODE64, 0x10		/* the loader's 64-bit code selector */
	.set	BASE, 0x1000		/* where the image runs */

	/* A 64-bit interrupt gate to handler h, present, DPL 0. */
	.macro	gate h
	.word	(\h - _start + BASE) & 0xffff
	.word	CODE64
	.word	0x8e00
	.word	((\h - _start + BASE) >> 16) & 0xffff
	.long	0
	.long	0
	.endm

	.code64
	.text
	.globl	_start
_start:
	lidt	idtr(%rip)
	movb	$0x11, %al		/* master: 0x20-0x27, slave on IRQ 2 */
	outb	%al, $0x20
	movb	$0x20, %al
	outb	%al, $0x21
	movb	$0x04, %al
	outb	%al, $0x21
	movb	$0x01, %al
	outb	%al, $0x21
	movb	$0x11, %al		/* slave: 0x28-0x2F */
	outb	%al, $0xa0
	movb	$0x28, %al
	outb	%al, $0xa1
	movb	$0x02, %al
	outb	%al, $0xa1
	movb	$0x01, %al
	outb	%al, $0xa1
	movb	$0xef, %al		/* IRQ 4 only */
	outb	%al, $0x21
	movb	$0xff, %al
	outb	%al, $0xa1

	movw	$COM1 + 2, %dx		/* FIFOs on */
	movb	$0x07, %al
	outb	%al, %dx
	movw	$COM1 + 4, %dx		/* DTR, RTS, OUT2 */
	movb	$0x0b, %al
	outb	%al, %dx
	movw	$COM1 + 1, %dx		/* IER: THRE */
	movb	$0x02, %al
	outb	%al, %dx

1:	sti
	hlt
	cli
	cmpb	$0, txdone(%rip)
	je	1b

	leaq	msg(%rip), %rsi
	call	puts
	movl	count(%rip), %eax
	call	puthex
	leaq	imsg(%rip), %rsi
	call	puts
	movb	iirs(%rip), %al
	call	puthex
	movb	$'\n', %al
	call	putc
	xorb	%al, %al
	jmp	exit

irq4:
	pushq	%rax
	pushq	%rdx
	pushq	%rsi
	incl	count(%rip)
	movw	$COM1 + 2, %dx
	inb	%dx, %al
	andb	%al, iirs(%rip)
	andb	$0x0f, %al
	cmpb	$0x02, %al
	jne	3f
	movq	next(%rip), %rsi
	lodsb
	testb	%al, %al
	jz	2f
	movw	$COM1, %dx
	outb	%al, %dx
	movq	%rsi, next(%rip)
	jmp	3f
2:	movw	$COM1 + 1, %dx		/* all sent: THRE interrupt off */
	xorb	%al, %al
	outb	%al, %dx
	movb	$1, txdone(%rip)
3:	movb	$0x20, %al		/* EOI */
	outb	%al, $0x20
	popq	%rsi
	popq	%rdx
	popq	%rax
	iretq

	.irp	v, 0x20, 0x21, 0x22, 0x23, 0x25, 0x26, 0x27, 0x28, \
		0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
stray\v:
	movb	$\v, %bl
	jmp	stray
	.endr
stray:
	leaq	msg(%rip), %rsi
	call	puts
	leaq	vmsg(%rip), %rsi
	call	puts
	movb	%bl, %al
	call	puthex
	movb	$'\n', %al
	call	putc
	movb	$31, %al
exit:
	movw	$DEBUG_EXIT, %dx
	outb	%al, %dx
4:	cli
	hlt
	jmp	4b

/* Polled output, for after the interrupt part. */
puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

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

text:	.asciz	"THRE-driven output\n"
msg:	.asciz	"uart irq: "
imsg:	.asciz	" iir "
vmsg:	.asciz	"vector "
	.balign	8
next:	.quad	text - _start + BASE
count:	.long	0
iirs:	.byte	0xff
txdone:	.byte	0

	.balign	16
idt:	.fill	0x20 * 16, 1, 0		/* exceptions: not present */
	gate	stray0x20
	gate	stray0x21
	gate	stray0x22
	gate	stray0x23
	gate	irq4
	gate	stray0x25
	gate	stray0x26
	gate	stray0x27
	gate	stray0x28
	gate	stray0x29
	gate	stray0x2a
	gate	stray0x2b
	gate	stray0x2c
	gate	stray0x2d
	gate	stray0x2e
	gate	stray0x2f
idt_end:
	.balign	8
	.word	0
idtr:	.word	idt_end - idt - 1
	.quad	idt - _start + BASE
