"""Render the disclosure report (``gate.disclosure.compute``) as JSON, CSV or HTML with plots.

Plots are drawn with matplotlib's Agg backend (through ``Figure``, not pyplot: no global state,
safe in a threaded server) as SVG and embedded in the HTML as data URIs, so the report is one
self-contained file.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from datetime import date
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from gate.errors import InputError
from gate.resources import resource_dir

if TYPE_CHECKING:  # matplotlib is imported only when a report is drawn: it is slow to load
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = ("html", "json", "csv")
CSV_FIELDS = (
    "repository",
    "guard",
    "week",
    "agent_commits",
    "human_commits",
    "agent_share",
    "held_requests",
    "approvals",
    "denials",
    "signoffs",
    "signoff_median_s",
    "signoff_p90_s",
    "agents",
    "pushers",
    "without_signoff",
)


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report)
    raise InputError(f"format must be one of {', '.join(FORMATS)}")


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report["weeks"]:
        writer.writerow(
            {
                **row,
                "agents": "; ".join(f"{k}={v}" for k, v in row["agents"].items()),
                "pushers": "; ".join(f"{k}={v}" for k, v in row["pushers"].items()),
            }
        )
    return out.getvalue()


def plots(report: dict[str, Any]) -> dict[str, str]:
    """The two figures as ``data:image/svg+xml;base64,...`` URIs."""
    return {
        "share": _data_uri(_share_figure(report)),
        "signoff": _data_uri(_signoff_figure(report)),
    }


def _series(report: dict[str, Any], value: str) -> dict[str, list[tuple[date, float]]]:
    series: dict[str, list[tuple[date, float]]] = {}
    for row in report["weeks"]:
        if row[value] is not None:
            label = f"{row['repository']} / {row['guard']}"
            series.setdefault(label, []).append((date.fromisoformat(row["week"]), row[value]))
    return series


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.6), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def _share_figure(report: dict[str, Any]) -> Figure:
    figure, axes = _figure()
    series = _series(report, "agent_share")
    for label, points in sorted(series.items()):
        axes.plot(
            _day_numbers([p[0] for p in points]),
            [p[1] * 100 for p in points],
            marker="o",
            label=label,
        )
    axes.set_title("Share of commits to guarded paths written by agents, per week")
    axes.set_ylabel("agent share (%)")
    axes.set_ylim(0, 100)
    _finish(figure, axes, bool(series), _weeks(report))
    return figure


def _signoff_figure(report: dict[str, Any]) -> Figure:
    figure, axes = _figure()
    medians = _series(report, "signoff_median_s")
    highs = _series(report, "signoff_p90_s")
    longest = max((p[1] for points in highs.values() for p in points), default=0.0)
    unit, scale = (
        ("hours", 3600)
        if longest >= 7200
        else ("minutes", 60)
        if longest >= 120
        else ("seconds", 1)
    )
    for label, points in sorted(medians.items()):
        line = axes.plot(
            _day_numbers([p[0] for p in points]),
            [p[1] / scale for p in points],
            marker="o",
            label=f"{label} median",
        )[0]
        high = highs.get(label, [])
        axes.plot(
            _day_numbers([p[0] for p in high]),
            [p[1] / scale for p in high],
            linestyle="--",
            marker="^",
            color=line.get_color(),
            label=f"{label} p90",
        )
    axes.set_title("Time from held request to sign-off, per week")
    axes.set_ylabel(unit)
    axes.set_ylim(bottom=0)
    _finish(figure, axes, bool(medians), _weeks(report))
    return figure


def _weeks(report: dict[str, Any]) -> list[date]:
    return sorted({date.fromisoformat(row["week"]) for row in report["weeks"]})


def _day_numbers(days: list[date]) -> list[float]:
    """Days as matplotlib's date numbers (days since its epoch): what the x axis holds, and what
    its typed API takes (it converts dates at run time, but its hints accept numbers only)."""
    from matplotlib.dates import date2num

    return [float(number) for number in date2num(days)]


def _finish(figure: Figure, axes: Axes, has_data: bool, weeks: list[date]) -> None:
    from matplotlib.dates import DateFormatter
    from matplotlib.ticker import MaxNLocator

    axes.set_xlabel("week (Monday, UTC)")
    axes.grid(alpha=0.3)
    if has_data:
        ticks = _day_numbers(weeks)
        axes.set_xlim(ticks[0] - 4, ticks[-1] + 4)  # four days' margin either side
        axes.set_xticks(ticks[:: max(1, math.ceil(len(ticks) / 12))])
        axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        axes.yaxis.set_major_locator(MaxNLocator(nbins=6))
        axes.legend(fontsize="small", loc="best")
        figure.autofmt_xdate()
    else:
        axes.text(
            0.5, 0.5, "no data in this period", ha="center", va="center", transform=axes.transAxes
        )


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(resource_dir("templates"))),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def render_html(report: dict[str, Any]) -> str:
    template = _environment().get_template("metrics/report.html")
    return template.render(report=report, plots=plots(report), hours=hours)


def hours(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 7200 else f"{seconds / 60:.1f} min"
