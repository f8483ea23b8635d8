""" "Waiting on me": the pending requests a reviewer may approve and has not, by the decision
service's own rule (groups, separation of duties, the agent's operator), from real pushes,
read over real HTTP, with the count in the navigation bar."""

from __future__ import annotations

import re

from gate.server.database import command
from gate.server.extensions import db
from gate.server.models import ApprovalRequest, User
from gate.server.services.actor import Actor
from gate.server.services.decisions import approval_refusal
from gate.server.services.groups import add_group, set_guard_groups, set_members
from gate.server.services.progress import eligibility_rules
from gate.server.services.queue import waiting_on
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.server import GatedRepo, LiveServer, add_reviewer, request_id_from

AGENT = ("Build Bot", "ci@bots.example.com")


def waiting_ids(html: str) -> list[int]:
    """The request ids listed under "Waiting on you", in order."""
    section = html.split('id="waiting-h"', 1)[1].split("</section>", 1)[0]
    return [int(n) for n in re.findall(r'href="/requests/(\d+)"', section)]


def nav_count(html: str) -> str:
    match = re.search(
        r'class="waiting-link">Waiting on me <span class="count">([^<]+)</span>', html
    )
    assert match, "no waiting count in the navigation"
    return match.group(1)


def held(clone, branch: str, message: str, files: dict[str, str], **commit) -> int:  # type: ignore[no-untyped-def]
    clone.run("checkout", "-q", "-B", branch, "main")
    clone.commit(message, files, **commit)
    result = clone.push(f"HEAD:refs/heads/{branch}")
    assert not result.ok, result.stderr
    return request_id_from(result.gate_lines)


def test_waiting_on_me_lists_what_each_reviewer_may_approve(
    gated: GatedRepo, server: LiveServer
) -> None:
    app = server.app
    add_reviewer(app, "root", role="admin")
    add_reviewer(app, "audrey", role="auditor")
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"})
    assert clone.push().ok
    clone.run("checkout", "-q", "-b", "release/1.0")
    assert clone.push("HEAD:refs/heads/release/1.0").ok
    training = held(
        clone, "release/1.0", "more steps", {"train/loop.py": "steps = 2\n"}, author=AGENT
    )
    model = held(clone, "release/2.0", "wider", {"model/net.py": "layers = 2\n"}, author=AGENT)
    by_carol = held(
        clone,
        "release/3.0",
        "carol's own",
        {"train/loop.py": "steps = 3\n"},
        author=("Carol", "carol@example.com"),
        trailers=[CLAUDE_TRAILER],
    )
    for_alice = held(
        clone,
        "release/4.0",
        "for alice",
        {"train/loop.py": "steps = 4\n"},
        author=AGENT,
        trailers=[
            "On-behalf-of: Alice <alice@example.com>",
            "On-behalf-of: Root <root@example.com>",
        ],
    )
    with command(app):
        leads = add_group("model-leads", actor=Actor.cli())
        bob = db.session.scalar(db.select(User.id).where(User.username == "bob"))
        set_members(leads.id, [bob], actor=Actor.cli())
        set_guard_groups("model", [leads.id], actor=Actor.cli())

    expected = {
        "alice": [training, by_carol],  # not the one made on her behalf; not model (group)
        "bob": [training, model, by_carol, for_alice],
        "carol": [training, for_alice],  # not her own commit
        "root": [training, by_carol, for_alice],  # an admin overrides a trailer's claim
    }
    sessions = {name: server.reviewer(name) for name in expected}
    for name, ids in expected.items():
        page = sessions[name].page("/requests").text
        assert waiting_ids(page) == ids, name
        assert nav_count(page) == str(len(ids)), name
        # the count is on every page, not only the queue
        assert nav_count(sessions[name].page(f"/requests/{training}").text) == str(len(ids))
    auditor = server.reviewer("audrey").page("/requests").text
    assert 'id="waiting-h"' not in auditor and "Waiting on me" not in auditor

    # The same answer as the decision service's rule, for every reviewer and pending request.
    with app.app_context():
        rules = eligibility_rules()
        pending = db.session.scalars(
            db.select(ApprovalRequest).where(ApprovalRequest.state == "pending")
        ).all()
        for name in expected:
            user = db.session.scalar(db.select(User).where(User.username == name))
            assert user is not None
            rule = [r.id for r in pending if approval_refusal(r, user, rules) is None]
            assert sorted(r.id for r in waiting_on(user).requests) == sorted(rule), name

    # Alice's approval settles the training request (one approval needed): gone for everyone.
    assert sessions["alice"].decide(training, "approve", "fine").ok
    assert waiting_ids(sessions["alice"].page("/requests").text) == [by_carol]
    assert waiting_ids(sessions["bob"].page("/requests").text) == [model, by_carol, for_alice]
    # Bob's first of two model approvals: no longer waiting on him; a denial ends one for all.
    assert sessions["bob"].decide(model, "approve", "fine").ok
    assert sessions["carol"].decide(for_alice, "deny", "no, not like this").ok
    page = sessions["bob"].page("/requests").text
    assert waiting_ids(page) == [by_carol]
    assert nav_count(page) == "1"


def test_waiting_on_me_reads_a_bounded_number_of_requests(
    gated: GatedRepo, server: LiveServer
) -> None:
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert clone.push().ok
    ids = [
        held(
            clone,
            f"release/{n}",
            f"step {n}",
            {"train/loop.py": f"steps = {n + 2}\n"},
            author=AGENT,
        )
        for n in range(3)
    ]
    with server.app.app_context():
        alice = db.session.scalar(db.select(User).where(User.username == "alice"))
        assert alice is not None
        assert [r.id for r in waiting_on(alice).requests] == ids
        bounded = waiting_on(alice, scan=2)
        assert [r.id for r in bounded.requests] == ids[:2]
        assert bounded.count == "2+"
