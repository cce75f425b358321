"""The commit-msg hook's rule: `type: TT-<n> message`."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[2] / ".ci" / "commit-msg"
loader = importlib.machinery.SourceFileLoader("commit_msg", str(HOOK))
spec = importlib.util.spec_from_loader("commit_msg", loader)
assert spec is not None
commit_msg = importlib.util.module_from_spec(spec)
loader.exec_module(commit_msg)


@pytest.mark.parametrize(
    "message",
    [
        "feat: TT-3 stop the running entry",
        "fix(api): TT-12 answer 409",
        "chore: TT-00 tidy",
        "perf!: TT-4 faster\n\nbody",
        "Merge branch 'x'",
        "# comment\nrefactor: TT-7 one place",
    ],
)
def test_accepted_messages(message: str) -> None:
    assert commit_msg.check(message) is None


@pytest.mark.parametrize(
    "message", ["", "stop the entry", "feat: stop", "feat: TT-x thing", "feature: TT-1 thing", "feat:TT-1 x"]
)
def test_refused_messages(message: str) -> None:
    assert "type: TT-<n> message" in commit_msg.check(message)


def test_the_hook_exits_non_zero_on_a_bad_message(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.write_text("wip")
    good.write_text("test: TT-7 hook")
    assert commit_msg.main(["hook", str(bad)]) == 1 and commit_msg.main(["hook", str(good)]) == 0
