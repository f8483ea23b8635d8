"""The installed hook when gate is no longer where it was installed from: one ``gate:`` line and
a refused push, never a traceback. Both forms of the hook: the ``#!python`` script and the sh
script written when the interpreter's path cannot go on a ``#!`` line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gate
from tests.support.gitrepo import WorkClone
from tests.support.server import POLICY

SOURCE = Path(gate.__file__).resolve().parent
CHECKOUT = SOURCE.parent


def _copy_of_gate(site: Path) -> None:
    """gate laid out as a wheel installs it: the package with its hook templates inside."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(SOURCE, site / "gate", ignore=ignore)
    if not (site / "gate" / "hooks").is_dir():
        shutil.copytree(CHECKOUT / "hooks", site / "gate" / "hooks", ignore=ignore)


@pytest.mark.parametrize("form", ["direct", "sh"])
def test_hook_refuses_with_one_line_when_gate_is_gone(tmp_path: Path, form: str) -> None:
    site = tmp_path / "site"
    _copy_of_gate(site)
    python = sys.executable
    if form == "sh":  # a space in the interpreter's path: it cannot go on a #! line
        spaced = tmp_path / "my venv"
        spaced.symlink_to(sys.prefix, target_is_directory=True)
        python = str(spaced / "bin" / Path(sys.executable).name)
    bare = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    (tmp_path / "token").write_text("t\n")
    (tmp_path / "policy.toml").write_text(POLICY)
    install = (
        f"import sys; sys.path.insert(0, {str(site)!r}); "
        "from gate.git.install import install_hook; "
        f"install_hook({str(bare)!r}, 'http://127.0.0.1:9', {str(tmp_path / 'token')!r}, "
        f"{str(tmp_path / 'policy.toml')!r})"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([python, "-c", install], check=True, env=env, capture_output=True)
    hook = (bare / "hooks" / "pre-receive").read_text()
    assert hook.startswith("#!/bin/sh" if form == "sh" else f"#!{python} -IS")
    assert str(site) in hook

    # The post-receive worker detaches and may still be writing bytecode into the copy after
    # it is removed, which would leave a namespace package named gate behind: this test is
    # about pre-receive alone.
    (bare / "hooks" / "post-receive").unlink()
    clone = WorkClone(bare, tmp_path / "work")
    clone.commit("docs", {"README.md": "# readme\n"})
    assert clone.push().ok  # the hook runs the copy of gate

    shutil.rmtree(site / "gate")
    clone.commit("more docs", {"README.md": "# readme, longer\n"})
    refused = clone.push()
    assert not refused.ok
    assert "Traceback" not in refused.stderr, refused.stderr
    assert refused.gate_lines == [
        f"gate: push refused: gate is not installed where this hook expects it, in {site} "
        "(ModuleNotFoundError: No module named 'gate'); re-run `gate install-hook` for this "
        "repository (`gate demo` for its demo)."
    ]
