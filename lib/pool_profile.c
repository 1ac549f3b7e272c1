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
#include "util.h"

/* Top-level packages that import numpy (or pandas) when imported. */
static const char *const heavy[] = {
	"numpy",  "pandas",      "matplotlib", "scipy",   "sklearn",
	"seaborn", "statsmodels", "patsy",      "xarray",  "skimage",
	"numexpr", "bottleneck",  "pyarrow",    "tables",  "h5py",
	"networkx",
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f';
}

static bool is_name(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Is the top-level package `name` (len bytes) in the comma-separated
 * `list`, or in heavy[]? A list entry "a.b" counts as "a". */
static bool heavy_name(const char *name, size_t len, const char *list)
{
	for (size_t i = 0; i < ELEMENTSOF(heavy); i++)
		if (strlen(heavy[i]) == len && memcmp(heavy[i], name, len) == 0)
			return true;
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",.");

		if (n == len && memcmp(p, name, len) == 0)
			return true;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return false;
}

/* The modules of one statement at `s` (up to `end`) after "import" or
 * "from": a comma-separated list of dotted names for import (with "as"
 * aliases), one dotted name for from. Any heavy top-level name? */
static bool heavy_statement(const char *s, const char *end, bool from,
			    const char *list)
{
	for (;;) {
		const char *name;

		while (s < end && (is_space(*s) || *s == '('))
			s++;
		name = s;
		while (s < end && is_name(*s))
			s++;
		if (s > name && heavy_name(name, (size_t)(s - name), list))
			return true;
		if (from)
			return false;
		/* the rest of this name ("a.b.c as d"), then a comma or
		 * the end */
		while (s < end && *s != ',' && *s != ';' && *s != '#')
			s++;
		if (s >= end || *s != ',')
			return false;
		s++;
	}
}

int pool_profile_of(const char *script, size_t len, const char *preload)
{
	const char *p = script, *end = script + len;

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
		    is_space(s[6])) {
			if (heavy_statement(s + 7, line_end, false, preload))
				return POOL_FULL;
		} else if (line_end - s > 5 && memcmp(s, "from", 4) == 0 &&
			   is_space(s[4])) {
			if (heavy_statement(s + 5, line_end, true, preload))
				return POOL_FULL;
		}
		p = line_end + 1;
	}
	return POOL_LEAN;
}

void pool_demand_note(struct pool_demand *d, int profile, uint64_t now)
{
	double decay = 1;

	if (d->at_ms && now > d->at_ms)
		decay = exp(-(double)(now - d->at_ms) / POOL_DEMAND_TAU_MS);
	for (int i = 0; i < POOL_PROFILES; i++)
		d->weight[i] *= decay;
	d->weight[profile] += 1;
	d->at_ms = now;
}

void pool_targets(const struct pool_demand *d, size_t total,
		  size_t target[POOL_PROFILES])
{
	/* Each profile keeps at least an eighth of the pool (one slot at
	 * least, when there are two): its first run after a quiet spell is
	 * still warm. The rest follows recent demand weighted by what a slot
	 * takes to make, which is how long a burst of runs must live on the
	 * slots ready at its start; with no demand yet, the split is even,
	 * the full pool taking an odd slot. */
	size_t min = total >= 2 ? (total / 8 > 1 ? total / 8 : 1) : 0;
	double full_w = d->weight[POOL_FULL] * POOL_FULL_COST;
	double sum = full_w + d->weight[POOL_LEAN];
	double share = sum > 0 ? full_w / sum : 0.5;
	size_t full = (size_t)floor(share * (double)total + 0.5);

	if (full < min)
		full = min;
	if (full > total - min)
		full = total - min;
	target[POOL_FULL] = full;
	target[POOL_LEAN] = total - full;
}
