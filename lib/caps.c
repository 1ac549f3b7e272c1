/* SPDX-License-Identifier: MIT */
#include "caps.h"

#include <linux/capability.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"

int caps_prepare(struct pexos_context *ctx, pexos_error *err)
{
	unsigned bits = cap_max_bits();

	if (bits == 0 || bits > 64)
		return pexos_fail(err, EINVAL, "caps",
				  "cannot tell how many capabilities this kernel "
				  "has");
	ctx->last_cap = (int)bits - 1;
	return 0;
}

int caps_drop_bounding_child(int last_cap, pexos_error *err)
{
	for (int c = 0; c <= last_cap; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return pexos_fail_child(err, errno, "caps",
						"drop a bounding capability",
						NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return pexos_fail_child(err, errno, "caps",
					"clear the ambient capabilities", NULL);
	return 0;
}

int caps_clear_child(pexos_error *err)
{
	/* Raw capset: libcap's cap_set_proc allocates, which a child of a
	 * threaded process must not do. */
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return pexos_fail_child(err, errno, "caps",
					"clear the capability sets", NULL);
	return 0;
}
