/*
 * ctl_echo.S: raw 64-bit guest for the control socket tests.  Prints
 * "ctl_echo: ready\n" on COM1, then polls the line status register and
 * answers every received byte b with the three bytes "[b]".  Between
 * polls it waits in a short busy loop.
 */
	.code64
	.text
	.globl	_start
_start:
	leaq	banner(%rip), %rsi
	movw	$0x3f8, %dx
1:	lodsb
	testb	%al, %al
	jz	poll
	outb	%al, %dx
	jmp	1b

poll:
	movw	$0x3fd, %dx		/* LSR */
	inb	%dx, %al
	testb	$1, %al			/* DR: a byte is waiting */
	jnz	got
	movl	$400, %ecx
2:	decl	%ecx
	jnz	2b
	jmp	poll
got:
	movw	$0x3f8, %dx		/* RBR */
	inb	%dx, %al
	movb	%al, %bl
	movb	$'[', %al
	outb	%al, %dx
	movb	%bl, %al
	outb	%al, %dx
	movb	$']', %al
	outb	%al, %dx
	jmp	poll

banner:	.asciz	"ctl_echo: ready\n"
