"""The provenance store's own rules (gate.git.provenance), on real files: lines that round-trip
any pusher name, a line still being written is not read, damage is named, not read as empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import GateError
from gate.git.provenance import (
    AgentCommits,
    check_store,
    escape,
    parse_line,
    remember,
    remembered_count,
    take_unreported,
    unescape,
)

A, B = "a" * 40, "ab" + "c" * 38


@pytest.mark.parametrize("name", ["agent-x", "-", "%", "a b\nc", "ü", "-lead", "\x00\x7f"])
def test_pusher_names_round_trip_as_one_field(name: str) -> None:
    field = escape(name)
    assert " " not in field and "\n" not in field and field != "-"
    assert unescape(field) == name
    assert unescape(escape(None)) is None


def test_remembered_commits_are_found_by_id_and_unreported_by_update(tmp_path: Path) -> None:
    assert AgentCommits.open(str(tmp_path)) is None  # no store was ever written
    remember(str(tmp_path), [("refs/heads/f", "0" * 40, B, [A, B])], "agent x", now=86400)
    memory = AgentCommits.open(str(tmp_path))
    assert memory is not None
    found = memory.get(A)
    assert found is not None and (found.ref, found.pusher, found.pushed_at) == (
        "refs/heads/f",
        "agent x",
        86400,
    )
    assert found.evidence() == (
        "first pushed by agent account agent x to refs/heads/f at 1970-01-02T00:00:00Z"
    )
    assert memory.get("b" * 40) is None
    assert [r.id for r in take_unreported(str(tmp_path), [("refs/heads/f", "0" * 40, B)])] == [
        A,
        B,
    ]
    assert remembered_count(str(tmp_path)) == 2 and check_store(str(tmp_path)) == []


def test_a_line_being_written_is_not_read_and_a_bad_line_is_damage(tmp_path: Path) -> None:
    remember(str(tmp_path), [("refs/heads/f", "0" * 40, A, [A])], None, now=1)
    bucket = tmp_path / "gate" / "agent-commits" / "aa"
    bucket.write_text(bucket.read_text() + f"{'a' * 39}b 2 refs/heads/g x")  # no newline yet
    memory = AgentCommits.open(str(tmp_path))
    assert memory is not None and memory.get("a" * 39 + "b") is None
    bucket.write_text(f"{A} not-a-time refs/heads/f -\n")
    with pytest.raises(GateError) as damaged:
        AgentCommits.open(str(tmp_path)).get(A)  # type: ignore[union-attr]
    assert "damaged" in str(damaged.value)
    assert any("line 1 is damaged" in p for p in check_store(str(tmp_path)))


def test_lost_files_are_named_not_read_as_empty(tmp_path: Path) -> None:
    remember(str(tmp_path), [("refs/heads/f", "0" * 40, A, [A, B])], "agent-x")
    (tmp_path / "gate" / "agent-commits" / "aa").unlink()
    assert any("lost" in p for p in check_store(str(tmp_path)))
    (tmp_path / "gate" / "agent-pushes").unlink()
    with pytest.raises(GateError) as missing:
        AgentCommits.open(str(tmp_path))
    assert "missing its agent-pushes" in str(missing.value)
    with pytest.raises(GateError):
        remember(str(tmp_path), [("refs/heads/g", "0" * 40, A, [A])], "agent-x")


def test_a_bad_line_in_an_unreported_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        parse_line("zz 1 refs/heads/f -")
    with pytest.raises(ValueError):
        parse_line(f"{A} 1 heads/f -")


def test_a_store_written_before_is_read_and_moved_into_two_digit_files(tmp_path: Path) -> None:
    """Stores of the previous version kept a file per three hex digits: their lines are still
    found, and the next remembered push moves them into the files of two digits."""
    remember(str(tmp_path), [("refs/heads/f", "0" * 40, A, [A])], "agent-x", now=1)
    commits = tmp_path / "gate" / "agent-commits"
    (commits / "aa").rename(commits / "aaa")  # as the previous version wrote it
    (commits / "abc").write_text(f"{B} 2 refs/heads/g agent-y\n{'ab' * 20} 3 refs/heads/g x")
    with (tmp_path / "gate" / "agent-pushes").open("a") as log:
        log.write("2 1 refs/heads/g agent-y\n")
    memory = AgentCommits.open(str(tmp_path))
    assert memory is not None
    assert memory.get(A).pusher == "agent-x"  # type: ignore[union-attr]
    assert memory.get(B).pusher == "agent-y"  # type: ignore[union-attr]
    assert check_store(str(tmp_path)) == []

    C = "ac" + "d" * 38
    remember(str(tmp_path), [("refs/heads/h", "0" * 40, C, [C])], "agent-z", now=4)
    assert sorted(p.name for p in commits.iterdir()) == ["aa", "ab", "ac"]
    # The line a push died writing (no newline) is not carried over to be glued to the next.
    assert (commits / "ab").read_text() == f"{B} 2 refs/heads/g agent-y\n"
    memory = AgentCommits.open(str(tmp_path))
    assert memory is not None
    assert [memory.get(c).pusher for c in (A, B, C)] == ["agent-x", "agent-y", "agent-z"]  # type: ignore[union-attr]
    assert remembered_count(str(tmp_path)) == 3 and check_store(str(tmp_path)) == []
