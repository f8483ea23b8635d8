"""Benchmark: a gunicorn worker's memory on the largest bodies the API accepts (and refuses).

Each case starts a fresh gunicorn (one worker, SQLite), posts a one-item hold so that every
module the API uses is loaded, reads the worker's peak resident memory (``VmHWM``), posts one
body as a hook does (gzipped, level 1), then reads the peak again. It prints, per case, the decompressed body size, the growth of the peak over the
idle worker, that growth as a multiple of the body, and the answer's status and seconds (the
seconds are figures for choosing gunicorn's ``--timeout``; nothing here asserts a time).

Cases: a second one-item hold (the baseline); 20,000 small items (MAX_ITEMS); one item of
MAX_ITEM_TEXT characters; a hold of MAX_HOLD_BYTES; a push report of 20,000 listed commits;
and a gzip bomb that inflates to 512 MiB (the old cap), refused at the new one. Then the
request page of the 20,000-item hold, first and last page: bytes, seconds, worker growth.

    .venv/bin/python bench/body_memory.py [--cases NAME ...] [--no-page]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from _common import machine, start_server, workdir
from server_concurrency import PASSWORD, body, item

from gate import wire

MiB = wire.MiB


def big_item(n: int, text: int) -> dict:  # type: ignore[type-arg]
    """One held commit whose patches hold ``text`` characters in files of at most TEXT_LEN."""
    held = item(hashlib.sha1(f"big {n}".encode()).hexdigest(), n, lines=1)
    template = held["diffs"][0]["files"][0]
    files, left = [], text
    while left > 0:
        size = min(left, wire.TEXT_LEN)
        files.append({**template, "path": f"train/big{len(files)}.py", "patch": "+" * size})
        left -= size
    held["diffs"][0]["files"] = files
    return held


def key(n: int) -> str:
    return hashlib.sha1(f"commit {n}".encode()).hexdigest()


def small_hold() -> tuple[str, bytes]:
    return wire.HOLDS_PATH, body("repo", [item(key(1), 1)])


def max_items() -> tuple[str, bytes]:
    return wire.HOLDS_PATH, body("repo", [item(key(n), n, lines=4) for n in range(wire.MAX_ITEMS)])


def max_item() -> tuple[str, bytes]:
    held = big_item(0, wire.MAX_ITEM_TEXT)
    files = held["diffs"][0]["files"]
    for entry in files:
        entry["patch"] = ""
    left = wire.MAX_ITEM_TEXT - wire.text_size(
        wire.parse_hold_request(json.loads(body("repo", [held]))).items[0]
    )
    for entry in files:
        entry["patch"] = "+" * min(left, wire.TEXT_LEN)
        left -= len(entry["patch"])
    return wire.HOLDS_PATH, body("repo", [held])


def max_hold() -> tuple[str, bytes]:
    share = (wire.MAX_HOLD_BYTES - 64 * 1024) // 2
    data = body("repo", [big_item(0, share), big_item(1, share)])
    assert len(data) <= wire.MAX_HOLD_BYTES, len(data)
    return wire.HOLDS_PATH, data


def max_report() -> tuple[str, bytes]:
    report = wire.push_report(
        report_id="d" * 32,
        repository="repo",
        pusher="agent-bench",
        pushed_at="2026-12-01T12:00:00Z",
        policy_sha256="b" * 64,
        guards=["training"],
        refs=[{"ref": "refs/heads/main", "old": "0" * 40, "new": key(0)}],
        commits=wire.MAX_ITEMS,
        guarded=[{"guard": "training", "day": "2026-12-01", "agent": 1, "human": 0, "agents": {}}],
        agent_commits=[
            {"id": key(n), "guards": ["training"], "agents": ["Claude Code"]}
            for n in range(wire.MAX_ITEMS)
        ],
        agent_commits_truncated=False,
    )
    return wire.PUSHES_PATH, json.dumps(report).encode()


def old_cap_bomb() -> tuple[str, bytes]:
    return wire.HOLDS_PATH, b'{"x": "' + b"0" * (512 * MiB) + b'"}'


CASES: dict[str, Callable[[], tuple[str, bytes]]] = {
    "one-item hold": small_hold,
    f"{wire.MAX_ITEMS} items": max_items,
    "one item at MAX_ITEM_TEXT": max_item,
    "hold at MAX_HOLD_BYTES": max_hold,
    f"report of {wire.MAX_ITEMS} commits": max_report,
    "bomb inflating to 512 MiB": old_cap_bomb,
}


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def worker_of(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def post(url: str, token: str, path: str, data: bytes) -> tuple[int, float]:
    sent = gzip.compress(data, compresslevel=1)
    request = urllib.request.Request(
        f"{url}{path}",
        data=sent,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as refused:
        status = refused.code
    return status, time.perf_counter() - start


def run_case(name: str, make: Callable[[], tuple[str, bytes]]) -> None:
    path, data = make()
    with workdir("memory") as tmp:
        proc, url, token = start_server(tmp, f"sqlite:///{tmp / 'gate.db'}", workers=1)
        try:
            worker = worker_of(proc.pid)
            warm_path, warm_body = small_hold()  # every module the API uses is loaded
            assert post(url, token, warm_path, warm_body)[0] == 200
            idle = memory_kib(worker, "VmHWM")
            status, seconds = post(url, token, path, data)
            peak = memory_kib(worker, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(30)
    grown = (peak - idle) / 1024
    size = len(data) / MiB
    print(
        f"{name:<28} {size:9.1f} MiB  peak +{grown:7.1f} MiB  x{grown / size:5.2f}  "
        f"HTTP {status}  {seconds:6.2f} s"
    )


def page_case() -> None:
    """The request page of the largest accepted hold (MAX_ITEMS items): its first and last
    page, as a reviewer fetches them, and the worker's peak growth over both."""
    import re

    import requests

    from gate.server.app import create_app
    from gate.server.database import command
    from gate.server.services.accounts import add_user
    from gate.server.services.actor import Actor

    path, data = max_items()
    with workdir("page") as tmp:
        url_db = f"sqlite:///{tmp / 'gate.db'}"
        proc, url, token = start_server(tmp, url_db, workers=1)
        try:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url_db, "SECRET_KEY": "x" * 32})
            with command(app):
                add_user("alice", "Alice", "alice@example.com", PASSWORD, actor=Actor.cli())
            assert post(url, token, path, data)[0] == 200
            worker = worker_of(proc.pid)
            http = requests.Session()
            form = http.get(f"{url}/login", timeout=60).text
            csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            http.post(f"{url}/login", timeout=60,
                      data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})  # fmt: skip
            http.get(f"{url}/requests", timeout=60)
            idle = memory_kib(worker, "VmHWM")
            for label, query in (("first", ""), ("last", "?page=1000000")):
                start = time.perf_counter()
                page = http.get(f"{url}/requests/1{query}", timeout=600)
                seconds = time.perf_counter() - start
                print(
                    f"page of {wire.MAX_ITEMS} items, {label:<5}  HTTP {page.status_code}  "
                    f"{len(page.content) / 1024:8.1f} KiB  {seconds:6.2f} s"
                )
            grown = (memory_kib(worker, "VmHWM") - idle) / 1024
            print(f"page of {wire.MAX_ITEMS} items: worker peak +{grown:.1f} MiB over both pages")
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="*", choices=list(CASES), default=list(CASES))
    parser.add_argument("--page", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    print(f"# body_memory: {machine()}")
    print(f"{'case':<28} {'body':>13}  {'worker peak growth':>18}  ratio  answer")
    for name in args.cases:
        run_case(name, CASES[name])
    if args.page:
        page_case()


if __name__ == "__main__":
    main()
