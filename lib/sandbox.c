/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - the spine: the ordered steps of one run.
 *
 * Three processes take part:
 *   parent   the caller's thread: builds pipes, clones, writes the id maps,
 *            watches the run and the clock, collects the output
 *   init     pid 1 of the run's new PID namespace: builds the root
 *            filesystem, forks the script's process, reaps, reports its
 *            wait status; when it exits the kernel kills everything left
 *   script   pid 2: locks itself down and execs the interpreter
 *
 * After clone nothing may allocate, take a lock or use stdio: the parent
 * may be threaded. Failures travel back as a pexos_error over the
 * close-on-exec sync pipe; EOF on it means the interpreter was exec'd.
 */
#include "sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "confine.h"
#include "error.h"
#include "job.h"
#include "lockdown.h"
#include "mounts.h"
#include "net.h"
#include "ns.h"
#include "proto.h"
#include "supervise.h"
#include "util.h"

/* The descriptors of the script's process, by number (proto.h). */
enum {
	CFD_STDIN = PROTO_FD_STDIN,
	CFD_STDOUT = PROTO_FD_STDOUT,
	CFD_STDERR = PROTO_FD_STDERR,
	CFD_RESULT = PROTO_FD_RESULT,
	CFD_SCRIPT = PROTO_FD_SCRIPT,
	CFD_SYNC = PROTO_FD_SYNC,
	CFD_GO = PROTO_FD_GO,
	CFD_STATUS = PROTO_FD_STATUS,
	CFD_INIT = PROTO_FD_INIT,
	N_CFD = PROTO_N_FD,
};
_Static_assert(CFD_STDIN == 0 && CFD_STDOUT == 1 && CFD_STDERR == 2,
	       "the standard streams keep their numbers");
_Static_assert(CFD_SYNC == CFD_SCRIPT + 1 && CFD_GO == CFD_SYNC + 1 &&
		       CFD_STATUS == CFD_GO + 1 && CFD_INIT == CFD_STATUS + 1 &&
		       N_CFD == CFD_INIT + 1,
	       "child_fds() places descriptors 0 .. N_CFD - 1 in order");
/* The zygote is started as a run's process: its descriptors are a run's. */
_Static_assert(PROTO_ZY_FD_CTL == CFD_RESULT && PROTO_ZY_FD_CONFIG == CFD_SCRIPT,
	       "sandbox_start_zygote() places the zygote's descriptors");
_Static_assert(PROTO_ZY_FD_INIT == N_CFD,
	       "child_exec() hands the zygote pexos-init just above the rest");

/* The pool's zygote's own limits: it runs as long as the pool and holds a
 * descriptor per live slot; CPU time and processes are its slots' business
 * (each applies the run's lockdown plan). */
static const struct lockdown_rlimit zygote_rlimits[] = {
	{.resource = RLIMIT_CORE, .soft = 0, .hard = 0},
	{.resource = RLIMIT_NOFILE, .soft = 4096, .hard = 4096},
	{.resource = RLIMIT_MSGQUEUE, .soft = 0, .hard = 0},
};

/* Everything the children need, prepared by the parent. */
struct child_args {
	const struct pexos_context *ctx;
	int src[N_CFD];
	uint64_t cpu_ms, as_mb; /* the run's own limits (lockdown_apply) */
	/* The pool's zygote: keeps the setup user's capabilities (it builds
	 * each slot's namespaces), gets no seccomp filter and runs
	 * zygote.py; it never runs a script. */
	bool zygote;
	/* cgroup v1: the tasks file of each directory of the run's cgroup,
	 * which init writes "0" to first thing (launch). */
	int cg_tasks[CG1_N];
	int n_tasks;
};

/* Setup of the sandbox's root filesystem and its process must finish in
 * this, independent of the script's own time limit. */
#define SETUP_DEADLINE_MS 10000

static _Noreturn void child_die(int sync_fd, const pexos_error *err)
{
	(void)!write(sync_fd, err, sizeof(*err));
	_exit(127);
}

