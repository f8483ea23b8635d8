"""Every answer to a hold and to a heartbeat hands the git host the server's latest signed audit
checkpoint, and the hook keeps each new one in the repository ($GIT_DIR/gate-checkpoints/).
With real pushes: after a hold the repository holds the checkpoint, exactly as the public feed
serves it; when the server's database owner later cuts the audit log short (and deletes the
stored checkpoints and the signer's memory, so the server alone would sign the shorter log),
`gate audit verify --checkpoint <the git host's file>` names the truncation. A hook that cannot
write there still decides the push, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from gate.git.checkpoints import CHECKPOINT_DIR
from tests.audit.test_signed_head import export, forget_signed_head, verify
from tests.support.cli import run_gate
from tests.support.dbowner import as_database_owner
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, eventually, request_id_from

pytestmark = pytest.mark.e2e


def kept(gated: GatedRepo) -> list[Path]:
    return sorted((gated.bare / CHECKPOINT_DIR).glob("*.note"))


def feed_note(server: LiveServer, checkpoint_id: int) -> str:
    return requests.get(f"{server.url}/audit/checkpoints/{checkpoint_id}.note", timeout=30).text


def held_push(gated: GatedRepo):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok
    clone.commit("agent", {"train/loop.py": "x = 1\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert not result.ok
    return clone, result


def records_before_hold(app) -> int:  # type: ignore[no-untyped-def]
    from tests.support.audit import audit_records

    return min(r["seq"] for r in audit_records(app) if r["action"] == "request.held") - 1


def test_a_hold_leaves_the_checkpoint_with_the_git_host_and_it_catches_truncation(
    app, gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clone, first = held_push(gated)
    (note,) = kept(gated)  # signed on the server's first request, handed out with the answer
    checkpoint_id = int(note.name.split("-")[0])
    assert note.read_text() == feed_note(server, checkpoint_id)
    assert not any("could not keep" in line for line in first.gate_lines)

    # The server signs again (cron's `gate audit checkpoint`), over the hold's records; the
    # next push of the same commit brings that one to the git host too.
    assert run_gate(app, "audit", "checkpoint").exit_code == 0
    assert not clone.push().ok
    older, newer = kept(gated)
    assert older == note and newer.read_text() == feed_note(server, checkpoint_id + 1)
    assert not clone.push().ok and len(kept(gated)) == 2, "a checkpoint is kept once"

    # The database owner removes the hold from the log, and with it every trace the server
    # kept: the stored checkpoints and the signed head beside the key.
    as_database_owner(app, f"DELETE FROM audit_log WHERE seq > {records_before_hold(app)}")
    as_database_owner(app, "DELETE FROM audit_checkpoints")
    forget_signed_head(app)
    forged = export(app)
    assert verify(app, tmp_path, forged).exit_code == 0, "alone, the forgery verifies"
    result = verify(app, tmp_path, forged, *kept(gated))
    assert result.exit_code == 1
    assert f"{newer}: TRUNCATED" in result.stdout, result.stdout
    assert f"{older}: TRUNCATED" not in result.stdout, "the older one is within the forgery"


def test_a_heartbeat_brings_the_checkpoint_after_a_push_nothing_held(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = gated.clone()
    clone.commit("human", {"train/loop.py": "x = 1\n"})
    assert clone.push().ok  # no hold: only the post-receive worker talks to the server
    (note,) = eventually(lambda: kept(gated), "the heartbeat's checkpoint in the repository", 60)
    assert note.read_text() == feed_note(server, int(note.name.split("-")[0]))


def test_a_hook_that_cannot_keep_it_still_decides_and_says_so(
    gated: GatedRepo, server: LiveServer
) -> None:
    (gated.bare / "gate-checkpoints").write_text(
        "in the way\n"
    )  # a file where the directory would go
    clone, result = held_push(gated)
    assert "need sign-off by a named human reviewer" in result.stderr
    (note,) = [line for line in result.gate_lines if "could not keep" in line]
    assert "audit checkpoint" in note and str(gated.bare / "gate-checkpoints") in note
    request_id = request_id_from(result.gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "fine").status_code == 200
    landed = clone.push()
    assert landed.ok and any("could not keep" in line for line in landed.gate_lines)
    assert remote_ref(gated.bare) == clone.head()
