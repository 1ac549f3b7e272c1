/* SPDX-License-Identifier: MIT */
/*
 * helper.c - the zygote's loop, a slot's set-up and its page warm-up, in C.
 *
 * Loaded into the zygote interpreter (zygote.py) with ctypes from a sealed
 * memory file. After the zygote has frozen its heap it calls
 * pexos_zygote_serve(), which never returns to Python in the zygote: every
 * page the interpreter would touch there is shared with the waiting slots,
 * and each write would cost a copy-on-write fault (~25 us here). It returns
 * 0 only in a new slot's process, once that process is in its own
 * namespaces, cgroup and user namespace, without capabilities, with
 * no_new_privs and the seccomp filter, and has made the pages a run is
 * likely to write its own: the interpreter then reseeds and calls
 * pexos_slot_wait(), which makes what every run needs, maps pages for user
 * space while it waits for its script and takes the job, so that the
 * interpreter runs again only for the script.
 *
 * Protocol: proto.h. The lockdown is lockdown.c's, built into this object
 * with error.c: the plan the library sends is the one the cold path
 * applies; messages with descriptors are fdpass.c's, as the library's.
 * Built on its own (not with the project's sanitizers: it runs inside the
 * sandbox's interpreter), against libc only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fdpass.h"
#include "../lockdown.h"
#include "../mnt_dev.h"
#include "../net.h"
#include "../populate.h"
#include "../proto.h"
#include "../sched_attr.h"

#define MAX_LIVE 4096

/* What the zygote was given (proto.h), copied once by
 * pexos_zygote_serve(). */
struct zy_config {
	struct proto_zygote_config z;
	int ctl;               /* control socket to the library */
	int own_pidns;         /* /proc/self/ns/pid of the zygote */
	const uint64_t *write; /* [lo, hi) kinds triples: the page sets
				* (proto.h, PROTO_KIND_*) a run is likely
				* to write */
	size_t n_write;        /* triples */
	bool vectored;         /* populate_vectored(), probed here */
};

static struct zy_config config;

struct live {
	pid_t pid;
	int status_fd; /* -1: a pexos-init, only reaped */
};

static struct live live[MAX_LIVE];
static int n_live;

/* ---- in a new slot's process ----------------------------------------- */

static int sock_fd = -1;
static unsigned slot_kinds; /* the page sets the slot has made its own */

static __attribute__((noreturn, format(printf, 1, 2))) void
slot_fail(const char *fmt, ...)
{
	char msg[512];
	int e = errno, n;
	va_list ap;

	msg[0] = 'E';
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (e && (size_t)n + 1 < sizeof(msg))
		n += snprintf(msg + 1 + n, sizeof(msg) - 1 - (size_t)n, ": %s",
			      strerror(e));
	if ((size_t)n + 1 > sizeof(msg))
		n = (int)sizeof(msg) - 1;
	if (sock_fd >= 0)
		(void)!send(sock_fd, msg, (size_t)n + 1, MSG_NOSIGNAL);
	_exit(1);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		slot_fail("write %s", path);
	close(fd);
}

/* The slot's own /dev/shm and /dev/pts (mnt_dev.h), where the zygote has
 * none: nothing of another slot or of the zygote is in them. /dev itself
 * stays read-only; only the mounts on it are new. */
static void slot_dev(const struct zy_config *c)
{
	char data[64];

	snprintf(data, sizeof(data), MNT_SHM_DATA,
		 (unsigned long long)c->z.tmp_mb);
	if (mount("tmpfs", "/dev/shm", "tmpfs", MNT_SHM_FLAGS, data) < 0)
		slot_fail("mount /dev/shm");
	if (mount("devpts", "/dev/pts", "devpts", MNT_PTS_FLAGS, MNT_PTS_DATA) <
	    0)
		slot_fail("mount /dev/pts");
}

/* Own mount namespace: a fresh /tmp, /dev/shm and /dev/pts, on mount
 * points the zygote left empty (pexos_zygote_configure), and a /proc of
 * the slot's own PID namespace, replacing the zygote's (a new proc may
 * only be mounted where one is fully visible already). */
