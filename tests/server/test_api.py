"""The hook API refuses anything forged or malformed with one JSON error shape, never a 500."""

from __future__ import annotations

import pytest
import requests

from gate import wire
from tests.support.objects import root_commit
from tests.support.server import LiveServer, agent_token, new_token

SHA, OBJECTS = root_commit({"train/a.py": b"x = 1\n"}, "A <a@x>", "m")


def payload(**changes):  # type: ignore[no-untyped-def]
    item = wire.commit_item(
        SHA,
        OBJECTS,
        [{"kind": "trailer", "source": "catalog", "agent": "X", "rule": "r", "evidence": "e"}],
        {"training": ["train/a.py"]},
    )
    body = {
        "repository": "r",
        "ref": "refs/heads/main",
        "old": "0" * 40,
        "new": SHA,
        "pusher": None,
        "policy": {"sha256": "b" * 64, "approvals": {"training": 1}},
        "items": [item],
    }
    body.update(changes)
    return body


def post(server: LiveServer, body, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, bytes | str):
        return requests.post(
            f"{server.url}/api/v1/holds",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
            timeout=10,
        )
    return requests.post(f"{server.url}/api/v1/holds", json=body, headers=headers, timeout=10)


def test_valid_hold_creates_one_request(server: LiveServer) -> None:
    token = new_token(server.app)
    first = post(server, payload(), token)
    assert first.status_code == 200, first.text
    again = post(server, payload(), token)
    assert first.json()["items"] == again.json()["items"]
    assert first.json()["items"][0]["state"] == "pending"


@pytest.mark.parametrize("token", [None, "wrong", "gate_" + "x" * 43])
def test_missing_or_wrong_token_is_401(server: LiveServer, token: str | None) -> None:
    response = post(server, payload(), token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe\x00",
        "[]",
        payload(ref="main"),
        payload(old="xyz"),
        payload(items=[]),
        payload(items="nope"),
        payload(policy={"sha256": "b" * 64, "approvals": {"training": True}}),
        payload(policy={"sha256": "b" * 64, "approvals": {"training": 0}}),
        payload(pusher=["list"]),
        payload(items=[{"key": SHA, "kind": "commit"}]),
        payload(items=[{**payload()["items"][0], "guards": {}}]),
        payload(items=[{**payload()["items"][0], "kind": "approve"}]),
        payload(items=[payload()["items"][0], payload()["items"][0]]),
        payload(items=[{**payload()["items"][0], "objects": payload()["items"][0]["objects"][1:]}]),
        '{"repository": "\\udce9", "ref": "refs/heads/main"}',
    ],
)
def test_malformed_payloads_are_400_with_a_message(server: LiveServer, body) -> None:  # type: ignore[no-untyped-def]
    response = post(server, body, new_token(server.app))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and response.json()["error"]["message"]
    assert set(response.json()["error"]) == {"code", "message"}


def test_no_api_endpoint_can_approve(server: LiveServer) -> None:
    token = new_token(server.app)
    request_id = post(server, payload(pusher="agent-a"), token).json()["items"][0]["request_id"]
    reader = {"Authorization": f"Bearer {agent_token(server.app, 'agent-a')}"}
    headers = {"Authorization": f"Bearer {token}"}
    for method in ("post", "put", "patch"):
        for path in (f"/api/v1/requests/{request_id}", f"/api/v1/requests/{request_id}/decision"):
            for auth in (headers, reader):
                response = requests.request(
                    method,
                    f"{server.url}{path}",
                    json={"decision": "approve"},
                    headers=auth,
                    timeout=10,
                )
                assert response.status_code in (404, 405)
    # the web decision endpoint ignores bearer tokens: no session, no decision
    response = requests.post(
        f"{server.url}/requests/{request_id}/decision",
        data={"decision": "approve"},
        headers=headers,
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code in (302, 400, 401)
    state = requests.get(
        f"{server.url}/api/v1/requests/{request_id}", headers=reader, timeout=10
    ).json()
    assert state["state"] == "pending"


def test_request_state_endpoint(server: LiveServer) -> None:
    token = new_token(server.app)
    request_id = post(server, payload(pusher="agent-a"), token).json()["items"][0]["request_id"]
    reader = agent_token(server.app, "agent-a")
    response = requests.get(
        f"{server.url}/api/v1/requests/{request_id}",
        headers={"Authorization": f"Bearer {reader}"},
        timeout=10,
    )
    assert response.json()["id"] == request_id and response.json()["state"] == "pending"
    missing = requests.get(
        f"{server.url}/api/v1/requests/99999",
        headers={"Authorization": f"Bearer {reader}"},
        timeout=10,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "notfound"
