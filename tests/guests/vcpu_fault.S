/*
 * vcpu_fault.S: faulting instructions at fixed offsets, run one at a time
 * with the harness's IDT limit of 0, so that each becomes a triple fault
 * (SHUTDOWN exit).  Expectations: tests/test_vcpu.c (fault_cases).
 */
	.code64

	.org	0x00
	ud2				/* #UD */
	.org	0x10
	int3				/* #BP */
	.org	0x20
	movabs	0x8000000000000000, %rax	/* non-canonical: #GP */
	.org	0x30
	movabs	0x100000000, %rax	/* above the 4 GiB map: #PF */
	.org	0x40
	hlt
