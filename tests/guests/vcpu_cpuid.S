/*
 * vcpu_cpuid.S: CPUID leaf 0x40000000 (the hypervisor leaf), then HLT with
 * the result in EAX, EBX, ECX and EDX.  Expectations: tests/test_api.c.
 */
	.code64

	mov	$0x40000000, %eax
	xor	%ecx, %ecx
	cpuid
	hlt
