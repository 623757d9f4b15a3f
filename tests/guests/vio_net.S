/*
 * vio_net.S: a virtio-net driver as a test guest (tests/test_virtio_net.c).
 * It prints the offered features, negotiates MAC and STATUS, prints the
 * MAC address and the link state, posts two receive buffers before
 * DRIVER_OK, sends a broadcast frame of type 0x88b5 carrying "hello from
 * the guest", then waits for a frame of that type (others are given back
 * to the device), prints its payload and sends it back to its sender.
 * Frames are 60 bytes: 14 of header, 46 of zero-padded payload.
 * Success: debug-exit 1.
 */
#define VIO_GUEST
#include "vio_lib.S"

#define MYMAC		0x109200	/* the MAC address, from config */
#define TXB		(BUF + 0x4000)	/* virtio header, then the frame */
#define RXB(i)		(BUF + 0x1000 * (i))
#define ETH_TYPE	0xb588		/* 0x88b5, as a little-endian load */
#define RX_SPINS	2000000

	.globl	_start
_start:
	movl	$1, %edi
	call	vio_find
	movq	%rbx, %rax
	testq	%rax, %rax
	jnz	1f
	EXPECT_EAX 1, "no virtio-net window"
1:	PUTS	"virtio-net: features "
	movl	$0, R_DEV_FEAT_SEL(%rbx)
	movl	R_DEV_FEAT(%rbx), %eax
	call	puthex32
	call	putnl
	movl	$((1 << 5) | (1 << 16)), %esi	/* MAC, STATUS */
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	EXPECT_EAX 0xb, "features refused"

	/* The MAC address, a byte at a time (as the spec asks). */
	PUTS	"mac "
	xorl	%r12d, %r12d
2:	movzbl	R_CONFIG(%rbx,%r12), %eax
	movb	%al, MYMAC(%r12)
	call	puthex8
	incl	%r12d
	cmpl	$6, %r12d
	je	3f
	movw	$COM1, %dx
	movb	$':', %al
	outb	%al, %dx
	jmp	2b
3:	call	putnl
	movzwl	R_CONFIG + 6(%rbx), %eax
	EXPECT_EAX 1, "link status"
	PUTS	"link up\n"

	/* Both queues; receive buffers before DRIVER_OK. */
	xorl	%ecx, %ecx
	movq	$Q0, %rdi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 1, "receive queue not ready"
	movl	$1, %ecx
	movq	$Q1, %rdi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 1, "transmit queue not ready"
	xorl	%r12d, %r12d
4:	movq	$Q0, %rdi
	movl	%r12d, %ecx
	movl	%r12d, %eax
	shll	$12, %eax
	addq	$BUF, %rax
	movl	$2048, %edx
	movl	$F_WRITE, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q0, %rdi
	movl	%r12d, %eax
	call	vio_submit
	incl	%r12d
	cmpl	$2, %r12d
	jne	4b
	call	vio_go

	/* Hello, to everyone. */
	movq	$(TXB + 12), %rdi
	movl	$0xffffffff, (%rdi)
	movw	$0xffff, 4(%rdi)
	leaq	hello(%rip), %rsi
	call	send_frame
	EXPECT_EAX 1, "hello not sent"
	PUTS	"tx: hello sent\n"

	/* Wait for a frame of our type. */
	xorl	%r12d, %r12d			/* used entries seen */
5:	movl	$RX_SPINS, %r13d
6:	movq	$Q0, %rdi
	call	vio_used_idx
	cmpl	%r12d, %eax
	jne	7f
	pause
	decl	%r13d
	jnz	6b
	xorl	%eax, %eax
	EXPECT_EAX 1, "no frame received"
7:	movq	$Q0, %rdi
	movl	%r12d, %ecx
	call	vio_used_id
	movl	%eax, %r14d			/* buffer id */
	incl	%r12d
	movl	%r14d, %r15d
	shll	$12, %r15d
	addq	$BUF, %r15			/* the buffer */
	movzwl	12 + 12(%r15), %eax
	cmpl	$ETH_TYPE, %eax
	je	8f
	/* Not ours: give the buffer back. */
	movq	$Q0, %rdi
	movl	%r14d, %eax
	call	vio_submit
	xorl	%ecx, %ecx
	call	vio_notify
	jmp	5b

8:	PUTS	"rx: "
	leaq	12 + 14(%r15), %rsi
	movl	$46, %ecx
	call	putsn
	call	putnl
	/* Back to the sender: its address, then ours, the same payload. */
	movq	$(TXB + 12), %rdi
	movl	12 + 6(%r15), %eax
	movl	%eax, (%rdi)
	movw	12 + 10(%r15), %ax
	movw	%ax, 4(%rdi)
	leaq	12 + 14(%r15), %rsi
	call	send_frame
	EXPECT_EAX 2, "echo not sent"
	PUTS	"echo: sent\n"
	movb	$1, %al
	jmp	vio_exit

/*
 * send_frame: complete the frame at TXB (destination already at TXB + 12)
 * with our address, the type and 46 bytes of payload from %rsi (a string,
 * zero-padded), send it as header + frame (two descriptors) and return
 * the transmit queue's used index.
 */
send_frame:
	movq	$TXB, %rdi
	movq	$0, (%rdi)
	movl	$0, 8(%rdi)
	movl	MYMAC, %eax
	movl	%eax, 12 + 6(%rdi)
	movw	MYMAC + 4, %ax
	movw	%ax, 12 + 10(%rdi)
	movw	$ETH_TYPE, 12 + 12(%rdi)
	leaq	12 + 14(%rdi), %rdi
	movl	$46, %ecx
1:	lodsb
	stosb
	testb	%al, %al
	jz	2f
	decl	%ecx
	jnz	1b
	jmp	3f
2:	decl	%ecx
	xorl	%eax, %eax
	rep stosb
3:	movq	$Q1, %rdi
	xorl	%ecx, %ecx
	movq	$TXB, %rax
	movl	$12, %edx
	movl	$F_NEXT, %r8d
	movl	$1, %r9d
	call	vio_desc
	movq	$Q1, %rdi
	movl	$1, %ecx
	movq	$(TXB + 12), %rax
	movl	$60, %edx
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q1, %rdi
	xorl	%eax, %eax
	call	vio_submit
	movl	$1, %ecx
	call	vio_notify
	movq	$Q1, %rdi
	call	vio_used_idx
	ret

hello:	.asciz	"hello from the guest"
