"""The disclosure metrics page (filled in below)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("metrics", __name__, url_prefix="/metrics")


@bp.get("")
@login_required
def index():  # type: ignore[no-untyped-def]
    return "metrics"
