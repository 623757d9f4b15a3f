/*
 * mb_hello.S: a Multiboot 1 kernel.  Its header carries the a.out kludge
 * address fields (flag 16), so the flat mb_hello.bin and mb_hello.elf load
 * the same way: the text at 0x1000, then a zeroed 4 KiB bss that holds the
 * stack.  Entered in 32-bit protected mode, it prints to COM1 (port 0x3F8,
 * plain OUTs) what the boot loader handed over, then writes its status to
 * the debug-exit port 0x501: 0 if EAX held 0x2BADB002, 1 if not.
 *
 * Output, numbers in hex (a line only when its info flag is set):
 *	multiboot eax=2badb002 flags=0000024d
 *	mem lower=00000280 upper=00003c00
 *	cmdline <the command line>
 *	mods 00000001
 *	mod 00fff000 00fff00d <string> <first 16 bytes, '.' if unprintable>
 *	mmap 0000000000000000 00000000000a0000 00000001
 *	mmap 0000000000100000 0000000000f00000 00000001
 *	loader vmm-worker
 * Expectations: tests/test_boot.c.
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00010003	/* page-align, memory info, addresses */
#define COM1		0x3F8
#define DEBUG_EXIT	0x501

	.code32
	.text
	.globl	_start
_start:
	jmp	entry

	.align	4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	mb_header		/* header_addr */
	.long	_start			/* load_addr */
	.long	mb_load_end		/* load_end_addr */
	.long	mb_bss_end		/* bss_end_addr */
	.long	entry			/* entry_addr */

entry:
	mov	$mb_bss_end, %esp
	mov	%eax, %edi		/* the boot magic */
	mov	%ebx, %ebp		/* the information structure */

	mov	$s_multiboot, %esi
	call	puts
	mov	%edi, %eax
	call	hex32
	mov	$s_flags, %esi
	call	puts
	mov	(%ebp), %eax
	call	hex32
	call	newline

	testl	$0x001, (%ebp)
	jz	1f
	mov	$s_mem, %esi
	call	puts
	mov	4(%ebp), %eax
	call	hex32
	mov	$s_upper, %esi
	call	puts
	mov	8(%ebp), %eax
	call	hex32
	call	newline
1:
	testl	$0x004, (%ebp)
	jz	1f
	mov	$s_cmdline, %esi
	call	puts
	mov	16(%ebp), %esi
	call	puts
	call	newline
1:
	testl	$0x008, (%ebp)
	jz	1f
	call	print_mods
1:
	testl	$0x040, (%ebp)
	jz	1f
	call	print_mmap
1:
	testl	$0x200, (%ebp)
	jz	1f
	mov	$s_loader, %esi
	call	puts
	mov	64(%ebp), %esi
	call	puts
	call	newline
1:
	xor	%eax, %eax
	cmp	$0x2BADB002, %edi
	je	1f
	mov	$1, %al
1:	mov	$DEBUG_EXIT, %dx
	outb	%al, %dx
2:	hlt
	jmp	2b

/* The module list: count, then start, end, string and 16 bytes of each. */
print_mods:
	mov	$s_mods, %esi
	call	puts
	mov	20(%ebp), %eax
	call	hex32
	call	newline
	mov	20(%ebp), %ecx
	mov	24(%ebp), %ebx
1:	test	%ecx, %ecx
	jz	3f
	push	%ecx
	mov	$s_mod, %esi
	call	puts
	mov	(%ebx), %eax
	call	hex32
	call	space
	mov	4(%ebx), %eax
	call	hex32
	call	space
	mov	8(%ebx), %esi
	call	puts
	call	space
	mov	(%ebx), %esi
	mov	4(%ebx), %ecx
	sub	%esi, %ecx
	cmp	$16, %ecx
	jbe	2f
	mov	$16, %ecx
2:	call	putn
	call	newline
	pop	%ecx
	add	$16, %ebx
	dec	%ecx
	jmp	1b
3:	ret

/* The memory map: base, length and type of every entry. */
print_mmap:
	mov	48(%ebp), %ebx
	mov	44(%ebp), %ecx
	add	%ebx, %ecx		/* end of the map */
1:	cmp	%ecx, %ebx
	jae	2f
	push	%ecx
	mov	$s_mmap, %esi
	call	puts
	mov	8(%ebx), %edx
	mov	4(%ebx), %eax
	call	hex64
	call	space
	mov	16(%ebx), %edx
	mov	12(%ebx), %eax
	call	hex64
	call	space
	mov	20(%ebx), %eax
	call	hex32
	call	newline
	pop	%ecx
	mov	(%ebx), %eax
	lea	4(%ebx,%eax), %ebx	/* size does not count itself */
	jmp	1b
2:	ret

/* Output helpers.  putc: %al.  puts: the string at %esi. */
putc:
	push	%edx
	mov	$COM1, %dx
	outb	%al, %dx
	pop	%edx
	ret

puts:
	push	%eax
1:	lodsb
	test	%al, %al
	jz	2f
	call	putc
	jmp	1b
2:	pop	%eax
	ret

/* %ecx bytes at %esi, '.' for the unprintable ones. */
putn:
	test	%ecx, %ecx
	jz	3f
1:	lodsb
	cmp	$0x20, %al
	jb	2f
	cmp	$0x7e, %al
	jbe	4f
2:	mov	$'.', %al
4:	call	putc
	loop	1b
3:	ret

space:
	mov	$' ', %al
	jmp	putc

newline:
	mov	$'\n', %al
	jmp	putc

/* %eax as 8 hex digits. */
hex32:
	push	%ebx
	push	%ecx
	mov	%eax, %ebx
	mov	$8, %ecx
1:	rol	$4, %ebx
	mov	%ebx, %eax
	and	$0xf, %eax
	mov	hexdigits(%eax), %al
	call	putc
	loop	1b
	pop	%ecx
	pop	%ebx
	ret

/* %edx:%eax as 16 hex digits. */
hex64:
	push	%eax
	mov	%edx, %eax
	call	hex32
	pop	%eax
	jmp	hex32

hexdigits:	.ascii	"0123456789abcdef"
s_multiboot:	.asciz	"multiboot eax="
s_flags:	.asciz	" flags="
s_mem:		.asciz	"mem lower="
s_upper:	.asciz	" upper="
s_cmdline:	.asciz	"cmdline "
s_mods:		.asciz	"mods "
s_mod:		.asciz	"mod "
s_mmap:		.asciz	"mmap "
s_loader:	.asciz	"loader "

	.align	4
mb_load_end:
	.set	mb_bss_end, mb_load_end + 0x1000
