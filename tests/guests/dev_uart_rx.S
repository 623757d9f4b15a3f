/*
 * dev_uart_rx.S: the 16550A's receive interrupts on IRQ 4 through the
 * in-kernel PIC (raw 64-bit guest at 0x1000, irqchip on).  115200 baud
 * (a character time-out of 347 us), FIFOs on with the trigger at 14, OUT2
 * set, only the receive interrupt enabled.  The handler keeps the IIR it
 * read and takes every byte while LSR says data is ready.  The main code
 * prints "rx: ready\n", waits (halted) for 3 bytes, prints
 * "rx: iir XX data YYY\n", then waits for 14 more and prints the same
 * kind of line, and ends through the debug-exit port with 0.  Three bytes
 * stay below the trigger: only the character time-out can bring them
 * (XX = cc); fourteen at once reach it (XX = c4) (tests/test_devices.c).
 * Any other PIC vector prints "rx: vector XX\n" and ends with 31.
 */
	.set	COM1, 0x3f8
	.set	DEBUG_EXIT, 0x501
	.set	CODE64, 0x10		/* the loader's 64-bit code selector */
	.set	BASE, 0x1000		/* where the image runs */
	.set	BUFMAX, 32

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

	movw	$COM1 + 3, %dx		/* 115200 8N1 */
	movb	$0x80, %al
	outb	%al, %dx
	movw	$COM1, %dx
	movb	$1, %al
	outb	%al, %dx
	movw	$COM1 + 1, %dx
	xorb	%al, %al
	outb	%al, %dx
	movw	$COM1 + 3, %dx
	movb	$0x03, %al
	outb	%al, %dx
	movw	$COM1 + 2, %dx		/* FIFOs on, cleared, trigger 14 */
	movb	$0xc7, %al
	outb	%al, %dx
	movw	$COM1 + 4, %dx		/* DTR, RTS, OUT2 */
	movb	$0x0b, %al
	outb	%al, %dx
	movw	$COM1 + 1, %dx		/* IER: received data */
	movb	$0x01, %al
	outb	%al, %dx

	leaq	ready(%rip), %rsi
	call	puts
	movl	$3, %ebx
	call	receive
	movl	$14, %ebx
	call	receive
	xorb	%al, %al
	jmp	exit

/* Wait for EBX bytes, then print the IIR and the bytes; empties buf. */
receive:
	movl	$0, len(%rip)
1:	sti
	hlt
	cli
	cmpl	%ebx, len(%rip)
	jb	1b
	leaq	iirmsg(%rip), %rsi
	call	puts
	movb	lastiir(%rip), %al
	call	puthex
	leaq	datamsg(%rip), %rsi
	call	puts
	leaq	buf(%rip), %rsi
	movl	len(%rip), %ecx
2:	lodsb
	call	putc
	decl	%ecx
	jnz	2b
	movb	$'\n', %al
	call	putc
	ret

irq4:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	movw	$COM1 + 2, %dx
	inb	%dx, %al
	movb	%al, lastiir(%rip)
1:	movw	$COM1 + 5, %dx
	inb	%dx, %al
	testb	$1, %al
	jz	2f
	movw	$COM1, %dx
	inb	%dx, %al
	movl	len(%rip), %ecx
	cmpl	$BUFMAX, %ecx
	jae	1b			/* too much: dropped */
	leaq	buf(%rip), %rdx
	movb	%al, (%rdx, %rcx)
	incl	len(%rip)
	jmp	1b
2:	movb	$0x20, %al		/* EOI */
	outb	%al, $0x20
	popq	%rdx
	popq	%rcx
	popq	%rax
	iretq

	.irp	v, 0x20, 0x21, 0x22, 0x23, 0x25, 0x26, 0x27, 0x28, \
		0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
stray\v:
	movb	$\v, %bl
	jmp	stray
	.endr
stray:
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
3:	cli
	hlt
	jmp	3b

puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/* Polled: AL once THR is empty.  Keeps every register but DX. */
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

ready:	.asciz	"rx: ready\n"
iirmsg:	.asciz	"rx: iir "
datamsg: .asciz	" data "
vmsg:	.asciz	"rx: vector "
	.balign	4
len:	.long	0
lastiir: .byte	0
buf:	.space	BUFMAX

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
