/*
 * dev_lib.S: the shared part of the device test guests (dev_*.S, wk_smp.S),
 * which define DEV_GUEST and include this file first.  Assembled on its own
 * (the Makefile builds every guest) it is a guest that halts at once.
 *
 * The guests are raw 64-bit images at 0x1000 (identity-mapped, CPL0).  They
 * print on COM1, polling LSR, and end through the debug-exit port.  Guests
 * on the in-kernel PIC build their IDT with DEV_IRQ_TABLE.
 *
 * The library's code goes into subsection 1 of .text and its strings into
 * subsection 2, so that the including guest's code (subsection 0) starts
 * at the entry point.  Functions take arguments in the registers named and
 * clobber only what they say.
 */

#define COM1		0x3f8
#define DEBUG_EXIT	0x501
#define CODE64		0x10		/* the loader's 64-bit code selector */
#define BASE		0x1000		/* where the image runs */

#ifndef DEV_GUEST
	.code64
	.text
	.globl	_start
_start:	cli
	hlt
#endif

/*
 * DEV_PIC_INIT mmask, smask: initialize both 8259As (ICW1-ICW4: master at
 * vectors 0x20-0x27 with the slave on IRQ 2, slave at 0x28-0x2F), then
 * set their interrupt masks.  Clobbers AL.
 */
.macro	DEV_PIC_INIT mmask, smask
	movb	$0x11, %al
	outb	%al, $0x20
	movb	$0x20, %al
	outb	%al, $0x21
	movb	$0x04, %al
	outb	%al, $0x21
	movb	$0x01, %al
	outb	%al, $0x21
	movb	$0x11, %al
	outb	%al, $0xa0
	movb	$0x28, %al
	outb	%al, $0xa1
	movb	$0x02, %al
	outb	%al, $0xa1
	movb	$0x01, %al
	outb	%al, $0xa1
	movb	$\mmask, %al
	outb	%al, $0x21
	movb	$\smask, %al
	outb	%al, $0xa1
.endm

/* DEV_GATE h: a 64-bit interrupt gate to handler h, present, DPL 0. */
.macro	DEV_GATE h
	.word	(\h - _start + BASE) & 0xffff
	.word	CODE64
	.word	0x8e00
	.word	((\h - _start + BASE) >> 16) & 0xffff
	.long	0
	.long	0
.endm

/*
 * DEV_IRQ_TABLE irq, handler, prefix: the IDT of a guest that takes only
 * PIC interrupt irq (0-15, remapped by DEV_PIC_INIT) in handler.  Vectors
 * 0-0x1F are not present; any other PIC vector goes to a stub that prints
 * "<prefix>vector XX\n" (prefix: the label of a string) and ends with
 * debug-exit status 31.  Defines idtr, the operand for lidt.
 */
.macro	DEV_IRQ_TABLE irq, handler, prefix
	.irp	v, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, \
		0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
	.if	\v - 0x20 - \irq
dev_stray\v:
	movb	$\v, %bl
	jmp	dev_stray
	.endif
	.endr
dev_stray:
	leaq	\prefix(%rip), %rsi
	call	puts
	leaq	dev_vector(%rip), %rsi
	call	puts
	movb	%bl, %al
	call	puthex
	movb	$'\n', %al
	call	putc
	movb	$31, %al
	jmp	dev_exit

	.balign	16
dev_idt:
	.fill	0x20 * 16, 1, 0		/* exceptions: not present */
	.irp	v, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, \
		0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f
	.if	\v - 0x20 - \irq
	DEV_GATE dev_stray\v
	.else
	DEV_GATE \handler
	.endif
	.endr
dev_idt_end:
	.balign	8
	.word	0
idtr:	.word	dev_idt_end - dev_idt - 1
	.quad	dev_idt - _start + BASE
.endm

	.code64
	.text	1

/* puts: print the NUL-terminated string at %rsi.  Clobbers AL, DX, RSI. */
puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/* putc: print %al once LSR bit 5 (THRE) is set.  Clobbers DX. */
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

/* puthex: print %al as two lower-case hex digits.  Clobbers AL, DX. */
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

/* dev_exit: write %al to the debug-exit port; does not return. */
dev_exit:
	movw	$DEBUG_EXIT, %dx
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

/*
 * uart_init: COM1 at 115200 baud 8N1 (divisor latch 1), FIFOs on and
 * cleared with the receive trigger at 14.  Clobbers AL, DX.
 */
uart_init:
	movw	$COM1 + 3, %dx		/* LCR: DLAB */
	movb	$0x80, %al
	outb	%al, %dx
	movw	$COM1, %dx		/* DLL = 1 */
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
	ret

	.subsection 2
dev_vector:
	.asciz	"vector "

#ifdef DEV_GUEST
	.text	0
#endif
