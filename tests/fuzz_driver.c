/*
 * fuzz_driver.c: runs a libFuzzer target without libFuzzer, so that every
 * `make test` exercises it: first each file of tests/corpus/NAME/, then
 * FUZZ_ITERATIONS (default 20000) inputs made by mutating them (bit flips,
 * byte overwrites, truncation, splices) from a seed that is printed, so a
 * failure can be replayed with FUZZ_SEED.  `make fuzz` builds the same
 * targets with clang's libFuzzer for real fuzzing.
 */

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SRC_DIR
#define SRC_DIR "."
#endif

#define FUZZ_MAX_INPUT	(64 * 1024)
#define FUZZ_MAX_SEEDS	256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seed {
	uint8_t *data;
	size_t len;
};

static struct seed seeds[FUZZ_MAX_SEEDS];
static size_t nseeds;

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static void
load_seed(const char *path)
{
	uint8_t *buf;
	size_t len;
	FILE *f;

	if (nseeds == FUZZ_MAX_SEEDS || (f = fopen(path, "rb")) == NULL)
		return;
	buf = malloc(FUZZ_MAX_INPUT);
	if (buf == NULL) {
		fclose(f);
		return;
	}
	len = fread(buf, 1, FUZZ_MAX_INPUT, f);
	fclose(f);
	seeds[nseeds].data = buf;
	seeds[nseeds].len = len;
	nseeds++;
	/* Every seed runs as it is first. */
	LLVMFuzzerTestOneInput(buf, len);
}

static size_t
mutate(uint8_t *out, const struct seed *s)
{
	size_t len = s->len, i, n;
	const struct seed *o;

	memcpy(out, s->data, len);
	n = 1 + rng() % 8;
	for (i = 0; i < n; i++) {
		size_t pos = len ? rng() % len : 0;

		switch (rng() % 6) {
		case 0:		/* flip a bit */
			if (len)
				out[pos] ^= (uint8_t)(1U << (rng() % 8));
			break;
		case 1:		/* an interesting byte */
			if (len)
				out[pos] = (uint8_t[]){ 0, 0xFF, 0x7F, 0x80,
				    '"', '{', '0', '\n' }[rng() % 8];
			break;
		case 2:		/* truncate */
			len = pos;
			break;
		case 3:		/* an interesting 32-bit value */
			if (len >= 4) {
				uint32_t v = (uint32_t[]){ 0, ~0U, 0x7FFFFFFF,
				    0x80000000, 0x1000, 0xFFFFF000 }[rng() % 6];
				memcpy(out + (pos > len - 4 ? len - 4 : pos),
				    &v, 4);
			}
			break;
		case 4:		/* splice another seed's tail */
			o = &seeds[rng() % nseeds];
			if (o->len && pos < FUZZ_MAX_INPUT) {
				size_t from = rng() % o->len;
				size_t take = o->len - from;

				if (pos + take > FUZZ_MAX_INPUT)
					take = FUZZ_MAX_INPUT - pos;
				memcpy(out + pos, o->data + from, take);
				len = pos + take;
			}
			break;
		default:	/* random byte */
			if (len)
				out[pos] = (uint8_t)rng();
			break;
		}
	}
	return len;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	unsigned long iters = 20000, i;
	char dir[1024], path[2048];
	struct dirent *de;
	uint8_t *buf;
	DIR *d;

	(void)argc;
	name = name ? name + 1 : argv[0];
	if (getenv("FUZZ_ITERATIONS") != NULL)
		iters = strtoul(getenv("FUZZ_ITERATIONS"), NULL, 0);
	rng_state = getenv("FUZZ_SEED") != NULL ?
	    strtoull(getenv("FUZZ_SEED"), NULL, 0) : (uint64_t)time(NULL);
	if (rng_state == 0)
		rng_state = 1;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/%s", SRC_DIR, name);
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", name, dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		load_seed(path);
	}
	closedir(d);
	if (nseeds == 0) {
		fprintf(stderr, "%s: no seeds in %s\n", name, dir);
		return 1;
	}
	printf("%s: %zu seeds, %lu mutated inputs, FUZZ_SEED=%llu\n", name,
	    nseeds, iters, (unsigned long long)rng_state);
	fflush(stdout);
	if ((buf = malloc(FUZZ_MAX_INPUT)) == NULL)
		return 1;
	for (i = 0; i < iters; i++) {
		size_t len = mutate(buf, &seeds[rng() % nseeds]);

		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("%s: ok\n", name);
	free(buf);
	for (i = 0; i < nseeds; i++)
		free(seeds[i].data);
	return 0;
}
