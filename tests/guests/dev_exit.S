/*
 * dev_exit.S: the debug-exit port (raw 64-bit guest at 0x1000).  Writes
 * 74 to port 0x501: the worker ends with status 32 + (74 & 31) = 42 and
 * logs "debug exit 74" (tests/test_devices.c).
 */
	.code64
	.text
	.globl	_start
_start:
	movw	$0x501, %dx
	movb	$74, %al
	outb	%al, %dx
1:	jmp	1b
