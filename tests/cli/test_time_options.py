"""Every command and form reads a time the same way (gate.clock): no offset means UTC."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gate.clock import parse_day, parse_moment, parse_period, parse_rfc3339
from gate.errors import GateError
from tests.support.cli import run_gate
from tests.support.server import PASSWORD, LiveServer, add_reviewer

TEN_UTC = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2026-01-01T10:00", "2026-01-01T10:00Z", "2026-01-01T11:00+01:00"]
)
def test_one_reading_of_a_time(text: str) -> None:
    assert parse_moment(text) == parse_day(text) == parse_period(text, None)[0] == TEN_UTC


def test_dates_bound_whole_days_and_errors_are_gate_errors() -> None:
    assert parse_period("2026-01-01", "2026-01-01") == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    for bad in ("March", "2026-02-30", "01/02/2026"):
        with pytest.raises(GateError, match="cannot read"):
            parse_day(bad)
    with pytest.raises(GateError, match="is before --since"):
        parse_period("2026-03-09", "2026-03-01")
    with pytest.raises(ValueError):  # InputError is a ValueError too, for form code
        parse_rfc3339("2026-01-01T10:00")


def test_cli_commands_and_the_metrics_form_agree(server: LiveServer, tmp_path: Path) -> None:
    app = server.app
    report = run_gate(app, "report", "--since", "2026-01-01T10:00", "--format", "json")  # type: ignore[arg-type]
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["since"] == TEN_UTC.isoformat()

    bundle = tmp_path / "export.zip"
    exported = run_gate(app, "audit", "export", "--since", "2026-01-01T10:00", "--out", str(bundle))  # type: ignore[arg-type]
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(bundle) as opened:
        manifest = json.loads(opened.read("manifest.json"))
    assert parse_day(manifest["period"]["since"]) == TEN_UTC

    add_reviewer(app, "root", role="admin")
    paused = run_gate(
        app,  # type: ignore[arg-type]
        "pause",
        "start",
        "--by",
        "root",
        "--password-stdin",
        "--reason",
        "freeze",
        "--until",
        "2026-01-01T10:00",
        input=PASSWORD + "\n",
    )
    assert (
        paused.exit_code == 1
        and "the pause's end, 2026-01-01T10:00:00Z, is not in the future" in paused.output
    )
    assert "gate: gate:" not in paused.output

    add_reviewer(app, "alice")
    page = server.reviewer("alice").page("/metrics/report.json?since=2026-01-01T10:00")
    assert page.status_code == 200 and json.loads(page.text)["since"] == TEN_UTC.isoformat()
