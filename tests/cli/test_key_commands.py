"""`gate key add/revoke/list`, run as real processes on real keys (ssh-keygen, gpg): the
fingerprints are the tools' own, bad input is one line, every change is an audit record that
carries the public key, and the hooks read the registry from GET /api/v1/keys."""

from __future__ import annotations

from pathlib import Path

import requests

from gate import wire
from tests.support.audit import audit_records
from tests.support.cli import run_gate
from tests.support.server import LiveServer, add_agent, add_reviewer, new_token
from tests.support.signing import gpg_key, ssh_key, stop_gpg_agent


def refused(result, text: str) -> bool:  # type: ignore[no-untyped-def]
    lines = result.stderr.strip().splitlines()
    return result.exit_code != 0 and len(lines) == 1 and text in lines[0] and not result.stdout


def test_key_commands(server: LiveServer, tmp_path: Path) -> None:
    app = server.app
    add_reviewer(app, "alice")
    add_agent(app, "agent-trainer", operator="alice")
    human = ssh_key(tmp_path, "alice")
    agent = ssh_key(tmp_path, "trainer")
    pgp = gpg_key(tmp_path, "Alice Reviewer", "alice@example.com")
    try:
        added = run_gate(app, "key", "add", "alice", "--ssh", str(human.public))
        assert added.exit_code == 0, added.output
        assert f"ssh-ed25519 key {human.fingerprint} for human alice" in added.stdout
        added = run_gate(app, "key", "add", "agent-trainer", "--ssh", str(agent.public))
        assert f"{agent.fingerprint} for agent agent-trainer" in added.stdout
        added = run_gate(app, "key", "add", "alice", "--gpg", str(pgp.armored))
        assert added.exit_code == 0, added.output
        assert pgp.fingerprint in added.stdout  # gpg's own fingerprint of the primary key
    finally:
        stop_gpg_agent(pgp)

    assert refused(run_gate(app, "key", "add", "alice", "--ssh", str(human.public)), "already")
    assert refused(run_gate(app, "key", "add", "nobody", "--ssh", str(human.public)), "nobody")
    assert refused(run_gate(app, "key", "add", "alice", "--ssh", str(human.private)), ".pub")
    assert refused(run_gate(app, "key", "add", "alice", "--gpg", str(human.public)), "armored")
    assert refused(run_gate(app, "key", "add", "alice"), "exactly one of --ssh")
    assert refused(run_gate(app, "key", "add", "alice", "--ssh", str(tmp_path / "none")), "none")
    assert refused(run_gate(app, "key", "revoke", "SHA256:nope"), "no registered key")
    assert refused(
        run_gate(app, "key", "revoke", human.fingerprint, "--from", "someday"), "cannot read"
    )

    revoked = run_gate(app, "key", "revoke", agent.fingerprint, "--from", "2026-01-02T03:04:05Z")
    assert revoked.exit_code == 0, revoked.output
    assert "from 2026-01-02T03:04:05Z" in revoked.stdout
    assert refused(run_gate(app, "key", "revoke", agent.fingerprint), "already revoked")
    listed = run_gate(app, "key", "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        [human.fingerprint, "alice", "human"],
        [agent.fingerprint, "agent-trainer", "agent"],
        [pgp.fingerprint, "alice", "human"],
    ]
    assert listed[1].endswith("revoked from 2026-01-02T03:04:05Z")

    records = [r for r in audit_records(app) if r["action"].startswith("key.")]
    assert [(r["action"], r["subject"]["fingerprint"]) for r in records] == [
        ("key.added", human.fingerprint),
        ("key.added", agent.fingerprint),
        ("key.added", pgp.fingerprint),
        ("key.revoked", agent.fingerprint),
    ]
    assert records[0]["subject"]["public_key"] == " ".join(human.public.read_text().split()[:2])
    assert records[0]["actor_auth"] == "cli"

    # The hooks' view: a hook token reads the registry, in the wire format the hook parses.
    answer = requests.get(
        f"{server.url}{wire.KEYS_PATH}",
        headers={"Authorization": f"Bearer {new_token(app)}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    registry = wire.parse_key_registry(answer.json())
    kinds = {k["fingerprint"]: (k["account_kind"], k["revoked_at"]) for k in registry["keys"]}
    assert kinds == {
        human.fingerprint: ("human", None),
        agent.fingerprint: ("agent", "2026-01-02T03:04:05Z"),
        pgp.fingerprint: ("human", None),
    }
