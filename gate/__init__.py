"""gate: a human-in-the-loop approval gate for code changes pushed by AI agents."""

__version__ = "0.1.0"
