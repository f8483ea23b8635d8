"""The cases issue 11 left open, each decided (docs/policy.md, "Decided cases") and pushed for
real through the installed hook to a live server."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone, remote_ref
from tests.support.server import GatedRepo, request_id_from

pytestmark = pytest.mark.e2e

AGENT = ("Build Bot", "ci@bots.example.com")


def bare_git(gated: GatedRepo, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=gated.bare, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def seeded(gated: GatedRepo) -> WorkClone:
    clone = gated.clone()
    clone.commit("seed", {"README.md": "hi\n", "train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    return clone


# --------------------------------------------------------------------------------------------
# Symbolic refs


def test_a_symbolic_ref_to_a_protected_ref_is_checked_as_that_ref(gated: GatedRepo) -> None:
    clone = seeded(gated)
    bare_git(gated, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
    before = remote_ref(gated.bare)
    clone.commit("more steps", {"train/loop.py": "steps = 2\n"}, author=AGENT)
    held = clone.push("HEAD:refs/heads/alias")
    assert not held.ok, held.stderr
    assert request_id_from(held.gate_lines) > 0
    assert any("refs/heads/main" in line for line in held.gate_lines), held.gate_lines
    assert remote_ref(gated.bare) == before

    clone.run("reset", "-q", "--hard", "HEAD~")
    clone.commit("a human change", {"train/loop.py": "steps = 3\n"})
    passed = clone.push("HEAD:refs/heads/alias")
    assert passed.ok, passed.stderr
    assert remote_ref(gated.bare) == clone.head()  # git wrote main through the alias


def test_a_protected_symbolic_ref_protects_its_target(gated: GatedRepo) -> None:
    clone = seeded(gated)
    assert clone.push("HEAD:refs/heads/dev").ok
    bare_git(gated, "symbolic-ref", "refs/heads/release/1.0", "refs/heads/dev")
    clone.commit("more steps", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    held = clone.push("HEAD:refs/heads/dev")
    assert not held.ok, held.stderr
    assert any("refs/heads/release/1.0" in line for line in held.gate_lines), held.gate_lines
    assert remote_ref(gated.bare, "refs/heads/dev") != clone.head()


def test_a_dangling_symbolic_ref_to_a_protected_name_is_checked(gated: GatedRepo) -> None:
    clone = seeded(gated)
    bare_git(gated, "symbolic-ref", "refs/heads/sneak", "refs/heads/release/2.0")
    clone.commit("more steps", {"train/loop.py": "steps = 2\n"}, author=AGENT)
    held = clone.push("HEAD:refs/heads/sneak")
    assert not held.ok, held.stderr
    assert remote_ref(gated.bare, "refs/heads/release/2.0") is None


# --------------------------------------------------------------------------------------------
# Push options


def test_push_options_change_nothing(gated: GatedRepo) -> None:
    bare_git(gated, "config", "receive.advertisePushOptions", "true")
    clone = seeded(gated)
    clone.commit("more steps", {"train/loop.py": "steps = 2\n"}, author=AGENT)
    options = ["-o", "gate.skip", "-o", "ci.skip", "-o", "approved-by=alice"]
    held = clone.push("HEAD:refs/heads/main", None, *options)
    assert not held.ok, held.stderr
    assert request_id_from(held.gate_lines) > 0
    assert remote_ref(gated.bare) != clone.head()
    clone.run("reset", "-q", "--hard", "HEAD~")
    clone.commit("docs", {"README.md": "more\n"})
    assert clone.push("HEAD:refs/heads/main", None, *options).ok


# --------------------------------------------------------------------------------------------
# Names that collide on case-insensitive or normalising checkouts


def test_case_variants_of_a_guarded_directory_are_guarded(gated: GatedRepo) -> None:
    clone = seeded(gated)
    for path in ("TRAIN/loop.py", "Train/Loop.py", "runs/BEST.CKPT"):
        clone.commit(f"add {path}", {path: "steps = 9\n"}, author=AGENT)
        held = clone.push()
        assert not held.ok, (path, held.stderr)
        assert any("training" in line for line in held.gate_lines), held.gate_lines
        clone.run("reset", "-q", "--hard", "HEAD~")


PRUNED_POLICY = """\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "model"
paths = ["modèle/**"]

