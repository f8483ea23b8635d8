"""Proof that pauses held, from audit records alone (an export): stdlib only, no server code.

A pause window opens at its ``pause.started`` record and closes at the first of: the
``pause.stopped`` or ``pause.expired`` record for the same pause, or the pause's ``until``
time. Records are ordered by ``seq`` (the server appends under one lock, so ``seq`` is the
order in which decisions were made), and a window with ``until`` also ends at that time.

The invariant: no ``push.allowed`` record inside a window names a guard in the pause's scope
(a ``push.allowed`` without ``guards`` is taken to touch every guard). Each window is reported
with its counts: pushes refused because of it (``push.refused`` naming the pause), requests held
for its guards during it, and how many of those were still pending when it closed.

A record is a dict with at least ``seq``, ``time`` (RFC 3339 UTC), ``action`` and ``subject``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

END_ACTIONS = ("pause.stopped", "pause.expired")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


@dataclass
class PauseWindow:
    pause: int
    scope: list[str]
    reason: str
    started_by: str
    start_seq: int
    start_time: str
    until: str | None = None
    end_seq: int | None = None  # None: still in force at the end of the export (or ran out)
    end_time: str | None = None
    end_kind: str | None = None  # stopped | expired | until | open
    ended_by: str | None = None
    refused_pushes: int = 0
    requests_held: list[int] = field(default_factory=list)
    pending_at_end: list[int] = field(default_factory=list)
    approvals_during: int = 0
    violations: list[int] = field(default_factory=list)  # seq of offending push.allowed

    def covers(self, guards: Iterable[str] | None) -> bool:
        if guards is None:
            return True
        names = set(guards)
        return bool(names) and ("all" in self.scope or bool(names & set(self.scope)))

    def contains(self, record: dict[str, Any]) -> bool:
        """Whether a record falls inside this window (by seq, and before ``until``)."""
        return int(record["seq"]) > self.start_seq and self.before_end(record)

    def before_end(self, record: dict[str, Any]) -> bool:
        if self.end_seq is not None and int(record["seq"]) >= self.end_seq:
            return False
        return self.until is None or _time(record["time"]) < _time(self.until)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pause": self.pause,
            "scope": self.scope,
            "reason": self.reason,
            "started_by": self.started_by,
            "start": self.start_time,
            "start_seq": self.start_seq,
            "end": self.end_time,
            "end_seq": self.end_seq,
            "end_kind": self.end_kind,
            "ended_by": self.ended_by,
            "until": self.until,
            "refused_pushes": self.refused_pushes,
            "requests_held": len(self.requests_held),
            "pending_at_end": len(self.pending_at_end),
            "approvals_during": self.approvals_during,
            "violations": self.violations,
        }


@dataclass
class PauseProof:
    windows: list[PauseWindow]
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


def pause_windows(records: list[dict[str, Any]]) -> list[PauseWindow]:
    """The pause windows described by the records, without checking anything."""
    windows: dict[int, PauseWindow] = {}
    for record in sorted(records, key=lambda r: int(r["seq"])):
        action, subject = record["action"], record.get("subject") or {}
        if action == "pause.started":
            windows[int(subject["pause"])] = PauseWindow(
                pause=int(subject["pause"]),
                scope=list(subject.get("scope") or ["all"]),
                reason=str(subject.get("reason", "")),
                started_by=str(subject.get("by", record.get("actor", ""))),
                start_seq=int(record["seq"]),
                start_time=str(record["time"]),
                until=subject.get("until"),
            )
        elif action in END_ACTIONS:
            window = windows.get(int(subject.get("pause", -1)))
            if window is not None and window.end_seq is None:
                window.end_seq = int(record["seq"])
                window.end_kind = action.split(".")[1]
                window.ended_by = str(subject.get("by", record.get("actor", "")))
                window.end_time = str(record["time"])
                if window.until and _time(window.until) < _time(window.end_time):
                    window.end_time, window.end_kind = window.until, "until"
    for window in windows.values():
        if window.end_seq is None:
            window.end_time, window.end_kind = (
                (window.until, "until") if window.until else (None, "open")
            )
    return sorted(windows.values(), key=lambda w: w.start_seq)


def check_pauses(records: list[dict[str, Any]]) -> PauseProof:
    """Check the pause invariant and count what happened in each window."""
    ordered = sorted(records, key=lambda r: int(r["seq"]))
    windows = pause_windows(ordered)
    failures: list[str] = []
    held_guards: dict[int, set[str]] = {}
    settled: dict[int, dict[str, Any]] = {}  # request -> its request.approved / .denied record
    for record in ordered:
        subject = record.get("subject") or {}
        if record["action"] == "request.held":
            held_guards[int(subject["request"])] = {
                g for item in subject.get("items", []) for g in item.get("guards", {})
            }
        elif record["action"] in ("request.approved", "request.denied"):
            settled.setdefault(int(subject["request"]), record)
    for window in windows:
        for record in ordered:
            if not window.contains(record):
                continue
            action, subject = record["action"], record.get("subject") or {}
            if action == "push.allowed" and window.covers(subject.get("guards")):
                window.violations.append(int(record["seq"]))
                failures.append(
                    f"record {record['seq']}: push.allowed for {subject.get('repository')} "
                    f"{subject.get('ref')} (guards {', '.join(subject.get('guards') or ['unknown'])}) "
                    f"inside pause {window.pause} ({window.start_time} to {window.end_time or 'open'})"
                )
            elif action == "push.refused" and window.pause in subject.get("pauses", []):
                window.refused_pushes += 1
            elif action == "request.held" and window.covers(held_guards[int(subject["request"])]):
                window.requests_held.append(int(subject["request"]))
            elif action == "decision.approve" and window.covers(subject.get("guards")):
                window.approvals_during += 1
        window.pending_at_end = [
            r for r in window.requests_held if r not in settled or not window.before_end(settled[r])
        ]
    return PauseProof(windows, failures)
