/*
 * test_vmdef.c: the VM definition codec (proto/vmdef.c).  Valid
 * definitions decoded to exact values (table-driven), every limit at and
 * past its edge, golden diagnostics (tests/golden/vmdef/NAME.json with the
 * exact error lines in NAME.err, and the canonical form in NAME.canon), the
 * canonical encoding and its round trip, a randomized property loop over
 * mutated definitions (VMDEF_SEED replays it) and every allocation failure.
 * No KVM needed.
 */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <jansson.h>

#include "vmdef.h"

#ifndef SRC_DIR
#define SRC_DIR "."
#endif

#define GOLDEN_DIR	SRC_DIR "/tests/golden/vmdef"
#define GOLDEN_MIN	15		/* error cases the directory holds */
#define TEXT_MAX	(1024 * 1024)	/* vmdef_parse's limit */
#define ERRORS_MAX	100		/* vmdef.c's VD_ERRORS_MAX */
#define PROP_ITERS	20000
#define UUID1		"5f0c1e2a-8b3d-4c6e-9f10-a1b2c3d4e5f6"

/* -------------------------------------------------------------------------- */
/* Helpers. */

/*
 * JSON written with ' for " (no definition here needs a quote character
 * inside a string), returned in a buffer the caller frees.
 */
static char *
sq(const char *s)
{
	char *t, *p;

	t = strdup(s);
	assert_non_null(t);
	for (p = t; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

/*
 * The ' template tmpl with its one "%s" replaced by val (also '), in a
 * buffer the caller frees.
 */
static char *
fill(const char *tmpl, const char *val)
{
	char *t, *v, *out, *at;

	t = sq(tmpl);
	v = sq(val);
	at = strstr(t, "%s");
	assert_non_null(at);
	out = malloc(strlen(t) + strlen(v) + 1);
	assert_non_null(out);
	memcpy(out, t, (size_t)(at - t));
	strcpy(out + (at - t), v);
	strcat(out, at + 2);
	free(t);
	free(v);
	return out;
}

/* vmdef_parse of a ' definition. */
static int
parse_sq(const char *s, struct vmdef *def, struct vmdef_errors *errs)
{
	char *t;
	int rc;

	t = sq(s);
	rc = vmdef_parse(t, strlen(t), def, errs);
	free(t);
	return rc;
}

static bool
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * Are a and b the same definition?  If not, says which member differs in
 * why (a test's failure message).
 */
static bool
def_equal(const struct vmdef *a, const struct vmdef *b, char *why,
    size_t len)
{
	unsigned int i;

#define CHECK(cond, what)						\
	do {								\
		if (!(cond)) {						\
			snprintf(why, len, "%s differs", what);		\
			return false;					\
		}							\
	} while (0)
#define SAME(m)		CHECK(a->m == b->m, #m)
#define SAME_STR(m)	CHECK(str_equal(a->m, b->m), #m)

	SAME_STR(name);
	CHECK(strcmp(a->uuid, b->uuid) == 0, "uuid");
	SAME_STR(description);
	SAME(vcpus);
	SAME(sockets);
	SAME(cores);
	SAME(threads);
	SAME(memory_mib);
	SAME(hugepages);
	SAME(loader);
	SAME_STR(kernel);
	SAME_STR(initrd);
	SAME_STR(cmdline);
	SAME(load_address);
	SAME(entry);
	SAME(mode);
	SAME(irqchip);
	SAME(pit);
	SAME(console);
	SAME(scrollback);
	SAME(rng);
	SAME(debug_exit);
	SAME(ndisks);
	for (i = 0; i < a->ndisks; i++) {
		SAME_STR(disks[i].path);
		SAME(disks[i].readonly);
		SAME_STR(disks[i].serial);
	}
	SAME(nnics);
	for (i = 0; i < a->nnics; i++) {
		SAME(nics[i].type);
		SAME_STR(nics[i].ifname);
		SAME(nics[i].mac_set);
		CHECK(memcmp(a->nics[i].mac, b->nics[i].mac, 6) == 0,
		    "nics[i].mac");
	}
	SAME(on_poweroff);
	SAME(on_reboot);
	SAME(on_crash);
	SAME(autostart);
	SAME(autostart_order);
	SAME(autostart_delay);
	SAME(shutdown_timeout);
	return true;
#undef SAME_STR
#undef SAME
#undef CHECK
}

/* Fail the test, showing the errors, unless the result is a success. */
static void
assert_decoded(int rc, const struct vmdef_errors *errs, const char *what)
{
	size_t i;

	if (rc == 0 && errs->n == 0)
		return;
	print_error("%s: rc %d\n", what, rc);
	for (i = 0; i < errs->n; i++)
		print_error("  %s: %s\n", errs->v[i].path, errs->v[i].msg);
	fail();
}

/* The errors as "path: msg\n" lines, in a buffer the caller frees. */
static char *
errors_text(const struct vmdef_errors *errs)
{
	size_t i, len = 0, cap;
	char *s;

	cap = errs->n * (sizeof(errs->v[0].path) + sizeof(errs->v[0].msg) +
	    3) + 1;
	s = malloc(cap);
	assert_non_null(s);
	s[0] = '\0';
	for (i = 0; i < errs->n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s: %s\n",
		    errs->v[i].path, errs->v[i].msg);
	return s;
}

/* A string of n copies of c, which the caller frees. */
static char *
repeat(char c, size_t n)
{
	char *s;

	s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* The canonical text of a definition (what the .canon files hold). */
static char *
canonical_text(const struct vmdef *def)
{
	json_t *j;
	char *s;

	j = vmdef_encode(def);
	assert_non_null(j);
	s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	assert_non_null(s);
	return s;
}

/*
 * decode(encode(def)) == def, through the json_t and through the text, and
 * the canonical form is a fixed point.
 */
static void
assert_round_trip(const struct vmdef *def, const char *what)
{
	struct vmdef_errors errs;
	struct vmdef back;
	char why[64], *t1, *t2;
	json_t *j;
	int rc;

	j = vmdef_encode(def);
	assert_non_null(j);
	rc = vmdef_decode(j, &back, &errs);
	json_decref(j);
	assert_decoded(rc, &errs, what);
	if (!def_equal(def, &back, why, sizeof(why)))
		fail_msg("%s: after decode(encode()): %s", what, why);
	t1 = canonical_text(def);
	t2 = canonical_text(&back);
	assert_string_equal(t1, t2);
	vmdef_free(&back);

	rc = vmdef_parse(t1, strlen(t1), &back, &errs);
	assert_decoded(rc, &errs, what);
	if (!def_equal(def, &back, why, sizeof(why)))
		fail_msg("%s: after parse(dumps(encode())): %s", what, why);
	vmdef_free(&back);
	free(t1);
	free(t2);
}

/* -------------------------------------------------------------------------- */
/* Valid definitions, decoded to exact values. */

/* What every case starts from: the defaults, name vm1, kernel /k. */
static void
expect_base(struct vmdef *d)
{
	memset(d, 0, sizeof(*d));
	d->name = "vm1";
	strcpy(d->uuid, UUID1);
	d->vcpus = d->sockets = d->cores = d->threads = 1;
	d->memory_mib = 128;
	d->loader = VMDEF_LOADER_AUTO;
	d->kernel = "/k";
	d->mode = VMDEF_MODE_LONG;
	d->console = true;
	d->scrollback = 64 * 1024;
	d->on_poweroff = VMDEF_ACTION_DESTROY;
	d->on_reboot = VMDEF_ACTION_RESTART;
	d->on_crash = VMDEF_ACTION_DESTROY;
	d->shutdown_timeout = 30;
}

static void
expect_defaults(struct vmdef *d)
{
	(void)d;
}

static void
expect_full(struct vmdef *d)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 };

	d->name = "web-01.prod_x";
	d->description = "Web server \xc3\xa9t\xc3\xa9";
	d->vcpus = 4;
	d->sockets = 1;
	d->cores = 2;
	d->threads = 2;
	d->memory_mib = 2048;
	d->hugepages = true;
	d->loader = VMDEF_LOADER_LINUX;
	d->kernel = "boot/vmlinuz";
	d->initrd = "/boot/initrd.img";
	d->cmdline = "console=ttyS0 root=/dev/vda1 quiet";
	d->irqchip = true;
	d->pit = false;
	d->scrollback = 1048576;
	d->ndisks = 2;
	d->disks[0].path = "/var/lib/vmm/web.img";
	d->disks[0].serial = "WEB-ROOT-0001";
	d->disks[1].path = "seed.iso";
	d->disks[1].readonly = true;
	d->nnics = 2;
	d->nics[0].ifname = "tap-web0";
	memcpy(d->nics[0].mac, mac, sizeof(mac));
	d->nics[0].mac_set = true;
	d->rng = true;
	d->debug_exit = true;
	d->on_poweroff = VMDEF_ACTION_RESTART;
	d->on_reboot = VMDEF_ACTION_DESTROY;
	d->on_crash = VMDEF_ACTION_PRESERVE;
	d->autostart = true;
	d->autostart_order = -5;
	d->autostart_delay = 120;
	d->shutdown_timeout = 3600;
}

static void
expect_raw_defaults(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_RAW;
	d->load_address = d->entry = 0x1000;
}

static void
expect_raw_real(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_RAW;
	d->load_address = 4096;
	d->entry = 0x7c00;
	d->mode = VMDEF_MODE_REAL;
}

static void
expect_raw_max(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_RAW;
	d->load_address = UINT64_MAX;
	d->entry = 1;
	d->mode = VMDEF_MODE_PROTECTED;
}

static void
expect_linux(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_LINUX;
	d->irqchip = d->pit = true;
}

static void
expect_linux_nopit(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_LINUX;
	d->irqchip = true;
}

static void
expect_linux_noirqchip(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_LINUX;
}

static void
expect_smp(struct vmdef *d)
{
	d->vcpus = d->sockets = 4;
	d->irqchip = d->pit = true;
}

static void
expect_topology_only(struct vmdef *d)
{
	d->vcpus = 8;
	d->sockets = d->cores = d->threads = 2;
	d->irqchip = d->pit = true;
}

static void
expect_elf_irqchip(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_ELF;
	d->irqchip = d->pit = true;
}

static void
expect_multiboot(struct vmdef *d)
{
	d->loader = VMDEF_LOADER_MULTIBOOT;
	d->cmdline = "";
}

static void
expect_console_off(struct vmdef *d)
{
	d->console = false;
	d->scrollback = 0;
}

static void
expect_hex_numbers(struct vmdef *d)
{
	d->memory_mib = 0x400;
	d->scrollback = 0x10;
	d->shutdown_timeout = 0xe10;
}

static void
expect_nics(struct vmdef *d)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe };

	d->nnics = 2;
	d->nics[0].type = VMDEF_NIC_TAP;
	d->nics[1].ifname = "t.1";
	memcpy(d->nics[1].mac, mac, sizeof(mac));
	d->nics[1].mac_set = true;
}