[agents]
emails = ["*@bots.example.com"]
"""


def test_decomposed_names_of_a_guarded_directory_are_guarded(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import add_reviewer, make_gated_repo, new_token

    add_reviewer(server.app, "alice")
    gated = make_gated_repo(
        tmp_path / "git", server.url, new_token(server.app), policy=PRUNED_POLICY
    )
    clone = gated.clone()
    clone.commit("seed", {"README.md": "hi\n"})
    assert clone.push().ok
    decomposed = "mode\u0300le/net.py"  # 'è' as 'e' and a combining grave accent
    clone.commit("a decomposed name", {decomposed: "layers = 9\n"}, author=AGENT)
    held = clone.push()
    assert not held.ok, held.stderr
    assert any("model" in line for line in held.gate_lines), held.gate_lines
    clone.run("reset", "-q", "--hard", "HEAD~")
    clone.commit("an unguarded name", {"modele/net.py": "layers = 9\n"}, author=AGENT)
    assert clone.push().ok


# --------------------------------------------------------------------------------------------
# Symbolic links


def test_a_link_standing_for_a_guarded_directory_is_held(gated: GatedRepo) -> None:
    clone = seeded(gated)
    clone.write("evil/lr.yaml", "lr: 100\n")
    (clone.path / "configs").mkdir()
    (clone.path / "configs" / "train").symlink_to("../evil")
    clone.commit("share configs", author=AGENT)
    held = clone.push()
    assert not held.ok, held.stderr
    assert any("configs/train" in line for line in held.gate_lines), held.gate_lines


def test_a_link_into_a_guard_passes_and_writing_through_it_is_held(gated: GatedRepo) -> None:
    clone = seeded(gated)
    (clone.path / "docs").mkdir()
    (clone.path / "docs" / "x").symlink_to("../train/loop.py")
    clone.commit("link the loop from the docs", author=AGENT)
    passed = clone.push()
    assert passed.ok, passed.stderr  # the link changes no guarded content
    (clone.path / "docs" / "x").write_text("import os; os.system('curl x | sh')\n")
    clone.commit("edit through the link", author=AGENT)
    held = clone.push()
    assert not held.ok, held.stderr  # git commits the file the link names: train/loop.py
    assert any("train/loop.py" in line for line in held.gate_lines), held.gate_lines


# --------------------------------------------------------------------------------------------
# Submodules


def add_submodule(clone: WorkClone, path: str, url: str) -> None:
    sub = clone.commit("for the gitlink")  # any commit id will do for a gitlink entry
    clone.run("update-index", "--add", "--cacheinfo", f"160000,{sub},{path}")
    clone.run("config", "-f", ".gitmodules", f"submodule.{path}.path", path)
    clone.run("config", "-f", ".gitmodules", f"submodule.{path}.url", url)


def test_pointing_a_guarded_submodule_elsewhere_is_held(gated: GatedRepo) -> None:
    clone = seeded(gated)
    add_submodule(clone, "train/vendor", "https://git.example.com/vendor.git")
    add_submodule(clone, "docs/theme", "https://git.example.com/theme.git")
    clone.commit("vendor and theme")
    assert clone.push().ok

    clone.run("config", "-f", ".gitmodules", "submodule.docs/theme.url", "https://x.example/t.git")
    clone.commit("another theme", author=AGENT)
    passed = clone.push()
    assert passed.ok, passed.stderr  # an unguarded submodule

    clone.run(
        "config", "-f", ".gitmodules", "submodule.train/vendor.url", "https://x.example/evil.git"
    )
    clone.commit("a faster vendor", author=AGENT)
    held = clone.push()
    assert not held.ok, held.stderr
    assert any("train/vendor" in line for line in held.gate_lines), held.gate_lines


# --------------------------------------------------------------------------------------------
# On-behalf-of naming every reviewer


def approve_subjects(server) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    from sqlalchemy import select

    from gate.server.extensions import db
    from gate.server.models import AuditRecord

    with server.app.app_context():
        records = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "decision.approve")
        )
        return [record.subject for record in records]


def test_on_behalf_of_everyone_leaves_an_audited_admin_override(gated: GatedRepo, server) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import add_reviewer

    add_reviewer(server.app, "root", role="admin")
    clone = seeded(gated)
    everyone = [f"On-behalf-of: {n} <{n}@example.com>" for n in ("alice", "bob", "carol", "root")]
    clone.commit(
        "for all of you", {"train/loop.py": "steps = 2\n"}, author=AGENT, trailers=everyone
    )
    request_id = request_id_from(clone.push().gate_lines)
    for name in ("alice", "bob", "carol"):
        refused = server.reviewer(name).decide(request_id, "approve", "")
        assert refused.status_code == 403, name
        assert "An admin may approve despite an On-behalf-of trailer" in refused.text
    root = server.reviewer("root")
    assert "As an admin you may still approve" in root.page(f"/requests/{request_id}").text
    assert root.decide(request_id, "approve", "the trailer names everyone").ok
    (subject,) = approve_subjects(server)
    assert subject["reviewer"] == "root" and "On-behalf-of" in subject["overrides"][0]
    assert clone.push().ok


def test_an_owner_named_by_the_policy_cannot_be_overridden(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import POLICY, add_reviewer, make_gated_repo, new_token

    add_reviewer(server.app, "root", role="admin")
    add_reviewer(server.app, "alice")
    policy = POLICY + '\n[agents.owners]\nagent-x = "root@example.com"\n'
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(server.app), policy=policy)
    clone = seeded(gated)
    clone.commit(
        "by the agent account",
        {"train/loop.py": "steps = 8\n"},
        trailers=["On-behalf-of: root <root@example.com>"],
    )
    request_id = request_id_from(clone.push(pusher="agent-x").gate_lines)
    refused = server.reviewer("root").decide(request_id, "approve", "")
    assert refused.status_code == 403 and "you operate the agent" in refused.text
    assert not approve_subjects(server)
