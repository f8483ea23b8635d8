"""gate installed the way each git host expects (tests/hosts re-creates the hosts): the host's
own hooks keep running, gate survives what hosts do to hooks or `gate doctor` says it did
not, and server-wide installs find each repository's settings (issue 12, points 1 to 4)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gate.errors import GateError
from gate.git.config import CONFIG_NAME, HookConfig
from gate.git.doctor import doctor
from gate.git.install import install_hook
from gate.git.layouts import hook_script
from tests.support.cli import GATE
from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone, remote_ref
from tests.support.hosts import (
    central_config,
    ghes_repo,
    gitea_env,
    gitea_repo,
    gitea_resync,
    gitlab_env,
    gitlab_repo,
    gitlab_web_merge,
    gitolite_site,
)
from tests.support.server import POLICY, LiveServer, add_reviewer, new_token


@pytest.fixture
def token_file(server: LiveServer, tmp_path: Path) -> Path:
    add_reviewer(server.app, "alice")
    path = tmp_path / "hook-token"
    path.write_text(new_token(server.app) + "\n")
    return path


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


def _requests(server: LiveServer) -> int:
    from sqlalchemy import func, select

    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with command(server.app):
        return db.session.scalar(select(func.count()).select_from(ApprovalRequest)) or 0


def _agent_commit(clone: WorkClone, text: str = "steps = 1\n") -> str:
    return clone.commit("agent change", {"train/loop.py": text}, trailers=[CLAUDE_TRAILER])


# --------------------------------------------------------------------------------------------
# Gitea / Forgejo


def test_default_layout_refuses_to_rename_giteas_dispatcher(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    bare = gitea_repo(tmp_path / "gitea" / "models.git")
    dispatcher = (bare / "hooks" / "pre-receive").read_text()
    with pytest.raises(GateError) as refused:
        install_hook(str(bare), server.url, str(token_file), str(policy_file))
    assert "--layout gitea" in str(refused.value)
    assert (bare / "hooks" / "pre-receive").read_text() == dispatcher, "nothing was written"
    assert not (bare / "hooks" / "pre-receive.gate-chained").exists()
    assert not (bare / "gate.toml").exists()


@pytest.mark.parametrize("layout", ["gitea", "forgejo"])
def test_gitea_layout_guards_keeps_giteas_hooks_and_survives_resync(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path, layout: str
) -> None:
    """Forgejo, a fork of Gitea, kept its hook layout, dispatchers and GITEA_* variables."""
    bare = gitea_repo(tmp_path / "gitea" / "models.git")
    install_hook(str(bare), server.url, str(token_file), str(policy_file), layout=layout)
    log = bare / "gitea-hooks.log"
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push(env=gitea_env("dana")).ok
    assert log.read_text().split() == ["pre-receive", "update", "post-receive"]

    _agent_commit(clone)
    held = clone.push(env=gitea_env("dana"))
    assert not held.ok and "waiting for approval" in held.stderr, held.stderr

    (bare / "gitea-protected").write_text("main\n")  # Gitea's own branch protection refuses
    clone.run("reset", "--hard", "HEAD~1")
    clone.commit("docs", {"README.md": "y\n"})
    refused = clone.push(env=gitea_env("dana"))
    assert not refused.ok and "Gitea: branch is protected" in refused.stderr
    (bare / "gitea-protected").unlink()

    gitea_resync(bare)  # Gitea re-writes hooks/pre-receive and .d/gitea; gate's .d/gate stays
    assert doctor(str(bare)) == []
    clone.run("reset", "--hard", "HEAD~1")
    _agent_commit(clone, "steps = 2\n")
    again = clone.push(env=gitea_env("dana"))
    assert not again.ok and "waiting for approval" in again.stderr, again.stderr


def test_gitea_layout_repairs_a_dispatcher_renamed_by_an_older_gate(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    bare = gitea_repo(tmp_path / "gitea" / "models.git")
    hooks = bare / "hooks"
    for name in ("pre-receive", "post-receive"):  # what install-hook did before layouts
        (hooks / name).rename(hooks / f"{name}.gate-chained")
        (hooks / name).write_text(hook_script(name, None))
        (hooks / name).chmod(0o755)
    config = HookConfig(server.url, str(token_file), str(policy_file), "models")
    (bare / CONFIG_NAME).write_text(config.to_toml())
    problems = doctor(str(bare))
    assert any("runs nothing" in p and "--layout gitea" in p for p in problems), problems
    cli = subprocess.run([GATE, "doctor", str(bare)], capture_output=True, text=True)
    assert cli.returncode == 1 and "problem:" in cli.stderr and "Traceback" not in cli.stderr

    lines = install_hook(str(bare), server.url, str(token_file), str(policy_file), layout="gitea")
    assert any("put Gitea's dispatcher back" in line for line in lines)
    assert doctor(str(bare)) == []
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push(env=gitea_env("dana")).ok
    assert "pre-receive" in (bare / "gitea-hooks.log").read_text().split()


# --------------------------------------------------------------------------------------------
# GitLab (Gitaly)


def test_default_layout_refuses_where_gitaly_runs_the_hooks(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    bare = gitlab_repo(tmp_path / "gitlab" / "models.git")
    with pytest.raises(GateError) as refused:
        install_hook(str(bare), server.url, str(token_file), str(policy_file))
    assert "core.hooksPath" in str(refused.value) and "--layout gitlab" in str(refused.value)
    assert not (bare / "hooks" / "pre-receive").exists()


def test_gitlab_per_repository_hook_runs_in_gitalys_chain_with_gl_hook_err(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    bare = gitlab_repo(tmp_path / "gitlab" / "models.git")
    install_hook(str(bare), server.url, str(token_file), str(policy_file), layout="gitlab")
    assert (bare / "custom_hooks" / "pre-receive.d" / "gate").exists()
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push(env=gitlab_env("dana")).ok
    assert "pre-receive" in (bare / "gitlab-hooks.log").read_text().split()
    clone.commit("human, as an agent account", {"train/loop.py": "1\n"})
    held = clone.push(env=gitlab_env("agent-trainer"))
    assert not held.ok
    gate_lines = [line.removeprefix("remote: ") for line in held.stderr.splitlines()]
    gate_lines = [line for line in gate_lines if "gate:" in line]
    assert gate_lines and all(line.startswith("GL-HOOK-ERR: gate: ") for line in gate_lines)
    assert any("waiting for approval" in line for line in gate_lines)


def test_gitlab_web_merge_of_an_agents_branch_is_held_through_provenance(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    bare = gitlab_repo(tmp_path / "gitlab" / "models.git")
    install_hook(str(bare), server.url, str(token_file), str(policy_file), layout="gitlab")
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push(env=gitlab_env("dana")).ok
    main = remote_ref(bare)
    clone.run("checkout", "-q", "-b", "tune")
    agents = clone.commit("looks human", {"train/loop.py": "steps = 4\n"})
    pushed = clone.push("HEAD:refs/heads/tune", env=gitlab_env("agent-trainer"))
    assert pushed.ok, pushed.stderr  # a merge request's branch: not protected
    merged = gitlab_web_merge(bare, "main", "tune", "dana")
    assert merged.returncode != 0, merged.stdout
    assert remote_ref(bare) == main
    assert not list((bare / "objects").glob("incoming-*")), "the quarantine is gone"
    lines = [line for line in merged.stderr.splitlines() if "gate:" in line]
    bare_lines = [line for line in lines if not line.startswith("GL-HOOK-ERR: gate:")]
    assert lines and not bare_lines, bare_lines
    text = "\n".join(lines)
    assert agents[:12] in text
    assert "first pushed by agent account agent-trainer to refs/heads/tune" in text, text
    # A merge request of the human's own commits merges.
    clone.run("checkout", "-q", "-b", "docs", main)
    clone.commit("docs", {"docs/a.md": "a\n"})
    assert clone.push("HEAD:refs/heads/docs", env=gitlab_env("dana")).ok
    merged = gitlab_web_merge(bare, "main", "docs", "dana")
    assert merged.returncode == 0, merged.stderr
    assert remote_ref(bare) == merged.stdout.strip().splitlines()[-1]


def test_gitlab_server_wide_hook_guards_unlisted_repositories_by_the_default_policy(
    tmp_path: Path, server: LiveServer, token_file: Path
) -> None:
    central = central_config(
        tmp_path / "central.toml",
        server.url,
        token_file,
        "gitlab",
        {"group/models": {"name": "models"}},
    )
    hooks_dir = tmp_path / "custom_hooks_dir"
    install_hook(None, layout="gitlab", server_wide=str(hooks_dir), central=str(central))
    models = gitlab_repo(tmp_path / "gitlab" / "models.git")
    wiki = gitlab_repo(tmp_path / "gitlab" / "models.wiki.git")
    for bare, project in ((models, "group/models"), (wiki, "group/models.wiki")):
        clone = WorkClone(bare, tmp_path / f"work-{bare.name}")
        clone.commit("seed", {"README.md": "x\n"})
        env = {**gitlab_env("dana", project), "GITALY_CUSTOM_HOOKS_DIR": str(hooks_dir)}
        passed = clone.push(env=env)
        assert passed.ok, passed.stderr  # no gate.toml, no refusal to run install-hook
        _agent_commit(clone)
        held = clone.push(env=env)
        assert not held.ok and "waiting for approval" in held.stderr, held.stderr
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with command(server.app):
        names = {r.repository.name for r in db.session.query(ApprovalRequest).all()}
    assert names == {"models", "group/models.wiki"}


def test_central_config_can_pass_unlisted_repositories(
    tmp_path: Path, server: LiveServer, token_file: Path
) -> None:
    central = central_config(
        tmp_path / "central.toml", server.url, token_file, "gitlab", unlisted="pass"
    )
    hooks_dir = tmp_path / "custom_hooks_dir"
    install_hook(None, layout="gitlab", server_wide=str(hooks_dir), central=str(central))
    bare = gitlab_repo(tmp_path / "gitlab" / "scratch.git")
    clone = WorkClone(bare, tmp_path / "work")
    _agent_commit(clone)
    env = {
        **gitlab_env("agent-trainer", "group/scratch"),
        "GITALY_CUSTOM_HOOKS_DIR": str(hooks_dir),
    }
    assert clone.push(env=env).ok  # passed on purpose, as the central file says
    assert _requests(server) == 0
    problems = doctor(str(bare), "gitlab", str(hooks_dir), {"GL_PROJECT_PATH": "group/scratch"})
    assert len(problems) == 1 and "gate does not guard 'group/scratch'" in problems[0], problems


# --------------------------------------------------------------------------------------------
# gitolite


def test_gitolite_layout_runs_after_gitoliteʼs_access_check_and_survives_compiles(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    site = gitolite_site(tmp_path / "gitolite")
    bare = site.repo("models")
    with pytest.raises(GateError) as refused:
        install_hook(str(bare), server.url, str(token_file), str(policy_file))
    assert "--layout gitolite" in str(refused.value)

    central = central_config(tmp_path / "central.toml", server.url, token_file, "gitolite")
    lines = install_hook(
        None, layout="gitolite", local_code=str(site.local_code), central=str(central)
    )
    assert "        option hook.pre-receive  = gate" in lines
    site.set_hooks(["models pre-receive gate", "models post-receive gate-post-receive"])
    site.compile()
    site.allow("models", "dana")
    site.allow("models", "agent-trainer")
    # gitolite.conf's `config receive.fsckObjects = true` for the repository
    subprocess.run(["git", "--git-dir", str(bare), "config", "receive.fsckObjects", "true"])
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    assert clone.push(env=site.env("dana", "models")).ok

    _agent_commit(clone)
    denied = clone.push(env=site.env("mallory-agent", "models"))  # gitolite denies mallory
    assert not denied.ok and "gitolite does not let mallory-agent write" in denied.stderr
    assert _requests(server) == 0, "no request for a push gitolite refuses"

    site.compile()  # a push to gitolite-admin: hooks/pre-receive* unlinked and re-created
    held = clone.push(env=site.env("agent-trainer", "models"))
    assert not held.ok and "waiting for approval" in held.stderr, held.stderr
    assert doctor(str(bare)) == []


def test_gitolite_refusing_hook_still_refuses_and_doctor_sees_gate_gone(
    tmp_path: Path, server: LiveServer, token_file: Path
) -> None:
    site = gitolite_site(tmp_path / "gitolite")
    bare = site.repo("models")
    deny = site.local_code / "hooks" / "repo-specific" / "deny"
    deny.write_text("#!/bin/sh\necho 'policy: no pushes today' >&2\nexit 1\n")
    deny.chmod(0o755)
    central = central_config(tmp_path / "central.toml", server.url, token_file, "gitolite")
    install_hook(None, layout="gitolite", local_code=str(site.local_code), central=str(central))
    site.set_hooks(["models pre-receive gate deny"])
    site.compile()
    site.allow("models", "dana")
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    refused = clone.push(env=site.env("dana", "models"))
    assert not refused.ok and "no pushes today" in refused.stderr
    assert any("after gate" in p for p in doctor(str(bare)))

    site.set_hooks([])  # gate dropped from gitolite.conf: the next compile unlinks nothing...
    (bare / "hooks" / "pre-receive.h00-gate").unlink()  # ... until an admin cleans up
    problems = doctor(str(bare))
    assert len(problems) == 1 and "gitolite re-creates" in problems[0], problems


# --------------------------------------------------------------------------------------------
# GitHub Enterprise Server


def _ghes(tmp_path: Path, server_url: str, token_file: Path) -> tuple[Path, dict[str, str]]:
    central = central_config(tmp_path / "central.toml", server_url, token_file, "ghes")
    hook_repo = tmp_path / "hook-repo"
    hook_repo.mkdir()
    told = " ".join(
        install_hook(None, layout="ghes", hook_repo=str(hook_repo), central=str(central))
    )
    # GHES runs no post-receive hook: the admin is told how disclosure still gets its reports.
    assert "GHES has no post-receive: run `gate reconcile` for disclosure" in told
    bare = ghes_repo(tmp_path / "ghes" / "models.git")
    return bare, {"GHES_HOOK_SCRIPTS": str(hook_repo / "gate-pre-receive.sh")}


def test_ghes_pull_request_author_counts_as_the_pusher(
    tmp_path: Path, server: LiveServer, token_file: Path
) -> None:
    bare, runner = _ghes(tmp_path, server.url, token_file)
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("seed", {"README.md": "x\n"})
    human = {**runner, "GITHUB_USER_LOGIN": "dana", "GITHUB_REPO_NAME": "org/models"}
    assert clone.push(env=human).ok  # no gate.toml in the repository, and no refusal
    clone.commit("looks human", {"train/loop.py": "1\n"})
    merge = {
        **human,
        "GITHUB_VIA": "pull request merge button",
        "GITHUB_PULL_REQUEST_AUTHOR_LOGIN": "agent-trainer",
    }
    held = clone.push(env=merge)
    assert not held.ok and "waiting for approval" in held.stderr, held.stderr
    assert remote_ref(bare) != clone.head()


def test_ghes_slow_server_gets_gates_refusal_before_ghes_kills_the_hook(
    tmp_path: Path, token_file: Path
) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    try:
        bare, runner = _ghes(tmp_path, f"http://127.0.0.1:{listener.getsockname()[1]}", token_file)
        clone = WorkClone(bare, tmp_path / "work")
        _agent_commit(clone)
        result = clone.push(env={**runner, "GITHUB_USER_LOGIN": "agent-trainer"})
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert not result.ok
    assert "gate: push refused" in result.stderr and "did not answer within" in result.stderr
    assert "exceeded the 5 second time limit" not in result.stderr


def test_install_hook_and_doctor_on_the_command_line(
    tmp_path: Path, server: LiveServer, token_file: Path, policy_file: Path
) -> None:
    bare = gitea_repo(tmp_path / "gitea" / "models.git")
    common = ["--server", server.url, "--token-file", str(token_file), "--policy", str(policy_file)]

    def gate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GATE, *args], capture_output=True, text=True, timeout=120)

    refused = gate("install-hook", str(bare), *common)
    assert refused.returncode == 1 and "--layout gitea" in refused.stderr
    assert "Traceback" not in refused.stderr
    installed = gate("install-hook", str(bare), *common, "--layout", "gitea")
    assert installed.returncode == 0, installed.stderr
    assert f"gate: installed {bare / 'hooks' / 'pre-receive.d' / 'gate'}" in installed.stdout
    healthy = gate("doctor", str(bare))
    assert healthy.returncode == 0 and "healthy" in healthy.stdout, healthy.stderr
