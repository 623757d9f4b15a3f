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
#define DEV_GUEST
#include "dev_lib.S"

	.set	BUFMAX, 32

	.globl	_start
_start:
	lidt	idtr(%rip)
	DEV_PIC_INIT 0xef, 0xff		/* IRQ 4 only */

	call	uart_init		/* 115200 8N1, FIFOs, trigger 14 */
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
	jmp	dev_exit

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

ready:	.asciz	"rx: ready\n"
iirmsg:	.asciz	"rx: iir "
datamsg: .asciz	" data "
prefix:	.asciz	"rx: "
	.balign	4
len:	.long	0
lastiir: .byte	0
buf:	.space	BUFMAX

	DEV_IRQ_TABLE 4, irq4, prefix
