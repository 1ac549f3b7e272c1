/* SPDX-License-Identifier: MIT */
/*
 * pexos_run_script_until with a pipe as the cancel descriptor, cold and
 * warm: closing the write end while a 20 s loop runs ends it within a
 * second or so with -ECANCELED (step "cancel_fd"), its sandbox gone (no
 * child process left; the warm slot freed); a descriptor that hung up
 * before the call cancels at once, before any sandbox starts; bytes
 * waiting on it cancel nothing; a socket whose peer closed cancels too.
 * pexos_run_script_until_any: the second of two descriptors hanging up
 * cancels while the first stays open, negative entries are skipped, and
 * more than PEXOS_CANCEL_FDS_MAX is refused. A run that waits for a slot
 * (the pool's only one taken, its zygote stopped, pool_wait 30 s) is
 * cancelled within a second too.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tap.h"
#include "pexos.h"

#define LOOP                                                                   \
	"{\"script\": \"def main():\\n    while True:\\n        pass\\n\", "   \
	"\"timeout\": 20}"
#define HELLO "{\"script\": \"def main():\\n    return 42\\n\"}"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Children of any thread of this process (a sandbox's init, the zygote's). */
static int children(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], buf[4096];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
			 e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fscanf(f, "%4095s", buf) == 1)
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

struct closer {
	int fd;
	double after_s;
};

static void *close_later(void *arg)
{
	struct closer *c = arg;

	usleep((useconds_t)(c->after_s * 1e6));
	close(c->fd);
	return NULL;
}

/* Runs the loop with cancel_fds and closes `closing` after 1 s. */
static void cancel_running_any(pexos_context *ctx, const char *what,
			       const int *cancel_fds, size_t n, int closing)
{
	struct closer c = {closing, 1.0};
	pexos_error err = {0};
	pexos_outcome oc;
	char *resp = NULL;
	pthread_t t;
	double t0 = now_s(), took;
	int r;

	pthread_create(&t, NULL, close_later, &c);
	r = pexos_run_script_until_any(ctx, LOOP, strlen(LOOP), cancel_fds, n,
				       &resp, &oc, &err);
	took = now_s() - t0;
	pthread_join(t, NULL);
	tap_ok(r == -ECANCELED, "%s: the 20 s loop returns -ECANCELED (got %d)",
	       what, r);
	tap_ok(strcmp(err.step, "cancel_fd") == 0 &&
		   strstr(err.message, "hung up"),
	       "%s: the error says why: step '%s', message '%s'", what,
	       err.step, err.message);
	tap_ok(took >= 0.9 && took < 2.0,
	       "%s: it ends within a second of the close (%.2f s after start)",
	       what, took);
	tap_ok(resp == NULL, "%s: no response is written on failure", what);
	pexos_free(resp);
}

static void cancel_running(pexos_context *ctx, const char *what, int cancel_fd,
			   int closing)
{
	cancel_running_any(ctx, what, &cancel_fd, 1, closing);
}

/* Two descriptors, a socket whose peer stays and a pipe closed after 1 s
 * (an -1 between them); then the limit. */
static void any_cases(pexos_context *ctx, const char *what)
{
	int sv[2], p[2], fds[PEXOS_CANCEL_FDS_MAX + 1];
	pexos_error err = {0};
	char *resp = NULL, label[128];
	int r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe(p) < 0) {
		tap_ok(false, "%s: a socketpair and a pipe", what);
		return;
	}
	snprintf(label, sizeof(label), "%s, _any: a pipe closed beside an "
		 "open socket", what);
	cancel_running_any(ctx, label, (const int[]){sv[0], -1, p[0]}, 3, p[1]);
	close(p[0]);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fds[i] = sv[0];
	r = pexos_run_script_until_any(ctx, HELLO, strlen(HELLO), fds,
				       PEXOS_CANCEL_FDS_MAX, &resp, NULL, &err);
	tap_ok(r == 0 && resp && strstr(resp, "\"result\":42"),
	       "%s, _any: %d open descriptors cancel nothing (r %d)", what,
	       PEXOS_CANCEL_FDS_MAX, r);
	if (r == 0)
		pexos_free(resp);
	resp = NULL;
	r = pexos_run_script_until_any(ctx, HELLO, strlen(HELLO), fds,
				       PEXOS_CANCEL_FDS_MAX + 1, &resp, NULL,
				       &err);
	tap_ok(r == -EINVAL && !resp && strstr(err.message,
					       "PEXOS_CANCEL_FDS_MAX"),
	       "%s, _any: %d descriptors are refused with -EINVAL (r %d: %s)",
	       what, PEXOS_CANCEL_FDS_MAX + 1, r, err.message);
	close(sv[0]);
	close(sv[1]);
}

