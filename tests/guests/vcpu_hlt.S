/*
 * vcpu_hlt.S: two HLTs.  Before each one the guest puts in a register the
 * address just past it, where NVMM leaves RIP at the HALTED exit (RBX for
 * the first, RCX for the second); RAX says how far it got (1, then 2).
 * Expectations: tests/test_vcpu.c, tests/test_api.c.
 */
	.code64

	lea	1f(%rip), %rbx
	mov	$1, %eax
	hlt
1:	lea	2f(%rip), %rcx
	mov	$2, %eax
	hlt
2:	hlt
	jmp	2b
