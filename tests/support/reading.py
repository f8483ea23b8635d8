"""A reviewer's reading, done before an approval: every guarded file ticked as viewed.

Approvals are refused until the reviewer has ticked every guarded file of the request
(gate.server.services.reading); tests that approve tick through these helpers: the service
call here, ``ReviewerSession.view_files`` over HTTP, ``tick_every_file`` in the browser.
"""

from __future__ import annotations

from typing import Any

from gate.server.models import ApprovalRequest, User
from gate.server.services.decisions import attested_sha256
from gate.server.services.reading import request_files, set_viewed


def view_guarded_files(request: ApprovalRequest, reviewer: User) -> int:
    """Tick every guarded file of ``request`` as viewed by ``reviewer`` (in the caller's
    transaction); how many were ticked."""
    attested = attested_sha256(request)
    guarded = [f for f in request_files(request) if f.guarded]
    for found in guarded:
        set_viewed(request, reviewer, found.item_id, found.path, True, attested)
    return len(guarded)


def tick_every_file(page: Any, guarded_only: bool = False) -> int:
    """In the browser: press every "Mark as viewed" button of the page (JavaScript sends
    each without a reload) and wait until each shows its tick."""
    from playwright.sync_api import expect

    selector = "details.file.is-guarded" if guarded_only else "details.file"
    forms = page.locator(f"{selector} form.viewed-form")
    count = 0
    for n in range(forms.count()):
        form = forms.nth(n)  # the forms stay; their buttons change
        button = form.locator("button")
        if button.get_attribute("aria-pressed") == "true":
            continue
        form.evaluate("form => { form.closest('details').open = true; }")  # collapsed files
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        count += 1
    return count


def view_as(app: Any, request_id: int, username: str) -> int:
    """``view_guarded_files`` for the named reviewer, committed in a command of its own."""
    from sqlalchemy import select

    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.services.decisions import get_request

    with command(app):
        reviewer = db.session.scalar(select(User).where(User.username == username))
        assert reviewer is not None
        return view_guarded_files(get_request(request_id), reviewer)
