"""A real DNS server on 127.0.0.1 (dnslib, UDP) whose answers the test scripts: each name has
a list of answers handed out in turn, one per A query (the last one repeats), so a name can
answer a public address to one lookup and loopback to the next, as a DNS rebinding attack does.
AAAA queries get an empty answer. Every query is recorded."""

from __future__ import annotations

import threading

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ScriptedDNS(BaseResolver):  # type: ignore[misc]
    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = {name.rstrip(".").lower(): list(turns) for name, turns in answers.items()}
        self.queries: list[tuple[str, str]] = []  # (name, type), in order
        self.lock = threading.Lock()
        self.server = DNSServer(
            self, address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply,-truncated")
        )
        self.port = self.server.server.server_address[1]
        self.server.start_thread()

    @property
    def nameserver(self) -> str:
        """The GATE_WEBHOOK_NAMESERVERS value that points gate at this server."""
        return f"127.0.0.1:{self.port}"

    def a_queries(self, name: str) -> int:
        return sum(1 for n, kind in self.queries if n == name and kind == "A")

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((name, kind))
            turns = self.answers.get(name)
            if turns is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            if kind != "A":
                return reply
            answer = turns.pop(0) if len(turns) > 1 else turns[0]
        for address in answer:
            record = AAAA(address) if ":" in address else A(address)
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=record, ttl=0))
        return reply

    def close(self) -> None:
        self.server.stop()
        self.server.server.server_close()