static void
expect_autostart(struct vmdef *d)
{
	d->autostart_order = INT_MIN;
	d->autostart_delay = 3600;
}

static const struct valid_case {
	const char *name;
	const char *json;		/* ' stands for " */
	void (*expect)(struct vmdef *);	/* changes to expect_base */
} valid_cases[] = {
	{ "minimal", "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'}}",
	    expect_defaults },
	{ "uuid in upper case",
	    "{'uuid':'5F0C1E2A-8B3D-4C6E-9F10-A1B2C3D4E5F6','name':'vm1',"
	    "'os':{'kernel':'/k'}}", expect_defaults },
	{ "empty optional objects",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'vcpu':{},'memory':{},'features':{},'devices':{'console':{},"
	    "'disks':[],'interfaces':[]},'autostart':{}}", expect_defaults },
	{ "every key",
	    "{'name':'web-01.prod_x','uuid':'" UUID1 "',"
	    "'description':'Web server \xc3\xa9t\xc3\xa9',"
	    "'vcpu':{'count':4,'topology':{'sockets':1,'cores':2,"
	    "'threads':2}},'memory':{'size_mib':2048,'hugepages':true},"
	    "'os':{'loader':'linux','kernel':'boot/vmlinuz',"
	    "'initrd':'/boot/initrd.img',"
	    "'cmdline':'console=ttyS0 root=/dev/vda1 quiet'},"
	    "'features':{'irqchip':true,'pit':false},"
	    "'devices':{'console':{'enabled':true,'scrollback':1048576},"
	    "'disks':[{'path':'/var/lib/vmm/web.img','readonly':false,"
	    "'serial':'WEB-ROOT-0001'},{'path':'seed.iso','readonly':true}],"
	    "'interfaces':[{'type':'tap','ifname':'tap-web0',"
	    "'mac':'52:54:00:AB:cd:01'},{'type':'tap'}],"
	    "'rng':true,'debug_exit':true},"
	    "'on_poweroff':'restart','on_reboot':'destroy',"
	    "'on_crash':'preserve',"
	    "'autostart':{'enabled':true,'order':-5,'delay':120},"
	    "'shutdown_timeout':3600}", expect_full },
	{ "raw, entry and mode defaulted",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'raw','load_address':'0x1000'}}", expect_raw_defaults },
	{ "raw in real mode, integer and 0X addresses",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'raw','load_address':4096,'entry':'0X7C00',"
	    "'mode':'real'}}", expect_raw_real },
	{ "raw at the top of the address space",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'raw','load_address':'0xFFFFffffFFFFffff',"
	    "'entry':'0x00000000000000000000001','mode':'protected'}}",
	    expect_raw_max },
	{ "linux: irqchip and pit by default",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'linux'}}", expect_linux },
	{ "linux without the pit",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'linux'},'features':{'pit':false}}", expect_linux_nopit },
	{ "linux without the irqchip: no pit either",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'linux'},'features':{'irqchip':false}}",
	    expect_linux_noirqchip },
	{ "four vcpus: irqchip by default, one core per socket",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'vcpu':{'count':4}}", expect_smp },
	{ "count from the topology",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'vcpu':{'topology':{'threads':2,'cores':2,'sockets':2}}}",
	    expect_topology_only },
	{ "elf with an explicit irqchip: the pit follows",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'elf'},'features':{'irqchip':true}}",
	    expect_elf_irqchip },
	{ "multiboot with an empty command line",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k',"
	    "'loader':'multiboot','cmdline':''}}", expect_multiboot },
	{ "console off, no scrollback",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'devices':{'console':{'enabled':false,'scrollback':0}}}",
	    expect_console_off },
	{ "hex strings for plain integers",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'memory':{'size_mib':'0x400'},'devices':{'console':"
	    "{'scrollback':'0x10'}},'shutdown_timeout':'0xE10'}",
	    expect_hex_numbers },
	{ "interfaces without and with mac and ifname",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'devices':{'interfaces':[{},{'mac':'02:00:00:00:00:FE',"
	    "'ifname':'t.1'}]}}", expect_nics },
	{ "autostart at its limits",
	    "{'name':'vm1','uuid':'" UUID1 "','os':{'kernel':'/k'},"
	    "'autostart':{'order':-2147483648,'delay':3600}}",
	    expect_autostart },
};

static void
test_valid_cases(void **state)
{
	const struct valid_case *c;
	struct vmdef_errors errs;
	struct vmdef got, want;
	char why[64];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		c = &valid_cases[i];
		rc = parse_sq(c->json, &got, &errs);
		assert_decoded(rc, &errs, c->name);
		expect_base(&want);
		c->expect(&want);
		if (!def_equal(&want, &got, why, sizeof(why)))
			fail_msg("%s: %s", c->name, why);
		assert_round_trip(&got, c->name);
		vmdef_free(&got);
		vmdef_errors_free(&errs);
	}
}

/* -------------------------------------------------------------------------- */
/* Limits: every bounded key at its limit (valid) and one past it. */

static const struct limit_case {
	const char *json;	/* one %s: the value */
	const char *path;
	const char *msg;
} limit_cases[] = {
	{ "{'name':%s,'os':{'kernel':'/k'}}", "$.name",
	    "must be 1 to 64 characters from [A-Za-z0-9._-], starting with "
	    "a letter or digit, without \"..\"" },
	{ "{'name':'a','description':%s,'os':{'kernel':'/k'}}",
	    "$.description",
	    "must be at most 1024 bytes without control characters" },
	{ "{'name':'a','os':{'kernel':%s}}", "$.os.kernel",
	    "must be a path of 1 to 4095 bytes without NUL" },
	{ "{'name':'a','os':{'kernel':'k','initrd':%s}}", "$.os.initrd",
	    "must be a path of 1 to 4095 bytes without NUL" },
	{ "{'name':'a','os':{'kernel':'k','cmdline':%s}}", "$.os.cmdline",
	    "must be at most 2048 printable ASCII characters" },
	{ "{'name':'a','os':{'kernel':'k'},'devices':{'disks':[{'path':%s}]}}",
	    "$.devices.disks[0].path",
	    "must be a path of 1 to 4095 bytes without NUL" },
	{ "{'name':'a','os':{'kernel':'k'},'devices':{'disks':[{'path':'d',"
	    "'serial':%s}]}}", "$.devices.disks[0].serial",
	    "must be at most 20 printable ASCII characters" },
	{ "{'name':'a','os':{'kernel':'k'},'devices':{'interfaces':"
	    "[{'ifname':%s}]}}", "$.devices.interfaces[0].ifname",
	    "must be 1 to 15 characters from [A-Za-z0-9_.-], not \".\" or "
	    "\"..\"" },
};

/* Lengths of the string limits, in the order of limit_cases. */
static const size_t limit_lengths[] = {
	64, 1024, 4095, 4095, 2048, 4095, 20, 15
};

static void
test_string_limits(void **state)
{
	struct vmdef_errors errs;
	struct vmdef def;
	char *val, *json;
	size_t i, k, n;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
		for (k = 0; k < 2; k++) {
			n = limit_lengths[i] + k;
			val = repeat('x', n + 2);
			val[0] = val[n + 1] = '"';
			json = fill(limit_cases[i].json, val);
			rc = vmdef_parse(json, strlen(json), &def, &errs);
			if (k == 0) {
				assert_decoded(rc, &errs, limit_cases[i].path);
			} else {
				assert_int_equal(rc, -EINVAL);
				assert_int_equal(errs.n, 1);
				assert_string_equal(errs.v[0].path,
				    limit_cases[i].path);
				assert_string_equal(errs.v[0].msg,
				    limit_cases[i].msg);
			}
			vmdef_free(&def);
			vmdef_errors_free(&errs);
			free(json);
			free(val);
		}
	}
}

static const struct range_case {
	const char *json;	/* one %s: the value */
	const char *path;
	const char *lo, *hi;	/* the limits, as JSON */
	const char *below, *above;	/* invalid, NULL: none */
	const char *msg;
} range_cases[] = {
	{ "{'name':'a','os':{'kernel':'k'},'features':{'irqchip':true},"
	    "'vcpu':{'count':%s}}", "$.vcpu.count", "1", "64", "0", "65",
	    "must be an integer from 1 to 64" },
	{ "{'name':'a','os':{'kernel':'k'},'features':{'irqchip':true},"
	    "'vcpu':{'topology':{'sockets':%s,'cores':1,'threads':1}}}",
	    "$.vcpu.topology.sockets", "1", "64", "0", "65",
	    "must be an integer from 1 to 64" },
	{ "{'name':'a','os':{'kernel':'k'},'memory':{'size_mib':%s}}",
	    "$.memory.size_mib", "1", "1048576", "0", "'0x100001'",
	    "must be an integer from 1 to 1048576" },
	{ "{'name':'a','os':{'kernel':'k'},'devices':{'console':"
	    "{'scrollback':%s}}}", "$.devices.console.scrollback", "0",
	    "16777216", "-1", "16777217",
	    "must be an integer from 0 to 16777216" },
	{ "{'name':'a','os':{'kernel':'k'},'shutdown_timeout':%s}",
	    "$.shutdown_timeout", "1", "3600", "0", "3601",
	    "must be an integer from 1 to 3600" },
	{ "{'name':'a','os':{'kernel':'k'},'autostart':{'delay':%s}}",
	    "$.autostart.delay", "0", "'0xe10'", "-1", "'0xe11'",
	    "must be an integer from 0 to 3600" },
	{ "{'name':'a','os':{'kernel':'k'},'autostart':{'order':%s}}",
	    "$.autostart.order", "-2147483648", "2147483647", "-2147483649",
	    "'0x80000000'",
	    "must be an integer from -2147483648 to 2147483647" },
	{ "{'name':'a','os':{'kernel':'k','loader':'raw','load_address':%s}}",
	    "$.os.load_address", "0", "'0xffffffffffffffff'", "-1",
	    "'0x10000000000000000'",
	    "must be a 64-bit address, an integer or a \"0x...\" string" },
};

/* Decode the range case c with value v: 0, or the expected error. */
static void
check_range(const struct range_case *c, const char *v, bool valid)
{
	struct vmdef_errors errs;
	struct vmdef def;
	char *json;
	int rc;

	json = fill(c->json, v);
	rc = vmdef_parse(json, strlen(json), &def, &errs);
	if (valid) {
		assert_decoded(rc, &errs, json);
	} else {
		if (rc != -EINVAL || errs.n != 1)
			fail_msg("%s: rc %d, %zu errors", json, rc, errs.n);
		assert_string_equal(errs.v[0].path, c->path);
		assert_string_equal(errs.v[0].msg, c->msg);
	}
	vmdef_free(&def);
	vmdef_errors_free(&errs);
	free(json);
}

static void
test_integer_limits(void **state)
{
	static const char *const not_integers[] = {
		"1.0", "'1'", "'0x'", "'0x1g'", "true", "null", "[]", "{}",
		"' 0x1'", "'0x1 '", "'-0x1'", "'x1'", "1e2",
	};
	const struct range_case *c;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		c = &range_cases[i];
		check_range(c, c->lo, true);
		check_range(c, c->hi, true);
		check_range(c, c->below, false);
		check_range(c, c->above, false);
		for (k = 0; k < sizeof(not_integers) / sizeof(not_integers[0]);
		    k++)
			check_range(c, not_integers[k], false);
	}
}

