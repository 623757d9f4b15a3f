/*
 * vio_bad_rng.S: a malicious virtio-rng driver (tests/test_virtio.c): the
 * suite of vio_lib.S on queue 0, then a reset and a good 16-byte request.
 * It then spins until the test stops it through the control socket.
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
1:	xorl	%r12d, %r12d
	movq	$Q0, %r13
	call	vio_bad_suite
	call	vio_restart
	movq	$BUF, %rax
	movl	$16, %edx
	call	rng_req
	EXPECT_EAX 16, "used length after the reset"
	PUTS	"recovered\n"
	jmp	vio_spin
