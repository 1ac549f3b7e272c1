/* SPDX-License-Identifier: MIT */
/* The warm pool's decisions (lib/pool_state.c), without a kernel: the slot
 * transitions, the back-offs, which ready slot a run gets, when the pool
 * refills and when a run stops waiting for it. */
#include <stdlib.h>
#include <string.h>

#include "pool_int.h"
#include "proto.h"
#include "tap.h"

static const char *const state_names[] = {"EMPTY", "SPAWNING", "STARTING",
					  "READY"};
static const char *const event_names[] = {"SPAWN", "FORKED", "READY", "TAKE",
					  "FAIL"};

/* Every (state, event) pair against the table a slot's life allows. */
static void test_transitions(void)
{
	static const int want[4][5] = {
		/*              SPAWN          FORKED         READY       TAKE        FAIL */
		[SLOT_EMPTY] = {SLOT_SPAWNING, -1, -1, -1, -1},
		[SLOT_SPAWNING] = {-1, SLOT_STARTING, -1, -1, SLOT_EMPTY},
		[SLOT_STARTING] = {-1, -1, SLOT_READY, -1, SLOT_EMPTY},
		[SLOT_READY] = {-1, -1, -1, SLOT_EMPTY, SLOT_EMPTY},
	};
	int bad = 0;

	for (int s = 0; s < 4; s++)
		for (int e = 0; e < 5; e++) {
			int got = pool_slot_next(s, (enum slot_event)e);

			if (got != want[s][e]) {
				printf("# %s + %s: got %d, want %d\n",
				       state_names[s], event_names[e], got,
				       want[s][e]);
				bad++;
			}
		}
	tap_ok(bad == 0, "transitions: all 20 (state, event) pairs as the "
			 "slot's life allows (%d wrong)", bad);
	tap_ok(pool_slot_next(SLOT_READY, EV_READY) < 0,
	       "a second \"ready\" from a waiting slot is no transition");
	tap_ok(pool_slot_next(SLOT_EMPTY, EV_FAIL) < 0,
	       "an empty entry cannot fail");
}

/* One slot through its whole life, and a failure at each step. */
static void test_life(void)
{
	static const enum slot_event life[] = {EV_SPAWN, EV_FORKED, EV_READY,
					       EV_TAKE};
	int s = SLOT_EMPTY, ok = 1;

	for (size_t i = 0; i < 4; i++) {
		s = pool_slot_next(s, life[i]);
		ok &= s >= 0;
	}
	tap_ok(ok && s == SLOT_EMPTY,
	       "EMPTY -> SPAWNING -> STARTING -> READY -> taken: entry EMPTY");
	for (size_t fail_at = 1; fail_at < 4; fail_at++) {
		s = SLOT_EMPTY;
		for (size_t i = 0; i < fail_at; i++)
			s = pool_slot_next(s, life[i]);
		tap_ok(pool_slot_next(s, EV_FAIL) == SLOT_EMPTY,
		       "a failure in %s disposes of the slot (EMPTY)",
		       state_names[s]);
	}
}

static void test_backoff(void)
{
	static const uint64_t slot_want[] = {50,   100,  200,  400,  800,
					     1600, 3200, 5000, 5000, 5000};
	struct pool p;
	int bad = 0;

	memset(&p, 0, sizeof(p));
	for (size_t i = 0; i < 20; i++) {
		uint64_t want = i < 10 ? slot_want[i] : 5000;

		pool_note_slot_failure(&p, 1000);
		if (p.fill_after != 1000 + want) {
			printf("# failure %zu: refill after %llu ms, want %llu\n",
			       i + 1, (unsigned long long)(p.fill_after - 1000),
			       (unsigned long long)want);
			bad++;
		}
	}
	tap_ok(bad == 0, "slot failures: refill after 50 ms, doubling, at "
			 "most 5 s (%d wrong)", bad);
	tap_ok(p.slot_failures == 20 && p.fail_streak == 16,
	       "20 failures counted, the streak capped at 16 (got %llu, %u)",
	       (unsigned long long)p.slot_failures, p.fail_streak);
	tap_ok(!pool_fill_due(4, 0, 0, 1000 + 4999, p.fill_after) &&
		       pool_fill_due(4, 0, 0, 1000 + 5000, p.fill_after),
	       "no refill before the back-off is over, one at its end");
	tap_ok(pool_backoff_ms(1, 1000, 60000) == 1000 &&
		       pool_backoff_ms(2, 1000, 60000) == 2000 &&
		       pool_backoff_ms(6, 1000, 60000) == 32000 &&
		       pool_backoff_ms(7, 1000, 60000) == 60000 &&
		       pool_backoff_ms(40, 1000, 60000) == 60000,
	       "zygote restarts: 1 s, doubling, at most 60 s");
}

