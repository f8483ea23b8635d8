"""gate report: the disclosure report, from the database or from an audit export file."""

from __future__ import annotations

from pathlib import Path

from gate.clock import parse_period
from gate.errors import GateError


def report(
    since: str | None,
    until: str | None,
    fmt: str,
    week_by: str,
    export: str | None,
    out: str | None,
) -> str:
    """Render the report; write it to ``out`` when given. Returns the text (or a summary)."""
    from gate.disclosure.compute import compute_report, read_export
    from gate.disclosure.render import render

    start, end = parse_period(since, until)
    if export is not None:
        try:
            records = read_export(export)
        except (OSError, ValueError) as exc:
            raise GateError(f"cannot read the export {export}: {exc}") from None
    else:
        from gate.server.app import create_app
        from gate.server.services.reports import audit_records

        with create_app().app_context():
            records = audit_records()
    text = render(compute_report(records, start, end, week_by), fmt)
    if out is None:
        return text
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GateError(f"cannot write {out}: {exc.strerror}") from None
    return f"gate: wrote the {fmt} report to {out}\n"
