/* SPDX-License-Identifier: MIT */
/*
 * run.c - pexos_run_script: validate, run, judge, answer.
 *
 * Judging reads three sources, trusted in this order: what pexos itself did
 * (killed the run at the deadline), the script's wait status as init saw it,
 * and the runner's verdict on the result channel. The channel is writable by
 * the script, so what comes over it is validated like any input: a script
 * can only lie about its own outcome, never break the response.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "attach.h"
#include "error.h"
#include "job.h"
#include "plan.h"
#include "pool.h"
#include "request.h"
#include "response.h"
#include "sandbox.h"
#include "util.h"

/* The verdicts runner.py may give. */
static const char
    *const runner_types[] =
	{
	    "SyntaxError",    "MissingMain",	 "InvalidMain",
	    "ScriptError",    "NotSerializable", "ResultTooLarge",
	    "InvalidRequest", /* an input file could not be written */
};

struct judged {
	struct verdict v;
	json_t *header; /* owns the strings v points into */
	struct attach att; /* output files and figures, v.attach points here */
	char message[256];
};

static const char *known_runner_type(const char *t)
{
	for (size_t i = 0; t && i < ELEMENTSOF(runner_types); i++)
		if (strcmp(t, runner_types[i]) == 0)
			return runner_types[i];
	return NULL;
}

/* A result over the limit that the runner did not refuse: the channel
 * has room for files and figures too, so its own cap does not catch it.
 * Whatever else came with it is not believed. Returns 1 (judged). */
static int too_large(const struct pexos_context *ctx, struct judged *j)
{
	attach_done(&j->att);
	snprintf(j->message, sizeof(j->message),
		 "the result is over the limit of %" PRIu64 " bytes",
		 ctx->opts.result_max);
	j->v = (struct verdict){.type = "ResultTooLarge", .error = j->message};
	return 1;
}

/* The runner's verdict, if the channel holds a well-formed one.
 * Returns 1 when judged, 0 when there is none, -ENOMEM. */
static int judge_channel(const struct pexos_context *ctx,
			 const struct run_plan *plan, const struct capture *c,
			 struct judged *j)
{
	const char *nl = c->data ? memchr(c->data, '\n', c->len) : NULL;
	const char *body;
	size_t body_len, result_len;
	json_t *h, *t, *e, *tb;
	int r;

	if (!nl)
		return 0;
	h = json_loadb(c->data, (size_t)(nl - c->data), 0, NULL);
	if (!h)
		return 0;
	j->header = h;
	body = nl + 1;
	body_len = c->len - (size_t)(body - c->data);
	r = attach_take(&ctx->opts, plan, h, body, body_len, &result_len,
			&j->att);
	if (r <= 0)
		return r;
	j->v.attach = &j->att;
	if (json_is_true(json_object_get(h, "ok")) &&
	    result_len > ctx->opts.result_max)
		return too_large(ctx, j);
	if (json_is_true(json_object_get(h, "ok"))) {
		_cleanup_json_ json_t *check = NULL;
		/* Valid JSON or nothing: it is spliced into the response. */
		body_len = result_len;
		check = json_loadb(body, body_len,
				   JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL |
					   JSON_ALLOW_NUL,
				   NULL);
		if (!check)
			return 0;
		j->v = (struct verdict){
		    .result = body, .result_len = body_len, .attach = &j->att};
		return 1;
	}
	t = json_object_get(h, "type");
	e = json_object_get(h, "error");
	tb = json_object_get(h, "traceback");
	if (!known_runner_type(json_string_value(t)) || !json_is_string(e))
		return 0;
	j->v = (struct verdict){
	    .type = known_runner_type(json_string_value(t)),
	    .error = json_string_value(e),
	    .traceback = json_string_value(tb),
	    .attach = &j->att,
	};
	/* Under --limits=rlimit the memory limit is RLIMIT_AS: allocations
	 * fail and Python raises MemoryError instead of being OOM-killed. */
	if (ctx->cg.mode == CG_NONE &&
	    json_is_true(json_object_get(h, "memory"))) {
		snprintf(j->message, sizeof(j->message),
			 "the script exceeded the memory limit of %" PRIu64
			 " MiB (%s)",
			 plan->memory_mb, json_string_value(e));
		j->v.type = "MemoryLimit";
		j->v.error = j->message;
		j->v.attach = NULL; /* never on MemoryLimit (SPEC §3) */
	}
	return 1;
}

