"""`KnownCallers`: what a process remembers having stored of its callers, and for how long."""

from __future__ import annotations

from commons.data_access_layer.callers import KnownCallers
from commons.domain.identity import Actor


def test_a_caller_is_known_as_last_stored_and_forgotten_after_the_ttl() -> None:
    now = [0.0]
    known = KnownCallers(ttl=600, timer=lambda: now[0])
    ana = Actor("ana", "t1", "ana@example.com", "Ana")
    assert not known.knows(ana)
    known.learn(ana)
    assert known.knows(ana)
    assert not known.knows(Actor("ana", "t1", "ana@new.example.com", "Ana"))  # presents otherwise
    assert not known.knows(Actor("ana", "t2", "ana@example.com", "Ana"))  # another tenant's user
    known.learn(Actor("ana", "t1", "ana@new.example.com", "Ana"))
    assert not known.knows(ana)  # the last stored is what counts
    now[0] = 601.0
    assert not known.knows(Actor("ana", "t1", "ana@new.example.com", "Ana"))  # maybe changed elsewhere
