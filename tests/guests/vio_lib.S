/*
 * vio_lib.S: the shared part of the virtio test guests (vio_*.S), which
 * define VIO_GUEST and include this file first.  Assembled on its own (the
 * Makefile builds every guest) it is a guest that halts at once.
 *
 * The guests are raw 64-bit images at 0x1000 (identity-mapped, CPL0, RSP
 * 0x8000, 4 MiB of RAM, no irqchip: they poll the used rings).  They find
 * their device by scanning the virtio-mmio windows, print on COM1 and end
 * through the debug-exit port: 1 for success, 2 after "FAIL: ...".
 *
 * The library's code goes into subsection 1 of .text and its strings into
 * subsection 2, so that the including guest's code (subsection 0) starts
 * at the entry point.  Functions take arguments in the registers named,
 * keep %rbx (a device window), %rbp and %r12-%r15, and clobber the rest.
 */

#define COM1		0x3f8
#define DEBUG_EXIT	0x501
#define MMIO_BASE	0xd0000000
#define MMIO_STRIDE	0x1000
#define MMIO_WINDOWS	13

/* virtio-mmio registers (virtio 1.2, 4.2.2). */
#define R_MAGIC		0x000
#define R_VERSION	0x004
#define R_DEVICE_ID	0x008
#define R_DEV_FEAT	0x010
#define R_DEV_FEAT_SEL	0x014
#define R_DRV_FEAT	0x020
#define R_DRV_FEAT_SEL	0x024
#define R_QUEUE_SEL	0x030
#define R_QUEUE_NUM_MAX	0x034
#define R_QUEUE_NUM	0x038
#define R_QUEUE_READY	0x044
#define R_QUEUE_NOTIFY	0x050
#define R_ISR		0x060
#define R_ISR_ACK	0x064
#define R_STATUS	0x070
#define R_DESC_LO	0x080
#define R_DESC_HI	0x084
#define R_DRIVER_LO	0x090
#define R_DRIVER_HI	0x094
#define R_DEVICE_LO	0x0a0
#define R_DEVICE_HI	0x0a4
#define R_CONFIG	0x100

#define MAGIC		0x74726976

/* Descriptor flags; driver feature words. */
#define F_NEXT		1
#define F_WRITE		2
#define F_INDIRECT	4
#define FEAT_INDIRECT	(1 << 28)	/* word 0 */
#define FEAT_VERSION_1	1		/* word 1 */

/*
 * Guest memory.  A queue area holds the descriptor table at +0, the
 * driver (avail) ring at +Q_AVAIL and the device (used) ring at +Q_USED.
 */
#define QSZ		8
#define Q0		0x100000
#define Q1		0x104000
#define Q_AVAIL		0x1000
#define Q_USED		0x2000
#define IND		0x108000	/* indirect tables */
#define HDR		0x109000	/* request headers */
#define STAT		0x109100	/* status bytes */
#define BUF		0x110000	/* data */
#define BIGBUF		0x200000

#ifndef VIO_GUEST
	.code64
	.text
	.globl	_start
_start:	cli
	hlt
#endif

/*
 * EXPECT_EAX v, "what": go on if %eax == v, else print "FAIL: what
 * (eax=XXXXXXXX)" and exit 2.
 */
.macro	EXPECT_EAX val, what
	cmpl	$\val, %eax
	je	.Lok\@
	leaq	.Lmsg\@(%rip), %rsi
	jmp	vio_fail
	.subsection 2
.Lmsg\@:	.asciz	"\what"
	.previous
.Lok\@:
.endm

/* PUTS "text": print a constant string. */
.macro	PUTS text
	leaq	.Lstr\@(%rip), %rsi
	call	puts
	.subsection 2
.Lstr\@:	.asciz	"\text"
	.previous
.endm

	.code64
	.text	1

/* puts: print the NUL-terminated string at %rsi. */
puts:
	movw	$COM1, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

/* putsn: print up to %ecx bytes at %rsi, stopping at a NUL. */
putsn:
	movw	$COM1, %dx
	testl	%ecx, %ecx
	jz	2f
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	decl	%ecx
	jnz	1b
2:	ret

/* puthex8 / puthex32: %eax as 2 or 8 hex digits. */
puthex8:
	movl	$2, %ecx
	shll	$24, %eax
	jmp	puthex
puthex32:
	movl	$8, %ecx
puthex:
	movw	$COM1, %dx
	movl	%eax, %esi