static void slot_fs(const struct zy_config *c)
{
	char data[64];

	snprintf(data, sizeof(data), "size=%llum,mode=1777",
		 (unsigned long long)c->z.tmp_mb);
	if (unshare(CLONE_NEWNS) < 0)
		slot_fail("unshare the mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		slot_fail("make / private");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
		slot_fail("mount /tmp");
	if (mkdir("/tmp/.proc", 0555) < 0)
		slot_fail("mkdir /tmp/.proc");
	if (mount("proc", "/tmp/.proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		slot_fail("mount proc");
	if (umount2("/proc", MNT_DETACH) < 0)
		slot_fail("detach /proc");
	if (mount("/tmp/.proc", "/proc", NULL, MS_MOVE, NULL) < 0)
		slot_fail("move proc");
	if (rmdir("/tmp/.proc") < 0)
		slot_fail("rmdir /tmp/.proc");
	slot_dev(c);
}

/* A user namespace of the slot's own, with the other namespaces a run
 * gets: entered as the script's uid (a warm slot has no setup user of its
 * own; the cold path's parent writes the maps from outside instead), so
 * that uid maps to itself. Then the lockdown every run gets
 * (lockdown_apply: capabilities, ids, limits, no_new_privs, seccomp). */
static void slot_lock_down(const struct zy_config *c)
{
	const struct lockdown_plan *lp = &c->z.lockdown;
	pexos_error err = {0};
	struct rlimit rl;
	char map[64];

	/* Counted per user namespace and uid: every slot's uid is the same
	 * at this level, so as high as allowed here; the run's own below. */
	if (getrlimit(RLIMIT_NPROC, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NPROC, &rl);
	}
	if (raw_setgroups0() < 0 || raw_setresgid((gid_t)lp->gid) < 0 ||
	    raw_setresuid((uid_t)lp->uid) < 0)
		slot_fail("switch to uid %d", lp->uid);
	/* A change of ids makes a process undumpable and its /proc files
	 * root's: as after the cold path's execve, it is dumpable again. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		slot_fail("set dumpable");
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
		    CLONE_NEWCGROUP) < 0)
		slot_fail("unshare the slot's namespaces");
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "%d %d 1\n", lp->uid, lp->uid);
	write_file("/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "%d %d 1\n", lp->gid, lp->gid);
	write_file("/proc/self/gid_map", map);
	/* The new user namespace owns the new network namespace: its
	 * loopback goes up while the slot still holds CAP_NET_ADMIN there. */
	if (net_lo_up(&err) < 0) {
		errno = 0; /* the message has it */
		slot_fail("%s: %s", err.step, err.message);
	}
	if (lockdown_apply(lp, 0, 0, &err) < 0) {
		errno = 0; /* the message has it */
		slot_fail("lock down (%s): %s", err.step, err.message);
	}
}

/* Makes the pages of the sets `kinds` that a run is likely to write the
 * slot's own (c->write: c->n_write [lo, hi) kinds triples; a
 * copy-on-write fault each, taken inside the kernel), but for those of
 * sets it has already. At set-up this is done before the slot says it is
 * ready, charged to the slot's cgroup, so that no run is given a slot
 * with this still to do. (Done while the slot waited, under load runs got
 * slots before it was done and took those faults themselves, at about
 * twice the cost each: see README, Benchmarks.) Only the sets recent runs
 * needed: each page costs a copy, and a run of one kind touches few of
 * another's. A range the kernel cannot populate (no longer mapped as it
 * was when the probe ran; EINVAL before Linux 5.14) is left alone. Many
 * ranges a call where the kernel takes that (populate.c).
 * Returns the sets added. */
static unsigned slot_own_pages(const struct zy_config *c, unsigned kinds)
{
	unsigned add = kinds & PROTO_KIND_ALL & ~slot_kinds;
	struct iovec iov[256];
	size_t n = 0;

	if (!add)
		return 0;
	for (size_t i = 0; i < c->n_write; i++) {
		uint64_t lo = c->write[3 * i], hi = c->write[3 * i + 1];
		unsigned k = (unsigned)c->write[3 * i + 2];

		if (!(k & add) || (k & slot_kinds))
			continue;
		iov[n++] = (struct iovec){.iov_base = (void *)(uintptr_t)lo,
					  .iov_len = (size_t)(hi - lo)};
		if (n == sizeof(iov) / sizeof(iov[0])) {
			populate_write(iov, n, c->vectored);
			n = 0;
		}
	}
	populate_write(iov, n, c->vectored);
	slot_kinds |= add;
	return add;
}

/* Writes "0" to each of the n `tasks` files in cg (-1: none): moves the
 * calling thread (the whole process: it has one) into the slot's cgroup
 * (proto.h, PROTO_SLOT_CG_MAX). Returns 0 or -1 with errno set. */
static int enter_cgroup(const int *cg, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cg[i] >= 0 && write(cg[i], "0", 1) != 1)
			return -1;
	return 0;
}

/* The descriptors a waiting slot keeps, by number (proto.h), and where
 * they come from in a slot request. */
static const struct {
	int at, from;
} slot_fds[] = {
	{PROTO_FD_STDOUT, PROTO_SLOT_REQ_STDOUT},
	{PROTO_FD_STDERR, PROTO_SLOT_REQ_STDERR},
	{PROTO_FD_RESULT, PROTO_SLOT_REQ_RESULT},
	{PROTO_SLOT_FD_SOCK, PROTO_SLOT_REQ_SOCK},
};
_Static_assert(PROTO_SLOT_FD_SOCK == PROTO_FD_RESULT + 1,
	       "slot_main() closes every descriptor above the socket");

/* fds: a slot request's (proto.h, PROTO_SLOT_REQ_*). */
static void slot_main(const struct zy_config *c,
		      const int fds[PROTO_SLOT_NFD_MAX], const sigset_t *old_mask)
{
	int high[4], null;
	unsigned char go[PROTO_MSG_GO_LEN];

	/* Before anything it could be charged for: its cgroup (proto.h). */
	sock_fd = fds[PROTO_SLOT_REQ_SOCK];
	if (enter_cgroup(fds + PROTO_SLOT_NFD, PROTO_SLOT_CG_MAX) < 0)
		slot_fail("enter the slot's cgroup");
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	signal(SIGCHLD, SIG_DFL);
	if (c->z.idle) {
		/* As pool_slot.c's slot_sched(): until the library hands it a run. */
		struct sched_attr_v0 a = {.size = sizeof(a),
				       .sched_policy = SCHED_IDLE,
				       .sched_nice = 19,
				       .sched_runtime = 100000};
		(void)syscall(SYS_sched_setattr, 0, &a, 0);
	}
	for (int i = 0; i < 4; i++)
		high[i] = fcntl(fds[slot_fds[i].from], F_DUPFD_CLOEXEC, 16);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, PROTO_FD_STDIN) < 0)
		_exit(1);
	for (int i = 0; i < 4; i++)
		if (high[i] < 0 || dup2(high[i], slot_fds[i].at) < 0)
			_exit(1);
	close_range(PROTO_SLOT_FD_SOCK + 1, ~0U, 0);
	sock_fd = PROTO_SLOT_FD_SOCK;
	if (read(sock_fd, go, sizeof(go)) != sizeof(go) || go[0] != PROTO_MSG_GO)
		_exit(0);
	slot_fs(c);
	slot_lock_down(c);
	slot_own_pages(c, PROTO_KIND_BASE | go[1]);
}

