"""Heartbeats from the real hooks: every push tells the server the repository is guarded; when a
host replaces gate's hooks (as Gitea's hook resync or a gitolite admin push can), the pushes go
on landing but the heartbeats stop, and the server's overdue alert names the repository."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import gate
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.receiver import Receiver
from tests.support.server import (
    GatedRepo,
    LiveServer,
    eventually,
    heartbeat_of,
    wait_for_heartbeat,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"GATE_WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def test_each_push_sends_a_heartbeat_with_version_and_layout(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = gated.clone()
    clone.commit("initial", {"README.md": "hi\n"})
    assert clone.push(pusher="dana").ok
    first = wait_for_heartbeat(server.app, "repo")
    assert (first.hook_version, first.layout, first.source) == (
        gate.__version__,
        "git",
        "post-receive",
    )
    assert first.unknown_pusher_pushes == 0

    clone.commit("docs", {"docs/a.md": "a\n"})
    assert clone.push().ok  # no authenticated pusher: the server counts it
    counted = eventually(
        lambda: (row := heartbeat_of(server.app, "repo")) and row.unknown_pusher_pushes == 1,
        "a heartbeat counting the push with no pusher",
        60,
    )
    assert counted


def test_hooks_replaced_by_the_host_raise_the_overdue_alert(
    gated: GatedRepo, server: LiveServer, receiver: Receiver
) -> None:
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.heartbeats import check_overdue
    from gate.server.services.notify import add_webhook

    with command(server.app):
        add_webhook(receiver.url, "json", ["repository.heartbeat_overdue"], actor=Actor.cli())
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    last = wait_for_heartbeat(server.app, "repo").last_seen_at

    # The host rewrites its hooks: gate's are gone, the host's own run instead.
    for name in ("pre-receive", "post-receive"):
        hook = gated.bare / "hooks" / name
        hook.write_text("#!/bin/sh\n# the host's own hook, as its resync writes it\nexit 0\n")
    sha = clone.commit("Tune", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    assert clone.push().ok and remote_ref(gated.bare) == sha, "without gate the agent's push lands"
    assert heartbeat_of(server.app, "repo").last_seen_at == last, "and no heartbeat comes"

    later = datetime.now(UTC) + timedelta(
        seconds=server.app.config["GATE_HEARTBEAT_OVERDUE_SECONDS"] + 60
    )
    with command(server.app):
        assert check_overdue(later) == ["repo"]
    eventually(lambda: receiver.received, "the overdue alert at the webhook receiver")
    body = json.loads(receiver.received[0][1])
    assert body["event"] == "repository.heartbeat_overdue"
    assert body["repository"]["repository"] == "repo" and "gate doctor" in body["message"]


def test_a_lost_provenance_store_raises_an_alert_and_doctor_names_it(
    gated: GatedRepo, server: LiveServer, receiver: Receiver
) -> None:
    """GIT_DIR/gate/ gone whole (a restore from a backup without it): the next heartbeat counts
    fewer remembered commits than push reports named, and the server says so."""
    import shutil

    from click.testing import CliRunner

    from gate.cli.main import cli
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.heartbeats import banner
    from gate.server.services.notify import add_webhook
    from tests.support.audit import audit_records, wait_for_push_reports

    with command(server.app):
        add_webhook(receiver.url, "json", ["repository.problem"], actor=Actor.cli())
    clone = gated.clone()
    clone.commit("seed", {"README.md": "hi\n"})
    assert clone.push(pusher="dana").ok
    clone.run("checkout", "-q", "-b", "feature")
    clone.commit("tune", {"train/loop.py": "steps = 9\n"})
    clone.commit("tune more", {"train/loop.py": "steps = 10\n"})
    assert clone.push("HEAD:refs/heads/feature", pusher="agent-trainer").ok
    wait_for_push_reports(server.app, 2)
    eventually(
        lambda: (row := heartbeat_of(server.app, "repo")) and row.remembered_on_host == 2,
        "a heartbeat counting the two remembered commits",
        60,
    )
    assert heartbeat_of(server.app, "repo").remembered_reported == 2
    assert not any(r["action"] == "repository.provenance_lost" for r in audit_records(server.app))

    shutil.rmtree(gated.bare / "gate")  # the store is gone whole
    clone.run("checkout", "-q", "main")
    clone.commit("docs", {"docs/a.md": "a\n"})
    assert clone.push(pusher="dana").ok
    eventually(
        lambda: any(r["action"] == "repository.provenance_lost" for r in audit_records(server.app)),
        "the lost-memory alert in the audit log",
        60,
    )
    (alert,) = [r for r in audit_records(server.app) if r["action"] == "repository.provenance_lost"]
    assert alert["subject"]["remembered_on_host"] == 0
    assert alert["subject"]["remembered_reported"] == 2
    eventually(lambda: receiver.received, "the lost-memory alert at the webhook receiver")
    body = json.loads(receiver.received[0][1])
    assert body["event"] == "repository.problem" and "GIT_DIR/gate/" in body["message"]
    with server.app.app_context():
        shown = banner()
    assert shown is not None and "lost gate's memory of agent-pushed commits of repo" in shown

    # In process: the hook was written by this process's gate, which doctor compares with.
    report = CliRunner().invoke(cli, ["doctor", str(gated.bare), "--report"])
    assert report.exit_code == 1, report.output
    assert "counts 0 commit(s), but the gate server was told of 2" in report.output


def test_a_push_remembering_more_than_a_report_lists_is_counted_whole(
    gated: GatedRepo, server: LiveServer
) -> None:
    """An agent push of MAX_ITEMS + 1 commits: the report lists MAX_ITEMS of them, but the
    server counts all it was told of, so it agrees with the host's store (a short count would
    hide a later partial loss of the store below what was reported)."""
    import subprocess

    from gate.wire import MAX_ITEMS
    from tests.support.audit import wait_for_push_reports

    clone = gated.clone()
    clone.commit("seed", {"README.md": "hi\n"})
    assert clone.push(pusher="dana").ok
    wait_for_push_reports(server.app, 1)
    count = MAX_ITEMS + 1
    stream = ["reset refs/heads/many", "from refs/heads/main"]
    for n in range(count):
        message = f"note {n}"
        stream += [
            "commit refs/heads/many",
            f"committer Dana Human <dana@example.com> {1_700_000_000 + n} +0000",
            f"data {len(message)}",
            message,
            f"M 644 inline docs/n{n % 50}.md",
            f"data {len(str(n))}",
            str(n),
        ]
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=clone.path,
        input="\n".join(stream) + "\n",
        text=True,
        check=True,
    )
    assert clone.push("refs/heads/many:refs/heads/many", pusher="agent-trainer").ok

    (_, report) = wait_for_push_reports(server.app, 2, patience=180)
    subject = report["subject"]
    assert len(subject["remembered"]) == MAX_ITEMS and subject["remembered_truncated"]
    assert subject["remembered_count"] == count
    row = eventually(
        lambda: (beat := heartbeat_of(server.app, "repo")) and beat.remembered_on_host and beat,
        "a heartbeat counting the remembered commits",
        120,
    )
    assert (row.remembered_on_host, row.remembered_reported) == (count, count)
