/*
 * rm_lib.S: what the real-mode test guests (hello.S, sb_*.S) share.  They
 * are loaded at 0x1000 and may run with any CS: data is addressed through
 * DS = 0.  This file only defines macros; it emits no code of its own.
 */

/*
 * RM_PUTS msg: with DS = 0, write the NUL-terminated string at msg to
 * COM1's transmit register one byte at a time.  Clobbers AX, DX, SI, DS.
 */
.macro	RM_PUTS msg
	cld
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$\msg, %si
	movw	$0x3f8, %dx
.Lputs\@:
	lodsb
	testb	%al, %al
	jz	.Lputs_end\@
	outb	%al, %dx
	jmp	.Lputs\@
.Lputs_end\@:
.endm