/* One call on a pipe that holds `data` (or NULL) and whose write end is
 * closed first when `hung_up`. Returns its result, the response in *resp. */
static int on_pipe(pexos_context *ctx, const char *req, const char *data,
		   bool hung_up, char **resp, pexos_error *err, double *took)
{
	pexos_outcome oc;
	int p[2], r;
	double t0;

	if (pipe(p) < 0)
		return -errno;
	if (data)
		(void)!write(p[1], data, strlen(data));
	if (hung_up)
		close(p[1]);
	t0 = now_s();
	r = pexos_run_script_until(ctx, req, strlen(req), p[0], resp, &oc, err);
	*took = now_s() - t0;
	close(p[0]);
	if (!hung_up)
		close(p[1]);
	return r;
}

static void pipe_cases(pexos_context *ctx, const char *what)
{
	pexos_error err = {0};
	char *resp = NULL;
	double took;
	int r;

	r = on_pipe(ctx, LOOP, NULL, true, &resp, &err, &took);
	tap_ok(r == -ECANCELED && strcmp(err.step, "cancel_fd") == 0 &&
		   took < 0.2,
	       "%s: a descriptor hung up before the call cancels it at once "
	       "(r %d, step '%s', %.3f s)",
	       what, r, err.step, took);
	r = on_pipe(ctx, HELLO, "GET / HTTP/1.1\r\n", false, &resp, &err,
		    &took);
	tap_ok(r == 0 && resp && strstr(resp, "\"result\":42"),
	       "%s: bytes waiting on the descriptor cancel nothing (r %d: %s)",
	       what, r, r == 0 && resp ? resp : err.message);
	if (r == 0)
		pexos_free(resp);
}

/* The parent of `pid` (from /proc/PID/stat), or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

static bool is_zygote_code(pid_t pid)
{
	char path[64], cmd[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, "The zygote of the warm pool") != NULL;
}

/* The zygote below this process: it runs the zygote's code, and so do
 * its slots (forked from it, below it), but none of its ancestors does.
 * -1 when there is none. */
