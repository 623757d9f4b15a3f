/*
 * vcpu_alias.S: one host page mapped at GPA 0x400000 and 0x800000.  Write
 * through one address and read through the other, both ways.
 * Expectations: tests/test_vcpu.c.
 */
	.code64

	movl	$0xCAFEBABE, 0x400010
	mov	0x800010, %eax
	movl	$0x5EED, 0x800020
	mov	0x400020, %ebx
	mov	0x400030, %ecx
	hlt
