"""A reviewer driving the web app over real HTTP: login, CSRF tokens, form posts."""

from __future__ import annotations

import re
from html import unescape

import requests

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no csrf_token field"
    return unescape(match.group(1))


class ReviewerSession:
    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.http = requests.Session()

    def login(self, username: str, password: str) -> requests.Response:
        page = self.http.get(f"{self.base}/login")
        return self.http.post(
            f"{self.base}/login",
            data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
        )

    def page(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}")

    def decide(
        self, request_id: int, decision: str, comment: str = "", **extra: str
    ) -> requests.Response:
        page = self.http.get(f"{self.base}/requests/{request_id}")
        data = {
            "decision": decision,
            "comment": comment,
            "csrf_token": csrf_from(page.text),
            **extra,
        }
        return self.http.post(f"{self.base}/requests/{request_id}/decision", data=data)
