/* SPDX-License-Identifier: MIT */
/*
 * The ids runs map to (ns.c): the maps parsed, uids and gids intersected,
 * the rule that picks a pair where the default is not mapped, and, on this
 * host's own maps, the default kept or a set uid_base refused by name.
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "ns.h"
#include "pexos.h"
#include "plan.h"
#include "tap.h"
#include "util.h"

/* 0 and the ids ns.c reserves, as ns_choose_ids passes them for root. */
static const uint64_t avoid[] = {0, 65532, 65533, 65534, 65535,
				 4294967294ULL, 4294967295ULL};

static int parse(const char *text, struct ns_range *r)
{
	return ns_parse_map(text, r, NS_MAP_LINES);
}

static void check_parse(void)
{
	struct ns_range r[NS_MAP_LINES];
	int n;

	n = parse("         0     100000      65536\n", r);
	tap_ok(n == 1 && r[0].first == 0 && r[0].outer == 100000 &&
		       r[0].count == 65536,
	       "a kernel-formatted line parses");
	n = parse("1 200000 10\n0 100000 1\n", r);
	tap_ok(n == 2 && r[0].first == 0 && r[1].first == 1,
	       "lines come back sorted by their first id");
	tap_ok(parse("", r) == 0, "an empty map has no range");
	tap_ok(parse("0 0\n", r) < 0, "a short line is refused");
	tap_ok(parse("0 0 0\n", r) < 0, "a line of 0 ids is refused");
	tap_ok(parse("4294967295 0 2\n", r) < 0,
	       "a range past 2^32 is refused");
	tap_ok(parse("0 0 4294967295\n", r) == 1, "the host's full map parses");
}

static void check_intersect(void)
{
	struct ns_range u[4], g[4], both[8];
	int nu = parse("0 100000 65536\n", u);
	int ng = parse("0 100000 1000\n1000 300000 64536\n", g);
	size_t n = ns_intersect(u, (size_t)nu, g, (size_t)ng, both);

	tap_ok(n == 1 && both[0].first == 0 && both[0].count == 65536,
	       "adjacent gid lines merge into one range of 65536 ids");
	nu = parse("0 100000 10\n100 200000 100\n", u);
	ng = parse("5 100005 200\n", g);
	n = ns_intersect(u, (size_t)nu, g, (size_t)ng, both);
	tap_ok(n == 2 && both[0].first == 5 && both[0].count == 5 &&
		       both[1].first == 100 && both[1].count == 100,
	       "only the ids mapped as uid and gid remain (5-9, 100-199)");
	tap_ok(ns_pair_mapped(both, n, 198) && !ns_pair_mapped(both, n, 199) &&
		       !ns_pair_mapped(both, n, 9),
	       "a pair must lie in one range");
}

/* The base ns_pick_base takes from `text` (as both maps), or -1. */
static int64_t pick(const char *text)
{
	struct ns_range r[8];
	uint64_t base;
	int n = parse(text, r);

	if (n < 0 || ns_pick_base(r, (size_t)n, avoid, ELEMENTSOF(avoid),
				  &base) < 0)
		return -1;
	return (int64_t)base;
}

static void check_pick(void)
{
	int64_t b = pick("0 100000 65536\n");

	tap_ok(b == 65530, "a pod's 65536 ids: 65530 and 65531 (got %lld)",
	       (long long)b);
	b = pick("0 1000 1\n1 100000 65536\n");
	tap_ok(b == 65530, "rootless podman's map (0 alone, then 1-65536): "
			   "65530 and 65531 (got %lld)",
	       (long long)b);
	b = pick("0 100000 70000\n");
	tap_ok(b == 69998, "the top of a larger range when no reserved id "
			   "is at it (got %lld)",
	       (long long)b);
	b = pick("0 100000 1000\n200000 300000 5000\n");
	tap_ok(b == 204998, "the largest range wins (got %lld)", (long long)b);
	b = pick("0 100000 3\n");
	tap_ok(b == 1, "3 ids: 1 and 2, never 0 (got %lld)", (long long)b);
	tap_ok(pick("0 100000 2\n") == -1,
	       "2 ids, one of them 0: no pair, an error");
	tap_ok(pick("65532 100000 4\n") == -1, "65532-65535 only: no pair");
}

/* On this process's own maps: the host's full map keeps the default, and
 * a set uid_base is used as it is where mapped (tests/integration/userns
 * does the rest inside a user namespace of 65536 ids). */
static void check_host(void)
{
	pexos_options *o = pexos_options_new();
	struct ns_range r[NS_MAP_LINES];
	struct ns_ids ids;
	pexos_error err = {0};
	char text[16384];
	int rc;

	if (!o)
		return;
	if (read_text("/proc/self/uid_map", text, sizeof(text)) < 0 ||
	    parse(text, r) != 1 || r[0].first != 0 ||
	    r[0].count != 4294967295ULL) {
		tap_ok(true, "# SKIP not the host's full map: %s", text);
		pexos_options_free(o);
		return;
	}
	rc = ns_choose_ids(o, &ids, &err);
	tap_ok(rc == 0 && ids.base == 2000000000ULL &&
		       ids.how == NS_IDS_DEFAULT &&
		       ids.parent_uid[1] == 2000000001ULL &&
		       ids.parent_gid[0] == 2000000000ULL,
	       "the host's full map keeps the default 2000000000 (%s)",
	       err.message);
	rc = pexos_options_set(o, "uid_base", "4294967293", &err);
	if (rc == 0)
		rc = ns_choose_ids(o, &ids, &err);
	tap_ok(rc == 0 && ids.base == 4294967293ULL && ids.how == NS_IDS_SET,
	       "a set uid_base that is mapped is used as it is (%s)",
	       err.message);
	pexos_options_free(o);
}

int main(void)
{
	check_parse();
	check_intersect();
	check_pick();
	check_host();
	return tap_done();
}
