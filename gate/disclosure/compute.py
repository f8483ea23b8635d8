"""Disclosure figures, computed from audit records alone, so an export reproduces them.

Per repository, guard and week:

- ``agent_commits`` / ``human_commits``: new commits on protected refs that touch the guard's
  paths, from the post-receive reports (``push.accepted``); ``agent_share`` is agent / both.
  A commit touching two guards counts once for each.
- ``held_requests`` (``request.held``), ``approvals`` (``decision.approve``), ``denials``
  (``decision.deny``), and time to sign-off: from a request's ``request.held`` to its
  ``request.approved`` record, in seconds; ``signoff_median_s`` and ``signoff_p90_s`` (nearest
  rank) over the requests signed off that week.
- ``agents``: agent commits per agent (catalog names, or the policy rule that fired);
  ``pushers``: guarded commits per authenticated pusher.
- ``without_signoff``: agent commits on the guard's paths found on protected refs with no
  approval (``commit.landed_without_signoff``, by post-receive or ``gate reconcile``), in the
  week the server found them; the report's ``unsigned`` lists each one.

Weeks are ISO weeks (Monday 00:00 UTC), named by their Monday. Commit counts go in the week of
the commit's committer date (``week_by="commit"``, the default: when the change was made) or
of the push (``week_by="push"``: when it landed, by the git host's clock); requests and
decisions always go in the week the server recorded them. ``since``/``until`` select on the
same times. Pauses: each window (``gate.audit.verify``) with what landed during it and in the
24 hours after it ends.

A record is a dict with ``seq``, ``time``, ``action``, ``actor`` and ``subject`` (the audit
export's JSON Lines). Stdlib only.
"""

from __future__ import annotations

import json
import math
import statistics
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gate.audit.verify import check_pauses
from gate.clock import parse_timestamp, week_start
from gate.errors import InputError

AFTER_PAUSE = timedelta(hours=24)
WEEK_BY = ("commit", "push")


def week_of(moment: datetime) -> str:
    """The Monday (UTC) that starts the ISO week of ``moment``."""
    return week_start(moment).isoformat()


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass
class Row:
    repository: str
    guard: str
    week: str
    agent_commits: int = 0
    human_commits: int = 0
    held_requests: int = 0
    approvals: int = 0
    denials: int = 0
    signoff_seconds: list[float] = field(default_factory=list)
    agents: Counter[str] = field(default_factory=Counter)
    pushers: Counter[str] = field(default_factory=Counter)
    without_signoff: int = 0

    def to_dict(self) -> dict[str, Any]:
        total = self.agent_commits + self.human_commits
        times = self.signoff_seconds
        return {
            "repository": self.repository,
            "guard": self.guard,
            "week": self.week,
            "agent_commits": self.agent_commits,
            "human_commits": self.human_commits,
            "agent_share": round(self.agent_commits / total, 4) if total else None,
            "held_requests": self.held_requests,
            "approvals": self.approvals,
            "denials": self.denials,
            "signoffs": len(times),
            "signoff_median_s": round(statistics.median(times), 1) if times else None,
            "signoff_p90_s": round(p90(times), 1) if times else None,
            "agents": dict(sorted(self.agents.items())),
            "pushers": dict(sorted(self.pushers.items())),
            "without_signoff": self.without_signoff,
        }


