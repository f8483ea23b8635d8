"""Signing keys as identity, with real keys (ssh-keygen ed25519, gpg), commits signed by git
itself and real pushes through the installed hook to a live server: a commit signed by an agent
account's registered key is that agent's whatever its text says; a ``trust = "signed-humans"``
guard accepts without sign-off only commits validly signed by a registered, unrevoked human
key; the registry reaches the hook from GET /api/v1/keys, is kept on the git host and
refreshed, and fails closed when it cannot be had."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gate.git.signing import ALLOWED_SIGNERS, KEYS_FILE, KEYS_MAX_AGE, load_registry
from tests.support.audit import audit_records, wait_for_push_reports
from tests.support.gitrepo import HUMAN
from tests.support.server import (
    POLICY,
    GatedRepo,
    LiveServer,
    add_agent,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
)
from tests.support.signing import (
    GpgKey,
    SkKey,
    SshKey,
    forged_commit,
    gpg_key,
    signed_commit,
    sk_signed_commit,
    ssh_key,
    stop_gpg_agent,
)

pytestmark = pytest.mark.e2e

SIGNED_HUMANS = POLICY.replace(
    'paths = ["model/**"]\napprovals = 2\n',
    'paths = ["model/**"]\napprovals = 2\ntrust = "signed-humans"\n',
)
assert SIGNED_HUMANS != POLICY


def register(app, account: str, kind: str, path: Path):  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.signing_keys import add_key

    with command(app):
        return add_key(account, kind, path.read_text(), actor=Actor.cli()).fingerprint


def revoke(app, fingerprint: str) -> None:  # type: ignore[no-untyped-def]
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.signing_keys import revoke_key

    with command(app):
        revoke_key(fingerprint, actor=Actor.cli())


def gated_repo(server: LiveServer, tmp: Path, policy: str = POLICY) -> GatedRepo:
    for name in ("alice", "bob"):
        add_reviewer(server.app, name)
    return make_gated_repo(tmp / "git", server.url, new_token(server.app), policy=policy)


def test_a_commit_signed_by_an_agents_key_is_the_agents_whatever_its_text_says(
    server: LiveServer, tmp_path: Path
) -> None:
    repo = gated_repo(server, tmp_path)
    add_agent(server.app, "agent-trainer", operator="alice")
    agent_key = ssh_key(tmp_path / "keys", "trainer")
    fingerprint = register(server.app, "agent-trainer", "ssh", agent_key.public)
    assert fingerprint == agent_key.fingerprint  # the server's fingerprint is ssh-keygen's
    stranger = ssh_key(tmp_path / "keys", "stranger")

    clone = repo.clone()
    # A human-looking identity, no trailer, pushed by a human: only the signature tells.
    signed_commit(clone, "tune lr", {"train/lr.py": "lr = 0.1\n"}, agent_key, author=HUMAN)
    held = clone.push(pusher="dana")
    assert not held.ok, held.stderr
    text = "\n".join(held.gate_lines)
    assert fingerprint in text and "agent account agent-trainer" in text, text
    request_id_from(held.gate_lines)
    # The hook kept the registry it fetched, and the allowed-signers file built from it.
    assert (repo.bare / KEYS_FILE).exists()
    assert agent_key.public.read_text().split()[1] in (repo.bare / ALLOWED_SIGNERS).read_text()

    # The same change signed by a key nobody registered is judged by its text alone: human.
    other = repo.clone()
    signed_commit(other, "tune lr", {"train/lr.py": "lr = 0.2\n"}, stranger, author=HUMAN)
    assert other.push(pusher="dana").ok


def test_a_bad_or_revoked_signature_by_an_agents_key_is_still_the_agents(
    server: LiveServer, tmp_path: Path
) -> None:
    """docs/signing.md: a signature naming an agent's key counts even when it does not verify
    (git reports no fingerprint for a bad one: gate reads the key the signature names), and a
    revoked agent key still names its agent. Ordinary guard, human identity, human pusher."""
    repo = gated_repo(server, tmp_path)
    add_agent(server.app, "agent-trainer", operator="alice")
    agent_key = ssh_key(tmp_path / "keys", "trainer")
    fingerprint = register(server.app, "agent-trainer", "ssh", agent_key.public)
    clone = repo.clone()
    clone.commit("start", {"README": "start\n"})
    assert clone.push(pusher="dana").ok

    # The agent's signature kept over a changed message: git's verdict is B.
    signed_commit(clone, "tune lr", {"train/lr.py": "lr = 0.1\n"}, agent_key, author=HUMAN)
    forged = forged_commit(clone, "a human's change, honest")
    held = clone.push(pusher="dana")
    assert not held.ok, held.stderr
    text = "\n".join(held.gate_lines)
    assert forged[:12] in text, text
    assert f"signed by {fingerprint} (git's verdict B)" in text, text
    assert "agent account agent-trainer" in text, text
    clone.run("reset", "--quiet", "--hard", "origin/main")

    # A good signature by the agent's key after it was revoked: still the agent's.
    revoke(server.app, fingerprint)
    (repo.bare / KEYS_FILE).unlink()  # this test is about the verdict, not the refresh
    signed_commit(clone, "tune lr again", {"train/lr.py": "lr = 0.3\n"}, agent_key, author=HUMAN)
    revoked = clone.push(pusher="dana")
    assert not revoked.ok, revoked.stderr
    text = "\n".join(revoked.gate_lines)
    assert f"signed by {fingerprint} (good)" in text and "agent account agent-trainer" in text
    kept = load_registry(str(repo.bare))
    assert kept is not None and kept.keys[fingerprint].revoked_at is not None  # it knew


def human_keys(server: LiveServer, tmp_path: Path) -> tuple[SshKey, str]:
    key = ssh_key(tmp_path / "keys", "alice")
    return key, register(server.app, "alice", "ssh", key.public)


def test_a_signed_humans_guard_holds_what_no_registered_human_key_signed(
    server: LiveServer, tmp_path: Path
) -> None:
    repo = gated_repo(server, tmp_path, SIGNED_HUMANS)
    alice_key, alice_fp = human_keys(server, tmp_path)
    clone = repo.clone()
    clone.commit("start", {"README": "start\n"})
    assert clone.push(pusher="dana").ok

    # Unsigned, by a human, no marks at all: held, saying why.
    clone.commit("plain human change", {"model/net.py": "layers = 3\n"})
    held = clone.push(pusher="dana")
    assert not held.ok
    assert "not signed (guard model)" in "\n".join(held.gate_lines), held.gate_lines
    clone.run("reset", "--quiet", "--hard", "HEAD~1")

    # Signed by a registered human key: passes with no sign-off, and no request.
    signed_commit(clone, "human change", {"model/net.py": "layers = 4\n"}, alice_key)
    passed = clone.push(pusher="dana")
    assert passed.ok, passed.stderr
    # An unsigned commit elsewhere (an ordinary guard, no marks) still passes as before.
    clone.commit("docs", {"README": "hi\n"})
    assert clone.push(pusher="dana").ok
    clone.run("fetch", "--quiet")

    # Signed by a key nobody registered: held.
    stranger = ssh_key(tmp_path / "keys", "stranger")
    signed_commit(clone, "stranger", {"model/net.py": "layers = 5\n"}, stranger)
    refused = clone.push(pusher="dana")
    assert not refused.ok
    assert "a key not in gate's registry" in "\n".join(refused.gate_lines)
    clone.run("reset", "--quiet", "--hard", "HEAD~1")

    # A forged signature (alice's, over other bytes): held.
    signed_commit(clone, "real", {"model/net.py": "layers = 6\n"}, alice_key)
    forged_commit(clone, "forged message")
    forged = clone.push(pusher="dana")
    assert not forged.ok
    assert "a bad signature" in "\n".join(forged.gate_lines), forged.gate_lines
    clone.run("reset", "--quiet", "--hard", "origin/main")

    # Revoked: alice's key no longer counts (the hook's copy is refreshed after each push,
    # and the revocation was made before this one).
    revoke(server.app, alice_fp)
    (repo.bare / KEYS_FILE).unlink()  # the post-receive worker may not have run yet
    signed_commit(clone, "after revocation", {"model/net.py": "layers = 7\n"}, alice_key)
    revoked = clone.push(pusher="dana")
    assert not revoked.ok
    assert "a revoked key" in "\n".join(revoked.gate_lines), revoked.gate_lines


@pytest.fixture
def gpg_keys(tmp_path: Path) -> Iterator[Callable[[str, str], GpgKey]]:
    made: list[GpgKey] = []

    def make(name: str, email: str) -> GpgKey:
        made.append(gpg_key(tmp_path / "keys", name, email))
        return made[-1]

    yield make
    for key in made:
        stop_gpg_agent(key)


def test_a_signed_humans_guard_takes_a_registered_openpgp_key(
    server: LiveServer, tmp_path: Path, gpg_keys: Callable[[str, str], GpgKey]
) -> None:
    repo = gated_repo(server, tmp_path, SIGNED_HUMANS)
    key = gpg_keys("Bob Reviewer", "bob@example.com")
    assert register(server.app, "bob", "gpg", key.armored) == key.fingerprint
    clone = repo.clone()
    signed_commit(clone, "bob signs", {"model/net.py": "layers = 8\n"}, key)
    assert clone.push(pusher="bob").ok
    # An agent's OpenPGP key makes its commit an agent's.
    add_agent(server.app, "agent-pgp", operator="alice")
    agent = gpg_keys("Agent", "agent@example.com")
    register(server.app, "agent-pgp", "gpg", agent.armored)
    (repo.bare / KEYS_FILE).unlink()
    signed_commit(clone, "agent signs", {"train/x.py": "x = 1\n"}, agent)
    held = clone.push(pusher="bob")
    assert not held.ok and "agent account agent-pgp" in "\n".join(held.gate_lines)
    # Its OpenPGP signature over other bytes (git: B, no fingerprint, only the key id) too.
    forged_commit(clone, "nobody signed this")
    forged = clone.push(pusher="bob")
    text = "\n".join(forged.gate_lines)
    assert not forged.ok and "(git's verdict B)" in text and "agent account agent-pgp" in text


def test_without_the_registry_signature_decisions_fail_closed(
    server: LiveServer, tmp_path: Path
) -> None:
    for name in ("alice", "bob"):
        add_reviewer(server.app, name)
    key, _ = human_keys(server, tmp_path)
    # The hook's server is not there: it has no copy of the registry and cannot fetch one.
    repo = make_gated_repo(tmp_path / "git", "http://127.0.0.1:9", "gate_x", policy=SIGNED_HUMANS)
    clone = repo.clone()
    clone.commit("docs", {"README": "hi\n"})
    assert clone.push(pusher="dana").ok, "what needs no registry passes"
    signed_commit(clone, "signed", {"model/net.py": "layers = 4\n"}, key)
    refused = clone.push(pusher="dana")
    assert not refused.ok
    text = "\n".join(refused.gate_lines)
    assert "signing-key registry" in text and "could not fetch it" in text, text


def _backdate_kept_registry(bare: Path, seconds: float) -> None:
    path = bare / KEYS_FILE
    kept = json.loads(path.read_text())
    kept["fetched_at"] -= seconds
    path.write_text(json.dumps(kept))


def test_the_kept_registry_stands_in_for_the_server_and_is_refreshed(
    server: LiveServer, tmp_path: Path
) -> None:
    """The hook's copy of the registry (gate-keys) decides while it is at most KEYS_MAX_AGE old,
    even with the server down; an older one is fetched again (refused when it cannot be), and
    the post-receive worker refreshes it after a push. The file is never deleted by hand."""
    from gate.git.config import CONFIG_NAME

    repo = gated_repo(server, tmp_path, SIGNED_HUMANS)
    alice_key, alice_fp = human_keys(server, tmp_path)
    config = repo.bare / CONFIG_NAME
    live = config.read_text()
    down = live.replace(repo.server_url, "http://127.0.0.1:9")
    assert down != live
    clone = repo.clone()

    signed_commit(clone, "alice 1", {"model/net.py": "layers = 1\n"}, alice_key)
    assert clone.push(pusher="dana").ok
    wait_for_push_reports(server.app, 1)  # its worker is done with the copy

    # The server is down: the fresh copy decides alone.
    config.write_text(down)
    signed_commit(clone, "alice 2", {"model/net.py": "layers = 2\n"}, alice_key)
    from_copy = clone.push(pusher="dana")
    assert from_copy.ok, from_copy.stderr

    # The same copy, older than KEYS_MAX_AGE: not trusted, and the server cannot be asked.
    _backdate_kept_registry(repo.bare, KEYS_MAX_AGE + 100)
    signed_commit(clone, "alice 3", {"model/net.py": "layers = 3\n"}, alice_key)
    stale = clone.push(pusher="dana")
    assert not stale.ok
    text = "\n".join(stale.gate_lines)
    age = re.search(r"its copy is (\d+) s old \(at most 300 s\) and could not fetch it", text)
    assert age is not None and KEYS_MAX_AGE + 100 <= int(age.group(1)) < KEYS_MAX_AGE + 160, text
    clone.run("reset", "--quiet", "--hard", "origin/main")

    # The server is back and alice's key revoked; the stale copy still says it is good. The
    # hook fetches the registry again, keeps it, and holds the commit.
    config.write_text(live)
    revoke(server.app, alice_fp)
    signed_commit(clone, "alice 4", {"model/net.py": "layers = 4\n"}, alice_key)
    revoked = clone.push(pusher="dana")
    assert not revoked.ok
    assert "a revoked key" in "\n".join(revoked.gate_lines), revoked.gate_lines
    kept = load_registry(str(repo.bare))
    assert kept is not None and kept.age() < 60 and kept.keys[alice_fp].revoked_at is not None
    clone.run("reset", "--quiet", "--hard", "origin/main")

    # A key added now reaches the copy through the post-receive worker of the next push (one
    # that needs no registry), well before the copy's KEYS_MAX_AGE runs out.
    bob_key = ssh_key(tmp_path / "keys", "bob")
    bob_fp = register(server.app, "bob", "ssh", bob_key.public)
    assert bob_fp not in kept.keys
    clone.commit("docs", {"README": "hi\n"})
    assert clone.push(pusher="dana").ok
    deadline = time.monotonic() + 30
    while (kept := load_registry(str(repo.bare))) is None or bob_fp not in kept.keys:
        assert time.monotonic() < deadline, "the post-receive worker did not refresh gate-keys"
        time.sleep(0.1)
    config.write_text(down)  # and with the server gone, the refreshed copy decides
    signed_commit(clone, "bob", {"model/net.py": "layers = 5\n"}, bob_key)
    assert clone.push(pusher="dana").ok


def test_the_audit_bundle_proves_each_signed_acceptance_offline(
    server: LiveServer, tmp_path: Path
) -> None:
    from gate.audit import verify

    repo = gated_repo(server, tmp_path, SIGNED_HUMANS)
    key, fingerprint = human_keys(server, tmp_path)
    clone = repo.clone()
    commit = signed_commit(clone, "human change", {"model/net.py": "layers = 4\n"}, key)
    assert clone.push(pusher="dana").ok
    wait_for_push_reports(server.app, 1)
    (accepted,) = [r for r in audit_records(server.app) if r["action"] == "push.accepted"]
    (signed,) = accepted["subject"]["signed"]
    assert (signed["id"], signed["fingerprint"], signed["account"]) == (
        commit,
        fingerprint,
        "alice",
    )

    report = verify.verify_bundle(export_bundle(server))
    assert report.ok, report.problems
    assert report.signed_checked == 1
    assert any(f"signed by alice's key {fingerprint} (signature verified offline)" in n
               for n in report.notes)  # fmt: skip

    # Revoked from before the push (a key found stolen since): the acceptance is named.
    from datetime import UTC, datetime, timedelta

    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.signing_keys import revoke_key

    with command(server.app):
        revoke_key(fingerprint, start=datetime.now(UTC) - timedelta(days=1), actor=Actor.cli())
    report = verify.verify_bundle(export_bundle(server))
    assert [p.reason for p in report.problems] == [
        f"commit {commit[:12]} accepted in signed-humans guard(s) model for its signature: the "
        f"key {fingerprint} (alice) was revoked from "
        f"{report_revocation(server, fingerprint)}, before the push at "
        f"{accepted['subject']['pushed_at']}"
    ]


def report_revocation(server: LiveServer, fingerprint: str) -> str:
    (revoked,) = [r for r in audit_records(server.app) if r["action"] == "key.revoked"]
    assert revoked["subject"]["fingerprint"] == fingerprint
    return revoked["subject"]["revoked_at"]


def export_bundle(server: LiveServer) -> bytes:
    """The signed bundle an auditor gets (the key registry is in its records)."""
    from gate.audit.export import Period
    from gate.server.database import command
    from gate.server.services.exports import export_audit

    with command(server.app):
        return export_audit("bundle", Period()).data


TOUCH_AND_PIN = SIGNED_HUMANS.replace(
    'trust = "signed-humans"\n',
    'trust = "signed-humans"\nrequire_touch = true\nrequire_pin = true\n',
)


def test_require_touch_and_pin_read_the_security_keys_flags(
    server: LiveServer, tmp_path: Path
) -> None:
    """sk-ssh-ed25519 signatures whose flags byte is crafted (SkKey: no hardware here), each
    verified by git and ssh-keygen as a real one would be; only the flags differ."""
    repo = gated_repo(server, tmp_path, TOUCH_AND_PIN)
    key = SkKey(tmp_path / "keys", "alice-sk")
    fingerprint = register(server.app, "alice", "ssh", key.public)
    plain = ssh_key(tmp_path / "keys", "alice-plain")
    register(server.app, "alice", "ssh", plain.public)
    clone = repo.clone()
    clone.commit("start", {"README": "start\n"})
    assert clone.push(pusher="alice").ok

    cases = [
        (0x00, "without a touch"),
        (0x01, "without user verification"),
        (0x04, "without a touch"),
    ]
    for flags, reason in cases:
        sk_signed_commit(clone, f"flags {flags}", {"model/net.py": f"f = {flags}\n"}, key, flags)
        held = clone.push(pusher="alice")
        assert not held.ok, flags
        assert f"{reason} (guard model)" in "\n".join(held.gate_lines), (flags, held.gate_lines)
        clone.run("reset", "--quiet", "--hard", "origin/main")
    signed_commit(clone, "plain key", {"model/net.py": "plain\n"}, plain)
    held = clone.push(pusher="alice")
    assert not held.ok and "not a security key" in "\n".join(held.gate_lines)
    clone.run("reset", "--quiet", "--hard", "origin/main")

    commit = sk_signed_commit(clone, "touched", {"model/net.py": "ok\n"}, key, 0x05)
    passed = clone.push(pusher="alice")
    assert passed.ok, passed.stderr
    # The bundle's acceptance is verified offline: the security key's signature over the commit.
    from gate.audit import verify

    reports = wait_for_push_reports(server.app, 2)
    assert [s["id"] for r in reports for s in r["subject"].get("signed", [])] == [commit]
    report = verify.verify_bundle(export_bundle(server))
    assert report.ok, report.problems
    assert any(fingerprint in n and "signature verified offline" in n for n in report.notes)
