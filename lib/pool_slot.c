/* SPDX-License-Identifier: MIT */
/*
 * pool_slot.c - one slot of the warm pool: asked of the zygote, moved into
 * a cgroup of its own, released, ready; killed after its run, its cgroup
 * removed once its processes are gone.
 *
 * The pool thread sets a slot up unlocked (it owns it while it is SPAWNING
 * or STARTING) and publishes each step under the lock (pool_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "fdpass.h"
#include "pool_int.h"
#include "proto.h"
#include "sched_attr.h"
#include "supervise.h"
#include "util.h"

/* A slot's scheduling: while it is set up, waits or is torn down,
 * SCHED_IDLE at nice 19 with the shortest slice (0.1 ms), so that it gives
 * the CPU back soon even when it is ahead of its share; for its run, the
 * defaults. The nice change makes the scheduler check at once whether the
 * slot should preempt the running task. */
void slot_sched(pid_t pid, bool idle)
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

/* The pid behind a pidfd, as this process sees it, or -1. */
pid_t pidfd_pid(int pidfd)
{
	char path[64], buf[1024], *l;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	l = strstr(buf, "\nPid:");
	return l ? (pid_t)strtol(l + 5, NULL, 10) : -1;
}

void slot_reset(struct pool_slot *s)
{
	memset(s, 0, sizeof(*s));
	s->sock = s->out = s->err = s->res = s->status = -1;
	s->pidfd = s->init_pidfd = -1;
	s->private_kb = -1;
	s->state = SLOT_EMPTY;
}

/* Kills the slot's processes and queues its cgroup for removal. `s` is
 * the caller's: a run's copy (`run`), or one the pool thread owns (an
 * entry it set up, or a ready one it took back). Never under the lock. */
void slot_dispose(struct pool *p, struct pool_slot *s, bool run)
{
	struct grave *g = calloc(1, sizeof(*g));

	/* A run's slot: its teardown (freeing an interpreter's worth of
	 * page tables) yields the CPU to the other runs. */
	if (run && s->cg_idle)
		(void)cg_run_set_idle(&p->ctx->cg, &s->cg, true);
	if (run && p->idle)
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
	} else {
		g->cg = s->cg;
		g->init_pidfd = s->init_pidfd;
	}
	pthread_mutex_lock(&p->lock);
	if (run && p->in_use)
		p->in_use--;
	if (g) {
		g->next = p->graves;
		p->graves = g;
	}
	/* An entry of the table becomes EMPTY under the lock. */
	slot_reset(s);
	pthread_mutex_unlock(&p->lock);
	/* A run's end may let either profile refill (pool_fill_due counts
	 * the runs of the whole set). */
	for (int i = 0; i < POOL_PROFILES; i++)
		if (p->set->pool[i] && (run || p->set->pool[i] == p))
			wake_thread(p->set->pool[i]);
}

/* Takes an entry the pool thread may work on: a ready one is taken out of
 * the table (into *copy), as a run would take it; one being set up is the
 * thread's already. `id` 0 matches any. Returns the slot, or NULL when the
 * entry is empty or no longer that slot (a run took it). */
static struct pool_slot *slot_claim(struct pool *p, struct pool_slot *entry,
				    uint32_t id, struct pool_slot *copy)
{
	struct pool_slot *s = entry;

	pthread_mutex_lock(&p->lock);
	if (entry->state == SLOT_EMPTY || (id && entry->id != id)) {
		s = NULL;
	} else if (entry->state == SLOT_READY) {
		*copy = *entry;
		slot_reset(entry);
		s = copy;
	}
	pthread_mutex_unlock(&p->lock);
	return s;
}

void slot_dispose_entry(struct pool *p, struct pool_slot *entry)
{
	struct pool_slot copy, *s = slot_claim(p, entry, 0, &copy);

	if (s)
		slot_dispose(p, s, false);
}

/* Whether the slot's pid 1, killed when it was disposed of, is still
 * there: until it has exited, so have not all of its PID namespace's
 * processes, and an rmdir of its cgroups could only fail. */