/* ---- a slot's warm-up ------------------------------------------------ */

#define BATCH 64 /* pages between two looks at the socket */

static void read_pages(uint64_t lo, uint64_t hi, uint64_t page)
{
	for (uint64_t at = lo; at < hi; at += page)
		(void)*(volatile const char *)(uintptr_t)at;
}

/* A slot's warm-up while it waits for its script, at idle priority: maps
 * for user space the pages of its sets (slot_own_pages) a run is likely
 * to write (write: n_write [lo, hi) kinds triples, already the slot's own)
 * and to read (read: n_read address, kinds pairs). On a virtual machine
 * with shadow page tables the first user access to a page in a new
 * process costs an exit to the hypervisor even when the kernel already
 * maps it (see tests/bench/pages). Looks at `sock` every BATCH pages and
 * stops when a message is there. Returns 0 when done, 1 when stopped. */
static int slot_warm(const uint64_t *write, size_t n_write,
		     const uint64_t *read, size_t n_read, int sock)
{
	struct pollfd pf = {.fd = sock, .events = POLLIN};
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	size_t since = 0;

	for (size_t i = 0; i < n_write; i++) {
		uint64_t lo = write[3 * i], hi = write[3 * i + 1];

		if (!(write[3 * i + 2] & slot_kinds))
			continue;
		read_pages(lo, hi, page);
		since += (hi - lo) / page;
		if (since >= BATCH) {
			since = 0;
			if (poll(&pf, 1, 0) > 0)
				return 1;
		}
	}
	for (size_t i = 0; i < n_read; i++) {
		if (!(read[2 * i + 1] & slot_kinds))
			continue;
		read_pages(read[2 * i], read[2 * i] + page, page);
		if (++since >= BATCH) {
			since = 0;
			if (poll(&pf, 1, 0) > 0)
				return 1;
		}
	}
	return 0;
}

