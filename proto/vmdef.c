/*
 * vmdef.c: the VM definition codec.  vmdef_decode walks the JSON itself,
 * driven by one table of keys per object, so that every unknown key, wrong
 * type and out-of-range value is its own error with a JSON path; the rules
 * that join several keys, and the defaults derived from other keys, are
 * applied after the walk.  vmdef_encode writes the canonical form.  The
 * schema is documented in proto/PROTOCOL.md; keep the two in step.
 *
 * Every allocation goes through jansson's allocator (json_get_alloc_funcs),
 * so one hook, json_set_alloc_funcs, covers the whole codec: the tests fail
 * each allocation in turn.  Whatever the codec allocated must therefore be
 * freed (vmdef_free, vmdef_errors_free) before that hook is changed.
 */

#include <sys/random.h>

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "vmdef.h"

#define VD_TEXT_MAX	(1024 * 1024)	/* vmdef_parse's input, bytes */
#define VD_ERRORS_MAX	100		/* reported, then one notice */
#define VD_MEM_DEF_MIB	128		/* memory.size_mib default */
#define VD_PATH_LEN	(VMDEF_PATH_MAX - 1)	/* PATH_MAX counts the NUL */
#define VD_MAC_LEN	17		/* "xx:xx:xx:xx:xx:xx" */
#define VD_ADDR_LEN	18		/* "0x" and 16 digits */

/* Keys whose presence or soundness the cross-key rules look at. */
enum {
	VD_F_COUNT	= 1 << 0,	/* vcpu.count */
	VD_F_TOPOLOGY	= 1 << 1,	/* vcpu.topology */
	VD_F_LOADER	= 1 << 2,	/* os.loader */
	VD_F_LOAD	= 1 << 3,	/* os.load_address */
	VD_F_ENTRY	= 1 << 4,	/* os.entry */
	VD_F_MODE	= 1 << 5,	/* os.mode */
	VD_F_IRQCHIP	= 1 << 6,	/* features.irqchip */
	VD_F_PIT	= 1 << 7,	/* features.pit */
	VD_F_UUID	= 1 << 8,	/* uuid */
};

/* A decoding in progress.  errs is the caller's list. */
struct vd_ctx {
	struct vmdef_errors *errs;
	size_t nerr;		/* problems found, reported or not */
	bool nomem;		/* an allocation failed: -ENOMEM */
	unsigned int seen;	/* VD_F_* present */
	unsigned int bad;	/* VD_F_* present with a problem */
	struct jpath path;	/* where the decoder is */
};

struct vd_field;

/*
 * A key's decoder: check v, store it in base (the struct the key's table
 * describes) at f->off.  Reports its own problems; returns 0, -EINVAL after
 * reporting, or -ENOMEM (ctx->nomem set).
 */
typedef int vd_fn(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f);

/* One key of an object.  Tables end with a NULL key. */
struct vd_field {
	const char *key;
	vd_fn *fn;
	size_t off;		/* member of the base struct */
	size_t size;		/* its size (integers, enums) */
	int64_t min, max;	/* integer range */
	const void *arg;	/* string rule, names, nested table, array */
	unsigned int flags;
	unsigned int id;	/* VD_F_* or 0 */
};

#define VD_REQ		0x1	/* the key must be present */

/* The member f describes, in base. */
#define VD_MEMBER(base, f)	((void *)((char *)(base) + (f)->off))

/* A string key's rule: its own test and the message when it fails. */
struct vd_rule {
	bool (*ok)(const char *s, size_t len);
	const char *msg;
};

/* The JSON names of an enum, indexed by value. */
struct vd_names {
	const char *const *v;
	size_t n;
};

/* An array of objects stored in a fixed array of the base struct. */
struct vd_array {
	const struct vd_field *elem;	/* the element's keys */
	size_t size;			/* of one element */
	size_t max;			/* elements kept */
	size_t count_off;		/* unsigned int: how many kept */
	void (*release)(void *elem);	/* free what an element owns */
	void (*check)(struct vd_ctx *, void *base);	/* across elements */
};

/* Room to decode the elements beyond an array's limit, then drop them. */
union vd_spare {
	struct vmdef_disk disk;
	struct vmdef_nic nic;
};

/*
 * Names.
 */

static const char *const vd_loader_names[] = {
	[VMDEF_LOADER_AUTO] = "auto",
	[VMDEF_LOADER_LINUX] = "linux",
	[VMDEF_LOADER_MULTIBOOT] = "multiboot",
	[VMDEF_LOADER_ELF] = "elf",
	[VMDEF_LOADER_RAW] = "raw",
};

static const char *const vd_mode_names[] = {
	[VMDEF_MODE_REAL] = "real",
	[VMDEF_MODE_PROTECTED] = "protected",
	[VMDEF_MODE_LONG] = "long",
};

static const char *const vd_action_names[] = {
	[VMDEF_ACTION_DESTROY] = "destroy",
	[VMDEF_ACTION_RESTART] = "restart",
	[VMDEF_ACTION_PRESERVE] = "preserve",
};

static const char *const vd_nic_type_names[] = {
	[VMDEF_NIC_TAP] = "tap",
};

#define VD_NAMES(a)	{ (a), sizeof(a) / sizeof((a)[0]) }