1:	roll	$4, %esi
	movl	%esi, %eax
	andl	$15, %eax
	cmpb	$10, %al
	jb	2f
	addb	$('a' - '0' - 10), %al
2:	addb	$'0', %al
	outb	%al, %dx
	decl	%ecx
	jnz	1b
	ret

/* putnl: a newline. */
putnl:
	movw	$COM1, %dx
	movb	$'\n', %al
	outb	%al, %dx
	ret

/* vio_exit: end the VM with debug-exit value %al; never returns. */
vio_exit:
	movw	$DEBUG_EXIT, %dx
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

/*
 * vio_spin: wait forever, for the test to look at the worker from outside
 * and stop it.  HLT with interrupts enabled and no irqchip parks the vcpu
 * thread in the worker until the VM ends (a guest spinning inside KVM_RUN
 * would need a kick signal to get out).
 */
vio_spin:
	sti
1:	hlt
	jmp	1b

/* vio_fail: "FAIL: <%rsi> (eax=...)", exit 2. */
vio_fail:
	pushq	%rax
	pushq	%rsi
	PUTS	"FAIL: "
	popq	%rsi
	call	puts
	PUTS	" (eax="
	popq	%rax
	call	puthex32
	PUTS	")\n"
	movb	$2, %al
	jmp	vio_exit

/* vio_find: the window of device type %edi in %rbx, or 0. */
vio_find:
	movq	$MMIO_BASE, %rbx
	movl	$MMIO_WINDOWS, %ecx
1:	movl	R_MAGIC(%rbx), %eax
	cmpl	$MAGIC, %eax
	jne	2f
	movl	R_DEVICE_ID(%rbx), %eax
	cmpl	%edi, %eax
	je	3f
2:	addq	$MMIO_STRIDE, %rbx
	decl	%ecx
	jnz	1b
	xorl	%ebx, %ebx
3:	ret

/*
 * vio_init: reset the device, acknowledge it, write driver features
 * (%esi: word 0, %edx: word 1) and set FEATURES_OK.  Returns the status
 * read back in %eax (0xb when the device accepted the features).
 */
vio_init:
	movl	$0, R_STATUS(%rbx)
	movl	$1, R_STATUS(%rbx)
	movl	$3, R_STATUS(%rbx)
	movl	$1, R_DRV_FEAT_SEL(%rbx)
	movl	%edx, R_DRV_FEAT(%rbx)
	movl	$0, R_DRV_FEAT_SEL(%rbx)
	movl	%esi, R_DRV_FEAT(%rbx)
	movl	$0xb, R_STATUS(%rbx)
	movl	R_STATUS(%rbx), %eax
	ret

/*
 * vio_queue: set up queue %ecx with %esi entries in the area at %rdi
 * (its ring indices zeroed first) and enable it.  Returns QueueReady as
 * read back in %eax.
 */
vio_queue:
	movl	$0, Q_AVAIL(%rdi)		/* flags and idx */
	movl	$0, Q_USED(%rdi)
	movl	%ecx, R_QUEUE_SEL(%rbx)
	movl	%esi, R_QUEUE_NUM(%rbx)
	movl	%edi, R_DESC_LO(%rbx)
	movl	$0, R_DESC_HI(%rbx)
	leal	Q_AVAIL(%rdi), %eax
	movl	%eax, R_DRIVER_LO(%rbx)
	movl	$0, R_DRIVER_HI(%rbx)
	leal	Q_USED(%rdi), %eax
	movl	%eax, R_DEVICE_LO(%rbx)
	movl	$0, R_DEVICE_HI(%rbx)
	movl	$1, R_QUEUE_READY(%rbx)
	movl	R_QUEUE_READY(%rbx), %eax
	ret

/* vio_go: DRIVER_OK. */
vio_go:
	movl	$0xf, R_STATUS(%rbx)
	ret

/*
 * vio_desc: descriptor %ecx of the table at %rdi := { %rax, %edx, %r8w,
 * %r9w } (address, length, flags, next).
 */
vio_desc:
	shll	$4, %ecx
	movq	%rax, (%rdi,%rcx)
	movl	%edx, 8(%rdi,%rcx)
	movw	%r8w, 12(%rdi,%rcx)
	movw	%r9w, 14(%rdi,%rcx)
	ret

/*
 * vio_submit: make chain %eax available on the queue area %rdi (QSZ
 * entries).  The ring entry is stored before the index (x86 keeps stores
 * in order).
 */
