"""The API parses hook bodies with gate.wire: bad input is a structured 400, never a 500, and
never stored in a form that breaks the disclosure pages later."""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate import wire
from tests.support.auditlog import commit_item
from tests.support.cli import run_gate
from tests.support.server import LiveServer, add_reviewer, new_token

OID = "a" * 40


def push_report(report_id: str, **changes: Any) -> dict[str, Any]:
    body = wire.push_report(
        report_id=report_id,
        repository="repo",
        pusher="agent-bot",
        pushed_at="2026-11-30T12:00:00Z",
        policy_sha256="b" * 64,
        guards=["train"],
        refs=[{"ref": "refs/heads/main", "old": "0" * 40, "new": OID}],
        commits=2,
        guarded=[
            {"guard": "train", "day": "2026-11-30", "agent": 1, "human": 1, "agents": {"X": 1}}
        ],
        agent_commits=[{"id": OID, "guards": ["train"], "agents": ["X"]}],
        agent_commits_truncated=False,
    )
    body.update(changes)
    return body


def hold_request() -> dict[str, Any]:
    items = [commit_item(1, "train")]
    return wire.HoldRequest(
        "repo", "refs/heads/main", "0" * 40, items[0]["key"], None, "b" * 64, {"train": 1}, items
    ).to_json()


def post(server: LiveServer, token: str, path: str, body: Any, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{server.url}{path}",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_bad_push_reports_get_400_and_the_metrics_still_render(server: LiveServer) -> None:
    token = new_token(server.app)
    bad = [
        push_report("1" * 32, pushed_at="2026-11-30T12:00:00Z\n"),
        push_report("2" * 32, pushed_at="2026-13-45T99:99:99Z"),
        push_report(
            "3" * 32, guarded=[{"guard": "train", "day": "2026-02-30", "agent": 1, "human": 0}]
        ),
    ]
    for body in bad:
        refused = post(server, token, wire.PUSHES_PATH, body)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "bad_payload" and (
            "pushed_at" in error["message"] or "day" in error["message"]
        )
    good = post(server, token, wire.PUSHES_PATH, push_report("4" * 32))
    assert good.status_code == 200 and good.json()["recorded"] is True

    add_reviewer(server.app, "alice")
    alice = server.reviewer("alice")
    assert alice.page("/metrics").status_code == 200
    downloaded = alice.page("/metrics/report.json")
    assert downloaded.status_code == 200
    assert json.loads(downloaded.text)["totals"][0]["agent_commits"] == 1
    report = run_gate(server.app, "report", "--format", "json")  # type: ignore[arg-type]
    assert report.exit_code == 0, report.output


def test_pushes_take_gzip_like_holds(server: LiveServer) -> None:
    token = new_token(server.app)
    body = json.dumps(push_report("5" * 32)).encode()
    zipped = post(
        server, token, wire.PUSHES_PATH, gzip.compress(body), **{"Content-Encoding": "gzip"}
    )
    assert zipped.status_code == 200, zipped.text
    again = post(server, token, wire.PUSHES_PATH, body)
    assert again.json() == {"recorded": False, "seq": zipped.json()["seq"]}
    for path in (wire.PUSHES_PATH, wire.HOLDS_PATH):
        broken = post(server, token, path, gzip.compress(body)[:-4], **{"Content-Encoding": "gzip"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "bad_payload"
        surrogate = post(server, token, path, b'{"repository": "\\udce9"}')
        assert surrogate.status_code == 400 and "Unicode" in surrogate.json()["error"]["message"]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(
        st.characters(exclude_categories=()), max_size=20
    ),  # lone surrogates and NUL included
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def mutated(data: st.DataObject, valid: dict[str, Any]) -> Any:
    """A valid body with one field replaced, removed, or given a sibling."""
    body = copy.deepcopy(valid)
    path = data.draw(st.sampled_from(paths(body)))
    replacement = data.draw(JSON)
    if not path:
        return replacement
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=8))] = replacement
    else:
        parent[path[-1]] = replacement
    return body


def renders(app: Any) -> None:
    from gate.disclosure.compute import compute_report
    from gate.disclosure.render import render
    from gate.server.services.disclosure import audit_records

    with app.app_context():
        report = compute_report(audit_records())
        for fmt in ("json", "csv"):  # html adds only plots: rendered by the /metrics test
            render(report, fmt)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_bodies_never_give_a_500(server: LiveServer, data: st.DataObject) -> None:
    token = getattr(server, "fuzz_token", None) or new_token(server.app)
    server.fuzz_token = token  # type: ignore[attr-defined]
    counter = getattr(server, "fuzz_count", 0) + 1
    server.fuzz_count = counter  # type: ignore[attr-defined]
    path, valid = data.draw(
        st.sampled_from(
            [(wire.HOLDS_PATH, hold_request()), (wire.PUSHES_PATH, push_report(f"{counter:032x}"))]
        )
    )
    body = mutated(data, valid)
    try:
        raw = json.dumps(body).encode()
    except (TypeError, ValueError):
        return
    response = post(server, token, path, raw)
    # 409: a mutated hold whose content was not all sent would supersede an earlier one
    assert response.status_code in (200, 400, 409), (body, response.text)
    if response.status_code != 200:
        error = response.json()["error"]
        assert set(error) == {"code", "message"} and error["message"]
        assert response.status_code == 400 or error["code"] == wire.HOLD_INCOMPLETE
    renders(server.app)


def test_a_report_stored_before_strict_parsing_is_named_not_fatal(server: LiveServer) -> None:
    """Logs are append-only: a bad report an older server accepted stays, so the report skips
    it by name instead of failing on every page view."""
    from gate.server.extensions import db
    from gate.server.services import audit
    from gate.server.services.actor import Actor

    with server.app.app_context():  # type: ignore[attr-defined]
        record = audit.append(
            "push.accepted",
            actor=Actor("hook-token:1:old server", "hook-token"),
            subject=push_report("6" * 32, pushed_at="2026-13-45T99:99:99Z"),
            policy_sha256="b" * 64,
        )
        seq = record.seq
        db.session.commit()
    token = new_token(server.app)
    assert post(server, token, wire.PUSHES_PATH, push_report("7" * 32)).status_code == 200
    add_reviewer(server.app, "alice")
    alice = server.reviewer("alice")
    assert alice.page("/metrics").status_code == 200
    report = json.loads(alice.page("/metrics/report.json").text)
    assert report["records"]["unreadable_seqs"] == [seq]
    assert report["totals"][0]["agent_commits"] == 1  # the readable report still counts
