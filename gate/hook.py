"""Kept for hooks installed by gate 0.1.0, whose boot line runs ``from gate.hook import main``.

The pre-receive hook lives in gate.git.pre_receive; re-running ``gate install-hook`` points a
repository's hook there directly.
"""

from gate.git.pre_receive import main

__all__ = ["main"]
