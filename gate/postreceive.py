"""Kept for hooks installed by gate 0.1.0, whose boot line runs ``from gate.postreceive import
main``. The post-receive hook lives in gate.git.post_receive."""

from gate.git.post_receive import main

__all__ = ["main"]
