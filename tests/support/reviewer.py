"""A reviewer driving the web app over real HTTP: login, CSRF tokens, form posts."""

from __future__ import annotations

import re
from html import unescape

import requests

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_SHOWN = re.compile(r'name="shown_sha256"[^>]*value="([0-9a-f]{64})"')
_TICK = re.compile(
    r'<form class="viewed-form"[^>]*>(?:<input[^>]*>)*?<input type="hidden" name="item" '
    r'value="(\d+)"><input type="hidden" name="path" value="([^"]*)">(?:<input[^>]*>)*'
    r'<button type="submit" aria-pressed="false">'
)
_PAGES = re.compile(r'href="/requests/\d+\?page=(\d+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no csrf_token field"
    return unescape(match.group(1))


class ReviewerSession:
    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.http = requests.Session()
        self.password = ""

    def login(self, username: str, password: str) -> requests.Response:
        self.password = password
        page = self.http.get(f"{self.base}/login")
        return self.http.post(
            f"{self.base}/login",
            data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
        )

    def page(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}")

    def post(self, path: str, data: dict[str, str] | None = None) -> requests.Response:
        """POST a form on ``path`` with the CSRF token of the page at ``path`` (or its parent)."""
        page = self.http.get(f"{self.base}{path.rsplit('/', 1)[0]}")
        return self.http.post(
            f"{self.base}{path}", data={"csrf_token": csrf_from(page.text), **(data or {})}
        )

    def confirmed_post(self, path: str, data: dict[str, str] | None = None) -> requests.Response:
        """POST an admin form as an admin does: re-entering their own password to confirm."""
        return self.post(path, {"current_password": self.password, **(data or {})})

    def view_files(self, request_id: int, guarded_only: bool = True) -> int:
        """Tick each file of the request (its guarded ones: what approval needs) as viewed,
        with the form the page shows for it, on every page of the request; how many."""
        ticked = 0
        pages, seen = [1], set()
        while pages:
            number = pages.pop()
            if number in seen:
                continue
            seen.add(number)
            html = self.http.get(f"{self.base}/requests/{request_id}?page={number}").text
            pages += [int(n) for n in _PAGES.findall(html)]
            for chunk in html.split('<details class="file')[1:]:
                match = _TICK.search(chunk)
                if match is None or (guarded_only and not chunk.startswith(" is-guarded")):
                    continue
                answer = self.http.post(
                    f"{self.base}/requests/{request_id}/viewed",
                    data={
                        "csrf_token": csrf_from(html),
                        "item": match.group(1),
                        "path": unescape(match.group(2)),
                    },
                    headers={"X-Requested-With": "fetch"},
                )
                assert answer.ok, answer.text
                ticked += 1
        return ticked

    def decide(
        self,
        request_id: int,
        decision: str,
        comment: str = "",
        *,
        view: bool = True,
        **extra: str,
    ) -> requests.Response:
        """Post the decision form as a person would: approvals first tick every guarded file
        as viewed (unless ``view`` is false), re-enter the password (step-up) and tick the
        attestation, unless ``extra`` says otherwise."""
        if decision == "approve" and view:
            self.view_files(request_id)
        page = self.http.get(f"{self.base}/requests/{request_id}")
        data = {"decision": decision, "comment": comment, "csrf_token": csrf_from(page.text)}
        if decision == "approve":
            data |= {"password": self.password, "attest": "yes"}
            if shown := _SHOWN.search(page.text):
                data["shown_sha256"] = shown.group(1)
        data |= extra
        return self.http.post(f"{self.base}/requests/{request_id}/decision", data=data)

    def withdraw(self, request_id: int) -> requests.Response:
        page = self.http.get(f"{self.base}/requests/{request_id}")
        return self.http.post(
            f"{self.base}/requests/{request_id}/withdraw",
            data={"csrf_token": csrf_from(page.text)},
        )
