"""The process-wide caches: what a process remembers having stored of its callers, and the
names and directory answers kept for a while, which a change forgets at once."""

from __future__ import annotations

from typing import Any

from commons.config import Settings
from commons.data_access_layer.callers import KnownCallers
from commons.data_access_layer.cosmos_db.names import NameCache
from commons.directory.graph import GraphDirectory
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


def test_a_name_read_before_a_rename_that_forgot_it_is_answered_but_not_kept() -> None:
    """A rename forgets the cached record; a read that began before the rename landed may
    hold the old name. It answers its own request with it, but the next one reads again."""
    names = NameCache()
    stored = {"p1": {"name": "Old"}}

    def fetch_racing_a_rename(ids: list[str]) -> dict[str, Any]:
        read = {i: dict(stored[i]) for i in ids}  # the read lands first...
        stored["p1"] = {"name": "New"}  # ...then the rename commits and forgets
        names.forget("t1", "project", "p1")
        return read

    assert names.many("t1", "project", ["p1"], fetch_racing_a_rename) == {"p1": {"name": "Old"}}
    fetched: list[list[str]] = []
    again = names.many("t1", "project", ["p1"], lambda ids: fetched.append(ids) or {i: stored[i] for i in ids})
    assert again == {"p1": {"name": "New"}} and fetched == [["p1"]]
    assert names.many("t1", "project", ["p1"], lambda ids: {}) == {"p1": {"name": "New"}}  # now kept


def test_a_directory_answer_read_before_a_change_that_forgot_it_is_not_kept() -> None:
    directory = GraphDirectory(Settings(ms_endpoint="https://graph.invalid"))

    def load_racing_a_revoke() -> list[str]:
        directory._forget("users")  # a role revoked while the list was being read
        return ["ana (admin)"]

    assert directory._cached("users", load_racing_a_revoke) == ["ana (admin)"]
    assert directory._cached("users", lambda: ["ana"]) == ["ana"]
    assert directory._cached("users", lambda: ["never read"]) == ["ana"]  # kept once nothing raced
