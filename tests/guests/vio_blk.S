/*
 * vio_blk.S: a virtio-blk driver as a test guest (tests/test_virtio.c).
 * It probes the window (magic, version, device id), prints the offered
 * features and the capacity, negotiates VERSION_1 and FLUSH, sets up
 * queue 0 and then, one request at a time: reads sectors 0 and 1 and
 * prints the first 16 bytes of each; writes the bitwise NOT of sector 1 to
 * sector 2 and prints "write: ok" or "write: ioerr" (read-only disk);
 * flushes; prints the device id; reads past the end (ioerr); sends an
 * unknown request type (unsupp); reads sector 0 through an indirect table
 * and compares it with the first read.  Success: debug-exit 1.
 */
#define VIO_GUEST
#include "vio_lib.S"

	.globl	_start
_start:
	movl	$2, %edi
	call	vio_find
	movq	%rbx, %rax
	testq	%rax, %rax
	jnz	1f
	EXPECT_EAX 1, "no virtio-blk window"
1:	movl	R_MAGIC(%rbx), %eax
	EXPECT_EAX MAGIC, "magic"
	movl	R_VERSION(%rbx), %eax
	EXPECT_EAX 2, "version"
	movl	R_DEVICE_ID(%rbx), %eax
	EXPECT_EAX 2, "device id"
	PUTS	"virtio-blk: magic ok, version 2, device 2\n"

	movl	$1, R_DEV_FEAT_SEL(%rbx)
	movl	R_DEV_FEAT(%rbx), %eax
	EXPECT_EAX 1, "device features 32-63"
	movl	$0, R_DEV_FEAT_SEL(%rbx)
	PUTS	"features "
	movl	R_DEV_FEAT(%rbx), %eax
	call	puthex32
	PUTS	"\ncapacity "
	movq	R_CONFIG(%rbx), %rax
	call	puthex32
	call	putnl

	movl	$((1 << 9) | FEAT_INDIRECT), %esi	/* FLUSH, INDIRECT */
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	EXPECT_EAX 0xb, "features refused"
	xorl	%ecx, %ecx
	movq	$Q0, %rdi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 1, "queue 0 not ready"
	call	vio_go

	/* Sectors 0 and 1. */
	xorl	%eax, %eax
	xorl	%edx, %edx
	movq	$BUF, %r14
	movl	$1024, %r15d
	movl	$F_WRITE, %r10d
	call	blk_req
	EXPECT_EAX 0, "read status"
	movl	%ecx, %eax
	EXPECT_EAX 1025, "read used length"
	PUTS	"s0: "
	movq	$BUF, %rsi
	movl	$16, %ecx
	call	putsn
	PUTS	"\ns1: "
	movq	$(BUF + 512), %rsi
	movl	$16, %ecx
	call	putsn
	call	putnl

	/* Sector 2 := NOT sector 1. */
	movq	$(BUF + 512), %rsi
	movq	$(BUF + 1024), %rdi
	movl	$64, %ecx
1:	movq	(%rsi), %rax
	notq	%rax
	movq	%rax, (%rdi)
	addq	$8, %rsi
	addq	$8, %rdi
	decl	%ecx
	jnz	1b
	movl	$1, %eax
	movl	$2, %edx
	movq	$(BUF + 1024), %r14
	movl	$512, %r15d
	xorl	%r10d, %r10d
	call	blk_req
	pushq	%rax
	movl	%ecx, %eax
	EXPECT_EAX 1, "write used length"
	popq	%rax
	testl	%eax, %eax
	jnz	2f
	PUTS	"write: ok\n"
	jmp	3f
2:	EXPECT_EAX 1, "write status"
	PUTS	"write: ioerr\n"
3:
	/* Flush. */
	movl	$4, %eax
	xorl	%edx, %edx
	xorl	%r15d, %r15d
	call	blk_req
	EXPECT_EAX 0, "flush status"
	PUTS	"flush: ok\n"

	/* Device id. */
	movl	$8, %eax
	xorl	%edx, %edx
	movq	$(BUF + 0x800), %r14
	movl	$20, %r15d
	movl	$F_WRITE, %r10d
	call	blk_req
	EXPECT_EAX 0, "get-id status"
	movl	%ecx, %eax
	EXPECT_EAX 21, "get-id used length"
	PUTS	"id: "
	movq	$(BUF + 0x800), %rsi
	movl	$20, %ecx
	call	putsn
	call	putnl

	/* Two sectors from the last one: beyond the end. */
	movq	R_CONFIG(%rbx), %rdx
	decq	%rdx
	xorl	%eax, %eax
	movq	$(BUF + 0x1000), %r14
	movl	$1024, %r15d
	movl	$F_WRITE, %r10d
	call	blk_req
	EXPECT_EAX 1, "read beyond the end"
	PUTS	"beyond: ioerr\n"

	/* An unknown request type. */
	movl	$0x99, %eax
	xorl	%edx, %edx
	xorl	%r15d, %r15d
	call	blk_req
	EXPECT_EAX 2, "unknown request type"
	PUTS	"unknown: unsupp\n"

	/* Sector 0 again, through an indirect table of three entries. */
	movl	$0, HDR
	movl	$0, HDR + 4
	movq	$0, HDR + 8
	movb	$0xff, STAT
	movq	$IND, %rdi
	xorl	%ecx, %ecx
	movq	$HDR, %rax
	movl	$16, %edx
	movl	$F_NEXT, %r8d
	movl	$1, %r9d
	call	vio_desc
	movl	$1, %ecx
	movq	$(BUF + 0x2000), %rax
	movl	$512, %edx
	movl	$(F_NEXT | F_WRITE), %r8d
	movl	$2, %r9d
	call	vio_desc
	movl	$2, %ecx
	movq	$STAT, %rax
	movl	$1, %edx
	movl	$F_WRITE, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q0, %rdi
	xorl	%ecx, %ecx
	movq	$IND, %rax
	movl	$48, %edx
	movl	$F_INDIRECT, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q0, %rdi
	call	vio_used_idx
	movl	%eax, %ebp
	xorl	%eax, %eax
	call	vio_submit
	xorl	%ecx, %ecx
	call	vio_notify
	movq	$Q0, %rdi
	movl	%ebp, %ecx
	call	vio_used_len
	EXPECT_EAX 513, "indirect read used length"
	movzbl	STAT, %eax
	EXPECT_EAX 0, "indirect read status"
	movq	BUF, %rax
	cmpq	BUF + 0x2000, %rax
	jne	4f
	movq	BUF + 8, %rax
	cmpq	BUF + 0x2008, %rax
	jne	4f
	PUTS	"indirect: ok\n"
	movb	$1, %al
	jmp	vio_exit
4:	xorl	%eax, %eax
	EXPECT_EAX 1, "indirect read differs"
