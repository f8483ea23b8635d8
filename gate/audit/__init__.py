"""Audit formats that need no server: the standalone verifier, the signing keys, the export
formats and the bundle's report. Nothing here imports gate.server or gate.git."""
