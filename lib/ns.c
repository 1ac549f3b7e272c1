/* SPDX-License-Identifier: MIT */
#include "ns.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "lockdown.h"
#include "util.h"

/* Ids never given to runs by ns_pick_base, besides pexos's own and 0 (the
 * root of pexos's user namespace: a container's root): the top of the
 * first 65536, which images and tools give a meaning (65532 is distroless's
 * "nonroot", 65534 "nobody"/"nogroup" and the kernel's overflow id, 65535
 * (uint16_t)-1), and (uid_t)-2 and -1. */
static const uint64_t reserved_ids[] = {65532, 65533, 65534, 65535,
					4294967294ULL, 4294967295ULL};

static int range_cmp(const void *a, const void *b)
{
	const struct ns_range *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

int ns_parse_map(const char *text, struct ns_range *r, size_t max)
{
	size_t n = 0;
	char *end;

	for (const char *p = text;;) {
		uint64_t v[3];

		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;

		for (int i = 0; i < 3; i++) {
			errno = 0;
			v[i] = strtoull(p, &end, 10);
			if (end == p || errno || v[i] > UINT32_MAX)
				return -EINVAL;
			p = end;
		}
		if (n == max || v[2] == 0 || v[0] + v[2] > 1ULL + UINT32_MAX)
			return -EINVAL;
		r[n++] = (struct ns_range){v[0], v[1], v[2]};
	}
	qsort(r, n, sizeof(*r), range_cmp);
	return (int)n;
}

size_t ns_intersect(const struct ns_range *a, size_t na,
		    const struct ns_range *b, size_t nb, struct ns_range *out)
{
	size_t i = 0, j = 0, n = 0;

	/* A map's ranges never overlap (the kernel refuses that), so one
	 * pass over both sorted lists finds every common stretch. */
	while (i < na && j < nb) {
		uint64_t a_end = a[i].first + a[i].count;
		uint64_t b_end = b[j].first + b[j].count;
		uint64_t lo = a[i].first > b[j].first ? a[i].first : b[j].first;
		uint64_t hi = a_end < b_end ? a_end : b_end;
		struct ns_range *last = n > 0 ? &out[n - 1] : NULL;

		if (lo < hi && last && last->first + last->count == lo)
			last->count += hi - lo;
		else if (lo < hi)
			out[n++] = (struct ns_range){lo, 0, hi - lo};
		if (a_end < b_end)
			i++;
		else
			j++;
	}
	return n;
}

bool ns_pair_mapped(const struct ns_range *r, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].first && id + 1 < r[i].first + r[i].count)
			return true;
	return false;
}

static bool avoided(uint64_t id, const uint64_t *avoid, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (avoid[i] == id)
			return true;
	return false;
}

/* The highest free pair of one range. Each step down passes an avoided
 * id, so this ends after at most 2 * n_avoid + 1 steps. */
static int top_pair(const struct ns_range *r, const uint64_t *avoid,
		    size_t n_avoid, uint64_t *ret_id)
{
	if (r->count < 2)
		return -ESRCH;
	for (uint64_t id = r->first + r->count - 2;; id--) {
		if (!avoided(id, avoid, n_avoid) &&
		    !avoided(id + 1, avoid, n_avoid)) {
			*ret_id = id;
			return 0;
		}
		if (id == r->first)
			return -ESRCH;
	}
}

int ns_pick_base(const struct ns_range *r, size_t n, const uint64_t *avoid,
		 size_t n_avoid, uint64_t *ret_base)
{
	const struct ns_range *best = NULL;
	uint64_t id, best_id = 0;

	for (size_t i = 0; i < n; i++) {
		if (top_pair(&r[i], avoid, n_avoid, &id) < 0)
			continue;
		if (best && (r[i].count < best->count ||
			     (r[i].count == best->count &&
			      r[i].first < best->first)))
			continue;
		best = &r[i];
		best_id = id;
	}
	if (!best)
		return -ESRCH;
	*ret_base = best_id;
	return 0;
}

