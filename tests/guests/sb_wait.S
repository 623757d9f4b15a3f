/*
 * sb_wait.S: a guest that stays up.  Real mode, loaded at 0x1000: prints
 * "waiting\n" on COM1, then halts with interrupts enabled.  Without an
 * in-kernel irqchip nothing ever interrupts it, so its vcpu thread parks
 * until the worker is stopped (a graceful stop is ignored and forced off
 * after the definition's shutdown_timeout).
 */
#include "rm_lib.S"

	.code16
	.text
	.globl	_start
_start:
	RM_PUTS	msg
1:	sti
	hlt
	jmp	1b

msg:	.asciz	"waiting\n"