/* Moves the inherited descriptors to their fixed numbers and closes every
 * other one: in a threaded caller the child inherits other runs' pipes. */
static int child_fds(const int src[N_CFD], pexos_error *err)
{
	int tmp[N_CFD];

	for (int i = 0; i < N_CFD; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, N_CFD);
		if (tmp[i] < 0)
			return pexos_fail_child(err, errno, "fds",
						"duplicate a descriptor", NULL);
	}
	for (int i = 0; i < N_CFD; i++)
		if (dup2(tmp[i], i) < 0)
			return pexos_fail_child(err, errno, "fds",
						"place a descriptor", NULL);
	if (close_range(N_CFD, ~0U, 0) < 0)
		return pexos_fail_child(err, errno, "fds",
					"close inherited descriptors", NULL);
	if (fcntl(CFD_SYNC, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(CFD_INIT, F_SETFD, FD_CLOEXEC) < 0)
		return pexos_fail_child(err, errno, "fds",
					"mark descriptors close-on-exec", NULL);
	return 0;
}

/* Handlers and masks of the caller must not leak into the run. */
static void child_reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t all;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* pid 2: the script's process: the lockdown (lockdown.h, the same a warm
 * slot applies), then exec. */
static _Noreturn void child_exec(const struct child_args *a)
{
	const struct pexos_context *ctx = a->ctx;
	pexos_error err = {0};

	close(CFD_GO);
	close(CFD_STATUS);
	if (setsid() < 0)
		goto fail_errno;
	if (a->zygote) {
		if (lockdown_set_rlimits(zygote_rlimits,
					 ELEMENTSOF(zygote_rlimits), &err) < 0)
			goto fail;
		/* pexos-init for the slots' PID namespaces */
		if (dup2(CFD_INIT, PROTO_ZY_FD_INIT) < 0)
			goto fail_errno;
		execve(ctx->argv[0], (char **)ctx->zygote_argv, ctx->envp);
		pexos_fail_child(&err, errno, "exec", "execute the interpreter",
				 ctx->argv[0]);
		goto fail;
	}
	if (lockdown_apply(ctx->lockdown, a->cpu_ms, a->as_mb, &err) < 0)
		goto fail;
	execve(ctx->argv[0], ctx->argv, ctx->envp);
	pexos_fail_child(&err, errno, "exec", "execute the interpreter",
			 ctx->argv[0]);
	goto fail;
fail_errno:
	pexos_fail_child(&err, errno, "setup", "prepare the script's process",
			 NULL);
fail:
	child_die(CFD_SYNC, &err);
}

/* Replaces init by pexos-init, watching `script` (and, with `all`, every
 * process left after it). Returns on failure. */
static void exec_init(pid_t script, bool all)
{
	char arg[24], *p = arg + sizeof(arg);
	unsigned long v = (unsigned long)script;
	char *argv[] = {"pexos-init", NULL, all ? "all" : NULL, NULL};
	char *envp[] = {NULL};

	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) && p > arg);
	argv[1] = p;
	syscall(SYS_execveat, CFD_INIT, "", argv, envp, AT_EMPTY_PATH);
}

