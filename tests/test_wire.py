"""gate.wire: the one definition of hook<->server bodies, strict on both sides."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from typing import Any

import pytest

from gate import wire
from tests.support.objects import root_commit

OID = "a" * 40
SHA = "b" * 64


def push_report(**changes: Any) -> dict[str, Any]:
    body = wire.push_report(
        report_id="c" * 32,
        repository="repo",
        pusher="agent-bot",
        pushed_at="2026-11-30T12:00:00Z",
        policy_sha256=SHA,
        guards=["training"],
        refs=[{"ref": "refs/heads/main", "old": "0" * 40, "new": OID}],
        commits=3,
        guarded=[
            {"guard": "training", "day": "2026-11-30", "agent": 2, "human": 1, "agents": {"X": 2}}
        ],
        agent_commits=[{"id": OID, "guards": ["training"], "agents": ["X"]}],
        agent_commits_truncated=False,
    )
    body.update(changes)
    return body


def hold_request() -> dict[str, Any]:
    key, objects = root_commit({"train/a.py": b"x = 1\n"}, "A <a@x>", "change\n")
    item = wire.commit_item(
        key,
        objects,
        [{"kind": "trailer", "source": "catalog", "agent": "X", "rule": "r", "evidence": "e"}],
        {"training": ["train/a.py"]},
    )
    return wire.HoldRequest(
        "repo", "refs/heads/main", "0" * 40, OID, "agent-bot", SHA, {"training": 1}, [item]
    ).to_json()


def test_what_the_builders_make_the_parsers_take_unchanged() -> None:
    report = push_report()
    assert wire.parse_push_report(report) == report
    body = hold_request()
    parsed = wire.parse_hold_request(body).to_json()
    sent = body["items"][0]["objects"]
    assert parsed["items"][0].pop("objects") == [
        (o["type"], base64.b64decode(o["data"])) for o in sent
    ]
    assert parsed == {
        **body,
        "items": [{k: v for k, v in body["items"][0].items() if k != "objects"}],
    }
    data, headers = wire.encode(body)
    assert wire.decode(data, headers.get("Content-Encoding"), wire.MAX_HOLD_BYTES) == body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pushed_at": "2026-11-30T12:00:00Z\n"}, "pushed_at"),
        ({"pushed_at": "2026-13-45T99:99:99Z"}, "pushed_at"),
        ({"pushed_at": "2026-11-30T12:00:00"}, "pushed_at"),  # no offset: not RFC 3339
        ({"pushed_at": 1_700_000_000}, "pushed_at"),
        ({"guarded": [{"guard": "t", "day": "2026-02-30", "agent": 1, "human": 0}]}, "day"),
        ({"guarded": [{"guard": "t", "day": "2026-02-01", "agent": -1, "human": 0}]}, "agent"),
        ({"guarded": [{"guard": "t", "day": "2026-02-01", "agent": True, "human": 0}]}, "agent"),
        ({"guarded": [{"guard": "t" * 201, "day": "2026-02-01", "agent": 1, "human": 0}]}, "guard"),
        ({"repository": "r" * 501}, "repository"),
        ({"repository": "re\x00po"}, "repository"),
        ({"pusher": "\ud800"}, "pusher"),
        ({"refs": []}, "refs"),
        ({"commits": 1.5}, "commits"),
        ({"report_id": "C" * 32}, "report_id"),
        ({"remembered_count": -1}, "remembered_count"),
        ({"remembered_count": 3}, "remembered_count"),  # more than listed, not truncated
        ({"remembered_count": "3", "remembered_truncated": True}, "remembered_count"),
    ],
)
def test_bad_push_reports_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(wire.WireError, match=field) as refused:
        wire.parse_push_report(push_report(**changes))
    assert refused.value.status == 400 and not str(refused.value).startswith("gate:")


def test_a_report_counts_the_remembered_commits_it_could_not_list() -> None:
    listed = [
        {
            "id": OID,
            "ref": "refs/heads/x",
            "pusher": "agent-bot",
            "pushed_at": "2026-11-30T12:00:00Z",
        }
    ]
    cut = push_report(remembered=listed, remembered_truncated=True, remembered_count=25_000)
    assert wire.parse_push_report(cut)["remembered_count"] == 25_000
    older = push_report(remembered=listed)  # a hook from before the count: what it listed
    del older["remembered_count"]
    assert wire.parse_push_report(older)["remembered_count"] == 1


def test_a_held_commit_names_the_agent_account_that_first_pushed_it() -> None:
    body = hold_request()
    body["items"][0]["first_pushed_by"] = "agent-bot"
    assert wire.parse_hold_request(body).items[0]["first_pushed_by"] == "agent-bot"
    assert "first_pushed_by" not in wire.parse_hold_request(hold_request()).items[0]


def test_a_hold_names_the_guards_whose_approvals_need_a_security_key() -> None:
    body = hold_request()
    assert "approval_methods" not in body["policy"]  # only when set: older servers read the same
    body["policy"]["approval_methods"] = {"training": "webauthn"}
    assert wire.parse_hold_request(body).approval_methods == {"training": "webauthn"}
    assert wire.parse_hold_request(hold_request()).approval_methods == {}
    body["policy"]["approval_methods"] = {"training": "password"}  # the default is never sent
    with pytest.raises(wire.WireError, match="approval_methods"):
        wire.parse_hold_request(body)


def test_times_are_stored_in_one_form() -> None:
    parsed = wire.parse_push_report(push_report(pushed_at="2026-11-30t13:30:00.25+01:30"))
    assert parsed["pushed_at"] == "2026-11-30T12:00:00Z"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["items"][0].update(key="not an id"),
        lambda b: b["items"][0].update(objects=[]),
        lambda b: b["items"][0]["objects"][0].update(type="tag"),
        lambda b: b["items"][0]["objects"][0].update(data="not base64!"),
        lambda b: b["items"][0]["objects"][0].update(data="YQ"),  # unpadded
        lambda b: b["items"][0]["objects"].append(
            {"type": "blob", "data": base64.b64encode(b"x" * (wire.MAX_SENT_BLOB + 1)).decode()}
        ),
        lambda b: b["items"][0]["objects"].extend(
            {"type": "blob", "data": base64.b64encode(bytes([n]) * wire.MAX_SENT_BLOB).decode()}
            for n in range(wire.MAX_SENT_PER_COMMIT // wire.MAX_SENT_BLOB + 1)
        ),
        lambda b: b["items"][0]["signals"].append({"kind": "x"}),
        lambda b: b["items"][0]["guards"].update(training="train/a.py"),
        lambda b: b["policy"]["owners"].update({"agent-bot": "e" * 321}),
        lambda b: b["items"][0].update(first_pushed_by=None),
        lambda b: b["items"][0].update(first_pushed_by=""),
        lambda b: b["items"][0].update(first_pushed_by=["agent-bot"]),
        lambda b: b["items"][0].update(first_pushed_by="\N{GRINNING FACE}" * 200),
        lambda b: b.update(items=[b["items"][0]] * 2),
        lambda b: b.update(
            pusher="\N{GRINNING FACE}" * 200
        ),  # fits the column, not one index entry
        lambda b: b.update(ref="refs/heads/" + "\N{GRINNING FACE}" * 480),
    ],
)
def test_bad_hold_requests_are_refused(mutate: Any) -> None:
    body = copy.deepcopy(hold_request())
    mutate(body)
    with pytest.raises(wire.WireError):
        wire.parse_hold_request(body)


@pytest.mark.parametrize(
    ("raw", "encoding", "code"),
    [
        (b'{"a": NaN}', None, "bad_payload"),
        (b'{"a": 1e999}', None, "bad_payload"),
        (b'{"a": "\\udce9"}', None, "bad_payload"),
        (b'{"a": "\\u0000"}', None, "bad_payload"),
        (b"[" * 100 + b"]" * 100, None, "bad_payload"),
        (b"[" * 100_000 + b"]" * 100_000, None, "bad_payload"),
        (b"\xff", None, "bad_payload"),
        (gzip.compress(b"{}", mtime=0) + b"x", "gzip", "bad_payload"),
        (
            gzip.compress(b"[" + b"0," * 200_000 + b"0]", mtime=0),
            "gzip",
            "request_entity_too_large",
        ),
        (b"{}", "br", "unsupported_media_type"),
    ],
)
def test_bodies_are_decoded_strictly(raw: bytes, encoding: str | None, code: str) -> None:
    with pytest.raises(wire.WireError) as refused:
        wire.decode(raw, encoding, limit=300_000)
    assert refused.value.code == code


def test_an_answer_must_account_for_every_item_sent() -> None:
    answer = {"items": [{"key": OID, "state": "pending", "request_id": 1}], "requests": []}
    assert wire.parse_hold_answer(answer, [OID])["items"][0]["state"] == "pending"
    with pytest.raises(wire.WireError, match="does not account"):
        wire.parse_hold_answer(answer, [OID, "b" * 40])
    for bad in ({**answer["items"][0], "state": "ok"}, {**answer["items"][0], "request_id": "1"}):
        with pytest.raises(wire.WireError):
            wire.parse_hold_answer({"items": [bad]}, [OID])


def test_the_server_builds_hold_answers_the_hook_parses() -> None:
    status = wire.request_status(
        7,
        "denied",
        repository="ml/model",
        ref="refs/heads/main",
        progress="training 1/2",
        approvals={"training": (1, 2)},
        approved_by=["Alice <alice@example.com>"],
        denials=[
            (
                "Bob <bob@example.com>",
                "no: the learning rate",
                [wire.line_comment(OID, "train/lr.py", "new", 3, "0.1 is too high")],
            )
        ],
        superseded_by=None,
    )
    paused = wire.answer_item("b" * 40, "pending", 7, "c" * 64)
    wire.pause_items(paused, [3])
    pause = wire.pause_status(3, ["training"], "incident", "Root", "2026-12-03T10:00:00Z", None)
    answer = wire.hold_answer([wire.answer_item(OID, "denied", 7, None), paused], [status], [pause])
    parsed = wire.parse_hold_answer(answer, [OID, "b" * 40])
    assert [(i["state"], i["pauses"]) for i in parsed["items"]] == [("denied", []), ("paused", [3])]
    assert parsed["items"][1]["content_sha256"] == "c" * 64
    (request,) = parsed["requests"]
    assert request["approvals"] == {"training": {"given": 1, "needed": 2}}
    assert request["denials"] == [
        {
            "reviewer": "Bob <bob@example.com>",
            "comment": "no: the learning rate",
            "comments": [
                {
                    "key": OID,
                    "path": "train/lr.py",
                    "side": "new",
                    "line": 3,
                    "text": "0.1 is too high",
                }
            ],
        }
    ]
    assert parsed["pauses"][0]["reason"] == "incident" and parsed["checkpoint"] is None
    with pytest.raises(AssertionError):
        wire.answer_item(OID, "maybe", 7, None)


def test_server_text_cannot_forge_hook_lines() -> None:
    status = {"id": 1, "state": "pending", "progress": "0/1\ngate: push accepted", "denials": []}
    assert "\n" not in wire.parse_request_status(status)["progress"]


def denied_with(*comments: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "state": "denied",
        "denials": [{"reviewer": "Alice", "comment": "no", "comments": list(comments)}],
    }


def test_line_comments_in_a_denial_are_read_strictly_and_made_terminal_safe() -> None:
    ok = wire.line_comment(OID, "train/loop.py", "new", 50, "Use 50.\x1b[2J\u202e\nnext")
    (denial,) = wire.parse_request_status(denied_with(ok))["denials"]
    (comment,) = denial["comments"]
    assert comment == {
        "key": OID,
        "path": "train/loop.py",
        "side": "new",
        "line": 50,
        "text": "Use 50.\\x1b[2J\\u202e\\nnext",
    }
    assert all(ch.isprintable() for ch in comment["text"])
    # The path is the reviewer's too (a file of the request, but any name git allows).
    odd = wire.line_comment(OID, "a\rgate: accepted", "old", 1, "x")
    assert wire.parse_request_status(denied_with(odd))["denials"][0]["comments"][0]["path"] == (
        "a\\rgate: accepted"
    )
    # A status from before line comments has none.
    assert wire.parse_request_status(denied_with())["denials"][0]["comments"] == []
    old = {"id": 1, "state": "denied", "denials": [{"reviewer": "A", "comment": "no"}]}
    assert wire.parse_request_status(old)["denials"][0]["comments"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"side": "left"}, "side"),
        ({"line": 0}, "line"),
        ({"line": wire.MAX_LINE_NUMBER + 1}, "line"),
        ({"line": "5"}, "line"),
        ({"text": "x" * (wire.COMMENT_LEN + 1)}, "text"),
        ({"text": ""}, "text"),
        ({"text": "a\x00b"}, "text"),
        ({"path": "p" * (wire.COMMENT_PATH_LEN + 1)}, "path"),
        ({"key": "not-a-commit"}, "key"),
    ],
)
def test_line_comment_limits(change: dict[str, Any], field: str) -> None:
    at_limit = wire.line_comment(
        OID, "p" * wire.COMMENT_PATH_LEN, "old", wire.MAX_LINE_NUMBER, "x" * wire.COMMENT_LEN
    )
    assert wire.parse_request_status(denied_with(at_limit))["denials"][0]["comments"]
    with pytest.raises(wire.WireError, match=field):
        wire.parse_request_status(denied_with({**at_limit, **change}))


def test_a_denial_carries_at_most_the_line_comments_one_decision_may_have() -> None:
    one = wire.line_comment(OID, "a.py", "new", 1, "x")
    assert (
        len(
            wire.parse_request_status(denied_with(*[one] * wire.MAX_LINE_COMMENTS))["denials"][0][
                "comments"
            ]
        )
        == wire.MAX_LINE_COMMENTS
    )
    with pytest.raises(wire.WireError, match=r"denials\.comments"):
        wire.parse_request_status(denied_with(*[one] * (wire.MAX_LINE_COMMENTS + 1)))
    # And in a hold answer, which reads each request's status the same way.
    answer = {
        "items": [{"key": OID, "state": "denied", "request_id": 1}],
        "requests": [denied_with(*[one] * (wire.MAX_LINE_COMMENTS + 1))],
    }
    with pytest.raises(wire.WireError, match=r"denials\.comments"):
        wire.parse_hold_answer(answer, [OID])


def test_error_bodies_have_one_shape() -> None:
    body = json.loads(json.dumps(wire.error_body("bad_payload", "pushed_at: no")))
    assert wire.error_text(body) == "pushed_at: no"
    assert wire.error_text({"error": "bad_payload", "message": "old shape"}) is None


@pytest.mark.parametrize(
    ("limit", "field", "mutate"),
    [
        (wire.MAX_APPROVALS, "approvals", lambda b, n: b["policy"].update(approvals={"g": n})),
        (wire.GUARD_LEN, "approvals", lambda b, n: b["policy"].update(approvals={"g" * n: 1})),
        (wire.PUSHER_LEN, "pusher", lambda b, n: b.update(pusher="p" * n)),
        (wire.EMAIL_LEN, "owners", lambda b, n: b["policy"].update(owners={"bot": "e" * n})),
    ],
)
def test_policy_limits_are_inclusive_bounds(limit: int, field: str, mutate: Any) -> None:
    at_limit = copy.deepcopy(hold_request())
    mutate(at_limit, limit)
    wire.parse_hold_request(at_limit)
    over = copy.deepcopy(hold_request())
    mutate(over, limit + 1)
    with pytest.raises(wire.WireError, match=field):
        wire.parse_hold_request(over)


def test_one_item_holds_at_most_max_item_text_characters() -> None:
    body = hold_request()
    guards = body["items"][0]["guards"]
    parsed = wire.parse_hold_request(body).items[0]  # with every default filled in
    room = wire.MAX_ITEM_TEXT - wire.text_size(parsed)
    chunk = wire.TEXT_LEN
    guards["g"] = ["p" * chunk for _ in range(room // chunk)]
    used = wire.text_size(wire.parse_hold_request(body).items[0])
    guards["g"].append("p" * (wire.MAX_ITEM_TEXT - used - 1))  # then topped up to the limit
    guards["g"][-1] += "p" * (
        wire.MAX_ITEM_TEXT - wire.text_size(wire.parse_hold_request(body).items[0])
    )
    assert wire.text_size(wire.parse_hold_request(body).items[0]) == wire.MAX_ITEM_TEXT
    guards["g"][-1] += "p"
    with pytest.raises(wire.WireError, match=r"items\[0\] holds more than") as refused:
        wire.parse_hold_request(body)
    assert refused.value.status == 413


@pytest.mark.parametrize("path", [wire.HOLDS_PATH, wire.PUSHES_PATH])
def test_bodies_are_capped_per_path_before_sending_and_after_decompressing(path: str) -> None:
    limit = wire.BODY_LIMITS[path]
    assert limit <= wire.MAX_BODY_BYTES
    padding = len(json.dumps({"x": ""}, separators=(",", ":")))
    at_limit = {"x": "a" * (limit - padding)}
    data, headers = wire.encode(at_limit, limit)
    assert wire.decode(data, headers["Content-Encoding"], limit) == at_limit
    over = {"x": "a" * (limit - padding + 1)}
    with pytest.raises(wire.WireError, match="push fewer commits") as refused:
        wire.encode(over, limit)
    assert refused.value.status == 413
    with pytest.raises(wire.WireError) as inflated:  # a sender that ignores the cap
        wire.decode(gzip.compress(json.dumps(over).encode(), 1), "gzip", limit)
    assert inflated.value.code == "request_entity_too_large"


def heartbeat(**changes: Any) -> dict[str, Any]:
    body = wire.heartbeat(
        repository="models",
        source="doctor",
        hook_version="0.1.0",
        layout="gitolite",
        sent_at="2026-11-30T12:00:00Z",
        pusher_known=None,
        problems=["hooks/pre-receive is not gate's"],
    )
    body.update(changes)
    return body


def test_heartbeats_round_trip() -> None:
    for body in (
        heartbeat(),
        heartbeat(source="post-receive", pusher_known=False, problems=[]),
        heartbeat(remembered=3),
        heartbeat(remembered=0),
    ):
        assert wire.parse_heartbeat(body) == body
    assert wire.parse_heartbeat_answer({"recorded": True}) == {
        "recorded": True,
        "checkpoint": None,
        "remembered_reported": None,
    }
    answer = {"recorded": True, "remembered_reported": 7}
    assert wire.parse_heartbeat_answer(answer) == {**answer, "checkpoint": None}
    with pytest.raises(wire.WireError, match="remembered_reported"):
        wire.parse_heartbeat_answer({"recorded": True, "remembered_reported": -1})


def signed_note(size: int = 7) -> str:
    """A checkpoint note signed as the server signs one (gate.audit.keys)."""
    from gate.audit.keys import new_key, sign_note

    head = base64.b64encode(bytes(range(32))).decode()
    return sign_note(
        f"gate-audit\n{size}\n{head}\ntime 2026-12-03T07:00:00.000000Z\n", "gate-audit", [new_key()]
    )


def test_a_checkpoint_in_an_answer_is_read_strictly() -> None:
    note = signed_note()
    answer = {"recorded": True, "checkpoint": wire.checkpoint(3, note)}
    parsed = wire.parse_heartbeat_answer(answer)["checkpoint"]
    assert parsed == {"id": 3, "origin": "gate-audit", "size": 7, "note": note}
    held = wire.parse_hold_answer({"items": [], "checkpoint": wire.checkpoint(4, note)}, [])
    assert held["checkpoint"]["id"] == 4


@pytest.mark.parametrize(
    "bad",
    [
        "not a note",
        {"id": 0, "note": "x"},
        {"id": 1},
        {"id": 1, "note": "gate-audit\n7\nAAAA\n\n\u2014 gate-audit AAAAAAAA\n"},  # short head
        {"id": 1, "note": "gate audit\n7\n" + "A" * 43 + "=\n\n\u2014 k AAAAAAAA\n"},
        {"id": 1, "note": "gate-audit\nseven\n" + "A" * 43 + "=\n\n\u2014 k AAAAAAAA\n"},
        {"id": 1, "note": "gate-audit\n7\n" + "A" * 43 + "=\n\n"},  # no signature
        {"id": 1, "note": "gate-audit\n7\n" + "A" * 43 + "=\n\n- k AAAAAAAA\n"},
        {"id": 1, "note": "gate-audit\n7\n" + "A" * 43 + "=\n\u0007\n\n\u2014 k AAAAAAAA\n"},
        {"id": 1, "note": "x" * (wire.MAX_NOTE_BYTES + 1)},
    ],
)
def test_a_malformed_checkpoint_in_an_answer_is_refused(bad: Any) -> None:
    with pytest.raises(wire.WireError, match="checkpoint"):
        wire.parse_heartbeat_answer({"recorded": True, "checkpoint": bad})
    assert wire.parse_checkpoint({"id": 2, "note": signed_note(0)})["size"] == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"source": "cron"}, "source"),
        ({"repository": ""}, "repository"),
        ({"hook_version": "v" * 101}, "hook_version"),
        ({"layout": "x" * 41}, "layout"),
        ({"sent_at": "yesterday"}, "sent_at"),
        ({"pusher_known": "yes"}, "pusher_known"),
        ({"problems": "broken"}, "problems"),
        ({"problems": ["p"] * 101}, "problems"),
        ({"problems": [""]}, "problems"),
        ({"remembered": -1}, "remembered"),
        ({"remembered": "12"}, "remembered"),
        ({"remembered": True}, "remembered"),
        ({"remembered": 2**53 + 1}, "remembered"),
    ],
)
def test_bad_heartbeats_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(wire.WireError, match=field) as refused:
        wire.parse_heartbeat(heartbeat(**changes))
    assert refused.value.status == 400


def test_reconcile_bodies_round_trip_and_answers_name_only_what_was_sent() -> None:
    body = wire.reconcile_request(
        repository="models",
        refs=["refs/heads/main"],
        commits=[{"id": OID, "guards": ["training"], "agents": ["Claude Code"]}],
        truncated=False,
    )
    assert wire.parse_reconcile_request(body) == body
    assert wire.parse_reconcile_answer({"unsigned": [OID], "recorded": 1}, [OID]) == {
        "unsigned": [OID],
        "recorded": 1,
    }
    with pytest.raises(wire.WireError, match="not sent"):
        wire.parse_reconcile_answer({"unsigned": ["c" * 40], "recorded": 0}, [OID])
    with pytest.raises(wire.WireError, match="refs"):
        wire.parse_reconcile_request({**body, "refs": ["main"]})