/* "0-65535, 100000-165535", cut with ", ..." where it does not fit. */
static void format_ranges(const struct ns_range *r, size_t n, char *buf,
			  size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	if (n == 0)
		snprintf(buf, size, "no ids");
	for (size_t i = 0; i < n; i++) {
		char one[48];
		int k = snprintf(one, sizeof(one), "%s%" PRIu64 "-%" PRIu64,
				 i ? ", " : "", r[i].first,
				 r[i].first + r[i].count - 1);

		if (len + (size_t)k + 6 > size) {
			snprintf(buf + len, size - len, ", ...");
			return;
		}
		memcpy(buf + len, one, (size_t)k + 1);
		len += (size_t)k;
	}
}

/* `id` in the parent namespace (it is mapped: the caller checked). */
static uint64_t parent_id(const struct ns_range *r, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].first && id < r[i].first + r[i].count)
			return r[i].outer + (id - r[i].first);
	return id;
}

struct maps {
	struct ns_range uid[NS_MAP_LINES], gid[NS_MAP_LINES];
	struct ns_range both[2 * NS_MAP_LINES];
	size_t nu, ng, nb;
	char text[16384]; /* a full map: 340 lines of 33 bytes */
};

static int read_map(const char *file, struct ns_range *r, size_t *ret_n,
		    char *text, size_t size, pexos_error *err)
{
	ssize_t len = read_text(file, text, size);
	int n;

	if (len < 0)
		return pexos_fail_errno(err, (int)-len, "uid_base", "read %s",
					file);
	n = ns_parse_map(text, r, NS_MAP_LINES);
	if (n < 0)
		return pexos_fail(err, EINVAL, "uid_base",
				  "%s is not a map of ids", file);
	*ret_n = (size_t)n;
	return 0;
}

static int read_maps(struct maps *m, pexos_error *err)
{
	int r = read_map("/proc/self/uid_map", m->uid, &m->nu, m->text,
			 sizeof(m->text), err);

	if (r == 0)
		r = read_map("/proc/self/gid_map", m->gid, &m->ng, m->text,
			     sizeof(m->text), err);
	if (r == 0)
		m->nb = ns_intersect(m->uid, m->nu, m->gid, m->ng, m->both);
	return r;
}

/* 0, pexos's own uids and gids, reserved_ids: `avoid` holds 13. */
static size_t avoid_list(uint64_t *avoid)
{
	uid_t u[3];
	gid_t g[3];
	size_t n = 0;

	avoid[n++] = 0;
	if (getresuid(&u[0], &u[1], &u[2]) == 0)
		for (int i = 0; i < 3; i++)
			avoid[n++] = u[i];
	if (getresgid(&g[0], &g[1], &g[2]) == 0)
		for (int i = 0; i < 3; i++)
			avoid[n++] = g[i];
	for (size_t i = 0; i < ELEMENTSOF(reserved_ids); i++)
		avoid[n++] = reserved_ids[i];
	return n;
}

static int unmapped_base(const struct pexos_options *o, struct maps *m,
			 pexos_error *err)
{
	char uids[160], gids[160];

	format_ranges(m->uid, m->nu, uids, sizeof(uids));
	format_ranges(m->gid, m->ng, gids, sizeof(gids));
	return pexos_fail(err, EINVAL, "uid_base",
			  "uid_base %" PRIu64 ": the ids %" PRIu64
			  " and %" PRIu64 " are not both mapped as uids and "
			  "gids in pexos's user namespace (its uid_map maps "
			  "%s; its gid_map %s); set uid_base to two ids "
			  "mapped in both, or leave it unset for pexos to "
			  "choose (pexos(7))",
			  o->uid_base, o->uid_base, o->uid_base + 1, uids,
			  gids);
}

