/* SPDX-License-Identifier: MIT */
/*
 * proto.h - what the processes of a run agree on: descriptor numbers,
 * message tags and the zygote's configuration.
 *
 * Four programs speak these protocols: the library (sandbox.c, pool*.c),
 * pexos-init (init/pexos-init.c), the zygote's helper (zygote/helper.c) and
 * the Python side (runner.py, zygote.py). The C side includes this file;
 * the Python side gets the PROTO_* numbers below as generated constants
 * (proto_py.py writes them between the "proto:" markers of each .py file
 * when the library is built, and the unit test proto/python fails when the
 * committed text differs). Numbers that must agree with another are tied
 * by _Static_assert where both are visible.
 *
 * Only #define lines of the form `#define PROTO_NAME number` or
 * `#define PROTO_NAME 'c'` are read by proto_py.py.
 */
#ifndef PEXOS_PROTO_H
#define PEXOS_PROTO_H

/* ---- a run's process on the cold path (sandbox.c) --------------------
 * Placed before the interpreter starts; the last four belong to the setup
 * and to init and never reach the interpreter. */
#define PROTO_FD_STDIN 0
#define PROTO_FD_STDOUT 1
#define PROTO_FD_STDERR 2
#define PROTO_FD_RESULT 3 /* runner.py writes its verdict here */
#define PROTO_FD_SCRIPT 4 /* runner.py reads the source here, once */
#define PROTO_FD_SYNC 5   /* setup errors to the parent; close-on-exec */
#define PROTO_FD_GO 6     /* parent -> init: the id maps are written */
#define PROTO_FD_STATUS 7 /* pexos-init -> parent: the script's wait status */
#define PROTO_FD_INIT 8   /* pexos-init itself; close-on-exec */
#define PROTO_N_FD 9

/* ---- the zygote (zygote.py), started as a cold run's process ---------
 * sandbox_start_zygote() places its descriptors where a run's would be:
 * the control socket at the result channel's number, the configuration at
 * the script's, and pexos-init just above the run's descriptors. */
#define PROTO_ZY_FD_CTL 3
#define PROTO_ZY_FD_CONFIG 4
#define PROTO_ZY_FD_INIT 9

/* Control messages, one SOCK_SEQPACKET datagram each:
 *   library -> zygote  H             fds: the helper (helper.c), sent first
 *                      S id32        fds: PROTO_SLOT_NFD (and up to
 *                                    PROTO_SLOT_CG_MAX more), see below
 *   zygote -> library  Y             warm and ready for slots
 *                      E text        cannot start (then exits)
 *                      S id32        fds: pidfds of the slot's process and
 *                                    of pid 1 of its PID namespace
 *                      F id32 text   the slot could not be started */
#define PROTO_MSG_HELPER 'H'
#define PROTO_MSG_SLOT 'S'
#define PROTO_MSG_UP 'Y'
#define PROTO_MSG_ERROR 'E'
#define PROTO_MSG_SLOT_FAILED 'F'
#define PROTO_MSG_ID_LEN 5 /* tag + 32-bit slot id */

/* The descriptors of a slot request, in this order: the slot's socket and
 * the write ends of its stdout, stderr, result channel and status pipe
 * (the zygote writes the slot process's struct proto_slot_status there).
 * On cgroup v1 up to PROTO_SLOT_CG_MAX more may follow: the `tasks` file
 * of each directory of the slot's cgroup, opened by the library. Each of
 * the slot's two processes (its pid 1 before its exec, its Python process
 * first thing) writes "0" to each: a thread that moves itself takes no
 * machine-wide lock, where a write of a pid to cgroup.procs takes
 * cgroup_threadgroup_rwsem for writing, which can wait for an RCU grace
 * period while every fork and exit on the machine waits for it. A
 * process that cannot enter its cgroup exits. */
