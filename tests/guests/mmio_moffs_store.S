/*
 * mmio_moffs_store.S: MOV moffs64, AL/AX/EAX/RAX (A2, 66 A3, A3, REX.W A3)
 * to MMIO.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	movabs	$0x1122334455667788, %rax
	movabs	%al, MMIO+0x10
	movabs	%ax, MMIO+0x20
	movabs	%eax, MMIO+0x30
	movabs	%rax, MMIO+0x40
	hlt
