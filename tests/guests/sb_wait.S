/*
 * sb_wait.S: a guest that stays up.  Real mode, loaded at 0x1000: prints
 * "waiting\n" on COM1, then halts with interrupts enabled.  Without an
 * in-kernel irqchip nothing ever interrupts it, so its vcpu thread parks
 * until the worker is stopped (a graceful stop is ignored and forced off
 * after the definition's shutdown_timeout).
 */
	.code16
	.text
	.globl	_start
_start:
	cld
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$msg, %si
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	sti
	hlt
	jmp	2b

msg:	.asciz	"waiting\n"