static void judge_status(const struct run_plan *plan,
			 const struct sandbox_result *sr, struct judged *j)
{
	int sig;

	if (sr->timed_out) {
		snprintf(j->message, sizeof(j->message),
			 "the script exceeded the wall-clock limit of %g s",
			 (double)plan->wall_ms / 1000);
		j->v.type = "Timeout";
		return;
	}
	/* Counted by the kernel, not guessed from SIGKILL. */
	if (sr->oom) {
		snprintf(j->message, sizeof(j->message),
			 "the script exceeded the memory limit of %" PRIu64
			 " MiB",
			 plan->memory_mb);
		j->v.type = "MemoryLimit";
		return;
	}
	if (sr->cpu_over) {
		snprintf(j->message, sizeof(j->message),
			 "the script exceeded the CPU-time limit of %g s",
			 (double)plan->cpu_ms / 1000);
		j->v.type = "Timeout";
		return;
	}
	if (!WIFSIGNALED(sr->status)) {
		snprintf(j->message, sizeof(j->message),
			 "the script's process exited with status %d before "
			 "main() returned",
			 WEXITSTATUS(sr->status));
		j->v.type = "ScriptError";
		return;
	}
	sig = WTERMSIG(sr->status);
	/* RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one. */
	if (sig == SIGXCPU || (sig == SIGKILL && sr->cpu_ms >= plan->cpu_ms)) {
		snprintf(j->message, sizeof(j->message),
			 "the script exceeded the CPU-time limit of %g s",
			 (double)plan->cpu_ms / 1000);
		j->v.type = "Timeout";
		return;
	}
	snprintf(j->message, sizeof(j->message),
		 "the script was killed by signal %d (SIG%s)%s", sig,
		 sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
		 sig == SIGSYS ? ": it made a system call of another ABI" : "");
	j->v.type = "Killed";
}

/* Returns 0 with j->v set, or a negative errno (pexos's own failure). A
 * pooled run may end before its process's wait status arrived: it is
 * waited for only when the channel holds no verdict. */
static int judge(const struct pexos_context *ctx, const struct run_plan *plan,
		 struct sandbox_result *sr, struct pool_lease *lease,
		 struct judged *j, pexos_error *err)
{
	int r;

	if (sr->res.truncated) {
		snprintf(j->message, sizeof(j->message),
			 "the result is over the limit of %" PRIu64 " bytes",
			 ctx->opts.result_max);
		j->v = (struct verdict){.type = "ResultTooLarge",
					.error = j->message,
					.ran = true};
		return 0;
	}
	r = judge_channel(ctx, plan, &sr->res, j);
	if (r < 0)
		return pexos_fail(err, ENOMEM, "judge", "out of memory");
	if (r == 0) {
		json_decref(j->header);
		j->header = NULL;
		attach_done(&j->att);
		j->v.attach = NULL;
		if (lease && lease->pool) {
			r = pool_finish(lease, plan, sr, err);
			if (r < 0)
				return r;
		}
		/* On cgroup v2 an OOM kill takes the whole run's cgroup
		 * (memory.oom.group), the sandbox's init with the script:
		 * no status then, but the kernel counted the kill. */
		if (!sr->timed_out && !sr->cpu_over && !sr->oom &&
		    !sr->have_status)
			return pexos_fail(err, EPROTO, "judge",
					  "the sandbox's init ended without "
					  "reporting the script's status");
		judge_status(plan, sr, j);
		j->v.error = j->message;
	}
	/* A syntax error stops everything before the script runs, and so
	 * does an input file that cannot be written. */
	j->v.ran = !(j->v.type && (strcmp(j->v.type, "SyntaxError") == 0 ||
				   strcmp(j->v.type, "InvalidRequest") == 0));
	return 0;
}

static int respond_invalid(const struct invalid *inv, char **ret_response,
			   pexos_outcome *ret_outcome, pexos_error *err)
{
	struct verdict v = {
		.type = "InvalidRequest",
		.error = inv->message,
		.http_status = inv->http_status,
	};

	if (response_build(&v, NULL, NULL, NULL, ret_response, ret_outcome) < 0)
		return pexos_fail(err, ENOMEM, "response", "out of memory");
	return 0;
}

