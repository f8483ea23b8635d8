"""The bundle's human-readable report, computed from the exported records alone (so anyone can
recompute it from records.jsonl): a summary per repository and guard, and every approved change
with its reviewers and their statements, and every pause with what it held back."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from gate.audit.verify import check_pauses
from gate.resources import resource_dir


@dataclass
class GuardSummary:
    repository: str
    guard: str
    held: int = 0
    approved: int = 0
    denied: int = 0
    pending: int = 0
    landed: int = 0


@dataclass
class Signoff:
    reviewer: str
    name: str
    email: str
    verdict: str
    statement: str
    time: str
    seq: int
    security_key: str = ""  # the credential id of a security-key (WebAuthn) approval


@dataclass
class Change:
    request: int
    repository: str
    ref: str
    held_time: str
    held_seq: int
    keys: list[str]
    guards: dict[str, int]
    authors: list[str]
    state: str = "pending"
    decided_time: str = ""
    signoffs: list[Signoff] = field(default_factory=list)
    landed: list[tuple[int, str]] = field(default_factory=list)  # (seq, time) of push.allowed


@dataclass
class Summary:
    guards: list[GuardSummary]
    approved: list[Change]
    denied: list[Change]
    actions: dict[str, int]
    keys: list[dict[str, Any]]
    pauses: list[dict[str, Any]] = field(default_factory=list)


def summarize(records: list[dict[str, Any]]) -> Summary:
    changes: dict[int, Change] = {}
    actions: dict[str, int] = defaultdict(int)
    keys = []
    for record in records:
        action, subject = record["action"], record["subject"]
        actions[action] += 1
        change = changes.get(subject.get("request")) if "request" in subject else None
        if action == "request.held":
            items = subject.get("items", [])
            changes[subject["request"]] = Change(
                request=subject["request"],
                repository=subject.get("repository", ""),
                ref=subject.get("ref", ""),
                held_time=record["time"],
                held_seq=record["seq"],
                keys=[str(i.get("key", "")) for i in items],
                guards=dict(subject.get("required", {})),
                authors=sorted({str(i.get("author")) for i in items if i.get("author")}),
            )
        elif action.startswith("decision.") and change is not None:
            change.signoffs.append(
                Signoff(
                    reviewer=str(subject.get("reviewer", record["actor"])),
                    name=str(subject.get("reviewer_name", "")),
                    email=str(subject.get("reviewer_email", "")),
                    verdict=action.removeprefix("decision."),
                    statement=str(subject.get("statement") or subject.get("comment") or ""),
                    time=record["time"],
                    seq=record["seq"],
                    security_key=str((subject.get("webauthn") or {}).get("credential_id") or ""),
                )
            )
        elif action in ("request.approved", "request.denied") and change is not None:
            change.state = action.removeprefix("request.")
            change.decided_time = record["time"]
        elif action == "push.allowed":
            for request_id in subject.get("requests", []):
                if request_id in changes:
                    changes[request_id].landed.append((record["seq"], record["time"]))
        elif action in ("audit.key_created", "audit.key_rotated"):
            keys.append({"action": action, "time": record["time"], "seq": record["seq"], **subject})
    table: dict[tuple[str, str], GuardSummary] = {}
    for change in changes.values():
        for guard in change.guards or {"(none)": 0}:
            row = table.setdefault(
                (change.repository, guard), GuardSummary(change.repository, guard)
            )
            row.held += 1
            row.approved += change.state == "approved"
            row.denied += change.state == "denied"
            row.pending += change.state == "pending"
            row.landed += bool(change.landed)
    ordered = sorted(changes.values(), key=lambda c: c.held_seq)
    return Summary(
        guards=[table[k] for k in sorted(table)],
        approved=[c for c in ordered if c.state == "approved"],
        denied=[c for c in ordered if c.state == "denied"],
        actions=dict(sorted(actions.items())),
        keys=keys,
        pauses=[w.to_dict() for w in check_pauses(records).windows],
    )


def render_report(records: list[dict[str, Any]], manifest: dict[str, Any]) -> str:
    """The report as a self-contained HTML page (no scripts, no external resources)."""
    env = Environment(
        loader=FileSystemLoader(str(resource_dir("templates"))),
        autoescape=select_autoescape(default=True),
    )
    template = env.get_template("audit/report.html")
    return template.render(summary=summarize(records), manifest=manifest)