static void
test_name_valid(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{ "a", true }, { "0", true }, { "Web-01.prod_x", true },
		{ "a.b.c", true }, { "a-", true }, { "a_", true },
		{ "", false }, { ".a", false }, { "-a", false },
		{ "_a", false }, { "a..b", false }, { "a..", false },
		{ "..", false }, { "a/b", false }, { "/a", false },
		{ "a b", false }, { "a\tb", false }, { "a\xc3\xa9", false },
		{ "a:b", false }, { "a\"b", false },
	};
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (vmdef_name_valid(cases[i].name) != cases[i].valid)
			fail_msg("vmdef_name_valid(\"%s\") != %d",
			    cases[i].name, cases[i].valid);
	assert_false(vmdef_name_valid(NULL));
	s = repeat('n', VMDEF_NAME_MAX);
	assert_true(vmdef_name_valid(s));
	free(s);
	s = repeat('n', VMDEF_NAME_MAX + 1);
	assert_false(vmdef_name_valid(s));
	free(s);
}

static void
test_uuid(void **state)
{
	struct vmdef_errors errs;
	struct vmdef a, b;
	const char *u;
	size_t i;
	int rc;

	(void)state;
	rc = parse_sq("{'name':'a','os':{'kernel':'k'}}", &a, &errs);
	assert_decoded(rc, &errs, "no uuid");
	rc = parse_sq("{'name':'a','os':{'kernel':'k'}}", &b, &errs);
	assert_decoded(rc, &errs, "no uuid");
	/* RFC 4122: version 4, variant 10x, canonical lower case. */
	u = a.uuid;
	assert_int_equal(strlen(u), VMDEF_UUID_LEN);
	for (i = 0; i < VMDEF_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(u[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", u[i]));
	}
	assert_int_equal(u[14], '4');
	assert_non_null(strchr("89ab", u[19]));
	assert_string_not_equal(a.uuid, b.uuid);
	assert_round_trip(&a, "generated uuid");
	vmdef_free(&a);
	vmdef_free(&b);
}

/* -------------------------------------------------------------------------- */
/* Golden diagnostics. */

static int
golden_filter(const struct dirent *de)
{
	size_t len = strlen(de->d_name);

	return len > 5 && strcmp(de->d_name + len - 5, ".json") == 0;
}

/*
 * One golden case: NAME.json must give exactly the lines of NAME.err; an
 * empty NAME.err means it is valid, and then NAME.canon, if present, is
 * its exact canonical form.  Returns whether NAME.err is non-empty.
 */
static bool
golden_case(const char *name)
{
	char path[1024], *text, *want, *got, *canon;
	struct vmdef_errors errs;
	struct vmdef def;
	size_t len, n;
	bool has_errors;
	int rc;

	n = strlen(name) - 5;
	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
	text = tu_read_file(path, &len);
	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/%.*s.err", GOLDEN_DIR, (int)n, name);
	if ((want = tu_read_file(path, NULL)) == NULL)
		fail_msg("%s: missing", path);
	rc = vmdef_parse(text, len, &def, &errs);
	got = errors_text(&errs);
	if (strcmp(want, got) != 0) {
		print_error("%s: expected:\n%s", name, want);
		print_error("%s: got (rc %d):\n%s", name, rc, got);
		fail();
	}
	assert_int_equal(rc, want[0] == '\0' ? 0 : -EINVAL);
	snprintf(path, sizeof(path), "%s/%.*s.canon", GOLDEN_DIR, (int)n,
	    name);
	if (rc == 0 && (canon = tu_read_file(path, NULL)) != NULL) {
		free(got);
		got = canonical_text(&def);
		/* The file ends in a newline, the dump does not. */
		if (strlen(canon) != strlen(got) + 1 ||
		    strncmp(canon, got, strlen(got)) != 0 ||
		    canon[strlen(got)] != '\n') {
			print_error("%s: canonical form:\n%s\n", name, got);
			fail_msg("%s differs", path);
		}
		free(canon);
	}
	if (rc == 0)
		assert_round_trip(&def, name);
	vmdef_free(&def);
	vmdef_errors_free(&errs);
	free(text);
	free(got);
	has_errors = want[0] != '\0';
	free(want);
	return has_errors;
}

static void
test_golden(void **state)
{
	struct dirent **list;
	int i, n, nerr = 0;

	(void)state;
	n = scandir(GOLDEN_DIR, &list, golden_filter, alphasort);
	if (n < 0)
		fail_msg("%s: %s", GOLDEN_DIR, strerror(errno));
	for (i = 0; i < n; i++) {
		nerr += golden_case(list[i]->d_name);
		free(list[i]);
	}
	free(list);
	if (nerr < GOLDEN_MIN)
		fail_msg("%d golden error cases, expected at least %d", nerr,
		    GOLDEN_MIN);
	print_message("%d golden cases, %d with errors\n", n, nerr);
}

/* -------------------------------------------------------------------------- */
/* Diagnostics that do not fit a golden file. */

static void
test_parse_limits(void **state)
{
	static const char def_text[] = "{\"name\":\"a\",\"os\":{\"kernel\":"
	    "\"k\"}}";
	struct vmdef_errors errs;
	struct vmdef def;
	char *text;
	int rc;

	(void)state;
	/* Exactly 1 MiB: whitespace after a valid definition. */
	text = repeat(' ', TEXT_MAX + 1);
	memcpy(text, def_text, sizeof(def_text) - 1);
	rc = vmdef_parse(text, TEXT_MAX, &def, &errs);
	assert_decoded(rc, &errs, "1 MiB");
	vmdef_free(&def);
	rc = vmdef_parse(text, TEXT_MAX + 1, &def, &errs);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].path, "$");
	assert_string_equal(errs.v[0].msg, "must be at most 1048576 bytes");
	vmdef_free(&def);
	vmdef_errors_free(&errs);
	free(text);

	/* No text, a NUL inside the text, a top level that is no object. */
	rc = vmdef_parse(NULL, 0, &def, &errs);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].msg, "invalid JSON at line 1 column 0: "
	    "'[' or '{' expected near end of file");
	vmdef_errors_free(&errs);
	rc = vmdef_parse("{\"name\":\"a\0\"}", 13, &def, &errs);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].path, "$");
	assert_string_equal(errs.v[0].msg, "invalid JSON at line 1 column 10: "
	    "control character 0x0 near '\"a'");
	vmdef_errors_free(&errs);
	rc = vmdef_parse("[1]", 3, &def, &errs);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].path, "$");
	assert_string_equal(errs.v[0].msg, "must be an object");
	vmdef_free(&def);
	vmdef_errors_free(&errs);
}