static void test_broken(void)
{
	struct pool p;

	memset(&p, 0, sizeof(p));
	p.zstate = ZY_DOWN;
	tap_ok(!pool_broken(&p), "a pool before its first start is waited for");
	p.zstate = ZY_STARTING;
	tap_ok(!pool_broken(&p), "a zygote starting for the first time is "
				 "waited for");
	p.failures = 1;
	tap_ok(pool_broken(&p), "a zygote starting again after a failure: a "
				"run goes cold at once");
	p.zstate = ZY_DOWN;
	tap_ok(pool_broken(&p), "a zygote down after a failure: cold at once");
	p.zstate = ZY_UP;
	p.failures = 0;
	for (int i = 0; i < 2; i++)
		pool_note_slot_failure(&p, 0);
	tap_ok(!pool_broken(&p), "two slot failures in a row: still waited for");
	pool_note_slot_failure(&p, 0);
	tap_ok(pool_broken(&p), "three in a row: cold at once");
}

/* A pool of 4 as acquire and fill see it: runs take the newest ready slot;
 * the refill waits while runs hold slots and half the pool is ready. */
static void test_take_and_refill(void)
{
	static const uint64_t ready_at[] = {30, 10, 40, 20};
	struct pool_slot slots[4], *got;
	unsigned in_use = 0;
	size_t ready = 4;

	for (size_t i = 0; i < 4; i++) {
		slot_reset(&slots[i]);
		slots[i].state = SLOT_STARTING;
		slots[i].t_ready = 99; /* not ready: never chosen */
	}
	tap_ok(pool_pick_ready(slots, 4, 0) == NULL, "no ready slot: none chosen");
	for (size_t i = 0; i < 4; i++) {
		slots[i].state = pool_slot_next(slots[i].state, EV_READY);
		slots[i].t_ready = ready_at[i];
	}
	tap_ok(pool_fill_due(4, ready, in_use, 0, 0),
	       "rested and full: nothing holds the refill back");
	for (int run = 0; run < 4; run++) {
		static const size_t order[] = {2, 0, 3, 1};

		got = pool_pick_ready(slots, 4, 0);
		tap_ok(got == &slots[order[run]],
		       "take %d gets the slot ready last (ready at %llu ms)",
		       run + 1, got ? (unsigned long long)got->t_ready : 0ULL);
		if (!got)
			return;
		got->state = pool_slot_next(got->state, EV_TAKE);
		got->t_ready = 0;
		ready--;
		in_use++;
		tap_ok(pool_fill_due(4, ready, in_use, 0, 0) == (ready * 2 < 4),
		       "%u in use, %zu of 4 ready: refill %s", in_use, ready,
		       ready * 2 < 4 ? "now" : "waits");
	}
	tap_ok(pool_pick_ready(slots, 4, 0) == NULL, "all taken: none left");
	tap_ok(pool_fill_due(4, 2, 0, 0, 0),
	       "the last run over: refill even with half ready");
	tap_ok(!pool_fill_due(5, 3, 1, 0, 0) && pool_fill_due(5, 2, 1, 0, 0),
	       "pool of 5: 3 ready hold the refill, 2 do not");
}

