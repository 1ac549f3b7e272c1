/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's verdicts with real child processes: sup_clone, then
 * sup_monitor ends a run at EOF, at the wall deadline (timed_out) or when
 * the `over` check says so (tripped), truncates streams at their cap
 * without blocking the writer, returns at EOF for a pooled run, kills a
 * pooled run's pid 1 once its process exited (kill_on_exit), and
 * sup_wait_exec tells exec, a setup failure, a torn message and a
 * deadline apart; sup_reap reports the child's resource usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "response.h"
#include "supervise.h"
#include "tap.h"
#include "util.h"

enum behaviour { SAY_HELLO, SLEEP, FLOOD, CLOSE_AND_SLEEP, SPIN, EXIT_7 };

struct child {
	pid_t pid;
	int pidfd;
	int out; /* read end of its stdout, non-blocking */
};

static uint64_t cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static _Noreturn void behave(enum behaviour b, int out)
{
	static char block[65536];

	switch (b) {
	case SAY_HELLO:
		write_all(out, "hello\n", 6);
		_exit(0);
	case FLOOD: /* 4 MiB: far over the cap, and over a pipe's buffer */
		memset(block, 'x', sizeof(block));
		for (int i = 0; i < 64; i++)
			write_all(out, block, sizeof(block));
		_exit(0);
	case CLOSE_AND_SLEEP:
		close(out);
		pause();
		_exit(0);
	case SPIN: /* 200 ms of CPU time, however busy the machine is */
		while (cpu_ms() < 200)
			;
		_exit(0);
	case EXIT_7:
		_exit(7);
	case SLEEP:
	default:
		pause();
		_exit(0);
	}
}

/* A child in a new user namespace, as runs are, doing `b`. */
static bool start(enum behaviour b, struct child *c)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	fflush(stdout);
	c->pid = sup_clone(CLONE_NEWUSER, &c->pidfd);
	if (c->pid == 0) {
		close(p[0]);
		behave(b, p[1]);
	}
	close(p[1]);
	if (c->pid < 0) {
		close(p[0]);
		return false;
	}
	c->out = p[0];
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	return true;
}

/* Starts a child doing `b` and monitors its stdout under `w`, waiting on
 * `wait_fd` (-1: the child's pidfd). The child is left for finish(). */
static int monitor(enum behaviour b, int wait_fd, struct sup_watch *w,
		   struct child *c, struct capture *cap)
{
	struct sup_stream s;
	int r;

	if (!start(b, c))
		return -ECHILD;
	if (w->kill_fd == -2)
		w->kill_fd = c->pidfd;
	s = (struct sup_stream){.fd = c->out, .cap = cap};
	r = sup_monitor(wait_fd >= 0 ? wait_fd : c->pidfd, &s, 1, w);
	c->out = s.fd; /* -1 once it reached EOF */
	return r;
}

/* How the child ended, peeked at before sup_reap collects it. */
static siginfo_t peek(const struct child *c)
{
	siginfo_t si = {0};

	waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOWAIT | __WALL);
	return si;
}

static void finish(struct child *c, struct capture *cap)
{
	sup_kill(c->pidfd);
	sup_reap(c->pidfd, NULL);
	close(c->pidfd);
	if (c->out >= 0)
		close(c->out);
	capture_done(cap);
}

static void test_eof(void)
{
	struct capture cap = {.max = 1024};
	struct child c;
	struct sup_watch w = {.deadline_ms = now_ms() + 10000, .kill_fd = -1};
	uint64_t t0 = now_ms();
	int r = monitor(SAY_HELLO, -1, &w, &c, &cap);

	if (!tap_ok(r != -ECHILD, "clone into a user namespace"))
		return;
	tap_ok(r == 0 && w.exited && !w.timed_out && !w.tripped,
	       "exit and EOF end the run: r=%d exited=%d timed_out=%d "
	       "tripped=%d",
	       r, w.exited, w.timed_out, w.tripped);
	tap_ok(cap.len == 6 && memcmp(cap.data, "hello\n", 6) == 0 &&
		   !cap.truncated,
	       "its output is captured whole (%zu bytes)", cap.len);
	tap_ok(c.out == -1, "the stream is closed at EOF");
	tap_ok(now_ms() - t0 < 2000, "and at once, not at the deadline");
	finish(&c, &cap);
}

