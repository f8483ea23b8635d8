"""Benchmark 4: 32 concurrent hooks against gunicorn (several workers), SQLite and PostgreSQL.

Each client acts like a hook on its own repository: it posts the held commits of a new push
(1-10 items, ~2 KB of diff each), then posts the same push again (a user retrying), and now and
then re-posts a push that a reviewer has approved since (the hook letting it through). A reviewer
thread in this process approves pending requests through the decision service meanwhile, as
the web form does (password re-entered for step-up, attestation ticked). Between
pushes a client waits ``--think`` seconds (a real hook spends that much in git and its own
start-up); ``--think 0`` gives the saturated rate.

Every client pushes as the same agent to its repository's main branch, so each new push
supersedes the client's previous pending request; an approval of a request superseded after the
reviewer loaded it is refused with a conflict, counted apart from errors.

Afterwards it checks: no key active twice (duplicate requests), one request per new push, every
approval recorded and answered "approved" to the hook (no lost approvals), and the audit chain
intact and gap-free (gate.audit.verify on a JSON Lines export of the whole log).

Only 127.0.0.1: gunicorn binds there; PostgreSQL is a scratch database on 127.0.0.1:5432 (user
postgres, or --pg-url), created and dropped by the run. Bounded: --seconds per database.

    .venv/bin/python bench/server_concurrency.py [--clients 32] [--workers 4] [--seconds 20]
        [--think 0.2] [--databases sqlite postgresql]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import secrets
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import machine, start_server, workdir

from gate import wire
from tests.support.objects import root_commit

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POLICY_SHA = "cd" * 32
PASSWORD = "correct horse battery staple"
AGENT = "Build Bot <ci@bots.example.com>"


def item(n: int, lines: int = 60) -> dict[str, Any]:
    """Held commit number ``n`` as the hook sends it: the objects of a root commit adding one
    file of ``lines`` lines (gate.git.client.commit_item, through gate.wire.commit_item)."""
    path = f"train/d{n % 40:02d}/f{n}.py"
    content = "".join(f"value_{n}_{k} = {k}\n" for k in range(lines)).encode()
    message = f"change {n}\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    key, objects = root_commit({path: content}, AGENT, message)
    signal = {
        "kind": "trailer",
        "source": "catalog",
        "agent": "Claude Code",
        "rule": "Co-Authored-By: Claude",
        "evidence": "Co-Authored-By: Claude <noreply@anthropic.com>",
    }
    return wire.commit_item(key, objects, [signal], {"training": [path]})


def body(repository: str, items: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "repository": repository,
            "ref": "refs/heads/main",
            "old": "0" * 40,
            "new": items[-1]["key"],
            "pusher": "agent-bench",
            "policy": {"sha256": POLICY_SHA, "approvals": {"training": 1}},
            "items": items,
        }
    ).encode()


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # approvals of superseded requests
    new_pushes: int = 0
    lost_approvals: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    approved: dict[int, tuple[Any, list[dict[str, Any]]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Hook:
    """One simulated hook: its own repository name and a sequence of new commits."""

    def __init__(self, number: int, url: str, token: str, results: Results, think: float):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.repository = f"bench/repo-{number}"
        self.results, self.think = results, think
        self.random = random.Random(number)
        self.counter = 0
        self.number = number

    def post(self, data: bytes) -> dict[str, Any] | None:
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            conn.request("POST", "/api/v1/holds", body=data, headers=self.headers)
            response = conn.getresponse()
            payload = response.read()
            conn.close()
        except OSError as exc:
            with self.results.lock:
                self.results.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - start
        with self.results.lock:
            self.results.latencies.append(elapsed)
            if response.status != 200:
                self.results.errors.append(f"HTTP {response.status}: {payload[:200]!r}")
                return None
        return json.loads(payload)

    def new_push(self) -> None:
        count = self.random.randint(1, 10)
        items = []
        for _ in range(count):
            self.counter += 1
            items.append(item(self.number * 100_000 + self.counter))
        data = body(self.repository, items)
        first = self.post(data)
        again = self.post(data)
        if first is None or again is None:
            return
        ids = {i["request_id"] for i in first["items"]}
        with self.results.lock:
            self.results.new_pushes += 1
            same = [(i["key"], i["request_id"]) for i in first["items"]] == [
                (i["key"], i["request_id"]) for i in again["items"]
            ]
            if len(ids) != 1 or not same:
                self.results.inconsistent.append(f"{self.repository}: {ids}")

    def approved_push(self) -> None:
        with self.results.lock:
            mine = [(rid, v) for rid, v in self.results.approved.items() if v[0] is self]
        if not mine:
            return
        request_id, (_, items) = self.random.choice(mine)
        answer = self.post(body(self.repository, items))
        if answer is not None and any(i["state"] != "approved" for i in answer["items"]):
            with self.results.lock:
                self.results.lost_approvals.append(f"request {request_id}: {answer['items']}")

    def run(self, deadline: float) -> None:
        # Hooks do not all start in the same instant: each starts within the first think time.
        time.sleep(self.random.uniform(0, self.think))
        while time.monotonic() < deadline:
            if self.random.random() < 0.3:
                self.approved_push()
            else:
                self.new_push()
            if self.think:
                time.sleep(self.random.uniform(0.5, 1.5) * self.think)


def reviewer(app, hooks: list[Hook], results: Results, deadline: float) -> None:  # type: ignore[no-untyped-def]
    """Approves pending requests through the service layer, as the web form does."""
    from sqlalchemy import select

    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, HeldItem, Repository, User
    from gate.server.services import Conflict
    from gate.server.services.decisions import attestation_for, decide

    by_repo = {hook.repository: hook for hook in hooks}
    while time.monotonic() < deadline:
        with app.app_context():
            alice = db.session.scalar(select(User).where(User.username == "alice"))
            pending = db.session.scalars(
                select(ApprovalRequest).where(ApprovalRequest.state == "pending").limit(5)
            ).all()
            for request in pending:
                repo = db.session.get(Repository, request.repository_id)
                items = db.session.scalars(
                    select(HeldItem).where(HeldItem.request_id == request.id)
                ).all()
                try:
                    # As the web form does: the password again (step-up) and the statement
                    # ticked, attesting to the content the reviewer was shown.
                    decide(
                        request,
                        alice,
                        "approve",
                        "bench",
                        password=PASSWORD,
                        attest=True,
                        shown_sha256=attestation_for(request).sha256,
                    )
                except Conflict as exc:
                    # The hook's next push to the ref superseded the request after the reviewer
                    # loaded it (the reviewer sees "already superseded"): expected, counted.
                    db.session.rollback()
                    with results.lock:
                        results.conflicts.append(f"approve {request.id}: {exc}")
                    continue
                except Exception as exc:  # counted, not hidden
                    db.session.rollback()
                    with results.lock:
                        results.errors.append(f"approve {request.id}: {exc}")
                    continue
                hook = by_repo[repo.name]
                held = [item(int(i.summary.split()[1])) for i in items]
                with results.lock:
                    results.approved[request.id] = (hook, held)
        time.sleep(0.05)


def check(app, results: Results) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from gate.audit.export import jsonl_bytes
    from gate.audit.verify import verify_jsonl
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest, AuditRecord, HeldItem
    from gate.server.services.audit import exported

    with app.app_context():
        duplicates = db.session.execute(
            select(HeldItem.repository_id, HeldItem.key)
            .where(HeldItem.active.is_(True))
            .group_by(HeldItem.repository_id, HeldItem.key)
            .having(func.count() > 1)
        ).all()
        requests = db.session.scalar(select(func.count()).select_from(ApprovalRequest))
        not_approved = [
            rid
            for rid in results.approved
            if db.session.get(ApprovalRequest, rid).state != "approved"  # type: ignore[union-attr]
        ]
        records = db.session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        report = verify_jsonl(jsonl_bytes([exported(r) for r in records]))
        seqs = [r.seq for r in records]
    return {
        "duplicate active keys": len(duplicates),
        "requests vs new pushes": f"{requests} vs {results.new_pushes}",
        "approvals not recorded": len(not_approved),
        "approved pushes answered otherwise": len(results.lost_approvals),
        "inconsistent answers": len(results.inconsistent),
        "approvals refused, request superseded meanwhile": len(results.conflicts),
        "audit records": len(records),
        "audit gap-free": seqs == list(range(1, len(seqs) + 1)),
        "audit problems": [str(p) for p in report.problems][:5],
    }


def run_case(name: str, url_db: str, tmp: Path, args: argparse.Namespace) -> None:
    from gate.server.app import create_app
    from gate.server.services.accounts import add_user

    server, url, token = start_server(tmp, url_db, args.workers)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url_db, "SECRET_KEY": secrets.token_hex(16)})
    try:
        with app.app_context():
            add_user("alice", "Alice Reviewer", "alice@example.com", PASSWORD)
        results = Results()
        warm = Hook(10_000, url, token, results, 0)
        for _ in range(2 * args.workers):  # each worker's first request does once-only work
            warm.new_push()
        results.latencies.clear()
        hooks = [Hook(n, url, token, results, args.think) for n in range(args.clients)]
        start = time.monotonic()
        deadline = start + args.seconds
        threads = [threading.Thread(target=h.run, args=(deadline,)) for h in hooks]
        threads.append(
            threading.Thread(
                target=reviewer, args=(app, [*hooks, warm], results, deadline), daemon=True
            )
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 60)
        elapsed = time.monotonic() - start
        verdict = check(app, results)
    finally:
        server.terminate()
        server.wait(10)
        with app.app_context():
            from gate.server.extensions import db

            db.engine.dispose()
    lat = sorted(results.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    print(
        f"{name:<10} {args.clients} clients, {args.workers} workers, think {args.think}s: "
        f"{len(lat) / elapsed:6.1f} req/s  p50 {q[49] * 1000:6.1f} ms  p95 {q[94] * 1000:6.1f} ms  "
        f"p99 {q[98] * 1000:6.1f} ms  errors {len(results.errors)}  "
        f"(requests {len(lat)}, approvals {len(results.approved)}; goal p99 < 250 ms, 0 errors)"
    )
    for key, value in verdict.items():
        print(f"    {key}: {value}")
    for error in results.errors[:5]:
        print(f"    error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--think", type=float, default=0.2)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    args = parser.parse_args()
    args.clients = min(args.clients, 64)
    args.seconds = min(args.seconds, 120)
    print(f"# server_concurrency: {machine()}")
    with workdir("server") as tmp:
        if "sqlite" in args.databases:
            run_case("SQLite", f"sqlite:///{tmp / 'gate.db'}", tmp, args)
        if "postgresql" in args.databases:
            with scratch_postgres(args.pg_admin_url) as url_db:
                run_case("PostgreSQL", url_db, tmp, args)


class scratch_postgres:
    """A new database on the local PostgreSQL for one run, dropped afterwards."""

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.url = make_url(admin_url)
        if self.url.host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("the scratch PostgreSQL must be local (127.0.0.1)")
        self.name = f"gate_bench_{secrets.token_hex(4)}"
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")

    def __enter__(self) -> str:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.url.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


if __name__ == "__main__":
    main()
