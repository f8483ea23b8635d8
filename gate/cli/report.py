"""gate report: the disclosure report, from the database or from an audit export file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from gate.clock import parse_period
from gate.errors import GateError


def verified_records(export: str, public_key: str | None) -> list[dict[str, Any]]:
    """The records of an export, once it verifies as ``gate audit verify`` checks it: a report
    computed from records that were changed after the fact would disclose nothing."""
    from gate.cli.audit import verify
    from gate.disclosure.compute import read_export

    if not Path(export).is_file():
        raise GateError(f"cannot read the export {export}: there is no such file")
    code, lines = verify(export, public_key)
    if code == 2:  # "PATH: why"
        raise GateError(f"cannot read the export {lines[0]}")
    if code != 0:
        raise GateError(
            f"{export} does not verify, so no report was made from it:",
            lines=[f"{export} does not verify, so no report was made from it:", *lines],
        )
    try:
        return read_export(export)
    except (OSError, ValueError) as exc:
        raise GateError(f"cannot read the export {export}: {exc}") from None


def report(
    since: str | None,
    until: str | None,
    fmt: str,
    week_by: str,
    export: str | None,
    out: str | None,
    *,
    database: Callable[[], Flask],
    public_key: str | None = None,
) -> str:
    """Render the report; write it to ``out`` when given. Returns the text (or a summary).
    ``database`` gives the app whose records to read when there is no ``export``."""
    from gate.disclosure.compute import compute_report
    from gate.disclosure.render import render

    start, end = parse_period(since, until)
    if export is not None:
        records = verified_records(export, public_key)
    else:
        from gate.server.services.disclosure import audit_records

        with database().app_context():
            records = audit_records()
    text = render(compute_report(records, start, end, week_by), fmt)
    if out is None:
        return text
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GateError(f"cannot write {out}: {exc.strerror}") from None
    return f"gate: wrote the {fmt} report to {out}\n"
