"""What the hook tells the pusher: plain lines for people and for agents reading stderr."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gate.errors import GateError
from gate.git.classify import HeldCommit, Verdict
from gate.git.commits import Commit, display_path
from gate.git.config import HookConfig
from gate.git.plumbing import Git


def _signals_text(signals: list[Any]) -> str:
    return "; ".join(f"{s.kind} {s.evidence!r} ({s.agent})" for s in signals[:4]) + (
        f"; +{len(signals) - 4} more" if len(signals) > 4 else ""
    )


def _guards_text(guards: dict[str, list[str]]) -> str:
    parts = []
    for name, raw_paths in sorted(guards.items()):
        paths = [display_path(p) for p in raw_paths]
        shown = ", ".join(paths[:3]) + (f", +{len(paths) - 3} more" if len(paths) > 3 else "")
        parts.append(f"{name} ({shown})" if shown else name)
    return "; ".join(parts)


def _held_entries(verdict: Verdict) -> list[tuple[str, str, Any]]:
    """(key, headline, held) for every held item of a ref update, commits first."""
    entries: list[tuple[str, str, Any]] = [
        (h.key, f"{h.commit.id[:12]} {h.commit.summary[:60]!r}", h) for h in verdict.held_commits
    ]
    if verdict.held_change is not None:
        change = verdict.held_change
        entries.append((change.key, f"{verdict.update.ref}: {change.reason}", change))
    return entries


def request_url(config: HookConfig, request_id: int) -> str:
    return f"{config.server}/requests/{request_id}"


def refusal_lines(
    config: HookConfig, verdicts: list[Verdict], answers: list[dict[str, Any]]
) -> list[str]:
    pauses = {p["id"]: p for answer in answers for p in answer.get("pauses", [])}
    if pauses:
        lines = ["gate: push refused: agent changes to guarded paths are PAUSED by a gate admin."]
        lines.extend(pause_lines(pauses.values()))
    else:
        lines = [
            "gate: push refused: agent changes to guarded paths need sign-off by a named human reviewer."
        ]
    waiting: dict[int, str] = {}
    for verdict, answer in zip(verdicts, answers, strict=True):
        states = {item["key"]: item for item in answer["items"]}
        requests = {r["id"]: r for r in answer.get("requests", [])}
        lines.append(f"gate: {verdict.update.ref}:")
        for key, headline, held in _held_entries(verdict):
            item = states[key]
            request = requests.get(item["request_id"], {})
            lines.append(f"gate:   {headline}")
            lines.append(f"gate:     guard: {_guards_text(held.guards)}")
            lines.append(f"gate:     agent signals: {_signals_text(held.signals)}")
            url = request_url(config, item["request_id"])
            if item["state"] == "denied":
                for denial in request.get("denials", []):
                    lines.append(
                        f"gate:     DENIED in request {item['request_id']} by {denial['reviewer']}: "
                        f"{denial['comment']!r}"
                    )
                    lines += [f"gate:       {text}" for text in line_comment_lines(denial, key)]
                lines.append(f"gate:     {url}")
            elif item["state"] == "pending":
                progress = item.get("short") or request.get("progress", "")
                lines.append(
                    f"gate:     waiting for approval: request {item['request_id']} {progress}".rstrip()
                )
                lines.append(f"gate:     {url}")
                waiting[item["request_id"]] = url
            elif item["state"] == "paused":
                ids = ", ".join(str(i) for i in item.get("pauses", []))
                signed = request.get("state") == "approved"
                lines.append(
                    f"gate:     PAUSED (pause {ids}): request {item['request_id']} is "
                    + (
                        "approved, but "
                        if signed
                        else f"pending {request.get('progress', '')}, and "
                    )
                    + "no agent change to this guard is accepted until the pause ends"
                )
                lines.append(f"gate:     {url}")
    lines.append("gate:")
    if pauses:
        lines.append(
            "gate: Agents: stop pushing to these paths; push again once a gate admin ends the pause."
        )
    elif waiting:
        for request_id, url in sorted(waiting.items()):
            lines.append(f"gate: Approval request {request_id}: {url}")
        lines.append("gate: A reviewer signs off in the web app; then push the same commits again.")
        first = min(waiting)
        lines.append(
            f"gate: Agents: wait with `gate wait {first} --server {config.server} --token-file "
            "READ_TOKEN_FILE` (the agent account's own read token, never this hook's), then "
            "re-push; do not rewrite the commits (a changed commit needs a new sign-off)."
        )
    else:
        lines.append(
            "gate: Denied changes stay refused: revise them (new commits get a new request)."
        )
    return lines


SHOWN_COMMENTS = 20  # line comments shown per denial and commit; the page has them all


def line_comment_lines(denial: dict[str, Any], key: str | None = None) -> list[str]:
    """A denial's line comments, one line each (of commit ``key`` only, when given), as the
    wire's parser left them: terminal-safe (gate.wire.terminal_text)."""
    comments = [c for c in denial.get("comments", []) if key is None or c["key"] == key]
    shown = [
        f"{c['path']}:{c['line']} ({c['side']}) {c['key'][:12]}: {c['text']}"
        if key is None
        else f"{c['path']}:{c['line']} ({c['side']}): {c['text']}"
        for c in comments[:SHOWN_COMMENTS]
    ]
    if len(comments) > SHOWN_COMMENTS:
        shown.append(f"... and {len(comments) - SHOWN_COMMENTS} more line comments on the page")
    return shown


