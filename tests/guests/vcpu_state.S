/*
 * vcpu_state.S: offset 0 only halts (the state round trip must find every
 * register as it left it).  Offset 0x10 reads what the program set: into
 * R8-R15 CR2, DR0, DR7, LSTAR, PAT, the quadword at FS:0 and CR8 (R11 is
 * unused), XMM0 into GPA 0x5100 (MOVDQU: this host's emulation of CPL0
 * code has no MOVQ from XMM) and FCW into 0x5110.
 *
 * Offset 0x80 runs at CPL3, natively on this host: it stores MXCSR into
 * 0x5120 (the CPL0 emulation has no STMXCSR), XMM0 and FCW as above, then
 * ends the run with UD2, a triple fault (SHUTDOWN exit) with the
 * harness's IDT limit of 0.
 *
 * Offset 0xC0 halts with the CPUID vendor (leaf 0) in EBX, EDX, ECX.
 * Expectations: tests/test_vcpu.c.
 */
	.code64

	.org	0x00
	hlt

	.org	0x10
	mov	%cr2, %r8
	mov	%dr0, %r9
	mov	%dr7, %r10
	movdqu	%xmm0, 0x5100
	fnstcw	0x5110
	mov	$0xC0000082, %ecx
	rdmsr
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %r12
	mov	$0x277, %ecx
	rdmsr
	shl	$32, %rdx
	or	%rdx, %rax
	mov	%rax, %r13
	mov	%fs:0, %r14
	mov	%cr8, %r15
	hlt

	.org	0x80
	stmxcsr	0x5120
	movdqu	%xmm0, 0x5100
	fnstcw	0x5110
	ud2

	.org	0xC0
	xor	%eax, %eax
	xor	%ecx, %ecx
	cpuid
	hlt
