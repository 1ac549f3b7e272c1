/* SPDX-License-Identifier: MIT */
/* The cgroup v2 path on a fake cgroupfs tree (this host's memory, pids and
 * cpu controllers are bound to v1, so no real v2 hierarchy can have them),
 * and /proc/self/cgroup parsing for both versions. The v1 path runs for
 * real in every other test. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "tap.h"

static char tree[64];

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static const char *get(const char *rel)
{
	static char buf[256];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	f = fopen(path, "r");
	if (!f)
		return "(missing)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tree, rel);
	mkdir(path, 0755);
}

int main(void)
{
	struct cg_root root;
	struct cg_run run;
	pexos_error err = {0};
	char mountinfo[512];
	char name[64];
	int r;

	snprintf(tree, sizeof(tree), "/tmp/pexos-cgtest-XXXXXX");
	if (!mkdtemp(tree))
		return 1;
	/* A pod's cgroup, as Kubernetes delegates it, with a process in it. */
	dir("kubepods");
	dir("kubepods/pod1");
	put("kubepods/pod1/cgroup.controllers", "cpuset cpu io memory pids\n");
	put("kubepods/pod1/cgroup.subtree_control", "");
	put("kubepods/pod1/cgroup.procs", "1\n");
	dir("kubepods/pod1/pexos");
	put("kubepods/pod1/pexos/cgroup.controllers", "cpu memory pids\n");
	put("kubepods/pod1/pexos/cgroup.subtree_control", "");

	snprintf(mountinfo, sizeof(mountinfo),
		 "30 22 0:27 / %s rw,relatime - cgroup2 cgroup2 rw\n", tree);
	r = cg_prepare_v2(&root, tree, "0::/kubepods/pod1\n", mountinfo, &err);
	tap_ok(r == 0 && root.mode == CG_V2, "v2: prepared (%s)", err.message);
	tap_ok(strstr(root.base[0], "/kubepods/pod1/pexos") != NULL,
	       "v2: runs go below the process's own cgroup: %s", root.base[0]);
	tap_ok(strcmp(get("kubepods/pod1/pexos/cgroup.subtree_control"),
		      "+cpu") == 0,
	       "v2: controllers enabled for the runs (last write +cpu)");

	/* The run's control files, as the kernel would create them. */
	snprintf(name, sizeof(name), "kubepods/pod1/pexos/run-%d-0",
		 (int)getpid());
	dir(name);
	{
		const char *files[] = {"memory.max", "memory.swap.max",
				       "memory.oom.group", "pids.max",
				       "cgroup.procs", "cgroup.kill"};
		char rel[128];
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(rel, sizeof(rel), "%s/%s", name, files[i]);
			put(rel, "");
		}
		r = cg_run_create(&root, 100, 32, &run, &err);
		tap_ok(r == 0 && run.n == 1, "v2: run cgroup made (%s)",
		       err.message);
		snprintf(rel, sizeof(rel), "%s/memory.max", name);
		tap_ok(strcmp(get(rel), "104857600") == 0,
		       "v2: memory.max is the limit in bytes");
		snprintf(rel, sizeof(rel), "%s/memory.swap.max", name);
		tap_ok(strcmp(get(rel), "0") == 0, "v2: no swap beyond it");
		snprintf(rel, sizeof(rel), "%s/memory.oom.group", name);
		tap_ok(strcmp(get(rel), "1") == 0,
		       "v2: an OOM kill takes the whole run");
		snprintf(rel, sizeof(rel), "%s/pids.max", name);
		tap_ok(strcmp(get(rel), "32") == 0, "v2: pids.max");
		tap_ok(cg_run_attach(&run, 4242, &err) == 0, "v2: attach");
		snprintf(rel, sizeof(rel), "%s/cgroup.procs", name);
		tap_ok(strcmp(get(rel), "4242") == 0,
		       "v2: attach writes the pid to cgroup.procs");
		snprintf(rel, sizeof(rel), "%s/cpu.stat", name);
		put(rel, "usage_usec 2500000\nuser_usec 2000000\n");
		tap_ok(cg_run_cpu_ms(&root, &run) == 2500,
		       "v2: CPU time from cpu.stat usage_usec");
		snprintf(rel, sizeof(rel), "%s/memory.events", name);
		put(rel, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n");
		tap_ok(!cg_run_oom(&root, &run),
		       "v2: hitting max without an OOM kill is no MemoryLimit");
		put(rel, "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
		tap_ok(cg_run_oom(&root, &run), "v2: oom_kill 1 is a MemoryLimit");
	}
	{
		/* A run's files are opened from the base directory, held open
		 * since cg_prepare: with the path above it gone, they still
		 * are... */
		char from[512], to[512], rel[128];

		snprintf(from, sizeof(from), "%s/kubepods", tree);
		snprintf(to, sizeof(to), "%s/kubepods-moved", tree);
		r = rename(from, to);
		tap_ok(r == 0 && cg_run_cpu_ms(&root, &run) == 2500,
		       "v2: a run's file is read through the held base "
		       "directory");
		rename(to, from);
		/* ...and a base directory removed and made again behind
		 * pexos's back is found by its path again. */
		snprintf(from, sizeof(from), "%s/kubepods/pod1/pexos", tree);
		snprintf(to, sizeof(to), "%s/kubepods/pod1/pexos-old", tree);
		r = rename(from, to);
		dir("kubepods/pod1/pexos");
		put("kubepods/pod1/pexos/cgroup.controllers",
		    "cpu memory pids\n");
		put("kubepods/pod1/pexos/cgroup.subtree_control", "");
		snprintf(name, sizeof(name), "kubepods/pod1/pexos/run-%d-1",
			 (int)getpid());
		dir(name);
		snprintf(rel, sizeof(rel), "%s/memory.max", name);
		put(rel, "");
		snprintf(rel, sizeof(rel), "%s/pids.max", name);
		put(rel, "");
		tap_ok(r == 0 && cg_run_create(&root, 50, 8, &run, &err) == 0,
		       "v2: a run cgroup made in a base made again (%s)",
		       err.message);
		snprintf(rel, sizeof(rel), "%s/memory.max", name);
		tap_ok(strcmp(get(rel), "52428800") == 0,
		       "v2: its limit is written there");
	}
	/* A later process of the same service finds itself in the leaf an
	 * earlier pexos moved the service's processes to: its runs go below
	 * the service's cgroup, not one level deeper each time. */
	dir("kubepods/pod1/" CG_SUPERVISOR_LEAF);
	r = cg_prepare_v2(&root, tree,
			  "0::/kubepods/pod1/" CG_SUPERVISOR_LEAF "\n",
			  mountinfo, &err);
	tap_ok(r == 0 && strstr(root.base[0], CG_SUPERVISOR_LEAF) == NULL &&
		       strstr(root.base[0], "/kubepods/pod1/pexos") != NULL,
	       "v2: from the supervisor leaf, runs go below its parent: %s "
	       "(%s)",
	       root.base[0], err.message);
	/* Fail closed: no controllers to give. */
	/* A container's runtime mounted only the pod's cgroup: the paths are
	 * resolved through the mount's root. */
	snprintf(mountinfo, sizeof(mountinfo),
		 "30 22 0:27 /kubepods %s rw,relatime - cgroup2 cgroup2 rw\n",
		 tree);
	/* the cgroup /outer/kubepods/pod1 is tree/kubepods/pod1 here */
	snprintf(mountinfo, sizeof(mountinfo),
		 "30 22 0:27 /outer %s rw,relatime - cgroup2 cgroup2 rw\n",
		 tree);
	r = cg_prepare_v2(&root, tree, "0::/outer/kubepods/pod1\n", mountinfo,
			  &err);
	tap_ok(r == 0 && strstr(root.base[0], "outer") == NULL &&
		       strstr(root.base[0], "/kubepods/pod1/pexos") != NULL,
	       "v2: the mount's root is taken off pexos's own path: %s (%s)",
	       root.base[0], err.message);
	r = cg_prepare_v2(&root, tree, "0::/elsewhere\n", mountinfo, &err);
	tap_ok(r < 0 && strstr(err.message, "outside the tree"),
	       "v2: pexos's own cgroup outside the mounted tree is refused (%s)",
	       err.message);
	snprintf(mountinfo, sizeof(mountinfo),
		 "30 22 0:27 / %s rw,relatime - cgroup2 cgroup2 rw\n", tree);
	put("kubepods/pod1/cgroup.controllers", "cpu io\n");
	r = cg_prepare_v2(&root, tree, "0::/kubepods/pod1\n", mountinfo, &err);
	tap_ok(r < 0 && strstr(err.message, "--limits=rlimit"),
	       "v2: without memory and pids controllers it refuses, naming "
	       "the fix");
	r = cg_prepare(&root, "rlimit", tree, "", "", &err);
	tap_ok(r == 0 && root.mode == CG_NONE, "rlimit mode needs no cgroup");
	r = cg_prepare(&root, "sometimes", tree, "", "", &err);
	tap_ok(r < 0, "an unknown limits mode is refused");
	r = cg_prepare(&root, "auto", "/nonexistent", "", "", &err);
	tap_ok(r < 0 && strstr(err.message, "no cgroup filesystem"),
	       "no cgroup filesystem: refused (%s)", err.message);
	{
		/* A slot's place, noted once and compared at hand-off. */
		struct cg_root r1 = {.mode = CG_V1};
		struct cg_run none = {0};
		static struct cg_seen seen;

		cg_run_note(&r1, getpid(), &seen);
		tap_ok(seen.len > 0 && strchr(seen.text, ':') != NULL,
		       "note: /proc/PID/cgroup taken (%zu bytes)", seen.len);
		tap_ok(cg_run_still(&r1, &none, getpid(), &seen) == 0,
		       "still: the same place passes");
		seen.text[seen.len - 2] ^= 1;
		tap_ok(cg_run_still(&r1, &none, getpid(), &seen) == -ESTALE,
		       "still: another place is refused");
		seen.text[seen.len - 2] ^= 1;
		seen.len--;
		tap_ok(cg_run_still(&r1, &none, getpid(), &seen) == -ESTALE,
		       "still: a shorter text is refused");
		seen.len = 0;
		tap_ok(cg_run_still(&r1, &none, getpid(), &seen) == -ESTALE,
		       "still: without a note, cg_run_holds decides (no "
		       "cgroup: refused)");
		r1.mode = CG_NONE;
		cg_run_note(&r1, getpid(), &seen);
		tap_ok(seen.len == 0 &&
			   cg_run_still(&r1, &none, getpid(), &seen) == 0,
		       "no cgroups: nothing noted, nothing to check");
	}
	{
		/* A slot whose two processes entered its cgroup themselves
		 * is trusted once both are in every directory: on v1 by
		 * their /proc/PID/cgroup, on v2 by cgroup.procs. */
		struct cg_root r1 = {.mode = CG_V1};
		struct cg_run held = {.n = 2};
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "mkdir -p %s/held/a %s/held/b", tree,
			 tree);
		if (system(cmd) != 0)
			return 1;
		snprintf(r1.base[CG1_MEMORY], PATH_MAX, "%s/memory/pexos", tree);
		snprintf(r1.base[CG1_PIDS], PATH_MAX, "%s/pids/pexos", tree);
		snprintf(r1.named[CG1_MEMORY], PATH_MAX, "/svc/pexos");
		snprintf(r1.named[CG1_PIDS], PATH_MAX, "/pexos");
		snprintf(held.path[0], PATH_MAX, "%s/memory/pexos/run-9-3", tree);
		snprintf(held.path[1], PATH_MAX, "%s/pids/pexos/run-9-3", tree);
		tap_ok(cg_text_in(&r1, &held,
				  "12:pids:/pexos/run-9-3\n"
				  "7:cpu,cpuacct:/\n"
				  "4:memory:/svc/pexos/run-9-3\n"
				  "0::/\n"),
		       "in: a process in each directory is in the run");
		tap_ok(!cg_text_in(&r1, &held,
				   "12:pids:/pexos/run-9-3\n"
				   "4:memory:/svc/pexos\n"),
		       "in: one directory's parent is not the run");
		tap_ok(!cg_text_in(&r1, &held,
				   "12:pids:/pexos/run-9-31\n"
				   "4:memory:/svc/pexos/run-9-3\n"),
		       "in: a cgroup whose name only starts with the run's is "
		       "not the run's");
		tap_ok(!cg_text_in(&r1, &held,
				   "4:memory:/svc/pexos/run-9-3\n"),
		       "in: a hierarchy missing from the text is refused");
		tap_ok(!cg_text_in(&r1, &held,
				   "12:pids:/svc/pexos/run-9-3\n"
				   "4:memory:/pexos/run-9-3\n"),
		       "in: each controller is compared with its own "
		       "hierarchy's path");
		{
			/* cpu and cpuacct mounted together: one line, two
			 * directories of the run (the same one). */
			struct cg_root r3 = r1;
			struct cg_run co = held;

			snprintf(r3.base[CG1_CPU], PATH_MAX,
				 "%s/cpu,cpuacct/pexos", tree);
			snprintf(r3.base[CG1_CPUACCT], PATH_MAX, "%s",
				 r3.base[CG1_CPU]);
			snprintf(r3.named[CG1_CPU], PATH_MAX, "/pexos");
			snprintf(r3.named[CG1_CPUACCT], PATH_MAX, "/pexos");
			snprintf(co.path[2], PATH_MAX,
				 "%s/cpu,cpuacct/pexos/run-9-3", tree);
			snprintf(co.path[3], PATH_MAX, "%s", co.path[2]);
			co.n = 4;
			tap_ok(cg_text_in(&r3, &co,
					  "12:pids:/pexos/run-9-3\n"
					  "7:cpu,cpuacct:/pexos/run-9-3\n"
					  "4:memory:/svc/pexos/run-9-3\n"
					  "1:name=systemd:/x\n"),
			       "in: cpu and cpuacct mounted together, one "
			       "line for both");
			tap_ok(!cg_text_in(&r3, &co,
					   "12:pids:/pexos/run-9-3\n"
					   "7:cpu,cpuacct:/\n"
					   "4:memory:/svc/pexos/run-9-3\n"),
			       "in: outside the cpu hierarchy's directory, "
			       "refused");
		}
		r1.named[CG1_PIDS][0] = '\0';
		tap_ok(!cg_text_in(&r1, &held,
				   "12:pids:/run-9-3\n"
				   "4:memory:/svc/pexos/run-9-3\n"),
		       "in: without the hierarchy's name, refused");
		snprintf(r1.named[CG1_PIDS], PATH_MAX, "/pexos");
		held.n = 1;
		tap_ok(!cg_text_in(&r1, &held,
				   "12:pids:/pexos/run-9-3\n"
				   "4:memory:/svc/pexos/run-9-3\n"),
		       "in: a run short of a directory is refused");
		held.n = 2;
		/* Real reads: every cold and pooled run passes the check
		 * (sandbox.c, pool_slot.c); this process is in none. */
		tap_ok(cg_run_holds(&r1, &held, getpid(), 0) == -ESTALE,
		       "holds, v1: this process, outside the run, is refused");
		tap_ok(cg_run_holds(&r1, &held, 2147483000, 0) == -ESTALE,
		       "holds, v1: a pid that is gone is refused");
		{
			static struct cg_seen noted;

			noted.len = 1;
			tap_ok(cg_run_holds_noted(&r1, &held, getpid(), 0,
						  &noted) == -ESTALE &&
				       noted.len == 0,
			       "holds_noted, v1: outside the run, refused and "
			       "nothing noted");
		}
		r1.mode = CG_V2;
		snprintf(held.path[0], sizeof(held.path[0]), "%s/held/a", tree);
		snprintf(held.path[1], sizeof(held.path[1]), "%s/held/b", tree);
		put("held/a/cgroup.procs", "7\n41\n");
		put("held/b/cgroup.procs", "41\n7\n");
		tap_ok(cg_run_holds(&r1, &held, 41, 7) == 0,
		       "holds, v2: both processes listed everywhere pass");
		tap_ok(cg_run_holds(&r1, &held, 41, 0) == 0,
		       "holds, v2: one process listed everywhere passes");
		put("held/b/cgroup.procs", "41\n");
		tap_ok(cg_run_holds(&r1, &held, 41, 7) == -ESTALE,
		       "holds, v2: pid 1 of the slot missing in one directory "
		       "is refused");
		put("held/b/cgroup.procs", "7\n417\n");
		tap_ok(cg_run_holds(&r1, &held, 41, 7) == -ESTALE,
		       "holds, v2: a pid that only starts with the slot's is "
		       "not the slot's");
		put("held/b/cgroup.procs", "");
		tap_ok(cg_run_holds(&r1, &held, 41, 7) == -ESTALE,
		       "holds, v2: an empty directory is refused");
		held.n = 0;
		tap_ok(cg_run_holds(&r1, &held, 41, 7) == -ESTALE,
		       "holds: a run without directories is refused");
		r1.mode = CG_V1;
		held.n = 2;
		put("held/a/tasks", "");
		put("held/b/tasks", "");
		{
			int fds[CG1_N] = {-1, -1, -1, -1};
			int n = cg_run_open_tasks(&r1, &held, fds);
			bool open_ok = n == 2 && fds[0] >= 0 && fds[1] >= 0 &&
				       fcntl(fds[0], F_GETFD) == FD_CLOEXEC;

			for (int i = 0; i < n; i++)
				close(fds[i]);
			tap_ok(open_ok, "open_tasks: one write-only descriptor "
					"per directory, close-on-exec (%d)",
			       n);
			snprintf(cmd, sizeof(cmd), "rm %s/held/b/tasks", tree);
			if (system(cmd) != 0)
				return 1;
			n = cg_run_open_tasks(&r1, &held, fds);
			tap_ok(n == 0, "open_tasks: a directory without one "
				       "gives none (%d)", n);
			r1.mode = CG_V2;
			n = cg_run_open_tasks(&r1, &held, fds);
			tap_ok(n == 0, "open_tasks: none on cgroup v2 (%d)", n);
		}
	}
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
		if (system(cmd) != 0)
			return 1;
	}
	return tap_done();
}