/* vmdef_decode on values no parser makes: NUL bytes, odd keys, NULL. */
static void
test_decode_odd_values(void **state)
{
	struct vmdef_errors errs;
	struct vmdef def;
	json_t *j, *os;
	char key[300];
	int rc;

	(void)state;
	rc = vmdef_decode(NULL, &def, &errs);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].path, "$");
	assert_string_equal(errs.v[0].msg, "must be an object");
	vmdef_errors_free(&errs);

	j = json_object();
	os = json_object();
	assert_non_null(j);
	assert_non_null(os);
	assert_int_equal(json_object_set_new(j, "name",
	    json_stringn("a\0b", 3)), 0);
	assert_int_equal(json_object_set_new(os, "kernel",
	    json_stringn("/k\0", 3)), 0);
	assert_int_equal(json_object_set_new(os, "loader",
	    json_stringn("raw\0", 4)), 0);
	assert_int_equal(json_object_set_new(j, "os", os), 0);
	assert_int_equal(json_object_setn_new(j, "name\0x", 6,
	    json_string("b")), 0);
	assert_int_equal(json_object_set_new(j, "a\"b\\c\x01\xc3\xa9",
	    json_true()), 0);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(json_object_set_new(j, key, json_true()), 0);
	key[0] = ' ';
	assert_int_equal(json_object_set_new(j, key, json_true()), 0);
	rc = vmdef_decode(j, &def, &errs);
	json_decref(j);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 7);
	assert_string_equal(errs.v[0].path, "$.name");
	assert_string_equal(errs.v[0].msg, "must be 1 to 64 characters from "
	    "[A-Za-z0-9._-], starting with a letter or digit, without \"..\"");
	assert_string_equal(errs.v[1].path, "$.os.kernel");
	assert_string_equal(errs.v[1].msg, "must be a path of 1 to 4095 bytes "
	    "without NUL");
	assert_string_equal(errs.v[2].path, "$.os.loader");
	assert_string_equal(errs.v[2].msg, "must be one of \"auto\", "
	    "\"linux\", \"multiboot\", \"elf\", \"raw\"");
	assert_string_equal(errs.v[3].path, "$[\"name\\x00x\"]");
	assert_string_equal(errs.v[3].msg, "unknown key");
	assert_string_equal(errs.v[4].path,
	    "$[\"a\\\"b\\\\c\\x01\\xc3\\xa9\"]");
	/* Long keys: the path is cut at 127 bytes, ending in "...". */
	assert_int_equal(strlen(errs.v[5].path), 127);
	assert_memory_equal(errs.v[5].path, "$.kkk", 5);
	assert_string_equal(errs.v[5].path + 124, "...");
	assert_int_equal(strlen(errs.v[6].path), 127);
	assert_memory_equal(errs.v[6].path, "$[\" kkk", 7);
	assert_string_equal(errs.v[6].path + 124, "...");
	assert_string_equal(errs.v[6].msg, "unknown key");
	vmdef_free(&def);
	vmdef_errors_free(&errs);
}

