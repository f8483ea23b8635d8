"""Which repositories the server guards, and whether their hooks still run.

Every guarded repository's post-receive hook (after each push) and ``gate doctor --report``
(from cron) send a heartbeat. A repository that has been quiet for longer than
GATE_HEARTBEAT_OVERDUE_SECONDS, or whose doctor report lists problems, is an alert: an audit
record, a webhook event, and a banner on the admins' pages, so that hooks a host removed or
replaced (or that fail before they report) do not go unnoticed. The check runs on the admins'
pages, periodically while the server serves requests, and from cron (``gate heartbeats check``)
for a server nobody visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from gate.clock import as_utc, utc_text
from gate.server.extensions import db
from gate.server.models import HookToken, Repository, RepositoryHeartbeat
from gate.server.services import audit, notify
from gate.server.services.actor import SYSTEM, Actor
from gate.server.services.holds import repository_named
from gate.wire import MAX_COUNT


def overdue_after() -> timedelta:
    return timedelta(seconds=int(current_app.config["GATE_HEARTBEAT_OVERDUE_SECONDS"]))


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; they were stored as UTC."""
    return as_utc(moment) if moment is not None else None


def _row(repo: Repository) -> RepositoryHeartbeat:
    row = db.session.get(RepositoryHeartbeat, repo.id)
    if row is None:
        row = RepositoryHeartbeat(
            repository_id=repo.id, problems=[], unknown_pusher_pushes=0, remembered_reported=0
        )
        db.session.add(row)
    return row


def _alert(action: str, event: str, row: RepositoryHeartbeat, message: str, **facts: Any) -> None:
    """One alert: an audit record and a webhook event, with the same facts."""
    subject = {
        "repository": row.repository.name,
        "last_seen_at": _text(row.last_seen_at),
        "hook_version": row.hook_version,
        "layout": row.layout,
        **facts,
    }
    audit.append(action, actor=SYSTEM, subject=subject)
    notify.enqueue_event(event, {"repository": subject, "message": message})


def _text(moment: datetime | None) -> str | None:
    moment = _aware(moment)
    return utc_text(moment) if moment is not None else None


def record_heartbeat(beat: dict[str, Any], token: HookToken, actor: Actor) -> dict[str, Any]:
    """Note one heartbeat (caller commits). A repository that was overdue is back: recorded.
    A doctor report whose problems differ from the last one is recorded, and alerts when it
    lists any."""
    repo = repository_named(beat["repository"])
    row = _row(repo)
    row.repository = repo
    now = datetime.now(UTC)
    if row.overdue_since is not None:
        audit.append(
            "repository.heartbeat_resumed",
            actor=actor,
            subject={
                "repository": repo.name,
                "overdue_since": _text(row.overdue_since),
                "source": beat["source"],
            },
        )
        row.overdue_since = None
    row.last_seen_at = now
    row.source = beat["source"]
    row.hook_version = beat["hook_version"]
    row.layout = beat["layout"]
    row.token_id = token.id
    if beat["pusher_known"] is False:
        row.unknown_pusher_pushes = (row.unknown_pusher_pushes or 0) + 1
        row.unknown_pusher_at = now
    if beat["source"] == "doctor":
        problems = list(beat["problems"])
        if problems != list(row.problems or []):
            if problems:
                _alert(
                    "repository.doctor_problem",
                    "repository.problem",
                    row,
                    f"gate doctor reports {len(problems)} problem(s) with the hooks of "
                    f"{repo.name}: " + "; ".join(problems),
                    problems=problems,
                )
            else:
                audit.append(
                    "repository.doctor_healthy",
                    actor=actor,
                    subject={"repository": repo.name, "resolved": list(row.problems or [])},
                )
        row.problems = problems
        row.doctor_at = now
    if beat["remembered"] is None:
        return {"recorded": True}
    _check_memory(row, beat["remembered"], beat["source"])
    return {"recorded": True, "remembered_reported": row.remembered_reported or 0}


def memory_lost(row: RepositoryHeartbeat | None) -> bool:
    """Whether the host's provenance store last counted fewer commits than push reports named:
    it was lost or replaced, and the commits agents pushed there are no longer known."""
    return (
        row is not None
        and row.remembered_on_host is not None
        and row.remembered_on_host < (row.remembered_reported or 0)
    )


def _check_memory(row: RepositoryHeartbeat, on_host: int, source: str) -> None:
    """Note the host's count; alert once when it falls below what the server was told of."""
    was_lost = memory_lost(row)
    row.remembered_on_host = on_host
    if memory_lost(row) and not was_lost:
        reported = row.remembered_reported or 0
        _alert(
            "repository.provenance_lost",
            "repository.problem",
            row,
            f"the git host of {row.repository.name} remembers {on_host} commit(s) agent "
            f"accounts pushed, but push reports named {reported}: its GIT_DIR/gate/ was lost "
            "or replaced, so a human's push of those commits is not held as an agent's; "
            "restore it and run `gate doctor` on the git host",
            remembered_on_host=on_host,
            remembered_reported=reported,
            source=source,
        )


