/*
 * dev_rtc.S: reading the MC146818 (raw 64-bit guest at 0x1000).  Waits
 * until register A's UIP bit is clear, reads the time registers (BCD, 24
 * hours: the power-on format) and the seconds once more, and starts over
 * if an update came in between.  Prints
 *	"rtc: CCYY-MM-DD hh:mm:ss\n"
 * then register D, register B and CMOS bytes 0x35:0x34 (memory above
 * 16 MiB in 64 KiB units) as hex:
 *	"rtc: D=80 B=02 mem16=XXXX\n"
 * and ends through the debug-exit port with 0 (tests/test_devices.c).
 */
#define DEV_GUEST
#include "dev_lib.S"

	.globl	_start
_start:
again:
	movb	$0x0a, %bl		/* wait for UIP to clear */
	call	rtc_read
	testb	$0x80, %al
	jnz	again
	leaq	regs(%rip), %rdi
	leaq	order(%rip), %rsi
1:	movb	(%rsi), %bl
	cmpb	$0xff, %bl
	je	2f
	call	rtc_read
	movb	%al, (%rdi)
	incq	%rsi
	incq	%rdi
	jmp	1b
2:	movb	$0x00, %bl		/* seconds again: same update? */
	call	rtc_read
	cmpb	regs + 6(%rip), %al
	jne	again

	leaq	pre(%rip), %rsi
	call	puts
	leaq	regs(%rip), %rdi
	leaq	seps(%rip), %rsi
3:	movb	(%rdi), %al
	call	puthex
	incq	%rdi
	movb	(%rsi), %al
	incq	%rsi
	testb	%al, %al
	jz	3b			/* century and year: no separator */
	call	putc
	cmpb	$'\n', %al
	jne	3b

	leaq	dreg(%rip), %rsi
	call	puts
	movb	$0x0d, %bl
	call	rtc_read
	call	puthex
	leaq	breg(%rip), %rsi
	call	puts
	movb	$0x0b, %bl
	call	rtc_read
	call	puthex
	leaq	mem(%rip), %rsi
	call	puts
	movb	$0x35, %bl
	call	rtc_read
	call	puthex
	movb	$0x34, %bl
	call	rtc_read
	call	puthex
	movb	$'\n', %al
	call	putc

	xorb	%al, %al
	jmp	dev_exit

/* AL = CMOS register BL. */
rtc_read:
	movb	%bl, %al
	outb	%al, $0x70
	inb	$0x71, %al
	ret

/* Century, year, month, day, hours, minutes, seconds; 0xff ends. */
order:	.byte	0x32, 0x09, 0x08, 0x07, 0x04, 0x02, 0x00, 0xff
/* What follows each of them (0: nothing). */
seps:	.byte	0, '-', '-', ' ', ':', ':', '\n'
pre:	.asciz	"rtc: "
dreg:	.asciz	"rtc: D="
breg:	.asciz	" B="
mem:	.asciz	" mem16="
regs:	.space	8
