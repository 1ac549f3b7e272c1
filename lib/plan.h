/* SPDX-License-Identifier: MIT */
/*
 * plan.h - what a run needs, resolved before clone.
 *
 * The sandbox child of a threaded process may not allocate, so everything it
 * touches is built here in the parent: the context holds what every run
 * shares (mount plan, seccomp program, argv/envp); a run_plan holds one
 * request.
 */
#ifndef PEXOS_PLAN_H
#define PEXOS_PLAN_H

#include <limits.h>
#include <stdatomic.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "pexos.h"

/* Inside the sandbox: setup runs as uid/gid 0, the script as 1000. Both map
 * to unprivileged ids uid_base and uid_base + 1 of pexos's own user
 * namespace (the host's, or a container's: ns_choose_ids). */
#define SANDBOX_UID 1000
#define SANDBOX_GID 1000
#define SANDBOX_HOSTNAME "pexos"

struct pexos_options {
	char python[PATH_MAX];
	uint64_t wall_ms;
	uint64_t cpu_ms;
	uint64_t memory_mb;
	uint64_t pids;
	uint64_t tmp_mb;
	uint64_t output_max;
	uint64_t result_max;
	uint64_t script_max;
	uint64_t stdin_max;
	uint64_t in_files;     /* input files a request may send */
	uint64_t in_files_max; /* their decoded bytes in all */
	uint64_t out_files_max; /* output files' bytes in a response, in all */
	uint64_t out_file_max;  /* one output file's bytes */
	uint64_t figures;       /* figures in a response */
	uint64_t figure_max;    /* one figure's bytes of PNG */
	uint64_t uid_base;     /* resolved by ns_choose_ids in a context */
	bool uid_base_set;     /* set by the caller, not the default */
	char limits[16]; /* "auto", "cgroup" or "rlimit" */
	uint64_t pool;         /* warm sandboxes kept ready; 0: none */
	bool pool_auto;        /* "pool" "auto": sized when the context is made */
	uint64_t concurrency;  /* runs at once the caller states (auto pool) */
	uint64_t runs;         /* runs the caller will make; 0: not known */
	bool cpu_set;          /* "cpu" was set: "timeout" leaves it alone */
	uint64_t pool_wait_ms; /* how long a run waits for one */
	char preload[512];     /* modules the pool imports, comma-separated */
	bool lean_pool;        /* a lean pool beside the preloaded one */
};

enum mnt_kind {
	MNT_TMPFS,   /* tmpfs at dst, data = options, flags = MS_* */
	MNT_BIND_RO, /* read-only recursive bind of src at dst (a directory) */
	MNT_BIND_DEV,/* bind of a host device node src onto a file at dst */
	MNT_COPY,    /* file dst with the contents of the host file src,
		      * copied at set-up: no mount (see mounts.c) */
	MNT_PROC,    /* fresh proc at dst */
	MNT_SYMLINK, /* symlink dst -> src */
	MNT_WRITE,   /* file dst with contents data */
	MNT_MKDIR,   /* directory dst */
	MNT_REMOUNT_RO, /* make the mount at dst read-only */
	MNT_DEVPTS,  /* new devpts instance at dst, data = options */
};

struct mnt_op {
	enum mnt_kind kind;
	unsigned long flags;
	char src[PATH_MAX];
	char dst[PATH_MAX];
	char data[256];
};

#define MNT_OPS_MAX 64
#define ARGV_MAX 16
#define ENVP_MAX 16

struct lockdown_plan;

struct pexos_context {
	struct pexos_options opts;
	atomic_bool cancelled; /* pexos_context_cancel */
	struct cg_root cg;
	/* host directory of matplotlib's prebuilt font list, or NULL
	 * (fontcache.c); its files copied to /etc/matplotlib */
	const char *font_cache;
	/* mount plan, applied in order by the sandbox's init */
	struct mnt_op *mnt_ops;
	size_t n_mnt_ops;
	uint64_t mnt_copy_bytes; /* the MNT_COPY files' size at planning */
	/* seccomp program exported by libseccomp in the parent */
	struct sock_filter *bpf;
	size_t bpf_len;
	int last_cap;
	/* what a script's process applies, cold or warm (lockdown.h) */
	struct lockdown_plan *lockdown;
	/* sealed memory file holding pexos-init, exec'd as each run's pid 1 */
	int init_fd;
	/* the interpreter's command line and environment */
	char *argv[ARGV_MAX];
	char *envp[ENVP_MAX];
	char *zygote_argv[ARGV_MAX]; /* the pool's zygote */
	struct pool_set *pool;       /* NULL without a pool */
	char result_max_arg[32];
	char uid_map[64];
	char gid_map[64];
};

/* An input file of a request: a validated relative path and its bytes. */
struct plan_file {
	char *path; /* owned, NUL-terminated */
	char *data; /* owned, len bytes */
	size_t len;
};

/* Most output patterns a request may name, and the bytes of one. */
#define PLAN_OUTPUTS_MAX 64
#define PLAN_OUTPUT_LEN_MAX 1024
/* Most entries of a response's "files": matches past it are counted in
 * "files_omitted". */
#define PLAN_OUT_ENTRIES_MAX 1000
/* Bytes of an input file's path (SPEC §1). */
#define PLAN_NAME_MAX 255
/* Bytes of an output file's path, as the runner may report it. */
#define PLAN_PATH_MAX 4096

/* One validated request. */
struct run_plan {
	char *script; /* owned, script_len bytes, not NUL-terminated */
	size_t script_len;
	char *stdin_data; /* owned, may be NULL */
	size_t stdin_len;
	uint64_t wall_ms;
	uint64_t cpu_ms;
	uint64_t memory_mb;
	bool stats;
	/* pexos_run_script_until(_any)'s cancel descriptors, borrowed: the
	 * run ends once one hangs up (plan_cancelled) */
	int cancel_fd[PEXOS_CANCEL_FDS_MAX];
	unsigned n_cancel_fd;
	struct plan_file *files; /* owned, n_files */
	size_t n_files;
	size_t files_bytes; /* decoded bytes of all files */
	char **outputs;     /* owned glob patterns, n_outputs */
	size_t n_outputs;
	bool figures;       /* render open figures (default true) */
};

/* Has the plan's cancel descriptor hung up (a socket whose peer went
 * away, a pipe whose write end was closed)? Never waits; false without
 * one. Data waiting on it is not a hang-up. */
bool plan_cancelled(const struct run_plan *plan);

void run_plan_done(struct run_plan *plan);

/* Most warm sandboxes a pool keeps. */
#define POOL_MAX 1024

/* The pool size `o` asks for: its "pool", or with "auto" the size the
 * library picks from "concurrency" and "runs"; 0 without cgroups (each
 * slot needs a cgroup of its own). */
uint64_t options_pool_size(const struct pexos_options *o, bool cgroups);

#endif