/* ---- a slot's wait for its script ------------------------------------ */

static const uint64_t *warm_read; /* slot_warm()'s read pairs */
static size_t n_warm_read;

/* mkdir -p of an absolute path, each level with `mode` (less the umask),
 * as Python's os.makedirs. */
static void make_dirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			(void)mkdir(p, mode);
			*s = '/';
		}
	(void)mkdir(p, mode);
}

/* What every run needs before its script (runner.py, _prepare): the
 * script's directory, and MPLCONFIGDIR (the run's environment) with a link
 * to each file of the prebuilt font list. A failure is left to the run,
 * as there. The directory is read into the stack: no allocation, no page
 * of the heap. */
static void slot_prepare(void)
{
	const char *conf = getenv("MPLCONFIGDIR");
	union {
		char buf[4096];
		struct dirent64 align;
	} u;
	bool made = false;
	ssize_t n;
	int dir;

	(void)mkdir(PROTO_SCRIPT_DIR, 0755);
	if (!conf || conf[0] != '/')
		return;
	dir = open(PROTO_FONT_CACHE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	while ((n = getdents64(dir, u.buf, sizeof(u.buf))) > 0)
		for (ssize_t at = 0; at < n;) {
			const struct dirent64 *e = (const void *)(u.buf + at);
			char from[PATH_MAX], to[PATH_MAX];

			at += e->d_reclen;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (!made) {
				make_dirs(conf, 0777);
				made = true;
			}
			if (snprintf(from, sizeof(from), "%s/%s",
				     PROTO_FONT_CACHE,
				     e->d_name) >= (int)sizeof(from) ||
			    snprintf(to, sizeof(to), "%s/%s", conf,
				     e->d_name) >= (int)sizeof(to))
				continue;
			(void)symlink(from, to);
		}
	close(dir);
}

int pexos_slot_wait(int sock);

/* A slot's life from its set-up to its script, without Python: makes
 * what every run needs, says it is waiting on `sock`, maps pages in while
 * it waits (slot_warm), makes more page sets its own when told to,
 * and takes the job: the page sets its script is likely to write, the
 * run's CPU-time limit (lockdown.c, as on the cold path; the process
 * exits with 70 if it cannot be set), the script's stdin; then closes
 * `sock` and keeps the result channel from the script's children. Python
 * runs again only for the script: each object it touched in all this
 * would be a page to copy in every slot. Returns the script's descriptor;
 * -1 when the library closed the socket or sent anything else. */
int pexos_slot_wait(int sock)
{
	unsigned char msg[64];
	int fds[PROTO_JOB_NFD];
	size_t nfds;
	bool warm = true;

	slot_prepare();
	if (send(sock, (char[]){PROTO_MSG_WAITING}, 1, MSG_NOSIGNAL) != 1)
		return -1;
	for (;;) {
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		ssize_t n;

		if (warm)
			(void)slot_warm(config.write, config.n_write,
					warm_read, n_warm_read, sock);
		warm = false;
		if (poll(&pf, 1, -1) < 0 && errno != EINTR)
			return -1;
		n = fdpass_recv(sock, msg, sizeof(msg), fds, PROTO_JOB_NFD,
				&nfds);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n == PROTO_MSG_MORE_LEN && msg[0] == PROTO_MSG_MORE &&
		    nfds == 0) {
			slot_own_pages(&config, msg[1]);
			warm = true;
			continue;
		}
		if (n == PROTO_MSG_JOB_LEN && msg[0] == PROTO_MSG_JOB &&
		    nfds == PROTO_JOB_NFD) {
			uint64_t cpu_ms;
			pexos_error err;

			memcpy(&cpu_ms, msg + 1, sizeof(cpu_ms)); /* as pool.c */
			slot_own_pages(&config, msg[9]);
			if (lockdown_limit_cpu(cpu_ms, &err) != 0)
				_exit(70);
			if (dup2(fds[1], PROTO_FD_STDIN) < 0)
				_exit(1);
			close(fds[1]);
			close(sock);
			if (fcntl(PROTO_FD_RESULT, F_SETFD, FD_CLOEXEC) < 0)
				_exit(1);
			return fds[0];
		}
		close_fds(fds, nfds);
		return -1;
	}
}