static bool init_alive(const struct grave *g)
{
	struct pollfd pf = {.fd = g->init_pidfd, .events = POLLIN};

	return g->init_pidfd >= 0 && poll(&pf, 1, 0) == 0;
}

/* Removes the cgroups of disposed slots whose processes are gone: takes
 * the list under the lock, works on it unlocked. Returns true while some
 * remain. Without `wait`, a slot whose pid 1 has not exited yet is left
 * for a later call untouched (its teardown at idle priority takes some
 * milliseconds; trying its cgroups meanwhile cost an rmdir, a read of
 * cgroup.procs and a kill each time). */
bool bury(struct pool *p, bool wait)
{
	struct grave *list, *left = NULL;
	bool more;

	pthread_mutex_lock(&p->lock);
	list = p->graves;
	p->graves = NULL;
	pthread_mutex_unlock(&p->lock);
	while (list) {
		struct grave *g = list;

		list = g->next;
		if (!wait && init_alive(g)) {
			g->next = left;
			left = g;
		} else if (cg_run_try_destroy(&p->ctx->cg, &g->cg, wait) == 0) {
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
	more = p->graves != NULL;
	pthread_mutex_unlock(&p->lock);
	return more;
}

static void slot_publish(struct pool *p, struct pool_slot *s,
			 enum slot_event ev)
{
	pthread_mutex_lock(&p->lock);
	s->state = pool_slot_next(s->state, ev);
	pthread_mutex_unlock(&p->lock);
}

_Static_assert(PROTO_SLOT_CG_MAX >= CG1_N, "a tasks file per v1 hierarchy");
_Static_assert(PROTO_SLOT_NFD_MAX <= FDPASS_MAX, "a slot request's fds");

/* This thread only (raw calls), until as_root_again: effective uid the
 * runs' setup id, as a slot's processes are before their lockdown, with
 * fsuid 0 to open pexos's own files. cgroup v1 lets a process move
 * another (or itself, through a file) only as the host's root or with
 * the other's uid, the opener's on a file (see slot_attach). */
static int as_setup_id(const struct pool *p)
{
	if (syscall(SYS_setresuid, -1, (uid_t)p->ctx->opts.uid_base, -1) < 0)
		return -1;
	syscall(SYS_setfsuid, 0);
	return 0;
}

static void as_root_again(void)
{
	if (syscall(SYS_setresuid, -1, 0, -1) < 0)
		abort(); /* ruid 0 allows it: cannot happen */
}

/* cgroup v1: the `tasks` file of each directory of the slot's cgroup, for
 * its processes to enter it themselves (proto.h, PROTO_SLOT_CG_MAX), into
 * fds (cg_run_open_tasks). The kernel checks the writer against the
 * opener's euid, here the setup uid of the zygote and of the processes it
 * forks (fsuid 0 opens pexos's files; see slot_attach). Returns how many
 * (run->n), or 0: then slot_spawned moves them (cgroup v2, or a file that
 * would not open). */
static size_t open_tasks(const struct pool *p, const struct cg_run *run,
			 int fds[PROTO_SLOT_CG_MAX])
{
	int n;

	if (p->ctx->cg.mode != CG_V1 || geteuid() != 0 || as_setup_id(p) < 0)
		return 0;
	n = cg_run_open_tasks(&p->ctx->cg, run, fds);
	as_root_again();
	return (size_t)n;
}

/* Asks the zygote for a new slot process. `s` was reserved (SPAWNING) by
 * the pool thread; on failure its entry is EMPTY again. */
int slot_spawn(struct pool *p, struct pool_slot *s)
{
	const struct pexos_context *ctx = p->ctx;
	int sv[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int res[2] = {-1, -1}, status[2] = {-1, -1};
	char msg[PROTO_MSG_ID_LEN] = {PROTO_MSG_SLOT};
	pexos_error e = {0};
	int r;

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
		int fds[PROTO_SLOT_NFD_MAX] = {
			[PROTO_SLOT_REQ_SOCK] = sv[1],
			[PROTO_SLOT_REQ_STDOUT] = out[1],
			[PROTO_SLOT_REQ_STDERR] = err[1],
			[PROTO_SLOT_REQ_RESULT] = res[1],
			[PROTO_SLOT_REQ_STATUS] = status[1],
		};
		size_t n_cg = open_tasks(p, &s->cg, fds + PROTO_SLOT_NFD);

		s->self_attach = n_cg > 0;
		r = fdpass_send(p->zctl, msg, sizeof(msg), fds,
				PROTO_SLOT_NFD + n_cg);
		close_fds(fds + PROTO_SLOT_NFD, n_cg);
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
	s->t_spawn = now_ms();
	pthread_mutex_lock(&p->lock);
	p->spawned++;
	pthread_mutex_unlock(&p->lock);
	return 0;
fail:
	close_fds(sv, 2);
	close_fds(out, 2);
	close_fds(err, 2);
	close_fds(res, 2);
	close_fds(status, 2);
	cg_run_destroy(&ctx->cg, &s->cg);
	pthread_mutex_lock(&p->lock);
	slot_reset(s);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* A slot failed to start: back off before the next, up to 5 s. */
void slot_failed(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	pool_note_slot_failure(p, now_ms());
	pthread_mutex_unlock(&p->lock);
}

/* Moves `pid`, still the runs' setup id uid_base like the zygote that
 * forked it, into the slot's cgroup. cgroup v1 lets a writer of
 * cgroup.procs move a process only if the writer (its euid when it opened
 * the file) is the host's root or has the process's uid: in a container's
 * user namespace pexos is neither, so there the file is opened with euid
 * uid_base and fsuid 0 (pexos's own, the file's owner: the run's cgroup
 * is pexos's). Raw calls (as_setup_id): they change this thread's ids
 * only, and the first line's ids come back before any other work. */
static int slot_attach(const struct pool *p, const struct cg_run *run,
		       pid_t pid, pexos_error *e)
{
	const struct pexos_context *ctx = p->ctx;
	char path[PATH_MAX + 16], num[32];
	int fd, r, saved;

	r = cg_run_attach(run, pid, e);
	if (r == 0 || ctx->cg.mode != CG_V1 || e->code != EACCES ||
	    geteuid() != 0)
		return r;
	snprintf(num, sizeof(num), "%d", (int)pid);
	for (int i = 0; i < run->n; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", run->path[i]);
		if (as_setup_id(p) < 0)
			return pexos_fail_errno(e, errno, "cgroup",
						"take the slot's uid");
		fd = open(path, O_WRONLY | O_CLOEXEC);
		saved = errno;
		as_root_again();
		if (fd < 0)
			return pexos_fail_errno(e, saved, "cgroup", "open %s",
						path);
		r = write_all(fd, num, strlen(num));
		close(fd);
		if (r < 0)
			return pexos_fail_errno(e, -r, "cgroup",
						"set %s to %s", path, num);
	}
	return 0;
}

/* The zygote forked the slot: move it into its cgroup, unless its
 * processes enter it themselves (open_tasks; checked when it says it is
 * ready, slot_message), and release it. */
void slot_spawned(struct pool *p, struct pool_slot *s, int fds[2])
{
	pexos_error e = {0};

	s->pidfd = fds[0];
	s->init_pidfd = fds[1];
	s->pid = pidfd_pid(s->pidfd);
	s->init = pidfd_pid(s->init_pidfd);
	if (s->pid <= 0 || s->init <= 0) {
		set_error(p, "a slot's process is gone before it started");
		goto fail;
	}
	if (!s->self_attach) {
		if (slot_attach(p, &s->cg, s->init, &e) < 0 ||
		    slot_attach(p, &s->cg, s->pid, &e) < 0) {
			set_error(p, "%s", e.message);
			goto fail;
		}
		cg_run_note(&p->ctx->cg, s->pid, &s->cg_seen);
	}
	s->kinds = pool_slot_kinds(p);
	if (fdpass_send(s->sock,
			(char[PROTO_MSG_GO_LEN]){PROTO_MSG_GO, (char)s->kinds},
			PROTO_MSG_GO_LEN, NULL, 0) < 0)
		goto fail;
	slot_publish(p, s, EV_FORKED);
	return;
fail:
	slot_failed(p);
	slot_dispose(p, s, false);
}

/* The page sets a new slot of `p` makes its own, by recent demand
 * (pool_kinds_wanted): a lean zygote has only the runner's. */
unsigned pool_slot_kinds(struct pool *p)
{
	unsigned k;

	if (p->profile == POOL_LEAN)
		return PROTO_KIND_BASE;
	pthread_mutex_lock(&p->set->lock);
	k = pool_kinds_wanted(&p->set->demand, now_ms());
	pthread_mutex_unlock(&p->set->lock);
	return k;
}

/* Tells the ready slots that lack page sets recent runs need to make
 * them their own while they wait (at idle priority, as the rest of their
 * warm-up): when demand moves from numpy to pandas scripts, the slots
 * made for the former are ready for the latter before a run takes them.
 * One short datagram each, sent without waiting under the lock (a run
 * takes a READY slot, and closes its socket, only under it). */
void slot_upgrade(struct pool *p)
{
	unsigned want = pool_slot_kinds(p);

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size; i++) {
		struct pool_slot *s = &p->slots[i];
		unsigned add = want & ~s->kinds;
		char msg[PROTO_MSG_MORE_LEN] = {PROTO_MSG_MORE, (char)add};

		if (s->state != SLOT_READY || !add)
			continue;
		if (send(s->sock, msg, sizeof(msg),
			 MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(msg))
			s->kinds |= add;
	}
	pthread_mutex_unlock(&p->lock);
}

/* A slot of the table that was STARTING or READY when polled (`id`) spoke
 * or hung up. */
void slot_message(struct pool *p, struct pool_slot *entry, uint32_t id)
{
	struct pool_slot copy, *s = slot_claim(p, entry, id, &copy);
	char buf[4096];
	int fds[2];
	size_t nfds;
	ssize_t n;

	if (!s)
		return; /* a run took it meanwhile */
	n = fdpass_recv(s->sock, buf, sizeof(buf) - 1, fds, 2, &nfds);
	close_fds(fds, nfds);
	if (n == -EAGAIN) {
		if (s == &copy) {
			/* Nothing after all: it goes back, still ready (only
			 * this thread fills an empty entry). */
			pthread_mutex_lock(&p->lock);
			*entry = copy;
			pthread_cond_broadcast(&p->ready);
			pthread_mutex_unlock(&p->lock);
		}
		return;
	}
	if (n == 1 && buf[0] == PROTO_MSG_WAITING &&
	    pool_slot_next(s->state, EV_READY) == SLOT_READY) {
		/* It goes on faulting in pages while it waits, still on idle
		 * CPU time (see slot_spawn); hand_off raises it. Its private
		 * memory is final: what a run writes is its own already. It
		 * is read from its cgroup, charged with the pages the slot
		 * made its own (and its kernel memory), not from its page
		 * tables: walking them cost each slot about 0.5 ms of CPU
		 * (the resting pool reads those too: pool_measure). */
		uint64_t t = now_ms();

		/* Its processes entered its cgroup themselves (they exit when
		 * they cannot): trusted only once every directory lists both,
		 * before it may take a run (hand_off checks the note). */
		if (s->self_attach) {
			if (cg_run_holds_noted(&p->ctx->cg, &s->cg, s->pid,
					       s->init, &s->cg_seen) < 0) {
				set_error(p, "a slot's processes are not in "
					     "its cgroup");
				goto failed;
			}
		}
		s->private_kb = cg_run_usage_kb(&p->ctx->cg, &s->cg);
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_READY;
		s->t_ready = t;
		p->fail_streak = 0;
		p->start_ms_sum += s->t_ready - s->t_spawn;
		p->start_n++;
		pthread_cond_broadcast(&p->ready);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	if (n > 1 && buf[0] == PROTO_MSG_ERROR) {
		buf[n] = '\0';
		set_error(p, "a slot could not be set up: %s", buf + 1);
	}
failed:
	slot_failed(p);
	slot_dispose(p, s, false);
}