int ns_choose_ids(const struct pexos_options *o, struct ns_ids *ret_ids,
		  pexos_error *err)
{
	_cleanup_free_ struct maps *m = calloc(1, sizeof(*m));
	struct ns_ids ids = {.base = o->uid_base, .how = NS_IDS_SET};
	uint64_t avoid[16];
	size_t n_avoid;
	int r;

	if (!m)
		return pexos_fail(err, ENOMEM, "uid_base", "out of memory");
	r = read_maps(m, err);
	if (r < 0)
		return r;
	n_avoid = avoid_list(avoid);
	format_ranges(m->both, m->nb, ids.mapped, sizeof(ids.mapped));
	if (o->uid_base_set && !ns_pair_mapped(m->both, m->nb, o->uid_base))
		return unmapped_base(o, m, err);
	if (!o->uid_base_set) {
		ids.base = NS_DEFAULT_BASE;
		ids.how = NS_IDS_DEFAULT;
	}
	if (!o->uid_base_set &&
	    (!ns_pair_mapped(m->both, m->nb, ids.base) ||
	     avoided(ids.base, avoid, n_avoid) ||
	     avoided(ids.base + 1, avoid, n_avoid))) {
		ids.how = NS_IDS_CHOSEN;
		if (ns_pick_base(m->both, m->nb, avoid, n_avoid, &ids.base) < 0)
			return pexos_fail(err, ERANGE, "uid_base",
					  "pexos's user namespace maps no two "
					  "consecutive ids as both uids and "
					  "gids besides 0, pexos's own and "
					  "65532-65535 (it maps %s): each run "
					  "needs two; give the container more "
					  "ids (pexos(7))",
					  ids.mapped);
	}
	for (int i = 0; i < 2; i++) {
		ids.parent_uid[i] = parent_id(m->uid, m->nu, ids.base + i);
		ids.parent_gid[i] = parent_id(m->gid, m->ng, ids.base + i);
	}
	*ret_ids = ids;
	return 0;
}

void ns_prepare(struct pexos_context *ctx)
{
	uint64_t b = ctx->opts.uid_base;

	/* Two ids only: 0 for setup, SANDBOX_UID for the script. Neither is
	 * the host's root; nothing else inside maps to anything outside. */
	snprintf(ctx->uid_map, sizeof(ctx->uid_map), "0 %" PRIu64 " 1\n%d %" PRIu64 " 1\n",
		 b, SANDBOX_UID, b + 1);
	snprintf(ctx->gid_map, sizeof(ctx->gid_map), "0 %" PRIu64 " 1\n%d %" PRIu64 " 1\n",
		 b, SANDBOX_GID, b + 1);
}

static int write_proc(pid_t pid, const char *file, const char *text,
		      pexos_error *err)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return pexos_fail_errno(err, errno, "uid_map", "open %s", path);
	r = write_all(fd, text, strlen(text));
	if (r < 0)
		return pexos_fail_errno(err, -r, "uid_map", "write %s", path);
	return 0;
}

int ns_setup_parent(const struct pexos_context *ctx, pid_t pid,
		    pexos_error *err)
{
	int r;

	/* setgroups stays "allow": the child must be able to clear the
	 * supplementary groups it inherited from us. */
	r = write_proc(pid, "uid_map", ctx->uid_map, err);
	if (r < 0)
		return r;
	return write_proc(pid, "gid_map", ctx->gid_map, err);
}

int ns_apply_child(pexos_error *err)
{
	/* Supplementary groups first: they are host groups (root's), which
	 * would otherwise follow every process of the run. */
	if (raw_setgroups0() < 0)
		return pexos_fail_child(err, errno, "setgroups",
					"clear supplementary groups", NULL);
	if (raw_setresgid(0) < 0 || raw_setresuid(0) < 0)
		return pexos_fail_child(err, errno, "setuid",
					"become the sandbox's setup user",
					NULL);
	if (unshare(CLONE_NEWCGROUP) < 0)
		return pexos_fail_child(err, errno, "cgroupns",
					"create the cgroup namespace", NULL);
	if (sethostname(SANDBOX_HOSTNAME, strlen(SANDBOX_HOSTNAME)) < 0 ||
	    setdomainname(SANDBOX_HOSTNAME, strlen(SANDBOX_HOSTNAME)) < 0)
		return pexos_fail_child(err, errno, "uts", "set the hostname",
					NULL);
	return 0;
}
