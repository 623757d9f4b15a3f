/*
 * wk_triple.S: raw 64-bit guest that prints "tf\n" on COM1 and executes
 * ud2 with no IDT (the boot state's IDT limit is 0): #UD, then #DF, then a
 * triple fault, which the worker reports with exit status 11.
 */
	.code64
	.text
	.globl	_start
_start:
	movw	$0x3f8, %dx
	movb	$'t', %al
	outb	%al, %dx
	movb	$'f', %al
	outb	%al, %dx
	movb	$'\n', %al
	outb	%al, %dx
	ud2
