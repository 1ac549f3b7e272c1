/* SPDX-License-Identifier: MIT */
/*
 * pexos.h - run untrusted Python scripts in a Linux sandbox.
 *
 * The only installed header of libpexos. A request is the JSON object of
 * pexos(7) (`{"script": "def main(): ..."}`); the answer is the response JSON
 * object. What the script did (an exception, a timeout, ...) is part of the
 * response, never a C error: a negative return from this library means pexos
 * itself failed (the sandbox could not be built, out of memory, ...).
 *
 * Conventions:
 *  - Functions return 0 (or a non-negative value) on success and a negative
 *    errno value on failure; on failure the caller's pexos_error is filled.
 *  - `ret_*` out-parameters are written only on success.
 *  - Strings handed out by the library are owned by the caller and freed with
 *    pexos_free(). Strings passed in are borrowed for the call only.
 *  - A pexos_context is immutable once made; pexos_run_script() may be called
 *    on one context from many threads at once.
 */
#ifndef PEXOS_H
#define PEXOS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; these are its interface. */
#if defined(__GNUC__)
#define PEXOS_EXPORT __attribute__((visibility("default")))
#else
#define PEXOS_EXPORT
#endif

/* Filled on failure. Fixed size, no allocation. `code` is a positive errno
 * value (or 0 when no errno applies), `step` names the step that failed
 * (e.g. "mount", "uid_map", "options") and `message` is a sentence a person
 * can act on. */
typedef struct pexos_error {
	int code;
	char step[32];
	char message[480];
} pexos_error;

/* The verdict of one run, for front ends that map it to exit codes or HTTP
 * statuses. `type` is "" on success, else the response's "type". */
typedef struct pexos_outcome {
	char type[32];
	int http_status; /* 200, 400, 413, 422, 500 */
	int exit_code;   /* pexos-run's exit status: 0, 1, 2 or 3 */
} pexos_outcome;

typedef struct pexos_options pexos_options;
typedef struct pexos_context pexos_context;

/* Options with the server-wide defaults of pexos(7). Returns a new object
 * (free with pexos_options_free) or NULL when out of memory. */
PEXOS_EXPORT pexos_options *pexos_options_new(void);

/* Frees `opts`; NULL is allowed. */
PEXOS_EXPORT void pexos_options_free(pexos_options *opts);

/* Sets one option by name from its text form, as the CLI flags and the
 * PEXOS_* environment variables give it. Names and units:
 *   "python"       interpreter inside the sandbox (absolute path)
 *   "timeout"      wall-clock limit, seconds (decimal); also sets "cpu"
 *                  (at least 1 s) until "cpu" itself is set
 *   "cpu"          CPU-time limit, seconds (decimal); once set, "timeout"
 *                  no longer changes it
 *   "memory_mb"    memory limit, MiB
 *   "pids"         processes and threads
 *   "tmp_mb"       size of the writable /tmp, MiB
 *   "output_max"   captured bytes of stdout and of stderr, each
 *   "result_max"   bytes of the serialised result
 *   "script_max"   bytes of the script
 *   "stdin_max"    bytes of the request's stdin
 *   "in_files"     input files a request may send ("files"; default 100)
 *   "in_files_max" their decoded bytes in all (default 16 MiB)
 *   "out_file_max" bytes of one output file sent back (default 8 MiB)
 *   "out_files_max" bytes of all output files of a response (16 MiB)
 *   "figures"      figures sent back (default 20)
 *   "figure_max"   bytes of one figure's PNG (default 4 MiB)
 *   "limits"       "auto" or "cgroup" (a cgroup per run, required: the
 *                  default) or "rlimit" (per-process rlimits only, for
 *                  hosts without a writable cgroup)
 *   "uid_base"     first of the two unprivileged uids and gids of the
 *                  caller's user namespace runs map to (set-up; the
 *                  script gets the next). Unset: 2000000000 where mapped,
 *                  else a pair chosen from the mapped ids (pexos(7));
 *                  set: must be mapped, or pexos_context_new() fails
 *   "pool"         warm sandboxes kept ready (0, the default: none; every
 *                  run starts a sandbox and an interpreter of its own), or
 *                  "auto": sized by pexos_context_new() from "concurrency"
 *                  and "runs": 0 under "limits" "rlimit" or for one run,
 *                  min(concurrency, runs) for a known number of runs,
 *                  2 x concurrency (at most 1024) when "runs" is 0
 *   "concurrency"  runs the caller makes at once (default: the online
 *                  CPUs), for a "pool" of "auto"
 *   "runs"         runs the caller will make in all, for an automatic
 *                  "pool" (0, the default: not known, as for a server)
 *   "preload"      modules the pool's "full" interpreters import before
 *                  they wait, comma-separated (default "numpy,pandas"; ""
 *                  for none); when not empty, a "lean" pool of
 *                  interpreters that import nothing shares the pool's size
 *                  (pexos_pool_profile_info)
 *   "lean_pool"    "auto" (the default: that lean pool when "preload" is
 *                  not empty) or "off" (one pool: every pooled run on an
 *                  interpreter that imported "preload")
 *   "pool_wait"    seconds a run waits for a warm sandbox before it starts
 *                  a cold one (default 2)
 * Both strings are borrowed. Returns 0, or -EINVAL with `err` naming the
 * option and the accepted range. */
