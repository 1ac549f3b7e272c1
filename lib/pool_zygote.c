/* SPDX-License-Identifier: MIT */
/*
 * pool_zygote.c - the warm pool's zygote: a base sandbox (see
 * sandbox_start_zygote) whose interpreter imports the preload list and
 * forks a process per slot.
 *
 * Everything here runs on the pool thread, which alone owns the zygote's
 * descriptors, cgroup and log: the slow parts (the base sandbox's clone
 * and cgroup, waiting for its last words) run unlocked, and only the
 * zygote's state, counters and error text are published under the lock
 * (pool_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fdpass.h"
#include "jalloc.h"
#include "lockdown.h"
#include "pool_int.h"
#include "proto.h"
#include "supervise.h"
#include "util.h"

extern const char pexos_runner_py[];

/* PEXOS_TEST_NO_PAGE_SETS: pexos(7), a hook for the test suite. */
static bool test_no_page_sets(void)
{
	const char *v = secure_getenv("PEXOS_TEST_NO_PAGE_SETS");

	return v && strcmp(v, "1") == 0;
}

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
	char list[sizeof(p->preload)], *save = NULL, *tok;
	size_t len;

	if (!z || !c || !pre || json_object_set_new(c, "preload", pre) < 0)
		return -ENOMEM;
	snprintf(list, sizeof(list), "%s", p->preload);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(pre, json_string(tok));
	json_object_set_new(c, "runner", json_string(pexos_runner_py));
	json_object_set_new(c, "result_max", json_integer((json_int_t)o->result_max));
	json_object_set_new(c, "warm_pages", json_boolean(!test_no_page_sets()));
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
void zygote_stop(struct pool *p)
{
	struct retired *r = NULL;

	for (size_t i = 0; i < p->size; i++)
		slot_dispose_entry(p, &p->slots[i]);
	close_fds(&p->zctl, 1);
	close_fds(&p->zlog, 1);
	close_fds(&p->zproc.status, 1);
	if (p->zproc.pidfd >= 0 && !pool_stopping(p))
		r = calloc(1, sizeof(*r));
	if (r) {
		/* The zygote itself, if it still lives (a start that took too
		 * long): init's only child that is not a slot. */
		if (p->zpidfd >= 0)
			sup_kill(p->zpidfd);
		r->pidfd = p->zproc.pidfd;
		r->cg = p->zcg;
		r->since = now_ms();
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
	pthread_mutex_lock(&p->lock);
	p->zpid = 0;
	p->zstate = ZY_DOWN;
	pthread_mutex_unlock(&p->lock);
}

/* A run on a slot ends within its wall-clock limit (at most the
 * context's), the kill's and the drain's grace (supervise.c) and its
 * teardown: a retired sandbox is kept no longer than that. */
#define RETIRED_GRACE_MS 10000

/* Removes retired zygote sandboxes whose init has ended; with `all`, kills
 * the rest; else also those no run can still need (struct retired). */
void reap_retired(struct pool *p, bool all)
{
	struct retired **rp = &p->retired;
	uint64_t now = now_ms();
	bool idle;

	pthread_mutex_lock(&p->lock);
	idle = p->in_use == 0;
	pthread_mutex_unlock(&p->lock);
	while (*rp) {
		struct retired *r = *rp;
		struct pollfd pf = {.fd = r->pidfd, .events = POLLIN};
		bool needed = !idle && now < r->since + p->ctx->opts.wall_ms +
						 RETIRED_GRACE_MS;

		if (!all && needed && poll(&pf, 1, 0) == 0) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		retired_kill(p, r);
	}
}

/* The zygote died or failed: stop it and try again later. */
void zygote_failed(struct pool *p, const char *why)
{
	unsigned failures;

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

		if (poll(&pf, 1, 200) > 0 &&
		    read(p->zproc.status, &st, sizeof(st)) == sizeof(st)) {
			if (WIFSIGNALED(st))
				add_error(p, " (killed by signal %d)",
					  WTERMSIG(st));
			else
				add_error(p, " (exit status %d)",
					  WEXITSTATUS(st));
		}
	}
	/* p->error is written by this thread only: reading it needs no lock. */
	if (p->log_len && !strstr(p->error, "zygote's last output"))
		add_error(p, " (the zygote's last output: %.*s)",
			  (int)p->log_len, p->log);
	zygote_stop(p);
	pthread_mutex_lock(&p->lock);
	failures = ++p->failures;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->lock);
	p->retry_at = now_ms() + pool_backoff_ms(failures, 1000, RETRY_MAX_MS);
}

/* PEXOS_TEST_ZYGOTE_DELAY_MS (pexos(7), a test hook): the zygote's start
 * takes that much longer, as a slow host would make it. Cut short when the
 * pool stops. */
