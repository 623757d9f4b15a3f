/*
 * dev_cad.S: Ctrl-Alt-Del through the i8042 (raw 64-bit guest at 0x1000).
 * Prints "cad: ready\n", then polls the controller: each time the status
 * port (0x64) says the output buffer is full it takes the byte from 0x60.
 * After eight bytes (the set 1 sequence the controller's translation makes
 * of Ctrl-Alt-Del) it prints them, "cad: 1d 38 e0 53 e0 d3 b8 9d\n"
 * expected, and ends through the debug-exit port with 0.
 */
#define DEV_GUEST
#include "dev_lib.S"

	.set	NBYTES, 8

	.globl	_start
_start:
	leaq	ready(%rip), %rsi
	call	puts

	leaq	buf(%rip), %rdi
	xorl	%ecx, %ecx
1:	inb	$0x64, %al
	testb	$1, %al
	jz	1b
	inb	$0x60, %al
	movb	%al, (%rdi, %rcx)
	incl	%ecx
	cmpl	$NBYTES, %ecx
	jb	1b

	leaq	cad(%rip), %rsi
	call	puts
	xorl	%ecx, %ecx
2:	movb	$' ', %al
	call	putc
	movb	(%rdi, %rcx), %al
	call	puthex
	incl	%ecx
	cmpl	$NBYTES, %ecx
	jb	2b
	movb	$'\n', %al
	call	putc

	xorb	%al, %al
	jmp	dev_exit

ready:	.asciz	"cad: ready\n"
cad:	.asciz	"cad:"
	.balign	8
buf:	.space	NBYTES