vio_submit:
	movzwl	Q_AVAIL + 2(%rdi), %ecx
	movl	%ecx, %edx
	andl	$(QSZ - 1), %edx
	movw	%ax, Q_AVAIL + 4(%rdi,%rdx,2)
	incl	%ecx
	movw	%cx, Q_AVAIL + 2(%rdi)
	ret

/* vio_notify: QueueNotify := %ecx. */
vio_notify:
	movl	%ecx, R_QUEUE_NOTIFY(%rbx)
	ret

/* vio_used_idx: the used index of the queue area %rdi in %eax. */
vio_used_idx:
	movzwl	Q_USED + 2(%rdi), %eax
	ret

/* vio_used_id / vio_used_len: used ring element %ecx of area %rdi. */
vio_used_id:
	andl	$(QSZ - 1), %ecx
	movl	Q_USED + 4(%rdi,%rcx,8), %eax
	ret
vio_used_len:
	andl	$(QSZ - 1), %ecx
	movl	Q_USED + 8(%rdi,%rcx,8), %eax
	ret

/* ------------------------------------------------------------------------ */
/*
 * The malicious-driver suite, for the queue %r12d of the device at %rbx,
 * with its area at %r13.  Each case starts the device afresh, breaks one
 * rule and expects exactly: status 0x4f (DRIVER_OK and the rest, plus
 * DEVICE_NEEDS_RESET), interrupt status 2 (configuration change), nothing
 * used.  The ring cases expect QueueReady 0 and status 0x4b.  Each prints
 * "<case> ok".  The caller then restarts the device (vio_restart) and
 * shows that it works again.
 */

/* vio_restart: VERSION_1 and INDIRECT_DESC, queue %r12d at %r13, go. */
vio_restart:
	movl	$FEAT_INDIRECT, %esi
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	EXPECT_EAX 0xb, "features refused"
	movl	%r12d, %ecx
	movq	%r13, %rdi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 1, "queue not ready"
	call	vio_go
	ret

/* Submit head 0 on the queue under test and notify. */
bad_kick:
	movq	%r13, %rdi
	xorl	%eax, %eax
	call	vio_submit
	movl	%r12d, %ecx
	call	vio_notify
	ret

/* The expected aftermath of a chain case (named just before). */
bad_expect:
	movl	R_STATUS(%rbx), %eax
	EXPECT_EAX 0x4f, "status after a bad chain"
	movl	R_ISR(%rbx), %eax
	EXPECT_EAX 2, "interrupt status after a bad chain"
	movq	%r13, %rdi
	call	vio_used_idx
	EXPECT_EAX 0, "used index after a bad chain"
	PUTS	" ok\n"
	ret

/* One-descriptor chain { %rax, %edx, %r8d } at index 0. */
bad_one:
	movq	%r13, %rdi
	xorl	%ecx, %ecx
	xorl	%r9d, %r9d
	call	vio_desc
	call	bad_kick
	ret