static void test_delay(struct pool *p)
{
	uint64_t end = now_ms() + p->test_delay_ms;

	while (p->test_delay_ms && !pool_stopping(p) && now_ms() < end) {
		struct pollfd pf = {.fd = p->wake[0], .events = POLLIN};
		char buf[64];

		if (poll(&pf, 1, (int)(end - now_ms())) > 0)
			while (read(p->wake[0], buf, sizeof(buf)) > 0)
				;
	}
}

/* Its base sandbox is up: publish the zygote's pid (its pidfd is this
 * thread's) and wait for its PROTO_MSG_UP. */
static void zygote_started(struct pool *p)
{
	pid_t zpid = zygote_pid(p->zproc.pidfd);

	p->zpidfd = zpid > 0 ? (int)syscall(SYS_pidfd_open, zpid, 0) : -1;
	pthread_mutex_lock(&p->lock);
	p->zpid = zpid;
	p->zstarted_ms = now_ms();
	p->restarts++;
	pthread_mutex_unlock(&p->lock);
}

/* Unlocked but for publishing: the base sandbox's clone and cgroup take
 * up to its set-up deadline. */
void zygote_start(struct pool *p)
{
	struct pexos_context *ctx = p->ctx;
	int fds[ZY_NFD] = {-1, -1, -1, -1}, log[2] = {-1, -1}, sv[2] = {-1, -1};
	uint64_t zmem = ctx->opts.memory_mb * 2 > 2048 ? ctx->opts.memory_mb * 2
						      : 2048;
	pexos_error e = {0};
	int r;

	p->log_len = 0;
	pthread_mutex_lock(&p->lock);
	p->error[0] = '\0';
	p->zstate = ZY_STARTING;
	pthread_mutex_unlock(&p->lock);
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
	test_delay(p);
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
	r = fdpass_send(p->zctl, &(char){PROTO_MSG_HELPER}, 1, &p->helper_fd, 1);
	if (r < 0) {
		set_error(p, "send the zygote its helper: %s", strerror(-r));
		zygote_failed(p, NULL);
		return;
	}
	zygote_started(p);
	return;
fail:
	close_fds(fds, ZY_NFD);
	close_fds(log, 2);
	close_fds(sv, 2);
	cg_run_destroy(&ctx->cg, &p->zcg);
	zygote_failed(p, NULL);
}

static struct pool_slot *slot_by_id(struct pool *p, uint32_t id, int state)
{
	struct pool_slot *s = NULL;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size && !s; i++)
		if (p->slots[i].state == state && p->slots[i].id == id)
			s = &p->slots[i];
	pthread_mutex_unlock(&p->lock);
	return s; /* a SPAWNING slot is this thread's: no lock from here */
}

void zygote_message(struct pool *p)
{
	char buf[4096];
	int fds[2];
	size_t nfds;
	ssize_t n = fdpass_recv(p->zctl, buf, sizeof(buf) - 1, fds, 2, &nfds);
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
	if (buf[0] == PROTO_MSG_UP && p->zstate == ZY_STARTING) {
		/* From now on it only forks slots and reaps them, yielding
		 * the CPU to runs (a slot's wait status, needed only when its
		 * run gave no verdict, may then come a little later). */
		long rss, priv;

		(void)cg_run_set_idle(&p->ctx->cg, &p->zcg, true);
		pool_smaps_kb(p->zpid, &rss, &priv);
		pthread_mutex_lock(&p->lock);
		p->zygote_rss_kb = rss;
		p->zygote_private_kb = priv;
		p->zstate = ZY_UP;
		p->fail_streak = 0;
		p->fill_after = 0;
		p->zready_ms = now_ms();
		p->failures = 0;
		p->error[0] = '\0';
		pthread_mutex_unlock(&p->lock);
	} else if (buf[0] == PROTO_MSG_ERROR) {
		set_error(p, "the zygote could not start: %s", buf + 1);
	} else if ((buf[0] == PROTO_MSG_SLOT || buf[0] == PROTO_MSG_SLOT_FAILED) &&
		   n >= PROTO_MSG_ID_LEN) {
		memcpy(&id, buf + 1, 4);
		s = slot_by_id(p, id, SLOT_SPAWNING);
		if (buf[0] == PROTO_MSG_SLOT && s && nfds == 2) {
			slot_spawned(p, s, fds);
			return;
		}
		if (buf[0] == PROTO_MSG_SLOT_FAILED)
			set_error(p, "the zygote could not start a slot: %s",
				  buf + PROTO_MSG_ID_LEN);
		if (s) {
			slot_failed(p);
			slot_dispose(p, s, false);
		}
	}
	close_fds(fds, nfds);
}

/* Keeps the tail of the zygote's output for error messages. */
void zygote_log(struct pool *p)
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
