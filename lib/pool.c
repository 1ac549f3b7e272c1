/* SPDX-License-Identifier: MIT */
/*
 * pool.c - the warm pool, library side.
 *
 * The pool thread owns the zygote and every slot that is not taken: it
 * starts the zygote (a base sandbox, see sandbox_start_zygote), asks it for
 * slots, moves each new slot process into a cgroup of its own, releases it,
 * and waits for it to report that it is locked down. A run takes a ready
 * slot under the lock, hands it the script and watches it like a cold run;
 * the slot goes back to the thread to be killed and its cgroup removed.
 *
 * Slot life:  EMPTY -> SPAWNING (asked the zygote) -> STARTING (in its
 *             cgroup, told to go) -> READY -> taken by a run -> disposed
 */
#include "pool.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "jalloc.h"
#include "lockdown.h"
#include "proto.h"
#include "sched_attr.h"
#include "supervise.h"
#include "util.h"

extern const char pexos_runner_py[];
extern const char pexos_zygote_helper[];
extern const unsigned long pexos_zygote_helper_len;

enum { SLOT_EMPTY, SLOT_SPAWNING, SLOT_STARTING, SLOT_READY };
enum zy_state { ZY_DOWN, ZY_STARTING, ZY_UP };

/* Slots killed, whose cgroups are still to be removed. */
struct grave {
	struct grave *next;
	struct cg_run cg;
	int init_pidfd;
};

/* A zygote's base sandbox left running after the zygote died: its init
 * goes on until the runs on the slots it started are over. */
struct retired {
	struct retired *next;
	int pidfd;
	struct cg_run cg;
};

struct pool {
	struct pexos_context *ctx;
	pthread_mutex_t lock;
	pthread_cond_t ready;
	pthread_t thread;
	bool thread_started, stop;
	int wake[2];
	size_t size;
	struct pool_slot *slots;
	uint32_t next_id;
	bool idle; /* slots start at SCHED_IDLE; we can raise them back */
	int helper_fd; /* the zygote's helper.c, a sealed memory file */
	/* the zygote */
	enum zy_state zstate;
	struct sandbox_proc zproc;
	int zctl, zlog;
	struct cg_run zcg;
	pid_t zpid;
	int zpidfd; /* the zygote itself */
	uint64_t zstarted_ms, zready_ms, retry_at;
	unsigned failures;
	char error[512];
	char log[1024];
	size_t log_len;
	struct grave *graves;
	struct retired *retired;
	/* counters, for /health and /metrics */
	uint64_t hits, misses, spawned, restarts, slot_failures;
	uint64_t start_ms_sum, start_n; /* spawn to ready, for /health */
	/* slots failing one after another: refill backs off */
	unsigned fail_streak;
	uint64_t fill_after;
	unsigned in_use; /* slots handed to runs and not yet disposed */
};

/* Zygote start-up (imports, warm-up) must finish in this. */
#define ZYGOTE_START_MS 60000
#define RETRY_MAX_MS 60000

/* A slot's scheduling: while it is set up, waits or is torn down,
 * SCHED_IDLE at nice 19 with the shortest slice (0.1 ms), so that it gives
 * the CPU back soon even when it is ahead of its share; for its run, the
 * defaults. The nice change makes the scheduler check at once whether the
 * slot should preempt the running task. */
static void slot_sched(pid_t pid, bool idle)
{
	struct sched_attr_v0 a = {
		.size = sizeof(a),
		.sched_policy = idle ? SCHED_IDLE : SCHED_OTHER,
		.sched_nice = idle ? 19 : 0,
		.sched_runtime = idle ? 100000 : 0,
	};

	if (pid > 0)
		(void)syscall(SYS_sched_setattr, pid, &a, 0);
}

static void wake_thread(struct pool *p)
{
	(void)!write(p->wake[1], "w", 1);
}

/* ---- descriptors over unix sockets ------------------------------------ */

static int send_msg(int sock, const void *buf, size_t len, const int *fds,
		    size_t nfds)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds > 8)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Returns the message length (0 at EOF) or -errno; *nfds descriptors
 * (close-on-exec) land in fds. */
static ssize_t recv_msg(int sock, void *buf, size_t cap, int *fds,
			size_t max_fds, size_t *nfds)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, cap};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
			   .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < max_fds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* The pid behind a pidfd, as this process sees it, or -1. */
static pid_t pidfd_pid(int pidfd)
{
	char path[64], buf[1024], *l;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	l = strstr(buf, "\nPid:");
	return l ? (pid_t)strtol(l + 5, NULL, 10) : -1;
}

