"""Benchmark 5: the review queue and a request's page with 10,000 requests vs 10.

Two scratch databases are seeded in bulk (Core INSERTs of the same rows the hold and decision
services write: 1-3 held items with a ~4 KB diff each; 70 % pending, 20 % approved, 10 %
denied, spread over 20 repositories), each served by gunicorn on 127.0.0.1. A reviewer logs in
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
from server_concurrency import PG_ADMIN, scratch_postgres

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def seed(database_url: str, count: int) -> int:
    """``count`` requests in bulk; returns the id of the newest pending one."""
    from sqlalchemy import insert, select

    from gate.app import create_app
    from gate.extensions import db
    from gate.models import ApprovalRequest, Decision, HeldItem, Repository, User
    from gate.services.accounts import add_user

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "seed"})
    with app.app_context():
        add_user("alice", "Alice Reviewer", "alice@example.com", PASSWORD)
        add_user("bob", "Bob Reviewer", "bob@example.com", PASSWORD)
        alice = db.session.scalar(select(User.id).where(User.username == "alice"))
        db.session.execute(
            insert(Repository), [{"name": f"org/repo-{n}"} for n in range(min(count, 20))]
        )
        repos = list(db.session.scalars(select(Repository.id)))
        start = datetime.now(UTC) - timedelta(days=30)
        states = ["pending"] * 7 + ["approved"] * 2 + ["denied"]
        rows = [
            {
                "repository_id": repos[n % len(repos)],
                "ref": "refs/heads/main",
                "pusher": f"agent-{n % 7}",
                "old": f"{n:040x}",
                "new": f"{n + 1:040x}",
                "state": states[n % len(states)],
                "required": {"training": 1},
                "policy_sha256": "ab" * 32,
                "created_at": start + timedelta(seconds=n * 30),
                "decided_at": None if n % 10 < 7 else start + timedelta(seconds=n * 30 + 600),
            }
            for n in range(count)
        ]
        for chunk in range(0, count, 2000):
            db.session.execute(insert(ApprovalRequest), rows[chunk : chunk + 2000])
        ids = list(db.session.scalars(select(ApprovalRequest.id).order_by(ApprovalRequest.id)))
        patch = "".join(f"+value_{k} = {k}\n" for k in range(200))
        items: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        for n, request_id in enumerate(ids):
            for k in range(1 + n % 3):
                key = hashlib.sha1(f"{n} {k}".encode()).hexdigest()
                items.append(
                    {
                        "request_id": request_id,
                        "repository_id": repos[n % len(repos)],
                        "key": key,
                        "kind": "commit",
                        "active": True,
                        "author_name": "Build Bot",
                        "author_email": "ci@bots.example.com",
                        "committer_name": "Build Bot",
                        "committer_email": "ci@bots.example.com",
                        "summary": f"change {n}.{k}",
                        "message": f"change {n}.{k}\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
                        "meta": {},
                        "signals": [{"kind": "trailer", "agent": "Claude"}],
                        "guards": {"training": [f"train/f{n}.py"]},
                        "diffs": [
                            {
                                "commit": key,
                                "parent": None,
                                "truncated": False,
                                "files": [{"path": f"train/f{n}.py", "patch": patch}],
                            }
                        ],
                        "diff_sha256": hashlib.sha256(key.encode()).hexdigest(),
                    }
                )
            state = rows[n]["state"]
            if state != "pending":
                decisions.append(
                    {
                        "request_id": request_id,
                        "reviewer_id": alice,
                        "verdict": "approve" if state == "approved" else "deny",
                        "comment": "ok" if state == "approved" else "no",
                    }
                )
            if len(items) >= 3000:
                db.session.execute(insert(HeldItem), items)
                items = []
        if items:
            db.session.execute(insert(HeldItem), items)
        if decisions:
            db.session.execute(insert(Decision), decisions)
        db.session.commit()
        newest = db.session.scalar(
            select(ApprovalRequest.id)
            .where(ApprovalRequest.state == "pending")
            .order_by(ApprovalRequest.id.desc())
            .limit(1)
        )
        db.engine.dispose()
    return int(newest or 0)


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
    server, base, _token = start_server(tmp, url, 1)
    stack.append(server)
    newest = seed(url, count)
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
