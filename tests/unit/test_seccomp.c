/* SPDX-License-Identifier: MIT */
/*
 * The syscall filter as the sandbox installs it: scmp_prepare() builds the
 * real program, a forked child sets no_new_privs and installs it with
 * lockdown.c's functions, as every script's process does, and execs
 * tests/probe, which tries every refused call and prints the errno each
 * got. The same probe without the filter is the
 * control: if the calls failed with EPERM anyway, this test could not tell.
 *
 *   test_seccomp PROBE SECCOMP_C
 *
 * SECCOMP_C (lib/seccomp.c) is read for its table of refused calls, so the
 * probe and the table cannot drift apart unnoticed.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lockdown.h"
#include "plan.h"
#include "scmp.h"
#include "tap.h"

#define MAX_LINES 256

struct result {
	char name[64];
	int err;
};

struct probe_run {
	struct result r[MAX_LINES];
	size_t n;
	int status;
};

static const char *probe;

static void child(const struct pexos_context *ctx, int out)
{
	pexos_error err = {0};

	/* no controlling terminal: the probe's vhangup() is then a no-op */
	setsid();
	if (dup2(out, STDOUT_FILENO) < 0)
		_exit(120);
	if (ctx) {
		if (lockdown_no_new_privs(&err) < 0)
			_exit(121);
		if (lockdown_seccomp(ctx->bpf, ctx->bpf_len, &err) < 0)
			_exit(122);
	}
	execl(probe, probe, (char *)NULL);
	_exit(123);
}

/* Runs the probe, under the filter of `ctx` or (NULL) under none. */
static void run_probe(const struct pexos_context *ctx, struct probe_run *pr)
{
	char line[128];
	int fds[2];
	pid_t pid;
	FILE *f;

	memset(pr, 0, sizeof(*pr));
	pr->status = -1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child(ctx, fds[1]);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (f && fgets(line, sizeof(line), f) && pr->n < MAX_LINES) {
		struct result *r = &pr->r[pr->n];
		if (sscanf(line, "%63s %d", r->name, &r->err) == 2)
			pr->n++;
	}
	if (f)
		fclose(f);
	if (pid > 0)
		waitpid(pid, &pr->status, 0);
}

/* The errno the probe reported for `name`, or -1 if it has no such line. */
static int got(const struct probe_run *pr, const char *name)
{
	for (size_t i = 0; i < pr->n; i++)
		if (strcmp(pr->r[i].name, name) == 0)
			return pr->r[i].err;
	return -1;
}

static const char *errname(int e)
{
	static char buf[8][48];
	static int k;
	char *b = buf[k++ % 8];

	if (e < 0)
		return "(not tried)";
	if (e == 0)
		return "success";
	snprintf(b, sizeof(buf[0]), "%s",
		 strerrorname_np(e) ? strerrorname_np(e) : "?");
	return b;
}

/* The names of lib/seccomp.c's denied[] table: each line `{"name", ...`
 * between `denied[] = {` and the closing `};`. */
static size_t read_table(const char *path, char names[][64], size_t max)
{
	FILE *f = fopen(path, "r");
	char line[512];
	bool in = false;
	size_t n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (strstr(line, "denied[] = {"))
			in = true;
		else if (in && strncmp(line, "};", 2) == 0)
			break;
		else if (in && n < max &&
			 sscanf(line, " {\"%63[^\"]\"", names[n]) == 1)
			n++;
	}
	if (f)
		fclose(f);
	return n;
}

static bool in_table(char names[][64], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Every call of the table: EPERM and nothing else; and the probe tries no
 * plain call the table does not have. */
static void check_table(const struct probe_run *pr, char names[][64], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int e = got(pr, names[i]);
		if (seccomp_syscall_resolve_name(names[i]) < 0) {
			tap_ok(true, "%s: not a syscall of this architecture",
			       names[i]);
			continue;
		}
		tap_ok(e == EPERM, "%s: refused with EPERM (got %s)", names[i],
		       errname(e));
	}
	for (size_t i = 0; i < pr->n; i++)
		if (!strchr(pr->r[i].name, ':') &&
		    !in_table(names, n, pr->r[i].name) &&
		    strcmp(pr->r[i].name, "clone3") != 0)
			tap_ok(false,
			       "the probe tries %s, which the table "
			       "does not refuse",
			       pr->r[i].name);
}