PEXOS_EXPORT int pexos_options_set(pexos_options *opts, const char *name, const char *value,
		      pexos_error *err);

/* Makes a context from `opts` (borrowed; may be freed afterwards). Builds
 * what every run shares (seccomp program, mount plan) and, with a "pool"
 * above 0, starts the warm pool: a background thread and a zygote
 * interpreter that fill it (pexos(7)); the pool becomes ready about a second
 * later, and runs before that wait for it up to "pool_wait". On success
 * *ret_ctx is a new context, freed with pexos_context_free(). */
PEXOS_EXPORT int pexos_context_new(const pexos_options *opts, pexos_context **ret_ctx,
		      pexos_error *err);

/* Frees `ctx`; NULL is allowed. No run may be in progress on it. */
PEXOS_EXPORT void pexos_context_free(pexos_context *ctx);

/* Runs one request. `request` (borrowed) is `len` bytes of JSON text.
 * On success returns 0, *ret_response is a new NUL-terminated compact JSON
 * object (free with pexos_free) and, when `ret_outcome` is not NULL, it
 * receives the verdict. Invalid requests and script failures are successes
 * here: their response says what happened. Returns a negative errno only
 * when pexos itself failed; then `err` says why and nothing is written to
 * the out-parameters. Thread-safe. */
PEXOS_EXPORT int pexos_run_script(pexos_context *ctx, const char *request, size_t len,
		     char **ret_response, pexos_outcome *ret_outcome,
		     pexos_error *err);

/* pexos_run_script with a cancel descriptor: the run is cancelled as soon
 * as `cancel_fd` hangs up, i.e. poll(2) with events POLLRDHUP reports
 * POLLHUP, POLLERR or POLLRDHUP on it: a socket whose peer went away (or
 * shut its writing side down), a pipe whose write end was closed. Data
 * waiting to be read on it cancels nothing (a client may pipeline its next
 * request). It is checked before the run starts (a queued request whose
 * client left never runs), every 100 ms while it waits for a warm slot and
 * every 100 ms while it runs. A cancelled run has its sandbox killed and
 * its warm slot freed before the call returns -ECANCELED with `err` step
 * "cancel_fd". `cancel_fd` is borrowed: it must stay open until the call
 * returns (an invalid descriptor cancels); -1 means none, as
 * pexos_run_script. Never reads from or writes to it. Otherwise as
 * pexos_run_script. Thread-safe. */
PEXOS_EXPORT int pexos_run_script_until(pexos_context *ctx, const char *request,
					size_t len, int cancel_fd,
					char **ret_response,
					pexos_outcome *ret_outcome,
					pexos_error *err);

/* The most descriptors pexos_run_script_until_any watches. */
#define PEXOS_CANCEL_FDS_MAX 8

/* pexos_run_script_until with up to PEXOS_CANCEL_FDS_MAX cancel
 * descriptors: the run is cancelled as soon as any of them hangs up (say
 * a client's socket and a pipe of the caller's own, whose write end it
 * closes to cancel). Negative entries are skipped. More than the maximum:
 * -EINVAL. Otherwise as pexos_run_script_until. Thread-safe. */
PEXOS_EXPORT int pexos_run_script_until_any(pexos_context *ctx,
					    const char *request, size_t len,
					    const int *cancel_fds,
					    size_t n_cancel_fds,
					    char **ret_response,
					    pexos_outcome *ret_outcome,
					    pexos_error *err);

/* Ends every run in progress on `ctx` and refuses new ones: their
 * pexos_run_script returns -ECANCELED. For a daemon's shutdown after its
 * grace period. Thread-safe; cannot be undone. */
PEXOS_EXPORT void pexos_context_cancel(pexos_context *ctx);

/* The warm pool's state as a JSON object text (free with pexos_free), or
 * NULL without a pool:
 *   {"size", "ready", "starting", "in_use", "state": "up"|"starting"|"down",
 *    "hits", "misses", "slots_started", "slot_failures", "zygote_starts",
 *    "preload", "slot_start_ms", "zygote_start_ms", "zygote_rss_kb",
 *    "zygote_private_kb", "slot_private_kb", "slot_private_kb_max", "error",
 *    "target", "profiles": {"full": {...}, "lean": {...}}}
 * (the memory figures only while the zygotes are up; "error" only after a
 * failure), built from pexos_pool_info(); "target" is the slots the
 * profiles keep now (their sum of "size"), "profiles" each profile's pool
 * with the same keys (pexos_pool_profile_info). Front ends that decide on
 * the pool's state should call those instead. Thread-safe. */
PEXOS_EXPORT char *pexos_pool_status(pexos_context *ctx);

/* The warm pool's zygote: not running (and to be started again after a
 * back-off, or never if the pool is stopping), being started, or up. */
