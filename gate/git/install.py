"""gate install-hook: put gate's pre-receive and post-receive hooks where the repository's git
host runs hooks (gate.git.layouts), with their settings, after checking that they would work
(gate.git.doctor's checks: nothing is written when one fails)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gate.errors import GateError
from gate.git import layouts
from gate.git.config import (
    HookConfig,
    default_budget,
    load_central_config,
)
from gate.git.layouts import (
    HOOKS,
    SERVER_WIDE,
    Placement,
    git_dir_of,
    hook_script,
    is_gate_hook,
    placement,
)
from gate.git.policy import load_policy


def install_hook(
    repo: str | None,
    server: str | None = None,
    token_file: str | None = None,
    policy: str | None = None,
    name: str | None = None,
    *,
    layout: str = "git",
    budget: float | None = None,
    require_pusher: bool = False,
    unknown_pusher: str = "human",
    central: str | None = None,
    server_wide: str | None = None,
    local_code: str | None = None,
    hook_repo: str | None = None,
    check_server: bool = False,
) -> list[str]:
    """Install gate's hooks for ``layout``; returns lines saying what was done.

    Per repository, the settings go to gate.toml; a server-wide install (``central``) reads
    them from the central configuration. Every check of gate.git.doctor that can be made
    before installing runs first, and nothing is written when one fails.
    """
    from gate.git.doctor import preflight

    git_dir = git_dir_of(repo) if repo is not None else None
    if git_dir is None and layout not in SERVER_WIDE and not server_wide:
        raise GateError(f"--layout {layout} installs into a repository: give its path")
    place = placement(layout, git_dir, central, server_wide, local_code, hook_repo)
    config: HookConfig | None = None
    if central is not None:
        central_config = load_central_config(central)
        if central_config.layout != layout:
            raise GateError(f"{central} is for layout {central_config.layout!r}, not {layout!r}")
        for path in {
            entry.get("policy") or central_config.default_policy
            for entry in central_config.repositories.values()
        } | {central_config.default_policy}:
            if path:
                load_policy(path)
        central_config_token = central_config.token_file
        server_url, token_path = central_config.server, central_config_token
    else:
        if not (server and token_file and policy):
            raise GateError("give --server, --token-file and --policy (or --config FILE)")
        load_policy(policy)  # refuse to install a policy the hook could not use
        assert git_dir is not None
        config = HookConfig(
            server=server.rstrip("/"),
            token_file=str(Path(token_file).resolve()),
            policy=str(Path(policy).resolve()),
            repository=name or str(git_dir),
            budget=budget if budget is not None else default_budget(layout),
            layout=layout,
            require_pusher=require_pusher,
            unknown_pusher=unknown_pusher,
        )
        config.token()  # the token file must be readable and non-empty
        server_url, token_path = config.server, config.token_file
    if not server_url.startswith(("http://", "https://")):
        raise GateError(f"--server must be an http:// or https:// URL, not {server_url!r}")
    problems, warnings = preflight(place, server_url, token_path, check_server)
    if problems:
        raise GateError(
            "nothing was installed",
            lines=[
                "nothing was installed:",
                *(f"  {problem}" for problem in problems),
            ],
        )
    if central is not None and central_config.unlisted == "pass":
        warnings.append(
            f'{central} passes repositories it does not list (unlisted = "pass"): their '
            "pushes are not guarded; gate doctor reports each one"
        )
    done = [f"warning: {w}" for w in warnings]
    done.extend(_restore_dispatchers(place))
    for hook_name, target in place.hooks.items():
        done.extend(_write_hook(place, hook_name, target))
    if config is not None and place.config_path is not None:
        # Replaced, not rewritten in place: a gate.toml an install as root left is replaced
        # by the owner's (the folder is the owner's, which preflight checked).
        tmp = place.config_path.with_name(place.config_path.name + ".gate-tmp")
        tmp.write_text(config.to_toml(), encoding="utf-8")
        os.replace(tmp, place.config_path)
        done.append(
            f"wrote {place.config_path} (server {config.server}, repository "
            f"{config.repository!r}, layout {layout})"
        )
    if git_dir is not None:
        done.extend(_turn_on_fsck(git_dir))
        from gate.git.doctor import object_format_problem

        if problem := object_format_problem(git_dir):
            done.append(f"warning: {problem}")
    done.extend(_next_steps(place))
    return done


def _restore_dispatchers(place: Placement) -> list[str]:
    """Undo what gate before host layouts did to a Gitea repository: its dispatcher, renamed
    to ``*.gate-chained`` under gate's own hook, ran nothing; put it back."""
    if place.layout not in ("gitea", "forgejo") or place.git_dir is None:
        return []
    done = []
    hooks = place.git_dir / "hooks"
    for hook_name, chained_name, *_ in HOOKS:
        chained = hooks / chained_name
        if layouts.is_gitea_dispatcher(chained) and is_gate_hook(hooks / hook_name):
            os.replace(chained, hooks / hook_name)
            done.append(f"put Gitea's dispatcher back as {hooks / hook_name} (from {chained})")
    return done


