/*
 * ctl_count.S: raw 64-bit guest for the control socket tests.  Prints
 * "tick NNNN\n" on COM1 (a four-digit decimal counter from 0000, wrapping
 * at 10000), then waits in a bounded busy loop (CPL0 guest code is slow
 * here, so a few thousand iterations are some milliseconds) and prints the
 * next one, forever.  Pausing the VM must stop the ticks.
 */
	.code64
	.text
	.globl	_start
_start:
	xorl	%ebx, %ebx		/* the counter */
next:
	leaq	tick(%rip), %rsi
	call	puts
	movl	%ebx, %eax
	movl	$1000, %ecx
	call	digit
	movl	$100, %ecx
	call	digit
	movl	$10, %ecx
	call	digit
	movl	$1, %ecx
	call	digit
	movw	$0x3f8, %dx
	movb	$'\n', %al
	outb	%al, %dx
	incl	%ebx
	cmpl	$10000, %ebx
	jb	1f
	xorl	%ebx, %ebx
1:	movl	$2500, %ecx
2:	decl	%ecx
	jnz	2b
	jmp	next

/* Print the digit EAX / ECX; leave the remainder in EAX. */
digit:
	xorl	%edx, %edx
	divl	%ecx
	movl	%edx, %edi
	addb	$'0', %al
	movw	$0x3f8, %dx
	outb	%al, %dx
	movl	%edi, %eax
	ret

/* Print the NUL-terminated string at RSI. */
puts:
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

tick:	.asciz	"tick "