#define PROTO_SLOT_REQ_SOCK 0
#define PROTO_SLOT_REQ_STDOUT 1
#define PROTO_SLOT_REQ_STDERR 2
#define PROTO_SLOT_REQ_RESULT 3
#define PROTO_SLOT_REQ_STATUS 4
#define PROTO_SLOT_NFD 5
#define PROTO_SLOT_CG_MAX 4
#define PROTO_SLOT_NFD_MAX (PROTO_SLOT_NFD + PROTO_SLOT_CG_MAX)

/* ---- a slot's process -------------------------------------------------
 * While it waits: 0 /dev/null, 1 and 2 its output, PROTO_FD_RESULT the
 * result channel and PROTO_SLOT_FD_SOCK its socket to the library:
 *   library -> slot    g kinds8        it is in its cgroup: build the
 *                                      sandbox, make those page sets its own
 *   slot -> library    R               locked down and waiting for a script
 *                      E text          set-up failed
 *   library -> slot    M kinds8        while it waits: make these page sets
 *                                      its own too (idle priority)
 *                      J cpu_ms(u64) kinds8
 *                                      fds: script, stdin; the page sets the
 *                                      script is likely to write, made its
 *                                      own first when the slot lacks them
 *
 * Page sets, by kind of run: the pages a probe run of each kind wrote
 * (the zygote records them at start). A bit for a kind whose module the
 * zygote has not imported stands for no page. */
#define PROTO_SLOT_FD_SOCK 4
#define PROTO_MSG_GO 'g'
#define PROTO_MSG_GO_LEN 2
#define PROTO_MSG_WAITING 'R'
#define PROTO_MSG_MORE 'M'
#define PROTO_MSG_MORE_LEN 2
#define PROTO_MSG_JOB 'J'
#define PROTO_MSG_JOB_LEN 10 /* tag, 64-bit CPU limit in ms (little end.),
			      * kinds */
#define PROTO_JOB_NFD 2
/* What every run needs before its script, made by the runner's _prepare()
 * on the cold path and by the helper's pexos_slot_wait() in a slot: the
 * directory of the run's copy of its script, and MPLCONFIGDIR with a link
 * to each file of matplotlib's prebuilt font list, copied read-only to
 * PROTO_FONT_CACHE (fontcache.c, mounts.c). */
#define PROTO_SCRIPT_DIR "/tmp/.pexos"
#define PROTO_FONT_CACHE "/etc/matplotlib"
#define PROTO_KIND_BASE 1   /* the runner's own path: every run */
#define PROTO_KIND_NUMPY 2  /* a script that imports numpy */
#define PROTO_KIND_PANDAS 4 /* ... pandas */
#define PROTO_KIND_PYPLOT 8 /* ... matplotlib */
#define PROTO_KIND_ALL 15

/* ---- the zygote's configuration --------------------------------------
 * The file at PROTO_ZY_FD_CONFIG: a JSON object for zygote.py (runner,
 * preload, result_max, warm_pages), a NUL byte, then struct
 * proto_zygote_config for the helper, which zygote.py passes on as bytes
 * without reading it. */
#define PROTO_ZY_MAGIC 0x70787a31 /* "pxz1" */

#ifndef PROTO_NUMBERS_ONLY
#include <stdint.h>

#include "lockdown.h"

/* What the zygote reaps of a slot's process (wait4): its wait status and
 * the page faults it took in its whole life, minor and major, its reaped
 * children's included. */
struct proto_slot_status {
	int32_t status;
	uint32_t pad;
	uint64_t faults;
};

struct proto_zygote_config {
	uint32_t magic; /* PROTO_ZY_MAGIC */
	uint32_t size;  /* sizeof(struct proto_zygote_config) */
	uint64_t tmp_mb; /* a slot's /tmp */
	int32_t idle;    /* a slot sets itself up at SCHED_IDLE */
	uint32_t pad;
	struct lockdown_plan lockdown; /* what the cold path applies */
};
#endif

#endif