static void check_args(const struct probe_run *pr)
{
	static const char *const ns[] = {
	    "CLONE_NEWNS",   "CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC",
	    "CLONE_NEWUSER", "CLONE_NEWPID",	"CLONE_NEWNET"};
	static const char *const refused[] = {"AF_VSOCK", "AF_PACKET", "AF_MAX",
					      "AF_MAX+9"};
	static const char *const allowed[] = {"AF_UNIX", "AF_INET", "AF_INET6"};
	char name[64];
	int e;

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		snprintf(name, sizeof(name), "clone:%s", ns[i]);
		e = got(pr, name);
		tap_ok(e == EPERM, "clone with %s: EPERM (got %s)", ns[i],
		       errname(e));
	}
	e = got(pr, "clone3");
	tap_ok(e == ENOSYS,
	       "clone3: ENOSYS, so libc falls back to clone (got %s)",
	       errname(e));
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(name, sizeof(name), "socket:%s", refused[i]);
		e = got(pr, name);
		tap_ok(e == EPERM, "socket(%s): EPERM (got %s)", refused[i],
		       errname(e));
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		snprintf(name, sizeof(name), "socket:%s", allowed[i]);
		e = got(pr, name);
		tap_ok(e == 0, "socket(%s) works (got %s)", allowed[i],
		       errname(e));
	}
}

/* Without the filter the same calls must mostly fail otherwise. */
static void check_control(const struct probe_run *pr, char names[][64],
			  size_t n)
{
	size_t eperm = 0, tried = 0;

	for (size_t i = 0; i < n; i++) {
		int e = got(pr, names[i]);
		tried += e >= 0;
		eperm += e == EPERM;
		if (e == EPERM)
			printf("# without the filter %s also gives EPERM\n",
			       names[i]);
	}
	tap_ok(tried == n && eperm < tried,
	       "control: without the filter %zu of the %zu calls give EPERM",
	       eperm, tried);
	tap_ok(got(pr, "clone3") >= 0 && got(pr, "clone3") != ENOSYS,
	       "control: clone3 without the filter: %s",
	       errname(got(pr, "clone3")));
	tap_ok(got(pr, "socket:AF_MAX") >= 0 &&
		   got(pr, "socket:AF_MAX") != EPERM,
	       "control: socket(AF_MAX) without the filter: %s",
	       errname(got(pr, "socket:AF_MAX")));
	tap_ok(got(pr, "clone:CLONE_NEWNS") >= 0 &&
		   got(pr, "clone:CLONE_NEWNS") != EPERM,
	       "control: clone with CLONE_NEWNS without the filter: %s",
	       errname(got(pr, "clone:CLONE_NEWNS")));
}

int main(int argc, char **argv)
{
	static char names[128][64];
	static struct probe_run with, without;
	struct pexos_context *ctx = calloc(1, sizeof(*ctx));
	pexos_error err = {0};
	size_t n;

	if (argc != 3 || !ctx) {
		fprintf(stderr, "usage: test_seccomp PROBE SECCOMP_C\n");
		return 2;
	}
	probe = argv[1];
	n = read_table(argv[2], names, 128);
	if (!tap_ok(n >= 40, "lib/seccomp.c's table read: %zu calls", n))
		return tap_done();
	if (!tap_ok(scmp_prepare(ctx, &err) == 0 && ctx->bpf_len > 0,
		    "the filter is built (%zu instructions) %s", ctx->bpf_len,
		    err.message))
		return tap_done();
	run_probe(ctx, &with);
	tap_ok(WIFEXITED(with.status) && WEXITSTATUS(with.status) == 0 &&
		   with.n > n,
	       "the probe ran under the filter: %zu results, status %#x",
	       with.n, with.status);
	check_table(&with, names, n);
	check_args(&with);
	run_probe(NULL, &without);
	tap_ok(WIFEXITED(without.status) && WEXITSTATUS(without.status) == 0 &&
		   without.n == with.n,
	       "control: the probe ran without a filter: %zu results",
	       without.n);
	check_control(&without, names, n);
	free(ctx->bpf);
	free(ctx);
	return tap_done();
}