vio_bad_suite:
	/* loop: 0 -> 1 -> 0. */
	call	vio_restart
	movq	%r13, %rdi
	xorl	%ecx, %ecx
	movq	$BUF, %rax
	movl	$16, %edx
	movl	$(F_NEXT | F_WRITE), %r8d
	movl	$1, %r9d
	call	vio_desc
	movl	$1, %ecx
	movq	$BUF, %rax
	movl	$16, %edx
	movl	$(F_NEXT | F_WRITE), %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	call	bad_kick
	PUTS	"loop"
	call	bad_expect

	/* range: a buffer beyond the end of RAM. */
	call	vio_restart
	movq	$0x80000000, %rax
	movl	$512, %edx
	movl	$F_WRITE, %r8d
	call	bad_one
	PUTS	"range"
	call	bad_expect

	/* overflow: address + length wraps around 2^64. */
	call	vio_restart
	movq	$0xfffffffffffff000, %rax
	movl	$0x2000, %edx
	movl	$F_WRITE, %r8d
	call	bad_one
	PUTS	"overflow"
	call	bad_expect

	/* length: starts in RAM, 4 GiB long. */
	call	vio_restart
	movq	$0x3ff000, %rax
	movl	$0xffffffff, %edx
	movl	$F_WRITE, %r8d
	call	bad_one
	PUTS	"length"
	call	bad_expect

	/* index: avail idx 9 with 8 entries. */
	call	vio_restart
	movq	$BUF, %rax
	movl	$16, %edx
	movl	$F_WRITE, %r8d
	movq	%r13, %rdi
	xorl	%ecx, %ecx
	xorl	%r9d, %r9d
	call	vio_desc
	movw	$9, Q_AVAIL + 2(%r13)
	movl	%r12d, %ecx
	call	vio_notify
	PUTS	"index"
	call	bad_expect

	/* next: a next index far out of the table. */
	call	vio_restart
	movq	$BUF, %rax
	movl	$16, %edx
	movl	$(F_NEXT | F_WRITE), %r8d
	movq	%r13, %rdi
	xorl	%ecx, %ecx
	movl	$200, %r9d
	call	vio_desc
	call	bad_kick
	PUTS	"next"
	call	bad_expect

	/* nested: an indirect table whose entry is indirect again. */
	call	vio_restart
	movq	$IND, %rdi
	xorl	%ecx, %ecx
	movq	$(IND + 0x100), %rax
	movl	$16, %edx
	movl	$F_INDIRECT, %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$IND, %rax
	movl	$32, %edx
	movl	$F_INDIRECT, %r8d
	call	bad_one
	PUTS	"nested"
	call	bad_expect

	/* ring: the descriptor table outside RAM, refused at QueueReady. */
	movl	$FEAT_INDIRECT, %esi
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	movl	%r12d, %ecx
	movl	$0x80000000, %edi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 0, "queue outside RAM enabled"
	PUTS	"ring"
	movl	R_STATUS(%rbx), %eax
	EXPECT_EAX 0x4b, "status after a ring outside RAM"
	PUTS	" ok\n"

	/* size: 6 entries, not a power of 2. */
	movl	$FEAT_INDIRECT, %esi
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	movl	%r12d, %ecx
	movq	%r13, %rdi
	movl	$6, %esi
	call	vio_queue
	EXPECT_EAX 0, "queue of 6 enabled"
	PUTS	"size"
	movl	R_STATUS(%rbx), %eax
	EXPECT_EAX 0x4b, "status after a queue of 6"
	PUTS	" ok\n"
	ret

/* ------------------------------------------------------------------------ */
/*
 * blk_req: one virtio-blk request on queue 0 (area Q0): type %eax, sector
 * %rdx, data at %r14 of %r15d bytes (no data descriptor if 0), which is
 * device-writable if %r10d is F_WRITE.  The header is at HDR, the status
 * byte at STAT.  The device serves the request during the notify, so the
 * used ring is checked at once: exactly one more buffer, id 0, or FAIL.
 * Returns the status byte in %eax and the used length in %ecx.
 */
blk_req:
	pushq	%rbp
	movl	%eax, HDR
	movl	$0, HDR + 4
	movq	%rdx, HDR + 8
	movb	$0xff, STAT
	movq	$Q0, %rdi
	call	vio_used_idx
	movl	%eax, %ebp
	movq	$Q0, %rdi
	xorl	%ecx, %ecx
	movq	$HDR, %rax
	movl	$16, %edx
	movl	$F_NEXT, %r8d
	movl	$1, %r9d
	call	vio_desc
	movl	$1, %ecx
	testl	%r15d, %r15d
	jz	1f
	movq	$Q0, %rdi
	movq	%r14, %rax
	movl	%r15d, %edx
	movl	%r10d, %r8d
	orl	$F_NEXT, %r8d
	movl	$2, %r9d
	call	vio_desc
	movl	$2, %ecx
1:	movq	$Q0, %rdi
	movq	$STAT, %rax
	movl	$1, %edx
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
	subl	%ebp, %eax
	EXPECT_EAX 1, "blk: request not used"
	movq	$Q0, %rdi
	movl	%ebp, %ecx
	call	vio_used_id
	EXPECT_EAX 0, "blk: used id"
	movq	$Q0, %rdi
	movl	%ebp, %ecx
	call	vio_used_len
	movl	%eax, %ecx
	movzbl	STAT, %eax
	popq	%rbp
	ret

/*
 * rng_req: one device-writable buffer of %edx bytes at %rax on queue 0
 * (area Q0) of the virtio-rng device; returns the used length in %eax.
 */
rng_req:
	pushq	%rbp
	pushq	%rax
	pushq	%rdx
	movq	$Q0, %rdi
	call	vio_used_idx
	movl	%eax, %ebp
	popq	%rdx
	popq	%rax
	movq	$Q0, %rdi
	xorl	%ecx, %ecx
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
	subl	%ebp, %eax
	EXPECT_EAX 1, "rng: request not used"
	movq	$Q0, %rdi
	movl	%ebp, %ecx
	call	vio_used_len
	popq	%rbp
	ret

#ifdef VIO_GUEST
	.text	0
#endif
