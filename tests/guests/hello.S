/*
 * hello.S: the demo guest.  Real mode at 0000:1000: writes a greeting to
 * COM1's transmit register one byte at a time, then halts.
 */
#include "rm_lib.S"

	.code16
	.text
	.globl	_start
_start:
	RM_PUTS	msg
1:	hlt
	jmp	1b

msg:	.asciz	"Hello from a guest on libvmm (libnvmm API on KVM)\n"
