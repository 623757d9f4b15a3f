/*
 * sys_out_loop.S: an endless loop, in real mode, that writes BX to port
 * 0x10 and counts its iterations in SI.  The OUT is at the load address
 * plus 2 and is 2 bytes long.  tests/test_syscalls.c handles each IO exit
 * and counts the system calls that costs.
 */
	.code16
1:	mov	%bx, %ax
	out	%ax, $0x10
	inc	%si
	jmp	1b