bool plan_cancelled(const struct run_plan *plan)
{
	/* POLLRDHUP alone: bytes a client sends ahead (a pipelined request)
	 * do not cancel; POLLHUP and POLLERR are always reported. poll(2)
	 * skips negative descriptors. */
	struct pollfd p[PEXOS_CANCEL_FDS_MAX];
	unsigned n = plan->n_cancel_fd;

	if (n == 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = plan->cancel_fd[i],
				       .events = POLLRDHUP};
	if (poll(p, n, 0) <= 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (p[i].revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
			return true;
	return false;
}

int pexos_run_script(pexos_context *ctx, const char *request, size_t len,
		     char **ret_response, pexos_outcome *ret_outcome,
		     pexos_error *err)
{
	return pexos_run_script_until(ctx, request, len, -1, ret_response,
				      ret_outcome, err);
}

int pexos_run_script_until(pexos_context *ctx, const char *request, size_t len,
			   int cancel_fd, char **ret_response,
			   pexos_outcome *ret_outcome, pexos_error *err)
{
	return pexos_run_script_until_any(ctx, request, len, &cancel_fd,
					  cancel_fd >= 0 ? 1 : 0, ret_response,
					  ret_outcome, err);
}

int pexos_run_script_until_any(pexos_context *ctx, const char *request,
			       size_t len, const int *cancel_fds,
			       size_t n_cancel_fds, char **ret_response,
			       pexos_outcome *ret_outcome, pexos_error *err)
{
	struct run_plan plan;
	struct invalid inv;
	struct sandbox_result sr;
	struct judged j = {0};
	struct run_stats st;
	struct pool_lease lease = {0};
	int r;

	if (!ctx || (!request && len) || !ret_response ||
	    (n_cancel_fds && !cancel_fds))
		return pexos_fail(err, EINVAL, "run", "missing argument");
	if (n_cancel_fds > PEXOS_CANCEL_FDS_MAX)
		return pexos_fail(err, EINVAL, "run",
				  "more cancel descriptors than "
				  "PEXOS_CANCEL_FDS_MAX");
	r = request_parse(&ctx->opts, request ? request : "", len, &plan, &inv);
	if (r < 0)
		return pexos_fail(err, -r, "request", "out of memory");
	if (r > 0)
		return respond_invalid(&inv, ret_response, ret_outcome, err);
	/* A queued run whose client left meanwhile never starts. */
	for (size_t i = 0; i < n_cancel_fds; i++)
		plan.cancel_fd[i] = cancel_fds[i];
	plan.n_cancel_fd = (unsigned)n_cancel_fds;
	if (plan_cancelled(&plan)) {
		run_plan_done(&plan);
		return sandbox_fail_hung_up(err);
	}

	r = pool_run(ctx->pool, &plan, &lease, &sr, err);
	if (r == 0)
		r = sandbox_run(ctx, &plan, &sr, err);
	if (r < 0) {
		run_plan_done(&plan);
		return r;
	}
	r = judge(ctx, &plan, &sr, &lease, &j, err);
	/* A pooled run's page faults come with its process's wait status,
	 * which the verdict may not have needed: wait for it (bounded by the
	 * run's deadline) when stats are asked for. */
	if (r == 0 && plan.stats && lease.pool && lease.pending)
		(void)pool_finish(&lease, &plan, &sr, NULL);
	if (r == 0) {
		st = (struct run_stats){
		    .wall_ms = sr.wall_ms,
		    .cpu_ms = sr.cpu_ms,
		    .max_rss_kb = sr.max_rss_kb,
		    .faults = sr.faults,
		    .limits = cg_mode_name(ctx->cg.mode),
		    .pooled = lease.pool != NULL,
		    .profile = lease.pool ? pool_profile_names[lease.profile]
					  : NULL,
		    .file_limits =
			plan.stats ? job_limits(&ctx->opts, &plan) : NULL,
		};
		if ((plan.stats && !st.file_limits) ||
		    response_build(&j.v, &sr.out, &sr.err,
				   plan.stats ? &st : NULL, ret_response,
				   ret_outcome) < 0)
			r = pexos_fail(err, ENOMEM, "response", "out of memory");
		json_decref(st.file_limits);
	}
	pool_release(&lease);
	json_decref(j.header);
	attach_done(&j.att);
	sandbox_result_done(&sr);
	run_plan_done(&plan);
	return r;
}
