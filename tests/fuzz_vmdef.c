/*
 * fuzz_vmdef.c: libFuzzer target for the VM definition codec.  Any input
 * must give either a definition that survives encode and decode unchanged
 * (through the json_t and through the text), or at least one problem, each
 * with a path starting with "$" and a message of printable ASCII.  Seeds in
 * tests/corpus/fuzz_vmdef/.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vmdef.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property: say which, and abort so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "fuzz_vmdef: %s:%d: %s\n",	\
			    __FILE__, __LINE__, #cond);			\
			abort();					\
		}							\
	} while (0)

static bool
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
disks_equal(const struct vmdef *a, const struct vmdef *b)
{
	unsigned int i;

	if (a->ndisks != b->ndisks)
		return false;
	for (i = 0; i < a->ndisks; i++)
		if (!str_equal(a->disks[i].path, b->disks[i].path) ||
		    a->disks[i].readonly != b->disks[i].readonly ||
		    !str_equal(a->disks[i].serial, b->disks[i].serial))
			return false;
	return true;
}

static bool
nics_equal(const struct vmdef *a, const struct vmdef *b)
{
	unsigned int i;

	if (a->nnics != b->nnics)
		return false;
	for (i = 0; i < a->nnics; i++)
		if (a->nics[i].type != b->nics[i].type ||
		    !str_equal(a->nics[i].ifname, b->nics[i].ifname) ||
		    a->nics[i].mac_set != b->nics[i].mac_set ||
		    memcmp(a->nics[i].mac, b->nics[i].mac, 6) != 0)
			return false;
	return true;
}

/* Every member of two definitions. */
static bool
def_equal(const struct vmdef *a, const struct vmdef *b)
{
	return str_equal(a->name, b->name) &&
	    strcmp(a->uuid, b->uuid) == 0 &&
	    str_equal(a->description, b->description) &&
	    a->vcpus == b->vcpus && a->sockets == b->sockets &&
	    a->cores == b->cores && a->threads == b->threads &&
	    a->memory_mib == b->memory_mib && a->hugepages == b->hugepages &&
	    a->loader == b->loader && str_equal(a->kernel, b->kernel) &&
	    str_equal(a->initrd, b->initrd) &&
	    str_equal(a->cmdline, b->cmdline) &&
	    a->load_address == b->load_address && a->entry == b->entry &&
	    a->mode == b->mode && a->irqchip == b->irqchip &&
	    a->pit == b->pit && a->console == b->console &&
	    a->scrollback == b->scrollback && a->rng == b->rng &&
	    a->debug_exit == b->debug_exit && disks_equal(a, b) &&
	    nics_equal(a, b) && a->on_poweroff == b->on_poweroff &&
	    a->on_reboot == b->on_reboot && a->on_crash == b->on_crash &&
	    a->autostart == b->autostart &&
	    a->autostart_order == b->autostart_order &&
	    a->autostart_delay == b->autostart_delay &&
	    a->shutdown_timeout == b->shutdown_timeout;
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* decode(encode(def)) and parse(dumps(encode(def))) both give def. */
static void
check_round_trip(const struct vmdef *def)
{
	struct vmdef_errors errs;
	struct vmdef back;
	json_t *j;
	char *text;

	j = vmdef_encode(def);
	FUZZ_CHECK(j != NULL);
	FUZZ_CHECK(vmdef_decode(j, &back, &errs) == 0);
	FUZZ_CHECK(errs.n == 0);
	FUZZ_CHECK(def_equal(def, &back));
	vmdef_free(&back);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(vmdef_parse(text, strlen(text), &back, &errs) == 0);
	FUZZ_CHECK(def_equal(def, &back));
	vmdef_free(&back);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmdef_errors errs;
	struct vmdef def;
	size_t i;
	int rc;

	rc = vmdef_parse((const char *)data, size, &def, &errs);
	if (rc == 0) {
		FUZZ_CHECK(errs.n == 0);
		check_round_trip(&def);
	} else {
		FUZZ_CHECK(rc == -EINVAL);
		FUZZ_CHECK(errs.n >= 1);
		for (i = 0; i < errs.n; i++) {
			FUZZ_CHECK(errs.v[i].path[0] == '$');
			FUZZ_CHECK(errs.v[i].msg[0] != '\0');
			FUZZ_CHECK(printable(errs.v[i].path));
			FUZZ_CHECK(printable(errs.v[i].msg));
		}
	}
	vmdef_free(&def);
	vmdef_errors_free(&errs);
	return 0;
}