/* ---- a probe's report ------------------------------------------------- */

#define PM_PRESENT (1ULL << 63)
#define PM_EXCLUSIVE (1ULL << 56)
#define REPORT_MAPS (6u << 20)  /* room for /proc/self/maps */
#define REPORT_ENTRIES 65536u   /* pagemap entries, then pages, per batch */
#define REPORT_SIZE (REPORT_MAPS + 2 * REPORT_ENTRIES * 8u)

/* Is the line of /proc/self/maps [lo, hi) perms ... name one whose pages
 * a probe reports: `written` private writable mappings (but the kernel's
 * own), else read-only mappings of files? */
static bool report_kind(const char *perms, const char *name, bool written)
{
	if (written)
		return perms[1] == 'w' && perms[3] == 'p' &&
		       strcmp(name, "[vsyscall]") != 0 &&
		       strcmp(name, "[vvar]") != 0 &&
		       strcmp(name, "[vdso]") != 0 &&
		       strcmp(name, "[vvar_vclock]") != 0;
	return perms[1] != 'w' && name[0] == '/';
}

/* Appends to fd the pages of `maps` (text of /proc/self/maps) of one kind
 * (report_kind) whose pagemap entries have every bit of `bits`, but for
 * those in [skip, skip + REPORT_SIZE). Returns how many, or -1. */
static long report_pages(int fd, int pagemap, char *maps, bool written,
			 uint64_t bits, uintptr_t skip, uint64_t *entries,
			 uint64_t *out)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	size_t n_out = 0;
	long total = 0;

	for (char *line = maps; *line;) {
		char *end = strchr(line, '\n'), perms[8], name[256] = "";
		unsigned long lo, hi;

		if (end)
			*end = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &lo, &hi,
			   perms, name) >= 3 &&
		    report_kind(perms, name, written)) {
			for (uint64_t at = lo; at < hi;) {
				uint64_t n = (hi - at) / page;
				ssize_t got;

				if (n > REPORT_ENTRIES)
					n = REPORT_ENTRIES;
				got = pread(pagemap, entries, n * 8,
					    (off_t)(at / page * 8));
				if (got <= 0)
					break;
				for (size_t i = 0; i < (size_t)got / 8; i++) {
					uint64_t a = at + i * page;

					if ((entries[i] & bits) != bits ||
					    (a >= skip && a < skip + REPORT_SIZE))
						continue;
					out[n_out++] = a;
					if (n_out == REPORT_ENTRIES) {
						if (write(fd, out, n_out * 8) !=
						    (ssize_t)(n_out * 8))
							return -1;
						total += (long)n_out;
						n_out = 0;
					}
				}
				at += (uint64_t)got / 8 * page;
			}
		}
		if (end)
			*end = '\n';
		line = end ? end + 1 : line + strlen(line);
	}
	if (n_out && write(fd, out, n_out * 8) != (ssize_t)(n_out * 8))
		return -1;
	return total + (long)n_out;
}

