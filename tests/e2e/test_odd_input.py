"""Odd names, non-UTF-8 metadata, binary and huge files, broken settings: clear outcomes, no tracebacks."""

from __future__ import annotations

import os
import subprocess

import pytest

from gate.git.objects import object_id
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, request_id_from

pytestmark = pytest.mark.e2e


def seeded(gated: GatedRepo):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok
    return clone


def test_odd_file_names_are_matched_and_shown(gated: GatedRepo, server: LiveServer) -> None:
    clone = seeded(gated)
    names = [
        "train/tab\there.py",
        "train/new\nline.py",
        "train/ünï côdé.py",
        "train/-dash.py",
        'train/"quoted".py',
    ]
    clone.commit("odd names", {name: "x = 1\n" for name in names}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert not result.ok
    request_id = request_id_from(result.gate_lines)
    page = server.reviewer("alice").page(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "ünï côdé.py" in page.text and "-dash.py" in page.text


def test_non_utf8_path_and_metadata(gated: GatedRepo, server: LiveServer) -> None:
    clone = seeded(gated)
    raw_name = b"train/caf\xe9.py"
    (clone.path / os.fsdecode(raw_name)).parent.mkdir(exist_ok=True)
    with open(os.path.join(os.fsencode(clone.path), raw_name), "wb") as handle:
        handle.write(b"x = '\xff'\n")
    clone.run("add", "-A")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Bj\xf6rn",
        "GIT_AUTHOR_EMAIL": "bjorn@bots.example.com",
        "GIT_COMMITTER_NAME": "Bj\xf6rn",
        "GIT_COMMITTER_EMAIL": "bjorn@bots.example.com",
    }
    message_file = clone.path.parent / "msg"
    message_file.write_bytes(b"Latin-1 message: na\xefve caf\xe9\n")
    subprocess.run(
        ["git", "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "-F", str(message_file)],
        cwd=clone.path,
        env=env,
        check=True,
    )
    result = clone.push()
    assert not result.ok and "Traceback" not in result.stderr
    request_id = request_id_from(result.gate_lines)
    page = server.reviewer("alice").page(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "naïve café" in page.text  # decoded through the commit's declared encoding
    assert "caf" in page.text


def test_binary_files_are_shown_by_size_and_huge_ones_as_not_sent(
    gated: GatedRepo, server: LiveServer
) -> None:
    """A blob over the hook's cap is never sent: the server shows its verified id, and neither
    a size nor any text it could not check."""
    clone = seeded(gated)
    blob = bytes(range(256)) * 64
    huge = b"w" * (9 * 1024 * 1024)
    clone.commit(
        "weights", {"weights/model.ckpt": blob, "train/big.txt": huge}, trailers=[CLAUDE_TRAILER]
    )
    result = clone.push()
    request_id = request_id_from(result.gate_lines)
    page = server.reviewer("alice").page(f"/requests/{request_id}")
    assert "Binary file: 0 → 16384 bytes" in page.text
    assert "Content not sent by the hook" in page.text and str(len(huge)) not in page.text
    assert object_id("blob", huge) in page.text
    assert "wwwwwwwwww" not in page.text


def test_long_diff_is_truncated_with_a_note(gated: GatedRepo, server: LiveServer) -> None:
    clone = seeded(gated)
    text = "".join(f"line {i} {'x' * 60}\n" for i in range(8000))
    clone.commit("long", {"train/long.py": text}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    page = server.reviewer("alice").page(f"/requests/{request_id}")
    assert "truncated" in page.text
    assert "line 10 " in page.text and "line 7999 " not in page.text


def test_malformed_policy_refuses_protected_pushes_with_reasons(gated: GatedRepo) -> None:
    clone = seeded(gated)
    gated.policy.write_text(
        'protected_refs = ["refs/heads/main"]\n[[guard]]\nname = "t"\npaths = "train/**"\n'
    )
    clone.commit("human", {"README.md": "y\n"})
    result = clone.push()
    assert not result.ok and "Traceback" not in result.stderr
    text = "\n".join(result.gate_lines)
    assert "policy cannot be used" in text and ":4:" in text and "gate policy check" in text


def test_missing_hook_settings_refuse_with_instructions(gated: GatedRepo) -> None:
    clone = seeded(gated)
    (gated.bare / "gate.toml").unlink()
    before = remote_ref(gated.bare)
    clone.commit("human", {"README.md": "z\n"})
    result = clone.push()
    assert (
        not result.ok and "gate install-hook" in result.stderr and "Traceback" not in result.stderr
    )
    assert remote_ref(gated.bare) == before


def test_unreadable_token_fails_closed_for_agents(gated: GatedRepo) -> None:
    clone = seeded(gated)
    gated.token_file.unlink()
    human = clone.commit("human", {"train/a.py": "1\n"})
    assert clone.push().ok and remote_ref(gated.bare) == human
    clone.commit("agent", {"train/a.py": "2\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert not result.ok and "token file" in result.stderr and "fails closed" in result.stderr


def test_an_agent_commit_with_a_very_long_identity_is_held_and_can_land(
    gated: GatedRepo, server: LiveServer
) -> None:
    """git bounds no identity: a 400-character author name and a 500-character email are held
    (once a 500 on PostgreSQL, then a 400, on every push), shown, approved, and land."""
    clone = seeded(gated)
    name, email = "N" * 400, "e" * 480 + "@bots.example.com"
    (clone.path / "train").mkdir(exist_ok=True)
    (clone.path / "train" / "long.py").write_text("x = 1\n")
    clone.run("add", "-A")
    env = {**os.environ, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    subprocess.run(["git", "commit", "-qm", "long identity"], cwd=clone.path, env=env, check=True)
    held = clone.push()
    assert not held.ok and "Traceback" not in held.stderr
    request_id = request_id_from(held.gate_lines)
    alice = server.reviewer("alice")
    page = alice.page(f"/requests/{request_id}")
    assert page.status_code == 200 and "N" * 299 + "\u2026" in page.text
    assert alice.decide(request_id, "approve", "fine").status_code == 200
    assert clone.push().ok
    assert remote_ref(gated.bare) == clone.run("rev-parse", "HEAD").strip()
