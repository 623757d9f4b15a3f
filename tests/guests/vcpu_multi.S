/*
 * vcpu_multi.S: run by several VCPUs at once.  OUT AL to port DX, then
 * RCX = 2 * RAX + 1 and RSI = the address past the HLT.
 * Expectations: tests/test_vcpu.c.
 */
	.code64

	out	%al, (%dx)
	lea	1(%rax,%rax), %rcx
	lea	1f(%rip), %rsi
	hlt
1:	hlt
	jmp	1b