def pause_lines(pauses: Any) -> list[str]:
    lines = []
    for pause in pauses:
        scope = "all guards" if "all" in pause["scope"] else "guard " + ", ".join(pause["scope"])
        until = f", until {pause['until']}" if pause.get("until") else ", until an admin stops it"
        lines.append(
            f"gate:   pause {pause['id']} of {scope}, started {pause['started_at']} "
            f"by {pause['started_by']}{until}"
        )
        lines.append(f"gate:     reason: {pause['reason']!r}")
    return lines


def signed_off_lines(verdicts: list[Verdict], answers: list[dict[str, Any]]) -> list[str]:
    count = sum(len(answer["items"]) for answer in answers)
    ids = sorted({item["request_id"] for answer in answers for item in answer["items"]})
    return [
        f"gate: {count} agent change(s) to guarded paths signed off (request {', '.join(map(str, ids))})."
    ]


# Held items named when the server is down; more would drown the reason for the refusal.
SHOWN_WITHOUT_SERVER = 20


def shown_identities(git: Git, verdicts: list[Verdict]) -> dict[str, str]:
    """The held commits' authors and committers as the repository's ``.mailmap`` shows them.

    For display only: detection reads the identities stored in the commits, since anyone who
    can push can push a ``.mailmap``. If git cannot map them, they are shown as stored.
    """
    people = [
        str(person)
        for verdict in verdicts
        for held in verdict.held_commits
        for person in (held.commit.author, held.commit.committer)
    ]
    try:
        return git.mailmap(people)
    except GateError:
        return {}


def identity_text(commit: Commit, shown: Mapping[str, str]) -> str:
    """The identities shown for a commit: its author, and its committer when someone else."""
    author = shown.get(str(commit.author), str(commit.author))
    committer = shown.get(str(commit.committer), str(commit.committer))
    return f"author {author}" + (f", committer {committer}" if committer != author else "")


def server_down_lines(
    config: HookConfig,
    verdicts: list[Verdict],
    reason: str,
    shown: Mapping[str, str],
    advice: list[str] | None = None,
) -> list[str]:
    """The refusal when gate cannot ask its server: what is held, so the pusher knows what
    needs sign-off even so (``shown``: identities as displayed, see shown_identities);
    ``advice``: what to do, when it is not the server being down."""
    count = sum(len(v.held_commits) + (v.held_change is not None) for v in verdicts)
    lines = [
        f"gate: push refused: {reason}.",
        f"gate: This push holds {count} agent change(s) to guarded paths, which need sign-off:",
    ]
    listed = 0
    for verdict in verdicts:
        lines.append(f"gate: {verdict.update.ref}:")
        for _, headline, held in _held_entries(verdict):
            if listed == SHOWN_WITHOUT_SERVER:
                break
            listed += 1
            lines.append(f"gate:   {headline}")
            if isinstance(held, HeldCommit):
                lines.append(f"gate:     {identity_text(held.commit, shown)}")
            lines.append(f"gate:     guard: {_guards_text(held.guards)}")
            lines.append(f"gate:     agent signals: {_signals_text(held.signals)}")
    if listed < count:
        lines.append(f"gate:   ... and {count - listed} more")
    lines += advice or [
        "gate: gate fails closed when it cannot check them. Nothing was changed.",
        "gate: Try again later; if it persists, ask your gate admin to check the gate server.",
    ]
    return lines