/* pid 1 of the run. */
static _Noreturn void child_init(const struct child_args *a)
{
	pexos_error err = {0};
	pid_t script;
	char go;

	/* Into the run's cgroup before anything it could be charged for,
	 * and before it forks the script's process (cg_run_open_tasks). */
	for (int i = 0; i < a->n_tasks; i++)
		if (write(a->cg_tasks[i], "0", 1) != 1) {
			pexos_fail_child(&err, errno, "cgroup",
					 "enter the run's cgroup", NULL);
			child_die(a->src[CFD_SYNC], &err);
		}
	if (child_fds(a->src, &err) < 0)
		child_die(a->src[CFD_SYNC], &err);
	child_reset_signals();
	/* The parent writes our id maps, then says go. EOF: it gave up. */
	if (read(CFD_GO, &go, 1) != 1)
		_exit(1);
	if (ns_apply_child(&err) < 0)
		child_die(CFD_SYNC, &err);
	/* While init holds CAP_NET_ADMIN in the run's user namespace, which
	 * owns its network namespace: the script will have none. */
	if (net_lo_up(&err) < 0)
		child_die(CFD_SYNC, &err);
	/* The run dies with the thread that runs it. Set after the id change
	 * above, which clears it; if the parent went before this line, the
	 * status pipe has no reader left. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(1);
	{
		struct pollfd p = {.fd = CFD_STATUS, .events = POLLOUT};
		if (poll(&p, 1, 0) < 0 || (p.revents & POLLERR))
			_exit(1);
	}
	if (mnt_apply_child(a->ctx, &err) < 0)
		child_die(CFD_SYNC, &err);
	script = _Fork();
	if (script < 0) {
		pexos_fail_child(&err, errno, "fork",
				 "start the script's process", NULL);
		child_die(CFD_SYNC, &err);
	}
	if (script == 0)
		child_exec(a);
	/* No privilege left, and none of the caller's memory, arguments or
	 * environment: init becomes pexos-init, which keeps only the status
	 * pipe. The sync pipe closes with the exec, or carries its failure. */
	for (int fd = 0; fd < N_CFD; fd++)
		if (fd != CFD_STATUS && fd != CFD_SYNC && fd != CFD_INIT)
			close(fd);
	lockdown_drop_caps(a->ctx->last_cap, &err);
	exec_init(script, a->zygote);
	pexos_fail_child(&err, errno, "exec", "start the run's init", NULL);
	kill(script, SIGKILL);
	child_die(CFD_SYNC, &err);
}

