"""Commits carrying agents' marks, for tests: the corpus of real marks
(tests/vectors/agent_marks.toml) and the built-in catalog's own examples, each written as git
writes a commit (``git commit-tree``, ``git fast-import``)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gate.git.catalog import load_catalog

CORPUS = Path(__file__).resolve().parent.parent / "vectors" / "agent_marks.toml"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
HUMAN = "Ada Lovelace <ada@example.org>"


@dataclass(frozen=True)
class Marked:
    source: str  # where the commit comes from (repository and id, or catalog entry)
    author: str  # "Name <email>"
    committer: str
    message: str
    agent: str | None  # the catalog entry that must fire; None: a person's, nothing may fire


def corpus() -> list[Marked]:
    """The real marks and the real human look-alikes."""
    data = tomllib.loads(CORPUS.read_text("utf-8"))
    return [
        Marked(
            m["source"], m["author"], m.get("committer", m["author"]), m["message"], m.get("agent")
        )
        for m in data["mark"]
    ]


def catalog_examples() -> list[Marked]:
    """Every example of the built-in catalog that is evidence on its own (not a ref alone)."""
    found = []
    for entry in load_catalog().entries:
        for example in entry.examples:
            if set(example) <= {"ref"}:
                continue
            author = example.get("author", HUMAN)
            found.append(
                Marked(
                    f"agents.toml {entry.name}",
                    author,
                    example.get("committer", author),
                    example.get("message", "Change things\n"),
                    entry.name,
                )
            )
    return found


def _split(identity: str) -> tuple[str, str]:
    name, _, email = identity.partition(" <")
    return name, email.removesuffix(">")


def commit_tree(git_dir: Path, marked: Marked, parent: str | None = None) -> str:
    """The commit written by ``git commit-tree`` (empty tree), its message taken verbatim."""
    author, committer = _split(marked.author), _split(marked.committer)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": committer[0],
        "GIT_COMMITTER_EMAIL": committer[1],
        "GIT_AUTHOR_DATE": "1700000000 +0000",
        "GIT_COMMITTER_DATE": "1700000000 +0000",
    }
    args = ["git", "commit-tree", EMPTY_TREE, *(["-p", parent] if parent else [])]
    proc = subprocess.run(
        args, cwd=git_dir, env=env, input=marked.message.encode(), capture_output=True, check=True
    )
    return proc.stdout.decode().strip()


def marked_history(bare: Path, commits: list[Marked], path: str) -> tuple[str, str]:
    """A bare repository: refs/heads/main holds a root commit, refs/heads/new one commit per
    entry of ``commits`` on top (with its identities and message), each changing ``path``.
    Returns (main, new)."""
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    out = [b"commit refs/heads/main\nmark :1\nauthor A <a@example.com> 1700000000 +0000\n"]
    out.append(b"committer A <a@example.com> 1700000000 +0000\ndata 5\nroot\n\n")
    for n, marked in enumerate(commits, start=2):
        message = marked.message.encode()
        out.append(b"commit refs/heads/new\nmark :%d\n" % n)
        out.append(b"author %s %d +0000\n" % (marked.author.encode(), 1700000000 + n))
        out.append(b"committer %s %d +0000\n" % (marked.committer.encode(), 1700000000 + n))
        out.append(b"data %d\n%s\n" % (len(message), message))
        out.append(b"from :%d\n" % (n - 1))
        out.append(b"M 100644 inline %s\ndata %d\n%d\n\n" % (path.encode(), len(str(n)) + 1, n))
    stream = b"".join(out) + b"done\n"
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=bare, input=stream, check=True)

    def tip(ref: str) -> str:
        return subprocess.run(
            ["git", "rev-parse", ref], cwd=bare, capture_output=True, text=True, check=True
        ).stdout.strip()

    return tip("refs/heads/main"), tip("refs/heads/new")
