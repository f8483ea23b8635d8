"""One module per CLI command; each exposes a typed function that returns an exit code."""