def count_reported_memory(repository: str, remembered: int) -> None:
    """Add the commits one push report named as remembered (pushes.record_push)."""
    if not remembered:
        return
    repo = repository_named(repository)
    row = _row(repo)
    row.repository = repo
    # Stops at MAX_COUNT: the column is 32 bits, and no store holds a billion commits.
    row.remembered_reported = min((row.remembered_reported or 0) + remembered, MAX_COUNT)


def check_overdue(now: datetime | None = None) -> list[str]:
    """Raise the overdue alert, once, for each repository quiet for too long (caller commits);
    the names alerted now. A repository the server knows from holds but that never sent a
    heartbeat counts from when it was first seen."""
    now = now or datetime.now(UTC)
    limit = overdue_after()
    alerted = []
    for repo, row in _repositories():
        seen = _aware(row.last_seen_at if row is not None else None) or _aware(repo.created_at)
        if seen is None or now - seen <= limit:
            continue
        if row is not None and row.overdue_since is not None:
            continue
        row = row or _row(repo)
        row.repository = repo
        row.overdue_since = now
        quiet = now - seen
        _alert(
            "repository.heartbeat_overdue",
            "repository.heartbeat_overdue",
            row,
            f"the hooks of {repo.name} have sent no heartbeat for {_duration(quiet)} "
            f"(since {utc_text(seen)}): gate may no longer be guarding it; run `gate doctor` "
            "on the git host",
            quiet_seconds=int(quiet.total_seconds()),
        )
        alerted.append(repo.name)
    return alerted


def _repositories() -> list[tuple[Repository, RepositoryHeartbeat | None]]:
    rows = db.session.execute(
        select(Repository, RepositoryHeartbeat)
        .outerjoin(RepositoryHeartbeat, RepositoryHeartbeat.repository_id == Repository.id)
        .order_by(Repository.name)
    )
    return [(repo, row) for repo, row in rows]


def _duration(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours // 24} days {hours % 24} hours" if hours >= 48 else f"{hours} hours"


@dataclass(frozen=True)
class RepositoryHealth:
    name: str
    state: str  # ok | overdue | problem | never
    last_seen_at: datetime | None
    source: str | None
    hook_version: str | None
    layout: str | None
    problems: list[str]
    unknown_pusher_pushes: int
    unknown_pusher_at: datetime | None
    unsigned: int  # agent commits found landed without sign-off
    memory_lost: bool = False  # the host's provenance store counts fewer than were reported


def repository_health(now: datetime | None = None) -> list[RepositoryHealth]:
    """Every repository the server knows, with its hooks' last heartbeat and state."""
    from gate.server.services.landings import unsigned_counts

    now = now or datetime.now(UTC)
    limit = overdue_after()
    unsigned = unsigned_counts()
    health = []
    for repo, row in _repositories():
        seen = _aware(row.last_seen_at) if row is not None else None
        problems = list(row.problems or []) if row is not None else []
        if memory_lost(row) and row is not None:
            problems.append(
                f"the host's provenance store counts {row.remembered_on_host} commit(s), push "
                f"reports named {row.remembered_reported}: GIT_DIR/gate/ was lost or replaced"
            )
        since = seen or _aware(repo.created_at)
        if problems:
            state = "problem"
        elif (row is not None and row.overdue_since is not None) or (
            since is not None and now - since > limit
        ):
            state = "overdue"  # an alert raised stays until the next heartbeat
        else:
            state = "ok" if seen is not None else "never"
        health.append(
            RepositoryHealth(
                name=repo.name,
                state=state,
                last_seen_at=seen,
                source=row.source if row else None,
                hook_version=row.hook_version if row else None,
                layout=row.layout if row else None,
                problems=problems,
                unknown_pusher_pushes=row.unknown_pusher_pushes if row else 0,
                unknown_pusher_at=_aware(row.unknown_pusher_at) if row else None,
                unsigned=unsigned.get(repo.name, 0),
                memory_lost=memory_lost(row),
            )
        )
    return health


def banner(now: datetime | None = None) -> str | None:
    """One line for the admins' banner, or None when every repository's hooks are fine."""
    health = repository_health(now)
    overdue = [h.name for h in health if h.state == "overdue"]
    problems = [h.name for h in health if h.state == "problem" and not h.memory_lost]
    lost = [h.name for h in health if h.memory_lost]
    parts = []
    if lost:
        parts.append(
            f"the git host lost gate's memory of agent-pushed commits of {', '.join(lost)}"
        )
    if overdue:
        parts.append(f"no heartbeat within {_duration(overdue_after())} from {', '.join(overdue)}")
    if problems:
        parts.append(f"gate doctor reports problems in {', '.join(problems)}")
    if not parts:
        return None
    return "REPOSITORY ALERT: " + "; ".join(parts) + ". gate may not be guarding them."
