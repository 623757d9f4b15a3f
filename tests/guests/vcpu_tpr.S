/*
 * vcpu_tpr.S: raise the TPR (CR8 = 5), lower it (CR8 = 2), then HLT.  RAX
 * holds the value just written.  Expectations: tests/test_api.c.
 */
	.code64

	mov	$5, %eax
	mov	%rax, %cr8
	mov	$2, %eax
	mov	%rax, %cr8
	hlt
