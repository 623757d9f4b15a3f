/*
 * vcpu_spin.S: spin forever, counting laps in the dword at GPA 0x6000 so
 * that the program sees the guest run.  Meant for CPL3, where this host
 * runs guest code natively; only nvmm_vcpu_stop ends it.
 * Expectations: tests/test_vcpu.c.
 */
	.code64

1:	incl	0x6000
	jmp	1b
