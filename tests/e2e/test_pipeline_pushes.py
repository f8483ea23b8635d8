"""The one push pipeline end to end, with real pushes through the installed hook: replace refs
cannot show the hook another history, non-ASCII protected refs are protected, and hooks
installed by the previous version keep working.

The hook's server is unreachable here (127.0.0.1:9): a push that holds something is refused
("fails closed"), one that holds nothing passes, which is all these tests need to tell apart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gate
from gate.cli.check import check
from tests.support.gitrepo import CLAUDE_TRAILER, WorkClone, remote_ref
from tests.support.server import POLICY, GatedRepo, make_gated_repo

pytestmark = pytest.mark.e2e

DOWN = "http://127.0.0.1:9"


def _held(result) -> bool:  # type: ignore[no-untyped-def]
    text = "\n".join(result.gate_lines)
    return not result.ok and "cannot reach the gate server" in text


def _seeded(tmp_path: Path, policy: str = POLICY) -> tuple[GatedRepo, WorkClone, str]:
    gated = make_gated_repo(tmp_path / "g", DOWN, "not-used", policy=policy)
    clone = gated.clone()
    base = clone.commit("initial", {"README.md": "hello\n", "train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    clone.run("checkout", "--quiet", "-b", "work")  # gate check in the clone: main stays at base
    return gated, clone, base


def test_a_replace_ref_cannot_hide_a_guarded_change(tmp_path: Path) -> None:
    """An agent pushes refs/replace/<E> -> a docs-only commit (an unprotected ref: passes), then E
    itself, which changes train/, to main: git must not show the hook the replacement."""
    gated, clone, base = _seeded(tmp_path)
    docs = clone.commit("docs only", {"docs/a.md": "a\n"}, trailers=[CLAUDE_TRAILER])
    clone.run("reset", "--quiet", "--hard", base)
    evil = clone.commit("train", {"train/loop.py": "steps = 666\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push(f"{docs}:refs/replace/{evil}").ok
    assert remote_ref(gated.bare, f"refs/replace/{evil}") == docs
    result = clone.push(f"{evil}:refs/heads/main")
    assert _held(result), result.stderr
    assert remote_ref(gated.bare) == base
    clone.run("update-ref", f"refs/replace/{evil}", docs)  # gate check, in a clone that has both
    code, lines = check(str(clone.path), base, evil, "refs/heads/main", None, str(gated.policy))
    assert code == 1 and any(f"HOLD {evil}" in line for line in lines), lines


def test_a_grafts_file_cannot_hide_a_guarded_change(tmp_path: Path) -> None:
    """A grafts file in the repository (info/grafts: "E X") makes git give E the parent X, a
    commit with E's own tree, so E would change nothing: the hook reads the commits as they
    are (grafts ignored), and E's change to train/ is held."""
    gated, clone, base = _seeded(tmp_path)
    twin = clone.commit("same tree", {"train/loop.py": "steps = 666\n"})
    assert clone.push("HEAD:refs/heads/side").ok, "an unprotected branch"
    clone.run("reset", "--quiet", "--hard", base)
    evil = clone.commit("train", {"train/loop.py": "steps = 666\n"}, trailers=[CLAUDE_TRAILER])
    (gated.bare / "info").mkdir(exist_ok=True)
    (gated.bare / "info" / "grafts").write_text(f"{evil} {twin}\n")
    shown = subprocess.run(
        ["git", "diff-tree", "--name-only", "-r", evil],
        cwd=gated.bare,
        capture_output=True,
        text=True,
    )
    assert shown.returncode != 0 or "train/loop.py" not in shown.stdout, "git honours the graft"
    result = clone.push(f"{evil}:refs/heads/main")
    assert _held(result), result.stderr
    assert remote_ref(gated.bare) == base


PROD_POLICY = POLICY.replace(
    'protected_refs = ["refs/heads/main",',
    'protected_refs = ["refs/heads/main", "refs/heads/prod-ü",',
)