def compute_report(
    records: Iterable[dict[str, Any]],
    since: datetime | None = None,
    until: datetime | None = None,
    week_by: str = "commit",
) -> dict[str, Any]:
    if week_by not in WEEK_BY:
        raise InputError(f"week_by must be one of {', '.join(WEEK_BY)}")
    everything = sorted(records, key=lambda r: int(r["seq"]))
    ordered = [record for record in everything if _readable(record)]

    def selected(moment: datetime) -> bool:
        return (since is None or moment >= since) and (until is None or moment < until)

    weeks: dict[tuple[str, str, str], Row] = {}
    totals: dict[tuple[str, str], Row] = {}

    def rows(repository: str, guard: str, moment: datetime) -> list[Row]:
        key = (repository, guard)
        week = weeks.setdefault((*key, week_of(moment)), Row(*key, week_of(moment)))
        return [week, totals.setdefault(key, Row(*key, "all"))]

    held: dict[int, tuple[datetime, str, set[str]]] = {}
    unsigned: list[dict[str, Any]] = []
    for record in ordered:
        action, subject, moment = (
            record["action"],
            record.get("subject") or {},
            parse_timestamp(record["time"]),
        )
        if action == "push.accepted":
            pushed = parse_timestamp(subject["pushed_at"])
            for bucket in subject.get("guarded", []):
                when = parse_timestamp(bucket["day"]) if week_by == "commit" else pushed
                if not selected(when):
                    continue
                for row in rows(subject["repository"], bucket["guard"], when):
                    row.agent_commits += bucket["agent"]
                    row.human_commits += bucket["human"]
                    row.agents.update(bucket.get("agents", {}))
                    row.pushers[subject.get("pusher") or "unknown"] += (
                        bucket["agent"] + bucket["human"]
                    )
        elif action == "request.held":
            guards = {g for item in subject.get("items", []) for g in item.get("guards", {})}
            held[int(subject["request"])] = (moment, subject["repository"], guards)
            if selected(moment):
                for guard in guards:
                    for row in rows(subject["repository"], guard, moment):
                        row.held_requests += 1
        elif action in ("decision.approve", "decision.deny") and selected(moment):
            for guard in subject.get("guards", []):
                for row in rows(subject["repository"], guard, moment):
                    if action == "decision.approve":
                        row.approvals += 1
                    else:
                        row.denials += 1
        elif action == "commit.landed_without_signoff" and selected(moment):
            unsigned.append({**subject, "found_at": record["time"], "seq": int(record["seq"])})
            for guard in subject.get("guards", []):
                for row in rows(subject["repository"], guard, moment):
                    row.without_signoff += 1
        elif action == "request.approved" and selected(moment):
            request = held.get(int(subject["request"]))
            if request is not None:
                started, repository, guards = request
                for guard in guards:
                    for row in rows(repository, guard, moment):
                        row.signoff_seconds.append((moment - started).total_seconds())

    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "week_by": week_by,
        "records": {
            "count": len(everything),
            "first_seq": int(everything[0]["seq"]) if everything else None,
            "last_seq": int(everything[-1]["seq"]) if everything else None,
            "unreadable_seqs": [int(r["seq"]) for r in everything if not _readable(r)],
        },
        "weeks": [weeks[k].to_dict() for k in sorted(weeks)],
        "totals": [totals[k].to_dict() for k in sorted(totals)],
        "pauses": _pauses(ordered, since, until),
        "unsigned": unsigned,
    }


def _readable(record: dict[str, Any]) -> bool:
    """False for a push report whose times cannot be read (one stored before the API parsed
    reports strictly): it is left out and named, rather than breaking every report after it."""
    if record["action"] != "push.accepted":
        return True
    subject = record.get("subject") or {}
    try:
        parse_timestamp(subject["pushed_at"])
        for bucket in subject.get("guarded", []):
            parse_timestamp(bucket["day"])
    except (InputError, KeyError, TypeError):
        return False
    return True


def _pauses(
    records: list[dict[str, Any]], since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    proof = check_pauses(records)
    found = []
    for window in proof.windows:
        start = parse_timestamp(window.start_time)
        end = parse_timestamp(window.end_time) if window.end_time else None
        if (until is not None and start >= until) or (
            since is not None and end is not None and end + AFTER_PAUSE < since
        ):
            continue
        during = {"agent_commits": 0, "human_commits": 0, "allowed_pushes": 0}
        after = {"agent_commits": 0, "human_commits": 0, "allowed_pushes": 0}
        for record in records:
            subject = record.get("subject") or {}
            if record["action"] == "push.accepted":
                moment = parse_timestamp(subject["pushed_at"])
                buckets = [b for b in subject.get("guarded", []) if window.covers([b["guard"]])]
                counts = (sum(b["agent"] for b in buckets), sum(b["human"] for b in buckets))
            elif record["action"] == "push.allowed" and window.covers(subject.get("guards")):
                moment, counts = parse_timestamp(record["time"]), (0, 0)
            else:
                continue
            if moment < start:
                continue
            if end is None or moment < end:
                target = during
            elif moment < end + AFTER_PAUSE:
                target = after
            else:
                continue
            target["agent_commits"] += counts[0]
            target["human_commits"] += counts[1]
            target["allowed_pushes"] += record["action"] == "push.allowed"
        found.append({**window.to_dict(), "landed_during": during, "landed_after": after})
    return found


def read_export(path: str | Path) -> list[dict[str, Any]]:
    """Audit records from an export: JSON Lines, or a bundle (zip) holding a ``.jsonl`` file."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as bundle:
            names = [n for n in bundle.namelist() if n.endswith(".jsonl")]
            if not names:
                raise InputError(f"{path} is a zip without a .jsonl file of records")
            text = bundle.read(sorted(names, key=lambda n: ("record" not in n, n))[0]).decode()
    else:
        text = path.read_text(encoding="utf-8")
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {number} is not JSON: {exc.msg}") from None
        if not isinstance(record, dict) or not {"seq", "time", "action"} <= record.keys():
            raise InputError(f"{path} line {number} is not an audit record (seq, time, action)")
        records.append(record)
    return records
