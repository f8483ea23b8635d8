"""Token scopes with real pushes: one git host cannot supersede another's requests, a hook token
speaks only for its repositories (holds and forged push reports alike), and a hook whose token
does not cover its repository refuses the push saying so."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from gate import wire
from tests.server.test_api_wire import push_report
from tests.support.audit import audit_records, wait_for_push_reports
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.server import (
    GatedRepo,
    LiveServer,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
    request_state,
)

pytestmark = pytest.mark.e2e


def state(server: LiveServer, request_id: int) -> dict[str, object]:
    return request_state(server.app, request_id)


def host_repo(server: LiveServer, tmp: Path, host: str) -> GatedRepo:
    """A bare repository named "models" on git host ``host``, with its own hook token."""
    return make_gated_repo(tmp / host, server.url, new_token(server.app, "models", host=host),
                           name="models")  # fmt: skip


def test_a_push_through_one_host_never_supersedes_another_hosts_request(
    server: LiveServer, tmp_path: Path
) -> None:
    for name in ("alice", "bob"):
        add_reviewer(server.app, name)
    host_y = host_repo(server, tmp_path, "host-y")
    host_x = host_repo(server, tmp_path, "host-x")

    on_y = host_y.clone()
    on_y.commit("agent on y", {"model/net.py": "layers = 4\n"}, trailers=[CLAUDE_TRAILER])
    held_y = request_id_from(on_y.push(pusher="agent-x").gate_lines)
    assert server.reviewer("alice").decide(held_y, "approve", "looks right").ok
    assert state(server, held_y)["approvals"] == {"model": {"given": 1, "needed": 2}}

    # The same pusher name, repository and ref, through host X: its own request, and host Y's
    # request keeps its state and alice's approval.
    on_x = host_x.clone()
    on_x.commit("agent on x", {"model/net.py": "layers = 8\n"}, trailers=[CLAUDE_TRAILER])
    held_x = request_id_from(on_x.push(pusher="agent-x").gate_lines)
    assert held_x != held_y
    kept = state(server, held_y)
    assert kept["state"] == "pending" and kept["superseded_by"] is None
    assert kept["approvals"] == {"model": {"given": 1, "needed": 2}}
    assert not [r for r in audit_records(server.app) if r["action"] == "request.superseded"]

    # Through host Y itself, a newer push by the same pusher still supersedes as before.
    on_y.commit("agent on y again", {"model/net.py": "layers = 5\n"}, trailers=[CLAUDE_TRAILER])
    newer = request_id_from(on_y.push(pusher="agent-x").gate_lines)
    replaced = state(server, held_y)
    assert replaced["state"] == "superseded" and replaced["superseded_by"] == newer
    assert state(server, held_x)["state"] == "pending", "host X's request is not host Y's to end"
    (superseded,) = [r for r in audit_records(server.app) if r["action"] == "request.superseded"]
    assert superseded["subject"]["request"] == held_y
    assert superseded["subject"]["approvals_discarded"] == ["alice"]
    assert superseded["subject"]["host"] == "host-y"
    held = {r["subject"]["request"]: r["subject"]["host"] for r in audit_records(server.app)
            if r["action"] == "request.held"}  # fmt: skip
    assert held == {held_y: "host-y", held_x: "host-x", newer: "host-y"}


def test_only_the_same_pusher_on_the_same_ref_supersedes(
    server: LiveServer, tmp_path: Path
) -> None:
    """Through one git host: another pusher's push to the ref, the same pusher's push to
    another ref, and a push with no authenticated pusher each get a request of their own; the
    pending request keeps its approval."""
    for name in ("alice", "bob"):
        add_reviewer(server.app, name)
    gated = host_repo(server, tmp_path, "host-y")
    seed = gated.clone()
    seed.commit("seed", {"README.md": "x\n"})
    assert seed.push().ok

    def pushed(files: dict[str, str], ref: str, pusher: str | None) -> int:
        clone = gated.clone()
        clone.commit("agent change", files, trailers=[CLAUDE_TRAILER])
        return request_id_from(clone.push(f"HEAD:{ref}", pusher).gate_lines)

    first = pushed({"model/net.py": "layers = 4\n"}, "refs/heads/main", "agent-a")
    assert server.reviewer("alice").decide(first, "approve", "one of two").ok
    others = [
        pushed({"model/net.py": "layers = 5\n"}, "refs/heads/main", "agent-b"),
        pushed({"model/net.py": "layers = 6\n"}, "refs/heads/release/1", "agent-a"),
        pushed({"model/net.py": "layers = 7\n"}, "refs/heads/main", None),
    ]
    assert len({first, *others}) == 4
    kept = state(server, first)
    assert kept["state"] == "pending" and kept["superseded_by"] is None
    assert kept["approvals"] == {"model": {"given": 1, "needed": 2}}
    assert all(state(server, other)["state"] == "pending" for other in others)
    assert not [r for r in audit_records(server.app) if r["action"] == "request.superseded"]


def test_a_forged_push_report_outside_the_tokens_scope_is_refused(
    server: LiveServer, tmp_path: Path
) -> None:
    gated = host_repo(server, tmp_path, "host-x")
    clone = gated.clone()
    clone.commit("human", {"README.md": "hello\n"})
    assert clone.push(pusher="dana").ok
    (landed,) = wait_for_push_reports(server.app, 1)
    assert landed["subject"]["repository"] == "models"

    token = gated.token_file.read_text().strip()
    forged = requests.post(
        f"{server.url}{wire.PUSHES_PATH}",
        json=push_report("f" * 32, repository="finance/ledger"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"]["code"] == wire.OUT_OF_SCOPE
    assert "does not speak for repository 'finance/ledger'" in forged.json()["error"]["message"]
    records = audit_records(server.app)
    assert [r for r in records if r["action"] == "push.accepted"] == [landed]
    (refusal,) = [r for r in records if r["action"] == "token.refused"]
    assert refusal["subject"]["target"] == "finance/ledger"
    assert refusal["subject"]["action"] == "report"


def test_a_hook_whose_token_does_not_cover_its_repository_refuses_agent_pushes(
    server: LiveServer, tmp_path: Path
) -> None:
    gated = make_gated_repo(tmp_path, server.url, new_token(server.app, "ml/*", host="host-x"),
                            name="models")  # fmt: skip
    clone = gated.clone()
    clone.commit("human", {"README.md": "hello\n"})
    assert clone.push().ok, "a push that holds nothing never asks the server"
    clone.commit("agent", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    refused = clone.push(pusher="agent-x")
    assert not refused.ok
    said = "\n".join(refused.gate_lines)
    assert "HTTP 403" in said and "does not speak for repository 'models'" in said, said
    assert "Traceback" not in refused.stderr
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with server.app.app_context():  # type: ignore[attr-defined]
        assert db.session.query(ApprovalRequest).count() == 0


def test_the_hooks_client_asks_whether_its_token_covers_its_repository(
    server: LiveServer, tmp_path: Path
) -> None:
    """What ``gate doctor`` can call: the installed hook's own config and token, no hold made."""
    from gate.git.client import token_scope
    from gate.git.config import load_hook_config

    gated = make_gated_repo(tmp_path, server.url, new_token(server.app, "ml/*", host="host-x"),
                            name="ml/vision")  # fmt: skip
    config = load_hook_config(gated.bare)
    assert token_scope(config, config.repository)["covers"] is True
    assert token_scope(config, "models") == {**token_scope(config, "ml/x"), "covers": False}
    assert not [r for r in audit_records(server.app) if r["action"].startswith("request.")]