static void test_deadline(void)
{
	struct capture cap = {.max = 1024};
	struct child c;
	struct sup_watch w = {.deadline_ms = now_ms() + 300, .kill_fd = -1};
	uint64_t t0 = now_ms(), took;
	int r = monitor(SLEEP, -1, &w, &c, &cap);
	siginfo_t si;

	if (r == -ECHILD)
		return;
	took = now_ms() - t0;
	tap_ok(r == 0 && w.timed_out && !w.tripped && w.exited,
	       "the wall deadline kills the run: timed_out=%d tripped=%d "
	       "exited=%d",
	       w.timed_out, w.tripped, w.exited);
	tap_ok(took >= 300 && took < 3000,
	       "it is killed at the deadline (300 ms), after %llu ms",
	       (unsigned long long)took);
	si = peek(&c);
	tap_ok(si.si_code == CLD_KILLED && si.si_status == SIGKILL,
	       "by SIGKILL (code %d, status %d)", si.si_code, si.si_status);
	finish(&c, &cap);
}

static int over_calls;

/* Says "over" on its third call, as a cgroup's CPU time would. */
static bool over_third(void *arg)
{
	(void)arg;
	return ++over_calls >= 3;
}

static void test_over(void)
{
	struct capture cap = {.max = 1024};
	struct child c;
	struct sup_watch w = {.deadline_ms = now_ms() + 10000,
			      .over = over_third,
			      .period_ms = 50,
			      .kill_fd = -1};
	uint64_t t0 = now_ms();
	int r = monitor(SLEEP, -1, &w, &c, &cap);

	if (r == -ECHILD)
		return;
	tap_ok(r == 0 && w.tripped && !w.timed_out && w.exited,
	       "over() kills the run: tripped=%d timed_out=%d exited=%d",
	       w.tripped, w.timed_out, w.exited);
	tap_ok(over_calls >= 3 && now_ms() - t0 < 2000,
	       "polled every period: %d calls, %llu ms", over_calls,
	       (unsigned long long)(now_ms() - t0));
	finish(&c, &cap);
}

static void test_cap(void)
{
	struct capture cap = {.max = 1000};
	struct child c;
	struct sup_watch w = {.deadline_ms = now_ms() + 10000, .kill_fd = -1};
	int r = monitor(FLOOD, -1, &w, &c, &cap);
	siginfo_t si;

	if (r == -ECHILD)
		return;
	tap_ok(
	    r == 0 && cap.len == 1000 && cap.truncated,
	    "a stream is cut at its cap and flagged: %zu bytes, truncated=%d",
	    cap.len, cap.truncated);
	si = peek(&c);
	tap_ok(!w.timed_out && si.si_code == CLD_EXITED && si.si_status == 0,
	       "the writer is drained, not blocked: it exits on its own "
	       "(code %d, status %d)",
	       si.si_code, si.si_status);
	finish(&c, &cap);
}

/* A pooled run: the waited-for descriptor is not the process, which may
 * outlive its streams; the run ends at EOF. */
static void test_end_on_eof(void)
{
	struct capture cap = {.max = 1024};
	struct child c;
	int never[2];
	struct sup_watch w = {
	    .deadline_ms = now_ms() + 5000, .end_on_eof = true, .kill_fd = -2};
	uint64_t t0 = now_ms();
	int r;

	if (pipe2(never, O_CLOEXEC) < 0)
		return;
	r = monitor(CLOSE_AND_SLEEP, never[0], &w, &c, &cap);
	if (r == -ECHILD)
		return;
	tap_ok(r == 0 && !w.exited && !w.timed_out && now_ms() - t0 < 2000,
	       "end_on_eof: EOF on every stream ends a pooled run "
	       "(exited=%d timed_out=%d)",
	       w.exited, w.timed_out);
	finish(&c, &cap);
	close(never[0]);
	close(never[1]);
}

/* A pooled run whose script's process has exited (its status is in) while
 * something it left holds its stream open: with kill_on_exit the run's
 * pid 1 (here the child itself) is killed at once, and the stream ends;
 * without, the monitor waits out its drain grace (the control), as it
 * does when the status pipe ends without a status (`status` false: the
 * zygote died; the run's process may well live on). Returns how long the
 * monitor took, or UINT64_MAX when it failed; *alive: the child was still
 * alive after it (waited for when it should be dead: peek()). */
static uint64_t held_stream(bool kill_on_exit, bool status, siginfo_t *si,
			    bool *alive)
{
	struct capture cap = {.max = 1024};
	struct child c;
	int st[2];
	struct sup_watch w = {.deadline_ms = now_ms() + 10000,
			      .end_on_eof = true,
			      .kill_on_exit = kill_on_exit,
			      .kill_fd = -2};
	uint64_t t0 = now_ms(), took;
	int r;

	if (pipe2(st, O_CLOEXEC) < 0)
		return UINT64_MAX;
	if (status)
		write_all(st[1], "\0\0\0\0", 4);
	close(st[1]);
	r = monitor(SLEEP, st[0], &w, &c, &cap);
	took = now_ms() - t0;
	close(st[0]);
	if (r == -ECHILD)
		return UINT64_MAX;
	/* Killed, it is gone soon (its stream may end a moment before it is
	 * a zombie): wait for it. Otherwise it must still be there. */
	*si = (siginfo_t){0};
	if (kill_on_exit && status)
		*si = peek(&c);
	else
		waitid(P_PID, (id_t)c.pid, si,
		       WEXITED | WNOHANG | WNOWAIT | __WALL);
	*alive = si->si_pid == 0;
	if (r != 0 || !w.exited || w.timed_out)
		took = UINT64_MAX;
	finish(&c, &cap);
	return took;
}