int pexos_probe_report(int fd);

/* In the zygote's probe (zygote.py), once its rehearsal is over: writes
 * to fd, a memory file, the pages it wrote (private writable mappings,
 * now its alone) and the file pages it read: two counts (uint64), then
 * the pages' addresses. In C, with a buffer of its own that it leaves
 * out: a scan in Python allocated as it went, and reported pages that
 * only the scan had written (about 30 for a lean slot here), which
 * every slot then copied for nothing. Returns 0 or -1. */
int pexos_probe_report(int fd)
{
	char *buf = mmap(NULL, REPORT_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *entries = (uint64_t *)(void *)(buf + REPORT_MAPS);
	uint64_t *out = entries + REPORT_ENTRIES, counts[2];
	int maps, pagemap;
	size_t len = 0;
	ssize_t n;
	long w, r;

	if (buf == MAP_FAILED)
		return -1;
	maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (maps < 0 || pagemap < 0)
		return -1;
	while (len < REPORT_MAPS - 1 &&
	       (n = read(maps, buf + len, REPORT_MAPS - 1 - len)) > 0)
		len += (size_t)n;
	close(maps);
	if (len >= REPORT_MAPS - 1)
		return -1; /* more mappings than room: no report */
	buf[len] = '\0';
	if (lseek(fd, 16, SEEK_SET) != 16)
		return -1;
	w = report_pages(fd, pagemap, buf, true, PM_PRESENT | PM_EXCLUSIVE,
			 (uintptr_t)buf, entries, out);
	r = w < 0 ? -1
		  : report_pages(fd, pagemap, buf, false, PM_PRESENT,
				 (uintptr_t)buf, entries, out);
	close(pagemap);
	if (r < 0)
		return -1;
	counts[0] = (uint64_t)w;
	counts[1] = (uint64_t)r;
	return pwrite(fd, counts, sizeof(counts), 0) == sizeof(counts) ? 0 : -1;
}

/* ---- in the zygote ---------------------------------------------------- */

static void send_failure(int ctl, uint32_t id, const char *what)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%c%c%c%c%c%s: %s",
			 PROTO_MSG_SLOT_FAILED, 0, 0, 0, 0, what,
			 strerror(errno));

	memcpy(msg + 1, &id, 4);
	if (n > (int)sizeof(msg) - 1)
		n = (int)sizeof(msg) - 1;
	(void)!send(ctl, msg, (size_t)n, MSG_NOSIGNAL);
}

static int send_pidfds(int ctl, uint32_t id, int a, int b)
{
	char msg[PROTO_MSG_ID_LEN] = {PROTO_MSG_SLOT};
	int fds[2] = {a, b};

	memcpy(msg + 1, &id, 4);
	return fdpass_send(ctl, msg, sizeof(msg), fds, 2) < 0 ? -1 : 0;
}

static void remember(pid_t pid, int status_fd)
{
	if (n_live < MAX_LIVE) {
		live[n_live++] = (struct live){pid, status_fd};
	} else if (status_fd >= 0) {
		close(status_fd); /* never: the library has far fewer slots */
	}
}

static void reap(void)
{
	for (;;) {
		int st;
		struct rusage ru;
		pid_t pid = wait4(-1, &st, WNOHANG | __WALL, &ru);

		if (pid <= 0)
			return;
		for (int i = 0; i < n_live; i++) {
			if (live[i].pid != pid)
				continue;
			if (live[i].status_fd >= 0) {
				struct proto_slot_status s = {
					.status = st,
					.faults = (uint64_t)ru.ru_minflt +
						  (uint64_t)ru.ru_majflt,
				};
				(void)!write(live[i].status_fd, &s, sizeof(s));
				close(live[i].status_fd);
			}
			live[i] = live[--n_live];
			break;
		}
	}
}