def _write_hook(place: Placement, hook_name: str, target: Path) -> list[str]:
    done = []
    target.parent.mkdir(parents=True, exist_ok=True)
    if place.chain and target.exists() and not is_gate_hook(target):
        chained_name = next(h[1] for h in HOOKS if h[0] == hook_name)
        chained = target.parent / chained_name
        if chained.exists():
            raise GateError(f"both {target} and {chained} exist; move one of them away first")
        target.rename(chained)
        done.append(f"kept the existing {hook_name} hook as {chained}; gate runs it too")
    tmp = target.with_name(target.name + ".gate-tmp")
    tmp.write_text(hook_script(hook_name, place.central), encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, target)
    done.append(f"installed {target}")
    return done


def _turn_on_fsck(git_dir: Path) -> list[str]:
    """Objects git checks on receipt are objects gate reads as git does (issue 11)."""
    for key in ("receive.fsckObjects", "transfer.fsckObjects"):
        subprocess.run(
            ["git", "config", "--file", str(git_dir / "config"), key, "true"], check=True
        )
    return ["set receive.fsckObjects and transfer.fsckObjects (git checks every pushed object)"]


def _next_steps(place: Placement) -> list[str]:
    if place.layout == "gitolite":
        return [
            "now add to ~/.gitolite.rc (the %RC section, then the ENABLE list):",
            f"    LOCAL_CODE => '{Path(place.hooks['pre-receive']).parents[2]}',",
            "    GIT_CONFIG_KEYS => 'receive\\.fsckObjects',",
            "    'repo-specific-hooks',",
            "and to conf/gitolite.conf in gitolite-admin, for each guarded repository (gate",
            "last: gitolite's hook driver keeps only the last hook's exit status):",
            "    repo models",
            f"        option hook.pre-receive  = {layouts.GITOLITE_CODE}",
            f"        option hook.post-receive = {layouts.GITOLITE_POST_CODE}",
            "        config receive.fsckObjects = true",
            "then push gitolite-admin; gate checks gitolite's access rules before its own.",
        ]
    if place.layout == "ghes":
        script = place.hooks["pre-receive"]
        return [
            f"now commit {script.name} to the hook repository, make it executable there",
            "(git update-index --chmod=+x), and in Site admin > Pre-receive hooks create a hook",
            "with it, in a pre-receive environment that holds this gate and the central config",
            f"({place.central}); GHES has no post-receive: run `gate reconcile` for disclosure.",
        ]
    if place.layout == "gitlab":
        return [
            "GitLab 15.11 and later: custom hooks are meant to be set with `gitaly hooks set`;",
            "this wrote them in place, which Gitaly reads as it is.",
        ]
    return []
