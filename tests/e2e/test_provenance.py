"""Provenance memory end to end (issue 12, point 6): commits an agent account first pushed to
any ref stay agent commits when a human later brings them to a protected ref, by real pushes
through the installed hook."""

from __future__ import annotations

import threading

import pytest

from gate.git.provenance import AgentCommits, check_store, remembered_count
from tests.support.gitrepo import remote_ref
from tests.support.server import (
    POLICY,
    GatedRepo,
    LiveServer,
    add_agent,
    add_reviewer,
    make_gated_repo,
    new_token,
    request_id_from,
)

pytestmark = pytest.mark.e2e

AGENT = "agent-trainer"  # matches the test policy's agents.pushers
LOOKS_HUMAN = ("Dana Human", "dana@example.com")


def _seeded(gated: GatedRepo):  # type: ignore[no-untyped-def]
    clone = gated.clone()
    clone.commit("seed", {"README.md": "hello\n"})
    assert clone.push(pusher="dana").ok
    return clone


def _agent_feature(gated: GatedRepo, clone, files=None) -> str:  # type: ignore[no-untyped-def]
    """The agent account pushes a guarded change, written as a human, to a feature branch."""
    clone.run("checkout", "-q", "-b", "feature")
    commit = clone.commit("tune the loop", files or {"train/loop.py": "steps = 9\n"})
    pushed = clone.push("HEAD:refs/heads/feature", pusher=AGENT)
    assert pushed.ok, pushed.stderr  # an unprotected ref: nothing is held
    assert remote_ref(gated.bare, "refs/heads/feature") == commit
    return commit


