"""Patch ids: the server's ``git patch-id --stable`` (of ``git show --no-renames --full-index``)
of each held commit, computed at hold time
from the objects it verified, is real git's, for generated changes of every kind (edits in
several hunks, additions, deletions, renames, binary files, mode changes, a last line without
a newline, whitespace, CRLF)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from gate.server.extensions import db
from gate.server.models import HeldItem
from gate.server.patchid import stable_patch_id
from tests.support.server import GatedRepo, LiveServer

AGENT = ("Build Bot", "ci@bots.example.com")


def git_patch_id(repo: Path, sha: str) -> str | None:
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", "--format=", "--no-renames", "--full-index", sha],
        capture_output=True,
        check=True,
    ).stdout
    out = subprocess.run(
        ["git", "-C", str(repo), "patch-id", "--stable"], input=shown, capture_output=True
    ).stdout.split()
    return out[0].decode() if out else None


def lines(rng: random.Random, n: int) -> list[str]:
    return [
        f"{rng.choice(['alpha', 'beta', 'gamma', '  indented', 'x = 1'])} {i}" for i in range(n)
    ]


def change(rng: random.Random, work: Path, step: int) -> None:
    """One generated change to train/: a few random edits of random kinds."""
    files = sorted(p for p in (work / "train").rglob("*") if p.is_file())
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["edit", "add", "delete", "rename", "binary", "mode", "eol", "space"])
        text_files = [p for p in files if p.suffix == ".py" and p.exists()]
        if kind == "add" or not text_files:
            path = work / "train" / f"new_{step}_{rng.randint(0, 999)}.py"
            path.write_text("\n".join(lines(rng, rng.randint(1, 30))) + "\n")
        elif kind == "edit":
            path = rng.choice(text_files)
            body = path.read_text().split("\n")
            for _ in range(rng.randint(1, 3)):  # edits far apart make several hunks
                at = rng.randrange(len(body))
                body[at : at + rng.randint(0, 2)] = lines(rng, rng.randint(0, 3))
            path.write_text("\n".join(body))
        elif kind == "delete" and len(text_files) > 1:
            rng.choice(text_files).unlink()
        elif kind == "rename":
            path = rng.choice(text_files)
            target = path.with_name(f"moved_{step}_{path.name}")
            path.rename(target)
            if rng.random() < 0.5:
                target.write_text(target.read_text() + "one more line\n")
        elif kind == "binary":
            (work / "train" / f"weights_{rng.randint(0, 2)}.bin").write_bytes(
                bytes(rng.randrange(256) for _ in range(rng.randint(10, 400))) + b"\0"
            )
        elif kind == "mode":
            path = rng.choice(text_files)
            path.chmod(path.stat().st_mode ^ 0o111)
        elif kind == "eol":
            path = rng.choice(text_files)
            path.write_text(path.read_text().rstrip("\n") + "\nno newline at the end")
        else:
            path = rng.choice(text_files)
            path.write_bytes(path.read_bytes().replace(b"\n", b" \r\n", 2))


def test_held_commits_carry_git_s_stable_patch_id(gated: GatedRepo, server: LiveServer) -> None:
    rng = random.Random(14)
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "\n".join(lines(rng, 40)) + "\n"})
    assert clone.push().ok
    shas = []
    for step in range(12):
        change(rng, clone.path, step)
        shas.append(clone.commit(f"change {step}", author=AGENT))
    assert not clone.push().ok  # held
    with server.app.app_context():
        stored = dict(
            db.session.execute(
                db.select(HeldItem.key, HeldItem.patch_id).where(HeldItem.key.in_(shas))
            ).all()
        )
    assert sorted(stored) == sorted(shas)
    for sha in shas:
        expected = git_patch_id(clone.path, sha)
        assert expected is not None
        assert stored[sha] == expected, sha
        shown = subprocess.run(
            [
                "git",
                "-C",
                str(clone.path),
                "show",
                "--format=",
                "--no-renames",
                "--full-index",
                sha,
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert stable_patch_id(shown) == expected  # the algorithm itself, on git's own text


def test_the_same_change_rebased_has_the_same_patch_id(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "a\nb\nc\n", "docs/x.md": "1\n"})
    assert clone.push().ok
    base = clone.head()
    first = clone.commit("edit", {"train/loop.py": "a\nB\nc\n"}, author=AGENT)
    clone.run("reset", "-q", "--hard", base)
    clone.commit("human docs", {"docs/x.md": "2\n"})
    again = clone.commit("edit", {"train/loop.py": "a\nB\nc\n"}, author=AGENT)
    clone.run("branch", "-q", "first", first)
    assert not clone.push("first:refs/heads/release/a").ok
    assert not clone.push("HEAD:refs/heads/main").ok
    with server.app.app_context():
        ids = dict(db.session.execute(db.select(HeldItem.key, HeldItem.patch_id)).all())
    assert ids[first] == ids[again] == git_patch_id(clone.path, first)
    assert first != again