static void test_kill_on_exit(void)
{
	siginfo_t si;
	bool alive;
	uint64_t ms = held_stream(true, true, &si, &alive);

	tap_ok(ms < 1000 && !alive && si.si_code == CLD_KILLED &&
		   si.si_status == SIGKILL,
	       "kill_on_exit: the exit's status kills the run's pid 1, whose "
	       "stream then ends (%llu ms, killed by %d)",
	       (unsigned long long)ms, si.si_status);
	ms = held_stream(false, true, &si, &alive);
	tap_ok(ms != UINT64_MAX && ms >= 2000 && alive,
	       "control: without it, the held stream keeps the monitor for its "
	       "drain grace");
	ms = held_stream(true, false, &si, &alive);
	tap_ok(ms != UINT64_MAX && ms >= 2000 && alive,
	       "kill_on_exit: EOF without a status (the zygote died) kills "
	       "nothing");
}

static void test_usage(void)
{
	struct capture cap = {.max = 1024};
	struct child c;
	struct sup_watch w = {.deadline_ms = now_ms() + 10000, .kill_fd = -1};
	struct rusage ru = {0};
	siginfo_t si = {0};
	long used;
	int r = monitor(SPIN, -1, &w, &c, &cap), e;

	if (r == -ECHILD)
		return;
	r = sup_reap(c.pidfd, &ru);
	used = ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
	       ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
	tap_ok(r == 0 && used >= 190 && used < 2000,
	       "sup_reap reports the CPU time of a 200 ms spin: %ld ms", used);
	e = waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOHANG | __WALL) < 0
		? errno
		: 0;
	tap_ok(e == ECHILD, "and the child is reaped (waitid: %s)",
	       strerror(e));
	finish(&c, &cap);

	cap = (struct capture){.max = 1024};
	w = (struct sup_watch){.deadline_ms = now_ms() + 10000, .kill_fd = -1};
	r = monitor(EXIT_7, -1, &w, &c, &cap);
	if (r == -ECHILD)
		return;
	si = peek(&c);
	tap_ok(r == 0 && w.exited && !w.timed_out && si.si_code == CLD_EXITED &&
		   si.si_status == 7,
	       "an exit is seen as such, status kept for the reaper (%d)",
	       si.si_status);
	finish(&c, &cap);
}

enum setup { EXECS, FAILS, TORN, HANGS };

/* A child that, on its sync pipe, does what a sandbox's setup may do. */
static int wait_exec_of(enum setup how, uint64_t wait_ms, pexos_error *err)
{
	int p[2], r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -EIO;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		pexos_error e = {0};
		close(p[0]);
		if (how == EXECS)
			execl("/bin/true", "true", (char *)NULL);
		if (how == FAILS) {
			errno = EACCES;
			pexos_fail_child(&e, EACCES, "mount", "bind-mount",
					 "/x");
			write_all(p[1], (const char *)&e, sizeof(e));
		}
		if (how == TORN)
			write_all(p[1], "0123456789", 10);
		if (how == HANGS)
			pause();
		_exit(0);
	}
	close(p[1]);
	r = sup_wait_exec(p[0], now_ms() + wait_ms, err);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(p[0]);
	return r;
}

static void test_wait_exec(void)
{
	pexos_error err = {0};
	int r;

	r = wait_exec_of(EXECS, 10000, &err);
	tap_ok(r == 0, "sup_wait_exec: EOF without a word means exec (%d)", r);
	memset(&err, 0, sizeof(err));
	r = wait_exec_of(FAILS, 10000, &err);
	tap_ok(r == -EACCES && strcmp(err.step, "mount") == 0 &&
		   strstr(err.message, "/x"),
	       "a setup failure comes back with its errno, step and message "
	       "(%d, %s: %s)",
	       r, err.step, err.message);
	r = wait_exec_of(TORN, 10000, &err);
	tap_ok(r == -EPROTO, "a torn message is EPROTO (%d)", r);
	r = wait_exec_of(HANGS, 200, &err);
	tap_ok(r == -ETIMEDOUT, "a setup past its deadline is ETIMEDOUT (%d)",
	       r);
}

int main(void)
{
	test_eof();
	test_deadline();
	test_over();
	test_cap();
	test_end_on_eof();
	test_kill_on_exit();
	test_usage();
	test_wait_exec();
	return tap_done();
}
