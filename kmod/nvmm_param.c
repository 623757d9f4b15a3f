// SPDX-License-Identifier: GPL-2.0
/*
 * nvmm_param.c: the limits, as module parameters writable at run time
 * (/sys/module/nvmm/parameters); a value out of its range is refused.
 */

#include <linux/kernel.h>
#include <linux/kvm_host.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/stringify.h>

#include "nvmm_priv.h"

struct nvmm_param {
	unsigned int *val;
	unsigned int min;
	unsigned int max;
};

static int
nvmm_param_set(const char *s, const struct kernel_param *kp)
{
	const struct nvmm_param *p = kp->arg;
	unsigned int v;
	int error;

	error = kstrtouint(s, 0, &v);
	if (error)
		return error;
	if (v < p->min || v > p->max)
		return -ERANGE;
	WRITE_ONCE(*p->val, v);
	return 0;
}

static int
nvmm_param_show(char *buf, const struct kernel_param *kp)
{
	const struct nvmm_param *p = kp->arg;

	return sysfs_emit(buf, "%u\n", READ_ONCE(*p->val));
}

static const struct kernel_param_ops nvmm_param_ops = {
	.set = nvmm_param_set,
	.get = nvmm_param_show,
};

#define NVMM_PARAM(name, def, lo, hi, desc)				\
	static unsigned int name = (def);				\
	static struct nvmm_param name##_param = { &name, (lo), (hi) };	\
	module_param_cb(name, &nvmm_param_ops, &name##_param, 0644);	\
	MODULE_PARM_DESC(name, desc " (" __stringify(lo) ".."		\
	    __stringify(hi) ", default " __stringify(def) ")")

NVMM_PARAM(max_machines, NVMM_KERN_MAX_MACHINES, 1, NVMM_KERN_MAX_MACHINES,
    "machines on the host");
NVMM_PARAM(max_machines_per_uid, NVMM_KERN_MAX_MACHINES, 1,
    NVMM_KERN_MAX_MACHINES, "machines per effective uid");
NVMM_PARAM(max_vcpus, 256, 1, KVM_MAX_VCPUS, "vcpus per machine");
NVMM_PARAM(max_ram_mib, 131072, 1, 67108864,
    "guest RAM per machine, MiB");
NVMM_PARAM(max_host_ram_mib, 0, 0, 1073741824,
    "guest RAM of all machines, MiB, 0 for no limit");

/* A snapshot of the limits; each may change between two calls. */
void
nvmm_limits_get(struct nvmm_limits *l)
{
	l->max_machines = READ_ONCE(max_machines);
	l->max_machines_uid = READ_ONCE(max_machines_per_uid);
	l->max_vcpus = READ_ONCE(max_vcpus);
	l->max_ram = (u64)READ_ONCE(max_ram_mib) << 20;
	l->max_host_ram = (u64)READ_ONCE(max_host_ram_mib) << 20;
}