static void set_error(struct pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_error(struct pool *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
}

/* ---- slots ------------------------------------------------------------ */

static void slot_reset(struct pool_slot *s)
{
	memset(s, 0, sizeof(*s));
	s->sock = s->out = s->err = s->res = s->status = -1;
	s->pidfd = s->init_pidfd = -1;
	s->state = SLOT_EMPTY;
}

/* Kills the slot's processes and queues its cgroup for removal. Called by
 * the pool thread with the lock held, or by a run's thread. */
static void slot_dispose(struct pool *p, struct pool_slot *s, bool locked)
{
	struct grave *g = calloc(1, sizeof(*g));

	/* A run's slot: its teardown (freeing an interpreter's worth of
	 * page tables) yields the CPU to the other runs. */
	if (!locked && s->cg_idle)
		(void)cg_run_set_idle(&p->ctx->cg, &s->cg, true);
	if (!locked && p->idle)
		slot_sched(s->pid, true);
	if (s->init_pidfd >= 0)
		sup_kill(s->init_pidfd);
	if (s->pidfd >= 0)
		sup_kill(s->pidfd);
	close_fds(&s->sock, 1);
	close_fds(&s->out, 1);
	close_fds(&s->err, 1);
	close_fds(&s->res, 1);
	close_fds(&s->status, 1);
	close_fds(&s->pidfd, 1);
	if (!g) {
		/* Out of memory: remove it now, waiting if need be. */
		close_fds(&s->init_pidfd, 1);
		cg_run_destroy(&p->ctx->cg, &s->cg);
	}
	if (!locked)
		pthread_mutex_lock(&p->lock);
	if (!locked && p->in_use)
		p->in_use--; /* a run's slot (only runs call unlocked) */
	if (g) {
		g->cg = s->cg;
		g->init_pidfd = s->init_pidfd;
		g->next = p->graves;
		p->graves = g;
	}
	if (!locked)
		pthread_mutex_unlock(&p->lock);
	wake_thread(p);
	slot_reset(s);
}

/* Removes the cgroups of disposed slots whose processes are gone. Called
 * with the lock held; drops it while it works, so that runs can take
 * slots meanwhile. Returns true while some remain. */
static bool bury(struct pool *p, bool wait)
{
	struct grave *list = p->graves, *left = NULL;

	p->graves = NULL;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		struct grave *g = list;

		list = g->next;
		if (cg_run_try_destroy(&p->ctx->cg, &g->cg, wait) == 0) {
			if (g->init_pidfd >= 0)
				close(g->init_pidfd);
			free(g);
		} else {
			g->next = left;
			left = g;
		}
	}
	pthread_mutex_lock(&p->lock);
	while (left) {
		struct grave *g = left;

		left = g->next;
		g->next = p->graves;
		p->graves = g;
	}
	return p->graves != NULL;
}

