"""A real HTTP receiver on 127.0.0.1 that records what it is sent: webhooks' target, or a
stand-in for the gate server that a hook is pointed at (``respond`` makes its answers)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every POST; answers 500 to the first ``fail_first`` of them, then 200 (with
    ``respond(headers, body)`` as its body when given, as JSON). With ``tls`` (a server
    context) it speaks HTTPS and records the server name (SNI) each client asked for."""

    def __init__(
        self,
        fail_first: int = 0,
        failure_body: bytes = b"no",
        respond: Callable[[dict[str, str], bytes], bytes] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.respond = respond
        self.fail_first = fail_first
        self.failure_body = failure_body
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []  # the path of each received POST, in the same order
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()
        self.server_names: list[str | None] = []  # SNI of each TLS handshake
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.release.wait(30)
                with receiver.lock:
                    receiver.received.append((dict(self.headers), body))
                    receiver.paths.append(self.path)
                    failing = len(receiver.received) <= receiver.fail_first
                answer = receiver.failure_body if failing else b"ok"
                if receiver.respond is not None and not failing:
                    answer = receiver.respond(dict(self.headers), body)
                self.send_response(500 if failing else 200)
                if receiver.respond is not None:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            tls.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.port = self.httpd.server_port
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.thread.join(5)
        self.httpd.server_close()