static void
test_error_cap(void **state)
{
	struct vmdef_errors errs;
	struct vmdef def;
	char want[16];
	json_t *j;
	int rc, i;

	(void)state;
	j = json_object();
	assert_non_null(j);
	for (i = 0; i < 150; i++) {
		snprintf(want, sizeof(want), "k%03d", i);
		assert_int_equal(json_object_set_new(j, want, json_null()), 0);
	}
	rc = vmdef_decode(j, &def, &errs);
	json_decref(j);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, ERRORS_MAX + 1);
	for (i = 0; i < ERRORS_MAX; i++) {
		snprintf(want, sizeof(want), "$.k%03d", i);
		assert_string_equal(errs.v[i].path, want);
		assert_string_equal(errs.v[i].msg, "unknown key");
	}
	assert_string_equal(errs.v[ERRORS_MAX].path, "$");
	assert_string_equal(errs.v[ERRORS_MAX].msg, "too many problems, only "
	    "the first 100 are reported");
	vmdef_free(&def);
	vmdef_errors_free(&errs);
}

/* Nine disks: the ninth is checked too, then dropped. */
static void
test_too_many_disks(void **state)
{
	struct vmdef_errors errs;
	struct vmdef def;
	json_t *j, *disks;
	char path[32];
	int rc, i;

	(void)state;
	j = json_pack("{s:s, s:{s:s}, s:{s:[]}}", "name", "a", "os", "kernel",
	    "k", "devices", "disks");
	assert_non_null(j);
	disks = json_object_get(json_object_get(j, "devices"), "disks");
	for (i = 0; i < VMDEF_DISK_MAX + 1; i++) {
		snprintf(path, sizeof(path), "d%d", i);
		assert_int_equal(json_array_append_new(disks,
		    i < VMDEF_DISK_MAX ? json_pack("{s:s}", "path", path) :
		    json_pack("{s:s, s:i}", "path", path, "readonly", 1)), 0);
	}
	rc = vmdef_decode(j, &def, &errs);
	json_decref(j);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.v[0].path, "$.devices.disks");
	assert_string_equal(errs.v[0].msg, "must have at most 8 entries");
	assert_string_equal(errs.v[1].path, "$.devices.disks[8].readonly");
	assert_string_equal(errs.v[1].msg, "must be true or false");
	/* What was kept is still owned by def and released by vmdef_free. */
	assert_int_equal(def.ndisks, VMDEF_DISK_MAX);
	assert_string_equal(def.disks[7].path, "d7");
	vmdef_free(&def);
	vmdef_errors_free(&errs);
}

