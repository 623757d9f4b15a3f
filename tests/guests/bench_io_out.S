/*
 * bench_io_out.S: the guest of tests/bench_io.c.  Runs at CPL3 in 64-bit
 * mode (IOPL 3, so OUT does not fault) and does nothing but port I/O exits:
 * RCX counts the OUTs executed, so the benchmark can check afterwards that
 * every exit it handled was one OUT, none lost and none repeated.  AL holds
 * the byte the benchmark's I/O handler receives.
 */
	.code64
	.set	PORT, 0x10

1:	inc	%rcx
	out	%al, $PORT
	jmp	1b
