"""Every stored request renders and can be decided, including rows written before the API
validated what hooks send (hand-inserted here as raw JSON text, as an old server stored them)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.support.auditlog import commit_item, push
from tests.support.server import LiveServer, add_reviewer, new_token

DEEP = "[" * 5000 + "]" * 5000


def legacy_rows(dialect: str) -> list[tuple[str, dict[str, str]]]:
    """(label, column -> raw JSON text) for held_items rows an older server could hold."""
    rows = [
        ("diffs=[1]", {"diffs": "[1]"}),
        ("diffs not a list", {"diffs": '{"files": 3}'}),
        ("files not a list", {"diffs": '[{"parent": 7, "files": "x", "truncated": "yes"}]'}),
        ("file entries of any type", {"diffs": '[{"files": [1, null, "a", [2]]}]'}),
        (
            "wrong-typed counts",
            {
                "diffs": json.dumps(
                    [
                        {
                            "files": [
                                {
                                    "path": 5,
                                    "status": ["A"],
                                    "additions": "x",
                                    "deletions": -3,
                                    "old_size": True,
                                    "new_size": 1e300,
                                    "patch": {"not": "text"},
                                    "binary": "no",
                                    "old_path": 9,
                                }
                            ]
                        }
                    ]
                )
            },
        ),
        (
            "a patch that is not a diff",
            {"diffs": '[{"files": [{"path": "a", "patch": "@@ x\\n+y"}]}]'},
        ),
        ("deep nesting", {"diffs": DEEP, "guards": DEEP, "signals": DEEP, "meta": DEEP}),
        ("guards as a list", {"guards": '["train"]', "signals": '[1, "x", {"kind": 3}]'}),
        ("guards with bad paths", {"guards": '{"train": [1, {"a": 2}], "model": "all"}'}),
        ("meta of another shape", {"meta": '["commit"]'}),
        (
            "removed and trailers of another shape",
            {
                "meta": '{"removed": [1, [2]], "commit": {"trailers": [["On-behalf-of", 3], 4, "x"]}}'
            },
        ),
    ]
    if dialect == "sqlite":  # PostgreSQL's json type refuses these as input; SQLite kept them
        rows.append(
            (
                "Infinity counts",
                {"diffs": '[{"files": [{"path": "a", "additions": Infinity, "deletions": NaN}]}]'},
            )
        )
    return rows


def stored_request(server: LiveServer, n: int, columns: dict[str, str]) -> int:
    """A request held through the service, then its item's JSON columns overwritten with raw
    text, below the ORM, as an older server's row would read."""
    from gate.server.extensions import db

    request_id = push(server.app, [commit_item(n, "train")])["items"][0]["request_id"]
    with server.app.app_context():  # type: ignore[attr-defined]
        cast = "CAST(:{0} AS json)" if db.engine.dialect.name == "postgresql" else ":{0}"
        assignments = ", ".join(f"{column} = {cast.format(column)}" for column in columns)
        db.session.execute(
            text(f"UPDATE held_items SET {assignments} WHERE request_id = :request"),
            {**columns, "request": request_id},
        )
        db.session.commit()
    return request_id


def dialect(server: LiveServer) -> str:
    from gate.server.extensions import db

    with server.app.app_context():  # type: ignore[attr-defined]
        return db.engine.dialect.name


@pytest.fixture
def people(server: LiveServer) -> None:
    new_token(server.app)
    add_reviewer(server.app, "alice")
    add_reviewer(server.app, "bob")


def test_every_stored_request_renders_and_can_be_decided(server: LiveServer, people: None) -> None:
    alice, bob = server.reviewer("alice"), server.reviewer("bob")
    cases = legacy_rows(dialect(server))
    for n, (label, columns) in enumerate(cases, start=100):
        request_id = stored_request(server, n, columns)
        page = alice.page(f"/requests/{request_id}")
        assert page.status_code == 200, (label, page.text[-2000:])
        assert commit_item(n, "train")["key"] in page.text, label
        queue = alice.page("/requests")
        assert queue.status_code == 200, label
        verdict = "approve" if n % 2 else "deny"
        decided = alice.decide(request_id, verdict, "checked by hand")
        assert decided.status_code == 200 and "Your decision was recorded" in decided.text, (
            label,
            decided.text[-2000:],
        )
        state = "approved" if verdict == "approve" else "denied"
        assert f">{state}<" in bob.page(f"/requests/{request_id}").text, label
