"""Nothing slips through unnoticed: agent commits on guarded paths that reach a protected ref
with no approval are found (by post-receive for each push, by `gate reconcile` for the whole
history), recorded once as "landed without sign-off", and shown on the disclosure report."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gate.git.install import install_hook
from tests.support.audit import audit_records, wait_for_push_reports
from tests.support.cli import GATE, run_gate
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, add_reviewer, eventually, request_id_from

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True}  # the receiver is on 127.0.0.1


HOST_HOOK = "#!/bin/sh\n# the host's own hook, as its resync writes it\nexit 0\n"


def unsigned(server: LiveServer) -> list[dict[str, Any]]:
    return [
        r["subject"]
        for r in audit_records(server.app)
        if r["action"] == "commit.landed_without_signoff"
    ]


def reconcile(gated: GatedRepo) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REMOTE_USER"}
    return subprocess.run(
        [GATE, "reconcile", str(gated.bare)], capture_output=True, text=True, env=env
    )


def approved_agent_commit(gated: GatedRepo, server: LiveServer) -> str:
    """An agent commit to train/ held, approved by alice, then landed: a proper sign-off."""
    clone = gated.clone()
    sha = clone.commit("Approved tune", {"train/ok.py": "x = 1\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "fine").ok
    assert clone.push().ok
    return sha


def test_post_receive_reports_an_agent_commit_that_bypassed_pre_receive(
    gated: GatedRepo, server: LiveServer
) -> None:
    import json

    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.notify import add_webhook
    from tests.support.receiver import Receiver

    add_reviewer(server.app, "root", role="admin")
    receiver = Receiver()
    with command(server.app):
        add_webhook(receiver.url, "json", ["commit.landed_without_signoff"], actor=Actor.cli())
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    approved = approved_agent_commit(gated, server)
    clone.run("pull", "--quiet", "--ff-only")
    # A host dispatcher replaced gate's pre-receive (post-receive is still gate's).
    (gated.bare / "hooks" / "pre-receive").write_text(HOST_HOOK)
    sha = clone.commit(
        "Unreviewed tune", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER]
    )
    assert clone.push().ok and remote_ref(gated.bare) == sha

    wait_for_push_reports(server.app, 3)
    (found,) = eventually(lambda: unsigned(server), "the landed-without-sign-off record")
    assert found["commit"] == sha and found["source"] == "post-receive"
    assert found["guards"] == ["training"] and found["agents"] == ["Claude Code"]
    assert approved not in {u["commit"] for u in unsigned(server)}
    try:  # the alert reaches the admins' webhook
        eventually(lambda: receiver.received, "the alert at the webhook receiver")
    finally:
        receiver.close()
    ((_, raw),) = receiver.received
    alert = json.loads(raw)
    assert alert["event"] == "commit.landed_without_signoff"
    assert sha[:12] in alert["message"] and alert["repository"]["commit"] == sha

    root = server.reviewer("root")
    page = root.page("/metrics")
    assert page.ok and sha in page.text and "Landed without sign-off" in page.text
    assert "1 agent commits" in root.page("/admin/repositories").text


def test_reconcile_names_history_that_landed_while_gate_was_not_running(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    approved = approved_agent_commit(gated, server)
    clone.run("pull", "--quiet", "--ff-only")
    for name in ("pre-receive", "post-receive"):  # gate gone entirely: nothing reports
        (gated.bare / "hooks" / name).write_text(HOST_HOOK)
    sha = clone.commit("Unreviewed", {"train/loop.py": "steps = 9\n"}, trailers=[CLAUDE_TRAILER])
    clone.commit("human docs", {"docs/a.md": "a\n"})
    assert clone.push().ok
    for name in ("pre-receive", "post-receive"):
        (gated.bare / "hooks" / name).unlink()
    install_hook(
        str(gated.bare), gated.server_url, str(gated.token_file), str(gated.policy), name="repo"
    )
    assert unsigned(server) == []

    first = reconcile(gated)
    assert first.returncode == 1, first.stderr
    assert "2 agent commits on guarded paths; 1 landed without sign-off (1 recorded now)" in (
        first.stdout
    )
    assert f"  {sha} guards training; agents Claude Code" in first.stdout
    assert approved not in first.stdout
    (found,) = unsigned(server)
    assert found["commit"] == sha and found["source"] == "reconcile"

    again = reconcile(gated)
    assert again.returncode == 1 and "recorded now" not in again.stdout
    assert len(unsigned(server)) == 1, "recorded once"


def test_reconcile_of_a_clean_history_exits_0(gated: GatedRepo, server: LiveServer) -> None:
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    approved_agent_commit(gated, server)
    clean = reconcile(gated)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "1 agent commits on guarded paths; 0 landed without sign-off" in clean.stdout


def test_audit_verify_with_a_clone_names_what_has_no_approval_in_the_log(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    """Offline, from the bundle and a clone alone: the approved agent commit matches an
    approval in the verified log; the one that landed while gate was gone is named."""
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    approved = approved_agent_commit(gated, server)
    clone.run("pull", "--quiet", "--ff-only")
    key = Path(server.app.config["GATE_AUDIT_KEY_DIR"]) / "audit-ed25519.pub.pem"

    def verify(bundle: Path, checkout: Path) -> Any:
        return run_gate(
            server.app, "audit", "verify", str(bundle), "--public-key", str(key),
            "--repo", str(checkout), "--policy", str(gated.policy),
        )  # fmt: skip

    first = export(server, tmp_path / "before.zip")
    auditor = gated.clone()  # the auditor's own clone of the server's repository
    clean = verify(first, auditor.path)
    assert clean.exit_code == 0, clean.output
    assert "1 agent commits on guarded paths; each has a matching approval in the log" in (
        clean.stdout
    )

    for name in ("pre-receive", "post-receive"):
        (gated.bare / "hooks" / name).write_text(HOST_HOOK)
    sha = clone.commit("Unreviewed", {"train/loop.py": "steps = 9\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push().ok
    auditor.run("fetch", "--quiet")
    named = verify(export(server, tmp_path / "after.zip"), auditor.path)
    assert named.exit_code == 1, named.output
    assert "2 agent commits on guarded paths; 1 have no matching approval:" in named.stdout
    assert f"  {sha} guards training; agents Claude Code" in named.stdout
    assert approved not in named.stdout

    no_policy = run_gate(server.app, "audit", "verify", str(first), "--repo", str(auditor.path))
    assert no_policy.exit_code == 1 and "--repo needs --policy FILE" in no_policy.stderr


def export(server: LiveServer, bundle: Path) -> Path:
    made = run_gate(server.app, "audit", "export", "--format", "bundle", "--out", str(bundle))
    assert made.exit_code == 0, made.output
    return bundle
