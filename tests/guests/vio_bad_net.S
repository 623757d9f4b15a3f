/*
 * vio_bad_net.S: a malicious virtio-net driver (tests/test_virtio.c): the
 * suite of vio_lib.S on the transmit queue (1), then a reset and one good
 * 60-byte frame, which the test receives.  It then spins until the test
 * stops it through the control socket.
 */
#define VIO_GUEST
#include "vio_lib.S"

	.globl	_start
_start:
	movl	$1, %edi
	call	vio_find
	movq	%rbx, %rax
	testq	%rax, %rax
	jnz	1f
	EXPECT_EAX 1, "no virtio-net window"
1:	movl	$1, %r12d
	movq	$Q1, %r13
	call	vio_bad_suite
	call	vio_restart
	/* Header and frame in one descriptor, straight from the image. */
	movq	$Q1, %rdi
	xorl	%ecx, %ecx
	leaq	frame(%rip), %rax
	movl	$(12 + 60), %edx
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
	EXPECT_EAX 1, "frame not used after the reset"
	PUTS	"recovered\n"
	jmp	vio_spin

	.balign	8
frame:
	.fill	12, 1, 0			/* virtio_net_hdr_v1 */
	.byte	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
	.byte	0x52, 0x54, 0x00, 0xba, 0xd0, 0x01
	.byte	0x88, 0xb5
	.ascii	"recovered after a reset"
	.fill	60 - 14 - 23, 1, 0
