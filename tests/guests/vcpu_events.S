/*
 * vcpu_events.S: event delivery.  Offset 0 jumps over a {vector, handler}
 * table (ended by -1) from which the test builds the IDT.
 *
 * `start' puts the address of `window' (offset 0x100) in RBX, sets RAX to
 * 1 with IF=0, then STI; JMP window: the interrupt window opens at
 * `window', after STI's shadow.  From there the guest counts RCX up to
 * LAPS and halts with RAX = 2.  Entering at `window' with IF=1 runs the
 * count alone.
 *
 * Every handler stores its vector in R9 and its RSP (the frame the CPU
 * pushed, error code first when there is one) in R10, then halts.
 * Expectations: tests/test_vcpu.c.
 */
	.code64
	.set	LAPS, 5000

	.macro	handler vec
h\vec:	mov	$\vec, %r9d
	jmp	report
	.endm

	jmp	start
	.balign	8
	.irp	vec, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 19, 0x30
	.quad	\vec, h\vec
	.endr
	.quad	-1

	.org	0x100
window:	mov	$2, %eax
	xor	%ecx, %ecx
1:	inc	%ecx
	cmp	$LAPS, %ecx
	jb	1b
	hlt
2:	hlt
	jmp	2b

start:	lea	window(%rip), %rbx
	cli
	mov	$1, %eax
	sti
	jmp	window

	.irp	vec, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 19, 0x30
	handler	\vec
	.endr

report:	mov	%rsp, %r10
	hlt
3:	hlt
	jmp	3b