static int make_pipe(int p[2], bool nonblock_read)
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (nonblock_read && fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* A sealed-size memfd holding `len` bytes, positioned at 0. */
int sandbox_memfd(const char *name, const char *data, size_t len)
{
	_cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return TAKE_FD(fd);
}

struct run_fds {
	int out[2], err[2], res[2], sync[2], go[2], status[2];
	int script, stdin_fd;
	int pidfd;
};

static void run_fds_close(struct run_fds *f)
{
	int *all = (int *)f;

	for (size_t i = 0; i < sizeof(*f) / sizeof(int); i++)
		if (all[i] >= 0)
			close(all[i]);
}

static int run_fds_open(struct run_fds *f, const struct pexos_context *ctx,
			const struct run_plan *plan, pexos_error *err)
{
	int r;

	memset(f, -1, sizeof(*f));
	if ((r = make_pipe(f->out, true)) < 0 ||
	    (r = make_pipe(f->err, true)) < 0 ||
	    (r = make_pipe(f->res, true)) < 0 ||
	    (r = make_pipe(f->sync, false)) < 0 ||
	    (r = make_pipe(f->go, false)) < 0 ||
	    (r = make_pipe(f->status, true)) < 0)
		return pexos_fail_errno(err, -r, "pipes", "create pipes");
	f->script = job_memfd(&ctx->opts, plan);
	if (f->script < 0)
		return pexos_fail_errno(err, -f->script, "memfd",
					"hold the script and its files");
	f->stdin_fd = sandbox_memfd("pexos-stdin", plan->stdin_data,
				 plan->stdin_len);
	if (f->stdin_fd < 0)
		return pexos_fail_errno(err, -f->stdin_fd, "memfd",
					"hold the script's stdin");
	return 0;
}

/* The parent's ends stay; the children's ends are closed once cloned. */
static void close_child_ends(struct run_fds *f)
{
	int *ends[] = {&f->out[1], &f->err[1],  &f->res[1],   &f->sync[1],
		       &f->go[0],  &f->status[1], &f->script, &f->stdin_fd};

	for (size_t i = 0; i < ELEMENTSOF(ends); i++) {
		close(*ends[i]);
		*ends[i] = -1;
	}
}

static void kill_and_reap(struct run_fds *f)
{
	if (f->pidfd >= 0) {
		sup_kill(f->pidfd);
		sup_reap(f->pidfd, NULL);
	}
}

/* Setup failures whose usual cause is a container's settings say so: what
 * confines pexos itself (seccomp, AppArmor; confine.c) with the setting
 * that lifts it, or what else the step needs. */
static void add_hint(pexos_error *err)
{
	const char *hint = NULL;
	char found[1024];
	size_t n = strlen(err->message);
	bool denied = err->code == EPERM || err->code == EACCES ||
		      (err->code == ENOSYS && strcmp(err->step, "clone") == 0);

	if (!denied)
		return;
	if (strcmp(err->step, "uts") == 0)
		hint = " (in a container, its seccomp profile refuses "
		       "sethostname; see pexos(7))";
	else if (strcmp(err->step, "mount") == 0 && strstr(err->message, "proc"))
		hint = " (in a container, /proc has masked paths: run it with "
		       "--security-opt systempaths=unconfined; podman: "
		       "--security-opt unmask=/proc/*; Kubernetes: procMount "
		       "Unmasked; see pexos(7))";
	else if (strcmp(err->step, "mount") == 0)
		hint = " (in a container, its seccomp or AppArmor profile "
		       "refuses mount; see pexos(7))";
	else if (strcmp(err->step, "uid_map") == 0)
		hint = " (pexos needs CAP_SETUID and CAP_SETGID)";
	if (hint && n + strlen(hint) < sizeof(err->message)) {
		memcpy(err->message + n, hint, strlen(hint) + 1);
		n += strlen(hint);
	}
	confine_hint(found, sizeof(found));
	if (found[0])
		snprintf(err->message + n, sizeof(err->message) - n, "%s",
			 found);
}

/* PEXOS_TEST_AFTER_EXEC_MS: pexos(7), a hook for the test suite. */
static void test_after_exec(void)
{
	const char *v = secure_getenv("PEXOS_TEST_AFTER_EXEC_MS");
	uint64_t ms = 0;

	if (v && parse_u64(v, 0, 60000, &ms) == 0 && ms)
		nanosleep(&(struct timespec){.tv_sec = (time_t)(ms / 1000),
					     .tv_nsec = (long)(ms % 1000) *
							1000000},
			  NULL);
}

/* cgroup v1: waits until the child, held before go, is in every directory
 * of its run: it writes their tasks files first thing after the clone.
 * Checked here, not after the exec: by then the run may be over, and an
 * exited process shows the roots of the v1 hierarchies in
 * /proc/PID/cgroup. Returns 0; the child's error if it died first; or
 * -ESTALE when the deadline passes with it elsewhere. */
static int await_cgroup(const struct pexos_context *ctx,
			const struct cg_run *cg, pid_t pid, int sync_r,
			pexos_error *err)
{
	uint64_t deadline = now_ms() + SETUP_DEADLINE_MS;

	while (cg_run_holds(&ctx->cg, cg, pid, 0) < 0) {
		struct pollfd p = {.fd = sync_r, .events = POLLIN};
		int r;

		if (now_ms() >= deadline)
			return pexos_fail(err, ESTALE, "cgroup",
					  "the sandbox's init is not in its "
					  "cgroup");
		if (poll(&p, 1, 1) <= 0)
			continue;
		/* a word, or EOF: it ended before go */
		r = sup_wait_exec(sync_r, deadline, err);
		return r < 0 ? r
			     : pexos_fail(err, EPROTO, "setup",
					  "the sandbox died during setup");
	}
	return 0;
}

/* Clone, join the cgroup, map ids, release the child, wait for exec. The
 * caller's ends of the sync and go pipes are sync_r and *go_w. On cgroup
 * v1 the child enters its cgroup itself (cg_run_open_tasks: no
 * machine-wide lock), checked before it is released (await_cgroup). */
static int launch(const struct child_args *args, const struct cg_run *cg,
		  int sync_r, int *go_w, int *ret_pidfd,
		  void (*close_ends)(void *), void *close_arg,
		  pexos_error *err)
{
	const struct pexos_context *ctx = args->ctx;
	struct child_args a = *args;
	int cg_dir = -1, r;
	bool placed = false; /* born in its cgroup */
	pid_t pid;

	a.n_tasks = cg_run_open_tasks(&ctx->cg, cg, a.cg_tasks);
	if (!a.n_tasks)
		cg_dir = cg_run_open_dir(&ctx->cg, cg);
	pid = -EBADF;
	if (cg_dir >= 0) {
		pid = sup_clone_into(NS_CLONE_FLAGS, cg_dir, ret_pidfd);
		placed = pid >= 0;
		close(cg_dir);
	}
	/* A kernel before 5.7, or one that will not place it there: moved
	 * after the clone, as on v1 without tasks files. */
	if (pid < 0)
		pid = sup_clone(NS_CLONE_FLAGS, ret_pidfd);
	if (pid == 0)
		child_init(&a);
	for (int i = 0; i < a.n_tasks; i++)
		close(a.cg_tasks[i]);
	if (pid == -ENOSPC || pid == -EUSERS)
		return pexos_fail_errno(err, -pid, "clone",
					"create a user namespace (the host allows "
					"none: raise sysctl "
					"user.max_user_namespaces)");
	if (pid == -EPERM || pid == -EACCES || pid == -ENOSYS)
		return pexos_fail_errno(err, -pid, "clone",
					"create the sandbox's namespaces (in a "
					"container, its seccomp or AppArmor "
					"profile forbids it; see pexos(7))");
	if (pid < 0)
		return pexos_fail_errno(err, -pid, "clone",
					"create the sandbox's namespaces (user, "
					"pid, mount, net, ipc, uts)");
	close_ends(close_arg);
	/* The cgroup before go: init and all it starts are charged there. */
	r = a.n_tasks || placed ? 0 : cg_run_attach(cg, pid, err);
	if (r < 0)
		return r;
	/* uid map before go: the child's setup needs mapped ids. */
	r = ns_setup_parent(ctx, pid, err);
	if (r == 0 && a.n_tasks)
		r = await_cgroup(ctx, cg, pid, sync_r, err);
	if (r < 0)
		return r;
	if (write_all(*go_w, "g", 1) < 0)
		return pexos_fail_errno(err, errno, "setup", "release the child");
	close(*go_w);
	*go_w = -1;
	r = sup_wait_exec(sync_r, now_ms() + SETUP_DEADLINE_MS, err);
	if (r == 0)
		test_after_exec();
	return r;
}

static void close_run_ends(void *f)
{
	close_child_ends(f);
}

static int start(const struct pexos_context *ctx, const struct run_plan *plan,
		 const struct cg_run *cg, struct run_fds *f, pexos_error *err)
{
	struct child_args a = {.ctx = ctx};

	a.src[CFD_STDIN] = f->stdin_fd;
	a.src[CFD_STDOUT] = f->out[1];
	a.src[CFD_STDERR] = f->err[1];
	a.src[CFD_RESULT] = f->res[1];
	a.src[CFD_SCRIPT] = f->script;
	a.src[CFD_SYNC] = f->sync[1];
	a.src[CFD_GO] = f->go[0];
	a.src[CFD_STATUS] = f->status[1];
	a.src[CFD_INIT] = ctx->init_fd;
	a.cpu_ms = plan->cpu_ms;
	/* Without a cgroup, RLIMIT_AS limits the memory, per process. */
	a.as_mb = ctx->cg.mode == CG_NONE ? plan->memory_mb : 0;
	return launch(&a, cg, f->sync[0], &f->go[1], &f->pidfd, close_run_ends,
		      f, err);
}

struct zygote_ends {
	int *fds; /* the zygote's ends, closed once cloned */
	int *sync_w, *go_r, *status_w;
};

static void close_zygote_ends(void *arg)
{
	struct zygote_ends *e = arg;
	int *ends[] = {e->sync_w, e->go_r, e->status_w};

	for (size_t i = 0; i < ZY_NFD; i++) {
		close(e->fds[i]);
		e->fds[i] = -1;
	}
	for (size_t i = 0; i < ELEMENTSOF(ends); i++) {
		close(*ends[i]);
		*ends[i] = -1;
	}
}

int sandbox_start_zygote(const struct pexos_context *ctx,
			 const struct cg_run *cg, int fds[ZY_NFD],
			 struct sandbox_proc *p, pexos_error *err)
{
	struct child_args a = {.ctx = ctx, .zygote = true};
	int sync[2] = {-1, -1}, go[2] = {-1, -1}, status[2] = {-1, -1};
	struct zygote_ends e = {fds, &sync[1], &go[0], &status[1]};
	int r;

	p->pidfd = p->status = -1;
	if ((r = make_pipe(sync, false)) < 0 || (r = make_pipe(go, false)) < 0 ||
	    (r = make_pipe(status, true)) < 0) {
		r = pexos_fail_errno(err, -r, "pipes", "create pipes");
		goto out;
	}
	a.src[CFD_STDIN] = fds[ZY_STDIN];
	a.src[CFD_STDOUT] = fds[ZY_LOG];
	a.src[CFD_STDERR] = fds[ZY_LOG];
	a.src[CFD_RESULT] = fds[ZY_CTL];
	a.src[CFD_SCRIPT] = fds[ZY_CONFIG];
	a.src[CFD_SYNC] = sync[1];
	a.src[CFD_GO] = go[0];
	a.src[CFD_STATUS] = status[1];
	a.src[CFD_INIT] = ctx->init_fd;
	r = launch(&a, cg, sync[0], &go[1], &p->pidfd, close_zygote_ends, &e,
		   err);
	if (r < 0 && err)
		add_hint(err);
	if (r < 0 && p->pidfd >= 0) {
		sup_kill(p->pidfd);
		sup_reap(p->pidfd, NULL);
		close(p->pidfd);
		p->pidfd = -1;
	}
	if (r == 0) {
		p->status = status[0];
		status[0] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (sync[i] >= 0)
			close(sync[i]);
		if (go[i] >= 0)
			close(go[i]);
		if (status[i] >= 0)
			close(status[i]);
	}
	return r;
}

struct cpu_watch {
	const struct pexos_context *ctx;
	const struct sandbox_watch *sw;
	const struct run_plan *plan;
	uint64_t limit_ms;
	bool cancelled; /* the context was cancelled */
	bool hung_up;	/* the run's cancel descriptor hung up */
};

/* Ends the run early: the context was cancelled, the run's cancel
 * descriptor hung up (its client went away), or the whole run's CPU time,
 * all processes together, reached its limit (from its cgroup). Polled
 * every period_ms by sup_monitor. */
static bool cpu_over(void *arg)
{
	struct cpu_watch *c = arg;

	if (atomic_load(&c->ctx->cancelled))
		return c->cancelled = true;
	if (plan_cancelled(c->plan))
		return c->cancelled = c->hung_up = true;
	return c->ctx->cg.mode != CG_NONE &&
	       cg_run_cpu_ms(&c->ctx->cg, c->sw->cg) >=
		       c->sw->cpu0 + c->limit_ms;
}

int sandbox_watch(const struct pexos_context *ctx, const struct run_plan *plan,
		  struct sandbox_watch *sw, struct sandbox_result *res,
		  pexos_error *err)
{
	struct cpu_watch cw = {ctx, sw, plan, plan->cpu_ms, false, false};
	struct sup_watch w = {
		.deadline_ms = sw->t0 + plan->wall_ms,
		.over = cpu_over,
		.arg = &cw,
		.period_ms = 100,
		.kill_fd = sw->kill_fd,
		.end_on_eof = sw->end_on_eof,
		/* Warm: the slot's pid 1 outlives the script's process; the
		 * run ends with the latter, as a cold run ends with its init. */
		.kill_on_exit = sw->kill_fd >= 0,
		.exited = sw->exited,
	};
	struct sup_stream s[] = {
		{sw->out ? *sw->out : -1, &res->out},
		{sw->err ? *sw->err : -1, &res->err},
		{sw->res ? *sw->res : -1, &res->res},
	};
	size_t n = sw->out ? ELEMENTSOF(s) : 0;
	int r = sup_monitor(sw->wait_fd, s, n, &w);

	if (n)
		*sw->out = s[0].fd, *sw->err = s[1].fd, *sw->res = s[2].fd;
	sw->exited = w.exited;
	res->timed_out |= w.timed_out;
	res->cpu_over |= w.tripped && !cw.cancelled;
	if (r < 0)
		return pexos_fail_errno(err, -r, "monitor", "watch the run");
	if (cw.hung_up)
		return sandbox_fail_hung_up(err);
	if (cw.cancelled)
		return pexos_fail(err, ECANCELED, "cancel",
				  "the run was cancelled: pexos is shutting "
				  "down");
	return 0;
}

int sandbox_fail_hung_up(pexos_error *err)
{
	return pexos_fail(err, ECANCELED, "cancel_fd",
			  "the run was cancelled: its cancel descriptor hung "
			  "up (the client went away)");
}

/* Runs the started sandbox to its end: output, clock, CPU. */
static int watch(const struct pexos_context *ctx, const struct run_plan *plan,
		 const struct cg_run *cg, struct run_fds *f, uint64_t t0,
		 struct sandbox_result *res, pexos_error *err)
{
	struct sandbox_watch sw = {
		.cg = cg,
		.t0 = t0,
		.wait_fd = f->pidfd,
		.kill_fd = -1,
		.out = &f->out[0],
		.err = &f->err[0],
		.res = &f->res[0],
	};

	return sandbox_watch(ctx, plan, &sw, res, err);
}

void sandbox_result_init(const struct pexos_context *ctx,
			 const struct run_plan *plan,
			 struct sandbox_result *res)
{
	memset(res, 0, sizeof(*res));
	res->out.max = ctx->opts.output_max;
	res->err.max = ctx->opts.output_max;
	/* Room for the header line on top of the largest allowed result,
	 * files and figures. */
	res->res.max = job_channel_max(&ctx->opts, plan);
}

int sandbox_run(const struct pexos_context *ctx, const struct run_plan *plan,
		struct sandbox_result *res, pexos_error *err)
{
	struct run_fds f;
	struct cg_run cg;
	struct rusage ru = {0};
	uint64_t t0 = now_ms(), cg_cpu;
	int r;

	sandbox_result_init(ctx, plan, res);
	if (atomic_load(&ctx->cancelled))
		return pexos_fail(err, ECANCELED, "cancel",
				  "pexos is shutting down");
	if (plan_cancelled(plan))
		return sandbox_fail_hung_up(err);

	r = cg_run_create(&ctx->cg, plan->memory_mb, ctx->opts.pids, &cg, err);
	if (r < 0)
		return r;
	r = run_fds_open(&f, ctx, plan, err);
	if (r == 0) {
		r = start(ctx, plan, &cg, &f, err);
		if (r < 0 && err)
			add_hint(err);
	}
	if (r == 0)
		r = watch(ctx, plan, &cg, &f, t0, res, err);
	if (r < 0) {
		kill_and_reap(&f);
		run_fds_close(&f);
		cg_run_destroy(&ctx->cg, &cg);
		sandbox_result_done(res);
		return r;
	}
	res->have_status = read(f.status[0], &res->status,
				sizeof(res->status)) == sizeof(res->status);
	r = sup_reap(f.pidfd, &ru);
	run_fds_close(&f);
	res->oom = cg_run_oom(&ctx->cg, &cg);
	cg_cpu = cg_run_cpu_ms(&ctx->cg, &cg);
	cg_run_destroy(&ctx->cg, &cg);
	if (r < 0) {
		sandbox_result_done(res);
		return pexos_fail_errno(err, -r, "reap", "reap the sandbox");
	}
	res->wall_ms = now_ms() - t0;
	res->cpu_ms = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
		      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	if (cg_cpu > res->cpu_ms)
		res->cpu_ms = cg_cpu; /* counts processes nobody waited for */
	res->max_rss_kb = (uint64_t)ru.ru_maxrss;
	res->faults = (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
	return 0;
}

void sandbox_result_done(struct sandbox_result *res)
{
	capture_done(&res->out);
	capture_done(&res->err);
	capture_done(&res->res);
}
