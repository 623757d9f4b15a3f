/*
 * vio_rng.S: a virtio-rng driver as a test guest (tests/test_virtio.c).
 * It fills a 64-byte buffer and checks that it is not all zero, a chain of
 * two 16-byte buffers (32 bytes used), and a chain of three 32 KiB buffers
 * of which the device fills only its per-request maximum (64 KiB): the
 * third stays zero.  Success: debug-exit 1.
 */
#define VIO_GUEST
#include "vio_lib.S"

	.globl	_start
_start:
	movl	$4, %edi
	call	vio_find
	movq	%rbx, %rax
	testq	%rax, %rax
	jnz	1f
	EXPECT_EAX 1, "no virtio-rng window"
1:	xorl	%esi, %esi
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	EXPECT_EAX 0xb, "features refused"
	xorl	%ecx, %ecx
	movq	$Q0, %rdi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 1, "queue 0 not ready"
	call	vio_go

	/* 64 bytes, not all zero. */
	movq	$BUF, %rax
	movl	$64, %edx
	call	rng_req
	EXPECT_EAX 64, "used length of 64 bytes"
	xorl	%eax, %eax
	movl	$8, %ecx
	movq	$BUF, %rsi
2:	orq	(%rsi), %rax
	addq	$8, %rsi
	decl	%ecx
	jnz	2b
	testq	%rax, %rax
	jnz	3f
	EXPECT_EAX 1, "64 random bytes all zero"
3:	PUTS	"rng: 64 bytes, not all zero\n"

	/* A chain of two writable buffers. */
	movq	$Q0, %rdi
	xorl	%ecx, %ecx
	movq	$(BUF + 0x100), %rax
	movl	$16, %edx
	movl	$(F_WRITE | F_NEXT), %r8d
	movl	$1, %r9d
	call	vio_desc
	movl	$1, %ecx
	movq	$(BUF + 0x200), %rax
	movl	$16, %edx
	movl	$F_WRITE, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q0, %rdi
	xorl	%eax, %eax
	call	vio_submit
	xorl	%ecx, %ecx
	call	vio_notify
	movq	$Q0, %rdi
	call	vio_used_idx
	EXPECT_EAX 2, "chain not used"
	movl	$1, %ecx
	call	vio_used_len
	EXPECT_EAX 32, "chain used length"
	PUTS	"rng: chain 32 bytes\n"

	/* 96 KiB asked for, 64 KiB given. */
	movq	$Q0, %rdi
	xorl	%ecx, %ecx
	movq	$BIGBUF, %rax
	movl	$0x8000, %edx
	movl	$(F_WRITE | F_NEXT), %r8d
	movl	$1, %r9d
	call	vio_desc
	movl	$1, %ecx
	movq	$(BIGBUF + 0x8000), %rax
	movl	$0x8000, %edx
	movl	$(F_WRITE | F_NEXT), %r8d
	movl	$2, %r9d
	call	vio_desc
	movl	$2, %ecx
	movq	$(BIGBUF + 0x10000), %rax
	movl	$0x8000, %edx
	movl	$F_WRITE, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q0, %rdi
	xorl	%eax, %eax
	call	vio_submit
	xorl	%ecx, %ecx
	call	vio_notify
	movq	$Q0, %rdi
	movl	$2, %ecx
	call	vio_used_len
	pushq	%rax
	PUTS	"rng: large "
	popq	%rax
	call	puthex32
	movq	BIGBUF + 0x10000, %rax
	orq	BIGBUF + 0x17ff8, %rax
	testq	%rax, %rax
	jnz	4f
	PUTS	", tail untouched\n"
	movb	$1, %al
	jmp	vio_exit
4:	xorl	%eax, %eax
	EXPECT_EAX 1, "bytes beyond the request maximum"
