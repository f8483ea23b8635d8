"""Pauses end to end: real pushes through the installed hook while admins pause and resume."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import run_gate
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import PASSWORD, GatedRepo, LiveServer, add_reviewer, request_id_from

pytestmark = pytest.mark.e2e


def seed(gated: GatedRepo):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit(
        "initial",
        {"README.md": "hello\n", "train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"},
    )
    assert clone.push().ok
    return clone


def pause(app, *args: str, by: str = "root", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return run_gate(app, "pause", *args, "--by", by, "--password-stdin", input=password + "\n")


@pytest.fixture
def admin(server: LiveServer) -> str:
    add_reviewer(server.app, "root", role="admin")
    return "root"


def audit_actions(app) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with app.app_context():
        return [
            (r.action, r.subject)
            for r in db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq))
        ]


def test_approved_agent_commit_is_refused_during_pause_and_passes_after(
    gated: GatedRepo, server: LiveServer, admin: str
) -> None:
    clone = seed(gated)
    sha = clone.commit("faster", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "fine").ok

    started = pause(server.app, "start", "--reason", "Board review of autonomous R&D")
    assert started.exit_code == 0, started.output
    assert "started pause 1 of all guards" in started.output

    refused = clone.push()
    assert not refused.ok
    text = "\n".join(refused.gate_lines)
    assert "PAUSED" in text and "Board review of autonomous R&D" in text
    assert "Root Reviewer <root@example.com>" in text and "pause 1" in text
    assert f"request {request_id} is approved, but" in text
    assert remote_ref(gated.bare) != sha

    human = gated.clone()
    human_sha = human.commit("human tweak", {"train/other.py": "x = 1\n"})
    assert human.push().ok, "human commits are not affected by a pause"
    assert remote_ref(gated.bare) == human_sha

    # A request created during the pause stays pending; an approval during it is recorded
    # but ineffective until the pause ends.
    clone.run("pull", "-q", "--rebase", "origin", "main")
    sha = clone.head()
    later = clone.commit("more", {"train/loop.py": "steps = 4\n"}, trailers=[CLAUDE_TRAILER])
    during = clone.push()
    assert not during.ok and "PAUSED" in "\n".join(during.gate_lines)
    new_request = request_id_from(during.gate_lines)
    assert new_request != request_id
    assert "pending" in "\n".join(during.gate_lines)

    stopped = pause(server.app, "stop")
    assert stopped.exit_code == 0, stopped.output
    assert "stopped pause 1" in stopped.output

    still = clone.push()
    assert not still.ok, "the request made during the pause still needs its sign-off"
    assert "waiting for approval" in "\n".join(still.gate_lines)
    assert server.reviewer("alice").decide(new_request, "approve", "ok now").ok
    final = clone.push()
    assert final.ok, final.stderr
    assert remote_ref(gated.bare) == later
    del sha

    actions = audit_actions(server.app)
    names = [a for a, _ in actions]
    assert names.count("pause.started") == 1 and names.count("pause.stopped") == 1
    started_subject = next(s for a, s in actions if a == "pause.started")
    assert started_subject["scope"] == ["all"] and started_subject["by"] == "root"
    assert started_subject["reason"] == "Board review of autonomous R&D"
    refused_records = [s for a, s in actions if a == "push.refused"]
    assert len(refused_records) == 2 and all(s["pauses"] == [1] for s in refused_records)


def test_scoped_pause_only_affects_its_guards(
    gated: GatedRepo, server: LiveServer, admin: str
) -> None:
    clone = seed(gated)
    clone.commit("wider", {"model/net.py": "layers = 2\n"}, trailers=[CLAUDE_TRAILER])
    model_request = request_id_from(clone.push().gate_lines)
    for name in ("alice", "bob"):
        assert server.reviewer(name).decide(model_request, "approve", "ok").ok

    started = pause(server.app, "start", "--reason", "training freeze", "--scope", "training")
    assert started.exit_code == 0, started.output

    model_push = clone.push()
    assert model_push.ok, "a pause of 'training' does not hold back an approved model change"

    clone.commit("train more", {"train/loop.py": "steps = 5\n"}, trailers=[CLAUDE_TRAILER])
    train_push = clone.push()
    assert not train_push.ok
    text = "\n".join(train_push.gate_lines)
    assert "PAUSED" in text and "guard training" in text and "training freeze" in text


def test_pause_commands_refuse_bad_input_clearly(
    gated: GatedRepo, server: LiveServer, admin: str
) -> None:
    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 3\n"}, trailers=[CLAUDE_TRAILER])
    assert not clone.push().ok  # the server now knows the policy's guards
    wrong = pause(server.app, "start", "--reason", "x", password="not the password")
    assert wrong.exit_code == 1 and "wrong username or password" in wrong.output
    not_admin = pause(server.app, "start", "--reason", "x", by="alice")
    assert not_admin.exit_code == 1 and "alice is not an admin" in not_admin.output
    bad_scope = pause(server.app, "start", "--reason", "x", "--scope", "nonsense")
    assert bad_scope.exit_code == 1
    assert "unknown guard(s) in scope: nonsense" in bad_scope.output
    assert "model, training" in bad_scope.output
    bad_until = pause(server.app, "start", "--reason", "x", "--until", "next tuesday")
    assert bad_until.exit_code == 1 and "cannot read 'next tuesday' as a time" in bad_until.output
    past = pause(server.app, "start", "--reason", "x", "--until", "2001-01-01")
    assert past.exit_code == 1 and "is not in the future" in past.output
    nothing = pause(server.app, "stop")
    assert nothing.exit_code == 1 and "no pause is in force" in nothing.output
    assert "Traceback" not in "".join(
        r.output for r in (wrong, not_admin, bad_scope, bad_until, past, nothing)
    )


def test_pause_window_is_proven_from_the_export_and_a_doctored_export_fails(
    gated: GatedRepo, server: LiveServer, admin: str, tmp_path: Path
) -> None:
    from gate.audit.verify import canonical_json, record_hash

    clone = seed(gated)
    clone.commit("approved before", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    first = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(first, "approve", "ok").ok
    assert (
        pause(server.app, "start", "--reason", "audit week", "--scope", "training").exit_code == 0
    )
    assert not clone.push().ok
    assert not clone.push().ok
    other = gated.clone()
    other.commit("during", {"train/new.py": "x = 1\n"}, author=("Build Bot", "ci@bots.example.com"))
    assert not other.push().ok  # a new request, held during the pause
    assert pause(server.app, "stop").exit_code == 0
    assert clone.push().ok

    bundle = tmp_path / "audit.zip"
    made = run_gate(server.app, "audit", "export", "--format", "bundle", "--out", str(bundle))
    assert made.exit_code == 0, made.output
    verified = run_gate(server.app, "audit", "verify", str(bundle))
    assert verified.exit_code == 0, verified.output
    assert (
        "pause 1 of training by root: " in verified.output
        and "(stopped by root); 3 push(es) refused, 1 request(s) held, 1 pending at its end"
        in verified.output
        and verified.output.rstrip().splitlines()[-2].endswith("HELD")
    )
    with zipfile.ZipFile(bundle) as archive:
        report = archive.read("report.html").decode()
        lines = archive.read("records.jsonl").decode().splitlines()
    assert "Pauses (1)" in report and "audit week" in report

    # Doctor the export: claim the approved push was accepted inside the pause, with every
    # record hash and the chain recomputed so that only the pause proof can catch it.
    records = [json.loads(line) for line in lines]
    start = next(r["seq"] for r in records if r["action"] == "pause.started")
    allowed = next(r for r in records if r["action"] == "push.allowed" and r["seq"] > start)
    forged = dict(allowed, seq=start + 1, time=records[start]["time"])
    doctored = [*records[:start], forged, *(dict(r, seq=r["seq"] + 1) for r in records[start:])]
    prev = doctored[0]["prev_hash"]
    for record in doctored:
        record["prev_hash"] = prev
        record["hash"] = prev = record_hash(record)
    export = tmp_path / "doctored.jsonl"
    export.write_bytes(b"".join(canonical_json(r) + b"\n" for r in doctored))
    failed = run_gate(server.app, "audit", "verify", str(export))
    assert failed.exit_code == 1, failed.output
    first_problem = failed.output.splitlines()[0]
    assert first_problem.startswith(f"FAIL record seq {start + 1} ")
    assert "push.allowed for repo refs/heads/main (guards training) inside pause 1" in first_problem
    assert "VIOLATED at seq" in failed.output


def test_until_pause_ends_by_itself_and_the_end_is_audited(
    gated: GatedRepo, server: LiveServer, admin: str
) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    from gate.audit.verify import check_pauses
    from tests.support.audit import audit_records

    clone = seed(gated)
    sha = clone.commit("agent", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "ok").ok
    from sqlalchemy import select

    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.actor import Actor
    from gate.server.services.pauses import start_pause

    until = datetime.now(UTC) + timedelta(seconds=2)
    with command(server.app):  # in process: a CLI start-up could outlast two seconds
        root = db.session.scalar(select(User).where(User.username == "root"))
        start_pause(root, "short", ["all"], until, actor=Actor.cli_password(root))
    while datetime.now(UTC) <= until + timedelta(seconds=1):
        time.sleep(0.2)
    assert clone.push().ok, "the pause ended at its --until time"
    assert remote_ref(gated.bare) == sha
    records = audit_records(server.app)
    assert [r["action"] for r in records].count("pause.expired") == 1
    proof = check_pauses(records)
    assert proof.ok and proof.windows[0].end_kind in ("expired", "until")


def test_admins_pause_and_resume_in_the_web_app(
    gated: GatedRepo, server: LiveServer, admin: str
) -> None:
    from tests.support.reviewer import csrf_from

    clone = seed(gated)
    clone.commit("agent", {"model/net.py": "layers = 3\n"}, trailers=[CLAUDE_TRAILER])
    assert not clone.push().ok

    alice = server.reviewer("alice")
    assert alice.page("/admin/pause").status_code == 403, "reviewers cannot pause"

    root = server.reviewer("root")
    page = root.page("/admin/pause")
    assert page.ok and "No pause is in force" in page.text and "known: model, training" in page.text
    data = {
        "start-reason": "incident 42",
        "start-scope": "model",
        "start-until": "",
        "start-password": "wrong password!",
        "csrf_token": csrf_from(page.text),
    }
    wrong = root.http.post(f"{server.url}/admin/pause/start", data=data)
    assert wrong.status_code == 403 and "Wrong password" in wrong.text
    bad = root.http.post(
        f"{server.url}/admin/pause/start",
        data={**data, "start-password": PASSWORD, "start-until": "soonish"},
    )
    assert bad.status_code == 400 and "cannot read &#39;soonish&#39; as a time" in bad.text
    # A web form's errors speak of the form: no CLI flag (the message once said --until).
    past = root.http.post(
        f"{server.url}/admin/pause/start",
        data={**data, "start-password": PASSWORD, "start-until": "2020-01-01T00:00Z"},
    )
    (error,) = re.findall(r'<div class="flash flash-error"[^>]*>([^<]*)</div>', past.text)
    assert past.status_code >= 400 and "is not in the future" in error
    assert "--" not in error and "gate pause" not in error
    ok = root.http.post(
        f"{server.url}/admin/pause/start", data={**data, "start-password": PASSWORD}
    )
    assert ok.ok and "Pause 1 started" in ok.text and "incident 42" in ok.text

    refused = clone.push()
    assert not refused.ok and "incident 42" in "\n".join(refused.gate_lines)

    page = root.page("/admin/pause")
    stop = root.http.post(
        f"{server.url}/admin/pause/stop",
        data={"stop-pause_id": "1", "stop-password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert stop.ok and "Stopped pause 1" in stop.text and "No pause is in force" in stop.text