typedef enum pexos_pool_state {
	PEXOS_POOL_OFF = 0, /* the context has no pool */
	PEXOS_POOL_DOWN,
	PEXOS_POOL_STARTING,
	PEXOS_POOL_UP,
} pexos_pool_state;

/* The warm pool's state at one moment, filled by pexos_pool_info(). The
 * figures pexos_pool_status() gives as JSON, under the same names; a
 * figure that is not known is -1. */
typedef struct pexos_pool_snapshot {
	pexos_pool_state state;
	unsigned size;     /* slots the pool keeps (its configured size; for
			    * one profile, its share of it now) */
	unsigned ready;    /* waiting for a script */
	unsigned starting; /* being set up */
	unsigned in_use;   /* running a script */
	unsigned long long hits, misses; /* runs that got one, or went cold */
	unsigned long long slots_started, slot_failures, zygote_starts;
	double slot_start_ms;      /* mean, asked for to ready; -1 before one */
	long long zygote_start_ms; /* its last start; -1 unless up */
	/* memory, measured by the pool's own thread (a slot's when it
	 * becomes ready, as its cgroup's charge, the zygote's when it comes
	 * up, both again every 5 s from their page tables while the pool
	 * rests): never done on the caller's thread */
	long long zygote_rss_kb, zygote_private_kb; /* -1 unless up; the
						     * zygotes' sum */
	long long slot_private_kb;     /* mean of up to 4 ready slots, or -1 */
	long long slot_private_kb_max; /* the largest of those, or -1 */
	char preload[512];             /* the modules its interpreters import */
	char error[512]; /* why it failed last, or "" (cleared once up) */
} pexos_pool_snapshot;

/* Fills *ret with the warm pool's state: PEXOS_POOL_OFF and zeros for a
 * context without a pool. Never waits for the pool's work (a zygote's
 * start, a slot's set-up): the pool holds its lock only briefly. Returns 0,
 * or -EINVAL when ctx or ret is NULL. Thread-safe. */
PEXOS_EXPORT int pexos_pool_info(pexos_context *ctx, pexos_pool_snapshot *ret);

/* The pool of one profile, by index from 0: "full" (its interpreters
 * import "preload") and, when "preload" is not empty, "lean" (they import
 * nothing; scripts whose imports name no preloaded module, nor one known to
 * import numpy or pandas, run there). pexos_pool_info() sums them; here
 * `size` is the slots the profile keeps now, its share of the pool's size
 * by recent demand. *ret_name (unless NULL) becomes the profile's name,
 * static storage. Returns 0, -ENOENT past the last profile (or without a
 * pool), -EINVAL when ctx or ret is NULL. Thread-safe. */
PEXOS_EXPORT int pexos_pool_profile_info(pexos_context *ctx, unsigned index,
					 const char **ret_name,
					 pexos_pool_snapshot *ret);

/* Turns a library failure into the SandboxError response object of
 * pexos(7): {"error": "pexos could not run the script (STEP): MESSAGE",
 * "type": "SandboxError"}. `err` is borrowed. Returns a new string (free
 * with pexos_free) or NULL when out of memory. */
PEXOS_EXPORT char *pexos_error_response(const pexos_error *err);

/* The verdict that goes with pexos_error_response(err): type
 * "SandboxError", HTTP 500, exit code 3. `err` is borrowed (NULL is
 * allowed); *ret_outcome is written unless NULL. Never fails. */
PEXOS_EXPORT void pexos_error_outcome(const pexos_error *err,
				      pexos_outcome *ret_outcome);

/* The "result" of a success response (NUL-terminated, borrowed), as the
 * JSON text it holds: numbers keep their spelling, big integers their
 * digits. On success returns 0 and *ret_result is a new string (free with
 * pexos_free). Returns -ENOENT when the response has no result (a failure
 * response), -EINVAL when it is not a JSON object, -ENOMEM; `err` says
 * which. */
PEXOS_EXPORT int pexos_response_result(const char *response, char **ret_result,
				       pexos_error *err);

/* Probes which isolation features work on this host with `opts`
 * (borrowed), by trying each one for real, ending with a test run. Works
 * also where no context can be made: that is what it explains.
 * *ret_report becomes a new JSON object text (free with pexos_free):
 *   {"ok": bool, "limits": MODE, "features": [{"name", "ok", "required",
 *    "detail"}...], "ids": {"setup", "script", "how", "mapped",
 *    "parent_uids", "parent_gids"} (libpexos(3)), "file_limits": {...}}
 * Returns 1 if every required feature works, 0 if one is missing, or a
 * negative errno if the probe itself could not run. */
PEXOS_EXPORT int pexos_check(const pexos_options *opts, char **ret_report,
			     pexos_error *err);

/* Frees a string returned by this library; NULL is allowed. */
PEXOS_EXPORT void pexos_free(void *p);

/* The library's version, e.g. "0.1.0". Static storage. */
PEXOS_EXPORT const char *pexos_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PEXOS_H */
