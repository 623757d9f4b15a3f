/*
 * jpath.h: the JSON paths that name a problem in an error message
 * ("$.devices.disks[1].path"), shared by the proto decoders.  "$" is the
 * document; ".key" a key of [A-Za-z0-9_] not starting with a digit;
 * ["key"] any other key, with '"' and '\' escaped and bytes outside
 * printable ASCII as \xHH, so that a path is always one clean line; [N]
 * an array index.  A path that does not fit ends in "...".
 */

#ifndef PROTO_JPATH_H
#define PROTO_JPATH_H

#include <stdbool.h>
#include <stddef.h>

#define JPATH_MAX	160	/* bytes, NUL included */

struct jpath {
	char s[JPATH_MAX];
	size_t len;		/* strlen(s) */
	size_t size;		/* the caller's limit, NUL included */
};

/* Start at root; size (at most JPATH_MAX) bounds the path with its NUL. */
void	jpath_init(struct jpath *p, const char *root, size_t size);

/*
 * Descend into a key (len bytes, any bytes) or an index.  Each returns
 * the length to hand jpath_pop to come back.
 */
size_t	jpath_push_key(struct jpath *p, const char *key, size_t len);
size_t	jpath_push_index(struct jpath *p, size_t i);
void	jpath_pop(struct jpath *p, size_t old);

/* ASCII character classes (the locale must not change a schema). */
bool	jpath_isalnum(int c);
bool	jpath_isprint(int c);

#endif /* PROTO_JPATH_H */
