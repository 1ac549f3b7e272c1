/* SPDX-License-Identifier: MIT */
/*
 * pool_state.c - the warm pool's decisions, kept free of the kernel so that
 * tests/unit/test_pool_state.c can drive them.
 *
 * Slot life:  EMPTY -> SPAWNING (asked the zygote) -> STARTING (in its
 *             cgroup, told to go) -> READY -> taken by a run -> disposed;
 *             a failure before it is taken disposes of it (-> EMPTY).
 */
#include "pool_int.h"

int pool_slot_next(int state, enum slot_event ev)
{
	switch (ev) {
	case EV_SPAWN:
		return state == SLOT_EMPTY ? SLOT_SPAWNING : -1;
	case EV_FORKED:
		return state == SLOT_SPAWNING ? SLOT_STARTING : -1;
	case EV_READY:
		/* A second "ready" from a waiting slot is a failure. */
		return state == SLOT_STARTING ? SLOT_READY : -1;
	case EV_TAKE:
		/* Its entry is free again; the taker holds the copy. */
		return state == SLOT_READY ? SLOT_EMPTY : -1;
	case EV_FAIL:
		return state != SLOT_EMPTY ? SLOT_EMPTY : -1;
	default:
		return -1;
	}
}

uint64_t pool_backoff_ms(unsigned failures, uint64_t first, uint64_t max)
{
	uint64_t delay = first;

	for (unsigned i = 1; i < failures && delay < max; i++)
		delay *= 2;
	return delay < max ? delay : max;
}

struct pool_slot *pool_pick_ready(struct pool_slot *slots, size_t n,
				  unsigned need)
{
	/* Among the slots that hold the page sets the run calls for (else
	 * among all: it makes them its own first), the one that became
	 * ready last. On our VM a slot that has waited long runs measurably
	 * slower (hello 4 ms rested, 6 to 7 ms for the one ready the
	 * longest: README, Benchmarks), as if the hypervisor had dropped its
	 * mappings meanwhile; under load the choice makes no difference. */
	struct pool_slot *best = NULL, *fit = NULL;

	for (size_t i = 0; i < n; i++) {
		if (slots[i].state != SLOT_READY)
			continue;
		if (!best || slots[i].t_ready > best->t_ready)
			best = &slots[i];
		if ((slots[i].kinds & need) == need &&
		    (!fit || slots[i].t_ready > fit->t_ready))
			fit = &slots[i];
	}
	return fit ? fit : best;
}

/* While runs hold slots and at least half the pool is ready, the refill
 * waits: a slot's start costs tens of milliseconds of CPU, which a run on a
 * rested pool would otherwise share (measured: hello 8 -> 6 ms, pandas
 * describe 20 -> 14 ms at p50). The last run's end, or a take that leaves
 * fewer than half, wakes it. */
size_t pool_count(const struct pool *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->size; i++)
		n += p->slots[i].state != SLOT_EMPTY;
	return n;
}

bool pool_fill_due(size_t size, size_t ready, unsigned in_use, uint64_t now,
		   uint64_t fill_after)
{
	if (now < fill_after)
		return false;
	return !(in_use && ready * 2 >= size);
}

void pool_note_slot_failure(struct pool *p, uint64_t now)
{
	p->slot_failures++;
	if (p->fail_streak < 16)
		p->fail_streak++;
	p->fill_after = now + pool_backoff_ms(p->fail_streak, 50, 5000);
}

bool pool_broken(const struct pool *p)
{
	/* A pool that failed falls back at once; a starting one is worth
	 * waiting for. */
	return (p->zstate != ZY_UP && p->failures > 0) || p->fail_streak >= 3;
}
