"""gate.server.services.reading on a real database: a tick counts for the reviewer and the
version of the request it was given on, line comments within their limits, drafts their
author's own; the hold answer carries a denial's comments."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gate import wire
from gate.server.database import command
from gate.server.extensions import db
from gate.server.models import User
from gate.server.services import Conflict, NotFound, ServiceError
from gate.server.services.actor import Actor
from gate.server.services.decisions import attested_sha256, decide, get_request
from gate.server.services.reading import add_comment, delete_draft, request_files, set_viewed
from tests.support.auditlog import PASSWORD, commit_item
from tests.support.auditlog import push as hook_push
from tests.support.server import add_reviewer, new_token

ALICE = Actor("alice", "session-password")


def user(name: str) -> User:
    found = db.session.scalar(select(User).where(User.username == name))
    assert found is not None
    return found


@pytest.fixture
def held(app) -> int:  # type: ignore[no-untyped-def]
    add_reviewer(app, "alice")
    add_reviewer(app, "bob")
    new_token(app)
    answer = hook_push(app, [commit_item(1, "train"), commit_item(2, "train")])
    return int(answer["items"][0]["request_id"])


def approve(request_id: int, name: str):  # type: ignore[no-untyped-def]
    return decide(
        get_request(request_id),
        user(name),
        "approve",
        "ok",
        actor=ALICE,
        password=PASSWORD,
        attest=True,
    )


def test_a_tick_counts_for_its_reviewer_and_its_version_only(app, held: int) -> None:  # type: ignore[no-untyped-def]
    with command(app):
        request = get_request(held)
        files = request_files(request)
        assert [(f.path, f.guarded) for f in files] == [
            ("train/file1.py", True),
            ("train/file2.py", True),
        ]
        for f in files:
            set_viewed(request, user("bob"), f.item_id, f.path, True, attested_sha256(request))
            # A tick given on other content (another version of the request) does not count.
            set_viewed(request, user("alice"), f.item_id, f.path, True, "0" * 64)
        with pytest.raises(Conflict, match=r"2 not viewed yet: train/file1\.py"):
            approve(held, "alice")
    with command(app):
        request = get_request(held)
        first = request_files(request)[0]
        set_viewed(
            request, user("alice"), first.item_id, first.path, True, attested_sha256(request)
        )
        # Ticking twice is one tick; a file the request does not have is refused.
        set_viewed(
            request, user("alice"), first.item_id, first.path, True, attested_sha256(request)
        )
        with pytest.raises(NotFound, match="has no file"):
            set_viewed(request, user("alice"), first.item_id, "train/x.py", True, "0" * 64)
        with pytest.raises(Conflict, match=r"1 not viewed yet: train/file2\.py"):
            approve(held, "alice")
    with command(app):
        assert approve(held, "bob").verdict == "approve"


def test_line_comments_have_limits_and_drafts_are_their_authors(app, held: int) -> None:  # type: ignore[no-untyped-def]
    with command(app):
        request = get_request(held)
        f = request_files(request)[0]
        for bad, message in (
            ({"side": "left"}, "old or the new side"),
            ({"line": 0}, "line numbers run from 1"),
            ({"line": wire.MAX_LINE_NUMBER + 1}, "line numbers run from 1"),
            ({"body": "  "}, "needs some text"),
            ({"body": "x" * (wire.COMMENT_LEN + 1)}, "limited to 2,000"),
            ({"path": "train/none.py"}, "has no file"),
        ):
            fields = {"side": "new", "line": 1, "body": "ok", "path": f.path, **bad}
            with pytest.raises(ServiceError, match=message):
                add_comment(request, user("alice"), f.item_id, **fields)  # type: ignore[arg-type]
        first = add_comment(request, user("alice"), f.item_id, f.path, "new", 1, "x" * 2000)
        for n in range(wire.MAX_LINE_COMMENTS - 1):
            add_comment(request, user("alice"), f.item_id, f.path, "new", 1, f"c{n}")
        with pytest.raises(ServiceError, match="at most 100 line comments"):
            add_comment(request, user("alice"), f.item_id, f.path, "new", 1, "one too many")
        with pytest.raises(NotFound):
            delete_draft(request, user("bob"), first.id)  # not bob's
        delete_draft(request, user("alice"), first.id)
        add_comment(request, user("alice"), f.item_id, f.path, "old", 1, "last one fits")


def test_the_hold_answer_carries_a_denials_line_comments(app, held: int) -> None:  # type: ignore[no-untyped-def]
    with command(app):
        request = get_request(held)
        f = request_files(request)[1]
        add_comment(request, user("alice"), f.item_id, f.path, "new", 1, "x = 2 is wrong\x1b[0m")
        decide(request, user("alice"), "deny", "no", actor=ALICE)
    again = hook_push(app, [commit_item(1, "train"), commit_item(2, "train")])
    parsed = wire.parse_hold_answer(again, [item["key"] for item in again["items"]])
    (denial,) = parsed["requests"][0]["denials"]
    assert denial["comments"] == [
        {
            "key": again["items"][1]["key"],
            "path": "train/file2.py",
            "side": "new",
            "line": 1,
            "text": "x = 2 is wrong\\x1b[0m",
        }
    ]
    # The denial is final: no more ticks or comments on it.
    with command(app):
        request = get_request(held)
        with pytest.raises(Conflict, match="already denied"):
            add_comment(request, user("bob"), f.item_id, f.path, "new", 1, "late")
