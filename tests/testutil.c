/*
 * testutil.c: helpers shared by the cmocka tests (testutil.h).
 */

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

struct tu_alloc tu_alloc;

char *
tu_read_file(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) ==
	    NULL) {
		fclose(f);
		return NULL;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

void *
tu_alloc_malloc(size_t n)
{
	void *p;

	if (tu_alloc.armed && tu_alloc.count++ == tu_alloc.fail_at)
		return NULL;
	if ((p = malloc(n)) != NULL)
		tu_alloc.live++;
	return p;
}

void
tu_alloc_free(void *p)
{
	if (p != NULL) {
		tu_alloc.live--;
		free(p);
	}
}
