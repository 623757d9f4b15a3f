/*
 * mmio_addr32.S: 32-bit addressing (67 prefix) in 64-bit mode: only the
 * low 32 bits of the registers count and the address wraps at 4 GiB.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64

	movabs	$0x12345678FFFFFFF0, %rbx
	addr32 movl 0xC0000020(%ebx), %eax
	mov	$0xC0000000, %edx
	movabs	$0x7777777700000004, %rdi
	mov	$0x5A, %cl
	addr32 movb %cl, 0x8(%edx,%edi,8)
	hlt
