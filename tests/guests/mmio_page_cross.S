/*
 * mmio_page_cross.S: a qword read and a dword write that cross from one
 * MMIO page into the next; each is split at the page boundary.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	MMIO, 0xC0000000

	mov	$MMIO, %ebx
	mov	0xFFC(%rbx), %rax
	movl	$0xAABBCCDD, 0xFFE(%rbx)
	hlt
