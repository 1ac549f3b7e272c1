/* SPDX-License-Identifier: MIT */
#include "supervise.h"

#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* After the script's init exits, the kernel has already killed and reaped
 * every other process of the run: the pipes reach EOF at once. This bounds
 * the wait should anything still hold them. */
#define DRAIN_GRACE_MS 2000
/* Once killed, a run's init must go within this. */
#define KILL_GRACE_MS 5000

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static pid_t clone_with(struct clone_args *ca, int *ret_pidfd)
{
	int pidfd = -1;
	long r;

	ca->flags |= CLONE_PIDFD;
	ca->pidfd = (uint64_t)(uintptr_t)&pidfd;
	ca->exit_signal = 0;
	r = syscall(SYS_clone3, ca, sizeof(*ca));

	if (r < 0)
		return -errno;
	if (r > 0)
		*ret_pidfd = pidfd;
	return (pid_t)r;
}

pid_t sup_clone(unsigned long ns_flags, int *ret_pidfd)
{
	struct clone_args ca = {.flags = ns_flags};

	return clone_with(&ca, ret_pidfd);
}

pid_t sup_clone_into(unsigned long ns_flags, int cgroup_fd, int *ret_pidfd)
{
	struct clone_args ca = {.flags = ns_flags | CLONE_INTO_CGROUP,
				.cgroup = (uint64_t)cgroup_fd};

	return clone_with(&ca, ret_pidfd);
}

int sup_wait_exec(int sync_fd, uint64_t deadline_ms, pexos_error *err)
{
	pexos_error child;
	size_t got = 0;

	for (;;) {
		struct pollfd p = {.fd = sync_fd, .events = POLLIN};
		uint64_t now = now_ms();
		ssize_t n;
		int r;

		if (now >= deadline_ms)
			return pexos_fail(err, ETIMEDOUT, "setup",
					  "the sandbox took too long to start");
		r = poll(&p, 1, (int)(deadline_ms - now));
		if (r < 0 && errno != EINTR)
			return pexos_fail_errno(err, errno, "setup", "poll");
		if (r <= 0)
			continue;
		n = read(sync_fd, (char *)&child + got, sizeof(child) - got);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return pexos_fail_errno(err, errno, "setup",
						"read the sync pipe");
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
		if (got == sizeof(child))
			break;
	}
	if (got == 0)
		return 0; /* EOF without a word: exec happened */
	if (got != sizeof(child))
		return pexos_fail(err, EPROTO, "setup",
				  "the sandbox died during setup");
	child.step[sizeof(child.step) - 1] = '\0';
	child.message[sizeof(child.message) - 1] = '\0';
	if (err)
		*err = child;
	return child.code ? -child.code : -EIO;
}

static int drain(struct sup_stream *s)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(s->fd, buf, sizeof(buf));
		if (n > 0) {
			if (capture_append(s->cap, buf, (size_t)n) < 0)
				return -ENOMEM;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		/* EOF or a read error: this stream is done. */
		close(s->fd);
		s->fd = -1;
		return 0;
	}
}

void sup_kill(int pidfd)
{
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/* Does the pipe `fd` hold unread bytes (not only EOF)? */
static bool has_data(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* How long the next poll may sleep. */
static int poll_ms(const struct sup_watch *w, uint64_t limit, uint64_t now)
{
	uint64_t ms = limit - now;

	if (w->over && w->period_ms && ms > w->period_ms)
		ms = w->period_ms;
	return (int)ms;
}

int sup_monitor(int pidfd, struct sup_stream *s, size_t n,
		struct sup_watch *w)
{
	bool exited = w->exited, killed = false;
	uint64_t limit = exited ? now_ms() + DRAIN_GRACE_MS : w->deadline_ms;
	uint64_t next_over = 0; /* over() at most every period_ms */
	int kill_fd = w->kill_fd >= 0 ? w->kill_fd : pidfd;

	for (;;) {
		struct pollfd p[8];
		size_t np = 0, idx[8];
		uint64_t now = now_ms();
		int r;

		for (size_t i = 0; i < n && np < 7; i++)
			if (s[i].fd >= 0) {
				p[np] = (struct pollfd){.fd = s[i].fd,
							.events = POLLIN};
				idx[np++] = i;
			}
		if (np == 0 && (exited || (w->end_on_eof && n > 0)))
			break;
		if (!exited)
			p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		if (!exited && !killed && w->over && now >= next_over) {
			next_over = now + w->period_ms;
			if (w->over(w->arg)) {
				sup_kill(kill_fd);
				killed = w->tripped = true;
				limit = now + KILL_GRACE_MS;
			}
		}
		if (now >= limit) {
			if (exited)
				break; /* drain grace over */
			if (killed)
				return -ETIME; /* SIGKILL did not end it */
			sup_kill(kill_fd);
			killed = w->timed_out = true;
			limit = now + KILL_GRACE_MS;
			continue;
		}
		r = poll(p, np, poll_ms(w, limit, now));
		if (r < 0 && errno != EINTR)
			return -errno;
		for (size_t i = 0; r > 0 && i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == pidfd) {
				exited = w->exited = true;
				if (w->kill_on_exit && w->kill_fd >= 0 &&
				    has_data(pidfd))
					sup_kill(w->kill_fd);
				limit = now_ms() + DRAIN_GRACE_MS;
			} else if (drain(&s[idx[i]]) < 0) {
				sup_kill(kill_fd);
				return -ENOMEM;
			}
		}
	}
	return 0;
}

int sup_reap(int pidfd, struct rusage *ru)
{
	siginfo_t si;
	struct rusage dummy;

	for (;;) {
		/* The raw syscall: glibc's waitid has no rusage argument. */
		long r = syscall(SYS_waitid, P_PIDFD, pidfd, &si,
				 WEXITED | __WALL, ru ? ru : &dummy);
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}
