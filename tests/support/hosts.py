"""Bare repositories set up as each git host sets them up, from the re-creations in
tests/hosts (see its README): Gitea's dispatchers, Gitaly's hook chain, gitolite's compile,
GHES's hook runner."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gate.git.config import toml_string
from tests.support.server import POLICY

HOSTS = Path(__file__).resolve().parents[1] / "hosts"


def bare_repo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)], check=True
    )
    return path


def gitea_resync(bare: Path) -> None:
    """What Gitea does on repository creation and on its admin 'resynchronize hooks'."""
    subprocess.run([str(HOSTS / "gitea" / "resync"), str(bare)], check=True)


def gitea_repo(path: Path) -> Path:
    bare = bare_repo(path)
    gitea_resync(bare)
    return bare


def gitea_env(pusher: str, owner: str = "org", name: str = "models") -> dict[str, str]:
    """What Gitea's `serv` puts in the hooks' environment (cmd/serv.go, modules/repository)."""
    return {"GITEA_PUSHER_NAME": pusher, "GITEA_REPO_USER_NAME": owner, "GITEA_REPO_NAME": name}


def gitlab_repo(path: Path) -> Path:
    """A repository whose hooks git runs from Gitaly's folder (core.hooksPath)."""
    bare = bare_repo(path)
    gitaly = path.parent / "gitaly-hooks"
    gitaly.mkdir(exist_ok=True)
    for name in ("pre-receive", "post-receive", "update"):
        link = gitaly / name
        if not link.exists():
            link.symlink_to(HOSTS / "gitlab" / "gitaly-hook")
    subprocess.run(["git", "--git-dir", str(bare), "config", "core.hooksPath", str(gitaly)])
    return bare


def gitlab_env(
    user: str, project: str = "group/models", repository: str = "project-7"
) -> dict[str, str]:
    return {
        "GL_ID": "user-12",
        "GL_USERNAME": user,
        "GL_PROJECT_PATH": project,
        "GL_REPOSITORY": repository,
        "GL_PROTOCOL": "ssh",
    }


def gitlab_web_merge(
    bare: Path, target: str, source: str, user: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A merge request merged in GitLab's web UI by ``user`` (tests/hosts/gitlab/web-merge)."""
    return subprocess.run(
        [str(HOSTS / "gitlab" / "web-merge"), str(bare), target, source, user],
        env={**os.environ, **gitlab_env(user), **(env or {})},
        capture_output=True,
        text=True,
    )


@dataclass
class GitoliteSite:
    """gitolite's repositories and LOCAL_CODE, with its rules and repo options as files."""

    base: Path
    local_code: Path
    rules: Path
    options: Path

    def repo(self, name: str) -> Path:
        return self.base / f"{name}.git"

    def allow(self, repo: str, user: str, refs: str = "*") -> None:
        with self.rules.open("a") as file:
            file.write(f"{repo} {user} {refs}\n")

    def set_hooks(self, lines: list[str]) -> None:
        """conf/gitolite.conf's `option hook.NAME = CODES`, as "REPO NAME CODES" lines."""
        self.options.write_text("".join(f"{line}\n" for line in lines))

    def compile(self) -> None:
        """What a push to gitolite-admin does to every repository's hooks."""
        subprocess.run(
            [str(HOSTS / "gitolite" / "compile"), str(self.base), str(self.local_code)],
            check=True,
            env={**os.environ, "GITOLITE_OPTIONS": str(self.options)},
        )

    def env(self, user: str, repo: str) -> dict[str, str]:
        """What gitolite-shell puts in the environment of git-receive-pack."""
        return {
            "GL_USER": user,
            "GL_REPO": repo,
            "GL_BINDIR": str(HOSTS / "gitolite"),
            "GITOLITE_RULES": str(self.rules),
        }


def gitolite_site(path: Path, repos: tuple[str, ...] = ("models",)) -> GitoliteSite:
    site = GitoliteSite(path / "repositories", path / "local", path / "rules", path / "options")
    for name in repos:
        bare_repo(site.repo(name))
    (site.local_code / "hooks" / "repo-specific").mkdir(parents=True)
    site.rules.write_text("")
    site.options.write_text("")
    site.compile()
    return site


def ghes_repo(path: Path) -> Path:
    """A repository whose pre-receive is GHES's hook runner."""
    bare = bare_repo(path)
    runner = bare / "hooks" / "pre-receive"
    runner.write_text((HOSTS / "ghes" / "pre-receive").read_text())
    runner.chmod(0o755)
    return bare


def central_config(
    path: Path,
    server: str,
    token_file: Path,
    layout: str,
    repositories: dict[str, dict[str, str]] | None = None,
    policy: str = POLICY,
    **settings: object,
) -> Path:
    """A central configuration with the test policy as its default_policy."""
    policy_file = path.parent / f"{path.stem}-policy.toml"
    policy_file.write_text(policy)
    lines = [
        f"server = {toml_string(server)}",
        f"token_file = {toml_string(str(token_file))}",
        f"layout = {toml_string(layout)}",
        f"default_policy = {toml_string(str(policy_file))}",
    ]
    for key, value in settings.items():
        lines.append(
            f"{key} = {toml_string(value) if isinstance(value, str) else str(value).lower()}"
        )
    for key, entry in (repositories or {}).items():
        lines.append(f"[repositories.{toml_string(key)}]")
        lines.extend(f"{k} = {toml_string(v)}" for k, v in entry.items())
    path.write_text("\n".join(lines) + "\n")
    return path