/* Set by start_init's child, which shares the zygote's memory until its
 * exec: the errno of its failure to enter the slot's cgroup. */
static volatile int init_cg_errno;

/* pid 1 of the slot's PID namespace, started like vfork: no copy of the
 * interpreter's page tables. It enters the slot's cgroup (cg: the tasks
 * files) before its exec; one that cannot exits at once. */
static pid_t start_init(const int *cg)
{
	char *argv[] = {"pexos-init", "0", NULL};
	char *envp[] = {NULL};
	pid_t pid;

	init_cg_errno = 0;
	pid = vfork();
	if (pid == 0) {
		if (enter_cgroup(cg, PROTO_SLOT_CG_MAX) < 0) {
			init_cg_errno = errno ? errno : EIO;
			_exit(126);
		}
		close_range(0, ~0U, CLOSE_RANGE_CLOEXEC);
		syscall(SYS_execveat, PROTO_ZY_FD_INIT, "", argv, envp,
			AT_EMPTY_PATH);
		_exit(127);
	}
	return pid;
}

/* One slot: returns 0 in its process, 1 in the zygote. */
static int spawn(const struct zy_config *c, uint32_t id,
		 int fds[PROTO_SLOT_NFD_MAX],
		 const sigset_t *old_mask)
{
	pid_t init, pid;
	int pidfd[2] = {-1, -1};

	if (unshare(CLONE_NEWPID) < 0) {
		send_failure(c->ctl, id, "unshare the PID namespace");
		goto out;
	}
	init = start_init(fds + PROTO_SLOT_NFD);
	if (init < 0 || init_cg_errno) {
		if (init > 0)
			remember(init, -1);
		errno = init_cg_errno;
		send_failure(c->ctl, id,
			     init < 0 ? "start the slot's pexos-init"
				      : "move the slot's pexos-init into its "
					"cgroup");
		setns(c->own_pidns, CLONE_NEWPID);
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		slot_main(c, fds, old_mask);
		return 0;
	}
	if (setns(c->own_pidns, CLONE_NEWPID) < 0) {
		/* Every further slot would fail: say so, and stop. */
		send_failure(c->ctl, id, "return to the zygote's PID namespace");
		_exit(1);
	}
	if (pid < 0) {
		kill(init, SIGKILL);
		remember(init, -1);
		send_failure(c->ctl, id, "fork the slot's process");
		goto out;
	}
	remember(init, -1);
	remember(pid, fds[PROTO_SLOT_REQ_STATUS]);
	fds[PROTO_SLOT_REQ_STATUS] = -1;
	pidfd[0] = (int)syscall(SYS_pidfd_open, pid, 0);
	pidfd[1] = (int)syscall(SYS_pidfd_open, init, 0);
	if (pidfd[0] < 0 || pidfd[1] < 0 ||
	    send_pidfds(c->ctl, id, pidfd[0], pidfd[1]) < 0) {
		kill(init, SIGKILL);
		kill(pid, SIGKILL);
	}
	for (int i = 0; i < 2; i++)
		if (pidfd[i] >= 0)
			close(pidfd[i]);
out:
	for (int i = 0; i < PROTO_SLOT_NFD_MAX; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 1;
}

/* Reads one request of the library. Returns 1 and fills id/fds for a
 * slot, 0 for anything else, -1 at EOF or on error. */
static int read_request(int ctl, uint32_t *id, int fds[PROTO_SLOT_NFD_MAX])
{
	char buf[64];
	int got[PROTO_SLOT_NFD_MAX];
	size_t n_got;
	ssize_t n = fdpass_recv(ctl, buf, sizeof(buf), got, PROTO_SLOT_NFD_MAX,
				&n_got);

	if (n < 0)
		return n == -EAGAIN || n == -EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	if (n == PROTO_MSG_ID_LEN && buf[0] == PROTO_MSG_SLOT &&
	    n_got >= PROTO_SLOT_NFD) {
		memcpy(id, buf + 1, 4);
		for (size_t i = 0; i < PROTO_SLOT_NFD_MAX; i++)
			fds[i] = i < n_got ? got[i] : -1;
		return 1;
	}
	close_fds(got, n_got);
	return 0;
}

int pexos_zygote_configure(const void *z, size_t len, int pages);
int pexos_zygote_serve(void);

/* The zygote's own /tmp, /dev/shm and /dev/pts, detached once its
 * start-up is over (the probes wrote to /tmp): each slot then mounts its
 * own on the empty mount points, and detaches nothing. A detach waits for
 * an expedited RCU grace period, an interrupt on every CPU; three a slot
 * cost about 0.15 ms of CPU a run at c=4 here. Returns 0 or -errno. */
static int drop_run_mounts(void)
{
	static const char *const points[] = {"/tmp", "/dev/shm", "/dev/pts"};

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		if (umount2(points[i], MNT_DETACH) < 0)
			return -errno;
	return 0;
}

/* The page sets the zygote's probes recorded (zygote.py, _merge): the
 * memory file `fd`, mapped read-only for the zygote's life: two counts,
 * then n_write [lo, hi) kinds triples (the pages a slot makes its own)
 * and n_read address, kinds pairs (those it maps in while it waits), as
 * 64-bit words. A file that is not that leaves the slots without page
 * sets: slower, never less isolated. */
static void take_pages(int fd)
{
	uint64_t n[2];
	struct stat st;
	void *map;

	if (fd < 0)
		return;
	if (pread(fd, n, sizeof(n), 0) != (ssize_t)sizeof(n) ||
	    fstat(fd, &st) < 0 || n[0] > (1u << 24) || n[1] > (1u << 24) ||
	    (uint64_t)st.st_size != 8 * (2 + 3 * n[0] + 2 * n[1]))
		goto out;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto out;
	config.write = (const uint64_t *)map + 2;
	config.n_write = (size_t)n[0];
	warm_read = config.write + 3 * n[0];
	n_warm_read = (size_t)n[1];
out:
	close(fd);
}

/* Takes the library's configuration (proto.h: struct proto_zygote_config,
 * `len` bytes, as the zygote read it) and the page sets in the memory file
 * `pages` (take_pages; -1: none). Returns 0; -1 when the bytes are not a
 * configuration of this build (a library and helper of different
 * versions); -2 when the zygote's run mounts cannot be detached
 * (drop_run_mounts). The zygote then says which and exits, and no slot is
 * ever started without its lockdown or with the zygote's mounts. */
int pexos_zygote_configure(const void *z, size_t len, int pages)
{
	const struct proto_zygote_config *in = z;

	if (len != sizeof(*in) || in->magic != PROTO_ZY_MAGIC ||
	    in->size != sizeof(*in) || in->lockdown.bpf_len == 0 ||
	    in->lockdown.bpf_len > LOCKDOWN_BPF_MAX ||
	    in->lockdown.n_rlimits > LOCKDOWN_RLIMITS_MAX) {
		if (pages >= 0)
			close(pages);
		return -1;
	}
	memcpy(&config.z, in, sizeof(*in));
	config.ctl = PROTO_ZY_FD_CTL;
	config.vectored = populate_vectored();
	take_pages(pages);
	config.own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (config.own_pidns < 0)
		return -1;
	return drop_run_mounts() < 0 ? -2 : 0;
}

/* The zygote's loop: returns 0 in a new slot's process, set up and locked
 * down; -1 when the library has gone or the loop failed. */
int pexos_zygote_serve(void)
{
	const struct zy_config *c = &config;
	sigset_t chld, old;
	int sfd;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, &old) < 0)
		return -1;
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -1;
	for (;;) {
		struct pollfd p[2] = {{.fd = c->ctl, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		uint32_t id;
		int fds[PROTO_SLOT_NFD_MAX];

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			reap();
		}
		if (!p[0].revents)
			continue;
		switch (read_request(c->ctl, &id, fds)) {
		case -1:
			return -1; /* the library is gone */
		case 1:
			if (spawn(c, id, fds, &old) == 0)
				return 0; /* the new slot's process */
			break;
		default:
			break;
		}
		reap();
	}
}
