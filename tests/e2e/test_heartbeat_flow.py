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
