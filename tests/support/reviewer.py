"""A reviewer driving the web app over real HTTP: login, CSRF tokens, form posts."""

from __future__ import annotations

import re
from html import unescape

import requests

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_SHOWN = re.compile(r'name="shown_sha256"[^>]*value="([0-9a-f]{64})"')


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

    def decide(
        self, request_id: int, decision: str, comment: str = "", **extra: str
    ) -> requests.Response:
        """Post the decision form as a person would: approvals re-enter the password (step-up)
        and tick the attestation, unless ``extra`` says otherwise."""
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
