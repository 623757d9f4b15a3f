/*
 * vio_bad_blk.S: a malicious virtio-blk driver (tests/test_virtio.c): the
 * suite of vio_lib.S on queue 0 (descriptor loop, buffers outside RAM,
 * overflowing address and length, bad avail index and next index, nested
 * indirect tables, a ring outside RAM, a queue size that is not a power
 * of 2), each of which must put the device in DEVICE_NEEDS_RESET; then a
 * reset and a good read of sector 0, printed.  It then spins until the
 * test stops it through the control socket.
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
1:	xorl	%r12d, %r12d
	movq	$Q0, %r13
	call	vio_bad_suite
	call	vio_restart
	xorl	%eax, %eax
	xorl	%edx, %edx
	movq	$BUF, %r14
	movl	$512, %r15d
	movl	$F_WRITE, %r10d
	call	blk_req
	EXPECT_EAX 0, "read status after the reset"
	movl	%ecx, %eax
	EXPECT_EAX 513, "read used length after the reset"
	PUTS	"recovered: "
	movq	$BUF, %rsi
	movl	$16, %ecx
	call	putsn
	call	putnl
	jmp	vio_spin
