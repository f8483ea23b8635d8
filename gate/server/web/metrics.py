"""The disclosure metrics page and its downloads: the same report as ``gate report``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, render_template, request

from gate.clock import parse_day
from gate.disclosure.compute import WEEK_BY, compute_report
from gate.disclosure.render import FORMATS, hours, plots, render
from gate.errors import InputError
from gate.server.services.disclosure import disclosure_report
from gate.server.web import require_role

bp = Blueprint("metrics", __name__, url_prefix="/metrics")


def _report() -> tuple[dict[str, Any], dict[str, str], bool]:
    args = {
        "since": request.args.get("since", "").strip(),
        "until": request.args.get("until", "").strip(),
        "week_by": request.args.get("week_by", "commit"),
    }
    try:
        since = parse_day(args["since"]) if args["since"] else None
        until = parse_day(args["until"], end=True) if args["until"] else None
        if args["week_by"] not in WEEK_BY:
            raise InputError("week must be by commit or by push")
    except InputError as exc:
        flash(str(exc), "error")
        return compute_report([]), {**args, "week_by": "commit"}, False
    return disclosure_report(since, until, args["week_by"]), args, True


@bp.get("")
@require_role()
def index():  # type: ignore[no-untyped-def]
    report, args, ok = _report()
    page = render_template(
        "metrics/index.html", report=report, plots=plots(report), hours=hours, args=args
    )
    return page, 200 if ok else 400


@bp.get("/report.<fmt>")
@require_role()
def download(fmt: str):  # type: ignore[no-untyped-def]
    if fmt not in FORMATS:
        abort(404)
    report, _, ok = _report()
    if not ok:
        abort(400)
    mimetype = {"html": "text/html", "json": "application/json", "csv": "text/csv"}[fmt]
    return Response(
        render(report, fmt),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="gate-report.{fmt}"'},
    )