def test_a_non_ascii_protected_ref_is_protected(tmp_path: Path) -> None:
    """refs/heads/prod-ü is protected: the hook holds an agent change pushed there, as
    ``gate check`` does, and passes a human one."""
    assert PROD_POLICY != POLICY
    gated, clone, base = _seeded(tmp_path, PROD_POLICY)
    human = clone.commit("human", {"train/loop.py": "steps = 2\n"})
    assert clone.push("HEAD:refs/heads/prod-ü").ok
    agent = clone.commit("agent", {"train/loop.py": "steps = 3\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push("HEAD:refs/heads/prod-ü")
    assert _held(result), result.stderr
    assert remote_ref(gated.bare, "refs/heads/prod-ü") == human
    code, lines = check(str(clone.path), human, agent, "refs/heads/prod-ü", None, str(gated.policy))
    assert code == 1 and any(f"HOLD {agent}" in line for line in lines), lines
    # An ASCII look-alike is not protected: the agent change lands there.
    assert clone.push("HEAD:refs/heads/prod-u").ok
    assert remote_ref(gated.bare, "refs/heads/prod-u") == agent
    assert base


def test_an_agents_deletion_or_force_push_of_a_non_ascii_protected_ref_is_held(
    tmp_path: Path,
) -> None:
    """After the first push (the settings compiled: the fast path decides from then on), an
    agent pusher's deletion of refs/heads/prod-ü, and its force-push that removes a commit
    touching a guarded path, are held; a human's are not,
    and the ASCII look-alike is not protected."""
    gated, clone, base = _seeded(tmp_path, PROD_POLICY)
    human = clone.commit("human", {"train/loop.py": "steps = 2\n"})
    assert clone.push("HEAD:refs/heads/prod-ü").ok
    assert clone.push("HEAD:refs/heads/prod-u").ok
    deletion = clone.push(":refs/heads/prod-ü", "agent-x")
    assert _held(deletion), deletion.stderr
    assert "deletes a protected ref" in "\n".join(deletion.gate_lines)
    assert remote_ref(gated.bare, "refs/heads/prod-ü") == human
    clone.run("reset", "--quiet", "--hard", base)
    rewrite = clone.push("+HEAD:refs/heads/prod-ü", "agent-x")
    assert _held(rewrite), rewrite.stderr
    assert "force push removes" in "\n".join(rewrite.gate_lines)
    assert remote_ref(gated.bare, "refs/heads/prod-ü") == human
    assert clone.push(":refs/heads/prod-u", "agent-x").ok, "the look-alike is not protected"
    assert clone.push("+HEAD:refs/heads/prod-ü", "dana").ok
    assert remote_ref(gated.bare, "refs/heads/prod-ü") == base


# The exact scripts `gate install-hook` wrote before the restructuring (hooks/pre-receive.direct
# and hooks/post-receive of 38fcc6d, with gate.commands.install_hook._boot_code's boot line).
OLD_PRE_RECEIVE = """\
#!@PYTHON@ -IS
# gate-managed-hook: installed by `gate install-hook`; rerun it to update, do not edit.
# All logic lives in the gate package. Python runs this file itself (no shell in between: half
# a millisecond per push). -I keeps pushers' environment out of Python's path; -S skips the
# site module (gate adds site-packages itself only when a push needs them). Where the
# interpreter's path cannot go on a #! line, `gate install-hook` writes the sh form instead.
@BOOT@
"""
OLD_POST_RECEIVE = """\
#!/bin/sh
# gate-managed-hook: installed by `gate install-hook`; rerun it to update, do not edit.
# Reports accepted commits to guarded paths (agents vs humans) to the gate server. The shell
# hands the ref updates to a background worker and returns at once, so the report never
# delays or fails the push (starting Python here would cost as much as the push itself). The
# worker detaches into its own session, lowers its priority, and keeps site-packages (-I, no
# -S): it needs requests.
updates=
while IFS= read -r line || [ -n "$line" ]; do
  updates="$updates$line
"
done
printf '%s' "$updates" | '@PYTHON@' -I -c '@BOOT@' --worker >/dev/null 2>&1 &
chained="${GIT_DIR:-.}/hooks/post-receive.gate-chained"
if [ -x "$chained" ]; then
  printf '%s' "$updates" | "$chained"
fi
"""


def _old_boot(module: str) -> str:
    package_parent = str(Path(gate.__file__).resolve().parent.parent)
    return (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        f"from {module} import main; sys.exit(main())"
    )


def test_hooks_installed_by_the_previous_version_keep_working(tmp_path: Path) -> None:
    gated = make_gated_repo(tmp_path / "old", DOWN, "not-used")
    hooks = gated.bare / "hooks"
    pre = OLD_PRE_RECEIVE.replace("@PYTHON@", sys.executable)
    (hooks / "pre-receive").write_text(pre.replace("@BOOT@", _old_boot("gate.hook")))
    post = OLD_POST_RECEIVE.replace("@PYTHON@", sys.executable)
    (hooks / "post-receive").write_text(post.replace("@BOOT@", _old_boot("gate.postreceive")))
    # The previous version's two cache files: a key this version never writes.
    (gated.bare / "gate-cache").write_bytes(b"\xfb\x00old settings cache")
    (gated.bare / "gate-cache.fast").write_bytes(b"old fast-path summary")
    clone = gated.clone()
    human = clone.commit("human", {"README.md": "x\n", "train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    assert remote_ref(gated.bare) == human
    clone.commit("agent", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert _held(result), result.stderr
    assert remote_ref(gated.bare) == human
    clone.run("reset", "--quiet", "--hard", human)
    clone.commit("agent docs", {"docs/a.md": "a\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push().ok
