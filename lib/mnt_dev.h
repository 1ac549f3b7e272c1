/* SPDX-License-Identifier: MIT */
/*
 * mnt_dev.h - the mounts under a run's /dev that every run gets new: the
 * cold plan (mounts.c) and a warm slot (zygote/helper.c, which replaces the
 * zygote's) mount them alike.
 */
#ifndef PEXOS_MNT_DEV_H
#define PEXOS_MNT_DEV_H

#include <sys/mount.h>

/* /dev/shm: POSIX shared memory and semaphores (multiprocessing's locks,
 * queues, shared_memory). A tmpfs of the run's own, as large as its /tmp
 * ("size=<tmp_mb>m"): its pages are charged to the run's memory cgroup, so
 * the memory limit bounds /tmp and /dev/shm together. */
#define MNT_SHM_FLAGS (MS_NOSUID | MS_NODEV)
#define MNT_SHM_DATA "size=%llum,mode=1777"

/* /dev/pts: a devpts instance of the run's own (newinstance: no other
 * run's or the host's terminals in it), its ptmx open to the script;
 * /dev/ptmx is a symlink to it. */
#define MNT_PTS_FLAGS (MS_NOSUID | MS_NOEXEC)
#define MNT_PTS_DATA "newinstance,ptmxmode=0666,mode=0620"

#endif
