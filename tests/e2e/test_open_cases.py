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
