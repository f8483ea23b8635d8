"""gate install-hook: put the pre-receive hook and its settings into a repository."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from gate.errors import GateError
from gate.hook import CHAINED_HOOK
from gate.hookconfig import CONFIG_NAME, HookConfig
from gate.policy import load_policy
from gate.resources import resource_dir

MARKER = "gate-managed-hook"


def git_dir_of(repo: str | Path) -> Path:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--absolute-git-dir"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise GateError(f"{repo} is not a git repository: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def _boot_code() -> str:
    """What the hook's Python runs: gate's own directory on sys.path, then gate.hook."""
    import gate

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(gate.__file__)))
    return (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        "from gate.hook import main; sys.exit(main())"
    )


def install_hook(
    repo: str, server: str, token_file: str, policy: str, name: str | None = None
) -> list[str]:
    """Install gate's pre-receive hook; returns lines describing what was done."""
    git_dir = git_dir_of(repo)
    load_policy(policy)  # refuse to install a policy the hook could not use
    token_path = Path(token_file).resolve()
    config = HookConfig(
        server=server.rstrip("/"),
        token_file=str(token_path),
        policy=str(Path(policy).resolve()),
        repository=name or str(git_dir),
    )
    config.token()  # the token file must be readable and non-empty
    if not server.startswith(("http://", "https://")):
        raise GateError(f"--server must be an http:// or https:// URL, not {server!r}")
    done = []
    hooks = git_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    target = hooks / "pre-receive"
    if target.exists() and MARKER not in target.read_text(encoding="utf-8", errors="replace"):
        chained = hooks / CHAINED_HOOK
        if chained.exists():
            raise GateError(f"both {target} and {chained} exist; move one of them away first")
        target.rename(chained)
        done.append(f"kept the existing pre-receive hook as {chained}; gate runs it first")
    script = (resource_dir("hooks") / "pre-receive").read_text(encoding="utf-8")
    script = script.replace("'@PYTHON@'", shlex.quote(sys.executable))
    script = script.replace("'@BOOT@'", shlex.quote(_boot_code()))
    tmp = target.with_suffix(".gate-tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, target)
    (git_dir / CONFIG_NAME).write_text(config.to_toml(), encoding="utf-8")
    done.append(f"installed {target}")
    done.append(
        f"wrote {git_dir / CONFIG_NAME} (server {config.server}, repository {config.repository!r})"
    )
    return done
