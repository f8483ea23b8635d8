"""In-process cost of one POST /api/v1/holds: SQL statements and time per request (no HTTP).

The server's share of bench 4, without gunicorn, the network or other clients: a Flask test
client posts new held pushes (3 items each, the shape bench 4 sends; each supersedes its
repository's previous one), re-posts them (a retry), and re-posts approved ones, on SQLite or
PostgreSQL. Prints, per kind of request, the SQL statements executed and the median time;
``--show-sql`` lists one request's statements, ``--profile`` adds a cProfile of the new pushes.

    .venv/bin/python bench/hold_request.py [--database sqlite|postgresql] [--pushes 200]
        [--profile] [--show-sql]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import secrets
import statistics
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

from _common import machine, workdir
from server_concurrency import PASSWORD, PG_ADMIN, body, item, scratch_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pushes", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN)
    parser.add_argument("--show-sql", action="store_true")
    args = parser.parse_args()
    print(f"# hold_request ({args.database}): {machine()}")
    with workdir("hold") as tmp, ExitStack() as stack:
        if args.database == "sqlite":
            url = f"sqlite:///{tmp / 'gate.db'}"
        else:
            url = stack.enter_context(scratch_postgres(args.pg_admin_url))
        run(url, args)


def run(url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import event, select

    from gate.server.app import create_app
    from gate.server.database import command, upgrade_database
    from gate.server.extensions import db
    from gate.server.models import User
    from gate.server.services.accounts import add_user, create_token
    from gate.server.services.actor import Actor
    from gate.server.services.decisions import attestation_for, decide, get_request

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(16)})
    upgrade_database(app)
    with command(app):
        token = create_token("bench", actor=Actor.cli())[1]
        add_user("alice", "Alice Reviewer", "alice@example.com", PASSWORD, actor=Actor.cli())
        engine = db.engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(data: bytes) -> tuple[dict[str, Any], int, float]:
        statements.clear()
        start = time.perf_counter()
        response = client.post("/api/v1/holds", data=data, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json(), len(statements), elapsed

    kinds: dict[str, list[tuple[int, float]]] = {"new push": [], "retry": [], "approved": []}
    shown: set[str] = set()
    bodies = []
    profiler = cProfile.Profile() if args.profile else None
    for n in range(args.pushes):
        repository = f"bench/repo-{n % 8}"
        items = [item(3 * n + k) for k in range(3)]
        data = body(repository, items)
        if profiler and n >= 10:
            profiler.enable()
        answer, count, elapsed = post(data)
        if profiler:
            profiler.disable()
        if args.show_sql and "new push" not in shown and n >= 10:
            shown.add("new push")
            print("\n## new push\n" + "\n".join(s.split("\n")[0][:150] for s in statements))
        kinds["new push"].append((count, elapsed))
        _, count, elapsed = post(data)
        if args.show_sql and "retry" not in shown and n >= 10:
            shown.add("retry")
            print("\n## retry\n" + "\n".join(s.split("\n")[0][:150] for s in statements))
        kinds["retry"].append((count, elapsed))
        bodies.append((answer["items"][0]["request_id"], data, repository))
    # Each new push superseded its repository's previous one: approve the last of each.
    last = list({data_repo: (rid, data) for rid, data, data_repo in bodies}.values())
    with command(app):
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        for request_id, _ in last:
            request = get_request(request_id)
            decide(
                request,
                alice,
                "approve",
                "ok",
                password=PASSWORD,
                attest=True,
                shown_sha256=attestation_for(request).sha256,
                actor=Actor("alice", "session-password"),
            )
    for n, (_, data) in enumerate(last * 4):
        answer, count, elapsed = post(data)
        assert all(i["state"] == "approved" for i in answer["items"]), answer
        if args.show_sql and "approved" not in shown and n >= 5:
            shown.add("approved")
            print("\n## approved\n" + "\n".join(s.split("\n")[0][:150] for s in statements))
        kinds["approved"].append((count, elapsed))
    for kind, runs in kinds.items():
        runs = runs[10:] if len(runs) > 20 else runs  # first requests do once-only work
        counts = Counter(c for c, _ in runs)
        print(
            f"{kind:<10} statements {'/'.join(str(c) for c, _ in counts.most_common())}  "
            f"median {statistics.median(t for _, t in runs) * 1000:6.2f} ms  (requests {len(runs)})"
        )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
