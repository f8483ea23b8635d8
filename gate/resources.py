"""Where the files shipped with gate live: inside the wheel, or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``templates``, ``migrations`` or ``hooks``: package data in a wheel, top-level in a checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"gate is missing its {name!r} directory (broken install?)")
