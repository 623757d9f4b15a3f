/*
 * mmio_rep_movs_ram_to_mmio.S: REP MOVSD with RCX = 4 from RAM at 0x8000
 * to MMIO.  Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	movabs	$0x8877665544332211, %rax
	mov	%rax, 0x8000
	movabs	$0x00FFEEDDCCBBAA99, %rax
	mov	%rax, 0x8008
	mov	$0x8000, %esi
	lea	0x200(%rbx), %rdi
	mov	$4, %ecx
	cld
	rep movsl
	hlt
