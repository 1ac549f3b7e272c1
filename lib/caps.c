/* SPDX-License-Identifier: MIT */
#include "caps.h"

#include <sys/capability.h>

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
