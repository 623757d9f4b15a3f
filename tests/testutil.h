/*
 * testutil.h: small helpers shared by the cmocka tests that need no VM:
 * reading a golden file, and a jansson allocator that fails on request.
 */

#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The whole file, NUL-terminated (its length in *lenp if not NULL), or
 * NULL if it cannot be read.  The caller frees it.
 */
char	*tu_read_file(const char *path, size_t *lenp);

/*
 * An allocator for json_set_alloc_funcs(tu_alloc_malloc, tu_alloc_free):
 * while armed, allocation number fail_at (counting from 0) fails; live
 * counts the blocks not yet freed, to find leaks on failure paths.
 */
struct tu_alloc {
	bool armed;
	size_t count, fail_at;
	long live;
};

extern struct tu_alloc tu_alloc;

void	*tu_alloc_malloc(size_t n);
void	 tu_alloc_free(void *p);

#endif /* TESTUTIL_H */
