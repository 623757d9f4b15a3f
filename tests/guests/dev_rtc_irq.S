/*
 * dev_rtc_irq.S: the RTC's periodic interrupt through the in-kernel PIC
 * (raw 64-bit guest at 0x1000, irqchip on).  Loads an IDT whose vectors
 * 0x20-0x2F (the PICs, remapped) are interrupt gates, programs both 8259As
 * with only IRQ 8 (and the cascade) unmasked, sets register A to 64 Hz and
 * enables PIE.  The IRQ 8 handler reads register C (which acknowledges the
 * RTC), ANDs what it read into cflags, counts, and sends EOI to both PICs.
 * The main code halts until NIRQ interrupts have come, turns PIE off, and
 * prints "rtc irq: NN c=XX\n": the count, and cflags & 0xc0 ("08" and
 * "c0" expected: every interrupt found IRQF and PF set; UF comes and goes
 * with the seconds).  Then it ends through the debug-exit port with the
 * count (status 32 + 8).  Any other PIC vector prints "rtc irq: vector XX\n"
 * and ends with 31.
 */
	.set	COM1, 0x3f8
	.set	DEBUG_EXIT, 0x501
	.set	CODE64, 0x10		/* the loader's 64-bit code selector */
	.set	BASE, 0x1000		/* where the image runs */
	.set	NIRQ, 8

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

	/* Master PIC: vectors 0x20-0x27, slave on IRQ 2. */
	movb	$0x11, %al
	outb	%al, $0x20
	movb	$0x20, %al
	outb	%al, $0x21
	movb	$0x04, %al
	outb	%al, $0x21
	movb	$0x01, %al
	outb	%al, $0x21
	/* Slave PIC: vectors 0x28-0x2F, cascade identity 2. */
	movb	$0x11, %al
	outb	%al, $0xa0
	movb	$0x28, %al
	outb	%al, $0xa1
	movb	$0x02, %al
	outb	%al, $0xa1
	movb	$0x01, %al
	outb	%al, $0xa1
	/* Masks: IRQ 2 on the master, IRQ 8 on the slave. */
	movb	$0xfb, %al
	outb	%al, $0x21
	movb	$0xfe, %al
	outb	%al, $0xa1

	/* RTC: 64 Hz (rate 10), clear old flags, then PIE. */
	movb	$0x0a, %al
	outb	%al, $0x70
	movb	$0x2a, %al
	outb	%al, $0x71
	movb	$0x0c, %al
	outb	%al, $0x70
	inb	$0x71, %al
	movb	$0x0b, %al
	outb	%al, $0x70
	inb	$0x71, %al
	orb	$0x40, %al
	movb	%al, %bl
	movb	$0x0b, %al
	outb	%al, $0x70
	movb	%bl, %al
	outb	%al, $0x71

1:	sti
	hlt
	cli
	cmpl	$NIRQ, count(%rip)
	jb	1b

	movb	$0x0b, %al		/* PIE off */
	outb	%al, $0x70
	inb	$0x71, %al
	andb	$~0x40, %al
	movb	%al, %bl
	movb	$0x0b, %al
	outb	%al, $0x70
	movb	%bl, %al
	outb	%al, $0x71

	leaq	msg(%rip), %rsi
	call	puts
	movl	count(%rip), %eax
	call	puthex
	leaq	cmsg(%rip), %rsi
	call	puts
	movb	cflags(%rip), %al
	andb	$0xc0, %al
	call	puthex
	movb	$'\n', %al
	call	putc
	movl	count(%rip), %eax
	jmp	exit

irq8:
	pushq	%rax
	movb	$0x0c, %al
	outb	%al, $0x70
	inb	$0x71, %al
	andb	%al, cflags(%rip)
	incl	count(%rip)
	movb	$0x20, %al		/* EOI: slave, then master */
	outb	%al, $0xa0
	outb	%al, $0x20
	popq	%rax
	iretq

	/* Any other PIC vector: say which (from the stub) and end. */
	.irp	v, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, \
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
2:	cli
	hlt
	jmp	2b

puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

putc:
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

msg:	.asciz	"rtc irq: "
cmsg:	.asciz	" c="
vmsg:	.asciz	"vector "
	.balign	4
count:	.long	0
cflags:	.byte	0xff

	.balign	16
idt:	.fill	0x20 * 16, 1, 0		/* exceptions: not present */
	gate	stray0x20
	gate	stray0x21
	gate	stray0x22
	gate	stray0x23
	gate	stray0x24
	gate	stray0x25
	gate	stray0x26
	gate	stray0x27
	gate	irq8
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