/* Which pool a script goes to: its import statements, any indentation. */
static void test_profile_of(void)
{
	static const struct {
		const char *script;
		int want;
	} cases[] = {
		{"def main():\n    return 1\n", POOL_LEAN},
		{"import os, json\nfrom collections import deque\n", POOL_LEAN},
		{"import numpy\n", POOL_FULL},
		{"import numpy as np\n", POOL_FULL},
		{"import os, numpy.linalg as la\n", POOL_FULL},
		{"from pandas import DataFrame\n", POOL_FULL},
		{"from numpy.random import default_rng\n", POOL_FULL},
		{"def main():\n    import pandas as pd\n", POOL_FULL},
		{"try:\n\timport scipy.stats\nexcept ImportError:\n  pass\n",
		 POOL_FULL},
		{"import matplotlib.pyplot as plt\n", POOL_FULL},
		{"from sklearn import svm\n", POOL_FULL},
		{"import numpyx\n", POOL_LEAN},
		{"import mynumpy\n", POOL_LEAN},
		{"x = 'import numpy'\n", POOL_LEAN},
		{"# import numpy\n", POOL_LEAN},
		{"from . import numpy\n", POOL_LEAN},
		{"import (numpy)\n", POOL_FULL},
		{"import\tnumpy\r\n", POOL_FULL},
		{"import yaml\n", POOL_FULL}, /* in the preload list below */
		{"import yamlx\n", POOL_LEAN},
		{"from lxml.etree import parse\n", POOL_FULL},
		{"", POOL_LEAN},
		{"import", POOL_LEAN},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *s = cases[i].script;
		int got = pool_profile_of(s, strlen(s), "yaml,lxml.etree");

		tap_ok(got == cases[i].want, "script %zu (%.*s...): %s", i,
		       (int)strcspn(s, "\r\n"), s,
		       got == POOL_FULL ? "full" : "lean");
	}
	/* not NUL-terminated: only len bytes are read */
	tap_ok(pool_profile_of("import numpy", 9, "") == POOL_LEAN,
	       "only the given length is read");
}

/* How the pool's size is split between the profiles. */
static void test_targets(void)
{
	struct pool_demand d = {0};
	size_t t[POOL_PROFILES];

	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 8 && t[POOL_LEAN] == 8,
	       "no demand yet: an even split (%zu/%zu)", t[POOL_FULL],
	       t[POOL_LEAN]);
	pool_targets(&d, 1, t);
	tap_ok(t[POOL_FULL] == 1 && t[POOL_LEAN] == 0,
	       "a pool of 1 without demand: the full profile's");
	for (int i = 0; i < 30; i++)
		pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, 1000 + (uint64_t)i * 10);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 4 && t[POOL_LEAN] == 12,
	       "lean runs only: the full pool keeps a quarter (%zu/%zu)",
	       t[POOL_FULL], t[POOL_LEAN]);
	pool_targets(&d, 2, t);
	tap_ok(t[POOL_FULL] == 1 && t[POOL_LEAN] == 1,
	       "a pool of 2: one each, whatever the demand");
	pool_targets(&d, 1, t);
	tap_ok(t[POOL_FULL] == 0 && t[POOL_LEAN] == 1,
	       "a pool of 1: the profile in demand");
	/* 10 s later (5 time constants) the old lean runs weigh less than
	 * one new full run */
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, 11300);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 14 && t[POOL_LEAN] == 2,
	       "demand moved: the lean pool keeps an eighth (%zu/%zu)",
	       t[POOL_FULL], t[POOL_LEAN]);
}

/* The two time scales: a steady mix keeps its split, a burst of full runs
 * after a lean spell takes the pool at once, a lean run after full ones
 * does not. */
