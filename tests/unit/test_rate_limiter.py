"""The batch rate limiter on a simulated clock: no window of a minute exceeds its limits.

Many workers, far more than the budget allows, reserve random token counts, run for
random times and settle with their usage; every window of the simulated run is checked.
"""

from __future__ import annotations

import random

import pytest

import chatport
from chatport import RateLimit
from chatport._batch import DEFAULT_RESERVED_COMPLETION, RateLimiter, Reservation, reserved_tokens

from ..wire.test_rate_limit import most_in_window, most_tokens_in_window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def simulate(
    limit: RateLimit, workers: int, minutes: float, seed: int
) -> list[tuple[float, float]]:
    """Run ``workers`` busy workers through one limiter on a simulated clock.

    Each reserves a random number of tokens, runs for a random time, and settles with
    a random usage (at most the reservation); now and then a server asks for a pause.
    Returns each admitted request as (admission time, tokens counted once settled).
    """
    rng = random.Random(seed)
    clock = Clock()
    limiter = RateLimiter(limit, clock)
    start = clock.now
    wakes: list[tuple[float, int]] = [(start, n) for n in range(workers)]
    running: dict[int, tuple[Reservation, float]] = {}
    admitted: list[Reservation] = []
    while wakes:
        wakes.sort()
        clock.now, worker = wakes.pop(0)
        if clock.now > start + minutes * 60:
            continue
        if worker in running:  # a request ends: settle it with its usage
            ended, used = running.pop(worker)
            ended.settle(used)
            if rng.random() < 0.1:  # now and then a server says: wait
                limiter.pause(rng.uniform(0, 5))
        tokens = rng.randint(50, 3000)
        wait, reservation = limiter.try_acquire(tokens)
        if reservation is None:
            assert wait > 0
            wakes.append((clock.now + wait, worker))
            continue
        admitted.append(reservation)
        used = rng.uniform(0, 1) * min(tokens, limit.tokens_per_minute or tokens)
        running[worker] = (reservation, used)
        wakes.append((clock.now + rng.uniform(0.05, 8.0), worker))
    for ended, used in running.values():
        ended.settle(used)
    return [(r.at, r.tokens) for r in admitted]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_minute_exceeds_the_limits_on_a_simulated_clock(seed: int) -> None:
    limit = RateLimit(requests_per_minute=300, tokens_per_minute=40_000)
    admitted = simulate(limit, workers=64, minutes=6, seed=seed)
    times = [at for at, _ in admitted]
    assert most_in_window(times, 60) <= 300
    assert most_tokens_in_window(admitted, 60) <= 40_000
    # evenly spaced, never a burst: at most k requests in any k spacings
    for k in (1, 2, 10):
        assert most_in_window(times, k * 60 / 300) <= k
    # and it does not starve: most of the budget is used in six minutes
    assert sum(tokens for _, tokens in admitted) >= 6 * 40_000 * 0.7


def test_tokens_only_limit_on_a_simulated_clock() -> None:
    limit = RateLimit(tokens_per_minute=10_000)
    admitted = simulate(limit, workers=200, minutes=5, seed=7)
    assert most_tokens_in_window(admitted, 60) <= 10_000
    assert sum(tokens for _, tokens in admitted) >= 5 * 10_000 * 0.7


def test_usage_above_the_reservation_delays_what_follows() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(tokens_per_minute=1000), clock)
    _, first = limiter.try_acquire(400)
    assert first is not None
    first.settle(900)  # it used more than it reserved: counted as used
    assert limiter.delay(200) == pytest.approx(60.0)
    clock.now += 60
    assert limiter.delay(200) == 0


def test_the_budget_starts_empty_not_full() -> None:
    # 60 000 tokens a minute and 1 000-token calls: 60 a minute, however many ask at once
    clock = Clock()
    limiter = RateLimiter(RateLimit(tokens_per_minute=60_000), clock)
    started = 0
    for _ in range(60):  # a minute of 64 workers asking at once, every second
        for _ in range(64):
            _, reservation = limiter.try_acquire(1000)
            if reservation is not None:
                started += 1
        clock.now += 1.0
    assert started == 60


def test_a_reservation_counts_the_prompt_and_max_tokens() -> None:
    short = chatport.ChatRequest.build("x" * 400, model="m", max_tokens=50)
    assert reserved_tokens(short) == 100 + 4 + 50  # 400 characters, one message, max_tokens
    unset = chatport.ChatRequest.build("x" * 400, model="m")
    assert reserved_tokens(unset) == 104 + DEFAULT_RESERVED_COMPLETION
    several = chatport.ChatRequest.build("x" * 400, model="m", max_tokens=50, n=3)
    assert reserved_tokens(several) == 104 + 150
