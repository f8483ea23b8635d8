"""Real git repositories for tests: a working clone that commits as given identities and pushes."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

HUMAN = ("Dana Human", "dana@example.com")
CLAUDE_TRAILER = "Co-Authored-By: Claude <noreply@anthropic.com>"


@dataclass
class PushResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def gate_lines(self) -> list[str]:
        return [
            line.removeprefix("remote: ").rstrip()
            for line in self.stderr.splitlines()
            if "gate:" in line
        ]


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


class WorkClone:
    """A working clone of a bare repository with helpers to commit and push like a user would."""

    def __init__(self, bare: Path | str, path: Path, *clone_options: str) -> None:
        """``bare`` is a path or a URL; ``clone_options`` go to git clone (``-c key=value``
        stays in the clone's config, e.g. core.sshCommand for a real SSH server)."""
        self.bare = bare
        self.path = path
        proc = subprocess.run(
            ["git", "clone", "--quiet", *clone_options, str(bare), str(path)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise AssertionError(f"git clone {bare} failed: {proc.stderr}")
        git(path, "config", "user.name", HUMAN[0])
        git(path, "config", "user.email", HUMAN[1])
        git(path, "config", "commit.gpgsign", "false")

    def write(self, name: str, content: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)

    def commit(
        self,
        message: str,
        files: dict[str, str | bytes] | None = None,
        author: tuple[str, str] = HUMAN,
        committer: tuple[str, str] | None = None,
        trailers: list[str] | None = None,
        date: str | None = None,
    ) -> str:
        for name, content in (files or {}).items():
            self.write(name, content)
        git(self.path, "add", "-A")
        committer = committer or author
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
            **({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}),
        }
        full = message + ("\n\n" + "\n".join(trailers) if trailers else "")
        git(self.path, "commit", "--quiet", "--allow-empty", "-m", full, env=env)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def push(
        self,
        refspec: str = "HEAD:refs/heads/main",
        pusher: str | None = None,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> PushResult:
        """Push as ``pusher`` (REMOTE_USER); ``env``: more variables for the hooks, as a git
        host would set them (GL_USERNAME, GITEA_PUSHER_NAME, ...)."""
        base = {k: v for k, v in os.environ.items() if k not in ("REMOTE_USER", "GL_USERNAME")}
        env = {**base, **(env or {})}
        if pusher:
            env["REMOTE_USER"] = pusher
        proc = subprocess.run(
            ["git", "push", "--porcelain", *extra, "origin", refspec],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
        )
        return PushResult(proc.returncode, proc.stdout, proc.stderr)

    def run(self, *args: str) -> str:
        return git(self.path, *args)


def remote_ref(bare: Path, ref: str = "refs/heads/main") -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", ref], cwd=bare, capture_output=True, text=True
    )
    return proc.stdout.strip() or None
