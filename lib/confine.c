/* SPDX-License-Identifier: MIT */
/*
 * confine.c - what confines pexos itself. A container's default seccomp
 * profile refuses the namespace and mount calls pexos makes, and an
 * AppArmor profile (docker-default, podman's containers-default) refuses
 * mounts and, with AppArmor 4, new user namespaces: the kernel only says
 * EPERM or EACCES (or ENOSYS for clone3), so the errors name what is
 * there, with the setting that lifts it.
 */
#include "confine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The process's seccomp mode from /proc/self/status: 0 none, 2 filter. */
static int seccomp_mode(void)
{
	char buf[4096];
	const char *p;

	if (read_text("/proc/self/status", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "\nSeccomp:");
	return p ? atoi(p + 9) : 0;
}

/* The AppArmor label, "" if none or unconfined. The AppArmor-only file
 * (Linux >= 5.8): /proc/self/attr/current may be another LSM's. */
static void apparmor_label(char *label, size_t size)
{
	if (read_text("/proc/self/attr/apparmor/current", label, size) <= 0)
		label[0] = '\0';
	label[strcspn(label, "\n")] = '\0';
	if (strcmp(label, "unconfined") == 0)
		label[0] = '\0';
}

void confine_hint(char *buf, size_t size)
{
	char label[256];
	size_t n = 0;

	buf[0] = '\0';
	if (seccomp_mode() == 2)
		n += (size_t)snprintf(
			buf, size,
			" A seccomp filter confines pexos: --security-opt "
			"seccomp=unconfined (Kubernetes: seccompProfile "
			"Unconfined).");
	apparmor_label(label, sizeof(label));
	if (label[0] && n < size)
		snprintf(buf + n, size - n,
			 " The AppArmor profile '%s' confines pexos: "
			 "--security-opt apparmor=unconfined (Kubernetes: "
			 "appArmorProfile Unconfined).",
			 label);
}
