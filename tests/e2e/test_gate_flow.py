"""The gate end to end: real pushes to a bare repository with the installed hook and a live server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, make_gated_repo, new_token, request_id_from

pytestmark = pytest.mark.e2e

AGENT = ("Build Bot", "ci@bots.example.com")


def seed(gated: GatedRepo):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit(
        "initial",
        {"README.md": "hello\n", "train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"},
    )
    assert clone.push().ok
    return clone


def test_human_change_to_train_passes(gated: GatedRepo) -> None:
    clone = seed(gated)
    sha = clone.commit("tune", {"train/loop.py": "steps = 2\n"})
    result = clone.push()
    assert result.ok, result.stderr
    assert remote_ref(gated.bare) == sha


def test_claude_code_commit_to_train_is_held_then_approved(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = seed(gated)
    before = remote_ref(gated.bare)
    sha = clone.commit(
        "Speed up training", {"train/loop.py": "steps = 3\n"}, trailers=[CLAUDE_TRAILER]
    )
    result = clone.push()
    assert not result.ok
    assert remote_ref(gated.bare) == before, "a refused push must leave the repository unchanged"
    text = "\n".join(result.gate_lines)
    assert sha[:12] in text and "training" in text and "Claude Code" in text
    request_id = request_id_from(result.gate_lines)
    assert f"{server.url}/requests/{request_id}" in text

    again = clone.push()
    assert not again.ok
    assert request_id_from(again.gate_lines) == request_id, (
        "a re-push must not create a duplicate request"
    )

    alice = server.reviewer("alice")
    page = alice.page(f"/requests/{request_id}")
    assert (
        "steps = 3" in page.text
        and "Speed up training" in page.text
        and "noreply@anthropic.com" in page.text
    )
    response = alice.decide(request_id, "approve", "Looks right")
    assert response.ok and "Your decision was recorded" in response.text

    final = clone.push()
    assert final.ok, final.stderr
    assert remote_ref(gated.bare) == sha


def test_agent_change_to_docs_alone_passes(gated: GatedRepo) -> None:
    clone = seed(gated)
    sha = clone.commit("docs", {"docs/guide.md": "hi\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push().ok
    assert remote_ref(gated.bare) == sha


def test_model_change_needs_two_distinct_reviewers(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    sha = clone.commit("wider model", {"model/net.py": "layers = 2\n"}, author=AGENT)
    request_id = request_id_from(clone.push().gate_lines)
    alice = server.reviewer("alice")
    assert alice.decide(request_id, "approve", "ok").ok
    still = clone.push()
    assert not still.ok and "1/2" in "\n".join(still.gate_lines)
    duplicate = alice.decide(request_id, "approve", "again")
    assert duplicate.status_code == 409 and "already approved" in duplicate.text
    assert not clone.push().ok
    assert server.reviewer("bob").decide(request_id, "approve", "ok too").ok
    assert clone.push().ok
    assert remote_ref(gated.bare) == sha


def test_denied_request_keeps_refusing_with_comment(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    clone.commit("risky", {"train/loop.py": "steps = 99\n"}, trailers=["Assisted-by: Codex:gpt-5"])
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("carol").decide(request_id, "deny", "Too many steps for the budget").ok
    for _ in range(2):
        result = clone.push()
        assert not result.ok
        text = "\n".join(result.gate_lines)
        assert (
            "DENIED" in text
            and "Carol Reviewer" in text
            and "Too many steps for the budget" in text
        )


def test_self_approval_is_refused(gated: GatedRepo, server: LiveServer) -> None:
    from tests.support.server import add_reviewer

    add_reviewer(server.app, "dave", email="dave@example.com")
    clone = seed(gated)
    clone.commit(
        "agent work",
        {"train/loop.py": "steps = 5\n"},
        author=("Dave", "dave@example.com"),
        trailers=[CLAUDE_TRAILER],
    )
    request_id = request_id_from(clone.push().gate_lines)
    response = server.reviewer("dave").decide(request_id, "approve", "mine")
    assert response.status_code == 403 and "you are the author" in response.text
    assert not clone.push().ok


def test_pusher_cannot_approve_own_push(gated: GatedRepo, server: LiveServer) -> None:
    from tests.support.server import add_reviewer

    add_reviewer(server.app, "agent-erin", email="erin@example.com")
    clone = seed(gated)
    clone.commit("pushed by agent account", {"train/loop.py": "steps = 6\n"})
    result = clone.push(pusher="agent-erin")
    request_id = request_id_from(result.gate_lines)
    assert "pusher" in "\n".join(result.gate_lines)
    response = server.reviewer("agent-erin").decide(request_id, "approve", "")
    assert response.status_code == 403 and "you pushed" in response.text


def test_server_down_fails_closed_for_agents_only(tmp_path, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    gated = make_gated_repo(tmp_path / "down", "http://127.0.0.1:9", new_token(server.app))
    clone = gated.clone()
    human = clone.commit("human", {"train/loop.py": "a = 1\n"})
    assert clone.push().ok
    assert remote_ref(gated.bare) == human
    clone.commit("agent", {"train/loop.py": "a = 2\n"}, trailers=[CLAUDE_TRAILER])
    result = clone.push()
    assert not result.ok
    text = "\n".join(result.gate_lines)
    assert "cannot reach the gate server" in text and "fails closed" in text
    assert remote_ref(gated.bare) == human


def test_server_down_names_each_held_commit_with_identities_as_git_shows_them(
    tmp_path: Path, server: LiveServer
) -> None:
    """The refusal lists what needs sign-off; a Latin-1 author reads as git reads it (from the
    commit's encoding header); .mailmap changes the names shown, never what is held."""
    gated = make_gated_repo(tmp_path / "down", "http://127.0.0.1:9", new_token(server.app))
    clone = gated.clone()
    bot = "Copilot <198982749+Copilot@users.noreply.github.com>"
    clone.commit("mailmap", {".mailmap": f"Dana Human <dana@example.com> {bot}\n", "a": "1\n"})
    assert clone.push().ok  # a human's commit: the bare repository's HEAD now has .mailmap
    clone.write("train/loop.py", "a = 2\n")
    clone.run("add", "-A")
    (clone.path / "msg").write_bytes(f"Caf\xe9 fix\n\n{CLAUDE_TRAILER}\n".encode("latin-1"))
    latin1 = {**os.environ, "GIT_AUTHOR_NAME": "J\xf6rg Ex", "GIT_AUTHOR_EMAIL": "j@example.org"}
    env = {os.fsencode(k): os.fsencode(v) for k, v in latin1.items()}
    env[b"GIT_AUTHOR_NAME"] = "J\xf6rg Ex".encode("latin-1")
    subprocess.run(
        ["git", "-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "-F", "msg"],
        cwd=clone.path,
        env=env,
        check=True,
    )
    held = clone.commit("copilot", {"train/loop.py": "a = 3\n"}, author=("Copilot", bot[9:-1]))
    result = clone.push()
    assert not result.ok
    lines = result.gate_lines
    assert "gate: This push holds 2 agent change(s) to guarded paths, which need sign-off:" in lines
    assert "gate: refs/heads/main:" in lines
    text = "\n".join(lines)
    assert f"gate:   {held[:12]} 'copilot'" in text
    assert "gate:     author J\u00f6rg Ex <j@example.org>, committer Dana Human" in text
    # the bot's commit is held by its stored address, shown by its mapped name
    assert "gate:     author Dana Human <dana@example.com>\n" in text + "\n"
    assert "(GitHub Copilot coding agent)" in text
    assert text.count("gate:     guard: training (train/loop.py)") == 2
    assert "\ufffd" not in text


def test_merge_that_slips_in_a_guarded_change_is_caught(gated: GatedRepo) -> None:
    clone = seed(gated)
    clone.run("checkout", "-q", "-b", "side")
    clone.commit("side docs", {"docs/a.md": "a\n"}, trailers=[CLAUDE_TRAILER])
    clone.run("checkout", "-q", "main")
    clone.commit("main docs", {"docs/b.md": "b\n"})
    clone.run("merge", "-q", "--no-ff", "--no-commit", "side")
    clone.write("train/loop.py", "steps = 1000  # evil twin\n")
    clone.run("add", "-A")
    clone.run(
        "-c",
        "user.name=Build Bot",
        "-c",
        "user.email=ci@bots.example.com",
        "commit",
        "-q",
        "-m",
        "Merge side",
    )
    merge = clone.head()
    result = clone.push()
    assert not result.ok
    assert merge[:12] in "\n".join(result.gate_lines)


def test_merge_of_a_human_branch_is_weighed_by_its_commits(gated: GatedRepo) -> None:
    """A merge changes only where it differs from every parent: an agent's merge of a human's
    guarded change passes (the human's commit is weighed, and passes), while the same merge
    resolving the guarded file its own way is held."""
    clone = seed(gated)
    clone.run("checkout", "-q", "-b", "side")
    clone.commit("human tuning", {"train/loop.py": "steps = 500\n"})
    clone.run("checkout", "-q", "main")
    clone.commit("main docs", {"docs/b.md": "b\n"})
    clone.run("merge", "-q", "--no-ff", "--no-commit", "side")
    clone.commit("Merge side", {}, trailers=[CLAUDE_TRAILER])
    assert clone.push().ok

    clone.run("checkout", "-q", "-b", "side2")
    clone.commit("human tuning again", {"train/loop.py": "steps = 600\n"})
    clone.run("checkout", "-q", "main")
    clone.commit("more docs", {"docs/c.md": "c\n"})
    clone.run("merge", "-q", "--no-ff", "--no-commit", "side2")
    merge = clone.commit(
        "Merge side2", {"train/loop.py": "steps = 10**9\n"}, trailers=[CLAUDE_TRAILER]
    )
    result = clone.push()
    assert not result.ok
    assert merge[:12] in "\n".join(result.gate_lines)


def test_rename_out_of_guarded_path_is_caught(gated: GatedRepo) -> None:
    clone = seed(gated)
    clone.run("mv", "train/loop.py", "scratch.py")
    clone.commit("move it out", author=AGENT)
    result = clone.push()
    assert not result.ok
    assert "train/loop.py" in "\n".join(result.gate_lines)


def test_unprotected_branch_passes_but_fast_forward_to_main_is_held(gated: GatedRepo) -> None:
    clone = seed(gated)
    clone.run("checkout", "-q", "-b", "feature")
    sha = clone.commit("agent work", {"train/loop.py": "steps = 7\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push("HEAD:refs/heads/feature").ok
    result = clone.push("HEAD:refs/heads/main")
    assert not result.ok, (
        "commits already in the repository still need sign-off to enter a protected ref"
    )
    assert sha[:12] in "\n".join(result.gate_lines)


def test_same_commit_in_another_repository_needs_its_own_sign_off(
    tmp_path, server: LiveServer, gated: GatedRepo
) -> None:  # type: ignore[no-untyped-def]
    clone = seed(gated)
    clone.commit("agent work", {"train/loop.py": "steps = 8\n"}, trailers=[CLAUDE_TRAILER])
    first = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(first, "approve", "ok").ok
    assert clone.push().ok
    other = make_gated_repo(tmp_path / "other", server.url, new_token(server.app), name="other")
    clone.run("remote", "add", "other", str(other.bare))
    result = clone.push("HEAD:refs/heads/main", None) if False else None
    proc = __import__("subprocess").run(
        ["git", "push", "other", "HEAD:refs/heads/main"],
        cwd=clone.path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert request_id_from(proc.stderr.splitlines()) != first
    del result


def test_amended_commit_is_a_new_request(gated: GatedRepo, server: LiveServer) -> None:
    clone = seed(gated)
    clone.commit("agent work", {"train/loop.py": "steps = 9\n"}, trailers=[CLAUDE_TRAILER])
    first = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(first, "approve", "ok").ok
    clone.run("commit", "-q", "--amend", "-m", "agent work!\n\n" + CLAUDE_TRAILER)
    result = clone.push()
    assert not result.ok
    assert request_id_from(result.gate_lines) != first


def test_tag_and_branch_creation_are_covered(gated: GatedRepo) -> None:
    clone = seed(gated)
    clone.run("checkout", "-q", "-b", "work")
    clone.commit("agent", {"configs/train/lr.yaml": "lr: 1\n"}, trailers=[CLAUDE_TRAILER])
    clone.run("tag", "-a", "v1", "-m", "v1")
    assert not clone.push("refs/tags/v1:refs/tags/v1").ok
    assert not clone.push("HEAD:refs/heads/release/1.0").ok
    assert clone.push("HEAD:refs/heads/scratch").ok


def test_agent_pusher_deleting_or_rewriting_protected_ref_is_held(gated: GatedRepo) -> None:
    clone = seed(gated)
    clone.commit("human train change", {"train/loop.py": "steps = 10\n"})
    assert clone.push().ok
    deletion = clone.push(":refs/heads/main", "agent-x")
    assert not deletion.ok and "deletes a protected ref" in "\n".join(deletion.gate_lines)
    clone.run("reset", "-q", "--hard", "HEAD~1")
    rewrite = clone.push("+HEAD:refs/heads/main", "agent-x")
    assert not rewrite.ok and "force push removes" in "\n".join(rewrite.gate_lines)
    assert clone.push("+HEAD:refs/heads/main", "dana").ok


def test_existing_pre_receive_hook_is_kept_and_run(tmp_path, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    bare = tmp_path / "chained.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do case $ref in *forbidden*) echo 'old hook says no' >&2; exit 1;; esac; done\n"
    )
    hook.chmod(0o755)
    from gate.git.install import install_hook

    policy = tmp_path / "p.toml"
    from tests.support.server import POLICY

    policy.write_text(POLICY)
    token = tmp_path / "t"
    token.write_text(new_token(server.app))
    lines = install_hook(str(bare), server.url, str(token), str(policy))
    assert any("kept the existing pre-receive hook" in line for line in lines)
    from tests.support.gitrepo import WorkClone

    clone = WorkClone(bare, tmp_path / "w")
    clone.commit("x", {"a": "1"})
    assert clone.push("HEAD:refs/heads/main").ok
    refused = clone.push("HEAD:refs/heads/forbidden")
    assert not refused.ok and "old hook says no" in refused.stderr


def test_tightened_policy_is_enforced_on_approved_requests(
    gated: GatedRepo, server: LiveServer
) -> None:
    """An approval given under weaker requirements does not satisfy a stricter policy."""
    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 11\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "ok").ok
    gated.policy.write_text(gated.policy.read_text().replace("approvals = 1", "approvals = 2"))
    result = clone.push()
    assert not result.ok
    assert "training has 1 of the 2 approvals this policy requires" in "\n".join(result.gate_lines)


def test_agent_pusher_fast_forward_outside_guards_passes_and_inside_is_held(
    gated: GatedRepo,
) -> None:
    """An agent account's fast-forward that touches no guarded path passes (the hook's fast
    path settles it); the same account's commit to a guarded path, or a rewrite removing a
    guarded commit, is held."""
    clone = seed(gated)
    clone.commit("docs by the agent account", {"docs/usage.md": "use it\n"})
    assert clone.push(pusher="agent-x").ok
    clone.commit("human train change", {"train/loop.py": "steps = 10\n"})
    assert clone.push(pusher="dana").ok
    clone.commit("train by the agent account", {"train/loop.py": "steps = 11\n"})
    held = clone.push(pusher="agent-x")
    assert not held.ok and "training" in "\n".join(held.gate_lines)
    clone.run("reset", "-q", "--hard", "HEAD~2")
    rewrite = clone.push("+HEAD:refs/heads/main", "agent-x")
    assert not rewrite.ok and "force push removes" in "\n".join(rewrite.gate_lines)


def test_hook_in_sh_form_when_the_interpreter_path_cannot_go_on_a_shebang_line(
    server: LiveServer, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """gate's hooks start Python straight from '#!python -IS'; an interpreter whose path has a
    space (or is too long for the kernel) gets the sh form. Both decide the same pushes."""
    import os
    import sys

    from gate.git.layouts import _fits_shebang

    assert _fits_shebang("/usr/bin/python3")
    assert not _fits_shebang("/opt/my tools/python3")
    assert not _fits_shebang("/" + "x" * 130)
    assert not _fits_shebang("python3")
    # The same interpreter and packages, at a path with a space: a venv made of links.
    prefix = Path(sys.prefix)
    spaced = tmp_path / "venv copy"
    (spaced / "bin").mkdir(parents=True)
    os.symlink(sys.executable, spaced / "bin" / "python")
    os.symlink(prefix / "lib", spaced / "lib")
    (spaced / "pyvenv.cfg").write_text((prefix / "pyvenv.cfg").read_text())
    monkeypatch.setattr(sys, "executable", str(spaced / "bin" / "python"))
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(server.app), name="spaced")
    hook = (gated.bare / "hooks" / "pre-receive").read_text()
    assert hook.startswith("#!/bin/sh") and "'" + str(spaced / "bin" / "python") + "'" in hook
    clone = seed(gated)
    clone.commit("agent", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    held = clone.push()
    assert not held.ok and request_id_from(held.gate_lines)
    monkeypatch.undo()
    direct = make_gated_repo(tmp_path / "git2", server.url, new_token(server.app), name="direct")
    assert (direct.bare / "hooks" / "pre-receive").read_text().startswith(f"#!{sys.executable} -IS")
