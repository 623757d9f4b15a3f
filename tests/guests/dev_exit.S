/*
 * dev_exit.S: the debug-exit port (raw 64-bit guest at 0x1000).  Writes
 * 74 to port 0x501: the worker ends with status 32 + (74 & 31) = 42 and
 * logs "debug exit 74" (tests/test_devices.c).
 */
#define DEV_GUEST
#include "dev_lib.S"

	.globl	_start
_start:
	movb	$74, %al
	jmp	dev_exit
