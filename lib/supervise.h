/* SPDX-License-Identifier: MIT */
/* supervise.h - clone, the sync pipe, pidfd + deadline, reaping. */
#ifndef PEXOS_SUPERVISE_H
#define PEXOS_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "pexos.h"
#include "response.h"

/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);

/* Fork-like clone3 into new namespaces: returns 0 in the child, the pid in
 * the parent (with *ret_pidfd, close-on-exec), or -errno. The child exits
 * with no signal to the parent, so a host program that ignores SIGCHLD
 * cannot make the kernel reap it behind our back. */
pid_t sup_clone(unsigned long ns_flags, int *ret_pidfd);

/* The same, the child born in the cgroup v2 directory `cgroup_fd`
 * (CLONE_INTO_CGROUP): no process is moved, so the kernel takes no
 * machine-wide lock (see cg_run_open_tasks). -errno when the kernel
 * refuses (before Linux 5.7, or no permission there). */
pid_t sup_clone_into(unsigned long ns_flags, int cgroup_fd, int *ret_pidfd);

/* Waits until the child execs (EOF on `sync_fd`) or reports a setup failure
 * (a pexos_error on `sync_fd`, copied into `err`). Returns 0 once exec
 * happened, or -errno (the child's, or ETIMEDOUT). */
int sup_wait_exec(int sync_fd, uint64_t deadline_ms, pexos_error *err);

struct sup_stream {
	int fd; /* non-blocking read end; set to -1 at EOF */
	struct capture *cap;
};

/* What ends a run early: the wall clock, and an optional check (the
 * cgroup's CPU time) polled at once and then every `period_ms`, however
 * often the run's output wakes the watch. */
struct sup_watch {
	uint64_t deadline_ms;
	bool (*over)(void *arg);
	void *arg;
	uint64_t period_ms;
	/* A pooled run: the process to kill is not the one waited for (the
	 * pid 1 of the slot's PID namespace), and the run may be over once
	 * every stream reached EOF, before its process is gone. */
	int kill_fd;      /* pidfd to SIGKILL; -1: the waited-for pidfd */
	bool end_on_eof;  /* return once every stream is at EOF */
	/* SIGKILL kill_fd as soon as the waited-for descriptor, a pipe, holds
	 * the process's wait status: a pooled run ends with its script's
	 * process, as a cold one ends with its init, and what it left behind
	 * must not hold the streams open. EOF without a status (the zygote
	 * that writes it died) says nothing of the process: no kill then. */
	bool kill_on_exit;
	bool exited;      /* out: the waited-for descriptor became ready */
	bool timed_out; /* out: killed at the deadline */
	bool tripped;   /* out: killed because over() said so */
};

/* Collects the streams until the process behind `pidfd` has exited (or,
 * for a pooled run, `pidfd` is the status pipe and became readable) and
 * every stream reached EOF, killing it (SIGKILL) when the watch says so.
 * Returns 0 or -errno. */
int sup_monitor(int pidfd, struct sup_stream *s, size_t n,
		struct sup_watch *w);

/* Kills (SIGKILL) the process behind `pidfd`, ignoring errors. */
void sup_kill(int pidfd);

/* Reaps the process behind `pidfd`; `ru` (may be NULL) receives its
 * resource usage, children included. Returns 0 or -errno. */
int sup_reap(int pidfd, struct rusage *ru);

#endif
