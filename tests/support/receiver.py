"""A real HTTP receiver for webhooks on 127.0.0.1 that records what it is sent."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every POST; answers 500 to the first ``fail_first`` of them, then 200."""

    def __init__(self, fail_first: int = 0, failure_body: bytes = b"no") -> None:
        self.fail_first = fail_first
        self.failure_body = failure_body
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.release.wait(30)
                with receiver.lock:
                    receiver.received.append((dict(self.headers), body))
                    failing = len(receiver.received) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(receiver.failure_body if failing else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.thread.join(5)
        self.httpd.server_close()
