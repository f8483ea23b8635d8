"""The disclosure computation and the pause proof, as functions over audit records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gate.audit.verify import check_pauses
from gate.clock import parse_day, parse_moment
from gate.disclosure.compute import compute_report, p90, week_of
from gate.disclosure.render import render


def record(seq: int, time: str, action: str, **subject: Any) -> dict[str, Any]:
    return {"seq": seq, "time": time, "action": action, "actor": "x", "subject": subject}


def accepted(seq: int, pushed_at: str, buckets: list[tuple[str, str, int, int]], pusher="dana"):  # type: ignore[no-untyped-def]
    return record(
        seq,
        pushed_at.replace("Z", ".000000Z"),
        "push.accepted",
        repository="repo",
        pusher=pusher,
        pushed_at=pushed_at,
        guarded=[
            {
                "guard": g,
                "day": d,
                "agent": a,
                "human": h,
                "agents": {"Claude Code": a} if a else {},
            }
            for g, d, a, h in buckets
        ],
    )


def held(seq: int, time: str, request: int, guards: list[str]) -> dict[str, Any]:
    items = [{"key": f"{request:040x}", "guards": {g: ["p"] for g in guards}}]
    return record(seq, time, "request.held", request=request, repository="repo", items=items)


def test_week_is_the_iso_week_starting_monday_utc() -> None:
    assert week_of(datetime(2026, 3, 8, 23, 59, tzinfo=UTC)) == "2026-03-02"  # Sunday
    assert week_of(datetime(2026, 3, 9, 0, 0, tzinfo=UTC)) == "2026-03-09"  # Monday


def test_p90_is_nearest_rank() -> None:
    assert p90([float(n) for n in range(1, 11)]) == 9.0
    assert p90([5.0]) == 5.0


def test_counts_shares_and_signoff_times() -> None:
    records = [
        accepted(
            1,
            "2026-03-10T12:00:00Z",
            [("training", "2026-03-02", 3, 7), ("model", "2026-03-03", 1, 0)],
        ),
        accepted(2, "2026-03-10T13:00:00Z", [("training", "2026-03-09", 2, 2)], pusher="erin"),
        held(3, "2026-03-10T10:00:00.000000Z", 1, ["training"]),
        record(
            4,
            "2026-03-10T10:30:00.000000Z",
            "decision.approve",
            repository="repo",
            guards=["training"],
            request=1,
        ),
        record(5, "2026-03-10T10:30:00.000000Z", "request.approved", request=1),
        held(6, "2026-03-10T11:00:00.000000Z", 2, ["training", "model"]),
        record(
            7,
            "2026-03-10T11:05:00.000000Z",
            "decision.deny",
            repository="repo",
            guards=["model", "training"],
            request=2,
        ),
        held(8, "2026-03-11T09:00:00.000000Z", 3, ["training"]),
        record(9, "2026-03-11T11:00:00.000000Z", "request.approved", request=3),
    ]
    report = compute_report(records)
    rows = {(r["guard"], r["week"]): r for r in report["weeks"]}
    assert rows[("training", "2026-03-02")]["agent_commits"] == 3
    assert rows[("training", "2026-03-02")]["agent_share"] == 0.3
    assert rows[("training", "2026-03-09")]["pushers"] == {"erin": 4}
    this_week = rows[("training", "2026-03-09")]
    assert (this_week["held_requests"], this_week["approvals"], this_week["denials"]) == (3, 1, 1)
    assert this_week["signoff_median_s"] == 4500.0  # 30 min and 2 h
    assert this_week["signoff_p90_s"] == 7200.0
    totals = {r["guard"]: r for r in report["totals"]}
    assert (totals["training"]["agent_commits"], totals["training"]["human_commits"]) == (5, 9)
    assert totals["model"]["agents"] == {"Claude Code": 1}

    by_push = compute_report(records, week_by="push")
    assert {r["week"] for r in by_push["weeks"]} == {"2026-03-09"}
    selected = compute_report(
        records, since=parse_day("2026-03-09"), until=parse_day("2026-03-15", end=True)
    )
    training = next(r for r in selected["totals"] if r["guard"] == "training")
    assert (training["agent_commits"], training["human_commits"]) == (2, 2)
    for fmt in ("json", "csv", "html"):
        assert render(report, fmt)


def test_pause_windows_count_what_landed_during_and_after() -> None:
    records = [
        record(
            1,
            "2026-03-10T09:00:00.000000Z",
            "pause.started",
            pause=1,
            scope=["training"],
            reason="r",
            by="root",
            until=None,
        ),
        record(
            2, "2026-03-10T09:10:00.000000Z", "push.refused", pause=1, pauses=[1], reason="paused"
        ),
        held(3, "2026-03-10T09:20:00.000000Z", 1, ["training"]),
        accepted(
            4,
            "2026-03-10T09:30:00Z",
            [("training", "2026-03-10", 0, 4), ("model", "2026-03-10", 2, 0)],
        ),
        record(
            5,
            "2026-03-10T09:40:00.000000Z",
            "push.allowed",
            repository="repo",
            ref="refs/heads/main",
            guards=["model"],
        ),
        record(
            6,
            "2026-03-10T10:00:00.000000Z",
            "pause.stopped",
            pause=1,
            scope=["training"],
            by="root",
        ),
        record(
            7,
            "2026-03-10T11:00:00.000000Z",
            "push.allowed",
            repository="repo",
            ref="refs/heads/main",
            guards=["training"],
        ),
        accepted(8, "2026-03-10T11:00:01Z", [("training", "2026-03-10", 1, 0)]),
        record(
            9, "2026-03-13T11:00:00.000000Z", "push.allowed", repository="repo", guards=["training"]
        ),
    ]
    proof = check_pauses(records)
    assert proof.ok, proof.failures
    [window] = compute_report(records)["pauses"]
    assert (window["refused_pushes"], window["requests_held"], window["pending_at_end"]) == (
        1,
        1,
        1,
    )
    assert window["landed_during"] == {"agent_commits": 0, "human_commits": 4, "allowed_pushes": 0}
    assert window["landed_after"] == {"agent_commits": 1, "human_commits": 0, "allowed_pushes": 1}


def test_until_ends_a_window_even_without_an_expiry_record() -> None:
    records = [
        record(
            1,
            "2026-03-10T09:00:00.000000Z",
            "pause.started",
            pause=1,
            scope=["all"],
            reason="r",
            by="root",
            until="2026-03-10T10:00:00Z",
        ),
        record(
            2, "2026-03-10T09:59:59.000000Z", "push.allowed", repository="repo", guards=["model"]
        ),
        record(
            3, "2026-03-10T10:00:00.000000Z", "push.allowed", repository="repo", guards=["model"]
        ),
        record(4, "2026-03-10T10:00:01.000000Z", "push.allowed", repository="repo"),
    ]
    proof = check_pauses(records)
    assert [w.violations for w in proof.windows] == [[2]]
    assert proof.windows[0].end_kind == "until"
    assert "record 2: push.allowed" in proof.failures[0]


def test_push_allowed_without_guards_counts_as_touching_every_guard() -> None:
    records = [
        record(
            1,
            "2026-03-10T09:00:00.000000Z",
            "pause.started",
            pause=1,
            scope=["training"],
            reason="r",
            by="root",
        ),
        record(
            2, "2026-03-10T09:01:00.000000Z", "push.allowed", repository="repo", keys=["a" * 40]
        ),
    ]
    assert not check_pauses(records).ok


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01", "5 parsecs"])
def test_bad_times_are_clear_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"time|cannot read"):
        parse_moment(text)


def test_times_people_type() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_moment("2h", now) == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert parse_moment("2026-03-11T08:00", now) == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    assert parse_moment("2026-03-11T08:00+02:00", now) == datetime(2026, 3, 11, 6, 0, tzinfo=UTC)
    assert parse_day("2026-03-11", end=True) == datetime(2026, 3, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day("11/03/2026")


def test_commits_landed_without_signoff_are_counted_and_listed() -> None:
    found = {
        "repository": "repo",
        "commit": "a" * 40,
        "guards": ["training", "model"],
        "agents": ["Claude Code"],
        "source": "reconcile",
    }
    records = [
        accepted(1, "2026-03-10T10:00:00Z", [("training", "2026-03-10", 1, 0)]),
        record(2, "2026-03-11T09:00:00.000000Z", "commit.landed_without_signoff", **found),
    ]
    report = compute_report(records)
    totals = {r["guard"]: r for r in report["totals"]}
    assert totals["training"]["without_signoff"] == 1 and totals["model"]["without_signoff"] == 1
    (listed,) = report["unsigned"]
    assert listed["commit"] == "a" * 40 and listed["found_at"] == "2026-03-11T09:00:00.000000Z"
    assert "without_signoff" in render(report, "csv").splitlines()[0]
    outside = compute_report(records, since=parse_moment("2026-03-12"))
    assert outside["unsigned"] == []