/* -------------------------------------------------------------------------- */
/* Encoding. */

static void
test_encode_canonical(void **state)
{
	static const char want[] = "{'name':'vm1','uuid':'" UUID1 "',"
	    "'vcpu':{'count':1,'topology':{'sockets':1,'cores':1,'threads':1}},"
	    "'memory':{'size_mib':128,'hugepages':false},"
	    "'os':{'loader':'raw','kernel':'/k','load_address':'0x100000',"
	    "'entry':'0xffffffffffffffff','mode':'real'},"
	    "'features':{'irqchip':false,'pit':false},"
	    "'devices':{'console':{'enabled':true,'scrollback':65536},"
	    "'disks':[{'path':'d','readonly':true}],"
	    "'interfaces':[{'type':'tap','mac':'52:54:00:0a:0b:0c'}],"
	    "'rng':false,'debug_exit':false},"
	    "'on_poweroff':'destroy','on_reboot':'restart',"
	    "'on_crash':'destroy',"
	    "'autostart':{'enabled':false,'order':0,'delay':0},"
	    "'shutdown_timeout':30}";
	struct vmdef_errors errs;
	struct vmdef def;
	char *w, *got;
	json_t *j;
	int rc;

	(void)state;
	rc = parse_sq("{'os':{'mode':'real','entry':'0xFFFFFFFFFFFFFFFF',"
	    "'load_address':1048576,'kernel':'/k','loader':'raw'},"
	    "'uuid':'" UUID1 "','name':'vm1','devices':{'interfaces':"
	    "[{'mac':'52:54:00:0A:0B:0C'}],'disks':[{'readonly':true,"
	    "'path':'d'}]}}", &def, &errs);
	assert_decoded(rc, &errs, "canonical");
	j = vmdef_encode(&def);
	assert_non_null(j);
	got = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	w = sq(want);
	assert_string_equal(got, w);
	free(w);
	free(got);
	vmdef_free(&def);
}

static void
test_encode_invalid(void **state)
{
	struct vmdef def;
	json_t *j;

	(void)state;
	expect_base(&def);
	j = vmdef_encode(&def);
	assert_non_null(j);
	json_decref(j);
	def.name = NULL;
	assert_null(vmdef_encode(&def));
	expect_base(&def);
	def.kernel = NULL;
	assert_null(vmdef_encode(&def));
	expect_base(&def);
	def.loader = (enum vmdef_loader)99;
	assert_null(vmdef_encode(&def));
	expect_base(&def);
	def.on_crash = (enum vmdef_action)3;
	assert_null(vmdef_encode(&def));
	expect_base(&def);
	def.loader = VMDEF_LOADER_RAW;
	def.mode = (enum vmdef_mode)3;
	assert_null(vmdef_encode(&def));
	expect_base(&def);
	def.ndisks = 1;		/* a disk without a path */
	assert_null(vmdef_encode(&def));
	expect_base(&def);
	def.nnics = 1;
	def.nics[0].type = (enum vmdef_nic_type)1;
	assert_null(vmdef_encode(&def));
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(vmdef_loader_name(VMDEF_LOADER_AUTO), "auto");
	assert_string_equal(vmdef_loader_name(VMDEF_LOADER_LINUX), "linux");
	assert_string_equal(vmdef_loader_name(VMDEF_LOADER_MULTIBOOT),
	    "multiboot");
	assert_string_equal(vmdef_loader_name(VMDEF_LOADER_ELF), "elf");
	assert_string_equal(vmdef_loader_name(VMDEF_LOADER_RAW), "raw");
	assert_null(vmdef_loader_name((enum vmdef_loader)5));
	assert_string_equal(vmdef_mode_name(VMDEF_MODE_REAL), "real");
	assert_string_equal(vmdef_mode_name(VMDEF_MODE_PROTECTED),
	    "protected");
	assert_string_equal(vmdef_mode_name(VMDEF_MODE_LONG), "long");
	assert_null(vmdef_mode_name((enum vmdef_mode)3));
	assert_string_equal(vmdef_action_name(VMDEF_ACTION_DESTROY),
	    "destroy");
	assert_string_equal(vmdef_action_name(VMDEF_ACTION_RESTART),
	    "restart");
	assert_string_equal(vmdef_action_name(VMDEF_ACTION_PRESERVE),
	    "preserve");
	assert_null(vmdef_action_name((enum vmdef_action)-1));
	/* The free functions take NULL and zeroed structures. */
	vmdef_free(NULL);
	vmdef_errors_free(NULL);
}

/* -------------------------------------------------------------------------- */
/* Randomized property loop: mutated definitions never crash the decoder,
 * and give either a definition that survives the round trip or problems
 * that each have a "$" path and a clean message. */

static uint64_t prng_state;

static uint64_t
prng(void)
{
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return prng_state * 2685821657736338717ULL;
}

static size_t
pick(size_t n)
{
	return (size_t)(prng() % n);
}

static const char *const prop_bases[] = {
	"{'name':'vm1','os':{'kernel':'/k'}}",
	"{'name':'web-01','uuid':'" UUID1 "','description':'d',"
	    "'vcpu':{'count':4,'topology':{'sockets':1,'cores':2,"
	    "'threads':2}},'memory':{'size_mib':2048,'hugepages':true},"
	    "'os':{'loader':'linux','kernel':'boot/vmlinuz',"
	    "'initrd':'/boot/initrd.img','cmdline':'console=ttyS0'},"
	    "'features':{'irqchip':true,'pit':false},"
	    "'devices':{'console':{'enabled':true,'scrollback':1048576},"
	    "'disks':[{'path':'/img','readonly':false,'serial':'S1'},"
	    "{'path':'seed.iso','readonly':true}],"
	    "'interfaces':[{'type':'tap','ifname':'tap0',"
	    "'mac':'52:54:00:ab:cd:01'},{'type':'tap'}],"
	    "'rng':true,'debug_exit':true},"
	    "'on_poweroff':'restart','on_reboot':'destroy',"
	    "'on_crash':'preserve',"
	    "'autostart':{'enabled':true,'order':-5,'delay':120},"
	    "'shutdown_timeout':3600}",
	"{'name':'raw','os':{'loader':'raw','kernel':'g.bin',"
	    "'load_address':'0x1000','entry':4096,'mode':'real'},"
	    "'devices':{'debug_exit':true,'console':{'enabled':false}}}",
};

/* Keys a mutation may add, so that known keys turn up in odd places. */
static const char *const prop_keys[] = {
	"name", "uuid", "description", "vcpu", "count", "topology", "sockets",
	"cores", "threads", "memory", "size_mib", "hugepages", "os", "loader",
	"kernel", "initrd", "cmdline", "load_address", "entry", "mode",
	"features", "irqchip", "pit", "devices", "console", "enabled",
	"scrollback", "disks", "path", "readonly", "serial", "interfaces",
	"type", "ifname", "mac", "rng", "debug_exit", "on_poweroff",
	"on_reboot", "on_crash", "autostart", "order", "delay",
	"shutdown_timeout", "bogus", "", "a b",
};

