"""`decisions()`: a unit of work that lost a race (Contended) is decided again on fresh data, at
most `attempts` times in all; anything else, or a win, ends the attempts at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from commons.data_access_layer.repository import OwnerLock, decisions
from commons.domain.errors import Contended, Invalid


def attempt_until(wins_at: int | None, attempts: int) -> tuple[int, str | None]:
    """Run a decision that loses (Contended) until its `wins_at`th run: (runs, answer)."""
    runs = 0
    for attempt in decisions(attempts):
        with attempt:
            runs += 1
            if wins_at is None or runs < wins_at:
                raise Contended("lost the race")
            return runs, "decided"
    return runs, None


def runs_until_raised(attempts: int, refusal: Exception) -> int:
    """Run a decision that is always refused with `refusal`: how often it ran."""
    runs = 0
    with pytest.raises(type(refusal), match=str(refusal)):
        for attempt in decisions(attempts):
            with attempt:
                runs += 1
                raise refusal
    return runs


def test_a_decision_that_wins_at_once_runs_once() -> None:
    assert attempt_until(1, attempts=8) == (1, "decided")


def test_a_decision_that_lost_is_made_again_until_it_wins() -> None:
    assert attempt_until(2, attempts=8) == (2, "decided")
    assert attempt_until(4, attempts=8) == (4, "decided")


def test_a_decision_that_keeps_losing_runs_attempts_times_then_its_contended_is_raised() -> None:
    assert runs_until_raised(3, Contended("lost the race")) == 3
    assert runs_until_raised(1, Contended("lost the race")) == 1


def test_any_other_refusal_ends_the_attempts_at_once() -> None:
    assert runs_until_raised(8, Invalid("no")) == 1


def test_a_unit_that_returns_nothing_is_not_run_again() -> None:
    runs = []
    for attempt in decisions(8):
        with attempt:
            runs.append(1)
    assert len(runs) == 1


def test_owner_locks_of_different_requests_read_their_settings_at_once_and_each_only_once() -> None:
    """A lock's settings are read on first use (a point read on Cosmos): the reads of
    different threads' locks overlap instead of queueing behind one another (as under
    functools.cached_property's lock, shared by every instance up to Python 3.11)."""
    reads: list[int] = []
    inside = threading.Barrier(4, timeout=5)

    def read() -> dict[str, Any]:
        reads.append(1)
        inside.wait()  # every thread's read is under way at once, or this times out
        return {"locked_until": "2024-05-01"}

    locks = [OwnerLock(read) for _ in range(4)]
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda lock=lock: answers.append(lock.settings)) for lock in locks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [{"locked_until": "2024-05-01"}] * 4
    assert [lock.settings for lock in locks] == answers and len(reads) == 4  # read once each
