"""gate install-hook: put the pre-receive and post-receive hooks and their settings into a
repository."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from gate.errors import GateError
from gate.git.config import CONFIG_NAME, HookConfig
from gate.git.policy import load_policy
from gate.git.post_receive import CHAINED_HOOK as POST_CHAINED
from gate.git.pre_receive import CHAINED_HOOK
from gate.resources import resource_dir

MARKER = "gate-managed-hook"


def git_dir_of(repo: str | Path) -> Path:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--absolute-git-dir"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise GateError(f"{repo} is not a git repository: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def _boot_code(module: str, failure: str) -> str:
    """What a hook's Python runs: gate's own directory on sys.path, then the module's main().

    When gate cannot be imported from there (uninstalled, or reinstalled elsewhere, such as an
    editable install replacing a wheel), the hook prints one ``gate:`` line and exits non-zero
    (a pre-receive hook then refuses the push) instead of showing the pusher a traceback.
    """
    import gate

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(gate.__file__)))
    head = (
        f"gate: {failure}: gate is not installed where this hook expects it, in {package_parent} ("
    )
    tail = "); re-run `gate install-hook` for this repository (`gate demo` for its demo)."
    return (
        f"import sys\n"
        f"sys.path.insert(0, {package_parent!r})\n"
        f"try:\n"
        f"    from {module} import main\n"
        f"except Exception as exc:\n"
        f"    sys.stderr.write({head!r} + type(exc).__name__ + ': ' + str(exc) + {tail!r} + '\\n')\n"
        f"    sys.exit(1)\n"
        f"sys.exit(main())\n"
    )


def _fits_shebang(python: str) -> bool:
    """Whether ``#!python -IS`` works on Linux: an absolute path with no whitespace, and the
    line within the 127 bytes older kernels read."""
    line = f"#!{python} -IS"
    return (
        python.startswith("/")
        and not any(char.isspace() for char in python)
        and len(line.encode()) <= 127
    )


def _install_script(
    hooks: Path, name: str, chained_name: str, module: str, failure: str
) -> list[str]:
    """Write one of gate's hook scripts; a foreign hook already there is kept and chained."""
    done = []
    target = hooks / name
    if target.exists() and MARKER not in target.read_text(encoding="utf-8", errors="replace"):
        chained = hooks / chained_name
        if chained.exists():
            raise GateError(f"both {target} and {chained} exist; move one of them away first")
        target.rename(chained)
        done.append(f"kept the existing {name} hook as {chained}; gate runs it too")
    direct = resource_dir("hooks") / f"{name}.direct"
    if direct.exists() and _fits_shebang(sys.executable):
        script = direct.read_text(encoding="utf-8")
        script = script.replace("@PYTHON@", sys.executable).replace(
            "@BOOT@", _boot_code(module, failure)
        )
    else:
        script = (resource_dir("hooks") / name).read_text(encoding="utf-8")
        script = script.replace("'@PYTHON@'", shlex.quote(sys.executable))
        script = script.replace("'@BOOT@'", shlex.quote(_boot_code(module, failure)))
    tmp = target.with_suffix(".gate-tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, target)
    done.append(f"installed {target}")
    return done


def install_hook(
    repo: str, server: str, token_file: str, policy: str, name: str | None = None
) -> list[str]:
    """Install gate's pre-receive and post-receive hooks; returns lines saying what was done."""
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
    done: list[str] = []
    hooks = git_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    for name, chained_name, module, failure in (
        ("pre-receive", CHAINED_HOOK, "gate.git.pre_receive", "push refused"),
        ("post-receive", POST_CHAINED, "gate.git.post_receive", "push not reported"),
    ):
        done.extend(_install_script(hooks, name, chained_name, module, failure))
    (git_dir / CONFIG_NAME).write_text(config.to_toml(), encoding="utf-8")
    done.append(
        f"wrote {git_dir / CONFIG_NAME} (server {config.server}, repository {config.repository!r})"
    )
    return done