static const char *const prop_strings[] = {
	"", "0x", "0x1000", "0XfFfF", "0xffffffffffffffff",
	"0x10000000000000000", "raw", "linux", "auto", "elf", "multiboot",
	"real", "protected", "long", "tap", "destroy", "restart", "preserve",
	"52:54:00:12:34:56", "01:00:5e:00:00:01", "00:00:00:00:00:00",
	"52-54-00-12-34-56", UUID1, "5F0C1E2A-8B3D-4C6E-9F10-A1B2C3D4E5F6",
	"..", ".", "a..b", "-a", "/", "tap0", "x\xc3\xa9", "\x7f", "\t",
};

static json_t *
prop_string(void)
{
	char buf[5000];
	size_t n, i;

	switch (pick(4)) {
	case 0:
		return json_string(prop_strings[pick(sizeof(prop_strings) /
		    sizeof(prop_strings[0]))]);
	case 1:		/* a long one */
		n = 10 + pick(sizeof(buf) - 10);
		memset(buf, 'a' + (int)pick(26), n);
		return json_stringn(buf, n);
	default:	/* random ASCII, control characters included */
		n = pick(40);
		for (i = 0; i < n; i++)
			buf[i] = (char)(1 + pick(0x7f));
		return json_stringn(buf, n);
	}
}

static json_t *
prop_value(int depth)
{
	static const json_int_t ints[] = {
		0, 1, 2, -1, 64, 65, 3600, 3601, 1048576, 1048577, 16777216,
		INT_MAX, (json_int_t)INT_MAX + 1, INT_MIN,
		(json_int_t)INT_MIN - 1, LLONG_MAX, LLONG_MIN, 4096,
	};
	json_t *v;

	switch (pick(depth > 0 ? 9 : 7)) {
	case 0:
		return json_null();
	case 1:
		return json_boolean(pick(2));
	case 2:
		return json_integer(ints[pick(sizeof(ints) / sizeof(ints[0]))]);
	case 3:
		return json_integer((json_int_t)prng());
	case 4:
		return json_real(0.5);
	case 5:
	case 6:
		return prop_string();
	case 7:
		v = json_object();
		json_object_set_new(v, prop_keys[pick(sizeof(prop_keys) /
		    sizeof(prop_keys[0]))], prop_value(depth - 1));
		return v;
	default:
		v = json_array();
		json_array_append_new(v, prop_value(depth - 1));
		return v;
	}
}

/* A node of the tree: its value and where it sits. */
struct prop_node {
	json_t *v;
	json_t *parent;		/* NULL for the root */
	const char *key;	/* in an object parent */
	size_t index;		/* in an array parent */
};

#define PROP_NODES	256

static void
prop_collect(json_t *v, json_t *parent, const char *key, size_t index,
    struct prop_node *nodes, size_t *n)
{
	const char *k;
	json_t *c;
	size_t i;

	if (*n == PROP_NODES)
		return;
	nodes[(*n)++] = (struct prop_node){ v, parent, key, index };
	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
			prop_collect(c, v, k, 0, nodes, n);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			prop_collect(c, v, NULL, i, nodes, n);
	}
}

/* Put nv (a new reference) where node sits; returns the (new) root. */
static json_t *
prop_replace(json_t *root, const struct prop_node *node, json_t *nv)
{
	if (node->parent == NULL) {
		json_decref(root);
		return nv;
	}
	if (json_is_object(node->parent))
		json_object_set_new(node->parent, node->key, nv);
	else
		json_array_set_new(node->parent, node->index, nv);
	return root;
}

/* One random change to the tree; returns the (new) root. */
static json_t *
prop_mutate(json_t *root)
{
	struct prop_node nodes[PROP_NODES];
	struct prop_node *node;
	size_t n = 0, i;

	prop_collect(root, NULL, NULL, 0, nodes, &n);
	node = &nodes[pick(n)];
	switch (pick(5)) {
	case 0:		/* drop it */
		if (node->parent == NULL)
			break;
		if (json_is_object(node->parent))
			json_object_del(node->parent, node->key);
		else
			json_array_remove(node->parent, node->index);
		break;
	case 1:		/* a value of another type, or another value */
	case 2:
		root = prop_replace(root, node, prop_value(2));
		break;
	case 3:		/* a key, known or not, in an object */
		if (json_is_object(node->v))
			json_object_set_new(node->v, prop_keys[pick(
			    sizeof(prop_keys) / sizeof(prop_keys[0]))],
			    prop_value(2));
		break;
	default:	/* grow an array past its limit */
		if (!json_is_array(node->v) || json_array_size(node->v) == 0)
			break;
		for (i = pick(10); i > 0; i--)
			json_array_append_new(node->v, json_deep_copy(
			    json_array_get(node->v, 0)));
		break;
	}
	return root;
}

/* The checks on one decoding of v: returns whether v was valid. */
static bool
prop_check(json_t *v, uint64_t iter)
{
	struct vmdef_errors errs, errs2;
	struct vmdef def, def2;
	char *text, *e1, *e2;
	size_t i, k;
	int rc, rc2;

	rc = vmdef_decode(v, &def, &errs);
	if (rc == 0) {
		assert_int_equal(errs.n, 0);
		assert_round_trip(&def, "mutated definition");
	} else {
		if (rc != -EINVAL || errs.n == 0 || errs.n > ERRORS_MAX + 1)
			fail_msg("iteration %" PRIu64 ": rc %d with %zu errors",
			    iter, rc, errs.n);
		for (i = 0; i < errs.n; i++) {
			assert_int_equal(errs.v[i].path[0], '$');
			assert_true(errs.v[i].msg[0] != '\0');
			for (k = 0; errs.v[i].path[k] != '\0'; k++)
				assert_true(errs.v[i].path[k] >= 0x20 &&
				    errs.v[i].path[k] < 0x7f);
			for (k = 0; errs.v[i].msg[k] != '\0'; k++)
				assert_true(errs.v[i].msg[k] >= 0x20 &&
				    errs.v[i].msg[k] < 0x7f);
		}
	}
	/*
	 * The text of the same tree says the same, unless the parser refuses
	 * it: it takes no NUL and no scalar at the top.
	 */
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(text);
	if (strstr(text, "\\u0000") == NULL &&
	    (json_is_object(v) || json_is_array(v))) {
		rc2 = vmdef_parse(text, strlen(text), &def2, &errs2);
		e1 = errors_text(&errs);
		e2 = errors_text(&errs2);
		if (rc != rc2 || strcmp(e1, e2) != 0)
			fail_msg("iteration %" PRIu64 ": %s\ndecode %d:\n%s"
			    "parse %d:\n%s", iter, text, rc, e1, rc2, e2);
		free(e1);
		free(e2);
		vmdef_free(&def2);
		vmdef_errors_free(&errs2);
	}
	free(text);
	vmdef_free(&def);
	vmdef_errors_free(&errs);
	return rc == 0;
}

