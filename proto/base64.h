/*
 * base64.h: base64 (RFC 4648 section 4, the standard alphabet, with
 * padding), as the worker's control socket and vmmd's console
 * notifications carry console bytes.  No allocation, no I/O.
 */

#ifndef PROTO_BASE64_H
#define PROTO_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* Bytes b64_encode writes for n input bytes, its NUL included. */
#define B64_ENCODE_SIZE(n)	(((n) + 2) / 3 * 4 + 1)
/* The most bytes b64_decode writes for n characters of input. */
#define B64_DECODE_MAX(n)	((n) / 4 * 3)

/* Encode len bytes of src into out (B64_ENCODE_SIZE(len) bytes, a NUL too). */
void	b64_encode(const void *src, size_t len, char *out);

/*
 * Decode the len characters of s (not necessarily terminated): a multiple
 * of 4, padding only at the end, nothing outside the alphabet.  out
 * holds B64_DECODE_MAX(len) bytes.
 * Returns the number of bytes written, or -EINVAL (out may hold part).
 */
ssize_t	b64_decode(const char *s, size_t len, void *out);

#endif /* PROTO_BASE64_H */
