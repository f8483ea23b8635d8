"""Build a real audit history through the services (no git), and open/rewrite bundle zips."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from gate.server.content import verify_hold
from gate.server.database import command
from gate.server.models import HookToken, User
from gate.server.services.accounts import add_user, create_hook_token
from gate.server.services.actor import Actor
from gate.server.services.decisions import decide, get_request
from gate.server.services.holds import HoldReport, record_holds
from gate.wire import commit_item as commit_item_body
from gate.wire import parse_hold_request
from tests.support.objects import root_commit
from tests.support.reading import view_guarded_files

PASSWORD = "correct horse battery staple"
POLICY_SHA = "ab" * 32
AGENT = {"name": "Build Bot", "email": "ci@bots.example.com"}


def commit_item(n: int, guard: str, author: dict[str, str] = AGENT) -> dict[str, Any]:
    """A held root commit adding ``{guard}/file{n}.py``, as a hook sends it (its objects)."""
    path = f"{guard}/file{n}.py"
    key, objects = root_commit(
        {path: f"x = {n}\n".encode()}, f"{author['name']} <{author['email']}>", f"change {n}\n"
    )
    return commit_item_body(
        key, objects, [{"kind": "email", "evidence": author["email"]}], {guard: [path]}
    )


def report(
    items: list[dict[str, Any]], ref: str = "refs/heads/main", pusher: str | None = "agent-bot"
) -> HoldReport:
    sent = HoldReport(
        repository="repo",
        ref=ref,
        old="0" * 40,
        new=items[-1]["key"],
        pusher=pusher,
        policy_sha256=POLICY_SHA,
        approvals={"train": 1, "model": 2},
        items=items,
    )
    return verify_hold(parse_hold_request(sent.to_json()))  # as the API hands it to the service


def push(app, items: list[dict[str, Any]], pusher: str | None = "agent-bot") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the hook does: report the held items; answers their states (records push.allowed
    when all are approved)."""
    from gate.server.extensions import db

    with command(app):
        token = db.session.get(HookToken, 1)
        return record_holds(report(items, pusher=pusher), token)


def approve(app, request_id: int, username: str, verdict: str = "approve", comment: str = "ok"):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from gate.server.extensions import db

    with command(app):
        reviewer = db.session.scalar(select(User).where(User.username == username))
        # Approvals re-enter the password and tick the attestation, as the web form requires.
        step_up = {"password": PASSWORD, "attest": True} if verdict == "approve" else {}
        actor = Actor(username, "session-password")
        if verdict == "approve":
            view_guarded_files(get_request(request_id), reviewer)
        return decide(get_request(request_id), reviewer, verdict, comment, actor=actor, **step_up)


def build_history(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Reviewers, a token, an approved-and-landed train change, a two-approval model change,
    a denied change, and a pending change authored by reviewer dave."""
    with command(app):
        for name in ("alice", "bob", "carol", "dave"):
            add_user(
                name, f"{name.title()} Reviewer", f"{name}@example.com", PASSWORD, actor=Actor.cli()
            )
        create_hook_token("test-host", [], all_repositories=True, actor=Actor.cli())
    train = [commit_item(1, "train")]
    first = push(app, train)["items"][0]["request_id"]
    approve(app, first, "alice", comment="Looks right")
    assert push(app, train)["items"][0]["state"] == "approved"
    model = [commit_item(2, "model")]
    second = push(app, model)["items"][0]["request_id"]
    approve(app, second, "alice")
    approve(app, second, "bob", comment="Second pair of eyes")
    assert push(app, model)["items"][0]["state"] == "approved"
    denied = push(app, [commit_item(3, "train")])["items"][0]["request_id"]
    approve(app, denied, "carol", "deny", "Too many steps")
    daves = [commit_item(4, "train", {"name": "Dave", "email": "dave@example.com"})]
    pending = push(app, daves)["items"][0]["request_id"]
    return {"approved": [first, second], "denied": denied, "daves": pending, "daves_items": daves}


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()
