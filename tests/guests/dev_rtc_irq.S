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
#define DEV_GUEST
#include "dev_lib.S"

	.set	NIRQ, 8

	.globl	_start
_start:
	lidt	idtr(%rip)
	/* Only IRQ 8 on the slave, and the cascade (IRQ 2) on the master. */
	DEV_PIC_INIT 0xfb, 0xfe

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
	jmp	dev_exit

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

msg:	.asciz	"rtc irq: "
cmsg:	.asciz	" c="
	.balign	4
count:	.long	0
cflags:	.byte	0xff

	DEV_IRQ_TABLE 8, irq8, msg
