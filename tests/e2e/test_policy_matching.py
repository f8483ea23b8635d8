"""Guard patterns that a backtracking matcher chokes on, through real pushes and a live server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gitrepo import WorkClone, remote_ref
from tests.support.server import (
    LiveServer,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
)

pytestmark = pytest.mark.e2e

STARS = "*" * 100 + "a"
POLICY = f"""\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "weights"
paths = ["model/*_*_*_*.ckpt", "{STARS}"]
"""
LONG = "model/" + "_" * 600  # longer than a file system allows: written with plumbing


def commit_paths(clone: WorkClone, paths: list[str], message: str) -> None:
    """An agent commit adding ``paths`` straight to the index (no files on disk)."""
    blob = clone.run("hash-object", "-w", "--stdin", "--path", "x")
    for path in paths:
        clone.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    clone.run("commit", "-q", "-m", f"{message}\n\nAssisted-by: a coding agent")


def test_long_names_are_decided_exactly(server: LiveServer, tmp_path: Path) -> None:
    add_reviewer(server.app, "alice")
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(server.app), policy=POLICY)
    clone = gated.clone()
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push().ok

    commit_paths(clone, [LONG + ".ckptx", "train/x.py"], "neither name is guarded")
    passed = clone.push(pusher="agent-1")
    assert passed.ok, passed.stderr
    assert remote_ref(gated.bare) == clone.head()

    commit_paths(clone, [LONG + ".ckpt"], "a guarded checkpoint")
    held = clone.push(pusher="agent-1")
    assert not held.ok
    assert request_id_from(held.gate_lines) > 0
    assert remote_ref(gated.bare) != clone.head()
    assert any("weights" in line for line in held.gate_lines), held.gate_lines