static void test_targets_mix(void)
{
	struct pool_demand d = {0};
	size_t t[POOL_PROFILES];
	uint64_t now = 1000;

	/* 3 lean runs to 1 full one, a run every 10 ms, for 2 s */
	for (int i = 0; i < 200; i++, now += 10)
		pool_demand_note(&d, i % 4 == 3 ? POOL_FULL : POOL_LEAN,
				 PROTO_KIND_BASE, now);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] >= 8 && t[POOL_FULL] <= 9,
	       "3 lean runs to 1 full, a full slot costing three lean ones: "
	       "an even split, give or take the last run (%zu/%zu)",
	       t[POOL_FULL], t[POOL_LEAN]);
	pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, now);
	pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, now + 5);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] >= 7 && t[POOL_FULL] <= 9,
	       "two more lean runs of the mix move it by a slot at most "
	       "(%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);

	/* lean runs every 200 ms with a lone full run now and then: no
	 * burst, the split stays on the last seconds' */
	memset(&d, 0, sizeof(d));
	for (now = 1000; now < 5000; now += 200)
		pool_demand_note(&d, now % 1000 == 0 ? POOL_FULL : POOL_LEAN,
				 PROTO_KIND_BASE, now);
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, now += 300);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] <= 9,
	       "a lone full run after quiet lean traffic: the last seconds' "
	       "split (%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);

	/* lean runs every 50 ms, two full runs 20 ms after one of them:
	 * the lean profile is not quiet, the last seconds' split (the last
	 * few runs' would give the full pool 12) */
	memset(&d, 0, sizeof(d));
	for (now = 1000; now < 3000; now += 50)
		pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, now);
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, now - 30);
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, now - 27);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 4,
	       "two full runs between busy lean ones: the floor (%zu/%zu)",
	       t[POOL_FULL], t[POOL_LEAN]);

	/* 2 s of lean runs only, every 4 ms (the bench's hello at c=4),
	 * 0.3 s of quiet, then full runs back to back */
	memset(&d, 0, sizeof(d));
	for (now = 1000; now < 3000; now += 4)
		pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, now);
	now += 300;
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, now);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 4,
	       "one full run 0.3 s after a busy lean spell: the floor still "
	       "(%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, now += 3);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] >= 12,
	       "a second one 3 ms later, a burst: most of the pool "
	       "(%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);
	for (int i = 0; i < 2; i++)
		pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, now += 3);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 14 && t[POOL_LEAN] == 2,
	       "and after four of them, all but the lean floor (%zu/%zu)",
	       t[POOL_FULL], t[POOL_LEAN]);
	/* the long scale alone would have kept the full floor */
	tap_ok(d.weight[POOL_LEAN] > 20 * POOL_FULL_COST * d.weight[POOL_FULL],
	       "(the last seconds' weights still say lean: %.0f to %.1f)",
	       d.weight[POOL_LEAN], d.weight[POOL_FULL]);
	/* a lean run again: the burst is over, the last seconds' share
	 * (the full floor) at once */
	pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, now += 300);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 4,
	       "a lean run 0.3 s later: the full pool back on its floor "
	       "(%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);
}

/* A run that finds no ready slot of its profile moves the split its way. */
static void test_starved(void)
{
	struct pool_demand d = {0};
	size_t t[POOL_PROFILES];

	for (int i = 0; i < 200; i++)
		pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, 1000 + (uint64_t)i * 10);
	pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, 3000);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 4, "a full run after a lean spell: the floor "
	       "(%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);
	pool_demand_starved(&d, POOL_FULL);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 8 && t[POOL_LEAN] == 8,
	       "the full run starved: half the pool (%zu/%zu)", t[POOL_FULL],
	       t[POOL_LEAN]);
	pool_demand_starved(&d, POOL_FULL);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 8, "starving again changes nothing by itself");
	pool_demand_starved(&d, POOL_LEAN);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 8 && t[POOL_LEAN] == 8,
	       "a starved lean run: half for it too (%zu/%zu)", t[POOL_FULL],
	       t[POOL_LEAN]);
	for (int i = 0; i < 50; i++)
		pool_demand_note(&d, POOL_FULL, PROTO_KIND_BASE, 3010);
	pool_demand_starved(&d, POOL_LEAN);
	pool_targets(&d, 16, t);
	tap_ok(t[POOL_FULL] == 8 && t[POOL_LEAN] == 8,
	       "after full demand, a starved lean run gets half back "
	       "(%zu/%zu)", t[POOL_FULL], t[POOL_LEAN]);
}