static void
test_property(void **state)
{
	json_t *bases[sizeof(prop_bases) / sizeof(prop_bases[0])], *v;
	json_error_t jerr;
	uint64_t iter, seed, nvalid = 0;
	size_t i;
	char *t;
	int m;

	(void)state;
	seed = getenv("VMDEF_SEED") != NULL ?
	    strtoull(getenv("VMDEF_SEED"), NULL, 0) :
	    (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	prng_state = seed != 0 ? seed : 1;
	print_message("property loop: %d iterations, VMDEF_SEED=%" PRIu64
	    "\n", PROP_ITERS, seed);
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		t = sq(prop_bases[i]);
		bases[i] = json_loads(t, JSON_REJECT_DUPLICATES, &jerr);
		free(t);
		assert_non_null(bases[i]);
	}
	for (iter = 0; iter < PROP_ITERS; iter++) {
		v = json_deep_copy(bases[pick(sizeof(bases) /
		    sizeof(bases[0]))]);
		for (m = 1 + (int)pick(4); m > 0; m--)
			v = prop_mutate(v);
		nvalid += prop_check(v, iter);
		json_decref(v);
	}
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		json_decref(bases[i]);
	/* Both outcomes were reached often: the loop is not vacuous. */
	print_message("%" PRIu64 " valid, %" PRIu64 " with problems\n", nvalid,
	    PROP_ITERS - nvalid);
	assert_true(nvalid > PROP_ITERS / 20);
	assert_true(PROP_ITERS - nvalid > PROP_ITERS / 2);
}

/* -------------------------------------------------------------------------- */
/*
 * Allocation failures: fail each allocation of decode, encode and decode
 * again in turn; the codec must say -ENOMEM (or succeed without that
 * allocation) and free everything it took.  jansson's own text functions
 * are left out: under a failed allocation (jansson 2.14) its lexer may drop
 * bytes of a token and json_dumps may return text with bytes missing, so
 * the text is parsed and dumped with the hook disarmed; the one failure
 * vmdef_parse can tell apart, the first, is tested on its own.
 */

/* Parse text with the hook installed but disarmed. */
static json_t *
alloc_load(const char *text)
{
	json_error_t jerr;
	json_t *j;

	tu_alloc.armed = false;
	j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		fail_msg("%s: %s", text, jerr.text);
	tu_alloc.armed = true;
	return j;
}

/*
 * Run the sequence once with allocation fail_at failing: true when it ran
 * to its end without reaching that allocation.  want is the error text of
 * the definition ("" when it is valid).
 */
static bool
alloc_run(const char *text, const char *want, size_t fail_at, size_t *nomem)
{
	struct vmdef_errors errs, errs2;
	struct vmdef def, def2;
	char *out, *got, why[64];
	json_t *in, *j;
	bool done;
	int rc;

	tu_alloc.count = 0;
	tu_alloc.fail_at = fail_at;
	tu_alloc.live = 0;
	json_set_alloc_funcs(tu_alloc_malloc, tu_alloc_free);
	in = alloc_load(text);
	rc = vmdef_decode(in, &def, &errs);
	if (rc == -ENOMEM) {
		assert_int_equal(errs.n, 0);
		assert_null(errs.v);
		(*nomem)++;
	} else if (want[0] != '\0') {
		assert_int_equal(rc, -EINVAL);
		got = errors_text(&errs);
		assert_string_equal(got, want);
		free(got);
	} else {
		assert_decoded(rc, &errs, "after a failed allocation");
		j = vmdef_encode(&def);
		tu_alloc.armed = false;
		out = j != NULL ? json_dumps(j, 0) : NULL;
		tu_alloc.armed = true;
		json_decref(j);
		if (out != NULL) {
			json_decref(in);
			in = alloc_load(out);
			tu_alloc_free(out);
			rc = vmdef_decode(in, &def2, &errs2);
			if (rc == 0 && !def_equal(&def, &def2, why,
			    sizeof(why)))
				fail_msg("after a failed allocation: %s", why);
			if (rc != 0)
				assert_int_equal(rc, -ENOMEM);
			vmdef_free(&def2);
			vmdef_errors_free(&errs2);
		}
	}
	json_decref(in);
	vmdef_free(&def);
	vmdef_errors_free(&errs);
	done = tu_alloc.count <= fail_at;
	tu_alloc.armed = false;
	json_set_alloc_funcs(malloc, free);
	if (tu_alloc.live != 0)
		fail_msg("allocation %zu failing: %ld blocks leaked", fail_at,
		    tu_alloc.live);
	return done;
}

static void
test_alloc_failure(void **state)
{
	static const char *const cases[] = {
		NULL,	/* prop_bases[1], every key */
		"{'name':'..','os':{'kernel':''},'bogus':1,'devices':"
		    "{'disks':[{'serial':'x'}],'interfaces':[{'mac':"
		    "'52:54:00:00:00:01'},{'mac':'52:54:00:00:00:01'}]}}",
	};
	struct vmdef_errors errs;
	struct vmdef def;
	size_t i, fail_at, nomem;
	char *text, *want;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = sq(cases[i] != NULL ? cases[i] : prop_bases[1]);
		(void)vmdef_parse(text, strlen(text), &def, &errs);
		want = errors_text(&errs);
		vmdef_free(&def);
		vmdef_errors_free(&errs);
		nomem = 0;
		for (fail_at = 0; !alloc_run(text, want, fail_at, &nomem);
		    fail_at++)
			;
		/* Not vacuous: allocations were failed and reported. */
		if (fail_at < 2 || nomem == 0)
			fail_msg("case %zu: %zu allocations, %zu -ENOMEM", i,
			    fail_at, nomem);
		print_message("case %zu: %zu allocations failed in turn, "
		    "%zu decodings said -ENOMEM\n", i, fail_at, nomem);
		free(want);
		free(text);
	}

	/* vmdef_parse when jansson cannot even start. */
	tu_alloc.count = 0;
	tu_alloc.fail_at = 0;
	tu_alloc.live = 0;
	tu_alloc.armed = true;
	json_set_alloc_funcs(tu_alloc_malloc, tu_alloc_free);
	rc = vmdef_parse("{}", 2, &def, &errs);
	tu_alloc.armed = false;
	json_set_alloc_funcs(malloc, free);
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(errs.n, 0);
	assert_int_equal(tu_alloc.live, 0);
	vmdef_free(&def);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_cases),
		cmocka_unit_test(test_string_limits),
		cmocka_unit_test(test_integer_limits),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_decode_odd_values),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_too_many_disks),
		cmocka_unit_test(test_encode_canonical),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_property),
		cmocka_unit_test(test_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