static const struct vd_names vd_loaders = VD_NAMES(vd_loader_names);
static const struct vd_names vd_modes = VD_NAMES(vd_mode_names);
static const struct vd_names vd_actions = VD_NAMES(vd_action_names);
static const struct vd_names vd_nic_types = VD_NAMES(vd_nic_type_names);

/* names->v[i], or NULL when i is not a value of the enum. */
static const char *
vd_name(const struct vd_names *names, unsigned int i)
{
	return i < names->n ? names->v[i] : NULL;
}

const char *
vmdef_loader_name(enum vmdef_loader l)
{
	return vd_name(&vd_loaders, l);
}

const char *
vmdef_mode_name(enum vmdef_mode m)
{
	return vd_name(&vd_modes, m);
}

const char *
vmdef_action_name(enum vmdef_action a)
{
	return vd_name(&vd_actions, a);
}

/*
 * Memory, through jansson's allocator (see the top of the file).
 */

static void *
vd_malloc(size_t n)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	return m(n);
}

static void
vd_free(void *p)
{
	json_malloc_t m;
	json_free_t f;

	if (p == NULL)
		return;
	json_get_alloc_funcs(&m, &f);
	f(p);
}

/* A NUL-terminated copy of s[0..len), or NULL with ctx->nomem set. */
static char *
vd_strdup(struct vd_ctx *ctx, const char *s, size_t len)
{
	char *p;

	p = vd_malloc(len + 1);
	if (p == NULL) {
		ctx->nomem = true;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/*
 * Character classes, ASCII only (the locale must not change the schema).
 */

static int
vd_hexdigit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Problems and their paths.
 */

/* Copy src into dst[size], each byte outside printable ASCII as '?'. */
static void
vd_copy_clean(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = jpath_isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[i] = '\0';
}

/*
 * Record one problem at path.  The first VD_ERRORS_MAX are kept, then one
 * notice that more were found; the list is allocated whole on first use.
 */
static void
vd_add(struct vd_ctx *ctx, const char *path, const char *msg)
{
	struct vmdef_errors *errs = ctx->errs;
	struct vmdef_error *e;
	char notice[sizeof(e->msg)];

	ctx->nerr++;
	if (ctx->nomem || errs->n > VD_ERRORS_MAX)
		return;
	if (errs->v == NULL) {
		errs->v = vd_malloc((VD_ERRORS_MAX + 1) * sizeof(*errs->v));
		if (errs->v == NULL) {
			ctx->nomem = true;
			return;
		}
	}
	e = &errs->v[errs->n++];
	if (errs->n > VD_ERRORS_MAX) {
		snprintf(notice, sizeof(notice), "too many problems, only the "
		    "first %d are reported", VD_ERRORS_MAX);
		path = "$";
		msg = notice;
	}
	vd_copy_clean(e->path, sizeof(e->path), path);
	vd_copy_clean(e->msg, sizeof(e->msg), msg);
}

static void	vd_err_at(struct vd_ctx *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	vd_err(struct vd_ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* A problem at an explicit path (the rules across keys). */
static void
vd_err_at(struct vd_ctx *ctx, const char *path, const char *fmt, ...)
{
	char msg[sizeof(((struct vmdef_error *)0)->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vd_add(ctx, path, msg);
}

/* A problem at the current path. */
static void
vd_err(struct vd_ctx *ctx, const char *fmt, ...)
{
	char msg[sizeof(((struct vmdef_error *)0)->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vd_add(ctx, ctx->path.s, msg);
}


/*
 * String rules.  len is the JSON string's length; it may hold NUL bytes
 * (vmdef_decode takes any json_t), which every rule refuses.
 */

bool
vmdef_name_valid(const char *name)
{
	size_t len, i;

	if (name == NULL)
		return false;
	len = strnlen(name, VMDEF_NAME_MAX + 1);
	if (len == 0 || len > VMDEF_NAME_MAX ||
	    !jpath_isalnum((unsigned char)name[0]))
		return false;
	for (i = 0; i < len; i++)
		if (!jpath_isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return false;
	/* The name becomes a file name: no way up, whatever the caller does. */
	return strstr(name, "..") == NULL;
}

static bool
vd_ok_name(const char *s, size_t len)
{
	return strlen(s) == len && vmdef_name_valid(s);
}

/* At most max bytes, each printable ASCII. */
static bool
vd_printable(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len > max)
		return false;
	for (i = 0; i < len; i++)
		if (!jpath_isprint((unsigned char)s[i]))
			return false;
	return true;
}

/* Free text: any UTF-8 (jansson checked it) but no control character. */
static bool
vd_ok_description(const char *s, size_t len)
{
	size_t i;

	if (len > VMDEF_DESC_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* A host path, opened by the worker: any bytes but NUL. */
static bool
vd_ok_path(const char *s, size_t len)
{
	return len >= 1 && len <= VD_PATH_LEN && memchr(s, '\0', len) == NULL;
}

static bool
vd_ok_cmdline(const char *s, size_t len)
{
	return vd_printable(s, len, VMDEF_CMDLINE_MAX);
}

static bool
vd_ok_serial(const char *s, size_t len)
{
	return vd_printable(s, len, VMDEF_DISK_ID_MAX);
}

/* A Linux interface name (dev_valid_name) from a conservative set. */
static bool
vd_ok_ifname(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > VMDEF_IFNAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!jpath_isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return false;
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static const struct vd_rule vd_rule_name = { vd_ok_name,
    "must be 1 to 64 characters from [A-Za-z0-9._-], starting with a "
    "letter or digit, without \"..\"" };
static const struct vd_rule vd_rule_description = { vd_ok_description,
    "must be at most 1024 bytes without control characters" };
static const struct vd_rule vd_rule_path = { vd_ok_path,
    "must be a path of 1 to 4095 bytes without NUL" };
static const struct vd_rule vd_rule_cmdline = { vd_ok_cmdline,
    "must be at most 2048 printable ASCII characters" };
static const struct vd_rule vd_rule_serial = { vd_ok_serial,
    "must be at most 20 printable ASCII characters" };
static const struct vd_rule vd_rule_ifname = { vd_ok_ifname,
    "must be 1 to 15 characters from [A-Za-z0-9_.-], not \".\" or \"..\"" };

/*
 * Storing.
 */

/* Store v in the integer or enum member f describes. */
static void
vd_store(void *base, const struct vd_field *f, uint64_t v)
{
	uint32_t v32;

	assert(f->size == sizeof(v32) || f->size == sizeof(v));
	if (f->size == sizeof(v32)) {
		v32 = (uint32_t)v;
		memcpy(VD_MEMBER(base, f), &v32, sizeof(v32));
	} else {
		memcpy(VD_MEMBER(base, f), &v, sizeof(v));
	}
}

/*
 * The value of an integer key: a JSON integer, or a string "0x" followed by
 * hexadecimal digits (addresses at or above 2^63 do not fit a JSON integer
 * in jansson).  Returns 0 with the sign and magnitude, or -EINVAL.
 */
static int
vd_number(const json_t *v, bool *neg, uint64_t *mag)
{
	const char *s;
	json_int_t i;
	size_t len, k;
	uint64_t m = 0;
	int d;

	if (json_is_integer(v)) {
		i = json_integer_value(v);
		*neg = i < 0;
		*mag = i < 0 ? -(uint64_t)i : (uint64_t)i;
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	len = json_string_length(v);
	if (len < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -EINVAL;
	for (k = 2; k < len; k++) {
		d = vd_hexdigit((unsigned char)s[k]);
		if (d < 0 || m > UINT64_MAX >> 4)
			return -EINVAL;
		m = m << 4 | (uint64_t)d;
	}
	*neg = false;
	*mag = m;
	return 0;
}

/*
 * Key decoders (vd_fn).
 */

/* An unsigned integer in [f->min, f->max]. */
static int
vd_uint(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	uint64_t m;
	bool neg;

	if (vd_number(v, &neg, &m) != 0 || neg || m < (uint64_t)f->min ||
	    m > (uint64_t)f->max) {
		vd_err(ctx, "must be an integer from %" PRId64 " to %" PRId64,
		    f->min, f->max);
		return -EINVAL;
	}
	vd_store(base, f, m);
	return 0;
}

/* A signed integer in [f->min, f->max]; f->min > INT64_MIN. */
static int
vd_int(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	uint64_t m;
	bool neg;

	if (vd_number(v, &neg, &m) != 0 ||
	    (neg && (f->min >= 0 || m > (uint64_t)-f->min)) ||
	    (!neg && m > (uint64_t)f->max) ||
	    (!neg && f->min > 0 && m < (uint64_t)f->min)) {
		vd_err(ctx, "must be an integer from %" PRId64 " to %" PRId64,
		    f->min, f->max);
		return -EINVAL;
	}
	vd_store(base, f, neg ? (uint64_t)-(int64_t)m : m);
	return 0;
}

/* A guest physical address: any 64-bit value. */
static int
vd_addr(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	uint64_t m;
	bool neg;

	if (vd_number(v, &neg, &m) != 0 || neg) {
		vd_err(ctx, "must be a 64-bit address, an integer or a "
		    "\"0x...\" string");
		return -EINVAL;
	}
	vd_store(base, f, m);
	return 0;
}

static int
vd_bool(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	if (!json_is_boolean(v)) {
		vd_err(ctx, "must be true or false");
		return -EINVAL;
	}
	*(bool *)VD_MEMBER(base, f) = json_is_true(v);
	return 0;
}

/* One of the names in f->arg (a struct vd_names), stored as its index. */
static int
vd_enum(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	const struct vd_names *names = f->arg;
	char msg[sizeof(((struct vmdef_error *)0)->msg)];
	size_t i, len;

	if (json_is_string(v))
		for (i = 0; i < names->n; i++)
			if (json_string_length(v) == strlen(names->v[i]) &&
			    strcmp(json_string_value(v), names->v[i]) == 0) {
				vd_store(base, f, i);
				return 0;
			}
	len = (size_t)snprintf(msg, sizeof(msg), "must be one of");
	for (i = 0; i < names->n && len < sizeof(msg); i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
		    "%s \"%s\"", i == 0 ? "" : ",", names->v[i]);
	vd_err(ctx, "%s", msg);
	return -EINVAL;
}

/* A string passing the rule f->arg, copied into the char * member. */
static int
vd_string(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	const struct vd_rule *rule = f->arg;
	char **dst = VD_MEMBER(base, f);
	const char *s;
	size_t len;

	if (!json_is_string(v)) {
		vd_err(ctx, "must be a string");
		return -EINVAL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (!rule->ok(s, len)) {
		vd_err(ctx, "%s", rule->msg);
		return -EINVAL;
	}
	*dst = vd_strdup(ctx, s, len);
	return *dst == NULL ? -ENOMEM : 0;
}

/* 8-4-4-4-12 hexadecimal digits, copied in lower case to the member. */
static int
vd_uuid(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	char *dst = VD_MEMBER(base, f), buf[VMDEF_UUID_LEN + 1];
	const char *s;
	size_t i;
	int d;

	if (!json_is_string(v) || json_string_length(v) != VMDEF_UUID_LEN)
		goto bad;
	s = json_string_value(v);
	for (i = 0; i < VMDEF_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				goto bad;
			buf[i] = '-';
			continue;
		}
		if ((d = vd_hexdigit((unsigned char)s[i])) < 0)
			goto bad;
		buf[i] = "0123456789abcdef"[d];
	}
	buf[i] = '\0';
	memcpy(dst, buf, sizeof(buf));
	return 0;
bad:
	vd_err(ctx, "must be a UUID, 8-4-4-4-12 hexadecimal digits");
	return -EINVAL;
}

/*
 * A MAC address "xx:xx:xx:xx:xx:xx" for a struct vmdef_nic.  Multicast
 * (bit 0 of the first octet) and all-zero addresses are refused: neither
 * can be a station's address (IEEE 802-2014 8.2).
 */
static int
vd_mac(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	struct vmdef_nic *nic = base;
	uint8_t mac[6];
	const char *s;
	size_t i;
	int hi, lo;

	if (!json_is_string(v) || json_string_length(v) != VD_MAC_LEN)
		goto bad;
	s = json_string_value(v);
	for (i = 0; i < sizeof(mac); i++) {
		hi = vd_hexdigit((unsigned char)s[3 * i]);
		lo = vd_hexdigit((unsigned char)s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if ((mac[0] & 1) != 0 ||
	    (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0)
		goto bad;
	memcpy(nic->mac, mac, sizeof(mac));
	nic->mac_set = true;
	return 0;
bad:
	vd_err(ctx, "must be a unicast MAC address like \"52:54:00:12:34:56\", "
	    "not all zero");
	return -EINVAL;
}

static int	vd_walk(struct vd_ctx *, const json_t *, void *,
		    const struct vd_field *);

/* A nested object whose keys (f->arg) live in the same base struct. */
static int
vd_object(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	return vd_walk(ctx, v, base, f->arg);
}

/*
 * An array of objects (f->arg, a struct vd_array) into the fixed array at
 * f->off.  Elements beyond the limit are still checked, then dropped.
 */
static int
vd_array(struct vd_ctx *ctx, const json_t *v, void *base,
    const struct vd_field *f)
{
	const struct vd_array *a = f->arg;
	char *elems = VD_MEMBER(base, f);
	union vd_spare spare;
	size_t i, n, old, nerr = ctx->nerr;
	unsigned int kept;
	void *e;

	assert(a->size <= sizeof(spare));
	if (!json_is_array(v)) {
		vd_err(ctx, "must be an array");
		return -EINVAL;
	}
	n = json_array_size(v);
	if (n > a->max)
		vd_err(ctx, "must have at most %zu entries", a->max);
	for (i = 0; i < n; i++) {
		e = i < a->max ? (void *)(elems + i * a->size) : &spare;
		memset(e, 0, a->size);
		old = jpath_push_index(&ctx->path, i);
		(void)vd_walk(ctx, json_array_get(v, i), e, a->elem);
		jpath_pop(&ctx->path, old);
		if (e == &spare)
			a->release(e);
	}
	kept = (unsigned int)(n < a->max ? n : a->max);
	memcpy((char *)base + a->count_off, &kept, sizeof(kept));
	if (a->check != NULL)
		a->check(ctx, base);
	return ctx->nerr == nerr ? 0 : -EINVAL;
}

/*
 * The schema: one table per object, keys in canonical order.
 */

#define VD_M(type, m)	offsetof(type, m), sizeof(((type *)0)->m)
#define VD_V(m)		VD_M(struct vmdef, m)

static const struct vd_field vd_topology_keys[] = {
	{ "sockets", vd_uint, VD_V(sockets), 1, VMDEF_VCPU_MAX, NULL, VD_REQ,
	    0 },
	{ "cores", vd_uint, VD_V(cores), 1, VMDEF_VCPU_MAX, NULL, VD_REQ, 0 },
	{ "threads", vd_uint, VD_V(threads), 1, VMDEF_VCPU_MAX, NULL, VD_REQ,
	    0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_vcpu_keys[] = {
	{ "count", vd_uint, VD_V(vcpus), 1, VMDEF_VCPU_MAX, NULL, 0,
	    VD_F_COUNT },
	{ "topology", vd_object, 0, 0, 0, 0, vd_topology_keys, 0,
	    VD_F_TOPOLOGY },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_memory_keys[] = {
	{ "size_mib", vd_uint, VD_V(memory_mib), VMDEF_MEM_MIN_MIB,
	    VMDEF_MEM_MAX_MIB, NULL, 0, 0 },
	{ "hugepages", vd_bool, VD_V(hugepages), 0, 0, NULL, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_os_keys[] = {
	{ "loader", vd_enum, VD_V(loader), 0, 0, &vd_loaders, 0,
	    VD_F_LOADER },
	{ "kernel", vd_string, VD_V(kernel), 0, 0, &vd_rule_path, VD_REQ, 0 },
	{ "initrd", vd_string, VD_V(initrd), 0, 0, &vd_rule_path, 0, 0 },
	{ "cmdline", vd_string, VD_V(cmdline), 0, 0, &vd_rule_cmdline, 0, 0 },
	{ "load_address", vd_addr, VD_V(load_address), 0, 0, NULL, 0,
	    VD_F_LOAD },
	{ "entry", vd_addr, VD_V(entry), 0, 0, NULL, 0, VD_F_ENTRY },
	{ "mode", vd_enum, VD_V(mode), 0, 0, &vd_modes, 0, VD_F_MODE },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_features_keys[] = {
	{ "irqchip", vd_bool, VD_V(irqchip), 0, 0, NULL, 0, VD_F_IRQCHIP },
	{ "pit", vd_bool, VD_V(pit), 0, 0, NULL, 0, VD_F_PIT },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_console_keys[] = {
	{ "enabled", vd_bool, VD_V(console), 0, 0, NULL, 0, 0 },
	{ "scrollback", vd_uint, VD_V(scrollback), 0, VMDEF_SCROLLBACK_MAX,
	    NULL, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

#define VD_D(m)		VD_M(struct vmdef_disk, m)

static const struct vd_field vd_disk_keys[] = {
	{ "path", vd_string, VD_D(path), 0, 0, &vd_rule_path, VD_REQ, 0 },
	{ "readonly", vd_bool, VD_D(readonly), 0, 0, NULL, 0, 0 },
	{ "serial", vd_string, VD_D(serial), 0, 0, &vd_rule_serial, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

#define VD_N(m)		VD_M(struct vmdef_nic, m)

static const struct vd_field vd_nic_keys[] = {
	{ "type", vd_enum, VD_N(type), 0, 0, &vd_nic_types, 0, 0 },
	{ "ifname", vd_string, VD_N(ifname), 0, 0, &vd_rule_ifname, 0, 0 },
	{ "mac", vd_mac, VD_N(mac), 0, 0, NULL, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static void
vd_disk_release(void *elem)
{
	struct vmdef_disk *disk = elem;

	vd_free(disk->path);
	vd_free(disk->serial);
	memset(disk, 0, sizeof(*disk));
}

static void
vd_nic_release(void *elem)
{
	struct vmdef_nic *nic = elem;

	vd_free(nic->ifname);
	memset(nic, 0, sizeof(*nic));
}

/* A problem at key of interface j, for vd_nics_check. */
static void
vd_nic_err(struct vd_ctx *ctx, unsigned int j, const char *key,
    unsigned int i, const char *what)
{
	size_t old;

	old = jpath_push_index(&ctx->path, j);
	jpath_push_key(&ctx->path, key, strlen(key));
	vd_err(ctx, "same %s as interfaces[%u]", what, i);
	jpath_pop(&ctx->path, old);
}

/* Two interfaces may not share a MAC address or a tap device. */
static void
vd_nics_check(struct vd_ctx *ctx, void *base)
{
	const struct vmdef *def = base;
	const struct vmdef_nic *a, *b;
	unsigned int i, j;

	for (j = 1; j < def->nnics; j++) {
		b = &def->nics[j];
		for (i = 0; i < j; i++) {
			a = &def->nics[i];
			if (a->mac_set && b->mac_set &&
			    memcmp(a->mac, b->mac, sizeof(a->mac)) == 0)
				vd_nic_err(ctx, j, "mac", i, "MAC address");
			if (a->ifname != NULL && b->ifname != NULL &&
			    strcmp(a->ifname, b->ifname) == 0)
				vd_nic_err(ctx, j, "ifname", i, "ifname");
		}
	}
}

static const struct vd_array vd_disks = {
	vd_disk_keys, sizeof(struct vmdef_disk), VMDEF_DISK_MAX,
	offsetof(struct vmdef, ndisks), vd_disk_release, NULL
};

static const struct vd_array vd_nics = {
	vd_nic_keys, sizeof(struct vmdef_nic), VMDEF_NIC_MAX,
	offsetof(struct vmdef, nnics), vd_nic_release, vd_nics_check
};

static const struct vd_field vd_devices_keys[] = {
	{ "console", vd_object, 0, 0, 0, 0, vd_console_keys, 0, 0 },
	{ "disks", vd_array, VD_V(disks), 0, 0, &vd_disks, 0, 0 },
	{ "interfaces", vd_array, VD_V(nics), 0, 0, &vd_nics, 0, 0 },
	{ "rng", vd_bool, VD_V(rng), 0, 0, NULL, 0, 0 },
	{ "debug_exit", vd_bool, VD_V(debug_exit), 0, 0, NULL, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_autostart_keys[] = {
	{ "enabled", vd_bool, VD_V(autostart), 0, 0, NULL, 0, 0 },
	{ "order", vd_int, VD_V(autostart_order), INT_MIN, INT_MAX, NULL, 0,
	    0 },
	{ "delay", vd_uint, VD_V(autostart_delay), 0,
	    VMDEF_AUTOSTART_DELAY_MAX, NULL, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

static const struct vd_field vd_top_keys[] = {
	{ "name", vd_string, VD_V(name), 0, 0, &vd_rule_name, VD_REQ, 0 },
	{ "uuid", vd_uuid, VD_V(uuid), 0, 0, NULL, 0, VD_F_UUID },
	{ "description", vd_string, VD_V(description), 0, 0,
	    &vd_rule_description, 0, 0 },
	{ "vcpu", vd_object, 0, 0, 0, 0, vd_vcpu_keys, 0, 0 },
	{ "memory", vd_object, 0, 0, 0, 0, vd_memory_keys, 0, 0 },
	{ "os", vd_object, 0, 0, 0, 0, vd_os_keys, VD_REQ, 0 },
	{ "features", vd_object, 0, 0, 0, 0, vd_features_keys, 0, 0 },
	{ "devices", vd_object, 0, 0, 0, 0, vd_devices_keys, 0, 0 },
	{ "on_poweroff", vd_enum, VD_V(on_poweroff), 0, 0, &vd_actions, 0,
	    0 },
	{ "on_reboot", vd_enum, VD_V(on_reboot), 0, 0, &vd_actions, 0, 0 },
	{ "on_crash", vd_enum, VD_V(on_crash), 0, 0, &vd_actions, 0, 0 },
	{ "autostart", vd_object, 0, 0, 0, 0, vd_autostart_keys, 0, 0 },
	{ "shutdown_timeout", vd_uint, VD_V(shutdown_timeout), 1,
	    VMDEF_SHUTDOWN_MAX, NULL, 0, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

/*
 * The walk.
 */

/* jansson's iterators take a non-const object but do not change it. */
static json_t *
vd_unconst(const json_t *j)
{
	return (json_t *)(uintptr_t)j;
}

static const struct vd_field *
vd_lookup(const struct vd_field *tab, const char *key, size_t len)
{
	for (; tab->key != NULL; tab++)
		if (strlen(tab->key) == len && memcmp(tab->key, key, len) == 0)
			return tab;
	return NULL;
}

/*
 * Decode the object obj into base by the key table tab: every key in
 * document order (unknown keys are problems), then every required key that
 * is missing.  Returns 0, or -EINVAL when a problem was found inside.
 */
static int
vd_walk(struct vd_ctx *ctx, const json_t *obj, void *base,
    const struct vd_field *tab)
{
	const struct vd_field *f;
	uint64_t present = 0;
	size_t nerr = ctx->nerr, old, len, i;
	const char *key;
	void *it;

	if (!json_is_object(obj)) {
		vd_err(ctx, "must be an object");
		return -EINVAL;
	}
	for (it = json_object_iter(vd_unconst(obj)); it != NULL;
	    it = json_object_iter_next(vd_unconst(obj), it)) {
		key = json_object_iter_key(it);
		len = json_object_iter_key_len(it);
		old = jpath_push_key(&ctx->path, key, len);
		if ((f = vd_lookup(tab, key, len)) == NULL) {
			vd_err(ctx, "unknown key");
		} else {
			assert(f - tab < 64);
			present |= UINT64_C(1) << (f - tab);
			ctx->seen |= f->id;
			if (f->fn(ctx, json_object_iter_value(it), base,
			    f) != 0)
				ctx->bad |= f->id;
		}
		jpath_pop(&ctx->path, old);
	}
	for (i = 0; tab[i].key != NULL; i++) {
		if ((tab[i].flags & VD_REQ) == 0 ||
		    (present & UINT64_C(1) << i) != 0)
			continue;
		old = jpath_push_key(&ctx->path, tab[i].key, strlen(tab[i].key));
		vd_err(ctx, "required");
		jpath_pop(&ctx->path, old);
	}
	return ctx->nerr == nerr ? 0 : -EINVAL;
}

/*
 * The rules across keys and the defaults that depend on other keys.  Each
 * stays silent when a key it depends on already has a problem, so that one
 * mistake is reported once.
 */

/* vcpu.count against vcpu.topology; the topology default. */
static void
vd_finish_vcpu(struct vd_ctx *ctx, struct vmdef *def)
{
	unsigned int product;

	if ((ctx->bad & (VD_F_COUNT | VD_F_TOPOLOGY)) != 0)
		return;
	if ((ctx->seen & VD_F_TOPOLOGY) == 0) {
		def->sockets = def->vcpus;
		def->cores = def->threads = 1;
		return;
	}
	/* Each is at most VMDEF_VCPU_MAX: the product cannot overflow. */
	product = def->sockets * def->cores * def->threads;
	if ((ctx->seen & VD_F_COUNT) == 0) {
		if (product > VMDEF_VCPU_MAX)
			vd_err_at(ctx, "$.vcpu.topology", "sockets * cores * "
			    "threads must be at most %d", VMDEF_VCPU_MAX);
		else
			def->vcpus = product;
	} else if (product != def->vcpus) {
		vd_err_at(ctx, "$.vcpu.topology", "sockets * cores * threads "
		    "must equal vcpu.count");
	}
}

/* The keys only a raw image has; entry defaults to load_address. */
static void
vd_finish_os(struct vd_ctx *ctx, struct vmdef *def)
{
	static const struct {
		unsigned int id;
		const char *path;
	} raw_keys[] = {
		{ VD_F_LOAD, "$.os.load_address" },
		{ VD_F_ENTRY, "$.os.entry" },
		{ VD_F_MODE, "$.os.mode" },
	};
	size_t i;

	if ((ctx->bad & VD_F_LOADER) != 0)
		return;
	if (def->loader != VMDEF_LOADER_RAW) {
		for (i = 0; i < sizeof(raw_keys) / sizeof(raw_keys[0]); i++)
			if ((ctx->seen & ~ctx->bad & raw_keys[i].id) != 0)
				vd_err_at(ctx, raw_keys[i].path, "only valid "
				    "with loader \"raw\"");
		return;
	}
	if ((ctx->seen & VD_F_LOAD) == 0)
		vd_err_at(ctx, "$.os.load_address", "required with loader "
		    "\"raw\"");
	if ((ctx->seen & VD_F_ENTRY) == 0)
		def->entry = def->load_address;
}

/*
 * features.irqchip defaults to true for Linux and for more than one vcpu
 * (application processors are started through the local APIC), and must
 * not be false then; features.pit defaults to irqchip and needs it.
 */
static void
vd_finish_features(struct vd_ctx *ctx, struct vmdef *def)
{
	bool vcpus_known = (ctx->bad & (VD_F_COUNT | VD_F_TOPOLOGY)) == 0;

	if ((ctx->seen & VD_F_IRQCHIP) != 0) {
		if ((ctx->bad & VD_F_IRQCHIP) != 0)
			return;
		if (!def->irqchip && vcpus_known && def->vcpus > 1)
			vd_err_at(ctx, "$.features.irqchip", "must be true "
			    "when vcpu.count is more than 1");
	} else {
		if ((ctx->bad & VD_F_LOADER) != 0 || !vcpus_known)
			return;
		def->irqchip = def->loader == VMDEF_LOADER_LINUX ||
		    def->vcpus > 1;
	}
	if ((ctx->seen & VD_F_PIT) == 0)
		def->pit = def->irqchip;
	else if ((ctx->bad & VD_F_PIT) == 0 && def->pit && !def->irqchip)
		vd_err_at(ctx, "$.features.pit", "must be false without "
		    "features.irqchip");
}

/* A random (version 4) UUID, RFC 4122 4.4.  0 or a negative errno. */
static int
vd_uuid_generate(char *out)
{
	uint8_t b[16];
	ssize_t n;
	size_t i, o = 0;

	do
		n = getrandom(b, sizeof(b), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(b))
		return -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);	/* variant 10x */
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = "0123456789abcdef"[b[i] >> 4];
		out[o++] = "0123456789abcdef"[b[i] & 0xf];
	}
	out[o] = '\0';
	return 0;
}

/* The defaults that do not depend on other keys. */
static void
vd_defaults(struct vmdef *def)
{
	def->vcpus = 1;
	def->memory_mib = VD_MEM_DEF_MIB;
	def->loader = VMDEF_LOADER_AUTO;
	def->mode = VMDEF_MODE_LONG;
	def->console = true;
	def->scrollback = VMDEF_SCROLLBACK_DEF;
	def->on_poweroff = VMDEF_ACTION_DESTROY;
	def->on_reboot = VMDEF_ACTION_RESTART;
	def->on_crash = VMDEF_ACTION_DESTROY;
	def->shutdown_timeout = VMDEF_SHUTDOWN_DEF;
}

static void
vd_ctx_init(struct vd_ctx *ctx, struct vmdef_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	memset(ctx, 0, sizeof(*ctx));
	ctx->errs = errs;
	jpath_init(&ctx->path, "$", sizeof(((struct vmdef_error *)0)->path));
}

/* The result of a decoding; the list is emptied unless it is -EINVAL. */
static int
vd_result(struct vd_ctx *ctx)
{
	if (ctx->nomem) {
		vmdef_errors_free(ctx->errs);
		return -ENOMEM;
	}
	return ctx->nerr == 0 ? 0 : -EINVAL;
}

/*
 * Public entry points.
 */

int
vmdef_decode(const json_t *in, struct vmdef *def, struct vmdef_errors *errs)
{
	struct vd_ctx ctx;
	int error;

	memset(def, 0, sizeof(*def));
	vd_defaults(def);
	vd_ctx_init(&ctx, errs);
	(void)vd_walk(&ctx, in, def, vd_top_keys);
	vd_finish_vcpu(&ctx, def);
	vd_finish_os(&ctx, def);
	vd_finish_features(&ctx, def);
	if ((error = vd_result(&ctx)) != 0)
		return error;
	if ((ctx.seen & VD_F_UUID) == 0)
		return vd_uuid_generate(def->uuid);
	return 0;
}

int
vmdef_parse(const char *text, size_t len, struct vmdef *def,
    struct vmdef_errors *errs)
{
	struct vd_ctx ctx;
	json_error_t jerr;
	json_t *root;
	int error;

	if (text == NULL)
		text = "";
	if (len > VD_TEXT_MAX) {
		memset(def, 0, sizeof(*def));
		vd_ctx_init(&ctx, errs);
		vd_err(&ctx, "must be at most %d bytes", VD_TEXT_MAX);
		return vd_result(&ctx);
	}
	/*
	 * jansson reports most allocation failures of its parser with no
	 * text at all (and its error code unset, hence the memset).  Some it
	 * cannot tell from a syntax error: those come out as invalid JSON.
	 */
	memset(&jerr, 0, sizeof(jerr));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		memset(def, 0, sizeof(*def));
		vd_ctx_init(&ctx, errs);
		if (json_error_code(&jerr) == json_error_out_of_memory ||
		    jerr.text[0] == '\0')
			return -ENOMEM;
		vd_err(&ctx, "invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return vd_result(&ctx);
	}
	error = vmdef_decode(root, def, errs);
	json_decref(root);
	return error;
}

void
vmdef_free(struct vmdef *def)
{
	unsigned int i;

	if (def == NULL)
		return;
	vd_free(def->name);
	vd_free(def->description);
	vd_free(def->kernel);
	vd_free(def->initrd);
	vd_free(def->cmdline);
	for (i = 0; i < def->ndisks && i < VMDEF_DISK_MAX; i++)
		vd_disk_release(&def->disks[i]);
	for (i = 0; i < def->nnics && i < VMDEF_NIC_MAX; i++)
		vd_nic_release(&def->nics[i]);
	memset(def, 0, sizeof(*def));
}

void
vmdef_errors_free(struct vmdef_errors *errs)
{
	if (errs == NULL)
		return;
	vd_free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

/*
 * Encoding.  json_pack steals the references of "o" arguments even when it
 * fails.  Optional strings are packed with "s?" (a NULL one becomes null)
 * and the nulls dropped after: "s*" would also drop, without a word, a
 * string whose allocation failed.
 */

/* obj (a new reference, may be NULL) without its null members. */
static json_t *
vd_drop_nulls(json_t *obj)
{
	const char *key;
	json_t *v;
	void *tmp;

	if (obj == NULL)
		return NULL;
	json_object_foreach_safe(obj, tmp, key, v)
		if (json_is_null(v))
			json_object_del(obj, key);
	return obj;
}

static json_t *
vd_encode_os(const struct vmdef *def)
{
	char load[VD_ADDR_LEN + 1], entry[VD_ADDR_LEN + 1];
	bool raw = def->loader == VMDEF_LOADER_RAW;
	const char *mode = vmdef_mode_name(def->mode);

	if (raw && mode == NULL)
		return NULL;
	snprintf(load, sizeof(load), "0x%" PRIx64, def->load_address);
	snprintf(entry, sizeof(entry), "0x%" PRIx64, def->entry);
	return vd_drop_nulls(json_pack(
	    "{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}",
	    "loader", vmdef_loader_name(def->loader),
	    "kernel", def->kernel,
	    "initrd", def->initrd,
	    "cmdline", def->cmdline,
	    "load_address", raw ? load : NULL,
	    "entry", raw ? entry : NULL,
	    "mode", raw ? mode : NULL));
}

static json_t *
vd_encode_disks(const struct vmdef *def)
{
	const struct vmdef_disk *d;
	json_t *a;
	unsigned int i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < def->ndisks && i < VMDEF_DISK_MAX; i++) {
		d = &def->disks[i];
		if (json_array_append_new(a, vd_drop_nulls(json_pack(
		    "{s:s, s:b, s:s?}", "path", d->path, "readonly",
		    d->readonly, "serial", d->serial))) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
vd_encode_nics(const struct vmdef *def)
{
	const struct vmdef_nic *n;
	char mac[VD_MAC_LEN + 1];
	json_t *a;
	unsigned int i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < def->nnics && i < VMDEF_NIC_MAX; i++) {
		n = &def->nics[i];
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
		    n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
		    n->mac[5]);
		if (json_array_append_new(a, vd_drop_nulls(json_pack(
		    "{s:s, s:s?, s:s?}", "type",
		    vd_name(&vd_nic_types, n->type), "ifname", n->ifname,
		    "mac", n->mac_set ? mac : NULL))) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
vd_encode_devices(const struct vmdef *def)
{
	return json_pack("{s:{s:b, s:I}, s:o, s:o, s:b, s:b}",
	    "console", "enabled", def->console,
	    "scrollback", (json_int_t)def->scrollback,
	    "disks", vd_encode_disks(def),
	    "interfaces", vd_encode_nics(def),
	    "rng", def->rng,
	    "debug_exit", def->debug_exit);
}

json_t *
vmdef_encode(const struct vmdef *def)
{
	return vd_drop_nulls(json_pack("{s:s, s:s, s:s?, "
	    "s:{s:I, s:{s:I, s:I, s:I}}, "
	    "s:{s:I, s:b}, s:o, s:{s:b, s:b}, s:o, s:s, s:s, s:s, "
	    "s:{s:b, s:I, s:I}, s:I}",
	    "name", def->name,
	    "uuid", def->uuid,
	    "description", def->description,
	    "vcpu", "count", (json_int_t)def->vcpus,
	    "topology", "sockets", (json_int_t)def->sockets,
	    "cores", (json_int_t)def->cores,
	    "threads", (json_int_t)def->threads,
	    "memory", "size_mib", (json_int_t)def->memory_mib,
	    "hugepages", def->hugepages,
	    "os", vd_encode_os(def),
	    "features", "irqchip", def->irqchip, "pit", def->pit,
	    "devices", vd_encode_devices(def),
	    "on_poweroff", vmdef_action_name(def->on_poweroff),
	    "on_reboot", vmdef_action_name(def->on_reboot),
	    "on_crash", vmdef_action_name(def->on_crash),
	    "autostart", "enabled", def->autostart,
	    "order", (json_int_t)def->autostart_order,
	    "delay", (json_int_t)def->autostart_delay,
	    "shutdown_timeout", (json_int_t)def->shutdown_timeout));
}
