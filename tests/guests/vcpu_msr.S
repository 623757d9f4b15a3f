/*
 * vcpu_msr.S: RDMSR and WRMSR of MSR 0xFFFFFFFF, which KVM does not know,
 * so each exits to the program (RDMSR/WRMSR exits).
 *
 * Offset 0 jumps over a {vector, handler} table (ended by -1) from which
 * the test builds the IDT.  The RDMSR part starts at offset 0 and leaves
 * EDX:EAX in R8; the WRMSR part starts at offset 0x40 and writes
 * 0xAABBCCDD11223344, then sets R8 to 1.  The #GP handler saves its error
 * code in R12, the faulting RIP in R13 and 13 in R9.
 * Expectations: tests/test_vcpu.c.
 */
	.code64

	jmp	rd
	.balign	8
	.quad	13, gp
	.quad	-1

rd:	mov	$0xFFFFFFFF, %ecx
	rdmsr
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %r8
	hlt

	.org	0x40
wr:	mov	$0xFFFFFFFF, %ecx
	mov	$0xAABBCCDD, %edx
	mov	$0x11223344, %eax
	wrmsr
	mov	$1, %r8d
	hlt

gp:	pop	%r12
	mov	(%rsp), %r13
	mov	$13, %r9d
	hlt
