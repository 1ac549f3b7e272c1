/* SPDX-License-Identifier: MIT */
/*
 * pool_profile.c - which warm pool a script goes to, and how the pool's
 * slots are shared between the profiles: decisions free of the kernel,
 * unit-tested with pool_state.c's (tests/unit/test_pool_state.c).
 *
 * A slot forked from the full zygote (the preload list imported) costs a
 * fork of a large interpreter and its copy-on-write faults; one from the
 * lean zygote (nothing preloaded) a fraction of that. A script goes to the
 * full pool when one of its import statements names a preloaded module or
 * one known to import numpy or pandas; else to the lean one. The guess
 * only decides speed: both pools' slots are locked down by the same code,
 * and a lean slot imports whatever the script asks for, only slower.
 */
#include <math.h>
#include <string.h>

#include "pool_int.h"
#include "proto.h"
#include "util.h"

/* Top-level packages that import numpy (or pandas) when imported. */
static const char *const heavy[] = {
	"numpy",  "pandas",      "matplotlib", "scipy",   "sklearn",
	"seaborn", "statsmodels", "patsy",      "xarray",  "skimage",
	"numexpr", "bottleneck",  "pyarrow",    "tables",  "h5py",
	"networkx",
};

/* Of those, the ones that import pandas, and matplotlib. */
static const char *const imports_pandas[] = {
	"pandas", "seaborn", "statsmodels", "xarray",
};
static const char *const imports_pyplot[] = {"matplotlib", "seaborn"};

static bool in_list(const char *name, size_t len, const char *const *list,
		    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
			return true;
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f';
}

static bool is_name(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* The page sets a run importing the top-level package `name` (len
 * bytes) is likely to write beyond the runner's: none unless it is in
 * the comma-separated `list` (a list entry "a.b" counts as "a") or in
 * heavy[]. */
static unsigned name_kinds(const char *name, size_t len, const char *list)
{
	unsigned k = 0;

	if (in_list(name, len, heavy, ELEMENTSOF(heavy)))
		k = PROTO_KIND_NUMPY;
	for (const char *p = list; !k && p && *p;) {
		size_t n = strcspn(p, ",.");

		if (n == len && memcmp(p, name, len) == 0)
			k = PROTO_KIND_NUMPY;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	if (k && in_list(name, len, imports_pandas, ELEMENTSOF(imports_pandas)))
		k |= PROTO_KIND_PANDAS;
	if (k && in_list(name, len, imports_pyplot, ELEMENTSOF(imports_pyplot)))
		k |= PROTO_KIND_PYPLOT;
	return k;
}

/* The modules of one statement at `s` (up to `end`) after "import" or
 * "from": a comma-separated list of dotted names for import (with "as"
 * aliases), one dotted name for from. Their page sets, together. */
static unsigned statement_kinds(const char *s, const char *end, bool from,
				const char *list)
{
	unsigned k = 0;

	for (;;) {
		const char *name;

		while (s < end && (is_space(*s) || *s == '('))
			s++;
		name = s;
		while (s < end && is_name(*s))
			s++;
		if (s > name)
			k |= name_kinds(name, (size_t)(s - name), list);
		if (from)
			return k;
		/* the rest of this name ("a.b.c as d"), then a comma or
		 * the end */
		while (s < end && *s != ',' && *s != ';' && *s != '#')
			s++;
		if (s >= end || *s != ',')
			return k;
		s++;
	}
}

int pool_profile_for(unsigned kinds)
{
	return kinds & ~PROTO_KIND_BASE ? POOL_FULL : POOL_LEAN;
}

int pool_profile_of(const char *script, size_t len, const char *preload)
{
	return pool_profile_for(pool_kinds_of(script, len, preload));
}

unsigned pool_kinds_of(const char *script, size_t len, const char *preload)
{
	const char *p = script, *end = script + len;
	unsigned k = PROTO_KIND_BASE;

	while (p < end) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p));
		const char *s = p;

		if (!line_end)
			line_end = end;
		/* Any indentation: an import inside main() or a try block is
		 * as likely to run as one at the top. A statement after ';'
		 * or a name split over lines is not seen: a miss costs only
		 * speed. */
		while (s < line_end && is_space(*s))
			s++;
		if (line_end - s > 7 && memcmp(s, "import", 6) == 0 &&
		    is_space(s[6]))
			k |= statement_kinds(s + 7, line_end, false, preload);
		else if (line_end - s > 5 && memcmp(s, "from", 4) == 0 &&
			 is_space(s[4]))
			k |= statement_kinds(s + 5, line_end, true, preload);
		p = line_end + 1;
	}
	return k;
}

