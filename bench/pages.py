"""Benchmark 5: the review queue and a request's page with 10,000 requests vs 10.

Two scratch databases are seeded, each served by gunicorn on 127.0.0.1: three requests are
held through the API (as the hook posts them) and decided through the decision service, and
the rest are bulk copies of their rows (Core INSERTs of every column of requests, held items,
request facets and decisions; 1-3 held items with a ~4 KB diff each; 70 % pending, 20 %
approved, 10 % denied, spread over 20 repositories), checked column by column against the
service-written ones. Audit records are not bulk-seeded (neither page reads them). A reviewer logs in
over HTTP; the queue (``/requests``) and the page of the newest pending request are fetched
``--runs`` times from each server, interleaved, and the medians compared.

    .venv/bin/python bench/pages.py [--requests 10000] [--small 10] [--runs 30]
        [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import requests
from _common import machine, start_server, workdir
from server_concurrency import PASSWORD, PG_ADMIN, body, item, scratch_postgres

from gate.server.content import verify_commit_item

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# Columns that differ from one request (or item, facet, decision) to the next; every other
# column is copied from template rows written through the API and the decision service.
_VARYING = {
    "requests": {"id", "repository_id", "ref", "old", "new", "state", "created_at", "decided_at"},
    "held_items": {"id", "request_id", "repository_id", "key", "summary", "message", "meta"}
    | {"guards", "diffs", "diff_sha256", "content_sha256"},
    "request_facets": {"id", "request_id"},
    "decisions": {"id", "request_id", "created_at", "attestation", "attested_sha256"},
}


def _rows(table: Any, where: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from gate.server.extensions import db

    return [
        dict(r._mapping)
        for r in db.session.execute(select(table).where(where).order_by(table.c.id))
    ]


def _templates(base_url: str, token: str, reviewer: Any) -> dict[str, int]:
    """Three real requests, held through the API (as the hook posts them), then one left
    pending, one approved and one denied through the decision service: state -> request id."""
    from gate.server.services.decisions import attestation_for, decide, get_request

    ids: dict[str, int] = {}
    # Decided ones first: a pusher's new push to a ref supersedes its pending request there.
    for number, state in enumerate(("approved", "denied", "pending")):
        items = [item(10 * number + k, 200) for k in range(2)]
        answer = requests.post(
            f"{base_url}/api/v1/holds",
            data=body("org/repo-0", items),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
        )
        answer.raise_for_status()
        request_id = answer.json()["items"][0]["request_id"]
        ids[state] = request_id
        request = get_request(request_id)
        if state == "approved":
            decide(
                request,
                reviewer,
                "approve",
                "ok",
                password=PASSWORD,
                attest=True,
                shown_sha256=attestation_for(request).sha256,
            )
        elif state == "denied":
            decide(request, reviewer, "deny", "no")
    return ids


def seed(database_url: str, count: int, base_url: str, token: str) -> int:
    """``count`` requests; returns the id of the newest pending one.

    The first three go through the real API and decision service; the rest are bulk copies of
    their rows (Core INSERTs of every column: requests, held items, request facets, decisions),
    with only keys, ids, times and the values derived from them changed. ``_check`` then
    compares a copy of each state with its template, column by column.
    """
    from sqlalchemy import insert, select

    from gate.server.app import create_app
    from gate.server.extensions import db
    from gate.server.models import (
        ApprovalRequest,
        Decision,
        HeldItem,
        Repository,
        RequestFacet,
        User,
    )
    from gate.server.services.accounts import add_user

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "seed"})
    with app.app_context():
        add_user("alice", "Alice Reviewer", "alice@example.com", PASSWORD)
        add_user("bob", "Bob Reviewer", "bob@example.com", PASSWORD)
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        template_ids = _templates(base_url, token, alice)
        tables = {
            "requests": ApprovalRequest.__table__,
            "held_items": HeldItem.__table__,
            "request_facets": RequestFacet.__table__,
            "decisions": Decision.__table__,
        }
        templates = {
            state: {
                "requests": _rows(tables["requests"], tables["requests"].c.id == rid)[0],
                "held_items": _rows(tables["held_items"], tables["held_items"].c.request_id == rid),
                "request_facets": _rows(
                    tables["request_facets"], tables["request_facets"].c.request_id == rid
                ),
                "decisions": _rows(tables["decisions"], tables["decisions"].c.request_id == rid),
            }
            for state, rid in template_ids.items()
        }
        db.session.execute(
            insert(Repository), [{"name": f"org/repo-{n}"} for n in range(1, min(count, 20))]
        )
        repos = list(db.session.scalars(select(Repository.id).order_by(Repository.id)))
        names = {i: name for i, name in db.session.execute(select(Repository.id, Repository.name))}
        start = datetime.now(UTC) - timedelta(days=30)
        states = ["pending"] * 7 + ["approved"] * 2 + ["denied"]
        bulk = max(0, count - len(template_ids))
        plan = [(n, states[n % len(states)]) for n in range(bulk)]
        rows = []
        for n, state in plan:
            t = templates[state]["requests"]
            row = {k: v for k, v in t.items() if k != "id"}
            created = start + timedelta(seconds=n * 30)
            row.update(
                repository_id=repos[n % len(repos)],
                ref=f"refs/heads/task-{n}",  # one branch per task: none superseded
                old=f"{n:040x}",
                new=_key(n, 1 + n % 3 - 1),
                created_at=created,
                decided_at=None if state == "pending" else created + timedelta(seconds=600),
            )
            rows.append(row)
        for chunk in range(0, len(rows), 2000):
            db.session.execute(insert(ApprovalRequest), rows[chunk : chunk + 2000])
        ids = list(
            db.session.scalars(
                select(ApprovalRequest.id)
                .where(ApprovalRequest.id.not_in(list(template_ids.values())))
                .order_by(ApprovalRequest.id)
            )
        )
        items: list[dict[str, Any]] = []
        facets: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        for (n, state), request_id in zip(plan, ids, strict=True):
            tmpl = templates[state]
            repo_id = repos[n % len(repos)]
            keys = [_key(n, k) for k in range(1 + n % 3)]
            for k, key in enumerate(keys):
                number = 1_000 + 3 * n + k
                sent = verify_commit_item(item(number, 200), "bench")  # as the API stores it
                t = tmpl["held_items"][0]
                row = {c: v for c, v in t.items() if c != "id"}
                message = sent["commit"]["message"]
                row.update(
                    request_id=request_id,
                    repository_id=repo_id,
                    key=key,
                    summary=message.split("\n", 1)[0][:500],
                    message=message,
                    meta={"commit": sent["commit"]},
                    guards=sent["guards"],
                    diffs=sent["diffs"],
                    diff_sha256=sent["diff_sha256"],
                    content_sha256=sent["content_sha256"],
                )
                items.append(row)
            facets += [
                {c: v for c, v in f.items() if c != "id"} | {"request_id": request_id}
                for f in tmpl["request_facets"]
            ]
            lines = "".join(
                f"{row['key']} {row['diff_sha256']} {row['content_sha256']}\n"
                for row in items[-len(keys) :]
            )
            digest = hashlib.sha256(lines.encode()).hexdigest()
            for d in tmpl["decisions"]:
                row = {c: v for c, v in d.items() if c != "id"}
                row.update(
                    request_id=request_id,
                    created_at=rows[n]["decided_at"],
                    attested_sha256=digest,
                    attestation=None
                    if d["attestation"] is None
                    else (
                        f"I reviewed {_what(keys)} in {names[repo_id]}, diff SHA-256 {digest}, "
                        f"for guard training."
                    ),
                )
                decisions.append(row)
            if len(items) >= 3000:
                db.session.execute(insert(HeldItem), items)
                items = []
        if items:
            db.session.execute(insert(HeldItem), items)
        for chunk in range(0, len(facets), 5000):
            db.session.execute(insert(RequestFacet), facets[chunk : chunk + 5000])
        if decisions:
            db.session.execute(insert(Decision), decisions)
        db.session.commit()
        _check(tables, templates, template_ids, ids, plan)
        newest = db.session.scalar(
            select(ApprovalRequest.id)
            .where(ApprovalRequest.state == "pending")
            .order_by(ApprovalRequest.id.desc())
            .limit(1)
        )
        db.engine.dispose()
    return int(newest or 0)


def _key(n: int, k: int) -> str:
    return hashlib.sha1(f"{n} {k}".encode()).hexdigest()


def _what(keys: list[str]) -> str:
    if len(keys) == 1:
        return f"commit {keys[0][:12]}"
    return f"commits {keys[0][:12]}..{keys[-1][:12]} ({len(keys)} commits)"


def _check(
    tables: dict[str, Any],
    templates: dict[str, Any],
    template_ids: dict[str, int],
    ids: list[int],
    plan: list[tuple[int, str]],
) -> None:
    """A seeded request of each state has the same columns, types, nulls and fixed values as
    the request the services wrote; the attestation is what the service would compute."""
    from gate.server.services.decisions import attestation_for, attested_sha256, get_request

    for state in template_ids:
        request_id = next((rid for (_n, s), rid in zip(plan, ids, strict=True) if s == state), None)
        if request_id is None:
            continue
        copy = {
            "requests": _rows(tables["requests"], tables["requests"].c.id == request_id),
            "held_items": _rows(
                tables["held_items"], tables["held_items"].c.request_id == request_id
            ),
            "request_facets": _rows(
                tables["request_facets"], tables["request_facets"].c.request_id == request_id
            ),
            "decisions": _rows(tables["decisions"], tables["decisions"].c.request_id == request_id),
        }
        for name, varying in _VARYING.items():
            made = templates[state][name]
            made = made if isinstance(made, list) else [made]
            if len(copy[name]) != len(made) and name != "held_items":
                raise SystemExit(
                    f"seed: {state} {name}: {len(copy[name])} rows, service wrote {len(made)}"
                )
            for a, b in zip(copy[name], made, strict=False):  # items: 1-3 vs 2
                for column in b:
                    same = column in varying or a[column] == b[column]
                    if set(a) != set(b) or not same or (a[column] is None) != (b[column] is None):
                        raise SystemExit(
                            f"seed: {state} {name}.{column}: {a[column]!r} vs {b[column]!r}"
                        )
                    if type(a[column]) is not type(b[column]):
                        raise SystemExit(f"seed: {state} {name}.{column}: type differs")
        request = get_request(request_id)
        for d in request.decisions:
            if d.attested_sha256 != attested_sha256(request) or (
                d.attestation is not None and d.attestation != attestation_for(request).statement
            ):
                raise SystemExit(f"seed: {state} decision attestation differs from the service's")


class Reviewer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        page = self.http.get(f"{url}/login", timeout=30)
        token = unescape(_CSRF.search(page.text).group(1))  # type: ignore[union-attr]
        done = self.http.post(
            f"{url}/login",
            data={"username": "bob", "password": PASSWORD, "csrf_token": token},
            timeout=30,
        )
        if "/login" in done.url:
            raise RuntimeError("login failed")

    def fetch(self, path: str) -> float:
        start = time.perf_counter()
        response = self.http.get(f"{self.url}{path}", timeout=60)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
        return elapsed


def start(tmp: Path, name: str, database: str, admin: str, count: int, stack: list[Any]):  # type: ignore[no-untyped-def]
    if database == "sqlite":
        url = f"sqlite:///{tmp / f'{name}.db'}"
    else:
        scratch = scratch_postgres(admin)
        url = scratch.__enter__()
        stack.append(scratch)
    server, base, token = start_server(tmp, url, 1)
    stack.append(server)
    newest = seed(url, count, base, token)
    return Reviewer(base), newest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    args = parser.parse_args()
    args.requests = min(args.requests, 100_000)
    print(f"# pages ({args.database}): {machine()}")
    stack: list[Any] = []
    with workdir("pages") as tmp:
        try:
            t = time.monotonic()
            big, big_id = start(tmp, "big", args.database, args.pg_admin_url, args.requests, stack)
            small, small_id = start(
                tmp, "small", args.database, args.pg_admin_url, args.small, stack
            )
            print(f"# seeded in {time.monotonic() - t:.1f} s")
            for label, big_path, small_path in (
                ("queue page /requests", "/requests", "/requests"),
                ("request page", f"/requests/{big_id}", f"/requests/{small_id}"),
            ):
                big.fetch(big_path), small.fetch(small_path)  # warm up
                times: dict[str, list[float]] = {"big": [], "small": []}
                deadline = time.monotonic() + 120
                for n in range(args.runs):
                    order = ("big", "small") if n % 2 == 0 else ("small", "big")
                    for which in order:
                        who, path = (big, big_path) if which == "big" else (small, small_path)
                        times[which].append(who.fetch(path))
                    if time.monotonic() > deadline:
                        break
                b, s = statistics.median(times["big"]), statistics.median(times["small"])
                print(
                    f"{label:<24} {args.requests} requests {b * 1000:7.1f} ms  "
                    f"{args.small} requests {s * 1000:7.1f} ms  ratio {b / s:5.2f}x  "
                    f"(runs {len(times['big'])}; goal <= 2x)"
                )
        finally:
            for thing in reversed(stack):
                if hasattr(thing, "terminate"):
                    thing.terminate()
                    thing.wait(10)
                else:
                    thing.__exit__(None, None, None)


if __name__ == "__main__":
    main()
