"""The hook's server calls: one wall-clock deadline, the token file, the server's answers.

A real local HTTP server that trickles its answer, the real installed hook and a real git push.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gate.errors import GateError
from gate.git.config import CONFIG_NAME, HookConfig, load_hook_config, read_token_file
from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.server import GatedRepo, LiveServer, make_gated_repo, request_id_from

DRIBBLE_EVERY = 2.0  # seconds between bytes
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@contextmanager
def dribbling_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server that reads each request, then answers one byte every DRIBBLE_EVERY
    seconds: each read gets a byte well within any per-read timeout, yet the answer takes
    minutes. Yields its URL and the number of bytes sent per connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    sent: list[int] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length and (chunk := conn.recv(65536)):
                body += chunk
            sent.append(0)
            for byte in ANSWER:
                if stop.wait(DRIBBLE_EVERY):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up
                sent[-1] += 1

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", sent
    finally:
        stop.set()
        listener.close()


def set_timeout(gated: GatedRepo, seconds: float) -> None:
    config = load_hook_config(gated.bare).replace(budget=seconds)
    (gated.bare / CONFIG_NAME).write_text(config.to_toml())


def test_hook_gives_up_at_its_deadline_not_per_read(tmp_path: Path) -> None:
    with dribbling_server() as (url, sent):
        gated = make_gated_repo(tmp_path, url, "gate_" + "t" * 43)
        set_timeout(gated, 3)
        clone = gated.clone()
        clone.commit("agent change", {"train/loop.py": "steps = 1\n"}, trailers=[CLAUDE_TRAILER])
        result = clone.push()
    assert not result.ok
    assert "gate: push refused: the gate server at " in result.stderr
    # Within what was left of the hook's 3-second budget when the call started.
    assert re.search(r"did not answer within [0-2]\.\d+ seconds", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert remote_ref(gated.bare) is None, "a refused push leaves the repository unchanged"
    assert sent and sent[0] < len(ANSWER), "the hook hung up before the answer was complete"


def test_one_reader_for_token_files(tmp_path: Path, server: LiveServer) -> None:
    from tests.support.server import agent_token, new_token

    secret = new_token(server.app)
    gated = make_gated_repo(tmp_path, server.url, secret)
    gated.token_file.write_text(f"# hook token for the CI git host\n\n{secret}\n\n")
    clone = gated.clone()
    clone.commit("agent change", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    pushed = clone.push(pusher="agent-ci")
    assert "waiting for approval" in pushed.stderr, pushed.stderr  # the server took the token
    request_id = request_id_from(pushed.gate_lines)
    reader = tmp_path / "agent-token"
    reader.write_text(f"# agent-ci's read token\n\n{agent_token(server.app, 'agent-ci')}\n\n")

    import subprocess
    import sys

    waited = subprocess.run(
        [
            str(Path(sys.executable).with_name("gate")),
            "wait",
            str(request_id),
            "--server",
            server.url,
            "--token-file",
            str(reader),
            # Long enough for a loaded machine's server to answer the first poll: the
            # request stays pending, so gate wait ends at this timeout either way.
            "--timeout",
            "3",
            "--interval",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert waited.returncode == 2, waited.stderr  # reached the server: still undecided
    assert f"request {request_id} is pending" in waited.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "holds no token"),
        ("# only a comment\n\n", "holds no token"),
        ("gate_abc def\n", "is not a token"),
        ("gate_é\n", "is not a token"),
    ],
)
def test_bad_token_files_say_why(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "token"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GateError, match=problem):
        read_token_file(path)
    config = HookConfig("http://x", str(path), "p.toml", "r")
    with pytest.raises(GateError, match=problem):
        config.token()
    with pytest.raises(GateError, match="cannot read the token file"):
        read_token_file(tmp_path / "missing")


def test_token_file_last_non_comment_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("# old one, revoked:\n# gate_old\ngate_new  \n# rotated 2026-11-30\n")
    assert read_token_file(path) == "gate_new"
