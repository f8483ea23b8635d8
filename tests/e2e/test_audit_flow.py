"""The audit trail end to end: real pushes through the hook and the live server, approvals and
denials over HTTP, a bundle exported by the `gate` command, verified offline by a separate
process that has only the bundle and the public key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.gitrepo import CLAUDE_TRAILER, remote_ref
from tests.support.reviewer import csrf_from
from tests.support.server import GatedRepo, LiveServer, add_reviewer, request_id_from

pytestmark = pytest.mark.e2e

AGENT = ("Build Bot", "ci@bots.example.com")
GATE = str(Path(sys.executable).parent / "gate")


def gate_env(server: LiveServer) -> dict[str, str]:
    """The server's configuration, for the `gate` command (which opens the same database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(
        GATE_DATABASE_URL=server.app.config["SQLALCHEMY_DATABASE_URI"],  # type: ignore[attr-defined]
        GATE_SECRET_KEY="cli",
        GATE_AUDIT_KEY_DIR=server.app.config["GATE_AUDIT_KEY_DIR"],  # type: ignore[attr-defined]
    )
    return env


def run_history(gated: GatedRepo, server: LiveServer) -> str:
    """Held pushes, approvals (one and two reviewers), a denial, accepted re-pushes."""
    clone = gated.clone()
    clone.commit("initial", {"train/loop.py": "steps = 1\n", "model/net.py": "layers = 1\n"})
    assert clone.push().ok

    sha = clone.commit("Speed up", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    held = clone.push()
    assert not held.ok
    first = request_id_from(held.gate_lines)
    assert server.reviewer("alice").decide(first, "approve", "Looks right").ok
    assert clone.push().ok and remote_ref(gated.bare) == sha

    clone.commit("wider", {"model/net.py": "layers = 2\n"}, author=AGENT)
    second = request_id_from(clone.push().gate_lines)
    assert server.reviewer("alice").decide(second, "approve", "ok").ok
    assert not clone.push().ok
    assert server.reviewer("bob").decide(second, "approve", "Second pair of eyes").ok
    assert clone.push().ok

    clone.commit("risky", {"train/loop.py": "steps = 99\n"}, trailers=[CLAUDE_TRAILER])
    third = request_id_from(clone.push().gate_lines)
    assert server.reviewer("carol").decide(third, "deny", "Over budget").ok
    assert not clone.push().ok
    return clone.head()


def test_bundle_of_real_pushes_verifies_offline_with_only_the_public_key(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    run_history(gated, server)
    bundle = tmp_path / "export" / "audit.zip"
    bundle.parent.mkdir()
    made = subprocess.run(
        [GATE, "audit", "export", "--format", "bundle", "--out", str(bundle)],
        env=gate_env(server),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        report = archive.read("report.html").decode()
    assert {"records.jsonl", "manifest.json", "manifest.sig", "SHA256SUMS", "report.html"} <= names
    assert any(n.startswith("checkpoints/") for n in names)
    assert "Looks right" in report and "Second pair of eyes" in report and "Over budget" in report

    # The auditor's laptop: the bundle, the public key, no server configuration, no database.
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    shutil.copy(bundle, laptop / "audit.zip")
    key_dir = Path(server.app.config["GATE_AUDIT_KEY_DIR"])  # type: ignore[attr-defined]
    shutil.copy(key_dir / "audit-ed25519.pub.pem", laptop / "operator.pem")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    clean["GATE_HOME"] = str(laptop / "no-gate-home")
    verified = subprocess.run(
        [GATE, "audit", "verify", "audit.zip", "--public-key", "operator.pem"],
        cwd=laptop,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: verified" in verified.stdout and "2 accepted pushes" in verified.stdout
    assert not (laptop / "no-gate-home").exists(), "verify must not create any state"

    # The verifier is one file an outside party can run alone (stdlib + cryptography).
    shutil.copy(Path(__file__).parents[2] / "gate" / "audit" / "verify.py", laptop / "verify.py")
    alone = subprocess.run(
        [sys.executable, "-I", "verify.py", "audit.zip", "--public-key", "operator.pem"],
        cwd=laptop,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert alone.returncode == 0 and "OK: verified" in alone.stdout, alone.stdout + alone.stderr

    stranger = subprocess.run(
        [GATE, "audit", "verify", "audit.zip", "--public-key", "stranger.pem"],
        cwd=laptop,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert stranger.returncode == 2 and "cannot read the public key" in stranger.stderr


def test_auditor_downloads_a_verifiable_bundle_from_the_web_ui(
    gated: GatedRepo, server: LiveServer, tmp_path: Path
) -> None:
    from gate.audit.verify import public_key_raw, verify_bundle

    run_history(gated, server)
    add_reviewer(server.app, "audrey", role="auditor")
    auditor = server.reviewer("audrey")
    page = auditor.page("/audit")
    assert page.status_code == 200 and "Audit exports" in page.text
    for fmt, marker in (("bundle", b"PK"), ("csv", b"seq,time"), ("jsonl", b'{"action"')):
        response = auditor.http.post(
            f"{server.url}/audit/export", data={"format": fmt, "csrf_token": csrf_from(page.text)}
        )
        assert response.status_code == 200 and response.content.startswith(marker), fmt
        if fmt == "bundle":
            key_dir = Path(server.app.config["GATE_AUDIT_KEY_DIR"])  # type: ignore[attr-defined]
            key = public_key_raw((key_dir / "audit-ed25519.pub.pem").read_bytes())
            report = verify_bundle(response.content, key)
            assert report.ok, report.problems
    bad = auditor.http.post(
        f"{server.url}/audit/export",
        data={"format": "csv", "since": "last tuesday", "csrf_token": csrf_from(page.text)},
    )
    assert bad.status_code == 400 and "cannot read &#39;last tuesday&#39; as a date" in bad.text
    assert server.reviewer("alice").page("/audit").status_code == 403
