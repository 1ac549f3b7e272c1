/* SPDX-License-Identifier: MIT */
#include "net.h"

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"

int net_lo_up(pexos_error *err)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	if (fd < 0)
		return pexos_fail_child(err, errno, "loopback",
					"open a socket for", "lo");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	/* Read, then set: the flags are written as a whole. */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		r = pexos_fail_child(err, errno, "loopback",
				     "read the flags of", "lo");
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			r = pexos_fail_child(err, errno, "loopback", "bring up",
					     "lo");
	}
	close(fd);
	return r;
}