/* The page sets of a script's imports, and the slot that fits them. */
static void test_kinds(void)
{
	static const struct {
		const char *script;
		unsigned want;
	} cases[] = {
		{"def main():\n    return 1\n", PROTO_KIND_BASE},
		{"import numpy as np\n", PROTO_KIND_BASE | PROTO_KIND_NUMPY},
		{"import numpy as np\nimport pandas as pd\n",
		 PROTO_KIND_BASE | PROTO_KIND_NUMPY | PROTO_KIND_PANDAS},
		{"from pandas import DataFrame\n",
		 PROTO_KIND_BASE | PROTO_KIND_NUMPY | PROTO_KIND_PANDAS},
		{"import os, matplotlib.pyplot as plt\n",
		 PROTO_KIND_BASE | PROTO_KIND_NUMPY | PROTO_KIND_PYPLOT},
		{"import seaborn\n", PROTO_KIND_ALL},
		{"import scipy.stats\n", PROTO_KIND_BASE | PROTO_KIND_NUMPY},
		{"import yaml\n", PROTO_KIND_BASE | PROTO_KIND_NUMPY},
		{"x = 'import pandas'\n", PROTO_KIND_BASE},
	};
	struct pool_slot slots[3], *got;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *s = cases[i].script;
		unsigned got_k = pool_kinds_of(s, strlen(s), "yaml");

		tap_ok(got_k == cases[i].want, "kinds of script %zu (%.*s...): "
		       "%#x, want %#x", i, (int)strcspn(s, "\r\n"), s, got_k,
		       cases[i].want);
	}
	for (size_t i = 0; i < 3; i++) {
		slot_reset(&slots[i]);
		slots[i].state = SLOT_READY;
		slots[i].t_ready = 10 * (i + 1);
		slots[i].kinds = PROTO_KIND_BASE | PROTO_KIND_NUMPY;
	}
	slots[0].kinds |= PROTO_KIND_PANDAS;
	got = pool_pick_ready(slots, 3, PROTO_KIND_BASE | PROTO_KIND_PANDAS);
	tap_ok(got == &slots[0], "a pandas run gets the one slot with the "
	       "pandas set, not the newest");
	got = pool_pick_ready(slots, 3, PROTO_KIND_BASE | PROTO_KIND_PYPLOT);
	tap_ok(got == &slots[2], "no slot has the set: the newest");
}

/* Which page sets a new full slot makes its own. */
static void test_kinds_wanted(void)
{
	struct pool_demand d = {0};
	unsigned np = PROTO_KIND_BASE | PROTO_KIND_NUMPY;

	tap_ok(pool_kinds_wanted(&d, 1000) == PROTO_KIND_ALL,
	       "no demand yet: every set");
	for (int i = 0; i < 40; i++)
		pool_demand_note(&d, POOL_FULL, np, 1000 + (uint64_t)i * 5);
	tap_ok(pool_kinds_wanted(&d, 1200) == np,
	       "numpy runs only: the runner's and numpy's sets (%#x)",
	       pool_kinds_wanted(&d, 1200));
	for (int i = 0; i < 40; i++)
		pool_demand_note(&d, POOL_LEAN, PROTO_KIND_BASE, 1200);
	tap_ok(pool_kinds_wanted(&d, 1200) == np,
	       "lean runs do not count for the full slots' sets");
	for (int i = 0; i < 6; i++)
		pool_demand_note(&d, POOL_FULL, np | PROTO_KIND_PANDAS, 1210);
	tap_ok(pool_kinds_wanted(&d, 1210) == (np | PROTO_KIND_PANDAS),
	       "pandas in more than an eighth of the full runs: its set too "
	       "(%#x)", pool_kinds_wanted(&d, 1210));
	tap_ok(pool_kinds_wanted(&d, 1210 + 20000) == PROTO_KIND_ALL,
	       "20 s without a full run: every set again");
	for (int i = 0; i < 2000; i++) /* 200 a second for 10 s */
		pool_demand_note(&d, POOL_FULL, np, 30000 + (uint64_t)i * 5);
	for (int i = 0; i < 2; i++)
		pool_demand_note(&d, POOL_FULL, np | PROTO_KIND_PANDAS, 40000);
	tap_ok(!(pool_kinds_wanted(&d, 40000) & PROTO_KIND_PANDAS),
	       "two pandas runs after a busy numpy spell: not yet");
	pool_demand_note(&d, POOL_FULL, np | PROTO_KIND_PANDAS, 40000);
	tap_ok(pool_kinds_wanted(&d, 40000) & PROTO_KIND_PANDAS,
	       "the third: pandas's set too, however busy the spell was");
}

int main(void)
{
	test_transitions();
	test_life();
	test_backoff();
	test_broken();
	test_take_and_refill();
	test_profile_of();
	test_targets();
	test_targets_mix();
	test_starved();
	test_kinds();
	test_kinds_wanted();
	return tap_done();
}
