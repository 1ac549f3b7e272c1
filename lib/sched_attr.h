/* SPDX-License-Identifier: MIT */
/* struct sched_attr of sched_setattr(2), its first version (48 bytes):
 * glibc 2.36 has neither the call nor the type, and <linux/sched/types.h>
 * clashes with <sched.h>. Used by pool_slot.c and by the zygote's helper.c. */
#ifndef PEXOS_SCHED_ATTR_H
#define PEXOS_SCHED_ATTR_H

#include <stdint.h>

struct sched_attr_v0 {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

#endif
