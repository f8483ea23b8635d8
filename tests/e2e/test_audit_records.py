"""/audit/records: the audit log's records, newest first, filtered by action, actor, repository
and time (read as `gate audit export` reads them), paged by record number; auditors and admins
only. Records made by real pushes and decisions; pages read over real HTTP."""

from __future__ import annotations

import re

from gate.server.extensions import db
from gate.server.models import AuditRecord
from gate.server.services.records import RecordFilters, browse
from tests.support.gitrepo import CLAUDE_TRAILER
from tests.support.server import GatedRepo, LiveServer, add_reviewer, request_id_from


def shown(html: str) -> list[tuple[int, str]]:
    return [
        (int(seq), action)
        for seq, action in re.findall(
            r'<tr><td>#(\d+)</td><td class="mono">[^<]*</td><td class="mono">([^<]+)</td>', html
        )
    ]


def test_auditors_browse_and_filter_the_records(gated: GatedRepo, server: LiveServer) -> None:
    add_reviewer(server.app, "audrey", role="auditor")
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "x = 0\n"})
    assert clone.push().ok
    clone.commit("agent", {"train/loop.py": "x = 1\n"}, trailers=[CLAUDE_TRAILER])
    request_id = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(request_id, "approve", "fine").ok
    with server.app.app_context():  # type: ignore[attr-defined]
        everything = [
            (r.seq, r.action)
            for r in db.session.scalars(db.select(AuditRecord).order_by(AuditRecord.seq.desc()))
        ]
    auditor = server.reviewer("audrey")
    page = auditor.page("/audit/records")
    assert page.ok and shown(page.text) == everything
    approvals = shown(auditor.page("/audit/records?action=decision.approve").text)
    assert [a for _, a in approvals] == ["decision.approve"]
    by_alice = shown(auditor.page("/audit/records?actor=ALICE").text)
    assert by_alice and {a for _, a in by_alice} <= {
        "decision.approve",
        "login.succeeded",
        "user.login",
    }
    assert "decision.approve" in {a for _, a in by_alice}
    in_repo = shown(auditor.page("/audit/records?repository=repo").text)
    assert "request.held" in {a for _, a in in_repo} and "user.added" not in {a for _, a in in_repo}
    assert shown(auditor.page("/audit/records?repository=other").text) == []
    assert shown(auditor.page("/audit/records?since=2999-01-01").text) == []
    assert shown(auditor.page("/audit/records?until=2000-01-01").text) == []
    assert shown(auditor.page("/audit/records?since=2000-01-01").text) == everything
    bad = auditor.page("/audit/records?since=yesterday-ish")
    assert bad.status_code == 400 and "Cannot show these records" in bad.text
    assert "Traceback" not in bad.text
    assert server.reviewer("bob").page("/audit/records").status_code == 403

    # Pages are cut by record number: no record is skipped or shown twice.
    with server.app.app_context():  # type: ignore[attr-defined]
        seen, before = [], None
        while True:
            part = browse(RecordFilters(), before, per_page=3)
            seen += [(r.seq, r.action) for r in part.records]
            if part.older is None:
                break
            before = part.older
        assert seen == everything
    second = auditor.page(f"/audit/records?before={everything[2][0]}").text
    assert shown(second) == everything[3:]

    # The public key and its fingerprint, for `gate audit verify --public-key`.
    index = auditor.page("/audit").text
    key = auditor.page("/audit/public-key.pem")
    assert key.ok and key.text.startswith("-----BEGIN PUBLIC KEY-----")
    assert key.headers["X-Gate-Key-Fingerprint"] in index