def test_human_fast_forward_of_agent_commits_is_held_naming_the_agent(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = _seeded(gated)
    main = remote_ref(gated.bare)
    commit = _agent_feature(gated, clone)
    held = clone.push("HEAD:refs/heads/main", pusher="dana")
    assert not held.ok
    assert remote_ref(gated.bare) == main, "a refused push changes nothing"
    text = "\n".join(held.gate_lines)
    assert commit[:12] in text, text
    assert f"first pushed by agent account {AGENT} to refs/heads/feature at " in text, text
    # Approved, the same fast-forward lands.
    request = request_id_from(held.gate_lines)
    assert server.reviewer("alice").decide(request, "approve", "read it").ok
    landed = clone.push("HEAD:refs/heads/main", pusher="dana")
    assert landed.ok, landed.stderr
    assert remote_ref(gated.bare) == commit


def test_human_merge_commit_of_agent_commits_is_held(gated: GatedRepo) -> None:
    clone = _seeded(gated)
    commit = _agent_feature(gated, clone)
    clone.run("checkout", "-q", "main")
    clone.commit("human docs", {"docs/a.md": "a\n"})
    clone.run("merge", "-q", "--no-ff", "--no-edit", "feature")
    merge = clone.head()
    held = clone.push("HEAD:refs/heads/main", pusher="dana")
    assert not held.ok
    text = "\n".join(held.gate_lines)
    assert commit[:12] in text and merge[:12] not in text, text
    assert f"first pushed by agent account {AGENT}" in text


def test_a_humans_own_commits_are_not_affected(gated: GatedRepo) -> None:
    clone = _seeded(gated)
    _agent_feature(gated, clone)  # the store exists and names the agent's commit
    clone.run("checkout", "-q", "main")
    own = clone.commit("human change", {"train/loop.py": "steps = 2\n"}, author=LOOKS_HUMAN)
    pushed = clone.push("HEAD:refs/heads/main", pusher="dana")
    assert pushed.ok, pushed.stderr
    assert remote_ref(gated.bare) == own
    # A human's branch, pushed by the human and then fast-forwarded: not remembered either.
    clone.run("checkout", "-q", "-b", "human-topic")
    topic = clone.commit("more", {"train/more.py": "x = 1\n"})
    assert clone.push("HEAD:refs/heads/human-topic", pusher="dana").ok
    assert clone.push("HEAD:refs/heads/main", pusher="dana").ok
    assert remote_ref(gated.bare) == topic
    memory = AgentCommits.open(str(gated.bare))
    assert memory is not None and memory.get(topic) is None and memory.get(own) is None


def test_a_push_gate_refuses_leaves_nothing_remembered(gated: GatedRepo) -> None:
    clone = _seeded(gated)
    held_commit = clone.commit("agent to main", {"train/loop.py": "steps = 3\n"})
    held = clone.push("HEAD:refs/heads/main", pusher=AGENT)
    assert not held.ok
    memory = AgentCommits.open(str(gated.bare))
    assert memory is None or memory.get(held_commit) is None
    # The same agent's push to an unprotected ref is accepted, and remembered.
    assert clone.push("HEAD:refs/heads/scratch", pusher=AGENT).ok
    memory = AgentCommits.open(str(gated.bare))
    assert memory is not None
    remembered = memory.get(held_commit)
    assert remembered is not None and remembered.ref == "refs/heads/scratch"
    assert remembered.pusher == AGENT


def test_concurrent_agent_pushes_are_all_remembered(gated: GatedRepo) -> None:
    _seeded(gated)
    clones = []
    for n in range(6):
        work = gated.clone()
        work.run("checkout", "-q", "-b", f"topic{n}")
        commits = [work.commit(f"c{n}.{k}", {f"train/t{n}_{k}.py": f"{k}\n"}) for k in range(5)]
        clones.append((work, n, commits))
    results: dict[int, bool] = {}

    def push(work, n: int) -> None:  # type: ignore[no-untyped-def]
        results[n] = work.push(f"HEAD:refs/heads/topic{n}", pusher=AGENT).ok

    threads = [threading.Thread(target=push, args=(w, n)) for w, n, _ in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results.values()) and len(results) == 6
    memory = AgentCommits.open(str(gated.bare))
    assert memory is not None
    for _, n, commits in clones:
        for oid in commits:
            remembered = memory.get(oid)
            assert remembered is not None and remembered.ref == f"refs/heads/topic{n}", oid
    assert remembered_count(str(gated.bare)) == 30
    assert check_store(str(gated.bare)) == []
    # And each of them, fast-forwarded by a human, is held.
    work, n, commits = clones[0]
    held = work.push("HEAD:refs/heads/main", pusher="dana")
    assert not held.ok and commits[-1][:12] in "\n".join(held.gate_lines)


def test_a_lost_store_refuses_guarded_pushes_and_doctor_says_so(gated: GatedRepo) -> None:
    from gate.git.doctor import doctor

    clone = _seeded(gated)
    commit = _agent_feature(gated, clone)
    store = gated.bare / "gate"
    (store / "agent-commits" / commit[:2]).unlink()
    (store / "agent-pushes").unlink()
    main = remote_ref(gated.bare)
    held = clone.push("HEAD:refs/heads/main", pusher="dana")
    assert not held.ok
    assert remote_ref(gated.bare) == main
    text = "\n".join(held.gate_lines)
    assert "memory of the commits agent accounts pushed" in text and "missing" in text, text
    assert f"gate doctor {gated.bare}" in text
    # A push on no guarded path still passes: it needs no sign-off.
    clone.run("checkout", "-q", "-b", "docs", "main")
    clone.run("reset", "-q", "--hard", main)
    docs = clone.commit("docs", {"docs/b.md": "b\n"})
    assert clone.push("HEAD:refs/heads/main", pusher="dana").ok
    assert remote_ref(gated.bare) == docs
    problems = doctor(str(gated.bare))
    assert any("agent-commit" in p or "agent-pushed" in p for p in problems), problems


def test_a_store_the_hook_cannot_write_refuses_the_agents_push(gated: GatedRepo) -> None:
    clone = _seeded(gated)
    clone.run("checkout", "-q", "-b", "feature")
    clone.commit("c", {"train/loop.py": "1\n"})
    assert clone.push("HEAD:refs/heads/feature", pusher=AGENT).ok
    unreported = gated.bare / "gate" / "unreported"
    for leftover in unreported.iterdir():
        leftover.unlink()
    unreported.rmdir()
    unreported.write_text("not a folder\n")  # the next agent push cannot be written down
    before = remote_ref(gated.bare, "refs/heads/feature")
    clone.commit("d", {"train/loop.py": "2\n"})
    refused = clone.push("HEAD:refs/heads/feature", pusher=AGENT)
    assert remote_ref(gated.bare, "refs/heads/feature") == before
    assert not refused.ok
    assert "could not remember the commits agent account" in "\n".join(refused.gate_lines)


def test_remembered_commits_reach_the_servers_audit_trail(
    gated: GatedRepo, server: LiveServer
) -> None:
    from tests.support.audit import wait_for_push_reports

    clone = _seeded(gated)
    commit = _agent_feature(gated, clone)
    reports = wait_for_push_reports(server.app, 2)  # the seed's, then the agent's feature push
    remembered = [entry for r in reports for entry in r["subject"].get("remembered", [])]
    assert [(e["id"], e["ref"], e["pusher"]) for e in remembered] == [
        (commit, "refs/heads/feature", AGENT)
    ]
    agent_report = next(r for r in reports if r["subject"]["remembered"])
    assert agent_report["subject"]["refs"] == []  # no protected ref moved
    assert not list((gated.bare / "gate" / "unreported").iterdir()), "reported, then dropped"


def _fast_forward_held_for_review(gated: GatedRepo) -> int:
    """The agent account pushes a guarded change to a feature branch; dana, a human,
    fast-forwards main to it: held, the request's id."""
    clone = _seeded(gated)
    _agent_feature(gated, clone)
    held = clone.push("HEAD:refs/heads/main", pusher="dana")
    assert not held.ok
    return request_id_from(held.gate_lines)


def test_the_policy_owner_of_the_agent_that_first_pushed_may_not_approve(
    tmp_path, server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    for name in ("alice", "bob"):
        add_reviewer(server.app, name)
    policy = POLICY + f'\n[agents.owners]\n{AGENT} = "Bob@example.com"\n'
    gated = make_gated_repo(tmp_path / "git", server.url, new_token(server.app), policy=policy)
    request = _fast_forward_held_for_review(gated)
    bob = server.reviewer("bob")
    assert "You cannot approve: you operate the agent" in bob.page(f"/requests/{request}").text
    refused = bob.decide(request, "approve", "mine")
    assert refused.status_code == 403 and "you operate the agent" in refused.text
    assert server.reviewer("alice").decide(request, "approve", "read it").ok


def test_the_server_operator_of_the_agent_that_first_pushed_may_not_approve(
    gated: GatedRepo, server: LiveServer
) -> None:
    add_agent(server.app, AGENT, operator="carol")
    request = _fast_forward_held_for_review(gated)
    refused = server.reviewer("carol").decide(request, "approve", "mine")
    assert refused.status_code == 403 and "you operate the agent" in refused.text
    assert server.reviewer("alice").decide(request, "approve", "read it").ok