void pool_demand_note(struct pool_demand *d, int profile, unsigned kinds,
		      uint64_t now)
{
	double decay = 1, fast = 1;

	if (d->at_ms && now > d->at_ms) {
		decay = exp(-(double)(now - d->at_ms) / POOL_DEMAND_TAU_MS);
		fast = exp(-(double)(now - d->at_ms) / POOL_DEMAND_FAST_TAU_MS);
	}
	for (int i = 0; i < POOL_PROFILES; i++) {
		d->weight[i] *= decay;
		d->recent[i] *= fast;
	}
	/* The kinds' shares, per full run whatever their rate: after a
	 * busy spell of numpy runs, three pandas runs in a row are enough
	 * for new slots to make pandas's pages their own. */
	for (int i = 0; profile == POOL_FULL && i < POOL_KINDS; i++)
		d->kinds[i] += ((kinds & (1u << i) ? 1.0 : 0.0) - d->kinds[i]) /
			       POOL_KINDS_RUNS;
	d->weight[profile] += 1;
	d->recent[profile] += 1;
	d->last_ms[profile] = now;
	d->at_ms = now;
}

unsigned pool_kinds_wanted(const struct pool_demand *d, uint64_t now)
{
	unsigned k = PROTO_KIND_BASE;
	double decay = 1;

	if (d->at_ms && now > d->at_ms)
		decay = exp(-(double)(now - d->at_ms) / POOL_DEMAND_TAU_MS);
	/* Fewer than about one full run in the last two seconds (the
	 * weights' time constant): every set. */
	if (d->weight[POOL_FULL] * decay < 1)
		return PROTO_KIND_ALL;
	for (int i = 0; i < POOL_KINDS; i++)
		if (d->kinds[i] * 8 >= 1)
			k |= 1u << i;
	return k;
}

/* The profile's weight in w[], costed, at least the others' together. */
static void raise_to_half(double w[POOL_PROFILES], int profile)
{
	double cost = profile == POOL_FULL ? POOL_FULL_COST : 1, others = 0;

	for (int i = 0; i < POOL_PROFILES; i++)
		if (i != profile)
			others += w[i] * (i == POOL_FULL ? POOL_FULL_COST : 1);
	if (w[profile] * cost < others)
		w[profile] = others / cost;
}

void pool_demand_starved(struct pool_demand *d, int profile)
{
	/* Its share of the pool half at least from now on (decaying with
	 * the rest), on both time scales. */
	raise_to_half(d->weight, profile);
	raise_to_half(d->recent, profile);
}

/* The full profile's share of the pool by the costed weights w[]: half
 * when there is no demand. */
static double full_share(const double w[POOL_PROFILES])
{
	double full_w = w[POOL_FULL] * POOL_FULL_COST;
	double sum = full_w + w[POOL_LEAN];

	return sum > 0 ? full_w / sum : 0.5;
}

void pool_targets(const struct pool_demand *d, size_t total,
		  size_t target[POOL_PROFILES])
{
	/* Each profile keeps a floor: its first runs after a quiet spell are
	 * still warm. The full profile's is a quarter of the pool, the lean
	 * one's an eighth (one slot at least each, when there are two): a
	 * full slot takes about three times as long to make, so a burst of
	 * full runs after a long spell of lean ones would otherwise wait on
	 * refills from its second or third run (numpy back to back after the
	 * bench's hello phase: p50 12.7 ms on 2 full slots, 8.1 on 14, same
	 * machine and load). The rest follows recent demand weighted by that
	 * cost; with no demand yet, the split is even, the full pool taking
	 * an odd slot.
	 *
	 * In a burst of full runs (two or more in about 100 ms) with no lean
	 * run for 100 ms, the full profile gets the larger of two shares:
	 * the runs of the last seconds' and the last few runs'. A burst
	 * after a busy lean spell then takes the pool at once, not after
	 * seconds of refills on the floor (numpy back to back right after
	 * the bench's hello phase: p50 4.4 ms starting on 4 full slots, 2.9
	 * on 14, medians of 3 runs each, same machine). Erring that way is
	 * cheap: lean runs spend the full slots over the full pool's share
	 * first, a full run has to wait for a full slot. A lone full run among
	 * lean ones, or a steady mix, keeps the last seconds' split: the
	 * last few runs' would swing it and kill ready slots (a mix at c=2
	 * each: 6 % of the slots made were killed unused, hello 10 % fewer
	 * requests a second). */
	size_t lean_min = total >= 2 ? (total / 8 > 1 ? total / 8 : 1) : 0;
	size_t full_min = total >= 2 ? (total / 4 > 1 ? total / 4 : 1) : 0;
	double share = full_share(d->weight);
	size_t full;

	if (d->recent[POOL_FULL] >= POOL_BURST_RUNS &&
	    d->at_ms >= d->last_ms[POOL_LEAN] + POOL_QUIET_MS)
		share = fmax(share, full_share(d->recent));
	full = (size_t)floor(share * (double)total + 0.5);

	if (full < full_min)
		full = full_min;
	if (full > total - lean_min)
		full = total - lean_min;
	target[POOL_FULL] = full;
	target[POOL_LEAN] = total - full;
}
