"""Disclosure end to end: a scripted history of known counts, pushed for real, reported."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.audit import audit_records, wait_for_push_reports
from tests.support.cli import run_gate
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, request_id_from

pytestmark = pytest.mark.e2e

BOT = ("Build Bot", "ci@bots.example.com")
WEEKS = ["2026-03-02", "2026-03-09", "2026-03-16"]  # Mondays
HUMANS_PER_WEEK = [23, 23, 24]  # 70 human commits to train/
AGENTS_PER_WEEK = 10  # 30 agent commits to train/: 7 Claude Code, 3 policy bot each week


def scripted_history(gated: GatedRepo, server: LiveServer) -> None:
    """Three weeks of commits to train/, one push per week (held, approved, re-pushed), plus a
    denied agent commit that never lands."""
    clone = gated.clone()
    clone.commit("initial", {"README.md": "hello\n"}, date="2026-03-01T09:00:00Z")
    assert clone.push(pusher="dana").ok

    clone.commit(
        "risky", {"train/loop.py": "steps = 1e9\n"}, author=BOT, date="2026-03-01T10:00:00Z"
    )
    denied = request_id_from(clone.push(pusher="dana").gate_lines)
    assert server.reviewer("carol").decide(denied, "deny", "too big").ok
    clone.run("reset", "-q", "--hard", "HEAD~1")

    for week, (monday, humans) in enumerate(zip(WEEKS, HUMANS_PER_WEEK, strict=True)):
        for n in range(humans + AGENTS_PER_WEEK):
            day = f"{monday[:8]}{int(monday[8:]) + n % 5:02d}T{10 + n % 8}:00:00Z"
            path = {f"train/w{week}_{n}.py": f"n = {n}\n"}
            if n < AGENTS_PER_WEEK:
                if n < 7:
                    clone.commit(f"agent {week}.{n}", path, trailers=[CLAUDE_TRAILER], date=day)
                else:
                    clone.commit(f"bot {week}.{n}", path, author=BOT, date=day)
            else:
                clone.commit(f"human {week}.{n}", path, date=day)
        held = clone.push(pusher="dana")
        assert not held.ok
        assert server.reviewer("alice").decide(request_id_from(held.gate_lines), "approve", "ok").ok
        landed = clone.push(pusher="dana")
        assert landed.ok, landed.stderr
        assert remote_ref(gated.bare) == clone.head()
    wait_for_push_reports(server.app, 4)


def test_report_figures_match_a_scripted_history(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    scripted_history(gated, server)

    result = run_gate(server.app, "report", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    weeks = {(r["guard"], r["week"]): r for r in report["weeks"]}
    for monday, humans in zip(WEEKS, HUMANS_PER_WEEK, strict=True):
        row = weeks[("training", monday)]
        assert (row["agent_commits"], row["human_commits"]) == (AGENTS_PER_WEEK, humans)
        assert row["agents"] == {"Claude Code": 7, "agents.emails *@bots.example.com": 3}
        assert row["pushers"] == {"dana": humans + AGENTS_PER_WEEK}
    total = next(r for r in report["totals"] if r["guard"] == "training")
    assert (total["agent_commits"], total["human_commits"], total["agent_share"]) == (30, 70, 0.3)
    assert (total["held_requests"], total["approvals"], total["denials"]) == (4, 3, 1)
    assert total["signoffs"] == 3
    assert 0 <= total["signoff_median_s"] <= total["signoff_p90_s"]
    assert not any(r["guard"] == "model" for r in report["totals"]), "nothing touched model/"

    by_push = json.loads(
        run_gate(server.app, "report", "--format", "json", "--week-by", "push").stdout
    )
    assert [(r["agent_commits"], r["human_commits"]) for r in by_push["totals"]] == [(30, 70)]

    week2 = json.loads(
        run_gate(
            server.app,
            "report",
            "--format",
            "json",
            "--since",
            "2026-03-09",
            "--until",
            "2026-03-15",
        ).stdout
    )
    assert [(r["week"], r["agent_commits"], r["human_commits"]) for r in week2["weeks"]] == [
        ("2026-03-09", 10, 23)
    ]

    csv_text = run_gate(server.app, "report", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("repository,guard,week,agent_commits,human_commits")
    assert "repo,training,2026-03-02,10,23,0.303" in csv_text

    # The same figures from an export file alone.
    export = tmp_path / "records.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in audit_records(server.app)))
    from_export = run_gate(server.app, "report", "--format", "json", "--export", str(export))
    assert json.loads(from_export.stdout) == report


def test_report_refuses_bad_input_clearly(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad_date = run_gate(app, "report", "--since", "March")
    assert bad_date.exit_code == 1 and "cannot read 'March' as a date" in bad_date.output
    backwards = run_gate(app, "report", "--since", "2026-03-09", "--until", "2026-03-01")
    assert backwards.exit_code == 1 and "is before --since" in backwards.output
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    unreadable = run_gate(app, "report", "--export", str(junk))
    assert unreadable.exit_code == 1 and "line 1 is not JSON" in unreadable.output
    missing = run_gate(app, "report", "--export", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1 and "cannot read the export" in missing.output


def test_post_receive_spools_when_the_server_is_down_and_resends(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    from gate.git.config import CONFIG_NAME

    config = gated.bare / CONFIG_NAME
    good = config.read_text()
    config.write_text(good.replace(gated.server_url, "http://127.0.0.1:9"))
    clone = gated.clone()
    clone.commit("human", {"train/a.py": "a = 1\n"})
    assert clone.push().ok, "a server that is down never fails a human push"
    spool = gated.bare / "gate-spool"
    deadline = time.monotonic() + 60
    log = spool / "errors.log"
    # The worker logs other misses first (the key registry): wait for the report's own line.
    while time.monotonic() < deadline and not (
        log.exists() and "cannot send" in log.read_text(encoding="utf-8")
    ):
        time.sleep(0.1)
    assert len(list(spool.glob("*.json"))) == 1, "the report waits in the spool"

    config.write_text(good)
    clone.commit("human again", {"train/b.py": "b = 1\n"})
    assert clone.push().ok
    reports = wait_for_push_reports(server.app, 2)
    assert [sum(b["human"] for b in r["subject"]["guarded"]) for r in reports] == [1, 1]
    deadline = time.monotonic() + 60  # the worker removes a report once the server has it
    while list(spool.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(spool.glob("*.json"))


def test_existing_post_receive_hook_is_kept_and_run(server: LiveServer, tmp_path: Path) -> None:
    """The sh post-receive hands the same ref updates to the worker and to the hook it kept."""
    import subprocess

    from gate.git.install import install_hook
    from tests.support.gitrepo import WorkClone
    from tests.support.server import POLICY, new_token

    bare = tmp_path / "kept.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    seen = tmp_path / "seen"
    hook = bare / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\ncat > {seen}\necho 'old hook ran' >&2\n")
    hook.chmod(0o755)
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    token = tmp_path / "t"
    token.write_text(new_token(server.app))
    lines = install_hook(str(bare), server.url, str(token), str(policy), name="kept")
    assert any("kept the existing post-receive hook" in line for line in lines)

    clone = WorkClone(bare, tmp_path / "w")
    clone.commit("human", {"train/a.py": "a = 1\n"})
    pushed = clone.push(pusher="dana")
    assert pushed.ok and "old hook ran" in pushed.stderr
    assert seen.read_text() == f"{'0' * 40} {clone.head()} refs/heads/main\n"
    (report,) = wait_for_push_reports(server.app, 1)
    assert report["subject"]["refs"] == [
        {"ref": "refs/heads/main", "old": "0" * 40, "new": clone.head()}
    ]
