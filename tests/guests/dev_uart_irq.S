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
#define DEV_GUEST
#include "dev_lib.S"

	.globl	_start
_start:
	lidt	idtr(%rip)
	DEV_PIC_INIT 0xef, 0xff		/* IRQ 4 only */

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
	jmp	dev_exit

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

text:	.asciz	"THRE-driven output\n"
msg:	.asciz	"uart irq: "
imsg:	.asciz	" iir "
	.balign	8
next:	.quad	text - _start + BASE
count:	.long	0
iirs:	.byte	0xff
txdone:	.byte	0

	DEV_IRQ_TABLE 4, irq4, msg
