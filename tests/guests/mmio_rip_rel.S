/*
 * mmio_rip_rel.S: RIP-relative operands in MMIO at 0x80000000 (within
 * 2 GiB of the code).  The displacement is relative to the end of the
 * instruction, immediates included (C7 05 and 80 3D forms).  The CMP's
 * flags go to markers: R8 = ZF, R9 = CF, R10 = SF, R11 = OF, R12 = PF.
 * Expectations: tests/test_assist_mem.c.
 */
	.code64
	.set	WIN, 0x80000000
/* The guest runs at 0x1000: this makes "X(%rip)" reach the GPA a. */
#define RIPREL(a)	start + ((a) - 0x1000)

start:
	mov	$0xBEEF, %ecx
	movl	RIPREL(WIN + 0x10)(%rip), %eax
	movw	%cx, RIPREL(WIN + 0x20)(%rip)
	movl	$0x11223344, RIPREL(WIN + 0x30)(%rip)
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	push	$0x842
	popfq
	cmpb	$0x41, RIPREL(WIN + 0x40)(%rip)
	jnz	1f
	mov	$1, %r8d
1:	jnc	2f
	mov	$1, %r9d
2:	jns	3f
	mov	$1, %r10d
3:	jno	4f
	mov	$1, %r11d
4:	jnp	5f
	mov	$1, %r12d
5:	hlt
