/*
 * jpath.c: JSON paths for error messages (jpath.h).
 */

#include <stdio.h>
#include <string.h>

#include "jpath.h"

bool
jpath_isalnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

bool
jpath_isprint(int c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* One more character; past the limit the path ends in "..." once. */
static void
jpath_putc(struct jpath *p, char c)
{
	size_t limit = p->size - 4;		/* room for "..." */

	if (p->len < limit) {
		p->s[p->len++] = c;
		p->s[p->len] = '\0';
	} else if (p->len == limit) {
		memcpy(p->s + limit, "...", 4);
		p->len += 3;
	}
}

static void
jpath_puts(struct jpath *p, const char *s)
{
	while (*s != '\0')
		jpath_putc(p, *s++);
}

void
jpath_init(struct jpath *p, const char *root, size_t size)
{
	p->size = size < 8 || size > sizeof(p->s) ? sizeof(p->s) : size;
	p->len = 0;
	p->s[0] = '\0';
	jpath_puts(p, root);
}

static bool
jpath_is_ident(const char *key, size_t len)
{
	size_t i;

	if (len == 0 || (key[0] >= '0' && key[0] <= '9'))
		return false;
	for (i = 0; i < len; i++) {
		if (!jpath_isalnum((unsigned char)key[i]) && key[i] != '_')
			return false;
	}
	return true;
}

size_t
jpath_push_key(struct jpath *p, const char *key, size_t len)
{
	size_t old = p->len, i;
	unsigned char c;
	char hex[5];

	if (jpath_is_ident(key, len)) {
		jpath_putc(p, '.');
		for (i = 0; i < len; i++)
			jpath_putc(p, key[i]);
		return old;
	}
	jpath_puts(p, "[\"");
	for (i = 0; i < len; i++) {
		c = (unsigned char)key[i];
		if (c == '"' || c == '\\') {
			jpath_putc(p, '\\');
			jpath_putc(p, (char)c);
		} else if (jpath_isprint(c)) {
			jpath_putc(p, (char)c);
		} else {
			snprintf(hex, sizeof(hex), "\\x%02x", c);
			jpath_puts(p, hex);
		}
	}
	jpath_puts(p, "\"]");
	return old;
}

size_t
jpath_push_index(struct jpath *p, size_t i)
{
	size_t old = p->len;
	char buf[32];

	snprintf(buf, sizeof(buf), "[%zu]", i);
	jpath_puts(p, buf);
	return old;
}

void
jpath_pop(struct jpath *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}