static pid_t find_zygote(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;

	while (d && found < 0 && (e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name), a;
		bool ours = false, below_zygote = false;

		if (pid <= 0 || !is_zygote_code(pid))
			continue;
		for (a = parent_of(pid); a > 1; a = parent_of(a)) {
			if (a == getpid()) {
				ours = true;
				break;
			}
			below_zygote |= is_zygote_code(a);
		}
		if (ours && !below_zygote)
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

struct holder {
	pexos_context *ctx;
	int fd;
	int r;
};

static void *hold_slot(void *arg)
{
	struct holder *h = arg;
	pexos_error err = {0};
	char *resp = NULL;

	h->r = pexos_run_script_until(h->ctx, LOOP, strlen(LOOP), h->fd, &resp,
				      NULL, &err);
	pexos_free(resp);
	return NULL;
}

/* The pool's one slot is taken by a loop and its zygote is stopped, so
 * no slot comes; a second run waits for one (pool_wait 30 s) and its
 * descriptor hangs up after 1 s: it returns -ECANCELED within a second or
 * so, while the first still runs. */
static void waiting_for_slot(pexos_context *ctx)
{
	int a[2], b[2];
	struct holder h = {ctx, -1, 1};
	pexos_pool_snapshot st = {0};
	pid_t zygote = find_zygote();
	pthread_t t;
	double end;

	if (!tap_ok(zygote > 0 && kill(zygote, SIGSTOP) == 0,
		    "warm, waiting: the zygote (%d) is stopped", (int)zygote))
		return;
	if (pipe(a) < 0 || pipe(b) < 0) {
		tap_ok(false, "warm, waiting: two pipes");
		kill(zygote, SIGCONT);
		return;
	}
	h.fd = a[0];
	pthread_create(&t, NULL, hold_slot, &h);
	for (end = now_s() + 10; now_s() < end; usleep(20000))
		if (pexos_pool_info(ctx, &st) == 0 && st.in_use == 1)
			break;
	tap_ok(st.in_use == 1, "warm, waiting: a loop holds the only slot");
	cancel_running(ctx, "warm, waiting for the only slot", b[0], b[1]);
	close(b[0]);
	pexos_pool_info(ctx, &st);
	tap_ok(st.in_use == 1 && st.ready == 0,
	       "warm, waiting: the loop still holds its slot, none other is "
	       "ready (in_use %u, ready %u)", st.in_use, st.ready);
	kill(zygote, SIGCONT);
	close(a[1]);
	pthread_join(t, NULL);
	close(a[0]);
	tap_ok(h.r == -ECANCELED, "warm, waiting: the loop is cancelled in turn "
	       "(r %d)", h.r);
}

static pexos_context *make(const char *pool)
{
	pexos_options *o = pexos_options_new();
	pexos_context *ctx = NULL;
	pexos_error err = {0};

	if (!o || pexos_options_set(o, "pool", pool, &err) < 0 ||
	    pexos_options_set(o, "pool_wait", "30", &err) < 0 ||
	    pexos_options_set(o, "preload", "", &err) < 0 ||
	    pexos_context_new(o, &ctx, &err) < 0)
		printf("# context: %s\n", err.message);
	pexos_options_free(o);
	return ctx;
}

static bool pool_ready(pexos_context *ctx, unsigned n, double timeout_s)
{
	pexos_pool_snapshot st;
	double end = now_s() + timeout_s;

	while (now_s() < end) {
		if (pexos_pool_info(ctx, &st) == 0 && st.ready >= n &&
		    st.in_use == 0)
			return true;
		usleep(20000);
	}
	return false;
}

int main(void)
{
	pexos_context *cold = make("0"), *warm;
	int p[2], sv[2];

	if (!tap_ok(cold != NULL, "a context without a pool"))
		return tap_done();
	if (pipe(p) == 0)
		cancel_running(cold, "cold, pipe", p[0], p[1]);
	close(p[0]);
	tap_ok(children() == 0,
	       "cold: no sandbox process is left (%d children)", children());
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
		cancel_running(cold, "cold, socket whose peer closed", sv[0],
			       sv[1]);
	close(sv[0]);
	pipe_cases(cold, "cold");
	any_cases(cold, "cold");
	tap_ok(children() == 0,
	       "cold, _any: no sandbox process is left (%d children)",
	       children());
	pexos_context_free(cold);

	warm = make("1");
	if (!tap_ok(warm && pool_ready(warm, 1, 60),
		    "a warm pool of 1 is ready"))
		return pexos_context_free(warm), tap_done();
	if (pipe(p) == 0)
		cancel_running(warm, "warm, pipe", p[0], p[1]);
	close(p[0]);
	{
		pexos_pool_snapshot st;

		pexos_pool_info(warm, &st);
		tap_ok(st.hits == 1 && st.in_use == 0,
		       "warm: the run had the warm slot, and it is freed (hits "
		       "%llu, in_use %u)",
		       st.hits, st.in_use);
	}
	tap_ok(pool_ready(warm, 1, 30), "warm: a new slot is ready again");
	waiting_for_slot(warm);
	tap_ok(pool_ready(warm, 1, 30), "warm: a new slot is ready again");
	pipe_cases(warm, "warm");
	pexos_context_free(warm);
	tap_ok(children() == 0,
	       "no process is left once the contexts are freed");
	return tap_done();
}