/* Asks the zygote for a new slot process. */
static int slot_spawn(struct pool *p, struct pool_slot *s)
{
	const struct pexos_context *ctx = p->ctx;
	int sv[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int res[2] = {-1, -1}, status[2] = {-1, -1};
	char msg[5] = "S";
	pexos_error e = {0};
	int r;

	slot_reset(s);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(res, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		r = -errno;
		set_error(p, "create a slot's pipes: %s", strerror(-r));
		goto fail;
	}
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(err[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(res[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(status[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	r = cg_run_create(&ctx->cg, ctx->opts.memory_mb, ctx->opts.pids, &s->cg,
			  &e);
	if (r < 0) {
		set_error(p, "%s", e.message);
		goto fail;
	}
	/* Its set-up and warm-up yield the CPU to runs: an idle CPU group
	 * (and, with p->idle, SCHED_IDLE, nice 19 and a short slice, set by
	 * the slot itself), until hand_off. */
	s->cg_idle = cg_run_set_idle(&ctx->cg, &s->cg, true) == 0;
	s->id = ++p->next_id;
	memcpy(msg + 1, &s->id, 4);
	{
		int fds[] = {sv[1], out[1], err[1], res[1], status[1]};
		r = send_msg(p->zctl, msg, sizeof(msg), fds, ELEMENTSOF(fds));
	}
	if (r < 0) {
		set_error(p, "ask the zygote for a slot: %s", strerror(-r));
		goto fail;
	}
	close_fds(&sv[1], 1);
	close_fds(&out[1], 1);
	close_fds(&err[1], 1);
	close_fds(&res[1], 1);
	close_fds(&status[1], 1);
	s->sock = sv[0];
	s->out = out[0];
	s->err = err[0];
	s->res = res[0];
	s->status = status[0];
	s->state = SLOT_SPAWNING;
	s->t_spawn = now_ms();
	p->spawned++;
	return 0;
fail:
	close_fds(sv, 2);
	close_fds(out, 2);
	close_fds(err, 2);
	close_fds(res, 2);
	close_fds(status, 2);
	cg_run_destroy(&ctx->cg, &s->cg);
	slot_reset(s);
	return r;
}

static struct pool_slot *slot_by_id(struct pool *p, uint32_t id, int state)
{
	for (size_t i = 0; i < p->size; i++)
		if (p->slots[i].state == state && p->slots[i].id == id)
			return &p->slots[i];
	return NULL;
}

/* A slot failed to start: back off before the next, up to 5 s. */
static void slot_failed(struct pool *p)
{
	uint64_t delay = 50;

	p->slot_failures++;
	if (p->fail_streak < 16)
		p->fail_streak++;
	for (unsigned i = 1; i < p->fail_streak && delay < 5000; i++)
		delay *= 2;
	p->fill_after = now_ms() + (delay < 5000 ? delay : 5000);
}

/* The zygote forked the slot: move it into its cgroup and release it. */
static void slot_spawned(struct pool *p, struct pool_slot *s, int fds[2])
{
	pexos_error e = {0};
	pid_t init;

	s->pidfd = fds[0];
	s->init_pidfd = fds[1];
	s->pid = pidfd_pid(s->pidfd);
	init = pidfd_pid(s->init_pidfd);
	if (s->pid <= 0 || init <= 0) {
		set_error(p, "a slot's process is gone before it started");
		goto fail;
	}
	if (cg_run_attach(&s->cg, init, &e) < 0 ||
	    cg_run_attach(&s->cg, s->pid, &e) < 0) {
		set_error(p, "%s", e.message);
		goto fail;
	}
	if (send_msg(s->sock, "g", 1, NULL, 0) < 0)
		goto fail;
	s->state = SLOT_STARTING;
	return;
fail:
	slot_failed(p);
	slot_dispose(p, s, true);
}

static void slot_message(struct pool *p, struct pool_slot *s)
{
	char buf[4096];
	int fds[2];
	size_t nfds;
	ssize_t n = recv_msg(s->sock, buf, sizeof(buf) - 1, fds, 2, &nfds);

	close_fds(fds, nfds);
	if (n == -EAGAIN)
		return;
	if (n == 1 && buf[0] == 'R' && s->state == SLOT_STARTING) {
		/* It goes on faulting in pages while it waits, still on idle
		 * CPU time (see slot_spawn); hand_off raises it. */
		s->state = SLOT_READY;
		s->t_ready = now_ms();
		p->fail_streak = 0;
		p->start_ms_sum += s->t_ready - s->t_spawn;
		p->start_n++;
		pthread_cond_broadcast(&p->ready);
		return;
	}
	if (n > 1 && buf[0] == 'E') {
		buf[n] = '\0';
		set_error(p, "a slot could not be set up: %s", buf + 1);
	}
	slot_failed(p);
	slot_dispose(p, s, true);
}

/* ---- the zygote ------------------------------------------------------- */

/* The zygote's configuration file (proto.h): JSON for zygote.py, a NUL
 * byte, then the helper's struct proto_zygote_config with the context's
 * lockdown plan. Returns a new memory file or -errno. */
static int zygote_config(struct pool *p)
{
	const struct pexos_context *ctx = p->ctx;
	const struct pexos_options *o = &ctx->opts;
	_cleanup_free_ struct proto_zygote_config *z = calloc(1, sizeof(*z));
	_cleanup_free_ char *text = NULL, *buf = NULL;
	_cleanup_json_ json_t *c = json_object();
	json_t *pre = json_array();
	char list[sizeof(o->preload)], *save = NULL, *tok;
	size_t len;

	if (!z || !c || !pre || json_object_set_new(c, "preload", pre) < 0)
		return -ENOMEM;
	snprintf(list, sizeof(list), "%s", o->preload);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(pre, json_string(tok));
	json_object_set_new(c, "runner", json_string(pexos_runner_py));
	json_object_set_new(c, "result_max", json_integer((json_int_t)o->result_max));
	json_object_set_new(c, "warm_pages", json_true());
	text = json_dumps(c, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	z->magic = PROTO_ZY_MAGIC;
	z->size = sizeof(*z);
	z->tmp_mb = o->tmp_mb;
	z->idle = p->idle;
	z->lockdown = *ctx->lockdown;
	len = strlen(text) + 1 + sizeof(*z);
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, strlen(text) + 1);
	memcpy(buf + strlen(text) + 1, z, sizeof(*z));
	return sandbox_memfd("pexos-zygote-config", buf, len);
}

/* The zygote's pid: the one child of the base sandbox's init. */
static pid_t zygote_pid(int init_pidfd)
{
	pid_t init = pidfd_pid(init_pidfd);
	char path[64], buf[64];
	ssize_t n;
	int fd;

	if (init <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init,
		 (int)init);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

static void retired_kill(struct pool *p, struct retired *r)
{
	sup_kill(r->pidfd);
	sup_reap(r->pidfd, NULL);
	close(r->pidfd);
	cg_run_destroy(&p->ctx->cg, &r->cg);
	free(r);
}

/* Stops the zygote and every slot the pool holds. Slots taken by runs are
 * not the pool's: unless the pool is stopping, the zygote's sandbox is
 * retired, not killed, and its init ends once those runs are over. */
static void zygote_stop(struct pool *p)
{
	struct retired *r = NULL;

	for (size_t i = 0; i < p->size; i++)
		if (p->slots[i].state != SLOT_EMPTY)
			slot_dispose(p, &p->slots[i], true);
	close_fds(&p->zctl, 1);
	close_fds(&p->zlog, 1);
	close_fds(&p->zproc.status, 1);
	if (p->zproc.pidfd >= 0 && !p->stop)
		r = calloc(1, sizeof(*r));
	if (r) {
		/* The zygote itself, if it still lives (a start that took too
		 * long): init's only child that is not a slot. */
		if (p->zpidfd >= 0)
			sup_kill(p->zpidfd);
		r->pidfd = p->zproc.pidfd;
		r->cg = p->zcg;
		r->next = p->retired;
		p->retired = r;
		p->zproc.pidfd = -1;
		memset(&p->zcg, 0, sizeof(p->zcg));
	} else if (p->zproc.pidfd >= 0) {
		sup_kill(p->zproc.pidfd);
		sup_reap(p->zproc.pidfd, NULL);
		close_fds(&p->zproc.pidfd, 1);
		cg_run_destroy(&p->ctx->cg, &p->zcg);
	}
	close_fds(&p->zpidfd, 1);
	p->zpid = 0;
	p->zstate = ZY_DOWN;
}

/* Removes retired zygote sandboxes whose init has ended; with `all`, kills
 * the rest. */
static void reap_retired(struct pool *p, bool all)
{
	struct retired **rp = &p->retired;

	while (*rp) {
		struct retired *r = *rp;
		struct pollfd pf = {.fd = r->pidfd, .events = POLLIN};

		if (!all && poll(&pf, 1, 0) == 0) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		retired_kill(p, r);
	}
}

static void zygote_log(struct pool *p);

/* The zygote died or failed: stop it and try again later. */
static void zygote_failed(struct pool *p, const char *why)
{
	uint64_t backoff = 1000;

	if (p->zlog >= 0) {
		/* Its last words: wait for the writers to close. */
		struct pollfd pf = {.fd = p->zlog, .events = POLLIN};
		uint64_t end = now_ms() + 500;
		while (poll(&pf, 1, (int)(end - now_ms())) > 0 &&
		       !(pf.revents & POLLHUP) && now_ms() < end)
			zygote_log(p);
		zygote_log(p);
	}
	if (why)
		set_error(p, "%s", why);
	if (p->zproc.status >= 0) {
		int st;
		struct pollfd pf = {.fd = p->zproc.status, .events = POLLIN};
		size_t n = strlen(p->error);

		if (poll(&pf, 1, 200) > 0 &&
		    read(p->zproc.status, &st, sizeof(st)) == sizeof(st)) {
			if (WIFSIGNALED(st))
				snprintf(p->error + n, sizeof(p->error) - n,
					 " (killed by signal %d)", WTERMSIG(st));
			else
				snprintf(p->error + n, sizeof(p->error) - n,
					 " (exit status %d)", WEXITSTATUS(st));
		}
	}
	if (p->log_len && !strstr(p->error, "zygote's last output")) {
		size_t n = strlen(p->error);
		snprintf(p->error + n, sizeof(p->error) - n,
			 " (the zygote's last output: %.*s)", (int)p->log_len,
			 p->log);
	}
	zygote_stop(p);
	p->failures++;
	for (unsigned i = 1; i < p->failures && backoff < RETRY_MAX_MS; i++)
		backoff *= 2;
	if (backoff > RETRY_MAX_MS)
		backoff = RETRY_MAX_MS;
	p->retry_at = now_ms() + backoff;
	pthread_cond_broadcast(&p->ready);
}

static void zygote_start(struct pool *p)
{
	struct pexos_context *ctx = p->ctx;
	int fds[ZY_NFD] = {-1, -1, -1, -1}, log[2] = {-1, -1}, sv[2] = {-1, -1};
	uint64_t zmem = ctx->opts.memory_mb * 2 > 2048 ? ctx->opts.memory_mb * 2
						      : 2048;
	pexos_error e = {0};
	int r;

	p->log_len = 0;
	p->error[0] = '\0';
	if (pipe2(log, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    fcntl(log[0], F_SETFL, O_NONBLOCK) < 0) {
		set_error(p, "create the zygote's pipes: %s", strerror(errno));
		goto fail;
	}
	fds[ZY_STDIN] = sandbox_memfd("pexos-zygote-stdin", "", 0);
	fds[ZY_CONFIG] = zygote_config(p);
	fds[ZY_LOG] = log[1];
	fds[ZY_CTL] = sv[1];
	log[1] = sv[1] = -1;
	if (fds[ZY_STDIN] < 0 || fds[ZY_CONFIG] < 0) {
		set_error(p, "create the zygote's configuration file");
		goto fail;
	}
	r = cg_zygote_create(&ctx->cg, zmem, 4 * p->size + 64, &p->zcg, &e);
	if (r == 0)
		r = sandbox_start_zygote(ctx, &p->zcg, fds, &p->zproc, &e);
	if (r < 0) {
		set_error(p, "start the zygote: %s: %s", e.step, e.message);
		goto fail;
	}
	p->zctl = sv[0];
	p->zlog = log[0];
	sv[0] = log[0] = -1;
	r = send_msg(p->zctl, "H", 1, &p->helper_fd, 1);
	if (r < 0) {
		set_error(p, "send the zygote its helper: %s", strerror(-r));
		zygote_failed(p, NULL);
		return;
	}
	p->zpid = zygote_pid(p->zproc.pidfd);
	p->zpidfd = p->zpid > 0 ? (int)syscall(SYS_pidfd_open, p->zpid, 0) : -1;
	p->zstate = ZY_STARTING;
	p->zstarted_ms = now_ms();
	p->restarts++;
	return;
fail:
	close_fds(fds, ZY_NFD);
	close_fds(log, 2);
	close_fds(sv, 2);
	cg_run_destroy(&ctx->cg, &p->zcg);
	zygote_failed(p, NULL);
}

static void zygote_message(struct pool *p)
{
	char buf[4096];
	int fds[2];
	size_t nfds;
	ssize_t n = recv_msg(p->zctl, buf, sizeof(buf) - 1, fds, 2, &nfds);
	struct pool_slot *s;
	uint32_t id;

	if (n == -EAGAIN) {
		close_fds(fds, nfds);
		return;
	}
	if (n <= 0) {
		close_fds(fds, nfds);
		zygote_failed(p, strstr(p->error, "could not start")
					 ? NULL
					 : n == 0 ? "the zygote exited" : "the zygote's socket failed");
		return;
	}
	buf[n] = '\0';
	if (buf[0] == 'Y' && p->zstate == ZY_STARTING) {
		/* From now on it only forks slots and reaps them, yielding
		 * the CPU to runs (a slot's wait status, needed only when its
		 * run gave no verdict, may then come a little later). */
		(void)cg_run_set_idle(&p->ctx->cg, &p->zcg, true);
		p->zstate = ZY_UP;
		p->fail_streak = 0;
		p->fill_after = 0;
		p->zready_ms = now_ms();
		p->failures = 0;
		p->error[0] = '\0';
	} else if (buf[0] == 'E') {
		set_error(p, "the zygote could not start: %s", buf + 1);
	} else if ((buf[0] == 'S' || buf[0] == 'F') && n >= 5) {
		memcpy(&id, buf + 1, 4);
		s = slot_by_id(p, id, SLOT_SPAWNING);
		if (buf[0] == 'S' && s && nfds == 2) {
			slot_spawned(p, s, fds);
			return;
		}
		if (buf[0] == 'F')
			set_error(p, "the zygote could not start a slot: %s",
				  buf + 5);
		if (s) {
			slot_failed(p);
			slot_dispose(p, s, true);
		}
	}
	close_fds(fds, nfds);
}

/* Keeps the tail of the zygote's output for error messages. */
static void zygote_log(struct pool *p)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(p->zlog, buf, sizeof(buf))) > 0) {
		size_t k = (size_t)n > sizeof(p->log) ? sizeof(p->log) : (size_t)n;
		const char *src = buf + n - k;

		if (p->log_len + k > sizeof(p->log)) {
			size_t drop = p->log_len + k - sizeof(p->log);
			memmove(p->log, p->log + drop, p->log_len - drop);
			p->log_len -= drop;
		}
		memcpy(p->log + p->log_len, src, k);
		p->log_len += k;
	}
	while (p->log_len && (p->log[p->log_len - 1] == '\n'))
		p->log_len--;
}

/* ---- the pool thread -------------------------------------------------- */

/* Asks the zygote for a slot in every empty place. While runs hold slots
 * and at least half the pool is ready, it waits: a slot's start costs tens
 * of milliseconds of CPU, which a run on a rested pool would otherwise
 * share (measured: hello 8 -> 6 ms, pandas describe 20 -> 14 ms at p50).
 * The last run's end, or a take that leaves fewer than half, wakes it. */
static void fill(struct pool *p)
{
	size_t ready = 0;

	if (now_ms() < p->fill_after)
		return;
	for (size_t i = 0; i < p->size; i++)
		ready += p->slots[i].state == SLOT_READY;
	if (p->in_use && ready * 2 >= p->size)
		return;
	for (size_t i = 0; i < p->size; i++)
		if (p->slots[i].state == SLOT_EMPTY &&
		    slot_spawn(p, &p->slots[i]) < 0)
			break;
}

static void check_timeouts(struct pool *p, uint64_t now)
{
	if (p->zstate == ZY_STARTING && now > p->zstarted_ms + ZYGOTE_START_MS)
		zygote_failed(p, "the zygote took too long to start");
}

static void *pool_main(void *arg)
{
	struct pool *p = arg;
	struct pollfd *pfd = calloc(p->size + 8, sizeof(*pfd));
	struct pool_slot **who = calloc(p->size + 8, sizeof(*who));

	pthread_mutex_lock(&p->lock);
	while (!p->stop && pfd && who) {
		uint64_t now = now_ms();
		int timeout = -1;
		size_t n = 0, zctl_i = 0, zlog_i = 0, zst_i = 0;

		if (p->zstate == ZY_DOWN && now >= p->retry_at)
			zygote_start(p);
		if (p->zstate == ZY_UP)
			fill(p);
		check_timeouts(p, now);
		pfd[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		if (p->zstate != ZY_DOWN) {
			zctl_i = n;
			pfd[n++] = (struct pollfd){.fd = p->zctl, .events = POLLIN};
			zlog_i = n;
			pfd[n++] = (struct pollfd){.fd = p->zlog, .events = POLLIN};
			zst_i = n;
			pfd[n++] = (struct pollfd){.fd = p->zproc.status,
						   .events = POLLIN};
			timeout = 1000;
		} else {
			timeout = (int)(p->retry_at > now ? p->retry_at - now : 0);
		}
		for (size_t i = 0; i < p->size; i++) {
			struct pool_slot *s = &p->slots[i];
			if (s->state == SLOT_STARTING || s->state == SLOT_READY) {
				who[n] = s;
				pfd[n++] = (struct pollfd){.fd = s->sock,
							   .events = POLLIN};
			}
		}
		if (p->graves)
			timeout = timeout < 0 || timeout > 5 ? 5 : timeout;
		if (p->retired)
			timeout = timeout < 0 || timeout > 100 ? 100 : timeout;
		if (p->fill_after > now && p->zstate == ZY_UP &&
		    (uint64_t)timeout > p->fill_after - now)
			timeout = (int)(p->fill_after - now);
		pthread_mutex_unlock(&p->lock);
		poll(pfd, n, timeout);
		pthread_mutex_lock(&p->lock);
		if (pfd[0].revents) {
			char buf[64];
			while (read(p->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (p->zstate != ZY_DOWN && pfd[zlog_i].revents)
			zygote_log(p);
		if (p->zstate != ZY_DOWN && pfd[zctl_i].revents)
			zygote_message(p);
		if (p->zstate != ZY_DOWN && pfd[zst_i].revents) {
			zygote_log(p);
			zygote_failed(p, "the zygote died");
		}
		for (size_t i = zst_i + 1; i < n; i++) {
			struct pool_slot *s = who[i];
			/* still the same slot, and it spoke or hung up */
			if (pfd[i].revents && s->sock == pfd[i].fd &&
			    (s->state == SLOT_STARTING || s->state == SLOT_READY))
				slot_message(p, s);
		}
		bury(p, false);
		reap_retired(p, false);
	}
	if (p->zstate != ZY_DOWN)
		zygote_stop(p);
	reap_retired(p, true);
	while (bury(p, true))
		;
	pthread_mutex_unlock(&p->lock);
	free(pfd);
	free(who);
	return NULL;
}

/* May the slots' warm-up run at SCHED_IDLE? Only if we can raise a slot
 * back to SCHED_OTHER when its script arrives. */
static bool can_renice(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (caps) {
		cap_get_flag(caps, CAP_SYS_NICE, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

int pool_start(struct pexos_context *ctx, pexos_error *err)
{
	struct pool *p;
	pthread_condattr_t ca;
	int r;

	if (ctx->opts.pool == 0)
		return 0;
	if (ctx->cg.mode == CG_NONE)
		return pexos_fail(err, ENOTSUP, "pool",
				  "the warm pool needs cgroups (each slot gets "
				  "its own); with --limits=rlimit set the pool "
				  "size to 0");
	p = calloc(1, sizeof(*p));
	if (!p)
		return pexos_fail(err, ENOMEM, "pool", "out of memory");
	p->ctx = ctx;
	p->size = ctx->opts.pool;
	p->zctl = p->zlog = p->zpidfd = -1;
	p->zproc.pidfd = p->zproc.status = -1;
	p->wake[0] = p->wake[1] = -1;
	p->idle = can_renice();
	p->helper_fd = exec_memfd("pexos-zygote-helper", pexos_zygote_helper,
				  pexos_zygote_helper_len);
	if (p->helper_fd < 0) {
		r = p->helper_fd;
		free(p);
		return pexos_fail_errno(err, -r, "pool",
					"hold the zygote's helper in memory");
	}
	p->slots = calloc(p->size, sizeof(*p->slots));
	if (!p->slots || pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(p->slots);
		close_fds(p->wake, 2);
		close(p->helper_fd);
		free(p);
		return pexos_fail(err, ENOMEM, "pool", "out of memory");
	}
	for (size_t i = 0; i < p->size; i++)
		slot_reset(&p->slots[i]);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->ready, &ca);
	pthread_condattr_destroy(&ca);
	ctx->pool = p;
	r = pthread_create(&p->thread, NULL, pool_main, p);
	if (r != 0) {
		ctx->pool = NULL;
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->ready);
		close_fds(p->wake, 2);
		close(p->helper_fd);
		free(p->slots);
		free(p);
		return pexos_fail_errno(err, r, "pool", "start the pool's thread");
	}
	p->thread_started = true;
	return 0;
}

void pool_stop(struct pexos_context *ctx)
{
	struct pool *p = ctx ? ctx->pool : NULL;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->lock);
	wake_thread(p);
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->ready);
	close_fds(p->wake, 2);
	close(p->helper_fd);
	free(p->slots);
	free(p);
	ctx->pool = NULL;
}

/* ---- runs ------------------------------------------------------------- */

/* Takes a ready slot, waiting up to pool_wait while the pool is healthy. */
static bool acquire(struct pool *p, struct pool_slot *out)
{
	uint64_t deadline = now_ms() + p->ctx->opts.pool_wait_ms;
	struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
			      .tv_nsec = (long)(deadline % 1000) * 1000000};

	pthread_mutex_lock(&p->lock);
	for (;;) {
		/* The slot that became ready last. On our VM a slot that has
		 * waited long runs measurably slower (hello 4 ms rested, 6 to
		 * 7 ms for the one ready the longest: README, Benchmarks), as
		 * if the hypervisor had dropped its mappings meanwhile; under
		 * load the choice makes no difference. */
		struct pool_slot *best = NULL;

		for (size_t i = 0; i < p->size; i++)
			if (p->slots[i].state == SLOT_READY &&
			    (!best || p->slots[i].t_ready > best->t_ready))
				best = &p->slots[i];
		if (best) {
			*out = *best;
			slot_reset(best);
			p->hits++;
			p->in_use++;
			pthread_mutex_unlock(&p->lock);
			wake_thread(p);
			return true;
		}
		/* A pool that failed falls back at once; a starting one is
		 * worth waiting for. */
		if (p->stop || atomic_load(&p->ctx->cancelled) ||
		    (p->zstate != ZY_UP && p->failures > 0) ||
		    p->fail_streak >= 3 ||
		    now_ms() >= deadline) {
			p->misses++;
			pthread_mutex_unlock(&p->lock);
			return false;
		}
		pthread_cond_timedwait(&p->ready, &p->lock, &ts);
	}
}

struct pool_watch {
	const struct pexos_context *ctx;
	const struct cg_run *cg;
	uint64_t cpu0, limit_ms;
	bool cancelled;
};

static bool pool_over(void *arg)
{
	struct pool_watch *w = arg;

	if (atomic_load(&w->ctx->cancelled))
		return w->cancelled = true;
	return cg_run_cpu_ms(&w->ctx->cg, w->cg) >= w->cpu0 + w->limit_ms;
}

static int watch(struct pool_lease *l, const struct run_plan *plan,
		 struct sandbox_result *res, bool streams, pexos_error *err)
{
	struct pool_slot *s = &l->slot;
	struct pool_watch pw = {l->pool->ctx, &s->cg, l->cpu0, plan->cpu_ms,
				false};
	struct sup_watch w = {
		.deadline_ms = l->t0 + plan->wall_ms,
		.over = pool_over,
		.arg = &pw,
		.period_ms = 100,
		.kill_fd = s->init_pidfd,
		.end_on_eof = streams,
		.exited = !l->pending,
	};
	struct sup_stream st[] = {
		{s->out, &res->out},
		{s->err, &res->err},
		{s->res, &res->res},
	};
	int r = sup_monitor(s->status, st, streams ? ELEMENTSOF(st) : 0, &w);

	s->out = st[0].fd, s->err = st[1].fd, s->res = st[2].fd;
	res->timed_out |= w.timed_out;
	res->cpu_over |= w.tripped && !pw.cancelled;
	if (w.exited && l->pending) {
		l->pending = false;
		res->have_status = read(s->status, &res->status,
					sizeof(res->status)) ==
				   sizeof(res->status);
	}
	if (r < 0)
		return pexos_fail_errno(err, -r, "monitor", "watch the run");
	if (pw.cancelled)
		return pexos_fail(err, ECANCELED, "cancel",
				  "the run was cancelled: pexos is shutting "
				  "down");
	return 0;
}

static void fill_stats(struct pool_lease *l, struct sandbox_result *res)
{
	const struct pexos_context *ctx = l->pool->ctx;
	uint64_t cpu = cg_run_cpu_ms(&ctx->cg, &l->slot.cg);

	res->wall_ms = now_ms() - l->t0;
	res->cpu_ms = cpu > l->cpu0 ? cpu - l->cpu0 : 0;
	res->max_rss_kb = cg_run_peak_kb(&ctx->cg, &l->slot.cg);
	res->oom = cg_run_oom(&ctx->cg, &l->slot.cg);
}

/* Hands the script over. Returns 0, or -errno when the slot cannot take
 * it (the run then goes to another slot or the cold path). */
static int hand_off(struct pool_lease *l, const struct run_plan *plan)
{
	struct pexos_context *ctx = l->pool->ctx;
	struct pool_slot *s = &l->slot;
	int fds[2] = {-1, -1}, r;
	char msg[9] = "J";

	if (plan->memory_mb != ctx->opts.memory_mb) {
		r = cg_run_set_memory(&ctx->cg, &s->cg, plan->memory_mb);
		if (r < 0)
			return r;
	}
	if (s->cg_idle && cg_run_set_idle(&ctx->cg, &s->cg, false) < 0)
		return -EIO;
	if (l->pool->idle)
		slot_sched(s->pid, false);
	fds[0] = sandbox_memfd("pexos-script", plan->script, plan->script_len);
	fds[1] = sandbox_memfd("pexos-stdin", plan->stdin_data, plan->stdin_len);
	if (fds[0] < 0 || fds[1] < 0) {
		r = fds[0] < 0 ? fds[0] : fds[1];
		close_fds(fds, 2);
		return r;
	}
	memcpy(msg + 1, &plan->cpu_ms, 8);
	l->t0 = now_ms();
	l->cpu0 = cg_run_cpu_ms(&ctx->cg, &s->cg);
	r = send_msg(s->sock, msg, sizeof(msg), fds, 2);
	close_fds(fds, 2);
	close_fds(&s->sock, 1);
	return r;
}

int pool_run(struct pool *p, const struct run_plan *plan, struct pool_lease *l,
	     struct sandbox_result *res, pexos_error *err)
{
	int r;

	memset(l, 0, sizeof(*l));
	slot_reset(&l->slot);
	if (!p)
		return 0;
	for (int tries = 0;; tries++) {
		if (!acquire(p, &l->slot))
			return 0;
		l->pool = p;
		if (hand_off(l, plan) == 0)
			break;
		slot_dispose(p, &l->slot, false);
		l->pool = NULL;
		if (tries == 2)
			return 0;
	}
	l->pending = true;
	memset(res, 0, sizeof(*res));
	res->out.max = p->ctx->opts.output_max;
	res->err.max = p->ctx->opts.output_max;
	res->res.max = p->ctx->opts.result_max + 65536;
	r = watch(l, plan, res, true, err);
	fill_stats(l, res);
	if (r < 0) {
		sandbox_result_done(res);
		pool_release(l);
		return r;
	}
	return 1;
}

int pool_finish(struct pool_lease *l, const struct run_plan *plan,
		struct sandbox_result *res, pexos_error *err)
{
	int r = 0;

	if (l->pending)
		r = watch(l, plan, res, false, err);
	fill_stats(l, res);
	return r;
}

void pool_release(struct pool_lease *l)
{
	if (l->pool)
		slot_dispose(l->pool, &l->slot, false);
	l->pool = NULL;
}

/* ---- state ------------------------------------------------------------ */

/* Resident and private memory of a process (smaps_rollup), in KiB.
 * Returns 0, or -1 (then both are -1). */
static int smaps_kb(pid_t pid, long *rss, long *priv)
{
	char path[64], buf[4096], *l;

	*rss = *priv = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	l = strstr(buf, "\nRss:");
	*rss = l ? strtol(l + 5, NULL, 10) : -1;
	*priv = 0;
	for (l = buf; (l = strstr(l, "\nPrivate_")); l++) {
		char *v = strchr(l, ':');
		if (v)
			*priv += strtol(v + 1, NULL, 10);
	}
	return 0;
}

char *pool_status_json(struct pool *p)
{
	static const char *const names[] = {"down", "starting", "up"};
	size_t ready = 0, starting = 0, n_priv = 0;
	long priv = 0, priv_max = 0, rss, kb;
	pid_t sample[4], zpid;
	json_t *o;
	char *s;

	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size; i++) {
		if (p->slots[i].state == SLOT_READY) {
			if (ready < ELEMENTSOF(sample))
				sample[ready] = p->slots[i].pid;
			ready++;
		} else if (p->slots[i].state != SLOT_EMPTY) {
			starting++;
		}
	}
	zpid = p->zpid;
	o = json_pack("{sIsIsIsIss}", "size", (json_int_t)p->size, "ready",
		      (json_int_t)ready, "starting", (json_int_t)starting,
		      "in_use", (json_int_t)p->in_use, "state",
		      names[p->zstate]);
	if (o) {
		json_object_set_new(o, "hits", json_integer((json_int_t)p->hits));
		json_object_set_new(o, "misses",
				    json_integer((json_int_t)p->misses));
		json_object_set_new(o, "slots_started",
				    json_integer((json_int_t)p->spawned));
		json_object_set_new(o, "slot_failures",
				    json_integer((json_int_t)p->slot_failures));
		json_object_set_new(o, "zygote_starts",
				    json_integer((json_int_t)p->restarts));
		json_object_set_new(o, "preload",
				    json_string(p->ctx->opts.preload));
		if (p->start_n)
			json_object_set_new(
				o, "slot_start_ms",
				json_real((double)p->start_ms_sum /
					  (double)p->start_n));
		if (p->zready_ms && p->zstate == ZY_UP)
			json_object_set_new(
				o, "zygote_start_ms",
				json_integer((json_int_t)(p->zready_ms -
							  p->zstarted_ms)));
		if (p->error[0])
			json_object_set_new(o, "error", json_string(p->error));
	}
	pthread_mutex_unlock(&p->lock);
	if (!o)
		return NULL;
	/* Outside the lock: reading smaps walks page tables. */
	if (zpid > 0 && smaps_kb(zpid, &rss, &kb) == 0) {
		json_object_set_new(o, "zygote_rss_kb", json_integer(rss));
		json_object_set_new(o, "zygote_private_kb", json_integer(kb));
	}
	for (size_t i = 0; i < ready && i < ELEMENTSOF(sample); i++) {
		if (smaps_kb(sample[i], &rss, &kb) == 0) {
			priv += kb;
			n_priv++;
			if (kb > priv_max)
				priv_max = kb;
		}
	}
	if (n_priv) {
		json_object_set_new(o, "slot_private_kb",
				    json_integer(priv / (long)n_priv));
		json_object_set_new(o, "slot_private_kb_max",
				    json_integer(priv_max));
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
